//! The few OS calls that are neither storage ([`crate::disk`]) nor sockets (the reactor, the
//! session and the tracker threads): entropy for peer ids and seeds.
//!
//! An I/O shell. The sans-IO layers never call it: they are handed their seeds (see
//! [`crate::engine::EngineConfig::seed`]).

/// 64 random bits from std's per-process hash keys (OS entropy without an extra dependency; not
/// for cryptography). Every call gives different bits.
pub fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0x0063_6f72_6163_6c65);
    h.finish()
}

#[cfg(test)]
mod tests {
    #[test]
    fn random_draws_differ() {
        assert_ne!(super::random_u64(), super::random_u64());
    }
}
