//! `coracle create`: makes a .torrent of a file or folder with [`coracle::create`]. Progress goes
//! to stderr (a line redrawn on a terminal, one every 5 seconds otherwise), the summary to stdout.
//! Runs on the binary's main thread (the library hashes on its own worker threads).

use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use coracle::create::{PieceSize, Progress, TorrentBuilder};

use super::printable;
use super::progress::size;

/// The options of `create`.
#[derive(Debug)]
pub struct CreateArgs {
    /// The file or folder to share.
    pub path: PathBuf,
    /// Where the .torrent goes; default `NAME.torrent` in the current folder.
    pub output: Option<PathBuf>,
    /// Tracker tiers, one per `--tracker`; commas separate URLs of one tier (as mktorrent).
    pub trackers: Vec<Vec<String>>,
    /// Web seed URLs.
    pub web_seeds: Vec<String>,
    /// Piece size.
    pub piece_size: PieceSize,
    /// The private flag.
    pub private: bool,
    /// The comment.
    pub comment: Option<String>,
    /// Leave out the creation date.
    pub no_date: bool,
    /// The `source` field.
    pub source: Option<String>,
    /// Leave out hidden files.
    pub no_hidden: bool,
    /// Hashing threads (0: one per CPU).
    pub threads: usize,
    /// Print nothing but errors.
    pub quiet: bool,
}

/// Parses the arguments after `create`.
pub fn parse(mut args: pico_args::Arguments) -> Result<CreateArgs, String> {
    let err = |name: &'static str| move |e: pico_args::Error| format!("{name}: {e}");
    let parsed = CreateArgs {
        output: args
            .opt_value_from_os_str(["-o", "--output"], |s| Ok::<_, String>(PathBuf::from(s)))
            .map_err(err("--output"))?,
        trackers: args
            .values_from_str::<_, String>("--tracker")
            .map_err(err("--tracker"))?
            .iter()
            .map(|t| tier(t))
            .collect::<Result<_, _>>()?,
        web_seeds: args
            .values_from_str("--web-seed")
            .map_err(err("--web-seed"))?,
        piece_size: args
            .opt_value_from_fn("--piece-size", piece_size_arg)
            .map_err(err("--piece-size"))?
            .unwrap_or_default(),
        private: args.contains("--private"),
        comment: args
            .opt_value_from_str("--comment")
            .map_err(err("--comment"))?,
        no_date: args.contains("--no-date"),
        source: args
            .opt_value_from_str("--source")
            .map_err(err("--source"))?,
        no_hidden: args.contains("--no-hidden"),
        threads: args
            .opt_value_from_str("--threads")
            .map_err(err("--threads"))?
            .unwrap_or(0),
        quiet: args.contains(["-q", "--quiet"]),
        path: path_arg(args.finish())?,
    };
    Ok(parsed)
}

/// `URL[,URL...]`: one tier.
fn tier(s: &str) -> Result<Vec<String>, String> {
    let urls: Vec<String> = s
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(str::to_owned)
        .collect();
    if urls.is_empty() {
        return Err(format!("--tracker: '{s}' has no URL"));
    }
    Ok(urls)
}

/// `auto`, or a size as the other options read it (`262144`, `256K`, `4M`, `16KiB`).
fn piece_size_arg(s: &str) -> Result<PieceSize, String> {
    if s == "auto" {
        return Ok(PieceSize::Auto);
    }
    let bad = || format!("'{s}' is not a size like 262144, 256K, 4M or auto");
    let n = super::units::bytes(s).map_err(|_| bad())?;
    u32::try_from(n).map(PieceSize::Bytes).map_err(|_| bad())
}

/// The one free argument: the file or folder.
fn path_arg(rest: Vec<OsString>) -> Result<PathBuf, String> {
    if let Some(opt) = rest.iter().find(|a| a.to_string_lossy().starts_with('-')) {
        return Err(format!("unknown option '{}'", opt.to_string_lossy()));
    }
    match rest.as_slice() {
        [] => Err("create needs the file or folder to share".into()),
        [one] => Ok(PathBuf::from(one)),
        [_, extra, ..] => Err(format!("unexpected argument '{}'", extra.to_string_lossy())),
    }
}

/// Makes the torrent and writes it; returns the error message on failure.
pub fn run(args: &CreateArgs) -> Result<(), String> {
    let mut builder = TorrentBuilder::new(&args.path)
        .piece_size(args.piece_size)
        .private(args.private)
        .skip_hidden(args.no_hidden)
        .threads(args.threads);
    for t in &args.trackers {
        builder = builder.tracker_tier(t.clone());
    }
    for w in &args.web_seeds {
        builder = builder.web_seed(w);
    }
    if let Some(c) = &args.comment {
        builder = builder.comment(c);
    }
    if let Some(s) = &args.source {
        builder = builder.source(s);
    }
    if args.no_date {
        builder = builder.creation_date(None);
    }
    let output = match &args.output {
        Some(o) => o.clone(),
        None => default_output(&args.path)?,
    };
    // Checked before hours of hashing, and again by `create_new` when writing.
    if std::fs::symlink_metadata(&output).is_ok() {
        return Err(format!(
            "{} already exists; remove it or choose another -o",
            output.display()
        ));
    }
    let mut shown = Shown::new(args.quiet);
    let made = builder
        .build_with_progress(&mut |p| shown.update(p))
        .map_err(|e| e.to_string())?;
    shown.clear();
    write_new(&output, &made.bytes)?;
    if !args.quiet {
        let m = &made.metainfo;
        let _ = writeln!(
            std::io::stdout(),
            "created {}: {}, {} file{}, {}, {} pieces of {}\ninfo-hash {}",
            printable(&output.display().to_string()),
            printable(&m.name),
            m.files.len(),
            if m.files.len() == 1 { "" } else { "s" },
            size(m.total_length),
            m.piece_hashes.len(),
            size(u64::from(m.piece_length)),
            m.info_hash
        );
    }
    Ok(())
}

/// `NAME.torrent` in the current folder, as mktorrent names it.
fn default_output(path: &Path) -> Result<PathBuf, String> {
    let name = match path.file_name() {
        Some(n) => n.to_os_string(),
        None => std::fs::canonicalize(path)
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_os_string()))
            .ok_or_else(|| format!("{}: give the .torrent's name with -o", path.display()))?,
    };
    let mut file = name;
    file.push(".torrent");
    Ok(PathBuf::from(file))
}

/// Writes `bytes` to a file that must not exist yet.
fn write_new(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let failed = |e: std::io::Error| format!("cannot write {}: {e}", path.display());
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(failed)?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(failed)
}

/// The progress line on stderr.
struct Shown {
    quiet: bool,
    tty: bool,
    last: Option<Instant>,
    drawn: bool,
}

impl Shown {
    fn new(quiet: bool) -> Shown {
        Shown {
            quiet,
            tty: std::io::stderr().is_terminal(),
            last: None,
            drawn: false,
        }
    }

    fn update(&mut self, p: Progress) {
        let every = if self.tty {
            Duration::from_millis(100)
        } else {
            Duration::from_secs(5)
        };
        let now = Instant::now();
        let done = p.pieces_done == p.pieces_total;
        if self.quiet || (!done && self.last.is_some_and(|t| now - t < every)) {
            return;
        }
        self.last = Some(now);
        let pct = p.bytes_done as f64 * 100.0 / p.bytes_total.max(1) as f64;
        let line = format!(
            "hashing: {pct:5.1}%  {} of {}  ({} of {} pieces)",
            size(p.bytes_done),
            size(p.bytes_total),
            p.pieces_done,
            p.pieces_total
        );
        let mut err = std::io::stderr().lock();
        let _ = if self.tty {
            self.drawn = true;
            write!(err, "\r\x1b[K{line}")
        } else {
            writeln!(err, "{line}")
        };
    }

    /// Ends the redrawn line so the summary starts on its own.
    fn clear(&mut self) {
        if self.drawn {
            let _ = writeln!(std::io::stderr());
        }
    }
}
