//! The reactor: the one thread that drives every socket of a session with mio and feeds the
//! sans-IO [`Engine`].
//!
//! Runs on the `coracle-reactor` thread. Owns the listener, every peer socket, the DHT and LSD
//! UDP sockets, the `Waker`, the disk pool's job queue and the tracker client's queue. It is the
//! only user of mio and the only place that reads the clock for the engine. It never blocks on
//! disk or network: disk work goes to the pool, announces to the tracker threads, file creation
//! for magnets and DHT saves to short-lived threads, and all answer over channels plus the
//! `Waker`. The one blocking stretch is shutdown: `stopped` announces (bounded by a timeout),
//! joining the pool, then each torrent's last checkpoint and the fsync of every file.

// I/O shell: the reactor owns the sockets and the poller and reads the clock for the engine.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::collections::{HashMap, VecDeque};
use std::io::{ErrorKind, IoSlice, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TryRecvError};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

use crate::disk::{DiskJob, DiskPool};
use crate::engine::{
    Action, AnnounceDone, ConnId, DiskDone, DiskRequest, Engine, Event, TorrentId, TorrentState,
};
use crate::tracker::{AnnounceEvent, AnnounceJob, AnnounceResult, TrackerClient};

mod command;
mod complete;
mod control;
mod dht_state;
mod discovery;
mod events;
mod file_events;
mod links;
mod magnet;
mod shutdown;
mod stream;
mod udp;
mod web;

pub(crate) use command::{Command, Pending, Shelf, StatusCell};
pub use command::{SessionStats, ShutdownReport};
pub(crate) use discovery::{resolve_later, DiscoveryPlan};
pub(crate) use events::Hub;
pub use events::{EventReceiver, RecvError};
pub(crate) use stream::{Answer, PieceAnswer, PieceReply, PieceWait};

/// Where a handle waits for resume bytes (or why there are none).
type ResumeReply = Sender<Result<Vec<u8>, String>>;

/// The listener's token; connections use `conn + 1`, the waker the last token.
const LISTENER: Token = Token(0);
/// The waker's token.
const WAKER: Token = Token(usize::MAX);
/// Bytes read per `read` call: large reads mean fewer syscalls per block.
const READ_CHUNK: usize = 256 * 1024;
/// Bytes read from one socket per wake-up before others get their turn.
const READ_BUDGET: usize = 4 * 1024 * 1024;
/// How long shutdown waits for `stopped` announces.
const STOP_ANNOUNCE_TIMEOUT: Duration = Duration::from_secs(3);

/// Segments handed to one vectored write: a few hundred KiB of blocks, within `IOV_MAX`.
const WRITE_SLICES: usize = 64;

/// Starts a short-lived helper thread (magnet files, DHT saves, completion looks). Boxed, so
/// every helper shares one thread entry point in the binary: each closure type would bring its
/// own, about 2.5 KB.
pub(crate) fn spawn_helper(
    name: &str,
    job: Box<dyn FnOnce() + Send>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new().name(name.into()).spawn(job)
}

/// One socket.
struct Sock {
    stream: TcpStream,
    connecting: bool,
    /// mio is edge-triggered: a socket left unread by the budget is revisited without an event.
    readable: bool,
}

/// Wakes the reactor from another thread (after sending it a command or a result).
#[derive(Clone)]
pub(crate) struct Wake(Arc<mio::Waker>);

impl Wake {
    /// Interrupts the reactor's poll.
    pub fn wake(&self) -> std::io::Result<()> {
        self.0.wake()
    }
}

/// The reactor's sockets before its thread starts: the bound listener, the poller and the
/// waker, so the session can learn the port and hand the waker to the pool and tracker threads.
pub(crate) struct Bound {
    poll: Poll,
    listener: TcpListener,
    wake: Wake,
    /// The DHT and LSD sockets (see [`Bound::start_discovery`]).
    udp: udp::Udp,
    saver: Option<dht_state::Saver>,
}

impl Bound {
    /// Binds the listener and creates the poller and its waker.
    pub fn new(listen: SocketAddr) -> std::io::Result<Bound> {
        let listener = TcpListener::bind(listen)?;
        let poll = Poll::new()?;
        let waker = mio::Waker::new(poll.registry(), WAKER)?;
        Ok(Bound {
            poll,
            listener,
            wake: Wake(Arc::new(waker)),
            udp: udp::Udp::none(),
            saver: None,
        })
    }

    /// Where peers can connect (the real port when 0 was asked for).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// A handle that wakes the reactor.
    pub fn wake(&self) -> Wake {
        self.wake.clone()
    }
}

/// Everything the reactor thread owns.
pub(crate) struct Reactor {
    pub poll: Poll,
    pub listener: TcpListener,
    pub engine: Engine,
    pub commands: Receiver<Command>,
    pub events: Arc<Hub>,
    pub pool: DiskPool,
    pub disk_results: Receiver<DiskDone>,
    pub tracker: TrackerClient,
    pub tracker_results: Receiver<AnnounceResult>,
    pub shelves: HashMap<TorrentId, Shelf>,
    socks: HashMap<ConnId, Sock>,
    disk_backlog: VecDeque<DiskJob>,
    read_buf: Vec<u8>,
    dirty: Vec<ConnId>,
    /// Sockets with unread bytes: edge-triggered readiness seen, `WouldBlock` not reached yet.
    to_read: Vec<ConnId>,
    /// The DHT and LSD sockets.
    udp: udp::Udp,
    /// Where the DHT's table is saved, when there is a state directory.
    saver: Option<dht_state::Saver>,
    stopping: bool,
    /// The last message each tracker gave each torrent, to log a repeated failure once.
    tracker_said: HashMap<(TorrentId, String), String>,
    /// Magnets waiting for their metadata and storage (see `magnet`).
    magnets: magnet::Magnets,
    /// The web-seed threads (BEP 19) and their answers.
    web: web::WebSeedShell,
    /// Threads making BEP 47 symlinks of completed torrents.
    links: links::Links,
    /// Handles waiting for a torrent's resume bytes, with the checkpoint serial that answers them.
    resume_waiters: HashMap<TorrentId, Vec<(u64, ResumeReply)>>,
    /// `completed` announces not answered yet: shutdown waits for them before `stopped`.
    completing: Vec<(TorrentId, String)>,
    /// Completed torrents whose files are being looked at before anyone is told.
    completions: complete::Completions,
    /// How long shutdown gives `stopped` announces, when a session asked (not just dropped).
    stop_order: Option<Duration>,
    /// Streaming readers waiting for a piece (see `stream`).
    stream_waiters: stream::Waiters,
}

impl Reactor {
    /// A reactor over already-built parts; [`Reactor::run`] drives it.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        bound: Bound,
        engine: Engine,
        commands: Receiver<Command>,
        events: Arc<Hub>,
        pool: DiskPool,
        disk_results: Receiver<DiskDone>,
        tracker: TrackerClient,
        tracker_results: Receiver<AnnounceResult>,
    ) -> std::io::Result<Reactor> {
        let Bound {
            poll,
            mut listener,
            wake,
            mut udp,
            saver,
        } = bound;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        udp.register(poll.registry())?;
        let web = web::WebSeedShell::new(&wake)?;
        Ok(Reactor {
            poll,
            listener,
            engine,
            commands,
            events,
            pool,
            disk_results,
            tracker,
            tracker_results,
            shelves: HashMap::new(),
            socks: HashMap::new(),
            disk_backlog: VecDeque::new(),
            read_buf: vec![0; READ_CHUNK],
            dirty: Vec::new(),
            to_read: Vec::new(),
            udp,
            saver,
            stopping: false,
            tracker_said: HashMap::new(),
            completions: complete::Completions::new(wake.clone()),
            magnets: magnet::Magnets::new(wake),
            web,
            links: links::Links::default(),
            resume_waiters: HashMap::new(),
            completing: Vec::new(),
            stop_order: None,
            stream_waiters: stream::Waiters::default(),
        })
    }

    /// Runs until a shutdown command (or until every command sender is gone). The report says
    /// what shutdown got done, with the first error of the final flush: the one point where the
    /// data must reach the disk. The session reads it from the thread's join.
    pub fn run(mut self) -> ShutdownReport {
        let mut events = Events::with_capacity(1024);
        while !self.stopping {
            // No deadline: sleep until a socket, a result or a command wakes us.
            let now = Instant::now();
            let timeout = if !self.to_read.is_empty() || self.udp.has_pending() {
                Some(Duration::ZERO)
            } else {
                self.engine
                    .poll_timeout()
                    .map(|at| at.saturating_duration_since(now))
            };
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() != ErrorKind::Interrupted {
                    log::error!("poll failed: {e}");
                    break;
                }
            }
            for ev in events.iter() {
                match ev.token() {
                    LISTENER => self.accept(),
                    WAKER => {}
                    t if udp::kind_of(t).is_some() => {
                        if let Some(kind) = udp::kind_of(t) {
                            self.udp.readable(kind);
                        }
                    }
                    Token(t) => self.socket_event(
                        t - 1,
                        ev.is_readable() || ev.is_read_closed(),
                        ev.is_writable() || ev.is_error(),
                    ),
                }
            }
            // Commands before reads: `Session::add` does not wait for the reactor, so a peer's
            // handshake for a torrent just added can arrive with the command that adds it.
            self.drain_channels();
            self.read_ready();
            self.udp.read_ready(&mut self.engine);
            let now = Instant::now();
            if self.engine.poll_timeout().is_some_and(|at| at <= now) {
                self.engine.handle_timeout(now);
            }
            // Writing can free room for uploads, which queue disk reads: repeat until quiet.
            loop {
                self.run_actions();
                self.flush_dirty();
                if !self.engine.has_actions() {
                    break;
                }
            }
        }
        self.shutdown()
    }

    fn accept(&mut self) {
        loop {
            match self.listener.accept() {
                Ok((mut stream, addr)) => {
                    let Some(conn) = self.engine.handle_incoming(addr, Instant::now()) else {
                        continue; // over the limit: dropping the stream closes it
                    };
                    let _ = stream.set_nodelay(true);
                    let reg = self.poll.registry().register(
                        &mut stream,
                        Token(conn + 1),
                        Interest::READABLE | Interest::WRITABLE,
                    );
                    if reg.is_err() {
                        self.engine
                            .handle_closed(conn, "register failed".into(), Instant::now());
                        continue;
                    }
                    self.socks.insert(
                        conn,
                        Sock {
                            stream,
                            connecting: false,
                            readable: true,
                        },
                    );
                    self.to_read.push(conn);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    // Out of descriptors and similar: keep serving existing peers.
                    log::warn!("accept failed: {e}");
                    return;
                }
            }
        }
    }

    fn socket_event(&mut self, conn: ConnId, readable: bool, writable: bool) {
        let Some(sock) = self.socks.get_mut(&conn) else {
            return;
        };
        if sock.connecting && writable {
            match sock.stream.take_error() {
                Ok(None) if sock.stream.peer_addr().is_ok() => {
                    sock.connecting = false;
                    let _ = sock.stream.set_nodelay(true);
                    // Bytes may have arrived with the connect; the read finds out.
                    sock.readable = true;
                    self.to_read.push(conn);
                    self.engine.handle_connected(conn, Instant::now());
                }
                Ok(None) => return, // not connected yet (spurious wake-up)
                Ok(Some(e)) | Err(e) => return self.close(conn, e.to_string()),
            }
        }
        if readable {
            if let Some(s) = self.socks.get_mut(&conn) {
                if !s.readable && !s.connecting {
                    s.readable = true;
                    self.to_read.push(conn);
                }
            }
        }
        if writable {
            self.dirty.push(conn);
        }
    }

    /// Reads every socket that became readable, up to its budget. A list, not a scan of every
    /// socket, so a thousand idle peers cost nothing per loop.
    fn read_ready(&mut self) {
        let mut ready = std::mem::take(&mut self.to_read);
        for conn in ready.drain(..) {
            self.read_socket(conn);
        }
        if self.to_read.is_empty() {
            self.to_read = ready; // keep the allocation
        }
    }

    fn read_socket(&mut self, conn: ConnId) {
        let mut budget = READ_BUDGET;
        loop {
            if budget == 0 {
                // Still readable (mio will not tell us again): read more after the others.
                self.to_read.push(conn);
                return;
            }
            let Some(sock) = self.socks.get_mut(&conn) else {
                return;
            };
            match sock.stream.read(&mut self.read_buf) {
                Ok(0) => return self.close(conn, "closed by peer".into()),
                Ok(n) => {
                    budget = budget.saturating_sub(n);
                    self.engine
                        .handle_data(conn, &self.read_buf[..n], Instant::now());
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    sock.readable = false;
                    return;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return self.close(conn, e.to_string()),
            }
        }
    }

    fn close(&mut self, conn: ConnId, why: String) {
        if let Some(mut sock) = self.socks.remove(&conn) {
            let _ = self.poll.registry().deregister(&mut sock.stream);
        }
        self.engine.handle_closed(conn, why, Instant::now());
    }

    fn drain_channels(&mut self) {
        loop {
            match self.commands.try_recv() {
                Ok(cmd) => self.command(cmd),
                Err(TryRecvError::Empty) => break,
                // Every Session and handle is gone: nobody can ever stop us, so stop now.
                Err(TryRecvError::Disconnected) => {
                    self.stopping = true;
                    break;
                }
            }
        }
        while let Ok(done) = self.disk_results.try_recv() {
            self.answer_resume_waiters(&done);
            self.publish_verified(&done);
            let torrent = done.torrent();
            self.engine.handle_disk(done, Instant::now());
            self.answer_piece_waiters(torrent);
        }
        while let Some(opened) = self.magnets.try_recv() {
            self.storage_opened(opened);
        }
        self.completions_done();
        while let Ok(r) = self.tracker_results.try_recv() {
            if r.event == AnnounceEvent::Completed {
                self.completing
                    .retain(|(t, url)| (*t, url.as_str()) != (r.torrent, r.url.as_str()));
            }
            let done = AnnounceDone {
                torrent: r.torrent,
                url: r.url,
                result: r.result,
            };
            self.engine.handle_announce(done, Instant::now());
        }
        self.web.drain(&mut self.engine);
        self.submit_backlog();
    }

    fn command(&mut self, cmd: Command) {
        let now = Instant::now();
        match cmd {
            Command::Add {
                id,
                params,
                shelf,
                wants,
            } => {
                // The session checked for duplicates and chose the id. The wants go in before
                // the reactor reads any socket, so no request reaches a skipped file.
                self.engine.insert_torrent(id, params, now);
                self.engine.set_wants(id, wants, now);
                self.web.add(&mut self.engine, id, &shelf.meta, now);
                self.shelves.insert(id, shelf);
            }
            Command::SetWants { id, wants } => {
                // The handle cleared its completion before sending: say again if it holds.
                self.engine.set_wants(id, wants, now);
                let state = self.engine.stats(id).map(|s| s.state);
                if let (Some(TorrentState::Seeding), Some(shelf)) = (state, self.shelves.get(&id)) {
                    shelf.status.set_complete();
                }
            }
            Command::Stats { id, reply } => {
                let _ = reply.send(self.stats_named(id));
            }
            Command::Peers { id, reply } => {
                let _ = reply.send(self.engine.torrent(id).map(|t| t.peer_infos()));
            }
            Command::ResumeData { id, reply } => {
                // No serial (unknown torrent): dropping `reply` tells the handle.
                if let Some(serial) = self.engine.checkpoint(id, now) {
                    self.resume_waiters
                        .entry(id)
                        .or_default()
                        .push((serial, reply));
                }
            }
            Command::Pause(id) => self.pause(id, now),
            Command::Resume(id) => self.resume(id, now),
            Command::AddPeers(id, peers) => self.engine.add_peers(id, &peers, now),
            Command::Recheck(id) => self.force_recheck(id, now),
            Command::AddMagnet {
                id,
                params,
                pending,
            } => {
                self.engine.insert_magnet(id, params, now);
                self.magnets.pending.insert(id, pending);
            }
            Command::Remove(id) => self.remove(id, now),
            Command::SetRateLimits { id: None, limits } => self.engine.set_rate_limits(limits, now),
            Command::SetRateLimits {
                id: Some(id),
                limits,
            } => self.engine.set_torrent_rate_limits(id, limits, now),
            Command::SetSequential(id, on) => self.engine.set_sequential(id, on, now),
            Command::StreamWindow {
                id,
                reader,
                pieces,
                wait,
            } => self.stream_window(id, reader, pieces, wait),
            Command::DhtRouters(routers) => self.engine.add_dht_routers(&routers, now),
            Command::SessionStats { reply } => {
                let _ = reply.send(SessionStats {
                    torrents: self.engine.torrent_ids().len(),
                    connections: self.engine.connection_count(),
                    discovery: self.engine.discovery_stats(now),
                });
            }
            Command::Shutdown { announce_within } => {
                self.stopping = true;
                self.stop_order = Some(announce_within);
            }
        }
    }

    /// Carries out what the engine asked for, until it asks for nothing more.
    fn run_actions(&mut self) {
        while let Some(action) = self.engine.poll_action() {
            match action {
                Action::Connect { conn, addr } => self.connect(conn, addr),
                Action::Close { conn, reason } => {
                    log::debug!("closing connection {conn}: {reason}");
                    if let Some(mut sock) = self.socks.remove(&conn) {
                        let _ = self.poll.registry().deregister(&mut sock.stream);
                    }
                }
                Action::Disk(req) => {
                    if let Some(job) = self.disk_job(req) {
                        self.disk_backlog.push_back(job);
                    }
                }
                Action::Announce {
                    torrent,
                    url,
                    request,
                } => {
                    if request.event == AnnounceEvent::Completed {
                        self.completing.push((torrent, url.clone()));
                    }
                    self.tracker.submit(AnnounceJob {
                        torrent,
                        url,
                        request,
                    });
                }
                Action::Event(ev) => self.event(ev),
                Action::MetadataReceived { torrent, info } => {
                    self.metadata_received(torrent, &info)
                }
                Action::Datagram(d) => self.udp.send(&d),
                Action::SaveDhtState(bytes) => {
                    if let Some(s) = &mut self.saver {
                        s.save_later(bytes);
                    }
                }
                Action::WebSeed(request) => self.web.submit(request),
            }
        }
        self.submit_backlog();
    }

    fn submit_backlog(&mut self) {
        while let Some(job) = self.disk_backlog.pop_front() {
            if let Err(job) = self.pool.try_submit(job) {
                // The pool is full: keep the order and try again when results come back.
                self.disk_backlog.push_front(job);
                return;
            }
        }
    }

    fn connect(&mut self, conn: ConnId, addr: SocketAddr) {
        let now = Instant::now();
        let mut stream = match self.dial(addr) {
            Ok(s) => s,
            Err(e) => return self.engine.handle_closed(conn, e.to_string(), now),
        };
        let reg = self.poll.registry().register(
            &mut stream,
            Token(conn + 1),
            Interest::READABLE | Interest::WRITABLE,
        );
        if let Err(e) = reg {
            return self.engine.handle_closed(conn, e.to_string(), now);
        }
        self.socks.insert(
            conn,
            Sock {
                stream,
                connecting: true,
                readable: false,
            },
        );
    }

    /// Starts a connection to `addr`: from the listener's address when the session listens on
    /// one address only (and the families match), so peers see one address for us.
    fn dial(&self, addr: SocketAddr) -> std::io::Result<TcpStream> {
        let from = self.listener.local_addr().map(|a| a.ip());
        match from {
            Ok(ip) if !ip.is_unspecified() && ip.is_ipv4() == addr.is_ipv4() => {
                crate::sys::tcp_connect_from(ip, addr).map(TcpStream::from_std)
            }
            _ => TcpStream::connect(addr),
        }
    }

    /// Gives a finished checkpoint's bytes to the handles that asked for one it covers.
    fn answer_resume_waiters(&mut self, done: &DiskDone) {
        let DiskDone::Checkpointed {
            torrent,
            serial,
            result,
        } = done
        else {
            return;
        };
        let Some(waiting) = self.resume_waiters.get_mut(torrent) else {
            return;
        };
        waiting.retain(|(wanted, reply)| {
            if wanted > serial {
                return true;
            }
            let answer = match result {
                Ok(bytes) => Ok(bytes.clone()),
                Err(e) => Err(e.to_string()),
            };
            let _ = reply.send(answer);
            false
        });
        if waiting.is_empty() {
            self.resume_waiters.remove(torrent);
        }
    }

    fn disk_job(&mut self, request: DiskRequest) -> Option<DiskJob> {
        let shelf = self.shelves.get(&request.torrent())?;
        Some(DiskJob {
            request,
            disk: shelf.disk.clone(),
        })
    }

    fn event(&mut self, mut ev: Event) {
        match &mut ev {
            Event::Progress { torrent, stats } => {
                if let Some(shelf) = self.shelves.get_mut(torrent) {
                    if shelf.last_progress.as_deref() == Some(stats) {
                        return; // nothing new: idle torrents stay quiet
                    }
                    shelf.last_progress = Some(Box::new(stats.clone()));
                }
            }
            Event::Completed { torrent } => {
                // Published once its files are found whole (see `complete`).
                if self.look_before_completing(*torrent) {
                    return;
                }
                if let Some(s) = self.shelves.get(torrent) {
                    self.links.complete(&s.meta, s.output.clone(), &s.status);
                }
            }
            Event::Failed { torrent, error } => {
                if let Some(s) = self.status_of(*torrent) {
                    s.set_failed(error.clone());
                }
                self.answer_piece_waiters(*torrent);
            }
            Event::TrackerTrouble {
                torrent,
                url,
                message,
            } => {
                // The same failure on every retry is news only once.
                let key = (*torrent, url.clone());
                let name = self.name_of(*torrent);
                if self.tracker_said.get(&key) != Some(message) {
                    log::warn!("{name}: tracker {url}: {message}");
                    self.tracker_said.insert(key, message.clone());
                } else {
                    log::debug!("{name}: tracker {url}: {message}");
                }
            }
            _ => {}
        }
        // Each subscriber has its own queue; publishing never blocks on a reader.
        self.events.publish(&ev);
    }

    /// Writes what the engine queued for the connections that have something to send.
    fn flush_dirty(&mut self) {
        self.engine.take_dirty(&mut self.dirty);
        let mut dirty = std::mem::take(&mut self.dirty);
        dirty.sort_unstable();
        dirty.dedup();
        for conn in dirty.drain(..) {
            self.write_socket(conn);
        }
        self.dirty = dirty;
    }

    fn write_socket(&mut self, conn: ConnId) {
        let Some(sock) = self.socks.get_mut(&conn) else {
            return;
        };
        if sock.connecting {
            return;
        }
        let Some(out) = self.engine.outbox(conn) else {
            return;
        };
        let mut failure = None;
        while !out.is_empty() {
            let mut slices = [IoSlice::new(&[]); WRITE_SLICES];
            let n = out.fill_slices(&mut slices);
            match sock.stream.write_vectored(&slices[..n]) {
                Ok(0) => {
                    failure = Some("write returned 0".to_string());
                    break;
                }
                Ok(n) => out.consume(n),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    failure = Some(e.to_string());
                    break;
                }
            }
        }
        let drained = out.is_empty();
        if let Some(why) = failure {
            return self.close(conn, why);
        }
        if drained {
            self.engine.handle_written(conn, Instant::now());
        }
    }
}
