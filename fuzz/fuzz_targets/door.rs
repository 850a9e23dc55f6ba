//! Any bytes as a message for the DNS door (zone transfers, NOTIFY, UPDATE, signed queries):
//! reading it whole, reading its TSIG and checking its signature must never panic; a message
//! that reads back is re-read identically, and a reply signed with a key verifies with it
//! (RFC 8945), while one byte changed after signing does not.
#![no_main]

use libfuzzer_sys::fuzz_target;
use turnout_dns::door;
use turnout_dns::tsig::{Algorithm, Key, Signer, Tsig, verify_request};
use turnout_dns::wire::Rcode;
use turnout_dns::wire::message::parse;
use turnout_model::Name;

fuzz_target!(|data: &[u8]| {
    for rcode in [Rcode::NOTIMP, Rcode::NOTAUTH, Rcode::REFUSED, Rcode::FORMERR] {
        let _ = door::wants(data, rcode);
    }
    let key = Key::new(Name::parse_absolute("fuzz.key.").expect("a name"), Algorithm::HmacSha256, b"0123456789abcdef");
    let Ok(m) = parse(data) else { return };
    if let Some((record, at)) = &m.tsig {
        if let Some(t) = Tsig::from_record(record) {
            let _ = verify_request(data, *at, &t, Some(&key), t.time_signed);
        }
        return;
    }
    // An unsigned message: sign it, and the signature verifies; a changed byte does not.
    if data.len() < 12 || data.len() > 60_000 {
        return;
    }
    let mut signed = data.to_vec();
    Signer::for_request(key.clone(), 1_000_000).sign(&mut signed, 0, &[]);
    let back = parse(&signed).expect("a signed message reads back");
    let (record, at) = back.tsig.expect("the TSIG is found");
    assert_eq!(at, data.len(), "the TSIG starts where the message ended");
    let t = Tsig::from_record(&record).expect("the TSIG reads back");
    assert_eq!(verify_request(&signed, at, &t, Some(&key), 1_000_000), Ok(()));
    let mut changed = signed.clone();
    let i = data.len() / 2;
    changed[i.max(12)] ^= 0x01;
    if parse(&changed).is_ok_and(|c| c.tsig.is_some_and(|(_, a)| a == at)) {
        assert!(verify_request(&changed, at, &t, Some(&key), 1_000_000).is_err(), "a changed byte verifies");
    }
});
