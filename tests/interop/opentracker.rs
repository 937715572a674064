//! Debian's opentracker on 127.0.0.1, one per test, and scrapes to see who has announced.
//!
//! Debian builds it in whitelist mode: only info-hashes listed in `access.whitelist` are
//! tracked. Run as root it chroots to `tracker.rootdir` and drops to `tracker.user`; the
//! whitelist path is read after the chroot, hence relative to it. Its announce interval is
//! compiled in (~30 min), so tests order their clients instead of waiting for re-announces.

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::Duration;

use crate::harness::{free_port, loopback, Ctx};

pub struct Tracker {
    port: u16,
}

/// Seeders and leechers the tracker knows for one torrent.
#[derive(Clone, Copy, Debug, Default)]
pub struct Swarm {
    pub complete: u32,
    pub incomplete: u32,
}

impl Tracker {
    /// Picks the tracker's port; `start` runs it once the info-hashes are known.
    pub fn new() -> Tracker {
        Tracker {
            port: free_port(loopback(1)),
        }
    }

    pub fn announce_url(&self) -> String {
        format!("http://127.0.0.1:{}/announce", self.port)
    }

    /// Starts opentracker tracking `hashes` and waits until it accepts connections.
    pub fn start(&self, ctx: &Ctx, hashes: &[[u8; 20]]) {
        let root = ctx.subdir("opentracker");
        let whitelist: String = hashes.iter().map(|h| hex(h) + "\n").collect();
        let list = root.join("whitelist.txt");
        fs::write(&list, whitelist).unwrap();
        // Run as root it reads the list after dropping to `nobody`, whatever the umask.
        fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).unwrap();
        fs::set_permissions(&list, fs::Permissions::from_mode(0o644)).unwrap();
        let conf = format!(
            "listen.tcp 127.0.0.1:{p}\nlisten.udp 127.0.0.1:{p}\n\
             access.whitelist whitelist.txt\ntracker.rootdir {root}\ntracker.user nobody\n",
            p = self.port,
            root = root.display()
        );
        let conf_path = root.join("opentracker.conf");
        fs::write(&conf_path, conf).unwrap();
        let mut cmd = Command::new("opentracker");
        cmd.arg("-f").arg(&conf_path).current_dir(&root);
        ctx.spawn("opentracker", cmd);
        ctx.wait_for("opentracker to listen", || {
            TcpStream::connect(("127.0.0.1", self.port)).is_ok()
        });
    }

    /// What a scrape says about `hash` (zeros when the tracker has no peers for it yet).
    pub fn swarm(&self, hash: &[u8; 20]) -> Swarm {
        let body = self.get(&format!("/scrape?info_hash={}", url_encode(hash)));
        Swarm {
            complete: int_after(&body, b"8:completei"),
            incomplete: int_after(&body, b"10:incompletei"),
        }
    }

    /// Waits until the tracker's swarm for `hash` satisfies `ok`.
    pub fn wait_swarm(&self, ctx: &Ctx, hash: &[u8; 20], what: &str, ok: impl Fn(Swarm) -> bool) {
        ctx.wait_for(what, || ok(self.swarm(hash)));
    }

    /// A plain HTTP/1.0 GET, returning the body (empty on any error: callers poll).
    fn get(&self, path: &str) -> Vec<u8> {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return Vec::new();
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
        let _ = write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
        let mut response = Vec::new();
        let _ = s.read_to_end(&mut response);
        match response.windows(4).position(|w| w == b"\r\n\r\n") {
            Some(at) => response.split_off(at + 4),
            None => Vec::new(),
        }
    }
}

/// The integer that follows `key` in bencoded `body`, or 0.
fn int_after(body: &[u8], key: &[u8]) -> u32 {
    let Some(at) = body.windows(key.len()).position(|w| w == key) else {
        return 0;
    };
    let digits = &body[at + key.len()..];
    let end = digits.iter().position(|&c| c == b'e').unwrap_or(0);
    std::str::from_utf8(&digits[..end])
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn url_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("%{b:02x}")).collect()
}
