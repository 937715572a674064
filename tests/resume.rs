//! A download killed with SIGKILL at several points and restarted each time: it completes with the
//! exact bytes, and a restart never fetches again a piece that was verified before the kill.

// Test and example code drives real sockets, threads, files and clocks.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

#[path = "support/payload.rs"]
mod payload;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use coracle::{AddOptions, Session, SessionConfig, TorrentSource};
use payload::{temp_dir, Payload};

const PIECE: usize = 64 * 1024;

/// A number field of a `--json` line.
fn field(line: &str, name: &str) -> Option<u64> {
    let key = format!("\"{name}\":");
    let rest = &line[line.find(&key)? + key.len()..];
    rest.split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

fn spawn_leecher(torrent: &std::path::Path, out: &std::path::Path, seeder: SocketAddr) -> Child {
    Command::new(env!("CARGO_BIN_EXE_coracle"))
        .arg("download")
        .arg(torrent)
        .arg("-o")
        .arg(out)
        .args([
            "--port",
            "0",
            "--no-trackers",
            "--no-dht",
            "--no-lsd",
            "--json",
            "--peer",
        ])
        .arg(seeder.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("coracle runs")
}

/// What one run of the leecher showed.
struct Run {
    /// Pieces verified when the first line after the recheck was printed.
    first_done: u64,
    /// Most pieces verified in any line.
    last_done: u64,
    /// Payload bytes received in the last line.
    downloaded: u64,
    completed: bool,
}

/// Runs the leecher until it has made progress past `kill_after` pieces (then SIGKILLs it), or to
/// the end when `kill_after` is `None`.
fn run(
    t: &std::path::Path,
    out: &std::path::Path,
    seeder: SocketAddr,
    kill_after: Option<u64>,
) -> Run {
    let mut child = spawn_leecher(t, out, seeder);
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let mut r = Run {
        first_done: u64::MAX,
        last_done: 0,
        downloaded: 0,
        completed: false,
    };
    let deadline = Instant::now() + Duration::from_secs(90);
    for line in stdout.lines() {
        let line = line.unwrap();
        assert!(Instant::now() < deadline, "leecher stalled");
        if line.contains("\"state\":\"checking\"") {
            continue;
        }
        let done = field(&line, "pieces_done").unwrap_or(0);
        r.first_done = r.first_done.min(done);
        r.last_done = r.last_done.max(done);
        r.downloaded = field(&line, "downloaded").unwrap_or(r.downloaded);
        r.completed |= line.contains("\"state\":\"completed\"");
        if kill_after.is_some_and(|k| done > k) {
            child.kill().unwrap(); // SIGKILL: no flush, no announce, nothing
            break;
        }
    }
    let status = child.wait().unwrap();
    if kill_after.is_none() {
        assert!(status.success(), "final run failed: {status:?}");
    }
    r
}

#[test]
fn killed_five_times_then_completes_without_refetching_verified_pieces() {
    let payload = Payload::single("resume.bin", payload::bytes(3, 16 * 1024 * 1024 + 4321));
    let torrent = payload.torrent(PIECE, &[]);
    let dir = temp_dir("resume");
    let seed_dir = dir.join("seed");
    let leech_dir = dir.join("leech");
    payload.write_to(&seed_dir);
    let torrent_path = dir.join("resume.torrent");
    std::fs::write(&torrent_path, &torrent).unwrap();

    // The seeder is throttled so the download lasts long enough to be killed several times.
    let mut cfg = SessionConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        ..Default::default()
    };
    cfg.engine.upload_rate_limit = Some(3 * 1024 * 1024);
    let seeder = Session::new(cfg).unwrap();
    let h = seeder
        .add(
            TorrentSource::Bytes(torrent),
            AddOptions {
                output: seed_dir,
                ..Default::default()
            },
        )
        .unwrap();
    h.wait_timeout(Duration::from_secs(30)).unwrap();

    let total = (payload.stream().len() as u64).div_ceil(PIECE as u64);
    let mut verified_before_kill = 0;
    for kill in 0..5 {
        let target = verified_before_kill + 1 + kill * 3;
        let r = run(
            &torrent_path,
            &leech_dir,
            seeder.listen_addr(),
            Some(target),
        );
        assert!(
            r.first_done == u64::MAX || r.first_done >= verified_before_kill,
            "run {kill}: showed {} pieces though {verified_before_kill} were verified before the kill",
            r.first_done
        );
        eprintln!(
            "run {kill}: killed at {} of {total} pieces verified",
            r.last_done
        );
        verified_before_kill = verified_before_kill.max(r.last_done);
        assert!(
            !r.completed,
            "finished before kill {kill}: make the payload larger"
        );
    }
    let last = run(&torrent_path, &leech_dir, seeder.listen_addr(), None);
    eprintln!(
        "final run: {} bytes fetched for {} pieces missing",
        last.downloaded,
        total - verified_before_kill
    );
    assert!(last.completed);
    assert!(last.first_done >= verified_before_kill);
    // Only pieces not verified before the last kill were fetched (end-game may duplicate a few
    // blocks, and a piece that was being downloaded at the kill is fetched whole again).
    let missing = total - verified_before_kill;
    assert!(
        last.downloaded <= missing * PIECE as u64 + 4 * PIECE as u64,
        "downloaded {} bytes for {missing} missing pieces",
        last.downloaded
    );
    payload.assert_on_disk(&leech_dir);
    seeder.shutdown().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
