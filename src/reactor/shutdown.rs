//! How a session ends, on the reactor thread: unanswered `completed` announces get their time,
//! `stopped` goes out to every tracker that answered (in parallel, bounded), the pool finishes,
//! each torrent's last checkpoint is written here (the pool has stopped), every file is synced,
//! and the report is the thread's result (`Session::shutdown_timeout`).
//!
//! Runs on the reactor thread, after its loop ended: the one stretch where it blocks.

// I/O shell: scoped threads for the `stopped` announces; the final checkpoints and syncs.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::time::{Duration, Instant};

use super::{Reactor, ShutdownReport, STOP_ANNOUNCE_TIMEOUT};
use crate::engine::{DiskDone, TorrentId, TorrentState};
use crate::tracker::{AnnounceEvent, AnnounceJob};

impl Reactor {
    /// Lets unanswered `completed` announces finish, announces `stopped` for every torrent
    /// that started, flushes storage, joins the threads, and reports what it got done. Every
    /// torrent is flushed even when one fails; the first failure is reported. Announces share
    /// the time the shutdown order gave them (3 s when the session was just dropped).
    pub(super) fn shutdown(mut self) -> ShutdownReport {
        let within = self.stop_order.unwrap_or(STOP_ANNOUNCE_TIMEOUT);
        let start = Instant::now();
        self.completions_settle();
        let mut report = ShutdownReport {
            completed_delivered: self.await_completed(start + within / 2),
            ..ShutdownReport::default()
        };
        let now = Instant::now();
        let ids = self.engine.torrent_ids();
        let stops = self.stop_jobs(&ids);
        if let (Some(saver), Some(state)) = (&mut self.saver, self.engine.dht_state(now)) {
            saver.save_now(&state);
        }
        for (_, mut sock) in self.socks.drain() {
            let _ = self.poll.registry().deregister(&mut sock.stream);
        }
        // Stopped announces run in parallel so one dead tracker costs one timeout, not one each.
        let left = within
            .saturating_sub(start.elapsed())
            .max(Duration::from_millis(100));
        let tracker = &self.tracker;
        let answered = std::thread::scope(|s| {
            let runs: Vec<_> = stops
                .into_iter()
                .map(|job| s.spawn(move || tracker.announce_blocking(job, left).is_ok()))
                .collect();
            runs.into_iter()
                .map(|r| r.join().unwrap_or(false))
                .collect::<Vec<_>>()
        });
        report.stopped_answered = answered.iter().filter(|ok| **ok).count();
        report.stopped_unanswered = answered.len() - report.stopped_answered;
        // Announces and web-seed requests still in flight had the announce time too; a
        // `stopped` one ends with it, so a short grace lets it be seen ending.
        let grace = (within / 6).min(Duration::from_millis(250));
        let threads_deadline = start + within + grace;
        report.jobs_running = self.tracker.stop_within(threads_deadline);
        (report.jobs_running).extend(self.web.stop_within(threads_deadline));
        // The pool finishes its queue first, so the pieces it verifies count in the last
        // checkpoint; the torrents stay until then (their sockets are gone, so nothing new
        // starts).
        self.pool.finish();
        while let Ok(done) = self.disk_results.try_recv() {
            self.answer_resume_waiters(&done);
            self.engine.handle_disk(done, now);
        }
        self.final_checkpoints(&ids);
        for id in ids {
            self.engine.remove_torrent(id, now);
        }
        for shelf in self.shelves.values() {
            if let Err(e) = shelf.storage.flush() {
                log::error!("flushing {} failed: {e}", shelf.meta.name);
                report.sync_error.get_or_insert(e);
            }
        }
        // Link threads finish first: each marks its torrent complete.
        self.links.join();
        let statuses = self.shelves.values().map(|s| &s.status);
        for status in statuses.chain(self.magnets.pending.values().map(|p| &p.status)) {
            if !matches!(
                status.state(),
                Some(TorrentState::Seeding) | Some(TorrentState::Failed(_))
            ) {
                status.set_stopped();
            }
        }
        self.events.close();
        report
    }

    /// The `stopped` announce of every torrent that started.
    fn stop_jobs(&self, ids: &[TorrentId]) -> Vec<AnnounceJob> {
        let mut stops = Vec::new();
        for id in ids {
            if let Some(t) = self.engine.torrent(*id) {
                if let Some(url) = t.stop_announce_url() {
                    let request = t.announce_request(AnnounceEvent::Stopped);
                    stops.push(AnnounceJob {
                        torrent: *id,
                        url,
                        request,
                    });
                }
            }
        }
        stops
    }

    /// Records each torrent's resume state one last time. Runs on this thread because the pool
    /// has stopped and nothing else is left to serve; it is the same work the pool does.
    fn final_checkpoints(&mut self, ids: &[TorrentId]) {
        let mut scratch = Vec::new();
        for &id in ids {
            let (Some(req), Some(shelf)) =
                (self.engine.final_checkpoint(id), self.shelves.get(&id))
            else {
                continue;
            };
            let Some(done) = crate::disk::execute(req, &shelf.disk, &mut scratch) else {
                continue;
            };
            if let DiskDone::Checkpointed { result: Err(e), .. } = &done {
                log::warn!("{}: recording resume state failed: {e}", shelf.meta.name);
            }
            self.answer_resume_waiters(&done);
        }
    }
}
