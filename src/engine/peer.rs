//! One connection's protocol state inside a torrent: choke/interest flags, what the peer has, the
//! requests in flight both ways, its rates and timers, and its byte buffers.
//!
//! Sans-IO: owned by [`super::torrent::TorrentCore`] on the reactor thread; never touches sockets,
//! files, threads or the clock (every time is an `Instant` passed in).

use std::collections::VecDeque;
use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::bitfield::{Bitfield, BitfieldError};
use crate::engine::pipeline::QueueGrowth;
use crate::engine::Outbox;
use crate::layout::BlockRef;
use crate::wire::{Message, WireError};

/// Why a peer was dropped. Never fatal for the torrent: the peer goes, everything else goes on.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PeerError {
    /// The byte stream broke the wire format.
    Wire(WireError),
    /// The handshake named a torrent we do not serve.
    WrongInfoHash,
    /// We dialled ourselves (our own peer id came back).
    SelfConnection,
    /// This peer id is already connected.
    DuplicatePeer,
    /// A bitfield of the wrong size or with spare bits set.
    BadBitfield(BitfieldError),
    /// `have` or `request` for a piece index past the end.
    PieceOutOfRange(u32),
    /// A request for a range outside its piece, or of an unacceptable length.
    BadRequest {
        /// Piece index.
        index: u32,
        /// Offset inside the piece.
        begin: u32,
        /// Requested length.
        length: u32,
    },
    /// Piece data whose offset or length is not a block of that piece.
    BadBlock {
        /// Piece index.
        index: u32,
        /// Offset inside the piece.
        begin: u32,
        /// Data length.
        length: u32,
    },
    /// Piece data we never asked this peer for.
    UnrequestedBlock {
        /// Piece index.
        index: u32,
        /// Offset inside the piece.
        begin: u32,
    },
    /// More queued requests than we serve per peer.
    RequestFlood,
    /// More keep-alives than any honest peer sends.
    KeepAliveFlood,
    /// No complete handshake within the timeout.
    HandshakeTimeout,
    /// The TCP connect did not finish in time.
    ConnectTimeout,
    /// Nothing received for too long.
    Inactive,
    /// This address sent data that failed the hash too often.
    Banned,
    /// Both sides are seeds; the connection has no use.
    BothSeeds,
    /// Too many connections already.
    TooManyPeers,
    /// The torrent was paused or removed, or the session stops.
    Shutdown,
    /// The socket reported an error or the peer closed it.
    Closed(String),
    /// A malformed extension message (the extension named), or one that breaks its rules.
    BadExtensionMessage(&'static str),
    /// Metadata requests far beyond what any client needs.
    MetadataFlood,
    /// Its metadata pieces made a whole that failed the info-hash.
    BadMetadata,
    /// A Fast extension message (BEP 6) from a peer that did not negotiate it, or out of
    /// place (`have all`/`have none` after the first message).
    FastViolation,
    /// More `have`s before the metadata arrived than a torrent can have pieces.
    HaveFlood,
}

impl fmt::Display for PeerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerError::Wire(e) => write!(f, "wire protocol violation: {e}"),
            PeerError::BadBitfield(e) => write!(f, "bad bitfield: {e:?}"),
            PeerError::Closed(why) => write!(f, "connection closed: {why}"),
            other => write!(f, "{other:?}"),
        }
    }
}

impl std::error::Error for PeerError {}

/// Seconds of a peer's measured rate kept in flight as requests (libtorrent's
/// `request_queue_time` is 3 s too). A peer that answers in batches, as Transmission does about
/// every half second, delivers at most the queue per batch: with half a second here the queue
/// matched the rate it allowed and never grew (coracle stayed at the floor of 16 blocks, 486 KiB/s,
/// from a transmission-cli seeder that gave aria2c 3 MiB/s; issue 15). With 3 s each batch lets
/// the next queue grow sixfold until the peer's real speed or `pipeline_cap` bounds it; fast
/// peers reach the cap either way.
pub const REQUEST_QUEUE_SECONDS: f64 = 3.0;

/// Exponentially smoothed byte rate, sampled on the engine's tick.
#[derive(Clone, Copy, Debug, Default)]
pub struct Rate {
    pending: u64,
    per_second: f64,
}

impl Rate {
    /// Counts `n` bytes.
    pub fn add(&mut self, n: u64) {
        self.pending += n;
    }

    /// Folds the bytes counted since the last sample into the rate; `elapsed` is the time since then.
    pub fn sample(&mut self, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        if secs <= 0.0 {
            return;
        }
        let now = self.pending as f64 / secs;
        // A short memory (about 2 s) so the pipeline follows a peer that speeds up quickly.
        self.per_second = 0.5 * self.per_second + 0.5 * now;
        self.pending = 0;
    }

    /// Bytes counted since the last sample.
    pub fn pending(&self) -> u64 {
        self.pending
    }

    /// Sets a rate that has decayed to nearly nothing to exactly zero, so it reads as idle.
    pub fn settle(&mut self) {
        self.per_second = 0.0;
    }

    /// Bytes per second.
    pub fn per_second(&self) -> f64 {
        self.per_second
    }
}

/// A request the peer made of us, waiting to be read from disk and sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Upload {
    /// Piece index.
    pub piece: u32,
    /// Offset inside the piece.
    pub begin: u32,
    /// Length in bytes.
    pub length: u32,
}

/// What a peer announced before the torrent had its metadata (a magnet link): kept, bounded
/// by the frame limit and [`MAX_EARLY_HAVES`], and replayed once the pieces are known.
#[derive(Debug, Default)]
pub enum EarlyHave {
    /// Nothing yet (or `have none`).
    #[default]
    Nothing,
    /// `have all` (BEP 6).
    All,
    /// A bitfield's raw bytes, then any later `have`s.
    Bitfield(Vec<u8>, Vec<u32>),
    /// `have`s without a bitfield.
    Haves(Vec<u32>),
}

/// `have`s kept per peer before the metadata arrives; beyond that a peer is a flood.
pub const MAX_EARLY_HAVES: usize = 1 << 16;

/// What both sides of a connection speak beyond BEP 3, and the state that goes with it.
#[derive(Debug, Default)]
pub struct PeerExtensions {
    /// BEP 6 Fast extension (both sides set the bit).
    pub fast: bool,
    /// BEP 10 extension protocol (both sides set the bit).
    pub extended: bool,
    /// The peer's ids for the extensions we speak, from its extension handshake.
    pub ids: crate::ext::ExtIds,
    /// Its listen port (`p`), so PEX can name an incoming peer's reachable address.
    pub listen_port: Option<u16>,
    /// Pieces we may request while it chokes us (its `allowed fast` messages), bounded.
    pub allowed_fast: Vec<u32>,
    /// Pieces it may request while we choke it: the allowed-fast set we sent it (BEP 6's
    /// canonical set for its address), empty for peers without Fast or reached over IPv6.
    pub granted_fast: Vec<u32>,
    /// PEX toward this peer, once it says it speaks ut_pex (never for private torrents).
    pub pex: Option<crate::ext::PexState>,
}

/// Most `allowed fast` pieces kept per peer (BEP 6 suggests sets of about 10).
pub const MAX_ALLOWED_FAST: usize = 64;

/// The per-connection state of one peer of one torrent.
#[derive(Debug)]
pub struct Peer {
    /// Where the peer is.
    pub addr: SocketAddr,
    /// We dialled it (true) or it dialled us.
    pub outgoing: bool,
    /// Its 20-byte peer id from the handshake.
    pub peer_id: [u8; 20],
    /// We refuse its requests.
    pub am_choking: bool,
    /// We want data it has.
    pub am_interested: bool,
    /// It refuses our requests.
    pub peer_choking: bool,
    /// It wants data we have.
    pub peer_interested: bool,
    /// Pieces it announced.
    pub has: Bitfield,
    /// How many of its pieces we still lack (we are interested while this is non-zero).
    pub wanted: u32,
    /// Its position in the torrent's log of verified pieces: the `have`s before it were sent
    /// (or covered by our bitfield).
    pub haves_sent: usize,
    /// Whether any message other than the handshake has arrived (a bitfield must come first).
    pub got_message: bool,
    /// Bytes of a frame split across reads, kept until the rest arrives.
    pub inbuf: Vec<u8>,
    /// Our requests to it, with when each went out.
    pub in_flight: Vec<(BlockRef, Instant)>,
    /// Requests we cancelled (or that its choke voided) whose data may still be on the wire.
    pub recently_cancelled: VecDeque<BlockRef>,
    /// Its requests of us, not yet read from disk.
    pub upload_queue: VecDeque<Upload>,
    /// Disk reads in flight for it.
    pub reads_in_flight: usize,
    /// Bytes waiting to be written to its socket.
    pub out: Outbox,
    /// Piece payload bytes received from it.
    pub down: Rate,
    /// Piece payload bytes sent to it.
    pub up: Rate,
    /// When it last sent anything.
    pub last_recv: Instant,
    /// When we last queued anything for it.
    pub last_send: Instant,
    /// When it last sent a block we asked for.
    pub last_block: Instant,
    /// Requests it sent while choked (reset when we unchoke it).
    pub ignored_requests: u32,
    /// Requests ignored because its queue was full, less one per block served since.
    pub overflow_requests: u32,
    /// Keep-alives since its last other message.
    pub keepalives: u32,
    /// It stopped sending blocks; it gets one request at a time until it recovers.
    pub snubbed: bool,
    /// How its request queue grows: slow start, then by its rate.
    pub growth: QueueGrowth,
    /// Extensions both sides speak.
    pub ext: PeerExtensions,
    /// What it announced before we had the metadata.
    pub early: EarlyHave,
}

/// How many recently cancelled blocks a peer may still send without being called a liar.
const CANCELLED_MEMORY: usize = 256;

impl Peer {
    /// A peer just past the handshake.
    pub fn new(
        addr: SocketAddr,
        outgoing: bool,
        peer_id: [u8; 20],
        pieces: u32,
        now: Instant,
    ) -> Peer {
        Peer {
            addr,
            outgoing,
            peer_id,
            am_choking: true,
            am_interested: false,
            peer_choking: true,
            peer_interested: false,
            has: Bitfield::new(pieces),
            wanted: 0,
            haves_sent: 0,
            got_message: false,
            inbuf: Vec::new(),
            in_flight: Vec::new(),
            recently_cancelled: VecDeque::new(),
            upload_queue: VecDeque::new(),
            reads_in_flight: 0,
            out: Outbox::default(),
            down: Rate::default(),
            up: Rate::default(),
            last_recv: now,
            last_send: now,
            last_block: now,
            ignored_requests: 0,
            overflow_requests: 0,
            keepalives: 0,
            snubbed: false,
            growth: QueueGrowth::default(),
            ext: PeerExtensions::default(),
            early: EarlyHave::Nothing,
        }
    }

    /// Queues `msg` for sending.
    pub fn send(&mut self, msg: &Message<'_>, now: Instant) {
        self.out.encode_with(|b| msg.encode(b));
        self.last_send = now;
    }

    /// Whether we asked this peer for `b` and it has not arrived yet.
    pub fn is_in_flight(&self, b: &BlockRef) -> bool {
        self.in_flight.iter().any(|(x, _)| x == b)
    }

    /// Removes `b` from our requests; true when it was there.
    pub fn take_in_flight(&mut self, b: &BlockRef) -> bool {
        match self.in_flight.iter().position(|(x, _)| x == b) {
            Some(i) => {
                self.in_flight.swap_remove(i);
                true
            }
            None => false,
        }
    }

    /// Remembers that data for `b` may still arrive although we no longer expect it.
    pub fn remember_cancelled(&mut self, b: BlockRef) {
        if self.recently_cancelled.len() == CANCELLED_MEMORY {
            self.recently_cancelled.pop_front();
        }
        self.recently_cancelled.push_back(b);
    }

    /// Withdraws our request for `b`: tells the peer, and remembers that its data may still come.
    pub fn cancel_request(&mut self, b: BlockRef, now: Instant) {
        self.remember_cancelled(b);
        self.send(
            &Message::Cancel {
                index: b.piece,
                begin: b.begin,
                length: b.length,
            },
            now,
        );
    }

    /// Forgets a cancelled block once its late data arrived; true when it was remembered.
    pub fn take_cancelled(&mut self, b: &BlockRef) -> bool {
        match self.recently_cancelled.iter().position(|x| x == b) {
            Some(i) => {
                self.recently_cancelled.remove(i);
                true
            }
            None => false,
        }
    }

    /// How many requests to keep in flight: the bytes this peer delivers in
    /// [`REQUEST_QUEUE_SECONDS`], or more while its queue is in slow start (see
    /// [`QueueGrowth`]), between `floor` and `cap` blocks, and a single one while it is snubbed.
    pub fn pipeline_target(&self, floor: usize, cap: usize) -> usize {
        if self.snubbed {
            return 1;
        }
        let by_rate = (self.down.per_second() * REQUEST_QUEUE_SECONDS
            / f64::from(crate::layout::BLOCK_SIZE)) as usize;
        self.growth.depth(by_rate, floor, cap)
    }

    /// Whether this peer is a seed (has every piece).
    pub fn is_seed(&self) -> bool {
        self.has.is_full()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(now: Instant) -> Peer {
        Peer::new("127.0.0.1:1".parse().unwrap(), true, [1; 20], 8, now)
    }

    #[test]
    fn pipeline_follows_rate_within_bounds() {
        let now = Instant::now();
        let mut p = peer(now);
        assert_eq!(p.pipeline_target(4, 64), 4);
        p.down.add(100 * 1024 * 1024);
        p.down.sample(Duration::from_secs(1));
        assert_eq!(p.pipeline_target(4, 64), 64);
        p.snubbed = true;
        assert_eq!(p.pipeline_target(4, 64), 1);
    }

    #[test]
    fn a_peer_answering_in_half_second_batches_gets_a_growing_queue() {
        // 16 blocks answered every half second: 512 KiB/s measured over a second.
        let now = Instant::now();
        let mut p = peer(now);
        p.down.add(32 * 16 * 1024);
        p.down.sample(Duration::from_secs(1));
        p.down.add(32 * 16 * 1024);
        p.down.sample(Duration::from_secs(1));
        // 0.75 of 512 KiB/s after two samples (the rate's memory), times 3 s: 72 blocks, far
        // above the 16 a batch could carry, so the next batches carry more.
        assert_eq!(p.pipeline_target(16, 256), 72);
    }

    #[test]
    fn cancelled_memory_is_bounded() {
        let now = Instant::now();
        let mut p = peer(now);
        for i in 0..(CANCELLED_MEMORY as u32 + 10) {
            p.remember_cancelled(BlockRef {
                piece: i,
                begin: 0,
                length: 1,
            });
        }
        assert_eq!(p.recently_cancelled.len(), CANCELLED_MEMORY);
        let first = BlockRef {
            piece: 0,
            begin: 0,
            length: 1,
        };
        assert!(!p.take_cancelled(&first));
        let last = BlockRef {
            piece: CANCELLED_MEMORY as u32 + 9,
            begin: 0,
            length: 1,
        };
        assert!(p.take_cancelled(&last));
    }
}
