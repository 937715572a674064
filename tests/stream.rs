//! Streaming while downloading, on 127.0.0.1: a `FileReader` against a coracle seeder whose
//! upload is limited, so the download is slow enough that reads really block. Checks the exact
//! bytes read in order, after seeks backwards and forwards, that a read far ahead is served
//! long before the download completes (its window goes first), and that a removed torrent or a
//! timeout ends a blocked read with an error instead of a hang.

// Test code drives real sockets, threads, files and clocks.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

#[path = "support/payload.rs"]
mod payload;

use std::io::{ErrorKind, Read, Seek, SeekFrom};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use coracle::{AddOptions, Session, SessionConfig, TorrentHandle, TorrentSource};
use payload::{bytes, remove_temp, temp_dir, Payload, PayloadFile};

const MIB: usize = 1 << 20;

fn session(tag: u8, upload_limit: Option<u64>) -> Session {
    let mut cfg = SessionConfig::default();
    cfg.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    cfg.dht.enabled = false;
    cfg.engine.upload_rate_limit = upload_limit;
    cfg.engine.peer_id[19] = tag;
    Session::new(cfg).expect("session")
}

/// A seeder of `torrent` over `payload` in a folder of its own, its data checked.
fn seeder(payload: &Payload, torrent: &[u8], limit: Option<u64>, name: &str) -> Session {
    let dir = temp_dir(name);
    payload.write_to(&dir);
    let s = session(1, limit);
    let h = s
        .add(TorrentSource::Bytes(torrent.to_vec()), {
            let mut opts = AddOptions::default();
            opts.output = dir;
            opts
        })
        .unwrap();
    h.wait_timeout(Duration::from_secs(30))
        .expect("seeder checks its data");
    s
}

fn leech(s: &Session, torrent: &[u8], peers: Vec<SocketAddr>, name: &str) -> TorrentHandle {
    s.add(TorrentSource::Bytes(torrent.to_vec()), {
        let mut opts = AddOptions::default();
        opts.output = temp_dir(name);
        opts.peers = peers;
        opts
    })
    .unwrap()
}

fn done_fraction(h: &TorrentHandle) -> f64 {
    let s = h.stats().expect("stats");
    s.bytes_done as f64 / s.bytes_total as f64
}

#[test]
fn reader_streams_exact_bytes_in_order_with_seeks_from_a_rate_limited_seeder() {
    // Three files; the one streamed (index 1) is 8 MiB of 64 KiB pieces, and its pieces span
    // into its neighbours at both ends. The seeder sends 2 MiB/s: 4 s for this file alone.
    let film = bytes(11, 8 * MIB);
    let payload = Payload {
        name: "show".into(),
        files: vec![
            PayloadFile {
                path: vec!["intro.txt".into()],
                data: bytes(10, 100_000),
            },
            PayloadFile {
                path: vec!["film.bin".into()],
                data: film.clone(),
            },
            PayloadFile {
                path: vec!["credits.txt".into()],
                data: bytes(12, 300_000),
            },
        ],
        single: false,
    };
    let torrent = payload.torrent(64 * 1024, &[]);
    let seed = seeder(&payload, &torrent, Some(2 * MIB as u64), "stream-seed");
    let leecher = session(2, None);
    let h = leech(&leecher, &torrent, vec![seed.listen_addr()], "stream-leech");
    let mut r = h.open_file(1).expect("open the film");
    assert_eq!(r.len(), film.len() as u64);

    // Far ahead first: the window makes its pieces come first, long before the rest.
    let started = Instant::now();
    let near_end = film.len() - 200_000;
    r.seek(SeekFrom::Start(near_end as u64)).unwrap();
    let mut got = vec![0u8; 150_000];
    r.read_exact(&mut got).unwrap();
    assert!(
        got == film[near_end..near_end + 150_000],
        "bytes near the end"
    );
    let fraction = done_fraction(&h);
    eprintln!(
        "read 150 kB near the end after {:?}, {:.0}% of the torrent verified",
        started.elapsed(),
        fraction * 100.0
    );
    assert!(fraction < 0.5, "the window went first: {fraction}");

    // Backwards to the start, in order, in odd-sized reads.
    r.seek(SeekFrom::Start(0)).unwrap();
    let mut head = vec![0u8; MIB + 12_345];
    r.read_exact(&mut head).unwrap();
    assert!(head == film[..head.len()], "the first MiB");
    // Forwards past a gap, then back into what was read.
    r.seek(SeekFrom::Current(3 * MIB as i64)).unwrap();
    let at = 4 * MIB + 12_345;
    let mut mid = vec![0u8; 70_000];
    r.read_exact(&mut mid).unwrap();
    assert!(mid == film[at..at + 70_000], "after a forward seek");
    r.seek(SeekFrom::Current(-(70_000 + 2 * MIB as i64)))
        .unwrap();
    let back = at - 2 * MIB;
    r.read_exact(&mut mid).unwrap();
    assert!(mid == film[back..back + 70_000], "after a backward seek");
    // The tail from the end, and reading past the end gives nothing.
    r.seek(SeekFrom::End(-10)).unwrap();
    let mut tail = Vec::new();
    r.read_to_end(&mut tail).unwrap();
    assert_eq!(tail, &film[film.len() - 10..]);
    assert!(r.seek(SeekFrom::Current(-(film.len() as i64) - 1)).is_err());
    // And the whole file, in order, exact.
    r.seek(SeekFrom::Start(0)).unwrap();
    let mut all = Vec::new();
    r.read_to_end(&mut all).unwrap();
    assert!(all == film, "the whole film");
    drop(r);
    h.wait_timeout(Duration::from_secs(60)).expect("completes");
    leecher.shutdown().unwrap();
    seed.shutdown().unwrap();
    remove_temp(&["stream-seed", "stream-leech"]);
}

#[test]
fn a_blocked_read_ends_with_an_error_on_timeout_and_on_removal() {
    let payload = Payload::single("lonely.bin", bytes(3, 300_000));
    let torrent = payload.torrent(32 * 1024, &[]);
    let s = session(3, None);
    // No peer: nothing will ever arrive.
    let h = leech(&s, &torrent, vec![], "stream-lonely");
    assert!(matches!(h.open_file(1), Err(coracle::Error::NoSuchFile(1))));
    let mut r = h.open_file(0).unwrap();
    r.set_timeout(Some(Duration::from_millis(200)));
    let err = r.read(&mut [0u8; 10]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TimedOut);
    r.set_timeout(None);
    let remover = {
        let h = h.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            h.remove().unwrap();
        })
    };
    let started = Instant::now();
    let err = r.read(&mut [0u8; 10]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotConnected, "{err}");
    assert!(started.elapsed() < Duration::from_secs(10));
    remover.join().unwrap();
    s.shutdown().unwrap();
    remove_temp(&["stream-lonely"]);
}

#[test]
fn a_sequential_download_verifies_a_prefix_first() {
    // 8 MiB of 64 KiB pieces from a seeder sending 2 MiB/s: 4 s in all.
    let payload = Payload::single("seq.bin", bytes(13, 8 * MIB));
    let torrent = payload.torrent(64 * 1024, &[]);
    let seed = seeder(&payload, &torrent, Some(2 * MIB as u64), "seq-seed");
    let leecher = session(4, None);
    let h = leecher
        .add(TorrentSource::Bytes(torrent), {
            let mut opts = AddOptions::default();
            opts.output = temp_dir("seq-leech");
            opts.peers = vec![seed.listen_addr()];
            opts.sequential = true;
            opts
        })
        .unwrap();
    let started = Instant::now();
    while h.stats().expect("stats").bytes_done < 2 * MIB as u64 {
        assert!(started.elapsed() < Duration::from_secs(30), "no progress");
        std::thread::sleep(Duration::from_millis(20));
    }
    // A quarter of the way in: the first MiB is all there, the last piece is not. A read moves
    // its window, so the timeout is kept far below what fetching a missing piece takes here
    // (the 256 KiB of requests queued at the seeder ahead of it: 125 ms at 2 MiB/s).
    let mut r = h.open_file(0).unwrap();
    r.set_timeout(Some(Duration::from_millis(20)));
    let data = &payload.files[0].data;
    let mut got = vec![0u8; MIB];
    r.read_exact(&mut got).expect("the first MiB is verified");
    assert!(got == data[..MIB]);
    r.seek(SeekFrom::End(-1000)).unwrap();
    let err = r.read(&mut got).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TimedOut, "the end comes last");
    drop(r);
    h.wait_timeout(Duration::from_secs(60)).expect("completes");
    leecher.shutdown().unwrap();
    seed.shutdown().unwrap();
    remove_temp(&["seq-seed", "seq-leech"]);
}

#[test]
fn a_blocked_read_of_a_failed_torrent_gets_the_failure() {
    // A magnet whose files cannot be created (its folder would be inside a regular file): the
    // metadata arrives, the file is opened for reading, then the torrent fails.
    let payload = Payload::single("doomed.bin", bytes(5, 200_000));
    let torrent = payload.torrent(32 * 1024, &[]);
    let seed = seeder(&payload, &torrent, None, "doomed-seed");
    let hash = coracle::Metainfo::from_bytes(&torrent)
        .unwrap()
        .info_hash
        .to_hex();
    let blocker = temp_dir("doomed-leech").join("a-file");
    std::fs::write(&blocker, b"not a folder").unwrap();
    let s = session(5, None);
    let h = s
        .add(
            TorrentSource::Magnet(format!("magnet:?xt=urn:btih:{hash}")),
            {
                let mut opts = AddOptions::default();
                opts.output = blocker.join("out");
                opts.peers = vec![seed.listen_addr()];
                opts
            },
        )
        .unwrap();
    assert!(matches!(h.open_file(0), Err(coracle::Error::NoMetadata)));
    let started = Instant::now();
    let mut r = loop {
        match h.open_file(0) {
            Ok(r) => break r,
            Err(coracle::Error::NoMetadata) => {}
            Err(e) => panic!("{e}"),
        }
        assert!(started.elapsed() < Duration::from_secs(20), "no metadata");
        std::thread::sleep(Duration::from_millis(10));
    };
    let err = r.read(&mut [0u8; 100]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Other, "{err}");
    assert!(err.to_string().starts_with("the torrent failed: "), "{err}");
    assert!(matches!(
        h.wait_timeout(Duration::from_secs(5)),
        Err(coracle::Error::TorrentFailed(_))
    ));
    s.shutdown().unwrap();
    seed.shutdown().unwrap();
    remove_temp(&["doomed-seed", "doomed-leech"]);
}
