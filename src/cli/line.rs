//! The words and numbers of a progress line: sizes, rates, durations, peer counts, and the live
//! line cut to a terminal's width (bar, then no bar, then a short form; when even that does not
//! fit, `None`, and the reporter prints plain lines instead). Pure formatting, called on the
//! binary's main thread.

use coracle::{TorrentState, TorrentStats};

use super::json;

pub use coracle::human_size as size;

/// A rate in bytes per second, as `1.2 MiB/s`.
pub fn rate(r: f64) -> String {
    let r = if r.is_finite() && r > 0.0 { r } else { 0.0 };
    format!("{}/s", size(r as u64))
}

/// A duration as `12s`, `3m05s` or `2h07m`.
pub fn duration(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m{:02}s", s / 60, s % 60),
        s => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// Elapsed time, with tenths while they still matter.
pub fn elapsed(secs: f64) -> String {
    if secs < 10.0 {
        format!("{secs:.1}s")
    } else {
        duration(secs.round() as u64)
    }
}

/// Bytes verified and bytes to verify: of the wanted pieces when files are skipped.
pub fn goal(s: &TorrentStats) -> (u64, u64) {
    if s.bytes_wanted > 0 {
        (s.bytes_wanted_done, s.bytes_wanted)
    } else {
        (s.bytes_done, s.bytes_total)
    }
}

/// Seconds left at the current rate, when the rate is `stable` (has held for a few seconds: a
/// first burst would promise far too little) and the answer is under 100 hours.
pub fn eta_secs(s: &TorrentStats, stable: bool) -> Option<u64> {
    let (done, total) = goal(s);
    let left = total.saturating_sub(done) as f64;
    let ok = stable && s.state == TorrentState::Downloading && s.down_rate >= 1.0;
    (ok && left / s.down_rate < 100.0 * 3600.0).then(|| (left / s.down_rate).ceil() as u64)
}

/// What to show where the ETA goes: the time left while downloading, else the state.
pub fn eta(s: &TorrentStats, stable: bool) -> String {
    match (&s.state, eta_secs(s, stable)) {
        (TorrentState::Downloading, Some(secs)) => format!("eta {}", duration(secs)),
        (TorrentState::Downloading, None) => "eta --".into(),
        (TorrentState::FetchingMetadata, _) => "fetching metadata".into(),
        (other, _) => json::state_name(other).into(),
    }
}

/// `1 peer`, `3 peers`.
pub fn peers(n: usize) -> String {
    format!("{n} peer{}", if n == 1 { "" } else { "s" })
}

/// Connected peers with their seeds, and the dials and addresses behind them:
/// `2 peers (1 seed), 3 connecting, 40 known`.
pub fn peer_counts(s: &TorrentStats) -> String {
    let mut out = peers(s.peers);
    if s.seeds > 0 {
        out.push_str(&format!(
            " ({} seed{})",
            s.seeds,
            if s.seeds == 1 { "" } else { "s" }
        ));
    }
    if s.peers_connecting > 0 {
        out.push_str(&format!(", {} connecting", s.peers_connecting));
    }
    out.push_str(&format!(", {} known", s.peers_known));
    if s.web_seeds + s.web_seeds_banned > 0 {
        // Web seeds (BEP 19): what they sent, apart from the peers.
        out.push_str(&format!(", web {}", size(s.web_downloaded)));
    }
    out
}

/// Share of the torrent verified, in percent.
pub fn percent(s: &TorrentStats) -> f64 {
    let (done, total) = goal(s);
    if total == 0 {
        100.0
    } else {
        done as f64 * 100.0 / total as f64
    }
}

/// What a magnet shows until its metadata arrives: there is no size to show a share of.
pub fn fetching(s: &TorrentStats) -> Option<String> {
    (s.state == TorrentState::FetchingMetadata)
        .then(|| format!("fetching metadata ({})", peer_counts(s)))
}

/// The plain line printed when no live line fits, or stdout is not a terminal.
pub fn plain(name: &str, s: &TorrentStats, stable: bool) -> String {
    match fetching(s) {
        Some(line) => format!("{name}: {line}"),
        None => format!(
            "{name}: {:.1}% {} of {}, down {}, up {}, {}, {}",
            percent(s),
            size(goal(s).0),
            size(goal(s).1),
            rate(s.down_rate),
            rate(s.up_rate),
            peer_counts(s),
            eta(s, stable)
        ),
    }
}

/// The live line for a terminal `width` columns wide: with a bar and every peer count when
/// there is room, without them, then a short form; `None` when not even that fits.
pub fn live(s: &TorrentStats, width: usize, stable: bool) -> Option<String> {
    // One spare column: writing the last one makes some terminals wrap before the `\r`.
    let fits = |l: &String| l.chars().count() < width;
    if let Some(line) = fetching(s) {
        return Some(line).filter(fits);
    }
    let pct = percent(s);
    let (down, eta) = (rate(s.down_rate), eta(s, stable));
    // Every peer count on a wide terminal, the connected ones only otherwise.
    let counts = if width >= 100 {
        peer_counts(s)
    } else {
        peers(s.peers)
    };
    let tail = format!(
        "{}/{}  ↓{down} ↑{}  {eta}  {counts}",
        size(goal(s).0),
        size(goal(s).1),
        rate(s.up_rate),
    );
    let bar_w = width.saturating_sub(tail.chars().count() + 12).min(30);
    let bar = if bar_w >= 5 {
        let filled = (((pct / 100.0) * bar_w as f64).floor() as usize).min(bar_w);
        format!("[{}{}] ", "#".repeat(filled), "-".repeat(bar_w - filled))
    } else {
        String::new()
    };
    let full = format!("{pct:5.1}% {bar}{tail}");
    let short = format!("{pct:5.1}% ↓{down} {eta} {}p", s.peers);
    [full, short].into_iter().find(fits)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn stats(done: u64, rate: f64) -> TorrentStats {
        {
            let mut stats = TorrentStats::default();
            stats.state = TorrentState::Downloading;
            stats.pieces_total = 10;
            stats.bytes_done = done;
            stats.bytes_total = 10 * 1024 * 1024;
            stats.downloaded = done;
            stats.down_rate = rate;
            stats.peers = 2;
            stats.seeds = 1;
            stats.peers_connecting = 3;
            stats.peers_known = 40;
            stats
        }
    }

    #[test]
    fn web_seed_bytes_are_shown_apart_from_peers() {
        let mut s = stats(0, 0.0);
        assert!(
            !peer_counts(&s).contains("web"),
            "no web seeds: nothing about them"
        );
        s.web_seeds = 1;
        s.web_downloaded = 3 * 1024 * 1024;
        assert_eq!(
            peer_counts(&s),
            "2 peers (1 seed), 3 connecting, 40 known, web 3.0 MiB"
        );
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
    fn live_line_shortens_to_fit_then_gives_up() {
        let s = stats(5 * 1024 * 1024, 1024.0 * 1024.0);
        let wide = live(&s, 120, true).unwrap();
        assert!(wide.starts_with(" 50.0% ["), "{wide}");
        assert!(
            wide.ends_with("eta 5s  2 peers (1 seed), 3 connecting, 40 known"),
            "{wide}"
        );
        for width in [100, 80, 60, 40, 30] {
            let line = live(&s, width, true).unwrap();
            assert!(line.chars().count() < width, "{width}: {line}");
        }
        assert_eq!(live(&s, 40, true).unwrap(), " 50.0% ↓1.0 MiB/s eta 5s 2p");
        assert_eq!(live(&s, 20, true), None);
        assert!(live(&stats(0, 0.0), 120, true).unwrap().contains("eta --"));
    }

    #[test]
    fn the_first_eta_waits_for_a_stable_rate() {
        let s = stats(5 * 1024 * 1024, 1024.0 * 1024.0);
        assert_eq!(eta(&s, false), "eta --");
        assert_eq!(eta(&s, true), "eta 5s");
        assert_eq!(eta_secs(&s, true), Some(5));
    }
}
