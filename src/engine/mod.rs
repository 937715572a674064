//! The protocol engine: every torrent and every connection of a session, as one sans-IO state
//! machine.
//!
//! Inputs are `handle_*` calls carrying bytes, disk and tracker results, and `now`; outputs are
//! [`Action`]s drained with [`Engine::poll_action`] and bytes in per-connection outboxes
//! ([`Engine::outbox`], with [`Engine::take_dirty`] naming the ones that grew). It owns no socket,
//! file, thread or clock, so the same code runs under the mio reactor (on the reactor thread, one
//! engine per session) and in the deterministic swarm simulation. Drain order for a shell: feed
//! inputs, then drain actions, then write dirty outboxes, then sleep until [`Engine::poll_timeout`]
//! and call [`Engine::handle_timeout`].
//!
//! Timers are data: each torrent keeps a table of deadlines and a deadline per peer, the engine
//! an ordered set of each torrent's earliest deadline and of each handshake's. The next wake-up
//! is the earliest real deadline (none at all for an idle session), and a wake-up visits only
//! the torrents and connections that are due.
//!
//! Connections start in a handshake stage held here (an incoming one does not yet know its
//! torrent); once the handshake checks out they move into their torrent's core.

mod bucket;
mod buffers;
mod choker;
mod controls;
mod discovery;
mod io;
mod outbox;
mod peer;
mod pipeline;
mod timer;
mod torrent;
#[cfg(feature = "webseed")]
mod web;

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::time::Instant;

pub use bucket::{RateLimits, TokenBucket};
pub use discovery::{Datagram, DhtSetup, DiscoveryStats, UdpKind};
pub use io::*;
pub use outbox::Outbox;
pub use peer::PeerError;
pub use torrent::{TorrentCore, TorrentError};

use crate::wire::{self, Extensions, Handshake};

use timer::Deadlines;

/// What handlers produce (actions for the shell, connections whose outbox grew) and the one
/// resource every torrent's handlers share (spare piece buffers).
#[derive(Debug, Default)]
pub struct Outputs {
    /// Actions in the order they arose.
    pub actions: VecDeque<Action>,
    /// Connections with new bytes to send (may repeat).
    pub dirty: Vec<ConnId>,
    /// Piece bytes held by all torrents, and spare buffers for the next piece of any torrent.
    pub buffers: buffers::PieceBuffers,
    /// DHT nodes from peers' `port` messages, with the torrent each came on (see `discovery`).
    pub(crate) dht_nodes: Vec<(TorrentId, SocketAddr)>,
    /// The session's rate limits, which every torrent's traffic draws from (besides its own).
    pub(crate) rates: SessionRates,
}

/// The session-wide token buckets (see `bucket`).
#[derive(Debug, Default)]
pub(crate) struct SessionRates {
    /// Requests for payload.
    pub down: TokenBucket,
    /// Disk reads of payload to send.
    pub up: TokenBucket,
}

/// Where a connection stands before its handshake completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Our TCP connect is in progress.
    Dialing(TorrentId),
    /// We dialled, connected and sent our handshake; theirs is awaited.
    Sent(TorrentId),
    /// They dialled us; their handshake will name the torrent.
    Incoming,
}

/// A connection before its handshake completed. Once it does, the connection moves into its
/// torrent as a `Peer` (awaiting its bitfield, then active).
#[derive(Debug)]
struct Handshaking {
    addr: SocketAddr,
    stage: Stage,
    /// When the current stage began (its timeout counts from here).
    since: Instant,
    inbuf: Vec<u8>,
    out: Outbox,
}

impl Handshaking {
    fn torrent(&self) -> Option<TorrentId> {
        match self.stage {
            Stage::Dialing(t) | Stage::Sent(t) => Some(t),
            Stage::Incoming => None,
        }
    }

    fn outgoing(&self) -> bool {
        self.stage != Stage::Incoming
    }

    fn deadline(&self, cfg: &EngineConfig) -> Instant {
        match self.stage {
            Stage::Dialing(_) => self.since + cfg.connect_timeout,
            Stage::Sent(_) | Stage::Incoming => self.since + cfg.handshake_timeout,
        }
    }
}

/// Every torrent and connection of a session. See the module documentation.
#[derive(Debug)]
pub struct Engine {
    cfg: EngineConfig,
    torrents: BTreeMap<TorrentId, TorrentCore>,
    handshaking: BTreeMap<ConnId, Handshaking>,
    attached: BTreeMap<ConnId, TorrentId>,
    next_conn: ConnId,
    next_torrent: TorrentId,
    out: Outputs,
    /// Each torrent's earliest deadline.
    deadlines: Deadlines<TorrentId>,
    /// Each handshake's connect or handshake timeout.
    handshake_deadlines: Deadlines<ConnId>,
    /// The DHT node and LSD, when the shell enabled them.
    discovery: discovery::Discovery,
}

impl Engine {
    /// An engine with no torrents.
    pub fn new(cfg: EngineConfig) -> Engine {
        let mut out = Outputs::default();
        out.rates.down = TokenBucket::new(cfg.download_rate_limit);
        out.rates.up = TokenBucket::new(cfg.upload_rate_limit);
        Engine {
            cfg,
            torrents: BTreeMap::new(),
            handshaking: BTreeMap::new(),
            attached: BTreeMap::new(),
            next_conn: 1,
            next_torrent: 1,
            out,
            deadlines: Deadlines::default(),
            handshake_deadlines: Deadlines::default(),
            discovery: discovery::Discovery::default(),
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &EngineConfig {
        &self.cfg
    }

    /// Adds a torrent; it checks existing data first if asked, then downloads or seeds.
    pub fn add_torrent(&mut self, params: TorrentParams, now: Instant) -> TorrentId {
        let id = self.next_torrent;
        self.insert_torrent(id, params, now);
        id
    }

    /// Adds a torrent under an id the caller chose (a session numbers torrents itself, so that
    /// adding one needs no answer from the reactor). An existing torrent with that id is
    /// replaced; ids from [`Engine::add_torrent`] always come after every id seen here.
    pub fn insert_torrent(&mut self, id: TorrentId, params: TorrentParams, now: Instant) {
        self.next_torrent = self.next_torrent.max(id + 1);
        if self.torrents.contains_key(&id) {
            self.remove_torrent(id, now);
        }
        let (hash, private) = (params.info_hash, params.private);
        let mut core = TorrentCore::new(id, params, &self.cfg, now);
        core.start_checks(now, &mut self.out);
        core.report_start(&mut self.out);
        // Announce and dial the peers we were given now rather than on a timer.
        core.maybe_announce(now, &mut self.out);
        self.torrents.insert(id, core);
        self.discovery_added(id, hash, private, now);
        self.dial(id, now);
        self.settle(id, now);
    }

    /// Adds a torrent from a magnet link under the caller's id: it fetches its metadata from
    /// peers, then asks the shell for storage ([`Action::MetadataReceived`]).
    pub fn insert_magnet(&mut self, id: TorrentId, params: MagnetParams, now: Instant) {
        self.next_torrent = self.next_torrent.max(id + 1);
        if self.torrents.contains_key(&id) {
            self.remove_torrent(id, now);
        }
        let hash = params.info_hash;
        let mut core = TorrentCore::new_magnet(id, params, &self.cfg, now);
        core.maybe_announce(now, &mut self.out);
        self.torrents.insert(id, core);
        // A magnet cannot say whether it is private; the DHT finds its peers until the
        // metadata says (see `attach_metadata`).
        self.discovery_added(id, hash, false, now);
        self.dial(id, now);
        self.settle(id, now);
    }

    /// The shell built the storage for a magnet's metadata (see [`Action::MetadataReceived`]):
    /// the torrent checks (when `recheck`), then downloads with the peers it already has.
    pub fn attach_metadata(
        &mut self,
        id: TorrentId,
        layout: crate::layout::Layout,
        private: bool,
        recheck: bool,
        wants: Option<crate::selection::PieceWants>,
        now: Instant,
    ) {
        self.count_buffers();
        if let Some(t) = self.torrents.get_mut(&id) {
            t.attach_metadata(layout, private, recheck, wants, now, &mut self.out);
        }
        if private {
            // BEP 27: from now on trackers only.
            self.discovery_removed(id, now);
        }
        self.settle(id, now);
    }

    /// Sets which pieces torrent `id` fetches, from its files' priorities (skipped files'
    /// pieces are not fetched, high ones first); call it right after adding to start with a
    /// choice.
    pub fn set_wants(&mut self, id: TorrentId, wants: crate::selection::PieceWants, now: Instant) {
        self.count_buffers();
        if let Some(t) = self.torrents.get_mut(&id) {
            t.set_wants(wants, now, &mut self.out);
        }
        self.settle(id, now);
    }

    /// Removes a torrent and drops its connections; false if there was no such torrent.
    pub fn remove_torrent(&mut self, id: TorrentId, now: Instant) -> bool {
        let Some(mut core) = self.torrents.remove(&id) else {
            return false;
        };
        self.discovery_removed(id, now);
        core.close_all(PeerError::Shutdown, now, &mut self.out);
        self.attached.retain(|_, t| *t != id);
        self.deadlines.set(id, None);
        self.close_stale_handshakes(id, now);
        self.release_idle_spares();
        true
    }

    /// Closes the handshakes that named torrent `id` (paused or removed).
    fn close_stale_handshakes(&mut self, id: TorrentId, now: Instant) {
        let stale: Vec<ConnId> = self
            .handshaking
            .iter()
            .filter(|(_, h)| h.torrent() == Some(id))
            .map(|(c, _)| *c)
            .collect();
        for conn in stale {
            self.close_handshaking(conn, PeerError::Shutdown, now);
        }
    }

    /// Pauses a torrent in any phase but failed: drops its peers and dials, stops dialling,
    /// announcing and (while checking) starting new checks.
    pub fn pause(&mut self, id: TorrentId, now: Instant) {
        if let Some(t) = self.torrents.get_mut(&id) {
            t.pause(now, &mut self.out);
        }
        self.attached.retain(|_, t| *t != id);
        self.close_stale_handshakes(id, now);
        self.release_idle_spares();
        self.discovery_paused(id, true, now);
        self.settle(id, now);
    }

    /// Resumes a paused torrent where it stopped and dials its known peers at once.
    pub fn resume(&mut self, id: TorrentId, now: Instant) {
        self.count_buffers();
        if let Some(t) = self.torrents.get_mut(&id) {
            t.resume(now, &mut self.out);
        }
        self.discovery_paused(id, false, now);
        self.settle(id, now);
    }

    /// Asks torrent `id` for a checkpoint of its resume state now (a
    /// [`DiskRequest::Checkpoint`] comes out of [`Engine::poll_action`], at once or after the
    /// one in flight). Returns the serial whose [`DiskDone::Checkpointed`] records the pieces
    /// verified now; `None` for an unknown torrent.
    pub fn checkpoint(&mut self, id: TorrentId, now: Instant) -> Option<u64> {
        let serial = self
            .torrents
            .get_mut(&id)
            .map(|t| t.request_checkpoint(&mut self.out));
        self.settle(id, now);
        serial
    }

    /// The checkpoint torrent `id` still needs before the session ends, for the shell to carry
    /// out itself after its disk pool stopped, marked `closing`. `None` when automatic checkpoints
    /// are off, or for a complete torrent whose state is current.
    pub fn final_checkpoint(&mut self, id: TorrentId) -> Option<DiskRequest> {
        self.torrents.get_mut(&id)?.final_checkpoint()
    }

    /// A torrent's core, for the shells of this crate (not part of the engine's contract).
    pub(crate) fn torrent(&self, id: TorrentId) -> Option<&TorrentCore> {
        self.torrents.get(&id)
    }

    /// Whether torrent `id` has banned peers at `addr` (for sending it bad data).
    pub fn is_banned(&self, id: TorrentId, addr: &SocketAddr) -> bool {
        self.torrents.get(&id).is_some_and(|t| t.is_banned(addr))
    }

    /// Ids of every torrent.
    pub fn torrent_ids(&self) -> Vec<TorrentId> {
        self.torrents.keys().copied().collect()
    }

    /// A torrent's numbers.
    pub fn stats(&self, id: TorrentId) -> Option<TorrentStats> {
        self.torrents.get(&id).map(TorrentCore::stats)
    }

    /// Connections in every stage.
    pub fn connection_count(&self) -> usize {
        self.handshaking.len() + self.attached.len()
    }

    fn new_conn_id(&mut self) -> ConnId {
        let id = self.next_conn;
        self.next_conn += 1;
        id
    }

    /// A peer connected to our listener. `None`: over the connection limit; close it.
    pub fn handle_incoming(&mut self, addr: SocketAddr, now: Instant) -> Option<ConnId> {
        if self.connection_count() >= self.cfg.max_connections {
            return None;
        }
        let conn = self.new_conn_id();
        self.insert_handshaking(conn, addr, Stage::Incoming, now);
        Some(conn)
    }

    fn insert_handshaking(&mut self, conn: ConnId, addr: SocketAddr, stage: Stage, now: Instant) {
        let h = Handshaking {
            addr,
            stage,
            since: now,
            inbuf: Vec::new(),
            out: Outbox::default(),
        };
        self.handshake_deadlines
            .set(conn, Some(h.deadline(&self.cfg)));
        self.handshaking.insert(conn, h);
    }

    /// An outgoing connect finished: our handshake goes out first.
    pub fn handle_connected(&mut self, conn: ConnId, now: Instant) {
        let Some(h) = self.handshaking.get_mut(&conn) else {
            return;
        };
        let Stage::Dialing(tid) = h.stage else {
            return;
        };
        let Some(t) = self.torrents.get(&tid) else {
            return;
        };
        h.stage = Stage::Sent(tid);
        h.since = now;
        let dht = self.discovery.dht_bit(tid);
        h.out
            .encode_with(|b| our_handshake(t.info_hash(), &self.cfg.peer_id, dht, b));
        self.handshake_deadlines
            .set(conn, Some(h.deadline(&self.cfg)));
        self.out.dirty.push(conn);
    }

    /// Bytes arrived on `conn`.
    pub fn handle_data(&mut self, conn: ConnId, data: &[u8], now: Instant) {
        self.count_buffers();
        if let Some(&tid) = self.attached.get(&conn) {
            if let Some(t) = self.torrents.get_mut(&tid) {
                t.handle_data(conn, data, now, &mut self.out);
                if !t.peers.contains_key(&conn) {
                    self.attached.remove(&conn);
                }
            }
            self.discovery_port_messages(now);
            self.settle(tid, now);
            return;
        }
        let Some(h) = self.handshaking.get_mut(&conn) else {
            return;
        };
        h.inbuf.extend_from_slice(data);
        match Handshake::decode(&h.inbuf) {
            Ok(None) => {}
            Ok(Some(hs)) => self.finish_handshake(conn, hs, now),
            Err(e) => self.close_handshaking(conn, PeerError::Wire(e), now),
        }
    }

    fn finish_handshake(&mut self, conn: ConnId, hs: Handshake, now: Instant) {
        let Some(h) = self.handshaking.get(&conn) else {
            return;
        };
        let tid = match h.torrent() {
            Some(t) => Some(t),
            None => self
                .torrents
                .iter()
                .find(|(_, t)| *t.info_hash() == hs.info_hash)
                .map(|(id, _)| *id),
        };
        let verdict = match tid.and_then(|id| self.torrents.get(&id)) {
            None => Err(PeerError::WrongInfoHash),
            Some(t) if *t.info_hash() != hs.info_hash => Err(PeerError::WrongInfoHash),
            Some(_) if hs.peer_id == self.cfg.peer_id => Err(PeerError::SelfConnection),
            Some(t) if !t.accepts_peers() => Err(PeerError::Shutdown),
            Some(t) if t.is_banned(&h.addr) || t.is_banned_id(&hs.peer_id) => {
                Err(PeerError::Banned)
            }
            Some(t) if t.has_peer_id(&hs.peer_id) => Err(PeerError::DuplicatePeer),
            Some(t) if t.peers.len() >= self.cfg.max_peers_per_torrent => {
                Err(PeerError::TooManyPeers)
            }
            Some(_) => Ok(()),
        };
        if let Err(e) = verdict {
            if e == PeerError::SelfConnection && !h.outgoing() {
                self.close_self_dials(now);
            }
            return self.close_handshaking(conn, e, now);
        }
        let (Some(mut h), Some(tid)) = (self.handshaking.remove(&conn), tid) else {
            return;
        };
        self.handshake_deadlines.set(conn, None);
        let dht = self.discovery.dht_bit(tid);
        let Some(t) = self.torrents.get_mut(&tid) else {
            return;
        };
        if !h.outgoing() {
            h.out
                .encode_with(|b| our_handshake(&hs.info_hash, &self.cfg.peer_id, dht, b));
        }
        let ext = Extensions::from_reserved(&hs.reserved).both(OURS);
        let who = (h.addr, h.outgoing(), hs.peer_id);
        t.add_peer_with(conn, who, ext, now, &mut self.out);
        if ext.extension_protocol {
            t.send_extension_handshake(conn, now, &mut self.out);
        }
        if let Some(peer) = t.peers.get_mut(&conn) {
            // Bytes not yet written (our handshake) go before what the torrent queued.
            h.out.append(&mut peer.out);
            peer.out = std::mem::take(&mut h.out);
        }
        self.attached.insert(conn, tid);
        self.send_dht_port(tid, conn, &hs.reserved, now);
        let rest = h.inbuf.get(wire::HANDSHAKE_LEN..).unwrap_or(&[]);
        if !rest.is_empty() {
            let rest = rest.to_vec();
            self.handle_data(conn, &rest, now);
        }
        self.settle(tid, now);
    }

    /// We accepted a connection from ourselves: the dialling side is one of our own outgoing
    /// connections to our listen port. It never sees our peer id (we close before answering), so
    /// close it here as a self-connection, which takes that address off the dial list for good.
    fn close_self_dials(&mut self, now: Instant) {
        let port = self.cfg.listen_port;
        let ours: Vec<ConnId> = self
            .handshaking
            .iter()
            .filter(|(_, h)| matches!(h.stage, Stage::Sent(_)) && h.addr.port() == port)
            .map(|(c, _)| *c)
            .collect();
        for conn in ours {
            self.close_handshaking(conn, PeerError::SelfConnection, now);
        }
    }

    fn close_handshaking(&mut self, conn: ConnId, reason: PeerError, now: Instant) {
        let Some(h) = self.handshaking.remove(&conn) else {
            return;
        };
        self.handshake_deadlines.set(conn, None);
        log::debug!("connection {conn} to {} dropped: {reason}", h.addr);
        self.out
            .actions
            .push_back(Action::Event(Event::PeerDropped {
                torrent: h.torrent(),
                addr: h.addr,
                reason: reason.clone(),
            }));
        if let Some(tid) = h.torrent() {
            if let Some(t) = self.torrents.get_mut(&tid) {
                t.dial_ended(h.addr, &reason, now);
            }
            self.settle(tid, now);
        }
        self.out.actions.push_back(Action::Close { conn, reason });
    }

    /// The socket of `conn` closed or failed. The shell has closed it already.
    pub fn handle_closed(&mut self, conn: ConnId, why: String, now: Instant) {
        self.count_buffers();
        if let Some(h) = self.handshaking.remove(&conn) {
            self.handshake_deadlines.set(conn, None);
            // `-v` shows why a peer could not be reached (refused, reset, closed at handshake).
            log::info!("peer {}: {why}", h.addr);
            if let Some(tid) = h.torrent() {
                if let Some(t) = self.torrents.get_mut(&tid) {
                    t.dial_ended(h.addr, &PeerError::Closed(why), now);
                }
                self.settle(tid, now);
            }
            return;
        }
        if let Some(tid) = self.attached.remove(&conn) {
            if let Some(t) = self.torrents.get_mut(&tid) {
                if let Some(addr) = t.peer_addr(conn) {
                    log::info!("peer {addr}: connection closed ({why})");
                }
                t.remove_peer(conn, now, &PeerError::Closed(why));
            }
            self.settle(tid, now);
        }
    }

    /// The outbox of `conn` was written out completely: more uploads may start.
    pub fn handle_written(&mut self, conn: ConnId, now: Instant) {
        let Some(&tid) = self.attached.get(&conn) else {
            return;
        };
        if let Some(t) = self.torrents.get_mut(&tid) {
            t.pump_uploads(conn, now, &mut self.out);
        }
        self.settle(tid, now);
    }

    /// A disk job finished.
    pub fn handle_disk(&mut self, done: DiskDone, now: Instant) {
        self.count_buffers();
        let tid = done.torrent();
        let live_before = self.out.buffers.live;
        if let Some(t) = self.torrents.get_mut(&tid) {
            t.handle_disk(done, now, &mut self.out);
        }
        if self.out.buffers.starved && self.out.buffers.live < live_before {
            self.refill_starved(tid, now);
        }
        self.release_idle_spares();
        self.settle(tid, now);
    }

    /// A tracker announce finished.
    pub fn handle_announce(&mut self, done: AnnounceDone, now: Instant) {
        self.count_buffers();
        let id = done.torrent;
        if let Some(t) = self.torrents.get_mut(&id) {
            t.handle_announce(done, now, &mut self.out);
        }
        self.settle(id, now);
    }

    /// Stops a torrent on an error found outside the engine (for example storage that cannot open).
    pub fn fail_torrent(&mut self, id: TorrentId, error: TorrentError, now: Instant) {
        if let Some(t) = self.torrents.get_mut(&id) {
            t.fail(error, now, &mut self.out);
        }
        self.release_idle_spares();
        self.settle(id, now);
    }

    /// Refills the torrents after `freed` (wrapping around), so the session budget `freed` just
    /// gave back goes to torrents it held back. Without this they waited for their next tick:
    /// 100 torrents sharing the budget finished in waves 100 ms apart (`examples/scale`).
    fn refill_starved(&mut self, freed: TorrentId, now: Instant) {
        self.out.buffers.starved = false;
        let ids: Vec<TorrentId> = self
            .torrents
            .range(freed + 1..)
            .chain(self.torrents.range(..freed))
            .map(|(&id, _)| id)
            .collect();
        for id in ids {
            if let Some(t) = self.torrents.get_mut(&id) {
                t.refill(now, &mut self.out);
            }
            self.settle(id, now);
        }
    }

    /// Counts the piece bytes every torrent holds, before an input that may start pieces. A
    /// fresh count each time, rather than bookkeeping across removals, pauses and failures,
    /// means the session budget can never leak.
    fn count_buffers(&mut self) {
        self.out.buffers.live = self
            .torrents
            .values()
            .map(TorrentCore::budgeted_buffer_bytes)
            .sum();
    }

    /// After an input for torrent `tid`: forget its dropped connections, dial if something
    /// made room or brought candidates, and file its next deadline.
    fn settle(&mut self, tid: TorrentId, now: Instant) {
        self.forget_dropped(tid);
        if self.torrents.get(&tid).is_some_and(TorrentCore::wants_dial) {
            self.dial(tid, now);
        }
        let next = self.torrents.get(&tid).and_then(TorrentCore::next_deadline);
        self.deadlines.set(tid, next);
    }

    /// Spare piece buffers serve downloads only: a session that just seeds (or is paused)
    /// holds none.
    fn release_idle_spares(&mut self) {
        if self.out.buffers.bytes() > 0 && !self.torrents.values().any(|t| t.is_downloading()) {
            self.out.buffers.clear();
        }
    }

    /// Forgets the connections `tid` removed. Called after every input, so it must cost nothing
    /// when nothing was removed: scanning all connections here made each disk result O(peers).
    fn forget_dropped(&mut self, tid: TorrentId) {
        let Some(t) = self.torrents.get_mut(&tid) else {
            return;
        };
        for conn in t.removed.drain(..) {
            if self.attached.get(&conn) == Some(&tid) {
                self.attached.remove(&conn);
            }
        }
    }

    /// Runs what is due at `now`: handshake and connect timeouts, then each due torrent's
    /// timers (and its dial retries). Work is in proportion to what is due, never to the number
    /// of torrents or idle peers.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.count_buffers();
        while let Some(conn) = self.handshake_deadlines.pop_due(now) {
            let why = match self.handshaking.get(&conn).map(|h| h.stage) {
                Some(Stage::Dialing(_)) => PeerError::ConnectTimeout,
                Some(_) => PeerError::HandshakeTimeout,
                None => continue,
            };
            self.close_handshaking(conn, why, now);
        }
        // Collected first: a torrent may file a new deadline that is already due (an upload
        // refill counted from the last one), which must wait for the next call, not loop here.
        let mut due = Vec::new();
        while let Some(tid) = self.deadlines.pop_due(now) {
            due.push(tid);
        }
        for tid in due {
            if let Some(t) = self.torrents.get_mut(&tid) {
                t.handle_timeout(now, &mut self.out);
                if t.take_dial_due(now) {
                    self.dial(tid, now);
                }
            }
            self.settle(tid, now);
        }
        self.discovery_timeout(now);
        self.release_idle_spares();
    }

    fn dial(&mut self, id: TorrentId, now: Instant) {
        let half_open = self
            .handshaking
            .values()
            .filter(|h| matches!(h.stage, Stage::Dialing(_)))
            .count();
        let total = self.connection_count();
        let Some(t) = self.torrents.get_mut(&id) else {
            return;
        };
        let room = self
            .cfg
            .max_peers_per_torrent
            .saturating_sub(t.peer_slots_used())
            .min(self.cfg.max_half_open.saturating_sub(half_open))
            .min(self.cfg.max_connections.saturating_sub(total));
        for addr in t.take_dial_targets(room, now) {
            let conn = self.new_conn_id();
            self.insert_handshaking(conn, addr, Stage::Dialing(id), now);
            self.out.actions.push_back(Action::Connect { conn, addr });
        }
    }

    /// Adds peer addresses to a torrent's dial list.
    pub fn add_peers(&mut self, id: TorrentId, peers: &[SocketAddr], now: Instant) {
        if let Some(t) = self.torrents.get_mut(&id) {
            for p in peers {
                t.add_candidate(*p, now);
            }
        }
        self.settle(id, now);
    }

    /// The next action for the shell, in the order they arose.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.out.actions.pop_front()
    }

    /// Whether actions are waiting for [`Engine::poll_action`].
    pub fn has_actions(&self) -> bool {
        !self.out.actions.is_empty()
    }

    /// Moves the ids of connections whose outbox grew into `into`.
    pub fn take_dirty(&mut self, into: &mut Vec<ConnId>) {
        into.append(&mut self.out.dirty);
    }

    /// The bytes waiting to be sent on `conn`; the shell drains what it wrote.
    pub fn outbox(&mut self, conn: ConnId) -> Option<&mut Outbox> {
        if let Some(h) = self.handshaking.get_mut(&conn) {
            return Some(&mut h.out);
        }
        let tid = self.attached.get(&conn)?;
        self.torrents
            .get_mut(tid)?
            .peers
            .get_mut(&conn)
            .map(|p| &mut p.out)
    }

    /// When the engine next needs [`Engine::handle_timeout`]: the earliest deadline of any
    /// torrent or handshake, or `None` when nothing is scheduled (an idle session sleeps until
    /// a socket, a result or a command wakes it).
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.deadlines.first(),
            self.handshake_deadlines.first(),
            self.discovery_deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }
}

/// What our handshake's reserved bytes announce: the extension protocol (BEP 10: metadata
/// exchange, PEX, `reqq`) and the Fast extension (BEP 6).
const OURS: Extensions = Extensions {
    extension_protocol: true,
    fast: true,
    dht: false,
};

/// Our handshake: [`OURS`], plus the DHT bit (BEP 5: we take `port` messages) for public
/// torrents while the DHT is on.
fn our_handshake(info_hash: &[u8; 20], peer_id: &[u8; 20], dht: bool, out: &mut Vec<u8>) {
    Handshake {
        reserved: Extensions { dht, ..OURS }.to_reserved(),
        info_hash: *info_hash,
        peer_id: *peer_id,
    }
    .encode(out);
}
