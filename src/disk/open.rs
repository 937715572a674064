//! Opening a torrent's storage from its metainfo: the file list as the disk layer sees it,
//! whether an earlier run left data to recheck, and creating and reserving the files.
//!
//! Runs on the caller's thread for a .torrent (`Session::add`) and on a short-lived thread of
//! the reactor's for a magnet whose metadata just arrived: reserving gigabytes must never
//! stall the reactor.

use std::path::Path;

use super::{FileSpec, SkipFiles, Storage, StorageConfig, StorageError};
use crate::metainfo::Metainfo;
use crate::selection::{FilePriority, FileSelection, FileSpan, PieceWants, SelectError};

/// A torrent's storage, and whether files already held data (so the pieces must be checked).
pub struct Opened {
    /// The files, created and reserved.
    pub storage: Storage,
    /// An earlier run left data that a recheck must look at.
    pub recheck: bool,
}

/// Creates (or reopens) the files of `meta` under `output`, leaving out the skipped files
/// `skip` names that do not exist yet.
pub fn open_torrent(
    meta: &Metainfo,
    output: &Path,
    cfg: &StorageConfig,
    skip: Option<&SkipFiles>,
) -> Result<Opened, StorageError> {
    let files = file_specs(meta);
    let recheck = has_existing_data(output, &files);
    let storage = Storage::open_skipping(output, &files, cfg, skip)?;
    Ok(Opened { storage, recheck })
}

/// A torrent's file choice: the pieces it means and, when files are skipped, what storage
/// leaves out.
#[derive(Clone, Debug)]
pub struct Chosen {
    /// The pieces to fetch, and the per-file table for stats.
    pub wants: PieceWants,
    /// The files to leave uncreated, and the part file (which an earlier run's skipped
    /// files may have left, to be moved into files wanted now).
    pub skip: Option<SkipFiles>,
}

/// Each file's place in the stream, as the selection sees it.
pub fn file_spans(meta: &Metainfo) -> Vec<FileSpan> {
    meta.files
        .iter()
        .map(|f| FileSpan {
            start: f.offset,
            length: f.length,
            padding: f.padding,
        })
        .collect()
}

/// Where a torrent stored under `output` keeps its skipped files' shared bytes.
pub fn part_file_path(output: &Path, meta: &Metainfo) -> std::path::PathBuf {
    output.join(format!(".{}.parts", meta.info_hash.to_hex()))
}

/// Resolves `given` priorities (empty: every file normal) and the selection `select` over them
/// (a file it leaves out is skipped) for `meta` stored under `output`. Pure: no file is read.
pub fn choose_files(
    meta: &Metainfo,
    output: &Path,
    given: &[FilePriority],
    select: &FileSelection,
) -> Result<Chosen, SelectError> {
    let n = meta.files.len();
    let mut priorities = match given.len() {
        0 => vec![FilePriority::Normal; n],
        m if m == n => given.to_vec(),
        got => return Err(SelectError::FileCount { expected: n, got }),
    };
    if !select.is_empty() {
        let selected = select.resolve_for(meta)?;
        for (p, s) in priorities.iter_mut().zip(selected) {
            if s == FilePriority::Skip {
                *p = FilePriority::Skip;
            }
        }
    }
    let skipped: Vec<bool> = priorities
        .iter()
        .map(|&p| p == FilePriority::Skip)
        .collect();
    let skip = Some(SkipFiles {
        skip: skipped,
        part_file: part_file_path(output, meta),
        piece_length: meta.piece_length,
    });
    let wants = PieceWants::new(&meta.layout(), file_spans(meta), priorities)?;
    Ok(Chosen { wants, skip })
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
