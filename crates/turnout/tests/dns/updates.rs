//! RFC 2136 dynamic updates from real clients (docs/dynamic-updates.md): BIND's `nsupdate` and
//! Knot's `knsupdate` with TSIG, prerequisites, the key's names and types, and policy groups.

use std::io::Write;
use std::process::{Command, Stdio};

use turnout_testkit::process::{DEADLINE, Turnout, poll};

use super::transfers::{KEY, add_failover_group, kdig, node_with_zone, ok};

/// Runs `client` (nsupdate or knsupdate) with `script` against the node; returns whether it
/// succeeded and what it printed.
fn update(client: &str, t: &Turnout, key: Option<&str>, script: &str) -> (bool, String) {
    let mut cmd = Command::new(client);
    if let Some(k) = key {
        cmd.args(["-y", k]);
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{client} runs (the README test command installs it): {e}"));
    let full = format!("server {} {}\nzone xfr.test.\n{script}\nsend\n", t.dns.ip(), t.dns.port());
    child.stdin.take().expect("stdin").write_all(full.as_bytes()).expect("write the script");
    let out = child.wait_with_output().expect("runs");
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

fn txt(t: &Turnout) -> String {
    kdig(t.dns, &["+short", "_acme-challenge.xfr.test", "TXT"])
}

/// An ACME-style key may add and delete TXT records under `_acme-challenge` with
/// prerequisites, over UDP and TCP, from nsupdate and knsupdate; each accepted update is one
/// change batch in the audit, made by the key; anything else is refused and changes nothing.
#[test]
fn nsupdate_and_knsupdate_with_tsig() {
    let t = node_with_zone(&[]);
    ok(&t.cli(&["zone", "updates", "xfr.test", "--allow", "xfr.test.key:_acme-challenge.*:TXT"]));

    let add = "prereq nxrrset _acme-challenge.xfr.test. TXT\nupdate add _acme-challenge.xfr.test. 60 TXT \"token-one\"";
    let (done, out) = update("nsupdate", &t, Some(KEY), add);
    assert!(done, "{out}");
    poll(DEADLINE, || txt(&t).contains("token-one").then_some(())).expect("served");
    // The same prerequisite no longer holds: YXRRSET, nothing changes.
    let (done, out) = update("nsupdate", &t, Some(KEY), &add.replace("token-one", "token-two"));
    assert!(!done && out.contains("YXRRSET"), "{out}");
    assert!(!txt(&t).contains("token-two"));

    // knsupdate over TCP: a second value, with a prerequisite on the first.
    let second = "prereq yxrrset _acme-challenge.xfr.test. TXT \"token-one\"\nupdate add _acme-challenge.www.xfr.test. 60 TXT \"token-www\"";
    let (done, out) = update("knsupdate", &t, Some(KEY), second);
    assert!(done, "{out}");
    poll(DEADLINE, || {
        kdig(t.dns, &["+short", "_acme-challenge.www.xfr.test", "TXT"])
            .contains("token-www")
            .then_some(())
    })
    .expect("served");

    // Refused: unsigned, outside the key's names, another type.
    let (done, out) =
        update("nsupdate", &t, None, "update add _acme-challenge.xfr.test. 60 TXT \"x\"");
    assert!(!done && out.contains("REFUSED"), "unsigned: {out}");
    let (done, out) = update("nsupdate", &t, Some(KEY), "update add www.xfr.test. 60 TXT \"x\"");
    assert!(!done && out.contains("REFUSED"), "outside the names: {out}");
    let (done, out) = update(
        "nsupdate",
        &t,
        Some(KEY),
        "update add _acme-challenge.xfr.test. 60 CAA 0 issue \"ca.test\"",
    );
    assert!(!done && out.contains("REFUSED"), "another type: {out}");

    // The SOA is Turnout's: an update of it is ignored (RFC 2136 §3.4.2.3), nothing changes.
    let serial = kdig(t.dns, &["+short", "xfr.test", "SOA"]);
    let (done, out) = update("nsupdate", &t, Some(KEY), "update delete xfr.test. SOA");
    assert!(done, "{out}");
    assert_eq!(kdig(t.dns, &["+short", "xfr.test", "SOA"]), serial);

    // Delete, as certbot does once the challenge is done.
    let (done, out) = update(
        "nsupdate",
        &t,
        Some(KEY),
        "update delete _acme-challenge.xfr.test. TXT \"token-one\"",
    );
    assert!(done, "{out}");
    poll(DEADLINE, || txt(&t).is_empty().then_some(())).expect("deleted");

    let audit = ok(&t.cli(&["audit", "--by", "tsig:xfr.test.key.", "--limit", "10"]));
    // Three accepted updates: three writes by the key, each with its one change record.
    assert_eq!(audit.matches("DNS UPDATE xfr.test.").count(), 3, "{audit}");
    assert_eq!(audit.matches("create change C").count(), 3, "{audit}");
    let scrape = t.scrape();
    let at = |key: &str| turnout_testkit::process::sample(&scrape, key).unwrap_or(0.0);
    assert_eq!(at("turnout_dns_updates_total{rcode=\"NOERROR\"}"), 4.0, "{scrape}");
    assert_eq!(at("turnout_dns_updates_total{rcode=\"YXRRSET\"}"), 1.0);
    assert_eq!(at("turnout_dns_updates_total{rcode=\"REFUSED\"}"), 3.0);
}

/// A key allowed every name and type still cannot touch a routing-policy group.
#[test]
fn an_update_never_touches_a_policy_group() {
    let t = node_with_zone(&[]);
    ok(&t.cli(&["zone", "updates", "xfr.test", "--allow", "xfr.test.key:*:*"]));
    add_failover_group(&t);
    let (done, out) = update("nsupdate", &t, Some(KEY), "update add fo.xfr.test. 60 A 192.0.2.99");
    assert!(!done && out.contains("REFUSED"), "{out}");
    let (done, out) = update("nsupdate", &t, Some(KEY), "update delete fo.xfr.test.");
    assert!(!done && out.contains("REFUSED"), "{out}");
    let (done, out) =
        update("nsupdate", &t, Some(KEY), "update add plain.xfr.test. 60 A 192.0.2.98");
    assert!(done, "an ordinary name still works: {out}");
    let answer = kdig(t.dns, &["+short", "fo.xfr.test", "A"]);
    assert!(!answer.contains("192.0.2.99"), "{answer}");
}
