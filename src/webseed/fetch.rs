//! Runs web-seed requests off the reactor thread: the blocking shell of [`super`], and the only
//! `ureq` user besides the tracker client.
//!
//! [`WebFetcher::new`] starts one dispatcher thread; [`WebFetcher::submit`] (called by the
//! reactor) only queues a request and never blocks. The dispatcher runs each request on its own
//! short-lived `coracle-webseed` thread, at most [`FetchConfig::max_in_flight`] at once (the
//! rest wait in order); the torrent core caps the requests per seed. Every request gets exactly
//! one [`WebAnswer`] on the results channel, followed by the wake callback. The agent is shared,
//! so a seed's keep-alive connections are reused between requests.
//!
//! How answers are judged (decided here; libtorrent and aria2 differ, see each point):
//! * `206 Partial Content`: `Content-Range` must name exactly the bytes asked for and the file's
//!   length; the body is read up to the range's length and no further (a longer body is cut off,
//!   a shorter one is [`WebSeedError::Short`]).
//! * `200 OK` to a range request (the server ignores `Range`, or `max_ranges 0` in nginx): the
//!   `Content-Length`, if given, must be the file's length; then, when the range starts within
//!   [`MAX_SKIP`] bytes of the file's start, the bytes before it are read and thrown away, the
//!   range is read, and the connection is dropped: every read is bounded. A range further in is
//!   [`WebSeedError::RangeIgnored`] and the seed backs off. libtorrent rejects every answer
//!   that does not start where it asked (`invalid_range`); reading past a little keeps the small
//!   files of such servers usable at a bounded cost.
//! * Any other status is [`WebSeedError::Http`]; redirects are followed (at most 3).

// I/O shell: the dispatcher and worker threads, blocking HTTP requests and their deadlines.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::io::Read;
use std::time::Duration;

use crossbeam_channel::Sender;

use super::{HttpRange, WebAnswer, WebRequest, WebSeedError};
use crate::jobs::{Job, JobThreads};
use crate::tracker::http::Notify;

/// How far into a file we read past unwanted bytes when a server ignores `Range`.
pub const MAX_SKIP: u64 = 4 * 1024 * 1024;

/// Limits for web-seed requests.
#[derive(Clone, Debug)]
pub struct FetchConfig {
    /// Time to establish the TCP (and TLS) connection.
    pub connect_timeout: Duration,
    /// Time for one range, connection and body included.
    pub timeout: Duration,
    /// Requests running at once over all torrents; further ones wait in order.
    pub max_in_flight: usize,
    /// The `User-Agent` header.
    pub user_agent: String,
}

impl Default for FetchConfig {
    /// 10 s connect, 60 s per range, 16 at once, `coracle/<version>`.
    fn default() -> Self {
        FetchConfig {
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(60),
            max_in_flight: 16,
            user_agent: format!("coracle/{}", env!("CARGO_PKG_VERSION")),
        }
    }
}

/// Handle to the web-seed threads.
pub struct WebFetcher {
    jobs: JobThreads,
    agent: ureq::Agent,
    results: Sender<WebAnswer>,
    notify: Notify,
}

impl WebFetcher {
    /// Starts the dispatcher thread. Answers go to `results`, each followed by `notify()`.
    pub fn new(
        cfg: FetchConfig,
        results: Sender<WebAnswer>,
        notify: Notify,
    ) -> std::io::Result<WebFetcher> {
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(cfg.connect_timeout)
            .timeout(cfg.timeout)
            .redirects(4)
            .user_agent(&cfg.user_agent)
            .build();
        let jobs = JobThreads::start(
            "coracle-webseed-dispatch",
            "coracle-webseed",
            cfg.max_in_flight,
        )?;
        Ok(WebFetcher {
            jobs,
            agent,
            results,
            notify,
        })
    }

    /// Queues a request. Never blocks.
    pub fn submit(&self, req: WebRequest) {
        let (agent, results, notify) = (
            self.agent.clone(),
            self.results.clone(),
            self.notify.clone(),
        );
        let (failed, fail_notify) = (self.results.clone(), self.notify.clone());
        let id = (req.torrent, req.seed, req.job);
        let label = match req.ranges.first() {
            Some(range) => format!("web seed request to {}", range.url),
            None => "web seed request".to_string(),
        };
        let run = move || {
            let result = fetch_all(&agent, &req.ranges);
            deliver(&results, &notify, id, result);
        };
        let fail = move |e: std::io::Error| {
            let err = WebSeedError::Transport(format!("cannot start a thread: {e}"));
            deliver(&failed, &fail_notify, id, Err(err));
        };
        let job = Job {
            label,
            run: Box::new(run),
            fail: Box::new(fail),
        };
        if !self.jobs.submit(job) {
            log::warn!("web seed dispatcher is gone; request dropped");
        }
    }

    /// Stops the dispatcher (queued requests are dropped) and waits for the running ones until
    /// `deadline`: what is still running then, as "web seed request to URL". Those end within
    /// their timeout ([`FetchConfig::timeout`]); their answers are discarded.
    pub fn stop_within(&mut self, deadline: std::time::Instant) -> Vec<String> {
        self.jobs.stop_within(deadline)
    }
}

fn deliver(
    results: &Sender<WebAnswer>,
    notify: &Notify,
    (torrent, seed, job): (usize, usize, u64),
    result: Result<Vec<u8>, WebSeedError>,
) {
    let answer = WebAnswer {
        torrent,
        seed,
        job,
        result,
    };
    if results.send(answer).is_ok() {
        notify();
    }
}

/// Fetches every range in order into one buffer (blocking).
pub fn fetch_all(agent: &ureq::Agent, ranges: &[HttpRange]) -> Result<Vec<u8>, WebSeedError> {
    let total: u64 = ranges.iter().map(|r| r.len).sum();
    let mut body = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
    for r in ranges {
        fetch_range(agent, r, &mut body)?;
    }
    Ok(body)
}

/// Fetches one range, appending exactly `r.len` bytes to `out` (blocking).
fn fetch_range(agent: &ureq::Agent, r: &HttpRange, out: &mut Vec<u8>) -> Result<(), WebSeedError> {
    check_scheme(&r.url)?;
    let last = r.start + r.len.saturating_sub(1);
    let resp = match agent
        .get(&r.url)
        .set("Range", &format!("bytes={}-{last}", r.start))
        .call()
    {
        Ok(resp) => resp,
        Err(ureq::Error::Status(status, _)) => return Err(WebSeedError::Http { status }),
        Err(ureq::Error::Transport(t)) => return Err(transport_error(&t)),
    };
    let skip = bytes_before_range(&resp, r)?;
    let mut reader = resp.into_reader();
    let skipped = std::io::copy(&mut (&mut reader).take(skip), &mut std::io::sink())
        .map_err(|e| io_error(&e))?;
    if skipped < skip {
        return Err(WebSeedError::Short {
            expected: r.start + r.len,
            got: skipped,
        });
    }
    let before = out.len();
    reader
        .take(r.len)
        .read_to_end(out)
        .map_err(|e| io_error(&e))?;
    let got = (out.len() - before) as u64;
    if got < r.len {
        return Err(WebSeedError::Short {
            expected: r.len,
            got,
        });
    }
    Ok(())
}

/// Checks a response's status and lengths against `r`, and says how many body bytes come
/// before the range: none for a `206`, `r.start` for a `200` that ignored `Range`.
fn bytes_before_range(resp: &ureq::Response, r: &HttpRange) -> Result<u64, WebSeedError> {
    let header_len = |name| resp.header(name).and_then(|v| v.trim().parse::<u64>().ok());
    let wrong = |expected, got| WebSeedError::WrongLength { expected, got };
    match resp.status() {
        206 => {
            check_content_range(resp.header("content-range"), r)?;
            match header_len("content-length") {
                Some(n) if n != r.len => Err(wrong(r.len, n)),
                _ => Ok(0),
            }
        }
        200 => match header_len("content-length") {
            Some(n) if n != r.file_len => Err(wrong(r.file_len, n)),
            _ if r.start > MAX_SKIP => Err(WebSeedError::RangeIgnored { start: r.start }),
            _ => Ok(r.start),
        },
        status => Err(WebSeedError::Http { status }),
    }
}

/// `bytes FIRST-LAST/TOTAL` must name exactly `r`, with TOTAL the file's length (or `*`).
fn check_content_range(value: Option<&str>, r: &HttpRange) -> Result<(), WebSeedError> {
    let bad = || WebSeedError::BadContentRange(value.unwrap_or("(none)").to_owned());
    let spec = value.ok_or_else(bad)?.trim();
    let spec = spec.strip_prefix("bytes").ok_or_else(bad)?.trim_start();
    let (range, total) = spec.split_once('/').ok_or_else(bad)?;
    let (first, last) = range.split_once('-').ok_or_else(bad)?;
    let first: u64 = first.trim().parse().map_err(|_| bad())?;
    let last: u64 = last.trim().parse().map_err(|_| bad())?;
    if first != r.start || last + 1 != r.start + r.len {
        return Err(bad());
    }
    match total.trim() {
        "*" => Ok(()),
        t => match t.parse::<u64>() {
            Ok(n) if n == r.file_len => Ok(()),
            Ok(n) => Err(WebSeedError::WrongLength {
                expected: r.file_len,
                got: n,
            }),
            Err(_) => Err(bad()),
        },
    }
}

fn check_scheme(url: &str) -> Result<(), WebSeedError> {
    let scheme = url
        .split_once("://")
        .map(|(s, _)| s.to_ascii_lowercase())
        .unwrap_or_default();
    match scheme.as_str() {
        "http" => Ok(()),
        "https" if cfg!(feature = "tls") => Ok(()),
        _ => Err(WebSeedError::UnsupportedScheme(scheme)),
    }
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
    )
}

fn io_error(e: &std::io::Error) -> WebSeedError {
    if is_timeout(e) {
        WebSeedError::Timeout
    } else {
        WebSeedError::Transport(e.to_string())
    }
}

fn transport_error(t: &ureq::Transport) -> WebSeedError {
    use std::error::Error as _;
    let mut source = t.source();
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if is_timeout(io) {
                return WebSeedError::Timeout;
            }
        }
        source = e.source();
    }
    WebSeedError::Transport(t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(start: u64, len: u64, file_len: u64) -> HttpRange {
        HttpRange {
            url: "http://h/f".into(),
            start,
            len,
            file_len,
        }
    }

    #[test]
    fn content_range_must_name_exactly_our_bytes() {
        let r = range(100, 50, 1000);
        assert_eq!(check_content_range(Some("bytes 100-149/1000"), &r), Ok(()));
        assert_eq!(check_content_range(Some("bytes 100-149/*"), &r), Ok(()));
        assert_eq!(
            check_content_range(Some("bytes 100-149/999"), &r),
            Err(WebSeedError::WrongLength {
                expected: 1000,
                got: 999
            })
        );
        for bad in [
            "bytes 0-149/1000",
            "bytes 100-150/1000",
            "100-149/1000",
            "bytes x-1/2",
        ] {
            assert_eq!(
                check_content_range(Some(bad), &r),
                Err(WebSeedError::BadContentRange(bad.into()))
            );
        }
        assert!(check_content_range(None, &r).is_err());
    }

    #[test]
    fn only_http_schemes_are_fetched() {
        assert_eq!(check_scheme("HTTP://h/x"), Ok(()));
        assert_eq!(
            check_scheme("ftp://h/x"),
            Err(WebSeedError::UnsupportedScheme("ftp".into()))
        );
    }
}
