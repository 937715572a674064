//! The user's file choices inside a torrent core: which pieces it fetches (and which first),
//! what "complete" means when files are skipped, and the per-file numbers in its stats.
//!
//! Part of the sans-IO torrent core (reactor thread). The core knows pieces, not files: the
//! shell turns file priorities into a [`PieceWants`] and hands it over at add time or later.
//! A torrent whose wanted pieces are all verified is complete (`Seeding`) and serves what it
//! has; wanting more later takes it back to `Downloading`.

use std::time::Instant;

use super::{ConnId, Outputs, Phase, TorrentCore};
use crate::engine::io::TorrentStats;
use crate::selection::{FileProgress, PieceWants};

impl TorrentCore {
    /// Sets the pieces to fetch from the files' priorities. A torrent that has every wanted
    /// piece completes at once; one that is complete and now wants more downloads again, dials
    /// its known peers without waiting for their backoff, and tells peers it is interested.
    /// Ignored when the masks do not fit the torrent (a magnet before its metadata).
    pub fn set_wants(&mut self, wants: PieceWants, now: Instant, out: &mut Outputs) {
        let n = self.layout.num_pieces();
        if wants.wanted.len() != n || matches!(self.phase, Phase::FetchingMetadata(_)) {
            return;
        }
        self.picker.set_wanted(&wants.wanted, &wants.high);
        self.wants = Some(wants);
        let conns: Vec<ConnId> = self.peers.keys().copied().collect();
        for &conn in &conns {
            let count = self
                .peers
                .get(&conn)
                .map_or(0, |p| self.wanted_from(&p.has));
            if let Some(peer) = self.peers.get_mut(&conn) {
                peer.wanted = count;
            }
        }
        let left = self.picker.pieces_left();
        match self.phase {
            Phase::Downloading if left == 0 => self.complete(now, out),
            Phase::Seeding if left > 0 => {
                log::info!(
                    "torrent {}: more files wanted; downloading again",
                    self.log_name()
                );
                self.phase = Phase::Downloading;
                self.dialer.reset_backoff(now);
                self.maybe_announce(now, out);
            }
            _ => {}
        }
        for conn in conns {
            self.update_interest(conn, now, out);
        }
        self.refill(now, out);
        self.arm_sample(now);
    }

    /// Pieces in `has` that we want and lack: what makes a peer worth our interest.
    pub(super) fn wanted_from(&self, has: &crate::bitfield::Bitfield) -> u32 {
        let have = self.picker.have().as_bytes();
        let mask = self.wants.as_ref().map(|w| w.wanted.as_bytes());
        has.as_bytes()
            .iter()
            .zip(have)
            .enumerate()
            .map(|(i, (theirs, ours))| {
                let wanted = mask.and_then(|m| m.get(i)).copied().unwrap_or(0xff);
                (theirs & !ours & wanted).count_ones()
            })
            .sum()
    }

    /// Whether we have every piece (not merely every wanted one): only then is a peer that
    /// also has everything of no use to us.
    pub(super) fn is_full_seed(&self) -> bool {
        matches!(self.phase, Phase::Seeding) && self.picker.have().is_full()
    }

    /// Fills the stats' wanted bytes and per-file progress.
    pub(super) fn add_file_stats(&self, stats: &mut TorrentStats) {
        let have = self.picker.have();
        let Some(w) = &self.wants else {
            stats.bytes_wanted = self.layout.total_length();
            stats.bytes_wanted_done = stats.bytes_done;
            return;
        };
        stats.bytes_wanted = w.wanted_bytes(&self.layout);
        stats.bytes_wanted_done = w
            .wanted
            .iter_ones()
            .filter(|&p| have.get(p))
            .map(|p| u64::from(self.layout.piece_len(p)))
            .sum();
        let done = w.file_progress(&self.layout, have);
        stats.files = (w.files.iter().zip(&w.priorities).zip(done))
            .map(|((f, &priority), done)| FileProgress {
                length: f.length,
                done,
                priority,
            })
            .collect();
    }
}
