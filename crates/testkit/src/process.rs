//! Runs the real `turnout` binary for black-box tests: every port 0, bound addresses read from
//! its log, queries over loopback UDP and TCP, signals, exit status. Every wait has a deadline.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a test waits for the binary to start or answer.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// A running `turnout` process, killed on drop.
pub struct Turnout {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
    bin: PathBuf,
    /// The DNS address it serves (UDP and TCP).
    pub dns: SocketAddr,
    /// The API address, for `serve`.
    pub api: Option<SocketAddr>,
    /// `http` or `https`.
    api_scheme: &'static str,
    /// The routing-control API address, for `serve`.
    pub controls: Option<SocketAddr>,
    /// `http` or `https`.
    controls_scheme: &'static str,
    /// The data directory (a temporary one unless the arguments name one).
    pub data_dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
}

/// Polls `f` every few milliseconds until it returns `Some` or `deadline` passes.
pub fn poll<T>(deadline: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let end = Instant::now() + deadline;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= end {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn spawn_log_reader(stream: impl Read + Send + 'static, log: Arc<Mutex<Vec<String>>>) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if let Ok(mut l) = log.lock() {
                l.push(line);
            }
        }
    });
}

impl Turnout {
    /// Starts `bin` with `args` and waits until it logs its DNS addresses. Panics (failing the
    /// test) if it exits or does not listen within [`DEADLINE`].
    ///
    /// For `serve`, unless the arguments say otherwise, the API and the routing-control API
    /// listen on `127.0.0.1:0` and the data directory is a fresh temporary one, removed on
    /// drop.
    pub fn start(bin: &Path, args: &[&str]) -> Turnout {
        Self::start_via(&[], bin, args)
    }

    /// [`Turnout::start`] with the process allowed at most `nofile` open descriptors (its
    /// soft and hard limit, set by util-linux's `prlimit`).
    pub fn start_with_nofile(bin: &Path, args: &[&str], nofile: u64) -> Turnout {
        let launcher = ["prlimit".to_owned(), format!("--nofile={nofile}:{nofile}")];
        Self::start_via(&launcher, bin, args)
    }

    /// [`Turnout::start`] through `launcher` (a program and its arguments, before the binary).
    fn start_via(launcher: &[String], bin: &Path, args: &[&str]) -> Turnout {
        let mut args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        let serve = args.first().is_some_and(|a| a == "serve");
        let mut temp = None;
        if serve && !args.iter().any(|a| a == "--api") {
            args.extend(["--api".to_owned(), "127.0.0.1:0".to_owned()]);
        }
        if serve && !args.iter().any(|a| a == "--controls") {
            args.extend(["--controls".to_owned(), "127.0.0.1:0".to_owned()]);
        }
        let data_dir = match args.iter().position(|a| a == "--data-dir") {
            Some(i) => PathBuf::from(args.get(i + 1).cloned().unwrap_or_default()),
            None => {
                let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
                let path = dir.path().join("data");
                if serve {
                    args.extend(["--data-dir".to_owned(), path.display().to_string()]);
                }
                temp = Some(dir);
                path
            }
        };
        Self::spawn_via(launcher, bin, &args, data_dir, temp)
    }

    /// Starts `bin` with exactly `args` (nothing added), waiting as [`Turnout::start`] does.
    pub fn spawn(
        bin: &Path,
        args: &[String],
        data_dir: PathBuf,
        temp: Option<tempfile::TempDir>,
    ) -> Turnout {
        Self::spawn_via(&[], bin, args, data_dir, temp)
    }

    fn spawn_via(
        launcher: &[String],
        bin: &Path,
        args: &[String],
        data_dir: PathBuf,
        temp: Option<tempfile::TempDir>,
    ) -> Turnout {
        let mut command = match launcher.split_first() {
            Some((program, before)) => {
                let mut c = Command::new(program);
                c.args(before).arg(bin);
                c
            }
            None => Command::new(bin),
        };
        let mut child = command
            .args(args)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let log = Arc::new(Mutex::new(Vec::new()));
        if let Some(s) = child.stderr.take() {
            spawn_log_reader(s, log.clone());
        }
        if let Some(s) = child.stdout.take() {
            spawn_log_reader(s, log.clone());
        }
        let mut t = Turnout {
            child,
            log,
            bin: bin.to_owned(),
            dns: SocketAddr::from(([0, 0, 0, 0], 0)),
            api: None,
            api_scheme: "http",
            controls: None,
            controls_scheme: "http",
            data_dir,
            _temp: temp,
        };
        let found = poll(DEADLINE, || {
            if let Ok(Some(status)) = t.child.try_wait() {
                panic!("turnout exited with {status} before listening; log:\n{}", t.log_text());
            }
            let udp = t.logged_addr("listening for DNS/UDP on ")?;
            let tcp = t.logged_addr("listening for DNS/TCP on ")?;
            assert_eq!(udp, tcp, "UDP and TCP must share the port");
            Some(udp)
        });
        t.dns = found.unwrap_or_else(|| {
            panic!("turnout did not listen within {DEADLINE:?}; log:\n{}", t.log_text())
        });
        if args.iter().any(|a| a == "--api") {
            let found = poll(DEADLINE, || t.logged_url("listening for the API on "));
            (t.api_scheme, t.api) = (found.map_or("http", |f| f.0), found.map(|f| f.1));
        }
        if args.iter().any(|a| a == "--controls") {
            let found = poll(DEADLINE, || t.logged_url("listening for routing controls on "));
            (t.controls_scheme, t.controls) = (found.map_or("http", |f| f.0), found.map(|f| f.1));
        }
        t
    }

    /// The URL logged after `prefix` (`http://` or `https://`, then the address).
    fn logged_url(&self, prefix: &str) -> Option<(&'static str, SocketAddr)> {
        ["http", "https"]
            .into_iter()
            .find_map(|scheme| Some((scheme, self.logged_addr(&format!("{prefix}{scheme}://"))?)))
    }

    /// The routing-control API's base URL.
    pub fn controls_url(&self) -> String {
        let addr = self.controls.unwrap_or_else(|| panic!("no routing-control API"));
        format!("{}://{addr}", self.controls_scheme)
    }

    /// The API's base URL.
    pub fn api_url(&self) -> String {
        let addr = self.api.unwrap_or_else(|| panic!("no API address"));
        format!("{}://{addr}", self.api_scheme)
    }

    /// `GET /metrics` (Prometheus text format), through curl.
    pub fn scrape(&self) -> String {
        let out = Command::new("curl")
            .args(["-sS", "--fail", "-k"])
            .arg(format!("{}/metrics", self.api_url()))
            .output()
            .expect("curl");
        assert!(out.status.success(), "scrape: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).expect("utf-8")
    }

    /// Runs a CLI command against this server (its API and its data directory's admin token).
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        let mut all: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        if args.first() == Some(&"control") {
            all.extend(["--controls".to_owned(), self.controls_url()]);
        } else {
            all.extend(["--api".to_owned(), self.api_url()]);
        }
        all.extend(["--data-dir".to_owned(), self.data_dir.display().to_string()]);
        Command::new(&self.bin)
            .args(&all)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.bin.display()))
    }

    /// The first address logged after `prefix`.
    pub fn logged_addr(&self, prefix: &str) -> Option<SocketAddr> {
        let log = self.log.lock().ok()?;
        log.iter().find_map(|l| {
            let rest = &l[l.find(prefix)? + prefix.len()..];
            // A text line goes on after a space; a JSON line's message ends with a quote.
            rest.split(|c: char| c.is_whitespace() || c == '"').next()?.parse().ok()
        })
    }

    /// Everything logged so far.
    pub fn log_text(&self) -> String {
        self.log.lock().map(|l| l.join("\n")).unwrap_or_default()
    }

    /// Waits until the log holds a line containing `needle`.
    pub fn wait_for_log(&self, needle: &str) -> bool {
        poll(DEADLINE, || self.log_text().contains(needle).then_some(())).is_some()
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal by name (`TERM`, `HUP`, ...).
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args(["-s", sig, &self.pid().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill -s {sig} failed");
    }

    /// Waits for the process to exit.
    pub fn wait_exit(&mut self, deadline: Duration) -> Option<ExitStatus> {
        poll(deadline, || self.child.try_wait().ok().flatten())
    }

    /// Sends one UDP query and waits up to 2 s for the reply with the same ID.
    pub fn udp(&self, packet: &[u8]) -> Option<Vec<u8>> {
        udp_exchange(self.dns, packet, Duration::from_secs(2))
    }

    /// Sends one UDP query and waits up to `wait` for the reply with the same ID.
    pub fn udp_wait(&self, packet: &[u8], wait: Duration) -> Option<Vec<u8>> {
        udp_exchange(self.dns, packet, wait)
    }

    /// Sends queries on one TCP connection, all at once (pipelined), and reads `expect` replies.
    pub fn tcp(&self, packets: &[Vec<u8>], expect: usize) -> std::io::Result<Vec<Vec<u8>>> {
        tcp_exchange(self.dns, packets, expect)
    }
}

impl Drop for Turnout {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _killed = self.child.kill();
            let _reaped = self.child.wait();
        }
    }
}

/// Sends one UDP datagram to `to` and returns the first reply with a matching ID, if one comes
/// within `wait`.
pub fn udp_exchange(to: SocketAddr, packet: &[u8], wait: Duration) -> Option<Vec<u8>> {
    let bind: SocketAddr =
        if to.is_ipv6() { "[::1]:0".parse().ok()? } else { "127.0.0.1:0".parse().ok()? };
    let sock = UdpSocket::bind(bind).ok()?;
    sock.set_read_timeout(Some(Duration::from_millis(200))).ok()?;
    sock.send_to(packet, to).ok()?;
    let end = Instant::now() + wait;
    let mut buf = vec![0u8; 65535];
    while Instant::now() < end {
        if let Ok((n, _)) = sock.recv_from(&mut buf)
            && n >= 2
            && packet.len() >= 2
            && buf[..2] == packet[..2]
        {
            return Some(buf[..n].to_vec());
        }
    }
    None
}

/// Writes length-prefixed queries on one connection and reads `expect` length-prefixed replies.
pub fn tcp_exchange(
    to: SocketAddr,
    packets: &[Vec<u8>],
    expect: usize,
) -> std::io::Result<Vec<Vec<u8>>> {
    let mut s = TcpStream::connect_timeout(&to, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut out = Vec::new();
    for p in packets {
        out.extend_from_slice(&(p.len() as u16).to_be_bytes());
        out.extend_from_slice(p);
    }
    s.write_all(&out)?;
    let mut replies = Vec::with_capacity(expect);
    for _ in 0..expect {
        let mut len = [0u8; 2];
        s.read_exact(&mut len)?;
        let mut msg = vec![0u8; usize::from(u16::from_be_bytes(len))];
        s.read_exact(&mut msg)?;
        replies.push(msg);
    }
    Ok(replies)
}

/// Runs a DNS client (`dig` or `kdig`) against `server` with `+time=2` and the given arguments;
/// panics (failing the test) if it cannot run or fails.
pub fn dns_tool(name: &str, server: SocketAddr, rest: &[&str]) -> String {
    let mut args = vec![
        format!("@{}", server.ip()),
        "-p".to_owned(),
        server.port().to_string(),
        "+time=2".to_owned(),
    ];
    args.extend(rest.iter().map(|s| (*s).to_owned()));
    let out = Command::new(name)
        .args(&args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {name} ({e}); the README test command installs it"));
    assert!(
        out.status.success(),
        "{name} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The value of the sample `key` (a series name and its labels as written, `name{a="b"}`) in a
/// Prometheus text scrape.
pub fn sample(scrape: &str, key: &str) -> Option<f64> {
    scrape.lines().find_map(|l| l.strip_prefix(key)?.strip_prefix(' ')?.trim().parse().ok())
}
