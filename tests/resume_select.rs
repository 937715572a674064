//! Resume state with skipped files: a skipped file that was never created is not "changed
//! behind our back" at a restart, only the pieces it shares with wanted files (whose bytes for
//! it live in the part file) are checked again, nothing is fetched; choosing it at a later start
//! moves the part file's bytes into it and fetches only its own pieces.

// Test code drives real sockets, threads, files and clocks.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

#[path = "support/payload.rs"]
mod payload;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use coracle::internals::disk::state_file;
use coracle::internals::resume::{self, FileStamp};
use coracle::FilePriority::{self, Normal, Skip};
use coracle::{AddOptions, Session, SessionConfig, TorrentSource};
use coracle::{TorrentState, TorrentStats};
use payload::{temp_dir, Payload, PayloadFile};

const PIECE: usize = 64 * 1024;
const WAIT: Duration = Duration::from_secs(60);
/// f0 ends inside piece 15, f1 inside piece 38: the two pieces f1 shares.
const SIZES: [usize; 3] = [1_000_000, 1_500_003, 700_001];

fn payload() -> Payload {
    Payload {
        name: "rs".into(),
        files: (SIZES.iter().enumerate())
            .map(|(i, &len)| PayloadFile {
                path: vec![format!("f{i}.bin")],
                data: payload::bytes(70 + i as u64, len),
            })
            .collect(),
        single: false,
    }
}

fn session(state: Option<&Path>) -> Session {
    Session::new({
        let mut config = SessionConfig::default();
        config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        config.disk_workers = 2;
        config.state_dir = state.map(Path::to_path_buf);
        config.dht = {
            let mut dht = coracle::DhtSettings::default();
            dht.enabled = false;
            dht
        };
        config.engine = {
            let mut engine_ = SessionConfig::default().engine;
            engine_.pex = false;
            engine_
        };
        config
    })
    .unwrap()
}

/// Runs the torrent to completion with these priorities and returns its numbers.
fn run(
    state: &Path,
    torrent: &[u8],
    data: &Path,
    prios: &[FilePriority],
    peer: SocketAddr,
) -> TorrentStats {
    let s = session(Some(state));
    let h = s
        .add(TorrentSource::Bytes(torrent.to_vec()), {
            let mut opts = AddOptions::default();
            opts.output = data.to_path_buf();
            opts.no_trackers = true;
            opts.peers = vec![peer];
            opts.file_priorities = prios.to_vec();
            opts
        })
        .unwrap();
    h.wait_timeout(WAIT).expect("completes");
    let stats = h.stats().unwrap();
    assert_eq!(stats.state, TorrentState::Seeding);
    s.shutdown().unwrap();
    stats
}

#[test]
fn a_skipped_file_never_created_is_no_change_and_choosing_it_later_uses_the_part_file() {
    let p = payload();
    let torrent = p.torrent(PIECE, &[]);
    let meta = coracle::Metainfo::from_bytes(&torrent).unwrap();
    let dir = temp_dir("resume-select");
    let (data, state, seed_dir) = (dir.join("data"), dir.join("state"), dir.join("seed"));
    p.write_to(&seed_dir);
    let seeder = session(None);
    let sh = seeder
        .add(TorrentSource::Bytes(torrent.clone()), {
            let mut opts = AddOptions::default();
            opts.output = seed_dir;
            opts.no_trackers = true;
            opts
        })
        .unwrap();
    sh.wait_timeout(WAIT).unwrap();
    let peer = seeder.listen_addr();
    let parts = data.join(format!(".{}.parts", meta.info_hash.to_hex()));
    let shared = [15u32, 38];

    let first = run(&state, &torrent, &data, &[Normal, Skip, Normal], peer);
    assert!(!p.file_path(&data, 1).exists() && parts.exists());
    let saved =
        resume::decode(&std::fs::read(state_file::path(&state, &meta.info_hash.0)).unwrap())
            .unwrap();
    assert_eq!(saved.files[1], FileStamp::MISSING);
    assert_eq!(saved.have.count(), first.pieces_done);
    assert!(shared.iter().all(|&s| saved.have.get(s)));

    // Same choice again: only the two shared pieces are read (from the files and the part
    // file), nothing is fetched, and the skipped file is still not there.
    let again = run(&state, &torrent, &data, &[Normal, Skip, Normal], peer);
    assert_eq!(again.pieces_checked, 2);
    assert_eq!(again.downloaded, 0);
    assert_eq!(again.pieces_done, first.pieces_done);
    assert!(!p.file_path(&data, 1).exists());

    // Everything wanted at the next start: the part file's bytes move into f1, the shared
    // pieces check out, and only f1's other pieces are fetched.
    let all = run(&state, &torrent, &data, &[Normal, Normal, Normal], peer);
    assert_eq!(all.pieces_checked, 2);
    let f1_own = (38 - 15 - 1) as u64 * PIECE as u64;
    assert_eq!(all.downloaded, f1_own);
    p.assert_on_disk(&data);
    assert!(!parts.exists(), "no part file left");
    seeder.shutdown().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
