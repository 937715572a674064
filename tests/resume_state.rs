//! Resume state through the library: a restart with valid state reads nothing; a file modified,
//! truncated or deleted after a clean stop has only its own pieces checked and refetched; an
//! embedder's resume bytes round-trip through the API; a damaged or foreign state file is
//! ignored (the data is checked as without state).

// Test and example code drives real sockets, threads, files and clocks.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

#[path = "support/payload.rs"]
mod payload;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use coracle::internals::disk::state_file;
use coracle::internals::resume::{self, plan::pieces_of, FileSlot};
use coracle::{AddOptions, Session, SessionConfig, TorrentSource};
use coracle::{TorrentState, TorrentStats};
use payload::{temp_dir, Payload, PayloadFile};

const PIECE: usize = 64 * 1024;
const WAIT: Duration = Duration::from_secs(60);

/// Three files whose boundaries fall inside pieces.
fn payload() -> Payload {
    let sizes = [1_000_000, 1_500_003, 700_001];
    Payload {
        name: "state".into(),
        files: sizes
            .iter()
            .enumerate()
            .map(|(i, &len)| PayloadFile {
                path: vec![format!("f{i}.bin")],
                data: payload::bytes(40 + i as u64, len),
            })
            .collect(),
        single: false,
    }
}

fn local() -> SessionConfig {
    let mut config = SessionConfig::default();
    config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    config.disk_workers = 2;
    config
}

fn with_state(dir: &Path) -> SessionConfig {
    let mut config = local();
    config.state_dir = Some(dir.to_path_buf());
    config
}

/// Adds the torrent in `cfg`'s session, waits until it seeds, and returns its numbers.
fn run(cfg: SessionConfig, torrent: &[u8], data: &Path, opts: AddOptions) -> TorrentStats {
    let s = Session::new(cfg).unwrap();
    let h = s
        .add(TorrentSource::Bytes(torrent.to_vec()), {
            let mut opts_ = opts;
            opts_.output = data.to_path_buf();
            opts_.no_trackers = true;
            opts_
        })
        .unwrap();
    h.wait_timeout(WAIT).expect("completes");
    let stats = h.stats().unwrap();
    assert_eq!(stats.state, TorrentState::Seeding);
    s.shutdown().unwrap();
    stats
}

/// Pieces each file touches.
fn pieces_per_file(p: &Payload) -> Vec<Vec<u32>> {
    let layout = coracle::sansio::Layout::new(PIECE as u32, p.stream().len() as u64).unwrap();
    let mut start = 0u64;
    p.files
        .iter()
        .map(|f| {
            let slot = FileSlot {
                start,
                length: f.data.len() as u64,
                padding: false,
            };
            start += slot.length;
            pieces_of(&layout, &slot).collect()
        })
        .collect()
}

fn state_path(state: &Path, torrent: &[u8]) -> PathBuf {
    let meta = coracle::Metainfo::from_bytes(torrent).unwrap();
    state_file::path(state, &meta.info_hash.0)
}

#[test]
fn valid_state_skips_the_check_and_changed_files_recheck_only_their_pieces() {
    let p = payload();
    let torrent = p.torrent(PIECE, &[]);
    let dir = temp_dir("resume-state");
    let (data, state, seed_dir) = (dir.join("data"), dir.join("state"), dir.join("seed"));
    p.write_to(&data);
    p.write_to(&seed_dir);
    let total = p.stream().len().div_ceil(PIECE) as u32;
    let per_file = pieces_per_file(&p);

    // First start: no state, so the data is checked; the state is written.
    let first = run(with_state(&state), &torrent, &data, AddOptions::default());
    assert_eq!(first.pieces_checked, total);
    let saved = resume::decode(&std::fs::read(state_path(&state, &torrent)).unwrap()).unwrap();
    assert_eq!(saved.have.count(), total);

    // Restart: nothing read.
    let again = run(with_state(&state), &torrent, &data, AddOptions::default());
    assert_eq!(again.pieces_checked, 0, "valid state: no check");
    assert_eq!(again.pieces_done, total);

    // A seeder holds the good copy, for whatever must be fetched again.
    let seeder = Session::new(local()).unwrap();
    let sh = seeder
        .add(TorrentSource::Bytes(torrent.clone()), {
            let mut opts = AddOptions::default();
            opts.output = seed_dir.clone();
            opts.no_trackers = true;
            opts
        })
        .unwrap();
    sh.wait_timeout(WAIT).unwrap();
    let peer = vec![seeder.listen_addr()];

    type Damage = fn(&Path);
    let cases: [(usize, &str, Damage); 3] = [
        (0, "modified", |f| {
            // Same size, one byte different, a new modification time.
            let mut bytes = std::fs::read(f).unwrap();
            bytes[500_000] ^= 0xff;
            std::fs::write(f, bytes).unwrap();
            let later = SystemTime::now() + Duration::from_secs(2);
            let file = std::fs::File::options().write(true).open(f).unwrap();
            file.set_modified(later).unwrap();
        }),
        (1, "truncated", |f| {
            let file = std::fs::File::options().write(true).open(f).unwrap();
            file.set_len(1_000_000).unwrap();
        }),
        (2, "deleted", |f| std::fs::remove_file(f).unwrap()),
    ];
    for (i, what, damage) in cases {
        damage(&p.file_path(&data, i));
        let stats = run(with_state(&state), &torrent, &data, {
            let mut opts = AddOptions::default();
            opts.peers = peer.clone();
            opts
        });
        let mine = per_file[i].len() as u32;
        assert_eq!(
            stats.pieces_checked, mine,
            "{what} file {i}: only its {mine} pieces are checked"
        );
        let refetch_limit = (u64::from(mine) + 1) * PIECE as u64;
        assert!(
            stats.downloaded > 0 && stats.downloaded <= refetch_limit,
            "{what} file {i}: fetched {} bytes, at most its pieces ({refetch_limit})",
            stats.downloaded
        );
        p.assert_on_disk(&data);
        eprintln!(
            "{what} file {i}: {} pieces checked, {} bytes fetched",
            stats.pieces_checked, stats.downloaded
        );
    }
    // And after all that, a restart reads nothing again.
    let last = run(with_state(&state), &torrent, &data, AddOptions::default());
    assert_eq!(last.pieces_checked, 0);
    let saved = resume::decode(&std::fs::read(state_path(&state, &torrent)).unwrap()).unwrap();
    assert!(saved.downloaded > 0, "lifetime totals add up across runs");
    seeder.shutdown().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn resume_bytes_round_trip_through_the_api() {
    let p = payload();
    let torrent = p.torrent(PIECE, &[]);
    let dir = temp_dir("resume-bytes");
    let data = dir.join("data");
    p.write_to(&data);
    let total = p.stream().len().div_ceil(PIECE) as u32;

    // No state folder: the embedder keeps the bytes.
    let s = Session::new(local()).unwrap();
    let h = s
        .add(TorrentSource::Bytes(torrent.clone()), {
            let mut opts = AddOptions::default();
            opts.output = data.clone();
            opts.no_trackers = true;
            opts
        })
        .unwrap();
    h.wait_timeout(WAIT).unwrap();
    let bytes = h.resume_data().unwrap();
    s.shutdown().unwrap();
    let decoded = resume::decode(&bytes).unwrap();
    assert_eq!(decoded.have.count(), total);
    assert!(!std::fs::exists(dir.join("state")).unwrap());

    let given = |bytes: Vec<u8>| {
        let mut opts = AddOptions::default();
        opts.resume = Some(bytes);
        opts
    };
    let back = run(local(), &torrent, &data, given(bytes.clone()));
    assert_eq!(back.pieces_checked, 0, "the given state is used");
    assert_eq!(back.pieces_done, total);

    // Damaged bytes are ignored: the data is checked instead, and still found whole.
    let mut bad = bytes.clone();
    let at = bad.len() / 2;
    bad[at] ^= 1;
    assert_eq!(
        run(local(), &torrent, &data, given(bad)).pieces_checked,
        total
    );
    // So are the bytes of the same torrent in another folder.
    let copy = dir.join("copy");
    p.write_to(&copy);
    assert_eq!(
        run(local(), &torrent, &copy, given(bytes.clone())).pieces_checked,
        total
    );
    // And `recheck` ignores good bytes.
    let mut forced = given(bytes);
    forced.recheck = true;
    assert_eq!(run(local(), &torrent, &data, forced).pieces_checked, total);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_damaged_or_foreign_state_file_is_ignored_safely() {
    let p = payload();
    let torrent = p.torrent(PIECE, &[]);
    let dir = temp_dir("resume-corrupt");
    let (data, state) = (dir.join("data"), dir.join("state"));
    p.write_to(&data);
    let total = p.stream().len().div_ceil(PIECE) as u32;
    run(with_state(&state), &torrent, &data, AddOptions::default());
    let path = state_path(&state, &torrent);
    let good = std::fs::read(&path).unwrap();

    let other = Payload::single("other", payload::bytes(9, 100_000));
    let foreign_torrent = other.torrent(PIECE, &[]);
    let other_dir = dir.join("other");
    other.write_to(&other_dir);
    run(
        with_state(&state),
        &foreign_torrent,
        &other_dir,
        AddOptions::default(),
    );
    let foreign = std::fs::read(state_path(&state, &foreign_torrent)).unwrap();

    let mut flipped = good.clone();
    let last = flipped.len() - 10;
    flipped[last] ^= 0x40;
    let damaged: [(&str, Vec<u8>); 5] = [
        ("empty", Vec::new()),
        ("truncated", good[..good.len() / 2].to_vec()),
        ("a flipped bit", flipped),
        ("garbage", vec![0xff; 4096]),
        ("another torrent's state", foreign),
    ];
    for (what, bytes) in damaged {
        std::fs::write(&path, bytes).unwrap();
        let stats = run(with_state(&state), &torrent, &data, AddOptions::default());
        assert_eq!(stats.pieces_checked, total, "{what}: the data is checked");
        assert_eq!(stats.pieces_done, total, "{what}");
        // The check's result replaced the bad file with a good one.
        let saved = resume::decode(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(saved.have.count(), total, "{what}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
