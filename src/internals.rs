//! Not part of the API: the internal decoders, cores and shells that this repository's tests,
//! examples and fuzz targets drive directly. Public only with the `internals` feature (which the
//! fuzz manifest and the crate's own dev-dependency turn on), hidden from the docs, and changed
//! without notice: a program using the library never needs it. The crate root imports each
//! module, so the code inside names them `crate::bencode` and so on.
// The files keep their places in src/; this module only owns them.

#[path = "bencode.rs"]
pub mod bencode;
#[path = "bitfield.rs"]
pub mod bitfield;
#[path = "dht/mod.rs"]
pub mod dht;
#[path = "disk/mod.rs"]
pub mod disk;
#[path = "ext/mod.rs"]
pub mod ext;
#[path = "layout.rs"]
pub mod layout;
#[path = "magnet.rs"]
pub mod magnet;
#[path = "metainfo/mod.rs"]
pub mod metainfo;
#[path = "resume/mod.rs"]
pub mod resume;
#[path = "rng.rs"]
pub mod rng;
#[path = "selection.rs"]
pub mod selection;
#[path = "tracker/mod.rs"]
pub mod tracker;
#[path = "webseed/mod.rs"]
pub mod webseed;
#[path = "wire.rs"]
pub mod wire;
