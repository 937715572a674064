//! `--dht`: a trackerless magnet found only through a local DHT of libtorrent nodes
//! (`dht_nodes.rs`), downloaded by each client of `--compare` in turn (coracle alone without it),
//! `--runs` rounds with the order rotated.
//!
//! Every leecher gets the same magnet, with the info-hash and no `tr=`, and the router's address
//! as its only DHT node. Per run it reports the time from its start to the first connection a
//! seeder accepted from it (the same measure for every client: it can only have found that
//! seeder through the DHT), to the metadata (where the client tells it: coracle's
//! `MetadataReceived`, libtorrent's `metadata_received_alert`, rqbit's and aria2's log lines),
//! to completion (where it tells it) and to its exit.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use crate::compare::{median, Contender};
use crate::dht_nodes::LocalDht;
use crate::foreign::{self, Client, Done, Launch, Running};
use crate::gen::{self, human};
use crate::leech::LeechReport;
use crate::{Args, Work};

/// One run of one client. Times are seconds from its start, or from its session's creation
/// where it tells that (`startup`).
struct Sample {
    /// Start to the creation of its session (libtorrent: python's start and import).
    startup: Option<f64>,
    /// Start to the first connection a seeder accepted from it.
    first_conn: Option<f64>,
    /// Start to the last seeder's first connection, when every seeder got one.
    all_conn: Option<f64>,
    metadata: Option<f64>,
    done: Option<f64>,
    exit: f64,
    cpu: f64,
    /// CPU seconds the seeders spent during the run.
    seed_cpu: f64,
    /// What the coracle leecher reports of its peers and traffic.
    note: String,
}

/// A leecher of the comparison: a client of `--compare`, or the control.
#[derive(Clone, PartialEq, Eq)]
struct Leecher {
    client: Contender,
    /// The control: coracle told the seeders' addresses, its DHT off, so that the table shows
    /// what finding them through the DHT costs.
    given: bool,
}

impl Leecher {
    fn name(&self) -> String {
        match self.given {
            true => format!("{}+peers", self.client.name()),
            false => self.client.name(),
        }
    }
}

/// Times of lines a client printed, seen by a thread that passes the lines on.
#[derive(Default, Clone, Copy)]
struct Marks {
    /// libtorrent's session exists (python started and imported it).
    session: Option<Instant>,
    metadata: Option<Instant>,
    done: Option<Instant>,
}

/// What a line of a client's output says.
#[derive(Clone, Copy)]
enum Mark {
    Session,
    Metadata,
    Done,
}

/// Runs the comparison and prints its table.
pub fn run(args: &Args, work: &Work, clients: &[Contender]) -> Result<(), String> {
    let clients = crate::compare::available(clients);
    for (c, _) in &clients {
        if let Contender::Other(o) = c {
            if !matches!(o, Client::Libtorrent | Client::Rqbit | Client::Aria2) {
                return Err(format!("--dht: {} is not supported here", o.name()));
            }
        }
    }
    if clients.is_empty() {
        return Err("no client of --compare is installed".into());
    }
    let dir = &work.dir;
    let layout = gen::Layout::new(args.size, args.files, args.piece);
    let mut leechers = Vec::new();
    for (client, _) in &clients {
        leechers.push(Leecher {
            client: client.clone(),
            given: false,
        });
        if *client == Contender::Coracle {
            leechers.push(Leecher {
                client: client.clone(),
                given: true,
            });
        }
    }
    let names: Vec<String> = leechers.iter().map(Leecher::name).collect();
    eprintln!(
        "swarm --dht: {} in {} file(s), {} pieces of {}, {} libtorrent seeder(s) and a router, \
         no tracker; {} leeching in turn, in {}",
        human(layout.total()),
        layout.files.len(),
        layout.pieces(),
        human(args.piece),
        args.seeders,
        names.join(", "),
        dir.display()
    );
    for (_, v) in &clients {
        eprintln!("  {v}");
    }
    // No tracker: the .torrent has no `announce`.
    let torrent = dir.join("swarm.torrent");
    crate::write_swarm(&layout, &dir.join("seed"), &torrent, "")?;
    let magnet = trackerless_magnet(&torrent)?;
    let mut samples: Vec<Vec<Sample>> = leechers.iter().map(|_| Vec::new()).collect();
    for round in 0..args.runs {
        for k in 0..leechers.len() {
            let i = (k + round) % leechers.len();
            let s = measure(args, &leechers[i], &torrent, &magnet, dir, round)?;
            samples[i].push(s);
        }
    }
    println!("{}", table(args, &layout, &leechers, &samples));
    Ok(())
}

/// The magnet link of the .torrent at `torrent`: its info-hash, no tracker.
fn trackerless_magnet(torrent: &Path) -> Result<String, String> {
    let bytes = std::fs::read(torrent).map_err(|e| format!("{}: {e}", torrent.display()))?;
    let meta = coracle::Metainfo::from_bytes(&bytes).map_err(|e| e.to_string())?;
    Ok(format!("magnet:?xt=urn:btih:{}", meta.info_hash.to_hex()))
}

/// One run of `leecher`: a fresh local DHT, the download, the byte-for-byte check.
fn measure(
    args: &Args,
    leecher: &Leecher,
    torrent: &Path,
    magnet: &str,
    dir: &Path,
    round: usize,
) -> Result<Sample, String> {
    let name = leecher.name();
    let tag = format!("round {} {name:<14}", round + 1);
    let seed_dir = dir.join("seed");
    let out = dir.join(format!("dht-{name}-{round}"));
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let t = Instant::now();
    let mut local = LocalDht::start(args.seeders, torrent, &seed_dir)?;
    eprintln!(
        "  {tag} DHT of a router and {} seeder(s) formed in {:.1} s",
        args.seeders,
        t.elapsed().as_secs_f64()
    );
    crate::settle(args);
    let s = run_one(args, leecher, torrent, magnet, &mut local, &out, dir)?;
    drop(local);
    let layout = gen::Layout::new(args.size, args.files, args.piece);
    gen::compare(&layout, &seed_dir, &out)
        .map_err(|e| format!("{name}'s download is wrong: {e}"))?;
    let _ = std::fs::remove_dir_all(&out);
    let cell = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.3} s"));
    eprintln!(
        "  {tag} first connection {}, all seeders {}, metadata {}, done {}, exit {:.2} s, \
         CPU {:.2} s, seeders' CPU {:.2} s{}",
        cell(s.first_conn),
        cell(s.all_conn),
        cell(s.metadata),
        cell(s.done),
        s.exit,
        s.cpu,
        s.seed_cpu,
        s.note
    );
    Ok(s)
}

/// Downloads once with `leecher` into `out`, through `local`, and measures it to its exit.
fn run_one(
    args: &Args,
    leecher: &Leecher,
    torrent: &Path,
    magnet: &str,
    local: &mut LocalDht,
    out: &Path,
    dir: &Path,
) -> Result<Sample, String> {
    let client = &leecher.client;
    let (mut launch, program) = launch(args, leecher, torrent, magnet, local, out, dir)?;
    let layout = gen::Layout::new(args.size, args.files, args.piece);
    let seed_cpu = local.seeders_cpu();
    let start = Instant::now();
    let mut running = launch.spawn(&program)?;
    let marks = Arc::new(Mutex::new(Marks::default()));
    if let Some(rx) = running.lines.take() {
        running.lines = Some(tee(rx, client, &launch.done, Arc::clone(&marks)));
    }
    let m = foreign::watch(
        &program,
        &mut running,
        &launch.done,
        &layout,
        out,
        start,
        Duration::from_secs(args.timeout),
    )?;
    let exit = start.elapsed().as_secs_f64();
    let seed_cpu = local.seeders_cpu() - seed_cpu;
    let conns = local.connections(start);
    let first_conn = conns.iter().copied().reduce(f64::min);
    let all_conn = (conns.len() == args.seeders)
        .then(|| conns.iter().copied().reduce(f64::max))
        .flatten();
    let since = |t: Option<Instant>| t.map(|t| t.duration_since(start).as_secs_f64());
    let marks = *marks.lock().expect("marks");
    let (done, metadata, note) = match client {
        Contender::Coracle | Contender::CoraclePwrite | Contender::Build(_) => {
            coracle_report(&running)?
        }
        Contender::Other(_) => {
            let done = match launch.done {
                Done::Exit => since(marks.done),
                _ => Some(m.done),
            };
            (done, since(marks.metadata), String::new())
        }
    };
    let startup = since(marks.session);
    // Times count from the client's session: python's start and import are not libtorrent's.
    let from_session = |t: Option<f64>| t.map(|t| t - startup.unwrap_or(0.0));
    Ok(Sample {
        startup,
        first_conn: from_session(first_conn),
        all_conn: from_session(all_conn),
        metadata: from_session(metadata),
        done: from_session(done),
        exit,
        cpu: m.exit.cpu(),
        seed_cpu,
        note,
    })
}

/// The coracle leecher's own report: its times to completion and to the metadata, and what it
/// received.
fn coracle_report(running: &Running) -> Result<(Option<f64>, Option<f64>, String), String> {
    // The reader thread may still hold the last line: read to its end of file.
    let mut text = String::new();
    if let Some(rx) = &running.lines {
        while let Ok((_, l)) = rx.recv_timeout(Duration::from_secs(2)) {
            text += &l;
            text.push('\n');
        }
    }
    let r = LeechReport::parse(&text)
        .ok_or_else(|| format!("the coracle leecher printed no report: {text:?}"))?;
    let note = format!(
        "; {} received, {} hash failures",
        human(r.bytes),
        r.hash_failures
    );
    let metadata = (r.metadata > 0.0).then_some(r.metadata);
    Ok((Some(r.wall), metadata, note))
}

/// Passes `rx`'s lines on (to `foreign::watch` or the coracle report), noting when the client
/// says it has the metadata, and showing warnings of clients whose output nobody else reads.
fn tee(
    rx: mpsc::Receiver<(Instant, String)>,
    client: &Contender,
    done: &Done,
    marks: Arc<Mutex<Marks>>,
) -> mpsc::Receiver<(Instant, String)> {
    let which = match client {
        Contender::Other(c) => Some(*c),
        _ => None,
    };
    let echo = matches!(done, Done::Exit) && which.is_some();
    let (tx, out) = mpsc::channel();
    std::thread::spawn(move || {
        for (at, line) in rx {
            if let Some(mark) = which.and_then(|c| says(c, &line)) {
                let mut m = marks.lock().expect("marks");
                let slot = match mark {
                    Mark::Session => &mut m.session,
                    Mark::Metadata => &mut m.metadata,
                    Mark::Done => &mut m.done,
                };
                slot.get_or_insert(at);
            }
            if echo && (line.contains("WARN") || line.contains("ERROR")) {
                eprintln!("  | {line}");
            }
            let _ = tx.send((at, line));
        }
    });
    out
}

/// What `line` of `client`'s output tells, if anything.
fn says(client: Client, line: &str) -> Option<Mark> {
    let mark = match client {
        Client::Libtorrent if line == "session" => Mark::Session,
        Client::Libtorrent if line == "metadata" => Mark::Metadata,
        // aria2: its in-memory metadata download completes ("[METADATA]" download).
        Client::Aria2 if line.contains("[METADATA]") && line.contains("complete") => Mark::Metadata,
        // rqbit adds a magnet's torrent once it has resolved its metadata.
        Client::Rqbit if line.contains("added torrent") => Mark::Metadata,
        Client::Rqbit if line.contains("torrent finished downloading") => Mark::Done,
        _ => return None,
    };
    Some(mark)
}

/// The command line of `leecher` for one run: DHT through `local`'s router only (the control:
/// the seeders' addresses and no DHT), no tracker, no LSD, UPnP, NAT-PMP or PEX, listening on
/// 127.0.0.1.
fn launch(
    args: &Args,
    leecher: &Leecher,
    torrent: &Path,
    magnet: &str,
    local: &LocalDht,
    out: &Path,
    dir: &Path,
) -> Result<(Launch, String), String> {
    let router = local.router.as_str();
    let coracle = |exe: &Path, pwrite: bool| {
        let mut cmd = Command::new(exe);
        cmd.arg("--leech-child")
            .arg(torrent)
            .arg(out)
            // No tracker; the leecher builds the magnet from the torrent's info-hash.
            .arg("-")
            .arg("1")
            .arg(args.timeout.to_string())
            .arg(if pwrite { "pwrite" } else { "mmap" })
            .arg("magnet")
            .stdout(Stdio::piped());
        match leecher.given {
            true => cmd.env("SWARM_PEERS", local.seeders_at.join(",")),
            false => cmd.env("SWARM_DHT_BOOTSTRAP", router),
        };
        (cmd, Done::Exit)
    };
    let (mut cmd, done, program) = match &leecher.client {
        Contender::Coracle | Contender::CoraclePwrite => {
            let exe = std::env::current_exe().map_err(|e| format!("finding this program: {e}"))?;
            let pwrite = args.pwrite || leecher.client == Contender::CoraclePwrite;
            let (cmd, done) = coracle(&exe, pwrite);
            (cmd, done, "coracle leecher".to_string())
        }
        Contender::Build(exe) => {
            let (cmd, done) = coracle(exe, args.pwrite);
            (cmd, done, exe.display().to_string())
        }
        Contender::Other(c) => {
            let (cmd, done) = crate::dht_clients::command(*c, magnet, router, out, dir, args)
                .map_err(|e| format!("preparing {}: {e}", c.name()))?;
            (cmd, done, c.program())
        }
    };
    cmd.stdin(Stdio::null()).stderr(Stdio::inherit());
    Ok((Launch { cmd, done, port: 0 }, program))
}

/// The table's title and column names.
fn header(args: &Args, layout: &gen::Layout) -> String {
    let mut s = format!(
        "\n== trackerless magnet through a local DHT: {} in {} file(s), pieces of {}, {} \
         libtorrent seeder(s) + 1 router, {} round(s), order rotated ==\n",
        human(layout.total()),
        layout.files.len(),
        human(args.piece),
        args.seeders,
        args.runs
    );
    s += &format!(
        "  {:<15}{:>8} {:>9} {:>9} {:>9} {:>7} {:>7} {:>13} {:>6} {:>8}   coracle/this\n",
        "client",
        "startup",
        "1st conn",
        "all conn",
        "metadata",
        "done s",
        "exit s",
        "(min-max)",
        "CPU s",
        "seed CPU"
    );
    s
}

/// The summary: medians per client and coracle's median over each other client's.
fn table(
    args: &Args,
    layout: &gen::Layout,
    leechers: &[Leecher],
    samples: &[Vec<Sample>],
) -> String {
    let med = |i: usize, f: &dyn Fn(&Sample) -> Option<f64>| {
        median(samples[i].iter().filter_map(f).collect())
    };
    let cell = |v: Option<f64>, p: usize| v.map_or("-".to_string(), |v| format!("{v:.p$}"));
    let mut s = header(args, layout);
    let coracle = leechers
        .iter()
        .position(|l| l.client == Contender::Coracle && !l.given);
    for (i, l) in leechers.iter().enumerate() {
        let exits: Vec<f64> = samples[i].iter().map(|x| x.exit).collect();
        let lo = exits.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = exits.iter().copied().fold(0.0, f64::max);
        let ratio = match coracle {
            Some(k) if k != i => {
                let r = |f: &dyn Fn(&Sample) -> Option<f64>| match (med(k, f), med(i, f)) {
                    (Some(a), Some(b)) if b > 0.0 => format!("{:.2}x", a / b),
                    _ => "-".into(),
                };
                format!(
                    "metadata {} done {} exit {}",
                    r(&|x| x.metadata),
                    r(&|x| x.done),
                    r(&|x| Some(x.exit))
                )
            }
            _ => String::new(),
        };
        s += &format!(
            "  {:<15}{:>8} {:>9} {:>9} {:>9} {:>7} {:>7} {:>13} {:>6} {:>8}   {ratio}\n",
            l.name(),
            cell(med(i, &|x| x.startup), 3),
            cell(med(i, &|x| x.first_conn), 3),
            cell(med(i, &|x| x.all_conn), 3),
            cell(med(i, &|x| x.metadata), 3),
            cell(med(i, &|x| x.done), 2),
            cell(med(i, &|x| Some(x.exit)), 2),
            format!("({lo:.2}-{hi:.2})"),
            cell(med(i, &|x| Some(x.cpu)), 2),
            cell(med(i, &|x| Some(x.seed_cpu)), 2),
        );
    }
    s += "  seconds from the leecher's start, or from its session's creation where it says \
          (startup: libtorrent's python\n  start and import; exit counts from the start). 1st \
          conn: the first connection a seeder accepted from\n  the leecher (found through the \
          DHT only); all conn: the last seeder's first one; metadata, done: where the\n  client \
          tells it; seed CPU: the seeders' processes during the run; coracle/this: ratio of \
          medians (below 1:\n  coracle is faster). coracle+peers: the control, coracle told the \
          seeders' addresses, its DHT off. Each run\n  has a fresh DHT (a router and the \
          seeders); the leecher starts once every seeder's announce is stored.\n";
    s
}
