//! Idle peers: raw TCP connections that complete a handshake, claim no pieces and then only
//! listen, so the session under test carries their weight (bookkeeping, haves, keep-alives)
//! without any of them taking part in the transfer.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use coracle::internals::wire::{Handshake, Message};
use coracle::TorrentHandle;

/// The connections and the one thread that drains them.
pub struct IdlePeers {
    streams: Vec<TcpStream>,
    stop: Arc<AtomicBool>,
    drain: Option<JoinHandle<()>>,
}

impl IdlePeers {
    /// Opens `n` connections to `addr`. They say nothing yet: the session only learns the
    /// torrent from the handshake, which must wait until the torrent has been added.
    pub fn connect(addr: SocketAddr, n: usize) -> std::io::Result<IdlePeers> {
        let streams = (0..n)
            .map(|_| TcpStream::connect(addr))
            .collect::<std::io::Result<Vec<_>>>()?;
        Ok(IdlePeers {
            streams,
            stop: Arc::new(AtomicBool::new(false)),
            drain: None,
        })
    }

    /// Sends each connection's handshake (a peer id of its own, or the session would drop all
    /// but one as duplicates) and an empty bitfield, then starts discarding what comes back.
    pub fn attach(&mut self, info_hash: [u8; 20], pieces: usize) -> std::io::Result<()> {
        let zeros = vec![0u8; pieces.div_ceil(8)];
        for (i, s) in self.streams.iter_mut().enumerate() {
            let mut peer_id = *b"-IDLE0-0000000000000";
            peer_id[8..].copy_from_slice(format!("{i:012}").as_bytes());
            let mut out = Vec::with_capacity(68 + 5 + zeros.len());
            Handshake {
                reserved: [0; 8],
                info_hash,
                peer_id,
            }
            .encode(&mut out);
            Message::Bitfield(&zeros).encode(&mut out);
            // Still blocking here: the few bytes always fit the socket buffer, and a short write
            // is impossible to miss this way.
            s.write_all(&out)?;
            s.set_nonblocking(true)?;
        }
        let streams = self
            .streams
            .iter()
            .map(TcpStream::try_clone)
            .collect::<std::io::Result<Vec<_>>>()?;
        let stop = self.stop.clone();
        self.drain = Some(std::thread::spawn(move || drain(streams, &stop)));
        Ok(())
    }
}

impl Drop for IdlePeers {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.drain.take() {
            let _ = t.join();
        }
    }
}

/// Reads and drops everything the session sends. The benchmark shares the CPU with this, so
/// idle peers must cost next to nothing on our side: no thread per peer and no wake-up per
/// message. Every 50 ms one `poll(2)` over all sockets and one read per socket with data; what
/// the session sends an idle peer in that time (a few `have`s) fits its socket buffer easily.
fn drain(mut streams: Vec<TcpStream>, stop: &AtomicBool) {
    let mut fds: Vec<libc::pollfd> = streams
        .iter()
        .map(|s| libc::pollfd {
            fd: s.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let mut buf = [0u8; 64 * 1024];
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(50));
        // SAFETY: `fds` is a valid array of `fds.len()` pollfd structs that outlives the call.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 0) };
        if n <= 0 {
            continue;
        }
        for (pfd, s) in fds.iter_mut().zip(streams.iter_mut()) {
            if pfd.revents == 0 {
                continue;
            }
            pfd.revents = 0;
            match s.read(&mut buf) {
                // Closed by the session, or broken: stop watching it (poll skips negative fds).
                Ok(0) => pfd.fd = -1,
                Err(e) if !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {
                    pfd.fd = -1
                }
                // Anything left over is reported again by the next (level-triggered) poll.
                _ => {}
            }
        }
    }
}

/// Lifts the soft limit on open descriptors to the hard one: the idle peers' client sockets and
/// the session's accepted ones live in this one process, and 2,000 of them pass the usual 1,024.
pub fn raise_nofile_limit() -> std::io::Result<libc::rlim_t> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain system calls on a struct we own.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        // An unlimited hard limit cannot be the soft one (the kernel caps it at nr_open).
        lim.rlim_cur = if lim.rlim_max == libc::RLIM_INFINITY {
            1 << 16
        } else {
            lim.rlim_max
        };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(lim.rlim_cur)
}

/// Polls a torrent's peer count until it reaches `want`, noting when.
pub struct Watch {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Option<Duration>>,
}

impl Watch {
    /// Stops polling; when the count was reached, if it was.
    pub fn finish(self) -> Option<Duration> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().ok().flatten()
    }
}

/// Starts polling `h` every 10 ms until it has `want` peers.
pub fn watch_peers(h: TorrentHandle, want: usize, t0: Instant) -> Watch {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let thread = std::thread::spawn(move || {
        while !flag.load(Ordering::Relaxed) {
            if h.stats().is_some_and(|s| s.peers >= want) {
                return Some(t0.elapsed());
            }
            // Each poll is a round trip through the reactor under test: keep them rare.
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    });
    Watch { stop, thread }
}
