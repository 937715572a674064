//! A torrent's web seeds and their requests in flight: which blocks each request carries, and
//! the HTTP ranges it becomes.
//!
//! Pure, owned by the torrent core on the reactor thread. The core picks blocks with its picker
//! and hands them here; the answer (one byte string, the ranges in order) is cut back into
//! blocks by [`WebSeeds::blocks_of`].

use std::collections::BTreeMap;

use super::plan::{runs, FileTable, Segment};
use super::seed::Seed;
use super::url::file_url;
use super::{HttpRange, WebRequest};
use crate::layout::BlockRef;

/// One request in flight.
#[derive(Debug)]
pub struct Job {
    /// Index of its seed.
    pub seed: usize,
    /// The blocks it fetches, sorted.
    pub blocks: Vec<BlockRef>,
    /// Each run of adjacent blocks: its stream offset and its segments.
    runs: Vec<(u64, Vec<Segment>)>,
}

/// A torrent's web seeds. See the module documentation.
#[derive(Debug, Default)]
pub struct WebSeeds {
    table: FileTable,
    /// One per `url-list` entry, in order.
    pub seeds: Vec<Seed>,
    jobs: BTreeMap<u64, Job>,
    next_job: u64,
}

impl WebSeeds {
    /// Web seeds at `urls` for a torrent with the files of `table`.
    pub fn new(table: FileTable, urls: &[String]) -> WebSeeds {
        WebSeeds {
            table,
            seeds: urls.iter().map(|u| Seed::new(u.clone())).collect(),
            jobs: BTreeMap::new(),
            next_job: 0,
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.seeds.is_empty()
    }

    /// Whether `seed` has `b` in a request in flight (a binary search per request: the picker
    /// asks this for every block it considers in end-game).
    pub fn in_flight(&self, seed: usize, b: &BlockRef) -> bool {
        self.jobs
            .values()
            .any(|j| j.seed == seed && j.blocks.binary_search(b).is_ok())
    }

    /// Records a request of `blocks` from `seed` (which the caller marked started) and returns
    /// what the shell must fetch. `torrent` and `piece_length` place the blocks.
    pub fn start_job(
        &mut self,
        torrent: usize,
        seed: usize,
        mut blocks: Vec<BlockRef>,
        piece_length: u32,
    ) -> WebRequest {
        blocks.sort_unstable();
        let id = self.next_job;
        self.next_job += 1;
        let runs: Vec<(u64, Vec<Segment>)> = runs(&blocks, piece_length)
            .into_iter()
            .map(|(at, len)| (at, self.table.segments(at, len)))
            .collect();
        let base = &self.seeds[seed].url;
        let mut ranges = Vec::new();
        for seg in runs.iter().flat_map(|(_, s)| s) {
            if let Segment::File { file, offset, len } = seg {
                let f = &self.table.files[*file];
                ranges.push(HttpRange {
                    url: file_url(base, &f.encoded_path, self.table.multi_file),
                    start: *offset,
                    len: *len,
                    file_len: f.length,
                });
            }
        }
        self.jobs.insert(id, Job { seed, blocks, runs });
        WebRequest {
            torrent,
            seed,
            job: id,
            ranges,
        }
    }

    /// Takes a request out of the books (its answer came, or it is abandoned).
    pub fn take_job(&mut self, id: u64) -> Option<Job> {
        self.jobs.remove(&id)
    }

    /// Takes every request in flight (`seed`'s only, when given) out of the books.
    pub fn take_jobs(&mut self, seed: Option<usize>) -> Vec<Job> {
        let ids: Vec<u64> = self
            .jobs
            .iter()
            .filter(|(_, j)| seed.map_or(true, |s| j.seed == s))
            .map(|(id, _)| *id)
            .collect();
        ids.iter().filter_map(|id| self.jobs.remove(id)).collect()
    }

    /// Cuts an answer (the bytes of every range of `job`, in order) into its blocks with their
    /// data; padding is filled with zeros. `None` when the answer has the wrong length.
    pub fn blocks_of(
        &self,
        job: &Job,
        body: &[u8],
        piece_length: u32,
    ) -> Option<Vec<(BlockRef, Vec<u8>)>> {
        let wanted: u64 = job
            .runs
            .iter()
            .flat_map(|(_, s)| s)
            .filter(|s| matches!(s, Segment::File { .. }))
            .map(Segment::len)
            .sum();
        if wanted != body.len() as u64 {
            return None;
        }
        // The runs, rebuilt as stream bytes.
        let mut rest = body;
        let mut streams: Vec<(u64, Vec<u8>)> = Vec::with_capacity(job.runs.len());
        for (at, segs) in &job.runs {
            let mut bytes = Vec::new();
            for s in segs {
                let n = s.len() as usize;
                match s {
                    Segment::File { .. } => {
                        let (head, tail) = rest.split_at(n);
                        bytes.extend_from_slice(head);
                        rest = tail;
                    }
                    Segment::Zeros(_) => bytes.resize(bytes.len() + n, 0),
                }
            }
            streams.push((*at, bytes));
        }
        let mut out = Vec::with_capacity(job.blocks.len());
        for b in &job.blocks {
            let at = u64::from(b.piece) * u64::from(piece_length) + u64::from(b.begin);
            let (start, bytes) = streams.iter().rev().find(|(s, _)| *s <= at)?;
            let from = usize::try_from(at - start).ok()?;
            let data = bytes.get(from..from + b.length as usize)?;
            out.push((*b, data.to_vec()));
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::super::plan::WebFile;
    use super::*;

    fn table() -> FileTable {
        let f = |offset, length, p: &str, padding| WebFile {
            offset,
            length,
            encoded_path: p.into(),
            padding,
        };
        FileTable {
            files: vec![
                f(0, 20000, "t/a%20b", false),
                f(20000, 12768, "t/.pad/12768", true),
                f(32768, 40000, "t/c", false),
            ],
            multi_file: true,
        }
    }

    #[test]
    fn a_request_becomes_ranges_and_its_answer_becomes_blocks() {
        let mut w = WebSeeds::new(table(), &["http://h/s/".to_string()]);
        let b = |piece, begin, length| BlockRef {
            piece,
            begin,
            length,
        };
        // Piece 0 (32 KiB: a, then padding) and the first block of piece 1 (c).
        let blocks = vec![b(0, 0, 16384), b(0, 16384, 16384), b(1, 0, 16384)];
        let req = w.start_job(7, 0, blocks.clone(), 32768);
        let urls: Vec<(&str, u64, u64, u64)> = req
            .ranges
            .iter()
            .map(|r| (r.url.as_str(), r.start, r.len, r.file_len))
            .collect();
        assert_eq!(
            urls,
            vec![
                ("http://h/s/t/a%20b", 0, 20000, 20000),
                ("http://h/s/t/c", 0, 16384, 40000)
            ]
        );
        assert!(w.in_flight(0, &blocks[2]));
        let job = w.take_job(req.job).unwrap();
        let body: Vec<u8> = (0..36384u32).map(|i| (i % 251) as u8 + 1).collect();
        assert!(
            w.blocks_of(&job, &body[1..], 32768).is_none(),
            "short answer"
        );
        let got = w.blocks_of(&job, &body, 32768).unwrap();
        assert_eq!(got[0].1, body[..16384]);
        assert_eq!(got[1].1[..3616], body[16384..20000]);
        assert!(got[1].1[3616..].iter().all(|&z| z == 0), "padding is zeros");
        assert_eq!(got[2].1, body[20000..]);
    }
}
