//! The disk worker pool: threads named `coracle-disk-N` that hash completed pieces (SHA-1),
//! write them, re-check pieces on resume, read blocks for upload and release the maps of
//! completed torrents.
//!
//! The reactor owns the [`DiskPool`] and submits [`DiskJob`]s without ever blocking
//! ([`DiskPool::try_submit`] fails when the bounded queue is full, which is the reactor's signal
//! to stop reading piece data). Workers send each [`DiskResult`] on a crossbeam channel, then call
//! the [`Notify`] callback so the reactor wakes up. Workers own no protocol state and must not
//! panic: every failure is reported in the result.

use std::fmt;
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender, TrySendError};
use sha1::{Digest, Sha1};

use super::error::StorageError;
use super::storage::Storage;

/// Wakes the reactor after a result was sent (a closure that calls `mio::Waker::wake`).
pub type Notify = Arc<dyn Fn() + Send + Sync>;

/// Work for the disk pool.
pub enum DiskJob {
    /// Hash a downloaded piece and write it (as it is hashed; see [`DiskResult::Verified`] for
    /// the verdict). `data` is returned in the result so the reactor can reuse the buffer.
    Verify {
        /// The reactor's torrent id.
        torrent: usize,
        /// Piece index.
        piece: u32,
        /// Offset of the piece in the torrent's byte stream.
        offset: u64,
        /// The whole piece.
        data: Vec<u8>,
        /// SHA-1 from the metainfo.
        expected: [u8; 20],
        /// Where to write it.
        storage: Arc<Storage>,
    },
    /// Recheck a piece already on disk (resume): read and hash, in a per-worker reusable buffer.
    Check {
        /// The reactor's torrent id.
        torrent: usize,
        /// Piece index.
        piece: u32,
        /// Offset of the piece in the torrent's byte stream.
        offset: u64,
        /// Piece length.
        len: u32,
        /// SHA-1 from the metainfo.
        expected: [u8; 20],
        /// Where to read it.
        storage: Arc<Storage>,
    },
    /// Read a block for upload.
    Read {
        /// The reactor's torrent id.
        torrent: usize,
        /// The reactor's own tag (e.g. which peer asked), returned untouched.
        token: u64,
        /// Piece index.
        piece: u32,
        /// Offset of the block inside the piece.
        begin: u32,
        /// Offset of the block in the torrent's byte stream.
        offset: u64,
        /// Block length.
        len: u32,
        /// Where to read it.
        storage: Arc<Storage>,
    },
    /// Unmap a completed torrent's windows ([`Storage::release_maps`]). It has no result:
    /// nothing can fail, and the reactor waits for nothing.
    Release {
        /// What to release.
        storage: Arc<Storage>,
    },
}

impl fmt::Debug for DiskJob {
    // By hand: a derived impl would print whole piece buffers.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DiskJob::Verify {
                torrent,
                piece,
                offset,
                data,
                ..
            } => write!(
                f,
                "Verify {{ torrent: {torrent}, piece: {piece}, offset: {offset}, len: {} }}",
                data.len()
            ),
            DiskJob::Check {
                torrent,
                piece,
                offset,
                len,
                ..
            } => write!(
                f,
                "Check {{ torrent: {torrent}, piece: {piece}, offset: {offset}, len: {len} }}"
            ),
            DiskJob::Read {
                torrent,
                token,
                offset,
                len,
                ..
            } => write!(
                f,
                "Read {{ torrent: {torrent}, token: {token}, offset: {offset}, len: {len} }}"
            ),
            DiskJob::Release { .. } => write!(f, "Release"),
        }
    }
}

/// What happened to a verified piece.
#[derive(Debug)]
pub enum VerifyOutcome {
    /// The hash matched and the piece is written.
    Written,
    /// The hash did not match. The bytes were written but the piece is not had, so nothing
    /// ever reads them; they are overwritten when the piece is fetched again.
    HashMismatch,
    /// A write failed (the piece is not had either way).
    WriteFailed(StorageError),
}

/// The answer to a [`DiskJob`], same variant order.
#[derive(Debug)]
pub enum DiskResult {
    /// Answer to [`DiskJob::Verify`]; `data` is the piece buffer handed back for reuse.
    Verified {
        /// The reactor's torrent id.
        torrent: usize,
        /// Piece index.
        piece: u32,
        /// Whether the piece is now on disk.
        outcome: VerifyOutcome,
        /// The job's buffer.
        data: Vec<u8>,
    },
    /// Answer to [`DiskJob::Check`]; a read error counts as `ok: false`.
    Checked {
        /// The reactor's torrent id.
        torrent: usize,
        /// Piece index.
        piece: u32,
        /// Whether the piece on disk matches its hash.
        ok: bool,
    },
    /// Answer to [`DiskJob::Read`].
    Read {
        /// The reactor's torrent id.
        torrent: usize,
        /// The job's token.
        token: u64,
        /// Piece index.
        piece: u32,
        /// Offset of the block inside the piece.
        begin: u32,
        /// The block, or why it could not be read.
        result: Result<Vec<u8>, StorageError>,
    },
}

/// A fixed set of disk worker threads fed by a bounded queue.
///
/// Nothing here waits on the device: there is no fsync on the pool. The session fsyncs every
/// file once, at shutdown, after the pool has stopped (see ARCHITECTURE.md, "Durability").
pub struct DiskPool {
    jobs: Option<Sender<DiskJob>>,
    workers: Vec<JoinHandle<()>>,
}

impl DiskPool {
    /// Starts `workers` threads named `coracle-disk-N` (at least one); `queue` is the capacity of the bounded job channel (at least one). Fails only if
    /// a thread cannot be spawned; the threads already started are then stopped and joined.
    pub fn new(
        workers: usize,
        queue: usize,
        results: Sender<DiskResult>,
        notify: Notify,
    ) -> std::io::Result<DiskPool> {
        let (tx, rx) = crossbeam_channel::bounded(queue.max(1));
        let mut pool = DiskPool {
            jobs: Some(tx),
            workers: Vec::with_capacity(workers.max(1)),
        };
        for n in 0..workers.max(1) {
            let rx = rx.clone();
            let results = results.clone();
            let notify = Arc::clone(&notify);
            let handle = std::thread::Builder::new()
                .name(format!("coracle-disk-{n}"))
                .spawn(move || worker(rx, results, notify))?;
            // On `?` above, `pool` drops here: its Drop closes the queues and joins.
            pool.workers.push(handle);
        }
        Ok(pool)
    }

    /// Queues `job` without blocking; gives it back when the queue is full (the reactor then
    /// stops reading piece data: backpressure) or the pool is shut down.
    pub fn try_submit(&self, job: DiskJob) -> Result<(), DiskJob> {
        match &self.jobs {
            Some(tx) => tx.try_send(job).map_err(|e| match e {
                TrySendError::Full(j) | TrySendError::Disconnected(j) => j,
            }),
            None => Err(job),
        }
    }

    /// Jobs queued and not yet taken by a worker.
    pub fn queued(&self) -> usize {
        self.jobs.as_ref().map_or(0, Sender::len)
    }

    /// Closes the queue, lets the workers finish the queued jobs, and joins them. Dropping the
    /// pool does the same.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        // Dropping the only senders ends each thread's loop once its queue is drained.
        self.jobs = None;
        for handle in self.workers.drain(..) {
            if handle.join().is_err() {
                log::error!("a disk worker panicked");
            }
        }
    }
}

impl Drop for DiskPool {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One worker: runs jobs until the queue is closed and drained.
fn worker(jobs: Receiver<DiskJob>, results: Sender<DiskResult>, notify: Notify) {
    // Reused across Check jobs so a resume of thousands of pieces allocates once per worker.
    let mut scratch = Vec::new();
    for job in jobs.iter() {
        let Some(result) = run(job, &mut scratch) else {
            continue;
        };
        // If the reactor is gone nobody listens; keep running jobs so queued writes still land.
        if results.send(result).is_ok() {
            notify();
        }
    }
}

fn run(job: DiskJob, scratch: &mut Vec<u8>) -> Option<DiskResult> {
    Some(match job {
        DiskJob::Verify {
            torrent,
            piece,
            offset,
            data,
            expected,
            storage,
        } => DiskResult::Verified {
            torrent,
            piece,
            outcome: verify(&storage, offset, &data, &expected),
            data,
        },
        DiskJob::Check {
            torrent,
            piece,
            offset,
            len,
            expected,
            storage,
        } => DiskResult::Checked {
            torrent,
            piece,
            ok: check(&storage, offset, len, &expected, scratch),
        },
        DiskJob::Read {
            torrent,
            token,
            piece,
            begin,
            offset,
            len,
            storage,
        } => {
            let result = storage.read_vec(offset, len as usize);
            DiskResult::Read {
                torrent,
                token,
                piece,
                begin,
                result,
            }
        }
        DiskJob::Release { storage } => {
            storage.release_maps();
            return None;
        }
    })
}

/// How much of a piece is hashed before that same stretch is written: small enough to still
/// be in the L1/L2 cache when it is copied to the file. Hashing the whole piece first and then
/// writing it read the piece from memory twice; with pwrite storage this made the leecher's CPU
/// per GiB about 1.4 times as high (`examples/swarm`, 1 GiB).
const WRITE_STRIDE: usize = 64 * 1024;

/// Hashes `data` and writes it stride by stride, so each stretch is copied while it is hot.
/// The bytes land before the verdict; a piece that fails its hash is simply never counted as
/// had, and its range is written again when it is fetched again (every read of our data, for
/// upload or recheck, is of pieces that passed).
fn verify(storage: &Storage, offset: u64, data: &[u8], expected: &[u8; 20]) -> VerifyOutcome {
    let mut hasher = Sha1::new();
    let mut at = offset;
    for stretch in data.chunks(WRITE_STRIDE) {
        hasher.update(stretch);
        if let Err(e) = storage.write_at(at, stretch) {
            return VerifyOutcome::WriteFailed(e);
        }
        at += stretch.len() as u64;
    }
    if hasher.finalize()[..] == expected[..] {
        VerifyOutcome::Written
    } else {
        VerifyOutcome::HashMismatch
    }
}

fn check(
    storage: &Storage,
    offset: u64,
    len: u32,
    expected: &[u8; 20],
    scratch: &mut Vec<u8>,
) -> bool {
    // Grown once and never cleared: the read overwrites every byte that is hashed, and zeroing
    // a piece-sized buffer per check was a tenth of a seeder's recheck time.
    let len = len as usize;
    if scratch.len() < len {
        scratch.resize(len, 0);
    }
    let buf = &mut scratch[..len];
    storage.read_at(offset, buf).is_ok() && Sha1::digest(&buf[..])[..] == expected[..]
}
