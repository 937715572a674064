//! The peer wire codec of BEP 3: the 68-byte handshake and the length-prefixed messages that
//! follow it, the BEP 6 Fast-extension messages, and pass-through of BEP 5 `port` and BEP 10
//! `extended` frames.
//!
//! Sans-IO: this module turns bytes into [`Message`]s and back, nothing else. It owns no socket,
//! file, thread or clock, and keeps no per-connection state; the reactor owns the read buffer, and
//! the engine (on the reactor thread) calls [`decode_frame`] on whatever has been read so far.
//!
//! It must not: allocate on decode (messages borrow the caller's buffer), buffer or wait for a
//! frame whose length prefix is already known to be too large or impossible for its id, panic on
//! any input, or judge message *meaning* (whether a block is valid for the torrent, whether a
//! bitfield has the right size): that belongs to the layers that know the torrent.

use std::fmt;

/// The protocol string every BEP 3 handshake carries after its length byte.
pub const PROTOCOL: &[u8; 19] = b"BitTorrent protocol";

/// Bytes in a handshake: length byte, protocol string, 8 reserved bytes, info-hash, peer id.
pub const HANDSHAKE_LEN: usize = 68;

/// Default largest frame payload (the value of the length prefix) we accept: 1 MiB + 13.
///
/// A block message needs only 16 KiB + 9, but a `bitfield` for a huge torrent does not fit in
/// that: 1 MiB of bitfield covers 8,388,608 pieces, more than any real torrent. The extra 13
/// bytes leave room for a message header, so a 1 MiB block (which some clients send when asked)
/// still fits. Anything larger is a broken or hostile peer and is refused before buffering.
#[cfg(any(test, feature = "internals"))]
pub const DEFAULT_MAX_FRAME: u32 = 1024 * 1024 + 13;

const ID_CHOKE: u8 = 0;
const ID_UNCHOKE: u8 = 1;
const ID_INTERESTED: u8 = 2;
const ID_NOT_INTERESTED: u8 = 3;
const ID_HAVE: u8 = 4;
const ID_BITFIELD: u8 = 5;
const ID_REQUEST: u8 = 6;
const ID_PIECE: u8 = 7;
const ID_CANCEL: u8 = 8;
const ID_PORT: u8 = 9;
const ID_SUGGEST_PIECE: u8 = 0x0d;
const ID_HAVE_ALL: u8 = 0x0e;
const ID_HAVE_NONE: u8 = 0x0f;
const ID_REJECT_REQUEST: u8 = 0x10;
const ID_ALLOWED_FAST: u8 = 0x11;
const ID_EXTENDED: u8 = 20;

/// The handshake's reserved-bit capabilities this crate knows about.
///
/// Only these three bits are read or written; every other reserved bit is left zero when
/// encoding and ignored when decoding (other clients use them for their own experiments).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Extensions {
    /// BEP 10 extension protocol: bit 0x10 of reserved byte 5.
    pub extension_protocol: bool,
    /// BEP 6 Fast extension: bit 0x04 of reserved byte 7.
    pub fast: bool,
    /// BEP 5 DHT (the peer accepts `port` messages): bit 0x01 of reserved byte 7.
    pub dht: bool,
}

impl Extensions {
    /// The 8 reserved bytes announcing exactly these capabilities.
    pub fn to_reserved(self) -> [u8; 8] {
        let mut r = [0u8; 8];
        if self.extension_protocol {
            r[5] |= 0x10;
        }
        if self.fast {
            r[7] |= 0x04;
        }
        if self.dht {
            r[7] |= 0x01;
        }
        r
    }

    /// The capabilities a peer's reserved bytes announce.
    pub fn from_reserved(r: &[u8; 8]) -> Extensions {
        Extensions {
            extension_protocol: r[5] & 0x10 != 0,
            fast: r[7] & 0x04 != 0,
            dht: r[7] & 0x01 != 0,
        }
    }

    /// What both sides support: an extension is on only when both set its bit.
    pub fn both(self, other: Extensions) -> Extensions {
        Extensions {
            extension_protocol: self.extension_protocol && other.extension_protocol,
            fast: self.fast && other.fast,
            dht: self.dht && other.dht,
        }
    }
}

/// Why bytes from a peer were refused. Every variant is fatal for the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WireError {
    /// The handshake's first byte is not 19.
    BadPstrLen {
        /// The length byte received.
        got: u8,
    },
    /// The handshake's protocol string is not `BitTorrent protocol`.
    BadProtocol,
    /// A frame's length prefix exceeds the configured maximum.
    FrameTooLarge {
        /// The length prefix received.
        len: u32,
        /// The maximum in force.
        max: u32,
    },
    /// A message's length is impossible for its id (e.g. a 6-byte `have`, a `choke` with payload).
    BadLength {
        /// The message id.
        id: u8,
        /// The length prefix received (id byte included).
        len: u32,
    },
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::BadPstrLen { got } => write!(f, "handshake length byte {got}, expected 19"),
            WireError::BadProtocol => f.write_str("handshake protocol string is not BitTorrent"),
            WireError::FrameTooLarge { len, max } => {
                write!(f, "frame of {len} bytes exceeds the maximum of {max}")
            }
            WireError::BadLength { id, len } => {
                write!(f, "message id {id} cannot have length {len}")
            }
        }
    }
}

impl std::error::Error for WireError {}

/// The BEP 3 handshake, the first 68 bytes each side sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Handshake {
    /// Extension bits (BEP 10 sets bit 0x10 of byte 5, BEP 5 bit 0x01 of byte 7).
    pub reserved: [u8; 8],
    /// SHA-1 of the torrent's info dictionary.
    pub info_hash: [u8; 20],
    /// The sender's peer id.
    pub peer_id: [u8; 20],
}

impl Handshake {
    /// Appends the 68 handshake bytes to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.reserve(HANDSHAKE_LEN);
        out.push(PROTOCOL.len() as u8);
        out.extend_from_slice(PROTOCOL);
        out.extend_from_slice(&self.reserved);
        out.extend_from_slice(&self.info_hash);
        out.extend_from_slice(&self.peer_id);
    }

    /// Decodes a handshake from the front of `buf`.
    ///
    /// `Ok(None)`: fewer than 68 bytes so far. The prefix already present is still checked, so a
    /// peer speaking another protocol is dropped after its first bytes, not after 68.
    pub fn decode(buf: &[u8]) -> Result<Option<Handshake>, WireError> {
        let Some(&pstrlen) = buf.first() else {
            return Ok(None);
        };
        if usize::from(pstrlen) != PROTOCOL.len() {
            return Err(WireError::BadPstrLen { got: pstrlen });
        }
        let proto_have = buf.get(1..).unwrap_or(&[]);
        let n = proto_have.len().min(PROTOCOL.len());
        if proto_have.get(..n) != PROTOCOL.get(..n) {
            return Err(WireError::BadProtocol);
        }
        let Some(rest) = buf.get(20..HANDSHAKE_LEN) else {
            return Ok(None);
        };
        let mut hs = Handshake {
            reserved: [0; 8],
            info_hash: [0; 20],
            peer_id: [0; 20],
        };
        let (reserved, ids) = rest.split_at(8);
        let (info_hash, peer_id) = ids.split_at(20);
        hs.reserved.copy_from_slice(reserved);
        hs.info_hash.copy_from_slice(info_hash);
        hs.peer_id.copy_from_slice(peer_id);
        Ok(Some(hs))
    }
}

/// One peer wire message. Variable-size payloads borrow the buffer they were decoded from.
///
/// BEP 6 messages decode whether or not the Fast extension was negotiated: BEP 6 says a peer that
/// sends them without it must be dropped, and only the caller knows what was negotiated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Message<'a> {
    /// A zero-length frame; keeps idle connections open.
    KeepAlive,
    /// The sender will not serve our requests.
    Choke,
    /// The sender will serve our requests.
    Unchoke,
    /// The sender wants pieces we have.
    Interested,
    /// The sender wants nothing from us.
    NotInterested,
    /// The sender now has a verified piece.
    Have {
        /// Piece index.
        index: u32,
    },
    /// The sender's pieces as raw wire bytes (validated against the torrent by the caller).
    Bitfield(&'a [u8]),
    /// The sender asks for a block.
    Request {
        /// Piece index.
        index: u32,
        /// Byte offset inside the piece.
        begin: u32,
        /// Bytes asked for.
        length: u32,
    },
    /// A block of data.
    Piece {
        /// Piece index.
        index: u32,
        /// Byte offset inside the piece.
        begin: u32,
        /// The block's bytes.
        data: &'a [u8],
    },
    /// The sender withdraws a request.
    Cancel {
        /// Piece index.
        index: u32,
        /// Byte offset inside the piece.
        begin: u32,
        /// Bytes that were asked for.
        length: u32,
    },
    /// BEP 5: the sender's DHT port. Parsed so it is not mistaken for garbage; we ignore it.
    Port(u16),
    /// BEP 6: "you might like to download this piece" (advisory).
    SuggestPiece {
        /// Piece index.
        index: u32,
    },
    /// BEP 6: the sender has every piece (replaces the bitfield).
    HaveAll,
    /// BEP 6: the sender has no piece (replaces the bitfield).
    HaveNone,
    /// BEP 6: the sender will not serve this request.
    RejectRequest {
        /// Piece index.
        index: u32,
        /// Byte offset inside the piece.
        begin: u32,
        /// Bytes that were asked for.
        length: u32,
    },
    /// BEP 6: the sender will serve requests for this piece even while choking us.
    AllowedFast {
        /// Piece index.
        index: u32,
    },
    /// BEP 10 extension message (wire id 20), passed through undecoded.
    Extended {
        /// Extension message id (0 is the extension handshake).
        id: u8,
        /// Bencoded payload and any trailing data.
        payload: &'a [u8],
    },
    /// A message id we do not know. Skipped rather than fatal, so newer peers still work with us.
    /// Encoding one with a known id produces that known message on the wire.
    Unknown {
        /// The message id.
        id: u8,
        /// Everything after the id byte.
        payload: &'a [u8],
    },
}

/// Length prefix for a payload we build ourselves. Payloads come from our own buffers, which
/// never approach 4 GiB, so saturating is only a guard against a silent wrap.
fn len_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn put_header(out: &mut Vec<u8>, len: u32, id: u8) {
    out.extend_from_slice(&len.to_be_bytes());
    out.push(id);
}

fn put_index(out: &mut Vec<u8>, id: u8, index: u32) {
    put_header(out, 5, id);
    out.extend_from_slice(&index.to_be_bytes());
}

fn put_triple(out: &mut Vec<u8>, id: u8, a: u32, b: u32, c: u32) {
    put_header(out, 13, id);
    out.extend_from_slice(&a.to_be_bytes());
    out.extend_from_slice(&b.to_be_bytes());
    out.extend_from_slice(&c.to_be_bytes());
}

impl Message<'_> {
    /// Appends the framed message (length prefix included) to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match *self {
            Message::KeepAlive => out.extend_from_slice(&0u32.to_be_bytes()),
            Message::Choke => put_header(out, 1, ID_CHOKE),
            Message::Unchoke => put_header(out, 1, ID_UNCHOKE),
            Message::Interested => put_header(out, 1, ID_INTERESTED),
            Message::NotInterested => put_header(out, 1, ID_NOT_INTERESTED),
            Message::Have { index } => put_index(out, ID_HAVE, index),
            Message::Bitfield(bits) => {
                put_header(out, len_u32(bits.len()).saturating_add(1), ID_BITFIELD);
                out.extend_from_slice(bits);
            }
            Message::Request {
                index,
                begin,
                length,
            } => put_triple(out, ID_REQUEST, index, begin, length),
            Message::Piece { index, begin, data } => {
                encode_piece_header(index, begin, len_u32(data.len()), out);
                out.extend_from_slice(data);
            }
            Message::Cancel {
                index,
                begin,
                length,
            } => put_triple(out, ID_CANCEL, index, begin, length),
            Message::Port(port) => {
                put_header(out, 3, ID_PORT);
                out.extend_from_slice(&port.to_be_bytes());
            }
            Message::SuggestPiece { index } => put_index(out, ID_SUGGEST_PIECE, index),
            Message::HaveAll => put_header(out, 1, ID_HAVE_ALL),
            Message::HaveNone => put_header(out, 1, ID_HAVE_NONE),
            Message::RejectRequest {
                index,
                begin,
                length,
            } => put_triple(out, ID_REJECT_REQUEST, index, begin, length),
            Message::AllowedFast { index } => put_index(out, ID_ALLOWED_FAST, index),
            Message::Extended { id, payload } => {
                put_header(out, len_u32(payload.len()).saturating_add(2), ID_EXTENDED);
                out.push(id);
                out.extend_from_slice(payload);
            }
            Message::Unknown { id, payload } => {
                put_header(out, len_u32(payload.len()).saturating_add(1), id);
                out.extend_from_slice(payload);
            }
        }
    }
}

/// Writes only the 13-byte header of a `piece` message carrying `len` data bytes, so the caller
/// can send the data itself from its own buffer (vectored / zero-copy sends).
pub fn encode_piece_header(index: u32, begin: u32, len: u32, out: &mut Vec<u8>) {
    put_header(out, len.saturating_add(9), ID_PIECE);
    out.extend_from_slice(&index.to_be_bytes());
    out.extend_from_slice(&begin.to_be_bytes());
}

/// Total bytes of the frame starting at `buf` (4 + length prefix) once 4 bytes are present, so
/// the reactor can size its next read. `None` with fewer than 4 bytes.
pub fn frame_len(buf: &[u8]) -> Option<usize> {
    let len = read_u32(buf, 0)?;
    usize::try_from(len).ok()?.checked_add(4)
}

fn read_u32(buf: &[u8], at: usize) -> Option<u32> {
    let bytes = buf.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes(bytes.try_into().ok()?))
}

/// Checks a frame length (id byte included) against what message `id` allows. Done as soon as
/// the id byte is in, so an impossible frame is refused before its body is waited for.
fn check_length(id: u8, len: u32) -> Result<(), WireError> {
    let ok = match id {
        ID_CHOKE | ID_UNCHOKE | ID_INTERESTED | ID_NOT_INTERESTED => len == 1,
        ID_HAVE_ALL | ID_HAVE_NONE => len == 1,
        ID_HAVE | ID_SUGGEST_PIECE | ID_ALLOWED_FAST => len == 5,
        ID_REQUEST | ID_CANCEL | ID_REJECT_REQUEST => len == 13,
        ID_PIECE => len >= 9,
        ID_PORT => len == 3,
        ID_EXTENDED => len >= 2,
        // Bitfield and unknown ids: any length (the id byte is already counted in `len >= 1`).
        _ => true,
    };
    if ok {
        Ok(())
    } else {
        Err(WireError::BadLength { id, len })
    }
}

/// Decodes one frame from the front of `buf`.
///
/// `Ok(None)`: more bytes are needed. `Ok(Some((msg, consumed)))`: `consumed` bytes form `msg`.
/// The length prefix is checked against `max_payload` as soon as its 4 bytes are in, and against
/// the message id as soon as the id byte is in, so an oversized or impossible frame is an error
/// long before its body would have been buffered. Fixed-size messages with any other length are
/// errors.
pub fn decode_frame(
    buf: &[u8],
    max_payload: u32,
) -> Result<Option<(Message<'_>, usize)>, WireError> {
    let Some(len) = read_u32(buf, 0) else {
        return Ok(None);
    };
    if len > max_payload {
        return Err(WireError::FrameTooLarge {
            len,
            max: max_payload,
        });
    }
    if len == 0 {
        return Ok(Some((Message::KeepAlive, 4)));
    }
    let Some(&id) = buf.get(4) else {
        return Ok(None);
    };
    check_length(id, len)?;
    let Some(total) = usize::try_from(len).ok().and_then(|l| l.checked_add(4)) else {
        return Err(WireError::FrameTooLarge {
            len,
            max: max_payload,
        });
    };
    let Some(body) = buf.get(5..total) else {
        return Ok(None);
    };
    Ok(Some((parse_body(id, body), total)))
}

/// Builds the message from a body whose length `check_length` already accepted, so the field
/// reads below cannot miss; they still go through `get` to stay panic-free if that ever changes.
fn parse_body(id: u8, body: &[u8]) -> Message<'_> {
    let u = |at: usize| read_u32(body, at).unwrap_or(0);
    match id {
        ID_CHOKE => Message::Choke,
        ID_UNCHOKE => Message::Unchoke,
        ID_INTERESTED => Message::Interested,
        ID_NOT_INTERESTED => Message::NotInterested,
        ID_HAVE => Message::Have { index: u(0) },
        ID_BITFIELD => Message::Bitfield(body),
        ID_REQUEST => Message::Request {
            index: u(0),
            begin: u(4),
            length: u(8),
        },
        ID_PIECE => Message::Piece {
            index: u(0),
            begin: u(4),
            data: body.get(8..).unwrap_or(&[]),
        },
        ID_CANCEL => Message::Cancel {
            index: u(0),
            begin: u(4),
            length: u(8),
        },
        ID_SUGGEST_PIECE => Message::SuggestPiece { index: u(0) },
        ID_HAVE_ALL => Message::HaveAll,
        ID_HAVE_NONE => Message::HaveNone,
        ID_REJECT_REQUEST => Message::RejectRequest {
            index: u(0),
            begin: u(4),
            length: u(8),
        },
        ID_ALLOWED_FAST => Message::AllowedFast { index: u(0) },
        ID_PORT => match body {
            [hi, lo] => Message::Port(u16::from_be_bytes([*hi, *lo])),
            _ => Message::Unknown { id, payload: body },
        },
        ID_EXTENDED => match body.split_first() {
            Some((&ext, payload)) => Message::Extended { id: ext, payload },
            None => Message::Unknown { id, payload: body },
        },
        _ => Message::Unknown { id, payload: body },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(m: &Message<'_>) -> Vec<u8> {
        let mut v = Vec::new();
        m.encode(&mut v);
        v
    }

    /// Every message type with its exact wire bytes.
    fn samples() -> Vec<(Message<'static>, Vec<u8>)> {
        vec![
            (Message::KeepAlive, vec![0, 0, 0, 0]),
            (Message::Choke, vec![0, 0, 0, 1, 0]),
            (Message::Unchoke, vec![0, 0, 0, 1, 1]),
            (Message::Interested, vec![0, 0, 0, 1, 2]),
            (Message::NotInterested, vec![0, 0, 0, 1, 3]),
            (
                Message::Have { index: 0x0102_0304 },
                vec![0, 0, 0, 5, 4, 1, 2, 3, 4],
            ),
            (
                Message::Bitfield(&[0xff, 0x80]),
                vec![0, 0, 0, 3, 5, 0xff, 0x80],
            ),
            (
                Message::Request {
                    index: 1,
                    begin: 0x4000,
                    length: 0x4000,
                },
                vec![0, 0, 0, 13, 6, 0, 0, 0, 1, 0, 0, 0x40, 0, 0, 0, 0x40, 0],
            ),
            (
                Message::Piece {
                    index: 2,
                    begin: 0x4000,
                    data: b"abc",
                },
                vec![0, 0, 0, 12, 7, 0, 0, 0, 2, 0, 0, 0x40, 0, b'a', b'b', b'c'],
            ),
            (
                Message::Cancel {
                    index: 3,
                    begin: 0,
                    length: 100,
                },
                vec![0, 0, 0, 13, 8, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 100],
            ),
            (Message::Port(6881), vec![0, 0, 0, 3, 9, 0x1a, 0xe1]),
            (
                Message::Extended {
                    id: 0,
                    payload: b"de",
                },
                vec![0, 0, 0, 4, 20, 0, b'd', b'e'],
            ),
            (
                Message::SuggestPiece { index: 7 },
                vec![0, 0, 0, 5, 0x0d, 0, 0, 0, 7],
            ),
            (Message::HaveAll, vec![0, 0, 0, 1, 0x0e]),
            (Message::HaveNone, vec![0, 0, 0, 1, 0x0f]),
            (
                Message::RejectRequest {
                    index: 1,
                    begin: 0x4000,
                    length: 0x4000,
                },
                vec![0, 0, 0, 13, 0x10, 0, 0, 0, 1, 0, 0, 0x40, 0, 0, 0, 0x40, 0],
            ),
            (
                Message::AllowedFast { index: 0x0102_0304 },
                vec![0, 0, 0, 5, 0x11, 1, 2, 3, 4],
            ),
            (
                Message::Unknown {
                    id: 21,
                    payload: &[9, 9],
                },
                vec![0, 0, 0, 3, 21, 9, 9],
            ),
        ]
    }

    #[test]
    fn every_message_encodes_to_exact_bytes_and_back() {
        for (msg, bytes) in samples() {
            assert_eq!(enc(&msg), bytes, "{msg:?}");
            assert_eq!(
                decode_frame(&bytes, DEFAULT_MAX_FRAME),
                Ok(Some((msg, bytes.len()))),
                "{msg:?}"
            );
            assert_eq!(frame_len(&bytes), Some(bytes.len()));
        }
    }

    #[test]
    fn piece_header_alone() {
        let mut v = Vec::new();
        encode_piece_header(2, 0x4000, 16384, &mut v);
        assert_eq!(v, vec![0, 0, 0x40, 9, 7, 0, 0, 0, 2, 0, 0, 0x40, 0]);
    }

    #[test]
    fn empty_bitfield_and_piece_decode() {
        assert_eq!(
            decode_frame(&[0, 0, 0, 1, 5], 100),
            Ok(Some((Message::Bitfield(&[]), 5)))
        );
        let empty_piece = [0, 0, 0, 9, 7, 0, 0, 0, 1, 0, 0, 0, 0];
        assert_eq!(
            decode_frame(&empty_piece, 100),
            Ok(Some((
                Message::Piece {
                    index: 1,
                    begin: 0,
                    data: &[]
                },
                13
            )))
        );
    }

    #[test]
    fn every_prefix_of_every_message_needs_more() {
        for (msg, bytes) in samples() {
            for cut in 0..bytes.len() {
                assert_eq!(
                    decode_frame(&bytes[..cut], DEFAULT_MAX_FRAME),
                    Ok(None),
                    "{msg:?} cut at {cut}"
                );
                let expect_len = if cut >= 4 { Some(bytes.len()) } else { None };
                assert_eq!(frame_len(&bytes[..cut]), expect_len);
            }
        }
    }

    fn whole_stream() -> Vec<u8> {
        samples().into_iter().flat_map(|(_, b)| b).collect()
    }

    /// Decodes everything it can from `buf`, re-encoding each message so results can outlive it.
    fn drain(buf: &mut Vec<u8>, got: &mut Vec<Vec<u8>>) {
        loop {
            let (bytes, used) = match decode_frame(buf, DEFAULT_MAX_FRAME) {
                Ok(Some((m, used))) => (enc(&m), used),
                Ok(None) => return,
                Err(e) => panic!("unexpected {e}"),
            };
            got.push(bytes);
            buf.drain(..used);
        }
    }

    #[test]
    fn stream_split_at_every_position() {
        let stream = whole_stream();
        let expect: Vec<Vec<u8>> = samples().into_iter().map(|(_, b)| b).collect();
        for split in 0..=stream.len() {
            let mut buf = stream[..split].to_vec();
            let mut got = Vec::new();
            drain(&mut buf, &mut got);
            buf.extend_from_slice(&stream[split..]);
            drain(&mut buf, &mut got);
            assert_eq!(got, expect, "split at {split}");
            assert!(buf.is_empty());
        }
    }

    #[test]
    fn stream_in_chunks_of_every_size() {
        let stream = whole_stream();
        let expect: Vec<Vec<u8>> = samples().into_iter().map(|(_, b)| b).collect();
        for size in 1..=stream.len() {
            let mut buf = Vec::new();
            let mut got = Vec::new();
            for chunk in stream.chunks(size) {
                buf.extend_from_slice(chunk);
                drain(&mut buf, &mut got);
            }
            assert_eq!(got, expect, "chunk size {size}");
            assert!(buf.is_empty());
        }
    }

    #[test]
    fn oversized_frame_rejected_after_four_bytes() {
        let err = Err(WireError::FrameTooLarge {
            len: 0x8000_0000,
            max: DEFAULT_MAX_FRAME,
        });
        assert_eq!(decode_frame(&[0x80, 0, 0, 0], DEFAULT_MAX_FRAME), err);
        assert_eq!(decode_frame(&[0x80, 0, 0], DEFAULT_MAX_FRAME), Ok(None));
        // Exactly the maximum is allowed (and waits for its body).
        let max = 20u32.to_be_bytes();
        assert_eq!(
            decode_frame(&[max[0], max[1], max[2], max[3], 5], 20),
            Ok(None)
        );
        assert_eq!(
            decode_frame(&[0, 0, 0, 21], 20),
            Err(WireError::FrameTooLarge { len: 21, max: 20 })
        );
    }

    #[test]
    fn wrong_lengths_for_fixed_messages_rejected_after_id_byte() {
        let cases: [(u8, u32); 21] = [
            (0, 2),
            (1, 2),
            (2, 5),
            (3, 2),
            (4, 6),
            (4, 4),
            (6, 12),
            (6, 14),
            (7, 8),
            (8, 12),
            (8, 17),
            (9, 2),
            (9, 4),
            (20, 1),
            (0x0d, 4),
            (0x0e, 2),
            (0x0f, 5),
            (0x10, 12),
            (0x10, 14),
            (0x11, 1),
            (0x11, 6),
        ];
        for (id, len) in cases {
            let mut frame = len.to_be_bytes().to_vec();
            frame.push(id);
            assert_eq!(
                decode_frame(&frame, DEFAULT_MAX_FRAME),
                Err(WireError::BadLength { id, len }),
                "id {id} len {len}"
            );
        }
    }

    #[test]
    fn unknown_id_is_skipped_not_fatal() {
        let bytes = [0, 0, 0, 1, 200, 0, 0, 0, 1, 1];
        assert_eq!(
            decode_frame(&bytes, 100),
            Ok(Some((
                Message::Unknown {
                    id: 200,
                    payload: &[]
                },
                5
            )))
        );
        assert_eq!(
            decode_frame(&bytes[5..], 100),
            Ok(Some((Message::Unchoke, 5)))
        );
    }

    fn sample_handshake() -> Handshake {
        Handshake {
            reserved: [0, 0, 0, 0, 0, 0x10, 0, 1],
            info_hash: [0xaa; 20],
            peer_id: *b"-CO0001-abcdefghijkl",
        }
    }

    #[test]
    fn handshake_exact_bytes_and_back() {
        let mut v = Vec::new();
        sample_handshake().encode(&mut v);
        let mut expect = vec![19];
        expect.extend_from_slice(b"BitTorrent protocol");
        expect.extend_from_slice(&[0, 0, 0, 0, 0, 0x10, 0, 1]);
        expect.extend_from_slice(&[0xaa; 20]);
        expect.extend_from_slice(b"-CO0001-abcdefghijkl");
        assert_eq!(v, expect);
        assert_eq!(v.len(), HANDSHAKE_LEN);
        assert_eq!(Handshake::decode(&v), Ok(Some(sample_handshake())));
        // Trailing bytes (the first message) are left alone.
        v.extend_from_slice(&[0, 0, 0, 0]);
        assert_eq!(Handshake::decode(&v), Ok(Some(sample_handshake())));
    }

    #[test]
    fn handshake_partial_needs_more() {
        let mut v = Vec::new();
        sample_handshake().encode(&mut v);
        for cut in 0..HANDSHAKE_LEN {
            assert_eq!(Handshake::decode(&v[..cut]), Ok(None), "cut {cut}");
        }
    }

    #[test]
    fn handshake_garbage_detected_early() {
        assert_eq!(
            Handshake::decode(b"G"),
            Err(WireError::BadPstrLen { got: b'G' })
        );
        assert_eq!(
            Handshake::decode(b"GET / HTTP/1.1\r\n"),
            Err(WireError::BadPstrLen { got: b'G' })
        );
        assert_eq!(Handshake::decode(&[19, b'X']), Err(WireError::BadProtocol));
        let mut v = vec![19];
        v.extend_from_slice(b"BitTorrent protocoX");
        assert_eq!(Handshake::decode(&v), Err(WireError::BadProtocol));
        assert_eq!(Handshake::decode(&v[..19]), Ok(None));
    }

    #[test]
    fn reserved_bits_for_each_extension() {
        let all = Extensions {
            extension_protocol: true,
            fast: true,
            dht: true,
        };
        assert_eq!(all.to_reserved(), [0, 0, 0, 0, 0, 0x10, 0, 0x05]);
        assert_eq!(Extensions::default().to_reserved(), [0; 8]);
        let fast_only = Extensions {
            fast: true,
            ..Extensions::default()
        };
        assert_eq!(fast_only.to_reserved(), [0, 0, 0, 0, 0, 0, 0, 0x04]);
        // Unknown bits (here every other bit) are ignored when reading.
        assert_eq!(
            Extensions::from_reserved(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xef, 0xff, 0xfa]),
            Extensions::default()
        );
        assert_eq!(Extensions::from_reserved(&all.to_reserved()), all);
        assert_eq!(all.both(fast_only), fast_only);
    }

    #[test]
    fn errors_display() {
        assert_eq!(
            WireError::BadLength { id: 4, len: 6 }.to_string(),
            "message id 4 cannot have length 6"
        );
        assert_eq!(
            WireError::FrameTooLarge { len: 9, max: 8 }.to_string(),
            "frame of 9 bytes exceeds the maximum of 8"
        );
    }
}
