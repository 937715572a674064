//! Rate limits in the sans-IO core: requests and upload reads paced by token buckets on a
//! virtual clock, against a peer that answers at once (an unlimited seeder or leecher).

use std::time::{Duration, Instant};

use super::{test_core, TorrentCore};
use crate::bitfield::Bitfield;
use crate::engine::io::{Action, DiskDone, DiskRequest, EngineConfig};
use crate::engine::{Outputs, RateLimits, TokenBucket};
use crate::layout::Layout;
use crate::wire::Message;

const PIECE: u32 = 64 * 1024;
const PIECES: u32 = 512;
const STEP: Duration = Duration::from_millis(5);
const KIB: u64 = 1024;

fn core(id: usize, have_all: bool, now: Instant) -> TorrentCore {
    let layout = Layout::new(PIECE, u64::from(PIECE) * u64::from(PIECES)).unwrap();
    let cfg = EngineConfig {
        pipeline_floor: 64,
        ..EngineConfig::default()
    };
    test_core(id, layout, have_all, &cfg, now)
}

fn conn_of(t: &TorrentCore) -> usize {
    t.id * 10
}

/// A seed joins `t` and unchokes us.
fn seed_joins(t: &mut TorrentCore, now: Instant, out: &mut Outputs) {
    let conn = conn_of(t);
    let addr = format!("127.0.0.1:{}", 7000 + t.id).parse().unwrap();
    t.add_peer(conn, addr, true, [t.id as u8; 20], now, out);
    let mut bytes = Vec::new();
    Message::Bitfield(Bitfield::full(PIECES).as_bytes()).encode(&mut bytes);
    Message::Unchoke.encode(&mut bytes);
    t.handle_data(conn, &bytes, now, out);
}

/// The seed answers every request in flight at once; returns the payload bytes it sent.
fn seed_answers(t: &mut TorrentCore, now: Instant, out: &mut Outputs) -> u64 {
    let conn = conn_of(t);
    let asked: Vec<_> = t.peers[&conn].in_flight.iter().map(|(b, _)| *b).collect();
    let zeros = vec![0u8; crate::layout::BLOCK_SIZE as usize];
    let mut bytes = Vec::new();
    let mut sent = 0;
    for b in asked {
        let data = &zeros[..b.length as usize];
        Message::Piece {
            index: b.piece,
            begin: b.begin,
            data,
        }
        .encode(&mut bytes);
        sent += u64::from(b.length);
    }
    t.handle_data(conn, &bytes, now, out);
    sent
}

/// Runs the disk pool's part at once: pieces verify, reads return zeros.
fn disk_answers(ts: &mut [&mut TorrentCore], now: Instant, out: &mut Outputs) {
    while let Some(action) = out.actions.pop_front() {
        let Action::Disk(req) = action else {
            continue;
        };
        let done = match req {
            DiskRequest::Verify {
                torrent,
                piece,
                data,
            } => DiskDone::Verified {
                torrent,
                piece,
                ok: true,
                buffer: data,
            },
            DiskRequest::Read {
                torrent,
                conn,
                piece,
                begin,
                length,
            } => DiskDone::Read {
                torrent,
                conn,
                piece,
                begin,
                data: Ok(vec![0; length as usize]),
            },
            _ => continue,
        };
        if let Some(t) = ts.iter_mut().find(|t| t.id == done.torrent()) {
            t.handle_disk(done, now, out);
        }
    }
}

fn due(t: &mut TorrentCore, now: Instant, out: &mut Outputs) {
    if t.next_deadline().is_some_and(|d| d <= now) {
        t.handle_timeout(now, out);
    }
}

fn assert_near(got: u64, want: u64, tolerance: f64, what: &str) {
    let error = (got as f64 - want as f64).abs() / want as f64;
    assert!(
        error <= tolerance,
        "{what}: got {got}, want {want} ± {tolerance}"
    );
}

#[test]
fn download_limits_pace_requests_per_torrent_and_for_the_session() {
    let t0 = Instant::now();
    let (mut a, mut b) = (core(1, false, t0), core(2, false, t0));
    let mut out = Outputs::default();
    out.rates.down = TokenBucket::new(Some(512 * KIB));
    a.set_rate_limits(
        RateLimits {
            download: Some(128 * KIB),
            upload: None,
        },
        t0,
        &mut out,
    );
    assert_eq!(a.rate_limits().download, Some(128 * KIB));
    seed_joins(&mut a, t0, &mut out);
    seed_joins(&mut b, t0, &mut out);
    let (mut got_a, mut got_b) = (0, 0);
    let mut now = t0;
    let end = t0 + Duration::from_secs(10);
    while now < end {
        now += STEP;
        due(&mut a, now, &mut out);
        due(&mut b, now, &mut out);
        got_a += seed_answers(&mut a, now, &mut out);
        got_b += seed_answers(&mut b, now, &mut out);
        disk_answers(&mut [&mut a, &mut b], now, &mut out);
    }
    // a: its own 128 KiB/s; both: the session's 512 KiB/s; within a block or two over 10 s.
    assert_near(got_a, 1280 * KIB, 0.02, "torrent a");
    assert_near(got_a + got_b, 5120 * KIB, 0.02, "session");
    assert_eq!((a.stats().downloaded, b.stats().downloaded), (got_a, got_b));
}

#[test]
fn upload_limit_paces_reads_and_a_new_limit_applies_at_once() {
    let t0 = Instant::now();
    let mut t = core(1, true, t0);
    let mut out = Outputs::default();
    t.set_rate_limits(
        RateLimits {
            download: None,
            upload: Some(256 * KIB),
        },
        t0,
        &mut out,
    );
    let conn = 5;
    t.add_peer(
        conn,
        "127.0.0.1:7200".parse().unwrap(),
        false,
        [9; 20],
        t0,
        &mut out,
    );
    let mut bytes = Vec::new();
    Message::Interested.encode(&mut bytes);
    // 1500 blocks: far more than 10 s at the limit.
    for i in 0..1500u32 {
        Message::Request {
            index: i % PIECES,
            begin: (i / PIECES) * 16384,
            length: 16384,
        }
        .encode(&mut bytes);
    }
    t.handle_data(conn, &bytes, t0, &mut out);
    let mut now = t0;
    let mut sent_at_5s = 0;
    for step in 1..=2000u32 {
        now += STEP;
        due(&mut t, now, &mut out);
        disk_answers(&mut [&mut t], now, &mut out);
        // The socket takes everything at once.
        t.peers.get_mut(&conn).unwrap().out.take_bytes();
        t.pump_uploads(conn, now, &mut out);
        if step == 1000 {
            sent_at_5s = t.stats().uploaded;
            t.set_rate_limits(
                RateLimits {
                    download: None,
                    upload: Some(64 * KIB),
                },
                now,
                &mut out,
            );
        }
    }
    assert_near(sent_at_5s, 1280 * KIB, 0.02, "5 s at 256 KiB/s");
    let second = t.stats().uploaded - sent_at_5s;
    assert_near(second, 320 * KIB, 0.06, "5 s at 64 KiB/s");
}

#[test]
fn sequential_mode_and_a_window_change_what_is_requested_at_once() {
    let t0 = Instant::now();
    let mut t = core(1, false, t0);
    let mut out = Outputs::default();
    t.set_sequential(true, t0, &mut out);
    assert!(t.is_sequential());
    seed_joins(&mut t, t0, &mut out);
    // 64 blocks of 4 per piece: pieces 0 to 15, lowest first.
    let started: Vec<u32> = t.partial.keys().copied().collect();
    assert_eq!(started, (0..16).collect::<Vec<_>>());
    // A reader wants pieces 300 to 303: they go first once the pipeline has room, that is
    // when what is in flight arrives.
    t.set_piece_window(9, 300..304, t0, &mut out);
    seed_answers(&mut t, t0, &mut out);
    disk_answers(&mut [&mut t], t0, &mut out);
    let conn = conn_of(&t);
    let asked: Vec<u32> = t.peers[&conn]
        .in_flight
        .iter()
        .map(|(b, _)| b.piece)
        .collect();
    assert_eq!(
        &asked[..16],
        &[300, 300, 300, 300, 301, 301, 301, 301, 302, 302, 302, 302, 303, 303, 303, 303]
    );
    // Outside the window, the order goes on from where it was.
    assert!(
        asked[16..].iter().all(|&p| (16..300).contains(&p)),
        "{asked:?}"
    );
    assert_eq!(asked[16], 16);
}
