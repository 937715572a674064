//! BEP 11 `ut_pex` messages: peers the sender connected to (`added`, `added6` with per-peer
//! flags) and disconnected from (`dropped`, `dropped6`), as compact addresses.
//!
//! Pure data, used on the reactor thread. Decoding refuses a message listing more than
//! [`MAX_PEX_ENTRIES`] added or dropped peers instead of truncating it: BEP 11 allows 50 of
//! each, so four times that is a broken or hostile sender, and refusing spares decoding the
//! rest. Whether the peers in a valid message are used is [`super::pex_state`]'s decision.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::bencode::{self, Bencode, BencodeError, Value};

/// Most added (IPv4 + IPv6) or dropped peers one decoded message may list.
pub const MAX_PEX_ENTRIES: usize = 200;

// 0x01 (prefers encryption) and 0x08 (`ut_holepunch`) are defined too; nothing here reads them.
/// Flag: the peer is a seed (or upload-only).
pub const FLAG_SEED: u8 = 0x02;
/// Flag: the peer supports uTP.
#[cfg(test)]
pub const FLAG_UTP: u8 = 0x04;
/// Flag: the sender reached the peer itself (an outgoing connection), so it is reachable.
pub const FLAG_REACHABLE: u8 = 0x10;

/// One peer in an `added` list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PexPeer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// `FLAG_*` bits.
    pub flags: u8,
}

/// One `ut_pex` message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PexMessage {
    /// Peers the sender is now connected to (IPv4 and IPv6 together).
    pub added: Vec<PexPeer>,
    /// Peers the sender is no longer connected to.
    pub dropped: Vec<SocketAddr>,
}

/// Why a `ut_pex` payload was refused. Not fatal for the connection: the message is ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PexError {
    /// The payload is not valid bencode.
    Bencode(BencodeError),
    /// The payload is not a dictionary.
    NotADict,
    /// A compact list whose length is not a multiple of its entry size (6 or 18).
    BadCompactLength {
        /// The key (`added`, `dropped6`, …).
        key: &'static str,
        /// Its length in bytes.
        len: usize,
    },
    /// More than [`MAX_PEX_ENTRIES`] added or dropped peers.
    TooManyPeers {
        /// `added` or `dropped` (both families counted together).
        list: &'static str,
        /// How many were listed.
        count: usize,
    },
}

impl fmt::Display for PexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PexError::Bencode(e) => write!(f, "ut_pex: {e}"),
            PexError::NotADict => f.write_str("ut_pex: message is not a dictionary"),
            PexError::BadCompactLength { key, len } => {
                write!(
                    f,
                    "ut_pex: `{key}` of {len} bytes is not a list of compact addresses"
                )
            }
            PexError::TooManyPeers { list, count } => write!(
                f,
                "ut_pex: {count} {list} peers, over the limit of {MAX_PEX_ENTRIES}"
            ),
        }
    }
}

impl std::error::Error for PexError {}

/// The compact bytes of `key`: entries of `unit` bytes, or an error. Missing → empty.
fn compact<'a>(dict: &Value<'a>, key: &'static str, unit: usize) -> Result<&'a [u8], PexError> {
    let bytes = dict.get(key).and_then(Value::as_bytes).unwrap_or(&[]);
    if bytes.len() % unit != 0 {
        return Err(PexError::BadCompactLength {
            key,
            len: bytes.len(),
        });
    }
    Ok(bytes)
}

fn addr_from(entry: &[u8]) -> SocketAddr {
    let (ip, port) = entry.split_at(entry.len() - 2);
    let port = u16::from_be_bytes([port[0], port[1]]);
    let ip = match <[u8; 4]>::try_from(ip) {
        Ok(v4) => IpAddr::V4(Ipv4Addr::from(v4)),
        Err(_) => {
            let mut v6 = [0u8; 16];
            v6.copy_from_slice(ip);
            IpAddr::V6(Ipv6Addr::from(v6))
        }
    };
    SocketAddr::new(ip, port)
}

fn put_addr(addr: &SocketAddr, out: &mut Vec<u8>) {
    match addr.ip() {
        IpAddr::V4(ip) => out.extend_from_slice(&ip.octets()),
        IpAddr::V6(ip) => out.extend_from_slice(&ip.octets()),
    }
    out.extend_from_slice(&addr.port().to_be_bytes());
}

impl PexMessage {
    /// Decodes a payload (the bytes after the extended message id).
    ///
    /// `added.f` / `added6.f` of the wrong length are ignored (flags 0), as libtorrent does:
    /// the addresses are still good.
    pub fn decode(payload: &[u8]) -> Result<PexMessage, PexError> {
        let dict = bencode::decode(payload).map_err(PexError::Bencode)?;
        if dict.as_dict().is_none() {
            return Err(PexError::NotADict);
        }
        let (a4, a6) = (compact(&dict, "added", 6)?, compact(&dict, "added6", 18)?);
        let (d4, d6) = (
            compact(&dict, "dropped", 6)?,
            compact(&dict, "dropped6", 18)?,
        );
        let added_count = a4.len() / 6 + a6.len() / 18;
        let dropped_count = d4.len() / 6 + d6.len() / 18;
        for (list, count) in [("added", added_count), ("dropped", dropped_count)] {
            if count > MAX_PEX_ENTRIES {
                return Err(PexError::TooManyPeers { list, count });
            }
        }
        let mut msg = PexMessage::default();
        for (bytes, unit, flags_key) in [(a4, 6, "added.f"), (a6, 18, "added6.f")] {
            let flags = dict.get(flags_key).and_then(Value::as_bytes);
            let flags = flags.filter(|f| f.len() == bytes.len() / unit);
            for (i, entry) in bytes.chunks_exact(unit).enumerate() {
                msg.added.push(PexPeer {
                    addr: addr_from(entry),
                    flags: flags.map_or(0, |f| f[i]),
                });
            }
        }
        for (bytes, unit) in [(d4, 6), (d6, 18)] {
            msg.dropped.extend(bytes.chunks_exact(unit).map(addr_from));
        }
        Ok(msg)
    }

    /// The canonical payload; IPv4 and IPv6 peers go to their own keys, and `added.f` /
    /// `added6.f` are always present alongside a non-empty list.
    pub fn encode(&self) -> Vec<u8> {
        let (mut a4, mut f4, mut a6, mut f6) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for p in &self.added {
            let (list, flags) = if p.addr.is_ipv4() {
                (&mut a4, &mut f4)
            } else {
                (&mut a6, &mut f6)
            };
            put_addr(&p.addr, list);
            flags.push(p.flags);
        }
        let (mut d4, mut d6) = (Vec::new(), Vec::new());
        for a in &self.dropped {
            put_addr(a, if a.is_ipv4() { &mut d4 } else { &mut d6 });
        }
        let mut entries = vec![
            ("added", Bencode::Bytes(a4)),
            ("added.f", Bencode::Bytes(f4)),
            ("dropped", Bencode::Bytes(d4)),
        ];
        if !a6.is_empty() {
            entries.push(("added6", Bencode::Bytes(a6)));
            entries.push(("added6.f", Bencode::Bytes(f6)));
        }
        if !d6.is_empty() {
            entries.push(("dropped6", Bencode::Bytes(d6)));
        }
        Bencode::dict(entries).encode()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(s: &str, flags: u8) -> PexPeer {
        PexPeer {
            addr: s.parse().unwrap(),
            flags,
        }
    }

    #[test]
    fn exact_bytes_both_families_and_back() {
        let msg = PexMessage {
            added: vec![
                peer("192.0.2.1:6881", FLAG_SEED | FLAG_REACHABLE),
                peer("[2001:db8::1]:256", FLAG_UTP),
            ],
            dropped: vec!["192.0.2.2:1".parse().unwrap()],
        };
        let mut expect = b"d5:added6:\xc0\x00\x02\x01\x1a\xe17:added.f1:\x12".to_vec();
        expect.extend_from_slice(b"6:added618:\x20\x01\x0d\xb8");
        expect.extend_from_slice(&[0; 11]);
        expect.extend_from_slice(b"\x01\x01\x008:added6.f1:\x04");
        expect.extend_from_slice(b"7:dropped6:\xc0\x00\x02\x02\x00\x01e");
        assert_eq!(msg.encode(), expect);
        assert_eq!(PexMessage::decode(&expect), Ok(msg));
        assert_eq!(
            PexMessage::default().encode(),
            b"d5:added0:7:added.f0:7:dropped0:e"
        );
    }

    #[test]
    fn missing_or_mismatched_flags_mean_zero() {
        let p = b"d5:added12:\x7f\x00\x00\x01\x00\x50\x7f\x00\x00\x02\x00\x517:added.f1:\x02e";
        let msg = PexMessage::decode(p).unwrap();
        assert_eq!(
            msg.added,
            [peer("127.0.0.1:80", 0), peer("127.0.0.2:81", 0)]
        );
        assert!(msg.dropped.is_empty());
    }

    #[test]
    fn malformed_compact_strings_are_refused() {
        let cases: [(&[u8], PexError); 4] = [
            (
                b"d5:added5:abcdee",
                PexError::BadCompactLength {
                    key: "added",
                    len: 5,
                },
            ),
            (
                b"d6:added66:abcdefe",
                PexError::BadCompactLength {
                    key: "added6",
                    len: 6,
                },
            ),
            (
                b"d7:dropped7:abcdefge",
                PexError::BadCompactLength {
                    key: "dropped",
                    len: 7,
                },
            ),
            (b"le", PexError::NotADict),
        ];
        for (p, e) in cases {
            assert_eq!(PexMessage::decode(p), Err(e));
        }
        assert!(matches!(
            PexMessage::decode(b"d5:added"),
            Err(PexError::Bencode(_))
        ));
    }

    #[test]
    fn ten_thousand_peers_are_refused() {
        let list = vec![7u8; 6 * 10_000];
        let mut p = format!("d5:added{}:", list.len()).into_bytes();
        p.extend_from_slice(&list);
        p.push(b'e');
        assert_eq!(
            PexMessage::decode(&p),
            Err(PexError::TooManyPeers {
                list: "added",
                count: 10_000
            })
        );
        let ok = vec![7u8; 6 * MAX_PEX_ENTRIES];
        let mut p = format!("d7:dropped{}:", ok.len()).into_bytes();
        p.extend_from_slice(&ok);
        p.push(b'e');
        assert_eq!(
            PexMessage::decode(&p).unwrap().dropped.len(),
            MAX_PEX_ENTRIES
        );
        assert_eq!(
            PexError::TooManyPeers {
                list: "added",
                count: 10_000
            }
            .to_string(),
            "ut_pex: 10000 added peers, over the limit of 200"
        );
    }
}
