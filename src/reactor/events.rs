//! Event delivery to the embedding program: one queue per subscriber, so every subscriber sees
//! every event, and state changes are never dropped.
//!
//! The reactor thread publishes (`Hub::publish`, never blocking); subscribers read on their own
//! threads through [`EventReceiver`]. Only progress-like events may be lost: a torrent's
//! `Progress` replaces the one still waiting in a queue (coalescing), and `PeerDropped` and
//! `TrackerTrouble` beyond [`NOISE_LIMIT`] waiting are dropped; both are counted
//! ([`EventReceiver::dropped`]). Checked, metadata received, completed, failed, paused, resumed
//! and removed are always queued: at most a few per torrent, so the queue stays bounded by the
//! torrents the program added.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use crate::engine::{Event, TorrentId};

/// Progress-like events (other than a torrent's latest `Progress`) one queue holds before new
/// ones are dropped and counted.
pub const NOISE_LIMIT: usize = 1024;

/// A callback run on the reactor thread when a subscriber's queue turns non-empty.
type Notify = Arc<dyn Fn() + Send + Sync>;

/// Every subscriber's queue; the reactor publishes into all of them.
#[derive(Default)]
pub(crate) struct Hub {
    subscribers: Mutex<Vec<Weak<Queue>>>,
    closed: Mutex<bool>,
}

impl Hub {
    /// A new subscriber that sees every event published from now on.
    pub fn subscribe(&self, pieces: bool) -> EventReceiver {
        let queue = Arc::new(Queue {
            pieces,
            ..Queue::default()
        });
        let closed = *lock(&self.closed);
        lock(&queue.inner).closed = closed;
        lock(&self.subscribers).push(Arc::downgrade(&queue));
        EventReceiver { queue }
    }

    /// Whether a live subscriber asked for piece (and file) events.
    pub fn wants_pieces(&self) -> bool {
        self.live().iter().any(|q| q.pieces)
    }

    /// Hands `ev` to every live subscriber; forgets the dropped ones. Never blocks on a reader.
    pub fn publish(&self, ev: &Event) {
        for q in self.live() {
            q.push(ev);
        }
    }

    /// The live subscribers, taken out of the lock so that a wake callback may subscribe.
    fn live(&self) -> Vec<Arc<Queue>> {
        let mut subs = lock(&self.subscribers);
        subs.retain(|weak| weak.strong_count() > 0);
        subs.iter().filter_map(Weak::upgrade).collect()
    }

    /// The session ended: readers get what is queued, then `None`.
    pub fn close(&self) {
        *lock(&self.closed) = true;
        for q in self.live() {
            lock(&q.inner).closed = true;
            q.ready.notify_all();
            q.notify();
        }
    }
}

/// One subscriber's queue.
#[derive(Default)]
struct Queue {
    inner: Mutex<Inner>,
    ready: Condvar,
    notify: Mutex<Option<Notify>>,
    /// Whether this subscriber asked for `PieceVerified`.
    pieces: bool,
}

#[derive(Default)]
struct Inner {
    items: VecDeque<Event>,
    /// Sequence number of `items[0]`; each pushed event takes the next one.
    front_seq: usize,
    /// Where each torrent's waiting `Progress` is, by sequence number (a `BTreeMap` of the
    /// engine's key and value types: no new code in the binary).
    progress_at: BTreeMap<TorrentId, usize>,
    /// Droppable events waiting (not counting `Progress`, which coalesces instead).
    noise: usize,
    dropped: u64,
    closed: bool,
}

/// Events that may be dropped when a reader falls behind.
fn is_noise(ev: &Event) -> bool {
    matches!(
        ev,
        Event::PeerDropped { .. }
            | Event::TrackerTrouble { .. }
            | Event::TrackerAnswered { .. }
            | Event::PieceVerified { .. }
            | Event::FileCompleted { .. }
    )
}

impl Queue {
    fn push(&self, ev: &Event) {
        if matches!(
            ev,
            Event::PieceVerified { .. } | Event::FileCompleted { .. }
        ) && !self.pieces
        {
            return;
        }
        let mut q = lock(&self.inner);
        let was_empty = q.items.is_empty();
        if let Event::Progress { torrent, .. } = ev {
            if let Some(&seq) = q.progress_at.get(torrent) {
                let at = seq - q.front_seq;
                q.items[at] = ev.clone();
                q.dropped += 1;
                return;
            }
            let seq = q.front_seq + q.items.len();
            q.progress_at.insert(*torrent, seq);
        } else if is_noise(ev) {
            if q.noise >= NOISE_LIMIT {
                q.dropped += 1;
                return;
            }
            q.noise += 1;
        }
        q.items.push_back(ev.clone());
        drop(q);
        self.ready.notify_all();
        if was_empty {
            self.notify();
        }
    }

    fn pop(q: &mut Inner) -> Option<Event> {
        let ev = q.items.pop_front()?;
        let seq = q.front_seq;
        q.front_seq += 1;
        match &ev {
            Event::Progress { torrent, .. } if q.progress_at.get(torrent) == Some(&seq) => {
                q.progress_at.remove(torrent);
            }
            Event::Progress { .. } => {}
            e if is_noise(e) => q.noise -= 1,
            _ => {}
        }
        Some(ev)
    }

    fn notify(&self) {
        let f = lock(&self.notify).clone();
        if let Some(f) = f {
            f();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Why [`EventReceiver::recv_timeout`] returned no event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecvError {
    /// Nothing arrived in time.
    Timeout,
    /// The session shut down and every queued event was read.
    Closed,
}

/// One subscriber's events, from [`Session::events`](crate::Session::events). Each receiver
/// sees every event published after it was made; receivers do not take events from each other.
///
/// Never lost: `Checked`, `MetadataReceived`, `Completed`, `Failed`, `Paused`, `Resumed`,
/// `Removed`. Coalesced: a torrent's `Progress` replaces its older one still queued. Dropped
/// past 1,024 waiting: `PeerDropped`, `TrackerTrouble`, `TrackerAnswered`, `PieceVerified`,
/// `FileCompleted`. [`Self::dropped`]
/// counts both. `Send + Sync`; dropping it unsubscribes.
pub struct EventReceiver {
    queue: Arc<Queue>,
}

impl std::fmt::Debug for EventReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let q = lock(&self.queue.inner);
        f.debug_struct("EventReceiver")
            .field("queued", &q.items.len())
            .field("dropped", &q.dropped)
            .finish()
    }
}

impl EventReceiver {
    /// The next event, if one is queued now.
    pub fn try_recv(&self) -> Option<Event> {
        Queue::pop(&mut lock(&self.queue.inner))
    }

    /// Blocks for the next event; `None` once the session has shut down and all is read.
    pub fn recv(&self) -> Option<Event> {
        loop {
            match self.recv_timeout(Duration::from_secs(3600)) {
                Ok(ev) => return Some(ev),
                Err(RecvError::Closed) => return None,
                Err(RecvError::Timeout) => {}
            }
        }
    }

    /// Blocks for the next event at most `timeout`.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Event, RecvError> {
        let deadline = Instant::now() + timeout;
        let mut q = lock(&self.queue.inner);
        loop {
            if let Some(ev) = Queue::pop(&mut q) {
                return Ok(ev);
            }
            if q.closed {
                return Err(RecvError::Closed);
            }
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                return Err(RecvError::Timeout);
            };
            q = self
                .queue
                .ready
                .wait_timeout(q, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// The events queued now, without blocking.
    pub fn try_iter(&self) -> impl Iterator<Item = Event> + '_ {
        std::iter::from_fn(|| self.try_recv())
    }

    /// Blocking iterator over the events; ends when the session has shut down.
    pub fn iter(&self) -> impl Iterator<Item = Event> + '_ {
        std::iter::from_fn(|| self.recv())
    }

    /// Events this receiver lost: progress coalesced into a later one, or noise dropped while
    /// the queue was full.
    pub fn dropped(&self) -> u64 {
        lock(&self.queue.inner).dropped
    }

    /// Runs `wake` whenever this queue turns from empty to non-empty (and once at shutdown), so
    /// a GUI or `poll` loop needs no thread of its own: make `wake` post to your loop (or write
    /// to a pipe or eventfd you poll), then drain with [`Self::try_recv`] until `None`. It runs
    /// on coracle's reactor thread, so it must return quickly and must not wait for the session
    /// (a call that needs the reactor's answer, like `stats`, would wait for itself). Called at
    /// once if events are already queued.
    pub fn set_wake(&self, wake: impl Fn() + Send + Sync + 'static) {
        *lock(&self.queue.notify) = Some(Arc::new(wake));
        let queued = {
            let q = lock(&self.queue.inner);
            !q.items.is_empty() || q.closed
        };
        if queued {
            self.queue.notify();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::TorrentStats;

    fn progress(torrent: TorrentId, pieces: u32) -> Event {
        Event::Progress {
            torrent,
            stats: TorrentStats {
                pieces_done: pieces,
                ..TorrentStats::default()
            },
        }
    }

    #[test]
    fn progress_coalesces_state_changes_stay_and_noise_is_bounded() {
        let hub = Hub::default();
        let rx = hub.subscribe(false);
        for i in 0..100 {
            hub.publish(&progress(1, i));
            hub.publish(&progress(2, i));
        }
        hub.publish(&Event::Completed { torrent: 1 });
        for _ in 0..NOISE_LIMIT + 10 {
            hub.publish(&Event::TrackerTrouble {
                torrent: 1,
                url: "u".into(),
                message: "m".into(),
            });
        }
        hub.publish(&progress(1, 500));
        hub.publish(&Event::PieceVerified {
            torrent: 1,
            piece: 3,
        });
        assert_eq!(rx.try_recv(), Some(progress(1, 500)));
        assert_eq!(rx.try_recv(), Some(progress(2, 99)));
        assert_eq!(rx.try_recv(), Some(Event::Completed { torrent: 1 }));
        assert_eq!(rx.dropped(), 99 + 99 + 1 + 10);
        let noise = std::iter::from_fn(|| rx.try_recv()).count();
        assert_eq!(noise, NOISE_LIMIT, "pieces were not asked for");
        // After the old Progress was read, a new one queues again.
        hub.publish(&progress(1, 501));
        assert_eq!(rx.try_recv(), Some(progress(1, 501)));
    }

    #[test]
    fn every_subscriber_sees_every_event_and_wakes() {
        let hub = Hub::default();
        let (a, b) = (hub.subscribe(false), hub.subscribe(true));
        let woken = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let w = woken.clone();
        b.set_wake(move || {
            w.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        });
        hub.publish(&Event::PieceVerified {
            torrent: 1,
            piece: 0,
        });
        hub.publish(&Event::Completed { torrent: 1 });
        assert_eq!(a.try_recv(), Some(Event::Completed { torrent: 1 }));
        assert_eq!(
            b.try_recv(),
            Some(Event::PieceVerified {
                torrent: 1,
                piece: 0
            })
        );
        assert_eq!(b.try_recv(), Some(Event::Completed { torrent: 1 }));
        assert_eq!(
            woken.load(std::sync::atomic::Ordering::SeqCst),
            1,
            "one edge"
        );
        drop(a);
        hub.close();
        assert_eq!(b.recv(), None);
        assert_eq!(b.recv_timeout(Duration::ZERO), Err(RecvError::Closed));
        assert_eq!(hub.subscribers.lock().unwrap().len(), 1, "pruned");
        // A wake callback may subscribe: no lock is held while it runs. It runs at once here
        // (the queue is closed), then on the next event.
        let hub = Arc::new(hub);
        let (h, made) = (hub.clone(), Arc::new(Mutex::new(Vec::new())));
        let m = made.clone();
        b.set_wake(move || m.lock().unwrap().push(h.subscribe(false)));
        hub.publish(&Event::Completed { torrent: 3 });
        assert_eq!(made.lock().unwrap().len(), 2);
    }
}
