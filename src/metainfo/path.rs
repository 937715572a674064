//! Path clean-up for names and file paths taken from a .torrent.
//!
//! A torrent comes from an untrusted source, and every path in it ends up joined onto the user's
//! download folder. Rather than refuse a torrent over a path that can be made safe (libtorrent,
//! Transmission and aria2 all download such torrents), each component is cleaned into a single
//! ordinary name, and every change is recorded so the user can be told:
//!
//! - empty, `.` and `..` components are dropped (as libtorrent does for symlink targets), and a
//!   path with nothing left is named `_` (libtorrent's placeholder);
//! - leading `/` and `\` are removed, so an absolute path becomes a relative one (libtorrent);
//! - `/` and `\` inside a component and control characters (NUL included) become `_`
//!   (Transmission);
//! - a leading Windows drive prefix `C:` becomes `C_` (Transmission's portable names);
//! - invalid UTF-8 is decoded lossily (U+FFFD);
//! - a component over [`MAX_COMPONENT_BYTES`] is shortened, keeping its extension (libtorrent),
//!   so a 300-byte name downloads instead of failing with "File name too long".
//!
//! Pure string work: no I/O; part of metainfo parsing, on its caller's thread (see the parent
//! module). Collisions between cleaned paths are resolved in `unique`.

use std::fmt;

/// Longest path component written, in bytes: the limit of Linux, macOS and Windows file systems.
pub const MAX_COMPONENT_BYTES: usize = 255;

/// Longest extension (dot included) kept when a name is shortened or renamed; a longer "extension"
/// is more likely part of the name (`A.Very.Long.Title`).
const MAX_EXTENSION_BYTES: usize = 16;

/// What was wrong with a path from a torrent, and so what the clean-up changed. Every case is a
/// way a hostile or broken torrent could point outside the download folder or fail to download.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PathIssue {
    /// The path had no usable component left; it was named `_`.
    NoComponents,
    /// An empty component (as in `a//b`) was dropped.
    Empty,
    /// A `.` component was dropped.
    CurrentDir,
    /// A `..` component, which would climb out of the download folder, was dropped.
    ParentDir,
    /// A component started with `/` or `\` (an absolute path); the separators were removed.
    Absolute,
    /// A `/` or `\` inside a component, hiding several components in one, became `_`.
    Separator,
    /// A control character (NUL, newline, escape, …) became `_`.
    Control,
    /// A Windows drive prefix such as `C:` became `C_`.
    DrivePrefix,
    /// The name was not valid UTF-8 and was decoded lossily.
    NotUtf8,
    /// A component over 255 bytes was shortened, keeping its extension.
    TooLong,
    /// Another file already had this path: renamed `name.1.ext` (libtorrent's scheme).
    Duplicate,
    /// The path is also a folder of another file: renamed `name.1.ext`.
    FileIsFolder,
}

impl PathIssue {
    /// A short English explanation, used in reports and error messages.
    pub fn describe(self) -> &'static str {
        match self {
            PathIssue::NoComponents => "no usable name (named `_`)",
            PathIssue::Empty => "empty component dropped",
            PathIssue::CurrentDir => "`.` dropped",
            PathIssue::ParentDir => "`..` dropped",
            PathIssue::Absolute => "absolute path made relative",
            PathIssue::Separator => "`/` or `\\` inside a name replaced",
            PathIssue::Control => "control character replaced",
            PathIssue::DrivePrefix => "drive prefix such as `C:` replaced",
            PathIssue::NotUtf8 => "not UTF-8, decoded lossily",
            PathIssue::TooLong => "name over 255 bytes shortened",
            PathIssue::Duplicate => "same path as another file, renamed",
            PathIssue::FileIsFolder => "path is also a folder, renamed",
        }
    }
}

impl fmt::Display for PathIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// Notes `issue` once.
pub(crate) fn note(issues: &mut Vec<PathIssue>, issue: PathIssue) {
    if !issues.contains(&issue) {
        issues.push(issue);
    }
}

/// Cleans one component of a torrent path (or the torrent's `name`) into a single ordinary file
/// name, noting each change in `issues`. `None` means the component is dropped (empty, `.`, `..`).
///
/// The result is never empty, `.` or `..`, contains no `/`, `\` or control character, does not
/// start with a drive prefix and is at most [`MAX_COMPONENT_BYTES`] bytes long.
pub fn clean_component(raw: &[u8], issues: &mut Vec<PathIssue>) -> Option<String> {
    let text = match std::str::from_utf8(raw) {
        Ok(s) => s.to_owned(),
        Err(_) => {
            note(issues, PathIssue::NotUtf8);
            String::from_utf8_lossy(raw).into_owned()
        }
    };
    let is_sep = |c: char| c == '/' || c == '\\';
    let rest = text.trim_start_matches(is_sep);
    if rest.len() != text.len() {
        note(issues, PathIssue::Absolute);
    }
    match rest {
        "" if text.is_empty() => {
            note(issues, PathIssue::Empty);
            return None;
        }
        "" => return None,
        "." => {
            note(issues, PathIssue::CurrentDir);
            return None;
        }
        ".." => {
            note(issues, PathIssue::ParentDir);
            return None;
        }
        _ => {}
    }
    let mut out = String::with_capacity(rest.len());
    for c in rest.chars() {
        if is_sep(c) {
            note(issues, PathIssue::Separator);
            out.push('_');
        } else if c.is_control() {
            note(issues, PathIssue::Control);
            out.push('_');
        } else {
            out.push(c);
        }
    }
    let b = out.as_bytes();
    if b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':' {
        note(issues, PathIssue::DrivePrefix);
        out.replace_range(1..2, "_");
    }
    if out.len() > MAX_COMPONENT_BYTES {
        note(issues, PathIssue::TooLong);
        out = fit(&out, "", MAX_COMPONENT_BYTES);
    }
    Some(out)
}

/// Splits `name` into stem and extension (dot included): the extension is the text from the last
/// dot when that dot is not the first character and the extension is short.
fn split_extension(name: &str) -> (&str, &str) {
    match name.rfind('.') {
        Some(dot) if dot > 0 && name.len() - dot <= MAX_EXTENSION_BYTES => name.split_at(dot),
        _ => (name, ""),
    }
}

/// `name` with `insert` placed before its extension, the stem cut (at a character boundary) so
/// the whole fits in `limit` bytes. The extension is kept whenever it fits.
fn fit(name: &str, insert: &str, limit: usize) -> String {
    let (stem, ext) = split_extension(name);
    let room = limit.saturating_sub(insert.len() + ext.len());
    let mut cut = room.min(stem.len());
    while !stem.is_char_boundary(cut) {
        cut -= 1;
    }
    let mut out = String::with_capacity(limit);
    out.push_str(&stem[..cut]);
    out.push_str(insert);
    out.push_str(ext);
    out
}

/// The `n`th alternative for a clashing file name, libtorrent's way: `movie.mkv` → `movie.1.mkv`,
/// `README` → `README.1`, still within [`MAX_COMPONENT_BYTES`].
pub(crate) fn numbered(name: &str, n: u64) -> String {
    fit(name, &format!(".{n}"), MAX_COMPONENT_BYTES)
}

#[cfg(test)]
#[path = "path_tests.rs"]
mod tests;
