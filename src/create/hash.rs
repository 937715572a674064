//! Hashing a torrent's pieces: the calling thread reads the files in order into piece buffers,
//! a few worker threads SHA-1 them. Buffers are recycled and capped at two per worker plus one,
//! so memory stays at a few pieces whatever the torrent's size.

// I/O shell for torrent creation: reads files and starts the hashing threads.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crossbeam_channel::{unbounded, Receiver, Sender};
use sha1::{Digest, Sha1};

use super::walk::io_err;
use super::{CreateError, Progress};

/// The files' bytes as one stream, read piece by piece.
struct Stream<'a> {
    files: &'a [(PathBuf, u64)],
    next: usize,
    current: Option<(File, u64, usize)>,
}

impl Stream<'_> {
    /// Fills `buf` completely from the stream (the caller sizes it to the piece).
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), CreateError> {
        let mut at = 0;
        while at < buf.len() {
            let (file, left, index) = match &mut self.current {
                Some(c) if c.1 > 0 => c,
                _ => {
                    let Some((path, len)) = self.files.get(self.next) else {
                        // The lengths add up to the total, so only a bug gets here.
                        let last = self.files.last().map(|f| f.0.clone());
                        return Err(CreateError::Changed(last.unwrap_or_default()));
                    };
                    let f = File::open(path).map_err(|e| io_err(path, "read", e))?;
                    self.current = Some((f, *len, self.next));
                    self.next += 1;
                    self.current.as_mut().expect("just set")
                }
            };
            let want = usize::try_from(*left)
                .unwrap_or(usize::MAX)
                .min(buf.len() - at);
            let path = &self.files[*index].0;
            file.read_exact(&mut buf[at..at + want])
                .map_err(|e| match e.kind() {
                    io::ErrorKind::UnexpectedEof => CreateError::Changed(path.clone()),
                    _ => io_err(path, "read", e),
                })?;
            *left -= want as u64;
            at += want;
        }
        Ok(())
    }
}

/// SHA-1 of every `piece_length` bytes of the files' concatenation (`total` bytes), in order,
/// using `threads` workers. `progress` is called on this thread after each piece.
pub(super) fn hash_pieces(
    files: &[(PathBuf, u64)],
    total: u64,
    piece_length: u32,
    threads: usize,
    progress: &mut dyn FnMut(Progress),
) -> Result<Vec<[u8; 20]>, CreateError> {
    let pieces_total = u32::try_from(total.div_ceil(u64::from(piece_length)))
        .map_err(|_| CreateError::TooManyPieces { pieces: total })?;
    let piece_len = |i: u32| {
        let start = u64::from(i) * u64::from(piece_length);
        (total - start).min(u64::from(piece_length)) as usize
    };
    let threads = threads.max(1);
    let max_buffers = 2 * threads + 1;
    let (job_tx, job_rx) = unbounded::<(u32, Vec<u8>)>();
    let (done_tx, done_rx) = unbounded::<(u32, [u8; 20], Vec<u8>)>();
    let mut hashes = vec![[0u8; 20]; pieces_total as usize];
    let mut stream = Stream {
        files,
        next: 0,
        current: None,
    };
    std::thread::scope(|scope| {
        for n in 0..threads {
            let (rx, tx) = (job_rx.clone(), done_tx.clone());
            let started = std::thread::Builder::new()
                .name(format!("coracle-hash-{n}"))
                .spawn_scoped(scope, move || worker(&rx, &tx));
            if let Err(e) = started {
                // The workers already started end when their queue closes; the scope joins them.
                drop(job_tx);
                return Err(io_err(Path::new("(thread)"), "start a hashing thread", e));
            }
        }
        drop(done_tx);
        let mut state = Collect {
            hashes: &mut hashes,
            done: Progress {
                bytes_done: 0,
                bytes_total: total,
                pieces_done: 0,
                pieces_total,
            },
            progress,
        };
        let mut free: Vec<Vec<u8>> = Vec::new();
        let mut made = 0;
        let mut in_flight = 0usize;
        let result = (|| {
            for i in 0..pieces_total {
                let mut buf = match free.pop() {
                    Some(b) => b,
                    None if made < max_buffers => {
                        made += 1;
                        Vec::with_capacity(piece_length as usize)
                    }
                    None => {
                        let got = done_rx.recv().expect("workers alive while jobs are sent");
                        in_flight -= 1;
                        state.take(got)
                    }
                };
                buf.resize(piece_len(i), 0);
                stream.fill(&mut buf)?;
                job_tx
                    .send((i, buf))
                    .expect("workers alive while jobs are sent");
                in_flight += 1;
                while let Ok(got) = done_rx.try_recv() {
                    in_flight -= 1;
                    free.push(state.take(got));
                }
            }
            Ok(())
        })();
        // Closing the queue lets the workers finish; the scope joins them.
        drop(job_tx);
        for got in done_rx.iter().take(in_flight) {
            state.take(got);
        }
        result
    })?;
    Ok(hashes)
}

/// Hashes whatever arrives until the queue closes.
fn worker(jobs: &Receiver<(u32, Vec<u8>)>, done: &Sender<(u32, [u8; 20], Vec<u8>)>) {
    for (i, buf) in jobs.iter() {
        let digest: [u8; 20] = Sha1::digest(&buf).into();
        if done.send((i, digest, buf)).is_err() {
            return;
        }
    }
}

/// Where finished hashes go.
struct Collect<'a> {
    hashes: &'a mut [[u8; 20]],
    done: Progress,
    progress: &'a mut dyn FnMut(Progress),
}

impl Collect<'_> {
    /// Stores one result, reports progress, and returns the buffer for reuse.
    fn take(&mut self, (i, digest, buf): (u32, [u8; 20], Vec<u8>)) -> Vec<u8> {
        self.hashes[i as usize] = digest;
        self.done.pieces_done += 1;
        self.done.bytes_done += buf.len() as u64;
        (self.progress)(self.done);
        buf
    }
}
