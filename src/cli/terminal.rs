//! The terminal's width, for the progress line: the binary's one OS call that std does not
//! offer (an `ioctl`). It lives with the CLI because the library never needs it. Runs on the
//! binary's main thread.

/// The width in columns of the terminal on standard output; `None` when standard output is not a
/// terminal or the system cannot say.
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
