//! The pure half of torrent creation: the file order, the automatic piece size, and the .torrent
//! bytes built from a file list and its piece hashes, on the thread that calls
//! [`super::TorrentBuilder::build`] (or [`encode`]). No I/O; [`super::TorrentBuilder::build`]
//! walks the folder and hashes, and an embedder with its own I/O can call [`encode`] directly.
//!
//! The info dictionary is what mktorrent, transmission-create and libtorrent's v1 creator write
//! for the same input (see `tests/create.rs`): keys sorted, `length` for a single file or a
//! `files` list of `{length, path}`, `name`, `piece length`, `pieces`, `private` only when set
//! (as mktorrent; Transmission 3 always writes it) and `source` only when given. No BEP 47
//! `attr`: mktorrent and Transmission write none, so a folder gives the same info-hash whatever
//! its file modes (libtorrent adds `x` for executable files).

use crate::bencode::Bencode;

/// One file of a torrent being made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileEntry {
    /// Path components below the torrent's folder (`["docs", "a.txt"]`); empty for the one file
    /// of a single-file torrent.
    pub path: Vec<String>,
    /// Length in bytes.
    pub length: u64,
}

/// Everything outside the file list that goes into a .torrent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TorrentOptions {
    /// Tracker tiers (BEP 12). The first URL becomes `announce`; `announce-list` is written when
    /// there is more than one URL.
    pub trackers: Vec<Vec<String>>,
    /// Web seeds (BEP 19 `url-list`).
    pub web_seeds: Vec<String>,
    /// BEP 27 private flag: `private` = 1 in the info dictionary.
    pub private: bool,
    /// Free text `comment`.
    pub comment: Option<String>,
    /// The `created by` field.
    pub created_by: Option<String>,
    /// The `creation date` (seconds since the Unix epoch).
    pub creation_date: Option<i64>,
    /// `source` in the info dictionary: private trackers use it to give their torrents their own
    /// info-hash.
    pub source: Option<String>,
}

/// Smallest piece size [`auto_piece_length`] picks, and the smallest a builder accepts.
pub const MIN_PIECE_LENGTH: u32 = 16 * 1024;

/// Largest piece size [`auto_piece_length`] picks: 16 MiB, the most most clients handle well.
pub const MAX_AUTO_PIECE_LENGTH: u32 = 16 * 1024 * 1024;

/// The piece size for `total` bytes, as libtorrent's creator picks it: the smallest power of two
/// from 16 KiB to 16 MiB whose piece count keeps the hash list near twice the square root of the
/// total size, i.e. `total <= piece² / 100` (rounded to the nearest byte), else 16 MiB.
/// For example: up to 2.56 MiB → 16 KiB, 163 MiB → 128 KiB, 10 GiB → 1 MiB, 655 GiB → 8 MiB.
pub fn auto_piece_length(total: u64) -> u32 {
    let mut piece = MIN_PIECE_LENGTH;
    while piece < MAX_AUTO_PIECE_LENGTH {
        let p = u128::from(piece);
        let limit = (p * p + 50) / 100;
        if u128::from(total) <= limit {
            break;
        }
        piece *= 2;
    }
    piece
}

/// Sorts files the way mktorrent and transmission-create list them: by the whole relative path
/// as bytes, components joined with `/` (so `a.txt` comes before `a/b`, since `.` < `/`).
#[cfg(test)]
pub fn sort_files(files: &mut [FileEntry]) {
    files.sort_by_cached_key(sort_key);
}

/// The key [`sort_files`] orders by.
pub(crate) fn sort_key(file: &FileEntry) -> Vec<u8> {
    file.path.join("/").into_bytes()
}

/// Builds the .torrent bytes: `name` is the torrent's name (the file name of a single-file
/// torrent, whose one entry has an empty path); `files` in the order they were hashed.
pub fn encode(
    name: &str,
    files: &[FileEntry],
    piece_length: u32,
    piece_hashes: &[[u8; 20]],
    options: &TorrentOptions,
) -> Vec<u8> {
    let mut info: Vec<(&str, Bencode)> = vec![
        ("name", Bencode::bytes(name)),
        ("piece length", Bencode::Int(i64::from(piece_length))),
        ("pieces", Bencode::Bytes(piece_hashes.concat())),
    ];
    match files {
        [single] if single.path.is_empty() => {
            info.push(("length", int(single.length)));
        }
        _ => {
            let list = files
                .iter()
                .map(|f| {
                    let path = f.path.iter().map(Bencode::bytes).collect();
                    Bencode::dict([("length", int(f.length)), ("path", Bencode::List(path))])
                })
                .collect();
            info.push(("files", Bencode::List(list)));
        }
    }
    if options.private {
        info.push(("private", Bencode::Int(1)));
    }
    if let Some(s) = &options.source {
        info.push(("source", Bencode::bytes(s)));
    }
    let mut top: Vec<(&str, Bencode)> = vec![("info", Bencode::dict(info))];
    let urls: Vec<&String> = options.trackers.iter().flatten().collect();
    if let Some(first) = urls.first() {
        top.push(("announce", Bencode::bytes(first)));
    }
    if urls.len() > 1 {
        let tiers = options
            .trackers
            .iter()
            .filter(|t| !t.is_empty())
            .map(|t| Bencode::List(t.iter().map(Bencode::bytes).collect()))
            .collect();
        top.push(("announce-list", Bencode::List(tiers)));
    }
    if !options.web_seeds.is_empty() {
        let seeds = options.web_seeds.iter().map(Bencode::bytes).collect();
        top.push(("url-list", Bencode::List(seeds)));
    }
    if let Some(c) = &options.comment {
        top.push(("comment", Bencode::bytes(c)));
    }
    if let Some(c) = &options.created_by {
        top.push(("created by", Bencode::bytes(c)));
    }
    if let Some(t) = options.creation_date {
        top.push(("creation date", Bencode::Int(t)));
    }
    Bencode::dict(top).encode()
}

/// A length as a bencode integer; lengths past `i64::MAX` cannot exist on a file system.
fn int(n: u64) -> Bencode {
    Bencode::Int(i64::try_from(n).unwrap_or(i64::MAX))
}

#[cfg(test)]
#[path = "info_tests.rs"]
mod tests;
