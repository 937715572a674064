//! A magnet's way from metadata to storage on the reactor's side: the engine hands over the
//! verified info dictionary, the reactor builds the metainfo (pure, quick) and publishes it to
//! the handles, then a short-lived thread creates and reserves the files, so gigabytes of
//! `fallocate` never stall the reactor. The result comes back over a channel plus the waker,
//! and the engine goes on with the same peers.
//!
//! Runs on the reactor thread (and the one helper thread per magnet).

// I/O shell: a helper thread per magnet creates its files.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::{unbounded, Receiver, Sender};

use super::{Pending, Reactor, Shelf, Wake};
use crate::disk::{choose_files, open_torrent, Opened, StorageError};
use crate::engine::{TorrentError, TorrentId};
use crate::metainfo::Metainfo;
use crate::selection::PieceWants;

/// A magnet's files, opened (or not) on a helper thread.
pub(crate) struct OpenedFiles {
    torrent: TorrentId,
    meta: Arc<Metainfo>,
    result: Result<Opened, StorageError>,
    /// The pieces its file choice asks for.
    wants: PieceWants,
}

/// The magnets of a session that have no storage yet, and the channel their files come back on.
pub(crate) struct Magnets {
    pub pending: HashMap<TorrentId, Pending>,
    tx: Sender<OpenedFiles>,
    rx: Receiver<OpenedFiles>,
    wake: Wake,
}

impl Magnets {
    pub fn new(wake: Wake) -> Magnets {
        let (tx, rx) = unbounded();
        Magnets {
            pending: HashMap::new(),
            tx,
            rx,
            wake,
        }
    }

    pub fn try_recv(&self) -> Option<OpenedFiles> {
        self.rx.try_recv().ok()
    }
}

impl Reactor {
    /// The engine verified a magnet's metadata: publish the metainfo and open the files.
    pub(super) fn metadata_received(&mut self, torrent: TorrentId, info: &[u8]) {
        let now = Instant::now();
        let Some(pending) = self.magnets.pending.get(&torrent) else {
            return; // removed meanwhile
        };
        let meta = match Metainfo::from_info_bytes(info) {
            Ok(m) => Arc::new(m),
            Err(e) => {
                // The bytes hash to the info-hash, so the torrent itself is unusable as it is.
                let why = TorrentError::Metadata(e.to_string());
                return self.engine.fail_torrent(torrent, why, now);
            }
        };
        let _ = pending.meta.set(meta.clone());
        if pending.stop_at_metadata {
            pending.status.set_stopped();
            self.magnets.pending.remove(&torrent);
            self.engine.remove_torrent(torrent, now);
            return;
        }
        let (output, cfg) = (pending.output.clone(), pending.storage.clone());
        // Pure and quick: no file is read. A choice that does not fit fails the torrent
        // before any file exists.
        let chosen = match choose_files(&meta, &output, &pending.file_priorities, &pending.select) {
            Ok(c) => c,
            Err(e) => {
                let why = TorrentError::Selection(e.to_string());
                return self.engine.fail_torrent(torrent, why, now);
            }
        };
        let (tx, wake) = (self.magnets.tx.clone(), self.magnets.wake.clone());
        let spawned = super::spawn_helper(
            "coracle-open",
            Box::new(move || {
                let result = open_torrent(&meta, &output, &cfg, chosen.skip.as_ref());
                let _ = tx.send(OpenedFiles {
                    torrent,
                    meta,
                    result,
                    wants: chosen.wants,
                });
                let _ = wake.wake();
            }),
        );
        if let Err(e) = spawned {
            let why = TorrentError::Storage(format!("starting a thread to create the files: {e}"));
            self.engine.fail_torrent(torrent, why, now);
        }
    }

    /// A magnet's files are ready (or could not be made): the torrent goes on or fails.
    pub(super) fn storage_opened(&mut self, opened: OpenedFiles) {
        let now = Instant::now();
        let Some(pending) = self.magnets.pending.remove(&opened.torrent) else {
            return; // removed meanwhile: dropping the storage closes the files
        };
        match opened.result {
            Ok(Opened { storage, recheck }) => {
                let layout = opened.meta.layout();
                let private = opened.meta.private;
                let shelf = Shelf::new(
                    opened.meta,
                    storage,
                    pending.resume,
                    pending.status,
                    pending.output,
                );
                let _ = pending.opened.set(shelf.storage.clone());
                self.shelves.insert(opened.torrent, shelf);
                let wants = Some(opened.wants);
                self.engine
                    .attach_metadata(opened.torrent, layout, private, recheck, wants, now);
            }
            Err(e) => {
                self.engine
                    .fail_torrent(opened.torrent, TorrentError::Storage(e.to_string()), now);
                // The status cell is set by the Failed event, which needs the pending entry.
                self.magnets.pending.insert(opened.torrent, pending);
            }
        }
    }
}
