//! Timers as data: an idle torrent has no deadline, idle peers wake it only for keep-alives,
//! pause works while checking, and resume dials known peers at once.

use std::time::{Duration, Instant};

use super::{test_core, TorrentCore};
use crate::bitfield::Bitfield;
use crate::engine::io::{Action, DiskDone, DiskRequest, EngineConfig, Event, TorrentParams};
use crate::engine::{Engine, Outputs, TorrentState};
use crate::layout::Layout;

fn layout() -> Layout {
    Layout::new(16384, 16384 * 64).unwrap()
}

fn seed(now: Instant) -> TorrentCore {
    test_core(1, layout(), true, &EngineConfig::default(), now)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

#[test]
fn an_idle_seed_without_peers_has_no_deadline_after_its_first_report() {
    let t0 = Instant::now();
    let mut t = seed(t0);
    let mut out = Outputs::default();
    assert_eq!(
        t.next_deadline(),
        Some(t0 + secs(1)),
        "one first progress report"
    );
    t.handle_timeout(t0 + secs(1), &mut out);
    let progress = out
        .actions
        .iter()
        .filter(|a| matches!(a, Action::Event(Event::Progress { .. })))
        .count();
    assert_eq!(progress, 1);
    assert_eq!(t.next_deadline(), None, "nothing to do: no wake-up at all");
}

#[test]
fn a_thousand_idle_peers_wake_the_torrent_only_for_keepalives() {
    let t0 = Instant::now();
    let mut t = seed(t0);
    let mut out = Outputs::default();
    for conn in 1..=1000usize {
        let addr = format!("127.0.{}.{}:6881", conn / 250, conn % 250 + 1);
        t.add_peer(conn, addr.parse().unwrap(), false, [0; 20], t0, &mut out);
        t.peers.get_mut(&conn).unwrap().out.take_bytes();
    }
    out.dirty.clear();
    t.handle_timeout(t0 + secs(1), &mut out);
    assert_eq!(t.next_deadline(), Some(t0 + secs(60)), "the keep-alives");
    // Nothing is due in between, so a timeout in between touches no peer.
    t.handle_timeout(t0 + secs(30), &mut out);
    assert!(out.dirty.is_empty());
    t.handle_timeout(t0 + secs(60), &mut out);
    out.dirty.sort_unstable();
    out.dirty.dedup();
    assert_eq!(out.dirty.len(), 1000, "one keep-alive each");
    assert!(t.peers.values().all(|p| p.out.len() == 4));
    assert_eq!(t.next_deadline(), Some(t0 + secs(120)), "the next check");
}

fn checks(out: &mut Outputs) -> Vec<u32> {
    let mut pieces = Vec::new();
    while let Some(a) = out.actions.pop_front() {
        if let Action::Disk(DiskRequest::Check { piece, .. }) = a {
            pieces.push(piece);
        }
    }
    pieces
}

#[test]
fn a_pause_while_checking_holds_the_recheck_and_resume_continues_it() {
    let t0 = Instant::now();
    let params = TorrentParams {
        info_hash: [1; 20],
        layout: layout(),
        trackers: vec![],
        peers: vec![],
        have: Bitfield::new(64),
        recheck: true,
        info: None,
        private: false,
        check: None,
    };
    let mut t = TorrentCore::new(1, params, &EngineConfig::default(), t0);
    let mut out = Outputs::default();
    t.start_checks(t0, &mut out);
    assert_eq!(checks(&mut out), (0..8).collect::<Vec<_>>());
    t.pause(t0, &mut out);
    assert_eq!(t.state(), TorrentState::Paused);
    for piece in 0..8 {
        let done = DiskDone::Checked {
            torrent: 1,
            piece,
            ok: piece % 2 == 0,
        };
        t.handle_disk(done, t0, &mut out);
    }
    assert!(checks(&mut out).is_empty(), "no new checks while paused");
    assert_eq!(t.have().count(), 4, "answers in flight still count");
    t.resume(t0, &mut out);
    assert_eq!(t.state(), TorrentState::Checking);
    assert_eq!(checks(&mut out), (8..16).collect::<Vec<_>>());
}

#[test]
fn resume_dials_known_peers_at_once() {
    let t0 = Instant::now();
    let mut engine = Engine::new(EngineConfig::default());
    let peer = "127.0.0.1:7000".parse().unwrap();
    let params = TorrentParams {
        info_hash: [1; 20],
        layout: layout(),
        trackers: vec![],
        peers: vec![peer],
        have: Bitfield::new(64),
        recheck: false,
        info: None,
        private: false,
        check: None,
    };
    let id = engine.add_torrent(params, t0);
    let dials = |e: &mut Engine| {
        let mut n = 0;
        while let Some(a) = e.poll_action() {
            n += usize::from(matches!(a, Action::Connect { addr, .. } if addr == peer));
        }
        n
    };
    assert_eq!(dials(&mut engine), 1);
    engine.pause(id, t0);
    assert_eq!(dials(&mut engine), 0);
    engine.resume(id, t0 + Duration::from_millis(10));
    assert_eq!(dials(&mut engine), 1, "a pause is not the peer's failure");
}
