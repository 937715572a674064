//! Choosing files at runtime through a [`TorrentHandle`]: new priorities are turned into the
//! pieces they mean, a skipped file chosen again is created and filled from the part file (on
//! the caller's thread, since it is disk work), and only then is the reactor told, so no
//! request can reach a file that does not exist yet.
//!
//! Runs on the caller's thread.

// I/O shell: creating a re-selected file, and waiting for a magnet's files to open.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Error, TorrentHandle};
use crate::disk::{file_spans, Storage};
use crate::reactor::Command;
use crate::selection::{FilePriority, PieceWants};

/// How long a priority change waits for a magnet's files to be created after its metadata
/// arrived.
const OPEN_WAIT: Duration = Duration::from_secs(60);

impl TorrentHandle {
    /// Sets every file's priority, in torrent order (padding files included). A skipped file
    /// chosen again is created now (its bytes that the part file kept are moved in, and it is
    /// synced) before its pieces are requested; a file skipped now keeps what it has on disk,
    /// and its pieces are no longer fetched. A complete torrent that now wants more downloads
    /// again, and [`Self::wait`] waits for it. Blocks while files are created.
    pub fn set_file_priorities(&self, priorities: &[FilePriority]) -> Result<(), Error> {
        let meta = self.metainfo().ok_or(Error::NoMetadata)?;
        let wants = PieceWants::new(&meta.layout(), file_spans(&meta), priorities.to_vec())
            .map_err(Error::Selection)?;
        let storage = self.open_storage()?;
        for (i, p) in priorities.iter().enumerate() {
            if *p != FilePriority::Skip && storage.is_absent(i) {
                storage.create_skipped(i).map_err(Error::Storage)?;
            }
        }
        // Cleared before the reactor sees the change, so a `wait` right after this call cannot
        // see the old completion; the reactor sets it again if the torrent is still complete.
        self.entry.status.clear_complete();
        self.link.send(Command::SetWants {
            id: self.entry.id,
            wants,
        })
    }

    /// Sets one file's priority (its index as `coracle info` numbers it), keeping the others.
    pub fn set_file_priority(&self, index: usize, priority: FilePriority) -> Result<(), Error> {
        let meta = self.metainfo().ok_or(Error::NoMetadata)?;
        let n = meta.files.len();
        if index >= n {
            return Err(Error::NoSuchFile(index));
        }
        let mut all: Vec<FilePriority> = self
            .stats()
            .map(|s| s.files.iter().map(|f| f.priority).collect())
            .filter(|v: &Vec<FilePriority>| v.len() == n)
            .unwrap_or_else(|| vec![FilePriority::Normal; n]);
        all[index] = priority;
        self.set_file_priorities(&all)
    }

    /// The torrent's files; for a magnet whose metadata just arrived, waits (up to a minute)
    /// for them to be created.
    fn open_storage(&self) -> Result<Arc<Storage>, Error> {
        let deadline = Instant::now() + OPEN_WAIT;
        loop {
            if let Some(s) = self.entry.storage.get() {
                return Ok(s.clone());
            }
            if let Some(end) = self.entry.status.state() {
                return Err(match end {
                    crate::engine::TorrentState::Failed(why) => Error::TorrentFailed(why),
                    _ => Error::Stopped,
                });
            }
            if Instant::now() >= deadline {
                return Err(Error::Timeout);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
