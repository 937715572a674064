//! coracle: a BitTorrent engine for programs that are not async.
#![deny(missing_docs)]

pub mod bencode;
pub mod bitfield;
pub mod disk;
pub mod engine;
pub mod layout;
pub mod metainfo;
pub mod picker;
mod reactor;
pub mod session;
pub mod tracker;
pub mod wire;

pub use session::{AddOptions, Error, Session, SessionConfig, TorrentHandle, TorrentSource};
