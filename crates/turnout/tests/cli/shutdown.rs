//! Stopping a node: SIGTERM drains the task tree (queued webhooks are delivered) and exits 0.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use turnout_testkit::process::poll;

use crate::{ok, start_with_config};

/// A webhook receiver that holds every request for `hold` before answering 200, keeping the
/// bodies it got.
fn slow_receiver(hold: Duration) -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let got = Arc::new(Mutex::new(Vec::new()));
    let sink = got.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let sink = sink.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                // One request per connection is all the sender's client needs here; keep-alive
                // requests on the same connection are read in turn.
                loop {
                    let mut length = 0usize;
                    let mut line = String::new();
                    loop {
                        line.clear();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        let lower = line.to_ascii_lowercase();
                        if let Some(v) = lower.strip_prefix("content-length:") {
                            length = v.trim().parse().unwrap_or(0);
                        }
                        if line == "\r\n" {
                            break;
                        }
                    }
                    let mut body = vec![0; length];
                    reader.read_exact(&mut body).unwrap();
                    sink.lock().unwrap().push(String::from_utf8_lossy(&body).into_owned());
                    std::thread::sleep(hold);
                    let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
                    if stream.write_all(answer).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (port, got)
}

#[test]
fn sigterm_delivers_queued_webhooks_then_exits_0() {
    let (port, got) = slow_receiver(Duration::from_millis(2500));
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("turnout.toml");
    std::fs::write(&config, format!("[health]\nwebhook = \"http://127.0.0.1:{port}/hook\"\n"))
        .unwrap();
    let data = dir.path().join("data");
    let mut t = start_with_config(&config, &data);
    // Two checks of a port nothing listens on (the discard port): each fails its first probe
    // and, with threshold 1, turns unhealthy: two events, the second queued behind the first,
    // which the receiver holds.
    let file = dir.path().join("checks.yaml");
    std::fs::write(
        &file,
        r#"
health_checks:
  - { name: one, type: tcp, ip: 127.0.0.1, port: 9, interval: 100ms, failure_threshold: 1 }
  - { name: two, type: tcp, ip: 127.0.0.1, port: 9, interval: 100ms, failure_threshold: 1 }
"#,
    )
    .unwrap();
    ok(&t, &["apply", "-f", file.to_str().unwrap(), "--yes"]);
    // The first event has reached the receiver, which holds it, and both checks are down:
    // the second event is queued. Stop the node now.
    assert!(
        poll(Duration::from_secs(10), || (!got.lock().unwrap().is_empty()).then_some(())).is_some()
    );
    for check in ["one", "two"] {
        let down = poll(Duration::from_secs(10), || {
            ok(&t, &["check", "status", check]).contains("unhealthy").then_some(())
        });
        assert!(down.is_some(), "{}", ok(&t, &["check", "status", check]));
    }
    assert!(got.lock().unwrap().len() < 2, "the second event must still be queued");
    t.signal("TERM");
    let status = t.wait_exit(Duration::from_secs(15)).expect("the node stopped");
    assert!(status.success(), "{status:?}; log:\n{}", t.log_text());
    let bodies = got.lock().unwrap().clone();
    let names: Vec<bool> =
        ["\"one\"", "\"two\""].iter().map(|n| bodies.iter().any(|b| b.contains(n))).collect();
    assert_eq!(names, [true, true], "both events delivered before exit: {bodies:?}");
    assert!(t.log_text().contains("stopped"), "{}", t.log_text());
}
