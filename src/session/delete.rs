//! Deleting a removed torrent's data
//! ([`TorrentHandle::remove_and_delete`](super::TorrentHandle::remove_and_delete)): its files,
//! then the folders under the output folder that are left empty. Never anything else: files the
//! torrent does not name stay, and so does the output folder itself.
//!
//! Runs on the caller's thread, after the reactor let go of the torrent's storage.

// I/O shell: removes files and folders.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::Error;
use crate::metainfo::Metainfo;

/// Removes `meta`'s files under `root` and the folders they leave empty.
pub(super) fn files(meta: &Metainfo, root: &Path) -> Result<(), Error> {
    let mut folders = BTreeSet::new();
    for f in meta.files.iter().filter(|f| !f.padding) {
        let path = root.join(&f.path);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(Error::Io {
                    context: format!("deleting {}", path.display()),
                    source,
                })
            }
        }
        let mut dir: PathBuf = f.path.clone();
        while dir.pop() && !dir.as_os_str().is_empty() {
            folders.insert(dir.clone());
        }
    }
    // Deepest first; a folder that still holds anything (not ours) stays.
    for dir in folders.iter().rev() {
        let _ = std::fs::remove_dir(root.join(dir));
    }
    Ok(())
}
