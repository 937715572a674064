//! A connection's bytes waiting to be sent, kept as a queue of segments so that block payloads
//! read from disk are sent from their own buffers with one vectored write, never copied into a
//! contiguous buffer first.
//!
//! Small messages are encoded into an open segment at the tail; a block payload is queued as
//! a segment of its own, and the next small message opens a new one. Written bytes are
//! dropped segment by segment, so nothing is shifted when a large outbox drains in parts.
//!
//! Filled by the engine and drained by the reactor's socket writes, both on the reactor thread.

use std::collections::VecDeque;
use std::io::IoSlice;

/// Sent buffers up to this capacity are kept for the next small messages. Small: it is held
/// per connection for as long as the connection lives, and a kept 16 KiB block buffer times a
/// thousand peers would be 16 MiB held for nothing.
const SPARE_LIMIT: usize = 4 * 1024;

/// The bytes waiting to be sent on one connection.
#[derive(Debug, Default)]
pub struct Outbox {
    /// Segments in send order; the first may be partly sent.
    segments: VecDeque<Vec<u8>>,
    /// Whether the last segment takes more small messages (it is not a block payload).
    tail_open: bool,
    /// Bytes of the first segment already sent.
    sent: usize,
    /// Bytes not yet sent, over all segments.
    len: usize,
    /// A sent small-message segment kept for the next, so a busy connection does not allocate
    /// one per batch of messages.
    spare: Vec<u8>,
}

impl Outbox {
    /// Bytes not yet sent.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether everything was sent.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends bytes written by `encode` to the open tail segment (opening one if needed).
    pub fn encode_with(&mut self, encode: impl FnOnce(&mut Vec<u8>)) {
        if !self.tail_open || self.segments.is_empty() {
            self.segments.push_back(std::mem::take(&mut self.spare));
            self.tail_open = true;
        }
        let tail = self
            .segments
            .back_mut()
            .expect("a tail segment was just ensured");
        let before = tail.len();
        encode(tail);
        self.len += tail.len() - before;
    }

    /// Queues `bytes` as a segment of its own, sent from this buffer as it is.
    pub fn push_owned(&mut self, bytes: Vec<u8>) {
        if bytes.is_empty() {
            return;
        }
        self.len += bytes.len();
        self.segments.push_back(bytes);
        self.tail_open = false;
    }

    /// Moves every unsent byte of `other` to the end of this outbox, leaving `other` empty.
    pub fn append(&mut self, other: &mut Outbox) {
        if other.sent > 0 {
            if let Some(front) = other.segments.front_mut() {
                front.drain(..other.sent);
            }
            other.sent = 0;
        }
        if !other.segments.is_empty() {
            self.len += other.len;
            self.segments.append(&mut other.segments);
            self.tail_open = other.tail_open;
            other.tail_open = false;
            other.len = 0;
        }
    }

    /// Fills `slices` with the unsent bytes from the front, as far as they reach; returns how
    /// many were filled. For one vectored write.
    pub fn fill_slices<'a>(&'a self, slices: &mut [IoSlice<'a>]) -> usize {
        let mut n = 0;
        for (i, seg) in self.segments.iter().enumerate() {
            if n == slices.len() {
                break;
            }
            let seg = if i == 0 { &seg[self.sent..] } else { &seg[..] };
            if !seg.is_empty() {
                slices[n] = IoSlice::new(seg);
                n += 1;
            }
        }
        n
    }

    /// Marks the first `n` unsent bytes as sent (at most [`Outbox::len`]).
    pub fn consume(&mut self, n: usize) {
        let mut n = n.min(self.len);
        self.len -= n;
        while n > 0 {
            let left = self.segments.front().map_or(0, |f| f.len() - self.sent);
            if n < left {
                self.sent += n;
                return;
            }
            n -= left;
            self.pop_front();
        }
        if self.len == 0 {
            // All sent: keep a buffer, not the (empty) segments.
            while !self.segments.is_empty() {
                self.pop_front();
            }
        }
    }

    /// Every unsent byte, in order, in one buffer; the outbox is left empty. For shells that
    /// pass bytes along in memory (tests, simulations).
    pub fn take_bytes(&mut self) -> Vec<u8> {
        let mut all = Vec::with_capacity(self.len);
        for (i, seg) in self.segments.iter().enumerate() {
            all.extend_from_slice(if i == 0 { &seg[self.sent..] } else { seg });
        }
        self.consume(self.len);
        all
    }

    fn pop_front(&mut self) {
        if let Some(mut seg) = self.segments.pop_front() {
            // Any sent buffer of a sensible size serves the next small messages.
            if seg.capacity() <= SPARE_LIMIT && seg.capacity() > self.spare.capacity() {
                seg.clear();
                self.spare = seg;
            }
        }
        if self.segments.is_empty() {
            self.tail_open = false;
        }
        self.sent = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a vectored write of at most `max` bytes would send, then consumes it.
    fn write(out: &mut Outbox, max: usize) -> Vec<u8> {
        let mut slices = [IoSlice::new(&[]); 8];
        let n = out.fill_slices(&mut slices);
        let mut sent: Vec<u8> = slices[..n].iter().flat_map(|s| s.iter().copied()).collect();
        sent.truncate(max);
        out.consume(sent.len());
        sent
    }

    #[test]
    fn small_messages_share_a_segment_and_blocks_stand_alone() {
        let mut out = Outbox::default();
        out.encode_with(|b| b.extend_from_slice(b"ab"));
        out.encode_with(|b| b.extend_from_slice(b"cd"));
        out.push_owned(b"BLOCK".to_vec());
        out.encode_with(|b| b.extend_from_slice(b"ef"));
        assert_eq!(out.len(), 11);
        let mut slices = [IoSlice::new(&[]); 8];
        let n = out.fill_slices(&mut slices);
        let parts: Vec<&[u8]> = slices[..n].iter().map(|s| &s[..]).collect();
        assert_eq!(parts, [&b"abcd"[..], b"BLOCK", b"ef"]);
    }

    #[test]
    fn partial_writes_send_every_byte_once_in_order() {
        let mut out = Outbox::default();
        let mut expected = Vec::new();
        for i in 0..20u8 {
            out.encode_with(|b| b.extend_from_slice(&[i; 3]));
            out.push_owned(vec![100 + i; 7]);
            expected.extend_from_slice(&[i; 3]);
            expected.extend_from_slice(&[100 + i; 7]);
        }
        let mut got = Vec::new();
        // Write sizes that end inside segments, exactly on their ends, and across several.
        for max in [1, 2, 7, 3, 10, 13, 4].iter().cycle() {
            if out.is_empty() {
                break;
            }
            let before = out.len();
            let sent = write(&mut out, *max);
            assert_eq!(out.len(), before - sent.len());
            got.extend(sent);
        }
        assert_eq!(got, expected);
        // Drained: new messages start cleanly.
        out.encode_with(|b| b.extend_from_slice(b"x"));
        assert_eq!(out.take_bytes(), b"x");
        assert!(out.is_empty());
    }

    #[test]
    fn a_fill_is_capped_by_the_slices_given() {
        let mut out = Outbox::default();
        for i in 0..5u8 {
            out.push_owned(vec![i; 2]);
        }
        let mut slices = [IoSlice::new(&[]); 3];
        assert_eq!(out.fill_slices(&mut slices), 3);
        out.consume(5);
        assert_eq!(out.take_bytes(), [2, 3, 3, 4, 4]);
    }

    #[test]
    fn append_keeps_the_partly_sent_order() {
        let mut first = Outbox::default();
        first.encode_with(|b| b.extend_from_slice(b"handshake"));
        first.consume(4);
        let mut queued = Outbox::default();
        queued.encode_with(|b| b.extend_from_slice(b"-bitfield"));
        queued.push_owned(b"-block".to_vec());
        queued.consume(1);
        first.append(&mut queued);
        assert!(queued.is_empty());
        assert_eq!(first.len(), 5 + 8 + 6);
        // The tail is a block: a new message opens a segment after it.
        first.encode_with(|b| b.extend_from_slice(b"!"));
        assert_eq!(first.take_bytes(), b"shakebitfield-block!");
    }
}
