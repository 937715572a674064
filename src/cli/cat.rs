//! `coracle cat`: downloads a torrent like `download` and writes one of its files to stdout in
//! order while it downloads, through the library's streaming [`coracle::FileReader`], so the
//! output can be piped into a media player. Progress goes to stderr (none with `--quiet`),
//! since stdout carries the file.
//!
//! Runs on the binary's main thread (plus the signal thread `signals::install` starts).

use std::io::{ErrorKind, IsTerminal, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use coracle::Metainfo;
use coracle::{Error, FileReader, TorrentHandle, TorrentSource};

use super::{add_options, load, printable, progress, session_config, signals, start};
use super::{Mode, RunArgs, Source, EXIT_OK, EXIT_USAGE};

/// How long one read waits before the loop looks at signals and progress again.
const POLL: Duration = Duration::from_millis(250);
/// Bytes copied per read: a few blocks, so stdout gets data as soon as a piece verifies.
const CHUNK: usize = 256 * 1024;

/// Runs `cat` and returns the exit status.
pub fn run(args: &RunArgs) -> Result<i32, String> {
    let (caught, _signals) = signals::install()?;
    let source = match &args.torrent {
        Source::File(path) => {
            let meta = load(path)?;
            // A wrong --file is said before any file is created.
            if let Err(msg) = choose(&meta, args.cat_file.flatten()) {
                eprintln!("coracle: {msg}");
                return Ok(EXIT_USAGE);
            }
            TorrentSource::Metainfo(Box::new(meta))
        }
        Source::Magnet(uri) => TorrentSource::Magnet(uri.clone()),
    };
    let (session, _) = start::open_session(session_config(args)).map_err(|f| f.msg)?;
    let handle = session
        .add(source, add_options(args))
        .map_err(|e| e.to_string())?;
    let mut status = Status::new(args.mode);
    let result = open(args, &handle, &caught, &mut status).and_then(|opened| match opened {
        Opened::Reader(mut reader) => copy(&mut reader, &handle, &caught, &mut status),
        Opened::Usage(msg) => Ok(Copied::Usage(msg)),
    });
    // The reader is gone; the shutdown announces `stopped` and syncs what was written.
    let shut = session.shutdown();
    status.clear();
    match result? {
        Copied::All | Copied::PipeClosed => {
            shut.map_err(|e| format!("writing the files to disk failed: {e}"))?;
            Ok(EXIT_OK)
        }
        Copied::Usage(msg) => {
            eprintln!("coracle: {msg}");
            Ok(EXIT_USAGE)
        }
    }
}

/// What opening the file gave.
enum Opened {
    Reader(FileReader),
    /// `--file` does not fit the torrent: a usage error, said once the metadata is known.
    Usage(String),
}

/// How the copy ended.
enum Copied {
    /// Every byte of the file is on stdout.
    All,
    /// The reader of our stdout went away: nothing more to do, and no error.
    PipeClosed,
    Usage(String),
}

/// Waits for the metadata (a magnet), then opens the file `--file` names.
fn open(
    args: &RunArgs,
    handle: &TorrentHandle,
    caught: &AtomicBool,
    status: &mut Status,
) -> Result<Opened, String> {
    let meta = loop {
        if let Some(meta) = handle.metainfo() {
            break meta;
        }
        interrupted(caught)?;
        match handle.wait_timeout(POLL) {
            Err(Error::Timeout) | Ok(()) => {}
            Err(e) => return Err(e.to_string()),
        }
        status.tick(handle, "fetching metadata");
    };
    let index = match choose(&meta, args.cat_file.flatten()) {
        Ok(i) => i,
        Err(msg) => return Ok(Opened::Usage(msg)),
    };
    status.say(&format!(
        "streaming {} ({})",
        printable(&meta.files[index].path.display().to_string()),
        progress::size(meta.files[index].length)
    ));
    let mut reader = handle.open_file(index).map_err(|e| e.to_string())?;
    reader.set_timeout(Some(POLL));
    Ok(Opened::Reader(reader))
}

/// The file `--file` names (none: the only file), or what is wrong with the choice.
fn choose(meta: &Metainfo, file: Option<usize>) -> Result<usize, String> {
    let count = meta.files.len();
    match file {
        Some(i) if i < count => Ok(i),
        Some(i) => Err(format!(
            "--file {i}: the torrent has {count} files (0 to {})",
            count.saturating_sub(1)
        )),
        None if count == 1 => Ok(0),
        None => Err(format!(
            "{} has {count} files: choose one with --file N (`coracle info` lists them)",
            printable(&meta.name)
        )),
    }
}

/// Copies the file to stdout in order until its end, a closed pipe, a failure or a signal.
fn copy(
    reader: &mut FileReader,
    handle: &TorrentHandle,
    caught: &AtomicBool,
    status: &mut Status,
) -> Result<Copied, String> {
    let mut buf = vec![0u8; CHUNK];
    let mut stdout = std::io::stdout().lock();
    loop {
        interrupted(caught)?;
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => match stdout.write_all(&buf[..n]) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::BrokenPipe => return Ok(Copied::PipeClosed),
                Err(e) => return Err(format!("writing to stdout: {e}")),
            },
            Err(e) if e.kind() == ErrorKind::TimedOut => {}
            Err(e) => return Err(e.to_string()),
        }
        status.tick(handle, "streaming");
    }
    match stdout.flush() {
        Err(e) if e.kind() != ErrorKind::BrokenPipe => Err(format!("writing to stdout: {e}")),
        _ => Ok(Copied::All),
    }
}

fn interrupted(caught: &AtomicBool) -> Result<(), String> {
    if caught.load(Ordering::Relaxed) {
        Err("interrupted before the file was written".into())
    } else {
        Ok(())
    }
}

/// Progress on stderr: a line rewritten in place on a terminal, a plain line every 5 s
/// otherwise, nothing with `--quiet`.
struct Status {
    on: bool,
    tty: bool,
    next: Instant,
}

impl Status {
    fn new(mode: Mode) -> Status {
        Status {
            on: mode != Mode::Quiet,
            tty: std::io::stderr().is_terminal(),
            next: Instant::now(),
        }
    }

    fn say(&self, line: &str) {
        if self.on {
            let clear = if self.tty { "\r\x1b[K" } else { "" };
            eprintln!("{clear}coracle: {line}");
        }
    }

    fn tick(&mut self, handle: &TorrentHandle, what: &str) {
        let now = Instant::now();
        if !self.on || now < self.next {
            return;
        }
        self.next = now
            + if self.tty {
                POLL
            } else {
                Duration::from_secs(5)
            };
        let Some(s) = handle.stats() else {
            return;
        };
        let plural = if s.peers == 1 { "" } else { "s" };
        let line = format!(
            "{what}: {} of {} verified, {}/s, {} peer{plural}",
            progress::size(s.bytes_done),
            progress::size(s.bytes_total),
            progress::size(s.down_rate as u64),
            s.peers
        );
        if self.tty {
            eprint!("\r\x1b[K{line}");
        } else {
            eprintln!("coracle: {line}");
        }
    }

    /// Ends a line left open on a terminal.
    fn clear(&self) {
        if self.on && self.tty {
            eprint!("\r\x1b[K");
        }
    }
}
