//! Web seeds (BEP 19) against a real nginx on 127.0.0.1: a multi-file torrent with spaces and
//! non-ASCII in its names downloaded from the web seed alone, a corrupted file on the server
//! (the seed is banned and a peer supplies those pieces), and a server without range support.
//! The fetch shell's answers to a server's misbehaviour are checked one by one at the end.

// Test and example code drives real sockets, threads, files and clocks.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]
// Sessions fetch from web seeds only with the `webseed` feature (a default one).
#![cfg(feature = "webseed")]

#[path = "support/nginx.rs"]
mod nginx;
#[path = "support/payload.rs"]
mod payload;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use coracle::internals::webseed::fetch::{fetch_all, MAX_SKIP};
use coracle::internals::webseed::{
    FetchConfig, HttpRange, WebAnswer, WebFetcher, WebRequest, WebSeedError,
};
use coracle::{AddOptions, Session, SessionConfig, TorrentHandle, TorrentSource};
use nginx::Nginx;
use payload::{bytes, temp_dir, Payload, PayloadFile};

const PIECE: usize = 16 * 1024;

/// A session on 127.0.0.1 with DHT off and its own peer id.
fn session(tag: u8) -> Session {
    Session::new(session_config(tag)).expect("session")
}

fn session_config(tag: u8) -> SessionConfig {
    let mut cfg = SessionConfig::default();
    cfg.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    cfg.disk_workers = 2;
    cfg.dht.enabled = false;
    cfg.engine.peer_id = *b"-CR0100-webseed00000";
    cfg.engine.peer_id[19] = tag;
    cfg.engine.peer_id[18] = (std::process::id() % 251) as u8;
    cfg
}

fn add(s: &Session, torrent: &[u8], dir: &Path, peers: Vec<SocketAddr>) -> TorrentHandle {
    s.add(TorrentSource::Bytes(torrent.to_vec()), {
        let mut opts = AddOptions::default();
        opts.output = dir.to_path_buf();
        opts.peers = peers;
        opts.no_trackers = true;
        opts
    })
    .expect("add")
}

/// `torrent` with a `url-list` of one URL (the key sorts after `info`, so it goes last).
fn with_web_seed(mut torrent: Vec<u8>, url: &str) -> Vec<u8> {
    assert_eq!(torrent.pop(), Some(b'e'));
    torrent.extend_from_slice(format!("8:url-list{}:{url}e", url.len()).as_bytes());
    torrent
}

fn file(path: &[&str], data: Vec<u8>) -> PayloadFile {
    PayloadFile {
        path: path.iter().map(|s| s.to_string()).collect(),
        data,
    }
}

/// Names with spaces, reserved characters and non-ASCII; sizes so that pieces span files, and
/// an empty file.
fn awkward_payload() -> Payload {
    Payload {
        name: "Web Seed Ünïcode".into(),
        files: vec![
            file(&["dir one", "fïle 1.bin"], bytes(1, 40_000)),
            file(&["dir one", "empty file"], vec![]),
            file(&["日本語", "a+b&c 100%.txt"], bytes(2, 70_001)),
            file(&["plain.bin"], bytes(3, 5)),
            file(&["#hash?query", "last one.dat"], bytes(4, 120_000)),
        ],
        single: false,
    }
}

#[test]
fn a_multi_file_torrent_downloads_from_nginx_alone_with_exact_bytes() {
    if !nginx::installed() {
        return;
    }
    let dir = temp_dir("webseed-alone");
    let p = awkward_payload();
    let served = dir.join("www/seed");
    p.write_to(&served);
    let server = Nginx::start(&dir.join("nginx"), &dir.join("www"), true);
    let torrent = with_web_seed(p.torrent(PIECE, &[]), &server.url("seed/"));

    let s = session(1);
    let h = add(&s, &torrent, &dir.join("out"), vec![]);
    h.wait_timeout(Duration::from_secs(60))
        .expect("downloads from the web seed");
    p.assert_on_disk(&dir.join("out"));
    let stats = h.stats().expect("stats");
    let total = p.stream().len() as u64;
    assert_eq!(stats.peers, 0);
    assert_eq!(
        stats.web_downloaded, total,
        "every byte came from the web seed"
    );
    assert_eq!(stats.downloaded, total);
    assert_eq!((stats.web_seeds, stats.web_seeds_banned), (1, 0));
    let statuses = server.statuses();
    assert!(
        !statuses.is_empty() && statuses.iter().all(|&c| c == 206),
        "{statuses:?}"
    );
    let requests = server.requests();
    assert!(
        requests.iter().any(|r| r.starts_with(
            "GET /seed/Web%20Seed%20%C3%9Cn%C3%AFcode/%E6%97%A5%E6%9C%AC%E8%AA%9E/a%2Bb%26c%20100%25.txt "
        )),
        "{requests:?}"
    );
    s.shutdown().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_single_file_torrent_fetches_the_url_itself_or_the_name_under_a_folder_url() {
    if !nginx::installed() {
        return;
    }
    let dir = temp_dir("webseed-single");
    let data = bytes(9, 200_000);
    let p = Payload::single("image file.iso", data);
    std::fs::create_dir_all(dir.join("www/mirror")).unwrap();
    // Under another name: the URL names the file itself.
    std::fs::write(dir.join("www/mirror/renamed.iso"), &p.files[0].data).unwrap();
    // Under its own name in a folder: a URL ending in `/` gets the name appended.
    std::fs::write(dir.join("www/mirror/image file.iso"), &p.files[0].data).unwrap();
    let server = Nginx::start(&dir.join("nginx"), &dir.join("www"), true);
    let s = session(5);
    for (url, out) in [("mirror/renamed.iso", "out1"), ("mirror/", "out2")] {
        let torrent = with_web_seed(p.torrent(PIECE, &[]), &server.url(url));
        let h = add(&s, &torrent, &dir.join(out), vec![]);
        h.wait_timeout(Duration::from_secs(60)).expect("downloads");
        p.assert_on_disk(&dir.join(out));
        h.remove().unwrap();
    }
    let requests = server.requests();
    assert!(requests
        .iter()
        .any(|r| r.starts_with("GET /mirror/renamed.iso ")));
    assert!(requests
        .iter()
        .any(|r| r.starts_with("GET /mirror/image%20file.iso ")));
    s.shutdown().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_corrupt_file_on_the_server_bans_the_seed_and_a_peer_supplies_its_pieces() {
    if !nginx::installed() {
        return;
    }
    let dir = temp_dir("webseed-corrupt");
    // Most of the torrent is one file; the server's copy has a bad byte in every piece of it.
    let p = Payload {
        name: "corrupt".into(),
        files: vec![
            file(&["small.bin"], bytes(5, 30_000)),
            file(&["big file.bin"], bytes(6, 800_000)),
        ],
        single: false,
    };
    p.write_to(&dir.join("www"));
    let bad = p.file_path(&dir.join("www"), 1);
    let mut data = std::fs::read(&bad).unwrap();
    for i in (100..data.len()).step_by(PIECE) {
        data[i] ^= 0x5a;
    }
    std::fs::write(&bad, data).unwrap();
    p.write_to(&dir.join("seeder"));
    let server = Nginx::start(&dir.join("nginx"), &dir.join("www"), true);
    let torrent = with_web_seed(p.torrent(PIECE, &[]), &server.url(""));

    // A slow peer (256 KiB/s: about 3 s for the torrent), so the web seed's answers, which
    // take milliseconds, come first, and its pieces cannot all be fetched from the peer in
    // end-game before the seed has been heard.
    let mut seeder = session_config(2);
    seeder.engine.upload_rate_limit = Some(256 * 1024);
    let seeder = Session::new(seeder).expect("session");
    add(&seeder, &torrent, &dir.join("seeder"), vec![])
        .wait_timeout(Duration::from_secs(30))
        .expect("the seeder checks its data");
    let s = session(3);
    let h = add(&s, &torrent, &dir.join("out"), vec![seeder.listen_addr()]);
    h.wait_timeout(Duration::from_secs(60))
        .expect("downloads despite the corrupt web seed");
    p.assert_on_disk(&dir.join("out"));
    let stats = h.stats().expect("stats");
    assert_eq!(stats.web_seeds_banned, 1, "{stats:?}");
    assert_eq!(stats.web_seeds, 0);
    assert!(stats.hash_failures >= 1, "{stats:?}");
    assert_eq!(stats.banned, 0, "the honest peer is not blamed");
    assert!(
        stats.web_downloaded < stats.downloaded,
        "the peer sent the rest: {stats:?}"
    );
    s.shutdown().unwrap();
    seeder.shutdown().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_server_without_range_support_still_serves_small_files() {
    if !nginx::installed() {
        return;
    }
    let dir = temp_dir("webseed-noranges");
    let p = awkward_payload();
    p.write_to(&dir.join("www"));
    let server = Nginx::start(&dir.join("nginx"), &dir.join("www"), false);
    let torrent = with_web_seed(p.torrent(PIECE, &[]), &server.url(""));

    let s = session(4);
    let h = add(&s, &torrent, &dir.join("out"), vec![]);
    h.wait_timeout(Duration::from_secs(60))
        .expect("downloads from a server that ignores Range");
    p.assert_on_disk(&dir.join("out"));
    let statuses = server.statuses();
    assert!(
        !statuses.is_empty() && statuses.iter().all(|&c| c == 200),
        "{statuses:?}"
    );
    assert_eq!(h.stats().unwrap().web_downloaded, p.stream().len() as u64);
    s.shutdown().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_fetch_shell_checks_what_the_server_answers() {
    if !nginx::installed() {
        return;
    }
    let dir = temp_dir("webseed-fetch");
    let data = bytes(7, (MAX_SKIP + 100_000) as usize);
    std::fs::create_dir_all(dir.join("www")).unwrap();
    std::fs::write(dir.join("www/f.bin"), &data).unwrap();
    let ranged = Nginx::start(&dir.join("ranged"), &dir.join("www"), true);
    let plain = Nginx::start(&dir.join("plain"), &dir.join("www"), false);
    let agent = ureq::agent();
    let len = data.len() as u64;
    let range = |server: &Nginx, start: u64, n: u64, file_len: u64| HttpRange {
        url: server.url("f.bin"),
        start,
        len: n,
        file_len,
    };
    let far = MAX_SKIP + 10;
    let want = |start: u64, n: u64| data[start as usize..(start + n) as usize].to_vec();

    // Ranges honoured: exactly the bytes, two ranges back to back.
    let two = [range(&ranged, far, 1000, len), range(&ranged, 3, 5, len)];
    let mut expected = want(far, 1000);
    expected.extend(want(3, 5));
    assert_eq!(fetch_all(&agent, &two), Ok(expected));
    // The server's file is not the torrent's: wrong length.
    assert_eq!(
        fetch_all(&agent, &[range(&ranged, 0, 10, len + 1)]),
        Err(WebSeedError::WrongLength {
            expected: len + 1,
            got: len
        })
    );
    // Range ignored: near the start the bytes are read past, far in it is an error.
    assert_eq!(
        fetch_all(&agent, &[range(&plain, 70_000, 4000, len)]),
        Ok(want(70_000, 4000))
    );
    assert_eq!(
        fetch_all(&agent, &[range(&plain, far, 10, len)]),
        Err(WebSeedError::RangeIgnored { start: far })
    );
    // Missing file.
    let missing = HttpRange {
        url: ranged.url("nope.bin"),
        ..range(&ranged, 0, 1, 1)
    };
    assert_eq!(
        fetch_all(&agent, &[missing]),
        Err(WebSeedError::Http { status: 404 })
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A fetcher running `max_in_flight` requests at once, its answers, and how often it woke us.
fn fetcher_counting_wakes(
    max_in_flight: usize,
) -> (
    WebFetcher,
    crossbeam_channel::Receiver<WebAnswer>,
    Arc<AtomicUsize>,
) {
    let (tx, rx) = crossbeam_channel::unbounded();
    let wakes = Arc::new(AtomicUsize::new(0));
    let counted = wakes.clone();
    let notify = Arc::new(move || {
        counted.fetch_add(1, Ordering::SeqCst);
    });
    let cfg = FetchConfig {
        max_in_flight,
        ..FetchConfig::default()
    };
    (WebFetcher::new(cfg, tx, notify).unwrap(), rx, wakes)
}

#[test]
fn every_request_gets_exactly_one_answer_and_a_wake() {
    if !nginx::installed() {
        return;
    }
    let dir = temp_dir("webseed-answers");
    std::fs::create_dir_all(dir.join("www")).unwrap();
    std::fs::write(dir.join("www/f.bin"), bytes(8, 1000)).unwrap();
    let server = Nginx::start(&dir.join("nginx"), &dir.join("www"), true);
    // A port nobody listens on: bound, then released.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr());
    let closed = closed.unwrap();
    let urls = [
        server.url("f.bin"),
        format!("http://{closed}/f.bin"),
        "ftp://127.0.0.1/f.bin".to_string(),
        server.url("missing.bin"),
        server.url("f.bin"),
    ];
    let (mut fetcher, rx, wakes) = fetcher_counting_wakes(2);
    for (job, url) in urls.iter().enumerate() {
        let range = HttpRange {
            url: url.clone(),
            start: 10,
            len: 20,
            file_len: 1000,
        };
        let (torrent, seed, job) = (1, 0, job as u64);
        let ranges = vec![range];
        fetcher.submit(WebRequest {
            torrent,
            seed,
            job,
            ranges,
        });
    }
    let mut answers: Vec<_> = (0..urls.len())
        .map(|_| rx.recv_timeout(Duration::from_secs(20)).expect("an answer"))
        .collect();
    answers.sort_by_key(|a| a.job);
    assert!(
        rx.recv_timeout(Duration::from_millis(300)).is_err(),
        "one answer each"
    );
    assert_eq!(wakes.load(Ordering::SeqCst), urls.len());
    let good = bytes(8, 1000)[10..30].to_vec();
    assert_eq!(answers[0].result, Ok(good.clone()));
    assert!(
        matches!(answers[1].result, Err(WebSeedError::Transport(_))),
        "{:?}",
        answers[1]
    );
    assert_eq!(
        answers[2].result,
        Err(WebSeedError::UnsupportedScheme("ftp".into()))
    );
    assert_eq!(answers[3].result, Err(WebSeedError::Http { status: 404 }));
    assert_eq!(answers[4].result, Ok(good));
    // Every request was answered, so none is left running.
    let left = fetcher.stop_within(std::time::Instant::now());
    assert!(left.is_empty(), "{left:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
