//! What the log says about a torrent names it the way its user knows it: by its info-hash's
//! first 8 hex digits or by its name, never by the session's internal torrent number. This
//! binary installs its own logger (one per process), so it is a test file of its own.

// Test code drives real sockets, threads, files and clocks.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

#[path = "support/payload.rs"]
mod payload;

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use coracle::{AddOptions, Event, Metainfo, Session, SessionConfig, TorrentSource};
use payload::{bytes, temp_dir, Payload};

/// Keeps every log line.
struct Capture(Mutex<Vec<String>>);

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }

    fn log(&self, record: &log::Record) {
        let line = record.args().to_string();
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(line);
    }

    fn flush(&self) {}
}

static LINES: Capture = Capture(Mutex::new(Vec::new()));

fn local(tag: u8) -> SessionConfig {
    let mut config = SessionConfig::default();
    config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    config.dht.enabled = false;
    config.engine.peer_id[19] = tag;
    config
}

/// A download whose tracker refuses connections: the tracker's trouble is logged under the
/// torrent's name, the completion under its short info-hash, and no line names it `torrent 0`.
#[test]
fn logs_name_torrents_by_name_or_short_info_hash() {
    log::set_logger(&LINES).unwrap();
    log::set_max_level(log::LevelFilter::Info);
    // Nothing listens on port 1 of loopback: every announce there fails at once.
    let tracker = "http://127.0.0.1:1/announce";
    let p = Payload::single("named.bin", bytes(61, 200_000));
    let torrent = p.torrent(16 * 1024, &[tracker]);
    let meta = Metainfo::from_bytes(&torrent).unwrap();
    let (src, dst) = (temp_dir("log-src"), temp_dir("log-dst"));
    p.write_to(&src);
    let seeder = Session::new(local(b'1')).unwrap();
    let mut seed = AddOptions::default();
    seed.output = src.clone();
    seed.seed_only = true;
    seed.no_trackers = true;
    seeder
        .add(TorrentSource::Bytes(torrent.clone()), seed)
        .unwrap();
    let leecher = Session::new(local(b'2')).unwrap();
    let events = leecher.events();
    let mut fetch = AddOptions::default();
    fetch.output = dst.clone();
    fetch.peers = vec![seeder.listen_addr()];
    let h = leecher.add(TorrentSource::Bytes(torrent), fetch).unwrap();
    h.wait_timeout(Duration::from_secs(30)).unwrap();
    p.assert_on_disk(&dst);
    // The tracker's failure has been reported once the event says so.
    let until = Instant::now() + Duration::from_secs(10);
    let trouble = std::iter::from_fn(|| {
        events
            .recv_timeout(until.saturating_duration_since(Instant::now()))
            .ok()
    })
    .any(|e| matches!(e, Event::TrackerTrouble { .. }));
    assert!(trouble, "the refused announce was reported");
    leecher.shutdown().unwrap();
    seeder.shutdown().unwrap();

    let lines = LINES.0.lock().unwrap().clone();
    let short = meta.info_hash.short_hex();
    assert_eq!(short.len(), 8);
    let complete = format!("torrent {short}: download complete");
    assert!(lines.contains(&complete), "no {complete:?} in {lines:#?}");
    let named = format!("named.bin: tracker {tracker}: ");
    assert!(
        lines.iter().any(|l| l.starts_with(&named)),
        "no line starting {named:?} in {lines:#?}"
    );
    // The session's numbers (0 and 1 here) never name a torrent.
    for n in 0..4 {
        let by_number = format!("torrent {n}:");
        assert!(
            !lines.iter().any(|l| l.contains(&by_number)),
            "{by_number:?} in {lines:#?}"
        );
    }
    let _ = std::fs::remove_dir_all(src);
    let _ = std::fs::remove_dir_all(dst);
}
