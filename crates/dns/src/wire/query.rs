//! Decoding a query packet, without allocating.
//!
//! [`decode`] reads the header, the one question (lowercasing its name into a stack buffer while
//! the original bytes, in the client's case, stay available to echo), and the additional section
//! looking for EDNS (RFC 6891) with its Client Subnet option (RFC 7871), and TSIG. Anything
//! malformed becomes a [`Rejection`]: either a packet to drop (too short to answer, or a
//! response) or an error reply with its RCODE.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use turnout_model::RType;
use turnout_model::name::wire_name_len;

use super::{MAX_NAME_LEN, Rcode, opcode};

/// EDNS(0) parameters of a query (RFC 6891 §6.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edns {
    /// The requestor's UDP payload size (values below 512 are treated as 512).
    pub udp_size: u16,
    /// The EDNS version.
    pub version: u8,
    /// The DNSSEC OK bit.
    pub dnssec_ok: bool,
    /// The EDNS Client Subnet option, when the query carried one.
    pub ecs: Option<ClientSubnet>,
    /// Whether the query asked for the server's NSID (RFC 5001).
    pub nsid: bool,
}

/// EDNS option code of Client Subnet (RFC 7871 §6).
pub const OPTION_ECS: u16 = 8;
/// EDNS option code of NSID (RFC 5001 §2.3).
pub const OPTION_NSID: u16 = 3;
/// EDNS option code of COOKIE (RFC 7873 §4).
pub const OPTION_COOKIE: u16 = 10;
/// EDNS option code of Extended DNS Error (RFC 8914 §2).
pub const OPTION_EDE: u16 = 15;

/// An EDNS Client Subnet option of a query (RFC 7871 §6), validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientSubnet {
    /// 1 (IPv4) or 2 (IPv6).
    pub family: u16,
    /// SOURCE PREFIX-LENGTH.
    pub source: u8,
    /// The address, with the bits beyond `source` zero.
    pub addr: IpAddr,
}

impl ClientSubnet {
    /// The ADDRESS field: `source` bits, in whole octets.
    pub fn address_bytes(&self) -> ([u8; 16], usize) {
        let mut out = [0u8; 16];
        let n = usize::from(self.source).div_ceil(8);
        match self.addr {
            IpAddr::V4(a) => out[..4].copy_from_slice(&a.octets()),
            IpAddr::V6(a) => out.copy_from_slice(&a.octets()),
        }
        (out, n)
    }

    /// Parses the option's data; `None` when malformed (a FORMERR, RFC 7871 §7.2.1): an
    /// unknown family, a source prefix longer than the address, an address of the wrong
    /// length or with bits set beyond the prefix, or a nonzero scope.
    fn parse(data: &[u8]) -> Option<ClientSubnet> {
        let (head, address) = (data.get(..4)?, &data[4..]);
        let family = u16::from_be_bytes([head[0], head[1]]);
        let (source, scope) = (head[2], head[3]);
        let max = match family {
            1 => 32,
            2 => 128,
            _ => return None,
        };
        if source > max || scope != 0 || address.len() != usize::from(source).div_ceil(8) {
            return None;
        }
        if source % 8 != 0 && address.last().is_some_and(|b| b & (0xFF >> (source % 8)) != 0) {
            return None;
        }
        let mut full = [0u8; 16];
        full[..address.len()].copy_from_slice(address);
        let addr = if family == 1 {
            IpAddr::V4(Ipv4Addr::new(full[0], full[1], full[2], full[3]))
        } else {
            IpAddr::V6(Ipv6Addr::from(full))
        };
        Some(ClientSubnet { family, source, addr })
    }
}

/// The query name, lowercased, in uncompressed wire format, on the stack.
#[derive(Clone)]
pub struct QName {
    buf: [u8; MAX_NAME_LEN],
    len: u8,
}

impl QName {
    /// The lowercased name in wire format.
    pub fn as_wire(&self) -> &[u8] {
        &self.buf[..usize::from(self.len)]
    }
}

impl std::fmt::Debug for QName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match turnout_model::Name::from_wire(self.as_wire()) {
            Ok(n) => write!(f, "QName({n})"),
            Err(_) => write!(f, "QName({:?})", self.as_wire()),
        }
    }
}

/// A well-formed query with opcode QUERY and one question.
#[derive(Debug, Clone)]
pub struct Query<'a> {
    /// The message ID.
    pub id: u16,
    /// Recursion desired (copied into the reply).
    pub rd: bool,
    /// Checking disabled (copied into the reply, RFC 4035 §3.1.6).
    pub cd: bool,
    /// The question section exactly as received: name in the client's case, type, class.
    pub question: &'a [u8],
    /// The query name, lowercased.
    pub qname: QName,
    /// The query type.
    pub qtype: RType,
    /// The query class.
    pub qclass: u16,
    /// EDNS parameters, when the query carried an OPT record.
    pub edns: Option<Edns>,
    /// The COOKIE option's data (8 to 40 bytes: the client cookie, then any server cookie),
    /// when the query carried one.
    pub cookie: Option<&'a [u8]>,
}

/// Why a packet gets no normal answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection<'a> {
    /// No reply at all: too short to hold a header, or a response (QR=1).
    Drop,
    /// An error reply.
    Reply(ErrorReply<'a>),
}

/// What an error reply echoes and says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorReply<'a> {
    /// The message ID.
    pub id: u16,
    /// The opcode, echoed.
    pub opcode: u8,
    /// Recursion desired, echoed.
    pub rd: bool,
    /// Checking disabled, echoed.
    pub cd: bool,
    /// The RCODE (extended RCODEs such as BADVERS need `edns`).
    pub rcode: Rcode,
    /// The question, when it could be read.
    pub question: Option<&'a [u8]>,
    /// EDNS parameters, when a single well-formed OPT was read.
    pub edns: Option<Edns>,
    /// For a TSIG-signed query: what the unsigned TSIG of the reply echoes (RFC 8945 §5.3.2).
    pub tsig: Option<TsigEcho<'a>>,
}

/// The parts of a query's TSIG record that an unsigned error TSIG repeats, with the error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TsigEcho<'a> {
    /// The key name, wire format as sent (uncompressed).
    pub key: &'a [u8],
    /// The algorithm name, wire format as sent.
    pub algorithm: &'a [u8],
    /// Time Signed (48 bits) and Fudge, as sent.
    pub time_and_fudge: [u8; 8],
    /// The Original ID.
    pub original_id: u16,
    /// The TSIG error (17: BADKEY).
    pub error: u16,
}

/// TSIG error: the key is not known (RFC 8945 §5.2.1).
pub const TSIG_BADKEY: u16 = 17;

struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn u16(&mut self) -> Option<u16> {
        let b = self.data.get(self.pos..self.pos + 2)?;
        self.pos += 2;
        Some(u16::from_be_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Option<u32> {
        let b = self.data.get(self.pos..self.pos + 4)?;
        self.pos += 4;
        Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn skip(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.data.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(s)
    }

    /// Skips a possibly compressed name; pointers must point backwards (no loops).
    /// Returns whether the name is the root.
    fn skip_name(&mut self) -> Option<bool> {
        let mut pos = self.pos;
        let mut end = None;
        let mut total = 0usize;
        let mut root = true;
        loop {
            let len = *self.data.get(pos)?;
            match len & 0xC0 {
                0x00 => {
                    if len == 0 {
                        self.pos = end.unwrap_or(pos + 1);
                        return Some(root);
                    }
                    root = false;
                    total += usize::from(len) + 1;
                    if total + 1 > MAX_NAME_LEN {
                        return None;
                    }
                    pos += usize::from(len) + 1;
                }
                0xC0 => {
                    let lo = *self.data.get(pos + 1)?;
                    let target = usize::from(u16::from_be_bytes([len & 0x3F, lo]));
                    if target >= pos {
                        return None;
                    }
                    end.get_or_insert(pos + 2);
                    pos = target;
                }
                _ => return None, // 0x40 and 0x80 label types are obsolete or reserved
            }
        }
    }
}

fn header_reply(packet: &[u8], rcode: Rcode) -> ErrorReply<'_> {
    let flags = u16::from_be_bytes([packet[2], packet[3]]);
    ErrorReply {
        id: u16::from_be_bytes([packet[0], packet[1]]),
        opcode: ((flags >> 11) & 0xF) as u8,
        rd: flags & 0x0100 != 0,
        cd: flags & 0x0010 != 0,
        rcode,
        question: None,
        edns: None,
        tsig: None,
    }
}

/// Reads the question name at `pos`: uncompressed, lowercased into `out`. Returns its end.
fn read_qname(packet: &[u8], mut pos: usize, out: &mut QName) -> Option<usize> {
    let mut len = 0usize;
    loop {
        let l = usize::from(*packet.get(pos)?);
        if l == 0 {
            out.buf[len] = 0;
            out.len = (len + 1) as u8;
            return Some(pos + 1);
        }
        if l > 63 || len + l + 2 > MAX_NAME_LEN {
            return None; // a compression pointer, a reserved label type, or too long
        }
        let label = packet.get(pos + 1..pos + 1 + l)?;
        out.buf[len] = l as u8;
        out.buf[len + 1..len + 1 + l].copy_from_slice(label);
        out.buf[len + 1..len + 1 + l].make_ascii_lowercase();
        len += l + 1;
        pos += l + 1;
    }
}

/// Decodes a query packet.
pub fn decode(packet: &[u8]) -> Result<Query<'_>, Rejection<'_>> {
    if packet.len() < 12 {
        return Err(Rejection::Drop);
    }
    let flags = u16::from_be_bytes([packet[2], packet[3]]);
    if flags & 0x8000 != 0 {
        return Err(Rejection::Drop); // never answer a response
    }
    let op = ((flags >> 11) & 0xF) as u8;
    let count = |i: usize| u16::from_be_bytes([packet[i], packet[i + 1]]);
    let (qdcount, ancount, nscount, arcount) = (count(4), count(6), count(8), count(10));
    let reject = |rcode, question, edns| {
        Err(Rejection::Reply(ErrorReply { question, edns, ..header_reply(packet, rcode) }))
    };

    let mut qname = QName { buf: [0; MAX_NAME_LEN], len: 0 };
    let question_end = if qdcount == 1 {
        read_qname(packet, 12, &mut qname)
            .and_then(|end| (end + 4 <= packet.len()).then_some(end + 4))
    } else {
        None
    };
    let question = question_end.map(|end| &packet[12..end]);
    // RFC 6891 §6.1.1: a reply to a query with an OPT carries one, the error replies too.
    let sniffed = || sniff_edns(packet, qdcount, u32::from(ancount) + u32::from(nscount), arcount);
    if op != opcode::QUERY {
        return reject(Rcode::NOTIMP, question, sniffed());
    }
    let Some(question_end) = question_end else {
        return reject(Rcode::FORMERR, None, sniffed());
    };
    let q = &packet[question_end - 4..question_end];
    let qtype = RType(u16::from_be_bytes([q[0], q[1]]));
    let qclass = u16::from_be_bytes([q[2], q[3]]);
    if ancount != 0 || nscount != 0 {
        return reject(Rcode::FORMERR, question, sniffed());
    }

    let mut cur = Cursor { data: packet, pos: question_end };
    let mut edns: Option<Edns> = None;
    let mut cookie = None;
    let mut tsig: Option<Option<TsigEcho<'_>>> = None;
    for i in 0..arcount {
        let owner_at = cur.pos;
        let Some(root) = cur.skip_name() else {
            return reject(Rcode::FORMERR, question, None);
        };
        let (Some(rt), Some(class), Some(ttl), Some(rdlen)) =
            (cur.u16(), cur.u16(), cur.u32(), cur.u16())
        else {
            return reject(Rcode::FORMERR, question, None);
        };
        let Some(rdata) = cur.skip(usize::from(rdlen)) else {
            return reject(Rcode::FORMERR, question, None);
        };
        match RType(rt) {
            RType::OPT => {
                // RFC 6891 §6.1.1: one OPT, owned by the root, with well-formed options.
                if edns.is_some() || !root {
                    return reject(Rcode::FORMERR, question, None);
                }
                let mut e = Edns::of_opt(class, ttl);
                match options(rdata) {
                    Ok(o) => {
                        (e.ecs, e.nsid) = (o.ecs, o.nsid);
                        cookie = o.cookie;
                    }
                    // An option overrunning the OPT: the OPT itself is malformed.
                    Err(BadOption::Overrun) => return reject(Rcode::FORMERR, question, None),
                    // A malformed or repeated Client Subnet (RFC 7871 §7.2.1) or COOKIE (RFC
                    // 7873 §5.2.2): FORMERR, with an OPT.
                    Err(BadOption::Malformed) => {
                        return reject(Rcode::FORMERR, question, Some(e));
                    }
                }
                edns = Some(e);
            }
            RType::TSIG => {
                // RFC 8945 §5.1: TSIG must be the last record.
                if i + 1 != arcount {
                    return reject(Rcode::FORMERR, question, edns);
                }
                tsig = Some(tsig_echo(packet, owner_at, cur.pos - usize::from(rdlen) - 10, rdata));
            }
            _ => {}
        }
    }
    if cur.pos != packet.len() {
        return reject(Rcode::FORMERR, question, edns);
    }
    if let Some(e) = edns
        && e.version > 0
    {
        return reject(Rcode::BADVERS, question, edns);
    }
    if let Some(echo) = tsig {
        // Turnout has no TSIG keys: the key is unknown. NOTAUTH with an unsigned TSIG whose
        // error is BADKEY (RFC 8945 §5.2.1, §5.3.2), when the record could be echoed.
        return Err(Rejection::Reply(ErrorReply {
            question,
            edns,
            tsig: echo,
            ..header_reply(packet, Rcode::NOTAUTH)
        }));
    }
    match qtype {
        RType(0) | RType::OPT | RType::TSIG => return reject(Rcode::FORMERR, question, edns),
        RType::TKEY | RType::MAILA | RType::MAILB => return reject(Rcode::NOTIMP, question, edns),
        _ => {}
    }
    Ok(Query {
        id: u16::from_be_bytes([packet[0], packet[1]]),
        rd: flags & 0x0100 != 0,
        cd: flags & 0x0010 != 0,
        question: &packet[12..question_end],
        qname,
        qtype,
        qclass,
        edns,
        cookie,
    })
}

/// What a BADKEY reply repeats of a query's TSIG record: its owner (from `owner_at` to
/// `owner_end`, uncompressed) and the algorithm, time signed, fudge and original ID of its
/// RDATA. None when the owner is compressed or the RDATA is cut short. Out of line, as
/// [`sniff_edns`].
#[cold]
#[inline(never)]
fn tsig_echo<'a>(
    packet: &'a [u8],
    owner_at: usize,
    owner_end: usize,
    rdata: &'a [u8],
) -> Option<TsigEcho<'a>> {
    let key = packet.get(owner_at..owner_end)?;
    // Uncompressed: labels up to the root, which ends the span.
    if wire_name_len(key)? != key.len() {
        return None;
    }
    let end = wire_name_len(rdata)?;
    let algorithm = &rdata[..end];
    let fixed = rdata.get(end..end + 10)?; // time signed (6), fudge (2), MAC size (2)
    let mac_len = usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
    let after_mac = rdata.get(end + 10 + mac_len..end + 10 + mac_len + 2)?;
    let mut time_and_fudge = [0u8; 8];
    time_and_fudge.copy_from_slice(&fixed[..8]);
    Some(TsigEcho {
        key,
        algorithm,
        time_and_fudge,
        original_id: u16::from_be_bytes([after_mac[0], after_mac[1]]),
        error: TSIG_BADKEY,
    })
}

/// The EDNS of a query refused before its additional section is read (another opcode, no
/// single question, records in the answer or authority section): its OPT, if the packet holds a
/// well-formed one owned by the root where the additional section starts after `qdcount`
/// questions and `skip` records. Its options are not read. Out of line: only refused queries
/// come here, and decoding the others stays as lean as it was.
#[cold]
#[inline(never)]
fn sniff_edns(packet: &[u8], qdcount: u16, skip: u32, arcount: u16) -> Option<Edns> {
    let mut cur = Cursor { data: packet, pos: 12 };
    for _ in 0..qdcount {
        cur.skip_name()?;
        cur.skip(4)?;
    }
    for i in 0..skip + u32::from(arcount) {
        let root = cur.skip_name()?;
        let (rt, class, ttl, rdlen) = (cur.u16()?, cur.u16()?, cur.u32()?, cur.u16()?);
        cur.skip(usize::from(rdlen))?;
        if i >= skip && RType(rt) == RType::OPT && root {
            return Some(Edns::of_opt(class, ttl));
        }
    }
    None
}

impl Edns {
    /// An OPT record's CLASS (the UDP payload size; below 512 counts as 512) and TTL (extended
    /// RCODE, version, DO bit), RFC 6891 §6.1.2-6.1.3; options not read.
    fn of_opt(class: u16, ttl: u32) -> Edns {
        Edns {
            udp_size: class.max(512),
            version: (ttl >> 16) as u8,
            dnssec_ok: ttl & 0x8000 != 0,
            ecs: None,
            nsid: false,
        }
    }
}

/// What is wrong with an OPT's options.
enum BadOption {
    /// An option runs past the OPT's data.
    Overrun,
    /// A malformed Client Subnet or COOKIE option, or two of one.
    Malformed,
}

/// The options a query's OPT carried that Turnout acts on.
#[derive(Default)]
struct Options<'a> {
    ecs: Option<ClientSubnet>,
    nsid: bool,
    cookie: Option<&'a [u8]>,
}

/// Walks the OPT's options: each must fit; returns those Turnout acts on.
fn options(mut rdata: &[u8]) -> Result<Options<'_>, BadOption> {
    let mut out = Options::default();
    while !rdata.is_empty() {
        let head = rdata.get(..4).ok_or(BadOption::Overrun)?;
        let code = u16::from_be_bytes([head[0], head[1]]);
        let len = usize::from(u16::from_be_bytes([head[2], head[3]]));
        let data = rdata.get(4..4 + len).ok_or(BadOption::Overrun)?;
        match code {
            OPTION_ECS if out.ecs.is_some() => return Err(BadOption::Malformed),
            OPTION_ECS => out.ecs = Some(ClientSubnet::parse(data).ok_or(BadOption::Malformed)?),
            // RFC 5001 §2.3: a query's NSID option is empty (anything in it is ignored).
            OPTION_NSID => out.nsid = true,
            // RFC 7873 §5.2.2: a client cookie of 8 bytes, then nothing or a server cookie of
            // 8 to 32 bytes.
            OPTION_COOKIE if out.cookie.is_some() || !(len == 8 || (16..=40).contains(&len)) => {
                return Err(BadOption::Malformed);
            }
            OPTION_COOKIE => out.cookie = Some(data),
            _ => {}
        }
        rdata = &rdata[4 + len..];
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use turnout_testkit::QueryBuilder;

    fn rcode_of(p: &[u8]) -> Option<Rcode> {
        match decode(p) {
            Ok(_) => None,
            Err(Rejection::Reply(e)) => Some(e.rcode),
            Err(Rejection::Drop) => Some(Rcode(0xFFFF)),
        }
    }

    #[test]
    fn a_plain_query_decodes() {
        let p = QueryBuilder::new("WWW.Example.test", "AAAA").build();
        let q = decode(&p).expect("valid");
        assert_eq!(q.id, 0x1234);
        assert_eq!(q.qname.as_wire(), b"\x03www\x07example\x04test\x00");
        assert_eq!(&q.question[..4], b"\x03WWW", "the question keeps the client's case");
        assert_eq!((q.qtype, q.qclass, q.edns), (RType::AAAA, 1, None));
        let p = QueryBuilder::new("example.test", "A").edns(100).build();
        assert_eq!(
            decode(&p).expect("valid").edns,
            Some(Edns { udp_size: 512, version: 0, dnssec_ok: false, ecs: None, nsid: false })
        );
    }

    #[test]
    fn client_subnets_decode_and_malformed_ones_are_formerr() {
        let q = |b: QueryBuilder| {
            let p = b.build();
            decode(&p).map(|q| q.edns.and_then(|e| e.ecs)).map_err(|_| ())
        };
        let base = || QueryBuilder::new("example.test", "A");
        let v4 = q(base().ecs(1, 20, 0, &[198, 51, 96])).expect("valid");
        assert_eq!(
            v4,
            Some(ClientSubnet { family: 1, source: 20, addr: "198.51.96.0".parse().unwrap() })
        );
        let v6 = q(base().ecs(2, 48, 0, &[0x20, 1, 0xd, 0xb8, 0, 1])).expect("valid");
        assert_eq!(v6.unwrap().addr, "2001:db8:1::".parse::<IpAddr>().unwrap());
        assert_eq!(q(base().ecs(1, 0, 0, &[])).expect("valid").unwrap().source, 0);
        let formerr = |b: QueryBuilder, why: &str| match decode(&b.build()) {
            Err(Rejection::Reply(e)) => {
                assert_eq!(e.rcode, Rcode::FORMERR, "{why}");
                assert!(e.edns.is_some(), "{why}: the FORMERR carries an OPT");
            }
            other => panic!("{why}: {other:?}"),
        };
        formerr(base().ecs(3, 8, 0, &[10]), "unknown family");
        formerr(base().ecs(1, 33, 0, &[1, 2, 3, 4, 5]), "source beyond 32");
        formerr(base().ecs(1, 24, 0, &[1, 2]), "too few address bytes");
        formerr(base().ecs(1, 16, 0, &[1, 2, 3]), "too many address bytes");
        formerr(base().ecs(1, 20, 0, &[198, 51, 100]), "bits beyond the source prefix");
        formerr(base().ecs(1, 24, 16, &[198, 51, 100]), "a nonzero scope in a query");
        formerr(base().ecs(1, 8, 0, &[10]).ecs(1, 8, 0, &[10]), "two ECS options");
    }

    #[test]
    fn malformed_packets_are_rejected_with_the_right_code() {
        let good = QueryBuilder::new("example.test", "A").build();
        assert_eq!(rcode_of(&good[..11]), Some(Rcode(0xFFFF)), "shorter than a header: dropped");
        let mut response = good.clone();
        response[2] |= 0x80;
        assert_eq!(rcode_of(&response), Some(Rcode(0xFFFF)), "QR=1: dropped");
        assert_eq!(rcode_of(&good[..good.len() - 1]), Some(Rcode::FORMERR), "truncated question");
        let mut two = good.clone();
        two[5] = 2;
        assert_eq!(rcode_of(&two), Some(Rcode::FORMERR), "QDCOUNT 2");
        let mut zero = good.clone();
        zero[5] = 0;
        assert_eq!(rcode_of(&zero), Some(Rcode::FORMERR), "QDCOUNT 0");
        let mut an = good.clone();
        an[7] = 1;
        assert_eq!(rcode_of(&an), Some(Rcode::FORMERR), "an answer in a query");
        let mut trailing = good.clone();
        trailing.push(0);
        assert_eq!(rcode_of(&trailing), Some(Rcode::FORMERR), "trailing garbage");
        let mut ptr = good[..12].to_vec();
        ptr.extend_from_slice(&[0xC0, 0x0C, 0, 1, 0, 1]);
        assert_eq!(rcode_of(&ptr), Some(Rcode::FORMERR), "a pointer in the question (to itself)");
        let mut long_label = good[..12].to_vec();
        long_label.push(64);
        long_label.extend_from_slice(&[b'a'; 64]);
        long_label.extend_from_slice(&[0, 0, 1, 0, 1]);
        assert_eq!(rcode_of(&long_label), Some(Rcode::FORMERR), "label of 64");
        let mut long_name = good[..12].to_vec();
        for _ in 0..5 {
            long_name.push(63);
            long_name.extend_from_slice(&[b'a'; 63]);
        }
        long_name.extend_from_slice(&[0, 0, 1, 0, 1]);
        assert_eq!(rcode_of(&long_name), Some(Rcode::FORMERR), "name over 255");
        let mut notify = good.clone();
        notify[2] |= 4 << 3;
        assert_eq!(rcode_of(&notify), Some(Rcode::NOTIMP), "NOTIFY");
        for (t, want) in [
            ("OPT", Rcode::FORMERR),
            ("TSIG", Rcode::FORMERR),
            ("TKEY", Rcode::NOTIMP),
            ("MAILA", Rcode::NOTIMP),
        ] {
            assert_eq!(rcode_of(&QueryBuilder::new("example.test", t).build()), Some(want), "{t}");
        }
    }

    /// RFC 6891 §6.1.1: the error replies to a query with an OPT carry one too, for another
    /// opcode, a missing question and records in the answer section alike.
    #[test]
    fn error_replies_to_edns_queries_carry_an_opt() {
        let edns_of = |p: &[u8]| match decode(p) {
            Err(Rejection::Reply(e)) => (e.rcode, e.edns.map(|e| e.udp_size)),
            other => panic!("{other:?}"),
        };
        let good = QueryBuilder::new("example.test", "A").edns(1232).build();
        let mut notify = good.clone();
        notify[2] |= 4 << 3;
        assert_eq!(edns_of(&notify), (Rcode::NOTIMP, Some(1232)), "NOTIFY");
        // One record in the answer section, before the OPT.
        let question_end = 12 + b"\x07example\x04test\x00".len() + 4;
        let mut answered = good[..question_end].to_vec();
        answered[7] = 1;
        answered.extend_from_slice(&[0xC0, 0x0C, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1]);
        answered.extend_from_slice(&good[question_end..]);
        assert_eq!(edns_of(&answered), (Rcode::FORMERR, Some(1232)), "an answer record");
        // No question.
        let mut none = good[..12].to_vec();
        none[5] = 0;
        none.extend_from_slice(&good[question_end..]);
        assert_eq!(edns_of(&none), (Rcode::FORMERR, Some(1232)), "no question");
        // Without an OPT, none.
        let mut plain = QueryBuilder::new("example.test", "A").build();
        plain[2] |= 4 << 3;
        assert_eq!(edns_of(&plain), (Rcode::NOTIMP, None));
    }

    #[test]
    fn edns_rules() {
        let one = QueryBuilder::new("example.test", "A").edns(1232).build();
        let mut two_opts = one.clone();
        two_opts[11] = 2;
        two_opts.extend_from_slice(&one[one.len() - 11..]);
        assert_eq!(rcode_of(&two_opts), Some(Rcode::FORMERR), "two OPT records");
        let mut named = one[..one.len() - 11].to_vec();
        named.extend_from_slice(&[1, b'x', 0, 0, 41, 4, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(rcode_of(&named), Some(Rcode::FORMERR), "OPT not owned by the root");
        let mut bad_option = one.clone();
        let n = bad_option.len();
        bad_option[n - 1] = 3;
        bad_option.extend_from_slice(&[0, 8, 0]);
        assert_eq!(rcode_of(&bad_option), Some(Rcode::FORMERR), "an option longer than the rdata");
        let mut good_option = one.clone();
        good_option[n - 1] = 4;
        good_option.extend_from_slice(&[0xFD, 0xE9, 0, 0]);
        assert!(decode(&good_option).is_ok(), "an unknown, empty option is ignored");
        let mut v1 = one.clone();
        v1[n - 5] = 1;
        assert_eq!(rcode_of(&v1), Some(Rcode::BADVERS));
    }

    /// RFC 5001 §2.3 and RFC 7873 §5.2.2.
    #[test]
    fn nsid_and_cookie_options() {
        let with = |options: &[u8]| {
            let mut p = QueryBuilder::new("example.test", "A").edns(1232).build();
            let n = p.len();
            p[n - 2..].copy_from_slice(&(options.len() as u16).to_be_bytes());
            p.extend_from_slice(options);
            p
        };
        let p = with(&[0, 3, 0, 0]);
        assert_eq!(decode(&p).map(|q| (q.edns.map(|e| e.nsid), q.cookie)), Ok((Some(true), None)));
        let mut cookie = vec![0, 10, 0, 8];
        cookie.extend_from_slice(b"clientck");
        let p = with(&cookie);
        assert_eq!(decode(&p).map(|q| q.cookie), Ok(Some(&b"clientck"[..])));
        for len in [8usize, 16, 24, 40] {
            let mut o = vec![0, 10, 0, len as u8];
            o.resize(4 + len, 7);
            assert!(decode(&with(&o)).is_ok(), "a cookie of {len} bytes");
        }
        for len in [0usize, 7, 9, 15, 41] {
            let mut o = vec![0, 10, 0, len as u8];
            o.resize(4 + len, 7);
            let p = with(&o);
            assert_eq!(rcode_of(&p), Some(Rcode::FORMERR), "a cookie of {len} bytes");
            let Err(Rejection::Reply(e)) = decode(&p) else { panic!() };
            assert!(e.edns.is_some(), "FORMERR with an OPT");
        }
        let mut twice = cookie.clone();
        twice.extend_from_slice(&cookie);
        assert_eq!(rcode_of(&with(&twice)), Some(Rcode::FORMERR), "two cookies");
    }

    #[test]
    fn tsig_is_notauth_and_must_be_last() {
        let base = QueryBuilder::new("example.test", "A").build();
        let tsig = [0u8, 0, 250, 0, 255, 0, 0, 0, 0, 0, 0];
        let mut p = base.clone();
        p[11] = 1;
        p.extend_from_slice(&tsig);
        assert_eq!(rcode_of(&p), Some(Rcode::NOTAUTH));
        let opt = QueryBuilder::new("example.test", "A").edns(1232).build();
        let mut p = base.clone();
        p[11] = 2;
        p.extend_from_slice(&tsig);
        p.extend_from_slice(&opt[opt.len() - 11..]);
        assert_eq!(rcode_of(&p), Some(Rcode::FORMERR), "TSIG before OPT");
    }

    /// RFC 8945 §5.2.1, §5.3.2: a query signed with a key Turnout does not know (it knows
    /// none) gets NOTAUTH with an unsigned TSIG: the key and algorithm echoed, MAC size 0,
    /// error BADKEY.
    #[test]
    fn an_unknown_tsig_key_is_badkey_in_an_unsigned_tsig() {
        let mut p = QueryBuilder::new("example.test", "A").build();
        p[11] = 1;
        p.extend_from_slice(b"\x03key\x00");
        let algorithm = b"\x0bhmac-sha256\x00";
        let mut rdata = algorithm.to_vec();
        rdata.extend_from_slice(&[0, 0, 0x65, 0x43, 0x21, 0x00, 1, 44]); // time signed, fudge 300
        rdata.extend_from_slice(&32u16.to_be_bytes());
        rdata.extend_from_slice(&[0xAB; 32]); // the MAC
        rdata.extend_from_slice(&[0x12, 0x34, 0, 0, 0, 0]); // original ID, error, other len
        p.extend_from_slice(&[0, 250, 0, 255, 0, 0, 0, 0]);
        p.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        p.extend_from_slice(&rdata);
        let Err(Rejection::Reply(e)) = decode(&p) else { panic!("not rejected") };
        assert_eq!(e.rcode, Rcode::NOTAUTH);
        let t = e.tsig.expect("a TSIG to echo");
        assert_eq!((t.key, t.algorithm, t.error), (&b"\x03key\x00"[..], &algorithm[..], 17));
        let mut out = [0u8; 512];
        let n = crate::encode::encode_error(&e, &mut out);
        let reply = &out[..n];
        assert_eq!(u16::from_be_bytes([reply[10], reply[11]]), 1, "one additional record");
        let mut want = b"\x03key\x00\x00\xfa\x00\xff\x00\x00\x00\x00".to_vec();
        want.extend_from_slice(&((algorithm.len() + 16) as u16).to_be_bytes());
        want.extend_from_slice(algorithm);
        want.extend_from_slice(&[
            0, 0, 0x65, 0x43, 0x21, 0x00, 1, 44, 0, 0, 0x12, 0x34, 0, 17, 0, 0,
        ]);
        assert!(reply.ends_with(&want), "{reply:02x?}");
        // A compressed key name cannot be echoed: NOTAUTH alone.
        let mut q = p.clone();
        let at = p.len() - rdata.len() - 10 - 5;
        q.splice(at..at + 5, [0xC0, 12]);
        let Err(Rejection::Reply(e)) = decode(&q) else { panic!("not rejected") };
        assert_eq!((e.rcode, e.tsig), (Rcode::NOTAUTH, None));
    }

    #[test]
    fn additional_names_may_be_compressed_but_not_forward() {
        let base = QueryBuilder::new("example.test", "A").build();
        let mut p = base.clone();
        p[11] = 1;
        p.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 0, 0, 4, 1, 2, 3, 4]);
        assert!(decode(&p).is_ok(), "a backward pointer in an additional record");
        let mut p = base.clone();
        p[11] = 1;
        let here = p.len() as u8;
        p.extend_from_slice(&[0xC0, here, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0]);
        assert_eq!(rcode_of(&p), Some(Rcode::FORMERR), "a pointer to itself");
    }
}
