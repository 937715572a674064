//! The disk layer: a torrent's files as one byte stream ([`Storage`]) and the worker pool that
//! hashes, writes, checks and reads pieces off the reactor thread ([`DiskPool`]).
//!
//! Owns every file descriptor and memory map of the downloads, and all of the crate's `unsafe`
//! (mmap copies, `statvfs`, `posix_fallocate`). Runs on the pool's worker threads; the reactor
//! only creates [`Storage`]s (at torrent start), submits [`DiskJob`]s and drains the engine's
//! [`DiskDone`](crate::engine::DiskDone)s. It must not block the reactor, must not panic on any input or I/O error
//! (everything is a [`StorageError`]), and never truncates or deletes a user's file.

// I/O shell for storage: files, memory maps, the pool's threads (covers the child modules).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod error;
mod handles;
mod job;
mod links;
mod open;
mod pool;
mod setup;
pub mod state_file;
mod storage;
mod window;

#[cfg(test)]
mod pool_tests;
#[cfg(test)]
mod storage_tests;

pub use error::StorageError;
pub use job::{execute, MemoryStore, PieceStore, ResumeTarget, TorrentDisk};
pub use links::{create_symlinks, LinkOutcome};
pub(crate) use open::has_existing_data;
pub use open::{file_specs, open_torrent, Opened};
pub use pool::{DiskJob, DiskPool, Notify};
pub use storage::{FileSpec, Storage, StorageConfig};
