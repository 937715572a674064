//! The DHT's lasting state on disk: `STATE_DIR/dht.dat`, the node id and good nodes, so that a
//! restart needs no bootstrap router.
//!
//! Read once by the session at start (on the caller's thread); written by the reactor at
//! shutdown, and in between on a short-lived thread of its own (never on the reactor: a slow
//! disk must not stall the peers). Every write goes to a temporary file that is then renamed
//! over the old one, so a crash leaves the old state or the new, never half of one.

// I/O shell: reads and writes the state file, and starts the thread that writes it meanwhile.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

/// The file's name in the state directory.
pub const FILE: &str = "dht.dat";
/// Largest state file read (a full table is about 13 KB).
const MAX_LEN: u64 = 1 << 20;

/// The state file in `dir`.
pub fn path(dir: &Path) -> PathBuf {
    dir.join(FILE)
}

/// The saved state, if there is a readable one.
pub fn load(file: &Path) -> Option<Vec<u8>> {
    use std::io::Read;
    let f = std::fs::File::open(file).ok()?;
    let mut bytes = Vec::new();
    f.take(MAX_LEN).read_to_end(&mut bytes).ok()?;
    Some(bytes)
}

/// Writes `bytes` to `file` through a temporary file and a rename; makes the folder if needed.
pub fn save(file: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = file.with_extension("dat.tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, file)
}

/// Saves on a thread of its own, unless the previous save is still running (then this one is
/// skipped: the next will carry newer nodes anyway).
pub struct Saver {
    file: PathBuf,
    running: Option<JoinHandle<()>>,
}

impl Saver {
    /// A saver for `file`.
    pub fn new(file: PathBuf) -> Saver {
        Saver {
            file,
            running: None,
        }
    }

    /// Starts writing `bytes` in the background.
    pub fn save_later(&mut self, bytes: Vec<u8>) {
        if self.running.as_ref().is_some_and(|t| !t.is_finished()) {
            return;
        }
        let file = self.file.clone();
        let spawned = super::spawn_helper(
            "coracle-dht-save",
            Box::new(move || {
                if let Err(e) = save(&file, &bytes) {
                    log::warn!("saving the DHT state to {}: {e}", file.display());
                }
            }),
        );
        match spawned {
            Ok(t) => self.running = Some(t),
            Err(e) => log::warn!("saving the DHT state: {e}"),
        }
    }

    /// Waits for a background save, then writes `bytes` (at shutdown).
    pub fn save_now(&mut self, bytes: &[u8]) {
        if let Some(t) = self.running.take() {
            let _ = t.join();
        }
        match save(&self.file, bytes) {
            Ok(()) => log::debug!("DHT state saved to {}", self.file.display()),
            Err(e) => log::warn!("saving the DHT state to {}: {e}", self.file.display()),
        }
    }
}
