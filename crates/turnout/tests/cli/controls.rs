//! Routing controls through the real binary: a failover pair whose primary follows a routing
//! control, flipped with `turnout control set` from the standby side; and the "standby takes
//! over primary" runbook, where a file created on the standby moves traffic.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use turnout_testkit::process::dns_tool;

use crate::{ok, start, text};

fn www(t: &turnout_testkit::process::Turnout, zone: &str) -> String {
    dns_tool("dig", t.dns, &["+short", &format!("www.{zone}"), "A"]).trim().to_owned()
}

/// Polls until `www` answers `want`; returns how long it took.
fn until(
    t: &turnout_testkit::process::Turnout,
    zone: &str,
    want: &str,
    within: Duration,
) -> Duration {
    let start = Instant::now();
    loop {
        let got = www(t, zone);
        if got == want {
            return start.elapsed();
        }
        assert!(start.elapsed() < within, "www.{zone} answers {got:?}, not {want:?}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn flipping_a_routing_control_moves_the_answer_and_is_audited() {
    let t = start(None);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("controls.yaml");
    std::fs::write(
        &file,
        r#"
control_panels:
  - name: main
    controls: [us-east, us-west]
    rules:
      - { name: keep-one-region, type: assertion, controls: [us-east, us-west], rule: { kind: atleast, threshold: 1 }, wait_period: 0s }
health_checks:
  - { name: east-switch, type: control, control: main/us-east }
zones:
  - name: rc.test
    records:
      - { name: www, type: A, ttl: 60, set_id: east, failover: primary, health_check: east-switch, values: [192.0.2.1] }
      - { name: www, type: A, ttl: 60, set_id: west, failover: secondary, values: [192.0.2.2] }
"#,
    )
    .unwrap();
    let plan = ok(&t, &["apply", "-f", file.to_str().unwrap()]);
    assert!(plan.contains("+ panel main controls=us-east,us-west rules=keep-one-region"), "{plan}");
    ok(&t, &["apply", "-f", file.to_str().unwrap(), "--yes"]);
    // New controls are Off: the primary's check is unhealthy, the secondary answers.
    until(&t, "rc.test", "192.0.2.2", Duration::from_secs(2));
    ok(&t, &["control", "set", "main/us-west", "on", "--reason", "west is the standby"]);
    ok(&t, &["control", "set", "main/us-east", "on", "--reason", "east is ready"]);
    until(&t, "rc.test", "192.0.2.1", Duration::from_secs(2));
    // What if east went off? Nothing changes yet.
    let what = ok(&t, &["control", "set", "main/us-east", "off", "--reason", "drill", "--dry-run"]);
    assert!(what.starts_with("dry run: the update would apply; nothing changed"), "{what}");
    assert!(
        what.contains(
            "www.rc.test. A\n  - www.rc.test. 60 IN A 192.0.2.1\n  + www.rc.test. 60 IN A 192.0.2.2"
        ),
        "{what}"
    );
    assert_eq!(www(&t, "rc.test"), "192.0.2.1");
    // Fail over by hand: the answer follows within milliseconds.
    let started = Instant::now();
    ok(&t, &["control", "set", "main/us-east", "off", "--reason", "incident 42: east is degraded"]);
    let after_command = started.elapsed();
    let took = until(&t, "rc.test", "192.0.2.2", Duration::from_secs(1));
    assert!(
        took < Duration::from_millis(500),
        "{took:?} after the command returned ({after_command:?})"
    );
    // The rule keeps one region: west cannot go off now.
    let out = t.cli(&["control", "set", "main/us-west", "off", "--reason", "oops"]);
    assert!(!out.status.success());
    let said = text(&out);
    assert!(said.contains("SafetyRuleRefused") && said.contains("keep-one-region"), "{said}");
    // A dry run that would be refused says why and fails as the update would (exit 1), so
    // scripts can gate on it.
    let out = t.cli(&["control", "set", "main/us-west", "off", "--reason", "x", "--dry-run"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let what = String::from_utf8_lossy(&out.stdout);
    assert!(what.contains("would be refused") && what.contains("keep-one-region"), "{what}");
    assert!(text(&out).contains("error: the update of main would be refused"), "{}", text(&out));
    // A batch from a file: both at once, as one transaction.
    let batch = dir.path().join("batch.yaml");
    std::fs::write(&batch, "states: { us-east: on, us-west: off }\nreason: back to east\n")
        .unwrap();
    let applied = ok(&t, &["control", "batch", "main", "-f", batch.to_str().unwrap()]);
    assert!(
        applied.contains("applied main by admin: us-east Off -> On, us-west On -> Off"),
        "{applied}"
    );
    until(&t, "rc.test", "192.0.2.1", Duration::from_secs(1));
    // Rules through the CLI.
    let rule = dir.path().join("rule.yaml");
    std::fs::write(
        &rule,
        "{ name: no-east-alone, type: assertion, controls: [us-east], rule: { kind: or, inverted: true } }\n",
    )
    .unwrap();
    assert!(
        ok(&t, &["rule", "create", "main", "-f", rule.to_str().unwrap()]).contains("2 rule(s)")
    );
    let rules = ok(&t, &["rule", "list", "main"]);
    assert!(rules.contains("no-east-alone") && rules.contains("inverted"), "{rules}");
    ok(&t, &["rule", "delete", "main", "no-east-alone"]);
    assert!(!ok(&t, &["rule", "list", "main"]).contains("no-east-alone"));
    ok(&t, &["control", "set", "main/us-west", "on", "--reason", "standby again"]);
    ok(&t, &["control", "set", "main/us-east", "off", "--reason", "incident 42 again"]);
    let list = ok(&t, &["control", "list", "main"]);
    assert!(list.contains("main/us-east") && list.contains("Off"), "{list}");
    let history = ok(&t, &["control", "history", "--panel", "main"]);
    assert!(history.contains("refused main by admin: us-west On -> Off (oops)"), "{history}");
    assert!(history.contains("refused by keep-one-region"), "{history}");
    assert!(
        history
            .contains("applied main by admin: us-east On -> Off (incident 42: east is degraded)"),
        "{history}"
    );
    // Text from the API never reaches the terminal raw: control characters are escaped.
    ok(&t, &["control", "set", "main/us-west", "on", "--reason", "paint \u{1b}[31mred"]);
    let history = ok(&t, &["control", "history", "--panel", "main"]);
    assert!(!history.contains('\u{1b}'), "{history:?}");
    assert!(history.contains("(paint \\u{1b}[31mred)"), "{history}");
    // A refusal by a wait period says to wait, not to override.
    let rule = dir.path().join("settle.yaml");
    std::fs::write(
        &rule,
        "{ name: settle, type: assertion, controls: [us-east, us-west], rule: { kind: atleast, threshold: 1 }, wait_period: 1h }\n",
    )
    .unwrap();
    ok(&t, &["rule", "create", "main", "-f", rule.to_str().unwrap()]);
    let out = t.cli(&["control", "set", "main/us-east", "on", "--reason", "too soon"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let said = text(&out);
    assert!(said.contains("refused by settle: wait period:"), "{said}");
    assert!(said.contains("hint: retry in 1h, once the wait period above has passed"), "{said}");
    assert!(!said.contains("--override"), "{said}");
    // A refused batch prints each error once.
    let out = t.cli(&[
        "record",
        "upsert",
        "rc.test",
        "x",
        "A",
        "--ttl",
        "60",
        "--value",
        "192.0.2.9",
        "--health-check",
        "missing",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let said = text(&out);
    assert_eq!(said.matches("no health check \"missing\"").count(), 1, "{said}");
    assert!(said.contains("error: InvalidChangeBatch: 1 error(s); nothing changed"), "{said}");
}

/// A tiny HTTP server on the standby side: `GET /takeover` is 200 while `flag` exists, else
/// 404.
fn standby_server(flag: PathBuf) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut s = stream;
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf);
            let reply: &[u8] = if flag.exists() {
                b"HTTP/1.1 200 OK\r\ncontent-length: 8\r\nconnection: close\r\n\r\ntakeover"
            } else {
                b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            };
            let _ = s.write_all(reply);
        }
    });
    port
}

#[test]
fn standby_takes_over_primary_by_creating_a_file_on_the_standby_side() {
    let t = start(None);
    let dir = tempfile::tempdir().unwrap();
    let flag = dir.path().join("takeover");
    let port = standby_server(flag.clone());
    // The runbook's file, with the standby's URL filled in.
    let runbook = std::fs::read_to_string(crate::example("standby-takeover.yaml")).unwrap();
    assert!(runbook.contains("port: 8090"), "the example's standby port moved");
    let file = dir.path().join("standby.yaml");
    std::fs::write(&file, runbook.replace("port: 8090", &format!("port: {port}"))).unwrap();
    ok(&t, &["apply", "-f", file.to_str().unwrap(), "--yes"]);
    until(&t, "example.test", "192.0.2.10", Duration::from_secs(3));
    // On the standby: create the file. Nothing is sent to the primary side.
    std::fs::write(&flag, "incident 42\n").unwrap();
    until(&t, "example.test", "192.0.2.20", Duration::from_secs(3));
    // Remove it: traffic returns.
    std::fs::remove_file(&flag).unwrap();
    until(&t, "example.test", "192.0.2.10", Duration::from_secs(3));
}

#[test]
fn a_timed_change_reverts_even_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut t = start(Some(&data));
    let file = dir.path().join("controls.yaml");
    std::fs::write(
        &file,
        r#"
control_panels:
  - { name: main, controls: [east] }
health_checks:
  - { name: east-switch, type: control, control: main/east }
zones:
  - name: tr.test
    records:
      - { name: www, type: A, ttl: 60, set_id: east, failover: primary, health_check: east-switch, values: [192.0.2.1] }
      - { name: www, type: A, ttl: 60, set_id: west, failover: secondary, values: [192.0.2.2] }
"#,
    )
    .unwrap();
    ok(&t, &["apply", "-f", file.to_str().unwrap(), "--yes"]);
    let set = ok(&t, &["control", "set", "main/east", "on", "--reason", "drill", "--for", "10s"]);
    assert!(set.contains("reverts at"), "{set}");
    until(&t, "tr.test", "192.0.2.1", Duration::from_secs(2));
    // The node stops before the change is due to revert, and starts again: the revert time
    // was stored with the state, so the new process reverts it on time.
    t.signal("TERM");
    assert!(t.wait_exit(Duration::from_secs(10)).is_some_and(|s| s.success()));
    let t = start(Some(&data));
    assert_eq!(www(&t, "tr.test"), "192.0.2.1", "still on after the restart");
    until(&t, "tr.test", "192.0.2.2", Duration::from_secs(15));
    let history = ok(&t, &["control", "history", "--panel", "main"]);
    assert!(history.contains("applied main by turnout: east On -> Off (expired"), "{history}");
}
