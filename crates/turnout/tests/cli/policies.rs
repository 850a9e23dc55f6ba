//! Health-checked multivalue and weighted groups through the real binary and real `dig`, and
//! `turnout explain` saying why.

use std::time::{Duration, Instant};

use turnout_testkit::process::dns_tool;

use crate::{Backend, ok, start};

fn dig_sorted(t: &turnout_testkit::process::Turnout, name: &str) -> Vec<String> {
    let mut v: Vec<String> =
        dns_tool("dig", t.dns, &["+short", name, "A"]).lines().map(str::to_owned).collect();
    v.sort();
    v
}

#[test]
fn multivalue_and_weighted_answers_leave_out_unhealthy_records() {
    let t = start(None);
    let up = Backend::start(0);
    let down = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("policies.yaml");
    std::fs::write(
        &file,
        format!(
            r#"
health_checks:
  - {{ name: up, type: tcp, ip: 127.0.0.1, port: {}, interval: 200ms, failure_threshold: 1 }}
  - {{ name: down, type: tcp, ip: 127.0.0.1, port: {down}, interval: 200ms, failure_threshold: 1 }}
zones:
  - name: pol.test
    records:
      - {{ name: mv, type: A, ttl: 30, set_id: a, multivalue: true, health_check: up, values: [192.0.2.1] }}
      - {{ name: mv, type: A, ttl: 30, set_id: b, multivalue: true, health_check: down, values: [192.0.2.2] }}
      - {{ name: mv, type: A, ttl: 30, set_id: c, multivalue: true, values: [192.0.2.3] }}
      - {{ name: w, type: A, ttl: 30, set_id: a, weight: 1, health_check: down, values: [192.0.2.11] }}
      - {{ name: w, type: A, ttl: 30, set_id: b, weight: 1, health_check: up, values: [192.0.2.12] }}
"#,
            up.port
        ),
    )
    .unwrap();
    ok(&t, &["apply", "-f", file.to_str().unwrap(), "--yes"]);
    let deadline = Instant::now() + Duration::from_secs(5);
    while dig_sorted(&t, "mv.pol.test") != ["192.0.2.1", "192.0.2.3"] {
        assert!(Instant::now() < deadline, "mv answers {:?}", dig_sorted(&t, "mv.pol.test"));
        std::thread::sleep(Duration::from_millis(50));
    }
    for _ in 0..20 {
        assert_eq!(dig_sorted(&t, "w.pol.test"), ["192.0.2.12"]);
    }
    let why = ok(&t, &["explain", "mv.pol.test", "A"]);
    assert!(why.starts_with("mv.pol.test. A for a client of unknown location: NOERROR"), "{why}");
    assert!(why.contains("mv.pol.test. A (multivalue): every healthy record, up to 8"), "{why}");
    assert!(
        why.lines().any(|l| l.contains(" b ")
            && l.contains("unhealthy")
            && l.contains("check down [Failure: Connection to 127.0.0.1:")),
        "{why}"
    );
    let json: serde_json::Value = serde_json::from_str(&ok(
        &t,
        &["explain", "w.pol.test", "A", "--client", "192.0.2.99", "--output", "json"],
    ))
    .unwrap();
    assert_eq!(json["client"], "192.0.2.99");
    assert_eq!(json["answer"][0], "w.pol.test. 30 IN A 192.0.2.12");
    assert_eq!(json["checks"]["down"]["status"], "unhealthy");
    // Bad input names the field.
    let out = t.cli(&["explain", "w.pol.test", "NOPE"]);
    assert!(!out.status.success());
    assert!(crate::text(&out).contains("type"), "{}", crate::text(&out));
}
