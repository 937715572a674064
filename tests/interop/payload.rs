//! Deterministic payloads, the .torrent files mktorrent makes of them, and exact comparison of
//! what a client wrote.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha1::{Digest, Sha1};

use crate::generated::bytes;

/// Single-file or multi-file torrent.
#[derive(Clone, Copy, Debug)]
pub enum Shape {
    Single,
    Multi,
    /// One 24 MiB file: long enough that a seeder's speed, not the start-up, sets the time.
    Large,
}

/// A torrent's content: its name and (path inside the torrent, bytes) for each file.
pub struct Payload {
    pub name: &'static str,
    pub files: Vec<(&'static str, Vec<u8>)>,
}

impl Payload {
    /// A few MiB whose sizes are not piece multiples, so pieces straddle files and the last
    /// piece is short. No empty files: clients disagree on creating them, which is not what
    /// these tests are about.
    pub fn new(shape: Shape) -> Payload {
        match shape {
            Shape::Single => Payload {
                name: "single.bin",
                files: vec![("", bytes(1, 3 * 1024 * 1024 + 4321))],
            },
            Shape::Large => Payload {
                name: "large.bin",
                files: vec![("", bytes(7, 24 << 20))],
            },
            Shape::Multi => Payload {
                name: "multi",
                files: vec![
                    ("a.bin", bytes(2, 700_001)),
                    ("docs/b.txt", bytes(3, 13)),
                    ("docs/deep/c.bin", bytes(4, 1_500_000)),
                    ("d.bin", bytes(5, 1_048_576)),
                    ("e.bin", bytes(6, 65_537)),
                ],
            },
        }
    }

    /// Where file `rel` lives when the torrent is saved in `dir`.
    fn path_in(&self, dir: &Path, rel: &str) -> PathBuf {
        let root = dir.join(self.name);
        if rel.is_empty() {
            root
        } else {
            root.join(rel)
        }
    }

    /// Writes the payload into `dir` (as a seeder's data).
    pub fn write_to(&self, dir: &Path) {
        for (rel, data) in &self.files {
            let path = self.path_in(dir, rel);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(&path, data).unwrap();
        }
    }

    /// Whether every file under `dir` has exactly the expected bytes (for polling clients that
    /// do not say when they are done).
    pub fn is_on_disk(&self, dir: &Path) -> bool {
        self.files.iter().all(|(rel, data)| {
            fs::read(self.path_in(dir, rel)).is_ok_and(|on_disk| on_disk == *data)
        })
    }

    /// Panics, naming the first differing file and offset, unless `dir` holds the exact bytes.
    pub fn assert_on_disk(&self, dir: &Path) {
        for (rel, data) in &self.files {
            let path = self.path_in(dir, rel);
            let on_disk = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(on_disk.len(), data.len(), "{}: length", path.display());
            if let Some(at) = on_disk.iter().zip(data).position(|(a, b)| a != b) {
                panic!("{}: first wrong byte at offset {at}", path.display());
            }
        }
    }

    /// Runs mktorrent over the payload in `data_dir` (64 KiB pieces, no date) announcing to
    /// `announce`, and returns the .torrent's path and info-hash.
    pub fn make_torrent(&self, data_dir: &Path, announce: &str, out: &Path) -> [u8; 20] {
        let status = Command::new("mktorrent")
            .args(["-l", "16", "-d", "-t", "2", "-a", announce, "-o"])
            .arg(out)
            .arg(data_dir.join(self.name))
            .stdout(std::process::Stdio::null())
            .status()
            .expect("running mktorrent");
        assert!(status.success(), "mktorrent failed: {status}");
        info_hash(&fs::read(out).unwrap())
    }
}

/// SHA-1 of the bencoded `info` value, computed here rather than by coracle so that a coracle bug
/// there shows up as the tracker refusing it.
pub fn info_hash(torrent: &[u8]) -> [u8; 20] {
    assert_eq!(torrent[0], b'd', "a .torrent is a dict");
    let mut at = 1;
    while torrent[at] != b'e' {
        let key_len = value_len(&torrent[at..]);
        let key = &torrent[at..at + key_len];
        at += key_len;
        let len = value_len(&torrent[at..]);
        if key == b"4:info" {
            return Sha1::digest(&torrent[at..at + len]).into();
        }
        at += len;
    }
    panic!("no info dict in the .torrent");
}

/// The length of the bencoded value at the start of `b`.
fn value_len(b: &[u8]) -> usize {
    match b[0] {
        b'i' => b.iter().position(|&c| c == b'e').unwrap() + 1,
        b'l' | b'd' => {
            let mut at = 1;
            while b[at] != b'e' {
                at += value_len(&b[at..]);
            }
            at + 1
        }
        _ => {
            let colon = b.iter().position(|&c| c == b':').unwrap();
            let n: usize = std::str::from_utf8(&b[..colon]).unwrap().parse().unwrap();
            colon + 1 + n
        }
    }
}
