//! Bounded thread-per-job running for the blocking shells (tracker announces, web-seed ranges).
//!
//! [`JobThreads::start`] starts one dispatcher thread. [`JobThreads::submit`] only queues a job
//! and never blocks, so the reactor may call it. The dispatcher runs each job on its own
//! short-lived worker thread, at most `max_in_flight` at once; further jobs wait in order. A slow
//! job (a dead tracker, a stalled web server) therefore delays nobody else, and every job ends
//! within the timeouts its own code sets. A job whose thread cannot start gets its `fail` half
//! called instead, so every job is answered exactly once.

// I/O shell: the dispatcher and its worker threads.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::collections::VecDeque;
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};

/// One job: the work to run on a worker thread, and what to do instead if no thread can start.
pub(crate) struct Job {
    /// Runs on the worker thread; answers the job itself.
    pub run: Box<dyn FnOnce() + Send>,
    /// Answers the job when its thread could not be started.
    pub fail: Box<dyn FnOnce(std::io::Error) + Send>,
}

enum Command {
    Job(Job),
    Done,
    Shutdown,
}

/// Handle to a dispatcher and its workers. Dropping it stops the dispatcher.
pub(crate) struct JobThreads {
    commands: Sender<Command>,
    dispatcher: Option<JoinHandle<()>>,
}

impl JobThreads {
    /// Starts the dispatcher thread `name`; workers are named `worker`.
    pub(crate) fn start(
        name: &str,
        worker: &'static str,
        max_in_flight: usize,
    ) -> std::io::Result<JobThreads> {
        let (commands, rx) = crossbeam_channel::unbounded();
        let dispatcher = Dispatcher {
            rx,
            done_tx: commands.clone(),
            worker,
            max_in_flight: max_in_flight.max(1),
            queue: VecDeque::new(),
            running: 0,
        };
        let handle = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || dispatcher.run())?;
        Ok(JobThreads {
            commands,
            dispatcher: Some(handle),
        })
    }

    /// Queues a job. Never blocks. False when the dispatcher is gone (the job is dropped).
    pub(crate) fn submit(&self, job: Job) -> bool {
        self.commands.send(Command::Job(job)).is_ok()
    }

    /// Stops the dispatcher and joins it. Queued jobs are dropped unanswered; running workers
    /// are not waited for (each ends within its own timeout).
    pub(crate) fn stop(&mut self) {
        let _ = self.commands.send(Command::Shutdown);
        if let Some(handle) = self.dispatcher.take() {
            if handle.join().is_err() {
                log::error!("a dispatcher thread panicked");
            }
        }
    }
}

impl Drop for JobThreads {
    fn drop(&mut self) {
        self.stop();
    }
}

struct Dispatcher {
    rx: Receiver<Command>,
    done_tx: Sender<Command>,
    worker: &'static str,
    max_in_flight: usize,
    queue: VecDeque<Job>,
    running: usize,
}

impl Dispatcher {
    fn run(mut self) {
        while let Ok(cmd) = self.rx.recv() {
            match cmd {
                Command::Job(job) => self.queue.push_back(job),
                Command::Done => self.running = self.running.saturating_sub(1),
                Command::Shutdown => break,
            }
            while self.running < self.max_in_flight {
                match self.queue.pop_front() {
                    Some(job) => self.spawn(job),
                    None => break,
                }
            }
        }
        if !self.queue.is_empty() {
            log::debug!(
                "{} shutdown: {} queued jobs dropped",
                self.worker,
                self.queue.len()
            );
        }
    }

    fn spawn(&mut self, job: Job) {
        let done = self.done_tx.clone();
        let run = job.run;
        let spawned = std::thread::Builder::new()
            .name(self.worker.into())
            .spawn(move || {
                run();
                let _ = done.send(Command::Done);
            });
        match spawned {
            Ok(_) => self.running += 1,
            Err(e) => (job.fail)(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn at_most_max_in_flight_run_at_once_and_every_job_runs() {
        let mut jobs = JobThreads::start("test-dispatch", "test-job", 2).unwrap();
        let (running, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (tx, rx) = crossbeam_channel::unbounded();
        for i in 0..6 {
            let (running, peak, tx) = (running.clone(), peak.clone(), tx.clone());
            let run = move || {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(30));
                running.fetch_sub(1, Ordering::SeqCst);
                tx.send(i).unwrap();
            };
            let job = Job {
                run: Box::new(run),
                fail: Box::new(|e| panic!("{e}")),
            };
            assert!(jobs.submit(job));
        }
        let mut done: Vec<i32> = (0..6)
            .map(|_| rx.recv_timeout(Duration::from_secs(5)).unwrap())
            .collect();
        done.sort_unstable();
        assert_eq!(done, [0, 1, 2, 3, 4, 5]);
        assert_eq!(peak.load(Ordering::SeqCst), 2);
        jobs.stop();
        let job = Job {
            run: Box::new(|| {}),
            fail: Box::new(|_| {}),
        };
        assert!(!jobs.submit(job), "a stopped dispatcher takes nothing");
    }
}
