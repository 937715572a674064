//! What any BitTorrent leecher must spend on this machine to take the payload off loopback
//! sockets, check it and put it in the page cache, measured without a client: the floors the
//! summary sets a client's CPU time against.
//!
//! - SHA-1: one core hashing the bytes in memory, piece by piece.
//! - receive: one thread reading the bytes off a 127.0.0.1 TCP connection into a reused
//!   buffer (the copy out of the kernel; the sender's thread pays for the TCP stack).
//! - write: one thread writing them with `pwrite` into a fresh, reserved file (filling the page
//!   cache; no fsync). `pwrite` is the cheapest of the ways measured. The same write through
//!   32 MiB map windows advised `MADV_HUGEPAGE` (what coracle's default storage does) is
//!   measured too and shown beside it, not counted in the floor: a write fault must zero each
//!   new page-cache folio before the copy fills it, which `pwrite` of whole pages skips.
//!
//! Each is the best of two passes, on a shared machine. Their sum is the least CPU any client
//! could spend on the download: no protocol, no bookkeeping, no second copy.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::path::Path;

/// Bytes per socket read, socket write and file write.
const CHUNK: usize = 1 << 20;

/// The floors for one payload, in CPU seconds.
pub struct Floors {
    /// SHA-1 of every piece on one core.
    pub sha1: f64,
    /// Reading the bytes off a loopback TCP socket.
    pub receive: f64,
    /// Writing them into the page cache with `pwrite`.
    pub write: f64,
    /// Writing them through mapped windows instead, as coracle's default storage does.
    pub write_mapped: f64,
}

impl Floors {
    /// Measures the three floors for `total` bytes in pieces of `piece`; the write floor uses
    /// a scratch file in `dir`, removed afterwards.
    pub fn measure(total: u64, piece: u64, dir: &Path) -> Result<Floors, String> {
        let sha1 = crate::gen::sha1_floor(total, piece);
        let receive = best_of_two(|| receive_pass(total))
            .map_err(|e| format!("measuring the receive floor: {e}"))?;
        let write = best_of_two(|| write_pass(total, dir, Method::Pwrite))
            .map_err(|e| format!("measuring the write floor: {e}"))?;
        let write_mapped = best_of_two(|| write_pass(total, dir, Method::Mapped))
            .map_err(|e| format!("measuring the mapped write: {e}"))?;
        Ok(Floors {
            sha1,
            receive,
            write,
            write_mapped,
        })
    }

    /// The least CPU any client could spend: hash + receive + write.
    pub fn client(&self) -> f64 {
        self.sha1 + self.receive + self.write
    }
}

fn best_of_two(pass: impl Fn() -> std::io::Result<f64>) -> std::io::Result<f64> {
    Ok(pass()?.min(pass()?))
}

/// CPU seconds of the calling thread so far.
fn thread_cpu() -> f64 {
    // SAFETY: clock_gettime only writes the struct we hand it.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}

/// One thread sends `total` bytes over 127.0.0.1; this one reads them. Returns the reader's
/// CPU seconds.
fn receive_pass(total: u64) -> std::io::Result<f64> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let sender = std::thread::spawn(move || -> std::io::Result<()> {
        let mut out = TcpStream::connect(addr)?;
        let chunk = vec![0x5a_u8; CHUNK];
        let mut left = total;
        while left > 0 {
            let n = left.min(CHUNK as u64) as usize;
            out.write_all(&chunk[..n])?;
            left -= n as u64;
        }
        Ok(())
    });
    let (mut input, _) = listener.accept()?;
    let mut buf = vec![0u8; CHUNK];
    let start = thread_cpu();
    let mut got = 0u64;
    while got < total {
        match input.read(&mut buf)? {
            0 => break,
            n => got += n as u64,
        }
    }
    let cpu = thread_cpu() - start;
    sender
        .join()
        .map_err(|_| std::io::Error::other("the sender thread panicked"))??;
    if got != total {
        return Err(std::io::Error::other(format!(
            "read {got} of {total} bytes"
        )));
    }
    Ok(cpu)
}

/// How a write pass puts the bytes into the file.
#[derive(Clone, Copy)]
enum Method {
    Pwrite,
    /// Through 32 MiB shared maps advised `MADV_HUGEPAGE`, unmapped as each is filled.
    Mapped,
}

/// Bytes per map window of a [`Method::Mapped`] pass, as in coracle's storage.
const WINDOW: u64 = 32 << 20;

/// Writes `total` bytes into a fresh reserved file in `dir`; returns the CPU seconds of the
/// writes alone (not the reservation, which a client makes once at add).
fn write_pass(total: u64, dir: &Path, method: Method) -> std::io::Result<f64> {
    use std::os::unix::fs::FileExt;
    let path = dir.join("floor-scratch");
    // Read and write: a shared writable map needs both.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)?;
    let result = (|| {
        // SAFETY: fallocate on a descriptor we own; it reads no memory of ours.
        let rc = unsafe { libc::fallocate(file.as_raw_fd(), 0, 0, total as libc::off_t) };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let chunk = vec![0xa5_u8; CHUNK];
        let start = thread_cpu();
        let mut at = 0u64;
        while at < total {
            match method {
                Method::Pwrite => {
                    let n = (total - at).min(CHUNK as u64) as usize;
                    file.write_all_at(&chunk[..n], at)?;
                    at += n as u64;
                }
                Method::Mapped => {
                    let len = (total - at).min(WINDOW) as usize;
                    // SAFETY: the file is ours alone and outlives the map; nothing truncates it.
                    let mut map = unsafe {
                        memmap2::MmapOptions::new()
                            .offset(at)
                            .len(len)
                            .map_mut(&file)?
                    };
                    #[cfg(target_os = "linux")]
                    let _ = map.advise(memmap2::Advice::HugePage);
                    for part in map.chunks_mut(CHUNK) {
                        part.copy_from_slice(&chunk[..part.len()]);
                    }
                    at += len as u64;
                }
            }
        }
        Ok(thread_cpu() - start)
    })();
    drop(file);
    let _ = std::fs::remove_file(&path);
    result
}

/// The summary's floor lines for `total` bytes, through `line(key, value)`.
pub fn report(floors: &Floors, total: u64, mut line: impl FnMut(&str, String)) {
    let mib = total as f64 / (1u64 << 20) as f64;
    line(
        "SHA-1 floor",
        format!(
            "{:.2} s on one core for {} ({:.0} MiB/s)",
            floors.sha1,
            crate::gen::human(total),
            mib / floors.sha1
        ),
    );
    line(
        "receive floor",
        format!("{:.2} s to read it off a 127.0.0.1 socket", floors.receive),
    );
    line(
        "write floor",
        format!(
            "{:.2} s to pwrite it into the page cache ({:.2} s through huge-page maps)",
            floors.write, floors.write_mapped
        ),
    );
    line(
        "client floor",
        format!(
            "{:.2} s: the three together, {:.2}x the SHA-1 floor",
            floors.client(),
            floors.client() / floors.sha1
        ),
    );
}

/// A client's CPU seconds `cpu` against the SHA-1 floor and the client floor.
pub fn ratios(floors: &Floors, cpu: f64) -> String {
    format!(
        "{:.2}x the SHA-1 floor, {:.2}x the client floor",
        cpu / floors.sha1,
        cpu / floors.client()
    )
}
