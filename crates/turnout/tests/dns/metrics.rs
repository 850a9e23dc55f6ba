//! The DNS server's counters in `/metrics` after a known mix of queries over UDP and TCP, and
//! the scrape as Prometheus's own `promtool` reads it.

use std::collections::HashMap;
use std::io::Write;
use std::process::{Command, Stdio};

use turnout_testkit::QueryBuilder;

use super::start_with_suite_zones;

/// `GET /metrics` with this Accept header, through curl: (content type, body).
fn scrape(api: std::net::SocketAddr, accept: &str) -> (String, String) {
    let out = Command::new("curl")
        .args(["-sS", "-D", "/dev/stderr", "-H", &format!("Accept: {accept}")])
        .arg(format!("http://{api}/metrics"))
        .output()
        .expect("curl");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let head = String::from_utf8_lossy(&out.stderr).to_ascii_lowercase();
    let kind = head
        .lines()
        .find_map(|l| l.strip_prefix("content-type: "))
        .expect("a content type")
        .trim()
        .to_owned();
    (kind, String::from_utf8(out.stdout).expect("utf-8"))
}

/// Samples by their name and labels as written (`name{a="b"}`).
fn samples(body: &str) -> HashMap<String, f64> {
    body.lines()
        .filter(|l| l.starts_with("turnout_dns_"))
        .filter_map(|l| {
            let (key, value) = l.rsplit_once(' ')?;
            Some((key.to_owned(), value.parse().ok()?))
        })
        .collect()
}

#[test]
fn every_counter_shows_the_mix_of_queries_sent_and_promtool_accepts_the_scrape() {
    let t = start_with_suite_zones(&[]);
    let query = |name: &str, qtype: &str| QueryBuilder::new(name, qtype).build();
    for _ in 0..3 {
        t.udp(&query("www.example.test", "A")).expect("NOERROR");
    }
    for _ in 0..2 {
        t.udp(&query("nothing.example.test", "A")).expect("NXDOMAIN");
    }
    t.udp(&query("www.example.org", "A")).expect("REFUSED");
    let tc = t.udp(&query("big.example.test", "TXT")).expect("TC");
    assert_eq!(tc[2] & 0x02, 0x02, "truncated");
    let mut two_questions = query("www.example.test", "A");
    two_questions[5] = 2;
    t.udp(&two_questions).expect("FORMERR");
    // Too short to hold a header: no reply.
    assert!(t.udp_wait(&[0, 1, 2, 3, 4], std::time::Duration::from_millis(200)).is_none());
    let edns = QueryBuilder::new("www.example.test", "AAAA").edns(1232).build();
    t.udp(&edns).expect("NOERROR, no AAAA");
    let replies = t.tcp(&[query("www.example.test", "A"), query("mail.example.test", "MX")], 2);
    assert_eq!(replies.expect("TCP").len(), 2);

    let api = t.api.expect("an API");
    let (kind, body) = scrape(api, "text/plain");
    assert!(kind.starts_with("text/plain; version=0.0.4"), "{kind}");
    let got = samples(&body);
    let expect = [
        (r#"turnout_dns_queries_total{transport="udp",qtype="A"}"#, 6.0),
        (r#"turnout_dns_queries_total{transport="udp",qtype="TXT"}"#, 1.0),
        (r#"turnout_dns_queries_total{transport="udp",qtype="AAAA"}"#, 1.0),
        (r#"turnout_dns_queries_total{transport="udp",qtype="other"}"#, 0.0),
        (r#"turnout_dns_queries_total{transport="tcp",qtype="A"}"#, 1.0),
        (r#"turnout_dns_queries_total{transport="tcp",qtype="MX"}"#, 1.0),
        (r#"turnout_dns_responses_total{transport="udp",rcode="NOERROR"}"#, 5.0),
        (r#"turnout_dns_responses_total{transport="udp",rcode="NXDOMAIN"}"#, 2.0),
        (r#"turnout_dns_responses_total{transport="udp",rcode="REFUSED"}"#, 1.0),
        (r#"turnout_dns_responses_total{transport="udp",rcode="FORMERR"}"#, 1.0),
        (r#"turnout_dns_responses_total{transport="tcp",rcode="NOERROR"}"#, 2.0),
        (r#"turnout_dns_truncated_responses_total{transport="udp"}"#, 1.0),
        (r#"turnout_dns_truncated_responses_total{transport="tcp"}"#, 0.0),
        (r#"turnout_dns_query_options_total{transport="udp",option="edns"}"#, 1.0),
        (r#"turnout_dns_dropped_queries_total{transport="udp",reason="malformed"}"#, 1.0),
        (r#"turnout_dns_dropped_queries_total{transport="udp",reason="rate_limited"}"#, 0.0),
        (r#"turnout_dns_response_size_bytes_count{transport="udp"}"#, 9.0),
        (r#"turnout_dns_response_size_bytes_count{transport="tcp"}"#, 2.0),
        (r#"turnout_dns_tcp_connections_accepted_total{transport="tcp"}"#, 1.0),
        (r#"turnout_dns_tcp_connections_refused_total{transport="tcp"}"#, 0.0),
        // Every query that reached a zone: not the REFUSED one, nor the FORMERR.
        (r#"turnout_dns_zone_queries_total{zone="example.test."}"#, 9.0),
        (r#"turnout_dns_zone_queries_total{zone="child.example.test."}"#, 0.0),
    ];
    for (key, value) in expect {
        assert_eq!(got.get(key).copied(), Some(value), "{key}\n{body}");
    }
    assert!(body.contains("turnout_build_info{version=\"0."), "{body}");
    assert!(body.contains("\nprocess_resident_memory_bytes "), "{body}");
    assert!(!body.contains("# EOF"));

    // Prometheus asks for OpenMetrics and gets it.
    let (kind, om) = scrape(api, "application/openmetrics-text;version=1.0.0,text/plain;q=0.5");
    assert!(kind.starts_with("application/openmetrics-text"), "{kind}");
    assert!(om.contains("# TYPE turnout_dns_queries counter") && om.contains("# EOF"), "{om}");

    // promtool (Debian's prometheus package, which scripts/deps installs) lints the scrape.
    let plain = body;
    let mut lint = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (apt-get install prometheus; scripts/deps test does)");
    lint.stdin.take().expect("stdin").write_all(plain.as_bytes()).expect("writes");
    let out = lint.wait_with_output().expect("runs");
    let said =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && said.trim().is_empty(), "promtool: {said}\n{plain}");
}
