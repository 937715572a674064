//! Web seeds (BEP 19) in the torrent core: each seed is driven like a peer that has every piece.
//! Blocks come from the picker (so a seed never takes a block a peer is fetching, except in
//! end-game), and what a seed sends enters the same path as a peer's blocks: the piece buffer,
//! then the pool's hash and write. A piece that fails with a seed as its only sender bans the
//! seed; with several senders, `blame` names the liar once the piece verifies.
//!
//! Part of the sans-IO torrent core (reactor thread). The fetching side (requests and answers)
//! is in `web_requests`, built with the `webseed` feature; without it a torrent has no web
//! seeds and what is here never acts.

use std::time::Instant;

use super::{Source, Taker, TorrentCore};
use crate::engine::Outputs;

impl TorrentCore {
    /// Starts requests on every web seed that may take one (nothing without the `webseed`
    /// feature, where a torrent has no web seeds).
    pub(super) fn fill_web_seeds(&mut self, now: Instant, out: &mut Outputs) {
        #[cfg(feature = "webseed")]
        self.start_web_requests(now, out);
        #[cfg(not(feature = "webseed"))]
        let _ = (now, out);
    }

    /// `seed` sent data that failed a hash check: it is asked nothing more, its requests in
    /// flight are forgotten (their answers are dropped), and pieces holding its blocks start
    /// over.
    pub(super) fn ban_web_seed(&mut self, seed: usize, now: Instant, out: &mut Outputs) {
        let Some(s) = self.web.seeds.get_mut(seed) else {
            return;
        };
        if s.is_banned() {
            return;
        }
        log::warn!(
            "torrent {}: banning web seed {} for sending corrupt data",
            self.id,
            s.url
        );
        s.ban();
        for job in self.web.take_jobs(Some(seed)) {
            for b in job.blocks {
                self.picker.on_request_dropped(b);
            }
        }
        self.release_solo_of(Taker::Web(seed));
        for (&piece, p) in self.partial.iter_mut() {
            // A piece whose data went to the pool already is judged by its hash.
            if p.data.is_empty() || !p.senders.contains(&Some(Source::Web(seed))) {
                continue;
            }
            p.senders.iter_mut().for_each(|s| *s = None);
            self.picker.on_piece_failed(piece);
        }
        self.fill_web_seeds(now, out);
    }

    /// Forgets every web request in flight (pause, failure): their blocks go back to the picker
    /// and their answers, when they come, only free the seeds' slots.
    pub(super) fn abandon_web_jobs(&mut self) {
        for job in self.web.take_jobs(None) {
            for b in job.blocks {
                self.picker.on_request_dropped(b);
            }
            self.release_solo_of(Taker::Web(job.seed));
        }
    }
}
