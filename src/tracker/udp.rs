//! UDP tracker protocol (BEP 15): packet encoding/decoding (sans-IO) and one blocking announce
//! over a `std::net::UdpSocket`.
//!
//! [`announce`] runs on a tracker worker thread (see `http.rs`), never on the reactor thread. It
//! is bounded by the caller's deadline: every wait uses a socket read timeout, and lost packets
//! are retried with a doubling per-try wait (from 2 s) until the deadline. Replies are matched by
//! transaction id and source address; anything else is ignored. Nothing here panics on input.

// I/O shell: a blocking UDP announce (socket, DNS, clock), OS entropy for transaction ids.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs, UdpSocket};
use std::time::{Duration, Instant};

use super::announce::{AnnounceEvent, AnnounceRequest, AnnounceResponse, TrackerError};

const PROTOCOL_ID: u64 = 0x0417_2710_1980;
const ACTION_CONNECT: u32 = 0;
const ACTION_ANNOUNCE: u32 = 1;
const ACTION_ERROR: u32 = 3;
const FIRST_TRY_WAIT: Duration = Duration::from_secs(2);

/// The 16-byte connect request.
pub fn encode_connect(transaction_id: u32) -> [u8; 16] {
    let mut p = [0u8; 16];
    p[..8].copy_from_slice(&PROTOCOL_ID.to_be_bytes());
    p[8..12].copy_from_slice(&ACTION_CONNECT.to_be_bytes());
    p[12..].copy_from_slice(&transaction_id.to_be_bytes());
    p
}

/// The 98-byte announce request (IP field 0: the tracker uses the packet's source address).
pub fn encode_announce(connection_id: u64, transaction_id: u32, req: &AnnounceRequest) -> Vec<u8> {
    let event: u32 = match req.event {
        AnnounceEvent::None => 0,
        AnnounceEvent::Completed => 1,
        AnnounceEvent::Started => 2,
        AnnounceEvent::Stopped => 3,
    };
    let numwant = i32::try_from(req.numwant).unwrap_or(i32::MAX);
    let mut p = Vec::with_capacity(98);
    p.extend_from_slice(&connection_id.to_be_bytes());
    p.extend_from_slice(&ACTION_ANNOUNCE.to_be_bytes());
    p.extend_from_slice(&transaction_id.to_be_bytes());
    p.extend_from_slice(&req.info_hash);
    p.extend_from_slice(&req.peer_id);
    p.extend_from_slice(&req.downloaded.to_be_bytes());
    p.extend_from_slice(&req.left.to_be_bytes());
    p.extend_from_slice(&req.uploaded.to_be_bytes());
    p.extend_from_slice(&event.to_be_bytes());
    p.extend_from_slice(&0u32.to_be_bytes());
    p.extend_from_slice(&req.key.to_be_bytes());
    p.extend_from_slice(&numwant.to_be_bytes());
    p.extend_from_slice(&req.port.to_be_bytes());
    p
}

/// A decoded reply to a request with the expected transaction id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// The connection id from a connect reply.
    Connected(u64),
    /// An announce reply.
    Announced(AnnounceResponse),
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4)?.try_into().ok().map(u32::from_be_bytes)
}

/// Decodes a reply; `Ok(None)` for a packet with another transaction id (to be ignored).
/// Peers are IPv4 (6 bytes each) when `ipv6` is false, IPv6 (18 bytes each) when true.
pub fn decode_reply(
    pkt: &[u8],
    transaction_id: u32,
    ipv6: bool,
) -> Result<Option<Reply>, TrackerError> {
    let (Some(action), Some(tid)) = (be32(pkt, 0), be32(pkt, 4)) else {
        return Err(TrackerError::Malformed(format!(
            "UDP reply of {} bytes",
            pkt.len()
        )));
    };
    if tid != transaction_id {
        return Ok(None);
    }
    let rest = pkt.get(8..).unwrap_or_default();
    match action {
        ACTION_CONNECT => match rest.get(..8).and_then(|b| b.try_into().ok()) {
            Some(id) => Ok(Some(Reply::Connected(u64::from_be_bytes(id)))),
            None => Err(TrackerError::Malformed("short UDP connect reply".into())),
        },
        ACTION_ANNOUNCE => decode_announce(rest, ipv6).map(|r| Some(Reply::Announced(r))),
        ACTION_ERROR => Err(TrackerError::Failure(
            String::from_utf8_lossy(rest).into_owned(),
        )),
        other => Err(TrackerError::Malformed(format!(
            "UDP reply with action {other}"
        ))),
    }
}

fn decode_announce(b: &[u8], ipv6: bool) -> Result<AnnounceResponse, TrackerError> {
    let (Some(interval), Some(leechers), Some(seeders)) = (be32(b, 0), be32(b, 4), be32(b, 8))
    else {
        return Err(TrackerError::Malformed("short UDP announce reply".into()));
    };
    let peers_raw = b.get(12..).unwrap_or_default();
    let size = if ipv6 { 18 } else { 6 };
    if peers_raw.len() % size != 0 {
        return Err(TrackerError::Malformed(format!(
            "UDP peers length {} is not a multiple of {size}",
            peers_raw.len()
        )));
    }
    let mut seen = std::collections::HashSet::new();
    let peers = peers_raw
        .chunks_exact(size)
        .map(|c| {
            let (ip, port) = c.split_at(size - 2);
            let ip = match <[u8; 16]>::try_from(ip) {
                Ok(v6) => IpAddr::from(v6),
                Err(_) => {
                    <[u8; 4]>::try_from(ip).map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), IpAddr::from)
                }
            };
            SocketAddr::new(ip, u16::from_be_bytes([port[0], port[1]]))
        })
        .filter(|p| p.port() != 0 && seen.insert(*p))
        .collect();
    Ok(AnnounceResponse {
        interval: Some(interval),
        min_interval: None,
        tracker_id: None,
        warning: None,
        peers,
        complete: Some(seeders),
        incomplete: Some(leechers),
    })
}

/// `udp://host:port[/…]` -> `host:port`.
fn host_port(url: &str) -> Result<&str, TrackerError> {
    let rest = url
        .get(..6)
        .filter(|s| s.eq_ignore_ascii_case("udp://"))
        .and_then(|_| url.get(6..))
        .ok_or_else(|| TrackerError::InvalidUrl(format!("'{url}' is not a udp:// URL")))?;
    let hp = rest.split(['/', '?', '#']).next().unwrap_or("");
    if hp.is_empty() {
        return Err(TrackerError::InvalidUrl(format!("'{url}' has no host")));
    }
    Ok(hp)
}

/// One blocking BEP 15 announce to a `udp://` URL, finished or failed by `deadline`.
pub fn announce(
    url: &str,
    req: &AnnounceRequest,
    deadline: Instant,
) -> Result<AnnounceResponse, TrackerError> {
    let addr = host_port(url)?
        .to_socket_addrs()
        .map_err(|e| TrackerError::Transport(format!("cannot resolve {url}: {e}")))?
        .next()
        .ok_or_else(|| TrackerError::Transport(format!("{url} resolves to no address")))?;
    let local: SocketAddr = if addr.is_ipv6() {
        "[::]:0"
    } else {
        "0.0.0.0:0"
    }
    .parse()
    .map_err(|_| TrackerError::Transport("bad local address".into()))?;
    let sock = UdpSocket::bind(local).map_err(|e| TrackerError::Transport(e.to_string()))?;
    // A connected socket hears the ICMP port-unreachable answer as ECONNREFUSED at once, where
    // an unconnected one would wait out the whole deadline.
    sock.connect(addr)
        .map_err(|e| TrackerError::Transport(e.to_string()))?;
    let seed = {
        use std::hash::{BuildHasher, Hasher};
        std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish()
    };
    let t1 = seed as u32;
    let conn_id = match exchange(
        &sock,
        addr,
        &encode_connect(t1),
        t1,
        deadline,
        addr.is_ipv6(),
    )? {
        Reply::Connected(id) => id,
        Reply::Announced(_) => {
            return Err(TrackerError::Malformed("announce reply to connect".into()))
        }
    };
    let t2 = (seed >> 32) as u32;
    match exchange(
        &sock,
        addr,
        &encode_announce(conn_id, t2, req),
        t2,
        deadline,
        addr.is_ipv6(),
    )? {
        Reply::Announced(r) => Ok(r),
        Reply::Connected(_) => Err(TrackerError::Malformed("connect reply to announce".into())),
    }
}

/// The error of a send or receive: ECONNREFUSED means nothing listens on the tracker's port.
fn refused_or(e: std::io::Error, to: SocketAddr) -> TrackerError {
    if e.kind() == std::io::ErrorKind::ConnectionRefused {
        TrackerError::Transport(format!("connection refused: nothing listens on UDP {to}"))
    } else {
        TrackerError::Transport(e.to_string())
    }
}

/// Sends `pkt` and waits for the matching reply, resending with a doubling wait until `deadline`.
fn exchange(
    sock: &UdpSocket,
    to: SocketAddr,
    pkt: &[u8],
    tid: u32,
    deadline: Instant,
    ipv6: bool,
) -> Result<Reply, TrackerError> {
    let mut wait = FIRST_TRY_WAIT;
    let mut buf = [0u8; 2048];
    loop {
        sock.send(pkt).map_err(|e| refused_or(e, to))?;
        let try_end = Instant::now()
            .checked_add(wait)
            .unwrap_or(deadline)
            .min(deadline);
        loop {
            let left = try_end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            sock.set_read_timeout(Some(left))
                .map_err(|e| TrackerError::Transport(e.to_string()))?;
            match sock.recv(&mut buf) {
                Ok(n) => {
                    if let Some(reply) = decode_reply(buf.get(..n).unwrap_or_default(), tid, ipv6)?
                    {
                        return Ok(reply);
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => return Err(refused_or(e, to)),
            }
        }
        if Instant::now() >= deadline {
            return Err(TrackerError::Timeout);
        }
        wait = wait.saturating_mul(2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req() -> AnnounceRequest {
        AnnounceRequest {
            info_hash: [1; 20],
            peer_id: [2; 20],
            port: 6881,
            uploaded: 3,
            downloaded: 4,
            left: 5,
            event: AnnounceEvent::Started,
            numwant: 50,
            key: 7,
            tracker_id: None,
        }
    }

    #[test]
    fn encodes_exact_packets() {
        assert_eq!(
            encode_connect(0x0102_0304),
            [0, 0, 4, 0x17, 0x27, 0x10, 0x19, 0x80, 0, 0, 0, 0, 1, 2, 3, 4]
        );
        let p = encode_announce(0xaabb, 9, &req());
        assert_eq!(p.len(), 98);
        assert_eq!(
            &p[..16],
            &[0, 0, 0, 0, 0, 0, 0xaa, 0xbb, 0, 0, 0, 1, 0, 0, 0, 9]
        );
        assert_eq!(&p[56..64], &4u64.to_be_bytes());
        assert_eq!(&p[80..84], &2u32.to_be_bytes());
        assert_eq!(&p[92..], &[0, 0, 0, 50, 0x1a, 0xe1]);
    }

    #[test]
    fn decodes_replies() {
        let mut c = vec![0, 0, 0, 0, 0, 0, 0, 5];
        c.extend_from_slice(&42u64.to_be_bytes());
        assert_eq!(decode_reply(&c, 5, false), Ok(Some(Reply::Connected(42))));
        assert_eq!(decode_reply(&c, 6, false), Ok(None));
        let mut a = vec![0, 0, 0, 1, 0, 0, 0, 5, 0, 0, 7, 8, 0, 0, 0, 2, 0, 0, 0, 3];
        a.extend_from_slice(&[
            127, 0, 0, 1, 0x1a, 0xe1, 127, 0, 0, 1, 0, 0, 127, 0, 0, 1, 0x1a, 0xe1,
        ]);
        let Ok(Some(Reply::Announced(r))) = decode_reply(&a, 5, false) else {
            panic!("not an announce reply")
        };
        assert_eq!(r.interval, Some(1800));
        assert_eq!((r.complete, r.incomplete), (Some(3), Some(2)));
        assert_eq!(
            r.peers,
            vec!["127.0.0.1:6881".parse::<SocketAddr>().unwrap()]
        );
        a.push(0);
        assert_eq!(
            decode_reply(&a, 5, false),
            Err(TrackerError::Malformed(
                "UDP peers length 19 is not a multiple of 6".into()
            ))
        );
        let e = b"\0\0\0\x03\0\0\0\x05no such torrent";
        assert_eq!(
            decode_reply(e, 5, false),
            Err(TrackerError::Failure("no such torrent".into()))
        );
        assert_eq!(
            decode_reply(b"\0\0\0", 5, false),
            Err(TrackerError::Malformed("UDP reply of 3 bytes".into()))
        );
    }

    #[test]
    fn url_host_port() {
        assert_eq!(
            host_port("udp://127.0.0.1:6969/announce"),
            Ok("127.0.0.1:6969")
        );
        assert_eq!(host_port("UDP://127.0.0.1:1"), Ok("127.0.0.1:1"));
        assert!(matches!(
            host_port("udp:///x"),
            Err(TrackerError::InvalidUrl(_))
        ));
        assert!(matches!(
            host_port("http://x"),
            Err(TrackerError::InvalidUrl(_))
        ));
    }

    #[test]
    fn announce_against_local_udp_tracker_and_timeout() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let url = format!("udp://{}/announce", server.local_addr().unwrap());
        let srv = std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            let (n, from) = server.recv_from(&mut buf).unwrap();
            assert_eq!(n, 16);
            let mut reply = vec![0, 0, 0, 0];
            reply.extend_from_slice(&buf[12..16]);
            reply.extend_from_slice(&77u64.to_be_bytes());
            server.send_to(&reply, from).unwrap();
            let (n, from) = server.recv_from(&mut buf).unwrap();
            assert_eq!((n, &buf[..8]), (98, &77u64.to_be_bytes()[..]));
            let mut reply = vec![0, 0, 0, 1];
            reply.extend_from_slice(&buf[12..16]);
            reply.extend_from_slice(&[0, 0, 0, 60, 0, 0, 0, 1, 0, 0, 0, 1, 127, 0, 0, 2, 0, 80]);
            server.send_to(&reply, from).unwrap();
        });
        let deadline = Instant::now() + Duration::from_secs(5);
        let r = announce(&url, &req(), deadline).unwrap();
        srv.join().unwrap();
        assert_eq!(r.peers, vec!["127.0.0.2:80".parse::<SocketAddr>().unwrap()]);
        assert_eq!(r.interval, Some(60));

        let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
        let url = format!("udp://{}", silent.local_addr().unwrap());
        let start = Instant::now();
        let r = announce(&url, &req(), start + Duration::from_millis(300));
        assert_eq!(r, Err(TrackerError::Timeout));
        assert!(start.elapsed() < Duration::from_millis(800));
    }

    #[test]
    fn a_closed_port_is_reported_at_once_not_after_the_deadline() {
        let closed = UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = closed.local_addr().unwrap();
        drop(closed);
        let start = Instant::now();
        let r = announce(
            &format!("udp://{to}"),
            &req(),
            start + Duration::from_secs(15),
        );
        assert_eq!(
            r,
            Err(TrackerError::Transport(format!(
                "connection refused: nothing listens on UDP {to}"
            )))
        );
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
    }
}
