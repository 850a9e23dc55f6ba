//! Failover drills through the real binary: a drill flips a routing control through the
//! safety rules, sees the answers move, and aborts and reverts when its guard fails; a drill
//! that runs its time passes; the rules refuse one; a blocked window keeps one from starting;
//! every outcome is in the history and the audit trail.

use std::time::{Duration, Instant};

use serde_json::Value;
use turnout_testkit::process::{Turnout, dns_tool};

use crate::{Backend, ok, start, text};

fn www(t: &Turnout) -> String {
    dns_tool("dig", t.dns, &["+short", "www.drill.test", "A"]).trim().to_owned()
}

/// The drill's newest run, once `done` holds for it.
fn wait_run(t: &Turnout, drill: &str, within: Duration, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let out = ok(t, &["drill", "history", drill, "--output", "json"]);
        let runs: Value = serde_json::from_str(&out).unwrap();
        if let Some(run) = runs.get(0).filter(|r| done(r)) {
            return run.clone();
        }
        assert!(Instant::now() < deadline, "drill {drill}: {out}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Milliseconds of the day of an RFC 3339 time like `2026-12-05T01:02:03.456Z`.
fn ms_of_day(at: &str) -> u64 {
    let time = at.split('T').nth(1).unwrap().trim_end_matches('Z');
    let mut parts = time.split(':');
    let h: u64 = parts.next().unwrap().parse().unwrap();
    let m: u64 = parts.next().unwrap().parse().unwrap();
    let s: f64 = parts.next().unwrap().parse().unwrap();
    (h * 3600 + m * 60) * 1000 + (s * 1000.0).round() as u64
}

#[test]
fn a_drill_moves_the_answers_and_aborts_and_reverts_when_its_guard_fails() {
    let t = start(None);
    let guard = Backend::start(0);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("drills.yaml");
    std::fs::write(
        &file,
        format!(
            r#"
control_panels:
  - name: main
    controls: [east, west]
    rules:
      - {{ name: one-region, type: assertion, controls: [east, west], rule: {{ kind: atleast, threshold: 1 }}, wait_period: 0s }}
health_checks:
  - {{ name: east-switch, type: control, control: main/east }}
  - {{ name: standby-ok, type: http, ip: 127.0.0.1, port: {port}, path: /, interval: 1s, failure_threshold: 1, recovery_threshold: 1 }}
zones:
  - name: drill.test
    records:
      - {{ name: www, type: A, ttl: 60, set_id: east, failover: primary, health_check: east-switch, values: [192.0.2.1] }}
      - {{ name: www, type: A, ttl: 60, set_id: west, failover: secondary, values: [192.0.2.2] }}
drills:
  - {{ name: east-off, control: main/east, duration: 60s, guard: standby-ok, watch: ["www.drill.test. A"], comment: "monthly east drill" }}
  - {{ name: east-short, control: main/east, duration: 2s, watch: ["www.drill.test. A"] }}
  - {{ name: west-off, control: main/west, duration: 2s }}
  - {{ name: never, control: main/east, duration: 2s, blocked: ["* 00:00-24:00"] }}
"#,
            port = guard.port
        ),
    )
    .unwrap();
    let plan = ok(&t, &["apply", "-f", file.to_str().unwrap()]);
    assert!(
        plan.contains("+ drill east-off control=main/east state=Off for=60s guard=standby-ok"),
        "{plan}"
    );
    ok(&t, &["apply", "-f", file.to_str().unwrap(), "--yes"]);
    ok(&t, &["control", "set", "main/west", "on", "--reason", "standby up"]);
    ok(&t, &["control", "set", "main/east", "on", "--reason", "primary up"]);
    let deadline = Instant::now() + Duration::from_secs(5);
    while www(&t) != "192.0.2.1" {
        assert!(Instant::now() < deadline, "www answers {}", www(&t));
        std::thread::sleep(Duration::from_millis(20));
    }
    let list = ok(&t, &["drill", "list"]);
    assert!(list.contains("east-off") && list.contains("main/east Off"), "{list}");

    // The drill flips east Off: the answer moves to the standby.
    let started = ok(&t, &["drill", "run", "east-off"]);
    assert!(started.starts_with("drill east-off started: run "), "{started}");
    let run = wait_run(&t, "east-off", Duration::from_secs(10), |r| r["moved_after_ms"].is_u64());
    assert_eq!(run["outcome"], "running");
    assert_eq!(run["flip"], "main/east On -> Off");
    let answer = |ip: &str| serde_json::json!([format!("www.drill.test. 60 IN A {ip}")]);
    assert_eq!(run["answers_before"]["www.drill.test. A"], answer("192.0.2.1"));
    assert_eq!(run["answers_during"]["www.drill.test. A"], answer("192.0.2.2"));
    assert_eq!(www(&t), "192.0.2.2");
    // A second run waits for this one.
    let again = t.cli(&["drill", "run", "east-off"]);
    assert!(!again.status.success() && text(&again).contains("is running"), "{}", text(&again));

    // The standby's guard fails: the drill aborts and reverts within one interval (1 s).
    guard.fail_for(&["127.0.0.1".parse().unwrap()]);
    let run = wait_run(&t, "east-off", Duration::from_secs(10), |r| r["outcome"] != "running");
    assert_eq!(run["outcome"], "aborted", "{run}");
    let detail = run["detail"].as_str().unwrap();
    assert!(
        detail.starts_with(
            "the guard check standby-ok turned unhealthy: Failure: HTTP Status Code 503"
        ),
        "{detail}"
    );
    let history = ok(&t, &["check", "history", "standby-ok", "--output", "json"]);
    let transitions: Value = serde_json::from_str(&history).unwrap();
    let failed_at = transitions[0]["at"].as_str().unwrap();
    assert_eq!(transitions[0]["to"], "unhealthy", "{history}");
    let reverted_at = run["reverted_at"].as_str().unwrap();
    let took = ms_of_day(reverted_at).saturating_sub(ms_of_day(failed_at));
    assert!(
        took < 1000,
        "reverted {took} ms after the guard failed ({failed_at} -> {reverted_at})"
    );
    let deadline = Instant::now() + Duration::from_secs(2);
    while www(&t) != "192.0.2.1" {
        assert!(Instant::now() < deadline, "www answers {} after the abort", www(&t));
        std::thread::sleep(Duration::from_millis(20));
    }
    let controls = ok(&t, &["control", "get", "main/east"]);
    assert!(controls.contains("On"), "{controls}");
    // The outcome is in the audit trail, and both flips in the routing-control trail.
    let audit = ok(&t, &["audit", "--output", "json"]);
    let records: Value = serde_json::from_str(&audit).unwrap();
    let outcome = records
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["changes"].as_array().unwrap().clone())
        .find(|c| c["kind"] == "drill_run" && c["after"]["outcome"] == "aborted")
        .unwrap_or_else(|| panic!("no aborted drill run in the audit trail: {audit}"));
    assert!(outcome["after"]["guard_failed_at"].is_string(), "{outcome}");
    let flips = ok(&t, &["control", "history", "--panel", "main"]);
    assert!(flips.contains("east On -> Off (drill east-off (run "), "{flips}");
    assert!(flips.contains("ended: aborted"), "{flips}");

    // A drill with no guard runs its time and passes; --wait prints the outcome.
    let out = ok(&t, &["drill", "run", "east-short", "--wait"]);
    assert!(out.contains(" passed: the answers moved "), "{out}");
    assert!(
        out.contains("www.drill.test. A: www.drill.test. 60 IN A 192.0.2.1 -> www.drill.test. 60 IN A 192.0.2.2"),
        "{out}"
    );
    assert_eq!(www(&t), "192.0.2.1");

    // The safety rule refuses a flip that would leave no region on.
    ok(&t, &["control", "set", "main/east", "off", "--reason", "east maintenance"]);
    let refused = t.cli(&["drill", "run", "west-off", "--wait"]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    assert!(
        text(&refused).contains("refused: the safety rules refused the flip: one-region"),
        "{}",
        text(&refused)
    );
    let controls = ok(&t, &["control", "get", "main/west"]);
    assert!(controls.contains("On"), "{controls}");

    // A blocked window: the drill does not start.
    let blocked = t.cli(&["drill", "run", "never"]);
    assert!(!blocked.status.success(), "{}", text(&blocked));
    assert!(
        text(&blocked).contains("inside the blocked window \"* 00:00-24:00\""),
        "{}",
        text(&blocked)
    );
    // A check a drill guards cannot be deleted from under it.
    let url = format!("{}/v1/checks/standby-ok", t.api_url());
    let token = std::fs::read_to_string(t.data_dir.join("admin.token")).unwrap();
    let out = std::process::Command::new("curl")
        .args([
            "-s",
            "-X",
            "DELETE",
            "-H",
            &format!("Authorization: Bearer {}", token.trim()),
            &url,
        ])
        .output()
        .unwrap();
    let body = String::from_utf8_lossy(&out.stdout);
    assert!(body.contains("CheckInUse") && body.contains("drill \\\"east-off\\\""), "{body}");
}

#[test]
fn a_drill_forces_a_check_and_a_restart_mid_drill_undoes_its_flip() {
    let data = tempfile::tempdir().unwrap();
    let backend = Backend::start(0);
    let file = data.path().join("drills.yaml");
    std::fs::write(
        &file,
        format!(
            r#"
health_checks:
  - {{ name: web, type: http, ip: 127.0.0.1, port: {port}, interval: 1s, failure_threshold: 1 }}
zones:
  - name: drill.test
    records:
      - {{ name: www, type: A, ttl: 60, set_id: p, failover: primary, health_check: web, values: [192.0.2.1] }}
      - {{ name: www, type: A, ttl: 60, set_id: s, failover: secondary, values: [192.0.2.2] }}
drills:
  - {{ name: web-down, check: web, duration: 60s, watch: ["www.drill.test. A"] }}
"#,
            port = backend.port
        ),
    )
    .unwrap();
    let store = data.path().join("store");
    let t = start(Some(&store));
    ok(&t, &["apply", "-f", file.to_str().unwrap(), "--yes"]);
    let written = ok(&t, &["check", "get", "web"]);
    ok(&t, &["drill", "run", "web-down"]);
    // Forced unhealthy: disabled and inverted, so the secondary answers.
    let run = wait_run(&t, "web-down", Duration::from_secs(10), |r| r["moved_after_ms"].is_u64());
    assert_eq!(run["flip"], "check web forced unhealthy");
    assert_eq!(www(&t), "192.0.2.2");
    assert!(ok(&t, &["check", "get", "web"]).contains("\"disabled\": true"));
    // The node dies mid-drill; at its next start it undoes the flip and records why.
    t.signal("KILL");
    let mut t = t;
    t.wait_exit(Duration::from_secs(5));
    drop(t);
    let t = start(Some(&store));
    let run = wait_run(&t, "web-down", Duration::from_secs(10), |r| r["outcome"] != "running");
    assert_eq!(run["outcome"], "interrupted", "{run}");
    assert_eq!(run["detail"], "the node running the drill restarted during it");
    assert_eq!(ok(&t, &["check", "get", "web"]), written, "the check is as written again");
    let deadline = Instant::now() + Duration::from_secs(5);
    while www(&t) != "192.0.2.1" {
        assert!(Instant::now() < deadline, "www answers {}", www(&t));
        std::thread::sleep(Duration::from_millis(50));
    }
    // A node told to stop undoes the flip before it exits.
    ok(&t, &["drill", "run", "web-down"]);
    wait_run(&t, "web-down", Duration::from_secs(10), |r| r["moved_after_ms"].is_u64());
    t.signal("TERM");
    let mut t = t;
    assert!(t.wait_exit(Duration::from_secs(10)).is_some_and(|s| s.success()));
    drop(t);
    let t = start(Some(&store));
    let run = wait_run(&t, "web-down", Duration::from_secs(10), |r| r["outcome"] != "running");
    assert_eq!(
        (run["outcome"].as_str(), run["detail"].as_str()),
        (Some("interrupted"), Some("the node shut down"))
    );
    assert_eq!(ok(&t, &["check", "get", "web"]), written);
}

#[test]
fn a_run_whose_node_dies_is_adopted_and_undone_by_another() {
    use crate::cluster::{node_with, share_token, until_nodes};
    let etcd = turnout_testkit::etcd::Etcd::start(1);
    let dirs = tempfile::tempdir().unwrap();
    let mut nodes: Vec<Turnout> = ["da", "db"]
        .iter()
        .map(|n| node_with(&etcd, &dirs.path().join(n), &["--node-name", n]))
        .collect();
    share_token(&nodes);
    until_nodes(&nodes[1], 2, Duration::from_secs(20));
    let file = dirs.path().join("drill.yaml");
    std::fs::write(
        &file,
        "control_panels:\n  - { name: main, controls: [east] }\ndrills:\n  - { name: east-on, control: main/east, state: On, duration: 120s }\n",
    )
    .unwrap();
    ok(&nodes[0], &["apply", "-f", file.to_str().unwrap(), "--yes"]);
    // da claims the run and flips east On.
    ok(&nodes[0], &["drill", "run", "east-on"]);
    let run = wait_run(&nodes[1], "east-on", Duration::from_secs(10), |r| r["phase"] == "flipped");
    assert_eq!(run["node"], "da");
    assert!(ok(&nodes[1], &["control", "get", "main/east"]).contains("On"));
    // da dies; once its registration expires, db adopts the run and undoes the flip, long
    // before the control's own timed revert (two minutes and a minute more).
    let mut da = nodes.remove(0);
    da.signal("KILL");
    da.wait_exit(Duration::from_secs(5));
    let db = nodes.remove(0);
    let run = wait_run(&db, "east-on", Duration::from_secs(30), |r| r["outcome"] != "running");
    assert_eq!(run["outcome"], "interrupted", "{run}");
    assert_eq!(run["adopted_from"], "da");
    assert_eq!(run["node"], "db");
    assert_eq!(run["detail"], "the node running the drill, da, left the cluster during it");
    assert!(ok(&db, &["control", "get", "main/east"]).contains("Off"));
}
