//! Web seeds (BEP 19, `url-list`): pieces fetched over HTTP(S) range requests, alongside peers.
//!
//! Split like the tracker client so the reactor never blocks:
//! - [`url`], [`plan`], [`seed`], [`set`]: sans-IO. The URL rules, which byte ranges of which
//!   files a stretch of blocks needs, each seed's state (idle, requesting, backing off, banned)
//!   and the requests in flight. The torrent core owns a [`WebSeeds`] and drives it like a peer
//!   through the picker; a seed's blocks enter the same verify path as a peer's.
//! - [`fetch`]: the blocking shell. A dispatcher thread runs each [`WebRequest`] on its own
//!   worker thread with `ureq` and sends one [`WebAnswer`] back over a channel, then wakes the
//!   reactor. Only with the `webseed` cargo feature (default; left out of the 2 MiB build,
//!   whose sessions then never give a torrent its web seeds).
//!
//! Policy (each choice and the client it follows is in [`seed`] and [`fetch`]; summed up in
//! README, "Web seeds").

// Without the `webseed` feature the engine keeps its (always empty) web-seed state, so the
// sans-IO part compiles but the shell that would feed it is gone.
#![cfg_attr(not(feature = "webseed"), allow(dead_code))]

#[cfg(feature = "webseed")]
pub mod fetch;
pub mod plan;
pub mod seed;
pub mod set;
pub mod url;

#[cfg(feature = "webseed")]
pub use fetch::{FetchConfig, WebFetcher};
pub use plan::{FileTable, WebFile};
pub use set::WebSeeds;

use crate::metainfo::Metainfo;

/// One byte range of one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpRange {
    /// The file's URL.
    pub url: String,
    /// First byte within the file.
    pub start: u64,
    /// Bytes wanted (at least 1).
    pub len: u64,
    /// The file's whole length, to check what the server says it has.
    pub file_len: u64,
}

/// A request for a web seed: the ranges to fetch, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebRequest {
    /// The torrent.
    pub torrent: usize,
    /// Index of the seed in the torrent's `url-list`.
    pub seed: usize,
    /// The request's id within its torrent.
    pub job: u64,
    /// What to fetch, in order.
    pub ranges: Vec<HttpRange>,
}

/// The answer to a [`WebRequest`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebAnswer {
    /// The request's torrent.
    pub torrent: usize,
    /// The request's seed.
    pub seed: usize,
    /// The request's id.
    pub job: u64,
    /// The bytes of every range, in order, or why there are none.
    pub result: Result<Vec<u8>, WebSeedError>,
}

/// Why a web seed's answer is unusable. Each one backs the seed off.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WebSeedError {
    /// The server answered with this status (not 200 or 206).
    Http {
        /// The status code.
        status: u16,
    },
    /// Connecting, TLS or the transfer failed.
    Transport(String),
    /// The request took longer than the timeout.
    Timeout,
    /// The server ignored `Range` (200, the whole file) and the range starts further in than
    /// we read past ([`fetch::MAX_SKIP`]).
    RangeIgnored {
        /// Where the range starts in the file.
        start: u64,
    },
    /// The server's length for the file or range is not ours.
    WrongLength {
        /// What we expected.
        expected: u64,
        /// What the server said (`Content-Length` or `Content-Range`).
        got: u64,
    },
    /// A 206 answer's `Content-Range` is missing or names other bytes.
    BadContentRange(String),
    /// The body ended early.
    Short {
        /// Bytes expected.
        expected: u64,
        /// Bytes received.
        got: u64,
    },
    /// A scheme this build cannot fetch (`https` without the `tls` feature, or not HTTP).
    UnsupportedScheme(String),
}

impl std::fmt::Display for WebSeedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WebSeedError::Http { status } => write!(f, "HTTP status {status}"),
            WebSeedError::Transport(e) => write!(f, "transport error: {e}"),
            WebSeedError::Timeout => write!(f, "timed out"),
            WebSeedError::RangeIgnored { start } => write!(
                f,
                "server ignores Range and the range starts at byte {start}"
            ),
            WebSeedError::WrongLength { expected, got } => {
                write!(
                    f,
                    "wrong length: expected {expected} bytes, server says {got}"
                )
            }
            WebSeedError::BadContentRange(s) => write!(f, "bad Content-Range: {s}"),
            WebSeedError::Short { expected, got } => {
                write!(f, "body ended after {got} of {expected} bytes")
            }
            WebSeedError::UnsupportedScheme(s) => write!(f, "unsupported scheme '{s}'"),
        }
    }
}

impl std::error::Error for WebSeedError {}

impl FileTable {
    /// The files of `meta` as web seeds serve them: paths percent-encoded, padding marked.
    pub fn from_metainfo(meta: &Metainfo) -> FileTable {
        FileTable {
            files: meta
                .files
                .iter()
                .map(|f| WebFile {
                    offset: f.offset,
                    length: f.length,
                    encoded_path: url::encode_path(&f.path),
                    padding: f.padding,
                })
                .collect(),
            multi_file: meta.multi_file,
        }
    }
}
