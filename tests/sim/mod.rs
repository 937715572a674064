//! A deterministic in-memory swarm: several sans-IO [`Engine`]s wired together by a simulated
//! network, disk and clock. No sockets, threads, sleeping or files; every `now` handed to an
//! engine is `base + sim_time`, and every random choice comes from one seeded generator, so a
//! run is reproducible from its seed.
//!
//! The loop jumps from event to event (chunk arrivals, disk completions, connects, closes) and
//! to each engine's own next deadline ([`Engine::poll_timeout`]), as the reactor does.

mod disk;
mod net;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use coracle::sansio::{MemoryStore, TorrentDisk};
use sha1::{Digest, Sha1};

use coracle::sansio::Bitfield;
use coracle::sansio::{
    Action, ConnId, DiskDone, Engine, EngineConfig, Event as EngineEvent, MagnetParams, PeerError,
    TorrentId, TorrentParams, TorrentStats,
};
use coracle::sansio::{Layout, BLOCK_SIZE};

use net::Link;

/// SplitMix64: small, fast and good enough for delivery order and chunk sizes.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }

    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

/// How one simulated peer behaves.
#[derive(Clone, Debug)]
pub struct NodeSpec {
    /// Starts with every piece (claims `have: full`).
    pub seeder: bool,
    /// Its storage is a corrupted copy of the payload: every block it uploads is wrong.
    pub corrupt: bool,
    /// Upload bandwidth of each of its links, bytes per second.
    pub up_bps: u64,
    /// One-way latency of its access link; a link's latency is the sum of both ends'.
    pub latency: Duration,
    /// Crashes (every link closes, its address stops answering) once it uploaded this much.
    pub vanish_after_upload: Option<u64>,
    /// Nodes it knows at start (`TorrentParams.peers`).
    pub peers: Vec<usize>,
    /// Extra addresses it knows at start (for example one where nobody listens).
    pub extra_peers: Vec<SocketAddr>,
    /// A leecher that starts from a magnet link: it fetches the metadata from its peers.
    pub magnet: bool,
    /// Serves metadata with one byte changed (its info dictionary fails the info-hash).
    pub corrupt_metadata: bool,
}

impl NodeSpec {
    pub fn seeder() -> NodeSpec {
        NodeSpec {
            seeder: true,
            corrupt: false,
            up_bps: 2 * 1024 * 1024,
            latency: Duration::from_millis(10),
            vanish_after_upload: None,
            peers: Vec::new(),
            extra_peers: Vec::new(),
            magnet: false,
            corrupt_metadata: false,
        }
    }

    pub fn leecher(peers: &[usize]) -> NodeSpec {
        NodeSpec {
            seeder: false,
            peers: peers.to_vec(),
            ..NodeSpec::seeder()
        }
    }
}

/// One engine and everything the simulator keeps for it.
pub struct Node {
    pub spec: NodeSpec,
    pub engine: Engine,
    pub torrent: TorrentId,
    /// The node's "disk": what Reads return and Verifies write to, run by the same
    /// [`coracle::sansio::execute`] as the pool's workers.
    pub disk: Arc<TorrentDisk>,
    pub store: Arc<MemoryStore>,
    /// Per piece: how many times a Verify succeeded.
    pub verified_ok: Vec<u32>,
    /// Per piece: how many blocks of it this node read to upload (requests it served).
    pub served: Vec<u32>,
    /// When each Verify that failed the hash was asked for.
    pub hash_failed_at: Vec<Duration>,
    pub alive: bool,
    pub completed_at: Option<Duration>,
    /// When a magnet leecher had its metadata.
    pub metadata_at: Option<Duration>,
    /// Connections whose outbox may hold bytes not yet handed to the network.
    writable: BTreeSet<ConnId>,
}

/// A connection an engine closed, as the simulator saw it.
#[derive(Clone, Debug)]
pub struct CloseRecord {
    pub at: Duration,
    pub node: usize,
    pub peer: Option<usize>,
    pub reason: PeerError,
}

/// Something scheduled for a simulated instant.
enum Event {
    /// A dial reaches its target's listener.
    Connect {
        from: usize,
        conn: ConnId,
        to: usize,
    },
    /// A dial fails (nobody listens there, or the listener refused).
    Refused { node: usize, conn: ConnId },
    /// A chunk of a byte stream arrives.
    Data {
        to: usize,
        conn: ConnId,
        bytes: Vec<u8>,
    },
    /// The other end closed: the socket reports it (after the data sent before the close).
    Closed { node: usize, conn: ConnId },
    /// A disk job finishes.
    Disk { node: usize, done: DiskDone },
}

/// The whole simulated swarm.
pub struct Sim {
    base: Instant,
    now: Duration,
    rng: Rng,
    pub payload: Vec<u8>,
    pub nodes: Vec<Node>,
    /// Open connections by their sending end: who is on the other side.
    links: BTreeMap<(usize, ConnId), Link>,
    /// Dials not yet connected, with their target (`None`: nobody listens there).
    dialling: BTreeMap<(usize, ConnId), Option<usize>>,
    events: BTreeMap<(Duration, u64), Event>,
    seq: u64,
    next_ephemeral: u16,
    pub closes: Vec<CloseRecord>,
    /// Every dial: when, by whom, to which address.
    pub dials: Vec<(Duration, usize, SocketAddr)>,
}

/// Where node `i` listens.
pub fn node_addr(i: usize) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 7000 + i as u16))
}

/// An address where nothing listens.
pub fn dead_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 6999))
}

impl Sim {
    /// A swarm sharing one random payload of `total` bytes in pieces of `piece_len`.
    pub fn new(seed: u64, piece_len: u32, total: usize, specs: &[NodeSpec]) -> Sim {
        let mut rng = Rng::new(seed);
        let payload = rng.bytes(total);
        let layout = Layout::new(piece_len, total as u64).expect("valid layout");
        let hashes: Arc<[[u8; 20]]> = payload
            .chunks(piece_len as usize)
            .map(|p| Sha1::digest(p).into())
            .collect();
        // A real info dictionary, so magnet leechers can fetch and verify it.
        let info = info_dict(total, piece_len, &hashes);
        let info_hash: [u8; 20] = Sha1::digest(&info).into();
        // The one real clock read: the origin of simulated time (only offsets from it matter).
        #[allow(clippy::disallowed_methods)]
        let base = Instant::now();
        let nodes = specs
            .iter()
            .enumerate()
            .map(|(i, spec)| {
                let content = Content {
                    info_hash,
                    info: &info,
                    payload: &payload,
                    hashes: &hashes,
                    layout,
                };
                new_node(i, spec, seed, &content, base)
            })
            .collect();
        Sim {
            base,
            now: Duration::ZERO,
            rng,
            payload,
            nodes,
            links: BTreeMap::new(),
            dialling: BTreeMap::new(),
            events: BTreeMap::new(),
            seq: 0,
            next_ephemeral: 40000,
            closes: Vec::new(),
            dials: Vec::new(),
        }
    }

    /// Simulated time since the start.
    pub fn elapsed(&self) -> Duration {
        self.now
    }

    fn instant(&self) -> Instant {
        self.base + self.now
    }

    pub fn stats(&self, node: usize) -> TorrentStats {
        let n = &self.nodes[node];
        n.engine.stats(n.torrent).expect("torrent exists")
    }

    pub fn is_complete(&self, node: usize) -> bool {
        let s = self.stats(node);
        // A magnet knows no pieces before its metadata: zero of zero is not complete.
        s.pieces_total > 0 && s.pieces_done == s.pieces_total
    }

    /// Whether `node` has banned the listen address of `culprit`.
    pub fn has_banned(&self, node: usize, culprit: usize) -> bool {
        let n = &self.nodes[node];
        n.engine.is_banned(n.torrent, &node_addr(culprit))
    }

    /// Whether `a` has an open connection to `b`.
    pub fn connected(&self, a: usize, b: usize) -> bool {
        self.links
            .iter()
            .any(|(&(n, _), l)| n == a && l.peer.0 == b)
    }

    /// Sets which pieces `node` fetches, as a session does from its files' priorities.
    pub fn set_wants(&mut self, node: usize, wants: coracle::sansio::PieceWants) {
        let now = self.instant();
        let n = &mut self.nodes[node];
        n.engine.set_wants(n.torrent, wants, now);
        self.settle();
    }

    /// Tells `node`'s engine about more peers, as a tracker or the user would.
    pub fn add_peers(&mut self, node: usize, peers: &[usize]) {
        let addrs: Vec<SocketAddr> = peers.iter().map(|&p| node_addr(p)).collect();
        let now = self.instant();
        let n = &mut self.nodes[node];
        n.engine.add_peers(n.torrent, &addrs, now);
    }

    fn schedule(&mut self, after: Duration, ev: Event) {
        self.seq += 1;
        self.events.insert((self.now + after, self.seq), ev);
    }

    /// Runs until `done` holds or `limit` of simulated time has passed; true when `done` held.
    pub fn run_until(&mut self, limit: Duration, done: impl Fn(&Sim) -> bool) -> bool {
        self.settle();
        while !done(self) {
            if self.now >= limit {
                return false;
            }
            self.step(limit);
        }
        true
    }

    /// The earliest deadline of any live engine, in simulated time.
    fn next_deadline(&self) -> Option<Duration> {
        self.nodes
            .iter()
            .filter(|n| n.alive)
            .filter_map(|n| n.engine.poll_timeout())
            .map(|at| at.saturating_duration_since(self.base))
            .min()
    }

    /// Advances to the next event or engine deadline (or by 1 ms while a sender waits for
    /// buffer room) and processes everything due then.
    fn step(&mut self, limit: Duration) {
        let mut next = self.next_deadline().unwrap_or(limit);
        if let Some((&(t, _), _)) = self.events.first_key_value() {
            next = next.min(t);
        }
        if self.nodes.iter().any(|n| n.alive && !n.writable.is_empty()) {
            next = next.min(self.now + Duration::from_millis(1));
        }
        self.now = next.max(self.now).min(limit);
        while let Some(entry) = self.events.first_entry() {
            if entry.key().0 > self.now {
                break;
            }
            let ev = entry.remove();
            self.deliver(ev);
            self.settle();
        }
        let now = self.instant();
        for n in self.nodes.iter_mut().filter(|n| n.alive) {
            if n.engine.poll_timeout().is_some_and(|at| at <= now) {
                n.engine.handle_timeout(now);
            }
        }
        self.settle();
    }

    fn deliver(&mut self, ev: Event) {
        match ev {
            Event::Connect { from, conn, to } => self.on_connect(from, conn, to),
            Event::Refused { node, conn } => self.on_refused(node, conn),
            Event::Data { to, conn, bytes } => self.on_data(to, conn, &bytes),
            Event::Closed { node, conn } => self.on_peer_closed(node, conn),
            Event::Disk { node, done } => {
                let now = self.instant();
                let n = &mut self.nodes[node];
                if n.alive {
                    n.engine.handle_disk(done, now);
                }
            }
        }
    }

    /// Drains every engine's actions and outboxes until nothing new comes out; then crashes any
    /// node that has uploaded its quota.
    fn settle(&mut self) {
        loop {
            let mut busy = false;
            for i in 0..self.nodes.len() {
                if !self.nodes[i].alive {
                    continue;
                }
                while let Some(a) = self.nodes[i].engine.poll_action() {
                    busy = true;
                    self.on_action(i, a);
                }
                self.write_outboxes(i);
            }
            if !busy {
                break;
            }
        }
        for i in 0..self.nodes.len() {
            let quota = self.nodes[i].spec.vanish_after_upload;
            if self.nodes[i].alive && quota.is_some_and(|q| self.stats(i).uploaded >= q) {
                self.vanish(i);
            }
        }
    }

    fn on_action(&mut self, node: usize, action: Action) {
        match action {
            Action::Connect { conn, addr } => self.dial(node, conn, addr),
            Action::Close { conn, reason } => self.close(node, conn, reason),
            Action::Disk(req) => self.disk(node, req),
            Action::Event(EngineEvent::Completed { .. }) => {
                self.nodes[node].completed_at.get_or_insert(self.now);
            }
            Action::Event(_) => {}
            Action::MetadataReceived { torrent, info } => {
                self.metadata_received(node, torrent, &info)
            }
            Action::Announce { url, .. } => panic!("node {node} announced to {url}: no trackers"),
            Action::Datagram(d) => panic!("node {node} sent a datagram to {}: no DHT", d.to),
            Action::SaveDhtState(_) => panic!("node {node} saved a DHT state: no DHT"),
            Action::WebSeed(r) => panic!("node {node} asked web seed {}: none", r.seed),
        }
    }

    /// Checks that `node` holds the whole payload, each piece verified OK exactly once.
    pub fn assert_complete(&self, node: usize) {
        let n = &self.nodes[node];
        assert!(
            self.is_complete(node),
            "node {node} incomplete: {:?}",
            self.stats(node)
        );
        let wrong: Vec<(usize, u32)> = (0..n.verified_ok.len())
            .map(|p| (p, n.verified_ok[p]))
            .filter(|&(_, c)| c != 1)
            .collect();
        assert!(
            wrong.is_empty(),
            "node {node}: pieces verified OK != once: {wrong:?}"
        );
        assert!(
            n.store.to_vec() == self.payload,
            "node {node}: storage differs from the payload"
        );
    }

    /// Piece payload sent by everyone beyond what the leechers needed, in blocks.
    pub fn wasted_blocks(&self, leechers: usize) -> u64 {
        let sent: u64 = (0..self.nodes.len()).map(|i| self.stats(i).uploaded).sum();
        let needed = self.payload.len() as u64 * leechers as u64;
        sent.saturating_sub(needed) / u64::from(BLOCK_SIZE)
    }
}

/// The torrent every node shares.
struct Content<'a> {
    info_hash: [u8; 20],
    info: &'a [u8],
    payload: &'a [u8],
    hashes: &'a Arc<[[u8; 20]]>,
    layout: Layout,
}

fn new_node(i: usize, spec: &NodeSpec, seed: u64, c: &Content, base: Instant) -> Node {
    let (payload, layout) = (c.payload, c.layout);
    let mut peer_id = *b"-SM0001-000000000000";
    peer_id[8..].copy_from_slice(format!("{i:012}").as_bytes());
    let mut cfg = EngineConfig::default();
    cfg.peer_id = peer_id;
    cfg.listen_port = node_addr(i).port();
    cfg.seed = seed ^ (i as u64 + 1).wrapping_mul(0x2545_f491_4f6c_dd1d);
    let n = layout.num_pieces();
    let store = Arc::new(MemoryStore::new(match (spec.seeder, spec.corrupt) {
        (true, false) => payload.to_vec(),
        (true, true) => corrupted(payload),
        (false, _) => vec![0; payload.len()],
    }));
    let disk = Arc::new(TorrentDisk {
        layout,
        hashes: c.hashes.clone(),
        store: store.clone(),
        resume: Default::default(),
    });
    let peers: Vec<SocketAddr> = spec
        .peers
        .iter()
        .map(|&p| node_addr(p))
        .chain(spec.extra_peers.iter().copied())
        .collect();
    let mut info = c.info.to_vec();
    if spec.corrupt_metadata {
        // A byte inside `pieces`, so the dictionary still parses but hashes wrong.
        let last = info.len() - 2;
        info[last] ^= 0xff;
    }
    let mut engine = Engine::new(cfg);
    let torrent = if spec.magnet {
        let params = MagnetParams {
            info_hash: c.info_hash,
            trackers: Vec::new(),
            peers,
        };
        engine.insert_magnet(i + 1, params, base);
        i + 1
    } else {
        let params = TorrentParams {
            info_hash: c.info_hash,
            layout,
            trackers: Vec::new(),
            peers,
            have: if spec.seeder {
                Bitfield::full(n)
            } else {
                Bitfield::new(n)
            },
            recheck: false,
            check: None,
            info: Some(info.into()),
            private: false,
        };
        engine.add_torrent(params, base)
    };
    Node {
        spec: spec.clone(),
        engine,
        torrent,
        disk,
        store,
        verified_ok: vec![0; n as usize],
        served: vec![0; n as usize],
        hash_failed_at: Vec::new(),
        alive: true,
        completed_at: None,
        metadata_at: None,
        writable: BTreeSet::new(),
    }
}

/// The payload with one byte flipped in every block: every `piece` message it backs is wrong.
fn corrupted(payload: &[u8]) -> Vec<u8> {
    let mut bad = payload.to_vec();
    for start in (0..bad.len()).step_by(BLOCK_SIZE as usize) {
        let i = (start + 7).min(bad.len() - 1);
        bad[i] ^= 0xa5;
    }
    bad
}

/// A single-file info dictionary for the payload, keys in bencode order.
fn info_dict(total: usize, piece_len: u32, hashes: &[[u8; 20]]) -> Vec<u8> {
    let mut d =
        format!("d6:lengthi{total}e4:name3:sim12:piece lengthi{piece_len}e6:pieces").into_bytes();
    d.extend(format!("{}:", hashes.len() * 20).bytes());
    for h in hashes {
        d.extend_from_slice(h);
    }
    d.push(b'e');
    d
}

impl Sim {
    /// A magnet leecher fetched the metadata: its "storage" is already there (memory), so the
    /// torrent goes on at once, as a reactor does once the files are created.
    fn metadata_received(&mut self, node: usize, torrent: TorrentId, info: &[u8]) {
        let now = self.instant();
        let meta = coracle::Metainfo::from_info_bytes(info).expect("verified metadata");
        let n = &mut self.nodes[node];
        n.metadata_at = Some(self.now);
        n.engine
            .attach_metadata(torrent, meta.layout(), meta.private, false, None, now);
    }
}
