//! One torrent's protocol core: its peers' messages, the picker, piece buffers, the choker, the
//! tracker schedule and the peer candidates.
//!
//! Sans-IO, owned by the [`super::Engine`] on the reactor thread. Inputs are method calls with `now`;
//! outputs are [`Action`]s pushed onto the engine's queue and bytes in each peer's `out` buffer.
//! Nothing here blocks, reads the clock, or touches sockets and files. Disk work (hash, write,
//! read) goes out as [`DiskRequest`]s and comes back through [`TorrentCore::handle_disk`].

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::choker::{self, Candidate};
use super::io::{
    Action, ConnId, EngineConfig, Event, TorrentId, TorrentParams, TorrentState, TorrentStats,
};
use super::peer::{Peer, PeerError};
use super::Outputs;

mod blame;
#[cfg(test)]
mod budget_tests;
mod have_log;
#[cfg(test)]
mod haves_tests;
mod messages;
mod requests;
mod timers;
#[cfg(test)]
mod upload_tests;
use crate::bitfield::Bitfield;
use crate::layout::{BlockRef, Layout};
use crate::picker::Picker;
use crate::tracker::{AnnounceEvent, TrackerList};
use crate::wire::Message;

/// Disk checks in flight during a recheck (enough to keep every pool worker busy).
const CHECKS_IN_FLIGHT: usize = 8;
/// Disk reads in flight per uploading peer.
const READS_PER_PEER: usize = 4;
/// Keep-alives in a row after which a peer is treated as a flood.
const MAX_KEEPALIVES: u32 = 1000;

/// The frame payload limit for a torrent: a bitfield (1 id byte + the bits) or a piece message
/// carrying one 16 KiB block (1 id byte + 8 header bytes), whichever is larger.
fn max_frame(layout: &Layout) -> u32 {
    let bitfield = 1 + layout.num_pieces().div_ceil(8);
    bitfield.max(1 + 8 + crate::layout::BLOCK_SIZE)
}

/// A piece being downloaded: its buffer and who sent each block.
#[derive(Debug)]
struct PartialPiece {
    data: Vec<u8>,
    senders: Vec<Option<SocketAddr>>,
}

/// Where a peer we may dial stands.
#[derive(Debug, Clone, Copy)]
struct Dialable {
    not_before: Instant,
    failures: u32,
}

/// One torrent's state machine. See the module documentation.
#[derive(Debug)]
pub struct TorrentCore {
    id: TorrentId,
    cfg: EngineConfig,
    info_hash: [u8; 20],
    layout: Layout,
    /// Largest frame payload a peer may send: our bitfield or one block, whichever is larger.
    /// Checked before buffering, so a partial frame costs at most this per peer.
    max_frame: u32,
    state: TorrentState,
    picker: Picker,
    pub(super) peers: BTreeMap<ConnId, Peer>,
    partial: BTreeMap<u32, PartialPiece>,
    /// Pieces verified, for the `have`s each peer has yet to hear (see `flush_haves`).
    haves: have_log::HaveLog,
    /// When peers not interested in us were last sent their `have`s.
    last_idle_haves: Instant,
    /// Peers we are interested in (`am_interested`): the only ones a verified piece can change
    /// anything for, so per-piece work never visits idle peers.
    interesting: BTreeSet<ConnId>,
    /// Peer ids of `peers`, with counts, so a handshake's duplicate check is not a scan.
    peer_ids: BTreeMap<[u8; 20], u32>,
    /// Peers removed since the engine last took this list, so it can forget their connections
    /// without scanning every connection of the session.
    pub(super) removed: Vec<ConnId>,
    buffered_bytes: usize,
    check_next: u32,
    checks_in_flight: usize,
    /// Addresses we may dial, with backoff; `connecting` holds those with a connect in progress.
    dialable: BTreeMap<SocketAddr, Dialable>,
    pub(super) connecting: BTreeSet<SocketAddr>,
    /// Evidence from pieces that failed with several senders (see `blame`).
    suspects: BTreeMap<u32, Vec<blame::Record>>,
    /// Pieces that failed with several senders, each refetched from one peer only (its owner,
    /// once assigned) so the next verdict names the culprit.
    solo: BTreeMap<u32, Option<ConnId>>,
    banned: BTreeSet<SocketAddr>,
    /// Peer ids of banned peers: an incoming connection comes from a new port each time.
    banned_ids: BTreeSet<[u8; 20]>,
    trackers: TrackerList,
    announcing: bool,
    announce_event: AnnounceEvent,
    started_sent: bool,
    completed_pending: bool,
    downloaded: u64,
    uploaded: u64,
    hash_failures: u32,
    /// Upload token bucket (bytes) when `upload_rate_limit` is set.
    upload_tokens: i64,
    last_refill: Instant,
    down_rate: super::peer::Rate,
    up_rate: super::peer::Rate,
    last_sample: Instant,
    last_rechoke: Instant,
    last_optimistic: Instant,
    optimistic: Option<ConnId>,
    rng: crate::rng::SplitMix64,
    scratch: Vec<BlockRef>,
}

impl TorrentCore {
    /// A torrent that starts checking (if asked) and then downloads or seeds.
    pub fn new(id: TorrentId, p: TorrentParams, cfg: &EngineConfig, now: Instant) -> TorrentCore {
        let seed = cfg.seed ^ (id as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let picker = Picker::new(p.layout, &p.have, seed);
        let mut t = TorrentCore {
            id,
            cfg: cfg.clone(),
            info_hash: p.info_hash,
            layout: p.layout,
            max_frame: max_frame(&p.layout),
            state: TorrentState::Checking,
            picker,
            peers: BTreeMap::new(),
            partial: BTreeMap::new(),
            haves: have_log::HaveLog::default(),
            last_idle_haves: now,
            interesting: BTreeSet::new(),
            peer_ids: BTreeMap::new(),
            removed: Vec::new(),
            buffered_bytes: 0,
            check_next: 0,
            checks_in_flight: 0,
            dialable: BTreeMap::new(),
            connecting: BTreeSet::new(),
            suspects: BTreeMap::new(),
            solo: BTreeMap::new(),
            banned: BTreeSet::new(),
            banned_ids: BTreeSet::new(),
            trackers: TrackerList::new(p.trackers, seed ^ 0x7ac),
            announcing: false,
            announce_event: AnnounceEvent::None,
            started_sent: false,
            completed_pending: false,
            downloaded: 0,
            uploaded: 0,
            hash_failures: 0,
            upload_tokens: 0,
            last_refill: now,
            down_rate: Default::default(),
            up_rate: Default::default(),
            last_sample: now,
            last_rechoke: now,
            last_optimistic: now,
            optimistic: None,
            rng: crate::rng::SplitMix64(seed),
            scratch: Vec::new(),
        };
        for addr in p.peers {
            t.add_candidate(addr, now);
        }
        if !p.recheck {
            t.check_next = t.layout.num_pieces();
            t.state = t.active_state();
        }
        t
    }

    fn random(&mut self) -> u64 {
        self.rng.next_u64()
    }

    fn active_state(&self) -> TorrentState {
        if self.picker.pieces_left() == 0 {
            TorrentState::Seeding
        } else {
            TorrentState::Downloading
        }
    }

    /// The torrent's info-hash.
    pub fn info_hash(&self) -> &[u8; 20] {
        &self.info_hash
    }

    /// Its state.
    pub fn state(&self) -> &TorrentState {
        &self.state
    }

    /// Whether it takes peers (not paused, failed or checking).
    pub fn accepts_peers(&self) -> bool {
        matches!(
            self.state,
            TorrentState::Downloading | TorrentState::Seeding
        )
    }

    /// Whether `addr` is banned for sending bad data: that address, or (off loopback, where
    /// every test peer shares one IP) any port of its IP.
    pub fn is_banned(&self, addr: &SocketAddr) -> bool {
        self.banned.contains(addr)
            || (!addr.ip().is_loopback() && self.banned.iter().any(|b| b.ip() == addr.ip()))
    }

    /// Whether a peer with this id was banned.
    pub fn is_banned_id(&self, id: &[u8; 20]) -> bool {
        self.banned_ids.contains(id)
    }

    /// Whether a peer with this id is already connected.
    pub fn has_peer_id(&self, id: &[u8; 20]) -> bool {
        self.peer_ids.contains_key(id)
    }

    /// Bytes in this torrent's piece buffers, counted against the session's budget while it
    /// downloads (a paused torrent's partial pieces wait outside it, so they never block others).
    pub(crate) fn budgeted_buffer_bytes(&self) -> usize {
        if self.state == TorrentState::Downloading {
            self.buffered_bytes
        } else {
            0
        }
    }

    /// Verified pieces.
    pub fn have(&self) -> &Bitfield {
        self.picker.have()
    }

    /// A snapshot of its numbers.
    pub fn stats(&self) -> TorrentStats {
        let have = self.picker.have();
        let bytes_done = have
            .iter_ones()
            .map(|p| u64::from(self.layout.piece_len(p)))
            .sum();
        TorrentStats {
            state: self.state.clone(),
            pieces_done: have.count(),
            pieces_total: self.layout.num_pieces(),
            bytes_done,
            bytes_total: self.layout.total_length(),
            downloaded: self.downloaded,
            uploaded: self.uploaded,
            down_rate: self.down_rate.per_second(),
            up_rate: self.up_rate.per_second(),
            peers: self.peers.len(),
            seeds: self.peers.values().filter(|p| p.is_seed()).count(),
            hash_failures: self.hash_failures,
            banned: self.banned.len(),
        }
    }

    /// Remembers a peer address to dial (from a tracker or the user).
    pub fn add_candidate(&mut self, addr: SocketAddr, now: Instant) {
        if addr.port() == 0 || self.is_banned(&addr) {
            return;
        }
        self.dialable.entry(addr).or_insert(Dialable {
            not_before: now,
            failures: 0,
        });
    }

    /// Addresses to dial now, at most `room`; each is marked as connecting.
    pub fn take_dial_targets(&mut self, room: usize, now: Instant) -> Vec<SocketAddr> {
        if !self.accepts_peers() || room == 0 {
            return Vec::new();
        }
        let connected: BTreeSet<SocketAddr> = self.peers.values().map(|p| p.addr).collect();
        let out: Vec<SocketAddr> = self
            .dialable
            .iter()
            .filter(|(a, d)| {
                d.not_before <= now && !connected.contains(a) && !self.connecting.contains(a)
            })
            .map(|(a, _)| *a)
            .take(room)
            .collect();
        for a in &out {
            self.connecting.insert(*a);
        }
        out
    }

    /// A dial to `addr` failed or the peer went away: try again later, backing off.
    pub fn dial_failed(&mut self, addr: SocketAddr, now: Instant, give_up: bool) {
        self.connecting.remove(&addr);
        if give_up {
            self.dialable.remove(&addr);
            return;
        }
        if let Some(d) = self.dialable.get_mut(&addr) {
            d.failures += 1;
            let secs = 5u64 << d.failures.min(6);
            d.not_before = now + Duration::from_secs(secs);
        }
    }

    /// A handshake completed: the peer joins. Sends our bitfield.
    pub fn add_peer(
        &mut self,
        conn: ConnId,
        addr: SocketAddr,
        outgoing: bool,
        id: [u8; 20],
        now: Instant,
        out: &mut Outputs,
    ) {
        let n = self.layout.num_pieces();
        let mut peer = Peer::new(addr, outgoing, id, n, now);
        if outgoing {
            self.connecting.remove(&addr);
            if let Some(d) = self.dialable.get_mut(&addr) {
                d.failures = 0;
            }
        }
        if self.picker.have().count() > 0 {
            peer.send(&Message::Bitfield(self.picker.have().as_bytes()), now);
        }
        // The bitfield covers every piece verified so far, logged or not.
        peer.haves_sent = self.haves.end();
        *self.peer_ids.entry(id).or_default() += 1;
        self.peers.insert(conn, peer);
        out.dirty.push(conn);
    }

    /// Removes a peer whose connection closed; its requests go back to the picker.
    pub fn remove_peer(&mut self, conn: ConnId, now: Instant, reason: &PeerError) {
        let Some(peer) = self.peers.remove(&conn) else {
            return;
        };
        self.removed.push(conn);
        self.interesting.remove(&conn);
        if let Some(n) = self.peer_ids.get_mut(&peer.peer_id) {
            *n -= 1;
            if *n == 0 {
                self.peer_ids.remove(&peer.peer_id);
            }
        }
        for (b, _) in &peer.in_flight {
            self.picker.on_request_dropped(*b);
        }
        self.picker.remove_peer_bitfield(&peer.has);
        self.release_solo(conn);
        if self.optimistic == Some(conn) {
            self.optimistic = None;
        }
        let give_up = matches!(
            reason,
            PeerError::Banned | PeerError::SelfConnection | PeerError::WrongInfoHash
        );
        if peer.outgoing {
            self.dial_failed(peer.addr, now, give_up);
        }
    }

    /// Drops a peer for `err`: forgets it and asks the shell to close the socket.
    pub fn drop_peer(&mut self, conn: ConnId, err: PeerError, now: Instant, out: &mut Outputs) {
        if !self.peers.contains_key(&conn) {
            return;
        }
        log::debug!("torrent {}: dropping peer {conn}: {err}", self.id);
        if let Some(p) = self.peers.get(&conn) {
            out.actions.push_back(Action::Event(Event::PeerDropped {
                torrent: Some(self.id),
                addr: p.addr,
                reason: err.clone(),
            }));
        }
        self.remove_peer(conn, now, &err);
        out.actions.push_back(Action::Close { conn, reason: err });
    }
}

/// A torrent core for unit tests: id `id` (and an info-hash of that byte), nothing connected, no
/// recheck, and either no pieces or all of them.
#[cfg(test)]
fn test_core(
    id: TorrentId,
    layout: Layout,
    have_all: bool,
    cfg: &EngineConfig,
    now: Instant,
) -> TorrentCore {
    let mut have = Bitfield::new(layout.num_pieces());
    if have_all {
        for p in 0..layout.num_pieces() {
            have.set(p);
        }
    }
    let params = TorrentParams {
        info_hash: [id as u8; 20],
        layout,
        trackers: vec![],
        peers: vec![],
        have,
        recheck: false,
    };
    TorrentCore::new(id, params, cfg, now)
}
