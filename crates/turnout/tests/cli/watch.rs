//! Watch mode (docs/health-checks.md#watch-mode) through the real binary: a primary process
//! killed fails over within milliseconds at a 10 s interval; a healthy target that closes idle
//! connections every second causes no failover.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use turnout_testkit::QueryBuilder;
use turnout_testkit::process::Turnout;

use crate::{ok, start};

/// A real HTTP server process (Python's http.server), on a port it chose and printed.
struct Primary {
    child: Child,
    port: u16,
}

impl Primary {
    fn start(dir: &std::path::Path) -> Primary {
        let mut child = Command::new("python3")
            .args(["-u", "-m", "http.server", "0", "--bind", "127.0.0.1", "--directory"])
            .arg(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 runs (the README test command installs it)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        // "Serving HTTP on 127.0.0.1 port 45678 (http://127.0.0.1:45678/) ..."
        let port = line.split(" port ").nth(1).and_then(|r| r.split(' ').next()).unwrap();
        Primary { child, port: port.parse().unwrap_or_else(|_| panic!("{line}")) }
    }
}

impl Drop for Primary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How many established connections to `port` this host holds (the checker's watch).
fn held(port: u16) -> usize {
    let out = Command::new("ss")
        .args(["-Htn", "state", "established", &format!("dst 127.0.0.1:{port}")])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).lines().count()
}

/// The A addresses `name` answers, asked over UDP by the test itself: a dig process per
/// question would add its own start-up (tens of milliseconds, more on a loaded machine) to
/// the failover time measured.
fn answer(t: &Turnout, name: &str) -> String {
    let reply = t.udp(&QueryBuilder::new(name, "A").build()).unwrap_or_default();
    let text = turnout_testkit::render(&reply).unwrap_or_default();
    let addresses: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("an "))
        .filter_map(|l| l.split(" IN A ").nth(1))
        .collect();
    addresses.join(" ")
}

#[test]
fn a_killed_primary_fails_over_in_milliseconds_at_a_10s_interval() {
    let dir = tempfile::tempdir().unwrap();
    let mut primaries: Vec<Primary> = (0..5).map(|_| Primary::start(dir.path())).collect();
    let t = start(None);
    let mut file = String::from("health_checks:\n");
    let mut zone = String::from("zones:\n  - name: watch.test\n    records:\n");
    for (i, p) in primaries.iter().enumerate() {
        file.push_str(&format!(
            "  - {{ name: p{i}, type: http, ip: 127.0.0.1, port: {}, interval: 10s, failure_threshold: 1, watch: true }}\n",
            p.port
        ));
        zone.push_str(&format!(
            "      - {{ name: w{i}, type: A, ttl: 5, set_id: p, failover: primary, health_check: p{i}, values: [192.0.2.1] }}\n      - {{ name: w{i}, type: A, ttl: 5, set_id: s, failover: secondary, values: [192.0.2.2] }}\n"
        ));
    }
    let path = dir.path().join("watch.yaml");
    std::fs::write(&path, file + &zone).unwrap();
    ok(&t, &["apply", "-f", path.to_str().unwrap(), "--yes"]);
    // Every check has probed once (within its 10 s jitter) and holds its watch connection.
    let deadline = Instant::now() + Duration::from_secs(20);
    while primaries.iter().any(|p| held(p.port) == 0) {
        assert!(Instant::now() < deadline, "not every watch connection is up");
        std::thread::sleep(Duration::from_millis(50));
    }
    // What watch mode buys, as check status and explain print it (threshold 1, 4 s connect
    // and 2 s response timeouts by default).
    let line = "crash 0.00s, host down 8.00s, hang 16.00s";
    let status = ok(&t, &["check", "status", "p0"]);
    assert!(status.contains(&format!("worst-case detection: {line}")), "{status}");
    let why = ok(&t, &["explain", "w0.watch.test", "A"]);
    assert!(why.contains(&format!("worst-case detection of a failure:\n  p0: {line}")), "{why}");
    let mut took = Vec::new();
    for (i, p) in primaries.iter_mut().enumerate() {
        let name = format!("w{i}.watch.test");
        assert_eq!(answer(&t, &name), "192.0.2.1");
        let killed = Instant::now();
        p.child.kill().unwrap();
        while answer(&t, &name) != "192.0.2.2" {
            assert!(killed.elapsed() < Duration::from_secs(5), "{name} did not fail over");
            std::thread::sleep(Duration::from_millis(2));
        }
        took.push(killed.elapsed());
    }
    took.sort();
    let median = took[2];
    assert!(median < Duration::from_millis(200), "median {median:?} of {took:?}");
    let history = ok(&t, &["check", "history", "p0"]);
    assert!(history.contains("healthy -> unhealthy"), "{history}");
}

/// An HTTP server that answers requests with 200 and closes every connection idle for a
/// second, as a keep-alive timeout does.
fn idle_closer() -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let closed = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = closed.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let count = count.clone();
            std::thread::spawn(move || {
                let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
                let mut buf = [0u8; 2048];
                match s.read(&mut buf) {
                    Ok(n) if n > 0 => {
                        let _ = s.write_all(
                            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nOK",
                        );
                    }
                    _ => {
                        count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            });
        }
    });
    (port, closed)
}

#[test]
fn a_target_that_closes_idle_connections_every_second_is_not_failed_over_in_five_minutes() {
    let (port, closed) = idle_closer();
    let t = start(None);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("idle.yaml");
    std::fs::write(
        &path,
        format!(
            r#"
health_checks:
  - {{ name: idle, type: http, ip: 127.0.0.1, port: {port}, interval: 10s, failure_threshold: 1, watch: true }}
zones:
  - name: idle.test
    records:
      - {{ name: www, type: A, ttl: 5, set_id: p, failover: primary, health_check: idle, values: [192.0.2.1] }}
      - {{ name: www, type: A, ttl: 5, set_id: s, failover: secondary, values: [192.0.2.2] }}
"#
        ),
    )
    .unwrap();
    ok(&t, &["apply", "-f", path.to_str().unwrap(), "--yes"]);
    let end = Instant::now() + Duration::from_secs(300);
    while Instant::now() < end {
        assert_eq!(answer(&t, "www.idle.test"), "192.0.2.1");
        std::thread::sleep(Duration::from_secs(5));
    }
    let history = ok(&t, &["check", "history", "idle"]);
    assert_eq!(history.trim(), "no transitions yet", "{history}");
    // The watch was at work: about one closed connection, and one probe, a second.
    let closes = closed.load(std::sync::atomic::Ordering::Relaxed);
    let body = t.scrape();
    let probes = turnout_testkit::process::sample(
        &body,
        r#"turnout_health_check_probes_total{check="idle",result="success"}"#,
    )
    .unwrap_or(0.0);
    assert!(closes >= 200 && probes >= 200.0, "{closes} idle connections closed, {probes} probes");
}
