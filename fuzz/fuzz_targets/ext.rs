//! Peer-extension decoders and the metadata fetch: never panic, accepted messages respect
//! their bounds and re-encode to something that decodes to the same value, and the fetch only
//! ever returns the one byte string whose SHA-1 is the info-hash.
//!
//! Input: byte 0 picks the target (handshake, ut_metadata, ut_pex, LSD, fetch), the rest is
//! its input. For the fetch: one byte picks a known info dictionary (a 75-byte one, or 20,000
//! bytes of `i % 251` spanning two metadata pieces; their SHA-1s are below, so the target needs
//! no hash crate), then a script of operations (see `drive_fetch`).
#![no_main]
// A fuzz harness is a shell: `fuzz_target!` itself writes crash inputs to files.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::time::{Duration, Instant};

use coracle::internals::ext::handshake::{ExtHandshake, MAX_CLIENT_NAME};
use coracle::internals::ext::lsd::{LsdAnnounce, MAX_HASHES, MAX_INCOMING_PACKET};
use coracle::internals::ext::metadata::{MetadataMsg, METADATA_PIECE_LEN};
use coracle::internals::ext::metadata_fetch::{DataOutcome, MetadataFetch, MAX_METADATA_SIZE};
use coracle::internals::ext::pex::{PexMessage, MAX_PEX_ENTRIES};
use coracle::InfoHash;
use libfuzzer_sys::fuzz_target;

/// A small single-file info dictionary and its SHA-1.
const SMALL_INFO: &[u8] = b"d6:lengthi1e4:name1:x12:piece lengthi16384e6:pieces20:\
\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0e";
const SMALL_HASH: &str = "f31bf5bfe2c00064b8edddec12cad4c27282700e";
/// SHA-1 of the 20,000 bytes `i % 251`.
const LARGE_HASH: &str = "7f21d0bec0ec41aea43854e5bb9e97951d383157";

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    match which % 5 {
        0 => handshake(rest),
        1 => metadata(rest),
        2 => pex(rest),
        3 => lsd(rest),
        _ => drive_fetch(rest),
    }
});

fn handshake(p: &[u8]) {
    if let Ok(hs) = ExtHandshake::decode(p) {
        assert!(hs.client.as_ref().map_or(0, String::len) <= MAX_CLIENT_NAME);
        assert_ne!(hs.listen_port, Some(0));
        assert_eq!(ExtHandshake::decode(&hs.encode()), Ok(hs));
    }
}

fn metadata(p: &[u8]) {
    if let Ok(m) = MetadataMsg::decode(p) {
        if let MetadataMsg::Data { data, .. } = m {
            assert!(data.len() <= METADATA_PIECE_LEN as usize);
        }
        let mut out = Vec::new();
        m.encode(&mut out);
        assert_eq!(MetadataMsg::decode(&out), Ok(m));
    }
}

fn pex(p: &[u8]) {
    if let Ok(m) = PexMessage::decode(p) {
        assert!(m.added.len() <= MAX_PEX_ENTRIES && m.dropped.len() <= MAX_PEX_ENTRIES);
        assert_eq!(PexMessage::decode(&m.encode()), Ok(m));
    }
}

fn lsd(p: &[u8]) {
    if let Ok(a) = LsdAnnounce::parse(p) {
        assert_ne!(a.port, 0);
        assert!(!a.info_hashes.is_empty() && a.info_hashes.len() <= MAX_HASHES);
        let out = a.encode(coracle::internals::ext::lsd::LsdFamily::V4);
        if out.len() <= MAX_INCOMING_PACKET {
            assert_eq!(LsdAnnounce::parse(&out), Ok(a));
        }
    }
}

/// Script ops, one byte each (low 3 bits: op, next 2 bits: peer 0-3), some with arguments:
/// 0 add_peer (2 bytes: size - 64), 1 next_request, 2 a ut_metadata message (2-byte length +
/// payload), 3 handle_timeout after (1 byte) seconds, 4 remove_peer, other: poll_timeout.
fn drive_fetch(input: &[u8]) {
    let Some((&pick, mut script)) = input.split_first() else {
        return;
    };
    let (info, hash) = if pick & 1 == 0 {
        (SMALL_INFO.to_vec(), SMALL_HASH)
    } else {
        (
            (0..20_000u32).map(|i| (i % 251) as u8).collect(),
            LARGE_HASH,
        )
    };
    let hash = InfoHash::from_hex(hash).expect("constant").0;
    let mut f = MetadataFetch::new(hash);
    let mut now = Instant::now();
    while let Some((&op, tail)) = script.split_first() {
        script = tail;
        let peer = usize::from(op >> 3) & 3;
        match op & 7 {
            0 => {
                let Some((size, tail)) = script.split_first_chunk::<2>() else {
                    return;
                };
                script = tail;
                let _ = f.add_peer(peer, i64::from(u16::from_be_bytes(*size)) - 64);
            }
            1 => {
                let _ = f.next_request(peer, now);
            }
            2 => {
                let Some((len, tail)) = script.split_first_chunk::<2>() else {
                    return;
                };
                let len = usize::from(u16::from_be_bytes(*len)).min(tail.len());
                let (payload, tail) = tail.split_at(len);
                script = tail;
                message(&mut f, peer, payload, &info, now);
            }
            3 => {
                let secs = script.first().copied().unwrap_or(0);
                script = script.get(1..).unwrap_or(&[]);
                now += Duration::from_secs(u64::from(secs));
                let _ = f.handle_timeout(now);
            }
            4 => f.remove_peer(peer),
            _ => {
                if let Some(t) = f.poll_timeout() {
                    assert!(t <= now + Duration::from_secs(3600));
                }
            }
        }
        assert!(f.metadata_size().is_none_or(|s| s <= MAX_METADATA_SIZE));
        let (have, total) = f.progress();
        assert!(have <= total);
    }
}

fn message(f: &mut MetadataFetch, peer: usize, payload: &[u8], expect: &[u8], now: Instant) {
    match MetadataMsg::decode(payload) {
        Ok(MetadataMsg::Data {
            piece,
            total_size,
            data,
        }) => {
            if let Ok(DataOutcome::Verified { info, .. }) = f.on_data(peer, piece, total_size, data)
            {
                assert_eq!(
                    info, expect,
                    "verified bytes must be the preimage of the hash"
                );
                assert!(f.is_done());
            }
        }
        Ok(MetadataMsg::Reject { piece }) => {
            let _ = f.on_reject(peer, piece, now);
        }
        _ => {}
    }
}
