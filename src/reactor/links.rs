//! BEP 47 symlinks, made once a torrent's data is complete: a link's target is one of the
//! torrent's own files, which must exist (and be whole) first.
//!
//! The reactor starts a short-lived `coracle-links` thread per completed torrent that has links
//! (never creating them itself: that is file-system work), which marks the torrent complete for
//! its handles once the links are made; the reactor joins what is left at shutdown.
//! What each link came to is logged; nothing is replaced or deleted (see [`crate::disk::links`]).

use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;

use super::StatusCell;
use crate::disk::{create_symlinks, LinkOutcome};
use crate::metainfo::Metainfo;

/// The link threads still running.
#[derive(Default)]
pub(crate) struct Links {
    running: Vec<JoinHandle<()>>,
}

impl Links {
    /// Creates `meta`'s symlinks under `root` on their own thread, then marks the torrent
    /// complete in `status`, so a handle's `wait` returns with the links made. Without links,
    /// marks it complete at once.
    pub fn complete(&mut self, meta: &Arc<Metainfo>, root: PathBuf, status: &Arc<StatusCell>) {
        if meta.symlinks.is_empty() {
            status.set_complete();
            return;
        }
        self.running.retain(|h| !h.is_finished());
        let (m, done) = (meta.clone(), status.clone());
        let spawned = std::thread::Builder::new()
            .name("coracle-links".into())
            .spawn(move || {
                let meta = m;
                let outcomes = create_symlinks(&root, &meta.symlinks);
                for (link, outcome) in meta.symlinks.iter().zip(outcomes) {
                    let at = link.path.display();
                    match outcome {
                        LinkOutcome::Created | LinkOutcome::AlreadyThere => {
                            log::debug!("{}: symlink {at}", meta.name)
                        }
                        LinkOutcome::Occupied => {
                            log::warn!("{}: symlink {at} not made: something is there", meta.name)
                        }
                        LinkOutcome::Refused => {
                            log::warn!("{}: symlink {at} refused: points outside", meta.name)
                        }
                        LinkOutcome::Failed(e) => log::warn!("{}: symlink {at}: {e}", meta.name),
                    }
                }
                done.set_complete();
            });
        match spawned {
            Ok(h) => self.running.push(h),
            Err(e) => {
                log::warn!("{}: cannot start a thread for symlinks: {e}", meta.name);
                status.set_complete();
            }
        }
    }

    /// Waits for the link threads still running (each only makes a few links).
    pub fn join(&mut self) {
        for h in self.running.drain(..) {
            let _ = h.join();
        }
    }
}
