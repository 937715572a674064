//! Tracker announce messages, sans-IO: building the HTTP announce URL (BEP 3, BEP 23) and parsing
//! the bencoded response (BEP 3, BEP 7, BEP 23).
//!
//! Pure functions on bytes, called from the tracker worker threads (see `http.rs`) and usable from
//! any thread. Nothing here opens a socket, spawns a thread or reads the clock, and nothing panics
//! on any input: a hostile tracker body is an `Err`, never a crash.

use std::collections::HashSet;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::bencode::{self, Value};

/// The `event` parameter of an announce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnnounceEvent {
    /// A regular re-announce: no `event` parameter is sent.
    None,
    /// The first announce of a session.
    Started,
    /// The download just finished (sent once, not when starting as a seed).
    Completed,
    /// The torrent is being stopped; the tracker should forget this peer.
    Stopped,
}

impl AnnounceEvent {
    /// The wire value of the `event` parameter, or `None` when no parameter is sent.
    pub fn as_param(self) -> Option<&'static str> {
        match self {
            AnnounceEvent::None => None,
            AnnounceEvent::Started => Some("started"),
            AnnounceEvent::Completed => Some("completed"),
            AnnounceEvent::Stopped => Some("stopped"),
        }
    }
}

/// Everything one announce tells the tracker.
#[derive(Clone, Debug)]
pub struct AnnounceRequest {
    /// SHA-1 of the bencoded `info` dictionary.
    pub info_hash: [u8; 20],
    /// Our peer id.
    pub peer_id: [u8; 20],
    /// The TCP port we accept peers on.
    pub port: u16,
    /// Bytes uploaded this session.
    pub uploaded: u64,
    /// Bytes downloaded this session.
    pub downloaded: u64,
    /// Bytes still missing.
    pub left: u64,
    /// Which event this announce reports.
    pub event: AnnounceEvent,
    /// How many peers we would like.
    pub numwant: u32,
    /// A random per-session key so the tracker can recognise us across IP changes.
    pub key: u32,
    /// The `tracker id` the tracker gave us earlier, echoed back as `trackerid`.
    pub tracker_id: Option<Vec<u8>>,
}

/// A parsed, successful tracker response.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct AnnounceResponse {
    /// Seconds the tracker wants between regular announces.
    pub interval: Option<u32>,
    /// Seconds the tracker requires at least between announces.
    pub min_interval: Option<u32>,
    /// An opaque id to echo back in later announces.
    pub tracker_id: Option<Vec<u8>>,
    /// A warning to show the user; the response is still valid.
    pub warning: Option<String>,
    /// Peers, IPv4 then IPv6, without port-0 entries and without duplicates.
    pub peers: Vec<SocketAddr>,
    /// Number of seeders, if the tracker said.
    pub complete: Option<u32>,
    /// Number of leechers, if the tracker said.
    pub incomplete: Option<u32>,
}

/// Why an announce did not produce a usable response.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrackerError {
    /// The tracker answered with a `failure reason`.
    Failure(String),
    /// The body is not a valid tracker response; the text says what is wrong.
    Malformed(String),
    /// The tracker answered with a non-2xx HTTP status and no `failure reason`.
    Http {
        /// The HTTP status code.
        status: u16,
    },
    /// The tracker did not answer within the configured time.
    Timeout,
    /// The body is larger than the configured limit.
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The tracker redirected more often than allowed.
    TooManyRedirects {
        /// The redirect limit.
        limit: u32,
    },
    /// The announce URL cannot be used as written.
    InvalidUrl(String),
    /// A network error: DNS, connection refused, reset, TLS.
    Transport(String),
    /// The URL's scheme is not supported by this build (e.g. `https` without the `tls` feature).
    UnsupportedScheme(String),
}

impl fmt::Display for TrackerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrackerError::Failure(msg) => write!(f, "tracker refused the announce: {msg}"),
            TrackerError::Malformed(why) => write!(f, "tracker sent an invalid response: {why}"),
            TrackerError::Http { status } => {
                write!(f, "tracker answered HTTP {status}; check the announce URL")
            }
            TrackerError::Timeout => {
                write!(
                    f,
                    "tracker did not answer in time; it may be down or overloaded"
                )
            }
            TrackerError::TooLarge { limit } => {
                write!(f, "tracker response is larger than the {limit}-byte limit")
            }
            TrackerError::TooManyRedirects { limit } => {
                write!(f, "tracker redirected more than {limit} times")
            }
            TrackerError::InvalidUrl(why) => write!(f, "invalid tracker URL: {why}"),
            TrackerError::Transport(why) => write!(f, "could not reach tracker: {why}"),
            TrackerError::UnsupportedScheme(scheme) => write!(
                f,
                "unsupported tracker URL scheme '{scheme}' (https needs the `tls` feature)"
            ),
        }
    }
}

impl std::error::Error for TrackerError {}

/// Appends query params to `base` (which may already have a query string: use '&'); binary
/// percent-encoding of info_hash/peer_id (unreserved chars kept, everything else %XX uppercase);
/// compact=1; no_peer_id=1; event omitted for None.
///
/// Any `#fragment` of `base` is dropped (it is never sent to a server). Parameter order:
/// `info_hash, peer_id, port, uploaded, downloaded, left, compact, no_peer_id, [event], numwant,
/// key` (8 uppercase hex digits)`, [trackerid]`.
pub fn announce_url(base: &str, req: &AnnounceRequest) -> String {
    let base = base.split('#').next().unwrap_or(base);
    let mut url = String::with_capacity(base.len() + 256);
    url.push_str(base);
    if !base.contains('?') {
        url.push('?');
    } else if !(base.ends_with('?') || base.ends_with('&')) {
        url.push('&');
    }
    url.push_str("info_hash=");
    percent_encode_into(&req.info_hash, &mut url);
    url.push_str("&peer_id=");
    percent_encode_into(&req.peer_id, &mut url);
    url.push_str(&format!(
        "&port={}&uploaded={}&downloaded={}&left={}&compact=1&no_peer_id=1",
        req.port, req.uploaded, req.downloaded, req.left
    ));
    if let Some(event) = req.event.as_param() {
        url.push_str("&event=");
        url.push_str(event);
    }
    url.push_str(&format!("&numwant={}&key={:08X}", req.numwant, req.key));
    if let Some(id) = &req.tracker_id {
        url.push_str("&trackerid=");
        percent_encode_into(id, &mut url);
    }
    url
}

/// Percent-encodes arbitrary bytes: RFC 3986 unreserved characters stay, the rest become `%XX`.
fn percent_encode_into(bytes: &[u8], out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
}

/// Parses a body: compact peers (BEP 23, 6 bytes each; a length not multiple of 6 is an error),
/// dict peers (`ip` string + `port`), `peers6` (BEP 7, 18 bytes each); drops port 0 and
/// duplicates; `failure reason` -> Err(TrackerError::Failure(msg)).
///
/// A response with neither `peers` nor `peers6` is `Malformed`. Dict-form entries whose `ip` is
/// not an IP literal (a host name) or whose `port` is out of range are skipped. Numbers that do
/// not fit `u32` (or are negative) read as absent.
pub fn parse_response(body: &[u8]) -> Result<AnnounceResponse, TrackerError> {
    let root = bencode::decode(body).map_err(|e| TrackerError::Malformed(e.to_string()))?;
    if root.as_dict().is_none() {
        return Err(TrackerError::Malformed(
            "the response is not a dictionary".into(),
        ));
    }
    if let Some(reason) = root.get("failure reason") {
        let msg = reason
            .as_bytes()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_else(|| "(no reason given)".into());
        return Err(TrackerError::Failure(msg));
    }
    let mut peers = Vec::new();
    let (v4, v6) = (root.get("peers"), root.get("peers6"));
    if v4.is_none() && v6.is_none() {
        return Err(TrackerError::Malformed("no peers in the response".into()));
    }
    if let Some(v) = v4 {
        parse_peers(v, &mut peers)?;
    }
    if let Some(v) = v6 {
        let bytes = v
            .as_bytes()
            .ok_or_else(|| TrackerError::Malformed("peers6 is not a byte string".into()))?;
        parse_compact6(bytes, &mut peers)?;
    }
    let mut seen = HashSet::new();
    peers.retain(|p| p.port() != 0 && seen.insert(*p));
    Ok(AnnounceResponse {
        interval: get_u32(&root, "interval"),
        min_interval: get_u32(&root, "min interval"),
        tracker_id: root
            .get("tracker id")
            .and_then(Value::as_bytes)
            .map(<[u8]>::to_vec),
        warning: root
            .get("warning message")
            .and_then(Value::as_bytes)
            .map(|b| String::from_utf8_lossy(b).into_owned()),
        peers,
        complete: get_u32(&root, "complete"),
        incomplete: get_u32(&root, "incomplete"),
    })
}

fn get_u32(dict: &Value<'_>, key: &str) -> Option<u32> {
    dict.get(key)
        .and_then(Value::as_int)
        .and_then(|n| u32::try_from(n).ok())
}

/// `peers`: a compact byte string or a list of dictionaries.
fn parse_peers(v: &Value<'_>, out: &mut Vec<SocketAddr>) -> Result<(), TrackerError> {
    if let Some(bytes) = v.as_bytes() {
        return parse_compact4(bytes, out);
    }
    let list = v.as_list().ok_or_else(|| {
        TrackerError::Malformed("peers is neither a byte string nor a list".into())
    })?;
    for entry in list {
        if entry.as_dict().is_none() {
            return Err(TrackerError::Malformed(
                "a peers list entry is not a dictionary".into(),
            ));
        }
        let ip = entry
            .get("ip")
            .and_then(Value::as_str)
            .and_then(|s| s.parse::<IpAddr>().ok());
        let port = entry
            .get("port")
            .and_then(Value::as_int)
            .and_then(|p| u16::try_from(p).ok());
        if let (Some(ip), Some(port)) = (ip, port) {
            out.push(SocketAddr::new(ip, port));
        }
    }
    Ok(())
}

fn parse_compact4(bytes: &[u8], out: &mut Vec<SocketAddr>) -> Result<(), TrackerError> {
    if bytes.len() % 6 != 0 {
        return Err(TrackerError::Malformed(format!(
            "compact peers length {} is not a multiple of 6",
            bytes.len()
        )));
    }
    for c in bytes.chunks_exact(6) {
        let ip = Ipv4Addr::new(c[0], c[1], c[2], c[3]);
        let port = u16::from_be_bytes([c[4], c[5]]);
        out.push(SocketAddr::new(IpAddr::V4(ip), port));
    }
    Ok(())
}

fn parse_compact6(bytes: &[u8], out: &mut Vec<SocketAddr>) -> Result<(), TrackerError> {
    if bytes.len() % 18 != 0 {
        return Err(TrackerError::Malformed(format!(
            "compact peers6 length {} is not a multiple of 18",
            bytes.len()
        )));
    }
    for c in bytes.chunks_exact(18) {
        let mut octets = [0u8; 16];
        octets.copy_from_slice(&c[..16]);
        let port = u16::from_be_bytes([c[16], c[17]]);
        out.push(SocketAddr::new(IpAddr::V6(Ipv6Addr::from(octets)), port));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> AnnounceRequest {
        let mut info_hash = [b'a'; 20];
        info_hash[..6].copy_from_slice(&[0x00, 0x7f, 0xff, b' ', b'~', b'%']);
        AnnounceRequest {
            info_hash,
            peer_id: *b"-CO0001-0123456789_.",
            port: 6881,
            uploaded: 1,
            downloaded: 2,
            left: 3,
            event: AnnounceEvent::Started,
            numwant: 50,
            key: 0xdead_beef,
            tracker_id: None,
        }
    }

    #[test]
    fn url_encodes_binary_exactly() {
        assert_eq!(
            announce_url("http://127.0.0.1:6969/announce", &request()),
            "http://127.0.0.1:6969/announce?info_hash=%00%7F%FF%20~%25aaaaaaaaaaaaaa\
             &peer_id=-CO0001-0123456789_.&port=6881&uploaded=1&downloaded=2&left=3\
             &compact=1&no_peer_id=1&event=started&numwant=50&key=DEADBEEF"
        );
    }

    #[test]
    fn url_appends_to_existing_query_and_omits_none_event() {
        let mut req = request();
        req.event = AnnounceEvent::None;
        req.tracker_id = Some(b"id 1".to_vec());
        let url = announce_url("http://127.0.0.1/a?passkey=x#frag", &req);
        assert!(url.starts_with("http://127.0.0.1/a?passkey=x&info_hash=%00"));
        assert!(url.ends_with("&no_peer_id=1&numwant=50&key=DEADBEEF&trackerid=id%201"));
        assert!(!url.contains("event="));
        let url = announce_url("http://127.0.0.1/a?", &req);
        assert!(url.starts_with("http://127.0.0.1/a?info_hash="));
        let url = announce_url("http://127.0.0.1/a?k=v&", &req);
        assert!(url.starts_with("http://127.0.0.1/a?k=v&info_hash="));
    }

    #[test]
    fn event_params() {
        let params: Vec<_> = [
            AnnounceEvent::None,
            AnnounceEvent::Started,
            AnnounceEvent::Completed,
            AnnounceEvent::Stopped,
        ]
        .iter()
        .map(|e| e.as_param())
        .collect();
        assert_eq!(
            params,
            [None, Some("started"), Some("completed"), Some("stopped")]
        );
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_compact_peers_and_fields() {
        let body = b"d8:completei5e10:incompletei7e8:intervali1800e12:min intervali60e\
                     5:peers12:\x7f\x00\x00\x01\x1a\xe1\x0a\x00\x00\x02\x00\x50\
                     10:tracker id3:abc15:warning message4:slowe";
        let r = parse_response(body).unwrap();
        assert_eq!(
            r,
            AnnounceResponse {
                interval: Some(1800),
                min_interval: Some(60),
                tracker_id: Some(b"abc".to_vec()),
                warning: Some("slow".into()),
                peers: vec![addr("127.0.0.1:6881"), addr("10.0.0.2:80")],
                complete: Some(5),
                incomplete: Some(7),
            }
        );
    }

    #[test]
    fn parses_dict_peers_skipping_hostnames_and_bad_ports() {
        let body = b"d8:intervali900e5:peersld2:ip9:127.0.0.14:porti6881eed2:ip3:::14:porti51413ee\
                     d2:ip9:localhost4:porti1eed2:ip8:10.0.0.14:porti70000eeee";
        let r = parse_response(body).unwrap();
        assert_eq!(r.peers, vec![addr("127.0.0.1:6881"), addr("[::1]:51413")]);
        assert_eq!(r.interval, Some(900));
        assert_eq!(r.min_interval, None);
    }

    #[test]
    fn parses_peers6() {
        let mut body = b"d5:peers0:6:peers636:".to_vec();
        body.extend_from_slice(&[0u8; 15]);
        body.extend_from_slice(&[1, 0x1a, 0xe1]);
        body.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
        body.extend_from_slice(&[0u8; 11]);
        body.extend_from_slice(&[5, 0, 80]);
        body.push(b'e');
        let r = parse_response(&body).unwrap();
        assert_eq!(r.peers, vec![addr("[::1]:6881"), addr("[2001:db8::5]:80")]);
        let bad = b"d6:peers65:abcdee";
        assert_eq!(
            parse_response(bad),
            Err(TrackerError::Malformed(
                "compact peers6 length 5 is not a multiple of 18".into()
            ))
        );
    }

    #[test]
    fn failure_reason_wins() {
        assert_eq!(
            parse_response(b"d14:failure reason12:unregistered5:peers0:e"),
            Err(TrackerError::Failure("unregistered".into()))
        );
    }

    #[test]
    fn malformed_bodies() {
        assert_eq!(
            parse_response(b"d5:peers7:abcdefge"),
            Err(TrackerError::Malformed(
                "compact peers length 7 is not a multiple of 6".into()
            ))
        );
        assert_eq!(
            parse_response(b"<html>nope</html>"),
            Err(TrackerError::Malformed(
                "bencode: unexpected byte at offset 0".into()
            ))
        );
        assert_eq!(
            parse_response(b"le"),
            Err(TrackerError::Malformed(
                "the response is not a dictionary".into()
            ))
        );
        assert_eq!(
            parse_response(b"d8:intervali1ee"),
            Err(TrackerError::Malformed("no peers in the response".into()))
        );
        assert_eq!(
            parse_response(b"d5:peersi3ee"),
            Err(TrackerError::Malformed(
                "peers is neither a byte string nor a list".into()
            ))
        );
        assert_eq!(
            parse_response(b""),
            Err(TrackerError::Malformed(
                "bencode: input ends in the middle of a value".into()
            ))
        );
    }

    #[test]
    fn drops_port_zero_and_duplicates_and_out_of_range_numbers() {
        let body = b"d8:intervali-5e5:peers24:\x7f\x00\x00\x01\x1a\xe1\x7f\x00\x00\x01\x00\x00\
                     \x7f\x00\x00\x01\x1a\xe1\x7f\x00\x00\x02\x1a\xe2e";
        let r = parse_response(body).unwrap();
        assert_eq!(
            r.peers,
            vec![addr("127.0.0.1:6881"), addr("127.0.0.2:6882")]
        );
        assert_eq!(r.interval, None);
    }

    #[test]
    fn display_is_actionable() {
        assert_eq!(
            TrackerError::Http { status: 404 }.to_string(),
            "tracker answered HTTP 404; check the announce URL"
        );
        assert_eq!(
            TrackerError::TooLarge { limit: 10 }.to_string(),
            "tracker response is larger than the 10-byte limit"
        );
    }
}
