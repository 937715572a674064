use super::*;
use std::net::IpAddr;

fn node(first: u8) -> NodeInfo {
    let mut id = [0u8; 20];
    id[0] = first;
    NodeInfo {
        id: NodeId(id),
        addr: SocketAddr::new(IpAddr::from([10, 0, 0, first]), 1),
    }
}

fn lookup(seeds: &[NodeInfo]) -> Lookup {
    Lookup::new(LookupId(1), NodeId([0; 20]), Goal::GetPeers, seeds)
}

#[test]
fn alpha_in_flight_closest_first() {
    let seeds: Vec<NodeInfo> = (1..=10).rev().map(node).collect();
    let mut l = lookup(&seeds);
    let asked: Vec<u8> = std::iter::from_fn(|| l.next_query())
        .map(|n| n.id.0[0])
        .collect();
    assert_eq!(asked, [1, 2, 3], "alpha = 3, closest first");
    // A stall frees a slot without giving up on the node.
    l.stalled(node(1).addr);
    assert_eq!(l.next_query().map(|n| n.id.0[0]), Some(4));
    assert!(l.next_query().is_none());
    // The slow node still answers: its slot was already freed.
    l.replied(node(1).addr, false, None, &[]);
    assert!(l.next_query().is_none());
    l.replied(node(2).addr, true, None, &[]);
    assert_eq!(l.next_query().map(|n| n.id.0[0]), Some(5));
    // A silent node is asked once more, then given up.
    l.timed_out(node(3).addr, true);
    assert_eq!(l.next_query().map(|n| n.id.0[0]), Some(3));
    l.timed_out(node(3).addr, true);
    assert_eq!(l.next_query().map(|n| n.id.0[0]), Some(6));
    assert_eq!(l.cands[2].state, Cand::Failed);
}

#[test]
fn converges_when_k_closest_answered_and_reports_rounds() {
    let mut l = lookup(&[node(100)]);
    let first = l.next_query().unwrap();
    // The seed knows the 10 nodes closest to the target.
    let closer: Vec<NodeInfo> = (1..=10).map(node).collect();
    l.replied(first.addr, true, None, &closer);
    assert!(!l.converged());
    while !l.converged() {
        let n = l.next_query().expect("a node to ask");
        if n.id.0[0] == 3 {
            l.failed(n.addr, true);
        } else {
            l.replied(n.addr, true, Some(Blob::new(b"tk").unwrap()), &[]);
        }
    }
    let o = l.outcome();
    let ids: Vec<u8> = o.closest.iter().map(|n| n.id.0[0]).collect();
    assert_eq!(
        ids,
        [1, 2, 4, 5, 6, 7, 8, 9],
        "failed node 3 skipped, 10 and 100 not needed"
    );
    assert_eq!(o.rounds, 2);
    assert_eq!(o.queries, 10);
    assert!(l.finished());
}

#[test]
fn announce_goes_to_answered_nodes_with_tokens() {
    let seeds: Vec<NodeInfo> = (1..=3).map(node).collect();
    let goal = Goal::Announce {
        port: 1,
        implied_port: false,
    };
    let mut l = Lookup::new(LookupId(2), NodeId([0; 20]), goal, &seeds);
    for i in 1..=3 {
        let n = l.next_query().unwrap();
        let token = (i != 2).then(|| Blob::new(b"t").unwrap());
        l.replied(n.addr, true, token, &[]);
    }
    assert!(l.converged());
    assert!(!l.finished(), "announce still to do");
    let targets = l.start_announce();
    assert_eq!(targets.len(), 2, "node 2 gave no token");
    l.announce_result(true);
    assert!(!l.finished());
    l.announce_result(false);
    assert!(l.finished());
    assert_eq!(l.outcome().announced_to, 1);
}

#[test]
fn candidates_bounded_duplicates_ignored_and_budget_capped() {
    let mut l = lookup(&[]);
    assert!(l.converged(), "nobody to ask: done at once");
    let many: Vec<NodeInfo> = (1..=200).map(|i| node(i as u8)).collect();
    l.add(&many, 0);
    l.add(&many, 0);
    assert_eq!(l.cands.len(), MAX_CANDIDATES);
    assert_eq!(l.cands[0].info.id.0[0], 1);
    assert_eq!(l.new_peers(&[node(1).addr, node(1).addr]).len(), 1);
    assert!(l.new_peers(&[node(1).addr]).is_empty());
    // A lookup fed endless fresh nodes stops at the query budget.
    let mut l = lookup(&[node(200)]);
    let mut next = 199u8;
    while let Some(n) = l.next_query() {
        let mut id = [0u8; 20];
        id[0] = next;
        id[1] = next;
        let fresh = NodeInfo {
            id: NodeId(id),
            addr: SocketAddr::new(IpAddr::from([10, 1, next, 1]), 1),
        };
        next = next.wrapping_sub(1).max(1);
        l.failed(n.addr, true);
        l.add(&[fresh], 1);
    }
    assert!(l.queries <= MAX_QUERIES);
    assert!(l.converged());
}
