//! Idle peers: raw TCP connections that complete a handshake, claim no pieces and then only
//! listen, so the session under test carries their weight (bookkeeping, haves, keep-alives)
//! without any of them taking part in the transfer.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use coracle::wire::{Handshake, Message};

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

/// Reads and drops everything the session sends. One `poll(2)` over all sockets rather than a
/// thread per peer or a busy loop: the benchmark shares the CPU with this, so idle peers must
/// cost next to nothing on our side.
fn drain(mut streams: Vec<TcpStream>, stop: &AtomicBool) {
    let mut fds: Vec<libc::pollfd> = streams
        .iter()
        .map(|s| libc::pollfd {
            fd: s.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let mut buf = [0u8; 4096];
    while !stop.load(Ordering::Relaxed) {
        // SAFETY: `fds` is a valid array of `fds.len()` pollfd structs that outlives the call.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 100) };
        if n <= 0 {
            continue;
        }
        for (pfd, s) in fds.iter_mut().zip(streams.iter_mut()) {
            if pfd.revents == 0 {
                continue;
            }
            pfd.revents = 0;
            loop {
                match s.read(&mut buf) {
                    Ok(0) => {
                        // Closed by the session: stop watching it (a negative fd is ignored).
                        pfd.fd = -1;
                        break;
                    }
                    Ok(_) => {}
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(_) => {
                        pfd.fd = -1;
                        break;
                    }
                }
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
        lim.rlim_cur = lim.rlim_max;
        if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(lim.rlim_cur)
}
