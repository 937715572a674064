//! A peer that only sits there: it accepts connections on 127.0.0.1, answers the BitTorrent
//! handshake for one info-hash, has no pieces and says nothing more. It counts the connections,
//! so a test sees when coracle dials it again.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The sitting peer; its threads end with the process (tests are short-lived).
pub struct Sitter {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
}

impl Sitter {
    /// Listens for connections about `info_hash`.
    pub fn start(info_hash: [u8; 20]) -> Sitter {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                count.fetch_add(1, Ordering::SeqCst);
                std::thread::spawn(move || sit(conn, info_hash));
            }
        });
        Sitter { addr, accepted }
    }

    /// Where coracle can dial it.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

/// Answers the handshake, then reads (and ignores) until the other side closes.
fn sit(mut conn: TcpStream, info_hash: [u8; 20]) {
    let mut theirs = [0u8; 68];
    let _ = conn.set_read_timeout(Some(Duration::from_secs(120)));
    if conn.read_exact(&mut theirs).is_err() || theirs[28..48] != info_hash {
        return;
    }
    let mut ours = Vec::with_capacity(68);
    ours.push(19);
    ours.extend_from_slice(b"BitTorrent protocol");
    ours.extend_from_slice(&[0; 8]);
    ours.extend_from_slice(&info_hash);
    ours.extend_from_slice(b"-ST0001-sittingpeer1");
    if conn.write_all(&ours).is_err() {
        return;
    }
    let mut sink = [0u8; 4096];
    while matches!(conn.read(&mut sink), Ok(n) if n > 0) {}
}
