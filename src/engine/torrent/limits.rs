//! A torrent's rate limits and streaming controls: its own token buckets (the session's are in
//! [`Outputs`]), sequential mode and read-ahead windows. Requests and upload reads start only
//! while both the torrent's and the session's bucket have tokens; when they run out, the
//! `Refill` (download) or `UploadTokens` (upload) timer is armed for when they will have some.
//!
//! Part of the sans-IO torrent core (reactor thread); see the parent module.

use std::ops::Range;
use std::time::{Duration, Instant};

use super::timers::Timer;
use super::TorrentCore;
use crate::engine::{ConnId, Outputs, RateLimits};
use crate::layout::BLOCK_SIZE;

/// The soonest a throttled torrent looks again: wake-ups at most every 10 ms, however small
/// the debt.
const MIN_PACE: Duration = Duration::from_millis(10);

impl TorrentCore {
    /// Changes this torrent's own limits from `now` on, and lets what they allow start.
    pub fn set_rate_limits(&mut self, limits: RateLimits, now: Instant, out: &mut Outputs) {
        self.down_limit.set_rate(limits.download, now);
        self.up_limit.set_rate(limits.upload, now);
        self.limits_changed(now, out);
    }

    /// This torrent's own limits.
    #[cfg(test)]
    pub fn rate_limits(&self) -> RateLimits {
        RateLimits {
            download: self.down_limit.rate(),
            upload: self.up_limit.rate(),
        }
    }

    /// A limit changed (here or session-wide): timers armed for the old rate may be far off,
    /// so requests and reads are tried again now.
    pub(crate) fn limits_changed(&mut self, now: Instant, out: &mut Outputs) {
        self.refill(now, out);
        self.arm_refill(now);
        self.pump_all_uploads(now, out);
    }

    /// Sequential mode (see [`crate::picker::Picker::set_sequential`]).
    pub fn set_sequential(&mut self, on: bool, now: Instant, out: &mut Outputs) {
        self.picker.set_sequential(on);
        self.refill(now, out);
    }

    /// Whether sequential mode is on.
    #[cfg(test)]
    pub fn is_sequential(&self) -> bool {
        self.picker.is_sequential()
    }

    /// A streaming reader's read-ahead window (see [`crate::picker::Picker::set_window`]);
    /// requests for it go out at once.
    pub fn set_piece_window(
        &mut self,
        reader: u64,
        pieces: Range<u32>,
        now: Instant,
        out: &mut Outputs,
    ) {
        self.picker.set_window(reader, pieces);
        self.refill(now, out);
    }

    /// How many blocks may be requested now under both download limits (`None`: no limit).
    /// When none may, the `Refill` timer is armed for when the buckets allow one again.
    pub(super) fn download_allowance(&mut self, now: Instant, out: &mut Outputs) -> Option<usize> {
        if self.down_limit.rate().is_none() && out.rates.down.rate().is_none() {
            return None;
        }
        self.down_limit.refill(now);
        out.rates.down.refill(now);
        let bytes = [self.down_limit.allowance(), out.rates.down.allowance()]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(0);
        // Any positive balance lets one block through; the debt delays the next one.
        let blocks = usize::try_from(bytes.div_ceil(u64::from(BLOCK_SIZE))).unwrap_or(usize::MAX);
        if blocks == 0 {
            let ready = [self.down_limit.ready_at(now), out.rates.down.ready_at(now)]
                .into_iter()
                .flatten()
                .max()
                .unwrap_or(now);
            self.timers
                .arm(Timer::Refill as usize, ready.max(now + MIN_PACE));
        }
        Some(blocks)
    }

    /// Requests for `bytes` went out.
    pub(super) fn spend_download(&mut self, bytes: u64, out: &mut Outputs) {
        self.down_limit.spend(bytes);
        out.rates.down.spend(bytes);
    }

    /// Whether an upload read may start now under both upload limits (buckets refilled first).
    pub(super) fn upload_allowed(&mut self, now: Instant, out: &mut Outputs) -> bool {
        if self.up_limit.rate().is_none() && out.rates.up.rate().is_none() {
            return true;
        }
        self.up_limit.refill(now);
        out.rates.up.refill(now);
        self.up_limit.has_tokens() && out.rates.up.has_tokens()
    }

    /// Uploads wait for tokens: the `UploadTokens` timer is armed for when both buckets have
    /// some again.
    pub(super) fn arm_upload_tokens(&mut self, now: Instant, out: &Outputs) {
        let ready = [self.up_limit.ready_at(now), out.rates.up.ready_at(now)]
            .into_iter()
            .flatten()
            .max()
            .unwrap_or(now);
        self.timers
            .arm(Timer::UploadTokens as usize, ready.max(now + MIN_PACE));
    }

    /// Restarts the uploads of every peer with requests queued.
    pub(super) fn pump_all_uploads(&mut self, now: Instant, out: &mut Outputs) {
        let waiting: Vec<ConnId> = self
            .peers
            .iter()
            .filter(|(_, p)| !p.upload_queue.is_empty())
            .map(|(c, _)| *c)
            .collect();
        for conn in waiting {
            self.pump_uploads(conn, now, out);
        }
    }
}
