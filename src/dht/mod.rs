//! The mainline DHT (BEP 5, with BEP 32 IPv6, BEP 42 id/IP binding and BEP 43 read-only nodes)
//! as a sans-IO node: datagrams and time in, datagrams, events and deadlines out.
//!
//! Owned by the engine's discovery (`engine::discovery`), so it runs on the reactor thread, one per
//! session, on one UDP socket (or two, for IPv6). [`Dht`] never opens a socket, never reads the
//! clock (every input takes `now`), never spawns a thread and draws all randomness from the seed it
//! was given, so a simulation replays exactly. Its driver:
//!
//! 1. feeds every datagram received to [`Dht::handle_datagram`];
//! 2. sends everything [`Dht::poll_transmit`] yields, and handles [`Dht::poll_event`];
//! 3. calls [`Dht::handle_timeout`] when [`Dht::poll_timeout`] passes (or earlier: it is cheap).
//!
//! There is no fixed tick: the only deadlines are queries awaiting answers, bucket refreshes
//! (15 minutes after a bucket last changed), the sweep of expired stored peers, and bootstrap
//! retries. An idle node with an empty table has no deadline at all.
//!
//! Lookups ([`Dht::get_peers`], [`Dht::announce`]) run iteratively, 3 queries in flight, until
//! the 8 closest nodes have answered; results arrive as [`DhtEvent`]s. Re-announcing (every 15 to
//! 30 minutes, as libtorrent does) is the caller's schedule, not the node's.

mod client;
mod external_ip;
mod guard;
pub mod id;
pub mod krpc;
mod lookup;
mod rpc;
mod server;
mod state;
mod store;
pub mod table;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

pub use id::NodeId;
pub use krpc::NodeInfo;

use guard::{RateLimit, Tokens};
use lookup::Lookup;
use rpc::Rpcs;
use store::PeerStore;
use table::Table;

use crate::rng::SplitMix64;

/// Datagrams queued for sending at most; beyond that new ones are dropped (a driver that stops
/// polling must not make the node grow without bound).
pub const MAX_QUEUED: usize = 512;
/// First wait before bootstrapping again when no router answered; doubles up to 5 minutes.
pub const BOOTSTRAP_RETRY: Duration = Duration::from_secs(10);
const BOOTSTRAP_RETRY_MAX: Duration = Duration::from_secs(5 * 60);

/// Settings, with the defaults documented on each field.
#[derive(Clone, Debug)]
pub struct DhtConfig {
    /// BEP 43: query others but answer nothing, and say so (`ro: 1`) so that nobody adds us to
    /// a routing table. For nodes behind NAT or on metered links. Default false.
    pub read_only: bool,
    /// Routers to bootstrap from. They are asked for nodes but never enter the routing table
    /// (as in libtorrent), and their ids are not checked against BEP 42. Default empty: the
    /// session supplies its list.
    pub bootstrap: Vec<SocketAddr>,
    /// Whether there is an IPv6 socket: ask for `nodes6` and use IPv6 nodes. Default false.
    pub ipv6: bool,
    /// Drop nodes whose id does not match their (non-local) IP under BEP 42, from the routing
    /// table and from lookups and announces. Default true.
    pub enforce_node_id: bool,
    /// Peers stored per info-hash. Default 100.
    pub max_peers_per_hash: usize,
    /// Info-hashes stored. Default 2,000 (about 1.5 MB at most with 100 peers each).
    pub max_hashes: usize,
    /// Answers per second to one IP. Default 5.
    pub replies_per_sec_per_ip: u32,
    /// Answers one IP may get in a burst. Default 20.
    pub reply_burst_per_ip: u32,
    /// Answers per second in total. Default 250.
    pub replies_per_sec: u32,
    /// IPs the rate limiter tracks at once. Default 1,024.
    pub rate_limit_ips: usize,
    /// Lookups running at once; more are refused. Default 16.
    pub max_lookups: usize,
}

impl Default for DhtConfig {
    fn default() -> DhtConfig {
        DhtConfig {
            read_only: false,
            bootstrap: Vec::new(),
            ipv6: false,
            enforce_node_id: true,
            max_peers_per_hash: 100,
            max_hashes: 2000,
            replies_per_sec_per_ip: 5,
            reply_burst_per_ip: 20,
            replies_per_sec: 250,
            rate_limit_ips: 1024,
            max_lookups: 16,
        }
    }
}

/// Handle of a lookup started by [`Dht::get_peers`] or [`Dht::announce`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LookupId(pub u64);

/// A datagram to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// Destination.
    pub to: SocketAddr,
    /// Payload: one KRPC message.
    pub bytes: Vec<u8>,
}

/// What the node reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DhtEvent {
    /// Peers found by a lookup (each reported once per lookup).
    Peers {
        /// The lookup.
        lookup: LookupId,
        /// The torrent.
        info_hash: NodeId,
        /// New peers.
        peers: Vec<SocketAddr>,
    },
    /// A lookup finished.
    LookupDone {
        /// The lookup.
        lookup: LookupId,
        /// The torrent (or node id) searched for.
        info_hash: NodeId,
        /// The closest nodes that answered, closest first (up to 8 per family).
        closest: Vec<NodeInfo>,
        /// `closest.len()`: 0 means the lookup reached nobody.
        closest_responded: usize,
        /// Nodes that acknowledged our announce (0 for a plain `get_peers`).
        announced_to: usize,
        /// Queries the search sent.
        queries: u16,
        /// Sequential round trips the search took.
        rounds: u8,
    },
}

/// A snapshot of the node's state, for display and tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DhtStats {
    /// Good IPv4 nodes in the table.
    pub good_v4: usize,
    /// Questionable IPv4 nodes.
    pub questionable_v4: usize,
    /// Good IPv6 nodes.
    pub good_v6: usize,
    /// Questionable IPv6 nodes.
    pub questionable_v6: usize,
    /// Lookups running.
    pub lookups: usize,
    /// Queries awaiting an answer.
    pub queries_in_flight: usize,
    /// Info-hashes with stored peers.
    pub stored_hashes: usize,
    /// Stored peers.
    pub stored_peers: usize,
    /// Approximate heap bytes of the routing tables.
    pub table_bytes: usize,
    /// Approximate heap bytes of the peer store.
    pub store_bytes: usize,
    /// Datagrams received.
    pub packets_in: u64,
    /// Datagrams ignored as malformed, unsolicited or lying.
    pub packets_ignored: u64,
    /// Queries answered.
    pub replies_sent: u64,
    /// Queries left unanswered by the rate limits.
    pub replies_limited: u64,
    /// Datagrams dropped because the send queue was full.
    pub transmits_dropped: u64,
    /// Our external IPv4 address, once the nodes that answer us agree on it (BEP 42).
    pub external_v4: Option<std::net::Ipv4Addr>,
}

/// Where bootstrapping stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Bootstrap {
    /// The self-lookup `lookup` is running; `backoff` is the wait if it reaches nobody.
    Running { lookup: LookupId, backoff: Duration },
    /// Nobody answered; try again at `at`.
    Waiting { at: Instant, backoff: Duration },
    /// The table has nodes (or there is nobody to ask).
    Done,
}

/// A DHT node. See the module documentation for the driving contract.
pub struct Dht {
    cfg: DhtConfig,
    id: NodeId,
    rng: SplitMix64,
    /// IPv4 and IPv6 routing tables.
    tables: [Table; 2],
    rpcs: Rpcs,
    lookups: Vec<Lookup>,
    next_lookup: u64,
    bootstrap: Bootstrap,
    tokens: Tokens,
    limit: RateLimit,
    store: PeerStore,
    /// Our external address by the votes of the nodes that answer us (BEP 42).
    voter: external_ip::IpVoter,
    out: VecDeque<Transmit>,
    events: VecDeque<DhtEvent>,
    stats: DhtStats,
}

/// 0 for IPv4, 1 for IPv6.
fn family(addr: &SocketAddr) -> usize {
    usize::from(addr.is_ipv6())
}

/// The address as IPv4 when it is an IPv4-mapped IPv6 address (dual-stack sockets report those).
fn canonical(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(v4.into(), v6.port()),
            None => addr,
        },
        SocketAddr::V4(_) => addr,
    }
}

impl Dht {
    /// A node with id `id` (use [`NodeId::for_ip`] when the external IP is known). If
    /// `cfg.bootstrap` is not empty, bootstrapping starts at once.
    pub fn new(cfg: DhtConfig, id: NodeId, seed: u64, now: Instant) -> Dht {
        Dht::start(cfg, id, seed, now, &[])
    }

    fn start(cfg: DhtConfig, id: NodeId, seed: u64, now: Instant, known: &[NodeInfo]) -> Dht {
        let mut rng = SplitMix64(seed);
        let tokens = Tokens::new(&mut rng, now);
        let limit = RateLimit::new(
            cfg.replies_per_sec_per_ip,
            cfg.reply_burst_per_ip,
            cfg.replies_per_sec,
            cfg.rate_limit_ips,
            now,
        );
        let store = PeerStore::new(id, cfg.max_hashes, cfg.max_peers_per_hash);
        let mut dht = Dht {
            cfg,
            id,
            rng,
            tables: [Table::new(id, now), Table::new(id, now)],
            rpcs: Rpcs::default(),
            lookups: Vec::new(),
            next_lookup: 1,
            bootstrap: Bootstrap::Done,
            tokens,
            limit,
            store,
            voter: external_ip::IpVoter::default(),
            out: VecDeque::new(),
            events: VecDeque::new(),
            stats: DhtStats::default(),
        };
        dht.start_bootstrap(known, BOOTSTRAP_RETRY, now);
        dht.drive(now);
        dht
    }

    /// Our node id.
    #[cfg(any(test, feature = "internals"))]
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// The configuration.
    #[cfg(any(test, feature = "internals"))]
    pub fn config(&self) -> &DhtConfig {
        &self.cfg
    }

    /// A datagram arrived from `from`.
    pub fn handle_datagram(&mut self, from: SocketAddr, bytes: &[u8], now: Instant) {
        self.stats.packets_in += 1;
        let from = canonical(from);
        if from.port() == 0 || (from.is_ipv6() && !self.cfg.ipv6) {
            self.stats.packets_ignored += 1;
            return;
        }
        match krpc::decode(bytes) {
            Err(e) => self.on_malformed(from, e, now),
            Ok(msg) => match msg.body {
                krpc::Body::Query { id, query } => {
                    self.on_query(from, msg.tid, id, query, msg.read_only, now)
                }
                krpc::Body::Response(r) => {
                    let answered = self.on_response(from, &msg.tid, r, msg.read_only, now);
                    if let (true, Some(ip)) = (answered, msg.ip) {
                        self.on_ip_vote(from, ip, now);
                    }
                }
                krpc::Body::Error { .. } => self.on_error(from, &msg.tid),
            },
        }
        self.drive(now);
    }

    /// Time passed: handles stalled and timed-out queries, refreshes, retries and sweeps.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.expire_rpcs(now);
        if let Bootstrap::Waiting { at, backoff } = self.bootstrap {
            if now >= at {
                self.start_bootstrap(&[], backoff, now);
            }
        }
        self.refresh_buckets(now);
        self.store.sweep(now);
        self.drive(now);
    }

    /// A node's address, learned outside the DHT (a peer's `port` message, or a router added at
    /// run time). It is pinged, and enters the table if it answers; with an empty table it seeds
    /// a bootstrap instead.
    pub fn add_node(&mut self, addr: SocketAddr, now: Instant) {
        let addr = canonical(addr);
        if addr.port() == 0 || (addr.is_ipv6() && !self.cfg.ipv6) || self.rpcs.waiting_on(addr) {
            return;
        }
        if self.tables.iter().any(|t| !t.is_empty()) {
            self.send_ping(addr, None, now);
        } else {
            // Nobody known yet: this node seeds the bootstrap, as a router would.
            let lookup = match self.bootstrap {
                Bootstrap::Running { lookup, .. } => lookup,
                _ => self.new_bootstrap(BOOTSTRAP_RETRY, now),
            };
            self.send_seed(addr, lookup, now);
        }
        self.drive(now);
    }

    /// A router learned after the start (for example a host name the driver resolved on another
    /// thread): it joins `bootstrap`, for this and every later bootstrap retry, and is asked at
    /// once while the table is empty.
    pub fn add_router(&mut self, addr: SocketAddr, now: Instant) {
        let addr = canonical(addr);
        if addr.port() == 0
            || (addr.is_ipv6() && !self.cfg.ipv6)
            || self.cfg.bootstrap.contains(&addr)
        {
            return;
        }
        self.cfg.bootstrap.push(addr);
        if self.tables.iter().all(Table::is_empty) {
            match self.bootstrap {
                Bootstrap::Running { lookup, .. } => self.send_seed(addr, lookup, now),
                // A new bootstrap with an empty table asks every router, this one included.
                _ => self.start_bootstrap(&[], BOOTSTRAP_RETRY, now),
            }
        }
        self.drive(now);
    }

    /// Starts a `get_peers` lookup for `info_hash`; peers arrive as [`DhtEvent::Peers`], the end
    /// as [`DhtEvent::LookupDone`]. `None` when `max_lookups` are already running.
    #[cfg(any(test, feature = "internals"))]
    pub fn get_peers(&mut self, info_hash: NodeId, now: Instant) -> Option<LookupId> {
        self.start_lookup(info_hash, lookup::Goal::GetPeers, now)
    }

    /// Looks `info_hash` up, then announces us as a peer on `port` to the (up to 8 per family)
    /// closest nodes that gave a token. With `implied_port`, nodes use the UDP source port of the
    /// announce instead (for NAT and uTP), and `port` is only a fallback for old nodes.
    pub fn announce(
        &mut self,
        info_hash: NodeId,
        port: u16,
        implied_port: bool,
        now: Instant,
    ) -> Option<LookupId> {
        let goal = lookup::Goal::Announce { port, implied_port };
        self.start_lookup(info_hash, goal, now)
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<DhtEvent> {
        self.events.pop_front()
    }

    /// When [`Dht::handle_timeout`] should next be called; `None` when nothing is scheduled.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let bootstrap = match self.bootstrap {
            Bootstrap::Waiting { at, .. } => Some(at),
            _ => None,
        };
        let refresh = self.tables.iter().filter_map(Table::next_refresh).min();
        [
            self.rpcs.next_deadline(),
            bootstrap,
            refresh,
            self.store.next_sweep(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Counters and sizes.
    pub fn stats(&self, now: Instant) -> DhtStats {
        let (good_v4, questionable_v4) = self.tables[0].counts(now);
        let (good_v6, questionable_v6) = self.tables[1].counts(now);
        let (stored_hashes, stored_peers) = self.store.counts();
        DhtStats {
            good_v4,
            questionable_v4,
            good_v6,
            questionable_v6,
            lookups: self.lookups.len(),
            queries_in_flight: self.rpcs.len(),
            stored_hashes,
            stored_peers,
            table_bytes: self.tables.iter().map(Table::memory_bytes).sum(),
            store_bytes: self.store.memory_bytes(),
            external_v4: self.voter.decided(),
            ..self.stats.clone()
        }
    }

    /// The routing table of one family (0 = IPv4, 1 = IPv6), for inspection.
    pub fn table(&self, v6: bool) -> &Table {
        &self.tables[usize::from(v6)]
    }

    /// Queues a datagram, unless the queue is full.
    fn push_transmit(&mut self, to: SocketAddr, bytes: Vec<u8>) -> bool {
        if self.out.len() >= MAX_QUEUED {
            self.stats.transmits_dropped += 1;
            return false;
        }
        self.out.push_back(Transmit { to, bytes });
        true
    }

    /// Whether `id` may be used for a node at `addr` (BEP 42, when enforced).
    fn id_ok(&self, id: &NodeId, addr: &SocketAddr) -> bool {
        *id != self.id && (!self.cfg.enforce_node_id || id.matches_ip(addr.ip()))
    }
}

#[cfg(test)]
#[path = "dht_tests.rs"]
mod tests;
