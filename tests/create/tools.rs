//! The other creators, run over the same folder: mktorrent, transmission-create and libtorrent's
//! v1 creator (Debian's python3-libtorrent). Each returns the info-hash of what it made,
//! computed here (SHA-1 of the raw `info` bytes), not by coracle.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::harness::PYTHON;

/// Whether CI asked for every tool (a missing one then fails instead of skipping).
fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// True when `program` runs; otherwise says the test is skipped (or panics under CI).
pub fn have(program: &str, package: &str) -> bool {
    let found = if program == "python3-libtorrent" {
        Command::new(PYTHON)
            .args(["-c", "import libtorrent"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    } else {
        std::env::var_os("PATH")
            .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(program).is_file()))
    };
    if !found {
        let msg = format!("skipped: {program} not installed (apt-get install {package})");
        assert!(!in_ci(), "{msg}");
        let _ = writeln!(std::io::stderr(), "{msg}");
    } else {
        let _ = writeln!(std::io::stderr(), "exercising: {program}");
    }
    found
}

fn run(mut cmd: Command, what: &str) -> Vec<u8> {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// mktorrent with `-l log2_piece`, no date, and `-p`/`-s` as asked; returns the info-hash.
pub fn mktorrent(
    path: &Path,
    out: &Path,
    log2_piece: u32,
    private: bool,
    source: Option<&str>,
) -> String {
    let mut cmd = Command::new("mktorrent");
    cmd.args(["-d", "-t", "2", "-a", "http://127.0.0.1:1/announce", "-l"])
        .arg(log2_piece.to_string())
        .arg("-o")
        .arg(out);
    if private {
        cmd.arg("-p");
    }
    if let Some(s) = source {
        cmd.args(["-s", s]);
    }
    cmd.arg(path);
    run(cmd, "mktorrent");
    crate::info_hash_of(&std::fs::read(out).unwrap())
}

/// transmission-create with `-s piece_kib`; Transmission 3 writes `private` always, so `-p` is
/// passed and coracle is asked for a private torrent too.
pub fn transmission_create(path: &Path, out: &Path, piece_kib: u32) -> String {
    let mut cmd = Command::new("transmission-create");
    // A private torrent needs a tracker for Transmission; it is outside the info-hash.
    cmd.args(["-p", "-t", "http://127.0.0.1:1/announce", "-s"])
        .arg(piece_kib.to_string())
        .arg("-o")
        .arg(out)
        .arg(path);
    run(cmd, "transmission-create");
    crate::info_hash_of(&std::fs::read(out).unwrap())
}

/// libtorrent's creator, v1 only, given the files in Python's byte order of their relative
/// paths (libtorrent's own `add_files` lists them in directory order). `piece` 0 lets libtorrent
/// choose. Returns the info-hash and the piece length it used.
pub fn libtorrent(path: &Path, piece: u32, private: bool) -> (String, u32) {
    const SCRIPT: &str = r#"
import hashlib, os, sys
import libtorrent as lt
root, piece, private = os.path.abspath(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1"
parent, name = os.path.dirname(root), os.path.basename(root)
fs = lt.file_storage()
if os.path.isfile(root):
    fs.add_file(name, os.path.getsize(root))
else:
    found = []
    for d, _, names in os.walk(root):
        for n in names:
            p = os.path.join(d, n)
            found.append((os.path.relpath(p, root).encode(), os.path.getsize(p)))
    for rel, size in sorted(found):
        fs.add_file(name + "/" + rel.decode(), size)
ct = lt.create_torrent(fs, piece, flags=lt.create_torrent.v1_only)
ct.set_priv(private)
lt.set_piece_hashes(ct, parent)
info = ct.generate()[b"info"]
print(hashlib.sha1(lt.bencode(info)).hexdigest(), info[b"piece length"])
"#;
    let mut cmd = Command::new(PYTHON);
    cmd.args(["-c", SCRIPT])
        .arg(path)
        .arg(piece.to_string())
        .arg(if private { "1" } else { "0" });
    let out = String::from_utf8(run(cmd, "python3 (libtorrent)")).unwrap();
    let mut words = out.split_whitespace();
    let hash = words.next().expect("an info-hash").to_owned();
    let piece = words.next().expect("a piece length").parse().unwrap();
    (hash, piece)
}
