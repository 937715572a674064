//! `--leech-with CLIENT`: the same swarm (payload, tracker, seeders) downloaded by another
//! BitTorrent client instead of the coracle leecher, measured from outside its process and
//! reported in the same form, so that comparisons with other clients can be rerun from the repo.
//!
//! Every client is confined to 127.0.0.1 and the swarm's HTTP tracker: DHT, local peer
//! discovery, UPnP, NAT-PMP, PEX and uTP are off, and its settings come from the command line
//! or a fresh configuration in the temporary folder, not from the user's own.
//!
//! Wall time runs to the client's completion (a line it prints, or a marker file its completion
//! hook creates), with its way out reported apart, as the coracle leecher's shutdown is. rqbit
//! gives no completion signal but its exit (`--exit-on-finish`), so its wall includes its way
//! out. CPU time and fault/switch counts come from `wait4` when it is reaped (so they include
//! the way out), RssAnon is sampled every 10 ms from `/proc/PID/status`.

use std::fs;
use std::io::{self, BufRead, BufReader};
use std::net::TcpListener;
use std::os::fd::AsFd;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::gen::{self, human};
use crate::{measure, tracker, Args, SeedWith, Work, GIB, MIB, PYTHON};

const LEECHER_SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/examples/swarm/libtorrent_leecher.py"
);

/// How long a client may take to exit once asked to (it announces `stopped` and flushes).
const STOP_GRACE: Duration = Duration::from_secs(30);

/// A BitTorrent client that can stand in for the coracle leecher.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Client {
    /// libtorrent-rasterbar through its python bindings (`libtorrent_leecher.py`).
    Libtorrent,
    /// `aria2c`.
    Aria2,
    /// `transmission-cli`.
    Transmission,
    /// `qbittorrent-nox` (libtorrent inside, with qBittorrent's own settings).
    Qbittorrent,
    /// `rqbit` (Rust, tokio); not a Debian package: `cargo install rqbit`.
    Rqbit,
}

/// How a client's completion is seen.
pub enum Done {
    /// It prints a line starting `finished`, then exits.
    Line,
    /// Its completion hook creates this file; then it exits by itself (`None`) or is stopped
    /// with this signal.
    Marker(PathBuf, Option<libc::c_int>),
    /// It exits, with status 0, once complete.
    Exit,
}

impl Client {
    /// Parses the value of `--leech-with`.
    pub fn parse(s: &str) -> Result<Client, String> {
        match s {
            "libtorrent" => Ok(Client::Libtorrent),
            "aria2" | "aria2c" => Ok(Client::Aria2),
            "transmission" | "transmission-cli" => Ok(Client::Transmission),
            "qbittorrent" | "qbittorrent-nox" => Ok(Client::Qbittorrent),
            "rqbit" => Ok(Client::Rqbit),
            v => Err(format!(
                "--leech-with: {v:?} is not libtorrent, aria2, transmission, qbittorrent or rqbit"
            )),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Client::Libtorrent => "libtorrent",
            Client::Aria2 => "aria2",
            Client::Transmission => "transmission",
            Client::Qbittorrent => "qbittorrent",
            Client::Rqbit => "rqbit",
        }
    }

    /// The program to run; rqbit's comes from `$RQBIT` when set (it is not a Debian package).
    pub fn program(self) -> String {
        match self {
            Client::Libtorrent => PYTHON.into(),
            Client::Aria2 => "aria2c".into(),
            Client::Transmission => "transmission-cli".into(),
            Client::Qbittorrent => "qbittorrent-nox".into(),
            Client::Rqbit => std::env::var("RQBIT").unwrap_or_else(|_| "rqbit".into()),
        }
    }

    /// How to install it.
    fn install(self) -> &'static str {
        match self {
            Client::Libtorrent => "Debian/Ubuntu: apt-get install python3-libtorrent",
            Client::Aria2 => "Debian/Ubuntu: apt-get install aria2",
            Client::Transmission => "Debian/Ubuntu: apt-get install transmission-cli",
            Client::Qbittorrent => "Debian/Ubuntu: apt-get install qbittorrent-nox",
            Client::Rqbit => "cargo install rqbit, then put it on PATH or name it in $RQBIT",
        }
    }

    /// Its name and version, which also proves it is installed and runs.
    pub fn version(self) -> Result<String, String> {
        let missing = || format!("--leech-with needs {} ({})", self.program(), self.install());
        let mut cmd = Command::new(self.program());
        match self {
            Client::Libtorrent => {
                cmd.args(["-c", "import libtorrent; print(libtorrent.__version__)"])
            }
            _ => cmd.arg("--version"),
        };
        let out = cmd.stdin(Stdio::null()).output().map_err(|_| missing())?;
        if !out.status.success() {
            return Err(missing());
        }
        // transmission-cli prints its version on stderr.
        let text = [out.stdout, out.stderr].concat();
        let first = String::from_utf8_lossy(&text)
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim()
            .to_string();
        Ok(match self {
            Client::Libtorrent => format!("libtorrent {first} (python3 bindings, {PYTHON})"),
            Client::Aria2 => format!("{first} (aria2c)"),
            Client::Transmission => first,
            Client::Qbittorrent => format!("{first} (qbittorrent-nox)"),
            Client::Rqbit => first,
        })
    }

    /// Builds its command line and whatever configuration it reads, under `dir`.
    /// `torrent` is a .torrent path or a magnet link (every client here takes either).
    pub fn prepare(
        self,
        torrent: &Path,
        out: &Path,
        dir: &Path,
        timeout: u64,
    ) -> io::Result<Launch> {
        let port = free_port()?;
        let mut cmd = Command::new(self.program());
        let done = match self {
            Client::Libtorrent => {
                cmd.arg(LEECHER_SCRIPT)
                    .arg(torrent)
                    .arg(out)
                    .arg(timeout.to_string())
                    .stdout(Stdio::piped());
                Done::Line
            }
            Client::Aria2 => {
                let marker = dir.join("aria2-finished");
                // A marker left by an earlier run (`--compare`) would read as done at once.
                let _ = fs::remove_file(&marker);
                let script = dir.join("aria2-finished.sh");
                write_hook(&script, &marker)?;
                cmd.args(ARIA2_LOOPBACK)
                    // Exit once the download is complete instead of seeding.
                    .arg("--seed-time=0")
                    .arg(format!("--listen-port={port}"))
                    // Runs when every piece is verified, ahead of its way out (about 2 s here).
                    .arg(format!("--on-bt-download-complete={}", script.display()))
                    .arg(format!("--dir={}", out.display()))
                    .arg(torrent)
                    // Its console goes to our stderr: stdout carries only the summary.
                    .stdout(stderr_stdio()?);
                Done::Marker(marker, None)
            }
            Client::Transmission => {
                let config = dir.join("transmission-config");
                fs::create_dir_all(&config)?;
                let marker = dir.join("transmission-finished");
                let _ = fs::remove_file(&marker);
                let script = dir.join("transmission-finished.sh");
                write_hook(&script, &marker)?;
                fs::write(
                    config.join("settings.json"),
                    transmission_settings(port, out, &script),
                )?;
                cmd.arg("-g")
                    .arg(&config)
                    .arg("-w")
                    .arg(out)
                    // No port mapping, no rate limits; DHT and the rest are off in settings.json.
                    .args(["-p", &port.to_string(), "-M", "-U", "-D", "-f"])
                    .arg(&script)
                    .arg(torrent)
                    // A progress line several times a second; nothing else on stdout.
                    .stdout(Stdio::null());
                // SIGINT is the signal transmission-cli catches to stop the torrent and close
                // the session (announcing `stopped`) before exiting.
                Done::Marker(marker, Some(libc::SIGINT))
            }
            Client::Qbittorrent => {
                let profile = dir.join("qbittorrent-profile");
                let config = profile.join("qBittorrent/config");
                fs::create_dir_all(&config)?;
                let marker = dir.join("qbittorrent-finished");
                let _ = fs::remove_file(&marker);
                let webui = free_port()?;
                fs::write(
                    config.join("qBittorrent.conf"),
                    qbittorrent_settings(port, webui, out, &marker),
                )?;
                cmd.arg(format!("--profile={}", profile.display()))
                    .arg(format!("--webui-port={webui}"))
                    .arg(format!("--torrenting-port={port}"))
                    .arg(format!("--save-path={}", out.display()))
                    .arg("--add-paused=false")
                    .arg(torrent)
                    // A banner about the web UI; its log is in the profile.
                    .stdout(Stdio::null());
                Done::Marker(marker, Some(libc::SIGTERM))
            }
            Client::Rqbit => {
                cmd.args([
                    "--disable-dht",
                    "--disable-dht-persistence",
                    "--disable-lsd",
                    "--disable-upnp-port-forward",
                    "--ipv4-only",
                    "--listen-ip",
                    "127.0.0.1",
                    "-v",
                    "warn",
                ])
                .arg("--listen-port")
                .arg(port.to_string())
                // It has no switch for PEX; the only peers it could hear of are the swarm's own.
                .args(["download", "--disable-http-api", "--exit-on-finish"])
                .arg("--output-folder")
                .arg(out)
                .arg(torrent)
                .stdout(stderr_stdio()?);
                Done::Exit
            }
        };
        cmd.stdin(Stdio::null()).stderr(Stdio::inherit());
        Ok(Launch { cmd, done, port })
    }
}

/// A client's command line, ready to start.
pub struct Launch {
    pub cmd: Command,
    pub done: Done,
    /// Its listening port (what it announces).
    pub port: u16,
}

impl Launch {
    pub fn spawn(&mut self, program: &str) -> Result<Running, String> {
        let mut child = self
            .cmd
            .spawn()
            .map_err(|e| format!("starting {program}: {e}"))?;
        let lines = child.stdout.take().map(|out| {
            let (tx, rx) = mpsc::channel();
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    if tx.send((Instant::now(), line)).is_err() {
                        break;
                    }
                }
            });
            rx
        });
        Ok(Running {
            child,
            lines,
            reaped: false,
        })
    }
}

/// A started client; killed and reaped if dropped before it exits.
pub struct Running {
    child: Child,
    /// Its stdout lines, stamped when read (only for clients that report on stdout).
    pub lines: Option<mpsc::Receiver<(Instant, String)>>,
    reaped: bool,
}

/// What `wait4` says about a client that exited.
pub struct Exit {
    status: libc::c_int,
    pub ru: libc::rusage,
}

impl Exit {
    fn success(&self) -> bool {
        libc::WIFEXITED(self.status) && libc::WEXITSTATUS(self.status) == 0
    }

    fn describe(&self) -> String {
        if libc::WIFEXITED(self.status) {
            format!("exit status {}", libc::WEXITSTATUS(self.status))
        } else if libc::WIFSIGNALED(self.status) {
            format!("killed by signal {}", libc::WTERMSIG(self.status))
        } else {
            format!("wait status {:#x}", self.status)
        }
    }
}

impl Running {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Reaps it if it has exited. `wait4` rather than `Child::try_wait`, because it also
    /// returns the CPU time and counts of exactly this process.
    fn try_reap(&mut self) -> Option<Exit> {
        if self.reaped {
            return None;
        }
        let mut status = 0;
        // SAFETY: rusage is plain integers, for which all-zero bytes are valid.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: wait4 only writes the status and the rusage we hand it.
        let pid = unsafe {
            libc::wait4(
                self.pid() as libc::pid_t,
                &mut status,
                libc::WNOHANG,
                &mut ru,
            )
        };
        if pid == self.pid() as libc::pid_t {
            self.reaped = true;
            Some(Exit { status, ru })
        } else {
            None
        }
    }

    fn signal(&self, sig: libc::c_int) {
        if !self.reaped {
            // SAFETY: the pid is our unreaped child, so it cannot name another process.
            unsafe { libc::kill(self.pid() as libc::pid_t, sig) };
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if !self.reaped {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// What was measured of one foreign download.
pub struct Measured {
    /// Seconds from the start of the clock to completion.
    pub done: f64,
    /// Seconds from completion to its exit.
    pub to_exit: f64,
    /// User+system CPU seconds at completion (`None` if /proc could not tell).
    pub cpu_at_done: Option<f64>,
    pub rss_anon_peak_kib: u64,
    pub vm_hwm_kib: u64,
    pub exit: Exit,
    /// The `finished ...` line of the libtorrent script.
    pub finished_line: Option<String>,
    /// Seconds from the start to the libtorrent script's `metadata` line (magnet links).
    pub metadata: Option<f64>,
    /// Peak of the download's dirty or under-write-back page cache while it ran (KiB, sampled
    /// every 10 ms with `cachestat`; `None` without it).
    pub dirty_peak_kib: Option<u64>,
    /// Seconds from the start until the first page of the download was in the page cache: its
    /// first bytes written, at most a piece after the first bytes received (`None` without
    /// `cachestat`).
    pub first_data: Option<f64>,
}

impl Exit {
    /// User plus system CPU seconds of the process.
    pub fn cpu(&self) -> f64 {
        let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        tv(self.ru.ru_utime) + tv(self.ru.ru_stime)
    }
}

/// A free TCP port on 127.0.0.1 for a client to listen on (it is free again once we close it;
/// nothing else on this machine is expected to grab it in between).
pub fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A copy of our stderr, for a child's stdout.
fn stderr_stdio() -> io::Result<Stdio> {
    Ok(Stdio::from(io::stderr().as_fd().try_clone_to_owned()?))
}

/// A completion hook that creates `marker` (whatever arguments the client passes).
fn write_hook(script: &Path, marker: &Path) -> io::Result<()> {
    let m = marker.display().to_string();
    if m.contains('\'') {
        return Err(io::Error::other(
            "the temporary folder's path holds a quote",
        ));
    }
    fs::write(script, format!("#!/bin/sh\n: > '{m}'\n"))?;
    fs::set_permissions(script, fs::Permissions::from_mode(0o755))
}

/// The aria2c flags every run here shares: no ~/.aria2/aria2.conf or ~/.netrc (the same flags
/// give the same run anywhere); listener, tracker requests and peer connections on 127.0.0.1
/// with no DHT, LPD or PEX; sparse files (the default preallocation writes every byte once
/// first); a quiet console.
pub const ARIA2_LOOPBACK: [&str; 14] = [
    "--no-conf=true",
    "--no-netrc=true",
    "--interface=127.0.0.1",
    "--disable-ipv6=true",
    "--enable-dht=false",
    "--enable-dht6=false",
    "--bt-enable-lpd=false",
    "--enable-peer-exchange=false",
    "--file-allocation=none",
    "--console-log-level=warn",
    "--summary-interval=0",
    "--show-console-readout=false",
    "--download-result=hide",
    "--enable-color=false",
];

/// The part of transmission's settings.json every run here shares: TCP on loopback and the
/// tracker only (no DHT, LPD, PEX, uTP or port mapping), no RPC, no speed, ratio or idle limit.
pub const TRANSMISSION_LOOPBACK: &str = r#"
    "bind-address-ipv4": "127.0.0.1",
    "bind-address-ipv6": "::1",
    "peer-port-random-on-start": false,
    "dht-enabled": false,
    "lpd-enabled": false,
    "pex-enabled": false,
    "utp-enabled": false,
    "port-forwarding-enabled": false,
    "rpc-enabled": false,
    "blocklist-enabled": false,
    "speed-limit-up-enabled": false,
    "speed-limit-down-enabled": false,
    "alt-speed-enabled": false,
    "ratio-limit-enabled": false,
    "idle-seeding-limit-enabled": false,
    "watch-dir-enabled": false,
    "message-level": 1,"#;

/// transmission's settings.json for a leecher: [`TRANSMISSION_LOOPBACK`], and sparse files as
/// the other leechers write (its default allocates the whole file first, which would also make
/// the progress line read 100% at once).
fn transmission_settings(port: u16, out: &Path, script: &Path) -> String {
    let esc = |p: &Path| {
        p.display()
            .to_string()
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
    };
    format!(
        r#"{{{TRANSMISSION_LOOPBACK}
    "peer-port": {port},
    "incomplete-dir-enabled": false,
    "rename-partial-files": false,
    "preallocation": 0,
    "start-added-torrents": true,
    "download-dir": "{out}",
    "script-torrent-done-enabled": true,
    "script-torrent-done-filename": "{script}"
}}
"#,
        out = esc(out),
        script = esc(script),
    )
}

/// qBittorrent.conf: only the tracker and TCP on 127.0.0.1, the web UI it always runs on
/// loopback, no peer-country lookups (those would download a GeoIP database), the legal notice
/// accepted (it would otherwise wait for a key press), and a completion hook that creates
/// `marker`.
fn qbittorrent_settings(port: u16, webui: u16, out: &Path, marker: &Path) -> String {
    format!(
        "[LegalNotice]
Accepted=true

[AutoRun]
enabled=true
program=touch {marker}

[BitTorrent]
Session\\Port={port}
Session\\UseRandomPort=false
Session\\InterfaceAddress=127.0.0.1
Session\\DHTEnabled=false
Session\\LSDEnabled=false
Session\\PeXEnabled=false
Session\\BTProtocol=TCP
Session\\MultiConnectionsPerIp=true
Session\\DefaultSavePath={out}
Session\\TempPathEnabled=false
Session\\AddExtensionToIncompleteFiles=false
Session\\AddTrackersEnabled=false
Session\\QueueingSystemEnabled=false
Session\\GlobalMaxRatio=-1

[Network]
PortForwardingEnabled=false

[Preferences]
Connection\\ResolvePeerCountries=false
WebUI\\Address=127.0.0.1
WebUI\\Port={webui}
WebUI\\UseUPnP=false
",
        marker = marker.display(),
        out = out.display(),
    )
}

/// Bytes of the payload's files that are on disk under `out` (allocated blocks, so sparse files
/// count what was written, not their length).
fn on_disk(layout: &gen::Layout, out: &Path) -> u64 {
    layout
        .paths(out)
        .iter()
        .zip(&layout.files)
        .filter_map(|(p, (_, len))| fs::metadata(p).ok().map(|m| (m.blocks() * 512).min(*len)))
        .sum()
}

/// Waits for the tracker to list the client listening on `port` (transmission's very first
/// request is a `stopped`, which takes it off the list).
/// Waits until the tracker has heard `seeders` distinct complete peers. A leecher that announces
/// before them gets an empty list and, like rqbit, may not ask again for its whole interval
/// (1800 s): it would then sit at 0 % through no fault of its own.
pub fn wait_for_seeders(tracker: &tracker::TestTracker, seeders: usize) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut ports: Vec<u16> = tracker
            .announces()
            .iter()
            .filter(|a| a.left == 0 && a.event.as_deref() != Some("stopped"))
            .map(|a| a.port)
            .collect();
        ports.sort_unstable();
        ports.dedup();
        if ports.len() >= seeders {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "only {} of {seeders} seeders announced within 60 s",
                ports.len()
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn wait_for_announce(
    tracker: &tracker::TestTracker,
    port: u16,
    running: &mut Running,
    what: &str,
) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let listed = |a: &tracker::Announce| a.port == port && a.event.as_deref() != Some("stopped");
    while !tracker.announces().iter().any(listed) {
        if let Some(exit) = running.try_reap() {
            return Err(format!("{what} exited early ({})", exit.describe()));
        }
        if Instant::now() > deadline {
            return Err(format!("{what} did not announce within 60 s"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// Follows the client from `start` until it exits, sampling its memory every 10 ms and asking
/// it to stop once its completion is seen.
pub fn watch(
    program: &str,
    running: &mut Running,
    done: &Done,
    layout: &gen::Layout,
    out: &Path,
    start: Instant,
    timeout: Duration,
) -> Result<Measured, String> {
    let total = layout.total();
    let pid = running.pid();
    let (mut rss_peak, mut hwm) = (0u64, 0u64);
    let paths = layout.paths(out);
    let mut dirty_peak = measure::unwritten_kib(&paths);
    let mut first_data = None;
    let mut completed: Option<(Instant, Option<f64>)> = None;
    let mut finished_line = None;
    let mut metadata = None;
    let mut stop_deadline = None;
    let mut last_print = start;
    loop {
        if let Some(exit) = running.try_reap() {
            let now = Instant::now();
            if completed.is_none() && matches!(done, Done::Exit) && exit.success() {
                completed = Some((now, None));
            }
            if completed.is_none() {
                // The line may still be on its way from the reader thread; it ends at EOF.
                if let (Done::Line, Some(rx)) = (done, &running.lines) {
                    let wait = now + Duration::from_secs(2);
                    while let Ok((at, l)) =
                        rx.recv_timeout(wait.saturating_duration_since(Instant::now()))
                    {
                        if l.starts_with("finished") {
                            finished_line = Some(l);
                            completed = Some((at, None));
                            break;
                        }
                    }
                }
            }
            let Some((at, cpu_at_done)) = completed else {
                return Err(format!(
                    "{} exited before completing ({})",
                    program,
                    exit.describe()
                ));
            };
            let done_secs = at.duration_since(start).as_secs_f64();
            let to_exit = now.duration_since(at).as_secs_f64();
            if !matches!(done, Done::Marker(_, Some(_))) && !exit.success() {
                return Err(format!("{} failed ({})", program, exit.describe()));
            }
            eprintln!(
                "\r  leecher: 100.0%  done in {done_secs:.2}s ({:.1} MiB/s avg){:40}",
                total as f64 / done_secs / MIB,
                ""
            );
            return Ok(Measured {
                done: done_secs,
                to_exit,
                cpu_at_done,
                rss_anon_peak_kib: rss_peak,
                vm_hwm_kib: hwm,
                exit,
                finished_line,
                metadata,
                dirty_peak_kib: dirty_peak,
                first_data,
            });
        }
        if let Some((rss, vm_hwm)) = measure::proc_memory(pid) {
            rss_peak = rss_peak.max(rss);
            hwm = hwm.max(vm_hwm);
        }
        if let Some(peak) = &mut dirty_peak {
            let cache = measure::cache_kib(&paths).unwrap_or_default();
            *peak = (*peak).max(cache.unwritten);
            if first_data.is_none() && cache.cached > 0 {
                first_data = Some(start.elapsed().as_secs_f64());
            }
        }
        let now = Instant::now();
        if completed.is_none() {
            let seen = match done {
                Done::Line => running.lines.as_ref().and_then(|rx| {
                    for (at, line) in rx.try_iter() {
                        if line.starts_with("metadata") {
                            metadata = Some(at.duration_since(start).as_secs_f64());
                        } else if line.starts_with("finished") {
                            finished_line = Some(line);
                            return Some(at);
                        }
                    }
                    None
                }),
                Done::Marker(marker, _) => marker.exists().then_some(now),
                Done::Exit => None,
            };
            if let Some(at) = seen {
                completed = Some((at, measure::proc_cpu(pid)));
                if let Done::Marker(_, Some(sig)) = done {
                    running.signal(*sig);
                }
                stop_deadline = Some(now + STOP_GRACE);
            } else if now.duration_since(start) > timeout {
                // Ends the progress line.
                eprintln!();
                return Err(format!(
                    "{} did not finish within {} s ({} of {} on disk)",
                    program,
                    timeout.as_secs(),
                    human(on_disk(layout, out)),
                    human(total)
                ));
            } else if now.duration_since(last_print) >= Duration::from_millis(500) {
                let secs = now.duration_since(start).as_secs_f64();
                let have = on_disk(layout, out);
                eprint!(
                    "\r  leecher: {:5.1}% on disk  {:7.1} MiB/s avg  ",
                    100.0 * have as f64 / total.max(1) as f64,
                    have as f64 / secs / MIB
                );
                last_print = now;
            }
        }
        if stop_deadline.is_some_and(|d| now > d) {
            eprintln!(
                "\n  {} still running {} s after completing: killing it",
                program,
                STOP_GRACE.as_secs()
            );
            running.signal(libc::SIGKILL);
            stop_deadline = None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Runs the swarm with `client` as its only leecher and prints the summary.
pub fn run(args: &Args, work: &Work, client: Client) -> Result<(), String> {
    let version = client.version()?;
    let dir = &work.dir;
    let seed_dir = dir.join("seed");
    let out_dir = dir.join("leech0");
    let torrent_path = dir.join("swarm.torrent");
    let layout = gen::Layout::new(args.size, args.files, args.piece);
    let total = layout.total();
    crate::banner(args, &layout, &format!("leecher {version}"), dir);

    let tracker = tracker::TestTracker::start();
    let url = tracker.url();

    // 1. The payload and its .torrent.
    crate::write_swarm(&layout, &seed_dir, &torrent_path, &url)?;
    fs::create_dir_all(&out_dir).map_err(|e| format!("{}: {e}", out_dir.display()))?;
    let source = if args.magnet {
        crate::magnet_link(&torrent_path, &url)?.into()
    } else {
        torrent_path.clone()
    };
    let mut launch = client
        .prepare(&source, &out_dir, dir, args.timeout)
        .map_err(|e| format!("preparing {}: {e}", client.program()))?;

    // 2. transmission never dials a 127.x address a tracker hands out, but accepts incoming
    // connections: it starts first, so that the seeders' first announce (the only one within
    // the run) lists it and they dial it.
    let starts_early = client == Client::Transmission;
    if starts_early {
        // Before it starts: the seeders dial it the moment they are up.
        crate::settle(args);
    }
    let mut early = None;
    if starts_early {
        let spawned = Instant::now();
        let mut running = launch.spawn(&client.program())?;
        wait_for_announce(&tracker, launch.port, &mut running, &client.program())?;
        early = Some((running, spawned));
    }

    // 3. The seeders.
    let (seeders, seed_start_secs) = crate::start_seeders(args, &torrent_path, &seed_dir)?;
    wait_for_seeders(&tracker, args.seeders)?;
    eprintln!(
        "  {} seeder(s) ready in {seed_start_secs:.2}s",
        args.seeders
    );
    if !starts_early {
        crate::settle(args);
    }

    // 4. The download; the clock starts with the client, or with the seeders for a client that
    // was already waiting for them.
    let seed_cpu_before = seeders.cpu();
    let start = Instant::now();
    let (mut running, head_start) = match early {
        Some((r, spawned)) => (r, Some(start.duration_since(spawned).as_secs_f64())),
        None => (launch.spawn(&client.program())?, None),
    };
    let m = watch(
        &client.program(),
        &mut running,
        &launch.done,
        &layout,
        &out_dir,
        start,
        Duration::from_secs(args.timeout),
    )?;
    let parent_wall = start.elapsed().as_secs_f64();
    let seed_cpu = seeders.cpu() - seed_cpu_before;

    // 5. Byte-for-byte check.
    let t = Instant::now();
    gen::compare(&layout, &seed_dir, &out_dir)
        .map_err(|e| format!("{}'s download is wrong: {e}", client.program()))?;
    let verify_secs = t.elapsed().as_secs_f64();
    let lt_uploaded = seeders.shutdown();
    drop(tracker);

    // 6. The floors, and the summary.
    let floors = crate::floor::Floors::measure(total, args.piece, dir)?;
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    let (user, sys) = (tv(m.exit.ru.ru_utime), tv(m.exit.ru.ru_stime));
    let cpu = user + sys;
    let mut s = String::new();
    let mut line = |k: &str, v: String| s.push_str(&format!("  {k:<18}{v}\n"));
    line(
        "payload",
        format!(
            "{} in {} file(s), {} pieces of {}",
            human(total),
            layout.files.len(),
            layout.pieces(),
            human(args.piece)
        ),
    );
    let seed_kind = args.seed_with.describe();
    line("seeders", format!("{} x {seed_kind}", args.seeders));
    if args.seed_with == SeedWith::Coracle {
        line(
            "seeder recheck",
            format!("{seed_start_secs:.2} s (all seeders at once; excluded below)"),
        );
    }
    line("leecher", format!("{version}, in its own process"));
    let x = m.to_exit;
    let ending = match &launch.done {
        Done::Line => format!("to its `finished` line; + {x:.2} s to exit"),
        Done::Marker(_, None) => format!("to its completion hook; + {x:.2} s to exit"),
        Done::Marker(_, Some(_)) => {
            format!("to its completion hook; + {x:.2} s to exit once stopped")
        }
        Done::Exit => "to its exit, which ends its download (--exit-on-finish)".to_string(),
    };
    line("wall to exit", format!("{:.2} s", m.done + m.to_exit));
    line(
        "wall",
        format!(
            "{:.2} s  ({:.1} MiB/s; {ending})",
            m.done,
            total as f64 / m.done / MIB
        ),
    );
    if let Some(t) = m.metadata {
        line("metadata", format!("{t:.3} s from start (magnet link)"));
    }
    if let Some(t) = m.first_data {
        line(
            "first data",
            format!("{t:.2} s from start (first page written)"),
        );
    }
    if let Some(kib) = m.dirty_peak_kib {
        line(
            "peak unwritten",
            format!(
                "{:.1} MiB dirty or in write-back (cachestat of its files, every 10 ms)",
                kib as f64 / 1024.0
            ),
        );
    }
    if let Some(h) = head_start {
        line(
            "leecher start",
            format!(
                "{h:.2} s before the seeders were ready (it dials no 127.x peer from a tracker, \
                 so it announced first and the seeders dial it; wall counts from the seeders \
                 being ready)"
            ),
        );
    }
    line(
        "leecher CPU",
        format!(
            "{cpu:.2} s (user {user:.2} + sys {sys:.2}) = {:.2} s/GiB{}",
            cpu / (total as f64 / GIB),
            match m.cpu_at_done {
                Some(c) => format!("; {c:.2} s of it by completion"),
                None => String::new(),
            }
        ),
    );
    line(
        "peak RssAnon",
        format!(
            "{:.1} MiB  (VmHWM {:.1} MiB, includes mapped file pages; sampled every 10 ms)",
            m.rss_anon_peak_kib as f64 / 1024.0,
            m.vm_hwm_kib as f64 / 1024.0
        ),
    );
    let ru = &m.exit.ru;
    let field = |finished: &Option<String>, key: &str| -> Option<u64> {
        finished
            .as_deref()?
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('=')?.parse().ok())
    };
    line(
        "leecher kernel",
        format!(
            "{} minor / {} major faults, {} voluntary / {} involuntary switches{}",
            ru.ru_minflt,
            ru.ru_majflt,
            ru.ru_nvcsw,
            ru.ru_nivcsw,
            match field(&m.finished_line, "peers") {
                Some(p) => format!("; {p} peers"),
                None => String::new(),
            }
        ),
    );
    let received = field(&m.finished_line, "downloaded");
    let failed = field(&m.finished_line, "failed").unwrap_or(0);
    if failed > 0 || received.is_some_and(|r| r > total + total / 20) {
        line(
            "waste",
            format!(
                "{} received for {} ({} failed the hash check)",
                human(received.unwrap_or(0)),
                human(total),
                human(failed)
            ),
        );
    }
    if client == Client::Transmission && args.seeders > 1 {
        line(
            "note",
            format!(
                "transmission keeps one connection per IP address: one of the {} seeders \
                 (all on 127.0.0.1) serves it",
                args.seeders
            ),
        );
    }
    crate::floor::report(&floors, total, &mut line);
    line("CPU / floor", crate::floor::ratios(&floors, cpu));
    line(
        "seed-side CPU",
        format!(
            "{seed_cpu:.2} s during the download ({})",
            args.seed_with.cpu_source()
        ),
    );
    if let Some(up) = lt_uploaded {
        line("libtorrent sent", human(up));
    }
    line(
        "check",
        format!("download byte-identical to the payload ({verify_secs:.2} s); parent saw {parent_wall:.2} s"),
    );
    println!("\n== swarm, leecher {} ==\n{s}", client.name());
    Ok(())
}
