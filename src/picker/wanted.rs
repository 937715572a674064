//! Which pieces the picker may start: the wanted mask (pieces of files not skipped) and the
//! high-priority pieces it starts before any other.
//!
//! Part of the sans-IO picker (reactor thread, inside its torrent core); pure bookkeeping. An
//! unwanted piece is kept out of the rarity order (its availability is still counted, so it
//! re-enters in its place when wanted again); started pieces are always finished, whatever the
//! mask says, so no buffer is abandoned half full. It must not panic on a mask of the wrong
//! length: such a mask is ignored.

use super::{Picker, Rarity, NONE};
use crate::bitfield::Bitfield;
use crate::layout::BlockRef;

/// The picker's view of the user's file choices.
#[derive(Debug)]
pub(super) struct Wants {
    /// `None`: every piece is wanted.
    mask: Option<Bitfield>,
    /// High-priority pieces; pieces that stopped being fresh (started or verified) are
    /// dropped as `pick` meets them.
    high: Vec<u32>,
    /// Wanted pieces not verified yet.
    pub(super) left: u32,
}

impl Wants {
    /// Every piece wanted, `left` of them missing.
    pub(super) fn all(left: u32) -> Wants {
        Wants {
            mask: None,
            high: Vec::new(),
            left,
        }
    }

    fn is_wanted(&self, piece: u32) -> bool {
        match &self.mask {
            None => true,
            Some(m) => m.get(piece),
        }
    }

    /// A piece verified: one wanted piece fewer to go when it was wanted.
    pub(super) fn on_verified(&mut self, piece: u32) {
        if self.is_wanted(piece) {
            self.left = self.left.saturating_sub(1);
        }
    }
}

impl Rarity {
    /// Puts a piece back into the order at the end of its availability bucket: the reverse
    /// of `remove`, one swap per bucket above it. `p` is in range and not in the order.
    fn insert(&mut self, p: u32) {
        let a = self.avail[p as usize] as usize;
        if self.start.len() < a + 1 {
            self.start.resize(a + 1, self.order.len() as u32);
        }
        let mut hole = self.order.len();
        self.order.push(p);
        for bucket in (a + 1..self.start.len()).rev() {
            let first = self.start[bucket] as usize;
            if first != hole {
                let moved = self.order[first];
                self.place(hole, moved);
            }
            hole = first;
            self.start[bucket] += 1;
        }
        self.place(hole, p);
        self.trim();
    }
}

impl Picker {
    /// Sets the pieces to fetch (`wanted`) and those to fetch first (`high`); masks whose
    /// length is not the piece count are ignored. Pieces already started are finished either
    /// way; a piece wanted again returns to the rarest-first order.
    pub fn set_wanted(&mut self, wanted: &Bitfield, high: &Bitfield) {
        let n = self.layout.num_pieces();
        if wanted.len() != n || high.len() != n {
            return;
        }
        let mut left = 0;
        for p in 0..n {
            if self.have.get(p) {
                continue;
            }
            let want = wanted.get(p);
            left += u32::from(want);
            let fresh = self.rarity.is_fresh(p);
            if !want && fresh {
                self.rarity.remove(p);
            } else if want && !fresh && self.slot[p as usize] == NONE {
                self.rarity.insert(p);
                self.prio.fresh_again(p);
            }
        }
        self.wants = Wants {
            mask: (!wanted.is_full()).then(|| wanted.clone()),
            high: high
                .iter_ones()
                .filter(|&p| wanted.get(p) && !self.have.get(p))
                .collect(),
            left,
        };
    }

    /// Whether `piece` is wanted (every piece is, until [`Picker::set_wanted`] says otherwise).
    pub fn is_wanted(&self, piece: u32) -> bool {
        piece < self.layout.num_pieces() && self.wants.is_wanted(piece)
    }

    /// The pass before rarest-first: fresh high-priority pieces the peer has, rarest first
    /// among them. Costs one look at each high piece not yet started.
    pub(super) fn pick_high(
        &mut self,
        peer_has: &Bitfield,
        max: usize,
        out: &mut Vec<BlockRef>,
    ) -> usize {
        if self.wants.high.is_empty() {
            return 0;
        }
        let rarity = &self.rarity;
        self.wants.high.retain(|&p| rarity.is_fresh(p));
        let mut cands: Vec<(u32, u32)> = self
            .wants
            .high
            .iter()
            .filter(|&&p| peer_has.get(p))
            .map(|&p| (rarity.pos[p as usize], p))
            .collect();
        cands.sort_unstable();
        let mut taken = 0;
        for (_, piece) in cands {
            if taken == max || self.new_piece_budget == 0 {
                break;
            }
            taken += self.start_piece(piece, max - taken, out);
        }
        taken
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{bf, check, pick, pieces, small};
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn only_wanted_pieces_are_picked_and_count_as_left() {
        let mut p = Picker::new(small(8), &bf(8, &[0]), 3);
        let seed = Bitfield::full(8);
        p.add_peer_bitfield(&seed);
        p.set_wanted(&bf(8, &[0, 2, 5]), &Bitfield::new(8));
        check(&p);
        assert_eq!(p.pieces_left(), 2);
        assert!(p.is_wanted(2) && !p.is_wanted(3) && !p.is_wanted(99));
        let mut got = pieces(&pick(&mut p, &seed, 10, &HashSet::new()));
        got.sort();
        assert_eq!(got, [2, 5]);
        for piece in got {
            p.on_block_received(small(8).block(piece, 0).unwrap());
            p.on_piece_verified(piece);
        }
        assert_eq!(p.pieces_left(), 0);
        assert!(!p.is_endgame());
        assert!(pick(&mut p, &seed, 10, &HashSet::new()).is_empty());
        check(&p);
    }

    #[test]
    fn re_wanted_pieces_return_in_rarity_order() {
        let mut p = Picker::new(small(6), &Bitfield::new(6), 1);
        p.add_peer_bitfield(&Bitfield::full(6));
        p.add_peer_bitfield(&bf(6, &[0, 1, 2, 3, 4]));
        p.set_wanted(&bf(6, &[0, 1]), &Bitfield::new(6));
        check(&p);
        // Piece 5 (one holder) is the rarest once it is wanted again.
        p.set_wanted(&Bitfield::full(6), &Bitfield::new(6));
        check(&p);
        assert_eq!(p.pieces_left(), 6);
        assert_eq!(
            pieces(&pick(&mut p, &Bitfield::full(6), 1, &HashSet::new())),
            [5]
        );
        // A wrong-length mask changes nothing.
        p.set_wanted(&Bitfield::new(3), &Bitfield::new(3));
        assert_eq!(p.pieces_left(), 6);
        check(&p);
    }

    #[test]
    fn high_pieces_come_first_even_when_common() {
        let mut p = Picker::new(small(10), &Bitfield::new(10), 9);
        p.add_peer_bitfield(&Bitfield::full(10));
        p.add_peer_bitfield(&bf(10, &[7, 8]));
        p.set_wanted(&Bitfield::full(10), &bf(10, &[7, 8]));
        let seed = Bitfield::full(10);
        let mut first = pieces(&pick(&mut p, &seed, 2, &HashSet::new()));
        first.sort();
        assert_eq!(first, [7, 8]);
        // Then rarest-first as usual over the rest.
        assert_eq!(pick(&mut p, &seed, 8, &HashSet::new()).len(), 8);
        check(&p);
    }

    #[test]
    fn unwanting_a_started_piece_still_finishes_it() {
        let mut p = Picker::new(small(4), &Bitfield::new(4), 2);
        let seed = Bitfield::full(4);
        p.add_peer_bitfield(&seed);
        let first = pick(&mut p, &seed, 1, &HashSet::new());
        let started = first[0].piece;
        p.set_wanted(&Bitfield::new(4), &Bitfield::new(4));
        check(&p);
        assert_eq!(p.pieces_left(), 0);
        p.on_request_dropped(first[0]);
        assert_eq!(pieces(&pick(&mut p, &seed, 4, &HashSet::new())), [started]);
        check(&p);
    }

    #[test]
    fn sequential_mode_reaches_pieces_wanted_again_behind_it() {
        let mut p = Picker::new(small(6), &Bitfield::new(6), 2);
        let seed = Bitfield::full(6);
        p.add_peer_bitfield(&seed);
        p.set_sequential(true);
        p.set_wanted(&bf(6, &[3, 4, 5]), &Bitfield::new(6));
        assert_eq!(pieces(&pick(&mut p, &seed, 1, &HashSet::new())), [3]);
        p.set_wanted(&Bitfield::full(6), &Bitfield::new(6));
        assert_eq!(pieces(&pick(&mut p, &seed, 3, &HashSet::new())), [0, 1, 2]);
        check(&p);
    }

    #[test]
    fn random_masks_keep_the_order_consistent() {
        let mut rng = crate::rng::SplitMix64(5);
        let n = 40;
        let mut p = Picker::new(small(n), &Bitfield::new(n), 4);
        for _ in 0..3 {
            let mut has = Bitfield::new(n);
            for i in 0..n {
                if rng.next_u64() % 2 == 0 {
                    has.set(i);
                }
            }
            p.add_peer_bitfield(&has);
        }
        for _ in 0..200 {
            let mut mask = Bitfield::new(n);
            for i in 0..n {
                if rng.next_u64() % 3 != 0 {
                    mask.set(i);
                }
            }
            p.set_wanted(&mask, &Bitfield::new(n));
            check(&p);
            let fresh: HashSet<u32> = p.rarity.order.iter().copied().collect();
            for i in 0..n {
                assert_eq!(fresh.contains(&i), mask.get(i) && !p.have().get(i));
            }
        }
    }
}
