//! Signing pieces against published vectors (RFC 4034, RFC 6605, RFC 8080) and signatures
//! checked with ring's verifiers over independently built signed data; then answers of a
//! signed zone end to end in process. `crates/turnout/tests/dns/dnssec.rs` has Unbound and
//! `delv` validate them over real sockets.

use std::sync::Arc;

use ring::signature::{ECDSA_P256_SHA256_FIXED, ED25519, UnparsedPublicKey};
use turnout_model::zonefile;
use turnout_testkit::{QueryBuilder, render};

use super::cache::SigCache;
use super::keys::{self, Algorithm, DigestType, SigningKey};
use super::sign::{self, Validity};
use super::{Lifetimes, ZoneKey, ZoneSigner};
use crate::encode::{TCP_LIMIT, Transport};
use crate::{Snapshot, ZonePart, respond};
use turnout_model::RType;

fn wire(name: &str) -> Vec<u8> {
    turnout_testkit::wire_name(name)
}

#[test]
fn key_tags_and_ds_match_the_rfc_examples() {
    // RFC 6605 §6.1: example.net.'s P-256 key and its SHA-256 DS.
    let public = data_encoding::BASE64
        .decode(b"GojIhhXUN/u4v54ZQqGSnyhWJwaubCvTmeexv7bR6edbkrSqQpF64cYbcB7wNcP+e+MAnLr+Wi9xMWyQLc8NAA==")
        .expect("base64");
    let dnskey = keys::dnskey_rdata(257, 13, &public);
    assert_eq!(keys::key_tag(&dnskey), 55648);
    let ds = keys::ds_rdata(&wire("example.net."), &dnskey, DigestType::Sha256);
    assert_eq!(
        data_encoding::HEXLOWER.encode(&ds[4..]),
        "b4c8c1fe2e7477127b27115656ad6256f424625bf5c1e2770ce6d6e37df61d17"
    );
    assert_eq!(&ds[..4], &[0xD9, 0x60, 13, 2]);
    // RFC 8080 §6: example.com.'s Ed25519 key, from its private seed.
    let seed = data_encoding::BASE64
        .decode(b"ODIyNjAzODQ2MjgwODAxMjI2NDUxOTAyMDQxNDIyNjI=")
        .expect("base64");
    let pair = ring::signature::Ed25519KeyPair::from_seed_unchecked(&seed).expect("a seed");
    use ring::signature::KeyPair as _;
    assert_eq!(
        data_encoding::BASE64.encode(pair.public_key().as_ref()),
        "l02Woi0iS8Aa25FQkUd9RMzZHJpBoRQwAQEX1SxZJA4="
    );
    let dnskey = keys::dnskey_rdata(257, 15, pair.public_key().as_ref());
    assert_eq!(keys::key_tag(&dnskey), 3613);
    let ds = keys::ds_rdata(&wire("example.com."), &dnskey, DigestType::Sha256);
    assert_eq!(
        data_encoding::HEXLOWER.encode(&ds[4..]),
        "3aa5ab37efce57f737fc1627013fee07bdf241bd10f3b1964ab55c78e79a304b"
    );
}

#[test]
fn algorithms_parse_by_number_and_mnemonic() {
    assert_eq!(Algorithm::parse("13"), Some(Algorithm::EcdsaP256Sha256));
    assert_eq!(Algorithm::parse("ed25519"), Some(Algorithm::Ed25519));
    assert_eq!(Algorithm::parse("8"), None);
    assert_eq!(Algorithm::parse("RSASHA256"), None);
    assert!(SigningKey::from_pkcs8(Algorithm::Ed25519, 256, b"not a key").is_err());
    // A P-256 key is not an Ed25519 one.
    let p256 = keys::generate(Algorithm::EcdsaP256Sha256).expect("a key");
    assert!(SigningKey::from_pkcs8(Algorithm::Ed25519, 256, &p256).is_err());
}

#[test]
fn type_bitmaps_labels_and_next_names() {
    // RFC 4034 §4.3: "A MX RRSIG NSEC TYPE1234".
    let rdata = sign::nsec_rdata(&wire("host.example.com."), &mut [1234, 47, 1, 46, 15, 1]);
    let bitmap = &rdata[wire("host.example.com.").len()..];
    let mut expected = vec![0x00, 0x06, 0x40, 0x01, 0x00, 0x00, 0x00, 0x03, 0x04, 0x1b];
    expected.extend([0; 26]);
    expected.push(0x20);
    assert_eq!(bitmap, &expected[..]);
    assert_eq!(sign::labels(&wire("*.a.example.")), 2);
    assert_eq!(sign::labels(&wire("a.*.example.")), 3);
    assert_eq!(sign::labels(&wire(".")), 0);
    let mut expected = vec![1, 0];
    expected.extend(wire("a.example."));
    assert_eq!(&sign::next_name(&wire("a.example."))[..], &expected[..]);
    // A name too long for \000 before it: the next possible sibling.
    let long =
        format!("{}.{}.{}.{}.", "a".repeat(63), "b".repeat(63), "c".repeat(63), "d".repeat(61));
    let long = wire(&long);
    assert_eq!(long.len(), 255);
    let next = sign::next_name(&long);
    assert_eq!(next.len(), 255);
    assert_eq!(next[63], b'b');
    assert!(next[..] > long[..]);
}

/// The signed data of RFC 4034 §3.1.8.1, built here without the signer's code.
fn signed_data(rrsig: &[u8], owner: &[u8], records: &[(&[u8], u32, u16)]) -> Vec<u8> {
    let signer_end = 18 + rrsig[18..].iter().position(|&b| b == 0).expect("a root") + 1;
    let mut data = rrsig[..signer_end].to_vec();
    let mut sorted: Vec<_> = records.to_vec();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    for (rdata, ttl, rtype) in sorted {
        data.extend_from_slice(owner);
        data.extend_from_slice(&rtype.to_be_bytes());
        data.extend_from_slice(&1u16.to_be_bytes());
        data.extend_from_slice(&ttl.to_be_bytes());
        data.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        data.extend_from_slice(rdata);
    }
    data
}

fn stored(rtype: u16, ttl: u32, rdata: &[u8]) -> Vec<u8> {
    let mut r = rtype.to_be_bytes().to_vec();
    r.extend_from_slice(&1u16.to_be_bytes());
    r.extend_from_slice(&ttl.to_be_bytes());
    r.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    r.extend_from_slice(rdata);
    r
}

#[test]
fn rrsigs_verify_with_both_algorithms() {
    for alg in [Algorithm::EcdsaP256Sha256, Algorithm::Ed25519] {
        let key = SigningKey::from_pkcs8(alg, 256, &keys::generate(alg).expect("key")).expect("ok");
        let owner = wire("www.example.");
        let (a, b) = ([192u8, 0, 2, 2], [192u8, 0, 2, 1]);
        let records = [stored(1, 300, &a), stored(1, 300, &b), stored(1, 300, &a)];
        let refs: Vec<&[u8]> = records.iter().map(Vec::as_slice).collect();
        let validity = Validity { inception: 1_700_000_000, expiration: 1_700_600_000 };
        let rrsig = sign::rrsig(&key, &wire("example."), &owner, RType::A, 300, validity, &refs);
        assert_eq!(&rrsig[..2], &1u16.to_be_bytes());
        assert_eq!(rrsig[2], alg.number());
        assert_eq!(rrsig[3], 2, "labels");
        assert_eq!(&rrsig[4..8], &300u32.to_be_bytes());
        assert_eq!(&rrsig[8..12], &1_700_600_000u32.to_be_bytes());
        assert_eq!(&rrsig[12..16], &1_700_000_000u32.to_be_bytes());
        assert_eq!(&rrsig[16..18], &key.tag().to_be_bytes());
        let sig_at = 18 + wire("example.").len();
        // The duplicate record counts once (RFC 4034 §6.3).
        let data = signed_data(&rrsig, &owner, &[(&a, 300, 1), (&b, 300, 1)]);
        let public = &key.dnskey()[4..];
        let verified = match alg {
            Algorithm::EcdsaP256Sha256 => {
                let mut point = vec![4u8];
                point.extend_from_slice(public);
                UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point)
                    .verify(&data, &rrsig[sig_at..])
            }
            Algorithm::Ed25519 => {
                UnparsedPublicKey::new(&ED25519, public).verify(&data, &rrsig[sig_at..])
            }
        };
        assert!(verified.is_ok(), "{alg}: the signature does not verify");
    }
}

#[test]
fn the_cache_signs_once_refreshes_and_stays_bounded() {
    let cache = SigCache::new(4);
    assert!(cache.is_empty());
    assert!(cache.get(1, 10).is_none());
    cache.insert(1, 100, Box::from(&b"sig"[..]));
    assert_eq!(cache.get(1, 99).map(|e| e.rdata.to_vec()), Some(b"sig".to_vec()));
    assert!(cache.get(1, 100).is_none(), "due for refresh");
    for k in 0..100u128 {
        cache.insert(k << 64 | k, 1000, Box::from(&b"x"[..]));
    }
    assert!(cache.len() <= 4, "{} entries in 4 slots", cache.len());

    let signer = ZoneSigner::new(
        turnout_testkit::name("example."),
        &[csk(Algorithm::Ed25519)],
        3600,
        Lifetimes { validity: 1000, refresh: 100, backdate: 10 },
    );
    let cache = SigCache::new(64);
    let a = stored(1, 60, &[192, 0, 2, 1]);
    let b = stored(1, 60, &[192, 0, 2, 2]);
    let owner = wire("www.example.");
    let first = signer.rrsigs(&cache, &owner, RType::A, 60, &[&a, &b], 5000);
    // The same RRset in another order: the same entry.
    let again = signer.rrsigs(&cache, &owner, RType::A, 60, &[&b, &a], 5050);
    assert!(Arc::ptr_eq(&first[0], &again[0]));
    // Another RRset, another signature.
    let other = signer.rrsigs(&cache, &owner, RType::A, 60, &[&a], 5050);
    assert!(!Arc::ptr_eq(&first[0], &other[0]));
    // After the refresh period, signed again with new times.
    let later = signer.rrsigs(&cache, &owner, RType::A, 60, &[&a, &b], 5100);
    assert!(!Arc::ptr_eq(&first[0], &later[0]));
    assert_eq!(&later[0].rdata[12..16], &5090u32.to_be_bytes(), "inception backdated");
    assert_eq!(&later[0].rdata[8..12], &6100u32.to_be_bytes());
}

/// A new combined signing key of `alg`: signs everything, its DS wanted at the parent.
fn csk(alg: Algorithm) -> ZoneKey {
    let key = SigningKey::from_pkcs8(alg, 257, &keys::generate(alg).expect("key")).expect("ok");
    ZoneKey {
        key: Arc::new(key),
        signs_zone: true,
        signs_keys: true,
        published: true,
        wanted_in_parent: true,
    }
}

/// A signed copy of the suite's example.test zone (a CSK of `alg`), and its signer.
fn signed_snapshot(alg: Algorithm) -> (Snapshot, Arc<ZoneSigner>) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/testdata/");
    let mut zone =
        zonefile::parse_file(format!("{dir}example.test.zone").as_ref(), None).expect("valid");
    let signer =
        Arc::new(ZoneSigner::new(zone.apex().clone(), &[csk(alg)], 3600, Lifetimes::default()));
    // A TXT RRset that fits in 512 bytes alone, not with its RRSIG.
    let text = format!("\"{}\" \"{}\"", "x".repeat(180), "y".repeat(180));
    let txt = turnout_model::Rdata::parse(
        RType::TXT,
        &turnout_model::presentation::tokenize(&text).expect("tokens"),
        None,
    )
    .expect("TXT");
    zone.insert(turnout_testkit::name("sized.example.test."), RType::TXT, 300, txt).expect("ok");
    signer.publish(&mut zone).expect("published");
    let mut part = ZonePart::build(&zone, None).expect("builds");
    part.set_signer(Some(Arc::clone(&signer)));
    (Snapshot::assemble([Arc::new(part)], None).expect("assembles"), signer)
}

fn ask(snap: &Snapshot, q: QueryBuilder, transport: Transport) -> String {
    let mut out = vec![0u8; TCP_LIMIT];
    let n = respond(snap, &q.build(), transport, None, &mut out).expect("a reply");
    render(&out[..n]).unwrap_or_else(|e| panic!("{e}: {:?}", &out[..n]))
}

fn count(text: &str, needle: &str) -> usize {
    text.lines().filter(|l| l.contains(needle)).count()
}

#[test]
fn answers_carry_rrsigs_only_when_asked() {
    let (snap, _) = signed_snapshot(Algorithm::EcdsaP256Sha256);
    let plain = ask(&snap, QueryBuilder::new("www.example.test", "A").edns(1232), Transport::Udp);
    assert_eq!(count(&plain, "RRSIG"), 0, "{plain}");
    let signed = ask(&snap, QueryBuilder::new("www.example.test", "A").dnssec_ok(), Transport::Udp);
    assert_eq!(count(&signed, "IN RRSIG"), 1, "{signed}");
    // DNSKEY and CDS at the apex, signed by the key signing key.
    let keys = ask(&snap, QueryBuilder::new("example.test", "DNSKEY").dnssec_ok(), Transport::Udp);
    assert_eq!(count(&keys, "IN DNSKEY"), 1, "{keys}");
    assert_eq!(count(&keys, "IN RRSIG"), 1, "{keys}");
    let cds = ask(&snap, QueryBuilder::new("example.test", "CDS").dnssec_ok(), Transport::Udp);
    assert_eq!(count(&cds, "IN CDS"), 1, "{cds}");
}

#[test]
fn missing_names_are_denied_compactly() {
    let (snap, _) = signed_snapshot(Algorithm::Ed25519);
    // Without DO: NXDOMAIN as ever.
    let plain =
        ask(&snap, QueryBuilder::new("nothing.example.test", "A").edns(1232), Transport::Udp);
    assert!(plain.contains("NXDOMAIN"), "{plain}");
    assert_eq!(count(&plain, "NSEC"), 0, "{plain}");
    // With DO: NOERROR, the SOA and an NSEC at the name saying NXNAME, each signed.
    let r = ask(&snap, QueryBuilder::new("nothing.example.test", "A").dnssec_ok(), Transport::Udp);
    assert!(r.contains("NOERROR") && !r.contains("NXDOMAIN"), "{r}");
    let nsec = r.lines().find(|l| l.contains(" NSEC ")).unwrap_or_else(|| panic!("{r}"));
    assert!(nsec.contains(" nothing.example.test. "), "{nsec}");
    assert!(nsec.contains("\\000.nothing.example.test.") && nsec.contains("TYPE128"), "{nsec}");
    assert_eq!(count(&r, "IN RRSIG"), 2, "the SOA's and the NSEC's: {r}");
    // NXNAME itself is never a question (RFC 9824 §3.5).
    let r =
        ask(&snap, QueryBuilder::new("www.example.test", "TYPE128").dnssec_ok(), Transport::Udp);
    assert!(r.contains("FORMERR"), "{r}");
    // No data: the NSEC lists the types the name has.
    let r = ask(&snap, QueryBuilder::new("www.example.test", "TXT").dnssec_ok(), Transport::Udp);
    let nsec = r.lines().find(|l| l.contains(" NSEC ")).unwrap_or_else(|| panic!("{r}"));
    assert!(
        nsec.contains(" A ") && nsec.contains("RRSIG NSEC") && !nsec.contains("TYPE128"),
        "{nsec}"
    );
}

#[test]
fn rrsigs_that_do_not_fit_truncate() {
    let (snap, _) = signed_snapshot(Algorithm::EcdsaP256Sha256);
    let q = || QueryBuilder::new("sized.example.test", "TXT").edns(512);
    let plain = ask(&snap, q(), Transport::Udp);
    let mut out = vec![0u8; TCP_LIMIT];
    let n = respond(&snap, &q().build(), Transport::Tcp, None, &mut out).expect("a reply");
    assert!(!plain.contains(" tc"), "fits without its RRSIG ({n} bytes over TCP): {plain}");
    assert_eq!(count(&plain, "IN TXT"), 1, "{plain}");
    let udp = ask(&snap, q().dnssec_ok(), Transport::Udp);
    assert!(udp.contains(" tc"), "does not fit with it: {udp}");
    assert_eq!(count(&udp, "IN TXT"), 0, "{udp}");
    let tcp = ask(&snap, q().dnssec_ok(), Transport::Tcp);
    assert!(!tcp.contains(" tc"), "{tcp}");
    assert_eq!((count(&tcp, "IN TXT"), count(&tcp, "IN RRSIG")), (1, 1), "{tcp}");
}
