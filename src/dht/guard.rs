//! What keeps our answers from being abused: write tokens (BEP 5) and per-IP rate limits.
//!
//! Pure data, owned by the [`Dht`](super::Dht) (reactor thread). A token is SHA-1 of the querier's
//! IP and a secret, truncated to [`TOKEN_LEN`] bytes; the secret rotates every [`ROTATE_EVERY`] and
//! the previous one is still accepted, so a token is good for 5 to 10 minutes and only from the IP
//! it was given to (BEP 5's scheme; libtorrent and Transmission do the same). Secrets come from the
//! seeded generator: they only need to be unguessable to other hosts, which never see the seed.
//!
//! The rate limiter is a token bucket per source IP plus one shared bucket, so a flood from one
//! address (or from many) cannot make us an amplifier. The per-IP map is bounded; when it is full
//! the entry idle the longest is forgotten.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use sha1::{Digest, Sha1};

use super::krpc::Blob;
use crate::rng::SplitMix64;

/// Bytes of a write token we hand out.
pub const TOKEN_LEN: usize = 8;
/// How often the token secret changes.
pub const ROTATE_EVERY: Duration = Duration::from_secs(5 * 60);

/// Token secrets: current and previous.
#[derive(Clone, Debug)]
pub struct Tokens {
    current: [u8; 8],
    previous: [u8; 8],
    rotated: Instant,
}

impl Tokens {
    /// Fresh secrets.
    pub fn new(rng: &mut SplitMix64, now: Instant) -> Tokens {
        Tokens {
            current: rng.next_u64().to_ne_bytes(),
            previous: rng.next_u64().to_ne_bytes(),
            rotated: now,
        }
    }

    /// Rotates the secret if due (lazily, when a token is made or checked: no timer needed).
    pub fn rotate(&mut self, now: Instant, rng: &mut SplitMix64) {
        let age = now.saturating_duration_since(self.rotated);
        if age < ROTATE_EVERY {
            return;
        }
        // After two periods of silence the old current secret is too old to keep.
        self.previous = if age < 2 * ROTATE_EVERY {
            self.current
        } else {
            rng.next_u64().to_ne_bytes()
        };
        self.current = rng.next_u64().to_ne_bytes();
        self.rotated = now;
    }

    fn token(secret: &[u8; 8], ip: IpAddr) -> Blob {
        let mut h = Sha1::new();
        match ip {
            IpAddr::V4(v4) => h.update(v4.octets()),
            IpAddr::V6(v6) => h.update(v6.octets()),
        }
        h.update(secret);
        let digest: [u8; 20] = h.finalize().into();
        Blob::new(&digest[..TOKEN_LEN]).unwrap_or_default()
    }

    /// The token for `ip`.
    pub fn make(&self, ip: IpAddr) -> Blob {
        Tokens::token(&self.current, ip)
    }

    /// Whether `token` was made for `ip` with the current or the previous secret.
    pub fn check(&self, ip: IpAddr, token: &Blob) -> bool {
        *token == Tokens::token(&self.current, ip) || *token == Tokens::token(&self.previous, ip)
    }
}

/// A token bucket holding up to `burst` tokens and gaining `per_sec` each second, counted in
/// millionths (and time in microseconds) so integer math loses nothing between close calls.
#[derive(Clone, Copy, Debug)]
struct Bucket {
    micro: u64,
    last: Instant,
}

const ONE: u64 = 1_000_000;

impl Bucket {
    fn full(burst: u32, now: Instant) -> Bucket {
        Bucket {
            micro: u64::from(burst) * ONE,
            last: now,
        }
    }

    fn take(&mut self, now: Instant, per_sec: u32, burst: u32) -> bool {
        let us = now.saturating_duration_since(self.last).as_micros();
        let us = u64::try_from(us).unwrap_or(u64::MAX);
        self.micro = self
            .micro
            .saturating_add(us.saturating_mul(u64::from(per_sec)))
            .min(u64::from(burst) * ONE);
        self.last = now;
        if self.micro < ONE {
            return false;
        }
        self.micro -= ONE;
        true
    }
}

/// Rate limits for the answers we send.
#[derive(Clone, Debug)]
pub struct RateLimit {
    per_ip: u32,
    burst: u32,
    total: u32,
    max_ips: usize,
    ips: BTreeMap<IpAddr, Bucket>,
    all: Bucket,
}

impl RateLimit {
    /// `per_ip` answers per second to one IP (bursts of `burst`), `total` per second overall, and
    /// at most `max_ips` IPs tracked.
    pub fn new(per_ip: u32, burst: u32, total: u32, max_ips: usize, now: Instant) -> RateLimit {
        RateLimit {
            per_ip,
            burst,
            total,
            max_ips: max_ips.max(1),
            ips: BTreeMap::new(),
            all: Bucket::full(total, now),
        }
    }

    /// Whether we may answer `ip` now (and counts the answer if so).
    pub fn allow(&mut self, ip: IpAddr, now: Instant) -> bool {
        if !self.ips.contains_key(&ip) && self.ips.len() >= self.max_ips {
            let idle = self.ips.iter().min_by_key(|(_, b)| b.last).map(|(k, _)| *k);
            if let Some(idle) = idle {
                self.ips.remove(&idle);
            }
        }
        let bucket = self.ips.entry(ip).or_insert(Bucket::full(self.burst, now));
        bucket.take(now, self.per_ip, self.burst) && self.all.take(now, self.total, self.total)
    }

    /// IPs tracked.
    #[cfg(test)]
    pub fn tracked(&self) -> usize {
        self.ips.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_current_and_previous_accepted_older_refused() {
        let t0 = Instant::now();
        let mut rng = SplitMix64(9);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let other: IpAddr = "10.0.0.2".parse().unwrap();
        let mut tk = Tokens::new(&mut rng, t0);
        let first = tk.make(ip);
        assert_eq!(first.as_slice().len(), TOKEN_LEN);
        assert!(tk.check(ip, &first));
        assert!(!tk.check(other, &first), "bound to the IP");
        tk.rotate(t0 + ROTATE_EVERY - Duration::from_secs(1), &mut rng);
        assert_eq!(tk.make(ip), first, "not yet rotated");
        tk.rotate(t0 + ROTATE_EVERY, &mut rng);
        let second = tk.make(ip);
        assert_ne!(second, first);
        assert!(tk.check(ip, &first), "previous secret still accepted");
        tk.rotate(t0 + 2 * ROTATE_EVERY, &mut rng);
        assert!(tk.check(ip, &second));
        assert!(!tk.check(ip, &first), "two rotations old");
        // A long silence invalidates everything handed out before it.
        let third = tk.make(ip);
        tk.rotate(t0 + 10 * ROTATE_EVERY, &mut rng);
        assert!(!tk.check(ip, &third));
        assert!(!tk.check(ip, &Blob::new(b"forged!!").unwrap()));
    }

    #[test]
    fn flooder_gets_burst_then_rate() {
        let t0 = Instant::now();
        let mut rl = RateLimit::new(5, 10, 1000, 4, t0);
        let flooder: IpAddr = "10.9.9.9".parse().unwrap();
        // 5,000 queries within one second: the burst plus one second of refill.
        let mut allowed = 0;
        for i in 0..5000u32 {
            let now = t0 + Duration::from_micros(u64::from(i) * 200);
            allowed += u32::from(rl.allow(flooder, now));
        }
        assert_eq!(allowed, 10 + 5 - 1);
        // Another address is not affected.
        assert!(rl.allow("10.0.0.1".parse().unwrap(), t0 + Duration::from_secs(1)));
    }

    #[test]
    fn global_cap_and_bounded_map() {
        let t0 = Instant::now();
        let mut rl = RateLimit::new(100, 100, 20, 8, t0);
        let mut allowed = 0;
        for i in 0..200u8 {
            let ip = IpAddr::from([10, 1, 0, i]);
            allowed += u32::from(rl.allow(ip, t0));
        }
        assert_eq!(allowed, 20, "the shared bucket caps many senders");
        assert_eq!(rl.tracked(), 8);
    }
}
