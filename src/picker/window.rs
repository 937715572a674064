//! Streaming priorities for the picker: sequential order for the whole torrent, and read-ahead
//! windows whose pieces are picked before any other.
//!
//! Part of the sans-IO picker (reactor thread, one per torrent). A window belongs to one reader
//! (a streaming file reader of an embedder, or `coracle cat`): the pieces from its read position
//! to the end of its read-ahead. Each piece of a window has a deadline rank, its distance from
//! the window's first piece, so the piece being read comes first, the next one second, and
//! readers of different files take turns. Outside every window the picker keeps its own order
//! (rarest first, or lowest index first in sequential mode), so a streaming leecher still spreads
//! rare pieces in the swarm. Windows are short (at most [`MAX_WINDOW_PIECES`] each), so they are
//! merged into one ordered list whenever one changes.
//!
//! Like libtorrent's time-critical pieces, but only the order changes: a window piece already
//! in flight at a slow peer is not requested twice before end-game.

use std::ops::Range;

use super::{Picker, NONE};
use crate::bitfield::Bitfield;
use crate::layout::BlockRef;

/// Most pieces one reader's window holds; longer windows are cut at the far end.
pub const MAX_WINDOW_PIECES: u32 = 1024;

/// The picker's streaming state.
#[derive(Debug, Default)]
pub(super) struct Priorities {
    /// Fresh pieces are started lowest index first instead of rarest first.
    sequential: bool,
    /// No fresh piece sits below this index (only a piece wanted again becomes fresh again,
    /// and moves it back: see `fresh_again`).
    cursor: u32,
    /// Each reader's window (a handful of readers at most: a list, not a map).
    windows: Vec<(u64, Range<u32>)>,
    /// Every window's pieces, most urgent first: by rank, then index; each piece once.
    urgent: Vec<u32>,
}

impl Priorities {
    /// Rebuilds `urgent` from the windows: each piece once, at its best rank.
    fn merge(&mut self) {
        let mut ranked: Vec<(u32, u32)> = self
            .windows
            .iter()
            .flat_map(|(_, w)| w.clone().map(move |p| (p, p - w.start)))
            .collect();
        // By piece, then rank: the first of each piece has its best rank.
        ranked.sort_unstable();
        ranked.dedup_by_key(|&mut (p, _)| p);
        for entry in &mut ranked {
            *entry = (entry.1, entry.0);
        }
        ranked.sort_unstable();
        self.urgent = ranked.into_iter().map(|(_, p)| p).collect();
    }

    /// `piece` is fresh again (its file was chosen again): sequential mode must reach it.
    pub(super) fn fresh_again(&mut self, piece: u32) {
        self.cursor = self.cursor.min(piece);
    }

    fn remove(&mut self, reader: u64) -> bool {
        let before = self.windows.len();
        self.windows.retain(|(r, _)| *r != reader);
        self.windows.len() != before
    }
}

impl Picker {
    /// Sequential mode: fresh pieces are started in index order (lowest first) instead of
    /// rarest first. Started pieces and read-ahead windows still come first.
    pub fn set_sequential(&mut self, on: bool) {
        self.prio.sequential = on;
    }

    /// Whether sequential mode is on.
    pub fn is_sequential(&self) -> bool {
        self.prio.sequential
    }

    /// Sets reader `reader`'s read-ahead window: `pieces` are picked before any other piece,
    /// the first of them first. Pieces past the torrent's end are ignored and the window is cut
    /// to [`MAX_WINDOW_PIECES`]; an empty range clears it.
    pub fn set_window(&mut self, reader: u64, pieces: Range<u32>) {
        let n = self.layout.num_pieces();
        let start = pieces.start.min(n);
        let end = pieces
            .end
            .min(n)
            .min(start.saturating_add(MAX_WINDOW_PIECES));
        self.prio.remove(reader);
        if start < end {
            self.prio.windows.push((reader, start..end));
        }
        self.prio.merge();
    }

    /// Forgets reader `reader`'s window.
    #[cfg(test)]
    pub fn clear_window(&mut self, reader: u64) {
        if self.prio.remove(reader) {
            self.prio.merge();
        }
    }

    /// The pieces of every window not yet verified, most urgent first.
    #[cfg(test)]
    pub fn urgent_pieces(&self) -> impl Iterator<Item = u32> + '_ {
        self.prio
            .urgent
            .iter()
            .copied()
            .filter(|&p| !self.have.get(p))
    }

    /// Phase 0: free blocks of window pieces, most urgent first; a fresh one is started if the
    /// budget allows.
    pub(super) fn pick_urgent(
        &mut self,
        peer_has: &Bitfield,
        max: usize,
        out: &mut Vec<BlockRef>,
    ) -> usize {
        let mut taken = 0;
        let mut i = 0;
        while taken < max && i < self.prio.urgent.len() {
            let piece = self.prio.urgent[i];
            i += 1;
            if self.have.get(piece) || !peer_has.get(piece) {
                continue;
            }
            let slot = self.slot[piece as usize];
            if slot != NONE {
                if self.partials[slot as usize].free > 0 {
                    taken += self.take_free(piece, max - taken, out);
                }
            } else if self.rarity.is_fresh(piece) && self.new_piece_budget > 0 {
                taken += self.start_piece(piece, max - taken, out);
            }
        }
        taken
    }

    /// Phase 2 in sequential mode: the lowest-index fresh pieces the peer has.
    pub(super) fn pick_sequential(
        &mut self,
        peer_has: &Bitfield,
        max: usize,
        out: &mut Vec<BlockRef>,
    ) -> usize {
        let n = self.layout.num_pieces();
        while self.prio.cursor < n && !self.rarity.is_fresh(self.prio.cursor) {
            self.prio.cursor += 1;
        }
        let mut taken = 0;
        let mut piece = self.prio.cursor;
        while taken < max && piece < n && self.new_piece_budget > 0 {
            if self.rarity.is_fresh(piece) && peer_has.get(piece) {
                taken += self.start_piece(piece, max - taken, out);
            }
            piece += 1;
        }
        taken
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::{Layout, BLOCK_SIZE};
    use crate::picker::BlockArrival;

    /// `n` pieces of two blocks each.
    fn layout(n: u32) -> Layout {
        Layout::new(2 * BLOCK_SIZE, u64::from(n) * 2 * u64::from(BLOCK_SIZE)).unwrap()
    }

    fn pieces_picked(p: &mut Picker, has: &Bitfield, max: usize) -> Vec<u32> {
        let mut out = Vec::new();
        p.pick(has, max, |_| false, &mut out);
        let mut pieces: Vec<u32> = out.iter().map(|b| b.piece).collect();
        pieces.dedup();
        pieces
    }

    fn receive_all(p: &mut Picker, l: &Layout, piece: u32) {
        for i in 0..l.num_blocks(piece) {
            let arrival = p.on_block_received(l.block(piece, i).unwrap());
            assert!(matches!(arrival, BlockArrival::New { .. }));
        }
        p.on_piece_verified(piece);
    }

    #[test]
    fn sequential_mode_starts_pieces_in_index_order() {
        let l = layout(8);
        let mut p = Picker::new(l, &Bitfield::new(8), 3);
        let seed = Bitfield::full(8);
        p.add_peer_bitfield(&seed);
        // Piece 5 is rarest: rarest-first would take it first; sequential does not.
        let mut lacking = Bitfield::full(8);
        lacking.clear(5);
        p.add_peer_bitfield(&lacking);
        p.set_sequential(true);
        assert!(p.is_sequential());
        assert_eq!(pieces_picked(&mut p, &seed, 4), vec![0, 1]);
        receive_all(&mut p, &l, 0);
        receive_all(&mut p, &l, 1);
        // A peer without piece 2 gets the next piece it has.
        let mut no_two = Bitfield::full(8);
        no_two.clear(2);
        assert_eq!(pieces_picked(&mut p, &no_two, 2), vec![3]);
        assert_eq!(pieces_picked(&mut p, &seed, 6), vec![2, 4, 5]);
        p.set_sequential(false);
        assert_eq!(pieces_picked(&mut p, &seed, 4).len(), 2);
    }

    #[test]
    fn window_pieces_come_first_in_rank_order_then_rarest_first() {
        let l = layout(16);
        let mut p = Picker::new(l, &Bitfield::new(16), 9);
        let seed = Bitfield::full(16);
        p.add_peer_bitfield(&seed);
        // Every piece but 15 is held by a second peer: 15 is the rarest.
        let mut common = Bitfield::full(16);
        common.clear(15);
        p.add_peer_bitfield(&common);
        p.set_window(7, 10..13);
        assert_eq!(p.urgent_pieces().collect::<Vec<_>>(), vec![10, 11, 12]);
        assert_eq!(pieces_picked(&mut p, &seed, 6), vec![10, 11, 12]);
        // Outside the window, rarest first again.
        assert_eq!(pieces_picked(&mut p, &seed, 2), vec![15]);
        receive_all(&mut p, &l, 10);
        assert_eq!(p.urgent_pieces().collect::<Vec<_>>(), vec![11, 12]);
        // A second reader's window interleaves by rank: 13 (rank 0) before 11 (rank 1).
        p.set_window(8, 13..15);
        assert_eq!(p.urgent_pieces().collect::<Vec<_>>(), vec![13, 11, 14, 12]);
        assert_eq!(pieces_picked(&mut p, &seed, 4), vec![13, 14]);
        // A piece in two windows counts at its better rank: 12 is first in a third window.
        p.set_window(9, 12..13);
        assert_eq!(p.urgent_pieces().collect::<Vec<_>>(), vec![12, 13, 11, 14]);
        p.clear_window(7);
        p.clear_window(8);
        p.clear_window(9);
        assert_eq!(p.urgent_pieces().count(), 0);
    }

    #[test]
    fn a_window_started_piece_gets_its_free_blocks_first_and_budget_holds() {
        let l = layout(8);
        let mut p = Picker::new(l, &Bitfield::new(8), 1);
        let seed = Bitfield::full(8);
        p.add_peer_bitfield(&seed);
        // Piece 6 is started (one of its two blocks in flight), then becomes urgent.
        p.set_window(1, 6..7);
        let mut out = Vec::new();
        p.pick(&seed, 1, |_| false, &mut out);
        assert_eq!(out, vec![l.block(6, 0).unwrap()]);
        p.set_window(1, 5..8);
        out.clear();
        p.set_new_piece_budget(0);
        p.pick(&seed, 8, |_| false, &mut out);
        // No budget: only the started window piece's free block.
        assert_eq!(out, vec![l.block(6, 1).unwrap()]);
    }

    #[test]
    fn windows_are_clamped_to_the_torrent_and_bounded() {
        let l = Layout::new(BLOCK_SIZE, 4000 * u64::from(BLOCK_SIZE)).unwrap();
        let mut p = Picker::new(l, &Bitfield::new(4000), 1);
        p.set_window(1, 3990..5000);
        assert_eq!(p.urgent_pieces().count(), 10);
        p.set_window(1, 0..u32::MAX);
        assert_eq!(p.urgent_pieces().count(), MAX_WINDOW_PIECES as usize);
        p.set_window(1, 4000..4001);
        assert_eq!(p.urgent_pieces().count(), 0);
        p.set_window(2, std::ops::Range { start: 7, end: 3 });
        assert_eq!(p.urgent_pieces().count(), 0);
        // Hostile or stale input never panics.
        let mut out = Vec::new();
        p.pick(&Bitfield::new(0), 3, |_| false, &mut out);
        assert!(out.is_empty());
    }
}
