//! The disk worker pool: threads named `coracle-disk-N` that hash completed pieces (SHA-1),
//! write them, re-check pieces on resume, read blocks for upload and release the maps of
//! completed torrents.
//!
//! The reactor owns the [`DiskPool`] and submits [`DiskJob`]s (the engine's own
//! [`DiskRequest`]s with the torrent they are for) without ever blocking
//! ([`DiskPool::try_submit`] fails when the bounded queue is full; the reactor keeps the job in
//! its ordered backlog). Workers run each through [`execute`] and send the engine's
//! [`DiskDone`] on a crossbeam channel, then call the [`Notify`] callback so the reactor wakes
//! up. Workers own no protocol state and must not panic: every failure is in the answer.

use std::fmt;
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender, TrySendError};

use super::job::{execute, TorrentDisk};
use crate::engine::{DiskDone, DiskRequest};

/// Wakes the reactor after a result was sent (a closure that calls `mio::Waker::wake`).
pub type Notify = Arc<dyn Fn() + Send + Sync>;

/// Work for the disk pool: the engine's request and the torrent it is for.
pub struct DiskJob {
    /// What the engine asked for.
    pub request: DiskRequest,
    /// The torrent's layout, hashes and storage.
    pub disk: Arc<TorrentDisk>,
}

impl fmt::Debug for DiskJob {
    // By hand: a derived impl would print whole piece buffers.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.request {
            DiskRequest::Verify {
                torrent,
                piece,
                data,
            } => write!(
                f,
                "Verify {{ torrent: {torrent}, piece: {piece}, len: {} }}",
                data.len()
            ),
            other => write!(f, "{other:?}"),
        }
    }
}

/// A fixed set of disk worker threads fed by a bounded queue.
///
/// No fsync here except a checkpoint's; the session fsyncs every file at shutdown, after the
/// pool has stopped (see ARCHITECTURE.md, "Durability"). After answering a write, a worker may
/// wait for the kernel to finish writing back the torrent's previous batch of pages
/// ([`Storage::write_back`](super::Storage::write_back)): that bounds the dirty page cache.
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
        results: Sender<DiskDone>,
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
    #[cfg(test)]
    pub fn queued(&self) -> usize {
        self.jobs.as_ref().map_or(0, Sender::len)
    }

    /// Closes the queue, lets the workers finish the queued jobs, and joins them. Dropping the
    /// pool does the same.
    #[cfg(test)]
    pub fn shutdown(mut self) {
        self.stop();
    }

    /// Like [`Self::shutdown`], keeping the pool value (its owner still has other work before it
    /// goes); later submissions are refused.
    pub fn finish(&mut self) {
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
fn worker(jobs: Receiver<DiskJob>, results: Sender<DiskDone>, notify: Notify) {
    // Reused across Check jobs so a resume of thousands of pieces allocates once per worker.
    let mut scratch = Vec::new();
    for job in jobs.iter() {
        let Some(result) = execute(job.request, &job.disk, &mut scratch) else {
            continue;
        };
        let wrote = matches!(result, DiskDone::Verified { .. });
        // If the reactor is gone nobody listens; keep running jobs so queued writes still land.
        if results.send(result).is_ok() {
            notify();
        }
        // After the answer, so waiting for the previous batch delays no piece's verdict.
        if wrote {
            job.disk.store.write_back();
        }
    }
}
