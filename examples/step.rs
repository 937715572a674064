//! Driving the sans-IO [`Engine`] from your own loop: no sockets, files or threads of coracle's.
//!
//! Two engines, a seeder and a leecher, are wired together through in-memory byte pipes. This
//! loop plays the shell: it "connects" them, carries outbox bytes across, executes disk actions
//! inline with the pool's own [`execute`] over a [`MemoryStore`] per engine, and moves a
//! simulated clock straight to the engines' next deadline ([`Engine::poll_timeout`]), so the
//! run is fast and deterministic.
//!
//! ```text
//! cargo run --example step
//! ```

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use coracle::sansio::{
    execute, Action, Bitfield, ConnId, Engine, EngineConfig, Event, Layout, MemoryStore,
    TorrentDisk, TorrentId, TorrentParams,
};
use sha1::{Digest, Sha1};

const SEEDER: usize = 0;
const LEECHER: usize = 1;
/// Where each node pretends to listen; only used to tell which node a dial is for.
const ADDRS: [([u8; 4], u16); 2] = [([127, 0, 0, 1], 7001), ([127, 0, 0, 1], 7002)];

/// One engine and the state its shell keeps: the torrent's bytes and the other ends of its
/// connections.
struct Node {
    engine: Engine,
    torrent: TorrentId,
    /// The torrent's bytes, behind the same disk code the pool's workers run.
    store: Arc<MemoryStore>,
    disk: Arc<TorrentDisk>,
    /// Our connection id -> (other node, its connection id).
    links: HashMap<ConnId, (usize, ConnId)>,
}

fn main() {
    let payload: Vec<u8> = (0..1_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let layout = Layout::new(32 * 1024, payload.len() as u64).expect("valid layout");
    let hashes: Arc<[[u8; 20]]> = payload
        .chunks(32 * 1024)
        .map(|c| Sha1::digest(c).into())
        .collect();
    // This loop is the shell: it reads the clock once, then hands the engine simulated `now`s.
    #[allow(clippy::disallowed_methods)]
    let start = Instant::now();
    let mut nodes = [
        node(SEEDER, payload.clone(), true, layout, &hashes, start),
        node(
            LEECHER,
            vec![0; payload.len()],
            false,
            layout,
            &hashes,
            start,
        ),
    ];
    let mut now = start;
    let mut done = false;
    for round in 0..10_000 {
        for n in nodes.iter_mut() {
            if n.engine.poll_timeout().is_some_and(|at| at <= now) {
                n.engine.handle_timeout(now);
            }
        }
        done |= settle(&mut nodes, now);
        if done {
            println!(
                "leecher complete after {} wake-up(s), {:?} of simulated time",
                round + 1,
                now - start
            );
            break;
        }
        // Sleep until the earliest deadline, as a reactor would; none means nothing can happen.
        match nodes.iter().filter_map(|n| n.engine.poll_timeout()).min() {
            Some(at) => now = now.max(at),
            None => break,
        }
    }
    let stats = nodes[LEECHER]
        .engine
        .stats(nodes[LEECHER].torrent)
        .expect("torrent exists");
    println!(
        "leecher: {}/{} pieces, {} bytes downloaded",
        stats.pieces_done, stats.pieces_total, stats.downloaded
    );
    assert!(
        done && nodes[LEECHER].store.to_vec() == payload,
        "the download did not finish intact"
    );
    println!("bytes identical: ok");
}

/// An engine with one torrent: complete for the seeder, empty (and told where the seeder is)
/// for the leecher.
fn node(
    i: usize,
    bytes: Vec<u8>,
    seeder: bool,
    layout: Layout,
    hashes: &Arc<[[u8; 20]]>,
    now: Instant,
) -> Node {
    let mut cfg = EngineConfig::default();
    cfg.listen_port = ADDRS[i].1;
    cfg.peer_id[19] = b'0' + i as u8;
    let n = layout.num_pieces();
    let params = TorrentParams {
        info_hash: *b"step-example-hash-20",
        layout,
        trackers: Vec::new(),
        peers: if seeder {
            vec![]
        } else {
            vec![SocketAddr::from(ADDRS[SEEDER])]
        },
        have: if seeder {
            Bitfield::full(n)
        } else {
            Bitfield::new(n)
        },
        recheck: false,
        info: None,
        private: false,
        check: None,
    };
    let mut engine = Engine::new(cfg);
    let torrent = engine.add_torrent(params, now);
    let store = Arc::new(MemoryStore::new(bytes));
    let disk = Arc::new(TorrentDisk {
        layout,
        hashes: hashes.clone(),
        store: store.clone(),
        resume: Default::default(),
    });
    Node {
        engine,
        torrent,
        store,
        disk,
        links: HashMap::new(),
    }
}

/// Runs every engine's actions and carries every outbox across until nothing moves; returns
/// whether the leecher reported completion.
fn settle(nodes: &mut [Node; 2], now: Instant) -> bool {
    let mut completed = false;
    loop {
        let mut busy = false;
        for i in 0..nodes.len() {
            while let Some(action) = nodes[i].engine.poll_action() {
                busy = true;
                completed |= act(nodes, i, action, now);
            }
            busy |= deliver(nodes, i, now);
        }
        if !busy {
            return completed;
        }
    }
}

/// Carries out one action of node `i`; returns true for the leecher's completion event.
fn act(nodes: &mut [Node; 2], i: usize, action: Action, now: Instant) -> bool {
    match action {
        Action::Connect { conn, addr } => {
            let to = ADDRS
                .iter()
                .position(|a| SocketAddr::from(*a) == addr)
                .expect("known node");
            let from = SocketAddr::from(ADDRS[i]);
            match nodes[to].engine.handle_incoming(from, now) {
                Some(accepted) => {
                    nodes[i].links.insert(conn, (to, accepted));
                    nodes[to].links.insert(accepted, (i, conn));
                    nodes[i].engine.handle_connected(conn, now);
                }
                None => nodes[i].engine.handle_closed(conn, "refused".into(), now),
            }
        }
        Action::Close { conn, reason } => {
            println!("node {i} closed connection {conn}: {reason}");
            if let Some((to, theirs)) = nodes[i].links.remove(&conn) {
                nodes[to].links.remove(&theirs);
                nodes[to]
                    .engine
                    .handle_closed(theirs, "closed by peer".into(), now);
            }
        }
        Action::Disk(req) => {
            // Inline here; a real shell runs this on the pool's worker threads.
            if let Some(done) = execute(req, &nodes[i].disk, &mut Vec::new()) {
                nodes[i].engine.handle_disk(done, now);
            }
        }
        Action::Event(Event::Completed { .. }) => return i == LEECHER,
        Action::MetadataReceived { .. } => unreachable!("no magnet links in this example"),
        Action::Event(_) => {}
        Action::Announce { .. } => unreachable!("no trackers in this example"),
        Action::Datagram(_) | Action::SaveDhtState(_) => unreachable!("no DHT in this example"),
        Action::WebSeed(_) => unreachable!("no web seeds in this example"),
    }
    false
}

/// Moves the bytes of node `i`'s grown outboxes to the other ends; returns whether any moved.
fn deliver(nodes: &mut [Node; 2], i: usize, now: Instant) -> bool {
    let mut dirty = Vec::new();
    nodes[i].engine.take_dirty(&mut dirty);
    let mut moved = false;
    for conn in dirty {
        let Some(&(to, theirs)) = nodes[i].links.get(&conn) else {
            continue; // not connected (yet, or any more): bytes wait or are dropped
        };
        let bytes = match nodes[i].engine.outbox(conn) {
            Some(out) if !out.is_empty() => out.take_bytes(),
            _ => continue,
        };
        moved = true;
        nodes[to].engine.handle_data(theirs, &bytes, now);
        // An in-memory pipe takes everything at once: the outbox is always fully written.
        nodes[i].engine.handle_written(conn, now);
    }
    moved
}
