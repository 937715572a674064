//! Requests beyond a peer's queue: ignored while we keep serving, a flood once they outrun us.

use std::time::Instant;

use super::{test_core, TorrentCore, READS_PER_PEER};
use crate::engine::io::EngineConfig;
use crate::engine::Outputs;
use crate::layout::Layout;
use crate::wire::Message;

const QUEUE: usize = 8;

fn seeding_core(now: Instant) -> TorrentCore {
    let layout = Layout::new(16384, 16384 * 64).unwrap();
    let cfg = EngineConfig {
        max_upload_queue: QUEUE,
        ..EngineConfig::default()
    };
    test_core(1, layout, true, &cfg, now)
}

fn requests(pieces: std::ops::Range<u32>) -> Vec<u8> {
    let mut bytes = Vec::new();
    for index in pieces {
        Message::Request {
            index,
            begin: 0,
            length: 16384,
        }
        .encode(&mut bytes);
    }
    bytes
}

#[test]
fn a_full_queue_ignores_requests_and_only_a_flood_drops_the_peer() {
    let now = Instant::now();
    let mut t = seeding_core(now);
    let mut out = Outputs::default();
    let conn = 1;
    t.add_peer(
        conn,
        "127.0.0.1:7100".parse().unwrap(),
        false,
        [7; 20],
        now,
        &mut out,
    );
    let mut interested = Vec::new();
    Message::Interested.encode(&mut interested);
    t.handle_data(conn, &interested, now, &mut out);
    assert!(!t.peers[&conn].am_choking, "a free slot unchokes it");

    // No disk answers arrive, so the queue fills; the overflow is ignored, the peer kept.
    let sent = (READS_PER_PEER + QUEUE + 3) as u32;
    t.handle_data(conn, &requests(0..sent), now, &mut out);
    let peer = &t.peers[&conn];
    assert_eq!(peer.upload_queue.len(), QUEUE);
    assert_eq!(peer.overflow_requests, 3);

    // Overflow that keeps outrunning what we serve is a flood.
    t.handle_data(conn, &requests(sent..sent + QUEUE as u32), now, &mut out);
    assert!(!t.peers.contains_key(&conn), "dropped as a flood");
}

#[test]
fn the_extension_handshake_tells_our_queue_length() {
    let now = Instant::now();
    let mut t = seeding_core(now);
    let mut out = Outputs::default();
    let conn = 2;
    t.add_peer(
        conn,
        "127.0.0.1:7101".parse().unwrap(),
        false,
        [8; 20],
        now,
        &mut out,
    );
    t.peers.get_mut(&conn).unwrap().out.take_bytes();
    t.send_extension_handshake(conn, now, &mut out);
    let bytes = t.peers.get_mut(&conn).unwrap().out.take_bytes();
    let Some((Message::Extended { id: 0, payload }, used)) =
        crate::wire::decode_frame(&bytes, 1 << 20).unwrap()
    else {
        panic!("not an extended message: {bytes:?}");
    };
    assert_eq!(used, bytes.len());
    let dict = crate::bencode::decode(payload).unwrap();
    assert_eq!(
        dict.get("reqq").and_then(|v| v.as_int()),
        Some(QUEUE as i64)
    );
    assert!(dict.get("m").is_some(), "BEP 10 requires the m dictionary");
}
