//! Keeps the layers honest by reading the sources: the pure-data and sans-IO modules must not
//! name any I/O crate, socket, file, thread or clock read. Test code inside them is exempt.

use std::path::{Path, PathBuf};

/// Modules that must stay free of I/O (files, or folders taken whole).
const SANS_IO: &[&str] = &[
    "src/bencode.rs",
    "src/bitfield.rs",
    "src/layout.rs",
    "src/metainfo",
    "src/wire.rs",
    "src/picker.rs",
    "src/rng.rs",
    "src/engine",
    "src/tracker/announce.rs",
    "src/tracker/tiers.rs",
    "src/dht",
];

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

/// The part of a file before its unit tests.
fn production_code(text: &str) -> &str {
    text.find("#[cfg(test)]").map_or(text, |i| &text[..i])
}

#[test]
fn sans_io_layers_name_no_io() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for m in SANS_IO {
        rust_files(&root.join(m), &mut files);
    }
    assert!(files.len() >= 15, "found only {files:?}");
    let mut violations = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        for (n, line) in production_code(&text).lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for word in FORBIDDEN {
                if code.contains(word) {
                    violations.push(format!("{}:{}: {word}", f.display(), n + 1));
                }
            }
            if has_unsafe(code) {
                violations.push(format!("{}:{}: unsafe", f.display(), n + 1));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "I/O in a sans-IO layer:\n{}",
        violations.join("\n")
    );
}

#[test]
fn only_the_disk_layer_is_unsafe() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let offenders: Vec<String> = files
        .iter()
        .filter(|f| {
            !f.starts_with(root.join("disk"))
                && !f.ends_with("main.rs")
                && !f.starts_with(root.join("cli"))
        })
        .filter(|f| {
            let text = std::fs::read_to_string(f).unwrap();
            production_code(&text)
                .lines()
                .any(|l| has_unsafe(l.split("//").next().unwrap_or("")))
        })
        .map(|f| f.display().to_string())
        .collect();
    assert!(
        offenders.is_empty(),
        "unsafe outside src/disk: {offenders:?}"
    );
}
