//! The simulated disk: each node's storage is a [`MemoryStore`](coracle::sansio::MemoryStore)
//! behind the same [`execute`] the pool's workers run, so the engine gets the answers a real
//! shell gives; only the time they take is simulated.

use std::time::Duration;

use coracle::sansio::execute;
use coracle::sansio::{DiskDone, DiskRequest};

use super::{Event, Sim};

/// Time to hash and write a piece.
const VERIFY_DELAY: Duration = Duration::from_millis(2);
/// Time to read a block.
const READ_DELAY: Duration = Duration::from_micros(300);

impl Sim {
    pub(super) fn disk(&mut self, node: usize, req: DiskRequest) {
        let delay = match req {
            DiskRequest::Read { .. } => READ_DELAY,
            _ => VERIFY_DELAY,
        };
        let n = &mut self.nodes[node];
        if let DiskRequest::Read { piece, .. } = &req {
            n.served[*piece as usize] += 1;
        }
        let Some(done) = execute(req, &n.disk, &mut Vec::new()) else {
            return;
        };
        match done {
            DiskDone::Verified {
                piece, ok: true, ..
            } => n.verified_ok[piece as usize] += 1,
            DiskDone::Verified { ok: false, .. } => n.hash_failed_at.push(self.now),
            _ => {}
        }
        self.schedule(delay, Event::Disk { node, done });
    }
}
