//! The public face for embedding programs: a [`Session`] runs many torrents on one reactor thread,
//! a hash/write pool and a tracker client; [`TorrentHandle`]s control and observe one torrent each.
//!
//! Runs on the caller's threads. Everything here is plain blocking calls over channels: no
//! async, no global state, so several sessions can live in one process. Opening a torrent's files
//! (which may reserve gigabytes) happens in [`Session::add`], on the caller's thread, never on the
//! reactor.

// I/O shell: listener, reactor thread, .torrent files, clock for waits, the engine's entropy.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, unbounded, Receiver, Sender};

use crate::bitfield::Bitfield;
use crate::disk::{DiskPool, FileSpec, Storage, StorageConfig, StorageError, TorrentDisk};
use crate::engine::{
    peer_id_from_seed, Engine, EngineConfig, Event, TorrentId, TorrentParams, TorrentState,
    TorrentStats,
};
use crate::metainfo::{Metainfo, MetainfoError, MAX_TORRENT_FILE};
use crate::reactor::{Bound, Command, Reactor, Shelf, StatusCell, Wake};
use crate::sys;
use crate::tracker::{TrackerClient, TrackerConfig};

/// Everything a session can be tuned with. `Default` listens on all interfaces, port 6881.
#[derive(Clone, Debug)]
pub struct SessionConfig {
    /// Where to accept peers. Port 0 picks a free port (see [`Session::listen_addr`]).
    pub listen: SocketAddr,
    /// Hash/write workers; 0 means one per available core.
    pub disk_workers: usize,
    /// Jobs the disk queue holds before the reactor keeps them back.
    pub disk_queue: usize,
    /// Protocol tuning (peer limits, buffer budget, timeouts). [`SessionConfig::default`] gives it
    /// a random peer id and seed; [`Session::new`] also replaces the fixed peer id of
    /// [`EngineConfig::default`] with a random one, so sessions never share a peer id by accident.
    pub engine: EngineConfig,
    /// Tracker timeouts and limits.
    pub tracker: TrackerConfig,
    /// File mapping and storage options.
    pub storage: StorageConfig,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            listen: SocketAddr::from(([0, 0, 0, 0], 6881)),
            disk_workers: 0,
            disk_queue: 16,
            engine: EngineConfig {
                peer_id: peer_id_from_seed(sys::random_u64()),
                seed: sys::random_u64(),
                ..EngineConfig::default()
            },
            tracker: TrackerConfig::default(),
            storage: StorageConfig::default(),
        }
    }
}

/// Where a torrent comes from.
#[derive(Clone, Debug)]
pub enum TorrentSource {
    /// A .torrent file on disk.
    File(PathBuf),
    /// The bytes of a .torrent file.
    Bytes(Vec<u8>),
    /// Metainfo already parsed.
    Metainfo(Box<Metainfo>),
}

/// Per-torrent options.
#[derive(Clone, Debug, Default)]
pub struct AddOptions {
    /// The folder the torrent's file or folder is created in.
    pub output: PathBuf,
    /// Peers to dial besides those the trackers return.
    pub peers: Vec<SocketAddr>,
    /// Ignore the torrent's trackers (use only `peers`).
    pub no_trackers: bool,
}

/// What went wrong, at session level.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// An operating-system call failed.
    Io {
        /// What we were doing.
        context: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The .torrent is malformed.
    Metainfo(MetainfoError),
    /// The files could not be created or reserved.
    Storage(StorageError),
    /// The same torrent is already in this session.
    AlreadyAdded,
    /// The session's thread is gone.
    SessionClosed,
    /// The torrent stopped on an error.
    TorrentFailed(String),
    /// The torrent was stopped (paused, removed or shut down) before it finished.
    Stopped,
    /// A wait ran out of time.
    Timeout,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { context, source } => write!(f, "{context}: {source}"),
            Error::Metainfo(e) => write!(f, "invalid torrent: {e}"),
            Error::Storage(e) => write!(f, "{e}"),
            Error::AlreadyAdded => write!(f, "this torrent is already added"),
            Error::SessionClosed => write!(f, "the session has shut down"),
            Error::TorrentFailed(why) => write!(f, "{why}"),
            Error::Stopped => write!(f, "the torrent was stopped before it finished"),
            Error::Timeout => write!(f, "timed out"),
        }
    }
}

impl std::error::Error for Error {}

/// The channel end and the wake-up the handles share.
#[derive(Clone)]
struct Link {
    commands: Sender<Command>,
    waker: Wake,
    added: Arc<Mutex<Added>>,
}

/// Which torrents the session holds, kept on the callers' side so that `add` hands its torrent
/// to the reactor without waiting for an answer. Waiting cost one reactor loop per add: 100
/// adds during a download took up to 180 ms (`examples/scale`).
#[derive(Default)]
struct Added {
    next_id: TorrentId,
    by_hash: std::collections::BTreeMap<[u8; 20], TorrentId>,
}

impl Link {
    /// A new id for a torrent with this info-hash, unless the session already has one.
    fn claim(&self, hash: [u8; 20]) -> Result<TorrentId, Error> {
        let mut added = self.added.lock().unwrap_or_else(|e| e.into_inner());
        if added.by_hash.contains_key(&hash) {
            return Err(Error::AlreadyAdded);
        }
        added.next_id += 1;
        let id = added.next_id;
        added.by_hash.insert(hash, id);
        Ok(id)
    }

    /// Forgets torrent `id`, so its info-hash can be added again. A stale handle of an earlier
    /// torrent with the same info-hash releases nothing.
    fn release(&self, hash: &[u8; 20], id: TorrentId) {
        let mut added = self.added.lock().unwrap_or_else(|e| e.into_inner());
        if added.by_hash.get(hash) == Some(&id) {
            added.by_hash.remove(hash);
        }
    }

    fn send(&self, c: Command) -> Result<(), Error> {
        self.commands.send(c).map_err(|_| Error::SessionClosed)?;
        self.waker.wake().map_err(|e| Error::Io {
            context: "waking the reactor".into(),
            source: e,
        })
    }
}

/// A running engine: one reactor thread, a disk pool and a tracker client.
pub struct Session {
    link: Link,
    events: Receiver<Event>,
    thread: Option<JoinHandle<Result<(), StorageError>>>,
    listen: SocketAddr,
    storage: StorageConfig,
}

impl Session {
    /// Binds the listener and starts the threads.
    pub fn new(cfg: SessionConfig) -> Result<Session, Error> {
        let io = |context: &str| {
            let context = context.to_string();
            move |source| Error::Io { context, source }
        };
        let bound = Bound::new(cfg.listen).map_err(io(&format!("listening on {}", cfg.listen)))?;
        let listen = bound
            .local_addr()
            .map_err(io("reading the listen address"))?;
        let waker = bound.wake();
        let (cmd_tx, cmd_rx) = unbounded();
        let (event_tx, event_rx) = bounded(1024);
        let (disk_tx, disk_rx) = unbounded();
        let (trk_tx, trk_rx) = unbounded();
        let notify = {
            let w = waker.clone();
            Arc::new(move || {
                let _ = w.wake();
            })
        };
        let workers = match cfg.disk_workers {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n,
        };
        let pool = DiskPool::new(workers, cfg.disk_queue, disk_tx, notify.clone())
            .map_err(io("starting the disk pool"))?;
        let tracker = TrackerClient::new(cfg.tracker.clone(), trk_tx, notify)
            .map_err(io("starting the tracker client"))?;
        let mut engine_cfg = cfg.engine.clone();
        engine_cfg.listen_port = listen.port();
        engine_cfg.peer_id = unique_peer_id(engine_cfg.peer_id);
        let reactor = Reactor::new(
            bound,
            Engine::new(engine_cfg),
            cmd_rx,
            event_tx,
            pool,
            disk_rx,
            tracker,
            trk_rx,
        )
        .map_err(io("registering the listener"))?;
        let thread = std::thread::Builder::new()
            .name("coracle-reactor".into())
            .spawn(move || reactor.run())
            .map_err(io("starting the reactor thread"))?;
        Ok(Session {
            link: Link {
                commands: cmd_tx,
                waker,
                added: Arc::default(),
            },
            events: event_rx,
            thread: Some(thread),
            listen,
            storage: cfg.storage,
        })
    }

    /// The address peers can connect to.
    pub fn listen_addr(&self) -> SocketAddr {
        self.listen
    }

    /// Events of every torrent (progress about once a second, completion, errors). Events are
    /// dropped rather than queued without bound when nobody reads them.
    pub fn events(&self) -> Receiver<Event> {
        self.events.clone()
    }

    /// Adds a torrent: parses it, creates and reserves its files under `opts.output` (on this
    /// thread), then hands it to the reactor. Data already there is rechecked first.
    pub fn add(&self, source: TorrentSource, opts: AddOptions) -> Result<TorrentHandle, Error> {
        let meta = load(source)?;
        let hash = meta.info_hash.0;
        // Claimed before the files are touched; given back if anything below fails.
        let id = self.link.claim(hash)?;
        let added = self.add_claimed(id, meta, opts);
        if added.is_err() {
            self.link.release(&hash, id);
        }
        added
    }

    fn add_claimed(
        &self,
        id: TorrentId,
        meta: Metainfo,
        opts: AddOptions,
    ) -> Result<TorrentHandle, Error> {
        let files: Vec<FileSpec> = meta
            .files
            .iter()
            .map(|f| FileSpec {
                path: f.path.clone(),
                length: f.length,
                padding: f.padding,
                executable: f.executable,
            })
            .collect();
        let recheck = has_existing_data(&opts.output, &files);
        let storage = Storage::open(&opts.output, &files, &self.storage).map_err(Error::Storage)?;
        let mut trackers = meta.trackers.clone();
        if opts.no_trackers {
            trackers.clear();
        }
        let params = TorrentParams {
            info_hash: meta.info_hash.0,
            layout: meta.layout(),
            trackers,
            peers: opts.peers,
            have: Bitfield::new(meta.layout().num_pieces()),
            recheck,
        };
        let status = Arc::new(StatusCell::default());
        let meta = Arc::new(meta);
        let storage = Arc::new(storage);
        let disk = Arc::new(TorrentDisk {
            layout: meta.layout(),
            hashes: meta.piece_hashes.clone(),
            store: storage.clone(),
        });
        let shelf = Shelf {
            meta: meta.clone(),
            disk,
            storage,
            status: status.clone(),
        };
        self.link.send(Command::Add { id, params, shelf })?;
        Ok(TorrentHandle {
            id,
            meta,
            link: self.link.clone(),
            status,
        })
    }

    /// Announces `stopped`, writes every file to the disk (fsync) and joins the threads.
    ///
    /// This is where downloaded data becomes durable: completion leaves it to the kernel's
    /// writeback, as other clients do, and a crash before it is caught by the recheck on the
    /// next start. `Err(Error::Storage)` when a file could not be synced (every torrent is
    /// still tried); dropping the session does the same and ignores the error.
    pub fn shutdown(mut self) -> Result<(), Error> {
        self.stop()
    }

    fn stop(&mut self) -> Result<(), Error> {
        let Some(t) = self.thread.take() else {
            return Ok(());
        };
        let _ = self.link.send(Command::Shutdown);
        match t.join() {
            Ok(flushed) => flushed.map_err(Error::Storage),
            Err(_) => Err(Error::SessionClosed),
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// Reads and parses a torrent from its source.
fn load(source: TorrentSource) -> Result<Metainfo, Error> {
    let bytes = match source {
        TorrentSource::Metainfo(m) => return Ok(*m),
        TorrentSource::Bytes(b) => b,
        TorrentSource::File(path) => read_torrent_file(&path)?,
    };
    Metainfo::from_bytes(&bytes).map_err(Error::Metainfo)
}

/// `id`, or a random peer id in place of [`EngineConfig::default`]'s fixed one (which every engine
/// built from the defaults shares).
fn unique_peer_id(id: [u8; 20]) -> [u8; 20] {
    if id == EngineConfig::default().peer_id {
        peer_id_from_seed(sys::random_u64())
    } else {
        id
    }
}

/// Reads a .torrent file, refusing one larger than any real torrent.
pub fn read_torrent_file(path: &Path) -> Result<Vec<u8>, Error> {
    use std::io::Read;
    let context = format!("reading {}", path.display());
    let file = std::fs::File::open(path).map_err(|source| Error::Io {
        context: context.clone(),
        source,
    })?;
    let mut bytes = Vec::new();
    file.take(MAX_TORRENT_FILE as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| Error::Io {
            context: context.clone(),
            source,
        })?;
    if bytes.len() > MAX_TORRENT_FILE {
        return Err(Error::Io {
            context,
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "file too large for a .torrent",
            ),
        });
    }
    Ok(bytes)
}

/// Whether an earlier run left data that a recheck must look at.
fn has_existing_data(root: &Path, files: &[FileSpec]) -> bool {
    files
        .iter()
        .filter(|f| !f.padding && f.length > 0)
        .any(|f| std::fs::metadata(root.join(&f.path)).is_ok_and(|m| m.len() > 0))
}

/// Controls and observes one torrent. Cheap to clone; `Send + Sync`.
#[derive(Clone)]
pub struct TorrentHandle {
    id: TorrentId,
    meta: Arc<Metainfo>,
    link: Link,
    status: Arc<StatusCell>,
}

impl fmt::Debug for TorrentHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TorrentHandle")
            .field("id", &self.id)
            .field("name", &self.meta.name)
            .finish()
    }
}

impl TorrentHandle {
    /// The torrent's id within its session (events carry it).
    pub fn id(&self) -> TorrentId {
        self.id
    }

    /// The parsed .torrent.
    pub fn metainfo(&self) -> &Metainfo {
        &self.meta
    }

    /// A snapshot of its numbers; `None` when the session or torrent is gone.
    pub fn stats(&self) -> Option<TorrentStats> {
        let (tx, rx) = bounded(1);
        self.link
            .send(Command::Stats {
                id: self.id,
                reply: tx,
            })
            .ok()?;
        rx.recv_timeout(Duration::from_secs(5)).ok().flatten()
    }

    /// Drops its peers and stops it until [`Self::resume`].
    pub fn pause(&self) -> Result<(), Error> {
        self.link.send(Command::Pause(self.id))
    }

    /// Resumes after [`Self::pause`].
    pub fn resume(&self) -> Result<(), Error> {
        self.link.send(Command::Resume(self.id))
    }

    /// Removes it from the session (its files stay).
    pub fn remove(&self) -> Result<(), Error> {
        self.status.set_stopped();
        self.link.release(&self.meta.info_hash.0, self.id);
        self.link.send(Command::Remove(self.id))
    }

    /// Blocks until every piece is verified and on disk, or the torrent fails or stops.
    pub fn wait(&self) -> Result<(), Error> {
        self.wait_until(None)
    }

    /// Like [`Self::wait`], giving up after `timeout` with [`Error::Timeout`].
    pub fn wait_timeout(&self, timeout: Duration) -> Result<(), Error> {
        self.wait_until(Some(Instant::now() + timeout))
    }

    fn wait_until(&self, deadline: Option<Instant>) -> Result<(), Error> {
        match self.status.wait_until(deadline) {
            Some(TorrentState::Seeding) => Ok(()),
            Some(TorrentState::Failed(why)) => Err(Error::TorrentFailed(why)),
            Some(_) => Err(Error::Stopped),
            None => Err(Error::Timeout),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_get_their_own_peer_ids_and_seeds() {
        let (a, b) = (
            SessionConfig::default().engine,
            SessionConfig::default().engine,
        );
        assert_ne!(a.peer_id, b.peer_id);
        assert_ne!(a.seed, b.seed);
        assert!(a.peer_id.starts_with(b"-CR0100-"));
        // The engine's fixed default id never reaches the network; any other id is kept.
        let fixed = EngineConfig::default().peer_id;
        assert_ne!(unique_peer_id(fixed), fixed);
        assert_ne!(unique_peer_id(fixed), unique_peer_id(fixed));
        assert_eq!(unique_peer_id(a.peer_id), a.peer_id);
    }
}
