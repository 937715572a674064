//! Hand-written JSON lines for `--json` (one object per line), so the binary needs no serializer.
//! Pure formatting, called on the binary's main thread.

use std::fmt::Write;

use coracle::{TorrentState, TorrentStats};

/// `s` as a JSON string literal, quotes included. Control characters become `\uXXXX` escapes so a
/// hostile torrent name cannot break the one-object-per-line framing.
pub fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The lowercase word for a state, as used in the `state` field.
pub fn state_name(s: &TorrentState) -> &'static str {
    match s {
        TorrentState::FetchingMetadata => "fetching_metadata",
        TorrentState::Checking => "checking",
        TorrentState::Downloading => "downloading",
        TorrentState::Seeding => "seeding",
        TorrentState::Paused => "paused",
        TorrentState::Failed(_) => "failed",
    }
}

/// The numeric fields shared by every record, without braces, after a `state` field.
fn fields(state: &str, s: &TorrentStats) -> String {
    format!(
        "\"state\":{},\"bytes_done\":{},\"bytes_total\":{},\"down_rate\":{},\"up_rate\":{},\
         \"peers\":{},\"seeds\":{},\"peers_connecting\":{},\"peers_known\":{},\"pieces_done\":{},\"pieces_total\":{},\"downloaded\":{},\"uploaded\":{},\
         \"hash_failures\":{},\"pieces_checked\":{}",
        string(state),
        s.bytes_done,
        s.bytes_total,
        rate(s.down_rate),
        rate(s.up_rate),
        s.peers,
        s.seeds,
        s.peers_connecting,
        s.peers_known,
        s.pieces_done,
        s.pieces_total,
        s.downloaded,
        s.uploaded,
        s.hash_failures,
        s.pieces_checked,
    ) + &file_fields(s)
}

/// `,"bytes_wanted":…,"files":[…]`: what is wanted, and each file's length, verified bytes
/// and priority (in torrent order, numbered as `coracle info` numbers them).
fn file_fields(s: &TorrentStats) -> String {
    let mut out = format!(
        ",\"bytes_wanted\":{},\"bytes_wanted_done\":{}",
        s.bytes_wanted, s.bytes_wanted_done
    );
    if s.files.is_empty() {
        return out;
    }
    out.push_str(",\"files\":[");
    for (i, f) in s.files.iter().enumerate() {
        let comma = if i == 0 { "" } else { "," };
        let _ = write!(
            out,
            "{comma}{{\"index\":{i},\"length\":{},\"done\":{},\"priority\":{}}}",
            f.length,
            f.done,
            string(f.priority.name())
        );
    }
    out.push(']');
    out
}

/// Rates are whole bytes per second: fractions are noise, and NaN or infinity is not JSON.
fn rate(r: f64) -> u64 {
    if r.is_finite() && r > 0.0 {
        r.round() as u64
    } else {
        0
    }
}

/// A periodic progress record, with the seconds left (`null` until the rate is stable).
pub fn progress(s: &TorrentStats, eta_secs: Option<u64>) -> String {
    let eta = eta_secs.map_or("null".to_string(), |e| e.to_string());
    format!("{{{},\"eta_secs\":{eta}}}", fields(state_name(&s.state), s))
}

/// The record of a run that failed before it started: `{"state":"failed","error":...}`.
pub fn failed(err: &str) -> String {
    format!("{{\"state\":\"failed\",\"error\":{}}}", string(err))
}

/// The last record: `state` is `completed`, `stopped`, `interrupted` or `failed` (with `error`);
/// `place` is more fields (info-hash and output path), without braces.
pub fn last(
    state: &str,
    name: &str,
    stats: Option<&TorrentStats>,
    secs: f64,
    err: Option<&str>,
    place: &str,
) -> String {
    let mut out = match stats {
        Some(s) => format!("{{{}", fields(state, s)),
        None => format!("{{\"state\":{}", string(state)),
    };
    let _ = write!(
        out,
        ",\"name\":{},{place},\"elapsed_secs\":{:.1}",
        string(name),
        secs
    );
    if let Some(e) = err {
        let _ = write!(out, ",\"error\":{}", string(e));
    }
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_quotes_backslashes_and_controls() {
        assert_eq!(string("a\"b\\c\nd\u{1}é"), "\"a\\\"b\\\\c\\nd\\u0001é\"");
    }

    use coracle::{FilePriority, FileProgress};

    #[test]
    fn progress_record_has_the_documented_fields() {
        let mut s = TorrentStats::default();
        s.state = TorrentState::Downloading;
        s.pieces_done = 1;
        s.pieces_total = 4;
        s.bytes_done = 10;
        s.bytes_total = 40;
        s.downloaded = 12;
        s.uploaded = 0;
        s.down_rate = 2.6;
        s.up_rate = f64::NAN;
        s.peers = 3;
        s.seeds = 1;
        s.peers_connecting = 2;
        s.peers_known = 9;
        assert_eq!(
            progress(&s, Some(7)),
            "{\"state\":\"downloading\",\"bytes_done\":10,\"bytes_total\":40,\"down_rate\":3,\
             \"up_rate\":0,\"peers\":3,\"seeds\":1,\"peers_connecting\":2,\"peers_known\":9,\
             \"pieces_done\":1,\"pieces_total\":4,\"downloaded\":12,\"uploaded\":0,\
             \"hash_failures\":0,\"pieces_checked\":0,\"bytes_wanted\":0,\
             \"bytes_wanted_done\":0,\"eta_secs\":7}"
        );
        let files = vec![
            {
                let mut file = FileProgress::default();
                file.length = 30;
                file.done = 10;
                file.priority = FilePriority::High;
                file
            },
            {
                let mut file = FileProgress::default();
                file.length = 10;
                file.done = 0;
                file.priority = FilePriority::Skip;
                file
            },
        ];
        let mut s = s.clone();
        s.files = files;
        let with_files = progress(&s, None);
        assert!(with_files.ends_with(
            ",\"files\":[{\"index\":0,\"length\":30,\"done\":10,\"priority\":\"high\"},\
             {\"index\":1,\"length\":10,\"done\":0,\"priority\":\"skip\"}],\"eta_secs\":null}"
        ));
        let end = last(
            "failed",
            "n\"x",
            None,
            1.5,
            Some("disk full"),
            "\"output\":\"o\"",
        );
        assert_eq!(
            end,
            "{\"state\":\"failed\",\"name\":\"n\\\"x\",\"output\":\"o\",\"elapsed_secs\":1.5,\
             \"error\":\"disk full\"}"
        );
        assert_eq!(failed("no"), "{\"state\":\"failed\",\"error\":\"no\"}");
    }
}
