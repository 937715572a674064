//! The local DHT of `--dht`: libtorrent processes (`libtorrent_dht.py`) on their own 127.0.0.x
//! addresses, a router (a plain DHT node that holds no torrent and that every other node joins
//! through) and the seeders, which announce the torrent through it. No tracker exists.
//!
//! Each run gets a fresh DHT, so every leecher meets the same one: the seeders just announced,
//! and nobody remembers an earlier leecher (its stored peer entry, its node in the tables).

use std::io::{BufRead, BufReader, Write};
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::PYTHON;

/// The libtorrent side of every DHT node (and of the libtorrent leecher).
pub const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/examples/swarm/libtorrent_dht.py"
);
/// The router's address; the seeders take the addresses after it.
const ROUTER_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 20);
/// Where every leecher's connections come from (the kernel's source address on `lo`).
pub const LEECHER_IP: &str = "127.0.0.1";
/// How long the DHT may take to form (processes up, every seeder's announce stored).
const FORM_TIMEOUT: Duration = Duration::from_secs(60);
/// The seeders announce every 3 s until told `quiet`; their timer, already armed, fires once
/// more within that. Waiting it out keeps them from finding and dialling the leecher
/// themselves while it is measured.
const QUIET_WAIT: Duration = Duration::from_millis(3500);

/// One libtorrent process, its stdout lines stamped as they are read.
struct Node {
    name: String,
    ip: Ipv4Addr,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<(Instant, String)>,
    /// Lines read so far.
    seen: Vec<(Instant, String)>,
}

impl Node {
    fn start(name: String, ip: Ipv4Addr, bootstrap: &str, role: &[&Path]) -> Result<Node, String> {
        let mut child = Command::new(PYTHON)
            .arg(SCRIPT)
            .arg(ip.to_string())
            .arg(bootstrap)
            .args(role)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("starting {name} ({SCRIPT}): {e}"))?;
        let out = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send((Instant::now(), line)).is_err() {
                    break;
                }
            }
        });
        let stdin = child.stdin.take();
        Ok(Node {
            name,
            ip,
            child,
            stdin,
            lines,
            seen: Vec::new(),
        })
    }

    /// Moves the lines read since the last call into `seen`.
    fn read(&mut self) {
        self.seen.extend(self.lines.try_iter());
    }

    /// Waits for a line starting with `prefix`; returns the rest of it.
    fn wait_for(&mut self, prefix: &str, deadline: Instant) -> Result<String, String> {
        let mut at = 0;
        loop {
            self.read();
            if let Some((_, l)) = self.seen[at..].iter().find(|(_, l)| l.starts_with(prefix)) {
                return Ok(l[prefix.len()..].trim().to_string());
            }
            at = self.seen.len();
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("{} exited early ({status})", self.name));
            }
            if Instant::now() > deadline {
                return Err(format!("{} printed no {prefix:?} line in time", self.name));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn tell(&mut self, line: &str) {
        if let Some(stdin) = &mut self.stdin {
            let _ = writeln!(stdin, "{line}");
        }
    }
}

impl Drop for Node {
    /// Closing stdin ends it; a node that does not exit within 2 s is killed.
    fn drop(&mut self) {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A router and seeders that have all announced the torrent to it.
pub struct LocalDht {
    /// The router's `IP:PORT`, the only node a leecher is told of.
    pub router: String,
    /// The seeders' `IP:PORT`s (for the control run that is told them).
    pub seeders_at: Vec<String>,
    router_node: Node,
    seeders: Vec<Node>,
}

impl LocalDht {
    /// Starts the router and `seeders` seeders of `torrent` (data under `data`), and returns
    /// once every seeder's announce is stored and the seeders went quiet.
    pub fn start(seeders: usize, torrent: &Path, data: &Path) -> Result<LocalDht, String> {
        let deadline = Instant::now() + FORM_TIMEOUT;
        let mut router_node = Node::start(
            "the DHT router".into(),
            ROUTER_IP,
            "-",
            &[Path::new("router")],
        )?;
        let router = router_node.wait_for("ready ", deadline)?;
        let mut nodes = Vec::new();
        for i in 0..seeders {
            let ip = Ipv4Addr::new(127, 0, 0, 21 + i as u8);
            let role = [Path::new("seed"), torrent, data];
            nodes.push(Node::start(format!("DHT seeder {ip}"), ip, &router, &role)?);
        }
        let mut seeders_at = Vec::new();
        for n in &mut nodes {
            seeders_at.push(n.wait_for("ready ", deadline)?);
        }
        let mut dht = LocalDht {
            router,
            seeders_at,
            router_node,
            seeders: nodes,
        };
        dht.wait_for_announces(deadline)?;
        for n in &mut dht.seeders {
            n.tell("quiet");
        }
        std::thread::sleep(QUIET_WAIT);
        Ok(dht)
    }

    /// Waits until every seeder's announce is stored by some node. (libtorrent never announces
    /// to a router once it knows other nodes, so it may be the seeders that hold them; a
    /// leecher's lookup asks them all, the swarm being smaller than the 8 closest.)
    fn wait_for_announces(&mut self, deadline: Instant) -> Result<(), String> {
        loop {
            let mut heard = Vec::new();
            for n in std::iter::once(&mut self.router_node).chain(&mut self.seeders) {
                n.read();
                heard.extend(
                    n.seen
                        .iter()
                        .filter_map(|(_, l)| l.strip_prefix("announce "))
                        .map(str::to_string),
                );
            }
            let missing: Vec<String> = self
                .seeders
                .iter()
                .map(|n| n.ip.to_string())
                .filter(|ip| !heard.contains(ip))
                .collect();
            if missing.is_empty() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "no DHT node stored an announce from {} within {} s",
                    missing.join(", "),
                    FORM_TIMEOUT.as_secs()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// CPU seconds the seeders' processes have used so far.
    pub fn seeders_cpu(&self) -> f64 {
        self.seeders
            .iter()
            .filter_map(|n| crate::measure::proc_cpu(n.child.id()))
            .sum()
    }

    /// Seconds from `start` to each seeder's first accepted connection from the leecher, for
    /// the seeders that got one.
    pub fn connections(&mut self, start: Instant) -> Vec<f64> {
        self.seeders
            .iter_mut()
            .filter_map(|n| {
                n.read();
                n.seen
                    .iter()
                    .filter(|(at, l)| {
                        *at >= start && l.strip_prefix("incoming ") == Some(LEECHER_IP)
                    })
                    .map(|(at, _)| at.duration_since(start).as_secs_f64())
                    .reduce(f64::min)
            })
            .collect()
    }
}
