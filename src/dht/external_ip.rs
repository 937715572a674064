//! Our external IPv4 address as other DHT nodes see it: the `ip` key of their replies (BEP 42),
//! counted as votes so that one node, or a few, cannot move it.
//!
//! Pure data, owned by the [`Dht`](super::Dht) on the reactor thread. Each voter (a source
//! address) holds one vote, its latest; at most [`MAX_VOTERS`] are remembered, oldest forgotten
//! first, so memory is fixed and a flood from many addresses only replaces old votes. An address
//! becomes the decision when at least [`MIN_AGREEING`] voters name it and they are more than half
//! of all remembered votes. Local addresses (loopback, private, CGNAT) are never a decision:
//! BEP 42 exempts them, and a node behind NAT learns its public address from outside voters.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr};

use super::id::is_local;

/// Voters remembered.
pub const MAX_VOTERS: usize = 64;
/// Distinct voters that must agree before an address is believed.
pub const MIN_AGREEING: usize = 5;

/// The votes so far and the address they decided on.
#[derive(Debug, Default)]
pub struct IpVoter {
    /// (voter, the address it says we have), oldest first; one entry per voter.
    votes: VecDeque<(IpAddr, Ipv4Addr)>,
    decided: Option<Ipv4Addr>,
}

impl IpVoter {
    /// The address decided on so far.
    pub fn decided(&self) -> Option<Ipv4Addr> {
        self.decided
    }

    /// `voter` says our address is `said`. Returns the new decision when this vote changes it.
    pub fn vote(&mut self, voter: IpAddr, said: IpAddr) -> Option<Ipv4Addr> {
        let IpAddr::V4(said) = said else {
            return None;
        };
        if is_local(IpAddr::V4(said)) || said.is_broadcast() || said.is_multicast() {
            return None;
        }
        self.votes.retain(|(v, _)| *v != voter);
        if self.votes.len() == MAX_VOTERS {
            self.votes.pop_front();
        }
        self.votes.push_back((voter, said));
        let leader = self.leader()?;
        if self.decided == Some(leader) {
            return None;
        }
        self.decided = Some(leader);
        Some(leader)
    }

    /// The address named by at least [`MIN_AGREEING`] voters and by more than half of them.
    fn leader(&self) -> Option<Ipv4Addr> {
        let (_, candidate) = *self.votes.back()?;
        let agreeing = self.votes.iter().filter(|(_, s)| *s == candidate).count();
        (agreeing >= MIN_AGREEING && agreeing * 2 > self.votes.len()).then_some(candidate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn voter(i: u8) -> IpAddr {
        IpAddr::from([198, 51, 100, i])
    }

    const OURS: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 7);
    const LIE: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

    #[test]
    fn five_distinct_voters_decide_and_repeats_do_not_count() {
        let mut v = IpVoter::default();
        for _ in 0..10 {
            assert_eq!(v.vote(voter(1), OURS.into()), None, "one voter, many votes");
        }
        for i in 2..5 {
            assert_eq!(v.vote(voter(i), OURS.into()), None);
        }
        assert_eq!(v.vote(voter(5), OURS.into()), Some(OURS));
        assert_eq!(v.vote(voter(6), OURS.into()), None, "already decided");
        assert_eq!(v.decided(), Some(OURS));
    }

    #[test]
    fn a_minority_of_liars_cannot_move_it_and_local_addresses_never_win() {
        let mut v = IpVoter::default();
        for i in 1..=8 {
            v.vote(voter(i), OURS.into());
        }
        for i in 20..=26 {
            assert_eq!(v.vote(voter(i), LIE.into()), None, "7 liars against 8");
        }
        assert_eq!(v.decided(), Some(OURS));
        let mut local = IpVoter::default();
        for i in 1..=10 {
            assert_eq!(local.vote(voter(i), IpAddr::from([127, 0, 0, 1])), None);
            assert_eq!(local.vote(voter(i), IpAddr::from([192, 168, 1, 2])), None);
        }
        assert_eq!(local.decided(), None);
    }

    #[test]
    fn memory_is_bounded_and_a_real_move_is_followed() {
        let mut v = IpVoter::default();
        for i in 0..=255 {
            v.vote(voter(i), OURS.into());
        }
        assert_eq!(v.votes.len(), MAX_VOTERS);
        // The address really changed (a new lease): once most voters say so, it moves.
        let moved = Ipv4Addr::new(203, 0, 113, 99);
        let mut changed = None;
        for i in 0..=255 {
            changed = changed.or(v.vote(IpAddr::from([198, 51, 101, i]), moved.into()));
        }
        assert_eq!(changed, Some(moved));
    }
}
