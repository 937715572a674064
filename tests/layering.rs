//! Keeps the layers honest by reading the sources: the pure-data and sans-IO modules must not
//! name any I/O crate, socket, file, thread, clock read or OS entropy. Test code inside them
//! (`#[cfg(test)]` items, `tests.rs` and `*_tests.rs` files) is exempt; the rest of each file,
//! also after its test items, is checked.

// Test and example code drives real sockets, threads, files and clocks.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::path::{Path, PathBuf};

/// Modules that must stay free of I/O (files, or folders taken whole).
const SANS_IO: &[&str] = &[
    "src/bencode.rs",
    "src/bitfield.rs",
    "src/layout.rs",
    "src/metainfo",
    "src/create/mod.rs",
    "src/create/info.rs",
    "src/wire.rs",
    "src/picker.rs",
    "src/picker",
    "src/selection.rs",
    "src/rng.rs",
    "src/engine",
    "src/tracker/announce.rs",
    "src/tracker/tiers.rs",
    "src/magnet.rs",
    "src/ext",
    "src/dht",
    "src/resume",
    "src/webseed/mod.rs",
    "src/webseed/url.rs",
    "src/webseed/plan.rs",
    "src/webseed/seed.rs",
    "src/webseed/set.rs",
    "src/sansio.rs",
    "src/internals.rs",
];

/// The only files that may name `ureq`: the HTTP shells of the tracker client and web seeds
/// (`lib.rs` and `tracker/mod.rs` only mention it in docs, which are not checked).
const HTTP_SHELLS: &[&str] = &["src/tracker/http.rs", "src/webseed/fetch.rs"];

/// What those modules must not mention.
const FORBIDDEN: &[&str] = &[
    "mio::",
    "ureq",
    "memmap2",
    "crossbeam",
    "TcpStream",
    "TcpListener",
    "UdpSocket",
    "std::fs",
    "std::thread",
    "Instant::now",
    "SystemTime::now",
    "RandomState",
    "crate::sys",
];

/// How unsafe code starts (the bare word also names things like `unsafe_path`).
const UNSAFE: &[&str] = &[
    "unsafe {",
    "unsafe fn",
    "unsafe impl",
    "unsafe extern",
    "unsafe trait",
];

fn has_unsafe(code: &str) -> bool {
    UNSAFE.iter().any(|u| code.contains(u))
}

fn rust_files(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            rust_files(&entry.unwrap().path(), out);
        }
    } else if path.extension().is_some_and(|e| e == "rs")
        && !path
            .file_name()
            .is_some_and(|n| n == "tests.rs" || n.to_string_lossy().ends_with("_tests.rs"))
    {
        out.push(path.to_path_buf());
    }
}

/// `text` with every comment and every string and character literal replaced by spaces (line
/// breaks kept, so line numbers stay), leaving only code to search.
fn code_only(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = b.to_vec();
    let blank = |out: &mut Vec<u8>, from: usize, to: usize| {
        for c in &mut out[from..to.min(b.len())] {
            if *c != b'\n' {
                *c = b' ';
            }
        }
    };
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let mut i = 0;
    while i < b.len() {
        let at = |k: usize| b.get(i + k).copied().unwrap_or(0);
        if b[i..].starts_with(b"//") {
            let end = text[i..].find('\n').map_or(b.len(), |n| i + n);
            blank(&mut out, i, end);
            i = end;
        } else if b[i..].starts_with(b"/*") {
            let (mut j, mut depth) = (i + 2, 1);
            while j < b.len() && depth > 0 {
                if b[j..].starts_with(b"/*") {
                    depth += 1;
                    j += 2;
                } else if b[j..].starts_with(b"*/") {
                    depth -= 1;
                    j += 2;
                } else {
                    j += 1;
                }
            }
            blank(&mut out, i, j);
            i = j;
        } else if b[i] == b'r'
            && (i == 0 || !ident(b[i - 1]) || (b[i - 1] == b'b' && (i < 2 || !ident(b[i - 2]))))
            && matches!(at(1), b'"' | b'#')
        {
            // A raw string: r"…", r#"…"#, br##"…"##.
            let hashes = b[i + 1..].iter().take_while(|&&c| c == b'#').count();
            if at(1 + hashes) != b'"' {
                i += 1;
                continue;
            }
            let close = format!("\"{}", "#".repeat(hashes));
            let body = i + 2 + hashes;
            let end = text[body..]
                .find(&close)
                .map_or(b.len(), |n| body + n + close.len());
            blank(&mut out, i, end);
            i = end;
        } else if b[i] == b'"' {
            let mut j = i + 1;
            while j < b.len() && b[j] != b'"' {
                j += if b[j] == b'\\' { 2 } else { 1 };
            }
            blank(&mut out, i, j + 1);
            i = j + 1;
        } else if b[i] == b'\'' {
            // A character literal ('x', '\n', '\u{7b}', '{'); anything else is a lifetime or label.
            let end = if at(1) == b'\\' {
                text[i + 2..].find('\'').map(|n| i + 2 + n + 1)
            } else {
                text[i + 1..]
                    .chars()
                    .next()
                    .map(|c| i + 1 + c.len_utf8())
                    .filter(|&j| b.get(j) == Some(&b'\''))
                    .map(|j| j + 1)
            };
            match end {
                Some(end) => {
                    blank(&mut out, i, end);
                    i = end;
                }
                None => i += 1,
            }
        } else {
            i += 1;
        }
    }
    String::from_utf8(out).expect("only ASCII bytes were replaced, whole characters at a time")
}

/// Where the item (or statement, field, variant) starting at `from` in `code` ends: after its
/// `;`, its `,`, or its outermost `{ … }`. Ends early rather than late when unsure, so that a
/// mistake checks test code rather than skips production code.
fn item_end(code: &[u8], from: usize) -> usize {
    // Further attributes first (`#[cfg(test)] #[allow(…)] mod tests { … }`).
    let mut i = from;
    loop {
        while i < code.len() && code[i].is_ascii_whitespace() {
            i += 1;
        }
        if !code[i..].starts_with(b"#[") {
            break;
        }
        i += 1;
        let mut depth = 0;
        while i < code.len() {
            match code[i] {
                b'[' => depth += 1,
                b']' => depth -= 1,
                _ => {}
            }
            i += 1;
            if depth == 0 {
                break;
            }
        }
    }
    let start = i;
    let mut depth = 0i32;
    while i < code.len() {
        match code[i] {
            b'{' | b'(' | b'[' => depth += 1,
            b'}' | b')' | b']' => {
                depth -= 1;
                if depth < 0 {
                    return i; // the end of the enclosing block: a field or the last statement
                }
                if depth == 0 && code[i] == b'}' {
                    return i + 1;
                }
            }
            b';' if depth == 0 => return i + 1,
            b',' if depth == 0 && !item_header(&code[start..i]) => return i + 1,
            _ => {}
        }
        i += 1;
    }
    code.len()
}

/// Whether `code` (an item's start) is an item header, where `,` can appear at depth 0 (generics,
/// where clauses), rather than a field, variant, match arm or expression.
fn item_header(code: &[u8]) -> bool {
    let text = String::from_utf8_lossy(code);
    let word = text
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .find(|w| !w.is_empty() && !matches!(*w, "pub" | "crate" | "super" | "self" | "in"));
    matches!(
        word,
        Some("fn" | "impl" | "struct" | "enum" | "trait" | "type" | "const" | "static")
            | Some("unsafe" | "async" | "extern" | "where" | "mod" | "use" | "macro_rules")
    )
}

/// The code of `text` that is built outside tests: comments, literals and `#[cfg(test)]` items
/// (a `mod x;` line, a `mod tests { … }` block, a `fn`, …) blanked out, everything after them
/// kept. A file that starts `#![cfg(test)]` has no production code.
fn production_code(text: &str) -> String {
    const TEST_ONLY: &[u8] = b"#[cfg(test)]";
    let mut code = code_only(text).into_bytes();
    let blank = |code: &mut [u8], from: usize, to: usize| {
        for c in &mut code[from..to] {
            if *c != b'\n' {
                *c = b' ';
            }
        }
    };
    let find = |code: &[u8], what: &[u8], from: usize| {
        code[from..]
            .windows(what.len())
            .position(|w| w == what)
            .map(|n| from + n)
    };
    if find(&code, b"#![cfg(test)]", 0).is_some() {
        let len = code.len();
        blank(&mut code, 0, len);
    }
    let mut from = 0;
    while let Some(start) = find(&code, TEST_ONLY, from) {
        let end = item_end(&code, start + TEST_ONLY.len());
        blank(&mut code, start, end);
        from = end;
    }
    String::from_utf8(code).expect("whole characters were blanked")
}

/// What the layering rules find in the source `text` of a sans-IO module: one line per forbidden
/// word or `unsafe`, as `label:line: word`.
fn violations(label: &str, text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (n, code) in production_code(text).lines().enumerate() {
        for word in FORBIDDEN {
            if code.contains(word) {
                found.push(format!("{label}:{}: {word}", n + 1));
            }
        }
        if has_unsafe(code) {
            found.push(format!("{label}:{}: unsafe", n + 1));
        }
    }
    found
}

#[test]
fn sans_io_layers_name_no_io() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for m in SANS_IO {
        rust_files(&root.join(m), &mut files);
    }
    assert!(files.len() >= 15, "found only {files:?}");
    let mut found = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        found.extend(violations(&f.display().to_string(), &text));
    }
    assert!(
        found.is_empty(),
        "I/O in a sans-IO layer:\n{}",
        found.join("\n")
    );
}

#[test]
fn code_after_test_items_is_checked() {
    let src = "use std::time::Instant;\n\
               #[cfg(test)]\n\
               mod t;\n\
               pub fn f() -> Instant {\n    Instant::now()\n}\n";
    assert_eq!(violations("a.rs", src), ["a.rs:5: Instant::now"]);
    let same_line = "#[cfg(test)] mod t;\nfn f() { std::thread::sleep(D) }\n";
    assert_eq!(violations("b.rs", same_line), ["b.rs:2: std::thread"]);
    let after_fn =
        "#[cfg(test)]\nfn helper(x: [u8; 2]) -> u8 {\n    if x[0] > 0 { x[1] } else { 0 }\n}\n\
                    fn g() { let s = std::fs::read(p); }\n";
    assert_eq!(violations("c.rs", after_fn), ["c.rs:5: std::fs"]);
    let after_tests = "#[cfg(test)]\nmod tests {\n    fn a() { let _ = \"}\"; let _ = '}'; }\n}\n\
                       unsafe fn late() {}\n";
    assert_eq!(violations("d.rs", after_tests), ["d.rs:5: unsafe"]);
}

#[test]
fn test_items_and_comments_are_not_checked() {
    let src = "pub fn f(now: Instant) -> Instant {\n    now // never Instant::now here\n}\n\n\
               #[cfg(test)]\n\
               mod tests {\n    use super::*;\n\n    #[test]\n    fn t() {\n        \
               let now = Instant::now();\n        let s = \"{\";\n        assert_eq!(f(now), now);\n    \
               }\n}\n";
    assert_eq!(violations("a.rs", src), Vec::<String>::new());
    let attrs = "#[cfg(test)]\n#[allow(clippy::disallowed_methods)]\nfn now() -> Instant { Instant::now() }\n\
                 const S: &str = r#\"std::fs \" mio::\"#;\n";
    assert_eq!(violations("b.rs", attrs), Vec::<String>::new());
    let whole = "#![cfg(test)]\nuse std::thread;\n";
    assert_eq!(violations("c.rs", whole), Vec::<String>::new());
}

#[test]
fn only_the_http_shells_name_ureq() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    let users: Vec<String> = files
        .iter()
        .filter(|f| {
            let text = std::fs::read_to_string(f).unwrap();
            production_code(&text).contains("ureq")
        })
        .map(|f| f.strip_prefix(root).unwrap().display().to_string())
        .collect();
    assert_eq!(users.len(), HTTP_SHELLS.len(), "ureq used in {users:?}");
    for shell in HTTP_SHELLS {
        assert!(
            users.iter().any(|u| u == shell),
            "{shell} not among {users:?}"
        );
    }
}

#[test]
fn only_the_disk_layer_is_unsafe() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let offenders: Vec<String> = files
        .iter()
        .filter(|f| !f.starts_with(root.join("disk")))
        .filter(|f| *f != &root.join("sys.rs") && *f != &root.join("cli/terminal.rs"))
        .filter(|f| {
            let text = std::fs::read_to_string(f).unwrap();
            production_code(&text).lines().any(has_unsafe)
        })
        .map(|f| f.display().to_string())
        .collect();
    assert!(
        offenders.is_empty(),
        "unsafe outside src/disk, src/sys.rs and src/cli/terminal.rs: {offenders:?}"
    );
}
