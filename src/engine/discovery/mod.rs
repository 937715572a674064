//! Peer discovery without trackers: the session's DHT node (BEP 5) and local service discovery
//! (BEP 14), glued to the engine's torrents.
//!
//! Sans-IO, owned by the [`super::Engine`] on the reactor thread. The shell owns the UDP sockets:
//! it feeds their datagrams to [`super::Engine::handle_dht_datagram`] and
//! [`super::Engine::handle_lsd_datagram`], and sends each [`Action::Datagram`] on the socket it
//! names. Every public torrent that is not paused announces itself through the DHT when it starts
//! and about every [`REANNOUNCE`] after, and is announced on each LSD group; the peers found go
//! to that torrent's dial list. Private torrents (BEP 27) are never seen here: no lookup, no LSD
//! announce, no DHT bit in their handshakes, and their peers' `port` messages are ignored.
//!
//! Timers are data like everything else in the engine: the re-announce deadlines, the DHT's own,
//! the LSD packet schedule and the periodic save of the routing table all join
//! [`super::Engine::poll_timeout`], and a session with nothing to do has none of them.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::io::{Action, TorrentId};
use super::timer::Deadlines;
use crate::dht::{Dht, DhtConfig, DhtEvent, DhtStats, NodeId};
use crate::ext::lsd::LsdFamily;
use crate::ext::lsd_core::LsdCore;
use crate::metainfo::InfoHash;
use crate::rng::SplitMix64;

mod engine_api;
#[cfg(test)]
mod tests;

/// Time between two DHT announces of one torrent (libtorrent's `dht_announce_interval`).
pub const REANNOUNCE: Duration = Duration::from_secs(15 * 60);
/// Wait before trying again when the DHT refused a lookup (too many running).
const LOOKUP_BUSY_RETRY: Duration = Duration::from_secs(30);

/// Which of the shell's UDP sockets a datagram goes out on (or came in on).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UdpKind {
    /// The IPv4 DHT socket.
    Dht4,
    /// The IPv6 DHT socket.
    Dht6,
    /// The IPv4 LSD socket (group `239.192.152.143:6771`).
    Lsd4,
    /// The IPv6 LSD socket (group `[ff15::efc0:988f]:6771`).
    Lsd6,
}

/// A UDP datagram for the shell to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Datagram {
    /// The socket to send it on.
    pub socket: UdpKind,
    /// Where to.
    pub to: SocketAddr,
    /// The payload.
    pub bytes: Vec<u8>,
}

/// How the shell set up the DHT: the node's settings, its saved state and its socket(s).
#[derive(Clone, Debug)]
pub struct DhtSetup {
    /// The node's settings (bootstrap routers given as addresses; names are resolved by the
    /// shell and added later with [`super::Engine::add_dht_routers`]). `ipv6` is set from
    /// `v6` below.
    pub config: DhtConfig,
    /// What [`super::Engine::dht_state`] gave at the last shutdown, to restart with the same id
    /// and nodes; `None` (or unreadable bytes) starts a fresh node.
    pub state: Option<Vec<u8>>,
    /// The DHT's UDP port, sent to peers in `port` messages.
    pub port: u16,
    /// Whether there is an IPv4 socket ([`UdpKind::Dht4`]).
    pub v4: bool,
    /// Whether there is an IPv6 socket ([`UdpKind::Dht6`]).
    pub v6: bool,
    /// How often to hand out the routing table for saving ([`Action::SaveDhtState`]), when it
    /// changed; `None` when there is nowhere to save it.
    pub save_every: Option<Duration>,
}

/// Discovery numbers for the session's stats.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DiscoveryStats {
    /// The DHT node's numbers; `None` when the DHT is off.
    pub dht: Option<DhtStats>,
    /// The DHT's UDP port.
    pub dht_port: Option<u16>,
    /// LSD groups joined (0 when LSD is off).
    pub lsd_groups: usize,
    /// Torrents announced through the DHT and LSD (public and not paused).
    pub torrents: usize,
    /// Peer addresses the DHT gave to torrents.
    pub dht_peers: u64,
    /// Peer addresses LSD gave to torrents.
    pub lsd_peers: u64,
}

/// The DHT node and its socket families.
struct DhtSide {
    node: Dht,
    port: u16,
    v4: bool,
    v6: bool,
    save_every: Option<Duration>,
    /// When the table is next handed out for saving; armed only once the node heard something
    /// since the last save, so an idle node never wakes the session for it.
    save_at: Option<Instant>,
    /// Datagrams fed to the node, and that count at the last save.
    heard: u64,
    heard_at_save: u64,
}

/// The DHT, the LSD groups and the torrents they announce. See the module documentation.
#[derive(Default)]
pub(crate) struct Discovery {
    dht: Option<DhtSide>,
    lsd: Vec<(UdpKind, LsdCore)>,
    /// Torrents that are public (the only ones that take part), with their info-hashes.
    public: BTreeMap<TorrentId, [u8; 20]>,
    /// Public torrents that are not paused, by info-hash: announced, and handed their peers.
    active: BTreeMap<[u8; 20], TorrentId>,
    /// Each active torrent's next DHT announce.
    announce_at: Deadlines<TorrentId>,
    /// Torrents whose last lookup reached nobody: they look up again as soon as the table has
    /// a node, rather than on a timer.
    starved: BTreeSet<TorrentId>,
    rng: Option<SplitMix64>,
    /// Our TCP listen port, announced through the DHT.
    tcp_port: u16,
    stats: DiscoveryStats,
}

impl std::fmt::Debug for Discovery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Discovery")
            .field("dht", &self.dht.as_ref().map(|d| d.port))
            .field("lsd", &self.lsd.len())
            .field("active", &self.active.len())
            .finish()
    }
}

/// Peers found for one torrent.
pub(crate) type Found = Vec<(TorrentId, SocketAddr)>;

impl Discovery {
    /// Starts the DHT node (restored from `setup.state` when it parses); torrents announce TCP
    /// port `tcp_port` through it.
    pub(crate) fn enable_dht(
        &mut self,
        setup: DhtSetup,
        tcp_port: u16,
        seed: u64,
        now: Instant,
        out: &mut VecDeque<Action>,
    ) -> Found {
        self.tcp_port = tcp_port;
        let mut cfg = setup.config;
        cfg.ipv6 = setup.v6;
        let restored =
            setup
                .state
                .as_deref()
                .and_then(|s| match Dht::from_state(cfg.clone(), s, seed, now) {
                    Ok(d) => Some(d),
                    Err(e) => {
                        log::warn!("{e}; starting the DHT afresh");
                        None
                    }
                });
        let node = restored.unwrap_or_else(|| {
            let id = NodeId::random(&mut SplitMix64(seed ^ 0x0d47));
            Dht::new(cfg, id, seed, now)
        });
        self.rng = Some(SplitMix64(seed ^ 0xa220));
        self.dht = Some(DhtSide {
            node,
            port: setup.port,
            v4: setup.v4,
            v6: setup.v6,
            save_every: setup.save_every,
            save_at: None,
            heard: 0,
            heard_at_save: 0,
        });
        // The bootstrap queries go out now.
        self.drain(now, out)
    }

    /// Joins LSD on `family`'s group, announcing TCP port `port`.
    pub(crate) fn enable_lsd(&mut self, family: LsdFamily, port: u16, seed: u64, now: Instant) {
        let kind = match family {
            LsdFamily::V4 => UdpKind::Lsd4,
            LsdFamily::V6 => UdpKind::Lsd6,
        };
        if self.lsd.iter().any(|(k, _)| *k == kind) {
            return;
        }
        let mut core = LsdCore::new(family, port, seed ^ kind as u64);
        core.set_torrents(&self.active_hashes(), now);
        self.lsd.push((kind, core));
    }

    /// The DHT port to send in `port` messages on torrent `tid`'s connections: `None` when the
    /// DHT is off or the torrent is private.
    pub(crate) fn port_message(&self, tid: TorrentId) -> Option<u16> {
        let d = self.dht.as_ref()?;
        self.public.contains_key(&tid).then_some(d.port)
    }

    /// Whether handshakes for torrent `tid` carry the DHT bit.
    pub(crate) fn dht_bit(&self, tid: TorrentId) -> bool {
        self.port_message(tid).is_some()
    }

    fn active_hashes(&self) -> Vec<InfoHash> {
        self.active.keys().map(|h| InfoHash(*h)).collect()
    }

    /// A torrent was added (or resumed). Public ones start announcing at once.
    pub(crate) fn torrent_started(
        &mut self,
        tid: TorrentId,
        info_hash: [u8; 20],
        private: bool,
        now: Instant,
        out: &mut VecDeque<Action>,
    ) -> Found {
        if private {
            return Vec::new();
        }
        self.public.insert(tid, info_hash);
        self.torrent_resumed(tid, now, out)
    }

    /// A paused torrent resumed: a public one announces again at once.
    pub(crate) fn torrent_resumed(
        &mut self,
        tid: TorrentId,
        now: Instant,
        out: &mut VecDeque<Action>,
    ) -> Found {
        let Some(&hash) = self.public.get(&tid) else {
            return Vec::new();
        };
        self.active.insert(hash, tid);
        self.sync_lsd(now, out);
        self.start_lookup(tid, now);
        self.drain(now, out)
    }

    /// A torrent was paused: it stops announcing (its peers from a lookup still running are
    /// dropped).
    pub(crate) fn torrent_paused(
        &mut self,
        tid: TorrentId,
        now: Instant,
        out: &mut VecDeque<Action>,
    ) {
        if let Some(h) = self.public.get(&tid) {
            self.active.remove(h);
            self.announce_at.set(tid, None);
            self.starved.remove(&tid);
            self.sync_lsd(now, out);
        }
    }

    /// A torrent was removed.
    pub(crate) fn torrent_removed(
        &mut self,
        tid: TorrentId,
        now: Instant,
        out: &mut VecDeque<Action>,
    ) {
        self.torrent_paused(tid, now, out);
        self.public.remove(&tid);
    }

    fn sync_lsd(&mut self, now: Instant, out: &mut VecDeque<Action>) {
        if self.lsd.is_empty() {
            return;
        }
        let hashes = self.active_hashes();
        for (_, core) in &mut self.lsd {
            core.set_torrents(&hashes, now);
        }
        self.send_lsd(now, out);
    }

    fn send_lsd(&mut self, now: Instant, out: &mut VecDeque<Action>) {
        for (kind, core) in &mut self.lsd {
            if let Some(bytes) = core.poll_transmit(now) {
                let to = match kind {
                    UdpKind::Lsd6 => LsdFamily::V6.group(),
                    _ => LsdFamily::V4.group(),
                };
                out.push_back(Action::Datagram(Datagram {
                    socket: *kind,
                    to,
                    bytes,
                }));
            }
        }
    }

    /// Starts torrent `tid`'s DHT announce (a `get_peers` lookup that then announces our port)
    /// and files the next one.
    fn start_lookup(&mut self, tid: TorrentId, now: Instant) {
        let (Some(d), Some(hash)) = (self.dht.as_mut(), self.public.get(&tid)) else {
            return;
        };
        if !self.active.contains_key(hash) {
            return;
        }
        self.starved.remove(&tid);
        // Our TCP port, stated explicitly: with no uTP, the UDP port a NAT shows for the
        // announce says nothing about where our TCP listener is reachable.
        let started = d.node.announce(NodeId(*hash), self.tcp_port, false, now);
        let wait = match started {
            Some(_) => {
                // Up to a tenth later, so torrents added together spread out over time.
                let jitter = self.rng.as_mut().map_or(0, |r| r.next_u64() % 90);
                REANNOUNCE + Duration::from_secs(jitter)
            }
            None => LOOKUP_BUSY_RETRY,
        };
        self.announce_at.set(tid, Some(now + wait));
    }

    /// A datagram arrived on a DHT socket.
    pub(crate) fn handle_dht_datagram(
        &mut self,
        from: SocketAddr,
        bytes: &[u8],
        now: Instant,
        out: &mut VecDeque<Action>,
    ) -> Found {
        let Some(d) = self.dht.as_mut() else {
            return Vec::new();
        };
        d.node.handle_datagram(from, bytes, now);
        d.heard += 1;
        self.drain(now, out)
    }

    /// A datagram arrived on an LSD socket.
    pub(crate) fn handle_lsd_datagram(
        &mut self,
        from: SocketAddr,
        bytes: &[u8],
        now: Instant,
    ) -> Found {
        let kind = if from.is_ipv6() {
            UdpKind::Lsd6
        } else {
            UdpKind::Lsd4
        };
        let Some((_, core)) = self.lsd.iter_mut().find(|(k, _)| *k == kind) else {
            return Vec::new();
        };
        match core.handle_packet(from, bytes, now) {
            Ok(peers) => {
                let found: Found = peers
                    .into_iter()
                    .filter_map(|p| self.active.get(&p.info_hash.0).map(|t| (*t, p.addr)))
                    .collect();
                self.stats.lsd_peers += found.len() as u64;
                found
            }
            Err(e) => {
                log::trace!("LSD packet from {from} ignored: {e}");
                Vec::new()
            }
        }
    }

    /// Node addresses from peers' `port` messages, with the torrent each came on.
    pub(crate) fn add_nodes(
        &mut self,
        nodes: &[(TorrentId, SocketAddr)],
        now: Instant,
        out: &mut VecDeque<Action>,
    ) -> Found {
        let Some(d) = self.dht.as_mut() else {
            return Vec::new();
        };
        for (tid, addr) in nodes {
            // BEP 27: a private torrent's peers are not a source of DHT nodes.
            if self.public.contains_key(tid) {
                d.node.add_node(*addr, now);
            }
        }
        self.drain(now, out)
    }

    /// Routers resolved after the start (host names), added to the DHT's bootstrap list.
    pub(crate) fn add_routers(
        &mut self,
        routers: &[SocketAddr],
        now: Instant,
        out: &mut VecDeque<Action>,
    ) -> Found {
        let Some(d) = self.dht.as_mut() else {
            return Vec::new();
        };
        for r in routers {
            d.node.add_router(*r, now);
        }
        self.drain(now, out)
    }

    /// Runs what is due: the DHT's timers, torrents' re-announces, LSD packets and the save.
    pub(crate) fn handle_timeout(&mut self, now: Instant, out: &mut VecDeque<Action>) -> Found {
        if let Some(d) = self.dht.as_mut() {
            if d.node.poll_timeout().is_some_and(|t| t <= now) {
                d.node.handle_timeout(now);
            }
            if d.save_at.is_some_and(|t| t <= now) {
                d.save_at = None;
                if d.heard != d.heard_at_save {
                    d.heard_at_save = d.heard;
                    out.push_back(Action::SaveDhtState(d.node.save_state(now)));
                }
            }
        }
        while let Some(tid) = self.announce_at.pop_due(now) {
            self.start_lookup(tid, now);
        }
        self.send_lsd(now, out);
        self.drain(now, out)
    }

    /// The earliest deadline of the DHT, the re-announces, LSD and the save.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        let dht = self.dht.as_ref().and_then(|d| {
            [d.node.poll_timeout(), d.save_at]
                .into_iter()
                .flatten()
                .min()
        });
        let lsd = self.lsd.iter().filter_map(|(_, c)| c.poll_timeout()).min();
        [dht, lsd, self.announce_at.first()]
            .into_iter()
            .flatten()
            .min()
    }

    /// The DHT's state to save (id and good nodes); `None` when the DHT is off.
    pub(crate) fn dht_state(&self, now: Instant) -> Option<Vec<u8>> {
        self.dht.as_ref().map(|d| d.node.save_state(now))
    }

    /// Numbers for the session's stats.
    pub(crate) fn stats(&self, now: Instant) -> DiscoveryStats {
        DiscoveryStats {
            dht: self.dht.as_ref().map(|d| d.node.stats(now)),
            dht_port: self.dht.as_ref().map(|d| d.port),
            lsd_groups: self.lsd.len(),
            torrents: self.active.len(),
            ..self.stats.clone()
        }
    }

    /// After any DHT input: sends its datagrams, hands lookups' peers to their torrents, restarts
    /// starved lookups once the table has a node, and arms the save.
    fn drain(&mut self, now: Instant, out: &mut VecDeque<Action>) -> Found {
        let mut found = Found::new();
        let Some(d) = self.dht.as_mut() else {
            return found;
        };
        let mut starved = Vec::new();
        while let Some(ev) = d.node.poll_event() {
            match ev {
                DhtEvent::Peers {
                    info_hash, peers, ..
                } => {
                    if let Some(&tid) = self.active.get(&info_hash.0) {
                        found.extend(peers.into_iter().map(|p| (tid, p)));
                    }
                }
                DhtEvent::LookupDone {
                    info_hash,
                    closest_responded,
                    ..
                } => {
                    if let Some(&tid) = self.active.get(&info_hash.0) {
                        if closest_responded == 0 {
                            starved.push(tid);
                        }
                    }
                }
            }
        }
        self.stats.dht_peers += found.len() as u64;
        self.starved.extend(starved);
        if !self.starved.is_empty() {
            let now_has_nodes = !d.node.table(false).is_empty() || !d.node.table(true).is_empty();
            if now_has_nodes {
                let retry: Vec<TorrentId> = std::mem::take(&mut self.starved).into_iter().collect();
                for tid in retry {
                    self.start_lookup(tid, now);
                }
                return self.drain_more(found, now, out);
            }
        }
        self.flush_dht(now, out);
        found
    }

    /// `drain` again after restarting lookups (whose first events may already be queued).
    fn drain_more(&mut self, mut found: Found, now: Instant, out: &mut VecDeque<Action>) -> Found {
        found.extend(self.drain(now, out));
        found
    }

    /// Moves the DHT's datagrams to the shell's queue and arms the save when the node heard
    /// something new.
    fn flush_dht(&mut self, now: Instant, out: &mut VecDeque<Action>) {
        let Some(d) = self.dht.as_mut() else {
            return;
        };
        while let Some(t) = d.node.poll_transmit() {
            let socket = if t.to.is_ipv6() {
                UdpKind::Dht6
            } else {
                UdpKind::Dht4
            };
            let reachable = match socket {
                UdpKind::Dht6 => d.v6,
                _ => d.v4 || d.v6,
            };
            if reachable {
                out.push_back(Action::Datagram(Datagram {
                    socket,
                    to: t.to,
                    bytes: t.bytes,
                }));
            }
        }
        if let (Some(every), None) = (d.save_every, d.save_at) {
            if d.heard != d.heard_at_save {
                d.save_at = Some(now + every);
            }
        }
    }
}
