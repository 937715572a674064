//! Ctrl-C and SIGTERM during a download or seed. The first one asks for a clean stop (trackers
//! told, files synced); a repeat within [`GRACE`] is the same request again (`timeout` and a
//! terminal can both deliver one, and people press twice), and only a later one quits at once,
//! for a stop that hangs on a slow tracker.
//!
//! Runs one `coracle-signals` thread that sleeps until a signal arrives and forwards the first
//! to the main loop.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;

/// Repeats closer than this to the first signal do not turn the clean stop into a hard one.
pub const GRACE: Duration = Duration::from_secs(1);

/// Installs the handlers. Returns the flag the first signal sets and a channel that wakes the
/// main loop when it does.
pub fn install() -> Result<(Arc<AtomicBool>, Receiver<()>), String> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let failed = |e: std::io::Error| format!("installing the signal handler: {e}");
    let flag = Arc::new(AtomicBool::new(false));
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]).map_err(failed)?;
    let (tx, rx) = crossbeam_channel::bounded(1);
    let caught = flag.clone();
    std::thread::Builder::new()
        .name("coracle-signals".into())
        .spawn(move || {
            let mut first: Option<Instant> = None;
            for _ in signals.forever() {
                match first {
                    None => {
                        first = Some(Instant::now());
                        caught.store(true, Ordering::Relaxed);
                        let _ = tx.try_send(());
                    }
                    Some(t) if t.elapsed() < GRACE => {}
                    Some(_) => {
                        eprintln!("coracle: second interrupt: quitting without a clean stop");
                        signal_hook::low_level::exit(super::EXIT_FAIL);
                    }
                }
            }
        })
        .map_err(failed)?;
    Ok((flag, rx))
}
