//! The sans-IO engine, for programs that own their poll loop: the whole protocol (handshakes,
//! peers, picker, choker, tracker schedule, DHT and local discovery) as one state machine with
//! no socket, file, thread or clock of its own. [`crate::Session`] runs the same engine on its
//! reactor thread; `examples/step.rs` drives two engines from a plain loop.
//!
//! The contract. Inputs: `Engine::handle_incoming`, `handle_connected`,
//! `handle_data(conn, bytes, now)`, `handle_closed`, `handle_written`, `handle_disk`,
//! `handle_announce`, `handle_dht_datagram`, `handle_lsd_datagram` and
//! `handle_timeout(now)`, plus commands (`add_torrent`, `pause`, `resume`, `add_peers`, ...).
//! Outputs: [`Action`]s from `poll_action` (connect, close, disk work, announce, event,
//! datagram, web-seed request) and bytes in each connection's [`Outbox`] (`outbox(conn)`, with
//! `take_dirty` naming the ones that grew). A shell feeds inputs, drains actions, writes the
//! dirty outboxes, then sleeps until `poll_timeout()` and calls `handle_timeout`.
//!
//! `handle_web_seed` is not part of it: web seeds come from a session.
//!
//! Disk work needs no thread: [`execute`] answers a [`DiskRequest`] over a [`TorrentDisk`] (the
//! same function the session's pool runs), here over a [`MemoryStore`] or a [`PieceStore`] of
//! your own.

pub use crate::bitfield::{Bitfield, BitfieldError};
pub use crate::dht::DhtConfig;
pub use crate::disk::{execute, MemoryStore, PieceStore, ResumeTarget, TorrentDisk};
pub use crate::engine::{
    peer_id_from_seed, Action, AnnounceDone, ConnId, Datagram, DhtSetup, DiskDone, DiskRequest,
    Engine, MagnetParams, Outbox, TorrentError, TorrentParams, UdpKind,
};
pub use crate::ext::lsd::LsdFamily;
pub use crate::layout::{BlockRef, Layout, BLOCK_SIZE};
pub use crate::resume::FileStamp;
pub use crate::selection::{FileSpan, PieceWants};
pub use crate::tracker::{AnnounceEvent, AnnounceRequest, AnnounceResponse, TrackerError};
// Web seeds are the session's: an engine only asks for them once a session added some.
pub use crate::webseed::{HttpRange, WebRequest};
// The types an engine shares with the session API, named here too so a shell needs one path.
pub use crate::{
    EngineConfig, Event, PeerError, RateLimits, StorageError, TorrentId, TorrentState, TorrentStats,
};
