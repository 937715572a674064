//! Tests of the `coracle` binary's command line: help, version, usage errors, `info`, and the
//! errors a download reports before any networking. Every run uses `--no-trackers` and port 0, so
//! nothing leaves the machine and parallel tests never fight over a port.

// Test and example code drives real sockets, threads, files and clocks.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

#[path = "support/payload.rs"]
mod payload;

#[path = "cli/first_minutes.rs"]
mod first_minutes;

#[path = "cli/display.rs"]
mod display;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const MULTI: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/fixtures/mktorrent_multi.torrent"
);
const PAYLOAD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/payload");
const PAYLOAD_MULTI: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/payload/multi");

/// Where the binary keeps its default resume state in these tests: not the user's folder.
fn test_state_home() -> PathBuf {
    std::env::temp_dir().join(format!("coracle-{}-state-home", std::process::id()))
}

fn coracle(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_coracle"))
        .env("XDG_STATE_HOME", test_state_home())
        .args(args)
        .output()
        .expect("run coracle")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A fresh, empty folder under Cargo's scratch space for integration tests.
fn scratch(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("cli-{tag}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Says why a test is skipped, straight to stderr (the harness would hide `eprintln!` of a
/// passing test).
fn skip(why: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "skipped: {why}");
}

/// Asserts a failure with `code` whose one-line `coracle: ...` message contains `needle`.
fn assert_fails(out: &Output, code: i32, needle: &str) {
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "stderr: {err}");
    assert!(err.starts_with("coracle: "), "stderr: {err}");
    assert!(err.contains(needle), "expected {needle:?} in stderr: {err}");
}

#[test]
fn version_prints_name_and_version() {
    let out = coracle(&["--version"]);
    assert!(out.status.success());
    assert_eq!(text(&out.stdout), "coracle 0.1.0\n");
    assert_eq!(coracle(&["-V"]).stdout, out.stdout);
}

#[test]
fn help_shows_usage_exit_codes_and_examples() {
    for flag in [&["--help"][..], &["-h"], &["help"]] {
        let out = coracle(flag);
        assert!(out.status.success(), "{flag:?}");
        let help = text(&out.stdout);
        for needle in [
            "Usage:",
            "coracle download",
            "coracle seed",
            "coracle info",
            "coracle create",
            "--peer",
            "--no-dht",
            "--dht-bootstrap HOST:PORT",
            "--no-lsd",
            "--state-dir DIR",
            "Exit status",
            "Examples:",
        ] {
            assert!(help.contains(needle), "{flag:?}: no {needle:?} in {help}");
        }
        assert!(out.stderr.is_empty());
    }
}

#[test]
fn usage_errors_exit_2_with_a_message() {
    let cases: &[(&[&str], &str)] = &[
        (&[], "no .torrent file"),
        (&["download"], "no .torrent file"),
        (&["info"], "no .torrent file"),
        (&["download", MULTI, "--bogus"], "unknown option '--bogus'"),
        (&["download", MULTI, "--port", "abc"], "--port"),
        (&["download", MULTI, "--port", "70000"], "--port"),
        (&["download", MULTI, "--peer", "nonsense"], "--peer"),
        (&["download", MULTI, "--max-peers", "0"], "--max-peers"),
        (
            &["download", MULTI, "--max-upload-rate", "fast"],
            "--max-upload-rate",
        ),
        (
            &["download", MULTI, "--max-upload-rate", "0"],
            "--max-upload-rate",
        ),
        (&["download", MULTI, "--storage", "disk"], "--storage"),
        (
            &["download", MULTI, "--piece-buffer", "lots"],
            "--piece-buffer",
        ),
        (
            &["download", MULTI, "--dht-bootstrap", "no-port"],
            "--dht-bootstrap",
        ),
        (
            &["download", MULTI, "--dht-bootstrap", "host:0"],
            "--dht-bootstrap",
        ),
        (&["download", MULTI, "--state-dir"], "--state-dir"),
        (&["download", MULTI, "-o"], "-o"),
        (&["seed", MULTI], "--data"),
        (&["info", MULTI, "extra"], "unexpected argument 'extra'"),
    ];
    for (args, needle) in cases {
        let out = coracle(args);
        assert_fails(&out, 2, needle);
        assert!(text(&out.stderr).contains("--help"), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn info_describes_the_torrent() {
    let out = coracle(&["info", MULTI]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let info = text(&out.stdout);
    let expect = [
        "name:         multi",
        "info-hash:    108530383cdb138f41037e043ebffddeca9d39ae",
        "total size:   59.8 KiB (61246 bytes)",
        "piece length: 32.0 KiB (32768 bytes)",
        "pieces:       2",
        "private:      no",
        "files (5):",
        "1.2 KiB  multi/a.txt",
        "0 B  multi/empty.dat",
        "39.1 KiB  multi/sub/b.bin",
        "19.5 KiB  multi/sub/deeper/c.bin",
        "11 B  multi/z.txt",
        "tier 1: http://127.0.0.1:6969/announce http://127.0.0.1:6970/announce",
        "tier 2: udp://127.0.0.1:6971/announce",
    ];
    for line in expect {
        assert!(info.contains(line), "no {line:?} in:\n{info}");
    }
}

#[test]
fn info_marks_padding_files() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/libtorrent_hybrid_padded.torrent"
    );
    let info = text(&coracle(&["info", path]).stdout);
    assert!(info.contains("multi/.pad/31533  [padding]"), "{info}");
    assert!(!info.contains("multi/a.txt  [padding]"), "{info}");
}

#[test]
fn malformed_or_missing_torrent_exits_1() {
    let dir = scratch("bad");
    let bad = dir.join("bad.torrent");
    std::fs::write(&bad, b"d4:infoi3ee").unwrap();
    let bad = bad.to_str().unwrap();
    assert_fails(&coracle(&["info", bad]), 1, "bad.torrent: damaged torrent");
    std::fs::write(bad, b"<html>not found</html>").unwrap();
    assert_fails(&coracle(&["info", bad]), 1, "not a valid .torrent file");
    let out_dir = dir.join("out");
    let out = coracle(&[
        "download",
        bad,
        "-o",
        out_dir.to_str().unwrap(),
        "--port",
        "0",
        "--no-trackers",
        "--no-dht",
        "--no-lsd",
    ]);
    assert_fails(&out, 1, "not a valid .torrent file");
    assert!(!out_dir.exists(), "nothing is created for a bad torrent");
    let missing = dir.join("missing.torrent");
    assert_fails(
        &coracle(&["info", missing.to_str().unwrap()]),
        1,
        "missing.torrent",
    );
}

#[test]
fn a_file_where_the_output_folder_should_be_exits_1() {
    let dir = scratch("blocked");
    let blocker = dir.join("downloads");
    std::fs::write(&blocker, b"i am a file").unwrap();
    let out = coracle(&[
        "download",
        MULTI,
        "-o",
        blocker.to_str().unwrap(),
        "--port",
        "0",
        "--no-trackers",
        "--no-dht",
        "--no-lsd",
    ]);
    assert_fails(&out, 1, "is not a folder");
    assert!(text(&out.stderr).contains("downloads"));
    assert_eq!(
        std::fs::read(&blocker).unwrap(),
        b"i am a file",
        "the file is left alone"
    );
    // `coracle FILE -o DIR` is the same download.
    let implicit = coracle(&[
        MULTI,
        "-o",
        blocker.to_str().unwrap(),
        "--port",
        "0",
        "--no-trackers",
        "--no-dht",
        "--no-lsd",
    ]);
    assert_fails(&implicit, 1, "is not a folder");

    // The same when a file takes the place of the torrent's own folder inside DIR.
    let out_dir = dir.join("out");
    std::fs::create_dir(&out_dir).unwrap();
    std::fs::write(out_dir.join("multi"), b"x").unwrap();
    let out = coracle(&[
        "download",
        MULTI,
        "-o",
        out_dir.to_str().unwrap(),
        "--port",
        "0",
        "--no-trackers",
        "--no-dht",
        "--no-lsd",
        "-q",
    ]);
    assert_fails(&out, 1, "multi is not a folder");
}

/// Starts coracle with piped output and waits for its first stdout line (the signal handlers
/// are installed by then).
#[cfg(unix)]
fn start(args: &[&str]) -> (Child, BufReader<std::process::ChildStdout>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_coracle"))
        .env("XDG_STATE_HOME", test_state_home())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn coracle");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    (child, out, first)
}

/// Sends SIGTERM and collects the rest of the output and the exit code.
#[cfg(unix)]
fn terminate(
    mut child: Child,
    mut out: BufReader<std::process::ChildStdout>,
) -> (Option<i32>, String, String) {
    use std::io::Read;
    // SAFETY: kill only sends a signal, to our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "coracle did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    let (mut rest, mut err) = (String::new(), String::new());
    out.read_to_string(&mut rest).unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (status.code(), rest, err)
}

#[cfg(unix)]
#[test]
fn sigterm_before_completion_exits_1_interrupted() {
    let dir = scratch("interrupt");
    let o = dir.to_str().unwrap();
    let (child, out, first) = start(&[
        "download",
        MULTI,
        "-o",
        o,
        "--port",
        "0",
        "--no-trackers",
        "--no-dht",
        "--no-lsd",
        "--json",
    ]);
    assert!(first.starts_with("{\"state\":"), "{first}");
    let (code, rest, err) = terminate(child, out);
    assert_eq!(code, Some(1), "stderr: {err}");
    assert!(err.contains("coracle: interrupted"), "{err}");
    let last = rest.lines().last().unwrap_or(&first);
    assert!(last.starts_with("{\"state\":\"interrupted\""), "{last}");
    assert!(
        last.contains("\"bytes_total\":61246") && last.contains("\"name\":\"multi\""),
        "{last}"
    );
}

/// Copies a folder tree (the fixtures are never opened for writing).
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[cfg(unix)]
#[test]
fn seed_of_complete_data_stops_cleanly_on_sigterm() {
    let dir = scratch("seed");
    copy_tree(&Path::new(PAYLOAD).join("multi"), &dir.join("multi"));
    let data = dir.to_str().unwrap();
    let (child, out, first) = start(&[
        "seed",
        MULTI,
        "--data",
        data,
        "--port",
        "0",
        "--no-trackers",
        "--no-dht",
        "--no-lsd",
    ]);
    assert!(first.starts_with("checking multi"), "{first}");
    // Wait until the check has found the data whole, then stop it.
    let mut out = out;
    let mut line = String::new();
    while !line.contains("seeding; press Ctrl-C") {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "no seeding line");
    }
    let (code, rest, err) = terminate(child, out);
    assert_eq!(code, Some(0), "stderr: {err}");
    assert!(rest.contains("stopped: multi"), "{rest}");
}

#[cfg(unix)]
#[test]
fn seed_of_incomplete_data_says_what_is_missing() {
    let dir = scratch("seed-partial");
    copy_tree(&Path::new(PAYLOAD).join("multi"), &dir.join("multi"));
    // Damage the last file: the piece holding it fails the check.
    let victim = dir.join("multi/z.txt");
    let mut bytes = std::fs::read(&victim).unwrap();
    bytes.iter_mut().for_each(|b| *b ^= 0xff);
    std::fs::write(&victim, bytes).unwrap();
    let data = dir.to_str().unwrap();
    let (child, mut out, first) = start(&[
        "seed",
        MULTI,
        "--data",
        data,
        "--port",
        "0",
        "--no-trackers",
        "--no-dht",
        "--no-lsd",
    ]);
    assert!(first.starts_with("checking multi"), "{first}");
    let mut line = String::new();
    while !line.contains("data incomplete") {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "no incomplete line");
    }
    assert!(line.contains("1 of 2 pieces on disk"), "{line}");
    let (code, _, err) = terminate(child, out);
    assert_eq!(code, Some(1), "stderr: {err}");
}

/// Runs a command quietly; true when it succeeded.
fn run_quiet(cmd: &str, args: &[&str]) -> bool {
    Command::new(cmd)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn full_disk_exits_1_naming_the_folder_and_the_bytes() {
    let dir = scratch("full-disk");
    let torrent = dir.join("big.torrent");
    let payload = payload::Payload::single("big.bin", payload::bytes(5, 4 << 20));
    std::fs::write(&torrent, payload.torrent(64 * 1024, &[])).unwrap();
    let mnt = dir.join("small");
    std::fs::create_dir_all(&mnt).unwrap();
    let m = mnt.to_str().unwrap();
    if !run_quiet("mount", &["-t", "tmpfs", "-o", "size=1m", "tmpfs", m]) {
        if std::env::var_os("CI").is_some() {
            panic!("CI runs as root and must be able to mount a tmpfs for this test");
        }
        skip("needs root to mount a small tmpfs");
        return;
    }
    // Folders `-o` names that do not exist yet: the failed start removes them again.
    let nested = mnt.join("new/deeper");
    let out = coracle(&[
        "download",
        torrent.to_str().unwrap(),
        "-o",
        nested.to_str().unwrap(),
        "--port",
        "0",
        "--no-trackers",
        "--no-dht",
        "--no-lsd",
        "--quiet",
    ]);
    let listing = std::fs::read_dir(&mnt).map(|d| d.count()).unwrap_or(99);
    run_quiet("umount", &[m]);
    assert_fails(&out, 1, "not enough space in");
    let err = text(&out.stderr);
    assert!(
        err.contains(m) && err.contains("need 4.0 MiB (4194304 bytes)"),
        "{err}"
    );
    assert_eq!(listing, 0, "nothing was created on the full disk");
}

#[cfg(unix)]
#[test]
fn max_upload_rate_holds_the_seeder_back() {
    let dir = scratch("rate");
    let payload = payload::Payload::single("rated.bin", payload::bytes(9, 3 << 20));
    let torrent = dir.join("rated.torrent");
    let bytes = payload.torrent(64 * 1024, &[]);
    std::fs::write(&torrent, &bytes).unwrap();
    let seed_dir = dir.join("seed");
    payload.write_to(&seed_dir);
    // A free port for the seeder: the CLI does not print the one it picks.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (child, mut out, _) = start(&[
        "seed",
        torrent.to_str().unwrap(),
        "--data",
        seed_dir.to_str().unwrap(),
        "--port",
        &port.to_string(),
        "--no-trackers",
        "--no-dht",
        "--no-lsd",
        "--max-upload-rate",
        "1M",
    ]);
    let mut line = String::new();
    while !line.contains("seeding; press Ctrl-C") {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "no seeding line");
    }
    let mut cfg = coracle::SessionConfig::default();
    cfg.listen = "127.0.0.1:0".parse().unwrap();
    let leecher = coracle::Session::new(cfg).unwrap();
    let began = Instant::now();
    let h = leecher
        .add(coracle::TorrentSource::Bytes(bytes), {
            let mut opts = coracle::AddOptions::default();
            opts.output = dir.join("leech");
            opts.peers = vec![([127, 0, 0, 1], port).into()];
            opts.no_trackers = true;
            opts
        })
        .unwrap();
    h.wait_timeout(Duration::from_secs(60)).unwrap();
    let took = began.elapsed();
    payload.assert_on_disk(&dir.join("leech"));
    leecher.shutdown().unwrap();
    let (code, _, err) = terminate(child, out);
    assert_eq!(code, Some(0), "stderr: {err}");
    // 3 MiB at 1 MiB/s, with at most one second of burst: two seconds at the very least.
    assert!(took >= Duration::from_millis(1900), "3 MiB in {took:?}");
}

/// `--storage pwrite` with the smallest piece buffer (below two pieces, which the engine keeps
/// whatever the budget) still downloads every byte.
#[test]
fn storage_pwrite_with_a_small_piece_buffer_downloads_exactly() {
    let dir = scratch("pwrite");
    let payload = payload::Payload::tree("pw", 5, 11);
    let torrent = dir.join("pw.torrent");
    let bytes = payload.torrent(32 * 1024, &[]);
    std::fs::write(&torrent, &bytes).unwrap();
    payload.write_to(&dir.join("seed"));
    let seeder = coracle::Session::new({
        let mut config = coracle::SessionConfig::default();
        config.listen = "127.0.0.1:0".parse().unwrap();
        config
    })
    .unwrap();
    let mut opts = coracle::AddOptions::default();
    opts.output = dir.join("seed");
    opts.peers = vec![];
    opts.no_trackers = true;
    let h = seeder
        .add(coracle::TorrentSource::Bytes(bytes), opts)
        .unwrap();
    h.wait_timeout(Duration::from_secs(30)).unwrap();
    let out = coracle(&[
        "download",
        torrent.to_str().unwrap(),
        "-o",
        dir.join("leech").to_str().unwrap(),
        "--peer",
        &seeder.listen_addr().to_string(),
        "--port",
        "0",
        "--no-trackers",
        "--no-dht",
        "--no-lsd",
        "--storage",
        "pwrite",
        "--piece-buffer",
        "16K",
        "--quiet",
    ]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    payload.assert_on_disk(&dir.join("leech"));
    seeder.shutdown().unwrap();
}

/// SHA-1 of the raw `info` value of a .torrent, computed apart from coracle's parser.
fn info_hash_hex(torrent: &[u8]) -> String {
    use sha1::{Digest, Sha1};
    let root = coracle::internals::bencode::decode_prefix(torrent)
        .unwrap()
        .0;
    Sha1::digest(root.get("info").unwrap().raw)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn create_writes_a_torrent_and_prints_its_info_hash() {
    let dir = scratch("create");
    let out_file = dir.join("multi.torrent");
    let out = coracle(&[
        "create",
        PAYLOAD_MULTI,
        "-o",
        out_file.to_str().unwrap(),
        "--piece-size",
        "32K",
        "--tracker",
        "http://127.0.0.1:6969/announce,http://127.0.0.1:6970/announce",
        "--tracker",
        "udp://127.0.0.1:6971/announce",
        "--comment",
        "made in a test",
        "--no-date",
        "--web-seed",
        "http://127.0.0.1:8080/seed/",
        "--web-seed",
        "https://127.0.0.1:8443/mirror/",
        "--threads",
        "2",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let bytes = std::fs::read(&out_file).unwrap();
    let hash = info_hash_hex(&bytes);
    // The same folder, options and piece size as mktorrent's fixture: the same info-hash
    // (`url-list` lies outside the info dictionary).
    assert_eq!(hash, "108530383cdb138f41037e043ebffddeca9d39ae");
    let stdout = text(&out.stdout);
    assert!(stdout.contains(&format!("info-hash {hash}")), "{stdout}");
    assert!(stdout.contains("5 files"), "{stdout}");
    assert!(text(&out.stderr).contains("hashing: 100.0%"));
    let info = text(&coracle(&["info", out_file.to_str().unwrap()]).stdout);
    for line in [
        "comment:      made in a test",
        "tier 1: http://127.0.0.1:6969/announce http://127.0.0.1:6970/announce",
        "tier 2: udp://127.0.0.1:6971/announce",
        "web seeds (2):\n  http://127.0.0.1:8080/seed/\n  https://127.0.0.1:8443/mirror/\n",
    ] {
        assert!(info.contains(line), "no {line:?} in:\n{info}");
    }
    assert!(!info.contains("created:"), "--no-date: {info}");
    // An existing output is never overwritten.
    let again = coracle(&["create", PAYLOAD_MULTI, "-o", out_file.to_str().unwrap()]);
    assert_fails(&again, 1, "already exists");
    assert_eq!(std::fs::read(&out_file).unwrap(), bytes);
}

#[test]
fn create_quiet_private_and_source() {
    let dir = scratch("create-quiet");
    let out_file = dir.join("a.torrent");
    let single = format!("{PAYLOAD}/single.bin");
    let out = coracle(&[
        "create",
        &single,
        "-q",
        "--private",
        "--source",
        "SRC",
        "--piece-size",
        "auto",
        "-o",
        out_file.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty() && out.stderr.is_empty());
    let m = coracle::Metainfo::from_bytes(&std::fs::read(&out_file).unwrap()).unwrap();
    assert!(m.private && !m.multi_file);
    assert_eq!(m.name, "single.bin");
    assert_eq!(m.piece_length, 16384);
    let root = coracle::internals::bencode::decode(m.info_bytes()).unwrap();
    assert_eq!(root.get("source").unwrap().as_str(), Some("SRC"));
}

#[test]
fn create_usage_and_failures() {
    let dir = scratch("create-bad");
    let o = dir.join("x.torrent");
    let o = o.to_str().unwrap();
    assert_fails(&coracle(&["create"]), 2, "needs the file or folder");
    assert_fails(
        &coracle(&["create", PAYLOAD_MULTI, "--piece-size", "big", "-o", o]),
        2,
        "not a size like",
    );
    assert_fails(
        &coracle(&["create", PAYLOAD_MULTI, "--bogus", "-o", o]),
        2,
        "unknown option '--bogus'",
    );
    assert_fails(
        &coracle(&["create", PAYLOAD_MULTI, "--piece-size", "1000", "-o", o]),
        1,
        "not a power of two",
    );
    let missing = dir.join("missing");
    assert_fails(
        &coracle(&["create", missing.to_str().unwrap(), "-o", o]),
        1,
        "missing",
    );
    std::fs::create_dir_all(dir.join("empty")).unwrap();
    assert_fails(
        &coracle(&["create", dir.join("empty").to_str().unwrap(), "-o", o]),
        1,
        "nothing to share",
    );
    assert!(std::fs::metadata(o).is_err(), "no output on failure");
}

#[test]
fn info_reports_cleaned_paths_and_symlinks() {
    use coracle::internals::bencode::Bencode;
    let file = |len: i64, path: &[&str], extra: Vec<(&str, Bencode)>| {
        let mut d = vec![
            ("length", Bencode::Int(len)),
            (
                "path",
                Bencode::List(path.iter().map(Bencode::bytes).collect()),
            ),
        ];
        d.extend(extra);
        Bencode::dict(d)
    };
    let info = Bencode::dict([
        ("name", Bencode::bytes("t")),
        ("piece length", Bencode::Int(16384)),
        ("pieces", Bencode::bytes([0u8; 20])),
        (
            "files",
            Bencode::List(vec![
                file(1, &["..", "evil"], vec![]),
                file(1, &["run"], vec![("attr", Bencode::bytes("x"))]),
                file(
                    0,
                    &["link"],
                    vec![
                        ("attr", Bencode::bytes("l")),
                        ("symlink path", Bencode::List(vec![Bencode::bytes("run")])),
                    ],
                ),
            ]),
        ),
    ]);
    let mut bytes = Bencode::dict([("info", info)]).encode();
    bytes.push(b'\n');
    let dir = scratch("info-clean");
    let path = dir.join("odd.torrent");
    std::fs::write(&path, bytes).unwrap();
    let out = coracle(&["info", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let info = text(&out.stdout);
    for line in [
        "files (2):",
        "t/run  [executable]",
        "symlinks (1):",
        "t/link -> run",
        "paths cleaned up (1):",
        "\"t/../evil\" -> t/evil  (`..` dropped)",
    ] {
        assert!(info.contains(line), "no {line:?} in:\n{info}");
    }
}
