//! A constrained machine: the CLI downloads 768 MiB while it runs in a memory cgroup of 48 MiB
//! (page cache included), and must finish with the exact bytes and without an OOM kill.
//! Issue 15, target 7: routers and small boards have less memory than the files they fetch.
//!
//! Needs root (it creates a cgroup); otherwise, or when no memory controller can be used, the
//! test says why on stderr and passes without running. cgroup v2 (`memory.max`,
//! `memory.events`) and v1 (`memory.limit_in_bytes`, `memory.oom_control`) are both handled.
//! Every peer talks over 127.0.0.1 only.

// Test and example code drives real sockets, threads, files and clocks.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

#[path = "support/big_payload.rs"]
mod big_payload;
#[path = "support/payload.rs"]
mod payload;

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use big_payload::BigPayload;
use coracle::{AddOptions, Session, SessionConfig, TorrentSource};
use payload::temp_dir;

/// The cgroup's memory limit.
const LIMIT: u64 = 48 << 20;
/// The payload: sixteen times the limit, plus an odd tail.
const LEN: u64 = (768 << 20) + 4321;

/// A memory cgroup made for this test, removed when dropped.
struct Cgroup {
    dir: PathBuf,
    v2: bool,
}

impl Cgroup {
    /// A child of this process's own memory cgroup, limited to `limit` bytes; `Err` says why
    /// none could be made.
    fn create(limit: u64) -> Result<Cgroup, String> {
        let own = fs::read_to_string("/proc/self/cgroup").map_err(|e| e.to_string())?;
        let v2 = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
        let (base, rel) = if v2 {
            let rel = own.lines().find_map(|l| l.strip_prefix("0::"));
            (PathBuf::from("/sys/fs/cgroup"), rel)
        } else {
            let rel = own.lines().find_map(|l| {
                let mut f = l.splitn(3, ':');
                let (_, ctrl, path) = (f.next()?, f.next()?, f.next()?);
                ctrl.split(',').any(|c| c == "memory").then_some(path)
            });
            (PathBuf::from("/sys/fs/cgroup/memory"), rel)
        };
        let rel = rel.ok_or("no memory cgroup in /proc/self/cgroup")?;
        let parent = base.join(rel.trim_start_matches('/'));
        if v2 {
            let controllers = fs::read_to_string(parent.join("cgroup.subtree_control"))
                .map_err(|e| format!("{}: {e}", parent.display()))?;
            if !controllers.split_whitespace().any(|c| c == "memory") {
                return Err(format!(
                    "the memory controller is not enabled for children of {}",
                    parent.display()
                ));
            }
        }
        let dir = parent.join(format!("coracle-test-{}", std::process::id()));
        fs::create_dir(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let cg = Cgroup { dir, v2 };
        let file = if v2 {
            "memory.max"
        } else {
            "memory.limit_in_bytes"
        };
        fs::write(cg.dir.join(file), limit.to_string())
            .map_err(|e| format!("setting {file}: {e}"))?;
        Ok(cg)
    }

    /// How many processes of the group the kernel killed for lack of memory.
    fn oom_kills(&self) -> u64 {
        let file = if self.v2 {
            "memory.events"
        } else {
            "memory.oom_control"
        };
        let text = fs::read_to_string(self.dir.join(file)).unwrap_or_default();
        text.lines()
            .find_map(|l| l.strip_prefix("oom_kill "))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0)
    }

    /// The group's peak memory use, where the kernel records it.
    fn peak(&self) -> Option<u64> {
        let file = if self.v2 {
            "memory.peak"
        } else {
            "memory.max_usage_in_bytes"
        };
        fs::read_to_string(self.dir.join(file))
            .ok()?
            .trim()
            .parse()
            .ok()
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        // Empty by now (its one process has exited); the kernel moves its charges up.
        let _ = fs::remove_dir(&self.dir);
    }
}

/// Removes the test's folders when it ends, passed or not.
struct Cleanup(Vec<PathBuf>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for d in &self.0 {
            let _ = fs::remove_dir_all(d);
        }
    }
}

/// A session on 127.0.0.1 seeding `torrent` from `dir`, after checking the data.
fn seeder(torrent: &[u8], dir: &Path) -> Session {
    let mut cfg = SessionConfig::default();
    cfg.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    cfg.disk_workers = 2;
    cfg.engine.peer_id = *b"-CR0100-cgroupseed00";
    // Only the one leecher, named with --peer: no DHT (LSD is off by default).
    cfg.dht.enabled = false;
    let s = Session::new(cfg).expect("seeder session");
    let h = s
        .add(TorrentSource::Bytes(torrent.to_vec()), {
            let mut opts = AddOptions::default();
            opts.output = dir.to_path_buf();
            opts.no_trackers = true;
            opts
        })
        .expect("seeder adds its torrent");
    h.wait_timeout(Duration::from_secs(300))
        .expect("seeder checks its data");
    s
}

#[test]
fn a_768_mib_download_completes_in_a_48_mib_memory_cgroup() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: creating a memory cgroup needs root");
        return;
    }
    let cgroup = match Cgroup::create(LIMIT) {
        Ok(c) => c,
        Err(why) => {
            eprintln!("skipped: no memory cgroup for the test ({why})");
            return;
        }
    };
    let seed_dir = temp_dir("cgroup-seed");
    let leech_dir = temp_dir("cgroup-leech");
    let state = temp_dir("cgroup-state");
    let _cleanup = Cleanup(vec![seed_dir.clone(), leech_dir.clone(), state.clone()]);
    let big = BigPayload::new(LEN);
    let torrent = big.write_and_describe(&seed_dir, "big.bin");
    let torrent_path = seed_dir.join("big.torrent");
    fs::write(&torrent_path, &torrent).unwrap();
    let seeder = seeder(&torrent, &seed_dir);

    // The shell moves itself into the group, then becomes the leecher (same pid).
    let procs = cgroup.dir.join("cgroup.procs");
    let script = format!("echo $$ > '{}' && exec \"$0\" \"$@\"", procs.display());
    let t = Instant::now();
    let mut child = Command::new("sh")
        .env("XDG_STATE_HOME", &state)
        .arg("-c")
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_coracle"))
        .arg("download")
        .arg(&torrent_path)
        .args(["-o".as_ref(), leech_dir.as_os_str()])
        .args(["--peer", &seeder.listen_addr().to_string()])
        .args([
            "--port",
            "0",
            "--no-trackers",
            "--no-dht",
            "--no-lsd",
            "--quiet",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("starting sh");
    let deadline = t + Duration::from_secs(600);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the leecher in the cgroup did not finish within 10 minutes");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let took = t.elapsed();
    let kills = cgroup.oom_kills();
    let peak = cgroup.peak();
    seeder.shutdown().unwrap();
    assert_eq!(kills, 0, "the kernel OOM-killed the leecher ({status})");
    assert!(
        status.success(),
        "the leecher failed in the cgroup: {status}"
    );
    big.assert_file(&leech_dir.join("big.bin"));
    eprintln!(
        "cgroup test: 768 MiB in {took:.1?} within {} MiB (peak use {})",
        LIMIT >> 20,
        peak.map_or("not recorded".into(), |p| format!("{} MiB", p >> 20))
    );
}
