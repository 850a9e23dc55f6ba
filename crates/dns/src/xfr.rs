//! Zone transfer replies over TCP: AXFR (RFC 5936) and IXFR (RFC 1995) records packed into
//! as many messages as they need, owner names compressed, the question in the first message
//! only (RFC 5936 §2.2). What goes in them (the zone's records, its history) is the control
//! plane's to say; signing each message is [`crate::tsig::Signer`]'s.

use std::collections::HashMap;

use turnout_model::{Name, RType, Rdata};

use crate::wire::Rcode;

/// How full a message gets before the next one starts. Well under the 65,535 bytes TCP allows,
/// so a TSIG record always fits after it, and each message goes out in a few segments.
pub const MESSAGE_TARGET: usize = 16 * 1024;

const QR: u16 = 0x8000;
const AA: u16 = 0x0400;
const CLASS_IN: u16 = 1;

/// One record of a transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rr {
    /// The owner.
    pub name: Name,
    /// The type.
    pub rtype: RType,
    /// The TTL.
    pub ttl: u32,
    /// The data.
    pub rdata: Rdata,
}

/// Packs records into reply messages to one request.
#[derive(Debug)]
pub struct Packer {
    id: u16,
    question: Option<Vec<u8>>,
    messages: Vec<Vec<u8>>,
    current: Vec<u8>,
    count: u16,
    /// Offsets of the names (and their suffixes) written in the current message.
    names: HashMap<Vec<u8>, u16>,
    limit: usize,
}

impl Packer {
    /// Replies to a request with `id` and this question (name in wire format, type, class as
    /// asked).
    pub fn new(id: u16, qname: &Name, qtype: RType, qclass: u16) -> Packer {
        let mut question = qname.as_wire().to_vec();
        question.extend_from_slice(&qtype.0.to_be_bytes());
        question.extend_from_slice(&qclass.to_be_bytes());
        let mut p = Packer {
            id,
            question: Some(question),
            messages: Vec::new(),
            current: Vec::new(),
            count: 0,
            names: HashMap::new(),
            limit: MESSAGE_TARGET,
        };
        p.start();
        p
    }

    /// Limits each message to `limit` bytes (a reply over UDP: the client's payload size).
    #[must_use]
    pub fn with_limit(mut self, limit: usize) -> Packer {
        self.limit = limit;
        self
    }

    fn start(&mut self) {
        self.current.clear();
        self.names.clear();
        self.count = 0;
        self.current.extend_from_slice(&self.id.to_be_bytes());
        self.current.extend_from_slice(&(QR | AA).to_be_bytes());
        self.current.extend_from_slice(&[0; 8]);
        if let Some(q) = self.question.take() {
            self.current[5] = 1;
            self.current.extend_from_slice(&q);
            // The question's name (at 12) compresses the apex of everything after it.
            self.remember_at(&q[..q.len() - 4], 12);
        }
    }

    /// Remembers where each suffix of `wire` (written out at `offset`) starts.
    fn remember_at(&mut self, wire: &[u8], offset: usize) {
        self.remember_literal(wire, offset, wire.len());
    }

    /// Remembers the suffixes of `wire`, written at `offset`, that begin in its first
    /// `literal` bytes (the labels written out rather than pointed at).
    fn remember_literal(&mut self, wire: &[u8], mut offset: usize, literal: usize) {
        let mut rest = wire;
        let mut done = 0;
        while rest.len() > 1 && done < literal && offset < 0x4000 {
            self.names.entry(rest.to_vec()).or_insert(offset as u16);
            let skip = usize::from(rest[0]) + 1;
            offset += skip;
            done += skip;
            rest = &rest[skip..];
        }
    }

    fn write_name(&mut self, wire: &[u8]) {
        let start = self.current.len();
        let mut rest = wire;
        while rest.len() > 1 {
            if let Some(&ptr) = self.names.get(rest) {
                self.current.extend_from_slice(&(0xC000 | ptr).to_be_bytes());
                break;
            }
            let skip = usize::from(rest[0]) + 1;
            self.current.extend_from_slice(&rest[..skip]);
            rest = &rest[skip..];
        }
        if rest.len() <= 1 {
            self.current.push(0);
        }
        self.remember_literal(wire, start, wire.len() - rest.len());
    }

    /// Adds one record, starting a new message when this one is full. Returns false when the
    /// record cannot fit even in an empty message (it is left out).
    pub fn push(&mut self, rr: &Rr) -> bool {
        let need = rr.name.as_wire().len() + 10 + rr.rdata.as_wire().len();
        if self.count > 0 && self.current.len() + need > self.limit {
            self.finish_message();
            self.start();
        }
        // Over TCP a record larger than the target still goes, alone in its message; a limit
        // below the target (a datagram) is a hard one.
        let cap =
            if self.limit >= MESSAGE_TARGET { crate::encode::TCP_LIMIT - 512 } else { self.limit };
        if self.current.len() + need > cap {
            return false;
        }
        self.write_name(rr.name.as_wire());
        self.current.extend_from_slice(&rr.rtype.0.to_be_bytes());
        self.current.extend_from_slice(&CLASS_IN.to_be_bytes());
        self.current.extend_from_slice(&rr.ttl.to_be_bytes());
        self.current.extend_from_slice(&(rr.rdata.as_wire().len() as u16).to_be_bytes());
        self.current.extend_from_slice(rr.rdata.as_wire());
        self.count += 1;
        true
    }

    /// Whether no record was added since the last message started.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty() && self.count == 0
    }

    fn finish_message(&mut self) {
        let mut m = std::mem::take(&mut self.current);
        m[6..8].copy_from_slice(&self.count.to_be_bytes());
        self.messages.push(m);
    }

    /// The messages, the last one closed.
    pub fn finish(mut self) -> Vec<Vec<u8>> {
        self.finish_message();
        self.messages
    }

    /// Whether everything so far fits in one message (an IXFR over UDP).
    pub fn is_single(&self) -> bool {
        self.messages.is_empty()
    }
}

/// RFC 1982 serial arithmetic: whether `a` comes before `b`.
pub fn serial_lt(a: u32, b: u32) -> bool {
    a != b && (b.wrapping_sub(a) as i32) > 0
}

/// A reply with no records: `rcode`, AA when `authoritative`, the question echoed, and an
/// Extended DNS Error (RFC 8914) saying why when `why` is given.
pub fn error_reply(
    id: u16,
    opcode: u8,
    question: Option<(&Name, RType, u16)>,
    rcode: Rcode,
    why: Option<(u16, &str)>,
) -> Vec<u8> {
    let mut m = Vec::with_capacity(64);
    m.extend_from_slice(&id.to_be_bytes());
    let flags = QR | (u16::from(opcode & 0xF) << 11) | (rcode.0 & 0xF);
    m.extend_from_slice(&flags.to_be_bytes());
    m.extend_from_slice(&[0; 8]);
    if let Some((name, qtype, qclass)) = question {
        m[5] = 1;
        m.extend_from_slice(name.as_wire());
        m.extend_from_slice(&qtype.0.to_be_bytes());
        m.extend_from_slice(&qclass.to_be_bytes());
    }
    if let Some((code, text)) = why {
        let text = &text.as_bytes()[..text.len().min(400)];
        m[11] = 1;
        m.push(0);
        m.extend_from_slice(&RType::OPT.0.to_be_bytes());
        m.extend_from_slice(&crate::encode::EDNS_UDP_PAYLOAD.to_be_bytes());
        m.extend_from_slice(&(u32::from(rcode.0 >> 4) << 24).to_be_bytes());
        m.extend_from_slice(&(4 + 2 + text.len() as u16).to_be_bytes());
        m.extend_from_slice(&crate::wire::query::OPTION_EDE.to_be_bytes());
        m.extend_from_slice(&(2 + text.len() as u16).to_be_bytes());
        m.extend_from_slice(&code.to_be_bytes());
        m.extend_from_slice(text);
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::message::parse;

    fn rr(name: &str, text: &str) -> Rr {
        let name = Name::parse_absolute(name).expect("a name");
        Rr {
            name,
            rtype: RType::TXT,
            ttl: 60,
            rdata: Rdata::from_text(RType::TXT, text, None).expect("txt"),
        }
    }

    /// Records spill into further messages; each message reads back with its names expanded
    /// from their compressed form, and the question comes only in the first.
    #[test]
    fn packs_many_records_into_messages_that_read_back() {
        let apex = Name::parse_absolute("example.test.").expect("a name");
        let mut p = Packer::new(7, &apex, RType::AXFR, 1);
        let all: Vec<Rr> = (0..2000)
            .map(|i| rr(&format!("h{i}.sub.example.test."), &format!("\"{i}\"")))
            .collect();
        for r in &all {
            assert!(p.push(r));
        }
        let messages = p.finish();
        assert!(messages.len() > 1, "{} messages", messages.len());
        let mut back = Vec::new();
        for (i, m) in messages.iter().enumerate() {
            assert!(m.len() <= MESSAGE_TARGET);
            let parsed = parse(m).expect("parses");
            assert_eq!(parsed.id, 7);
            assert_eq!(parsed.questions.len(), usize::from(i == 0));
            back.extend(parsed.answers.into_iter().map(|r| (r.name.to_string(), r.rdata)));
        }
        let want: Vec<_> =
            all.iter().map(|r| (r.name.to_string(), r.rdata.as_wire().to_vec())).collect();
        assert_eq!(back, want);
    }

    #[test]
    fn an_error_reply_says_why() {
        let apex = Name::parse_absolute("example.test.").expect("a name");
        let m = error_reply(9, 0, Some((&apex, RType::AXFR, 1)), Rcode::REFUSED, Some((18, "no")));
        let parsed = parse(&m).expect("parses");
        assert_eq!((parsed.rcode(), parsed.questions.len()), (5, 1));
        assert!(parsed.opt.is_some());
    }
}
