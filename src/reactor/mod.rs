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

use crate::disk::{DiskJob, DiskPool, StorageError};
use crate::engine::{
    Action, AnnounceDone, ConnId, DiskDone, DiskRequest, Engine, Event, TorrentId, TorrentState,
};
use crate::tracker::{AnnounceEvent, AnnounceJob, AnnounceResult, TrackerClient};

mod command;
mod dht_state;
mod discovery;
mod magnet;
mod stream;
mod udp;

pub use command::SessionStats;
pub(crate) use command::{Command, Pending, Shelf, StatusCell};
pub(crate) use discovery::{resolve_later, DiscoveryPlan};
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
    pub events: Sender<Event>,
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
    /// Handles waiting for a torrent's resume bytes, with the checkpoint serial that answers them.
    resume_waiters: HashMap<TorrentId, Vec<(u64, ResumeReply)>>,
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
        events: Sender<Event>,
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
            magnets: magnet::Magnets::new(wake),
            resume_waiters: HashMap::new(),
            stream_waiters: stream::Waiters::default(),
        })
    }

    /// Runs until a shutdown command (or until every command sender is gone). Gives back the
    /// first error of the final flush: the one point where the data must reach the disk.
    pub fn run(mut self) -> Result<(), StorageError> {
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
            let torrent = done.torrent();
            self.engine.handle_disk(done, Instant::now());
            self.answer_piece_waiters(torrent);
        }
        while let Some(opened) = self.magnets.try_recv() {
            self.storage_opened(opened);
        }
        while let Ok(r) = self.tracker_results.try_recv() {
            let done = AnnounceDone {
                torrent: r.torrent,
                url: r.url,
                result: r.result,
            };
            self.engine.handle_announce(done, Instant::now());
        }
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
                let _ = reply.send(self.engine.stats(id));
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
            Command::Pause(id) => self.engine.pause(id, now),
            Command::Resume(id) => self.engine.resume(id, now),
            Command::AddMagnet {
                id,
                params,
                pending,
            } => {
                self.engine.insert_magnet(id, params, now);
                self.magnets.pending.insert(id, pending);
            }
            Command::Remove(id) => {
                self.magnets.pending.remove(&id);
                self.engine.remove_torrent(id, now);
                self.shelves.remove(&id);
                self.resume_waiters.remove(&id);
                self.stream_waiters.forget(id);
            }
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
            Command::Shutdown => self.stopping = true,
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

    fn event(&mut self, ev: Event) {
        match &ev {
            Event::Completed { torrent } => {
                if let Some(s) = self.shelves.get(torrent) {
                    s.status.set_complete();
                }
            }
            Event::Failed { torrent, error } => {
                let status = self.shelves.get(torrent).map(|s| &s.status);
                let pending = self.magnets.pending.get(torrent).map(|p| &p.status);
                if let Some(s) = status.or(pending) {
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
                if self.tracker_said.get(&key) != Some(message) {
                    log::warn!("tracker {url}: {message}");
                    self.tracker_said.insert(key, message.clone());
                } else {
                    log::debug!("tracker {url}: {message}");
                }
            }
            _ => {}
        }
        // Nobody listening is fine: events are a convenience, the handles carry the state.
        let _ = self.events.try_send(ev);
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

    /// Announces `stopped` for every torrent that started, flushes storage, joins the threads.
    /// Every torrent is flushed even when one fails; the first failure is returned.
    fn shutdown(mut self) -> Result<(), StorageError> {
        let now = Instant::now();
        let ids = self.engine.torrent_ids();
        let mut stops = Vec::new();
        for id in &ids {
            if let Some(t) = self.engine.torrent(*id) {
                if let Some(url) = t.stop_announce_url() {
                    let request = t.announce_request(AnnounceEvent::Stopped);
                    stops.push(AnnounceJob {
                        torrent: *id,
                        url,
                        request,
                    });
                }
            }
        }
        if let (Some(saver), Some(state)) = (&mut self.saver, self.engine.dht_state(now)) {
            saver.save_now(&state);
        }
        for (_, mut sock) in self.socks.drain() {
            let _ = self.poll.registry().deregister(&mut sock.stream);
        }
        // Stopped announces run in parallel so one dead tracker costs one timeout, not one each.
        let tracker = &self.tracker;
        std::thread::scope(|s| {
            for job in stops {
                s.spawn(move || tracker.announce_blocking(job, STOP_ANNOUNCE_TIMEOUT));
            }
        });
        // The pool finishes its queue first, so the pieces it verifies count in the last
        // checkpoint; the torrents stay until then (their sockets are gone, so nothing new
        // starts).
        self.pool.finish();
        while let Ok(done) = self.disk_results.try_recv() {
            self.answer_resume_waiters(&done);
            self.engine.handle_disk(done, now);
        }
        self.final_checkpoints(&ids);
        for id in ids {
            self.engine.remove_torrent(id, now);
        }
        let mut flushed = Ok(());
        for shelf in self.shelves.values() {
            if let Err(e) = shelf.storage.flush() {
                log::error!("flushing {} failed: {e}", shelf.meta.name);
                if flushed.is_ok() {
                    flushed = Err(e);
                }
            }
            if !matches!(
                shelf.status.state(),
                Some(TorrentState::Seeding) | Some(TorrentState::Failed(_))
            ) {
                shelf.status.set_stopped();
            }
        }
        self.tracker.shutdown();
        flushed
    }

    /// Records each torrent's resume state one last time. Runs on this thread because the pool
    /// has stopped and nothing else is left to serve; it is the same work the pool does.
    fn final_checkpoints(&mut self, ids: &[TorrentId]) {
        let mut scratch = Vec::new();
        for &id in ids {
            let (Some(req), Some(shelf)) =
                (self.engine.final_checkpoint(id), self.shelves.get(&id))
            else {
                continue;
            };
            let Some(done) = crate::disk::execute(req, &shelf.disk, &mut scratch) else {
                continue;
            };
            if let DiskDone::Checkpointed { result: Err(e), .. } = &done {
                log::warn!("{}: recording resume state failed: {e}", shelf.meta.name);
            }
            self.answer_resume_waiters(&done);
        }
    }
}
