use super::*;
use crate::bencode::Bencode;
use std::path::{Component, Path};

const A1: &str = "http://127.0.0.1:6969/announce";
const A2: &str = "http://127.0.0.1:6970/announce";
const A3: &str = "udp://127.0.0.1:6971/announce";

macro_rules! fixture {
    ($name:literal) => {
        include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/", $name)).as_slice()
    };
}

const FIXTURES: [(&str, &[u8]); 7] = [
    (
        "mktorrent_single.torrent",
        fixture!("mktorrent_single.torrent"),
    ),
    (
        "mktorrent_multi.torrent",
        fixture!("mktorrent_multi.torrent"),
    ),
    (
        "transmission_single.torrent",
        fixture!("transmission_single.torrent"),
    ),
    (
        "transmission_multi.torrent",
        fixture!("transmission_multi.torrent"),
    ),
    (
        "libtorrent_single.torrent",
        fixture!("libtorrent_single.torrent"),
    ),
    (
        "libtorrent_multi.torrent",
        fixture!("libtorrent_multi.torrent"),
    ),
    (
        "libtorrent_hybrid_padded.torrent",
        fixture!("libtorrent_hybrid_padded.torrent"),
    ),
];

fn load(name: &str) -> Metainfo {
    let (_, data) = FIXTURES.iter().find(|(n, _)| *n == name).unwrap();
    Metainfo::from_bytes(data).unwrap()
}

/// `(path, length, offset, padding)` of every file.
fn file_table(m: &Metainfo) -> Vec<(String, u64, u64, bool)> {
    m.files
        .iter()
        .map(|f| {
            (
                f.path.to_str().unwrap().to_owned(),
                f.length,
                f.offset,
                f.padding,
            )
        })
        .collect()
}

fn tiers(t: &[&[&str]]) -> Vec<Vec<String>> {
    t.iter()
        .map(|tier| tier.iter().map(|s| s.to_string()).collect())
        .collect()
}

fn assert_paths_normal(m: &Metainfo) {
    for f in &m.files {
        assert!(f.path.is_relative(), "{:?}", f.path);
        assert!(
            f.path
                .components()
                .all(|c| matches!(c, Component::Normal(_))),
            "{:?}",
            f.path
        );
        assert_eq!(
            f.path.components().next(),
            Some(Component::Normal(m.name.as_ref()))
        );
    }
}

#[test]
fn every_fixture_has_the_tools_info_hash() {
    let recorded = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/info-hashes.txt"
    ));
    let mut checked = 0;
    for line in recorded.lines() {
        let mut parts = line.split_whitespace();
        let (file, hex) = (parts.next().unwrap(), parts.next().unwrap());
        let m = load(file);
        assert_eq!(m.info_hash.to_hex(), hex, "{file}");
        assert_eq!(m.info_hash, InfoHash::from_hex(hex).unwrap());
        assert_paths_normal(&m);
        checked += 1;
    }
    assert_eq!(checked, FIXTURES.len());
    assert_eq!(
        load("mktorrent_multi.torrent").info_hash.to_hex(),
        "108530383cdb138f41037e043ebffddeca9d39ae"
    );
}

/// Rebuilds each torrent's byte stream from `fixtures/payload` (zeros for padding files) and
/// checks every piece hash, so names, lengths, offsets and order all agree with the real files.
#[test]
fn fixtures_match_the_payload_piece_by_piece() {
    let payload = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/payload");
    for (name, _) in FIXTURES {
        let m = load(name);
        let mut stream = Vec::new();
        for f in &m.files {
            assert_eq!(f.offset, stream.len() as u64, "{name}");
            if f.padding {
                stream.resize(stream.len() + f.length as usize, 0);
            } else {
                let data = std::fs::read(payload.join(&f.path)).unwrap();
                assert_eq!(data.len() as u64, f.length, "{name} {:?}", f.path);
                stream.extend_from_slice(&data);
            }
        }
        assert_eq!(stream.len() as u64, m.total_length, "{name}");
        let layout = m.layout();
        assert_eq!(layout.num_pieces() as usize, m.piece_hashes.len());
        for piece in 0..layout.num_pieces() {
            let start = layout.piece_offset(piece) as usize;
            let end = start + layout.piece_len(piece) as usize;
            let digest: [u8; 20] = Sha1::digest(&stream[start..end]).into();
            assert_eq!(m.piece_hash(piece), Some(&digest), "{name} piece {piece}");
        }
        assert_eq!(m.piece_hash(layout.num_pieces()), None);
    }
}

#[test]
fn single_file_fixtures() {
    for name in [
        "mktorrent_single.torrent",
        "transmission_single.torrent",
        "libtorrent_single.torrent",
    ] {
        let m = load(name);
        assert_eq!(m.name, "single.bin");
        assert!(!m.multi_file);
        assert_eq!(m.piece_length, 32768);
        assert_eq!(m.total_length, 70000);
        assert_eq!(m.piece_hashes.len(), 3);
        assert_eq!(file_table(&m), [("single.bin".to_owned(), 70000, 0, false)]);
        assert_eq!(m.layout().piece_len(2), 70000 - 65536);
    }
}

#[test]
fn mktorrent_multi_file_list_tiers_and_text() {
    let m = load("mktorrent_multi.torrent");
    assert!(m.multi_file);
    assert_eq!(m.name, "multi");
    assert_eq!(
        file_table(&m),
        [
            ("multi/a.txt".to_owned(), 1235, 0, false),
            ("multi/empty.dat".to_owned(), 0, 1235, false),
            ("multi/sub/b.bin".to_owned(), 40000, 1235, false),
            ("multi/sub/deeper/c.bin".to_owned(), 20000, 41235, false),
            ("multi/z.txt".to_owned(), 11, 61235, false),
        ]
    );
    assert_eq!(m.total_length, 61246);
    assert_eq!(m.trackers, tiers(&[&[A1, A2], &[A3]]));
    assert!(!m.private);
    assert_eq!(m.comment.as_deref(), Some("mktorrent fixture"));
    assert_eq!(m.created_by.as_deref(), Some("mktorrent 1.1"));
    assert_eq!(m.creation_date, None);
}

#[test]
fn transmission_fixtures_private_flag_and_tiers() {
    let multi = load("transmission_multi.torrent");
    assert!(multi.private);
    assert_eq!(multi.trackers, tiers(&[&[A1], &[A2]]));
    assert_eq!(multi.comment.as_deref(), Some("transmission fixture"));
    assert!(multi
        .created_by
        .as_deref()
        .unwrap()
        .starts_with("Transmission/"));
    assert!(multi.creation_date.is_some());
    // transmission-create leaves out empty files.
    assert_eq!(multi.files.len(), 4);
    let single = load("transmission_single.torrent");
    assert!(!single.private);
    assert_eq!(single.trackers, tiers(&[&[A1]]));
}

#[test]
fn libtorrent_keeps_torrent_order_and_no_trackers() {
    let m = load("libtorrent_multi.torrent");
    assert_eq!(
        file_table(&m),
        [
            ("multi/z.txt".to_owned(), 11, 0, false),
            ("multi/sub/b.bin".to_owned(), 40000, 11, false),
            ("multi/a.txt".to_owned(), 1235, 40011, false),
            ("multi/empty.dat".to_owned(), 0, 41246, false),
            ("multi/sub/deeper/c.bin".to_owned(), 20000, 41246, false),
        ]
    );
    assert_eq!(m.trackers, tiers(&[&[A1], &[A3]]));
    let single = load("libtorrent_single.torrent");
    assert!(single.trackers.is_empty());
    assert_eq!(single.created_by.as_deref(), Some("libtorrent fixture"));
}

#[test]
fn hybrid_torrent_padding_files() {
    let m = load("libtorrent_hybrid_padded.torrent");
    assert_eq!(
        file_table(&m),
        [
            ("multi/a.txt".to_owned(), 1235, 0, false),
            ("multi/.pad/31533".to_owned(), 31533, 1235, true),
            ("multi/empty.dat".to_owned(), 0, 32768, false),
            ("multi/sub/b.bin".to_owned(), 40000, 32768, false),
            ("multi/.pad/25536".to_owned(), 25536, 72768, true),
            ("multi/sub/deeper/c.bin".to_owned(), 20000, 98304, false),
            ("multi/.pad/12768".to_owned(), 12768, 118304, true),
            ("multi/z.txt".to_owned(), 11, 131072, false),
            ("multi/.pad/32757".to_owned(), 32757, 131083, true),
        ]
    );
    assert_eq!(m.total_length, 5 * 32768);
    assert_eq!(m.piece_hashes.len(), 5);
    assert_eq!(m.trackers, tiers(&[&[A1]]));
}

#[test]
fn info_bytes_round_trip_through_from_info_bytes() {
    for (name, data) in FIXTURES {
        let m = Metainfo::from_bytes(data).unwrap();
        let again = Metainfo::from_info_bytes(m.info_bytes()).unwrap();
        assert_eq!(again.info_hash, m.info_hash, "{name}");
        assert_eq!(again.files, m.files);
        assert!(again.trackers.is_empty() && again.comment.is_none());
    }
}

#[test]
fn info_hash_hex() {
    let h = InfoHash([0xab; 20]);
    assert_eq!(h.to_hex(), "ab".repeat(20));
    assert_eq!(format!("{h}"), "ab".repeat(20));
    assert_eq!(format!("{h:?}"), "ab".repeat(20));
    assert_eq!(InfoHash::from_hex(&"AB".repeat(20)), Some(h));
    let mut bytes = [0u8; 20];
    bytes[0] = 0x01;
    bytes[19] = 0xf0;
    let s = "01000000000000000000000000000000000000f0";
    assert_eq!(InfoHash::from_hex(s), Some(InfoHash(bytes)));
    assert_eq!(
        InfoHash(bytes).short_hex(),
        "01000000",
        "how logs name a torrent"
    );
    assert_eq!(InfoHash::from_hex(&s[..39]), None);
    assert_eq!(InfoHash::from_hex(&format!("{s}0")), None);
    assert_eq!(InfoHash::from_hex(&format!("g{}", &s[1..])), None);
    assert_eq!(InfoHash::from_hex(&format!("é{}", &s[2..])), None);
    assert_eq!(InfoHash::from_hex(&format!("+1{}", &s[2..])), None);
}

// ---- hand-built torrents ----

fn b(s: &str) -> Bencode {
    Bencode::bytes(s)
}

fn path(parts: &[&str]) -> Bencode {
    Bencode::List(parts.iter().map(|p| b(p)).collect())
}

fn file(len: i64, parts: &[&str]) -> Bencode {
    Bencode::dict([("length", Bencode::Int(len)), ("path", path(parts))])
}

/// A valid multi-file info dictionary with 16 KiB pieces; `files` as given.
fn multi_info(files: Vec<Bencode>, total: u64) -> Vec<(&'static str, Bencode)> {
    let pieces = total.div_ceil(16384) as usize;
    vec![
        ("name", b("top")),
        ("piece length", Bencode::Int(16384)),
        ("pieces", Bencode::bytes(vec![7u8; 20 * pieces])),
        ("files", Bencode::List(files)),
    ]
}

/// A valid single-file info dictionary of `len` bytes in 16 KiB pieces.
fn single_info(len: i64) -> Vec<(&'static str, Bencode)> {
    let pieces = (len.max(0) as u64).div_ceil(16384) as usize;
    vec![
        ("name", b("file.bin")),
        ("piece length", Bencode::Int(16384)),
        ("pieces", Bencode::bytes(vec![7u8; 20 * pieces])),
        ("length", Bencode::Int(len)),
    ]
}

fn with(
    mut info: Vec<(&'static str, Bencode)>,
    key: &'static str,
    v: Option<Bencode>,
) -> Vec<(&'static str, Bencode)> {
    info.retain(|(k, _)| *k != key);
    if let Some(v) = v {
        info.push((key, v));
    }
    info
}

fn torrent(info: Vec<(&'static str, Bencode)>) -> Vec<u8> {
    Bencode::dict([("announce", b(A1)), ("info", Bencode::dict(info))]).encode()
}

fn parse(info: Vec<(&'static str, Bencode)>) -> Result<Metainfo> {
    Metainfo::from_bytes(&torrent(info))
}

#[test]
fn hand_built_single_and_multi_parse() {
    let m = parse(single_info(20000)).unwrap();
    assert_eq!(file_table(&m), [("file.bin".to_owned(), 20000, 0, false)]);
    assert_eq!(m.trackers, tiers(&[&[A1]]));
    assert_eq!(m.layout().num_pieces(), 2);
    let files = vec![
        file(10, &["a", "b"]),
        file(0, &["c"]),
        file(5, &["a", "bb"]),
    ];
    let m = parse(multi_info(files, 15)).unwrap();
    assert_eq!(
        file_table(&m),
        [
            ("top/a/b".to_owned(), 10, 0, false),
            ("top/c".to_owned(), 0, 10, false),
            ("top/a/bb".to_owned(), 5, 10, false),
        ]
    );
    assert_paths_normal(&m);
}

#[test]
fn info_hash_is_over_the_raw_unsorted_bytes() {
    let mut data = b"d8:announce30:http://127.0.0.1:6969/announce4:infod".to_vec();
    data.extend_from_slice(b"4:name1:x6:lengthi5e6:pieces20:");
    data.extend_from_slice(&[9u8; 20]);
    data.extend_from_slice(b"12:piece lengthi16384eee");
    let m = Metainfo::from_bytes(&data).unwrap();
    let root = bencode::decode(&data).unwrap();
    let raw = root.get("info").unwrap().raw;
    let canonical = root.get("info").unwrap().to_owned_value().encode();
    assert_ne!(raw, canonical.as_slice());
    let raw_hash: [u8; 20] = Sha1::digest(raw).into();
    let canonical_hash: [u8; 20] = Sha1::digest(&canonical).into();
    assert_eq!(m.info_hash, InfoHash(raw_hash));
    assert_ne!(m.info_hash, InfoHash(canonical_hash));
    assert_eq!(m.info_bytes(), raw);
    assert_eq!(m.name, "x");
}

#[test]
fn utf8_variants_are_preferred() {
    let info = with(single_info(1), "name.utf-8", Some(b("naïve.bin")));
    assert_eq!(parse(info).unwrap().name, "naïve.bin");
    let bad = with(single_info(1), "name", Some(Bencode::bytes([0xff, 0xfe])));
    // Without a valid `name.utf-8`, a non-UTF-8 name is decoded lossily (was: refused).
    let m = parse(bad.clone()).unwrap();
    assert_eq!(m.name, "\u{fffd}\u{fffd}");
    assert_eq!(m.path_changes[0].issues, [PathIssue::NotUtf8]);
    let rescued = with(bad, "name.utf-8", Some(b("ok")));
    assert_eq!(parse(rescued).unwrap().name, "ok");
    let entry = Bencode::dict([
        ("length", Bencode::Int(1)),
        ("path", Bencode::List(vec![Bencode::bytes([0xff])])),
        ("path.utf-8", path(&["ü"])),
    ]);
    let m = parse(multi_info(vec![entry], 1)).unwrap();
    assert_eq!(m.files[0].path, Path::new("top/ü"));
    let entry = Bencode::dict([
        ("length", Bencode::Int(1)),
        ("path", Bencode::List(vec![Bencode::bytes([0xff])])),
    ]);
    let m = parse(multi_info(vec![entry], 1)).unwrap();
    assert_eq!(m.files[0].path, Path::new("top/\u{fffd}"));
    assert_eq!(m.path_changes[0].issues, [PathIssue::NotUtf8]);
    // A `path.utf-8` that is not all UTF-8 strings is ignored in favour of `path`.
    let entry = Bencode::dict([
        ("length", Bencode::Int(1)),
        ("path", path(&["plain"])),
        ("path.utf-8", Bencode::List(vec![Bencode::bytes([0xff])])),
    ]);
    let m = parse(multi_info(vec![entry], 1)).unwrap();
    assert_eq!(m.files[0].path, Path::new("top/plain"));
    assert!(m.path_changes.is_empty());
}

#[test]
fn tracker_tiers_are_cleaned() {
    let list = Bencode::List(vec![
        Bencode::List(vec![b(A1), b(""), b(A1), b(" ")]),
        Bencode::List(vec![]),
        Bencode::List(vec![b(A1), Bencode::Int(3), b(A2)]),
        b(A3),
    ]);
    let data = Bencode::dict([
        ("announce", b("http://127.0.0.1:1/ignored")),
        ("announce-list", list),
        ("info", Bencode::dict(single_info(1))),
    ])
    .encode();
    let m = Metainfo::from_bytes(&data).unwrap();
    assert_eq!(m.trackers, tiers(&[&[A1], &[A2], &[A3]]));
    // An announce-list with no usable URL falls back to announce.
    let data = Bencode::dict([
        ("announce", b(A2)),
        (
            "announce-list",
            Bencode::List(vec![Bencode::List(vec![b("")])]),
        ),
        ("info", Bencode::dict(single_info(1))),
    ])
    .encode();
    assert_eq!(
        Metainfo::from_bytes(&data).unwrap().trackers,
        tiers(&[&[A2]])
    );
    let data =
        Bencode::dict([("announce", b("")), ("info", Bencode::dict(single_info(1)))]).encode();
    assert!(Metainfo::from_bytes(&data).unwrap().trackers.is_empty());
}

#[test]
fn private_flag_needs_exactly_one() {
    let private = |v: Bencode| {
        parse(with(single_info(1), "private", Some(v)))
            .unwrap()
            .private
    };
    assert!(private(Bencode::Int(1)));
    assert!(!private(Bencode::Int(0)));
    assert!(!private(b("1")));
}

fn assert_errors(cases: Vec<(Vec<u8>, MetainfoError)>) {
    for (i, (data, expected)) in cases.into_iter().enumerate() {
        assert_eq!(
            Metainfo::from_bytes(&data).unwrap_err(),
            expected,
            "case {i}"
        );
    }
}

#[test]
fn malformed_structure() {
    use MetainfoError as E;
    let cases: Vec<(Vec<u8>, E)> = vec![
        (b"d4:info".to_vec(), E::Bencode(BencodeError::UnexpectedEof)),
        (b"le".to_vec(), E::WrongType("torrent")),
        (
            Bencode::dict([("announce", b(A1))]).encode(),
            E::MissingField("info"),
        ),
        (
            Bencode::dict([("info", Bencode::List(vec![]))]).encode(),
            E::WrongType("info"),
        ),
        (
            torrent(with(single_info(1), "name", None)),
            E::MissingField("name"),
        ),
        (
            torrent(with(single_info(1), "name", Some(Bencode::Int(1)))),
            E::WrongType("name"),
        ),
        (
            torrent(with(single_info(1), "piece length", None)),
            E::MissingField("piece length"),
        ),
        (
            torrent(with(single_info(1), "piece length", Some(b("x")))),
            E::WrongType("piece length"),
        ),
        (
            torrent(with(single_info(1), "pieces", None)),
            E::MissingField("pieces"),
        ),
        (
            torrent(with(single_info(1), "pieces", Some(Bencode::Int(0)))),
            E::WrongType("pieces"),
        ),
        (
            torrent(with(single_info(1), "length", Some(b("1")))),
            E::WrongType("length"),
        ),
        (
            torrent(with(single_info(1), "length", None)),
            E::MissingField("length or files"),
        ),
        (
            torrent(with(
                single_info(1),
                "files",
                Some(Bencode::List(vec![file(1, &["a"])])),
            )),
            E::BothLengthAndFiles,
        ),
    ];
    assert_errors(cases);
}

#[test]
fn malformed_file_lists() {
    use MetainfoError as E;
    let cases: Vec<(Vec<u8>, E)> = vec![
        (torrent(multi_info(vec![], 1)), E::EmptyFileList),
        (
            torrent(with(multi_info(vec![], 1), "files", Some(b("x")))),
            E::WrongType("files"),
        ),
        (
            torrent(multi_info(vec![Bencode::Int(1)], 1)),
            E::WrongType("files"),
        ),
        (
            torrent(multi_info(vec![Bencode::dict([("path", path(&["a"]))])], 1)),
            E::MissingField("length"),
        ),
        (
            torrent(multi_info(
                vec![Bencode::dict([("length", Bencode::Int(1))])],
                1,
            )),
            E::MissingField("path"),
        ),
        (
            torrent(multi_info(
                vec![Bencode::dict([
                    ("length", Bencode::Int(1)),
                    ("path", b("a")),
                ])],
                1,
            )),
            E::WrongType("path"),
        ),
        (
            torrent(multi_info(
                vec![Bencode::dict([
                    ("length", Bencode::Int(1)),
                    ("path", Bencode::List(vec![Bencode::Int(1)])),
                ])],
                1,
            )),
            E::WrongType("path"),
        ),
    ];
    assert_errors(cases);
}

#[test]
fn malformed_pieces_and_lengths() {
    use MetainfoError as E;
    let cases: Vec<(Vec<u8>, E)> = vec![
        (
            torrent(with(
                single_info(1),
                "pieces",
                Some(Bencode::bytes([0u8; 21])),
            )),
            E::PiecesNotMultipleOf20 { len: 21 },
        ),
        (
            torrent(with(
                single_info(16385),
                "pieces",
                Some(Bencode::bytes([0u8; 20])),
            )),
            E::PieceCountMismatch {
                expected: 2,
                got: 1,
            },
        ),
        (
            torrent(with(
                single_info(1),
                "pieces",
                Some(Bencode::bytes([0u8; 40])),
            )),
            E::PieceCountMismatch {
                expected: 1,
                got: 2,
            },
        ),
        (
            torrent(with(single_info(1), "piece length", Some(Bencode::Int(0)))),
            E::BadPieceLength(0),
        ),
        (
            torrent(with(
                single_info(1),
                "piece length",
                Some(Bencode::Int(-16384)),
            )),
            E::BadPieceLength(-16384),
        ),
        (
            torrent(with(
                single_info(1),
                "piece length",
                Some(Bencode::Int(i64::from(MAX_PIECE_LENGTH) + 1)),
            )),
            E::BadPieceLength(134_217_729),
        ),
        (
            torrent(with(
                single_info(1),
                "piece length",
                Some(Bencode::Int(1 << 32)),
            )),
            E::BadPieceLength(1 << 32),
        ),
    ];
    assert_errors(cases);
}

#[test]
fn malformed_paths_and_versions() {
    use MetainfoError as E;
    let cases: Vec<(Vec<u8>, E)> = vec![
        (
            torrent(single_info(-5)),
            E::NegativeLength {
                file: 0,
                length: -5,
            },
        ),
        (
            torrent(multi_info(vec![file(1, &["a"]), file(-1, &["b"])], 1)),
            E::NegativeLength {
                file: 1,
                length: -1,
            },
        ),
        (
            torrent(multi_info(
                vec![
                    file(i64::MAX, &["a"]),
                    file(i64::MAX, &["b"]),
                    file(2, &["c"]),
                ],
                1,
            )),
            E::LengthOverflow,
        ),
        (
            torrent(with(single_info(0), "pieces", Some(b("")))),
            E::NoData,
        ),
        (
            torrent(multi_info(vec![file(0, &["a"]), file(0, &["b"])], 0)),
            E::NoData,
        ),
        (
            torrent(vec![
                ("name", b("v2")),
                ("piece length", Bencode::Int(16384)),
                ("meta version", Bencode::Int(2)),
                (
                    "file tree",
                    Bencode::dict([(
                        "a",
                        Bencode::dict([("", Bencode::dict([("length", Bencode::Int(1))]))]),
                    )]),
                ),
            ]),
            E::V2Only,
        ),
    ];
    assert_errors(cases);
}

#[test]
fn oversized_input_is_refused_before_decoding() {
    let mut data = vec![b'x'; MAX_TORRENT_FILE + 1];
    assert_eq!(
        Metainfo::from_bytes(&data).unwrap_err(),
        MetainfoError::TooLarge
    );
    assert_eq!(
        Metainfo::from_info_bytes(&data).unwrap_err(),
        MetainfoError::TooLarge
    );
    data.truncate(MAX_TORRENT_FILE);
    assert_eq!(
        Metainfo::from_bytes(&data).unwrap_err(),
        MetainfoError::Bencode(BencodeError::InvalidByte { pos: 0 })
    );
}

#[test]
fn padding_files_may_share_a_path_but_real_files_are_renamed() {
    let pad = |len: i64| {
        Bencode::dict([
            ("attr", b("p")),
            ("length", Bencode::Int(len)),
            ("path", path(&[".pad", "7"])),
        ])
    };
    let files = vec![
        file(1, &["a"]),
        pad(7),
        file(8, &["b"]),
        pad(7),
        file(1, &[".pad", "7"]),
    ];
    let m = parse(multi_info(files, 24)).unwrap();
    let padding: Vec<bool> = m.files.iter().map(|f| f.padding).collect();
    assert_eq!(padding, [false, true, false, true, false]);
    assert_eq!(m.files[3].offset, 16);
    assert!(m.path_changes.is_empty());
    // `attr` letters other than `p` do not make a padding file.
    let x = Bencode::dict([
        ("attr", b("x")),
        ("length", Bencode::Int(1)),
        ("path", path(&["a"])),
    ]);
    assert!(!parse(multi_info(vec![x], 1)).unwrap().files[0].padding);
    // Two real files with one path: the later one is renamed libtorrent's way (was: refused).
    let m = parse(multi_info(
        vec![file(1, &["a", "b"]), file(1, &["c"]), file(1, &["a", "b"])],
        3,
    ))
    .unwrap();
    assert_eq!(m.files[2].path, Path::new("top/a/b.1"));
    assert_eq!(
        m.path_changes,
        [PathChange {
            original: "top/a/b".into(),
            cleaned: "top/a/b.1".into(),
            issues: vec![PathIssue::Duplicate],
        }]
    );
    // A file where another file's folder must go: the file is renamed (was: refused).
    let m = parse(multi_info(
        vec![file(1, &["a", "b", "c"]), file(1, &["a", "b"])],
        2,
    ))
    .unwrap();
    assert_eq!(m.files[1].path, Path::new("top/a/b.1"));
    assert_eq!(m.path_changes[0].issues, [PathIssue::FileIsFolder]);
    assert_paths_normal(&m);
}

/// Each former refusal now cleans to a path inside the torrent's folder, and the change is
/// reported with its own reason.
#[test]
fn each_traversal_attempt_is_cleaned_with_its_own_reason() {
    let cases: [(&[&str], &str, &[PathIssue]); 11] = [
        (
            &["..", "etc", "passwd"],
            "top/etc/passwd",
            &[PathIssue::ParentDir],
        ),
        (&["a", ".."], "top/a", &[PathIssue::ParentDir]),
        (
            &["/etc", "passwd"],
            "top/etc/passwd",
            &[PathIssue::Absolute],
        ),
        (&["\\Windows"], "top/Windows", &[PathIssue::Absolute]),
        (
            &["."],
            "top/_",
            &[PathIssue::CurrentDir, PathIssue::NoComponents],
        ),
        (&["a", ""], "top/a", &[PathIssue::Empty]),
        (&[], "top/_", &[PathIssue::NoComponents]),
        (&["a\0b"], "top/a_b", &[PathIssue::Control]),
        (&["a/b"], "top/a_b", &[PathIssue::Separator]),
        (&["a\\..\\b"], "top/a_.._b", &[PathIssue::Separator]),
        (&["C:", "x"], "top/C_/x", &[PathIssue::DrivePrefix]),
    ];
    for (parts, cleaned, issues) in cases {
        let m = parse(multi_info(vec![file(1, parts)], 1)).unwrap();
        assert_eq!(m.files[0].path, Path::new(cleaned), "{parts:?}");
        let mut original = "top".to_owned();
        for p in parts {
            original.push('/');
            original.push_str(p);
        }
        assert_eq!(
            m.path_changes,
            [PathChange {
                original,
                cleaned: cleaned.into(),
                issues: issues.to_vec()
            }],
            "{parts:?}"
        );
        assert_paths_normal(&m);
    }
    for (name, cleaned, issue) in [
        ("..", "_", PathIssue::ParentDir),
        (".", "_", PathIssue::CurrentDir),
        ("", "_", PathIssue::Empty),
        ("/abs", "abs", PathIssue::Absolute),
        ("a/b", "a_b", PathIssue::Separator),
        ("C:\\x", "C__x", PathIssue::Separator),
        ("D:x", "D_x", PathIssue::DrivePrefix),
    ] {
        for info in [single_info(1), multi_info(vec![file(1, &["a"])], 1)] {
            let m = parse(with(info, "name", Some(b(name)))).unwrap();
            assert_eq!(m.name, cleaned, "{name:?}");
            assert_eq!(m.path_changes[0].original, name);
            assert_eq!(m.path_changes[0].cleaned, Path::new(cleaned));
            assert!(m.path_changes[0].issues.contains(&issue), "{name:?}");
            assert_paths_normal(&m);
        }
    }
    // `name.utf-8` is cleaned just like `name`.
    let m = parse(with(single_info(1), "name.utf-8", Some(b("..")))).unwrap();
    assert_eq!(m.name, "_");
    assert_eq!(m.files[0].path, Path::new("_"));
}

/// Every truncation and many single-byte corruptions of real torrents: never a panic, and
/// whatever is still accepted keeps the path invariants.
#[test]
fn corrupted_fixtures_never_panic() {
    for (_, data) in FIXTURES {
        for cut in 0..data.len() {
            assert!(Metainfo::from_bytes(&data[..cut]).is_err());
        }
        let mut copy = data.to_vec();
        for i in 0..copy.len() {
            let original = copy[i];
            for replacement in [
                b'0', b'9', b'e', b'i', b'l', b'd', b'-', b'/', b'.', 0, 0xff,
            ] {
                copy[i] = replacement;
                if let Ok(m) = Metainfo::from_bytes(&copy) {
                    assert_paths_normal(&m);
                    assert_eq!(m.layout().num_pieces() as usize, m.piece_hashes.len());
                    check_offsets(&m);
                }
            }
            copy[i] = original;
        }
    }
}

/// Consistency of an accepted torrent: offsets are contiguous and add up to the total.
fn check_offsets(m: &Metainfo) {
    let mut offset = 0;
    for f in &m.files {
        assert_eq!(f.offset, offset);
        offset += f.length;
    }
    assert_eq!(offset, m.total_length);
    assert!(m.total_length > 0);
}

#[test]
fn error_messages_are_readable() {
    assert_eq!(
        MetainfoError::V2Only.to_string(),
        "v2-only torrents are not supported yet (this one has no v1 piece hashes)"
    );
    assert_eq!(
        MetainfoError::PieceCountMismatch {
            expected: 2,
            got: 1
        }
        .to_string(),
        "damaged torrent: 1 piece hashes, but its size needs 2"
    );
    assert_eq!(
        MetainfoError::NoData.to_string(),
        "torrent has no data (total length 0)"
    );
}

#[path = "clean_tests.rs"]
mod clean_tests;

#[test]
fn url_list_is_one_url_or_a_list_of_http_urls() {
    let with_urls = |urls: Bencode| {
        let top = Bencode::dict([
            ("info", Bencode::dict(single_info(20000))),
            ("url-list", urls),
        ]);
        Metainfo::from_bytes(&top.encode()).unwrap().web_seeds
    };
    assert_eq!(with_urls(b("http://h/f.bin")), ["http://h/f.bin"]);
    let list = Bencode::List(vec![
        b(" https://a/x/ "),
        b("ftp://b/x"),
        b(""),
        Bencode::Int(3),
        b("HTTP://c/y"),
        b("https://a/x/"),
    ]);
    assert_eq!(with_urls(list), ["https://a/x/", "HTTP://c/y"]);
    assert_eq!(with_urls(Bencode::Int(1)), Vec::<String>::new());
    assert!(parse(single_info(20000)).unwrap().web_seeds.is_empty());
}
