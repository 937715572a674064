//! .torrent parser: never panics, and every accepted torrent meets the invariants that the
//! storage layer relies on (safe relative paths, contiguous files, piece count = hash count) and
//! that web seeds rely on (HTTP URLs only, every path percent-encoded, each piece planned as
//! ranges that cover it exactly).
#![no_main]
// A fuzz harness is a shell: `fuzz_target!` itself writes crash inputs to files.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::collections::HashSet;
use std::path::{Component, Path};

use coracle::internals::metainfo::path::MAX_COMPONENT_BYTES;
use coracle::internals::webseed::plan::{FileTable, Segment};
use coracle::Metainfo;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(m) = Metainfo::from_bytes(data) else {
        return;
    };
    check(&m);
    // The info dictionary alone (what a magnet fetch gets) must parse to the same torrent.
    let bare = Metainfo::from_info_bytes(m.info_bytes()).expect("own info bytes must parse");
    assert_eq!(bare.info_hash, m.info_hash);
    assert_eq!(bare.files, m.files);
    assert_eq!(bare.symlinks, m.symlinks);
    assert_eq!(bare.piece_hashes, m.piece_hashes);
});

/// A path that cannot leave the download folder: relative, plain names only, none too long.
fn assert_plain(p: &Path) {
    // Anything but Normal (RootDir, Prefix, ParentDir, CurDir) could escape the download dir.
    assert!(p.components().count() > 0, "empty path");
    for c in p.components() {
        let Component::Normal(name) = c else {
            panic!("unsafe {p:?}");
        };
        assert!(name.len() <= MAX_COMPONENT_BYTES, "long name in {p:?}");
    }
}

fn check(m: &Metainfo) {
    assert!(!m.files.is_empty());
    let mut offset = 0u64;
    let mut real = HashSet::new();
    for f in &m.files {
        assert_plain(&f.path);
        assert!(
            f.padding || real.insert(&f.path),
            "two files at {:?}",
            f.path
        );
        assert_eq!(f.offset, offset, "files not contiguous");
        offset = offset.checked_add(f.length).expect("lengths overflow");
    }
    for l in &m.symlinks {
        assert_plain(&l.path);
        assert_plain(&l.target);
        assert!(real.insert(&l.path), "symlink over a file at {:?}", l.path);
        assert_eq!(l.target.components().next(), l.path.components().next());
    }
    assert_eq!(offset, m.total_length);
    assert!(m.total_length > 0);
    let layout = m.layout();
    assert_eq!(layout.total_length(), m.total_length);
    assert_eq!(layout.piece_length(), m.piece_length);
    assert_eq!(layout.num_pieces() as usize, m.piece_hashes.len());
    check_web_seeds(m);
}

/// Web seeds: URLs, encoded paths and the ranges of each piece (the first and last few).
fn check_web_seeds(m: &Metainfo) {
    for url in &m.web_seeds {
        let lower = url.to_ascii_lowercase();
        assert!(
            lower.starts_with("http://") || lower.starts_with("https://"),
            "{url}"
        );
    }
    let table = FileTable::from_metainfo(m);
    for f in &table.files {
        let ok = |b: u8| b.is_ascii_alphanumeric() || b"-._~%/".contains(&b);
        assert!(f.encoded_path.bytes().all(ok), "{}", f.encoded_path);
    }
    let layout = m.layout();
    let n = layout.num_pieces();
    for piece in (0..n.min(4)).chain(n.saturating_sub(4)..n) {
        let len = u64::from(layout.piece_len(piece));
        let segments = table.segments(layout.piece_offset(piece), len);
        assert_eq!(segments.iter().map(Segment::len).sum::<u64>(), len);
        assert!(segments.iter().all(|s| !s.is_empty()));
    }
}
