//! BEP 47 symlinks on disk: created once a torrent's data is complete (a link's target is one of
//! the torrent's own files or folders, which must exist first).
//!
//! Runs on its caller's thread: in a session, a short-lived `coracle-links` thread the reactor
//! starts when a torrent completes (`reactor/links.rs`), never the reactor itself.
//!
//! Safety: a link is made only when its target stays inside the torrent's folder (metainfo
//! guarantees it; this checks again, so a hand-built [`Symlink`] cannot point out), it is stored
//! relative (`../b/file`) so nothing outside is named, and nothing already on disk is replaced.

use std::io;
use std::path::{Component, Path};

use super::error::{io_err, StorageError};
use crate::metainfo::Symlink;

/// What happened to one symlink.
#[derive(Debug)]
pub enum LinkOutcome {
    /// The link was created.
    Created,
    /// The same link was already there (an earlier run made it).
    AlreadyThere,
    /// Something else is at the link's path; it was left alone.
    Occupied,
    /// The target is outside the torrent's folder (or the path is not a plain relative one).
    Refused,
    /// Creating the link (or its folder) failed.
    Failed(StorageError),
}

/// Creates each of `links` under `root` (the download folder), returning one outcome per link in
/// order. Never replaces or deletes anything.
pub fn create_symlinks(root: &Path, links: &[Symlink]) -> Vec<LinkOutcome> {
    links.iter().map(|l| create_one(root, l)).collect()
}

fn create_one(root: &Path, link: &Symlink) -> LinkOutcome {
    if !stays_inside(link) {
        return LinkOutcome::Refused;
    }
    let text = link.link_text();
    let at = root.join(&link.path);
    match std::fs::symlink_metadata(&at) {
        Ok(m) if m.file_type().is_symlink() => {
            return match std::fs::read_link(&at) {
                Ok(existing) if existing == text => LinkOutcome::AlreadyThere,
                _ => LinkOutcome::Occupied,
            };
        }
        Ok(_) => return LinkOutcome::Occupied,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return LinkOutcome::Failed(io_err(&at, "inspect", e)),
    }
    if let Some(parent) = at.parent() {
        if let Err(e) = std::fs::create_dir_all(parent) {
            return LinkOutcome::Failed(io_err(parent, "create folder", e));
        }
    }
    match std::os::unix::fs::symlink(&text, &at) {
        Ok(()) => LinkOutcome::Created,
        Err(e) => LinkOutcome::Failed(io_err(&at, "create symlink", e)),
    }
}

/// Both paths relative and plain, and the target under the link's top folder (the torrent's).
fn stays_inside(link: &Symlink) -> bool {
    let plain = |p: &Path| {
        p.components().count() > 0 && p.components().all(|c| matches!(c, Component::Normal(_)))
    };
    let top = link.path.components().next();
    plain(&link.path)
        && plain(&link.target)
        && link.path.components().count() > 1
        && link.target.components().next() == top
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn scratch(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("coracle-links-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("top/b")).unwrap();
        std::fs::write(dir.join("top/b/file"), b"data").unwrap();
        dir
    }

    fn link(path: &str, target: &str) -> Symlink {
        Symlink {
            path: PathBuf::from(path),
            target: PathBuf::from(target),
        }
    }

    #[test]
    fn links_are_relative_and_resolve_inside() {
        let root = scratch("ok");
        let links = [link("top/a/deep/l", "top/b/file"), link("top/dir", "top/b")];
        let out = create_symlinks(&root, &links);
        assert!(matches!(
            out[..],
            [LinkOutcome::Created, LinkOutcome::Created]
        ));
        let l = root.join("top/a/deep/l");
        assert_eq!(std::fs::read_link(&l).unwrap(), Path::new("../../b/file"));
        assert_eq!(std::fs::read(&l).unwrap(), b"data");
        assert_eq!(std::fs::read(root.join("top/dir/file")).unwrap(), b"data");
        // A second run finds them made.
        let again = create_symlinks(&root, &links);
        assert!(matches!(
            again[..],
            [LinkOutcome::AlreadyThere, LinkOutcome::AlreadyThere]
        ));
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn nothing_on_disk_is_replaced_and_escapes_are_refused() {
        let root = scratch("refuse");
        let out = create_symlinks(
            &root,
            &[
                link("top/b/file", "top/b"),
                link("top/x", "other/file"),
                link("top/y", "top/../../etc/passwd"),
                link("/top/z", "top/b"),
                link("top", "top/b"),
            ],
        );
        assert!(matches!(out[0], LinkOutcome::Occupied));
        assert!(out[1..].iter().all(|o| matches!(o, LinkOutcome::Refused)));
        assert_eq!(std::fs::read(root.join("top/b/file")).unwrap(), b"data");
        assert!(std::fs::symlink_metadata(root.join("top/x")).is_err());
        std::fs::remove_dir_all(&root).unwrap();
    }
}
