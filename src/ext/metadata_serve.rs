//! Serving our info dictionary to peers that ask for it over BEP 9 `ut_metadata`.
//!
//! One per torrent, owned by the reactor thread. Given the raw info bytes (exactly the bytes the
//! info-hash was computed over) it answers each request with a data message, and rejects while
//! we have no metadata. Each peer draws from a token bucket so one peer cannot make us send
//! megabytes in a loop; a peer that keeps asking far past its allowance is reported as a flood.
//! Pure: no clock reads (time is a parameter), no sending (the caller sends the payloads).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::metadata::{piece_count, piece_len, MetadataMsg, METADATA_PIECE_LEN};
use super::PeerKey;

/// Pieces a peer may fetch in a burst beyond twice the metadata: room for a retry.
pub const BURST_EXTRA: u32 = 4;

/// One more piece is allowed every this long once the burst is spent (30 pieces a minute,
/// 480 KiB/min per peer: enough to re-fetch a typical torrent's metadata, not to be a pump).
pub const REFILL_EVERY: Duration = Duration::from_secs(2);

/// Requests refused in a row for being over the allowance before the peer counts as flooding.
pub const FLOOD_REJECTS: u32 = 64;

/// What to do with a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServeReply {
    /// Send this `ut_metadata` payload (a data or reject message) on the peer's extension id.
    Send(Vec<u8>),
    /// The peer keeps asking far beyond its allowance: drop it.
    Flood,
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: u32,
    /// When the last whole token was added (or the bucket was made).
    refilled_at: Instant,
    /// Consecutive requests refused for lack of tokens.
    starved: u32,
}

/// Answers one torrent's metadata requests. See the module documentation.
#[derive(Debug, Default)]
pub struct MetadataServe {
    /// Shared with the metainfo: a large info dictionary is not copied per torrent.
    info: Option<std::sync::Arc<[u8]>>,
    peers: HashMap<PeerKey, Bucket>,
}

impl MetadataServe {
    /// A server with no metadata yet (a magnet download): every request is rejected.
    pub fn new() -> MetadataServe {
        MetadataServe::default()
    }

    /// Sets the raw info dictionary (from the .torrent or a verified fetch). Bytes over
    /// `u32::MAX` cannot be described by `metadata_size` and are not served.
    pub fn set_metadata(&mut self, info: std::sync::Arc<[u8]>) {
        self.info = u32::try_from(info.len())
            .is_ok_and(|n| n > 0)
            .then_some(info);
    }

    /// The `metadata_size` to advertise in our extension handshake, once we have metadata.
    pub fn metadata_size(&self) -> Option<u32> {
        self.info.as_ref().map(|i| i.len() as u32)
    }

    /// Forgets a disconnected peer's allowance.
    pub fn remove_peer(&mut self, peer: PeerKey) {
        self.peers.remove(&peer);
    }

    /// Answers `peer`'s request for metadata piece `piece`.
    pub fn handle_request(&mut self, peer: PeerKey, piece: u32, now: Instant) -> ServeReply {
        let size = self.metadata_size().unwrap_or(0);
        let capacity = piece_count(size)
            .saturating_mul(2)
            .saturating_add(BURST_EXTRA);
        let bucket = self.peers.entry(peer).or_insert(Bucket {
            tokens: capacity,
            refilled_at: now,
            starved: 0,
        });
        refill(bucket, capacity, now);
        let reject = || {
            let mut out = Vec::new();
            MetadataMsg::Reject { piece }.encode(&mut out);
            ServeReply::Send(out)
        };
        if bucket.tokens == 0 {
            bucket.starved += 1;
            if bucket.starved > FLOOD_REJECTS {
                return ServeReply::Flood;
            }
            return reject();
        }
        bucket.tokens -= 1;
        bucket.starved = 0;
        let (Some(info), Some(len)) = (&self.info, piece_len(size, piece)) else {
            return reject();
        };
        let start = (piece * METADATA_PIECE_LEN) as usize;
        let mut out = Vec::with_capacity(len as usize + 64);
        MetadataMsg::Data {
            piece,
            total_size: size,
            data: &info[start..start + len as usize],
        }
        .encode(&mut out);
        ServeReply::Send(out)
    }
}

fn refill(bucket: &mut Bucket, capacity: u32, now: Instant) {
    let elapsed = now.saturating_duration_since(bucket.refilled_at);
    let whole = elapsed.as_millis() / REFILL_EVERY.as_millis();
    if whole == 0 {
        return;
    }
    let add = u32::try_from(whole).unwrap_or(u32::MAX);
    bucket.tokens = bucket.tokens.saturating_add(add).min(capacity);
    // Advance by the whole intervals used, so fractions carry over to the next request.
    bucket.refilled_at += REFILL_EVERY * add.min(1 << 20);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(reply: &ServeReply) -> MetadataMsg<'_> {
        match reply {
            ServeReply::Send(bytes) => MetadataMsg::decode(bytes).unwrap(),
            ServeReply::Flood => panic!("flood"),
        }
    }

    fn info() -> Vec<u8> {
        (0..20_000u32).map(|i| i as u8).collect()
    }

    #[test]
    fn serves_exact_pieces_and_rejects_out_of_range() {
        let now = Instant::now();
        let mut s = MetadataServe::new();
        s.set_metadata(info().into());
        assert_eq!(s.metadata_size(), Some(20_000));
        let first = s.handle_request(1, 0, now);
        assert_eq!(
            decode(&first),
            MetadataMsg::Data {
                piece: 0,
                total_size: 20_000,
                data: &info()[..16384]
            }
        );
        let last = s.handle_request(1, 1, now);
        assert_eq!(
            decode(&last),
            MetadataMsg::Data {
                piece: 1,
                total_size: 20_000,
                data: &info()[16384..]
            }
        );
        assert_eq!(
            decode(&s.handle_request(1, 2, now)),
            MetadataMsg::Reject { piece: 2 }
        );
    }

    #[test]
    fn rejects_while_without_metadata() {
        let mut s = MetadataServe::new();
        assert_eq!(s.metadata_size(), None);
        let reply = s.handle_request(3, 0, Instant::now());
        assert_eq!(
            reply,
            ServeReply::Send(b"d8:msg_typei2e5:piecei0ee".to_vec())
        );
        s.set_metadata(Vec::new().into());
        assert_eq!(s.metadata_size(), None, "empty metadata is not served");
    }

    #[test]
    fn a_looping_peer_is_limited_then_reported() {
        let t0 = Instant::now();
        let mut s = MetadataServe::new();
        s.set_metadata(info().into());
        // 2 pieces: the allowance is 2 * 2 + 4 = 8 answers in a burst.
        for _ in 0..8 {
            assert!(matches!(
                decode(&s.handle_request(1, 0, t0)),
                MetadataMsg::Data { .. }
            ));
        }
        for _ in 0..FLOOD_REJECTS {
            assert_eq!(
                decode(&s.handle_request(1, 0, t0)),
                MetadataMsg::Reject { piece: 0 }
            );
        }
        assert_eq!(s.handle_request(1, 0, t0), ServeReply::Flood);
        // Other peers have their own allowance.
        assert!(matches!(
            decode(&s.handle_request(2, 0, t0)),
            MetadataMsg::Data { .. }
        ));
        // One token per REFILL_EVERY, and fractions carry over.
        let t1 = t0 + REFILL_EVERY + REFILL_EVERY / 2;
        assert!(matches!(
            decode(&s.handle_request(1, 0, t1)),
            MetadataMsg::Data { .. }
        ));
        assert!(matches!(
            decode(&s.handle_request(1, 0, t1)),
            MetadataMsg::Reject { .. }
        ));
        let t2 = t0 + REFILL_EVERY * 2;
        assert!(matches!(
            decode(&s.handle_request(1, 0, t2)),
            MetadataMsg::Data { .. }
        ));
        // Sent bytes stay bounded: over ten minutes a looping peer gets at most 8 + 300 pieces.
        let mut data = 0;
        s.remove_peer(1);
        for ms in (0..600_000u64).step_by(100) {
            let t = t0 + Duration::from_millis(ms);
            if let ServeReply::Send(b) = s.handle_request(1, 0, t) {
                if b.len() > 100 {
                    data += 1;
                }
            }
        }
        assert!(data <= 8 + 300, "{data}");
    }
}
