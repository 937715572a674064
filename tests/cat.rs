//! `coracle cat` against a coracle seeder on 127.0.0.1 whose upload is limited, so the file
//! really streams: the exact bytes on stdout, the first of them long before the last; a reader
//! that closes the pipe early ends it quietly with exit 0; a wrong `--file` is a usage error.

// Test code drives real sockets, processes, files and clocks.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

#[path = "support/payload.rs"]
mod payload;

use std::io::Read;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use coracle::{AddOptions, Session, SessionConfig, TorrentSource};
use payload::{bytes, remove_temp, temp_dir, Payload, PayloadFile};

const MIB: usize = 1 << 20;

/// Three files; file 1 is 6 MiB of 64 KiB pieces.
fn payload() -> Payload {
    Payload {
        name: "show".into(),
        files: vec![
            PayloadFile {
                path: vec!["intro.txt".into()],
                data: bytes(30, 100_000),
            },
            PayloadFile {
                path: vec!["film.bin".into()],
                data: bytes(31, 6 * MIB),
            },
            PayloadFile {
                path: vec!["credits.txt".into()],
                data: bytes(32, 300_000),
            },
        ],
        single: false,
    }
}

/// A seeder sending at most 2 MiB/s (3 s for the film).
fn seeder(payload: &Payload, torrent: &[u8], name: &str) -> Session {
    let dir = temp_dir(name);
    payload.write_to(&dir);
    let mut cfg = SessionConfig::default();
    cfg.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    cfg.dht.enabled = false;
    cfg.engine.upload_rate_limit = Some(2 * MIB as u64);
    let s = Session::new(cfg).unwrap();
    let h = s
        .add(TorrentSource::Bytes(torrent.to_vec()), {
            let mut opts = AddOptions::default();
            opts.output = dir;
            opts
        })
        .unwrap();
    h.wait_timeout(Duration::from_secs(30))
        .expect("seeder checks");
    s
}

/// `coracle cat TORRENT ARGS...` against `peer`, with every discovery off.
fn cat(torrent: &Path, peer: SocketAddr, dir: &Path, extra: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_coracle"));
    c.arg("cat")
        .arg(torrent)
        .args(["--no-trackers", "--no-dht", "--no-lsd", "--port", "0"])
        .args(["--peer", &peer.to_string()])
        .arg("-o")
        .arg(dir.join("out"))
        .arg("--state-dir")
        .arg(dir.join("state"))
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

#[test]
fn cat_writes_the_file_in_order_while_it_downloads() {
    let p = payload();
    let torrent = p.torrent(64 * 1024, &[]);
    let dir = temp_dir("cat-stream");
    let file = dir.join("show.torrent");
    std::fs::write(&file, &torrent).unwrap();
    let seed = seeder(&p, &torrent, "cat-stream-seed");
    let started = Instant::now();
    let mut child = cat(&file, seed.listen_addr(), &dir, &["--file", "1"])
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut got = Vec::new();
    let mut first = None;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = stdout.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        first.get_or_insert_with(|| started.elapsed());
        got.extend_from_slice(&buf[..n]);
    }
    let last = started.elapsed();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");
    assert!(got == p.files[1].data, "stdout is the film, exactly");
    let first = first.unwrap();
    eprintln!("cat: first byte after {first:?}, last after {last:?}");
    // 6 MiB at 2 MiB/s: the first bytes came while most of the film was still to come.
    assert!(
        first + Duration::from_secs(2) < last,
        "{first:?} vs {last:?}"
    );
    assert!(
        stderr.contains("streaming show/film.bin (6.0 MiB)"),
        "progress on stderr: {stderr}"
    );
    seed.shutdown().unwrap();
    remove_temp(&["cat-stream", "cat-stream-seed"]);
}

#[test]
fn a_closed_pipe_ends_cat_quietly_and_a_wrong_file_is_a_usage_error() {
    let p = payload();
    let torrent = p.torrent(64 * 1024, &[]);
    let dir = temp_dir("cat-pipe");
    let file = dir.join("show.torrent");
    std::fs::write(&file, &torrent).unwrap();
    let seed = seeder(&p, &torrent, "cat-pipe-seed");
    let mut child = cat(&file, seed.listen_addr(), &dir, &["--file", "1", "--quiet"])
        .spawn()
        .unwrap();
    let mut head = vec![0u8; 100_000];
    child
        .stdout
        .as_mut()
        .unwrap()
        .read_exact(&mut head)
        .unwrap();
    assert!(head == p.files[1].data[..100_000]);
    // The player quits.
    drop(child.stdout.take());
    let closed = Instant::now();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(closed.elapsed() < Duration::from_secs(15));

    for (args, needle) in [
        (
            &["--file", "3"][..],
            "--file 3: the torrent has 3 files (0 to 2)",
        ),
        (&[][..], "has 3 files: choose one with --file N"),
    ] {
        let out = cat(&file, seed.listen_addr(), &dir.join("bad"), args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(needle), "{stderr}");
        assert!(out.stdout.is_empty());
        assert!(!dir.join("bad").join("out").exists(), "nothing created");
    }
    seed.shutdown().unwrap();
    remove_temp(&["cat-pipe", "cat-pipe-seed"]);
}

#[test]
fn cat_and_rate_usage_errors_exit_2() {
    let bin = env!("CARGO_BIN_EXE_coracle");
    for (args, needle) in [
        (&["cat"][..], "no .torrent file given"),
        (
            &["cat", "x.torrent", "--seed"][..],
            "--seed is for download",
        ),
        (&["cat", "x.torrent", "--file", "one"][..], "--file"),
        (
            &["download", "x.torrent", "--max-download-rate", "0"][..],
            "--max-download-rate",
        ),
        (
            &["download", "x.torrent", "--max-download-rate", "fast"][..],
            "--max-download-rate: 'fast' is not a size like 500000, 512K, 1.5M or 100KiB",
        ),
    ] {
        let out = Command::new(bin).args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
}
