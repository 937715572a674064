//! `MetadataFetch` against honest, slow, rejecting and lying peers.

use std::time::{Duration, Instant};

use sha1::{Digest, Sha1};

use super::metadata::METADATA_PIECE_LEN;
use super::metadata_fetch::*;

/// A fake info dictionary of three metadata pieces (16384 + 16384 + 7232 bytes).
fn info() -> Vec<u8> {
    let mut v = b"d4:name4:test6:pieces".to_vec();
    while v.len() < 40_000 {
        v.push((v.len() % 251) as u8);
    }
    v
}

fn hash(b: &[u8]) -> [u8; 20] {
    Sha1::digest(b).into()
}

fn piece(info: &[u8], i: u32) -> &[u8] {
    let start = (i * METADATA_PIECE_LEN) as usize;
    &info[start..(start + METADATA_PIECE_LEN as usize).min(info.len())]
}

fn size_of(info: &[u8]) -> i64 {
    info.len() as i64
}

fn answer(f: &mut MetadataFetch, peer: usize, i: u32, info: &[u8]) -> DataOutcome {
    f.on_data(peer, i, info.len() as u32, piece(info, i))
        .unwrap()
}

#[test]
fn two_peers_share_the_pieces_and_the_exact_bytes_verify() {
    let (info, now) = (info(), Instant::now());
    let mut f = MetadataFetch::new(hash(&info));
    assert_eq!(f.next_request(1, now), None, "no size yet");
    f.add_peer(1, size_of(&info)).unwrap();
    f.add_peer(2, size_of(&info)).unwrap();
    assert_eq!(f.metadata_size(), Some(40_000));
    assert_eq!(f.next_request(1, now), Some(0));
    assert_eq!(f.next_request(2, now), Some(1));
    assert_eq!(f.next_request(2, now), Some(2));
    assert_eq!(f.next_request(1, now), None, "nothing left to ask");
    assert_eq!(answer(&mut f, 2, 2, &info), DataOutcome::Stored);
    assert_eq!(answer(&mut f, 1, 0, &info), DataOutcome::Stored);
    assert_eq!(f.progress(), (2, 3));
    assert_eq!(
        answer(&mut f, 2, 1, &info),
        DataOutcome::Verified {
            info: info.clone(),
            bad_peers: vec![]
        }
    );
    assert!(f.is_done());
    assert_eq!(f.poll_timeout(), None);
    assert_eq!(answer(&mut f, 1, 0, &info), DataOutcome::Ignored);
}

#[test]
fn wrong_hash_from_a_sole_sender_names_it() {
    let (info, now) = (info(), Instant::now());
    let mut f = MetadataFetch::new(hash(b"some other torrent"));
    f.add_peer(7, size_of(&info)).unwrap();
    for i in 0..3 {
        assert_eq!(f.next_request(7, now), Some(i));
    }
    answer(&mut f, 7, 0, &info);
    answer(&mut f, 7, 1, &info);
    assert_eq!(
        answer(&mut f, 7, 2, &info),
        DataOutcome::HashMismatch { culprits: vec![7] }
    );
    assert_eq!(f.failed_rounds(), 1);
    assert_eq!(f.progress(), (0, 3));
    assert_eq!(f.next_request(7, now), None, "the culprit is forgotten");
}

#[test]
fn mismatch_with_several_senders_refetches_elsewhere_then_blames() {
    let (info, now) = (info(), Instant::now());
    let mut bad = info.clone();
    bad[5] ^= 0xff;
    let mut f = MetadataFetch::new(hash(&info));
    f.add_peer(1, size_of(&info)).unwrap();
    f.add_peer(2, size_of(&info)).unwrap();
    assert_eq!(f.next_request(1, now), Some(0));
    assert_eq!(f.next_request(2, now), Some(1));
    assert_eq!(f.next_request(2, now), Some(2));
    answer(&mut f, 1, 0, &bad);
    answer(&mut f, 2, 1, &info);
    assert_eq!(
        answer(&mut f, 2, 2, &info),
        DataOutcome::HashMismatch { culprits: vec![] }
    );
    // Second round: each peer is first offered a piece it did not send before.
    assert_eq!(f.next_request(2, now), Some(0));
    assert_eq!(f.next_request(1, now), Some(1));
    assert_eq!(f.next_request(1, now), Some(2));
    answer(&mut f, 2, 0, &info);
    answer(&mut f, 1, 1, &info);
    assert_eq!(
        answer(&mut f, 1, 2, &info),
        DataOutcome::Verified {
            info: info.clone(),
            bad_peers: vec![1]
        }
    );
}

#[test]
fn bad_advertised_sizes_are_refused() {
    let mut f = MetadataFetch::new([0; 20]);
    assert_eq!(f.add_peer(1, 0), Err(FetchError::BadSize { size: 0 }));
    assert_eq!(
        f.add_peer(1, -16384),
        Err(FetchError::BadSize { size: -16384 })
    );
    let over = i64::from(MAX_METADATA_SIZE) + 1;
    assert_eq!(
        f.add_peer(1, over),
        Err(FetchError::SizeTooLarge { size: over })
    );
    assert_eq!(
        f.add_peer(1, i64::MAX),
        Err(FetchError::SizeTooLarge { size: i64::MAX })
    );
    assert_eq!(f.metadata_size(), None);
    assert_eq!(f.next_request(1, Instant::now()), None);
    assert_eq!(
        f.on_data(1, 0, 10, b"0123456789"),
        Err(FetchError::Unrequested { piece: 0 })
    );
    assert!(f.add_peer(1, i64::from(MAX_METADATA_SIZE)).is_ok());
    assert_eq!(
        FetchError::SizeTooLarge { size: over }.to_string(),
        "peer advertised metadata of 8388609 bytes, over the 8388608-byte limit"
    );
}

#[test]
fn data_not_matching_what_was_asked_is_a_peer_error() {
    let (info, now) = (info(), Instant::now());
    let mut f = MetadataFetch::new(hash(&info));
    f.add_peer(1, size_of(&info)).unwrap();
    assert_eq!(f.next_request(1, now), Some(0));
    assert_eq!(
        f.on_data(1, 0, 50_000, piece(&info, 0)),
        Err(FetchError::SizeMismatch {
            claimed: 50_000,
            expected: 40_000
        })
    );
    assert_eq!(
        f.on_data(1, 3, 40_000, b"x"),
        Err(FetchError::OutOfRange {
            piece: 3,
            pieces: 3
        })
    );
    assert_eq!(
        f.on_data(1, 1, 40_000, piece(&info, 1)),
        Err(FetchError::Unrequested { piece: 1 })
    );
    assert_eq!(
        f.on_data(9, 0, 40_000, piece(&info, 0)),
        Err(FetchError::Unrequested { piece: 0 })
    );
    assert_eq!(
        f.on_data(1, 0, 40_000, &info[..16_000]),
        Err(FetchError::WrongLength {
            piece: 0,
            got: 16_000,
            expected: METADATA_PIECE_LEN
        })
    );
    assert_eq!(f.next_request(1, now), Some(1));
    assert_eq!(f.next_request(1, now), Some(2));
    assert_eq!(
        f.on_data(1, 2, 40_000, &info[32_768..]),
        Ok(DataOutcome::Stored)
    );
    assert_eq!(f.progress(), (1, 3));
}

#[test]
fn a_silent_peer_times_out_and_another_is_asked() {
    let (info, t0) = (info(), Instant::now());
    let mut f = MetadataFetch::new(hash(&info));
    f.add_peer(1, size_of(&info)).unwrap();
    assert_eq!(f.next_request(1, t0), Some(0));
    f.add_peer(2, size_of(&info)).unwrap();
    assert_eq!(f.poll_timeout(), Some(t0 + REQUEST_TIMEOUT));
    let t1 = t0 + REQUEST_TIMEOUT - Duration::from_millis(1);
    assert!(f.handle_timeout(t1).is_empty());
    let t2 = t0 + REQUEST_TIMEOUT;
    assert_eq!(f.handle_timeout(t2), vec![1]);
    assert_eq!(f.next_request(1, t2), None, "backing off");
    assert_eq!(f.next_request(2, t2), Some(0));
    // The slow peer's late answer still counts; the second answer is a harmless duplicate.
    assert_eq!(answer(&mut f, 1, 0, &info), DataOutcome::Stored);
    assert_eq!(answer(&mut f, 2, 0, &info), DataOutcome::Ignored);
    assert_eq!(
        f.next_request(1, t2),
        Some(1),
        "answering ended the back-off"
    );
}

#[test]
fn a_peer_that_rejects_everything_is_given_up_on() {
    let (info, t0) = (info(), Instant::now());
    let mut f = MetadataFetch::new(hash(&info));
    f.add_peer(1, size_of(&info)).unwrap();
    f.add_peer(2, size_of(&info)).unwrap();
    let mut t = t0;
    for round in 0..MAX_REJECTS {
        assert_eq!(f.next_request(1, t), Some(0), "round {round}");
        f.on_reject(1, 0, t).unwrap();
        assert_eq!(f.next_request(1, t), None, "backing off");
        assert_eq!(f.poll_timeout(), Some(t + PEER_BACKOFF));
        t += PEER_BACKOFF;
        assert!(f.handle_timeout(t).is_empty());
    }
    assert_eq!(f.next_request(1, t), None, "given up for good");
    assert_eq!(f.next_request(2, t), Some(0), "someone else is asked");
    assert_eq!(
        f.on_reject(1, 1, t),
        Err(FetchError::Unrequested { piece: 1 })
    );
}

#[test]
fn an_early_size_liar_is_outvoted_and_its_late_data_refused() {
    let (info, now) = (info(), Instant::now());
    let mut f = MetadataFetch::new(hash(&info));
    f.add_peer(1, 5 * 1024 * 1024).unwrap();
    assert_eq!(f.next_request(1, now), Some(0));
    assert_eq!(f.metadata_size(), Some(5 * 1024 * 1024));
    f.add_peer(2, size_of(&info)).unwrap();
    assert_eq!(
        f.metadata_size(),
        Some(5 * 1024 * 1024),
        "a tie keeps the size"
    );
    f.add_peer(3, size_of(&info)).unwrap();
    assert_eq!(f.metadata_size(), Some(40_000));
    assert_eq!(
        f.next_request(1, now),
        None,
        "the liar's size is not fetched"
    );
    assert_eq!(
        f.on_data(1, 0, 5 * 1024 * 1024, &[0; 16384]),
        Err(FetchError::SizeMismatch {
            claimed: 5 * 1024 * 1024,
            expected: 40_000
        })
    );
    assert_eq!(f.next_request(2, now), Some(0));
}

#[test]
fn a_departed_peer_frees_its_pieces() {
    let (info, now) = (info(), Instant::now());
    let mut f = MetadataFetch::new(hash(&info));
    f.add_peer(1, size_of(&info)).unwrap();
    f.add_peer(2, size_of(&info)).unwrap();
    for i in 0..3 {
        assert_eq!(f.next_request(1, now), Some(i));
    }
    assert_eq!(f.next_request(2, now), None);
    f.remove_peer(1);
    assert_eq!(f.next_request(2, now), Some(0));
    assert_eq!(f.poll_timeout(), Some(now + REQUEST_TIMEOUT));
}

#[test]
fn at_most_four_requests_in_flight_per_peer() {
    let now = Instant::now();
    let mut f = MetadataFetch::new([0; 20]);
    f.add_peer(1, 10 * 16384).unwrap();
    let got: Vec<u32> = std::iter::from_fn(|| f.next_request(1, now)).collect();
    assert_eq!(got, [0, 1, 2, 3]);
    assert_eq!(got.len(), MAX_IN_FLIGHT_PER_PEER);
}
