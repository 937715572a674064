//! The simulated network: dials, byte streams cut into random chunks, bandwidth with a bounded
//! socket send buffer, latency, and closes. Bytes of one direction arrive in order: a link's
//! departures are serialised by `free_at`, and events at equal times keep their schedule order.

use std::io::IoSlice;
use std::net::SocketAddr;
use std::time::Duration;

use coracle::sansio::{ConnId, PeerError};

use super::{node_addr, CloseRecord, Event, Sim};

/// Bytes a socket accepts beyond what has left the host; a full buffer makes the shell keep the
/// rest in the engine's outbox, so the engine sees backpressure as it would on a real socket.
const SOCKET_BUF: u64 = 64 * 1024;
/// Free send-buffer space below which a blocked socket is not yet reported writable.
const LOW_WATER: usize = 16 * 1024;
/// Largest chunk one write is cut into on the wire.
const MAX_CHUNK: u64 = 64 * 1024;
/// How long a dial to an address where nobody listens takes to fail.
const REFUSE_DELAY: Duration = Duration::from_millis(30);

/// The sending end of one open connection.
#[derive(Debug)]
pub struct Link {
    /// The other end: node and its connection id.
    pub peer: (usize, ConnId),
    /// When the last byte queued on this end will have left (serialises the bandwidth).
    free_at: Duration,
    bps: u64,
    latency: Duration,
}

impl Sim {
    /// An engine asked to dial `addr`.
    pub(super) fn dial(&mut self, from: usize, conn: ConnId, addr: SocketAddr) {
        self.dials.push((self.now, from, addr));
        let target = (0..self.nodes.len()).find(|&i| node_addr(i) == addr);
        self.dialling.insert((from, conn), target);
        match target {
            Some(to) if self.nodes[to].alive => {
                let rtt_half = self.nodes[from].spec.latency + self.nodes[to].spec.latency;
                self.schedule(rtt_half, Event::Connect { from, conn, to });
            }
            _ => self.schedule(REFUSE_DELAY, Event::Refused { node: from, conn }),
        }
    }

    /// A dial reached `to`: its engine accepts (or refuses) and the dialler learns it connected.
    pub(super) fn on_connect(&mut self, from: usize, conn: ConnId, to: usize) {
        if !self.dialling.contains_key(&(from, conn)) {
            return; // the dialler gave up (connect timeout) before the SYN arrived
        }
        if !self.nodes[to].alive {
            return self.on_refused(from, conn);
        }
        self.next_ephemeral += 1;
        let from_addr = SocketAddr::from(([127, 0, 0, 1], self.next_ephemeral));
        let now = self.instant();
        let Some(accepted) = self.nodes[to].engine.handle_incoming(from_addr, now) else {
            return self.on_refused(from, conn);
        };
        self.dialling.remove(&(from, conn));
        let latency = self.nodes[from].spec.latency + self.nodes[to].spec.latency;
        let link = |peer: (usize, ConnId), bps: u64| Link {
            peer,
            free_at: self.now,
            bps,
            latency,
        };
        let forward = link((to, accepted), self.nodes[from].spec.up_bps);
        let backward = link((from, conn), self.nodes[to].spec.up_bps);
        self.links.insert((from, conn), forward);
        self.links.insert((to, accepted), backward);
        self.nodes[from].engine.handle_connected(conn, now);
    }

    pub(super) fn on_refused(&mut self, node: usize, conn: ConnId) {
        if self.dialling.remove(&(node, conn)).is_none() || !self.nodes[node].alive {
            return;
        }
        let now = self.instant();
        let refused = "connection refused".to_string();
        self.nodes[node].engine.handle_closed(conn, refused, now);
    }

    pub(super) fn on_data(&mut self, to: usize, conn: ConnId, bytes: &[u8]) {
        // Data for a connection its receiver already closed is lost, as on a real socket.
        if !self.links.contains_key(&(to, conn)) {
            return;
        }
        let now = self.instant();
        self.nodes[to].engine.handle_data(conn, bytes, now);
    }

    /// The other end of `(node, conn)` closed: the socket reports it.
    pub(super) fn on_peer_closed(&mut self, node: usize, conn: ConnId) {
        if self.links.remove(&(node, conn)).is_none() {
            return;
        }
        let now = self.instant();
        let why = "closed by peer".to_string();
        self.nodes[node].engine.handle_closed(conn, why, now);
    }

    /// An engine closed `conn`: the other end hears of it after the bytes already on the wire.
    pub(super) fn close(&mut self, node: usize, conn: ConnId, reason: PeerError) {
        let pending = self.dialling.remove(&(node, conn));
        let link = self.links.remove(&(node, conn));
        let peer = link.as_ref().map(|l| l.peer.0).or(pending.flatten());
        self.closes.push(CloseRecord {
            at: self.now,
            node,
            peer,
            reason,
        });
        if let Some(l) = link {
            let after = l.free_at.saturating_sub(self.now) + l.latency;
            let (node, conn) = l.peer;
            self.schedule(after, Event::Closed { node, conn });
        }
    }

    /// Crashes `node`: every link drops at once (bytes on the wire are lost), its address stops
    /// answering, and its engine is never called again.
    pub(super) fn vanish(&mut self, node: usize) {
        self.nodes[node].alive = false;
        let mine: Vec<(usize, ConnId)> =
            self.links.keys().filter(|k| k.0 == node).copied().collect();
        for key in mine {
            let l = self.links.remove(&key).expect("listed above");
            let (peer, conn) = l.peer;
            self.schedule(l.latency, Event::Closed { node: peer, conn });
        }
        self.dialling.retain(|k, _| k.0 != node);
    }

    /// Hands every dirty outbox of `node` to its sockets, as far as their send buffers allow.
    pub(super) fn write_outboxes(&mut self, node: usize) {
        let mut dirty = Vec::new();
        self.nodes[node].engine.take_dirty(&mut dirty);
        for conn in dirty {
            self.nodes[node].writable.insert(conn);
        }
        let conns: Vec<ConnId> = self.nodes[node].writable.iter().copied().collect();
        for conn in conns {
            if self.write_one(node, conn) {
                self.nodes[node].writable.remove(&conn);
            }
        }
    }

    /// Writes what fits of `conn`'s outbox, like the reactor's non-blocking vectored write;
    /// true when nothing is left to write (or the connection is gone). A drained outbox is
    /// reported written.
    fn write_one(&mut self, node: usize, conn: ConnId) -> bool {
        let Some(link) = self.links.get(&(node, conn)) else {
            // Not connected yet: the bytes wait; gone altogether: nothing to do.
            return !self.dialling.contains_key(&(node, conn));
        };
        let backlog = link.free_at.saturating_sub(self.now).as_secs_f64() * link.bps as f64;
        let room = SOCKET_BUF.saturating_sub(backlog as u64) as usize;
        let Some(out) = self.nodes[node].engine.outbox(conn) else {
            return true;
        };
        // A socket reports writable only once a fair share of its buffer is free.
        if out.len() > room && room < LOW_WATER {
            return false;
        }
        let mut slices = [IoSlice::new(&[]); 64];
        let filled = out.fill_slices(&mut slices);
        let mut bytes = Vec::with_capacity(room.min(out.len()));
        for s in &slices[..filled] {
            let take = (room - bytes.len()).min(s.len());
            bytes.extend_from_slice(&s[..take]);
        }
        out.consume(bytes.len());
        let drained = out.is_empty();
        self.send(node, conn, bytes);
        if drained {
            let now = self.instant();
            self.nodes[node].engine.handle_written(conn, now);
        }
        drained
    }

    /// Puts `bytes` on the wire of `(node, conn)` in random-sized chunks, each arriving after
    /// its transmission time and the link's latency.
    fn send(&mut self, node: usize, conn: ConnId, mut bytes: Vec<u8>) {
        while !bytes.is_empty() {
            let len = self.chunk_len(bytes.len() as u64);
            let rest = bytes.split_off(len);
            let chunk = std::mem::replace(&mut bytes, rest);
            let link = self.links.get_mut(&(node, conn)).expect("caller checked");
            let start = link.free_at.max(self.now);
            link.free_at = start + Duration::from_secs_f64(len as f64 / link.bps as f64);
            let arrive = link.free_at + link.latency - self.now;
            let (to, peer_conn) = link.peer;
            let ev = Event::Data {
                to,
                conn: peer_conn,
                bytes: chunk,
            };
            self.schedule(arrive, ev);
        }
    }

    /// A chunk size between 1 byte and 64 KiB, log-uniform so tiny chunks (split headers and
    /// frames) are as common as big ones.
    fn chunk_len(&mut self, max: u64) -> usize {
        let hi = 1u64 << self.rng.range(0, MAX_CHUNK.trailing_zeros() as u64);
        let len = self.rng.range((hi / 2).max(1), hi);
        len.min(max) as usize
    }
}
