//! Process figures from the kernel: CPU time (getrusage, /proc/PID/stat) and anonymous memory
//! (/proc/self/status), sampled by a thread so short peaks are caught.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// User and system CPU seconds of this process (all threads, children excluded).
pub fn self_cpu() -> (f64, f64) {
    // SAFETY: getrusage only writes the struct we hand it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    if rc != 0 {
        return (0.0, 0.0);
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (secs(ru.ru_utime), secs(ru.ru_stime))
}

/// Minor page faults, major page faults, voluntary and involuntary context switches so far.
pub fn self_counts() -> [i64; 4] {
    // SAFETY: getrusage only writes the struct we hand it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return [0; 4];
    }
    [ru.ru_minflt, ru.ru_majflt, ru.ru_nvcsw, ru.ru_nivcsw].map(i64::from)
}

/// User+system CPU seconds of another process, from /proc/PID/stat (`None` once it is gone).
pub fn proc_cpu(pid: u32) -> Option<f64> {
    proc_cpu_path(&format!("/proc/{pid}/stat"))
}

/// User+system CPU seconds from a `stat` file of /proc (a process's or a thread's).
fn proc_cpu_path(path: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(path).ok()?;
    // The command name may hold spaces; fields after it are plain.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of stat (utime, stime) are at 11 and 12 after the name.
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    // SAFETY: sysconf has no side effects.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    Some(ticks / if hz > 0 { hz as f64 } else { 100.0 })
}

/// User+system CPU seconds of this process's live threads whose name starts with `prefix`
/// (the coracle seeders' `coracle-reactor` and `coracle-disk-N`), from /proc/self/task: the
/// seeding cost without the parent's sampling loop or the test tracker.
pub fn threads_cpu(prefix: &str) -> f64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0.0;
    };
    let mut sum = 0.0;
    for task in tasks.flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if !comm.starts_with(prefix) {
            continue;
        }
        let tid: u32 = task.file_name().to_string_lossy().parse().unwrap_or(0);
        sum += proc_cpu_path(&format!("/proc/self/task/{tid}/stat")).unwrap_or(0.0);
    }
    sum
}

/// KiB of `paths` that are dirty in the page cache or being written back, from the kernel's
/// own per-file count (`cachestat`): what a download has written and not yet put on the disk,
/// whatever else the machine writes. Files that do not exist yet count 0; `None` when the
/// kernel has no `cachestat`.
pub fn unwritten_kib(paths: &[std::path::PathBuf]) -> Option<u64> {
    cache_kib(paths).map(|c| c.unwritten)
}

/// What the page cache holds of a download's files.
#[derive(Clone, Copy, Debug, Default)]
pub struct CacheKib {
    /// Pages cached at all: once above 0, the client has written its first bytes (no client
    /// here reads its fresh, empty files; `fallocate` caches nothing).
    pub cached: u64,
    /// Dirty or under write-back.
    pub unwritten: u64,
}

/// The page-cache counts of `paths` (`cachestat`, Linux 6.5+; `None` without it).
pub fn cache_kib(paths: &[std::path::PathBuf]) -> Option<CacheKib> {
    let mut sum = CacheKib::default();
    for p in paths {
        let Ok(file) = std::fs::File::open(p) else {
            continue;
        };
        let c = coracle::internals::disk::cachestat::page_cache(&file)?;
        sum.cached += c.cached / 1024;
        sum.unwritten += c.unwritten / 1024;
    }
    Some(sum)
}

/// A `kB` field of a /proc/PID/status text, in KiB.
fn status_kib(status: &str, key: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Reads `(RssAnon, VmHWM)` of this process in KiB.
pub fn self_memory() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    (
        status_kib(&status, "RssAnon:").unwrap_or(0),
        status_kib(&status, "VmHWM:").unwrap_or(0),
    )
}

/// Reads `(RssAnon, VmHWM)` of another process in KiB (`None` once it is gone).
pub fn proc_memory(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    Some((
        status_kib(&status, "RssAnon:")?,
        status_kib(&status, "VmHWM:").unwrap_or(0),
    ))
}

/// Samples RssAnon every 10 ms on its own thread and keeps the largest value.
pub struct RssSampler {
    peak_kib: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl RssSampler {
    pub fn start() -> RssSampler {
        let peak_kib = Arc::new(AtomicU64::new(self_memory().0));
        let stop = Arc::new(AtomicBool::new(false));
        let (p, s) = (peak_kib.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("rss-sampler".into())
            .spawn(move || {
                while !s.load(Ordering::Relaxed) {
                    p.fetch_max(self_memory().0, Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(10));
                }
            })
            .ok();
        RssSampler {
            peak_kib,
            stop,
            thread,
        }
    }

    /// Stops sampling and returns the peak RssAnon in KiB.
    pub fn finish(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.peak_kib.load(Ordering::Relaxed).max(self_memory().0)
    }
}
