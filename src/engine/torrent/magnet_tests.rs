//! Extensions on the wire, byte for byte: our extension handshake, metadata served and fetched
//! (BEP 9), PEX in and out (BEP 11), and the Fast extension (BEP 6).

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Instant;

use super::{test_core, TorrentCore};
use crate::bencode;
use crate::bitfield::Bitfield;
use crate::engine::io::{
    Action, ConnId, DiskDone, DiskRequest, EngineConfig, MagnetParams, TorrentParams,
};
use crate::engine::{Outputs, TorrentState};
use crate::ext::fast::allowed_fast_set;
use crate::ext::{ExtIds, MetadataMsg, PexMessage, PexPeer};
use crate::layout::Layout;
use crate::wire::{self, Extensions, Message};
use sha1::{Digest, Sha1};

const INFO: &[u8] = b"d6:lengthi65536e4:name1:x12:piece lengthi16384e6:pieces80:\
aaaaaaaaaaaaaaaaaaaabbbbbbbbbbbbbbbbbbbbccccccccccccccccccccdddddddddddddddddddde";

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([10, 0, 0, 1], port))
}

fn all_ext() -> Extensions {
    Extensions {
        extension_protocol: true,
        fast: true,
        dht: false,
    }
}

/// Every message queued for `conn` since the last call.
fn sent(t: &mut TorrentCore, conn: ConnId) -> Vec<Message<'static>> {
    let bytes = t.peers.get_mut(&conn).unwrap().out.take_bytes();
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    let mut rest = bytes;
    let mut got = Vec::new();
    while let Some((msg, used)) = wire::decode_frame(rest, 1 << 20).unwrap() {
        got.push(msg);
        rest = &rest[used..];
    }
    got
}

fn feed(t: &mut TorrentCore, conn: ConnId, msgs: &[Message<'_>], now: Instant, out: &mut Outputs) {
    let mut bytes = Vec::new();
    for m in msgs {
        m.encode(&mut bytes);
    }
    t.handle_data(conn, &bytes, now, out);
}

fn ext_handshake(metadata_size: Option<i64>) -> Vec<u8> {
    let mut hs = ExtIds::local_handshake();
    hs.ut_metadata = Some(3);
    hs.ut_pex = Some(4);
    hs.metadata_size = metadata_size;
    hs.listen_port = Some(6881);
    hs.encode()
}

fn seed_with_info(now: Instant) -> TorrentCore {
    let layout = Layout::new(16384, 65536).unwrap();
    let params = TorrentParams {
        info_hash: Sha1::digest(INFO).into(),
        layout,
        trackers: vec![],
        peers: vec![],
        have: Bitfield::full(4),
        recheck: false,
        check: None,
        info: Some(INFO.into()),
        private: false,
    };
    TorrentCore::new(1, params, &EngineConfig::default(), now)
}

#[test]
fn our_extension_handshake_says_what_we_speak() {
    let now = Instant::now();
    let mut t = seed_with_info(now);
    let mut out = Outputs::default();
    t.add_peer_with(1, (addr(7000), true, [7; 20]), all_ext(), now, &mut out);
    t.send_extension_handshake(1, now, &mut out);
    let msgs = sent(&mut t, 1);
    assert_eq!(msgs[0], Message::HaveAll, "a complete seed says `have all`");
    // Four pieces: the allowed-fast set is all of them.
    let mut granted: Vec<u32> = msgs[1..5]
        .iter()
        .map(|m| match m {
            Message::AllowedFast { index } => *index,
            other => panic!("expected allowed fast, got {other:?}"),
        })
        .collect();
    granted.sort_unstable();
    assert_eq!(granted, [0, 1, 2, 3]);
    let Message::Extended { id: 0, payload } = msgs[5] else {
        panic!("{msgs:?}");
    };
    let d = bencode::decode(payload).unwrap();
    let m = d.get("m").unwrap();
    assert_eq!(m.get("ut_metadata").and_then(|v| v.as_int()), Some(1));
    assert_eq!(m.get("ut_pex").and_then(|v| v.as_int()), Some(2));
    assert_eq!(
        d.get("metadata_size").and_then(|v| v.as_int()),
        Some(INFO.len() as i64)
    );
    assert_eq!(
        d.get("yourip").and_then(|v| v.as_bytes()),
        Some(&[10, 0, 0, 1][..])
    );
    assert!(d.get("reqq").is_some() && d.get("v").is_some());
}

#[test]
fn metadata_is_served_exactly_and_rejected_out_of_range() {
    let now = Instant::now();
    let mut t = seed_with_info(now);
    let mut out = Outputs::default();
    t.add_peer_with(1, (addr(7000), true, [7; 20]), all_ext(), now, &mut out);
    sent(&mut t, 1);
    let hs = ext_handshake(None);
    let mut req = Vec::new();
    MetadataMsg::Request { piece: 0 }.encode(&mut req);
    let mut far = Vec::new();
    MetadataMsg::Request { piece: 9 }.encode(&mut far);
    let msgs = [
        Message::Extended {
            id: 0,
            payload: &hs,
        },
        Message::Extended {
            id: 1,
            payload: &req,
        },
        Message::Extended {
            id: 1,
            payload: &far,
        },
    ];
    feed(&mut t, 1, &msgs, now, &mut out);
    let replies = sent(&mut t, 1);
    let Message::Extended { id: 3, payload } = replies[0] else {
        panic!("{replies:?}");
    };
    assert_eq!(
        MetadataMsg::decode(payload).unwrap(),
        MetadataMsg::Data {
            piece: 0,
            total_size: INFO.len() as u32,
            data: INFO
        }
    );
    let Message::Extended { id: 3, payload } = replies[1] else {
        panic!("{replies:?}");
    };
    assert_eq!(
        MetadataMsg::decode(payload).unwrap(),
        MetadataMsg::Reject { piece: 9 }
    );
}

#[test]
fn a_magnet_fetches_verifies_and_becomes_a_torrent_with_the_same_peers() {
    let now = Instant::now();
    let params = MagnetParams {
        info_hash: Sha1::digest(INFO).into(),
        trackers: vec![],
        peers: vec![],
    };
    let mut t = TorrentCore::new_magnet(1, params, &EngineConfig::default(), now);
    let mut out = Outputs::default();
    assert_eq!(t.state(), TorrentState::FetchingMetadata);
    t.add_peer_with(1, (addr(7000), true, [7; 20]), all_ext(), now, &mut out);
    assert_eq!(sent(&mut t, 1), [Message::HaveNone]);
    // It says what it has before we know the pieces: kept for later.
    let hs = ext_handshake(Some(INFO.len() as i64));
    let msgs = [
        Message::HaveAll,
        Message::Extended {
            id: 0,
            payload: &hs,
        },
    ];
    feed(&mut t, 1, &msgs, now, &mut out);
    let asked = sent(&mut t, 1);
    let Message::Extended { id: 3, payload } = asked[0] else {
        panic!("{asked:?}");
    };
    assert_eq!(
        MetadataMsg::decode(payload).unwrap(),
        MetadataMsg::Request { piece: 0 }
    );
    let mut data = Vec::new();
    MetadataMsg::Data {
        piece: 0,
        total_size: INFO.len() as u32,
        data: INFO,
    }
    .encode(&mut data);
    out.actions.clear();
    feed(
        &mut t,
        1,
        &[Message::Extended {
            id: 1,
            payload: &data,
        }],
        now,
        &mut out,
    );
    let info = out.actions.iter().find_map(|a| match a {
        Action::MetadataReceived { info, .. } => Some(info.clone()),
        _ => None,
    });
    assert_eq!(info.as_deref(), Some(INFO));
    t.attach_metadata(
        Layout::new(16384, 65536).unwrap(),
        false,
        false,
        None,
        now,
        &mut out,
    );
    assert_eq!(t.state(), TorrentState::Downloading);
    let p = &t.peers[&1];
    assert!(p.is_seed(), "its early `have all` applied");
    assert!(p.am_interested, "and we want its pieces");
}

#[test]
fn metadata_that_fails_the_hash_bans_its_only_sender() {
    let now = Instant::now();
    let params = MagnetParams {
        info_hash: [9; 20],
        trackers: vec![],
        peers: vec![],
    };
    let mut t = TorrentCore::new_magnet(1, params, &EngineConfig::default(), now);
    let mut out = Outputs::default();
    t.add_peer_with(1, (addr(7000), true, [7; 20]), all_ext(), now, &mut out);
    let hs = ext_handshake(Some(INFO.len() as i64));
    let mut data = Vec::new();
    MetadataMsg::Data {
        piece: 0,
        total_size: INFO.len() as u32,
        data: INFO,
    }
    .encode(&mut data);
    let msgs = [
        Message::Extended {
            id: 0,
            payload: &hs,
        },
        Message::Extended {
            id: 1,
            payload: &data,
        },
    ];
    feed(&mut t, 1, &msgs, now, &mut out);
    assert!(!t.peers.contains_key(&1), "dropped");
    assert!(t.is_banned(&addr(7000)));
    assert_eq!(t.state(), TorrentState::FetchingMetadata);
}

#[test]
fn pex_peers_are_dialled_and_private_torrents_ignore_pex() {
    let now = Instant::now();
    let layout = Layout::new(16384, 65536).unwrap();
    for private in [false, true] {
        let mut t = if private {
            let params = TorrentParams {
                info_hash: [1; 20],
                layout,
                trackers: vec![],
                peers: vec![],
                have: Bitfield::new(4),
                recheck: false,
                check: None,
                info: None,
                private: true,
            };
            TorrentCore::new(1, params, &EngineConfig::default(), now)
        } else {
            test_core(1, layout, false, &EngineConfig::default(), now)
        };
        let mut out = Outputs::default();
        t.add_peer_with(1, (addr(7000), true, [7; 20]), all_ext(), now, &mut out);
        let hs = ext_handshake(None);
        let pex = PexMessage {
            added: vec![PexPeer {
                addr: addr(7001),
                flags: 0,
            }],
            dropped: vec![],
        }
        .encode();
        let msgs = [
            Message::Extended {
                id: 0,
                payload: &hs,
            },
            Message::Extended {
                id: 2,
                payload: &pex,
            },
        ];
        feed(&mut t, 1, &msgs, now, &mut out);
        let dials = t.take_dial_targets(8, now);
        assert_eq!(dials.contains(&addr(7001)), !private, "private: {private}");
    }
}

#[test]
fn fast_peers_get_rejects_and_may_request_allowed_pieces_while_choked() {
    let now = Instant::now();
    let layout = Layout::new(16384, 64 * 16384).unwrap();
    let mut t = test_core(1, layout, true, &EngineConfig::default(), now);
    let mut out = Outputs::default();
    t.add_peer_with(1, (addr(7000), false, [7; 20]), all_ext(), now, &mut out);
    // `have all`, then BEP 6's canonical set for the peer's address.
    let granted = allowed_fast_set(Ipv4Addr::new(10, 0, 0, 1), &[1; 20], 64, 10);
    let mut expected = vec![Message::HaveAll];
    expected.extend(granted.iter().map(|&index| Message::AllowedFast { index }));
    assert_eq!(sent(&mut t, 1), expected);
    let other = (0..64).find(|p| !granted.contains(p)).unwrap();
    let req = |index| Message::Request {
        index,
        begin: 0,
        length: 16384,
    };
    feed(&mut t, 1, &[req(other)], now, &mut out);
    assert_eq!(
        sent(&mut t, 1),
        [Message::RejectRequest {
            index: other,
            begin: 0,
            length: 16384
        }],
        "choked: rejected, not ignored"
    );
    // A granted piece is served although we choke the peer: its read goes to the disk.
    out.actions.clear();
    feed(&mut t, 1, &[req(granted[0])], now, &mut out);
    assert!(
        sent(&mut t, 1).is_empty(),
        "no reject for an allowed-fast piece"
    );
    let reads: Vec<u32> = out
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::Disk(DiskRequest::Read { piece, .. }) => Some(*piece),
            _ => None,
        })
        .collect();
    assert_eq!(reads, [granted[0]]);
    // And its block goes out, though the peer stays choked.
    let done = DiskDone::Read {
        torrent: 1,
        conn: 1,
        piece: granted[0],
        begin: 0,
        data: Ok(vec![9; 16384]),
    };
    t.handle_disk(done, now, &mut out);
    assert_eq!(
        sent(&mut t, 1),
        [Message::Piece {
            index: granted[0],
            begin: 0,
            data: &[9; 16384]
        }]
    );

    // As a leecher: a choking Fast peer lets us fetch its allowed-fast piece.
    let mut l = test_core(2, layout, false, &EngineConfig::default(), now);
    l.add_peer_with(1, (addr(7000), true, [7; 20]), all_ext(), now, &mut out);
    sent(&mut l, 1);
    feed(
        &mut l,
        1,
        &[Message::HaveAll, Message::AllowedFast { index: 3 }],
        now,
        &mut out,
    );
    let asked: Vec<u32> = sent(&mut l, 1)
        .into_iter()
        .filter_map(|m| match m {
            Message::Request { index, .. } => Some(index),
            _ => None,
        })
        .collect();
    assert_eq!(asked, [3], "only the allowed piece while choked");

    // And a non-Fast peer sending Fast messages is dropped.
    l.add_peer(2, addr(7002), true, [8; 20], now, &mut out);
    feed(&mut l, 2, &[Message::HaveNone], now, &mut out);
    assert!(!l.peers.contains_key(&2));
}

fn magnet_core(now: Instant) -> TorrentCore {
    let params = MagnetParams {
        info_hash: Sha1::digest(INFO).into(),
        trackers: vec![],
        peers: vec![],
    };
    TorrentCore::new_magnet(1, params, &EngineConfig::default(), now)
}

#[test]
fn before_metadata_allowed_fast_is_ignored_and_haves_are_bounded() {
    let now = Instant::now();
    let mut t = magnet_core(now);
    let mut out = Outputs::default();
    t.add_peer_with(1, (addr(7000), true, [7; 20]), all_ext(), now, &mut out);
    // aria2 sends its allowed-fast set at once, for pieces we cannot know yet.
    feed(
        &mut t,
        1,
        &[Message::AllowedFast { index: 4000 }],
        now,
        &mut out,
    );
    assert!(t.peers.contains_key(&1), "kept");
    let haves: Vec<Message<'_>> = (0..crate::engine::peer::MAX_EARLY_HAVES as u32 + 1)
        .map(|index| Message::Have { index })
        .collect();
    feed(&mut t, 1, &haves, now, &mut out);
    assert!(
        !t.peers.contains_key(&1),
        "more haves than any torrent has pieces"
    );
}

#[test]
fn pex_never_tells_a_peer_about_itself() {
    let now = Instant::now();
    let layout = Layout::new(16384, 65536).unwrap();
    let mut t = test_core(1, layout, false, &EngineConfig::default(), now);
    let mut out = Outputs::default();
    // An incoming peer whose listen port is 6881 (its handshake's `p`), and one we dialled.
    t.add_peer_with(1, (addr(40000), false, [7; 20]), all_ext(), now, &mut out);
    t.add_peer_with(2, (addr(7002), true, [8; 20]), all_ext(), now, &mut out);
    let hs = ext_handshake(None);
    for conn in [1, 2] {
        feed(
            &mut t,
            conn,
            &[Message::Extended {
                id: 0,
                payload: &hs,
            }],
            now,
            &mut out,
        );
    }
    sent(&mut t, 1);
    t.send_pex(now, &mut out);
    let told: Vec<SocketAddr> = sent(&mut t, 1)
        .into_iter()
        .filter_map(|m| match m {
            Message::Extended { id: 4, payload } => PexMessage::decode(payload).ok(),
            _ => None,
        })
        .flat_map(|m| m.added.into_iter().map(|p| p.addr))
        .collect();
    assert_eq!(
        told,
        [addr(7002)],
        "the other peer, not its own 10.0.0.1:6881"
    );
}
