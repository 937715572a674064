//! Which peers a torrent may dial and when: the candidate list with backoff, the dials in
//! progress, and the bans (addresses and peer ids that sent corrupt data).
//!
//! Part of the sans-IO torrent core (reactor thread). It knows addresses only: who is connected
//! is told to it by the caller, and it never reaches into peers, the picker or the engine.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Where a candidate stands.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    not_before: Instant,
    failures: u32,
}

/// Why a dial or a connection ended, as far as the dial list cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DialEnd {
    /// It failed or the peer went away: back off before the next try.
    Failed,
    /// We closed it ourselves (pause, removal, shutdown): the peer did nothing wrong, so it may
    /// be dialled again at once.
    Ours,
    /// Never dial this address again (ourselves, a wrong torrent, a ban).
    GiveUp,
}

/// The dial list of one torrent. See the module documentation.
#[derive(Debug, Default)]
pub(crate) struct Dialer {
    candidates: BTreeMap<SocketAddr, Candidate>,
    connecting: BTreeSet<SocketAddr>,
    banned: BTreeSet<SocketAddr>,
    banned_ids: BTreeSet<[u8; 20]>,
    /// Something changed that may allow a dial (a new candidate, a freed slot): the engine
    /// dials after the input instead of on a timer.
    wants_dial: bool,
}

/// The first retry waits 10 s, then doubles up to about five minutes.
fn backoff(failures: u32) -> Duration {
    Duration::from_secs(5u64 << failures.min(6))
}

impl Dialer {
    /// Remembers an address to dial (from a tracker, the user or another source).
    pub(crate) fn add(&mut self, addr: SocketAddr, now: Instant) {
        if addr.port() == 0 || self.is_banned(&addr) {
            return;
        }
        if let std::collections::btree_map::Entry::Vacant(e) = self.candidates.entry(addr) {
            e.insert(Candidate {
                not_before: now,
                failures: 0,
            });
            self.wants_dial = true;
        }
    }

    /// Addresses to dial now, at most `room`, skipping those in `connected`; each is marked as
    /// connecting.
    pub(crate) fn take_targets(
        &mut self,
        room: usize,
        connected: &BTreeSet<SocketAddr>,
        now: Instant,
    ) -> Vec<SocketAddr> {
        self.wants_dial = false;
        if room == 0 {
            return Vec::new();
        }
        let out: Vec<SocketAddr> = self
            .candidates
            .iter()
            .filter(|(a, c)| {
                c.not_before <= now && !connected.contains(a) && !self.connecting.contains(a)
            })
            .map(|(a, _)| *a)
            .take(room)
            .collect();
        self.connecting.extend(out.iter().copied());
        out
    }

    /// When the next candidate in backoff becomes dialable (none: nobody is waiting).
    pub(crate) fn next_retry(
        &self,
        connected: &BTreeSet<SocketAddr>,
        now: Instant,
    ) -> Option<Instant> {
        self.candidates
            .iter()
            .filter(|(a, c)| {
                c.not_before > now && !connected.contains(a) && !self.connecting.contains(a)
            })
            .map(|(_, c)| c.not_before)
            .min()
    }

    /// Whether any candidate could be dialled now if there were room.
    pub(crate) fn has_ready(&self, connected: &BTreeSet<SocketAddr>, now: Instant) -> bool {
        self.candidates.iter().any(|(a, c)| {
            c.not_before <= now && !connected.contains(a) && !self.connecting.contains(a)
        })
    }

    /// Whether an input since the last [`Self::take_targets`] may have made a dial possible.
    pub(crate) fn wants_dial(&self) -> bool {
        self.wants_dial
    }

    /// Dials in progress.
    pub(crate) fn connecting(&self) -> usize {
        self.connecting.len()
    }

    /// Addresses that may be dialled now or later (connected ones included).
    pub(crate) fn known(&self) -> usize {
        self.candidates.len()
    }

    /// A dial reached the handshake: its backoff is forgiven.
    pub(crate) fn connected(&mut self, addr: SocketAddr) {
        self.connecting.remove(&addr);
        if let Some(c) = self.candidates.get_mut(&addr) {
            c.failures = 0;
        }
    }

    /// A dial or a connection to `addr` ended.
    pub(crate) fn ended(&mut self, addr: SocketAddr, how: DialEnd, now: Instant) {
        self.connecting.remove(&addr);
        self.wants_dial = true;
        match how {
            DialEnd::GiveUp => {
                self.candidates.remove(&addr);
            }
            DialEnd::Ours => {
                if let Some(c) = self.candidates.get_mut(&addr) {
                    c.not_before = now;
                }
            }
            DialEnd::Failed => {
                if let Some(c) = self.candidates.get_mut(&addr) {
                    c.failures += 1;
                    c.not_before = now + backoff(c.failures);
                }
            }
        }
    }

    /// Forgets every dial in progress (their connections were closed by us).
    pub(crate) fn cancel_dials(&mut self) {
        self.connecting.clear();
    }

    /// After a pause: every candidate may be dialled at once, and the engine should try.
    pub(crate) fn reset_backoff(&mut self, now: Instant) {
        for c in self.candidates.values_mut() {
            c.not_before = c.not_before.min(now);
        }
        self.wants_dial = true;
    }

    /// Bans `addr` (and, once known, its peer ids); returns false when it was banned already.
    pub(crate) fn ban(&mut self, addr: SocketAddr) -> bool {
        self.candidates.remove(&addr);
        self.banned.insert(addr)
    }

    /// Bans a peer id: an incoming connection comes from a new port each time.
    pub(crate) fn ban_id(&mut self, id: [u8; 20]) {
        self.banned_ids.insert(id);
    }

    /// Whether `addr` is banned: that address, or (off loopback, where every test peer shares
    /// one IP) any port of its IP.
    pub(crate) fn is_banned(&self, addr: &SocketAddr) -> bool {
        self.banned.contains(addr)
            || (!addr.ip().is_loopback() && self.banned.iter().any(|b| b.ip() == addr.ip()))
    }

    /// Whether a peer with this id was banned.
    pub(crate) fn is_banned_id(&self, id: &[u8; 20]) -> bool {
        self.banned_ids.contains(id)
    }

    /// Banned addresses.
    pub(crate) fn banned_count(&self) -> usize {
        self.banned.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn failures_back_off_and_our_own_closes_do_not() {
        let t0 = Instant::now();
        let mut d = Dialer::default();
        let none = BTreeSet::new();
        d.add(addr(1), t0);
        d.add(addr(2), t0);
        assert_eq!(d.take_targets(8, &none, t0), vec![addr(1), addr(2)]);
        assert_eq!(d.connecting(), 2);
        d.ended(addr(1), DialEnd::Failed, t0);
        d.ended(addr(2), DialEnd::Ours, t0);
        // A pause is not the peer's fault: it comes back at once; the failed one waits 10 s.
        assert_eq!(d.take_targets(8, &none, t0), vec![addr(2)]);
        assert_eq!(d.next_retry(&none, t0), Some(t0 + Duration::from_secs(10)));
        let later = t0 + Duration::from_secs(10);
        assert_eq!(d.take_targets(8, &none, later), vec![addr(1)]);
    }

    #[test]
    fn banned_and_portless_addresses_are_never_dialled() {
        let t0 = Instant::now();
        let mut d = Dialer::default();
        d.add(SocketAddr::from(([127, 0, 0, 1], 0)), t0);
        d.add(addr(5), t0);
        assert!(d.ban(addr(5)));
        assert!(!d.ban(addr(5)));
        d.add(addr(5), t0);
        assert!(d.take_targets(8, &BTreeSet::new(), t0).is_empty());
        assert_eq!(d.banned_count(), 1);
    }
}
