//! Bencode decoder: never panics, and anything it accepts survives a canonical round trip.
#![no_main]
// A fuzz harness is a shell: `fuzz_target!` itself writes crash inputs to files.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use coracle::internals::bencode;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = bencode::decode(data) else {
        return;
    };
    // `decode` takes the whole input, so the root's raw span must be exactly the input.
    assert_eq!(value.raw, data);
    let owned = value.to_owned_value();
    let encoded = owned.encode();
    let again = bencode::decode(&encoded).expect("canonical encoding must decode");
    assert_eq!(again.to_owned_value(), owned);
    // The canonical form is a fixed point: encoding it again changes nothing.
    assert_eq!(again.to_owned_value().encode(), encoded);
});
