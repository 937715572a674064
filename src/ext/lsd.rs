//! BEP 14 local service discovery packets: the `BT-SEARCH * HTTP/1.1` announce sent to a
//! multicast group, naming our listen port and one or more info-hashes.
//!
//! Pure data, used on the reactor thread by [`super::lsd_core::LsdCore`]. Parsing is bounded
//! ([`MAX_INCOMING_PACKET`] bytes, [`MAX_HASHES`] `Infohash` headers) and never panics;
//! `Infohash` values that are not 40 hex digits (a v2-aware client may send 64) are skipped, as
//! BEP 14 asks of headers a client does not understand, and unknown headers are ignored.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use crate::metainfo::InfoHash;

/// The UDP port of both LSD groups.
pub const LSD_PORT: u16 = 6771;
/// The IPv4 (organisation-local) group.
pub const LSD_GROUP_V4: SocketAddr = SocketAddr::V4(SocketAddrV4::new(
    Ipv4Addr::new(239, 192, 152, 143),
    LSD_PORT,
));
/// The IPv6 (site-local) group.
pub const LSD_GROUP_V6: SocketAddr = SocketAddr::V6(SocketAddrV6::new(
    Ipv6Addr::new(0xff15, 0, 0, 0, 0, 0, 0xefc0, 0x988f),
    LSD_PORT,
    0,
    0,
));
/// Largest packet we send (BEP 14: stay under 1400 bytes to avoid fragmentation).
pub const MAX_PACKET: usize = 1400;
/// Largest packet we parse: one Ethernet MTU; anything bigger is not an LSD announce.
pub const MAX_INCOMING_PACKET: usize = 1500;
/// Most `Infohash` headers in one parsed packet (a 1400-byte packet fits about 25).
pub const MAX_HASHES: usize = 32;
/// Longest cookie kept; a longer one cannot be ours, so it is dropped.
pub const MAX_COOKIE: usize = 64;

const REQUEST_LINE: &str = "BT-SEARCH * HTTP/1.1";

/// Which multicast group (and so which `Host` header) a packet is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LsdFamily {
    /// `239.192.152.143:6771`.
    V4,
    /// `[ff15::efc0:988f]:6771`.
    V6,
}

impl LsdFamily {
    /// The group address to send to.
    pub fn group(self) -> SocketAddr {
        match self {
            LsdFamily::V4 => LSD_GROUP_V4,
            LsdFamily::V6 => LSD_GROUP_V6,
        }
    }

    fn host(self) -> &'static str {
        match self {
            LsdFamily::V4 => "239.192.152.143:6771",
            LsdFamily::V6 => "[ff15::efc0:988f]:6771",
        }
    }
}

/// One LSD announce.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LsdAnnounce {
    /// The sender's BitTorrent listen port (never 0).
    pub port: u16,
    /// The torrents announced (40-hex `Infohash` headers, in packet order).
    pub info_hashes: Vec<InfoHash>,
    /// The sender's opaque cookie, to recognise our own announces looped back.
    pub cookie: Option<String>,
}

/// Why an LSD packet was dropped. None concerns a connection; the packet is just ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LsdError {
    /// The packet exceeds [`MAX_INCOMING_PACKET`].
    TooLarge {
        /// Its length.
        len: usize,
    },
    /// Not UTF-8, or the first line is not `BT-SEARCH * HTTP/1.1`.
    NotAnnounce,
    /// No `Port` header, or one that is not 1–65535.
    BadPort,
    /// More than [`MAX_HASHES`] `Infohash` headers.
    TooManyHashes {
        /// How many there were.
        count: usize,
    },
    /// No `Infohash` header with 40 hex digits.
    NoInfoHash,
    /// The sender's address exceeded its packet allowance (see `LsdCore`).
    RateLimited,
    /// Our own announce, looped back by multicast.
    OwnAnnounce,
}

impl fmt::Display for LsdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LsdError::TooLarge { len } => {
                write!(f, "LSD packet of {len} bytes exceeds {MAX_INCOMING_PACKET}")
            }
            LsdError::NotAnnounce => f.write_str("not an LSD announce (BT-SEARCH * HTTP/1.1)"),
            LsdError::BadPort => f.write_str("LSD announce without a valid Port header"),
            LsdError::TooManyHashes { count } => write!(
                f,
                "LSD announce with {count} info-hashes, over the limit of {MAX_HASHES}"
            ),
            LsdError::NoInfoHash => f.write_str("LSD announce without a valid Infohash header"),
            LsdError::RateLimited => f.write_str("LSD sender over its packet allowance"),
            LsdError::OwnAnnounce => f.write_str("our own LSD announce, looped back"),
        }
    }
}

impl std::error::Error for LsdError {}

impl LsdAnnounce {
    /// The packet for `family`'s group. The caller keeps it under [`MAX_PACKET`] by the number
    /// of hashes (see [`LsdAnnounce::hashes_that_fit`]).
    pub fn encode(&self, family: LsdFamily) -> Vec<u8> {
        let mut s = format!(
            "{REQUEST_LINE}\r\nHost: {}\r\nPort: {}\r\n",
            family.host(),
            self.port
        );
        for h in &self.info_hashes {
            s.push_str("Infohash: ");
            s.push_str(&h.to_hex());
            s.push_str("\r\n");
        }
        if let Some(c) = &self.cookie {
            s.push_str("cookie: ");
            s.push_str(c);
            s.push_str("\r\n");
        }
        s.push_str("\r\n\r\n");
        s.into_bytes()
    }

    /// How many info-hashes fit in one packet of at most [`MAX_PACKET`] bytes with this port
    /// and cookie.
    pub fn hashes_that_fit(family: LsdFamily, port: u16, cookie: Option<&str>) -> usize {
        let empty = LsdAnnounce {
            port,
            info_hashes: Vec::new(),
            cookie: cookie.map(str::to_owned),
        };
        let per_hash = "Infohash: \r\n".len() + 40;
        MAX_PACKET.saturating_sub(empty.encode(family).len()) / per_hash
    }

    /// Parses a received packet.
    pub fn parse(packet: &[u8]) -> Result<LsdAnnounce, LsdError> {
        if packet.len() > MAX_INCOMING_PACKET {
            return Err(LsdError::TooLarge { len: packet.len() });
        }
        let text = std::str::from_utf8(packet).map_err(|_| LsdError::NotAnnounce)?;
        let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
        if lines.next() != Some(REQUEST_LINE) {
            return Err(LsdError::NotAnnounce);
        }
        let (mut port, mut cookie, mut hashes, mut count) = (None, None, Vec::new(), 0);
        for line in lines.take_while(|l| !l.is_empty()) {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            if name.eq_ignore_ascii_case("port") {
                let ok = !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit());
                let p = ok.then(|| value.parse::<u16>().ok()).flatten();
                port = Some(p.filter(|&p| p != 0).ok_or(LsdError::BadPort)?);
            } else if name.eq_ignore_ascii_case("infohash") {
                count += 1;
                if count > MAX_HASHES {
                    return Err(LsdError::TooManyHashes { count });
                }
                if let Some(h) = InfoHash::from_hex(value).filter(|h| !hashes.contains(h)) {
                    hashes.push(h);
                }
            } else if name.eq_ignore_ascii_case("cookie") && value.len() <= MAX_COOKIE {
                cookie = Some(value.to_owned());
            }
        }
        let port = port.ok_or(LsdError::BadPort)?;
        if hashes.is_empty() {
            return Err(LsdError::NoInfoHash);
        }
        Ok(LsdAnnounce {
            port,
            info_hashes: hashes,
            cookie,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(b: u8) -> InfoHash {
        InfoHash([b; 20])
    }

    #[test]
    fn exact_bytes_v4_and_v6_and_back() {
        let a = LsdAnnounce {
            port: 6881,
            info_hashes: vec![hash(0xab), hash(0x01)],
            cookie: Some("c0ffee".into()),
        };
        let v4 = a.encode(LsdFamily::V4);
        let expect = format!(
            "BT-SEARCH * HTTP/1.1\r\nHost: 239.192.152.143:6771\r\nPort: 6881\r\n\
             Infohash: {}\r\nInfohash: {}\r\ncookie: c0ffee\r\n\r\n\r\n",
            "ab".repeat(20),
            "01".repeat(20)
        );
        assert_eq!(String::from_utf8(v4.clone()).unwrap(), expect);
        assert_eq!(LsdAnnounce::parse(&v4), Ok(a.clone()));
        let v6 = a.encode(LsdFamily::V6);
        assert!(v6.starts_with(b"BT-SEARCH * HTTP/1.1\r\nHost: [ff15::efc0:988f]:6771\r\n"));
        assert_eq!(LsdAnnounce::parse(&v6), Ok(a));
        assert_eq!(LSD_GROUP_V6.to_string(), "[ff15::efc0:988f]:6771");
        assert_eq!(LsdFamily::V4.group().to_string(), "239.192.152.143:6771");
    }

    #[test]
    fn lenient_on_case_bare_newlines_unknown_headers_and_v2_hashes() {
        let p = format!(
            "BT-SEARCH * HTTP/1.1\nHOST: x\nX-Other: 1\nport:  51413 \ninfohash: {}\n\
             Infohash: {}\nInfohash: {}\n\n",
            "AB".repeat(20),
            "cd".repeat(32),
            "ab".repeat(20)
        );
        let a = LsdAnnounce::parse(p.as_bytes()).unwrap();
        assert_eq!(a.port, 51413);
        assert_eq!(a.info_hashes, [hash(0xab)], "v2 skipped, duplicate merged");
        assert_eq!(a.cookie, None);
    }

    #[test]
    fn malformed_packets_are_typed_errors() {
        let h = "ab".repeat(20);
        let with = |port: &str, hashes: &str| {
            format!("BT-SEARCH * HTTP/1.1\r\nPort: {port}\r\n{hashes}\r\n\r\n")
        };
        let one = format!("Infohash: {h}\r\n");
        let cases = [
            (with("0", &one), LsdError::BadPort),
            (with("65536", &one), LsdError::BadPort),
            (with("-1", &one), LsdError::BadPort),
            (with("", &one), LsdError::BadPort),
            (with("80", "Infohash: xyz\r\n"), LsdError::NoInfoHash),
            (
                with("80", &format!("Infohash: {}\r\n", &h[..39])),
                LsdError::NoInfoHash,
            ),
            (with("80", ""), LsdError::NoInfoHash),
            (
                format!("M-SEARCH * HTTP/1.1\r\nPort: 1\r\n{one}\r\n"),
                LsdError::NotAnnounce,
            ),
            (
                with("80", &"Infohash: 0\r\n".repeat(MAX_HASHES + 1)),
                LsdError::TooManyHashes {
                    count: MAX_HASHES + 1,
                },
            ),
        ];
        for (p, e) in cases {
            assert_eq!(LsdAnnounce::parse(p.as_bytes()), Err(e), "{p:?}");
        }
        assert_eq!(
            LsdAnnounce::parse(&[0xff, 0xfe]),
            Err(LsdError::NotAnnounce)
        );
        assert_eq!(
            LsdAnnounce::parse(&[b'a'; 1501]),
            Err(LsdError::TooLarge { len: 1501 })
        );
        let port_only = format!("BT-SEARCH * HTTP/1.1\r\n{one}\r\n");
        assert_eq!(
            LsdAnnounce::parse(port_only.as_bytes()),
            Err(LsdError::BadPort)
        );
    }

    #[test]
    fn hashes_that_fit_stay_under_the_packet_limit() {
        let n = LsdAnnounce::hashes_that_fit(LsdFamily::V6, 65535, Some("0123456789abcdef"));
        let full = LsdAnnounce {
            port: 65535,
            info_hashes: (0..n).map(|i| hash(i as u8)).collect(),
            cookie: Some("0123456789abcdef".into()),
        };
        assert!(full.encode(LsdFamily::V6).len() <= MAX_PACKET);
        let mut over = full.clone();
        over.info_hashes.push(hash(0xff));
        assert!(over.encode(LsdFamily::V6).len() > MAX_PACKET);
        assert_eq!(n, 25);
    }
}
