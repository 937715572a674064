//! Runtime controls of the engine that change how torrents fetch and send, not what: the
//! session's and each torrent's rate limits, sequential mode, and streaming readers' read-ahead
//! windows.
//!
//! Sans-IO (reactor thread), like the rest of the engine: each call takes `now` and leaves its
//! consequences (requests, reads) in the engine's outputs.

use std::ops::Range;
use std::time::Instant;

use super::{Engine, RateLimits, TorrentId};

impl Engine {
    /// Changes the session's limits (every torrent together) from `now` on.
    pub fn set_rate_limits(&mut self, limits: RateLimits, now: Instant) {
        self.out.rates.down.set_rate(limits.download, now);
        self.out.rates.up.set_rate(limits.upload, now);
        self.cfg.download_rate_limit = limits.download;
        self.cfg.upload_rate_limit = limits.upload;
        self.count_buffers();
        for id in self.torrent_ids() {
            if let Some(t) = self.torrents.get_mut(&id) {
                t.limits_changed(now, &mut self.out);
            }
            self.settle(id, now);
        }
    }

    /// The session's limits in force.
    pub fn rate_limits(&self) -> RateLimits {
        RateLimits {
            download: self.out.rates.down.rate(),
            upload: self.out.rates.up.rate(),
        }
    }

    /// Changes torrent `id`'s own limits from `now` on (the session's apply as well).
    pub fn set_torrent_rate_limits(&mut self, id: TorrentId, limits: RateLimits, now: Instant) {
        self.count_buffers();
        if let Some(t) = self.torrents.get_mut(&id) {
            t.set_rate_limits(limits, now, &mut self.out);
        }
        self.settle(id, now);
    }

    /// Turns sequential mode on or off for torrent `id`: new pieces are started lowest index
    /// first instead of rarest first.
    pub fn set_sequential(&mut self, id: TorrentId, on: bool, now: Instant) {
        self.count_buffers();
        if let Some(t) = self.torrents.get_mut(&id) {
            t.set_sequential(on, now, &mut self.out);
        }
        self.settle(id, now);
    }

    /// Sets (or with an empty range clears) the read-ahead window of streaming reader `reader`
    /// of torrent `id`: those pieces are fetched before any other, the first one first.
    pub fn set_piece_window(
        &mut self,
        id: TorrentId,
        reader: u64,
        pieces: Range<u32>,
        now: Instant,
    ) {
        self.count_buffers();
        if let Some(t) = self.torrents.get_mut(&id) {
            t.set_piece_window(reader, pieces, now, &mut self.out);
        }
        self.settle(id, now);
    }
}
