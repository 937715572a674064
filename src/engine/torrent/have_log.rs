//! The pieces this torrent verified, in order, so each peer's `have`s can go out at its own
//! pace: peers that want our data hear them within 100 ms, the rest once a second.
//!
//! A thousand idle peers (not interested in us) each took one write per tick before, and with
//! loopback every write also runs the receiver's TCP path on our thread. Each peer keeps a
//! position in this log; what lies past it is what that peer has not been told.
//!
//! Part of the sans-IO torrent core (reactor thread); see the parent module.

/// Verified pieces in order, with positions that stay valid as the front is trimmed.
#[derive(Debug, Default)]
pub(crate) struct HaveLog {
    pieces: Vec<u32>,
    /// Position of `pieces[0]`: entries before it were sent to every peer and dropped.
    base: usize,
}

impl HaveLog {
    /// Records a verified piece.
    pub(crate) fn push(&mut self, piece: u32) {
        self.pieces.push(piece);
    }

    /// The position after the newest entry: where a peer stands once told everything (or
    /// when it joins, since its bitfield already covers every entry).
    pub(crate) fn end(&self) -> usize {
        self.base + self.pieces.len()
    }

    /// The entries from position `pos` on (all that are kept, if `pos` was trimmed).
    pub(crate) fn since(&self, pos: usize) -> &[u32] {
        let start = pos.saturating_sub(self.base).min(self.pieces.len());
        &self.pieces[start..]
    }

    /// Drops the entries before `pos`, which every peer has passed.
    pub(crate) fn trim(&mut self, pos: usize) {
        let n = pos.saturating_sub(self.base).min(self.pieces.len());
        self.pieces.drain(..n);
        self.base += n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_survive_trimming() {
        let mut log = HaveLog::default();
        assert_eq!(log.end(), 0);
        for p in [5, 9, 2] {
            log.push(p);
        }
        let slow = 1; // told about piece 5 only
        assert_eq!(log.since(slow), &[9, 2]);
        log.trim(slow);
        assert_eq!(log.since(slow), &[9, 2]);
        assert_eq!(log.since(log.end()), &[] as &[u32]);
        log.push(7);
        assert_eq!((log.end(), log.since(3)), (4, &[7][..]));
        log.trim(4);
        assert_eq!(log.since(4), &[] as &[u32]);
        log.push(1);
        assert_eq!(log.since(4), &[1]);
        // Trimming past the end or backwards is harmless.
        log.trim(99);
        log.trim(0);
        assert_eq!(log.end(), 5);
    }
}
