//! What a running download prints: a live one-line bar on a terminal, a plain line every few
//! seconds otherwise, JSON lines with `--json`, nothing with `--quiet`. All of it goes to stdout
//! and write errors are ignored, so `coracle ... | head` does not turn a closed pipe into a panic.
//! Runs on the binary's main thread.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use coracle::engine::{TorrentState, TorrentStats};

use super::{json, printable, End, Mode};

/// Formats a byte count with binary units: `512 B`, `1.5 KiB`, `3.2 GiB`.
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut v = bytes as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// A rate in bytes per second, as `1.2 MiB/s`.
fn rate(r: f64) -> String {
    let r = if r.is_finite() && r > 0.0 { r } else { 0.0 };
    format!("{}/s", size(r as u64))
}

/// A duration as `12s`, `3m05s` or `2h07m`.
fn duration(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m{:02}s", s / 60, s % 60),
        s => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// Elapsed time, with tenths while they still matter.
fn elapsed(secs: f64) -> String {
    if secs < 10.0 {
        format!("{secs:.1}s")
    } else {
        duration(secs.round() as u64)
    }
}

/// Bytes verified and bytes to verify: of the wanted pieces when files are skipped.
fn goal(s: &TorrentStats) -> (u64, u64) {
    if s.bytes_wanted > 0 {
        (s.bytes_wanted_done, s.bytes_wanted)
    } else {
        (s.bytes_done, s.bytes_total)
    }
}

/// What to show where the ETA goes: the time left while downloading, else the state.
fn eta(s: &TorrentStats) -> String {
    match s.state {
        TorrentState::Downloading => {
            let (done, total) = goal(s);
            let left = total.saturating_sub(done) as f64;
            if s.down_rate >= 1.0 && left / s.down_rate < 100.0 * 3600.0 {
                format!("eta {}", duration((left / s.down_rate).ceil() as u64))
            } else {
                "eta --".into()
            }
        }
        TorrentState::FetchingMetadata => "fetching metadata".into(),
        ref other => json::state_name(other).into(),
    }
}

/// `1 peer`, `3 peers`.
fn peers(n: usize) -> String {
    format!("{n} peer{}", if n == 1 { "" } else { "s" })
}

fn percent(s: &TorrentStats) -> f64 {
    let (done, total) = goal(s);
    if total == 0 {
        100.0
    } else {
        done as f64 * 100.0 / total as f64
    }
}

/// The terminal's width in columns: `COLUMNS` if set, else what the terminal says, else 80.
fn term_width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse().ok())
        .filter(|&c| c > 0)
        .or_else(|| coracle::sys::terminal_width().map(usize::from))
        .unwrap_or(80)
}

/// What a magnet shows until its metadata arrives: there is no size to show a share of.
fn fetching_line(s: &TorrentStats) -> Option<String> {
    (s.state == TorrentState::FetchingMetadata)
        .then(|| format!("fetching metadata ({})", peers(s.peers)))
}

/// The bar line for a terminal `width` columns wide; the bar shrinks (or goes) to fit.
fn bar_line(s: &TorrentStats, width: usize) -> String {
    if let Some(line) = fetching_line(s) {
        return line;
    }
    let pct = percent(s);
    let head = format!("{pct:5.1}% ");
    let tail = format!(
        " {}/{}  ↓{} ↑{}  {}  {}",
        size(goal(s).0),
        size(goal(s).1),
        rate(s.down_rate),
        rate(s.up_rate),
        eta(s),
        peers(s.peers)
    );
    // One spare column: writing the last one makes some terminals wrap before the `\r`.
    let room = width.saturating_sub(head.chars().count() + tail.chars().count() + 3);
    let bar_w = room.min(30);
    if bar_w < 5 {
        return format!("{head}{}", tail.trim_start());
    }
    let filled = ((pct / 100.0) * bar_w as f64).floor() as usize;
    let filled = filled.min(bar_w);
    format!(
        "{head}[{}{}]{tail}",
        "#".repeat(filled),
        "-".repeat(bar_w - filled)
    )
}

/// Prints what a running torrent is doing, in the chosen [`Mode`].
pub struct Reporter {
    mode: Mode,
    tty: bool,
    name: String,
    total: u64,
    started: Instant,
    last: Option<Instant>,
    /// A bar is on screen and must be cleared before any other line.
    drawn: bool,
}

impl Reporter {
    /// A magnet's metadata arrived: from now on the torrent has its real name and size.
    pub fn set_torrent(&mut self, name: &str, total: u64) {
        self.name = printable(name);
        self.total = total;
    }

    /// A reporter for the torrent `name` of `total` bytes; it asks whether stdout is a terminal.
    pub fn new(mode: Mode, name: &str, total: u64) -> Reporter {
        let tty = std::io::stdout().is_terminal();
        Reporter {
            mode,
            tty,
            name: printable(name),
            total,
            started: Instant::now(),
            last: None,
            drawn: false,
        }
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
            (Mode::Human, false) => Some(Duration::from_secs(5)),
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

    /// Shows the latest numbers: redraws the bar, or prints a plain or JSON line.
    pub fn show(&mut self, s: &TorrentStats) {
        self.last = Some(Instant::now());
        let mut out = std::io::stdout().lock();
        let _ = match (self.mode, self.tty) {
            (Mode::Quiet, _) => Ok(()),
            (Mode::Json, _) => writeln!(out, "{}", json::progress(s)),
            (Mode::Human, true) => {
                self.drawn = true;
                write!(out, "\r{}\x1b[K", bar_line(s, term_width()))
            }
            (Mode::Human, false) if fetching_line(s).is_some() => {
                let line = fetching_line(s).unwrap_or_default();
                writeln!(out, "{}: {line}", self.name)
            }
            (Mode::Human, false) => writeln!(
                out,
                "{}: {:.1}% {} of {}, down {}, up {}, {}, {}",
                self.name,
                percent(s),
                size(goal(s).0),
                size(goal(s).1),
                rate(s.down_rate),
                rate(s.up_rate),
                peers(s.peers),
                eta(s)
            ),
        };
        let _ = out.flush();
    }

    /// Prints a line for people (not in `--quiet` or `--json` mode), clearing the bar first.
    pub fn say(&mut self, msg: &str) {
        if self.mode != Mode::Human {
            return;
        }
        self.clear();
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{msg}");
        let _ = out.flush();
        // Redraw at once rather than leave the terminal without a bar for a while.
        self.last = None;
    }

    /// Clears the bar, if one is on screen, so the shell prompt starts on a clean line.
    pub fn clear(&mut self) {
        if std::mem::take(&mut self.drawn) {
            let mut out = std::io::stdout().lock();
            let _ = write!(out, "\r\x1b[K");
            let _ = out.flush();
        }
    }

    /// Reports that every piece is verified and on disk.
    pub fn completed(&mut self, stats: Option<&TorrentStats>) {
        let secs = self.started.elapsed().as_secs_f64();
        let downloaded = stats.map_or(0, |s| s.downloaded);
        // With files skipped, what was asked for is less than the torrent.
        let total = stats.map_or(self.total, |s| goal(s).1);
        let msg = if downloaded == 0 {
            // Nothing fetched: the data was already there (the recheck found it whole).
            format!("{}: all {} verified on disk", self.name, size(total))
        } else {
            format!(
                "done: {}, {} in {} (avg {})",
                self.name,
                size(total),
                elapsed(secs),
                rate(downloaded as f64 / secs.max(0.001))
            )
        };
        self.say(&msg);
        if self.mode == Mode::Json {
            let _ = writeln!(
                std::io::stdout().lock(),
                "{}",
                json::last("completed", &self.name, stats, secs, None)
            );
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
                let line = json::last(state, &self.name, stats, secs, err);
                let _ = writeln!(std::io::stdout().lock(), "{line}");
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

    fn stats(done: u64, rate: f64) -> TorrentStats {
        TorrentStats {
            state: TorrentState::Downloading,
            pieces_done: 0,
            pieces_total: 10,
            bytes_done: done,
            bytes_total: 10 * 1024 * 1024,
            downloaded: done,
            uploaded: 0,
            down_rate: rate,
            up_rate: 0.0,
            peers: 2,
            seeds: 1,
            hash_failures: 0,
            banned: 0,
            pieces_checked: 0,
            ..TorrentStats::default()
        }
    }

    #[test]
    fn sizes_and_durations_read_well() {
        assert_eq!(size(0), "0 B");
        assert_eq!(size(1023), "1023 B");
        assert_eq!(size(1536), "1.5 KiB");
        assert_eq!(size(3 * 1024 * 1024 * 1024), "3.0 GiB");
        assert_eq!(duration(59), "59s");
        assert_eq!(duration(185), "3m05s");
        assert_eq!(duration(7620), "2h07m");
    }

    #[test]
    fn bar_fits_the_terminal_and_shows_eta() {
        let s = stats(5 * 1024 * 1024, 1024.0 * 1024.0);
        let line = bar_line(&s, 80);
        assert!(line.chars().count() < 80, "{line}");
        assert!(line.starts_with(" 50.0% ["), "{line}");
        assert!(
            line.contains("eta 5s") && line.contains("2 peers"),
            "{line}"
        );
        let narrow = bar_line(&s, 40);
        assert!(!narrow.contains('['), "{narrow}");
        assert!(bar_line(&stats(0, 0.0), 80).contains("eta --"));
    }
}
