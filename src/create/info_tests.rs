use super::*;
use crate::bencode;
use crate::metainfo::Metainfo;

fn entry(path: &[&str], length: u64) -> FileEntry {
    FileEntry {
        path: path.iter().map(|s| s.to_string()).collect(),
        length,
    }
}

#[test]
fn auto_piece_length_follows_libtorrents_table() {
    const KIB: u64 = 1024;
    let cases = [
        (1, 16 * KIB),
        (2_684_355, 16 * KIB),
        (2_684_356, 32 * KIB),
        (10_737_418, 32 * KIB),
        (10_737_419, 64 * KIB),
        (171_798_692, 128 * KIB),
        (171_798_693, 256 * KIB),
        (10 << 30, 1024 * KIB),
        (703_687_441_777, 8192 * KIB),
        (703_687_441_778, 16384 * KIB),
        (u64::MAX, 16384 * KIB),
    ];
    for (total, piece) in cases {
        assert_eq!(u64::from(auto_piece_length(total)), piece, "{total}");
    }
}

#[test]
fn files_sort_by_whole_path_bytes() {
    let mut files = vec![
        entry(&["b"], 1),
        entry(&["a", "z"], 1),
        entry(&["a.txt"], 1),
        entry(&["A"], 1),
        entry(&[".hidden"], 1),
        entry(&["a"], 1),
    ];
    sort_files(&mut files);
    let order: Vec<String> = files.iter().map(|f| f.path.join("/")).collect();
    // `.` (0x2e) sorts before `/` (0x2f), as with strcmp over the joined path.
    assert_eq!(order, [".hidden", "A", "a", "a.txt", "a/z", "b"]);
}

#[test]
fn multi_file_torrent_parses_back_with_every_option() {
    let files = [entry(&["a.bin"], 20_000), entry(&["d", "b.txt"], 5)];
    let hashes = [[1u8; 20], [2u8; 20]];
    let options = TorrentOptions {
        trackers: vec![
            vec!["http://127.0.0.1:1/a".into(), "http://127.0.0.1:2/a".into()],
            vec!["udp://127.0.0.1:3".into()],
        ],
        web_seeds: vec!["http://127.0.0.1:4/files/".into()],
        private: true,
        comment: Some("hello".into()),
        created_by: Some("coracle test".into()),
        creation_date: Some(1_700_000_000),
        source: Some("SRC".into()),
    };
    let bytes = encode("top", &files, 16384, &hashes, &options);
    let m = Metainfo::from_bytes(&bytes).unwrap();
    assert_eq!(m.name, "top");
    assert!(m.multi_file && m.private);
    assert_eq!(m.total_length, 20_005);
    assert_eq!(m.piece_hashes[..], hashes);
    assert_eq!(m.trackers, options.trackers);
    assert_eq!(m.comment.as_deref(), Some("hello"));
    assert_eq!(m.created_by.as_deref(), Some("coracle test"));
    assert_eq!(m.creation_date, Some(1_700_000_000));
    assert_eq!(m.files[1].path, std::path::Path::new("top/d/b.txt"));
    let root = bencode::decode(&bytes).unwrap();
    assert_eq!(
        root.get("announce").unwrap().as_str(),
        Some("http://127.0.0.1:1/a")
    );
    assert_eq!(root.get("url-list").unwrap().as_list().unwrap().len(), 1);
    let info = root.get("info").unwrap();
    assert_eq!(info.get("source").unwrap().as_str(), Some("SRC"));
    // Canonical: re-encoding the info dictionary gives the same bytes.
    assert_eq!(info.to_owned_value().encode(), info.raw);
}

#[test]
fn single_file_and_minimal_options() {
    let bytes = encode(
        "f.iso",
        &[entry(&[], 3)],
        16384,
        &[[9u8; 20]],
        &TorrentOptions::default(),
    );
    let expected = [
        &b"d4:infod6:lengthi3e4:name5:f.iso12:piece lengthi16384e6:pieces20:"[..],
        &[9u8; 20],
        b"ee",
    ]
    .concat();
    assert_eq!(bytes, expected);
    let m = Metainfo::from_bytes(&bytes).unwrap();
    assert!(!m.multi_file && !m.private);
    assert!(m.trackers.is_empty());
    // One tracker: `announce` only, as mktorrent writes it.
    let one = TorrentOptions {
        trackers: vec![vec!["http://127.0.0.1:1/a".into()]],
        ..TorrentOptions::default()
    };
    let bytes = encode("f.iso", &[entry(&[], 3)], 16384, &[[9u8; 20]], &one);
    let root = bencode::decode(&bytes).unwrap();
    assert!(root.get("announce-list").is_none());
    assert!(root.get("announce").is_some());
}
