//! A real nginx on 127.0.0.1 for web-seed tests: a generated config in a temp folder, one
//! process (`master_process off`, `daemon off`), no root needed, killed when dropped.
//!
//! Include it with `#[path = "support/nginx.rs"] mod nginx;`. Missing nginx (Debian package
//! nginx-light) skips the test, except under CI (`CI=true`), where it fails.
#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where Debian puts the binary.
const NGINX: &str = "/usr/sbin/nginx";

/// A running nginx serving one folder.
pub struct Nginx {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    /// The folder it serves.
    pub root: PathBuf,
    prefix: PathBuf,
}

/// Whether nginx is installed; prints why a test is skipped (or panics under CI).
pub fn installed() -> bool {
    if Path::new(NGINX).is_file() {
        return true;
    }
    let msg = "skipped: nginx not installed (apt-get install nginx-light)";
    if std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0") {
        panic!("{msg}");
    }
    eprintln!("{msg}");
    false
}

impl Nginx {
    /// Starts nginx on a free port of 127.0.0.1 serving `root`. `ranges: false` sets
    /// `max_ranges 0`, so it answers every range request with 200 and the whole file.
    pub fn start(prefix: &Path, root: &Path, ranges: bool) -> Nginx {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        std::fs::create_dir_all(prefix.join("tmp")).unwrap();
        let p = prefix.display();
        let max_ranges = if ranges { "" } else { "max_ranges 0;" };
        let conf = format!(
            "daemon off;\nmaster_process off;\nworker_processes 1;\nerror_log {p}/error.log;\n\
             pid {p}/nginx.pid;\nevents {{ worker_connections 64; }}\n\
             http {{\n  access_log {p}/access.log;\n  client_body_temp_path {p}/tmp;\n  \
             proxy_temp_path {p}/tmp;\n  fastcgi_temp_path {p}/tmp;\n  uwsgi_temp_path {p}/tmp;\n  \
             scgi_temp_path {p}/tmp;\n  server {{\n    listen 127.0.0.1:{port};\n    \
             root {};\n    {max_ranges}\n  }}\n}}\n",
            root.display()
        );
        let conf_path = prefix.join("nginx.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let mut cmd = Command::new(NGINX);
        cmd.arg("-p")
            .arg(prefix)
            .arg("-c")
            .arg(&conf_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: prctl is async-signal-safe; nginx dies with the test if the test dies first.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = cmd.spawn().expect("starting nginx");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(addr).is_err() {
            let log = std::fs::read_to_string(prefix.join("error.log")).unwrap_or_default();
            assert!(Instant::now() < deadline, "nginx did not start: {log}");
            std::thread::sleep(Duration::from_millis(20));
        }
        Nginx {
            child,
            addr,
            root: root.to_path_buf(),
            prefix: prefix.to_path_buf(),
        }
    }

    /// `http://127.0.0.1:PORT/` followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}/{path}", self.addr)
    }

    /// The HTTP status of every request served so far, in order.
    pub fn statuses(&self) -> Vec<u16> {
        let log = std::fs::read_to_string(self.prefix.join("access.log")).unwrap_or_default();
        // Combined format: `... "GET /x HTTP/1.1" 206 16384 ...`.
        log.lines()
            .filter_map(|l| l.split('"').nth(2)?.split_whitespace().next()?.parse().ok())
            .collect()
    }

    /// The request lines served so far (`GET /path HTTP/1.1`).
    pub fn requests(&self) -> Vec<String> {
        let log = std::fs::read_to_string(self.prefix.join("access.log")).unwrap_or_default();
        log.lines()
            .filter_map(|l| l.split('"').nth(1).map(str::to_owned))
            .collect()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
