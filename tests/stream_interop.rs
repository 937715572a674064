//! Streaming from a libtorrent seeder whose upload is limited to 2 MiB/s, so reads really block:
//! a `FileReader` reads far ahead first, then the whole file in order, byte for byte; and
//! `coracle cat MAGNET` fetches the metadata from libtorrent and streams the file to stdout.
//!
//! Loopback only, DHT, local discovery, UPnP and NAT-PMP off. Skipped (or failed under CI)
//! without python3-libtorrent.

// Test code drives real sockets, threads, files, processes and clocks.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

#[path = "interop/harness.rs"]
#[allow(dead_code)]
mod harness;
#[path = "support/payload.rs"]
mod payload;

use std::io::{Read, Seek, SeekFrom};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use coracle::Metainfo;
use coracle::{AddOptions, Session, SessionConfig, TorrentSource};
use harness::{free_port, have, loopback, Ctx, Tool, PYTHON};
use payload::{bytes, Payload, PayloadFile};

const MIB: usize = 1 << 20;

fn payload() -> Payload {
    Payload {
        name: "show".into(),
        files: vec![
            PayloadFile {
                path: vec!["intro.txt".into()],
                data: bytes(40, 50_000),
            },
            PayloadFile {
                path: vec!["film.bin".into()],
                data: bytes(41, 8 * MIB),
            },
        ],
        single: false,
    }
}

/// A libtorrent seeder of `torrent` on 127.0.0.2 sending at most 2 MiB/s, which also dials
/// `coracle` once its data is checked (a dial from coracle while it checks is refused, and
/// coracle's retry backs off); returns its address once it accepts connections.
fn lt_seeder(ctx: &Ctx, p: &Payload, torrent: &Path, coracle: SocketAddr) -> SocketAddr {
    let data = ctx.subdir("lt-data");
    p.write_to(&data);
    let ip = loopback(2);
    let port = free_port(ip);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/lt_peer.py");
    let mut cmd = Command::new(PYTHON);
    cmd.arg(script)
        .arg(torrent)
        .arg(&data)
        .arg(ip.to_string())
        .arg(port.to_string())
        .args(["--upload-limit", &(2 * MIB).to_string()])
        .args(["--peer", &coracle.to_string()]);
    ctx.spawn("libtorrent", cmd);
    let addr = SocketAddr::from((ip, port));
    ctx.wait_for("libtorrent to listen", || {
        TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
    });
    addr
}

fn world(test: &str) -> Option<(Ctx, Payload, std::path::PathBuf, Vec<u8>)> {
    if !have(&[Tool::Libtorrent]) {
        return None;
    }
    let ctx = Ctx::new(test, Duration::from_secs(120));
    let p = payload();
    let torrent = p.torrent(64 * 1024, &[]);
    let file = ctx.dir.join("show.torrent");
    std::fs::write(&file, &torrent).unwrap();
    Some((ctx, p, file, torrent))
}

#[test]
fn reader_streams_from_a_rate_limited_libtorrent_seeder() {
    let Some((ctx, p, file, torrent)) = world("stream-lt-reader") else {
        return;
    };
    let mut cfg = SessionConfig::default();
    cfg.listen = SocketAddr::from((loopback(1), 0));
    cfg.dht.enabled = false;
    let session = Session::new(cfg).unwrap();
    let h = session
        .add(TorrentSource::Bytes(torrent), {
            let mut opts = AddOptions::default();
            opts.output = ctx.subdir("coracle");
            opts
        })
        .unwrap();
    lt_seeder(&ctx, &p, &file, session.listen_addr());
    let film = &p.files[1].data;
    let mut r = h.open_file(1).unwrap();
    let at = film.len() - 300_000;
    let started = Instant::now();
    r.seek(SeekFrom::Start(at as u64)).unwrap();
    let mut got = vec![0u8; 200_000];
    r.read_exact(&mut got).unwrap();
    assert!(got == film[at..at + 200_000], "bytes near the end");
    let s = h.stats().unwrap();
    eprintln!(
        "near the end after {:?}: {} of {} bytes verified",
        started.elapsed(),
        s.bytes_done,
        s.bytes_total
    );
    assert!(s.bytes_done < s.bytes_total / 2, "the window went first");
    r.seek(SeekFrom::Start(0)).unwrap();
    let mut all = Vec::new();
    r.read_to_end(&mut all).unwrap();
    assert!(all == *film, "the whole film, in order");
    drop(r);
    session.shutdown().unwrap();
}

#[test]
fn cat_streams_a_magnet_from_a_rate_limited_libtorrent_seeder() {
    let Some((ctx, p, file, torrent)) = world("stream-lt-cat") else {
        return;
    };
    let port = free_port(loopback(1));
    let seeder = lt_seeder(&ctx, &p, &file, SocketAddr::from((loopback(1), port)));
    let hash = Metainfo::from_bytes(&torrent).unwrap().info_hash.to_hex();
    let magnet = format!("magnet:?xt=urn:btih:{hash}&dn=show&x.pe={seeder}");
    let out = Command::new(env!("CARGO_BIN_EXE_coracle"))
        .args(["cat", &magnet, "--file", "1", "--quiet"])
        .args([
            "--no-trackers",
            "--no-dht",
            "--no-lsd",
            "--port",
            &port.to_string(),
        ])
        .arg("-o")
        .arg(ctx.dir.join("out"))
        .arg("--state-dir")
        .arg(ctx.dir.join("state"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(out.stdout == p.files[1].data, "stdout is the film, exactly");
    assert!(stderr.is_empty(), "--quiet: {stderr}");
}
