//! A signed zone as a transfer carries it (RFC 5936 with RFC 4035): the records, the apex's
//! DNSKEY, CDS and CDNSKEY, a full NSEC chain over the authoritative names and delegations
//! (RFC 4034 §4), and the RRSIGs of every authoritative RRset. A secondary can then serve the
//! zone signed, as any signed zone, without keys. Made whole at each transfer: compact denial
//! is for answers made one by one, a secondary needs a chain.

use turnout_model::{Name, RType, Rdata};

use crate::dnssec::{ZoneSigner, sign};
use crate::xfr::Rr;

/// A record as signing reads it: `TYPE CLASS TTL RDLENGTH RDATA`.
fn stored(rtype: RType, ttl: u32, rdata: &[u8]) -> Vec<u8> {
    let mut r = Vec::with_capacity(10 + rdata.len());
    r.extend_from_slice(&rtype.0.to_be_bytes());
    r.extend_from_slice(&crate::wire::CLASS_IN.to_be_bytes());
    r.extend_from_slice(&ttl.to_be_bytes());
    r.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    r.extend_from_slice(rdata);
    r
}

/// Signs a zone for a transfer: `soa` and `rest` are its records (in any order; DNSKEY, CDS
/// and CDNSKEY at the apex are replaced by the signer's); returns the records to send
/// between the two copies of the SOA (the SOA's RRSIG among them), in canonical order.
pub fn sign_zone(signer: &ZoneSigner, soa: &Rr, rest: Vec<Rr>, now: u32) -> Vec<Rr> {
    let apex = signer.apex().clone();
    let signers_own =
        |r: &Rr| r.name == apex && matches!(r.rtype, RType::DNSKEY | RType::CDS | RType::CDNSKEY);
    let mut records: Vec<Rr> = rest.into_iter().filter(|r| !signers_own(r)).collect();
    for (rtype, ttl, rdata) in signer.apex_records() {
        if let Ok(rdata) = Rdata::from_wire(rtype, &rdata) {
            records.push(Rr { name: apex.clone(), rtype, ttl, rdata });
        }
    }
    records.push(soa.clone());
    records.sort_by(|a, b| (&a.name, a.rtype.0).cmp(&(&b.name, b.rtype.0)));
    // The negative TTL (RFC 9077 §3.1.3): the lesser of the SOA's TTL and MINIMUM.
    let minimum = soa
        .rdata
        .as_wire()
        .rchunks(4)
        .next()
        .map_or(0, |m| u32::from_be_bytes(m.try_into().unwrap_or([0; 4])));
    let nsec_ttl = soa.ttl.min(minimum);
    // Delegations (NS below the apex), and what lies below them (glue, occluded names).
    let cuts: Vec<&Name> = records
        .iter()
        .filter(|r| r.rtype == RType::NS && r.name != apex)
        .map(|r| &r.name)
        .collect();
    let below_cut = |n: &Name| cuts.iter().any(|c| n != *c && n.is_subdomain_of(c));
    // Owners in canonical order, each with its RRsets' range in `records`.
    let mut owners: Vec<(usize, usize)> = Vec::new();
    let mut i = 0;
    while i < records.len() {
        let j = i + records[i..].iter().take_while(|r| r.name == records[i].name).count();
        owners.push((i, j));
        i = j;
    }
    let chain: Vec<(usize, usize)> =
        owners.iter().copied().filter(|&(i, _)| !below_cut(&records[i].name)).collect();
    let mut out: Vec<Rr> = Vec::with_capacity(records.len() * 2 + chain.len() * 2);
    let rr = |name: &Name, rtype: RType, ttl: u32, rdata: &[u8]| {
        Rdata::generated_dnssec(rtype, rdata).ok().map(|rdata| Rr {
            name: name.clone(),
            rtype,
            ttl,
            rdata,
        })
    };
    for &(i, j) in &owners {
        let name = records[i].name.clone();
        let glue = below_cut(&name);
        let cut = cuts.contains(&&name);
        // Each RRset of the owner, then its RRSIGs: not glue, and at a delegation only DS.
        let mut k = i;
        while k < j {
            let rtype = records[k].rtype;
            let end = k + records[k..j].iter().take_while(|r| r.rtype == rtype).count();
            let set = &records[k..end];
            out.extend(set.iter().cloned());
            if !glue && (!cut || rtype == RType::DS) {
                let ttl = set[0].ttl;
                let bytes: Vec<Vec<u8>> =
                    set.iter().map(|r| stored(rtype, ttl, r.rdata.as_wire())).collect();
                let refs: Vec<&[u8]> = bytes.iter().map(Vec::as_slice).collect();
                for sig in signer.sign_rrset(name.as_wire(), rtype, ttl, &refs, now) {
                    out.extend(rr(&name, RType::RRSIG, ttl, &sig));
                }
            }
            k = end;
        }
        if glue {
            continue;
        }
        // Its NSEC: the next name of the chain (the apex after the last), its types.
        let at = chain.iter().position(|&(ci, _)| ci == i).unwrap_or(0);
        let next = chain.get(at + 1).map_or(&apex, |&(ci, _)| &records[ci].name);
        let mut types: Vec<u16> = records[i..j]
            .iter()
            .map(|r| r.rtype)
            .filter(|t| !cut || matches!(*t, RType::NS | RType::DS))
            .map(|t| t.0)
            .collect();
        types.extend([RType::RRSIG.0, RType::NSEC.0]);
        let rdata = sign::nsec_rdata(next.as_wire(), &mut types);
        out.extend(rr(&name, RType::NSEC, nsec_ttl, &rdata));
        let record = stored(RType::NSEC, nsec_ttl, &rdata);
        for sig in signer.sign_rrset(name.as_wire(), RType::NSEC, nsec_ttl, &[&record], now) {
            out.extend(rr(&name, RType::RRSIG, nsec_ttl, &sig));
        }
    }
    // The SOA itself is sent around the rest, not in it.
    out.retain(|r| !(r.rtype == RType::SOA && r.name == apex));
    out
}
