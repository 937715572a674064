//! `--compare CLIENT,CLIENT,... [--runs N]`: the same swarm (payload, tracker, seeders, set up
//! once) downloaded by several clients in turn, each run to its **exit**, `N` rounds with the
//! order rotated every round, so that the machine's noise (other work on a shared machine, page
//! cache state) falls on every client alike. Prints a table of medians and the ratio of
//! coracle's median to each other client's.
//!
//! Every client is measured the same way, from outside its process: wall from its start to its
//! exit (which, for coracle, includes the final fsync behind its exit-0 promise), CPU from
//! `wait4`, peak RssAnon sampled every 10 ms. Beside it: the time to completion (coracle's own
//! report, the others' completion line or hook; `-` where the client signals only its exit),
//! the time to metadata with `--magnet` (coracle, and libtorrent's `metadata_received_alert`),
//! and the seeding side's CPU during the run per GiB served (`--seed-with`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::foreign::{self, Client, Done, Launch};
use crate::gen::{self, human};
use crate::leech::LeechReport;
use crate::{Args, Work, GIB};

/// A leecher in the comparison: coracle (this program as `--leech-child`) or another client.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Contender {
    /// coracle, in a child process of its own.
    Coracle,
    /// coracle with `pwrite` storage (`coracle:pwrite`) whatever `--storage` says, so that the
    /// two storages are measured in the same swarm and rounds.
    CoraclePwrite,
    /// Another build of this example (`coracle@PATH`, e.g. one built from an older commit):
    /// its `--leech-child` downloads, so a change is measured before and after in one run.
    Build(PathBuf),
    /// Another client, as `--leech-with` runs it.
    Other(Client),
}

impl Contender {
    pub fn name(&self) -> String {
        match self {
            Contender::Coracle => "coracle".into(),
            Contender::CoraclePwrite => "coracle:pwrite".into(),
            Contender::Build(p) => {
                format!("@{}", p.file_name().unwrap_or_default().to_string_lossy())
            }
            Contender::Other(c) => c.name().into(),
        }
    }
}

/// Parses the value of `--compare`. transmission is refused: it only accepts connections from
/// peers the tracker tells about it, so it must start before the seeders (see `foreign.rs`).
pub fn parse(list: &str) -> Result<Vec<Contender>, String> {
    let mut out = Vec::new();
    for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let c = match name {
            "coracle" => Contender::Coracle,
            "coracle:pwrite" => Contender::CoraclePwrite,
            build if build.starts_with("coracle@") => {
                Contender::Build(PathBuf::from(&build["coracle@".len()..]))
            }
            "transmission" | "transmission-cli" => {
                return Err(
                    "--compare: transmission needs a swarm of its own (--leech-with)".into(),
                )
            }
            other => Contender::Other(
                Client::parse(other).map_err(|e| e.replace("--leech-with", "--compare"))?,
            ),
        };
        if !out.contains(&c) {
            out.push(c);
        }
    }
    if out.is_empty() {
        return Err("--compare needs at least one client".into());
    }
    Ok(out)
}

/// One run of one client.
struct Sample {
    /// Start to exit.
    exit: f64,
    /// Start to completion, when the client tells it.
    done: Option<f64>,
    /// Start to its first bytes in the page cache (`cachestat`).
    first: Option<f64>,
    /// Start to metadata (magnet links), when the client tells it.
    metadata: Option<f64>,
    cpu: f64,
    rss_anon_kib: u64,
    /// Peak of the download's dirty or under-write-back pages during the run (KiB).
    dirty_kib: Option<u64>,
    /// Seeding side's CPU seconds during the run.
    seed_cpu: f64,
}

/// Drops clients that are not installed, saying so on stderr; the rest take part.
pub fn available(clients: &[Contender]) -> Vec<(Contender, String)> {
    let mut out = Vec::new();
    for c in clients {
        match c {
            Contender::Coracle => out.push((c.clone(), "coracle (this build)".to_string())),
            Contender::CoraclePwrite => out.push((
                c.clone(),
                "coracle (this build), pwrite storage".to_string(),
            )),
            Contender::Build(p) if p.is_file() => {
                out.push((c.clone(), format!("coracle, the build at {}", p.display())))
            }
            Contender::Build(p) => eprintln!("swarm: skipping {}: no such file", p.display()),
            Contender::Other(client) => match client.version() {
                Ok(v) => out.push((c.clone(), v)),
                Err(e) => eprintln!("swarm: skipping {}: {e}", client.name()),
            },
        }
    }
    out
}

/// Runs the comparison and prints its table.
pub fn run(args: &Args, work: &Work, clients: &[Contender]) -> Result<(), String> {
    let clients = available(clients);
    if clients.is_empty() {
        return Err("no client of --compare is installed".into());
    }
    let dir = &work.dir;
    let seed_dir = dir.join("seed");
    let torrent_path = dir.join("swarm.torrent");
    let layout = gen::Layout::new(args.size, args.files, args.piece);
    let names: Vec<String> = clients.iter().map(|(c, _)| c.name()).collect();
    crate::banner(args, &layout, &format!("compare {}", names.join(", ")), dir);
    for (_, v) in &clients {
        eprintln!("  {v}");
    }
    let tracker = crate::tracker::TestTracker::start();
    let url = tracker.url();
    crate::write_swarm(&layout, &seed_dir, &torrent_path, &url)?;
    let (mut seeders, _) = crate::start_seeders(args, &torrent_path, &seed_dir)?;
    crate::foreign::wait_for_seeders(&tracker, args.seeders)?;
    let magnet = match args.magnet {
        true => Some(crate::magnet_link(&torrent_path, &url)?),
        false => None,
    };

    let mut samples: Vec<Vec<Sample>> = clients.iter().map(|_| Vec::new()).collect();
    for round in 0..args.runs {
        for k in 0..clients.len() {
            let i = (k + round) % clients.len();
            let client = &clients[i].0;
            let out = dir.join(format!("cmp-{}-{round}", client.name()));
            std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
            if (round, k) != (0, 0) && crate::seeders::fresh_per_leecher(args.seed_with) {
                seeders =
                    crate::seeders::restart(seeders, args, &tracker, &torrent_path, &seed_dir)?;
            }
            crate::settle(args);
            let seed_before = seeders.cpu();
            let mut s = run_one(
                args,
                client,
                &torrent_path,
                magnet.as_deref(),
                &url,
                &out,
                dir,
            )?;
            s.seed_cpu = seeders.cpu() - seed_before;
            gen::compare(&layout, &seed_dir, &out)
                .map_err(|e| format!("{}'s download is wrong: {e}", client.name()))?;
            let _ = std::fs::remove_dir_all(&out);
            eprintln!(
                "  round {} {:<12} exit {:.2} s, first data {} s, CPU {:.2} s, seed CPU {:.2} s",
                round + 1,
                client.name(),
                s.exit,
                s.first.map_or("-".into(), |f| format!("{f:.2}")),
                s.cpu,
                s.seed_cpu
            );
            samples[i].push(s);
        }
    }
    let _ = seeders.shutdown();
    drop(tracker);
    println!("{}", table(args, &layout, &clients, &samples));
    Ok(())
}

/// Downloads once with `client` into `out` and measures it to its exit.
fn run_one(
    args: &Args,
    client: &Contender,
    torrent: &Path,
    magnet: Option<&str>,
    url: &str,
    out: &Path,
    dir: &Path,
) -> Result<Sample, String> {
    let source = magnet.map_or_else(|| torrent.to_path_buf(), PathBuf::from);
    let (mut launch, program) = match client {
        Contender::Coracle | Contender::CoraclePwrite => {
            let exe = std::env::current_exe().map_err(|e| format!("finding this program: {e}"))?;
            let pwrite = args.pwrite || *client == Contender::CoraclePwrite;
            (
                coracle_launch(&exe, args, pwrite, torrent, url, out),
                "coracle leecher".to_string(),
            )
        }
        Contender::Build(exe) => (
            coracle_launch(exe, args, args.pwrite, torrent, url, out),
            exe.display().to_string(),
        ),
        Contender::Other(c) => (
            c.prepare(&source, out, dir, args.timeout)
                .map_err(|e| format!("preparing {}: {e}", c.name()))?,
            c.program(),
        ),
    };
    let layout = gen::Layout::new(args.size, args.files, args.piece);
    let start = Instant::now();
    let mut running = launch.spawn(&program)?;
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
    let (done, metadata) = match client {
        Contender::Coracle | Contender::CoraclePwrite | Contender::Build(_) => {
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
            (Some(r.wall), (r.metadata > 0.0).then_some(r.metadata))
        }
        Contender::Other(_) => {
            let done = (!matches!(launch.done, Done::Exit)).then_some(m.done);
            (done, m.metadata)
        }
    };
    Ok(Sample {
        exit,
        done,
        metadata,
        cpu: m.exit.cpu(),
        rss_anon_kib: m.rss_anon_peak_kib,
        dirty_kib: m.dirty_peak_kib,
        first: m.first_data,
        seed_cpu: 0.0,
    })
}

/// The coracle leecher as a child process whose exit ends its run.
fn coracle_launch(
    exe: &Path,
    args: &Args,
    pwrite: bool,
    torrent: &Path,
    url: &str,
    out: &Path,
) -> Launch {
    let mut cmd = Command::new(exe);
    cmd.arg("--leech-child")
        .arg(torrent)
        .arg(out)
        .arg(url)
        // Index 1: no progress line, which would interleave with the table's.
        .arg("1")
        .arg(args.timeout.to_string())
        .arg(if pwrite { "pwrite" } else { "mmap" })
        .args(args.magnet.then_some("magnet"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    Launch {
        cmd,
        done: Done::Exit,
        port: 0,
    }
}

pub fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// The summary: medians per client, min-max of the wall, and coracle's median over each
/// other client's (below 1: coracle is faster or cheaper).
fn table(
    args: &Args,
    layout: &gen::Layout,
    clients: &[(Contender, String)],
    samples: &[Vec<Sample>],
) -> String {
    let gib = layout.total() as f64 / GIB;
    let med = |i: usize, f: &dyn Fn(&Sample) -> Option<f64>| {
        median(samples[i].iter().filter_map(f).collect())
    };
    let cell = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.2}"));
    let seed_kind = args.seed_with.describe();
    let mut s = format!(
        "\n== swarm comparison: {} in {} file(s), pieces of {}, {} {seed_kind} seeder(s), {}{} \
         round(s), order rotated ==\n",
        human(layout.total()),
        layout.files.len(),
        human(args.piece),
        args.seeders,
        if args.magnet { "magnet link, " } else { "" },
        args.runs
    );
    s += &format!(
        "  {:<13}{:>8} {:>13} {:>7} {:>7} {:>9} {:>7} {:>9} {:>9} {:>12} {:>13}\n",
        "client",
        "exit s",
        "(min-max)",
        "first s",
        "done s",
        "metadata",
        "CPU s",
        "RssAnon",
        "unwritten",
        "seed CPU/GiB",
        "coracle/this"
    );
    let coracle = clients.iter().position(|(c, _)| *c == Contender::Coracle);
    for (i, (c, _)) in clients.iter().enumerate() {
        let exits: Vec<f64> = samples[i].iter().map(|x| x.exit).collect();
        let lo = exits.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = exits.iter().copied().fold(0.0, f64::max);
        let exit = med(i, &|x| Some(x.exit));
        let cpu = med(i, &|x| Some(x.cpu));
        let rss = med(i, &|x| Some(x.rss_anon_kib as f64 / 1024.0));
        let dirty = med(i, &|x| x.dirty_kib.map(|k| k as f64 / 1024.0));
        let seed = med(i, &|x| Some(x.seed_cpu / gib));
        let ratio = match coracle {
            Some(k) if k != i => {
                let r = |a: Option<f64>, b: Option<f64>| match (a, b) {
                    (Some(a), Some(b)) if b > 0.0 => format!("{:.2}x", a / b),
                    _ => "-".into(),
                };
                format!(
                    "wall {} CPU {}",
                    r(med(k, &|x| Some(x.exit)), exit),
                    r(med(k, &|x| Some(x.cpu)), cpu)
                )
            }
            _ => String::new(),
        };
        s += &format!(
            "  {:<13}{:>8} {:>13} {:>7} {:>7} {:>9} {:>7} {:>8}M {:>8}M {:>12}  {ratio}\n",
            c.name(),
            cell(exit),
            format!("({lo:.2}-{hi:.2})"),
            cell(med(i, &|x| x.first)),
            cell(med(i, &|x| x.done)),
            med(i, &|x| x.metadata).map_or("-".into(), |v| format!("{v:.3}")),
            cell(cpu),
            cell(rss),
            cell(dirty),
            cell(seed),
        );
    }
    s += "  exit: start to process exit (coracle's includes its final fsync); first: to its first \
          bytes in the page cache (first write);\n  done: to completion where the client tells it;\n  seed CPU/GiB: the seeders' CPU during the run per GiB of \
          payload; coracle/this: ratio of medians (below 1: coracle is faster or cheaper);\n  \
          unwritten: peak of the download's dirty and under-write-back pages (cachestat, 10 ms samples)\n";
    s
}
