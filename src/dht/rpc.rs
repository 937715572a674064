//! Our outstanding queries, keyed by transaction id, with their deadlines.
//!
//! Pure data, owned by the [`Dht`](super::Dht) (reactor thread). A reply is matched only when both
//! its transaction id and its source address match a query we sent, so a third party must guess a
//! random 32-bit id to inject an answer. A query that has not been answered after [`STALL_AFTER`]
//! is reported once as stalled (a lookup then asks another node instead of waiting), and given up
//! after [`TIMEOUT`].

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::id::NodeId;
use super::krpc::Blob;
use super::LookupId;
use crate::rng::SplitMix64;

/// A query still unanswered after this long stops holding a lookup back (libtorrent does the
/// same with its "short timeout").
pub const STALL_AFTER: Duration = Duration::from_secs(1);
/// A query unanswered after this long has failed.
pub const TIMEOUT: Duration = Duration::from_secs(4);
/// Most queries in flight; more are refused rather than queued.
pub const MAX_PENDING: usize = 256;

/// Why a query was sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// A liveness check (table maintenance, or a node we heard of).
    Ping,
    /// A step of lookup `LookupId`.
    Lookup(LookupId),
    /// An `announce_peer` at the end of lookup `LookupId`.
    Announce(LookupId),
}

/// One query in flight.
#[derive(Clone, Copy, Debug)]
pub struct Pending {
    /// Where it went; the reply must come from here.
    pub addr: SocketAddr,
    /// The id we expect to answer, when we know it.
    pub id: Option<NodeId>,
    /// Why.
    pub purpose: Purpose,
    /// When it was sent.
    pub sent: Instant,
    /// Whether it was already reported stalled.
    pub stalled: bool,
}

/// What [`Rpcs::expire`] found.
#[derive(Clone, Copy, Debug)]
pub enum Expired {
    /// Passed [`STALL_AFTER`]: still waiting for the reply.
    Stalled(Pending),
    /// Passed [`TIMEOUT`]: forgotten.
    TimedOut(Pending),
}

/// The queries in flight.
#[derive(Clone, Debug, Default)]
pub struct Rpcs {
    pending: BTreeMap<u32, Pending>,
}

impl Rpcs {
    /// Records a query and returns its transaction id; `None` when [`MAX_PENDING`] are in flight.
    pub fn start(&mut self, rng: &mut SplitMix64, p: Pending) -> Option<Blob> {
        if self.pending.len() >= MAX_PENDING {
            return None;
        }
        let mut tid = rng.next_u64() as u32;
        while self.pending.contains_key(&tid) {
            tid = tid.wrapping_add(1);
        }
        self.pending.insert(tid, p);
        Blob::new(&tid.to_be_bytes())
    }

    /// The query answered by a message with transaction id `tid` from `from`, removed; `None` if
    /// there is no such query (unknown id, or the wrong sender).
    pub fn take(&mut self, tid: &[u8], from: SocketAddr) -> Option<Pending> {
        let key = u32::from_be_bytes(tid.try_into().ok()?);
        if self.pending.get(&key)?.addr != from {
            return None;
        }
        self.pending.remove(&key)
    }

    fn deadline(p: &Pending) -> Instant {
        p.sent + if p.stalled { TIMEOUT } else { STALL_AFTER }
    }

    /// The earliest stall or timeout.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.pending.values().map(Rpcs::deadline).min()
    }

    /// Stalls and timeouts due at `now`, in transaction-id order.
    pub fn expire(&mut self, now: Instant) -> Vec<Expired> {
        let mut out = Vec::new();
        self.pending.retain(|_, p| {
            if now >= p.sent + TIMEOUT {
                out.push(Expired::TimedOut(*p));
                return false;
            }
            if !p.stalled && now >= p.sent + STALL_AFTER {
                out.push(Expired::Stalled(*p));
                p.stalled = true;
            }
            true
        });
        out
    }

    /// Whether a query to `addr` is in flight.
    pub fn waiting_on(&self, addr: SocketAddr) -> bool {
        self.pending.values().any(|p| p.addr == addr)
    }

    /// Number of queries in flight.
    pub fn len(&self) -> usize {
        self.pending.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(addr: &str, now: Instant) -> Pending {
        Pending {
            addr: addr.parse().unwrap(),
            id: None,
            purpose: Purpose::Ping,
            sent: now,
            stalled: false,
        }
    }

    #[test]
    fn replies_match_tid_and_address_only() {
        let now = Instant::now();
        let mut rpcs = Rpcs::default();
        let mut rng = SplitMix64(1);
        let tid = rpcs.start(&mut rng, pending("10.0.0.1:1", now)).unwrap();
        assert_eq!(tid.as_slice().len(), 4);
        assert!(rpcs.take(b"zz", "10.0.0.1:1".parse().unwrap()).is_none());
        assert!(rpcs
            .take(tid.as_slice(), "10.0.0.2:1".parse().unwrap())
            .is_none());
        assert!(rpcs.waiting_on("10.0.0.1:1".parse().unwrap()));
        let p = rpcs
            .take(tid.as_slice(), "10.0.0.1:1".parse().unwrap())
            .unwrap();
        assert_eq!(p.purpose, Purpose::Ping);
        assert!(rpcs
            .take(tid.as_slice(), "10.0.0.1:1".parse().unwrap())
            .is_none());
        assert_eq!(rpcs.len(), 0);
    }

    #[test]
    fn stall_then_timeout_and_bounded() {
        let t0 = Instant::now();
        let mut rpcs = Rpcs::default();
        let mut rng = SplitMix64(2);
        rpcs.start(&mut rng, pending("10.0.0.1:1", t0)).unwrap();
        assert_eq!(rpcs.next_deadline(), Some(t0 + STALL_AFTER));
        assert!(rpcs.expire(t0 + STALL_AFTER / 2).is_empty());
        let e = rpcs.expire(t0 + STALL_AFTER);
        assert!(matches!(e[..], [Expired::Stalled(_)]));
        assert_eq!(rpcs.next_deadline(), Some(t0 + TIMEOUT));
        assert!(rpcs.expire(t0 + STALL_AFTER).is_empty(), "stalls once");
        let e = rpcs.expire(t0 + TIMEOUT);
        assert!(matches!(
            e[..],
            [Expired::TimedOut(Pending { stalled: true, .. })]
        ));
        assert_eq!(rpcs.next_deadline(), None);
        for _ in 0..MAX_PENDING {
            assert!(rpcs.start(&mut rng, pending("10.0.0.1:1", t0)).is_some());
        }
        assert!(rpcs.start(&mut rng, pending("10.0.0.1:1", t0)).is_none());
    }
}
