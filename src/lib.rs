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
//!  your program ◄── Session::events() (progress, completed, failed, tracker trouble)
//!               ──► TorrentHandle (stats, pause, resume, remove, wait)
//! ```
//!
//! The reactor thread owns all protocol state; the other threads receive owned jobs and answer
//! over channels. Nothing blocks the reactor: disk work runs on the pool, announces on tracker
//! threads, and opening (reserving) a torrent's files happens on the thread that calls
//! [`Session::add`]. There is no global state: several sessions can run in one process.
//!
//! # Example
//!
//! ```no_run
//! use std::time::Duration;
//! use coracle::{AddOptions, Session, SessionConfig, TorrentSource};
//!
//! fn main() -> Result<(), coracle::Error> {
//!     let session = Session::new(SessionConfig::default())?;
//!     let torrent = session.add(
//!         TorrentSource::File("debian.torrent".into()),
//!         AddOptions { output: "downloads".into(), ..Default::default() },
//!     )?;
//!     loop {
//!         match torrent.wait_timeout(Duration::from_secs(1)) {
//!             Err(coracle::Error::Timeout) => {
//!                 if let Some(s) = torrent.stats() {
//!                     println!("{} / {} bytes, {} peers", s.bytes_done, s.bytes_total, s.peers);
//!                 }
//!             }
//!             other => {
//!                 other?;
//!                 break;
//!             }
//!         }
//!     }
//!     session.shutdown()?; // announces `stopped`, syncs the files, joins the threads
//!     Ok(())
//! }
//! ```
//!
//! Programs that own their poll loop can drive [`engine::Engine`] directly: it is sans-IO (bytes
//! and results in, actions and bytes out), and starts no thread.
#![deny(missing_docs)]
// Unit tests may use the clock, threads, files and sockets that clippy.toml keeps out of the
// layers; the non-test build still checks every line of production code.
#![cfg_attr(test, allow(clippy::disallowed_methods, clippy::disallowed_types))]

pub mod bencode;
pub mod bitfield;
#[cfg(feature = "create")]
pub mod create;
pub mod dht;
pub mod disk;
pub mod engine;
pub mod ext;
pub mod layout;
pub mod magnet;
pub mod metainfo;
pub mod picker;
mod reactor;
pub mod resume;
pub mod rng;
pub mod selection;
pub mod session;
pub mod sys;
pub mod tracker;
pub mod wire;

pub use engine::RateLimits;
pub use session::{
    AddOptions, DhtSettings, Error, FileReader, LsdSettings, Session, SessionConfig, SessionStats,
    TorrentHandle, TorrentSource,
};
