//! The engine's inputs and outputs: configuration, the actions it asks its shell to carry out, the
//! results the shell hands back, and the events and statistics it reports.
//!
//! Plain data shared by the sans-IO engine and the reactor that drives it: configurations are
//! built on the caller's thread (`Session::new`), everything else is made and consumed on the
//! reactor thread (jobs and their results cross to the pool and tracker threads and back).

use std::net::SocketAddr;
use std::time::Duration;

use crate::bitfield::Bitfield;
use crate::tracker::{AnnounceRequest, AnnounceResponse, TrackerError};

/// Identifies one connection for its whole life; never reused within an engine.
pub type ConnId = usize;

/// Identifies one torrent in a session; never reused within a session.
pub type TorrentId = usize;

/// Tuning of the protocol engine. The defaults suit a small machine and a public swarm, and are
/// fixed: the sans-IO engine draws no entropy, its caller hands it `peer_id` and `seed`.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct EngineConfig {
    /// Our 20-byte peer id. By default [`peer_id_from_seed`](crate::sansio::peer_id_from_seed)`(0)`, the same for every engine: a
    /// program running several engines gives each its own ([`crate::Session`] does).
    pub peer_id: [u8; 20],
    /// The port peers can reach us on (sent to trackers).
    pub listen_port: u16,
    /// Most connected peers per torrent.
    pub max_peers_per_torrent: usize,
    /// Most connections in the whole engine, half-open and handshaking ones included.
    pub max_connections: usize,
    /// Most outgoing connects in progress at once.
    pub max_half_open: usize,
    /// Peers we upload to at once (regular slots plus the optimistic one).
    pub upload_slots: usize,
    /// Bytes of piece buffers (pieces being downloaded or hashed) per torrent; no new piece is
    /// started beyond it (but a torrent may always hold two pieces).
    pub piece_buffer_bytes: usize,
    /// Bytes of piece buffers of all torrents together; no new piece is started beyond it,
    /// except that it never holds back a torrent below its own two-piece minimum of its own.
    pub session_piece_buffer_bytes: usize,
    /// Fewest requests kept in flight to a peer that is not snubbed.
    pub pipeline_floor: usize,
    /// Most requests kept in flight to one peer.
    pub pipeline_cap: usize,
    /// Requests a peer may queue with us; more are ignored, and a peer whose ignored requests
    /// outrun what we serve by this many again is dropped as a flood.
    pub max_upload_queue: usize,
    /// Bytes queued for one peer's socket beyond which no more disk reads start for it.
    pub send_buffer_bytes: usize,
    /// Most payload bytes per second all torrents together upload; `None` for no limit. Each
    /// torrent may have a limit of its own as well ([`crate::engine::Engine::set_torrent_rate_limits`]);
    /// [`crate::engine::Engine::set_rate_limits`] changes this one at runtime.
    pub upload_rate_limit: Option<u64>,
    /// Most payload bytes per second all torrents together download; `None` for no limit.
    /// Enforced by pacing requests, so peers never send what we would have to drop.
    pub download_rate_limit: Option<u64>,
    /// Exchange peers with peers (BEP 11) on public torrents.
    pub pex: bool,
    /// A TCP connect must finish within this.
    pub connect_timeout: Duration,
    /// A handshake must complete within this after the connection.
    pub handshake_timeout: Duration,
    /// A peer that sends nothing for this long is dropped.
    pub inactivity_timeout: Duration,
    /// A block not delivered within this is given to others and the peer marked snubbed.
    pub request_timeout: Duration,
    /// Seed for every random choice (tie-breaks, tracker order, optimistic unchoke, keys).
    /// 0 by default, so a run is reproducible; [`crate::SessionConfig::default`] draws a random
    /// one.
    pub seed: u64,
    /// How long after a piece verifies a checkpoint of the torrent's resume state is asked for
    /// ([`DiskRequest::Checkpoint`]); torrents also checkpoint when they complete, pause or
    /// finish a check. `None` (the default): never on their own, only when the shell asks
    /// ([`Engine::checkpoint`](crate::engine::Engine::checkpoint)). Each checkpoint syncs the
    /// torrent's written files, so it is off unless resume state is kept.
    pub checkpoint_interval: Option<Duration>,
}

/// The peer id for `seed`: the client prefix `-CR0100-` and 12 characters drawn from `seed`.
///
/// Pure: the entropy comes from the caller. [`crate::SessionConfig::default`] draws a fresh seed
/// for it (from the OS's entropy), so two instances on one machine never take each other
/// for a connection to themselves. Use a seed of its own, not [`EngineConfig::seed`]: the peer id
/// is public, and the seed also makes the tracker key.
pub fn peer_id_from_seed(seed: u64) -> [u8; 20] {
    let mut id = *b"-CR0100-000000000000";
    // One draw is enough: 36^12 < 2^64.
    let mut x = crate::rng::SplitMix64(seed).next_u64();
    for b in &mut id[8..] {
        *b = b"0123456789abcdefghijklmnopqrstuvwxyz"[(x % 36) as usize];
        x /= 36;
    }
    id
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            peer_id: peer_id_from_seed(0),
            listen_port: 6881,
            max_peers_per_torrent: 50,
            max_connections: 400,
            max_half_open: 64,
            upload_slots: 4,
            piece_buffer_bytes: 4 * 1024 * 1024,
            session_piece_buffer_bytes: 16 * 1024 * 1024,
            pipeline_floor: 16,
            pipeline_cap: 256,
            max_upload_queue: 2048,
            send_buffer_bytes: 64 * 1024,
            upload_rate_limit: None,
            download_rate_limit: None,
            pex: true,
            connect_timeout: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(10),
            inactivity_timeout: Duration::from_secs(120),
            request_timeout: Duration::from_secs(30),
            seed: 0,
            checkpoint_interval: None,
        }
    }
}

/// What the engine needs to start a torrent.
#[derive(Clone, Debug)]
pub struct TorrentParams {
    /// SHA-1 of the info dictionary.
    pub info_hash: [u8; 20],
    /// Piece length and total size.
    pub layout: crate::layout::Layout,
    /// Announce URLs in BEP 12 tiers.
    pub trackers: Vec<Vec<String>>,
    /// Peers to dial without asking a tracker.
    pub peers: Vec<SocketAddr>,
    /// Pieces known to be verified on disk already (for example from a finished recheck).
    pub have: Bitfield,
    /// Hash the pieces already on disk before downloading (data left by an earlier run).
    pub recheck: bool,
    /// The raw info dictionary, served to peers that ask for it (BEP 9); `None` serves nothing.
    pub info: Option<std::sync::Arc<[u8]>>,
    /// A private torrent (BEP 27): no PEX, no LSD, no DHT.
    pub private: bool,
    /// With `recheck`: hash only these pieces (for example those of files that changed since
    /// the resume state was written); `None` hashes every piece. Pieces listed here are not
    /// taken from `have` before their check says so.
    pub check: Option<Bitfield>,
}

/// What the engine needs to start a torrent from a magnet link: everything but the metadata.
#[derive(Clone, Debug)]
pub struct MagnetParams {
    /// The v1 info-hash.
    pub info_hash: [u8; 20],
    /// Announce URLs in BEP 12 tiers (`tr`).
    pub trackers: Vec<Vec<String>>,
    /// Peers to dial (`x.pe`, or the user's).
    pub peers: Vec<SocketAddr>,
}

/// Something the engine asks its shell to do.
#[derive(Debug)]
pub enum Action {
    /// Open a TCP connection; report `handle_connected` or `handle_closed` for `conn`.
    Connect {
        /// The id the engine gave this connection.
        conn: ConnId,
        /// Where to connect.
        addr: SocketAddr,
    },
    /// Close the socket of `conn`; the engine has already forgotten it.
    Close {
        /// The connection.
        conn: ConnId,
        /// Why, for the log.
        reason: crate::engine::PeerError,
    },
    /// Hand this job to the disk pool.
    Disk(DiskRequest),
    /// Announce to a tracker (on the tracker thread) and report the result.
    Announce {
        /// The torrent.
        torrent: TorrentId,
        /// The tracker URL.
        url: String,
        /// The announce's parameters.
        request: AnnounceRequest,
    },
    /// Tell the embedding program.
    Event(Event),
    /// A magnet's metadata arrived and checked out: build the metainfo and the storage from
    /// `info` (off the reactor thread), then call [`crate::engine::Engine::attach_metadata`]
    /// (or [`crate::engine::Engine::fail_torrent`]).
    MetadataReceived {
        /// The torrent.
        torrent: TorrentId,
        /// The raw info dictionary; its SHA-1 is the torrent's info-hash.
        info: std::sync::Arc<[u8]>,
    },
    /// Send a UDP datagram (DHT or LSD) on the socket it names; a failure is only logged.
    Datagram(crate::engine::Datagram),
    /// Save the DHT's routing table and id (bencoded, for [`crate::engine::DhtSetup::state`]).
    SaveDhtState(Vec<u8>),
    /// Fetch these ranges from a web seed (off the reactor thread) and report the answer to
    /// the engine. Only a session's engines ask: web seeds come from its torrents' metainfo.
    WebSeed(crate::webseed::WebRequest),
}

/// Disk work the engine wants done, in torrent terms; the shell adds the storage and hashes.
#[derive(Debug)]
pub enum DiskRequest {
    /// Hash this complete piece and write it if it is good.
    Verify {
        /// The torrent.
        torrent: TorrentId,
        /// Piece index.
        piece: u32,
        /// The piece's bytes.
        data: Vec<u8>,
    },
    /// Hash the piece already on disk.
    Check {
        /// The torrent.
        torrent: TorrentId,
        /// Piece index.
        piece: u32,
    },
    /// Read a range to upload to `conn`.
    Read {
        /// The torrent.
        torrent: TorrentId,
        /// The requesting connection.
        conn: ConnId,
        /// Piece index.
        piece: u32,
        /// Offset in the piece.
        begin: u32,
        /// Length.
        length: u32,
    },
    /// The torrent is complete: let go of its write maps. Its data is in the page cache and the
    /// kernel writes it back; the files are fsynced at shutdown.
    Release {
        /// The torrent.
        torrent: TorrentId,
    },
    /// Make `have` durable and record it: sync the torrent's written files first, then write its
    /// resume state (the session's state file). `have` is the snapshot when the request was made;
    /// pieces verified later are simply not listed.
    Checkpoint {
        /// The torrent.
        torrent: TorrentId,
        /// Counts the torrent's checkpoints, so an answer can be matched to a request.
        serial: u64,
        /// The torrent's info-hash (recorded in the state).
        info_hash: [u8; 20],
        /// Verified pieces at the time of the request.
        have: Bitfield,
        /// Payload bytes uploaded in this session.
        uploaded: u64,
        /// Payload bytes downloaded in this session.
        downloaded: u64,
        /// The session is ending: nothing is written after this checkpoint.
        closing: bool,
    },
}

impl DiskRequest {
    /// The torrent the request is for.
    pub fn torrent(&self) -> TorrentId {
        match self {
            DiskRequest::Verify { torrent, .. }
            | DiskRequest::Check { torrent, .. }
            | DiskRequest::Read { torrent, .. }
            | DiskRequest::Release { torrent }
            | DiskRequest::Checkpoint { torrent, .. } => *torrent,
        }
    }
}

/// The result of a [`DiskRequest`], handed back by the shell.
#[derive(Debug)]
pub enum DiskDone {
    /// A `Verify` finished.
    Verified {
        /// The torrent.
        torrent: TorrentId,
        /// Piece index.
        piece: u32,
        /// The hash matched and the piece is on disk.
        ok: bool,
        /// The piece buffer, back for reuse.
        buffer: Vec<u8>,
    },
    /// Writing a verified piece failed (disk full, I/O error): the torrent stops.
    WriteFailed {
        /// The torrent.
        torrent: TorrentId,
        /// Piece index.
        piece: u32,
        /// What went wrong.
        error: crate::disk::StorageError,
    },
    /// A `Check` finished.
    Checked {
        /// The torrent.
        torrent: TorrentId,
        /// Piece index.
        piece: u32,
        /// The data on disk matches the piece hash.
        ok: bool,
    },
    /// A `Read` finished.
    Read {
        /// The torrent.
        torrent: TorrentId,
        /// The requesting connection.
        conn: ConnId,
        /// Piece index.
        piece: u32,
        /// Offset in the piece.
        begin: u32,
        /// The bytes, or why they could not be read.
        data: Result<Vec<u8>, crate::disk::StorageError>,
    },
    /// A `Checkpoint` finished.
    Checkpointed {
        /// The torrent.
        torrent: TorrentId,
        /// The request's serial.
        serial: u64,
        /// The resume state's bytes (also written to the state file, if the torrent has one),
        /// or why the data could not be synced or the state written.
        result: Result<Vec<u8>, crate::disk::StorageError>,
    },
}

impl DiskDone {
    /// The torrent the answer is for.
    pub fn torrent(&self) -> TorrentId {
        match self {
            DiskDone::Verified { torrent, .. }
            | DiskDone::WriteFailed { torrent, .. }
            | DiskDone::Checked { torrent, .. }
            | DiskDone::Read { torrent, .. }
            | DiskDone::Checkpointed { torrent, .. } => *torrent,
        }
    }
}

/// What a torrent is doing.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum TorrentState {
    /// A magnet link: fetching the torrent's metadata from peers.
    FetchingMetadata,
    /// Hashing data found on disk (or creating the files of a magnet's torrent).
    #[default]
    Checking,
    /// Fetching pieces.
    Downloading,
    /// Every piece verified; serving others.
    Seeding,
    /// Stopped by the user; no connections.
    Paused,
    /// Stopped by an error it cannot recover from.
    Failed(String),
}

/// A snapshot of one torrent.
#[derive(Clone, Debug, PartialEq, Default)]
#[non_exhaustive]
pub struct TorrentStats {
    /// What it is doing.
    pub state: TorrentState,
    /// Pieces verified.
    pub pieces_done: u32,
    /// Pieces in all.
    pub pieces_total: u32,
    /// Bytes verified (padding included).
    pub bytes_done: u64,
    /// Bytes in all.
    pub bytes_total: u64,
    /// Piece payload received this session, from peers and web seeds.
    pub downloaded: u64,
    /// The part of `downloaded` that came from web seeds (BEP 19).
    pub web_downloaded: u64,
    /// Piece payload sent this session.
    pub uploaded: u64,
    /// Bytes per second received, smoothed.
    pub down_rate: f64,
    /// Bytes per second sent, smoothed.
    pub up_rate: f64,
    /// Connected peers.
    pub peers: usize,
    /// Outgoing connections being set up (TCP connect or handshake not yet answered).
    pub peers_connecting: usize,
    /// Peer addresses known from every source (trackers, DHT, PEX, the user), connected or not.
    pub peers_known: usize,
    /// Connected peers that have every piece.
    pub seeds: usize,
    /// Pieces that failed their hash check this session (each was fetched again).
    pub hash_failures: u32,
    /// Peer addresses banned for sending corrupt data.
    pub banned: usize,
    /// Web seeds (`url-list`) not banned.
    pub web_seeds: usize,
    /// Web seeds banned for sending data that failed a hash check.
    pub web_seeds_banned: usize,
    /// Pieces hashed from data already on disk this session (a check at start; with valid
    /// resume state only the pieces of files that changed).
    pub pieces_checked: u32,
    /// Bytes in the pieces wanted (those touching a file not skipped): what must be verified
    /// for the torrent to be complete. `bytes_total` when every file is wanted.
    pub bytes_wanted: u64,
    /// Bytes of wanted pieces verified.
    pub bytes_wanted_done: u64,
    /// Each file's length, bytes verified and priority, in torrent order (empty before the
    /// metadata of a magnet, and for torrents added to the engine without file priorities).
    pub files: Vec<crate::selection::FileProgress>,
    /// The torrent's info-hash (v1).
    pub info_hash: [u8; 20],
    /// Its name. The sans-IO engine knows no names and leaves it empty; a
    /// [`TorrentHandle::try_stats`](crate::TorrentHandle::try_stats) fills it in (the
    /// metainfo's name, or a magnet's `dn`); `Progress` events leave it empty (the handle's
    /// `name()` has it).
    pub name: String,
    /// Time left at the current download rate; `None` when not downloading or not moving.
    pub eta: Option<std::time::Duration>,
}

/// One connected peer of a torrent (see `TorrentHandle::peers`).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct PeerInfo {
    /// Its address.
    pub addr: SocketAddr,
    /// Its peer id from the handshake (the first bytes often name its client, `-qB4650-`).
    pub peer_id: [u8; 20],
    /// We dialled it (else it connected to us).
    pub outgoing: bool,
    /// It has every piece.
    pub seed: bool,
    /// Pieces it has.
    pub pieces: u32,
    /// Bytes per second we receive from it, smoothed.
    pub down_rate: f64,
    /// Bytes per second we send it, smoothed.
    pub up_rate: f64,
    /// We refuse its requests.
    pub am_choking: bool,
    /// We want pieces it has.
    pub am_interested: bool,
    /// It refuses our requests.
    pub peer_choking: bool,
    /// It wants pieces we have.
    pub peer_interested: bool,
    /// It sent us nothing we asked for in a while; we ask it for one block at a time.
    pub snubbed: bool,
}

/// What the engine reports to the embedding program.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// About once a second per torrent while something changes (traffic, checking, pieces);
    /// nothing while it is idle.
    Progress {
        /// The torrent.
        torrent: TorrentId,
        /// Its numbers.
        stats: TorrentStats,
    },
    /// The check of data found on disk finished (only torrents that had data are checked), or a
    /// torrent started with pieces its resume state vouched for (then without a check).
    Checked {
        /// The torrent.
        torrent: TorrentId,
        /// Pieces found good.
        pieces_have: u32,
        /// Pieces in all.
        pieces_total: u32,
    },
    /// A magnet's metadata arrived and checked out; the handle's metainfo is there from now on.
    MetadataReceived {
        /// The torrent.
        torrent: TorrentId,
    },
    /// Every piece is verified and on disk.
    Completed {
        /// The torrent.
        torrent: TorrentId,
    },
    /// The torrent stopped on an error.
    Failed {
        /// The torrent.
        torrent: TorrentId,
        /// Why, in words a user can act on.
        error: String,
    },
    /// A connection was dropped for a protocol violation, a timeout or a policy (never fatal for
    /// the torrent). Closes by the remote side are not reported.
    PeerDropped {
        /// The torrent, when the connection had named one.
        torrent: Option<TorrentId>,
        /// The peer's address.
        addr: SocketAddr,
        /// Why.
        reason: crate::engine::PeerError,
    },
    /// A downloaded piece passed its hash check and is on disk. Only for subscribers that ask
    /// ([`Session::events_with_pieces`](crate::Session::events_with_pieces)); the engine
    /// itself never emits it (the session derives it from the pool's answers).
    PieceVerified {
        /// The torrent.
        torrent: TorrentId,
        /// Piece index.
        piece: u32,
    },
    /// Every piece of a file (by its index in the metainfo's files) is verified and on disk,
    /// during a download. Only for subscribers that asked for piece events, like
    /// `PieceVerified`; files complete at the start are not reported.
    FileCompleted {
        /// The torrent.
        torrent: TorrentId,
        /// Index in `Metainfo::files`.
        file: usize,
    },
    /// The torrent was paused ([`TorrentHandle::pause`](crate::TorrentHandle::pause)).
    Paused {
        /// The torrent.
        torrent: TorrentId,
    },
    /// The torrent was resumed after a pause.
    Resumed {
        /// The torrent.
        torrent: TorrentId,
    },
    /// The torrent left the session; its id is not reused.
    Removed {
        /// The torrent.
        torrent: TorrentId,
    },
    /// A tracker answered an announce, or the announce failed: its latest word, for a display
    /// that shows each tracker's state. Failures also come as [`Event::TrackerTrouble`].
    TrackerAnswered {
        /// The torrent.
        torrent: TorrentId,
        /// The tracker URL.
        url: String,
        /// How many peers it returned, or what went wrong.
        peers: Result<usize, String>,
        /// How long until the torrent's next announce (to this tracker or the next to try).
        next_announce: Option<std::time::Duration>,
    },
    /// A tracker failed or warned; the torrent goes on with other sources.
    TrackerTrouble {
        /// The torrent.
        torrent: TorrentId,
        /// The tracker URL.
        url: String,
        /// What it said or what went wrong.
        message: String,
    },
}

/// The outcome of an announce, handed back by the shell.
#[derive(Debug)]
pub struct AnnounceDone {
    /// The torrent.
    pub torrent: TorrentId,
    /// The tracker URL.
    pub url: String,
    /// The response, or what went wrong.
    pub result: Result<AnnounceResponse, TrackerError>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_fixed_and_peer_ids_follow_their_seed() {
        let (a, b) = (EngineConfig::default(), EngineConfig::default());
        assert_eq!((a.peer_id, a.seed), (b.peer_id, b.seed));
        assert_eq!(peer_id_from_seed(7), peer_id_from_seed(7));
        assert_ne!(peer_id_from_seed(7), peer_id_from_seed(8));
        let id = peer_id_from_seed(u64::MAX);
        assert!(id.starts_with(b"-CR0100-"));
        assert!(id[8..]
            .iter()
            .all(|c| c.is_ascii_digit() || c.is_ascii_lowercase()));
    }
}
