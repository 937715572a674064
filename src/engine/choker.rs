//! Who we upload to: a few regular slots by rate plus one optimistic unchoke (BEP 3's tit-for-tat).
//!
//! Pure function over a snapshot of the peers, called by the torrent core (reactor thread) every
//! [`RECHOKE_INTERVAL`]; the optimistic slot rotates every [`OPTIMISTIC_INTERVAL`]. Sans-IO: no
//! clock, no randomness source of its own (the caller passes a random number).

use std::time::Duration;

/// How often the regular slots are recomputed.
pub const RECHOKE_INTERVAL: Duration = Duration::from_secs(10);
/// How often the optimistic slot moves to another peer.
pub const OPTIMISTIC_INTERVAL: Duration = Duration::from_secs(30);

/// What the choker needs to know of one peer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Candidate {
    /// The connection.
    pub conn: usize,
    /// It wants our data.
    pub interested: bool,
    /// Bytes per second it sends us (what we reciprocate while downloading).
    pub down_rate: f64,
    /// Bytes per second we send it (what we favour while seeding: whoever takes data fastest).
    pub up_rate: f64,
}

/// The connections to unchoke.
///
/// While downloading, the `slots - 1` interested peers that send us the most get regular slots;
/// while seeding, those we upload to fastest do. `optimistic` (if still interested and not already
/// chosen) takes the last slot; when it is `None` or no longer eligible, a peer is drawn with
/// `random` among the interested rest. Returns the unchoke set and the optimistic peer in use.
/// No slots means no uploads at all (as libtorrent's `unchoke_slots_limit = 0`): Fast peers then
/// get only their allowed-fast pieces.
pub fn choose(
    peers: &[Candidate],
    slots: usize,
    seeding: bool,
    optimistic: Option<usize>,
    random: u64,
) -> (Vec<usize>, Option<usize>) {
    if slots == 0 {
        return (Vec::new(), None);
    }
    let mut interested: Vec<&Candidate> = peers.iter().filter(|p| p.interested).collect();
    let key = |c: &Candidate| if seeding { c.up_rate } else { c.down_rate };
    interested.sort_by(|a, b| key(b).total_cmp(&key(a)).then(a.conn.cmp(&b.conn)));
    let regular = slots.saturating_sub(1);
    let mut chosen: Vec<usize> = interested.iter().take(regular).map(|c| c.conn).collect();
    let rest: Vec<usize> = interested.iter().skip(regular).map(|c| c.conn).collect();
    let optimistic = match optimistic {
        Some(o) if rest.contains(&o) => Some(o),
        _ if rest.is_empty() => None,
        _ => Some(rest[(random % rest.len() as u64) as usize]),
    };
    chosen.extend(optimistic);
    (chosen, optimistic)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(conn: usize, interested: bool, down: f64, up: f64) -> Candidate {
        Candidate {
            conn,
            interested,
            down_rate: down,
            up_rate: up,
        }
    }

    #[test]
    fn downloading_reciprocates_fastest_senders() {
        let peers = [
            c(1, true, 10.0, 0.0),
            c(2, true, 50.0, 0.0),
            c(3, false, 99.0, 0.0),
            c(4, true, 30.0, 0.0),
            c(5, true, 1.0, 0.0),
        ];
        let (set, opt) = choose(&peers, 3, false, None, 0);
        assert_eq!(&set[..2], &[2, 4]);
        assert!(opt == Some(1) || opt == Some(5));
        assert_eq!(set.len(), 3);
        assert!(!set.contains(&3), "uninterested peers are never unchoked");
    }

    #[test]
    fn seeding_favours_fastest_takers_and_keeps_optimistic() {
        let peers = [
            c(1, true, 0.0, 5.0),
            c(2, true, 0.0, 9.0),
            c(3, true, 0.0, 1.0),
        ];
        let (set, opt) = choose(&peers, 2, true, Some(3), 7);
        assert_eq!(set, vec![2, 3]);
        assert_eq!(opt, Some(3));
        let (set, opt) = choose(&peers, 2, true, Some(2), 1);
        assert_eq!(set[0], 2);
        assert_ne!(
            opt,
            Some(2),
            "a regular peer is not also the optimistic one"
        );
    }

    #[test]
    fn nobody_interested_means_nobody_unchoked() {
        let (set, opt) = choose(&[c(1, false, 1.0, 1.0)], 4, false, Some(1), 0);
        assert!(set.is_empty());
        assert_eq!(opt, None);
    }

    #[test]
    fn no_slots_means_nobody_unchoked() {
        let peers = [c(1, true, 5.0, 5.0), c(2, true, 1.0, 1.0)];
        assert_eq!(choose(&peers, 0, true, Some(1), 3), (Vec::new(), None));
    }
}
