//! Health-checked multivalue and weighted groups through the real binary and real `dig`, and
//! `turnout explain` saying why.

use std::time::{Duration, Instant};

use turnout_testkit::process::dns_tool;

use crate::{Backend, ok, start};

/// `dig NAME A +subnet=SUBNET`: the answer's address and the CLIENT-SUBNET that came back
/// (`address/source/scope`).
fn with_subnet(
    t: &turnout_testkit::process::Turnout,
    name: &str,
    subnet: &str,
) -> (String, String) {
    let out = dns_tool("dig", t.dns, &[name, "A", &format!("+subnet={subnet}")]);
    let answer = out
        .lines()
        .find(|l| l.starts_with(&format!("{name}.")))
        .map(|l| l.rsplit('\t').next().unwrap().to_owned())
        .unwrap_or_default();
    let scope = out
        .lines()
        .find_map(|l| l.strip_prefix("; CLIENT-SUBNET: "))
        .unwrap_or_else(|| panic!("no CLIENT-SUBNET in {out}"))
        .to_owned();
    (answer, scope)
}

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
    // The discard port: nothing listens on it on a test machine, so a connection is refused.
    let down = 9;
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
    // /metrics: the group's members by health, the answers each gave, the checks' flips.
    let body = t.scrape();
    let group = |state: &str| {
        let key = format!(
            r#"turnout_policy_group_members{{zone="pol.test.",name="w.pol.test.",type="A",state="{state}"}}"#
        );
        turnout_testkit::process::sample(&body, &key)
    };
    assert_eq!((group("healthy"), group("unhealthy")), (Some(1.0), Some(1.0)), "{body}");
    let answers = |set: &str| {
        let key = format!(
            r#"turnout_dns_policy_answers_total{{zone="pol.test.",name="w.pol.test.",type="A",set_id="{set}"}}"#
        );
        turnout_testkit::process::sample(&body, &key).unwrap_or(-1.0)
    };
    assert_eq!((answers("a"), answers("b")), (0.0, 20.0), "{body}");
    let flips = turnout_testkit::process::sample(
        &body,
        r#"turnout_health_check_transitions_total{check="down"}"#,
    );
    assert!(flips.is_some_and(|n| n >= 1.0), "{body}");
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

#[test]
fn geolocation_and_latency_answers_follow_the_client_subnet_and_return_its_scope() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("geo.mmdb");
    std::fs::write(
        &db,
        turnout_testkit::geo_database(&[
            ("192.0.2.0/24", "NA", "US", "CA", None),
            ("203.0.113.0/25", "EU", "FR", "", None),
        ]),
    )
    .unwrap();
    let config = dir.path().join("turnout.toml");
    std::fs::write(
        dir.path().join("latency.json"),
        r#"{"regions": {"us": {}, "eu": {}},
            "networks": [{"network": "192.0.2.0/23", "rtt_ms": {"us": 10, "eu": 90}},
                         {"network": "203.0.113.0/24", "rtt_ms": {"us": 80, "eu": 15}}]}"#,
    )
    .unwrap();
    std::fs::write(
        &config,
        "[routing]\ngeo_database = \"geo.mmdb\"\nlatency_map = \"latency.json\"\n",
    )
    .unwrap();
    let data = dir.path().join("data");
    let t = crate::start_with_config(&config, &data);
    let file = dir.path().join("geo.yaml");
    std::fs::write(
        &file,
        r#"
zones:
  - name: geo.test
    records:
      - { name: www, type: A, ttl: 60, set_id: california, geo: { country: US, subdivision: CA }, values: [192.0.2.1] }
      - { name: www, type: A, ttl: 60, set_id: europe, geo: { continent: EU }, values: [192.0.2.2] }
      - { name: www, type: A, ttl: 60, set_id: default, geo: { country: "*" }, values: [192.0.2.9] }
      - { name: fast, type: A, ttl: 60, set_id: us, region: us, values: [192.0.2.31] }
      - { name: fast, type: A, ttl: 60, set_id: eu, region: eu, values: [192.0.2.32] }
"#,
    )
    .unwrap();
    ok(&t, &["apply", "-f", file.to_str().unwrap(), "--yes"]);
    let ask_name = |name: &str, subnet: &str| with_subnet(&t, name, subnet);
    let ask = |subnet: &str| ask_name("www.geo.test", subnet);
    assert_eq!(ask("192.0.2.0/24"), ("192.0.2.1".to_owned(), "192.0.2.0/24/24".to_owned()));
    assert_eq!(ask("203.0.113.0/24"), ("192.0.2.2".to_owned(), "203.0.113.0/24/25".to_owned()));
    assert_eq!(ask("198.51.100.0/24").0, "192.0.2.9", "unlocated: the default");
    // Without ECS, the source address (127.0.0.1, not in the database) decides.
    assert_eq!(dns_tool("dig", t.dns, &["+short", "www.geo.test", "A"]).trim(), "192.0.2.9");
    let why = ok(&t, &["explain", "www.geo.test", "A", "--client", "203.0.113.9"]);
    assert!(why.contains("-> europe"), "{why}");
    // Latency: the region with the lowest RTT from the client's network, scope the map's.
    let fast = |subnet: &str| ask_name("fast.geo.test", subnet);
    assert_eq!(fast("192.0.2.0/24"), ("192.0.2.31".to_owned(), "192.0.2.0/24/23".to_owned()));
    assert_eq!(fast("203.0.113.0/24"), ("192.0.2.32".to_owned(), "203.0.113.0/24/24".to_owned()));
}

#[test]
fn ip_based_answers_follow_the_client_subnet_through_a_collection_from_the_file() {
    let t = start(None);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ip.yaml");
    std::fs::write(
        &file,
        r#"
cidr_collections:
  - name: offices
    locations:
      paris: [192.0.2.0/24, "2001:db8:1::/48"]
      tokyo: [198.51.100.0/22]
zones:
  - name: ip.test
    records:
      - { name: www, type: A, ttl: 60, set_id: paris, cidr: { collection: offices, location: paris }, values: [192.0.2.1] }
      - { name: www, type: A, ttl: 60, set_id: tokyo, cidr: { collection: offices, location: tokyo }, values: [192.0.2.2] }
      - { name: www, type: A, ttl: 60, set_id: other, cidr: { collection: offices, location: "*" }, values: [192.0.2.9] }
"#,
    )
    .unwrap();
    let plan = ok(&t, &["apply", "-f", file.to_str().unwrap()]);
    assert!(plan.contains("+ collection offices paris=192.0.2.0/24,2001:db8:1::/48"), "{plan}");
    ok(&t, &["apply", "-f", file.to_str().unwrap(), "--yes"]);
    let ask = |subnet: &str| with_subnet(&t, "www.ip.test", subnet);
    assert_eq!(ask("192.0.2.0/24"), ("192.0.2.1".to_owned(), "192.0.2.0/24/24".to_owned()));
    assert_eq!(ask("198.51.101.0/24"), ("192.0.2.2".to_owned(), "198.51.101.0/24/22".to_owned()));
    assert_eq!(ask("2001:db8:1:5::/56"), ("192.0.2.1".to_owned(), "2001:db8:1::/56/48".to_owned()));
    assert_eq!(ask("203.0.113.0/24"), ("192.0.2.9".to_owned(), "203.0.113.0/24/24".to_owned()));
}

#[test]
fn a_shadow_check_and_an_always_served_record_fail_without_moving_answers() {
    let t = start(None);
    // The discard port: nothing listens on it on a test machine, so a connection is refused.
    let down = 9;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("shadow.yaml");
    std::fs::write(
        &file,
        format!(
            r#"
health_checks:
  - {{ name: shadow, type: tcp, ip: 127.0.0.1, port: {down}, interval: 200ms, failure_threshold: 1, observe_only: true }}
  - {{ name: real, type: tcp, ip: 127.0.0.1, port: {down}, interval: 200ms, failure_threshold: 1 }}
zones:
  - name: shadow.test
    records:
      - {{ name: a, type: A, ttl: 30, set_id: p, failover: primary, health_check: shadow, values: [192.0.2.1] }}
      - {{ name: a, type: A, ttl: 30, set_id: s, failover: secondary, values: [192.0.2.2] }}
      - {{ name: b, type: A, ttl: 30, set_id: p, failover: primary, health_check: real, always_serve: true, values: [192.0.2.11] }}
      - {{ name: b, type: A, ttl: 30, set_id: s, failover: secondary, values: [192.0.2.12] }}
      - {{ name: c, type: A, ttl: 30, set_id: p, failover: primary, health_check: real, values: [192.0.2.21] }}
      - {{ name: c, type: A, ttl: 30, set_id: s, failover: secondary, values: [192.0.2.22] }}
"#
        ),
    )
    .unwrap();
    let plan = ok(&t, &["apply", "-f", file.to_str().unwrap()]);
    let b = "b.shadow.test. A set_id=p failover=primary health_check=real always_serve ttl=30";
    assert!(plan.contains(b), "{plan}");
    ok(&t, &["apply", "-f", file.to_str().unwrap(), "--yes"]);
    // The ordinary check moves c; both failing checks are recorded unhealthy.
    let deadline = Instant::now() + Duration::from_secs(5);
    while dig_sorted(&t, "c.shadow.test") != ["192.0.2.22"] {
        assert!(Instant::now() < deadline, "c answers {:?}", dig_sorted(&t, "c.shadow.test"));
        std::thread::sleep(Duration::from_millis(50));
    }
    while !ok(&t, &["check", "status", "shadow"]).starts_with("shadow unhealthy") {
        assert!(Instant::now() < deadline, "{}", ok(&t, &["check", "status", "shadow"]));
        std::thread::sleep(Duration::from_millis(50));
    }
    // a and b stay on their primaries.
    for _ in 0..10 {
        assert_eq!(dig_sorted(&t, "a.shadow.test"), ["192.0.2.1"]);
        assert_eq!(dig_sorted(&t, "b.shadow.test"), ["192.0.2.11"]);
    }
    let why = ok(&t, &["explain", "a.shadow.test", "A"]);
    assert!(why.contains("check shadow (observe only: unhealthy, not used for answers)"), "{why}");
    let why = ok(&t, &["explain", "b.shadow.test", "A"]);
    assert!(
        why.contains("check real (always_serve: answered whatever it says, now unhealthy)"),
        "{why}"
    );
    // The shadow check still alerts: its status series says unhealthy.
    let body = t.scrape();
    let status =
        turnout_testkit::process::sample(&body, r#"turnout_health_check_status{check="shadow"}"#);
    assert_eq!(status, Some(0.0), "{body}");
}
