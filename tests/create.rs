//! Torrent creation: the builder over real folders (order, symlinks, hidden files, errors,
//! every piece hash), the same info-hash as mktorrent, transmission-create and libtorrent for
//! the same input, and a created torrent that aria2c and libtorrent download from coracle.
//!
//! A missing tool skips its test with `skipped: …` on stderr, except under CI (`CI` set), where
//! it fails.
#![cfg(feature = "create")]
// Test code drives real files, threads, processes and sockets.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

#[allow(dead_code)]
#[path = "interop/harness.rs"]
mod harness;
#[path = "support/payload.rs"]
mod payload;
#[path = "create/seeding.rs"]
mod seeding;
#[path = "create/tools.rs"]
mod tools;

use std::fs;
use std::path::{Path, PathBuf};

use coracle::create::{CreateError, PieceSize, Progress, TorrentBuilder};
use coracle::Metainfo;
use sha1::{Digest, Sha1};

/// A fresh folder under Cargo's scratch space.
fn scratch(tag: &str) -> PathBuf {
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("create-{tag}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn put(root: &Path, rel: &str, data: &[u8]) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, data).unwrap();
}

/// SHA-1 of the raw `info` value, found by a plain scan of the top-level dictionary.
pub fn info_hash_of(torrent: &[u8]) -> String {
    let root = coracle::internals::bencode::decode_prefix(torrent)
        .unwrap()
        .0;
    let raw = root.get("info").expect("an info dictionary").raw;
    Sha1::digest(raw)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Checks every piece hash of `m` against the files under `dir` read in `m`'s order.
fn assert_pieces_match(m: &Metainfo, dir: &Path) {
    let mut stream = Vec::new();
    for f in &m.files {
        stream.extend(fs::read(dir.join(&f.path)).unwrap());
    }
    assert_eq!(stream.len() as u64, m.total_length);
    for (i, chunk) in stream.chunks(m.piece_length as usize).enumerate() {
        let h: [u8; 20] = Sha1::digest(chunk).into();
        assert_eq!(m.piece_hashes[i], h, "piece {i}");
    }
    assert_eq!(
        m.piece_hashes.len(),
        stream.len().div_ceil(m.piece_length as usize)
    );
}

/// The multi-file payload of the comparisons. `portable` leaves out what Transmission 3 treats
/// differently: an upper-case name (it sorts case-insensitively) and an empty file (it leaves
/// empty files out, where mktorrent, libtorrent and coracle list them).
fn tree(tag: &str, portable: bool) -> PathBuf {
    let dir = scratch(tag);
    let top = dir.join("multi");
    put(&top, "a.bin", &payload::bytes(1, 70_001));
    put(&top, "b.txt", &payload::bytes(2, 5));
    put(&top, "b/c.txt", &payload::bytes(3, 13));
    put(&top, "b/deep/d.bin", &payload::bytes(4, 2_900_000));
    put(&top, ".hidden/e", &payload::bytes(5, 77));
    if !portable {
        put(&top, "empty", b"");
        put(&top, "Z.bin", &payload::bytes(6, 40_000));
    }
    top
}

fn single(tag: &str) -> PathBuf {
    let dir = scratch(tag);
    let f = dir.join("single.bin");
    fs::write(&f, payload::bytes(7, 1_000_003)).unwrap();
    f
}

fn build(b: TorrentBuilder) -> Metainfo {
    b.creation_date(None).build().unwrap().metainfo
}

#[test]
fn builder_orders_files_by_path_bytes_and_hashes_every_piece() {
    let top = tree("order", false);
    let mut seen: Vec<Progress> = Vec::new();
    let made = TorrentBuilder::new(&top)
        .piece_size(PieceSize::Bytes(16384))
        .threads(3)
        .build_with_progress(&mut |p| seen.push(p))
        .unwrap();
    let m = &made.metainfo;
    let paths: Vec<&str> = m.files.iter().map(|f| f.path.to_str().unwrap()).collect();
    assert_eq!(
        paths,
        [
            "multi/.hidden/e",
            "multi/Z.bin",
            "multi/a.bin",
            "multi/b.txt",
            "multi/b/c.txt",
            "multi/b/deep/d.bin",
            "multi/empty"
        ]
    );
    assert_pieces_match(m, top.parent().unwrap());
    // Progress covers every piece once, ending at the total.
    assert_eq!(seen.len(), m.piece_hashes.len());
    let last = seen.last().unwrap();
    assert_eq!(last.bytes_done, m.total_length);
    assert_eq!(last.pieces_done, last.pieces_total);
    assert!(seen.windows(2).all(|w| w[0].bytes_done < w[1].bytes_done));
    assert_eq!(m.created_by.as_deref(), Some("coracle 0.1.0"));
    assert!(m.creation_date.is_some());
    assert_eq!(
        Metainfo::from_bytes(&made.bytes).unwrap().info_hash,
        m.info_hash
    );
}

#[test]
fn thread_count_does_not_change_the_torrent() {
    let top = tree("threads", true);
    let one = build(
        TorrentBuilder::new(&top)
            .threads(1)
            .piece_size(PieceSize::Bytes(32768)),
    );
    let many = build(
        TorrentBuilder::new(&top)
            .threads(7)
            .piece_size(PieceSize::Bytes(32768)),
    );
    assert_eq!(one.info_hash, many.info_hash);
    assert_eq!(one.info_bytes(), many.info_bytes());
}

#[test]
fn symlinks_are_followed_and_hidden_files_can_be_left_out() {
    use std::os::unix::fs::symlink;
    let dir = scratch("links");
    let top = dir.join("t");
    put(&top, "real/f.bin", &payload::bytes(8, 5000));
    put(&top, ".dot", b"hidden");
    put(&dir, "outside.bin", &payload::bytes(9, 3000));
    symlink("real", top.join("dirlink")).unwrap();
    symlink("../outside.bin", top.join("filelink")).unwrap();
    let status = std::process::Command::new("mkfifo")
        .arg(top.join("fifo"))
        .status();
    let m = build(TorrentBuilder::new(&top).skip_hidden(true));
    let paths: Vec<&str> = m.files.iter().map(|f| f.path.to_str().unwrap()).collect();
    // The fifo (when mkfifo ran) holds no file data and is left out, as mktorrent does.
    assert!(status.is_err() || status.unwrap().success());
    assert_eq!(paths, ["t/dirlink/f.bin", "t/filelink", "t/real/f.bin"]);
    assert_eq!(m.files[1].length, 3000);
    assert_pieces_match(&m, &dir);
    let with_hidden = build(TorrentBuilder::new(&top));
    assert_eq!(with_hidden.files[0].path, Path::new("t/.dot"));
}

#[test]
fn loops_broken_links_bad_sizes_and_empty_folders_are_clear_errors() {
    use std::os::unix::fs::symlink;
    let dir = scratch("errors");
    let looped = dir.join("looped");
    put(&looped, "sub/f", b"x");
    symlink("..", looped.join("sub/up")).unwrap();
    let err = TorrentBuilder::new(&looped).build().unwrap_err();
    assert!(matches!(err, CreateError::SymlinkLoop(_)), "{err}");
    assert!(err.to_string().contains("sub/up"), "{err}");

    let broken = dir.join("broken");
    put(&broken, "f", b"x");
    symlink("nowhere", broken.join("dangling")).unwrap();
    let err = TorrentBuilder::new(&broken).build().unwrap_err();
    assert!(matches!(err, CreateError::BrokenSymlink(_)), "{err}");

    let empty = dir.join("empty");
    put(&empty, "zero", b"");
    let err = TorrentBuilder::new(&empty).build().unwrap_err();
    assert!(err.to_string().contains("nothing to share"), "{err}");

    for bad in [1000, 8192, 256 << 20] {
        let err = TorrentBuilder::new(broken.join("f"))
            .piece_size(PieceSize::Bytes(bad))
            .build()
            .unwrap_err();
        assert!(matches!(err, CreateError::BadPieceSize(_)), "{err}");
    }
    let err = TorrentBuilder::new(dir.join("missing"))
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("missing"), "{err}");
}

#[test]
fn same_info_hash_as_mktorrent_multi_file() {
    if !tools::have("mktorrent", "mktorrent") {
        return;
    }
    let top = tree("mk-multi", false);
    let out = top.parent().unwrap().join("mk.torrent");
    let theirs = tools::mktorrent(&top, &out, 15, true, Some("SRC"));
    let ours = build(
        TorrentBuilder::new(&top)
            .piece_size(PieceSize::Bytes(32768))
            .private(true)
            .source("SRC"),
    );
    assert_eq!(ours.info_hash.to_hex(), theirs);
}

#[test]
fn same_info_hash_as_mktorrent_single_file() {
    if !tools::have("mktorrent", "mktorrent") {
        return;
    }
    let f = single("mk-single");
    let out = f.parent().unwrap().join("mk.torrent");
    let theirs = tools::mktorrent(&f, &out, 16, false, None);
    let ours = build(TorrentBuilder::new(&f).piece_size(PieceSize::Bytes(65536)));
    assert_eq!(ours.info_hash.to_hex(), theirs);
}

#[test]
fn same_info_hash_as_transmission_create_multi_file() {
    if !tools::have("transmission-create", "transmission-cli") {
        return;
    }
    let top = tree("tr-multi", true);
    let out = top.parent().unwrap().join("tr.torrent");
    let theirs = tools::transmission_create(&top, &out, 32);
    // Transmission 3 leaves out hidden files and always writes `private`.
    let ours = build(
        TorrentBuilder::new(&top)
            .piece_size(PieceSize::Bytes(32768))
            .private(true)
            .skip_hidden(true),
    );
    assert_eq!(ours.info_hash.to_hex(), theirs);
}

#[test]
fn same_info_hash_as_transmission_create_single_file() {
    if !tools::have("transmission-create", "transmission-cli") {
        return;
    }
    let f = single("tr-single");
    let out = f.parent().unwrap().join("tr.torrent");
    let theirs = tools::transmission_create(&f, &out, 16);
    let ours = build(
        TorrentBuilder::new(&f)
            .piece_size(PieceSize::Bytes(16384))
            .private(true),
    );
    assert_eq!(ours.info_hash.to_hex(), theirs);
}

#[test]
fn same_info_hash_as_libtorrent_multi_file_with_auto_piece_size() {
    if !tools::have("python3-libtorrent", "python3-libtorrent") {
        return;
    }
    let top = tree("lt-multi", false);
    let (theirs, piece) = tools::libtorrent(&top, 0, false);
    let ours = build(TorrentBuilder::new(&top).piece_size(PieceSize::Auto));
    // Over 2.56 MiB: libtorrent's table and ours both step up from 16 KiB.
    assert_eq!((ours.piece_length, piece), (32768, 32768));
    assert_eq!(ours.info_hash.to_hex(), theirs);
}

#[test]
fn same_info_hash_as_libtorrent_single_file() {
    if !tools::have("python3-libtorrent", "python3-libtorrent") {
        return;
    }
    let f = single("lt-single");
    let (theirs, _) = tools::libtorrent(&f, 65536, true);
    let ours = build(
        TorrentBuilder::new(&f)
            .piece_size(PieceSize::Bytes(65536))
            .private(true),
    );
    assert_eq!(ours.info_hash.to_hex(), theirs);
}

#[test]
fn aria2_downloads_a_created_torrent_from_coracle() {
    if !tools::have("aria2c", "aria2") {
        return;
    }
    seeding::client_downloads_from_coracle("aria2", |ctx, torrent, dir| {
        seeding::aria2(ctx, torrent, dir)
    });
}

#[test]
fn libtorrent_downloads_a_created_torrent_from_coracle() {
    if !tools::have("python3-libtorrent", "python3-libtorrent") {
        return;
    }
    seeding::client_downloads_from_coracle("libtorrent", |ctx, torrent, dir| {
        seeding::libtorrent(ctx, torrent, dir)
    });
}
