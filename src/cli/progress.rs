//! What a running download prints: a live line on a terminal (cut to its width, plain lines when
//! too narrow), a plain line every few seconds otherwise, JSON lines with `--json`, nothing with
//! `--quiet`. Plain and JSON lines that would repeat the previous one exactly are left out. All
//! of it goes to stdout and write errors are ignored, so `coracle ... | head` does not turn a
//! closed pipe into a panic. Runs on the binary's main thread.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use coracle::{TorrentState, TorrentStats};

use super::line::{self, elapsed, percent, rate};
use super::{json, printable, End, Mode};

pub use super::line::{peers, size};

/// How long the download rate must hold before an ETA is shown.
const ETA_SETTLE: Duration = Duration::from_secs(5);
/// How often a plain line may be printed (also on a terminal too narrow for the live line).
const PLAIN_EVERY: Duration = Duration::from_secs(5);

/// The terminal's width in columns: `COLUMNS` if set, else what the terminal says, else 80.
fn term_width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse().ok())
        .filter(|&c| c > 0)
        .or_else(|| super::terminal::terminal_width().map(usize::from))
        .unwrap_or(80)
}

/// What an interruption says on stderr: how far it got, and how to go on.
pub fn interrupted(stats: Option<&TorrentStats>) -> String {
    let so_far = match stats.filter(|s| s.bytes_total > 0) {
        Some(s) => format!(
            " at {:.1}% ({} of {}; {} fetched in this run)",
            percent(s),
            size(s.bytes_done),
            size(s.bytes_total),
            size(s.downloaded)
        ),
        None => " before the data was complete".into(),
    };
    format!("interrupted{so_far}; run the same command again to resume")
}

/// Prints what a running torrent is doing, in the chosen [`Mode`].
pub struct Reporter {
    mode: Mode,
    tty: bool,
    name: String,
    total: u64,
    started: Instant,
    last: Option<Instant>,
    /// A live line is on screen and must be cleared before any other line.
    drawn: bool,
    /// The folder the torrent is in, and its info-hash, once known.
    dir: Option<PathBuf>,
    info_hash: String,
    /// The last plain or JSON progress line, and when a plain one was printed.
    last_line: String,
    last_plain: Option<Instant>,
    /// Since when the download rate has been above zero (for the ETA).
    rate_since: Option<Instant>,
}

impl Reporter {
    /// A reporter for the torrent `name` of `total` bytes; it asks whether stdout is a terminal.
    pub fn new(mode: Mode, name: &str, total: u64) -> Reporter {
        Reporter {
            mode,
            tty: std::io::stdout().is_terminal(),
            name: printable(name),
            total,
            started: Instant::now(),
            last: None,
            drawn: false,
            dir: None,
            info_hash: String::new(),
            last_line: String::new(),
            last_plain: None,
            rate_since: None,
        }
    }

    /// A magnet's metadata arrived: from now on the torrent has its real name and size.
    pub fn set_torrent(&mut self, name: &str, total: u64) {
        self.name = printable(name);
        self.total = total;
    }

    /// The torrent runs: where its data goes and its info-hash. Under `--json` this prints the
    /// first record, `started`.
    pub fn set_place(&mut self, dir: &Path, info_hash: &str, port: u16) {
        self.dir = Some(dir.to_path_buf());
        self.info_hash = info_hash.to_string();
        if self.mode == Mode::Json {
            let line = format!(
                "{{\"state\":\"started\",\"name\":{},{},\"bytes_total\":{},\"port\":{port}}}",
                json::string(&self.name),
                self.place_fields(),
                self.total
            );
            self.print_line(&line);
        }
    }

    /// `"info_hash":…,"output":…` for JSON records.
    fn place_fields(&self) -> String {
        format!(
            "\"info_hash\":{},\"output\":{}",
            json::string(&self.info_hash),
            json::string(&self.output())
        )
    }

    /// The torrent's file or folder on disk, for people.
    fn output(&self) -> String {
        let dir = self.dir.clone().unwrap_or_default();
        printable(&dir.join(&self.name).display().to_string())
    }

    /// Whether the display wants numbers fresher than the once-a-second events.
    pub fn wants_live_stats(&self) -> bool {
        self.mode == Mode::Human && self.tty
    }

    /// How often the display is refreshed; `None` when it never is (`--quiet`).
    fn every(&self) -> Option<Duration> {
        match (self.mode, self.tty) {
            (Mode::Quiet, _) => None,
            (Mode::Json, _) => Some(Duration::from_secs(1)),
            (Mode::Human, true) => Some(Duration::from_millis(250)),
            (Mode::Human, false) => Some(PLAIN_EVERY),
        }
    }

    /// Whether it is time for [`Self::show`] again.
    pub fn due(&self, now: Instant) -> bool {
        self.until_due(now) == Some(Duration::ZERO)
    }

    /// How long until [`Self::show`] is due; `None` when it never is.
    pub fn until_due(&self, now: Instant) -> Option<Duration> {
        let every = self.every()?;
        Some(self.last.map_or(Duration::ZERO, |t| {
            (t + every).saturating_duration_since(now)
        }))
    }

    /// Whether the rate has held long enough for an ETA; notes when it started.
    fn rate_is_stable(&mut self, s: &TorrentStats) -> bool {
        if s.state != TorrentState::Downloading || s.down_rate < 1.0 {
            self.rate_since = None;
            return false;
        }
        let since = *self.rate_since.get_or_insert_with(Instant::now);
        since.elapsed() >= ETA_SETTLE
    }

    /// Shows the latest numbers: redraws the live line, or prints a plain or JSON line.
    pub fn show(&mut self, s: &TorrentStats) {
        let now = Instant::now();
        self.last = Some(now);
        let stable = self.rate_is_stable(s);
        match (self.mode, self.tty) {
            (Mode::Quiet, _) => {}
            (Mode::Json, _) => {
                let eta = line::eta_secs(s, stable);
                self.print_new(json::progress(s, eta));
            }
            (Mode::Human, true) => match line::live(s, term_width(), stable) {
                Some(l) => {
                    self.drawn = true;
                    let mut out = std::io::stdout().lock();
                    let _ = write!(out, "\r{l}\x1b[K");
                    let _ = out.flush();
                }
                None => self.plain(s, stable, now),
            },
            (Mode::Human, false) => self.plain(s, stable, now),
        }
    }

    /// A plain line, at most every [`PLAIN_EVERY`] and never twice the same.
    fn plain(&mut self, s: &TorrentStats, stable: bool, now: Instant) {
        if self.last_plain.is_some_and(|t| now < t + PLAIN_EVERY) {
            return;
        }
        self.clear();
        self.last_plain = Some(now);
        self.print_new(line::plain(&self.name, s, stable));
    }

    /// Prints `line` unless it repeats the previous progress line exactly.
    fn print_new(&mut self, line: String) {
        if line != self.last_line {
            self.print_line(&line);
            self.last_line = line;
        }
    }

    fn print_line(&self, line: &str) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }

    /// Prints a line for people (not in `--quiet` or `--json` mode), clearing the bar first.
    pub fn say(&mut self, msg: &str) {
        if self.mode != Mode::Human {
            return;
        }
        self.clear();
        self.print_line(msg);
        // Redraw at once rather than leave the terminal without a bar for a while.
        self.last = None;
    }

    /// Prints `coracle: warning: <msg>` on stderr (not in `--quiet` mode).
    pub fn warn(&mut self, msg: &str) {
        if self.mode != Mode::Quiet {
            self.clear();
            eprintln!("coracle: warning: {msg}");
        }
    }

    /// Clears the live line, if one is on screen, so the next line starts clean.
    pub fn clear(&mut self) {
        if std::mem::take(&mut self.drawn) {
            let mut out = std::io::stdout().lock();
            let _ = write!(out, "\r\x1b[K");
            let _ = out.flush();
        }
    }

    /// Reports that every piece is verified and on disk: where, how much this run fetched, and
    /// whether coracle keeps seeding.
    pub fn completed(&mut self, stats: Option<&TorrentStats>, seeding: bool) {
        let secs = self.started.elapsed().as_secs_f64();
        let downloaded = stats.map_or(0, |s| s.downloaded);
        let then = if seeding {
            "seeding; press Ctrl-C to stop"
        } else {
            "not seeding (--seed keeps sharing it)"
        };
        let msg = if downloaded == 0 {
            // Nothing fetched: the data was already there (the check found it whole).
            format!(
                "all {} verified on disk: {}; {then}",
                size(self.total),
                self.output()
            )
        } else {
            format!(
                "done: {}: fetched {} of {} in {} (avg {}); {then}",
                self.output(),
                size(downloaded),
                size(self.total),
                elapsed(secs),
                rate(downloaded as f64 / secs.max(0.001))
            )
        };
        self.say(&msg);
        if self.mode == Mode::Json {
            let line = json::last(
                "completed",
                &self.name,
                stats,
                secs,
                None,
                &self.place_fields(),
            );
            self.print_line(&line);
        }
    }

    /// The closing output once the session has shut down: the JSON record, or a last line.
    pub fn finish(&mut self, end: &End, stats: Option<&TorrentStats>) {
        let secs = self.started.elapsed().as_secs_f64();
        match (self.mode, end) {
            (Mode::Json, End::Complete) => {} // already printed by `completed`
            (Mode::Json, _) => {
                let (state, err) = match end {
                    End::Failed(why) | End::BadSelection(why) => ("failed", Some(why.as_str())),
                    End::Interrupted => ("interrupted", None),
                    _ => ("stopped", None),
                };
                let line = json::last(state, &self.name, stats, secs, err, &self.place_fields());
                self.print_line(&line);
            }
            (_, End::Stopped) => {
                let up = size(stats.map_or(0, |s| s.uploaded));
                self.say(&format!("stopped: {}, uploaded {up}", self.name));
            }
            _ => self.clear(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_interruption_says_how_far_and_how_to_resume() {
        let mut s = TorrentStats::default();
        s.bytes_done = 4 << 20;
        s.bytes_total = 10 << 20;
        s.downloaded = 1 << 20;
        assert_eq!(
            interrupted(Some(&s)),
            "interrupted at 40.0% (4.0 MiB of 10.0 MiB; 1.0 MiB fetched in this run); \
             run the same command again to resume"
        );
        assert_eq!(
            interrupted(None),
            "interrupted before the data was complete; run the same command again to resume"
        );
    }
}
