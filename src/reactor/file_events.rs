//! `FileCompleted` events for subscribers that asked for piece events: each torrent's count of
//! pieces still missing per file, started from the engine's pieces at the first verified piece
//! and counted down with each one after.
//!
//! Runs on the reactor thread, only while some subscriber wants piece events.

use super::Reactor;
use crate::bitfield::Bitfield;
use crate::engine::{Event, TorrentId};
use crate::metainfo::Metainfo;

/// Pieces missing per file of one torrent.
pub(crate) struct FilesLeft {
    /// Each file's first and last piece; `None` for padding and empty files (never reported).
    spans: Vec<Option<(u32, u32)>>,
    left: Vec<u32>,
}

impl FilesLeft {
    fn new(meta: &Metainfo, have: &Bitfield) -> FilesLeft {
        let piece = u64::from(meta.layout().piece_length());
        let mut start = 0u64;
        let spans: Vec<_> = (meta.files.iter())
            .map(|f| {
                let span = (!f.padding && f.length > 0).then(|| {
                    (
                        (start / piece) as u32,
                        ((start + f.length - 1) / piece) as u32,
                    )
                });
                start += f.length;
                span
            })
            .collect();
        let left = (spans.iter())
            .map(|s| s.map_or(0, |(a, b)| (a..=b).filter(|&p| !have.get(p)).count() as u32))
            .collect();
        FilesLeft { spans, left }
    }

    /// Counts `piece` as had; returns the files it completed.
    fn verified(&mut self, piece: u32) -> Vec<usize> {
        let mut done = Vec::new();
        for (i, span) in self.spans.iter().enumerate() {
            let Some((first, last)) = *span else { continue };
            if (first..=last).contains(&piece) && self.left[i] > 0 {
                self.left[i] -= 1;
                if self.left[i] == 0 {
                    done.push(i);
                }
            }
        }
        done
    }
}

impl Reactor {
    /// Piece `piece` of `torrent` verified (before the engine counts it): publish the files it
    /// completes.
    pub(super) fn publish_files_completed(&mut self, torrent: TorrentId, piece: u32) {
        if !self.events.wants_pieces() {
            return;
        }
        let (Some(shelf), Some(core)) =
            (self.shelves.get_mut(&torrent), self.engine.torrent(torrent))
        else {
            return;
        };
        let left =
            (shelf.files_left).get_or_insert_with(|| FilesLeft::new(&shelf.meta, core.have()));
        for file in left.verified(piece) {
            self.events.publish(&Event::FileCompleted { torrent, file });
        }
    }
}
