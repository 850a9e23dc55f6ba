//! Turnout's own check types through the real binary: a dns check asks a second, real Turnout
//! (its DNS listener on loopback) and follows what it answers.

use std::time::{Duration, Instant};

use super::{ok, start};

/// Waits until `check status NAME` on `t` starts with `prefix` and holds `needle`.
fn wait_status(t: &turnout_testkit::process::Turnout, name: &str, prefix: &str, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = ok(t, &["check", "status", name]);
        if status.starts_with(prefix) && status.contains(needle) {
            return;
        }
        assert!(Instant::now() < deadline, "{name}: want {prefix:?} with {needle:?}:\n{status}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_dns_check_follows_what_another_turnout_answers() {
    // The server checked: a Turnout serving dns.test.
    let server = start(None);
    let dir = tempfile::tempdir().unwrap();
    let zone = |value: &str| {
        let file = dir.path().join("zone.yaml");
        std::fs::write(
            &file,
            format!(
                "zones:\n  - name: dns.test\n    records:\n      - {{ name: www, type: A, ttl: 30, values: [{value}] }}\n"
            ),
        )
        .unwrap();
        ok(&server, &["apply", "-f", file.to_str().unwrap(), "--yes"]);
    };
    zone("192.0.2.10");
    // The checker: another Turnout with dns checks on the first one's listener.
    let checker = start(None);
    let (ip, port) = (server.dns.ip(), server.dns.port());
    let file = dir.path().join("checks.yaml");
    std::fs::write(
        &file,
        format!(
            r#"
health_checks:
  - {{ name: answer, type: dns, ip: {ip}, port: {port}, query_name: www.dns.test., expected_answer: 192.0.2.10, interval: 1s, failure_threshold: 1, recovery_threshold: 1 }}
  - {{ name: answer-tcp, type: dns, protocol: tcp, ip: {ip}, port: {port}, query_name: www.dns.test., query_type: A, expected_answer: 192.0.2.10, interval: 1s, failure_threshold: 1, recovery_threshold: 1 }}
  - {{ name: missing, type: dns, ip: {ip}, port: {port}, query_name: nope.dns.test., interval: 1s, failure_threshold: 1 }}
  - {{ name: gone, type: dns, ip: {ip}, port: {port}, query_name: nope.dns.test., expected_rcode: NXDOMAIN, interval: 1s, failure_threshold: 1 }}
"#
        ),
    )
    .unwrap();
    ok(&checker, &["apply", "-f", file.to_str().unwrap(), "--yes"]);
    wait_status(
        &checker,
        "answer",
        "answer healthy",
        "Success: DNS rcode NOERROR, 192.0.2.10 is among the answers",
    );
    wait_status(&checker, "answer-tcp", "answer-tcp healthy", "192.0.2.10 is among the answers");
    wait_status(
        &checker,
        "missing",
        "missing unhealthy",
        "Failure: DNS rcode NXDOMAIN, expected NOERROR",
    );
    wait_status(&checker, "gone", "gone healthy", "Success: DNS rcode NXDOMAIN with 0 A answer(s)");
    // The answer changes on the server: both checks of it fail with what they saw.
    zone("192.0.2.11");
    let saw = "Failure: 192.0.2.10 is not among the 1 A answer(s) [192.0.2.11]";
    wait_status(&checker, "answer", "answer unhealthy", saw);
    wait_status(&checker, "answer-tcp", "answer-tcp unhealthy", saw);
    let body = checker.scrape();
    let failures = turnout_testkit::process::sample(
        &body,
        r#"turnout_health_check_probes_total{check="answer",result="no_match"}"#,
    );
    assert!(failures.is_some_and(|n| n >= 1.0), "{body}");
    // The server stops: no response within the timeout.
    drop(server);
    wait_status(&checker, "gone", "gone unhealthy", "Failure: ");
    let status = ok(&checker, &["check", "status", "gone"]);
    assert!(
        status.contains("no DNS response from") || status.contains("Connection refused"),
        "{status}"
    );
}
