//! The extension side of a torrent's peers: the BEP 10 extension handshake both ways, metadata
//! served and fetched over `ut_metadata` (BEP 9), and peer exchange (`ut_pex`, BEP 11).
//!
//! Part of the sans-IO torrent core (reactor thread); see the parent module. Every payload is
//! decoded by the bounded codecs of [`crate::ext`]; a malformed one drops that peer only, an
//! unknown extension id is ignored.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::phase::Phase;
use super::timers::Timer;
use super::TorrentCore;
use crate::engine::io::{Action, ConnId, Event};
use crate::engine::peer::PeerError;
use crate::engine::Outputs;
use crate::ext::handshake::Extension;
use crate::ext::{
    DataOutcome, ExtHandshake, ExtIds, MetadataMsg, PexMessage, PexPeer, PexState, ServeReply,
};
use crate::wire::Message;

/// How often PEX messages may go to each peer (BEP 11 asks for at most one a minute).
const PEX_EVERY: Duration = Duration::from_secs(60);

/// Where a peer can be reached: the address we dialled, or an incoming peer's IP with the
/// listen port it told us. PEX never tells a peer about itself by this address.
fn reachable(peer: &crate::engine::peer::Peer) -> SocketAddr {
    match (peer.outgoing, peer.ext.listen_port) {
        (false, Some(port)) => SocketAddr::new(peer.addr.ip(), port),
        _ => peer.addr,
    }
}

impl TorrentCore {
    /// Sends our BEP 10 extension handshake: the extensions we speak and their ids, our listen
    /// port, the requests we queue (`reqq`; without it transmission assumed no limit, queued
    /// thousands and stalled on the ones a full queue ignored), the metadata size once we have
    /// the metadata, our version, and the address we see the peer at.
    pub(crate) fn send_extension_handshake(
        &mut self,
        conn: ConnId,
        now: Instant,
        out: &mut Outputs,
    ) {
        let metadata_size = self.metadata.metadata_size().map(i64::from);
        let pex = self.pex.is_some();
        let Some(peer) = self.peers.get_mut(&conn) else {
            return;
        };
        let mut hs = ExtIds::local_handshake();
        if !pex {
            hs.ut_pex = None;
        }
        hs.client = Some(concat!("coracle ", env!("CARGO_PKG_VERSION")).to_string());
        hs.listen_port = Some(self.cfg.listen_port).filter(|&p| p != 0);
        hs.reqq = u32::try_from(self.cfg.max_upload_queue).ok();
        hs.metadata_size = metadata_size;
        hs.yourip = Some(peer.addr.ip());
        let payload = hs.encode();
        peer.send(
            &Message::Extended {
                id: 0,
                payload: &payload,
            },
            now,
        );
        out.dirty.push(conn);
    }

    /// An extension message: the handshake (id 0) or one of ours (ids we gave in ours).
    pub(super) fn on_extended(
        &mut self,
        conn: ConnId,
        id: u8,
        payload: &[u8],
        now: Instant,
        out: &mut Outputs,
    ) -> Result<(), PeerError> {
        if id == 0 {
            return self.on_ext_handshake(conn, payload, now, out);
        }
        match ExtIds::incoming(id) {
            Some(Extension::Metadata) => self.on_metadata_message(conn, payload, now, out),
            Some(Extension::Pex) => self.on_pex(conn, payload, now),
            // An id we never gave out: BEP 10 says to ignore it.
            None => Ok(()),
        }
    }

    fn on_ext_handshake(
        &mut self,
        conn: ConnId,
        payload: &[u8],
        now: Instant,
        out: &mut Outputs,
    ) -> Result<(), PeerError> {
        // A handshake we cannot read leaves the peer without extensions; it may still trade.
        let Ok(hs) = ExtHandshake::decode(payload) else {
            return Ok(());
        };
        let private = self.private;
        let pex_on = self.pex.is_some();
        let peer = self.peers.get_mut(&conn).ok_or(PeerError::Shutdown)?;
        peer.ext.ids.update(&hs);
        peer.ext.listen_port = hs.listen_port.or(peer.ext.listen_port);
        if pex_on && !private && hs.ut_pex.is_some() && peer.ext.pex.is_none() {
            peer.ext.pex = Some(PexState::new(reachable(peer)));
            self.timers.arm(Timer::Pex as usize, now);
        }
        if let (Phase::FetchingMetadata(fetch), Some(size)) = (&mut self.phase, hs.metadata_size) {
            if hs.ut_metadata.is_some() && fetch.add_peer(conn, size).is_ok() {
                self.request_metadata(conn, now, out);
            }
        }
        Ok(())
    }

    fn on_metadata_message(
        &mut self,
        conn: ConnId,
        payload: &[u8],
        now: Instant,
        out: &mut Outputs,
    ) -> Result<(), PeerError> {
        let msg = MetadataMsg::decode(payload)
            .map_err(|_| PeerError::BadExtensionMessage("ut_metadata"))?;
        match msg {
            MetadataMsg::Request { piece } => self.serve_metadata(conn, piece, now, out),
            MetadataMsg::Data {
                piece,
                total_size,
                data,
            } => self.on_metadata_data(conn, piece, total_size, data, now, out),
            MetadataMsg::Reject { piece } => {
                if let Phase::FetchingMetadata(fetch) = &mut self.phase {
                    fetch
                        .on_reject(conn, piece, now)
                        .map_err(|_| PeerError::BadExtensionMessage("ut_metadata reject"))?;
                    self.request_metadata_from_all(now, out);
                }
                Ok(())
            }
        }
    }

    /// Answers a metadata request: the piece, or a reject while we lack it or the peer asks
    /// too often. Private torrents serve metadata too (a peer that has the info-hash already
    /// knows the torrent); only PEX, LSD and the DHT are off for them.
    fn serve_metadata(
        &mut self,
        conn: ConnId,
        piece: u32,
        now: Instant,
        out: &mut Outputs,
    ) -> Result<(), PeerError> {
        let peer = self.peers.get_mut(&conn).ok_or(PeerError::Shutdown)?;
        let Some(their_id) = peer.ext.ids.outgoing(Extension::Metadata) else {
            return Ok(()); // it never told us its id: nothing to answer on
        };
        match self.metadata.handle_request(conn, piece, now) {
            ServeReply::Send(payload) => {
                peer.send(
                    &Message::Extended {
                        id: their_id,
                        payload: &payload,
                    },
                    now,
                );
                out.dirty.push(conn);
                Ok(())
            }
            ServeReply::Flood => Err(PeerError::MetadataFlood),
        }
    }

    /// Sends `conn` the metadata requests the fetch hands it.
    pub(super) fn request_metadata(&mut self, conn: ConnId, now: Instant, out: &mut Outputs) {
        let Phase::FetchingMetadata(fetch) = &mut self.phase else {
            return;
        };
        let Some(peer) = self.peers.get_mut(&conn) else {
            return;
        };
        let Some(their_id) = peer.ext.ids.outgoing(Extension::Metadata) else {
            return;
        };
        let mut sent = false;
        while let Some(piece) = fetch.next_request(conn, now) {
            let mut payload = Vec::new();
            MetadataMsg::Request { piece }.encode(&mut payload);
            peer.send(
                &Message::Extended {
                    id: their_id,
                    payload: &payload,
                },
                now,
            );
            sent = true;
        }
        if sent {
            out.dirty.push(conn);
        }
        self.arm_metadata_timer();
    }

    /// Offers the pieces still missing to every peer that can serve metadata (after a reject,
    /// a timeout or a failed round).
    pub(super) fn request_metadata_from_all(&mut self, now: Instant, out: &mut Outputs) {
        let conns: Vec<ConnId> = self.peers.keys().copied().collect();
        for conn in conns {
            self.request_metadata(conn, now, out);
        }
    }

    /// The fetch's next deadline (a request that timed out) joins the torrent's timers.
    pub(super) fn arm_metadata_timer(&mut self) {
        let at = match &self.phase {
            Phase::FetchingMetadata(fetch) => fetch.poll_timeout(),
            _ => None,
        };
        self.timers.set(Timer::Metadata as usize, at);
    }

    /// The metadata timer fired: silent peers' pieces go to others.
    pub(super) fn metadata_timeout(&mut self, now: Instant, out: &mut Outputs) {
        if let Phase::FetchingMetadata(fetch) = &mut self.phase {
            fetch.handle_timeout(now);
        }
        self.request_metadata_from_all(now, out);
    }

    fn on_metadata_data(
        &mut self,
        conn: ConnId,
        piece: u32,
        total_size: u32,
        data: &[u8],
        now: Instant,
        out: &mut Outputs,
    ) -> Result<(), PeerError> {
        let Phase::FetchingMetadata(fetch) = &mut self.phase else {
            // Data we did not ask for (we have the metadata): a late answer, dropped.
            return Ok(());
        };
        let outcome = fetch
            .on_data(conn, piece, total_size, data)
            .map_err(|_| PeerError::BadExtensionMessage("ut_metadata data"))?;
        match outcome {
            DataOutcome::Stored | DataOutcome::Ignored => {
                self.request_metadata(conn, now, out);
            }
            DataOutcome::Verified { info, bad_peers } => {
                for bad in bad_peers {
                    self.ban_metadata_liar(bad, now, out);
                }
                self.metadata_verified(info, now, out);
            }
            DataOutcome::HashMismatch { culprits } => {
                for bad in culprits {
                    self.ban_metadata_liar(bad, now, out);
                }
                self.request_metadata_from_all(now, out);
            }
        }
        Ok(())
    }

    /// A peer proven to have sent bad metadata is dropped and never dialled again.
    fn ban_metadata_liar(&mut self, conn: ConnId, now: Instant, out: &mut Outputs) {
        if let Some(p) = self.peers.get(&conn) {
            let (addr, id) = (p.addr, p.peer_id);
            self.dialer.ban(addr);
            self.dialer.ban_id(id);
        }
        self.drop_peer(conn, PeerError::BadMetadata, now, out);
    }

    /// The fetched metadata checked out: the shell turns it into a metainfo and storage, then
    /// calls [`TorrentCore::attach_metadata`]. Meanwhile peers stay connected.
    fn metadata_verified(&mut self, info: Vec<u8>, now: Instant, out: &mut Outputs) {
        log::info!(
            "torrent {}: metadata received ({} bytes)",
            self.log_name(),
            info.len()
        );
        let info: std::sync::Arc<[u8]> = info.into();
        self.metadata.set_metadata(info.clone());
        self.phase = Phase::Preparing;
        self.timers.set(Timer::Metadata as usize, None);
        self.arm_sample(now);
        out.actions.push_back(Action::MetadataReceived {
            torrent: self.id,
            info,
        });
        out.actions
            .push_back(Action::Event(Event::MetadataReceived { torrent: self.id }));
    }

    fn on_pex(&mut self, conn: ConnId, payload: &[u8], now: Instant) -> Result<(), PeerError> {
        let (Some(filter), false) = (&mut self.pex, self.private) else {
            return Ok(()); // we never offered ut_pex: ignore
        };
        let msg =
            PexMessage::decode(payload).map_err(|_| PeerError::BadExtensionMessage("ut_pex"))?;
        let peer = self.peers.get_mut(&conn).ok_or(PeerError::Shutdown)?;
        let reach = reachable(peer);
        let state = peer.ext.pex.get_or_insert_with(|| PexState::new(reach));
        // Over the rate or cap: ignored, not fatal (an eager but honest peer stays).
        let Ok(learned) = filter.accept(state, &msg, now) else {
            return Ok(());
        };
        for p in learned {
            self.dialer.add(p.addr, now);
        }
        Ok(())
    }

    /// Sends each PEX peer what changed since it last heard (at most once a minute each).
    pub(super) fn send_pex(&mut self, now: Instant, out: &mut Outputs) {
        if self.pex.is_none() || self.private {
            return;
        }
        let connected = self.pex_view();
        let mut any = false;
        for (&conn, peer) in self.peers.iter_mut() {
            let Some(state) = &mut peer.ext.pex else {
                continue;
            };
            any = true;
            let Some(their_id) = peer.ext.ids.outgoing(Extension::Pex) else {
                continue;
            };
            if let Some(msg) = state.poll_message(&connected, now) {
                let payload = msg.encode();
                peer.send(
                    &Message::Extended {
                        id: their_id,
                        payload: &payload,
                    },
                    now,
                );
                out.dirty.push(conn);
            }
        }
        if any {
            self.timers.arm(Timer::Pex as usize, now + PEX_EVERY);
        }
    }

    /// The peers we are connected to, as others can reach them: the address we dialled, or an
    /// incoming peer's address with the listen port it told us (none: not listed).
    fn pex_view(&self) -> Vec<PexPeer> {
        self.peers
            .values()
            .filter_map(|p| {
                let addr = if p.outgoing {
                    p.addr
                } else {
                    SocketAddr::new(p.addr.ip(), p.ext.listen_port?)
                };
                let mut flags = crate::ext::pex::FLAG_REACHABLE;
                if p.is_seed() {
                    flags |= crate::ext::pex::FLAG_SEED;
                }
                Some(PexPeer { addr, flags })
            })
            .collect()
    }
}
