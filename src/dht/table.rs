//! The routing table (BEP 5): k-buckets of nodes that have answered us, for one address family.
//!
//! Pure data, owned by the [`Dht`](super::Dht) on the reactor thread (one table for IPv4, one for
//! IPv6 as BEP 32 asks). It decides who is kept, never sends anything: when a full bucket holds a
//! questionable node, [`Table::replied`] names the node to ping and the caller sends the ping.
//!
//! Rules: a node enters only after it answered one of our queries (a query alone can be spoofed).
//! Buckets hold [`K`] nodes; only the bucket covering our own id splits (libtorrent's layout, so
//! the table stays `O(log n)` sized). A node is good if it answered within 15 minutes (or answered
//! once and queried us within 15 minutes), bad after [`BAD_AFTER`] failed queries in a row, and
//! questionable otherwise. A new node replaces a bad one; else it waits in the bucket's replacement
//! cache while the stalest questionable node is pinged. At most [`MAX_PER_IP`] entries share an IP,
//! so one host cannot fill the table.

use std::mem::size_of;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use super::id::{NodeId, ID_LEN};
use super::krpc::NodeInfo;
use crate::rng::SplitMix64;

/// Nodes per bucket, and the size of every "closest nodes" answer.
pub const K: usize = 8;
/// Silence after which a node becomes questionable and a bucket needs a refresh.
pub const STALE_AFTER: Duration = Duration::from_secs(15 * 60);
/// Failed queries in a row after which a node is bad.
pub const BAD_AFTER: u8 = 2;
/// Most entries with the same IP in one table (libtorrent allows 1; 2 lets two nodes behind one
/// NAT both be known, and still caps what one host can take).
pub const MAX_PER_IP: usize = 2;
/// A questionable node is pinged again (if still questionable) after this long.
const PING_AGAIN: Duration = Duration::from_secs(30);

/// How alive a node looks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeState {
    /// Answered recently.
    Good,
    /// Silent for [`STALE_AFTER`]: worth a ping before being replaced.
    Questionable,
    /// Failed [`BAD_AFTER`] queries in a row: replaced by the next candidate.
    Bad,
}

#[derive(Clone, Debug)]
struct Entry {
    info: NodeInfo,
    last_reply: Instant,
    last_query: Option<Instant>,
    fails: u8,
    pinged: Option<Instant>,
}

impl Entry {
    fn state(&self, now: Instant) -> NodeState {
        let recent = |t: Instant| now.saturating_duration_since(t) < STALE_AFTER;
        if self.fails >= BAD_AFTER {
            NodeState::Bad
        } else if recent(self.last_reply) || self.last_query.is_some_and(recent) {
            NodeState::Good
        } else {
            NodeState::Questionable
        }
    }
}

#[derive(Clone, Debug)]
struct Bucket {
    nodes: Vec<Entry>,
    /// Replacement cache, oldest first; at most [`K`].
    spares: Vec<(NodeInfo, Instant)>,
    changed: Instant,
}

/// What [`Table::replied`] did with a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Insert {
    /// Already in the table: marked alive.
    Updated,
    /// Added to a bucket (maybe in place of a bad node).
    Added,
    /// The bucket is full of live nodes: the node waits in the replacement cache, and `ping` is a
    /// questionable node the caller should ping (if it fails, the node replaces it).
    Parked {
        /// The node to ping, if any is questionable and not pinged recently.
        ping: Option<NodeInfo>,
    },
    /// Refused: our own id, the IP already has [`MAX_PER_IP`] entries, or the id or address
    /// belongs to another live entry.
    Refused,
}

/// One address family's k-buckets.
#[derive(Clone, Debug)]
pub struct Table {
    own: NodeId,
    buckets: Vec<Bucket>,
}

impl Table {
    /// An empty table around our id.
    pub fn new(own: NodeId, now: Instant) -> Table {
        let bucket = Bucket {
            nodes: Vec::new(),
            spares: Vec::new(),
            changed: now,
        };
        Table {
            own,
            buckets: vec![bucket],
        }
    }

    fn index(&self, id: &NodeId) -> usize {
        self.own.common_prefix(id).min(self.buckets.len() - 1)
    }

    fn find(&self, id: &NodeId) -> Option<(usize, usize)> {
        let b = self.index(id);
        let i = self.buckets[b]
            .nodes
            .iter()
            .position(|e| e.info.id == *id)?;
        Some((b, i))
    }

    fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.buckets.iter().flat_map(|b| b.nodes.iter())
    }

    /// Number of nodes in the buckets (replacement caches excluded).
    pub fn len(&self) -> usize {
        self.buckets.iter().map(|b| b.nodes.len()).sum()
    }

    /// Whether the buckets hold no node.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of buckets.
    #[cfg(test)]
    pub fn buckets(&self) -> usize {
        self.buckets.len()
    }

    /// Good and questionable node counts (bad nodes are not counted).
    pub fn counts(&self, now: Instant) -> (usize, usize) {
        self.entries().fold((0, 0), |(g, q), e| match e.state(now) {
            NodeState::Good => (g + 1, q),
            NodeState::Questionable => (g, q + 1),
            NodeState::Bad => (g, q),
        })
    }

    /// The state of node `id`, if it is in a bucket.
    #[cfg(test)]
    pub fn state(&self, id: &NodeId, now: Instant) -> Option<NodeState> {
        let (b, i) = self.find(id)?;
        Some(self.buckets[b].nodes[i].state(now))
    }

    fn ip_count(&self, ip: IpAddr) -> usize {
        self.entries().filter(|e| e.info.addr.ip() == ip).count()
    }

    /// Whether a node we have never heard from would get a slot now: worth pinging it when it
    /// queries us.
    pub fn has_room_for(&self, id: &NodeId, addr: SocketAddr) -> bool {
        let b = self.index(id);
        let bucket = &self.buckets[b];
        let room = bucket.nodes.len() < K || (b + 1 == self.buckets.len() && b < ID_LEN * 8 - 1);
        room && *id != self.own && self.find(id).is_none() && self.ip_count(addr.ip()) < MAX_PER_IP
    }

    /// `node` answered one of our queries: keep it, refresh it, or park it.
    pub fn replied(&mut self, node: NodeInfo, now: Instant) -> Insert {
        if node.id == self.own {
            return Insert::Refused;
        }
        if let Some((b, i)) = self.find(&node.id) {
            return self.refresh_entry(b, i, node.addr, now);
        }
        // An address that already names another live id is not handed a second one.
        let clash = self.entries().find(|e| e.info.addr == node.addr);
        if let Some(old) = clash {
            if old.state(now) != NodeState::Bad {
                return Insert::Refused;
            }
            let old = old.info.id;
            self.remove(&old);
        }
        if self.ip_count(node.addr.ip()) >= MAX_PER_IP {
            return Insert::Refused;
        }
        self.insert_new(node, now)
    }

    fn refresh_entry(&mut self, b: usize, i: usize, addr: SocketAddr, now: Instant) -> Insert {
        let bucket = &mut self.buckets[b];
        let e = &mut bucket.nodes[i];
        if e.info.addr != addr {
            // Another address claims a live id: keep the one we know (it may be spoofed).
            if e.state(now) != NodeState::Bad {
                return Insert::Refused;
            }
            e.info.addr = addr;
        }
        e.last_reply = now;
        e.fails = 0;
        e.pinged = None;
        bucket.changed = now;
        Insert::Updated
    }

    fn insert_new(&mut self, node: NodeInfo, now: Instant) -> Insert {
        loop {
            let b = self.index(&node.id);
            let last = b + 1 == self.buckets.len();
            if self.buckets[b].nodes.len() < K {
                self.push(b, node, now);
                return Insert::Added;
            }
            if last && b < ID_LEN * 8 - 1 {
                self.split();
                continue;
            }
            return self.full_bucket(b, node, now);
        }
    }

    fn push(&mut self, b: usize, node: NodeInfo, now: Instant) {
        let bucket = &mut self.buckets[b];
        bucket.spares.retain(|(s, _)| s.id != node.id);
        bucket.nodes.push(Entry {
            info: node,
            last_reply: now,
            last_query: None,
            fails: 0,
            pinged: None,
        });
        bucket.changed = now;
    }

    fn full_bucket(&mut self, b: usize, node: NodeInfo, now: Instant) -> Insert {
        let bucket = &mut self.buckets[b];
        if let Some(i) = bucket
            .nodes
            .iter()
            .position(|e| e.state(now) == NodeState::Bad)
        {
            bucket.nodes.swap_remove(i);
            self.push(b, node, now);
            return Insert::Added;
        }
        bucket.spares.retain(|(s, _)| s.id != node.id);
        if bucket.spares.len() >= K {
            bucket.spares.remove(0);
        }
        bucket.spares.push((node, now));
        let stalest = bucket
            .nodes
            .iter_mut()
            .filter(|e| e.state(now) == NodeState::Questionable)
            .filter(|e| e.pinged.map_or(true, |t| now >= t + PING_AGAIN))
            .min_by_key(|e| e.last_reply);
        let ping = stalest.map(|e| {
            e.pinged = Some(now);
            e.info
        });
        Insert::Parked { ping }
    }

    /// Splits the last bucket (the one covering our id) in two.
    fn split(&mut self) {
        let i = self.buckets.len() - 1;
        let own = self.own;
        let old = &mut self.buckets[i];
        let deeper = |id: &NodeId| own.common_prefix(id) > i;
        let (far, near): (Vec<Entry>, Vec<Entry>) =
            old.nodes.drain(..).partition(|e| deeper(&e.info.id));
        let (far_spares, near_spares) = old.spares.drain(..).partition(|(s, _)| deeper(&s.id));
        old.nodes = near;
        old.spares = near_spares;
        let changed = old.changed;
        self.buckets.push(Bucket {
            nodes: far,
            spares: far_spares,
            changed,
        });
    }

    /// `id` sent us a query: a known node stays good for another 15 minutes.
    pub fn queried(&mut self, id: &NodeId, addr: SocketAddr, now: Instant) {
        if let Some((b, i)) = self.find(id) {
            let e = &mut self.buckets[b].nodes[i];
            if e.info.addr == addr {
                e.last_query = Some(now);
            }
        }
    }

    /// A query to `id` at `addr` timed out (or got garbage back). A node that turns bad gives its
    /// place to the freshest node of the replacement cache.
    pub fn failed(&mut self, id: &NodeId, addr: SocketAddr, now: Instant) {
        self.strike(id, addr, 1, now);
    }

    /// `id` at `addr` misbehaved (lied about its id, answered nonsense): bad at once.
    pub fn punish(&mut self, id: &NodeId, addr: SocketAddr, now: Instant) {
        self.strike(id, addr, BAD_AFTER, now);
    }

    fn strike(&mut self, id: &NodeId, addr: SocketAddr, n: u8, now: Instant) {
        let b = self.index(id);
        let bucket = &mut self.buckets[b];
        bucket.spares.retain(|(s, _)| s.addr != addr);
        let Some(i) = bucket.nodes.iter().position(|e| e.info.id == *id) else {
            return;
        };
        let e = &mut bucket.nodes[i];
        if e.info.addr != addr {
            return;
        }
        e.fails = e.fails.saturating_add(n);
        if e.state(now) == NodeState::Bad {
            if let Some((spare, seen)) = bucket.spares.pop() {
                bucket.nodes[i] = Entry {
                    info: spare,
                    last_reply: seen,
                    last_query: None,
                    fails: 0,
                    pinged: None,
                };
                bucket.changed = now;
            }
        }
    }

    /// Removes node `id` (and its place in any replacement cache).
    pub fn remove(&mut self, id: &NodeId) {
        let b = self.index(id);
        self.buckets[b].nodes.retain(|e| e.info.id != *id);
        self.buckets[b].spares.retain(|(s, _)| s.id != *id);
    }

    /// Up to `n` non-bad nodes closest to `target`, closest first.
    pub fn closest(&self, target: &NodeId, n: usize) -> Vec<NodeInfo> {
        let mut all: Vec<NodeInfo> = self
            .entries()
            .filter(|e| e.fails < BAD_AFTER)
            .map(|e| e.info)
            .collect();
        let by_distance = |a: &NodeInfo, b: &NodeInfo| target.cmp_distance(&a.id, &b.id);
        if all.len() > n {
            all.select_nth_unstable_by(n, by_distance);
            all.truncate(n);
        }
        all.sort_unstable_by(by_distance);
        all
    }

    /// Good nodes, for saving the table across restarts.
    pub fn good_nodes(&self, now: Instant) -> Vec<NodeInfo> {
        let good = self.entries().filter(|e| e.state(now) == NodeState::Good);
        good.map(|e| e.info).collect()
    }

    /// When the stalest bucket needs a refresh; `None` while the table is empty (a lookup would
    /// have nobody to ask).
    pub fn next_refresh(&self) -> Option<Instant> {
        if self.is_empty() {
            return None;
        }
        let oldest = self.buckets.iter().map(|b| b.changed).min()?;
        Some(oldest + STALE_AFTER)
    }

    /// A random target inside a bucket unchanged for [`STALE_AFTER`], for a refreshing
    /// `find_node` lookup; the bucket counts as refreshed from now.
    pub fn refresh_target(&mut self, now: Instant, rng: &mut SplitMix64) -> Option<NodeId> {
        if self.is_empty() {
            return None;
        }
        let b = self
            .buckets
            .iter()
            .position(|b| now >= b.changed + STALE_AFTER)?;
        self.buckets[b].changed = now;
        Some(self.own.random_in_bucket(b, rng))
    }

    /// Approximate heap bytes held by the table.
    pub fn memory_bytes(&self) -> usize {
        let per_bucket = self.buckets.iter().map(|b| {
            b.nodes.capacity() * size_of::<Entry>()
                + b.spares.capacity() * size_of::<(NodeInfo, Instant)>()
        });
        self.buckets.capacity() * size_of::<Bucket>() + per_bucket.sum::<usize>()
    }
}

#[cfg(test)]
#[path = "table_tests.rs"]
mod tests;
