//! Rate limits as token buckets: a bucket earns `rate` bytes per second of the time handed to
//! it, and traffic may start while its balance is positive (each start may leave a debt of at
//! most one request or read, paid back before the next starts).
//!
//! Sans-IO (reactor thread): times are `Instant`s handed in by the engine, which refills a
//! bucket when it is about to spend from it and arms a timer for [`TokenBucket::ready_at`] when
//! the balance runs out. Downloads are paced by holding back requests, uploads by holding back
//! disk reads; no byte that arrived is ever dropped.

use std::time::{Duration, Instant};

/// Download and upload limits in bytes per second; `None` is no limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RateLimits {
    /// Most payload bytes per second received.
    pub download: Option<u64>,
    /// Most payload bytes per second sent.
    pub upload: Option<u64>,
}

/// The longest stretch of unused allowance a bucket keeps: a quarter of a second of traffic,
/// enough to ride over the 100 ms timer between refills, small enough that a pause in the
/// traffic is not followed by a burst that breaks the limit.
const BURST: Duration = Duration::from_millis(250);
/// A balance kept at least this large, so a slow limit still lets one 16 KiB block through.
const MIN_BURST: i64 = 32 * 1024;

/// One direction's limit and its balance.
#[derive(Clone, Debug, Default)]
pub struct TokenBucket {
    rate: Option<u64>,
    tokens: i64,
    /// When `tokens` was last brought up to date.
    last: Option<Instant>,
}

impl TokenBucket {
    /// A bucket for `rate` bytes per second (`None`: unlimited), empty at first: a start is
    /// not a burst.
    pub fn new(rate: Option<u64>) -> TokenBucket {
        TokenBucket {
            rate: rate.filter(|&r| r > 0),
            tokens: 0,
            last: None,
        }
    }

    /// The limit in bytes per second, if any.
    pub fn rate(&self) -> Option<u64> {
        self.rate
    }

    /// Changes the limit from `now` on: what was earned at the old rate is kept (within the new
    /// burst), a debt stays owed.
    pub fn set_rate(&mut self, rate: Option<u64>, now: Instant) {
        self.refill(now);
        self.rate = rate.filter(|&r| r > 0);
        self.tokens = self.tokens.min(self.burst());
        if self.rate.is_none() {
            self.tokens = 0;
        }
    }

    fn burst(&self) -> i64 {
        let Some(rate) = self.rate else {
            return 0;
        };
        let per_burst = u128::from(rate) * BURST.as_millis() / 1000;
        i64::try_from(per_burst).unwrap_or(i64::MAX).max(MIN_BURST)
    }

    /// Adds what `rate` earned since the last refill, up to the burst.
    pub fn refill(&mut self, now: Instant) {
        let Some(rate) = self.rate else {
            self.last = Some(now);
            return;
        };
        let Some(last) = self.last else {
            self.last = Some(now);
            return;
        };
        let elapsed = now.saturating_duration_since(last);
        let earned = u128::from(rate) * elapsed.as_nanos() / 1_000_000_000;
        if earned == 0 {
            // Less than a byte so far: keep counting from `last`, or short intervals never earn.
            return;
        }
        // Advance `last` by the time those bytes took, so remainders are never lost.
        let spent_nanos = earned * 1_000_000_000 / u128::from(rate);
        self.last = Some(last + Duration::from_nanos(spent_nanos.min(u128::from(u64::MAX)) as u64));
        let earned = i64::try_from(earned).unwrap_or(i64::MAX);
        self.tokens = self.tokens.saturating_add(earned).min(self.burst());
        if self.tokens == self.burst() {
            // A full bucket earns nothing more: the time spent full is not owed later.
            self.last = Some(now);
        }
    }

    /// How many bytes may start now: `None` when unlimited, else the positive balance (0 when
    /// the bucket is empty or in debt). A start of up to one block is allowed on any positive
    /// balance; see [`TokenBucket::spend`].
    pub fn allowance(&self) -> Option<u64> {
        self.rate
            .map(|_| u64::try_from(self.tokens.max(0)).unwrap_or(0))
    }

    /// Whether traffic may start now.
    pub fn has_tokens(&self) -> bool {
        self.rate.is_none() || self.tokens > 0
    }

    /// Takes `bytes` that just started (no-op when unlimited).
    pub fn spend(&mut self, bytes: u64) {
        if self.rate.is_some() {
            let bytes = i64::try_from(bytes).unwrap_or(i64::MAX);
            self.tokens = self.tokens.saturating_sub(bytes);
        }
    }

    /// When the balance will be positive again (`now` if it is, `None` when unlimited).
    pub fn ready_at(&self, now: Instant) -> Option<Instant> {
        let rate = self.rate?;
        if self.tokens > 0 {
            return Some(now);
        }
        let owed = u128::try_from(1 - self.tokens).unwrap_or(1);
        // Rounded up: at that instant `refill` has earned the whole debt back.
        let nanos = (owed * 1_000_000_000).div_ceil(u128::from(rate));
        let from = self.last.unwrap_or(now);
        Some(from + Duration::from_nanos(nanos.min(u128::from(u64::MAX)) as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn unlimited_bucket_always_allows() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(None);
        b.refill(t0);
        b.spend(1 << 40);
        assert!(b.has_tokens());
        assert_eq!(b.allowance(), None);
        assert_eq!(b.ready_at(t0), None);
        assert_eq!(TokenBucket::new(Some(0)).rate(), None);
    }

    #[test]
    fn bucket_starts_empty_and_earns_its_rate_exactly() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(Some(1_000_000));
        b.refill(t0);
        assert!(!b.has_tokens());
        assert_eq!(b.allowance(), Some(0));
        // 1 MB/s for 10 s in 7 ms steps, spending everything as it comes: 10 MB, to the byte
        // (remainders of a step are carried, never lost).
        let mut spent = 0u64;
        let mut t = t0;
        while t < t0 + Duration::from_secs(10) {
            t += 7 * MS;
            b.refill(t);
            let a = b.allowance().unwrap();
            b.spend(a);
            spent += a;
        }
        let elapsed = t.duration_since(t0).as_secs_f64();
        assert_eq!(spent, (elapsed * 1_000_000.0).round() as u64);
    }

    #[test]
    fn debt_delays_the_next_start_and_the_burst_is_capped() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(Some(16 * 1024));
        b.refill(t0);
        b.refill(t0 + 10 * MS);
        assert!(b.has_tokens());
        b.spend(16 * 1024);
        assert!(!b.has_tokens());
        // Owed about 16 KiB minus 10 ms of earnings at 16 KiB/s: ready about 1 s after t0.
        let ready = b.ready_at(t0 + 10 * MS).unwrap();
        assert!(
            ready > t0 + 990 * MS && ready <= t0 + 1001 * MS,
            "{ready:?}"
        );
        b.refill(ready);
        assert!(b.has_tokens());
        // A long idle stretch earns at most the burst (32 KiB floor for slow limits).
        b.refill(ready + Duration::from_secs(100));
        assert_eq!(b.allowance(), Some(32 * 1024));
        let mut fast = TokenBucket::new(Some(4_000_000));
        fast.refill(t0);
        fast.refill(t0 + Duration::from_secs(100));
        assert_eq!(fast.allowance(), Some(1_000_000));
    }

    #[test]
    fn a_new_rate_applies_from_now_and_keeps_the_debt() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(Some(1000));
        b.refill(t0);
        b.spend(5000);
        b.set_rate(Some(10_000), t0 + Duration::from_secs(1));
        // 1 s at 1000 B/s paid 1000 of the 5000 owed; 4001 more at 10 kB/s take 400.1 ms.
        let ready = b.ready_at(t0 + Duration::from_secs(1)).unwrap();
        assert_eq!(
            ready,
            t0 + Duration::from_secs(1) + Duration::from_micros(400_100)
        );
        b.set_rate(None, t0 + Duration::from_secs(2));
        assert!(b.has_tokens());
        b.set_rate(Some(1000), t0 + Duration::from_secs(3));
        assert!(!b.has_tokens());
    }
}
