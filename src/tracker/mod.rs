//! Tracker client: announcing to HTTP(S) trackers and scheduling those announces.
//!
//! Split so that the reactor thread never blocks:
//! - [`announce`]: sans-IO announce URL building and response parsing (any thread);
//! - [`tiers`]: sans-IO BEP 12 tier list, announce schedule and backoff, one per torrent, owned
//!   by the reactor thread, which passes `now` in;
//! - [`http`]: a dispatcher thread plus short-lived worker threads running blocking `ureq`
//!   requests (the only `ureq` user); results come back over a crossbeam channel followed by a
//!   wake callback;
//! - [`udp`]: BEP 15 UDP tracker packets and a blocking announce over `std::net::UdpSocket`, run
//!   by the same worker threads.
//!
//! The reactor asks [`TrackerList::poll_due`] for a URL, [`TrackerClient::submit`]s a job, and
//! feeds each [`AnnounceResult`] back through [`TrackerList::on_success`] /
//! [`TrackerList::on_failure`]. It picks the event itself: `Started` first, `Completed` (after
//! [`TrackerList::force`]) once the download finishes, `Stopped` at shutdown through
//! [`TrackerClient::announce_blocking`].

pub mod announce;
pub mod http;
pub mod tiers;
pub mod udp;

pub use announce::{AnnounceEvent, AnnounceRequest, AnnounceResponse, TrackerError};
pub use http::{AnnounceJob, AnnounceResult, TrackerClient, TrackerConfig};
pub use tiers::TrackerList;
