//! The other clients' command lines for `--dht`: each joins the DHT through the local router
//! only, with no tracker, no LSD, UPnP, NAT-PMP or PEX, listening on 127.0.0.1, its state in the
//! temporary folder. (`foreign.rs` has their tracker-only command lines.)

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::dht_nodes::{LEECHER_IP, SCRIPT};
use crate::foreign::{free_port, Client, Done};
use crate::Args;

/// `client`'s command downloading `magnet` into `out`, and how its completion is seen.
pub fn command(
    client: Client,
    magnet: &str,
    router: &str,
    out: &Path,
    dir: &Path,
    args: &Args,
) -> io::Result<(Command, Done)> {
    let mut cmd = Command::new(client.program());
    let done = match client {
        Client::Libtorrent => {
            cmd.arg(SCRIPT)
                .args([LEECHER_IP, router, "leech", magnet])
                .arg(out)
                .arg(args.timeout.to_string());
            Done::Line
        }
        Client::Rqbit => {
            rqbit(&mut cmd, magnet, router, out)?;
            Done::Exit
        }
        Client::Aria2 => aria2(&mut cmd, magnet, router, out, dir)?,
        other => {
            return Err(io::Error::other(format!(
                "{} is not supported with --dht",
                other.name()
            )))
        }
    };
    // Every client's stdout is read: its lines tell the metadata and completion times.
    cmd.stdout(Stdio::piped());
    Ok((cmd, done))
}

/// rqbit: its DHT (listening on 0.0.0.0; there is no switch for its address) joins through the
/// router alone, which replaces its default routers; no state file, no trackers. At `info` it
/// logs `added torrent` once a magnet's metadata is resolved and `torrent finished downloading`.
fn rqbit(cmd: &mut Command, magnet: &str, router: &str, out: &Path) -> io::Result<()> {
    cmd.args([
        "--disable-dht-persistence",
        "--dht-bootstrap-addrs",
        router,
        "--disable-trackers",
        "--disable-lsd",
        "--disable-upnp-port-forward",
        "--ipv4-only",
        "--listen-ip",
        LEECHER_IP,
        "-v",
        "info",
    ])
    .arg("--listen-port")
    .arg(free_port()?.to_string())
    .args(["download", "--disable-http-api", "--exit-on-finish"])
    .arg("--output-folder")
    .arg(out)
    .arg(magnet);
    Ok(())
}

/// aria2c: DHT through the router (`--dht-entry-point`), its routing table in a file of its own
/// under `dir` (removed first, so no run inherits one), completion seen through a hook.
fn aria2(
    cmd: &mut Command,
    magnet: &str,
    router: &str,
    out: &Path,
    dir: &Path,
) -> io::Result<Done> {
    let marker = dir.join("aria2-dht-finished");
    let _ = fs::remove_file(&marker);
    let hook = dir.join("aria2-dht-finished.sh");
    write_hook(&hook, &marker)?;
    let dht_file = dir.join("aria2-dht.dat");
    let _ = fs::remove_file(&dht_file);
    cmd.args([
        "--no-conf=true",
        "--no-netrc=true",
        "--interface=127.0.0.1",
        "--disable-ipv6=true",
        "--enable-dht=true",
        "--enable-dht6=false",
        "--bt-enable-lpd=false",
        "--enable-peer-exchange=false",
        // Its DHT needs to be told our address to announce it.
        "--bt-external-ip=127.0.0.1",
        "--seed-time=0",
        "--file-allocation=none",
        // Notices on stdout: the metadata download's completion is one.
        "--console-log-level=notice",
        "--summary-interval=0",
        "--show-console-readout=false",
        "--download-result=hide",
        "--enable-color=false",
    ])
    .arg(format!("--dht-entry-point={router}"))
    .arg(format!("--dht-file-path={}", dht_file.display()))
    .arg(format!("--dht-listen-port={}", free_port()?))
    .arg(format!("--listen-port={}", free_port()?))
    .arg(format!("--on-bt-download-complete={}", hook.display()))
    .arg(format!("--dir={}", out.display()))
    .arg(magnet);
    Ok(Done::Marker(marker, None))
}

/// A completion hook that creates `marker` when the payload is complete: aria2 also runs it for
/// the magnet's metadata, an in-memory download whose path starts `[METADATA]`.
fn write_hook(script: &Path, marker: &Path) -> io::Result<()> {
    let m = marker.display().to_string();
    if m.contains('\'') {
        return Err(io::Error::other(
            "the temporary folder's path holds a quote",
        ));
    }
    let body = format!("#!/bin/sh\ncase \"$3\" in *'[METADATA]'*) exit 0 ;; esac\n: > '{m}'\n");
    fs::write(script, body)?;
    fs::set_permissions(script, fs::Permissions::from_mode(0o755))
}
