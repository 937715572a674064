//! Storage under pressure: a download larger than the process's address space limit, the
//! `pread`/`pwrite` fallback, and slow storage that must not stall the reactor.
//!
//! Every peer talks over 127.0.0.1 only.

// Test and example code drives real sockets, threads, files and clocks.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

#[path = "support/big_payload.rs"]
mod big_payload;
#[path = "support/payload.rs"]
mod payload;

use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use big_payload::BigPayload;
use coracle::Event;
use coracle::{AddOptions, Session, SessionConfig, TorrentSource};
use payload::{temp_dir, Payload};

/// A session on 127.0.0.1 with its own peer id (equal ids refuse each other as self-connections)
/// and two disk workers, so timings do not depend on the machine's core count.
fn config(tag: u8) -> SessionConfig {
    let mut cfg = SessionConfig::default();
    cfg.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    cfg.disk_workers = 2;
    cfg.engine.peer_id = *b"-CR0100-storage00000";
    cfg.engine.peer_id[19] = tag;
    cfg.engine.peer_id[18] = (std::process::id() % 251) as u8;
    cfg
}

/// Starts a session seeding `torrent` from the data already in `dir`, after its check.
fn seeder(tag: u8, torrent: &[u8], dir: &Path, check: Duration) -> Session {
    let s = Session::new(config(tag)).expect("seeder session");
    let h = s
        .add(TorrentSource::Bytes(torrent.to_vec()), {
            let mut opts = AddOptions::default();
            opts.output = dir.to_path_buf();
            opts.no_trackers = true;
            opts
        })
        .expect("seeder adds its torrent");
    h.wait_timeout(check).expect("seeder checks its data");
    s
}

/// Removes a test's folders when the test ends, passed or not: the big test leaves gigabytes.
struct Cleanup(Vec<PathBuf>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for d in &self.0 {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// (1) A file larger than the address space the leecher may use.
// ---------------------------------------------------------------------------------------------

/// The leecher's address-space limit, in KiB (as `ulimit -v` takes it): 1 GiB.
const ADDRESS_LIMIT_KIB: u64 = 1 << 20;
/// Half again the limit, plus an odd tail so the last piece is short.
const BIG_LEN: u64 = (3 << 29) + 12_345;

/// The most address space `pid` has had so far, from /proc (KiB), for the report.
fn vm_peak_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmPeak:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Runs the CLI leecher under `ulimit -v`, returning its exit status, peak address space seen
/// and stderr. It is killed after `limit`.
fn run_limited_cli(args: &[&std::ffi::OsStr], limit: Duration) -> (bool, u64, String) {
    let script = format!("ulimit -v {ADDRESS_LIMIT_KIB} && exec \"$0\" \"$@\"");
    let mut child = Command::new("sh")
        // Its default resume state goes to a test folder, not the user's.
        .env(
            "XDG_STATE_HOME",
            std::env::temp_dir().join(format!("coracle-{}-state-home", std::process::id())),
        )
        .arg("-c")
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_coracle"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting sh");
    let deadline = Instant::now() + limit;
    let mut peak = 0;
    let status = loop {
        // `exec` keeps the pid, so once sh has run `ulimit` this is coracle itself.
        peak = peak.max(vm_peak_kib(child.id()).unwrap_or(0));
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the limited leecher did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (status.success(), peak, err)
}

/// The CLI downloads a 1.5 GiB file while `ulimit -v` holds it to 1 GiB of address space: the
/// storage maps bounded windows, never whole files.
#[test]
fn cli_downloads_a_file_larger_than_its_address_space_limit() {
    let t0 = Instant::now();
    let seed_dir = temp_dir("ulimit-seed");
    let leech_dir = temp_dir("ulimit-leech");
    let _cleanup = Cleanup(vec![seed_dir.clone(), leech_dir.clone()]);
    let big = BigPayload::new(BIG_LEN);
    let torrent = big.write_and_describe(&seed_dir, "big.bin");
    let torrent_path = seed_dir.join("big.torrent");
    std::fs::write(&torrent_path, &torrent).unwrap();
    let seeder = seeder(1, &torrent, &seed_dir, Duration::from_secs(120));
    let prepared = t0.elapsed();

    let peer = seeder.listen_addr().to_string();
    let args: Vec<&std::ffi::OsStr> = vec![
        "download".as_ref(),
        torrent_path.as_os_str(),
        "-o".as_ref(),
        leech_dir.as_os_str(),
        "--peer".as_ref(),
        peer.as_ref(),
        "--port".as_ref(),
        "0".as_ref(),
        "--no-trackers".as_ref(),
        "--no-dht".as_ref(),
        "--no-lsd".as_ref(),
        // Not `--quiet`: warnings must reach stderr, to show the maps were never given up.
        "--json".as_ref(),
    ];
    let t1 = Instant::now();
    let (ok, peak_kib, stderr) = run_limited_cli(&args, Duration::from_secs(600));
    let downloaded = t1.elapsed();
    assert!(ok, "leecher failed under ulimit -v; stderr:\n{stderr}");
    // Running out of address space empties the window cache; it must not end memory mapping.
    assert!(
        !stderr.contains("pread/pwrite"),
        "fell back to positional I/O under ulimit -v; stderr:\n{stderr}"
    );
    seeder.shutdown().unwrap();
    big.assert_file(&leech_dir.join("big.bin"));
    eprintln!(
        "ulimit test: prepared in {prepared:?}, downloaded in {downloaded:?} \
         (peak address space {} MiB), total {:?}",
        peak_kib / 1024,
        t0.elapsed()
    );
}

// ---------------------------------------------------------------------------------------------
// (2) and (3): in-process sessions.
// ---------------------------------------------------------------------------------------------

/// A seeder with `payload` and a leecher session built from `leech_cfg`, ready to download.
struct Pair {
    torrent: Vec<u8>,
    seeder: Session,
    leecher: Session,
    leech_dir: PathBuf,
    _cleanup: Cleanup,
}

impl Pair {
    fn new(name: &str, payload: &Payload, piece: usize, leech_cfg: SessionConfig) -> Pair {
        let torrent = payload.torrent(piece, &[]);
        let seed_dir = temp_dir(&format!("{name}-seed"));
        let leech_dir = temp_dir(&format!("{name}-leech"));
        payload.write_to(&seed_dir);
        let seeder = seeder(1, &torrent, &seed_dir, Duration::from_secs(30));
        let leecher = Session::new(leech_cfg).expect("leecher session");
        Pair {
            torrent,
            seeder,
            leecher,
            leech_dir: leech_dir.clone(),
            _cleanup: Cleanup(vec![seed_dir, leech_dir]),
        }
    }

    fn start(&self) -> coracle::TorrentHandle {
        self.leecher
            .add(TorrentSource::Bytes(self.torrent.clone()), {
                let mut opts = AddOptions::default();
                opts.output = self.leech_dir.clone();
                opts.peers = vec![self.seeder.listen_addr()];
                opts.no_trackers = true;
                opts
            })
            .expect("leecher adds the torrent")
    }
}

/// With memory maps switched off, writes and reads go through `pwrite`/`pread` and the bytes are
/// the same.
#[test]
fn forced_pwrite_download_is_exact() {
    let payload = Payload::tree("pwrite", 20, 3).with_big_file(6 << 20);
    let mut cfg = config(2);
    cfg.storage.force_pwrite = true;
    let pair = Pair::new("pwrite", &payload, 32 * 1024, cfg);
    let h = pair.start();
    h.wait_timeout(Duration::from_secs(60))
        .expect("download completes");
    payload.assert_on_disk(&pair.leech_dir);
}

/// Delay of every storage write in the slow download.
const WRITE_DELAY: Duration = Duration::from_millis(20);
/// 16 MiB in 32 KiB pieces: 512 writes at 20 ms over 2 workers is at least ~5 s, long enough
/// for several progress events.
const SLOW_LEN: usize = 16 << 20;
const SLOW_PIECE: usize = 32 * 1024;

/// What the slow download looked like from the embedding program.
#[derive(Debug)]
struct Observed {
    elapsed: Duration,
    slowest_stats: Duration,
    stats_calls: usize,
    /// When each progress event arrived, from the start.
    progress: Vec<Duration>,
}

/// Downloads the slow-storage payload with `write_delay`, polling `stats()` every 100 ms and
/// collecting progress events until it completes.
fn observe_download(name: &str, write_delay: Option<Duration>) -> Observed {
    let payload = Payload::single("slow.bin", payload::bytes(77, SLOW_LEN));
    let mut cfg = config(3);
    cfg.storage.write_delay = write_delay;
    let pair = Pair::new(name, &payload, SLOW_PIECE, cfg);
    let events = pair.leecher.events();
    let start = Instant::now();
    let h = pair.start();
    let mut seen = Observed {
        elapsed: Duration::ZERO,
        slowest_stats: Duration::ZERO,
        stats_calls: 0,
        progress: Vec::new(),
    };
    loop {
        match h.wait_timeout(Duration::from_millis(100)) {
            Ok(()) => break,
            Err(coracle::Error::Timeout) => {}
            Err(e) => panic!("download failed: {e}"),
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "download stalled"
        );
        let t = Instant::now();
        let stats = h.stats().expect("stats answer while downloading");
        seen.slowest_stats = seen.slowest_stats.max(t.elapsed());
        seen.stats_calls += 1;
        assert!(stats.pieces_done <= stats.pieces_total);
        while let Some(ev) = events.try_recv() {
            if matches!(ev, Event::Progress { .. }) {
                seen.progress.push(start.elapsed());
            }
        }
    }
    seen.elapsed = start.elapsed();
    payload.assert_on_disk(&pair.leech_dir);
    seen
}

/// Slow storage slows the download but not the reactor: `stats()` answers promptly and progress
/// events keep coming about once a second while writes queue up.
#[test]
fn slow_storage_does_not_block_the_reactor() {
    let fast = observe_download("fast", None);
    let slow = observe_download("slow", Some(WRITE_DELAY));
    eprintln!("fast: {fast:?}\nslow: {slow:?}");
    let pieces = (SLOW_LEN / SLOW_PIECE) as u32;
    // Two workers sleeping 20 ms per piece cannot go faster than this.
    let floor = WRITE_DELAY * pieces / 2;
    assert!(slow.elapsed >= floor, "{:?} < {floor:?}", slow.elapsed);
    assert!(
        slow.elapsed > fast.elapsed,
        "slow storage was not slower: {:?} vs {:?}",
        slow.elapsed,
        fast.elapsed
    );
    assert!(
        slow.slowest_stats < Duration::from_millis(500),
        "stats() took {:?}",
        slow.slowest_stats
    );
    assert!(slow.stats_calls >= 10, "{slow:?}");
    // About once a second: several events, and no silence over 2.5 s between them or after
    // the start.
    let secs = slow.elapsed.as_secs() as usize;
    assert!(
        slow.progress.len() + 1 >= secs.saturating_sub(1),
        "{slow:?}"
    );
    let mut last = Duration::ZERO;
    for &at in &slow.progress {
        assert!(
            at - last < Duration::from_millis(2500),
            "gap before {at:?}: {slow:?}"
        );
        last = at;
    }
}
