//! The engine's discovery inputs and outputs: the calls a shell makes for the DHT and LSD, and
//! the few hooks the engine's own inputs call, so that `engine/mod.rs` holds one line per hook.
//!
//! Part of the sans-IO engine (reactor thread).

use std::net::SocketAddr;
use std::time::Instant;

use super::{DhtSetup, DiscoveryStats, Found};
use crate::engine::io::TorrentId;
use crate::engine::Engine;
use crate::ext::lsd::LsdFamily;
use crate::wire::Message;

impl Engine {
    /// Starts the session's DHT node on the shell's UDP socket(s). Its datagrams go out as
    /// [`crate::engine::Action::Datagram`]; torrents added before this call do not announce
    /// until their next start, so call it before adding any.
    pub fn enable_dht(&mut self, setup: DhtSetup, now: Instant) {
        let seed = self.cfg.seed ^ 0xd47_5eed;
        let port = self.cfg.listen_port;
        let found = self
            .discovery
            .enable_dht(setup, port, seed, now, &mut self.out.actions);
        self.flush_discovery(found, now);
    }

    /// Joins local service discovery on `family`'s multicast group (the shell joined it).
    pub fn enable_lsd(&mut self, family: LsdFamily, now: Instant) {
        let seed = self.cfg.seed ^ 0x15d;
        let port = self.cfg.listen_port;
        self.discovery.enable_lsd(family, port, seed, now);
    }

    /// A datagram arrived on a DHT socket.
    pub fn handle_dht_datagram(&mut self, from: SocketAddr, bytes: &[u8], now: Instant) {
        let found = self
            .discovery
            .handle_dht_datagram(from, bytes, now, &mut self.out.actions);
        self.flush_discovery(found, now);
    }

    /// A datagram arrived on an LSD socket.
    pub fn handle_lsd_datagram(&mut self, from: SocketAddr, bytes: &[u8], now: Instant) {
        let found = self.discovery.handle_lsd_datagram(from, bytes, now);
        self.flush_discovery(found, now);
    }

    /// DHT routers resolved by the shell after the start (host names are never resolved on the
    /// reactor).
    pub fn add_dht_routers(&mut self, routers: &[SocketAddr], now: Instant) {
        let found = self
            .discovery
            .add_routers(routers, now, &mut self.out.actions);
        self.flush_discovery(found, now);
    }

    /// The DHT node's id and good nodes, for the shell to save; `None` when the DHT is off.
    pub fn dht_state(&self, now: Instant) -> Option<Vec<u8>> {
        self.discovery.dht_state(now)
    }

    /// DHT and LSD numbers.
    pub fn discovery_stats(&self, now: Instant) -> DiscoveryStats {
        self.discovery.stats(now)
    }

    /// Hook: torrent `id` was added.
    pub(crate) fn discovery_added(
        &mut self,
        id: TorrentId,
        hash: [u8; 20],
        private: bool,
        now: Instant,
    ) {
        let found = self
            .discovery
            .torrent_started(id, hash, private, now, &mut self.out.actions);
        self.flush_discovery(found, now);
    }

    /// Hook: torrent `id` was paused (`paused`) or resumed.
    pub(crate) fn discovery_paused(&mut self, id: TorrentId, paused: bool, now: Instant) {
        let found = if paused {
            self.discovery
                .torrent_paused(id, now, &mut self.out.actions);
            Vec::new()
        } else {
            self.discovery
                .torrent_resumed(id, now, &mut self.out.actions)
        };
        self.flush_discovery(found, now);
    }

    /// Hook: torrent `id` was removed.
    pub(crate) fn discovery_removed(&mut self, id: TorrentId, now: Instant) {
        self.discovery
            .torrent_removed(id, now, &mut self.out.actions);
    }

    /// Hook, after a torrent's input: feeds the peers' `port` messages to the DHT.
    pub(crate) fn discovery_port_messages(&mut self, now: Instant) {
        if self.out.dht_nodes.is_empty() {
            return;
        }
        let nodes = std::mem::take(&mut self.out.dht_nodes);
        let found = self.discovery.add_nodes(&nodes, now, &mut self.out.actions);
        self.flush_discovery(found, now);
    }

    /// Hook, in `handle_timeout`: runs discovery's due timers.
    pub(crate) fn discovery_timeout(&mut self, now: Instant) {
        let found = self.discovery.handle_timeout(now, &mut self.out.actions);
        self.flush_discovery(found, now);
    }

    /// Hook, in `poll_timeout`: discovery's earliest deadline.
    pub(crate) fn discovery_deadline(&self) -> Option<Instant> {
        self.discovery.poll_timeout()
    }

    /// Hook, once a handshake completed: a peer that set the DHT bit hears our DHT port.
    pub(crate) fn send_dht_port(
        &mut self,
        id: TorrentId,
        conn: usize,
        reserved: &[u8; 8],
        now: Instant,
    ) {
        let Some(port) = self.discovery.port_message(id) else {
            return;
        };
        if !crate::wire::Extensions::from_reserved(reserved).dht {
            return;
        }
        if let Some(p) = self
            .torrents
            .get_mut(&id)
            .and_then(|t| t.peers.get_mut(&conn))
        {
            p.send(&Message::Port(port), now);
        }
    }

    /// Hands discovered peers to their torrents, which dial them as room allows.
    fn flush_discovery(&mut self, found: Found, now: Instant) {
        let mut touched: Vec<TorrentId> = Vec::new();
        for (tid, addr) in found {
            if let Some(t) = self.torrents.get_mut(&tid) {
                t.add_candidate(addr, now);
                if !touched.contains(&tid) {
                    touched.push(tid);
                }
            }
        }
        for tid in touched {
            self.settle(tid, now);
        }
    }
}
