//! A file changed behind coracle's back fails its torrent with a clear storage error, under
//! both storages, and never kills the host process (mmap: SIGBUS) or ends "complete" with
//! wrong bytes (pwrite).

use std::time::Duration;

use coracle::StorageConfig;
use coracle::{Error, Session, SessionConfig, TorrentHandle, TorrentState};

use super::payload::{self, temp_dir, Payload, PayloadFile};
use super::{add, config, eventually, serial};

fn session_with(tag: u8, force_pwrite: bool) -> Session {
    let mut cfg: SessionConfig = config(tag);
    cfg.storage = {
        let mut storage = StorageConfig::default();
        storage.force_pwrite = force_pwrite;
        storage
    };
    Session::new(cfg).expect("session")
}

/// Waits for the torrent to fail; returns why.
fn failure(h: &TorrentHandle) -> String {
    match h.wait_timeout(Duration::from_secs(30)) {
        Err(Error::TorrentFailed(why)) => why,
        other => panic!("expected a storage failure, got {other:?}: {:?}", h.stats()),
    }
}

#[test]
fn a_file_truncated_or_removed_behind_our_back_fails_the_torrent_not_the_process() {
    let _serial = serial();
    for pwrite in [false, true] {
        let tag = if pwrite { 60 } else { 50 };
        let what = if pwrite { "pwrite" } else { "mmap" };
        let p = Payload::tree("changed", 5, 60).with_big_file(2 << 20);
        let torrent = p.torrent(16 * 1024, &[]);
        let (seed_dir, cut_dir, gone_dir) = (
            temp_dir(&format!("embed-cut-seed-{what}")),
            temp_dir(&format!("embed-cut-leech-{what}")),
            temp_dir(&format!("embed-gone-leech-{what}")),
        );
        p.write_to(&seed_dir);
        let seeder = session_with(tag, pwrite);
        let seed = add(&seeder, &torrent, &seed_dir, vec![]);
        seed.wait_timeout(Duration::from_secs(20))
            .expect("seeder checks");

        // A leecher's file cut short, another's removed, after `add` created them.
        let leecher = session_with(tag + 1, pwrite);
        let cut = add(&leecher, &torrent, &cut_dir, vec![]);
        let big = p.file_path(&cut_dir, 2);
        std::fs::OpenOptions::new()
            .write(true)
            .open(&big)
            .unwrap()
            .set_len(1000)
            .unwrap();
        cut.add_peers(&[seeder.listen_addr()]).unwrap();
        let why = failure(&cut);
        assert!(why.contains("truncated or replaced"), "{what}: {why}");
        assert!(why.contains("middle.bin"), "{what}: {why}");
        cut.remove().unwrap();
        let leecher2 = session_with(tag + 2, pwrite);
        let gone = add(&leecher2, &torrent, &gone_dir, vec![]);
        std::fs::remove_file(p.file_path(&gone_dir, 2)).unwrap();
        gone.add_peers(&[seeder.listen_addr()]).unwrap();
        // Opened lazily, the file is found missing; held open, it is found unlinked.
        let why = failure(&gone);
        assert!(why.contains("middle.bin"), "{what}: {why}");
        assert!(
            why.contains("No such file") || why.contains("truncated or replaced"),
            "{what}: {why}"
        );
        assert!(!matches!(
            gone.stats().unwrap().state,
            TorrentState::Seeding
        ));

        // The seeder's own file cut short while it serves: with maps, the read faults.
        std::fs::OpenOptions::new()
            .write(true)
            .open(p.file_path(&seed_dir, 2))
            .unwrap()
            .set_len(4096)
            .unwrap();
        let fresh_dir = temp_dir(&format!("embed-cut-fresh-{what}"));
        let leecher3 = session_with(tag + 3, pwrite);
        let fresh = add(&leecher3, &torrent, &fresh_dir, vec![seeder.listen_addr()]);
        // It was complete, so `wait` says nothing new: its state tells.
        let failed = || match seed.stats().map(|s| s.state) {
            Some(TorrentState::Failed(why)) => Some(why),
            _ => None,
        };
        assert!(
            eventually(Duration::from_secs(20), || failed().is_some()),
            "{what}: the seeder went on: {:?}",
            seed.stats()
        );
        let why = failed().unwrap();
        assert!(why.contains("reading piece"), "{what}: {why}");
        if !pwrite {
            // The fault in the map was caught (SIGBUS), not a short read.
            assert!(why.contains("truncated or replaced"), "{what}: {why}");
        }
        assert!(
            eventually(Duration::from_secs(5), || fresh
                .stats()
                .is_some_and(|s| s.pieces_done < s.pieces_total)),
            "{what}: the leecher cannot complete"
        );
        assert!(matches!(
            fresh.wait_timeout(Duration::from_millis(500)),
            Err(Error::Timeout)
        ));
        // A file cut after its last piece was written: the download must not end complete.
        let late_dir = temp_dir(&format!("embed-cut-late-{what}"));
        let two = Payload {
            name: "two".into(),
            files: vec![
                PayloadFile {
                    path: vec!["a.bin".into()],
                    data: payload::bytes(61, 4 * 16 * 1024),
                },
                PayloadFile {
                    path: vec!["b.bin".into()],
                    data: payload::bytes(62, 300_000),
                },
            ],
            single: false,
        };
        let two_torrent = two.torrent(16 * 1024, &[]);
        let src_dir = temp_dir(&format!("embed-cut-src-{what}"));
        two.write_to(&src_dir);
        let two_seed = add(&seeder, &two_torrent, &src_dir, vec![]);
        two_seed.wait_timeout(Duration::from_secs(20)).unwrap();
        // The leecher has a.bin whole, so it only ever writes b.bin.
        let a_path = two.file_path(&late_dir, 0);
        std::fs::create_dir_all(a_path.parent().unwrap()).unwrap();
        std::fs::write(&a_path, &two.files[0].data).unwrap();
        let leecher4 = session_with(tag + 4, pwrite);
        let late = add(&leecher4, &two_torrent, &late_dir, vec![]);
        assert!(eventually(Duration::from_secs(10), || late
            .stats()
            .is_some_and(
                |s| s.state == TorrentState::Downloading && s.pieces_done == 4
            )));
        std::fs::OpenOptions::new()
            .write(true)
            .open(&a_path)
            .unwrap()
            .set_len(1000)
            .unwrap();
        late.add_peers(&[seeder.listen_addr()]).unwrap();
        let why = failure(&late);
        assert!(
            why.contains("a.bin") && why.contains("not complete"),
            "{what}: {why}"
        );
        let _ = std::fs::remove_dir_all(late_dir);
        let _ = std::fs::remove_dir_all(src_dir);
        let _ = leecher4.shutdown();
        for s in [seeder, leecher, leecher2, leecher3] {
            let _ = s.shutdown();
        }
        for d in [seed_dir, cut_dir, gone_dir, fresh_dir] {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}
