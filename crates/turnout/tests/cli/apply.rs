//! `turnout apply`, `zone`, `record`, tokens, and the answers that follow.

use std::os::unix::fs::PermissionsExt;

use serde_json::Value;
use turnout_testkit::process::dns_tool;

use crate::{Backend, failover_example, ok, start, text};

/// `dig +short`, one line per record, sorted (answers rotate the records of an RRset).
fn dig_short(t: &turnout_testkit::process::Turnout, name: &str, rtype: &str) -> String {
    let out = dns_tool("dig", t.dns, &["+short", name, rtype]);
    let mut lines: Vec<&str> = out.lines().collect();
    lines.sort_unstable();
    lines.join("\n")
}

#[test]
fn apply_the_example_then_dig_then_edit_shows_exactly_the_edits() {
    let t = start(None);
    let backend = Backend::start(0);
    let dir = tempfile::tempdir().unwrap();
    let file = failover_example(dir.path(), backend.port);
    let file = file.to_str().unwrap();
    let plan = ok(&t, &["apply", "-f", file]);
    assert!(plan.contains("+ check web-primary http 127.0.0.1"), "{plan}");
    assert!(
        plan.contains(
            "plan: 8 to create, 0 to change, 0 to delete (zones: 1 to create; record sets: 6 to \
             create; checks: 1 to create)"
        ),
        "{plan}"
    );
    assert!(plan.contains("run again with --yes"), "{plan}");
    assert_eq!(dig_short(&t, "www.example.test", "A"), "", "nothing applied without --yes");
    let applied = ok(&t, &["apply", "-f", file, "--yes"]);
    assert!(applied.contains("applied: change C") && applied.contains("INSYNC"), "{applied}");
    assert_eq!(dig_short(&t, "www.example.test", "A"), "192.0.2.10");
    assert_eq!(dig_short(&t, "app.example.test", "A"), "192.0.2.10", "alias answers the target");
    assert_eq!(dig_short(&t, "example.test", "MX"), "10 mail.example.test.");
    let soa = dig_short(&t, "example.test", "SOA");
    assert!(soa.starts_with("ns1.example.test. hostmaster.example.test. 2 "), "{soa}");

    // Edit the file: one value changes, one TTL changes; the plan lists exactly those.
    let edited = dir.path().join("edited.yaml");
    let original = std::fs::read_to_string(file).unwrap();
    std::fs::write(
        &edited,
        original.replace("192.0.2.20", "192.0.2.21").replace("ttl: 300", "ttl: 600"),
    )
    .unwrap();
    let edited = edited.to_str().unwrap();
    let plan: Value =
        serde_json::from_str(&ok(&t, &["apply", "-f", edited, "--output", "json"])).unwrap();
    let changes = plan["zones"][0]["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 2, "{plan:#}");
    assert_eq!(changes[0]["action"], "UPSERT");
    assert_eq!(changes[0]["before"]["values"][0], "192.0.2.20");
    assert_eq!(changes[0]["record_set"]["values"][0], "192.0.2.21");
    assert_eq!(
        (changes[1]["record_set"]["type"].as_str(), changes[1]["record_set"]["ttl"].as_i64()),
        (Some("TXT"), Some(600))
    );
    ok(&t, &["apply", "-f", edited, "--yes"]);
    assert!(ok(&t, &["apply", "-f", edited]).contains("no changes"));

    // --prune deletes what the file no longer names, and nothing else (SOA and NS stay).
    let pruned = dir.path().join("pruned.yaml");
    let without_txt: String = std::fs::read_to_string(edited)
        .unwrap()
        .split("      - name: \"@\"\n        type: TXT")
        .next()
        .unwrap()
        .to_owned();
    std::fs::write(&pruned, without_txt).unwrap();
    let plan = ok(&t, &["apply", "-f", pruned.to_str().unwrap(), "--prune"]);
    assert!(plan.contains("plan: 0 to create, 0 to change, 1 to delete"), "{plan}");
    assert!(plan.contains("  - example.test. TXT ttl=600"), "{plan}");
    ok(&t, &["apply", "-f", pruned.to_str().unwrap(), "--prune", "--yes"]);
    assert_eq!(dig_short(&t, "example.test", "TXT"), "");
    assert_eq!(dig_short(&t, "example.test", "NS"), "ns1.example.test.\nns2.example.test.");
}

#[test]
fn a_bad_file_is_refused_naming_the_place_and_changes_nothing() {
    let t = start(None);
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "zones:\n  - name: bad.test\n    records:\n      - {name: www, type: A, ttl: -5, values: [192.0.2.1]}\n",
            "zones[0].records[0].ttl",
        ),
        (
            "zones:\n  - name: bad.test\n    records:\n      - {name: www, type: A, ttl: 5, values: [192.0.2.1], wat: 1}\n",
            "unknown field `wat`",
        ),
        // A value of the wrong type names its field, not only the place.
        (
            "zones:\n  - name: bad.test\n    records:\n      - {name: www, type: A, ttl: sixty, values: [192.0.2.1]}\n",
            "bad.yaml: zones[0].records[0].ttl: line 4 column",
        ),
        (
            "health_checks:\n  - {name: a, type: tcp, ip: 127.0.0.1, port: eighty}\n",
            "bad.yaml: health_checks[0].port: line 2 column",
        ),
        (
            "zones:\n  - name: bad.test\n    records:\n      - {name: a, type: A, alias: {target: nowhere, evaluate_target_health: false}}\n",
            "AliasTargetNotFound",
        ),
        (
            "zones:\n  - name: bad.test\n    records:\n      - {name: f, type: A, ttl: 5, set_id: a, failover: primary, values: [192.0.2.1]}\n      - {name: f, type: A, ttl: 5, set_id: b, failover: primary, values: [192.0.2.2]}\n",
            "zones[0].records[1]: ",
        ),
    ];
    for (yaml, expect) in cases {
        let f = dir.path().join("bad.yaml");
        std::fs::write(&f, yaml).unwrap();
        let out = t.cli(&["apply", "-f", f.to_str().unwrap(), "--yes"]);
        assert_eq!(out.status.code(), Some(2), "{yaml}: {}", text(&out));
        assert!(text(&out).contains(expect), "{yaml}: expected {expect:?} in {}", text(&out));
    }
    assert_eq!(ok(&t, &["zone", "list", "--output", "json"]).trim(), "[]", "no zone was created");
}

#[test]
fn the_admin_token_is_private_and_writes_need_it() {
    let t = start(None);
    let token = t.data_dir.join("admin.token");
    let mode = std::fs::metadata(&token).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let out = t.cli(&["zone", "create", "x.test", "--token", "turnout_wrong"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("Unauthorized"), "{}", text(&out));
    // The data directory's token works, and the zone answers at once.
    let created = ok(&t, &["zone", "create", "x.test", "--caller-reference", "once"]);
    assert!(created.starts_with("created x.test."), "{created}");
    let again = ok(&t, &["zone", "create", "x.test", "--caller-reference", "once"]);
    assert!(again.starts_with("already created"), "{again}");
    ok(&t, &["record", "upsert", "x.test", "www", "A", "--ttl", "30", "--value", "192.0.2.7"]);
    assert_eq!(dig_short(&t, "www.x.test", "A"), "192.0.2.7");
    // Reads need a token: none given and none in the data directory is 401 with a hint; a
    // read-only token from a file (as another node's operator has) reads and cannot write.
    let elsewhere = tempfile::tempdir().unwrap();
    let away = |args: &[&str]| {
        std::process::Command::new(crate::bin())
            .args(args)
            .args(["--api", &t.api_url(), "--data-dir"])
            .arg(elsewhere.path())
            .output()
            .unwrap()
    };
    let out = away(&["zone", "list"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("Unauthorized") && text(&out).contains("--token-file"),
        "{}",
        text(&out)
    );
    let made = ok(
        &t,
        &["token", "create", "ro", "--scope", "read", "--expires-in", "1h", "--output", "json"],
    );
    let secret = serde_json::from_str::<serde_json::Value>(&made).unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let file = elsewhere.path().join("ro.token");
    std::fs::write(&file, format!("{secret}\n")).unwrap();
    let file = file.display().to_string();
    let out = away(&["zone", "list", "--token-file", &file]);
    assert!(text(&out).contains("x.test."), "{}", text(&out));
    let out = away(&["zone", "delete", "x.test", "--token-file", &file]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("Forbidden"), "{}", text(&out));
    let tokens = ok(&t, &["token", "list"]);
    assert!(tokens.contains("ro ") && tokens.contains(" until "), "{tokens}");
    // Rotating the admin token from its file keeps the file working.
    let before = std::fs::read_to_string(&token).unwrap();
    let rotated = ok(&t, &["token", "rotate", "admin"]);
    assert!(rotated.contains("the new secret is in"), "{rotated}");
    assert_ne!(std::fs::read_to_string(&token).unwrap(), before);
    let out = t.cli(&["zone", "list", "--token", before.trim()]);
    assert_eq!(out.status.code(), Some(1), "the old secret is refused: {}", text(&out));
    let listed = ok(&t, &["record", "list", "x.test"]);
    assert!(listed.contains("www.x.test. A ttl=30 192.0.2.7"), "{listed}");
    ok(&t, &["record", "delete", "x.test", "www", "A"]);
    assert_eq!(dig_short(&t, "www.x.test", "A"), "");
    let out = t.cli(&["zone", "delete", "x.test"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = t.cli(&["zone", "get", "x.test"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("NoSuchZone"), "{}", text(&out));
    // `--api` takes a bare host:port as http://host:port; a scheme but http(s) is refused
    // (exit 2).
    let run = |api: &str| {
        std::process::Command::new(crate::bin())
            .args(["zone", "list", "--api", api, "--data-dir"])
            .arg(&t.data_dir)
            .output()
            .unwrap()
    };
    let bare = t.api.unwrap().to_string();
    let out = run(&bare);
    assert!(out.status.success(), "--api {bare}: {}", text(&out));
    let out = run("ftp://127.0.0.1:1");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("use an http:// or https:// URL"), "{}", text(&out));
}

#[test]
fn import_then_export_round_trips_and_a_broken_file_changes_nothing() {
    let t = start(None);
    let dir = tempfile::tempdir().unwrap();
    let zone = dir.path().join("imp.test.zone");
    let mut text_zone = String::from(
        "$ORIGIN imp.test.\n$TTL 300\n@ IN SOA ns1 hostmaster 2026010101 3600 600 86400 300\n@ NS ns1\n@ NS ns2\nns1 A 192.0.2.53\nns2 A 192.0.2.54\n@ MX 10 mail\nmail A 192.0.2.25\n_sip._tcp SRV 10 5 5060 sip\nsip AAAA 2001:db8::5\ntxt TXT \"hello\" \"world\"\n",
    );
    for i in 0..1500 {
        text_zone.push_str(&format!("h{i} A 10.{}.{}.1\n", i / 256, i % 256));
    }
    std::fs::write(&zone, &text_zone).unwrap();
    let out = ok(&t, &["import", zone.to_str().unwrap()]);
    assert!(
        out.contains("imported 1510 records")
            && out.contains("(new zone)")
            && out.contains("in 2 batch(es)"),
        "{out}"
    );
    assert_eq!(dig_short(&t, "h1499.imp.test", "A"), "10.5.219.1");
    assert_eq!(dig_short(&t, "_sip._tcp.imp.test", "SRV"), "10 5 5060 sip.imp.test.");
    let soa = dig_short(&t, "imp.test", "SOA");
    assert!(
        soa.starts_with("ns1.imp.test. hostmaster.imp.test. 2026010102 3600 600 86400 300"),
        "{soa}"
    );
    // Export as a zone file: it is valid and holds the same records.
    let exported = ok(&t, &["export", "imp.test"]);
    let back = dir.path().join("back.zone");
    std::fs::write(&back, &exported).unwrap();
    let out = std::process::Command::new(crate::bin())
        .args(["check-zone", back.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(exported.lines().filter(|l| l.contains("\tIN\tA\t")).count(), 1503);
    // Importing the export again changes nothing but the serial.
    let out = ok(&t, &["import", back.to_str().unwrap()]);
    assert!(out.contains("imported 1510 records") && out.contains("in 4 batch(es)"), "{out}");
    // A broken file: every error with its line, no zone created.
    let broken = dir.path().join("broken.zone");
    std::fs::write(&broken, "$ORIGIN broken.test.\n@ 300 SOA ns1 h 1 1 1 1 1\n@ 300 NS ns1\nx 300 A 300.1.1.1\ny 300 MX mail\n").unwrap();
    let out = t.cli(&["import", broken.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("broken.zone:4:") && text(&out).contains("broken.zone:5:"),
        "{}",
        text(&out)
    );
    let zones = ok(&t, &["zone", "list"]);
    assert!(!zones.contains("broken.test"), "{zones}");
}

#[test]
fn a_yaml_export_carries_what_its_records_name_and_applies_on_a_new_node() {
    let t = start(None);
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("site.yaml");
    std::fs::write(
        &site,
        r#"
control_panels:
  - { name: main, controls: [east] }
cidr_collections:
  - { name: offices, locations: { paris: [192.0.2.0/24] } }
health_checks:
  - { name: east-switch, type: control, control: main/east }
  - { name: east-port, type: tcp, ip: 127.0.0.1, port: 1, disabled: true }
  - { name: east, type: calculated, children: [east-switch, east-port], health_threshold: 1 }
  - { name: unrelated, type: tcp, ip: 127.0.0.1, port: 2, disabled: true }
zones:
  - name: ex.test
    records:
      - { name: www, type: A, ttl: 60, set_id: east, failover: primary, health_check: east, values: [192.0.2.1] }
      - { name: www, type: A, ttl: 60, set_id: west, failover: secondary, values: [192.0.2.2] }
      - { name: ip, type: A, ttl: 60, set_id: paris, cidr: { collection: offices, location: paris }, values: [192.0.2.3] }
      - { name: ip, type: A, ttl: 60, set_id: rest, cidr: { collection: offices, location: "*" }, values: [192.0.2.4] }
"#,
    )
    .unwrap();
    ok(&t, &["apply", "-f", site.to_str().unwrap(), "--yes"]);
    let exported = ok(&t, &["export", "ex.test", "--format", "yaml"]);
    for wanted in
        ["name: east-switch", "name: east-port", "name: east\n", "name: main", "name: offices"]
    {
        assert!(exported.contains(wanted), "{wanted:?} missing:\n{exported}");
    }
    assert!(!exported.contains("unrelated"), "{exported}");
    // On a node with an empty store, the export applies on its own and answers the same.
    let fresh = start(None);
    let file = dir.path().join("exported.yaml");
    std::fs::write(&file, &exported).unwrap();
    ok(&fresh, &["apply", "-f", file.to_str().unwrap(), "--yes"]);
    for node in [&t, &fresh] {
        // The control is Off (a new control is), the disabled port counts as healthy: 1 of 2.
        assert_eq!(dig_short(node, "www.ex.test", "A"), "192.0.2.1");
        assert_eq!(dig_short(node, "ip.ex.test", "A"), "192.0.2.4");
    }
}

#[test]
fn prune_deletes_only_what_the_files_zones_use_unless_prune_all() {
    let t = start(None);
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let f = dir.path().join(name);
        std::fs::write(&f, text).unwrap();
        f.to_str().unwrap().to_owned()
    };
    // Two teams' files: team a's zone uses a-web, team b's uses b-web.
    let a = write(
        "a.yaml",
        r#"
health_checks:
  - { name: a-web, type: tcp, ip: 127.0.0.1, port: 9, disabled: true }
zones:
  - name: a.test
    records:
      - { name: www, type: A, ttl: 60, health_check: a-web, set_id: p, failover: primary, values: [192.0.2.1] }
      - { name: www, type: A, ttl: 60, set_id: s, failover: secondary, values: [192.0.2.2] }
"#,
    );
    let b = write(
        "b.yaml",
        r#"
health_checks:
  - { name: b-web, type: tcp, ip: 127.0.0.1, port: 9, disabled: true }
zones:
  - name: b.test
    records:
      - { name: www, type: A, ttl: 60, health_check: b-web, values: [192.0.2.3] }
"#,
    );
    let created = ok(&t, &["apply", "-f", &a]);
    assert!(
        created.contains("plan: 4 to create, 0 to change, 0 to delete (zones: 1 to create; record sets: 2 to create; checks: 1 to create)"),
        "{created}"
    );
    ok(&t, &["apply", "-f", &a, "--yes"]);
    ok(&t, &["apply", "-f", &b, "--yes"]);
    // Team a drops its failover: with --prune, its records and the check they used go; team
    // b's check, which the file does not name either, stays.
    let a2 = write(
        "a2.yaml",
        "zones:\n  - name: a.test\n    records:\n      - { name: www, type: A, ttl: 60, values: [192.0.2.1] }\n",
    );
    let plan = ok(&t, &["apply", "-f", &a2, "--prune"]);
    assert!(plan.contains("- check a-web"), "{plan}");
    assert!(!plan.contains("b-web"), "{plan}");
    assert!(
        plan.contains("plan: 1 to create, 0 to change, 3 to delete (record sets: 1 to create, 2 to delete; checks: 1 to delete)"),
        "{plan}"
    );
    // --prune-all: the file is the whole node, so team b's check would go too.
    let all = ok(&t, &["apply", "-f", &a2, "--prune", "--prune-all"]);
    assert!(all.contains("- check a-web") && all.contains("- check b-web"), "{all}");
    ok(&t, &["apply", "-f", &a2, "--prune", "--yes"]);
    let checks = ok(&t, &["check", "list"]);
    assert!(checks.contains("b-web") && !checks.contains("a-web"), "{checks}");
}

/// A node, and a directory holding `xfr.secret` (a TSIG secret) for the files under test.
fn node_and_secret() -> (turnout_testkit::process::Turnout, tempfile::TempDir) {
    let t = start(None);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("xfr.secret"), "dHVybm91dC1hcHBseS10ZXN0LXNlY3JldC0zMmJ5dGU=\n")
        .unwrap();
    (t, dir)
}

/// A desired-state file with a TSIG key (its secret in a file beside it), a zone's transfer
/// settings and update rules: applied once, then nothing to do; an edit of the settings is
/// one change; a key that exists with another algorithm is refused before anything changes;
/// `export` writes the settings back.
#[test]
fn apply_makes_tsig_keys_transfers_and_update_rules() {
    let (t, dir) = node_and_secret();
    let yaml = "tsig_keys:
  - name: xfr.key
    secret_file: xfr.secret
zones:
  - name: keys.test
    records:
      - {name: www, type: A, ttl: 60, values: [192.0.2.1]}
    transfers:
      allow:
        - {key: xfr.key}
        - {prefix: 192.0.2.0/24}
    updates:
      allow:
        - {key: xfr.key, names: ['_acme-challenge.*'], types: [TXT]}
";
    let file = dir.path().join("keys.yaml");
    std::fs::write(&file, yaml).unwrap();
    let file = file.to_str().unwrap();
    let plan = ok(&t, &["apply", "-f", file]);
    assert!(plan.contains("+ tsig-key xfr.key. hmac-sha256"), "{plan}");
    assert!(plan.contains("~ zone keys.test. transfers"), "{plan}");
    assert!(plan.contains("~ zone keys.test. updates"), "{plan}");
    ok(&t, &["apply", "-f", file, "--yes"]);
    let transfers = ok(&t, &["zone", "transfers", "keys.test"]);
    assert!(transfers.contains("allow: key xfr.key.") && transfers.contains("allow: 192.0.2.0/24"));
    let updates = ok(&t, &["zone", "updates", "keys.test"]);
    assert!(updates.contains("key xfr.key. may update _acme-challenge.* (TXT)"), "{updates}");
    let again = ok(&t, &["apply", "-f", file]);
    assert!(again.contains("no changes"), "{again}");

    // An edit of the settings is exactly one change.
    let edited = dir.path().join("edited.yaml");
    std::fs::write(
        &edited,
        yaml.replace("- {prefix: 192.0.2.0/24}", "- {prefix: 198.51.100.0/24}"),
    )
    .unwrap();
    let plan = ok(&t, &["apply", "-f", edited.to_str().unwrap(), "--yes"]);
    assert!(plan.contains("198.51.100.0/24"), "{plan}");
    assert!(ok(&t, &["zone", "transfers", "keys.test"]).contains("allow: 198.51.100.0/24"));

    // Another algorithm for the existing key: refused, nothing changes.
    let other = dir.path().join("other.yaml");
    std::fs::write(
        &other,
        yaml.replace("secret_file:", "algorithm: hmac-sha512\n    secret_file:"),
    )
    .unwrap();
    let out = t.cli(&["apply", "-f", other.to_str().unwrap(), "--yes"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("exists with hmac-sha256"), "{}", text(&out));

    let export = ok(&t, &["export", "keys.test", "--format", "yaml"]);
    assert!(export.contains("transfers:") && export.contains("_acme-challenge.*"), "{export}");
}

/// A secondary zone in a desired-state file: made once with its primaries and key, its records
/// left to them; a file listing its records, or disagreeing with the node on which zones are
/// secondary, is refused before anything changes; `export` writes it back as a secondary zone.
#[test]
fn apply_makes_secondary_zones_and_leaves_their_records_alone() {
    let (t, dir) = node_and_secret();
    // The primary (the discard port of a loopback address) does not answer: the zone is made,
    // not loaded.
    let yaml = "tsig_keys:
  - name: xfr.key
    secret_file: xfr.secret
zones:
  - name: sec.test
    secondary: {primaries: ['127.0.0.9:9'], key: xfr.key}
";
    let file = dir.path().join("sec.yaml");
    std::fs::write(&file, yaml).unwrap();
    let file = file.to_str().unwrap();
    let plan = ok(&t, &["apply", "-f", file]);
    assert!(plan.contains("sec.test."), "{plan}");
    ok(&t, &["apply", "-f", file, "--yes"]);
    let zone = ok(&t, &["zone", "get", "sec.test"]);
    assert!(zone.contains("secondary of 127.0.0.9:9 (key xfr.key.)"), "{zone}");
    let again = ok(&t, &["apply", "-f", file]);
    assert!(again.contains("no changes"), "{again}");
    let export = ok(&t, &["export", "sec.test", "--format", "yaml"]);
    assert!(export.contains("secondary:") && export.contains("127.0.0.9:9"), "{export}");
    assert!(!export.contains("records:") || export.contains("records: []"), "{export}");

    for (bad, says) in [
        (
            yaml.replace("key: xfr.key}", "key: xfr.key}\n    records:\n      - {name: www, type: A, ttl: 60, values: [192.0.2.1]}"),
            "zones[0].records: a secondary zone's records come from its primaries",
        ),
        (yaml.replace("127.0.0.9:9", "127.0.0.10"), "apply does not change a secondary zone's primaries"),
        (yaml.replace("    secondary: {primaries: ['127.0.0.9:9'], key: xfr.key}\n", ""), "is a secondary zone here"),
        (yaml.replace("primaries: ['127.0.0.9:9']", "primaries: [nowhere]"), "zones[0].secondary.primaries[0]:"),
    ] {
        let f = dir.path().join("bad.yaml");
        std::fs::write(&f, &bad).unwrap();
        let out = t.cli(&["apply", "-f", f.to_str().unwrap(), "--yes"]);
        assert!(!out.status.success(), "{bad}");
        assert!(text(&out).contains(says), "{bad}: {}", text(&out));
    }
    assert!(ok(&t, &["zone", "get", "sec.test"]).contains("secondary of 127.0.0.9:9"));
}
