//! Streaming readers on the reactor's side: a reader's read-ahead window goes to the engine, and
//! a reader waiting for a piece is answered once that piece is verified (with the torrent's
//! storage, which the reader then reads on its own thread), or told why it never will be.
//!
//! Runs on the reactor thread. A waiter costs a look at its torrent's verified pieces after each
//! disk answer for that torrent, and nothing otherwise.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::Sender;

use super::Reactor;
use crate::disk::Storage;
use crate::engine::TorrentId;

/// What a waiting reader is told: the storage to read the verified piece from, or why the
/// piece will not come (the torrent failed).
type PieceReply = Sender<Result<Arc<Storage>, String>>;

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
                let _ = w.reply.send(Err(why.clone()));
            }
        } else if let Some(shelf) = self.shelves.get(&id) {
            let have = t.have();
            waiting.retain(|w| {
                if !have.get(w.piece) {
                    return true;
                }
                let _ = w.reply.send(Ok(shelf.storage.clone()));
                false
            });
        }
        if waiting.is_empty() {
            self.stream_waiters.by_torrent.remove(&id);
        }
    }
}
