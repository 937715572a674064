//! The `--help` texts. `coracle --help` prints every section; `coracle COMMAND --help` prints
//! that command's usage and options only. A build without `create` leaves its sections out. The sections are printed one after another at run
//! time rather than joined with `concat!`, so no text is stored twice in the binary.

use std::io::Write;

/// The first line of every help text.
const TITLE: &str = concat!(
    "coracle ",
    env!("CARGO_PKG_VERSION"),
    " - a small, fast BitTorrent client\n\n"
);

const USAGE: &str = "\
Usage:
  coracle FILE.torrent|MAGNET [OPTIONS]   same as: coracle download FILE.torrent|MAGNET -o .
  coracle download FILE.torrent|MAGNET [-o DIR] [OPTIONS]
  coracle seed FILE.torrent --data DIR [OPTIONS]
  coracle info FILE.torrent|MAGNET [--timeout SECS] [--save-torrent FILE] [--peer HOST:PORT]
  coracle cat FILE.torrent|MAGNET [--file N] [-o DIR] [OPTIONS] > OUT
  coracle create PATH [-o FILE.torrent] [CREATE OPTIONS]
  coracle version
  coracle COMMAND --help                  that command's options only

MAGNET is a magnet link ('magnet:?xt=urn:btih:...', quoted for the shell): its metadata is
fetched from peers (its x.pe addresses, its tr trackers, --peer), then it downloads like a
.torrent. Hybrid links (btih and btmh) join the v1 swarm; v2-only links are refused.
A link's so= (BEP 53) chooses its files, as --only does.

Commands:
";

const DOWNLOAD: &str = "\
  download   Download into DIR and exit once every piece is verified and on disk.
             Data already in DIR is checked first and only what is missing is fetched;
             with resume state from an earlier run, only files changed since are checked.
             An existing file that is not a download in progress (its size is not the
             torrent's) is never overwritten without --overwrite.
";

const SEED: &str = "\
  seed       Check the data in DIR (the folder `download -o DIR` wrote into) and serve it
             until Ctrl-C. If pieces are missing it says so and downloads them too; if
             none of the torrent's files is in DIR it stops and says where to look.
             Complete data may be on a read-only mount.
";

const INFO: &str = "\
  info       Print the name, info-hash, sizes, pieces, files (numbered, for --only) and
             trackers of a .torrent, or of a magnet link's metadata (fetched within
             --timeout, default 60 s),
             and any file path it had to clean up (`..`, `/` in names, over-long names, ...).
             With resume state, unchanged data is not read again.
";

const CAT: &str = "\
  cat        Download like `download` and write file N (--file N: files numbered from 0
             in the order `info` lists them; not needed for one file) to stdout, in
             order, while it downloads: the bytes at the read position are fetched
             first. Progress goes to stderr. Exits 0 once the whole file is written,
             or quietly when the reader closes the pipe (a player that quit).
";

#[cfg(feature = "create")]
const CREATE: &str = "\
  create     Make a .torrent of the file or folder PATH: every regular file, hidden ones
             included, sorted by path, symlinks followed (as mktorrent does).
";

const RUN_OPTIONS: &str = "
Options of download, seed and cat (also written --option=value):
  -o, --output DIR     download: folder the torrent's file or folder goes in (default: .)
  -d, --data DIR       seed: folder holding the torrent's file or folder (required)
      --seed           download: keep seeding after completion, until Ctrl-C
      --overwrite      download: use files already in DIR even when their size is not the
                       torrent's (they may be someone else's files: their bytes are kept
                       where they match, and the rest is overwritten)
  -p, --port N         listen for peers on port N (default 6881; 0 picks a free port);
                       when N is taken, the next free port up to N+9 is used, and said
      --bind ADDR      listen on, and connect to peers from, the local address ADDR
      --peer HOST:PORT connect to this peer as well (repeatable; works without trackers)
      --max-peers N    most peers connected at once (default 50)
      --max-upload-rate RATE
                       upload at most RATE bytes per second: 500000, 512K, 1.5M, 2MB,
                       100KiB (K, M and G are powers of 1024, with or without B or iB)
      --max-download-rate RATE
                       download at most RATE bytes per second (as --max-upload-rate)
      --sequential     fetch pieces in order, first to last, instead of rarest first
      --only LIST      download only these files, numbered as `coracle info` prints them
                       (0,3-5); the others are never created (bytes they share with a
                       chosen file's pieces stay in DIR/.<info-hash>.parts)
      --exclude GLOB   skip the files whose path, as `info` prints it, matches GLOB
                       (* any run of characters, / included; ? one; repeatable)
      --stall-timeout DURATION
                       give up (exit 1, saying why) when nothing was received for
                       DURATION while downloading: 90, 30s, 5m, 1h
      --piece-buffer SIZE
                       memory for pieces being downloaded (default 4M; at least two
                       pieces): 8M or more is faster from fast peers
      --storage mmap|pwrite
                       how files are written: memory maps (default) or pwrite, which
                       costs less CPU per byte (a third as much on a VM whose balloon
                       hands freed memory back to the host)
      --no-trackers    ignore the torrent's trackers and use only --peer (the DHT and
                       local discovery still find peers; add --no-dht --no-lsd for none)
      --no-pex         do not exchange peer lists with peers (BEP 11; never on private
                       torrents anyway)
      --save-torrent FILE
                       write the .torrent (for a magnet: once its metadata arrives; its
                       info-hash is the magnet's)
      --no-dht         do not use the DHT (BEP 5) to find peers
      --dht-bootstrap HOST:PORT
                       join the DHT through this node (repeatable; replaces the default
                       routers router.bittorrent.com, dht.transmissionbt.com and
                       router.utorrent.com, port 6881)
      --no-lsd         do not announce on, or listen to, the local network (BEP 14)
      --state-dir DIR  where resume state (DIR/resume: a restart skips rehashing unchanged
                       data) and the DHT's routing table are kept (default:
                       $XDG_STATE_HOME/coracle, else ~/.local/state/coracle)
      --recheck        ignore the resume state and check every piece on disk
      --checkpoint SECS
                       record verified pieces in the resume state at most SECS after
                       they verify (default 30; also at completion and exit)
      --json           print a JSON object per line about once a second (repeats left
                       out), and a final one (state: checking, downloading, seeding;
                       final: completed, stopped, interrupted, or failed with \"error\",
                       also when the start fails)
  -q, --quiet          print nothing but errors
  -v, --verbose        log more to stderr: -v peers that refuse or close connections and
                       tracker answers, -vv debug (or RUST_LOG=info|debug)

Private torrents (BEP 27) never use the DHT or local discovery.
";

const INFO_OPTIONS: &str = "
Options of info:
      --timeout SECS   how long a magnet's metadata may take (default 60)
      --save-torrent FILE
                       write the .torrent (a magnet's: once its metadata arrives)
      --peer HOST:PORT ask this peer for a magnet's metadata (repeatable)
  -p, --port N         listen port while fetching metadata (default: a free one)
      --json           print the description as one JSON object
";

#[cfg(feature = "create")]
const CREATE_OPTIONS: &str = "
Options of create:
  -o, --output FILE    the .torrent to write, which must not exist (default: NAME.torrent)
      --tracker URL    a tracker, in a tier of its own (repeatable; URL,URL makes one tier)
      --web-seed URL   a web seed (BEP 19; repeatable)
      --piece-size SIZE|auto
                       bytes per piece, a power of two from 16K to 128M (16KiB, 1M, ...);
                       auto (default) aims at a hash list about twice the square root of
                       the total size, 16K to 16M, as libtorrent does
      --private        set the private flag: peers come only from the trackers
      --comment TEXT   a comment
      --source TEXT    a source tag in the info dictionary (changes the info-hash)
      --no-date        leave out the creation date (same input, same .torrent)
      --no-hidden      leave out files and folders whose names start with '.'
      --threads N      hashing threads (default: one per CPU, at most 8)
  -q, --quiet          print only the summary
";

const COMMON: &str = "
  -h, --help           print help (after a command: that command's)
  -V, --version        print the version
";

const OUTPUT: &str = "
Progress goes to stdout: a live line on a terminal (shortened to fit its width, plain
lines when it is too narrow), a plain line every 5 seconds otherwise (create: to stderr,
and the summary with the info-hash to stdout). Errors go to stderr as `coracle: <message>`.

Ctrl-C or SIGTERM stops cleanly: trackers are told, files are flushed, and running the
same command again resumes. A second one more than a second later quits at once.
";

const EXIT_STATUS: &str = "
Exit status:
  0  download complete (every piece verified and on disk), or seeding of complete
     data stopped by Ctrl-C/SIGTERM, or the .torrent written (create)
  1  failure, --stall-timeout, or Ctrl-C/SIGTERM before the data was complete
  2  usage error, or an existing file that --overwrite would be needed for
";

const EXAMPLES: &str = "
Examples:
  coracle debian.iso.torrent
  coracle download debian.iso.torrent -o ~/Downloads --seed
  coracle download test.torrent -o out --no-trackers --no-dht --no-lsd --peer 127.0.0.1:6881 --port 0
  coracle seed debian.iso.torrent --data ~/Downloads
  coracle download debian.iso.torrent --json | tail -n 1
  coracle info debian.iso.torrent
  coracle 'magnet:?xt=urn:btih:...&dn=debian.iso' -o ~/Downloads --save-torrent debian.torrent
  coracle create ~/share/photos -o photos.torrent --tracker udp://tracker.example:6969
";

/// Which help text to print.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Topic {
    /// Everything (`coracle --help`).
    All,
    /// `coracle download --help`.
    Download,
    /// `coracle seed --help`.
    Seed,
    /// `coracle info --help`.
    Info,
    /// `coracle cat --help`.
    Cat,
    /// `coracle create --help`.
    Create,
}

/// The sections of the help on `topic`, in order.
fn sections(topic: Topic) -> &'static [&'static str] {
    match topic {
        Topic::All => &[
            TITLE,
            USAGE,
            DOWNLOAD,
            SEED,
            INFO,
            CAT,
            #[cfg(feature = "create")]
            CREATE,
            RUN_OPTIONS,
            INFO_OPTIONS,
            #[cfg(feature = "create")]
            CREATE_OPTIONS,
            COMMON,
            OUTPUT,
            EXIT_STATUS,
            EXAMPLES,
        ],
        Topic::Download => &[
            TITLE,
            "Usage: coracle download FILE.torrent|MAGNET [-o DIR] [OPTIONS]\n\n",
            DOWNLOAD,
            RUN_OPTIONS,
            COMMON,
            OUTPUT,
            EXIT_STATUS,
        ],
        Topic::Seed => &[
            TITLE,
            "Usage: coracle seed FILE.torrent --data DIR [OPTIONS]\n\n",
            SEED,
            RUN_OPTIONS,
            COMMON,
            OUTPUT,
            EXIT_STATUS,
        ],
        Topic::Cat => &[
            TITLE,
            "Usage: coracle cat FILE.torrent|MAGNET [--file N] [-o DIR] [OPTIONS] > OUT\n\n",
            CAT,
            RUN_OPTIONS,
            COMMON,
            EXIT_STATUS,
        ],
        Topic::Info => &[
            TITLE,
            "Usage: coracle info FILE.torrent|MAGNET [OPTIONS]\n\n",
            INFO,
            INFO_OPTIONS,
            COMMON,
            EXIT_STATUS,
        ],
        #[cfg(feature = "create")]
        Topic::Create => &[
            TITLE,
            "Usage: coracle create PATH [-o FILE.torrent] [OPTIONS]\n\n",
            CREATE,
            CREATE_OPTIONS,
            COMMON,
            EXIT_STATUS,
        ],
        // This build has no `create` (the cargo feature is off): its help says so.
        #[cfg(not(feature = "create"))]
        Topic::Create => &[
            TITLE,
            "coracle create: not in this build (built without the cargo feature `create`)\n",
        ],
    }
}

/// Prints the help on `topic` to stdout.
pub fn print(topic: Topic) {
    let mut out = std::io::stdout().lock();
    for s in sections(topic) {
        let _ = out.write_all(s.as_bytes());
    }
    let _ = out.flush();
}
