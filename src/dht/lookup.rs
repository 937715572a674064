//! One iterative lookup (BEP 5 `find_node` / `get_peers`), and the announce that may follow it.
//!
//! Pure data, owned by the [`Dht`](super::Dht) (reactor thread): it chooses whom to ask next and
//! decides when the search is over; the node sends the queries and feeds back replies, stalls and
//! failures.
//!
//! Candidates are kept sorted by distance to the target, at most [`MAX_CANDIDATES`] per address
//! family. Up to [`ALPHA`] queries are in flight, always to the closest candidates not yet asked
//! among the [`K`] closest still alive. The lookup has converged when those `K` closest (per
//! family) have all answered; it also stops after [`MAX_QUERIES`] queries, so a network of liars
//! handing out ever-new nodes cannot keep it running.

use std::net::SocketAddr;

use super::id::NodeId;
use super::krpc::{Blob, NodeInfo};
use super::table::K;
use super::LookupId;

/// Queries in flight per lookup.
pub const ALPHA: u8 = 3;
/// Candidates kept per address family.
pub const MAX_CANDIDATES: usize = 32;
/// Queries one lookup may send, seeds included.
pub const MAX_QUERIES: u16 = 96;
/// Queries to one node before a silent node counts as failed: one loss in 20 would otherwise
/// drop a tenth of the closest nodes from the result (dht.c also resends).
pub const MAX_TRIES: u8 = 2;
/// Distinct peers remembered per lookup (to report each once).
const MAX_PEERS_SEEN: usize = 512;

/// What a lookup is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Goal {
    /// Find the closest nodes (bootstrap, bucket refresh).
    FindNode,
    /// Find peers.
    // Only `Dht::get_peers` (for tests and simulations) starts a plain peer search.
    #[cfg_attr(not(any(test, feature = "internals")), allow(dead_code))]
    GetPeers,
    /// Find peers, then `announce_peer` to the closest nodes that gave a token.
    Announce {
        /// Port to announce.
        port: u16,
        /// Ask the nodes to use our UDP source port instead.
        implied_port: bool,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cand {
    Fresh,
    Asked,
    /// Asked, no answer after the stall delay: no longer counted as in flight.
    Slow,
    Replied {
        token: Option<Blob>,
    },
    Failed,
}

#[derive(Clone, Copy, Debug)]
struct Candidate {
    info: NodeInfo,
    /// Round trips from our table to this node (0 = from our table).
    hops: u8,
    /// Queries sent to it.
    tries: u8,
    state: Cand,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Searching,
    Announcing { waiting: u8, acked: u8 },
}

/// The outcome of a finished lookup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The closest nodes that answered, closest first (at most `K` per family).
    pub closest: Vec<NodeInfo>,
    /// Nodes that acknowledged our `announce_peer`.
    pub announced_to: usize,
    /// Queries sent during the search (seeds included, announces excluded).
    pub queries: u16,
    /// Sequential round trips the search needed.
    pub rounds: u8,
}

/// One lookup in progress.
#[derive(Clone, Debug)]
pub struct Lookup {
    /// Its handle.
    pub id: LookupId,
    /// The id or info-hash searched for.
    pub target: NodeId,
    /// What it is for.
    pub goal: Goal,
    cands: Vec<Candidate>,
    in_flight: u8,
    /// Queries to nodes outside the candidate list still unanswered, stalled or not: until they
    /// answer or time out, an empty candidate list does not mean the search is over.
    seeds_out: u8,
    queries: u16,
    phase: Phase,
    peers_seen: Vec<SocketAddr>,
}

impl Lookup {
    /// A lookup starting from `seeds` (typically the routing table's closest nodes).
    pub fn new(id: LookupId, target: NodeId, goal: Goal, seeds: &[NodeInfo]) -> Lookup {
        let mut l = Lookup {
            id,
            target,
            goal,
            cands: Vec::new(),
            in_flight: 0,
            seeds_out: 0,
            queries: 0,
            phase: Phase::Searching,
            peers_seen: Vec::new(),
        };
        l.add(seeds, 0);
        l
    }

    /// Adds nodes learned `hops` round trips away; duplicates (by id or address) are ignored.
    pub fn add(&mut self, nodes: &[NodeInfo], hops: u8) {
        for n in nodes {
            if self
                .cands
                .iter()
                .any(|c| c.info.id == n.id || c.info.addr == n.addr)
            {
                continue;
            }
            let v6 = n.addr.is_ipv6();
            let at = self
                .cands
                .partition_point(|c| self.target.cmp_distance(&c.info.id, &n.id).is_lt());
            let same_family = |c: &Candidate| c.info.addr.is_ipv6() == v6;
            if self.cands.iter().filter(|c| same_family(c)).count() >= MAX_CANDIDATES {
                // Full: the new node must beat the farthest of its family, which leaves.
                let Some(far) = self.cands.iter().rposition(same_family) else {
                    continue;
                };
                if at > far {
                    continue;
                }
                self.cands.remove(far);
            }
            let c = Candidate {
                info: *n,
                hops,
                tries: 0,
                state: Cand::Fresh,
            };
            self.cands.insert(at, c);
        }
    }

    /// The `K` closest live candidates of one family.
    fn window(&self, v6: bool) -> impl Iterator<Item = &Candidate> {
        self.cands
            .iter()
            .filter(move |c| c.info.addr.is_ipv6() == v6 && c.state != Cand::Failed)
            .take(K)
    }

    /// The next node to query, if a slot is free and a candidate in the window is unasked.
    pub fn next_query(&mut self) -> Option<NodeInfo> {
        if self.phase != Phase::Searching || self.in_flight >= ALPHA || self.queries >= MAX_QUERIES
        {
            return None;
        }
        let pick = [false, true]
            .into_iter()
            .filter_map(|v6| self.window(v6).find(|c| c.state == Cand::Fresh))
            .min_by(|a, b| self.target.cmp_distance(&a.info.id, &b.info.id))?
            .info;
        let c = self.cands.iter_mut().find(|c| c.info.id == pick.id)?;
        c.state = Cand::Asked;
        c.tries += 1;
        self.count_query();
        Some(pick)
    }

    /// A query went out for this lookup to a node outside the candidate list (a bootstrap
    /// router, or a node given by address only).
    pub fn sent(&mut self) {
        self.seeds_out += 1;
        self.count_query();
    }

    fn count_query(&mut self) {
        self.in_flight += 1;
        self.queries += 1;
    }

    /// `from` answered (`counted`: the query still held an in-flight slot) with a `token` and
    /// `nodes` (already screened by the caller).
    pub fn replied(
        &mut self,
        from: SocketAddr,
        counted: bool,
        token: Option<Blob>,
        nodes: &[NodeInfo],
    ) {
        if counted {
            self.in_flight = self.in_flight.saturating_sub(1);
        }
        let hops = match self.cands.iter_mut().find(|c| c.info.addr == from) {
            Some(c) => {
                c.state = Cand::Replied { token };
                c.hops.saturating_add(1)
            }
            None => {
                self.seeds_out = self.seeds_out.saturating_sub(1);
                1
            }
        };
        self.add(nodes, hops);
    }

    /// A node outside the candidate list (a router) answered with its id and a token: it joins
    /// the candidates as answered, so it can be announced to. libtorrent does the same; in a
    /// small DHT the router may be the only node that stores peers.
    pub fn add_answered(&mut self, node: NodeInfo, token: Option<Blob>) {
        if self.cands.iter().any(|c| c.info.addr == node.addr) {
            return;
        }
        self.add(&[node], 0);
        if let Some(c) = self.cands.iter_mut().find(|c| c.info.addr == node.addr) {
            c.tries = 1;
            c.state = Cand::Replied { token };
        }
    }

    /// The query to `from` is slow: free its slot, keep waiting for the answer.
    pub fn stalled(&mut self, from: SocketAddr) {
        self.in_flight = self.in_flight.saturating_sub(1);
        if let Some(c) = self.cands.iter_mut().find(|c| c.info.addr == from) {
            if c.state == Cand::Asked {
                c.state = Cand::Slow;
            }
        }
    }

    /// The query to `from` failed (timeout, error, or a lying reply).
    pub fn failed(&mut self, from: SocketAddr, counted: bool) {
        if counted {
            self.in_flight = self.in_flight.saturating_sub(1);
        }
        match self.cands.iter_mut().find(|c| c.info.addr == from) {
            Some(c) => c.state = Cand::Failed,
            None => self.seeds_out = self.seeds_out.saturating_sub(1),
        }
    }

    /// The query to `from` got no answer in time: ask again, up to [`MAX_TRIES`] times.
    pub fn timed_out(&mut self, from: SocketAddr, counted: bool) {
        let retry = self.cands.iter_mut().find(|c| c.info.addr == from);
        match retry {
            Some(c) if c.tries < MAX_TRIES && matches!(c.state, Cand::Asked | Cand::Slow) => {
                c.state = Cand::Fresh;
                if counted {
                    self.in_flight = self.in_flight.saturating_sub(1);
                }
            }
            _ => self.failed(from, counted),
        }
    }

    /// Peers not reported by this lookup before (and remembers them, up to a bound).
    pub fn new_peers(&mut self, values: &[SocketAddr]) -> Vec<SocketAddr> {
        let mut fresh = Vec::new();
        for p in values {
            if !self.peers_seen.contains(p) && !fresh.contains(p) {
                fresh.push(*p);
            }
        }
        let room = MAX_PEERS_SEEN.saturating_sub(self.peers_seen.len());
        self.peers_seen.extend(fresh.iter().take(room));
        fresh
    }

    /// Whether the search is over: both windows fully answered (and, unless a window is full,
    /// nothing still in flight that could bring closer nodes), or the query budget spent.
    pub fn converged(&self) -> bool {
        if self.phase != Phase::Searching {
            return false;
        }
        let idle = self.in_flight == 0 && self.seeds_out == 0;
        if self.queries >= MAX_QUERIES && idle {
            return true;
        }
        let settled = |v6| {
            self.window(v6)
                .all(|c| matches!(c.state, Cand::Replied { .. }))
        };
        let full = |v6| self.window(v6).count() == K;
        settled(false) && settled(true) && (idle || full(false) || full(true))
    }

    /// Switches to announcing: the closest answered nodes that gave a token, with their tokens.
    pub fn start_announce(&mut self) -> Vec<(NodeInfo, Blob)> {
        let mut out = Vec::new();
        for v6 in [false, true] {
            for c in self.window(v6) {
                if let Cand::Replied { token: Some(t) } = c.state {
                    out.push((c.info, t));
                }
            }
        }
        self.phase = Phase::Announcing {
            waiting: out.len() as u8,
            acked: 0,
        };
        out
    }

    /// An `announce_peer` was acknowledged (`ok`) or failed.
    pub fn announce_result(&mut self, ok: bool) {
        if let Phase::Announcing { waiting, acked } = &mut self.phase {
            *waiting = waiting.saturating_sub(1);
            *acked += u8::from(ok);
        }
    }

    /// Whether the lookup is finished (converged, and announced if that was the goal).
    pub fn finished(&self) -> bool {
        match self.phase {
            Phase::Searching => self.converged() && !matches!(self.goal, Goal::Announce { .. }),
            Phase::Announcing { waiting, .. } => waiting == 0,
        }
    }

    /// The figures for the `LookupDone` event.
    pub fn outcome(&self) -> Outcome {
        let mut closest = Vec::new();
        let mut rounds = 0;
        for v6 in [false, true] {
            for c in self.window(v6) {
                if let Cand::Replied { .. } = c.state {
                    closest.push(c.info);
                }
            }
        }
        for c in &self.cands {
            if let Cand::Replied { .. } = c.state {
                rounds = rounds.max(c.hops.saturating_add(1));
            }
        }
        let announced_to = match self.phase {
            Phase::Announcing { acked, .. } => usize::from(acked),
            Phase::Searching => 0,
        };
        Outcome {
            closest,
            announced_to,
            queries: self.queries,
            rounds,
        }
    }
}

#[cfg(test)]
#[path = "lookup_tests.rs"]
mod tests;
