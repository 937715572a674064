//! Creating a torrent's files at `Storage::open`: path checks, folders, free-space check and
//! space reservation. Runs once per torrent, on whichever thread opens the storage (normally
//! not the reactor, as it may take a while on slow disks). It must never truncate or overwrite a
//! user's data: existing files are only checked and extended.

use std::ffi::CString;
use std::fs::{self, OpenOptions};
use std::io;
use std::mem::MaybeUninit;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Component, Path, PathBuf};

use super::error::{io_err, StorageError};
use super::storage::FileSpec;

/// One file laid out in the torrent's byte stream, with its full path on disk.
#[derive(Clone)]
pub(crate) struct Planned {
    /// `root` joined with the torrent's relative path.
    pub(crate) path: PathBuf,
    /// Offset of the file's first byte in the torrent's byte stream.
    pub(crate) start: u64,
    /// Length in bytes.
    pub(crate) length: u64,
    /// A BEP 47 padding file: never on disk, reads as zeros.
    pub(crate) padding: bool,
    /// A skipped file left uncreated: these steps pass it by, as they do padding.
    pub(crate) absent: bool,
    /// Created with the execute bits (BEP 47 `attr` `x`).
    pub(crate) executable: bool,
}

/// Checks every path and places the files one after another. Returns them and the total length.
pub(crate) fn plan(root: &Path, specs: &[FileSpec]) -> Result<(Vec<Planned>, u64), StorageError> {
    let mut start = 0u64;
    let mut out = Vec::with_capacity(specs.len());
    for spec in specs {
        // Padding files never touch the disk, but a bad path still means bad metadata.
        check_relative(&spec.path)?;
        out.push(Planned {
            path: root.join(&spec.path),
            start,
            length: spec.length,
            padding: spec.padding,
            absent: false,
            executable: spec.executable,
        });
        start = start
            .checked_add(spec.length)
            .ok_or(StorageError::LengthOverflow)?;
    }
    Ok((out, start))
}

/// Refuses paths that are empty, absolute or contain anything but plain names.
fn check_relative(path: &Path) -> Result<(), StorageError> {
    let mut any = false;
    for c in path.components() {
        match c {
            Component::Normal(_) => any = true,
            // `CurDir` is harmless but never produced by a sane metainfo; refuse it too.
            _ => return Err(StorageError::UnsafePath(path.to_path_buf())),
        }
    }
    if any {
        Ok(())
    } else {
        Err(StorageError::UnsafePath(path.to_path_buf()))
    }
}

/// Creates `root` and every folder the real (non-padding) files need.
pub(crate) fn make_dirs(root: &Path, files: &[Planned]) -> Result<(), StorageError> {
    create_dir(root)?;
    for f in files.iter().filter(|f| !f.padding && !f.absent) {
        if let Some(parent) = f.path.parent() {
            create_dir(parent)?;
        }
    }
    Ok(())
}

fn create_dir(dir: &Path) -> Result<(), StorageError> {
    fs::create_dir_all(dir).map_err(|e| match non_dir_ancestor(dir) {
        Some(p) => StorageError::NotADirectory(p),
        None => io_err(dir, "create folder", e),
    })
}

/// The deepest existing ancestor of `dir` (itself included) if it is not a folder: the thing
/// blocking folder creation, named so the user knows what to move.
fn non_dir_ancestor(dir: &Path) -> Option<PathBuf> {
    for anc in dir.ancestors() {
        match fs::metadata(anc) {
            Ok(m) if m.is_dir() => return None,
            Ok(_) => return Some(anc.to_path_buf()),
            // Missing, or below a non-folder (ENOTDIR): look further up.
            Err(_) => continue,
        }
    }
    None
}

/// For each real file: bytes already allocated on disk (0 if missing). Refuses folders where a
/// file must go, files longer than expected and, with `refuse_foreign`, files holding data at
/// another length than the torrent's (see [`StorageError::ForeignFile`]).
pub(crate) fn inspect(files: &[Planned], refuse_foreign: bool) -> Result<Vec<u64>, StorageError> {
    let mut allocated = Vec::with_capacity(files.len());
    for f in files {
        if f.padding || f.absent {
            allocated.push(0);
            continue;
        }
        let meta = match fs::metadata(&f.path) {
            Ok(m) => m,
            // Below a file where a folder should be (ENOTDIR): `make_dirs` names the culprit.
            Err(e)
                if e.kind() == io::ErrorKind::NotFound
                    || e.raw_os_error() == Some(libc::ENOTDIR) =>
            {
                allocated.push(0);
                continue;
            }
            Err(e) => return Err(io_err(&f.path, "inspect", e)),
        };
        if !meta.is_file() {
            return Err(StorageError::NotAFile(f.path.clone()));
        }
        if meta.len() > f.length {
            return Err(StorageError::ExistingTooLarge {
                path: f.path.clone(),
                expected: f.length,
                actual: meta.len(),
            });
        }
        if refuse_foreign && meta.len() > 0 && meta.len() != f.length {
            return Err(StorageError::ForeignFile {
                path: f.path.clone(),
                expected: f.length,
                actual: meta.len(),
            });
        }
        // st_blocks counts 512-byte units actually allocated, so sparse files count for less.
        allocated.push(meta.blocks().saturating_mul(512).min(f.length));
    }
    Ok(allocated)
}

/// Compares the bytes still to allocate with the free space, per file system.
pub(crate) fn check_space(files: &[Planned], allocated: &[u64]) -> Result<(), StorageError> {
    // (device, a folder on it, bytes needed there); torrents rarely span more than one device.
    let mut per_dev: Vec<(u64, PathBuf, u64)> = Vec::new();
    for (f, &have) in files.iter().zip(allocated) {
        let Some(parent) = f.path.parent().filter(|_| !f.padding && !f.absent) else {
            continue;
        };
        let dev = fs::metadata(parent)
            .map_err(|e| io_err(parent, "inspect", e))?
            .dev();
        let need = f.length - have.min(f.length);
        match per_dev.iter_mut().find(|(d, _, _)| *d == dev) {
            Some(slot) => slot.2 = slot.2.saturating_add(need),
            None => per_dev.push((dev, parent.to_path_buf(), need)),
        }
    }
    for (_, dir, needed) in per_dev {
        let Some(available) = available_bytes(&dir) else {
            continue;
        };
        if needed > available {
            return Err(StorageError::NoSpace {
                dir,
                needed,
                available,
            });
        }
    }
    Ok(())
}

/// Free bytes for unprivileged use on the file system holding `dir`; `None` if unknown (the
/// check is then skipped and `posix_fallocate` still catches a full disk).
fn available_bytes(dir: &Path) -> Option<u64> {
    let c = CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut st = MaybeUninit::<libc::statvfs>::zeroed();
    // SAFETY: `c` is a valid NUL-terminated string and `st` points to writable memory of the
    // right type; both outlive the call.
    let rc = unsafe { libc::statvfs(c.as_ptr(), st.as_mut_ptr()) };
    if rc != 0 {
        log::warn!(
            "cannot check free space of {}: {}",
            dir.display(),
            io::Error::last_os_error()
        );
        return None;
    }
    // SAFETY: statvfs returned 0, so it filled the struct (and it was zeroed before anyway).
    let st = unsafe { st.assume_init() };
    #[allow(clippy::useless_conversion)] // the field types are u32 on some 32-bit targets
    let avail = u64::from(st.f_bavail).saturating_mul(u64::from(st.f_frsize));
    Some(avail)
}

/// Whether `file`, `len` bytes long, has every block allocated (no hole before its end).
fn no_holes(file: &std::fs::File, len: libc::off_t) -> bool {
    let Ok(size) = file.metadata().map(|m| m.len()) else {
        return false;
    };
    if u64::try_from(len).ok() != Some(size) {
        return false;
    }
    // SAFETY: lseek takes no pointers; the descriptor is open and owned by `file`.
    let hole = unsafe { libc::lseek(file.as_raw_fd(), 0, libc::SEEK_HOLE) };
    // The file's end counts as a hole, so a whole file reports `len`; -1 (unsupported) is no.
    hole >= len
}

/// Whether the file at `path` has its full `len` bytes allocated, checked through a read-only
/// handle.
fn whole_on_disk(path: &Path, len: u64) -> bool {
    if len == 0 {
        return fs::metadata(path).is_ok_and(|m| m.is_file());
    }
    let Ok(len) = libc::off_t::try_from(len) else {
        return false;
    };
    std::fs::File::open(path).is_ok_and(|file| no_holes(&file, len))
}

/// Whether the torrent's files cannot be written here (complete data on a read-only mount or
/// without write permission): then the storage only reads, through `pread`, as a shared
/// writable map of a read-only file is refused.
pub(crate) fn read_only(files: &[Planned]) -> bool {
    let Some(first) = files
        .iter()
        .find(|f| !f.padding && !f.absent && f.length > 0)
    else {
        return false;
    };
    match OpenOptions::new().write(true).open(&first.path) {
        Ok(_) => false,
        Err(e) => super::handles::read_only_refusal(&e),
    }
}

/// Creates missing files and reserves their space. Returns `true` when some file could not be
/// reserved (file system without fallocate) and so must be written with positional I/O only.
pub(crate) fn allocate(files: &[Planned], allocated: &[u64]) -> Result<bool, StorageError> {
    let mut sparse = false;
    for (f, &have) in files.iter().zip(allocated) {
        if f.padding || f.absent {
            continue;
        }
        if have >= f.length && whole_on_disk(&f.path, f.length) {
            // Already whole: nothing to create or reserve, so no write access is needed (a seed
            // on a read-only mount). Skipped also because `fallocate` sets the modification
            // time on ext4 even when it allocates nothing, and the resume state takes a changed
            // time for a changed file.
            continue;
        }
        // No truncate: an existing file is resumed, never cleared. The mode (less the umask)
        // applies only when the file is created.
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(if f.executable { 0o777 } else { 0o666 })
            .open(&f.path)
            .map_err(|e| io_err(&f.path, "create", e))?;
        if f.length == 0 {
            continue;
        }
        let len = libc::off_t::try_from(f.length).map_err(|_| StorageError::LengthOverflow)?;
        // SAFETY: the descriptor is open for writing and owned by `file` for the whole call.
        let rc = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, len) };
        match rc {
            0 => {}
            libc::EOPNOTSUPP | libc::ENOSYS | libc::EINVAL => {
                // A map over a sparse file would SIGBUS on a full disk; pwrite reports ENOSPC.
                file.set_len(f.length)
                    .map_err(|e| io_err(&f.path, "extend", e))?;
                sparse = true;
            }
            libc::ENOSPC => {
                let dir = f.path.parent().unwrap_or(&f.path).to_path_buf();
                let available = available_bytes(&dir).unwrap_or(0);
                return Err(StorageError::NoSpace {
                    dir,
                    needed: f.length - have.min(f.length),
                    available,
                });
            }
            err => {
                return Err(io_err(
                    &f.path,
                    "reserve space for",
                    io::Error::from_raw_os_error(err),
                ))
            }
        }
    }
    Ok(sparse)
}
