//! The engine with its DHT and LSD driven by hand-made datagrams: every byte in and out is
//! checked, no socket is opened.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::{DhtSetup, UdpKind, REANNOUNCE};
use crate::bitfield::Bitfield;
use crate::dht::krpc::{self, Blob, Body, Message, Query, Response};
use crate::dht::{DhtConfig, NodeId};
use crate::engine::{Action, Datagram, Engine, EngineConfig, TorrentParams};
use crate::ext::lsd::{LsdAnnounce, LsdFamily};
use crate::layout::Layout;
use crate::metainfo::InfoHash;
use crate::wire::{Extensions, Handshake};

const ROUTER: &str = "10.0.0.1:6881";
const HASH: [u8; 20] = [0xab; 20];
const PRIVATE_HASH: [u8; 20] = [0xcd; 20];

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn params(hash: [u8; 20], private: bool) -> TorrentParams {
    let layout = Layout::new(16384, 16384 * 4).unwrap();
    TorrentParams {
        info_hash: hash,
        layout,
        trackers: vec![],
        peers: vec![],
        have: Bitfield::new(layout.num_pieces()),
        recheck: false,
        check: None,
        info: None,
        private,
    }
}

fn engine_with_dht(bootstrap: Vec<SocketAddr>, now: Instant) -> Engine {
    let mut e = Engine::new(EngineConfig {
        listen_port: 6881,
        ..EngineConfig::default()
    });
    e.enable_dht(
        DhtSetup {
            config: DhtConfig {
                bootstrap,
                ..DhtConfig::default()
            },
            state: None,
            port: 7881,
            v4: true,
            v6: false,
            save_every: None,
        },
        now,
    );
    e
}

/// Every action waiting, split into datagrams and the rest.
fn drain(e: &mut Engine) -> (Vec<Datagram>, Vec<Action>) {
    let (mut dgrams, mut rest) = (Vec::new(), Vec::new());
    while let Some(a) = e.poll_action() {
        match a {
            Action::Datagram(d) => dgrams.push(d),
            other => rest.push(other),
        }
    }
    (dgrams, rest)
}

fn decode(d: &Datagram) -> Message {
    krpc::decode(&d.bytes).unwrap()
}

/// The `get_peers` queries among `dgrams`, with their info-hashes.
fn get_peers(dgrams: &[Datagram]) -> Vec<(SocketAddr, NodeId)> {
    dgrams
        .iter()
        .filter_map(|d| match decode(d).body {
            Body::Query {
                query: Query::GetPeers { info_hash, .. },
                ..
            } => Some((d.to, info_hash)),
            _ => None,
        })
        .collect()
}

/// Answers query `q` as node `id` from where it was sent.
fn answer(e: &mut Engine, q: &Datagram, id: NodeId, r: Response, now: Instant) {
    let msg = Message {
        tid: decode(q).tid,
        body: Body::Response(Response { id, ..r }),
        read_only: false,
        ip: None,
    };
    e.handle_dht_datagram(q.to, &msg.encode(), now);
}

#[test]
fn a_torrent_dials_the_peers_a_get_peers_reply_names() {
    let t0 = Instant::now();
    let mut e = engine_with_dht(vec![addr(ROUTER)], t0);
    let (boot, _) = drain(&mut e);
    assert!(boot
        .iter()
        .all(|d| d.socket == UdpKind::Dht4 && d.to == addr(ROUTER)));
    e.add_torrent(params(HASH, false), t0);
    let (dgrams, _) = drain(&mut e);
    let asked = get_peers(&dgrams);
    assert_eq!(asked, [(addr(ROUTER), NodeId(HASH))]);
    let q = dgrams
        .iter()
        .find(|d| !get_peers(&[(*d).clone()]).is_empty())
        .unwrap();
    let r = Response {
        values: vec![addr("192.0.2.7:51413"), addr("192.0.2.8:6000")],
        token: Blob::new(b"tok"),
        ..Response::default()
    };
    answer(
        &mut e,
        q,
        NodeId([0x33; 20]),
        r,
        t0 + Duration::from_millis(40),
    );
    let (_, actions) = drain(&mut e);
    let dialled: Vec<SocketAddr> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Connect { addr, .. } => Some(*addr),
            _ => None,
        })
        .collect();
    assert_eq!(dialled, [addr("192.0.2.7:51413"), addr("192.0.2.8:6000")]);
    let stats = e.discovery_stats(t0);
    assert_eq!(stats.dht_peers, 2);
    assert_eq!(stats.torrents, 1);
    assert_eq!(stats.dht_port, Some(7881));
}

#[test]
fn a_private_torrent_never_touches_the_dht_or_lsd() {
    let t0 = Instant::now();
    let mut e = engine_with_dht(vec![addr(ROUTER)], t0);
    e.enable_lsd(LsdFamily::V4, t0);
    drain(&mut e);
    let id = e.add_torrent(params(PRIVATE_HASH, true), t0);
    let (dgrams, _) = drain(&mut e);
    assert_eq!(dgrams, [], "no query, no LSD announce");
    assert_eq!(e.discovery_stats(t0).torrents, 0);
    // Even a peer of the torrent that names its DHT port is not a node source.
    let conn = e.handle_incoming(addr("192.0.2.9:40000"), t0).unwrap();
    let theirs = Handshake {
        reserved: Extensions {
            dht: true,
            ..Extensions::default()
        }
        .to_reserved(),
        info_hash: PRIVATE_HASH,
        peer_id: [7; 20],
    };
    let mut bytes = Vec::new();
    theirs.encode(&mut bytes);
    crate::wire::Message::Port(9999).encode(&mut bytes);
    e.handle_data(conn, &bytes, t0);
    let (dgrams, _) = drain(&mut e);
    assert_eq!(dgrams, []);
    let ours = e.outbox(conn).unwrap().take_bytes();
    let hs = Handshake::decode(&ours).unwrap().unwrap();
    assert!(!Extensions::from_reserved(&hs.reserved).dht, "no DHT bit");
    // A re-announce time passing changes nothing either.
    e.handle_timeout(t0 + REANNOUNCE * 2);
    assert!(get_peers(&drain(&mut e).0).is_empty());
    assert!(e.torrent(id).is_some());
}

#[test]
fn a_port_message_feeds_the_table_and_ours_answers_the_dht_bit() {
    let t0 = Instant::now();
    // No routers: the node knows nobody until a peer names its DHT port.
    let mut e = engine_with_dht(vec![], t0);
    e.add_torrent(params(HASH, false), t0);
    let (dgrams, _) = drain(&mut e);
    assert_eq!(dgrams, [], "nobody to ask yet");
    let conn = e.handle_incoming(addr("10.0.0.9:40000"), t0).unwrap();
    let theirs = Handshake {
        reserved: Extensions {
            dht: true,
            ..Extensions::default()
        }
        .to_reserved(),
        info_hash: HASH,
        peer_id: [7; 20],
    };
    let mut bytes = Vec::new();
    theirs.encode(&mut bytes);
    e.handle_data(conn, &bytes, t0);
    // Our handshake sets the DHT bit and is followed by `port` with our DHT port.
    let ours = e.outbox(conn).unwrap().take_bytes();
    let hs = Handshake::decode(&ours).unwrap().unwrap();
    assert!(Extensions::from_reserved(&hs.reserved).dht);
    let rest = &ours[crate::wire::HANDSHAKE_LEN..];
    let port_frame = [0, 0, 0, 3, 9, 0x1e, 0xc9]; // port 7881
    assert!(
        rest.windows(7).any(|w| w == port_frame),
        "no port message in {rest:?}"
    );
    // Their `port` message: the node asks that address (a bootstrap seeded by it).
    let mut port = Vec::new();
    crate::wire::Message::Port(7000).encode(&mut port);
    e.handle_data(conn, &port, t0);
    let (dgrams, _) = drain(&mut e);
    let node = addr("10.0.0.9:7000");
    assert!(!dgrams.is_empty() && dgrams.iter().all(|d| d.to == node));
    // It answers: it joins the table, and the torrent, starved so far, looks up at once.
    let their_id = NodeId([0x44; 20]);
    let t1 = t0 + Duration::from_millis(30);
    for q in &dgrams {
        answer(&mut e, q, their_id, Response::default(), t1);
    }
    let stats = e.discovery_stats(t1).dht.unwrap();
    assert_eq!(stats.good_v4, 1, "{stats:?}");
    let (dgrams, _) = drain(&mut e);
    assert_eq!(get_peers(&dgrams), [(node, NodeId(HASH))]);
}

#[test]
fn discovery_deadlines_join_poll_timeout_and_idle_has_none() {
    let t0 = Instant::now();
    let mut e = engine_with_dht(vec![], t0);
    assert_eq!(e.poll_timeout(), None, "an idle session never wakes");
    let mut e2 = engine_with_dht(vec![addr(ROUTER)], t0);
    drain(&mut e2);
    // The bootstrap query awaits its answer: its timeout is a deadline.
    let first = e2.poll_timeout().expect("query timeout");
    assert!(
        first > t0 && first < t0 + Duration::from_secs(60),
        "{first:?}"
    );

    e.add_torrent(params(HASH, false), t0);
    drain(&mut e);
    let next = e.discovery_deadline().expect("re-announce deadline");
    assert!(next >= t0 + REANNOUNCE && next <= t0 + REANNOUNCE + Duration::from_secs(90));
    assert!(e.poll_timeout().unwrap() <= next);
    // The torrent's own timers come first; run to the re-announce and see it go out (here to
    // the router learned meanwhile).
    e.add_dht_routers(&[addr(ROUTER)], t0);
    drain(&mut e);
    e.handle_timeout(next);
    let (dgrams, _) = drain(&mut e);
    assert_eq!(get_peers(&dgrams), [(addr(ROUTER), NodeId(HASH))]);
}

#[test]
fn lsd_announces_public_torrents_and_dials_what_it_hears() {
    let t0 = Instant::now();
    let mut e = Engine::new(EngineConfig {
        listen_port: 6881,
        ..EngineConfig::default()
    });
    e.enable_lsd(LsdFamily::V4, t0);
    assert_eq!(e.poll_timeout(), None);
    e.add_torrent(params(PRIVATE_HASH, true), t0);
    e.add_torrent(params(HASH, false), t0);
    let (dgrams, _) = drain(&mut e);
    assert_eq!(dgrams.len(), 1);
    assert_eq!(dgrams[0].socket, UdpKind::Lsd4);
    assert_eq!(dgrams[0].to, LsdFamily::V4.group());
    let sent = LsdAnnounce::parse(&dgrams[0].bytes).unwrap();
    assert_eq!(sent.port, 6881);
    assert_eq!(sent.info_hashes, [InfoHash(HASH)]);
    // The next announce is a deadline, five minutes on.
    let next = e.discovery_deadline().unwrap();
    assert!(next >= t0 + Duration::from_secs(299));
    assert!(e.poll_timeout().unwrap() <= next);
    let heard = LsdAnnounce {
        port: 51413,
        info_hashes: vec![InfoHash(HASH), InfoHash(PRIVATE_HASH)],
        cookie: Some("other".into()),
    }
    .encode(LsdFamily::V4);
    e.handle_lsd_datagram(addr("192.168.1.20:6771"), &heard, t0);
    let (_, actions) = drain(&mut e);
    let dialled: Vec<SocketAddr> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Connect { addr, .. } => Some(*addr),
            _ => None,
        })
        .collect();
    assert_eq!(dialled, [addr("192.168.1.20:51413")], "public torrent only");
    assert_eq!(e.discovery_stats(t0).lsd_peers, 1);
}

#[test]
fn a_paused_torrent_stops_announcing_and_the_table_saves() {
    let t0 = Instant::now();
    let mut e = engine_with_dht(vec![addr(ROUTER)], t0);
    drain(&mut e);
    let id = e.add_torrent(params(HASH, false), t0);
    drain(&mut e);
    e.pause(id, t0);
    e.handle_timeout(t0 + REANNOUNCE * 2);
    assert!(get_peers(&drain(&mut e).0).is_empty());
    e.resume(id, t0 + REANNOUNCE * 2);
    assert_eq!(
        get_peers(&drain(&mut e).0).len(),
        1,
        "resumed: looks up at once"
    );
    let saved = e.dht_state(t0).unwrap();
    assert!(saved.starts_with(b"d2:id20:"));
}
