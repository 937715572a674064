//! Choosing files against a real client: coracle downloads two of a multi-file torrent's three
//! files from a python3-libtorrent seeder, never creates the third, keeps the bytes it shares
//! with the others' pieces in the part file, then chooses it again at runtime and gets its
//! exact bytes, with the part file gone and no stray file left.
//!
//! Loopback only, each program on its own 127.0.0.x; DHT, local discovery, UPnP and NAT-PMP
//! off in libtorrent, no tracker. A missing libtorrent skips the test, except under CI.

// Test code drives real sockets, threads, files, processes and clocks.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

#[path = "interop/coracle.rs"]
#[allow(dead_code)]
mod coracle_side;
#[path = "support/payload.rs"]
mod generated;
#[path = "interop/harness.rs"]
#[allow(dead_code)]
mod harness;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use coracle::FilePriority;
use coracle::{AddOptions, Session, SessionConfig, TorrentSource};
use generated::{Payload, PayloadFile};
use harness::{free_port, have, loopback, Ctx, Tool, PYTHON};

const PIECE: usize = 64 * 1024;
/// a.bin ends inside piece 4 and b.bin inside piece 7: both pieces straddle the skipped b.bin.
const LENS: [usize; 3] = [300_000, 200_000, 250_000];

fn payload() -> Payload {
    let files = ["a.bin", "b.bin", "c.bin"]
        .iter()
        .zip(LENS)
        .enumerate()
        .map(|(i, (name, len))| PayloadFile {
            path: vec![name.to_string()],
            data: generated::bytes(40 + i as u64, len),
        })
        .collect();
    Payload {
        name: "sel".into(),
        files,
        single: false,
    }
}

/// Starts `lt_peer.py` seeding `torrent` from `dir` on 127.0.0.4; returns its address.
fn lt_seeder(ctx: &Ctx, torrent: &Path, dir: &Path) -> SocketAddr {
    let ip = loopback(4);
    let port = free_port(ip);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/lt_peer.py");
    let mut cmd = Command::new(PYTHON);
    cmd.arg(script)
        .arg(torrent)
        .arg(dir)
        .arg(ip.to_string())
        .arg(port.to_string());
    ctx.spawn("lt-seed", cmd);
    SocketAddr::from((ip, port))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn skipped_file_is_never_created_then_chosen_again_from_a_libtorrent_seeder() {
    if !have(&[Tool::Libtorrent]) {
        return;
    }
    let ctx = Ctx::new("select-from-lt", Duration::from_secs(120));
    let p = payload();
    let torrent = ctx.dir.join("sel.torrent");
    std::fs::write(&torrent, p.torrent(PIECE, &[])).unwrap();
    let seed_dir = ctx.subdir("seed");
    p.write_to(&seed_dir);
    let seeder = lt_seeder(&ctx, &torrent, &seed_dir);
    // Dialled only once it has checked its data (libtorrent says `finished`), so coracle's
    // first dial does not meet a closed port and wait out a backoff.
    let log = ctx.dir.join("lt-seed.log");
    ctx.wait_for("libtorrent to check its data", || {
        std::fs::read_to_string(&log).is_ok_and(|l| l.contains("finished"))
    });

    let ip = loopback(1);
    let session = Session::new({
        let mut config = SessionConfig::default();
        config.listen = SocketAddr::from((ip, free_port(ip)));
        config.dht = {
            let mut dht = coracle::DhtSettings::default();
            dht.enabled = false;
            dht
        };
        config.engine = {
            let mut engine_ = SessionConfig::default().engine;
            engine_.pex = false;
            engine_
        };
        config
    })
    .unwrap();
    let out = ctx.subdir("coracle-out");
    let mut opts = AddOptions::default();
    opts.output = out.clone();
    opts.peers = vec![seeder];
    opts.no_trackers = true;
    opts.file_priorities = vec![FilePriority::Normal, FilePriority::Skip, FilePriority::High];
    let handle = session
        .add(TorrentSource::File(torrent.clone()), opts)
        .unwrap();
    coracle_side::wait_complete(&ctx, &handle, "coracle's download of a.bin and c.bin");

    let file = |i: usize| p.file_path(&out, i);
    assert_eq!(std::fs::read(file(0)).unwrap(), p.files[0].data);
    assert_eq!(std::fs::read(file(2)).unwrap(), p.files[2].data);
    assert!(!file(1).exists(), "the skipped file was created");
    let parts = format!(".{}.parts", hex(&handle.info_hash().0));
    assert_eq!(names(&out), [parts.clone(), "sel".into()]);
    assert_eq!(names(&out.join("sel")), ["a.bin", "c.bin"]);
    // Slot 0 is piece 4, slot 1 piece 7; each holds b.bin's bytes at their place in the piece.
    let b = &p.files[1].data;
    let kept = std::fs::read(out.join(&parts)).unwrap();
    let (head, tail) = (5 * PIECE - 300_000, 500_000 - 7 * PIECE);
    assert_eq!(kept.len(), PIECE + tail);
    assert!(kept[300_000 - 4 * PIECE..PIECE] == b[..head]);
    assert!(kept[PIECE..] == b[b.len() - tail..]);
    let s = handle.stats().unwrap();
    let done: Vec<u64> = s.files.iter().map(|f| f.done).collect();
    assert_eq!(done, [300_000, (head + tail) as u64, 250_000]);
    assert_eq!(s.bytes_wanted, s.bytes_wanted_done);
    assert!(s.bytes_wanted < s.bytes_total);

    // Chosen again at runtime: created with its boundary bytes, the rest fetched.
    handle.set_file_priority(1, FilePriority::Normal).unwrap();
    assert!(file(1).exists(), "created before its pieces are asked for");
    coracle_side::wait_complete(&ctx, &handle, "coracle's download of b.bin");
    for i in 0..3 {
        assert!(
            std::fs::read(file(i)).unwrap() == p.files[i].data,
            "file {i}"
        );
    }
    assert_eq!(names(&out), ["sel"], "the part file is gone");
    assert_eq!(names(&out.join("sel")), ["a.bin", "b.bin", "c.bin"]);
    let s = handle.stats().unwrap();
    assert_eq!(s.bytes_done, s.bytes_total);
    assert!(s.files.iter().all(|f| f.done == f.length));
    session.shutdown().unwrap();
}
