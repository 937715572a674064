//! [`TorrentHandle`]: controls and observes one torrent, and the session's table of the torrents
//! it holds (so `add` refuses a duplicate and control calls on a removed torrent fail with
//! [`Error::NotFound`] without a trip to the reactor).
//!
//! Runs on the caller's threads; every call is a command to the reactor plus, for calls that
//! answer, a bounded wait.

// I/O shell: deletes a removed torrent's files on the caller's thread, reads the clock for waits.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Sender};

use super::{Error, FileReader};
use crate::disk::Storage;
use crate::engine::{PeerInfo, RateLimits, TorrentId, TorrentState, TorrentStats};
use crate::metainfo::{InfoHash, Metainfo};
use crate::reactor::{Command, StatusCell, Wake};

/// How long a call that needs the reactor's answer waits for it.
const ANSWER_WITHIN: Duration = Duration::from_secs(5);

/// What the session's table keeps of a torrent: a handle without the link (which would make
/// the table own itself).
#[derive(Clone)]
pub(super) struct Entry {
    pub id: TorrentId,
    pub info_hash: InfoHash,
    pub name: String,
    pub meta: Arc<OnceLock<Arc<Metainfo>>>,
    pub status: Arc<StatusCell>,
    pub output: PathBuf,
    /// Its files, once open (at once for a .torrent, after the metadata for a magnet).
    pub storage: Arc<OnceLock<Arc<Storage>>>,
}

/// Which torrents the session holds, kept on the callers' side so that `add` hands its torrent
/// to the reactor without waiting for an answer. Waiting cost one reactor loop per add: 100
/// adds during a download took up to 180 ms (`examples/scale`). A list in the order added: a
/// scan of even thousands of entries per call costs microseconds, and a map of entries would
/// cost the binary a few KB of its own.
#[derive(Default)]
pub(super) struct Added {
    next_id: TorrentId,
    entries: Vec<Entry>,
}

impl Added {
    fn by_hash(&self, hash: &[u8; 20]) -> Option<&Entry> {
        self.entries.iter().find(|e| e.info_hash.0 == *hash)
    }
}

/// The channel end and the wake-up the handles share.
#[derive(Clone)]
pub(super) struct Link {
    pub commands: Sender<Command>,
    pub waker: Wake,
    pub added: Arc<Mutex<Added>>,
    /// Numbers streaming readers, so each has a window of its own.
    pub readers: Arc<std::sync::atomic::AtomicU64>,
}

impl Link {
    fn table(&self) -> MutexGuard<'_, Added> {
        self.added.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new id for a torrent with this info-hash, unless the session already has one (then
    /// [`Error::AlreadyAdded`] carries its handle).
    pub fn claim(&self, make: impl FnOnce(TorrentId) -> Entry) -> Result<TorrentHandle, Error> {
        let mut added = self.table();
        let probe = make(added.next_id + 1);
        if let Some(old) = added.by_hash(&probe.info_hash.0) {
            return Err(Error::AlreadyAdded(Box::new(self.handle(old.clone()))));
        }
        added.next_id += 1;
        added.entries.push(probe.clone());
        Ok(self.handle(probe))
    }

    fn handle(&self, entry: Entry) -> TorrentHandle {
        TorrentHandle {
            entry,
            link: self.clone(),
        }
    }

    /// Forgets torrent `id`, so its info-hash can be added again. A stale handle of an earlier
    /// torrent with the same info-hash releases nothing.
    pub fn release(&self, hash: &[u8; 20], id: TorrentId) -> bool {
        let mut added = self.table();
        let before = added.entries.len();
        added
            .entries
            .retain(|e| (e.info_hash.0, e.id) != (*hash, id));
        added.entries.len() < before
    }

    fn is_live(&self, hash: &[u8; 20], id: TorrentId) -> bool {
        self.table().by_hash(hash).map(|e| e.id) == Some(id)
    }

    /// Handles of every torrent, in the order they were added.
    pub fn all(&self) -> Vec<TorrentHandle> {
        let entries: Vec<Entry> = self.table().entries.clone();
        entries.into_iter().map(|e| self.handle(e)).collect()
    }

    /// The handle of the torrent with this info-hash.
    pub fn find(&self, hash: &[u8; 20]) -> Option<TorrentHandle> {
        let entry = self.table().by_hash(hash).cloned();
        entry.map(|e| self.handle(e))
    }

    /// A new streaming reader's id, unique in the session.
    pub fn new_reader_id(&self) -> u64 {
        self.readers
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    /// Applies the options that are runtime switches, right after the torrent's `Add` (the
    /// reactor takes commands in order).
    pub fn apply_switches(&self, id: TorrentId, opts: (bool, RateLimits)) -> Result<(), Error> {
        let (sequential, limits) = opts;
        if sequential {
            self.send(Command::SetSequential(id, true))?;
        }
        if limits != RateLimits::default() {
            let id = Some(id);
            self.send(Command::SetRateLimits { id, limits })?;
        }
        Ok(())
    }

    pub fn send(&self, c: Command) -> Result<(), Error> {
        self.commands.send(c).map_err(|_| Error::SessionClosed)?;
        self.waker.wake().map_err(|e| Error::Io {
            context: "waking the reactor".into(),
            source: e,
        })
    }
}

/// Controls and observes one torrent. Cheap to clone; `Send + Sync`.
///
/// Every call either does what it says or returns a typed error: [`Error::NotFound`] once the
/// torrent was removed, [`Error::SessionClosed`] once the session shut down, [`Error::Timeout`]
/// when the reactor did not answer within 5 s.
#[derive(Clone)]
pub struct TorrentHandle {
    pub(super) entry: Entry,
    pub(super) link: Link,
}

impl fmt::Debug for TorrentHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TorrentHandle")
            .field("id", &self.entry.id)
            .field("name", &self.entry.name)
            .finish()
    }
}

impl TorrentHandle {
    /// The torrent's id within its session (events carry it).
    pub fn id(&self) -> TorrentId {
        self.entry.id
    }

    /// The torrent's metainfo: from the start for a .torrent, once the metadata has arrived
    /// for a magnet link ([`Event::MetadataReceived`](crate::Event::MetadataReceived)); `None` before.
    pub fn metainfo(&self) -> Option<Arc<Metainfo>> {
        self.entry.meta.get().cloned()
    }

    /// The torrent's info-hash.
    pub fn info_hash(&self) -> InfoHash {
        self.entry.info_hash
    }

    /// Its name: the metainfo's, or a magnet link's `dn` until the metadata arrives.
    pub fn name(&self) -> String {
        (self.entry.meta.get()).map_or_else(|| self.entry.name.clone(), |m| m.name.clone())
    }

    /// The folder its files are in.
    pub fn output(&self) -> &std::path::Path {
        &self.entry.output
    }

    pub(super) fn status_cell(&self) -> Arc<StatusCell> {
        self.entry.status.clone()
    }

    pub(super) fn meta_cell(&self) -> Arc<OnceLock<Arc<Metainfo>>> {
        self.entry.meta.clone()
    }

    pub(super) fn storage_cell(&self) -> Arc<OnceLock<Arc<Storage>>> {
        self.entry.storage.clone()
    }

    /// Fails with [`Error::NotFound`] once this torrent left the session.
    fn live(&self) -> Result<(), Error> {
        match self.link.is_live(&self.entry.info_hash.0, self.entry.id) {
            true => Ok(()),
            false => Err(Error::NotFound),
        }
    }

    /// A snapshot of its numbers (with its name, info-hash and ETA): [`Error::NotFound`] when
    /// it was removed, [`Error::SessionClosed`] after shutdown, [`Error::Timeout`] when the
    /// reactor did not answer within 5 s.
    pub fn try_stats(&self) -> Result<TorrentStats, Error> {
        self.live()?;
        let (tx, rx) = bounded(1);
        let id = self.entry.id;
        self.link.send(Command::Stats { id, reply: tx })?;
        let mut stats = answer(rx.recv_timeout(ANSWER_WITHIN))?;
        if stats.name.is_empty() {
            stats.name = self.name();
        }
        Ok(stats)
    }

    /// Its connected peers with their rates and flags (same errors as [`Self::try_stats`]).
    pub fn peers(&self) -> Result<Vec<PeerInfo>, Error> {
        self.live()?;
        let (tx, rx) = bounded(1);
        let id = self.entry.id;
        self.link.send(Command::Peers { id, reply: tx })?;
        answer(rx.recv_timeout(ANSWER_WITHIN))
    }

    /// [`Self::try_stats`], for callers that only care whether there is an answer.
    pub fn stats(&self) -> Option<TorrentStats> {
        self.try_stats().ok()
    }

    /// Its resume state, once durable: the pieces verified now are synced to disk first (on the
    /// disk pool), then the state that lists them is encoded (and written to the state file if
    /// the session keeps one). Give the bytes back in
    /// [`AddOptions::resume`](super::AddOptions::resume) to start the torrent later without
    /// reading unchanged data. Blocks until the sync is done.
    pub fn resume_data(&self) -> Result<Vec<u8>, Error> {
        self.live()?;
        let (tx, rx) = bounded(1);
        let id = self.entry.id;
        self.link.send(Command::ResumeData { id, reply: tx })?;
        match rx.recv() {
            Ok(Ok(bytes)) => Ok(bytes),
            Ok(Err(why)) => Err(Error::Io {
                context: "recording the resume state".into(),
                source: std::io::Error::other(why),
            }),
            // Removed meanwhile, or the session shut down before it was done.
            Err(_) if !self.link.is_live(&self.entry.info_hash.0, id) => Err(Error::NotFound),
            Err(_) => Err(Error::SessionClosed),
        }
    }

    /// Turns sequential mode on or off: new pieces start lowest index first instead of rarest
    /// first (pieces already started finish first either way).
    pub fn set_sequential(&self, on: bool) -> Result<(), Error> {
        self.live()?;
        self.link.send(Command::SetSequential(self.entry.id, on))
    }

    /// Changes this torrent's own download and upload limits at once (the session's apply as
    /// well); `None` lifts a limit.
    pub fn set_rate_limits(&self, limits: RateLimits) -> Result<(), Error> {
        self.live()?;
        let id = Some(self.entry.id);
        self.link.send(Command::SetRateLimits { id, limits })
    }

    /// Opens file `index` (of [`Metainfo::files`]) for reading while the torrent downloads: see
    /// [`FileReader`]. Reads raise the priority of the pieces at the read position and a
    /// read-ahead window, block until they are verified, and never return unverified bytes.
    /// A magnet link can open files once its metadata has arrived ([`Error::NoMetadata`]
    /// before).
    pub fn open_file(&self, index: usize) -> Result<FileReader, Error> {
        self.live()?;
        let meta = self.metainfo().ok_or(Error::NoMetadata)?;
        let (link, id) = (self.link.clone(), self.entry.id);
        FileReader::new(link, id, meta, index).ok_or(Error::NoSuchFile(index))
    }

    /// Drops its peers and stops it (while checking, fetching metadata, downloading or seeding)
    /// until [`Self::resume`]; [`Self::wait`] returns [`Error::Stopped`] and subscribers hear
    /// `Paused`. A failed torrent stays failed. Pausing a paused torrent does nothing.
    pub fn pause(&self) -> Result<(), Error> {
        self.live()?;
        self.link.send(Command::Pause(self.entry.id))?;
        self.entry.status.pause_asked();
        Ok(())
    }

    /// Resumes after [`Self::pause`] where it stopped, dialling its known peers at once.
    pub fn resume(&self) -> Result<(), Error> {
        self.live()?;
        self.link.send(Command::Resume(self.entry.id))?;
        self.entry.status.resume_asked();
        Ok(())
    }

    /// Checks every piece on disk again, as at `add` with
    /// [`AddOptions::recheck`](super::AddOptions::recheck): its peers are dropped and dialled again, [`Self::wait`]
    /// blocks until the check (and any download it leads to) completes, and subscribers get
    /// `Checked`. For data changed behind coracle's back, or a torrent that failed on its files
    /// after they were put right. Nothing to do for a magnet whose metadata has not arrived.
    pub fn force_recheck(&self) -> Result<(), Error> {
        self.live()?;
        self.link.send(Command::Recheck(self.entry.id))?;
        self.entry.status.clear();
        Ok(())
    }

    /// Dials these peers (besides those trackers and discovery find).
    pub fn add_peers(&self, peers: &[SocketAddr]) -> Result<(), Error> {
        self.live()?;
        self.link
            .send(Command::AddPeers(self.entry.id, peers.to_vec()))
    }

    /// Removes it from the session; its files stay. [`Self::wait`] returns [`Error::Stopped`];
    /// the same torrent can be added again at once.
    pub fn remove(&self) -> Result<(), Error> {
        self.remove_with(false)
    }

    /// Removes it and deletes its files (and the folders it created that are left empty).
    /// Blocks until the session let go of the files.
    pub fn remove_and_delete(&self) -> Result<(), Error> {
        self.remove_with(true)
    }

    fn remove_with(&self, delete: bool) -> Result<(), Error> {
        let (hash, id) = (self.entry.info_hash.0, self.entry.id);
        if !self.link.release(&hash, id) {
            return Err(Error::NotFound);
        }
        self.entry.status.set_stopped();
        self.link.send(Command::Remove(id))?;
        if !delete {
            return Ok(());
        }
        // Answered after the remove (commands are taken in order): the storage is let go.
        let (tx, rx) = bounded(1);
        self.link.send(Command::Stats { id, reply: tx })?;
        match answer(rx.recv_timeout(ANSWER_WITHIN)) {
            Ok(_) | Err(Error::NotFound) => {}
            Err(e) => return Err(e),
        }
        match self.metainfo() {
            Some(meta) => super::delete::files(&meta, &self.entry.output),
            None => Ok(()), // a magnet without metadata has no files yet
        }
    }

    /// Blocks until every piece is verified and on disk (`Ok`), or the torrent fails
    /// ([`Error::TorrentFailed`]) or stops: paused, removed or shut down ([`Error::Stopped`]).
    pub fn wait(&self) -> Result<(), Error> {
        self.wait_until(None)
    }

    /// Like [`Self::wait`], giving up after `timeout` with [`Error::Timeout`].
    pub fn wait_timeout(&self, timeout: Duration) -> Result<(), Error> {
        self.wait_until(Some(Instant::now() + timeout))
    }

    fn wait_until(&self, deadline: Option<Instant>) -> Result<(), Error> {
        match self.entry.status.wait_until(deadline) {
            Some(TorrentState::Seeding) => Ok(()),
            Some(TorrentState::Failed(why)) => Err(Error::TorrentFailed(why)),
            Some(_) => Err(Error::Stopped),
            None => Err(Error::Timeout),
        }
    }
}

/// The reactor's answer about a torrent: `None` when it has no such torrent.
fn answer<T>(got: Result<Option<T>, crossbeam_channel::RecvTimeoutError>) -> Result<T, Error> {
    match got {
        Ok(Some(value)) => Ok(value),
        Ok(None) => Err(Error::NotFound),
        Err(crossbeam_channel::RecvTimeoutError::Timeout) => Err(Error::Timeout),
        Err(crossbeam_channel::RecvTimeoutError::Disconnected) => Err(Error::SessionClosed),
    }
}
