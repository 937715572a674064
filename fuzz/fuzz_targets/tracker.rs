//! Tracker response parser: a hostile tracker body is an `Err`, never a panic, and an accepted
//! response never hands the engine a port-0 or duplicate peer.
#![no_main]
// A fuzz harness is a shell: `fuzz_target!` itself writes crash inputs to files.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::collections::HashSet;

use coracle::internals::tracker::announce::parse_response;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(resp) = parse_response(data) else {
        return;
    };
    let mut seen = HashSet::new();
    for p in &resp.peers {
        assert_ne!(p.port(), 0, "port 0 peer {p}");
        assert!(seen.insert(*p), "duplicate peer {p}");
    }
});
