//! Peers announced to us (`announce_peer`), served back in `get_peers` answers.
//!
//! Pure data, owned by the [`Dht`](super::Dht) (reactor thread). Bounded in every direction, since
//! anyone can announce: one entry per IP per info-hash (a second port from the same IP replaces the
//! first), at most `max_per_hash` peers per info-hash (the oldest gives way), and at most
//! `max_hashes` info-hashes. When the store is full, a new info-hash is taken only if it is closer
//! to our id than the farthest one stored, which is dropped: Kademlia puts each hash on the nodes
//! closest to it, so far ones are the least useful here. Entries expire [`PEER_TTL`] after their
//! last announce (BEP 5 leaves this open; libtorrent and Transmission both use 30 minutes).

use std::collections::BTreeMap;
use std::mem::size_of;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::id::NodeId;
use crate::rng::SplitMix64;

/// How long an announced peer is served.
pub const PEER_TTL: Duration = Duration::from_secs(30 * 60);
/// How often expired peers are swept out (they are never served once expired).
pub const SWEEP_EVERY: Duration = Duration::from_secs(5 * 60);

/// The peer store.
#[derive(Clone, Debug)]
pub struct PeerStore {
    own: NodeId,
    max_hashes: usize,
    max_per_hash: usize,
    /// Peers per info-hash, with the time each expires.
    map: BTreeMap<NodeId, Vec<(SocketAddr, Instant)>>,
    next_sweep: Option<Instant>,
}

impl PeerStore {
    /// Our node id changed (BEP 42, a new external address): distances count from `own` now.
    pub fn set_own(&mut self, own: NodeId) {
        self.own = own;
    }

    /// An empty store for the node `own`.
    pub fn new(own: NodeId, max_hashes: usize, max_per_hash: usize) -> PeerStore {
        PeerStore {
            own,
            max_hashes,
            max_per_hash,
            map: BTreeMap::new(),
            next_sweep: None,
        }
    }

    /// Records `peer` for `hash`; false when the store refused a new info-hash.
    pub fn add(&mut self, hash: NodeId, peer: SocketAddr, now: Instant) -> bool {
        if self.max_per_hash == 0 {
            return false;
        }
        if !self.map.contains_key(&hash) && !self.make_room(&hash) {
            return false;
        }
        let peers = self.map.entry(hash).or_default();
        let expires = now + PEER_TTL;
        if let Some(p) = peers.iter_mut().find(|(a, _)| a.ip() == peer.ip()) {
            *p = (peer, expires);
        } else if peers.len() < self.max_per_hash {
            peers.push((peer, expires));
        } else if let Some(oldest) = peers.iter_mut().min_by_key(|(_, t)| *t) {
            *oldest = (peer, expires);
        }
        self.next_sweep.get_or_insert(now + SWEEP_EVERY);
        true
    }

    fn make_room(&mut self, hash: &NodeId) -> bool {
        if self.map.len() < self.max_hashes {
            return true;
        }
        let own = self.own;
        let farthest = self
            .map
            .keys()
            .max_by(|a, b| own.cmp_distance(a, b))
            .copied();
        match farthest {
            Some(far) if own.cmp_distance(hash, &far).is_lt() => {
                self.map.remove(&far);
                true
            }
            _ => false,
        }
    }

    /// Up to `max` live peers of `hash` in one family, a random choice when there are more.
    pub fn peers(
        &self,
        hash: &NodeId,
        v6: bool,
        max: usize,
        now: Instant,
        rng: &mut SplitMix64,
    ) -> Vec<SocketAddr> {
        let Some(peers) = self.map.get(hash) else {
            return Vec::new();
        };
        let mut live: Vec<SocketAddr> = peers
            .iter()
            .filter(|(a, t)| a.is_ipv6() == v6 && *t > now)
            .map(|(a, _)| *a)
            .collect();
        if live.len() > max {
            rng.shuffle(&mut live);
            live.truncate(max);
        }
        live
    }

    /// When expired peers should next be swept out.
    pub fn next_sweep(&self) -> Option<Instant> {
        self.next_sweep
    }

    /// Drops expired peers (and info-hashes left empty) if the sweep is due.
    pub fn sweep(&mut self, now: Instant) {
        if self.next_sweep.map_or(true, |t| now < t) {
            return;
        }
        self.map.retain(|_, peers| {
            peers.retain(|(_, t)| *t > now);
            !peers.is_empty()
        });
        self.next_sweep = (!self.map.is_empty()).then_some(now + SWEEP_EVERY);
    }

    /// Info-hashes and peers stored.
    pub fn counts(&self) -> (usize, usize) {
        (self.map.len(), self.map.values().map(Vec::len).sum())
    }

    /// Approximate heap bytes held (map nodes counted as their key, value and two pointers).
    pub fn memory_bytes(&self) -> usize {
        let per_hash = size_of::<NodeId>() + size_of::<Vec<(SocketAddr, Instant)>>() + 16;
        let peers: usize = self.map.values().map(Vec::capacity).sum();
        self.map.len() * per_hash + peers * size_of::<(SocketAddr, Instant)>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn one_entry_per_ip_bounded_per_hash_oldest_replaced() {
        let t0 = Instant::now();
        let mut rng = SplitMix64(1);
        let h = NodeId([7; 20]);
        let mut s = PeerStore::new(NodeId([0; 20]), 10, 3);
        assert!(s.add(h, addr("10.0.0.1:1"), t0));
        assert!(s.add(h, addr("10.0.0.1:2"), t0));
        assert_eq!(
            s.peers(&h, false, 50, t0, &mut rng),
            vec![addr("10.0.0.1:2")]
        );
        let t1 = t0 + Duration::from_secs(1);
        s.add(h, addr("10.0.0.2:1"), t1);
        s.add(h, addr("10.0.0.3:1"), t1);
        s.add(h, addr("10.0.0.4:1"), t1);
        let mut got = s.peers(&h, false, 50, t1, &mut rng);
        got.sort();
        assert_eq!(
            got,
            [addr("10.0.0.2:1"), addr("10.0.0.3:1"), addr("10.0.0.4:1")]
        );
        assert_eq!(s.peers(&h, false, 2, t1, &mut rng).len(), 2);
        assert!(s.peers(&h, true, 50, t1, &mut rng).is_empty());
        s.add(h, addr("[fd00::1]:5"), t1);
        assert_eq!(
            s.peers(&h, true, 50, t1, &mut rng),
            vec![addr("[fd00::1]:5")]
        );
    }

    #[test]
    fn hashes_bounded_far_ones_give_way() {
        let t0 = Instant::now();
        let mut s = PeerStore::new(NodeId([0; 20]), 2, 100);
        assert!(s.add(NodeId([0x40; 20]), addr("10.0.0.1:1"), t0));
        assert!(s.add(NodeId([0x80; 20]), addr("10.0.0.1:1"), t0));
        // Farther than everything stored: refused.
        assert!(!s.add(NodeId([0xc0; 20]), addr("10.0.0.1:1"), t0));
        // Closer than the farthest (0x80..): that one leaves.
        assert!(s.add(NodeId([0x01; 20]), addr("10.0.0.1:1"), t0));
        assert_eq!(s.counts(), (2, 2));
        let mut rng = SplitMix64(1);
        assert!(s
            .peers(&NodeId([0x80; 20]), false, 9, t0, &mut rng)
            .is_empty());
        assert_eq!(
            s.peers(&NodeId([0x40; 20]), false, 9, t0, &mut rng).len(),
            1
        );
    }

    #[test]
    fn peers_expire_and_are_swept() {
        let t0 = Instant::now();
        let mut rng = SplitMix64(1);
        let h = NodeId([7; 20]);
        let mut s = PeerStore::new(NodeId([0; 20]), 10, 10);
        assert_eq!(s.next_sweep(), None);
        s.add(h, addr("10.0.0.1:1"), t0);
        s.add(h, addr("10.0.0.2:1"), t0 + Duration::from_secs(600));
        assert_eq!(s.next_sweep(), Some(t0 + SWEEP_EVERY));
        let late = t0 + PEER_TTL;
        assert_eq!(
            s.peers(&h, false, 9, late, &mut rng),
            vec![addr("10.0.0.2:1")]
        );
        s.sweep(late);
        assert_eq!(s.counts(), (1, 1));
        s.sweep(late + PEER_TTL);
        assert_eq!(s.counts(), (0, 0));
        assert_eq!(s.next_sweep(), None);
        assert_eq!(s.memory_bytes(), 0);
    }
}
