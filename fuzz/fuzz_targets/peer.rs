//! The engine's peer state machine, fed arbitrary bytes after a valid handshake, with this
//! harness as the shell: it answers disk jobs, "writes" outboxes and advances the clock.
//! Nothing may panic, and a peer's outbox stays bounded whatever the peer sends.
//!
//! Input: byte 0 picks what we already have (bits 0-1: nothing, everything, every other piece)
//! and how the clock moves (bits 2-3, see [`Shell::step`]), byte 1 seeds the harness's choices
//! (chunk sizes, clock steps, disk answers); the rest is the peer's byte stream. When the engine
//! drops the peer, a fresh connection continues with the rest.
#![no_main]
// A fuzz harness is a shell: `fuzz_target!` itself writes crash inputs to files.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use coracle::internals::wire::Handshake;
use coracle::sansio::Bitfield;
use coracle::sansio::Layout;
use coracle::sansio::{execute, MemoryStore, PieceStore, StorageError, TorrentDisk};
use coracle::sansio::{
    Action, ConnId, DiskDone, DiskRequest, Engine, EngineConfig, TorrentId, TorrentParams,
};
use libfuzzer_sys::fuzz_target;
use sha1::{Digest, Sha1};

const INFO_HASH: [u8; 20] = [7; 20];
/// Differs from `EngineConfig::default().peer_id`, so the handshake is not a self-connection.
const PEER_ID: [u8; 20] = *b"-FZ0001-fuzzfuzzfuzz";
/// Far above anything the engine should queue (its send buffer is 64 KiB), far below an OOM.
const OUTBOX_LIMIT: usize = 64 * 1024 * 1024;
/// New connections after the engine dropped one; each gets its own address so a ban of an
/// earlier one does not refuse it at the handshake.
const MAX_CONNECTIONS: u16 = 4;

/// xorshift32: the harness's choices, reproducible from the input.
struct Rng(u32);

impl Rng {
    fn next(&mut self) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        self.0
    }

    fn below(&mut self, n: u32) -> u32 {
        self.next() % n
    }
}

/// The torrent's bytes, all zeros (so the harness can make a fuzzed piece good by zeroing it),
/// behind the pool's own disk code; one read in 16 fails.
struct FaultyStore {
    bytes: MemoryStore,
    rng: Mutex<Rng>,
}

impl PieceStore for FaultyStore {
    fn write_at(&self, offset: u64, data: &[u8]) -> Result<(), StorageError> {
        self.bytes.write_at(offset, data)
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), StorageError> {
        if self.rng.lock().unwrap().below(16) == 0 {
            let len = buf.len() as u64;
            return Err(StorageError::OutOfRange { offset, len });
        }
        self.bytes.read_at(offset, buf)
    }
}

/// The shell around one engine with one torrent.
struct Shell {
    engine: Engine,
    torrent: TorrentId,
    conn: Option<ConnId>,
    connections: u16,
    now: Instant,
    /// 0: only steps of a few ms; otherwise long jumps happen too (see `step`).
    clock: u8,
    rng: Rng,
    /// Disk results not yet handed back, so they can arrive late and interleave with data.
    disk: VecDeque<DiskDone>,
    store: Arc<TorrentDisk>,
}

fuzz_target!(|data: &[u8]| {
    let Some(([mode, seed], stream)) = data.split_first_chunk::<2>() else {
        return;
    };
    let mut shell = Shell::new(*mode, *seed);
    // Chunk sizes from one byte (the first peer read) to more than a block.
    let max_chunk = [1, 7, 64, 600, 17_000][usize::from(*seed % 5)];
    let mut rest = stream;
    shell.connect();
    shell.step();
    while !rest.is_empty() {
        let Some(conn) = shell.conn else { break };
        let take = (shell.rng.below(max_chunk) as usize + 1).min(rest.len());
        let (chunk, tail) = rest.split_at(take);
        rest = tail;
        shell.engine.handle_data(conn, chunk, shell.now);
        shell.step();
    }
    shell.finish();
});

impl Shell {
    fn new(mode: u8, seed: u8) -> Shell {
        let now = Instant::now();
        let layout = Layout::new(32768, 1_000_000).unwrap();
        let n = layout.num_pieces();
        let have = match mode & 3 {
            1 => Bitfield::full(n),
            2 => {
                // Half the pieces: the engine both uploads and downloads.
                let mut b = Bitfield::new(n);
                (0..n).step_by(2).for_each(|i| {
                    b.set(i);
                });
                b
            }
            _ => Bitfield::new(n),
        };
        let mut engine = Engine::new(EngineConfig::default());
        let params = TorrentParams {
            info_hash: INFO_HASH,
            layout,
            trackers: vec![],
            peers: vec![],
            have,
            recheck: false,
            info: None,
            private: false,
            check: None,
        };
        let torrent = engine.add_torrent(params, now);
        let zeros = vec![0u8; layout.total_length() as usize];
        let hashes = zeros
            .chunks(layout.piece_length() as usize)
            .map(|p| Sha1::digest(p).into())
            .collect();
        let store = Arc::new(TorrentDisk {
            layout,
            hashes,
            store: Arc::new(FaultyStore {
                bytes: MemoryStore::new(zeros),
                rng: Mutex::new(Rng(u32::from(seed) << 16 | 0x5bd1)),
            }),
            resume: Default::default(),
        });
        Shell {
            store,
            engine,
            torrent,
            conn: None,
            connections: 0,
            now,
            clock: (mode >> 2) & 3,
            rng: Rng((0x9e37_79b9 ^ (u32::from(seed) << 8) ^ u32::from(mode)) | 1),
            disk: VecDeque::new(),
        }
    }

    /// An incoming connection that completes a valid handshake.
    fn connect(&mut self) {
        if self.connections >= MAX_CONNECTIONS {
            return;
        }
        self.connections += 1;
        let addr = SocketAddr::from(([127, 0, 0, 1], self.connections));
        let Some(conn) = self.engine.handle_incoming(addr, self.now) else {
            return;
        };
        let mut hs = Vec::new();
        Handshake {
            reserved: [0; 8],
            info_hash: INFO_HASH,
            peer_id: PEER_ID,
        }
        .encode(&mut hs);
        self.conn = Some(conn);
        // Its actions (our bitfield, a close) are drained by whoever called: `step` or the
        // `drain_actions` loop that saw the previous connection close.
        self.engine.handle_data(conn, &hs, self.now);
    }

    /// What a shell does between reads: run actions, answer some disk jobs, write, tick.
    fn step(&mut self) {
        self.drain_actions();
        // Answer all, one or none of the pending disk jobs.
        let answer = match self.rng.below(4) {
            0 => 0,
            1 => 1,
            _ => self.disk.len(),
        };
        for _ in 0..answer {
            if let Some(done) = self.disk.pop_front() {
                self.engine.handle_disk(done, self.now);
                self.drain_actions();
            }
        }
        self.write_out();
        // A few ms per read. The input can also ask for rare jumps past the request timeout
        // (30 s), and past the inactivity timeout (120 s), so timers see fuzzed state too; they
        // are opt-in because a long stream would otherwise almost surely hit one and lose the
        // connection before its interesting part.
        let ms = match (self.clock, self.rng.below(128)) {
            (1.., 0) => 31_000,
            (2.., 1) => 121_000,
            (_, r) => u64::from(r % 8),
        };
        self.now += Duration::from_millis(ms);
        self.engine.handle_timeout(self.now);
        self.drain_actions();
        self.check();
    }

    fn drain_actions(&mut self) {
        while let Some(action) = self.engine.poll_action() {
            match action {
                Action::Disk(req) => self.disk_job(req),
                Action::Close { conn, .. } if Some(conn) == self.conn => {
                    self.conn = None;
                    self.connect();
                }
                // No trackers and no peers to dial; events and flushes need no answer.
                _ => {}
            }
        }
    }

    fn disk_job(&mut self, mut req: DiskRequest) {
        if let DiskRequest::Verify { data, .. } = &mut req {
            // Fuzzed peers rarely send the right bytes; make them right half the time.
            if self.rng.below(2) == 0 {
                data.fill(0);
            }
        }
        if let Some(done) = execute(req, &self.store, &mut Vec::new()) {
            self.disk.push_back(done);
        }
    }

    /// Writes the outbox out (most of the time), as the reactor does when the socket is writable.
    fn write_out(&mut self) {
        let mut dirty = Vec::new();
        self.engine.take_dirty(&mut dirty);
        let Some(conn) = self.conn else { return };
        let Some(out) = self.engine.outbox(conn) else {
            return;
        };
        assert!(out.len() < OUTBOX_LIMIT, "outbox grew to {}", out.len());
        if self.rng.below(4) != 0 {
            let pending = out.len();
            out.consume(pending);
            self.engine.handle_written(conn, self.now);
            self.drain_actions();
        }
    }

    fn check(&mut self) {
        assert!(self.engine.connection_count() <= 1);
        let stats = self.engine.stats(self.torrent).expect("torrent exists");
        assert!(stats.pieces_done <= stats.pieces_total);
        assert!(stats.bytes_done <= stats.bytes_total);
        assert!(stats.peers <= 1);
        if let Some(out) = self.conn.and_then(|c| self.engine.outbox(c)) {
            assert!(out.len() < OUTBOX_LIMIT, "outbox grew to {}", out.len());
        }
    }

    /// Hands back every outstanding disk job, then lets time run out the connection.
    fn finish(&mut self) {
        while let Some(done) = self.disk.pop_front() {
            self.engine.handle_disk(done, self.now);
            self.drain_actions();
        }
        self.write_out();
        self.now += Duration::from_secs(200);
        self.engine.handle_timeout(self.now);
        self.drain_actions();
        self.check();
    }
}
