//! Magnet links: parsing arbitrary text never panics, every accepted link respects the bounds,
//! and writing it back gives a link that parses to the same fields.
#![no_main]
// A fuzz harness is a shell: `fuzz_target!` itself writes crash inputs to files.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use coracle::internals::magnet::{self, Magnet, MagnetPeer};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(m) = Magnet::parse(text) else {
        return;
    };
    assert!(m.trackers.len() <= magnet::MAX_TRACKERS);
    assert!(m.trackers.iter().all(|tier| tier.len() == 1));
    assert!(m.peers.len() <= magnet::MAX_PEERS);
    assert!(m.warnings.len() <= magnet::MAX_WARNINGS);
    assert!(m.name.as_ref().map_or(0, String::len) <= magnet::MAX_NAME_LEN);
    for p in &m.peers {
        let port = match p {
            MagnetPeer::Addr(a) => a.port(),
            MagnetPeer::Host { port, .. } => *port,
        };
        assert_ne!(port, 0, "port 0 peer {p}");
    }
    if let Some(sel) = &m.select_only {
        assert!(sel.len() <= magnet::MAX_SELECTED);
        assert!(sel.windows(2).all(|w| w[0] < w[1]), "not sorted: {sel:?}");
    }
    // Percent-encoding can triple the length; past the limit a re-parse is refused by design.
    let uri = m.to_uri();
    if uri.len() <= magnet::MAX_URI_LEN {
        let again = Magnet::parse(&uri).expect("our own link must parse");
        let expect = Magnet {
            warnings: Vec::new(),
            ..m
        };
        assert_eq!(again, expect, "{uri}");
    }
});
