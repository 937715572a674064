//! Piece buffers across torrents: the bytes all torrents hold (for the session-wide budget)
//! and the spares handed back by the disk pool, kept for the next piece of any torrent. Part of
//! the sans-IO engine (reactor thread).
//!
//! Spares used to belong to their torrent. A session of many small torrents then allocated
//! fresh buffers for nearly every piece (a torrent of three pieces never reuses one), and the
//! reactor spent about a third of its time faulting in and zeroing new pages
//! (`examples/scale`, 100 torrents). Shared, a warm buffer serves whichever torrent starts a
//! piece next.

/// Piece-buffer accounting and spares shared by every torrent of an engine.
#[derive(Debug, Default)]
pub struct PieceBuffers {
    buffers: Vec<Vec<u8>>,
    /// Sum of the spares' capacities.
    bytes: usize,
    /// Bytes in live piece buffers of all torrents: counted afresh by the engine before each
    /// input (so nothing can leak), then kept current by the torrents as they take and free.
    pub live: usize,
    /// A torrent could not start a piece for want of session budget: when any torrent frees
    /// buffers, the others must be refilled at once, not at their next tick.
    pub starved: bool,
}

impl PieceBuffers {
    /// A buffer of exactly `len` bytes: a spare that is large enough, else a new one. Contents
    /// are unspecified; every byte is overwritten by a block before the piece is hashed.
    pub fn take(&mut self, len: usize) -> Vec<u8> {
        match self.buffers.iter().position(|b| b.capacity() >= len) {
            Some(i) => {
                let mut buffer = self.buffers.swap_remove(i);
                self.bytes -= buffer.capacity();
                // Within capacity: sets the length without reallocating (zeroing at most the
                // part past the old length).
                buffer.resize(len, 0);
                buffer.truncate(len);
                buffer
            }
            // calloc: fresh pages from the kernel, no memset pass on the reactor thread.
            None => vec![0; len],
        }
    }

    /// Keeps `buffer` if the spares stay within `limit` bytes, else frees it.
    pub fn give(&mut self, buffer: Vec<u8>, limit: usize) {
        if self.bytes + buffer.capacity() <= limit {
            self.bytes += buffer.capacity();
            self.buffers.push(buffer);
        }
    }

    /// Bytes held in spares.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Frees every spare (nothing is downloading, so nothing would reuse them).
    pub fn clear(&mut self) {
        self.buffers = Vec::new();
        self.bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuses_a_large_enough_spare_and_respects_the_limit() {
        let mut spares = PieceBuffers::default();
        let mut small = vec![7u8; 16];
        small.shrink_to_fit();
        let big = vec![9u8; 1024];
        let big_ptr = big.as_ptr();
        spares.give(small, 4096);
        spares.give(big, 4096);
        assert_eq!(spares.bytes(), 16 + 1024);
        // A 512-byte piece takes the big buffer, not the small one, and does not reallocate.
        let b = spares.take(512);
        assert_eq!((b.len(), b.as_ptr()), (512, big_ptr));
        assert_eq!(spares.bytes(), 16);
        // No spare fits 2048 bytes: a new zeroed buffer.
        let fresh = spares.take(2048);
        assert!(fresh.len() == 2048 && fresh.iter().all(|&x| x == 0));
        // Over the limit: dropped.
        spares.give(fresh, 1024);
        assert_eq!(spares.bytes(), 16);
        spares.give(b, 4096);
        assert_eq!(spares.bytes(), 16 + 1024);
        spares.clear();
        assert_eq!(spares.bytes(), 0);
        assert_eq!(spares.take(8), vec![0; 8]);
    }
}
