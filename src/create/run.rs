//! [`TorrentBuilder::build`]: list, check, hash, encode, parse back. Runs on the caller's thread,
//! which also reads the files; only the hashing fans out to `coracle-hash-N` threads (see `hash`).

// I/O shell for torrent creation: reads the clock for the creation date and drives the walk
// and the hashing threads.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use super::info::{auto_piece_length, encode, sort_key, MIN_PIECE_LENGTH};
use super::{hash, walk, CreateError, CreatedTorrent, PieceSize, Progress, TorrentBuilder};
use crate::metainfo::{Metainfo, MAX_PIECE_LENGTH, MAX_TORRENT_FILE};

/// Room left in a .torrent for everything but the piece hashes.
const NON_HASH_BYTES: usize = 16 << 20;

impl TorrentBuilder {
    /// Lists the files, hashes them and returns the .torrent. Reads every byte once; blocks the
    /// calling thread until done.
    pub fn build(&self) -> Result<CreatedTorrent, CreateError> {
        self.build_with_progress(&mut |_| {})
    }

    /// [`TorrentBuilder::build`], calling `progress` (on this thread) after each piece.
    pub fn build_with_progress(
        &self,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<CreatedTorrent, CreateError> {
        let (name, mut found) = walk::list(&self.path, self.skip_hidden)?;
        found.sort_by_cached_key(|f| sort_key(&f.entry));
        let total = found.iter().map(|f| f.entry.length).sum::<u64>();
        if total == 0 {
            return Err(CreateError::NoData(self.path.clone()));
        }
        let piece_length = match self.piece_size {
            PieceSize::Auto => auto_piece_length(total),
            PieceSize::Bytes(n) => n,
        };
        if !piece_length.is_power_of_two()
            || !(MIN_PIECE_LENGTH..=MAX_PIECE_LENGTH).contains(&piece_length)
        {
            return Err(CreateError::BadPieceSize(u64::from(piece_length)));
        }
        let pieces = total.div_ceil(u64::from(piece_length));
        if pieces > ((MAX_TORRENT_FILE - NON_HASH_BYTES) / 20) as u64 {
            return Err(CreateError::TooManyPieces { pieces });
        }
        let disk: Vec<(PathBuf, u64)> = found
            .iter()
            .map(|f| (f.disk.clone(), f.entry.length))
            .collect();
        let entries: Vec<_> = found.into_iter().map(|f| f.entry).collect();
        let threads = self.worker_count();
        let hashes = hash::hash_pieces(&disk, total, piece_length, threads, progress)?;
        let mut options = self.options.clone();
        if self.date_now {
            options.creation_date = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .ok()
                .and_then(|d| i64::try_from(d.as_secs()).ok());
        }
        let bytes = encode(&name, &entries, piece_length, &hashes, &options);
        let metainfo = Metainfo::from_bytes(&bytes).map_err(CreateError::Invalid)?;
        Ok(CreatedTorrent { bytes, metainfo })
    }

    fn worker_count(&self) -> usize {
        match self.threads {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get().min(8)),
            n => n,
        }
    }
}
