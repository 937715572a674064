use super::*;

const ID_A: &[u8; 20] = b"abcdefghij0123456789";
const ID_M: &[u8; 20] = b"mnopqrstuvwxyz123456";

fn tid(b: &[u8]) -> Blob {
    Blob::new(b).unwrap()
}

fn query(q: Query) -> Message {
    Message {
        tid: tid(b"aa"),
        body: Body::Query {
            id: NodeId(*ID_A),
            query: q,
        },
        read_only: false,
        ip: None,
    }
}

/// Encodes `msg`, checks the exact bytes, and decodes them back to `msg`.
fn both_ways(msg: &Message, wire: &[u8]) {
    assert_eq!(
        String::from_utf8_lossy(&msg.encode()),
        String::from_utf8_lossy(wire)
    );
    assert_eq!(&decode(wire).unwrap(), msg);
}

#[test]
fn ping_and_ping_response_match_bep5() {
    both_ways(
        &query(Query::Ping),
        b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe",
    );
    let resp = Message {
        tid: tid(b"aa"),
        body: Body::Response(Response {
            id: NodeId(*ID_M),
            ..Response::default()
        }),
        read_only: false,
        ip: None,
    };
    both_ways(&resp, b"d1:rd2:id20:mnopqrstuvwxyz123456e1:t2:aa1:y1:re");
}

#[test]
fn find_node_with_want_and_read_only() {
    let mut msg = query(Query::FindNode {
        target: NodeId(*ID_M),
        want: Want { v4: true, v6: true },
    });
    msg.read_only = true;
    both_ways(
        &msg,
        b"d1:ad2:id20:abcdefghij01234567896:target20:mnopqrstuvwxyz1234564:wantl2:n42:n6ee\
          1:q9:find_node2:roi1e1:t2:aa1:y1:qe",
    );
}

#[test]
fn get_peers_and_announce_peer_queries() {
    both_ways(
        &query(Query::GetPeers {
            info_hash: NodeId(*ID_M),
            want: Want::default(),
        }),
        b"d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz123456e\
          1:q9:get_peers1:t2:aa1:y1:qe",
    );
    both_ways(
        &query(Query::AnnouncePeer {
            info_hash: NodeId(*ID_M),
            port: 6881,
            implied_port: true,
            token: tid(b"aoeusnth"),
        }),
        b"d1:ad2:id20:abcdefghij012345678912:implied_porti1e9:info_hash20:mnopqrstuvwxyz123456\
          4:porti6881e5:token8:aoeusnthe1:q13:announce_peer1:t2:aa1:y1:qe",
    );
}

#[test]
fn responses_with_nodes_nodes6_values_token_and_ip() {
    let n4 = NodeInfo {
        id: NodeId(*ID_M),
        addr: "10.0.0.1:6881".parse().unwrap(),
    };
    let n6 = NodeInfo {
        id: NodeId(*ID_A),
        addr: "[fd00::1]:258".parse().unwrap(),
    };
    let msg = Message {
        tid: tid(b"xy"),
        body: Body::Response(Response {
            id: NodeId(*ID_A),
            nodes: vec![n4, n6],
            values: vec![
                "10.1.2.3:80".parse().unwrap(),
                "[fd00::2]:1".parse().unwrap(),
            ],
            token: Some(tid(b"tok")),
        }),
        read_only: false,
        ip: Some("127.0.0.1:1".parse().unwrap()),
    };
    let mut wire = b"d2:ip6:\x7f\0\0\x01\0\x011:rd2:id20:abcdefghij01234567895:nodes26:".to_vec();
    wire.extend_from_slice(b"mnopqrstuvwxyz123456\x0a\0\0\x01\x1a\xe1");
    wire.extend_from_slice(b"6:nodes638:abcdefghij0123456789\xfd\0");
    wire.extend_from_slice(&[0; 13]);
    wire.extend_from_slice(b"\x01\x01\x02");
    wire.extend_from_slice(b"5:token3:tok6:valuesl6:\x0a\x01\x02\x03\0\x5018:\xfd\0");
    wire.extend_from_slice(&[0; 13]);
    wire.extend_from_slice(b"\x02\0\x01ee1:t2:xy1:y1:re");
    both_ways(&msg, &wire);
}

#[test]
fn errors_both_ways() {
    let msg = Message {
        tid: tid(b"aa"),
        body: Body::Error { code: 203 },
        read_only: false,
        ip: None,
    };
    both_ways(&msg, b"d1:eli203e14:Protocol Errore1:t2:aa1:y1:ee");
    let bep5 = decode(b"d1:eli201e23:A Generic Error Ocurrede1:t2:aa1:y1:ee").unwrap();
    assert_eq!(bep5.body, Body::Error { code: 201 });
}

fn kind(bytes: &[u8]) -> ErrorKind {
    decode(bytes).unwrap_err().kind
}

#[test]
fn malformed_inputs_are_typed_errors() {
    assert!(matches!(kind(b"not bencode"), ErrorKind::Bencode(_)));
    assert!(matches!(kind(b""), ErrorKind::Bencode(_)));
    assert_eq!(kind(b"li1ee"), ErrorKind::Invalid("message"));
    assert_eq!(kind(b"d1:y1:qe"), ErrorKind::Missing("t"));
    assert_eq!(kind(b"d1:ti1e1:y1:qe"), ErrorKind::Invalid("t"));
    assert_eq!(
        kind(b"d1:t21:aaaaaaaaaaaaaaaaaaaaa1:y1:re"),
        ErrorKind::Invalid("t")
    );
    assert_eq!(kind(b"d1:t2:aae"), ErrorKind::Missing("y"));
    assert_eq!(kind(b"d1:t2:aa1:y1:xe"), ErrorKind::Invalid("y"));
    assert_eq!(kind(b"d1:t2:aa1:y1:re"), ErrorKind::Missing("r"));
    assert_eq!(kind(b"d1:rle1:t2:aa1:y1:re"), ErrorKind::Invalid("r"));
    assert_eq!(
        kind(b"d1:rd2:id3:abce1:t2:aa1:y1:re"),
        ErrorKind::Invalid("id")
    );
    assert_eq!(kind(b"d1:ei201e1:t2:aa1:y1:ee"), ErrorKind::Invalid("e"));
    // A node list whose length is not a multiple of 26 is bogus.
    let bad_nodes = b"d1:rd2:id20:abcdefghij01234567895:nodes5:abcdee1:t2:aa1:y1:re";
    assert_eq!(kind(bad_nodes), ErrorKind::Invalid("nodes"));
    let bad_values = b"d1:rd2:id20:abcdefghij01234567896:valuesi1ee1:t2:aa1:y1:re";
    assert_eq!(kind(bad_values), ErrorKind::Invalid("values"));
}

#[test]
fn malformed_queries_keep_their_tid_for_an_error_reply() {
    let e = decode(b"d1:ad2:id20:abcdefghij0123456789e1:q4:vote1:t2:zz1:y1:qe").unwrap_err();
    assert_eq!(e.kind, ErrorKind::UnknownMethod);
    assert_eq!(e.tid, Some(tid(b"zz")));
    let e = decode(b"d1:ad2:id20:abcdefghij0123456789e1:q9:find_node1:t2:zz1:y1:qe").unwrap_err();
    assert_eq!(e.kind, ErrorKind::Missing("target"));
    assert_eq!(e.tid, Some(tid(b"zz")));
    assert_eq!(
        kind(b"d1:a0:1:q4:ping1:t2:zz1:y1:qe"),
        ErrorKind::Invalid("a")
    );
    assert_eq!(
        kind(b"d1:ad2:idi5ee1:q4:ping1:t2:zz1:y1:qe"),
        ErrorKind::Invalid("id")
    );
    let no_port = b"d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz1234565:token1:xe\
                    1:q13:announce_peer1:t2:zz1:y1:qe";
    assert_eq!(kind(no_port), ErrorKind::Missing("port"));
    let big_port =
        b"d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz1234564:porti65536e\
                     5:token1:xe1:q13:announce_peer1:t2:zz1:y1:qe";
    assert_eq!(kind(big_port), ErrorKind::Invalid("port"));
    let bad_want = b"d1:ad2:id20:abcdefghij01234567896:target20:mnopqrstuvwxyz1234564:want2:n4e\
                     1:q9:find_node1:t2:zz1:y1:qe";
    assert_eq!(kind(bad_want), ErrorKind::Invalid("want"));
}

#[test]
fn implied_port_announce_may_omit_port() {
    let m = decode(
        b"d1:ad2:id20:abcdefghij012345678912:implied_porti1e9:info_hash20:mnopqrstuvwxyz123456\
          5:token1:xe1:q13:announce_peer1:t2:zz1:y1:qe",
    )
    .unwrap();
    let Body::Query {
        query: Query::AnnouncePeer {
            port, implied_port, ..
        },
        ..
    } = m.body
    else {
        panic!("{m:?}");
    };
    assert_eq!((port, implied_port), (0, true));
}

#[test]
fn oversized_packet_is_refused_before_parsing() {
    let mut big = b"d1:t2:aa1:y1:r1:rd2:id20:abcdefghij01234567895:nodes65000:".to_vec();
    big.resize(64 * 1024, 0);
    assert_eq!(kind(&big), ErrorKind::TooLarge);
    assert_eq!(kind(&vec![b'l'; MAX_PACKET + 1]), ErrorKind::TooLarge);
}

#[test]
fn node_and_value_lists_are_capped_and_bad_entries_skipped() {
    // 50 nodes fit in a 1,500-byte packet: only MAX_NODES are kept.
    let mut nodes = Vec::new();
    for i in 0..50u8 {
        nodes.extend_from_slice(&[i; 20]);
        nodes.extend_from_slice(&[10, 0, 0, i, 0, if i == 3 { 0 } else { 1 }]);
    }
    let mut wire = b"d1:rd2:id20:abcdefghij01234567895:nodes1300:".to_vec();
    wire.extend_from_slice(&nodes);
    wire.extend_from_slice(b"e1:t2:aa1:y1:re");
    let Body::Response(r) = decode(&wire).unwrap().body else {
        panic!()
    };
    assert_eq!(r.nodes.len(), MAX_NODES);
    assert!(r.nodes.iter().all(|n| n.addr.port() == 1), "port 0 skipped");
    assert_eq!(r.nodes[3].id, NodeId([4; 20]));
    // Thousands of nodes cannot even arrive: the packet is too large.
    let mut huge = b"d1:rd2:id20:abcdefghij01234567895:nodes52000:".to_vec();
    huge.extend(std::iter::repeat(1u8).take(52000));
    huge.extend_from_slice(b"e1:t2:aa1:y1:re");
    assert_eq!(kind(&huge), ErrorKind::TooLarge);
    // Values: wrong lengths and port 0 are skipped, the count is capped.
    let mut wire = b"d1:rd2:id20:abcdefghij01234567896:valuesl3:abc6:\x0a\0\0\x01\0\0i5e".to_vec();
    for i in 0..150u8 {
        wire.extend_from_slice(b"6:\x0a\0\x01");
        wire.extend_from_slice(&[i, 0, 7]);
    }
    wire.extend_from_slice(b"ee1:t2:aa1:y1:re");
    let Body::Response(r) = decode(&wire).unwrap().body else {
        panic!()
    };
    assert_eq!(r.values.len(), MAX_VALUES);
    assert_eq!(r.values[0], "10.0.1.0:7".parse::<SocketAddr>().unwrap());
}

#[test]
fn blob_limits() {
    assert!(Blob::new(&[1; MAX_BLOB]).is_some());
    assert!(Blob::new(&[1; MAX_BLOB + 1]).is_none());
    assert_eq!(Blob::new(b"").unwrap().as_slice(), b"");
}
