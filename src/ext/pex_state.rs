//! Peer exchange policy (BEP 11), sans-IO: what to tell each peer and when, and which of the
//! addresses peers tell us are worth keeping.
//!
//! Owned by the reactor thread: one [`PexState`] per connection that speaks `ut_pex`, one
//! [`PexFilter`] per torrent. Outgoing, each peer hears the difference between what it was last
//! told and the peers we are connected to now, at most once a minute and at most 50 added and 50
//! dropped per message (BEP 11's limits). Incoming, a peer's message is ignored if it comes
//! within [`MIN_INCOMING_GAP`] of its previous one, at most [`MAX_ACCEPTED_PER_MESSAGE`] new
//! addresses are taken from one message, and a torrent keeps at most [`MAX_LEARNED`] addresses
//! learned this way, so PEX can neither flood the dial list nor point us at arbitrary hosts en
//! masse. Time is always a parameter; nothing here sends or dials.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::pex::{PexMessage, PexPeer};

/// Shortest time between two messages to one peer (BEP 11).
pub const PEX_INTERVAL: Duration = Duration::from_secs(60);
/// Most added peers per message we send (BEP 11).
pub const MAX_ADDED_PER_MESSAGE: usize = 50;
/// Most dropped peers per message we send (BEP 11).
pub const MAX_DROPPED_PER_MESSAGE: usize = 50;
/// A peer's message arriving sooner than this after its previous one is ignored. Shorter than
/// [`PEX_INTERVAL`] so an honest peer's timer jitter never costs it a message.
pub const MIN_INCOMING_GAP: Duration = Duration::from_secs(45);
/// Most new addresses taken from one incoming message.
pub const MAX_ACCEPTED_PER_MESSAGE: usize = 50;
/// Most PEX-learned addresses one torrent holds (until [`PexFilter::forget`] frees room).
pub const MAX_LEARNED: usize = 500;

/// Why an incoming message was ignored as a whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PexRefused {
    /// The peer sent another message too soon after its previous one.
    TooSoon {
        /// How long after its previous message this one came.
        after: Duration,
    },
}

impl fmt::Display for PexRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PexRefused::TooSoon { after } => write!(
                f,
                "ut_pex message {} ms after the previous one (minimum {} s); ignored",
                after.as_millis(),
                MIN_INCOMING_GAP.as_secs()
            ),
        }
    }
}

impl std::error::Error for PexRefused {}

/// PEX bookkeeping for one connection.
#[derive(Clone, Debug)]
pub struct PexState {
    /// The peer's own address, never sent back to it.
    remote: SocketAddr,
    /// What the peer has been told we are connected to.
    told: BTreeSet<SocketAddr>,
    last_sent: Option<Instant>,
    last_received: Option<Instant>,
}

impl PexState {
    /// State for the connection to `remote`.
    pub fn new(remote: SocketAddr) -> PexState {
        PexState {
            remote,
            told: BTreeSet::new(),
            last_sent: None,
            last_received: None,
        }
    }

    /// The message to send now, if one is due and there is news; `connected` is every peer we
    /// are connected to on this torrent (listen addresses, with flags). The first message may
    /// go at once; later ones at most every [`PEX_INTERVAL`].
    pub fn poll_message(&mut self, connected: &[PexPeer], now: Instant) -> Option<PexMessage> {
        if self.poll_timeout().is_some_and(|t| now < t) {
            return None;
        }
        let current: BTreeMap<SocketAddr, u8> = connected
            .iter()
            .filter(|p| p.addr != self.remote && p.addr.port() != 0)
            .map(|p| (p.addr, p.flags))
            .collect();
        let added: Vec<PexPeer> = current
            .iter()
            .filter(|(a, _)| !self.told.contains(a))
            .take(MAX_ADDED_PER_MESSAGE)
            .map(|(&addr, &flags)| PexPeer { addr, flags })
            .collect();
        let dropped: Vec<SocketAddr> = self
            .told
            .iter()
            .filter(|a| !current.contains_key(a))
            .take(MAX_DROPPED_PER_MESSAGE)
            .copied()
            .collect();
        if added.is_empty() && dropped.is_empty() {
            return None;
        }
        self.told.extend(added.iter().map(|p| p.addr));
        for a in &dropped {
            self.told.remove(a);
        }
        self.last_sent = Some(now);
        Some(PexMessage { added, dropped })
    }

    /// When the next message may be sent (`None`: at once).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.last_sent.map(|t| t + PEX_INTERVAL)
    }
}

/// One torrent's acceptance filter for incoming PEX.
#[derive(Clone, Debug)]
pub struct PexFilter {
    own: Vec<SocketAddr>,
    learned: HashSet<SocketAddr>,
}

impl PexFilter {
    /// A filter that never accepts `own` (our listen addresses, as far as we know them).
    pub fn new(own: Vec<SocketAddr>) -> PexFilter {
        PexFilter {
            own,
            learned: HashSet::new(),
        }
    }

    /// Adds an address of ours learned later (e.g. a peer's `yourip` with our listen port).
    #[cfg(test)]
    pub fn add_own(&mut self, addr: SocketAddr) {
        if !self.own.contains(&addr) && self.own.len() < 16 {
            self.own.push(addr);
        }
    }

    /// The new addresses worth dialling from `msg`, sent by the peer `from`. Skips ourselves,
    /// the sender, port 0, unspecified / multicast / broadcast addresses and anything already
    /// learned; takes at most [`MAX_ACCEPTED_PER_MESSAGE`] and stops at [`MAX_LEARNED`].
    /// `dropped` entries are not acted on: another peer may still know them.
    pub fn accept(
        &mut self,
        from: &mut PexState,
        msg: &PexMessage,
        now: Instant,
    ) -> Result<Vec<PexPeer>, PexRefused> {
        if let Some(prev) = from.last_received {
            let after = now.saturating_duration_since(prev);
            if after < MIN_INCOMING_GAP {
                return Err(PexRefused::TooSoon { after });
            }
        }
        from.last_received = Some(now);
        let mut out = Vec::new();
        for p in &msg.added {
            if out.len() >= MAX_ACCEPTED_PER_MESSAGE || self.learned.len() >= MAX_LEARNED {
                break;
            }
            if self.dialable(p.addr, from.remote) && self.learned.insert(p.addr) {
                out.push(*p);
            }
        }
        Ok(out)
    }

    /// Frees an address's place (its connection attempt ended), so PEX can keep contributing
    /// over a long session without the learned set growing past [`MAX_LEARNED`].
    #[cfg(test)]
    pub fn forget(&mut self, addr: SocketAddr) {
        self.learned.remove(&addr);
    }

    /// How many PEX-learned addresses are held.
    #[cfg(test)]
    pub fn learned(&self) -> usize {
        self.learned.len()
    }

    fn dialable(&self, addr: SocketAddr, sender: SocketAddr) -> bool {
        let ip = addr.ip();
        let broadcast = matches!(ip, std::net::IpAddr::V4(v4) if v4.is_broadcast());
        addr.port() != 0
            && addr != sender
            && !self.own.contains(&addr)
            && !ip.is_unspecified()
            && !ip.is_multicast()
            && !broadcast
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(i: u32) -> SocketAddr {
        SocketAddr::from(([10, (i >> 16) as u8, (i >> 8) as u8, i as u8], 6881))
    }

    fn peers(range: std::ops::Range<u32>) -> Vec<PexPeer> {
        range
            .map(|i| PexPeer {
                addr: addr(i),
                flags: 0,
            })
            .collect()
    }

    const REMOTE: ([u8; 4], u16) = ([192, 0, 2, 1], 6881);

    #[test]
    fn outgoing_diff_is_capped_and_at_most_once_a_minute() {
        let t0 = Instant::now();
        let mut s = PexState::new(REMOTE.into());
        let mut connected = peers(0..120);
        connected.push(PexPeer {
            addr: REMOTE.into(),
            flags: 0,
        });
        let first = s.poll_message(&connected, t0).unwrap();
        assert_eq!(first.added, peers(0..50));
        assert!(first.dropped.is_empty());
        assert_eq!(s.poll_timeout(), Some(t0 + PEX_INTERVAL));
        assert_eq!(
            s.poll_message(&connected, t0 + Duration::from_secs(59)),
            None
        );
        let t1 = t0 + PEX_INTERVAL;
        assert_eq!(
            s.poll_message(&connected, t1).unwrap().added,
            peers(50..100)
        );
        // Peers 0..60 leave: the next message drops 50 of the 60 told, adds the last 20.
        let now_connected = peers(60..120);
        let third = s.poll_message(&now_connected, t1 + PEX_INTERVAL).unwrap();
        assert_eq!(third.added, peers(100..120));
        assert_eq!(
            third.dropped,
            peers(0..50).iter().map(|p| p.addr).collect::<Vec<_>>()
        );
        let fourth = s
            .poll_message(&now_connected, t1 + PEX_INTERVAL * 2)
            .unwrap();
        assert!(fourth.added.is_empty());
        assert_eq!(
            fourth.dropped,
            peers(50..60).iter().map(|p| p.addr).collect::<Vec<_>>()
        );
        assert_eq!(
            s.poll_message(&now_connected, t1 + PEX_INTERVAL * 3),
            None,
            "no news"
        );
    }

    #[test]
    fn incoming_flood_of_ten_thousand_peers_every_100ms_is_bounded() {
        let t0 = Instant::now();
        let mut filter = PexFilter::new(vec![]);
        let mut from = PexState::new(REMOTE.into());
        let msg = PexMessage {
            added: peers(0..10_000),
            dropped: vec![],
        };
        assert_eq!(filter.accept(&mut from, &msg, t0).unwrap(), peers(0..50));
        let mut accepted = 50;
        for i in 1..=1200u32 {
            let t = t0 + Duration::from_millis(100) * i;
            match filter.accept(&mut from, &msg, t) {
                Ok(got) => accepted += got.len(),
                Err(PexRefused::TooSoon { after }) => assert!(after < MIN_INCOMING_GAP),
            }
        }
        // Two minutes of 100 ms messages: accepted at 0, 45 s and 90 s only.
        assert_eq!(accepted, 150);
        assert_eq!(filter.learned(), 150);
        assert_eq!(
            PexRefused::TooSoon {
                after: Duration::from_millis(100)
            }
            .to_string(),
            "ut_pex message 100 ms after the previous one (minimum 45 s); ignored"
        );
    }

    #[test]
    fn per_torrent_cap_holds_across_peers_and_forget_frees_room() {
        let t0 = Instant::now();
        let mut filter = PexFilter::new(vec![]);
        let mut total = 0;
        for n in 0..20u32 {
            let mut from = PexState::new(SocketAddr::from(([192, 0, 2, n as u8], 1)));
            let msg = PexMessage {
                added: peers(n * 50..n * 50 + 50),
                dropped: vec![],
            };
            total += filter.accept(&mut from, &msg, t0).unwrap().len();
        }
        assert_eq!(total, MAX_LEARNED);
        filter.forget(addr(0));
        let mut late = PexState::new(SocketAddr::from(([192, 0, 2, 99], 1)));
        let again = PexMessage {
            added: peers(0..2),
            dropped: vec![],
        };
        assert_eq!(filter.accept(&mut late, &again, t0).unwrap(), peers(0..1));
    }

    #[test]
    fn own_address_sender_port_zero_duplicates_and_junk_are_skipped() {
        let t0 = Instant::now();
        let own: SocketAddr = "192.0.2.50:6881".parse().unwrap();
        let mut filter = PexFilter::new(vec![own]);
        filter.add_own("[2001:db8::50]:6881".parse().unwrap());
        let mut from = PexState::new(REMOTE.into());
        let p = |s: &str| PexPeer {
            addr: s.parse().unwrap(),
            flags: 0,
        };
        let msg = PexMessage {
            added: vec![
                p("192.0.2.50:6881"),
                p("[2001:db8::50]:6881"),
                p("192.0.2.1:6881"),
                p("192.0.2.7:0"),
                p("0.0.0.0:80"),
                p("224.0.0.1:80"),
                p("255.255.255.255:80"),
                p("192.0.2.8:80"),
                p("192.0.2.8:80"),
                p("[2001:db8::8]:80"),
            ],
            dropped: vec![],
        };
        let got = filter.accept(&mut from, &msg, t0).unwrap();
        assert_eq!(got, [p("192.0.2.8:80"), p("[2001:db8::8]:80")]);
        // From another peer, only the first sender's own address is new; the rest are known.
        let mut other = PexState::new("192.0.2.2:1".parse().unwrap());
        assert_eq!(
            filter.accept(&mut other, &msg, t0).unwrap(),
            [p("192.0.2.1:6881")]
        );
    }
}
