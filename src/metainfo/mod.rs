//! Metainfo: parsing a .torrent file (BEP 3, with BEP 12 tracker tiers, BEP 27 private torrents
//! and BEP 47 file attributes) into a validated [`Metainfo`].
//!
//! This module owns the meaning of a .torrent: the info-hash, the piece hashes, the file list with
//! each file's byte offset in the torrent's stream, and the tracker tiers. It runs on its
//! caller's thread: the caller of `Session::add` or the binary's main thread for a .torrent, the
//! reactor thread for a magnet's verified info dictionary. It is pure data: it
//! takes bytes and returns values, and does no I/O (the caller reads the file, at most
//! [`MAX_TORRENT_FILE`] bytes), no networking and no logging. It must never panic on any input, and
//! everything it returns is already checked: every [`FileInfo::path`] is relative and made only of
//! ordinary components, no two files clash, and the piece count matches the length.
//!
//! It reads what libtorrent and Transmission read: bytes after the top-level dictionary are
//! ignored, and odd paths are cleaned up rather than refused (see [`path`] for the rules and
//! [`Metainfo::path_changes`] for what was changed). BEP 47 symlinks take no bytes of the stream
//! and are listed apart in [`Metainfo::symlinks`].
//!
//! The info-hash is the SHA-1 of the `info` dictionary exactly as the file spells it, never of a
//! re-encoding, so torrents with unsorted keys keep the hash every other client computes.
//! Hybrid v1+v2 torrents are read through their v1 fields; v2-only torrents are refused.

mod files;
pub mod path;
mod unique;
mod write;

use crate::bencode::{self, BencodeError, Value};
use crate::layout::Layout;
use sha1::{Digest, Sha1};
use std::fmt;
use std::path::PathBuf;

pub use path::PathIssue;
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

    /// The first 8 hex digits: how coracle's log lines name a torrent (a session's torrent ids
    /// mean nothing outside it), enough to tell torrents apart and to find the full hash.
    pub fn short_hex(&self) -> String {
        let mut hex = self.to_hex();
        hex.truncate(8);
        hex
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
    /// The torrent's name (`name.utf-8` when valid, else `name`), cleaned into a single ordinary
    /// path component: the file name of a single-file torrent, the top folder of a multi-file one.
    pub name: String,
    /// Bytes per piece (the last piece may be shorter), between 1 and 128 MiB.
    pub piece_length: u32,
    /// SHA-1 of each piece, in order; exactly as many as the length needs.
    pub piece_hashes: std::sync::Arc<[[u8; 20]]>,
    /// Files in torrent order, padding files included, symlinks not (see [`Metainfo::symlinks`]).
    /// A single-file torrent has one entry whose path is the name.
    pub files: Vec<FileInfo>,
    /// BEP 47 symlinks in torrent order. They carry no data; their targets are inside the
    /// torrent's folder by construction.
    pub symlinks: Vec<Symlink>,
    /// Every name or path that the clean-up changed (the name first, then files in torrent order;
    /// padding files are not reported). Empty for a well-formed torrent.
    pub path_changes: Vec<PathChange>,
    /// Total bytes in the torrent's stream, padding files included; never zero.
    pub total_length: u64,
    /// Tracker tiers (BEP 12): `announce-list` when it names any tracker, else `[[announce]]`,
    /// else empty. Empty URLs and tiers are dropped and each URL appears once.
    pub trackers: Vec<Vec<String>>,
    /// Web seeds (BEP 19 `url-list`: one URL or a list): `http`/`https` URLs, each once, in
    /// order; anything else is dropped.
    pub web_seeds: Vec<String>,
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
    /// A padding file: zeros that are never written to disk. BEP 47 marks them with `attr`
    /// `p`; BitComet's older `_____padding_file_…` names count too.
    pub padding: bool,
    /// BEP 47 `attr` `x`: the file is created executable.
    pub executable: bool,
    /// BEP 47 `attr` `h`: the creator's file was hidden. Only reported.
    pub hidden: bool,
}

/// A BEP 47 symlink of a torrent (`attr` contains `l`, with a `symlink path`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Symlink {
    /// Where the link goes, relative to the download folder (`name/a/link`), like
    /// [`FileInfo::path`].
    pub path: PathBuf,
    /// What it points at, relative to the download folder (`name/b/file`): always inside the
    /// torrent's folder, since `..` and absolute components were cleaned away.
    pub target: PathBuf,
}

impl Symlink {
    /// The text to store in the link: the target relative to the link's folder (`../b/file`), so
    /// the link keeps working when the download folder moves.
    pub fn link_text(&self) -> PathBuf {
        let from: Vec<_> = self
            .path
            .parent()
            .map(|p| p.components().collect())
            .unwrap_or_default();
        let to: Vec<_> = self.target.components().collect();
        let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
        let mut text = PathBuf::new();
        for _ in common..from.len() {
            text.push("..");
        }
        for c in &to[common..] {
            text.push(c);
        }
        if text.as_os_str().is_empty() {
            text.push(".");
        }
        text
    }
}

/// A name or path that the clean-up changed, for reports (`coracle info`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathChange {
    /// The path as the torrent spells it, components joined with `/` (invalid UTF-8 replaced).
    /// For a file of a multi-file torrent it starts with the cleaned name.
    pub original: String,
    /// The path used instead, relative to the download folder.
    pub cleaned: PathBuf,
    /// What was changed, each reason once.
    pub issues: Vec<PathIssue>,
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
    /// `piece length` is zero, negative or above 128 MiB.
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
    /// The .torrent is larger than 64 MiB.
    TooLarge,
    /// The torrent's total length is zero: there is nothing to download.
    NoData,
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
                ".torrent file is over {} MiB; not loading it",
                MAX_TORRENT_FILE >> 20
            ),
            E::NoData => write!(f, "torrent has no data (total length 0)"),
            E::EmptyFileList => write!(f, "torrent's file list is empty"),
            E::BothLengthAndFiles => write!(f, "damaged torrent: has both `length` and `files`"),
            E::V2Only => write!(
                f,
                "v2-only torrents are not supported yet (this one has no v1 piece hashes)"
            ),
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
    /// Parses and validates a whole .torrent file. Bytes after the top-level dictionary (a
    /// trailing newline, say) are ignored, as libtorrent, Transmission and aria2 ignore them.
    pub fn from_bytes(data: &[u8]) -> Result<Metainfo> {
        if data.len() > MAX_TORRENT_FILE {
            return Err(MetainfoError::TooLarge);
        }
        let (root, _used) = bencode::decode_prefix(data)?;
        if root.as_dict().is_none() {
            return Err(MetainfoError::WrongType("torrent"));
        }
        let info = root
            .get("info")
            .ok_or(MetainfoError::MissingField("info"))?;
        let mut meta = parse_info(info)?;
        meta.trackers = parse_trackers(&root);
        meta.web_seeds = parse_web_seeds(&root);
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
    let name = files::parse_name(info)?;
    let piece_length = parse_piece_length(info)?;
    let piece_hashes = parse_pieces(info)?;
    let parsed = files::parse_files(info, &name)?;
    let total_length = parsed.files.last().map_or(0, |f| f.offset + f.length);
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
    // Cannot fail: the piece count equals the hash count, bounded by MAX_TORRENT_FILE / 20.
    let layout = Layout::new(piece_length, total_length).ok_or(MetainfoError::LengthOverflow)?;
    Ok(Metainfo {
        info_hash: InfoHash(Sha1::digest(info.raw).into()),
        name: name.text,
        piece_length,
        piece_hashes: piece_hashes.into(),
        files: parsed.files,
        symlinks: parsed.symlinks,
        path_changes: parsed.changes,
        total_length,
        trackers: Vec::new(),
        web_seeds: Vec::new(),
        private: info.get("private").and_then(Value::as_int) == Some(1),
        comment: None,
        created_by: None,
        creation_date: None,
        multi_file: parsed.multi_file,
        layout,
        info_bytes: info.raw.into(),
    })
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

/// `url-list`: a string or a list of strings; only `http(s)://` URLs are kept, each once.
fn parse_web_seeds(root: &Value<'_>) -> Vec<String> {
    let Some(v) = root.get("url-list") else {
        return Vec::new();
    };
    let urls = v.as_list().unwrap_or(std::slice::from_ref(v));
    let mut out: Vec<String> = Vec::new();
    for u in urls.iter().filter_map(Value::as_str) {
        let u = u.trim();
        let lower = u.get(..8).unwrap_or(u).to_ascii_lowercase();
        let http = lower.starts_with("http://") || lower.starts_with("https://");
        if http && !out.iter().any(|o| o == u) {
            out.push(u.to_owned());
        }
    }
    out
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
