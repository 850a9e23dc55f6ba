//! DNSSEC online signing (docs/dnssec.md) checked by real validators: Unbound (Debian's
//! unbound, which the test command installs) as a validating resolver whose only trust
//! anchor is the DS Turnout prints, in front of a node, and BIND's `delv`.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use turnout_testkit::process::{DEADLINE, Turnout, poll};

use super::bin;
use super::transfers::{log_of, ok, own_loopback};

/// Unbound, stopped when dropped.
struct Unbound {
    child: Child,
    log: Arc<Mutex<String>>,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for Unbound {
    fn drop(&mut self) {
        drop(self.child.kill());
        drop(self.child.wait());
    }
}

impl Unbound {
    fn log(&self) -> String {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// `dig` through Unbound with DO set: (the status, whether AD is set, the answer).
    fn ask(&self, name: &str, rtype: &str) -> (String, bool, String) {
        let out = Command::new("dig")
            .arg(format!("@{}", self.addr.ip()))
            .args(["-p", &self.addr.port().to_string(), "+time=5", "+tries=1", "+dnssec"])
            .args([name, rtype])
            .output()
            .expect("dig runs");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let status = text
            .split("status: ")
            .nth(1)
            .and_then(|s| s.split(',').next())
            .unwrap_or("no answer")
            .to_owned();
        let ad = text.lines().find(|l| l.starts_with(";; flags:")).is_some_and(|l| {
            l.split(';').nth(2).unwrap_or("").split_whitespace().any(|f| f == "ad")
        });
        (status, ad, text)
    }
}

/// Starts Unbound on `port` of [`own_loopback`] (each test its own port), validating `zone` with `ds` (presentation
/// form) as its only trust anchor, and asking `server` for it.
fn unbound(zone: &str, ds: &str, server: SocketAddr, port: u16) -> Unbound {
    let dir = tempfile::tempdir().expect("tempdir");
    let addr = SocketAddr::from((own_loopback(), port));
    let conf = format!(
        "server:\n  interface: {ip}@{port}\n  do-daemonize: no\n  username: \"\"\n  chroot: \"\"\n  \
         directory: \"{d}\"\n  pidfile: \"{d}/unbound.pid\"\n  use-syslog: no\n  logfile: \"\"\n  \
         verbosity: 1\n  val-log-level: 2\n  do-ip6: no\n  access-control: 127.0.0.0/8 allow\n  \
         do-not-query-localhost: no\n  module-config: \"validator iterator\"\n  \
         trust-anchor: \"{ds}\"\n  cache-max-ttl: 1\n  cache-max-negative-ttl: 1\n  \
         local-zone: \"test.\" nodefault\n\
         stub-zone:\n  name: \"{zone}\"\n  stub-addr: {sip}@{sport}\n",
        ip = addr.ip(),
        port = addr.port(),
        d = dir.path().display(),
        sip = server.ip(),
        sport = server.port(),
    );
    let path = dir.path().join("unbound.conf");
    std::fs::write(&path, conf).expect("write unbound.conf");
    let unbound = if std::path::Path::new("/usr/sbin/unbound").exists() {
        "/usr/sbin/unbound"
    } else {
        "unbound"
    };
    let mut child = Command::new(unbound)
        .args(["-d", "-c", &path.display().to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("unbound runs (the README test command installs it)");
    let log = log_of(&mut child);
    let u = Unbound { child, log, addr, _dir: dir };
    assert!(
        poll(DEADLINE, || u.log().contains("start of service").then_some(())).is_some(),
        "unbound did not start: {}",
        u.log()
    );
    u
}

/// `delv` against the node itself, with `ds` as the trust anchor for `zone`.
fn delv(server: SocketAddr, zone: &str, ds: &str, dir: &std::path::Path, q: &[&str]) -> String {
    // `zone. IN DS tag alg type digest` -> a trust-anchors clause.
    let f: Vec<&str> = ds.split_whitespace().collect();
    let anchor = format!(
        "trust-anchors {{ {zone} static-ds {} {} {} \"{}\"; }};\n",
        f[3],
        f[4],
        f[5],
        f[6..].concat()
    );
    let path = dir.join("anchor.conf");
    std::fs::write(&path, anchor).expect("write the anchor");
    let out = Command::new("delv")
        .args(["-a", &path.display().to_string(), &format!("+root={zone}")])
        .args(["-p", &server.port().to_string(), &format!("@{}", server.ip())])
        .args(q)
        .output()
        .expect("delv runs (bind9-dnsutils)");
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// A signed zone behind Unbound: positive, nonexistent name, no data, wildcard, CNAME chain,
/// DNSKEY, a delegation with DS and one without (and the unsigned child it leads to), and a
/// failover answer before and after the primary's backend stops: every answer validates (AD)
/// or, for the unsigned child, is insecure, and none is SERVFAIL. `delv` agrees.
#[test]
fn unbound_validates_every_kind_of_signed_answer() {
    let t = Turnout::start(bin(), &["serve", "--dns", "127.0.0.1:0", "--udp-workers", "1"]);
    ok(&t.cli(&["zone", "create", "signed.test"]));
    ok(&t.cli(&["zone", "create", "child.signed.test"]));
    let upsert = |name: &str, rtype: &str, values: &[&str]| {
        let mut args = vec!["record", "upsert", "signed.test", name, rtype, "--ttl", "1"];
        for v in values {
            args.extend(["--value", v]);
        }
        ok(&t.cli(&args));
    };
    upsert("www", "A", &["192.0.2.1", "192.0.2.2"]);
    upsert("*.wild", "TXT", &["\"from the wildcard\""]);
    upsert("chain", "CNAME", &["link"]);
    upsert("link", "CNAME", &["www"]);
    upsert("mail", "MX", &["10 www"]);
    upsert("secure", "NS", &["ns.secure"]);
    upsert("ns.secure", "A", &["192.0.2.53"]);
    upsert(
        "secure",
        "DS",
        &["12345 13 2 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF"],
    );
    upsert("child", "NS", &["ns1.child"]);
    ok(&t.cli(&[
        "record",
        "upsert",
        "child.signed.test",
        "www",
        "A",
        "--ttl",
        "1",
        "--value",
        "192.0.2.77",
    ]));
    // A failover pair whose primary is checked over TCP against a listener the test closes.
    let backend = super::transfers::failover_pair_on_a_backend(&t, "signed.test", "1");

    ok(&t.cli(&["dnssec", "enable", "signed.test"]));
    let ds = ok(&t.cli(&["dnssec", "ds", "signed.test"]));
    let ds = ds.lines().next().expect("a DS line").trim().to_owned();
    assert!(ds.starts_with("signed.test. IN DS "), "{ds}");
    // The DS agrees with ldns-key2ds run on the DNSKEY the node serves.
    // `dnssec enable` returns once the node holds the key; the signed zone is served a moment
    // later.
    let dnskey = poll(DEADLINE, || {
        let k = super::transfers::kdig(t.dns, &["+short", "signed.test", "DNSKEY"]);
        (!k.trim().is_empty()).then_some(k)
    })
    .expect("the DNSKEY is served");
    let keyfile = t.data_dir.join("signed.test.key");
    std::fs::write(&keyfile, format!("signed.test. 3600 IN DNSKEY {}", dnskey.trim()))
        .expect("write the key");
    let key2ds = Command::new("ldns-key2ds")
        .args(["-n", "-2", &keyfile.display().to_string()])
        .output()
        .expect("ldns-key2ds runs (ldnsutils)");
    let theirs = String::from_utf8_lossy(&key2ds.stdout).to_uppercase();
    let digest = ds.split_whitespace().last().expect("a digest");
    assert!(theirs.contains(digest), "ldns-key2ds: {theirs} / ours: {ds}");

    let u = unbound("signed.test.", &ds.replace(" IN ", " "), t.dns, 5357);
    let expect = |name: &str, rtype: &str, status: &str, needle: &str, ad: bool| {
        let (got, got_ad, text) = u.ask(name, rtype);
        assert_eq!(got, status, "{name} {rtype}: {text}\nunbound: {}", u.log());
        assert_eq!(got_ad, ad, "{name} {rtype}: AD {got_ad}: {text}\nunbound: {}", u.log());
        assert!(text.contains(needle), "{name} {rtype}: no {needle:?}: {text}");
    };
    expect("www.signed.test", "A", "NOERROR", "192.0.2.2", true);
    expect("signed.test", "DNSKEY", "NOERROR", "DNSKEY", true);
    expect("signed.test", "SOA", "NOERROR", "hostmaster", true);
    expect("mail.signed.test", "MX", "NOERROR", "www.signed.test.", true);
    expect("x.y.wild.signed.test", "TXT", "NOERROR", "from the wildcard", true);
    expect("chain.signed.test", "A", "NOERROR", "192.0.2.1", true);
    // No data, and a name that does not exist (compact denial: NOERROR, an NSEC with NXNAME).
    expect("www.signed.test", "AAAA", "NOERROR", "SOA", true);
    let (status, ad, text) = u.ask("nothing.signed.test", "A");
    assert!(status == "NXDOMAIN" || status == "NOERROR", "{status}: {text}");
    assert!(ad, "nonexistent name: {text}");
    expect("nothing.wild.signed.test", "A", "NOERROR", "SOA", true);
    // Delegations: a DS answered, a missing DS proven; the unsigned child is insecure.
    expect("secure.signed.test", "DS", "NOERROR", "12345 13 2", true);
    expect("child.signed.test", "DS", "NOERROR", "SOA", true);
    expect("www.child.signed.test", "A", "NOERROR", "192.0.2.77", false);

    // The failover answer, signed, before and after the primary's backend stops.
    let fo = |ip: &str| {
        poll(DEADLINE, || {
            let (status, ad, text) = u.ask("fo.signed.test", "A");
            assert_ne!(status, "SERVFAIL", "{text}\nunbound: {}", u.log());
            (ad && text.contains(ip)).then_some(())
        })
        .unwrap_or_else(|| panic!("no validated answer {ip}: {}", u.ask("fo.signed.test", "A").2));
    };
    fo("192.0.2.10");
    drop(backend);
    fo("192.0.2.11");

    // A transfer carries the zone signed (its current answers: the zone has a failover
    // group), with a full NSEC chain: ldns-verify-zone checks every signature and the chain.
    ok(&t.cli(&[
        "zone",
        "transfers",
        "signed.test",
        "--allow-prefix",
        "127.0.0.0/8",
        "--policy-mode",
        "current-answers",
    ]));
    let axfr = poll(DEADLINE, || {
        let out = super::transfers::kdig(t.dns, &["+tcp", "signed.test", "AXFR"]);
        (out.contains("RRSIG") && out.contains("NSEC")).then_some(out)
    })
    .unwrap_or_else(|| {
        panic!(
            "no signed AXFR: {}",
            super::transfers::kdig(t.dns, &["+tcp", "signed.test", "AXFR"])
        )
    });
    let mut lines: Vec<&str> =
        axfr.lines().filter(|l| !l.trim().is_empty() && !l.starts_with(';')).collect();
    // The SOA closes the transfer too: once is a zone file.
    if lines.last().is_some_and(|l| l.contains("SOA") && !l.contains("RRSIG")) {
        lines.pop();
    }
    let zone_file = t.data_dir.join("signed.test.axfr");
    std::fs::write(&zone_file, lines.join("\n") + "\n").expect("write the transfer");
    let verify = Command::new("ldns-verify-zone")
        .arg(zone_file.display().to_string())
        .output()
        .expect("ldns-verify-zone runs (ldnsutils)");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
    assert!(verify.status.success(), "ldns-verify-zone: {said}\n{}", lines.join("\n"));
    assert!(axfr.contains("DNSKEY") && axfr.contains(" CDS "), "{axfr}");

    // delv, validating against the node itself.
    let dir = tempfile::tempdir().expect("tempdir");
    let zone = "signed.test.";
    for q in [["www.signed.test", "A"], ["x.wild.signed.test", "TXT"], ["nothing.signed.test", "A"]]
    {
        let out = delv(t.dns, zone, &ds, dir.path(), &q);
        assert!(out.contains("fully validated"), "delv {q:?}: {out}");
    }
}

/// The zone's DS records for its parent, as record values (`tag alg type digest`).
fn ds_values(t: &Turnout, zone: &str) -> Vec<String> {
    ok(&t.cli(&["dnssec", "ds", zone]))
        .lines()
        .map(|l| l.split_whitespace().skip(3).collect::<Vec<_>>().join(" "))
        .filter(|v| !v.is_empty())
        .collect()
}

/// Waits until a rollover's new DS differs from `old_ds` and the zone's served CDS names it
/// (a moment after the second it is due); returns it.
fn new_ds_in_cds(t: &Turnout, zone: &str, old_ds: &[String]) -> Vec<String> {
    let new_ds = poll(DEADLINE, || {
        let ds = ds_values(t, zone);
        (ds != old_ds && !ds.is_empty()).then_some(ds)
    })
    .expect("CDS names the new key");
    poll(DEADLINE, || {
        let cds = super::transfers::kdig(t.dns, &["+short", zone, "CDS"]);
        cds.replace(' ', "").contains(&new_ds[0].replace(' ', "")).then_some(())
    })
    .unwrap_or_else(|| panic!("CDS does not name the new key: {new_ds:?}"));
    new_ds
}

/// The zone's DNSSEC state as JSON.
fn dnssec_status(t: &Turnout, zone: &str) -> serde_json::Value {
    serde_json::from_str(&ok(&t.cli(&["dnssec", "status", zone, "--output", "json"])))
        .expect("json")
}

/// Key tags of the DNSKEYs the node serves for `zone`.
fn served_tags(t: &Turnout, zone: &str) -> Vec<u16> {
    let keys = super::transfers::kdig(t.dns, &["+short", zone, "DNSKEY"]);
    let status = dnssec_status(t, zone);
    let known = status["keys"].as_array().cloned().unwrap_or_default();
    known
        .iter()
        .filter(|k| {
            let dnskey = k["dnskey"].as_str().unwrap_or("");
            let key = dnskey.split_whitespace().last().unwrap_or("-");
            keys.replace(' ', "").contains(key)
        })
        .filter_map(|k| k["tag"].as_u64().map(|t| t as u16))
        .collect()
}

/// A ZSK rollover (pre-publication) and a CSK rollover (double DS: the test plays the parent,
/// a zone on the same node, copying the CDS into its DS) run to completion with shortened
/// timings, while Unbound, trusting only the parent's DS, is asked every 100 ms for a name,
/// a missing name and the keys of both zones: no answer is ever SERVFAIL or unvalidated.
#[test]
fn zsk_and_csk_rollovers_never_break_validation() {
    let t = Turnout::start(bin(), &["serve", "--dns", "127.0.0.1:0", "--udp-workers", "1"]);
    let zones = ["parent.test", "zsk.parent.test", "csk.parent.test", "alg.parent.test"];
    for z in zones {
        ok(&t.cli(&["zone", "create", z]));
        // Short TTLs everywhere: the rollover's waits come from them.
        ok(&t.cli(&[
            "record", "upsert", z, "@", "NS", "--ttl", "1", "--value", "ns1", "--value", "ns2",
        ]));
        let soa = format!("ns1.{z}. hostmaster.{z}. 1 7200 900 1209600 1");
        ok(&t.cli(&["record", "upsert", z, "@", "SOA", "--ttl", "1", "--value", &soa]));
        ok(&t.cli(&["record", "upsert", z, "www", "A", "--ttl", "1", "--value", "192.0.2.1"]));
    }
    let enable = |z: &str, scheme: &str| {
        let args = ["dnssec", "enable", z, "--scheme", scheme, "--dnskey-ttl", "1"];
        ok(&t.cli(&[&args[..], &["--propagation-delay", "1"]].concat()));
    };
    enable("parent.test", "csk");
    enable("zsk.parent.test", "ksk-zsk");
    enable("csk.parent.test", "csk");
    enable("alg.parent.test", "csk");
    let set_ds = |child: &str, values: &[String]| {
        let label = child.trim_end_matches(".parent.test");
        ok(&t.cli(&[
            "record",
            "upsert",
            "parent.test",
            label,
            "NS",
            "--ttl",
            "1",
            "--value",
            &format!("ns1.{child}."),
        ]));
        let mut args = vec!["record", "upsert", "parent.test", label, "DS", "--ttl", "1"];
        for v in values {
            args.extend(["--value", v.as_str()]);
        }
        ok(&t.cli(&args));
    };
    set_ds("zsk.parent.test", &ds_values(&t, "zsk.parent.test"));
    set_ds("csk.parent.test", &ds_values(&t, "csk.parent.test"));
    set_ds("alg.parent.test", &ds_values(&t, "alg.parent.test"));
    let anchor = format!("parent.test. DS {}", ds_values(&t, "parent.test")[0]);
    let u = Arc::new(unbound("parent.test.", &anchor, t.dns, 5358));
    let questions = [
        ("www.zsk.parent.test", "A"),
        ("nothing.zsk.parent.test", "A"),
        ("zsk.parent.test", "DNSKEY"),
        ("www.csk.parent.test", "A"),
        ("nothing.csk.parent.test", "A"),
        ("csk.parent.test", "DNSKEY"),
        ("www.alg.parent.test", "A"),
        ("nothing.alg.parent.test", "A"),
        ("alg.parent.test", "DNSKEY"),
    ];
    // Validated before anything rolls.
    for (name, rtype) in questions {
        poll(DEADLINE, || u.ask(name, rtype).1.then_some(()))
            .unwrap_or_else(|| panic!("{name} {rtype} never validated: {}", u.ask(name, rtype).2));
    }
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let asker = {
        let (u, stop) = (Arc::clone(&u), Arc::clone(&stop));
        std::thread::spawn(move || {
            let (mut asked, mut failures) = (0usize, Vec::new());
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for (name, rtype) in questions {
                    let (status, ad, text) = u.ask(name, rtype);
                    asked += 1;
                    if status == "SERVFAIL" || !ad {
                        failures.push(format!("{name} {rtype}: {status}, AD {ad}\n{text}"));
                    }
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            (asked, failures)
        })
    };
    let done = |z: &str| {
        poll(std::time::Duration::from_secs(60), || {
            (dnssec_status(&t, z)["next_step"].as_str() == Some("done")).then_some(())
        })
        .unwrap_or_else(|| panic!("the rollover of {z} did not end: {}", dnssec_status(&t, z)));
    };

    // ZSK: the new ZSK is published, signs, and the old one leaves.
    let before = served_tags(&t, "zsk.parent.test");
    assert_eq!(before.len(), 2, "a KSK and a ZSK: {before:?}");
    ok(&t.cli(&["dnssec", "rollover", "zsk.parent.test", "--role", "zsk"]));
    poll(DEADLINE, || (served_tags(&t, "zsk.parent.test").len() == 3).then_some(()))
        .expect("the new ZSK is published next to the old one");
    done("zsk.parent.test");
    // The node publishes the end state a moment after the second it is due.
    let after = poll(DEADLINE, || {
        let tags = served_tags(&t, "zsk.parent.test");
        (tags.len() == 2).then_some(tags)
    })
    .unwrap_or_else(|| panic!("the old ZSK stays: {:?}", served_tags(&t, "zsk.parent.test")));
    assert_eq!(
        before.iter().filter(|k| after.contains(k)).count(),
        1,
        "the KSK stays, the ZSK changed"
    );

    // CSK: the new key is published and takes over; CDS names it; the parent gets its DS; the
    // operator says so; the old key leaves.
    let old = served_tags(&t, "csk.parent.test");
    let old_ds = ds_values(&t, "csk.parent.test");
    ok(&t.cli(&["dnssec", "rollover", "csk.parent.test", "--role", "csk"]));
    let new_ds = new_ds_in_cds(&t, "csk.parent.test", &old_ds);
    // The parent replaces the DS with what CDS says.
    set_ds("csk.parent.test", &new_ds);
    ok(&t.cli(&["dnssec", "ds-seen", "csk.parent.test", "--parent-ds-ttl", "1"]));
    done("csk.parent.test");
    let new = poll(DEADLINE, || {
        let tags = served_tags(&t, "csk.parent.test");
        (tags.len() == 1).then_some(tags)
    })
    .unwrap_or_else(|| panic!("the old CSK stays: {:?}", served_tags(&t, "csk.parent.test")));
    assert!(!old.contains(&new[0]), "a new key: {old:?} -> {new:?}");

    // An algorithm rollover (13 to 15) of a CSK: the new algorithm signs first, its key
    // follows, then its DS; the old key goes, then its signatures.
    let before = served_tags(&t, "alg.parent.test");
    let old_ds = ds_values(&t, "alg.parent.test");
    let args = ["dnssec", "rollover", "alg.parent.test", "--role", "csk", "--algorithm", "ED25519"];
    ok(&t.cli(&args));
    let rrsigs =
        || super::transfers::kdig(t.dns, &["+dnssec", "+short", "www.alg.parent.test", "A"]);
    poll(DEADLINE, || {
        (rrsigs().matches("A 15 ").count() == 1 && rrsigs().matches("A 13 ").count() == 1)
            .then_some(())
    })
    .unwrap_or_else(|| panic!("not signed with both algorithms: {}", rrsigs()));
    assert_eq!(served_tags(&t, "alg.parent.test"), before, "the new key is not published yet");
    let new_ds = new_ds_in_cds(&t, "alg.parent.test", &old_ds);
    assert!(new_ds[0].contains(" 15 2 "), "{new_ds:?}");
    set_ds("alg.parent.test", &new_ds);
    ok(&t.cli(&["dnssec", "ds-seen", "alg.parent.test", "--parent-ds-ttl", "1"]));
    done("alg.parent.test");
    poll(DEADLINE, || (rrsigs().matches("A 13 ").count() == 0).then_some(()))
        .unwrap_or_else(|| panic!("the old algorithm still signs: {}", rrsigs()));
    let after = served_tags(&t, "alg.parent.test");
    assert_eq!(after.len(), 1, "{after:?}");
    assert!(!before.contains(&after[0]), "{before:?} -> {after:?}");

    // A little more of the new state, then the verdict.
    std::thread::sleep(std::time::Duration::from_secs(3));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (asked, failures) = asker.join().expect("the asker");
    assert!(asked > 100, "asked {asked} times");
    assert!(
        failures.is_empty(),
        "{} of {asked} failed, first: {}\nunbound: {}",
        failures.len(),
        failures[0],
        u.log()
    );
}
