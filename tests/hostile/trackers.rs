//! Hostile trackers: the torrent lists a misbehaving tracker in its first tier and a normal one
//! (which knows the seeder) in the second. The leecher must fall through to the second tier,
//! finish the download, and report the first tracker's trouble in words a user can act on.

use std::time::{Duration, Instant};

use coracle::Event;

use crate::harness::{Leecher, Swarm};
use crate::tracker::{Mode, TestTracker};

/// The leecher's tracker timeout: short, so the slow tracker costs little.
const TRACKER_TIMEOUT: Duration = Duration::from_secs(1);

/// Every `TrackerTrouble` message about `url` the leecher's session reported so far (and not
/// read before).
fn trouble_for(leecher: &Leecher, url: &str) -> Vec<String> {
    leecher
        .events
        .try_iter()
        .filter_map(|ev| match ev {
            Event::TrackerTrouble {
                url: u, message, ..
            } if u == url => Some(message),
            _ => None,
        })
        .collect()
}

/// The hostile tracker in tier 1, a normal one that knows the seeder in tier 2, and a leecher
/// that found the seeder through them.
struct TwoTiers {
    hostile: TestTracker,
    normal: TestTracker,
    /// Held so the seeder outlives the leecher (shutdown announces, late messages).
    _swarm: Swarm,
    leecher: Leecher,
}

impl TwoTiers {
    /// Runs the download to completion through the second tier.
    fn download(name: &str, mode: Mode) -> TwoTiers {
        let started = Instant::now();
        let hostile = TestTracker::start_with(mode);
        let normal = TestTracker::start();
        let swarm = Swarm::start(name, None, &[&hostile.url(), &normal.url()]);
        normal.add_peer(swarm.info_hash, swarm.seeder_addr());
        let leecher = swarm.leecher(Vec::new(), |c| c.tracker.timeout = TRACKER_TIMEOUT);
        swarm.assert_download(&leecher, started);
        assert!(
            !hostile.announces().is_empty(),
            "the first tier was never tried"
        );
        TwoTiers {
            hostile,
            normal,
            _swarm: swarm,
            leecher,
        }
    }
}

/// Runs one hostile tracker case; returns the trouble messages about the hostile tracker.
fn fall_through(name: &str, mode: Mode) -> Vec<String> {
    let t = TwoTiers::download(name, mode);
    let messages = trouble_for(&t.leecher, &t.hostile.url());
    t.leecher.session.shutdown().unwrap();
    messages
}

/// The `event`s a tracker received, in order.
fn events(t: &TestTracker) -> Vec<Option<String>> {
    t.announces().into_iter().map(|a| a.event).collect()
}

/// Asserts some message names the problem with `words`.
fn assert_clear(messages: &[String], words: &[&str]) {
    assert!(
        messages
            .iter()
            .any(|m| words.iter().all(|w| m.to_lowercase().contains(w))),
        "no TrackerTrouble message says {words:?}: {messages:?}"
    );
}

#[test]
fn tracker_failure_reason() {
    let msgs = fall_through(
        "trk-failure",
        Mode::Failure("torrent not registered here".into()),
    );
    assert_clear(&msgs, &["refused", "torrent not registered here"]);
}

#[test]
fn tracker_garbage_body() {
    let msgs = fall_through("trk-garbage", Mode::Garbage);
    assert_clear(&msgs, &["invalid response"]);
}

#[test]
fn tracker_http_500() {
    let msgs = fall_through("trk-500", Mode::Status500);
    assert_clear(&msgs, &["http 500"]);
}

#[test]
fn tracker_slower_than_the_timeout() {
    let msgs = fall_through("trk-slow", Mode::Slow(Duration::from_secs(5)));
    assert_clear(&msgs, &["in time"]);
}

#[test]
fn tracker_redirect_loop() {
    let msgs = fall_through("trk-redirect", Mode::RedirectLoop);
    assert_clear(&msgs, &["redirected"]);
}

#[test]
fn tracker_huge_body() {
    let msgs = fall_through("trk-huge", Mode::HugeBody(8 << 20));
    assert_clear(&msgs, &["larger than"]);
}

#[test]
fn tracker_peers_with_port_zero_and_duplicates() {
    // This tracker answers successfully, so the list stays on it: the seeder comes as a direct
    // peer. The bad entries must neither stall nor break the download.
    let started = Instant::now();
    let tracker = TestTracker::start_with(Mode::PortZeroAndDuplicates);
    let url = tracker.url();
    let swarm = Swarm::start("trk-port0", None, &[&url]);
    let leecher = swarm.leecher(vec![swarm.seeder_addr()], |_| {});
    swarm.assert_download(&leecher, started);
    // The direct peer may finish the download before the announce reaches the tracker.
    let deadline = Instant::now() + std::time::Duration::from_secs(5);
    while tracker.announces().is_empty() && Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(
        !tracker.announces().is_empty(),
        "the tracker was never asked"
    );
    let msgs = trouble_for(&leecher, &url);
    assert!(
        msgs.is_empty(),
        "a usable answer reported as trouble: {msgs:?}"
    );
    leecher.session.shutdown().unwrap();
}

#[test]
fn stopped_goes_to_the_tracker_that_answered() {
    // `stopped` must reach the tracker that lists us (the one that answered `started`), not the
    // broken one in front of it; sending it there also holds shutdown up for nothing.
    let t = TwoTiers::download("trk-stopped", Mode::Status500);
    t.leecher.session.shutdown().unwrap();
    let (working, broken) = (events(&t.normal), events(&t.hostile));
    assert!(
        working.iter().any(|e| e.as_deref() == Some("stopped")),
        "the working tracker never heard `stopped`: working {working:?}, broken {broken:?}"
    );
}
