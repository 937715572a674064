//! Making .torrent files (BEP 3 v1, with BEP 12 tiers, BEP 19 web seeds and BEP 27 private).
//!
//! ```no_run
//! use coracle::create::{PieceSize, TorrentBuilder};
//!
//! let made = TorrentBuilder::new("my-folder")
//!     .tracker("http://tracker.example/announce")
//!     .piece_size(PieceSize::Auto)
//!     .build()?;
//! std::fs::write("my-folder.torrent", &made.bytes)?;
//! println!("info-hash {}", made.metainfo.info_hash);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Two halves: `info` is pure (file order, automatic piece size, the bytes), and the shell
//! (`walk`, `hash`, [`TorrentBuilder::build`]) lists the folder, reads the files and hashes
//! pieces on a few worker threads, holding at most a few pieces in memory.
//!
//! What goes in, as mktorrent and transmission-create decide it: regular files, sorted by path
//! bytes; hidden files included (as mktorrent, libtorrent and Transmission 4; Transmission 3
//! skips them, which [`TorrentBuilder::skip_hidden`] does too); symlinks followed, to files and
//! to folders (as both tools; a folder link back into its own ancestors is an error, not a
//! loop), and a broken one is an error (as mktorrent); fifos, sockets and devices skipped.

mod hash;
mod info;
mod run;
mod walk;

use std::fmt;
use std::io;
use std::path::PathBuf;

pub use info::auto_piece_length;
use info::{FileEntry, TorrentOptions};

use crate::metainfo::{Metainfo, MetainfoError};

/// How long the pieces are.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PieceSize {
    /// Chosen from the total size by [`auto_piece_length`] (libtorrent's rule).
    #[default]
    Auto,
    /// This many bytes: a power of two from 16 KiB to 128 MiB.
    Bytes(u32),
}

/// Options for making a .torrent of a file or folder; [`TorrentBuilder::build`] does the work.
#[derive(Clone, Debug)]
pub struct TorrentBuilder {
    path: PathBuf,
    piece_size: PieceSize,
    options: TorrentOptions,
    skip_hidden: bool,
    threads: usize,
    date_now: bool,
}

impl TorrentBuilder {
    /// A builder for the file or folder at `path`; the torrent's name is its file name. By
    /// default: no trackers, automatic piece size, not private, `created by` coracle and the
    /// current time as `creation date`.
    pub fn new(path: impl Into<PathBuf>) -> TorrentBuilder {
        TorrentBuilder {
            path: path.into(),
            piece_size: PieceSize::Auto,
            options: TorrentOptions {
                created_by: Some(concat!("coracle ", env!("CARGO_PKG_VERSION")).to_owned()),
                ..TorrentOptions::default()
            },
            skip_hidden: false,
            threads: 0,
            date_now: true,
        }
    }

    /// Adds a tracker in a tier of its own (call order is tier order).
    pub fn tracker(self, url: impl Into<String>) -> TorrentBuilder {
        self.tracker_tier(vec![url.into()])
    }

    /// Adds a tier of trackers that clients try in turn (BEP 12).
    pub fn tracker_tier(mut self, urls: Vec<String>) -> TorrentBuilder {
        if !urls.is_empty() {
            self.options.trackers.push(urls);
        }
        self
    }

    /// Adds a web seed URL (BEP 19).
    pub fn web_seed(mut self, url: impl Into<String>) -> TorrentBuilder {
        self.options.web_seeds.push(url.into());
        self
    }

    /// Sets the piece size.
    pub fn piece_size(mut self, size: PieceSize) -> TorrentBuilder {
        self.piece_size = size;
        self
    }

    /// Marks the torrent private (BEP 27): clients use only its trackers to find peers.
    pub fn private(mut self, private: bool) -> TorrentBuilder {
        self.options.private = private;
        self
    }

    /// Sets the free-text comment.
    pub fn comment(mut self, comment: impl Into<String>) -> TorrentBuilder {
        self.options.comment = Some(comment.into());
        self
    }

    /// Sets `source` in the info dictionary (changes the info-hash; private trackers ask for it).
    pub fn source(mut self, source: impl Into<String>) -> TorrentBuilder {
        self.options.source = Some(source.into());
        self
    }

    /// Sets the `created by` field; `None` leaves it out.
    pub fn created_by(mut self, who: Option<String>) -> TorrentBuilder {
        self.options.created_by = who;
        self
    }

    /// Sets the `creation date` (seconds since the Unix epoch); `None` leaves it out. Without a
    /// call, the current time is written.
    pub fn creation_date(mut self, date: Option<i64>) -> TorrentBuilder {
        self.options.creation_date = date;
        self.date_now = false;
        self
    }

    /// Leaves out files and folders whose name starts with `.` (as Transmission 3 does).
    pub fn skip_hidden(mut self, skip: bool) -> TorrentBuilder {
        self.skip_hidden = skip;
        self
    }

    /// Hashing threads; 0 (the default) means one per CPU, at most 8.
    pub fn threads(mut self, threads: usize) -> TorrentBuilder {
        self.threads = threads;
        self
    }
}

/// A finished .torrent.
#[derive(Clone, Debug)]
pub struct CreatedTorrent {
    /// The .torrent file's bytes.
    pub bytes: Vec<u8>,
    /// The same torrent parsed, for its info-hash, files and pieces (ready to seed).
    pub metainfo: Metainfo,
}

/// How far hashing has come, reported after each piece.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// Bytes hashed so far.
    pub bytes_done: u64,
    /// Bytes to hash in all.
    pub bytes_total: u64,
    /// Pieces hashed so far.
    pub pieces_done: u32,
    /// Pieces in all.
    pub pieces_total: u32,
}

/// Why a torrent could not be made. Each message names the path and what to do.
#[non_exhaustive]
#[derive(Debug)]
pub enum CreateError {
    /// A system call on `path` failed.
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What was being done ("read", "list", …).
        op: &'static str,
        /// The operating system's error.
        source: io::Error,
    },
    /// A file or folder name is not UTF-8, which a .torrent's paths must be.
    NotUtf8(PathBuf),
    /// A symlink points to a folder that contains it: following it would never end.
    SymlinkLoop(PathBuf),
    /// A symlink whose target does not exist.
    BrokenSymlink(PathBuf),
    /// Nothing to share: no files, or only empty ones.
    NoData(PathBuf),
    /// The piece size is not a power of two from 16 KiB to 128 MiB.
    BadPieceSize(u64),
    /// So many pieces that the .torrent would be too large; a larger piece size is needed.
    TooManyPieces {
        /// Pieces at the chosen size.
        pieces: u64,
    },
    /// A file was shorter when read than when listed: it changed during hashing.
    Changed(PathBuf),
    /// The bytes made do not parse back (a name the parser refuses).
    Invalid(MetainfoError),
}

impl fmt::Display for CreateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use CreateError as E;
        match self {
            E::Io { path, op, source } => write!(f, "cannot {op} {}: {source}", path.display()),
            E::NotUtf8(p) => write!(
                f,
                "{}: name is not UTF-8, which torrent paths must be; rename it",
                p.display()
            ),
            E::SymlinkLoop(p) => write!(
                f,
                "{}: symbolic link to a folder containing it; remove it or make the torrent of \
                 another folder",
                p.display()
            ),
            E::BrokenSymlink(p) => {
                write!(f, "{}: broken symbolic link; fix or remove it", p.display())
            }
            E::NoData(p) => write!(
                f,
                "{}: nothing to share (no files, or only empty ones)",
                p.display()
            ),
            E::BadPieceSize(n) => write!(
                f,
                "piece size {n} is not a power of two from 16K to 128M (or auto)"
            ),
            E::TooManyPieces { pieces } => write!(
                f,
                "{pieces} pieces would make the .torrent too large; choose a larger piece size"
            ),
            E::Changed(p) => write!(
                f,
                "{}: file changed while hashing (shorter than when listed); try again",
                p.display()
            ),
            E::Invalid(e) => write!(f, "the torrent made does not read back: {e}"),
        }
    }
}

impl std::error::Error for CreateError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CreateError::Io { source, .. } => Some(source),
            CreateError::Invalid(e) => Some(e),
            _ => None,
        }
    }
}
