//! Three Turnout nodes sharing one real etcd cluster (three members on loopback): a change made
//! through one node is answered by all, a routing control flipped on one moves every node's
//! answers, safety rules hold under concurrent flips sent to different nodes, nodes come and go
//! by their leased registrations, and the data plane outlives the store.

use std::time::{Duration, Instant};

use turnout_testkit::etcd::Etcd;
use turnout_testkit::process::{Turnout, dns_tool};

use crate::{Backend, bin, ok, text};

pub(crate) fn node(etcd: &Etcd, dir: &std::path::Path) -> Turnout {
    node_with(etcd, dir, &[])
}

pub(crate) fn node_with(etcd: &Etcd, dir: &std::path::Path, more: &[&str]) -> Turnout {
    let data = dir.display().to_string();
    let url = etcd.url();
    let mut args =
        vec!["serve", "--dns", "127.0.0.1:0", "--udp-workers", "1", "--store", &url, "--data-dir"];
    args.push(&data);
    args.extend_from_slice(more);
    Turnout::start(bin(), &args)
}

/// The first node made the admin token; the others get a copy, as an operator does.
pub(crate) fn share_token(nodes: &[Turnout]) {
    let token = std::fs::read(nodes[0].data_dir.join("admin.token")).unwrap();
    for t in &nodes[1..] {
        std::fs::write(t.data_dir.join("admin.token"), &token).unwrap();
    }
}

fn until(t: &Turnout, name: &str, want: &str) {
    let end = Instant::now() + Duration::from_secs(5);
    loop {
        let got = dns_tool("dig", t.dns, &["+short", name, "A"]).trim().to_owned();
        if got == want {
            return;
        }
        assert!(Instant::now() < end, "{name} answers {got:?}, not {want:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn nodes_on_one_etcd_cluster_answer_the_same() {
    let etcd = Etcd::start(3);
    let dirs = tempfile::tempdir().unwrap();
    let nodes: Vec<Turnout> =
        ["a", "b", "c"].iter().map(|n| node(&etcd, &dirs.path().join(n))).collect();
    let file = dirs.path().join("site.yaml");
    std::fs::write(
        &file,
        r#"
control_panels:
  - name: main
    controls: [east, west]
    rules:
      - { name: keep-one, type: assertion, controls: [east, west], rule: { kind: atleast, threshold: 1 }, wait_period: 0s }
health_checks:
  - { name: east, type: control, control: main/east }
zones:
  - name: cl.test
    records:
      - { name: www, type: A, ttl: 60, set_id: east, failover: primary, health_check: east, values: [192.0.2.1] }
      - { name: www, type: A, ttl: 60, set_id: west, failover: secondary, values: [192.0.2.2] }
"#,
    )
    .unwrap();
    // Reads need a token too: every node's CLI gets the one the first node made.
    share_token(&nodes);
    // Every node registers itself.
    until_nodes(&nodes[1], 3, Duration::from_secs(10));
    // Through node a (its data directory holds the admin token the first node made): INSYNC
    // means all three serve it, so each answers it at once.
    let applied = ok(&nodes[0], &["apply", "-f", file.to_str().unwrap(), "--yes"]);
    assert!(applied.contains(" INSYNC"), "{applied}");
    for t in &nodes {
        assert_eq!(dns_tool("dig", t.dns, &["+short", "www.cl.test", "A"]).trim(), "192.0.2.2");
    }
    // A control flipped through a's routing-control API moves every node's answer.
    ok(&nodes[0], &["control", "set", "main/east", "on", "--reason", "east is up"]);
    for t in &nodes {
        until(t, "www.cl.test", "192.0.2.1");
    }
    // Each node reports the revision it serves through its registration, so a's view of the
    // others' lag catches up a moment after their answers moved.
    until_cli(&nodes[0], &["cluster", "status"], Duration::from_secs(10), |status| {
        status.matches("(lag 0)").count() == 3
    });
    // Every node checks the cookies the others make: one secret, shared through the store.
    let first = dns_tool("dig", nodes[0].dns, &["+cookie", "www.cl.test", "A"]);
    let line = first.lines().find(|l| l.starts_with("; COOKIE: ")).unwrap();
    let cookie = line["; COOKIE: ".len()..].split_whitespace().next().unwrap().to_owned();
    for t in &nodes[1..] {
        let again = dns_tool("dig", t.dns, &[&format!("+cookie={cookie}"), "www.cl.test", "A"]);
        assert!(again.contains(&format!("; COOKIE: {cookie} (good)")), "valid, kept: {again}");
    }
    let history = ok(&nodes[2], &["control", "history"]);
    assert!(history.contains("applied main by admin: east Off -> On (east is up)"), "{history}");
    // Concurrent flips sent to different nodes: with east and west on, "east off" through b
    // and "west off" through c race; keep-one lets exactly one through, every round.
    for round in 0..15 {
        ok(&nodes[0], &["control", "set", "main/east", "on", "--reason", "reset"]);
        ok(&nodes[0], &["control", "set", "main/west", "on", "--reason", "reset"]);
        let (east, west) = std::thread::scope(|s| {
            let east = s.spawn(|| {
                nodes[1].cli(&["control", "set", "main/east", "off", "--reason", "drain east"])
            });
            let west = s.spawn(|| {
                nodes[2].cli(&["control", "set", "main/west", "off", "--reason", "drain west"])
            });
            (east.join().unwrap(), west.join().unwrap())
        });
        let passed = [east.status.success(), west.status.success()];
        assert_eq!(
            passed.iter().filter(|p| **p).count(),
            1,
            "round {round}: {}\n{}",
            text(&east),
            text(&west)
        );
        let refused = if passed[0] { &west } else { &east };
        assert!(text(refused).contains("keep-one"), "round {round}: {}", text(refused));
        // The winning flip went through b or c: a lists it once its watch brings it.
        until_cli(&nodes[0], &["control", "list"], Duration::from_secs(5), |listed| {
            listed.matches(" On").count() == 1
        });
    }
    // A node that stops cleanly revokes its registration: the others drop it at once (well
    // within its lease's ten seconds), and changes are INSYNC without it.
    let mut nodes = nodes;
    let mut c = nodes.pop().unwrap();
    c.signal("TERM");
    assert!(c.wait_exit(Duration::from_secs(10)).is_some_and(|s| s.success()));
    until_nodes(&nodes[0], 2, Duration::from_secs(2));
    let upsert = ["record", "upsert", "cl.test", "new", "A", "--ttl", "60", "--value", "192.0.2.9"];
    let out = ok(&nodes[0], &upsert);
    assert!(out.contains("INSYNC"), "{out}");
}

/// Waits until `t` counts `n` registered nodes.
pub(crate) fn until_nodes(t: &Turnout, n: usize, deadline: Duration) -> String {
    until_cli(t, &["cluster", "status"], deadline, |status| {
        status.matches(" record written ").count() == n
    })
}

/// Runs the CLI against `t` until what it prints satisfies `holds`, at most `deadline`; what
/// it printed last.
fn until_cli(
    t: &Turnout,
    args: &[&str],
    deadline: Duration,
    holds: impl Fn(&str) -> bool,
) -> String {
    let end = Instant::now() + deadline;
    loop {
        let out = ok(t, args);
        if holds(&out) {
            return out;
        }
        assert!(Instant::now() < end, "{args:?} within {deadline:?}: {out}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The status line and body of `GET path` on `addr`.
fn get(addr: std::net::SocketAddr, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    text
}

fn until_ready(t: &Turnout, want: &str) -> String {
    let end = Instant::now() + Duration::from_secs(20);
    loop {
        let got = get(t.api.unwrap(), "/readyz");
        if got.contains(want) {
            return got;
        }
        assert!(Instant::now() < end, "readyz: {got}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_data_plane_outlives_the_store() {
    let mut etcd = Etcd::start(3);
    let dirs = tempfile::tempdir().unwrap();
    let mut nodes: Vec<Turnout> =
        ["a", "b", "c"].iter().map(|n| node(&etcd, &dirs.path().join(n))).collect();
    share_token(&nodes);
    let file = dirs.path().join("site.yaml");
    std::fs::write(
        &file,
        r#"
control_panels:
  - { name: main, controls: [east] }
health_checks:
  - { name: east, type: control, control: main/east }
zones:
  - name: st.test
    records:
      - { name: www, type: A, ttl: 60, values: [192.0.2.1] }
      - { name: fo, type: A, ttl: 60, set_id: east, failover: primary, health_check: east, values: [192.0.2.10] }
      - { name: fo, type: A, ttl: 60, set_id: west, failover: secondary, values: [192.0.2.20] }
"#,
    )
    .unwrap();
    ok(&nodes[0], &["apply", "-f", file.to_str().unwrap(), "--yes"]);
    // One member of three down: a change through b and a flip through c still commit, and
    // every node serves them.
    etcd.kill(0);
    let upsert = ["record", "upsert", "st.test", "www", "A", "--ttl", "60", "--value"];
    let out = ok(&nodes[1], &[&upsert[..], &["192.0.2.7"]].concat());
    assert!(out.contains("INSYNC"), "{out}");
    ok(&nodes[2], &["control", "set", "main/east", "on", "--reason", "east is back"]);
    for t in &nodes {
        until(t, "www.st.test", "192.0.2.7");
        until(t, "fo.st.test", "192.0.2.10");
    }
    // Each node keeps a local replica of the store, the change included once durable.
    for t in &nodes {
        assert!(t.wait_for_log("wrote the local replica of store revision"), "{}", t.log_text());
        let copy = t.data_dir.join("store-replica.redb");
        let holds = |bytes: Vec<u8>| bytes.windows(9).any(|w| w == b"192.0.2.7");
        let end = Instant::now() + Duration::from_secs(10);
        while !std::fs::read(&copy).is_ok_and(holds) {
            assert!(Instant::now() < end, "no local replica at {}", copy.display());
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    // Two members of three down: no quorum. A write fails within the request's deadline
    // (5 s), saying so plainly, instead of waiting out an election that cannot happen.
    etcd.kill(1);
    let started = Instant::now();
    let out = nodes[1].cli(&[&upsert[..], &["192.0.2.9"]].concat());
    let took = started.elapsed();
    assert!(!out.status.success(), "{}", text(&out));
    assert!(took < Duration::from_secs(9), "{took:?}: {}", text(&out));
    let said = text(&out);
    assert!(said.contains("StoreUnavailable") && !said.contains("MetadataMap"), "{said}");
    // The whole store down: every node answers on; readiness says why the API cannot change
    // anything.
    etcd.kill(2);
    for t in &nodes {
        until_ready(t, "store is unreachable");
        until(t, "www.st.test", "192.0.2.7");
        until(t, "fo.st.test", "192.0.2.10");
    }
    // A lease's time to live without renewing: b knows the others count it gone, and says so
    // (to an alert on its metrics too).
    until_isolated(&nodes[1], true);
    // Without the store, the nodes retry at their pace and idle meanwhile (a node that asked a
    // store refusing at once in a loop burned a core: well over 2 s of CPU in 3 s).
    let before: Vec<f64> = nodes.iter().map(|t| cpu_seconds(t.pid())).collect();
    std::thread::sleep(Duration::from_secs(3));
    for (t, before) in nodes.iter().zip(before) {
        let used = cpu_seconds(t.pid()) - before;
        assert!(used < 1.0, "{used:.2} s of CPU in 3 s without the store: {}", t.log_text());
    }
    let metrics = get(nodes[1].api.unwrap(), "/metrics");
    for series in
        ["turnout_cluster_isolated 1", "turnout_store_reachable 0", "turnout_cluster_nodes 3"]
    {
        assert!(metrics.contains(series), "{series}: {metrics}");
    }
    // A node restarted while the store is down answers from its local copy.
    let dir = nodes[0].data_dir.clone();
    stop(&mut nodes[0]);
    nodes[0] = node(&etcd, &dir);
    until(&nodes[0], "www.st.test", "192.0.2.7");
    until(&nodes[0], "fo.st.test", "192.0.2.10");
    let log = nodes[0].log_text();
    assert!(log.contains("starting from the local copy"), "{log}");
    assert!(!log.contains("serving the zone files only"), "it says what it serves: {log}");
    // The store back: the nodes follow it again.
    etcd.restart_stopped();
    for t in &nodes {
        until_ready(t, "ready: serving");
    }
    until_isolated(&nodes[1], false);
    ok(&nodes[0], &[&upsert[..], &["192.0.2.8"]].concat());
    for t in &nodes {
        until(t, "www.st.test", "192.0.2.8");
    }
    // A node restarted with the store up resumes from its replica and reads only the
    // changes since, a change made while it was down included.
    let dir = nodes[2].data_dir.clone();
    stop(&mut nodes[2]);
    ok(&nodes[0], &[&upsert[..], &["192.0.2.6"]].concat());
    nodes[2] = node(&etcd, &dir);
    until(&nodes[2], "www.st.test", "192.0.2.6");
    assert!(nodes[2].wait_for_log("resumed from the local replica at revision"));
    // Stopped cleanly right after two changes (the second is written to the replica lazily,
    // within a second of the first), it resumes from the revision it served: the replica's
    // last writes were made durable at the stop, not lost with it.
    ok(&nodes[0], &[&upsert[..], &["192.0.2.3"]].concat());
    ok(&nodes[0], &[&upsert[..], &["192.0.2.4"]].concat());
    until(&nodes[2], "www.st.test", "192.0.2.4");
    let metrics = get(nodes[2].api.unwrap(), "/metrics");
    let served: i64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("turnout_served_revision "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no turnout_served_revision: {metrics}"));
    nodes[2].signal("TERM");
    assert!(nodes[2].wait_exit(Duration::from_secs(15)).is_some(), "no clean stop");
    nodes[2] = node(&etcd, &dir);
    until(&nodes[2], "www.st.test", "192.0.2.4");
    assert!(nodes[2].wait_for_log("resumed from the local replica at revision"));
    let log = nodes[2].log_text();
    let resumed: i64 = log
        .split("resumed from the local replica at revision ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no revision: {log}"));
    assert!(resumed >= served, "resumed at {resumed}, had served {served}: {log}");
    // The store compacted past the replica: the node reads it whole.
    stop(&mut nodes[2]);
    ok(&nodes[0], &[&upsert[..], &["192.0.2.5"]].concat());
    etcd.compact();
    nodes[2] = node(&etcd, &dir);
    until(&nodes[2], "www.st.test", "192.0.2.5");
    let log = nodes[2].log_text();
    assert!(log.contains("no longer has the changes since the local replica"), "{log}");
    assert!(!log.contains("resumed from"), "{log}");
}

/// A start with the store unreachable and a local copy that cannot be read: the node answers
/// from its zone files as soon as the first load fails (it does not hold DNS for the store).
#[test]
fn a_start_without_the_store_and_an_unreadable_copy_serves_the_zone_files() {
    let dir = tempfile::tempdir().unwrap();
    let zone = dir.path().join("files.test.zone");
    std::fs::write(
        &zone,
        "$ORIGIN files.test.\n@ 60 SOA ns h 1 1 1 1 60\n@ 60 NS ns\nns 60 A 192.0.2.1\n",
    )
    .unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("store-replica.redb"), b"not a database").unwrap();
    let data = data.display().to_string();
    // Port 1 on loopback: nothing listens, every connection is refused.
    let t = Turnout::start(
        bin(),
        &[
            "serve",
            "--dns",
            "127.0.0.1:0",
            "--store",
            "etcd://127.0.0.1:1",
            "--data-dir",
            &data,
            "--zone-file",
            zone.to_str().unwrap(),
        ],
    );
    until(&t, "ns.files.test", "192.0.2.1");
    let log = t.log_text();
    assert!(log.contains("serving the zone files only until the store answers"), "{log}");
    assert!(!log.contains("is not served after"), "it did not wait out the bound: {log}");
}

/// The CPU time a process has used, user and system (proc(5): `utime` and `stime`, in clock
/// ticks).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    let out = std::process::Command::new("getconf").arg("CLK_TCK").output().unwrap();
    let per_second: f64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    ticks / per_second
}

/// Kills a node at once (as a crash does) and waits for it to exit.
fn stop(t: &mut Turnout) {
    t.signal("KILL");
    assert!(t.wait_exit(Duration::from_secs(10)).is_some(), "{} did not exit", t.pid());
}

/// Waits until `t` says whether it is cut off from the store (`isolated`).
fn until_isolated(t: &Turnout, want: bool) {
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        let view: serde_json::Value =
            serde_json::from_str(&ok(t, &["cluster", "status", "--output", "json"])).unwrap();
        if view["isolated"] == want {
            return;
        }
        assert!(Instant::now() < end, "isolated is not {want}: {view}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Applies, through `t`, an http check `web` of the target on `port` (every second, one
/// failure; `more` adds fields) and `fo.<zone>`: 192.0.2.10 while it is healthy, else
/// 192.0.2.20.
fn apply_checked_failover(t: &Turnout, dir: &std::path::Path, zone: &str, port: u16, more: &str) {
    let more = if more.is_empty() { String::new() } else { format!(", {more}") };
    let file = dir.join("site.yaml");
    std::fs::write(
        &file,
        format!(
            r#"
health_checks:
  - {{ name: web, type: http, ip: 127.0.0.1, port: {port}, interval: 1s, failure_threshold: 1{more} }}
zones:
  - name: {zone}
    records:
      - {{ name: fo, type: A, ttl: 60, set_id: one, failover: primary, health_check: web, values: [192.0.2.10] }}
      - {{ name: fo, type: A, ttl: 60, set_id: two, failover: secondary, values: [192.0.2.20] }}
"#
        ),
    )
    .unwrap();
    ok(t, &["apply", "-f", file.to_str().unwrap(), "--yes"]);
}

/// A check's status as node `t` judges it (JSON of `turnout check status`).
fn check_status(t: &Turnout, name: &str) -> serde_json::Value {
    let out = ok(t, &["check", "status", name, "--output", "json"]);
    serde_json::from_str(&out).unwrap()
}

/// What `t` knows of checker `who`'s observation of `name`.
fn observed_by(status: &serde_json::Value, who: &str) -> Option<String> {
    let checkers = status["checkers"].as_array()?;
    let c = checkers.iter().find(|c| c["checker"] == who)?;
    c["observed"].as_str().map(str::to_owned)
}

#[test]
fn checkers_decide_by_quorum() {
    let etcd = Etcd::start(3);
    let target = Backend::start(0);
    let dirs = tempfile::tempdir().unwrap();
    // Three checkers, each probing from its own loopback address.
    let names = ["qa", "qb", "qc"];
    let sources = ["127.0.0.2", "127.0.0.3", "127.0.0.4"];
    let nodes: Vec<Turnout> = names
        .iter()
        .zip(sources)
        .map(|(n, src)| {
            node_with(&etcd, &dirs.path().join(n), &["--node-name", n, "--probe-source", src])
        })
        .collect();
    share_token(&nodes);
    apply_checked_failover(&nodes[0], dirs.path(), "q.test", target.port, "");
    // Every node hears every checker's report.
    let wait_for = |t: &Turnout, what: &str, f: &dyn Fn(&serde_json::Value) -> bool| {
        let end = Instant::now() + Duration::from_secs(20);
        loop {
            let s = check_status(t, "web");
            if f(&s) {
                return;
            }
            assert!(Instant::now() < end, "{what}: {s}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    for t in &nodes {
        wait_for(t, "three healthy reports", &|s| {
            names.iter().all(|n| observed_by(s, n).as_deref() == Some("healthy"))
        });
        until(t, "fo.q.test", "192.0.2.10");
    }
    // One checker cannot reach the target: it says so, the others hear it, and nobody fails
    // over (1 of 3 healthy reports missing: 2 * 100 > 18 * 3).
    target.fail_for(&["127.0.0.2".parse().unwrap()]);
    for t in &nodes {
        wait_for(t, "qa's unhealthy report", &|s| {
            observed_by(s, "qa").as_deref() == Some("unhealthy")
        });
    }
    for t in &nodes {
        let s = check_status(t, "web");
        assert_eq!(s["status"], "healthy", "{s}");
        assert_eq!(dns_tool("dig", t.dns, &["+short", "fo.q.test", "A"]).trim(), "192.0.2.10");
    }
    // Route 53's HealthCheckPercentageHealthy: 2 of the 3 counted checkers.
    let metrics = get(nodes[1].api.unwrap(), "/metrics");
    assert!(
        metrics.contains("turnout_health_check_percentage_healthy{check=\"web\"} 66.6"),
        "{metrics}"
    );
    // No checker can: every node fails over, the same way.
    target.fail_for(&sources.map(|s| s.parse().unwrap()));
    for t in &nodes {
        until(t, "fo.q.test", "192.0.2.20");
    }
    let s = check_status(&nodes[1], "web");
    assert_eq!(s["status"], "unhealthy", "{s}");
    let reason = s["transitions"][0]["reason"].as_str().unwrap_or_default().to_owned();
    assert!(reason.contains("of 3 checkers report healthy"), "{reason}");
    // Back for qb and qc only: 2 of 3 healthy, every node answers with the primary again.
    target.fail_for(&["127.0.0.2".parse().unwrap()]);
    for t in &nodes {
        until(t, "fo.q.test", "192.0.2.10");
    }
    // Both qb's and qc's reports that it is healthy again have reached qa (a report written
    // before a node dies keeps counting until its registration expires).
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let s = check_status(&nodes[0], "web");
        let healthy = |who: &str| observed_by(&s, who).as_deref() == Some("healthy");
        if healthy("qb") && healthy("qc") {
            break;
        }
        assert!(Instant::now() < end, "{s}");
        std::thread::sleep(Duration::from_millis(50));
    }
    // qb and qc die without a word: their registrations expire (ten seconds unrenewed), their
    // reports stop counting, and qa, alone, goes by its own failing probes.
    let mut nodes = nodes;
    let mut qa = nodes.remove(0);
    for mut t in nodes {
        t.signal("KILL");
        t.wait_exit(Duration::from_secs(5));
    }
    until_nodes(&qa, 1, Duration::from_secs(20));
    let end = Instant::now() + Duration::from_secs(5);
    while dns_tool("dig", qa.dns, &["+short", "fo.q.test", "A"]).trim() != "192.0.2.20" {
        assert!(Instant::now() < end, "{}", check_status(&qa, "web"));
        std::thread::sleep(Duration::from_millis(50));
    }
    let s = check_status(&qa, "web");
    assert_eq!(s["transitions"][0]["reason"], "0 of 1 checkers report healthy", "{s}");
    qa.signal("TERM");
    qa.wait_exit(Duration::from_secs(10));
}

#[test]
fn checks_are_placed_by_region() {
    let etcd = Etcd::start(1);
    let target = Backend::start(0);
    let dirs = tempfile::tempdir().unwrap();
    // Two nodes in eu, one in us, each probing from its own loopback address.
    let names = ["pa", "pb", "pc"];
    let regions = ["eu", "eu", "us"];
    let sources = ["127.0.0.2", "127.0.0.3", "127.0.0.4"];
    let mut nodes: Vec<Turnout> = (0..3)
        .map(|i| {
            let args =
                ["--node-name", names[i], "--region", regions[i], "--probe-source", sources[i]];
            node_with(&etcd, &dirs.path().join(names[i]), &args)
        })
        .collect();
    share_token(&nodes);
    until_nodes(&nodes[0], 3, Duration::from_secs(10));
    apply_checked_failover(&nodes[0], dirs.path(), "p.test", target.port, "checkers_per_region: 1");
    // One eu checker and the us one probe it; every node sees the same two, and only them.
    let counted = |t: &Turnout| -> Vec<String> {
        let s = check_status(t, "web");
        let all = s["checkers"].as_array().cloned().unwrap_or_default();
        all.iter()
            .filter(|c| c["counted"] == true)
            .filter_map(|c| c["checker"].as_str().map(str::to_owned))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect()
    };
    let end = Instant::now() + Duration::from_secs(20);
    let placed = loop {
        let seen: Vec<Vec<String>> = nodes.iter().map(counted).collect();
        if seen[0].len() == 2 && seen.iter().all(|s| *s == seen[0]) {
            break seen[0].clone();
        }
        assert!(Instant::now() < end, "the nodes do not agree on two checkers: {seen:?}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(placed.contains(&"pc".to_owned()), "{placed:?}");
    let eu = if placed.contains(&"pa".to_owned()) { 0 } else { 1 };
    let idle = 1 - eu;
    assert!(!placed.contains(&names[idle].to_owned()), "{placed:?}");
    let s = check_status(&nodes[idle], "web");
    assert_eq!(s["results"].as_array().map(Vec::len), Some(0), "{} probed it: {s}", names[idle]);
    assert_eq!(s["placed_on"], serde_json::json!(placed), "{s}");
    let text = ok(&nodes[idle], &["check", "status", "web"]);
    let placed_line = format!("placed on: {}", placed.join(", "));
    assert!(text.contains(&placed_line), "{text}");
    assert!(text.contains("checkers: 2 of 2 counted report healthy"), "{text}");
    // Both of its checkers lose the target: every node fails over, though the idle node
    // could still reach it (it does not probe it).
    target.fail_for(&[sources[eu].parse().unwrap(), sources[2].parse().unwrap()]);
    for t in &nodes {
        until(t, "fo.p.test", "192.0.2.20");
    }
    // The eu checker leaves: the check moves to the other eu node, which reaches the target
    // (1 of 2 healthy > 18 %), and the two nodes left fail back.
    let mut leaving = nodes.remove(eu);
    leaving.signal("TERM");
    assert!(leaving.wait_exit(Duration::from_secs(10)).is_some());
    for t in &nodes {
        let end = Instant::now() + Duration::from_secs(15);
        while dns_tool("dig", t.dns, &["+short", "fo.p.test", "A"]).trim() != "192.0.2.10" {
            assert!(Instant::now() < end, "{}", check_status(t, "web"));
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let now = counted(&nodes[0]);
    assert_eq!(now, [names[idle], "pc"], "{now:?}");
}

#[test]
fn two_nodes_with_one_name_are_told_so() {
    let etcd = Etcd::start(1);
    let dirs = tempfile::tempdir().unwrap();
    let twins: Vec<Turnout> = ["x", "y"]
        .iter()
        .map(|d| node_with(&etcd, &dirs.path().join(d), &["--node-name", "twin"]))
        .collect();
    let end = Instant::now() + Duration::from_secs(20);
    while !twins.iter().any(|t| t.log_text().contains("another process registers as node \"twin\""))
    {
        assert!(Instant::now() < end, "{}\n{}", twins[0].log_text(), twins[1].log_text());
        std::thread::sleep(Duration::from_millis(100));
    }
    // They share one record, which keeps being written (not deleted), at most once a renewal.
    let status = ok(&twins[0], &["cluster", "status"]);
    assert_eq!(status.matches(" record written ").count(), 1, "{status}");
}

/// The DNS door in a cluster: a TSIG key and update rules made through one node, an RFC 2136
/// update sent to another, the change answered by both and in the audit; IXFR from the first
/// node carries it (its journal follows the store's watch).
#[test]
fn any_node_takes_signed_updates_and_serves_their_ixfr() {
    const SECRET: &str = "dHVybm91dC1jbHVzdGVyLXVwZGF0ZS1zZWNyZXQtMzI=";
    let key = format!("hmac-sha256:upd.key:{SECRET}");
    let etcd = Etcd::start(1);
    let dirs = tempfile::tempdir().unwrap();
    let nodes: Vec<Turnout> =
        ["a", "b"].iter().map(|n| node(&etcd, &dirs.path().join(n))).collect();
    share_token(&nodes);
    until_nodes(&nodes[1], 2, Duration::from_secs(10));
    let (a, b) = (&nodes[0], &nodes[1]);
    ok(a, &["zone", "create", "up.test"]);
    let secret = dirs.path().join("upd.secret");
    std::fs::write(&secret, SECRET).unwrap();
    ok(a, &["tsig-key", "create", "upd.key", "--secret-file", secret.to_str().unwrap()]);
    ok(a, &["zone", "updates", "up.test", "--allow", "upd.key:*:TXT"]);
    ok(a, &["zone", "transfers", "up.test", "--allow-key", "upd.key"]);
    let serial = |t: &Turnout| {
        let out = dns_tool("dig", t.dns, &["+short", "up.test", "SOA"]);
        out.split_whitespace().nth(2).and_then(|s| s.parse::<u32>().ok()).unwrap_or(0)
    };
    let before = serial(a);
    assert!(before > 0);

    let mut nsupdate = std::process::Command::new("nsupdate")
        .args(["-y", &key])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("nsupdate runs (the README test command installs it)");
    let script = format!(
        "server {} {}\nzone up.test.\nupdate add note.up.test. 60 TXT \"via b\"\nsend\n",
        b.dns.ip(),
        b.dns.port()
    );
    std::io::Write::write_all(&mut nsupdate.stdin.take().unwrap(), script.as_bytes()).unwrap();
    let out = nsupdate.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for t in &nodes {
        let end = Instant::now() + Duration::from_secs(5);
        while !dns_tool("dig", t.dns, &["+short", "note.up.test", "TXT"]).contains("via b") {
            assert!(Instant::now() < end, "node {} never answered the update", t.dns);
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    let ixfr = dns_tool("dig", a.dns, &["-y", &key, "up.test", &format!("IXFR={before}")]);
    assert!(ixfr.contains("via b") && ixfr.matches("\tSOA\t").count() >= 3, "{ixfr}");
    let audit = ok(a, &["audit", "--by", "tsig:upd.key."]);
    assert!(audit.contains("DNS UPDATE up.test."), "{audit}");
}

/// A `current-answers` zone in a cluster: both nodes transfer the same content under the same
/// serial, and a failover both see is one serial more, recorded once (the nodes agree through
/// the store's view record), not once per node.
#[test]
fn nodes_agree_on_the_serial_of_the_current_answers() {
    let etcd = Etcd::start(1);
    let target = Backend::start(0);
    let dirs = tempfile::tempdir().unwrap();
    let nodes: Vec<Turnout> =
        ["a", "b"].iter().map(|n| node(&etcd, &dirs.path().join(n))).collect();
    share_token(&nodes);
    until_nodes(&nodes[1], 2, Duration::from_secs(10));
    apply_checked_failover(&nodes[0], dirs.path(), "cv.test", target.port, "");
    ok(
        &nodes[0],
        &[
            "zone",
            "transfers",
            "cv.test",
            "--allow-prefix",
            "127.0.0.0/8",
            "--policy-mode",
            "current-answers",
        ],
    );
    // The zone as each node transfers it: its serial, and its records sorted.
    let axfr = |t: &Turnout| -> (u32, Vec<String>) {
        let out = dns_tool("dig", t.dns, &["+tcp", "+nocmd", "+nostats", "cv.test", "AXFR"]);
        let mut lines: Vec<String> = out
            .lines()
            .filter(|l| !l.starts_with(';') && !l.trim().is_empty())
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        let serial = lines
            .iter()
            .find(|l| l.contains(" SOA "))
            .and_then(|l| l.split_whitespace().nth(6))
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        lines.sort();
        lines.dedup();
        (serial, lines)
    };
    let agreed = |want: &str| -> (u32, Vec<String>) {
        let end = Instant::now() + Duration::from_secs(10);
        loop {
            let (a, b) = (axfr(&nodes[0]), axfr(&nodes[1]));
            if a == b
                && a.0 > 0
                && a.1.iter().any(|l| l.starts_with("fo.cv.test.") && l.ends_with(want))
            {
                return a;
            }
            assert!(Instant::now() < end, "the nodes transfer {a:?} and {b:?}, not fo = {want}");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let (before, content) = agreed("192.0.2.10");
    assert_eq!(content.iter().filter(|l| l.starts_with("fo.cv.test.")).count(), 1, "{content:?}");
    target.fail_for(&["127.0.0.1".parse().unwrap()]);
    let (after, content) = agreed("192.0.2.20");
    assert_eq!(after, before.wrapping_add(1), "one failover, one serial: {content:?}");
    // Both nodes' data planes serve that serial too.
    for t in &nodes {
        let soa = dns_tool("dig", t.dns, &["+short", "cv.test", "SOA"]);
        assert_eq!(soa.split_whitespace().nth(2), Some(after.to_string().as_str()), "{soa}");
    }
}
