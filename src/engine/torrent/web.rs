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

use super::TorrentCore;
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
        // Without the feature no torrent has a web seed: there is no one to ban.
        #[cfg(not(feature = "webseed"))]
        let _ = (seed, now, out);
        #[cfg(feature = "webseed")]
        self.ban_web_seed_now(seed, now, out);
    }

    /// Forgets every web request in flight (pause, failure): their blocks go back to the picker
    /// and their answers, when they come, only free the seeds' slots.
    pub(super) fn abandon_web_jobs(&mut self) {
        // Without the feature no request is ever made.
        #[cfg(feature = "webseed")]
        self.forget_web_requests();
    }
}
