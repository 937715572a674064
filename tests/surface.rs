//! The public surface is deliberate: the crate root holds the session API and its types, the
//! sans-IO engine lives in `coracle::sansio`, `coracle::create` makes torrents, and nothing
//! else is public but the hidden `internals` (a cargo feature only this repository turns on).
//! These tests read the sources, so a module made public by accident, a config type that loses
//! `#[non_exhaustive]` or a CLI that reaches past the public API fails here.

// Test code reads the sources.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::path::{Path, PathBuf};

fn source(rel: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The names the crate root exports, written out: removing or renaming one breaks the build of
/// this test, which is the point (a semver check by hand).
#[allow(unused_imports)]
mod root_names {
    use coracle::sansio::{
        execute, peer_id_from_seed, Action, AnnounceDone, AnnounceEvent, AnnounceRequest,
        AnnounceResponse, Bitfield, BitfieldError, BlockRef, ConnId, Datagram, DhtConfig, DhtSetup,
        DiskDone, DiskRequest, Engine, FileSpan, FileStamp, HttpRange, Layout, LsdFamily,
        MagnetParams, MemoryStore, Outbox, PieceStore, PieceWants, ResumeTarget, TorrentDisk,
        TorrentError, TorrentParams, TrackerError, UdpKind, WebRequest, BLOCK_SIZE,
    };
    use coracle::{
        human_size, read_torrent_file, torrent_file, AddOptions, BencodeError, DhtSettings,
        DhtStats, DiscoveryStats, EngineConfig, Error, Event, EventReceiver, FileInfo,
        FilePriority, FileProgress, FileReader, FileSelection, InfoHash, LsdSettings, Magnet,
        MagnetError, MagnetPeer, MagnetWarning, Metainfo, MetainfoError, PathChange, PathIssue,
        PeerError, PeerInfo, RateLimits, RecvError, SelectError, Session, SessionConfig,
        SessionStats, ShutdownReport, StorageConfig, StorageError, Symlink, TorrentHandle,
        TorrentId, TorrentSource, TorrentState, TorrentStats, TrackerConfig, WireError,
        CHECKPOINT_INTERVAL, DEFAULT_READAHEAD,
    };
}

#[test]
fn only_create_sansio_and_the_hidden_internals_are_public_modules() {
    let lib = source("src/lib.rs");
    let lines: Vec<&str> = lib.lines().map(str::trim).collect();
    let mut public = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if let Some(name) = line.strip_prefix("pub mod ") {
            public.push(name.trim_end_matches(';'));
            if name.starts_with("internals") {
                assert_eq!(lines[i - 2], "#[cfg(feature = \"internals\")]");
                assert_eq!(lines[i - 1], "#[doc(hidden)]");
            }
        }
    }
    public.sort_unstable();
    assert_eq!(public, ["create", "internals", "sansio"]);
    assert!(
        !source("Cargo.toml").contains("default = [\"internals\""),
        "internals must never be a default feature"
    );
}

/// The binary is an embedder like any other: the session API only.
#[test]
fn the_cli_uses_only_the_root_api() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = vec![root.join("main.rs")];
    rust_files(&root.join("cli"), &mut files);
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for inner in ["coracle::internals", "coracle::sansio"] {
            assert!(!text.contains(inner), "{} names {inner}", file.display());
        }
    }
}

/// Config, stats and event types can grow fields without breaking anyone: each is
/// `#[non_exhaustive]` (built from `Default` and set field by field outside the crate).
#[test]
fn config_stats_and_event_types_are_non_exhaustive() {
    let types = [
        ("src/session.rs", "pub struct SessionConfig"),
        ("src/session.rs", "pub struct AddOptions"),
        ("src/session.rs", "pub struct DhtSettings"),
        ("src/session.rs", "pub struct LsdSettings"),
        ("src/disk/storage.rs", "pub struct StorageConfig"),
        ("src/engine/io.rs", "pub struct EngineConfig"),
        ("src/engine/io.rs", "pub struct TorrentStats"),
        ("src/engine/io.rs", "pub struct PeerInfo"),
        ("src/engine/io.rs", "pub enum Event"),
        ("src/engine/bucket.rs", "pub struct RateLimits"),
        ("src/tracker/http.rs", "pub struct TrackerConfig"),
        ("src/reactor/command.rs", "pub struct SessionStats"),
        ("src/reactor/command.rs", "pub struct ShutdownReport"),
        ("src/engine/discovery/mod.rs", "pub struct DiscoveryStats"),
        ("src/dht/mod.rs", "pub struct DhtStats"),
        ("src/selection.rs", "pub struct FileProgress"),
        ("src/session/error.rs", "pub enum Error"),
    ];
    for (file, item) in types {
        let text = source(file);
        let at = text
            .find(&format!("\n{item} {{"))
            .unwrap_or_else(|| panic!("{item} not in {file}"));
        // The attributes right above the item.
        let attrs: Vec<&str> = text[..at]
            .lines()
            .rev()
            .take_while(|l| l.starts_with("#["))
            .collect();
        assert!(
            attrs.contains(&"#[non_exhaustive]"),
            "{item} ({file}) is not #[non_exhaustive]: {attrs:?}"
        );
    }
}

/// Outside the crate, config types are built from `Default` and set field by field.
#[test]
fn config_types_build_from_default_and_fields() {
    let mut config = coracle::SessionConfig::default();
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.dht.enabled = false;
    config.engine.download_rate_limit = Some(1 << 20);
    config.tracker.timeout = std::time::Duration::from_secs(2);
    config.storage.force_pwrite = true;
    let mut options = coracle::AddOptions::default();
    options.no_trackers = true;
    options.rate_limits.upload = Some(1 << 10);
    assert!(!config.dht.enabled && options.no_trackers);
    assert_eq!(options.rate_limits.upload, Some(1024));
}
