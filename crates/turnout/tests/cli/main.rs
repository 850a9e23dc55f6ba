//! Black-box tests of the control plane through the real binary: `turnout serve` with its
//! embedded store and API, the CLI commands, and answers checked with real `dig`.
#![allow(clippy::unwrap_used)] // A panic is how a test fails.

mod apply;
mod audit;
mod check_types;
mod cluster;
mod conflicts;
mod controls;
mod drills;
mod etcd_security;
mod failover;
mod install;
mod metrics;
mod policies;
mod shutdown;
mod slow_clients;
mod store;
mod tls;
mod watch;
mod webhooks;

use std::path::{Path, PathBuf};
use std::process::Output;

use turnout_testkit::process::Turnout;

/// The binary under test.
pub fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_turnout"))
}

/// A file under the repository's `examples/`.
pub fn example(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples").join(rel)
}

/// Starts `turnout serve` on free loopback ports with a fresh data directory (or `data_dir`).
pub fn start(data_dir: Option<&Path>) -> Turnout {
    let mut args = vec!["serve", "--dns", "127.0.0.1:0", "--udp-workers", "1"];
    let dir;
    if let Some(d) = data_dir {
        dir = d.display().to_string();
        args.extend(["--data-dir", &dir]);
    }
    Turnout::start(bin(), &args)
}

/// Starts `turnout serve` with a config file, on free loopback ports, with its data in `data`.
pub fn start_with_config(config: &Path, data: &Path) -> Turnout {
    let (config, data) = (config.display().to_string(), data.display().to_string());
    let args = ["serve", "--dns", "127.0.0.1:0", "--udp-workers", "1", "--config", &config];
    Turnout::start(bin(), &[&args[..], &["--data-dir", &data]].concat())
}

/// Runs a CLI command and returns stdout, failing the test unless it exits 0.
pub fn ok(t: &Turnout, args: &[&str]) -> String {
    let out = t.cli(args);
    assert!(out.status.success(), "{args:?}: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A real HTTP backend on loopback: answers `OK` on every path until dropped (then its port
/// refuses connections, as a dead server's does), except 503 to the clients it is told to fail.
pub struct Backend {
    /// The port it listens on.
    pub port: u16,
    failing: std::sync::Arc<std::sync::Mutex<Vec<std::net::IpAddr>>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Backend {
    /// Listens on `port` (0: any free port).
    pub fn start(port: u16) -> Backend {
        use std::io::{Read, Write};
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let failing = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let fail = failing.clone();
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((mut s, peer)) => {
                        let _ = s.set_nonblocking(false);
                        let _ = s.set_read_timeout(Some(std::time::Duration::from_secs(2)));
                        let mut buf = [0u8; 2048];
                        let _ = s.read(&mut buf);
                        let answer: &[u8] = if fail.lock().unwrap().contains(&peer.ip()) {
                            b"HTTP/1.1 503 No\r\ncontent-length: 2\r\nconnection: close\r\n\r\nNo"
                        } else {
                            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nOK"
                        };
                        let _ = s.write_all(answer);
                    }
                    Err(_) => std::thread::sleep(std::time::Duration::from_millis(5)),
                }
            }
        });
        Backend { port, failing, stop, thread: Some(thread) }
    }

    /// Answers 503 to requests from these addresses (and OK to the others).
    pub fn fail_for(&self, peers: &[std::net::IpAddr]) {
        *self.failing.lock().unwrap() = peers.to_vec();
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `examples/failover.yaml` with its health check pointed at `port`, written to `dir`.
pub fn failover_example(dir: &Path, port: u16) -> PathBuf {
    let text = std::fs::read_to_string(example("failover.yaml")).unwrap();
    assert!(text.contains("port: 8081"), "the example's check port moved");
    let path = dir.join("failover.yaml");
    std::fs::write(&path, text.replace("port: 8081", &format!("port: {port}"))).unwrap();
    path
}

/// Everything a command printed.
pub fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}
