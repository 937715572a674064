//! Integration tests of the HTTP tracker client against the std-only test tracker on 127.0.0.1.

// Test and example code drives real sockets, threads, files and clocks.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

#[path = "support/tracker.rs"]
mod tracker;

use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use coracle::internals::tracker::{
    AnnounceEvent, AnnounceJob, AnnounceRequest, AnnounceResult, TrackerClient, TrackerConfig,
    TrackerError,
};
use crossbeam_channel::Receiver;
use tracker::{Mode, TestTracker};

const INFO_HASH: [u8; 20] = [
    0x00, 0x7f, 0xff, b' ', b'~', b'%', b'&', b'=', b'+', 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11,
];

fn request(port: u16, event: AnnounceEvent) -> AnnounceRequest {
    AnnounceRequest {
        info_hash: INFO_HASH,
        peer_id: *b"-CO0001-abcdefghijkl",
        port,
        uploaded: 10,
        downloaded: 20,
        left: 30,
        event,
        numwant: 50,
        key: 0x1234_abcd,
        tracker_id: None,
    }
}

fn job(torrent: usize, url: String, port: u16) -> AnnounceJob {
    AnnounceJob {
        torrent,
        url,
        request: request(port, AnnounceEvent::Started),
    }
}

struct Harness {
    client: TrackerClient,
    results: Receiver<AnnounceResult>,
    wakes: Arc<AtomicUsize>,
}

fn harness(cfg: TrackerConfig) -> Harness {
    let (tx, results) = crossbeam_channel::unbounded();
    let wakes = Arc::new(AtomicUsize::new(0));
    let w = wakes.clone();
    let client = TrackerClient::new(
        cfg,
        tx,
        Arc::new(move || {
            w.fetch_add(1, Ordering::SeqCst);
        }),
    )
    .unwrap();
    Harness {
        client,
        results,
        wakes,
    }
}

fn quick() -> TrackerConfig {
    let mut tracker = TrackerConfig::default();
    tracker.connect_timeout = Duration::from_secs(2);
    tracker.timeout = Duration::from_millis(700);
    tracker
}

fn one(cfg: TrackerConfig, url: String) -> AnnounceResult {
    let h = harness(cfg);
    h.client.submit(job(7, url, 6881));
    let r = h.results.recv_timeout(Duration::from_secs(10)).unwrap();
    // The worker wakes the reactor right after sending; give it a moment.
    let deadline = Instant::now() + Duration::from_secs(2);
    while h.wakes.load(Ordering::SeqCst) == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(h.wakes.load(Ordering::SeqCst), 1);
    r
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[test]
fn success_returns_peers_and_tracker_sees_exact_params() {
    let t = TestTracker::start();
    t.add_peer(INFO_HASH, addr("127.0.0.9:5000"));
    let r = one(quick(), t.url());
    assert_eq!(
        (r.torrent, r.url.as_str(), r.event),
        (7, t.url().as_str(), AnnounceEvent::Started)
    );
    let resp = r.result.unwrap();
    assert_eq!(resp.peers, vec![addr("127.0.0.9:5000")]);
    assert_eq!(resp.interval, Some(1800));
    assert_eq!((resp.complete, resp.incomplete), (Some(1), Some(1)));
    let seen = t.announces();
    assert_eq!(seen.len(), 1);
    let a = &seen[0];
    assert_eq!(a.info_hash, INFO_HASH);
    assert_eq!(&a.peer_id, b"-CO0001-abcdefghijkl");
    assert_eq!(
        (a.port, a.uploaded, a.downloaded, a.left),
        (6881, 10, 20, 30)
    );
    assert_eq!(a.event.as_deref(), Some("started"));
    assert_eq!((a.numwant, a.key.as_deref()), (Some(50), Some("1234ABCD")));
}

#[test]
fn two_clients_find_each_other() {
    let t = TestTracker::start();
    let h = harness(quick());
    h.client.submit(job(1, t.url(), 1111));
    let first = h.results.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(first.result.unwrap().peers, vec![]);
    h.client.submit(job(2, t.url(), 2222));
    let second = h.results.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(second.result.unwrap().peers, vec![addr("127.0.0.1:1111")]);
}

#[test]
fn http_500_is_http_error() {
    let t = TestTracker::start_with(Mode::Status500);
    assert_eq!(
        one(quick(), t.url()).result,
        Err(TrackerError::Http { status: 500 })
    );
}

#[test]
fn failure_reason_is_failure() {
    let t = TestTracker::start_with(Mode::Failure("torrent not registered".into()));
    assert_eq!(
        one(quick(), t.url()).result,
        Err(TrackerError::Failure("torrent not registered".into()))
    );
}

#[test]
fn garbage_is_malformed() {
    let t = TestTracker::start_with(Mode::Garbage);
    assert_eq!(
        one(quick(), t.url()).result,
        Err(TrackerError::Malformed(
            "bencode: unexpected byte at offset 0".into()
        ))
    );
}

#[test]
fn port_zero_and_duplicates_dropped() {
    let t = TestTracker::start_with(Mode::PortZeroAndDuplicates);
    let resp = one(quick(), t.url()).result.unwrap();
    assert_eq!(resp.peers, vec![addr("127.0.0.2:6881")]);
}

#[test]
fn slow_tracker_times_out_on_time() {
    let t = TestTracker::start_with(Mode::Slow(Duration::from_secs(5)));
    let start = Instant::now();
    assert_eq!(one(quick(), t.url()).result, Err(TrackerError::Timeout));
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(650), "{took:?}");
    assert!(took < Duration::from_millis(700 + 800), "{took:?}");
}

#[test]
fn redirect_loop_stops_at_limit() {
    let t = TestTracker::start_with(Mode::RedirectLoop);
    let mut cfg = quick();
    cfg.max_redirects = 3;
    assert_eq!(
        one(cfg, t.url()).result,
        Err(TrackerError::TooManyRedirects { limit: 3 })
    );
    assert_eq!(t.announces().len(), 4, "the request and 3 redirects");
}

#[test]
fn huge_body_is_too_large() {
    let t = TestTracker::start_with(Mode::HugeBody(4 << 20));
    let mut cfg = quick();
    cfg.max_body = 1000;
    assert_eq!(
        one(cfg, t.url()).result,
        Err(TrackerError::TooLarge { limit: 1000 })
    );
}

#[test]
fn declared_content_length_over_limit_is_too_large() {
    let t = TestTracker::start_with(Mode::Failure("x".repeat(2000)));
    let mut cfg = quick();
    cfg.max_body = 1000;
    assert_eq!(
        one(cfg, t.url()).result,
        Err(TrackerError::TooLarge { limit: 1000 })
    );
}

#[test]
fn slow_tracker_does_not_delay_fast_one() {
    let slow = TestTracker::start_with(Mode::Slow(Duration::from_secs(2)));
    let fast = TestTracker::start();
    let h = harness({
        let mut tracker = TrackerConfig::default();
        tracker.timeout = Duration::from_secs(10);
        tracker
    });
    let start = Instant::now();
    h.client.submit(job(1, slow.url(), 1));
    h.client.submit(job(2, fast.url(), 2));
    let first = h.results.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(first.torrent, 2);
    assert!(first.result.is_ok());
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    let second = h.results.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(second.torrent, 1);
    assert!(second.result.is_ok());
}

#[test]
fn jobs_beyond_max_in_flight_wait_their_turn() {
    let slow = TestTracker::start_with(Mode::Slow(Duration::from_millis(500)));
    let fast = TestTracker::start();
    let h = harness({
        let mut tracker = TrackerConfig::default();
        tracker.max_in_flight = 1;
        tracker.timeout = Duration::from_secs(10);
        tracker
    });
    h.client.submit(job(1, slow.url(), 1));
    h.client.submit(job(2, fast.url(), 2));
    let order: Vec<usize> = (0..2)
        .map(|_| {
            h.results
                .recv_timeout(Duration::from_secs(10))
                .unwrap()
                .torrent
        })
        .collect();
    assert_eq!(order, [1, 2]);
}

#[test]
fn unsupported_scheme_and_refused_connection() {
    let r = one(quick(), "wss://127.0.0.1:1/announce".into());
    assert_eq!(r.result, Err(TrackerError::UnsupportedScheme("wss".into())));
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let r = one(quick(), format!("http://127.0.0.1:{port}/announce"));
    assert!(
        matches!(r.result, Err(TrackerError::Transport(_))),
        "{:?}",
        r.result
    );
}

#[test]
fn announce_blocking_sends_stopped_and_honours_its_timeout() {
    let t = TestTracker::start();
    let h = harness(TrackerConfig::default());
    let mut j = job(1, t.url(), 6881);
    j.request.event = AnnounceEvent::Stopped;
    assert!(h
        .client
        .announce_blocking(j.clone(), Duration::from_secs(5))
        .is_ok());
    assert_eq!(t.announces()[0].event.as_deref(), Some("stopped"));

    let slow = TestTracker::start_with(Mode::Slow(Duration::from_secs(5)));
    j.url = slow.url();
    let start = Instant::now();
    let r = h.client.announce_blocking(j, Duration::from_millis(300));
    assert_eq!(r, Err(TrackerError::Timeout));
    assert!(
        start.elapsed() < Duration::from_millis(1000),
        "{:?}",
        start.elapsed()
    );
}

/// Shutdown waits for a slow announce only until its deadline, and names it as still running;
/// one that ended in time is not listed.
#[test]
fn stop_within_waits_until_its_deadline_and_names_slow_announces() {
    let slow = TestTracker::start_with(Mode::Slow(Duration::from_secs(5)));
    let fast = TestTracker::start();
    let mut h = harness({
        let mut tracker = TrackerConfig::default();
        tracker.timeout = Duration::from_secs(10);
        tracker
    });
    h.client.submit(job(1, fast.url(), 1));
    h.client.submit(job(2, slow.url(), 2));
    let first = h.results.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(first.url, fast.url());
    let start = Instant::now();
    let left = h.client.stop_within(start + Duration::from_millis(300));
    let took = start.elapsed();
    assert_eq!(left, [format!("announce started to {}", slow.url())]);
    assert!(took >= Duration::from_millis(300), "{took:?}");
    assert!(took < Duration::from_millis(800), "{took:?}");
}

#[test]
fn udp_url_goes_through_bep15_and_times_out_on_silence() {
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let url = format!("udp://{}/announce", silent.local_addr().unwrap());
    let start = Instant::now();
    assert_eq!(one(quick(), url).result, Err(TrackerError::Timeout));
    assert!(
        start.elapsed() < Duration::from_millis(1500),
        "{:?}",
        start.elapsed()
    );
}
