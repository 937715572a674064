//! Writing a .torrent file around an info dictionary that came from peers (a magnet link's
//! metadata), so the info-hash of the file is the magnet's.
//!
//! Pure data: bytes in, bytes out, on the caller's thread (the binary's main thread for
//! `--save-torrent`).

use crate::bencode::Bencode;

/// A .torrent file: `announce` (the first tracker) and `announce-list` (every tier) when there
/// are trackers, and the info dictionary **byte for byte** (re-encoding it could change the
/// info-hash of a dictionary that is valid but not canonical).
pub fn torrent_file(info: &[u8], trackers: &[Vec<String>]) -> Vec<u8> {
    let mut out = b"d".to_vec();
    let first = trackers.iter().flatten().next();
    if let Some(url) = first {
        Bencode::bytes("announce").encode_into(&mut out);
        Bencode::bytes(url).encode_into(&mut out);
        let tiers = Bencode::List(
            trackers
                .iter()
                .filter(|t| !t.is_empty())
                .map(|t| Bencode::List(t.iter().map(Bencode::bytes).collect()))
                .collect(),
        );
        Bencode::bytes("announce-list").encode_into(&mut out);
        tiers.encode_into(&mut out);
    }
    Bencode::bytes("info").encode_into(&mut out);
    out.extend_from_slice(info);
    out.push(b'e');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metainfo::Metainfo;

    const INFO: &[u8] =
        b"d6:lengthi3e4:name1:x12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaae";

    #[test]
    fn the_written_file_has_the_magnets_info_hash_and_trackers() {
        let trackers = vec![
            vec!["http://127.0.0.1:1/a".to_string()],
            vec!["udp://127.0.0.1:2".to_string()],
        ];
        let bytes = torrent_file(INFO, &trackers);
        let m = Metainfo::from_bytes(&bytes).unwrap();
        assert_eq!(
            m.info_hash,
            Metainfo::from_info_bytes(INFO).unwrap().info_hash
        );
        assert_eq!(m.trackers, trackers);
        assert_eq!(m.info_bytes(), INFO);
        let bare = torrent_file(INFO, &[]);
        assert_eq!(&bare[..7], b"d4:info");
    }
}
