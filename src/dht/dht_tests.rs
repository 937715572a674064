use super::krpc::{decode, Blob, Body, Message, Query, Response, Want};
use super::server::MAX_REPLY_LEN;
use super::state::StateError;
use super::*;

const OWN: NodeId = NodeId([0x11; 20]);

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn node(cfg: DhtConfig, now: Instant) -> Dht {
    Dht::new(cfg, OWN, 1, now)
}

fn query_bytes(id: NodeId, tid: &[u8], query: Query, read_only: bool) -> Vec<u8> {
    Message {
        tid: Blob::new(tid).unwrap(),
        body: Body::Query { id, query },
        read_only,
        ip: None,
    }
    .encode()
}

fn drain(d: &mut Dht) -> Vec<Transmit> {
    std::iter::from_fn(|| d.poll_transmit()).collect()
}

/// Answers the query in `t` as node `id`, with `r` as the rest of the response.
fn answer(d: &mut Dht, t: &Transmit, id: NodeId, mut r: Response, now: Instant) {
    let q = decode(&t.bytes).unwrap();
    r.id = id;
    let msg = Message {
        tid: q.tid,
        body: Body::Response(r),
        read_only: false,
        ip: None,
    };
    d.handle_datagram(t.to, &msg.encode(), now);
}

#[test]
fn ping_answer_bytes_and_unknown_querier_is_pinged_back() {
    let t0 = Instant::now();
    let mut d = node(DhtConfig::default(), t0);
    assert_eq!(d.poll_timeout(), None, "idle with nothing to do");
    let from = addr("10.0.0.2:1000");
    d.handle_datagram(
        from,
        &query_bytes(NodeId([0x22; 20]), b"aa", Query::Ping, false),
        t0,
    );
    let out = drain(&mut d);
    assert_eq!(out.len(), 2);
    let mut want = b"d2:ip6:\x0a\0\0\x02\x03\xe81:rd2:id20:".to_vec();
    want.extend_from_slice(&[0x11; 20]);
    want.extend_from_slice(b"e1:t2:aa1:y1:re");
    assert_eq!(
        out[0],
        Transmit {
            to: from,
            bytes: want
        }
    );
    let ping = decode(&out[1].bytes).unwrap();
    assert!(matches!(
        ping.body,
        Body::Query {
            query: Query::Ping,
            ..
        }
    ));
    assert_eq!(d.poll_timeout(), Some(t0 + rpc::STALL_AFTER));
    // It answers: now it is in the table.
    answer(&mut d, &out[1], NodeId([0x22; 20]), Response::default(), t0);
    assert_eq!(d.stats(t0).good_v4, 1);
}

#[test]
fn malformed_queries_get_errors_garbage_gets_nothing() {
    let t0 = Instant::now();
    let mut d = node(DhtConfig::default(), t0);
    let from = addr("10.0.0.2:1000");
    d.handle_datagram(
        from,
        b"d1:ad2:id20:abcdefghij0123456789e1:q4:vote1:t2:zz1:y1:qe",
        t0,
    );
    let out = drain(&mut d);
    assert_eq!(
        out[0].bytes,
        b"d1:eli204e14:Method Unknowne2:ip6:\x0a\0\0\x02\x03\xe81:t2:zz1:y1:ee"
    );
    for junk in [
        &b"garbage"[..],
        b"d1:t2:aa1:y1:re",
        b"le",
        b"d1:rd2:id20:abcdefghij0123456789e1:t2:aa1:y1:re",
    ] {
        d.handle_datagram(from, junk, t0);
    }
    assert!(d.poll_transmit().is_none());
    assert_eq!(d.stats(t0).packets_ignored, 5);
    // A query claiming our own id is ignored.
    d.handle_datagram(from, &query_bytes(OWN, b"aa", Query::Ping, false), t0);
    assert!(d.poll_transmit().is_none());
}

#[test]
fn token_announce_and_get_peers_values() {
    let t0 = Instant::now();
    let mut d = node(DhtConfig::default(), t0);
    let hash = NodeId([0x55; 20]);
    let peer = addr("10.0.0.3:4000");
    let gp = Query::GetPeers {
        info_hash: hash,
        want: Want::default(),
    };
    d.handle_datagram(
        peer,
        &query_bytes(NodeId([0x33; 20]), b"g1", gp.clone(), false),
        t0,
    );
    let r = decode(&drain(&mut d)[0].bytes).unwrap();
    let Body::Response(Response {
        token: Some(token),
        values,
        ..
    }) = r.body
    else {
        panic!("{r:?}")
    };
    assert!(values.is_empty());
    let announce = |token, implied_port| Query::AnnouncePeer {
        info_hash: hash,
        port: 7000,
        implied_port,
        token,
    };
    // A token made for another IP is refused with a protocol error.
    d.handle_datagram(
        addr("10.0.0.4:4000"),
        &query_bytes(NodeId([0x44; 20]), b"a0", announce(token, false), false),
        t0,
    );
    let e = decode(&drain(&mut d)[0].bytes).unwrap();
    assert_eq!(
        e.body,
        Body::Error {
            code: krpc::code::PROTOCOL
        }
    );
    d.handle_datagram(
        peer,
        &query_bytes(NodeId([0x33; 20]), b"a1", announce(token, true), false),
        t0,
    );
    let ok = decode(&drain(&mut d)[0].bytes).unwrap();
    assert!(matches!(ok.body, Body::Response(_)));
    assert_eq!(d.stats(t0).stored_peers, 1);
    // Another querier now gets the peer (implied port: the UDP source port), not nodes.
    d.handle_datagram(
        addr("10.0.0.5:1"),
        &query_bytes(NodeId([0x66; 20]), b"g2", gp, false),
        t0,
    );
    let r = decode(&drain(&mut d)[0].bytes).unwrap();
    let Body::Response(r) = r.body else { panic!() };
    assert_eq!(r.values, vec![peer]);
    assert!(r.nodes.is_empty());
}

#[test]
fn flooder_gets_a_bounded_number_of_answers() {
    let t0 = Instant::now();
    let mut d = node(DhtConfig::default(), t0);
    let flooder = addr("10.6.6.6:6666");
    for i in 0..5000u32 {
        let now = t0 + Duration::from_micros(u64::from(i) * 200);
        let q = query_bytes(NodeId([0x66; 20]), &i.to_be_bytes(), Query::Ping, false);
        d.handle_datagram(flooder, &q, now);
    }
    let replies = drain(&mut d)
        .iter()
        .filter(|t| decode(&t.bytes).is_ok_and(|m| matches!(m.body, Body::Response(_))))
        .count();
    let cfg = DhtConfig::default();
    assert_eq!(
        replies as u32,
        cfg.reply_burst_per_ip + cfg.replies_per_sec_per_ip - 1
    );
    assert_eq!(d.stats(t0).replies_limited, 5000 - replies as u64);
}

#[test]
fn answers_stay_small() {
    let t0 = Instant::now();
    let cfg = DhtConfig {
        ipv6: true,
        replies_per_sec_per_ip: 1000,
        reply_burst_per_ip: 1000,
        ..DhtConfig::default()
    };
    let mut d = node(cfg, t0);
    let mut rng = SplitMix64(3);
    for i in 0..200u16 {
        let [a, b] = i.to_be_bytes();
        for addr in [
            SocketAddr::from(([10, 2, a, b], 1)),
            SocketAddr::from(([0xfd00, 0, 0, 0, 0, 0, 0, i + 1], 1)),
        ] {
            let info = NodeInfo {
                id: NodeId::random(&mut rng),
                addr,
            };
            d.tables[family(&addr)].replied(info, t0);
        }
    }
    let hash = NodeId([0x77; 20]);
    for i in 0..100u8 {
        d.store.add(hash, SocketAddr::from(([10, 3, 0, i], 1)), t0);
        d.store.add(
            hash,
            SocketAddr::from(([0xfd00, 0, 0, 0, 0, 0, 0, u16::from(i) + 1], 1)),
            t0,
        );
    }
    let both = Want { v4: true, v6: true };
    let queries = [
        Query::FindNode {
            target: hash,
            want: both,
        },
        Query::GetPeers {
            info_hash: NodeId([0x78; 20]),
            want: both,
        },
        Query::GetPeers {
            info_hash: hash,
            want: both,
        },
    ];
    for from in [addr("10.0.0.9:1"), addr("[fd00::9]:1")] {
        for q in &queries {
            d.handle_datagram(
                from,
                &query_bytes(NodeId([0x99; 20]), b"abcd", q.clone(), false),
                t0,
            );
            let t = d.poll_transmit().unwrap();
            assert!(
                t.bytes.len() <= MAX_REPLY_LEN,
                "{} bytes for {q:?}",
                t.bytes.len()
            );
            drain(&mut d);
        }
    }
}

#[test]
fn read_only_answers_nothing_says_ro_and_ro_nodes_stay_out() {
    let t0 = Instant::now();
    let cfg = DhtConfig {
        read_only: true,
        bootstrap: vec![addr("10.0.0.1:1")],
        ..DhtConfig::default()
    };
    let mut d = node(cfg, t0);
    let find = drain(&mut d);
    assert_eq!(find.len(), 1);
    assert!(
        decode(&find[0].bytes).unwrap().read_only,
        "queries carry ro=1"
    );
    d.handle_datagram(
        addr("10.0.0.2:1"),
        &query_bytes(NodeId([0x22; 20]), b"aa", Query::Ping, false),
        t0,
    );
    assert!(d.poll_transmit().is_none());
    // A normal node: an answer flagged ro is used but the node is not added.
    let mut d = node(DhtConfig::default(), t0);
    d.add_node(addr("10.0.0.3:1"), t0);
    let t = drain(&mut d).remove(0);
    let q = decode(&t.bytes).unwrap();
    let msg = Message {
        tid: q.tid,
        body: Body::Response(Response {
            id: NodeId([0x33; 20]),
            ..Response::default()
        }),
        read_only: true,
        ip: None,
    };
    d.handle_datagram(t.to, &msg.encode(), t0);
    assert_eq!(d.stats(t0).good_v4, 0);
}

#[test]
fn answers_must_match_tid_address_and_id() {
    let t0 = Instant::now();
    let mut d = node(DhtConfig::default(), t0);
    let a = NodeInfo {
        id: NodeId([0x22; 20]),
        addr: addr("10.0.0.2:1"),
    };
    d.tables[0].replied(a, t0);
    d.send_ping(a.addr, Some(a.id), t0);
    let t = drain(&mut d).remove(0);
    let mut wrong_from = t.clone();
    wrong_from.to = addr("10.0.0.9:1");
    answer(&mut d, &wrong_from, a.id, Response::default(), t0);
    answer(&mut d, &t, OWN, Response::default(), t0); // claims to be us
    assert_eq!(d.stats(t0).packets_ignored, 2);
    assert_eq!(
        d.table(false).state(&a.id, t0),
        Some(table::NodeState::Bad),
        "struck out"
    );
    // A reply with the right tid but another id is a lie too.
    let b = NodeInfo {
        id: NodeId([0x23; 20]),
        addr: addr("10.0.0.4:1"),
    };
    d.tables[0].replied(b, t0);
    d.send_ping(b.addr, Some(b.id), t0);
    let t = drain(&mut d).remove(0);
    answer(&mut d, &t, NodeId([0x24; 20]), Response::default(), t0);
    assert_eq!(d.table(false).state(&b.id, t0), Some(table::NodeState::Bad));
    assert_eq!(d.table(false).len(), 2);
}

#[test]
fn bootstrap_retries_with_backoff_and_timeouts_fail_nodes() {
    let t0 = Instant::now();
    let router = addr("10.0.0.1:1");
    let mut d = node(
        DhtConfig {
            bootstrap: vec![router],
            ..DhtConfig::default()
        },
        t0,
    );
    assert_eq!(drain(&mut d).len(), 1);
    let t1 = d.poll_timeout().unwrap();
    assert_eq!(t1, t0 + rpc::STALL_AFTER);
    d.handle_timeout(t1);
    let t2 = d.poll_timeout().unwrap();
    assert_eq!(t2, t0 + rpc::TIMEOUT);
    d.handle_timeout(t2);
    assert_eq!(d.poll_timeout(), Some(t2 + BOOTSTRAP_RETRY));
    d.handle_timeout(t2 + BOOTSTRAP_RETRY);
    assert_eq!(drain(&mut d)[0].to, router, "asked again");
    let t3 = t2 + BOOTSTRAP_RETRY + rpc::TIMEOUT;
    d.handle_timeout(t3);
    assert_eq!(
        d.poll_timeout(),
        Some(t3 + 2 * BOOTSTRAP_RETRY),
        "backoff doubles"
    );
}

#[test]
fn state_round_trip_restarts_without_routers() {
    let t0 = Instant::now();
    let mut d = node(DhtConfig::default(), t0);
    let mut rng = SplitMix64(4);
    let saved: Vec<NodeInfo> = (1..=5u8)
        .map(|i| NodeInfo {
            id: NodeId::random(&mut rng),
            addr: SocketAddr::from(([10, 0, 1, i], 6881)),
        })
        .collect();
    for n in &saved {
        d.tables[0].replied(*n, t0);
    }
    let state = d.save_state(t0);
    assert_eq!(&state[..8], b"d2:id20:");
    assert_eq!(state.len(), 1 + 27 + (7 + 4 + 5 * 26) + 10 + 1);
    let cfg = DhtConfig {
        bootstrap: vec![addr("10.9.9.9:1")],
        ..DhtConfig::default()
    };
    let mut r = Dht::from_state(cfg, &state, 2, t0).unwrap();
    assert_eq!(r.id(), OWN);
    let mut to: Vec<SocketAddr> = drain(&mut r).iter().map(|t| t.to).collect();
    to.sort();
    assert_eq!(to.len(), 3, "alpha queries to saved nodes");
    assert!(
        to.iter().all(|a| saved.iter().any(|n| n.addr == *a)),
        "{to:?}"
    );
    assert_eq!(
        Dht::from_state(DhtConfig::default(), b"de", 1, t0).err(),
        Some(StateError::BadId)
    );
    assert!(matches!(
        Dht::from_state(DhtConfig::default(), b"x", 1, t0),
        Err(StateError::Bencode(_))
    ));
    let bad = b"d2:id20:aaaaaaaaaaaaaaaaaaaa5:nodes3:abce";
    assert_eq!(
        Dht::from_state(DhtConfig::default(), bad, 1, t0).err(),
        Some(StateError::BadNodes)
    );
}

#[test]
fn a_router_that_gives_a_token_is_announced_to_but_stays_out_of_the_table() {
    let t0 = Instant::now();
    let router = addr("10.0.0.1:1");
    let mut d = node(DhtConfig::default(), t0);
    // Learned after the start (a host name resolved later): asked at once.
    d.add_router(router, t0);
    let boot = drain(&mut d);
    assert_eq!(boot.len(), 1);
    answer(
        &mut d,
        &boot[0],
        NodeId([0x55; 20]),
        Response::default(),
        t0,
    );
    assert!(d.table(false).is_empty(), "routers never enter the table");
    let hash = NodeId([0x77; 20]);
    d.announce(hash, 6881, false, t0).unwrap();
    let q = drain(&mut d);
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].to, router);
    let r = Response {
        token: Blob::new(b"tk"),
        ..Response::default()
    };
    answer(&mut d, &q[0], NodeId([0x55; 20]), r, t0);
    let ann = drain(&mut d);
    assert_eq!(ann.len(), 1, "the announce goes to the router");
    let Body::Query {
        query: Query::AnnouncePeer { port, token, .. },
        ..
    } = decode(&ann[0].bytes).unwrap().body
    else {
        panic!("not an announce: {ann:?}");
    };
    assert_eq!(
        (ann[0].to, port, token.as_slice()),
        (router, 6881, &b"tk"[..])
    );
    assert!(d.table(false).is_empty());
}

#[test]
fn agreeing_nodes_move_us_to_a_bep42_id_for_our_external_address() {
    let t0 = Instant::now();
    let mut d = node(DhtConfig::default(), t0);
    let external: SocketAddr = addr("203.0.113.7:6881");
    assert!(!d.id().matches_ip(external.ip()), "starts with a random id");
    let mut rng = SplitMix64(9);
    for i in 1..=5u8 {
        let from = SocketAddr::from(([198, 51, 100, i], 6881));
        let id = NodeId::for_ip(from.ip(), &mut rng);
        d.add_node(from, t0);
        for t in drain(&mut d).into_iter().filter(|t| t.to == from) {
            let q = decode(&t.bytes).unwrap();
            let msg = Message {
                tid: q.tid,
                body: Body::Response(Response {
                    id,
                    ..Response::default()
                }),
                read_only: false,
                ip: Some(external),
            };
            d.handle_datagram(from, &msg.encode(), t0);
        }
        let moved = d.id().matches_ip(external.ip());
        assert_eq!(moved, i == 5, "after {i} votes");
    }
    let stats = d.stats(t0);
    assert_eq!(stats.external_v4, Some("203.0.113.7".parse().unwrap()));
    assert_eq!(
        stats.good_v4, 5,
        "the nodes we knew stay in the rebuilt table"
    );
}
