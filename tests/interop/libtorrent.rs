//! libtorrent (Debian's python3-libtorrent) as a seeder or a leecher on its own loopback
//! address, through `lt_client.py` next to this file.

use std::path::Path;
use std::process::Command;

use crate::harness::{free_port, loopback, Ctx, PYTHON};

/// Its own address, apart from coracle's and the other clients'.
const IP: u8 = 4;

/// Runs lt_client.py in `mode` ("seed" or "leech") until killed.
pub fn run(ctx: &Ctx, mode: &str, torrent: &Path, dir: &Path) {
    let ip = loopback(IP);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/lt_client.py");
    let mut cmd = Command::new(PYTHON);
    cmd.arg(script)
        .arg(mode)
        .arg(torrent)
        .arg(dir)
        .arg(ip.to_string())
        .arg(free_port(ip).to_string());
    ctx.spawn(&format!("libtorrent-{mode}"), cmd);
}
