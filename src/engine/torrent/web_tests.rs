//! Web seeds in the torrent core: requests through the picker, answers into the verify path,
//! the cap per seed, back-off and retry, and the ban for bad data.

use std::time::{Duration, Instant};

use super::{test_core, TorrentCore};
use crate::engine::io::{Action, DiskDone, DiskRequest, EngineConfig};
use crate::engine::Outputs;
use crate::layout::Layout;
use crate::webseed::seed::{FIRST_BACKOFF, MAX_JOBS_PER_SEED};
use crate::webseed::{FileTable, WebAnswer, WebFile, WebRequest, WebSeedError, WebSeeds};

const PIECE: u32 = 16 * 1024;
const PIECES: u32 = 64;

/// The torrent's stream: byte `i` is a function of `i`.
fn byte(i: u64) -> u8 {
    (i % 251) as u8 ^ (i >> 11) as u8
}

/// Two files, `t/a b` (100 000 bytes) and `t/ü` (the rest), over 64 pieces of 16 KiB.
fn table() -> FileTable {
    let total = u64::from(PIECE * PIECES);
    FileTable {
        files: vec![
            WebFile {
                offset: 0,
                length: 100_000,
                encoded_path: "t/a%20b".into(),
                padding: false,
            },
            WebFile {
                offset: 100_000,
                length: total - 100_000,
                encoded_path: "t/%C3%BC".into(),
                padding: false,
            },
        ],
        multi_file: true,
    }
}

/// A downloading torrent with one web seed and no peers; the requests it made at once.
fn core_with_seed(now: Instant) -> (TorrentCore, Outputs, Vec<WebRequest>) {
    let layout = Layout::new(PIECE, u64::from(PIECE * PIECES)).unwrap();
    let mut t = test_core(1, layout, false, &EngineConfig::default(), now);
    let mut out = Outputs::default();
    let seeds = WebSeeds::new(table(), &["http://127.0.0.1:1/s/".to_string()]);
    t.set_web_seeds(seeds, now, &mut out);
    let reqs = web_requests(&mut out);
    (t, out, reqs)
}

fn web_requests(out: &mut Outputs) -> Vec<WebRequest> {
    let mut reqs = Vec::new();
    out.actions.retain(|a| match a {
        Action::WebSeed(r) => {
            reqs.push(r.clone());
            false
        }
        _ => true,
    });
    reqs
}

fn verifies(out: &mut Outputs) -> Vec<(u32, Vec<u8>)> {
    out.actions
        .drain(..)
        .filter_map(|a| match a {
            Action::Disk(DiskRequest::Verify { piece, data, .. }) => Some((piece, data)),
            _ => None,
        })
        .collect()
}

/// What an honest server sends for `req`: each range's bytes of the stream, in order.
fn honest_body(req: &WebRequest) -> Vec<u8> {
    let mut body = Vec::new();
    for r in &req.ranges {
        let base = if r.url.ends_with("t/a%20b") {
            0
        } else {
            100_000
        };
        body.extend((r.start..r.start + r.len).map(|i| byte(base + i)));
    }
    body
}

fn answer(req: &WebRequest, result: Result<Vec<u8>, WebSeedError>) -> WebAnswer {
    WebAnswer {
        torrent: req.torrent,
        seed: req.seed,
        job: req.job,
        result,
    }
}

#[test]
fn a_seed_is_asked_through_the_picker_up_to_its_cap_and_its_bytes_are_verified() {
    let now = Instant::now();
    let (mut t, mut out, reqs) = core_with_seed(now);
    assert_eq!(
        reqs.len(),
        usize::from(MAX_JOBS_PER_SEED),
        "capped per seed"
    );
    // 16 one-block pieces per request: 256 KiB, one run; the first crosses the file boundary.
    let first = &reqs[0];
    let urls: Vec<(&str, u64, u64)> = first
        .ranges
        .iter()
        .map(|r| (r.url.as_str(), r.start, r.len))
        .collect();
    let run_start = first.ranges[0].start;
    assert!(first
        .ranges
        .iter()
        .all(|r| r.url.starts_with("http://127.0.0.1:1/s/t/")));
    assert_eq!(
        first.ranges.iter().map(|r| r.len).sum::<u64>(),
        16 * 16384,
        "{urls:?}"
    );
    assert!(run_start % u64::from(PIECE) == 0 || first.ranges[0].url.ends_with("%C3%BC"));

    t.handle_web_answer(answer(first, Ok(honest_body(first))), now, &mut out);
    let more = web_requests(&mut out);
    assert_eq!(more.len(), 1, "the freed slot is used at once");
    let checked = verifies(&mut out);
    assert_eq!(checked.len(), 16);
    for (piece, data) in checked {
        let at = u64::from(piece) * u64::from(PIECE);
        let want: Vec<u8> = (at..at + u64::from(PIECE)).map(byte).collect();
        assert_eq!(data, want, "piece {piece} holds the stream's bytes");
    }
    let s = t.stats();
    assert_eq!((s.downloaded, s.web_downloaded), (16 * 16384, 16 * 16384));
    assert_eq!((s.web_seeds, s.web_seeds_banned), (1, 0));
}

#[test]
fn an_error_backs_the_seed_off_and_it_is_asked_again_when_the_wait_is_over() {
    let now = Instant::now();
    let (mut t, mut out, reqs) = core_with_seed(now);
    t.handle_web_answer(
        answer(&reqs[0], Err(WebSeedError::Http { status: 503 })),
        now,
        &mut out,
    );
    assert!(
        web_requests(&mut out).is_empty(),
        "backing off: nothing new"
    );
    assert_eq!(
        t.next_deadline(),
        Some(now + FIRST_BACKOFF).min(t.next_deadline())
    );
    // A wrong-length body is an error too.
    t.handle_web_answer(answer(&reqs[1], Ok(vec![0; 10])), now, &mut out);
    assert!(web_requests(&mut out).is_empty());
    assert_eq!(t.stats().web_downloaded, 0);

    let later = now + FIRST_BACKOFF * 2;
    t.handle_timeout(later, &mut out);
    let again = web_requests(&mut out);
    assert_eq!(
        again.len(),
        usize::from(MAX_JOBS_PER_SEED),
        "retried after the back-off"
    );
    let mut blocks: Vec<u64> = again
        .iter()
        .flat_map(|r| r.ranges.iter().map(|x| x.len))
        .collect();
    blocks.sort_unstable();
    assert_eq!(
        blocks.iter().sum::<u64>(),
        2 * 16 * 16384,
        "the dropped blocks are asked again"
    );
}

#[test]
fn a_seed_whose_piece_fails_the_hash_is_banned_and_asked_nothing_more() {
    let now = Instant::now();
    let (mut t, mut out, reqs) = core_with_seed(now);
    let mut bad = honest_body(&reqs[0]);
    bad[5] ^= 0xff;
    t.handle_web_answer(answer(&reqs[0], Ok(bad)), now, &mut out);
    web_requests(&mut out);
    let checked = verifies(&mut out);
    let (piece, buffer) = checked[0].clone();
    let done = DiskDone::Verified {
        torrent: 1,
        piece,
        ok: false,
        buffer,
    };
    t.handle_disk(done, now, &mut out);
    let s = t.stats();
    assert_eq!(
        (s.web_seeds, s.web_seeds_banned, s.hash_failures),
        (0, 1, 1)
    );
    assert!(web_requests(&mut out).is_empty());
    // What it still sends is dropped, and nothing new is asked, even after any back-off.
    t.handle_web_answer(answer(&reqs[1], Ok(honest_body(&reqs[1]))), now, &mut out);
    assert!(verifies(&mut out).is_empty());
    t.handle_timeout(now + Duration::from_secs(3600), &mut out);
    assert!(web_requests(&mut out).is_empty());
}

#[test]
fn a_pause_abandons_requests_and_their_late_answers_only_free_the_slot() {
    let now = Instant::now();
    let (mut t, mut out, reqs) = core_with_seed(now);
    t.pause(now, &mut out);
    t.resume(now, &mut out);
    assert!(web_requests(&mut out).is_empty(), "both slots still busy");
    t.handle_web_answer(answer(&reqs[0], Ok(honest_body(&reqs[0]))), now, &mut out);
    let next = web_requests(&mut out);
    assert_eq!(next.len(), 1, "its slot is free again");
    assert!(
        verifies(&mut out).is_empty(),
        "an abandoned answer is not used"
    );
    assert_eq!(t.stats().web_downloaded, 0);
}

#[test]
fn download_limits_pace_web_seed_requests_as_they_pace_peers() {
    let now = Instant::now();
    let layout = Layout::new(PIECE, u64::from(PIECE * PIECES)).unwrap();
    let mut t = test_core(1, layout, false, &EngineConfig::default(), now);
    let mut out = Outputs::default();
    let limits = crate::engine::RateLimits {
        download: Some(64 * 1024),
        upload: None,
    };
    t.set_rate_limits(limits, now, &mut out);
    let seeds = WebSeeds::new(table(), &["http://127.0.0.1:1/s/".to_string()]);
    t.set_web_seeds(seeds, now, &mut out);
    assert!(web_requests(&mut out).is_empty(), "the bucket starts empty");
    // Two seconds, answering every request at once: about 64 KiB/s is asked, not 1 MiB.
    let mut asked = 0;
    for step in 1..=20 {
        let at = now + Duration::from_millis(100 * step);
        if t.next_deadline().is_some_and(|d| d <= at) {
            t.handle_timeout(at, &mut out);
        }
        let mut reqs = web_requests(&mut out);
        while let Some(r) = reqs.pop() {
            asked += r.ranges.iter().map(|x| x.len).sum::<u64>();
            t.handle_web_answer(answer(&r, Ok(honest_body(&r))), at, &mut out);
            reqs.extend(web_requests(&mut out));
        }
        out.actions.clear();
    }
    assert!(asked >= 64 * 1024, "it still downloads: {asked}");
    assert!(asked <= 2 * 64 * 1024 + 48 * 1024, "paced: {asked}");
}
