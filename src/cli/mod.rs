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
pub mod help;
mod info;
mod json;
mod line;
mod magnet;
mod progress;
mod signals;
mod start;
mod terminal;
pub mod units;
mod watch;

use std::io::{IsTerminal, Write};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use coracle::{read_torrent_file, AddOptions, Error, FileSelection, Metainfo, SessionConfig};
use coracle::{StorageError, TorrentSource};

use progress::Reporter;
use watch::Watch;

/// Exit status: the command did what was asked.
pub const EXIT_OK: i32 = 0;
/// Exit status: it failed or was interrupted before finishing (the reason is on stderr).
pub const EXIT_FAIL: i32 = 1;
/// Exit status: the command line was wrong.
pub const EXIT_USAGE: i32 = 2;

/// What the command line asks for.
// One value per process, parsed once: boxing the large variant would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Command {
    /// Print the help on a topic.
    Help(help::Topic),
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
    /// Print the description as one JSON object.
    pub json: bool,
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
    /// Memory for pieces being downloaded (`EngineConfig::piece_buffer_bytes`).
    pub piece_buffer: Option<u64>,
    /// Fetch pieces in order instead of rarest first.
    pub sequential: bool,
    /// `cat`: the file to write to stdout (`None`: a torrent of one file, or a usage error).
    pub cat_file: Option<Option<usize>>,
    /// Read and write files with `pread`/`pwrite` instead of memory maps.
    pub pwrite: bool,
    /// Ignore the torrent's trackers.
    pub no_trackers: bool,
    /// Use existing files whose size is not the torrent's (see `StorageError::ForeignFile`).
    pub overwrite: bool,
    /// Listen on, and dial from, this local address (`None`: every address).
    pub bind: Option<IpAddr>,
    /// Give up when nothing was received for this long while downloading.
    pub stall_timeout: Option<Duration>,
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

/// Why a command failed, and the exit status that says so.
#[derive(Debug)]
pub struct Failure {
    /// [`EXIT_FAIL`], or [`EXIT_USAGE`] when the command line must change (`--overwrite`).
    pub code: i32,
    /// The message, printed as `coracle: <msg>`.
    pub msg: String,
}

impl From<String> for Failure {
    fn from(msg: String) -> Failure {
        Failure {
            code: EXIT_FAIL,
            msg,
        }
    }
}

/// Reports a usage error (and, under `--json`, a final `failed` object on stdout); returns
/// [`EXIT_USAGE`].
pub fn usage_error(msg: &str, json: bool) -> i32 {
    if json {
        println!("{}", json::failed(msg));
    }
    eprintln!("coracle: {msg}\nTry 'coracle --help' for more information.");
    EXIT_USAGE
}

/// Runs `cmd` and returns the process exit status.
pub fn execute(cmd: Command) -> i32 {
    let outcome = match cmd {
        Command::Help(topic) => {
            help::print(topic);
            Ok(EXIT_OK)
        }
        Command::Version => {
            let _ = writeln!(std::io::stdout(), "coracle {}", env!("CARGO_PKG_VERSION"));
            Ok(EXIT_OK)
        }
        Command::Info(args) => magnet::info(&args).map_err(Failure::from),
        #[cfg(feature = "create")]
        Command::Create(args) => create::run(&args).map(|()| EXIT_OK).map_err(Failure::from),
        Command::Run(args) if args.cat_file.is_some() => {
            init_logging(args.verbose, args.mode == Mode::Quiet);
            cat::run(&args).map_err(Failure::from)
        }
        Command::Run(args) => {
            init_logging(args.verbose, args.mode == Mode::Quiet);
            run(&args)
        }
    };
    outcome.unwrap_or_else(|f| {
        eprintln!("coracle: {}", f.msg);
        f.code
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

/// Downloads or seeds one torrent until it completes, fails or a signal arrives. A failure
/// removes the empty folders the start created; under `--json` one that happens before the
/// torrent runs is reported as a final `failed` object (later ones by the reporter).
fn run(args: &RunArgs) -> Result<i32, Failure> {
    let loaded = match &args.torrent {
        Source::File(path) => Loaded::File(load(path).map(Box::new)),
        Source::Magnet(uri) => Loaded::Magnet(uri),
    };
    let name = match &loaded {
        Loaded::File(Ok(meta)) => Some(meta.name.as_str()),
        _ => None,
    };
    let cleanup = start::Cleanup::note(&args.dir, name);
    let mut reported = false;
    let result = run_started(args, loaded, &mut reported);
    if result.is_err() {
        cleanup.remove_empty();
        if args.mode == Mode::Json && !reported {
            let msg = result.as_ref().err().map_or("", |f| f.msg.as_str());
            println!("{}", json::failed(msg));
        }
    }
    result
}

/// What a run starts from, read once before anything else.
enum Loaded<'a> {
    /// The .torrent file, parsed (or why not).
    File(Result<Box<Metainfo>, String>),
    /// A magnet link, already checked to parse.
    Magnet(&'a str),
}

/// [`run`] itself, from what was loaded; sets `reported` once the reporter owns the final
/// output.
fn run_started(args: &RunArgs, loaded: Loaded, reported: &mut bool) -> Result<i32, Failure> {
    let (caught, signals) = signals::install()?;
    let (source, mut rep, intro) = match loaded {
        Loaded::File(meta) => {
            let meta = meta?;
            if let Err(e) = args.select.resolve_for(&meta) {
                return Err(Failure {
                    code: EXIT_USAGE,
                    msg: e.to_string(),
                });
            }
            if args.seed_cmd {
                start::check_seed_data(args, &meta)?;
            }
            let rep = Reporter::new(args.mode, &meta.name, meta.total_length);
            let intro = intro(args, &meta);
            (TorrentSource::Metainfo(meta), rep, intro)
        }
        Loaded::Magnet(uri) => magnet::start(args, uri)?,
    };
    let (session, moved_from) = start::open_session(session_config(args))?;
    let handle = session
        .add(source, add_options(args))
        .map_err(add_failure)?;
    if let (Some(path), Some(meta)) = (&args.save_torrent, handle.metainfo()) {
        magnet::save_torrent(path, &meta, &args.torrent)?;
    }
    let port = session.listen_addr().port();
    rep.set_place(&args.dir, &handle.info_hash().to_hex(), port);
    rep.say(&format!("{intro}, port {port}"));
    if let Some(taken) = moved_from {
        rep.say(&format!(
            "port {taken} is taken: listening on port {port} instead"
        ));
    }
    if let Some(why) = no_peer_source(args, handle.metainfo().as_deref()) {
        rep.warn(&format!(
            "no way to find peers ({why}): only peers that connect to port {port} will be found"
        ));
    }
    *reported = true;
    let events = watch::EventWait::new(session.events());
    let end = Watch::new(&handle, args, &mut rep).run(&events, &signals, &caught);
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
        End::Interrupted => Err(progress::interrupted(last.as_ref()).into()),
        End::Failed(why) => Err(why.into()),
        End::BadSelection(msg) => Err(Failure {
            code: EXIT_USAGE,
            msg,
        }),
    }
}

/// `Session::add`'s error for the user: an existing file in the way asks for `--overwrite`
/// (exit 2, as the command line must change).
fn add_failure(e: Error) -> Failure {
    match e {
        Error::Storage(ref s @ StorageError::ForeignFile { .. }) => Failure {
            code: EXIT_USAGE,
            msg: format!("{s}, or pass --overwrite to use it anyway"),
        },
        e => e.to_string().into(),
    }
}

/// Why no peer can be found, when none can: no `--peer`, no tracker, and neither the DHT nor
/// local discovery (or a private torrent, which uses neither).
fn no_peer_source(args: &RunArgs, meta: Option<&Metainfo>) -> Option<String> {
    let Some(meta) = meta else {
        return None; // a magnet: its own x.pe and tr are looked at by the library
    };
    let trackers = !args.no_trackers && !meta.trackers.is_empty();
    let discovery = !(meta.private || args.no_dht && args.no_lsd);
    if !args.peers.is_empty() || trackers || discovery {
        return None;
    }
    let trackers = if args.no_trackers {
        "--no-trackers"
    } else {
        "the torrent has no trackers"
    };
    let discovery = if meta.private {
        "a private torrent uses no DHT or local discovery"
    } else {
        "--no-dht --no-lsd"
    };
    Some(format!("{trackers}, no --peer, {discovery}"))
}

/// The torrent options the command line asks for.
fn add_options(args: &RunArgs) -> AddOptions {
    let mut opts = AddOptions::default();
    opts.output = args.dir.clone();
    opts.peers = args.peers.clone();
    opts.no_trackers = args.no_trackers;
    opts.recheck = args.recheck;
    opts.sequential = args.sequential;
    opts.select = args.select.clone();
    opts
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
    // The library's defaults already give every run its own random peer id and seed.
    let mut config = SessionConfig::default();
    config.listen = SocketAddr::new(args.bind.unwrap_or(IpAddr::from([0, 0, 0, 0])), args.port);
    config.state_dir = args.state_dir.clone();
    let engine = &mut config.engine;
    engine.upload_rate_limit = args.max_upload_rate;
    engine.download_rate_limit = args.max_download_rate;
    if let Some(bytes) = args.piece_buffer {
        engine.piece_buffer_bytes = usize::try_from(bytes).unwrap_or(usize::MAX);
        // The session-wide budget must hold at least one torrent's.
        engine.session_piece_buffer_bytes = engine
            .session_piece_buffer_bytes
            .max(engine.piece_buffer_bytes);
    }
    engine.pex = !args.no_pex;
    if let Some(n) = args.max_peers {
        engine.max_peers_per_torrent = n;
        engine.max_connections = engine.max_connections.max(n * 2);
    }
    if args.state_dir.is_some() {
        engine.checkpoint_interval = args.checkpoint.or(Some(coracle::CHECKPOINT_INTERVAL));
    }
    config.storage.force_pwrite = args.pwrite;
    config.storage.refuse_foreign_files = !args.overwrite;
    // What every desktop client does: the public DHT and local discovery, unless told not to.
    config.dht.enabled = !args.no_dht;
    config.dht.bootstrap = if args.dht_bootstrap.is_empty() {
        DHT_ROUTERS.iter().map(|r| r.to_string()).collect()
    } else {
        args.dht_bootstrap.clone()
    };
    config.lsd.enabled = !args.no_lsd;
    config
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
            let level = match r.level() {
                log::Level::Warn => "warning".to_string(),
                l => l.as_str().to_ascii_lowercase(),
            };
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
