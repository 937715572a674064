//! Does the download rate hold up when one session carries many peers or many torrents? Three
//! modes on 127.0.0.1, every session in this process:
//!
//! ```text
//! cargo run --release --example scale -- [--size 256MiB] [--idle-peers 1000] [--torrents 100]
//!     [--runs 3] [--timeout 600] [--storage mmap|pwrite] [--settle 0]
//! ```
//!
//! 1. baseline: a seeder session with one torrent of `--size` (1 MiB pieces) and a leecher
//!    session that downloads it from that seeder alone.
//! 2. idle peers: the same download while `--idle-peers` raw TCP peers are attached to the
//!    leecher's torrent, each handshaken, holding no pieces and otherwise silent.
//! 3. many torrents: `--size` split over `--torrents` torrents, all in one seeder session and
//!    all downloaded at once by one leecher session.
//!
//! Each mode runs `--runs` times, interleaved so that a noisy spell on a shared machine hits
//! every mode alike, and the medians are compared with the baseline. Every download is checked
//! byte for byte. The exit status is nonzero when a download is wrong or times out, never on a
//! ratio: loopback timings on a shared machine are too noisy to gate on.
//!
//! `--storage pwrite` has the leecher write with `pwrite`. On a VM that hands free memory back
//! to its host, a mapped write's page faults cost whatever the memory's state happens to be, so
//! the same mode swings by tens of percent from run to run; with `pwrite` the ratios show the
//! engine's scaling alone. `--settle SECS` instead waits before each download (before its idle
//! peers connect), so that every mode starts with the memory in the same (handed back) state.

// Test and example code drives real sockets, threads, files and clocks.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

#[path = "scale/args.rs"]
mod args;
#[path = "scale/idle.rs"]
mod idle;
#[path = "../tests/support/payload.rs"]
mod payload;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use coracle::{AddOptions, Session, SessionConfig, TorrentSource};

use args::{parse_args, Args};
use idle::{watch_peers, IdlePeers, Watch};
use payload::Payload;

const MIB: f64 = (1u64 << 20) as f64;
const PIECE: usize = 1 << 20;

/// One mode's content: the payloads and their .torrent files.
struct Content {
    payloads: Vec<Payload>,
    torrents: Vec<Vec<u8>>,
    bytes: u64,
}

impl Content {
    /// `count` torrents of `len` bytes each; distinct seeds give distinct info-hashes.
    fn new(prefix: &str, count: usize, len: usize, seed: u64) -> Content {
        // At least two pieces per torrent, so a split torrent still exercises the piece picker
        // and the have/bitfield traffic rather than being one request-and-hash.
        let mut piece = PIECE;
        while piece > 16 * 1024 && len < 2 * piece {
            piece /= 2;
        }
        let payloads: Vec<Payload> = (0..count)
            .map(|i| {
                let name = format!("{prefix}-{i:04}");
                Payload::single(&name, payload::bytes(seed + i as u64, len))
            })
            .collect();
        let torrents = payloads.iter().map(|p| p.torrent(piece, &[])).collect();
        Content {
            payloads,
            torrents,
            bytes: (count * len) as u64,
        }
    }
}

/// One timed download.
struct Run {
    secs: f64,
    /// CPU seconds (user + system) of this whole process, seeders included, during the run.
    cpu: f64,
    /// Idle peers the leecher's torrent held when the download finished.
    held: usize,
    /// When the last idle peer was attached, counted from the first `add`.
    attached_at: Option<Duration>,
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("scale: {e}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("scale: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), String> {
    let limit = idle::raise_nofile_limit().map_err(|e| format!("raising RLIMIT_NOFILE: {e}"))?;
    // Each idle peer is two descriptors here (our end and the leecher's), plus the sessions'.
    if (limit as usize) < 2 * args.idle_peers + 256 {
        return Err(format!(
            "{} idle peers need about {} descriptors; the hard limit is {limit}",
            args.idle_peers,
            2 * args.idle_peers + 256
        ));
    }
    let one = Content::new("scale-one", 1, args.size, 1);
    let many = Content::new("scale-many", args.torrents, args.size / args.torrents, 1000);
    let seed_dir = payload::temp_dir("scale-seed");
    let result = measure(args, &one, &many, &seed_dir);
    let _ = std::fs::remove_dir_all(&seed_dir);
    let [base, idle, tors] = result?;
    summary(args, &one, &many, &base, &idle, &tors);
    Ok(())
}

/// Seeds both contents, then runs every mode `--runs` times, interleaved.
fn measure(
    args: &Args,
    one: &Content,
    many: &Content,
    seed_dir: &Path,
) -> Result<[Vec<Run>; 3], String> {
    let one_seeder = seeder(one, seed_dir, args)?;
    let many_seeder = seeder(many, seed_dir, args)?;
    let (one_addr, many_addr) = (one_seeder.listen_addr(), many_seeder.listen_addr());
    let mut results: [Vec<Run>; 3] = Default::default();
    for round in 0..args.runs {
        results[0].push(leech("baseline", round, one, one_addr, 0, args)?);
        results[1].push(leech("idle", round, one, one_addr, args.idle_peers, args)?);
        results[2].push(leech("torrents", round, many, many_addr, 0, args)?);
    }
    one_seeder.shutdown().map_err(|e| format!("seeder: {e}"))?;
    many_seeder.shutdown().map_err(|e| format!("seeder: {e}"))?;
    Ok(results)
}

/// A session that seeds `content` from `dir`, its data rechecked before it returns.
fn seeder(content: &Content, dir: &Path, args: &Args) -> Result<Session, String> {
    for p in &content.payloads {
        p.write_to(dir);
    }
    let mut cfg = local_config();
    // One connection per torrent from the leecher; the default cap (400) is below a large
    // `--torrents`.
    cfg.engine.max_connections = args.torrents + 50;
    let session = Session::new(cfg).map_err(|e| format!("seeder session: {e}"))?;
    let deadline = Instant::now() + args.timeout;
    for t in &content.torrents {
        let h = session
            .add(TorrentSource::Bytes(t.clone()), opts(dir.into(), vec![]))
            .map_err(|e| format!("seeder add: {e}"))?;
        h.wait_timeout(deadline.saturating_duration_since(Instant::now()))
            .map_err(|e| format!("seeder check of {}: {e}", h.name()))?;
    }
    Ok(session)
}

/// One download of `content` from `seeder` by a fresh leecher session, with `idle` idle peers
/// attached to the (first) torrent. Checks the bytes and removes them afterwards.
fn leech(
    mode: &str,
    round: usize,
    content: &Content,
    seeder: SocketAddr,
    idle: usize,
    args: &Args,
) -> Result<Run, String> {
    // The same limits in every mode, so the ratios show load and not configuration.
    let room = args.idle_peers.max(args.torrents) + 50;
    let mut cfg = local_config();
    cfg.storage.force_pwrite = args.pwrite;
    cfg.engine = {
        let mut engine_ = cfg.engine;
        engine_.max_connections = room;
        engine_.max_peers_per_torrent = room;
        engine_
    };
    let session = Session::new(cfg).map_err(|e| format!("leecher session: {e}"))?;
    let out = payload::temp_dir(&format!("scale-{mode}-{round}"));
    // `--settle` before the idle peers connect: the session would drop them for not
    // handshaking in time.
    std::thread::sleep(args.settle);
    // Connected now but handshaken only after the add: the session drops a handshake for a
    // torrent it does not have, and there is no way to hand it the seeder later, so the idle
    // peers attach in the first moments of the download instead (`attached_at` says when).
    let mut idlers = match idle {
        0 => None,
        n => Some(
            IdlePeers::connect(session.listen_addr(), n)
                .map_err(|e| format!("connecting idle peers: {e}"))?,
        ),
    };
    let cpu0 = process_cpu();
    let t0 = Instant::now();
    let handles = content
        .torrents
        .iter()
        .map(|t| {
            session.add(
                TorrentSource::Bytes(t.clone()),
                opts(out.clone(), vec![seeder]),
            )
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("leecher add: {e}"))?;
    let watch = idlers
        .as_mut()
        .map(|p| -> Result<_, String> {
            let meta = handles[0].metainfo().ok_or("a .torrent has its metainfo")?;
            p.attach(meta.info_hash.0, meta.layout().num_pieces() as usize)
                .map_err(|e| format!("idle handshakes: {e}"))?;
            Ok(watch_peers(handles[0].clone(), idle + 1, t0))
        })
        .transpose()?;
    let deadline = t0 + args.timeout;
    for h in &handles {
        h.wait_timeout(deadline.saturating_duration_since(Instant::now()))
            .map_err(|e| format!("{mode} run {}: {}: {e}", round + 1, h.name()))?;
    }
    let secs = t0.elapsed().as_secs_f64();
    let cpu = process_cpu() - cpu0;
    // The seeder may have left already (two seeds have nothing to trade); idle peers are never
    // seeds.
    let held = handles[0]
        .stats()
        .map_or(0, |s| s.peers.saturating_sub(s.seeds));
    let attached_at = watch.and_then(Watch::finish);
    drop(idlers);
    session
        .shutdown()
        .map_err(|e| format!("{mode} run {}: {e}", round + 1))?;
    for p in &content.payloads {
        p.assert_on_disk(&out);
    }
    let _ = std::fs::remove_dir_all(&out);
    let run = Run {
        secs,
        cpu,
        held,
        attached_at,
    };
    println!(
        "{mode:<9} run {}: {:.2} s  {:.1} MiB/s  CPU {cpu:.2} s{}",
        round + 1,
        secs,
        content.bytes as f64 / MIB / secs,
        match idle {
            0 => String::new(),
            _ => format!("  (held {held} idle peers)"),
        }
    );
    Ok(run)
}

fn local_config() -> SessionConfig {
    let mut config = SessionConfig::default();
    config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    config
}

fn opts(output: PathBuf, peers: Vec<SocketAddr>) -> AddOptions {
    let mut opts = AddOptions::default();
    opts.output = output;
    opts.peers = peers;
    opts.no_trackers = true;
    opts
}

/// User + system CPU seconds of this process so far (every thread, every session).
fn process_cpu() -> f64 {
    // SAFETY: getrusage only writes the struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return 0.0;
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(ru.ru_utime) + secs(ru.ru_stime)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn summary(args: &Args, one: &Content, many: &Content, base: &[Run], idle: &[Run], tors: &[Run]) {
    let rate = |c: &Content, runs: &[Run]| {
        let secs = median(runs.iter().map(|r| r.secs).collect());
        let cpu = median(runs.iter().map(|r| r.cpu).collect());
        (secs, c.bytes as f64 / MIB / secs, cpu)
    };
    let (bs, br, bc) = rate(one, base);
    let (is, ir, ic) = rate(one, idle);
    let (ts, tr, tc) = rate(many, tors);
    let held = idle.iter().map(|r| r.held).min().unwrap_or(0);
    let attached = idle
        .iter()
        .map(|r| {
            r.attached_at
                .map_or("never".into(), |d| format!("{} ms", d.as_millis()))
        })
        .collect::<Vec<_>>()
        .join(", ");
    let mib = |c: &Content| c.bytes as f64 / MIB;
    println!();
    println!("medians of {} runs:", args.runs);
    println!(
        "{:<16}{:>5.0} MiB in {bs:.2} s  {br:6.1} MiB/s  CPU {bc:.2} s",
        "baseline",
        mib(one)
    );
    println!(
        "{:<16}{:>5.0} MiB in {is:.2} s  {ir:6.1} MiB/s  CPU {ic:.2} s  ({:.2} x baseline; leecher \
         held {held} idle peers; all attached at {attached} after add)",
        format!("{} idle peers", args.idle_peers),
        mib(one),
        ir / br
    );
    println!(
        "{:<16}{:>5.0} MiB in {ts:.2} s  {tr:6.1} MiB/s  CPU {tc:.2} s  ({:.2} x baseline)",
        format!("{} torrents", args.torrents),
        mib(many),
        tr / br
    );
}
