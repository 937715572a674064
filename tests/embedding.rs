//! What a program embedding coracle relies on: sessions are independent, clean up after
//! themselves, hand out thread-safe handles and fail with typed errors; events are never lost
//! (`events`), control calls are honest in every state (`control`), shutdown is bounded and the
//! defaults work anywhere (`lifecycle`), and files changed behind coracle's back fail the
//! torrent, never the process (`storage`).
//!
//! The tests here count the process's threads, so they take one lock to run one at a time.

// Test and example code drives real sockets, threads, files and clocks.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

#[path = "support/payload.rs"]
mod payload;
#[path = "support/tracker.rs"]
mod tracker;

#[path = "embedding/control.rs"]
mod control;
#[path = "embedding/events.rs"]
mod events;
#[path = "embedding/lifecycle.rs"]
mod lifecycle;
#[path = "embedding/sitter.rs"]
mod sitter;
#[path = "embedding/storage.rs"]
mod storage;

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use coracle::{AddOptions, Error, Session, SessionConfig, TorrentHandle, TorrentSource};
use payload::{temp_dir, Payload};

/// Handles move between the embedding program's threads.
const _: fn() = || {
    fn send_sync_clone<T: Send + Sync + Clone>() {}
    fn send<T: Send>() {}
    fn send_sync<T: Send + Sync>() {}
    send_sync_clone::<TorrentHandle>();
    send::<Session>();
    // Shared as `Arc<Session>`; receivers move to the thread that reads them.
    send_sync::<Session>();
    send_sync::<coracle::EventReceiver>();
    send_sync::<Error>();
};

/// Serialises the tests of this file: one of them counts the whole process's threads.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// A session on 127.0.0.1 with its own peer id: sessions sharing one would refuse each other as
/// self-connections.
fn session(tag: u8) -> Session {
    Session::new(config(tag)).expect("session")
}

/// The configuration of [`session`].
fn config(tag: u8) -> SessionConfig {
    let mut cfg = SessionConfig::default();
    cfg.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    cfg.disk_workers = 2;
    cfg.engine.peer_id = *b"-CR0100-embed0000000";
    cfg.engine.peer_id[19] = tag;
    cfg.engine.peer_id[18] = (std::process::id() % 251) as u8;
    cfg
}

fn add(
    s: &Session,
    torrent: &[u8],
    dir: &std::path::Path,
    peers: Vec<SocketAddr>,
) -> TorrentHandle {
    s.add(TorrentSource::Bytes(torrent.to_vec()), {
        let mut opts = AddOptions::default();
        opts.output = dir.to_path_buf();
        opts.peers = peers;
        opts.no_trackers = true;
        opts
    })
    .expect("add")
}

/// Threads of this process whose name starts with `coracle-` (the kernel keeps 15 bytes).
fn coracle_threads() -> usize {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with("coracle-"))
        .count()
}

/// Polls `cond` every 10 ms until it holds or `limit` passes; returns whether it held.
fn eventually(limit: Duration, cond: impl Fn() -> bool) -> bool {
    let end = Instant::now() + limit;
    while !cond() {
        if Instant::now() > end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    true
}

/// Two sessions, each seeding one torrent and downloading the other's, at the same time.
#[test]
fn two_sessions_download_at_once_without_interfering() {
    let _serial = serial();
    let x = Payload::tree("x", 12, 21).with_big_file(3 << 20);
    let y = Payload::tree("y", 9, 42).with_big_file(2 << 20);
    let (tx, ty) = (x.torrent(16 * 1024, &[]), y.torrent(32 * 1024, &[]));
    let dirs: Vec<_> = ["a-seed", "a-leech", "b-seed", "b-leech"]
        .iter()
        .map(|n| temp_dir(&format!("embed-{n}")))
        .collect();
    x.write_to(&dirs[0]);
    y.write_to(&dirs[2]);
    let (a, b) = (session(1), session(2));
    add(&a, &tx, &dirs[0], vec![])
        .wait_timeout(Duration::from_secs(20))
        .expect("a checks x");
    add(&b, &ty, &dirs[2], vec![])
        .wait_timeout(Duration::from_secs(20))
        .expect("b checks y");

    let a_gets_y = add(&a, &ty, &dirs[1], vec![b.listen_addr()]);
    let b_gets_x = add(&b, &tx, &dirs[3], vec![a.listen_addr()]);
    a_gets_y
        .wait_timeout(Duration::from_secs(60))
        .expect("a downloads y");
    b_gets_x
        .wait_timeout(Duration::from_secs(60))
        .expect("b downloads x");
    y.assert_on_disk(&dirs[1]);
    x.assert_on_disk(&dirs[3]);
    a.shutdown().unwrap();
    b.shutdown().unwrap();
    for d in dirs {
        let _ = std::fs::remove_dir_all(d);
    }
}

/// Dropping a session without `shutdown` still stops every thread it started.
#[test]
fn dropped_session_stops_its_threads() {
    let _serial = serial();
    let before = coracle_threads();
    let payload = Payload::tree("drop", 4, 5);
    let dir = temp_dir("embed-drop");
    payload.write_to(&dir);
    let s = session(3);
    let h = add(&s, &payload.torrent(16 * 1024, &[]), &dir, vec![]);
    h.wait_timeout(Duration::from_secs(20)).expect("check");
    let running = coracle_threads();
    assert!(running > before, "no coracle- threads seen ({running})");
    drop(s);
    assert!(
        eventually(Duration::from_secs(5), || coracle_threads() <= before),
        "{} coracle- threads left, {before} before",
        coracle_threads()
    );
    // A handle that outlives its session answers, it does not hang.
    assert!(h.stats().is_none());
    assert!(matches!(h.pause(), Err(Error::SessionClosed)));
    let _ = std::fs::remove_dir_all(dir);
}

/// A file that is not a torrent is a metainfo error.
#[test]
fn malformed_torrent_is_a_metainfo_error() {
    let _serial = serial();
    let s = session(4);
    let dir = temp_dir("embed-malformed");
    for bad in [&b"not a torrent"[..], b"d4:infod4:name1:xee", b""] {
        let res = s.add(TorrentSource::Bytes(bad.to_vec()), {
            let mut opts = AddOptions::default();
            opts.output = dir.clone();
            opts
        });
        assert!(
            matches!(res, Err(Error::Metainfo(_))),
            "{:?}: {res:?}",
            String::from_utf8_lossy(bad)
        );
    }
    s.shutdown().unwrap();
    let _ = std::fs::remove_dir_all(dir);
}

/// An output folder that is really a file is a storage error, for single- and multi-file
/// torrents alike.
#[test]
fn output_blocked_by_a_file_is_a_storage_error() {
    let _serial = serial();
    let s = session(5);
    let dir = temp_dir("embed-blocked");
    let blocker = dir.join("not-a-folder");
    std::fs::write(&blocker, b"in the way").unwrap();
    let single = Payload::single("one.bin", payload::bytes(9, 40_000));
    let tree = Payload::tree("tree", 5, 9);
    for p in [&single, &tree] {
        let res = s.add(TorrentSource::Bytes(p.torrent(16 * 1024, &[])), {
            let mut opts = AddOptions::default();
            opts.output = blocker.clone();
            opts
        });
        assert!(matches!(res, Err(Error::Storage(_))), "{}: {res:?}", p.name);
    }
    assert_eq!(
        std::fs::read(&blocker).unwrap(),
        b"in the way",
        "file left alone"
    );
    s.shutdown().unwrap();
    let _ = std::fs::remove_dir_all(dir);
}

/// A torrent is added once per session: a second add is refused without touching the files, a
/// failed add leaves nothing claimed, and after `remove` the torrent can be added again.
#[test]
fn a_torrent_is_added_once_until_removed() {
    let _serial = serial();
    let s = session(6);
    let dir = temp_dir("embed-dup");
    let p = Payload::single("dup.bin", payload::bytes(11, 50_000));
    let torrent = p.torrent(16 * 1024, &[]);
    // A failed add (its folder is a file) must not leave the torrent claimed.
    let blocker = dir.join("blocker");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(&blocker, b"x").unwrap();
    let res = s.add(TorrentSource::Bytes(torrent.clone()), {
        let mut opts = AddOptions::default();
        opts.output = blocker;
        opts
    });
    assert!(matches!(res, Err(Error::Storage(_))), "{res:?}");
    let first = add(&s, &torrent, &dir.join("a"), vec![]);
    let again = s.add(TorrentSource::Bytes(torrent.clone()), {
        let mut opts = AddOptions::default();
        opts.output = dir.join("b");
        opts
    });
    match again {
        Err(Error::AlreadyAdded(existing)) => assert_eq!(existing.id(), first.id()),
        other => panic!("{other:?}"),
    }
    assert!(!dir.join("b").exists(), "a refused add creates nothing");
    assert!(first.stats().is_some());
    first.remove().unwrap();
    let back = add(&s, &torrent, &dir.join("a"), vec![]);
    assert!(eventually(Duration::from_secs(10), || back
        .stats()
        .is_some()));
    assert!(first.stats().is_none(), "the removed torrent is gone");
    // The old handle cannot release the new torrent's claim.
    assert!(matches!(first.remove(), Err(Error::NotFound)));
    let dup = s.add(TorrentSource::Bytes(torrent.clone()), {
        let mut opts = AddOptions::default();
        opts.output = dir.join("c");
        opts
    });
    assert!(matches!(dup, Err(Error::AlreadyAdded(_))), "{dup:?}");
    s.shutdown().unwrap();
    let _ = std::fs::remove_dir_all(dir);
}

/// `shutdown` is where the data is synced to the disk, so it reports a file it cannot sync.
#[test]
fn shutdown_reports_a_file_it_cannot_sync() {
    let _serial = serial();
    // More files than the storage keeps open (128): some must be opened again to be synced.
    let tree = Payload::tree("many", 170, 5);
    let torrent = tree.torrent(16 * 1024, &[]);
    let (seed_dir, leech_dir) = (temp_dir("embed-sync-seed"), temp_dir("embed-sync-leech"));
    tree.write_to(&seed_dir);
    let seeder = session(7);
    add(&seeder, &torrent, &seed_dir, vec![])
        .wait_timeout(Duration::from_secs(20))
        .expect("seeder checks");
    let leecher = session(8);
    add(&leecher, &torrent, &leech_dir, vec![seeder.listen_addr()])
        .wait_timeout(Duration::from_secs(60))
        .expect("leecher downloads");
    tree.assert_on_disk(&leech_dir);
    // The folder goes away under the finished download: a file not held open cannot be synced.
    std::fs::remove_dir_all(&leech_dir).unwrap();
    match leecher.shutdown() {
        Err(Error::Storage(e)) => {
            let shown = e.to_string();
            assert!(shown.contains(&*leech_dir.to_string_lossy()), "{shown}");
        }
        other => panic!("shutdown should fail to sync: {other:?}"),
    }
    seeder.shutdown().unwrap();
    let _ = std::fs::remove_dir_all(seed_dir);
}

/// A BEP 47 symlink is made when the download completes, before `wait` returns: relative, to
/// the torrent's own file. The seeder, complete from its check, makes its own too.
#[test]
fn a_completed_download_has_its_symlinks() {
    use coracle::internals::bencode::Bencode;
    let _serial = serial();
    let data = payload::bytes(77, 50_000);
    let pieces: Vec<u8> = data
        .chunks(16384)
        .flat_map(|c| <sha1::Sha1 as sha1::Digest>::digest(c).to_vec())
        .collect();
    let path = |parts: &[&str]| Bencode::List(parts.iter().map(Bencode::bytes).collect());
    let files = vec![
        Bencode::dict([
            ("length", Bencode::Int(50_000)),
            ("path", path(&["data", "a.bin"])),
        ]),
        Bencode::dict([
            ("attr", Bencode::bytes("l")),
            ("length", Bencode::Int(0)),
            ("path", path(&["links", "to a"])),
            ("symlink path", path(&["data", "a.bin"])),
        ]),
    ];
    let info = Bencode::dict([
        ("files", Bencode::List(files)),
        ("name", Bencode::bytes("linked")),
        ("piece length", Bencode::Int(16384)),
        ("pieces", Bencode::Bytes(pieces)),
    ]);
    let torrent = Bencode::dict([("info", info)]).encode();
    let (seed_dir, leech_dir) = (temp_dir("links-seed"), temp_dir("links-leech"));
    std::fs::create_dir_all(seed_dir.join("linked/data")).unwrap();
    std::fs::write(seed_dir.join("linked/data/a.bin"), &data).unwrap();

    let (seeder, leecher) = (session(31), session(32));
    add(&seeder, &torrent, &seed_dir, vec![])
        .wait_timeout(Duration::from_secs(20))
        .expect("the seeder checks its data");
    add(&leecher, &torrent, &leech_dir, vec![seeder.listen_addr()])
        .wait_timeout(Duration::from_secs(30))
        .expect("downloads");
    for dir in [&leech_dir, &seed_dir] {
        let link = dir.join("linked/links/to a");
        let text = std::fs::read_link(&link).unwrap_or_else(|e| panic!("{}: {e}", link.display()));
        assert_eq!(text, std::path::Path::new("../data/a.bin"));
        assert_eq!(
            std::fs::read(&link).unwrap(),
            data,
            "the link reads the file"
        );
    }
    leecher.shutdown().unwrap();
    seeder.shutdown().unwrap();
    let _ = std::fs::remove_dir_all(seed_dir);
    let _ = std::fs::remove_dir_all(leech_dir);
}
