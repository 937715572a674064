//! BEP 9 `ut_metadata` messages: request, data and reject.
//!
//! Pure data, used on the reactor thread. A data message is a bencoded dictionary followed by the
//! raw piece bytes, so it is read with [`crate::bencode::decode_prefix`]; the piece borrows the
//! caller's buffer. Only the message's own shape is checked here (types, ranges, at most one
//! metadata piece of data); whether a piece fits the metadata being fetched is
//! [`super::metadata_fetch::MetadataFetch`]'s job.

use std::fmt;

use crate::bencode::{self, Bencode, BencodeError, Value};

/// Bytes in every metadata piece but the last (BEP 9).
pub const METADATA_PIECE_LEN: u32 = 16 * 1024;

const MSG_REQUEST: i64 = 0;
const MSG_DATA: i64 = 1;
const MSG_REJECT: i64 = 2;

/// One `ut_metadata` message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetadataMsg<'a> {
    /// "Send me piece `piece`."
    Request {
        /// Metadata piece index.
        piece: u32,
    },
    /// One piece of the info dictionary.
    Data {
        /// Metadata piece index.
        piece: u32,
        /// Size of the whole info dictionary, as the sender claims.
        total_size: u32,
        /// The piece's bytes (at most [`METADATA_PIECE_LEN`]).
        data: &'a [u8],
    },
    /// "I will not send you piece `piece`."
    Reject {
        /// Metadata piece index.
        piece: u32,
    },
}

/// Why a `ut_metadata` payload was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetadataMsgError {
    /// The dictionary is not valid bencode.
    Bencode(BencodeError),
    /// A required key is missing or not a fitting integer.
    MissingField(&'static str),
    /// A `msg_type` BEP 9 does not define; BEP 9 says to ignore such messages.
    UnknownType(i64),
    /// A data message carries more than one metadata piece.
    DataTooLong {
        /// Bytes after the dictionary.
        len: usize,
    },
    /// A request or reject has bytes after its dictionary.
    TrailingData,
}

impl fmt::Display for MetadataMsgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetadataMsgError::Bencode(e) => write!(f, "ut_metadata: {e}"),
            MetadataMsgError::MissingField(k) => {
                write!(f, "ut_metadata: `{k}` is missing or out of range")
            }
            MetadataMsgError::UnknownType(t) => write!(f, "ut_metadata: unknown msg_type {t}"),
            MetadataMsgError::DataTooLong { len } => write!(
                f,
                "ut_metadata: data of {len} bytes exceeds one {METADATA_PIECE_LEN}-byte piece"
            ),
            MetadataMsgError::TrailingData => {
                f.write_str("ut_metadata: request or reject has trailing bytes")
            }
        }
    }
}

impl std::error::Error for MetadataMsgError {}

fn u32_field(dict: &Value<'_>, key: &'static str) -> Result<u32, MetadataMsgError> {
    dict.get(key)
        .and_then(Value::as_int)
        .and_then(|n| u32::try_from(n).ok())
        .ok_or(MetadataMsgError::MissingField(key))
}

impl<'a> MetadataMsg<'a> {
    /// Decodes a payload (the bytes after the extended message id).
    pub fn decode(payload: &'a [u8]) -> Result<MetadataMsg<'a>, MetadataMsgError> {
        let (dict, used) = bencode::decode_prefix(payload).map_err(MetadataMsgError::Bencode)?;
        let kind = dict
            .get("msg_type")
            .and_then(Value::as_int)
            .ok_or(MetadataMsgError::MissingField("msg_type"))?;
        let piece = u32_field(&dict, "piece")?;
        let rest = payload.get(used..).unwrap_or(&[]);
        match kind {
            MSG_DATA => {
                let total_size = u32_field(&dict, "total_size")?;
                if rest.len() > METADATA_PIECE_LEN as usize {
                    return Err(MetadataMsgError::DataTooLong { len: rest.len() });
                }
                Ok(MetadataMsg::Data {
                    piece,
                    total_size,
                    data: rest,
                })
            }
            MSG_REQUEST | MSG_REJECT if !rest.is_empty() => Err(MetadataMsgError::TrailingData),
            MSG_REQUEST => Ok(MetadataMsg::Request { piece }),
            MSG_REJECT => Ok(MetadataMsg::Reject { piece }),
            other => Err(MetadataMsgError::UnknownType(other)),
        }
    }

    /// Appends the payload (dictionary, then the data for a data message) to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let (kind, piece) = match *self {
            MetadataMsg::Request { piece } => (MSG_REQUEST, piece),
            MetadataMsg::Data { piece, .. } => (MSG_DATA, piece),
            MetadataMsg::Reject { piece } => (MSG_REJECT, piece),
        };
        let mut dict = vec![
            ("msg_type", Bencode::Int(kind)),
            ("piece", Bencode::Int(i64::from(piece))),
        ];
        if let MetadataMsg::Data { total_size, .. } = *self {
            dict.push(("total_size", Bencode::Int(i64::from(total_size))));
        }
        Bencode::dict(dict).encode_into(out);
        if let MetadataMsg::Data { data, .. } = *self {
            out.extend_from_slice(data);
        }
    }
}

/// Number of metadata pieces for an info dictionary of `total_size` bytes.
pub fn piece_count(total_size: u32) -> u32 {
    total_size.div_ceil(METADATA_PIECE_LEN)
}

/// Exact length of metadata piece `piece`: 16 KiB, except a shorter last piece. `None` when
/// the piece is out of range.
pub fn piece_len(total_size: u32, piece: u32) -> Option<u32> {
    let start = piece.checked_mul(METADATA_PIECE_LEN)?;
    if start >= total_size {
        return None;
    }
    Some((total_size - start).min(METADATA_PIECE_LEN))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(m: &MetadataMsg<'_>) -> Vec<u8> {
        let mut v = Vec::new();
        m.encode(&mut v);
        v
    }

    #[test]
    fn exact_bytes_for_each_message() {
        let cases: [(MetadataMsg<'static>, &[u8]); 3] = [
            (
                MetadataMsg::Request { piece: 0 },
                b"d8:msg_typei0e5:piecei0ee",
            ),
            (
                MetadataMsg::Data {
                    piece: 1,
                    total_size: 16390,
                    data: b"RAW\x00",
                },
                b"d8:msg_typei1e5:piecei1e10:total_sizei16390eeRAW\x00",
            ),
            (
                MetadataMsg::Reject { piece: 7 },
                b"d8:msg_typei2e5:piecei7ee",
            ),
        ];
        for (msg, bytes) in cases {
            assert_eq!(enc(&msg), bytes);
            assert_eq!(MetadataMsg::decode(bytes), Ok(msg));
        }
    }

    #[test]
    fn raw_data_that_looks_like_bencode_stays_data() {
        let p = b"d8:msg_typei1e5:piecei0e10:total_sizei5eed1:ae";
        assert_eq!(
            MetadataMsg::decode(p),
            Ok(MetadataMsg::Data {
                piece: 0,
                total_size: 5,
                data: b"d1:ae"
            })
        );
    }

    #[test]
    fn malformed_messages_are_typed_errors() {
        let too_long = {
            let mut p = b"d8:msg_typei1e5:piecei0e10:total_sizei99999ee".to_vec();
            p.extend(std::iter::repeat(0).take(16385));
            p
        };
        let cases: [(&[u8], MetadataMsgError); 7] = [
            (b"d5:piecei0ee", MetadataMsgError::MissingField("msg_type")),
            (b"d8:msg_typei0ee", MetadataMsgError::MissingField("piece")),
            (
                b"d8:msg_typei0e5:piecei-1ee",
                MetadataMsgError::MissingField("piece"),
            ),
            (
                b"d8:msg_typei1e5:piecei0ee",
                MetadataMsgError::MissingField("total_size"),
            ),
            (
                b"d8:msg_typei1e5:piecei0e10:total_sizei-5ee",
                MetadataMsgError::MissingField("total_size"),
            ),
            (
                b"d8:msg_typei9e5:piecei0ee",
                MetadataMsgError::UnknownType(9),
            ),
            (
                b"d8:msg_typei0e5:piecei0eeX",
                MetadataMsgError::TrailingData,
            ),
        ];
        for (p, e) in cases {
            assert_eq!(
                MetadataMsg::decode(p),
                Err(e),
                "{}",
                String::from_utf8_lossy(p)
            );
        }
        assert_eq!(
            MetadataMsg::decode(&too_long),
            Err(MetadataMsgError::DataTooLong { len: 16385 })
        );
        assert!(matches!(
            MetadataMsg::decode(b"d8:msg"),
            Err(MetadataMsgError::Bencode(_))
        ));
    }

    #[test]
    fn piece_arithmetic() {
        assert_eq!(piece_count(1), 1);
        assert_eq!(piece_count(16384), 1);
        assert_eq!(piece_count(16385), 2);
        assert_eq!(piece_len(16385, 0), Some(16384));
        assert_eq!(piece_len(16385, 1), Some(1));
        assert_eq!(piece_len(16385, 2), None);
        assert_eq!(piece_len(16384, 1), None);
        assert_eq!(piece_len(u32::MAX, u32::MAX), None);
    }
}
