//! The core loop: a failover record whose primary's health check fails answers with the
//! secondary, within one probe interval, and returns to the primary when it recovers.

use std::time::{Duration, Instant};

use turnout_testkit::process::dns_tool;

use crate::{Backend, failover_example, ok, start};

fn www(t: &turnout_testkit::process::Turnout) -> String {
    dns_tool("dig", t.dns, &["+short", "www.example.test", "A"]).trim().to_owned()
}

/// Polls until `www` answers `want`; returns how long it took.
fn until(t: &turnout_testkit::process::Turnout, want: &str, within: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let got = www(t);
        if got == want {
            return start.elapsed();
        }
        assert!(start.elapsed() < within, "www answers {got:?}, not {want:?}, after {within:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_failing_primary_moves_answers_to_the_secondary_and_back() {
    let t = start(None);
    let backend = Backend::start(0);
    let port = backend.port;
    let dir = tempfile::tempdir().unwrap();
    let file = failover_example(dir.path(), port);
    ok(&t, &["apply", "-f", file.to_str().unwrap(), "--yes"]);
    assert_eq!(www(&t), "192.0.2.10");
    // Interval 1 s, failure threshold 1: the secondary within interval x threshold + 1 s.
    let limit = Duration::from_secs(2);
    // Wait for a first successful probe, so the next one is at most one interval away.
    let deadline = Instant::now() + Duration::from_secs(3);
    while !ok(&t, &["check", "status", "web-primary"]).contains("Success: HTTP Status Code 200") {
        assert!(Instant::now() < deadline, "no successful probe");
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(backend);
    let took = until(&t, "192.0.2.20", limit);
    let status = ok(&t, &["check", "status", "web-primary"]);
    assert!(status.starts_with("web-primary unhealthy"), "{status}");
    assert!(
        status.contains("last failure: ") && status.contains("Failure: Connection to 127.0.0.1:"),
        "{status}"
    );
    let history = ok(&t, &["check", "history", "web-primary"]);
    assert!(history.contains("healthy -> unhealthy"), "{history}");
    // The alias follows its target.
    assert_eq!(dns_tool("dig", t.dns, &["+short", "app.example.test", "A"]).trim(), "192.0.2.20");
    let _back = Backend::start(port);
    until(&t, "192.0.2.10", limit);
    assert!(took <= limit, "failed over in {took:?}");
}

#[test]
fn after_a_restart_the_first_answer_already_avoids_a_down_primary() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut t = start(Some(&data));
    // A port nothing listens on: the primary is down from the start.
    // (The discard port: nothing listens on it on a test machine.)
    let port = 9;
    let file = failover_example(dir.path(), port);
    ok(&t, &["apply", "-f", file.to_str().unwrap(), "--yes"]);
    until(&t, "192.0.2.20", Duration::from_secs(3));
    // Wait until the unhealthy status is stored, then kill the node without warning.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let status: serde_json::Value =
            serde_json::from_str(&ok(&t, &["check", "status", "web-primary", "--output", "json"]))
                .unwrap();
        if status["persisted"] == "unhealthy" {
            break;
        }
        assert!(Instant::now() < deadline, "never persisted: {status:#}");
        std::thread::sleep(Duration::from_millis(20));
    }
    t.signal("KILL");
    t.wait_exit(Duration::from_secs(10)).unwrap();
    drop(t);
    // The restarted node answers with the secondary from its very first query: no
    // default-healthy window.
    let t = start(Some(&data));
    assert_eq!(www(&t), "192.0.2.20");
}
