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
        // Its default resume state goes to a test folder, not the user's.
        .env("XDG_STATE_HOME", out.with_extension("state"))
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
        // The `started` record has no numbers yet; `checking` ones count nothing downloaded.
        if line.contains("\"state\":\"checking\"") || line.contains("\"state\":\"started\"") {
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
    let mut cfg = SessionConfig::default();
    cfg.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    cfg.engine.upload_rate_limit = Some(3 * 1024 * 1024);
    let seeder = Session::new(cfg).unwrap();
    let h = seeder
        .add(TorrentSource::Bytes(torrent), {
            let mut opts = AddOptions::default();
            opts.output = seed_dir;
            opts
        })
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

/// The pieces a state file lists, checked against the payload: a listed piece whose bytes on
/// disk differ is a claim of data that is not there. Returns how many are listed (0 when there
/// is no state yet).
fn assert_state_claims_only_good_pieces(
    state: &std::path::Path,
    data: &[u8],
    file: &std::path::Path,
) -> u32 {
    let Ok(bytes) = std::fs::read(state) else {
        return 0;
    };
    let s = coracle::internals::resume::decode(&bytes).expect("a state file is never torn");
    let on_disk = std::fs::read(file).unwrap();
    for piece in s.have.iter_ones() {
        let start = piece as usize * PIECE;
        let end = (start + PIECE).min(data.len());
        assert!(
            on_disk.get(start..end) == Some(&data[start..end]),
            "the state lists piece {piece}, which is not on disk"
        );
    }
    s.have.count()
}

#[test]
fn killed_ten_times_at_random_moments_the_state_never_claims_a_missing_piece() {
    let data = payload::bytes(5, 64 * 1024 * 1024 + 999);
    let payload = Payload::single("killed.bin", data.clone());
    let torrent = payload.torrent(PIECE, &[]);
    let dir = temp_dir("resume-kill9");
    let (seed_dir, leech_dir, state_dir) = (dir.join("seed"), dir.join("leech"), dir.join("state"));
    payload.write_to(&seed_dir);
    let torrent_path = dir.join("killed.torrent");
    std::fs::write(&torrent_path, &torrent).unwrap();
    let meta = coracle::Metainfo::from_bytes(&torrent).unwrap();
    let state_file = coracle::internals::disk::state_file::path(&state_dir, &meta.info_hash.0);
    let leech_file = payload.file_path(&leech_dir, 0);

    let mut cfg = SessionConfig::default();
    cfg.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    cfg.engine.upload_rate_limit = Some(3 * 1024 * 1024);
    let seeder = Session::new(cfg).unwrap();
    let h = seeder
        .add(TorrentSource::Bytes(torrent), {
            let mut opts = AddOptions::default();
            opts.output = seed_dir;
            opts
        })
        .unwrap();
    h.wait_timeout(Duration::from_secs(30)).unwrap();

    let total = data.len().div_ceil(PIECE) as u64;
    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_coracle"))
            .arg("download")
            .arg(&torrent_path)
            .arg("-o")
            .arg(&leech_dir)
            .arg("--state-dir")
            .arg(&state_dir)
            .args([
                "--checkpoint",
                "0.2",
                "--port",
                "0",
                "--no-trackers",
                "--no-dht",
                "--no-lsd",
                "--json",
            ])
            .arg("--peer")
            .arg(seeder.listen_addr().to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("coracle runs")
    };
    let mut rng = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64
        | 1;
    eprintln!("kill moments seeded with {rng}");
    let mut seen_verified = 0;
    for kill in 0..10 {
        let claimed = assert_state_claims_only_good_pieces(&state_file, &data, &leech_file);
        rng = rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let after = Duration::from_millis(200 + (rng >> 33) % 2300);
        let mut child = spawn();
        std::thread::sleep(after);
        child.kill().unwrap(); // SIGKILL: no flush, no last checkpoint, nothing
        child.wait().unwrap();
        let lines: Vec<String> = BufReader::new(child.stdout.take().unwrap())
            .lines()
            .map_while(Result::ok)
            .collect();
        let active: Vec<&String> = lines
            .iter()
            .filter(|l| {
                !l.contains("\"state\":\"checking\"") && !l.contains("\"state\":\"started\"")
            })
            .collect();
        let checked = lines
            .iter()
            .filter_map(|l| field(l, "pieces_checked"))
            .max()
            .unwrap_or(0);
        let first = active.first().and_then(|l| field(l, "pieces_done"));
        let last = active.iter().filter_map(|l| field(l, "pieces_done")).max();
        eprintln!(
            "run {kill}: killed after {after:?}; state listed {claimed}, checked {checked}, \
             first {first:?}, last {last:?} of {total}"
        );
        // Pieces the state listed are taken without a check: no full rehash.
        assert!(
            checked <= total - u64::from(claimed),
            "run {kill}: {checked} checked though the state listed {claimed} of {total}"
        );
        if let Some(first) = first {
            assert!(
                first >= seen_verified,
                "run {kill}: lost pieces verified before the kill"
            );
            assert!(
                first >= u64::from(claimed),
                "run {kill}: lost pieces the state listed"
            );
        }
        seen_verified = seen_verified.max(last.unwrap_or(0));
        assert!(
            last.unwrap_or(0) < total,
            "finished before kill {kill}: make the payload larger"
        );
    }
    let claimed = assert_state_claims_only_good_pieces(&state_file, &data, &leech_file);
    seen_verified = seen_verified.max(u64::from(claimed));
    // The last run fetches only what no earlier run verified.
    let mut child = spawn();
    let lines: Vec<String> = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map_while(Result::ok)
        .collect();
    assert!(child.wait().unwrap().success());
    let downloaded = lines
        .iter()
        .filter_map(|l| field(l, "downloaded"))
        .max()
        .unwrap_or(0);
    eprintln!("final run: {downloaded} bytes fetched; {seen_verified} of {total} verified before, {claimed} listed");
    let missing = total - seen_verified;
    assert!(
        downloaded <= (missing + 4) * PIECE as u64,
        "downloaded {downloaded} bytes for {missing} missing pieces"
    );
    payload.assert_on_disk(&leech_dir);
    // After a clean finish the state holds everything: a restart reads and fetches nothing.
    assert_eq!(
        assert_state_claims_only_good_pieces(&state_file, &data, &leech_file),
        total as u32
    );
    let mut child = spawn();
    let lines: Vec<String> = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map_while(Result::ok)
        .collect();
    assert!(child.wait().unwrap().success());
    let last = lines.last().unwrap();
    assert_eq!(field(last, "pieces_checked"), Some(0), "{last}");
    assert_eq!(field(last, "downloaded"), Some(0), "{last}");
    seeder.shutdown().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
