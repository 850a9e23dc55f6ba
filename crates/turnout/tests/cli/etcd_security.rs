//! Nodes on an etcd cluster that speaks only TLS and asks clients for certificates: a change
//! through one node is served by the others; a node with a certificate from another CA, or
//! trusting another CA, does not start and says why. And etcd's own users: a node with the
//! right password serves, one with a wrong password does not start.

use std::path::Path;
use std::time::Duration;

use turnout_testkit::etcd::{Etcd, EtcdClientFiles};
use turnout_testkit::process::{Turnout, dns_tool, poll};
use turnout_testkit::tls::TestCa;

use crate::{bin, ok, text};

fn config(dir: &Path, name: &str, etcd: &Etcd, section: &str) -> std::path::PathBuf {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, format!("store = {:?}\n[etcd]\n{section}", etcd.url())).unwrap();
    path
}

fn tls_section(files: &EtcdClientFiles) -> String {
    format!("ca = {:?}\ncert = {:?}\nkey = {:?}\n", files.ca, files.cert, files.key)
}

fn node(config: &Path, data: &Path) -> Turnout {
    let (config, data) = (config.display().to_string(), data.display().to_string());
    Turnout::start(
        bin(),
        &[
            "serve",
            "--dns",
            "127.0.0.1:0",
            "--udp-workers",
            "1",
            "--config",
            &config,
            "--data-dir",
            &data,
        ],
    )
}

/// `turnout serve` that must fail at start: its exit code and everything it printed.
fn refused(config: &Path, data: &Path) -> (Option<i32>, String) {
    let out = std::process::Command::new(bin())
        .args([
            "serve",
            "--dns",
            "127.0.0.1:0",
            "--api",
            "127.0.0.1:0",
            "--controls",
            "127.0.0.1:0",
        ])
        .arg("--config")
        .arg(config)
        .arg("--data-dir")
        .arg(data)
        .output()
        .unwrap();
    (out.status.code(), text(&out))
}

#[test]
fn nodes_on_a_tls_etcd_with_client_certificates_serve_the_same_and_strangers_are_refused() {
    let etcd = Etcd::start_tls(3);
    let dir = tempfile::tempdir().unwrap();
    let good = tls_section(&etcd.client_files("turnout", true));
    let nodes: Vec<Turnout> = ["a", "b"]
        .iter()
        .map(|n| node(&config(dir.path(), n, &etcd, &good), &dir.path().join(n)))
        .collect();
    crate::cluster::share_token(&nodes);
    let zone = dir.path().join("z.yaml");
    std::fs::write(
        &zone,
        "zones:\n  - name: tls.test\n    records:\n      - { name: www, type: A, ttl: 60, values: [192.0.2.7] }\n",
    )
    .unwrap();
    let applied = ok(&nodes[0], &["apply", "-f", zone.to_str().unwrap(), "--yes"]);
    assert!(applied.contains(" INSYNC"), "{applied}");
    for t in &nodes {
        let served = poll(Duration::from_secs(10), || {
            (dns_tool("dig", t.dns, &["+short", "www.tls.test", "A"]).trim() == "192.0.2.7")
                .then_some(())
        });
        assert!(served.is_some(), "node {} serves the change", t.dns);
    }

    // A client certificate from another CA: etcd refuses the handshake.
    let stranger = tls_section(&etcd.client_files("mallory", false));
    let (code, log) = refused(&config(dir.path(), "s", &etcd, &stranger), &dir.path().join("s"));
    assert_eq!(code, Some(1), "{log}");
    assert!(log.contains("cannot use the store"), "{log}");
    assert!(log.contains("certificate") || log.contains("alert"), "names the cause: {log}");
    // Trusting another CA: etcd's own certificate is refused.
    let files = etcd.client_files("turnout2", true);
    let other_ca = TestCa::new("not etcd's").write(dir.path(), "other-ca");
    let wrong_ca = tls_section(&EtcdClientFiles { ca: other_ca, ..files.clone() });
    let (code, log) = refused(&config(dir.path(), "w", &etcd, &wrong_ca), &dir.path().join("w"));
    assert_eq!(code, Some(1), "{log}");
    assert!(log.contains("UnknownIssuer") || log.contains("invalid peer certificate"), "{log}");
    // Plain http to a TLS cluster is refused at once, before any connection.
    let (code, log) = refused(&config(dir.path(), "p", &etcd, ""), &dir.path().join("p"));
    assert_eq!(code, Some(1), "{log}");
    let missing = format!("ca = {:?}\n", dir.path().join("nope.pem"));
    let (code, log) = refused(&config(dir.path(), "m", &etcd, &missing), &dir.path().join("m"));
    assert_eq!(code, Some(1), "{log}");
    assert!(log.contains("etcd CA file") && log.contains("nope.pem"), "{log}");
}

#[test]
fn an_etcd_user_and_password_are_used_and_a_wrong_password_is_refused() {
    let etcd = Etcd::start(1);
    let url = etcd.url().replace("etcd://", "http://");
    // etcd's users: root, and turnout with read-write on Turnout's keys.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let mut c = etcd_client::Client::connect([url.as_str()], None).await.unwrap();
        c.user_add("root", "root-secret", None).await.unwrap();
        c.user_grant_role("root", "root").await.unwrap();
        c.role_add("turnout").await.unwrap();
        let all = etcd_client::Permission::read_write("/turnout").with_prefix();
        c.role_grant_permission("turnout", all).await.unwrap();
        c.user_add("turnout", "right-password", None).await.unwrap();
        c.user_grant_role("turnout", "turnout").await.unwrap();
        c.auth_enable().await.unwrap();
    });
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("right"), "right-password\n").unwrap();
    std::fs::write(dir.path().join("wrong"), "wrong-password\n").unwrap();
    let section =
        |file: &str| format!("user = \"turnout\"\npassword_file = {:?}\n", dir.path().join(file));
    let t = node(&config(dir.path(), "a", &etcd, &section("right")), &dir.path().join("a"));
    let out = ok(&t, &["zone", "create", "auth.test"]);
    assert!(out.contains("created auth.test."), "{out}");
    let (code, log) =
        refused(&config(dir.path(), "b", &etcd, &section("wrong")), &dir.path().join("b"));
    assert_eq!(code, Some(1), "{log}");
    assert!(log.contains("authentication failed"), "names the cause: {log}");
}
