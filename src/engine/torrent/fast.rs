//! The Fast extension (BEP 6) on a torrent's peers: `reject` answers for requests we will not
//! serve and from peers that will not serve ours, `allowed fast` pieces we may request while
//! choked, and `have all` / `have none` in place of a bitfield.
//!
//! Part of the sans-IO torrent core (reactor thread); see the parent module. Only peers whose
//! handshake set the Fast bit (and ours always does) get or may send these messages; anyone
//! else sending them is dropped as a protocol violation.

use std::time::Instant;

use super::TorrentCore;
use crate::bitfield::Bitfield;
use crate::engine::io::ConnId;
use crate::engine::peer::{PeerError, MAX_ALLOWED_FAST};
use crate::engine::Outputs;
use crate::layout::BlockRef;

impl TorrentCore {
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
