//! KRPC (BEP 5) messages: queries, responses and errors, decoded from and encoded to bencode, with
//! the BEP 32 (`nodes6`, `want`), BEP 42 (`ip`) and BEP 43 (`ro`) extensions.
//!
//! Pure data, used by the [`Dht`](super::Dht) on the reactor thread. Decoding reads bytes from
//! anyone on the Internet, so it never panics, refuses packets larger than [`MAX_PACKET`], and
//! parses at most [`MAX_NODES`] nodes per family and [`MAX_VALUES`] peers per message, ignoring the
//! rest. Encoding lives in `krpc_encode.rs`.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::id::{NodeId, ID_LEN};
use crate::bencode::{self, BencodeError, Value};

#[path = "krpc_encode.rs"]
mod encode;
pub use encode::put_compact_peer;

/// Largest datagram decoded. Real KRPC messages fit one Ethernet frame; larger UDP payloads
/// arrive fragmented, if at all, and are never sent by a conforming node.
pub const MAX_PACKET: usize = 1500;
/// Most nodes parsed per address family from one response (BEP 5 sends 8).
pub const MAX_NODES: usize = 16;
/// Most peers parsed from one `values` list.
pub const MAX_VALUES: usize = 128;
/// Longest transaction id or token accepted (common clients use 2 to 8 bytes).
pub const MAX_BLOB: usize = 20;

/// Compact node info size for IPv4: id, address, port.
pub const NODE4_LEN: usize = 26;
/// Compact node info size for IPv6.
pub const NODE6_LEN: usize = 38;

/// KRPC error codes (BEP 5).
pub mod code {
    // 201 (generic error) is never sent: every error we send has a more precise code.
    /// Server error.
    pub const SERVER: i64 = 202;
    /// Protocol error: malformed packet, invalid arguments or bad token.
    pub const PROTOCOL: i64 = 203;
    /// Method unknown.
    pub const METHOD_UNKNOWN: i64 = 204;
}

/// A short opaque byte string (transaction id or token), kept inline so a message needs no
/// allocation for it.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct Blob {
    len: u8,
    buf: [u8; MAX_BLOB],
}

impl Blob {
    /// `bytes` as a blob, if not longer than [`MAX_BLOB`].
    pub fn new(bytes: &[u8]) -> Option<Blob> {
        let mut buf = [0u8; MAX_BLOB];
        buf.get_mut(..bytes.len())?.copy_from_slice(bytes);
        Some(Blob {
            len: bytes.len() as u8,
            buf,
        })
    }

    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.buf[..usize::from(self.len)]
    }
}

impl fmt::Debug for Blob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02x?}", self.as_slice())
    }
}

/// A node as the DHT names it: id and UDP address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeInfo {
    /// The node's id.
    pub id: NodeId,
    /// Where it listens.
    pub addr: SocketAddr,
}

/// Which address families a querier wants nodes for (BEP 32). Neither set means the family of
/// the socket the query came in on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Want {
    /// `n4`: IPv4 nodes.
    pub v4: bool,
    /// `n6`: IPv6 nodes.
    pub v6: bool,
}

/// The four queries of BEP 5.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Query {
    /// Are you there?
    Ping,
    /// The nodes closest to `target`.
    FindNode {
        /// The id searched for.
        target: NodeId,
        /// Families wanted.
        want: Want,
    },
    /// Peers for `info_hash`, or the closest nodes.
    GetPeers {
        /// The torrent.
        info_hash: NodeId,
        /// Families wanted.
        want: Want,
    },
    /// Store the querier as a peer of `info_hash`.
    AnnouncePeer {
        /// The torrent.
        info_hash: NodeId,
        /// The peer's port (ignored when `implied_port`).
        port: u16,
        /// Use the UDP source port instead of `port` (for peers behind NAT, and uTP).
        implied_port: bool,
        /// The token from our earlier `get_peers` answer.
        token: Blob,
    },
}

/// A response's arguments.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Response {
    /// The responder's id.
    pub id: NodeId,
    /// `nodes` and `nodes6`, IPv4 first.
    pub nodes: Vec<NodeInfo>,
    /// Peers (`values`).
    pub values: Vec<SocketAddr>,
    /// Write token for `announce_peer`.
    pub token: Option<Blob>,
}

/// What a message is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    /// `y = q`.
    Query {
        /// The querier's id.
        id: NodeId,
        /// The query and its arguments.
        query: Query,
    },
    /// `y = r`.
    Response(Response),
    /// `y = e`, with its code (the text is not kept).
    Error {
        /// One of [`code`] (or whatever the sender chose).
        code: i64,
    },
}

/// One KRPC message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// Transaction id, echoed in the answer.
    pub tid: Blob,
    /// Query, response or error.
    pub body: Body,
    /// BEP 43: the sender is read-only (answers no queries; keep it out of routing tables).
    pub read_only: bool,
    /// BEP 42: the address the responder saw the query come from.
    pub ip: Option<SocketAddr>,
}

/// Why a datagram is not a usable KRPC message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// Longer than [`MAX_PACKET`].
    TooLarge,
    /// Not bencode.
    Bencode(BencodeError),
    /// A required key is absent.
    Missing(&'static str),
    /// A key holds the wrong type, length or value.
    Invalid(&'static str),
    /// A query with a method we do not know.
    UnknownMethod,
}

/// A decoding failure. When the input was a query whose transaction id could be read, `tid` is
/// set so the node can answer with a KRPC error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KrpcError {
    /// What was wrong.
    pub kind: ErrorKind,
    /// The transaction id of a malformed query.
    pub tid: Option<Blob>,
}

impl fmt::Display for KrpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            ErrorKind::TooLarge => write!(f, "krpc: packet larger than {MAX_PACKET} bytes"),
            ErrorKind::Bencode(e) => write!(f, "krpc: {e}"),
            ErrorKind::Missing(k) => write!(f, "krpc: missing key `{k}`"),
            ErrorKind::Invalid(k) => write!(f, "krpc: invalid `{k}`"),
            ErrorKind::UnknownMethod => write!(f, "krpc: unknown method"),
        }
    }
}

impl std::error::Error for KrpcError {}

fn err(kind: ErrorKind) -> KrpcError {
    KrpcError { kind, tid: None }
}

/// Decodes one datagram.
pub fn decode(bytes: &[u8]) -> Result<Message, KrpcError> {
    if bytes.len() > MAX_PACKET {
        return Err(err(ErrorKind::TooLarge));
    }
    let v = bencode::decode(bytes).map_err(|e| err(ErrorKind::Bencode(e)))?;
    if v.as_dict().is_none() {
        return Err(err(ErrorKind::Invalid("message")));
    }
    let tid = v.get("t").ok_or(err(ErrorKind::Missing("t")))?;
    let tid = tid
        .as_bytes()
        .and_then(Blob::new)
        .ok_or(err(ErrorKind::Invalid("t")))?;
    let y = v.get("y").ok_or(err(ErrorKind::Missing("y")))?;
    let body = match y.as_bytes() {
        Some(b"q") => decode_query(&v).map_err(|kind| KrpcError {
            kind,
            tid: Some(tid),
        })?,
        Some(b"r") => Body::Response(decode_response(&v).map_err(err)?),
        Some(b"e") => Body::Error {
            code: decode_error(&v).map_err(err)?,
        },
        _ => return Err(err(ErrorKind::Invalid("y"))),
    };
    let read_only = matches!(v.get("ro").and_then(Value::as_int), Some(1));
    let ip = v.get("ip").and_then(Value::as_bytes).and_then(compact_peer);
    Ok(Message {
        tid,
        body,
        read_only,
        ip,
    })
}

fn id_arg(args: &Value<'_>, key: &'static str) -> Result<NodeId, ErrorKind> {
    let v = args.get(key).ok_or(ErrorKind::Missing(key))?;
    v.as_bytes()
        .and_then(NodeId::from_slice)
        .ok_or(ErrorKind::Invalid(key))
}

fn decode_want(args: &Value<'_>) -> Result<Want, ErrorKind> {
    let mut want = Want::default();
    let Some(list) = args.get("want") else {
        return Ok(want);
    };
    for item in list.as_list().ok_or(ErrorKind::Invalid("want"))? {
        match item.as_bytes() {
            Some(b"n4") => want.v4 = true,
            Some(b"n6") => want.v6 = true,
            _ => {} // unknown families are allowed by BEP 32
        }
    }
    Ok(want)
}

fn decode_query(v: &Value<'_>) -> Result<Body, ErrorKind> {
    let q = v.get("q").ok_or(ErrorKind::Missing("q"))?;
    let q = q.as_bytes().ok_or(ErrorKind::Invalid("q"))?;
    let args = v.get("a").ok_or(ErrorKind::Missing("a"))?;
    if args.as_dict().is_none() {
        return Err(ErrorKind::Invalid("a"));
    }
    let id = id_arg(args, "id")?;
    let query = match q {
        b"ping" => Query::Ping,
        b"find_node" => Query::FindNode {
            target: id_arg(args, "target")?,
            want: decode_want(args)?,
        },
        b"get_peers" => Query::GetPeers {
            info_hash: id_arg(args, "info_hash")?,
            want: decode_want(args)?,
        },
        b"announce_peer" => decode_announce(args)?,
        _ => return Err(ErrorKind::UnknownMethod),
    };
    Ok(Body::Query { id, query })
}

fn decode_announce(args: &Value<'_>) -> Result<Query, ErrorKind> {
    let implied_port = match args.get("implied_port") {
        None => false,
        Some(v) => v.as_int().ok_or(ErrorKind::Invalid("implied_port"))? != 0,
    };
    let port = match args.get("port").map(Value::as_int) {
        Some(Some(p)) => u16::try_from(p).map_err(|_| ErrorKind::Invalid("port"))?,
        Some(None) => return Err(ErrorKind::Invalid("port")),
        None if implied_port => 0,
        None => return Err(ErrorKind::Missing("port")),
    };
    if port == 0 && !implied_port {
        return Err(ErrorKind::Invalid("port"));
    }
    let token = args.get("token").ok_or(ErrorKind::Missing("token"))?;
    let token = token
        .as_bytes()
        .and_then(Blob::new)
        .ok_or(ErrorKind::Invalid("token"))?;
    Ok(Query::AnnouncePeer {
        info_hash: id_arg(args, "info_hash")?,
        port,
        implied_port,
        token,
    })
}

fn decode_response(v: &Value<'_>) -> Result<Response, ErrorKind> {
    let r = v.get("r").ok_or(ErrorKind::Missing("r"))?;
    if r.as_dict().is_none() {
        return Err(ErrorKind::Invalid("r"));
    }
    let mut resp = Response {
        id: id_arg(r, "id")?,
        ..Response::default()
    };
    for (key, len) in [("nodes", NODE4_LEN), ("nodes6", NODE6_LEN)] {
        if let Some(n) = r.get(key) {
            let bytes = n.as_bytes().ok_or(ErrorKind::Invalid(key))?;
            if bytes.len() % len != 0 {
                return Err(ErrorKind::Invalid(key));
            }
            let nodes = bytes.chunks_exact(len).filter_map(compact_node);
            resp.nodes.extend(nodes.take(MAX_NODES));
        }
    }
    if let Some(values) = r.get("values") {
        let list = values.as_list().ok_or(ErrorKind::Invalid("values"))?;
        let peers = list
            .iter()
            .filter_map(|p| p.as_bytes().and_then(compact_peer));
        resp.values.extend(peers.take(MAX_VALUES));
    }
    if let Some(t) = r.get("token") {
        resp.token = Some(
            t.as_bytes()
                .and_then(Blob::new)
                .ok_or(ErrorKind::Invalid("token"))?,
        );
    }
    Ok(resp)
}

fn decode_error(v: &Value<'_>) -> Result<i64, ErrorKind> {
    let e = v.get("e").ok_or(ErrorKind::Missing("e"))?;
    let list = e.as_list().ok_or(ErrorKind::Invalid("e"))?;
    list.first()
        .and_then(Value::as_int)
        .ok_or(ErrorKind::Invalid("e"))
}

/// A compact peer (6 or 18 bytes); `None` for another length, port 0 or an unspecified address.
pub fn compact_peer(b: &[u8]) -> Option<SocketAddr> {
    let (ip, port) = match b.len() {
        6 => (IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3])), &b[4..]),
        18 => {
            let octets: [u8; 16] = b[..16].try_into().ok()?;
            (IpAddr::V6(Ipv6Addr::from(octets)), &b[16..])
        }
        _ => return None,
    };
    let port = u16::from_be_bytes([port[0], port[1]]);
    (port != 0 && !ip.is_unspecified()).then_some(SocketAddr::new(ip, port))
}

/// A compact node (26 or 38 bytes); `None` when its address is unusable.
pub fn compact_node(b: &[u8]) -> Option<NodeInfo> {
    let id = NodeId::from_slice(b.get(..ID_LEN)?)?;
    let addr = compact_peer(&b[ID_LEN..])?;
    Some(NodeInfo { id, addr })
}

#[cfg(test)]
#[path = "krpc_tests.rs"]
mod tests;
