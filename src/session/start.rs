//! How a torrent starts at [`Session::add`](super::Session::add): from its resume state when
//! that is valid (no read of unchanged data), hashing only the pieces of files that changed,
//! or, without usable state, by checking whatever data is already there.
//!
//! Runs on the caller's thread, before the files are opened: opening reserves space, which may
//! change a file's modification time, so the stamps must be read first.

// I/O shell: reads the state file and the files' stamps.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::bitfield::Bitfield;
use crate::disk::{state_file, FileSpec, ResumeTarget};
use crate::metainfo::Metainfo;
use crate::resume::{self, FileSlot};

/// What a torrent starts with.
pub(super) struct Start {
    /// Pieces taken as had.
    pub have: Bitfield,
    /// Whether to check pieces first.
    pub recheck: bool,
    /// Which ones (`None`: all).
    pub check: Option<Bitfield>,
    /// What its checkpoints record.
    pub target: ResumeTarget,
}

/// Where the resume state comes from.
pub(super) struct Sources {
    /// The state file (read here, and replaced by every checkpoint), if state is kept.
    pub file: Option<PathBuf>,
    /// Bytes the embedder gave back ([`super::AddOptions::resume`]); they win over the file.
    pub given: Option<Vec<u8>>,
    /// Ignore any state and check every piece.
    pub force_recheck: bool,
}

/// Decides how the torrent `meta`, stored under `root` as `files`, starts.
pub(super) fn decide(meta: &Metainfo, root: &Path, files: &[FileSpec], src: Sources) -> Start {
    let layout = meta.layout();
    let n = layout.num_pieces();
    // Absolute, so `-o dl` from two working folders are two copies; not canonical (no
    // symlink resolution), which only costs a recheck when the same folder is named two ways.
    let abs = std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf());
    let mut target = ResumeTarget {
        file: src.file.clone(),
        root: abs.as_os_str().as_bytes().to_vec(),
        ..ResumeTarget::default()
    };
    let check_all = |target| Start {
        have: Bitfield::new(n),
        recheck: crate::disk::has_existing_data(root, files),
        check: None,
        target,
    };
    if src.force_recheck {
        return Start {
            recheck: true,
            ..check_all(target)
        };
    }
    let bytes = match src.given {
        Some(b) => Some(b),
        None => src.file.as_deref().and_then(|p| {
            state_file::read(p).unwrap_or_else(|e| {
                log::warn!(
                    "{}: cannot read its resume state ({e}); checking its data instead",
                    meta.name
                );
                None
            })
        }),
    };
    let Some(bytes) = bytes else {
        return check_all(target);
    };
    let slots = slots(files);
    let now = state_file::stamps(root, files);
    let planned = resume::decode(&bytes).and_then(|state| {
        let p = resume::plan(
            &state,
            &meta.info_hash.0,
            &target.root,
            &layout,
            &slots,
            &now,
        )?;
        Ok((state, p))
    });
    match planned {
        Ok((state, plan)) => {
            target.uploaded_before = state.uploaded;
            target.downloaded_before = state.downloaded;
            for &i in &plan.changed {
                log::info!(
                    "{}: {} changed since the resume state was written; checking its pieces",
                    meta.name,
                    files[i].path.display()
                );
            }
            for &i in &plan.grown {
                log::info!(
                    "{}: {} was written after the last checkpoint; checking its unrecorded pieces",
                    meta.name,
                    files[i].path.display()
                );
            }
            let (mut have, mut check) = (plan.have, plan.check);
            recheck_missing_files_pieces(&layout, &slots, &now, &mut have, &mut check);
            Start {
                have,
                recheck: check.count() > 0,
                check: Some(check),
                target,
            }
        }
        Err(e) => {
            log::warn!(
                "{}: ignoring its resume state: {e}; checking its data instead",
                meta.name
            );
            check_all(target)
        }
    }
}

/// A torrent whose data the caller vouches for: every piece had, nothing read. Each file must
/// be there with its full length (a cheap guard against pointing at the wrong folder).
pub(super) fn seed_only(
    meta: &Metainfo,
    root: &Path,
    files: &[FileSpec],
    src: Sources,
) -> Result<Start, super::Error> {
    for f in files.iter().filter(|f| !f.padding) {
        let path = root.join(&f.path);
        let found = std::fs::metadata(&path).map(|m| m.len());
        if found.as_ref().ok() != Some(&f.length) {
            let why = match found {
                Ok(len) => format!("{len} bytes, the torrent says {}", f.length),
                Err(e) => e.to_string(),
            };
            return Err(super::Error::Io {
                context: format!("seeding {} as complete", path.display()),
                source: std::io::Error::new(std::io::ErrorKind::InvalidData, why),
            });
        }
    }
    let abs = std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf());
    Ok(Start {
        have: Bitfield::full(meta.layout().num_pieces()),
        recheck: false,
        check: None,
        target: ResumeTarget {
            file: src.file,
            root: abs.as_os_str().as_bytes().to_vec(),
            ..ResumeTarget::default()
        },
    })
}

/// Pieces the state lists that touch a file missing now are checked again rather than taken:
/// for a skipped file never created they are boundary pieces whose bytes for it are in the
/// part file, which has no stamp in the state (a few pieces per skipped file); for any other
/// missing file the plan already distrusts them.
fn recheck_missing_files_pieces(
    layout: &crate::layout::Layout,
    slots: &[FileSlot],
    now: &[Option<resume::FileStamp>],
    have: &mut Bitfield,
    check: &mut Bitfield,
) {
    for (slot, stamp) in slots.iter().zip(now) {
        if slot.padding || stamp.is_some() {
            continue;
        }
        for piece in resume::plan::pieces_of(layout, slot) {
            if have.clear(piece) {
                check.set(piece);
            }
        }
    }
}

/// Each file's place in the torrent's byte stream.
fn slots(files: &[FileSpec]) -> Vec<FileSlot> {
    let mut start = 0u64;
    files
        .iter()
        .map(|f| {
            let slot = FileSlot {
                start,
                length: f.length,
                padding: f.padding,
            };
            start = start.saturating_add(f.length);
            slot
        })
        .collect()
}
