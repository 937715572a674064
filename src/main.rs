//! The `coracle` command-line client: argument parsing and dispatch. Everything else lives in
//! [`cli`], which is itself a thin layer over the `coracle` library. Runs on the main thread.

// I/O shell: the binary (arguments, DNS for --peer, and all of `cli`).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod cli;

use std::ffi::{OsStr, OsString};
use std::net::IpAddr;
use std::path::PathBuf;

use cli::help::Topic;
use cli::{units, Command, InfoArgs, Mode, RunArgs, Source};

fn main() {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let json = args.iter().any(|a| a == "--json");
    let code = match parse(args) {
        Ok(cmd) => cli::execute(cmd),
        Err(msg) => cli::usage_error(&msg, json),
    };
    std::process::exit(code);
}

/// Turns the arguments (program name excluded) into a [`Command`], or a usage error message.
fn parse(raw: Vec<OsString>) -> Result<Command, String> {
    let mut raw = split_equals(raw);
    let sub = raw.first().and_then(|a| a.to_str()).unwrap_or("");
    let mode = match sub {
        "download" | "seed" | "info" | "create" | "cat" | "help" | "version" => sub.to_string(),
        _ => String::new(),
    };
    if !mode.is_empty() {
        raw.remove(0);
    }
    let mut args = pico_args::Arguments::from_vec(raw);
    if mode == "help" || args.contains(["-h", "--help"]) {
        return Ok(Command::Help(match mode.as_str() {
            "download" => Topic::Download,
            "seed" => Topic::Seed,
            "info" => Topic::Info,
            "cat" => Topic::Cat,
            "create" => Topic::Create,
            _ => Topic::All,
        }));
    }
    if mode == "version" || args.contains(["-V", "--version"]) {
        return Ok(Command::Version);
    }
    match mode.as_str() {
        "info" => parse_info(args).map(Command::Info),
        #[cfg(feature = "create")]
        "create" => cli::create::parse(args).map(Command::Create),
        #[cfg(not(feature = "create"))]
        "create" => {
            Err("this build has no `create` (built without the cargo feature `create`)".into())
        }
        "cat" => parse_cat(args).map(Command::Run),
        m => parse_run(args, m == "seed").map(Command::Run),
    }
}

/// Each `--option=value` as the two arguments `--option value` (GNU style; pico-args reads only
/// the latter for paths). Anything else, short options included, is left as it is.
fn split_equals(raw: Vec<OsString>) -> Vec<OsString> {
    use std::os::unix::ffi::OsStrExt;
    let mut out = Vec::with_capacity(raw.len() + 4);
    for arg in raw {
        let bytes = arg.as_bytes();
        match bytes.iter().position(|&b| b == b'=') {
            Some(eq) if bytes.starts_with(b"--") && eq > 2 => {
                out.push(OsStr::from_bytes(&bytes[..eq]).to_os_string());
                out.push(OsStr::from_bytes(&bytes[eq + 1..]).to_os_string());
            }
            _ => out.push(arg),
        }
    }
    out
}

/// The options of `download` (also the bare `coracle FILE`) and `seed`.
fn parse_run(mut args: pico_args::Arguments, seed_cmd: bool) -> Result<RunArgs, String> {
    let mut verbose = if args.contains("-vv") { 2 } else { 0 };
    while args.contains(["-v", "--verbose"]) {
        verbose += 1;
    }
    let err = option_error;
    let dir_keys = if seed_cmd {
        ["-d", "--data"]
    } else {
        ["-o", "--output"]
    };
    let dir = args
        .opt_value_from_os_str(dir_keys, os_path)
        .map_err(err(dir_keys[1]))?;
    if seed_cmd && dir.is_none() {
        return Err("seed needs --data DIR (the folder holding the torrent's data)".into());
    }
    let mut run = RunArgs {
        dir: dir.unwrap_or_else(|| PathBuf::from(".")),
        seed_cmd,
        keep_seeding: seed_cmd || args.contains("--seed"),
        port: args
            .opt_value_from_fn(["-p", "--port"], port_arg)
            .map_err(err("--port"))?
            .map_or(6881, |p| p as u16),
        bind: match args
            .opt_value_from_os_str("--bind", os_path)
            .map_err(err("--bind"))?
        {
            Some(addr) => {
                Some(bind_arg(&addr.to_string_lossy()).map_err(|e| format!("--bind: {e}"))?)
            }
            None => None,
        },
        peers: args
            .values_from_fn("--peer", units::peer)
            .map_err(err("--peer"))?,
        stall_timeout: args
            .opt_value_from_fn("--stall-timeout", units::duration)
            .map_err(err("--stall-timeout"))?,
        max_peers: args
            .opt_value_from_str("--max-peers")
            .map_err(err("--max-peers"))?,
        max_upload_rate: args
            .opt_value_from_fn("--max-upload-rate", units::rate)
            .map_err(err("--max-upload-rate"))?,
        max_download_rate: args
            .opt_value_from_fn("--max-download-rate", units::rate)
            .map_err(err("--max-download-rate"))?,
        piece_buffer: args
            .opt_value_from_fn("--piece-buffer", units::bytes)
            .map_err(err("--piece-buffer"))?,
        sequential: args.contains("--sequential"),
        cat_file: None,
        pwrite: args
            .opt_value_from_fn("--storage", storage_arg)
            .map_err(err("--storage"))?
            .unwrap_or(false),
        no_trackers: args.contains("--no-trackers"),
        overwrite: args.contains("--overwrite"),
        no_pex: args.contains("--no-pex"),
        save_torrent: args
            .opt_value_from_os_str("--save-torrent", os_path)
            .map_err(err("--save-torrent"))?,
        no_dht: args.contains("--no-dht"),
        dht_bootstrap: args
            .values_from_fn("--dht-bootstrap", host_port)
            .map_err(err("--dht-bootstrap"))?,
        no_lsd: args.contains("--no-lsd"),
        state_dir: match args
            .opt_value_from_os_str("--state-dir", os_path)
            .map_err(err("--state-dir"))?
        {
            Some(dir) => Some(dir),
            None => default_state_dir(),
        },
        recheck: args.contains("--recheck"),
        checkpoint: args
            .opt_value_from_fn("--checkpoint", seconds_arg)
            .map_err(err("--checkpoint"))?,
        mode: match (args.contains("--json"), args.contains(["-q", "--quiet"])) {
            (true, _) => Mode::Json,
            (false, true) => Mode::Quiet,
            (false, false) => Mode::Human,
        },
        verbose,
        select: coracle::FileSelection {
            only: args
                .opt_value_from_fn("--only", only_arg)
                .map_err(err("--only"))?
                .unwrap_or_default(),
            exclude: args
                .values_from_str("--exclude")
                .map_err(err("--exclude"))?,
        },
        torrent: torrent_arg(args.finish())?,
    };
    if let (Source::Magnet(uri), true) = (&run.torrent, run.select.only.is_empty()) {
        // BEP 53 `so=`: the files the link suggests, unless `--only` says otherwise.
        let so = coracle::Magnet::parse(uri).ok().and_then(|m| m.select_only);
        let ranges = so
            .unwrap_or_default()
            .into_iter()
            .map(|i| (u64::from(i), u64::from(i)));
        run.select.only = ranges.collect();
    }
    if run.max_peers == Some(0) {
        return Err("--max-peers must be at least 1".into());
    }
    Ok(run)
}

/// The options of `cat`: `download`'s, plus `--file N`.
fn parse_cat(mut args: pico_args::Arguments) -> Result<RunArgs, String> {
    let file = args
        .opt_value_from_str("--file")
        .map_err(option_error("--file"))?;
    let mut run = parse_run(args, false)?;
    if run.keep_seeding {
        return Err("cat ends when the file is written; --seed is for download".into());
    }
    run.cat_file = Some(file);
    Ok(run)
}

/// The options of `info`.
fn parse_info(mut args: pico_args::Arguments) -> Result<InfoArgs, String> {
    let err = option_error;
    Ok(InfoArgs {
        timeout: std::time::Duration::from_secs(
            args.opt_value_from_str("--timeout")
                .map_err(err("--timeout"))?
                .unwrap_or(60),
        ),
        save_torrent: args
            .opt_value_from_os_str("--save-torrent", os_path)
            .map_err(err("--save-torrent"))?,
        peers: args
            .values_from_fn("--peer", units::peer)
            .map_err(err("--peer"))?,
        port: args
            .opt_value_from_fn(["-p", "--port"], port_arg)
            .map_err(err("--port"))?
            .map_or(0, |p| p as u16),
        json: args.contains("--json"),
        source: torrent_arg(args.finish())?,
    })
}

/// The single free argument left after the options: the .torrent file or a magnet link. A
/// malformed magnet link is a usage error, said at once.
fn torrent_arg(rest: Vec<OsString>) -> Result<Source, String> {
    let source = torrent_path(rest)?;
    match source.to_str() {
        Some(s)
            if s.get(..7)
                .is_some_and(|p| p.eq_ignore_ascii_case("magnet:")) =>
        {
            coracle::Magnet::parse(s).map_err(|e| format!("invalid magnet link: {e}"))?;
            Ok(Source::Magnet(s.to_string()))
        }
        _ => Ok(Source::File(source)),
    }
}

/// The single free argument as a path.
fn torrent_path(rest: Vec<OsString>) -> Result<PathBuf, String> {
    // Every known option is gone by now, so anything dash-led is a typo (`./-x.torrent` works).
    if let Some(opt) = rest.iter().find(|a| a.to_string_lossy().starts_with('-')) {
        return Err(format!("unknown option '{}'", opt.to_string_lossy()));
    }
    match rest.as_slice() {
        [] => Err("no .torrent file given".into()),
        [one] => Ok(PathBuf::from(one)),
        [_, extra, ..] => Err(format!("unexpected argument '{}'", extra.to_string_lossy())),
    }
}

/// `--only 0,3-5`: file indices and inclusive ranges, as `coracle info` numbers the files.
fn only_arg(s: &str) -> Result<Vec<(u64, u64)>, String> {
    coracle::FileSelection::parse_only(s).map_err(|e| e.to_string())
}

/// `--storage mmap|pwrite`: whether writes go through `pwrite` instead of memory maps.
fn storage_arg(s: &str) -> Result<bool, String> {
    match s {
        "mmap" => Ok(false),
        "pwrite" => Ok(true),
        _ => Err(format!("'{s}' is not mmap or pwrite")),
    }
}

/// `$XDG_STATE_HOME/coracle`, else `~/.local/state/coracle` (the XDG base directory rules: a
/// relative `XDG_STATE_HOME` is ignored); `None` when neither is known.
fn default_state_dir() -> Option<PathBuf> {
    let absolute = |v: OsString| Some(PathBuf::from(v)).filter(|p| p.is_absolute());
    let base = std::env::var_os("XDG_STATE_HOME")
        .and_then(absolute)
        .or_else(|| Some(absolute(std::env::var_os("HOME")?)?.join(".local/state")))?;
    Some(base.join("coracle"))
}

/// A positive number of seconds, fractions allowed: `30`, `0.5`.
fn seconds_arg(s: &str) -> Result<std::time::Duration, String> {
    s.parse::<f64>()
        .ok()
        .filter(|x| x.is_finite() && *x > 0.0 && *x < 1e9)
        .map(std::time::Duration::from_secs_f64)
        .ok_or_else(|| format!("'{s}' is not a positive number of seconds"))
}

/// Paths are taken as raw OS strings so non-UTF-8 file names work.
fn os_path(s: &OsStr) -> Result<PathBuf, String> {
    Ok(PathBuf::from(s))
}

/// `HOST:PORT` for `--dht-bootstrap`, kept as text: the session resolves names off its
/// reactor, and again at every start rather than once here.
fn host_port(s: &str) -> Result<String, String> {
    match s.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0) => {
            Ok(s.to_string())
        }
        _ => Err(format!("'{s}' is not HOST:PORT")),
    }
}

/// A usage error for option `name`: the parser's own message when it has one (it names the
/// value), else pico-args' (a missing value, say).
fn option_error(name: &'static str) -> impl Fn(pico_args::Error) -> String {
    move |e| match e {
        pico_args::Error::Utf8ArgumentParsingFailed { cause, .. } => format!("{name}: {cause}"),
        e => format!("{name}: {e}"),
    }
}

/// A listen port, 0 to 65535 (0: the system picks one). A `u64`, as the size options' type:
/// one parser instance less in the binary.
fn port_arg(s: &str) -> Result<u64, String> {
    match s.parse::<u64>() {
        Ok(p) if p <= 65535 => Ok(p),
        Ok(p) => Err(format!("port {p} is out of range (0-65535)")),
        Err(_) => Err(format!("'{s}' is not a port number")),
    }
}

/// `--bind ADDR`: a local IP address (IPv6 with or without brackets). Read as a path first,
/// as the folder options are: one parser instance less in the binary.
fn bind_arg(s: &str) -> Result<IpAddr, String> {
    let bare = s.strip_prefix('[').and_then(|v| v.strip_suffix(']'));
    bare.unwrap_or(s)
        .parse()
        .map_err(|_| format!("'{s}' is not a local IP address like 192.168.1.5 or ::1"))
}
