//! Metainfo: parsing a .torrent file (BEP 3, with BEP 12 tracker tiers, BEP 27 private torrents
//! and BEP 47 padding files) into a validated [`Metainfo`].
//!
//! This module owns the meaning of a .torrent: the info-hash, the piece hashes, the file list with
//! each file's byte offset in the torrent's stream, and the tracker tiers. It is pure data: it
//! takes bytes and returns values, and does no I/O (the caller reads the file, at most
//! [`MAX_TORRENT_FILE`] bytes), no networking and no logging. It must never panic on any input, and
//! everything it returns is already checked: every [`FileInfo::path`] is relative and made only of
//! ordinary components (see [`path`]), no two files clash, and the piece count matches the length.
//!
//! The info-hash is the SHA-1 of the `info` dictionary exactly as the file spells it, never of a
//! re-encoding, so torrents with unsorted keys keep the hash every other client computes.
//! Hybrid v1+v2 torrents are read through their v1 fields; v2-only torrents are refused.

pub mod path;
mod write;

use crate::bencode::{self, BencodeError, Value};
use crate::layout::Layout;
use sha1::{Digest, Sha1};
use std::fmt;
use std::path::PathBuf;

pub use path::{sanitize_component, PathIssue};
pub use write::torrent_file;

/// Largest piece length accepted: 128 MiB. Real torrents use 16 KiB to 16 MiB.
pub const MAX_PIECE_LENGTH: u32 = 128 * 1024 * 1024;

/// Largest .torrent accepted, and the most a caller should read from disk or a URL: 64 MiB.
pub const MAX_TORRENT_FILE: usize = 64 * 1024 * 1024;

/// A v1 info-hash: the SHA-1 of the bencoded `info` dictionary.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InfoHash(pub [u8; 20]);

impl InfoHash {
    /// The hash as 40 lowercase hexadecimal digits.
    pub fn to_hex(&self) -> String {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut s = String::with_capacity(40);
        for b in self.0 {
            s.push(char::from(DIGITS[usize::from(b >> 4)]));
            s.push(char::from(DIGITS[usize::from(b & 0xf)]));
        }
        s
    }

    /// Parses 40 hexadecimal digits (either case); `None` for anything else.
    pub fn from_hex(s: &str) -> Option<InfoHash> {
        let bytes = s.as_bytes();
        if bytes.len() != 40 {
            return None;
        }
        let mut out = [0u8; 20];
        for (o, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
            *o = hex_digit(pair[0])? << 4 | hex_digit(pair[1])?;
        }
        Some(InfoHash(out))
    }
}

fn hex_digit(c: u8) -> Option<u8> {
    char::from(c)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

impl fmt::Display for InfoHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for InfoHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// A parsed and validated .torrent.
///
/// Built only by [`Metainfo::from_bytes`] or [`Metainfo::from_info_bytes`], which guarantee the
/// invariants below; the fields are public for reading.
#[derive(Clone, Debug)]
pub struct Metainfo {
    /// SHA-1 of the raw `info` bytes exactly as they appear in the file.
    pub info_hash: InfoHash,
    /// The torrent's name (`name.utf-8` when valid, else `name`), a single safe path component:
    /// the file name of a single-file torrent, the top folder of a multi-file one.
    pub name: String,
    /// Bytes per piece (the last piece may be shorter), between 1 and [`MAX_PIECE_LENGTH`].
    pub piece_length: u32,
    /// SHA-1 of each piece, in order; exactly as many as the length needs.
    pub piece_hashes: std::sync::Arc<[[u8; 20]]>,
    /// Files in torrent order, padding files included. A single-file torrent has one entry whose
    /// path is the name.
    pub files: Vec<FileInfo>,
    /// Total bytes in the torrent's stream, padding files included; never zero.
    pub total_length: u64,
    /// Tracker tiers (BEP 12): `announce-list` when it names any tracker, else `[[announce]]`,
    /// else empty. Empty URLs and tiers are dropped and each URL appears once.
    pub trackers: Vec<Vec<String>>,
    /// True when the info dictionary has `private` = 1 (BEP 27): use only the listed trackers.
    pub private: bool,
    /// The `comment` (preferring `comment.utf-8`), if any; invalid UTF-8 is replaced.
    pub comment: Option<String>,
    /// The `created by` field, if any; invalid UTF-8 is replaced.
    pub created_by: Option<String>,
    /// The `creation date` field (seconds since the Unix epoch), if any.
    pub creation_date: Option<i64>,
    /// True when the info dictionary has a `files` list (even of one file).
    pub multi_file: bool,
    layout: Layout,
    info_bytes: std::sync::Arc<[u8]>,
}

/// One file of a torrent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileInfo {
    /// Path relative to the download folder, made only of ordinary components: `name/a/b` for a
    /// multi-file torrent, `name` for a single-file one.
    pub path: PathBuf,
    /// Length in bytes (may be zero).
    pub length: u64,
    /// Byte offset of the file's first byte in the torrent's stream.
    pub offset: u64,
    /// A BEP 47 padding file (`attr` contains `p`): zeros that are never written to disk.
    pub padding: bool,
}

/// Why a .torrent was refused. Each message says what is wrong with the file.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetainfoError {
    /// The file is not valid bencode.
    Bencode(BencodeError),
    /// A required field is absent.
    MissingField(&'static str),
    /// A field has the wrong bencode type.
    WrongType(&'static str),
    /// A text field that must be UTF-8 is not (and has no valid `.utf-8` variant).
    NotUtf8(&'static str),
    /// `pieces` is not a whole number of 20-byte hashes.
    PiecesNotMultipleOf20 {
        /// Length of `pieces` in bytes.
        len: usize,
    },
    /// The number of piece hashes does not match the total length.
    PieceCountMismatch {
        /// Pieces the total length needs.
        expected: u64,
        /// Hashes in `pieces`.
        got: usize,
    },
    /// `piece length` is zero, negative or above [`MAX_PIECE_LENGTH`].
    BadPieceLength(i64),
    /// A file length is negative.
    NegativeLength {
        /// Index of the file in the torrent (0 for a single-file torrent).
        file: usize,
        /// The length given.
        length: i64,
    },
    /// The file lengths add up to more than `u64::MAX` bytes.
    LengthOverflow,
    /// The .torrent is larger than [`MAX_TORRENT_FILE`].
    TooLarge,
    /// The torrent's total length is zero: there is nothing to download.
    NoData,
    /// Two files have the same path.
    DuplicatePath(PathBuf),
    /// A path is used both as a file and as a folder holding another file.
    FileIsAlsoFolder(PathBuf),
    /// A name or path could escape the download folder.
    UnsafePath {
        /// The path as given, components joined with `/`.
        path: String,
        /// What is wrong with it.
        reason: PathIssue,
    },
    /// A multi-file torrent whose `files` list is empty.
    EmptyFileList,
    /// The info dictionary has both `length` and `files`.
    BothLengthAndFiles,
    /// A BitTorrent v2-only torrent (no v1 `pieces`), which this client does not support.
    V2Only,
}

impl fmt::Display for MetainfoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use MetainfoError as E;
        match self {
            E::Bencode(e) => write!(f, "not a valid .torrent file ({e})"),
            E::MissingField(k) => write!(f, "damaged torrent: no `{k}` field"),
            E::WrongType(k) => write!(f, "damaged torrent: `{k}` has the wrong type"),
            E::NotUtf8(k) => write!(f, "torrent's `{k}` is not UTF-8 (and no valid `{k}.utf-8`)"),
            E::PiecesNotMultipleOf20 { len } => {
                write!(
                    f,
                    "damaged torrent: {len} bytes of piece hashes, not a multiple of 20"
                )
            }
            E::PieceCountMismatch { expected, got } => {
                write!(
                    f,
                    "damaged torrent: {got} piece hashes, but its size needs {expected}"
                )
            }
            E::BadPieceLength(n) => {
                write!(
                    f,
                    "torrent's piece length {n} is not within 1..={MAX_PIECE_LENGTH}"
                )
            }
            E::NegativeLength { file, length } => {
                write!(
                    f,
                    "damaged torrent: file #{file} has negative length {length}"
                )
            }
            E::LengthOverflow => write!(f, "torrent's file lengths add up to over 2^64 bytes"),
            E::TooLarge => write!(
                f,
                ".torrent file is over {MAX_TORRENT_FILE} bytes; not loading it"
            ),
            E::NoData => write!(f, "torrent has no data (total length 0)"),
            E::DuplicatePath(p) => write!(f, "torrent lists `{}` twice", p.display()),
            E::FileIsAlsoFolder(p) => {
                write!(f, "torrent uses `{}` as both file and folder", p.display())
            }
            E::UnsafePath { path, reason } => {
                write!(f, "refusing unsafe path {path:?} in torrent: {reason}")
            }
            E::EmptyFileList => write!(f, "torrent's file list is empty"),
            E::BothLengthAndFiles => write!(f, "damaged torrent: has both `length` and `files`"),
            E::V2Only => write!(f, "BitTorrent v2-only torrents are not supported"),
        }
    }
}

impl std::error::Error for MetainfoError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            MetainfoError::Bencode(e) => Some(e),
            _ => None,
        }
    }
}

impl From<BencodeError> for MetainfoError {
    fn from(e: BencodeError) -> Self {
        MetainfoError::Bencode(e)
    }
}

type Result<T> = std::result::Result<T, MetainfoError>;

impl Metainfo {
    /// Parses and validates a whole .torrent file.
    pub fn from_bytes(data: &[u8]) -> Result<Metainfo> {
        if data.len() > MAX_TORRENT_FILE {
            return Err(MetainfoError::TooLarge);
        }
        let root = bencode::decode(data)?;
        if root.as_dict().is_none() {
            return Err(MetainfoError::WrongType("torrent"));
        }
        let info = root
            .get("info")
            .ok_or(MetainfoError::MissingField("info"))?;
        let mut meta = parse_info(info)?;
        meta.trackers = parse_trackers(&root);
        meta.comment = text_field(&root, "comment", "comment.utf-8");
        meta.created_by = text_field(&root, "created by", "created by.utf-8");
        meta.creation_date = root.get("creation date").and_then(Value::as_int);
        Ok(meta)
    }

    /// Parses a bare bencoded info dictionary, as fetched from peers for a magnet link (BEP 9).
    /// The result has no trackers, comment or dates; the caller compares [`Metainfo::info_hash`]
    /// with the hash it asked for and fills in the magnet's trackers.
    pub fn from_info_bytes(info: &[u8]) -> Result<Metainfo> {
        if info.len() > MAX_TORRENT_FILE {
            return Err(MetainfoError::TooLarge);
        }
        parse_info(&bencode::decode(info)?)
    }

    /// The piece and block arithmetic of this torrent.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// The expected SHA-1 of `piece`, or `None` past the last piece.
    pub fn piece_hash(&self, piece: u32) -> Option<&[u8; 20]> {
        self.piece_hashes.get(usize::try_from(piece).ok()?)
    }

    /// The raw bencoded info dictionary, byte for byte as in the file (served to peers by BEP 9).
    pub fn info_bytes(&self) -> &[u8] {
        &self.info_bytes
    }

    /// The same bytes, shared (the engine serves them without a copy).
    pub fn shared_info_bytes(&self) -> std::sync::Arc<[u8]> {
        self.info_bytes.clone()
    }
}

/// Validates the info dictionary: everything that the info-hash covers.
fn parse_info(info: &Value<'_>) -> Result<Metainfo> {
    if info.as_dict().is_none() {
        return Err(MetainfoError::WrongType("info"));
    }
    if info.get("pieces").is_none() && info.get("meta version").and_then(Value::as_int) == Some(2) {
        return Err(MetainfoError::V2Only);
    }
    let name = parse_name(info)?;
    let piece_length = parse_piece_length(info)?;
    let piece_hashes = parse_pieces(info)?;
    let (files, multi_file) = parse_files(info, &name)?;
    let total_length = files.last().map_or(0, |f| f.offset + f.length);
    if total_length == 0 {
        return Err(MetainfoError::NoData);
    }
    let expected = total_length.div_ceil(u64::from(piece_length));
    if expected != piece_hashes.len() as u64 {
        return Err(MetainfoError::PieceCountMismatch {
            expected,
            got: piece_hashes.len(),
        });
    }
    check_conflicts(&files)?;
    // Cannot fail: the piece count equals the hash count, bounded by MAX_TORRENT_FILE / 20.
    let layout = Layout::new(piece_length, total_length).ok_or(MetainfoError::LengthOverflow)?;
    Ok(Metainfo {
        info_hash: InfoHash(Sha1::digest(info.raw).into()),
        name,
        piece_length,
        piece_hashes: piece_hashes.into(),
        files,
        total_length,
        trackers: Vec::new(),
        private: info.get("private").and_then(Value::as_int) == Some(1),
        comment: None,
        created_by: None,
        creation_date: None,
        multi_file,
        layout,
        info_bytes: info.raw.into(),
    })
}

/// The torrent's name: `name.utf-8` when it is valid UTF-8, else `name`; one safe component.
fn parse_name(info: &Value<'_>) -> Result<String> {
    let name = match info.get("name.utf-8").and_then(Value::as_str) {
        Some(s) => s,
        None => {
            let raw = info
                .get("name")
                .ok_or(MetainfoError::MissingField("name"))?;
            let bytes = raw.as_bytes().ok_or(MetainfoError::WrongType("name"))?;
            std::str::from_utf8(bytes).map_err(|_| MetainfoError::NotUtf8("name"))?
        }
    };
    sanitize_component(name).map_err(|reason| MetainfoError::UnsafePath {
        path: name.to_owned(),
        reason,
    })?;
    Ok(name.to_owned())
}

fn parse_piece_length(info: &Value<'_>) -> Result<u32> {
    let raw = info
        .get("piece length")
        .ok_or(MetainfoError::MissingField("piece length"))?;
    let n = raw
        .as_int()
        .ok_or(MetainfoError::WrongType("piece length"))?;
    match u32::try_from(n) {
        Ok(len) if len > 0 && len <= MAX_PIECE_LENGTH => Ok(len),
        _ => Err(MetainfoError::BadPieceLength(n)),
    }
}

fn parse_pieces(info: &Value<'_>) -> Result<Vec<[u8; 20]>> {
    let raw = info
        .get("pieces")
        .ok_or(MetainfoError::MissingField("pieces"))?;
    let bytes = raw.as_bytes().ok_or(MetainfoError::WrongType("pieces"))?;
    let chunks = bytes.chunks_exact(20);
    if !chunks.remainder().is_empty() {
        return Err(MetainfoError::PiecesNotMultipleOf20 { len: bytes.len() });
    }
    Ok(chunks
        .map(|c| {
            let mut h = [0u8; 20];
            h.copy_from_slice(c);
            h
        })
        .collect())
}

/// The file list with offsets, and whether the torrent is multi-file.
fn parse_files(info: &Value<'_>, name: &str) -> Result<(Vec<FileInfo>, bool)> {
    match (info.get("length"), info.get("files")) {
        (Some(_), Some(_)) => Err(MetainfoError::BothLengthAndFiles),
        (None, None) => Err(MetainfoError::MissingField("length or files")),
        (Some(len), None) => {
            let length = file_length(len, 0)?;
            let file = FileInfo {
                path: PathBuf::from(name),
                length,
                offset: 0,
                padding: false,
            };
            Ok((vec![file], false))
        }
        (None, Some(list)) => {
            let entries = list.as_list().ok_or(MetainfoError::WrongType("files"))?;
            if entries.is_empty() {
                return Err(MetainfoError::EmptyFileList);
            }
            let mut files = Vec::with_capacity(entries.len());
            let mut offset = 0u64;
            for (index, entry) in entries.iter().enumerate() {
                let file = parse_file_entry(entry, index, name, offset)?;
                offset = offset
                    .checked_add(file.length)
                    .ok_or(MetainfoError::LengthOverflow)?;
                files.push(file);
            }
            Ok((files, true))
        }
    }
}

fn file_length(value: &Value<'_>, file: usize) -> Result<u64> {
    let n = value.as_int().ok_or(MetainfoError::WrongType("length"))?;
    u64::try_from(n).map_err(|_| MetainfoError::NegativeLength { file, length: n })
}

/// One entry of `files`: `length`, `path` (or `path.utf-8`) and optional BEP 47 `attr`.
fn parse_file_entry(entry: &Value<'_>, index: usize, name: &str, offset: u64) -> Result<FileInfo> {
    if entry.as_dict().is_none() {
        return Err(MetainfoError::WrongType("files"));
    }
    let length = entry
        .get("length")
        .ok_or(MetainfoError::MissingField("length"))?;
    let length = file_length(length, index)?;
    let components = path_components(entry)?;
    let mut path = PathBuf::from(name);
    if components.is_empty() {
        return Err(unsafe_path(name, &components, PathIssue::NoComponents));
    }
    for c in &components {
        let c = sanitize_component(c).map_err(|r| unsafe_path(name, &components, r))?;
        path.push(c);
    }
    let padding = entry
        .get("attr")
        .and_then(Value::as_bytes)
        .is_some_and(|a| a.contains(&b'p'));
    Ok(FileInfo {
        path,
        length,
        offset,
        padding,
    })
}

fn unsafe_path(name: &str, components: &[&str], reason: PathIssue) -> MetainfoError {
    let mut path = name.to_owned();
    for c in components {
        path.push('/');
        path.push_str(c);
    }
    MetainfoError::UnsafePath { path, reason }
}

/// A file's path components: `path.utf-8` when it is a list of valid UTF-8 strings, else `path`.
fn path_components<'a>(entry: &Value<'a>) -> Result<Vec<&'a str>> {
    let utf8 = entry.get("path.utf-8").and_then(|p| {
        p.as_list()?
            .iter()
            .map(Value::as_str)
            .collect::<Option<Vec<_>>>()
    });
    if let Some(components) = utf8 {
        return Ok(components);
    }
    let raw = entry
        .get("path")
        .ok_or(MetainfoError::MissingField("path"))?;
    let list = raw.as_list().ok_or(MetainfoError::WrongType("path"))?;
    list.iter()
        .map(|c| {
            let bytes = c.as_bytes().ok_or(MetainfoError::WrongType("path"))?;
            std::str::from_utf8(bytes).map_err(|_| MetainfoError::NotUtf8("path"))
        })
        .collect()
}

/// Refuses two real files with one path, or a file whose path is another file's folder. Padding
/// files are never written, so their (often repeated) paths do not count.
fn check_conflicts(files: &[FileInfo]) -> Result<()> {
    let mut paths: Vec<&std::path::Path> = files
        .iter()
        .filter(|f| !f.padding)
        .map(|f| f.path.as_path())
        .collect();
    paths.sort_unstable();
    match path::find_conflict(&paths) {
        None => Ok(()),
        Some(path::Conflict::Duplicate(p)) => Err(MetainfoError::DuplicatePath(p.to_path_buf())),
        Some(path::Conflict::FileIsFolder(p)) => {
            Err(MetainfoError::FileIsAlsoFolder(p.to_path_buf()))
        }
    }
}

/// Tracker tiers from `announce-list` (BEP 12), else from `announce`. Tracker fields are outside
/// the info-hash and only advisory, so malformed entries are skipped rather than fatal.
fn parse_trackers(root: &Value<'_>) -> Vec<Vec<String>> {
    let mut seen = std::collections::HashSet::new();
    let mut tiers = Vec::new();
    for tier in root
        .get("announce-list")
        .and_then(Value::as_list)
        .unwrap_or_default()
    {
        // A bare string where a tier should be is taken as a tier of one.
        let urls = match tier.as_list() {
            Some(list) => list,
            None => std::slice::from_ref(tier),
        };
        let tier: Vec<String> = urls
            .iter()
            .filter_map(tracker_url)
            .filter(|u| seen.insert(u.clone()))
            .collect();
        if !tier.is_empty() {
            tiers.push(tier);
        }
    }
    if tiers.is_empty() {
        if let Some(url) = root.get("announce").and_then(tracker_url) {
            tiers.push(vec![url]);
        }
    }
    tiers
}

fn tracker_url(v: &Value<'_>) -> Option<String> {
    let url = v.as_str()?.trim();
    (!url.is_empty()).then(|| url.to_owned())
}

/// A free-text field outside the info dictionary: the `.utf-8` variant when valid, else the plain
/// field with invalid UTF-8 replaced.
fn text_field(root: &Value<'_>, key: &str, utf8_key: &str) -> Option<String> {
    if let Some(s) = root.get(utf8_key).and_then(Value::as_str) {
        return Some(s.to_owned());
    }
    let bytes = root.get(key)?.as_bytes()?;
    Some(String::from_utf8_lossy(bytes).into_owned())
}

#[cfg(test)]
mod tests;
