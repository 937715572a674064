//! What happens before a download or seed runs, and what a failed start leaves behind: the
//! listen port (the next free one when the asked one is taken), the check that `seed --data`
//! points at the torrent's data, and removing the folders a failed start created.
//!
//! Part of the binary (main thread); only the public library API and the file system.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use coracle::Metainfo;
use coracle::{Session, SessionConfig};

use super::{printable, Failure, RunArgs};

/// Ports tried after a taken one: N+1 to N+9, as libtorrent retries the next ports by default.
pub const PORT_TRIES: u16 = 10;

/// Starts the session on the asked port, or on the next free one of [`PORT_TRIES`] (found by
/// binding a probe listener: another program may still take it first, and then the session's
/// own bind reports that). Returns it and, when it had to move, the port that was taken.
pub fn open_session(mut cfg: SessionConfig) -> Result<(Session, Option<u16>), Failure> {
    let asked = cfg.listen.port();
    let ip = cfg.listen.ip();
    if asked != 0 {
        let free = (asked..asked.saturating_add(PORT_TRIES))
            .find(|&p| std::net::TcpListener::bind(SocketAddr::new(ip, p)).is_ok());
        match free {
            Some(p) => cfg.listen.set_port(p),
            None => {
                return Err(format!(
                    "listening on {ip}:{asked}: ports {asked} to {} are all in use; choose \
                     another with --port",
                    asked.saturating_add(PORT_TRIES - 1)
                )
                .into())
            }
        }
    }
    let port = cfg.listen.port();
    let session = Session::new(cfg).map_err(|e| e.to_string())?;
    Ok((session, (port != asked).then_some(asked)))
}

/// `seed` never creates data: when none of the torrent's files is under `--data`, it stops and
/// says where the data should be, with the parent folder when `--data` looks like the
/// torrent's own folder (or its file).
pub fn check_seed_data(args: &RunArgs, meta: &Metainfo) -> Result<(), Failure> {
    let real = || meta.files.iter().filter(|f| !f.padding);
    if real().any(|f| args.dir.join(&f.path).exists()) {
        return Ok(());
    }
    let dir = printable(&args.dir.display().to_string());
    let name = printable(&meta.name);
    let mut msg = format!(
        "no data to seed: '{name}' is not in {dir} (--data is the folder that holds '{name}')"
    );
    // `--data out/multi` for a torrent named `multi`, or files of the torrent inside `--data`.
    let inside = real().any(|f| {
        let mut parts = f.path.components();
        parts.next();
        let rest = parts.as_path();
        !rest.as_os_str().is_empty() && args.dir.join(rest).exists()
    });
    let named_like = args
        .dir
        .file_name()
        .is_some_and(|n| n == meta.name.as_str());
    if inside || named_like {
        let parent = match args.dir.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from(".."),
        };
        msg.push_str(&format!(
            "; {dir} looks like the torrent's own folder: try --data {}",
            printable(&parent.display().to_string())
        ));
    }
    Err(msg.into())
}

/// The folders a start may create, noted before it: on failure the empty ones are removed, so
/// a failed start leaves the file system as it was (files are never removed).
pub struct Cleanup {
    /// Missing folders, outermost first: `-o`'s missing ancestors, then the torrent's folder.
    missing: Vec<PathBuf>,
}

impl Cleanup {
    /// Notes which of `dir` and its ancestors, and of `dir/name`, do not exist yet.
    pub fn note(dir: &Path, name: Option<&str>) -> Cleanup {
        let mut missing: Vec<PathBuf> = dir
            .ancestors()
            .filter(|a| !a.as_os_str().is_empty() && !a.exists())
            .map(Path::to_path_buf)
            .collect();
        missing.reverse();
        if let Some(n) = name.filter(|n| !n.is_empty()) {
            let root = dir.join(n);
            if !root.exists() {
                missing.push(root);
            }
        }
        Cleanup { missing }
    }

    /// Removes every noted folder that holds nothing but empty folders, innermost first.
    pub fn remove_empty(&self) {
        for dir in self.missing.iter().rev() {
            remove_empty_tree(dir);
        }
    }
}

/// Removes `dir` if it and every folder below it hold no file; true when it is gone.
fn remove_empty_tree(dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    let mut empty = true;
    for e in entries.flatten() {
        let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
        empty &= is_dir && remove_empty_tree(&e.path());
    }
    empty && std::fs::remove_dir(dir).is_ok()
}
