//! Bencode (BEP 3): a zero-copy, depth-limited decoder and a canonical encoder.
//!
//! Pure data, used by metainfo, tracker responses and extension messages, so it runs on its
//! caller's thread: the caller of `Session::add` (metainfo), a tracker announce thread (responses),
//! the reactor thread (extension and KRPC messages, a magnet's metadata), a disk pool worker
//! (resume state). Every decoded value keeps the exact input bytes it came from (`raw`), so the
//! info-hash is SHA-1 of the `info` dictionary as the file spelled it, even when the file's keys
//! are unsorted. Decoding never panics, never recurses deeper than [`MAX_DEPTH`] (a remote peer can
//! send `llll…`), and refuses integers that do not fit `i64` instead of wrapping.

use std::collections::BTreeMap;
use std::fmt;

/// Deepest nesting of lists and dictionaries accepted; real torrents use 4 or 5 levels.
pub const MAX_DEPTH: usize = 64;

/// Most values in one input. Each decoded value costs about 48 bytes while input can spend 2
/// bytes on one, so without a budget a 64 MiB file of `0:` strings would take 1.6 GB.
pub const MAX_VALUES: usize = 4_000_000;

/// One decoded value borrowing from the input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Value<'a> {
    /// The exact input bytes this value was decoded from.
    pub raw: &'a [u8],
    /// What the value is.
    pub kind: Kind<'a>,
}

/// The four bencode types.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind<'a> {
    /// `i…e`
    Int(i64),
    /// `N:…`
    Bytes(&'a [u8]),
    /// `l…e`
    List(Vec<Value<'a>>),
    /// `d…e`, entries in input order (input order may be unsorted; keys are unique).
    Dict(Vec<(&'a [u8], Value<'a>)>),
}

/// Why input is not valid bencode. `pos` is the byte offset where the problem was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BencodeError {
    /// Input ended inside a value.
    UnexpectedEof,
    /// A byte that cannot start or continue a value here.
    InvalidByte {
        /// Offset of the byte.
        pos: usize,
    },
    /// An integer with leading zeros, `-0`, or no digits.
    BadInteger {
        /// Offset of the integer.
        pos: usize,
    },
    /// An integer or string length that does not fit in 64 bits.
    Overflow {
        /// Offset of the number.
        pos: usize,
    },
    /// Nesting deeper than 64.
    TooDeep {
        /// Offset of the container that went too deep.
        pos: usize,
    },
    /// A dictionary key that is not a byte string.
    KeyNotString {
        /// Offset of the key.
        pos: usize,
    },
    /// The same key twice in one dictionary.
    DuplicateKey {
        /// Offset of the dictionary.
        pos: usize,
    },
    /// More than 4,000,000 values.
    TooManyValues {
        /// Offset where the budget ran out.
        pos: usize,
    },
    /// Bytes left over after the top-level value.
    TrailingData {
        /// Offset of the first extra byte.
        pos: usize,
    },
}

impl fmt::Display for BencodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BencodeError::UnexpectedEof => {
                write!(f, "bencode: input ends in the middle of a value")
            }
            BencodeError::InvalidByte { pos } => {
                write!(f, "bencode: unexpected byte at offset {pos}")
            }
            BencodeError::BadInteger { pos } => {
                write!(f, "bencode: malformed integer at offset {pos}")
            }
            BencodeError::Overflow { pos } => {
                write!(f, "bencode: number too large at offset {pos}")
            }
            BencodeError::TooDeep { pos } => {
                write!(
                    f,
                    "bencode: nesting deeper than {MAX_DEPTH} at offset {pos}"
                )
            }
            BencodeError::KeyNotString { pos } => {
                write!(f, "bencode: dictionary key is not a string at offset {pos}")
            }
            BencodeError::DuplicateKey { pos } => {
                write!(f, "bencode: duplicate key in dictionary at offset {pos}")
            }
            BencodeError::TooManyValues { pos } => {
                write!(
                    f,
                    "bencode: more than {MAX_VALUES} values (at offset {pos})"
                )
            }
            BencodeError::TrailingData { pos } => {
                write!(f, "bencode: extra bytes after the value at offset {pos}")
            }
        }
    }
}

impl std::error::Error for BencodeError {}

/// Decodes exactly one value that spans the whole input.
pub fn decode(input: &[u8]) -> Result<Value<'_>, BencodeError> {
    let (value, used) = decode_prefix(input)?;
    if used != input.len() {
        return Err(BencodeError::TrailingData { pos: used });
    }
    Ok(value)
}

/// Decodes one value from the front of `input`; returns it and how many bytes it used.
/// Extension messages (BEP 9) put raw data after a bencoded header, hence this form.
pub fn decode_prefix(input: &[u8]) -> Result<(Value<'_>, usize), BencodeError> {
    let mut d = Decoder {
        buf: input,
        pos: 0,
        values: 0,
    };
    let v = d.value(0)?;
    Ok((v, d.pos))
}

struct Decoder<'a> {
    buf: &'a [u8],
    pos: usize,
    values: usize,
}

impl<'a> Decoder<'a> {
    fn peek(&self) -> Result<u8, BencodeError> {
        self.buf
            .get(self.pos)
            .copied()
            .ok_or(BencodeError::UnexpectedEof)
    }

    fn value(&mut self, depth: usize) -> Result<Value<'a>, BencodeError> {
        let start = self.pos;
        self.values += 1;
        if self.values > MAX_VALUES {
            return Err(BencodeError::TooManyValues { pos: start });
        }
        let kind = match self.peek()? {
            b'i' => Kind::Int(self.int()?),
            b'0'..=b'9' => Kind::Bytes(self.bytes()?),
            b'l' | b'd' if depth >= MAX_DEPTH => return Err(BencodeError::TooDeep { pos: start }),
            b'l' => Kind::List(self.list(depth)?),
            b'd' => Kind::Dict(self.dict(depth)?),
            _ => return Err(BencodeError::InvalidByte { pos: start }),
        };
        Ok(Value {
            raw: &self.buf[start..self.pos],
            kind,
        })
    }

    /// Parses ASCII digits (with an optional '-') up to `end`; refuses leading zeros and `-0`.
    fn number(&mut self, end: u8, allow_negative: bool) -> Result<i64, BencodeError> {
        let start = self.pos;
        let negative = allow_negative && self.peek()? == b'-';
        if negative {
            self.pos += 1;
        }
        let digits_start = self.pos;
        let mut n: i64 = 0;
        loop {
            let c = self.peek()?;
            if c == end {
                break;
            }
            if !c.is_ascii_digit() {
                return Err(BencodeError::InvalidByte { pos: self.pos });
            }
            let digit = i64::from(c - b'0');
            // Accumulate negatively so i64::MIN parses without overflow.
            n = n
                .checked_mul(10)
                .and_then(|n| n.checked_sub(digit))
                .ok_or(BencodeError::Overflow { pos: start })?;
            self.pos += 1;
        }
        let digits = &self.buf[digits_start..self.pos];
        let bad = digits.is_empty()
            || (digits.len() > 1 && digits[0] == b'0')
            || (negative && digits == b"0");
        if bad {
            return Err(BencodeError::BadInteger { pos: start });
        }
        self.pos += 1; // the terminator
        if negative {
            Ok(n)
        } else {
            n.checked_neg().ok_or(BencodeError::Overflow { pos: start })
        }
    }

    fn int(&mut self) -> Result<i64, BencodeError> {
        self.pos += 1; // 'i'
        self.number(b'e', true)
    }

    fn bytes(&mut self) -> Result<&'a [u8], BencodeError> {
        let start = self.pos;
        let len = self.number(b':', false)?;
        let len = usize::try_from(len).map_err(|_| BencodeError::Overflow { pos: start })?;
        let end = self
            .pos
            .checked_add(len)
            .ok_or(BencodeError::Overflow { pos: start })?;
        if end > self.buf.len() {
            return Err(BencodeError::UnexpectedEof);
        }
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn list(&mut self, depth: usize) -> Result<Vec<Value<'a>>, BencodeError> {
        self.pos += 1; // 'l'
        let mut items = Vec::new();
        while self.peek()? != b'e' {
            items.push(self.value(depth + 1)?);
        }
        self.pos += 1;
        Ok(items)
    }

    fn dict(&mut self, depth: usize) -> Result<Vec<(&'a [u8], Value<'a>)>, BencodeError> {
        let start = self.pos;
        self.pos += 1; // 'd'
        let mut entries: Vec<(&'a [u8], Value<'a>)> = Vec::new();
        let mut sorted = true;
        while self.peek()? != b'e' {
            if !self.peek()?.is_ascii_digit() {
                return Err(BencodeError::KeyNotString { pos: self.pos });
            }
            let key = self.bytes()?;
            let value = self.value(depth + 1)?;
            if let Some((last, _)) = entries.last() {
                sorted &= *last < key;
            }
            entries.push((key, value));
        }
        self.pos += 1;
        // Unsorted dictionaries are accepted (as mainstream clients do), but a repeated key is
        // ambiguous, so look for one only when order alone does not rule it out.
        if !sorted {
            let mut keys: Vec<&[u8]> = entries.iter().map(|(k, _)| *k).collect();
            keys.sort_unstable();
            if keys.windows(2).any(|w| w[0] == w[1]) {
                return Err(BencodeError::DuplicateKey { pos: start });
            }
        }
        Ok(entries)
    }
}

impl<'a> Value<'a> {
    /// The entry `key` of a dictionary; `None` for other types or a missing key.
    pub fn get(&self, key: &str) -> Option<&Value<'a>> {
        match &self.kind {
            Kind::Dict(entries) => entries
                .iter()
                .find(|(k, _)| *k == key.as_bytes())
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// The integer, if this is one.
    pub fn as_int(&self) -> Option<i64> {
        match self.kind {
            Kind::Int(n) => Some(n),
            _ => None,
        }
    }

    /// The byte string, if this is one.
    pub fn as_bytes(&self) -> Option<&'a [u8]> {
        match self.kind {
            Kind::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// The byte string as UTF-8, if this is a valid UTF-8 string.
    pub fn as_str(&self) -> Option<&'a str> {
        self.as_bytes().and_then(|b| std::str::from_utf8(b).ok())
    }

    /// The items, if this is a list.
    pub fn as_list(&self) -> Option<&[Value<'a>]> {
        match &self.kind {
            Kind::List(items) => Some(items),
            _ => None,
        }
    }

    /// The entries, if this is a dictionary.
    pub fn as_dict(&self) -> Option<&[(&'a [u8], Value<'a>)]> {
        match &self.kind {
            Kind::Dict(entries) => Some(entries),
            _ => None,
        }
    }

    /// An owned copy, for building or re-encoding.
    #[cfg(any(test, feature = "internals"))]
    pub fn to_owned_value(&self) -> Bencode {
        match &self.kind {
            Kind::Int(n) => Bencode::Int(*n),
            Kind::Bytes(b) => Bencode::Bytes(b.to_vec()),
            Kind::List(items) => Bencode::List(items.iter().map(Value::to_owned_value).collect()),
            Kind::Dict(entries) => Bencode::Dict(
                entries
                    .iter()
                    .map(|(k, v)| (k.to_vec(), v.to_owned_value()))
                    .collect(),
            ),
        }
    }
}

/// An owned value for building messages; encodes canonically (dictionary keys sorted).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Bencode {
    /// An integer.
    Int(i64),
    /// A byte string.
    Bytes(Vec<u8>),
    /// A list.
    List(Vec<Bencode>),
    /// A dictionary; the map keeps keys sorted, as the canonical form requires.
    Dict(BTreeMap<Vec<u8>, Bencode>),
}

impl Bencode {
    /// A byte string from anything byte-like.
    pub fn bytes(b: impl AsRef<[u8]>) -> Bencode {
        Bencode::Bytes(b.as_ref().to_vec())
    }

    /// A dictionary from `(key, value)` pairs.
    pub fn dict<K: AsRef<[u8]>>(entries: impl IntoIterator<Item = (K, Bencode)>) -> Bencode {
        Bencode::Dict(
            entries
                .into_iter()
                .map(|(k, v)| (k.as_ref().to_vec(), v))
                .collect(),
        )
    }

    /// Appends the canonical encoding to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            Bencode::Int(n) => {
                out.push(b'i');
                out.extend_from_slice(n.to_string().as_bytes());
                out.push(b'e');
            }
            Bencode::Bytes(b) => encode_bytes(b, out),
            Bencode::List(items) => {
                out.push(b'l');
                items.iter().for_each(|v| v.encode_into(out));
                out.push(b'e');
            }
            Bencode::Dict(entries) => {
                out.push(b'd');
                for (k, v) in entries {
                    encode_bytes(k, out);
                    v.encode_into(out);
                }
                out.push(b'e');
            }
        }
    }

    /// The canonical encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }
}

fn encode_bytes(b: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(b.len().to_string().as_bytes());
    out.push(b':');
    out.extend_from_slice(b);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_each_type_with_raw_spans() {
        let v = decode(b"d3:cow3:moo4:spaml1:ai-42eee").unwrap();
        assert_eq!(v.get("cow").unwrap().as_bytes(), Some(&b"moo"[..]));
        let spam = v.get("spam").unwrap();
        assert_eq!(spam.raw, b"l1:ai-42ee");
        assert_eq!(spam.as_list().unwrap()[1].as_int(), Some(-42));
        assert_eq!(v.raw.len(), 28);
    }

    #[test]
    fn integer_edges() {
        assert_eq!(decode(b"i0e").unwrap().as_int(), Some(0));
        assert_eq!(
            decode(b"i9223372036854775807e").unwrap().as_int(),
            Some(i64::MAX)
        );
        assert_eq!(
            decode(b"i-9223372036854775808e").unwrap().as_int(),
            Some(i64::MIN)
        );
        assert_eq!(
            decode(b"i9223372036854775808e"),
            Err(BencodeError::Overflow { pos: 1 })
        );
        assert_eq!(
            decode(b"i99999999999999999999999e"),
            Err(BencodeError::Overflow { pos: 1 })
        );
        assert_eq!(decode(b"i-0e"), Err(BencodeError::BadInteger { pos: 1 }));
        assert_eq!(decode(b"i03e"), Err(BencodeError::BadInteger { pos: 1 }));
        assert_eq!(decode(b"ie"), Err(BencodeError::BadInteger { pos: 1 }));
        assert_eq!(decode(b"i1x2e"), Err(BencodeError::InvalidByte { pos: 2 }));
    }

    #[test]
    fn string_length_overflow_and_truncation() {
        assert_eq!(
            decode(b"99999999999999999999:a"),
            Err(BencodeError::Overflow { pos: 0 })
        );
        assert_eq!(decode(b"5:abc"), Err(BencodeError::UnexpectedEof));
        assert_eq!(
            decode(b"05:abcde"),
            Err(BencodeError::BadInteger { pos: 0 })
        );
        assert_eq!(
            decode(b"9223372036854775807:x"),
            Err(BencodeError::UnexpectedEof)
        );
    }

    #[test]
    fn every_truncation_is_an_error() {
        let full = b"d4:infod6:lengthi5e4:name1:xe5:listsl1:a1:bee";
        assert!(decode(full).is_ok());
        for cut in 0..full.len() {
            assert!(decode(&full[..cut]).is_err(), "prefix of {cut} bytes");
        }
    }

    #[test]
    fn nesting_bomb_is_refused_without_recursion_blowup() {
        let mut bomb = vec![b'l'; 1_000_000];
        bomb.extend(std::iter::repeat(b'e').take(1_000_000));
        assert_eq!(decode(&bomb), Err(BencodeError::TooDeep { pos: MAX_DEPTH }));
        let mut ok = vec![b'l'; MAX_DEPTH];
        ok.extend(std::iter::repeat(b'e').take(MAX_DEPTH));
        assert!(decode(&ok).is_ok());
    }

    #[test]
    fn value_budget_bounds_memory() {
        let mut many = b"l".to_vec();
        for _ in 0..MAX_VALUES {
            many.extend_from_slice(b"0:");
        }
        many.push(b'e');
        assert_eq!(
            decode(&many),
            Err(BencodeError::TooManyValues {
                pos: 1 + 2 * (MAX_VALUES - 1)
            })
        );
    }

    #[test]
    fn unsorted_keys_accepted_duplicates_refused() {
        let v = decode(b"d1:bi1e1:ai2ee").unwrap();
        assert_eq!(v.get("a").unwrap().as_int(), Some(2));
        assert_eq!(
            decode(b"d1:ai1e1:bi2e1:ai3ee"),
            Err(BencodeError::DuplicateKey { pos: 0 })
        );
        assert_eq!(
            decode(b"di1e1:ae"),
            Err(BencodeError::KeyNotString { pos: 1 })
        );
    }

    #[test]
    fn trailing_and_invalid_bytes() {
        assert_eq!(
            decode(b"i1ei2e"),
            Err(BencodeError::TrailingData { pos: 3 })
        );
        assert_eq!(decode(b"x"), Err(BencodeError::InvalidByte { pos: 0 }));
        assert_eq!(decode(b""), Err(BencodeError::UnexpectedEof));
        let (v, used) = decode_prefix(b"d1:ai1eeRAW").unwrap();
        assert_eq!(used, 8);
        assert_eq!(v.get("a").unwrap().as_int(), Some(1));
    }

    #[test]
    fn canonical_encoding_sorts_keys_and_round_trips() {
        let v = decode(b"d1:bi1e1:al0:i-3eee").unwrap();
        let enc = v.to_owned_value().encode();
        assert_eq!(enc, b"d1:al0:i-3ee1:bi1ee");
        assert_eq!(decode(&enc).unwrap().to_owned_value(), v.to_owned_value());
        let built = Bencode::dict([("z", Bencode::Int(1)), ("a", Bencode::bytes("hi"))]);
        assert_eq!(built.encode(), b"d1:a2:hi1:zi1ee");
    }
}
