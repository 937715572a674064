//! The benchmark payload: deterministic bytes written straight to the seeders' files while the
//! piece hashes are computed on another thread, a streaming .torrent builder, a byte-for-byte
//! check of a download, and the single-core SHA-1 floor.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use coracle::internals::bencode::Bencode;
use sha1::{Digest, Sha1};

/// Bytes produced and written per step.
const CHUNK: usize = 1 << 20;

/// Parses `512KiB`, `64MiB`, `1GiB`, `1G`, `3MB` (decimal), `12345` (bytes).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().map_err(|_| format!("bad size {s:?}"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "t" | "tib" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        u => return Err(format!("unknown size unit {u:?} in {s:?}")),
    };
    let v = n * mult as f64;
    if !(1.0..=1e15).contains(&v) {
        return Err(format!("size {s:?} is out of range"));
    }
    Ok(v.round() as u64)
}

/// `1.00 GiB`, `512.0 KiB`...
pub fn human(bytes: u64) -> String {
    let b = bytes as f64;
    if bytes >= 1 << 30 {
        format!("{:.2} GiB", b / (1u64 << 30) as f64)
    } else if bytes >= 1 << 20 {
        format!("{:.1} MiB", b / (1u64 << 20) as f64)
    } else if bytes >= 1 << 10 {
        format!("{:.1} KiB", b / 1024.0)
    } else {
        format!("{bytes} B")
    }
}

/// Xorshift64 over whole words: fast and the same on every run.
pub struct Xorshift(u64);

impl Xorshift {
    pub fn new(seed: u64) -> Xorshift {
        Xorshift(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    /// Fills `buf` (a multiple of 8 bytes except possibly at the very end of the stream).
    pub fn fill(&mut self, buf: &mut [u8]) {
        let mut x = self.0;
        for w in buf.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            w.copy_from_slice(&x.to_le_bytes()[..w.len()]);
        }
        self.0 = x;
    }
}

/// The payload's shape: one file, or `n` files in a folder.
pub struct Layout {
    /// The torrent's `name`: the file (single) or the folder (multi).
    pub name: String,
    /// Path components inside the folder and lengths; one entry with an empty path when single.
    pub files: Vec<(Vec<String>, u64)>,
    pub piece_length: u64,
}

impl Layout {
    pub fn new(size: u64, files: usize, piece_length: u64) -> Layout {
        if files <= 1 {
            return Layout {
                name: "swarm-payload.bin".into(),
                files: vec![(vec![], size)],
                piece_length,
            };
        }
        let n = files as u64;
        let each = size / n;
        let files = (0..n)
            .map(|i| {
                let len = if i == n - 1 {
                    size - each * (n - 1)
                } else {
                    each
                };
                (vec![format!("part{i:03}.bin")], len)
            })
            .collect();
        Layout {
            name: "swarm-payload".into(),
            files,
            piece_length,
        }
    }

    pub fn total(&self) -> u64 {
        self.files.iter().map(|f| f.1).sum()
    }

    pub fn pieces(&self) -> u64 {
        self.total().div_ceil(self.piece_length)
    }

    /// Where each file is under `root`.
    pub fn paths(&self, root: &Path) -> Vec<PathBuf> {
        self.files
            .iter()
            .map(|(p, _)| {
                let mut path = root.join(&self.name);
                p.iter().for_each(|c| path.push(c));
                path
            })
            .collect()
    }
}

/// Writes the payload under `root` and returns the concatenated piece hashes. Generation and
/// writing run on one thread, SHA-1 on this one, so the two overlap.
pub fn write_payload(layout: &Layout, root: &Path, seed: u64) -> std::io::Result<Vec<u8>> {
    let paths = layout.paths(root);
    let mut files = Vec::new();
    for (path, (_, len)) in paths.iter().zip(&layout.files) {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        files.push((File::create(path)?, *len));
    }
    let total = layout.total();
    let (full_tx, full_rx) = crossbeam_channel::bounded::<Vec<u8>>(4);
    let (empty_tx, empty_rx) = crossbeam_channel::unbounded::<Vec<u8>>();
    for _ in 0..6 {
        let _ = empty_tx.send(vec![0u8; CHUNK]);
    }
    let writer = std::thread::spawn(move || -> std::io::Result<()> {
        let mut rng = Xorshift::new(seed);
        let mut left = total;
        let mut file = 0usize;
        while left > 0 {
            let Ok(mut buf) = empty_rx.recv() else { break };
            let n = left.min(CHUNK as u64) as usize;
            buf.resize(n, 0);
            rng.fill(&mut buf);
            let mut rest = &buf[..];
            while !rest.is_empty() {
                let (f, flen) = &mut files[file];
                let take = (*flen).min(rest.len() as u64) as usize;
                f.write_all(&rest[..take])?;
                *flen -= take as u64;
                rest = &rest[take..];
                if *flen == 0 && file + 1 < files.len() {
                    file += 1;
                }
            }
            left -= n as u64;
            if full_tx.send(buf).is_err() {
                break;
            }
        }
        Ok(())
    });
    let piece = layout.piece_length;
    let mut pieces = Vec::with_capacity(layout.pieces() as usize * 20);
    let mut hasher = Sha1::new();
    let mut in_piece = 0u64;
    for buf in full_rx.iter() {
        let mut rest = &buf[..];
        while !rest.is_empty() {
            let take = (piece - in_piece).min(rest.len() as u64) as usize;
            hasher.update(&rest[..take]);
            in_piece += take as u64;
            rest = &rest[take..];
            if in_piece == piece {
                pieces.extend_from_slice(&hasher.finalize_reset());
                in_piece = 0;
            }
        }
        let _ = empty_tx.send(buf);
    }
    if in_piece > 0 {
        pieces.extend_from_slice(&hasher.finalize_reset());
    }
    writer
        .join()
        .map_err(|_| std::io::Error::other("payload writer panicked"))??;
    Ok(pieces)
}

/// The .torrent for `layout` with the given piece hashes and one tracker.
pub fn torrent(layout: &Layout, pieces: Vec<u8>, tracker: &str) -> Vec<u8> {
    let mut info = vec![
        ("name", Bencode::bytes(&layout.name)),
        ("piece length", Bencode::Int(layout.piece_length as i64)),
        ("pieces", Bencode::Bytes(pieces)),
    ];
    if layout.files.len() == 1 && layout.files[0].0.is_empty() {
        info.push(("length", Bencode::Int(layout.files[0].1 as i64)));
    } else {
        let files = layout
            .files
            .iter()
            .map(|(path, len)| {
                Bencode::dict([
                    ("length", Bencode::Int(*len as i64)),
                    (
                        "path",
                        Bencode::List(path.iter().map(Bencode::bytes).collect()),
                    ),
                ])
            })
            .collect();
        info.push(("files", Bencode::List(files)));
    }
    // No tracker (`--dht`): no `announce` key at all.
    let announce = (!tracker.is_empty()).then(|| ("announce", Bencode::bytes(tracker)));
    let top = announce.into_iter().chain([
        ("created by", Bencode::bytes("coracle swarm example")),
        ("info", Bencode::dict(info)),
    ]);
    Bencode::dict(top).encode()
}

/// Compares the files under `got` with those under `want`, byte for byte.
pub fn compare(layout: &Layout, want: &Path, got: &Path) -> Result<(), String> {
    let mut a = vec![0u8; CHUNK];
    let mut b = vec![0u8; CHUNK];
    for (pw, pg) in layout.paths(want).iter().zip(layout.paths(got)) {
        let open = |p: &Path| File::open(p).map_err(|e| format!("{}: {e}", p.display()));
        let (mut fw, mut fg) = (open(pw)?, open(&pg)?);
        let (lw, lg) = (
            fw.metadata().map_err(|e| e.to_string())?.len(),
            fg.metadata().map_err(|e| e.to_string())?.len(),
        );
        if lw != lg {
            return Err(format!("{}: {lg} bytes, expected {lw}", pg.display()));
        }
        let mut off = 0u64;
        while off < lw {
            let n = (lw - off).min(CHUNK as u64) as usize;
            fw.read_exact(&mut a[..n]).map_err(|e| e.to_string())?;
            fg.read_exact(&mut b[..n]).map_err(|e| e.to_string())?;
            if a[..n] != b[..n] {
                let at = a[..n].iter().zip(&b[..n]).position(|(x, y)| x != y);
                return Err(format!(
                    "{} differs at byte {}",
                    pg.display(),
                    off + at.unwrap_or(0) as u64
                ));
            }
            off += n as u64;
        }
    }
    Ok(())
}

/// Seconds one core takes to SHA-1 `total` bytes in pieces of `piece` bytes (data in memory):
/// the best of two passes, as the machine may be busy.
pub fn sha1_floor(total: u64, piece: u64) -> f64 {
    sha1_pass(total, piece).min(sha1_pass(total, piece))
}

fn sha1_pass(total: u64, piece: u64) -> f64 {
    let buf_len = (16u64 << 20).max(piece).min(total.max(1)) as usize;
    let mut buf = vec![0u8; buf_len];
    Xorshift::new(7).fill(&mut buf);
    let mut sink = 0u8;
    let start = Instant::now();
    let mut left = total;
    let mut at = 0usize;
    while left > 0 {
        let n = left.min(piece) as usize;
        let mut h = Sha1::new();
        let mut need = n;
        while need > 0 {
            if at == buf.len() {
                at = 0;
            }
            let take = need.min(buf.len() - at);
            h.update(&buf[at..at + take]);
            at += take;
            need -= take;
        }
        sink ^= h.finalize()[0];
        left -= n as u64;
    }
    let secs = start.elapsed().as_secs_f64();
    std::hint::black_box(sink);
    secs
}
