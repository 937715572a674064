//! Bounded thread-per-job running for the blocking shells (tracker announces, web-seed ranges).
//!
//! [`JobThreads::start`] starts one dispatcher thread. [`JobThreads::submit`] only queues a job
//! and never blocks, so the reactor may call it. The dispatcher runs each job on its own
//! short-lived worker thread, at most `max_in_flight` at once; further jobs wait in order. A slow
//! job (a dead tracker, a stalled web server) therefore delays nobody else, and every job ends
//! within the timeouts its own code sets. A job whose thread cannot start gets its `fail` half
//! called instead, so every job is answered exactly once.
//!
//! Every running job is listed, by its label, in a [`Running`] registry until its thread's work
//! ends, so a shutdown can wait for them up to its deadline and say which are still running
//! ([`JobThreads::stop_within`]); blocking calls cannot be interrupted, only waited for.

// I/O shell: the dispatcher and its worker threads.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};

/// One job: the work to run on a worker thread, and what to do instead if no thread can start.
pub(crate) struct Job {
    /// What it does, for a shutdown report: "announce started to http://…".
    pub label: String,
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

/// The jobs whose threads are running now, by label; shared with those threads.
#[derive(Clone, Default)]
pub(crate) struct Running(Arc<(Mutex<RunningJobs>, Condvar)>);

#[derive(Default)]
struct RunningJobs {
    next: u64,
    labels: BTreeMap<u64, String>,
}

/// A job's place in [`Running`]; dropping it (when the job's work ends, panics included)
/// takes the job off the list.
pub(crate) struct Ticket {
    running: Running,
    id: u64,
}

impl Running {
    /// Lists a job as running until the ticket is dropped.
    pub(crate) fn enter(&self, label: String) -> Ticket {
        let mut jobs = self.lock();
        let id = jobs.next;
        jobs.next += 1;
        jobs.labels.insert(id, label);
        Ticket {
            running: self.clone(),
            id,
        }
    }

    /// Waits until no job runs or `deadline` passes; the labels of the jobs still running, in
    /// the order they started.
    pub(crate) fn wait_until(&self, deadline: Instant) -> Vec<String> {
        let mut jobs = self.lock();
        loop {
            let now = Instant::now();
            if jobs.labels.is_empty() || now >= deadline {
                return jobs.labels.values().cloned().collect();
            }
            let (cvar, wait) = (&self.0 .1, deadline - now);
            jobs = match cvar.wait_timeout(jobs, wait) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RunningJobs> {
        self.0 .0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.running.lock().labels.remove(&self.id);
        self.running.0 .1.notify_all();
    }
}

/// Handle to a dispatcher and its workers. Dropping it stops the dispatcher.
pub(crate) struct JobThreads {
    commands: Sender<Command>,
    dispatcher: Option<JoinHandle<()>>,
    running: Running,
}

impl JobThreads {
    /// Starts the dispatcher thread `name`; workers are named `worker`.
    pub(crate) fn start(
        name: &str,
        worker: &'static str,
        max_in_flight: usize,
    ) -> std::io::Result<JobThreads> {
        let (commands, rx) = crossbeam_channel::unbounded();
        let running = Running::default();
        let dispatcher = Dispatcher {
            registry: running.clone(),
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
            running,
        })
    }

    /// The registry its workers are listed in; other threads doing the same kind of work may
    /// list themselves there too.
    pub(crate) fn running(&self) -> &Running {
        &self.running
    }

    /// Queues a job. Never blocks. False when the dispatcher is gone (the job is dropped).
    pub(crate) fn submit(&self, job: Job) -> bool {
        self.commands.send(Command::Job(job)).is_ok()
    }

    /// Stops the dispatcher (queued jobs are dropped unanswered), then waits for the running
    /// ones until `deadline`: the labels of those still running then, which end by themselves
    /// within their own timeouts.
    pub(crate) fn stop_within(&mut self, deadline: Instant) -> Vec<String> {
        self.stop();
        self.running.wait_until(deadline)
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
    registry: Running,
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
        let ticket = self.registry.enter(job.label);
        let spawned = std::thread::Builder::new()
            .name(self.worker.into())
            .spawn(move || {
                run();
                drop(ticket);
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
                label: format!("job {i}"),
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
            label: "late".into(),
            run: Box::new(|| {}),
            fail: Box::new(|_| {}),
        };
        assert!(!jobs.submit(job), "a stopped dispatcher takes nothing");
    }

    /// A shutdown waits for running jobs up to its deadline and names those still running;
    /// queued ones never start.
    #[test]
    fn stop_within_waits_until_its_deadline_and_names_what_still_runs() {
        let mut jobs = JobThreads::start("test-dispatch", "test-job", 2).unwrap();
        let (release, hold) = crossbeam_channel::unbounded::<()>();
        let (started_tx, started) = crossbeam_channel::unbounded();
        let ran = Arc::new(AtomicUsize::new(0));
        let hangs = |label: &str| {
            let (hold, started_tx, ran) = (hold.clone(), started_tx.clone(), ran.clone());
            Job {
                label: label.into(),
                run: Box::new(move || {
                    ran.fetch_add(1, Ordering::SeqCst);
                    started_tx.send(()).unwrap();
                    let _ = hold.recv();
                }),
                fail: Box::new(|e| panic!("{e}")),
            }
        };
        let quick = Job {
            label: "quick".into(),
            run: Box::new(|| {}),
            fail: Box::new(|e| panic!("{e}")),
        };
        assert!(jobs.submit(quick));
        std::thread::sleep(Duration::from_millis(50));
        for label in ["hangs 1", "hangs 2", "queued"] {
            assert!(jobs.submit(hangs(label)));
        }
        for _ in 0..2 {
            started.recv_timeout(Duration::from_secs(5)).unwrap();
        }
        let begin = Instant::now();
        let left = jobs.stop_within(begin + Duration::from_millis(200));
        let waited = begin.elapsed();
        assert_eq!(left, ["hangs 1", "hangs 2"]);
        assert!(waited >= Duration::from_millis(200), "{waited:?}");
        assert!(waited < Duration::from_secs(2), "{waited:?}");
        // Released, they end, and the list empties at once; the queued job never ran.
        drop(release);
        assert!(jobs
            .running()
            .wait_until(Instant::now() + Duration::from_secs(5))
            .is_empty());
        assert_eq!(ran.load(Ordering::SeqCst), 2);
    }
}
