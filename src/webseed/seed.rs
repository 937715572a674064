//! One web seed's state: idle, requesting (with a cap on requests at once), backing off after an
//! error, or banned for bad data.
//!
//! Pure (the torrent core owns one per `url-list` entry, on the reactor thread; `now` is passed
//! in). Policy, with the client each choice follows:
//! * At most [`MAX_JOBS_PER_SEED`] requests at once per seed, each on its own HTTP connection
//!   (aria2's `--max-connection-per-server` defaults to 1, libtorrent opens one connection per
//!   web seed; two lets one request's round trip overlap the other's transfer).
//! * An error (HTTP status, transport, timeout, wrong length) backs off 5 s, doubling up to
//!   5 minutes, and a success resets it. A seed is never dropped for errors alone: libtorrent
//!   also retries a failing web seed after a wait (`urlseed_wait_retry`), aria2 after
//!   `--retry-wait`.
//! * A seed whose data fails a piece's hash check is banned for the torrent, as libtorrent bans
//!   the web seed of a single-file torrent (for a multi-file one libtorrent only stops asking it
//!   for that file; one rule here is simpler, at the cost of a seed with one stale file).

use std::time::{Duration, Instant};

/// Requests in flight per web seed at most.
pub const MAX_JOBS_PER_SEED: u8 = 2;
/// The wait after a first error.
pub const FIRST_BACKOFF: Duration = Duration::from_secs(5);
/// The longest wait between retries.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// Where a web seed stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SeedState {
    /// Nothing in flight; may be asked.
    Idle,
    /// `jobs` requests in flight (1..=[`MAX_JOBS_PER_SEED`]).
    Requesting {
        /// Requests in flight.
        jobs: u8,
    },
    /// An error: nothing new is asked before `until`; `jobs` asked earlier may still answer.
    BackingOff {
        /// When it may be asked again.
        until: Instant,
        /// Requests still in flight.
        jobs: u8,
    },
    /// Sent data that failed a hash check: never asked again for this torrent, and whatever
    /// it still sends is dropped.
    Banned,
}

/// One web seed of a torrent.
#[derive(Clone, Debug)]
pub struct Seed {
    /// The URL as `url-list` gives it.
    pub url: String,
    state: SeedState,
    /// Errors in a row (sets the back-off).
    failures: u32,
    /// Piece bytes it delivered that were new to us.
    pub downloaded: u64,
}

/// The wait after `failures` errors in a row (1 or more).
pub fn backoff(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    FIRST_BACKOFF
        .saturating_mul(1 << doublings)
        .min(MAX_BACKOFF)
}

impl Seed {
    /// A fresh, idle seed.
    pub fn new(url: String) -> Seed {
        Seed {
            url,
            state: SeedState::Idle,
            failures: 0,
            downloaded: 0,
        }
    }

    /// Its state.
    #[cfg(test)]
    pub fn state(&self) -> &SeedState {
        &self.state
    }

    /// Whether it is banned.
    pub fn is_banned(&self) -> bool {
        self.state == SeedState::Banned
    }

    /// Whether a new request may start now.
    pub fn can_start(&self) -> bool {
        match self.state {
            SeedState::Idle => true,
            SeedState::Requesting { jobs } => jobs < MAX_JOBS_PER_SEED,
            SeedState::BackingOff { .. } | SeedState::Banned => false,
        }
    }

    /// A request started (the caller checked [`Seed::can_start`]).
    pub fn start(&mut self) {
        self.state = match self.state {
            SeedState::Idle => SeedState::Requesting { jobs: 1 },
            SeedState::Requesting { jobs } => SeedState::Requesting {
                jobs: (jobs + 1).min(MAX_JOBS_PER_SEED),
            },
            ref other => other.clone(),
        };
    }

    /// One request ended without a verdict on the seed (its answer was not used).
    pub fn finished(&mut self) {
        self.state = match self.state {
            SeedState::Requesting { jobs } if jobs > 1 => SeedState::Requesting { jobs: jobs - 1 },
            SeedState::Requesting { .. } => SeedState::Idle,
            SeedState::BackingOff { until, jobs } => SeedState::BackingOff {
                until,
                jobs: jobs.saturating_sub(1),
            },
            ref other => other.clone(),
        };
    }

    /// A request answered with data: errors in a row start over.
    pub fn succeeded(&mut self) {
        self.failures = 0;
        self.finished();
    }

    /// A request failed: back off (a later error while backing off pushes the retry further).
    /// Returns when the seed may be asked again (`None` when banned).
    pub fn failed(&mut self, now: Instant) -> Option<Instant> {
        let jobs = match self.state {
            SeedState::Idle => 0,
            SeedState::Requesting { jobs } | SeedState::BackingOff { jobs, .. } => {
                jobs.saturating_sub(1)
            }
            SeedState::Banned => return None,
        };
        self.failures = self.failures.saturating_add(1);
        let until = now + backoff(self.failures);
        self.state = SeedState::BackingOff { until, jobs };
        Some(until)
    }

    /// Its data failed a hash check.
    pub fn ban(&mut self) {
        self.state = SeedState::Banned;
    }

    /// Ends a back-off that is over by `now`. Returns whether the seed may be asked again.
    pub fn wake(&mut self, now: Instant) -> bool {
        if let SeedState::BackingOff { until, jobs } = self.state {
            if until <= now {
                self.state = match jobs {
                    0 => SeedState::Idle,
                    jobs => SeedState::Requesting { jobs },
                };
            }
        }
        self.can_start()
    }

    /// When a back-off ends, if it is backing off.
    pub fn retry_at(&self) -> Option<Instant> {
        match self.state {
            SeedState::BackingOff { until, .. } => Some(until),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_capped_per_seed() {
        let mut s = Seed::new("http://h/".into());
        for _ in 0..MAX_JOBS_PER_SEED {
            assert!(s.can_start());
            s.start();
        }
        assert!(!s.can_start());
        assert_eq!(
            s.state(),
            &SeedState::Requesting {
                jobs: MAX_JOBS_PER_SEED
            }
        );
        s.succeeded();
        assert!(s.can_start());
    }

    #[test]
    fn errors_back_off_doubling_up_to_the_cap_and_a_success_resets() {
        let t0 = Instant::now();
        let mut s = Seed::new("http://h/".into());
        s.start();
        assert_eq!(s.failed(t0), Some(t0 + Duration::from_secs(5)));
        assert!(!s.wake(t0 + Duration::from_secs(4)));
        assert!(s.wake(t0 + Duration::from_secs(5)));
        assert_eq!(s.state(), &SeedState::Idle);
        s.start();
        assert_eq!(s.failed(t0), Some(t0 + Duration::from_secs(10)));
        for _ in 0..20 {
            s.failed(t0);
        }
        assert_eq!(s.retry_at(), Some(t0 + MAX_BACKOFF));
        assert!(s.wake(t0 + MAX_BACKOFF));
        s.start();
        s.succeeded();
        s.start();
        assert_eq!(s.failed(t0), Some(t0 + FIRST_BACKOFF));
    }

    #[test]
    fn a_request_still_in_flight_is_counted_through_a_back_off() {
        let t0 = Instant::now();
        let mut s = Seed::new("http://h/".into());
        s.start();
        s.start();
        s.failed(t0);
        assert_eq!(
            s.state(),
            &SeedState::BackingOff {
                until: t0 + FIRST_BACKOFF,
                jobs: 1
            }
        );
        assert!(s.wake(t0 + FIRST_BACKOFF));
        assert_eq!(s.state(), &SeedState::Requesting { jobs: 1 });
    }

    #[test]
    fn a_banned_seed_stays_banned() {
        let t0 = Instant::now();
        let mut s = Seed::new("http://h/".into());
        s.start();
        s.ban();
        assert_eq!(s.failed(t0), None);
        s.succeeded();
        assert!(!s.wake(t0 + MAX_BACKOFF));
        assert!(s.is_banned());
    }
}
