use super::*;

fn n(s: &str) -> Name {
    Name::parse_absolute(s).expect("valid")
}

const GOOD: &str = r#"
; a zone using most of RFC 1035's syntax
$ORIGIN example.test.
$TTL 1h
@   IN  SOA ns1 hostmaster (
            2024010101 ; serial
            3600       ; refresh
            600        ; retry
            604800     ; expire
            60 )       ; minimum
    IN  NS  ns1
    IN  NS  ns2.example.test.
ns1     A   192.0.2.1
ns2 300 IN  A   192.0.2.2
        IN  AAAA 2001:db8::2
www IN 30 A 192.0.2.10
txt     TXT "first string" "second; not a comment" unquoted
esc     TXT "quote \" backslash \\ byte \255"
a\.b    A   192.0.2.3
*.wild  A   192.0.2.30
mail    MX  10 mail
sub     NS  ns.sub
ns.sub  A   192.0.2.53
$ORIGIN other.example.test.
deep    TYPE65280 \# 2 ABCD
"#;

#[test]
fn parses_the_syntax_of_rfc_1035() {
    let z = parse_str(GOOD, "good.zone", None).unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(z.apex(), &n("example.test"));
    let soa = z.get(&n("example.test"), RType::SOA).expect("soa");
    assert_eq!(soa.ttl, 3600, "$TTL applies");
    assert_eq!(
        soa.rdatas[0].display(RType::SOA).to_string(),
        "ns1.example.test. hostmaster.example.test. 2024010101 3600 600 604800 60"
    );
    assert_eq!(
        z.get(&n("example.test"), RType::NS).expect("ns").rdatas.len(),
        2,
        "blank owner continues @"
    );
    assert_eq!(z.get(&n("ns2.example.test"), RType::A).expect("a").ttl, 300);
    assert_eq!(
        z.get(&n("ns2.example.test"), RType::AAAA).expect("aaaa").ttl,
        3600,
        "$TTL, not the last TTL, when $TTL is set"
    );
    assert_eq!(z.get(&n("www.example.test"), RType::A).expect("www").ttl, 30, "class before TTL");
    let txt = z.get(&n("txt.example.test"), RType::TXT).expect("txt");
    assert_eq!(
        txt.rdatas[0].display(RType::TXT).to_string(),
        "\"first string\" \"second; not a comment\" \"unquoted\""
    );
    let esc = z.get(&n("esc.example.test"), RType::TXT).expect("esc");
    assert_eq!(esc.rdatas[0].as_wire(), b"\x1aquote \" backslash \\ byte \xff");
    assert!(
        z.get(&Name::parse_in("a\\.b", Some(&n("example.test"))).expect("ok"), RType::A).is_some()
    );
    assert!(z.get(&n("*.wild.example.test"), RType::A).is_some());
    assert!(
        z.get(&n("deep.other.example.test"), RType(65280)).is_some(),
        "$ORIGIN changes mid-file"
    );
    assert_eq!(z.record_count(), 15);
}

#[test]
fn reports_every_error_with_its_line() {
    let text = "$ORIGIN example.test.\n\
                @ 60 SOA ns1 host 1 2 3 4 5\n\
                @ 60 NS ns1\n\
                bad 60 A 300.1.1.1\n\
                ok 60 A 192.0.2.1\n\
                x 60 BOGUS data\n\
                y 60 CH A 192.0.2.1\n\
                z 60 MX (\n\
                  10 )\n\
                other.test. 60 A 192.0.2.1\n\
                ok 30 A 192.0.2.2\n\
                q 60 TXT \"unterminated\n\
                $GENERATE 1-10 x$ A 1.2.3.$\n\
                c 60 CNAME ok\n\
                c 60 TXT \"clash\"\n";
    let errs = parse_str(text, "bad.zone", None).expect_err("errors");
    let lines: Vec<(usize, &str)> = errs.iter().map(|e| (e.line, e.message.as_str())).collect();
    let expect: &[(usize, &str)] = &[
        (4, "not an IPv4 address"),
        (6, "unknown record type \"BOGUS\""),
        (7, "class CH is not served"),
        (8, "missing exchange"),
        (12, "quoted string is not closed"),
        (13, "unknown directive $GENERATE"),
        (10, "outside the zone"),
        (11, "differs from the TTL 60"),
        (15, "has a CNAME and also TXT data"),
    ];
    for (line, needle) in expect {
        assert!(
            lines.iter().any(|(l, m)| l == line && m.contains(needle)),
            "no error {needle:?} at line {line}; got {lines:#?}"
        );
    }
    assert_eq!(errs.len(), expect.len(), "{lines:#?}");
    assert_eq!(errs[0].to_string(), "bad.zone:4: A data: \"300.1.1.1\" is not an IPv4 address");
}

#[test]
fn ttl_defaults_follow_bind() {
    // No $TTL: the last explicit TTL, and the SOA MINIMUM before any.
    let text = "example.test. SOA ns1.example.test. h.example.test. 1 2 3 4 77\n\
                example.test. NS ns1.example.test.\n\
                a.example.test. 20 A 192.0.2.1\n\
                b.example.test. A 192.0.2.2\n";
    let z = parse_str(text, "t", None).unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(z.get(&n("example.test"), RType::SOA).expect("soa").ttl, 77);
    assert_eq!(z.get(&n("example.test"), RType::NS).expect("ns").ttl, 77);
    assert_eq!(z.get(&n("b.example.test"), RType::A).expect("b").ttl, 20);
}

#[test]
fn missing_pieces_are_errors() {
    let errs = parse_str("www A 192.0.2.1\n", "t", None).expect_err("no origin");
    assert!(
        errs.len() == 1 && errs[0].line == 1 && errs[0].message.contains("no origin"),
        "{errs:?}"
    );
    let errs = parse_str("$ORIGIN x.test.\nwww 60 A 192.0.2.1\n", "t", None).expect_err("no soa");
    assert_eq!(errs[0].to_string(), "t: no SOA record: the SOA's owner is the zone apex");
    let errs = parse_str("  A 192.0.2.1\n", "t", Some(&n("x.test"))).expect_err("no owner");
    assert!(errs[0].message.contains("no owner name"), "{errs:?}");
    let errs =
        parse_str("$ORIGIN x.test.\n@ 60 SOA a b 1 2 3 4 5\n", "t", None).expect_err("no ns");
    assert!(errs.iter().any(|e| e.line == 2 && e.message.contains("no NS records")), "{errs:?}");
}

#[test]
fn include_reads_relative_files_and_keeps_the_parent_origin() {
    let dir = std::env::temp_dir().join(format!("turnout-zonefile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(
        dir.join("inner.zone"),
        "www 60 A 192.0.2.80\n$ORIGIN elsewhere.example.test.\nx 60 A 192.0.2.81\n",
    )
    .expect("write");
    std::fs::write(
        dir.join("main.zone"),
        "$ORIGIN example.test.\n@ 60 SOA ns1 h 1 2 3 4 5\n@ 60 NS ns1\n$INCLUDE inner.zone sub.example.test.\nafter 60 A 192.0.2.82\n$INCLUDE missing.zone\n",
    )
    .expect("write");
    let errs = parse_file(&dir.join("main.zone"), None).expect_err("missing include");
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0].line, 6);
    assert!(errs[0].message.contains("cannot read $INCLUDE file"), "{errs:?}");
    std::fs::write(dir.join("main.zone"), "$ORIGIN example.test.\n@ 60 SOA ns1 h 1 2 3 4 5\n@ 60 NS ns1\n$INCLUDE inner.zone sub.example.test.\nafter 60 A 192.0.2.82\n")
        .expect("write");
    let z = parse_file(&dir.join("main.zone"), None).unwrap_or_else(|e| panic!("{e:?}"));
    assert!(z.get(&n("www.sub.example.test"), RType::A).is_some());
    assert!(z.get(&n("x.elsewhere.example.test"), RType::A).is_some());
    assert!(z.get(&n("after.example.test"), RType::A).is_some(), "origin restored after $INCLUDE");
    std::fs::write(
        dir.join("loop.zone"),
        "$ORIGIN example.test.\n@ 60 SOA ns1 h 1 2 3 4 5\n@ 60 NS ns1\n$INCLUDE loop.zone\n",
    )
    .expect("write");
    let errs = parse_file(&dir.join("loop.zone"), None).expect_err("loop");
    assert!(errs.iter().any(|e| e.message.contains("nested deeper")), "{errs:?}");
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

#[test]
fn unreadable_and_non_utf8_files() {
    let errs = parse_file(Path::new("/nonexistent/zone"), None).expect_err("missing");
    assert_eq!(errs[0].line, 0);
    assert!(errs[0].to_string().starts_with("/nonexistent/zone: cannot read the file"), "{errs:?}");
    let dir = std::env::temp_dir().join(format!("turnout-zonefile-utf8-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join("bin.zone"), b"$ORIGIN x.test.\n\n@ TXT \xff\n").expect("write");
    let errs = parse_file(&dir.join("bin.zone"), None).expect_err("binary");
    assert_eq!((errs[0].line, errs[0].message.contains("not UTF-8")), (3, true), "{errs:?}");
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

#[test]
fn display_output_parses_back_to_the_same_zone() {
    let z = parse_str(GOOD, "good.zone", None).expect("valid");
    let again = parse_str(&z.to_string(), "printed", None).unwrap_or_else(|e| panic!("{e:?}\n{z}"));
    assert_eq!(z, again);
}
