//! The resume state's file format: a bencoded dictionary `{checksum, state}` where `checksum`
//! is the SHA-1 of the exact bytes of `state`, so a torn or bit-flipped file is refused as a
//! whole instead of half-trusted.
//!
//! Pure: bytes in, bytes out. Encoding runs where a checkpoint is carried out (a disk pool worker,
//! or the reactor thread for the last one at shutdown), decoding on the thread that calls
//! `Session::add` (and in tests reading state files). Decoding never panics on any input and checks
//! every field's type and range; whether the state fits a given torrent is [`super::plan()`]'s
//! question.

use std::fmt;

use sha1::{Digest, Sha1};

use crate::bencode::{self, Bencode, BencodeError, Value};
use crate::bitfield::Bitfield;

/// The format this code writes and the only one it reads. Bumped on any change of meaning.
pub const FORMAT_VERSION: i64 = 1;

/// Most bytes a resume file may have: a torrent of 2^24 pieces and 100,000 files fits easily.
pub const MAX_STATE_BYTES: usize = 32 << 20;

/// What a file looked like on disk: its length and modification time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FileStamp {
    /// Length in bytes.
    pub size: u64,
    /// Modification time, seconds since the Unix epoch (negative before it).
    pub mtime_sec: i64,
    /// Nanoseconds within that second (0 to 999,999,999).
    pub mtime_nsec: u32,
}

impl FileStamp {
    /// Recorded for a file that was missing at the checkpoint: no file on disk has this size,
    /// so its pieces are always checked.
    pub const MISSING: FileStamp = FileStamp {
        size: i64::MAX as u64,
        mtime_sec: 0,
        mtime_nsec: 0,
    };
}

/// One torrent's resume state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResumeState {
    /// The torrent it belongs to.
    pub info_hash: [u8; 20],
    /// The folder its files were in, as path bytes: the state of one copy never applies to
    /// another copy of the same torrent elsewhere.
    pub root: Vec<u8>,
    /// Pieces verified and durable (synced) when the state was written.
    pub have: Bitfield,
    /// Each file of the torrent, in torrent order, as it was right after that sync (padding
    /// files have a zero stamp).
    pub files: Vec<FileStamp>,
    /// Payload bytes uploaded over the torrent's life.
    pub uploaded: u64,
    /// Payload bytes downloaded over the torrent's life.
    pub downloaded: u64,
    /// Written when the torrent stopped for good (session shutdown): no write followed, so any
    /// later change of a file is someone else's. Otherwise the torrent kept running, and files
    /// it had not finished were written after the state (see [`super::plan()`]).
    pub clean: bool,
}

/// Why resume bytes were refused.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResumeError {
    /// Not bencode at all.
    Bencode(BencodeError),
    /// Longer than [`MAX_STATE_BYTES`].
    TooLarge(usize),
    /// The checksum does not match the state: the file is damaged.
    Checksum,
    /// Written by a format this code does not read.
    Version(i64),
    /// A field is missing or has the wrong type or range.
    Field(&'static str),
    /// The state is for another torrent.
    OtherTorrent,
    /// The state is for the same torrent in another folder.
    OtherFolder,
    /// The state's pieces or files do not match the torrent's.
    Shape(&'static str),
}

impl fmt::Display for ResumeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResumeError::Bencode(e) => write!(f, "not a resume file ({e})"),
            ResumeError::TooLarge(n) => write!(f, "resume file too large ({n} bytes)"),
            ResumeError::Checksum => f.write_str("resume file damaged (checksum mismatch)"),
            ResumeError::Version(v) => write!(f, "resume file of unknown format version {v}"),
            ResumeError::Field(name) => write!(f, "resume file field `{name}` missing or invalid"),
            ResumeError::OtherTorrent => f.write_str("resume file belongs to another torrent"),
            ResumeError::OtherFolder => {
                f.write_str("resume file belongs to a copy of this torrent in another folder")
            }
            ResumeError::Shape(what) => write!(f, "resume file does not fit the torrent ({what})"),
        }
    }
}

impl std::error::Error for ResumeError {}

/// The bytes of `state`, checksummed.
pub fn encode(state: &ResumeState) -> Vec<u8> {
    let files = state
        .files
        .iter()
        .map(|s| {
            Bencode::List(vec![
                Bencode::Int(clamp(s.size)),
                Bencode::Int(s.mtime_sec),
                Bencode::Int(i64::from(s.mtime_nsec)),
            ])
        })
        .collect();
    let inner = Bencode::dict([
        ("version", Bencode::Int(FORMAT_VERSION)),
        ("info-hash", Bencode::bytes(state.info_hash)),
        ("root", Bencode::bytes(&state.root)),
        ("pieces", Bencode::Int(i64::from(state.have.len()))),
        ("have", Bencode::bytes(state.have.as_bytes())),
        ("files", Bencode::List(files)),
        ("uploaded", Bencode::Int(clamp(state.uploaded))),
        ("downloaded", Bencode::Int(clamp(state.downloaded))),
        ("clean", Bencode::Int(i64::from(state.clean))),
    ])
    .encode();
    let sum: [u8; 20] = Sha1::digest(&inner).into();
    // Built by hand so `state` is the exact bytes the checksum covers (keys in sorted order).
    let mut out = Vec::with_capacity(inner.len() + 48);
    out.extend_from_slice(b"d8:checksum20:");
    out.extend_from_slice(&sum);
    out.extend_from_slice(b"5:state");
    out.extend_from_slice(&inner);
    out.push(b'e');
    out
}

/// Bencode integers are signed; byte counts past 2^63 do not happen, but must not wrap.
fn clamp(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Parses resume bytes, refusing damaged, truncated or foreign-format input.
pub fn decode(bytes: &[u8]) -> Result<ResumeState, ResumeError> {
    if bytes.len() > MAX_STATE_BYTES {
        return Err(ResumeError::TooLarge(bytes.len()));
    }
    let outer = bencode::decode(bytes).map_err(ResumeError::Bencode)?;
    let sum = outer
        .get("checksum")
        .and_then(Value::as_bytes)
        .ok_or(ResumeError::Field("checksum"))?;
    let state = outer.get("state").ok_or(ResumeError::Field("state"))?;
    if Sha1::digest(state.raw)[..] != *sum {
        return Err(ResumeError::Checksum);
    }
    let version = int(state, "version")?;
    if version != FORMAT_VERSION {
        return Err(ResumeError::Version(version));
    }
    let info_hash: [u8; 20] = state
        .get("info-hash")
        .and_then(Value::as_bytes)
        .and_then(|b| b.try_into().ok())
        .ok_or(ResumeError::Field("info-hash"))?;
    let root = state
        .get("root")
        .and_then(Value::as_bytes)
        .ok_or(ResumeError::Field("root"))?
        .to_vec();
    let pieces = u32::try_from(int(state, "pieces")?).map_err(|_| ResumeError::Field("pieces"))?;
    let have = state
        .get("have")
        .and_then(Value::as_bytes)
        .and_then(|b| Bitfield::from_bytes(b, pieces).ok())
        .ok_or(ResumeError::Field("have"))?;
    let files = state
        .get("files")
        .and_then(Value::as_list)
        .ok_or(ResumeError::Field("files"))?
        .iter()
        .map(stamp)
        .collect::<Option<Vec<_>>>()
        .ok_or(ResumeError::Field("files"))?;
    Ok(ResumeState {
        info_hash,
        root,
        have,
        files,
        uploaded: count(state, "uploaded")?,
        downloaded: count(state, "downloaded")?,
        clean: match int(state, "clean")? {
            0 => false,
            1 => true,
            _ => return Err(ResumeError::Field("clean")),
        },
    })
}

fn int(dict: &Value<'_>, key: &'static str) -> Result<i64, ResumeError> {
    dict.get(key)
        .and_then(Value::as_int)
        .ok_or(ResumeError::Field(key))
}

fn count(dict: &Value<'_>, key: &'static str) -> Result<u64, ResumeError> {
    u64::try_from(int(dict, key)?).map_err(|_| ResumeError::Field(key))
}

/// `[size, seconds, nanoseconds]`.
fn stamp(v: &Value<'_>) -> Option<FileStamp> {
    match v.as_list()? {
        [size, sec, nsec] => Some(FileStamp {
            size: u64::try_from(size.as_int()?).ok()?,
            mtime_sec: sec.as_int()?,
            mtime_nsec: u32::try_from(nsec.as_int()?)
                .ok()
                .filter(|n| *n < 1_000_000_000)?,
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ResumeState {
        let mut have = Bitfield::new(11);
        for p in [0, 3, 10] {
            have.set(p);
        }
        ResumeState {
            info_hash: [7; 20],
            root: b"/data/dl".to_vec(),
            have,
            files: vec![
                FileStamp {
                    size: 1 << 40,
                    mtime_sec: 1_700_000_000,
                    mtime_nsec: 999_999_999,
                },
                FileStamp {
                    size: 0,
                    mtime_sec: -5,
                    mtime_nsec: 0,
                },
            ],
            uploaded: 123,
            downloaded: u64::from(u32::MAX) + 9,
            clean: true,
        }
    }

    #[test]
    fn bytes_round_trip() {
        let s = sample();
        let bytes = encode(&s);
        assert_eq!(decode(&bytes), Ok(s.clone()));
        // Deterministic: the same state is the same bytes.
        assert_eq!(encode(&s), bytes);
        let empty = ResumeState {
            have: Bitfield::new(0),
            files: vec![],
            ..s
        };
        assert_eq!(decode(&encode(&empty)), Ok(empty));
    }

    #[test]
    fn every_flipped_byte_and_every_truncation_is_refused() {
        let bytes = encode(&sample());
        for i in 0..bytes.len() {
            for bit in [0x01, 0x80] {
                let mut b = bytes.clone();
                b[i] ^= bit;
                assert!(decode(&b).is_err(), "flip at {i} accepted");
            }
            assert!(decode(&bytes[..i]).is_err(), "prefix of {i} accepted");
        }
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        assert!(matches!(decode(b""), Err(ResumeError::Bencode(_))));
        assert!(matches!(decode(b"de"), Err(ResumeError::Field("checksum"))));
        assert!(matches!(decode(b"i1e"), Err(ResumeError::Field(_))));
        let too_big = vec![b'x'; MAX_STATE_BYTES + 1];
        assert!(matches!(decode(&too_big), Err(ResumeError::TooLarge(_))));
    }

    /// Re-signs a hand-made state, so the checks behind the checksum can be reached.
    fn signed(inner: &[u8]) -> Vec<u8> {
        let mut out = b"d8:checksum20:".to_vec();
        out.extend_from_slice(&Sha1::digest(inner));
        out.extend_from_slice(b"5:state");
        out.extend_from_slice(inner);
        out.push(b'e');
        out
    }

    /// The bencoded state of `sample()` with `key` set to `value`.
    fn inner_with(key: &str, value: Bencode) -> Vec<u8> {
        let bytes = encode(&sample());
        let outer = bencode::decode(&bytes).unwrap();
        let Bencode::Dict(mut d) = outer.get("state").unwrap().to_owned_value() else {
            unreachable!()
        };
        d.insert(key.as_bytes().to_vec(), value);
        Bencode::Dict(d).encode()
    }

    #[test]
    fn fields_are_checked_behind_a_valid_checksum() {
        assert_eq!(
            decode(&signed(&inner_with("version", Bencode::Int(2)))),
            Err(ResumeError::Version(2))
        );
        let stamp = |n: i64| {
            Bencode::List(vec![Bencode::List(vec![
                Bencode::Int(1),
                Bencode::Int(2),
                Bencode::Int(n),
            ])])
        };
        assert!(decode(&signed(&inner_with("files", stamp(999_999_999)))).is_ok());
        let cases = [
            ("have", Bencode::bytes([0x90, 0x21])), // a bit past piece 10
            ("have", Bencode::bytes([0x90])),       // too short
            ("uploaded", Bencode::Int(-1)),
            ("pieces", Bencode::Int(-11)),
            ("info-hash", Bencode::bytes([1; 19])),
            ("files", stamp(1_000_000_000)),
            ("files", Bencode::Int(3)),
            ("root", Bencode::Int(3)),
            ("clean", Bencode::Int(2)),
        ];
        for (field, value) in cases {
            let bad = signed(&inner_with(field, value));
            assert_eq!(decode(&bad), Err(ResumeError::Field(field)), "{field}");
        }
    }
}
