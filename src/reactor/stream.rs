//! Streaming readers on the reactor's side: a reader's read-ahead window goes to the engine, and
//! a reader waiting for a piece is answered once that piece is verified (with the torrent's
//! storage, which the reader then reads on its own thread), or told why it never will be.
//!
//! Runs on the reactor thread. A waiter costs a look at its torrent's verified pieces after each
//! disk answer for that torrent, and nothing otherwise.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use super::Reactor;
use crate::disk::Storage;
use crate::engine::TorrentId;

/// Where a waiting reader's answer lands. A cell rather than a channel: one answer at most, and
/// a channel of its own type would cost the binary a copy of the channel code.
#[derive(Default)]
pub(crate) struct PieceAnswer {
    slot: Mutex<Answer>,
    changed: Condvar,
}

/// The state of a [`PieceAnswer`].
#[derive(Default)]
pub(crate) enum Answer {
    /// Not answered yet.
    #[default]
    Waiting,
    /// The piece is verified: read it from this storage.
    Ready(Arc<Storage>),
    /// The torrent failed; the piece will not come.
    Failed(String),
    /// The reactor dropped the wait (torrent removed, session shut down).
    Gone,
}

impl PieceAnswer {
    fn set(&self, answer: Answer) {
        let mut slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
        if matches!(*slot, Answer::Waiting) {
            *slot = answer;
        }
        self.changed.notify_all();
    }

    /// Blocks until answered, or `timeout` passes (then `Waiting`).
    pub(crate) fn wait(&self, timeout: Option<Duration>) -> Answer {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
        while matches!(*slot, Answer::Waiting) {
            let left = match deadline {
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(left) => left,
                    None => break,
                },
                None => Duration::from_secs(3600),
            };
            slot = self
                .changed
                .wait_timeout(slot, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        std::mem::take(&mut *slot)
    }
}

/// The reactor's end of a [`PieceAnswer`]: dropping it unanswered tells the reader `Gone`.
pub(crate) struct PieceReply(pub Arc<PieceAnswer>);

impl PieceReply {
    fn send(&self, answer: Answer) {
        self.0.set(answer);
    }
}

impl Drop for PieceReply {
    fn drop(&mut self) {
        self.0.set(Answer::Gone);
    }
}

/// A reader blocked until `piece` is verified.
pub(crate) struct PieceWait {
    /// The reader, so one that asks again (after a timeout) replaces its older wait.
    pub reader: u64,
    pub piece: u32,
    pub reply: PieceReply,
}

/// The readers waiting for pieces, per torrent.
#[derive(Default)]
pub(crate) struct Waiters {
    by_torrent: HashMap<TorrentId, Vec<PieceWait>>,
}

impl Waiters {
    /// Drops every waiter of a removed torrent: their readers see the channel close.
    pub fn forget(&mut self, id: TorrentId) {
        self.by_torrent.remove(&id);
    }
}

impl Reactor {
    /// A reader moved its window (an empty range clears it) and may wait for a piece.
    pub(super) fn stream_window(
        &mut self,
        id: TorrentId,
        reader: u64,
        pieces: Range<u32>,
        wait: Option<PieceWait>,
    ) {
        self.engine
            .set_piece_window(id, reader, pieces, Instant::now());
        if let Some(wait) = wait {
            let waiting = self.stream_waiters.by_torrent.entry(id).or_default();
            waiting.retain(|w| w.reader != wait.reader);
            waiting.push(wait);
            self.answer_piece_waiters(id);
        }
    }

    /// Answers the readers of torrent `id` whose piece is verified now, and all of them with
    /// the reason when the torrent failed. Readers of a torrent the engine no longer has are
    /// dropped (their channel closes).
    pub(super) fn answer_piece_waiters(&mut self, id: TorrentId) {
        let Some(waiting) = self.stream_waiters.by_torrent.get_mut(&id) else {
            return;
        };
        let Some(t) = self.engine.torrent(id) else {
            self.stream_waiters.forget(id);
            return;
        };
        if let crate::engine::TorrentState::Failed(why) = t.state() {
            for w in waiting.drain(..) {
                w.reply.send(Answer::Failed(why.clone()));
            }
        } else if let Some(shelf) = self.shelves.get(&id) {
            let have = t.have();
            waiting.retain(|w| {
                if !have.get(w.piece) {
                    return true;
                }
                w.reply.send(Answer::Ready(shelf.storage.clone()));
                false
            });
        }
        if waiting.is_empty() {
            self.stream_waiters.by_torrent.remove(&id);
        }
    }
}
