//! Hostile peers: each case runs a raw peer beside one honest (throttled) coracle seeder. The
//! leecher must finish with the exact bytes in bounded time and memory, and must close the hostile
//! peer's connection soon after the violation (seen from the raw peer: its read returns 0 or an
//! error).

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use coracle::internals::wire::Message;

use crate::harness::{Leecher, Swarm, PIECE_LEN, SLOW_SEED_RATE};
use crate::raw_peer::{Got, RawPeer, Recv};

/// How soon after a violation the leecher must close the connection.
const DROP_BOUND: Duration = Duration::from_secs(5);
/// Time for a connection or handshake step that involves no misbehaviour.
const STEP: Duration = Duration::from_secs(5);

/// Who opens the hostile connection.
#[derive(Clone, Copy)]
enum Meet {
    /// The leecher dials the hostile peer's listener (it is in `AddOptions.peers`).
    LeecherDials,
    /// The hostile peer dials the leecher's listen address.
    PeerDials,
}

/// One case in progress: the honest swarm, the leecher and the hostile peer past its handshake.
struct Case {
    swarm: Swarm,
    leecher: Leecher,
    peer: RawPeer,
    started: Instant,
}

impl Case {
    /// Sets up the swarm and the leecher, and completes a correct handshake with it.
    fn start(name: &str, meet: Meet) -> Case {
        let started = Instant::now();
        let swarm = Swarm::start(name, Some(SLOW_SEED_RATE), &[]);
        let (leecher, peer) = match meet {
            Meet::LeecherDials => {
                let listener = TcpListener::bind("127.0.0.1:0").expect("bind hostile peer");
                let addr = listener.local_addr().expect("hostile addr");
                let leecher = swarm.leecher(vec![swarm.seeder_addr(), addr], |_| {});
                let mut peer = RawPeer::accept(&listener, STEP);
                let theirs = peer.read_handshake(STEP).expect("leecher's handshake");
                assert_eq!(theirs.info_hash, swarm.info_hash);
                peer.send_handshake(swarm.info_hash).expect("our handshake");
                (leecher, peer)
            }
            Meet::PeerDials => {
                let leecher = swarm.leecher(vec![swarm.seeder_addr()], |_| {});
                let mut peer = RawPeer::dial(leecher.session.listen_addr());
                peer.send_handshake(swarm.info_hash).expect("our handshake");
                let theirs = peer.read_handshake(STEP).expect("leecher's handshake");
                assert_eq!(theirs.info_hash, swarm.info_hash);
                (leecher, peer)
            }
        };
        // Both the seeder and we are attached before the case acts: no race with the handshake.
        leecher.wait_peers(2, STEP);
        Case {
            swarm,
            leecher,
            peer,
            started,
        }
    }

    /// A bitfield saying we have every piece (spare bits clear).
    fn full_bitfield(&self) -> Vec<u8> {
        full_bitfield(self.swarm.pieces)
    }

    /// Asserts the leecher closes our connection within `DROP_BOUND`.
    fn expect_dropped(&mut self, what: &str) -> Duration {
        self.peer.closed_within(DROP_BOUND).unwrap_or_else(|| {
            panic!("{what}: the leecher kept the hostile peer for over {DROP_BOUND:?}")
        })
    }

    /// The download completes with the exact bytes, in bounded time and memory.
    fn finish(self) -> coracle::TorrentStats {
        let stats = self.swarm.assert_download(&self.leecher, self.started);
        self.leecher.session.shutdown().unwrap();
        stats
    }
}

fn full_bitfield(pieces: u32) -> Vec<u8> {
    let mut bits = vec![0xffu8; pieces.div_ceil(8) as usize];
    let spare = bits.len() as u32 * 8 - pieces;
    if let Some(last) = bits.last_mut() {
        *last &= 0xffu8 << spare;
    }
    bits
}

/// Announces every piece and unchokes, so the leecher sends us requests.
fn offer_everything(c: &mut Case) {
    let bits = c.full_bitfield();
    c.peer.send(&Message::Bitfield(&bits)).expect("bitfield");
    c.peer.send(&Message::Unchoke).expect("unchoke");
}

/// The first request the leecher sends us.
fn first_request(c: &mut Case) -> (u32, u32, u32) {
    match c.peer.wait_for(STEP, |m| matches!(m, Got::Request { .. })) {
        Got::Request {
            index,
            begin,
            length,
        } => (index, begin, length),
        _ => unreachable!(),
    }
}

/// A length prefix with id byte as a frame header.
fn header(len: u32, id: u8) -> Vec<u8> {
    let mut v = len.to_be_bytes().to_vec();
    v.push(id);
    v
}

#[test]
fn control_a_well_behaved_raw_peer_is_kept() {
    // Guards every "dropped" verdict below: the same raw peer, staying within the rules (valid
    // have, interest, a few keep-alives), keeps its connection through the whole download.
    let mut c = Case::start("control", Meet::LeecherDials);
    let last = c.swarm.pieces - 1;
    c.peer.send(&Message::Have { index: last }).expect("have");
    c.peer.send(&Message::Interested).expect("interested");
    c.peer.send_raw(&[0u8; 4].repeat(10)).expect("keep-alives");
    assert_eq!(
        c.peer.closed_within(Duration::from_secs(1)),
        None,
        "an honest peer was dropped"
    );
    let Case {
        swarm,
        leecher,
        mut peer,
        started,
    } = c;
    swarm.assert_download(&leecher, started);
    assert_eq!(
        peer.closed_within(Duration::from_millis(500)),
        None,
        "an honest peer was dropped"
    );
    leecher.session.shutdown().unwrap();
}

#[test]
fn pieces_that_fail_the_hash_get_the_sender_banned() {
    let mut c = Case::start("wrong-data", Meet::LeecherDials);
    offer_everything(&mut c);
    // Answer every request with junk of the right size until the leecher gives up on us.
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut dropped = false;
    while Instant::now() < deadline {
        match c.peer.recv(Duration::from_millis(200)) {
            Recv::Msg(Got::Request {
                index,
                begin,
                length,
            }) => {
                let junk = vec![0xa5u8; length as usize];
                let msg = Message::Piece {
                    index,
                    begin,
                    data: &junk,
                };
                if c.peer.send(&msg).is_err() {
                    dropped = true;
                    break;
                }
            }
            Recv::Msg(_) | Recv::Quiet => {}
            Recv::Closed => {
                dropped = true;
                break;
            }
        }
    }
    assert!(dropped, "the leecher kept a peer that only sends bad data");
    let stats = c.finish();
    assert!(stats.hash_failures >= 1, "{stats:?}");
    assert_eq!(stats.banned, 1, "only the liar is banned: {stats:?}");
}

#[test]
fn length_prefix_of_two_to_the_31() {
    let mut c = Case::start("len-2-31", Meet::LeecherDials);
    c.peer.send_raw(&[0x80, 0, 0, 0]).expect("prefix");
    // Then keep streaming: a leecher that believed the prefix would buffer all of this.
    let junk = vec![0u8; 64 * 1024];
    for _ in 0..64 {
        if c.peer.send_raw(&junk).is_err() {
            break;
        }
    }
    c.expect_dropped("2^31 length prefix");
    c.finish();
}

#[test]
fn bitfield_of_the_wrong_size() {
    let mut c = Case::start("bf-size", Meet::LeecherDials);
    let mut bits = c.full_bitfield();
    bits.push(0);
    c.peer.send(&Message::Bitfield(&bits)).expect("bitfield");
    c.expect_dropped("bitfield one byte too long");
    c.finish();
}

#[test]
fn bitfield_with_spare_bits_set() {
    let mut c = Case::start("bf-spare", Meet::PeerDials);
    let mut bits = c.full_bitfield();
    assert_ne!(c.swarm.pieces % 8, 0, "the payload must leave spare bits");
    *bits.last_mut().unwrap() |= 1;
    c.peer.send(&Message::Bitfield(&bits)).expect("bitfield");
    c.expect_dropped("bitfield with spare bits set");
    c.finish();
}

#[test]
fn have_out_of_range() {
    let mut c = Case::start("have-range", Meet::LeecherDials);
    let n = c.swarm.pieces;
    c.peer.send(&Message::Have { index: n }).expect("have");
    c.expect_dropped("have past the last piece");
    c.finish();
}

#[test]
fn request_for_a_piece_out_of_range() {
    let mut c = Case::start("req-index", Meet::PeerDials);
    let n = c.swarm.pieces;
    c.peer.send(&Message::Interested).expect("interested");
    let req = Message::Request {
        index: n,
        begin: 0,
        length: 16384,
    };
    c.peer.send(&req).expect("request");
    c.expect_dropped("request past the last piece");
    c.finish();
}

#[test]
fn request_with_an_offset_out_of_range() {
    let mut c = Case::start("req-offset", Meet::PeerDials);
    c.peer.send(&Message::Interested).expect("interested");
    let req = Message::Request {
        index: 0,
        begin: PIECE_LEN,
        length: 16384,
    };
    c.peer.send(&req).expect("request");
    c.expect_dropped("request past the end of its piece");
    c.finish();
}

#[test]
fn piece_out_of_range() {
    let mut c = Case::start("piece-index", Meet::LeecherDials);
    let n = c.swarm.pieces;
    let data = vec![0u8; 16384];
    let msg = Message::Piece {
        index: n,
        begin: 0,
        data: &data,
    };
    c.peer.send(&msg).expect("piece");
    c.expect_dropped("piece past the last piece");
    c.finish();
}

#[test]
fn piece_with_an_offset_out_of_range() {
    let mut c = Case::start("piece-offset", Meet::LeecherDials);
    let data = vec![0u8; 16384];
    let msg = Message::Piece {
        index: 0,
        begin: PIECE_LEN,
        data: &data,
    };
    c.peer.send(&msg).expect("piece");
    c.expect_dropped("piece data past the end of its piece");
    c.finish();
}

#[test]
fn unrequested_piece_data() {
    let mut c = Case::start("unrequested", Meet::LeecherDials);
    // We announced nothing, so the leecher cannot have asked us for anything. Even the right
    // bytes are a violation.
    let data = c.swarm.payload.stream()[..16384].to_vec();
    let msg = Message::Piece {
        index: 0,
        begin: 0,
        data: &data,
    };
    c.peer.send(&msg).expect("piece");
    c.expect_dropped("piece data nobody asked for");
    c.finish();
}

#[test]
fn piece_of_the_wrong_size() {
    let mut c = Case::start("piece-size", Meet::LeecherDials);
    offer_everything(&mut c);
    let (index, begin, length) = first_request(&mut c);
    let short = vec![0u8; length as usize - 1];
    let msg = Message::Piece {
        index,
        begin,
        data: &short,
    };
    c.peer.send(&msg).expect("piece");
    c.expect_dropped("block one byte short");
    c.finish();
}

#[test]
fn flood_of_100k_requests() {
    let mut c = Case::start("req-flood", Meet::PeerDials);
    // Requests are only queued (and so only a flood) for a piece the leecher has, once it
    // unchoked us: wait for a `have`, say we are interested, wait for the unchoke.
    let have = match c.peer.wait_for(STEP, |m| matches!(m, Got::Have(_))) {
        Got::Have(i) => i,
        _ => unreachable!(),
    };
    c.peer.send(&Message::Interested).expect("interested");
    c.peer.wait_for(STEP, |m| *m == Got::Unchoke);
    send_request_flood(&mut c, have);
    c.expect_dropped("100k requests");
    c.finish();
}

/// Sends 100,000 requests for the first block of `piece`, in bursts, until the leecher hangs up.
fn send_request_flood(c: &mut Case, piece: u32) {
    let mut one = Vec::new();
    Message::Request {
        index: piece,
        begin: 0,
        length: 16384,
    }
    .encode(&mut one);
    let burst: Vec<u8> = one.repeat(1000);
    for _ in 0..100 {
        if c.peer.send_raw(&burst).is_err() {
            break;
        }
    }
}

#[test]
fn request_flood_while_choked() {
    // The same flood without waiting for an unchoke: BEP 3 says to ignore requests while choked,
    // but a peer that sends 100k of them is not confused, it is hostile.
    let mut c = Case::start("req-flood-choked", Meet::PeerDials);
    send_request_flood(&mut c, 0);
    c.expect_dropped("100k requests while choked");
    c.finish();
}

#[test]
fn keep_alive_spam() {
    let mut c = Case::start("keepalive", Meet::LeecherDials);
    let spam = [0u8; 4].repeat(5000);
    let _ = c.peer.send_raw(&spam);
    c.expect_dropped("5000 keep-alives in a row");
    c.finish();
}

#[test]
fn close_in_the_middle_of_a_piece_message() {
    let mut c = Case::start("mid-piece", Meet::LeecherDials);
    offer_everything(&mut c);
    let (index, begin, length) = first_request(&mut c);
    let mut partial = header(9 + length, 7);
    partial.extend_from_slice(&index.to_be_bytes());
    partial.extend_from_slice(&begin.to_be_bytes());
    partial.extend_from_slice(&vec![0u8; length as usize / 2]);
    c.peer.send_raw(&partial).expect("half a piece");
    let Case {
        swarm,
        leecher,
        peer,
        started,
    } = c;
    peer.close();
    // The requests we held must go back to the honest seeder at once, not after the 30 s request
    // timeout: finishing well inside that proves it.
    swarm.assert_download(&leecher, started);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
    leecher.session.shutdown().unwrap();
}

#[test]
fn peer_that_never_unchokes() {
    let mut c = Case::start("never-unchoke", Meet::LeecherDials);
    let bits = c.full_bitfield();
    c.peer.send(&Message::Bitfield(&bits)).expect("bitfield");
    c.peer.wait_for(STEP, |m| *m == Got::Interested);
    // We never unchoke. The leecher finishes from the seeder, then drops us: two seeds.
    let Case {
        swarm,
        leecher,
        mut peer,
        started,
    } = c;
    swarm.assert_download(&leecher, started);
    assert!(
        peer.closed_within(DROP_BOUND).is_some(),
        "a seed that never unchoked is kept after completion"
    );
    leecher.session.shutdown().unwrap();
}

#[test]
fn handshake_sent_one_byte_a_second() {
    let started = Instant::now();
    let swarm = Swarm::start("slow-hs", Some(SLOW_SEED_RATE), &[]);
    let timeout = Duration::from_millis(1500);
    let leecher = swarm.leecher(vec![swarm.seeder_addr()], |c| {
        c.engine.handshake_timeout = timeout;
    });
    let mut hs = Vec::new();
    coracle::internals::wire::Handshake {
        reserved: [0; 8],
        info_hash: swarm.info_hash,
        peer_id: crate::raw_peer::HOSTILE_ID,
    }
    .encode(&mut hs);
    let mut peer = RawPeer::dial(leecher.session.listen_addr());
    let opened = Instant::now();
    let mut closed = None;
    for b in hs {
        if peer.send_raw(&[b]).is_err() {
            closed = Some(opened.elapsed());
            break;
        }
        // Waiting for the close doubles as the one-second pause between bytes.
        if peer.closed_within(Duration::from_secs(1)).is_some() {
            closed = Some(opened.elapsed());
            break;
        }
    }
    let closed = closed.expect("a 68-second handshake was accepted");
    assert!(
        closed >= timeout - Duration::from_millis(200) && closed < timeout + DROP_BOUND,
        "closed after {closed:?}, handshake timeout {timeout:?}"
    );
    swarm.assert_download(&leecher, started);
    leecher.session.shutdown().unwrap();
}

#[test]
fn wrong_info_hash_dialling_in() {
    let started = Instant::now();
    let swarm = Swarm::start("bad-hash-in", Some(SLOW_SEED_RATE), &[]);
    let leecher = swarm.leecher(vec![swarm.seeder_addr()], |_| {});
    let mut peer = RawPeer::dial(leecher.session.listen_addr());
    let mut other = swarm.info_hash;
    other[0] ^= 0xff;
    peer.send_handshake(other).expect("handshake");
    // The leecher must not answer with its own handshake (nor reveal its peer id) first.
    assert!(
        peer.read_handshake(DROP_BOUND).is_none(),
        "the leecher answered a handshake for a torrent it does not have"
    );
    assert!(peer.closed_within(DROP_BOUND).is_some());
    swarm.assert_download(&leecher, started);
    leecher.session.shutdown().unwrap();
}

#[test]
fn wrong_info_hash_when_dialled() {
    let started = Instant::now();
    let swarm = Swarm::start("bad-hash-out", Some(SLOW_SEED_RATE), &[]);
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind hostile peer");
    let addr = listener.local_addr().expect("hostile addr");
    let leecher = swarm.leecher(vec![swarm.seeder_addr(), addr], |_| {});
    let mut peer = RawPeer::accept(&listener, STEP);
    peer.read_handshake(STEP).expect("leecher's handshake");
    let mut other = swarm.info_hash;
    other[19] ^= 0xff;
    peer.send_handshake(other).expect("handshake");
    assert!(
        peer.closed_within(DROP_BOUND).is_some(),
        "the leecher kept a peer that answered for another torrent"
    );
    swarm.assert_download(&leecher, started);
    leecher.session.shutdown().unwrap();
}

/// Whether the leecher has closed `s` (read gives 0 or an error other than "would block").
fn is_closed(s: &TcpStream) -> bool {
    use std::io::{ErrorKind, Read};
    let mut buf = [0u8; 64];
    match (&*s).read(&mut buf) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() != ErrorKind::WouldBlock,
    }
}

/// Opens `n` connections to `addr` from several threads at once.
fn open_many(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    let threads = 10;
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(move || {
                    (0..n / threads)
                        .map(|_| {
                            TcpStream::connect_timeout(&addr, Duration::from_secs(5))
                                .expect("connect to the leecher")
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("connector thread"))
            .collect()
    })
}

#[test]
fn five_hundred_connections_at_once() {
    let started = Instant::now();
    let swarm = Swarm::start("500-conns", Some(SLOW_SEED_RATE), &[]);
    let handshake_timeout = Duration::from_secs(3);
    let leecher = swarm.leecher(vec![swarm.seeder_addr()], |c| {
        c.engine.handshake_timeout = handshake_timeout;
    });
    let max = coracle::EngineConfig::default().max_connections;
    leecher.wait_peers(1, STEP);
    let conns = open_many(leecher.session.listen_addr(), 500);
    assert_eq!(conns.len(), 500);
    for s in &conns {
        s.set_nonblocking(true).expect("nonblocking");
    }
    // Beyond the limit (the seeder's connection counts too) the leecher closes at once.
    let beyond = 500 - (max - 1);
    let deadline = Instant::now() + STEP;
    let mut closed = 0;
    while Instant::now() < deadline {
        closed = conns.iter().filter(|s| is_closed(s)).count();
        if closed >= beyond {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        closed >= beyond && closed < 500,
        "{closed} of 500 closed before the handshake timeout; {beyond} are over the limit of {max}"
    );
    swarm.assert_download(&leecher, started);
    // The silent ones are closed by the handshake timeout, freeing every slot.
    let deadline = Instant::now() + handshake_timeout + STEP;
    while Instant::now() < deadline && conns.iter().any(|s| !is_closed(s)) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let open = conns.iter().filter(|s| !is_closed(s)).count();
    assert_eq!(open, 0, "silent connections outlived the handshake timeout");
    leecher.session.shutdown().unwrap();
}
