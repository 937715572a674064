//! Range planning: which bytes of which files a stretch of the torrent is made of.
//!
//! Pure (any thread). A stretch of the torrent's byte stream (blocks of one or more pieces) may
//! cross file boundaries: it becomes one [`Segment`] per file it touches, in order. Padding files
//! (BEP 47) are never asked of a server: they are zeros, filled in locally.

use crate::layout::BlockRef;

/// One file as the web seeds see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebFile {
    /// Offset of its first byte in the torrent's stream.
    pub offset: u64,
    /// Length in bytes.
    pub length: u64,
    /// Its path, percent-encoded, starting with the torrent's name (see [`super::url`]).
    pub encoded_path: String,
    /// A padding file: zeros, never fetched.
    pub padding: bool,
}

/// Where part of a stretch comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Segment {
    /// `len` bytes of file `file` (an index into the table) starting at `offset` in that file.
    File {
        /// Index in [`FileTable::files`].
        file: usize,
        /// Offset within the file.
        offset: u64,
        /// Bytes.
        len: u64,
    },
    /// `len` bytes of padding (zeros).
    Zeros(u64),
}

impl Segment {
    /// Bytes this segment stands for.
    pub fn len(&self) -> u64 {
        match self {
            Segment::File { len, .. } | Segment::Zeros(len) => *len,
        }
    }

    /// Whether it stands for no bytes.
    #[cfg(any(test, feature = "internals"))]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A torrent's files in stream order, for planning web-seed requests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileTable {
    /// Files in torrent order (zero-length files included; they never get a segment).
    pub files: Vec<WebFile>,
    /// Whether the torrent has a `files` list (the URL rules differ, see [`super::url`]).
    pub multi_file: bool,
}

impl FileTable {
    /// The segments of the stretch `[start, start + len)` of the torrent's stream, in order.
    /// Bytes past the last file yield nothing (the caller's layout never asks for them).
    pub fn segments(&self, start: u64, len: u64) -> Vec<Segment> {
        let mut out = Vec::new();
        let end = start.saturating_add(len);
        // The first file that ends after `start`.
        let first = self.files.partition_point(|f| f.offset + f.length <= start);
        for (i, f) in self.files.iter().enumerate().skip(first) {
            if f.offset >= end {
                break;
            }
            let from = start.max(f.offset);
            let to = end.min(f.offset + f.length);
            if to <= from {
                continue;
            }
            out.push(if f.padding {
                Segment::Zeros(to - from)
            } else {
                Segment::File {
                    file: i,
                    offset: from - f.offset,
                    len: to - from,
                }
            });
        }
        out
    }
}

/// Maximal runs of adjacent blocks, as `(stream offset, length)`. `blocks` must be sorted (by
/// piece, then offset: stream order); `piece_length` places each block in the stream.
pub fn runs(blocks: &[BlockRef], piece_length: u32) -> Vec<(u64, u64)> {
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(blocks.len());
    for b in blocks {
        let at = u64::from(b.piece) * u64::from(piece_length) + u64::from(b.begin);
        let len = u64::from(b.length);
        match out.last_mut() {
            Some((s, l)) if *s + *l == at => *l += len,
            _ => out.push((at, len)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(offset: u64, length: u64, path: &str, padding: bool) -> WebFile {
        WebFile {
            offset,
            length,
            encoded_path: path.into(),
            padding,
        }
    }

    /// a (100 bytes), an empty file, padding (28), b (50), c (1000).
    fn table() -> FileTable {
        FileTable {
            files: vec![
                file(0, 100, "t/a", false),
                file(100, 0, "t/empty", false),
                file(100, 28, "t/.pad/28", true),
                file(128, 50, "t/b", false),
                file(178, 1000, "t/c", false),
            ],
            multi_file: true,
        }
    }

    #[test]
    fn a_piece_spanning_files_becomes_one_range_per_file() {
        let s = table().segments(90, 200);
        assert_eq!(
            s,
            vec![
                Segment::File {
                    file: 0,
                    offset: 90,
                    len: 10
                },
                Segment::Zeros(28),
                Segment::File {
                    file: 3,
                    offset: 0,
                    len: 50
                },
                Segment::File {
                    file: 4,
                    offset: 0,
                    len: 112
                },
            ]
        );
        assert_eq!(s.iter().map(Segment::len).sum::<u64>(), 200);
    }

    #[test]
    fn a_stretch_inside_one_file_is_one_range() {
        assert_eq!(
            table().segments(200, 64),
            vec![Segment::File {
                file: 4,
                offset: 22,
                len: 64
            }]
        );
        assert_eq!(table().segments(2000, 10), vec![]);
    }

    #[test]
    fn adjacent_blocks_merge_into_runs_across_pieces() {
        let b = |piece, begin, length| BlockRef {
            piece,
            begin,
            length,
        };
        // Pieces of 32 KiB: blocks (1, 16K) and (2, 0) are adjacent in the stream.
        let blocks = [
            b(0, 0, 16384),
            b(1, 16384, 16384),
            b(2, 0, 16384),
            b(3, 16384, 100),
        ];
        assert_eq!(
            runs(&blocks, 32768),
            vec![(0, 16384), (49152, 32768), (114688, 100)]
        );
    }
}
