//! Whole DNS messages off the query path: zone transfer requests, NOTIFY (RFC 1996), UPDATE
//! (RFC 2136) and anything TSIG-signed (RFC 8945). Unlike [`super::query`] this reads every
//! section and expands compressed names, also inside the record data of the types whose names
//! may be compressed (RFC 3597 §4), so each record's data can be checked by
//! [`turnout_model::Rdata::from_wire`]. It allocates; it runs for a few messages a second, not
//! for every query.

use turnout_model::{Name, RType};

use super::MAX_NAME_LEN;

/// Why a message could not be read: the reply is FORMERR.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed message: {0}")]
pub struct Malformed(pub String);

fn bad(what: impl Into<String>) -> Malformed {
    Malformed(what.into())
}

/// A question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    /// The name (lowercased).
    pub name: Name,
    /// The type.
    pub qtype: RType,
    /// The class.
    pub qclass: u16,
}

/// A resource record with its names expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The owner (lowercased).
    pub name: Name,
    /// The type.
    pub rtype: RType,
    /// The class (UPDATE gives ANY and NONE meanings, RFC 2136 §2.4).
    pub class: u16,
    /// The TTL.
    pub ttl: u32,
    /// The record data, compressed names expanded.
    pub rdata: Vec<u8>,
}

/// A message, every section read.
#[derive(Debug, Clone)]
pub struct Message {
    /// The ID.
    pub id: u16,
    /// The flags word (QR, opcode, AA, TC, RD, RA, Z, AD, CD, RCODE).
    pub flags: u16,
    /// The questions (UPDATE: the zone section).
    pub questions: Vec<Question>,
    /// The answer section (UPDATE: the prerequisites).
    pub answers: Vec<Record>,
    /// The authority section (UPDATE: the updates; IXFR: the client's SOA).
    pub authority: Vec<Record>,
    /// The additional section, without OPT and TSIG.
    pub additional: Vec<Record>,
    /// The OPT record: its class (the requestor's UDP payload size) and TTL (extended RCODE,
    /// version, DO).
    pub opt: Option<(u16, u32)>,
    /// The TSIG record, last in the message, and the offset where it starts.
    pub tsig: Option<(Record, usize)>,
}

impl Message {
    /// The opcode.
    pub fn opcode(&self) -> u8 {
        ((self.flags >> 11) & 0xF) as u8
    }

    /// Whether QR is set.
    pub fn is_response(&self) -> bool {
        self.flags & 0x8000 != 0
    }

    /// The RCODE (low four bits).
    pub fn rcode(&self) -> u16 {
        self.flags & 0xF
    }
}

/// Reads a possibly compressed name at `pos`; returns it and where the record goes on.
/// Pointers must point backwards, so a loop cannot be followed.
pub fn read_name(msg: &[u8], mut pos: usize) -> Result<(Name, usize), Malformed> {
    let mut out = Vec::with_capacity(32);
    let mut end = None;
    loop {
        let len = *msg.get(pos).ok_or_else(|| bad("name runs past the end"))?;
        match len & 0xC0 {
            0x00 => {
                let l = usize::from(len);
                let label =
                    msg.get(pos..pos + 1 + l).ok_or_else(|| bad("label runs past the end"))?;
                out.extend_from_slice(label);
                if out.len() > MAX_NAME_LEN {
                    return Err(bad("name longer than 255 bytes"));
                }
                pos += 1 + l;
                if l == 0 {
                    let name = Name::from_wire(&out).map_err(|_| bad("invalid name"))?;
                    return Ok((name, end.unwrap_or(pos)));
                }
            }
            0xC0 => {
                let lo = *msg.get(pos + 1).ok_or_else(|| bad("pointer runs past the end"))?;
                let target = usize::from(u16::from_be_bytes([len & 0x3F, lo]));
                // A name earlier in the message: after the header, before this pointer.
                if target >= pos || target < 12 {
                    return Err(bad("compression pointer does not point back at a name"));
                }
                end.get_or_insert(pos + 2);
                pos = target;
            }
            _ => return Err(bad("reserved label type")),
        }
    }
}

/// The layout of record data whose names may arrive compressed (RFC 1035 §3.3, RFC 3597 §4;
/// SRV, RP, AFSDB and RT as RFC 3597 §4 lets a receiver accept them): `(bytes before, names)`
/// repeated. None: no embedded names to expand.
fn compressible(rtype: RType) -> Option<&'static [(usize, usize)]> {
    Some(match rtype {
        RType::NS | RType::CNAME | RType::PTR => &[(0, 1)],
        RType::MX | RType(18) | RType(21) => &[(2, 1)], // MX, AFSDB, RT
        RType::SOA | RType(17) => &[(0, 2)],            // SOA (then 20 bytes), RP
        RType::SRV => &[(6, 1)],
        _ => return None,
    })
}

/// Reads one record's data at `start..start + len`, expanding compressed names.
fn read_rdata(msg: &[u8], rtype: RType, start: usize, len: usize) -> Result<Vec<u8>, Malformed> {
    let end = start + len;
    let raw = msg.get(start..end).ok_or_else(|| bad("record data runs past the end"))?;
    let Some(layout) = compressible(rtype) else {
        return Ok(raw.to_vec());
    };
    if len == 0 {
        return Ok(Vec::new()); // UPDATE deletions carry empty data (RFC 2136 §2.5.2)
    }
    let mut out = Vec::with_capacity(len + 32);
    let mut pos = start;
    for &(fixed, names) in layout {
        let head = msg.get(pos..pos + fixed).filter(|_| pos + fixed <= end);
        out.extend_from_slice(head.ok_or_else(|| bad(format!("{rtype} data too short")))?);
        pos += fixed;
        for _ in 0..names {
            if pos >= end {
                return Err(bad(format!("{rtype} data too short")));
            }
            let (name, next) = read_name(msg, pos)?;
            if next > end {
                return Err(bad(format!("a name in the {rtype} data runs past its length")));
            }
            out.extend_from_slice(name.as_wire());
            pos = next;
        }
    }
    out.extend_from_slice(&msg[pos..end]);
    Ok(out)
}

fn u16_at(msg: &[u8], pos: usize) -> Result<u16, Malformed> {
    msg.get(pos..pos + 2)
        .map(|b| u16::from_be_bytes([b[0], b[1]]))
        .ok_or_else(|| bad("message cut short"))
}

fn u32_at(msg: &[u8], pos: usize) -> Result<u32, Malformed> {
    msg.get(pos..pos + 4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or_else(|| bad("message cut short"))
}

/// Reads a whole message.
pub fn parse(msg: &[u8]) -> Result<Message, Malformed> {
    if msg.len() < 12 {
        return Err(bad("shorter than a header"));
    }
    let id = u16_at(msg, 0)?;
    let flags = u16_at(msg, 2)?;
    let counts = [u16_at(msg, 4)?, u16_at(msg, 6)?, u16_at(msg, 8)?, u16_at(msg, 10)?];
    let mut pos = 12;
    let mut questions = Vec::with_capacity(usize::from(counts[0]).min(4));
    for _ in 0..counts[0] {
        let (name, next) = read_name(msg, pos)?;
        let qtype = RType(u16_at(msg, next)?);
        let qclass = u16_at(msg, next + 2)?;
        questions.push(Question { name, qtype, qclass });
        pos = next + 4;
    }
    let mut sections: [Vec<Record>; 3] = Default::default();
    let mut opt = None;
    let mut tsig = None;
    let records = u32::from(counts[1]) + u32::from(counts[2]) + u32::from(counts[3]);
    for i in 0..records {
        let at = pos;
        let (name, next) = read_name(msg, pos)?;
        let rtype = RType(u16_at(msg, next)?);
        let class = u16_at(msg, next + 2)?;
        let ttl = u32_at(msg, next + 4)?;
        let rdlen = usize::from(u16_at(msg, next + 8)?);
        let start = next + 10;
        let rdata = read_rdata(msg, rtype, start, rdlen)?;
        pos = start + rdlen;
        let section = if i < u32::from(counts[1]) {
            0
        } else if i < u32::from(counts[1]) + u32::from(counts[2]) {
            1
        } else {
            2
        };
        let record = Record { name, rtype, class, ttl, rdata };
        match (section, rtype) {
            (2, RType::OPT) => {
                if opt.is_some() || !record.name.is_root() {
                    return Err(bad("more than one OPT, or an OPT not owned by the root"));
                }
                opt = Some((class, ttl));
            }
            (2, RType::TSIG) => {
                if i + 1 != records {
                    return Err(bad("TSIG is not the last record"));
                }
                tsig = Some((record, at));
            }
            (_, RType::OPT | RType::TSIG) => {
                return Err(bad(format!("{rtype} outside the additional section")));
            }
            _ => sections[section].push(record),
        }
    }
    if pos != msg.len() {
        return Err(bad("bytes after the last record"));
    }
    let [answers, authority, additional] = sections;
    Ok(Message { id, flags, questions, answers, authority, additional, opt, tsig })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(text: &str) -> Name {
        Name::parse_absolute(text).expect("a name")
    }

    /// A message whose MX target is compressed against the question comes out with the name
    /// expanded, and its TSIG is found at its offset.
    #[test]
    fn expands_compressed_names_and_finds_the_tsig() {
        let mut m = vec![0x12, 0x34, 0x28, 0x00, 0, 1, 0, 0, 0, 1, 0, 1];
        m.extend_from_slice(b"\x07example\x04test\x00\x00\x06\x00\x01");
        // Update: "mail" + pointer to example.test (offset 12), MX 10 -> pointer to offset 12.
        m.extend_from_slice(
            b"\x04mail\xc0\x0c\x00\x0f\x00\x01\x00\x00\x0e\x10\x00\x04\x00\x0a\xc0\x0c",
        );
        let tsig_at = m.len();
        m.extend_from_slice(b"\x03key\x00\x00\xfa\x00\xff\x00\x00\x00\x00\x00\x01\x00");
        let parsed = parse(&m).expect("parses");
        assert_eq!(parsed.opcode(), 5);
        assert_eq!(parsed.questions[0].name, name("example.test."));
        let mx = &parsed.authority[0];
        assert_eq!(mx.name, name("mail.example.test."));
        assert_eq!(&mx.rdata[..2], &[0, 10]);
        assert_eq!(&mx.rdata[2..], name("example.test.").as_wire());
        let (tsig, at) = parsed.tsig.expect("a TSIG");
        assert_eq!((tsig.name, at), (name("key."), tsig_at));
    }

    #[test]
    fn refuses_loops_and_short_messages() {
        let mut m = vec![0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        m.extend_from_slice(b"\xc0\x0c\x00\x01\x00\x01");
        assert!(parse(&m).is_err(), "a pointer to itself");
        let mut into_header = vec![0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        into_header.extend_from_slice(b"\x01a\xc0\x07\x00\x01\x00\x01");
        assert!(parse(&into_header).is_err(), "a pointer into the header");
        assert!(parse(&m[..11]).is_err());
        let mut cut = vec![0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        cut.extend_from_slice(b"\x03abc");
        assert!(parse(&cut).is_err());
    }
}
