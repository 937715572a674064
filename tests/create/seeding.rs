//! A torrent made by coracle, seeded by a coracle session on 127.0.0.1 that dials the client
//! (no tracker, no DHT, no local discovery), and downloaded byte for byte by a real client.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use coracle::create::TorrentBuilder;
use coracle::{AddOptions, Session, SessionConfig, TorrentSource};

use crate::harness::{free_port, loopback, Ctx, PYTHON};
use crate::payload::bytes;

/// Files of the shared folder: sizes that are not piece multiples, nested folders.
const FILES: [(&str, usize); 4] = [
    ("a.bin", 700_001),
    ("docs/b.txt", 13),
    ("docs/deep/c.bin", 1_500_000),
    ("d.bin", 65_537),
];

/// Makes a folder and its torrent with coracle, starts the client with `start` (which returns
/// where it listens), seeds to it and waits until it has every byte.
pub fn client_downloads_from_coracle(name: &str, start: impl Fn(&Ctx, &Path, &Path) -> SocketAddr) {
    let ctx = Ctx::new(&format!("create-seed-{name}"), Duration::from_secs(120));
    let data = ctx.subdir("data");
    for (i, (rel, len)) in FILES.iter().enumerate() {
        let p = data.join("made").join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes(20 + i as u64, *len)).unwrap();
    }
    let made = TorrentBuilder::new(data.join("made")).build().unwrap();
    let torrent = ctx.dir.join("made.torrent");
    std::fs::write(&torrent, &made.bytes).unwrap();

    let out = ctx.subdir(&format!("{name}-download"));
    let client = start(&ctx, &torrent, &out);
    ctx.wait_for(&format!("{name} to listen on {client}"), || {
        TcpListener::bind(client).is_err()
    });

    let ip = loopback(1);
    let session = Session::new({
        let mut config = SessionConfig::default();
        config.listen = SocketAddr::from((ip, free_port(ip)));
        config
    })
    .expect("starting a coracle session");
    // `..default()` so options that other branches add keep their defaults.
    #[allow(clippy::needless_update)]
    let mut opts = AddOptions::default();
    opts.output = data.clone();
    opts.peers = vec![client];
    opts.no_trackers = true;
    let _handle = session
        .add(
            TorrentSource::Metainfo(Box::new(made.metainfo.clone())),
            opts,
        )
        .expect("adding the created torrent");
    let on_disk = || {
        FILES.iter().enumerate().all(|(i, (rel, len))| {
            std::fs::read(out.join("made").join(rel))
                .is_ok_and(|got| got == bytes(20 + i as u64, *len))
        })
    };
    ctx.wait_for(&format!("{name}'s download"), on_disk);
    session.shutdown().unwrap();
}

/// aria2c downloading into `dir` on 127.0.0.2, every discovery but the given peer off.
pub fn aria2(ctx: &Ctx, torrent: &Path, dir: &Path) -> SocketAddr {
    let ip = loopback(2);
    let port = free_port(ip);
    let mut cmd = Command::new("aria2c");
    cmd.arg(format!("--interface={ip}"))
        .arg(format!("--listen-port={port}"))
        .args([
            "--enable-dht=false",
            "--enable-dht6=false",
            "--bt-enable-lpd=false",
            "--enable-peer-exchange=false",
            "--disable-ipv6=true",
            "--file-allocation=none",
            "--seed-time=0",
            "--summary-interval=0",
            "--log=-",
            "--log-level=info",
        ])
        .arg(format!("--dir={}", dir.display()))
        .arg(torrent);
    ctx.spawn("aria2c-leech", cmd);
    SocketAddr::from((ip, port))
}

/// libtorrent (tests/interop/lt_client.py) downloading into `dir` on 127.0.0.4.
pub fn libtorrent(ctx: &Ctx, torrent: &Path, dir: &Path) -> SocketAddr {
    let ip: Ipv4Addr = loopback(4);
    let port = free_port(ip);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/lt_client.py");
    let mut cmd = Command::new(PYTHON);
    cmd.arg(script)
        .arg("leech")
        .arg(torrent)
        .arg(dir)
        .arg(ip.to_string())
        .arg(port.to_string());
    ctx.spawn("libtorrent-leech", cmd);
    SocketAddr::from((ip, port))
}
