//! 160-bit DHT node ids: XOR distance, shared-prefix length (which bucket a node falls in), and
//! BEP 42 ids tied to an external IP address.
//!
//! Pure data, used by the [`Dht`](super::Dht) on the reactor thread. BEP 42 binds the first 21 bits
//! of a node id to a CRC32-C of the node's masked IP, so one address can only choose from a small
//! set of ids and cannot park itself next to any info-hash it likes. Local, private and loopback
//! addresses are exempt (as libtorrent does): nodes behind the same NAT cannot know an external
//! address to derive their id from.

use std::cmp::Ordering;
use std::fmt;
use std::net::IpAddr;

use crate::rng::SplitMix64;

/// Length of a node id (and of an info-hash) in bytes.
pub const ID_LEN: usize = 20;

/// A node id or an info-hash: both live in the same 160-bit keyspace. Ordering is big-endian, so
/// comparing two XOR distances with `<` compares closeness.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct NodeId(pub [u8; ID_LEN]);

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in &self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl NodeId {
    /// The id in `bytes`, if it is exactly 20 bytes long.
    pub fn from_slice(bytes: &[u8]) -> Option<NodeId> {
        bytes.try_into().ok().map(NodeId)
    }

    /// A uniformly random id (for refresh targets, or a node that has no external IP yet).
    pub fn random(rng: &mut SplitMix64) -> NodeId {
        let mut id = [0u8; ID_LEN];
        for chunk in id.chunks_mut(8) {
            let r = rng.next_u64().to_be_bytes();
            chunk.copy_from_slice(&r[..chunk.len()]);
        }
        NodeId(id)
    }

    /// XOR distance to `other`.
    #[cfg(test)]
    pub fn distance(&self, other: &NodeId) -> NodeId {
        let mut d = [0u8; ID_LEN];
        for (i, b) in d.iter_mut().enumerate() {
            *b = self.0[i] ^ other.0[i];
        }
        NodeId(d)
    }

    /// Whether `a` is closer to `self` than `b` is (`Less`), as far (`Equal`) or farther.
    pub fn cmp_distance(&self, a: &NodeId, b: &NodeId) -> Ordering {
        for i in 0..ID_LEN {
            let (x, y) = (self.0[i] ^ a.0[i], self.0[i] ^ b.0[i]);
            if x != y {
                return x.cmp(&y);
            }
        }
        Ordering::Equal
    }

    /// Number of leading bits shared with `other` (160 when equal): the routing table puts a
    /// node with prefix length `p` in bucket `p`.
    pub fn common_prefix(&self, other: &NodeId) -> usize {
        for i in 0..ID_LEN {
            let x = self.0[i] ^ other.0[i];
            if x != 0 {
                return i * 8 + x.leading_zeros() as usize;
            }
        }
        ID_LEN * 8
    }

    /// A random id sharing exactly `bits` leading bits with `self` (all bits when `bits` is 160):
    /// a target inside bucket `bits`, for refreshing it.
    pub fn random_in_bucket(&self, bits: usize, rng: &mut SplitMix64) -> NodeId {
        let mut id = NodeId::random(rng);
        for bit in 0..bits.min(ID_LEN * 8) {
            let mask = 0x80u8 >> (bit % 8);
            id.0[bit / 8] = (id.0[bit / 8] & !mask) | (self.0[bit / 8] & mask);
        }
        if bits < ID_LEN * 8 {
            let mask = 0x80u8 >> (bits % 8);
            id.0[bits / 8] = (id.0[bits / 8] & !mask) | (!self.0[bits / 8] & mask);
        }
        id
    }

    /// A BEP 42 id for a node whose external address is `ip`; the rest of the id is random.
    pub fn for_ip(ip: IpAddr, rng: &mut SplitMix64) -> NodeId {
        let mut id = NodeId::random(rng);
        let r = id.0[19] & 7;
        let crc = bep42_crc(ip, r);
        id.0[0] = (crc >> 24) as u8;
        id.0[1] = (crc >> 16) as u8;
        id.0[2] = ((crc >> 8) as u8 & 0xf8) | (id.0[2] & 7);
        id
    }

    /// Whether this id is allowed for a node at `ip` under BEP 42. Local addresses always pass.
    pub fn matches_ip(&self, ip: IpAddr) -> bool {
        if is_local(ip) {
            return true;
        }
        let crc = bep42_crc(ip, self.0[19] & 7);
        self.0[0] == (crc >> 24) as u8
            && self.0[1] == (crc >> 16) as u8
            && self.0[2] & 0xf8 == (crc >> 8) as u8 & 0xf8
    }
}

/// Loopback, private, link-local and unique-local addresses (plus unspecified): never checked
/// against BEP 42, since such a node cannot know the external address its id should match.
pub fn is_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || (o[0] == 100 && o[1] & 0xc0 == 64) // carrier-grade NAT, 100.64/10
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_local(IpAddr::V4(v4));
            }
            v6.is_loopback()
                || v6.is_unspecified()
                || s[0] & 0xfe00 == 0xfc00 // unique local, fc00::/7
                || s[0] & 0xffc0 == 0xfe80 // link-local, fe80::/10
        }
    }
}

/// CRC32-C of the masked address with `r` in the top bits of its first byte (BEP 42).
fn bep42_crc(ip: IpAddr, r: u8) -> u32 {
    const V4_MASK: [u8; 4] = [0x03, 0x0f, 0x3f, 0xff];
    const V6_MASK: [u8; 8] = [0x01, 0x03, 0x07, 0x0f, 0x1f, 0x3f, 0x7f, 0xff];
    let mut buf = [0u8; 8];
    let len = match ip {
        IpAddr::V4(v4) => {
            for (i, o) in v4.octets().iter().enumerate() {
                buf[i] = o & V4_MASK[i];
            }
            4
        }
        IpAddr::V6(v6) => {
            for (i, o) in v6.octets()[..8].iter().enumerate() {
                buf[i] = o & V6_MASK[i];
            }
            8
        }
    };
    buf[0] |= (r & 7) << 5;
    crc32c(&buf[..len])
}

/// CRC32-C (Castagnoli), bit by bit: it runs on 4 or 8 bytes per packet at most, so a 1 KiB
/// table would only cost binary size.
pub fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0x82f6_3b78 & (crc & 1).wrapping_neg());
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn id(hex: &str) -> NodeId {
        let mut out = [0u8; 20];
        for (i, b) in out.iter_mut().enumerate() {
            *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
        }
        NodeId(out)
    }

    #[test]
    fn crc32c_check_value() {
        // The standard check value of CRC-32C over "123456789".
        assert_eq!(crc32c(b"123456789"), 0xe306_9283);
        assert_eq!(crc32c(b""), 0);
    }

    /// The table published in BEP 42: (address octets, rand, node id). The addresses are only
    /// inputs to the hash here; nothing is ever sent to them.
    const BEP42_VECTORS: [([u8; 4], u8, &str); 5] = [
        (
            [124, 31, 75, 21],
            1,
            "5fbfbff10c5d6a4ec8a88e4c6ab4c28b95eee401",
        ),
        (
            [21, 75, 31, 124],
            86,
            "5a3ce9c14e7a08645677bbd1cfe7d8f956d53256",
        ),
        (
            [65, 23, 51, 170],
            22,
            "a5d43220bc8f112a3d426c84764f8c2a1150e616",
        ),
        (
            [84, 124, 73, 14],
            65,
            "1b0321dd1bb1fe518101ceef99462b947a01ff41",
        ),
        (
            [43, 213, 53, 83],
            90,
            "e56f6cbf5b7c4be0237986d5243b87aa6d51305a",
        ),
    ];

    #[test]
    fn bep42_published_vectors_verify_and_generate() {
        for (octets, rand, hex) in BEP42_VECTORS {
            let ip = IpAddr::V4(Ipv4Addr::from(octets));
            let want = id(hex);
            assert_eq!(want.0[19], rand);
            assert!(want.matches_ip(ip), "{ip}");
            // Regenerated from the same `r`, the first 21 bits come out as published.
            let crc = bep42_crc(ip, rand & 7);
            assert_eq!(
                [(crc >> 24) as u8, (crc >> 16) as u8],
                [want.0[0], want.0[1]]
            );
            assert_eq!((crc >> 8) as u8 & 0xf8, want.0[2] & 0xf8);
            // The same id from another address is refused.
            let other = IpAddr::V4(Ipv4Addr::from([octets[0], octets[1], octets[2] ^ 0x20, 1]));
            assert!(!want.matches_ip(other), "{other}");
        }
    }

    #[test]
    fn generated_ids_verify_and_local_addresses_are_exempt() {
        let mut rng = SplitMix64(7);
        let v6 = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 2, 3, 4, 5, 6));
        let v4 = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 9));
        for ip in [v4, v6] {
            for _ in 0..50 {
                assert!(NodeId::for_ip(ip, &mut rng).matches_ip(ip));
            }
        }
        let mut bogus = NodeId::for_ip(v4, &mut rng);
        bogus.0[0] ^= 1;
        assert!(!bogus.matches_ip(v4));
        for local in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.1.1",
            "172.20.0.1",
            "::1",
            "fd00::1",
        ] {
            assert!(bogus.matches_ip(local.parse().unwrap()), "{local}");
        }
        assert!(!is_local("198.51.100.1".parse().unwrap()));
        assert!(is_local("::ffff:10.0.0.1".parse().unwrap()));
    }

    #[test]
    fn distance_prefix_and_bucket_targets() {
        let a = id("ff00000000000000000000000000000000000000");
        let b = id("0f00000000000000000000000000000000000001");
        assert_eq!(a.distance(&b).0[0], 0xf0);
        assert_eq!(a.distance(&b).0[19], 0x01);
        assert_eq!(a.common_prefix(&b), 0);
        assert_eq!(a.common_prefix(&a), 160);
        let c = id("ff80000000000000000000000000000000000000");
        assert_eq!(a.common_prefix(&c), 8);
        assert_eq!(a.cmp_distance(&c, &b), Ordering::Less);
        assert_eq!(a.cmp_distance(&b, &c), Ordering::Greater);
        assert_eq!(a.cmp_distance(&b, &b), Ordering::Equal);
        let mut rng = SplitMix64(3);
        for bits in [0, 1, 7, 8, 9, 100, 159, 160] {
            let t = a.random_in_bucket(bits, &mut rng);
            assert_eq!(a.common_prefix(&t), bits, "bits {bits}");
        }
    }
}
