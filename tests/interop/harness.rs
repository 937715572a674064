//! Plumbing shared by the interop tests: tool checks, a per-test context (temp dir, deadline,
//! child processes killed on drop, their logs printed on failure) and free loopback ports.

use std::cell::RefCell;
use std::fs::{self, File};
use std::io::Write;
use std::net::{Ipv4Addr, TcpListener, UdpSocket};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

/// An outside program a test needs, and the Debian package that brings it.
#[derive(Clone, Copy, Debug)]
pub enum Tool {
    Mktorrent,
    Opentracker,
    Aria2,
    Transmission,
    Libtorrent,
}

/// The interpreter that has Debian's python3-libtorrent (a pyenv or venv python may not).
pub const PYTHON: &str = "/usr/bin/python3";

impl Tool {
    fn name(self) -> &'static str {
        match self {
            Tool::Mktorrent => "mktorrent",
            Tool::Opentracker => "opentracker",
            Tool::Aria2 => "aria2c",
            Tool::Transmission => "transmission-cli",
            Tool::Libtorrent => "python3-libtorrent",
        }
    }

    fn package(self) -> &'static str {
        match self {
            Tool::Mktorrent => "mktorrent",
            Tool::Opentracker => "opentracker",
            Tool::Aria2 => "aria2",
            Tool::Transmission => "transmission-cli",
            Tool::Libtorrent => "python3-libtorrent",
        }
    }

    fn installed(self) -> bool {
        match self {
            Tool::Libtorrent => Command::new(PYTHON)
                .args(["-c", "import libtorrent"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success()),
            _ => on_path(self.name()),
        }
    }
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(program).is_file()))
}

/// Whether CI asked for every tool to be present (a missing one is then a failure, not a skip).
fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// True when every tool is installed. Otherwise prints why the test is skipped and returns false,
/// or panics under CI, where a skip would hide a broken setup.
pub fn have(tools: &[Tool]) -> bool {
    for t in tools {
        if !t.installed() {
            let msg = format!(
                "skipped: {} not installed (apt-get install {})",
                t.name(),
                t.package()
            );
            if in_ci() {
                panic!("{msg}");
            }
            // Straight to the stream: the test harness would swallow println! of a passing test.
            let _ = writeln!(std::io::stderr(), "{msg}");
            return false;
        }
    }
    // Say which real clients this test ran against, so a run shows what it exercised.
    let names: Vec<&str> = tools.iter().map(|t| t.name()).collect();
    let _ = writeln!(std::io::stderr(), "exercising: {}", names.join(", "));
    true
}

/// A child process whose output goes to a log file.
struct Proc {
    name: String,
    child: Child,
    log: PathBuf,
}

/// One test's world: a fresh directory, a hard deadline and the children it started. Dropping it
/// kills the children; when the test is failing it also prints their logs.
pub struct Ctx {
    pub dir: PathBuf,
    deadline: Instant,
    procs: RefCell<Vec<Proc>>,
}

impl Ctx {
    pub fn new(test: &str, timeout: Duration) -> Ctx {
        let dir =
            std::env::temp_dir().join(format!("coracle-interop-{}-{test}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("creating the test directory");
        Ctx {
            dir,
            deadline: Instant::now() + timeout,
            procs: RefCell::new(Vec::new()),
        }
    }

    /// A fresh subdirectory of the test directory.
    pub fn subdir(&self, name: &str) -> PathBuf {
        let d = self.dir.join(name);
        fs::create_dir_all(&d).expect("creating a subdirectory");
        d
    }

    /// Starts `cmd` with stdout and stderr in `<dir>/<name>.log`, to be killed with the test.
    pub fn spawn(&self, name: &str, mut cmd: Command) {
        let log = self.dir.join(format!("{name}.log"));
        let out = File::create(&log).expect("creating a log file");
        cmd.stdin(Stdio::null())
            .stdout(out.try_clone().expect("cloning a log file"))
            .stderr(out);
        // SAFETY: prctl is async-signal-safe; it only asks the kernel to kill the child if this
        // thread dies without running our Drop (e.g. the test binary is killed by a CI timeout).
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name}: {e}"));
        self.procs.borrow_mut().push(Proc {
            name: name.into(),
            child,
            log,
        });
    }

    /// Panics if a child has exited with a failure: waiting on it any longer would only time out.
    pub fn check_children(&self) {
        for p in self.procs.borrow_mut().iter_mut() {
            if let Ok(Some(status)) = p.child.try_wait() {
                assert!(status.success(), "{} exited early: {status}", p.name);
            }
        }
    }

    /// Polls `done` until it holds, failing the test at the deadline or when a child fails.
    pub fn wait_for(&self, what: &str, mut done: impl FnMut() -> bool) {
        loop {
            if done() {
                return;
            }
            self.check_children();
            if Instant::now() >= self.deadline {
                panic!("timed out waiting for {what}");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn print_logs(&self) {
        for p in self.procs.borrow().iter() {
            let text = fs::read(&p.log).unwrap_or_default();
            // The end of a log is where a failure shows; whole logs stay in the test directory.
            let tail = &text[text.len().saturating_sub(24_000)..];
            eprintln!(
                "----- {} ({}) -----\n{}",
                p.name,
                p.log.display(),
                String::from_utf8_lossy(tail)
            );
        }
    }
}

impl Drop for Ctx {
    fn drop(&mut self) {
        for p in self.procs.borrow_mut().iter_mut() {
            let _ = p.child.kill();
            let _ = p.child.wait();
        }
        if std::thread::panicking() {
            self.print_logs();
            eprintln!("test directory kept: {}", self.dir.display());
        } else {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// The loopback address each program listens and dials from. Transmission keeps one peer per IP,
/// so every program gets its own.
pub fn loopback(last: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, last)
}

/// A port free for TCP and UDP on `ip`. Ports come from a counter below Linux's ephemeral range
/// (32768+), so an outgoing connection cannot take one between this check and its use, and
/// parallel tests never get the same one.
pub fn free_port(ip: Ipv4Addr) -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let _ = NEXT.compare_exchange(
        0,
        20_000 + (std::process::id() % 400) as u16 * 25,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    loop {
        let port = NEXT.fetch_add(1, Ordering::SeqCst);
        assert!(port < 32_000, "ran out of test ports");
        if TcpListener::bind((ip, port)).is_ok() && UdpSocket::bind((ip, port)).is_ok() {
            return port;
        }
    }
}
