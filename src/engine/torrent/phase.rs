//! A torrent's phase, each variant holding only the data valid in it: the recheck cursor exists
//! only while checking, the reason only when failed, and a paused torrent remembers what it
//! returns to.
//!
//! Part of the sans-IO torrent core (reactor thread). Pure data: transitions are decided by the
//! torrent, which consumes the old phase.

use std::fmt;
use std::sync::Arc;

use crate::bitfield::Bitfield;
use crate::engine::io::TorrentState;

/// Where a recheck of data found on disk stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Recheck {
    /// The next piece to consider.
    next: u32,
    /// Pieces still to hand out, so the end is known without scanning `only`.
    left: u32,
    /// Checks handed to the pool and not answered yet.
    pub(crate) in_flight: usize,
    /// The pieces to check (those of files that changed since the resume state); `None`: all.
    only: Option<Bitfield>,
}

impl Recheck {
    /// A recheck of `only` (every piece when `None`) of a torrent of `n` pieces.
    pub(crate) fn new(n: u32, only: Option<Bitfield>) -> Recheck {
        let only = only.filter(|o| o.len() == n);
        Recheck {
            next: 0,
            left: only.as_ref().map_or(n, Bitfield::count),
            in_flight: 0,
            only,
        }
    }

    /// The next piece to check, moving the cursor past it; `None` when none is left. Pieces
    /// outside `only` are skipped without a disk request.
    pub(crate) fn take_next(&mut self) -> Option<u32> {
        while self.left > 0 {
            let piece = self.next;
            self.next += 1;
            let wanted = match &self.only {
                None => true,
                Some(o) => o.get(piece),
            };
            if wanted {
                self.left -= 1;
                return Some(piece);
            }
        }
        None
    }

    /// Whether pieces are left to hand out.
    pub(crate) fn has_more(&self) -> bool {
        self.left > 0
    }
}

/// What a paused torrent goes back to.
#[derive(Debug)]
pub(crate) enum Resume {
    /// The recheck it was in (checks in flight when it paused still count when they return).
    Checking(Recheck),
    /// Downloading or seeding, whichever the pieces say.
    Active,
    /// Fetching the metadata, with what was fetched so far.
    Fetching(Box<crate::ext::MetadataFetch>),
    /// Waiting for the shell to create the files.
    Preparing,
}

/// Why a torrent stopped for good.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum TorrentError {
    /// A verified piece could not be written (disk full, I/O error).
    Write {
        /// The piece.
        piece: u32,
        /// What the storage said.
        error: Arc<crate::disk::StorageError>,
    },
    /// The torrent's storage failed outside a piece write (for example it could not open).
    Storage(String),
    /// A magnet's metadata hashed right but is not a usable torrent (for example unsafe paths).
    Metadata(String),
    /// The files chosen when the magnet was added do not fit its metadata (an index past the
    /// last file, or nothing selected); no file was created.
    Selection(String),
}

impl fmt::Display for TorrentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TorrentError::Write { piece, error } => {
                write!(f, "writing piece {piece} failed: {error}")
            }
            TorrentError::Storage(e) => f.write_str(e),
            TorrentError::Metadata(e) => write!(f, "the torrent's metadata is unusable: {e}"),
            TorrentError::Selection(e) => write!(f, "file selection: {e}"),
        }
    }
}

impl std::error::Error for TorrentError {}

/// What a torrent is doing. See the module documentation.
#[derive(Debug)]
pub(crate) enum Phase {
    /// A magnet link: the info dictionary is fetched from peers (BEP 9); the swarm, dialer and
    /// announcer already work.
    FetchingMetadata(Box<crate::ext::MetadataFetch>),
    /// The metadata checked out; the shell is creating the files. Peers stay connected.
    Preparing,
    /// Hashing data found on disk.
    Checking(Recheck),
    /// Fetching pieces.
    Downloading,
    /// Every wanted piece verified (every piece, unless files are skipped); serving others.
    Seeding,
    /// Stopped by the user: no connections, no announces.
    Paused(Resume),
    /// Stopped by an error it cannot recover from.
    Failed(TorrentError),
}

impl Phase {
    /// The public name of the phase.
    pub(crate) fn state(&self) -> TorrentState {
        match self {
            Phase::FetchingMetadata(_) => TorrentState::FetchingMetadata,
            Phase::Preparing | Phase::Checking(_) => TorrentState::Checking,
            Phase::Downloading => TorrentState::Downloading,
            Phase::Seeding => TorrentState::Seeding,
            Phase::Paused(_) => TorrentState::Paused,
            Phase::Failed(e) => TorrentState::Failed(e.to_string()),
        }
    }

    /// Whether the torrent takes peers, dials and announces.
    pub(crate) fn is_active(&self) -> bool {
        matches!(
            self,
            Phase::Downloading | Phase::Seeding | Phase::FetchingMetadata(_) | Phase::Preparing
        )
    }

    /// Whether the pieces are known (not a magnet still fetching its metadata).
    pub(crate) fn has_metadata(&self) -> bool {
        !matches!(self, Phase::FetchingMetadata(_) | Phase::Preparing)
    }

    /// The metadata fetch in progress, running or paused.
    pub(crate) fn fetch_mut(&mut self) -> Option<&mut crate::ext::MetadataFetch> {
        match self {
            Phase::FetchingMetadata(f) | Phase::Paused(Resume::Fetching(f)) => Some(f),
            _ => None,
        }
    }

    /// The recheck in progress, running or paused.
    pub(crate) fn recheck_mut(&mut self) -> Option<&mut Recheck> {
        match self {
            Phase::Checking(r) | Phase::Paused(Resume::Checking(r)) => Some(r),
            _ => None,
        }
    }
}
