//! Choosing files: per-file priorities ([`FilePriority`]), the choices a user makes by index or
//! by path pattern ([`FileSelection`]: `--only 0,3-5`, `--exclude GLOB`, a magnet's `so=`), and
//! what they mean for pieces ([`PieceWants`]: which pieces to fetch, which first, and how many
//! bytes of each file are verified).
//!
//! Pure data, no I/O: built on the caller's thread (`Session::add`, `TorrentHandle`) or the
//! reactor thread (a magnet's metadata), and held by the torrent core. Files are numbered as
//! in the torrent's file list, padding files included (as BEP 53 and libtorrent number them,
//! and as `coracle info` prints them). A padding file is never fetched for its own sake.

use std::fmt;

use crate::bitfield::Bitfield;
use crate::layout::Layout;
use crate::metainfo::Metainfo;

/// How much a file is wanted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FilePriority {
    /// Not downloaded and, when it does not exist yet, never created: bytes of pieces it shares
    /// with wanted files are kept in the torrent's part file.
    Skip,
    /// Downloaded, rarest piece first.
    #[default]
    Normal,
    /// Downloaded before every normal file's pieces.
    High,
}

impl FilePriority {
    /// Lower-case name (`skip`, `normal`, `high`), as the CLI's JSON prints it.
    pub fn name(self) -> &'static str {
        match self {
            FilePriority::Skip => "skip",
            FilePriority::Normal => "normal",
            FilePriority::High => "high",
        }
    }
}

/// One file's numbers in a torrent's stats.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FileProgress {
    /// Its length in bytes.
    pub length: u64,
    /// Bytes of it inside verified pieces.
    pub done: u64,
    /// Its priority now.
    pub priority: FilePriority,
}

/// One file as the selection sees it: its place in the torrent's byte stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileSpan {
    /// Offset of its first byte in the stream.
    pub start: u64,
    /// Length in bytes.
    pub length: u64,
    /// A BEP 47 padding file (zeros never stored).
    pub padding: bool,
}

/// A user's choice of files, resolved against a torrent's file list once it is known (at add
/// time for a .torrent, when the metadata arrives for a magnet).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileSelection {
    /// Inclusive index ranges to download (`--only`, `so=`); empty: every file.
    pub only: Vec<(u64, u64)>,
    /// Patterns (`*`, `?`) on the path `coracle info` prints; a match is skipped.
    pub exclude: Vec<String>,
}

/// Why a selection cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SelectError {
    /// `--only` text that is not indices and ranges like `0,3-5`.
    Malformed(String),
    /// An index past the last file.
    OutOfRange {
        /// The index asked for.
        index: u64,
        /// How many files the torrent has.
        files: usize,
    },
    /// Nothing would be downloaded.
    Empty,
    /// Priorities given for a different number of files.
    FileCount {
        /// Files in the torrent.
        expected: usize,
        /// Priorities given.
        got: usize,
    },
}

impl fmt::Display for SelectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SelectError::Malformed(s) => {
                write!(f, "'{s}' is not a file selection like 0,3-5")
            }
            SelectError::OutOfRange { index, files } => write!(
                f,
                "file index {index} is out of range: the torrent has {files} files (0 to {})",
                files.saturating_sub(1)
            ),
            SelectError::Empty => write!(f, "the file selection selects no file"),
            SelectError::FileCount { expected, got } => write!(
                f,
                "{got} file priorities given for a torrent of {expected} files"
            ),
        }
    }
}

impl std::error::Error for SelectError {}

impl FileSelection {
    /// Parses `--only` text: indices and inclusive ranges separated by commas (`0,3-5`).
    pub fn parse_only(text: &str) -> Result<Vec<(u64, u64)>, SelectError> {
        let bad = || SelectError::Malformed(text.to_string());
        let mut out = Vec::new();
        for part in text.split(',') {
            let num = |s: &str| s.trim().parse::<u64>().map_err(|_| bad());
            let range = match part.split_once('-') {
                Some((a, b)) => (num(a)?, num(b)?),
                None => (num(part)?, num(part)?),
            };
            if range.0 > range.1 {
                return Err(bad());
            }
            out.push(range);
        }
        Ok(out)
    }

    /// Whether it chooses anything (an empty selection downloads every file).
    pub fn is_empty(&self) -> bool {
        self.only.is_empty() && self.exclude.is_empty()
    }

    /// Each file's priority for `meta`'s files, as [`Self::resolve`] gives it: the check
    /// [`crate::Session::add`] makes, for telling a user before anything starts.
    pub fn resolve_for(&self, meta: &Metainfo) -> Result<Vec<FilePriority>, SelectError> {
        let paths: Vec<String> = (meta.files.iter())
            .map(|f| f.path.to_string_lossy().into_owned())
            .collect();
        let padding: Vec<bool> = meta.files.iter().map(|f| f.padding).collect();
        self.resolve(&paths, &padding)
    }

    /// Each file's priority for a torrent whose files have these `paths` (as `coracle info`
    /// prints them) and `padding` flags: normal when selected, skip otherwise. An index past
    /// the last file, or a selection that keeps no real file, is an error.
    pub fn resolve(
        &self,
        paths: &[String],
        padding: &[bool],
    ) -> Result<Vec<FilePriority>, SelectError> {
        let n = paths.len();
        if let Some(&(_, last)) = self.only.iter().find(|r| r.1 >= n as u64) {
            return Err(SelectError::OutOfRange {
                index: last,
                files: n,
            });
        }
        let out: Vec<FilePriority> = (0..n)
            .map(|i| {
                let listed = self.only.is_empty()
                    || self
                        .only
                        .iter()
                        .any(|&(a, b)| (a..=b).contains(&(i as u64)));
                let excluded = self.exclude.iter().any(|g| glob_match(g, &paths[i]));
                if listed && !excluded {
                    FilePriority::Normal
                } else {
                    FilePriority::Skip
                }
            })
            .collect();
        let real = |i: &usize| !padding.get(*i).copied().unwrap_or(false);
        if !(0..n).filter(real).any(|i| out[i] != FilePriority::Skip) {
            return Err(SelectError::Empty);
        }
        Ok(out)
    }
}

/// Whether `text` matches `pattern`, where `*` stands for any run of characters (`/`
/// included, so `*.nfo` matches at any depth) and `?` for one character. Linear-time: the
/// last `*` is the only backtracking point.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(&c) if c == '?' || c == t[ti] => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// What a torrent's file priorities mean for its pieces: a piece is wanted when a non-skipped
/// real file has bytes in it, and high when a high-priority file does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PieceWants {
    /// Pieces to fetch.
    pub wanted: Bitfield,
    /// Pieces to fetch before the others (a subset of `wanted`).
    pub high: Bitfield,
    /// Each file's place in the stream.
    pub files: Vec<FileSpan>,
    /// Each file's priority.
    pub priorities: Vec<FilePriority>,
}

impl PieceWants {
    /// The pieces `priorities` (one per file of `files`) ask for.
    pub fn new(
        layout: &Layout,
        files: Vec<FileSpan>,
        priorities: Vec<FilePriority>,
    ) -> Result<PieceWants, SelectError> {
        if files.len() != priorities.len() {
            return Err(SelectError::FileCount {
                expected: files.len(),
                got: priorities.len(),
            });
        }
        let n = layout.num_pieces();
        let (mut wanted, mut high) = (Bitfield::new(n), Bitfield::new(n));
        for (f, &prio) in files.iter().zip(&priorities) {
            if f.padding || prio == FilePriority::Skip {
                continue;
            }
            for p in pieces_of(layout, f) {
                wanted.set(p);
                if prio == FilePriority::High {
                    high.set(p);
                }
            }
        }
        Ok(PieceWants {
            wanted,
            high,
            files,
            priorities,
        })
    }

    /// Bytes in wanted pieces (what "complete" means).
    pub fn wanted_bytes(&self, layout: &Layout) -> u64 {
        self.wanted
            .iter_ones()
            .map(|p| u64::from(layout.piece_len(p)))
            .sum()
    }

    /// Bytes of each file inside verified pieces (`have`).
    pub fn file_progress(&self, layout: &Layout, have: &Bitfield) -> Vec<u64> {
        let plen = u64::from(layout.piece_length());
        self.files
            .iter()
            .map(|f| {
                pieces_of(layout, f)
                    .filter(|&p| have.get(p))
                    .map(|p| {
                        let (a, b) = (u64::from(p) * plen, u64::from(p) * plen + plen);
                        b.min(f.start + f.length) - a.max(f.start)
                    })
                    .sum()
            })
            .collect()
    }
}

/// The pieces `file` has bytes in (none for an empty file).
pub fn pieces_of(layout: &Layout, file: &FileSpan) -> std::ops::Range<u32> {
    let plen = u64::from(layout.piece_length().max(1));
    if file.length == 0 {
        return 0..0;
    }
    let first = u32::try_from(file.start / plen).unwrap_or(u32::MAX);
    let last = u32::try_from((file.start + file.length - 1) / plen).unwrap_or(u32::MAX);
    first..last.saturating_add(1).min(layout.num_pieces())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spans(lens: &[u64]) -> Vec<FileSpan> {
        let mut start = 0;
        lens.iter()
            .map(|&length| {
                let s = FileSpan {
                    start,
                    length,
                    padding: false,
                };
                start += length;
                s
            })
            .collect()
    }

    #[test]
    fn globs_match_stars_and_question_marks() {
        assert!(glob_match("*.nfo", "t/sub/readme.nfo"));
        assert!(glob_match("t/a?c.txt", "t/abc.txt"));
        assert!(!glob_match("t/a?c.txt", "t/ac.txt"));
        assert!(glob_match("*", ""));
        assert!(glob_match("a*b*c", "aXXbYYc"));
        assert!(!glob_match("a*b*c", "aXXbYY"));
        assert!(!glob_match("*.nfo", "readme.nfo.txt"));
        assert!(glob_match("t/*", "t/x/y"));
    }

    #[test]
    fn only_ranges_parse_and_bad_ones_are_refused() {
        assert_eq!(
            FileSelection::parse_only("0,3-5").unwrap(),
            vec![(0, 0), (3, 5)]
        );
        for bad in ["", "1,", "a", "5-3", "-1", "1-2-3"] {
            assert!(FileSelection::parse_only(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn resolve_applies_only_and_exclude_and_refuses_nothing_or_out_of_range() {
        let paths: Vec<String> = ["t/a.txt", "t/b.nfo", "t/pad", "t/c.txt"]
            .map(String::from)
            .to_vec();
        let pad = [false, false, true, false];
        let sel = FileSelection {
            only: vec![(0, 1), (3, 3)],
            exclude: vec!["*.nfo".into()],
        };
        use FilePriority::*;
        assert_eq!(
            sel.resolve(&paths, &pad).unwrap(),
            [Normal, Skip, Skip, Normal]
        );
        let out = FileSelection {
            only: vec![(2, 9)],
            exclude: vec![],
        };
        assert_eq!(
            out.resolve(&paths, &pad),
            Err(SelectError::OutOfRange { index: 9, files: 4 })
        );
        // Only the padding file left: nothing real to download.
        let pad_only = FileSelection {
            only: vec![(2, 2)],
            exclude: vec![],
        };
        assert_eq!(pad_only.resolve(&paths, &pad), Err(SelectError::Empty));
        let all_out = FileSelection {
            only: vec![],
            exclude: vec!["*".into()],
        };
        assert_eq!(all_out.resolve(&paths, &pad), Err(SelectError::Empty));
    }

    #[test]
    fn piece_wants_cover_files_boundaries_and_progress() {
        // Pieces of 10 bytes; files of 15, 10, 5: piece 1 straddles files 0 and 1, piece 2
        // files 1 and 2.
        let l = Layout::new(10, 30).unwrap();
        use FilePriority::*;
        let w = PieceWants::new(&l, spans(&[15, 10, 5]), vec![Skip, High, Skip]).unwrap();
        assert_eq!(w.wanted.iter_ones().collect::<Vec<_>>(), [1, 2]);
        assert_eq!(w.high.iter_ones().collect::<Vec<_>>(), [1, 2]);
        assert_eq!(w.wanted_bytes(&l), 20);
        let mut have = Bitfield::new(3);
        have.set(1);
        assert_eq!(w.file_progress(&l, &have), [5, 5, 0]);
        assert!(PieceWants::new(&l, spans(&[15, 15]), vec![Normal]).is_err());
    }
}
