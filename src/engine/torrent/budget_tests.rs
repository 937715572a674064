//! Piece-buffer budgets: per torrent, and for all torrents of a session together.

use std::time::Instant;

use super::{test_core, TorrentCore};
use crate::bitfield::Bitfield;
use crate::engine::io::{DiskDone, EngineConfig};
use crate::engine::Outputs;
use crate::layout::Layout;
use crate::wire::Message;

const PIECE: u32 = 256 * 1024;
const MIB: usize = 1 << 20;

fn core(id: usize, cfg: &EngineConfig, now: Instant) -> TorrentCore {
    let layout = Layout::new(PIECE, u64::from(PIECE) * 32).unwrap();
    test_core(id, layout, false, cfg, now)
}

/// A seed joins `t` and unchokes us, so `t` requests as much as its budgets allow.
fn seed_unchokes(t: &mut TorrentCore, now: Instant, out: &mut Outputs) {
    let conn = t.id * 10;
    let addr = format!("127.0.0.1:{}", 7000 + t.id).parse().unwrap();
    t.add_peer(conn, addr, true, [t.id as u8; 20], now, out);
    let mut all = Bitfield::new(32);
    for p in 0..32 {
        all.set(p);
    }
    let mut bytes = Vec::new();
    Message::Bitfield(all.as_bytes()).encode(&mut bytes);
    Message::Unchoke.encode(&mut bytes);
    t.handle_data(conn, &bytes, now, out);
}

#[test]
fn the_session_budget_bounds_all_torrents_together() {
    let now = Instant::now();
    let cfg = EngineConfig {
        piece_buffer_bytes: 4 * MIB,
        session_piece_buffer_bytes: MIB,
        // Deep pipelines, so only the budgets limit how many pieces start.
        pipeline_floor: 256,
        ..EngineConfig::default()
    };
    let (mut a, mut b) = (core(1, &cfg, now), core(2, &cfg, now));
    let mut out = Outputs::default();
    seed_unchokes(&mut a, now, &mut out);
    assert_eq!(a.partial.len(), 4, "1 MiB of 256 KiB pieces");
    assert_eq!(out.buffers.live, MIB);
    seed_unchokes(&mut b, now, &mut out);
    assert!(
        out.buffers.starved,
        "so the engine must refill `b` when budget comes back"
    );
    assert_eq!(
        b.partial.len(),
        0,
        "the session budget is spent by the other torrent"
    );

    // A piece of `a` verifies: its bytes leave the budget and its buffer becomes a spare,
    // which `a`, refilling its peer at once, takes for its next piece (no new allocation).
    let (&piece, p) = a.partial.iter_mut().next().unwrap();
    let buffer = std::mem::take(&mut p.data);
    let reused = buffer.as_ptr();
    let done = DiskDone::Verified {
        torrent: 1,
        piece,
        ok: true,
        buffer,
    };
    a.handle_disk(done, now, &mut out);
    assert_eq!(a.partial.len(), 4);
    assert!(a.partial.values().any(|p| p.data.as_ptr() == reused));
    assert_eq!((out.buffers.live, out.buffers.bytes()), (MIB, 0));
}

#[test]
fn a_lone_torrent_keeps_two_pieces_whatever_the_budgets() {
    let now = Instant::now();
    let cfg = EngineConfig {
        piece_buffer_bytes: 1,
        session_piece_buffer_bytes: 1,
        pipeline_floor: 256,
        ..EngineConfig::default()
    };
    let mut a = core(1, &cfg, now);
    let mut out = Outputs::default();
    seed_unchokes(&mut a, now, &mut out);
    assert_eq!(a.partial.len(), 2);
}

#[test]
fn a_starved_torrent_starts_pieces_once_refilled() {
    let now = Instant::now();
    let cfg = EngineConfig {
        session_piece_buffer_bytes: MIB,
        pipeline_floor: 256,
        ..EngineConfig::default()
    };
    let mut b = core(2, &cfg, now);
    let mut out = Outputs::default();
    out.buffers.live = MIB; // held by other torrents
    seed_unchokes(&mut b, now, &mut out);
    assert_eq!(b.partial.len(), 0);
    assert!(out.buffers.starved);
    // The others finished their pieces: the engine clears the flag and refills `b`.
    out.buffers.live = 0;
    out.buffers.starved = false;
    b.refill(now, &mut out);
    assert_eq!(b.partial.len(), 4);
    assert!(!out.buffers.starved);
}
