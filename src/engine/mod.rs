//! The protocol engine: every torrent and every connection of a session, as one sans-IO state
//! machine.
//!
//! Inputs are `handle_*` calls carrying bytes, disk and tracker results, and `now`; outputs are
//! [`Action`]s drained with [`Engine::poll_action`] and bytes in per-connection outboxes
//! ([`Engine::outbox`], with [`Engine::take_dirty`] naming the ones that grew). It owns no socket,
//! file, thread or clock, so the same code runs under the mio reactor and in the deterministic
//! swarm simulation. Drain order for a shell: feed inputs, then drain actions, then write dirty
//! outboxes, then sleep until [`Engine::next_timeout`].
//!
//! Connections start in a handshake stage held here (an incoming one does not yet know its
//! torrent); once the handshake checks out they move into their torrent's core.

mod buffers;
mod choker;
mod io;
mod outbox;
mod peer;
mod torrent;

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

pub use io::*;
pub use outbox::Outbox;
pub use peer::{PeerError, Rate};
pub use torrent::TorrentCore;

use crate::wire::{self, Handshake};

/// How often the engine wants [`Engine::handle_tick`] at the latest.
pub const TICK: Duration = Duration::from_millis(100);

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
}

/// A connection before its handshake completed.
#[derive(Debug)]
struct Handshaking {
    addr: SocketAddr,
    outgoing: bool,
    torrent: Option<TorrentId>,
    connected: bool,
    since: Instant,
    inbuf: Vec<u8>,
    out: Outbox,
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
    last_tick: Option<Instant>,
}

impl Engine {
    /// An engine with no torrents.
    pub fn new(cfg: EngineConfig) -> Engine {
        Engine {
            cfg,
            torrents: BTreeMap::new(),
            handshaking: BTreeMap::new(),
            attached: BTreeMap::new(),
            next_conn: 1,
            next_torrent: 1,
            out: Outputs::default(),
            last_tick: None,
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
        let mut core = TorrentCore::new(id, params, &self.cfg, now);
        core.start_checks(&mut self.out);
        // Announce and dial the peers we were given now rather than on the next tick.
        core.maybe_announce(now, &mut self.out);
        self.torrents.insert(id, core);
        self.dial(id, now);
    }

    /// Removes a torrent and drops its connections.
    pub fn remove_torrent(&mut self, id: TorrentId, now: Instant) -> Option<TorrentCore> {
        let mut core = self.torrents.remove(&id)?;
        core.close_all(PeerError::Shutdown, now, &mut self.out);
        self.attached.retain(|_, t| *t != id);
        let stale: Vec<ConnId> = self
            .handshaking
            .iter()
            .filter(|(_, h)| h.torrent == Some(id))
            .map(|(c, _)| *c)
            .collect();
        for conn in stale {
            self.close_handshaking(conn, PeerError::Shutdown, now);
        }
        Some(core)
    }

    /// Pauses a torrent (drops its peers, stops dialling and announcing).
    pub fn pause(&mut self, id: TorrentId, now: Instant) {
        if let Some(t) = self.torrents.get_mut(&id) {
            t.pause(now, &mut self.out);
        }
        self.attached.retain(|_, t| *t != id);
    }

    /// Resumes a paused torrent.
    pub fn resume(&mut self, id: TorrentId) {
        self.count_buffers();
        if let Some(t) = self.torrents.get_mut(&id) {
            t.resume();
        }
    }

    /// A torrent's core, for inspection.
    pub fn torrent(&self, id: TorrentId) -> Option<&TorrentCore> {
        self.torrents.get(&id)
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
        self.handshaking.insert(
            conn,
            Handshaking {
                addr,
                outgoing: false,
                torrent: None,
                connected: true,
                since: now,
                inbuf: Vec::new(),
                out: Outbox::default(),
            },
        );
        Some(conn)
    }

    /// An outgoing connect finished: our handshake goes out first.
    pub fn handle_connected(&mut self, conn: ConnId, now: Instant) {
        let Some(h) = self.handshaking.get_mut(&conn) else {
            return;
        };
        let Some(t) = h.torrent.and_then(|t| self.torrents.get(&t)) else {
            return;
        };
        h.connected = true;
        h.since = now;
        h.out
            .encode_with(|b| our_handshake(t.info_hash(), &self.cfg.peer_id, b));
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
        let tid = match h.torrent {
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
            if e == PeerError::SelfConnection && !h.outgoing {
                self.close_self_dials(now);
            }
            return self.close_handshaking(conn, e, now);
        }
        let (Some(mut h), Some(tid)) = (self.handshaking.remove(&conn), tid) else {
            return;
        };
        let Some(t) = self.torrents.get_mut(&tid) else {
            return;
        };
        if !h.outgoing {
            h.out
                .encode_with(|b| our_handshake(&hs.info_hash, &self.cfg.peer_id, b));
        }
        t.add_peer(conn, h.addr, h.outgoing, hs.peer_id, now, &mut self.out);
        if hs.reserved[EXTENSION_BYTE] & EXTENSION_BIT != 0 {
            t.send_extension_handshake(conn, now, &mut self.out);
        }
        if let Some(peer) = t.peers.get_mut(&conn) {
            // Bytes not yet written (our handshake) go before what the torrent queued.
            h.out.append(&mut peer.out);
            peer.out = std::mem::take(&mut h.out);
        }
        self.attached.insert(conn, tid);
        let rest = h.inbuf.get(wire::HANDSHAKE_LEN..).unwrap_or(&[]);
        if !rest.is_empty() {
            let rest = rest.to_vec();
            self.handle_data(conn, &rest, now);
        }
    }

    /// We accepted a connection from ourselves: the dialling side is one of our own outgoing
    /// connections to our listen port. It never sees our peer id (we close before answering), so
    /// close it here as a self-connection, which takes that address off the dial list for good.
    fn close_self_dials(&mut self, now: Instant) {
        let port = self.cfg.listen_port;
        let ours: Vec<ConnId> = self
            .handshaking
            .iter()
            .filter(|(_, h)| h.outgoing && h.connected && h.addr.port() == port)
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
        log::debug!("connection {conn} to {} dropped: {reason}", h.addr);
        self.out
            .actions
            .push_back(Action::Event(Event::PeerDropped {
                torrent: h.torrent,
                addr: h.addr,
                reason: reason.clone(),
            }));
        if h.outgoing {
            let give_up = matches!(reason, PeerError::SelfConnection | PeerError::WrongInfoHash);
            if let Some(t) = h.torrent.and_then(|t| self.torrents.get_mut(&t)) {
                t.dial_failed(h.addr, now, give_up);
            }
        }
        self.out.actions.push_back(Action::Close { conn, reason });
    }

    /// The socket of `conn` closed or failed. The shell has closed it already.
    pub fn handle_closed(&mut self, conn: ConnId, why: String, now: Instant) {
        self.count_buffers();
        if let Some(h) = self.handshaking.remove(&conn) {
            if h.outgoing {
                if let Some(t) = h.torrent.and_then(|t| self.torrents.get_mut(&t)) {
                    t.dial_failed(h.addr, now, false);
                }
            }
            return;
        }
        if let Some(tid) = self.attached.remove(&conn) {
            if let Some(t) = self.torrents.get_mut(&tid) {
                t.remove_peer(conn, now, &PeerError::Closed(why));
            }
        }
    }

    /// The outbox of `conn` was written out completely: more uploads may start.
    pub fn handle_written(&mut self, conn: ConnId) {
        if let Some(t) = self
            .attached
            .get(&conn)
            .and_then(|tid| self.torrents.get_mut(tid))
        {
            t.pump_uploads(conn, &mut self.out);
        }
    }

    /// A disk job finished.
    pub fn handle_disk(&mut self, done: DiskDone, now: Instant) {
        self.count_buffers();
        let tid = match &done {
            DiskDone::Verified { torrent, .. }
            | DiskDone::WriteFailed { torrent, .. }
            | DiskDone::Checked { torrent, .. }
            | DiskDone::Read { torrent, .. } => *torrent,
        };
        let live_before = self.out.buffers.live;
        if let Some(t) = self.torrents.get_mut(&tid) {
            t.handle_disk(done, now, &mut self.out);
        }
        if self.out.buffers.starved && self.out.buffers.live < live_before {
            self.refill_starved(tid, now);
        }
        self.forget_dropped(tid);
    }

    /// A tracker announce finished.
    pub fn handle_announce(&mut self, done: AnnounceDone, now: Instant) {
        self.count_buffers();
        let id = done.torrent;
        if let Some(t) = self.torrents.get_mut(&id) {
            t.handle_announce(done, now, &mut self.out);
        }
        self.dial(id, now);
    }

    /// Stops a torrent on an error found outside the engine (for example storage that cannot open).
    pub fn fail_torrent(&mut self, id: TorrentId, error: String, now: Instant) {
        if let Some(t) = self.torrents.get_mut(&id) {
            t.fail(error, now, &mut self.out);
        }
        self.forget_dropped(id);
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

    /// Runs timers: handshake and connect timeouts, each torrent's timers, and dialling.
    pub fn handle_tick(&mut self, now: Instant) {
        self.count_buffers();
        self.last_tick = Some(now);
        self.expire_handshakes(now);
        let ids: Vec<TorrentId> = self.torrents.keys().copied().collect();
        for id in ids {
            if let Some(t) = self.torrents.get_mut(&id) {
                t.handle_tick(now, &mut self.out);
            }
            self.forget_dropped(id);
            self.dial(id, now);
        }
        // Only downloads take spares: a session that just seeds (or is paused) holds none.
        let downloading = self
            .torrents
            .values()
            .any(|t| *t.state() == TorrentState::Downloading);
        if !downloading && self.out.buffers.bytes() > 0 {
            self.out.buffers.clear();
        }
    }

    fn expire_handshakes(&mut self, now: Instant) {
        let late: Vec<(ConnId, PeerError)> = self
            .handshaking
            .iter()
            .filter_map(|(&c, h)| {
                let age = now.saturating_duration_since(h.since);
                if !h.connected && age >= self.cfg.connect_timeout {
                    Some((c, PeerError::ConnectTimeout))
                } else if h.connected && age >= self.cfg.handshake_timeout {
                    Some((c, PeerError::HandshakeTimeout))
                } else {
                    None
                }
            })
            .collect();
        for (conn, why) in late {
            self.close_handshaking(conn, why, now);
        }
    }

    fn dial(&mut self, id: TorrentId, now: Instant) {
        let half_open = self.handshaking.values().filter(|h| !h.connected).count();
        let total = self.connection_count();
        let Some(t) = self.torrents.get_mut(&id) else {
            return;
        };
        let room = self
            .cfg
            .max_peers_per_torrent
            .saturating_sub(t.peers.len() + t.connecting.len())
            .min(self.cfg.max_half_open.saturating_sub(half_open))
            .min(self.cfg.max_connections.saturating_sub(total));
        for addr in t.take_dial_targets(room, now) {
            let conn = self.next_conn;
            self.next_conn += 1;
            self.handshaking.insert(
                conn,
                Handshaking {
                    addr,
                    outgoing: true,
                    torrent: Some(id),
                    connected: false,
                    since: now,
                    inbuf: Vec::new(),
                    out: Outbox::default(),
                },
            );
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

    /// When the engine next needs [`Engine::handle_tick`].
    pub fn next_timeout(&self, now: Instant) -> Instant {
        self.last_tick.map_or(now, |t| t + TICK)
    }
}

/// Where BEP 10 (the extension protocol) is flagged in the handshake's reserved bytes.
const EXTENSION_BYTE: usize = 5;
const EXTENSION_BIT: u8 = 0x10;

fn our_handshake(info_hash: &[u8; 20], peer_id: &[u8; 20], out: &mut Vec<u8>) {
    let mut reserved = [0; 8];
    // We speak BEP 10 only to say how many requests we queue (`reqq`); see
    // `TorrentCore::send_extension_handshake`.
    reserved[EXTENSION_BYTE] |= EXTENSION_BIT;
    Handshake {
        reserved,
        info_hash: *info_hash,
        peer_id: *peer_id,
    }
    .encode(out);
}
