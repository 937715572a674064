//! The reactor's UDP sockets: the DHT's (on the TCP listener's port when it is free) and local
//! service discovery's (the BEP 14 multicast groups), as more sources on the one mio `Poll`.
//! Bound on the caller's thread in `Session::new`, then read and written on the reactor thread.
//!
//! Reads go straight to the engine until `WouldBlock`, at most [`READ_BUDGET`] datagrams per
//! socket per wake-up (a flood cannot starve the peers); a socket left readable is revisited
//! without waiting for another edge. A send error is logged and the datagram dropped: UDP
//! discovery is best effort and never stops the session.

// I/O shell: binds and drives UDP sockets for the reactor.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Instant;

use mio::net::UdpSocket;
use mio::{Interest, Registry, Token};

use crate::engine::{Datagram, Engine, UdpKind};
use crate::ext::lsd::{LsdFamily, LSD_GROUP_V4, LSD_GROUP_V6, LSD_PORT};

/// Datagrams read from one socket per wake-up before the peers get their turn.
const READ_BUDGET: usize = 256;
/// Large enough for any UDP payload, so a datagram is never silently cut to look valid.
const BUF_LEN: usize = 64 * 1024;

const KINDS: [UdpKind; 4] = [UdpKind::Dht4, UdpKind::Dht6, UdpKind::Lsd4, UdpKind::Lsd6];

/// The token of each kind of socket, just below the waker's.
fn token(kind: UdpKind) -> Token {
    Token(usize::MAX - 1 - kind as usize)
}

/// The kind of socket a token belongs to.
pub(crate) fn kind_of(t: Token) -> Option<UdpKind> {
    KINDS.into_iter().find(|k| token(*k) == t)
}

/// The UDP sockets that bound.
pub(crate) struct Udp {
    socks: Vec<(UdpKind, UdpSocket)>,
    /// Sockets with datagrams left unread by the budget.
    pending: Vec<UdpKind>,
    buf: Vec<u8>,
    /// Whether the DHT socket is a dual-stack IPv6 one (IPv4 peers as mapped addresses).
    dual_stack: bool,
}

/// What bound: the DHT's port and families, and the LSD groups joined.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Bound {
    pub dht_port: Option<u16>,
    pub dht_v4: bool,
    pub dht_v6: bool,
    pub lsd_v4: bool,
    pub lsd_v6: bool,
}

impl Udp {
    /// No sockets.
    pub fn none() -> Udp {
        Udp {
            socks: Vec::new(),
            pending: Vec::new(),
            buf: Vec::new(),
            dual_stack: false,
        }
    }

    /// Binds what is asked next to a TCP listener on `listen`. A socket that cannot bind is
    /// logged and left out: the session runs without it.
    pub fn bind(listen: SocketAddr, dht: bool, lsd: bool) -> (Udp, Bound) {
        let mut udp = Udp::none();
        let mut bound = Bound::default();
        if dht {
            udp.bind_dht(listen, &mut bound);
        }
        if lsd {
            udp.bind_lsd(listen.ip(), &mut bound);
        }
        if !udp.socks.is_empty() {
            udp.buf = vec![0; BUF_LEN];
        }
        (udp, bound)
    }

    fn bind_dht(&mut self, listen: SocketAddr, bound: &mut Bound) {
        // The listener's port first, as other clients do; any free port otherwise.
        let sock =
            UdpSocket::bind(listen).or_else(|_| UdpSocket::bind(SocketAddr::new(listen.ip(), 0)));
        let sock = match sock {
            Ok(s) => s,
            Err(e) => return log::warn!("DHT off: binding UDP on {}: {e}", listen.ip()),
        };
        bound.dht_port = sock.local_addr().ok().map(|a| a.port());
        if listen.is_ipv6() {
            // Linux binds `[::]` dual-stack: IPv4 nodes reach it as mapped addresses.
            self.dual_stack = listen.ip().is_unspecified();
            bound.dht_v6 = true;
            bound.dht_v4 = self.dual_stack;
            self.socks.push((UdpKind::Dht6, sock));
        } else {
            bound.dht_v4 = true;
            self.socks.push((UdpKind::Dht4, sock));
        }
        log::info!("DHT on UDP port {:?}", bound.dht_port);
    }

    fn bind_lsd(&mut self, ip: IpAddr, bound: &mut Bound) {
        // The IPv4 group for an IPv4 listener (on its interface when it has a specific one) and
        // for `[::]`; the IPv6 group for an IPv6 listener.
        let v4_if = match ip {
            IpAddr::V4(v4) => Some(v4),
            IpAddr::V6(v6) if v6.is_unspecified() => Some(Ipv4Addr::UNSPECIFIED),
            IpAddr::V6(_) => None,
        };
        if let Some(iface) = v4_if {
            match join_v4(iface) {
                Ok(s) => {
                    bound.lsd_v4 = true;
                    self.socks.push((UdpKind::Lsd4, s));
                }
                Err(e) => log::warn!("local discovery (IPv4) off: {e}"),
            }
        }
        if ip.is_ipv6() {
            match join_v6() {
                Ok(s) => {
                    bound.lsd_v6 = true;
                    self.socks.push((UdpKind::Lsd6, s));
                }
                Err(e) => log::warn!("local discovery (IPv6) off: {e}"),
            }
        }
    }

    /// Registers every socket with the poller.
    pub fn register(&mut self, registry: &Registry) -> std::io::Result<()> {
        for (kind, s) in &mut self.socks {
            registry.register(s, token(*kind), Interest::READABLE)?;
        }
        Ok(())
    }

    /// Whether a socket still has datagrams the budget left unread.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// `kind`'s socket became readable.
    pub fn readable(&mut self, kind: UdpKind) {
        if !self.pending.contains(&kind) {
            self.pending.push(kind);
        }
    }

    /// Reads the readable sockets, up to the budget each, into the engine.
    pub fn read_ready(&mut self, engine: &mut Engine) {
        for kind in std::mem::take(&mut self.pending) {
            if !self.read(kind, engine) {
                self.pending.push(kind);
            }
        }
    }

    /// Reads `kind`'s socket; false when the budget ran out first.
    fn read(&mut self, kind: UdpKind, engine: &mut Engine) -> bool {
        let Some((_, sock)) = self.socks.iter().find(|(k, _)| *k == kind) else {
            return true;
        };
        for _ in 0..READ_BUDGET {
            match sock.recv_from(&mut self.buf) {
                Ok((n, from)) => {
                    let bytes = &self.buf[..n];
                    let now = Instant::now();
                    match kind {
                        UdpKind::Dht4 | UdpKind::Dht6 => {
                            engine.handle_dht_datagram(from, bytes, now)
                        }
                        UdpKind::Lsd4 | UdpKind::Lsd6 => {
                            engine.handle_lsd_datagram(from, bytes, now)
                        }
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    // ICMP errors from earlier sends surface here (ECONNREFUSED): not fatal.
                    log::debug!("UDP read ({kind:?}): {e}");
                }
            }
        }
        false
    }

    /// Sends a datagram the engine asked for; failures are logged, never fatal.
    pub fn send(&self, d: &Datagram) {
        let (sock, to) = match self.socks.iter().find(|(k, _)| *k == d.socket) {
            Some((_, s)) => (s, d.to),
            None if d.socket == UdpKind::Dht4 && self.dual_stack => {
                let Some((_, s)) = self.socks.iter().find(|(k, _)| *k == UdpKind::Dht6) else {
                    return;
                };
                let mapped = match d.to {
                    SocketAddr::V4(v4) => {
                        SocketAddr::new(v4.ip().to_ipv6_mapped().into(), v4.port())
                    }
                    v6 => v6,
                };
                (s, mapped)
            }
            None => return,
        };
        match sock.send_to(&d.bytes, to) {
            Ok(_) => {}
            Err(e) => log::debug!("UDP send to {to} ({:?}): {e}", d.socket),
        }
    }

    /// The LSD families joined, for the engine.
    pub fn lsd_families(bound: &Bound) -> Vec<LsdFamily> {
        let mut f = Vec::new();
        if bound.lsd_v4 {
            f.push(LsdFamily::V4);
        }
        if bound.lsd_v6 {
            f.push(LsdFamily::V6);
        }
        f
    }
}

/// The IPv4 LSD socket: port 6771 shared with other clients, the group joined on `iface` (any
/// when unspecified), our own announces looped back so other clients on this host hear them.
fn join_v4(iface: Ipv4Addr) -> std::io::Result<UdpSocket> {
    let s = crate::sys::bind_udp_reuse(SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), LSD_PORT))?;
    let IpAddr::V4(group) = LSD_GROUP_V4.ip() else {
        unreachable!("the IPv4 group is IPv4");
    };
    s.join_multicast_v4(&group, &iface)?;
    s.set_multicast_loop_v4(true)?;
    if !iface.is_unspecified() {
        crate::sys::set_multicast_if_v4(&s, iface)?;
    }
    s.set_nonblocking(true)?;
    Ok(UdpSocket::from_std(s))
}

/// The IPv6 LSD socket on the default interface.
fn join_v6() -> std::io::Result<UdpSocket> {
    let s = crate::sys::bind_udp_reuse(SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), LSD_PORT))?;
    let IpAddr::V6(group) = LSD_GROUP_V6.ip() else {
        unreachable!("the IPv6 group is IPv6");
    };
    s.join_multicast_v6(&group, 0)?;
    s.set_multicast_loop_v6(true)?;
    s.set_nonblocking(true)?;
    Ok(UdpSocket::from_std(s))
}
