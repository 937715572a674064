//! Real sockets on 127.0.0.1: coracle sessions seeding to and downloading from each other, with
//! a tracker inside the test.

// Test and example code drives real sockets, threads, files and clocks.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

#[path = "support/payload.rs"]
mod payload;
#[path = "support/tracker.rs"]
mod tracker;

use std::net::SocketAddr;
use std::time::Duration;

use coracle::{AddOptions, Session, SessionConfig, TorrentSource};
use payload::{temp_dir, Payload};

fn config() -> SessionConfig {
    let mut cfg = SessionConfig::default();
    cfg.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    cfg.engine.peer_id = *b"-CR0100-test00000000";
    cfg
}

fn session(tag: u8) -> Session {
    let mut cfg = config();
    cfg.engine.peer_id[19] = tag;
    cfg.engine.peer_id[18] = (std::process::id() % 251) as u8;
    Session::new(cfg).expect("session")
}

#[test]
fn leecher_downloads_multi_file_torrent_from_one_seeder_by_direct_peer() {
    let payload = Payload::tree("tree", 23, 7);
    let torrent = payload.torrent(32 * 1024, &[]);
    let seed_dir = temp_dir("direct-seed");
    let leech_dir = temp_dir("direct-leech");
    payload.write_to(&seed_dir);

    let seeder = session(1);
    let s = seeder
        .add(TorrentSource::Bytes(torrent.clone()), {
            let mut opts = AddOptions::default();
            opts.output = seed_dir.clone();
            opts
        })
        .unwrap();
    s.wait_timeout(Duration::from_secs(20))
        .expect("seeder checks its data");

    let leecher = session(2);
    let l = leecher
        .add(TorrentSource::Bytes(torrent), {
            let mut opts = AddOptions::default();
            opts.output = leech_dir.clone();
            opts.peers = vec![seeder.listen_addr()];
            opts
        })
        .unwrap();
    l.wait_timeout(Duration::from_secs(30))
        .expect("download completes");
    payload.assert_on_disk(&leech_dir);
    leecher.shutdown().unwrap();
    seeder.shutdown().unwrap();
    let _ = std::fs::remove_dir_all(&seed_dir);
    let _ = std::fs::remove_dir_all(&leech_dir);
}

/// Starts a seeder session for `torrent` over data already in `dir`, and waits for its check.
fn seeder(tag: u8, torrent: &[u8], dir: &std::path::Path) -> Session {
    let s = session(tag);
    let h = s
        .add(TorrentSource::Bytes(torrent.to_vec()), {
            let mut opts = AddOptions::default();
            opts.output = dir.to_path_buf();
            opts
        })
        .unwrap();
    h.wait_timeout(Duration::from_secs(20))
        .expect("seeder checks its data");
    s
}

fn swarm_download(name: &str, corrupt_one: bool) {
    let tracker = tracker::TestTracker::start();
    let url = tracker.url();
    let payload = Payload::tree(name, 24, 11).with_big_file(24 << 20);
    // 16 KiB pieces over files of 3 bytes, 0 bytes and ~1 KiB: some pieces span 3+ files; the
    // total is not a multiple of the piece length, so the last piece is short.
    let piece = 16 * 1024;
    let torrent = payload.torrent(piece, &[&url]);
    assert_ne!(payload.stream().len() % piece, 0);
    let mut seeders = Vec::new();
    for i in 0..3u8 {
        let dir = temp_dir(&format!("{name}-seed{i}"));
        payload.write_to(&dir);
        seeders.push((seeder(10 + i, &torrent, &dir), dir));
    }
    if corrupt_one {
        // The check has passed; now the first seeder's files rot under it, so it serves bad data.
        let dir = &seeders[0].1;
        for i in 0..payload.files.len() {
            let p = payload.file_path(dir, i);
            let mut data = std::fs::read(&p).unwrap();
            data.iter_mut().for_each(|b| *b ^= 0x5a);
            std::fs::write(&p, data).unwrap();
        }
    }
    let leech_dir = temp_dir(&format!("{name}-leech"));
    let leecher = session(20);
    let h = leecher
        .add(TorrentSource::Bytes(torrent), {
            let mut opts = AddOptions::default();
            opts.output = leech_dir.clone();
            opts
        })
        .unwrap();
    h.wait_timeout(Duration::from_secs(60))
        .expect("download completes");
    payload.assert_on_disk(&leech_dir);
    let stats = h.stats().unwrap();
    assert_eq!(stats.pieces_done, stats.pieces_total);
    if corrupt_one {
        assert!(
            stats.hash_failures > 0,
            "the corrupt seeder was never asked: {stats:?}"
        );
        assert_eq!(stats.banned, 1, "{stats:?}");
    } else {
        assert_eq!(stats.hash_failures, 0);
    }
    // `completed` goes out on the reactor's next timer round, after wait() has returned.
    let has = |ev: &str| {
        tracker
            .announces()
            .iter()
            .any(|a| a.event.as_deref() == Some(ev))
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !has("completed") && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    leecher.shutdown().unwrap();
    for (s, dir) in seeders {
        s.shutdown().unwrap();
        let _ = std::fs::remove_dir_all(dir);
    }
    let _ = std::fs::remove_dir_all(&leech_dir);
    let events: Vec<_> = tracker
        .announces()
        .iter()
        .map(|a| a.event.clone())
        .collect();
    assert!(
        events.iter().any(|e| e.as_deref() == Some("started")),
        "{events:?}"
    );
    assert!(
        events.iter().any(|e| e.as_deref() == Some("completed")),
        "{events:?}"
    );
    assert!(
        events.iter().any(|e| e.as_deref() == Some("stopped")),
        "{events:?}"
    );
}

#[test]
fn three_seeders_and_a_tracker_multi_file() {
    swarm_download("swarm", false);
}

#[test]
fn one_seeder_serves_corrupt_data() {
    swarm_download("corrupt", true);
}
