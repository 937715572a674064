//! Piece and block arithmetic of one torrent: where each piece and 16 KiB block sits in the
//! torrent's byte stream. Pure data; used by every layer on whichever thread it runs (the reactor,
//! the disk pool's workers, the caller of `Session::add`), touches no I/O.

/// The size of a request: 16 KiB, what every mainstream client asks for and accepts.
pub const BLOCK_SIZE: u32 = 16 * 1024;

/// Identifies one block: piece index and byte offset inside the piece, with its length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlockRef {
    /// Piece index.
    pub piece: u32,
    /// Byte offset inside the piece (a multiple of [`BLOCK_SIZE`]).
    pub begin: u32,
    /// Length in bytes (`BLOCK_SIZE`, or less for the last block of the last piece).
    pub length: u32,
}

impl BlockRef {
    /// Index of this block inside its piece.
    pub fn block_index(&self) -> u32 {
        self.begin / BLOCK_SIZE
    }
}

/// The shape of a torrent's byte stream: total length cut into pieces, pieces cut into blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    piece_length: u32,
    total_length: u64,
    num_pieces: u32,
}

impl Layout {
    /// A layout for `total_length` bytes in pieces of `piece_length` bytes.
    ///
    /// Returns `None` when the piece length is zero or the piece count does not fit in `u32`.
    pub fn new(piece_length: u32, total_length: u64) -> Option<Layout> {
        if piece_length == 0 {
            return None;
        }
        let num_pieces = u32::try_from(total_length.div_ceil(u64::from(piece_length))).ok()?;
        Some(Layout {
            piece_length,
            total_length,
            num_pieces,
        })
    }

    /// No bytes and no pieces: what a torrent has before its metadata arrives (a magnet link).
    pub const fn empty() -> Layout {
        Layout {
            piece_length: crate::layout::BLOCK_SIZE,
            total_length: 0,
            num_pieces: 0,
        }
    }

    /// Nominal piece length (every piece but possibly the last has this length).
    pub fn piece_length(&self) -> u32 {
        self.piece_length
    }

    /// Total bytes in the torrent, padding files included.
    pub fn total_length(&self) -> u64 {
        self.total_length
    }

    /// Number of pieces.
    pub fn num_pieces(&self) -> u32 {
        self.num_pieces
    }

    /// Byte offset of `piece` in the torrent's stream.
    pub fn piece_offset(&self, piece: u32) -> u64 {
        u64::from(piece) * u64::from(self.piece_length)
    }

    /// Length of `piece`: the nominal length, or what is left for the last one. Zero when out of range.
    pub fn piece_len(&self, piece: u32) -> u32 {
        if piece >= self.num_pieces {
            return 0;
        }
        let rest = self.total_length - self.piece_offset(piece);
        rest.min(u64::from(self.piece_length)) as u32
    }

    /// Number of blocks in `piece`.
    pub fn num_blocks(&self, piece: u32) -> u32 {
        self.piece_len(piece).div_ceil(BLOCK_SIZE)
    }

    /// The `block`-th block of `piece`, or `None` when either is out of range.
    pub fn block(&self, piece: u32, block: u32) -> Option<BlockRef> {
        let piece_len = self.piece_len(piece);
        let begin = block.checked_mul(BLOCK_SIZE)?;
        if begin >= piece_len {
            return None;
        }
        Some(BlockRef {
            piece,
            begin,
            length: (piece_len - begin).min(BLOCK_SIZE),
        })
    }

    /// True when `(piece, begin, length)` names a real block that a peer may request or send:
    /// inside the piece, aligned to [`BLOCK_SIZE`], and of the exact block length.
    pub fn is_valid_block(&self, piece: u32, begin: u32, length: u32) -> bool {
        begin % BLOCK_SIZE == 0
            && self
                .block(piece, begin / BLOCK_SIZE)
                .is_some_and(|b| b.length == length)
    }

    /// True when `(piece, begin, length)` lies inside the piece, with a length between 1 byte and
    /// 128 KiB. Used for requests we serve: other clients may ask for unaligned ranges.
    pub fn is_servable_range(&self, piece: u32, begin: u32, length: u32) -> bool {
        let piece_len = self.piece_len(piece);
        length > 0
            && length <= 128 * 1024
            && u64::from(begin) + u64::from(length) <= u64::from(piece_len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_last_piece_and_block() {
        let l = Layout::new(32 * 1024, 70_000).unwrap();
        assert_eq!(l.num_pieces(), 3);
        assert_eq!(l.piece_len(0), 32768);
        assert_eq!(l.piece_len(2), 70_000 - 65536);
        assert_eq!(l.num_blocks(2), 1);
        assert_eq!(l.block(2, 0).unwrap().length, 70_000 - 65536);
        assert_eq!(l.block(2, 1), None);
        assert_eq!(l.piece_len(3), 0);
        assert!(l.is_valid_block(1, 16384, 16384));
        assert!(!l.is_valid_block(1, 16000, 16384));
        assert!(!l.is_valid_block(2, 0, 16384));
        assert!(l.is_valid_block(2, 0, 70_000 - 65536));
    }

    #[test]
    fn rejects_zero_piece_length_and_counts_empty() {
        assert!(Layout::new(0, 10).is_none());
        let empty = Layout::new(16384, 0).unwrap();
        assert_eq!(empty.num_pieces(), 0);
    }

    #[test]
    fn servable_ranges() {
        let l = Layout::new(65536, 65536 * 2).unwrap();
        assert!(l.is_servable_range(0, 100, 1000));
        assert!(!l.is_servable_range(0, 65000, 1000));
        assert!(!l.is_servable_range(0, 0, 0));
        assert!(!l.is_servable_range(2, 0, 1));
    }
}
