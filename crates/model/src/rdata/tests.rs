use super::*;
use hickory_proto::rr::{RData as HRData, RecordType as HType};
use hickory_proto::serialize::binary::{BinDecoder, Restrict};

fn origin() -> Name {
    Name::parse_absolute("example.test.").expect("valid")
}

fn parse(rtype: RType, text: &str) -> Result<Rdata, RdataError> {
    Rdata::from_text(rtype, text, Some(&origin()))
}

fn ok(rtype: RType, text: &str) -> Rdata {
    parse(rtype, text).unwrap_or_else(|e| panic!("{rtype} {text:?}: {e}"))
}

/// Parses, prints, parses the printed form again: both parses must give the same wire bytes.
fn round_trip(rtype: RType, text: &str) -> String {
    let a = ok(rtype, text);
    let shown = a.display(rtype).to_string();
    let b = parse(rtype, &shown).unwrap_or_else(|e| panic!("re-parse of {shown:?}: {e}"));
    assert_eq!(a, b, "{rtype}: {text:?} -> {shown:?}");
    // The generic form of the same bytes must also parse to the same rdata.
    let generic = format!("\\# {} {}", a.as_wire().len(), HEXUPPER_PERMISSIVE.encode(a.as_wire()));
    let c = if a.as_wire().is_empty() { parse(rtype, "\\# 0") } else { parse(rtype, &generic) };
    assert_eq!(Ok(a), c, "{rtype}: generic form {generic:?}");
    shown
}

#[test]
fn every_listed_type_round_trips() {
    let cases: &[(RType, &str, &str)] = &[
        (RType::A, "192.0.2.1", "192.0.2.1"),
        (RType::AAAA, "2001:db8::1", "2001:db8::1"),
        (RType::NS, "ns1", "ns1.example.test."),
        (RType::CNAME, "Target.Example.Net.", "target.example.net."),
        (RType::PTR, "host.example.test.", "host.example.test."),
        (RType::MX, "10 mail", "10 mail.example.test."),
        (RType::TXT, "\"hello world\" two", "\"hello world\" \"two\""),
        (RType::TXT, "\"\"", "\"\""),
        (RType::SPF, "\"v=spf1 -all\"", "\"v=spf1 -all\""),
        (
            RType::SOA,
            "ns1 hostmaster 2024010101 1h 10m 1w 60",
            "ns1.example.test. hostmaster.example.test. 2024010101 3600 600 604800 60",
        ),
        (RType::SRV, "0 5 5060 sip.example.test.", "0 5 5060 sip.example.test."),
        (RType::CAA, "0 issue \"ca.example.net\"", "0 issue \"ca.example.net\""),
        (
            RType::NAPTR,
            "100 10 \"U\" \"E2U+sip\" \"!^.*$!sip:info@example.test!\" .",
            "100 10 \"U\" \"E2U+sip\" \"!^.*$!sip:info@example.test!\" .",
        ),
        (
            RType::DS,
            "60485 5 1 2BB183AF5F22588179A53B0A 98631FAD1A292118",
            "60485 5 1 2BB183AF5F22588179A53B0A98631FAD1A292118",
        ),
        (
            RType::TLSA,
            "3 1 1 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "3 1 1 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF",
        ),
        (
            RType::SSHFP,
            "4 2 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "4 2 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF",
        ),
        (RType::SVCB, "0 svc.example.net.", "0 svc.example.net."),
        (
            RType::HTTPS,
            "1 . alpn=h2,h3 port=8443 ipv4hint=192.0.2.1,192.0.2.2 ipv6hint=2001:db8::1",
            "1 . alpn=\"h2,h3\" port=8443 ipv4hint=192.0.2.1,192.0.2.2 ipv6hint=2001:db8::1",
        ),
        (
            RType::SVCB,
            "16 foo.example.org. mandatory=alpn,ipv4hint alpn=\"h2,h3-19\" ipv4hint=192.0.2.1 key667=\"hello\\210qoo\"",
            "16 foo.example.org. mandatory=alpn,ipv4hint alpn=\"h2,h3-19\" ipv4hint=192.0.2.1 key667=\"hello\\210qoo\"",
        ),
        (
            RType::HTTPS,
            "1 . alpn=h3 no-default-alpn ech=AEb+DQ==",
            "1 . alpn=\"h3\" no-default-alpn ech=AEb+DQ==",
        ),
        (RType(65280), "\\# 3 ABCDEF", "\\# 3 ABCDEF"),
        (RType(65281), "\\# 0", "\\# 0"),
    ];
    for (rtype, input, want) in cases {
        assert_eq!(&round_trip(*rtype, input), want, "{rtype} {input:?}");
    }
}

#[test]
fn wire_matches_an_independent_encoder() {
    // hickory-proto's own parser and encoder, for the types it parses without a zone origin.
    let cases: &[(RType, HType, &str)] = &[
        (RType::A, HType::A, "192.0.2.1"),
        (RType::AAAA, HType::AAAA, "2001:db8::1"),
        (RType::NS, HType::NS, "ns1.example.test."),
        (RType::MX, HType::MX, "10 mail.example.test."),
        (RType::TXT, HType::TXT, "\"a b\" c \"\""),
        (RType::SOA, HType::SOA, "ns1.example.test. host.example.test. 1 7200 900 1209600 86400"),
        (RType::SRV, HType::SRV, "1 2 3 t.example.test."),
        (RType::CAA, HType::CAA, "0 issue \"ca.example.net\""),
        (RType::CAA, HType::CAA, "128 iodef \"mailto:sec@example.test\""),
        (RType::NAPTR, HType::NAPTR, "100 10 \"U\" \"E2U+sip\" \"!^.*$!sip:x@y!\" ."),
        (
            RType::TLSA,
            HType::TLSA,
            "3 1 1 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF",
        ),
        (RType::SSHFP, HType::SSHFP, "1 1 0123456789ABCDEF0123456789ABCDEF01234567"),
        (RType::SVCB, HType::SVCB, "1 svc.example.test. alpn=h2,h3 port=443 ipv4hint=192.0.2.1"),
        (RType::HTTPS, HType::HTTPS, "1 . alpn=h2 ipv6hint=2001:db8::1"),
    ];
    for (ours, theirs, text) in cases {
        let a = ok(*ours, text);
        let h =
            HRData::try_from_str(*theirs, text).unwrap_or_else(|e| panic!("hickory {text:?}: {e}"));
        // Our wire bytes, read back by hickory's decoder, must be the record hickory parsed.
        let len = Restrict::new(a.as_wire().len() as u16);
        let decoded = HRData::read(&mut BinDecoder::new(a.as_wire()), *theirs, len)
            .unwrap_or_else(|e| panic!("hickory cannot read our {ours} {text:?}: {e}"));
        assert_eq!(decoded, h, "{ours} {text:?}");
    }
}

#[test]
fn errors_name_the_field() {
    let cases: &[(RType, &str, &str)] = &[
        (RType::A, "192.0.2", "not an IPv4 address"),
        (RType::A, "192.0.2.1 192.0.2.2", "unexpected"),
        (RType::AAAA, "192.0.2.1", "not an IPv6 address"),
        (RType::MX, "mail", "preference"),
        (RType::MX, "70000 mail", "preference \"70000\" is out of range"),
        (RType::MX, "10", "missing exchange"),
        (RType::SOA, "ns1 host 1 2 3 4", "missing minimum"),
        (RType::SOA, "ns1 host x 2 3 4 5", "serial"),
        (RType::TXT, &format!("\"{}\"", "a".repeat(256)), "limit is 255"),
        (RType::CAA, "0 is_sue \"x\"", "CAA tag"),
        (RType::DS, "1 8 2 ABCD", "needs 32 bytes"),
        (RType::DS, "1 8 2 ABC", "hex"),
        (RType::SVCB, "1 . alpn", "alpn needs a value"),
        (RType::SVCB, "1 . port=1 port=2", "appears twice"),
        (RType::SVCB, "1 . mandatory=port", "not present"),
        (RType::SVCB, "1 . no-default-alpn", "requires alpn"),
        (RType::SVCB, "1 . bogus=1", "unknown SvcParamKey"),
        (RType::SVCB, "1 . key65535=1", "reserved"),
        (RType(65280), "abc", "generic form"),
        (RType(65280), "\\# 2 ABCDEF", "says 2 bytes"),
        (RType::A, "\\# 3 010203", "invalid A data"),
        (RType::OPT, "\\# 0", "meta type"),
        (RType::DNAME, "target.", "not supported"),
        (RType::RRSIG, "\\# 0", "pre-signed"),
    ];
    for (rtype, text, want) in cases {
        match parse(*rtype, text) {
            Ok(r) => panic!("{rtype} {text:?} was accepted as {r:?}"),
            Err(e) => assert!(
                e.message.contains(want),
                "{rtype} {text:?}: {:?} lacks {want:?}",
                e.message
            ),
        }
    }
}

#[test]
fn embedded_names_are_reported() {
    let soa = ok(RType::SOA, "ns1 host 1 2 3 4 5");
    let names = soa.names(RType::SOA);
    assert_eq!(names.len(), 2);
    assert_eq!(names[0], EmbeddedName { offset: 0, len: 18, compressible: true });
    assert_eq!(names[1].offset, 18);
    let srv = ok(RType::SRV, "1 2 3 t.example.test.");
    assert_eq!(srv.names(RType::SRV), [EmbeddedName { offset: 6, len: 16, compressible: false }]);
    assert!(ok(RType::A, "192.0.2.1").names(RType::A).is_empty());
}

#[test]
fn names_in_rdata_are_lowercased() {
    let a = ok(RType::CNAME, "WWW.Example.TEST.");
    let b = Rdata::from_wire(RType::CNAME, b"\x03WWW\x07Example\x04TEST\x00").expect("ok");
    assert_eq!(a, b);
    assert_eq!(a.as_wire(), b"\x03www\x07example\x04test\x00");
}

mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn txt_bytes_survive_display_and_parse(strings in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 1..4)) {
            let mut wire = Vec::new();
            for s in &strings {
                wire.push(s.len() as u8);
                wire.extend_from_slice(s);
            }
            let a = Rdata::from_wire(RType::TXT, &wire).expect("valid");
            let shown = a.display(RType::TXT).to_string();
            let b = Rdata::from_text(RType::TXT, &shown, None).expect("re-parses");
            prop_assert_eq!(a, b);
        }

        #[test]
        fn arbitrary_wire_never_panics(t in 0u16..300, bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(r) = Rdata::from_wire(RType(t), &bytes) {
                let shown = r.display(RType(t)).to_string();
                let again = Rdata::from_text(RType(t), &shown, None);
                prop_assert_eq!(Ok(r), again, "type {} shown as {:?}", t, shown);
            }
        }
    }
}
