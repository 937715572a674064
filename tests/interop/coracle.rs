//! coracle's side: sessions on 127.0.0.1, and its debug log printed with a failing test's output.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Once;
use std::time::{Duration, Instant};

use coracle::{AddOptions, Error, Session, SessionConfig, TorrentHandle, TorrentSource};

use crate::harness::{free_port, loopback, Ctx};

/// Prints coracle's log records with eprintln!. Threads inherit the test harness's output
/// capture from the thread that spawned them, so each test's session logs land in that test's
/// captured output: shown when it fails, hidden when it passes.
struct StderrLog {
    start: Instant,
}

impl log::Log for StderrLog {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.target().starts_with("coracle")
    }
    fn log(&self, r: &log::Record) {
        if self.enabled(r.metadata()) {
            eprintln!(
                "[coracle {:>7.3}s {:5} {}] {}",
                self.start.elapsed().as_secs_f64(),
                r.level(),
                r.target(),
                r.args()
            );
        }
    }
    fn flush(&self) {}
}

/// Sends coracle's log (debug and up) to stderr, once per test binary.
pub fn install_logger() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let logger = Box::leak(Box::new(StderrLog {
            start: Instant::now(),
        }));
        if log::set_logger(logger).is_ok() {
            log::set_max_level(log::LevelFilter::Debug);
        }
    });
}

/// A session listening on 127.0.0.1 (its tracker requests come from there too, so the tracker
/// hands out the address it listens on).
pub fn session() -> Session {
    install_logger();
    let ip = loopback(1);
    Session::new({
        let mut config = SessionConfig::default();
        config.listen = SocketAddr::from((ip, free_port(ip)));
        config
    })
    .expect("starting a coracle session")
}

/// Adds `torrent` with its data in `dir`, announcing to the torrent's tracker.
pub fn add(session: &Session, torrent: &Path, dir: &Path) -> TorrentHandle {
    session
        .add(TorrentSource::File(torrent.to_path_buf()), {
            let mut opts = AddOptions::default();
            opts.output = dir.to_path_buf();
            opts
        })
        .expect("adding the torrent to coracle")
}

/// Waits until `handle` has every piece (for a seeder: its data checked), failing on error or
/// at the test deadline, and printing coracle's numbers about every 2 s.
pub fn wait_complete(ctx: &Ctx, handle: &TorrentHandle, what: &str) {
    let mut last_report = Instant::now();
    ctx.wait_for(what, || {
        match handle.wait_timeout(Duration::from_millis(300)) {
            Ok(()) => true,
            Err(Error::Timeout) => {
                if last_report.elapsed() > Duration::from_secs(2) {
                    eprintln!("{what}: {:?}", handle.stats());
                    last_report = Instant::now();
                }
                false
            }
            Err(e) => panic!("{what}: {e}"),
        }
    });
    eprintln!("{what}: done, {:?}", handle.stats());
}
