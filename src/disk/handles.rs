//! A small LRU of open file handles for one [`Storage`](super::Storage).
//!
//! Why: a torrent may hold thousands of files and the usual soft limit on descriptors is 1024, so
//! files are opened on demand and the least recently used handle is closed past a cap. Used on the
//! pool's worker threads, on the reactor thread at shutdown (the last checkpoints and the flush
//! open files to sync them), and by whoever calls `Storage` directly; the lock is held only for the
//! `open` call, never for reads or writes, which go through a cloned `Arc<File>`. It must not
//! create files: creation happens once in `Storage::open`, so a file deleted behind our back is an
//! error here, not a silent empty replacement.

use std::fs::{File, OpenOptions};
use std::path::Path;
use std::sync::{Arc, Mutex};

use super::error::{io_err, StorageError};

/// How many descriptors one storage keeps open at most.
const MAX_OPEN_FILES: usize = 128;

struct Slot {
    file: usize,
    handle: Arc<File>,
    used: u64,
}

#[derive(Default)]
struct State {
    tick: u64,
    slots: Vec<Slot>,
}

/// Whether opening for writing failed only because writing is not allowed here.
pub(crate) fn read_only_refusal(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EROFS | libc::EACCES | libc::EPERM)
    )
}

/// Open handles keyed by the file's index in the torrent.
#[derive(Default)]
pub(crate) struct Handles {
    state: Mutex<State>,
}

impl Handles {
    /// The handle of file `index` at `path`, opened read-write if not cached, or read-only where
    /// writing is not allowed (a seed's data on a read-only mount): reads then work, and a write
    /// fails with the system's error (maps fail too, and the storage falls back to `pread`).
    pub(crate) fn get(&self, index: usize, path: &Path) -> Result<Arc<File>, StorageError> {
        // A poisoned lock only means another thread panicked mid-update of plain data; the
        // cache stays consistent (each step is a single push/remove), so keep using it.
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st.tick += 1;
        let tick = st.tick;
        if let Some(slot) = st.slots.iter_mut().find(|s| s.file == index) {
            slot.used = tick;
            return Ok(Arc::clone(&slot.handle));
        }
        let file = match OpenOptions::new().read(true).write(true).open(path) {
            Err(e) if read_only_refusal(&e) => File::open(path),
            other => other,
        }
        .map_err(|e| io_err(path, "open", e))?;
        let handle = Arc::new(file);
        if st.slots.len() >= MAX_OPEN_FILES {
            if let Some(oldest) = st
                .slots
                .iter()
                .enumerate()
                .min_by_key(|(_, s)| s.used)
                .map(|(i, _)| i)
            {
                // Threads still using the evicted handle keep it alive through their Arc.
                st.slots.swap_remove(oldest);
            }
        }
        st.slots.push(Slot {
            file: index,
            handle: Arc::clone(&handle),
            used: tick,
        });
        Ok(handle)
    }
}
