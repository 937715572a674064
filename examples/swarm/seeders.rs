//! `--seed-with`: which client seeds the swarm, and the drivers for the real clients that can
//! (transmission-cli and aria2c; libtorrent's python seeder and the in-process coracle seeders
//! live in `swarm.rs`).
//!
//! Each real seeder runs in its own process on 127.0.0.1 with DHT, local peer discovery, PEX,
//! UPnP/NAT-PMP and uTP off and no rate limits, from a fresh configuration in the temporary
//! folder. Both verify the payload before seeding (neither has a seed mode that skips it); the
//! caller waits until the tracker lists them as complete. transmission dials no 127.x peer a
//! tracker returns, but accepts incoming connections, which is all a seeder needs.

use std::fs;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};

use std::time::{Duration, Instant};

use crate::{foreign, tracker::TestTracker, Args, Children, Seeders};

/// The kind of seeder.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum SeedWith {
    /// coracle sessions in this process (they recheck the shared data on start).
    Coracle,
    /// `libtorrent_seeder.py` processes (python3-libtorrent, seed mode, no recheck).
    Libtorrent,
    /// `transmission-cli` processes.
    Transmission,
    /// `aria2c` processes.
    Aria2,
}

impl SeedWith {
    /// Parses the value of `--seed-with`.
    pub fn parse(v: &str) -> Result<SeedWith, String> {
        match v {
            "coracle" => Ok(SeedWith::Coracle),
            "libtorrent" => Ok(SeedWith::Libtorrent),
            "transmission" | "transmission-cli" => Ok(SeedWith::Transmission),
            "aria2" | "aria2c" => Ok(SeedWith::Aria2),
            v => Err(format!(
                "--seed-with: {v:?} is not coracle, libtorrent, transmission or aria2"
            )),
        }
    }

    /// What the seeders are, for the summaries.
    pub fn describe(self) -> &'static str {
        match self {
            SeedWith::Coracle => "coracle, in the parent process",
            SeedWith::Libtorrent => "libtorrent (python), seed mode",
            SeedWith::Transmission => "transmission-cli, own process",
            SeedWith::Aria2 => "aria2c, own process",
        }
    }

    /// Whose CPU time the seed-side figure counts.
    pub fn cpu_source(self) -> &'static str {
        match self {
            SeedWith::Coracle => "parent: seeders + tracker",
            SeedWith::Libtorrent => "python processes",
            SeedWith::Transmission => "transmission-cli processes",
            SeedWith::Aria2 => "aria2c processes",
        }
    }
}

/// Real seeder processes and the ports they listen on.
pub struct Real {
    pub children: Children,
    pub ports: Vec<u16>,
}

/// Starts `n` seeders of a real client `kind` over the payload in `data`, each with its files
/// and logs under `dir`. They are ready once the tracker lists them as complete.
pub fn start(
    kind: SeedWith,
    n: usize,
    torrent: &Path,
    data: &Path,
    dir: &Path,
) -> Result<Real, String> {
    let program = match kind {
        SeedWith::Transmission => "transmission-cli",
        SeedWith::Aria2 => "aria2c",
        other => return Err(format!("{other:?} seeders do not run as a real client")),
    };
    eprintln!("  {}", version(program)?);
    let mut children = Children::default();
    let mut ports = Vec::new();
    for i in 0..n {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("finding a free port: {e}"))?
            .port();
        let mut cmd = match kind {
            SeedWith::Transmission => {
                // A fresh configuration each start: a restarted seeder with its old resume
                // file did not announce again within a minute.
                transmission(&dir.join(format!("tr-seed-{port}")), port, data)?
            }
            _ => aria2(port, data),
        };
        cmd.arg(torrent)
            .stdin(Stdio::null())
            // Progress lines several times a second; errors go to stderr.
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        let child = cmd
            .spawn()
            .map_err(|e| format!("starting {program}: {e}"))?;
        children.0.push(child);
        ports.push(port);
        eprintln!("  {program} seeder {i} on 127.0.0.1:{port}");
    }
    Ok(Real { children, ports })
}

/// Whether every leecher of `--compare` needs seeders of its own. transmission remembers a
/// peer by its address alone and flags it a seed once it has everything; a later leecher from
/// the same 127.0.0.1 is then taken for that seed and dropped (seeds do not serve seeds), so
/// it waits at 0 % for ever.
pub fn fresh_per_leecher(kind: SeedWith) -> bool {
    kind == SeedWith::Transmission
}

/// Stops `old` and starts the same seeders afresh, returning once the tracker lists every new
/// one as complete.
pub fn restart(
    old: Seeders,
    args: &Args,
    tracker: &TestTracker,
    torrent: &Path,
    data: &Path,
) -> Result<Seeders, String> {
    let _ = old.shutdown();
    let (seeders, _) = crate::start_seeders(args, torrent, data)?;
    let Seeders::Real(real) = &seeders else {
        return Ok(seeders);
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let listed = |port: u16| {
        tracker
            .announces()
            .iter()
            .any(|a| a.port == port && a.left == 0 && a.event.as_deref() != Some("stopped"))
    };
    while !real.ports.iter().all(|&p| listed(p)) {
        if Instant::now() > deadline {
            return Err("restarted seeders did not announce within 60 s".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(seeders)
}

/// The first line of `program --version` (transmission-cli prints it on stderr), which also
/// proves it is installed.
fn version(program: &str) -> Result<String, String> {
    let missing = || {
        format!(
            "--seed-with needs {program} (Debian/Ubuntu: apt-get install {})",
            if program == "aria2c" {
                "aria2"
            } else {
                program
            }
        )
    };
    let out = Command::new(program)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .map_err(|_| missing())?;
    if !out.status.success() {
        return Err(missing());
    }
    let text = [out.stdout, out.stderr].concat();
    Ok(String::from_utf8_lossy(&text)
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or(program)
        .trim()
        .to_string())
}

/// transmission-cli seeding from `data`, its settings in `config`: no discovery but the
/// tracker, no rate limits, no ratio or idle limit (it seeds until killed).
fn transmission(config: &Path, port: u16, data: &Path) -> Result<Command, String> {
    fs::create_dir_all(config).map_err(|e| format!("{}: {e}", config.display()))?;
    let settings = format!(
        "{{{}\n    \"peer-port\": {port}\n}}\n",
        foreign::TRANSMISSION_LOOPBACK
    );
    fs::write(config.join("settings.json"), settings)
        .map_err(|e| format!("{}: {e}", config.display()))?;
    let mut cmd = Command::new("transmission-cli");
    cmd.arg("-g")
        .arg(config)
        .arg("-w")
        .arg(data)
        .args(["-p", &port.to_string(), "-M", "-U", "-D"]);
    Ok(cmd)
}

/// aria2c seeding from `data` until killed (ratio 0.0 and no seed time: no limit).
fn aria2(port: u16, data: &Path) -> Command {
    let mut cmd = Command::new("aria2c");
    cmd.args(foreign::ARIA2_LOOPBACK)
        // Hash the payload before seeding: without it, aria2 (no control file) downloads.
        .args(["--check-integrity=true", "--seed-ratio=0.0"])
        .arg(format!("--listen-port={port}"))
        .arg(format!("--dir={}", data.display()));
    cmd
}
