//! How often does an idle coracle wake up? On a router or a single-board computer every wake-up
//! costs power and CPU for nothing. This counts voluntary context switches (each one is a thread
//! going to sleep, so one per wake-up) from `/proc` while the session has nothing to do:
//!
//! ```text
//! cargo build --release && cargo run --release --example wakeups -- [--seconds 20]
//!     [--torrents 100] [--idle-peers 1000]
//! ```
//!
//! 1. a session seeding `--torrents` complete torrents with no peers and no trackers;
//! 2. the `coracle seed --quiet` command line seeding one torrent with no peers (skipped when
//!    `target/release/coracle` was not built);
//! 3. a session seeding one torrent to `--idle-peers` connected peers that say nothing after
//!    their handshake. Keep-alives are due every 60 s per peer, so that is all the work there is.
//!
//! Only the session's own threads (named `coracle-*`) are counted in 1 and 3: the idle peers'
//! reader thread lives in the same process. Everything runs on 127.0.0.1.

// A benchmark harness: sockets, threads, files and the clock are its job.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

#[path = "scale/idle.rs"]
#[allow(dead_code)] // shared with `scale`, which uses all of it
mod idle;
#[path = "../tests/support/payload.rs"]
mod payload;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use coracle::{AddOptions, Session, SessionConfig, TorrentHandle, TorrentSource};

use idle::{raise_nofile_limit, IdlePeers};
use payload::Payload;

/// The `--` options.
struct Args {
    seconds: u64,
    torrents: usize,
    idle_peers: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        seconds: 20,
        torrents: 100,
        idle_peers: 1000,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || -> Result<u64, String> {
            let v = it.next().ok_or(format!("{flag} needs a value"))?;
            v.parse().map_err(|e| format!("{flag} {v}: {e}"))
        };
        match flag.as_str() {
            "--seconds" => a.seconds = value()?,
            "--torrents" => a.torrents = value()? as usize,
            "--idle-peers" => a.idle_peers = value()? as usize,
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(a)
}

/// Voluntary context switches of the threads of `pid` whose name passes `keep`.
fn wakeups(pid: &str, keep: impl Fn(&str) -> bool) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    let mut total = 0;
    for task in tasks.flatten() {
        let dir = task.path();
        let name = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if !keep(name.trim()) {
            continue;
        }
        let status = std::fs::read_to_string(dir.join("status")).unwrap_or_default();
        total += status
            .lines()
            .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0);
    }
    total
}

/// Wake-ups per second of the matching threads of `pid` over `secs`.
fn rate(pid: &str, secs: u64, keep: impl Fn(&str) -> bool + Copy) -> f64 {
    let before = wakeups(pid, keep);
    std::thread::sleep(Duration::from_secs(secs));
    (wakeups(pid, keep) - before) as f64 / secs as f64
}

fn ours(name: &str) -> bool {
    name.starts_with("coracle")
}

/// A session on a free loopback port, no trackers anywhere.
fn session() -> Result<Session, String> {
    let mut cfg = SessionConfig::default();
    cfg.listen = "127.0.0.1:0".parse().unwrap();
    Session::new(cfg).map_err(|e| e.to_string())
}

/// Adds a complete torrent whose data is in `dir`, and waits until it seeds.
fn seed(s: &Session, p: &Payload, dir: &Path) -> Result<TorrentHandle, String> {
    p.write_to(dir);
    let mut opts = AddOptions::default();
    opts.output = dir.to_path_buf();
    opts.no_trackers = true;
    let h = s
        .add(TorrentSource::Bytes(p.torrent(16384, &[])), opts)
        .map_err(|e| e.to_string())?;
    h.wait_timeout(Duration::from_secs(60))
        .map_err(|e| format!("{}: {e}", p.name))?;
    Ok(h)
}

fn many_torrents(a: &Args, root: &Path) -> Result<f64, String> {
    let s = session()?;
    let mut handles = Vec::new();
    for i in 0..a.torrents {
        let p = Payload::single(&format!("t{i}.bin"), payload::bytes(i as u64, 64 * 1024));
        handles.push(seed(&s, &p, root)?);
    }
    // Let the first progress reports and checks pass.
    std::thread::sleep(Duration::from_secs(3));
    Ok(rate("self", a.seconds, ours))
}

fn cli(a: &Args, root: &Path) -> Result<Option<f64>, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("coracle"))
        .filter(|b| b.exists());
    let Some(bin) = bin else {
        return Ok(None);
    };
    let p = Payload::single("cli.bin", payload::bytes(7, 256 * 1024));
    p.write_to(root);
    let torrent = root.join("cli.torrent");
    std::fs::write(&torrent, p.torrent(16384, &[])).map_err(|e| e.to_string())?;
    let mut child = Command::new(bin)
        .args(["seed", "--quiet", "--no-trackers", "--port", "0", "--data"])
        .arg(root)
        .arg(&torrent)
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    std::thread::sleep(Duration::from_secs(3));
    let pid = child.id().to_string();
    let r = rate(&pid, a.seconds, |_| true);
    let _ = Command::new("kill").arg(&pid).status();
    let _ = child.wait();
    Ok(Some(r))
}

fn idle_peers(a: &Args, root: &Path) -> Result<(f64, usize), String> {
    raise_nofile_limit().map_err(|e| e.to_string())?;
    let mut cfg = SessionConfig::default();
    cfg.listen = "127.0.0.1:0".parse().unwrap();
    cfg.engine.max_peers_per_torrent = a.idle_peers + 10;
    cfg.engine.max_connections = a.idle_peers + 10;
    cfg.engine.max_half_open = a.idle_peers + 10;
    let s = Session::new(cfg).map_err(|e| e.to_string())?;
    let p = Payload::single("idle.bin", payload::bytes(3, 1 << 20));
    let h = seed(&s, &p, root)?;
    let mut peers = IdlePeers::connect(s.listen_addr(), a.idle_peers).map_err(|e| e.to_string())?;
    peers
        .attach(h.info_hash().0, 64)
        .map_err(|e| e.to_string())?;
    let t0 = Instant::now();
    while h.stats().map_or(0, |s| s.peers) < a.idle_peers && t0.elapsed().as_secs() < 30 {
        std::thread::sleep(Duration::from_millis(100));
    }
    let held = h.stats().map_or(0, |s| s.peers);
    std::thread::sleep(Duration::from_secs(3));
    let r = rate("self", a.seconds, ours);
    drop(peers);
    Ok((r, held))
}

fn run(a: &Args) -> Result<(), String> {
    let root: PathBuf =
        std::env::temp_dir().join(format!("coracle-wakeups-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).map_err(|e| e.to_string())?;
    println!(
        "wake-ups per second (voluntary context switches), {} s each",
        a.seconds
    );
    let many = many_torrents(a, &root.join("many"))?;
    println!(
        "  {} seeding torrents, no peers, all session threads: {many:.2}/s",
        a.torrents
    );
    match cli(a, &root.join("cli"))? {
        Some(r) => {
            println!("  `coracle seed --quiet`, one torrent, no peers, whole process: {r:.2}/s")
        }
        None => println!("  `coracle seed --quiet`: skipped (build target/release/coracle first)"),
    }
    let (idle, held) = idle_peers(a, &root.join("idle"))?;
    println!(
        "  1 seeding torrent, {held} idle peers connected, all session threads: {idle:.2}/s \
         (keep-alives are due once a minute per peer)"
    );
    let _ = std::fs::remove_dir_all(&root);
    Ok(())
}

fn main() -> ExitCode {
    match parse_args().and_then(|a| run(&a)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wakeups: {e}");
            ExitCode::FAILURE
        }
    }
}
