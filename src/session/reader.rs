//! Streaming a file of a torrent while it downloads: [`FileReader`] is `std::io::Read + Seek`
//! over one file, and returns only verified bytes.
//!
//! Runs on the caller's thread. Each read that reaches a new piece moves the reader's
//! read-ahead window on the reactor (those pieces are fetched before any other, the one being
//! read first; outside the window the torrent keeps its rarest-first order), then blocks until
//! the piece at the read position is verified, and reads it from the torrent's storage on this
//! thread, never on the reactor. Verified pieces stay verified, so a piece once seen is read
//! again without asking.

use std::io::{self, Read, Seek, SeekFrom};
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use super::Link;
use crate::bitfield::Bitfield;
use crate::disk::Storage;
use crate::engine::TorrentId;
use crate::metainfo::Metainfo;
use crate::reactor::{Answer, Command, PieceAnswer, PieceReply, PieceWait};

/// The read-ahead a new reader asks for: the pieces covering this many bytes from the read
/// position (at least two pieces), about what the default piece-buffer budget holds.
pub const DEFAULT_READAHEAD: u64 = 4 * 1024 * 1024;

/// One file of a torrent, read while it downloads. See the module documentation.
///
/// `read` blocks until the bytes at the position are verified; it fails with
/// [`io::ErrorKind::Other`] when the torrent fails, [`io::ErrorKind::NotConnected`] when it is
/// removed or the session shuts down, and [`io::ErrorKind::TimedOut`] after
/// [`FileReader::set_timeout`] (none by default: a paused torrent's reader waits for its
/// resume). Dropping the reader clears its window.
pub struct FileReader {
    link: Link,
    torrent: TorrentId,
    reader: u64,
    meta: Arc<Metainfo>,
    /// The file's first byte in the torrent's byte stream, and its length.
    start: u64,
    len: u64,
    pos: u64,
    readahead: u64,
    timeout: Option<Duration>,
    /// Pieces this reader knows are verified.
    known: Bitfield,
    /// The window last sent, so reads within one piece send nothing.
    window: Option<Range<u32>>,
    storage: Option<Arc<Storage>>,
}

impl std::fmt::Debug for FileReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileReader")
            .field("torrent", &self.torrent)
            .field("start", &self.start)
            .field("len", &self.len)
            .field("pos", &self.pos)
            .finish()
    }
}

impl FileReader {
    pub(super) fn new(
        link: Link,
        torrent: TorrentId,
        meta: Arc<Metainfo>,
        file: usize,
    ) -> Option<FileReader> {
        let f = meta.files.get(file)?;
        let (start, len) = (f.offset, f.length);
        let reader = link.new_reader_id();
        let pieces = u32::try_from(meta.piece_hashes.len()).ok()?;
        Some(FileReader {
            link,
            torrent,
            reader,
            start,
            len,
            meta,
            pos: 0,
            readahead: DEFAULT_READAHEAD,
            timeout: None,
            known: Bitfield::new(pieces),
            window: None,
            storage: None,
        })
    }

    /// The file's length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the file is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Fetch this many bytes ahead of the read position first (at least two pieces are always
    /// asked for). Takes effect at the next read that reaches a new piece.
    pub fn set_readahead(&mut self, bytes: u64) {
        self.readahead = bytes;
    }

    /// Gives up a read after `timeout` without the bytes (`None`: wait as long as it takes).
    pub fn set_timeout(&mut self, timeout: Option<Duration>) {
        self.timeout = timeout;
    }

    fn piece_len(&self) -> u64 {
        u64::from(self.meta.piece_length.max(1))
    }

    /// The pieces from the one holding byte `at` of the torrent through the read-ahead, within
    /// this file.
    fn window_from(&self, at: u64) -> Range<u32> {
        let pl = self.piece_len();
        let first = at / pl;
        let file_end = self.start + self.len;
        let ahead_end = at.saturating_add(self.readahead.max(2 * pl)).min(file_end);
        let last = ahead_end.saturating_sub(1).max(at) / pl;
        let cap = |p: u64| u32::try_from(p).unwrap_or(u32::MAX);
        cap(first)..cap(last + 1).max(cap(first) + 1)
    }

    /// Moves the window to the read position and, unless `piece` is known verified, blocks
    /// until it is. Returns the storage to read from.
    fn await_piece(&mut self, at: u64, piece: u32) -> io::Result<Arc<Storage>> {
        let window = self.window_from(at);
        let known = self.known.get(piece);
        if let (true, Some(storage)) = (known, &self.storage) {
            if self.window.as_ref().map(|w| w.start) == Some(window.start) {
                return Ok(storage.clone());
            }
        }
        let answer = Arc::new(PieceAnswer::default());
        let wait = (!known || self.storage.is_none()).then(|| PieceWait {
            reader: self.reader,
            piece,
            reply: PieceReply(answer.clone()),
        });
        let waits = wait.is_some();
        self.window = Some(window.clone());
        self.link
            .send(Command::StreamWindow {
                id: self.torrent,
                reader: self.reader,
                pieces: window,
                wait,
            })
            .map_err(|e| io::Error::new(io::ErrorKind::NotConnected, e.to_string()))?;
        if !waits {
            return self
                .storage
                .clone()
                .ok_or_else(|| io::ErrorKind::Other.into());
        }
        match answer.wait(self.timeout) {
            Answer::Ready(storage) => {
                self.known.set(piece);
                self.storage = Some(storage.clone());
                Ok(storage)
            }
            Answer::Failed(why) => Err(io::Error::other(format!("the torrent failed: {why}"))),
            Answer::Waiting => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("piece {piece} did not arrive in time"),
            )),
            Answer::Gone => Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "the torrent was removed or the session shut down",
            )),
        }
    }
}

impl Read for FileReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.len || buf.is_empty() {
            return Ok(0);
        }
        let at = self.start + self.pos;
        let pl = self.piece_len();
        let piece = u32::try_from(at / pl)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "offset past the torrent"))?;
        let storage = self.await_piece(at, piece)?;
        let piece_end = (u64::from(piece) + 1) * pl;
        let n = (buf.len() as u64)
            .min(piece_end - at)
            .min(self.len - self.pos) as usize;
        storage
            .read_at(at, &mut buf[..n])
            .map_err(|e| io::Error::other(e.to_string()))?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for FileReader {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        let target = target.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek before the start of the file",
            )
        })?;
        self.pos = target;
        Ok(target)
    }
}

impl Drop for FileReader {
    fn drop(&mut self) {
        if self.window.is_some() {
            let _ = self.link.send(Command::StreamWindow {
                id: self.torrent,
                reader: self.reader,
                pieces: 0..0,
                wait: None,
            });
        }
    }
}
