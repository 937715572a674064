//! KRPC encoding: canonical bencode (keys sorted) written straight into a buffer. Every message
//! has a fixed shape, so no tree or map is built; the key order below is the sorted order.
//! Pure, used by the [`Dht`](super::Dht) on the reactor thread.

use std::net::{IpAddr, SocketAddr};

use super::{code, Body, Message, NodeId, Query, Response, Want, NODE4_LEN, NODE6_LEN};

/// Appends the compact form of `addr` (6 or 18 bytes).
pub fn put_compact_peer(out: &mut Vec<u8>, addr: &SocketAddr) {
    match addr.ip() {
        IpAddr::V4(ip) => out.extend_from_slice(&ip.octets()),
        IpAddr::V6(ip) => out.extend_from_slice(&ip.octets()),
    }
    out.extend_from_slice(&addr.port().to_be_bytes());
}

fn compact_len(addr: &SocketAddr) -> usize {
    if addr.is_ipv4() {
        6
    } else {
        18
    }
}

fn put_uint(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_uint(out, b.len() as u64);
    out.push(b':');
    out.extend_from_slice(b);
}

fn put_int(out: &mut Vec<u8>, n: i64) {
    out.push(b'i');
    if n < 0 {
        out.push(b'-');
    }
    put_uint(out, n.unsigned_abs());
    out.push(b'e');
}

/// `key` then `bytes`.
fn put_kv(out: &mut Vec<u8>, key: &str, bytes: &[u8]) {
    put_bytes(out, key.as_bytes());
    put_bytes(out, bytes);
}

impl Message {
    /// The canonical bencoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(128);
        out.push(b'd');
        match &self.body {
            Body::Query { id, query } => encode_query_args(&mut out, id, query),
            Body::Error { code } => {
                put_bytes(&mut out, b"e");
                out.push(b'l');
                put_int(&mut out, *code);
                put_bytes(&mut out, error_text(*code).as_bytes());
                out.push(b'e');
            }
            Body::Response(_) => {}
        }
        if let Some(ip) = &self.ip {
            let mut compact = Vec::with_capacity(18);
            put_compact_peer(&mut compact, ip);
            put_kv(&mut out, "ip", &compact);
        }
        if let Body::Query { query, .. } = &self.body {
            put_kv(&mut out, "q", query_name(query).as_bytes());
        }
        if let Body::Response(r) = &self.body {
            encode_response(&mut out, r);
        }
        if self.read_only {
            put_bytes(&mut out, b"ro");
            put_int(&mut out, 1);
        }
        put_kv(&mut out, "t", self.tid.as_slice());
        let y: &[u8] = match self.body {
            Body::Query { .. } => b"q",
            Body::Response(_) => b"r",
            Body::Error { .. } => b"e",
        };
        put_kv(&mut out, "y", y);
        out.push(b'e');
        out
    }
}

fn query_name(q: &Query) -> &'static str {
    match q {
        Query::Ping => "ping",
        Query::FindNode { .. } => "find_node",
        Query::GetPeers { .. } => "get_peers",
        Query::AnnouncePeer { .. } => "announce_peer",
    }
}

fn error_text(code: i64) -> &'static str {
    match code {
        code::SERVER => "Server Error",
        code::PROTOCOL => "Protocol Error",
        code::METHOD_UNKNOWN => "Method Unknown",
        _ => "Generic Error",
    }
}

fn put_want(out: &mut Vec<u8>, want: &Want) {
    if want.v4 || want.v6 {
        put_bytes(out, b"want");
        out.push(b'l');
        if want.v4 {
            put_bytes(out, b"n4");
        }
        if want.v6 {
            put_bytes(out, b"n6");
        }
        out.push(b'e');
    }
}

fn encode_query_args(out: &mut Vec<u8>, id: &NodeId, query: &Query) {
    put_bytes(out, b"a");
    out.push(b'd');
    put_kv(out, "id", &id.0);
    match query {
        Query::Ping => {}
        Query::FindNode { target, want } => {
            put_kv(out, "target", &target.0);
            put_want(out, want);
        }
        Query::GetPeers { info_hash, want } => {
            put_kv(out, "info_hash", &info_hash.0);
            put_want(out, want);
        }
        Query::AnnouncePeer {
            info_hash,
            port,
            implied_port,
            token,
        } => {
            if *implied_port {
                put_bytes(out, b"implied_port");
                put_int(out, 1);
            }
            put_kv(out, "info_hash", &info_hash.0);
            put_bytes(out, b"port");
            put_int(out, i64::from(*port));
            put_kv(out, "token", token.as_slice());
        }
    }
    out.push(b'e');
}

fn encode_response(out: &mut Vec<u8>, r: &Response) {
    put_bytes(out, b"r");
    out.push(b'd');
    put_kv(out, "id", &r.id.0);
    for (key, v6) in [("nodes", false), ("nodes6", true)] {
        let mut nodes = r.nodes.iter().filter(|n| n.addr.is_ipv6() == v6).peekable();
        if nodes.peek().is_none() {
            continue;
        }
        let len = if v6 { NODE6_LEN } else { NODE4_LEN };
        let count = r.nodes.iter().filter(|n| n.addr.is_ipv6() == v6).count();
        put_bytes(out, key.as_bytes());
        put_uint(out, (count * len) as u64);
        out.push(b':');
        for n in nodes {
            out.extend_from_slice(&n.id.0);
            put_compact_peer(out, &n.addr);
        }
    }
    if let Some(token) = &r.token {
        put_kv(out, "token", token.as_slice());
    }
    if !r.values.is_empty() {
        put_bytes(out, b"values");
        out.push(b'l');
        for p in &r.values {
            put_uint(out, compact_len(p) as u64);
            out.push(b':');
            put_compact_peer(out, p);
        }
        out.push(b'e');
    }
    out.push(b'e');
}
