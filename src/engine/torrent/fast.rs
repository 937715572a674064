//! The Fast extension (BEP 6) on a torrent's peers: `reject` answers for requests we will not
//! serve and from peers that will not serve ours, `allowed fast` pieces we may request while
//! choked and those we let a peer request while we choke it, and `have all` / `have none` in
//! place of a bitfield.
//!
//! Part of the sans-IO torrent core (reactor thread); see the parent module. Only peers whose
//! handshake set the Fast bit (and ours always does) get or may send these messages; anyone
//! else sending them is dropped as a protocol violation.

use std::net::IpAddr;
use std::time::Instant;

use super::TorrentCore;
use crate::bitfield::Bitfield;
use crate::engine::io::ConnId;
use crate::engine::peer::{Peer, PeerError, MAX_ALLOWED_FAST};
use crate::engine::Outputs;
use crate::ext::fast::{allowed_fast_set, DEFAULT_ALLOWED_FAST};
use crate::layout::BlockRef;
use crate::wire::Message;

impl TorrentCore {
    /// Sends a Fast peer its allowed-fast set, right after our bitfield (as libtorrent and
    /// Transmission do), so a peer we choke can still start on a few pieces. BEP 6's canonical
    /// set for the peer's /24, minus nothing: the peer's own pieces are not known yet. IPv6
    /// peers get none (BEP 6 defines no IPv6 set).
    pub(super) fn grant_allowed_fast(&self, peer: &mut Peer, now: Instant) {
        let ip = match peer.addr.ip() {
            IpAddr::V4(ip) => ip,
            IpAddr::V6(ip) => match ip.to_ipv4_mapped() {
                Some(ip) => ip,
                None => return,
            },
        };
        let n = self.layout.num_pieces();
        let set = allowed_fast_set(ip, &self.info_hash, n, DEFAULT_ALLOWED_FAST);
        for &index in &set {
            peer.send(&Message::AllowedFast { index }, now);
        }
        peer.ext.granted_fast = set;
    }

    /// The peer will not serve `b`: it goes back to the picker for someone else.
    pub(super) fn on_rejected(
        &mut self,
        conn: ConnId,
        b: BlockRef,
        now: Instant,
        out: &mut Outputs,
    ) {
        let Some(peer) = self.peers.get_mut(&conn) else {
            return;
        };
        // A reject for a request we no longer have (cancelled, timed out) changes nothing.
        if peer.take_in_flight(&b) {
            self.picker.on_request_dropped(b);
            self.refill(now, out);
        }
    }

    /// The peer lets us request `index` while it chokes us.
    pub(super) fn on_allowed_fast(
        &mut self,
        conn: ConnId,
        index: u32,
        now: Instant,
        out: &mut Outputs,
    ) -> Result<(), PeerError> {
        if index >= self.layout.num_pieces() {
            return Err(PeerError::PieceOutOfRange(index));
        }
        let peer = self.peers.get_mut(&conn).ok_or(PeerError::Shutdown)?;
        let allowed = &mut peer.ext.allowed_fast;
        if !allowed.contains(&index) && allowed.len() < MAX_ALLOWED_FAST {
            allowed.push(index);
        }
        self.fill_requests(conn, now, out);
        Ok(())
    }

    /// What a choking peer lets us request: its pieces in its allowed-fast set. `None` when it
    /// allows nothing we want.
    pub(super) fn allowed_fast_mask(&self, conn: ConnId) -> Option<Bitfield> {
        let peer = self.peers.get(&conn)?;
        if peer.ext.allowed_fast.is_empty() {
            return None;
        }
        let mut mask = Bitfield::new(self.layout.num_pieces());
        let mut any = false;
        for &p in &peer.ext.allowed_fast {
            if peer.has.get(p) && !self.picker.have().get(p) {
                mask.set(p);
                any = true;
            }
        }
        any.then_some(mask)
    }
}
