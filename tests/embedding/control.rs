//! Honest control: every call does what it says in every state, or returns a typed error.

use std::time::{Duration, Instant};

use coracle::{AddOptions, Error, Event, TorrentSource, TorrentState};

use super::payload::{self, temp_dir, Payload};
use super::sitter::Sitter;
use super::{add, eventually, serial, session};

/// Waits for the torrent's state; panics with its last numbers after `limit`.
fn until_state(h: &coracle::TorrentHandle, want: TorrentState, limit: Duration) {
    assert!(
        eventually(limit, || h.stats().is_some_and(|s| s.state == want)),
        "never {want:?}: {:?}",
        h.stats()
    );
}

/// How long after `resume` the sitting peer is connected again.
fn peers_back_after_resume(h: &coracle::TorrentHandle, sitter: &Sitter) -> Duration {
    assert!(
        eventually(Duration::from_secs(10), || h
            .stats()
            .is_some_and(|s| s.peers == 1)),
        "the sitter never connected: {:?}",
        h.stats()
    );
    let before = sitter.accepted();
    h.pause().unwrap();
    until_state(h, TorrentState::Paused, Duration::from_secs(5));
    assert_eq!(h.stats().unwrap().peers, 0, "a pause drops the peers");
    assert!(matches!(
        h.wait_timeout(Duration::from_secs(1)),
        Err(Error::Stopped)
    ));
    let resumed = Instant::now();
    h.resume().unwrap();
    assert!(
        eventually(Duration::from_secs(5), || h
            .stats()
            .is_some_and(|s| s.peers == 1)),
        "the peer did not come back: {:?}",
        h.stats()
    );
    assert!(sitter.accepted() > before, "dialled again");
    resumed.elapsed()
}

/// Pause and resume while checking, downloading and seeding: `wait` returns `Stopped` while
/// paused, the check goes on after resume, and a known peer is back within a second.
#[test]
fn pause_and_resume_in_every_phase_bring_peers_back_within_a_second() {
    let _serial = serial();
    let s = session(20);
    let events = s.events();
    // Checking: many small pieces already on disk.
    let big = Payload::single("check.bin", payload::bytes(20, 24 << 20));
    let (check_dir, leech_dir, seed_dir) = (
        temp_dir("embed-pause-check"),
        temp_dir("embed-pause-leech"),
        temp_dir("embed-pause-seed"),
    );
    big.write_to(&check_dir);
    let checking = add(&s, &big.torrent(16 * 1024, &[]), &check_dir, vec![]);
    checking.pause().unwrap();
    until_state(&checking, TorrentState::Paused, Duration::from_secs(5));
    let done_while_paused = checking.stats().unwrap().pieces_checked;
    std::thread::sleep(Duration::from_millis(300));
    let later = checking.stats().unwrap().pieces_checked;
    assert!(
        later <= done_while_paused + 8,
        "checks in flight only: {done_while_paused} -> {later}"
    );
    assert!(later < 24 * 64, "the check was still running when paused");
    checking.resume().unwrap();
    checking
        .wait_timeout(Duration::from_secs(60))
        .expect("the check finishes after resume");
    big.assert_on_disk(&check_dir);

    // Downloading (nobody has a piece) and seeding, each with a peer that sits there.
    let p = Payload::single("sit.bin", payload::bytes(21, 100_000));
    let torrent = p.torrent(16 * 1024, &[]);
    let meta = coracle::Metainfo::from_bytes(&torrent).unwrap();
    let sitter = Sitter::start(meta.info_hash.0);
    let leech = add(&s, &torrent, &leech_dir, vec![sitter.addr()]);
    until_state(&leech, TorrentState::Downloading, Duration::from_secs(5));
    assert!(eventually(Duration::from_secs(10), || leech
        .peers()
        .is_ok_and(|p| p.len() == 1)));
    let peer = &leech.peers().unwrap()[0];
    assert_eq!(
        (peer.addr, &peer.peer_id),
        (sitter.addr(), b"-ST0001-sittingpeer1")
    );
    assert!(peer.outgoing && peer.peer_choking && !peer.seed && !peer.am_interested);
    assert_eq!((peer.pieces, peer.down_rate), (0, 0.0));
    let back = peers_back_after_resume(&leech, &sitter);
    assert!(
        back < Duration::from_secs(1),
        "downloading: peer back after {back:?}"
    );
    assert!(matches!(
        leech.wait_timeout(Duration::from_millis(50)),
        Err(Error::Timeout)
    ));
    leech.remove().unwrap();

    p.write_to(&seed_dir);
    let seed = add(&s, &torrent, &seed_dir, vec![]);
    seed.wait_timeout(Duration::from_secs(10)).expect("seeding");
    seed.add_peers(&[sitter.addr()]).unwrap();
    let back = peers_back_after_resume(&seed, &sitter);
    assert!(
        back < Duration::from_secs(1),
        "seeding: peer back after {back:?}"
    );
    seed.wait_timeout(Duration::ZERO)
        .expect("complete again after resume");

    // Every subscriber heard each state change.
    let heard: Vec<Event> = events
        .try_iter()
        .filter(|e| !matches!(e, Event::Progress { .. } | Event::PeerDropped { .. }))
        .collect();
    for (id, what) in [
        (checking.id(), "checking"),
        (leech.id(), "leech"),
        (seed.id(), "seed"),
    ] {
        assert!(
            heard.contains(&Event::Paused { torrent: id }),
            "{what}: {heard:?}"
        );
        assert!(
            heard.contains(&Event::Resumed { torrent: id }),
            "{what}: {heard:?}"
        );
    }
    assert!(heard.contains(&Event::Removed {
        torrent: leech.id()
    }));
    s.shutdown().unwrap();
    for d in [check_dir, leech_dir, seed_dir] {
        let _ = std::fs::remove_dir_all(d);
    }
}

/// A removed torrent answers `NotFound` to every call; a shut-down session `SessionClosed`;
/// the session lists and finds its torrents; `remove_and_delete` deletes the data only.
#[test]
fn calls_on_removed_torrents_and_closed_sessions_are_typed_errors() {
    let _serial = serial();
    let s = session(21);
    let dir = temp_dir("embed-typed");
    let (a, b) = (Payload::tree("keep", 3, 30), Payload::tree("gone", 3, 31));
    a.write_to(&dir);
    b.write_to(&dir);
    std::fs::write(dir.join("gone").join("not-ours.txt"), b"stays").unwrap();
    let (ta, tb) = (a.torrent(16 * 1024, &[]), b.torrent(16 * 1024, &[]));
    let ha = add(&s, &ta, &dir, vec![]);
    let hb = add(&s, &tb, &dir, vec![]);
    ha.wait_timeout(Duration::from_secs(20)).unwrap();
    hb.wait_timeout(Duration::from_secs(20)).unwrap();
    let stats = ha.try_stats().unwrap();
    assert_eq!(
        (stats.name.as_str(), stats.info_hash),
        ("keep", ha.info_hash().0)
    );
    assert_eq!(stats.eta, None, "complete: no time left");
    let listed: Vec<_> = s.torrents().iter().map(|h| h.id()).collect();
    assert_eq!(listed.len(), 2);
    assert!(listed.contains(&ha.id()) && listed.contains(&hb.id()));
    assert_eq!(s.find(&hb.info_hash()).map(|h| h.id()), Some(hb.id()));

    hb.remove_and_delete().unwrap();
    assert!(!b.file_path(&dir, 0).exists(), "its files are deleted");
    assert_eq!(
        std::fs::read(dir.join("gone").join("not-ours.txt")).unwrap(),
        b"stays"
    );
    a.assert_on_disk(&dir);
    assert!(s.find(&hb.info_hash()).is_none());
    assert!(matches!(hb.try_stats(), Err(Error::NotFound)));
    assert!(matches!(hb.pause(), Err(Error::NotFound)));
    assert!(matches!(hb.resume(), Err(Error::NotFound)));
    assert!(matches!(hb.remove(), Err(Error::NotFound)));
    assert!(matches!(
        hb.add_peers(&[s.listen_addr()]),
        Err(Error::NotFound)
    ));
    assert!(matches!(hb.resume_data(), Err(Error::NotFound)));
    assert!(matches!(hb.wait(), Err(Error::Stopped)));

    let shared = std::sync::Arc::new(s);
    let other = shared.clone();
    std::thread::spawn(move || other.shutdown())
        .join()
        .unwrap()
        .expect("a shared session shuts down from any thread");
    assert!(matches!(ha.try_stats(), Err(Error::SessionClosed)));
    assert!(matches!(ha.pause(), Err(Error::SessionClosed)));
    assert!(matches!(shared.shutdown(), Err(Error::SessionClosed)));
    assert!(matches!(ha.wait(), Ok(())), "it had completed");
    let _ = std::fs::remove_dir_all(dir);
}

/// Seed-only: data known complete is seeded at once without reading it, and a leecher gets
/// the right bytes from it; a file of the wrong size is refused.
#[test]
fn seed_only_seeds_without_reading_and_refuses_wrong_sizes() {
    let _serial = serial();
    let p = Payload::tree("trusted", 6, 40).with_big_file(1 << 20);
    let torrent = p.torrent(16 * 1024, &[]);
    let (seed_dir, leech_dir) = (temp_dir("embed-seedonly"), temp_dir("embed-seedonly-leech"));
    p.write_to(&seed_dir);
    let (seeder, leecher) = (session(22), session(23));
    let opts = |dir: &std::path::Path| {
        let mut opts = AddOptions::default();
        opts.output = dir.to_path_buf();
        opts.no_trackers = true;
        opts.seed_only = true;
        opts
    };
    let h = seeder
        .add(TorrentSource::Bytes(torrent.clone()), opts(&seed_dir))
        .unwrap();
    h.wait_timeout(Duration::from_secs(2))
        .expect("seeding at once");
    let stats = h.try_stats().unwrap();
    assert_eq!(
        (stats.state, stats.pieces_checked),
        (TorrentState::Seeding, 0)
    );
    assert_eq!(stats.pieces_done, stats.pieces_total);
    add(&leecher, &torrent, &leech_dir, vec![seeder.listen_addr()])
        .wait_timeout(Duration::from_secs(60))
        .expect("download from the seed-only seeder");
    p.assert_on_disk(&leech_dir);
    // Data changed behind our back: a forced recheck finds the damaged piece missing.
    let big = p.file_path(&seed_dir, 3);
    let mut bytes = std::fs::read(&big).unwrap();
    bytes[100_000] ^= 0xff;
    std::fs::write(&big, &bytes).unwrap();
    h.force_recheck().unwrap();
    assert!(matches!(
        h.wait_timeout(Duration::from_millis(1500)),
        Err(Error::Timeout)
    ));
    let stats = h.try_stats().unwrap();
    assert_eq!(stats.state, TorrentState::Downloading, "{stats:?}");
    assert_eq!(stats.pieces_done, stats.pieces_total - 1, "{stats:?}");
    assert_eq!(stats.pieces_checked, stats.pieces_total);
    h.remove().unwrap();
    // One file cut short: not complete, whatever the caller says.
    let cut = p.file_path(&seed_dir, 2);
    let len = std::fs::metadata(&cut).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&cut)
        .unwrap()
        .set_len(len - 1)
        .unwrap();
    match seeder.add(TorrentSource::Bytes(torrent.clone()), opts(&seed_dir)) {
        Err(Error::Io { context, source }) => {
            assert!(context.contains(&*cut.to_string_lossy()), "{context}");
            assert_eq!(source.kind(), std::io::ErrorKind::InvalidData);
        }
        other => panic!("a short file must be refused: {other:?}"),
    }
    assert!(seeder.torrents().is_empty(), "a refused add leaves nothing");
    seeder.shutdown().unwrap();
    leecher.shutdown().unwrap();
    for d in [seed_dir, leech_dir] {
        let _ = std::fs::remove_dir_all(d);
    }
}
