//! Zone transfers with real peers (docs/transfers.md): `kdig` and `dig` asking for AXFR and
//! IXFR with and without TSIG, and Knot (`knotd`, Debian's knot package, which the test
//! command installs) as a secondary of Turnout: AXFR first, then every API change by NOTIFY and
//! IXFR.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use turnout_testkit::process::{DEADLINE, Turnout, poll};

use super::bin;

pub(super) const SECRET: &str = "dHVybm91dC10cmFuc2Zlci10ZXN0LXNlY3JldC0zMmI=";
pub(super) const KEY: &str =
    "hmac-sha256:xfr.test.key:dHVybm91dC10cmFuc2Zlci10ZXN0LXNlY3JldC0zMmI=";

pub(super) fn ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A node with the zone `xfr.test` (a few records), the TSIG key `xfr.test.key` and `extra`
/// transfer settings.
pub(super) fn node_with_zone(transfers: &[&str]) -> Turnout {
    let t = Turnout::start(bin(), &["serve", "--dns", "127.0.0.1:0", "--udp-workers", "1"]);
    set_up_zone(&t, transfers);
    t
}

/// On `t`: the zone `xfr.test` (a few records), the TSIG key `xfr.test.key` and `transfers`
/// settings.
fn set_up_zone(t: &Turnout, transfers: &[&str]) {
    ok(&t.cli(&["zone", "create", "xfr.test"]));
    for (name, value) in [("www", "192.0.2.1"), ("mail", "192.0.2.25")] {
        ok(&t.cli(&["record", "upsert", "xfr.test", name, "A", "--ttl", "300", "--value", value]));
    }
    let secret = t.data_dir.join("xfr.secret");
    std::fs::write(&secret, SECRET).expect("write the secret");
    let secret = secret.display().to_string();
    ok(&t.cli(&["tsig-key", "create", "xfr.test.key", "--secret-file", &secret]));
    let mut args = vec!["zone", "transfers", "xfr.test"];
    args.extend_from_slice(transfers);
    ok(&t.cli(&args));
}

/// Adds the failover group `fo.xfr.test A` (a primary and a secondary record set).
pub(super) fn add_failover_group(t: &Turnout) {
    for (id, role, value) in [("a", "primary", "192.0.2.10"), ("b", "secondary", "192.0.2.11")] {
        let args = ["record", "upsert", "xfr.test", "fo", "A", "--ttl", "60", "--set-id", id];
        let mut args = args.to_vec();
        args.extend(["--failover", role, "--value", value]);
        ok(&t.cli(&args));
    }
}

/// Runs kdig against `server`: what it printed (stdout and stderr), whether it failed or not.
pub(super) fn kdig(server: SocketAddr, args: &[&str]) -> String {
    let out = Command::new("kdig")
        .arg(format!("@{}", server.ip()))
        .args(["-p", &server.port().to_string(), "+time=3", "+retry=0"])
        .args(args)
        .output()
        .expect("kdig runs (the README test command installs it)");
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn serial_of(t: &Turnout) -> u32 {
    let info: serde_json::Value =
        serde_json::from_str(&ok(&t.cli(&["zone", "get", "xfr.test", "--output", "json"])))
            .expect("json");
    info["serial"].as_u64().expect("a serial") as u32
}

/// Changes `www.xfr.test A` to 192.0.2.2; the serials before and after, once served.
fn change_www(t: &Turnout) -> (u32, u32) {
    let before = serial_of(t);
    let args = ["record", "upsert", "xfr.test", "www", "A", "--ttl", "300", "--value"];
    ok(&t.cli(&[&args[..], &["192.0.2.2"]].concat()));
    let after = poll(DEADLINE, || Some(serial_of(t)).filter(|s| *s != before)).expect("bumped");
    (before, after)
}

/// The test's TSIG key (`KEY`), for Turnout's own transfer client.
fn test_key() -> turnout_dns::tsig::Key {
    turnout_dns::tsig::Key::new(
        turnout_model::Name::parse_absolute("xfr.test.key.").expect("a name"),
        turnout_dns::tsig::Algorithm::HmacSha256,
        &data_encoding::BASE64.decode(SECRET.as_bytes()).expect("base64"),
    )
}

/// AXFR with the key: every record between two SOAs, each message's TSIG verified by kdig.
/// Without the key, or with a wrong secret, the transfer is refused and says why.
#[test]
fn axfr_and_ixfr_need_the_key_and_are_signed() {
    let t = node_with_zone(&["--allow-key", "xfr.test.key"]);
    let axfr = kdig(t.dns, &["-y", KEY, "xfr.test", "AXFR"]);
    assert!(axfr.contains("www.xfr.test.") && axfr.contains("192.0.2.1"), "{axfr}");
    assert!(axfr.contains("mail.xfr.test.") && axfr.contains("192.0.2.25"), "{axfr}");
    assert_eq!(axfr.matches("\tSOA\t").count(), 2, "SOA first and last: {axfr}");
    assert!(!axfr.contains("failed") && !axfr.contains("WARNING"), "{axfr}");

    let refused = kdig(t.dns, &["xfr.test", "AXFR"]);
    assert!(refused.contains("REFUSED"), "without the key: {refused}");
    let dig = Command::new("dig")
        .args([&format!("@{}", t.dns.ip()), "-p", &t.dns.port().to_string(), "+time=3"])
        .args(["-y", "hmac-sha256:xfr.test.key:YW5vdGhlciBzZWNyZXQgb2YgMzIgYnl0ZXMhISEhISE="])
        .args(["xfr.test", "SOA"])
        .output()
        .expect("dig runs");
    let dig = String::from_utf8_lossy(&dig.stdout).into_owned();
    assert!(dig.contains("NOTAUTH") && dig.contains("BADSIG"), "a wrong secret: {dig}");

    // A signed ordinary query is answered and signed, over UDP without EDNS too (the signed
    // reply fits in 512 bytes: not truncated).
    let signed = kdig(t.dns, &["-y", KEY, "www.xfr.test", "A"]);
    assert!(signed.contains("NOERROR") && signed.contains("192.0.2.1"), "{signed}");
    assert!(signed.contains("TSIG PSEUDOSECTION") && !signed.contains("failed"), "{signed}");
    let plain = kdig(t.dns, &["-y", KEY, "+noedns", "+notcp", "+ignore", "www.xfr.test", "A"]);
    assert!(plain.contains("192.0.2.1") && !plain.contains(" tc"), "{plain}");

    // IXFR from the serial before a change: that change alone, as RFC 1995 lays it out.
    let (before, after) = change_www(&t);
    let ixfr = kdig(t.dns, &["-y", KEY, "+tcp", "xfr.test", &format!("IXFR={before}")]);
    assert!(ixfr.contains("192.0.2.1") && ixfr.contains("192.0.2.2"), "{ixfr}");
    assert!(!ixfr.contains("mail.xfr.test."), "only the change: {ixfr}");
    assert!(ixfr.contains(&after.to_string()), "{ixfr}");
    // Up to date: the SOA alone.
    let current = kdig(t.dns, &["-y", KEY, "+tcp", "xfr.test", &format!("IXFR={after}")]);
    assert_eq!(current.matches("\tSOA\t").count(), 1, "{current}");
    // IXFR over UDP without EDNS: the change fits in 512 bytes with its TSIG.
    let udp = kdig(t.dns, &["-y", KEY, "+notcp", "+noedns", "xfr.test", &format!("IXFR={before}")]);
    assert!(udp.contains("192.0.2.2") && !udp.contains("failed"), "{udp}");

    // Turnout's own transfer client reads Turnout's transfers: the whole zone, then the
    // change from the serial before it.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let key = test_key();
    let apex = turnout_model::Name::parse_absolute("xfr.test.").expect("a name");
    let wait = Duration::from_secs(10);
    let ask = turnout_dns::client::Ask::Axfr;
    let full = rt.block_on(turnout_dns::client::transfer_in(t.dns, &apex, &ask, Some(&key), wait));
    let Ok(turnout_dns::client::Received::Full { records, .. }) = full else { panic!("{full:?}") };
    assert_eq!(records.len(), 4, "two NS, www and mail: {records:?}");

    // What the door did, on /metrics.
    let scrape = t.scrape();
    let at = |key: &str| turnout_testkit::process::sample(&scrape, key).unwrap_or(0.0);
    assert!(at("turnout_dns_transfers_total{type=\"AXFR\",result=\"full\"}") >= 1.0, "{scrape}");
    assert!(at("turnout_dns_transfers_total{type=\"AXFR\",result=\"refused\"}") >= 1.0);
    assert!(at("turnout_dns_transfers_total{type=\"IXFR\",result=\"incremental\"}") >= 2.0);
    assert!(at("turnout_dns_transfers_total{type=\"IXFR\",result=\"up_to_date\"}") >= 1.0);
    assert_eq!(at("turnout_dns_tsig_refused_total{error=\"BADSIG\"}"), 1.0);
    let dropped = "turnout_dns_door_dropped_total{transport=\"udp\"}";
    assert_eq!(turnout_testkit::process::sample(&scrape, dropped), Some(0.0), "{scrape}");
    // Signed messages are the door's: not counted as the answer path's NOTAUTH replies.
    assert_eq!(at("turnout_dns_responses_total{transport=\"udp\",rcode=\"NOTAUTH\"}"), 0.0);
}

/// IXFR reaches back across a restart: the journal is rebuilt from the audit trail, so a
/// secondary that asks from a serial before the restart gets the changes, not the zone.
#[test]
fn ixfr_reaches_back_across_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data").display().to_string();
    let args = ["serve", "--dns", "127.0.0.1:0", "--udp-workers", "1", "--data-dir", &data];
    let mut t = Turnout::start(bin(), &args);
    set_up_zone(&t, &["--allow-key", "xfr.test.key"]);
    let (before, _) = change_www(&t);
    t.signal("TERM");
    assert!(t.wait_exit(DEADLINE).is_some_and(|s| s.success()), "a clean stop");
    let t = Turnout::start(bin(), &args);
    // Asked before the store is read, the door says "not ready" (SERVFAIL): a secondary asks
    // again, as here.
    let ask = || kdig(t.dns, &["-y", KEY, "+tcp", "xfr.test", &format!("IXFR={before}")]);
    let ixfr = turnout_testkit::process::poll(DEADLINE, || {
        let out = ask();
        if out.contains("SERVFAIL") {
            assert!(out.contains("NOT READY") || out.contains("14"), "an EDE says why: {out}");
            return None;
        }
        Some(out)
    })
    .unwrap_or_else(ask);
    assert!(ixfr.contains("192.0.2.1") && ixfr.contains("192.0.2.2"), "{ixfr}");
    assert!(!ixfr.contains("mail.xfr.test."), "the change alone: {ixfr}");
    let key = "turnout_dns_transfers_total{type=\"IXFR\",result=\"incremental\"}";
    assert_eq!(turnout_testkit::process::sample(&t.scrape(), key), Some(1.0));
}

/// A prefix without a key lets unsigned transfers from it through; a zone with a routing
/// policy is refused in the static mode, with an Extended DNS Error that says why.
#[test]
fn a_policy_zone_is_not_transferred_statically() {
    let t = node_with_zone(&["--allow-prefix", "127.0.0.0/8"]);
    let axfr = kdig(t.dns, &["xfr.test", "AXFR"]);
    assert!(axfr.contains("192.0.2.25"), "{axfr}");
    add_failover_group(&t);
    let refused = poll(DEADLINE, || {
        let out = kdig(t.dns, &["+tcp", "xfr.test", "AXFR"]);
        out.contains("REFUSED").then_some(out)
    })
    .expect("refused once the zone has a policy group");
    assert!(refused.contains("REFUSED"), "{refused}");
    // The reply says why in an Extended DNS Error (RFC 8914), code 21 (Not Supported).
    let query = turnout_testkit::QueryBuilder::new("xfr.test", "AXFR").edns(1232).build();
    let replies = t.tcp(&[query], 1).expect("a TCP reply");
    let text = turnout_testkit::render(&replies[0]).expect("renders");
    assert!(text.contains("REFUSED"), "{text}");
    let raw = String::from_utf8_lossy(&replies[0]);
    assert!(raw.contains("routing policies"), "the EDE text: {text}");
}

/// A running knotd, killed on drop, with its log.
pub(super) struct Knot {
    child: Child,
    log: Arc<Mutex<String>>,
    pub(super) dns: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for Knot {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Knot {
    pub(super) fn log(&self) -> String {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

/// A loopback address of its own for this test run (127.0.0.0/8 is all loopback on Linux), so
/// knotd's fixed port cannot collide with another test's.
pub(super) fn own_loopback() -> std::net::Ipv4Addr {
    let pid = std::process::id();
    std::net::Ipv4Addr::new(127, 53, (pid >> 8) as u8, (pid as u8).max(2))
}

/// Starts knotd as a secondary of `primary` for `xfr.test`, with the test key, on `port` of
/// [`own_loopback`].
fn knot_secondary(primary: SocketAddr, port: u16) -> Knot {
    let dir = tempfile::tempdir().expect("tempdir");
    let addr = SocketAddr::from((own_loopback(), port));
    let conf = format!(
        "server:\n  rundir: {d}\n  listen: {ip}@{port}\n\
         log:\n  - target: stderr\n    any: info\n\
         database:\n  storage: {d}\n\
         key:\n  - id: xfr.test.key\n    algorithm: hmac-sha256\n    secret: {SECRET}\n\
         remote:\n  - id: turnout\n    address: {pip}@{pport}\n    key: xfr.test.key\n\
         acl:\n  - id: from_turnout\n    address: {pip}\n    key: xfr.test.key\n    action: notify\n\
         zone:\n  - domain: xfr.test\n    master: turnout\n    acl: from_turnout\n    \
         file: {d}/xfr.test.zone\n    zonefile-sync: -1\n    zonefile-load: none\n    \
         journal-content: all\n",
        d = dir.path().display(),
        ip = addr.ip(),
        port = addr.port(),
        pip = primary.ip(),
        pport = primary.port(),
    );
    let listening = format!("binding to interface {}@{}", addr.ip(), addr.port());
    start_knot(dir, &conf, addr, &listening)
}

/// What a child process writes to its (piped) stderr, gathered as it comes.
pub(super) fn log_of(child: &mut Child) -> Arc<Mutex<String>> {
    let log = Arc::new(Mutex::new(String::new()));
    let stderr = child.stderr.take().expect("stderr");
    let sink = Arc::clone(&log);
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Ok(mut l) = sink.lock() {
                l.push_str(&line);
                l.push('\n');
            }
        }
    });
    log
}

/// Starts knotd with `conf` (written into `dir`, which it keeps), serving on `addr`; waits
/// until its log says `ready`.
pub(super) fn start_knot(
    dir: tempfile::TempDir,
    conf: &str,
    addr: SocketAddr,
    ready: &str,
) -> Knot {
    let path = dir.path().join("knot.conf");
    std::fs::write(&path, conf).expect("write knot.conf");
    let knotd = if Path::new("/usr/sbin/knotd").exists() { "/usr/sbin/knotd" } else { "knotd" };
    let mut child = Command::new(knotd)
        .args(["-c", &path.display().to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("knotd runs (the README test command installs knot)");
    let log = log_of(&mut child);
    let knot = Knot { child, log, dns: addr, _dir: dir };
    assert!(
        poll(DEADLINE, || knot.log().contains(ready).then_some(())).is_some(),
        "knotd did not start: {}",
        knot.log()
    );
    knot
}

/// A node with the zone `xfr.test` that the test key may transfer, NOTIFYing (signed) a Knot
/// secondary on `port` of [`own_loopback`], with `more` transfer settings.
fn node_for_knot(port: u16, more: &[&str]) -> Turnout {
    let notify = format!("{}:{port}", own_loopback());
    let mut settings = vec!["--allow-key", "xfr.test.key", "--notify", &notify];
    settings.extend(["--notify-key", "xfr.test.key"]);
    settings.extend_from_slice(more);
    node_with_zone(&settings)
}

/// On `t`: the failover pair `fo.<zone> A` (192.0.2.10 primary, 192.0.2.11 secondary, TTL
/// `ttl`) whose primary has a TCP check (1 s, threshold 1) on the returned listener, the
/// primary's backend: the kernel completes the check's handshake; dropping it stops the backend.
pub(super) fn failover_pair_on_a_backend(
    t: &Turnout,
    zone: &str,
    ttl: &str,
) -> std::net::TcpListener {
    let backend = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = backend.local_addr().expect("its address").port();
    let checks = t.data_dir.join("checks.yaml");
    std::fs::write(
        &checks,
        format!(
            "health_checks:\n  - {{ name: web, type: tcp, ip: 127.0.0.1, port: {port}, \
             interval: 1s, failure_threshold: 1 }}\n"
        ),
    )
    .expect("write the checks");
    ok(&t.cli(&["apply", "-f", &checks.display().to_string(), "--yes"]));
    for (id, role, value) in [("a", "primary", "192.0.2.10"), ("b", "secondary", "192.0.2.11")] {
        let mut args = vec!["record", "upsert", zone, "fo", "A", "--ttl", ttl];
        args.extend(["--set-id", id, "--failover", role, "--value", value]);
        if role == "primary" {
            args.extend(["--health-check", "web"]);
        }
        ok(&t.cli(&args));
    }
    backend
}

/// Knot takes the zone by AXFR, then each API change arrives by NOTIFY and IXFR within a
/// second; a transfer without the key is still refused.
#[test]
fn knot_follows_turnout_as_a_secondary() {
    let t = node_for_knot(5353, &[]);
    let knot = knot_secondary(t.dns, 5353);
    let soa = |server: SocketAddr| kdig(server, &["+short", "xfr.test", "SOA"]);
    poll(DEADLINE, || (soa(knot.dns) == soa(t.dns) && !soa(t.dns).is_empty()).then_some(()))
        .unwrap_or_else(|| panic!("Knot never took the zone: {}", knot.log()));
    assert!(kdig(knot.dns, &["+short", "mail.xfr.test", "A"]).contains("192.0.2.25"));
    assert!(knot.log().contains("AXFR, incoming"), "{}", knot.log());

    ok(&t.cli(&[
        "record",
        "upsert",
        "xfr.test",
        "new",
        "A",
        "--ttl",
        "60",
        "--value",
        "192.0.2.77",
    ]));
    let changed = Instant::now();
    poll(DEADLINE, || {
        kdig(knot.dns, &["+short", "new.xfr.test", "A"]).contains("192.0.2.77").then_some(())
    })
    .unwrap_or_else(|| panic!("the change never reached Knot: {}", knot.log()));
    let took = changed.elapsed();
    assert!(took < Duration::from_secs(1), "the change took {took:?} to reach Knot");
    assert!(knot.log().contains("IXFR, incoming"), "by IXFR: {}", knot.log());
    assert!(t.log_text().contains("acknowledged by"), "{}", t.log_text());
    let key = "turnout_dns_notify_total{result=\"acknowledged\"}";
    poll(DEADLINE, || turnout_testkit::process::sample(&t.scrape(), key).filter(|n| *n >= 1.0))
        .expect("the acknowledged NOTIFY counted");

    let refused = kdig(t.dns, &["+tcp", "xfr.test", "AXFR"]);
    assert!(refused.contains("REFUSED"), "{refused}");
}

/// A `current-answers` zone on Knot follows a failover: the primary's backend stops, its
/// check turns unhealthy within the check's interval, and within two seconds more Knot
/// answers with the secondary (a new serial, sent by NOTIFY and IXFR); the backend comes back
/// and Knot follows again. Knot and Turnout agree on the serial each time.
#[test]
fn knot_follows_a_failover_in_a_current_answers_zone() {
    let t = node_for_knot(5355, &["--policy-mode", "current-answers"]);
    let mut backend = Some(failover_pair_on_a_backend(&t, "xfr.test", "60"));
    let port = backend.as_ref().and_then(|b| b.local_addr().ok()).expect("its address").port();
    let knot = knot_secondary(t.dns, 5355);
    let on_knot = || kdig(knot.dns, &["+short", "fo.xfr.test", "A"]);
    let soa = |server: SocketAddr| kdig(server, &["+short", "xfr.test", "SOA"]);
    poll(DEADLINE, || on_knot().contains("192.0.2.10").then_some(()))
        .unwrap_or_else(|| panic!("Knot never took the zone: {}\n{}", knot.log(), t.log_text()));
    assert!(!on_knot().contains("192.0.2.11"), "one answer, the primary: {}", on_knot());
    // The transfer holds the current answer as a plain RRset.
    let axfr = kdig(t.dns, &["-y", KEY, "xfr.test", "AXFR"]);
    assert_eq!(axfr.matches("fo.xfr.test.").count(), 1, "{axfr}");

    let serial = |server: SocketAddr| -> u32 {
        let soa = soa(server);
        soa.split_whitespace().nth(2).and_then(|s| s.parse().ok()).unwrap_or(0)
    };
    for (expected, step) in [("192.0.2.11", "failover"), ("192.0.2.10", "failback")] {
        let before = serial(t.dns);
        if step == "failover" {
            backend = None;
        } else {
            backend = Some(std::net::TcpListener::bind(("127.0.0.1", port)).expect("rebind"));
        }
        let at = Instant::now();
        poll(DEADLINE, || on_knot().contains(expected).then_some(())).unwrap_or_else(|| {
            panic!("{step} never reached Knot: {}\n{}", knot.log(), t.log_text())
        });
        let took = at.elapsed();
        // The check's interval (1 s), plus two seconds.
        assert!(took < Duration::from_secs(3), "the {step} took {took:?} to reach Knot");
        let now = serial(t.dns);
        assert!(now > before, "{step}: the serial moved on ({before} -> {now})");
        poll(DEADLINE, || (serial(knot.dns) == now).then_some(()))
            .unwrap_or_else(|| panic!("Knot serves serial {} not {now}", serial(knot.dns)));
        assert_eq!(on_knot().lines().count(), 1, "{step}: one answer: {}", on_knot());
    }
    assert!(knot.log().contains("IXFR, incoming"), "by IXFR: {}", knot.log());
    drop(backend);
}

/// Turnout's transfer client (the groundwork of secondary zones) against Knot as a primary:
/// AXFR with TSIG, then IXFR after a change (Knot's journal), IXFR from the current serial,
/// and a transfer with the wrong secret or none refused.
#[test]
fn transfers_in_from_knot_as_a_primary() {
    use turnout_dns::client::{Ask, Received, transfer_in};
    let dir = tempfile::tempdir().expect("tempdir");
    let addr = SocketAddr::from((own_loopback(), 5354));
    let zone_file = dir.path().join("in.test.zone");
    let mut zone =
        String::from("$ORIGIN in.test.\n$TTL 300\n@ SOA ns1 h 7 3600 600 86400 60\n@ NS ns1\n");
    for i in 0..3000 {
        zone.push_str(&format!("h{i} A 10.0.{}.{}\n", i / 250, i % 250));
    }
    std::fs::write(&zone_file, zone).expect("write the zone");
    let conf = format!(
        "server:\n  rundir: {d}\n  listen: {ip}@{port}\n\
         log:\n  - target: stderr\n    any: info\n\
         database:\n  storage: {d}\n\
         key:\n  - id: xfr.test.key\n    algorithm: hmac-sha256\n    secret: {SECRET}\n\
         acl:\n  - id: xfr\n    key: xfr.test.key\n    action: [transfer, update]\n\
         zone:\n  - domain: in.test\n    file: {zf}\n    acl: xfr\n    journal-content: changes\n    zonefile-sync: -1\n",
        d = dir.path().display(),
        ip = addr.ip(),
        port = addr.port(),
        zf = zone_file.display(),
    );
    let knot = start_knot(dir, &conf, addr, "loaded, serial");

    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let apex = turnout_model::Name::parse_absolute("in.test.").expect("a name");
    let key = test_key();
    let wait = Duration::from_secs(10);
    let full =
        rt.block_on(transfer_in(knot.dns, &apex, &Ask::Axfr, Some(&key), wait)).expect("AXFR");
    let Received::Full { soa, records } = full else { panic!("a full transfer: {full:?}") };
    assert_eq!(records.len(), 3001, "NS and 3000 A records");
    let before = soa.clone();

    let script = format!(
        "server {} {}\nzone in.test.\nupdate add added.in.test. 60 TXT \"new\"\nsend\n",
        knot.dns.ip(),
        knot.dns.port()
    );
    let mut nsu = Command::new("knsupdate")
        .args(["-y", KEY])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("knsupdate runs");
    std::io::Write::write_all(&mut nsu.stdin.take().expect("stdin"), script.as_bytes())
        .expect("script");
    assert!(nsu.wait().expect("waits").success());
    let inc = rt
        .block_on(transfer_in(knot.dns, &apex, &Ask::Ixfr(before.clone()), Some(&key), wait))
        .expect("IXFR");
    let Received::Incremental(changes) = inc else { panic!("an incremental transfer: {inc:?}") };
    assert_eq!(changes.len(), 1);
    assert!(changes[0].removed.is_empty());
    assert_eq!(changes[0].added.len(), 1);
    assert_eq!(changes[0].added[0].name.to_string(), "added.in.test.");
    let current = changes[0].to.clone();
    let same = rt
        .block_on(transfer_in(knot.dns, &apex, &Ask::Ixfr(current), Some(&key), wait))
        .expect("IXFR from the current serial");
    assert!(matches!(same, Received::UpToDate(_)), "{same:?}");

    let wrong = turnout_dns::tsig::Key::new(
        turnout_model::Name::parse_absolute("xfr.test.key.").expect("a name"),
        turnout_dns::tsig::Algorithm::HmacSha256,
        b"another secret of 32 bytes......",
    );
    let refused = rt.block_on(transfer_in(knot.dns, &apex, &Ask::Axfr, Some(&wrong), wait));
    assert!(refused.is_err(), "a wrong secret: {refused:?}");
    let unsigned = rt.block_on(transfer_in(knot.dns, &apex, &Ask::Axfr, None, wait));
    assert!(unsigned.is_err(), "no key: {unsigned:?}");
}
