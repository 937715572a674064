//! From a decoded [`ResumeState`] and the files as they are now, which pieces a torrent may
//! take as had without reading them, and which it must hash again.
//!
//! Pure; runs on the thread that calls `Session::add` (`session::start`), before the files are
//! opened. The rules, per file (padding files are never compared):
//!
//! * **Unchanged** (same size and modification time as recorded right after the data was
//!   synced): its pieces in the state are taken without reading them; the others were not
//!   verified at the checkpoint and nothing wrote the file since, so they are simply missing.
//! * **Grown**: the state was written while the torrent kept running (not at a clean stop), the
//!   file still had unverified pieces then, and now it has the same size and a later time. Our
//!   own writes after the checkpoint explain that (a kill or a power loss came before the next
//!   checkpoint): its pieces in the state stay trusted (they were durable), and only its other
//!   pieces are checked, since some may have been verified and written after the checkpoint.
//! * **Still missing** (missing at the checkpoint and now): a skipped file never created. Its
//!   pieces in the state can only be pieces it shares with wanted files, whose bytes for it
//!   are in the part file; the caller checks those again (`session::start`), since the part
//!   file has no stamp of its own.
//! * **Changed** (any other difference, or missing): the file may hold anything, so every piece
//!   it touches is checked and none is taken from the state.
//!
//! What is not detected: a same-size edit of a file that keeps its modification time, and,
//! after a crash only, a same-size edit of a file the torrent had not finished.

use super::codec::{FileStamp, ResumeError, ResumeState};
use crate::bitfield::Bitfield;
use crate::layout::Layout;

/// One file of the torrent, where it lies in the torrent's byte stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileSlot {
    /// Offset of its first byte in the stream.
    pub start: u64,
    /// Length in bytes.
    pub length: u64,
    /// A BEP 47 padding file: never on disk, never compared.
    pub padding: bool,
}

/// What a torrent starts with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Pieces taken as had without reading them.
    pub have: Bitfield,
    /// Pieces to hash before they count (disjoint from `have`).
    pub check: Bitfield,
    /// Indices of the files whose stamp changed or that are missing.
    pub changed: Vec<usize>,
    /// Indices of the files that grew after a checkpoint of a running torrent.
    pub grown: Vec<usize>,
}

/// Decides what `state` is worth for a torrent of `layout`, `files` (in torrent order) and
/// `info_hash` stored under `root`, given each file's stamp now (`None`: missing). Refuses a
/// state of another torrent, folder or shape.
pub fn plan(
    state: &ResumeState,
    info_hash: &[u8; 20],
    root: &[u8],
    layout: &Layout,
    files: &[FileSlot],
    now: &[Option<FileStamp>],
) -> Result<Plan, ResumeError> {
    if state.info_hash != *info_hash {
        return Err(ResumeError::OtherTorrent);
    }
    if state.root != root {
        return Err(ResumeError::OtherFolder);
    }
    let n = layout.num_pieces();
    if state.have.len() != n {
        return Err(ResumeError::Shape("piece count"));
    }
    if state.files.len() != files.len() || now.len() != files.len() {
        return Err(ResumeError::Shape("file count"));
    }
    let mut check = Bitfield::new(n);
    let mut distrust = Bitfield::new(n);
    let (mut changed, mut grown) = (Vec::new(), Vec::new());
    for (i, (file, (then, now))) in files.iter().zip(state.files.iter().zip(now)).enumerate() {
        let still_missing = now.is_none() && *then == FileStamp::MISSING;
        if file.padding || now.as_ref() == Some(then) || still_missing {
            continue;
        }
        let pieces = pieces_of(layout, file);
        let unfinished = pieces.clone().any(|p| !state.have.get(p));
        let later = now.is_some_and(|now| {
            now.size == then.size
                && (now.mtime_sec, now.mtime_nsec) > (then.mtime_sec, then.mtime_nsec)
        });
        if !state.clean && unfinished && later {
            grown.push(i);
            for piece in pieces.filter(|&p| !state.have.get(p)) {
                check.set(piece);
            }
        } else {
            changed.push(i);
            for piece in pieces {
                check.set(piece);
                distrust.set(piece);
            }
        }
    }
    let mut have = state.have.clone();
    for piece in distrust.iter_ones() {
        have.clear(piece);
    }
    Ok(Plan {
        have,
        check,
        changed,
        grown,
    })
}

/// The pieces `file` has bytes in (none for an empty file).
pub fn pieces_of(layout: &Layout, file: &FileSlot) -> std::ops::Range<u32> {
    let plen = u64::from(layout.piece_length().max(1));
    if file.length == 0 {
        return 0..0;
    }
    let first = file.start / plen;
    let last = (file.start + file.length - 1) / plen;
    // Both fit: the layout has at most u32::MAX pieces and the file lies inside it.
    let first = u32::try_from(first).unwrap_or(u32::MAX);
    let end = u32::try_from(last + 1)
        .unwrap_or(u32::MAX)
        .min(layout.num_pieces());
    first.min(end)..end
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAMP: FileStamp = FileStamp {
        size: 10,
        mtime_sec: 100,
        mtime_nsec: 5,
    };

    /// Three files of 10, 4 (padding) and 10 bytes in pieces of 4: pieces 0..=2 hold file 0,
    /// piece 2..=3 the padding, 3..=5 file 2.
    fn torrent() -> (Layout, Vec<FileSlot>) {
        let files = vec![
            FileSlot {
                start: 0,
                length: 10,
                padding: false,
            },
            FileSlot {
                start: 10,
                length: 4,
                padding: true,
            },
            FileSlot {
                start: 14,
                length: 10,
                padding: false,
            },
        ];
        (Layout::new(4, 24).unwrap(), files)
    }

    fn state(have: &[u32]) -> ResumeState {
        let mut bits = Bitfield::new(6);
        have.iter().for_each(|&p| {
            bits.set(p);
        });
        ResumeState {
            info_hash: [1; 20],
            root: b"/r".to_vec(),
            have: bits,
            files: vec![STAMP, FileStamp::default(), STAMP],
            uploaded: 0,
            downloaded: 0,
            clean: true,
        }
    }

    fn ones(b: &Bitfield) -> Vec<u32> {
        b.iter_ones().collect()
    }

    #[test]
    fn unchanged_files_are_trusted_and_nothing_is_checked() {
        let (l, f) = torrent();
        let now = [Some(STAMP), None, Some(STAMP)];
        let p = plan(&state(&[0, 1, 4]), &[1; 20], b"/r", &l, &f, &now).unwrap();
        assert_eq!(ones(&p.have), [0, 1, 4]);
        assert_eq!(p.check.count(), 0);
        assert!(p.changed.is_empty(), "padding is never compared");
    }

    #[test]
    fn a_changed_or_missing_file_has_only_its_pieces_checked() {
        let (l, f) = torrent();
        let newer = FileStamp {
            mtime_nsec: 6,
            ..STAMP
        };
        let shorter = FileStamp { size: 9, ..STAMP };
        for changed in [Some(newer), Some(shorter), None] {
            let now = [Some(STAMP), None, changed];
            let p = plan(&state(&[0, 1, 2, 3, 4]), &[1; 20], b"/r", &l, &f, &now).unwrap();
            assert_eq!(ones(&p.check), [3, 4, 5], "{changed:?}");
            assert_eq!(ones(&p.have), [0, 1, 2]);
            assert_eq!(p.changed, [2]);
        }
        // File 0 ends inside piece 2, which also holds padding: only 0..=2 are checked.
        let p = plan(
            &state(&[0, 5]),
            &[1; 20],
            b"/r",
            &l,
            &f,
            &[None, None, Some(STAMP)],
        )
        .unwrap();
        assert_eq!(ones(&p.check), [0, 1, 2]);
        assert_eq!(ones(&p.have), [5]);
    }

    #[test]
    fn a_skipped_file_missing_then_and_now_is_not_a_change() {
        let (l, f) = torrent();
        let mut st = state(&[0, 1, 2]);
        st.files[2] = FileStamp::MISSING;
        let p = plan(&st, &[1; 20], b"/r", &l, &f, &[Some(STAMP), None, None]).unwrap();
        assert!(p.changed.is_empty() && p.check.count() == 0);
        assert_eq!(ones(&p.have), [0, 1, 2]);
        // Missing at the checkpoint but there now: something wrote it, so it is checked.
        let p = plan(
            &st,
            &[1; 20],
            b"/r",
            &l,
            &f,
            &[Some(STAMP), None, Some(STAMP)],
        )
        .unwrap();
        assert_eq!(p.changed, [2]);
    }

    #[test]
    fn after_a_crash_a_file_still_being_written_keeps_its_pieces_and_checks_the_rest() {
        let (l, f) = torrent();
        let later = FileStamp {
            mtime_sec: 101,
            ..STAMP
        };
        let earlier = FileStamp {
            mtime_sec: 99,
            ..STAMP
        };
        let running = ResumeState {
            clean: false,
            ..state(&[0, 1, 2, 3])
        };
        // File 2 (pieces 3..=5) was unfinished and is newer: 3 stays, 4 and 5 are checked.
        let p = plan(
            &running,
            &[1; 20],
            b"/r",
            &l,
            &f,
            &[Some(STAMP), None, Some(later)],
        )
        .unwrap();
        assert_eq!(ones(&p.have), [0, 1, 2, 3]);
        assert_eq!(ones(&p.check), [4, 5]);
        assert_eq!((p.changed.len(), p.grown.as_slice()), (0, &[2][..]));
        // File 0 was finished at the checkpoint: a newer time is someone else's edit.
        let p = plan(
            &running,
            &[1; 20],
            b"/r",
            &l,
            &f,
            &[Some(later), None, Some(STAMP)],
        )
        .unwrap();
        assert_eq!(ones(&p.check), [0, 1, 2]);
        assert_eq!(ones(&p.have), [3]);
        // An older time, another size, or a clean stop: changed.
        for (s, now) in [
            (&running, earlier),
            (&running, FileStamp { size: 11, ..later }),
            (&state(&[0, 1, 2, 3]), later),
        ] {
            let p = plan(s, &[1; 20], b"/r", &l, &f, &[Some(STAMP), None, Some(now)]).unwrap();
            assert_eq!(ones(&p.check), [3, 4, 5], "{now:?}");
            assert_eq!(ones(&p.have), [0, 1, 2]);
            assert_eq!(p.changed, [2]);
        }
    }

    #[test]
    fn a_foreign_state_is_refused() {
        let (l, f) = torrent();
        let now = [Some(STAMP), None, Some(STAMP)];
        let s = state(&[]);
        assert_eq!(
            plan(&s, &[2; 20], b"/r", &l, &f, &now),
            Err(ResumeError::OtherTorrent)
        );
        assert_eq!(
            plan(&s, &[1; 20], b"/elsewhere", &l, &f, &now),
            Err(ResumeError::OtherFolder)
        );
        assert!(matches!(
            plan(&s, &[1; 20], b"/r", &l, &f[..2], &now[..2]),
            Err(ResumeError::Shape(_))
        ));
        let other_layout = Layout::new(8, 24).unwrap();
        assert!(matches!(
            plan(&s, &[1; 20], b"/r", &other_layout, &f, &now),
            Err(ResumeError::Shape(_))
        ));
    }

    #[test]
    fn pieces_of_files() {
        let l = Layout::new(4, 24).unwrap();
        let slot = |start, length| FileSlot {
            start,
            length,
            padding: false,
        };
        assert_eq!(pieces_of(&l, &slot(0, 4)), 0..1);
        assert_eq!(pieces_of(&l, &slot(3, 2)), 0..2);
        assert_eq!(pieces_of(&l, &slot(8, 0)), 0..0);
        assert_eq!(pieces_of(&l, &slot(20, 4)), 5..6);
    }
}
