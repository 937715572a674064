//! Following one running torrent for the command line: its events and numbers go to the
//! [`Reporter`], and this decides when the run ends (complete, failed, stalled under
//! `--stall-timeout`, or a signal). Runs on the binary's main thread.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use coracle::{Error, EventReceiver, RecvError, TorrentHandle};
use coracle::{Event, TorrentState, TorrentStats};
use crossbeam_channel::{Receiver, RecvTimeoutError, Select};

use super::progress::{self, Reporter};
use super::{magnet, printable, End, RunArgs};

/// The longest the main loop sleeps with nothing to show: completion and failure also arrive
/// as events, and this catches one lost to a full queue.
const SAFETY_NET: Duration = Duration::from_secs(10);

/// The session's events plus a channel its wake callback pokes, so the main loop can wait
/// for an event or a signal in one `Select`.
pub struct EventWait {
    events: EventReceiver,
    ready: Receiver<()>,
}

impl EventWait {
    /// Subscribes the wake callback of `events`.
    pub fn new(events: EventReceiver) -> EventWait {
        let (tx, ready) = crossbeam_channel::bounded(1);
        events.set_wake(move || {
            let _ = tx.try_send(());
        });
        EventWait { events, ready }
    }

    fn queued(&self) -> Result<Event, RecvTimeoutError> {
        match self.events.recv_timeout(Duration::ZERO) {
            Ok(ev) => Ok(ev),
            Err(RecvError::Closed) => Err(RecvTimeoutError::Disconnected),
            Err(RecvError::Timeout) => Err(RecvTimeoutError::Timeout),
        }
    }
}

/// Waits up to `wait` for an event; a signal ends the wait early (the caller reads the flag).
fn next_event(
    events: &EventWait,
    signals: &Receiver<()>,
    wait: Duration,
) -> Result<Event, RecvTimeoutError> {
    if let Ok(ev) = events.queued() {
        return Ok(ev);
    }
    let mut sel = Select::new();
    let on_event = sel.recv(&events.ready);
    sel.recv(signals);
    match sel.select_timeout(wait) {
        Ok(op) if op.index() == on_event => {
            let _ = op.recv(&events.ready);
            events.queued()
        }
        Ok(op) => {
            let _ = op.recv(signals);
            Err(RecvTimeoutError::Timeout)
        }
        Err(_) => Err(RecvTimeoutError::Timeout),
    }
}

/// Follows one torrent: feeds its numbers to the display and decides when the run ends.
pub struct Watch<'a> {
    handle: &'a TorrentHandle,
    args: &'a RunArgs,
    rep: &'a mut Reporter,
    latest: Option<TorrentStats>,
    complete: bool,
    told_incomplete: bool,
    /// When data last arrived (or the download started); `--stall-timeout` counts from it.
    last_data: Instant,
    /// Each tracker's latest answer as shown.
    trackers: Vec<TrackerWord>,
}

impl<'a> Watch<'a> {
    pub fn new(handle: &'a TorrentHandle, args: &'a RunArgs, rep: &'a mut Reporter) -> Self {
        Watch {
            handle,
            args,
            rep,
            latest: None,
            complete: false,
            told_incomplete: false,
            last_data: Instant::now(),
            trackers: Vec::new(),
        }
    }

    /// Loops until the torrent completes (without `--seed`), fails, or `caught` is set. It
    /// sleeps until an event, a signal or the next display refresh: an idle `--quiet` seed
    /// wakes only for the safety net.
    pub fn run(mut self, events: &EventWait, signals: &Receiver<()>, caught: &AtomicBool) -> End {
        loop {
            if caught.load(Ordering::Relaxed) {
                return if self.complete {
                    End::Stopped
                } else {
                    End::Interrupted
                };
            }
            match self.handle.wait_timeout(Duration::ZERO) {
                Ok(()) if !self.complete => {
                    if !self.on_complete() {
                        return End::Complete;
                    }
                }
                Ok(()) | Err(Error::Timeout) => {}
                Err(e) => return End::Failed(e.to_string()),
            }
            let wait = self
                .rep
                .until_due(Instant::now())
                .map_or(SAFETY_NET, |d| d.min(SAFETY_NET))
                .min(self.until_stall());
            match next_event(events, signals, wait) {
                Ok(Event::Progress { torrent, stats }) if torrent == self.handle.id() => {
                    self.update(stats)
                }
                Ok(Event::Checked {
                    torrent,
                    pieces_have,
                    pieces_total,
                }) if torrent == self.handle.id() => self.checked(pieces_have, pieces_total),
                Ok(Event::TrackerAnswered {
                    torrent,
                    url,
                    peers,
                    next_announce,
                }) if torrent == self.handle.id() => self.tracker(url, peers, next_announce),
                Ok(Event::MetadataReceived { torrent }) if torrent == self.handle.id() => {
                    if let Err(end) = self.metadata_received() {
                        return end;
                    }
                }
                Ok(_) | Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    return End::Failed("the session stopped unexpectedly".into())
                }
            }
            if let Some(why) = self.stalled() {
                return End::Failed(why);
            }
            if self.rep.due(Instant::now()) {
                if self.rep.wants_live_stats() {
                    if let Some(s) = self.handle.stats() {
                        self.update(s);
                    }
                }
                if let Some(s) = &self.latest {
                    self.rep.show(s);
                }
            }
        }
    }

    /// Reports completion; returns whether to keep running (seeding).
    fn on_complete(&mut self) -> bool {
        self.complete = true;
        if let Some(s) = self.handle.stats() {
            self.latest = Some(s);
        }
        self.rep
            .completed(self.latest.as_ref(), self.args.keep_seeding);
        self.args.keep_seeding
    }

    /// The check of existing data finished: `seed` says so when pieces are missing.
    fn checked(&mut self, have: u32, total: u32) {
        if self.args.seed_cmd && !self.told_incomplete && have < total {
            self.told_incomplete = true;
            self.rep.say(&format!(
                "data incomplete: {have} of {total} pieces on disk; downloading the rest"
            ));
        }
    }

    /// A magnet's metadata arrived: say what the torrent is, and save it when asked.
    fn metadata_received(&mut self) -> Result<(), End> {
        let Some(meta) = self.handle.metainfo() else {
            return Ok(());
        };
        // A choice that does not fit the torrent: the library created no file.
        let chosen = self.args.select.resolve_for(&meta);
        if let Err(e) = chosen {
            return Err(End::BadSelection(e.to_string()));
        }
        self.rep.set_torrent(&meta.name, meta.total_length);
        self.rep.say(&format!(
            "metadata received: {} ({}, {} pieces)",
            printable(&meta.name),
            progress::size(meta.total_length),
            meta.piece_hashes.len()
        ));
        match &self.args.save_torrent {
            Some(path) => {
                magnet::save_torrent(path, &meta, &self.args.torrent).map_err(End::Failed)
            }
            None => Ok(()),
        }
    }

    /// Takes fresh numbers.
    fn update(&mut self, s: TorrentStats) {
        let fetching = matches!(
            s.state,
            TorrentState::Downloading | TorrentState::FetchingMetadata
        );
        let moved = self
            .latest
            .as_ref()
            .is_some_and(|old| old.downloaded != s.downloaded || old.bytes_done != s.bytes_done);
        if moved || !fetching {
            self.last_data = Instant::now();
        }
        self.latest = Some(s);
    }

    /// How long until `--stall-timeout` would end the run (so a quiet run wakes for it).
    fn until_stall(&self) -> Duration {
        match self.args.stall_timeout {
            Some(limit) if !self.complete => limit.saturating_sub(self.last_data.elapsed()),
            _ => SAFETY_NET,
        }
    }

    /// The reason to give up under `--stall-timeout`: nothing arrived for that long.
    fn stalled(&self) -> Option<String> {
        let limit = self.args.stall_timeout?;
        if self.complete || self.last_data.elapsed() < limit {
            return None;
        }
        let s = self.latest.clone().unwrap_or_default();
        let who = if s.peers == 0 {
            format!(
                "no peer connected ({} known, {} connecting)",
                s.peers_known, s.peers_connecting
            )
        } else {
            format!("{} connected, but none sent data", progress::peers(s.peers))
        };
        Some(format!(
            "stalled: nothing received for {} (--stall-timeout): {who}",
            duration_text(limit)
        ))
    }

    /// A tracker answered: say so when its answer changed, and again when it keeps failing.
    fn tracker(&mut self, url: String, peers: Result<usize, String>, next: Option<Duration>) {
        let shown = url_without_query(&url).to_string();
        let answer = match &peers {
            Ok(n) => progress::peers(*n),
            // The sentence ends here, not before the `; next try` that follows.
            Err(e) => e.strip_suffix('.').unwrap_or(e).to_string(),
        };
        let i = match self.trackers.iter().position(|t| t.url == shown) {
            Some(i) => i,
            None => {
                self.trackers.push(TrackerWord {
                    url: shown.clone(),
                    answer: String::new(),
                    failures: 0,
                });
                self.trackers.len() - 1
            }
        };
        let slot = &mut self.trackers[i];
        let failures = if peers.is_err() { slot.failures + 1 } else { 0 };
        let changed = slot.answer != answer;
        slot.answer = answer.clone();
        slot.failures = failures;
        let when = next.map_or(String::new(), |d| {
            let verb = if failures > 0 {
                "next try"
            } else {
                "next announce"
            };
            format!("; {verb} in {} s", d.as_secs())
        });
        if changed || failures > 1 {
            let again = if failures > 1 {
                format!("failed again ({failures} in a row): ")
            } else {
                String::new()
            };
            self.rep
                .say(&format!("tracker {shown}: {again}{answer}{when}"));
        }
    }
}

/// What a tracker said last, as shown.
struct TrackerWord {
    /// Its URL without the query.
    url: String,
    /// `12 peers`, or the error.
    answer: String,
    /// Failures in a row (0 after an answer).
    failures: u32,
}

/// A tracker URL as shown to people: without the query, which may carry a passkey and fills
/// lines.
fn url_without_query(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or(url)
}

/// A duration as the user would write it for `--stall-timeout`: `30s`, `2.5s`.
fn duration_text(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs.fract() == 0.0 {
        format!("{secs:.0}s")
    } else {
        format!("{secs:.1}s")
    }
}
