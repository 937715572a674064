//! When `have`s go out: every tick to peers interested in us, once a second to the rest, at
//! once to a peer that turns interested, and never twice or for a piece the peer has.

use std::time::{Duration, Instant};

use super::{test_core, TorrentCore};
use crate::engine::io::{ConnId, DiskDone, EngineConfig};
use crate::engine::Outputs;
use crate::layout::Layout;
use crate::wire::{self, Message};

const TICK: Duration = Duration::from_millis(100);

fn core(now: Instant) -> TorrentCore {
    let layout = Layout::new(16384, 16384 * 8).unwrap();
    test_core(1, layout, false, &EngineConfig::default(), now)
}

/// The `have` indices queued for `conn` since the last call (the outbox is emptied).
fn haves(t: &mut TorrentCore, conn: ConnId) -> Vec<u32> {
    let out = t.peers.get_mut(&conn).unwrap().out.take_bytes();
    let mut rest = &out[..];
    let mut got = Vec::new();
    while let Some((msg, used)) = wire::decode_frame(rest, 1 << 20).unwrap() {
        if let Message::Have { index } = msg {
            got.push(index);
        }
        rest = &rest[used..];
    }
    got
}

fn verified(t: &mut TorrentCore, piece: u32, now: Instant, out: &mut Outputs) {
    let done = DiskDone::Verified {
        torrent: 1,
        piece,
        ok: true,
        buffer: Vec::new(),
    };
    t.handle_disk(done, now, out);
}

#[test]
fn idle_peers_hear_haves_once_a_second_interested_ones_every_tick() {
    let t0 = Instant::now();
    let mut t = core(t0);
    let mut out = Outputs::default();
    let (eager, idle, holder) = (1, 2, 3);
    for (conn, port) in [(eager, 7001), (idle, 7002), (holder, 7003)] {
        let addr = format!("127.0.0.1:{port}").parse().unwrap();
        t.add_peer(conn, addr, false, [port as u8; 20], t0, &mut out);
        haves(&mut t, conn);
    }
    let mut interested = Vec::new();
    Message::Interested.encode(&mut interested);
    t.handle_data(eager, &interested, t0, &mut out);
    // `holder` announces piece 1, so it must never be told about it.
    let mut have = Vec::new();
    Message::Have { index: 1 }.encode(&mut have);
    t.handle_data(holder, &have, t0, &mut out);

    let mut now = t0 + TICK;
    verified(&mut t, 0, now, &mut out);
    verified(&mut t, 1, now, &mut out);
    t.handle_timeout(now, &mut out);
    assert_eq!(haves(&mut t, eager), [0, 1], "interested: the next tick");
    assert_eq!(haves(&mut t, idle), [] as [u32; 0], "idle: not yet");

    now += TICK;
    verified(&mut t, 2, now, &mut out);
    t.handle_timeout(now, &mut out);
    assert_eq!(haves(&mut t, eager), [2]);
    assert_eq!(haves(&mut t, idle), [] as [u32; 0]);

    // Turning interested brings what it missed at once, without waiting for a tick.
    t.handle_data(idle, &interested, now, &mut out);
    assert_eq!(haves(&mut t, idle), [0, 1, 2]);

    // A second after the last idle round, the idle `holder` hears everything but piece 1.
    now = t0 + Duration::from_secs(1);
    t.handle_timeout(now, &mut out);
    assert_eq!(haves(&mut t, holder), [0, 2]);
    assert_eq!(haves(&mut t, idle), [] as [u32; 0], "nothing twice");
    assert_eq!(haves(&mut t, eager), [] as [u32; 0], "nothing twice");

    // A peer joining now is covered by its bitfield, not by `have`s.
    let late = 4;
    t.add_peer(
        late,
        "127.0.0.1:7004".parse().unwrap(),
        false,
        [4; 20],
        now,
        &mut out,
    );
    now += Duration::from_secs(1);
    t.handle_timeout(now, &mut out);
    assert_eq!(haves(&mut t, late), [] as [u32; 0]);
}
