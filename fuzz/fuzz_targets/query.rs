//! Any bytes as a query: decode -> answer -> encode must never panic, and whatever Turnout
//! sends back must be a well-formed DNS response (decoded by hickory-proto, an independent
//! implementation), within the size limit, echoing the ID and the question.
#![no_main]

use std::sync::OnceLock;

use hickory_proto::op::{Message, MessageType};
use libfuzzer_sys::fuzz_target;
use turnout_dns::encode::{TCP_LIMIT, Transport};
use turnout_dns::{Rejection, Snapshot, decode, respond, response_limit};
use turnout_model::zonefile;

fn snapshot() -> &'static Snapshot {
    static SNAP: OnceLock<Snapshot> = OnceLock::new();
    SNAP.get_or_init(|| {
        let parent = include_str!("../../crates/dns/src/testdata/example.test.zone");
        let child = include_str!("../../crates/dns/src/testdata/child.example.test.zone");
        let zones = [parent, child].map(|z| zonefile::parse_str(z, "test", None).expect("valid test zone"));
        Snapshot::build(&zones).expect("builds")
    })
}

fuzz_target!(|data: &[u8]| {
    let snap = snapshot();
    let mut out = vec![0u8; TCP_LIMIT];
    for transport in [Transport::Udp, Transport::Tcp] {
        let Some(n) = respond(snap, data, transport, None, &mut out) else {
            assert!(data.len() < 12 || data[2] & 0x80 != 0, "only short packets and responses are dropped");
            continue;
        };
        let reply = &out[..n];
        let limit = match decode(data) {
            Ok(q) => response_limit(q.edns, transport),
            Err(Rejection::Reply(_)) => 512,
            Err(Rejection::Drop) => unreachable!("a dropped packet got a reply"),
        };
        assert!(n >= 12 && n <= limit, "reply of {n} bytes, limit {limit}");
        assert_eq!(reply[..2], data[..2], "the ID is echoed");
        let m = Message::from_vec(reply).expect("Turnout's reply decodes");
        assert_eq!(m.metadata.message_type, MessageType::Response);
        if let Ok(q) = decode(data) {
            assert_eq!(&reply[12..12 + q.question.len()], q.question, "the question is echoed byte for byte");
        }
    }
});
