//! Resume state: what a torrent had verified and durable at its last checkpoint, so a restart
//! can skip hashing data that has not changed since.
//!
//! Pure data (bencode, SHA-1, bitfields; no files, no clock), on its caller's thread: decoding and
//! planning run on the thread that calls `Session::add`, encoding wherever a checkpoint is carried
//! out (a disk pool worker, or the reactor thread for the last one at shutdown). [`codec`] turns a
//! [`ResumeState`] into bytes and back, refusing anything damaged or foreign; [`plan()`] decides,
//! from a decoded state and what the files on disk look like now, which pieces a torrent may take
//! as had and which it must hash again. Writing state files and reading file stamps is the disk
//! shell's job (`disk::state_file`); deciding when to checkpoint is the engine's.

pub mod codec;
pub mod plan;

pub use codec::{decode, encode, FileStamp, ResumeState};
pub use plan::{plan, FileSlot};
