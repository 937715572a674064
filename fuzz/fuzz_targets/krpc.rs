//! KRPC decoder and DHT node: hostile datagrams are an `Err` or ignored, never a panic; whatever
//! decodes re-encodes to something that decodes the same; and the node never answers with more
//! than a small datagram.
#![no_main]
// A fuzz harness is a shell: `fuzz_target!` itself writes crash inputs to files.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use coracle::internals::dht::krpc::decode;
use coracle::internals::dht::{Dht, DhtConfig, NodeId};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(msg) = decode(data) {
        let again = decode(&msg.encode()).expect("our own encoding decodes");
        assert_eq!(again, msg);
    }
    // The same bytes as a run of datagrams (split at 0xff) from two addresses, then time passes.
    let t0 = Instant::now();
    let cfg = DhtConfig {
        bootstrap: vec![SocketAddr::from(([10, 0, 0, 1], 6881))],
        ipv6: true,
        ..DhtConfig::default()
    };
    let mut dht = Dht::new(cfg, NodeId([0x42; 20]), 1, t0);
    let froms = [
        SocketAddr::from(([10, 0, 0, 1], 6881)),
        SocketAddr::from(([0xfd00, 0, 0, 0, 0, 0, 0, 2], 6881)),
    ];
    for (i, chunk) in data.split(|b| *b == 0xff).enumerate() {
        let now = t0 + Duration::from_millis(i as u64 * 700);
        dht.handle_datagram(froms[i % 2], chunk, now);
        dht.handle_timeout(now);
        while let Some(t) = dht.poll_transmit() {
            assert!(t.bytes.len() <= 1500, "{} bytes to {}", t.bytes.len(), t.to);
        }
        while dht.poll_event().is_some() {}
    }
});
