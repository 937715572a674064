//! `coracle info`: what a .torrent holds, for people. Runs on the binary's main thread.

use std::fmt::Write;

use coracle::Metainfo;

use super::progress::size;
use super::{json, printable};

/// A byte count for people, with the exact number when the unit rounds it.
fn bytes(n: u64) -> String {
    if n < 1024 {
        size(n)
    } else {
        format!("{} ({n} bytes)", size(n))
    }
}

/// The whole report, ready to print.
pub fn render(m: &Metainfo) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "name:         {}", printable(&m.name));
    let _ = writeln!(o, "info-hash:    {}", m.info_hash);
    let _ = writeln!(o, "total size:   {}", bytes(m.total_length));
    let _ = writeln!(o, "piece length: {}", bytes(u64::from(m.piece_length)));
    let _ = writeln!(o, "pieces:       {}", m.piece_hashes.len());
    let _ = writeln!(o, "private:      {}", if m.private { "yes" } else { "no" });
    if let Some(c) = &m.comment {
        let _ = writeln!(o, "comment:      {}", printable(c));
    }
    if let Some(c) = &m.created_by {
        let _ = writeln!(o, "created by:   {}", printable(c));
    }
    if let Some(t) = m.creation_date {
        let _ = writeln!(o, "created:      {}", utc_date(t));
    }
    let _ = writeln!(o, "files ({}):", m.files.len());
    for (i, f) in m.files.iter().enumerate() {
        let mut marks = String::new();
        for (on, mark) in [
            (f.padding, "  [padding]"),
            (f.executable, "  [executable]"),
            (f.hidden, "  [hidden]"),
        ] {
            if on {
                marks.push_str(mark);
            }
        }
        let path = printable(&f.path.to_string_lossy());
        let _ = writeln!(o, "  {i:>3}  {:>10}  {path}{marks}", size(f.length));
    }
    if !m.symlinks.is_empty() {
        let _ = writeln!(o, "symlinks ({}):", m.symlinks.len());
        for l in &m.symlinks {
            let _ = writeln!(
                o,
                "  {} -> {}",
                printable(&l.path.to_string_lossy()),
                printable(&l.link_text().to_string_lossy())
            );
        }
    }
    if !m.path_changes.is_empty() {
        let _ = writeln!(o, "paths cleaned up ({}):", m.path_changes.len());
        for c in &m.path_changes {
            let why: Vec<&str> = c.issues.iter().map(|i| i.describe()).collect();
            let _ = writeln!(
                o,
                "  {:?} -> {}  ({})",
                printable(&c.original),
                printable(&c.cleaned.to_string_lossy()),
                why.join("; ")
            );
        }
    }
    if m.trackers.is_empty() {
        let _ = writeln!(o, "trackers:     none (trackerless: use --peer)");
    } else {
        let _ = writeln!(o, "trackers:");
        for (i, tier) in m.trackers.iter().enumerate() {
            let _ = writeln!(o, "  tier {}: {}", i + 1, printable(&tier.join(" ")));
        }
    }
    if !m.web_seeds.is_empty() {
        let _ = writeln!(o, "web seeds ({}):", m.web_seeds.len());
        for url in &m.web_seeds {
            let _ = writeln!(o, "  {}", printable(url));
        }
    }
    o
}

/// The same description as one JSON object on one line: `name`, `info_hash`, `total_size`,
/// `piece_length`, `pieces`, `private`, `files` (`path`, `length`, `padding`) and `trackers`
/// (a list of tiers, each a list of URLs).
pub fn render_json(m: &Metainfo) -> String {
    let mut o = format!(
        "{{\"name\":{},\"info_hash\":\"{}\",\"total_size\":{},\"piece_length\":{},\
         \"pieces\":{},\"private\":{},\"files\":[",
        json::string(&m.name),
        m.info_hash,
        m.total_length,
        m.piece_length,
        m.piece_hashes.len(),
        m.private
    );
    for (i, f) in m.files.iter().enumerate() {
        let _ = write!(
            o,
            "{}{{\"path\":{},\"length\":{},\"padding\":{}}}",
            if i == 0 { "" } else { "," },
            json::string(&f.path.to_string_lossy()),
            f.length,
            f.padding
        );
    }
    o.push_str("],\"trackers\":[");
    for (i, tier) in m.trackers.iter().enumerate() {
        o.push_str(if i == 0 { "[" } else { ",[" });
        for (j, url) in tier.iter().enumerate() {
            if j > 0 {
                o.push(',');
            }
            o.push_str(&json::string(url));
        }
        o.push(']');
    }
    o.push_str("]}\n");
    o
}

/// Seconds since the Unix epoch as `YYYY-MM-DD HH:MM:SS UTC` (proleptic Gregorian calendar).
fn utc_date(t: i64) -> String {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    // Howard Hinnant's days-to-civil: eras of 400 years, each exactly 146097 days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::utc_date;

    #[test]
    fn dates_convert_to_the_calendar() {
        assert_eq!(utc_date(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc_date(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc_date(1_700_000_000), "2023-11-14 22:13:20 UTC");
        assert_eq!(utc_date(-1), "1969-12-31 23:59:59 UTC");
    }
}
