//! The audit trail of configuration writes: every kind of write, made with a named token, is
//! listed by `turnout audit` with that name, the client's address and what changed.

use serde_json::Value;

use crate::{ok, start, text};

#[test]
fn every_kind_of_write_is_in_the_audit_trail_with_its_token() {
    let t = start(None);
    let dir = tempfile::tempdir().unwrap();
    // A token named for the operator, which makes every configuration write below.
    let made = ok(&t, &["token", "create", "alice", "--scope", "config", "--output", "json"]);
    let alice: Value = serde_json::from_str(&made).unwrap();
    let alice = alice["token"].as_str().unwrap().to_owned();
    let ops = ok(&t, &["token", "create", "ops", "--scope", "controls", "--output", "json"]);
    let ops: Value = serde_json::from_str(&ops).unwrap();
    let ops = ops["token"].as_str().unwrap().to_owned();
    let file = dir.path().join("site.yaml");
    std::fs::write(
        &file,
        r#"
control_panels:
  - name: main
    controls: [east, west]
cidr_collections:
  - { name: offices, locations: { paris: [192.0.2.0/24] } }
health_checks:
  - { name: east, type: control, control: main/east }
zones:
  - name: au.test
    records:
      - { name: www, type: A, ttl: 60, set_id: east, failover: primary, health_check: east, values: [192.0.2.1] }
      - { name: www, type: A, ttl: 60, set_id: west, failover: secondary, values: [192.0.2.2] }
"#,
    )
    .unwrap();
    let as_alice = |args: &[&str]| ok(&t, &[args, &["--token", &alice]].concat());
    as_alice(&["apply", "-f", file.to_str().unwrap(), "--yes"]);
    let rule = dir.path().join("rule.yaml");
    std::fs::write(
        &rule,
        "{ name: keep-one, type: assertion, controls: [east, west], rule: { kind: atleast, threshold: 1 }, wait_period: 0s }\n",
    )
    .unwrap();
    as_alice(&["rule", "create", "main", "-f", rule.to_str().unwrap()]);
    let out =
        t.cli(&["control", "set", "main/east", "on", "--reason", "east is up", "--token", &ops]);
    assert!(out.status.success(), "{}", text(&out));
    ok(&t, &["token", "rotate", "ops"]);
    as_alice(&["zone", "create", "ref.test", "--caller-reference", "ticket-42"]);
    as_alice(&["zone", "delete", "au.test", "--force"]);

    let all: Vec<Value> = serde_json::from_str(&ok(&t, &["audit", "--output", "json"])).unwrap();
    let by = |kind: &str| -> Vec<(String, String, String)> {
        all.iter()
            .flat_map(|w| {
                w["changes"].as_array().unwrap().iter().filter(|c| c["kind"] == kind).map(|c| {
                    (
                        w["token"].as_str().unwrap().to_owned(),
                        c["action"].as_str().unwrap().to_owned(),
                        c["name"].as_str().unwrap().to_owned(),
                    )
                })
            })
            .collect()
    };
    let has = |kind: &str, token: &str, action: &str, name: &str| {
        assert!(
            by(kind).iter().any(|(t, a, n)| t == token && a == action && n.contains(name)),
            "no {action} {kind} {name} by {token} in {:#}",
            Value::Array(all.clone())
        );
    };
    has("token", "admin", "create", "alice");
    has("token", "admin", "update", "ops");
    has("panel", "alice", "create", "main");
    has("panel", "alice", "update", "main");
    has("collection", "alice", "create", "offices");
    has("check", "alice", "create", "east");
    has("zone", "alice", "create", "au.test.");
    has("record_set", "alice", "create", "au.test. www.au.test. A east");
    has("change", "alice", "create", "");
    has("routing_control", "ops", "create", "main/east");
    has("zone", "alice", "delete", "au.test.");
    has("caller_reference", "alice", "create", "ticket-42");
    // The node's own writes: the DNS cookie secret it made at start.
    has("secret", "turnout", "create", "dns-cookie");
    // Who wrote from where, and what: the client's address and the request.
    let control = all.iter().find(|w| w["token"] == "ops").unwrap();
    assert_eq!(control["source"], "127.0.0.1", "{control:#}");
    let request = control["request"].as_str().unwrap();
    assert_eq!(request, "POST /v1/controls/main", "{control:#}");
    assert!(control["revision"].as_i64().unwrap() > 0);
    // Before and after; a token's digest never.
    let panel = all
        .iter()
        .flat_map(|w| w["changes"].as_array().unwrap())
        .find(|c| c["kind"] == "panel" && c["action"] == "update")
        .unwrap();
    assert_eq!(panel["before"]["rules"].as_array().map(Vec::len).unwrap_or(0), 0, "{panel:#}");
    assert_eq!(panel["after"]["rules"][0]["name"], "keep-one", "{panel:#}");
    let trail = serde_json::to_string(&all).unwrap();
    assert!(trail.contains(r#""sha256":"(redacted)""#) && !trail.contains(&ops[..8]));

    // Filters, and the text form.
    let checks = ok(&t, &["audit", "--kind", "check", "--by", "alice"]);
    assert!(
        checks.contains("by alice from 127.0.0.1: POST /v1/")
            || checks.contains("by alice from 127.0.0.1: PUT /v1/checks/east"),
        "{checks}"
    );
    assert!(
        checks.contains("create check east") && !checks.contains("routing_control"),
        "{checks}"
    );
    let none = ok(&t, &["audit", "--by", "nobody"]);
    assert!(none.contains("no configuration writes match"), "{none}");
    // Bad filters are refused, naming the parameter.
    let out = t.cli(&["audit", "--kind", "zoen"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("kind") && text(&out).contains("zoen"), "{}", text(&out));
    let out = t.cli(&["audit", "--since", "yesterday-ish"]);
    assert!(text(&out).contains("since"), "{}", text(&out));
}
