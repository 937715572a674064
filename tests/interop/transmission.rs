//! transmission-cli 3.00 as a seeder or a leecher on its own loopback address.
//!
//! Quirks that shape the tests: it ignores 127.x peers a tracker returns and keeps one peer per
//! IP, but accepts incoming connections, so whoever pairs with it must dial it; as a leecher it
//! waits ~10 s before requesting; and it never exits on completion, so callers poll the files.

use std::fs;
use std::path::Path;
use std::process::Command;

use crate::harness::{free_port, loopback, Ctx};

/// Its own address: with one peer per IP, sharing one with another client would lock one out.
const IP: u8 = 3;

/// settings.json for its config dir: everything but the tracker off, bound to 127.0.0.3 (which
/// also binds its tracker requests, so the tracker hands out that address), no rate limits.
fn settings() -> String {
    format!(
        r#"{{
    "bind-address-ipv4": "{ip}",
    "bind-address-ipv6": "::1",
    "dht-enabled": false,
    "lpd-enabled": false,
    "pex-enabled": false,
    "port-forwarding-enabled": false,
    "utp-enabled": false,
    "blocklist-enabled": false,
    "speed-limit-up-enabled": false,
    "speed-limit-down-enabled": false,
    "ratio-limit-enabled": false,
    "idle-seeding-limit-enabled": false,
    "rename-partial-files": false,
    "message-level": 3
}}
"#,
        ip = loopback(IP)
    )
}

/// Runs transmission-cli on `torrent` with data in `dir`: it seeds when the data is there
/// (after verifying it) and downloads otherwise. `role` names its log.
pub fn run(ctx: &Ctx, role: &str, torrent: &Path, dir: &Path) {
    let config = ctx.subdir(&format!("transmission-{role}-config"));
    fs::write(config.join("settings.json"), settings()).unwrap();
    let mut cmd = Command::new("transmission-cli");
    cmd.arg("-g")
        .arg(&config)
        .arg("-w")
        .arg(dir)
        .args(["-p", &free_port(loopback(IP)).to_string(), "-M", "-U", "-D"])
        .arg(torrent);
    ctx.spawn(&format!("transmission-{role}"), cmd);
}
