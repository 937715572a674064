//! Starting the DHT and local discovery for a session: binding their sockets, restoring the
//! saved routing table, turning the bootstrap list into addresses, and resolving host names on
//! a short-lived thread (never on the reactor), whose answer comes back as a command.

// I/O shell: reads the state file, resolves host names and starts the thread that does it.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;

use super::dht_state::{self, Saver};
use super::udp::Udp;
use super::{Bound, Command, Wake};
use crate::dht::DhtConfig;
use crate::engine::{DhtSetup, Engine};

/// How often the routing table is saved while it changes.
const SAVE_EVERY: Duration = Duration::from_secs(10 * 60);

/// What the session asks for.
#[derive(Clone, Debug, Default)]
pub(crate) struct DiscoveryPlan {
    /// Run a DHT node.
    pub dht: bool,
    /// `HOST:PORT` routers (addresses are used at once, names resolved off the reactor).
    pub bootstrap: Vec<String>,
    /// BEP 43 read-only node.
    pub read_only: bool,
    /// Join local service discovery.
    pub lsd: bool,
    /// Where `dht.dat` lives; `None`: nothing is saved or restored.
    pub state_dir: Option<PathBuf>,
}

impl Bound {
    /// Binds the DHT and LSD sockets next to the listener and enables them in `engine`.
    /// Returns the bootstrap host names still to resolve (see [`resolve_later`]).
    pub fn start_discovery(&mut self, plan: &DiscoveryPlan, engine: &mut Engine) -> Vec<String> {
        let Ok(listen) = self.listener.local_addr() else {
            return Vec::new();
        };
        let (udp, bound) = Udp::bind(listen, plan.dht, plan.lsd);
        self.udp = udp;
        let now = Instant::now();
        let mut names = Vec::new();
        if let Some(port) = bound.dht_port {
            let mut addrs = Vec::new();
            for b in &plan.bootstrap {
                match b.parse::<SocketAddr>() {
                    Ok(a) => addrs.push(a),
                    Err(_) => names.push(b.clone()),
                }
            }
            let file = plan.state_dir.as_deref().map(dht_state::path);
            let state = file.as_deref().and_then(dht_state::load);
            let setup = DhtSetup {
                config: DhtConfig {
                    read_only: plan.read_only,
                    bootstrap: addrs,
                    ..DhtConfig::default()
                },
                state,
                port,
                v4: bound.dht_v4,
                v6: bound.dht_v6,
                save_every: file.as_ref().map(|_| SAVE_EVERY),
            };
            engine.enable_dht(setup, now);
            self.saver = file.map(Saver::new);
        }
        for family in Udp::lsd_families(&bound) {
            engine.enable_lsd(family, now);
        }
        names
    }
}

/// Resolves `names` (`HOST:PORT`) on a thread of its own and hands the addresses to the reactor
/// as [`Command::DhtRouters`]. A name that does not resolve is logged and skipped.
pub(crate) fn resolve_later(names: Vec<String>, commands: Sender<Command>, wake: Wake) {
    let spawned = std::thread::Builder::new()
        .name("coracle-dht-resolve".into())
        .spawn(move || {
            let mut addrs = Vec::new();
            for n in &names {
                match n.to_socket_addrs() {
                    Ok(found) => addrs.extend(found),
                    Err(e) => log::warn!("DHT router {n}: {e}"),
                }
            }
            if !addrs.is_empty() && commands.send(Command::DhtRouters(addrs)).is_ok() {
                let _ = wake.wake();
            }
        });
    if let Err(e) = spawned {
        log::warn!("resolving DHT routers: {e}");
    }
}
