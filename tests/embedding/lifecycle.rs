//! Lifecycle and defaults: bounded shutdown, `completed` before `stopped`, default sessions.

use std::time::{Duration, Instant};

use coracle::{AddOptions, Session, SessionConfig, TorrentSource};

use super::payload::{self, temp_dir, Payload};
use super::tracker::TestTracker;
use super::{add, config, coracle_threads, eventually, serial, session};

/// An HTTP tracker that answers `started` at once and never answers `stopped` in time.
fn tracker_that_hangs_on_stopped() -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/announce", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut head = [0u8; 4096];
                let n = conn.read(&mut head).unwrap_or(0);
                if String::from_utf8_lossy(&head[..n]).contains("event=stopped") {
                    std::thread::sleep(Duration::from_secs(30));
                }
                let body = b"d8:intervali1800e5:peers0:e";
                let _ = write!(
                    conn,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = conn.write_all(body);
            });
        }
    });
    url
}

/// An HTTP tracker that accepts connections and never answers; each accepted connection is
/// reported on the channel.
fn tracker_that_never_answers() -> (String, crossbeam_channel::Receiver<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/announce", listener.local_addr().unwrap());
    let (tx, accepted) = crossbeam_channel::unbounded();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming().flatten() {
            held.push(conn);
            let _ = tx.send(());
        }
    });
    (url, accepted)
}

/// An announce in flight to a tracker that never answers cannot hold `shutdown_timeout` past
/// its limit; the report names it as still running, and its thread ends within the tracker
/// timeout, not later.
#[test]
fn shutdown_names_the_announce_it_leaves_running_and_that_one_ends_in_its_timeout() {
    let _serial = serial();
    let before = coracle_threads();
    let (url, accepted) = tracker_that_never_answers();
    let p = Payload::single("silent.bin", payload::bytes(51, 40_000));
    let torrent = p.torrent(16 * 1024, &[&url]);
    let dir = temp_dir("embed-silent");
    p.write_to(&dir);
    let mut cfg = config(41);
    cfg.tracker.timeout = Duration::from_secs(3);
    let s = Session::new(cfg).unwrap();
    let mut opts = AddOptions::default();
    opts.output = dir.clone();
    s.add(TorrentSource::Bytes(torrent), opts).unwrap();
    // The `started` announce is in flight once the tracker has its connection.
    accepted.recv_timeout(Duration::from_secs(20)).unwrap();
    let asked = Instant::now();
    let report = s.shutdown_timeout(Duration::from_secs(1)).unwrap();
    let took = asked.elapsed();
    assert!(took < Duration::from_millis(1300), "took {took:?}");
    assert!(!report.timed_out, "{report:?}");
    assert_eq!(
        report.jobs_running,
        [format!("announce started to {url}")],
        "{report:?}"
    );
    // Never answered, so no `stopped` was owed to it.
    assert_eq!(report.stopped_answered + report.stopped_unanswered, 0);
    // The one thread left is that announce, and it ends within its 3 s timeout.
    assert_eq!(coracle_threads(), before + 1, "only the announce is left");
    assert!(
        eventually(Duration::from_secs(4), || coracle_threads() <= before),
        "{} coracle- threads left, {before} before",
        coracle_threads()
    );
    assert!(asked.elapsed() < Duration::from_secs(4));
    let _ = std::fs::remove_dir_all(dir);
}

/// A tracker that never answers `stopped` cannot hold `shutdown_timeout` past its limit, and
/// the report says it did not answer.
#[test]
fn shutdown_timeout_returns_within_its_limit_against_a_hanging_tracker() {
    let _serial = serial();
    let url = tracker_that_hangs_on_stopped();
    let p = Payload::single("hang.bin", payload::bytes(50, 40_000));
    let torrent = p.torrent(16 * 1024, &[&url]);
    let dir = temp_dir("embed-hang");
    p.write_to(&dir);
    let s = session(40);
    let h = s
        .add(TorrentSource::Bytes(torrent), {
            let mut opts = AddOptions::default();
            opts.output = dir.clone();
            opts
        })
        .unwrap();
    h.wait_timeout(Duration::from_secs(20)).unwrap();
    // The `started` announce is answered before shutdown, so `stopped` is owed to it.
    std::thread::sleep(Duration::from_millis(500));
    let started = Instant::now();
    let report = s.shutdown_timeout(Duration::from_secs(2)).unwrap();
    let took = started.elapsed();
    assert!(took < Duration::from_millis(2500), "took {took:?}");
    assert!(
        took > Duration::from_millis(1000),
        "stopped had its time: {took:?}"
    );
    assert_eq!(report.stopped_unanswered, 1, "{report:?}");
    assert_eq!(report.stopped_answered, 0, "{report:?}");
    // The `stopped` announce's own timeout was the time shutdown gave it: it has ended.
    assert!(report.jobs_running.is_empty(), "{report:?}");
    assert!(
        report.sync_error.is_none() && !report.timed_out,
        "{report:?}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// Shutting down right after completion (the README's example) still tells the tracker
/// `completed`, before `stopped`.
#[test]
fn completed_reaches_the_tracker_before_stopped() {
    let _serial = serial();
    let tracker = TestTracker::start();
    let p = Payload::single("told.bin", payload::bytes(51, 300_000));
    let torrent = p.torrent(16 * 1024, &[&tracker.url()]);
    let (src, dst) = (temp_dir("embed-told-src"), temp_dir("embed-told-dst"));
    p.write_to(&src);
    let seeder = session(41);
    add(&seeder, &torrent, &src, vec![])
        .wait_timeout(Duration::from_secs(20))
        .unwrap();
    let leecher = session(42);
    let events = leecher.events();
    let h = leecher
        .add(TorrentSource::Bytes(torrent), {
            let mut opts = AddOptions::default();
            opts.output = dst.clone();
            opts.peers = vec![seeder.listen_addr()];
            opts
        })
        .unwrap();
    h.wait_timeout(Duration::from_secs(30)).unwrap();
    // A download this small can finish before the tracker answers `started`; `completed` is
    // owed only after that answer, so wait for it (a real download outlasts one announce).
    let until = Instant::now() + Duration::from_secs(10);
    let next = || events.recv_timeout(until.saturating_duration_since(Instant::now()));
    let answered = std::iter::from_fn(|| next().ok()).any(|e| {
        matches!(e, coracle::Event::TrackerAnswered { torrent, peers: Ok(_), .. } if torrent == h.id())
    });
    assert!(answered, "the tracker answered");
    let report = leecher.shutdown_timeout(Duration::from_secs(5)).unwrap();
    assert!(
        !report.timed_out && report.stopped_answered == 1,
        "{report:?}"
    );
    let port = leecher.listen_addr().port();
    let said: Vec<String> = tracker
        .announces()
        .into_iter()
        .filter(|a| a.port == port)
        .map(|a| a.event.unwrap_or_default())
        .collect();
    let at = |what: &str| said.iter().position(|e| e == what);
    assert!(at("completed").is_some(), "{said:?}");
    assert!(at("completed") < at("stopped"), "{said:?}");
    seeder.shutdown().unwrap();
    for d in [src, dst] {
        let _ = std::fs::remove_dir_all(d);
    }
}

/// Two sessions made from one default config (cloned) live side by side, each on a port and
/// with a peer id of its own (the same id would make them refuse each other as
/// self-connections), and `AddOptions::default()` downloads into the current folder.
#[test]
fn two_default_sessions_and_default_options_work() {
    let _serial = serial();
    let mut quiet = SessionConfig::default();
    quiet.dht = {
        let mut dht = coracle::DhtSettings::default();
        dht.enabled = false;
        dht
    };
    let (a, b) = (
        Session::new(quiet.clone()).unwrap(),
        Session::new(quiet).unwrap(),
    );
    let (pa, pb) = (a.listen_addr().port(), b.listen_addr().port());
    assert!(pa != 0 && pb != 0 && pa != pb, "{pa} {pb}");
    let p = Payload::single("here.bin", payload::bytes(52, 50_000));
    let torrent = p.torrent(16 * 1024, &[]);
    let (src, cwd) = (temp_dir("embed-default-src"), temp_dir("embed-default-cwd"));
    p.write_to(&src);
    add(&a, &torrent, &src, vec![])
        .wait_timeout(Duration::from_secs(20))
        .unwrap();
    std::fs::create_dir_all(&cwd).unwrap();
    let was = std::env::current_dir().unwrap();
    std::env::set_current_dir(&cwd).unwrap();
    let added = b.add(TorrentSource::Bytes(torrent), AddOptions::default());
    std::env::set_current_dir(was).unwrap();
    let h = added.expect("the current folder is the default");
    h.add_peers(&[std::net::SocketAddr::from(([127, 0, 0, 1], pa))])
        .unwrap();
    h.wait_timeout(Duration::from_secs(30)).unwrap();
    p.assert_on_disk(&cwd);
    a.shutdown().unwrap();
    b.shutdown().unwrap();
    for d in [src, cwd] {
        let _ = std::fs::remove_dir_all(d);
    }
}
