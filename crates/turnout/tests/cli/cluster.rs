//! Two Turnout nodes sharing one real etcd cluster (three members on loopback): a change made
//! through one node is answered by the other, and a routing control flipped on one moves the
//! other's answers.

use std::time::{Duration, Instant};

use turnout_testkit::etcd::Etcd;
use turnout_testkit::process::{Turnout, dns_tool};

use crate::{bin, ok};

fn node(etcd: &Etcd, dir: &std::path::Path) -> Turnout {
    let data = dir.display().to_string();
    let url = etcd.url();
    Turnout::start(
        bin(),
        &[
            "serve",
            "--dns",
            "127.0.0.1:0",
            "--udp-workers",
            "1",
            "--store",
            &url,
            "--data-dir",
            &data,
        ],
    )
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
    let a = node(&etcd, &dirs.path().join("a"));
    let b = node(&etcd, &dirs.path().join("b"));
    let file = dirs.path().join("site.yaml");
    std::fs::write(
        &file,
        r#"
control_panels:
  - { name: main, controls: [east, west] }
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
    // Both nodes report themselves.
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let status = ok(&b, &["cluster", "status"]);
        if status.matches(" live ").count() == 2 {
            break;
        }
        assert!(Instant::now() < end, "{status}");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Through node a (its data directory holds the admin token the first node made): INSYNC
    // means both nodes serve it.
    let applied = ok(&a, &["apply", "-f", file.to_str().unwrap(), "--yes"]);
    assert!(applied.contains(" INSYNC"), "{applied}");
    // ... node b answers it, from the same store.
    until(&b, "www.cl.test", "192.0.2.2");
    // A control flipped through a's routing-control API moves b's answer too.
    ok(&a, &["control", "set", "main/east", "on", "--reason", "east is up"]);
    until(&b, "www.cl.test", "192.0.2.1");
    until(&a, "www.cl.test", "192.0.2.1");
    let status = ok(&a, &["cluster", "status"]);
    assert!(status.contains("(lag 0)"), "{status}");
    let history = ok(&a, &["control", "history"]);
    assert!(history.contains("applied main by admin: east Off -> On (east is up)"), "{history}");
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
    let data = dirs.path().join("a");
    let a = node(&etcd, &data);
    ok(&a, &["zone", "create", "st.test"]);
    ok(&a, &["record", "upsert", "st.test", "www", "A", "--ttl", "60", "--value", "192.0.2.1"]);
    // One member of three down: changes still commit and are served.
    etcd.kill(0);
    let out =
        ok(&a, &["record", "upsert", "st.test", "www", "A", "--ttl", "60", "--value", "192.0.2.7"]);
    assert!(out.contains("INSYNC"), "{out}");
    until(&a, "www.st.test", "192.0.2.7");
    // The node keeps a local copy of the configuration.
    let copy = data.join("store-copy.json");
    let end = Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(&copy).is_ok_and(|t| t.contains("192.0.2.7")) {
        assert!(Instant::now() < end, "no local copy at {}", copy.display());
        std::thread::sleep(Duration::from_millis(50));
    }
    // The whole store down: DNS answers on, readiness says why the API cannot change anything.
    etcd.kill(1);
    etcd.kill(2);
    until_ready(&a, "store is unreachable");
    until(&a, "www.st.test", "192.0.2.7");
    // A node restarted while the store is down answers from its local copy.
    drop(a);
    let a = node(&etcd, &data);
    until(&a, "www.st.test", "192.0.2.7");
    assert!(a.log_text().contains("starting from the local copy"), "{}", a.log_text());
    // The store back: the node follows it again.
    etcd.restart_stopped();
    until_ready(&a, "ready: serving");
    ok(&a, &["record", "upsert", "st.test", "www", "A", "--ttl", "60", "--value", "192.0.2.8"]);
    until(&a, "www.st.test", "192.0.2.8");
}
