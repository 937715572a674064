use super::*;

fn clean(raw: &[u8]) -> (Option<String>, Vec<PathIssue>) {
    let mut issues = Vec::new();
    let out = clean_component(raw, &mut issues);
    (out, issues)
}

#[test]
fn ordinary_names_pass_unchanged() {
    for ok in [
        "a",
        "a.txt",
        "...",
        ".hidden",
        "ab:c",
        "Movie: Part 2",
        "C",
        "ümlaut ü",
        "a b",
        ".pad",
    ] {
        assert_eq!(clean(ok.as_bytes()), (Some(ok.to_owned()), vec![]), "{ok}");
    }
}

#[test]
fn each_oddity_is_cleaned_with_its_own_reason() {
    let cases: [(&[u8], Option<&str>, &[PathIssue]); 15] = [
        (b"", None, &[PathIssue::Empty]),
        (b".", None, &[PathIssue::CurrentDir]),
        (b"..", None, &[PathIssue::ParentDir]),
        (b"/", None, &[PathIssue::Absolute]),
        (b"/..", None, &[PathIssue::Absolute, PathIssue::ParentDir]),
        (b"/etc", Some("etc"), &[PathIssue::Absolute]),
        (b"\\windows", Some("windows"), &[PathIssue::Absolute]),
        (b"a/b", Some("a_b"), &[PathIssue::Separator]),
        (b"a\\b", Some("a_b"), &[PathIssue::Separator]),
        (b"../x", Some(".._x"), &[PathIssue::Separator]),
        (b"a\0b\nc", Some("a_b_c"), &[PathIssue::Control]),
        (b"\x1b[31mred", Some("_[31mred"), &[PathIssue::Control]),
        (b"C:", Some("C_"), &[PathIssue::DrivePrefix]),
        (b"c:evil", Some("c_evil"), &[PathIssue::DrivePrefix]),
        (b"caf\xe9", Some("caf\u{fffd}"), &[PathIssue::NotUtf8]),
    ];
    for (raw, out, issues) in cases {
        assert_eq!(
            clean(raw),
            (out.map(str::to_owned), issues.to_vec()),
            "{:?}",
            String::from_utf8_lossy(raw)
        );
    }
}

#[test]
fn long_names_are_shortened_keeping_the_extension() {
    let name = format!("{}.mkv", "a".repeat(296));
    let (out, issues) = clean(name.as_bytes());
    let out = out.unwrap();
    assert_eq!(out.len(), MAX_COMPONENT_BYTES);
    assert!(out.ends_with("a.mkv"), "{out}");
    assert_eq!(issues, [PathIssue::TooLong]);
    // Multi-byte characters are never split, and a long "extension" is part of the name.
    let name = "é".repeat(200);
    let out = clean(name.as_bytes()).0.unwrap();
    assert_eq!(out, "é".repeat(127));
    let name = format!("x.{}", "y".repeat(300));
    let out = clean(name.as_bytes()).0.unwrap();
    assert_eq!(out.len(), MAX_COMPONENT_BYTES);
    assert!(out.starts_with("x.yyy"));
    // Exactly at the limit: unchanged.
    let name = "z".repeat(MAX_COMPONENT_BYTES);
    assert_eq!(clean(name.as_bytes()), (Some(name.clone()), vec![]));
}

#[test]
fn numbered_names_go_before_the_extension_and_fit() {
    assert_eq!(numbered("movie.mkv", 1), "movie.1.mkv");
    assert_eq!(numbered("README", 2), "README.2");
    assert_eq!(numbered(".bashrc", 1), ".bashrc.1");
    assert_eq!(numbered("a.tar.gz", 3), "a.tar.3.gz");
    let long = format!("{}.mkv", "a".repeat(251));
    let n = numbered(&long, 12);
    assert_eq!(n.len(), MAX_COMPONENT_BYTES);
    assert!(n.ends_with("a.12.mkv"), "{n}");
}

#[test]
fn every_cleaned_component_is_one_ordinary_name() {
    use std::path::{Component, Path};
    let mut inputs: Vec<Vec<u8>> = Vec::new();
    for a in [
        &b""[..],
        b".",
        b"..",
        b"/",
        b"\\",
        b"C:",
        b"\0",
        b"\xff",
        b"x",
    ] {
        for b in [
            &b""[..],
            b".",
            b"..",
            b"/",
            b"\\",
            b":",
            b"\0",
            b"\xfe",
            b"y",
        ] {
            inputs.push([a, b].concat());
        }
    }
    for raw in inputs {
        if let (Some(c), _) = clean(&raw) {
            let comps: Vec<_> = Path::new(&c).components().collect();
            assert!(
                matches!(comps[..], [Component::Normal(_)]),
                "{raw:?} -> {c:?}"
            );
            assert!(!c.contains(['/', '\\', '\0']));
            assert!(c.len() <= MAX_COMPONENT_BYTES);
        }
    }
}
