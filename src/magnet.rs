//! Magnet links: parsing `magnet:?xt=urn:btih:…` URIs (BEP 9, with BEP 53 `so` and BEP 52
//! hybrid `btmh`) into a [`Magnet`], and writing them back.
//!
//! Pure data: called on whatever thread receives the link (the CLI, `Session::add`). It resolves
//! no host name and dials nothing; peer host names stay strings for the caller. Everything is
//! bounded: the URI ([`MAX_URI_LEN`]), the name, the number of trackers, peers, selected files and
//! warnings. What makes the link unusable (no or malformed info-hash, conflicting hashes, a v2-only
//! link, a bad `so`) is a [`MagnetError`]; what only loses a hint (a `javascript:` tracker, a
//! port-0 peer, an over-long name) is skipped and reported in [`Magnet::warnings`].

use std::collections::BTreeSet;
use std::fmt;
use std::net::SocketAddr;

use crate::metainfo::InfoHash;

/// Longest URI accepted: 64 KiB, room for a hundred long tracker URLs.
pub const MAX_URI_LEN: usize = 64 * 1024;
/// Longest display name kept; longer names are cut (with a warning), not refused, since the
/// name is only a label until the metadata brings the real one.
pub const MAX_NAME_LEN: usize = 1024;
/// Most trackers kept; later ones are dropped with a warning.
pub const MAX_TRACKERS: usize = 100;
/// Most `x.pe` peers kept; later ones are dropped with a warning.
pub const MAX_PEERS: usize = 100;
/// Most file indices one `so` may select.
pub const MAX_SELECTED: usize = 65_536;
/// Most warnings recorded; a link that earns more is clearly junk and the rest are not listed.
pub const MAX_WARNINGS: usize = 32;

/// A peer address from `x.pe`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum MagnetPeer {
    /// A literal IPv4 or IPv6 address and port.
    Addr(SocketAddr),
    /// A host name and port, left unresolved for the caller.
    Host {
        /// The host name (letters, digits, `-` and `.` only).
        host: String,
        /// The port (never 0).
        port: u16,
    },
}

impl fmt::Display for MagnetPeer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MagnetPeer::Addr(a) => write!(f, "{a}"),
            MagnetPeer::Host { host, port } => write!(f, "{host}:{port}"),
        }
    }
}

/// Something in the link that was skipped; the link is still usable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MagnetWarning {
    /// A `tr` that is not an http, https or udp URL (e.g. `javascript:` or `file:`).
    TrackerSkipped {
        /// The URL (cut to 100 characters).
        url: String,
    },
    /// More than 100 trackers.
    TooManyTrackers,
    /// An `x.pe` that is not `ip:port`, `[ipv6]:port` or `host:port` with a non-zero port.
    PeerSkipped {
        /// The value (cut to 100 characters).
        peer: String,
    },
    /// More than 100 peers.
    TooManyPeers,
    /// The `dn` was longer than 1,024 bytes and was cut.
    NameTruncated {
        /// Its length in bytes before cutting.
        len: usize,
    },
    /// An `xt` of a kind other than `urn:btih:` / `urn:btmh:` (e.g. `urn:ed2k:`).
    UnknownTopic {
        /// The value (cut to 100 characters).
        xt: String,
    },
}

impl fmt::Display for MagnetWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MagnetWarning::TrackerSkipped { url } => {
                write!(
                    f,
                    "skipped tracker {url:?}: only http, https and udp trackers are used"
                )
            }
            MagnetWarning::TooManyTrackers => {
                write!(
                    f,
                    "more than {MAX_TRACKERS} trackers; the rest were skipped"
                )
            }
            MagnetWarning::PeerSkipped { peer } => {
                write!(
                    f,
                    "skipped peer {peer:?}: expected host:port with a port from 1 to 65535"
                )
            }
            MagnetWarning::TooManyPeers => {
                write!(f, "more than {MAX_PEERS} peers; the rest were skipped")
            }
            MagnetWarning::NameTruncated { len } => {
                write!(f, "name of {len} bytes cut to {MAX_NAME_LEN}")
            }
            MagnetWarning::UnknownTopic { xt } => write!(f, "ignored unsupported xt {xt:?}"),
        }
    }
}

/// Why a magnet link cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MagnetError {
    /// The URI is longer than 64 KiB.
    TooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// It does not start with `magnet:?`.
    NotMagnet,
    /// A `%` not followed by two hex digits.
    BadEscape {
        /// The parameter holding it.
        param: String,
    },
    /// A `urn:btih:` hash that is neither 40 hex digits nor 32 base32 characters.
    HashLength {
        /// Its length in characters.
        len: usize,
    },
    /// A 40-character `urn:btih:` hash with a non-hex character.
    BadHex {
        /// The offending character.
        found: char,
    },
    /// A 32-character `urn:btih:` hash with a character outside base32 (A–Z, 2–7).
    BadBase32 {
        /// The offending character.
        found: char,
    },
    /// A `urn:btmh:` that is not a hex sha2-256 multihash (`1220` + 64 hex digits).
    BadV2Hash,
    /// Two `xt` parameters with different hashes of the same kind.
    ConflictingHashes,
    /// No `xt=urn:btih:` (and no `urn:btmh:` either).
    MissingInfoHash,
    /// Only a v2 hash (`urn:btmh:`): joining needs BitTorrent v2, which this client lacks.
    V2Only,
    /// A malformed `so` (BEP 53): expected indices and ranges like `0,2,4-6`.
    BadSelection,
    /// An `so` selecting more than 65,536 files.
    SelectionTooLarge,
}

impl fmt::Display for MagnetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MagnetError::TooLong { len } => {
                write!(
                    f,
                    "magnet link of {len} bytes exceeds the limit of {MAX_URI_LEN}"
                )
            }
            MagnetError::NotMagnet => f.write_str("not a magnet link: it must start with magnet:?"),
            MagnetError::BadEscape { param } => {
                write!(f, "magnet link: bad %-escape in parameter {param:?}")
            }
            MagnetError::HashLength { len } => write!(
                f,
                "magnet info-hash has {len} characters; expected 40 hex or 32 base32 characters"
            ),
            MagnetError::BadHex { found } => {
                write!(f, "magnet info-hash: {found:?} is not a hexadecimal digit")
            }
            MagnetError::BadBase32 { found } => {
                write!(
                    f,
                    "magnet info-hash: {found:?} is not a base32 character (A-Z, 2-7)"
                )
            }
            MagnetError::BadV2Hash => {
                f.write_str("magnet v2 hash (urn:btmh:) is not 1220 followed by 64 hex digits")
            }
            MagnetError::ConflictingHashes => {
                f.write_str("magnet link names two different info-hashes")
            }
            MagnetError::MissingInfoHash => {
                f.write_str("magnet link has no info-hash (xt=urn:btih:...)")
            }
            MagnetError::V2Only => f.write_str(
                "magnet link has only a BitTorrent v2 hash (urn:btmh:); this client needs a v1 \
                 or hybrid link with xt=urn:btih:",
            ),
            MagnetError::BadSelection => {
                f.write_str("magnet so= is malformed: expected file indices like 0,2,4-6")
            }
            MagnetError::SelectionTooLarge => {
                write!(f, "magnet so= selects more than {MAX_SELECTED} files")
            }
        }
    }
}

impl std::error::Error for MagnetError {}

/// A parsed magnet link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Magnet {
    /// The v1 info-hash the swarm is joined with.
    pub info_hash: InfoHash,
    /// The v2 (sha2-256) info-hash of a hybrid link, kept for later; not used to join.
    pub v2_hash: Option<[u8; 32]>,
    /// `dn`, the display name, percent-decoded (`+` as space), at most 1,024 bytes.
    pub name: Option<String>,
    /// Trackers in BEP 12 tiers: each `tr` in its own tier, in link order (as libtorrent does).
    pub trackers: Vec<Vec<String>>,
    /// `x.pe` peers to try, in link order, without duplicates.
    pub peers: Vec<MagnetPeer>,
    /// `so` (BEP 53): the file indices to download, sorted; `None` means all.
    pub select_only: Option<Vec<u32>>,
    /// What was skipped while parsing (at most 32).
    pub warnings: Vec<MagnetWarning>,
}

/// Fields gathered while reading the parameters.
#[derive(Default)]
struct Parts {
    v1: Option<[u8; 20]>,
    v2: Option<[u8; 32]>,
    name: Option<String>,
    trackers: Vec<Vec<String>>,
    peers: Vec<MagnetPeer>,
    select: Option<BTreeSet<u32>>,
    warnings: Vec<MagnetWarning>,
}

impl Parts {
    fn warn(&mut self, w: MagnetWarning) {
        if self.warnings.len() < MAX_WARNINGS && !self.warnings.contains(&w) {
            self.warnings.push(w);
        }
    }
}

impl Magnet {
    /// Parses a magnet URI. Unknown parameters are ignored; see the module documentation for
    /// what is an error and what only a warning.
    pub fn parse(uri: &str) -> Result<Magnet, MagnetError> {
        if uri.len() > MAX_URI_LEN {
            return Err(MagnetError::TooLong { len: uri.len() });
        }
        let query = uri
            .get(..8)
            .filter(|p| p.eq_ignore_ascii_case("magnet:?"))
            .and_then(|_| uri.get(8..))
            .ok_or(MagnetError::NotMagnet)?;
        let mut parts = Parts::default();
        for param in query.split('&') {
            let Some((key, raw)) = param.split_once('=') else {
                continue;
            };
            let key = key.to_ascii_lowercase();
            let base = key.split_once('.').map_or(key.as_str(), |(b, _)| b);
            let decode = |plus| percent_decode(raw, plus).ok_or_else(|| bad_escape(&key));
            match (base, key.as_str()) {
                ("xt", _) => read_xt(&mut parts, &decode(false)?)?,
                (_, "dn") => read_name(&mut parts, &decode(true)?),
                ("tr", _) => read_tracker(&mut parts, decode(false)?),
                (_, "x.pe") => read_peer(&mut parts, &decode(false)?),
                (_, "so") => read_selection(&mut parts, &decode(false)?)?,
                _ => {}
            }
        }
        let info_hash = match (parts.v1, parts.v2) {
            (Some(v1), _) => InfoHash(v1),
            (None, Some(_)) => return Err(MagnetError::V2Only),
            (None, None) => return Err(MagnetError::MissingInfoHash),
        };
        Ok(Magnet {
            info_hash,
            v2_hash: parts.v2,
            name: parts.name,
            trackers: parts.trackers,
            peers: parts.peers,
            select_only: parts.select.map(|s| s.into_iter().collect()),
            warnings: parts.warnings,
        })
    }

    /// The link as a URI: hashes, name, trackers (tier order), peers and `so`, percent-encoded
    /// so that [`Magnet::parse`] gives back the same fields.
    pub fn to_uri(&self) -> String {
        let mut s = format!("magnet:?xt=urn:btih:{}", self.info_hash.to_hex());
        if let Some(v2) = &self.v2_hash {
            s.push_str("&xt=urn:btmh:1220");
            v2.iter().for_each(|b| s.push_str(&format!("{b:02x}")));
        }
        if let Some(name) = &self.name {
            s.push_str("&dn=");
            percent_encode(name, &mut s);
        }
        for url in self.trackers.iter().flatten() {
            s.push_str("&tr=");
            percent_encode(url, &mut s);
        }
        for peer in &self.peers {
            s.push_str("&x.pe=");
            percent_encode(&peer.to_string(), &mut s);
        }
        if let Some(sel) = &self.select_only {
            s.push_str("&so=");
            s.push_str(&ranges(sel));
        }
        s
    }
}

fn bad_escape(key: &str) -> MagnetError {
    MagnetError::BadEscape {
        param: clip(key).to_owned(),
    }
}

/// At most 100 characters of `s`, for messages.
fn clip(s: &str) -> &str {
    s.char_indices().nth(100).map_or(s, |(i, _)| &s[..i])
}

fn read_xt(parts: &mut Parts, xt: &str) -> Result<(), MagnetError> {
    let (urn, hash) = (xt.get(..9).unwrap_or(""), xt.get(9..).unwrap_or(""));
    if urn.eq_ignore_ascii_case("urn:btih:") {
        let h = parse_btih(hash)?;
        set_once(&mut parts.v1, h)
    } else if urn.eq_ignore_ascii_case("urn:btmh:") {
        let h = parse_btmh(hash)?;
        set_once(&mut parts.v2, h)
    } else {
        parts.warn(MagnetWarning::UnknownTopic {
            xt: clip(xt).to_owned(),
        });
        Ok(())
    }
}

/// Records a hash; the same hash twice is fine, a different one is a conflict.
fn set_once<const N: usize>(slot: &mut Option<[u8; N]>, h: [u8; N]) -> Result<(), MagnetError> {
    match slot {
        Some(old) if *old != h => Err(MagnetError::ConflictingHashes),
        _ => {
            *slot = Some(h);
            Ok(())
        }
    }
}

fn parse_btih(s: &str) -> Result<[u8; 20], MagnetError> {
    match s.len() {
        40 => {
            let mut out = [0u8; 20];
            hex_into(s, &mut out)?;
            Ok(out)
        }
        32 => base32(s),
        _ => Err(MagnetError::HashLength {
            len: s.chars().count(),
        }),
    }
}

fn parse_btmh(s: &str) -> Result<[u8; 32], MagnetError> {
    let digest = s
        .get(..4)
        .filter(|code| *code == "1220")
        .and_then(|_| s.get(4..))
        .filter(|d| d.len() == 64)
        .ok_or(MagnetError::BadV2Hash)?;
    let mut out = [0u8; 32];
    hex_into(digest, &mut out).map_err(|_| MagnetError::BadV2Hash)?;
    Ok(out)
}

fn hex_into(s: &str, out: &mut [u8]) -> Result<(), MagnetError> {
    if let Some(found) = s.chars().find(|c| !c.is_ascii_hexdigit()) {
        return Err(MagnetError::BadHex { found });
    }
    let digit = |c: u8| {
        char::from(c).to_digit(16).ok_or(MagnetError::BadHex {
            found: char::from(c),
        })
    };
    for (o, pair) in out.iter_mut().zip(s.as_bytes().chunks_exact(2)) {
        *o = (digit(pair[0])? << 4 | digit(pair[1])?) as u8;
    }
    Ok(())
}

/// RFC 4648 base32 (A–Z, 2–7, either case, no padding): 32 characters carry 160 bits.
fn base32(s: &str) -> Result<[u8; 20], MagnetError> {
    let mut out = [0u8; 20];
    let (mut acc, mut bits, mut at) = (0u64, 0u32, 0usize);
    for c in s.chars() {
        let v = match c.to_ascii_uppercase() {
            u @ 'A'..='Z' => u as u64 - 'A' as u64,
            d @ '2'..='7' => d as u64 - '2' as u64 + 26,
            _ => return Err(MagnetError::BadBase32 { found: c }),
        };
        acc = acc << 5 | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out[at] = (acc >> bits) as u8;
            at += 1;
        }
    }
    Ok(out)
}

fn read_name(parts: &mut Parts, name: &str) {
    if name.is_empty() {
        return;
    }
    let mut name = name.to_owned();
    if name.len() > MAX_NAME_LEN {
        parts.warn(MagnetWarning::NameTruncated { len: name.len() });
        let mut cut = MAX_NAME_LEN;
        while !name.is_char_boundary(cut) {
            cut -= 1;
        }
        name.truncate(cut);
    }
    parts.name = Some(name);
}

fn read_tracker(parts: &mut Parts, url: String) {
    let usable = url.split_once("://").is_some_and(|(scheme, rest)| {
        ["http", "https", "udp"]
            .iter()
            .any(|s| s.eq_ignore_ascii_case(scheme))
            && !rest.is_empty()
            && !rest.starts_with('/')
    }) && !url.chars().any(char::is_control);
    if !usable {
        parts.warn(MagnetWarning::TrackerSkipped {
            url: clip(&url).to_owned(),
        });
    } else if parts.trackers.iter().any(|t| t[0] == url) {
        // A repeated tracker is dropped silently: it adds nothing.
    } else if parts.trackers.len() >= MAX_TRACKERS {
        parts.warn(MagnetWarning::TooManyTrackers);
    } else {
        parts.trackers.push(vec![url]);
    }
}

fn read_peer(parts: &mut Parts, value: &str) {
    let Some(peer) = parse_peer(value) else {
        parts.warn(MagnetWarning::PeerSkipped {
            peer: clip(value).to_owned(),
        });
        return;
    };
    if parts.peers.contains(&peer) {
        return;
    }
    if parts.peers.len() >= MAX_PEERS {
        parts.warn(MagnetWarning::TooManyPeers);
        return;
    }
    parts.peers.push(peer);
}

fn parse_peer(value: &str) -> Option<MagnetPeer> {
    if let Ok(addr) = value.parse::<SocketAddr>() {
        return (addr.port() != 0).then_some(MagnetPeer::Addr(addr));
    }
    let (host, port) = value.rsplit_once(':')?;
    let port: u16 = port.parse().ok().filter(|&p| p != 0)?;
    let name_ok = !host.is_empty()
        && host.len() <= 253
        && host.bytes().any(|b| b.is_ascii_alphabetic())
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    name_ok.then(|| MagnetPeer::Host {
        host: host.to_ascii_lowercase(),
        port,
    })
}

/// BEP 53 `so`: comma-separated indices and inclusive ranges, merged with any earlier `so`.
fn read_selection(parts: &mut Parts, value: &str) -> Result<(), MagnetError> {
    let set = parts.select.get_or_insert_with(BTreeSet::new);
    for item in value.split(',') {
        let num = |s: &str| {
            let ok = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
            ok.then(|| s.parse::<u32>().ok())
                .flatten()
                .ok_or(MagnetError::BadSelection)
        };
        let (first, last) = match item.split_once('-') {
            Some((a, b)) => (num(a)?, num(b)?),
            None => (num(item)?, num(item)?),
        };
        if first > last {
            return Err(MagnetError::BadSelection);
        }
        // Counted before inserting, so a range like 0-4000000000 is refused without cost.
        let span = u64::from(last - first) + 1;
        let already = set.range(first..=last).count() as u64;
        if set.len() as u64 + span - already > MAX_SELECTED as u64 {
            return Err(MagnetError::SelectionTooLarge);
        }
        set.extend(first..=last);
    }
    Ok(())
}

/// Indices as `so` ranges: consecutive runs become `a-b`.
fn ranges(sel: &[u32]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < sel.len() {
        let mut j = i;
        while j + 1 < sel.len() && sel[j + 1] == sel[j].wrapping_add(1) {
            j += 1;
        }
        out.push(if i == j {
            sel[i].to_string()
        } else {
            format!("{}-{}", sel[i], sel[j])
        });
        i = j + 1;
    }
    out.join(",")
}

/// Decodes `%XX` escapes (and `+` as a space when `plus`); invalid UTF-8 becomes U+FFFD.
/// `None` for a `%` without two hex digits after it.
fn percent_decode(s: &str, plus: bool) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = b.get(i + 1..i + 3)?;
                let hi = char::from(hex[0]).to_digit(16)?;
                let lo = char::from(hex[1]).to_digit(16)?;
                out.push((hi << 4 | lo) as u8);
                i += 3;
            }
            b'+' if plus => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn percent_encode(s: &str, out: &mut String) {
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "c12fe1c06bba254a9dc9f519b335aa7c1367a88a";

    fn parse(s: &str) -> Magnet {
        Magnet::parse(s).unwrap()
    }

    #[test]
    fn full_link_parses_every_field() {
        let m = parse(&format!(
            "magnet:?xt=urn:btih:{HEX}&dn=Some+Name%20%C3%A9&tr=udp%3A%2F%2F127.0.0.1%3A6969\
             &tr.1=http://192.0.2.1/announce&x.pe=192.0.2.9:6881&x.pe=[2001:db8::1]:51413\
             &x.pe=peer.example:7000&so=0,2,4-6&ws=ignored&foo"
        ));
        assert_eq!(m.info_hash.to_hex(), HEX);
        assert_eq!(m.name.as_deref(), Some("Some Name é"));
        assert_eq!(
            m.trackers,
            [["udp://127.0.0.1:6969"], ["http://192.0.2.1/announce"]]
        );
        assert_eq!(
            m.peers,
            [
                MagnetPeer::Addr("192.0.2.9:6881".parse().unwrap()),
                MagnetPeer::Addr("[2001:db8::1]:51413".parse().unwrap()),
                MagnetPeer::Host {
                    host: "peer.example".into(),
                    port: 7000
                },
            ]
        );
        assert_eq!(m.select_only.as_deref(), Some(&[0, 2, 4, 5, 6][..]));
        assert!(m.warnings.is_empty());
        assert_eq!(m.v2_hash, None);
    }

    #[test]
    fn base32_and_uppercase_hex_give_the_same_hash() {
        let b32 = parse("magnet:?xt=urn:btih:YEX6DQDLXISUVHOJ6UM3GNNKPQJWPKEK");
        assert_eq!(b32.info_hash.to_hex(), HEX);
        let lower = parse("MAGNET:?XT=URN:BTIH:yex6dqdlxisuvhoj6um3gnnkpqjwpkek");
        assert_eq!(lower.info_hash, b32.info_hash);
        let upper = parse(&format!("magnet:?xt=urn:btih:{}", HEX.to_uppercase()));
        assert_eq!(upper.info_hash, b32.info_hash);
    }

    #[test]
    fn to_uri_round_trips() {
        let m = parse(&format!(
            "magnet:?xt=urn:btih:{HEX}&xt=urn:btmh:1220{}&dn=a%26b%3Dc+d&tr=https://127.0.0.1/a?x=1%262\
             &x.pe=[2001:db8::2]:1&x.pe=h.example:2&so=9,1-3,5",
            "ab".repeat(32)
        ));
        let uri = m.to_uri();
        assert!(uri.starts_with(&format!("magnet:?xt=urn:btih:{HEX}&xt=urn:btmh:1220abab")));
        assert!(uri.ends_with("&so=1-3,5,9"), "{uri}");
        assert!(uri.contains("&dn=a%26b%3Dc%20d&"), "{uri}");
        assert_eq!(parse(&uri), m);
        assert_eq!(m.trackers, [["https://127.0.0.1/a?x=1&2"]]);
    }

    #[test]
    fn hybrid_keeps_v2_but_joins_via_v1() {
        let v2 = "1220".to_owned() + &"0f".repeat(32);
        let m = parse(&format!("magnet:?xt=urn:btmh:{v2}&xt=urn:btih:{HEX}"));
        assert_eq!(m.info_hash.to_hex(), HEX);
        assert_eq!(m.v2_hash, Some([0x0f; 32]));
        assert_eq!(
            Magnet::parse(&format!("magnet:?xt=urn:btmh:{v2}")),
            Err(MagnetError::V2Only)
        );
        let sha512 = "1340".to_owned() + &"0f".repeat(64);
        assert_eq!(
            Magnet::parse(&format!("magnet:?xt=urn:btih:{HEX}&xt=urn:btmh:{sha512}")),
            Err(MagnetError::BadV2Hash)
        );
        assert!(MagnetError::V2Only.to_string().contains("xt=urn:btih:"));
    }

    #[test]
    fn malformed_hashes_name_the_problem() {
        let cases = [
            (
                "magnet:?xt=urn:btih:abc",
                MagnetError::HashLength { len: 3 },
            ),
            (
                "magnet:?xt=urn:btih:c12fe1c06bba254a9dc9f519b335aa7c1367a88",
                MagnetError::HashLength { len: 39 },
            ),
            (
                "magnet:?xt=urn:btih:g12fe1c06bba254a9dc9f519b335aa7c1367a88a",
                MagnetError::BadHex { found: 'g' },
            ),
            (
                "magnet:?xt=urn:btih:YEX6DQDLXISUVHOJ6UM3GNNKPQJWPKE1",
                MagnetError::BadBase32 { found: '1' },
            ),
            ("magnet:?dn=x", MagnetError::MissingInfoHash),
            (
                "magnet:?xt=urn:btih:%zz",
                MagnetError::BadEscape { param: "xt".into() },
            ),
            ("http://127.0.0.1/x.torrent", MagnetError::NotMagnet),
            ("magnet:xt=urn:btih:", MagnetError::NotMagnet),
            ("", MagnetError::NotMagnet),
        ];
        for (uri, err) in cases {
            assert_eq!(Magnet::parse(uri), Err(err), "{uri}");
        }
        assert_eq!(
            MagnetError::HashLength { len: 3 }.to_string(),
            "magnet info-hash has 3 characters; expected 40 hex or 32 base32 characters"
        );
    }

    #[test]
    fn repeated_xt_same_hash_ok_different_hash_refused() {
        let same =
            format!("magnet:?xt=urn:btih:{HEX}&xt.1=urn:btih:YEX6DQDLXISUVHOJ6UM3GNNKPQJWPKEK");
        assert_eq!(parse(&same).info_hash.to_hex(), HEX);
        let other = format!("magnet:?xt=urn:btih:{HEX}&xt=urn:btih:{}", "0".repeat(40));
        assert_eq!(Magnet::parse(&other), Err(MagnetError::ConflictingHashes));
        let ed2k = parse(&format!("magnet:?xt=urn:ed2k:31D6CFE0D1&xt=urn:btih:{HEX}"));
        assert_eq!(
            ed2k.warnings,
            [MagnetWarning::UnknownTopic {
                xt: "urn:ed2k:31D6CFE0D1".into()
            }]
        );
    }

    #[test]
    fn dangerous_and_odd_trackers_are_skipped_with_warnings() {
        let m = parse(&format!(
            "magnet:?xt=urn:btih:{HEX}&tr=javascript:alert(1)&tr=file:///etc/passwd\
             &tr=udp://127.0.0.1:1&tr=udp://127.0.0.1:1&tr=ftp://127.0.0.1/&tr=http://&tr=HTTP://127.0.0.2/"
        ));
        assert_eq!(m.trackers, [["udp://127.0.0.1:1"], ["HTTP://127.0.0.2/"]]);
        let skipped: Vec<String> = m.warnings.iter().map(|w| w.to_string()).collect();
        assert_eq!(skipped.len(), 4);
        assert!(skipped[0].starts_with("skipped tracker \"javascript:alert(1)\""));
        assert!(skipped[1].contains("file:///etc/passwd"));
    }

    #[test]
    fn trackers_and_peers_are_bounded() {
        let mut uri = format!("magnet:?xt=urn:btih:{HEX}");
        for i in 0..300 {
            uri.push_str(&format!(
                "&tr=udp://127.0.0.1:{}&x.pe=127.0.0.1:{}",
                i + 1,
                i + 1
            ));
        }
        let m = parse(&uri);
        assert_eq!(m.trackers.len(), MAX_TRACKERS);
        assert_eq!(m.peers.len(), MAX_PEERS);
        assert_eq!(
            m.warnings,
            [MagnetWarning::TooManyTrackers, MagnetWarning::TooManyPeers]
        );
        let mut junk = format!("magnet:?xt=urn:btih:{HEX}");
        for i in 0..100 {
            junk.push_str(&format!("&tr=file:///{i}"));
        }
        assert_eq!(parse(&junk).warnings.len(), MAX_WARNINGS);
    }

    #[test]
    fn bad_peers_are_skipped() {
        let m = parse(&format!(
            "magnet:?xt=urn:btih:{HEX}&x.pe=127.0.0.1:0&x.pe=127.0.0.1&x.pe=::1:80\
             &x.pe=bad_host:80&x.pe=h.example:0&x.pe=127.0.0.1:70000&x.pe=127.0.0.5:80"
        ));
        assert_eq!(m.peers, [MagnetPeer::Addr("127.0.0.5:80".parse().unwrap())]);
        assert_eq!(m.warnings.len(), 6);
    }

    #[test]
    fn long_names_are_cut_and_huge_links_refused() {
        let name = "é".repeat(600);
        let m = parse(&format!("magnet:?xt=urn:btih:{HEX}&dn={name}"));
        assert_eq!(m.name.as_deref(), Some("é".repeat(512).as_str()));
        assert_eq!(m.warnings, [MagnetWarning::NameTruncated { len: 1200 }]);
        let huge = format!("magnet:?xt=urn:btih:{HEX}&dn={}", "a".repeat(1 << 20));
        assert_eq!(
            Magnet::parse(&huge),
            Err(MagnetError::TooLong { len: huge.len() })
        );
    }

    #[test]
    fn select_only_ranges_and_bounds() {
        let pre = format!("magnet:?xt=urn:btih:{HEX}&so=");
        assert_eq!(
            parse(&(pre.clone() + "7,3-4,3")).select_only.as_deref(),
            Some(&[3, 4, 7][..])
        );
        for bad in ["", "1,", "a", "5-2", "-3", "1-", "1--2", "4294967296"] {
            assert_eq!(
                Magnet::parse(&(pre.clone() + bad)),
                Err(MagnetError::BadSelection),
                "{bad:?}"
            );
        }
        assert_eq!(
            Magnet::parse(&(pre.clone() + "0-4294967295")),
            Err(MagnetError::SelectionTooLarge)
        );
        assert_eq!(
            Magnet::parse(&(pre.clone() + "0-65535,70000")),
            Err(MagnetError::SelectionTooLarge)
        );
        let max = parse(&(pre + "0-65535,0-10"));
        assert_eq!(max.select_only.map(|s| s.len()), Some(MAX_SELECTED));
    }
}
