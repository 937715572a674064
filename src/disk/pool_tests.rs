//! Tests of `DiskPool`: verify/check/read/release results, backpressure, notify, shutdown.

use std::fs;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{unbounded, Receiver};
use sha1::{Digest, Sha1};

use super::pool::Notify;
use super::storage_tests::{pattern, spec, TestDir};
use super::{DiskJob, DiskPool, Storage, StorageConfig, StorageError, TorrentDisk};
use crate::engine::{DiskDone, DiskRequest};
use crate::layout::Layout;

const PIECE: usize = 32 * 1024;

fn sha(data: &[u8]) -> [u8; 20] {
    Sha1::digest(data).into()
}

struct Rig {
    _dir: TestDir,
    storage: Arc<Storage>,
    pool: DiskPool,
    results: Receiver<DiskDone>,
    notified: Arc<AtomicUsize>,
    thread_names: Arc<Mutex<Vec<String>>>,
}

fn rig(name: &str, workers: usize, queue: usize, cfg: &StorageConfig) -> Rig {
    let dir = TestDir::new(name);
    // Two pieces of 32 KiB across two files (piece 0 spans both).
    let files = [
        spec("p/one", 20_000),
        spec("p/two", 2 * PIECE as u64 - 20_000),
    ];
    let storage = Arc::new(Storage::open(&dir.0, &files, cfg).unwrap());
    let (tx, results) = unbounded();
    let notified = Arc::new(AtomicUsize::new(0));
    let thread_names = Arc::new(Mutex::new(Vec::new()));
    let (n, names) = (Arc::clone(&notified), Arc::clone(&thread_names));
    let notify: Notify = Arc::new(move || {
        n.fetch_add(1, Ordering::SeqCst);
        let name = std::thread::current().name().unwrap_or("").to_string();
        names.lock().unwrap().push(name);
    });
    let pool = DiskPool::new(workers, queue, tx, notify).unwrap();
    Rig {
        _dir: dir,
        storage,
        pool,
        results,
        notified,
        thread_names,
    }
}

/// The rig's torrent as the pool sees it: two pieces, both expected to hash to `expected`.
fn disk(storage: &Arc<Storage>, expected: [u8; 20]) -> Arc<TorrentDisk> {
    Arc::new(TorrentDisk {
        layout: Layout::new(PIECE as u32, 2 * PIECE as u64).unwrap(),
        hashes: vec![expected; 2].into(),
        store: storage.clone(),
        resume: Default::default(),
    })
}

fn job(storage: &Arc<Storage>, request: DiskRequest) -> DiskJob {
    DiskJob {
        request,
        disk: disk(storage, [0; 20]),
    }
}

fn verify_job(storage: &Arc<Storage>, piece: u32, data: Vec<u8>, expected: [u8; 20]) -> DiskJob {
    DiskJob {
        request: DiskRequest::Verify {
            torrent: 7,
            piece,
            data,
        },
        disk: disk(storage, expected),
    }
}

fn next(rx: &Receiver<DiskDone>) -> DiskDone {
    rx.recv_timeout(Duration::from_secs(10))
        .expect("a result in time")
}

#[test]
fn verify_check_read_release() {
    let r = rig("pool-basic", 2, 8, &StorageConfig::default());
    let good = pattern(PIECE, 9);
    let bad = pattern(PIECE, 10);
    r.pool
        .try_submit(verify_job(&r.storage, 0, good.clone(), sha(&good)))
        .unwrap();
    match next(&r.results) {
        DiskDone::Verified {
            torrent: 7,
            piece: 0,
            ok: true,
            buffer,
        } => {
            assert_eq!(buffer, good, "buffer handed back")
        }
        other => panic!("{other:?}"),
    }
    r.pool
        .try_submit(verify_job(&r.storage, 1, bad.clone(), sha(&good)))
        .unwrap();
    assert!(matches!(
        next(&r.results),
        DiskDone::Verified {
            piece: 1,
            ok: false,
            ..
        }
    ));
    let st = &r.storage;
    // The failed piece's bytes were written as they were hashed; what matters is that they are
    // not the good data, which a recheck (like the engine) never takes as had.
    for (piece, expected, want) in [(0, sha(&good), true), (1, sha(&good), false)] {
        let job = DiskJob {
            request: DiskRequest::Check { torrent: 7, piece },
            disk: disk(st, expected),
        };
        r.pool.try_submit(job).unwrap();
        assert!(
            matches!(next(&r.results), DiskDone::Checked { ok, piece: p, .. } if ok == want && p == piece)
        );
    }
    // A check past the end is not ok.
    let past = DiskRequest::Check {
        torrent: 7,
        piece: 2,
    };
    r.pool.try_submit(job(st, past)).unwrap();
    assert!(matches!(
        next(&r.results),
        DiskDone::Checked { ok: false, .. }
    ));

    // Releasing the maps answers nothing, and later reads map what they need again.
    r.pool
        .try_submit(job(st, DiskRequest::Release { torrent: 7 }))
        .unwrap();
    let read = DiskRequest::Read {
        torrent: 7,
        conn: 42,
        piece: 0,
        begin: 16_384,
        length: 16_384,
    };
    r.pool.try_submit(job(st, read)).unwrap();
    match next(&r.results) {
        DiskDone::Read {
            conn: 42,
            piece: 0,
            begin: 16_384,
            data: Ok(b),
            ..
        } => assert_eq!(b, good[16_384..]),
        other => panic!("{other:?}"),
    }
    let past = DiskRequest::Read {
        torrent: 7,
        conn: 43,
        piece: 1,
        begin: PIECE as u32,
        length: 1,
    };
    r.pool.try_submit(job(st, past)).unwrap();
    assert!(matches!(
        next(&r.results),
        DiskDone::Read {
            conn: 43,
            data: Err(StorageError::OutOfRange { .. }),
            ..
        }
    ));

    // Bytes on disk: piece 0 written across both files; piece 1 was written as it was hashed
    // (the verdict came after), and only the verdict decides whether it counts.
    let mut disk = fs::read(r._dir.0.join("p/one")).unwrap();
    disk.extend(fs::read(r._dir.0.join("p/two")).unwrap());
    assert!(disk[..PIECE] == good[..]);
    assert!(disk[PIECE..] == bad[..]);

    let Rig {
        pool,
        notified,
        thread_names,
        ..
    } = r;
    pool.shutdown();
    assert_eq!(notified.load(Ordering::SeqCst), 7, "one notify per result");
    let names = thread_names.lock().unwrap();
    assert!(names.iter().all(|n| n.starts_with("coracle-disk-")));
}

#[test]
fn full_queue_gives_the_job_back() {
    let cfg = StorageConfig {
        // Long enough that a loaded machine cannot finish the first job before the asserts below.
        write_delay: Some(Duration::from_millis(1500)),
        ..StorageConfig::default()
    };
    let r = rig("pool-full", 1, 1, &cfg);
    let data = pattern(PIECE, 11);
    let h = sha(&data);
    r.pool
        .try_submit(verify_job(&r.storage, 0, data.clone(), h))
        .unwrap();
    // Wait until the single worker has taken the first job and sleeps in its write.
    let start = Instant::now();
    while r.pool.queued() > 0 && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(r.pool.queued(), 0);
    r.pool
        .try_submit(verify_job(&r.storage, 0, data.clone(), h))
        .unwrap();
    assert_eq!(r.pool.queued(), 1);
    match r
        .pool
        .try_submit(verify_job(&r.storage, 1, vec![1, 2, 3], h))
    {
        Err(DiskJob {
            request: DiskRequest::Verify { piece: 1, data, .. },
            ..
        }) => assert_eq!(data, [1, 2, 3]),
        other => panic!("expected the job back, got {other:?}"),
    }
    for _ in 0..2 {
        assert!(matches!(
            next(&r.results),
            DiskDone::Verified { ok: true, .. }
        ));
    }
    // A worker sends its result, then notifies: the count may trail the result by a moment.
    let start = Instant::now();
    while r.notified.load(Ordering::SeqCst) < 2 && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(r.notified.load(Ordering::SeqCst), 2);
}

#[test]
fn shutdown_finishes_queued_jobs_and_joins() {
    let r = rig("pool-shutdown", 2, 16, &StorageConfig::default());
    let data = pattern(PIECE, 12);
    for _ in 0..10 {
        r.pool
            .try_submit(verify_job(&r.storage, 0, data.clone(), sha(&data)))
            .unwrap();
    }
    let Rig {
        pool,
        results,
        notified,
        storage,
        _dir,
        ..
    } = r;
    pool.shutdown();
    // All queued jobs ran before the join returned; workers dropped their result senders.
    assert_eq!(results.try_iter().count(), 10);
    assert!(results.recv().is_err(), "every worker has exited");
    assert_eq!(notified.load(Ordering::SeqCst), 10);
    // The notify closure (held by workers) is released: only our handle is left.
    assert_eq!(Arc::strong_count(&notified), 1);
    drop(storage);
}

#[test]
fn failed_write_is_reported_not_panicked() {
    let r = rig("pool-writefail", 1, 4, &StorageConfig::default());
    // The files were created by open; deleting one makes the lazy open in the worker fail.
    fs::remove_file(r._dir.0.join("p/one")).unwrap();
    let data = pattern(PIECE, 13);
    r.pool
        .try_submit(verify_job(&r.storage, 0, data.clone(), sha(&data)))
        .unwrap();
    match next(&r.results) {
        DiskDone::WriteFailed {
            piece: 0,
            error: StorageError::Io {
                op: "open", path, ..
            },
            ..
        } => assert_eq!(path, r._dir.0.join("p/one")),
        other => panic!("{other:?}"),
    }
}
