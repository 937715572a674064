//! Hostile peers and hostile trackers against a real coracle leecher, over real sockets on
//! 127.0.0.1. Every case checks that the download still completes with the exact bytes in bounded
//! time and memory; peer cases also check that the offender's connection is closed.
//!
//! `peers`: a raw peer written here (std sockets, raw bytes) misbehaves beside an honest seeder.
//! `trackers`: the support tracker's hostile modes in the first tier, a normal tracker after it.

// Test and example code drives real sockets, threads, files and clocks.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

#[path = "support/payload.rs"]
mod payload;
#[path = "support/tracker.rs"]
mod tracker;

#[path = "hostile/harness.rs"]
mod harness;
#[path = "hostile/peers.rs"]
mod peers;
#[path = "hostile/raw_peer.rs"]
mod raw_peer;
#[path = "hostile/trackers.rs"]
mod trackers;
