//! Test payloads and the .torrent files that describe them, built in memory.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use coracle::internals::bencode::Bencode;
use sha1::{Digest, Sha1};

/// Deterministic pseudo-random bytes (xorshift), so every run sees the same data.
pub fn bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// One file of a payload: path inside the torrent's folder and its bytes.
pub struct PayloadFile {
    pub path: Vec<String>,
    pub data: Vec<u8>,
}

/// A torrent's content.
pub struct Payload {
    pub name: String,
    pub files: Vec<PayloadFile>,
    /// Single-file torrents have exactly one file whose path is empty.
    pub single: bool,
}

impl Payload {
    pub fn single(name: &str, data: Vec<u8>) -> Payload {
        Payload {
            name: name.into(),
            files: vec![PayloadFile { path: vec![], data }],
            single: true,
        }
    }

    /// A multi-file tree of `n` files (some empty, sizes varied so pieces span files).
    pub fn tree(name: &str, n: usize, seed: u64) -> Payload {
        let files = (0..n)
            .map(|i| {
                let len = match i % 5 {
                    0 => 0,
                    1 => 1000 + i * 37,
                    2 => 20_000 + i * 101,
                    3 => 3,
                    _ => 70_000 + i * 13,
                };
                PayloadFile {
                    path: vec![format!("dir{}", i % 3), format!("file{i:02}.bin")],
                    data: bytes(seed + i as u64, len),
                }
            })
            .collect();
        Payload {
            name: name.into(),
            files,
            single: false,
        }
    }

    /// Puts a file of `len` bytes in the middle of the tree, so a download lasts long enough for
    /// every peer to join in.
    pub fn with_big_file(mut self, len: usize) -> Payload {
        let at = self.files.len() / 2;
        self.files.insert(
            at,
            PayloadFile {
                path: vec!["big".into(), "middle.bin".into()],
                data: bytes(999, len),
            },
        );
        self
    }

    /// Every byte in torrent order.
    pub fn stream(&self) -> Vec<u8> {
        self.files
            .iter()
            .flat_map(|f| f.data.iter().copied())
            .collect()
    }

    /// Where file `i` lands under `root`.
    pub fn file_path(&self, root: &Path, i: usize) -> PathBuf {
        let mut p = root.join(&self.name);
        for c in &self.files[i].path {
            p.push(c);
        }
        p
    }

    /// Writes the payload under `root` (as a seeder has it).
    pub fn write_to(&self, root: &Path) {
        for i in 0..self.files.len() {
            let p = self.file_path(root, i);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, &self.files[i].data).unwrap();
        }
    }

    /// Asserts the files under `root` are byte-identical to the payload.
    pub fn assert_on_disk(&self, root: &Path) {
        for i in 0..self.files.len() {
            let p = self.file_path(root, i);
            let got = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            assert!(got == self.files[i].data, "{} differs", p.display());
        }
    }

    /// The .torrent for this payload.
    pub fn torrent(&self, piece_length: usize, trackers: &[&str]) -> Vec<u8> {
        let stream = self.stream();
        let pieces: Vec<u8> = stream
            .chunks(piece_length)
            .flat_map(|c| Sha1::digest(c).to_vec())
            .collect();
        let mut info = vec![
            ("name", Bencode::bytes(&self.name)),
            ("piece length", Bencode::Int(piece_length as i64)),
            ("pieces", Bencode::Bytes(pieces)),
        ];
        if self.single {
            info.push(("length", Bencode::Int(stream.len() as i64)));
        } else {
            let files = self
                .files
                .iter()
                .map(|f| {
                    Bencode::dict([
                        ("length", Bencode::Int(f.data.len() as i64)),
                        (
                            "path",
                            Bencode::List(f.path.iter().map(Bencode::bytes).collect()),
                        ),
                    ])
                })
                .collect();
            info.push(("files", Bencode::List(files)));
        }
        let mut top = vec![("info", Bencode::dict(info))];
        if let Some(first) = trackers.first() {
            top.push(("announce", Bencode::bytes(first)));
            let tiers = trackers
                .iter()
                .map(|t| Bencode::List(vec![Bencode::bytes(t)]))
                .collect();
            top.push(("announce-list", Bencode::List(tiers)));
        }
        Bencode::dict(top).encode()
    }
}

/// A fresh, empty folder for one test.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("coracle-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Removes the folders `temp_dir` made for `names` (at the end of a test that passed).
pub fn remove_temp(names: &[&str]) {
    for name in names {
        let _ = std::fs::remove_dir_all(
            std::env::temp_dir().join(format!("coracle-{}-{name}", std::process::id())),
        );
    }
}
