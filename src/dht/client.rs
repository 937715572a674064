//! The querying side of the node: sending queries, matching answers, running lookups,
//! bootstrapping and refreshing buckets.
//!
//! Part of [`Dht`]; like it, sans-IO, on the reactor thread. Every answer is checked before it is
//! believed: it must match a query we sent (transaction id and address), come from the id we asked
//! (when we knew it), not claim our own id, and pass BEP 42 when enforced. A node failing these
//! checks is struck from the table at once and its answer counts as a failure for the lookup.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::krpc::{Blob, Body, Message, NodeInfo, Query, Response, Want};
use super::lookup::{Goal, Lookup};
use super::rpc::{Expired, Pending, Purpose};
use super::table::{Insert, Table, K};
use super::{
    family, Bootstrap, Dht, DhtEvent, LookupId, NodeId, BOOTSTRAP_RETRY, BOOTSTRAP_RETRY_MAX,
};

impl Dht {
    fn want(&self) -> Want {
        Want {
            v4: self.cfg.ipv6,
            v6: self.cfg.ipv6,
        }
    }

    /// Sends `query` to `to`, recording it; false if it could not be sent (too many in flight,
    /// or the send queue is full).
    pub(super) fn send_query(
        &mut self,
        to: SocketAddr,
        id: Option<NodeId>,
        query: Query,
        purpose: Purpose,
        now: Instant,
    ) -> bool {
        if self.out.len() >= super::MAX_QUEUED {
            self.stats.transmits_dropped += 1;
            return false;
        }
        let p = Pending {
            addr: to,
            id,
            purpose,
            sent: now,
            stalled: false,
        };
        let Some(tid) = self.rpcs.start(&mut self.rng, p) else {
            return false;
        };
        let msg = Message {
            tid,
            body: Body::Query { id: self.id, query },
            read_only: self.cfg.read_only,
            ip: None,
        };
        self.push_transmit(to, msg.encode())
    }

    pub(super) fn send_ping(&mut self, to: SocketAddr, id: Option<NodeId>, now: Instant) {
        self.send_query(to, id, Query::Ping, Purpose::Ping, now);
    }

    fn lookup_query(&self, goal: Goal, target: NodeId) -> Query {
        let want = self.want();
        match goal {
            Goal::FindNode => Query::FindNode { target, want },
            Goal::GetPeers | Goal::Announce { .. } => Query::GetPeers {
                info_hash: target,
                want,
            },
        }
    }

    /// Sends lookup `lookup`'s query to a node known by address only (a router).
    pub(super) fn send_seed(&mut self, to: SocketAddr, lookup: LookupId, now: Instant) {
        let Some(l) = self.lookups.iter().find(|l| l.id == lookup) else {
            return;
        };
        let q = self.lookup_query(l.goal, l.target);
        if self.send_query(to, None, q, Purpose::Lookup(lookup), now) {
            if let Some(l) = self.lookup_mut(lookup) {
                l.sent();
            }
        }
    }

    fn lookup_mut(&mut self, id: LookupId) -> Option<&mut Lookup> {
        self.lookups.iter_mut().find(|l| l.id == id)
    }

    /// Registers a lookup seeded from the tables (and `extra`); with nobody to seed it, its first
    /// queries go to the routers.
    fn new_lookup(
        &mut self,
        target: NodeId,
        goal: Goal,
        extra: &[NodeInfo],
        now: Instant,
    ) -> LookupId {
        let id = LookupId(self.next_lookup);
        self.next_lookup += 1;
        let mut seeds = self.tables[0].closest(&target, 2 * K);
        if self.cfg.ipv6 {
            seeds.extend(self.tables[1].closest(&target, 2 * K));
        }
        seeds.extend_from_slice(extra);
        self.lookups.push(Lookup::new(id, target, goal, &seeds));
        if seeds.is_empty() {
            for r in self.cfg.bootstrap.clone() {
                if r.is_ipv4() || self.cfg.ipv6 {
                    self.send_seed(r, id, now);
                }
            }
        }
        id
    }

    pub(super) fn start_lookup(
        &mut self,
        target: NodeId,
        goal: Goal,
        now: Instant,
    ) -> Option<LookupId> {
        if self.lookups.len() >= self.cfg.max_lookups {
            return None;
        }
        let id = self.new_lookup(target, goal, &[], now);
        self.drive(now);
        Some(id)
    }

    /// Starts the self-lookup that fills the table, from `known` nodes (a saved table) or, when
    /// there are none, the routers. `backoff` is the wait before trying again if nobody answers.
    pub(super) fn start_bootstrap(&mut self, known: &[NodeInfo], backoff: Duration, now: Instant) {
        if self.cfg.bootstrap.is_empty() && known.is_empty() {
            self.bootstrap = Bootstrap::Done;
            return;
        }
        self.bootstrap_from(known, backoff, now);
    }

    /// Starts a bootstrap lookup even with nobody to ask yet (the caller adds a seed).
    pub(super) fn new_bootstrap(&mut self, backoff: Duration, now: Instant) -> LookupId {
        self.bootstrap_from(&[], backoff, now)
    }

    fn bootstrap_from(&mut self, known: &[NodeInfo], backoff: Duration, now: Instant) -> LookupId {
        let lookup = self.new_lookup(self.id, Goal::FindNode, known, now);
        self.bootstrap = Bootstrap::Running { lookup, backoff };
        lookup
    }

    /// Starts a `find_node` lookup for a random id in each bucket left unchanged for 15 minutes.
    pub(super) fn refresh_buckets(&mut self, now: Instant) {
        for f in 0..2 {
            while let Some(target) = self.tables[f].refresh_target(now, &mut self.rng) {
                if self.lookups.len() < self.cfg.max_lookups {
                    self.new_lookup(target, Goal::FindNode, &[], now);
                }
            }
        }
    }

    /// Sends what the lookups want sent, starts announces, and retires finished lookups.
    pub(super) fn drive(&mut self, now: Instant) {
        let mut i = 0;
        while i < self.lookups.len() {
            let (lid, goal, target) = {
                let l = &self.lookups[i];
                (l.id, l.goal, l.target)
            };
            while let Some(n) = self.lookups[i].next_query() {
                let q = self.lookup_query(goal, target);
                if !self.send_query(n.addr, Some(n.id), q, Purpose::Lookup(lid), now) {
                    self.lookups[i].failed(n.addr, true);
                    break;
                }
            }
            if let Goal::Announce { port, implied_port } = goal {
                if self.lookups[i].converged() {
                    for (n, token) in self.lookups[i].start_announce() {
                        let q = announce_query(target, port, implied_port, token);
                        if !self.send_query(n.addr, Some(n.id), q, Purpose::Announce(lid), now) {
                            self.lookups[i].announce_result(false);
                        }
                    }
                }
            }
            if self.lookups[i].finished() {
                let l = self.lookups.remove(i);
                self.finish(&l, now);
            } else {
                i += 1;
            }
        }
    }

    fn finish(&mut self, l: &Lookup, now: Instant) {
        let o = l.outcome();
        if let Bootstrap::Running { lookup, backoff } = self.bootstrap {
            if lookup == l.id {
                let empty = self.tables.iter().all(|t| t.is_empty());
                self.bootstrap = if empty && !self.cfg.bootstrap.is_empty() {
                    Bootstrap::Waiting {
                        at: now + backoff,
                        backoff: (backoff * 2).min(BOOTSTRAP_RETRY_MAX),
                    }
                } else {
                    Bootstrap::Done
                };
            }
        }
        if l.goal == Goal::FindNode {
            return; // internal: bootstrap or refresh
        }
        self.events.push_back(DhtEvent::LookupDone {
            lookup: l.id,
            info_hash: l.target,
            closest_responded: o.closest.len(),
            closest: o.closest,
            announced_to: o.announced_to,
            queries: o.queries,
            rounds: o.rounds,
        });
    }

    /// An answer arrived; believe it only if it matches a query of ours and tells no lie.
    pub(super) fn on_response(
        &mut self,
        from: SocketAddr,
        tid: &Blob,
        r: Response,
        read_only: bool,
        now: Instant,
    ) -> bool {
        let Some(p) = self.rpcs.take(tid.as_slice(), from) else {
            self.stats.packets_ignored += 1;
            return false;
        };
        let router = p.id.is_none() && self.cfg.bootstrap.contains(&from);
        let lied = p.id.is_some_and(|id| id != r.id) || r.id == self.id;
        if lied || (!router && !self.id_ok(&r.id, &from)) {
            self.stats.packets_ignored += 1;
            if let Some(id) = p.id {
                self.tables[family(&from)].punish(&id, from, now);
            }
            self.rpc_failed(&p);
            return false;
        }
        if !read_only && !router {
            let node = NodeInfo {
                id: r.id,
                addr: from,
            };
            if let Insert::Parked { ping: Some(q) } = self.tables[family(&from)].replied(node, now)
            {
                self.send_ping(q.addr, Some(q.id), now);
            }
        }
        match p.purpose {
            Purpose::Ping => {}
            Purpose::Announce(lid) => {
                if let Some(l) = self.lookup_mut(lid) {
                    l.announce_result(true);
                }
            }
            Purpose::Lookup(lid) => self.lookup_replied(lid, &p, r),
        }
        true
    }

    /// A node that answered us says our address is `said`. When the votes settle on an external
    /// address our id does not match, we take a BEP 42 id for it (as libtorrent does), so nodes
    /// that enforce BEP 42 keep us in their tables and lookups.
    pub(super) fn on_ip_vote(&mut self, from: SocketAddr, said: SocketAddr, now: Instant) {
        let Some(external) = self.voter.vote(from.ip(), said.ip()) else {
            return;
        };
        if !self.id.matches_ip(external.into()) {
            let id = NodeId::for_ip(external.into(), &mut self.rng);
            self.change_id(id, now);
        }
    }

    /// Re-keys the node: both tables are rebuilt around `id` from the nodes that were good, the
    /// peer store measures distance from it, and a self-lookup fills the buckets near it.
    fn change_id(&mut self, id: NodeId, now: Instant) {
        let known: Vec<NodeInfo> = self.tables.iter().flat_map(|t| t.good_nodes(now)).collect();
        self.id = id;
        self.tables = [Table::new(id, now), Table::new(id, now)];
        for node in &known {
            self.tables[family(&node.addr)].replied(*node, now);
        }
        self.store.set_own(id);
        if !matches!(self.bootstrap, Bootstrap::Running { .. }) {
            self.start_bootstrap(&known, BOOTSTRAP_RETRY, now);
        }
    }

    fn lookup_replied(&mut self, lid: LookupId, p: &Pending, r: Response) {
        let nodes: Vec<NodeInfo> = r
            .nodes
            .into_iter()
            .filter(|n| n.addr.is_ipv4() || self.cfg.ipv6)
            .filter(|n| self.id_ok(&n.id, &n.addr) && !self.cfg.bootstrap.contains(&n.addr))
            .collect();
        let own = self.id;
        let Some(l) = self.lookups.iter_mut().find(|l| l.id == lid) else {
            return;
        };
        // A router that gave a token is a place to announce, though never a table entry.
        let router_token = p.id.is_none() && l.goal != Goal::FindNode && r.id != own;
        let token = r.token;
        l.replied(p.addr, !p.stalled, r.token, &nodes);
        if router_token && token.is_some() {
            let node = NodeInfo {
                id: r.id,
                addr: p.addr,
            };
            l.add_answered(node, token);
        }
        if l.goal == Goal::FindNode || r.values.is_empty() {
            return;
        }
        let peers = l.new_peers(&r.values);
        if !peers.is_empty() {
            let info_hash = l.target;
            self.events.push_back(DhtEvent::Peers {
                lookup: lid,
                info_hash,
                peers,
            });
        }
    }

    /// A KRPC error answered one of our queries: the node is alive but of no use to the lookup.
    pub(super) fn on_error(&mut self, from: SocketAddr, tid: &Blob) {
        match self.rpcs.take(tid.as_slice(), from) {
            Some(p) => self.rpc_failed(&p),
            None => self.stats.packets_ignored += 1,
        }
    }

    fn rpc_failed(&mut self, p: &Pending) {
        match p.purpose {
            Purpose::Ping => {}
            Purpose::Lookup(lid) => {
                if let Some(l) = self.lookup_mut(lid) {
                    l.failed(p.addr, !p.stalled);
                }
            }
            Purpose::Announce(lid) => {
                if let Some(l) = self.lookup_mut(lid) {
                    l.announce_result(false);
                }
            }
        }
    }

    /// Stalled queries free their lookup slot; timed-out ones count against their node.
    pub(super) fn expire_rpcs(&mut self, now: Instant) {
        for e in self.rpcs.expire(now) {
            match e {
                Expired::Stalled(p) => {
                    if let Purpose::Lookup(lid) = p.purpose {
                        if let Some(l) = self.lookup_mut(lid) {
                            l.stalled(p.addr);
                        }
                    }
                }
                Expired::TimedOut(p) => {
                    if let Some(id) = p.id {
                        self.tables[family(&p.addr)].failed(&id, p.addr, now);
                    }
                    match p.purpose {
                        Purpose::Lookup(lid) => {
                            if let Some(l) = self.lookup_mut(lid) {
                                l.timed_out(p.addr, !p.stalled);
                            }
                        }
                        _ => self.rpc_failed(&p),
                    }
                }
            }
        }
    }
}

fn announce_query(info_hash: NodeId, port: u16, implied_port: bool, token: Blob) -> Query {
    Query::AnnouncePeer {
        info_hash,
        port,
        implied_port,
        token,
    }
}
