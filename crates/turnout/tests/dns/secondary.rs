//! Secondary zones (docs/secondary-zones.md) with Knot (`knotd`, Debian's knot package) as the
//! primary: SERVFAIL before the first transfer, the initial AXFR with TSIG, a change on Knot
//! arriving by NOTIFY and IXFR, a restart serving the zone from disk while Knot is down, expiry
//! to SERVFAIL, and promotion to a zone managed here.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use turnout_testkit::process::{DEADLINE, Turnout, poll};

use super::bin;
use super::transfers::{KEY, SECRET, kdig, ok, own_loopback, start_knot};

/// `kdig`'s status line word (NOERROR, SERVFAIL...) for `name A`, and its short answer.
fn ask(server: SocketAddr, name: &str) -> (String, String) {
    let full = kdig(server, &[name, "A"]);
    let status = full
        .split("status: ")
        .nth(1)
        .and_then(|s| s.split([',', ';']).next())
        .unwrap_or("no answer")
        .to_owned();
    (status, kdig(server, &["+short", name, "A"]).trim().to_owned())
}

fn zone_json(t: &Turnout) -> serde_json::Value {
    serde_json::from_str(&ok(&t.cli(&["zone", "get", "sec.test", "--output", "json"])))
        .expect("json")
}

#[test]
fn a_secondary_zone_follows_knot_survives_a_restart_expires_and_is_promoted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data").display().to_string();
    let args = ["serve", "--dns", "127.0.0.1:0", "--udp-workers", "1", "--data-dir", &data];
    let mut t = Turnout::start(bin(), &args);
    let secret = dir.path().join("xfr.secret");
    std::fs::write(&secret, SECRET).expect("write the secret");
    ok(&t.cli(&[
        "tsig-key",
        "create",
        "xfr.test.key",
        "--secret-file",
        &secret.display().to_string(),
    ]));
    let primary = SocketAddr::from((own_loopback(), 5356));
    let primary_text = primary.to_string();
    ok(&t.cli(&[
        "zone",
        "create",
        "sec.test",
        "--secondary-of",
        &primary_text,
        "--secondary-key",
        "xfr.test.key",
    ]));
    // Not loaded yet (Knot is not running): SERVFAIL, and `zone get` says why.
    let (status, _) = ask(t.dns, "www.sec.test");
    assert_eq!(status, "SERVFAIL");
    let z = zone_json(&t);
    assert_eq!(z["secondary"]["loaded"], false, "{z}");
    // The records come from the primary: they cannot be changed here.
    let refused =
        t.cli(&["record", "upsert", "sec.test", "x", "A", "--ttl", "60", "--value", "192.0.2.9"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("ZoneIsSecondary"), "{refused:?}");

    // Knot serves sec.test (SOA refresh 2 s, retry 1 s, expire 8 s), takes updates with the
    // key, and NOTIFYs Turnout of every change, signed.
    let kdir = tempfile::tempdir().expect("tempdir");
    let zone_file = kdir.path().join("sec.test.zone");
    std::fs::write(
        &zone_file,
        "$ORIGIN sec.test.\n$TTL 300\n@ SOA ns1 h 100 2 1 8 60\n@ NS ns1\nns1 A 192.0.2.53\n\
         www A 192.0.2.1\nwww A 192.0.2.2\nmail MX 10 mail\nmail A 192.0.2.25\n",
    )
    .expect("write the zone");
    let conf = format!(
        "server:\n  rundir: {d}\n  listen: {ip}@{port}\n\
         log:\n  - target: stderr\n    any: info\n\
         database:\n  storage: {d}\n\
         key:\n  - id: xfr.test.key\n    algorithm: hmac-sha256\n    secret: {SECRET}\n\
         remote:\n  - id: turnout\n    address: {tip}@{tport}\n    key: xfr.test.key\n\
         acl:\n  - id: xfr\n    key: xfr.test.key\n    action: [transfer, update]\n\
         zone:\n  - domain: sec.test\n    file: {zf}\n    acl: xfr\n    notify: turnout\n    \
         journal-content: changes\n    zonefile-sync: -1\n",
        d = kdir.path().display(),
        ip = primary.ip(),
        port = primary.port(),
        tip = t.dns.ip(),
        tport = t.dns.port(),
        zf = zone_file.display(),
    );
    let knot = start_knot(kdir, &conf, primary, "loaded, serial");

    // The initial AXFR (a retry finds Knot up).
    poll(Duration::from_secs(30), || (ask(t.dns, "www.sec.test").0 == "NOERROR").then_some(()))
        .unwrap_or_else(|| panic!("never loaded: {}\n{}", t.log_text(), knot.log()));
    let (_, www) = ask(t.dns, "www.sec.test");
    assert_eq!(www.lines().count(), 2, "{www}");
    let soa = kdig(t.dns, &["+short", "sec.test", "SOA"]);
    assert!(soa.contains(" 100 2 1 8 60"), "the primary's SOA as it is: {soa}");
    assert!(t.log_text().contains("loaded by AXFR"), "{}", t.log_text());
    assert!(knot.log().contains("AXFR, outgoing"), "{}", knot.log());

    // A change on Knot arrives by NOTIFY and IXFR.
    let script = format!(
        "server {} {}\nzone sec.test.\nupdate add new.sec.test. 60 A 192.0.2.77\nsend\n",
        primary.ip(),
        primary.port()
    );
    let mut nsu = std::process::Command::new("knsupdate")
        .args(["-y", KEY])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("knsupdate runs");
    std::io::Write::write_all(&mut nsu.stdin.take().expect("stdin"), script.as_bytes())
        .expect("script");
    assert!(nsu.wait().expect("waits").success());
    let sent = Instant::now();
    poll(DEADLINE, || (ask(t.dns, "new.sec.test").1 == "192.0.2.77").then_some(()))
        .unwrap_or_else(|| panic!("the change never arrived: {}\n{}", t.log_text(), knot.log()));
    let took = sent.elapsed();
    assert!(took < Duration::from_secs(2), "took {took:?}");
    poll(DEADLINE, || t.log_text().contains("loaded by IXFR").then_some(()))
        .unwrap_or_else(|| panic!("not by IXFR: {}", t.log_text()));
    assert!(t.log_text().contains("NOTIFY for secondary zone sec.test."), "{}", t.log_text());
    assert!(knot.log().contains("IXFR, outgoing"), "{}", knot.log());

    // Knot goes away; Turnout restarts and serves the zone from disk at once.
    drop(knot);
    t.signal("TERM");
    assert!(t.wait_exit(DEADLINE).is_some_and(|s| s.success()), "a clean stop");
    let t = Turnout::start(bin(), &args);
    // (Within the moment the node takes to load its store.)
    poll(Duration::from_secs(2), || {
        (ask(t.dns, "new.sec.test") == ("NOERROR".to_owned(), "192.0.2.77".to_owned()))
            .then_some(())
    })
    .unwrap_or_else(|| panic!("not served from disk: {}", t.log_text()));

    // No primary answers: 8 s (the SOA expire) after the last refresh, SERVFAIL.
    poll(Duration::from_secs(20), || (ask(t.dns, "www.sec.test").0 == "SERVFAIL").then_some(()))
        .unwrap_or_else(|| panic!("never expired: {}", t.log_text()));
    let z = zone_json(&t);
    assert_eq!(z["secondary"]["expired"], true, "{z}");
    assert!(z["secondary"]["last_error"].as_str().is_some_and(|e| !e.is_empty()), "{z}");

    // Promoted, it is a zone managed here: answered again, changed here, serial going on
    // from the primary's.
    ok(&t.cli(&["zone", "promote", "sec.test"]));
    poll(DEADLINE, || (ask(t.dns, "www.sec.test").0 == "NOERROR").then_some(()))
        .unwrap_or_else(|| panic!("not answered after promotion: {}", t.log_text()));
    ok(&t.cli(&["record", "upsert", "sec.test", "x", "A", "--ttl", "60", "--value", "192.0.2.9"]));
    poll(DEADLINE, || (ask(t.dns, "x.sec.test").1 == "192.0.2.9").then_some(()))
        .expect("a change made here");
    let soa = kdig(t.dns, &["+short", "sec.test", "SOA"]);
    assert!(soa.contains(" 102 2 1 8 60"), "serial 101 from Knot, then one change: {soa}");
    assert!(zone_json(&t).get("secondary").is_none());
}
