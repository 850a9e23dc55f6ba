//! Abuse limits against the real binary: server cookies (RFC 7873) as `dig +cookie` sees them,
//! NSID (`dig +nsid`) and `id.server`, Extended DNS Errors, and response-rate limiting under a
//! bounded flood from one loopback source while another source keeps full service.
#![allow(clippy::unwrap_used)] // A panic is how a test fails.

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use turnout_testkit::QueryBuilder;
use turnout_testkit::process::{Turnout, dns_tool};

use super::{bin, suite_file};

/// Starts a node serving the suite's zone with this `[dns]` config added.
fn start(dns: &str) -> (tempfile::TempDir, Turnout) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("turnout.toml");
    let zone = suite_file("zones/example.test.zone");
    std::fs::write(
        &cfg,
        format!(
            "zone_files = [{zone:?}]\n[dns]\nlisten = [\"127.0.0.1:0\"]\nudp_workers = 2\n{dns}"
        ),
    )
    .unwrap();
    let c = cfg.to_string_lossy().into_owned();
    let t = Turnout::start(bin(), &["serve", "--config", &c]);
    // Cookies are stable once the node uses the shared secret (before it, its own).
    if !dns.contains("cookies = false") {
        assert!(
            t.wait_for_log("server cookies use the DNS cookie secret every node shares"),
            "{}",
            t.log_text()
        );
    }
    (dir, t)
}

/// The hex after `; COOKIE: ` in dig's output.
fn cookie_of(out: &str) -> String {
    let line = out.lines().find(|l| l.starts_with("; COOKIE: ")).unwrap_or_else(|| panic!("{out}"));
    line["; COOKIE: ".len()..].split_whitespace().next().unwrap().to_owned()
}

#[test]
fn cookies_nsid_identity_and_extended_errors_as_dig_sees_them() {
    let (_dir, t) = start("identity = \"ns-test-1\"\n");
    // RFC 7873 §5.2.3: a client cookie alone gets a server cookie back.
    let first = dns_tool("dig", t.dns, &["+cookie", "+norec", "www.example.test", "A"]);
    assert!(first.contains("status: NOERROR"), "{first}");
    let cookie = cookie_of(&first);
    assert_eq!(cookie.len(), 48, "8 bytes of client cookie, 16 of server cookie: {first}");
    assert!(first.contains(&format!("; COOKIE: {cookie} (good)")), "{first}");
    assert_eq!(&cookie[16..18], "01", "an RFC 9018 version 1 cookie");
    // §5.2.4: sent back, it is valid; young, it comes back unchanged.
    let again = dns_tool("dig", t.dns, &[&format!("+cookie={cookie}"), "www.example.test", "A"]);
    assert!(again.contains(&format!("; COOKIE: {cookie} (good)")), "{again}");
    // A forged server cookie gets a fresh one (and the answer).
    let mut forged = cookie.clone();
    forged.replace_range(40.., "0000000000000000");
    let fresh = dns_tool("dig", t.dns, &[&format!("+cookie={forged}"), "www.example.test", "A"]);
    assert!(fresh.contains("status: NOERROR"), "{fresh}");
    let replaced = cookie_of(&fresh);
    assert!(replaced.starts_with(&cookie[..16]) && replaced != forged, "{fresh}");
    // kdig reads it too.
    let k = dns_tool("kdig", t.dns, &["+cookie", "www.example.test", "A"]);
    assert!(k.contains("COOKIE: ") && k.contains("NOERROR"), "{k}");

    // RFC 5001: NSID when asked, and only then.
    let nsid = dns_tool("dig", t.dns, &["+nsid", "www.example.test", "A"]);
    assert!(nsid.contains("; NSID: ") && nsid.contains("(\"ns-test-1\")"), "{nsid}");
    let plain = dns_tool("dig", t.dns, &["www.example.test", "A"]);
    assert!(!plain.contains("NSID"), "{plain}");
    // RFC 4892: id.server and hostname.bind in class CH.
    for name in ["id.server", "hostname.bind", "ID.SERVER"] {
        let id = dns_tool("dig", t.dns, &["+short", "-c", "CH", "-t", "TXT", name]);
        assert_eq!(id.trim(), "\"ns-test-1\"", "{name}");
    }
    let version = dns_tool("dig", t.dns, &["-c", "CH", "-t", "TXT", "version.bind"]);
    assert!(version.contains("status: REFUSED"), "the version is not told: {version}");

    // RFC 8914: a refusal says why.
    let refused = dns_tool("dig", t.dns, &["www.example.org", "A"]);
    assert!(refused.contains("status: REFUSED"), "{refused}");
    assert!(
        refused.contains("; EDE: 20 (Not Authoritative): (not in a zone served here)"),
        "{refused}"
    );
    // AXFR over UDP: Not Supported (dig shows no EDE for a transfer; read the reply).
    let axfr = t.udp(&QueryBuilder::new("example.test", "AXFR").edns(1232).build()).unwrap();
    assert_eq!(axfr[3] & 0xF, 5, "REFUSED");
    assert!(axfr.windows(2).any(|w| w == [0, 15]), "an EDE option");
    assert!(
        axfr.windows(2).any(|w| w == [0, 21]) && axfr.ends_with(b"AXFR is served over TCP only")
    );

    // Without an identity, id.server is refused like any name outside the zones.
    let (_dir2, quiet) = start("cookies = false\n");
    let id = dns_tool("dig", quiet.dns, &["-c", "CH", "-t", "TXT", "id.server"]);
    assert!(id.contains("status: REFUSED"), "{id}");
    let no_cookie = dns_tool("dig", quiet.dns, &["+cookie", "www.example.test", "A"]);
    assert!(!no_cookie.contains("; COOKIE:"), "cookies = false: {no_cookie}");
}

/// A query with an OPT carrying `option` (code, data).
fn with_option(name: &str, id: u16, code: u16, data: &[u8]) -> Vec<u8> {
    let mut b = QueryBuilder::new(name, "A");
    b.id = id;
    let mut p = b.edns(1232).build();
    let n = p.len();
    p[n - 2..].copy_from_slice(&(4 + data.len() as u16).to_be_bytes());
    p.extend_from_slice(&code.to_be_bytes());
    p.extend_from_slice(&(data.len() as u16).to_be_bytes());
    p.extend_from_slice(data);
    p
}

/// Replies read from `s` until `quiet` passes without one: (full answers, truncated ones).
fn drain(s: &UdpSocket, quiet: Duration) -> (usize, usize) {
    s.set_read_timeout(Some(quiet)).unwrap();
    let (mut full, mut tc) = (0, 0);
    let mut buf = [0u8; 1500];
    while let Ok(n) = s.recv(&mut buf) {
        assert!(n >= 12);
        if buf[2] & 0x02 != 0 {
            assert_eq!(u16::from_be_bytes([buf[6], buf[7]]), 0, "a slipped reply has no answer");
            tc += 1;
        } else {
            full += 1;
        }
    }
    (full, tc)
}

#[test]
fn a_flooding_prefix_gets_its_rate_and_slipped_truncations_while_others_are_served() {
    let (_dir, t) = start("[dns.rate_limit]\nrate = 20\nslip = 2\n");
    let query = QueryBuilder::new("www.example.test", "A").build();
    // The flood: 300 queries from one source, sent within a fraction of a second; a client of
    // another /24 (127.0.1.1) asks 20 times in between.
    let flood = UdpSocket::bind("127.0.0.1:0").unwrap();
    flood.connect(t.dns).unwrap();
    let other = UdpSocket::bind("127.0.1.1:0").unwrap();
    other.connect(t.dns).unwrap();
    let started = Instant::now();
    for i in 0..300 {
        flood.send(&query).unwrap();
        if i % 15 == 0 {
            other.send(&query).unwrap();
        }
    }
    let seconds = started.elapsed().as_secs() + 2; // the windows the flood may have touched
    let (full, tc) = drain(&flood, Duration::from_millis(500));
    let limit = 20 * usize::try_from(seconds).unwrap();
    assert!((20..=limit).contains(&full), "{full} full answers, at most {limit}");
    let limited = 300 - full;
    assert!(tc.abs_diff(limited / 2) <= seconds as usize, "{tc} slipped of {limited} limited");
    assert_eq!(drain(&other, Duration::from_millis(300)), (20, 0), "another prefix is served");
    // TCP proves the source address: never limited.
    let over_tcp = t.tcp(std::slice::from_ref(&query), 1).unwrap();
    assert_eq!(over_tcp[0][2] & 0x02, 0);
    // RFC 7873 §5.3.2: neither is a query with a valid server cookie. Learn one over TCP.
    let client_cookie = *b"floodcli";
    let hello = with_option("www.example.test", 1, 10, &client_cookie);
    let reply = t.tcp(&[hello], 1).unwrap().remove(0);
    let at = reply.windows(4).position(|w| w == [0, 10, 0, 24]).expect("a cookie came back");
    let cookie = reply[at + 4..at + 28].to_vec();
    assert_eq!(&cookie[..8], &client_cookie);
    let proven = with_option("www.example.test", 2, 10, &cookie);
    for _ in 0..100 {
        flood.send(&proven).unwrap();
    }
    assert_eq!(drain(&flood, Duration::from_millis(500)), (100, 0), "valid cookies pass");
}

#[test]
fn without_a_limit_every_query_is_answered() {
    // Without a limit every query gets its answer: the amplification the limit takes away.
    let (_dir, t) = start("");
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.connect(t.dns).unwrap();
    let query = QueryBuilder::new("www.example.test", "A").build();
    for _ in 0..100 {
        s.send(&query).unwrap();
    }
    assert_eq!(drain(&s, Duration::from_millis(500)), (100, 0));
}
