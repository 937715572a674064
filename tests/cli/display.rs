//! The command line's output for people and scripts (issue 16): the live line at terminal
//! widths 40, 60 and 20 on a pseudo-terminal, `--json` on a failed start, `info --json`, and
//! seeding from a read-only mount. Part of the `cli` test binary (included from `tests/cli.rs`).

use std::io::{BufRead, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::first_minutes::{closed_port, local};
use super::{coracle, payload, scratch, skip, terminate, test_state_home, text, MULTI};

#[test]
fn json_reports_start_up_failures_as_a_failed_object() {
    let dir = scratch("json-fail");
    let blocker = dir.join("file");
    std::fs::write(&blocker, b"x").unwrap();
    let out = local(&["download", MULTI, "-o", blocker.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stdout),
        format!(
            "{{\"state\":\"failed\",\"error\":\"{} is not a folder, but the torrent needs a \
             folder there\"}}\n",
            blocker.display()
        )
    );
    let out = coracle(&["download", MULTI, "--json", "--port", "x"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stdout),
        "{\"state\":\"failed\",\"error\":\"--port: 'x' is not a port number\"}\n"
    );
}

#[test]
fn info_json_describes_the_torrent() {
    let out = coracle(&["info", "--json", MULTI]);
    assert!(out.status.success());
    assert_eq!(
        text(&out.stdout),
        "{\"name\":\"multi\",\"info_hash\":\"108530383cdb138f41037e043ebffddeca9d39ae\",\
         \"total_size\":61246,\"piece_length\":32768,\"pieces\":2,\"private\":false,\"files\":[\
         {\"path\":\"multi/a.txt\",\"length\":1235,\"padding\":false},\
         {\"path\":\"multi/empty.dat\",\"length\":0,\"padding\":false},\
         {\"path\":\"multi/sub/b.bin\",\"length\":40000,\"padding\":false},\
         {\"path\":\"multi/sub/deeper/c.bin\",\"length\":20000,\"padding\":false},\
         {\"path\":\"multi/z.txt\",\"length\":11,\"padding\":false}],\"trackers\":\
         [[\"http://127.0.0.1:6969/announce\",\"http://127.0.0.1:6970/announce\"],\
         [\"udp://127.0.0.1:6971/announce\"]]}\n"
    );
}

/// Runs coracle on a pseudo-terminal `cols` columns wide (util-linux `script`) for about two
/// seconds with no peers, and returns what it drew.
fn on_terminal(cols: u16) -> Option<String> {
    if Command::new("script").arg("--version").output().is_err() {
        skip("the terminal-width test needs `script` (util-linux)");
        return None;
    }
    let dir = scratch(&format!("tty{cols}"));
    let cmd = format!(
        "stty cols {cols} rows 24; exec {} download {MULTI} -o {} --port 0 --no-trackers \
         --no-dht --no-lsd --stall-timeout 2",
        env!("CARGO_BIN_EXE_coracle"),
        dir.display()
    );
    let mut child = Command::new("script")
        .args(["-qfec", &cmd, "/dev/null"])
        .env("XDG_STATE_HOME", test_state_home())
        .env_remove("COLUMNS")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child.wait().unwrap();
    Some(out.replace("\r\n", "\n"))
}

/// The redrawn live lines: what follows each lone `\r`, up to the next `\r` or newline.
fn live_lines(drawn: &str) -> Vec<String> {
    drawn
        .split('\r')
        .skip(1)
        .map(|s| s.split('\n').next().unwrap_or("").replace("\x1b[K", ""))
        .filter(|s| !s.is_empty() && !s.starts_with("coracle:"))
        .collect()
}

#[test]
fn the_live_line_fits_40_and_60_columns_and_falls_back_to_plain_lines() {
    for cols in [40usize, 60] {
        let Some(drawn) = on_terminal(cols as u16) else {
            return;
        };
        let live = live_lines(&drawn);
        assert!(live.len() >= 3, "{cols}: no live line in {drawn:?}");
        for l in &live {
            assert!(l.chars().count() < cols, "{cols}: {l:?} is too wide");
        }
        let expected = if cols == 40 {
            "  0.0% ↓0 B/s eta -- 0p"
        } else {
            "  0.0% 0 B/59.8 KiB  ↓0 B/s ↑0 B/s  eta --  0 peers"
        };
        assert_eq!(live[0], expected, "{cols}");
    }
    // Too narrow for any live line: plain lines, each once.
    let Some(drawn) = on_terminal(20) else {
        return;
    };
    assert!(live_lines(&drawn).is_empty(), "{drawn:?}");
    let plain = "multi: 0.0% 0 B of 59.8 KiB, down 0 B/s, up 0 B/s, 0 peers, 0 known, eta --";
    assert_eq!(drawn.matches(plain).count(), 1, "{drawn:?}");
}

/// Mounts `dir` read-only over itself in a new mount namespace (as root) and runs `coracle
/// seed` there; `None` when this machine cannot.
fn seed_on_read_only_mount(data: &Path, torrent: &str, port: u16) -> Option<std::process::Child> {
    let d = data.display();
    let cmd = format!(
        "mount --bind {d} {d} && mount -o remount,ro,bind {d} && touch {d}/probe 2>/dev/null \
         && exit 3; exec {} seed {torrent} --data {d} --port {port} --no-trackers --no-dht \
         --no-lsd",
        env!("CARGO_BIN_EXE_coracle")
    );
    let probe = Command::new("unshare")
        .args(["-m", "sh", "-c", "mount --bind / /mnt 2>/dev/null; true"])
        .status();
    if !probe.is_ok_and(|s| s.success()) {
        return None;
    }
    Command::new("unshare")
        .args(["-m", "sh", "-c", &cmd])
        .env("XDG_STATE_HOME", test_state_home())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ok()
}

#[test]
fn complete_data_on_a_read_only_mount_is_seeded() {
    let dir = scratch("ro-seed");
    let payload = payload::Payload::tree("ro", 3, 8);
    let bytes = payload.torrent(16 * 1024, &[]);
    let torrent = dir.join("ro.torrent");
    std::fs::write(&torrent, &bytes).unwrap();
    let data = dir.join("data");
    payload.write_to(&data);
    let port = closed_port();
    let Some(mut child) = seed_on_read_only_mount(&data, torrent.to_str().unwrap(), port) else {
        skip("a read-only bind mount needs root and unshare -m");
        return;
    };
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while !line.contains("seeding; press Ctrl-C") {
        line.clear();
        if out.read_line(&mut line).unwrap() == 0 {
            let mut err = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            panic!("no seeding line: {:?} {err}", child.wait());
        }
    }
    let leecher = coracle::Session::new({
        let mut config = coracle::SessionConfig::default();
        config.listen = "127.0.0.1:0".parse().unwrap();
        config
    })
    .unwrap();
    let mut opts = coracle::AddOptions::default();
    opts.output = dir.join("leech");
    opts.peers = vec![([127, 0, 0, 1], port).into()];
    opts.no_trackers = true;
    let h = leecher
        .add(coracle::TorrentSource::Bytes(bytes), opts)
        .unwrap();
    h.wait_timeout(Duration::from_secs(60)).unwrap();
    payload.assert_on_disk(&dir.join("leech"));
    leecher.shutdown().unwrap();
    let (code, _, err) = terminate(child, out);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        !err.contains("Read-only") && !err.contains("cannot memory-map"),
        "{err}"
    );
}
