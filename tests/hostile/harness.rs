//! The honest side of every hostile case: one coracle seeder, one coracle leecher, a payload, and
//! the checks every case ends with (exact bytes, bounded time, bounded memory).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use coracle::TorrentStats;
use coracle::{AddOptions, Session, SessionConfig, TorrentHandle, TorrentSource};

use crate::payload::{bytes, temp_dir, Payload};

/// Piece length: two blocks per piece, so a piece can have several contributors.
pub const PIECE_LEN: u32 = 32 * 1024;
/// 61 pieces (not a multiple of 8, so the bitfield has spare bits), the last one short.
pub const PAYLOAD_LEN: usize = 61 * PIECE_LEN as usize - 5000;
/// Upload limit of the throttled seeder: the download lasts about two seconds, long enough for the
/// hostile peer to act while the leecher still needs data.
pub const SLOW_SEED_RATE: u64 = 1024 * 1024;
/// The download must finish within this, hostile peer or not.
pub const DOWNLOAD_BOUND: Duration = Duration::from_secs(30);
/// Growth of the test process's resident memory we tolerate during one case (a sanity bound:
/// the tests share the process, so this also covers the cases running beside it).
pub const MEMORY_BOUND_MIB: u64 = 200;

/// A session config on 127.0.0.1 with a peer id unique to `tag` and this process.
pub fn config(tag: u8) -> SessionConfig {
    let mut cfg = SessionConfig::default();
    cfg.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    cfg.engine.peer_id = *b"-CR0100-hostile00000";
    cfg.engine.peer_id[18] = (std::process::id() % 251) as u8;
    cfg.engine.peer_id[19] = tag;
    cfg
}

/// The payload, its torrent and an honest seeder that has checked its copy.
pub struct Swarm {
    pub payload: Payload,
    pub torrent: Vec<u8>,
    pub info_hash: [u8; 20],
    pub pieces: u32,
    name: String,
    seeder: Session,
    rss_start: u64,
}

impl Swarm {
    /// Seeds a fresh payload; `rate` throttles the seeder's uploads.
    pub fn start(name: &str, rate: Option<u64>, trackers: &[&str]) -> Swarm {
        let rss_start = rss_mib();
        let payload = Payload::single(name, bytes(name.len() as u64 + 7, PAYLOAD_LEN));
        let torrent = payload.torrent(PIECE_LEN as usize, trackers);
        let meta = coracle::Metainfo::from_bytes(&torrent).expect("valid torrent");
        let dir = temp_dir(&format!("{name}-seed"));
        payload.write_to(&dir);
        let mut cfg = config(1);
        cfg.engine.upload_rate_limit = rate;
        let seeder = Session::new(cfg).expect("seeder session");
        let h = seeder
            .add(TorrentSource::Bytes(torrent.clone()), {
                let mut opts = AddOptions::default();
                opts.output = dir;
                opts.no_trackers = true;
                opts
            })
            .expect("seeder adds the torrent");
        h.wait_timeout(Duration::from_secs(20))
            .expect("seeder checks its data");
        Swarm {
            payload,
            torrent,
            info_hash: meta.info_hash.0,
            pieces: meta.layout().num_pieces(),
            name: name.to_string(),
            seeder,
            rss_start,
        }
    }

    pub fn seeder_addr(&self) -> SocketAddr {
        self.seeder.listen_addr()
    }

    /// Starts the leecher with `peers` to dial; `tweak` adjusts its config.
    pub fn leecher(
        &self,
        peers: Vec<SocketAddr>,
        tweak: impl FnOnce(&mut SessionConfig),
    ) -> Leecher {
        let mut cfg = config(2);
        tweak(&mut cfg);
        let session = Session::new(cfg).expect("leecher session");
        let events = session.events();
        let dir = temp_dir(&format!("{}-leech", self.name));
        let handle = session
            .add(TorrentSource::Bytes(self.torrent.clone()), {
                let mut opts = AddOptions::default();
                opts.output = dir.clone();
                opts.peers = peers;
                opts.no_trackers = false;
                opts
            })
            .expect("leecher adds the torrent");
        Leecher {
            session,
            events,
            handle,
            dir,
        }
    }

    /// The checks every case ends with: the leecher finished within the bound with the exact
    /// bytes, and memory stayed bounded. Returns its final numbers.
    pub fn assert_download(&self, l: &Leecher, started: Instant) -> TorrentStats {
        let left = DOWNLOAD_BOUND.saturating_sub(started.elapsed());
        l.handle
            .wait_timeout(left)
            .unwrap_or_else(|e| panic!("download did not complete: {e}; {:?}", l.handle.stats()));
        self.payload.assert_on_disk(&l.dir);
        let stats = l.handle.stats().expect("leecher stats");
        assert_eq!(stats.pieces_done, stats.pieces_total, "{stats:?}");
        let growth = rss_mib().saturating_sub(self.rss_start);
        assert!(
            growth < MEMORY_BOUND_MIB,
            "resident memory grew by {growth} MiB"
        );
        stats
    }
}

/// The coracle leecher under attack.
pub struct Leecher {
    pub session: Session,
    /// Its events from before the torrent was added.
    pub events: coracle::EventReceiver,
    pub handle: TorrentHandle,
    pub dir: PathBuf,
}

impl Leecher {
    /// Waits until the leecher has at least `n` peers (so it is connected before an attack).
    pub fn wait_peers(&self, n: usize, within: Duration) {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if self.handle.stats().is_some_and(|s| s.peers >= n) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "the leecher never reached {n} peers: {:?}",
            self.handle.stats()
        );
    }
}

/// The test process's resident set size in MiB (`VmRSS` of /proc/self/status; 0 if unreadable).
pub fn rss_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kib| kib / 1024)
}
