//! The leecher, run in a child process of its own so its CPU time and memory are measured alone.
//! It prints one `SWARM-LEECH key=value...` line on stdout that the parent parses.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use coracle::Event;
use coracle::{AddOptions, Session, SessionConfig, TorrentSource};

use crate::measure;

/// What the child reports.
#[derive(Debug, Default, Clone)]
pub struct LeechReport {
    /// Session start to every piece verified and written.
    pub wall: f64,
    /// Session shutdown (flush) after completion.
    pub shutdown: f64,
    pub user: f64,
    pub sys: f64,
    /// User+system CPU seconds when the download completed (before the shutdown's flush).
    pub cpu_at_done: f64,
    pub rss_anon_peak_kib: u64,
    pub vm_hwm_kib: u64,
    pub bytes: u64,
    pub hash_failures: u32,
    pub peers: usize,
    /// Minor faults, major faults, voluntary and involuntary context switches.
    pub counts: [i64; 4],
    /// With `--magnet`: session start to the metadata verified (0 otherwise).
    pub metadata: f64,
}

impl LeechReport {
    pub fn line(&self) -> String {
        format!(
            "SWARM-LEECH wall={:.4} shutdown={:.4} user={:.4} sys={:.4} cpu_at_done={:.4} \
             rss_anon_peak_kib={} vm_hwm_kib={} bytes={} hash_failures={} peers={} \
             minflt={} majflt={} nvcsw={} nivcsw={} metadata={:.4}",
            self.wall,
            self.shutdown,
            self.user,
            self.sys,
            self.cpu_at_done,
            self.rss_anon_peak_kib,
            self.vm_hwm_kib,
            self.bytes,
            self.hash_failures,
            self.peers,
            self.counts[0],
            self.counts[1],
            self.counts[2],
            self.counts[3],
            self.metadata
        )
    }

    pub fn parse(out: &str) -> Option<LeechReport> {
        let line = out.lines().find(|l| l.starts_with("SWARM-LEECH "))?;
        let mut r = LeechReport::default();
        for kv in line.split_whitespace().skip(1) {
            let (k, v) = kv.split_once('=')?;
            match k {
                "wall" => r.wall = v.parse().ok()?,
                "shutdown" => r.shutdown = v.parse().ok()?,
                "user" => r.user = v.parse().ok()?,
                "sys" => r.sys = v.parse().ok()?,
                "cpu_at_done" => r.cpu_at_done = v.parse().ok()?,
                "rss_anon_peak_kib" => r.rss_anon_peak_kib = v.parse().ok()?,
                "vm_hwm_kib" => r.vm_hwm_kib = v.parse().ok()?,
                "bytes" => r.bytes = v.parse().ok()?,
                "hash_failures" => r.hash_failures = v.parse().ok()?,
                "peers" => r.peers = v.parse().ok()?,
                "minflt" => r.counts[0] = v.parse().ok()?,
                "majflt" => r.counts[1] = v.parse().ok()?,
                "nvcsw" => r.counts[2] = v.parse().ok()?,
                "nivcsw" => r.counts[3] = v.parse().ok()?,
                "metadata" => r.metadata = v.parse().ok()?,
                _ => {}
            }
        }
        Some(r)
    }
}

/// `--leech-child TORRENT OUT_DIR TRACKER_URL [INDEX [TIMEOUT_SECS [mmap|pwrite [magnet]]]]`
/// (`magnet`: start from a magnet link with the torrent's info-hash and the tracker, and time
/// the metadata fetch)
pub fn run(args: &[String]) -> Result<(), String> {
    let [torrent, out, tracker, rest @ ..] = args else {
        return Err(
            "usage: --leech-child TORRENT OUT_DIR TRACKER_URL [INDEX [TIMEOUT [mmap|pwrite]]]"
                .into(),
        );
    };
    let index: u32 = rest.first().and_then(|s| s.parse().ok()).unwrap_or(0);
    let timeout = Duration::from_secs(rest.get(1).and_then(|s| s.parse().ok()).unwrap_or(900));
    let show_progress = index == 0;
    let sampler = measure::RssSampler::start();
    let start = Instant::now();

    let mut cfg = SessionConfig::default();
    cfg.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    let id = format!(
        "-CR0100-L{:03}{:08}",
        index % 1000,
        std::process::id() % 100_000_000
    );
    cfg.engine.peer_id.copy_from_slice(&id.as_bytes()[..20]);
    cfg.storage.force_pwrite = rest.get(2).is_some_and(|s| s == "pwrite");
    // `SWARM_DIRTY_LIMIT=BYTES`: another write-back bound (0: none), and
    // `SWARM_PIECE_BUFFER=BYTES`: another piece-buffer budget, to measure their effect.
    let env_bytes = |name: &str| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
    };
    if let Some(limit) = env_bytes("SWARM_DIRTY_LIMIT") {
        cfg.storage.dirty_limit = limit as u64;
    }
    if let Some(bytes) = env_bytes("SWARM_PIECE_BUFFER") {
        cfg.engine.piece_buffer_bytes = bytes;
        cfg.engine.session_piece_buffer_bytes = cfg.engine.session_piece_buffer_bytes.max(bytes);
    }
    let (dht_router, given) = dht_env()?;
    cfg.dht.bootstrap = dht_router.iter().cloned().collect();
    cfg.dht.enabled = given.is_empty();
    let trackerless = dht_router.is_some() || !given.is_empty();
    let session = Session::new(cfg).map_err(|e| format!("leecher session: {e}"))?;
    let events = session.events();
    let bytes = std::fs::read(torrent).map_err(|e| format!("reading {torrent}: {e}"))?;
    let meta = coracle::Metainfo::from_bytes(&bytes).map_err(|e| e.to_string())?;
    let magnet = rest.get(3).is_some_and(|s| s == "magnet");
    let source = if magnet {
        let hex = meta.info_hash.to_hex();
        TorrentSource::Magnet(match trackerless {
            true => format!("magnet:?xt=urn:btih:{hex}"),
            false => format!("magnet:?xt=urn:btih:{hex}&tr={tracker}"),
        })
    } else {
        TorrentSource::File(PathBuf::from(torrent))
    };
    let handle = session
        .add(source, {
            let mut opts = AddOptions::default();
            opts.output = PathBuf::from(out);
            opts.peers = given;
            opts
        })
        .map_err(|e| format!("adding the torrent: {e}"))?;
    let mut metadata = 0.0;
    if !trackerless && !meta.trackers.iter().flatten().any(|t| t == tracker) {
        eprintln!("warning: the torrent does not name tracker {tracker}");
    }
    let total = meta.total_length;

    let mut last_print = Instant::now() - Duration::from_secs(1);
    let mut last_stats = None;
    let mut max_peers = 0;
    loop {
        if start.elapsed() > timeout {
            return Err(format!(
                "download did not finish within {}s",
                timeout.as_secs()
            ));
        }
        match events.recv_timeout(Duration::from_millis(200)) {
            Ok(Event::Completed { .. }) => break,
            Ok(Event::MetadataReceived { .. }) => metadata = start.elapsed().as_secs_f64(),
            Ok(Event::Failed { error, .. }) => return Err(format!("download failed: {error}")),
            Ok(Event::Progress { stats, .. }) => {
                if show_progress && last_print.elapsed() >= Duration::from_millis(500) {
                    let secs = start.elapsed().as_secs_f64();
                    eprint!(
                        "\r  leecher: {:5.1}%  {:7.1} MiB/s now  {:7.1} MiB/s avg  peers {:2}  ",
                        100.0 * stats.bytes_done as f64 / total.max(1) as f64,
                        stats.down_rate / (1u64 << 20) as f64,
                        stats.bytes_done as f64 / secs / (1u64 << 20) as f64,
                        stats.peers,
                    );
                    let _ = std::io::stderr().flush();
                    last_print = Instant::now();
                }
                max_peers = max_peers.max(stats.peers);
                last_stats = Some(stats);
            }
            Ok(Event::TrackerTrouble { url, message, .. }) => {
                eprintln!("\n  leecher: tracker {url}: {message}");
            }
            Ok(_) | Err(coracle::RecvError::Timeout) => {}
            Err(coracle::RecvError::Closed) => return Err("the session closed".into()),
        }
        // Completion is also visible on the handle, in case the event was dropped.
        if handle.wait_timeout(Duration::ZERO).is_ok() {
            break;
        }
    }
    let wall = start.elapsed().as_secs_f64();
    let cpu_at_done = {
        let (u, s) = measure::self_cpu();
        u + s
    };
    let (downloaded, hash_failures, peers) = handle
        .stats()
        .or(last_stats)
        .map(|s| (s.downloaded, s.hash_failures, s.peers.max(max_peers)))
        .unwrap_or_default();
    if show_progress {
        eprintln!(
            "\r  leecher: 100.0%  done in {wall:.2}s ({:.1} MiB/s avg){:40}",
            total as f64 / wall / (1u64 << 20) as f64,
            ""
        );
    }
    let t = Instant::now();
    session
        .shutdown()
        .map_err(|e| format!("leecher shutdown: {e}"))?;
    let shutdown = t.elapsed().as_secs_f64();
    let rss_anon_peak_kib = sampler.finish();
    let (user, sys) = measure::self_cpu();
    let (_, vm_hwm_kib) = measure::self_memory();
    let report = LeechReport {
        wall,
        shutdown,
        user,
        sys,
        cpu_at_done,
        rss_anon_peak_kib,
        vm_hwm_kib,
        bytes: downloaded,
        hash_failures,
        peers,
        counts: measure::self_counts(),
        metadata,
    };
    println!("{}", report.line());
    Ok(())
}

/// `--dht`: `SWARM_DHT_BOOTSTRAP=IP:PORT` has the DHT join through that node only, and
/// `SWARM_PEERS=IP:PORT,...` (its control) names the seeders instead, with the DHT off. Either
/// way the magnet names no tracker.
fn dht_env() -> Result<(Option<String>, Vec<SocketAddr>), String> {
    let router = std::env::var("SWARM_DHT_BOOTSTRAP").ok();
    let given = match std::env::var("SWARM_PEERS") {
        Ok(list) => list
            .split(',')
            .map(|a| a.parse().map_err(|e| format!("SWARM_PEERS: {a:?}: {e}")))
            .collect::<Result<_, _>>()?,
        Err(_) => Vec::new(),
    };
    Ok((router, given))
}
