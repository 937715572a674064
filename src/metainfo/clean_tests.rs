//! Literal torrents for what mature clients accept: trailing bytes, cleaned paths, collisions,
//! long and non-UTF-8 names, BEP 47 symlinks and attributes, BitComet padding.

use super::path::MAX_COMPONENT_BYTES;
use super::*;

fn entry(len: i64, parts: &[&str], extra: Vec<(&'static str, Bencode)>) -> Bencode {
    let mut d = vec![("length", Bencode::Int(len)), ("path", path(parts))];
    d.extend(extra);
    Bencode::dict(d)
}

/// A multi-file info dictionary with real piece hashes of `data` (16 KiB pieces).
fn info_over(files: Vec<Bencode>, data: &[u8]) -> Vec<(&'static str, Bencode)> {
    let pieces: Vec<u8> = data
        .chunks(16384)
        .flat_map(|c| <[u8; 20]>::from(Sha1::digest(c)))
        .collect();
    vec![
        ("name", b("top")),
        ("piece length", Bencode::Int(16384)),
        ("pieces", Bencode::Bytes(pieces)),
        ("files", Bencode::List(files)),
    ]
}

#[test]
fn bytes_after_the_top_level_dictionary_are_ignored() {
    let data = torrent(single_info(20000));
    let plain = Metainfo::from_bytes(&data).unwrap();
    for tail in [&b"\n"[..], b"\r\n", b"garbage", b"d4:infoi1ee", &[0u8; 100]] {
        let mut padded = data.clone();
        padded.extend_from_slice(tail);
        let m = Metainfo::from_bytes(&padded).unwrap();
        assert_eq!(m.info_hash, plain.info_hash);
        assert_eq!(m.info_bytes(), plain.info_bytes());
    }
    // The hash is over the exact info bytes, as before.
    let root = bencode::decode(&data).unwrap();
    let raw: [u8; 20] = Sha1::digest(root.get("info").unwrap().raw).into();
    assert_eq!(plain.info_hash, InfoHash(raw));
    // A bare info dictionary from peers (BEP 9) must still be exactly one value: its hash is
    // checked over all the bytes received.
    let mut info = plain.info_bytes().to_vec();
    info.push(b'\n');
    assert!(matches!(
        Metainfo::from_info_bytes(&info),
        Err(MetainfoError::Bencode(BencodeError::TrailingData { .. }))
    ));
}

#[test]
fn a_300_byte_name_is_shortened_keeping_its_extension() {
    let long = format!("{}.flac", "n".repeat(295));
    let m = parse(multi_info(vec![file(1, &["album", &long])], 1)).unwrap();
    let name = m.files[0].path.file_name().unwrap().to_str().unwrap();
    assert_eq!(name.len(), MAX_COMPONENT_BYTES);
    assert!(name.ends_with("nnn.flac"));
    assert_eq!(m.path_changes[0].issues, [PathIssue::TooLong]);
    assert_eq!(m.path_changes[0].original, format!("top/album/{long}"));
    // Two long names that shorten to the same one are then told apart.
    let other = format!("{}x.flac", "n".repeat(295));
    let m = parse(multi_info(vec![file(1, &[&long]), file(1, &[&other])], 2)).unwrap();
    let second = m.files[1].path.file_name().unwrap().to_str().unwrap();
    assert!(second.ends_with("nnn.1.flac"), "{second}");
    assert!(second.len() <= MAX_COMPONENT_BYTES);
    assert_eq!(
        m.path_changes[1].issues,
        [PathIssue::TooLong, PathIssue::Duplicate]
    );
}

#[test]
fn names_made_equal_by_the_clean_up_are_renamed() {
    let latin1 = |b: u8| {
        Bencode::dict([
            ("length", Bencode::Int(1)),
            ("path", Bencode::List(vec![Bencode::bytes([b'f', b])])),
        ])
    };
    let files = vec![
        file(1, &["a/b"]),
        file(1, &["a_b"]),
        latin1(0xe9),
        latin1(0xe8),
        file(1, &["..", "x"]),
        file(1, &["x"]),
    ];
    let m = parse(multi_info(files, 6)).unwrap();
    let paths: Vec<&str> = m.files.iter().map(|f| f.path.to_str().unwrap()).collect();
    assert_eq!(
        paths,
        [
            "top/a_b",
            "top/a_b.1",
            "top/f\u{fffd}",
            "top/f\u{fffd}.1",
            "top/x",
            "top/x.1"
        ]
    );
    assert_eq!(m.path_changes.len(), 6);
    assert_eq!(m.path_changes[1].original, "top/a_b");
    assert_eq!(m.path_changes[1].issues, [PathIssue::Duplicate]);
    assert_eq!(
        m.path_changes[3].issues,
        [PathIssue::NotUtf8, PathIssue::Duplicate]
    );
    assert_paths_normal(&m);
}

#[test]
fn symlinks_take_no_bytes_and_point_inside() {
    let data: Vec<u8> = (0..40_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let link = |parts: &[&str], target: &[&str]| {
        // A non-zero `length`, as some creators write: BEP 47 symlinks still take no bytes.
        entry(
            999,
            parts,
            vec![("attr", b("l")), ("symlink path", path(target))],
        )
    };
    let files = vec![
        file(30_000, &["a.bin"]),
        link(&["links", "to-a"], &["a.bin"]),
        link(&["escape"], &["..", "..", "etc", "passwd"]),
        file(10_000, &["b", "c.bin"]),
    ];
    let m = parse(info_over(files, &data)).unwrap();
    assert_eq!(m.total_length, 40_000);
    assert_eq!(m.piece_hashes.len(), 3);
    let table: Vec<(&str, u64, u64)> = m
        .files
        .iter()
        .map(|f| (f.path.to_str().unwrap(), f.length, f.offset))
        .collect();
    assert_eq!(
        table,
        [("top/a.bin", 30_000, 0), ("top/b/c.bin", 10_000, 30_000)]
    );
    // The last piece verifies against the data: the links added nothing to the stream.
    let last = m.layout().piece_offset(2) as usize;
    let digest: [u8; 20] = Sha1::digest(&data[last..]).into();
    assert_eq!(m.piece_hash(2), Some(&digest));
    assert_eq!(
        m.symlinks,
        [
            Symlink {
                path: "top/links/to-a".into(),
                target: "top/a.bin".into()
            },
            Symlink {
                path: "top/escape".into(),
                target: "top/etc/passwd".into()
            },
        ]
    );
    assert_eq!(m.symlinks[0].link_text(), Path::new("../a.bin"));
    assert_eq!(m.symlinks[1].link_text(), Path::new("etc/passwd"));
    // A symlink without `symlink path` is an ordinary file, as libtorrent reads it.
    let files = vec![entry(40_000, &["plain"], vec![("attr", b("l"))])];
    let m = parse(info_over(files, &data)).unwrap();
    assert!(m.symlinks.is_empty());
    assert_eq!(m.files[0].length, 40_000);
}

#[test]
fn a_symlink_takes_its_path_in_collisions() {
    let files = vec![
        entry(
            0,
            &["l"],
            vec![("attr", b("l")), ("symlink path", path(&["f"]))],
        ),
        file(1, &["l"]),
        file(1, &["f"]),
    ];
    let m = parse(multi_info(files, 2)).unwrap();
    assert_eq!(m.symlinks[0].path, Path::new("top/l"));
    assert_eq!(m.files[0].path, Path::new("top/l.1"));
    assert_eq!(m.symlinks[0].link_text(), Path::new("f"));
}

#[test]
fn executable_and_hidden_attributes_are_kept() {
    let files = vec![
        entry(1, &["run.sh"], vec![("attr", b("x"))]),
        entry(1, &[".secret"], vec![("attr", b("hx"))]),
        file(1, &["plain"]),
    ];
    let m = parse(multi_info(files, 3)).unwrap();
    let flags: Vec<(bool, bool)> = m.files.iter().map(|f| (f.executable, f.hidden)).collect();
    assert_eq!(flags, [(true, false), (true, true), (false, false)]);
    let single = with(single_info(1), "attr", Some(b("x")));
    assert!(parse(single).unwrap().files[0].executable);
}

#[test]
fn bitcomet_padding_files_are_padding() {
    let name = "_____padding_file_0_如果您看到此文件，请升级到BitComet(比特彗星)0.85或以上版本____";
    let files = vec![file(5, &["a"]), file(16379, &[name]), file(5, &["b"])];
    let m = parse(multi_info(files, 16389)).unwrap();
    let padding: Vec<bool> = m.files.iter().map(|f| f.padding).collect();
    assert_eq!(padding, [false, true, false]);
    assert_eq!(m.files[2].offset, 16384);
}

#[test]
fn v2_only_is_refused_with_a_clear_message_but_hybrids_read_as_v1() {
    let v2 = vec![
        ("name", b("v2")),
        ("piece length", Bencode::Int(16384)),
        ("meta version", Bencode::Int(2)),
        (
            "file tree",
            Bencode::dict([("a", Bencode::dict([("", Bencode::Int(0))]))]),
        ),
    ];
    let err = parse(v2).unwrap_err();
    assert_eq!(err, MetainfoError::V2Only);
    assert!(err
        .to_string()
        .starts_with("v2-only torrents are not supported yet"));
    let hybrid = with(single_info(1), "meta version", Some(Bencode::Int(2)));
    assert_eq!(parse(hybrid).unwrap().total_length, 1);
}
