//! Making cleaned paths unique. Two entries of a torrent can end up with one path: the torrent
//! lists it twice, or the clean-up made two names equal (`a/b` and `a_b`, two non-UTF-8 names).
//! A file can also sit where another file's folder must be (`a` and `a/b`).
//!
//! Like libtorrent (and unlike Transmission, which refuses such torrents), the later file is
//! renamed `name.1.ext`, `name.2.ext`, …, and folders win over files: a torrent that downloads
//! in the other big clients downloads here too, and no file's data is lost. Comparison is by
//! exact bytes (Linux file systems are case-sensitive; libtorrent also folds case for Windows).
//!
//! Pure; part of metainfo parsing, on its caller's thread (see the parent module).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use super::path::{numbered, PathIssue};

/// Renames entries of `paths` (in torrent order) until no two are equal and none is a folder of
/// another. Returns the index and reason of every renamed entry.
///
/// Each clashing path keeps a counter, so `n` copies of one name cost `O(n)` lookups in all.
pub(crate) fn make_unique(paths: &mut [PathBuf]) -> Vec<(usize, PathIssue)> {
    let mut dirs: HashSet<PathBuf> = HashSet::new();
    for p in paths.iter() {
        for anc in p.ancestors().skip(1) {
            if anc.as_os_str().is_empty() || !dirs.insert(anc.to_path_buf()) {
                // Its own ancestors were inserted along with it.
                break;
            }
        }
    }
    let mut used: HashSet<PathBuf> = HashSet::with_capacity(paths.len());
    let mut next: HashMap<PathBuf, u64> = HashMap::new();
    let mut renamed = Vec::new();
    for (i, p) in paths.iter_mut().enumerate() {
        let why = if dirs.contains(p.as_path()) {
            PathIssue::FileIsFolder
        } else if used.contains(p.as_path()) {
            PathIssue::Duplicate
        } else {
            used.insert(p.clone());
            continue;
        };
        let n = next.entry(p.clone()).or_insert(1);
        let candidate = loop {
            let c = sibling(p, *n);
            *n += 1;
            if !dirs.contains(&c) && !used.contains(&c) {
                break c;
            }
        };
        used.insert(candidate.clone());
        *p = candidate;
        renamed.push((i, why));
    }
    renamed
}

/// `p` with its last component numbered `n`.
fn sibling(p: &Path, n: u64) -> PathBuf {
    let name = p
        .file_name()
        .map(|s| s.to_string_lossy())
        .unwrap_or_default();
    p.with_file_name(numbered(&name, n))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(paths: &[&str]) -> (Vec<String>, Vec<(usize, PathIssue)>) {
        let mut v: Vec<PathBuf> = paths.iter().map(PathBuf::from).collect();
        let renamed = make_unique(&mut v);
        let out = v.iter().map(|p| p.to_str().unwrap().to_owned()).collect();
        (out, renamed)
    }

    #[test]
    fn later_duplicates_are_numbered_before_the_extension() {
        let (out, renamed) = run(&["t/a.mkv", "t/b", "t/a.mkv", "t/a.mkv", "t/b"]);
        assert_eq!(out, ["t/a.mkv", "t/b", "t/a.1.mkv", "t/a.2.mkv", "t/b.1"]);
        assert_eq!(
            renamed,
            [
                (2, PathIssue::Duplicate),
                (3, PathIssue::Duplicate),
                (4, PathIssue::Duplicate)
            ]
        );
    }

    #[test]
    fn folders_win_over_files() {
        let (out, renamed) = run(&["t/a", "t/a/b", "t/x/y/z", "t/x/y"]);
        assert_eq!(out, ["t/a.1", "t/a/b", "t/x/y/z", "t/x/y.1"]);
        assert_eq!(
            renamed,
            [(0, PathIssue::FileIsFolder), (3, PathIssue::FileIsFolder)]
        );
    }

    #[test]
    fn renaming_follows_torrent_order() {
        // Names are given in torrent order: a later file clashing with a new name is renamed in turn.
        let (out, _) = run(&["t/a", "t/a", "t/a.1"]);
        assert_eq!(out, ["t/a", "t/a.1", "t/a.1.1"]);
        let (out, _) = run(&["t/a", "t/a.1", "t/a"]);
        assert_eq!(out, ["t/a", "t/a.1", "t/a.2"]);
    }

    #[test]
    fn many_copies_stay_linear_and_distinct() {
        let paths = vec!["t/x"; 20_000];
        let (out, renamed) = run(&paths);
        assert_eq!(renamed.len(), 19_999);
        let distinct: HashSet<&String> = out.iter().collect();
        assert_eq!(distinct.len(), out.len());
        assert_eq!(out[19_999], "t/x.19999");
    }
}
