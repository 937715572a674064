//! Runs HTTP(S) tracker announces off the reactor thread; the only user of `ureq`.
//!
//! [`TrackerClient::new`] starts one dispatcher thread. [`TrackerClient::submit`] (called by the
//! reactor) only queues a job and never blocks. The dispatcher runs each job on its own
//! short-lived worker thread (at most [`TrackerConfig::max_in_flight`] at once; more wait in
//! order), so a dead or slow tracker never delays another tracker or another torrent. Every
//! worker sends exactly one [`AnnounceResult`] on the results channel and then calls the
//! [`Notify`] callback so the reactor wakes up. Each request is bounded by the configured
//! timeouts, redirect limit and body-size limit.
//!
//! `udp://` URLs are announced with BEP 15 (see `udp.rs`) on the same worker threads. `https` URLs
//! need the `tls` feature; without it they fail with [`TrackerError::UnsupportedScheme`], as do
//! other schemes.

// I/O shell: the dispatcher and worker threads, blocking HTTP requests and their deadlines.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::io::Read;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;

use super::announce::{
    announce_url, parse_response, AnnounceEvent, AnnounceRequest, AnnounceResponse, TrackerError,
};
use crate::jobs::{Job, JobThreads};

/// Wakes the reactor after a result was sent (e.g. a `mio::Waker::wake` wrapper).
pub type Notify = Arc<dyn Fn() + Send + Sync>;

/// One announce to perform.
#[derive(Clone, Debug)]
pub struct AnnounceJob {
    /// The caller's torrent id, returned in the result.
    pub torrent: usize,
    /// The tracker's announce URL, as listed in the metainfo.
    pub url: String,
    /// What to announce.
    pub request: AnnounceRequest,
}

/// The outcome of one [`AnnounceJob`].
#[derive(Clone, Debug)]
pub struct AnnounceResult {
    /// The job's torrent id.
    pub torrent: usize,
    /// The job's announce URL (without the query that was added).
    pub url: String,
    /// The event the job announced.
    pub event: AnnounceEvent,
    /// The parsed response or why there is none.
    pub result: Result<AnnounceResponse, TrackerError>,
}

/// Limits for tracker requests.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct TrackerConfig {
    /// Time to establish the TCP (and TLS) connection.
    pub connect_timeout: Duration,
    /// Time for the whole request, connection and body included.
    pub timeout: Duration,
    /// Largest response body accepted, in bytes.
    pub max_body: usize,
    /// Redirects followed before giving up.
    pub max_redirects: u32,
    /// The `User-Agent` header.
    pub user_agent: String,
    /// Announces running at once; further jobs wait in order.
    pub max_in_flight: usize,
}

impl Default for TrackerConfig {
    /// 5 s connect, 15 s total, 1 MiB body, 3 redirects, `coracle/<version>`, 8 in flight.
    fn default() -> Self {
        TrackerConfig {
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(15),
            max_body: 1 << 20,
            max_redirects: 3,
            user_agent: format!("coracle/{}", env!("CARGO_PKG_VERSION")),
            max_in_flight: 8,
        }
    }
}

/// Handle to the tracker threads.
pub struct TrackerClient {
    jobs: JobThreads,
    runner: Runner,
    results: Sender<AnnounceResult>,
    notify: Notify,
    cfg: Arc<TrackerConfig>,
}

/// What a worker needs; cheap to clone.
#[derive(Clone)]
struct Runner {
    agent: ureq::Agent,
    cfg: Arc<TrackerConfig>,
    /// Whole-request limit (also the UDP deadline).
    timeout: Duration,
}

impl TrackerClient {
    /// Starts the client: a dispatcher thread that runs each job on its own short-lived worker
    /// thread (at most e.g. 8 in flight; further jobs wait), so a dead or slow tracker never delays
    /// another tracker or another torrent.
    pub fn new(
        cfg: TrackerConfig,
        results: Sender<AnnounceResult>,
        notify: Notify,
    ) -> std::io::Result<TrackerClient> {
        let cfg = Arc::new(cfg);
        let runner = Runner::new(cfg.clone(), cfg.timeout, cfg.connect_timeout);
        let jobs = JobThreads::start("coracle-tracker", "coracle-announce", cfg.max_in_flight)?;
        Ok(TrackerClient {
            jobs,
            runner,
            results,
            notify,
            cfg,
        })
    }

    /// Never blocks (the reactor calls it).
    pub fn submit(&self, job: AnnounceJob) {
        let (runner, results, notify) = (
            self.runner.clone(),
            self.results.clone(),
            self.notify.clone(),
        );
        let (failed, fail_notify) = (self.results.clone(), self.notify.clone());
        let (torrent, url, event) = (job.torrent, job.url.clone(), job.request.event);
        let label = job_label(&job);
        let run = move || {
            let result = runner.announce(&job.url, &job.request);
            deliver(&results, &notify, job.torrent, job.url, event, result);
        };
        let fail = move |e: std::io::Error| {
            let err = TrackerError::Transport(format!("cannot start a thread: {e}"));
            deliver(&failed, &fail_notify, torrent, url, event, Err(err));
        };
        let job = Job {
            label,
            run: Box::new(run),
            fail: Box::new(fail),
        };
        if !self.jobs.submit(job) {
            log::warn!("tracker dispatcher is gone; announce dropped");
        }
    }

    /// Blocking announce used at shutdown for `stopped` (with its own short timeout), returns when
    /// done or timed out.
    ///
    /// Runs on a helper thread so even a hung DNS lookup cannot hold the caller past `timeout`
    /// (plus a few milliseconds); such a thread is left to finish on its own, listed with the
    /// running announces (see [`Self::stop_within`]). Its connection and request end within
    /// `timeout` too: it never outlives what shutdown gave it but by a DNS lookup.
    pub fn announce_blocking(
        &self,
        job: AnnounceJob,
        timeout: Duration,
    ) -> Result<AnnounceResponse, TrackerError> {
        let connect = self.cfg.connect_timeout.min(timeout);
        let runner = Runner::new(self.cfg.clone(), timeout, connect);
        let (tx, rx) = crossbeam_channel::bounded(1);
        let ticket = self.jobs.running().enter(job_label(&job));
        std::thread::Builder::new()
            .name("coracle-tracker-stop".into())
            .spawn(move || {
                let _ = tx.send(runner.announce(&job.url, &job.request));
                drop(ticket);
            })
            .map_err(|e| TrackerError::Transport(format!("cannot start a thread: {e}")))?;
        rx.recv_timeout(timeout)
            .unwrap_or(Err(TrackerError::Timeout))
    }

    /// Stops the dispatcher (queued announces are dropped) and waits for the running ones, the
    /// `stopped` ones of [`Self::announce_blocking`] included, until `deadline`: what is still
    /// running then, as "announce started to URL". Those end by themselves within their
    /// timeouts ([`TrackerConfig::timeout`]) and hold nothing but their thread.
    pub fn stop_within(&mut self, deadline: Instant) -> Vec<String> {
        self.jobs.stop_within(deadline)
    }
}

/// How a running announce is named in a shutdown report.
fn job_label(job: &AnnounceJob) -> String {
    match job.request.event.as_param() {
        Some(event) => format!("announce {event} to {}", job.url),
        None => format!("announce to {}", job.url),
    }
}

fn deliver(
    results: &Sender<AnnounceResult>,
    notify: &Notify,
    torrent: usize,
    url: String,
    event: AnnounceEvent,
    result: Result<AnnounceResponse, TrackerError>,
) {
    let msg = AnnounceResult {
        torrent,
        url,
        event,
        result,
    };
    if results.send(msg).is_ok() {
        notify();
    }
}

impl Runner {
    fn new(cfg: Arc<TrackerConfig>, timeout: Duration, connect: Duration) -> Runner {
        // ureq counts the final request in its limit: `n` allows n - 1 redirects.
        let redirects = cfg.max_redirects.saturating_add(1);
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(connect)
            .timeout(timeout)
            .redirects(redirects)
            .user_agent(&cfg.user_agent)
            .build();
        Runner {
            agent,
            cfg,
            timeout,
        }
    }

    /// One blocking announce.
    fn announce(
        &self,
        base: &str,
        req: &AnnounceRequest,
    ) -> Result<AnnounceResponse, TrackerError> {
        check_scheme(base)?;
        if base
            .get(..4)
            .is_some_and(|s| s.eq_ignore_ascii_case("udp:"))
        {
            let deadline = Instant::now().checked_add(self.timeout);
            let deadline = deadline.ok_or(TrackerError::Timeout)?;
            return super::udp::announce(base, req, deadline);
        }
        let url = announce_url(base, req);
        match self.agent.get(&url).call() {
            Ok(resp) => {
                let status = resp.status();
                let body = self.read_body(resp)?;
                if (200..300).contains(&status) {
                    parse_response(&body)
                } else {
                    Err(status_error(status, &body))
                }
            }
            Err(ureq::Error::Status(status, resp)) => {
                let body = self.read_body(resp).unwrap_or_default();
                Err(status_error(status, &body))
            }
            Err(ureq::Error::Transport(t)) => Err(self.transport_error(&t)),
        }
    }

    /// Reads the body into a buffer capped at `max_body`.
    fn read_body(&self, resp: ureq::Response) -> Result<Vec<u8>, TrackerError> {
        let limit = self.cfg.max_body;
        let declared = resp
            .header("content-length")
            .and_then(|v| v.trim().parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit as u64) {
            return Err(TrackerError::TooLarge { limit });
        }
        let mut body = Vec::with_capacity(limit.min(64 * 1024));
        let cap = (limit as u64).saturating_add(1);
        resp.into_reader()
            .take(cap)
            .read_to_end(&mut body)
            .map_err(|e| io_error(&e))?;
        if body.len() > limit {
            return Err(TrackerError::TooLarge { limit });
        }
        Ok(body)
    }

    fn transport_error(&self, t: &ureq::Transport) -> TrackerError {
        use std::error::Error as _;
        let mut source = t.source();
        while let Some(e) = source {
            if let Some(io) = e.downcast_ref::<std::io::Error>() {
                if is_timeout(io) {
                    return TrackerError::Timeout;
                }
            }
            source = e.source();
        }
        match t.kind() {
            ureq::ErrorKind::TooManyRedirects => TrackerError::TooManyRedirects {
                limit: self.cfg.max_redirects,
            },
            ureq::ErrorKind::InvalidUrl => TrackerError::InvalidUrl(without_url(t)),
            ureq::ErrorKind::UnknownScheme => TrackerError::UnsupportedScheme(
                t.url().map(|u| u.scheme().to_string()).unwrap_or_default(),
            ),
            _ => TrackerError::Transport(without_url(t)),
        }
    }
}

/// ureq's text for `t` without the URL it starts with: the announce URL's query (info-hash, peer
/// id, key) would fill lines, and the caller names the tracker anyway.
fn without_url(t: &ureq::Transport) -> String {
    let text = t.to_string();
    let url = t.url().map(|u| format!("{u}: ")).unwrap_or_default();
    match text.strip_prefix(&url) {
        Some(rest) if !url.is_empty() => rest.to_string(),
        _ => text,
    }
}

/// A non-2xx answer: the tracker's own `failure reason` if the body has one, else the status.
fn status_error(status: u16, body: &[u8]) -> TrackerError {
    match parse_response(body) {
        Err(TrackerError::Failure(msg)) => TrackerError::Failure(msg),
        _ => TrackerError::Http { status },
    }
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
    )
}

fn io_error(e: &std::io::Error) -> TrackerError {
    if is_timeout(e) {
        TrackerError::Timeout
    } else {
        TrackerError::Transport(e.to_string())
    }
}

/// Refuses URLs this build cannot announce to, before any network activity.
fn check_scheme(url: &str) -> Result<(), TrackerError> {
    let Some((scheme, _)) = url.split_once("://") else {
        return Err(TrackerError::InvalidUrl(format!("'{url}' has no scheme")));
    };
    let scheme = scheme.to_ascii_lowercase();
    match scheme.as_str() {
        "http" => Ok(()),
        "https" if cfg!(feature = "tls") => Ok(()),
        "udp" => Ok(()),
        _ => Err(TrackerError::UnsupportedScheme(scheme)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheme_check() {
        assert_eq!(check_scheme("http://127.0.0.1/a"), Ok(()));
        assert_eq!(check_scheme("HTTP://127.0.0.1/a"), Ok(()));
        assert_eq!(check_scheme("udp://127.0.0.1:1/a"), Ok(()));
        assert_eq!(
            check_scheme("wss://127.0.0.1:1/a"),
            Err(TrackerError::UnsupportedScheme("wss".into()))
        );
        assert_eq!(
            check_scheme("127.0.0.1/a"),
            Err(TrackerError::InvalidUrl(
                "'127.0.0.1/a' has no scheme".into()
            ))
        );
        let https = check_scheme("https://127.0.0.1/a");
        if cfg!(feature = "tls") {
            assert_eq!(https, Ok(()));
        } else {
            assert_eq!(https, Err(TrackerError::UnsupportedScheme("https".into())));
        }
    }

    #[test]
    fn status_error_prefers_failure_reason() {
        assert_eq!(
            status_error(403, b"d14:failure reason6:bannede"),
            TrackerError::Failure("banned".into())
        );
        assert_eq!(
            status_error(500, b"oops"),
            TrackerError::Http { status: 500 }
        );
    }
}
