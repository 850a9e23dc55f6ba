//! The answer a secondary is sent for a record set with a routing policy, when its zone's
//! transfers carry the current answers (docs/transfers.md#routing-policies-in-a-transfer):
//! what a client of unknown location is answered now, with no random draw.

use turnout_model::{Name, RType, Rdata};

use crate::answer::{Owner, answer};
use crate::policy::Context;
use crate::snapshot::Snapshot;
use crate::wire::Rcode;
use crate::wire::query::decode;
use crate::xfr::Rr;

/// The records `name`/`rtype` is answered with now for a client of unknown location
/// ([`Context::view`]): the answer section's records of that owner and type (an alias
/// answers with its target's records under `name`). Empty when the policy answers nothing
/// (a geolocation group with no default record); None when the snapshot does not hold the
/// name's zone or the records cannot be read.
pub fn current_answer(snap: &Snapshot, name: &Name, rtype: RType) -> Option<Vec<Rr>> {
    let mut packet = vec![0u8, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    packet.extend_from_slice(name.as_wire());
    packet.extend_from_slice(&rtype.0.to_be_bytes());
    packet.extend_from_slice(&crate::wire::CLASS_IN.to_be_bytes());
    let q = decode(&packet).ok()?;
    let resp = answer(snap, &q, &mut Context::view());
    if resp.rcode != Rcode::NOERROR && resp.rcode != Rcode::NXDOMAIN {
        return None;
    }
    let mut out = Vec::new();
    for item in &resp.answer {
        let at_name = match item.owner {
            Owner::Query => true,
            Owner::Name(w) => w.eq_ignore_ascii_case(name.as_wire()),
        };
        if !at_name || item.rtype() != rtype {
            continue;
        }
        let part = snap.part(item.part);
        for r in part.records(item.rrset) {
            let (bytes, _) = part.record(r);
            let ttl = u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
            let rdata = Rdata::from_wire(rtype, &bytes[10..]).ok()?;
            out.push(Rr { name: name.clone(), rtype, ttl, rdata });
        }
    }
    Some(out)
}
