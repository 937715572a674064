//! Events: every subscriber sees every state change, whatever else happens; idle torrents say
//! nothing; progress coalesces with a count.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use coracle::{AddOptions, Event, TorrentSource};

use super::payload::{self, temp_dir, Payload};
use super::{add, serial, session};

/// 200 seeding torrents, two subscribers that read nothing for a while, then a download: both
/// get every `Checked` and the `Completed`, and idle seeds stay quiet once read.
#[test]
fn two_hundred_seeds_and_a_completion_reach_two_subscribers() {
    let _serial = serial();
    let (seeds_dir, src_dir, leech_dir) = (
        temp_dir("embed-200"),
        temp_dir("embed-200-src"),
        temp_dir("embed-200-leech"),
    );
    let s = session(30);
    let (first, second) = (s.events(), s.events_with_pieces());
    let woken = Arc::new(AtomicUsize::new(0));
    let w = woken.clone();
    second.set_wake(move || {
        w.fetch_add(1, Ordering::SeqCst);
    });
    let mut seeds = Vec::new();
    for i in 0..200u64 {
        let p = Payload::single(&format!("seed{i:03}.bin"), payload::bytes(1000 + i, 5_000));
        p.write_to(&seeds_dir);
        seeds.push(add(&s, &p.torrent(16 * 1024, &[]), &seeds_dir, vec![]));
    }
    for h in &seeds {
        h.wait_timeout(Duration::from_secs(30))
            .expect("seed checks");
    }
    // Nobody reads while the seeds idle: the old shared queue of 1,024 lost events here.
    std::thread::sleep(Duration::from_secs(3));
    let wanted = Payload::single("wanted.bin", payload::bytes(77, 3 << 20));
    let torrent = wanted.torrent(16 * 1024, &[]);
    wanted.write_to(&src_dir);
    let other = session(31);
    add(&other, &torrent, &src_dir, vec![])
        .wait_timeout(Duration::from_secs(20))
        .expect("the source checks");
    let leech = add(&s, &torrent, &leech_dir, vec![other.listen_addr()]);
    leech
        .wait_timeout(Duration::from_secs(60))
        .expect("download");
    wanted.assert_on_disk(&leech_dir);
    std::thread::sleep(Duration::from_millis(200));
    for (name, rx) in [("first", &first), ("second", &second)] {
        let got: Vec<Event> = rx.try_iter().collect();
        let checked = got
            .iter()
            .filter(|e| matches!(e, Event::Checked { torrent, .. } if *torrent != leech.id()))
            .count();
        assert_eq!(checked, 200, "{name}: every seed's check");
        assert!(
            got.contains(&Event::Completed {
                torrent: leech.id()
            }),
            "{name}: the completion"
        );
        let pieces = got
            .iter()
            .filter(|e| matches!(e, Event::PieceVerified { torrent, .. } if *torrent == leech.id()))
            .count();
        let want = if name == "second" { 192 } else { 0 };
        assert_eq!(pieces, want, "{name}: piece events only when asked for");
        let files: Vec<&Event> = (got.iter())
            .filter(|e| matches!(e, Event::FileCompleted { .. }))
            .collect();
        let want: &[Event] = if name == "second" {
            &[Event::FileCompleted {
                torrent: leech.id(),
                file: 0,
            }]
        } else {
            &[]
        };
        assert_eq!(
            files,
            want.iter().collect::<Vec<_>>(),
            "{name}: file events"
        );
    }
    assert!(woken.load(Ordering::SeqCst) >= 1, "the wake callback ran");
    // Idle seeds say nothing: no progress at all over two quiet seconds.
    std::thread::sleep(Duration::from_secs(2));
    let chatter: Vec<Event> = first
        .try_iter()
        .filter(|e| matches!(e, Event::Progress { torrent, .. } if *torrent != leech.id()))
        .collect();
    assert!(chatter.is_empty(), "idle seeds reported: {chatter:?}");
    s.shutdown().unwrap();
    other.shutdown().unwrap();
    assert_eq!(first.recv(), None, "the stream ends with the session");
    for d in [seeds_dir, src_dir, leech_dir] {
        let _ = std::fs::remove_dir_all(d);
    }
}

/// A subscriber's progress for one torrent coalesces: a slow reader gets the latest numbers
/// and a count of what it missed, not a backlog.
#[test]
fn a_slow_reader_gets_the_latest_progress_and_a_dropped_count() {
    let _serial = serial();
    let p = Payload::single("slow.bin", payload::bytes(5, 8 << 20));
    let torrent = p.torrent(16 * 1024, &[]);
    let (src, dst) = (temp_dir("embed-slow-src"), temp_dir("embed-slow-dst"));
    p.write_to(&src);
    let (a, b) = (session(32), session(33));
    add(&a, &torrent, &src, vec![])
        .wait_timeout(Duration::from_secs(20))
        .unwrap();
    let rx = b.events();
    let h = b
        .add(TorrentSource::Bytes(torrent), {
            let mut opts = AddOptions::default();
            opts.output = dst.clone();
            opts.peers = vec![a.listen_addr()];
            opts.no_trackers = true;
            opts
        })
        .unwrap();
    h.wait_timeout(Duration::from_secs(60)).unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let got: Vec<Event> = rx.try_iter().collect();
    let progress: Vec<_> = got
        .iter()
        .filter_map(|e| match e {
            Event::Progress { stats, .. } => Some(stats),
            _ => None,
        })
        .collect();
    assert_eq!(progress.len(), 1, "one coalesced progress");
    assert_eq!(progress[0].info_hash, h.info_hash().0);
    assert_eq!(
        h.try_stats().unwrap().name,
        "slow.bin",
        "stats carry the name"
    );
    assert!(got.contains(&Event::Completed { torrent: h.id() }));
    a.shutdown().unwrap();
    b.shutdown().unwrap();
    for d in [src, dst] {
        let _ = std::fs::remove_dir_all(d);
    }
}
