//! Fetching a torrent's info dictionary from peers (BEP 9), for magnet links: a sans-IO state
//! machine over `ut_metadata` pieces.
//!
//! One per torrent that lacks its metadata, owned by the reactor thread. It learns the size from
//! the peers' extension handshakes, hands out 16 KiB pieces to several peers at once, re-asks
//! elsewhere on a reject or a time-out, and when every piece is in, checks the SHA-1 of the exact
//! assembled bytes against the info-hash (never a re-encoding, so unsorted keys keep their hash).
//! It never sends anything or reads the clock: the caller passes `now`, sends the requests it is
//! told to, and drops the peers it is told misbehaved. Memory is one buffer of the announced size
//! (at most [`MAX_METADATA_SIZE`]) plus a digest per suspect piece.
//!
//! Blame: after a hash failure each piece's sender and the piece's digest are remembered and
//! everything is fetched again, from other peers where possible. If one peer sent every piece it
//! is the culprit at once; otherwise, once a whole verifies, every peer whose earlier piece
//! differs from the verified bytes is reported.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::{Duration, Instant};

use sha1::{Digest, Sha1};

use super::metadata::{piece_count, piece_len, METADATA_PIECE_LEN};
use super::PeerKey;

/// Largest metadata we fetch: 8 MiB. libtorrent refuses above about 30 MiB and ignores sizes
/// over 4 MiB in handshakes; 8 MiB covers a torrent of 400,000 pieces (a multi-terabyte
/// torrent at small piece sizes) while bounding what one lying handshake can make us allocate.
pub const MAX_METADATA_SIZE: u32 = 8 * 1024 * 1024;

/// How long a peer has to answer a request before the piece is asked of someone else.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// Requests outstanding at one peer: enough to keep a fast peer busy for a round trip.
pub const MAX_IN_FLIGHT_PER_PEER: usize = 4;

/// After a reject or a time-out, the peer is not asked again for this long.
pub const PEER_BACKOFF: Duration = Duration::from_secs(60);

/// After this many rejects a peer is never asked again (it has no metadata to give).
pub const MAX_REJECTS: u32 = 3;

/// Digests remembered per piece from failed rounds; beyond it a piece's history is not extended.
const MAX_SUSPECTS_PER_PIECE: usize = 4;

/// Why a peer's handshake or message was refused. Errors from `on_data` / `on_reject` mean the
/// peer broke the protocol: the caller drops it (and calls [`MetadataFetch::remove_peer`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FetchError {
    /// The advertised `metadata_size` is zero or negative.
    BadSize {
        /// The size advertised.
        size: i64,
    },
    /// The advertised `metadata_size` exceeds [`MAX_METADATA_SIZE`].
    SizeTooLarge {
        /// The size advertised.
        size: i64,
    },
    /// A data message's `total_size` differs from the size being fetched.
    SizeMismatch {
        /// What the message says.
        claimed: u32,
        /// The size being fetched.
        expected: u32,
    },
    /// A piece index past the end of the metadata.
    OutOfRange {
        /// The index received.
        piece: u32,
        /// Pieces in the metadata.
        pieces: u32,
    },
    /// Data or a reject for a piece we never asked this peer for.
    Unrequested {
        /// The index received.
        piece: u32,
    },
    /// A piece of the wrong length (every piece is 16 KiB but the last).
    WrongLength {
        /// The index received.
        piece: u32,
        /// Bytes received.
        got: usize,
        /// Bytes that piece has.
        expected: u32,
    },
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            FetchError::BadSize { size } => write!(f, "peer advertised metadata size {size}"),
            FetchError::SizeTooLarge { size } => write!(
                f,
                "peer advertised metadata of {size} bytes, over the {MAX_METADATA_SIZE}-byte limit"
            ),
            FetchError::SizeMismatch { claimed, expected } => write!(
                f,
                "metadata piece claims a total size of {claimed}, expected {expected}"
            ),
            FetchError::OutOfRange { piece, pieces } => {
                write!(
                    f,
                    "metadata piece {piece} out of range (metadata has {pieces})"
                )
            }
            FetchError::Unrequested { piece } => {
                write!(
                    f,
                    "metadata piece {piece} was never requested from this peer"
                )
            }
            FetchError::WrongLength {
                piece,
                got,
                expected,
            } => write!(
                f,
                "metadata piece {piece} has {got} bytes, expected {expected}"
            ),
        }
    }
}

impl std::error::Error for FetchError {}

/// What a data message led to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DataOutcome {
    /// The piece was stored; more are needed.
    Stored,
    /// A late duplicate (the piece was already had, or the fetch is over); nothing changed.
    Ignored,
    /// Every piece is in and the SHA-1 matches: the exact info dictionary bytes.
    Verified {
        /// The raw info dictionary (its SHA-1 is the info-hash).
        info: Vec<u8>,
        /// Peers whose pieces in an earlier, failed round differ from these bytes: ban them.
        bad_peers: Vec<PeerKey>,
    },
    /// Every piece is in but the SHA-1 does not match; everything will be fetched again.
    HashMismatch {
        /// Peers proven to have sent bad data (the sole sender of the failed round): ban them.
        /// They are already forgotten by the fetch.
        culprits: Vec<PeerKey>,
    },
}

#[derive(Clone, Copy, Debug)]
enum Slot {
    Missing,
    Requested { peer: PeerKey, deadline: Instant },
    Have { from: PeerKey },
}

#[derive(Debug)]
enum State {
    /// No peer has advertised a usable size yet.
    NoSize,
    /// Collecting pieces of `buf.len()` bytes.
    Fetching { buf: Vec<u8>, slots: Vec<Slot> },
    /// Verified and handed out.
    Done,
}

#[derive(Debug)]
struct PeerState {
    size: u32,
    /// Pieces asked of this peer and not yet answered (time-outs included, so a late answer is
    /// still accepted).
    asked: BTreeSet<u32>,
    rejects: u32,
    backoff_until: Option<Instant>,
}

/// A piece received in a round that failed verification.
#[derive(Clone, Copy, Debug)]
struct Suspect {
    piece: u32,
    peer: PeerKey,
    digest: [u8; 20],
}

/// Fetches one torrent's metadata from its peers. See the module documentation.
#[derive(Debug)]
pub struct MetadataFetch {
    info_hash: [u8; 20],
    state: State,
    peers: BTreeMap<PeerKey, PeerState>,
    suspects: Vec<Suspect>,
    failed_rounds: u32,
}

impl MetadataFetch {
    /// A fetch for the torrent whose v1 info-hash is `info_hash`.
    pub fn new(info_hash: [u8; 20]) -> MetadataFetch {
        MetadataFetch {
            info_hash,
            state: State::NoSize,
            peers: BTreeMap::new(),
            suspects: Vec::new(),
            failed_rounds: 0,
        }
    }

    /// A peer that speaks `ut_metadata` advertised `metadata_size` in its extension handshake.
    ///
    /// The first usable size picks the buffer; peers advertising another size are remembered
    /// but not asked (one of them lies) unless the buffer's size loses all its supporters. An
    /// error means this peer is not used for metadata; it need not be dropped.
    pub fn add_peer(&mut self, peer: PeerKey, metadata_size: i64) -> Result<(), FetchError> {
        let size = check_size(metadata_size)?;
        self.release(peer);
        self.peers.insert(
            peer,
            PeerState {
                size,
                asked: BTreeSet::new(),
                rejects: 0,
                backoff_until: None,
            },
        );
        if matches!(self.state, State::NoSize) {
            self.start(size);
        }
        self.reselect_size();
        Ok(())
    }

    /// The peer is gone: its outstanding pieces go back to be asked elsewhere.
    pub fn remove_peer(&mut self, peer: PeerKey) {
        self.release(peer);
        self.peers.remove(&peer);
        self.reselect_size();
    }

    /// The next metadata piece to request from `peer`, if any; call until `None`.
    pub fn next_request(&mut self, peer: PeerKey, now: Instant) -> Option<u32> {
        let size = self.metadata_size()?;
        let state = self.peers.get_mut(&peer)?;
        let usable = state.size == size
            && state.rejects < MAX_REJECTS
            && state.backoff_until.map_or(true, |t| t <= now);
        let State::Fetching { slots, .. } = &mut self.state else {
            return None;
        };
        let busy = slots
            .iter()
            .filter(|s| matches!(s, Slot::Requested { peer: p, .. } if *p == peer))
            .count();
        if !usable || busy >= MAX_IN_FLIGHT_PER_PEER {
            return None;
        }
        let sent_before = |i: usize| {
            self.suspects
                .iter()
                .any(|s| s.peer == peer && s.piece as usize == i)
        };
        let missing = |i: &usize| matches!(slots[*i], Slot::Missing);
        let pick = (0..slots.len())
            .filter(missing)
            .find(|&i| !sent_before(i))
            .or_else(|| (0..slots.len()).find(missing))?;
        slots[pick] = Slot::Requested {
            peer,
            deadline: now + REQUEST_TIMEOUT,
        };
        let piece = u32::try_from(pick).ok()?;
        state.asked.insert(piece);
        Some(piece)
    }

    /// The peer rejected a request: the piece goes back to be asked elsewhere and the peer is
    /// left alone for [`PEER_BACKOFF`] (for good after [`MAX_REJECTS`]).
    pub fn on_reject(&mut self, peer: PeerKey, piece: u32, now: Instant) -> Result<(), FetchError> {
        let Some(state) = self
            .peers
            .get_mut(&peer)
            .filter(|s| s.asked.contains(&piece))
        else {
            return Err(FetchError::Unrequested { piece });
        };
        state.asked.remove(&piece);
        state.rejects += 1;
        state.backoff_until = Some(now + PEER_BACKOFF);
        if let State::Fetching { slots, .. } = &mut self.state {
            if let Some(slot) = slots.get_mut(piece as usize) {
                if matches!(slot, Slot::Requested { peer: p, .. } if *p == peer) {
                    *slot = Slot::Missing;
                }
            }
        }
        self.reselect_size();
        Ok(())
    }

    /// A data message from `peer`. Errors mean the peer misbehaved and must be dropped.
    pub fn on_data(
        &mut self,
        peer: PeerKey,
        piece: u32,
        total_size: u32,
        data: &[u8],
    ) -> Result<DataOutcome, FetchError> {
        let size = match self.state {
            State::Done => return Ok(DataOutcome::Ignored),
            State::NoSize => return Err(FetchError::Unrequested { piece }),
            State::Fetching { ref buf, .. } => buf.len() as u32,
        };
        let Some(expected) = piece_len(size, piece) else {
            let pieces = piece_count(size);
            return Err(FetchError::OutOfRange { piece, pieces });
        };
        if total_size != size {
            return Err(FetchError::SizeMismatch {
                claimed: total_size,
                expected: size,
            });
        }
        let asked = self
            .peers
            .get_mut(&peer)
            .filter(|s| s.asked.contains(&piece));
        let Some(state) = asked else {
            return Err(FetchError::Unrequested { piece });
        };
        if data.len() != expected as usize {
            return Err(FetchError::WrongLength {
                piece,
                got: data.len(),
                expected,
            });
        }
        // An answer proves the peer alive again, whatever a time-out concluded.
        state.asked.remove(&piece);
        state.backoff_until = None;
        let State::Fetching { buf, slots } = &mut self.state else {
            return Ok(DataOutcome::Ignored);
        };
        let slot = &mut slots[piece as usize];
        if matches!(slot, Slot::Have { .. }) {
            return Ok(DataOutcome::Ignored);
        }
        *slot = Slot::Have { from: peer };
        let start = (piece * METADATA_PIECE_LEN) as usize;
        buf[start..start + data.len()].copy_from_slice(data);
        if slots.iter().all(|s| matches!(s, Slot::Have { .. })) {
            return Ok(self.verify());
        }
        Ok(DataOutcome::Stored)
    }

    /// Requests past their deadline go back to be asked elsewhere; their peers are left alone
    /// for [`PEER_BACKOFF`]. Returns those peers. Afterwards call [`Self::next_request`] for
    /// each peer, since pieces or peers may have become available.
    pub fn handle_timeout(&mut self, now: Instant) -> Vec<PeerKey> {
        let mut silent = Vec::new();
        if let State::Fetching { slots, .. } = &mut self.state {
            for slot in slots.iter_mut() {
                if let Slot::Requested { peer, deadline } = *slot {
                    if deadline <= now {
                        *slot = Slot::Missing;
                        if !silent.contains(&peer) {
                            silent.push(peer);
                        }
                    }
                }
            }
        }
        for state in self.peers.values_mut() {
            if state.backoff_until.is_some_and(|t| t <= now) {
                state.backoff_until = None;
            }
        }
        for peer in &silent {
            if let Some(state) = self.peers.get_mut(peer) {
                state.backoff_until = Some(now + PEER_BACKOFF);
            }
        }
        silent
    }

    /// When [`Self::handle_timeout`] next has something to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let deadlines = match &self.state {
            State::Fetching { slots, .. } => slots
                .iter()
                .filter_map(|s| match s {
                    Slot::Requested { deadline, .. } => Some(*deadline),
                    _ => None,
                })
                .min(),
            _ => return None,
        };
        let backoffs = self.peers.values().filter_map(|s| s.backoff_until).min();
        deadlines.into_iter().chain(backoffs).min()
    }

    /// The size being fetched, once a peer advertised a usable one.
    pub fn metadata_size(&self) -> Option<u32> {
        match &self.state {
            State::Fetching { buf, .. } => Some(buf.len() as u32),
            _ => None,
        }
    }

    /// Pieces had and pieces in total (0 / 0 before a size is known).
    #[cfg(any(test, feature = "internals"))]
    pub fn progress(&self) -> (u32, u32) {
        match &self.state {
            State::Fetching { slots, .. } => {
                let have = slots
                    .iter()
                    .filter(|s| matches!(s, Slot::Have { .. }))
                    .count();
                (have as u32, slots.len() as u32)
            }
            _ => (0, 0),
        }
    }

    /// Whether the metadata was verified and handed out.
    #[cfg(any(test, feature = "internals"))]
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// Rounds that ended in a hash mismatch; a caller may give up after a few.
    #[cfg(any(test, feature = "internals"))]
    pub fn failed_rounds(&self) -> u32 {
        self.failed_rounds
    }

    fn start(&mut self, size: u32) {
        let pieces = piece_count(size) as usize;
        self.state = State::Fetching {
            buf: vec![0; size as usize],
            slots: vec![Slot::Missing; pieces],
        };
        self.suspects.clear();
        // Pieces asked under another size mean nothing now; a late answer is unrequested.
        for p in self.peers.values_mut() {
            p.asked.clear();
        }
    }

    /// Puts `peer`'s outstanding requests back to missing.
    fn release(&mut self, peer: PeerKey) {
        if let State::Fetching { slots, .. } = &mut self.state {
            for slot in slots.iter_mut() {
                if matches!(slot, Slot::Requested { peer: p, .. } if *p == peer) {
                    *slot = Slot::Missing;
                }
            }
        }
    }

    /// While nothing has been received, follows the size most usable peers advertise, so one
    /// early liar cannot pin a size nobody else serves (outstanding requests are abandoned).
    fn reselect_size(&mut self) {
        let State::Fetching { buf, slots } = &self.state else {
            return;
        };
        if slots.iter().any(|s| matches!(s, Slot::Have { .. })) {
            return;
        }
        let current = buf.len() as u32;
        let mut votes: BTreeMap<u32, usize> = BTreeMap::new();
        for s in self.peers.values().filter(|s| s.rejects < MAX_REJECTS) {
            *votes.entry(s.size).or_default() += 1;
        }
        let best = votes.get(&current).copied().unwrap_or(0);
        // The first strictly larger vote wins; ties keep the current size.
        if let Some((&size, _)) = votes.iter().find(|(_, &n)| n > best) {
            self.start(size);
        }
    }

    fn verify(&mut self) -> DataOutcome {
        let State::Fetching { buf, slots } = &mut self.state else {
            return DataOutcome::Ignored;
        };
        if Sha1::digest(&buf[..]).as_slice() == self.info_hash {
            let info = std::mem::take(buf);
            let bad_peers = blame_against(&info, &self.suspects);
            self.state = State::Done;
            self.suspects.clear();
            return DataOutcome::Verified { info, bad_peers };
        }
        self.failed_rounds += 1;
        let mut senders: Vec<PeerKey> = Vec::new();
        for (i, slot) in slots.iter_mut().enumerate() {
            if let Slot::Have { from } = *slot {
                if !senders.contains(&from) {
                    senders.push(from);
                }
                let piece = i as u32;
                let digest = piece_digest(buf, piece);
                let known = self.suspects.iter().filter(|s| s.piece == piece);
                if known.count() < MAX_SUSPECTS_PER_PIECE {
                    self.suspects.push(Suspect {
                        piece,
                        peer: from,
                        digest,
                    });
                }
            }
            *slot = Slot::Missing;
        }
        let culprits = if senders.len() == 1 {
            senders
        } else {
            Vec::new()
        };
        for c in &culprits {
            self.peers.remove(c);
            self.suspects.retain(|s| s.peer != *c);
        }
        self.reselect_size();
        DataOutcome::HashMismatch { culprits }
    }
}

fn check_size(size: i64) -> Result<u32, FetchError> {
    if size <= 0 {
        return Err(FetchError::BadSize { size });
    }
    match u32::try_from(size) {
        Ok(n) if n <= MAX_METADATA_SIZE => Ok(n),
        _ => Err(FetchError::SizeTooLarge { size }),
    }
}

fn piece_digest(buf: &[u8], piece: u32) -> [u8; 20] {
    let start = (piece * METADATA_PIECE_LEN) as usize;
    let end = (start + METADATA_PIECE_LEN as usize).min(buf.len());
    Sha1::digest(&buf[start..end]).into()
}

/// Peers whose remembered piece digests differ from the verified bytes.
fn blame_against(info: &[u8], suspects: &[Suspect]) -> Vec<PeerKey> {
    let mut bad: Vec<PeerKey> = Vec::new();
    for s in suspects {
        if piece_len(info.len() as u32, s.piece).is_none() {
            continue;
        }
        if piece_digest(info, s.piece) != s.digest && !bad.contains(&s.peer) {
            bad.push(s.peer);
        }
    }
    bad
}
