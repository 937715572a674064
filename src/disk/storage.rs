//! A torrent's files seen as one byte stream: [`Storage`] maps stream offsets to files and copies
//! through memory-map windows, or through `pread`/`pwrite` when mapping is impossible or unsafe.
//!
//! Created (`open`) on the thread that calls `Session::add`, or on a `coracle-open` thread for a
//! magnet. Then owned through an `Arc` shared by the reactor thread (which hands it to jobs, and at
//! shutdown, once the pool has stopped, runs the last checkpoints and `flush` itself) and the disk
//! pool's workers, which call `write_at`/`read_at` concurrently on disjoint ranges. It must not be
//! called from the reactor thread for bulk I/O (that blocks the event loop), and it never
//! truncates or deletes a user's file, and creates one after `open` only when a skipped file is
//! chosen again ([`Storage::create_skipped`], on the caller's thread). A skipped file that does
//! not exist is never created: bytes of it that share a piece with a wanted file go to the part
//! file (see `part_file`), under the placement lock so a re-selection cannot race a write.

use std::fmt;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::Duration;

use super::error::{io_err, StorageError};
use super::handles::Handles;
use super::part_file::PartFile;
use super::setup::{self, Planned};
use super::sigbus::{is_file_changed, FileChanged};
use super::window::{Copy, Windows};
use super::writeback::WriteBack;
use crate::resume::FileStamp;

/// One file of the torrent, in torrent order. `path` is relative and already sanitised by the
/// caller (metainfo); storage still refuses absolute paths or `..` components defensively.
#[derive(Clone, Debug)]
pub struct FileSpec {
    /// Path relative to the download folder.
    pub path: PathBuf,
    /// Length in bytes.
    pub length: u64,
    /// A BEP 47 padding file: never created on disk, reads as zeros.
    pub padding: bool,
    /// BEP 47 `attr` `x`: a file this storage creates gets the execute bits (within the umask).
    /// An existing file's mode is left alone.
    pub executable: bool,
}

/// Tuning of a torrent's storage: how its files are mapped, written and synced.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct StorageConfig {
    /// Size of one mmap window (default 32 MiB, rounded up to whole pages). Files are mapped in
    /// windows, never whole, so a 3 GiB file works under `ulimit -v 1G`.
    pub window_bytes: u64,
    /// Windows kept mapped (least recently used is dropped): bounded address space. Default 64
    /// (2 GiB) on 64-bit targets and 8 (256 MiB) on 32-bit ones. With 8 on 64-bit, a 1 GiB
    /// torrent of 16 KiB pieces (written in random order) mapped and unmapped a window every
    /// few pieces, and each unmap's TLB shootdown cost more than the SHA-1 of the piece. When
    /// the address space runs out (`ulimit -v`), the cache empties itself and maps again.
    pub max_windows: usize,
    /// Always use positional I/O instead of memory maps (tests force the fallback with it).
    pub force_pwrite: bool,
    /// Files shorter than this (default 2 MiB, one huge page) use positional I/O even when the
    /// storage maps: a map of them cannot be backed by huge pages, so every 4 KiB page cost a
    /// write fault and a dirty-bit transfer at unmap. 256 MiB in 200 files of 16 KiB pieces
    /// took 4.8 s mapped and 2.4 s with `pwrite` (issue 15). 0 maps every file.
    pub map_min_file_bytes: u64,
    /// Test hook: sleep this long at the start of every `write_at`, to simulate slow storage.
    pub write_delay: Option<Duration>,
    /// About how many bytes of this torrent may be dirty in the page cache at once (default
    /// 32 MiB): write-back starts every quarter of it, and waits for the previous batch first.
    /// 0 leaves all write-back to the kernel and the final sync.
    pub dirty_limit: u64,
    /// Refuse to open when a file already holds data but not at the torrent's length
    /// ([`StorageError::ForeignFile`]): this storage reserves every file at full length at once,
    /// so such a file is not a download in progress and may be somebody's own. Default `false`
    /// (the file is kept and extended); the command line sets it unless `--overwrite`.
    pub refuse_foreign_files: bool,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            window_bytes: 32 << 20,
            max_windows: if cfg!(target_pointer_width = "64") {
                64
            } else {
                8
            },
            force_pwrite: false,
            map_min_file_bytes: 2 << 20,
            write_delay: None,
            dirty_limit: 32 << 20,
            refuse_foreign_files: false,
        }
    }
}

/// One file as laid out in the stream, plus whether it has unsynced writes.
struct Entry {
    plan: Planned,
    dirty: AtomicBool,
    /// Skipped and not on disk: its bytes live in the part file, if anywhere.
    absent: AtomicBool,
}

/// Files to leave uncreated at [`Storage::open_skipping`], and where their shared bytes go.
#[derive(Clone, Debug)]
pub struct SkipFiles {
    /// Per file, in torrent order: skipped (created only if it exists already).
    pub skip: Vec<bool>,
    /// The part file's path (`.<info-hash-hex>.parts` in the download folder).
    pub part_file: PathBuf,
    /// The torrent's piece length (the part file keeps whole boundary pieces' slots).
    pub piece_length: u32,
}

/// The files of one torrent, addressed as a single byte stream. `Send + Sync`: pool workers
/// write disjoint ranges concurrently through `&Storage`.
pub struct Storage {
    files: Vec<Entry>,
    /// Held for a whole sync, so a second sync cannot see a file marked clean by a first one
    /// whose fsync has not returned yet (and report data durable that is not).
    syncing: Mutex<()>,
    /// Set for good when an fsync failed: the kernel may have dropped the pages it could not
    /// write and a later fsync would succeed without them, so nothing is reported durable again.
    sync_failed: AtomicBool,
    total: u64,
    handles: Handles,
    windows: Windows,
    /// Cleared (once, never set again) when mapping fails or the files are sparse.
    mmap: AtomicBool,
    /// Shorter files use positional I/O even while `mmap` is set.
    map_min_file_bytes: u64,
    write_delay: Option<Duration>,
    /// Where bytes of absent files go; `None` when every file was created.
    parts: Option<PartFile>,
    /// Read-held by every read and write, write-held while a skipped file is created and
    /// filled from the part file.
    place: RwLock<()>,
    /// Starts write-back of written pages as the download goes (see `writeback.rs`).
    writeback: WriteBack,
}

impl fmt::Debug for Storage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Storage")
            .field("files", &self.files.len())
            .field("total", &self.total)
            .field("mmap", &self.uses_mmap())
            .finish()
    }
}

impl Storage {
    /// Creates parent folders and files under `root` (files that exist are kept: a re-run
    /// resumes), checks free space first (bytes still to allocate against what `statvfs` says is
    /// available, else [`StorageError::NoSpace`]), then reserves space with `posix_fallocate`
    /// so a full disk is an error now, never a SIGBUS later.
    ///
    /// Zero-length files are created empty; padding files are never created. An existing file
    /// longer than expected is an error (never truncated); a shorter one is extended. Paths that
    /// are absolute or contain `..` are refused. When the file system cannot reserve space, the
    /// files are extended sparsely and the storage uses positional I/O only.
    #[cfg(test)]
    pub fn open(
        root: &Path,
        files: &[FileSpec],
        cfg: &StorageConfig,
    ) -> Result<Storage, StorageError> {
        Storage::open_skipping(root, files, cfg, None)
    }

    /// Like [`Storage::open`], but files `skip` marks are not created unless they exist
    /// already; the bytes of them that share a piece with another file go to the part file.
    /// A wanted file that is missing while a part file from an earlier run exists is created
    /// with the bytes the part file kept for it (see [`Storage::create_skipped`]).
    pub fn open_skipping(
        root: &Path,
        files: &[FileSpec],
        cfg: &StorageConfig,
        skip: Option<&SkipFiles>,
    ) -> Result<Storage, StorageError> {
        let (mut planned, total) = setup::plan(root, files)?;
        let leftover = skip.is_some_and(|s| s.part_file.exists());
        let skipped = |i: usize| skip.is_some_and(|s| s.skip.get(i) == Some(&true));
        let missing: Vec<bool> = planned
            .iter()
            .map(|p| !p.padding && std::fs::symlink_metadata(&p.path).is_err())
            .collect();
        let absent: Vec<bool> = (0..planned.len())
            .map(|i| skipped(i) && missing[i])
            .collect();
        // Wanted files created now that an earlier run skipped: the part file has their bytes.
        let adopt: Vec<usize> = (0..planned.len())
            .filter(|&i| leftover && missing[i] && !skipped(i))
            .collect();
        for (p, &a) in planned.iter_mut().zip(&absent) {
            p.absent = a;
        }
        let writeback = WriteBack::new(planned.len(), cfg.dirty_limit);
        // Inspect first: a refused start must not leave new folders behind.
        let allocated = setup::inspect(&planned, cfg.refuse_foreign_files)?;
        setup::make_dirs(root, &planned)?;
        setup::check_space(&planned, &allocated)?;
        let sparse = setup::allocate(&planned, &allocated)?;
        let parts = skip
            .filter(|_| leftover || absent.contains(&true))
            .map(|s| {
                let spans: Vec<(u64, u64)> = planned.iter().map(|p| (p.start, p.length)).collect();
                PartFile::new(s.part_file.clone(), s.piece_length, &spans, total)
            });
        let read_only = setup::read_only(&planned);
        if read_only {
            log::info!(
                "{}: files are read-only; reading them with pread",
                root.display()
            );
        }
        if sparse && !cfg.force_pwrite {
            log::warn!(
                "{}: file system cannot reserve space; using pread/pwrite instead of mmap",
                root.display()
            );
        }
        let storage = Storage {
            files: (planned.into_iter().zip(absent))
                .map(|(plan, absent)| Entry {
                    // Dirty from the start: pages a killed earlier run wrote may still wait in
                    // the page cache, and a check that reads them must not make them count as
                    // durable before the first sync.
                    dirty: AtomicBool::new(!plan.padding && !absent),
                    absent: AtomicBool::new(absent),
                    plan,
                })
                .collect(),
            parts,
            place: RwLock::new(()),
            syncing: Mutex::new(()),
            sync_failed: AtomicBool::new(false),
            total,
            handles: Handles::default(),
            windows: Windows::new(cfg.window_bytes, cfg.max_windows),
            mmap: AtomicBool::new(!cfg.force_pwrite && !sparse && !read_only),
            map_min_file_bytes: cfg.map_min_file_bytes,
            write_delay: cfg.write_delay,
            writeback,
        };
        if let Some(parts) = &storage.parts {
            for i in adopt {
                let e = &storage.files[i];
                let fd = storage.handles.get(i, &e.plan.path)?;
                parts.copy_into(e.plan.start, e.plan.length, &fd, &e.plan.path)?;
                // Durable before the part file may go, as in `create_skipped`.
                fd.sync_all()
                    .map_err(|err| io_err(&e.plan.path, "sync", err))?;
            }
            if !storage
                .files
                .iter()
                .any(|f| f.absent.load(Ordering::Acquire))
            {
                parts.remove()?;
            }
        }
        Ok(storage)
    }

    /// Sum of all file lengths, padding included.
    #[cfg(test)]
    pub fn total_length(&self) -> u64 {
        self.total
    }

    /// Whether writes currently go through memory maps (false after a fallback to `pwrite`).
    pub fn uses_mmap(&self) -> bool {
        self.mmap.load(Ordering::Relaxed)
    }

    /// Which files have a window mapped now (tests).
    #[cfg(test)]
    pub(crate) fn mapped_files(&self) -> Vec<usize> {
        self.windows.mapped_files()
    }

    /// Whether `e`'s bytes go through a map: the storage maps, and the file is long enough
    /// to gain from it ([`StorageConfig::map_min_file_bytes`]).
    fn maps(&self, e: &Entry) -> bool {
        self.uses_mmap() && e.plan.length >= self.map_min_file_bytes
    }

    /// Writes `data` at `offset` in the torrent's byte stream, across file boundaries; padding
    /// ranges are skipped.
    pub fn write_at(&self, offset: u64, data: &[u8]) -> Result<(), StorageError> {
        if let Some(d) = self.write_delay {
            std::thread::sleep(d);
        }
        let _placed = self.place.read().unwrap_or_else(|e| e.into_inner());
        self.segments(offset, data.len(), |i, file_off, r| {
            self.write_file(i, file_off, &data[r])
        })
    }

    /// Reads into `buf` from `offset`; padding ranges read as zeros.
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), StorageError> {
        let _placed = self.place.read().unwrap_or_else(|e| e.into_inner());
        self.segments(offset, buf.len(), |i, file_off, r| {
            self.read_file(i, file_off, &mut buf[r])
        })
    }

    /// Reads `len` bytes from `offset` into a new vector, as [`Storage::read_at`] does. From
    /// maps it copies straight into the vector: zeroing a block buffer first was a tenth of a
    /// seeder's disk-thread time (`examples/swarm`).
    pub fn read_vec(&self, offset: u64, len: usize) -> Result<Vec<u8>, StorageError> {
        let mut out = Vec::with_capacity(len);
        let _placed = self.place.read().unwrap_or_else(|e| e.into_inner());
        self.segments(offset, len, |i, file_off, r| {
            self.append_file(i, file_off, r.len(), &mut out)
        })?;
        Ok(out)
    }

    /// Unmaps every window, so the kernel writes the pages back without write-protecting mapped
    /// ones one by one. For a torrent that is complete: nothing writes through its maps again,
    /// and reads for upload map what they need.
    pub fn release_maps(&self) {
        self.windows.release();
    }

    /// Starts write-back of the pages written since the last batch once a batch is due,
    /// first waiting for the previous batch: this bounds the dirty page cache to about
    /// [`StorageConfig::dirty_limit`]. For the pool's workers, after a write was answered.
    pub fn write_back(&self) {
        self.writeback.run(|i| {
            let e = (self.files.get(i))
                .filter(|e| !e.plan.padding && !e.absent.load(Ordering::Acquire))?;
            self.handles.get(i, &e.plan.path).ok()
        });
    }

    /// Writes the files to disk: unmaps the windows, then fsyncs every file written since the
    /// last flush. Reads after it map windows again as needed.
    pub fn flush(&self) -> Result<(), StorageError> {
        let _one_at_a_time = self.syncing.lock().unwrap_or_else(|e| e.into_inner());
        if self.sync_failed.load(Ordering::Acquire) {
            return Err(StorageError::SyncFailedBefore);
        }
        self.windows.release();
        if let Some(parts) = &self.parts {
            if let Err(e) = parts.sync() {
                self.sync_failed.store(true, Ordering::Release);
                return Err(e);
            }
        }
        for (i, f) in self.files.iter().enumerate() {
            if !f.dirty.swap(false, Ordering::AcqRel) {
                continue;
            }
            let res = self
                .handles
                .get(i, &f.plan.path)
                .and_then(|fd| fd.sync_all().map_err(|e| io_err(&f.plan.path, "sync", e)));
            if let Err(e) = res {
                f.dirty.store(true, Ordering::Release);
                self.sync_failed.store(true, Ordering::Release);
                return Err(e);
            }
        }
        Ok(())
    }

    /// Checks that every file is still there at its full length, as opened: before a torrent
    /// is declared complete, since a file truncated or removed after its last piece was
    /// written would otherwise be "complete" with wrong bytes.
    pub fn check_files(&self) -> Result<(), StorageError> {
        for (i, f) in self.files.iter().enumerate() {
            // Skipped files that are not on disk are not part of what completes.
            if f.plan.padding || f.plan.length == 0 || f.absent.load(Ordering::Acquire) {
                continue;
            }
            let fd = self.handles.get(i, &f.plan.path)?;
            check_intact(&fd, &f.plan.path, f.plan.length)?;
        }
        Ok(())
    }

    /// Each file's stamp (size, modification time) as the file system shows it now, in torrent
    /// order. Padding files get a zero stamp; a missing file gets one no real file has.
    pub fn file_stamps(&self) -> Vec<FileStamp> {
        self.files
            .iter()
            .map(|f| {
                if f.plan.padding {
                    FileStamp::default()
                } else {
                    super::state_file::stamp(&f.plan.path).unwrap_or(FileStamp::MISSING)
                }
            })
            .collect()
    }

    /// Splits `offset..offset+len` of the stream by file and calls `f(file index, offset in
    /// file, range in the caller's buffer)` for each piece, skipping zero-length files.
    fn segments<F>(&self, offset: u64, len: usize, mut f: F) -> Result<(), StorageError>
    where
        F: FnMut(usize, u64, Range<usize>) -> Result<(), StorageError>,
    {
        let out_of_range = StorageError::OutOfRange {
            offset,
            len: len as u64,
        };
        let Some(end) = offset
            .checked_add(len as u64)
            .filter(|&end| end <= self.total)
        else {
            return Err(out_of_range);
        };
        // Files ending at or before `offset` come first (ends never decrease).
        let mut i = self
            .files
            .partition_point(|e| e.plan.start + e.plan.length <= offset);
        let mut pos = offset;
        while pos < end {
            let Some(e) = self.files.get(i) else {
                return Err(out_of_range);
            };
            let file_end = e.plan.start + e.plan.length;
            if file_end > pos {
                let seg_end = end.min(file_end);
                // Both differences are at most `len`, a usize, so the casts are lossless.
                let r = (pos - offset) as usize..(seg_end - offset) as usize;
                f(i, pos - e.plan.start, r)?;
                pos = seg_end;
            }
            i += 1;
        }
        Ok(())
    }

    fn write_file(&self, i: usize, file_off: u64, data: &[u8]) -> Result<(), StorageError> {
        let Some(e) = self.files.get(i) else {
            return Err(StorageError::OutOfRange {
                offset: file_off,
                len: data.len() as u64,
            });
        };
        if e.plan.padding {
            return Ok(());
        }
        if e.absent.load(Ordering::Acquire) {
            let parts = self.parts.as_ref();
            let skipped = || StorageError::Skipped(e.plan.path.clone());
            return parts
                .ok_or_else(skipped)?
                .write(e.plan.start + file_off, data, &e.plan.path);
        }
        let fd = self.handles.get(i, &e.plan.path)?;
        check_intact(&fd, &e.plan.path, e.plan.length)?;
        let mut done = false;
        if self.maps(e) {
            match self
                .windows
                .copy(i, &fd, e.plan.length, file_off, Copy::In(data))
            {
                Ok(()) => done = true,
                Err(err) if is_file_changed(&err) => {
                    return Err(io_err(&e.plan.path, "write", err))
                }
                Err(err) => self.disable_mmap(&e.plan.path, &err),
            }
        }
        if !done {
            fd.write_all_at(data, file_off)
                .map_err(|err| io_err(&e.plan.path, "write", err))?;
        }
        // Marked after the write, so a flush racing with it cannot miss these bytes.
        e.dirty.store(true, Ordering::Release);
        self.writeback.wrote(i, data.len());
        Ok(())
    }

    fn read_file(&self, i: usize, file_off: u64, buf: &mut [u8]) -> Result<(), StorageError> {
        let Some(e) = self.files.get(i) else {
            return Err(StorageError::OutOfRange {
                offset: file_off,
                len: buf.len() as u64,
            });
        };
        if e.plan.padding {
            buf.fill(0);
            return Ok(());
        }
        if e.absent.load(Ordering::Acquire) {
            let parts = self.parts.as_ref();
            let skipped = || StorageError::Skipped(e.plan.path.clone());
            return parts
                .ok_or_else(skipped)?
                .read(e.plan.start + file_off, buf, &e.plan.path);
        }
        let fd = self.handles.get(i, &e.plan.path)?;
        if self.maps(e) {
            match self
                .windows
                .copy(i, &fd, e.plan.length, file_off, Copy::Out(&mut *buf))
            {
                Ok(()) => return Ok(()),
                Err(err) if is_file_changed(&err) => return Err(io_err(&e.plan.path, "read", err)),
                Err(err) => self.disable_mmap(&e.plan.path, &err),
            }
        }
        fd.read_exact_at(buf, file_off)
            .map_err(|err| io_err(&e.plan.path, "read", err))
    }

    /// Appends `len` bytes of file `i` from `file_off` to `out`.
    fn append_file(
        &self,
        i: usize,
        file_off: u64,
        len: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), StorageError> {
        let start = out.len();
        if let Some(e) = self
            .files
            .get(i)
            .filter(|e| !e.plan.padding && !e.absent.load(Ordering::Acquire) && self.maps(e))
        {
            let fd = self.handles.get(i, &e.plan.path)?;
            let copied = self
                .windows
                .copy(i, &fd, e.plan.length, file_off, Copy::Append(out, len));
            match copied {
                Ok(()) => return Ok(()),
                Err(err) => {
                    out.truncate(start);
                    if is_file_changed(&err) {
                        return Err(io_err(&e.plan.path, "read", err));
                    }
                    self.disable_mmap(&e.plan.path, &err);
                }
            }
        }
        // Padding, positional I/O, or a file past the end (which `read_file` reports).
        out.resize(start + len, 0);
        self.read_file(i, file_off, &mut out[start..])
    }

    /// Whether file `index` is skipped and not on disk.
    pub fn is_absent(&self, index: usize) -> bool {
        self.files
            .get(index)
            .is_some_and(|e| e.absent.load(Ordering::Acquire))
    }

    /// The part file's path, when some file was left uncreated.
    #[cfg(test)]
    pub fn part_file(&self) -> Option<&Path> {
        self.parts.as_ref().map(PartFile::path)
    }

    /// A skipped file is wanted again: creates and reserves it, moves in the bytes the part
    /// file kept for it, and syncs it, all before any read or write may reach it (the
    /// placement lock is held throughout). When no file is left absent the part file is
    /// deleted. `Ok(false)` when it existed already. Runs on the caller's thread: it does
    /// disk I/O and must not run on the reactor.
    pub fn create_skipped(&self, index: usize) -> Result<bool, StorageError> {
        // No sync may run meanwhile: one could find the part file gone between deciding to
        // sync it and opening it, and take that for a failed fsync.
        let _no_sync = self.syncing.lock().unwrap_or_else(|e| e.into_inner());
        let _all = self.place.write().unwrap_or_else(|e| e.into_inner());
        let Some(e) = self
            .files
            .get(index)
            .filter(|e| e.absent.load(Ordering::Acquire))
        else {
            return Ok(false);
        };
        let mut plan = e.plan.clone();
        plan.absent = false;
        let one = std::slice::from_ref(&plan);
        setup::make_dirs(e.plan.path.parent().unwrap_or(Path::new(".")), one)?;
        let allocated = setup::inspect(one, false)?;
        setup::check_space(one, &allocated)?;
        if setup::allocate(one, &allocated)? {
            self.disable_mmap(&e.plan.path, &std::io::Error::other("sparse file"));
        }
        let fd = self.handles.get(index, &e.plan.path)?;
        if let Some(parts) = &self.parts {
            parts.copy_into(e.plan.start, e.plan.length, &fd, &e.plan.path)?;
        }
        // Durable before the part file may go: a state may already list its boundary pieces.
        fd.sync_all()
            .map_err(|err| io_err(&e.plan.path, "sync", err))?;
        e.absent.store(false, Ordering::Release);
        let none_absent = self.files.iter().all(|f| !f.absent.load(Ordering::Acquire));
        if let (true, Some(parts)) = (none_absent, &self.parts) {
            parts.remove()?;
        }
        Ok(true)
    }

    /// Switches this storage to positional I/O for good, warning once.
    fn disable_mmap(&self, path: &Path, err: &std::io::Error) {
        if self.mmap.swap(false, Ordering::Relaxed) {
            log::warn!(
                "cannot memory-map {} ({err}); using pread/pwrite for this torrent",
                path.display()
            );
        }
    }
}

/// Refuses to write into a file that another program truncated or removed since it was opened
/// at its full length: the bytes would be lost (removed) or the file silently regrown with holes
/// where verified pieces were (truncated), and the torrent would end "complete" with wrong data.
/// One `fstat` per write.
fn check_intact(fd: &std::fs::File, path: &Path, length: u64) -> Result<(), StorageError> {
    use std::os::unix::fs::MetadataExt;
    let meta = fd.metadata().map_err(|e| io_err(path, "inspect", e))?;
    if meta.len() < length || meta.nlink() == 0 {
        return Err(io_err(path, "write", std::io::Error::other(FileChanged)));
    }
    Ok(())
}

impl super::job::PieceStore for Storage {
    fn write_at(&self, offset: u64, data: &[u8]) -> Result<(), StorageError> {
        Storage::write_at(self, offset, data)
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), StorageError> {
        Storage::read_at(self, offset, buf)
    }

    fn read_vec(&self, offset: u64, len: usize) -> Result<Vec<u8>, StorageError> {
        Storage::read_vec(self, offset, len)
    }

    fn release(&self) {
        self.release_maps();
    }

    fn write_back(&self) {
        Storage::write_back(self);
    }

    fn sync(&self) -> Result<(), StorageError> {
        self.flush()
    }

    fn file_stamps(&self) -> Vec<FileStamp> {
        Storage::file_stamps(self)
    }
}
