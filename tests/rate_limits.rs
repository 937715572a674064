//! Rate-limit accuracy on 127.0.0.1 against peers that are not limited: a leecher's session-wide
//! download limit (three unlimited seeders), and a seeder's session-wide upload limit, each within 10 % over 20 s; then
//! a per-torrent limit changed at runtime, over 5 s. Rates are measured from the byte counters
//! of the limited side's peer, after a second to settle.

// Test code drives real sockets, threads, files and clocks.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

#[path = "support/payload.rs"]
mod payload;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use coracle::{AddOptions, RateLimits, Session, SessionConfig, TorrentHandle, TorrentSource};
use payload::{bytes, remove_temp, temp_dir, Payload};

const MIB: u64 = 1 << 20;

const LIMIT: u64 = 2 * MIB;
const WINDOW: Duration = Duration::from_secs(20);

fn session(tag: u8, limits: RateLimits) -> Session {
    let mut cfg = SessionConfig::default();
    cfg.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    cfg.dht.enabled = false;
    cfg.engine.download_rate_limit = limits.download;
    cfg.engine.upload_rate_limit = limits.upload;
    cfg.engine.peer_id[19] = tag;
    Session::new(cfg).expect("session")
}

fn add(
    s: &Session,
    torrent: &[u8],
    dir: std::path::PathBuf,
    peers: Vec<SocketAddr>,
) -> TorrentHandle {
    s.add(TorrentSource::Bytes(torrent.to_vec()), {
        let mut opts = AddOptions::default();
        opts.output = dir;
        opts.peers = peers;
        opts
    })
    .unwrap()
}

/// A payload larger than the test can move at the limit (64 MiB in 256 KiB pieces), seeded by
/// `seeders` sessions with `seed_limits` (over the same folder), and a leecher with
/// `leech_limits` connected to all of them.
struct Pair {
    name: String,
    seeders: Vec<Session>,
    leecher: Session,
    seed: TorrentHandle,
    leech: TorrentHandle,
}

fn pair(name: &str, seeders: u8, seed_limits: RateLimits, leech_limits: RateLimits) -> Pair {
    let payload = Payload::single(name, bytes(21, 64 * MIB as usize));
    let torrent = payload.torrent(256 * 1024, &[]);
    let seed_dir = temp_dir(&format!("{name}-seed"));
    payload.write_to(&seed_dir);
    let seeders: Vec<Session> = (0..seeders).map(|i| session(10 + i, seed_limits)).collect();
    let seeds: Vec<TorrentHandle> = seeders
        .iter()
        .map(|s| add(s, &torrent, seed_dir.clone(), vec![]))
        .collect();
    for seed in &seeds {
        seed.wait_timeout(Duration::from_secs(60))
            .expect("seeder checks");
    }
    let leecher = session(2, leech_limits);
    let leech = add(
        &leecher,
        &torrent,
        temp_dir(&format!("{name}-leech")),
        seeders.iter().map(Session::listen_addr).collect(),
    );
    Pair {
        name: name.to_string(),
        seed: seeds[0].clone(),
        seeders,
        leecher,
        leech,
    }
}

impl Pair {
    fn shutdown(self) {
        self.leecher.shutdown().unwrap();
        for s in self.seeders {
            s.shutdown().unwrap();
        }
        let (seed, leech) = (
            format!("{}-seed", self.name),
            format!("{}-leech", self.name),
        );
        remove_temp(&[&seed, &leech]);
    }
}

/// Bytes per second `count` grew by over `window`, after `settle`.
fn measure(count: impl Fn() -> u64, settle: Duration, window: Duration) -> f64 {
    std::thread::sleep(settle);
    let (t0, c0) = (Instant::now(), count());
    std::thread::sleep(window);
    let (t1, c1) = (Instant::now(), count());
    (c1 - c0) as f64 / t1.duration_since(t0).as_secs_f64()
}

fn assert_within(rate: f64, limit: u64, tolerance: f64, what: &str) {
    let error = (rate - limit as f64).abs() / limit as f64;
    eprintln!(
        "{what}: {rate:.0} B/s against {limit} B/s ({:+.1} %)",
        (rate / limit as f64 - 1.0) * 100.0
    );
    assert!(error <= tolerance, "{what}: {rate:.0} B/s, limit {limit}");
}

#[test]
fn a_session_download_limit_holds_within_ten_percent_over_twenty_seconds() {
    // Three unlimited seeders: the limit holds whoever sends.
    let p = pair("rate-down", 3, RateLimits::default(), {
        let mut limits = RateLimits::default();
        limits.download = Some(LIMIT);
        limits.upload = None;
        limits
    });
    let leech = p.leech.clone();
    let rate = measure(
        move || leech.stats().map_or(0, |s| s.downloaded),
        Duration::from_secs(1),
        WINDOW,
    );
    assert_within(rate, LIMIT, 0.10, "download, session limit");
    // Lifted at runtime: the rest (over 15 MiB, 7 s at the limit) comes far faster.
    let left = p.leech.stats().map_or(0, |s| s.bytes_total - s.bytes_done);
    assert!(left > 15 * MIB, "{left} bytes left");
    let lifted = Instant::now();
    p.leecher.set_rate_limits(RateLimits::default()).unwrap();
    p.leech
        .wait_timeout(Duration::from_secs(4))
        .expect("the rest arrives without the limit");
    eprintln!(
        "{left} bytes after the limit was lifted: {:?}",
        lifted.elapsed()
    );
    p.shutdown();
}

#[test]
fn a_session_upload_limit_holds_and_a_torrent_limit_changes_at_runtime() {
    let p = pair(
        "rate-up",
        1,
        {
            let mut limits = RateLimits::default();
            limits.download = None;
            limits.upload = Some(LIMIT);
            limits
        },
        RateLimits::default(),
    );
    let seed = p.seed.clone();
    let rate = measure(
        move || seed.stats().map_or(0, |s| s.uploaded),
        Duration::from_secs(1),
        WINDOW,
    );
    assert_within(rate, LIMIT, 0.10, "upload, session limit");
    // The torrent's own, lower limit applies on top of the session's, from now on.
    p.seed
        .set_rate_limits({
            let mut limits = RateLimits::default();
            limits.download = None;
            limits.upload = Some(LIMIT / 2);
            limits
        })
        .unwrap();
    let seed = p.seed.clone();
    let rate = measure(
        move || seed.stats().map_or(0, |s| s.uploaded),
        Duration::from_millis(500),
        Duration::from_secs(5),
    );
    assert_within(
        rate,
        LIMIT / 2,
        0.10,
        "upload, torrent limit set at runtime",
    );
    p.shutdown();
}

#[test]
fn the_cli_download_limit_and_sequential_flag_pace_a_download() {
    let payload = Payload::single("cli-rate.bin", bytes(22, 3 * MIB as usize));
    let torrent = payload.torrent(64 * 1024, &[]);
    let seed_dir = temp_dir("cli-rate-seed");
    payload.write_to(&seed_dir);
    let seeder = session(1, RateLimits::default());
    let seed = add(&seeder, &torrent, seed_dir, vec![]);
    seed.wait_timeout(Duration::from_secs(30))
        .expect("seeder checks");
    let dir = temp_dir("cli-rate-leech");
    let file = dir.join("t.torrent");
    std::fs::write(&file, &torrent).unwrap();
    let started = Instant::now();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_coracle"))
        .arg("download")
        .arg(&file)
        .args([
            "--no-trackers",
            "--no-dht",
            "--no-lsd",
            "--port",
            "0",
            "--quiet",
        ])
        .args(["--max-download-rate", "1M", "--sequential"])
        .args(["--peer", &seeder.listen_addr().to_string()])
        .arg("-o")
        .arg(dir.join("out"))
        .arg("--state-dir")
        .arg(dir.join("state"))
        .output()
        .unwrap();
    let took = started.elapsed();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    payload.assert_on_disk(&dir.join("out"));
    // 3 MiB at 1 MiB/s from an empty bucket: 3 s, give or take the start and a block.
    eprintln!("3 MiB at --max-download-rate 1M: {took:?}");
    assert!(took > Duration::from_millis(2700), "{took:?}");
    assert!(took < Duration::from_secs(6), "{took:?}");
    seeder.shutdown().unwrap();
    remove_temp(&["cli-rate-seed", "cli-rate-leech"]);
}
