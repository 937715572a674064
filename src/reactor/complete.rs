//! The last look before a torrent is declared complete: every file still there at its full
//! length. A file truncated or removed by another program after its last piece was written
//! would otherwise leave the torrent "complete" with wrong bytes. The look (a `stat` per file)
//! runs on a short-lived `coracle-complete` thread, never on the reactor; the engine's
//! `Completed` reaches handles and subscribers only after it, or the torrent fails.
//!
//! Runs on the reactor thread (and one helper thread per completion).

// I/O shell: a helper thread per completion looks at the files.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::time::{Duration, Instant};

use crossbeam_channel::{unbounded, Receiver, Sender};

use super::{Reactor, Wake};
use crate::engine::{Event, TorrentError, TorrentId, TorrentState};

/// What a look found: the torrent, and why its files are not whole.
type Looked = (TorrentId, Result<(), String>);

/// Looks in flight and the channel their answers come back on.
pub(crate) struct Completions {
    tx: Sender<Looked>,
    rx: Receiver<Looked>,
    wake: Wake,
    in_flight: usize,
}

impl Completions {
    pub fn new(wake: Wake) -> Completions {
        let (tx, rx) = unbounded();
        Completions {
            tx,
            rx,
            wake,
            in_flight: 0,
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
        let (tx, wake) = (self.completions.tx.clone(), self.completions.wake.clone());
        let spawned = std::thread::Builder::new()
            .name("coracle-complete".into())
            .spawn(move || {
                let found = storage.check_files().map_err(|e| e.to_string());
                let _ = tx.send((torrent, found));
                let _ = wake.wake();
            });
        if spawned.is_ok() {
            self.completions.in_flight += 1;
        }
        spawned.is_ok()
    }

    /// Takes the looks that finished: each torrent completes, or fails naming the file.
    pub(super) fn completions_done(&mut self) {
        while let Ok(looked) = self.completions.rx.try_recv() {
            self.complete_or_fail(looked);
        }
    }

    /// At shutdown: waits (briefly) for the looks in flight, so a torrent that completed just
    /// before is reported complete.
    pub(super) fn completions_settle(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(2);
        while self.completions.in_flight > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.completions.rx.recv_timeout(left) {
                Ok(looked) => self.complete_or_fail(looked),
                Err(_) => break,
            }
        }
    }

    fn complete_or_fail(&mut self, (torrent, found): Looked) {
        self.completions.in_flight = self.completions.in_flight.saturating_sub(1);
        // Removed, rechecked or failed meanwhile: the look no longer speaks for it.
        let seeding =
            self.engine.torrent(torrent).map(|t| t.state()) == Some(TorrentState::Seeding);
        if !seeding || !self.shelves.contains_key(&torrent) {
            return;
        }
        match found {
            Ok(()) => {
                if let Some(s) = self.shelves.get(&torrent) {
                    s.status.set_complete();
                }
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
