//! The command line's first ten minutes (issue 16): never silent, never destructive, the
//! conventions people know (the display's tests are in `display.rs`). Each test asserts the
//! exact message and exit status. Part of the `cli` test binary (included from `tests/cli.rs`,
//! whose helpers it uses).

use std::io::BufRead;
use std::net::TcpListener;
use std::path::Path;
use std::time::{Duration, Instant};

use super::{assert_fails, coracle, payload, scratch, start, terminate, text};
use super::{copy_tree, MULTI, PAYLOAD};

#[path = "../support/tracker.rs"]
mod tracker;

/// The options that keep a run on this machine and quiet about discovery.
pub(super) const LOCAL: [&str; 5] = ["--port", "0", "--no-trackers", "--no-dht", "--no-lsd"];

/// `coracle ARGS... LOCAL... --state-dir FRESH` (no resume state from other tests).
pub(super) fn local(args: &[&str]) -> std::process::Output {
    let state = scratch("state");
    let mut all = args.to_vec();
    all.extend(LOCAL);
    all.extend(["--state-dir", state.to_str().unwrap()]);
    coracle(&all)
}

/// A port nothing listens on (bound, then closed).
pub(super) fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn no_way_to_find_peers_warns_and_stall_timeout_exits_1() {
    let dir = scratch("stall");
    let started = Instant::now();
    let out = local(&[
        "download",
        MULTI,
        "-o",
        dir.to_str().unwrap(),
        "--stall-timeout",
        "2s",
    ]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(
            "coracle: warning: no way to find peers (--no-trackers, no --peer, --no-dht \
             --no-lsd): only peers that connect to port "
        ),
        "{err}"
    );
    assert!(
        err.ends_with(
            "coracle: stalled: nothing received for 2s (--stall-timeout): no peer connected \
             (0 known, 0 connecting)\n"
        ),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(15));
    // The plain lines say what is known about peers.
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(
            "multi: 0.0% 0 B of 59.8 KiB, down 0 B/s, up 0 B/s, 0 peers, 0 known, eta --"
        ),
        "{stdout}"
    );
}

#[test]
fn a_refused_peer_is_logged_with_v_counted_and_json_drops_repeats() {
    let dir = scratch("refused");
    let peer = format!("127.0.0.1:{}", closed_port());
    let out = local(&[
        "download",
        MULTI,
        "-o",
        dir.to_str().unwrap(),
        "--peer",
        &peer,
        "--stall-timeout",
        "3",
        "--json",
        "-v",
    ]);
    let (stdout, err) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("coracle: info: peer {peer}: Connection refused")),
        "{err}"
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with("{\"state\":\"started\",\"name\":\"multi\",\"info_hash\":\"108530383cdb138f41037e043ebffddeca9d39ae\",\"output\":"), "{stdout}");
    for pair in lines.windows(2) {
        assert_ne!(pair[0], pair[1], "a repeated JSON line in {stdout}");
    }
    let last = lines.last().unwrap();
    assert!(last.starts_with("{\"state\":\"failed\""), "{last}");
    assert!(
        last.contains("\"peers_known\":1")
            && last.contains(
                "\"error\":\"stalled: nothing received for 3s (--stall-timeout): no peer \
                 connected (1 known, 0 connecting)\""
            ),
        "{last}"
    );
}

#[test]
fn a_peer_that_closes_the_handshake_is_logged_with_v() {
    let dir = scratch("closer");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let peer = listener.local_addr().unwrap().to_string();
    // Reads each handshake and closes the connection, as a seeder that refuses the torrent (the
    // handshake read first, so the close is a clean FIN and not a reset).
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let mut handshake = [0u8; 68];
            let _ = std::io::Read::read_exact(&mut conn, &mut handshake);
        }
    });
    let started = Instant::now();
    let out = local(&[
        "download",
        MULTI,
        "-o",
        dir.to_str().unwrap(),
        "--peer",
        &peer,
        "--stall-timeout",
        "2",
        "-q",
        "-v",
    ]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    // A quiet run wakes for the stall deadline: it does not wait for its 10 s safety net.
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );
    assert!(
        err.contains(&format!("coracle: info: peer {peer}: closed by peer\n")),
        "{err}"
    );
    assert!(
        err.ends_with(
            "coracle: stalled: nothing received for 2s (--stall-timeout): no peer connected \
             (1 known, 0 connecting)\n"
        ),
        "{err}"
    );
}

#[test]
fn trackers_are_named_without_the_query_and_a_closed_udp_port_is_said_at_once() {
    let dir = scratch("trackers");
    let http = tracker::TestTracker::start();
    let udp_port = {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        s.local_addr().unwrap().port()
    };
    let udp = format!("udp://127.0.0.1:{udp_port}/announce");
    let payload = payload::Payload::single("t.bin", payload::bytes(3, 40_000));
    let torrent = dir.join("t.torrent");
    std::fs::write(&torrent, payload.torrent(16 * 1024, &[&udp, &http.url()])).unwrap();
    let started = Instant::now();
    let out = coracle(&[
        "download",
        torrent.to_str().unwrap(),
        "-o",
        dir.join("out").to_str().unwrap(),
        "--port",
        "0",
        "--no-dht",
        "--no-lsd",
        "--stall-timeout",
        "4",
    ]);
    let (stdout, err) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        stdout.contains(&format!(
            "tracker {udp}: could not reach tracker: connection refused: nothing listens on UDP \
             127.0.0.1:{udp_port}; next try in "
        )),
        "{stdout}"
    );
    let http_line = stdout
        .lines()
        .find(|l| l.starts_with(&format!("tracker {}: ", http.url())))
        .unwrap_or_else(|| panic!("no line for the HTTP tracker in {stdout}"));
    assert!(
        http_line.contains(" peer") && http_line.contains("; next announce in "),
        "{http_line}"
    );
    assert!(
        !stdout.contains("info_hash=") && !err.contains("info_hash="),
        "{stdout}{err}"
    );
    // The refusal came at once: the HTTP tracker answered long before the 15 s UDP wait.
    assert!(
        started.elapsed() < Duration::from_secs(12),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn an_existing_file_that_is_not_a_download_is_not_overwritten() {
    let dir = scratch("thesis");
    std::fs::create_dir_all(dir.join("multi")).unwrap();
    let thesis = dir.join("multi/a.txt");
    std::fs::write(&thesis, b"my thesis\n").unwrap();
    let o = dir.to_str().unwrap();
    let out = local(&["download", MULTI, "-o", o]);
    assert_fails(&out, 2, "");
    assert_eq!(
        text(&out.stderr),
        format!(
            "coracle: {o}/multi/a.txt already exists (10 B; the torrent's file is 1.2 KiB) and \
             is not a download in progress; move it away or choose another download folder, \
             or pass --overwrite to use it anyway\n"
        )
    );
    assert_eq!(std::fs::read(&thesis).unwrap(), b"my thesis\n");
    assert!(
        !dir.join("multi/sub").exists(),
        "a refused start creates no folder"
    );

    // With --overwrite the file is used (and kept where it matches: here, nowhere).
    let out = local(&[
        "download",
        MULTI,
        "-o",
        o,
        "--overwrite",
        "--stall-timeout",
        "1",
        "-q",
    ]);
    assert_fails(&out, 1, "stalled");
    assert_eq!(std::fs::metadata(&thesis).unwrap().len(), 1235);
}

#[test]
fn complete_data_resumes_and_the_final_line_says_where_and_what_next() {
    let dir = scratch("resume-final");
    copy_tree(&Path::new(PAYLOAD).join("multi"), &dir.join("multi"));
    let o = dir.to_str().unwrap();
    let out = local(&["download", MULTI, "-o", o]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.ends_with(&format!(
            "all 59.8 KiB verified on disk: {o}/multi; not seeding (--seed keeps sharing it)\n"
        )),
        "{stdout}"
    );
}

#[test]
fn a_download_names_its_path_and_what_this_run_fetched() {
    let dir = scratch("fetched");
    let payload = payload::Payload::tree("pw", 4, 21);
    let bytes = payload.torrent(32 * 1024, &[]);
    let torrent = dir.join("pw.torrent");
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
    opts.no_trackers = true;
    let h = seeder
        .add(coracle::TorrentSource::Bytes(bytes), opts)
        .unwrap();
    h.wait_timeout(Duration::from_secs(30)).unwrap();
    let leech = dir.join("leech");
    let peer = seeder.listen_addr().to_string();
    let out = local(&[
        "download",
        torrent.to_str().unwrap(),
        "-o",
        leech.to_str().unwrap(),
        "--peer",
        &peer,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    payload.assert_on_disk(&leech);
    let total = payload.stream().len() as u64;
    let size = coracle::human_size(total);
    let stdout = text(&out.stdout);
    let last = stdout.lines().last().unwrap();
    let head = format!("done: {}/pw: fetched {size} of {size} in ", leech.display());
    assert!(last.starts_with(&head), "{stdout}");
    assert!(
        last.ends_with("; not seeding (--seed keeps sharing it)"),
        "{last}"
    );
    seeder.shutdown().unwrap();
}

#[test]
fn seed_from_the_wrong_folder_allocates_nothing_and_suggests_the_parent() {
    let dir = scratch("wrong-seed");
    copy_tree(&Path::new(PAYLOAD).join("multi"), &dir.join("multi"));
    let inner = dir.join("multi");
    let before = std::fs::read_dir(&inner).unwrap().count();
    let i = inner.to_str().unwrap();
    let out = local(&["seed", MULTI, "--data", i]);
    assert_fails(&out, 1, "");
    assert_eq!(
        text(&out.stderr),
        format!(
            "coracle: no data to seed: 'multi' is not in {i} (--data is the folder that holds \
             'multi'); {i} looks like the torrent's own folder: try --data {}\n",
            dir.display()
        )
    );
    assert_eq!(
        std::fs::read_dir(&inner).unwrap().count(),
        before,
        "nothing was created"
    );
    // An empty folder: no suggestion, and still nothing created.
    let empty = scratch("empty-seed");
    let e = empty.to_str().unwrap();
    let out = local(&["seed", MULTI, "--data", e]);
    assert_fails(&out, 1, "");
    assert_eq!(
        text(&out.stderr),
        format!("coracle: no data to seed: 'multi' is not in {e} (--data is the folder that holds 'multi')\n")
    );
    assert_eq!(std::fs::read_dir(&empty).unwrap().count(), 0);
}

#[test]
fn conventions_version_equals_sign_per_command_help_and_peer_errors() {
    let out = coracle(&["version"]);
    assert!(out.status.success());
    assert_eq!(text(&out.stdout), "coracle 0.1.0\n");
    let seed = text(&coracle(&["seed", "--help"]).stdout);
    assert!(
        seed.contains("Usage: coracle seed FILE.torrent --data DIR"),
        "{seed}"
    );
    assert!(
        seed.contains("--stall-timeout") && !seed.contains("--piece-size"),
        "{seed}"
    );
    let create = text(&coracle(&["create", "--help"]).stdout);
    assert!(
        create.contains("--piece-size") && !create.contains("--stall-timeout DURATION"),
        "{create}"
    );
    let info = text(&coracle(&["info", "--help"]).stdout);
    assert!(
        info.contains("--timeout SECS") && !info.contains("--seed "),
        "{info}"
    );

    // `--opt=value` and sizes with units are accepted.
    let dir = scratch("equals");
    let o = format!("--output={}", dir.display());
    let out = local(&[
        "download",
        MULTI,
        &o,
        "--max-upload-rate=1.5M",
        "--stall-timeout=1",
        "-q",
    ]);
    assert_fails(&out, 1, "stalled: nothing received for 1s");

    let cases: &[(&str, &str)] = &[
        (
            "nonsense",
            "coracle: --peer: 'nonsense' has no port: expected HOST:PORT, e.g. 10.0.0.2:6881",
        ),
        (
            "10.0.0.1:0",
            "coracle: --peer: '10.0.0.1:0': port 0 cannot be connected to",
        ),
        (
            "10.0.0.1:70000",
            "coracle: --peer: '10.0.0.1:70000': port 70000 is out of range (1-65535)",
        ),
        (
            "host:http",
            "coracle: --peer: 'host:http': port 'http' is not a number",
        ),
        (
            "no-such-host.invalid:6881",
            "coracle: --peer: cannot resolve host 'no-such-host.invalid': ",
        ),
    ];
    for (peer, msg) in cases {
        let out = coracle(&["download", MULTI, "--peer", peer]);
        assert_eq!(out.status.code(), Some(2), "{peer}");
        assert!(
            text(&out.stderr).starts_with(msg),
            "{peer}: {}",
            text(&out.stderr)
        );
    }
    let out = coracle(&["download", MULTI, "--max-upload-rate", "fast"]);
    assert_fails(
        &out,
        2,
        "--max-upload-rate: 'fast' is not a size like 500000, 512K, 1.5M or 100KiB",
    );
}

#[test]
fn a_taken_port_falls_back_to_the_next_free_one_and_says_so() {
    let held = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = held.local_addr().unwrap().port();
    let dir = scratch("port");
    let p = port.to_string();
    let out = coracle(&[
        "download",
        MULTI,
        "-o",
        dir.to_str().unwrap(),
        "--bind",
        "127.0.0.1",
        "--port",
        &p,
        "--no-trackers",
        "--no-dht",
        "--no-lsd",
        "--stall-timeout",
        "1",
    ]);
    assert_fails(&out, 1, "stalled");
    let stdout = text(&out.stdout);
    let moved = stdout
        .lines()
        .find_map(|l| l.strip_prefix(&format!("port {port} is taken: listening on port ")))
        .unwrap_or_else(|| panic!("no fallback line in {stdout}"));
    let new: u16 = moved.strip_suffix(" instead").unwrap().parse().unwrap();
    assert!(new > port && new < port + 10, "{stdout}");
    assert!(
        stdout
            .lines()
            .next()
            .unwrap()
            .ends_with(&format!(", port {new}")),
        "{stdout}"
    );
}

#[test]
fn bind_listens_and_dials_from_one_address() {
    let peer = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = peer.local_addr().unwrap().to_string();
    let dir = scratch("bind");
    let (child, out, first) = start(&[
        "download",
        MULTI,
        "-o",
        dir.to_str().unwrap(),
        "--bind",
        "127.0.0.2",
        "--peer",
        &addr,
        "--port",
        "0",
        "--no-trackers",
        "--no-dht",
        "--no-lsd",
    ]);
    assert!(first.starts_with("downloading multi"), "{first}");
    let (_conn, from) = peer.accept().unwrap();
    assert_eq!(from.ip().to_string(), "127.0.0.2");
    let (code, _, _) = terminate(child, out);
    assert_eq!(code, Some(1));
}

#[cfg(unix)]
#[test]
fn a_second_signal_within_a_second_still_stops_cleanly() {
    let dir = scratch("two-signals");
    let mut args = vec!["download", MULTI, "-o", dir.to_str().unwrap(), "--json"];
    args.extend(LOCAL);
    let (child, mut out, _) = start(&args);
    let mut line = String::new();
    out.read_line(&mut line).unwrap(); // a progress record: the torrent is running
                                       // SAFETY: kill only sends a signal, to our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    std::thread::sleep(Duration::from_millis(100));
    let (code, rest, err) = terminate(child, out);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.ends_with(
            "\ncoracle: interrupted at 0.0% (0 B of 59.8 KiB; 0 B fetched in this run); run the \
             same command again to resume\n"
        ),
        "{err}"
    );
    assert!(!err.contains("second interrupt"), "{err}");
    assert!(
        rest.lines()
            .last()
            .unwrap()
            .starts_with("{\"state\":\"interrupted\""),
        "{rest}"
    );
}
