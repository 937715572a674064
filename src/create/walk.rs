//! Listing what goes into a torrent: the file or folder, walked depth first, following symlinks.
//! Runs on the thread that calls [`super::TorrentBuilder::build`].

// I/O shell for torrent creation: looks at the file system (the listing half of `build`).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::{CreateError, FileEntry};

/// One file to hash: where it is and its entry in the torrent.
pub(super) struct Found {
    pub(super) disk: PathBuf,
    pub(super) entry: FileEntry,
}

/// The torrent's name and its files (unsorted), or why not.
pub(super) fn list(root: &Path, skip_hidden: bool) -> Result<(String, Vec<Found>), CreateError> {
    let meta = stat(root)?;
    let name = torrent_name(root)?;
    if !meta.is_dir() {
        if !meta.is_file() {
            return Err(CreateError::NoData(root.to_path_buf()));
        }
        let entry = FileEntry {
            path: Vec::new(),
            length: meta.len(),
        };
        let found = Found {
            disk: root.to_path_buf(),
            entry,
        };
        return Ok((name, vec![found]));
    }
    let mut out = Vec::new();
    let mut ancestors = vec![(meta.dev(), meta.ino())];
    walk(root, &mut Vec::new(), &mut ancestors, skip_hidden, &mut out)?;
    Ok((name, out))
}

/// The name of `root`: its last component, or the real folder's name for `.` or `..`.
fn torrent_name(root: &Path) -> Result<String, CreateError> {
    let real;
    let named = match root.file_name() {
        Some(n) => n,
        None => {
            real = fs::canonicalize(root).map_err(|e| io_err(root, "resolve", e))?;
            real.file_name()
                .ok_or_else(|| CreateError::NoData(root.to_path_buf()))?
        }
    };
    named
        .to_str()
        .map(str::to_owned)
        .ok_or_else(|| CreateError::NotUtf8(root.to_path_buf()))
}

fn walk(
    dir: &Path,
    rel: &mut Vec<String>,
    ancestors: &mut Vec<(u64, u64)>,
    skip_hidden: bool,
    out: &mut Vec<Found>,
) -> Result<(), CreateError> {
    let entries = fs::read_dir(dir).map_err(|e| io_err(dir, "list", e))?;
    for entry in entries {
        let entry = entry.map_err(|e| io_err(dir, "list", e))?;
        let path = entry.path();
        let name = entry.file_name();
        let name = name
            .to_str()
            .ok_or_else(|| CreateError::NotUtf8(path.clone()))?;
        if skip_hidden && name.starts_with('.') {
            continue;
        }
        let meta = stat(&path)?;
        rel.push(name.to_owned());
        if meta.is_dir() {
            let id = (meta.dev(), meta.ino());
            if ancestors.contains(&id) {
                return Err(CreateError::SymlinkLoop(path));
            }
            ancestors.push(id);
            walk(&path, rel, ancestors, skip_hidden, out)?;
            ancestors.pop();
        } else if meta.is_file() {
            let entry = FileEntry {
                path: rel.clone(),
                length: meta.len(),
            };
            out.push(Found { disk: path, entry });
        }
        // Fifos, sockets and devices hold no file data: skipped, as mktorrent does.
        rel.pop();
    }
    Ok(())
}

/// `metadata` (following symlinks), telling a broken link from a missing path.
fn stat(path: &Path) -> Result<fs::Metadata, CreateError> {
    match fs::metadata(path) {
        Ok(m) => Ok(m),
        Err(e)
            if e.kind() == io::ErrorKind::NotFound
                && fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) =>
        {
            Err(CreateError::BrokenSymlink(path.to_path_buf()))
        }
        Err(e) => Err(io_err(path, "read", e)),
    }
}

pub(super) fn io_err(path: &Path, op: &'static str, source: io::Error) -> CreateError {
    CreateError::Io {
        path: path.to_path_buf(),
        op,
        source,
    }
}
