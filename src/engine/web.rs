//! The engine's web-seed inputs (BEP 19): a torrent's seeds, and each answer from the fetch
//! threads. Sans-IO, on the reactor thread; see [`crate::webseed`]. Only with the `webseed`
//! feature.

use std::time::Instant;

use super::{Engine, TorrentId};
use crate::webseed::{WebAnswer, WebSeeds};

impl Engine {
    /// Gives torrent `id` its web seeds (from the metainfo's `url-list`); they fetch whenever
    /// it downloads, alongside its peers. Replaces any it had.
    pub(crate) fn add_web_seeds(&mut self, id: TorrentId, seeds: WebSeeds, now: Instant) {
        self.count_buffers();
        if let Some(t) = self.torrents.get_mut(&id) {
            t.set_web_seeds(seeds, now, &mut self.out);
        }
        self.settle(id, now);
    }

    /// An answer to an [`super::Action::WebSeed`]. Answers for removed torrents are dropped.
    pub(crate) fn handle_web_seed(&mut self, answer: WebAnswer, now: Instant) {
        self.count_buffers();
        let id = answer.torrent;
        if let Some(t) = self.torrents.get_mut(&id) {
            t.handle_web_answer(answer, now, &mut self.out);
        }
        self.settle(id, now);
    }
}
