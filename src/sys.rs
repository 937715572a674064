//! The few OS calls that are neither storage ([`crate::disk`]) nor sockets (the reactor, the
//! session and the tracker threads): entropy for peer ids and seeds, and, for the binary's
//! progress bar, the terminal's width.
//!
//! An I/O shell, and with `disk/` the only place for `unsafe`. The sans-IO layers never call it:
//! they are handed their seeds (see [`crate::engine::EngineConfig::seed`]).

// I/O shell: OS entropy and the terminal (its one `unsafe` call is the TIOCGWINSZ ioctl).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

/// 64 random bits from std's per-process hash keys (OS entropy without an extra dependency; not
/// for cryptography). Every call gives different bits.
pub fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0x0063_6f72_6163_6c65);
    h.finish()
}

/// The width in columns of the terminal on standard output; `None` when standard output is not a
/// terminal or the system cannot say.
#[cfg(feature = "cli")]
pub fn terminal_width() -> Option<u16> {
    #[cfg(unix)]
    {
        let mut ws = libc::winsize {
            ws_row: 0,
            ws_col: 0,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCGWINSZ only writes a `winsize` through the pointer, which is to a live
        // local of that type; fd 1 is only inspected (a closed or non-tty fd makes it fail).
        if unsafe { libc::ioctl(1, libc::TIOCGWINSZ, &mut ws) } == 0 && ws.ws_col > 0 {
            return Some(ws.ws_col);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    #[test]
    fn random_draws_differ() {
        assert_ne!(super::random_u64(), super::random_u64());
    }
}
