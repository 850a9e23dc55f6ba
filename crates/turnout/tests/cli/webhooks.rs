//! Signed webhooks, end to end: the example receiver (Python's own HMAC, over HTTPS with a
//! test CA) verifies a real delivery and refuses the same delivery with a tampered body; a
//! node that does not trust the receiver's CA does not deliver to it.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use turnout_testkit::process::poll;
use turnout_testkit::tls::TestCa;

use crate::{example, ok, start_with_config, text};

/// `examples/webhook-receiver.py` over HTTPS, with the lines it prints.
struct Receiver {
    child: Child,
    port: u16,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Receiver {
    fn start(secret: &std::path::Path, cert: &std::path::Path, key: &std::path::Path) -> Receiver {
        let mut child = Command::new("python3")
            .arg(example("webhook-receiver.py"))
            .args([secret, std::path::Path::new("0"), cert, key])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                sink.lock().unwrap().push(line);
            }
        });
        let port = poll(Duration::from_secs(10), || {
            lines.lock().unwrap().iter().find_map(|l| l.strip_prefix("listening on ")?.parse().ok())
        })
        .expect("the receiver did not start");
        Receiver { child, port, lines }
    }

    /// The requests it got, as printed.
    fn requests(&self) -> Vec<Value> {
        let lines = self.lines.lock().unwrap();
        lines.iter().filter_map(|l| serde_json::from_str(l).ok()).collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const FAILING_CHECK: &str = "health_checks:\n  - { name: down, type: tcp, ip: 127.0.0.1, port: 9, interval: 100ms, failure_threshold: 1 }\n";

#[test]
fn a_receiver_verifies_signed_https_deliveries_and_refuses_a_tampered_body() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("Receiver CA");
    let (cert, key) = ca.server("receiver").write(dir.path(), "receiver");
    let ca_file = ca.write(dir.path(), "ca");
    let secret = dir.path().join("webhook.secret");
    std::fs::write(&secret, "correct horse battery staple\n").unwrap();
    let receiver = Receiver::start(&secret, &cert, &key);
    let config = dir.path().join("turnout.toml");
    std::fs::write(
        &config,
        format!(
            "[health]\nwebhook = \"https://127.0.0.1:{}/hook\"\nwebhook_ca = \"ca.pem\"\nwebhook_secret_file = \"webhook.secret\"\n",
            receiver.port
        ),
    )
    .unwrap();
    let t = start_with_config(&config, &dir.path().join("data"));
    let checks = dir.path().join("checks.yaml");
    std::fs::write(&checks, FAILING_CHECK).unwrap();
    ok(&t, &["apply", "-f", checks.to_str().unwrap(), "--yes"]);
    let delivered = poll(Duration::from_secs(10), || receiver.requests().into_iter().next());
    let delivered =
        delivered.unwrap_or_else(|| panic!("nothing delivered; log:\n{}", t.log_text()));
    assert_eq!(delivered["verified"], true, "{delivered}");
    let body: Value = serde_json::from_str(delivered["body"].as_str().unwrap()).unwrap();
    assert_eq!((body["check"].as_str(), body["to"].as_str()), (Some("down"), Some("unhealthy")));
    assert_eq!(body["id"], delivered["headers"]["turnout-event-id"]);
    assert!(!dir.path().join("data/webhook.secret").exists(), "the configured secret is used");

    // The same headers with another body: refused.
    let tampered = delivered["body"].as_str().unwrap().replace("unhealthy", "healthy");
    let mut curl = Command::new("curl");
    curl.args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"]).arg(&ca_file);
    for name in ["turnout-timestamp", "turnout-signature", "turnout-event-id"] {
        curl.args(["-H", &format!("{name}: {}", delivered["headers"][name].as_str().unwrap())]);
    }
    let url = format!("https://127.0.0.1:{}/hook", receiver.port);
    let out = curl
        .args(["-H", "Content-Type: application/json", "--data-binary", &tampered, &url])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "401", "{}", text(&out));
    // The receiver's line for it may come after another genuine delivery, and is read by a
    // thread of its own: wait for it.
    let refused = poll(Duration::from_secs(10), || {
        receiver.requests().into_iter().find(|r| r["verified"].as_bool() == Some(false))
    })
    .expect("the receiver printed the refused request");
    assert_eq!(refused["body"].as_str(), Some(tampered.as_str()));
}

#[test]
fn an_https_receiver_is_verified_and_the_default_secret_is_made_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("Unknown CA");
    let (cert, key) = ca.server("receiver").write(dir.path(), "receiver");
    let secret = dir.path().join("s");
    std::fs::write(&secret, "x\n").unwrap();
    let receiver = Receiver::start(&secret, &cert, &key);
    let config = dir.path().join("turnout.toml");
    let url = format!("https://127.0.0.1:{}/hook", receiver.port);
    std::fs::write(&config, format!("[health]\nwebhook = \"{url}\"\n")).unwrap();
    let t = start_with_config(&config, &dir.path().join("data"));
    let made = dir.path().join("data/webhook.secret");
    let mode = std::fs::metadata(&made).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert_eq!(std::fs::read_to_string(&made).unwrap().trim().len(), 64, "32 random bytes, hex");
    let checks = dir.path().join("checks.yaml");
    std::fs::write(&checks, FAILING_CHECK).unwrap();
    ok(&t, &["apply", "-f", checks.to_str().unwrap(), "--yes"]);
    // The system's trust store does not know the receiver's CA: no request gets through.
    assert!(t.wait_for_log(&format!("webhook {url}: ")), "{}", t.log_text());
    let log = t.log_text();
    assert!(log.contains("certificate") || log.contains("UnknownIssuer"), "{log}");
    assert!(receiver.requests().is_empty(), "{:?}", receiver.requests());
}
