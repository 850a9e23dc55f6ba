//! Real clients: BIND's `dig` and Knot's `kdig` (Debian bind9-dnsutils, knot-dnsutils, which
//! the test command installs) against the real binary.

use turnout_testkit::process::dns_tool;

use super::start_with_suite_zones;

fn tool(name: &str, args: &[String]) -> String {
    let server: std::net::SocketAddr = args[0].parse().unwrap_or_else(|e| panic!("{e}"));
    let rest: Vec<&str> = args[1..].iter().map(String::as_str).collect();
    dns_tool(name, server, &rest)
}

fn args(server: std::net::SocketAddr, rest: &[&str]) -> Vec<String> {
    let mut a = vec![server.to_string()];
    a.extend(rest.iter().map(|s| (*s).to_owned()));
    a
}

#[test]
fn dig_over_udp_and_tcp() {
    let t = start_with_suite_zones(&[]);
    let short = tool("dig", &args(t.dns, &["+short", "alias.example.test", "A"]));
    let mut lines: Vec<&str> = short.lines().collect();
    lines[1..].sort_unstable(); // the records of an RRset come in rotating order
    assert_eq!(lines, ["www.example.test.", "192.0.2.1", "192.0.2.2"]);
    let tcp = tool("dig", &args(t.dns, &["+tcp", "+short", "example.test", "MX"]));
    assert_eq!(tcp.trim(), "10 mail.example.test.");
    // dig sends an EDNS cookie by default; it must be ignored, not refused.
    let full = tool("dig", &args(t.dns, &["+norec", "www.example.test", "A"]));
    assert!(full.contains("status: NOERROR") && full.contains("flags: qr aa;"), "{full}");
    assert!(full.contains("; EDNS: version: 0, flags:; udp: 1232"), "{full}");
    // Owner names are compression pointers to the question: 12 (header) + 22 (question)
    // + 2 x (2 + 10 + 4) for the two A records.
    let plain = tool("dig", &args(t.dns, &["+norec", "+noedns", "www.example.test", "A"]));
    assert!(plain.contains("MSG SIZE  rcvd: 66"), "{plain}");
    let nx = tool("dig", &args(t.dns, &["nothing.example.test", "A"]));
    assert!(nx.contains("status: NXDOMAIN"), "{nx}");
}

#[test]
fn dig_retries_over_tcp_after_truncation() {
    let t = start_with_suite_zones(&[]);
    // +ignore shows the truncated UDP reply itself.
    let udp =
        tool("dig", &args(t.dns, &["+noedns", "+norec", "+ignore", "big.example.test", "TXT"]));
    assert!(udp.contains("flags: qr aa tc;"), "{udp}");
    assert!(udp.contains("ANSWER: 0"), "{udp}");
    // Without it dig falls back to TCP, as resolvers do, and gets every record.
    let full = tool("dig", &args(t.dns, &["+noedns", "+short", "big.example.test", "TXT"]));
    assert_eq!(full.lines().count(), 6, "{full}");
}

#[test]
fn kdig_over_tcp_and_with_dnssec_ok() {
    let t = start_with_suite_zones(&[]);
    let out = tool("kdig", &args(t.dns, &["+tcp", "+dnssec", "_sip._udp.example.test", "SRV"]));
    assert!(out.contains("NOERROR"), "{out}");
    assert!(out.contains("0 5 5060 sip.example.test."), "{out}");
    assert!(
        out.contains("sip.example.test.") && out.contains("192.0.2.60"),
        "additional address: {out}"
    );
    assert!(out.contains("EDNS PSEUDOSECTION") && out.contains("flags: do"), "DO echoed: {out}");
}

/// A query signed with a key Turnout does not know (it knows none) is answered NOTAUTH with an
/// unsigned TSIG saying BADKEY (RFC 8945 §5.2.1), which both clients read; and an error reply to
/// an EDNS query carries OPT (RFC 6891 §6.1.1).
#[test]
fn an_unknown_tsig_key_is_badkey_to_dig_and_kdig() {
    let t = start_with_suite_zones(&[]);
    let key = "hmac-sha256:somekey:c2VjcmV0c2VjcmV0c2VjcmV0";
    let dig = tool("dig", &args(t.dns, &["-y", key, "+norec", "www.example.test", "A"]));
    assert!(dig.contains("status: NOTAUTH"), "{dig}");
    assert!(
        dig.contains("somekey.\t\t0\tANY\tTSIG\thmac-sha256.") && dig.contains("BADKEY"),
        "{dig}"
    );
    let kdig = tool("kdig", &args(t.dns, &["-y", key, "www.example.test", "A"]));
    assert!(kdig.contains("status: BADKEY"), "{kdig}");
    // NOTIFY for a zone that is not a secondary zone here is refused, saying why; the refusal
    // carries the query's OPT.
    let notify = tool("dig", &args(t.dns, &["+opcode=notify", "+norec", "example.test", "SOA"]));
    assert!(
        notify.contains("status: REFUSED") && notify.contains("; EDNS: version: 0"),
        "{notify}"
    );
    assert!(notify.contains("not a secondary zone here"), "{notify}");
}
