//! Both APIs over HTTPS from the config file, as an operator runs them: the CLI with `--cacert`
//! (refused without it), client certificates on the routing-control API, a SIGHUP that swaps
//! the certificate, and a plaintext API on a non-loopback address refused at start.

use std::path::Path;
use std::time::Duration;

use turnout_testkit::process::poll;
use turnout_testkit::tls::TestCa;

use crate::{bin, start_with_config, text};

fn write_config(dir: &Path) -> std::path::PathBuf {
    let config = dir.join("turnout.toml");
    std::fs::write(
        &config,
        "[api]\n[api.tls]\ncert = \"api.crt\"\nkey = \"api.key\"\n\
         [api.controls_tls]\ncert = \"api.crt\"\nkey = \"api.key\"\nclient_ca = \"clients.pem\"\n",
    )
    .unwrap();
    config
}

#[test]
fn both_apis_serve_https_the_cli_verifies_and_sighup_swaps_the_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, clients, renewed_ca) =
        (TestCa::new("Test CA"), TestCa::new("Client CA"), TestCa::new("Renewed CA"));
    ca.server("api").write(dir.path(), "api");
    let ca_file = ca.write(dir.path(), "ca").display().to_string();
    clients.write(dir.path(), "clients");
    let (cert, key) = clients.client("operator").write(dir.path(), "operator");
    let (cert, key) = (cert.display().to_string(), key.display().to_string());
    let config = write_config(dir.path());
    let t = start_with_config(&config, &dir.path().join("data"));
    assert!(t.api_url().starts_with("https://"), "{}", t.api_url());
    assert!(t.controls_url().starts_with("https://"), "{}", t.controls_url());

    let out = t.cli(&["zone", "create", "tls.test", "--cacert", &ca_file]);
    assert!(out.status.success(), "{}", text(&out));
    let out = t.cli(&["zone", "list", "--cacert", &ca_file]);
    assert!(text(&out).contains("tls.test."), "{}", text(&out));
    // The system's trust store does not know the test CA.
    let out = t.cli(&["zone", "list"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("certificate"), "{}", text(&out));

    // The routing-control API asks for a client certificate from its CA.
    let with_cert = ["--cacert", &ca_file, "--cert", &cert, "--key", &key];
    let out = t.cli(&[&["control", "list"][..], &with_cert].concat());
    assert!(out.status.success(), "{}", text(&out));
    let out = t.cli(&["control", "list", "--cacert", &ca_file]);
    assert_eq!(out.status.code(), Some(3), "no client certificate: {}", text(&out));
    let (stranger, stranger_key) =
        TestCa::new("Stranger").client("mallory").write(dir.path(), "mallory");
    let (stranger, stranger_key) =
        (stranger.display().to_string(), stranger_key.display().to_string());
    let wrong = ["--cacert", &ca_file, "--cert", &stranger, "--key", &stranger_key];
    let out = t.cli(&[&["control", "list"][..], &wrong].concat());
    assert_eq!(out.status.code(), Some(3), "a certificate from another CA: {}", text(&out));
    let out = t.cli(&["control", "list", "--cacert", &ca_file, "--cert", &cert]);
    assert_eq!(out.status.code(), Some(2), "--cert needs --key: {}", text(&out));

    // SIGHUP: new connections get the renewed certificate.
    renewed_ca.server("api").write(dir.path(), "api");
    let renewed = renewed_ca.write(dir.path(), "renewed").display().to_string();
    t.signal("HUP");
    let served = poll(Duration::from_secs(10), || {
        let out = t.cli(&["zone", "list", "--cacert", &renewed]);
        out.status.success().then_some(())
    });
    assert!(served.is_some(), "the renewed certificate was never served; log:\n{}", t.log_text());
    assert!(t.wait_for_log("reloaded the API certificate"), "{}", t.log_text());
    let out = t.cli(&["zone", "list", "--cacert", &ca_file]);
    assert_eq!(out.status.code(), Some(3), "the old certificate is gone: {}", text(&out));
    // A broken key on reload keeps the certificate in use.
    std::fs::write(dir.path().join("api.key"), "garbage").unwrap();
    t.signal("HUP");
    assert!(t.wait_for_log("API certificate not reloaded"), "{}", t.log_text());
    let out = t.cli(&["zone", "list", "--cacert", &renewed]);
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn plaintext_on_a_non_loopback_address_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data").display().to_string();
    let out = std::process::Command::new(bin())
        .args(["serve", "--dns", "127.0.0.1:0", "--api", "0.0.0.0:0", "--data-dir", &data])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("config field api.listen: 0.0.0.0:0 is not a loopback"),
        "{}",
        text(&out)
    );
    assert!(!dir.path().join("data").exists(), "nothing was created");
    // The same with TLS files that do not exist: named, and nothing started.
    let config = write_config(dir.path());
    let out = std::process::Command::new(bin())
        .args(["serve", "--check-config", "--config", &config.display().to_string()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("config field api.tls: certificate"), "{}", text(&out));
    assert!(text(&out).contains("api.crt"), "{}", text(&out));
}
