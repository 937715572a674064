//! aria2c as a seeder or a leecher on its own loopback address.

use std::ffi::OsStr;
use std::path::Path;
use std::process::Command;

use crate::harness::{free_port, loopback, Ctx};

/// aria2c's address: its own, so transmission (one peer per IP) can tell it from coracle.
const IP: u8 = 2;

/// The flags both roles share: bound to 127.0.0.2 (listener, tracker and peer connections
/// alike, so the tracker hands out that address), and every discovery but the tracker off.
pub fn base(torrent: impl AsRef<OsStr>, dir: &Path) -> Command {
    let ip = loopback(IP);
    let mut cmd = Command::new("aria2c");
    cmd.arg(format!("--interface={ip}"))
        .arg(format!("--listen-port={}", free_port(ip)))
        .args([
            "--enable-dht=false",
            "--enable-dht6=false",
            "--bt-enable-lpd=false",
            "--enable-peer-exchange=false",
            "--disable-ipv6=true",
            // The default (prealloc) writes every byte before starting; none is quicker and
            // works on any filesystem.
            "--file-allocation=none",
            "--check-integrity=true",
            "--summary-interval=0",
            "--show-console-readout=false",
            "--enable-color=false",
            // Its log (every message sent and received) goes to the captured output.
            "--log=-",
            "--log-level=info",
        ])
        .arg(format!("--dir={}", dir.display()))
        .arg(torrent.as_ref());
    cmd
}

/// Seeds the payload already in `dir` until killed.
pub fn seed(ctx: &Ctx, torrent: &Path, dir: &Path) {
    let mut cmd = base(torrent, dir);
    // Ratio 0.0 with no --seed-time: seed regardless of ratio, forever.
    cmd.arg("--seed-ratio=0.0");
    ctx.spawn("aria2c-seed", cmd);
}

/// Downloads into `dir`, exiting once done.
pub fn leech(ctx: &Ctx, torrent: &Path, dir: &Path) {
    let mut cmd = base(torrent, dir);
    cmd.arg("--seed-time=0");
    ctx.spawn("aria2c-leech", cmd);
}
