//! A swarm on 127.0.0.1: a tracker, several seeders and one or more coracle leechers, with the
//! leecher's wall time, CPU time and memory measured in a process of its own. Offline; nothing
//! leaves the loopback interface.
//!
//! ```text
//! cargo run --release --example swarm -- [--size 256MiB] [--piece 1MiB] [--files 1]
//!     [--seeders 4] [--leechers 1] [--seed-with coracle|libtorrent|transmission|aria2]
//!     [--storage mmap|pwrite]
//!     [--keep] [--timeout 900] [--leech-with libtorrent|aria2|transmission|qbittorrent|rqbit]
//!     [--settle 0] [--magnet] [--compare coracle,rqbit,libtorrent,aria2 [--runs 3]] [--dht]
//! ```
//!
//! The payload is deterministic pseudo-random data written once to a temporary folder that every
//! seeder reads. coracle seeders run in this process and recheck that data on start (timed apart
//! from the download); `--seed-with libtorrent` runs `examples/swarm/libtorrent_seeder.py`
//! processes instead (python3-libtorrent, seed mode, no recheck), `transmission|aria2` those
//! clients (`examples/swarm/seeders.rs`). Each leecher is this program
//! run again with a hidden `--leech-child` argument, so `getrusage` and `/proc/self/status` see
//! the leecher alone. The download is compared byte for byte with the payload, and the leecher's
//! CPU time is set against the time one core needs just to SHA-1 the same bytes.

// Test and example code drives real sockets, threads, files and clocks.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

#[path = "../tests/support/payload.rs"]
mod payload;
#[path = "../tests/support/tracker.rs"]
mod tracker;

#[path = "swarm/compare.rs"]
mod compare;
#[path = "swarm/dht.rs"]
mod dht;
#[path = "swarm/dht_clients.rs"]
mod dht_clients;
#[path = "swarm/dht_nodes.rs"]
mod dht_nodes;
#[path = "swarm/floor.rs"]
mod floor;
#[path = "swarm/foreign.rs"]
mod foreign;
#[path = "swarm/gen.rs"]
mod gen;
#[path = "swarm/leech.rs"]
mod leech;
#[path = "swarm/measure.rs"]
mod measure;
#[path = "swarm/seeders.rs"]
mod seeders;

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use coracle::{AddOptions, Session, SessionConfig, TorrentSource};

use gen::human;
use leech::LeechReport;
use seeders::SeedWith;

const PYTHON: &str = "/usr/bin/python3";
const SEEDER_SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/examples/swarm/libtorrent_seeder.py"
);
const MIB: f64 = (1u64 << 20) as f64;
const GIB: f64 = (1u64 << 30) as f64;

struct Args {
    size: u64,
    piece: u64,
    files: usize,
    seeders: usize,
    leechers: usize,
    seed_with: SeedWith,
    keep: bool,
    timeout: u64,
    /// The leecher writes with positional I/O instead of memory maps.
    pwrite: bool,
    /// Another client downloads instead of the coracle leecher.
    leech_with: Option<foreign::Client>,
    /// Seconds to wait, once the seeders are ready, before the download starts.
    settle: u64,
    /// coracle leechers start from a magnet link (info-hash and tracker) instead of the file.
    magnet: bool,
    /// `--compare`: these clients download in turn, `runs` rounds, each to its exit.
    compare: Option<Vec<compare::Contender>>,
    /// Rounds of `--compare`.
    runs: usize,
    /// `--dht`: a trackerless magnet found through a local DHT of libtorrent nodes.
    dht: bool,
}

const USAGE: &str = "\
usage: swarm [--size 256MiB] [--piece 1MiB] [--files 1] [--seeders 4] [--leechers 1]
             [--seed-with coracle|libtorrent|transmission|aria2] [--storage mmap|pwrite]
             [--keep] [--timeout SECS]
             [--leech-with libtorrent|aria2|transmission|qbittorrent|rqbit] [--settle SECS]
             [--magnet] [--compare coracle,coracle:pwrite,coracle@PATH,rqbit,libtorrent,aria2 [--runs 3]]
             [--dht]

Runs a BitTorrent swarm on 127.0.0.1 (tracker, seeders, coracle leechers) and reports the
leecher's throughput, CPU time and peak anonymous memory against the SHA-1 floor.

--leech-with has another client (python3-libtorrent, aria2, transmission-cli,
qbittorrent-nox, or rqbit from `cargo install rqbit`) download the same swarm instead of
coracle, with one leecher, measured from outside its process.

--seed-with transmission|aria2 runs transmission-cli or aria2c processes as the seeders
(each checks the payload first); compare with --seeders 1 to see one real seeder's speed.

--magnet starts each leecher from a magnet link (the info-hash and the tracker) and reports
the time to metadata beside the time to completion where the client tells it.

--compare downloads the same swarm with each client in turn, --runs rounds (order rotated
every round), each measured from its start to its exit (rqbit's path from $RQBIT; a client
that is not installed is skipped), and prints medians, coracle's ratio to each, and the
seeders' CPU per GiB served (--seed-with coracle|libtorrent: the seeding-cost comparison).
coracle@PATH is another build of this example (say, of an older commit): before and after;
coracle:pwrite is this build with pwrite storage (mmap and pwrite in the same rounds).
In the coracle leecher, SWARM_DIRTY_LIMIT=BYTES sets the write-back bound (0: none) and
SWARM_PIECE_BUFFER=BYTES the piece-buffer budget (a wrapper script as coracle@PATH compares).

--dht has no tracker at all: each run starts a fresh DHT of libtorrent nodes on 127.0.0.20
(the router) and 127.0.0.21.. (the seeders, --seed-with is ignored), and each client of
--compare (coracle alone without it; rqbit, libtorrent, aria2) starts from a magnet link with
no tr= and the router as its only DHT node; coracle also runs as coracle+peers, told the
seeders' addresses with its DHT off (the control). Prints the time to the first connection a
seeder accepted, to the metadata, to completion and to exit, and the seeders' CPU.

--settle waits SECS once the seeders are ready, so that every download starts with the
machine's free memory in the same state (it matters on VMs that hand freed memory back).";

fn parse_args(argv: &[String]) -> Result<Args, String> {
    let mut a = Args {
        size: 256 << 20,
        piece: 1 << 20,
        files: 1,
        seeders: 4,
        leechers: 1,
        seed_with: SeedWith::Coracle,
        keep: false,
        timeout: 900,
        settle: 0,
        pwrite: false,
        leech_with: None,
        magnet: false,
        compare: None,
        runs: 3,
        dht: false,
    };
    let mut it = argv.iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        let count = |v: String| {
            v.parse::<usize>()
                .map_err(|_| format!("{flag}: {v:?} is not a number"))
        };
        match flag {
            "--size" => a.size = gen::parse_size(&value()?)?,
            "--piece" => a.piece = gen::parse_size(&value()?)?,
            "--files" => a.files = count(value()?)?,
            "--seeders" => a.seeders = count(value()?)?,
            "--leechers" => a.leechers = count(value()?)?,
            "--timeout" => a.timeout = count(value()?)? as u64,
            "--settle" => a.settle = count(value()?)? as u64,
            "--seed-with" => a.seed_with = SeedWith::parse(&value()?)?,
            "--storage" => {
                a.pwrite = match value()?.as_str() {
                    "mmap" => false,
                    "pwrite" => true,
                    v => return Err(format!("--storage: {v:?} is not mmap or pwrite")),
                }
            }
            "--leech-with" => a.leech_with = Some(foreign::Client::parse(&value()?)?),
            "--compare" => a.compare = Some(compare::parse(&value()?)?),
            "--runs" => a.runs = count(value()?)?.max(1),
            "--keep" => a.keep = true,
            "--magnet" => a.magnet = true,
            "--dht" => a.dht = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            _ => return Err(format!("unknown argument {arg:?}\n\n{USAGE}")),
        }
    }
    if !(16 << 10..=64 << 20).contains(&a.piece) || !a.piece.is_power_of_two() {
        return Err("--piece must be a power of two from 16KiB to 64MiB".into());
    }
    if a.files == 0 || a.files as u64 > a.size || a.files > 10_000 {
        return Err("--files must be between 1 and the payload size (at most 10000)".into());
    }
    if a.seeders == 0 || a.seeders > 64 || a.leechers == 0 || a.leechers > 16 {
        return Err("--seeders must be 1..=64 and --leechers 1..=16".into());
    }
    if a.leech_with.is_some() && (a.leechers != 1 || a.pwrite) {
        return Err("--leech-with takes one leecher and no --storage (coracle's own)".into());
    }
    Ok(a)
}

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    if argv.first().map(String::as_str) == Some("--leech-child") {
        if let Err(e) = leech::run(&argv[1..]) {
            eprintln!("\nleecher error: {e}");
            std::process::exit(1);
        }
        return;
    }
    let args = match parse_args(&argv) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let work = Work::new(payload::temp_dir("swarm"), args.keep);
    let result = run(&args, &work);
    if let Err(e) = result {
        eprintln!("error: {e}");
        drop(work);
        std::process::exit(1);
    }
}

/// The temporary folder, removed on the way out unless `--keep`.
struct Work {
    dir: PathBuf,
    keep: bool,
}

impl Work {
    fn new(dir: PathBuf, keep: bool) -> Work {
        Work { dir, keep }
    }
}

impl Drop for Work {
    fn drop(&mut self) {
        if self.keep {
            eprintln!("kept {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Child processes that are killed if the run ends early.
#[derive(Default)]
struct Children(Vec<Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for c in &mut self.0 {
            if let Ok(None) = c.try_wait() {
                let _ = c.kill();
            }
            let _ = c.wait();
        }
    }
}

/// The seeders of either kind.
enum Seeders {
    Coracle(Vec<Session>),
    Libtorrent {
        children: Children,
        /// Each seeder's stdout lines after `ready`.
        lines: crossbeam_channel::Receiver<(usize, String)>,
    },
    /// transmission-cli or aria2c processes (`seeders.rs`).
    Real(seeders::Real),
}

impl Seeders {
    /// CPU seconds the seeding side has used so far: the coracle seeders' threads in this
    /// process, or the python processes.
    fn cpu(&self) -> f64 {
        match self {
            Seeders::Coracle(_) => measure::threads_cpu("coracle-"),
            Seeders::Libtorrent { children, .. }
            | Seeders::Real(seeders::Real { children, .. }) => children
                .0
                .iter()
                .filter_map(|c| measure::proc_cpu(c.id()))
                .sum(),
        }
    }

    fn shutdown(self) -> Option<u64> {
        match self {
            Seeders::Coracle(sessions) => {
                for s in sessions {
                    if let Err(e) = s.shutdown() {
                        eprintln!("swarm: a seeder's shutdown failed: {e}");
                    }
                }
                None
            }
            Seeders::Libtorrent {
                mut children,
                lines,
            } => {
                for c in &mut children.0 {
                    drop(c.stdin.take());
                }
                let mut uploaded = 0;
                let deadline = Instant::now() + Duration::from_secs(5);
                let mut reported = 0;
                while reported < children.0.len() {
                    let left = deadline.saturating_duration_since(Instant::now());
                    let Ok((_, line)) = lines.recv_timeout(left) else {
                        break;
                    };
                    if let Some(n) = line.strip_prefix("uploaded ") {
                        uploaded += n.trim().parse::<u64>().unwrap_or(0);
                        reported += 1;
                    }
                }
                drop(children);
                Some(uploaded)
            }
            Seeders::Real(real) => {
                drop(real);
                None
            }
        }
    }
}

fn session_config(kind: char, index: usize) -> SessionConfig {
    let mut cfg = SessionConfig::default();
    cfg.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    let id = format!(
        "-CR0100-{kind}{:03}{:08}",
        index % 1000,
        std::process::id() % 100_000_000
    );
    cfg.engine.peer_id.copy_from_slice(&id.as_bytes()[..20]);
    cfg
}

fn start_coracle_seeders(
    n: usize,
    torrent: &Path,
    data: &Path,
    timeout: Duration,
) -> Result<Vec<Session>, String> {
    let mut sessions = Vec::new();
    let mut handles = Vec::new();
    for i in 0..n {
        let s = Session::new(session_config('S', i)).map_err(|e| format!("seeder {i}: {e}"))?;
        let h = s
            .add(TorrentSource::File(torrent.to_path_buf()), {
                let mut opts = AddOptions::default();
                opts.output = data.to_path_buf();
                opts
            })
            .map_err(|e| format!("seeder {i}: {e}"))?;
        sessions.push(s);
        handles.push(h);
    }
    for (i, h) in handles.iter().enumerate() {
        h.wait_timeout(timeout)
            .map_err(|e| format!("seeder {i} checking its data: {e}"))?;
    }
    Ok(sessions)
}

/// `serve_metadata`: load libtorrent's default plugins, so magnet leechers get the metadata.
fn start_libtorrent_seeders(
    n: usize,
    torrent: &Path,
    data: &Path,
    serve_metadata: bool,
) -> Result<Seeders, String> {
    let probe = Command::new(PYTHON)
        .args(["-c", "import libtorrent; print(libtorrent.__version__)"])
        .output();
    match probe {
        Ok(o) if o.status.success() => eprintln!(
            "  libtorrent {} (python bindings)",
            String::from_utf8_lossy(&o.stdout).trim()
        ),
        Ok(_) => {
            return Err(format!(
                "--seed-with libtorrent needs the python3 libtorrent bindings for {PYTHON} \
                 (Debian/Ubuntu: apt-get install python3-libtorrent)"
            ))
        }
        Err(e) => return Err(format!("--seed-with libtorrent needs {PYTHON}: {e}")),
    }
    let (tx, rx) = crossbeam_channel::unbounded();
    let mut children = Children::default();
    for i in 0..n {
        let mut child = Command::new(PYTHON)
            .arg(SEEDER_SCRIPT)
            .arg(torrent)
            .arg(data)
            .env(
                "SWARM_SERVE_METADATA",
                if serve_metadata { "1" } else { "" },
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("starting {SEEDER_SCRIPT}: {e}"))?;
        let out = child.stdout.take().expect("piped stdout");
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send((i, line)).is_err() {
                    break;
                }
            }
        });
        children.0.push(child);
    }
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut ports = vec![None; n];
    while ports.iter().any(Option::is_none) {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left.min(Duration::from_millis(500))) {
            Ok((i, line)) => {
                if let Some(p) = line.strip_prefix("ready ") {
                    ports[i] = Some(p.trim().to_string());
                }
            }
            Err(_) if left.is_zero() => {
                return Err("libtorrent seeders did not become ready within 90s".into())
            }
            Err(_) => {}
        }
        for (i, c) in children.0.iter_mut().enumerate() {
            if let Ok(Some(status)) = c.try_wait() {
                return Err(format!("libtorrent seeder {i} exited early ({status})"));
            }
        }
    }
    let ports: Vec<String> = ports.into_iter().flatten().collect();
    eprintln!(
        "  libtorrent seeders on 127.0.0.1 ports {}",
        ports.join(", ")
    );
    Ok(Seeders::Libtorrent {
        children,
        lines: rx,
    })
}

/// A magnet link with the info-hash of the .torrent at `torrent` and the tracker `url`.
fn magnet_link(torrent: &Path, url: &str) -> Result<String, String> {
    let bytes = std::fs::read(torrent).map_err(|e| format!("{}: {e}", torrent.display()))?;
    let meta = coracle::Metainfo::from_bytes(&bytes).map_err(|e| e.to_string())?;
    Ok(format!(
        "magnet:?xt=urn:btih:{}&tr={url}",
        meta.info_hash.to_hex()
    ))
}

/// The first line of a run: payload, seeders and `leecher`.
fn banner(args: &Args, layout: &gen::Layout, leecher: &str, dir: &Path) {
    eprintln!(
        "swarm: {} in {} file(s), {} pieces of {}, {} {:?} seeder(s), {leecher}, in {}",
        human(layout.total()),
        layout.files.len(),
        layout.pieces(),
        human(args.piece),
        args.seeders,
        args.seed_with,
        dir.display()
    );
}

/// Writes the deterministic payload under `seed_dir` and its .torrent (announcing to `url`) at
/// `torrent_path`.
fn write_swarm(
    layout: &gen::Layout,
    seed_dir: &Path,
    torrent_path: &Path,
    url: &str,
) -> Result<(), String> {
    let t = Instant::now();
    let pieces = gen::write_payload(layout, seed_dir, 0x5eed_cafe)
        .map_err(|e| format!("writing the payload: {e}"))?;
    std::fs::write(torrent_path, gen::torrent(layout, pieces, url))
        .map_err(|e| format!("writing the torrent: {e}"))?;
    eprintln!(
        "  payload and .torrent written in {:.2}s",
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Starts the seeders `--seed-with` names; returns them and the seconds they took to be ready.
fn start_seeders(
    args: &Args,
    torrent_path: &Path,
    seed_dir: &Path,
) -> Result<(Seeders, f64), String> {
    let t = Instant::now();
    let seeders = match args.seed_with {
        SeedWith::Coracle => Seeders::Coracle(start_coracle_seeders(
            args.seeders,
            torrent_path,
            seed_dir,
            Duration::from_secs(args.timeout),
        )?),
        SeedWith::Libtorrent => {
            start_libtorrent_seeders(args.seeders, torrent_path, seed_dir, args.magnet)?
        }
        real => {
            let dir = torrent_path.parent().unwrap_or(Path::new("."));
            Seeders::Real(seeders::start(
                real,
                args.seeders,
                torrent_path,
                seed_dir,
                dir,
            )?)
        }
    };
    Ok((seeders, t.elapsed().as_secs_f64()))
}

/// `--settle`: lets the machine's memory reach the same state before every download. On a VM
/// that hands freed memory back to its host, the first touch of fresh page-cache memory costs a
/// host fault, so whether the memory freed by making the payload is still backed swings a
/// run's CPU by up to a second per GiB; after a pause of several seconds it no longer is, for
/// every client alike.
fn settle(args: &Args) {
    if args.settle > 0 {
        eprintln!("  settling for {} s (--settle)", args.settle);
        std::thread::sleep(std::time::Duration::from_secs(args.settle));
    }
}

fn run(args: &Args, work: &Work) -> Result<(), String> {
    if args.dht {
        let coracle = [compare::Contender::Coracle];
        return dht::run(args, work, args.compare.as_deref().unwrap_or(&coracle));
    }
    if let Some(clients) = &args.compare {
        return compare::run(args, work, clients);
    }
    if let Some(client) = args.leech_with {
        return foreign::run(args, work, client);
    }
    let dir = &work.dir;
    let seed_dir = dir.join("seed");
    let torrent_path = dir.join("swarm.torrent");
    let layout = gen::Layout::new(args.size, args.files, args.piece);
    let total = layout.total();
    banner(args, &layout, &format!("{} leecher(s)", args.leechers), dir);

    let tracker = tracker::TestTracker::start();
    let url = tracker.url();

    // 1. The payload and its .torrent.
    write_swarm(&layout, &seed_dir, &torrent_path, &url)?;

    // 2. The seeders, ready once the tracker lists them all as complete.
    let t_seed = Instant::now();
    let (seeders, _) = start_seeders(args, &torrent_path, &seed_dir)?;
    foreign::wait_for_seeders(&tracker, args.seeders)?;
    let seed_start_secs = t_seed.elapsed().as_secs_f64();
    eprintln!(
        "  {} seeder(s) ready in {seed_start_secs:.2}s{}",
        args.seeders,
        match args.seed_with {
            SeedWith::Coracle => " (recheck of the shared data, not counted below)",
            SeedWith::Libtorrent => " (seed mode, no recheck)",
            _ => " (their own check of the data, and the tracker's answer)",
        }
    );

    settle(args);

    // 3. The leechers, each a child process.
    let exe = std::env::current_exe().map_err(|e| format!("finding this program: {e}"))?;
    let seed_cpu_before = seeders.cpu();
    let t = Instant::now();
    let mut leechers = Children::default();
    for i in 0..args.leechers {
        let child = Command::new(&exe)
            .arg("--leech-child")
            .arg(&torrent_path)
            .arg(dir.join(format!("leech{i}")))
            .arg(&url)
            .arg(i.to_string())
            .arg(args.timeout.to_string())
            .arg(if args.pwrite { "pwrite" } else { "mmap" })
            .args(args.magnet.then_some("magnet"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("starting leecher {i}: {e}"))?;
        leechers.0.push(child);
    }
    let mut reports = Vec::new();
    for (i, child) in std::mem::take(&mut leechers.0).into_iter().enumerate() {
        let out = child
            .wait_with_output()
            .map_err(|e| format!("leecher {i}: {e}"))?;
        let text = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            return Err(format!("leecher {i} failed ({})", out.status));
        }
        let r = LeechReport::parse(&text)
            .ok_or_else(|| format!("leecher {i} printed no report: {text:?}"))?;
        reports.push(r);
    }
    let parent_wall = t.elapsed().as_secs_f64();
    let seed_cpu = seeders.cpu() - seed_cpu_before;

    // 4. Byte-for-byte check.
    let t = Instant::now();
    for i in 0..args.leechers {
        gen::compare(&layout, &seed_dir, &dir.join(format!("leech{i}")))
            .map_err(|e| format!("leecher {i}'s download is wrong: {e}"))?;
    }
    let verify_secs = t.elapsed().as_secs_f64();
    let lt_uploaded = seeders.shutdown();
    drop(tracker);

    // 5. The floors, and the summary.
    let floors = floor::Floors::measure(total, args.piece, dir)?;
    let seed_kind = args.seed_with.describe();
    let mut s = String::new();
    let mut line = |k: &str, v: String| s.push_str(&format!("  {k:<18}{v}\n"));
    line(
        "payload",
        format!(
            "{} in {} file(s), {} pieces of {}",
            human(total),
            layout.files.len(),
            layout.pieces(),
            human(args.piece)
        ),
    );
    line("seeders", format!("{} x {seed_kind}", args.seeders));
    if args.seed_with == SeedWith::Coracle {
        line(
            "seeder recheck",
            format!("{seed_start_secs:.2} s (all seeders at once; excluded below)"),
        );
    }
    line(
        "leecher storage",
        (if args.pwrite {
            "pwrite (forced)"
        } else {
            "default (mmap windows)"
        })
        .to_string(),
    );
    for (i, r) in reports.iter().enumerate() {
        let tag = if reports.len() > 1 {
            format!(" #{i}")
        } else {
            String::new()
        };
        let cpu = r.user + r.sys;
        line(
            &format!("wall to exit{tag}"),
            format!(
                "{:.2} s  (completion + shutdown/flush)",
                r.wall + r.shutdown
            ),
        );
        line(
            &format!("wall{tag}"),
            format!(
                "{:.2} s  ({:.1} MiB/s; + {:.2} s shutdown/flush)",
                r.wall,
                total as f64 / r.wall / MIB,
                r.shutdown
            ),
        );
        if r.metadata > 0.0 {
            line(
                &format!("metadata{tag}"),
                format!(
                    "{:.3} s from start (magnet link with the tracker)",
                    r.metadata
                ),
            );
        }
        line(
            &format!("leecher CPU{tag}"),
            format!(
                "{cpu:.2} s (user {:.2} + sys {:.2}) = {:.2} s/GiB; {:.2} s of it by completion",
                r.user,
                r.sys,
                cpu / (total as f64 / GIB),
                r.cpu_at_done
            ),
        );
        line(
            &format!("peak RssAnon{tag}"),
            format!(
                "{:.1} MiB  (VmHWM {:.1} MiB, includes mapped file pages)",
                r.rss_anon_peak_kib as f64 / 1024.0,
                r.vm_hwm_kib as f64 / 1024.0
            ),
        );
        line(
            &format!("leecher kernel{tag}"),
            format!(
                "{} minor / {} major faults, {} voluntary / {} involuntary switches{}",
                r.counts[0],
                r.counts[1],
                r.counts[2],
                r.counts[3],
                if r.peers > 0 {
                    format!("; {} peers", r.peers)
                } else {
                    String::new()
                }
            ),
        );
        if r.hash_failures > 0 || r.bytes > total + total / 20 {
            line(
                &format!("waste{tag}"),
                format!(
                    "{} received for {} ({} hash failures)",
                    human(r.bytes),
                    human(total),
                    r.hash_failures
                ),
            );
        }
    }
    floor::report(&floors, total, &mut line);
    for (i, r) in reports.iter().enumerate() {
        let tag = if reports.len() > 1 {
            format!(" #{i}")
        } else {
            String::new()
        };
        line(
            &format!("CPU / floor{tag}"),
            floor::ratios(&floors, r.user + r.sys),
        );
    }
    line(
        "seed-side CPU",
        format!(
            "{seed_cpu:.2} s during the download ({})",
            args.seed_with.cpu_source()
        ),
    );
    if let Some(up) = lt_uploaded {
        line("libtorrent sent", human(up));
    }
    line(
        "check",
        format!(
            "{} byte-identical to the payload ({verify_secs:.2} s); parent saw {parent_wall:.2} s",
            if args.leechers > 1 {
                "every download"
            } else {
                "download"
            }
        ),
    );
    println!("\n== coracle swarm ==\n{s}");
    let _ = std::io::stdout().flush();
    Ok(())
}
