//! The info dictionary's name and file list: clean-up of every path (see [`super::path`]), BEP 47
//! attributes (padding, symlink, executable, hidden), unique paths (see `unique`), and each
//! file's offset in the torrent's byte stream.
//!
//! Pure; part of metainfo parsing, on its caller's thread (see the parent module).

use std::path::PathBuf;

use super::path::{clean_component, note, PathIssue};
use super::unique::make_unique;
use super::{FileInfo, MetainfoError, PathChange, Result, Symlink};
use crate::bencode::Value;

/// BitComet's padding files predate BEP 47's `attr`; libtorrent recognises them by this name.
const BITCOMET_PADDING: &[u8] = b"_____padding_file_";

/// The torrent's name after clean-up, and what was changed.
pub(super) struct Name {
    /// The cleaned name: one ordinary component.
    pub(super) text: String,
    /// The change, if the name was not already clean.
    pub(super) change: Option<PathChange>,
}

/// The torrent's name: `name.utf-8` when it is valid UTF-8, else `name` (decoded lossily), cleaned
/// into one ordinary component. A name with nothing usable becomes `_`.
pub(super) fn parse_name(info: &Value<'_>) -> Result<Name> {
    let raw = match info.get("name.utf-8").and_then(Value::as_str) {
        Some(s) => s.as_bytes(),
        None => info
            .get("name")
            .ok_or(MetainfoError::MissingField("name"))?
            .as_bytes()
            .ok_or(MetainfoError::WrongType("name"))?,
    };
    let mut issues = Vec::new();
    let text = clean_component(raw, &mut issues).unwrap_or_else(|| {
        note(&mut issues, PathIssue::NoComponents);
        "_".to_owned()
    });
    let change = (!issues.is_empty()).then(|| PathChange {
        original: String::from_utf8_lossy(raw).into_owned(),
        cleaned: PathBuf::from(&text),
        issues,
    });
    Ok(Name { text, change })
}

/// What the file list holds.
pub(super) struct Files {
    /// Files in torrent order, padding included, symlinks excluded.
    pub(super) files: Vec<FileInfo>,
    /// Symlinks in torrent order.
    pub(super) symlinks: Vec<Symlink>,
    /// Paths the clean-up changed, in torrent order (padding files not included).
    pub(super) changes: Vec<PathChange>,
    /// Whether the info dictionary has a `files` list.
    pub(super) multi_file: bool,
}

/// One listed entry before offsets are assigned.
struct Entry {
    path: PathBuf,
    length: u64,
    attr: Attr,
    /// The target, for a symlink.
    target: Option<PathBuf>,
    /// The path as listed (name cleaned, components raw), when clean-up changed it.
    original: String,
    issues: Vec<PathIssue>,
}

/// BEP 47 attributes.
#[derive(Clone, Copy, Default)]
struct Attr {
    padding: bool,
    symlink: bool,
    executable: bool,
    hidden: bool,
}

impl Attr {
    fn of(dict: &Value<'_>) -> Attr {
        let a = dict
            .get("attr")
            .and_then(Value::as_bytes)
            .unwrap_or_default();
        Attr {
            padding: a.contains(&b'p'),
            symlink: a.contains(&b'l'),
            executable: a.contains(&b'x'),
            hidden: a.contains(&b'h'),
        }
    }
}

/// The file list with offsets, the symlinks, and whether the torrent is multi-file.
pub(super) fn parse_files(info: &Value<'_>, name: &Name) -> Result<Files> {
    match (info.get("length"), info.get("files")) {
        (Some(_), Some(_)) => Err(MetainfoError::BothLengthAndFiles),
        (None, None) => Err(MetainfoError::MissingField("length or files")),
        (Some(len), None) => {
            let attr = Attr::of(info);
            let file = FileInfo {
                path: PathBuf::from(&name.text),
                // A single-file symlink has no data; the torrent is then refused as empty.
                length: if attr.symlink {
                    0
                } else {
                    file_length(len, 0)?
                },
                offset: 0,
                padding: false,
                executable: attr.executable,
                hidden: attr.hidden,
            };
            Ok(Files {
                files: vec![file],
                symlinks: Vec::new(),
                changes: name.change.iter().cloned().collect(),
                multi_file: false,
            })
        }
        (None, Some(list)) => {
            let list = list.as_list().ok_or(MetainfoError::WrongType("files"))?;
            if list.is_empty() {
                return Err(MetainfoError::EmptyFileList);
            }
            let entries = list
                .iter()
                .enumerate()
                .map(|(index, e)| parse_entry(e, index, &name.text))
                .collect::<Result<Vec<_>>>()?;
            assemble(entries, name)
        }
    }
}

fn file_length(value: &Value<'_>, file: usize) -> Result<u64> {
    let n = value.as_int().ok_or(MetainfoError::WrongType("length"))?;
    u64::try_from(n).map_err(|_| MetainfoError::NegativeLength { file, length: n })
}

/// One entry of `files`: `length`, `path` (or `path.utf-8`), BEP 47 `attr` and `symlink path`.
fn parse_entry(entry: &Value<'_>, index: usize, name: &str) -> Result<Entry> {
    if entry.as_dict().is_none() {
        return Err(MetainfoError::WrongType("files"));
    }
    let length = entry
        .get("length")
        .ok_or(MetainfoError::MissingField("length"))?;
    let length = file_length(length, index)?;
    let raw = raw_components(entry)?;
    let mut attr = Attr::of(entry);
    if raw.last().is_some_and(|c| c.starts_with(BITCOMET_PADDING)) {
        attr.padding = true;
    }
    // A symlink without a target is an ordinary file, as libtorrent reads it.
    let target = entry
        .get("symlink path")
        .and_then(Value::as_list)
        .filter(|_| attr.symlink && !attr.padding)
        .map(|parts| symlink_target(parts, name));
    attr.symlink = target.is_some();
    let (path, issues) = clean_path(name, &raw);
    let mut original = name.to_owned();
    for c in &raw {
        original.push('/');
        original.push_str(&String::from_utf8_lossy(c));
    }
    Ok(Entry {
        path,
        // BEP 47: a symlink takes no bytes of the torrent's stream, whatever `length` says.
        length: if attr.symlink { 0 } else { length },
        attr,
        target,
        original,
        issues,
    })
}

/// A file's raw path components: `path.utf-8` when it is a list of valid UTF-8 strings, else
/// `path` (any bytes; they are decoded lossily later).
fn raw_components<'a>(entry: &Value<'a>) -> Result<Vec<&'a [u8]>> {
    let utf8 = entry.get("path.utf-8").and_then(|p| {
        p.as_list()?
            .iter()
            .map(|c| c.as_str().map(str::as_bytes))
            .collect::<Option<Vec<_>>>()
    });
    if let Some(components) = utf8 {
        return Ok(components);
    }
    let raw = entry
        .get("path")
        .ok_or(MetainfoError::MissingField("path"))?;
    let list = raw.as_list().ok_or(MetainfoError::WrongType("path"))?;
    list.iter()
        .map(|c| c.as_bytes().ok_or(MetainfoError::WrongType("path")))
        .collect()
}

/// `name` joined with the cleaned components; `name/_` when none is left.
fn clean_path(name: &str, raw: &[&[u8]]) -> (PathBuf, Vec<PathIssue>) {
    let mut issues = Vec::new();
    let mut path = PathBuf::from(name);
    let mut any = false;
    for c in raw {
        if let Some(c) = clean_component(c, &mut issues) {
            path.push(c);
            any = true;
        }
    }
    if !any {
        note(&mut issues, PathIssue::NoComponents);
        path.push("_");
    }
    (path, issues)
}

/// A symlink's target: BEP 47 gives it relative to the torrent's root folder. Cleaned like a path
/// (`..` dropped, as libtorrent does), so it can never leave that folder; no components left
/// means the root folder itself.
fn symlink_target(parts: &[Value<'_>], name: &str) -> PathBuf {
    let mut target = PathBuf::from(name);
    let mut ignored = Vec::new();
    for c in parts.iter().filter_map(Value::as_bytes) {
        if let Some(c) = clean_component(c, &mut ignored) {
            target.push(c);
        }
    }
    target
}

/// Makes the paths unique, then lays the files out in the stream.
fn assemble(mut entries: Vec<Entry>, name: &Name) -> Result<Files> {
    // Padding files are never written, so their (often repeated) paths do not count.
    let real: Vec<usize> = (0..entries.len())
        .filter(|&i| !entries[i].attr.padding)
        .collect();
    let mut paths: Vec<PathBuf> = real
        .iter()
        .map(|&i| std::mem::take(&mut entries[i].path))
        .collect();
    for (k, why) in make_unique(&mut paths) {
        note(&mut entries[real[k]].issues, why);
    }
    for (&i, p) in real.iter().zip(paths) {
        entries[i].path = p;
    }
    let mut out = Files {
        files: Vec::with_capacity(entries.len()),
        symlinks: Vec::new(),
        changes: name.change.iter().cloned().collect(),
        multi_file: true,
    };
    let mut offset = 0u64;
    for e in entries {
        if !e.issues.is_empty() && !e.attr.padding {
            out.changes.push(PathChange {
                original: e.original,
                cleaned: e.path.clone(),
                issues: e.issues,
            });
        }
        if let Some(target) = e.target {
            out.symlinks.push(Symlink {
                path: e.path,
                target,
            });
            continue;
        }
        out.files.push(FileInfo {
            path: e.path,
            length: e.length,
            offset,
            padding: e.attr.padding,
            executable: e.attr.executable,
            hidden: e.attr.hidden,
        });
        offset = offset
            .checked_add(e.length)
            .ok_or(MetainfoError::LengthOverflow)?;
    }
    Ok(out)
}
