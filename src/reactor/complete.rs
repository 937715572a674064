//! The last look before a torrent is declared complete: every file still there at its full
//! length. A file truncated or removed by another program after its last piece was written
//! would otherwise leave the torrent "complete" with wrong bytes. The look (a `stat` per file)
//! runs on a short-lived `coracle-complete` thread, never on the reactor; the engine's
//! `Completed` reaches handles and subscribers only after it, or the torrent fails.
//!
//! Runs on the reactor thread (and one helper thread per completion). Answers come back in a
//! cell per look, checked when the helper wakes the reactor: no channel type of its own.

// I/O shell: a helper thread per completion looks at the files; shutdown waits for them.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use super::{Reactor, Wake};
use crate::engine::{Event, TorrentError, TorrentId, TorrentState};

/// What a look found: `Err` says why the files are not whole.
type Found = Arc<OnceLock<Result<(), String>>>;

/// Looks in flight.
pub(crate) struct Completions {
    looks: Vec<(TorrentId, Found)>,
    wake: Wake,
}

impl Completions {
    pub fn new(wake: Wake) -> Completions {
        Completions {
            looks: Vec::new(),
            wake,
        }
    }
}

impl Reactor {
    /// The engine says `torrent` is complete: look at its files before telling anyone.
    /// Returns false when there is nothing to look at (no files yet) or no thread to look with;
    /// the completion is then published at once.
    pub(super) fn look_before_completing(&mut self, torrent: TorrentId) -> bool {
        let Some(shelf) = self.shelves.get(&torrent) else {
            return false;
        };
        let storage = shelf.storage.clone();
        let found = Found::default();
        let (cell, wake) = (found.clone(), self.completions.wake.clone());
        let spawned = super::spawn_helper(
            "coracle-complete",
            Box::new(move || {
                let _ = cell.set(storage.check_files().map_err(|e| e.to_string()));
                let _ = wake.wake();
            }),
        );
        if spawned.is_ok() {
            self.completions.looks.push((torrent, found));
        }
        spawned.is_ok()
    }

    /// Takes the looks that finished: each torrent completes, or fails naming the file.
    pub(super) fn completions_done(&mut self) {
        if self
            .completions
            .looks
            .iter()
            .all(|(_, f)| f.get().is_none())
        {
            return;
        }
        let looks = std::mem::take(&mut self.completions.looks);
        for (torrent, found) in looks {
            match found.get() {
                Some(result) => self.complete_or_fail(torrent, result.clone()),
                None => self.completions.looks.push((torrent, found)),
            }
        }
    }

    /// At shutdown: waits (at most 2 s) for the looks in flight, so a torrent that completed
    /// just before is reported complete.
    pub(super) fn completions_settle(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(2);
        while !self.completions.looks.is_empty() && Instant::now() < deadline {
            self.completions_done();
            if !self.completions.looks.is_empty() {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }

    fn complete_or_fail(&mut self, torrent: TorrentId, found: Result<(), String>) {
        // Removed, rechecked or failed meanwhile: the look no longer speaks for it.
        let seeding =
            self.engine.torrent(torrent).map(|t| t.state()) == Some(TorrentState::Seeding);
        let Some(shelf) = self.shelves.get(&torrent).filter(|_| seeding) else {
            return;
        };
        match found {
            Ok(()) => {
                // BEP 47 links first (on their own thread), then the handles hear of it.
                self.links
                    .complete(&shelf.meta, shelf.output.clone(), &shelf.status);
                self.events.publish(&Event::Completed { torrent });
            }
            Err(why) => {
                let why = format!("{why}; the data is not complete (recheck once it is put right)");
                self.engine
                    .fail_torrent(torrent, TorrentError::Storage(why), Instant::now());
            }
        }
    }
}
