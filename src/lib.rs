//! coracle: a small, fast BitTorrent engine for programs that are not async.
//!
//! # Threads and data flow
//!
//! ```text
//!  Session::add ──► reactor thread (mio): listener, peer sockets, DHT/LSD UDP sockets, one Waker
//!   (caller's         │  Engine (sans-IO): handshakes → one TorrentCore per torrent
//!    thread opens     │    peers · picker · piece buffers · choker · tracker schedule
//!    the files)       ├──► disk pool (N threads): SHA-1, write into mmap'd files ──► results + wake
//!                     └──► tracker threads (ureq / UDP): announces ───────────────► results + wake
//!  your program ◄── Session::events(): a queue per subscriber (progress, checked, completed, …)
//!               ──► TorrentHandle (stats, peers, pause, resume, force_recheck, remove, wait)
//! ```
//!
//! The reactor thread owns all protocol state; the other threads receive owned jobs and answer
//! over channels. Nothing blocks the reactor: disk work runs on the pool, announces on tracker
//! threads, and opening (reserving) a torrent's files happens on the thread that calls
//! [`Session::add`]. There is no global state: several sessions can run in one process.
//!
//! # Example
//!
//! A seeder and a downloader on loopback (this runs as a doctest):
//!
//! ```
//! # #[cfg(feature = "create")]
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use coracle::{AddOptions, Event, Session, SessionConfig, TorrentSource};
//!
//! // A file to share, and its .torrent.
//! let dir = std::env::temp_dir().join(format!("coracle-doc-{}", std::process::id()));
//! std::fs::create_dir_all(dir.join("seed"))?;
//! let text = b"hello from coracle\n".repeat(2000);
//! std::fs::write(dir.join("seed/hello.txt"), &text)?;
//! let bytes = coracle::create::TorrentBuilder::new(dir.join("seed/hello.txt")).build()?.bytes;
//!
//! // One session seeds the data it knows is complete; another downloads it. Options start
//! // from their defaults and set what differs (each session draws its own peer id).
//! let local = || {
//!     let mut config = SessionConfig::default();
//!     config.listen = ([127, 0, 0, 1], 0).into();
//!     config
//! };
//! let seeder = Session::new(local())?;
//! let mut seed = AddOptions::default();
//! seed.output = dir.join("seed");
//! seed.seed_only = true;
//! seed.no_trackers = true;
//! seeder.add(TorrentSource::Bytes(bytes.clone()), seed)?;
//!
//! let session = Session::new(local())?;
//! let events = session.events(); // subscribe first: nothing after this is missed
//! let mut fetch = AddOptions::default();
//! fetch.output = dir.join("download");
//! fetch.peers = vec![seeder.listen_addr()];
//! fetch.no_trackers = true;
//! let torrent = session.add(TorrentSource::Bytes(bytes), fetch)?;
//! for event in events.iter() {
//!     match event {
//!         Event::Progress { stats, .. } => println!("{}/{} bytes", stats.bytes_done, stats.bytes_total),
//!         Event::Completed { torrent: id } if id == torrent.id() => break,
//!         Event::Failed { error, .. } => return Err(error.into()),
//!         _ => {}
//!     }
//! }
//! assert_eq!(std::fs::read(dir.join("download/hello.txt"))?, text);
//! session.shutdown()?; // announces `stopped`, syncs the files, joins the threads
//! seeder.shutdown()?;
//! # std::fs::remove_dir_all(dir)?;
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "create"))]
//! # fn main() {}
//! ```
//!
//! # Embedding guide
//!
//! **Threads.** [`Session::new`] starts the reactor, the disk pool (one thread per core unless
//! [`SessionConfig::disk_workers`] says otherwise) and a tracker dispatcher; announces run on
//! short-lived threads. None of them calls your code except the wake callback below. Every
//! call on a [`Session`] or [`TorrentHandle`] is a blocking call from your thread: most hand a
//! command to the reactor and return; `stats`, `resume_data` and `remove_and_delete` wait for
//! its answer (at most 5 s, then [`Error::Timeout`]). Both types are `Send + Sync`; share a
//! session as `Arc<Session>` and any holder may [`Session::shutdown`] it.
//!
//! **Events.** Each [`Session::events`] call makes a subscriber with its own queue
//! ([`EventReceiver`]: `recv`, `try_recv`, `recv_timeout`, `iter`, `try_iter`). State changes
//! (checked, metadata received, completed, failed, paused, resumed, removed) are never
//! dropped; a torrent's `Progress` replaces its unread one, and peer and tracker noise past
//! 1,024 unread is dropped, both counted by [`EventReceiver::dropped`]. Idle torrents send no
//! progress. [`Session::events_with_pieces`] adds one `PieceVerified` per downloaded piece. A
//! GUI or `poll` loop needs no thread: [`EventReceiver::set_wake`] runs a callback (on the
//! reactor thread, so keep it short: post to your loop or write to your own pipe or eventfd)
//! when the queue turns non-empty, then drain it with `try_recv`.
//!
//! **Errors.** Calls return [`Error`]: [`Error::NotFound`] once a torrent was removed,
//! [`Error::SessionClosed`] after shutdown, [`Error::AlreadyAdded`] with the existing handle,
//! [`Error::Timeout`]; [`TorrentHandle::wait`] returns [`Error::TorrentFailed`] or
//! [`Error::Stopped`] (paused, removed, shut down). A torrent whose files fail (disk full, a
//! file truncated or removed by another program) fails alone with the reason in
//! [`TorrentState::Failed`]; the process goes on (a SIGBUS in a mapped file is caught and
//! becomes a [`StorageError`]). Nothing panics on bad input. Every error that wraps another
//! gives it back through [`std::error::Error::source`].
//!
//! **Shutdown.** [`Session::shutdown`] tells trackers `stopped` (3 s at most), syncs the files
//! and joins the threads; [`Session::shutdown_timeout`] returns within its limit with a
//! [`ShutdownReport`], which names the announces still blocked on a silent tracker (they end
//! within their own timeout, holding nothing of the session).
//!
//! **Defaults.** A session listens on `0.0.0.0` on a port the system picks
//! ([`Session::listen_addr`]), runs a DHT node without bootstrap routers and no local
//! discovery; [`AddOptions::default`] downloads into the current folder.
//!
//! **Features.** `default-features = false, features = ["tls"]` is what a library wants:
//! HTTPS trackers, no CLI dependencies. Add `create` to make .torrent files
//! ([`create::TorrentBuilder`]). `cli` builds the binary; `small-idna` is a size trick for
//! static binaries only (it pins `idna_adapter`, which would reach your own `url` parsing).
//!
//! **Building options.** The config, stats and event types are `#[non_exhaustive]`, so new
//! fields are not breaking changes: start from `Default` and set fields
//! (`let mut c = SessionConfig::default(); c.listen = addr;`), and match events with a `_` arm.
//!
//! **What is public.** The session API and every type it uses, here at the root; torrent
//! creation in [`create`]; the engine itself in [`sansio`]. Programs that own their poll loop
//! can drive [`sansio::Engine`] directly: it is sans-IO (bytes and results in, actions and
//! bytes out), and starts no thread (`examples/step.rs`). Nothing else is public; the
//! `internals` cargo feature exists for this repository's tests and fuzz targets only and
//! carries no semver promise.
#![deny(missing_docs)]
// Every type a public item reaches must be nameable: re-exported at the root or in `sansio`
// (CI's clippy of the no-TLS build turns this into an error), so the surface is the list below
// and nothing more. `internals` reaches much more on purpose.
#![cfg_attr(not(feature = "internals"), warn(unnameable_types))]
// Unit tests may use the clock, threads, files and sockets that clippy.toml keeps out of the
// layers; the non-test build still checks every line of production code.
#![cfg_attr(test, allow(clippy::disallowed_methods, clippy::disallowed_types))]

// Every module is private: what an embedder may name is re-exported below (the session API at
// the root, the sans-IO engine in `sansio`, torrent creation in `create`), so the inside can be
// refactored without breaking anyone. The decoders and cores that tests and fuzz targets drive
// directly live in `internals`, public only with the `internals` feature.
#[cfg(feature = "create")]
pub mod create;
mod engine;
#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod internals;
#[cfg(not(feature = "internals"))]
mod internals;
mod jobs;
mod picker;
mod reactor;
pub mod sansio;
mod session;
mod sys;

use internals::{
    bencode, bitfield, dht, disk, ext, layout, magnet, metainfo, resume, rng, selection, tracker,
    webseed, wire,
};

pub use bencode::BencodeError;
pub use dht::DhtStats;
pub use disk::{human_size, StorageConfig, StorageError};
pub use engine::{
    DiscoveryStats, EngineConfig, Event, PeerError, PeerInfo, RateLimits, TorrentId, TorrentState,
    TorrentStats,
};
pub use magnet::{Magnet, MagnetError, MagnetPeer, MagnetWarning};
pub use metainfo::{
    torrent_file, FileInfo, InfoHash, Metainfo, MetainfoError, PathChange, PathIssue, Symlink,
};
pub use selection::{FilePriority, FileProgress, FileSelection, SelectError};
pub use session::{
    read_torrent_file, AddOptions, DhtSettings, Error, EventReceiver, FileReader, LsdSettings,
    RecvError, Session, SessionConfig, SessionStats, ShutdownReport, TorrentHandle, TorrentSource,
    CHECKPOINT_INTERVAL, DEFAULT_READAHEAD,
};
pub use tracker::TrackerConfig;
pub use wire::WireError;
