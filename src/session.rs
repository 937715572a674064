//! The public face for embedding programs: a [`Session`] runs many torrents on one reactor thread,
//! a hash/write pool and a tracker client; [`TorrentHandle`]s control and observe one torrent each.
//!
//! Runs on the caller's threads. Everything here is plain blocking calls over channels: no
//! async, no global state, so several sessions can live in one process. Opening a torrent's files
//! (which may reserve gigabytes) happens in [`Session::add`], on the caller's thread, never on the
//! reactor.

// I/O shell: listener, reactor thread, .torrent files, clock for waits, the engine's entropy.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, unbounded};

use crate::disk::{
    choose_files, file_specs, state_file, DiskPool, ResumeTarget, Storage, StorageConfig,
};
use crate::engine::{
    peer_id_from_seed, Engine, EngineConfig, MagnetParams, RateLimits, TorrentParams,
};
use crate::magnet::{Magnet, MagnetPeer};
use crate::metainfo::{InfoHash, Metainfo, MAX_TORRENT_FILE};
use crate::reactor::{
    resolve_later, Bound, Command, DiscoveryPlan, Hub, Pending, Reactor, Shelf, StatusCell,
};
pub use crate::reactor::{EventReceiver, RecvError, SessionStats, ShutdownReport};
use crate::selection::{FilePriority, FileSelection};
use crate::sys;
use crate::tracker::{TrackerClient, TrackerConfig};

mod delete;
mod error;
mod files;
mod handle;
mod reader;
mod start;

pub use error::Error;
pub use handle::TorrentHandle;
use handle::{Entry, Link};
pub use reader::{FileReader, DEFAULT_READAHEAD};

/// Everything a session can be tuned with. `Default` listens on all interfaces on a port the
/// system picks ([`Session::listen_addr`] tells which), so sessions never collide. Build it
/// from [`SessionConfig::default`] and set fields (it is `#[non_exhaustive]`). One config may
/// serve several sessions (cloned): each session draws its own peer id and random seed unless
/// the config sets them.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SessionConfig {
    /// Where to accept peers. Port 0 picks a free port (see [`Session::listen_addr`]).
    pub listen: SocketAddr,
    /// Hash/write workers; 0 means one per available core.
    pub disk_workers: usize,
    /// Jobs the disk queue holds before the reactor keeps them back.
    pub disk_queue: usize,
    /// Protocol tuning (peer limits, buffer budget, timeouts). [`Session::new`] replaces the
    /// fixed peer id and seed of [`EngineConfig::default`] with random ones of its own, so
    /// sessions never share a peer id by accident; an id or seed set here is kept.
    pub engine: EngineConfig,
    /// Tracker timeouts and limits.
    pub tracker: TrackerConfig,
    /// File mapping and storage options.
    pub storage: StorageConfig,
    /// The DHT (BEP 5): on by default, with no bootstrap routers.
    pub dht: DhtSettings,
    /// Local service discovery (BEP 14): off by default.
    pub lsd: LsdSettings,
    /// Where state is kept between runs; `None`: nothing is kept. With a folder, each torrent's
    /// resume state lives in `state_dir/resume/<info-hash>.resume`, written at checkpoints
    /// (30 s after pieces verify, at completion, pause and shutdown) after its data is synced,
    /// so a restart takes the pieces it lists without reading them.
    pub state_dir: Option<PathBuf>,
}

/// DHT settings. The default runs a node that knows nobody at first: it learns nodes from
/// peers' `port` messages and from the saved table in [`SessionConfig::state_dir`]. Give it
/// `bootstrap` routers to join the public DHT (the `coracle` binary uses the well-known ones).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct DhtSettings {
    /// Run a DHT node (public torrents only; BEP 27 private torrents never use it).
    pub enabled: bool,
    /// Routers to join through, as `HOST:PORT`. Addresses are used at once; host names are
    /// resolved on a short-lived thread after the start. Default empty.
    pub bootstrap: Vec<String>,
    /// BEP 43: query but answer nothing (for metered or firewalled links). Default false.
    pub read_only: bool,
}

impl Default for DhtSettings {
    fn default() -> Self {
        DhtSettings {
            enabled: true,
            bootstrap: Vec::new(),
            read_only: false,
        }
    }
}

/// Local service discovery settings (multicast on the local network, BEP 14).
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct LsdSettings {
    /// Announce public torrents to, and hear peers from, the local network. Off by default:
    /// multicast leaves the machine.
    pub enabled: bool,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            listen: SocketAddr::from(([0, 0, 0, 0], 0)),
            disk_workers: 0,
            disk_queue: 16,
            // The engine's fixed id and seed: `Session::new` draws fresh ones for each session,
            // so that clones of one config never share a peer id (they would refuse each other
            // as connections to themselves) or a random stream.
            engine: EngineConfig::default(),
            tracker: TrackerConfig::default(),
            storage: StorageConfig::default(),
            dht: DhtSettings::default(),
            lsd: LsdSettings::default(),
            state_dir: None,
        }
    }
}

/// How long after a piece verifies the resume state records it, when state is kept.
pub const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(30);

/// Where a torrent comes from.
#[derive(Clone, Debug)]
pub enum TorrentSource {
    /// A .torrent file on disk.
    File(PathBuf),
    /// The bytes of a .torrent file.
    Bytes(Vec<u8>),
    /// A magnet link (`magnet:?xt=urn:btih:…`): the metadata is fetched from peers.
    Magnet(String),
    /// Metainfo already parsed.
    Metainfo(Box<Metainfo>),
}

/// Per-torrent options.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct AddOptions {
    /// The folder the torrent's file or folder is created in; empty (the default) means the
    /// current folder. A relative path is taken from the current folder at `add`.
    pub output: PathBuf,
    /// Peers to dial besides those the trackers return.
    pub peers: Vec<SocketAddr>,
    /// Ignore the torrent's trackers (use only `peers`).
    pub no_trackers: bool,
    /// A magnet link: stop once the metadata has arrived (it is then in
    /// [`TorrentHandle::metainfo`]); no file is created. What `coracle info MAGNET` does. The
    /// info-hash stays taken in the session until [`TorrentHandle::remove`], so the same
    /// torrent can then be added to download.
    pub stop_at_metadata: bool,
    /// Resume state from [`TorrentHandle::resume_data`] of an earlier run, used instead of the
    /// state file. Bytes that are damaged or belong elsewhere are ignored with a warning (the
    /// data is then checked as without state).
    pub resume: Option<Vec<u8>>,
    /// Ignore any resume state and check every piece already on disk.
    pub recheck: bool,
    /// The data is known to be complete (you made the torrent from it, or checked it): seed it
    /// at once without reading it. Each file must exist with its full length, else `add` fails
    /// with [`Error::Io`]; resume state and `recheck` are ignored. Bytes that are wrong anyway
    /// are found by peers' hash checks, not by us: use it only for data you trust.
    pub seed_only: bool,
    /// Each file's priority, in torrent order (padding files included); empty: every file
    /// normal. A skipped file that does not exist is never created (see
    /// [`TorrentHandle::set_file_priorities`] to choose again later).
    pub file_priorities: Vec<FilePriority>,
    /// Files to download by index or path pattern (`--only`, `--exclude`, a magnet's `so=`),
    /// applied over `file_priorities`: a file it leaves out is skipped. For a magnet link it is
    /// resolved when the metadata arrives (an error then fails the torrent before any file is
    /// created); for a .torrent, at [`Session::add`] ([`Error::Selection`]).
    pub select: FileSelection,
    /// Start new pieces in order, lowest index first, instead of rarest first (for playing a
    /// file while it downloads; see also [`TorrentHandle::open_file`]). Changed later with
    /// [`TorrentHandle::set_sequential`].
    pub sequential: bool,
    /// This torrent's own download and upload limits, on top of the session's
    /// ([`EngineConfig::download_rate_limit`], [`EngineConfig::upload_rate_limit`]). Changed
    /// later with [`TorrentHandle::set_rate_limits`].
    pub rate_limits: RateLimits,
}

/// A running engine: one reactor thread, a disk pool and a tracker client. `Send + Sync`: share
/// it as `Arc<Session>`; any holder may shut it down.
pub struct Session {
    link: Link,
    events: Arc<Hub>,
    thread: Mutex<Option<JoinHandle<ShutdownReport>>>,
    listen: SocketAddr,
    storage: StorageConfig,
    state_dir: Option<PathBuf>,
}

/// How long [`Session::shutdown`] gives `stopped` announces (and unanswered `completed` ones).
const ANNOUNCES_AT_SHUTDOWN: Duration = Duration::from_secs(3);

impl Session {
    /// Binds the listener and starts the threads.
    pub fn new(cfg: SessionConfig) -> Result<Session, Error> {
        let io = |context: &str| {
            let context = context.to_string();
            move |source| Error::Io { context, source }
        };
        let mut bound =
            Bound::new(cfg.listen).map_err(io(&format!("listening on {}", cfg.listen)))?;
        let listen = bound
            .local_addr()
            .map_err(io("reading the listen address"))?;
        let waker = bound.wake();
        let (cmd_tx, cmd_rx) = unbounded();
        let hub = Arc::new(Hub::default());
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
        (engine_cfg.peer_id, engine_cfg.seed) = own_identity(&engine_cfg);
        if cfg.state_dir.is_some() && engine_cfg.checkpoint_interval.is_none() {
            engine_cfg.checkpoint_interval = Some(CHECKPOINT_INTERVAL);
        }
        let mut engine = Engine::new(engine_cfg);
        let plan = DiscoveryPlan {
            dht: cfg.dht.enabled,
            bootstrap: cfg.dht.bootstrap.clone(),
            read_only: cfg.dht.read_only,
            lsd: cfg.lsd.enabled,
            state_dir: cfg.state_dir.clone(),
        };
        let router_names = bound.start_discovery(&plan, &mut engine);
        let reactor = Reactor::new(
            bound,
            engine,
            cmd_rx,
            hub.clone(),
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
        if !router_names.is_empty() {
            resolve_later(router_names, cmd_tx.clone(), waker.clone());
        }
        Ok(Session {
            link: Link {
                commands: cmd_tx,
                waker,
                added: Arc::default(),
                readers: Arc::default(),
            },
            events: hub,
            thread: Mutex::new(Some(thread)),
            listen,
            storage: cfg.storage,
            state_dir: cfg.state_dir,
        })
    }

    /// The address peers can connect to (with the port the system picked for port 0).
    pub fn listen_addr(&self) -> SocketAddr {
        self.listen
    }

    /// Session-wide numbers: torrents, connections, and the DHT's and local discovery's
    /// (nodes, lookups in flight, peers found). `None` when the session is gone.
    pub fn stats(&self) -> Option<SessionStats> {
        let (tx, rx) = bounded(1);
        self.link.send(Command::SessionStats { reply: tx }).ok()?;
        rx.recv_timeout(Duration::from_secs(5)).ok()
    }

    /// Changes the session's download and upload limits (all torrents together) at once;
    /// `None` lifts a limit. Set them from the start in [`SessionConfig::engine`].
    pub fn set_rate_limits(&self, limits: RateLimits) -> Result<(), Error> {
        self.link.send(Command::SetRateLimits { id: None, limits })
    }

    /// A new subscriber to the events of every torrent, from now on. Each call gives a receiver
    /// of its own that sees every event (see [`EventReceiver`] for what may be coalesced).
    pub fn events(&self) -> EventReceiver {
        self.events.subscribe(false)
    }

    /// Like [`Self::events`], with an [`Event::PieceVerified`](crate::Event::PieceVerified) for each
    /// downloaded piece that passed its hash check and an `Event::FileCompleted` for each file
    /// whose last piece did.
    pub fn events_with_pieces(&self) -> EventReceiver {
        self.events.subscribe(true)
    }

    /// Handles of every torrent in the session, in the order they were added.
    pub fn torrents(&self) -> Vec<TorrentHandle> {
        self.link.all()
    }

    /// The handle of the torrent with this info-hash, if the session has it.
    pub fn find(&self, info_hash: &InfoHash) -> Option<TorrentHandle> {
        self.link.find(&info_hash.0)
    }

    /// Adds a torrent: parses it, creates and reserves its files under `opts.output` (on this
    /// thread), then hands it to the reactor. With valid resume state ([`AddOptions::resume`],
    /// else the session's state file) the pieces it lists are taken without reading them and
    /// only the pieces of files changed since are checked; without it, data already there is
    /// checked first. A torrent already in the session is [`Error::AlreadyAdded`], with its
    /// handle.
    pub fn add(&self, source: TorrentSource, mut opts: AddOptions) -> Result<TorrentHandle, Error> {
        // Relative to the current folder now, not when a file is opened later.
        if opts.output.as_os_str().is_empty() {
            opts.output = PathBuf::from(".");
        }
        opts.output = std::path::absolute(&opts.output).unwrap_or(opts.output);
        let meta = match load(source)? {
            Loaded::Metainfo(m) => m,
            Loaded::Magnet(m) => return self.add_magnet(m, opts),
        };
        let meta = Arc::new(meta);
        // Claimed before the files are touched; given back if anything below fails.
        let handle = self.link.claim(|id| Entry {
            id,
            info_hash: meta.info_hash,
            name: meta.name.clone(),
            meta: Arc::new(OnceLock::from(meta.clone())),
            status: Arc::new(StatusCell::default()),
            output: opts.output.clone(),
            storage: Arc::new(OnceLock::new()),
        })?;
        let added = self.add_claimed(&handle, meta, opts);
        if added.is_err() {
            self.link.release(&handle.info_hash().0, handle.id());
        }
        added.map(|()| handle)
    }

    fn add_claimed(
        &self,
        handle: &TorrentHandle,
        meta: Arc<Metainfo>,
        opts: AddOptions,
    ) -> Result<(), Error> {
        let files = file_specs(&meta);
        // Before the files are opened: opening may change their stamps.
        let sources = start::Sources {
            file: (self.state_dir.as_deref()).map(|d| state_file::path(d, &meta.info_hash.0)),
            given: opts.resume,
            force_recheck: opts.recheck,
        };
        let chosen = choose_files(&meta, &opts.output, &opts.file_priorities, &opts.select)
            .map_err(Error::Selection)?;
        let switches = (opts.sequential, opts.rate_limits);
        let start = match opts.seed_only {
            true => start::seed_only(&meta, &opts.output, &files, sources)?,
            false => start::decide(&meta, &opts.output, &files, sources),
        };
        let storage =
            Storage::open_skipping(&opts.output, &files, &self.storage, chosen.skip.as_ref())
                .map_err(Error::Storage)?;
        let mut trackers = meta.trackers.clone();
        if opts.no_trackers {
            trackers.clear();
        }
        let params = TorrentParams {
            info_hash: meta.info_hash.0,
            layout: meta.layout(),
            trackers,
            peers: opts.peers,
            have: start.have,
            recheck: start.recheck,
            check: start.check,
            info: Some(meta.shared_info_bytes()),
            private: meta.private,
        };
        let status = handle.status_cell();
        let output = opts.output.clone();
        let shelf = Shelf::new(meta, storage, start.target, status, output);
        let _ = handle.storage_cell().set(shelf.storage.clone());
        let id = handle.id();
        let wants = chosen.wants;
        self.link.send(Command::Add {
            id,
            params,
            shelf,
            wants,
        })?;
        self.link.apply_switches(id, switches)
    }

    /// Adds a magnet link: its files are created once the metadata has arrived from peers.
    fn add_magnet(&self, magnet: Magnet, opts: AddOptions) -> Result<TorrentHandle, Error> {
        let hash = magnet.info_hash.0;
        let name = (magnet.name.clone()).unwrap_or_else(|| magnet.info_hash.to_hex());
        let handle = self.link.claim(|id| Entry {
            id,
            info_hash: magnet.info_hash,
            name: name.clone(),
            meta: Arc::new(OnceLock::new()),
            status: Arc::new(StatusCell::default()),
            output: opts.output.clone(),
            storage: Arc::new(OnceLock::new()),
        })?;
        let mut peers = opts.peers;
        // Host names in `x.pe` would need DNS here, on the caller's thread; addresses do not.
        peers.extend(magnet.peers.iter().filter_map(|p| match p {
            MagnetPeer::Addr(a) => Some(*a),
            MagnetPeer::Host { .. } => None,
        }));
        let trackers = if opts.no_trackers {
            Vec::new()
        } else {
            magnet.trackers.clone()
        };
        let params = MagnetParams {
            info_hash: hash,
            trackers,
            peers,
        };
        // A magnet starts with nothing to resume from; its state is kept from its first
        // checkpoint on, like any torrent's.
        let resume = ResumeTarget {
            file: (self.state_dir.as_deref()).map(|d| state_file::path(d, &hash)),
            root: std::path::absolute(&opts.output)
                .unwrap_or_else(|_| opts.output.clone())
                .into_os_string()
                .into_encoded_bytes(),
            ..ResumeTarget::default()
        };
        let pending = Pending {
            name,
            stop_at_metadata: opts.stop_at_metadata,
            resume,
            output: opts.output,
            storage: self.storage.clone(),
            meta: handle.meta_cell(),
            status: handle.status_cell(),
            opened: handle.storage_cell(),
            file_priorities: opts.file_priorities,
            select: opts.select,
        };
        let id = handle.id();
        let sent = self.link.send(Command::AddMagnet {
            id,
            params,
            pending,
        });
        if let Err(e) = sent {
            self.link.release(&hash, id);
            return Err(e);
        }
        self.link
            .apply_switches(id, (opts.sequential, opts.rate_limits))?;
        Ok(handle)
    }

    /// Announces `stopped`, writes every file to the disk (fsync) and joins the threads. Any
    /// holder of a shared `Arc<Session>` may call it; later calls (and calls on handles)
    /// return [`Error::SessionClosed`].
    ///
    /// This is where downloaded data becomes durable: completion leaves it to the kernel's
    /// writeback, as other clients do, and a crash before it is caught by the recheck on the
    /// next start. `Err(Error::Storage)` when a file could not be synced (every torrent is
    /// still tried); dropping the session does the same and ignores the error. A `completed`
    /// announce still in flight is answered (or times out) before `stopped` goes out.
    pub fn shutdown(&self) -> Result<(), Error> {
        let report = self.stop(ANNOUNCES_AT_SHUTDOWN, None)?;
        match report.sync_error {
            Some(e) => Err(Error::Storage(e)),
            None => Ok(()),
        }
    }

    /// Like [`Self::shutdown`], returning within `limit` whatever hangs: tracker announces get
    /// at most three quarters of it, and if the final sync is not done when it runs out, the
    /// report says `timed_out` and the reactor thread finishes the sync on its own. A blocking
    /// request cannot be interrupted: the `stopped` announces are given only the announce time
    /// as their timeout, and announces or web-seed requests that were already in flight are
    /// waited for as long; those still blocked on a silent server then are named in
    /// [`ShutdownReport::jobs_running`], and each ends by itself within its own timeout
    /// ([`TrackerConfig::timeout`]), holding nothing of the session.
    pub fn shutdown_timeout(&self, limit: Duration) -> Result<ShutdownReport, Error> {
        self.stop(limit * 3 / 4, Some(limit))
    }

    fn stop(
        &self,
        announce_within: Duration,
        limit: Option<Duration>,
    ) -> Result<ShutdownReport, Error> {
        let taken = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        let Some(thread) = taken else {
            return Err(Error::SessionClosed);
        };
        // If the reactor already stopped (every handle gone), the join has its report anyway.
        let _ = self.link.send(Command::Shutdown { announce_within });
        if let Some(limit) = limit {
            // The thread's result is the report: look every few milliseconds (a channel of its
            // own would cost the binary more than this loop).
            let deadline = Instant::now() + limit;
            while !thread.is_finished() {
                if Instant::now() >= deadline {
                    // Leave the thread to finish the sync; it ends by itself.
                    return Ok(ShutdownReport {
                        timed_out: true,
                        ..ShutdownReport::default()
                    });
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        thread.join().map_err(|_| Error::SessionClosed)
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.stop(ANNOUNCES_AT_SHUTDOWN, None);
    }
}

/// A source, parsed.
enum Loaded {
    Metainfo(Metainfo),
    Magnet(Magnet),
}

/// Reads and parses a torrent from its source.
fn load(source: TorrentSource) -> Result<Loaded, Error> {
    let bytes = match source {
        TorrentSource::Metainfo(m) => return Ok(Loaded::Metainfo(*m)),
        TorrentSource::Magnet(uri) => {
            return Magnet::parse(&uri)
                .map(Loaded::Magnet)
                .map_err(Error::Magnet)
        }
        TorrentSource::Bytes(b) => b,
        TorrentSource::File(path) => read_torrent_file(&path)?,
    };
    Metainfo::from_bytes(&bytes)
        .map(Loaded::Metainfo)
        .map_err(Error::Metainfo)
}

/// The session's peer id and random seed: those the config sets, or fresh random ones in place of
/// [`EngineConfig::default`]'s fixed values (which every engine built from the defaults shares).
fn own_identity(cfg: &EngineConfig) -> ([u8; 20], u64) {
    let fixed = EngineConfig::default();
    let peer_id = match cfg.peer_id == fixed.peer_id {
        true => peer_id_from_seed(sys::random_u64()),
        false => cfg.peer_id,
    };
    let seed = match cfg.seed == fixed.seed {
        true => sys::random_u64(),
        false => cfg.seed,
    };
    (peer_id, seed)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_get_their_own_peer_ids_and_seeds() {
        // Two sessions from clones of one default config: each draws its own identity.
        let config = SessionConfig::default().engine;
        let (a, b) = (own_identity(&config.clone()), own_identity(&config));
        assert_ne!(a.0, b.0);
        assert_ne!(a.1, b.1);
        assert!(a.0.starts_with(b"-CR0100-"));
        // The engine's fixed defaults never reach the network; an id or seed that is set is kept.
        let fixed = EngineConfig::default();
        assert_ne!(a.0, fixed.peer_id);
        let set = EngineConfig {
            peer_id: a.0,
            seed: 7,
            ..EngineConfig::default()
        };
        assert_eq!(own_identity(&set), (a.0, 7));
    }
}
