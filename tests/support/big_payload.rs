//! A large single-file payload generated piece by piece from a few random blocks, for tests of
//! downloads too big to hold in memory (address-space and memory-cgroup limits).
#![allow(dead_code)]

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::Path;

use coracle::internals::bencode::Bencode;
use sha1::{Digest, Sha1};

/// Piece length of the payload.
pub const BIG_PIECE: usize = 1 << 20;
/// Distinct 1 MiB blocks the payload cycles through (generated once: fast).
const BIG_BLOCKS: usize = 16;

/// The payload: piece `i` is one of [`BIG_BLOCKS`] random blocks with `i` stamped over its
/// first 8 bytes, so every piece differs (a piece written at the wrong offset fails the
/// comparison) without generating gigabytes of random bytes.
pub struct BigPayload {
    blocks: Vec<Vec<u8>>,
    len: u64,
}

impl BigPayload {
    /// A payload of `len` bytes.
    pub fn new(len: u64) -> BigPayload {
        BigPayload {
            blocks: (0..BIG_BLOCKS)
                .map(|i| crate::payload::bytes(1000 + i as u64, BIG_PIECE))
                .collect(),
            len,
        }
    }

    fn pieces(&self) -> usize {
        self.len.div_ceil(BIG_PIECE as u64) as usize
    }

    /// Fills `buf` with piece `i` and returns the piece's bytes (shorter for the last one).
    fn piece<'a>(&self, i: usize, buf: &'a mut Vec<u8>) -> &'a [u8] {
        let len = (self.len - (i * BIG_PIECE) as u64).min(BIG_PIECE as u64) as usize;
        buf.clear();
        buf.extend_from_slice(&self.blocks[(i * 7) % BIG_BLOCKS][..len]);
        let stamp = (i as u64).to_le_bytes();
        let n = stamp.len().min(len);
        buf[..n].copy_from_slice(&stamp[..n]);
        &buf[..]
    }

    /// Writes the file under `dir` (as the seeder has it) and returns the .torrent, hashing each
    /// piece as it goes so the payload is generated only once.
    pub fn write_and_describe(&self, dir: &Path, name: &str) -> Vec<u8> {
        let mut out = BufWriter::with_capacity(BIG_PIECE, File::create(dir.join(name)).unwrap());
        let mut hashes = Vec::with_capacity(self.pieces() * 20);
        let mut buf = Vec::with_capacity(BIG_PIECE);
        for i in 0..self.pieces() {
            let piece = self.piece(i, &mut buf);
            hashes.extend_from_slice(&Sha1::digest(piece));
            out.write_all(piece).unwrap();
        }
        out.into_inner().unwrap().sync_all().unwrap();
        let info = Bencode::dict([
            ("length", Bencode::Int(self.len as i64)),
            ("name", Bencode::bytes(name)),
            ("piece length", Bencode::Int(BIG_PIECE as i64)),
            ("pieces", Bencode::Bytes(hashes)),
        ]);
        Bencode::dict([("info", info)]).encode()
    }

    /// Compares the file at `path` with the payload, one piece at a time (never the whole
    /// file in memory); the panic names the first piece that differs.
    pub fn assert_file(&self, path: &Path) {
        let mut f = File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(f.metadata().unwrap().len(), self.len, "file length");
        let (mut want, mut got) = (Vec::new(), vec![0; BIG_PIECE]);
        for i in 0..self.pieces() {
            let want = self.piece(i, &mut want);
            let got = &mut got[..want.len()];
            f.read_exact(got).unwrap();
            assert!(got == want, "piece {i} differs");
        }
    }
}
