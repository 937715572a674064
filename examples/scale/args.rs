//! The command line: `[--size 256MiB] [--idle-peers 1000] [--torrents 100] [--runs 3]
//! [--timeout 600] [--storage mmap|pwrite] [--settle 0]`.

use std::time::Duration;

/// What to measure.
pub struct Args {
    pub size: usize,
    pub idle_peers: usize,
    pub torrents: usize,
    pub runs: usize,
    pub timeout: Duration,
    /// The leecher writes with `pwrite` instead of through maps (`--storage pwrite`).
    pub pwrite: bool,
    /// How long to wait before each download, ahead of its idle peers connecting (`--settle`).
    pub settle: Duration,
}

/// Reads the command line; defaults are the figures.
pub fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        size: 256 << 20,
        idle_peers: 1000,
        torrents: 100,
        runs: 3,
        timeout: Duration::from_secs(600),
        pwrite: false,
        settle: Duration::ZERO,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        let number = |v: String| v.parse::<usize>().map_err(|e| format!("{v}: {e}"));
        match flag.as_str() {
            "--size" => a.size = parse_size(&value()?)?,
            "--idle-peers" => a.idle_peers = number(value()?)?,
            "--torrents" => a.torrents = number(value()?)?.max(1),
            "--runs" => a.runs = number(value()?)?.max(1),
            "--timeout" => a.timeout = Duration::from_secs(number(value()?)? as u64),
            "--settle" => a.settle = Duration::from_secs(number(value()?)? as u64),
            "--storage" => {
                a.pwrite = match value()?.as_str() {
                    "mmap" => false,
                    "pwrite" => true,
                    v => return Err(format!("--storage: {v:?} is not mmap or pwrite")),
                }
            }
            _ => return Err(format!("unknown argument {flag}")),
        }
    }
    if a.size / a.torrents < 2 {
        return Err("--size must be at least 2 bytes per torrent".into());
    }
    Ok(a)
}

/// `256MiB`, `1GiB`, `64KiB` or a plain byte count.
fn parse_size(s: &str) -> Result<usize, String> {
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit())
        .map_or((s, ""), |i| s.split_at(i));
    let shift = match unit {
        "" | "B" => 0,
        "KiB" | "K" => 10,
        "MiB" | "M" => 20,
        "GiB" | "G" => 30,
        _ => return Err(format!("{s}: unknown unit (use KiB, MiB or GiB)")),
    };
    let n: usize = num.parse().map_err(|e| format!("{s}: {e}"))?;
    Ok(n << shift)
}
