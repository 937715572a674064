//! Progressive write-back of one [`Storage`](super::Storage): the kernel is asked to start
//! writing a torrent's pages while the download runs, and a worker waits for the previous
//! batch before it starts the next, so the page cache never holds much more than a configured
//! amount of this torrent's dirty data.
//!
//! Why: without it a 1 GiB download left about a gigabyte dirty at completion, and the final
//! fsync (the promise that exit 0 means "every piece verified and synced") took 1.3-1.4 s of a
//! 3.4 s run (issue 15); a small machine writing to a slow stick also stalled on one huge
//! flush. Durability is unchanged: this only starts write-back early
//! (`sync_file_range(SYNC_FILE_RANGE_WRITE)` writes data, not metadata, and flushes no device
//! cache), so every sync that the durability promise rests on still happens, now on little data.
//!
//! Runs on the pool's worker threads only, after a write's answer was sent (so a wait delays no
//! piece's verdict), never on the reactor. It must not fail a download: a write-back error is
//! logged and the final fsync reports it.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

/// Bytes written between two write-back batches, out of the dirty bound: a batch is written
/// while the next one fills, and a worker waits for the older one first, so about two
/// batches (plus what the other workers write meanwhile) are ever dirty or in flight.
const BATCHES_PER_BOUND: u64 = 4;

/// Write-back bookkeeping of one storage.
pub(crate) struct WriteBack {
    /// Bytes per batch; 0 turns write-back off.
    batch: u64,
    /// Bytes written since the storage was opened.
    written: AtomicU64,
    /// Bytes covered by the last batch started (a multiple of `batch`).
    started: AtomicU64,
    /// Per file: written since its last batch.
    pending: Vec<AtomicBool>,
    /// One batch at a time; the other workers that find a batch due wait their turn.
    running: Mutex<()>,
}

impl WriteBack {
    /// Write-back for `files` files that keeps about `dirty_limit` bytes dirty at most
    /// (0: never start write-back early; the final sync writes everything).
    pub(crate) fn new(files: usize, dirty_limit: u64) -> WriteBack {
        WriteBack {
            batch: dirty_limit / BATCHES_PER_BOUND,
            written: AtomicU64::new(0),
            started: AtomicU64::new(0),
            pending: (0..files).map(|_| AtomicBool::new(false)).collect(),
            running: Mutex::new(()),
        }
    }

    /// Notes that `len` bytes were just written to file `file`.
    pub(crate) fn wrote(&self, file: usize, len: usize) {
        if self.batch == 0 {
            return;
        }
        if let Some(p) = self.pending.get(file) {
            p.store(true, Ordering::Release);
        }
        self.written.fetch_add(len as u64, Ordering::AcqRel);
    }

    /// Whether a full batch was written since the last one started.
    pub(crate) fn due(&self) -> bool {
        self.batch > 0
            && self.written.load(Ordering::Acquire)
                >= self.started.load(Ordering::Acquire) + self.batch
    }

    /// If a batch is due, waits for the write-back already under way on each file written
    /// since the last batch, then starts write-back of its dirty pages. `open(i)` gives file
    /// `i`'s handle (`None` for padding or a file that cannot be opened: skipped).
    pub(crate) fn run(&self, mut open: impl FnMut(usize) -> Option<std::sync::Arc<File>>) {
        if !self.due() {
            return;
        }
        // Every worker that finds a batch due queues here: one that went back to writing while
        // another waits for the device would let the dirty pages grow past the bound.
        let _one = self.running.lock().unwrap_or_else(|e| e.into_inner());
        // The worker before us may have started this batch already.
        if !self.due() {
            return;
        }
        let written = self.written.load(Ordering::Acquire);
        self.started
            .store(written - written % self.batch, Ordering::Release);
        for (i, p) in self.pending.iter().enumerate() {
            if !p.swap(false, Ordering::AcqRel) {
                continue;
            }
            if let Some(fd) = open(i) {
                start_write_back(&fd);
            }
        }
    }
}

/// Waits for the pages of `fd` already being written back, then starts writing back its dirty
/// pages (the whole file: offset 0, length 0 means "to the end").
fn start_write_back(fd: &File) {
    let flags = libc::SYNC_FILE_RANGE_WAIT_BEFORE | libc::SYNC_FILE_RANGE_WRITE;
    // SAFETY: a plain system call on a descriptor we hold open through `fd`; no pointers.
    let rc = unsafe { libc::sync_file_range(fd.as_raw_fd(), 0, 0, flags) };
    if rc != 0 {
        // Not fatal: the pages stay dirty and the final fsync writes them (or reports the
        // error that made this fail).
        log::debug!(
            "sync_file_range: {}; leaving write-back to the final sync",
            std::io::Error::last_os_error()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::sync::Arc;

    #[test]
    fn a_batch_is_due_after_a_quarter_of_the_bound_and_clears_pending_files() {
        let wb = WriteBack::new(3, 4 << 20);
        wb.wrote(1, 512 << 10);
        assert!(!wb.due(), "half a batch is not due");
        wb.wrote(2, 512 << 10);
        assert!(wb.due(), "one MiB (a quarter of 4 MiB) is a batch");

        let dir = std::env::temp_dir().join(format!("coracle-wb-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f");
        let mut f = File::create(&path).unwrap();
        f.write_all(&vec![7u8; 1 << 20]).unwrap();
        let fd = Arc::new(f);
        let mut asked = Vec::new();
        wb.run(|i| {
            asked.push(i);
            Some(Arc::clone(&fd))
        });
        assert_eq!(
            asked,
            vec![1, 2],
            "only the files written since the last batch"
        );
        assert!(!wb.due(), "the batch covers everything written so far");
        wb.run(|i| panic!("nothing is due, yet file {i} was asked for"));
        wb.wrote(0, (1 << 20) - 1);
        assert!(!wb.due(), "one byte short of the next batch");
        wb.wrote(0, 1);
        assert!(wb.due());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_zero_bound_never_starts_write_back() {
        let wb = WriteBack::new(1, 0);
        wb.wrote(0, 1 << 30);
        assert!(!wb.due());
        wb.run(|_| panic!("write-back is off"));
    }
}
