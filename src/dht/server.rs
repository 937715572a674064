//! The answering side of the node: `ping`, `find_node`, `get_peers` and `announce_peer`.
//!
//! Part of [`Dht`]; like it, sans-IO, on the reactor thread. Nothing is answered in read-only mode
//! (BEP 43), to a node claiming our own id, or beyond the rate limits. Answers are small by
//! construction, at most [`MAX_REPLY_LEN`] bytes (8 nodes per family, or a value list capped at
//! [`VALUES_BYTES`]), so a spoofed query can never be amplified into a large datagram towards a
//! victim.

use std::net::SocketAddr;
use std::time::Instant;

use super::krpc::{
    code, Blob, Body, ErrorKind, KrpcError, Message, NodeInfo, Query, Response, Want,
};
use super::table::K;
use super::{family, Dht, NodeId};

/// Bytes of compact peers in one `get_peers` answer: 50 IPv4 or 20 IPv6 peers (libtorrent caps
/// at 100 IPv4 peers; half keeps the answer under [`MAX_REPLY_LEN`]).
pub const VALUES_BYTES: usize = 400;
/// Upper bound of any answer we send (8 IPv4 + 8 IPv6 nodes with all headers is about 600).
pub const MAX_REPLY_LEN: usize = 640;

impl Dht {
    /// A query from `from`: answer it if allowed, and learn about the querier.
    pub(super) fn on_query(
        &mut self,
        from: SocketAddr,
        tid: Blob,
        id: NodeId,
        query: Query,
        read_only: bool,
        now: Instant,
    ) {
        if self.cfg.read_only {
            return;
        }
        if id == self.id {
            self.stats.packets_ignored += 1;
            return;
        }
        if !read_only {
            self.tables[family(&from)].queried(&id, from, now);
        }
        if !self.limit.allow(from.ip(), now) {
            self.stats.replies_limited += 1;
            return;
        }
        self.tokens.rotate(now, &mut self.rng);
        let body = self.answer(from, query, now);
        self.reply(from, tid, body);
        if !read_only {
            self.maybe_ping(id, from, now);
        }
    }

    fn reply(&mut self, to: SocketAddr, tid: Blob, body: Body) {
        let msg = Message {
            tid,
            body,
            read_only: false,
            ip: Some(to),
        };
        let bytes = msg.encode();
        debug_assert!(bytes.len() <= MAX_REPLY_LEN, "{} bytes", bytes.len());
        if self.push_transmit(to, bytes) {
            self.stats.replies_sent += 1;
        }
    }

    /// A querier we do not know, with room for it in the table: ping it, and its answer (which a
    /// spoofer cannot give) lets it in.
    fn maybe_ping(&mut self, id: NodeId, from: SocketAddr, now: Instant) {
        let room = self.tables[family(&from)].has_room_for(&id, from);
        if room
            && self.id_ok(&id, &from)
            && !self.cfg.bootstrap.contains(&from)
            && !self.rpcs.waiting_on(from)
        {
            self.send_ping(from, Some(id), now);
        }
    }

    fn answer(&mut self, from: SocketAddr, query: Query, now: Instant) -> Body {
        let mut r = Response {
            id: self.id,
            ..Response::default()
        };
        match query {
            Query::Ping => {}
            Query::FindNode { target, want } => r.nodes = self.closest_for(&target, want, &from),
            Query::GetPeers { info_hash, want } => {
                let v6 = from.is_ipv6();
                let max = VALUES_BYTES / if v6 { 20 } else { 8 };
                r.values = self.store.peers(&info_hash, v6, max, now, &mut self.rng);
                if r.values.is_empty() {
                    r.nodes = self.closest_for(&info_hash, want, &from);
                }
                r.token = Some(self.tokens.make(from.ip()));
            }
            Query::AnnouncePeer {
                info_hash,
                port,
                implied_port,
                token,
            } => {
                if !self.tokens.check(from.ip(), &token) {
                    return Body::Error {
                        code: code::PROTOCOL,
                    };
                }
                let port = if implied_port { from.port() } else { port };
                self.store
                    .add(info_hash, SocketAddr::new(from.ip(), port), now);
            }
        }
        Body::Response(r)
    }

    /// The closest nodes of the families asked for (BEP 32), or of the querier's family.
    fn closest_for(&self, target: &NodeId, want: Want, from: &SocketAddr) -> Vec<NodeInfo> {
        let (v4, v6) = if want.v4 || want.v6 {
            (want.v4, want.v6 && self.cfg.ipv6)
        } else {
            (from.is_ipv4(), from.is_ipv6())
        };
        let mut nodes = Vec::new();
        if v4 {
            nodes = self.tables[0].closest(target, K);
        }
        if v6 {
            nodes.extend(self.tables[1].closest(target, K));
        }
        nodes
    }

    /// A datagram that is not a valid message: a malformed query still gets a KRPC error (within
    /// the rate limits), anything else is dropped.
    pub(super) fn on_malformed(&mut self, from: SocketAddr, e: KrpcError, now: Instant) {
        self.stats.packets_ignored += 1;
        let Some(tid) = e.tid else {
            return;
        };
        if self.cfg.read_only || !self.limit.allow(from.ip(), now) {
            return;
        }
        let code = match e.kind {
            ErrorKind::UnknownMethod => code::METHOD_UNKNOWN,
            _ => code::PROTOCOL,
        };
        self.reply(from, tid, Body::Error { code });
    }
}
