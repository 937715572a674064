//! Block selection: which 16 KiB blocks to request next, from which peer, and the bookkeeping of
//! every block between "requested" and "piece verified".
//!
//! Sans-IO, one per torrent, owned by its torrent core on the reactor thread: pure bookkeeping
//! over piece and block indices. It owns no socket, file, thread, clock
//! or data buffer; the caller stores received bytes, runs the hashes, and reports outcomes back.
//! It must not know about peers beyond the bitfields and the `peer_in_flight` predicate handed
//! to it, and must not panic on any index a peer can make up (every public entry range-checks).
//!
//! Order of [`Picker::pick`]:
//! 0. blocks of pieces in a reader's read-ahead window, most urgent first (see `window`);
//! 1. free blocks of pieces already started, so pieces complete and get hashed early;
//! 2. new pieces, rarest first among the pieces the peer has, ties broken by a seeded shuffle
//!    (lowest index first in sequential mode);
//! 3. end-game: once every missing piece has been started ([`Picker::is_endgame`]) and a call
//!    finds no free block this peer could serve, blocks already in flight elsewhere, up to
//!    [`ENDGAME_MAX_DUP`] requests each. A call that handed out free blocks shares nothing, so
//!    `peer_in_flight` (which cannot yet know this call's picks) is always accurate.
//!
//! Arrivals: any valid block of a started, unverified piece counts as received, even one whose
//! request was dropped (a late answer still saves a re-request); the caller filters out blocks it
//! never asked that peer for. A failed piece keeps its blocks' in-flight counts, so requests
//! still outstanding are reported back as usual.
//!
//! Invariants:
//! - A block is requested from at most one peer until end-game; in end-game at most
//!   [`ENDGAME_MAX_DUP`] requests for it are in flight in total, never two at the same peer.
//! - A verified piece is never picked again, and a received block is never picked again unless
//!   its piece fails the hash check.
//! - Every block handed out is eventually reported back by the caller, exactly once per hand-out,
//!   as received ([`Picker::on_block_received`]) or dropped ([`Picker::on_request_dropped`]).
//! - A peer's availability is added once ([`Picker::add_peer_bitfield`] plus one
//!   [`Picker::add_peer_have`] per later `have`) and removed once, with its final bitfield.
//!
//! Cost: per-block state (one byte: in-flight count plus a received bit) exists only for started,
//! unverified pieces. Not-yet-started pieces sit in an array kept sorted by availability with
//! bucket boundaries, so a `have` moves one entry in O(1) and starting a piece costs O(distinct
//! availability values); nothing is ever re-sorted. `pick` looks at the short list of started
//! pieces with free blocks, then walks the rarity order from its head; a peer that lacks the
//! head's pieces gets a bounded walk and then a pass over its bitfield bytes.

use crate::bitfield::Bitfield;
use crate::layout::{BlockRef, Layout};
use crate::rng::SplitMix64;

mod wanted;
mod window;
/// Most requests in flight for one block in end-game, counting the original one.
pub const ENDGAME_MAX_DUP: u8 = 2;

const NONE: u32 = u32::MAX;
const RECEIVED: u8 = 0x80;
const COUNT: u8 = 0x7f;
/// Rarity entries walked for one peer before switching to a pass over its bitfield; keeps `pick`
/// bounded for peers that only have common pieces, while seeds find their piece in one step.
const DENSE_WALK: usize = 256;

/// What [`Picker::on_block_received`] made of a block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockArrival {
    /// First copy of this block: the caller keeps the data.
    New {
        /// Every block of the piece is now in: time to hash it.
        piece_complete: bool,
    },
    /// Already received (an end-game race) or its piece is verified: drop the data.
    Duplicate,
    /// Not a block of this torrent, or of a piece nobody was asked for: drop the data.
    Unexpected,
}

/// Availability of every piece, and the not-yet-started pieces sorted by it.
///
/// `order` is sorted by availability; bucket `a` (pieces with availability `a`) is
/// `order[start[a] .. start[a + 1]]`, the last bucket running to the end. `start.len()` is always
/// greater than the highest availability in `order`. Moving a piece between adjacent buckets is
/// one swap with the bucket's edge and one boundary shift.
#[derive(Debug)]
struct Rarity {
    avail: Vec<u32>,
    order: Vec<u32>,
    pos: Vec<u32>,
    start: Vec<u32>,
}

impl Rarity {
    fn new(num_pieces: u32, have: &Bitfield, rng: &mut SplitMix64) -> Rarity {
        let mut order: Vec<u32> = (0..num_pieces).filter(|&p| !have.get(p)).collect();
        for i in (1..order.len()).rev() {
            let j = (rng.next_u64() % (i as u64 + 1)) as usize;
            order.swap(i, j);
        }
        let mut pos = vec![NONE; num_pieces as usize];
        for (i, &p) in order.iter().enumerate() {
            pos[p as usize] = i as u32;
        }
        Rarity {
            avail: vec![0; num_pieces as usize],
            order,
            pos,
            start: vec![0],
        }
    }

    fn is_fresh(&self, p: u32) -> bool {
        self.pos.get(p as usize).is_some_and(|&i| i != NONE)
    }

    fn end_of(&self, bucket: usize) -> usize {
        self.start
            .get(bucket + 1)
            .map_or(self.order.len(), |&s| s as usize)
    }

    fn place(&mut self, i: usize, p: u32) {
        self.order[i] = p;
        self.pos[p as usize] = i as u32;
    }

    fn swap(&mut self, i: usize, j: usize) {
        let (a, b) = (self.order[i], self.order[j]);
        self.place(i, b);
        self.place(j, a);
    }

    /// Drops empty trailing buckets so walks over buckets stay as short as the peer count.
    fn trim(&mut self) {
        while self.start.len() > 1 && self.start.last() == Some(&(self.order.len() as u32)) {
            self.start.pop();
        }
    }

    /// Availability +1; a fresh piece moves to the front of the next bucket. `p` is in range.
    fn inc(&mut self, p: u32) {
        let a = self.avail[p as usize];
        if a == u32::MAX {
            return;
        }
        self.avail[p as usize] = a + 1;
        let i = self.pos[p as usize];
        if i == NONE {
            return;
        }
        let a = a as usize;
        if self.start.len() < a + 2 {
            self.start.resize(a + 2, self.order.len() as u32);
        }
        let last = self.start[a + 1] as usize - 1;
        self.swap(i as usize, last);
        self.start[a + 1] = last as u32;
    }

    /// Availability -1; a fresh piece moves to the back of the previous bucket. `p` is in range.
    fn dec(&mut self, p: u32) {
        let a = self.avail[p as usize];
        if a == 0 {
            return;
        }
        self.avail[p as usize] = a - 1;
        let i = self.pos[p as usize];
        if i == NONE {
            return;
        }
        let first = self.start[a as usize];
        self.swap(i as usize, first as usize);
        self.start[a as usize] = first + 1;
        self.trim();
    }

    /// Takes a piece out of the order: the hole walks up one bucket at a time to the end.
    fn remove(&mut self, p: u32) {
        let Some(&i) = self.pos.get(p as usize) else {
            return;
        };
        if i == NONE {
            return;
        }
        let mut hole = i as usize;
        for bucket in self.avail[p as usize] as usize..self.start.len() {
            let last = self.end_of(bucket) - 1;
            // When the bucket ends at the hole, `order[last]` is a stale copy: nothing to move.
            if last != hole {
                let moved = self.order[last];
                self.place(hole, moved);
                hole = last;
            }
            if let Some(s) = self.start.get_mut(bucket + 1) {
                *s -= 1;
            }
        }
        self.order.pop();
        self.pos[p as usize] = NONE;
        self.trim();
    }
}

/// Block states of one started, unverified piece.
#[derive(Debug)]
struct Partial {
    piece: u32,
    /// Per block: in-flight request count (low 7 bits) and the received bit.
    blocks: Vec<u8>,
    received: u32,
    /// Blocks neither received nor in flight.
    free: u32,
    /// No free block sits below this index.
    hint: u32,
    /// Index in `Picker::open`, or `NONE` when the piece has no free block.
    open_idx: u32,
}

/// Decides which blocks to request and tracks them until their piece is verified.
#[derive(Debug)]
pub struct Picker {
    layout: Layout,
    have: Bitfield,
    rarity: Rarity,
    partials: Vec<Partial>,
    /// Per piece: index in `partials`, or `NONE` when not started (or verified).
    slot: Vec<u32>,
    /// Started pieces that still have free blocks.
    open: Vec<u32>,
    /// How many more pieces `pick` may start; the caller's memory budget for piece buffers.
    new_piece_budget: usize,
    /// Which pieces the user wants, and which first (see `wanted`).
    wants: wanted::Wants,
    /// Sequential mode and read-ahead windows (see `window`).
    prio: window::Priorities,
}

impl Picker {
    /// A picker for `layout`. `have`: pieces already verified. `seed`: drives the random
    /// tie-break between equally rare pieces (deterministic for one seed).
    pub fn new(layout: Layout, have: &Bitfield, seed: u64) -> Picker {
        let n = layout.num_pieces();
        let mut own = Bitfield::new(n);
        for p in have.iter_ones() {
            own.set(p);
        }
        let mut rng = SplitMix64(seed);
        Picker {
            layout,
            rarity: Rarity::new(n, &own, &mut rng),
            wants: wanted::Wants::all(n - own.count()),
            have: own,
            partials: Vec::new(),
            slot: vec![NONE; n as usize],
            open: Vec::new(),
            new_piece_budget: usize::MAX,
            prio: window::Priorities::default(),
        }
    }

    /// Limits how many new pieces the following `pick` calls may start (the caller holds a
    /// buffer per started piece). Started pieces are always finished, whatever the budget.
    pub fn set_new_piece_budget(&mut self, pieces: usize) {
        self.new_piece_budget = pieces;
    }

    /// Counts a newly connected peer's pieces: availability +1 for each.
    pub fn add_peer_bitfield(&mut self, bf: &Bitfield) {
        let n = self.layout.num_pieces();
        for p in 0..n {
            if bf.get(p) && !self.rarity.is_fresh(p) {
                self.rarity.inc(p);
            }
        }
        // Walking the order backwards keeps promoted pieces in their shuffled relative order.
        let fresh = self.rarity.order.clone();
        for &p in fresh.iter().rev().filter(|&&p| bf.get(p)) {
            self.rarity.inc(p);
        }
    }

    /// Uncounts a departed peer's pieces (its final bitfield, `have`s included).
    pub fn remove_peer_bitfield(&mut self, bf: &Bitfield) {
        let n = self.layout.num_pieces();
        for p in 0..n {
            if bf.get(p) && !self.rarity.is_fresh(p) {
                self.rarity.dec(p);
            }
        }
        // Walking forwards keeps demoted pieces in their relative order.
        let fresh = self.rarity.order.clone();
        for &p in fresh.iter().filter(|&&p| bf.get(p)) {
            self.rarity.dec(p);
        }
    }

    /// Counts one `have` from a peer. Out-of-range indices are ignored.
    pub fn add_peer_have(&mut self, piece: u32) {
        if piece < self.layout.num_pieces() {
            self.rarity.inc(piece);
        }
    }

    /// Appends up to `max` blocks to request from a peer that has `peer_has`, marking them
    /// requested. `peer_in_flight(b)` says whether this peer already has `b` requested; such
    /// blocks are never handed to it again (only matters in end-game, where blocks are shared).
    pub fn pick(
        &mut self,
        peer_has: &Bitfield,
        max: usize,
        peer_in_flight: impl Fn(&BlockRef) -> bool,
        out: &mut Vec<BlockRef>,
    ) {
        if max == 0 || peer_has.count() == 0 {
            return;
        }
        let mut left = max;
        left -= self.pick_urgent(peer_has, left, out);
        left -= self.pick_open(peer_has, left, out);
        if left > 0 {
            left -= self.pick_high(peer_has, left, out);
        }
        if left > 0 {
            left -= self.pick_fresh(peer_has, left, out);
        }
        // Only a call that found nothing free shares blocks, so what this call just handed out
        // (which `peer_in_flight` cannot know yet) is never handed to the same peer twice.
        if left == max && self.rarity.order.is_empty() {
            self.pick_endgame(peer_has, left, &peer_in_flight, out);
        }
    }

    /// Phase 1: free blocks of started pieces.
    fn pick_open(&mut self, peer_has: &Bitfield, max: usize, out: &mut Vec<BlockRef>) -> usize {
        let mut taken = 0;
        let mut i = 0;
        while i < self.open.len() && taken < max {
            let piece = self.open[i];
            if !peer_has.get(piece) {
                i += 1;
                continue;
            }
            taken += self.take_free(piece, max - taken, out);
            // A piece drained of free blocks left `open` by a swap: index i holds a new piece.
            if self.open.get(i) == Some(&piece) {
                i += 1;
            }
        }
        taken
    }

    /// Requests up to `max` free blocks of started `piece`, lowest first.
    fn take_free(&mut self, piece: u32, max: usize, out: &mut Vec<BlockRef>) -> usize {
        let s = self.slot[piece as usize] as usize;
        let part = &mut self.partials[s];
        let mut taken = 0;
        let mut i = part.hint;
        while (i as usize) < part.blocks.len() && taken < max && part.free > 0 {
            let st = &mut part.blocks[i as usize];
            if *st == 0 {
                if let Some(b) = self.layout.block(piece, i) {
                    *st = 1;
                    part.free -= 1;
                    out.push(b);
                    taken += 1;
                }
            }
            i += 1;
        }
        part.hint = i;
        if part.free == 0 {
            self.close(piece);
        }
        taken
    }

    /// Phase 2: new pieces, rarest first.
    fn pick_fresh(&mut self, peer_has: &Bitfield, max: usize, out: &mut Vec<BlockRef>) -> usize {
        if self.is_sequential() {
            return self.pick_sequential(peer_has, max, out);
        }
        let mut taken = 0;
        let mut i = 0;
        let mut walked = 0;
        while taken < max && i < self.rarity.order.len() && self.new_piece_budget > 0 {
            let piece = self.rarity.order[i];
            if peer_has.get(piece) {
                // Removal refills slot i with a later, unvisited entry: do not advance.
                taken += self.start_piece(piece, max - taken, out);
            } else if walked == DENSE_WALK {
                return taken + self.pick_fresh_sparse(peer_has, max - taken, out);
            } else {
                walked += 1;
                i += 1;
            }
        }
        taken
    }

    /// Phase 2 for a peer lacking the rarest pieces: rank only the fresh pieces it has.
    fn pick_fresh_sparse(
        &mut self,
        peer_has: &Bitfield,
        max: usize,
        out: &mut Vec<BlockRef>,
    ) -> usize {
        let mut cands: Vec<(u32, u32)> = Vec::new();
        for (byte_idx, &byte) in peer_has.as_bytes().iter().enumerate() {
            let mut bits = byte;
            while bits != 0 {
                let bit = bits.leading_zeros();
                bits &= !(0x80 >> bit);
                let piece = (byte_idx as u32).saturating_mul(8).saturating_add(bit);
                if let Some(&pos) = self.rarity.pos.get(piece as usize) {
                    if pos != NONE {
                        cands.push((pos, piece));
                    }
                }
            }
        }
        // Each piece yields at least one block, so the `max` best suffice.
        if cands.len() > max {
            cands.select_nth_unstable(max);
            cands.truncate(max);
        }
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

    /// Moves a fresh piece to the started set, requesting its first `max` blocks.
    fn start_piece(&mut self, piece: u32, max: usize, out: &mut Vec<BlockRef>) -> usize {
        self.new_piece_budget = self.new_piece_budget.saturating_sub(1);
        self.rarity.remove(piece);
        let nb = self.layout.num_blocks(piece);
        let mut blocks = vec![0u8; nb as usize];
        let mut taken = 0;
        for (i, st) in (0..nb).zip(blocks.iter_mut()).take(max) {
            if let Some(b) = self.layout.block(piece, i) {
                *st = 1;
                out.push(b);
                taken += 1;
            }
        }
        self.slot[piece as usize] = self.partials.len() as u32;
        self.partials.push(Partial {
            piece,
            blocks,
            received: 0,
            free: nb - taken as u32,
            hint: taken as u32,
            open_idx: NONE,
        });
        self.reopen(piece);
        taken
    }

    /// Phase 3: share blocks in flight elsewhere, each up to `ENDGAME_MAX_DUP` times.
    fn pick_endgame(
        &mut self,
        peer_has: &Bitfield,
        max: usize,
        peer_in_flight: &impl Fn(&BlockRef) -> bool,
        out: &mut Vec<BlockRef>,
    ) {
        let mut taken = 0;
        for part in &mut self.partials {
            if taken == max {
                return;
            }
            if !peer_has.get(part.piece) || part.received as usize == part.blocks.len() {
                continue;
            }
            for (i, st) in (0..).zip(part.blocks.iter_mut()) {
                let count = *st & COUNT;
                if *st & RECEIVED != 0 || count == 0 || count >= ENDGAME_MAX_DUP {
                    continue;
                }
                let Some(b) = self.layout.block(part.piece, i) else {
                    continue;
                };
                if !peer_in_flight(&b) {
                    *st += 1;
                    out.push(b);
                    taken += 1;
                    if taken == max {
                        return;
                    }
                }
            }
        }
    }

    /// Locates a block's state: (index in `partials`, block index), if its piece is started.
    fn locate(&self, b: &BlockRef) -> Option<(usize, usize)> {
        if !self.layout.is_valid_block(b.piece, b.begin, b.length) {
            return None;
        }
        let s = *self.slot.get(b.piece as usize)?;
        (s != NONE).then_some((s as usize, b.block_index() as usize))
    }

    /// A block arrived. Any valid block of a started piece is accepted, including one whose
    /// request was dropped; the caller filters blocks this peer was never asked for.
    pub fn on_block_received(&mut self, b: BlockRef) -> BlockArrival {
        if self.have.get(b.piece) && self.layout.is_valid_block(b.piece, b.begin, b.length) {
            return BlockArrival::Duplicate;
        }
        let Some((s, i)) = self.locate(&b) else {
            return BlockArrival::Unexpected;
        };
        let part = &mut self.partials[s];
        let Some(st) = part.blocks.get_mut(i) else {
            return BlockArrival::Unexpected;
        };
        if *st & RECEIVED != 0 {
            *st = RECEIVED | (*st & COUNT).saturating_sub(1);
            return BlockArrival::Duplicate;
        }
        let was_free = *st == 0;
        *st = RECEIVED | (*st & COUNT).saturating_sub(1);
        part.received += 1;
        let piece_complete = part.received as usize == part.blocks.len();
        if was_free {
            part.free -= 1;
            if part.free == 0 {
                self.close(b.piece);
            }
        }
        BlockArrival::New { piece_complete }
    }

    /// A request was cancelled, timed out, rejected, or its peer choked us or left: one fewer
    /// in flight; the block is free again once none is in flight and it was not received.
    pub fn on_request_dropped(&mut self, b: BlockRef) {
        let Some((s, i)) = self.locate(&b) else {
            return;
        };
        let part = &mut self.partials[s];
        let Some(st) = part.blocks.get_mut(i) else {
            return;
        };
        if *st & COUNT == 0 {
            return;
        }
        *st -= 1;
        if *st == 0 {
            part.free += 1;
            part.hint = part.hint.min(i as u32);
            self.reopen(b.piece);
        }
    }

    /// The piece passed its hash check: it is ours and never picked again.
    pub fn on_piece_verified(&mut self, piece: u32) {
        if !self.have.set(piece) {
            return;
        }
        self.wants.on_verified(piece);
        self.rarity.remove(piece);
        let s = self.slot[piece as usize];
        if s == NONE {
            return;
        }
        self.close(piece);
        self.partials.swap_remove(s as usize);
        self.slot[piece as usize] = NONE;
        if let Some(moved) = self.partials.get(s as usize) {
            self.slot[moved.piece as usize] = s;
        }
    }

    /// The piece failed its hash check: every block not in flight becomes free again, and
    /// received flags are cleared (blocks still in flight free up when dropped or re-received).
    pub fn on_piece_failed(&mut self, piece: u32) {
        let Some(&s) = self.slot.get(piece as usize) else {
            return;
        };
        if s == NONE || self.have.get(piece) {
            return;
        }
        let part = &mut self.partials[s as usize];
        for st in &mut part.blocks {
            *st &= COUNT;
        }
        part.received = 0;
        part.free = part.blocks.iter().filter(|&&st| st == 0).count() as u32;
        part.hint = 0;
        self.reopen(piece);
    }

    /// Puts a started piece with free blocks on the `open` list (no-op if already there).
    fn reopen(&mut self, piece: u32) {
        let part = &mut self.partials[self.slot[piece as usize] as usize];
        if part.free > 0 && part.open_idx == NONE {
            part.open_idx = self.open.len() as u32;
            self.open.push(piece);
        }
    }

    /// Takes a started piece off the `open` list (no-op if not there).
    fn close(&mut self, piece: u32) {
        let s = self.slot[piece as usize] as usize;
        let idx = self.partials[s].open_idx;
        if idx == NONE {
            return;
        }
        self.partials[s].open_idx = NONE;
        self.open.swap_remove(idx as usize);
        if let Some(&moved) = self.open.get(idx as usize) {
            let ms = self.slot[moved as usize] as usize;
            self.partials[ms].open_idx = idx;
        }
    }

    /// True once every missing piece has been started: from then on `pick` may hand a peer
    /// that has no free block left to serve duplicates of blocks in flight elsewhere.
    pub fn is_endgame(&self) -> bool {
        self.rarity.order.is_empty() && self.pieces_left() > 0
    }

    /// Verified pieces.
    pub fn have(&self) -> &Bitfield {
        &self.have
    }

    /// Wanted pieces not yet verified (every piece is wanted unless [`Picker::set_wanted`]
    /// said otherwise).
    pub fn pieces_left(&self) -> u32 {
        self.wants.left
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::BLOCK_SIZE;
    use std::collections::{HashMap, HashSet};

    /// `n` one-block pieces.
    pub(super) fn small(n: u32) -> Layout {
        Layout::new(BLOCK_SIZE, u64::from(n) * u64::from(BLOCK_SIZE)).unwrap()
    }

    pub(super) fn bf(n: u32, ones: &[u32]) -> Bitfield {
        let mut b = Bitfield::new(n);
        for &i in ones {
            b.set(i);
        }
        b
    }

    pub(super) fn pick(
        p: &mut Picker,
        has: &Bitfield,
        max: usize,
        mine: &HashSet<BlockRef>,
    ) -> Vec<BlockRef> {
        let mut out = Vec::new();
        p.pick(has, max, |b| mine.contains(b), &mut out);
        out
    }

    pub(super) fn pieces(blocks: &[BlockRef]) -> Vec<u32> {
        blocks.iter().map(|b| b.piece).collect()
    }

    fn blk(l: &Layout, piece: u32, i: u32) -> BlockRef {
        l.block(piece, i).unwrap()
    }

    /// Checks every internal structure against its documented invariant.
    pub(super) fn check(p: &Picker) {
        check_rarity(&p.rarity);
        for &piece in &p.rarity.order {
            assert!(!p.have.get(piece) && p.slot[piece as usize] == NONE);
        }
        check_partials(p);
    }

    fn check_rarity(r: &Rarity) {
        for w in r.order.windows(2) {
            assert!(r.avail[w[0] as usize] <= r.avail[w[1] as usize]);
        }
        for (i, &piece) in r.order.iter().enumerate() {
            assert_eq!(r.pos[piece as usize], i as u32);
            let a = r.avail[piece as usize] as usize;
            assert!(a < r.start.len());
            assert!(r.start[a] as usize <= i && i < r.end_of(a));
        }
        let fresh = r.pos.iter().filter(|&&x| x != NONE).count();
        assert_eq!(fresh, r.order.len());
    }

    fn check_partials(p: &Picker) {
        for (s, part) in p.partials.iter().enumerate() {
            assert_eq!(p.slot[part.piece as usize], s as u32);
            let free = part.blocks.iter().filter(|&&st| st == 0).count() as u32;
            assert_eq!(part.free, free);
            let got = part.blocks.iter().filter(|&&st| st & RECEIVED != 0).count();
            assert_eq!(part.received as usize, got);
            assert!(part
                .blocks
                .iter()
                .take(part.hint as usize)
                .all(|&st| st != 0));
            assert_eq!(part.open_idx != NONE, part.free > 0);
            if part.open_idx != NONE {
                assert_eq!(p.open[part.open_idx as usize], part.piece);
            }
        }
    }

    #[test]
    fn rarest_first_among_three_peers() {
        let l = small(4);
        let mut p = Picker::new(l, &Bitfield::new(4), 7);
        p.add_peer_bitfield(&bf(4, &[0, 1, 2, 3]));
        p.add_peer_bitfield(&bf(4, &[1, 2, 3]));
        p.add_peer_bitfield(&bf(4, &[1, 3]));
        check(&p);
        let seed = Bitfield::full(4);
        let none = HashSet::new();
        assert_eq!(pieces(&pick(&mut p, &seed, 1, &none)), vec![0]);
        assert_eq!(pieces(&pick(&mut p, &seed, 1, &none)), vec![2]);
        let mut rest = pieces(&pick(&mut p, &seed, 5, &none));
        rest.sort();
        assert_eq!(rest, vec![1, 3]);
        check(&p);
    }

    #[test]
    fn have_messages_reorder_and_departures_restore() {
        let l = small(3);
        let mut p = Picker::new(l, &Bitfield::new(3), 1);
        let everyone = Bitfield::full(3);
        p.add_peer_bitfield(&everyone);
        p.add_peer_bitfield(&everyone);
        p.add_peer_have(0);
        p.add_peer_have(2);
        p.add_peer_have(99);
        check(&p);
        let none = HashSet::new();
        assert_eq!(pieces(&pick(&mut p, &everyone, 1, &none)), vec![1]);
        p.remove_peer_bitfield(&everyone);
        p.remove_peer_bitfield(&bf(3, &[0]));
        check(&p);
        assert_eq!(pieces(&pick(&mut p, &everyone, 1, &none)), vec![0]);
    }

    #[test]
    fn tie_break_depends_on_seed_and_only_on_seed() {
        let l = small(64);
        let order = |seed: u64| {
            let mut p = Picker::new(l, &Bitfield::new(64), seed);
            p.add_peer_bitfield(&Bitfield::full(64));
            pieces(&pick(&mut p, &Bitfield::full(64), 64, &HashSet::new()))
        };
        assert_eq!(order(5), order(5));
        let firsts: HashSet<Vec<u32>> = (0..8).map(order).collect();
        assert!(firsts.len() > 1);
        let mut all = order(5);
        all.sort();
        assert_eq!(all, (0..64).collect::<Vec<_>>());
    }

    #[test]
    fn started_pieces_are_finished_first() {
        // Three pieces of four blocks each.
        let l = Layout::new(4 * BLOCK_SIZE, 12 * u64::from(BLOCK_SIZE)).unwrap();
        let mut p = Picker::new(l, &Bitfield::new(3), 3);
        let seed = Bitfield::full(3);
        p.add_peer_bitfield(&seed);
        let none = HashSet::new();
        let first = pick(&mut p, &seed, 2, &none);
        let x = first[0].piece;
        assert_eq!(first, vec![blk(&l, x, 0), blk(&l, x, 1)]);
        let second = pick(&mut p, &seed, 3, &none);
        assert_eq!(&second[..2], &[blk(&l, x, 2), blk(&l, x, 3)]);
        assert_ne!(second[2].piece, x);
        assert_eq!(second[2].begin, 0);
        check(&p);
    }

    #[test]
    fn dropped_request_is_pickable_again() {
        let l = Layout::new(2 * BLOCK_SIZE, 2 * u64::from(BLOCK_SIZE)).unwrap();
        let mut p = Picker::new(l, &Bitfield::new(1), 0);
        let seed = Bitfield::full(1);
        let none = HashSet::new();
        assert_eq!(pick(&mut p, &seed, 9, &none).len(), 2);
        assert!(pick(
            &mut p,
            &seed,
            9,
            &HashSet::from([blk(&l, 0, 0), blk(&l, 0, 1)])
        )
        .is_empty());
        p.on_request_dropped(blk(&l, 0, 1));
        p.on_request_dropped(blk(&l, 0, 1)); // spurious second drop: ignored
        check(&p);
        assert_eq!(pick(&mut p, &seed, 9, &none), vec![blk(&l, 0, 1)]);
        assert_eq!(
            p.on_block_received(blk(&l, 0, 0)),
            BlockArrival::New {
                piece_complete: false
            }
        );
        assert_eq!(
            p.on_block_received(blk(&l, 0, 1)),
            BlockArrival::New {
                piece_complete: true
            }
        );
        p.on_piece_verified(0);
        assert_eq!(p.pieces_left(), 0);
        assert!(!p.is_endgame());
        assert!(pick(&mut p, &seed, 9, &none).is_empty());
        assert_eq!(p.on_block_received(blk(&l, 0, 0)), BlockArrival::Duplicate);
    }

    #[test]
    fn failed_piece_becomes_free_again() {
        let l = Layout::new(2 * BLOCK_SIZE, 3 * u64::from(BLOCK_SIZE)).unwrap();
        let mut p = Picker::new(l, &Bitfield::new(2), 9);
        let seed = Bitfield::full(2);
        let none = HashSet::new();
        let got = pick(&mut p, &seed, 3, &none);
        assert_eq!(got.len(), 3);
        for b in &got {
            assert!(matches!(p.on_block_received(*b), BlockArrival::New { .. }));
        }
        p.on_piece_failed(0);
        check(&p);
        assert_eq!(p.have().count(), 0);
        assert_eq!(
            pick(&mut p, &seed, 9, &none),
            vec![blk(&l, 0, 0), blk(&l, 0, 1)]
        );
        p.on_piece_verified(1);
        p.on_piece_failed(1); // verified stays verified
        assert!(p.have().get(1));
        assert_eq!(p.pieces_left(), 1);
        check(&p);
    }

    #[test]
    fn endgame_shares_only_the_last_blocks_at_most_twice() {
        // Three pieces of two blocks; peers a, b, c are seeds.
        let l = Layout::new(2 * BLOCK_SIZE, 6 * u64::from(BLOCK_SIZE)).unwrap();
        let mut p = Picker::new(l, &Bitfield::new(3), 4);
        let seed = Bitfield::full(3);
        let mut a: HashSet<BlockRef> = pick(&mut p, &seed, 4, &HashSet::new())
            .into_iter()
            .collect();
        assert_eq!(a.len(), 4);
        assert!(!p.is_endgame());
        // b first gets the last free piece; only its next call, finding nothing free, shares.
        let b_got = pick(&mut p, &seed, 10, &HashSet::new());
        assert!(p.is_endgame());
        let last = b_got[0].piece;
        assert_eq!(b_got, vec![blk(&l, last, 0), blk(&l, last, 1)]);
        let mut b: HashSet<BlockRef> = b_got.into_iter().collect();
        let shared = pick(&mut p, &seed, 10, &b);
        assert_eq!(shared.iter().copied().collect::<HashSet<_>>(), a);
        b.extend(shared);
        let a_shared = pick(&mut p, &seed, 10, &a);
        assert_eq!(a_shared, vec![blk(&l, last, 0), blk(&l, last, 1)]);
        a.extend(a_shared);
        // Every block now has two requests in flight: nobody gets a third.
        assert!(pick(&mut p, &seed, 10, &HashSet::new()).is_empty());
        // One copy of one of a's blocks is dropped: only a peer without it may take it.
        let x = *a.iter().next().unwrap();
        a.remove(&x);
        p.on_request_dropped(x);
        assert!(pick(&mut p, &seed, 10, &b).is_empty());
        assert_eq!(pick(&mut p, &seed, 10, &HashSet::new()), vec![x]);
        assert_eq!(
            p.on_block_received(x),
            BlockArrival::New {
                piece_complete: false
            }
        );
        assert_eq!(p.on_block_received(x), BlockArrival::Duplicate);
        check(&p);
    }

    #[test]
    fn picky_peer_gets_its_rarest_piece() {
        let n = 1000;
        let mut p = Picker::new(small(n), &Bitfield::new(n), 11);
        p.add_peer_bitfield(&Bitfield::full(n));
        p.add_peer_bitfield(&bf(n, &(600..n).collect::<Vec<_>>()));
        let z = bf(n, &[650, 700, 999]);
        p.add_peer_bitfield(&z);
        p.add_peer_bitfield(&bf(n, &[700, 999]));
        check(&p);
        assert_eq!(pieces(&pick(&mut p, &z, 1, &HashSet::new())), vec![650]);
        let mut rest = pieces(&pick(&mut p, &z, 5, &HashSet::new()));
        rest.sort();
        assert_eq!(rest, vec![700, 999]);
        check(&p);
    }

    #[test]
    fn hostile_indices_are_ignored() {
        let l = small(3);
        let mut p = Picker::new(l, &bf(1, &[0]), 0);
        assert_eq!(p.pieces_left(), 2);
        p.add_peer_have(u32::MAX);
        p.add_peer_bitfield(&Bitfield::full(100));
        p.remove_peer_bitfield(&Bitfield::full(1));
        p.remove_peer_bitfield(&Bitfield::full(1));
        let bogus = BlockRef {
            piece: 7,
            begin: 0,
            length: BLOCK_SIZE,
        };
        assert_eq!(p.on_block_received(bogus), BlockArrival::Unexpected);
        assert_eq!(p.on_block_received(blk(&l, 1, 0)), BlockArrival::Unexpected);
        let unaligned = BlockRef {
            piece: 1,
            begin: 1,
            length: 10,
        };
        assert_eq!(p.on_block_received(unaligned), BlockArrival::Unexpected);
        p.on_request_dropped(bogus);
        p.on_piece_failed(u32::MAX);
        p.on_piece_verified(u32::MAX);
        p.pick(&Bitfield::new(0), 5, |_| false, &mut Vec::new());
        check(&p);
    }

    #[test]
    fn sixty_five_thousand_pieces_complete() {
        let n = 65_536;
        let l = small(n);
        let mut p = Picker::new(l, &Bitfield::new(n), 42);
        let seed = Bitfield::full(n);
        p.add_peer_bitfield(&seed);
        let mut out = Vec::new();
        let mut rounds = 0;
        while p.pieces_left() > 0 {
            rounds += 1;
            assert!(rounds <= n, "no progress");
            out.clear();
            p.pick(&seed, 64, |_| false, &mut out);
            for b in &out {
                if p.on_block_received(*b)
                    == (BlockArrival::New {
                        piece_complete: true,
                    })
                {
                    p.on_piece_verified(b.piece);
                }
            }
        }
        assert!(p.have().is_full());
        assert!(p.partials.is_empty() && p.open.is_empty() && p.rarity.order.is_empty());
    }

    /// Random peers, drops, failures and haves; every invariant checked as it goes.
    #[test]
    fn random_swarm_keeps_invariants_and_completes() {
        for seed in 0..40 {
            random_swarm(seed);
        }
    }

    fn random_swarm(seed: u64) {
        let l = Layout::new(3 * BLOCK_SIZE, 40 * u64::from(BLOCK_SIZE) + 100).unwrap();
        let n = l.num_pieces();
        let mut rng = SplitMix64(seed);
        let mut p = Picker::new(l, &Bitfield::new(n), 5);
        let mut peers: Vec<(Bitfield, HashSet<BlockRef>)> = (0..4)
            .map(|i| {
                let mut has = Bitfield::new(n);
                for piece in 0..n {
                    if i == 0 || rng.next_u64() % 2 == 0 {
                        has.set(piece);
                    }
                }
                p.add_peer_bitfield(&has);
                (has, HashSet::new())
            })
            .collect();
        let mut steps = 0;
        while p.pieces_left() > 0 {
            steps += 1;
            assert!(steps < 100_000, "no progress");
            let who = (rng.next_u64() % 4) as usize;
            let (has, mine) = &mut peers[who];
            match rng.next_u64() % 10 {
                0..=3 => {
                    let got = pick(&mut p, has, 1 + (rng.next_u64() % 6) as usize, mine);
                    for b in got {
                        assert!(has.get(b.piece) && !p.have().get(b.piece));
                        assert!(mine.insert(b), "same block twice to one peer");
                    }
                }
                4..=7 => {
                    let Some(&b) = mine.iter().next() else {
                        continue;
                    };
                    mine.remove(&b);
                    if p.on_block_received(b)
                        == (BlockArrival::New {
                            piece_complete: true,
                        })
                    {
                        if rng.next_u64() % 5 == 0 {
                            p.on_piece_failed(b.piece);
                        } else {
                            p.on_piece_verified(b.piece);
                        }
                    }
                }
                8 => {
                    let Some(&b) = mine.iter().next() else {
                        continue;
                    };
                    mine.remove(&b);
                    p.on_request_dropped(b);
                }
                _ => {
                    let piece = (rng.next_u64() % u64::from(n)) as u32;
                    if has.set(piece) {
                        p.add_peer_have(piece);
                    }
                }
            }
            let mut count: HashMap<BlockRef, usize> = HashMap::new();
            for (_, mine) in &peers {
                for b in mine {
                    *count.entry(*b).or_default() += 1;
                }
            }
            let limit = if p.is_endgame() {
                ENDGAME_MAX_DUP as usize
            } else {
                1
            };
            assert!(count.values().all(|&c| c <= limit));
            check(&p);
        }
        assert!(p.have().is_full());
    }
    /// The bucketed order stays sorted and indexed through random moves and removals.
    #[test]
    fn rarity_order_survives_random_operations() {
        let mut rng = SplitMix64(1);
        for _ in 0..200 {
            let n = 1 + (rng.next_u64() % 20) as u32;
            let mut r = Rarity::new(n, &Bitfield::new(n), &mut rng);
            for _ in 0..200 {
                let p = (rng.next_u64() % u64::from(n)) as u32;
                match rng.next_u64() % 8 {
                    0..=3 => r.inc(p),
                    4..=6 => r.dec(p),
                    _ => r.remove(p),
                }
                check_rarity(&r);
            }
        }
    }
}
