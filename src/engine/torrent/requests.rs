//! The download side of a torrent: keeping each peer's request pipeline full, and acting on the
//! disk pool's answers (verified, failed, checked, read).
//!
//! Part of the sans-IO torrent core (reactor thread); see the parent module.

use std::time::{Duration, Instant};

use super::phase::{Phase, Resume, TorrentError};
use super::timers::{Timer, SHORT};
use super::{PartialPiece, TorrentCore, CHECKS_IN_FLIGHT};
use crate::engine::io::{Action, ConnId, DiskDone, DiskRequest, Event};
use crate::engine::peer::{Peer, PeerError};
use crate::engine::Outputs;
use crate::wire::{self, Message};

/// How long a peer not interested in us may wait for our `have`s. They only matter to it
/// for deciding to become interested, and a second's delay costs nothing there.
const IDLE_HAVES_EVERY: Duration = Duration::from_secs(1);

/// Queues a `have` for each of `pieces` that `peer` lacks.
fn send_haves_to(peer: &mut Peer, pieces: &[u32], now: Instant, conn: ConnId, out: &mut Outputs) {
    let mut sent = false;
    for &piece in pieces {
        if !peer.has.get(piece) {
            peer.send(&Message::Have { index: piece }, now);
            sent = true;
        }
    }
    if sent {
        out.dirty.push(conn);
    }
}

impl TorrentCore {
    /// Tops up the request pipeline of `conn` to the depth its rate deserves.
    pub(crate) fn fill_requests(&mut self, conn: ConnId, now: Instant, out: &mut Outputs) {
        if !self.is_downloading() {
            return;
        }
        let Some(peer) = self.peers.get(&conn) else {
            return;
        };
        if !peer.am_interested {
            return;
        }
        // A peer that chokes us may still serve its allowed-fast pieces (BEP 6).
        let allowed = if peer.peer_choking {
            match self.allowed_fast_mask(conn) {
                Some(mask) => Some(mask),
                None => return,
            }
        } else {
            None
        };
        let target = peer.pipeline_target(self.cfg.pipeline_floor, self.cfg.pipeline_cap);
        let room = target.saturating_sub(peer.in_flight.len());
        if room == 0 {
            return;
        }
        // Download limits pace the requests: a block not asked for is a block not sent.
        let room = match self.download_allowance(now, out) {
            Some(blocks) => room.min(blocks),
            None => room,
        };
        if room == 0 {
            return;
        }
        self.set_pick_budget(out);
        let mut picks = std::mem::take(&mut self.scratch);
        picks.clear();
        let masked = match (self.solo_mask(conn), allowed) {
            (Some(mut solo), Some(allowed)) => {
                for p in 0..solo.len() {
                    if !allowed.get(p) {
                        solo.clear(p);
                    }
                }
                Some(solo)
            }
            (solo, allowed) => solo.or(allowed),
        };
        let Some(peer) = self.peers.get(&conn) else {
            return;
        };
        let has = masked.as_ref().unwrap_or(&peer.has);
        self.picker
            .pick(has, room, |b| peer.is_in_flight(b), &mut picks);
        for b in &picks {
            self.ensure_buffer(b.piece, out);
        }
        if let Some(peer) = self.peers.get_mut(&conn) {
            for b in &picks {
                peer.in_flight.push((*b, now));
                peer.send(
                    &Message::Request {
                        index: b.piece,
                        begin: b.begin,
                        length: b.length,
                    },
                    now,
                );
            }
        }
        if !picks.is_empty() {
            let bytes = picks.iter().map(|b| u64::from(b.length)).sum();
            self.spend_download(bytes, out);
            out.dirty.push(conn);
            self.note_request(conn, now);
            self.arm_refill(now);
        }
        self.scratch = picks;
    }

    /// Tells the picker how many new pieces the buffer budgets allow. The budget bounds memory:
    /// no new piece starts while it is spent, but pieces already started keep going, so the
    /// budget can never deadlock the download.
    pub(super) fn set_pick_budget(&mut self, out: &mut Outputs) {
        let piece_len = (self.layout.piece_length() as usize).max(1);
        let own_budget = self.buffer_budget();
        // Neither budget cuts below two pieces: one can download while the previous is hashed.
        let session_budget = self.cfg.session_piece_buffer_bytes.max(2 * piece_len);
        let own_free = own_budget.saturating_sub(self.buffered_bytes);
        let session_free = session_budget.saturating_sub(out.buffers.live);
        if session_free < piece_len && own_free >= piece_len {
            // Held back by other torrents: the engine refills us when they free buffers.
            out.buffers.starved = true;
        }
        let free = own_free.min(session_free);
        self.picker.set_new_piece_budget(free / piece_len);
    }

    /// Bytes this torrent may hold in piece buffers: the configured budget, but never less than
    /// two pieces, so one piece can download while the previous one is hashed even when pieces
    /// are larger than the budget.
    fn buffer_budget(&self) -> usize {
        let two_pieces = 2 * self.layout.piece_length() as usize;
        self.cfg.piece_buffer_bytes.max(two_pieces)
    }

    pub(super) fn ensure_buffer(&mut self, piece: u32, out: &mut Outputs) {
        if self.partial.contains_key(&piece) {
            return;
        }
        let len = self.layout.piece_len(piece) as usize;
        let data = out.buffers.take(len);
        self.buffered_bytes += len;
        out.buffers.live += len;
        self.partial.insert(
            piece,
            PartialPiece {
                data,
                senders: vec![None; self.layout.num_blocks(piece) as usize],
            },
        );
    }

    /// Starts as many disk checks as the recheck may have in flight, and leaves the checking
    /// phase when the last answer is in.
    pub(crate) fn start_checks(&mut self, now: Instant, out: &mut Outputs) {
        let Phase::Checking(recheck) = &mut self.phase else {
            return;
        };
        let n = self.layout.num_pieces();
        while recheck.in_flight < CHECKS_IN_FLIGHT {
            let Some(piece) = recheck.take_next() else {
                break;
            };
            out.actions.push_back(Action::Disk(DiskRequest::Check {
                torrent: self.id,
                piece,
            }));
            recheck.in_flight += 1;
        }
        if recheck.in_flight > 0 || recheck.has_more() {
            self.arm_sample(now);
            return;
        }
        self.phase = self.active_phase();
        // What the check found (and new file stamps) is worth recording at once.
        self.want_checkpoint(out);
        out.actions.push_back(Action::Event(Event::Checked {
            torrent: self.id,
            pieces_have: self.picker.have().count(),
            pieces_total: n,
        }));
        if matches!(self.phase, Phase::Seeding) {
            out.actions
                .push_back(Action::Event(Event::Completed { torrent: self.id }));
        }
        // No announce was scheduled while checking: without this a checked torrent with no
        // other timer never announced.
        self.maybe_announce(now, out);
        self.fill_web_seeds(now, out);
    }

    /// Reports what a torrent that starts without a check knows (its pieces came from resume
    /// state): the pieces it has, as a check would, and completion when that is all of them.
    pub(crate) fn report_start(&mut self, out: &mut Outputs) {
        if matches!(self.phase, Phase::Checking(_)) || self.picker.have().count() == 0 {
            return;
        }
        out.actions.push_back(Action::Event(Event::Checked {
            torrent: self.id,
            pieces_have: self.picker.have().count(),
            pieces_total: self.layout.num_pieces(),
        }));
        if matches!(self.phase, Phase::Seeding) {
            out.actions
                .push_back(Action::Event(Event::Completed { torrent: self.id }));
        }
    }

    /// An answer from the disk pool.
    pub fn handle_disk(&mut self, done: DiskDone, now: Instant, out: &mut Outputs) {
        match done {
            DiskDone::Verified {
                piece, ok, buffer, ..
            } => self.on_verified(piece, ok, buffer, now, out),
            DiskDone::WriteFailed { error, piece, .. } => {
                let error = std::sync::Arc::new(error);
                self.fail(TorrentError::Write { piece, error }, now, out)
            }
            DiskDone::Checked { piece, ok, .. } => {
                // A check answered while paused still counts; the next ones wait for resume.
                let Some(recheck) = self.phase.recheck_mut() else {
                    return;
                };
                recheck.in_flight = recheck.in_flight.saturating_sub(1);
                self.totals.checked += 1;
                if ok {
                    self.picker.on_piece_verified(piece);
                }
                self.start_checks(now, out);
            }
            DiskDone::Checkpointed { serial, result, .. } => {
                self.on_checkpointed(serial, result.map(drop), now, out)
            }
            DiskDone::Read {
                conn,
                piece,
                begin,
                data,
                ..
            } => self.on_read(conn, piece, begin, data, now, out),
        }
    }

    fn on_read(
        &mut self,
        conn: ConnId,
        piece: u32,
        begin: u32,
        data: Result<Vec<u8>, crate::disk::StorageError>,
        now: Instant,
        out: &mut Outputs,
    ) {
        let Some(peer) = self.peers.get_mut(&conn) else {
            return;
        };
        peer.reads_in_flight = peer.reads_in_flight.saturating_sub(1);
        match data {
            // While we choke the peer, only its allowed-fast pieces go out.
            Ok(bytes) if !peer.am_choking || peer.ext.granted_fast.contains(&piece) => {
                let len = bytes.len() as u32;
                // The payload goes out from the disk's buffer as it is (a vectored write).
                peer.out
                    .encode_with(|b| wire::encode_piece_header(piece, begin, len, b));
                peer.out.push_owned(bytes);
                peer.last_send = now;
                peer.up.add(u64::from(len));
                self.totals.uploaded += u64::from(len);
                self.totals.up_rate.add(u64::from(len));
                self.arm_sample(now);
                out.dirty.push(conn);
            }
            Ok(_) => {}
            Err(e) => {
                // The data is gone under us (file truncated or removed, disk error): serving
                // from it would send garbage, so the torrent stops with the reason.
                let why = TorrentError::Storage(format!("reading piece {piece} failed: {e}"));
                return self.fail(why, now, out);
            }
        }
        self.pump_uploads(conn, now, out);
    }

    fn on_verified(
        &mut self,
        piece: u32,
        ok: bool,
        buffer: Vec<u8>,
        now: Instant,
        out: &mut Outputs,
    ) {
        let senders = self
            .partial
            .remove(&piece)
            .map(|p| p.senders)
            .unwrap_or_default();
        let len = self.layout.piece_len(piece) as usize;
        self.buffered_bytes = self.buffered_bytes.saturating_sub(len);
        out.buffers.live = out.buffers.live.saturating_sub(len);
        if ok {
            self.picker.on_piece_verified(piece);
            self.note_verified(now);
            self.blame_verified(piece, &buffer, now, out);
            self.announce_have(piece, now, out);
        } else {
            log::warn!(
                "torrent {}: piece {piece} failed its hash check",
                self.log_name()
            );
            self.totals.hash_failures += 1;
            self.picker.on_piece_failed(piece);
            self.blame_failed(piece, &buffer, &senders, now, out);
        }
        // Spares, shared by all torrents, stay within the session's budget.
        out.buffers
            .give(buffer, self.cfg.session_piece_buffer_bytes);

        if self.is_downloading() && self.picker.pieces_left() == 0 {
            self.complete(now, out);
        }
        self.refill(now, out);
    }

    /// Tops up every peer that can take requests: those we want data from that let us request.
    /// Per-piece work that visited every peer was most of the engine's time with a thousand
    /// idle peers.
    pub(crate) fn refill(&mut self, now: Instant, out: &mut Outputs) {
        let ready: Vec<ConnId> = self
            .interesting
            .iter()
            .copied()
            .filter(|c| self.peers.get(c).is_some_and(|p| !p.peer_choking))
            .collect();
        for conn in ready {
            self.fill_requests(conn, now, out);
        }
        self.fill_web_seeds(now, out);
    }

    /// Records that we have `piece` and re-evaluates our interest in the peers that have it
    /// (all among the peers we are interested in).
    fn announce_have(&mut self, piece: u32, now: Instant, out: &mut Outputs) {
        let wanted = self.picker.is_wanted(piece);
        let holders: Vec<ConnId> = self
            .interesting
            .iter()
            .copied()
            .filter(|c| self.peers.get(c).is_some_and(|p| p.has.get(piece)))
            .collect();
        for conn in holders {
            if let Some(peer) = self.peers.get_mut(&conn).filter(|_| wanted) {
                // A peer that has it needs no `have`; it is one piece less we want from it.
                peer.wanted = peer.wanted.saturating_sub(1);
            }
            self.update_interest(conn, now, out);
        }
        // The `have`s themselves go out in batches (`flush_haves`): one write per peer per
        // 100 ms at most, instead of one per peer per piece.
        self.haves.push(piece);
        // At most one batch per 100 ms: due at once when the last went out longer ago.
        self.timers
            .arm(Timer::Haves as usize, self.last_haves + SHORT);
    }

    /// Sends the `have`s peers have not heard yet: to peers interested in us every call (the
    /// `Haves` timer, 100 ms after a piece verifies), to the rest at most every
    /// `IDLE_HAVES_EVERY`; the timer stays armed until every peer heard everything.
    pub(super) fn flush_haves(&mut self, now: Instant, out: &mut Outputs) {
        let end = self.haves.end();
        self.last_haves = now;
        let idle_due = now.saturating_duration_since(self.last_idle_haves) >= IDLE_HAVES_EVERY;
        if idle_due {
            self.last_idle_haves = now;
        }
        let mut oldest = end;
        for (&conn, peer) in self.peers.iter_mut() {
            if peer.haves_sent < end && (peer.peer_interested || idle_due) {
                send_haves_to(peer, self.haves.since(peer.haves_sent), now, conn, out);
                peer.haves_sent = end;
            }
            oldest = oldest.min(peer.haves_sent);
        }
        self.haves.trim(oldest);
        if oldest < end {
            let idle_at = self.last_idle_haves + IDLE_HAVES_EVERY;
            self.timers.arm(Timer::Haves as usize, idle_at);
        }
    }

    /// Sends `conn` every `have` it has not heard yet, now.
    pub(super) fn send_haves(&mut self, conn: ConnId, now: Instant, out: &mut Outputs) {
        let end = self.haves.end();
        if let Some(peer) = self.peers.get_mut(&conn) {
            if peer.haves_sent < end {
                send_haves_to(peer, self.haves.since(peer.haves_sent), now, conn, out);
                peer.haves_sent = end;
            }
        }
    }

    pub(super) fn complete(&mut self, now: Instant, out: &mut Outputs) {
        log::info!("torrent {}: download complete", self.log_name());
        self.phase = Phase::Seeding;
        self.announcer.completed();
        out.actions
            .push_back(Action::Disk(DiskRequest::Release { torrent: self.id }));
        // A complete torrent restarts without reading its data only once this is recorded.
        self.want_checkpoint(out);
        out.actions
            .push_back(Action::Event(Event::Completed { torrent: self.id }));
        let conns: Vec<ConnId> = self.peers.keys().copied().collect();
        for conn in conns {
            // With files skipped we lack pieces a seed has: it stays, for a later change.
            let seed =
                self.picker.have().is_full() && self.peers.get(&conn).is_some_and(|p| p.is_seed());
            if seed {
                self.drop_peer(conn, PeerError::BothSeeds, now, out);
            } else {
                self.update_interest(conn, now, out);
            }
        }
    }

    /// Stops the torrent on an error it cannot recover from.
    pub(crate) fn fail(&mut self, error: TorrentError, now: Instant, out: &mut Outputs) {
        if matches!(self.phase, Phase::Failed(_)) {
            return;
        }
        log::error!("torrent {}: {error}", self.log_name());
        let message = error.to_string();
        self.phase = Phase::Failed(error);
        self.close_all(PeerError::Shutdown, now, out);
        self.abandon_web_jobs();
        out.actions.push_back(Action::Event(Event::Failed {
            torrent: self.id,
            error: message,
        }));
    }

    /// Pauses in any phase but failed: every peer is dropped, nothing is dialled or announced,
    /// and a recheck stops starting new checks, until [`Self::resume`].
    pub fn pause(&mut self, now: Instant, out: &mut Outputs) {
        if matches!(self.phase, Phase::Paused(_) | Phase::Failed(_)) {
            return;
        }
        self.close_all(PeerError::Shutdown, now, out);
        self.abandon_web_jobs();
        let resume = match std::mem::replace(&mut self.phase, Phase::Preparing) {
            Phase::Checking(r) => Resume::Checking(r),
            Phase::FetchingMetadata(fetch) => Resume::Fetching(fetch),
            Phase::Preparing => Resume::Preparing,
            _ => Resume::Active,
        };
        self.phase = Phase::Paused(resume);
        if self.checkpoint.is_dirty() {
            self.want_checkpoint(out);
        }
    }

    /// Resumes a paused torrent where it stopped; known peers are dialled at once (a pause is
    /// never counted against them).
    pub fn resume(&mut self, now: Instant, out: &mut Outputs) {
        if !matches!(self.phase, Phase::Paused(_)) {
            return;
        }
        let Phase::Paused(resume) = std::mem::replace(&mut self.phase, Phase::Preparing) else {
            return;
        };
        self.phase = match resume {
            Resume::Checking(r) => Phase::Checking(r),
            Resume::Fetching(fetch) => Phase::FetchingMetadata(fetch),
            Resume::Preparing => Phase::Preparing,
            Resume::Active => self.active_phase(),
        };
        self.dialer.reset_backoff(now);
        self.start_checks(now, out);
        self.fill_web_seeds(now, out);
        self.arm_sample(now);
        self.maybe_announce(now, out);
    }

    /// Drops every peer. Partial pieces stay, to be finished after a resume.
    pub(crate) fn close_all(&mut self, why: PeerError, now: Instant, out: &mut Outputs) {
        let conns: Vec<ConnId> = self.peers.keys().copied().collect();
        for conn in conns {
            self.drop_peer(conn, why.clone(), now, out);
        }
        self.dialer.cancel_dials();
    }
}
