//! The process: addresses in the log, signals, reloads, exit codes, bad input refused whole.

use std::process::Command;
use std::time::Duration;

use turnout_testkit::process::{DEADLINE, Turnout, poll, udp_exchange};
use turnout_testkit::{QueryBuilder, render};

use super::{bin, start_with_suite_zones, suite_file};

fn answer_of(t: &Turnout, name: &str) -> String {
    let reply = t.udp(&QueryBuilder::new(name, "A").build()).expect("a reply");
    render(&reply).expect("decodes")
}

#[test]
fn serves_every_configured_address_and_logs_each() {
    let zone = suite_file("zones/example.test.zone");
    let zone = zone.to_string_lossy();
    let t = Turnout::start(
        bin(),
        &["serve", "--dns", "127.0.0.1:0", "--dns", "[::1]:0", "--zone-file", &zone],
    );
    // Each listener logs when it is up; wait for the last one.
    assert!(t.wait_for_log("listening for DNS/TCP on [::1]"), "{}", t.log_text());
    let log = t.log_text();
    let v6: Vec<&str> = log
        .lines()
        .filter_map(|l| l.split("listening for DNS/UDP on ").nth(1))
        .filter(|a| a.starts_with("[::1]"))
        .collect();
    assert_eq!(v6.len(), 1, "{log}");
    let v6_addr = v6[0].split_whitespace().next().and_then(|a| a.parse().ok()).expect("an address");
    assert!(log.contains(&format!("listening for DNS/TCP on {v6_addr}")), "{log}");
    let q = QueryBuilder::new("www.example.test", "A").build();
    for addr in [t.dns, v6_addr] {
        let r = udp_exchange(addr, &q, Duration::from_secs(2)).expect("reply");
        assert!(render(&r).expect("decodes").contains("IN A 192.0.2.1"), "{addr}");
    }
}

#[test]
fn sigterm_drains_and_exits_zero() {
    let mut t = start_with_suite_zones(&[]);
    // An idle TCP client must not hold the shutdown up.
    let _idle = std::net::TcpStream::connect(t.dns).expect("connects");
    assert!(answer_of(&t, "www.example.test").contains("192.0.2.1"));
    t.signal("TERM");
    let status = t.wait_exit(DEADLINE).expect("exits");
    assert_eq!(status.code(), Some(0), "{}", t.log_text());
    assert!(t.log_text().contains("shutting down"), "{}", t.log_text());
}

#[test]
fn json_logs_are_one_object_per_line_with_the_settings_once() {
    let mut t = start_with_suite_zones(&["--log-format", "json"]);
    assert!(answer_of(&t, "www.example.test").contains("192.0.2.1"));
    t.signal("TERM");
    assert_eq!(t.wait_exit(DEADLINE).and_then(|s| s.code()), Some(0), "{}", t.log_text());
    let log = t.log_text();
    let mut settings = 0;
    for line in log.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        for field in ["timestamp", "level", "target", "message"] {
            assert!(v[field].is_string(), "no {field} in {line}");
        }
        let message = v["message"].as_str().unwrap_or_default();
        assert!(!message.contains("Some(") && !message.contains("None"), "{line}");
        settings += usize::from(message.starts_with("settings: "));
    }
    assert_eq!(settings, 1, "{log}");
    assert!(log.contains(r#""message":"stopped""#), "{log}");
}

#[test]
fn sighup_reloads_only_valid_zone_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let zone = dir.path().join("reload.test.zone");
    let version = |addr: &str, serial: u32| {
        format!(
            "$ORIGIN reload.test.\n@ 60 SOA ns h {serial} 1 1 1 60\n@ 60 NS ns\nns 60 A 192.0.2.1\nwww 60 A {addr}\n"
        )
    };
    std::fs::write(&zone, version("192.0.2.10", 1)).expect("write");
    let z = zone.to_string_lossy().into_owned();
    let t = Turnout::start(bin(), &["serve", "--dns", "127.0.0.1:0", "--zone-file", &z]);
    assert!(answer_of(&t, "www.reload.test").contains("192.0.2.10"));

    std::fs::write(&zone, version("192.0.2.20", 2)).expect("write");
    t.signal("HUP");
    let changed =
        poll(DEADLINE, || answer_of(&t, "www.reload.test").contains("192.0.2.20").then_some(()));
    assert!(changed.is_some(), "reload did not take effect; log:\n{}", t.log_text());

    // A broken file is rejected whole: the previous zone keeps being served.
    std::fs::write(&zone, version("300.0.0.1", 3)).expect("write");
    t.signal("HUP");
    assert!(t.wait_for_log("reload rejected"), "{}", t.log_text());
    assert!(
        t.log_text().contains("reload.test.zone:5: A data: \"300.0.0.1\" is not an IPv4 address"),
        "{}",
        t.log_text()
    );
    assert!(answer_of(&t, "www.reload.test").contains("192.0.2.20"));
}

/// Runs the binary to its exit in a scratch directory (so a default `./turnout-data` lands there).
fn run_to_exit(args: &[&str]) -> (Option<i32>, String) {
    let cwd = tempfile::tempdir().expect("tempdir");
    let out = Command::new(bin())
        .args(args)
        .current_dir(cwd.path())
        .env("RUST_LOG", "info")
        .output()
        .expect("runs");
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code(), text)
}

#[test]
fn a_broken_zone_file_is_refused_with_every_error_and_exit_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let zone = dir.path().join("bad.zone");
    std::fs::write(
        &zone,
        "$ORIGIN bad.test.\n@ 60 SOA ns h 1 1 1 1 60\n@ 60 NS ns\nx 60 A 1.2.3\ny 60 MX 10\n",
    )
    .expect("write");
    let z = zone.to_string_lossy().into_owned();
    let (code, text) = run_to_exit(&["serve", "--dns", "127.0.0.1:0", "--zone-file", &z]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("bad.zone:4: A data"), "{text}");
    assert!(text.contains("bad.zone:5: MX data: missing exchange"), "{text}");
    assert!(!text.contains("listening for DNS"), "nothing may be served: {text}");
}

#[test]
fn a_bad_config_is_refused_naming_the_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("turnout.toml");
    std::fs::write(&cfg, "[dns]\nudp_workers = 0\n").expect("write");
    let c = cfg.to_string_lossy().into_owned();
    let (code, text) = run_to_exit(&["serve", "--config", &c]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("config field dns.udp_workers: 0 is not between 1 and 1024"), "{text}");
    std::fs::write(&cfg, "[dns]\nlisten = [\"127.0.0.1:0\"]\ntypo = 1\n").expect("write");
    let (code, text) = run_to_exit(&["serve", "--config", &c]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("unknown field `typo`"), "{text}");
}

#[test]
fn check_config_validates_without_serving() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("turnout.toml");
    let zone = suite_file("zones/example.test.zone");
    std::fs::write(
        &cfg,
        format!("version = 1\nzone_files = [{:?}]\n[dns]\nlisten = [\"127.0.0.1:0\"]\n", zone),
    )
    .expect("write");
    let c = cfg.to_string_lossy().into_owned();
    let (code, text) = run_to_exit(&["serve", "--config", &c, "--check-config"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains(
            "configuration is valid; serving 1 zone file(s): example.test. (serial 2024010101, "
        ),
        "{text}"
    );
    assert!(!text.contains("listening"), "{text}");
}

#[test]
fn check_zone_lists_each_error_with_its_line() {
    let good = suite_file("zones/example.test.zone");
    let good = good.to_string_lossy();
    let (code, text) = run_to_exit(&["check-zone", &good]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("zone example.test. is valid"), "{text}");

    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bad.zone");
    std::fs::write(&bad, "@ 60 SOA ns h 1 1 1 1 60\n@ 60 NS ns\nwww 60 AAAA 192.0.2.1\nwww 60 CNAME x\nwww 60 TXT \"t\"\n\"q\n")
        .expect("write");
    let b = bad.to_string_lossy().into_owned();
    let (code, text) = run_to_exit(&["check-zone", "--origin", "bad.test", &b]);
    assert_eq!(code, Some(1), "{text}");
    for want in [
        format!("{b}:3: AAAA data: \"192.0.2.1\" is not an IPv6 address"),
        format!("{b}:6: quoted string is not closed"),
        format!("{b}:5: www.bad.test. has a CNAME and also TXT data"),
        format!("{b}: 3 error(s)"),
    ] {
        assert!(text.lines().any(|l| l.starts_with(&want)), "missing {want:?} in:\n{text}");
    }
    let (code, text) = run_to_exit(&["check-zone", "--origin", "bad..test", &b]);
    assert_eq!(code, Some(2), "{text}");
}

#[test]
fn a_busy_port_ends_the_process_non_zero() {
    let first = start_with_suite_zones(&[]);
    let addr = first.dns.to_string();
    let (code, text) = run_to_exit(&["serve", "--dns", &addr]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains(&format!("cannot listen for DNS/TCP on {addr}")), "{text}");
    // The first server is unaffected.
    assert!(answer_of(&first, "www.example.test").contains("192.0.2.1"));
}
