//! The one place where the engine's [`DiskRequest`]s become [`DiskDone`]s: hash and write a
//! downloaded piece, check a piece on disk, read a block for upload, let go of a completed
//! torrent's maps, and record a checkpoint (sync the data, then write the resume state).
//!
//! The pool's workers run it on their threads over the real [`Storage`](super::Storage), and the
//! reactor thread runs it for each torrent's last checkpoint at shutdown, after the pool stopped;
//! the deterministic simulation, the fuzz target and the `step` example run the same function
//! inline over a [`MemoryStore`], so every shell answers the engine the same way. It must not panic
//! on any request: a bad range is an error in the answer.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use sha1::{Digest, Sha1};

use super::error::StorageError;
use crate::engine::{DiskDone, DiskRequest};
use crate::layout::Layout;
use crate::resume::{FileStamp, ResumeState};

/// A torrent's bytes as one stream, addressed by offset: what disk work reads and writes.
pub trait PieceStore: Send + Sync {
    /// Writes `data` at `offset`.
    fn write_at(&self, offset: u64, data: &[u8]) -> Result<(), StorageError>;
    /// Fills `buf` from `offset`.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), StorageError>;
    /// Reads `len` bytes from `offset` into a new buffer.
    fn read_vec(&self, offset: u64, len: usize) -> Result<Vec<u8>, StorageError> {
        let mut buf = vec![0; len];
        self.read_at(offset, &mut buf)?;
        Ok(buf)
    }
    /// The torrent is complete: writing is over, so resources kept for it may go.
    fn release(&self) {}
    /// Starts writing back what was written, if enough is dirty (may wait for earlier
    /// write-back: the pool calls it after answering). Nothing to do for memory.
    fn write_back(&self) {}
    /// Makes everything written so far durable (fsync). Nothing to do for memory.
    fn sync(&self) -> Result<(), StorageError> {
        Ok(())
    }
    /// Each file's stamp now, in torrent order (none for memory).
    fn file_stamps(&self) -> Vec<FileStamp> {
        Vec::new()
    }
}

/// Where and what a torrent's checkpoints record besides the engine's snapshot.
#[derive(Clone, Debug, Default)]
pub struct ResumeTarget {
    /// The state file, replaced at every checkpoint; `None`: the state is only handed back
    /// (for [`crate::TorrentHandle::resume_data`]).
    pub file: Option<PathBuf>,
    /// The torrent's folder, as recorded in the state.
    pub root: Vec<u8>,
    /// Bytes uploaded in earlier sessions (from the state the torrent started with).
    pub uploaded_before: u64,
    /// Bytes downloaded in earlier sessions.
    pub downloaded_before: u64,
}

/// Everything disk work needs to know about one torrent.
pub struct TorrentDisk {
    /// Piece and file arithmetic.
    pub layout: Layout,
    /// SHA-1 of each piece, shared with the metainfo.
    pub hashes: Arc<[[u8; 20]]>,
    /// Where its bytes live.
    pub store: Arc<dyn PieceStore>,
    /// What its checkpoints record, and where.
    pub resume: ResumeTarget,
}

/// How much of a piece is hashed before that same stretch is written: small enough to still
/// be in the L1/L2 cache when it is copied to the file. Hashing the whole piece first and then
/// writing it read the piece from memory twice; with pwrite storage this made the leecher's CPU
/// per GiB about 1.4 times as high (`examples/swarm`, 1 GiB).
const WRITE_STRIDE: usize = 64 * 1024;

/// Carries out `req` for the torrent `disk` describes. `scratch` is a buffer the caller keeps
/// across calls (grown once for checks). `None` for requests that have no answer (`Release`).
pub fn execute(req: DiskRequest, disk: &TorrentDisk, scratch: &mut Vec<u8>) -> Option<DiskDone> {
    let l = &disk.layout;
    Some(match req {
        DiskRequest::Verify {
            torrent,
            piece,
            data,
        } => {
            let expected = disk.hashes.get(piece as usize);
            match verify(&*disk.store, l.piece_offset(piece), &data, expected) {
                Ok(ok) => DiskDone::Verified {
                    torrent,
                    piece,
                    ok,
                    buffer: data,
                },
                Err(error) => DiskDone::WriteFailed {
                    torrent,
                    piece,
                    error,
                },
            }
        }
        DiskRequest::Check { torrent, piece } => {
            let expected = disk.hashes.get(piece as usize);
            let len = l.piece_len(piece) as usize;
            let ok = check(&*disk.store, l.piece_offset(piece), len, expected, scratch);
            DiskDone::Checked { torrent, piece, ok }
        }
        DiskRequest::Read {
            torrent,
            conn,
            piece,
            begin,
            length,
        } => {
            let offset = l.piece_offset(piece) + u64::from(begin);
            DiskDone::Read {
                torrent,
                conn,
                piece,
                begin,
                data: disk.store.read_vec(offset, length as usize),
            }
        }
        DiskRequest::Release { .. } => {
            disk.store.release();
            return None;
        }
        DiskRequest::Checkpoint {
            torrent,
            serial,
            info_hash,
            have,
            uploaded,
            downloaded,
            closing,
        } => {
            let state = ResumeState {
                info_hash,
                root: disk.resume.root.clone(),
                have,
                files: Vec::new(),
                uploaded: disk.resume.uploaded_before.saturating_add(uploaded),
                downloaded: disk.resume.downloaded_before.saturating_add(downloaded),
                clean: closing,
            };
            DiskDone::Checkpointed {
                torrent,
                serial,
                result: checkpoint(disk, state),
            }
        }
    })
}

/// Makes `state.have` durable, then records it. The order is the guarantee: the data of every
/// listed piece is synced before the state that lists it exists, and the stamps are read after
/// the sync, so they describe the files as the state vouches for them. The file is replaced
/// atomically (see [`super::state_file::write`]).
fn checkpoint(disk: &TorrentDisk, mut state: ResumeState) -> Result<Vec<u8>, StorageError> {
    disk.store.sync()?;
    state.files = disk.store.file_stamps();
    let bytes = crate::resume::encode(&state);
    if let Some(path) = &disk.resume.file {
        super::state_file::write(path, &bytes)?;
    }
    Ok(bytes)
}

/// Hashes `data` and writes it stride by stride, so each stretch is copied while it is hot.
/// The bytes land before the verdict; a piece that fails its hash is simply never counted as
/// had, and its range is written again when it is fetched again (every read of our data, for
/// upload or recheck, is of pieces that passed).
fn verify(
    store: &dyn PieceStore,
    offset: u64,
    data: &[u8],
    expected: Option<&[u8; 20]>,
) -> Result<bool, StorageError> {
    let mut hasher = Sha1::new();
    let mut at = offset;
    for stretch in data.chunks(WRITE_STRIDE) {
        hasher.update(stretch);
        store.write_at(at, stretch)?;
        at += stretch.len() as u64;
    }
    Ok(expected.is_some_and(|e| hasher.finalize()[..] == e[..]))
}

fn check(
    store: &dyn PieceStore,
    offset: u64,
    len: usize,
    expected: Option<&[u8; 20]>,
    scratch: &mut Vec<u8>,
) -> bool {
    // Grown once and never cleared: the read overwrites every byte that is hashed, and zeroing
    // a piece-sized buffer per check was a tenth of a seeder's recheck time.
    if scratch.len() < len {
        scratch.resize(len, 0);
    }
    let buf = &mut scratch[..len];
    let Some(expected) = expected else {
        return false;
    };
    store.read_at(offset, buf).is_ok() && Sha1::digest(&buf[..])[..] == expected[..]
}

/// A torrent's bytes in memory: the store of the simulation, the fuzz target and examples, and
/// of embedders' tests.
#[derive(Debug, Default)]
pub struct MemoryStore {
    bytes: Mutex<Vec<u8>>,
}

impl MemoryStore {
    /// A store holding `bytes` (its length is the torrent's).
    pub fn new(bytes: Vec<u8>) -> MemoryStore {
        MemoryStore {
            bytes: Mutex::new(bytes),
        }
    }

    /// A copy of the bytes.
    pub fn to_vec(&self) -> Vec<u8> {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<u8>> {
        self.bytes.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn out_of_range(offset: u64, len: usize) -> StorageError {
    StorageError::OutOfRange {
        offset,
        len: len as u64,
    }
}

impl PieceStore for MemoryStore {
    fn write_at(&self, offset: u64, data: &[u8]) -> Result<(), StorageError> {
        let mut bytes = self.lock();
        let start = usize::try_from(offset).map_err(|_| out_of_range(offset, data.len()))?;
        let dst = start
            .checked_add(data.len())
            .and_then(|end| bytes.get_mut(start..end))
            .ok_or(out_of_range(offset, data.len()))?;
        dst.copy_from_slice(data);
        Ok(())
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), StorageError> {
        let bytes = self.lock();
        let start = usize::try_from(offset).map_err(|_| out_of_range(offset, buf.len()))?;
        let src = start
            .checked_add(buf.len())
            .and_then(|end| bytes.get(start..end))
            .ok_or(out_of_range(offset, buf.len()))?;
        buf.copy_from_slice(src);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disk(payload: &[u8], store: Vec<u8>) -> TorrentDisk {
        let layout = Layout::new(4, payload.len() as u64).unwrap();
        TorrentDisk {
            layout,
            hashes: payload.chunks(4).map(|c| Sha1::digest(c).into()).collect(),
            store: Arc::new(MemoryStore::new(store)),
            resume: ResumeTarget::default(),
        }
    }

    #[test]
    fn every_request_gets_its_answer() {
        let payload = b"abcdefghij";
        let d = disk(payload, vec![0; 10]);
        let mut scratch = Vec::new();
        let verify = |piece: u32, data: &[u8], scratch: &mut Vec<u8>| {
            let req = DiskRequest::Verify {
                torrent: 1,
                piece,
                data: data.to_vec(),
            };
            match execute(req, &d, scratch) {
                Some(DiskDone::Verified { ok, .. }) => ok,
                other => panic!("{other:?}"),
            }
        };
        assert!(verify(0, b"abcd", &mut scratch));
        assert!(!verify(1, b"xxxx", &mut scratch));
        assert!(verify(2, b"ij", &mut scratch), "the short last piece");
        let check = |piece| match execute(
            DiskRequest::Check { torrent: 1, piece },
            &d,
            &mut scratch.clone(),
        ) {
            Some(DiskDone::Checked { ok, .. }) => ok,
            other => panic!("{other:?}"),
        };
        assert!(check(0));
        assert!(!check(1), "failed data is written but never passes");
        let read = DiskRequest::Read {
            torrent: 1,
            conn: 7,
            piece: 2,
            begin: 1,
            length: 1,
        };
        match execute(read, &d, &mut scratch) {
            Some(DiskDone::Read { conn: 7, data, .. }) => assert_eq!(data.unwrap(), b"j"),
            other => panic!("{other:?}"),
        }
        assert!(execute(DiskRequest::Release { torrent: 1 }, &d, &mut scratch).is_none());
    }

    #[test]
    fn a_write_past_the_end_is_an_error_not_a_panic() {
        let d = disk(b"abcdefgh", vec![0; 6]);
        let req = DiskRequest::Verify {
            torrent: 1,
            piece: 1,
            data: b"efgh".to_vec(),
        };
        match execute(req, &d, &mut Vec::new()) {
            Some(DiskDone::WriteFailed {
                piece: 1, error, ..
            }) => {
                assert!(matches!(error, StorageError::OutOfRange { offset: 4, .. }))
            }
            other => panic!("{other:?}"),
        }
    }
}
