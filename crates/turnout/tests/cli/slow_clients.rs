//! A node under a slow-request attack: clients that open API connections and never finish a
//! request must not take the descriptors its health probes need (which would fail a healthy
//! primary over), nor lock other clients out of the API.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use turnout_testkit::process::{Turnout, dns_tool};

use crate::{Backend, bin, failover_example, ok};

fn www(t: &Turnout) -> String {
    dns_tool("dig", t.dns, &["+short", "www.example.test", "A"]).trim().to_owned()
}

/// `GET path` from another loopback address (127.0.0.2), with the admin token: the status code.
fn status_from_another_client(t: &Turnout, path: &str) -> String {
    let token = std::fs::read_to_string(t.data_dir.join("admin.token")).unwrap();
    let out = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5"])
        .args(["--interface", "127.0.0.2", "-H"])
        .arg(format!("Authorization: Bearer {}", token.trim()))
        .arg(format!("{}{path}", t.api_url()))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn half_sent_requests_neither_fail_over_a_healthy_primary_nor_lock_others_out() {
    // 256 descriptors, as the attack was tried: 500 half-sent requests would take them all.
    let args = ["serve", "--dns", "127.0.0.1:0", "--udp-workers", "1"];
    let t = Turnout::start_with_nofile(bin(), &args, 256);
    let backend = Backend::start(0);
    let dir = tempfile::tempdir().unwrap();
    let file = failover_example(dir.path(), backend.port);
    ok(&t, &["apply", "-f", file.to_str().unwrap(), "--yes"]);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !ok(&t, &["check", "status", "web-primary"]).contains("Success: HTTP Status Code 200") {
        assert!(Instant::now() < deadline, "no successful probe");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(www(&t), "192.0.2.10");

    // 500 connections from 127.0.0.1, each with a request header it never finishes.
    let api = t.api.unwrap();
    let mut held = Vec::new();
    for _ in 0..500 {
        // A node out of descriptors stops accepting: its backlog fills and connects hang.
        if let Ok(mut s) = TcpStream::connect_timeout(&api, Duration::from_millis(500)) {
            let _ = s.write_all(b"GET /v1/zones HTTP/1.1\r\nHost: turnout\r\n");
            held.push(s);
        }
    }
    let attack = Instant::now();
    // Over five probe intervals (1 s, one failure fails over): the primary stays, and another
    // client is served.
    while attack.elapsed() < Duration::from_secs(5) {
        assert_eq!(www(&t), "192.0.2.10", "a healthy primary failed over under the attack");
        std::thread::sleep(Duration::from_millis(250));
    }
    assert_eq!(status_from_another_client(&t, "/v1/zones"), "200");
    let log = t.log_text();
    assert!(!log.contains("cannot probe"), "a probe failed for lack of descriptors:\n{log}");
    // Most of the attacker's connections were closed at once (32 per client address); the
    // ones held are closed once their header is late (10 s).
    let mut open = 0;
    for s in &mut held {
        s.set_read_timeout(Some(Duration::from_millis(1))).unwrap();
        let mut buf = [0u8; 64];
        if matches!(s.read(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock) {
            open += 1;
        }
    }
    assert!(open <= 32, "{open} of the attacker's connections are held");
    let first = held.iter_mut().next().unwrap();
    first.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let mut buf = [0u8; 1024];
    let closed = first.read(&mut buf);
    assert!(
        closed.is_ok() && attack.elapsed() < Duration::from_secs(20),
        "a half-sent request was not closed: {closed:?} after {:?}",
        attack.elapsed()
    );
}
