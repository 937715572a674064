//! When a torrent announces to its trackers and with which event: the BEP 12 tier list and one
//! announce at a time, `started` first, `completed` once when the download finishes.
//!
//! Part of the sans-IO torrent core (reactor thread). It decides; the torrent builds the request
//! from its numbers and the shell carries it out on a tracker thread.

use std::time::Instant;

use crate::tracker::{AnnounceEvent, AnnounceResponse, TrackerList};

/// Whether an announce is out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AnnounceState {
    /// None in flight; the tier list says when the next is due.
    Idle,
    /// One is out, carrying this event.
    InFlight(AnnounceEvent),
}

/// The announce schedule of one torrent. See the module documentation.
#[derive(Debug)]
pub(crate) struct Announcer {
    trackers: TrackerList,
    state: AnnounceState,
    /// A tracker has acknowledged `started`.
    started: bool,
    /// `completed` is owed to the trackers.
    completed_owed: bool,
}

impl Announcer {
    /// A schedule over BEP 12 tiers, shuffled with `seed`.
    pub(crate) fn new(tiers: Vec<Vec<String>>, seed: u64) -> Announcer {
        Announcer {
            trackers: TrackerList::new(tiers, seed),
            state: AnnounceState::Idle,
            started: false,
            completed_owed: false,
        }
    }

    /// The URL and event of the announce due at `now`, if one is; it is then in flight until
    /// [`Self::on_answer`].
    pub(crate) fn poll_due(&mut self, now: Instant) -> Option<(String, AnnounceEvent)> {
        if self.state != AnnounceState::Idle {
            return None;
        }
        let url = self.trackers.poll_due(now)?;
        let event = self.next_event();
        self.state = AnnounceState::InFlight(event);
        Some((url, event))
    }

    /// When the next announce is due (none while one is in flight: its answer decides).
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        match self.state {
            AnnounceState::Idle => self.trackers.next_deadline(),
            AnnounceState::InFlight(_) => None,
        }
    }

    /// The tracker at `url` answered.
    pub(crate) fn on_success(&mut self, url: &str, resp: &AnnounceResponse, now: Instant) {
        self.trackers.on_success(url, resp, now);
        match std::mem::replace(&mut self.state, AnnounceState::Idle) {
            AnnounceState::InFlight(AnnounceEvent::Started) => self.started = true,
            AnnounceState::InFlight(AnnounceEvent::Completed) => self.completed_owed = false,
            _ => {}
        }
    }

    /// The tracker at `url` failed: the next one is tried, with backoff once all failed.
    pub(crate) fn on_failure(&mut self, url: &str, now: Instant) {
        self.trackers.on_failure(url, now);
        self.state = AnnounceState::Idle;
    }

    /// The download finished: `completed` goes out now.
    pub(crate) fn completed(&mut self) {
        self.completed_owed = true;
        self.trackers.force();
    }

    /// The event the next announce carries.
    pub(crate) fn next_event(&self) -> AnnounceEvent {
        if !self.started {
            AnnounceEvent::Started
        } else if self.completed_owed {
            AnnounceEvent::Completed
        } else {
            AnnounceEvent::None
        }
    }

    /// The tracker id the last answer gave us, to send back.
    pub(crate) fn tracker_id(&self) -> Option<&[u8]> {
        self.trackers.tracker_id()
    }

    /// Where to send `stopped`: the tracker that answered last (the one that knows us).
    pub(crate) fn tiers(&self) -> &[Vec<String>] {
        self.trackers.tiers()
    }

    pub(crate) fn stop_url(&self) -> Option<&str> {
        self.trackers.answered()
    }
}
