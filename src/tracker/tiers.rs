//! One torrent's tracker list (BEP 12 tiers) and its announce schedule, sans-IO.
//!
//! Owned by the reactor thread, one per torrent. It decides *which* URL to announce to and
//! *when*; it never sends anything, never spawns a thread and never reads the clock: every method
//! that needs the time takes `now` from the caller. At most one announce per list is in flight.
//!
//! Schedule: the first announce is due at once; after a success the next is due `interval` later
//! (never sooner than `min interval`); after a failure the next URL (rest of the tier, then the
//! next tiers) is tried at once; when every URL has failed, the list waits with exponential backoff
//! (15 s doubling to 30 min) and starts again from the first tier. A success resets the backoff
//! and moves the URL to the front of its tier.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use super::announce::AnnounceResponse;
use crate::rng::SplitMix64;

/// Interval used when the tracker does not send one.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30 * 60);
/// Shortest interval honoured, whatever the tracker says (protects trackers from a bad `0`).
pub const MIN_INTERVAL_FLOOR: Duration = Duration::from_secs(60);
/// Longest interval honoured (keeps a hostile value from parking the torrent for years).
pub const MAX_INTERVAL: Duration = Duration::from_secs(24 * 60 * 60);
/// Wait after the first round in which every URL failed.
pub const BACKOFF_START: Duration = Duration::from_secs(15);
/// Longest wait between failed rounds.
pub const BACKOFF_CAP: Duration = Duration::from_secs(30 * 60);

/// A torrent's trackers, in BEP 12 tiers, with their announce schedule.
#[derive(Clone, Debug)]
pub struct TrackerList {
    /// The URL that answered last: where `stopped` goes.
    answered: Option<String>,
    tiers: Vec<Vec<String>>,
    /// Next URL to try, as (tier, index).
    cursor: (usize, usize),
    /// URL of the announce in flight.
    in_flight: Option<String>,
    /// When the next announce is due; `None` means at once.
    due_at: Option<Instant>,
    forced: bool,
    /// Consecutive rounds in which every URL failed.
    failed_rounds: u32,
    tracker_id: Option<Vec<u8>>,
    /// The latest `now` any method was given, to report an immediate deadline.
    last_now: Option<Instant>,
}

impl TrackerList {
    /// Tiers as in the metainfo; shuffle within each tier with the given seed (BEP 12),
    /// deterministic per seed.
    ///
    /// Empty URLs, empty tiers and URLs already listed in an earlier place are dropped.
    pub fn new(tiers: Vec<Vec<String>>, seed: u64) -> TrackerList {
        let mut seen = HashSet::new();
        let mut rng = SplitMix64(seed);
        let tiers = tiers
            .into_iter()
            .map(|tier| {
                let mut tier: Vec<String> = tier
                    .into_iter()
                    .filter(|u| !u.is_empty() && seen.insert(u.clone()))
                    .collect();
                rng.shuffle(&mut tier);
                tier
            })
            .filter(|tier| !tier.is_empty())
            .collect();
        TrackerList {
            tiers,
            cursor: (0, 0),
            in_flight: None,
            due_at: None,
            forced: false,
            failed_rounds: 0,
            tracker_id: None,
            last_now: None,
            answered: None,
        }
    }

    /// The URL to announce to now, if an announce is due (first one immediately; then every
    /// `interval` from the last success, never sooner than `min_interval`; after a failure the
    /// next URL in the tier/next tier is tried immediately, and once every URL failed, retry with
    /// exponential backoff: 15 s doubling to a 30-minute cap; reset on success). Returns None if
    /// nothing is due or an announce is in flight.
    ///
    /// A returned URL is in flight until [`on_success`](Self::on_success) or
    /// [`on_failure`](Self::on_failure) is called with it.
    pub fn poll_due(&mut self, now: Instant) -> Option<String> {
        self.last_now = Some(now);
        if self.in_flight.is_some() {
            return None;
        }
        let due = self.forced || self.due_at.map_or(true, |at| now >= at);
        if !due {
            return None;
        }
        let url = self.url_at(self.cursor)?.to_string();
        self.forced = false;
        self.in_flight = Some(url.clone());
        Some(url)
    }

    /// Records a successful announce to `url`: moves it to the front of its tier (BEP 12), stores
    /// the tracker id, schedules the next announce after `max(interval, min_interval)` (interval
    /// defaults to 30 min and is clamped to 1 min ..= 24 h) and resets the backoff.
    /// A call for a URL that is not in flight is ignored.
    pub fn on_success(&mut self, url: &str, resp: &AnnounceResponse, now: Instant) {
        self.last_now = Some(now);
        if !self.take_in_flight(url) {
            return;
        }
        if let Some((t, i)) = self.position(url) {
            if let Some(tier) = self.tiers.get_mut(t) {
                let u = tier.remove(i);
                tier.insert(0, u);
            }
        }
        self.answered = Some(url.to_string());
        if let Some(id) = &resp.tracker_id {
            self.tracker_id = Some(id.clone());
        }
        let secs = |s: Option<u32>| s.map(|s| Duration::from_secs(u64::from(s)));
        let interval = secs(resp.interval).unwrap_or(DEFAULT_INTERVAL);
        let wait = interval
            .max(secs(resp.min_interval).unwrap_or(Duration::ZERO))
            .clamp(MIN_INTERVAL_FLOOR, MAX_INTERVAL);
        self.due_at = Some(now.checked_add(wait).unwrap_or(now));
        self.cursor = (0, 0);
        self.failed_rounds = 0;
    }

    /// Records a failed announce to `url`: the next URL is due at once, or, when every URL of
    /// this round has failed, the first URL is due after the backoff.
    /// A call for a URL that is not in flight is ignored.
    pub fn on_failure(&mut self, url: &str, now: Instant) {
        self.last_now = Some(now);
        if !self.take_in_flight(url) {
            return;
        }
        let (t, i) = self.position(url).unwrap_or(self.cursor);
        let next = if self.url_at((t, i + 1)).is_some() {
            Some((t, i + 1))
        } else if self.url_at((t + 1, 0)).is_some() {
            Some((t + 1, 0))
        } else {
            None
        };
        match next {
            Some(pos) => {
                self.cursor = pos;
                self.due_at = Some(now);
            }
            None => {
                self.cursor = (0, 0);
                self.failed_rounds = self.failed_rounds.saturating_add(1);
                let wait = backoff(self.failed_rounds);
                self.due_at = Some(now.checked_add(wait).unwrap_or(now));
            }
        }
    }

    /// When a forced event must go out (Completed, Stopped): makes an announce due now regardless
    /// of interval. If an announce is in flight, the forced one is due as soon as it ends.
    pub fn force(&mut self) {
        self.forced = true;
    }

    /// When [`poll_due`](Self::poll_due) will next return a URL, for the reactor's timer; `None`
    /// while an announce is in flight or the list is empty. An announce due at once reports the
    /// latest `now` seen (a new, never-polled list reports `None`: poll it right away).
    pub fn next_deadline(&self) -> Option<Instant> {
        if self.in_flight.is_some() || self.tiers.is_empty() {
            return None;
        }
        if self.forced {
            return self.last_now;
        }
        self.due_at.or(self.last_now)
    }

    /// The `tracker id` from the latest response that carried one.
    pub fn tracker_id(&self) -> Option<&[u8]> {
        self.tracker_id.as_deref()
    }

    /// The tracker that answered last, if any: where a `stopped` announce should go.
    pub fn answered(&self) -> Option<&str> {
        self.answered.as_deref()
    }

    /// True when the torrent has no usable tracker URL.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.tiers.is_empty()
    }

    /// The tiers in their current order (after shuffling and promotions).
    pub fn tiers(&self) -> &[Vec<String>] {
        &self.tiers
    }

    fn take_in_flight(&mut self, url: &str) -> bool {
        if self.in_flight.as_deref() == Some(url) {
            self.in_flight = None;
            true
        } else {
            log::debug!("tracker result for {url}, which is not in flight: ignored");
            false
        }
    }

    fn url_at(&self, (t, i): (usize, usize)) -> Option<&str> {
        self.tiers.get(t)?.get(i).map(String::as_str)
    }

    fn position(&self, url: &str) -> Option<(usize, usize)> {
        self.tiers
            .iter()
            .enumerate()
            .find_map(|(t, tier)| tier.iter().position(|u| u == url).map(|i| (t, i)))
    }
}

/// Wait after `rounds` (≥ 1) consecutive failed rounds: 15 s, 30 s, 60 s, … capped at 30 min.
fn backoff(rounds: u32) -> Duration {
    let shift = rounds.saturating_sub(1).min(16);
    BACKOFF_START.saturating_mul(1u32 << shift).min(BACKOFF_CAP)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    fn ok(interval: Option<u32>, min: Option<u32>) -> AnnounceResponse {
        AnnounceResponse {
            interval,
            min_interval: min,
            tracker_id: None,
            warning: None,
            peers: vec![],
            complete: None,
            incomplete: None,
        }
    }

    #[test]
    fn shuffle_is_deterministic_and_keeps_every_url() {
        let tiers = vec![s(&["a", "b", "c", "d", "e"]), s(&["f"])];
        let one = TrackerList::new(tiers.clone(), 7);
        assert_eq!(one.tiers(), TrackerList::new(tiers.clone(), 7).tiers());
        let mut first = one.tiers()[0].clone();
        first.sort();
        assert_eq!(first, s(&["a", "b", "c", "d", "e"]));
        assert_eq!(one.tiers()[1], s(&["f"]));
        let orders: HashSet<Vec<String>> = (0..20)
            .map(|seed| TrackerList::new(tiers.clone(), seed).tiers()[0].clone())
            .collect();
        assert!(orders.len() > 1, "different seeds give different orders");
    }

    #[test]
    fn drops_empty_and_duplicate_urls() {
        let l = TrackerList::new(vec![s(&["a", ""]), s(&["a"]), vec![], s(&["b"])], 1);
        assert_eq!(l.tiers(), &[s(&["a"]), s(&["b"])]);
        let empty = TrackerList::new(vec![s(&[""])], 1);
        assert!(empty.is_empty());
        let mut empty = empty;
        assert_eq!(empty.poll_due(Instant::now()), None);
        assert_eq!(empty.next_deadline(), None);
    }

    #[test]
    fn first_due_at_once_then_in_flight_blocks() {
        let t0 = Instant::now();
        let mut l = TrackerList::new(vec![s(&["a"])], 1);
        assert_eq!(l.poll_due(t0).as_deref(), Some("a"));
        assert_eq!(l.poll_due(t0), None);
        assert_eq!(l.next_deadline(), None);
    }

    #[test]
    fn promotion_within_tier_and_fallback_to_next_tier() {
        let t0 = Instant::now();
        let mut l = TrackerList::new(vec![s(&["a", "b"]), s(&["c"])], 3);
        let order = l.tiers()[0].clone();
        let (x, y) = (order[0].clone(), order[1].clone());
        assert_eq!(l.poll_due(t0), Some(x.clone()));
        l.on_failure(&x, t0);
        assert_eq!(l.next_deadline(), Some(t0));
        assert_eq!(l.poll_due(t0), Some(y.clone()));
        l.on_success(&y, &ok(Some(100), None), t0);
        assert_eq!(l.tiers(), &[vec![y.clone(), x.clone()], s(&["c"])]);
        // Next round starts with the promoted URL; both of tier 0 fail -> tier 1.
        let t1 = t0 + Duration::from_secs(100);
        assert_eq!(l.poll_due(t1), Some(y.clone()));
        l.on_failure(&y, t1);
        assert_eq!(l.poll_due(t1), Some(x.clone()));
        l.on_failure(&x, t1);
        assert_eq!(l.poll_due(t1).as_deref(), Some("c"));
        l.on_success("c", &ok(None, None), t1);
        assert_eq!(l.tiers(), &[vec![y.clone(), x], s(&["c"])]);
        assert_eq!(l.next_deadline(), Some(t1 + DEFAULT_INTERVAL));
        assert_eq!(l.poll_due(t1 + DEFAULT_INTERVAL), Some(y));
    }

    #[test]
    fn backoff_doubles_to_cap_and_resets_on_success() {
        let mut now = Instant::now();
        let mut l = TrackerList::new(vec![s(&["a"]), s(&["b"])], 0);
        let mut waits = Vec::new();
        for _ in 0..10 {
            assert_eq!(l.poll_due(now).as_deref(), Some("a"));
            l.on_failure("a", now);
            assert_eq!(l.poll_due(now).as_deref(), Some("b"));
            l.on_failure("b", now);
            let due = l.next_deadline().unwrap();
            waits.push(due.duration_since(now).as_secs());
            assert_eq!(l.poll_due(due - Duration::from_millis(1)), None);
            now = due;
        }
        assert_eq!(waits, [15, 30, 60, 120, 240, 480, 960, 1800, 1800, 1800]);
        assert_eq!(l.poll_due(now).as_deref(), Some("a"));
        l.on_success("a", &ok(Some(120), None), now);
        now += Duration::from_secs(120);
        assert_eq!(l.poll_due(now).as_deref(), Some("a"));
        l.on_failure("a", now);
        assert_eq!(l.poll_due(now).as_deref(), Some("b"));
        l.on_failure("b", now);
        assert_eq!(l.next_deadline(), Some(now + BACKOFF_START));
    }

    #[test]
    fn interval_and_min_interval_respected() {
        let t0 = Instant::now();
        let mut l = TrackerList::new(vec![s(&["a"])], 0);
        l.poll_due(t0);
        l.on_success("a", &ok(Some(300), Some(600)), t0);
        assert_eq!(l.next_deadline(), Some(t0 + Duration::from_secs(600)));
        assert_eq!(l.poll_due(t0 + Duration::from_secs(599)), None);
        assert_eq!(
            l.poll_due(t0 + Duration::from_secs(600)).as_deref(),
            Some("a")
        );
        l.on_success("a", &ok(Some(900), Some(60)), t0);
        assert_eq!(l.next_deadline(), Some(t0 + Duration::from_secs(900)));
        l.poll_due(t0 + Duration::from_secs(900));
        l.on_success("a", &ok(Some(0), None), t0);
        assert_eq!(l.next_deadline(), Some(t0 + MIN_INTERVAL_FLOOR));
        l.poll_due(t0 + MIN_INTERVAL_FLOOR);
        l.on_success("a", &ok(Some(u32::MAX), None), t0);
        assert_eq!(l.next_deadline(), Some(t0 + MAX_INTERVAL));
    }

    #[test]
    fn force_overrides_interval_and_waits_for_in_flight() {
        let t0 = Instant::now();
        let mut l = TrackerList::new(vec![s(&["a"])], 0);
        assert_eq!(l.poll_due(t0).as_deref(), Some("a"));
        l.force();
        assert_eq!(l.poll_due(t0), None, "in flight");
        l.on_success("a", &ok(Some(1800), None), t0);
        assert_eq!(l.next_deadline(), Some(t0));
        assert_eq!(l.poll_due(t0).as_deref(), Some("a"));
        l.on_success("a", &ok(Some(1800), None), t0);
        assert_eq!(l.poll_due(t0 + Duration::from_secs(5)), None);
        l.force();
        assert_eq!(
            l.poll_due(t0 + Duration::from_secs(5)).as_deref(),
            Some("a")
        );
    }

    #[test]
    fn tracker_id_kept_and_stale_results_ignored() {
        let t0 = Instant::now();
        let mut l = TrackerList::new(vec![s(&["a", "b"])], 0);
        let first = l.poll_due(t0).unwrap();
        let mut r = ok(Some(100), None);
        r.tracker_id = Some(b"xyz".to_vec());
        l.on_success("nope", &r, t0);
        l.on_failure("nope", t0);
        assert_eq!(l.tracker_id(), None);
        assert_eq!(l.poll_due(t0), None, "still in flight");
        l.on_success(&first, &r, t0);
        assert_eq!(l.tracker_id(), Some(&b"xyz"[..]));
        l.on_success(&first, &ok(Some(100), None), t0);
        assert_eq!(l.tracker_id(), Some(&b"xyz"[..]));
    }
}

#[cfg(test)]
mod answered_tests {
    use super::*;

    #[test]
    fn answered_names_the_tracker_that_answered_last() {
        let now = Instant::now();
        let mut l = TrackerList::new(
            vec![vec!["http://bad".into()], vec!["http://good".into()]],
            1,
        );
        assert_eq!(l.poll_due(now).as_deref(), Some("http://bad"));
        l.on_failure("http://bad", now);
        assert_eq!(l.poll_due(now).as_deref(), Some("http://good"));
        l.on_success("http://good", &AnnounceResponse::default(), now);
        assert_eq!(l.answered(), Some("http://good"));
        l.force();
        assert_eq!(l.poll_due(now).as_deref(), Some("http://bad"));
        l.on_failure("http://bad", now);
        assert_eq!(l.answered(), Some("http://good"));
    }
}
