//! Path sanitisation for names and file paths taken from a .torrent.
//!
//! A torrent comes from an untrusted source, and every path in it ends up joined onto the user's
//! download folder. This module decides which path components are safe: each one must be a single,
//! ordinary file or folder name, so the joined path can never leave (or replace) the download root.
//! Pure string checks; no I/O, no normalisation that could turn a rejected name into an accepted
//! one. The rules follow POSIX semantics plus the Windows separators and drive prefixes, because a
//! torrent made on one system is downloaded on another.

use std::fmt;
use std::path::Path;

/// Why a path from a torrent was refused. Every case is a different way a hostile or broken
/// torrent could point outside the download folder.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PathIssue {
    /// A file's `path` list has no components at all.
    NoComponents,
    /// An empty component (as in `a//b`).
    Empty,
    /// A `.` component.
    CurrentDir,
    /// A `..` component, which would climb out of the download folder.
    ParentDir,
    /// A component starting with `/` or `\`, an absolute path.
    Absolute,
    /// A `/` or `\` inside a component, hiding several components in one.
    Separator,
    /// A NUL byte, which truncates the path at the operating-system boundary.
    Nul,
    /// A Windows drive prefix such as `C:`.
    DrivePrefix,
}

impl PathIssue {
    /// A short English explanation, used in error messages.
    pub fn describe(self) -> &'static str {
        match self {
            PathIssue::NoComponents => "the path is empty",
            PathIssue::Empty => "it has an empty component",
            PathIssue::CurrentDir => "it has a `.` component",
            PathIssue::ParentDir => "it has a `..` component",
            PathIssue::Absolute => "it is an absolute path",
            PathIssue::Separator => "a component contains `/` or `\\`",
            PathIssue::Nul => "it contains a NUL byte",
            PathIssue::DrivePrefix => "it starts with a drive letter such as `C:`",
        }
    }
}

impl fmt::Display for PathIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// Checks one component of a torrent path (or the torrent's `name`) and returns it unchanged when
/// it is a single ordinary name that is safe to join onto the download folder.
///
/// Refused: the empty string, `.`, `..`, anything starting with `/` or `\`, anything containing
/// `/`, `\` or NUL, and a Windows drive prefix (`C:`, `c:foo`). Other characters, including `:`
/// elsewhere, spaces and non-ASCII text, are accepted.
pub fn sanitize_component(component: &str) -> Result<&str, PathIssue> {
    let bytes = component.as_bytes();
    match component {
        "" => return Err(PathIssue::Empty),
        "." => return Err(PathIssue::CurrentDir),
        ".." => return Err(PathIssue::ParentDir),
        _ => {}
    }
    if bytes[0] == b'/' || bytes[0] == b'\\' {
        return Err(PathIssue::Absolute);
    }
    if bytes.contains(&0) {
        return Err(PathIssue::Nul);
    }
    if bytes.iter().any(|&b| b == b'/' || b == b'\\') {
        return Err(PathIssue::Separator);
    }
    if bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' {
        return Err(PathIssue::DrivePrefix);
    }
    Ok(component)
}

/// Finds the first problem among a sorted list of file paths: a path listed twice, or a path that
/// is used both as a file and as a folder of another file (`a` and `a/b`).
///
/// `sorted` must be sorted with [`Path`]'s ordering (component by component); then any path that
/// is a folder of another is immediately followed by one of its descendants, so comparing
/// neighbours is enough and the check is `O(n)` after the sort.
pub(crate) fn find_conflict<'p>(sorted: &[&'p Path]) -> Option<Conflict<'p>> {
    sorted.windows(2).find_map(|pair| {
        let (a, b) = (pair[0], pair[1]);
        if a == b {
            Some(Conflict::Duplicate(a))
        } else if b.starts_with(a) {
            Some(Conflict::FileIsFolder(a))
        } else {
            None
        }
    })
}

/// A clash between two file paths, found by [`find_conflict`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Conflict<'p> {
    /// The same path appears twice.
    Duplicate(&'p Path),
    /// This path is a file and also a folder of another file.
    FileIsFolder(&'p Path),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_names() {
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
            assert_eq!(sanitize_component(ok), Ok(ok));
        }
    }

    #[test]
    fn each_refusal_has_its_own_reason() {
        let cases = [
            ("", PathIssue::Empty),
            (".", PathIssue::CurrentDir),
            ("..", PathIssue::ParentDir),
            ("/etc", PathIssue::Absolute),
            ("\\windows", PathIssue::Absolute),
            ("/", PathIssue::Absolute),
            ("a/b", PathIssue::Separator),
            ("a\\b", PathIssue::Separator),
            ("../x", PathIssue::Separator),
            ("a\0b", PathIssue::Nul),
            ("C:", PathIssue::DrivePrefix),
            ("c:evil", PathIssue::DrivePrefix),
        ];
        for (input, reason) in cases {
            assert_eq!(sanitize_component(input), Err(reason), "{input:?}");
        }
    }

    #[test]
    fn conflicts_between_neighbours() {
        let mut paths = [
            Path::new("n/b"),
            Path::new("n/a/x"),
            Path::new("n/a.txt"),
            Path::new("n/a"),
        ];
        paths.sort();
        assert_eq!(
            find_conflict(&paths),
            Some(Conflict::FileIsFolder(Path::new("n/a")))
        );
        let mut dup = [Path::new("n/b"), Path::new("n/a"), Path::new("n/b")];
        dup.sort();
        assert_eq!(
            find_conflict(&dup),
            Some(Conflict::Duplicate(Path::new("n/b")))
        );
        let fine = [Path::new("n/a"), Path::new("n/ab"), Path::new("n/b/c")];
        assert_eq!(find_conflict(&fine), None);
    }
}
