//! The Fast extension (BEP 6) with libtorrent, both ways. A libtorrent seeder that unchokes no one
//! announces itself with `have all` (not a bitfield) and gives coracle its allowed-fast set:
//! coracle downloads exactly those pieces while choked, verifies and writes them, and nothing
//! else. The other way, a coracle seeder with no upload slots grants libtorrent BEP 6's set, and
//! libtorrent gets exactly those pieces. The allowed-fast set is computed here from BEP 6's algorithm, not by coracle, so
//! a coracle bug in it shows up as the wrong pieces. libtorrent hashes the peer's whole address
//! where BEP 6 masks the last octet (seen in its `send_allowed_set`, and in the pieces it
//! grants here); the test follows libtorrent, and checks the masked form on BEP 6's vector.
//!
//! Runs on loopback with DHT, local discovery, PEX, UPnP and NAT-PMP off. A missing tool skips
//! the test, except under CI (`CI=true`), where it fails.

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
#[path = "interop/payload.rs"]
#[allow(dead_code)]
mod payload;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use coracle::EngineConfig;
use coracle::{AddOptions, Session, SessionConfig, TorrentSource};
use harness::{free_port, have, loopback, Ctx, Tool, PYTHON};
use payload::{Payload, Shape};
use sha1::{Digest, Sha1};

/// mktorrent's `-l 16` in `Payload::make_torrent`.
const PIECE: usize = 64 * 1024;
/// `allowed_fast_set_size` as `lt_peer.py` sets it.
const ALLOWED: usize = 5;

/// BEP 6's allowed-fast generator over `address` (BEP 6 masks it to /24 first), written from
/// the BEP's description.
fn allowed_fast(address: Ipv4Addr, info_hash: &[u8; 20], pieces: u32, k: usize) -> Vec<u32> {
    let mut x = address.octets().to_vec();
    x.extend_from_slice(info_hash);
    let mut set = Vec::new();
    while set.len() < k {
        x = Sha1::digest(&x).to_vec();
        for word in x.chunks_exact(4) {
            if set.len() == k {
                break;
            }
            let index = u32::from_be_bytes(word.try_into().unwrap()) % pieces;
            if !set.contains(&index) {
                set.push(index);
            }
        }
    }
    set
}

#[test]
fn bep6_vector_holds_for_the_test_implementation() {
    // BEP 6's example: 80.4.4.200, info-hash of 0xaa bytes, 1313 pieces.
    let masked = Ipv4Addr::new(80, 4, 4, 0);
    let set = allowed_fast(masked, &[0xaa; 20], 1313, 7);
    assert_eq!(set, [1059, 431, 808, 1217, 287, 376, 1188]);
}

#[test]
fn a_choked_coracle_downloads_exactly_libtorrents_allowed_fast_pieces() {
    if !have(&[Tool::Mktorrent, Tool::Libtorrent]) {
        return;
    }
    let ctx = Ctx::new("fast-allowed", Duration::from_secs(90));
    let payload = Payload::new(Shape::Single);
    let source = ctx.subdir("source");
    payload.write_to(&source);
    let torrent = ctx.dir.join("single.torrent");
    // No tracker is running: coracle is told the seeder's address.
    let hash = payload.make_torrent(&source, "http://127.0.0.1:1/announce", &torrent);

    let ip = loopback(4);
    let port = free_port(ip);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/lt_peer.py");
    let mut cmd = Command::new(PYTHON);
    cmd.arg(script)
        .arg(&torrent)
        .arg(&source)
        .arg(ip.to_string())
        .arg(port.to_string())
        .arg("--choke-all");
    ctx.spawn("lt-seed", cmd);
    ctx.wait_for("libtorrent to listen", || {
        std::net::TcpStream::connect((ip, port)).is_ok()
    });

    let session = coracle_side::session();
    let out = ctx.subdir("coracle");
    let handle = session
        .add(TorrentSource::File(torrent.clone()), {
            let mut opts = AddOptions::default();
            opts.output = out.clone();
            opts.peers = vec![SocketAddr::from((ip, port))];
            opts.no_trackers = true;
            opts
        })
        .expect("adding the torrent");

    let data = &payload.files[0].1;
    let pieces = data.len().div_ceil(PIECE) as u32;
    // coracle dials from 127.0.0.1, and libtorrent hashes that address unmasked.
    let set = allowed_fast(loopback(1), &hash, pieces, ALLOWED);
    let piece_len = |p: u32| PIECE.min(data.len() - p as usize * PIECE) as u64;
    let expected: u64 = set.iter().map(|&p| piece_len(p)).sum();
    let bytes_done = || handle.stats().map_or(0, |s| s.bytes_done);
    ctx.wait_for("the allowed-fast pieces", || bytes_done() >= expected);
    // Still choked: nothing beyond the allowed-fast set arrives.
    let until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < until {
        assert_eq!(
            bytes_done(),
            expected,
            "only allowed-fast pieces while choked"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    session.shutdown().unwrap();

    let on_disk = std::fs::read(out.join(payload.name)).unwrap();
    assert_only_pieces(&on_disk, data, &set, "coracle");
}

/// Panics unless `on_disk` holds exactly `set`'s pieces of `data` (the others differ: never
/// written).
fn assert_only_pieces(on_disk: &[u8], data: &[u8], set: &[u32], who: &str) {
    let pieces = data.len().div_ceil(PIECE) as u32;
    for p in 0..pieces {
        let range = p as usize * PIECE..data.len().min((p as usize + 1) * PIECE);
        let got = on_disk.get(range.clone()).unwrap_or(&[]);
        if set.contains(&p) {
            assert_eq!(got, &data[range], "{who}: allowed-fast piece {p}");
        } else {
            assert_ne!(got, &data[range], "{who}: piece {p} is not allowed fast");
        }
    }
}

#[test]
fn a_choked_libtorrent_gets_exactly_the_allowed_fast_pieces_coracle_grants() {
    if !have(&[Tool::Mktorrent, Tool::Libtorrent]) {
        return;
    }
    let ctx = Ctx::new("fast-granted", Duration::from_secs(90));
    let payload = Payload::new(Shape::Single);
    let source = ctx.subdir("source");
    payload.write_to(&source);
    let torrent = ctx.dir.join("single.torrent");
    let hash = payload.make_torrent(&source, "http://127.0.0.1:1/announce", &torrent);

    // A coracle seeder that unchokes no one.
    coracle_side::install_logger();
    let ip = loopback(1);
    let session = Session::new({
        let mut config = SessionConfig::default();
        config.listen = SocketAddr::from((ip, free_port(ip)));
        config.engine = {
            let mut engine = EngineConfig::default();
            engine.upload_slots = 0;
            engine
        };
        config
    })
    .expect("starting coracle");
    let seed = session
        .add(TorrentSource::File(torrent.clone()), {
            let mut opts = AddOptions::default();
            opts.output = source.clone();
            opts.no_trackers = true;
            opts
        })
        .expect("adding the torrent");
    seed.wait_timeout(Duration::from_secs(30))
        .expect("coracle checks its data");

    let lt_ip = loopback(4);
    let out = ctx.subdir("lt");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/lt_peer.py");
    let mut cmd = Command::new(PYTHON);
    cmd.arg(script)
        .arg(&torrent)
        .arg(&out)
        .arg(lt_ip.to_string())
        .arg(free_port(lt_ip).to_string())
        .arg("--peer")
        .arg(session.listen_addr().to_string());
    ctx.spawn("lt-leech", cmd);

    let data = &payload.files[0].1;
    let pieces = data.len().div_ceil(PIECE) as u32;
    // BEP 6's set (coracle masks the address to its /24), ten pieces.
    let masked = Ipv4Addr::new(127, 0, 0, 0);
    let set = allowed_fast(masked, &hash, pieces, 10);
    let file = out.join(payload.name);
    let has = |p: u32| {
        let range = p as usize * PIECE..data.len().min((p as usize + 1) * PIECE);
        std::fs::read(&file).is_ok_and(|d| d.get(range.clone()) == Some(&data[range]))
    };
    ctx.wait_for("libtorrent to get the granted pieces", || {
        set.iter().all(|&p| has(p))
    });
    std::thread::sleep(Duration::from_secs(2));
    assert_only_pieces(&std::fs::read(&file).unwrap(), data, &set, "libtorrent");
    session.shutdown().unwrap();
}
