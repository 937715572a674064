//! BEP 6 allowed-fast sets: which pieces a peer may download from us while choked.
//!
//! Pure function, no state, on its caller's thread: the engine sends each Fast peer this set
//! (see `engine::torrent::fast`). It must not depend on anything but its arguments, so both ends
//! of a connection could compute the same set (libtorrent, which grants its own sets, hashes the
//! unmasked address instead; peers only honour what they are sent, so both interoperate).

use std::net::Ipv4Addr;

use sha1::{Digest, Sha1};

/// Allowed-fast set size BEP 6 suggests (and libtorrent uses by default).
pub const DEFAULT_ALLOWED_FAST: usize = 10;

/// BEP 6's canonical allowed-fast set for a peer at `ip`, in generation order.
///
/// The peer's address is masked to its /24 so several addresses on one network earn one set.
/// `k` is capped at `num_pieces` (otherwise the loop could never find `k` distinct indices), and a
/// torrent of zero pieces has an empty set. BEP 6 has no IPv6 variant; peers reached over IPv6 get
/// no allowed-fast set, which the type of `ip` enforces.
pub fn allowed_fast_set(ip: Ipv4Addr, info_hash: &[u8; 20], num_pieces: u32, k: usize) -> Vec<u32> {
    let k = k.min(usize::try_from(num_pieces).unwrap_or(usize::MAX));
    let mut set: Vec<u32> = Vec::with_capacity(k);
    let masked = u32::from(ip) & 0xffff_ff00;
    let mut x: Vec<u8> = masked.to_be_bytes().to_vec();
    x.extend_from_slice(info_hash);
    while set.len() < k {
        let digest: [u8; 20] = Sha1::digest(&x).into();
        for word in digest.chunks_exact(4) {
            if set.len() >= k {
                break;
            }
            let y = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
            let index = y % num_pieces;
            if !set.contains(&index) {
                set.push(index);
            }
        }
        x = digest.to_vec();
    }
    set
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEER: Ipv4Addr = Ipv4Addr::new(80, 4, 4, 200);

    #[test]
    fn bep6_published_vector_k7_and_k9() {
        let hash = [0xaa; 20];
        assert_eq!(
            allowed_fast_set(PEER, &hash, 1313, 7),
            [1059, 431, 808, 1217, 287, 376, 1188]
        );
        assert_eq!(
            allowed_fast_set(PEER, &hash, 1313, 9),
            [1059, 431, 808, 1217, 287, 376, 1188, 353, 508]
        );
    }

    #[test]
    fn same_slash24_same_set_other_network_other_set() {
        let hash = [0xaa; 20];
        let base = allowed_fast_set(PEER, &hash, 1313, 7);
        assert_eq!(
            allowed_fast_set(Ipv4Addr::new(80, 4, 4, 1), &hash, 1313, 7),
            base
        );
        assert_ne!(
            allowed_fast_set(Ipv4Addr::new(80, 4, 5, 200), &hash, 1313, 7),
            base
        );
    }

    #[test]
    fn k_is_capped_by_the_piece_count() {
        let hash = [0x11; 20];
        let mut all = allowed_fast_set(PEER, &hash, 3, 10);
        all.sort_unstable();
        assert_eq!(all, [0, 1, 2]);
        assert!(allowed_fast_set(PEER, &hash, 0, 10).is_empty());
        assert_eq!(allowed_fast_set(PEER, &hash, 1, 10), [0]);
        assert!(allowed_fast_set(PEER, &hash, 1313, 0).is_empty());
    }
}
