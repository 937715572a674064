//! The BEP 10 extension handshake (extended message id 0) and the id mapping it sets up.
//!
//! Pure data, used on the reactor thread when a peer's extended message 0 arrives and when we
//! send ours. It decodes only what we use (`m` entries for `ut_metadata` and `ut_pex`, `v`, `p`,
//! `reqq`, `metadata_size`, `yourip`), ignores every other key, and never trusts sizes: a
//! handshake over [`MAX_HANDSHAKE_LEN`] bytes or nested deeper than [`MAX_HANDSHAKE_DEPTH`] is
//! refused before anything is read from it.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::bencode::{self, Bencode, BencodeError, Kind, Value};

/// Largest extension handshake accepted: 64 KiB. Real ones are 100–400 bytes; the cap keeps
/// a hostile peer from making us decode megabytes of unknown keys on every re-send.
pub const MAX_HANDSHAKE_LEN: usize = 64 * 1024;

/// Deepest nesting accepted. The deepest standard key is `m` (a dictionary in the top
/// dictionary: depth 2); 4 leaves room for extensions with one more level of structure.
pub const MAX_HANDSHAKE_DEPTH: usize = 4;

/// Longest client name (`v`) kept; longer names are cut at a character boundary.
pub const MAX_CLIENT_NAME: usize = 64;

/// The `m` name of BEP 9 metadata exchange.
pub const UT_METADATA: &str = "ut_metadata";
/// The `m` name of BEP 11 peer exchange.
pub const UT_PEX: &str = "ut_pex";

/// Why an extension handshake was refused. None is a reason to drop the peer by itself; the
/// caller simply runs without the peer's extensions (libtorrent does the same).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandshakeError {
    /// The payload is larger than [`MAX_HANDSHAKE_LEN`].
    TooLarge {
        /// Bytes received.
        len: usize,
    },
    /// The payload is nested deeper than [`MAX_HANDSHAKE_DEPTH`].
    TooDeep,
    /// The payload is not valid bencode.
    Bencode(BencodeError),
    /// The payload is valid bencode but not a dictionary.
    NotADict,
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandshakeError::TooLarge { len } => write!(
                f,
                "extension handshake of {len} bytes exceeds the limit of {MAX_HANDSHAKE_LEN}"
            ),
            HandshakeError::TooDeep => write!(
                f,
                "extension handshake nested deeper than {MAX_HANDSHAKE_DEPTH} levels"
            ),
            HandshakeError::Bencode(e) => write!(f, "extension handshake: {e}"),
            HandshakeError::NotADict => f.write_str("extension handshake is not a dictionary"),
        }
    }
}

impl std::error::Error for HandshakeError {}

/// One BEP 10 extension handshake, ours or a peer's.
///
/// For the `m` ids: `None` = not mentioned, `Some(0)` = explicitly disabled (BEP 10 lets a later
/// handshake switch one extension off), `Some(n)` = the id the *sender* wants to receive it on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExtHandshake {
    /// `m.ut_metadata`.
    pub ut_metadata: Option<u8>,
    /// `m.ut_pex`.
    pub ut_pex: Option<u8>,
    /// `v`: client name and version, lossily decoded and cut to [`MAX_CLIENT_NAME`] bytes.
    pub client: Option<String>,
    /// `p`: the sender's listen port; 0 and out-of-range values are dropped.
    pub listen_port: Option<u16>,
    /// `reqq`: how many outstanding requests the sender queues; values below 1 are dropped.
    pub reqq: Option<u32>,
    /// `metadata_size` exactly as sent (it may be 0, negative or huge): BEP 9's
    /// `MetadataFetch::add_peer` judges it, so a bad value is reported where it matters.
    pub metadata_size: Option<i64>,
    /// `yourip`: the address the sender sees us at (4 or 16 bytes; other lengths are dropped).
    pub yourip: Option<IpAddr>,
}

impl ExtHandshake {
    /// Decodes a handshake payload (the bytes after the extended id 0).
    pub fn decode(payload: &[u8]) -> Result<ExtHandshake, HandshakeError> {
        if payload.len() > MAX_HANDSHAKE_LEN {
            return Err(HandshakeError::TooLarge { len: payload.len() });
        }
        let root = bencode::decode(payload).map_err(HandshakeError::Bencode)?;
        if depth(&root, 0) > MAX_HANDSHAKE_DEPTH {
            return Err(HandshakeError::TooDeep);
        }
        if root.as_dict().is_none() {
            return Err(HandshakeError::NotADict);
        }
        let m = root.get("m");
        let id = |name: &str| {
            let n = m?.get(name)?.as_int()?;
            u8::try_from(n).ok()
        };
        Ok(ExtHandshake {
            ut_metadata: id(UT_METADATA),
            ut_pex: id(UT_PEX),
            client: root.get("v").and_then(Value::as_bytes).map(client_name),
            listen_port: int_in(&root, "p", 1, 65535).and_then(|p| u16::try_from(p).ok()),
            reqq: int_in(&root, "reqq", 1, i64::from(u32::MAX)).and_then(|n| u32::try_from(n).ok()),
            metadata_size: root.get("metadata_size").and_then(Value::as_int),
            yourip: root
                .get("yourip")
                .and_then(Value::as_bytes)
                .and_then(ip_from),
        })
    }

    /// The canonical bencoded payload (keys sorted; absent fields omitted; `m` always present,
    /// as BEP 10 requires).
    pub fn encode(&self) -> Vec<u8> {
        let mut m = Vec::new();
        if let Some(id) = self.ut_metadata {
            m.push((UT_METADATA, Bencode::Int(i64::from(id))));
        }
        if let Some(id) = self.ut_pex {
            m.push((UT_PEX, Bencode::Int(i64::from(id))));
        }
        let mut top = vec![("m", Bencode::dict(m))];
        if let Some(n) = self.metadata_size {
            top.push(("metadata_size", Bencode::Int(n)));
        }
        if let Some(p) = self.listen_port {
            top.push(("p", Bencode::Int(i64::from(p))));
        }
        if let Some(q) = self.reqq {
            top.push(("reqq", Bencode::Int(i64::from(q))));
        }
        if let Some(v) = &self.client {
            top.push(("v", Bencode::bytes(v)));
        }
        match self.yourip {
            Some(IpAddr::V4(ip)) => top.push(("yourip", Bencode::bytes(ip.octets()))),
            Some(IpAddr::V6(ip)) => top.push(("yourip", Bencode::bytes(ip.octets()))),
            None => {}
        }
        Bencode::dict(top).encode()
    }
}

/// Nesting depth of a value: 0 for a scalar, 1 + the deepest child for containers.
fn depth(v: &Value<'_>, at: usize) -> usize {
    // Stop descending once past the limit: the answer is already "too deep".
    if at > MAX_HANDSHAKE_DEPTH {
        return at;
    }
    match &v.kind {
        Kind::Int(_) | Kind::Bytes(_) => at,
        Kind::List(items) => items
            .iter()
            .map(|i| depth(i, at + 1))
            .max()
            .unwrap_or(at + 1),
        Kind::Dict(entries) => entries
            .iter()
            .map(|(_, i)| depth(i, at + 1))
            .max()
            .unwrap_or(at + 1),
    }
}

fn int_in(root: &Value<'_>, key: &str, min: i64, max: i64) -> Option<i64> {
    root.get(key)?.as_int().filter(|n| (min..=max).contains(n))
}

fn client_name(raw: &[u8]) -> String {
    let mut s = String::from_utf8_lossy(raw).into_owned();
    if s.len() > MAX_CLIENT_NAME {
        let mut cut = MAX_CLIENT_NAME;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}

fn ip_from(raw: &[u8]) -> Option<IpAddr> {
    if let Ok(b) = <[u8; 4]>::try_from(raw) {
        return Some(IpAddr::V4(Ipv4Addr::from(b)));
    }
    <[u8; 16]>::try_from(raw)
        .ok()
        .map(|b| IpAddr::V6(Ipv6Addr::from(b)))
}

/// An extension this crate speaks over BEP 10.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Extension {
    /// BEP 9 `ut_metadata`.
    Metadata,
    /// BEP 11 `ut_pex`.
    Pex,
}

/// Which extended-message ids to use with one peer.
///
/// BEP 10 ids are chosen by the receiver: messages we send carry the id from the *peer's*
/// handshake, messages we receive carry the id from *ours* ([`ExtIds::LOCAL_METADATA`],
/// [`ExtIds::LOCAL_PEX`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExtIds {
    peer_metadata: Option<u8>,
    peer_pex: Option<u8>,
}

impl ExtIds {
    /// The id we ask peers to use for `ut_metadata` messages to us.
    pub const LOCAL_METADATA: u8 = 1;
    /// The id we ask peers to use for `ut_pex` messages to us.
    pub const LOCAL_PEX: u8 = 2;

    /// Our handshake's `m` entries, for building the handshake we send.
    pub fn local_handshake() -> ExtHandshake {
        ExtHandshake {
            ut_metadata: Some(Self::LOCAL_METADATA),
            ut_pex: Some(Self::LOCAL_PEX),
            ..ExtHandshake::default()
        }
    }

    /// Applies a handshake from the peer. A later handshake updates only what it mentions
    /// (BEP 10), and id 0 switches that extension off.
    pub fn update(&mut self, hs: &ExtHandshake) {
        if let Some(id) = hs.ut_metadata {
            self.peer_metadata = (id != 0).then_some(id);
        }
        if let Some(id) = hs.ut_pex {
            self.peer_pex = (id != 0).then_some(id);
        }
    }

    /// The id to put on an `ext` message we send; `None` if the peer does not speak it.
    pub fn outgoing(&self, ext: Extension) -> Option<u8> {
        match ext {
            Extension::Metadata => self.peer_metadata,
            Extension::Pex => self.peer_pex,
        }
    }

    /// Which extension an incoming extended message id means (0 is the handshake itself).
    pub fn incoming(id: u8) -> Option<Extension> {
        match id {
            Self::LOCAL_METADATA => Some(Extension::Metadata),
            Self::LOCAL_PEX => Some(Extension::Pex),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_exact_bytes_and_decodes_back() {
        let hs = ExtHandshake {
            ut_metadata: Some(3),
            ut_pex: Some(1),
            client: Some("coracle 0.1".into()),
            listen_port: Some(6881),
            reqq: Some(250),
            metadata_size: Some(31235),
            yourip: Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7))),
        };
        let bytes = hs.encode();
        assert_eq!(
            bytes,
            b"d1:md11:ut_metadatai3e6:ut_pexi1ee13:metadata_sizei31235e1:pi6881e4:reqqi250e\
              1:v11:coracle 0.16:yourip4:\xc0\x00\x02\x07e"
                .to_vec()
        );
        assert_eq!(ExtHandshake::decode(&bytes), Ok(hs));
        assert_eq!(ExtHandshake::default().encode(), b"d1:mdee");
    }

    #[test]
    fn unknown_keys_ignored_bad_values_dropped() {
        let payload = b"d1:md7:lt_donti4e11:ut_metadatai300e6:ut_pexi0ee1:pi0e4:reqqi-5e\
                        7:unknownld1:xleee1:vi5e6:yourip3:abce";
        let hs = ExtHandshake::decode(payload).unwrap();
        assert_eq!(hs.ut_metadata, None, "id 300 does not fit a byte");
        assert_eq!(hs.ut_pex, Some(0), "explicitly disabled");
        assert_eq!(hs.listen_port, None);
        assert_eq!(hs.reqq, None);
        assert_eq!(hs.client, None);
        assert_eq!(hs.yourip, None);
    }

    #[test]
    fn yourip_v6_and_metadata_size_kept_raw() {
        let mut p = b"d1:mde13:metadata_sizei-1e6:yourip16:".to_vec();
        p.extend_from_slice(&"2001:db8::1".parse::<Ipv6Addr>().unwrap().octets());
        p.push(b'e');
        let hs = ExtHandshake::decode(&p).unwrap();
        assert_eq!(hs.yourip, Some("2001:db8::1".parse().unwrap()));
        assert_eq!(hs.metadata_size, Some(-1));
        let huge = ExtHandshake::decode(b"d1:mde13:metadata_sizei9223372036854775807ee").unwrap();
        assert_eq!(huge.metadata_size, Some(i64::MAX));
    }

    #[test]
    fn long_client_name_is_cut_on_a_char_boundary() {
        let name = "é".repeat(100);
        let p = format!("d1:mde1:v{}:{name}e", name.len());
        let hs = ExtHandshake::decode(p.as_bytes()).unwrap();
        assert_eq!(hs.client.unwrap(), "é".repeat(32));
    }

    #[test]
    fn huge_handshake_refused() {
        let pad = "x".repeat(MAX_HANDSHAKE_LEN);
        let p = format!("d1:mde3:pad{}:{pad}e", pad.len());
        assert_eq!(
            ExtHandshake::decode(p.as_bytes()),
            Err(HandshakeError::TooLarge { len: p.len() })
        );
    }

    #[test]
    fn deep_nesting_refused_shallow_accepted() {
        let ok = b"d1:md1:ad1:ali1eeeee"; // depth 4
        assert!(ExtHandshake::decode(ok).is_ok());
        let deep = b"d1:md1:ad1:alli1eeeeee"; // depth 5
        assert_eq!(ExtHandshake::decode(deep), Err(HandshakeError::TooDeep));
        let mut bomb = b"d1:x".to_vec();
        bomb.extend(std::iter::repeat(b'l').take(60));
        bomb.extend(std::iter::repeat(b'e').take(61));
        assert_eq!(ExtHandshake::decode(&bomb), Err(HandshakeError::TooDeep));
    }

    #[test]
    fn not_a_dict_or_not_bencode() {
        assert_eq!(
            ExtHandshake::decode(b"li1ee"),
            Err(HandshakeError::NotADict)
        );
        assert!(matches!(
            ExtHandshake::decode(b"d1:m"),
            Err(HandshakeError::Bencode(_))
        ));
        assert_eq!(
            HandshakeError::TooDeep.to_string(),
            "extension handshake nested deeper than 4 levels"
        );
    }

    #[test]
    fn ids_map_both_ways_and_later_handshakes_update() {
        let mut ids = ExtIds::default();
        assert_eq!(ids.outgoing(Extension::Metadata), None);
        ids.update(&ExtHandshake::decode(b"d1:md11:ut_metadatai7e6:ut_pexi9eee").unwrap());
        assert_eq!(ids.outgoing(Extension::Metadata), Some(7));
        assert_eq!(ids.outgoing(Extension::Pex), Some(9));
        // A later handshake disabling pex leaves metadata alone.
        ids.update(&ExtHandshake::decode(b"d1:md6:ut_pexi0eee").unwrap());
        assert_eq!(ids.outgoing(Extension::Metadata), Some(7));
        assert_eq!(ids.outgoing(Extension::Pex), None);
        assert_eq!(ExtIds::incoming(1), Some(Extension::Metadata));
        assert_eq!(ExtIds::incoming(2), Some(Extension::Pex));
        assert_eq!(ExtIds::incoming(7), None);
        assert_eq!(
            ExtIds::local_handshake().encode(),
            b"d1:md11:ut_metadatai1e6:ut_pexi2eee"
        );
    }
}
