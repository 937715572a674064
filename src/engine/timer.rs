//! Timers as data: deadlines kept in tables and ordered sets, so the engine's next wake-up is the
//! earliest real deadline and a wake-up visits only what is due.
//!
//! Sans-IO (reactor thread): times are `Instant`s handed in by the shell; nothing here reads the
//! clock.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

/// A fixed set of named deadlines (index `k` is one kind of timer), each armed or not.
#[derive(Debug, Clone)]
pub(crate) struct TimerTable<const N: usize> {
    at: [Option<Instant>; N],
}

impl<const N: usize> Default for TimerTable<N> {
    fn default() -> Self {
        TimerTable { at: [None; N] }
    }
}

impl<const N: usize> TimerTable<N> {
    /// Arms timer `k` for `at`, replacing any earlier setting.
    pub(crate) fn set(&mut self, k: usize, at: Option<Instant>) {
        self.at[k] = at;
    }

    /// Arms timer `k` for `at` unless it is armed for earlier already.
    pub(crate) fn arm(&mut self, k: usize, at: Instant) {
        match self.at[k] {
            Some(t) if t <= at => {}
            _ => self.at[k] = Some(at),
        }
    }

    /// Whether timer `k` is armed.
    pub(crate) fn is_armed(&self, k: usize) -> bool {
        self.at[k].is_some()
    }

    /// Disarms timer `k` and says whether it was due at `now`.
    pub(crate) fn take_due(&mut self, k: usize, now: Instant) -> bool {
        match self.at[k] {
            Some(t) if t <= now => {
                self.at[k] = None;
                true
            }
            _ => false,
        }
    }

    /// The earliest armed deadline.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.at.iter().flatten().min().copied()
    }
}

/// One deadline per key, ordered by time: the set behind "which peer or torrent is due next".
#[derive(Debug)]
pub(crate) struct Deadlines<K: Ord + Copy> {
    by_time: BTreeSet<(Instant, K)>,
    by_key: BTreeMap<K, Instant>,
}

impl<K: Ord + Copy> Default for Deadlines<K> {
    fn default() -> Self {
        Deadlines {
            by_time: BTreeSet::new(),
            by_key: BTreeMap::new(),
        }
    }
}

impl<K: Ord + Copy> Deadlines<K> {
    /// Sets (or with `None` clears) the deadline of `key`.
    pub(crate) fn set(&mut self, key: K, at: Option<Instant>) {
        if let Some(old) = self.by_key.remove(&key) {
            self.by_time.remove(&(old, key));
        }
        if let Some(at) = at {
            self.by_key.insert(key, at);
            self.by_time.insert((at, key));
        }
    }

    /// The deadline of `key`.
    pub(crate) fn get(&self, key: K) -> Option<Instant> {
        self.by_key.get(&key).copied()
    }

    /// The earliest deadline of all.
    pub(crate) fn first(&self) -> Option<Instant> {
        self.by_time.first().map(|(t, _)| *t)
    }

    /// Removes and returns a key whose deadline is at or before `now`, earliest first.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<K> {
        let &(at, key) = self.by_time.first()?;
        if at > now {
            return None;
        }
        self.by_time.pop_first();
        self.by_key.remove(&key);
        Some(key)
    }

    /// How many keys have a deadline.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.by_key.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn table_arms_the_earliest_and_reports_due_once() {
        let t0 = Instant::now();
        let mut t = TimerTable::<3>::default();
        assert_eq!(t.next(), None);
        t.arm(0, t0 + Duration::from_secs(5));
        t.arm(0, t0 + Duration::from_secs(9));
        t.arm(2, t0 + Duration::from_secs(1));
        assert_eq!(t.next(), Some(t0 + Duration::from_secs(1)));
        assert!(!t.take_due(0, t0 + Duration::from_secs(4)));
        assert!(t.take_due(0, t0 + Duration::from_secs(5)));
        assert!(!t.take_due(0, t0 + Duration::from_secs(6)));
        t.set(2, None);
        assert_eq!(t.next(), None);
    }

    #[test]
    fn deadlines_pop_in_order_and_move_when_reset() {
        let t0 = Instant::now();
        let mut d = Deadlines::<u32>::default();
        d.set(1, Some(t0 + Duration::from_secs(3)));
        d.set(2, Some(t0 + Duration::from_secs(1)));
        d.set(1, Some(t0 + Duration::from_secs(2)));
        assert_eq!(d.len(), 2);
        assert_eq!(d.first(), Some(t0 + Duration::from_secs(1)));
        assert_eq!(d.pop_due(t0), None);
        let later = t0 + Duration::from_secs(5);
        assert_eq!(d.pop_due(later), Some(2));
        assert_eq!(d.pop_due(later), Some(1));
        assert_eq!(d.pop_due(later), None);
        d.set(3, Some(t0));
        d.set(3, None);
        assert_eq!(d.first(), None);
    }
}
