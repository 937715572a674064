//! The `coracle` binary choosing files: `--only`, `--exclude`, a magnet's `so=` (BEP 53),
//! numbered `info`, per-file `--json`, and the usage errors of a selection that does not fit.
//! The seeder is an in-process coracle session on loopback; every run uses `--no-trackers
//! --no-dht --no-lsd` and port 0.

// Test code drives real sockets, threads, files and clocks.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

#[path = "support/payload.rs"]
mod payload;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use payload::{Payload, PayloadFile};

fn coracle(args: &[&str]) -> Output {
    let home = std::env::temp_dir().join(format!("coracle-{}-sel-state", std::process::id()));
    Command::new(env!("CARGO_BIN_EXE_coracle"))
        .env("XDG_STATE_HOME", home)
        .args(args)
        .output()
        .expect("run coracle")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn scratch(tag: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("cli-select-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Four files in 32 KiB pieces, each boundary inside a piece: a.bin 50,000 bytes, b.nfo
/// 30,000, c.bin 40,000, d.txt 5,000.
fn payload() -> Payload {
    let file = |name: &str, len: usize, seed: u64| PayloadFile {
        path: vec![name.to_string()],
        data: payload::bytes(seed, len),
    };
    Payload {
        name: "sel".into(),
        files: vec![
            file("a.bin", 50_000, 1),
            file("b.nfo", 30_000, 2),
            file("c.bin", 40_000, 3),
            file("d.txt", 5_000, 4),
        ],
        single: false,
    }
}

/// A coracle session seeding `payload` from `dir/seed`; returns it and the .torrent's bytes.
fn seeder(p: &Payload, dir: &Path) -> (coracle::Session, Vec<u8>) {
    let bytes = p.torrent(32 * 1024, &[]);
    p.write_to(&dir.join("seed"));
    let session = coracle::Session::new({
        let mut config = coracle::SessionConfig::default();
        config.listen = "127.0.0.1:0".parse().unwrap();
        config.dht = {
            let mut dht = coracle::DhtSettings::default();
            dht.enabled = false;
            dht
        };
        config.engine = {
            let mut engine_ = coracle::SessionConfig::default().engine;
            engine_.pex = false;
            engine_
        };
        config
    })
    .unwrap();
    let mut opts = coracle::AddOptions::default();
    opts.output = dir.join("seed");
    opts.no_trackers = true;
    let h = session
        .add(coracle::TorrentSource::Bytes(bytes.clone()), opts)
        .unwrap();
    h.wait_timeout(Duration::from_secs(30)).unwrap();
    (session, bytes)
}

fn download(source: &str, out: &Path, seeder: &coracle::Session, extra: &[&str]) -> Output {
    let peer = seeder.listen_addr().port().to_string();
    let peer = format!("127.0.0.1:{peer}");
    let mut args = vec![
        "download",
        source,
        "-o",
        out.to_str().unwrap(),
        "--peer",
        &peer,
        "--port",
        "0",
        "--no-trackers",
        "--no-dht",
        "--no-lsd",
        "--no-pex",
    ];
    args.extend_from_slice(extra);
    coracle(&args)
}

/// Which of the payload's files exist under `root`; those that do must hold exactly their bytes.
fn files_present(p: &Payload, root: &Path) -> Vec<usize> {
    (0..p.files.len())
        .filter(|&i| {
            let path = p.file_path(root, i);
            let data = std::fs::read(&path).ok();
            if let Some(d) = &data {
                assert!(*d == p.files[i].data, "{} differs", path.display());
            }
            data.is_some()
        })
        .collect()
}

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

/// Names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn only_and_exclude_download_the_chosen_files_and_create_no_other() {
    let dir = scratch("only");
    let p = payload();
    let (seed, bytes) = seeder(&p, &dir);
    let torrent = dir.join("sel.torrent");
    std::fs::write(&torrent, &bytes).unwrap();
    let torrent = torrent.to_str().unwrap();
    let parts = format!(".{}.parts", info_hash_hex(&bytes));

    let out = download(torrent, &dir.join("only"), &seed, &["--only", "0,2", "-q"]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert_eq!(files_present(&p, &dir.join("only")), [0, 2]);
    // b.nfo shares pieces with a.bin and c.bin: those bytes are in the part file only.
    assert_eq!(names(&dir.join("only")), [parts.clone(), "sel".into()]);
    assert_eq!(names(&dir.join("only/sel")), ["a.bin", "c.bin"]);

    let out = download(
        torrent,
        &dir.join("ex"),
        &seed,
        &["--exclude", "*.nfo", "-q"],
    );
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert_eq!(files_present(&p, &dir.join("ex")), [0, 2, 3]);

    // --exclude is repeatable; --json reports each file's bytes and priority.
    let out = download(
        torrent,
        &dir.join("json"),
        &seed,
        &["--exclude", "*.bin", "--exclude", "sel/d.*", "--json"],
    );
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert_eq!(files_present(&p, &dir.join("json")), [1]);
    let stdout = text(&out.stdout);
    let last = stdout.lines().last().unwrap();
    assert!(last.contains("\"state\":\"completed\""), "{last}");
    for needle in [
        "{\"index\":1,\"length\":30000,\"done\":30000,\"priority\":\"normal\"}",
        "{\"index\":0,\"length\":50000,",
        "\"priority\":\"skip\"}",
        "\"bytes_wanted\":65536,\"bytes_wanted_done\":65536",
    ] {
        assert!(last.contains(needle), "no {needle} in {last}");
    }
    seed.shutdown().unwrap();
}

#[test]
fn a_magnets_so_chooses_its_files_and_a_bad_one_exits_2_creating_nothing() {
    let dir = scratch("so");
    let p = payload();
    let (seed, bytes) = seeder(&p, &dir);
    let hash = info_hash_hex(&bytes);
    let magnet = format!("magnet:?xt=urn:btih:{hash}&dn=sel&so=3,1");
    let out = download(&magnet, &dir.join("so"), &seed, &["-q"]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert_eq!(files_present(&p, &dir.join("so")), [1, 3]);
    // --only wins over the link's so=.
    let out = download(&magnet, &dir.join("only"), &seed, &["--only", "0", "-q"]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert_eq!(files_present(&p, &dir.join("only")), [0]);

    let bad = format!("magnet:?xt=urn:btih:{hash}&so=2,9");
    let out = download(&bad, &dir.join("bad"), &seed, &["-q"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {err}");
    assert!(
        err.contains("file index 9 is out of range: the torrent has 4 files"),
        "{err}"
    );
    let made = std::fs::read_dir(dir.join("bad")).map_or(0, |d| d.count());
    assert_eq!(made, 0, "no file may be created");
    seed.shutdown().unwrap();
}

#[test]
fn selections_that_do_not_fit_exit_2_before_any_file_or_socket() {
    let dir = scratch("bad");
    let torrent = dir.join("sel.torrent");
    std::fs::write(&torrent, payload().torrent(32 * 1024, &[])).unwrap();
    let t = torrent.to_str().unwrap();
    let out_dir = dir.join("out");
    let o = out_dir.to_str().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (
            &["--only", "4"],
            "file index 4 is out of range: the torrent has 4 files (0 to 3)",
        ),
        (&["--only", "1-7"], "file index 7 is out of range"),
        (&["--exclude", "*"], "the file selection selects no file"),
        (
            &["--only", "1", "--exclude", "sel/b.nfo"],
            "selects no file",
        ),
        (&["--only", "x"], "--only"),
        (&["--only", "3-1"], "--only"),
    ];
    for (extra, needle) in cases {
        let mut args = vec!["download", t, "-o", o, "--port", "0", "--no-trackers"];
        args.extend_from_slice(extra);
        let out = coracle(&args);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {err}");
        assert!(err.contains(needle), "{extra:?}: no {needle:?} in {err}");
        assert!(!out_dir.exists(), "{extra:?} created the output folder");
    }
}

#[test]
fn info_numbers_the_files_as_only_counts_them() {
    let dir = scratch("info");
    let torrent = dir.join("sel.torrent");
    std::fs::write(&torrent, payload().torrent(32 * 1024, &[])).unwrap();
    let out = coracle(&["info", torrent.to_str().unwrap()]);
    let info = text(&out.stdout);
    for (i, name) in ["a.bin", "b.nfo", "c.bin", "d.txt"].iter().enumerate() {
        let line = info
            .lines()
            .find(|l| l.ends_with(&format!("sel/{name}")))
            .unwrap_or_else(|| panic!("no {name} in {info}"));
        assert!(line.trim_start().starts_with(&format!("{i}  ")), "{line}");
    }
}
