//! A peer written in the test: std sockets and raw bytes, so it can say anything a hostile peer
//! might. It encodes honest messages with the library's codec (whose exact bytes the `wire` unit
//! tests pin down) and hand-writes the malformed ones in the cases themselves.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use coracle::internals::wire::{self, Handshake, Message};

/// The hostile peer's id: distinct from every coracle session in the tests.
pub const HOSTILE_ID: [u8; 20] = *b"-XX0000-hostile-peer";

/// A message the leecher sent us, owned (piece data is only counted, never kept).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Got {
    KeepAlive,
    Choke,
    Unchoke,
    Interested,
    NotInterested,
    Have(u32),
    Bitfield(Vec<u8>),
    Request { index: u32, begin: u32, length: u32 },
    Piece { index: u32, begin: u32, len: usize },
    Other,
}

impl Got {
    fn from_wire(m: &Message<'_>) -> Got {
        match *m {
            Message::KeepAlive => Got::KeepAlive,
            Message::Choke => Got::Choke,
            Message::Unchoke => Got::Unchoke,
            Message::Interested => Got::Interested,
            Message::NotInterested => Got::NotInterested,
            Message::Have { index } => Got::Have(index),
            Message::Bitfield(b) => Got::Bitfield(b.to_vec()),
            Message::Request {
                index,
                begin,
                length,
            } => Got::Request {
                index,
                begin,
                length,
            },
            Message::Piece { index, begin, data } => Got::Piece {
                index,
                begin,
                len: data.len(),
            },
            _ => Got::Other,
        }
    }
}

/// What one read attempt found.
#[derive(Debug)]
pub enum Recv {
    Msg(Got),
    /// Nothing complete arrived in time; the connection is still up.
    Quiet,
    /// The leecher closed (or reset) the connection.
    Closed,
}

/// One raw TCP connection to the leecher.
pub struct RawPeer {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl RawPeer {
    /// Connects to `addr` (the leecher's listener).
    pub fn dial(addr: SocketAddr) -> RawPeer {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("connecting to the leecher at {addr}: {e}"));
        RawPeer::wrap(stream)
    }

    /// Waits up to `within` for the leecher to dial `listener`.
    pub fn accept(listener: &TcpListener, within: Duration) -> RawPeer {
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let deadline = Instant::now() + within;
        loop {
            match listener.accept() {
                Ok((stream, _)) => {
                    stream.set_nonblocking(false).expect("blocking stream");
                    return RawPeer::wrap(stream);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) => panic!("the leecher never dialled the hostile peer: {e}"),
            }
        }
    }

    fn wrap(stream: TcpStream) -> RawPeer {
        let _ = stream.set_nodelay(true);
        RawPeer {
            stream,
            buf: Vec::new(),
        }
    }

    /// Sends a handshake for `info_hash` with our own peer id.
    pub fn send_handshake(&mut self, info_hash: [u8; 20]) -> std::io::Result<()> {
        let mut out = Vec::new();
        Handshake {
            reserved: [0; 8],
            info_hash,
            peer_id: HOSTILE_ID,
        }
        .encode(&mut out);
        self.send_raw(&out)
    }

    /// Reads the leecher's 68-byte handshake; `None` if it closed or stayed silent.
    pub fn read_handshake(&mut self, within: Duration) -> Option<Handshake> {
        let deadline = Instant::now() + within;
        while self.buf.len() < wire::HANDSHAKE_LEN {
            if !self.fill(deadline).unwrap_or(false) {
                return None;
            }
        }
        let hs = Handshake::decode(&self.buf).ok().flatten()?;
        self.buf.drain(..wire::HANDSHAKE_LEN);
        Some(hs)
    }

    /// Sends one well-formed message.
    pub fn send(&mut self, msg: &Message<'_>) -> std::io::Result<()> {
        let mut out = Vec::new();
        msg.encode(&mut out);
        self.send_raw(&out)
    }

    /// Sends bytes as they are.
    pub fn send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Closes both directions at once (as a crashing peer would).
    pub fn close(self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }

    /// The next message from the leecher, waiting at most `within`.
    pub fn recv(&mut self, within: Duration) -> Recv {
        let deadline = Instant::now() + within;
        loop {
            match wire::decode_frame(&self.buf, wire::DEFAULT_MAX_FRAME) {
                Ok(Some((msg, used))) => {
                    let got = Got::from_wire(&msg);
                    self.buf.drain(..used);
                    return Recv::Msg(got);
                }
                Ok(None) => {}
                Err(e) => panic!("the leecher sent a malformed frame: {e}"),
            }
            match self.fill(deadline) {
                Ok(true) => {}
                Ok(false) => return Recv::Quiet,
                Err(()) => return Recv::Closed,
            }
        }
    }

    /// Reads until a message matches `want`; panics when the leecher closes or `within` passes.
    pub fn wait_for(&mut self, within: Duration, mut want: impl FnMut(&Got) -> bool) -> Got {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.recv(left) {
                Recv::Msg(m) if want(&m) => return m,
                Recv::Msg(_) => {}
                Recv::Quiet => panic!("the leecher did not send the awaited message in time"),
                Recv::Closed => panic!("the leecher closed before the awaited message"),
            }
        }
    }

    /// Reads and discards until the leecher closes; how long that took, or `None` if it was still
    /// open after `within`.
    pub fn closed_within(&mut self, within: Duration) -> Option<Duration> {
        let start = Instant::now();
        let deadline = start + within;
        loop {
            self.buf.clear();
            match self.fill(deadline) {
                Ok(true) => {}
                Ok(false) => return None,
                Err(()) => return Some(start.elapsed()),
            }
        }
    }

    /// Appends what arrives before `deadline` to the buffer. `Ok(false)`: nothing came in time;
    /// `Err(())`: the connection is closed or reset.
    fn fill(&mut self, deadline: Instant) -> Result<bool, ()> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(false);
        }
        // A zero timeout means "block forever" to std; the check above rules it out.
        self.stream.set_read_timeout(Some(left)).map_err(|_| ())?;
        let mut chunk = [0u8; 64 * 1024];
        match self.stream.read(&mut chunk) {
            Ok(0) => Err(()),
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(true)
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => Ok(false),
            Err(e) if e.kind() == ErrorKind::Interrupted => Ok(true),
            Err(_) => Err(()),
        }
    }
}
