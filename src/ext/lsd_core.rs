//! BEP 14 local service discovery, sans-IO: when to announce which torrents on one multicast
//! group, and what incoming announces are worth.
//!
//! One per group (IPv4 and/or IPv6), owned by the reactor thread, which owns the socket: it
//! sends whatever [`LsdCore::poll_transmit`] returns to [`LsdFamily::group`] and feeds received
//! datagrams to [`LsdCore::handle_packet`]. Each torrent is announced at most once per
//! [`ANNOUNCE_INTERVAL`]; due torrents are batched into one packet (up to the 1400-byte limit),
//! and packets leave at most once per [`MIN_PACKET_GAP`]. Incoming, each source address has a
//! small packet allowance, our own cookie and torrents we do not have are ignored. Time is a
//! parameter and the cookie comes from a seed; nothing here touches a socket or the clock.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use super::lsd::{LsdAnnounce, LsdError, LsdFamily};
use crate::metainfo::InfoHash;
use crate::rng::SplitMix64;

/// Time between two announces of one torrent (BEP 14: every 5 minutes).
pub const ANNOUNCE_INTERVAL: Duration = Duration::from_secs(5 * 60);
/// Shortest time between two packets we send. BEP 14 asks for at most one announce a minute on
/// large networks; batching keeps us near that (25 torrents per packet), and the gap only lets
/// a client with more torrents than fit one packet catch up at one packet per second instead of
/// falling behind the 5-minute cycle.
pub const MIN_PACKET_GAP: Duration = Duration::from_secs(1);
/// Packets a source address may send in a burst.
pub const SOURCE_BURST: u32 = 10;
/// One more packet per source is allowed every this long (10 a minute sustained).
pub const SOURCE_REFILL: Duration = Duration::from_secs(6);
/// Source addresses tracked; beyond it the least recently seen is forgotten.
pub const MAX_SOURCES: usize = 256;

/// A peer heard on the local network for a torrent we have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LsdPeer {
    /// The torrent.
    pub info_hash: InfoHash,
    /// The packet's source IP with the announced listen port.
    pub addr: SocketAddr,
}

#[derive(Clone, Copy, Debug)]
struct Source {
    ip: IpAddr,
    tokens: u32,
    refilled_at: Instant,
    last_seen: Instant,
}

/// LSD on one multicast group. See the module documentation.
#[derive(Clone, Debug)]
pub struct LsdCore {
    family: LsdFamily,
    port: u16,
    cookie: String,
    /// Each torrent with the time its next announce is due.
    torrents: BTreeMap<InfoHash, Instant>,
    last_packet: Option<Instant>,
    sources: Vec<Source>,
}

impl LsdCore {
    /// A core announcing listen port `port` on `family`'s group; the cookie that marks our own
    /// packets is drawn from `seed`.
    pub fn new(family: LsdFamily, port: u16, seed: u64) -> LsdCore {
        let cookie = format!("{:016x}", SplitMix64(seed).next_u64());
        LsdCore {
            family,
            port,
            cookie,
            torrents: BTreeMap::new(),
            last_packet: None,
            sources: Vec::new(),
        }
    }

    /// The cookie our packets carry.
    #[cfg(test)]
    pub fn cookie(&self) -> &str {
        &self.cookie
    }

    /// Sets the torrents to announce (private torrents must not be passed: BEP 27). New ones are
    /// due at once; ones already known keep their schedule; missing ones are forgotten.
    pub fn set_torrents(&mut self, hashes: &[InfoHash], now: Instant) {
        self.torrents.retain(|h, _| hashes.contains(h));
        for h in hashes {
            self.torrents.entry(*h).or_insert(now);
        }
    }

    /// The packet to send to the group now, if one is due.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Vec<u8>> {
        if self.last_packet.is_some_and(|t| now < t + MIN_PACKET_GAP) {
            return None;
        }
        let fit = LsdAnnounce::hashes_that_fit(self.family, self.port, Some(&self.cookie));
        let mut due: Vec<(Instant, InfoHash)> = self
            .torrents
            .iter()
            .filter(|(_, &at)| at <= now)
            .map(|(h, &at)| (at, *h))
            .collect();
        if due.is_empty() {
            return None;
        }
        // Longest-waiting first, so every torrent gets its turn when they do not all fit.
        due.sort_unstable();
        due.truncate(fit);
        for (_, h) in &due {
            self.torrents.insert(*h, now + ANNOUNCE_INTERVAL);
        }
        self.last_packet = Some(now);
        let announce = LsdAnnounce {
            port: self.port,
            info_hashes: due.into_iter().map(|(_, h)| h).collect(),
            cookie: Some(self.cookie.clone()),
        };
        Some(announce.encode(self.family))
    }

    /// When [`LsdCore::poll_transmit`] next has something to send.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let next_due = self.torrents.values().min().copied()?;
        let gap_end = self.last_packet.map(|t| t + MIN_PACKET_GAP);
        Some(gap_end.map_or(next_due, |g| g.max(next_due)))
    }

    /// A datagram received on the group. Returns the peers it announces for our torrents (an
    /// empty list when it names none of them); errors say why it was dropped.
    pub fn handle_packet(
        &mut self,
        from: SocketAddr,
        packet: &[u8],
        now: Instant,
    ) -> Result<Vec<LsdPeer>, LsdError> {
        // The allowance is charged before parsing, so junk costs the sender as much as announces.
        if !self.take_token(from.ip(), now) {
            return Err(LsdError::RateLimited);
        }
        let announce = LsdAnnounce::parse(packet)?;
        if announce.cookie.as_deref() == Some(self.cookie.as_str()) {
            return Err(LsdError::OwnAnnounce);
        }
        let addr = SocketAddr::new(from.ip(), announce.port);
        Ok(announce
            .info_hashes
            .into_iter()
            .filter(|h| self.torrents.contains_key(h))
            .map(|info_hash| LsdPeer { info_hash, addr })
            .collect())
    }

    fn take_token(&mut self, ip: IpAddr, now: Instant) -> bool {
        let i = match self.sources.iter().position(|s| s.ip == ip) {
            Some(i) => i,
            None => {
                if self.sources.len() >= MAX_SOURCES {
                    let oldest = (0..self.sources.len()).min_by_key(|&i| self.sources[i].last_seen);
                    if let Some(o) = oldest {
                        self.sources.swap_remove(o);
                    }
                }
                self.sources.push(Source {
                    ip,
                    tokens: SOURCE_BURST,
                    refilled_at: now,
                    last_seen: now,
                });
                self.sources.len() - 1
            }
        };
        let s = &mut self.sources[i];
        s.last_seen = now;
        let whole =
            now.saturating_duration_since(s.refilled_at).as_millis() / SOURCE_REFILL.as_millis();
        if whole > 0 {
            let add = u32::try_from(whole).unwrap_or(u32::MAX);
            s.tokens = s.tokens.saturating_add(add).min(SOURCE_BURST);
            s.refilled_at += SOURCE_REFILL * add.min(SOURCE_BURST);
            if s.tokens == SOURCE_BURST {
                s.refilled_at = now;
            }
        }
        if s.tokens == 0 {
            return false;
        }
        s.tokens -= 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(i: u32) -> InfoHash {
        let mut h = [0u8; 20];
        h[..4].copy_from_slice(&i.to_be_bytes());
        InfoHash(h)
    }

    fn hashes(n: u32) -> Vec<InfoHash> {
        (0..n).map(hash).collect()
    }

    fn announce_from_peer(port: u16, hs: &[InfoHash], cookie: &str) -> Vec<u8> {
        LsdAnnounce {
            port,
            info_hashes: hs.to_vec(),
            cookie: Some(cookie.into()),
        }
        .encode(LsdFamily::V4)
    }

    const FROM: ([u8; 4], u16) = ([192, 168, 1, 20], 6771);

    #[test]
    fn batches_due_torrents_and_spaces_packets() {
        let t0 = Instant::now();
        let mut lsd = LsdCore::new(LsdFamily::V4, 6881, 7);
        assert_eq!(lsd.poll_transmit(t0), None);
        assert_eq!(lsd.poll_timeout(), None);
        lsd.set_torrents(&hashes(30), t0);
        assert_eq!(lsd.poll_timeout(), Some(t0));
        let first = LsdAnnounce::parse(&lsd.poll_transmit(t0).unwrap()).unwrap();
        assert_eq!(first.info_hashes, hashes(25));
        assert_eq!(first.port, 6881);
        assert_eq!(first.cookie.as_deref(), Some(lsd.cookie()));
        assert_eq!(lsd.poll_transmit(t0 + Duration::from_millis(999)), None);
        assert_eq!(lsd.poll_timeout(), Some(t0 + MIN_PACKET_GAP));
        let t1 = t0 + MIN_PACKET_GAP;
        let second = LsdAnnounce::parse(&lsd.poll_transmit(t1).unwrap()).unwrap();
        assert_eq!(second.info_hashes, hashes(30)[25..]);
        // Everything announced: nothing until five minutes after each one.
        assert_eq!(lsd.poll_transmit(t1 + MIN_PACKET_GAP), None);
        assert_eq!(lsd.poll_timeout(), Some(t0 + ANNOUNCE_INTERVAL));
        let again = lsd.poll_transmit(t0 + ANNOUNCE_INTERVAL).unwrap();
        assert_eq!(LsdAnnounce::parse(&again).unwrap().info_hashes, hashes(25));
    }

    #[test]
    fn set_torrents_keeps_schedules_and_forgets_removed() {
        let t0 = Instant::now();
        let mut lsd = LsdCore::new(LsdFamily::V6, 6881, 1);
        lsd.set_torrents(&hashes(2), t0);
        assert!(lsd.poll_transmit(t0).is_some());
        let t1 = t0 + Duration::from_secs(10);
        lsd.set_torrents(&[hash(1), hash(5)], t1);
        let p = LsdAnnounce::parse(&lsd.poll_transmit(t1).unwrap()).unwrap();
        assert_eq!(p.info_hashes, [hash(5)], "only the new torrent is due");
        lsd.set_torrents(&[], t1);
        assert_eq!(lsd.poll_timeout(), None);
    }

    #[test]
    fn incoming_announces_for_our_torrents_become_peers() {
        let t0 = Instant::now();
        let mut lsd = LsdCore::new(LsdFamily::V4, 6881, 3);
        lsd.set_torrents(&hashes(3), t0);
        let pkt = announce_from_peer(51413, &[hash(2), hash(99)], "theirs");
        assert_eq!(
            lsd.handle_packet(FROM.into(), &pkt, t0),
            Ok(vec![LsdPeer {
                info_hash: hash(2),
                addr: "192.168.1.20:51413".parse().unwrap()
            }])
        );
        let unknown = announce_from_peer(1, &[hash(99)], "theirs");
        assert_eq!(lsd.handle_packet(FROM.into(), &unknown, t0), Ok(vec![]));
        let own = lsd.poll_transmit(t0).unwrap();
        assert_eq!(
            lsd.handle_packet(FROM.into(), &own, t0),
            Err(LsdError::OwnAnnounce)
        );
        let bad = b"BT-SEARCH * HTTP/1.1\r\nPort: 0\r\nInfohash: zz\r\n\r\n";
        assert_eq!(
            lsd.handle_packet(FROM.into(), bad, t0),
            Err(LsdError::BadPort)
        );
    }

    #[test]
    fn a_flooding_source_is_rate_limited_others_are_not() {
        let t0 = Instant::now();
        let mut lsd = LsdCore::new(LsdFamily::V4, 6881, 3);
        lsd.set_torrents(&hashes(1), t0);
        let pkt = announce_from_peer(7000, &[hash(0)], "x");
        let mut heard = 0;
        // A packet every 10 ms for a minute: 6,000 packets.
        for i in 0..6_000u32 {
            let t = t0 + Duration::from_millis(10) * i;
            match lsd.handle_packet(FROM.into(), &pkt, t) {
                Ok(peers) => heard += peers.len(),
                Err(e) => assert_eq!(e, LsdError::RateLimited),
            }
        }
        // The burst plus one per 6 s over the minute.
        assert_eq!(heard, SOURCE_BURST as usize + 9);
        let other: SocketAddr = "192.168.1.21:6771".parse().unwrap();
        assert_eq!(lsd.handle_packet(other, &pkt, t0).map(|p| p.len()), Ok(1));
        // Junk costs the same allowance as announces.
        let junk_from: SocketAddr = "192.168.1.22:6771".parse().unwrap();
        for _ in 0..SOURCE_BURST {
            assert_eq!(
                lsd.handle_packet(junk_from, b"junk", t0),
                Err(LsdError::NotAnnounce)
            );
        }
        assert_eq!(
            lsd.handle_packet(junk_from, &pkt, t0),
            Err(LsdError::RateLimited)
        );
    }

    #[test]
    fn spoofed_sources_cannot_grow_the_table() {
        let t0 = Instant::now();
        let mut lsd = LsdCore::new(LsdFamily::V4, 6881, 3);
        for i in 0..10_000u32 {
            let from = SocketAddr::from(([10, (i >> 16) as u8, (i >> 8) as u8, i as u8], 1));
            let t = t0 + Duration::from_millis(u64::from(i));
            let _ = lsd.handle_packet(from, b"x", t);
        }
        assert_eq!(lsd.sources.len(), MAX_SOURCES);
    }
}
