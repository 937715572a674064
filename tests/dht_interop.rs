//! Peer discovery against real libtorrent (Debian's python3-libtorrent) on loopback: a DHT of
//! libtorrent nodes of its own on 127.0.0.x (explicit listen addresses, bootstrapped from a
//! local node, loopback address limits off, UPnP/NAT-PMP off), and BEP 14 local discovery on
//! a loopback with multicast on. No torrent here has a tracker and no peer is given: the only
//! way to the other side is the DHT or LSD. The bytes are compared exactly.
//!
//! Also: three coracle nodes on `[::1]` find each other and a seeder over the IPv6 DHT (BEP 32),
//! and a DHT socket flooded with queries from one address and with 64 KiB garbage datagrams
//! does not stop a download.
//!
//! Run inside `scripts/loopback-only.sh` (CI does): LSD needs the multicast route it sets up. A
//! missing python3-libtorrent skips a test, except under CI, where it fails.

// Test and example code drives real sockets, threads, files and clocks.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

// Only some of the interop harness's tools are used here.
#[allow(dead_code)]
#[path = "interop/harness.rs"]
mod harness;
#[path = "support/payload.rs"]
mod payload;

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use coracle::{
    AddOptions, DhtSettings, Error, LsdSettings, Session, SessionConfig, TorrentHandle,
    TorrentSource,
};
use harness::{free_port, have, loopback, Ctx, Tool, PYTHON};
use payload::{bytes, Payload};

/// Hard limit per test, child processes included.
const TIMEOUT: Duration = Duration::from_secs(120);

/// The libtorrent node every other node joins through.
const ROUTER_IP: u8 = 20;

/// Prints coracle's log records with eprintln!, so a failing test shows them (the harness
/// captures each test's output; threads inherit the capture of the thread that started them).
struct StderrLog;

impl log::Log for StderrLog {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.target().starts_with("coracle")
    }
    fn log(&self, r: &log::Record) {
        if self.enabled(r.metadata()) {
            eprintln!("[coracle {:5} {}] {}", r.level(), r.target(), r.args());
        }
    }
    fn flush(&self) {}
}

fn install_logger() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if log::set_logger(&StderrLog).is_ok() {
            log::set_max_level(log::LevelFilter::Debug);
        }
    });
}

/// A payload of a few pieces, and its .torrent with no tracker.
fn world(ctx: &Ctx, seed: u64) -> (Payload, PathBuf, Vec<u8>) {
    let payload = Payload::single("found.bin", bytes(seed, 2 * 1024 * 1024 + 777));
    let torrent = payload.torrent(64 * 1024, &[]);
    let path = ctx.dir.join("found.torrent");
    std::fs::write(&path, &torrent).unwrap();
    (payload, path, torrent)
}

/// Starts lt_discovery.py as `name` on 127.0.0.`ip`, finding others by `how` (`--dht
/// BOOTSTRAP` or `--lsd -`), seeding or leeching `job` if given; returns its address.
fn libtorrent(
    ctx: &Ctx,
    name: &str,
    ip: u8,
    how: [&str; 2],
    job: Option<(&str, &Path, &Path)>,
) -> SocketAddr {
    let ip = loopback(ip);
    let port = free_port(ip);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/lt_discovery.py");
    let mut cmd = Command::new(PYTHON);
    cmd.arg(script)
        .arg(ip.to_string())
        .arg(port.to_string())
        .args(how);
    if let Some((mode, torrent, dir)) = job {
        cmd.arg(mode).arg(torrent).arg(dir);
    }
    ctx.spawn(name, cmd);
    // Its DHT socket is open once it says it listens (UDP comes with the TCP listener).
    ctx.wait_for(&format!("{name} to listen"), || {
        log_has(ctx, name, &["listen_succeeded", &format!("{ip}:{port}")])
    });
    SocketAddr::from((ip, port))
}

/// Whether `name`'s log has a line containing every one of `needles`.
fn log_has(ctx: &Ctx, name: &str, needles: &[&str]) -> bool {
    let log = std::fs::read_to_string(ctx.dir.join(format!("{name}.log"))).unwrap_or_default();
    log.lines().any(|l| needles.iter().all(|n| l.contains(n)))
}

/// A coracle session on 127.0.0.1 with the DHT joining through `bootstrap` (none: only the
/// saved table) and LSD as asked, keeping its state in `state`.
fn coracle(bootstrap: &[SocketAddr], lsd: bool, state: Option<&Path>) -> Session {
    install_logger();
    let ip = loopback(1);
    Session::new({
        let mut config = SessionConfig::default();
        config.listen = SocketAddr::from((ip, free_port(ip)));
        config.dht = {
            let mut dht = DhtSettings::default();
            dht.enabled = true;
            dht.bootstrap = bootstrap.iter().map(|a| a.to_string()).collect();
            dht
        };
        config.lsd = {
            let mut lsd_ = LsdSettings::default();
            lsd_.enabled = lsd;
            lsd_
        };
        config.state_dir = state.map(Path::to_path_buf);
        config
    })
    .expect("starting a coracle session")
}

/// Adds the torrent with no trackers and no peers.
fn add(session: &Session, torrent: &[u8], dir: &Path) -> TorrentHandle {
    session
        .add(TorrentSource::Bytes(torrent.to_vec()), {
            let mut opts = AddOptions::default();
            opts.output = dir.to_path_buf();
            opts.peers = vec![];
            opts.no_trackers = true;
            opts
        })
        .expect("adding the torrent")
}

/// Waits until `handle` is complete; returns how long it took.
fn wait_complete(ctx: &Ctx, handle: &TorrentHandle, what: &str) -> Duration {
    let began = Instant::now();
    ctx.wait_for(what, || {
        match handle.wait_timeout(Duration::from_millis(200)) {
            Ok(()) => true,
            Err(Error::Timeout) => false,
            Err(e) => panic!("{what}: {e}"),
        }
    });
    began.elapsed()
}

/// A libtorrent router and a libtorrent seeder that has announced itself to it.
fn dht_with_seeder(ctx: &Ctx, torrent: &Path, payload: &Payload) -> SocketAddr {
    let router = libtorrent(ctx, "lt-router", ROUTER_IP, ["--dht", "-"], None);
    let data = ctx.subdir("lt-seed");
    payload.write_to(&data);
    let boot = router.to_string();
    libtorrent(
        ctx,
        "lt-seed",
        21,
        ["--dht", &boot],
        Some(("seed", torrent, &data)),
    );
    ctx.wait_for("the seeder's DHT announce to reach the router", || {
        log_has(ctx, "lt-router", &["incoming dht announce", "127.0.0.21"])
    });
    router
}

#[test]
fn coracle_finds_a_libtorrent_seeder_through_the_dht() {
    if !have(&[Tool::Libtorrent]) {
        return;
    }
    let ctx = Ctx::new("dht-find-seeder", TIMEOUT);
    let (payload, path, torrent) = world(&ctx, 31);
    let router = dht_with_seeder(&ctx, &path, &payload);
    let session = coracle(&[router], false, None);
    let out = ctx.subdir("coracle");
    let took = wait_complete(&ctx, &add(&session, &torrent, &out), "coracle's download");
    payload.assert_on_disk(&out);
    let stats = session.stats().unwrap();
    let dht = stats.discovery.dht.clone().unwrap();
    assert!(stats.discovery.dht_peers >= 1, "{stats:?}");
    assert!(dht.good_v4 >= 1, "{dht:?}");
    eprintln!("found the seeder through the DHT and downloaded in {took:?}; {stats:?}");
    session.shutdown().unwrap();
}

/// A magnet link with no tracker and no peer: the seeder can only be found through the DHT,
/// and the metadata only fetched from it.
#[test]
fn coracle_downloads_a_trackerless_magnet_through_the_dht() {
    if !have(&[Tool::Libtorrent]) {
        return;
    }
    let ctx = Ctx::new("dht-magnet", TIMEOUT);
    let (payload, path, torrent) = world(&ctx, 33);
    let hash = coracle::Metainfo::from_bytes(&torrent).unwrap().info_hash;
    let router = dht_with_seeder(&ctx, &path, &payload);
    let session = coracle(&[router], false, None);
    let events = session.events();
    let out = ctx.subdir("coracle");
    let began = Instant::now();
    let handle = session
        .add(
            TorrentSource::Magnet(format!("magnet:?xt=urn:btih:{}", hash.to_hex())),
            {
                let mut opts = AddOptions::default();
                opts.output = out.clone();
                opts
            },
        )
        .expect("adding the magnet");
    let mut metadata = None;
    ctx.wait_for("coracle's trackerless magnet download", || {
        while let Some(ev) = events.try_recv() {
            if matches!(ev, coracle::Event::MetadataReceived { .. }) {
                metadata.get_or_insert(began.elapsed());
            }
        }
        match handle.wait_timeout(Duration::from_millis(100)) {
            Ok(()) => true,
            Err(Error::Timeout) => false,
            Err(e) => panic!("magnet download: {e}"),
        }
    });
    let took = began.elapsed();
    payload.assert_on_disk(&out);
    assert_eq!(handle.metainfo().expect("metadata").info_hash, hash);
    // The event may have come with the completion; it is stamped when read, so at most late.
    let metadata = metadata.or_else(|| {
        events
            .try_iter()
            .any(|ev| matches!(ev, coracle::Event::MetadataReceived { .. }))
            .then(|| began.elapsed())
    });
    eprintln!(
        "trackerless magnet through the DHT: metadata after {metadata:?}, complete after {took:?}"
    );
    session.shutdown().unwrap();
}

#[test]
fn a_libtorrent_leecher_finds_a_coracle_seeder_through_the_dht() {
    if !have(&[Tool::Libtorrent]) {
        return;
    }
    let ctx = Ctx::new("dht-lt-leech", TIMEOUT);
    let (payload, path, torrent) = world(&ctx, 32);
    let router = libtorrent(&ctx, "lt-router", ROUTER_IP, ["--dht", "-"], None);
    let session = coracle(&[router], false, None);
    let data = ctx.subdir("coracle");
    payload.write_to(&data);
    let port = session.listen_addr().port().to_string();
    wait_complete(&ctx, &add(&session, &torrent, &data), "coracle's check");
    // libtorrent's alert names the announcing peer's address and port.
    ctx.wait_for("coracle's DHT announce to reach the router", || {
        log_has(
            &ctx,
            "lt-router",
            &["incoming dht announce", &format!("127.0.0.1:{port}")],
        )
    });
    let out = ctx.subdir("lt-leech");
    let began = Instant::now();
    let boot = router.to_string();
    libtorrent(
        &ctx,
        "lt-leech",
        22,
        ["--dht", &boot],
        Some(("leech", &path, &out)),
    );
    ctx.wait_for("libtorrent's download", || is_on_disk(&payload, &out));
    payload.assert_on_disk(&out);
    eprintln!(
        "libtorrent found coracle and downloaded in {:?}",
        began.elapsed()
    );
    session.shutdown().unwrap();
}

#[test]
fn a_restarted_coracle_finds_the_seeder_from_its_saved_table_alone() {
    if !have(&[Tool::Libtorrent]) {
        return;
    }
    let ctx = Ctx::new("dht-restart", TIMEOUT);
    let (payload, path, torrent) = world(&ctx, 33);
    let router = dht_with_seeder(&ctx, &path, &payload);
    let state = ctx.subdir("state");
    let first = coracle(&[router], false, Some(&state));
    let out = ctx.subdir("first");
    wait_complete(&ctx, &add(&first, &torrent, &out), "the first download");
    first.shutdown().unwrap();
    let saved = std::fs::read(state.join("dht.dat")).expect("dht.dat written at shutdown");
    assert!(saved.starts_with(b"d2:id20:"), "{saved:?}");
    assert!(!state.join("dht.dat.tmp").exists());

    // No bootstrap at all: only the saved table can lead to the seeder.
    let second = coracle(&[], false, Some(&state));
    let out = ctx.subdir("second");
    let took = wait_complete(&ctx, &add(&second, &torrent, &out), "the second download");
    payload.assert_on_disk(&out);
    let stats = second.stats().unwrap();
    assert!(stats.discovery.dht_peers >= 1, "{stats:?}");
    eprintln!("restarted with no bootstrap, found the seeder and downloaded in {took:?}");
    second.shutdown().unwrap();
}

#[test]
fn coracle_and_libtorrent_find_each_other_through_lsd() {
    if !have(&[Tool::Libtorrent]) {
        return;
    }
    let ctx = Ctx::new("lsd", TIMEOUT);
    let (payload, path, torrent) = world(&ctx, 34);
    // coracle downloads from a libtorrent seeder it hears on the group...
    let data = ctx.subdir("lt-seed");
    payload.write_to(&data);
    libtorrent(
        &ctx,
        "lt-seed",
        23,
        ["--lsd", "-"],
        Some(("seed", &path, &data)),
    );
    let session = Session::new({
        let mut config = SessionConfig::default();
        config.listen = SocketAddr::from((loopback(1), free_port(loopback(1))));
        config.dht = {
            let mut dht = DhtSettings::default();
            dht.enabled = false;
            dht
        };
        config.lsd = {
            let mut lsd = LsdSettings::default();
            lsd.enabled = true;
            lsd
        };
        config
    })
    .expect("starting a coracle session");
    let out = ctx.subdir("coracle");
    let took = wait_complete(&ctx, &add(&session, &torrent, &out), "coracle's download");
    payload.assert_on_disk(&out);
    let stats = session.stats().unwrap();
    assert_eq!(stats.discovery.lsd_groups, 1, "{stats:?}");
    eprintln!("LSD: coracle found libtorrent and downloaded in {took:?}");
    // ...and a libtorrent leecher finds coracle, now a seeder, the same way.
    let lt_out = ctx.subdir("lt-leech");
    libtorrent(
        &ctx,
        "lt-leech",
        24,
        ["--lsd", "-"],
        Some(("leech", &path, &lt_out)),
    );
    ctx.wait_for("libtorrent's download", || is_on_disk(&payload, &lt_out));
    payload.assert_on_disk(&lt_out);
    assert!(
        log_has(&ctx, "lt-leech", &["127.0.0.1"]),
        "the leecher never named coracle"
    );
    session.shutdown().unwrap();
}

/// Whether `dir` holds the exact payload.
fn is_on_disk(payload: &Payload, dir: &Path) -> bool {
    payload
        .files
        .iter()
        .enumerate()
        .all(|(i, f)| std::fs::read(payload.file_path(dir, i)).is_ok_and(|d| d == f.data))
}

#[test]
fn a_flooded_dht_socket_does_not_stop_a_download() {
    let ctx = Ctx::new("dht-flood", TIMEOUT);
    let (payload, _, torrent) = world(&ctx, 35);
    let seeder = coracle(&[], false, None);
    let data = ctx.subdir("seed");
    payload.write_to(&data);
    wait_complete(&ctx, &add(&seeder, &torrent, &data), "the seeder's check");
    let leecher = coracle(&[], false, None);
    let target = leecher.listen_addr();
    assert_eq!(
        leecher.stats().unwrap().discovery.dht_port,
        Some(target.port()),
        "the DHT shares the listener's port"
    );
    // One attacker address: a query every few microseconds, and 64 KiB garbage datagrams.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flood = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let sock = UdpSocket::bind((loopback(66), 0)).unwrap();
            let ping = b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe";
            let garbage = vec![0xa5u8; 65_000];
            let mut sent = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for _ in 0..50 {
                    let _ = sock.send_to(ping, target);
                }
                let _ = sock.send_to(&garbage, target);
                sent += 51;
            }
            sent
        })
    };
    std::thread::sleep(Duration::from_millis(200));
    let out = ctx.subdir("leech");
    let handle = leecher
        .add(TorrentSource::Bytes(torrent), {
            let mut opts = AddOptions::default();
            opts.output = out.clone();
            opts.peers = vec![seeder.listen_addr()];
            opts.no_trackers = true;
            opts
        })
        .unwrap();
    let took = wait_complete(&ctx, &handle, "the download under a DHT flood");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let sent = flood.join().unwrap();
    payload.assert_on_disk(&out);
    let dht = leecher.stats().unwrap().discovery.dht.unwrap();
    assert!(dht.packets_in > 1000, "the flood reached the node: {dht:?}");
    // The rate limit answered a burst, not the flood.
    assert!(dht.replies_sent <= 100, "{dht:?}");
    // And the node still answers someone else.
    let other = UdpSocket::bind((loopback(67), 0)).unwrap();
    other
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let ping = b"d1:ad2:id20:ABCDEFGHIJ0123456789e1:q4:ping1:t2:zz1:y1:qe";
    other.send_to(ping, target).unwrap();
    let mut buf = [0u8; 1500];
    let (n, from) = other.recv_from(&mut buf).expect("an answer to a ping");
    assert_eq!(from, target);
    assert!(buf[..n].ends_with(b"1:t2:zz1:y1:re"), "{:?}", &buf[..n]);
    eprintln!("downloaded in {took:?} while {sent} datagrams flooded the DHT socket; {dht:?}");
    leecher.shutdown().unwrap();
    seeder.shutdown().unwrap();
}

/// A coracle session on `[::1]` whose DHT joins through `bootstrap`; `None` when this machine
/// has no IPv6 loopback.
fn coracle_v6(bootstrap: &[SocketAddr]) -> Option<Session> {
    install_logger();
    let probe = std::net::TcpListener::bind("[::1]:0").ok()?;
    let listen = probe.local_addr().ok()?;
    drop(probe);
    let session = Session::new({
        let mut config = SessionConfig::default();
        config.listen = listen;
        config.dht = {
            let mut dht = DhtSettings::default();
            dht.enabled = true;
            dht.bootstrap = bootstrap.iter().map(|a| a.to_string()).collect();
            dht
        };
        config
    })
    .expect("starting a coracle session on [::1]");
    Some(session)
}

/// BEP 32 end to end over IPv6: a seeder announces through a router node, and a leecher that
/// knows only the router finds the seeder's IPv6 address (`values` of 18-byte entries, `nodes6`)
/// and downloads from it. All three are coracle, on `[::1]`; libtorrent's DHT is IPv4-only in
/// these tests.
#[test]
fn coracle_finds_a_seeder_through_an_ipv6_dht() {
    let ctx = Ctx::new("dht-ipv6", TIMEOUT);
    let Some(router) = coracle_v6(&[]) else {
        eprintln!("skipped: no IPv6 loopback here");
        return;
    };
    let router_addr = router.listen_addr();
    let (payload, _path, torrent) = world(&ctx, 35);
    let seeder = coracle_v6(&[router_addr]).unwrap();
    let seed_dir = ctx.subdir("seed");
    payload.write_to(&seed_dir);
    wait_complete(
        &ctx,
        &add(&seeder, &torrent, &seed_dir),
        "the seeder's check",
    );
    ctx.wait_for("the seeder's announce to reach the router", || {
        router
            .stats()
            .and_then(|s| s.discovery.dht)
            .is_some_and(|d| d.stored_peers >= 1)
    });

    let leecher = coracle_v6(&[router_addr]).unwrap();
    let out = ctx.subdir("leech");
    let took = wait_complete(&ctx, &add(&leecher, &torrent, &out), "the IPv6 download");
    payload.assert_on_disk(&out);
    let stats = leecher.stats().unwrap();
    let dht = stats.discovery.dht.clone().unwrap();
    assert!(stats.discovery.dht_peers >= 1, "{stats:?}");
    assert!(
        dht.good_v6 >= 1,
        "the router sits in the IPv6 table: {dht:?}"
    );
    eprintln!("found the seeder through the IPv6 DHT and downloaded in {took:?}");
    for s in [leecher, seeder, router] {
        s.shutdown().unwrap();
    }
}
