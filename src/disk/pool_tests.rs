//! Tests of `DiskPool`: verify/check/read/release results, backpressure, notify, shutdown.

use std::fs;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{unbounded, Receiver};
use sha1::{Digest, Sha1};

use super::storage_tests::{pattern, spec, TestDir};
use super::VerifyOutcome;
use super::{DiskJob, DiskPool, DiskResult, Notify, Storage, StorageConfig, StorageError};

const PIECE: usize = 32 * 1024;

fn sha(data: &[u8]) -> [u8; 20] {
    Sha1::digest(data).into()
}

struct Rig {
    _dir: TestDir,
    storage: Arc<Storage>,
    pool: DiskPool,
    results: Receiver<DiskResult>,
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

fn verify_job(storage: &Arc<Storage>, piece: u32, data: Vec<u8>, expected: [u8; 20]) -> DiskJob {
    DiskJob::Verify {
        torrent: 7,
        piece,
        offset: u64::from(piece) * PIECE as u64,
        data,
        expected,
        storage: Arc::clone(storage),
    }
}

fn next(rx: &Receiver<DiskResult>) -> DiskResult {
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
        DiskResult::Verified {
            torrent: 7,
            piece: 0,
            outcome: VerifyOutcome::Written,
            data,
        } => {
            assert_eq!(data, good, "buffer handed back")
        }
        other => panic!("{other:?}"),
    }
    r.pool
        .try_submit(verify_job(&r.storage, 1, bad.clone(), sha(&good)))
        .unwrap();
    assert!(matches!(
        next(&r.results),
        DiskResult::Verified {
            piece: 1,
            outcome: VerifyOutcome::HashMismatch,
            ..
        }
    ));
    let st = &r.storage;
    // The failed piece's bytes were written as they were hashed; what matters is that they are
    // not the good data, which a recheck (like the engine) never takes as had.
    for (piece, expected, want) in [(0, sha(&good), true), (1, sha(&good), false)] {
        let job = DiskJob::Check {
            torrent: 7,
            piece,
            offset: u64::from(piece) * PIECE as u64,
            len: PIECE as u32,
            expected,
            storage: Arc::clone(st),
        };
        r.pool.try_submit(job).unwrap();
        assert!(
            matches!(next(&r.results), DiskResult::Checked { ok, piece: p, .. } if ok == want && p == piece)
        );
    }
    // A check past the end is a read error, reported as not ok.
    let job = DiskJob::Check {
        torrent: 7,
        piece: 2,
        offset: 2 * PIECE as u64,
        len: 1,
        expected: [0; 20],
        storage: Arc::clone(st),
    };
    r.pool.try_submit(job).unwrap();
    assert!(matches!(
        next(&r.results),
        DiskResult::Checked { ok: false, .. }
    ));

    // Releasing the maps answers nothing, and later reads map what they need again.
    r.pool
        .try_submit(DiskJob::Release {
            storage: Arc::clone(st),
        })
        .unwrap();
    let job = DiskJob::Read {
        torrent: 7,
        token: 42,
        piece: 0,
        begin: 16_384,
        offset: 16_384,
        len: 16_384,
        storage: Arc::clone(st),
    };
    r.pool.try_submit(job).unwrap();
    match next(&r.results) {
        DiskResult::Read {
            token: 42,
            piece: 0,
            begin: 16_384,
            result: Ok(b),
            ..
        } => assert_eq!(b, good[16_384..]),
        other => panic!("{other:?}"),
    }
    let job = DiskJob::Read {
        torrent: 7,
        token: 43,
        piece: 1,
        begin: 0,
        offset: 2 * PIECE as u64,
        len: 1,
        storage: Arc::clone(st),
    };
    r.pool.try_submit(job).unwrap();
    assert!(matches!(
        next(&r.results),
        DiskResult::Read {
            token: 43,
            result: Err(StorageError::OutOfRange { .. }),
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
        Err(DiskJob::Verify { piece: 1, data, .. }) => assert_eq!(data, [1, 2, 3]),
        other => panic!("expected the job back, got {other:?}"),
    }
    for _ in 0..2 {
        assert!(matches!(
            next(&r.results),
            DiskResult::Verified {
                outcome: VerifyOutcome::Written,
                ..
            }
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
        DiskResult::Verified {
            outcome:
                VerifyOutcome::WriteFailed(StorageError::Io {
                    op: "open", path, ..
                }),
            data: d,
            ..
        } => {
            assert_eq!(path, r._dir.0.join("p/one"));
            assert_eq!(d, data);
        }
        other => panic!("{other:?}"),
    }
}
