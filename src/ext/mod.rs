//! Peer extensions as pure codecs and sans-IO state machines: the BEP 10 extension handshake,
//! BEP 9 `ut_metadata` (fetching and serving the info dictionary for magnet links), BEP 11
//! `ut_pex`, BEP 6 allowed-fast sets and BEP 14 local service discovery.
//!
//! Owned by the reactor thread (the engine plugs these cores into its peers and torrents). Nothing
//! here opens a socket, starts a thread, reads a file or the clock: time arrives as an `Instant`
//! argument and randomness from a seed. Every decoder is bounded and returns typed errors; none
//! panics on any input (see the `ext` fuzz target).

pub mod fast;
pub mod handshake;
pub mod lsd;
pub mod lsd_core;
pub mod metadata;
pub mod metadata_fetch;
pub mod metadata_serve;
pub mod pex;
pub mod pex_state;

#[cfg(test)]
mod metadata_fetch_tests;

/// The caller's name for one peer connection (the engine's `ConnId`). The cores key their
/// per-peer state by it and hand it back in events; they never interpret it.
pub type PeerKey = usize;

pub use handshake::{ExtHandshake, ExtIds};
pub use metadata::MetadataMsg;
pub use metadata_fetch::{DataOutcome, MetadataFetch};
pub use metadata_serve::{MetadataServe, ServeReply};
pub use pex::{PexMessage, PexPeer};
pub use pex_state::{PexFilter, PexState};
