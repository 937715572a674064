//! The part file: where bytes of skipped files go when a piece also holds bytes of a wanted
//! file (libtorrent and qBittorrent keep such bytes the same way, so a skipped file is never
//! created and no stray file is left behind).
//!
//! One per torrent, `.<info-hash-hex>.parts` in the download folder, created at its first
//! write. Only pieces that straddle two files (boundary pieces) have a slot; slot `k` is the
//! `k`-th such piece in torrent order and lives at `k × piece_length`, so the layout follows
//! from the metainfo alone and the file needs no index that a crash could tear. It is only
//! written and read through its [`Storage`](super::Storage), on the pool's workers and on the
//! thread that re-selects a file (which copies a file's bytes out of it), under the storage's
//! placement lock. It must not hold bytes of any piece that is not a boundary piece.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use super::error::{io_err, StorageError};

/// A torrent's part file. See the module documentation.
pub(crate) struct PartFile {
    path: PathBuf,
    piece_length: u64,
    /// Boundary pieces, sorted: a piece's slot is its index here.
    boundary: Vec<u64>,
    /// Written since the last sync.
    dirty: AtomicBool,
}

impl PartFile {
    /// The part file at `path` for files of these `(start, length)` spans (in torrent order,
    /// `total` bytes in all) cut into pieces of `piece_length`.
    pub(crate) fn new(path: PathBuf, piece_length: u32, spans: &[(u64, u64)], total: u64) -> Self {
        let plen = u64::from(piece_length.max(1));
        let mut boundary: Vec<u64> = spans
            .iter()
            .filter(|&&(_, len)| len > 0)
            .map(|&(start, len)| start + len)
            .filter(|&end| end < total && end % plen != 0)
            .map(|end| end / plen)
            .collect();
        boundary.dedup();
        PartFile {
            path,
            piece_length: plen,
            boundary,
            dirty: AtomicBool::new(false),
        }
    }

    /// Where it is.
    #[cfg(test)]
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Where the stream's byte `offset` lives in the part file, and how many bytes from there
    /// stay in the same piece; `None` when its piece is not a boundary piece.
    fn locate(&self, offset: u64) -> Option<(u64, u64)> {
        let piece = offset / self.piece_length;
        let slot = self.boundary.binary_search(&piece).ok()? as u64;
        let within = offset % self.piece_length;
        Some((
            slot * self.piece_length + within,
            self.piece_length - within,
        ))
    }

    /// Opened afresh each time: only boundary pieces come here, a few per skipped file.
    fn open(&self, create: bool) -> Result<File, StorageError> {
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(create)
            .truncate(false)
            .open(&self.path)
            .map_err(|e| io_err(&self.path, "open", e))
    }

    /// Calls `f(part-file offset, range of the caller's buffer)` for each piece of
    /// `offset..offset+len`; a non-boundary piece is the error `outside`.
    fn each<F>(&self, offset: u64, len: usize, outside: &Path, mut f: F) -> Result<(), StorageError>
    where
        F: FnMut(u64, std::ops::Range<usize>) -> Result<(), StorageError>,
    {
        let mut done = 0usize;
        while done < len {
            let Some((at, room)) = self.locate(offset + done as u64) else {
                return Err(StorageError::Skipped(outside.to_path_buf()));
            };
            let n = (len - done).min(usize::try_from(room).unwrap_or(usize::MAX));
            f(at, done..done + n)?;
            done += n;
        }
        Ok(())
    }

    /// Keeps `data`, bytes of the skipped file `owner` at stream `offset`.
    pub(crate) fn write(&self, offset: u64, data: &[u8], owner: &Path) -> Result<(), StorageError> {
        // Checked before the file is created, so a stray write never makes an empty part file.
        self.each(offset, data.len(), owner, |_, _| Ok(()))?;
        let fd = self.open(true)?;
        self.each(offset, data.len(), owner, |at, r| {
            fd.write_all_at(&data[r], at)
                .map_err(|e| io_err(&self.path, "write", e))
        })?;
        // Marked after the write, as for the torrent's files, so a racing sync cannot miss it.
        self.dirty.store(true, Ordering::Release);
        Ok(())
    }

    /// Reads bytes of the skipped file `owner` at stream `offset`. Bytes never written read
    /// as zeros (a hole), which fail their piece's hash as missing data should.
    pub(crate) fn read(
        &self,
        offset: u64,
        buf: &mut [u8],
        owner: &Path,
    ) -> Result<(), StorageError> {
        self.each(offset, buf.len(), owner, |_, _| Ok(()))?;
        let fd = match self.open(false) {
            Ok(fd) => fd,
            Err(_) if !self.path.exists() => {
                buf.fill(0);
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        self.each(offset, buf.len(), owner, |at, r| {
            // Past the part file's end: never written.
            read_rest(&fd, &mut buf[r], at, &self.path)
        })
    }

    /// Copies what it holds of the stream range `start..start+len` (a file being created) to
    /// `dest` at the same place within that file. Only the file's first and last pieces can be
    /// boundary pieces.
    pub(crate) fn copy_into(
        &self,
        start: u64,
        len: u64,
        dest: &File,
        dest_path: &Path,
    ) -> Result<(), StorageError> {
        if len == 0 || !self.path.exists() {
            return Ok(());
        }
        let end = start + len;
        let (first, last) = (start / self.piece_length, (end - 1) / self.piece_length);
        let mut buf = Vec::new();
        let pieces = if first == last {
            vec![first]
        } else {
            vec![first, last]
        };
        for piece in pieces {
            let lo = start.max(piece * self.piece_length);
            let hi = end.min((piece + 1) * self.piece_length);
            if self.locate(lo).is_none() {
                continue;
            }
            buf.resize(usize::try_from(hi - lo).unwrap_or(0), 0);
            self.read(lo, &mut buf, dest_path)?;
            dest.write_all_at(&buf, lo - start)
                .map_err(|e| io_err(dest_path, "write", e))?;
        }
        Ok(())
    }

    /// Makes its writes durable (fsync), if any since the last time.
    pub(crate) fn sync(&self) -> Result<(), StorageError> {
        if !self.dirty.swap(false, Ordering::AcqRel) {
            return Ok(());
        }
        let res = self
            .open(false)
            .and_then(|fd| fd.sync_all().map_err(|e| io_err(&self.path, "sync", e)));
        if res.is_err() {
            self.dirty.store(true, Ordering::Release);
        }
        res
    }

    /// Deletes it: no skipped file is left to need it.
    pub(crate) fn remove(&self) -> Result<(), StorageError> {
        self.dirty.store(false, Ordering::Release);
        match std::fs::remove_file(&self.path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(io_err(&self.path, "remove", e))
            }
            _ => Ok(()),
        }
    }
}

/// Fills `rest` from `at`, zeros past the end of the file.
fn read_rest(fd: &File, rest: &mut [u8], at: u64, path: &Path) -> Result<(), StorageError> {
    let mut done = 0;
    while done < rest.len() {
        let got = fd
            .read_at(&mut rest[done..], at + done as u64)
            .map_err(|e| io_err(path, "read", e))?;
        if got == 0 {
            rest[done..].fill(0);
            return Ok(());
        }
        done += got;
    }
    Ok(())
}
