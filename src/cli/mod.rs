//! The commands behind the `coracle` binary. Each one is a thin layer over the library: it builds
//! a [`SessionConfig`], adds one torrent, and turns the session's events into output and an exit
//! code. Nothing here knows the protocol.
//!
//! Runs on the binary's main thread, plus one `coracle-signals` thread that only forwards SIGINT
//! and SIGTERM to the main loop (see `install_signals`).

// I/O shell: the command line's files, clock, terminal and environment (covers the children).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod cat;
#[cfg(feature = "create")]
pub mod create;
mod info;
mod json;
mod magnet;
mod progress;

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use coracle::engine::{Event, TorrentStats};
use coracle::metainfo::Metainfo;
use coracle::selection::FileSelection;
use coracle::session::read_torrent_file;
use coracle::{AddOptions, Error, Session, SessionConfig, TorrentHandle, TorrentSource};
use crossbeam_channel::{Receiver, RecvTimeoutError, Select};

use progress::Reporter;

/// Exit status: the command did what was asked.
pub const EXIT_OK: i32 = 0;
/// Exit status: it failed or was interrupted before finishing (the reason is on stderr).
pub const EXIT_FAIL: i32 = 1;
/// Exit status: the command line was wrong.
pub const EXIT_USAGE: i32 = 2;

/// The `--help` text.
pub const USAGE: &str = concat!(
    "coracle ",
    env!("CARGO_PKG_VERSION"),
    " - a small, fast BitTorrent client

Usage:
  coracle FILE.torrent|MAGNET [OPTIONS]   same as: coracle download FILE.torrent|MAGNET -o .
  coracle download FILE.torrent|MAGNET [-o DIR] [OPTIONS]
  coracle seed FILE.torrent --data DIR [OPTIONS]
  coracle info FILE.torrent|MAGNET [--timeout SECS] [--save-torrent FILE] [--peer HOST:PORT]
  coracle cat FILE.torrent|MAGNET [--file N] [-o DIR] [OPTIONS] > OUT
  coracle create PATH [-o FILE.torrent] [CREATE OPTIONS]

MAGNET is a magnet link ('magnet:?xt=urn:btih:...', quoted for the shell): its metadata is
fetched from peers (its x.pe addresses, its tr trackers, --peer), then it downloads like a
.torrent. Hybrid links (btih and btmh) join the v1 swarm; v2-only links are refused.
A link's so= (BEP 53) chooses its files, as --only does.

Commands:
  download   Download into DIR and exit once every piece is verified and on disk.
             Data already in DIR is checked first and only what is missing is fetched;
             with resume state from an earlier run, only files changed since are checked.
  seed       Check the data in DIR (the folder `download -o DIR` wrote into) and serve it
             until Ctrl-C. If pieces are missing it says so and downloads them too.
  info       Print the name, info-hash, sizes, pieces, files (numbered, for --only) and
             trackers of a .torrent, or of a magnet link's metadata (fetched within
             --timeout, default 60 s),
             and any file path it had to clean up (`..`, `/` in names, over-long names, ...).
             With resume state, unchanged data is not read again.
  cat        Download like `download` and write file N (--file N: files numbered from 0
             in the order `info` lists them; not needed for one file) to stdout, in
             order, while it downloads: the bytes at the read position are fetched
             first. Progress goes to stderr. Exits 0 once the whole file is written,
             or quietly when the reader closes the pipe (a player that quit).
  create     Make a .torrent of the file or folder PATH: every regular file, hidden ones
             included, sorted by path, symlinks followed (as mktorrent does).

Options:
  -o, --output DIR     download: folder the torrent's file or folder goes in (default: .)
  -d, --data DIR       seed: folder holding the torrent's file or folder (required)
      --seed           download: keep seeding after completion, until Ctrl-C
      --only LIST      download only these files, numbered as `coracle info` prints them
                       (0,3-5); the others are never created (bytes they share with a
                       chosen file's pieces stay in DIR/.<info-hash>.parts)
      --exclude GLOB   skip the files whose path, as `info` prints it, matches GLOB
                       (* any run of characters, / included; ? one; repeatable)
  -p, --port N         listen for peers on 0.0.0.0:N (default 6881; 0 picks a free port)
      --peer HOST:PORT connect to this peer as well (repeatable; works without trackers)
      --max-peers N    most peers connected at once (default 50)
      --max-upload-rate RATE
                       upload at most RATE bytes per second (suffix K or M for KiB/MiB)
      --max-download-rate RATE
                       download at most RATE bytes per second (suffix K or M)
      --sequential     fetch pieces in order, first to last, instead of rarest first
      --storage mmap|pwrite
                       how files are written: memory maps (default) or pwrite, which
                       costs about a quarter less CPU per byte on Linux ext4
      --no-trackers    ignore the torrent's trackers and use only --peer (the DHT and
                       local discovery still find peers; add --no-dht --no-lsd for none)
      --no-pex         do not exchange peer lists with peers (BEP 11; never on private
                       torrents anyway)
      --save-torrent FILE
                       write the .torrent (for a magnet: once its metadata arrives; its
                       info-hash is the magnet's)
      --no-dht         do not use the DHT (BEP 5) to find peers
      --dht-bootstrap HOST:PORT
                       join the DHT through this node (repeatable; replaces the default
                       routers router.bittorrent.com, dht.transmissionbt.com and
                       router.utorrent.com, port 6881)
      --no-lsd         do not announce on, or listen to, the local network (BEP 14)
      --state-dir DIR  where resume state (DIR/resume: a restart skips rehashing unchanged
                       data) and the DHT's routing table are kept (default:
                       $XDG_STATE_HOME/coracle, else ~/.local/state/coracle)
      --recheck        ignore the resume state and check every piece on disk
      --checkpoint SECS
                       record verified pieces in the resume state at most SECS after
                       they verify (default 30; also at completion and exit)
  -q, --quiet          print nothing but errors

Create options:
  -o, --output FILE    the .torrent to write, which must not exist (default: NAME.torrent)
      --tracker URL    a tracker, in a tier of its own (repeatable; URL,URL makes one tier)
      --web-seed URL   a web seed (BEP 19; repeatable)
      --piece-size SIZE|auto
                       bytes per piece, a power of two from 16K to 128M (suffix K or M);
                       auto (default) aims at a hash list about twice the square root of
                       the total size, 16K to 16M, as libtorrent does
      --private        set the private flag: peers come only from the trackers
      --comment TEXT   a comment
      --source TEXT    a source tag in the info dictionary (changes the info-hash)
      --no-date        leave out the creation date (same input, same .torrent)
      --no-hidden      leave out files and folders whose names start with '.'
      --threads N      hashing threads (default: one per CPU, at most 8)
      --json           print a JSON object per line about once a second, and a final one
                       (state: checking, downloading, seeding; final: completed, stopped,
                       interrupted or failed with \"error\")
  -v, --verbose        log more to stderr (-v info, -vv debug; or RUST_LOG=info|debug)
  -h, --help           print this help
  -V, --version        print the version

Private torrents (BEP 27) never use the DHT or local discovery.

Progress goes to stdout: a live bar on a terminal, a plain line every 5 seconds otherwise
(create: to stderr, and the summary with the info-hash to stdout).
Errors go to stderr as `coracle: <message>`.

Ctrl-C or SIGTERM stops cleanly: trackers are told, files are flushed. Press it twice
to quit at once.

Exit status:
  0  download complete (every piece verified and on disk), or seeding of complete
     data stopped by Ctrl-C/SIGTERM, or the .torrent written (create)
  1  failure, or Ctrl-C/SIGTERM before the data was complete (\"interrupted\")
  2  usage error

Examples:
  coracle debian.iso.torrent
  coracle download debian.iso.torrent -o ~/Downloads --seed
  coracle download test.torrent -o out --no-trackers --no-dht --no-lsd --peer 127.0.0.1:6881 --port 0
  coracle seed debian.iso.torrent --data ~/Downloads
  coracle download debian.iso.torrent --json | tail -n 1
  coracle info debian.iso.torrent
  coracle 'magnet:?xt=urn:btih:...&dn=debian.iso' -o ~/Downloads --save-torrent debian.torrent
  coracle create ~/share/photos -o photos.torrent --tracker udp://tracker.example:6969
"
);

/// What the command line asks for.
#[derive(Debug)]
pub enum Command {
    /// Print [`USAGE`].
    Help,
    /// Print the version.
    Version,
    /// Describe a .torrent, or fetch a magnet's metadata and describe it.
    Info(InfoArgs),
    /// Download or seed a torrent.
    Run(RunArgs),
    /// Make a .torrent.
    #[cfg(feature = "create")]
    Create(create::CreateArgs),
}

/// How a running torrent reports on stdout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A bar on a terminal, plain lines otherwise.
    Human,
    /// JSON lines.
    Json,
    /// Nothing (errors still go to stderr).
    Quiet,
}

/// Where the torrent comes from: a .torrent file or a magnet link (already checked to parse).
#[derive(Clone, Debug)]
pub enum Source {
    /// A .torrent file.
    File(PathBuf),
    /// A magnet link.
    Magnet(String),
}

/// The options of `info`.
#[derive(Debug)]
pub struct InfoArgs {
    /// What to describe.
    pub source: Source,
    /// How long a magnet's metadata may take.
    pub timeout: Duration,
    /// Write the .torrent here (for a magnet: one whose info-hash is the magnet's).
    pub save_torrent: Option<PathBuf>,
    /// Peers to ask for a magnet's metadata besides its `x.pe` and trackers.
    pub peers: Vec<SocketAddr>,
    /// Listen port while fetching (0 picks one).
    pub port: u16,
}

/// The options of `download` and `seed`.
#[derive(Debug)]
pub struct RunArgs {
    /// The .torrent file or magnet link.
    pub torrent: Source,
    /// Write the torrent's .torrent file here (once a magnet's metadata has arrived).
    pub save_torrent: Option<PathBuf>,
    /// Do not exchange peers with peers (BEP 11).
    pub no_pex: bool,
    /// The folder the torrent's file or folder lives in.
    pub dir: PathBuf,
    /// The `seed` command: report whether the data was complete.
    pub seed_cmd: bool,
    /// Keep going after completion until a signal.
    pub keep_seeding: bool,
    /// Listen port; 0 picks one.
    pub port: u16,
    /// Peers to dial directly.
    pub peers: Vec<SocketAddr>,
    /// Cap on connected peers.
    pub max_peers: Option<usize>,
    /// Upload limit in bytes per second.
    pub max_upload_rate: Option<u64>,
    /// Download limit in bytes per second.
    pub max_download_rate: Option<u64>,
    /// Fetch pieces in order instead of rarest first.
    pub sequential: bool,
    /// `cat`: the file to write to stdout (`None`: a torrent of one file, or a usage error).
    pub cat_file: Option<Option<usize>>,
    /// Read and write files with `pread`/`pwrite` instead of memory maps.
    pub pwrite: bool,
    /// Ignore the torrent's trackers.
    pub no_trackers: bool,
    /// Run no DHT node.
    pub no_dht: bool,
    /// DHT routers (`HOST:PORT`); empty: [`DHT_ROUTERS`].
    pub dht_bootstrap: Vec<String>,
    /// No local service discovery.
    pub no_lsd: bool,
    /// Where resume state and the DHT's table are kept (`None`: nowhere, every start checks
    /// the data).
    pub state_dir: Option<PathBuf>,
    /// Ignore resume state and check every piece.
    pub recheck: bool,
    /// How long after a piece verifies the resume state records it (`None`: the default).
    pub checkpoint: Option<Duration>,
    /// Files to download (`--only`, `--exclude`; a magnet's `so=` when `--only` is absent).
    pub select: FileSelection,
    /// Output style.
    pub mode: Mode,
    /// Extra log verbosity (`-v` count).
    pub verbose: u8,
}

/// How a run ended.
#[derive(Debug)]
pub enum End {
    /// Every piece verified (and no `--seed`).
    Complete,
    /// A signal after completion, while seeding.
    Stopped,
    /// A signal before completion.
    Interrupted,
    /// The torrent or the session failed.
    Failed(String),
    /// The file selection does not fit the torrent (known only once a magnet's metadata
    /// arrives): a usage error.
    BadSelection(String),
}

/// Runs `cmd` and returns the process exit status.
pub fn execute(cmd: Command) -> i32 {
    let outcome = match cmd {
        Command::Help => {
            let _ = std::io::stdout().write_all(USAGE.as_bytes());
            Ok(EXIT_OK)
        }
        Command::Version => {
            let _ = writeln!(std::io::stdout(), "coracle {}", env!("CARGO_PKG_VERSION"));
            Ok(EXIT_OK)
        }
        Command::Info(args) => magnet::info(&args),
        #[cfg(feature = "create")]
        Command::Create(args) => create::run(&args).map(|()| EXIT_OK),
        Command::Run(args) if args.cat_file.is_some() => {
            init_logging(args.verbose, args.mode == Mode::Quiet);
            cat::run(&args)
        }
        Command::Run(args) => {
            init_logging(args.verbose, args.mode == Mode::Quiet);
            run(&args)
        }
    };
    outcome.unwrap_or_else(|msg| {
        eprintln!("coracle: {msg}");
        EXIT_FAIL
    })
}

/// `s` with control characters replaced, so a hostile name cannot drive the terminal.
pub fn printable(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// Reads and parses a .torrent, with the file name in any error.
fn load(path: &Path) -> Result<Metainfo, String> {
    let bytes = read_torrent_file(path).map_err(|e| e.to_string())?;
    Metainfo::from_bytes(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// Downloads or seeds one torrent until it completes, fails or a signal arrives.
fn run(args: &RunArgs) -> Result<i32, String> {
    let (caught, signals) = install_signals()?;
    let (source, mut rep, intro) = match &args.torrent {
        Source::File(path) => {
            let meta = load(path)?;
            if let Err(e) = coracle::disk::choose_files(&meta, &args.dir, &[], &args.select) {
                eprintln!("coracle: {e}");
                return Ok(EXIT_USAGE);
            }
            let rep = Reporter::new(args.mode, &meta.name, meta.total_length);
            let intro = intro(args, &meta);
            (TorrentSource::Metainfo(Box::new(meta)), rep, intro)
        }
        Source::Magnet(uri) => magnet::start(args, uri)?,
    };
    let session = Session::new(session_config(args)).map_err(|e| match e {
        Error::Io { ref source, .. } if source.kind() == std::io::ErrorKind::AddrInUse => {
            format!("{e} (another client may be using it; choose one with --port)")
        }
        e => e.to_string(),
    })?;
    let opts = add_options(args);
    let handle = session.add(source, opts).map_err(|e| e.to_string())?;
    if let (Some(path), Some(meta)) = (&args.save_torrent, handle.metainfo()) {
        magnet::save_torrent(path, &meta, &args.torrent)?;
    }
    rep.say(&format!("{intro}, port {}", session.listen_addr().port()));
    let end = Watch::new(&handle, args, &mut rep).run(&session.events(), &signals, &caught);
    let last = handle.stats();
    // Exit 0 promises the data is on the disk, and the shutdown is what syncs it.
    let end = match (end, session.shutdown()) {
        (End::Failed(why), _) => End::Failed(why),
        (_, Err(e)) => End::Failed(format!("writing the files to disk failed: {e}")),
        (end, Ok(())) => end,
    };
    rep.finish(&end, last.as_ref());
    match end {
        End::Complete | End::Stopped => Ok(EXIT_OK),
        End::Interrupted => Err("interrupted before the data was complete".into()),
        End::Failed(why) => Err(why),
        End::BadSelection(why) => {
            eprintln!("coracle: {why}");
            Ok(EXIT_USAGE)
        }
    }
}

/// The torrent options the command line asks for.
fn add_options(args: &RunArgs) -> AddOptions {
    AddOptions {
        output: args.dir.clone(),
        peers: args.peers.clone(),
        no_trackers: args.no_trackers,
        recheck: args.recheck,
        sequential: args.sequential,
        select: args.select.clone(),
        ..AddOptions::default()
    }
}

/// The first line printed: what is about to happen.
fn intro(args: &RunArgs, m: &Metainfo) -> String {
    let verb = if args.seed_cmd {
        "checking"
    } else {
        "downloading"
    };
    format!(
        "{verb} {} ({}, {} pieces) in {}",
        printable(&m.name),
        progress::size(m.total_length),
        m.piece_hashes.len(),
        printable(&args.dir.display().to_string())
    )
}

/// The public DHT routers the binary joins through unless `--dht-bootstrap` names others (the
/// library itself has none: an embedder opts in). Every test overrides them.
pub const DHT_ROUTERS: [&str; 3] = [
    "router.bittorrent.com:6881",
    "dht.transmissionbt.com:6881",
    "router.utorrent.com:6881",
];

/// The session settings the options ask for.
fn session_config(args: &RunArgs) -> SessionConfig {
    let defaults = SessionConfig::default();
    // The library's defaults already give every run its own random peer id and seed.
    let mut engine = defaults.engine.clone();
    engine.upload_rate_limit = args.max_upload_rate;
    engine.download_rate_limit = args.max_download_rate;
    engine.pex = !args.no_pex;
    if let Some(n) = args.max_peers {
        engine.max_peers_per_torrent = n;
        engine.max_connections = engine.max_connections.max(n * 2);
    }
    if args.state_dir.is_some() {
        engine.checkpoint_interval = args
            .checkpoint
            .or(Some(coracle::session::CHECKPOINT_INTERVAL));
    }
    let mut storage = defaults.storage.clone();
    storage.force_pwrite = args.pwrite;
    // What every desktop client does: the public DHT and local discovery, unless told not to.
    let bootstrap = if args.dht_bootstrap.is_empty() {
        DHT_ROUTERS.iter().map(|r| r.to_string()).collect()
    } else {
        args.dht_bootstrap.clone()
    };
    let dht = coracle::DhtSettings {
        enabled: !args.no_dht,
        bootstrap,
        ..defaults.dht.clone()
    };
    SessionConfig {
        listen: SocketAddr::from(([0, 0, 0, 0], args.port)),
        engine,
        storage,
        dht,
        lsd: coracle::LsdSettings {
            enabled: !args.no_lsd,
        },
        state_dir: args.state_dir.clone(),
        ..defaults
    }
}

/// The first SIGINT or SIGTERM sets the returned flag (the run then shuts down cleanly); a second
/// one exits at once, in case shutting down hangs on a slow tracker. Each signal is also sent on
/// the returned channel by a thread that sleeps until one arrives, so the main loop can wait
/// for events without waking up to look at the flag.
fn install_signals() -> Result<(Arc<AtomicBool>, Receiver<()>), String> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let failed = |e: std::io::Error| format!("installing the signal handler: {e}");
    let flag = Arc::new(AtomicBool::new(false));
    for sig in [SIGINT, SIGTERM] {
        signal_hook::flag::register_conditional_shutdown(sig, EXIT_FAIL, flag.clone())
            .and_then(|_| signal_hook::flag::register(sig, flag.clone()))
            .map_err(failed)?;
    }
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]).map_err(failed)?;
    let (tx, rx) = crossbeam_channel::bounded(1);
    std::thread::Builder::new()
        .name("coracle-signals".into())
        .spawn(move || {
            for _ in signals.forever() {
                let _ = tx.try_send(());
            }
        })
        .map_err(failed)?;
    Ok((flag, rx))
}

/// The longest the main loop sleeps with nothing to show: completion and failure also arrive
/// as events, and this catches one lost to a full queue.
const SAFETY_NET: Duration = Duration::from_secs(10);

/// Waits up to `wait` for an event; a signal ends the wait early (the caller reads the flag).
fn next_event(
    events: &Receiver<Event>,
    signals: &Receiver<()>,
    wait: Duration,
) -> Result<Event, RecvTimeoutError> {
    let mut sel = Select::new();
    let on_event = sel.recv(events);
    sel.recv(signals);
    match sel.select_timeout(wait) {
        Ok(op) if op.index() == on_event => {
            op.recv(events).map_err(|_| RecvTimeoutError::Disconnected)
        }
        Ok(op) => {
            let _ = op.recv(signals);
            Err(RecvTimeoutError::Timeout)
        }
        Err(_) => Err(RecvTimeoutError::Timeout),
    }
}

/// Follows one torrent: feeds its numbers to the display and decides when the run ends.
struct Watch<'a> {
    handle: &'a TorrentHandle,
    args: &'a RunArgs,
    rep: &'a mut Reporter,
    latest: Option<TorrentStats>,
    complete: bool,
    told_incomplete: bool,
}

impl<'a> Watch<'a> {
    fn new(handle: &'a TorrentHandle, args: &'a RunArgs, rep: &'a mut Reporter) -> Self {
        Watch {
            handle,
            args,
            rep,
            latest: None,
            complete: false,
            told_incomplete: false,
        }
    }

    /// Loops until the torrent completes (without `--seed`), fails, or `caught` is set. It
    /// sleeps until an event, a signal or the next display refresh: an idle `--quiet` seed
    /// wakes only for the safety net.
    fn run(mut self, events: &Receiver<Event>, signals: &Receiver<()>, caught: &AtomicBool) -> End {
        loop {
            if caught.load(Ordering::Relaxed) {
                return if self.complete {
                    End::Stopped
                } else {
                    End::Interrupted
                };
            }
            match self.handle.wait_timeout(Duration::ZERO) {
                Ok(()) if !self.complete => {
                    if !self.on_complete() {
                        return End::Complete;
                    }
                }
                Ok(()) | Err(Error::Timeout) => {}
                Err(e) => return End::Failed(e.to_string()),
            }
            let wait = self
                .rep
                .until_due(Instant::now())
                .map_or(SAFETY_NET, |d| d.min(SAFETY_NET));
            match next_event(events, signals, wait) {
                Ok(Event::Progress { torrent, stats }) if torrent == self.handle.id() => {
                    self.update(stats)
                }
                Ok(Event::Checked {
                    torrent,
                    pieces_have,
                    pieces_total,
                }) if torrent == self.handle.id() => self.checked(pieces_have, pieces_total),
                Ok(Event::MetadataReceived { torrent }) if torrent == self.handle.id() => {
                    if let Err(end) = self.metadata_received() {
                        return end;
                    }
                }
                Ok(_) | Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    return End::Failed("the session stopped unexpectedly".into())
                }
            }
            if self.rep.due(Instant::now()) {
                if self.rep.wants_live_stats() {
                    if let Some(s) = self.handle.stats() {
                        self.update(s);
                    }
                }
                if let Some(s) = &self.latest {
                    self.rep.show(s);
                }
            }
        }
    }

    /// Reports completion; returns whether to keep running (seeding).
    fn on_complete(&mut self) -> bool {
        self.complete = true;
        if let Some(s) = self.handle.stats() {
            self.latest = Some(s);
        }
        self.rep.completed(self.latest.as_ref());
        if self.args.keep_seeding {
            self.rep.say("seeding; press Ctrl-C to stop");
        }
        self.args.keep_seeding
    }

    /// The check of existing data finished: `seed` says so when pieces are missing.
    fn checked(&mut self, have: u32, total: u32) {
        if self.args.seed_cmd && !self.told_incomplete && have < total {
            self.told_incomplete = true;
            self.rep.say(&format!(
                "data incomplete: {have} of {total} pieces on disk; downloading the rest"
            ));
        }
    }

    /// A magnet's metadata arrived: say what the torrent is, and save it when asked. A file
    /// selection that does not fit it ends the run (the library created no file).
    fn metadata_received(&mut self) -> Result<(), End> {
        let Some(meta) = self.handle.metainfo() else {
            return Ok(());
        };
        let chosen = coracle::disk::choose_files(&meta, &self.args.dir, &[], &self.args.select);
        if let Err(e) = chosen {
            return Err(End::BadSelection(e.to_string()));
        }
        self.rep.set_torrent(&meta.name, meta.total_length);
        self.rep.say(&format!(
            "metadata received: {} ({}, {} pieces)",
            printable(&meta.name),
            progress::size(meta.total_length),
            meta.piece_hashes.len()
        ));
        match &self.args.save_torrent {
            Some(path) => {
                magnet::save_torrent(path, &meta, &self.args.torrent).map_err(End::Failed)
            }
            None => Ok(()),
        }
    }

    /// Takes fresh numbers.
    fn update(&mut self, s: TorrentStats) {
        self.latest = Some(s);
    }
}

/// Prints log records to stderr: warnings and errors always (errors only with `--quiet`), more
/// with `-v` or `RUST_LOG`.
struct Logger {
    /// Whether stderr is a terminal that may be showing our bar (on stdout) on the same line.
    tty: bool,
}

impl log::Log for Logger {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.level() <= log::max_level()
    }

    fn log(&self, r: &log::Record) {
        if self.enabled(r.metadata()) {
            let clear = if self.tty { "\r\x1b[K" } else { "" };
            let level = r.level().as_str().to_ascii_lowercase();
            let _ = writeln!(
                std::io::stderr().lock(),
                "{clear}coracle: {level}: {}",
                r.args()
            );
        }
    }

    fn flush(&self) {}
}

/// Installs [`Logger`] with the level `-v`, `--quiet` and `RUST_LOG` ask for.
fn init_logging(verbose: u8, quiet: bool) {
    let env = std::env::var("RUST_LOG")
        .unwrap_or_default()
        .to_ascii_lowercase();
    let level = match verbose {
        _ if verbose >= 3 || env.contains("trace") => log::LevelFilter::Trace,
        _ if verbose == 2 || env.contains("debug") => log::LevelFilter::Debug,
        _ if verbose == 1 || env.contains("info") => log::LevelFilter::Info,
        _ if quiet => log::LevelFilter::Error,
        _ => log::LevelFilter::Warn,
    };
    let tty = std::io::stderr().is_terminal();
    if log::set_logger(Box::leak(Box::new(Logger { tty }))).is_ok() {
        log::set_max_level(level);
    }
}
