//! Web seeds (BEP 19) in the torrent core, the fetching side (only with the `webseed` feature):
//! requests from the picker's blocks, and the answers into the same path as a peer's blocks
//! (the piece buffer, then the pool's hash and write). See `web` for the rest.
//!
//! Part of the sans-IO torrent core (reactor thread); the HTTP runs in `webseed::fetch`.

use std::time::Instant;

use super::timers::Timer;
use super::{Source, Taker, TorrentCore};
use crate::bitfield::Bitfield;
use crate::engine::io::Action;
use crate::engine::Outputs;
use crate::layout::{BlockRef, BLOCK_SIZE};
use crate::picker::BlockArrival;
use crate::webseed::{WebAnswer, WebSeeds};

/// Blocks asked of a web seed in one request: a piece's worth, at least 256 KiB (so small
/// pieces do not cost a request each), at most 16 MiB.
fn blocks_per_request(piece_length: u32) -> usize {
    let per_piece = piece_length.div_ceil(BLOCK_SIZE) as usize;
    per_piece.clamp(16, 1024)
}

impl TorrentCore {
    /// Sets the torrent's web seeds; they start fetching whenever it downloads.
    pub fn set_web_seeds(&mut self, seeds: WebSeeds, now: Instant, out: &mut Outputs) {
        self.abandon_web_jobs();
        self.web = seeds;
        self.fill_web_seeds(now, out);
    }

    /// Starts requests on every seed that may take one, and arms the timer for the next end of
    /// a back-off.
    pub(super) fn start_web_requests(&mut self, now: Instant, out: &mut Outputs) {
        if self.web.is_empty() || !self.is_downloading() {
            self.timers.set(Timer::WebSeeds as usize, None);
            return;
        }
        let mut retry: Option<Instant> = None;
        for seed in 0..self.web.seeds.len() {
            while self.web.seeds[seed].wake(now) {
                if !self.start_web_request(seed, now, out) {
                    break;
                }
            }
            if let Some(at) = self.web.seeds[seed].retry_at() {
                retry = Some(retry.map_or(at, |r| r.min(at)));
            }
        }
        self.timers.set(Timer::WebSeeds as usize, retry);
    }

    /// Asks `seed` for the next blocks the picker gives it, within the download limits, as a
    /// peer's requests are. False when there is nothing to ask (or the limits allow nothing
    /// yet: their `Refill` timer comes back here).
    fn start_web_request(&mut self, seed: usize, now: Instant, out: &mut Outputs) -> bool {
        let max = blocks_per_request(self.layout.piece_length());
        let max = match self.download_allowance(now, out) {
            Some(blocks) => max.min(blocks),
            None => max,
        };
        if max == 0 {
            return false;
        }
        self.set_pick_budget(out);
        let all = Bitfield::full(self.layout.num_pieces());
        let has = if self.solo.is_empty() {
            all
        } else {
            self.solo_mask_for(Taker::Web(seed), all)
        };
        let mut picks: Vec<BlockRef> = Vec::new();
        let web = &self.web;
        self.picker
            .pick(&has, max, |b| web.in_flight(seed, b), &mut picks);
        if picks.is_empty() {
            return false;
        }
        for b in &picks {
            self.ensure_buffer(b.piece, out);
        }
        let bytes = picks.iter().map(|b| u64::from(b.length)).sum();
        self.spend_download(bytes, out);
        self.web.seeds[seed].start();
        let piece_length = self.layout.piece_length();
        let request = self.web.start_job(self.id, seed, picks, piece_length);
        out.actions.push_back(Action::WebSeed(request));
        true
    }

    /// A web seed answered: its blocks go the way of a peer's, an error backs the seed off.
    pub fn handle_web_answer(&mut self, answer: WebAnswer, now: Instant, out: &mut Outputs) {
        let seed = answer.seed;
        if seed >= self.web.seeds.len() {
            return;
        }
        let Some(job) = self.web.take_job(answer.job) else {
            // Abandoned (pause, ban): it only stops counting against the seed's cap.
            self.web.seeds[seed].finished();
            self.fill_web_seeds(now, out);
            return;
        };
        let piece_length = self.layout.piece_length();
        let blocks = match &answer.result {
            Ok(body) => self.web.blocks_of(&job, body, piece_length).ok_or_else(|| {
                format!("answer of {} bytes does not match the request", body.len())
            }),
            Err(e) => Err(e.to_string()),
        };
        match blocks {
            Ok(blocks) => {
                self.web.seeds[seed].succeeded();
                for (b, data) in blocks {
                    self.accept_web_block(seed, b, &data, now, out);
                }
                self.arm_sample(now);
            }
            Err(why) => {
                for b in &job.blocks {
                    self.picker.on_request_dropped(*b);
                }
                self.release_solo_of(Taker::Web(seed));
                let url = &self.web.seeds[seed].url;
                log::info!("torrent {}: web seed {url}: {why}", self.log_name());
                self.web.seeds[seed].failed(now);
            }
        }
        self.fill_web_seeds(now, out);
    }

    /// One block from a web seed, as `on_block` takes one from a peer.
    fn accept_web_block(
        &mut self,
        seed: usize,
        b: BlockRef,
        data: &[u8],
        now: Instant,
        out: &mut Outputs,
    ) {
        let len = u64::from(b.length);
        self.totals.down_rate.add(len);
        let others_solo = self
            .solo
            .get(&b.piece)
            .is_some_and(|owner| *owner != Some(Taker::Web(seed)));
        if others_solo {
            // Refetched from one sender only, to name a liar: this copy would blur the blame.
            self.picker.on_request_dropped(b);
            return;
        }
        if let BlockArrival::New { piece_complete } = self.picker.on_block_received(b) {
            self.totals.downloaded += len;
            self.totals.web_downloaded += len;
            self.web.seeds[seed].downloaded += len;
            self.store_block(b, Source::Web(seed), data);
            self.cancel_duplicates(None, b, now, out);
            if piece_complete {
                self.submit_piece(b.piece, out);
            }
        }
    }

    /// The ban itself (see `ban_web_seed`).
    pub(super) fn ban_web_seed_now(&mut self, seed: usize, now: Instant, out: &mut Outputs) {
        let Some(s) = self.web.seeds.get_mut(seed) else {
            return;
        };
        if s.is_banned() {
            return;
        }
        log::warn!(
            "torrent {}: banning web seed {} for sending corrupt data",
            crate::metainfo::InfoHash(self.info_hash).short_hex(),
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

    /// Takes every request in flight out of the books; their blocks go back to the picker.
    pub(super) fn forget_web_requests(&mut self) {
        for job in self.web.take_jobs(None) {
            for b in job.blocks {
                self.picker.on_request_dropped(b);
            }
            self.release_solo_of(Taker::Web(job.seed));
        }
    }
}
