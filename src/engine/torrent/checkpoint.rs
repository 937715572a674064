//! When a torrent records its resume state: a [`DiskRequest::Checkpoint`] carrying the verified
//! pieces at that moment, which the disk shell makes durable (data first, then the state).
//!
//! A checkpoint is asked for a while (the configured interval) after a piece verifies, at
//! completion, at pause, when a check of existing data ends, and once at start (opening the
//! files may change their stamps). The timer is armed only while verified pieces are
//! unrecorded, so an idle or seeding torrent never wakes for it. At most one checkpoint per
//! torrent is in flight: a second one could otherwise find the files already marked clean by the
//! first, whose sync has not finished, and record pieces that are not durable yet.
//!
//! Part of the sans-IO torrent core (reactor thread); see the parent module.

use std::time::{Duration, Instant};

use super::timers::Timer;
use super::TorrentCore;
use crate::disk::StorageError;
use crate::engine::io::{Action, DiskRequest};
use crate::engine::Outputs;

/// A torrent's checkpoint bookkeeping.
#[derive(Debug, Default)]
pub(super) struct Checkpoints {
    /// The configured interval; `None`: checkpoints only when the shell asks.
    every: Option<Duration>,
    /// Something worth recording happened since the last request.
    dirty: bool,
    /// The serial of the checkpoint being carried out.
    in_flight: Option<u64>,
    /// Another checkpoint was asked for while one was in flight.
    queued: bool,
    next_serial: u64,
}

impl Checkpoints {
    pub(super) fn new(every: Option<Duration>) -> Checkpoints {
        Checkpoints {
            every,
            ..Checkpoints::default()
        }
    }

    /// Records that the state on disk is stale (for example at start).
    pub(super) fn mark_dirty(&mut self) {
        self.dirty = self.every.is_some();
    }

    /// Whether something is unrecorded.
    pub(super) fn is_dirty(&self) -> bool {
        self.dirty
    }

    /// Whether checkpoints happen on their own.
    pub(super) fn automatic(&self) -> bool {
        self.every.is_some()
    }
}

impl TorrentCore {
    /// A piece verified: it is recorded by the next checkpoint, due one interval from now
    /// unless one is already due sooner.
    pub(super) fn note_verified(&mut self, now: Instant) {
        let Some(every) = self.checkpoint.every else {
            return;
        };
        self.checkpoint.dirty = true;
        if !self.timers.is_armed(Timer::Checkpoint as usize) {
            self.timers.arm(Timer::Checkpoint as usize, now + every);
        }
    }

    /// Arms the start-up checkpoint (see the module documentation).
    pub(super) fn arm_first_checkpoint(&mut self, now: Instant) {
        if self.checkpoint.is_dirty() {
            self.timers.arm(Timer::Checkpoint as usize, now);
        }
    }

    /// An automatic checkpoint (timer, completion, pause, end of a check), if they are on.
    pub(super) fn want_checkpoint(&mut self, out: &mut Outputs) {
        if self.checkpoint.automatic() {
            self.request_checkpoint(out);
        }
    }

    /// Asks for a checkpoint of the pieces verified now: at once, or right after the one in
    /// flight. Returns the serial of the checkpoint that will record them.
    pub fn request_checkpoint(&mut self, out: &mut Outputs) -> u64 {
        if self.checkpoint.in_flight.is_some() {
            self.checkpoint.queued = true;
            return self.checkpoint.next_serial;
        }
        let req = self.checkpoint_request(false);
        self.checkpoint.in_flight = Some(self.checkpoint.next_serial - 1);
        out.actions.push_back(Action::Disk(req));
        self.checkpoint.next_serial - 1
    }

    /// The last checkpoint before the torrent goes away (session shutdown), carried out by the
    /// shell after the disk pool has finished, marked `closing` (no write follows it). `None`
    /// when automatic checkpoints are off, or for a complete torrent whose state is current
    /// (its files are all finished, so the state already treats any change as an edit).
    pub fn final_checkpoint(&mut self) -> Option<DiskRequest> {
        let c = &self.checkpoint;
        // One still in flight now was never carried out (the shell dropped its queue).
        let current = !(c.dirty || c.queued || c.in_flight.is_some());
        if !c.automatic() || (current && self.picker.pieces_left() == 0) {
            return None;
        }
        Some(self.checkpoint_request(true))
    }

    /// A checkpoint request of the current state, with the next serial; clears the timer.
    fn checkpoint_request(&mut self, closing: bool) -> DiskRequest {
        let serial = self.checkpoint.next_serial;
        self.checkpoint.next_serial += 1;
        self.checkpoint.dirty = false;
        self.checkpoint.queued = false;
        self.timers.set(Timer::Checkpoint as usize, None);
        DiskRequest::Checkpoint {
            torrent: self.id,
            serial,
            info_hash: self.info_hash,
            have: self.picker.have().clone(),
            uploaded: self.totals.uploaded,
            downloaded: self.totals.downloaded,
            closing,
        }
    }

    /// A checkpoint finished. A failure leaves the pieces unrecorded (the next checkpoint tries
    /// again); nothing else changes, since the data itself is still there.
    pub(super) fn on_checkpointed(
        &mut self,
        serial: u64,
        result: Result<(), StorageError>,
        now: Instant,
        out: &mut Outputs,
    ) {
        if self.checkpoint.in_flight == Some(serial) {
            self.checkpoint.in_flight = None;
        }
        if let Err(e) = result {
            log::warn!(
                "torrent {}: recording resume state failed: {e}",
                self.log_name()
            );
            self.checkpoint.mark_dirty();
        }
        if self.checkpoint.queued {
            self.request_checkpoint(out);
        } else if self.checkpoint.dirty {
            if let Some(every) = self.checkpoint.every {
                if !self.timers.is_armed(Timer::Checkpoint as usize) {
                    self.timers.arm(Timer::Checkpoint as usize, now + every);
                }
            }
        }
    }
}
