//! The wire side of a torrent: decoding a peer's frames and acting on each message (choke,
//! interest, bitfields and haves, requests to serve, blocks to store).
//!
//! Part of the sans-IO torrent core (reactor thread); see the parent module.

use std::net::SocketAddr;
use std::time::Instant;

use super::{TorrentCore, MAX_KEEPALIVES, READS_PER_PEER};
use crate::bitfield::Bitfield;
use crate::engine::io::{Action, ConnId, DiskRequest};
use crate::engine::peer::{PeerError, Upload};
use crate::engine::Outputs;
use crate::layout::BlockRef;
use crate::picker::BlockArrival;
use crate::wire::{self, Message};

/// Tells a Fast-extension peer that we will not serve `up` (BEP 6); others hear nothing.
pub(super) fn reject(
    peer: &mut crate::engine::peer::Peer,
    up: &Upload,
    now: Instant,
    out: &mut Outputs,
    conn: ConnId,
) {
    if !peer.ext.fast {
        return;
    }
    peer.send(
        &Message::RejectRequest {
            index: up.piece,
            begin: up.begin,
            length: up.length,
        },
        now,
    );
    out.dirty.push(conn);
}

impl TorrentCore {
    /// Bytes arrived from `conn`: decode every complete frame, keep the rest for later.
    pub fn handle_data(&mut self, conn: ConnId, mut data: &[u8], now: Instant, out: &mut Outputs) {
        let Some(peer) = self.peers.get_mut(&conn) else {
            return;
        };
        peer.last_recv = now;
        let mut pending = std::mem::take(&mut peer.inbuf);
        self.arm_sample(now);
        // Finish a frame that an earlier read split, taking only the bytes it still needs.
        while !pending.is_empty() {
            match wire::decode_frame(&pending, self.max_frame) {
                Ok(Some((msg, used))) => {
                    debug_assert_eq!(used, pending.len());
                    self.handle_message(conn, msg, now, out);
                    pending.clear();
                }
                Ok(None) if data.is_empty() => break,
                Ok(None) => {
                    let need = wire::frame_len(&pending).unwrap_or(4);
                    let take = need.saturating_sub(pending.len()).min(data.len()).max(1);
                    pending.extend_from_slice(&data[..take]);
                    data = &data[take..];
                }
                Err(e) => return self.drop_peer(conn, PeerError::Wire(e), now, out),
            }
            if !self.peers.contains_key(&conn) {
                return;
            }
        }
        // Then decode straight from the read buffer: no copy for whole frames.
        loop {
            match wire::decode_frame(data, self.max_frame) {
                Ok(Some((msg, used))) => {
                    self.handle_message(conn, msg, now, out);
                    data = &data[used..];
                    if !self.peers.contains_key(&conn) {
                        return;
                    }
                }
                Ok(None) => break,
                Err(e) => return self.drop_peer(conn, PeerError::Wire(e), now, out),
            }
        }
        pending.extend_from_slice(data);
        if let Some(peer) = self.peers.get_mut(&conn) {
            peer.inbuf = pending;
        }
        self.fill_requests(conn, now, out);
    }

    pub(super) fn handle_message(
        &mut self,
        conn: ConnId,
        msg: Message<'_>,
        now: Instant,
        out: &mut Outputs,
    ) {
        let Some(peer) = self.peers.get_mut(&conn) else {
            return;
        };
        let first = !peer.got_message;
        // The extension handshake and `port` may precede the bitfield: libtorrent sends its
        // extension handshake first, then `have all` (BEP 6 requires that to come "first").
        if !matches!(msg, Message::Extended { .. } | Message::Port(_)) {
            peer.got_message = true;
        }
        if matches!(msg, Message::KeepAlive) {
            peer.keepalives += 1;
            if peer.keepalives > MAX_KEEPALIVES {
                self.drop_peer(conn, PeerError::KeepAliveFlood, now, out);
            }
            return;
        }
        peer.keepalives = 0;
        let fast = peer.ext.fast;
        if !self.phase.has_metadata() {
            if let Some(result) = self.before_metadata(conn, &msg, fast, first) {
                if let Err(e) = result {
                    self.drop_peer(conn, e, now, out);
                }
                return;
            }
        }
        let Some(peer) = self.peers.get_mut(&conn) else {
            return;
        };
        let result = match msg {
            Message::Choke => {
                self.on_choked(conn);
                Ok(())
            }
            Message::Unchoke => {
                peer.peer_choking = false;
                self.arm_refill(now);
                Ok(())
            }
            Message::Interested => {
                peer.peer_interested = true;
                // It hears `have`s every tick from now on; first what it missed meanwhile.
                self.send_haves(conn, now, out);
                self.unchoke_if_slot_free(conn, now, out);
                Ok(())
            }
            Message::NotInterested => {
                peer.peer_interested = false;
                Ok(())
            }
            Message::Have { index } => self.on_have(conn, index, now, out),
            Message::Bitfield(bytes) if first => self.on_bitfield(conn, bytes, now, out),
            Message::Bitfield(bytes) => self.on_late_bitfield(conn, bytes, now, out),
            Message::Request {
                index,
                begin,
                length,
            } => self.on_request(
                conn,
                Upload {
                    piece: index,
                    begin,
                    length,
                },
                now,
                out,
            ),
            Message::Piece { index, begin, data } => {
                self.on_block(conn, index, begin, data, now, out)
            }
            Message::Cancel {
                index,
                begin,
                length,
            } => {
                let up = Upload {
                    piece: index,
                    begin,
                    length,
                };
                peer.upload_queue.retain(|u| *u != up);
                Ok(())
            }
            Message::HaveAll if fast && first => {
                let full = Bitfield::full(self.layout.num_pieces());
                self.on_bitfield(conn, full.as_bytes(), now, out)
            }
            Message::HaveNone if fast && first => Ok(()),
            Message::RejectRequest {
                index,
                begin,
                length,
            } if fast => {
                let b = BlockRef {
                    piece: index,
                    begin,
                    length,
                };
                self.on_rejected(conn, b, now, out);
                Ok(())
            }
            Message::AllowedFast { index } if fast => self.on_allowed_fast(conn, index, now, out),
            // A hint we may follow; rarest-first is as good a choice, so it is only accepted.
            Message::SuggestPiece { .. } if fast => Ok(()),
            Message::HaveAll
            | Message::HaveNone
            | Message::RejectRequest { .. }
            | Message::AllowedFast { .. }
            | Message::SuggestPiece { .. } => Err(PeerError::FastViolation),
            Message::Extended { id, payload } => self.on_extended(conn, id, payload, now, out),
            // BEP 5: the peer's DHT node; the engine's discovery decides what to do with it.
            Message::Port(port) => {
                out.dht_nodes
                    .push((self.id, SocketAddr::new(peer.addr.ip(), port)));
                Ok(())
            }
            Message::KeepAlive | Message::Unknown { .. } => Ok(()),
        };
        if let Err(e) = result {
            self.drop_peer(conn, e, now, out);
        }
    }

    fn on_choked(&mut self, conn: ConnId) {
        self.release_solo(conn);
        let Some(peer) = self.peers.get_mut(&conn) else {
            return;
        };
        peer.peer_choking = true;
        if peer.ext.fast {
            // BEP 6: a choke voids nothing; the peer rejects what it will not serve.
            return;
        }
        // Without the fast extension a choke voids every request; data already sent may still come.
        for (b, _) in std::mem::take(&mut peer.in_flight) {
            peer.remember_cancelled(b);
            self.picker.on_request_dropped(b);
        }
    }

    fn parse_bitfield(&self, bytes: &[u8]) -> Result<Bitfield, PeerError> {
        Bitfield::from_bytes(bytes, self.layout.num_pieces()).map_err(PeerError::BadBitfield)
    }

    pub(super) fn on_bitfield(
        &mut self,
        conn: ConnId,
        bytes: &[u8],
        now: Instant,
        out: &mut Outputs,
    ) -> Result<(), PeerError> {
        let bf = self.parse_bitfield(bytes)?;
        let wanted = self.wanted_from(&bf);
        let full_seed = self.is_full_seed();
        self.picker.add_peer_bitfield(&bf);
        let peer = self.peers.get_mut(&conn).ok_or(PeerError::Shutdown)?;
        // The bitfield replaces the empty set assumed at the handshake; haves cannot precede it.
        peer.has = bf;
        peer.wanted = wanted;
        if peer.is_seed() && full_seed {
            return Err(PeerError::BothSeeds);
        }
        self.update_interest(conn, now, out);
        Ok(())
    }

    /// A bitfield after other messages: BEP 3 does not allow it, but aria2 sends one instead of a
    /// batch of `have`s, and mainstream clients accept it. New bits count as haves; a peer cannot
    /// lose pieces, so cleared bits are ignored.
    fn on_late_bitfield(
        &mut self,
        conn: ConnId,
        bytes: &[u8],
        now: Instant,
        out: &mut Outputs,
    ) -> Result<(), PeerError> {
        let bf = self.parse_bitfield(bytes)?;
        let had = &self.peers.get(&conn).ok_or(PeerError::Shutdown)?.has;
        let new: Vec<u32> = bf.iter_ones().filter(|&i| !had.get(i)).collect();
        for index in new {
            self.on_have(conn, index, now, out)?;
        }
        Ok(())
    }

    pub(super) fn on_have(
        &mut self,
        conn: ConnId,
        index: u32,
        now: Instant,
        out: &mut Outputs,
    ) -> Result<(), PeerError> {
        if index >= self.layout.num_pieces() {
            return Err(PeerError::PieceOutOfRange(index));
        }
        let we_want = !self.picker.have().get(index) && self.picker.is_wanted(index);
        let full_seed = self.is_full_seed();
        let peer = self.peers.get_mut(&conn).ok_or(PeerError::Shutdown)?;
        if !peer.has.set(index) {
            return Ok(());
        }
        if we_want {
            peer.wanted += 1;
        }
        self.picker.add_peer_have(index);
        if peer.is_seed() && full_seed {
            return Err(PeerError::BothSeeds);
        }
        self.update_interest(conn, now, out);
        Ok(())
    }

    /// Sends interested / not interested when our wish for this peer's pieces changed.
    pub(super) fn update_interest(&mut self, conn: ConnId, now: Instant, out: &mut Outputs) {
        let downloading = self.is_downloading();
        let Some(peer) = self.peers.get_mut(&conn) else {
            return;
        };
        let want = downloading && peer.wanted > 0;
        if want != peer.am_interested {
            peer.am_interested = want;
            if want {
                self.interesting.insert(conn);
            } else {
                self.interesting.remove(&conn);
            }
            let msg = if want {
                Message::Interested
            } else {
                Message::NotInterested
            };
            peer.send(&msg, now);
            out.dirty.push(conn);
        }
    }

    fn on_request(
        &mut self,
        conn: ConnId,
        up: Upload,
        now: Instant,
        out: &mut Outputs,
    ) -> Result<(), PeerError> {
        if up.piece >= self.layout.num_pieces() {
            return Err(PeerError::PieceOutOfRange(up.piece));
        }
        if !self.layout.is_servable_range(up.piece, up.begin, up.length) {
            return Err(PeerError::BadRequest {
                index: up.piece,
                begin: up.begin,
                length: up.length,
            });
        }
        let have = self.picker.have().get(up.piece);
        let peer = self.peers.get_mut(&conn).ok_or(PeerError::Shutdown)?;
        // Requests while choked (except for the allowed-fast pieces we granted), or for pieces
        // we lack, are ignored (BEP 3 has no reject) or, with the Fast extension, rejected; an
        // honest peer sends at most a pipeline's worth after our choke, a flood gets it dropped.
        let choked = peer.am_choking && !peer.ext.granted_fast.contains(&up.piece);
        if choked || !have {
            peer.ignored_requests += 1;
            if peer.ignored_requests as usize > self.cfg.max_upload_queue {
                return Err(PeerError::RequestFlood);
            }
            reject(peer, &up, now, out, conn);
            return Ok(());
        }
        if peer.upload_queue.len() >= self.cfg.max_upload_queue {
            reject(peer, &up, now, out, conn);
            // A full queue ignores the request rather than dropping the peer: transmission, told
            // no `reqq`, keeps more requests queued than we allow and was dropped again and
            // again. Only overflow that outruns what we serve (each block served forgives one)
            // is a flood.
            peer.overflow_requests += 1;
            if peer.overflow_requests as usize > self.cfg.max_upload_queue {
                return Err(PeerError::RequestFlood);
            }
            return Ok(());
        }
        peer.upload_queue.push_back(up);
        self.pump_uploads(conn, now, out);
        Ok(())
    }

    /// Starts disk reads for queued requests while the peer's send buffer has room and the
    /// upload limits (the torrent's and the session's) have tokens.
    pub fn pump_uploads(&mut self, conn: ConnId, now: Instant, out: &mut Outputs) {
        let limit = self.cfg.send_buffer_bytes;
        loop {
            let Some(peer) = self.peers.get(&conn) else {
                return;
            };
            if peer.reads_in_flight >= READS_PER_PEER
                || peer.out.len() >= limit
                || peer.upload_queue.is_empty()
            {
                return;
            }
            if !self.upload_allowed(now, out) {
                // A timer restarts the queue when the buckets have tokens again.
                return self.arm_upload_tokens(now, out);
            }
            let Some(peer) = self.peers.get_mut(&conn) else {
                return;
            };
            let Some(up) = peer.upload_queue.pop_front() else {
                return;
            };
            peer.overflow_requests = peer.overflow_requests.saturating_sub(1);
            peer.reads_in_flight += 1;
            self.up_limit.spend(u64::from(up.length));
            out.rates.up.spend(u64::from(up.length));
            out.actions.push_back(Action::Disk(DiskRequest::Read {
                torrent: self.id,
                conn,
                piece: up.piece,
                begin: up.begin,
                length: up.length,
            }));
        }
    }

    fn on_block(
        &mut self,
        conn: ConnId,
        index: u32,
        begin: u32,
        data: &[u8],
        now: Instant,
        out: &mut Outputs,
    ) -> Result<(), PeerError> {
        let length = u32::try_from(data.len()).unwrap_or(u32::MAX);
        if !self.layout.is_valid_block(index, begin, length) {
            return Err(PeerError::BadBlock {
                index,
                begin,
                length,
            });
        }
        let b = BlockRef {
            piece: index,
            begin,
            length,
        };
        let peer = self.peers.get_mut(&conn).ok_or(PeerError::Shutdown)?;
        if !peer.take_in_flight(&b) {
            if peer.take_cancelled(&b) {
                return Ok(());
            }
            return Err(PeerError::UnrequestedBlock { index, begin });
        }
        peer.down.add(u64::from(length));
        peer.growth.on_block();
        peer.last_block = now;
        peer.snubbed = false;
        let addr = peer.addr;
        self.totals.down_rate.add(u64::from(length));
        if self
            .solo
            .get(&index)
            .is_some_and(|owner| *owner != Some(super::Taker::Peer(conn)))
        {
            // A late block of a piece now fetched from one peer only: mixing senders again would
            // blur the blame, so this copy is dropped.
            self.picker.on_request_dropped(b);
            return Ok(());
        }
        match self.picker.on_block_received(b) {
            BlockArrival::New { piece_complete } => {
                self.totals.downloaded += u64::from(length);
                self.store_block(b, super::Source::Peer(addr), data);
                self.cancel_duplicates(Some(conn), b, now, out);
                if piece_complete {
                    self.submit_piece(index, out);
                }
            }
            BlockArrival::Duplicate | BlockArrival::Unexpected => {}
        }
        Ok(())
    }

    pub(super) fn store_block(&mut self, b: BlockRef, from: super::Source, data: &[u8]) {
        let Some(piece) = self.partial.get_mut(&b.piece) else {
            return;
        };
        let start = b.begin as usize;
        if let Some(dst) = piece.data.get_mut(start..start + data.len()) {
            dst.copy_from_slice(data);
        }
        if let Some(s) = piece.senders.get_mut(b.block_index() as usize) {
            *s = Some(from);
        }
    }

    /// End-game: the block came from one peer (or a web seed: `None`), so the same request at
    /// other peers is cancelled.
    pub(super) fn cancel_duplicates(
        &mut self,
        from: Option<ConnId>,
        b: BlockRef,
        now: Instant,
        out: &mut Outputs,
    ) {
        if !self.picker.is_endgame() {
            return;
        }
        for (&conn, peer) in self.peers.iter_mut() {
            if Some(conn) != from && peer.take_in_flight(&b) {
                peer.cancel_request(b, now);
                self.picker.on_request_dropped(b);
                out.dirty.push(conn);
            }
        }
    }

    pub(super) fn submit_piece(&mut self, piece: u32, out: &mut Outputs) {
        let Some(p) = self.partial.get_mut(&piece) else {
            return;
        };
        let data = std::mem::take(&mut p.data);
        out.actions.push_back(Action::Disk(DiskRequest::Verify {
            torrent: self.id,
            piece,
            data,
        }));
    }
}
