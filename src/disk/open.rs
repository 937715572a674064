//! Opening a torrent's storage from its metainfo: the file list as the disk layer sees it,
//! whether an earlier run left data to recheck, and creating and reserving the files.
//!
//! Runs on the caller's thread for a .torrent (`Session::add`) and on a short-lived thread of
//! the reactor's for a magnet whose metadata just arrived: reserving gigabytes must never
//! stall the reactor.

use std::path::Path;

use super::{FileSpec, Storage, StorageConfig, StorageError};
use crate::metainfo::Metainfo;

/// A torrent's storage, and whether files already held data (so the pieces must be checked).
pub struct Opened {
    /// The files, created and reserved.
    pub storage: Storage,
    /// An earlier run left data that a recheck must look at.
    pub recheck: bool,
}

/// Creates (or reopens) the files of `meta` under `output`.
pub fn open_torrent(
    meta: &Metainfo,
    output: &Path,
    cfg: &StorageConfig,
) -> Result<Opened, StorageError> {
    let files = file_specs(meta);
    let recheck = has_existing_data(output, &files);
    let storage = Storage::open(output, &files, cfg)?;
    Ok(Opened { storage, recheck })
}

/// The torrent's files as the disk layer sees them.
pub fn file_specs(meta: &Metainfo) -> Vec<FileSpec> {
    meta.files
        .iter()
        .map(|f| FileSpec {
            path: f.path.clone(),
            length: f.length,
            padding: f.padding,
            executable: f.executable,
        })
        .collect()
}

/// Whether an earlier run left data that a recheck must look at.
pub(crate) fn has_existing_data(root: &Path, files: &[FileSpec]) -> bool {
    files
        .iter()
        .filter(|f| !f.padding && f.length > 0)
        .any(|f| std::fs::metadata(root.join(&f.path)).is_ok_and(|m| m.len() > 0))
}
