//! The simulated disk: each node's storage is a `Vec<u8>`. Instead of hashing, a piece is "good"
//! when it equals the payload slice, which is what a SHA-1 match means for this test.

use std::time::Duration;

use coracle::engine::{DiskDone, DiskRequest};

use super::{Event, Sim};

/// Time to hash and write a piece.
const VERIFY_DELAY: Duration = Duration::from_millis(2);
/// Time to read a block.
const READ_DELAY: Duration = Duration::from_micros(300);

impl Sim {
    /// The byte range of `piece` (from `begin`, `length` bytes) in the torrent's stream.
    fn range(&self, piece: u32, begin: u32, length: usize) -> std::ops::Range<usize> {
        let start = self.layout.piece_offset(piece) as usize + begin as usize;
        start..start + length
    }

    fn piece_range(&self, piece: u32) -> std::ops::Range<usize> {
        self.range(piece, 0, self.layout.piece_len(piece) as usize)
    }

    pub(super) fn disk(&mut self, node: usize, req: DiskRequest) {
        let (delay, done) = match req {
            DiskRequest::Verify {
                torrent,
                piece,
                data,
            } => {
                let ok = self.verify(node, piece, &data);
                let buffer = data;
                (
                    VERIFY_DELAY,
                    DiskDone::Verified {
                        torrent,
                        piece,
                        ok,
                        buffer,
                    },
                )
            }
            DiskRequest::Check { torrent, piece } => {
                let r = self.piece_range(piece);
                let ok = self.nodes[node].storage[r.clone()] == self.payload[r];
                (VERIFY_DELAY, DiskDone::Checked { torrent, piece, ok })
            }
            DiskRequest::Read {
                torrent,
                conn,
                piece,
                begin,
                length,
            } => {
                let r = self.range(piece, begin, length as usize);
                let data = Ok(self.nodes[node].storage[r].to_vec());
                let done = DiskDone::Read {
                    torrent,
                    conn,
                    piece,
                    begin,
                    data,
                };
                (READ_DELAY, done)
            }
            DiskRequest::Release { .. } => return,
        };
        self.schedule(delay, Event::Disk { node, done });
    }

    /// "Hashes" a downloaded piece; a good one is written to storage and counted.
    fn verify(&mut self, node: usize, piece: u32, data: &[u8]) -> bool {
        let r = self.piece_range(piece);
        let n = &mut self.nodes[node];
        if data != &self.payload[r.clone()] {
            n.hash_failed_at.push(self.now);
            return false;
        }
        n.storage[r].copy_from_slice(data);
        n.verified_ok[piece as usize] += 1;
        true
    }
}
