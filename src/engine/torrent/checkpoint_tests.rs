//! Checkpoints: none unless asked for or configured; the timer is armed only while verified
//! pieces are unrecorded; one in flight at a time; a check walks only the pieces it is given.

use std::time::{Duration, Instant};

use super::TorrentCore;
use crate::bitfield::Bitfield;
use crate::engine::io::{Action, DiskDone, DiskRequest, EngineConfig, TorrentParams};
use crate::engine::{Outputs, TorrentState};
use crate::layout::Layout;

const N: u32 = 64;

fn core(every: Option<Duration>, have: &[u32], check: Option<&[u32]>, t0: Instant) -> TorrentCore {
    let layout = Layout::new(16384, 16384 * u64::from(N)).unwrap();
    let bits = |ps: &[u32]| {
        let mut b = Bitfield::new(N);
        ps.iter().for_each(|&p| {
            b.set(p);
        });
        b
    };
    let params = TorrentParams {
        info_hash: [1; 20],
        layout,
        trackers: vec![],
        peers: vec![],
        have: bits(have),
        recheck: check.is_some(),
        info: None,
        private: false,
        check: check.map(bits),
    };
    let cfg = EngineConfig {
        checkpoint_interval: every,
        ..EngineConfig::default()
    };
    TorrentCore::new(1, params, &cfg, t0)
}

fn verify(t: &mut TorrentCore, piece: u32, now: Instant, out: &mut Outputs) {
    let done = DiskDone::Verified {
        torrent: 1,
        piece,
        ok: true,
        buffer: vec![0; 16384],
    };
    t.handle_disk(done, now, out);
}

/// The checkpoints among `out`'s actions: (serial, pieces listed).
fn checkpoints(out: &mut Outputs) -> Vec<(u64, Vec<u32>)> {
    let mut v = Vec::new();
    while let Some(a) = out.actions.pop_front() {
        if let Action::Disk(DiskRequest::Checkpoint { serial, have, .. }) = a {
            v.push((serial, have.iter_ones().collect()));
        }
    }
    v
}

fn checks(out: &mut Outputs) -> Vec<u32> {
    let mut v = Vec::new();
    while let Some(a) = out.actions.pop_front() {
        if let Action::Disk(DiskRequest::Check { piece, .. }) = a {
            v.push(piece);
        }
    }
    v
}

fn done(serial: u64) -> DiskDone {
    DiskDone::Checkpointed {
        torrent: 1,
        serial,
        result: Ok(Vec::new()),
    }
}

#[test]
fn without_an_interval_only_a_request_checkpoints() {
    let t0 = Instant::now();
    let mut t = core(None, &[], None, t0);
    let mut out = Outputs::default();
    t.handle_timeout(t0, &mut out);
    verify(&mut t, 3, t0, &mut out);
    t.handle_timeout(t0 + Duration::from_secs(3600), &mut out);
    assert!(checkpoints(&mut out).is_empty());
    assert!(t.final_checkpoint().is_none());
    let serial = t.request_checkpoint(&mut out);
    assert_eq!(checkpoints(&mut out), [(serial, vec![3])]);
}

#[test]
fn verified_pieces_are_recorded_one_interval_later_one_checkpoint_at_a_time() {
    let t0 = Instant::now();
    let every = Duration::from_secs(30);
    let mut t = core(Some(every), &[0], None, t0);
    let mut out = Outputs::default();
    // The first checkpoint records the files as opened.
    t.handle_timeout(t0, &mut out);
    assert_eq!(checkpoints(&mut out), [(0, vec![0])]);
    t.handle_disk(done(0), t0, &mut out);
    assert!(
        t.next_deadline() != Some(t0 + every),
        "nothing unrecorded: no timer"
    );
    verify(&mut t, 5, t0 + Duration::from_secs(1), &mut out);
    verify(&mut t, 6, t0 + Duration::from_secs(2), &mut out);
    t.handle_timeout(t0 + Duration::from_secs(30), &mut out);
    assert!(
        checkpoints(&mut out).is_empty(),
        "due 30 s after the first piece"
    );
    t.handle_timeout(t0 + Duration::from_secs(31), &mut out);
    assert_eq!(checkpoints(&mut out), [(1, vec![0, 5, 6])]);
    // While it is in flight, a request waits for it; its answer lets the next one go.
    verify(&mut t, 7, t0 + Duration::from_secs(32), &mut out);
    let wanted = t.request_checkpoint(&mut out);
    assert_eq!(wanted, 2);
    assert!(checkpoints(&mut out).is_empty());
    t.handle_disk(done(1), t0 + Duration::from_secs(33), &mut out);
    assert_eq!(checkpoints(&mut out), [(2, vec![0, 5, 6, 7])]);
    t.handle_disk(done(2), t0 + Duration::from_secs(34), &mut out);
    // At shutdown an unfinished torrent records that it stopped cleanly.
    assert!(matches!(
        t.final_checkpoint(),
        Some(DiskRequest::Checkpoint {
            serial: 3,
            closing: true,
            ..
        })
    ));
}

#[test]
fn completion_and_pause_checkpoint_at_once() {
    let t0 = Instant::now();
    let all_but_one: Vec<u32> = (1..N).collect();
    let mut t = core(Some(Duration::from_secs(30)), &all_but_one, None, t0);
    let mut out = Outputs::default();
    t.handle_timeout(t0, &mut out);
    t.handle_disk(done(0), t0, &mut out);
    checkpoints(&mut out);
    // Downloading the last piece completes the torrent.
    t.resume(t0, &mut out);
    verify(&mut t, 0, t0, &mut out);
    assert_eq!(t.state(), TorrentState::Seeding);
    let c = checkpoints(&mut out);
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].1.len(), N as usize);
    t.handle_disk(done(c[0].0), t0, &mut out);
    // A pause with nothing new records nothing, nor does a shutdown of a recorded seed.
    t.pause(t0, &mut out);
    assert!(checkpoints(&mut out).is_empty());
    assert!(t.final_checkpoint().is_none());
}

#[test]
fn a_partial_check_reads_only_its_pieces_and_keeps_the_others() {
    let t0 = Instant::now();
    let mut t = core(None, &[0, 1, 2, 40], Some(&[2, 9, 10, 11]), t0);
    let mut out = Outputs::default();
    assert_eq!(
        t.have().count(),
        3,
        "a piece to check is not had before its check"
    );
    t.start_checks(t0, &mut out);
    assert_eq!(checks(&mut out), [2, 9, 10, 11]);
    for (piece, ok) in [(2, true), (9, false), (10, true), (11, false)] {
        let done = DiskDone::Checked {
            torrent: 1,
            piece,
            ok,
        };
        t.handle_disk(done, t0, &mut out);
    }
    assert!(checks(&mut out).is_empty());
    assert_eq!(t.have().iter_ones().collect::<Vec<_>>(), [0, 1, 2, 10, 40]);
    assert_eq!(t.state(), TorrentState::Downloading);
}
