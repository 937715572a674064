//! A torrent that starts from a magnet link: it joins the swarm with no metadata (no pieces, no
//! layout), fetches the info dictionary from peers, and once the shell has built the storage
//! from it, becomes an ordinary torrent with the same peers, dial list and trackers.
//!
//! Part of the sans-IO torrent core (reactor thread); see the parent module. What a peer says
//! about its pieces before the metadata arrives is kept (bounded) in [`EarlyHave`] and replayed.

use std::time::Instant;

use super::phase::{Phase, Recheck, Resume};
use super::{max_frame, TorrentCore};
use crate::bitfield::Bitfield;
use crate::engine::io::{ConnId, EngineConfig, MagnetParams, TorrentId, TorrentParams};
use crate::engine::peer::{EarlyHave, PeerError, MAX_EARLY_HAVES};
use crate::engine::Outputs;
use crate::ext::metadata_fetch::MAX_METADATA_SIZE;
use crate::ext::MetadataFetch;
use crate::layout::Layout;
use crate::picker::Picker;

/// The frame limit while the piece count is unknown: the bitfield of the largest torrent whose
/// metadata we accept (8 MiB of piece hashes is about 420,000 pieces).
const MAGNET_MAX_FRAME: u32 = 1 + (MAX_METADATA_SIZE / 20).div_ceil(8) + 256;

impl TorrentCore {
    /// A torrent from a magnet link, fetching its metadata.
    pub fn new_magnet(
        id: TorrentId,
        m: MagnetParams,
        cfg: &EngineConfig,
        now: Instant,
    ) -> TorrentCore {
        let params = TorrentParams {
            info_hash: m.info_hash,
            // No pieces yet: replaced in `attach_metadata`.
            layout: Layout::empty(),
            trackers: m.trackers,
            peers: m.peers,
            have: Bitfield::new(0),
            recheck: false,
            info: None,
            check: None,
            // A magnet cannot say; the metadata's `private` flag applies once it arrives.
            private: false,
        };
        let mut t = TorrentCore::new(id, params, cfg, now);
        t.max_frame = MAGNET_MAX_FRAME;
        t.phase = Phase::FetchingMetadata(Box::new(MetadataFetch::new(m.info_hash)));
        t
    }

    /// The shell built the storage for the metadata this torrent fetched: from now on it is an
    /// ordinary torrent. `recheck` when files already held data. `private` is the metadata's
    /// BEP 27 flag (PEX stops at once when set).
    pub fn attach_metadata(
        &mut self,
        layout: Layout,
        private: bool,
        recheck: bool,
        wants: Option<crate::selection::PieceWants>,
        now: Instant,
        out: &mut Outputs,
    ) {
        let was_paused = matches!(self.phase, Phase::Paused(_));
        if !matches!(
            self.phase,
            Phase::Preparing | Phase::Paused(Resume::Preparing)
        ) {
            return;
        }
        self.layout = layout;
        self.max_frame = max_frame(&layout);
        let seed = super::torrent_seed(&self.cfg, self.id);
        let sequential = self.picker.is_sequential();
        self.picker = Picker::new(layout, &Bitfield::new(layout.num_pieces()), seed);
        // Asked for before the metadata came: it holds for the pieces now known.
        self.picker.set_sequential(sequential);
        // Before any peer's pieces are replayed: no request may go to a skipped file.
        if let Some(w) = wants.filter(|w| w.wanted.len() == layout.num_pieces()) {
            self.picker.set_wanted(&w.wanted, &w.high);
            self.wants = Some(w);
        }
        self.private = private;
        if private {
            self.pex = None;
            for p in self.peers.values_mut() {
                p.ext.pex = None;
            }
        }
        let next = if recheck {
            Phase::Checking(Recheck::new(layout.num_pieces(), None))
        } else {
            self.active_phase()
        };
        self.phase = match (was_paused, next) {
            (true, Phase::Checking(r)) => Phase::Paused(Resume::Checking(r)),
            (true, _) => Phase::Paused(Resume::Active),
            (false, p) => p,
        };
        let conns: Vec<ConnId> = self.peers.keys().copied().collect();
        for conn in conns {
            if let Err(e) = self.replay_early(conn, now, out) {
                self.drop_peer(conn, e, now, out);
            }
        }
        self.start_checks(now, out);
        self.arm_sample(now);
    }

    /// Applies what `conn` said about its pieces before the metadata arrived.
    fn replay_early(
        &mut self,
        conn: ConnId,
        now: Instant,
        out: &mut Outputs,
    ) -> Result<(), PeerError> {
        let n = self.layout.num_pieces();
        let peer = self.peers.get_mut(&conn).ok_or(PeerError::Shutdown)?;
        peer.has = Bitfield::new(n);
        match std::mem::take(&mut peer.early) {
            EarlyHave::Nothing => Ok(()),
            EarlyHave::All => {
                let full = Bitfield::full(n);
                self.on_bitfield(conn, full.as_bytes(), now, out)
            }
            EarlyHave::Bitfield(bytes, haves) => {
                self.on_bitfield(conn, &bytes, now, out)?;
                haves
                    .into_iter()
                    .try_for_each(|i| self.on_have(conn, i, now, out))
            }
            EarlyHave::Haves(haves) => haves
                .into_iter()
                .try_for_each(|i| self.on_have(conn, i, now, out)),
        }
    }

    /// A message before the metadata arrived, if it needs other handling than usual: what a
    /// peer says about its pieces is kept for later, requests are refused (we have nothing).
    pub(super) fn before_metadata(
        &mut self,
        conn: ConnId,
        msg: &crate::wire::Message<'_>,
        fast: bool,
        first: bool,
    ) -> Option<Result<(), PeerError>> {
        use crate::wire::Message;
        Some(match *msg {
            Message::Bitfield(bytes) => {
                self.keep_early(conn, EarlyHave::Bitfield(bytes.to_vec(), Vec::new()))
            }
            Message::Have { index } => self.keep_early(conn, EarlyHave::Haves(vec![index])),
            Message::HaveAll if fast && first => self.keep_early(conn, EarlyHave::All),
            Message::HaveNone if fast && first => Ok(()),
            // Nothing to serve and nothing asked yet; aria2 sends its allowed-fast set at once.
            Message::Request { .. } => Ok(()),
            Message::AllowedFast { .. } | Message::SuggestPiece { .. } if fast => Ok(()),
            _ => return None,
        })
    }

    /// Keeps what a peer says about its pieces while we cannot check it yet.
    pub(super) fn keep_early(&mut self, conn: ConnId, what: EarlyHave) -> Result<(), PeerError> {
        let peer = self.peers.get_mut(&conn).ok_or(PeerError::Shutdown)?;
        let add = |mut h: Vec<u32>, more: Vec<u32>| {
            if h.len() + more.len() > MAX_EARLY_HAVES {
                return Err(PeerError::HaveFlood);
            }
            h.extend(more);
            Ok(h)
        };
        peer.early = match (std::mem::take(&mut peer.early), what) {
            // Nothing more to learn.
            (EarlyHave::All, _) => EarlyHave::All,
            (EarlyHave::Haves(h), EarlyHave::Haves(more)) => EarlyHave::Haves(add(h, more)?),
            (EarlyHave::Bitfield(b, h), EarlyHave::Haves(more)) => {
                EarlyHave::Bitfield(b, add(h, more)?)
            }
            // The first word, or a later bitfield (aria2 sends one instead of `have`s).
            (_, latest) => latest,
        };
        Ok(())
    }
}
