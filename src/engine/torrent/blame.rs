//! Who sent the bad data: attributing hash failures to the peers that sent the wrong blocks.
//!
//! A piece that fails its hash with a single sender convicts it at once. A piece with several
//! senders convicts nobody yet: we keep the SHA-1 of each block it had and who sent it, and when
//! the piece later verifies, every sender of a block that differs from the good data is banned.
//! Honest peers that happened to share a piece with a liar are never blamed. Part of the sans-IO
//! torrent core (reactor thread).

use std::net::SocketAddr;
use std::time::Instant;

use sha1::{Digest, Sha1};

use super::{Source, Taker, TorrentCore};
use crate::bitfield::Bitfield;
use crate::engine::io::ConnId;
use crate::engine::peer::PeerError;
use crate::engine::Outputs;

/// Failed pieces whose evidence we keep; beyond that the oldest evidence is forgotten (it only
/// costs a later conviction, never a wrong one).
const MAX_SUSPECT_PIECES: usize = 64;
/// Evidence records kept per piece (several failed attempts of the same piece).
const MAX_RECORDS_PER_PIECE: usize = 1024;

/// One block of a failed attempt: index in the piece, SHA-1 of what arrived, who sent it.
pub(super) type Record = (u32, [u8; 20], Source);

fn block_hash(data: &[u8], block: u32) -> Option<[u8; 20]> {
    let start = block as usize * crate::layout::BLOCK_SIZE as usize;
    let end = (start + crate::layout::BLOCK_SIZE as usize).min(data.len());
    data.get(start..end).map(|b| Sha1::digest(b).into())
}

impl TorrentCore {
    /// A piece failed: convict its only sender, or keep evidence when it had several.
    pub(super) fn blame_failed(
        &mut self,
        piece: u32,
        data: &[u8],
        senders: &[Option<Source>],
        now: Instant,
        out: &mut Outputs,
    ) {
        // One sender for every block: it is the liar. (No set: a scan costs no code for sorting.)
        let first = senders.iter().flatten().next().copied();
        if let Some(who) = first.filter(|f| senders.iter().flatten().all(|s| s == f)) {
            self.ban_source(who, now, out);
            if let Some(owner) = self.solo.get_mut(&piece) {
                *owner = None;
            }
            return;
        }
        self.solo.insert(piece, None);
        if !self.suspects.contains_key(&piece) && self.suspects.len() >= MAX_SUSPECT_PIECES {
            self.suspects.pop_first();
        }
        let records = self.suspects.entry(piece).or_default();
        for (block, who) in senders.iter().enumerate() {
            let (Some(who), Some(hash)) = (who, block_hash(data, block as u32)) else {
                continue;
            };
            if records.len() < MAX_RECORDS_PER_PIECE {
                records.push((block as u32, hash, *who));
            }
        }
    }

    /// A piece verified: every sender of a block of an earlier failed attempt that differs from
    /// the good data lied.
    pub(super) fn blame_verified(
        &mut self,
        piece: u32,
        good: &[u8],
        now: Instant,
        out: &mut Outputs,
    ) {
        self.solo.remove(&piece);
        let Some(records) = self.suspects.remove(&piece) else {
            return;
        };
        let mut liars: Vec<Source> = Vec::new();
        for (block, hash, who) in &records {
            let lied = block_hash(good, *block).is_some_and(|g| g != *hash);
            if lied && !liars.contains(who) {
                liars.push(*who);
            }
        }
        for who in liars {
            self.ban_source(who, now, out);
        }
    }

    /// Bans whoever sent bad data: a peer's address or a web seed.
    fn ban_source(&mut self, who: Source, now: Instant, out: &mut Outputs) {
        match who {
            Source::Peer(addr) => self.ban(addr, now, out),
            Source::Web(seed) => self.ban_web_seed(seed, now, out),
        }
    }

    /// What `conn` may be asked for while pieces are being refetched solo: its pieces minus the
    /// solo pieces of others. A peer without a solo piece takes the first unowned one it has.
    /// `None` (no mask) in the common case that no piece is solo.
    pub(super) fn solo_mask(&mut self, conn: ConnId) -> Option<Bitfield> {
        if self.solo.is_empty() {
            return None;
        }
        let has = self.peers.get(&conn)?.has.clone();
        Some(self.solo_mask_for(Taker::Peer(conn), has))
    }

    /// `has` minus the solo pieces of others; `taker` first takes an unowned solo piece it has,
    /// when it owns none.
    pub(super) fn solo_mask_for(&mut self, taker: Taker, mut has: Bitfield) -> Bitfield {
        if !self.solo.values().any(|o| *o == Some(taker)) {
            let free = self
                .solo
                .iter()
                .find(|(p, o)| o.is_none() && has.get(**p))
                .map(|(p, _)| *p);
            if let Some(p) = free {
                self.solo.insert(p, Some(taker));
            }
        }
        for (&piece, owner) in &self.solo {
            if *owner != Some(taker) {
                has.clear(piece);
            }
        }
        has
    }

    /// Gives up `conn`'s solo piece (it choked us or sat on requests), so another peer takes it.
    pub(super) fn release_solo(&mut self, conn: ConnId) {
        self.release_solo_of(Taker::Peer(conn));
    }

    /// Gives up whatever solo piece `taker` holds.
    pub(super) fn release_solo_of(&mut self, taker: Taker) {
        for owner in self.solo.values_mut() {
            if *owner == Some(taker) {
                *owner = None;
            }
        }
    }

    /// Bans `addr`: its connections close, it is never dialled again, and pieces holding its
    /// blocks start over (those blocks cannot be trusted, and would fail the hash anyway).
    pub(super) fn ban(&mut self, addr: SocketAddr, now: Instant, out: &mut Outputs) {
        if !self.dialer.ban(addr) {
            return;
        }
        log::warn!(
            "torrent {}: banning {addr} for sending corrupt data",
            self.log_name()
        );
        let guilty: Vec<ConnId> = self
            .peers
            .iter()
            .filter(|(_, p)| p.addr == addr)
            .map(|(c, _)| *c)
            .collect();
        for conn in &guilty {
            if let Some(p) = self.peers.get(conn) {
                self.dialer.ban_id(p.peer_id);
            }
        }
        for conn in guilty {
            self.drop_peer(conn, PeerError::Banned, now, out);
        }
        for (&piece, p) in self.partial.iter_mut() {
            // A piece whose data went to the pool already is judged by its hash.
            if p.data.is_empty() || !p.senders.contains(&Some(Source::Peer(addr))) {
                continue;
            }
            p.senders.iter_mut().for_each(|s| *s = None);
            self.picker.on_piece_failed(piece);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::super::test_core;
    use super::TorrentCore;
    use crate::engine::io::EngineConfig;
    use crate::engine::Outputs;
    use crate::layout::Layout;

    fn core() -> TorrentCore {
        let layout = Layout::new(32768, 100_000).unwrap();
        test_core(1, layout, false, &EngineConfig::default(), Instant::now())
    }

    #[test]
    fn a_ban_covers_the_ip_off_loopback_and_only_the_port_on_it() {
        let mut t = core();
        let mut out = Outputs::default();
        let now = Instant::now();
        t.ban("203.0.113.7:6881".parse().unwrap(), now, &mut out);
        assert!(t.is_banned(&"203.0.113.7:50000".parse().unwrap()));
        assert!(!t.is_banned(&"203.0.113.8:6881".parse().unwrap()));
        t.ban("127.0.0.1:7000".parse().unwrap(), now, &mut out);
        assert!(t.is_banned(&"127.0.0.1:7000".parse().unwrap()));
        assert!(
            !t.is_banned(&"127.0.0.1:7001".parse().unwrap()),
            "loopback peers share an IP"
        );
        assert_eq!(t.stats().banned, 2);
    }
}
