//! coracle: a BitTorrent engine for programs that are not async.
#![deny(missing_docs)]

pub mod bencode;
pub mod bitfield;
pub mod layout;
