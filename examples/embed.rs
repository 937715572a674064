//! Embedding coracle: one [`Session`], one torrent, progress from the event channel.
//!
//! ```text
//! cargo run --example embed -- FILE.torrent OUTPUT_DIR [PEER_HOST:PORT...]
//! cargo run --example embed -- --demo     # seeds a tiny payload on 127.0.0.1 and fetches it
//! ```

// Test and example code drives real sockets, threads, files and clocks.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use coracle::create::TorrentBuilder;
use coracle::{AddOptions, Event, Session, SessionConfig, TorrentSource};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The demo's seeder lives until the end of main, so the download has someone to talk to.
    let (source, output, peers, _demo) = from_args()?;
    let session = Session::new(local_config())?;
    let events = session.events();
    let mut opts = AddOptions::default();
    opts.output = output;
    opts.peers = peers;
    opts.no_trackers = false;
    let handle = session.add(source, opts)?;
    // `wait_timeout` returns as soon as it is done; in between, print what the session says.
    while let Err(coracle::Error::Timeout) = handle.wait_timeout(Duration::from_millis(200)) {
        for ev in events.try_iter() {
            if let Event::Progress { stats: s, .. } = ev {
                println!(
                    "{}/{} pieces, {:.0} B/s",
                    s.pieces_done, s.pieces_total, s.down_rate
                );
            }
        }
    }
    handle.wait()?;
    println!("done: {}", handle.name());
    session.shutdown().unwrap();
    Ok(())
}

/// Listening on 127.0.0.1 only, on a free port.
fn local_config() -> SessionConfig {
    let listen = SocketAddr::from(([127, 0, 0, 1], 0));
    {
        let mut config = SessionConfig::default();
        config.listen = listen;
        config
    }
}

/// Reads `FILE OUTPUT [PEER...]`, or sets up the demo for `--demo`.
fn from_args() -> Result<Download, Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("--demo") => demo(),
        Some(torrent) if args.len() >= 2 => {
            let peers = args[2..]
                .iter()
                .map(|p| p.parse())
                .collect::<Result<_, _>>()?;
            Ok((
                TorrentSource::File(torrent.into()),
                args[1].clone().into(),
                peers,
                None,
            ))
        }
        _ => Err("usage: embed FILE.torrent OUTPUT_DIR [PEER...] | embed --demo".into()),
    }
}

/// What `main` needs to download: the torrent, where to put it, who to ask, and who serves it.
type Download = (TorrentSource, PathBuf, Vec<SocketAddr>, Option<Demo>);

/// The demo's seeder and its folder, removed when the demo ends.
struct Demo {
    _seeder: Session,
    root: PathBuf,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// Writes a small payload to a temporary folder, seeds it from a second session on 127.0.0.1
/// and returns a download of it into another folder.
fn demo() -> Result<Download, Box<dyn std::error::Error>> {
    let root = std::env::temp_dir().join(format!("coracle-embed-demo-{}", std::process::id()));
    let (seed_dir, output) = (root.join("seed"), root.join("out"));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&seed_dir)?;
    // Deterministic bytes: 3 MiB + a short last piece.
    let data: Vec<u8> = (0..3 * 1024 * 1024 + 777u32)
        .map(|i| (i * 31 % 251) as u8)
        .collect();
    std::fs::write(seed_dir.join("demo.bin"), &data)?;
    let torrent = TorrentBuilder::new(seed_dir.join("demo.bin"))
        .build()?
        .bytes;
    let seeder = Session::new(local_config())?;
    let mut opts = AddOptions::default();
    opts.output = seed_dir;
    seeder
        .add(TorrentSource::Bytes(torrent.clone()), opts)?
        .wait_timeout(Duration::from_secs(30))?;
    let peers = vec![seeder.listen_addr()];
    let demo = Demo {
        _seeder: seeder,
        root,
    };
    Ok((TorrentSource::Bytes(torrent), output, peers, Some(demo)))
}
