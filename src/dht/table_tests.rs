use super::*;

fn nid(first: u8, last: u8) -> NodeId {
    let mut id = [0u8; 20];
    id[0] = first;
    id[19] = last;
    NodeId(id)
}

fn node(first: u8, last: u8, ip: u8) -> NodeInfo {
    NodeInfo {
        id: nid(first, last),
        addr: SocketAddr::new(IpAddr::from([10, 0, first, ip]), 6881),
    }
}

fn mins(n: u64) -> Duration {
    Duration::from_secs(60 * n)
}

#[test]
fn buckets_hold_k_and_only_our_bucket_splits() {
    let t0 = Instant::now();
    let mut t = Table::new(nid(0, 0), t0);
    // 8 nodes in the far half (first bit set) fill bucket 0.
    for i in 0..8 {
        assert_eq!(t.replied(node(0x80, i + 1, i), t0), Insert::Added);
    }
    assert_eq!((t.buckets(), t.len()), (1, 8));
    // A near node splits the only bucket: far half stays in bucket 0, near goes to bucket 1.
    assert_eq!(t.replied(node(0x40, 1, 50), t0), Insert::Added);
    assert_eq!((t.buckets(), t.len()), (2, 9));
    // A ninth far node cannot split bucket 0 (it does not hold our id): parked, nobody to ping.
    assert_eq!(
        t.replied(node(0x81, 1, 60), t0),
        Insert::Parked { ping: None }
    );
    assert_eq!(t.len(), 9);
    // Many near nodes split repeatedly; the table stays small.
    for i in 0..40u8 {
        t.replied(node(i % 0x3f + 1, i, 100 + i), t0);
    }
    assert!(t.buckets() >= 4, "{}", t.buckets());
    assert!(t.len() <= t.buckets() * K);
    assert_eq!(t.replied(node(0, 0, 1), t0), Insert::Refused, "our own id");
}

#[test]
fn states_good_questionable_bad() {
    let t0 = Instant::now();
    let mut t = Table::new(nid(0, 0), t0);
    let n = node(0x80, 1, 1);
    t.replied(n, t0);
    assert_eq!(t.state(&n.id, t0), Some(NodeState::Good));
    assert_eq!(t.state(&n.id, t0 + mins(15)), Some(NodeState::Questionable));
    // A query from it keeps a node that once answered good.
    t.queried(&n.id, n.addr, t0 + mins(15));
    assert_eq!(t.state(&n.id, t0 + mins(16)), Some(NodeState::Good));
    assert_eq!(t.counts(t0 + mins(16)), (1, 0));
    t.failed(&n.id, n.addr, t0 + mins(16));
    assert_eq!(t.state(&n.id, t0 + mins(16)), Some(NodeState::Good));
    t.failed(&n.id, n.addr, t0 + mins(16));
    assert_eq!(t.state(&n.id, t0 + mins(16)), Some(NodeState::Bad));
    assert_eq!(t.counts(t0 + mins(16)), (0, 0));
    assert!(
        t.closest(&n.id, 8).is_empty(),
        "bad nodes are not handed out"
    );
    // An answer makes it good again.
    assert_eq!(t.replied(n, t0 + mins(17)), Insert::Updated);
    assert_eq!(t.state(&n.id, t0 + mins(17)), Some(NodeState::Good));
}

#[test]
fn full_bucket_pings_stalest_questionable_then_replaces_it() {
    let t0 = Instant::now();
    let mut t = Table::new(nid(0, 0), t0);
    t.replied(node(0x40, 1, 200), t0); // splits early so bucket 0 is a far bucket
    for i in 0..8 {
        t.replied(node(0x80, i + 1, i), t0 + Duration::from_secs(u64::from(i)));
    }
    let late = t0 + mins(20);
    let spare = node(0x90, 1, 99);
    // All eight questionable now: the stalest (answered first) is pinged.
    assert_eq!(
        t.replied(spare, late),
        Insert::Parked {
            ping: Some(node(0x80, 1, 0))
        }
    );
    // Not pinged twice in a row; the next stalest is offered instead.
    let other = node(0x91, 1, 98);
    assert_eq!(
        t.replied(other, late),
        Insert::Parked {
            ping: Some(node(0x80, 2, 1))
        }
    );
    let stale = node(0x80, 1, 0);
    t.failed(&stale.id, stale.addr, late);
    t.failed(&stale.id, stale.addr, late);
    assert_eq!(t.state(&stale.id, late), None, "replaced");
    // The freshest spare took its place.
    assert_eq!(t.state(&other.id, late), Some(NodeState::Good));
    // A node struck out at once gives its place to the last spare.
    let victim = node(0x80, 3, 2);
    t.punish(&victim.id, victim.addr, late);
    assert_eq!(t.state(&victim.id, late), None);
    assert_eq!(t.state(&spare.id, late), Some(NodeState::Good));
    // With no spare left, a bad node stays until a newcomer replaces it.
    let victim = node(0x80, 4, 3);
    t.punish(&victim.id, victim.addr, late);
    assert_eq!(t.state(&victim.id, late), Some(NodeState::Bad));
    assert_eq!(t.replied(node(0xa0, 1, 97), late), Insert::Added);
    assert_eq!(t.state(&victim.id, late), None);
}

#[test]
fn per_ip_cap_and_id_hijack_refused() {
    let t0 = Instant::now();
    let mut t = Table::new(nid(0, 0), t0);
    let ip = IpAddr::from([10, 9, 9, 9]);
    for (i, want) in [(1, Insert::Added), (2, Insert::Added), (3, Insert::Refused)] {
        let n = NodeInfo {
            id: nid(0x80 + i, i),
            addr: SocketAddr::new(ip, 1000 + u16::from(i)),
        };
        assert_eq!(t.replied(n, t0), want, "node {i}");
        assert!(!t.has_room_for(&n.id, n.addr));
    }
    // The same id from another address is refused while the first is alive.
    let first = NodeInfo {
        id: nid(0x81, 1),
        addr: "10.7.7.7:1".parse().unwrap(),
    };
    assert_eq!(t.replied(first, t0), Insert::Refused);
    // And one address cannot hold two ids.
    let twin = NodeInfo {
        id: nid(0x85, 5),
        addr: SocketAddr::new(ip, 1001),
    };
    assert_eq!(t.replied(twin, t0), Insert::Refused);
    assert_eq!(t.len(), 2);
    assert!(t.has_room_for(&nid(0x86, 6), "10.1.1.1:1".parse().unwrap()));
}

#[test]
fn closest_sorted_and_refresh_schedule() {
    let t0 = Instant::now();
    let mut t = Table::new(nid(0, 0), t0);
    assert_eq!(t.next_refresh(), None, "empty: nothing to refresh");
    for i in 0..6u8 {
        t.replied(node(0x80 | (i << 3), i, i), t0);
    }
    let target = nid(0x98, 0);
    let got: Vec<u8> = t.closest(&target, 3).iter().map(|n| n.id.0[0]).collect();
    assert_eq!(got, [0x98, 0x90, 0x88]);
    assert_eq!(t.closest(&target, 100).len(), 6);
    assert_eq!(t.next_refresh(), Some(t0 + STALE_AFTER));
    let mut rng = SplitMix64(5);
    assert_eq!(t.refresh_target(t0 + mins(14), &mut rng), None);
    let due = t0 + STALE_AFTER;
    let target = t.refresh_target(due, &mut rng).unwrap();
    assert_eq!(nid(0, 0).common_prefix(&target), 0);
    assert_eq!(t.refresh_target(due, &mut rng), None, "refreshed once");
    assert_eq!(t.next_refresh(), Some(due + STALE_AFTER));
    assert_eq!(t.good_nodes(due).len(), 0, "all silent for 15 minutes");
    assert_eq!(t.good_nodes(t0).len(), 6);
    assert!(t.memory_bytes() >= 6 * size_of::<Entry>());
}
