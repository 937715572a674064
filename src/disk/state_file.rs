//! Resume state files on disk: where they live, reading them, replacing them so that a crash or
//! a power loss at any moment leaves either the old state or the new one, never a torn file,
//! and the stamps (size, modification time) of a torrent's files.
//!
//! Runs on the session's caller thread (reading at `add`), on pool workers (writing at a
//! checkpoint) and, once at shutdown after the pool has stopped, on the reactor thread (each
//! torrent's last checkpoint). The format itself is [`crate::resume::codec`].

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::error::{io_err, StorageError};
use super::storage::FileSpec;
use crate::resume::codec::MAX_STATE_BYTES;
use crate::resume::FileStamp;

/// The state file of the torrent `info_hash` under `state_dir`:
/// `state_dir/resume/<info-hash in hex>.resume`.
pub fn path(state_dir: &Path, info_hash: &[u8; 20]) -> PathBuf {
    let hex: String = info_hash.iter().map(|b| format!("{b:02x}")).collect();
    state_dir.join("resume").join(format!("{hex}.resume"))
}

/// The bytes of the state file at `path`; `None` when there is none.
pub fn read(path: &Path) -> Result<Option<Vec<u8>>, StorageError> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(path, "open", e)),
    };
    let mut bytes = Vec::new();
    // One byte more than allowed, so the decoder sees (and names) an oversized file.
    file.take(MAX_STATE_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| io_err(path, "read", e))?;
    Ok(Some(bytes))
}

/// Replaces the file at `path` with `bytes` atomically and durably: write a temporary file next
/// to it, fsync it, rename it over the old one, fsync the folder. A crash before the rename
/// leaves the old file (and a stray temporary, overwritten next time); after the folder's
/// fsync the new one is on disk. Creates the folder if needed.
pub fn write(path: &Path, bytes: &[u8]) -> Result<(), StorageError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(|e| io_err(dir, "create folder", e))?;
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(".tmp");
    let tmp = path.with_file_name(tmp_name);
    let mut file = File::create(&tmp).map_err(|e| io_err(&tmp, "create", e))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| io_err(&tmp, "write", e))?;
    drop(file);
    fs::rename(&tmp, path).map_err(|e| io_err(path, "replace", e))?;
    // The rename is in the folder's entries: durable only once the folder is synced.
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_err(dir, "sync", e))
}

/// Removes the state file at `path`, if there is one.
#[cfg(test)]
pub fn remove(path: &Path) -> Result<(), StorageError> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_err(path, "remove", e)),
        _ => Ok(()),
    }
}

/// What the file at `path` looks like now; `None` when it is missing or not a regular file.
pub fn stamp(path: &Path) -> Option<FileStamp> {
    let m = fs::metadata(path).ok().filter(fs::Metadata::is_file)?;
    Some(FileStamp {
        size: m.len(),
        mtime_sec: m.mtime(),
        mtime_nsec: u32::try_from(m.mtime_nsec()).unwrap_or(0),
    })
}

/// The stamp of each of a torrent's files under `root`, in torrent order (padding files:
/// `None`, they are never compared).
pub fn stamps(root: &Path, files: &[FileSpec]) -> Vec<Option<FileStamp>> {
    files
        .iter()
        .map(|f| {
            if f.padding {
                None
            } else {
                stamp(&root.join(&f.path))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_replaces_and_read_finds() {
        let dir = std::env::temp_dir().join(format!("coracle-state-file-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let p = path(&dir, &[0xab; 20]);
        assert!(p.ends_with(format!("resume/{}.resume", "ab".repeat(20))));
        assert_eq!(read(&p).unwrap(), None);
        write(&p, b"one").unwrap();
        write(&p, b"two").unwrap();
        assert_eq!(read(&p).unwrap().as_deref(), Some(&b"two"[..]));
        let names: Vec<_> = fs::read_dir(p.parent().unwrap()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary left behind");
        let s = stamp(&p).unwrap();
        assert_eq!(s.size, 3);
        assert_eq!(stamp(&dir), None, "a folder has no stamp");
        remove(&p).unwrap();
        remove(&p).unwrap();
        assert_eq!(read(&p).unwrap(), None);
        let _ = fs::remove_dir_all(&dir);
    }
}
