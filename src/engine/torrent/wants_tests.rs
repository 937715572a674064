//! A torrent core's file choices: only wanted pieces make a peer interesting, the torrent
//! completes when they are verified and keeps its seeds, and wanting more downloads again.

use std::time::Instant;

use super::{test_core, TorrentCore};
use crate::engine::io::{Action, DiskDone, EngineConfig, Event, TorrentState};
use crate::engine::Outputs;
use crate::layout::Layout;
use crate::selection::{FilePriority, FileSpan, PieceWants};
use crate::wire::Message;

const PIECE: u32 = 16384;

/// Two files of 3 and 5 whole pieces.
fn wants(layout: &Layout, prios: [FilePriority; 2]) -> PieceWants {
    let p = u64::from(PIECE);
    let files = vec![
        FileSpan {
            start: 0,
            length: 3 * p,
            padding: false,
        },
        FileSpan {
            start: 3 * p,
            length: 5 * p,
            padding: false,
        },
    ];
    PieceWants::new(layout, files, prios.to_vec()).unwrap()
}

fn verified(t: &mut TorrentCore, piece: u32, now: Instant, out: &mut Outputs) {
    let done = DiskDone::Verified {
        torrent: 1,
        piece,
        ok: true,
        buffer: Vec::new(),
    };
    t.handle_disk(done, now, out);
}

fn completed(out: &Outputs) -> usize {
    let done = |a: &&Action| matches!(a, Action::Event(Event::Completed { .. }));
    out.actions.iter().filter(done).count()
}

#[test]
fn wanted_pieces_decide_interest_completion_and_a_later_change_downloads_again() {
    use FilePriority::{Normal, Skip};
    let now = Instant::now();
    let layout = Layout::new(PIECE, 8 * u64::from(PIECE)).unwrap();
    let mut t = test_core(1, layout, false, &EngineConfig::default(), now);
    let mut out = Outputs::default();
    t.set_wants(wants(&layout, [Normal, Skip]), now, &mut out);
    let seed = 1;
    t.add_peer(
        seed,
        "127.0.0.1:7001".parse().unwrap(),
        false,
        [9; 20],
        now,
        &mut out,
    );
    let mut bitfield = Vec::new();
    Message::Bitfield(&[0xff]).encode(&mut bitfield);
    t.handle_data(seed, &bitfield, now, &mut out);
    assert_eq!(t.peers[&seed].wanted, 3, "only the first file's pieces");
    assert!(t.peers[&seed].am_interested);
    for piece in 0..3 {
        verified(&mut t, piece, now, &mut out);
    }
    assert_eq!(t.state(), TorrentState::Seeding);
    assert_eq!(completed(&out), 1);
    assert!(
        t.peers.contains_key(&seed),
        "a seed stays while we lack pieces"
    );
    assert!(!t.peers[&seed].am_interested);
    let s = t.stats();
    assert_eq!(
        (s.bytes_wanted, s.bytes_wanted_done),
        (3 * 16384, 3 * 16384)
    );
    let done: Vec<u64> = s.files.iter().map(|f| f.done).collect();
    assert_eq!(done, [3 * 16384, 0]);

    // The second file wanted too: downloading again, interested in the seed's 5 pieces.
    t.set_wants(wants(&layout, [Normal, Normal]), now, &mut out);
    assert_eq!(t.state(), TorrentState::Downloading);
    assert_eq!(t.peers[&seed].wanted, 5);
    assert!(t.peers[&seed].am_interested);
    // And skipped again before any arrives: complete at once, a second Completed.
    t.set_wants(wants(&layout, [Normal, Skip]), now, &mut out);
    assert_eq!(t.state(), TorrentState::Seeding);
    assert_eq!(completed(&out), 2);
    // A mask of the wrong size changes nothing.
    let other = Layout::new(PIECE, 4 * u64::from(PIECE)).unwrap();
    let p = u64::from(PIECE);
    let wrong = PieceWants::new(
        &other,
        vec![FileSpan {
            start: 0,
            length: 4 * p,
            padding: false,
        }],
        vec![Normal],
    )
    .unwrap();
    t.set_wants(wrong, now, &mut out);
    assert_eq!(t.stats().files.len(), 2);
}
