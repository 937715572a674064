//! The reactor's side of a handle's control calls: pause, resume and remove with the events and
//! end states they promise, names in stats, piece events, and the wait for `completed`
//! announces at shutdown.
//!
//! Runs on the reactor thread.

use std::sync::Arc;
use std::time::Instant;

use super::{Reactor, StatusCell};
use crate::bitfield::Bitfield;
use crate::engine::{DiskDone, Event, TorrentId, TorrentParams, TorrentState, TorrentStats};

impl Reactor {
    /// The end-state cell of torrent `id`, with or without files yet.
    pub(super) fn status_of(&self, id: TorrentId) -> Option<&Arc<StatusCell>> {
        let shelf = self.shelves.get(&id).map(|s| &s.status);
        shelf.or_else(|| self.magnets.pending.get(&id).map(|p| &p.status))
    }

    /// The name a user knows torrent `id` by.
    pub(super) fn name_of(&self, id: TorrentId) -> String {
        match (self.shelves.get(&id), self.magnets.pending.get(&id)) {
            (Some(shelf), _) => shelf.meta.name.clone(),
            (None, Some(pending)) => pending.name.clone(),
            (None, None) => String::new(),
        }
    }

    /// The engine's numbers with the torrent's name filled in.
    pub(super) fn stats_named(&self, id: TorrentId) -> Option<TorrentStats> {
        let mut stats = self.engine.stats(id)?;
        stats.name = self.name_of(id);
        Some(stats)
    }

    fn state(&self, id: TorrentId) -> Option<TorrentState> {
        self.engine.torrent(id).map(|t| t.state())
    }

    /// Pauses `id`; `wait` returns and subscribers hear `Paused` (a failed torrent cannot be
    /// paused and stays failed).
    pub(super) fn pause(&mut self, id: TorrentId, now: Instant) {
        if matches!(self.state(id), None | Some(TorrentState::Paused)) {
            return;
        }
        self.engine.pause(id, now);
        if self.state(id) == Some(TorrentState::Paused) {
            if let Some(s) = self.status_of(id) {
                s.set_stopped();
            }
            self.event(Event::Paused { torrent: id });
        }
    }

    /// Resumes a paused `id`: `wait` blocks again (or returns at once for a complete torrent).
    pub(super) fn resume(&mut self, id: TorrentId, now: Instant) {
        if self.state(id) != Some(TorrentState::Paused) {
            return;
        }
        self.engine.resume(id, now);
        let seeding = self.state(id) == Some(TorrentState::Seeding);
        if let Some(s) = self.status_of(id) {
            if seeding {
                s.set_complete();
            } else {
                s.clear();
            }
        }
        if let Some(shelf) = self.shelves.get_mut(&id) {
            shelf.last_progress = None;
        }
        self.event(Event::Resumed { torrent: id });
    }

    /// Removes `id` and lets go of its storage.
    pub(super) fn remove(&mut self, id: TorrentId, now: Instant) {
        let known = self.engine.torrent(id).is_some() || self.magnets.pending.contains_key(&id);
        self.magnets.pending.remove(&id);
        self.engine.remove_torrent(id, now);
        self.shelves.remove(&id);
        self.resume_waiters.remove(&id);
        self.stream_waiters.forget(id);
        self.completing.retain(|(t, _)| *t != id);
        if known {
            self.event(Event::Removed { torrent: id });
        }
    }

    /// Checks every piece of `id` again: the torrent starts over as it would with a recheck at
    /// `add` (same id, trackers and files; its connected peers are dialled again after).
    /// A magnet without files yet has nothing to check.
    pub(super) fn force_recheck(&mut self, id: TorrentId, now: Instant) {
        let (Some(shelf), Some(core)) = (self.shelves.get(&id), self.engine.torrent(id)) else {
            return;
        };
        let layout = shelf.meta.layout();
        let params = TorrentParams {
            info_hash: *core.info_hash(),
            layout,
            trackers: core.tracker_tiers().to_vec(),
            peers: core.peer_infos().iter().map(|p| p.addr).collect(),
            have: Bitfield::new(layout.num_pieces()),
            recheck: true,
            check: None,
            info: Some(shelf.meta.shared_info_bytes()),
            private: shelf.meta.private,
        };
        let wants = core.wants().cloned();
        shelf.status.clear();
        self.engine.remove_torrent(id, now);
        self.engine.insert_torrent(id, params, now);
        if let Some(wants) = wants {
            self.engine.set_wants(id, wants, now);
        }
        if let Some(shelf) = self.shelves.get_mut(&id) {
            (shelf.last_progress, shelf.files_left) = (None, None);
        }
    }

    /// A downloaded piece verified: tell the subscribers that asked, with the files it
    /// completed.
    pub(super) fn publish_verified(&mut self, done: &DiskDone) {
        if let DiskDone::Verified {
            torrent,
            piece,
            ok: true,
            ..
        } = *done
        {
            self.events
                .publish(&Event::PieceVerified { torrent, piece });
            self.publish_files_completed(torrent, piece);
        }
    }

    /// Waits, until `deadline` at most, for the `completed` announces still in flight, so a
    /// tracker hears `completed` before `stopped`. Returns how many were answered.
    pub(super) fn await_completed(&mut self, deadline: Instant) -> usize {
        let mut answered = 0;
        while !self.completing.is_empty() {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                break;
            };
            let Ok(r) = self.tracker_results.recv_timeout(left) else {
                break;
            };
            let before = self.completing.len();
            self.completing
                .retain(|(t, url)| (*t, url.as_str()) != (r.torrent, r.url.as_str()));
            if self.completing.len() < before {
                answered += 1;
            }
        }
        answered
    }
}
