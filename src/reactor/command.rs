//! The reactor's command vocabulary: what handles ask of the reactor thread, the storage it
//! keeps per torrent, and the end-state cell a handle's `wait` blocks on.
//!
//! Owned by the runtime (the reactor); the session (the public face) depends on it, never the
//! reverse. Built on the caller's threads, consumed on the reactor thread.

use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;

use crate::disk::{ResumeTarget, Storage, StorageConfig, TorrentDisk};
use crate::engine::{
    DiscoveryStats, MagnetParams, RateLimits, TorrentId, TorrentParams, TorrentState, TorrentStats,
};
use crate::metainfo::Metainfo;
use crate::selection::{FilePriority, FileSelection, PieceWants};

/// Instructions from handles to the reactor thread.
pub(crate) enum Command {
    Add {
        id: TorrentId,
        params: TorrentParams,
        shelf: Shelf,
        /// The pieces its file priorities ask for, applied before any peer connects.
        wants: PieceWants,
    },
    /// New file priorities; skipped files chosen again were created by the caller already.
    SetWants {
        id: TorrentId,
        wants: PieceWants,
    },
    /// A magnet link: no storage until its metadata arrives.
    AddMagnet {
        id: TorrentId,
        params: MagnetParams,
        pending: Pending,
    },
    Stats {
        id: TorrentId,
        reply: Sender<Option<TorrentStats>>,
    },
    /// The torrent's connected peers.
    Peers {
        id: TorrentId,
        reply: Sender<Option<Vec<crate::engine::PeerInfo>>>,
    },
    /// A checkpoint of the torrent's resume state; answered with its bytes once durable.
    ResumeData {
        id: TorrentId,
        reply: Sender<Result<Vec<u8>, String>>,
    },
    Pause(TorrentId),
    Resume(TorrentId),
    /// Lets go of the torrent and its storage. A `Stats` sent after it is answered after it
    /// (commands are taken in order): `remove_and_delete` waits on that.
    Remove(TorrentId),
    /// Check every piece on disk again.
    Recheck(TorrentId),
    /// Peer addresses to dial for a running torrent.
    AddPeers(TorrentId, Vec<std::net::SocketAddr>),
    /// The session's limits (`id: None`) or one torrent's.
    SetRateLimits {
        id: Option<TorrentId>,
        limits: RateLimits,
    },
    SetSequential(TorrentId, bool),
    /// A streaming reader's read-ahead window (empty: cleared), and maybe a piece it waits for.
    StreamWindow {
        id: TorrentId,
        reader: u64,
        pieces: std::ops::Range<u32>,
        wait: Option<super::PieceWait>,
    },
    /// Bootstrap routers resolved off the reactor.
    DhtRouters(Vec<std::net::SocketAddr>),
    SessionStats {
        reply: Sender<SessionStats>,
    },
    /// Stop: `stopped` announces get at most `announce_within`.
    Shutdown {
        announce_within: Duration,
    },
}

/// What [`Session::shutdown_timeout`](crate::Session::shutdown_timeout) got done.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// `completed` announces still in flight at shutdown that were answered before `stopped`
    /// went out.
    pub completed_delivered: usize,
    /// Trackers that answered `stopped` in time.
    pub stopped_answered: usize,
    /// Trackers that failed or did not answer `stopped` in time.
    pub stopped_unanswered: usize,
    /// The first file that could not be synced to the disk (every torrent is still tried).
    pub sync_error: Option<crate::disk::StorageError>,
    /// The limit passed before the final sync finished: it goes on on the reactor thread,
    /// which ends by itself (and `jobs_running` is not known).
    pub timed_out: bool,
    /// Tracker announces and web-seed requests still blocked on a server when the announce
    /// time ran out, each as "announce started to URL" or "web seed request to URL". A
    /// blocking request cannot be interrupted: each ends by itself within its own timeout
    /// ([`crate::TrackerConfig::timeout`]; a `stopped` announce within the shutdown's own
    /// announce time), on a thread that holds nothing of the session. Empty when every thread
    /// the session started had ended.
    pub jobs_running: Vec<String>,
}

/// Numbers about the whole session (see `Session::stats`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionStats {
    /// Torrents in the session.
    pub torrents: usize,
    /// Connections in every stage.
    pub connections: usize,
    /// The DHT's and local discovery's numbers.
    pub discovery: DiscoveryStats,
}

/// A torrent's end state, shared with its handles so `wait` can block on it.
#[derive(Debug, Default)]
pub(crate) struct StatusCell {
    state: Mutex<Option<TorrentState>>,
    changed: Condvar,
}

impl StatusCell {
    fn set(&self, s: TorrentState) {
        if let Ok(mut g) = self.state.lock() {
            *g = Some(s);
        }
        self.changed.notify_all();
    }
    pub(crate) fn set_complete(&self) {
        self.set(TorrentState::Seeding)
    }
    pub(crate) fn set_failed(&self, why: String) {
        self.set(TorrentState::Failed(why))
    }
    pub(crate) fn set_stopped(&self) {
        self.set(TorrentState::Paused)
    }
    /// Forgets a completion: the torrent wants more files now, and `wait` waits again.
    pub(crate) fn clear_complete(&self) {
        if let Ok(mut g) = self.state.lock() {
            if *g == Some(TorrentState::Seeding) {
                *g = None;
            }
        }
    }
    /// Running again after a pause: `wait` blocks again.
    pub(crate) fn clear(&self) {
        if let Ok(mut g) = self.state.lock() {
            *g = None;
        }
    }
    /// A pause was asked for: `wait` returns from now on, unless the torrent failed (which a
    /// pause does not change). Set by the caller, so it holds as soon as `pause` returns.
    pub(crate) fn pause_asked(&self) {
        if !matches!(self.state(), Some(TorrentState::Failed(_))) {
            self.set_stopped();
        }
    }
    /// A resume was asked for: `wait` blocks again until the reactor says complete or failed.
    pub(crate) fn resume_asked(&self) {
        if let Ok(mut g) = self.state.lock() {
            if *g == Some(TorrentState::Paused) {
                *g = None;
            }
        }
    }
    pub(crate) fn state(&self) -> Option<TorrentState> {
        self.state.lock().ok().and_then(|g| g.clone())
    }

    /// Blocks until an end state is set or `deadline` passes (`None`: timed out).
    pub(crate) fn wait_until(&self, deadline: Option<Instant>) -> Option<TorrentState> {
        let mut g = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(s) = &*g {
                return Some(s.clone());
            }
            let wait = match deadline {
                Some(d) => d.checked_duration_since(Instant::now())?,
                None => Duration::from_secs(3600),
            };
            g = self
                .changed
                .wait_timeout(g, wait)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

/// A torrent's storage and what the disk jobs need to know about it.
/// What a magnet's torrent needs once its metadata arrives: where its files go, and the cells
/// its handles watch.
pub(crate) struct Pending {
    /// A magnet's `dn`, or its info-hash in hex, until the metadata names it.
    pub name: String,
    pub stop_at_metadata: bool,
    /// Where its resume state goes once it has files.
    pub resume: ResumeTarget,
    pub output: PathBuf,
    pub storage: StorageConfig,
    pub meta: Arc<OnceLock<Arc<Metainfo>>>,
    pub status: Arc<StatusCell>,
    /// Set to the files once they are open, for the handles' priority changes.
    pub opened: Arc<OnceLock<Arc<Storage>>>,
    /// File choices, resolved when the metadata arrives.
    pub file_priorities: Vec<FilePriority>,
    pub select: FileSelection,
}

pub(crate) struct Shelf {
    pub meta: Arc<Metainfo>,
    /// What the pool needs for this torrent's disk work (its store is `storage`).
    pub disk: Arc<TorrentDisk>,
    /// The files, for the sync at shutdown.
    pub storage: Arc<Storage>,
    pub status: Arc<StatusCell>,
    /// The download folder (where BEP 47 symlinks go once the data is complete).
    pub output: PathBuf,
    /// The last progress published, so an unchanged one is not sent again.
    pub last_progress: Option<Box<TorrentStats>>,
    /// Pieces missing per file, for `FileCompleted` (started at the first verified piece).
    pub files_left: Option<super::file_events::FilesLeft>,
}

impl Shelf {
    /// The shelf of a torrent whose files are open.
    pub fn new(
        meta: Arc<Metainfo>,
        storage: Storage,
        resume: ResumeTarget,
        status: Arc<StatusCell>,
        output: PathBuf,
    ) -> Shelf {
        let storage = Arc::new(storage);
        let disk = Arc::new(TorrentDisk {
            layout: meta.layout(),
            hashes: meta.piece_hashes.clone(),
            store: storage.clone(),
            resume,
        });
        Shelf {
            meta,
            disk,
            storage,
            status,
            output,
            last_progress: None,
            files_left: None,
        }
    }
}
