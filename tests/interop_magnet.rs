//! Magnet links and peer exchange with real clients: coracle downloads a magnet whose metadata
//! comes from a libtorrent, aria2 or transmission seeder; libtorrent and aria2 download a magnet
//! whose metadata comes from a coracle seeder; coracle learns a peer through libtorrent's PEX and
//! libtorrent learns one through coracle's. Every download is compared byte for byte.
//!
//! Everything runs on loopback, each program on its own 127.0.0.x, with DHT, local discovery,
//! UPnP and NAT-PMP off (PEX on only where a test is about it). A missing tool skips a test,
//! except under CI (`CI=true`), where it fails.

// Test code drives real sockets, threads, files, processes and clocks.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

#[path = "interop/aria2.rs"]
#[allow(dead_code)]
mod aria2;
#[path = "interop/coracle.rs"]
mod coracle_side;
#[path = "support/payload.rs"]
mod generated;
#[path = "interop/harness.rs"]
mod harness;
#[path = "interop/libtorrent.rs"]
#[allow(dead_code)]
mod libtorrent;
#[path = "interop/opentracker.rs"]
#[allow(dead_code)]
mod opentracker;
#[path = "interop/payload.rs"]
#[allow(dead_code)]
mod payload;
#[path = "interop/transmission.rs"]
#[allow(dead_code)]
mod transmission;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use coracle::{AddOptions, Session, SessionConfig, TorrentSource};
use harness::{free_port, have, loopback, Ctx, Tool, PYTHON};
use opentracker::{hex, Tracker};
use payload::{Payload, Shape};

const TIMEOUT: Duration = Duration::from_secs(150);

/// The payload, its .torrent, and a tracker that tracks it.
struct World {
    ctx: Ctx,
    payload: Payload,
    tracker: Tracker,
    torrent: PathBuf,
    hash: [u8; 20],
}

impl World {
    fn new(test: &str, tools: &[Tool]) -> Option<World> {
        let mut all = vec![Tool::Mktorrent, Tool::Opentracker];
        all.extend_from_slice(tools);
        if !have(&all) {
            return None;
        }
        let ctx = Ctx::new(test, TIMEOUT);
        let payload = Payload::new(Shape::Multi);
        let source = ctx.subdir("source");
        payload.write_to(&source);
        let tracker = Tracker::new();
        let torrent = ctx.dir.join("payload.torrent");
        let hash = payload.make_torrent(&source, &tracker.announce_url(), &torrent);
        tracker.start(&ctx, &[hash]);
        Some(World {
            ctx,
            payload,
            tracker,
            torrent,
            hash,
        })
    }

    fn magnet(&self) -> String {
        format!(
            "magnet:?xt=urn:btih:{}&dn=multi&tr={}",
            hex(&self.hash),
            self.tracker.announce_url()
        )
    }

    fn seed_dir(&self, who: &str) -> PathBuf {
        let dir = self.ctx.subdir(&format!("{who}-data"));
        self.payload.write_to(&dir);
        dir
    }
}

/// coracle downloads the magnet from `seed`, a client seeding the .torrent.
fn coracle_downloads_magnet(test: &str, tool: Tool, seed: fn(&Ctx, &Path, &Path)) {
    let Some(w) = World::new(test, &[tool]) else {
        return;
    };
    seed(&w.ctx, &w.torrent, &w.seed_dir("seeder"));
    w.tracker
        .wait_swarm(&w.ctx, &w.hash, "the seeder to announce", |s| {
            s.complete >= 1
        });
    let session = coracle_side::session();
    let out = w.ctx.subdir("coracle-download");
    let mut opts = AddOptions::default();
    opts.output = out.clone();
    let handle = session
        .add(TorrentSource::Magnet(w.magnet()), opts)
        .expect("adding the magnet");
    assert!(handle.metainfo().is_none(), "no metadata before peers");
    coracle_side::wait_complete(&w.ctx, &handle, "coracle's magnet download");
    let meta = handle.metainfo().expect("the metadata arrived");
    assert_eq!(meta.info_hash.0, w.hash);
    w.payload.assert_on_disk(&out);
    session.shutdown().unwrap();
}

fn lt_seed(ctx: &Ctx, torrent: &Path, dir: &Path) {
    libtorrent::run(ctx, "seed", torrent, dir);
}

fn transmission_seed(ctx: &Ctx, torrent: &Path, dir: &Path) {
    transmission::run(ctx, "seed", torrent, dir);
}

#[test]
fn coracle_downloads_a_magnet_from_libtorrent() {
    coracle_downloads_magnet("magnet-from-lt", Tool::Libtorrent, lt_seed);
}

#[test]
fn coracle_downloads_a_magnet_from_aria2() {
    coracle_downloads_magnet("magnet-from-aria2", Tool::Aria2, aria2::seed);
}

#[test]
fn coracle_downloads_a_magnet_from_transmission() {
    coracle_downloads_magnet(
        "magnet-from-transmission",
        Tool::Transmission,
        transmission_seed,
    );
}

/// Starts `lt_peer.py` on 127.0.0.`ip`; returns its listen address.
fn lt_peer(
    ctx: &Ctx,
    name: &str,
    ip: u8,
    source: &str,
    dir: &Path,
    extra: &[String],
) -> SocketAddr {
    let ip = loopback(ip);
    let port = free_port(ip);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/lt_peer.py");
    let mut cmd = Command::new(PYTHON);
    cmd.arg(script)
        .arg(source)
        .arg(dir)
        .arg(ip.to_string())
        .arg(port.to_string())
        .args(extra);
    ctx.spawn(name, cmd);
    SocketAddr::from((ip, port))
}

/// coracle seeds the .torrent and waits until the tracker lists it.
fn coracle_seeds(w: &World) -> Session {
    let session = coracle_side::session();
    let handle = coracle_side::add(&session, &w.torrent, &w.seed_dir("coracle"));
    coracle_side::wait_complete(&w.ctx, &handle, "coracle's check of its data");
    w.tracker
        .wait_swarm(&w.ctx, &w.hash, "coracle to announce", |s| s.complete >= 1);
    session
}

#[test]
fn libtorrent_downloads_a_magnet_from_coracle() {
    let Some(w) = World::new("lt-magnet-from-coracle", &[Tool::Libtorrent]) else {
        return;
    };
    let session = coracle_seeds(&w);
    let out = w.ctx.subdir("lt-download");
    lt_peer(&w.ctx, "lt-leech", 4, &w.magnet(), &out, &[]);
    w.ctx.wait_for("libtorrent's magnet download", || {
        w.payload.is_on_disk(&out)
    });
    w.payload.assert_on_disk(&out);
    let log = std::fs::read_to_string(w.ctx.dir.join("lt-leech.log")).unwrap_or_default();
    assert!(log.contains("metadata received"), "{log}");
    session.shutdown().unwrap();
}

#[test]
fn aria2_downloads_a_magnet_from_coracle() {
    let Some(w) = World::new("aria2-magnet-from-coracle", &[Tool::Aria2]) else {
        return;
    };
    let session = coracle_seeds(&w);
    let out = w.ctx.subdir("aria2-download");
    // The same flags as a .torrent download, with the magnet link as the source.
    let mut cmd = aria2::base(w.magnet(), &out);
    cmd.args(["--bt-save-metadata=false", "--seed-time=0"]);
    w.ctx.spawn("aria2c-magnet", cmd);
    w.ctx
        .wait_for("aria2's magnet download", || w.payload.is_on_disk(&out));
    w.payload.assert_on_disk(&out);
    session.shutdown().unwrap();
}

/// A session on 127.0.0.1 with no tracker: it knows only the peers it is given.
fn trackerless_session() -> Session {
    let ip = loopback(1);
    Session::new({
        let mut config = SessionConfig::default();
        config.listen = SocketAddr::from((ip, free_port(ip)));
        config
    })
    .expect("a session")
}

/// A payload big enough, with a slow enough seeder, that nobody finishes during the test.
fn slow_payload(ctx: &Ctx) -> (generated::Payload, PathBuf) {
    let p = generated::Payload::single("big.bin", generated::bytes(9, 16 << 20));
    let torrent = ctx.dir.join("big.torrent");
    std::fs::write(&torrent, p.torrent(256 * 1024, &[])).unwrap();
    (p, torrent)
}

#[test]
fn coracle_learns_a_peer_through_libtorrents_pex() {
    if !have(&[Tool::Libtorrent]) {
        return;
    }
    let ctx = Ctx::new("pex-from-lt", TIMEOUT);
    let (p, torrent) = slow_payload(&ctx);
    let seed_dir = ctx.subdir("seed");
    p.write_to(&seed_dir);
    let t = torrent.display().to_string();
    let limit = ["--pex".to_string(), "--upload-limit".into(), "32768".into()];
    let seeder = lt_peer(&ctx, "lt-seed", 4, &t, &seed_dir, &limit);
    let mut extra = vec!["--pex".to_string(), "--peer".into(), seeder.to_string()];
    extra.extend(["--upload-limit".into(), "32768".into()]);
    let leecher = lt_peer(&ctx, "lt-leech", 5, &t, &ctx.subdir("lt-out"), &extra);
    let session = trackerless_session();
    let mut opts = AddOptions::default();
    opts.output = ctx.subdir("coracle-out");
    opts.peers = vec![seeder];
    opts.no_trackers = true;
    let handle = session
        .add(TorrentSource::File(torrent.clone()), opts)
        .expect("adding");
    // Told only of the seeder, coracle must hear of the libtorrent leecher from the seeder.
    ctx.wait_for("coracle to connect to both libtorrent peers", || {
        handle.stats().is_some_and(|s| s.peers >= 2)
    });
    eprintln!("coracle learnt {leecher} through PEX: {:?}", handle.stats());
    session.shutdown().unwrap();
}

#[test]
fn libtorrent_learns_a_peer_through_coracles_pex() {
    if !have(&[Tool::Libtorrent]) {
        return;
    }
    let ctx = Ctx::new("pex-to-lt", TIMEOUT);
    let (p, torrent) = slow_payload(&ctx);
    let seed_dir = ctx.subdir("seed");
    p.write_to(&seed_dir);
    let t = torrent.display().to_string();
    let limit = ["--upload-limit".to_string(), "32768".into()];
    let seeder = lt_peer(&ctx, "lt-seed", 4, &t, &seed_dir, &limit);
    let session = trackerless_session();
    let mut opts = AddOptions::default();
    opts.output = ctx.subdir("coracle-out");
    opts.peers = vec![seeder];
    opts.no_trackers = true;
    let handle = session
        .add(TorrentSource::File(torrent.clone()), opts)
        .expect("adding");
    ctx.wait_for("coracle to connect to the seeder", || {
        handle.stats().is_some_and(|s| s.peers >= 1)
    });
    // The leecher knows only coracle; coracle's PEX names the seeder.
    let extra = vec![
        "--pex".to_string(),
        "--peer".into(),
        session.listen_addr().to_string(),
    ];
    lt_peer(&ctx, "lt-leech", 5, &t, &ctx.subdir("lt-out"), &extra);
    let log = ctx.dir.join("lt-leech.log");
    ctx.wait_for(
        "libtorrent to connect to the seeder coracle told it of",
        || {
            std::fs::read_to_string(&log)
                .unwrap_or_default()
                .lines()
                .any(|l| l.starts_with("peers:") && l.contains(&seeder.to_string()))
        },
    );
    session.shutdown().unwrap();
}
