//! The disk layer: a torrent's files as one byte stream ([`Storage`]) and the worker pool that
//! hashes, writes, checks and reads pieces off the reactor thread ([`DiskPool`]).
//!
//! Owns every file descriptor and memory map of the downloads, and all of the crate's `unsafe`
//! (mmap copies, `statvfs`, `posix_fallocate`, the SIGBUS handler that turns a fault in a
//! truncated mapped file into an error). Threads: [`Storage`]s are created and reserved on
//! the thread that calls `Session::add` (a .torrent) or on a short-lived `coracle-open` thread (a
//! magnet whose metadata arrived), never on the reactor; pieces are hashed, written, checked, read
//! and checkpointed on the pool's `coracle-disk-N` threads; the reactor thread submits [`DiskJob`]s
//! and drains the engine's [`DiskDone`](crate::engine::DiskDone)s, and touches storage itself only
//! to drop a removed torrent's and at shutdown, after the pool has stopped (the last checkpoints
//! and the final fsync). It must not block the reactor, must not panic on any input or I/O error
//! (everything is a [`StorageError`]), and never truncates or deletes a user's file.

// I/O shell for storage: files, memory maps, the pool's threads (covers the child modules).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

#[cfg(any(test, feature = "internals"))]
pub mod cachestat;
mod error;
mod handles;
mod job;
mod links;
mod open;
mod part_file;
mod pool;
mod setup;
mod sigbus;
pub mod state_file;
mod storage;
mod window;
mod writeback;

#[cfg(test)]
mod pool_tests;
#[cfg(test)]
mod skip_tests;
#[cfg(test)]
mod storage_tests;
#[cfg(test)]
mod writeback_tests;

pub use error::{human_size, StorageError};
pub use job::{execute, MemoryStore, PieceStore, ResumeTarget, TorrentDisk};
pub use links::{create_symlinks, LinkOutcome};
pub(crate) use open::has_existing_data;
pub use open::{choose_files, file_spans, file_specs, open_torrent, Opened};
pub use pool::{DiskJob, DiskPool};
pub use storage::{FileSpec, SkipFiles, Storage, StorageConfig};
