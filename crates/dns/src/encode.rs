//! Encoding a [`Response`] plan, or an error reply, into wire format.
//!
//! Truncation follows RFC 2181 §9 and RFC 9471: when the answer or authority section, or the
//! in-domain glue of a referral, does not fit in the client's limit, the reply carries only the
//! header, the question and OPT, with TC set; optional additional records that do not fit are
//! left out without TC.

use smallvec::SmallVec;

use crate::Snapshot;
use crate::answer::{Denial, DenialKind, Item, Owner, Response};
use crate::dnssec::{ZoneSigner, sign};
use crate::wire::query::{Edns, ErrorReply, Query};
use crate::wire::writer::{Full, Writer};
use turnout_model::RType;

use crate::wire::Rcode;

/// The UDP payload size Turnout advertises and never exceeds (the DNS Flag Day 2020 value,
/// which avoids IP fragmentation on common paths).
pub const EDNS_UDP_PAYLOAD: u16 = 1232;
/// The UDP limit without EDNS (RFC 1035 §4.2.1).
pub const CLASSIC_UDP_LIMIT: usize = 512;
/// The TCP limit: the two-byte length prefix (RFC 1035 §4.2.2).
pub const TCP_LIMIT: usize = 65535;
const OPT_LEN: usize = 11;

const QR: u16 = 0x8000;
const AA: u16 = 0x0400;
const TC: u16 = 0x0200;
const RD: u16 = 0x0100;
const CD: u16 = 0x0010;

/// The transport a query came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// UDP: responses are limited by EDNS.
    Udp,
    /// TCP: responses may use up to 65535 bytes.
    Tcp,
}

/// The largest response allowed for this query on this transport.
#[inline]
pub fn response_limit(edns: Option<Edns>, transport: Transport) -> usize {
    match (transport, edns) {
        (Transport::Tcp, _) => TCP_LIMIT,
        (Transport::Udp, Some(e)) => usize::from(e.udp_size.clamp(512, EDNS_UDP_PAYLOAD)),
        (Transport::Udp, None) => CLASSIC_UDP_LIMIT,
    }
}

fn write_owner<'n>(w: &mut Writer<'_, 'n>, owner: Owner<'n>) -> Result<(), Full> {
    match owner {
        Owner::Query => w.pointer(12),
        Owner::Name(n) => w.name(n),
    }
}

fn write_item<'n>(
    w: &mut Writer<'_, 'n>,
    snap: &'n Snapshot,
    item: &Item<'n>,
) -> Result<u16, Full> {
    let part = snap.part(item.part);
    if item.rrset.plain && item.first == 0 {
        // No name to compress inside: owner, then the record's bytes as they are.
        let mut rest = part.rrset_bytes(item.rrset);
        let mut n = 0;
        while rest.len() >= 10 {
            let len = 10 + usize::from(u16::from_be_bytes([rest[8], rest[9]]));
            let (record, tail) = rest.split_at(len.min(rest.len()));
            write_owner(w, item.owner)?;
            w.bytes(record)?;
            rest = tail;
            n += 1;
        }
        return Ok(n);
    }
    let records = part.records(item.rrset);
    let first = usize::from(item.first).min(records.len());
    let (head, tail) = records.split_at(first);
    for rec in tail.iter().chain(head) {
        write_owner(w, item.owner)?;
        let (b, names) = part.record(rec);
        w.bytes(&b[..8])?;
        let rdlen_at = w.len();
        w.u16(0)?;
        let mut pos = 10;
        for &(off, len) in names {
            let (off, len) = (usize::from(off), usize::from(len));
            w.bytes(&b[pos..off])?;
            w.name(&b[off..off + len])?;
            pos = off + len;
        }
        w.bytes(&b[pos..])?;
        let rdlen = w.len() - rdlen_at - 2;
        w.patch_u16(rdlen_at, rdlen as u16);
    }
    Ok(records.len() as u16)
}

fn write_section<'n>(
    w: &mut Writer<'_, 'n>,
    r: &Response<'n>,
    q: &Query<'_>,
    items: &[Item<'n>],
) -> Result<u16, Full> {
    let mut n = 0;
    if !r.dnssec {
        for item in items {
            n += write_item(w, r.snap, item)?;
        }
        return Ok(n);
    }
    let mut rest = items;
    while let Some(first) = rest.first() {
        // An RRset: the items of one owner and type (a multivalue answer is several).
        let len = rest
            .iter()
            .take_while(|i| i.owner == first.owner && i.rtype() == first.rtype())
            .count();
        let (run, tail) = rest.split_at(len);
        for item in run {
            n += write_item(w, r.snap, item)?;
        }
        n += write_rrsigs(w, r, q, run)?;
        rest = tail;
    }
    Ok(n)
}

/// The signer of the zone of part `part`, if it signs.
fn signer_of(snap: &Snapshot, part: u32) -> Option<&ZoneSigner> {
    snap.part(snap.home_of(part)).signer().map(|s| &**s).filter(|s| s.signs())
}

/// An owner in lowercase wire form.
fn owner_wire<'a>(q: &'a Query<'_>, owner: Owner<'a>) -> &'a [u8] {
    match owner {
        Owner::Query => q.qname.as_wire(),
        Owner::Name(n) => n,
    }
}

/// The time signatures are made at.
fn signing_time(r: &Response<'_>) -> u32 {
    if r.now != 0 {
        return r.now;
    }
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as u32)
}

/// Writes an RRSIG record of `rdata` at `owner` with `ttl`.
fn write_rrsig<'n>(
    w: &mut Writer<'_, 'n>,
    owner: Owner<'n>,
    ttl: [u8; 4],
    rdata: &[u8],
) -> Result<(), Full> {
    write_owner(w, owner)?;
    w.u16(RType::RRSIG.0)?;
    w.u16(crate::wire::CLASS_IN)?;
    w.bytes(&ttl)?;
    w.u16(u16::try_from(rdata.len()).map_err(|_| Full)?)?;
    // The signer's name inside is never compressed (RFC 4034 §3.1.7).
    w.bytes(rdata)
}

/// Writes the RRSIGs of the RRset made of `run` (items of one owner and type), when its zone
/// is signed and it is authoritative data; returns how many.
fn write_rrsigs<'n>(
    w: &mut Writer<'_, 'n>,
    r: &Response<'n>,
    q: &Query<'_>,
    run: &[Item<'n>],
) -> Result<u16, Full> {
    let Some(first) = run.first().filter(|i| !i.delegation) else { return Ok(0) };
    let Some(signer) = signer_of(r.snap, first.part) else { return Ok(0) };
    let mut records: SmallVec<[&[u8]; 16]> = SmallVec::new();
    for item in run {
        let part = r.snap.part(item.part);
        records.extend(part.records(item.rrset).iter().map(|rec| part.record(rec).0));
    }
    let Some(ttl) = records.first().and_then(|r| r.get(4..8)) else { return Ok(0) };
    let ttl: [u8; 4] = ttl.try_into().map_err(|_| Full)?;
    let owner = owner_wire(q, first.owner);
    let sigs = signer.rrsigs(
        &r.snap.signatures,
        owner,
        first.rtype(),
        u32::from_be_bytes(ttl),
        &records,
        signing_time(r),
    );
    for sig in &sigs {
        write_rrsig(w, first.owner, ttl, &sig.rdata)?;
    }
    Ok(sigs.len() as u16)
}

/// Writes the NSEC of a denial (RFC 9824) and its RRSIGs; returns how many records.
fn write_denial<'n>(
    w: &mut Writer<'_, 'n>,
    r: &Response<'n>,
    q: &Query<'_>,
    d: &Denial<'n>,
) -> Result<u16, Full> {
    let Some(signer) = signer_of(r.snap, d.part) else { return Ok(0) };
    let part = r.snap.part(d.part);
    let nsec = RType::NSEC.0;
    let mut types: SmallVec<[u16; 16]> = SmallVec::new();
    match d.kind {
        // NXNAME (RFC 9824 §2): the name does not exist.
        DenialKind::Name => types.extend([RType::RRSIG.0, nsec, 128]),
        DenialKind::Data(node) => {
            // At a delegation only NS and DS are the parent's (RFC 4035 §2.3).
            let cut = part.node(node).cut.is_some();
            types.extend(
                part.rrsets(node)
                    .iter()
                    .map(|s| s.rtype)
                    .filter(|t| !cut || matches!(*t, RType::NS | RType::DS))
                    .map(|t| t.0),
            );
            types.extend([RType::RRSIG.0, nsec]);
        }
        DenialKind::Ds => types.extend([RType::NS.0, RType::RRSIG.0, nsec]),
    }
    let owner = owner_wire(q, d.owner);
    let rdata = sign::nsec_rdata(&sign::next_name(owner), &mut types);
    // The NSEC's TTL is the negative TTL (RFC 9077 §3.1.3): the negative SOA's.
    let home = r.snap.part(r.snap.home_of(d.part));
    let soa = home.rrset_bytes(home.negative_soa());
    let ttl: [u8; 4] = soa.get(4..8).and_then(|t| t.try_into().ok()).ok_or(Full)?;
    let mut record: SmallVec<[u8; 320]> = SmallVec::new();
    record.extend_from_slice(&nsec.to_be_bytes());
    record.extend_from_slice(&crate::wire::CLASS_IN.to_be_bytes());
    record.extend_from_slice(&ttl);
    record.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    record.extend_from_slice(&rdata);
    write_owner(w, d.owner)?;
    w.bytes(&record)?;
    let sigs = signer.rrsigs(
        &r.snap.signatures,
        owner,
        RType::NSEC,
        u32::from_be_bytes(ttl),
        &[&record],
        signing_time(r),
    );
    for sig in &sigs {
        write_rrsig(w, d.owner, ttl, &sig.rdata)?;
    }
    Ok(1 + sigs.len() as u16)
}

/// EDNS options a reply carries besides the Client Subnet echo: the server's NSID (RFC 5001),
/// the COOKIE (RFC 7873: the client cookie and this server's cookie), and an Extended DNS
/// Error (RFC 8914).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Extras<'a> {
    /// The NSID payload, for a query that asked.
    pub nsid: Option<&'a [u8]>,
    /// The COOKIE option's data.
    pub cookie: Option<&'a [u8; 24]>,
    /// INFO-CODE and EXTRA-TEXT.
    pub ede: Option<(u16, &'static str)>,
}

/// Extended DNS Error codes Turnout sends (RFC 8914 §4).
pub mod ede {
    /// Other: the text says what (rate limiting, an unknown TSIG key).
    pub const OTHER: u16 = 0;
    /// Not Authoritative: the query is for a name outside every zone served here.
    pub const NOT_AUTHORITATIVE: u16 = 20;
    /// Not Ready: the server cannot answer this yet (a transfer whose content is not ready).
    pub const NOT_READY: u16 = 14;
    /// Not Supported: the query asks for something this server does not do (zone transfers).
    pub const NOT_SUPPORTED: u16 = 21;
}

impl Extras<'_> {
    /// The options' length on the wire.
    fn len(&self) -> usize {
        self.nsid.map_or(0, |n| 4 + n.len())
            + self.cookie.map_or(0, |c| 4 + c.len())
            + self.ede.map_or(0, |(_, text)| 6 + text.len())
    }

    fn write(&self, w: &mut Writer<'_, '_>) -> Result<(), Full> {
        use crate::wire::query::{OPTION_COOKIE, OPTION_EDE, OPTION_NSID};
        if let Some(nsid) = self.nsid {
            w.u16(OPTION_NSID)?;
            w.u16(nsid.len() as u16)?;
            w.bytes(nsid)?;
        }
        if let Some(cookie) = self.cookie {
            w.u16(OPTION_COOKIE)?;
            w.u16(cookie.len() as u16)?;
            w.bytes(cookie)?;
        }
        if let Some((code, text)) = self.ede {
            w.u16(OPTION_EDE)?;
            w.u16(2 + text.len() as u16)?;
            w.u16(code)?;
            w.bytes(text.as_bytes())?;
        }
        Ok(())
    }
}

/// The OPT record's length: its fixed part, the Client Subnet option echoed back, the extras.
fn opt_len(edns: Edns, extras: &Extras<'_>) -> usize {
    OPT_LEN + edns.ecs.map_or(0, |e| 8 + e.address_bytes().1) + extras.len()
}

/// Writes the OPT record; a query's Client Subnet option comes back with `scope` as its SCOPE
/// PREFIX-LENGTH (RFC 7871 §7.2.1), then the extras.
fn write_opt(
    w: &mut Writer<'_, '_>,
    edns: Edns,
    rcode: Rcode,
    scope: u8,
    extras: &Extras<'_>,
) -> Result<(), Full> {
    let ttl: u32 = (u32::from(rcode.0 >> 4) << 24) | if edns.dnssec_ok { 0x8000 } else { 0 };
    w.bytes(&[0])?;
    w.u16(RType::OPT.0)?;
    w.u16(EDNS_UDP_PAYLOAD)?;
    w.bytes(&ttl.to_be_bytes())?;
    let ecs_len = edns.ecs.map_or(0, |e| 8 + e.address_bytes().1);
    w.u16((ecs_len + extras.len()) as u16)?;
    if let Some(ecs) = edns.ecs {
        let (addr, n) = ecs.address_bytes();
        w.u16(crate::wire::query::OPTION_ECS)?;
        w.u16(4 + n as u16)?;
        w.u16(ecs.family)?;
        w.bytes(&[ecs.source, scope])?;
        w.bytes(&addr[..n])?;
    }
    extras.write(w)
}

/// The flags word of a reply: QR, the opcode, the low RCODE bits and each bit that is on.
fn reply_flags<const N: usize>(opcode: u8, rcode: Rcode, bits: [(u16, bool); N]) -> u16 {
    let on = bits.iter().filter(|(_, set)| *set).fold(0, |acc, (bit, _)| acc | bit);
    QR | (u16::from(opcode & 0xF) << 11) | (rcode.0 & 0xF) | on
}

fn header(w: &mut Writer<'_, '_>, id: u16, flags: u16, counts: [u16; 4]) {
    w.patch_u16(0, id);
    w.patch_u16(2, flags);
    for (i, c) in counts.iter().enumerate() {
        w.patch_u16(4 + 2 * i, *c);
    }
}

/// Encodes the response to `q` into `buf`, within `limit` bytes; returns the length.
pub fn encode<'n>(q: &'n Query<'_>, r: &Response<'n>, limit: usize, buf: &mut [u8]) -> usize {
    encode_with(q, r, limit, &Extras::default(), buf)
}

/// [`encode`], with `extras` in the OPT of a reply to an EDNS query. A REFUSED reply says
/// why (Extended DNS Error), unless `extras` gives another error.
pub fn encode_with<'n>(
    q: &'n Query<'_>,
    r: &Response<'n>,
    limit: usize,
    extras: &Extras<'_>,
    buf: &mut [u8],
) -> usize {
    let refused;
    let extras = if r.rcode == Rcode::REFUSED && extras.ede.is_none() {
        refused = Extras { ede: Some(refusal(q)), ..*extras };
        &refused
    } else {
        extras
    };
    let reserve = q.edns.map_or(0, |e| opt_len(e, extras));
    let mut w = Writer::new(buf, limit.saturating_sub(reserve));
    // Header and question always fit: the limit is at least 512 and a question at most 259.
    if w.bytes(&[0; 12]).is_err() || w.bytes(q.question).is_err() {
        return 0;
    }
    w.remember(12, q.qname.as_wire());
    let after_question = w.checkpoint();
    let mut counts = [1u16, 0, 0, 0];
    let mut truncated = false;
    match write_section(&mut w, r, q, &r.answer) {
        Ok(n) => counts[1] = n,
        Err(Full) => truncated = true,
    }
    if !truncated {
        match write_section(&mut w, r, q, &r.authority) {
            Ok(n) => counts[2] = n,
            Err(Full) => truncated = true,
        }
    }
    if !truncated && let Some(d) = &r.denial {
        match write_denial(&mut w, r, q, d) {
            Ok(n) => counts[2] += n,
            Err(Full) => truncated = true,
        }
    }
    if !truncated {
        // Each RRset (a multivalue answer's items together) with its RRSIGs goes in whole, or
        // not at all (RFC 2181 §9).
        let mut i = 0;
        while let Some(first) = r.additional.get(i) {
            let len = r.additional[i..]
                .iter()
                .take_while(|x| x.owner == first.owner && x.rtype() == first.rtype())
                .count();
            let cp = w.checkpoint();
            match write_section(&mut w, r, q, &r.additional[i..i + len]) {
                Ok(n) => counts[3] += n,
                Err(Full) => {
                    w.rollback(cp);
                    truncated = i < r.required_additional;
                    break;
                }
            }
            i += len;
        }
    }
    if truncated {
        w.rollback(after_question);
        counts = [1, 0, 0, 0];
    }
    w.set_limit(limit);
    if let Some(edns) = q.edns
        && write_opt(&mut w, edns, r.rcode, r.ecs_scope, extras).is_ok()
    {
        counts[3] += 1;
    }
    let flags = reply_flags(0, r.rcode, [(AA, r.aa), (TC, truncated), (RD, q.rd), (CD, q.cd)]);
    header(&mut w, q.id, flags, counts);
    w.finish()
}

/// Why a query was refused, as an Extended DNS Error. Out of line: refusals are rare.
#[cold]
#[inline(never)]
fn refusal(q: &Query<'_>) -> (u16, &'static str) {
    match q.qtype {
        RType::AXFR | RType::IXFR => (ede::NOT_SUPPORTED, "zone transfers are not served"),
        _ if q.qclass != 1 => (ede::NOT_AUTHORITATIVE, "only class IN is served"),
        _ => (ede::NOT_AUTHORITATIVE, "not in a zone served here"),
    }
}

/// A reply with no records and TC set: what a rate-limited query gets instead of its answer
/// now and then ("slip"), so that a real client behind a flooded prefix retries over TCP.
pub fn encode_truncated(q: &Query<'_>, extras: &Extras<'_>, buf: &mut [u8]) -> usize {
    let mut w = Writer::new(buf, CLASSIC_UDP_LIMIT);
    if w.bytes(&[0; 12]).is_err() || w.bytes(q.question).is_err() {
        return 0;
    }
    let mut counts = [1u16, 0, 0, 0];
    if let Some(edns) = q.edns
        && write_opt(&mut w, edns, Rcode::NOERROR, 0, extras).is_ok()
    {
        counts[3] = 1;
    }
    let flags = reply_flags(0, Rcode::NOERROR, [(AA, true), (TC, true), (RD, q.rd), (CD, q.cd)]);
    header(&mut w, q.id, flags, counts);
    w.finish()
}

/// The answer to `id.server` or `hostname.bind` TXT in class CH (RFC 4892 §2): one TXT record
/// holding `identity`, TTL 0.
pub fn encode_identity(
    q: &Query<'_>,
    identity: &[u8],
    extras: &Extras<'_>,
    buf: &mut [u8],
) -> usize {
    let mut w = Writer::new(buf, CLASSIC_UDP_LIMIT);
    if w.bytes(&[0; 12]).is_err() || w.bytes(q.question).is_err() {
        return 0;
    }
    let mut counts = [1u16, 0, 0, 0];
    let len = identity.len().min(255);
    let record = (|| {
        w.u16(0xC00C)?; // the question's name
        w.u16(RType::TXT.0)?;
        w.u16(3)?; // CH
        w.bytes(&0u32.to_be_bytes())?;
        w.u16(1 + len as u16)?;
        w.bytes(&[len as u8])?;
        w.bytes(&identity[..len])
    })();
    if record.is_ok() {
        counts[1] = 1;
    }
    if let Some(edns) = q.edns
        && write_opt(&mut w, edns, Rcode::NOERROR, 0, extras).is_ok()
    {
        counts[3] = 1;
    }
    let flags = reply_flags(0, Rcode::NOERROR, [(AA, true), (RD, q.rd), (CD, q.cd)]);
    header(&mut w, q.id, flags, counts);
    w.finish()
}

/// Encodes an error reply (FORMERR, NOTIMP, BADVERS, NOTAUTH) into `buf`; returns the length.
pub fn encode_error(e: &ErrorReply<'_>, buf: &mut [u8]) -> usize {
    let mut w = Writer::new(buf, CLASSIC_UDP_LIMIT);
    if w.bytes(&[0; 12]).is_err() {
        return 0;
    }
    let mut counts = [0u16; 4];
    if let Some(q) = e.question
        && w.bytes(q).is_ok()
    {
        counts[0] = 1;
    }
    // An unknown TSIG key also says so as an Extended DNS Error.
    let extras = match e.tsig {
        Some(_) => Extras { ede: Some((ede::OTHER, "TSIG key not known")), ..Extras::default() },
        None => Extras::default(),
    };
    if let Some(edns) = e.edns
        && write_opt(&mut w, edns, e.rcode, 0, &extras).is_ok()
    {
        counts[3] = 1;
    }
    // An unsigned TSIG that says why (RFC 8945 §5.3.2): MAC size 0, the error. Last.
    if let Some(t) = e.tsig {
        let rdlen = t.algorithm.len() + 8 + 2 + 2 + 2 + 2;
        let start = w.checkpoint();
        let written = (|| {
            w.bytes(t.key)?;
            w.u16(RType::TSIG.0)?;
            w.u16(255)?; // CLASS ANY
            w.bytes(&0u32.to_be_bytes())?;
            w.u16(u16::try_from(rdlen).map_err(|_| Full)?)?;
            w.bytes(t.algorithm)?;
            w.bytes(&t.time_and_fudge)?;
            w.u16(0)?; // MAC size
            w.u16(t.original_id)?;
            w.u16(t.error)?;
            w.u16(0) // other len
        })();
        if written.is_ok() {
            counts[3] += 1;
        } else {
            w.rollback(start);
        }
    }
    let flags = reply_flags(e.opcode, e.rcode, [(RD, e.rd), (CD, e.cd)]);
    header(&mut w, e.id, flags, counts);
    w.finish()
}
