//! A small HTTP tracker for tests and examples: std only, 127.0.0.1 only.
//!
//! Include it with `#[path = "support/tracker.rs"] mod tracker;` (adjust the path). It binds
//! `127.0.0.1:0`, accepts on its own thread, answers each connection on its own thread (so a
//! `Slow` answer never holds up another request), speaks just enough HTTP/1.1 for a GET with
//! `Connection: close`, and stops accepting when dropped.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use coracle::internals::bencode::Bencode;

/// How the tracker answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A real tracker: remembers peers, answers compact peers and `interval` 1800.
    Normal,
    /// 200 with `failure reason` set to this text.
    Failure(String),
    /// 200 with a body that is not bencode.
    Garbage,
    /// 500 with a plain-text body.
    Status500,
    /// Waits this long, then answers as `Normal`.
    Slow(Duration),
    /// 302 back to the same URL, forever.
    RedirectLoop,
    /// 200 with a body of this many bytes and no `Content-Length` (ends at connection close).
    HugeBody(usize),
    /// 200 with compact peers that contain a port-0 entry and duplicates.
    PortZeroAndDuplicates,
}

/// One announce the tracker received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Announce {
    /// `info_hash`, percent-decoded.
    pub info_hash: [u8; 20],
    /// `peer_id`, percent-decoded.
    pub peer_id: [u8; 20],
    /// `port`.
    pub port: u16,
    /// `event`, if sent.
    pub event: Option<String>,
    /// `left`.
    pub left: u64,
    /// `uploaded`.
    pub uploaded: u64,
    /// `downloaded`.
    pub downloaded: u64,
    /// `numwant`, if sent.
    pub numwant: Option<u32>,
    /// `key`, if sent.
    pub key: Option<String>,
    /// `trackerid`, if sent.
    pub tracker_id: Option<Vec<u8>>,
}

#[derive(Default)]
struct State {
    announces: Vec<Announce>,
    /// info_hash -> peer -> bytes left.
    swarms: HashMap<[u8; 20], HashMap<SocketAddr, u64>>,
}

/// A running test tracker; stops when dropped.
pub struct TestTracker {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl TestTracker {
    /// A normal tracker.
    pub fn start() -> TestTracker {
        TestTracker::start_with(Mode::Normal)
    }

    /// A tracker that answers as `mode` says.
    pub fn start_with(mode: Mode) -> TestTracker {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local_addr");
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (st, sp) = (state.clone(), stop.clone());
        let acceptor = std::thread::Builder::new()
            .name("test-tracker".into())
            .spawn(move || accept_loop(listener, mode, st, sp))
            .expect("spawn test tracker");
        TestTracker {
            addr,
            state,
            stop,
            acceptor: Some(acceptor),
        }
    }

    /// `http://127.0.0.1:PORT/announce`.
    pub fn url(&self) -> String {
        format!("http://{}/announce", self.addr)
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every announce received so far, in order.
    pub fn announces(&self) -> Vec<Announce> {
        lock(&self.state).announces.clone()
    }

    /// Preloads a peer (as a seed) for `info_hash`.
    pub fn add_peer(&self, info_hash: [u8; 20], addr: SocketAddr) {
        lock(&self.state)
            .swarms
            .entry(info_hash)
            .or_default()
            .insert(addr, 0);
    }
}

impl Drop for TestTracker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(h) = self.acceptor.take() {
            let _ = h.join();
        }
    }
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

fn accept_loop(listener: TcpListener, mode: Mode, state: Arc<Mutex<State>>, stop: Arc<AtomicBool>) {
    for conn in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = conn else { continue };
        let (mode, state, stop) = (mode.clone(), state.clone(), stop.clone());
        let _ = std::thread::Builder::new()
            .name("test-tracker-conn".into())
            .spawn(move || {
                let _ = serve(stream, &mode, &state, &stop);
            });
    }
}

/// Reads the request head (up to 16 KiB) and returns its target (path + query).
fn read_target(stream: &mut TcpStream) -> std::io::Result<Option<String>> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf)?;
        if n == 0 || head.len() > 16 * 1024 {
            return Ok(None);
        }
        head.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&head);
    let line = text.lines().next().unwrap_or("");
    let mut parts = line.split(' ');
    match (parts.next(), parts.next()) {
        (Some("GET"), Some(target)) => Ok(Some(target.to_string())),
        _ => Ok(None),
    }
}

fn serve(
    mut stream: TcpStream,
    mode: &Mode,
    state: &Mutex<State>,
    stop: &AtomicBool,
) -> std::io::Result<()> {
    let peer_ip = stream.peer_addr()?.ip();
    let Some(target) = read_target(&mut stream)? else {
        return respond(&mut stream, "400 Bad Request", &[], b"bad request");
    };
    let query = parse_query(target.split_once('?').map_or("", |(_, q)| q));
    let announce = to_announce(&query);
    if let Some(a) = &announce {
        lock(state).announces.push(a.clone());
    }
    match mode {
        Mode::Failure(msg) => respond(&mut stream, "200 OK", &[], &failure(msg)),
        Mode::Garbage => respond(&mut stream, "200 OK", &[], b"<html>not bencode</html>"),
        Mode::Status500 => respond(&mut stream, "500 Internal Server Error", &[], b"oops"),
        Mode::RedirectLoop => {
            let location = format!("Location: {target}");
            respond(&mut stream, "302 Found", &[&location], b"")
        }
        Mode::HugeBody(size) => huge_body(&mut stream, *size),
        Mode::PortZeroAndDuplicates => {
            let mut peers = Vec::new();
            for (ip, port) in [
                ([127, 0, 0, 2], 6881u16),
                ([127, 0, 0, 3], 0),
                ([127, 0, 0, 2], 6881),
            ] {
                peers.extend_from_slice(&ip);
                peers.extend_from_slice(&port.to_be_bytes());
            }
            let body = Bencode::dict([
                ("interval", Bencode::Int(1800)),
                ("peers", Bencode::Bytes(peers)),
            ]);
            respond(&mut stream, "200 OK", &[], &body.encode())
        }
        Mode::Slow(delay) => {
            let until = Instant::now() + *delay;
            while Instant::now() < until && !stop.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(10));
            }
            normal(&mut stream, state, announce, peer_ip)
        }
        Mode::Normal => normal(&mut stream, state, announce, peer_ip),
    }
}

/// The real-tracker answer: records the requester and returns the other peers.
fn normal(
    stream: &mut TcpStream,
    state: &Mutex<State>,
    announce: Option<Announce>,
    peer_ip: IpAddr,
) -> std::io::Result<()> {
    let Some(a) = announce else {
        return respond(
            stream,
            "200 OK",
            &[],
            &failure("missing or invalid parameters"),
        );
    };
    let me = SocketAddr::new(peer_ip, a.port);
    let mut st = lock(state);
    let swarm = st.swarms.entry(a.info_hash).or_default();
    if a.event.as_deref() == Some("stopped") {
        swarm.remove(&me);
    } else {
        swarm.insert(me, a.left);
    }
    let mut peers = Vec::new();
    let mut peers6 = Vec::new();
    let (mut complete, mut incomplete) = (0i64, 0i64);
    for (addr, left) in swarm.iter() {
        if *left == 0 {
            complete += 1
        } else {
            incomplete += 1
        }
        if *addr == me {
            continue;
        }
        let out = match addr.ip() {
            IpAddr::V4(ip) => {
                peers.extend_from_slice(&ip.octets());
                &mut peers
            }
            IpAddr::V6(ip) => {
                peers6.extend_from_slice(&ip.octets());
                &mut peers6
            }
        };
        out.extend_from_slice(&addr.port().to_be_bytes());
    }
    drop(st);
    let mut entries = vec![
        ("interval", Bencode::Int(1800)),
        ("complete", Bencode::Int(complete)),
        ("incomplete", Bencode::Int(incomplete)),
        ("peers", Bencode::Bytes(peers)),
    ];
    if !peers6.is_empty() {
        entries.push(("peers6", Bencode::Bytes(peers6)));
    }
    respond(stream, "200 OK", &[], &Bencode::dict(entries).encode())
}

fn failure(msg: &str) -> Vec<u8> {
    Bencode::dict([("failure reason", Bencode::bytes(msg))]).encode()
}

fn respond(
    stream: &mut TcpStream,
    status: &str,
    headers: &[&str],
    body: &[u8],
) -> std::io::Result<()> {
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for h in headers {
        out.push_str(h);
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    stream.write_all(out.as_bytes())?;
    stream.write_all(body)?;
    stream.flush()?;
    let _ = stream.shutdown(Shutdown::Write);
    Ok(())
}

/// A valid-looking body of `size` bytes with no length: the client must cap its read.
fn huge_body(stream: &mut TcpStream, size: usize) -> std::io::Result<()> {
    stream
        .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n")?;
    let chunk = vec![b'x'; 64 * 1024];
    let mut left = size;
    while left > 0 {
        let n = left.min(chunk.len());
        stream.write_all(&chunk[..n])?;
        left -= n;
    }
    let _ = stream.shutdown(Shutdown::Write);
    Ok(())
}

/// `k=v&k=v`, percent-decoded to bytes (`+` is a space).
fn parse_query(q: &str) -> HashMap<String, Vec<u8>> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                String::from_utf8_lossy(&percent_decode(k)).into_owned(),
                percent_decode(v),
            )
        })
        .collect()
}

fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (
            b[i],
            b.get(i + 1).and_then(|c| hex(*c)),
            b.get(i + 2).and_then(|c| hex(*c)),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b'+', _, _) => {
                out.push(b' ');
                i += 1;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

fn to_announce(q: &HashMap<String, Vec<u8>>) -> Option<Announce> {
    let text = |k: &str| q.get(k).map(|v| String::from_utf8_lossy(v).into_owned());
    let num = |k: &str| text(k).and_then(|v| v.parse::<u64>().ok());
    Some(Announce {
        info_hash: q.get("info_hash")?.as_slice().try_into().ok()?,
        peer_id: q.get("peer_id")?.as_slice().try_into().ok()?,
        port: text("port")?.parse().ok()?,
        event: text("event"),
        left: num("left")?,
        uploaded: num("uploaded")?,
        downloaded: num("downloaded")?,
        numwant: text("numwant").and_then(|v| v.parse().ok()),
        key: text("key"),
        tracker_id: q.get("trackerid").cloned(),
    })
}
