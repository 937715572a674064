//! One torrent's protocol core: its peers' messages, the picker, piece buffers, the choker, the
//! tracker schedule and the peer candidates.
//!
//! Sans-IO, owned by the [`super::Engine`] on the reactor thread. Inputs are method calls with `now`;
//! outputs are [`Action`]s pushed onto the engine's queue and bytes in each peer's `out` buffer.
//! Nothing here blocks, reads the clock, or touches sockets and files. Disk work (hash, write,
//! read) goes out as [`DiskRequest`]s and comes back through [`TorrentCore::handle_disk`].
//!
//! Sub-machines with private fields own one concern each and never call back into the core:
//! [`phase`] (what the torrent is doing, with the data of that phase), [`dialer`] (candidates,
//! backoff, bans), [`announcer`] (tiers and the announce in flight). The core's own files split
//! its inputs: `messages` (the wire), `requests` (the pipeline and disk answers), `timers` (what
//! a deadline runs), `blame` (hash-failure attribution), `have_log` (which `have`s each peer
//! heard), `limits` (rate limits, sequential mode and streaming windows).
//!
//! [`DiskRequest`]: crate::engine::DiskRequest

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Instant;

use super::io::{
    Action, ConnId, EngineConfig, Event, TorrentId, TorrentParams, TorrentState, TorrentStats,
};
use super::peer::{Peer, PeerError};
use super::timer::{Deadlines, TimerTable};
use super::Outputs;
use super::TokenBucket;

mod announcer;
mod blame;
#[cfg(test)]
mod budget_tests;
mod checkpoint;
#[cfg(test)]
mod checkpoint_tests;
mod dialer;
mod extensions;
mod fast;
mod have_log;
#[cfg(test)]
mod haves_tests;
mod limits;
#[cfg(test)]
mod limits_tests;
mod magnet;
#[cfg(test)]
mod magnet_tests;
mod messages;
mod phase;
mod requests;
mod timers;
#[cfg(test)]
mod timers_tests;
#[cfg(test)]
mod upload_tests;
mod wants;
#[cfg(test)]
mod wants_tests;
mod web;
#[cfg(feature = "webseed")]
mod web_requests;
#[cfg(all(test, feature = "webseed"))]
mod web_tests;
use crate::bitfield::Bitfield;
use crate::layout::{BlockRef, Layout};
use crate::picker::Picker;
use crate::wire::Message;
use dialer::{DialEnd, Dialer};
pub use phase::TorrentError;
use phase::{Phase, Recheck};
use timers::Timer;

/// Disk checks in flight during a recheck (enough to keep every pool worker busy).
const CHECKS_IN_FLIGHT: usize = 8;
/// Disk reads in flight per uploading peer.
const READS_PER_PEER: usize = 4;
/// Keep-alives in a row after which a peer is treated as a flood.
const MAX_KEEPALIVES: u32 = 1000;

/// The frame payload limit for a torrent: a bitfield (1 id byte + the bits), or a piece message
/// carrying one 16 KiB block (1 id byte + 8 header bytes) or a `ut_metadata` data message
/// carrying a 16 KiB piece (2 id bytes + a dictionary of about 50), whichever is larger.
fn max_frame(layout: &Layout) -> u32 {
    let bitfield = 1 + layout.num_pieces().div_ceil(8);
    bitfield.max(1 + 8 + crate::layout::BLOCK_SIZE + 256)
}

/// Each torrent's own random stream, from the session's seed and its id.
fn torrent_seed(cfg: &EngineConfig, id: TorrentId) -> u64 {
    cfg.seed ^ (id as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// Who sent a block: a peer (by address, which a ban names) or a web seed (by its index in
/// the torrent's `url-list`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Source {
    Peer(SocketAddr),
    // Made only by the fetching side, which the `webseed` feature builds.
    #[cfg_attr(not(feature = "webseed"), allow(dead_code))]
    Web(usize),
}

/// Who a piece refetched after a hash failure is assigned to (see `blame`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Taker {
    Peer(ConnId),
    #[cfg_attr(not(feature = "webseed"), allow(dead_code))]
    Web(usize),
}

/// A piece being downloaded: its buffer and who sent each block.
#[derive(Debug)]
struct PartialPiece {
    data: Vec<u8>,
    senders: Vec<Option<Source>>,
}

/// Byte counts and rates of one torrent, for stats and the choker.
#[derive(Debug, Default)]
struct Totals {
    downloaded: u64,
    /// The part of `downloaded` from web seeds.
    web_downloaded: u64,
    uploaded: u64,
    hash_failures: u32,
    /// Pieces hashed from data on disk.
    checked: u32,
    down_rate: super::peer::Rate,
    up_rate: super::peer::Rate,
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
    phase: Phase,
    picker: Picker,
    pub(super) peers: BTreeMap<ConnId, Peer>,
    partial: BTreeMap<u32, PartialPiece>,
    /// Pieces verified, for the `have`s each peer has yet to hear (see `flush_haves`).
    haves: have_log::HaveLog,
    /// When `have`s last went out, and when peers not interested in us last heard theirs.
    last_haves: Instant,
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
    dialer: Dialer,
    /// Evidence from pieces that failed with several senders (see `blame`).
    suspects: BTreeMap<u32, Vec<blame::Record>>,
    /// Pieces that failed with several senders, each refetched from one peer only (its owner,
    /// once assigned) so the next verdict names the culprit.
    solo: BTreeMap<u32, Option<Taker>>,
    /// Web seeds (BEP 19) and their requests in flight (see `web`).
    web: crate::webseed::WebSeeds,
    announcer: announcer::Announcer,
    /// Serves the info dictionary to peers that ask (BEP 9), once we have it.
    metadata: crate::ext::MetadataServe,
    /// Filters the peers others tell us about (BEP 11); `None` when PEX is off or private.
    pex: Option<crate::ext::PexFilter>,
    /// BEP 27: no PEX, LSD or DHT.
    private: bool,
    totals: Totals,
    /// This torrent's own limits (the session's are in `Outputs`; see `limits`).
    down_limit: TokenBucket,
    up_limit: TokenBucket,
    last_sample: Instant,
    last_optimistic: Instant,
    optimistic: Option<ConnId>,
    /// The torrent's own deadlines (see `timers`).
    timers: TimerTable<{ Timer::COUNT }>,
    /// Checkpoints of the resume state (see `checkpoint`).
    checkpoint: checkpoint::Checkpoints,
    /// Each peer's next keep-alive, inactivity or request-timeout check.
    peer_checks: Deadlines<ConnId>,
    rng: crate::rng::SplitMix64,
    scratch: Vec<BlockRef>,
    /// The user's file choices (see `wants`); `None`: every piece, no per-file stats.
    wants: Option<crate::selection::PieceWants>,
}

impl TorrentCore {
    /// A torrent that starts checking (if asked) and then downloads or seeds.
    pub fn new(id: TorrentId, p: TorrentParams, cfg: &EngineConfig, now: Instant) -> TorrentCore {
        let seed = torrent_seed(cfg, id);
        let n = p.layout.num_pieces();
        let mut have = p.have;
        // Pieces about to be checked count only once their check says so.
        let check = p.check.filter(|c| p.recheck && c.len() == n);
        if let Some(c) = &check {
            for piece in c.iter_ones() {
                have.clear(piece);
            }
        }
        let picker = Picker::new(p.layout, &have, seed);
        let mut t = TorrentCore {
            id,
            cfg: cfg.clone(),
            info_hash: p.info_hash,
            layout: p.layout,
            max_frame: max_frame(&p.layout),
            phase: Phase::Checking(Recheck::new(n, check)),
            picker,
            peers: BTreeMap::new(),
            partial: BTreeMap::new(),
            haves: have_log::HaveLog::default(),
            last_haves: now,
            last_idle_haves: now,
            interesting: BTreeSet::new(),
            peer_ids: BTreeMap::new(),
            removed: Vec::new(),
            buffered_bytes: 0,
            dialer: Dialer::default(),
            suspects: BTreeMap::new(),
            solo: BTreeMap::new(),
            web: crate::webseed::WebSeeds::default(),
            announcer: announcer::Announcer::new(p.trackers, seed ^ 0x7ac),
            metadata: crate::ext::MetadataServe::new(),
            pex: (cfg.pex && !p.private).then(|| crate::ext::PexFilter::new(Vec::new())),
            private: p.private,
            totals: Totals::default(),
            down_limit: TokenBucket::default(),
            up_limit: TokenBucket::default(),
            last_sample: now,
            last_optimistic: now,
            optimistic: None,
            timers: TimerTable::default(),
            checkpoint: checkpoint::Checkpoints::new(cfg.checkpoint_interval),
            peer_checks: Deadlines::default(),
            rng: crate::rng::SplitMix64(seed),
            scratch: Vec::new(),
            wants: None,
        };
        for addr in p.peers {
            t.dialer.add(addr, now);
        }
        if let Some(info) = p.info {
            t.metadata.set_metadata(info);
        }
        if !p.recheck {
            t.phase = t.active_phase();
            // Record the files as they are now (opening them may have touched their stamps).
            t.checkpoint.mark_dirty();
            t.arm_first_checkpoint(now);
        }
        t.timers
            .arm(Timer::Sample as usize, now + timers::SAMPLE_EVERY);
        t
    }

    fn random(&mut self) -> u64 {
        self.rng.next_u64()
    }

    /// Downloading or seeding, whichever the pieces say.
    fn active_phase(&self) -> Phase {
        if self.picker.pieces_left() == 0 {
            Phase::Seeding
        } else {
            Phase::Downloading
        }
    }

    /// The torrent's info-hash.
    pub fn info_hash(&self) -> &[u8; 20] {
        &self.info_hash
    }

    /// How log lines name it: the info-hash's first 8 hex digits (the id is the session's).
    pub(crate) fn log_name(&self) -> String {
        crate::metainfo::InfoHash(self.info_hash).short_hex()
    }

    /// Its state.
    pub fn state(&self) -> TorrentState {
        self.phase.state()
    }

    /// Whether it is downloading (the only phase that uses piece buffers and spares).
    pub fn is_downloading(&self) -> bool {
        matches!(self.phase, Phase::Downloading)
    }

    /// Whether it takes peers (not paused, failed or checking).
    pub fn accepts_peers(&self) -> bool {
        self.phase.is_active()
    }

    /// Whether `addr` is banned for sending bad data: that address, or (off loopback, where
    /// every test peer shares one IP) any port of its IP.
    pub fn is_banned(&self, addr: &SocketAddr) -> bool {
        self.dialer.is_banned(addr)
    }

    /// Whether a peer with this id was banned.
    pub fn is_banned_id(&self, id: &[u8; 20]) -> bool {
        self.dialer.is_banned_id(id)
    }

    /// Whether a peer with this id is already connected.
    pub fn has_peer_id(&self, id: &[u8; 20]) -> bool {
        self.peer_ids.contains_key(id)
    }

    /// Connected peers plus dials in progress: what counts against the per-torrent peer limit.
    pub(crate) fn peer_slots_used(&self) -> usize {
        self.peers.len() + self.dialer.connecting()
    }

    /// Bytes in this torrent's piece buffers, counted against the session's budget while it
    /// downloads (a paused torrent's partial pieces wait outside it, so they never block others).
    pub(crate) fn budgeted_buffer_bytes(&self) -> usize {
        if matches!(self.phase, Phase::Downloading) {
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
        let mut stats = TorrentStats {
            state: self.phase.state(),
            pieces_done: have.count(),
            pieces_total: self.layout.num_pieces(),
            bytes_done,
            bytes_total: self.layout.total_length(),
            downloaded: self.totals.downloaded,
            web_downloaded: self.totals.web_downloaded,
            uploaded: self.totals.uploaded,
            down_rate: self.totals.down_rate.per_second(),
            up_rate: self.totals.up_rate.per_second(),
            peers: self.peers.len(),
            peers_connecting: self.dialer.connecting(),
            peers_known: self.dialer.known(),
            seeds: self.peers.values().filter(|p| p.is_seed()).count(),
            hash_failures: self.totals.hash_failures,
            banned: self.dialer.banned_count(),
            web_seeds: self.web.seeds.iter().filter(|s| !s.is_banned()).count(),
            web_seeds_banned: self.web.seeds.iter().filter(|s| s.is_banned()).count(),
            pieces_checked: self.totals.checked,
            info_hash: self.info_hash,
            name: String::new(),
            eta: eta(
                self.layout.total_length() - bytes_done,
                self.totals.down_rate.per_second(),
            ),
            ..TorrentStats::default()
        };
        self.add_file_stats(&mut stats);
        stats
    }

    /// The user's file choices, if any were given.
    pub fn wants(&self) -> Option<&crate::selection::PieceWants> {
        self.wants.as_ref()
    }

    /// Its trackers, tier by tier.
    pub fn tracker_tiers(&self) -> &[Vec<String>] {
        self.announcer.tiers()
    }

    /// Its connected peers, in connection order.
    pub fn peer_infos(&self) -> Vec<super::io::PeerInfo> {
        (self.peers.values())
            .map(|p| super::io::PeerInfo {
                addr: p.addr,
                peer_id: p.peer_id,
                outgoing: p.outgoing,
                seed: p.is_seed(),
                pieces: p.has.count(),
                down_rate: p.down.per_second(),
                up_rate: p.up.per_second(),
                am_choking: p.am_choking,
                am_interested: p.am_interested,
                peer_choking: p.peer_choking,
                peer_interested: p.peer_interested,
                snubbed: p.snubbed,
            })
            .collect()
    }

    /// The address of the connected peer `conn`.
    pub fn peer_addr(&self, conn: ConnId) -> Option<SocketAddr> {
        self.peers.get(&conn).map(|p| p.addr)
    }

    /// Remembers a peer address to dial (from a tracker or the user).
    pub fn add_candidate(&mut self, addr: SocketAddr, now: Instant) {
        self.dialer.add(addr, now);
    }

    /// Whether an input since the last dial may have made a new dial possible.
    pub(crate) fn wants_dial(&self) -> bool {
        self.dialer.wants_dial()
    }

    /// Addresses to dial now, at most `room`; each is marked as connecting. When candidates
    /// wait for a backoff (or for room), the dial timer is armed for them.
    pub fn take_dial_targets(&mut self, room: usize, now: Instant) -> Vec<SocketAddr> {
        if !self.accepts_peers() {
            self.timers.set(Timer::Dial as usize, None);
            return Vec::new();
        }
        let connected: BTreeSet<SocketAddr> = self.peers.values().map(|p| p.addr).collect();
        let out = self.dialer.take_targets(room, &connected, now);
        let next = if self.dialer.has_ready(&connected, now) {
            // Ready but no room: try again soon rather than on every input.
            Some(now + timers::DIAL_RETRY)
        } else {
            self.dialer.next_retry(&connected, now)
        };
        self.timers.set(Timer::Dial as usize, next);
        out
    }

    /// A dial to `addr` (or the connection it made) ended for `reason`: a failure backs off,
    /// our own close (pause, removal) does not, and some reasons end that address for good.
    pub fn dial_ended(&mut self, addr: SocketAddr, reason: &PeerError, now: Instant) {
        let how = match reason {
            PeerError::Banned | PeerError::SelfConnection | PeerError::WrongInfoHash => {
                DialEnd::GiveUp
            }
            PeerError::Shutdown => DialEnd::Ours,
            _ => DialEnd::Failed,
        };
        self.dialer.ended(addr, how, now);
    }

    /// A handshake completed: the peer joins. Sends our bitfield.
    #[cfg(test)]
    pub fn add_peer(
        &mut self,
        conn: ConnId,
        addr: SocketAddr,
        outgoing: bool,
        id: [u8; 20],
        now: Instant,
        out: &mut Outputs,
    ) {
        let none = crate::wire::Extensions::default();
        self.add_peer_with(conn, (addr, outgoing, id), none, now, out);
    }

    /// A handshake completed with a peer that speaks `ext` as we do: the peer joins. Sends our
    /// bitfield, or with the Fast extension `have all` / `have none` when they say it shorter.
    pub fn add_peer_with(
        &mut self,
        conn: ConnId,
        (addr, outgoing, id): (SocketAddr, bool, [u8; 20]),
        ext: crate::wire::Extensions,
        now: Instant,
        out: &mut Outputs,
    ) {
        let n = self.layout.num_pieces();
        let mut peer = Peer::new(addr, outgoing, id, n, now);
        peer.ext.fast = ext.fast;
        peer.ext.extended = ext.extension_protocol;
        if outgoing {
            self.dialer.connected(addr);
        }
        let have = self.picker.have();
        match (ext.fast, have.count()) {
            (true, 0) => peer.send(&Message::HaveNone, now),
            (true, c) if c == n => peer.send(&Message::HaveAll, now),
            (_, 0) => {}
            _ => peer.send(&Message::Bitfield(have.as_bytes()), now),
        }
        if ext.fast && self.phase.has_metadata() {
            self.grant_allowed_fast(&mut peer, now);
        }
        // The bitfield covers every piece verified so far, logged or not.
        peer.haves_sent = self.haves.end();
        *self.peer_ids.entry(id).or_default() += 1;
        self.peers.insert(conn, peer);
        self.schedule_peer_check(conn);
        out.dirty.push(conn);
    }

    /// Removes a peer whose connection closed; its requests go back to the picker.
    pub fn remove_peer(&mut self, conn: ConnId, now: Instant, reason: &PeerError) {
        let Some(peer) = self.peers.remove(&conn) else {
            return;
        };
        self.removed.push(conn);
        self.interesting.remove(&conn);
        self.peer_checks.set(conn, None);
        self.metadata.remove_peer(conn);
        if let Some(fetch) = self.phase.fetch_mut() {
            fetch.remove_peer(conn);
        }
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
        if peer.outgoing {
            self.dial_ended(peer.addr, reason, now);
        }
    }

    /// Drops a peer for `err`: forgets it and asks the shell to close the socket.
    pub fn drop_peer(&mut self, conn: ConnId, err: PeerError, now: Instant, out: &mut Outputs) {
        if !self.peers.contains_key(&conn) {
            return;
        }
        if let Some(p) = self.peers.get(&conn) {
            log::info!("peer {}: dropped: {err}", p.addr);
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
        info: None,
        private: false,
        check: None,
    };
    TorrentCore::new(id, params, cfg, now)
}

/// Time to fetch `left` bytes at `rate` bytes a second; `None` when done or not moving.
fn eta(left: u64, rate: f64) -> Option<std::time::Duration> {
    (left > 0 && rate >= 1.0).then(|| std::time::Duration::from_secs_f64(left as f64 / rate))
}
