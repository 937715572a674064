//! Extent affinity: a fresh piece smaller than a huge page is started together with the other
//! fresh pieces of its 2 MiB extent that the same peer has and that are exactly as rare, so
//! that equally rare pieces are taken extent by extent instead of scattered over the file.
//!
//! Why: rarest-first breaks ties by a shuffle, so with 16 KiB pieces every 2 MiB of the file
//! filled over the whole download. Write-back (`disk/writeback.rs`) then wrote the same huge
//! page many times over as its pieces trickled in: 256 MiB took 1.57 s with write-back against
//! 1.08 s without, and the page cache counted twice the file as written (issue 15).
//! libtorrent's `piece_extent_affinity` does the same for the same reason. Rarest-first itself
//! is unchanged: only pieces of the same availability are taken along.
//!
//! Part of the sans-IO picker.

use super::Picker;
use crate::bitfield::Bitfield;
use crate::layout::BlockRef;

/// Bytes of one extent: a huge page, the unit the page cache behind a map is filled and
/// written back in.
pub const EXTENT_BYTES: u64 = 2 << 20;

impl Picker {
    /// Pieces per extent; 1 (no affinity) for pieces of an extent or more.
    fn extent_pieces(&self) -> u32 {
        let piece = u64::from(self.layout.piece_length()).max(1);
        u32::try_from(EXTENT_BYTES / piece).unwrap_or(1).max(1)
    }

    /// After `piece` was started for a peer that has `peer_has`: starts the other fresh pieces
    /// of its extent that the peer has and that are as rare as `piece`, lowest first, handing
    /// out up to `max` blocks. Returns how many it handed out.
    pub(super) fn start_extent(
        &mut self,
        piece: u32,
        peer_has: &Bitfield,
        max: usize,
        out: &mut Vec<BlockRef>,
    ) -> usize {
        let n = self.extent_pieces();
        if n <= 1 {
            return 0;
        }
        let Some(&avail) = self.rarity.avail.get(piece as usize) else {
            return 0;
        };
        let first = piece - piece % n;
        let end = first.saturating_add(n).min(self.layout.num_pieces());
        let mut taken = 0;
        for q in first..end {
            if taken >= max || self.new_piece_budget == 0 {
                break;
            }
            let fresh = self.rarity.is_fresh(q) && self.rarity.avail[q as usize] == avail;
            if fresh && peer_has.get(q) {
                taken += self.start_piece(q, max - taken, out);
            }
        }
        taken
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::super::tests::{bf, check, pick, pieces};
    use super::*;
    use crate::layout::{Layout, BLOCK_SIZE};

    /// `n` one-block pieces of 16 KiB: 128 to an extent.
    fn layout(n: u32) -> Layout {
        Layout::new(BLOCK_SIZE, u64::from(n) * u64::from(BLOCK_SIZE)).unwrap()
    }

    #[test]
    fn equally_rare_small_pieces_are_taken_extent_by_extent() {
        let n = 1024;
        let mut p = Picker::new(layout(n), &Bitfield::new(n), 99);
        let seed = Bitfield::full(n);
        p.add_peer_bitfield(&seed);
        let none = HashSet::new();
        let got = pieces(&pick(&mut p, &seed, 128, &none));
        assert_eq!(got.len(), 128);
        let extent = got[0] / 128;
        assert!(
            got.iter().all(|&q| q / 128 == extent),
            "one extent at a time: {got:?}"
        );
        // The next call starts another whole extent.
        let next = pieces(&pick(&mut p, &seed, 128, &none));
        assert!(next.iter().all(|&q| q / 128 == next[0] / 128) && next[0] / 128 != extent);
        check(&p);
    }

    #[test]
    fn rarer_pieces_and_pieces_the_peer_lacks_are_not_taken_along() {
        let n = 256;
        let mut p = Picker::new(layout(n), &Bitfield::new(n), 5);
        // Piece 3 is rarer than the rest of its extent (one holder), piece 7 the peer lacks.
        let all: Vec<u32> = (0..n).collect();
        let most: Vec<u32> = (0..n).filter(|&q| q != 3).collect();
        p.add_peer_bitfield(&bf(n, &all));
        p.add_peer_bitfield(&bf(n, &most));
        let peer: Vec<u32> = (0..n).filter(|&q| q != 7).collect();
        let peer = bf(n, &peer);
        let none = HashSet::new();
        // The rarest piece first: it has no equally rare neighbour to take along.
        assert_eq!(pieces(&pick(&mut p, &peer, 1, &none)), vec![3]);
        let got = pieces(&pick(&mut p, &peer, 256, &none));
        assert_eq!(got.len(), 254, "all but 3 (started) and 7 (lacking)");
        assert!(!got.contains(&7) && !got.contains(&3));
        // Whichever extent came first, it came whole (less 3 and 7) before the other.
        let first = got[0] / 128;
        let whole = got.iter().take_while(|&&q| q / 128 == first).count();
        assert_eq!(whole, if first == 0 { 126 } else { 128 });
        check(&p);
    }
}
