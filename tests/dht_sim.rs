//! A deterministic in-memory simulation of a DHT network: 1,000 nodes on a virtual clock, 5%
//! packet loss, some nodes answering garbage and some lying about the network. Nothing touches a
//! socket; the 10/8 addresses exist only inside this file's packet queue.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use coracle::internals::dht::krpc::{decode, Blob, Body, Message, NodeInfo, Response};
use coracle::internals::dht::{Dht, DhtConfig, DhtEvent, LookupId, NodeId};
use coracle::internals::rng::SplitMix64;

/// Bootstrap routers: the first nodes.
const ROUTERS: usize = 4;
/// Percent of datagrams lost.
const LOSS_PCT: u64 = 5;

enum Kind {
    Honest(Box<Dht>),
    /// Answers every datagram with random bytes.
    Garbage,
    /// Answers queries correctly in form, with nodes that do not exist.
    Liar(NodeId),
}

struct Packet {
    at: u64,
    seq: u64,
    from: SocketAddr,
    to: SocketAddr,
    bytes: Vec<u8>,
}

impl PartialEq for Packet {
    fn eq(&self, o: &Packet) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for Packet {}
impl PartialOrd for Packet {
    fn partial_cmp(&self, o: &Packet) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Packet {
    fn cmp(&self, o: &Packet) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(o.at, o.seq))
    }
}

struct Net {
    t0: Instant,
    now: u64,
    rng: SplitMix64,
    nodes: Vec<(SocketAddr, Kind)>,
    index: HashMap<SocketAddr, usize>,
    packets: BinaryHeap<Reverse<Packet>>,
    timers: BinaryHeap<Reverse<(u64, usize)>>,
    scheduled: Vec<Option<u64>>,
    events: Vec<(usize, DhtEvent)>,
    seq: u64,
    delivered: u64,
    checksum: u64,
}

fn addr_of(i: usize) -> SocketAddr {
    SocketAddr::from(([10, (i >> 16) as u8, (i >> 8) as u8, i as u8], 6881))
}

impl Net {
    fn at(&self, us: u64) -> Instant {
        self.t0 + Duration::from_micros(us)
    }

    fn us(&self, t: Instant) -> u64 {
        (t.saturating_duration_since(self.t0).as_micros() as u64).max(self.now)
    }

    fn send(&mut self, from: SocketAddr, to: SocketAddr, bytes: Vec<u8>) {
        let latency = 10_000 + self.rng.next_u64() % 90_000;
        self.seq += 1;
        let p = Packet {
            at: self.now + latency,
            seq: self.seq,
            from,
            to,
            bytes,
        };
        self.packets.push(Reverse(p));
    }

    /// Moves a node's output into the network and its deadline into the timer heap.
    fn flush(&mut self, i: usize) {
        let from = self.nodes[i].0;
        let Kind::Honest(d) = &mut self.nodes[i].1 else {
            return;
        };
        let mut out = Vec::new();
        while let Some(t) = d.poll_transmit() {
            out.push(t);
        }
        while let Some(e) = d.poll_event() {
            self.events.push((i, e));
        }
        let next = d.poll_timeout();
        for t in out {
            self.send(from, t.to, t.bytes);
        }
        if let Some(t) = next {
            let t = self.us(t);
            if self.scheduled[i] != Some(t) {
                self.scheduled[i] = Some(t);
                self.timers.push(Reverse((t, i)));
            }
        }
    }

    fn dht(&mut self, i: usize) -> &mut Dht {
        match &mut self.nodes[i].1 {
            Kind::Honest(d) => d,
            _ => panic!("node {i} is not honest"),
        }
    }

    fn run_until(&mut self, end: u64) {
        loop {
            let p = self.packets.peek().map(|p| p.0.at);
            let t = self.timers.peek().map(|t| t.0 .0);
            let next = match (p, t) {
                (Some(p), Some(t)) => p.min(t),
                (Some(x), None) | (None, Some(x)) => x,
                (None, None) => break,
            };
            if next > end {
                break;
            }
            self.now = next;
            if t == Some(next) {
                let Reverse((at, i)) = self.timers.pop().unwrap();
                if self.scheduled[i] == Some(at) {
                    self.scheduled[i] = None;
                    let now = self.at(at);
                    self.dht(i).handle_timeout(now);
                    self.flush(i);
                }
            } else {
                let Reverse(p) = self.packets.pop().unwrap();
                self.deliver(p);
            }
        }
        self.now = self.now.max(end);
    }

    fn deliver(&mut self, p: Packet) {
        if self.rng.next_u64() % 100 < LOSS_PCT {
            return;
        }
        let Some(&i) = self.index.get(&p.to) else {
            return;
        };
        self.delivered += 1;
        for b in &p.bytes {
            self.checksum = self.checksum.rotate_left(5) ^ u64::from(*b);
        }
        let now = self.at(self.now);
        match &mut self.nodes[i].1 {
            Kind::Honest(d) => {
                d.handle_datagram(p.from, &p.bytes, now);
                self.flush(i);
            }
            Kind::Garbage => {
                let len = 1 + self.rng.next_u64() % 100;
                let junk = (0..len).map(|_| self.rng.next_u64() as u8).collect();
                self.send(p.to, p.from, junk);
            }
            Kind::Liar(id) => {
                let id = *id;
                if let Some(reply) = self.lie(id, &p.bytes) {
                    self.send(p.to, p.from, reply);
                }
            }
        }
    }

    /// A well-formed answer naming 8 nodes that do not exist (and a token).
    fn lie(&mut self, id: NodeId, query: &[u8]) -> Option<Vec<u8>> {
        let q = decode(query).ok()?;
        let Body::Query { .. } = q.body else {
            return None;
        };
        let nodes = (0..8)
            .map(|_| NodeInfo {
                id: NodeId::random(&mut self.rng),
                addr: SocketAddr::from(([10, 250, self.rng.next_u64() as u8, 1], 6881)),
            })
            .collect();
        let r = Response {
            id,
            nodes,
            values: Vec::new(),
            token: Blob::new(b"lie"),
        };
        Some(
            Message {
                tid: q.tid,
                body: Body::Response(r),
                read_only: false,
                ip: None,
            }
            .encode(),
        )
    }
}

#[derive(Debug, PartialEq)]
struct Figures {
    nodes: usize,
    lookups: usize,
    found_peers: usize,
    exact_closest: usize,
    closest_overlap: usize,
    max_rounds: u8,
    avg_rounds_x10: u64,
    avg_queries_x10: u64,
    avg_table_entries_x10: u64,
    avg_table_bytes: u64,
    announced_to_avg_x10: u64,
    virtual_secs: u64,
    delivered: u64,
    checksum: u64,
}

fn build(n: usize, seed: u64) -> (Net, Vec<usize>) {
    let mut rng = SplitMix64(seed);
    let routers: Vec<SocketAddr> = (0..ROUTERS).map(addr_of).collect();
    // The one real clock read: the origin of virtual time (only offsets from it matter).
    #[allow(clippy::disallowed_methods)]
    let t0 = Instant::now();
    let mut net = Net {
        t0,
        now: 0,
        rng: SplitMix64(seed ^ 0x5eed),
        nodes: Vec::new(),
        index: HashMap::new(),
        packets: BinaryHeap::new(),
        timers: BinaryHeap::new(),
        scheduled: vec![None; n],
        events: Vec::new(),
        seq: 0,
        delivered: 0,
        checksum: 0,
    };
    let mut honest = Vec::new();
    for i in 0..n {
        let addr = addr_of(i);
        let id = NodeId::random(&mut rng);
        // 1 in 40 answers garbage, 1 in 40 lies (never the routers).
        let kind = match (i >= ROUTERS, i % 40) {
            (true, 7) => Kind::Garbage,
            (true, 23) => Kind::Liar(id),
            _ => {
                honest.push(i);
                let cfg = DhtConfig {
                    bootstrap: routers.iter().copied().filter(|r| *r != addr).collect(),
                    ..DhtConfig::default()
                };
                Kind::Honest(Box::new(Dht::new(cfg, id, rng.next_u64(), net.t0)))
            }
        };
        net.index.insert(addr, i);
        net.nodes.push((addr, kind));
    }
    for &i in &honest {
        net.run_until(i as u64 * 20_000);
        // Joins are staggered 20 ms apart: the node made above (never polled) is replaced by one
        // started at its join time.
        let Kind::Honest(d) = &net.nodes[i].1 else {
            unreachable!()
        };
        let cfg = d.config().clone();
        let id = d.id();
        let now = net.at(net.now);
        net.nodes[i].1 = Kind::Honest(Box::new(Dht::new(cfg, id, seed ^ i as u64, now)));
        net.flush(i);
    }
    (net, honest)
}

/// The `k` closest ids to `target` by brute force over the nodes a lookup by `asker` can find:
/// honest nodes other than the asker and the routers (routers never enter routing tables, and
/// liars and garbage nodes never query anyone, so nobody learns of them).
fn closest_true(net: &Net, asker: usize, target: &NodeId, k: usize) -> Vec<NodeId> {
    let mut ids: Vec<NodeId> = net
        .nodes
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != asker && *i >= ROUTERS)
        .filter_map(|(_, (_, kind))| match kind {
            Kind::Honest(d) => Some(d.id()),
            _ => None,
        })
        .collect();
    ids.sort_by(|a, b| target.cmp_distance(a, b));
    ids.truncate(k);
    ids
}

fn simulate(n: usize, seed: u64, lookups: usize) -> Figures {
    let (mut net, honest) = build(n, seed);
    // The network runs for 16 minutes before the test: long enough for one round of bucket
    // refreshes, so the tables look like those of a network that has been up a while.
    let settle = net.now + 16 * 60 * 1_000_000;
    net.run_until(settle);
    let mut rng = SplitMix64(seed ^ 0xface);
    let info_hash = NodeId::random(&mut rng);
    let mut announced = HashSet::new();
    for k in 0..10 {
        let i = honest[(rng.next_u64() as usize) % honest.len()];
        let port = 7000 + k as u16;
        let now = net.at(net.now);
        net.dht(i)
            .announce(info_hash, port, false, now)
            .expect("lookup slot");
        net.flush(i);
        announced.insert(SocketAddr::new(net.nodes[i].0.ip(), port));
    }
    net.run_until(net.now + 30_000_000);
    let announce_done: Vec<usize> = net
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            DhtEvent::LookupDone { announced_to, .. } => Some(*announced_to),
            _ => None,
        })
        .collect();
    assert_eq!(announce_done.len(), 10, "every announce finished");
    net.events.clear();
    let start = net.now;
    let mut mine: HashMap<(usize, LookupId), NodeId> = HashMap::new();
    for k in 0..lookups {
        let i = honest[(rng.next_u64() as usize) % honest.len()];
        // Half look for the torrent, half for random ids.
        let target = if k % 2 == 0 {
            info_hash
        } else {
            NodeId::random(&mut rng)
        };
        let now = net.at(net.now);
        let id = net.dht(i).get_peers(target, now).expect("lookup slot");
        mine.insert((i, id), target);
        net.flush(i);
    }
    net.run_until(start + 60_000_000);
    summarize(
        &net,
        &mine,
        &announced,
        info_hash,
        &announce_done,
        honest.len(),
    )
}

fn summarize(
    net: &Net,
    mine: &HashMap<(usize, LookupId), NodeId>,
    announced: &HashSet<SocketAddr>,
    info_hash: NodeId,
    announce_done: &[usize],
    honest: usize,
) -> Figures {
    let mut peers: HashMap<(usize, LookupId), HashSet<SocketAddr>> = HashMap::new();
    let (mut done, mut exact, mut overlap, mut found, mut max_rounds) = (0, 0, 0, 0, 0);
    let (mut rounds, mut queries) = (0u64, 0u64);
    let mut end = 0;
    for (i, e) in &net.events {
        match e {
            DhtEvent::Peers {
                lookup, peers: p, ..
            } => peers
                .entry((*i, *lookup))
                .or_default()
                .extend(p.iter().copied()),
            DhtEvent::LookupDone {
                lookup,
                closest,
                rounds: r,
                queries: q,
                ..
            } => {
                let Some(target) = mine.get(&(*i, *lookup)) else {
                    continue;
                };
                done += 1;
                let truth = closest_true(net, *i, target, 8);
                let got: Vec<NodeId> = closest.iter().map(|n| n.id).collect();
                exact += usize::from(got == truth);
                overlap += got.iter().filter(|id| truth.contains(id)).count();
                max_rounds = max_rounds.max(*r);
                rounds += u64::from(*r);
                queries += u64::from(*q);
                if *target == info_hash {
                    let p = peers.get(&(*i, *lookup)).cloned().unwrap_or_default();
                    found += usize::from(!p.is_empty() && p.is_subset(announced));
                }
                end = end.max(net.now);
            }
        }
    }
    assert_eq!(done, mine.len(), "every lookup finished");
    let tables: Vec<(usize, usize)> = net
        .nodes
        .iter()
        .filter_map(|(_, k)| match k {
            Kind::Honest(d) => {
                let s = d.stats(net.at(net.now));
                Some((s.good_v4 + s.questionable_v4, s.table_bytes))
            }
            _ => None,
        })
        .collect();
    let n = done.max(1) as u64;
    Figures {
        nodes: net.nodes.len(),
        lookups: done,
        found_peers: found,
        exact_closest: exact,
        closest_overlap: overlap,
        max_rounds,
        avg_rounds_x10: rounds * 10 / n,
        avg_queries_x10: queries * 10 / n,
        avg_table_entries_x10: tables.iter().map(|t| t.0 as u64).sum::<u64>() * 10 / honest as u64,
        avg_table_bytes: tables.iter().map(|t| t.1 as u64).sum::<u64>() / honest as u64,
        announced_to_avg_x10: announce_done.iter().sum::<usize>() as u64 * 10
            / announce_done.len().max(1) as u64,
        virtual_secs: net.now / 1_000_000,
        delivered: net.delivered,
        checksum: net.checksum,
    }
}

fn print(f: &Figures) {
    let x10 = |v: u64| format!("{}.{}", v / 10, v % 10);
    println!(
        "dht sim: {} nodes, {} lookups: {} reached the exact 8 closest, {:.1}% of the true 8 closest \
         found; {}/{} torrent lookups found announced peers",
        f.nodes,
        f.lookups,
        f.exact_closest,
        f.closest_overlap as f64 * 100.0 / (f.lookups * 8) as f64,
        f.found_peers,
        f.lookups.div_ceil(2),
    );
    println!(
        "  rounds avg {} max {}; queries per lookup {}; announces acked per announcer {}",
        x10(f.avg_rounds_x10),
        f.max_rounds,
        x10(f.avg_queries_x10),
        x10(f.announced_to_avg_x10),
    );
    println!(
        "  routing table: {} entries, {} bytes per node; {} datagrams delivered in {} virtual s",
        x10(f.avg_table_entries_x10),
        f.avg_table_bytes,
        f.delivered,
        f.virtual_secs,
    );
}

#[test]
fn thousand_nodes_find_the_closest_and_the_announced_peers() {
    let f = simulate(1000, 42, 40);
    print(&f);
    assert_eq!(f.lookups, 40);
    assert!(
        f.found_peers >= 19,
        "torrent lookups finding peers: {}",
        f.found_peers
    );
    assert!(
        f.closest_overlap * 100 >= f.lookups * 8 * 95,
        "overlap {}",
        f.closest_overlap
    );
    assert!(
        f.exact_closest * 10 >= f.lookups * 8,
        "exact {}",
        f.exact_closest
    );
    assert!(f.max_rounds <= 8, "rounds {}", f.max_rounds);
    assert!(f.avg_queries_x10 <= 600, "queries {}", f.avg_queries_x10);
    assert!(f.avg_table_entries_x10 >= 200, "tables too small");
}

#[test]
fn same_seed_same_run() {
    let a = simulate(200, 7, 10);
    let b = simulate(200, 7, 10);
    assert_eq!(a, b);
    assert_ne!(a.checksum, simulate(200, 8, 10).checksum);
}
