//! Peer wire codec: decoding a stream that arrives in arbitrary pieces gives the same messages
//! (and the same error, or the same leftover) as decoding it in one go, and every decoded
//! frame re-encodes to exactly the bytes it came from.
//!
//! Re-encoding is exact for every frame `decode_frame` accepts: `check_length` pins the length
//! of each fixed-size message, and variable-size ones (bitfield, piece, extended, unknown ids)
//! carry their payload verbatim, so there is no second spelling of any message.
//!
//! Input: byte 0 picks the frame limit, bytes 1..4 a cycle of chunk sizes, the rest is the stream.
#![no_main]
// A fuzz harness is a shell: `fuzz_target!` itself writes crash inputs to files.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use coracle::internals::wire::{self, Message, WireError};
use libfuzzer_sys::fuzz_target;

/// How decoding the whole stream ended after its last complete frame.
#[derive(Debug, PartialEq)]
enum End {
    Error(WireError),
    NeedMore,
}

fuzz_target!(|data: &[u8]| {
    let Some((head, stream)) = data.split_first_chunk::<4>() else {
        return;
    };
    let max = match head[0] % 4 {
        0 => wire::DEFAULT_MAX_FRAME,
        1 => 1 + 8 + 16 * 1024, // what a torrent uses: one 16 KiB block
        2 => 13,                // the largest fixed-size message: request / cancel
        _ => u32::from(head[0] >> 2),
    };
    // Zero-size chunks are kept (a read that brought nothing), but not a cycle of only zeros.
    let mut sizes: Vec<usize> = head[1..].iter().map(|&b| usize::from(b)).collect();
    if sizes.iter().all(|&s| s == 0) {
        sizes = vec![1];
    }

    let (expected, end, rest_at) = decode_whole(stream, max);

    let mut buf = Vec::new();
    let mut next = 0; // index into `expected`
    let mut pos = 0; // bytes of `stream` fed so far
    let mut chunked_err = None;
    'feed: for &size in sizes.iter().cycle() {
        if pos >= stream.len() {
            break;
        }
        let take = size.min(stream.len() - pos);
        buf.extend_from_slice(&stream[pos..pos + take]);
        pos += take;
        loop {
            match wire::decode_frame(&buf, max) {
                Ok(Some((msg, used))) => {
                    assert_eq!(wire::frame_len(&buf), Some(used));
                    assert!(next < expected.len(), "extra message {msg:?}");
                    assert_eq!(msg, expected[next]);
                    let mut enc = Vec::new();
                    msg.encode(&mut enc);
                    assert_eq!(enc, &buf[..used], "not canonical: {msg:?}");
                    next += 1;
                    buf.drain(..used);
                }
                Ok(None) => {
                    // Waiting is only right while the frame is genuinely incomplete.
                    if let Some(need) = wire::frame_len(&buf) {
                        assert!(need > buf.len());
                    }
                    break;
                }
                Err(e) => {
                    chunked_err = Some(e);
                    break 'feed;
                }
            }
        }
    }

    assert_eq!(next, expected.len(), "missing messages");
    match chunked_err {
        Some(e) => assert_eq!(end, End::Error(e)),
        None => {
            assert_eq!(end, End::NeedMore);
            assert_eq!(buf, &stream[rest_at..]);
        }
    }
});

/// Decodes `stream` in one buffer: the messages, how it ended, and where the leftover starts.
fn decode_whole(stream: &[u8], max: u32) -> (Vec<Message<'_>>, End, usize) {
    let mut msgs = Vec::new();
    let mut at = 0;
    loop {
        match wire::decode_frame(&stream[at..], max) {
            Ok(Some((m, used))) => {
                // A frame never exceeds its 4-byte prefix plus the limit.
                assert!(used >= 4 && used - 4 <= max as usize);
                msgs.push(m);
                at += used;
            }
            Ok(None) => return (msgs, End::NeedMore, at),
            Err(e) => return (msgs, End::Error(e), at),
        }
    }
}
