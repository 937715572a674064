//! Magnet links on the command line: starting a download from one, `info MAGNET` (fetch the
//! metadata, print it, stop), and `--save-torrent` (write a .torrent whose info-hash is the
//! magnet's).
//!
//! Part of the binary (main thread); only the public library API.

use std::path::Path;
use std::time::{Duration, Instant};

use coracle::TorrentSource;
use coracle::{torrent_file, AddOptions, Event, Magnet, Metainfo, Session, SessionConfig};

use super::progress::Reporter;
use super::{info, load, printable, InfoArgs, RunArgs, Source, EXIT_OK};

/// What `download MAGNET` starts with: the source, a reporter named after `dn` (the info-hash
/// without one; the size is learnt with the metadata), and the first line to print.
pub(super) fn start(
    args: &RunArgs,
    uri: &str,
) -> Result<(TorrentSource, Reporter, String), String> {
    if args.seed_cmd {
        return Err("seed needs the .torrent file: a magnet link has no data to check".into());
    }
    let m = Magnet::parse(uri).map_err(|e| format!("invalid magnet link: {e}"))?;
    let name = m.name.clone().unwrap_or_else(|| m.info_hash.to_hex());
    let rep = Reporter::new(args.mode, &name, 0);
    let mut intro = format!(
        "downloading {} (magnet link: fetching metadata from peers) in {}",
        printable(&name),
        printable(&args.dir.display().to_string())
    );
    if m.select_only.is_some() && !args.select.only.is_empty() {
        // BEP 53 `so=` is the link's suggestion; `--only` is the user's word (main.rs).
        intro.push_str("\nnote: --only replaces the link's file selection (so=...)");
    }
    Ok((TorrentSource::Magnet(uri.to_string()), rep, intro))
}

/// Writes `meta` as a .torrent at `path`, with the magnet's trackers (or the file's own).
pub(super) fn save_torrent(path: &Path, meta: &Metainfo, source: &Source) -> Result<(), String> {
    let trackers = match source {
        Source::Magnet(uri) => Magnet::parse(uri).map(|m| m.trackers).unwrap_or_default(),
        Source::File(_) => meta.trackers.clone(),
    };
    let bytes = torrent_file(meta.info_bytes(), &trackers);
    std::fs::write(path, bytes).map_err(|e| format!("writing {}: {e}", path.display()))
}

/// `coracle info`: describe a .torrent, or fetch a magnet's metadata (within the timeout) and
/// describe that.
pub(super) fn info(args: &InfoArgs) -> Result<i32, String> {
    let meta = match &args.source {
        Source::File(path) => load(path)?,
        Source::Magnet(uri) => fetch_metadata(args, uri)?,
    };
    if let Some(path) = &args.save_torrent {
        save_torrent(path, &meta, &args.source)?;
    }
    let text = if args.json {
        info::render_json(&meta)
    } else {
        info::render(&meta)
    };
    let _ = std::io::Write::write_all(&mut std::io::stdout(), text.as_bytes());
    Ok(EXIT_OK)
}

/// Joins the magnet's swarm only long enough to fetch its metadata; creates no file.
fn fetch_metadata(args: &InfoArgs, uri: &str) -> Result<Metainfo, String> {
    let mut cfg = SessionConfig::default();
    cfg.listen = std::net::SocketAddr::from(([0, 0, 0, 0], args.port));
    let session = Session::new(cfg).map_err(|e| e.to_string())?;
    let mut opts = AddOptions::default();
    opts.output = ".".into();
    opts.peers = args.peers.clone();
    opts.stop_at_metadata = true;
    let events = session.events();
    let handle = session
        .add(TorrentSource::Magnet(uri.to_string()), opts)
        .map_err(|e| e.to_string())?;
    let deadline = Instant::now() + args.timeout;
    loop {
        if let Some(meta) = handle.metainfo() {
            let _ = session.shutdown();
            return Ok(Metainfo::clone(&meta));
        }
        let Some(left) = deadline.checked_duration_since(Instant::now()) else {
            break;
        };
        // Metadata, failure or nothing: each ends the wait or loops to look again.
        if let Ok(Event::Failed { error, .. }) = events.recv_timeout(left.min(ONE_SECOND)) {
            return Err(format!("fetching the metadata failed: {error}"));
        }
    }
    let peers = handle.stats().map_or(0, |s| s.peers);
    let _ = session.shutdown();
    Err(format!(
        "no metadata within {} s ({peers} peer{} connected); try --timeout or --peer",
        args.timeout.as_secs(),
        if peers == 1 { "" } else { "s" }
    ))
}

const ONE_SECOND: Duration = Duration::from_secs(1);
