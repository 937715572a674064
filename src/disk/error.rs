//! The typed errors of the disk layer. Pure data: no I/O, used by every thread that touches
//! [`Storage`](super::Storage). Messages are written for the person running the client: each
//! names the path and says what is wrong, so the user can act on it.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// What went wrong while creating, writing, reading or flushing a torrent's files.
#[non_exhaustive]
#[derive(Debug)]
pub enum StorageError {
    /// The file system holding `dir` lacks the room to allocate the torrent's files.
    NoSpace {
        /// A folder on the full file system.
        dir: PathBuf,
        /// Bytes that still had to be allocated.
        needed: u64,
        /// Bytes the file system reported available.
        available: u64,
    },
    /// A system call on `path` failed.
    Io {
        /// The file or folder concerned.
        path: PathBuf,
        /// What was being done ("create folder", "write", ...).
        op: &'static str,
        /// The operating system's error.
        source: io::Error,
    },
    /// A file already on disk is longer than the torrent says; it is left untouched.
    ExistingTooLarge {
        /// The file on disk.
        path: PathBuf,
        /// Length the torrent expects.
        expected: u64,
        /// Length found on disk.
        actual: u64,
    },
    /// A file already on disk holds data but not at the torrent's length, so it is not a
    /// download this library reserved (that always has the full length at once): it may be
    /// somebody's own file. Left untouched; only with [`StorageConfig::refuse_foreign_files`].
    ///
    /// [`StorageConfig::refuse_foreign_files`]: super::StorageConfig::refuse_foreign_files
    ForeignFile {
        /// The file on disk.
        path: PathBuf,
        /// Length the torrent expects.
        expected: u64,
        /// Length found on disk.
        actual: u64,
    },
    /// A file path is absolute, empty or climbs out of the download folder (`..`).
    UnsafePath(PathBuf),
    /// A read or write reaches past the end of the torrent.
    OutOfRange {
        /// Start of the request in the torrent's byte stream.
        offset: u64,
        /// Length of the request.
        len: u64,
    },
    /// A regular file (or other non-folder) sits where the torrent needs a folder.
    NotADirectory(PathBuf),
    /// A folder or special file sits where the torrent needs a regular file.
    NotAFile(PathBuf),
    /// The file lengths add up to more than 2^64 bytes.
    LengthOverflow,
    /// An earlier sync of these files failed, so no later one can vouch for their data.
    SyncFailedBefore,
    /// Bytes of a skipped file that was never created, outside the pieces it shares with
    /// wanted files (the only ones the part file keeps).
    Skipped(PathBuf),
}

impl fmt::Display for StorageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StorageError::NoSpace {
                dir,
                needed,
                available,
            } => write!(
                f,
                "not enough space in {}: need {} ({needed} bytes), {} available",
                dir.display(),
                human_size(*needed),
                human_size(*available)
            ),
            StorageError::Io { path, op, source } => {
                write!(f, "cannot {op} {}: {source}", path.display())
            }
            StorageError::ExistingTooLarge {
                path,
                expected,
                actual,
            } => write!(
                f,
                "{} already exists and is larger than the torrent's file ({}, expected {}); \
                 move it away or choose another download folder",
                path.display(),
                human_size(*actual),
                human_size(*expected)
            ),
            StorageError::ForeignFile {
                path,
                expected,
                actual,
            } => write!(
                f,
                "{} already exists ({}; the torrent's file is {}) and is not a download in \
                 progress; move it away or choose another download folder",
                path.display(),
                human_size(*actual),
                human_size(*expected)
            ),
            StorageError::UnsafePath(p) => write!(
                f,
                "refusing unsafe file path {} (absolute, empty or containing '..')",
                p.display()
            ),
            StorageError::OutOfRange { offset, len } => write!(
                f,
                "range of {len} bytes at offset {offset} lies outside the torrent"
            ),
            StorageError::NotADirectory(p) => write!(
                f,
                "{} is not a folder, but the torrent needs a folder there",
                p.display()
            ),
            StorageError::NotAFile(p) => write!(
                f,
                "{} is a folder or special file, but the torrent needs a regular file there",
                p.display()
            ),
            StorageError::LengthOverflow => {
                write!(
                    f,
                    "the torrent's file lengths add up to more than 2^64 bytes"
                )
            }
            StorageError::SyncFailedBefore => f.write_str(
                "an earlier sync of the torrent's files to disk failed; their data cannot be \
                 vouched for until the next start",
            ),
            StorageError::Skipped(p) => write!(
                f,
                "{} is skipped and was never created; its bytes are not stored",
                p.display()
            ),
        }
    }
}

impl std::error::Error for StorageError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StorageError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// A byte count for people: `34 B`, `1.5 KiB`, `64.0 MiB` (binary units, one decimal).
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut v = bytes as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// Shorthand for building [`StorageError::Io`].
pub(crate) fn io_err(path: &std::path::Path, op: &'static str, source: io::Error) -> StorageError {
    StorageError::Io {
        path: path.to_path_buf(),
        op,
        source,
    }
}
