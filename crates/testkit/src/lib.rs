//! Helpers shared by Turnout's test suites (never used by the product itself).
//!
//! - [`QueryBuilder`] writes query packets byte by byte, including malformed ones.
//! - [`render`] decodes a response with an independent decoder (hickory-proto) and prints it as
//!   stable text, so scenario files can state whole responses.
//! - [`process`] starts the real `turnout` binary and talks to it over loopback.

pub mod etcd;
pub mod process;
pub mod tls;

use hickory_proto::op::Message;
use hickory_proto::rr::Record;
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder, NameEncoding};
use turnout_model::{Name, RType, Rdata};

/// Builds a query packet.
#[derive(Debug, Clone)]
pub struct QueryBuilder {
    /// Message ID.
    pub id: u16,
    /// The query name exactly as it goes on the wire (case kept).
    pub name: Vec<u8>,
    /// Query type.
    pub qtype: u16,
    /// Query class.
    pub qclass: u16,
    /// Opcode.
    pub opcode: u8,
    /// RD flag.
    pub rd: bool,
    /// CD flag.
    pub cd: bool,
    /// EDNS: (UDP size, version, DO).
    pub edns: Option<(u16, u8, bool)>,
    /// EDNS options, as they go in the OPT's rdata.
    pub options: Vec<u8>,
}

/// Wire format of a presentation name, keeping its case (absolute; trailing dot optional).
pub fn wire_name(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for label in text.trim_end_matches('.').split('.').filter(|l| !l.is_empty()) {
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    out
}

impl QueryBuilder {
    /// A query for `name` (presentation form, case kept) and type mnemonic `qtype`.
    pub fn new(name: &str, qtype: &str) -> Self {
        let t = RType::from_mnemonic(qtype).unwrap_or_else(|| panic!("unknown type {qtype}"));
        QueryBuilder {
            id: 0x1234,
            name: wire_name(name),
            qtype: t.0,
            qclass: 1,
            opcode: 0,
            rd: false,
            cd: false,
            edns: None,
            options: Vec::new(),
        }
    }

    /// Adds EDNS (UDP 1232 unless set) with an EDNS Client Subnet option exactly as given:
    /// family, source and scope prefix lengths, address bytes (RFC 7871 §6).
    pub fn ecs(mut self, family: u16, source: u8, scope: u8, address: &[u8]) -> Self {
        self.edns.get_or_insert((1232, 0, false));
        self.options.extend_from_slice(&8u16.to_be_bytes());
        self.options.extend_from_slice(&(4 + address.len() as u16).to_be_bytes());
        self.options.extend_from_slice(&family.to_be_bytes());
        self.options.extend_from_slice(&[source, scope]);
        self.options.extend_from_slice(address);
        self
    }

    /// Sets the DNSSEC OK bit (adding EDNS, UDP 1232, when there is none).
    pub fn dnssec_ok(mut self) -> Self {
        let e = self.edns.get_or_insert((1232, 0, false));
        e.2 = true;
        self
    }

    /// Adds EDNS with this UDP size, version 0, DO clear.
    pub fn edns(mut self, udp: u16) -> Self {
        self.edns = Some((udp, 0, false));
        self
    }

    /// The packet bytes.
    pub fn build(&self) -> Vec<u8> {
        let mut p = Vec::with_capacity(64);
        p.extend_from_slice(&self.id.to_be_bytes());
        let mut flags: u16 = u16::from(self.opcode & 0xF) << 11;
        if self.rd {
            flags |= 0x0100;
        }
        if self.cd {
            flags |= 0x0010;
        }
        p.extend_from_slice(&flags.to_be_bytes());
        let ar: u16 = self.edns.is_some().into();
        for c in [1u16, 0, 0, ar] {
            p.extend_from_slice(&c.to_be_bytes());
        }
        p.extend_from_slice(&self.name);
        p.extend_from_slice(&self.qtype.to_be_bytes());
        p.extend_from_slice(&self.qclass.to_be_bytes());
        if let Some((udp, version, dnssec_ok)) = self.edns {
            p.push(0);
            p.extend_from_slice(&41u16.to_be_bytes());
            p.extend_from_slice(&udp.to_be_bytes());
            let ttl: u32 = (u32::from(version) << 16) | if dnssec_ok { 0x8000 } else { 0 };
            p.extend_from_slice(&ttl.to_be_bytes());
            p.extend_from_slice(&(self.options.len() as u16).to_be_bytes());
            p.extend_from_slice(&self.options);
        }
        p
    }
}

fn render_record(r: &Record) -> Result<String, String> {
    let mut buf = Vec::new();
    let mut enc = BinEncoder::new(&mut buf);
    enc.set_name_encoding(NameEncoding::Uncompressed);
    r.data.emit(&mut enc).map_err(|e| format!("cannot re-encode {r}: {e}"))?;
    let rtype = RType(u16::from(r.record_type()));
    if matches!(rtype, RType::RRSIG | RType::NSEC) {
        return Ok(format!("{} {} IN {rtype} {}", r.name, r.ttl, dnssec_rdata(rtype, &buf)?));
    }
    let rdata = Rdata::from_wire(rtype, &buf)
        .map_err(|e| format!("bad {rtype} rdata in the response: {e}"))?;
    Ok(format!("{} {} IN {rtype} {}", r.name, r.ttl, rdata.display(rtype)))
}

/// The RDATA of an RRSIG (RFC 4034 §3.2) or NSEC (§4.2) in presentation form, read here
/// (Turnout's model refuses to store these types).
fn dnssec_rdata(rtype: RType, b: &[u8]) -> Result<String, String> {
    let bad = || format!("bad {rtype} rdata: {b:?}");
    let name_at = |at: usize| -> Result<(Name, usize), String> {
        let mut end = at;
        while let Some(&len) = b.get(end) {
            end += 1 + usize::from(len);
            if len == 0 {
                return Name::from_wire(&b[at..end]).map(|n| (n, end)).map_err(|_| bad());
            }
        }
        Err(bad())
    };
    if rtype == RType::RRSIG {
        let fixed = b.get(..18).ok_or_else(bad)?;
        let u16_at = |i: usize| u16::from_be_bytes([fixed[i], fixed[i + 1]]);
        let u32_at =
            |i: usize| u32::from_be_bytes([fixed[i], fixed[i + 1], fixed[i + 2], fixed[i + 3]]);
        let (signer, end) = name_at(18)?;
        return Ok(format!(
            "{} {} {} {} {} {} {} {signer} {}",
            RType(u16_at(0)),
            fixed[2],
            fixed[3],
            u32_at(4),
            u32_at(8),
            u32_at(12),
            u16_at(16),
            data_encoding::BASE64.encode(&b[end..])
        ));
    }
    let (next, mut at) = name_at(0)?;
    let mut types = Vec::new();
    while at < b.len() {
        let (window, len) =
            (*b.get(at).ok_or_else(bad)?, usize::from(*b.get(at + 1).ok_or_else(bad)?));
        let bits = b.get(at + 2..at + 2 + len).ok_or_else(bad)?;
        for (i, byte) in bits.iter().enumerate() {
            for bit in 0..8 {
                if byte & (0x80 >> bit) != 0 {
                    types.push(RType((u16::from(window) << 8) | (i * 8 + bit) as u16).to_string());
                }
            }
        }
        at += 2 + len;
    }
    Ok(format!("{next} {}", types.join(" ")))
}

/// Decodes a response with hickory-proto and prints it, one line per item (the records of one
/// RRset sorted, since their order carries no meaning):
///
/// ```text
/// rcode NOERROR
/// flags qr aa
/// qd www.Example.test. A
/// an www.Example.test. 300 IN A 192.0.2.1
/// ns example.test. 60 IN SOA ...
/// ar ns1.example.test. 300 IN A 192.0.2.53
/// opt udp=1232 version=0 do
/// ```
pub fn render(packet: &[u8]) -> Result<String, String> {
    let m = Message::from_vec(packet).map_err(|e| format!("undecodable response: {e}"))?;
    let md = &m.metadata;
    let mut lines = vec![format!("rcode {}", rcode_name(u16::from(md.response_code)))];
    let mut flags = vec![];
    for (on, f) in [
        (md.message_type == hickory_proto::op::MessageType::Response, "qr"),
        (md.authoritative, "aa"),
        (md.truncation, "tc"),
        (md.recursion_desired, "rd"),
        (md.recursion_available, "ra"),
        (md.authentic_data, "ad"),
        (md.checking_disabled, "cd"),
    ] {
        if on {
            flags.push(f);
        }
    }
    lines.push(format!("flags {}", flags.join(" ")));
    for q in &m.queries {
        lines.push(format!("qd {} {}", q.name(), RType(u16::from(q.query_type()))));
    }
    for (tag, section) in [("an", &m.answers), ("ns", &m.authorities), ("ar", &m.additionals)] {
        // The records of one RRset come in no set order (answers rotate): each run of one
        // owner and type is sorted; the order of RRsets is kept.
        let mut i = 0;
        while i < section.len() {
            let key = |r: &Record| (r.name.clone(), r.record_type());
            let run = section[i..].iter().take_while(|r| key(r) == key(&section[i])).count();
            let mut rendered: Vec<String> =
                section[i..i + run].iter().map(render_record).collect::<Result<_, _>>()?;
            rendered.sort();
            lines.extend(rendered.into_iter().map(|l| format!("{tag} {l}")));
            i += run;
        }
    }
    if let Some(e) = &m.edns {
        let mut s = format!("opt udp={} version={}", e.max_payload(), e.version());
        if e.flags().dnssec_ok {
            s.push_str(" do");
        }
        for (_, option) in e.options().as_ref() {
            if let hickory_proto::rr::rdata::opt::EdnsOption::Subnet(ecs) = option {
                s.push_str(&format!(
                    " ecs={}/{}/{}",
                    ecs.addr(),
                    ecs.source_prefix(),
                    ecs.scope_prefix()
                ));
            }
        }
        lines.push(s);
    }
    Ok(lines.join("\n"))
}

/// The name of an RCODE as dig prints it.
pub fn rcode_name(code: u16) -> String {
    match code {
        0 => "NOERROR".into(),
        1 => "FORMERR".into(),
        2 => "SERVFAIL".into(),
        3 => "NXDOMAIN".into(),
        4 => "NOTIMP".into(),
        5 => "REFUSED".into(),
        9 => "NOTAUTH".into(),
        16 => "BADVERS".into(),
        other => format!("RCODE{other}"),
    }
}

/// Parses an absolute name, for tests.
pub fn name(text: &str) -> Name {
    Name::parse_absolute(text).unwrap_or_else(|e| panic!("bad test name {text:?}: {e}"))
}

/// One network of a test geolocation database: (network, continent, country, US state,
/// coordinates), empty strings for none.
pub type GeoEntry<'a> = (&'a str, &'a str, &'a str, &'a str, Option<(f64, f64)>);

/// A MaxMind-format geolocation database for tests: each entry is a network (`192.0.2.0/24`,
/// `2001:db8::/32`) and its place. The layout is GeoIP2 City's, which every reader understands.
pub fn geo_database(entries: &[GeoEntry<'_>]) -> Vec<u8> {
    let mut w = mmdb_writer::Writer::new("Turnout-Test-City");
    for (net, continent, country, state, coordinates) in entries {
        let mut record = serde_json::Map::new();
        if !continent.is_empty() {
            record.insert("continent".into(), serde_json::json!({ "code": continent }));
        }
        if !country.is_empty() {
            record.insert("country".into(), serde_json::json!({ "iso_code": country }));
        }
        if !state.is_empty() {
            record.insert("subdivisions".into(), serde_json::json!([{ "iso_code": state }]));
        }
        if let Some((lat, lon)) = coordinates {
            record.insert(
                "location".into(),
                serde_json::json!({ "latitude": lat, "longitude": lon }),
            );
        }
        let net: ipnet::IpNet = net.parse().unwrap_or_else(|e| panic!("{net}: {e}"));
        w.insert(net, &serde_json::Value::Object(record)).unwrap_or_else(|e| panic!("{net}: {e}"));
    }
    w.to_bytes().unwrap_or_else(|e| panic!("cannot write the database: {e}"))
}

/// The record sets of a zone `apex` as the API takes them: its SOA and NS first, then `specs`,
/// each a record-set JSON object (names relative to the apex or absolute). Panics (failing the
/// test) on an invalid one.
pub fn zone_records(apex: &str, specs: &[&str]) -> turnout_model::ZoneRecords {
    let apex = name(apex);
    let mut zone = turnout_model::ZoneRecords::new(apex.clone());
    let base = [
        r#"{"name":"@","type":"SOA","ttl":900,"values":["ns1 hostmaster 1 7200 900 1209600 86400"]}"#,
        r#"{"name":"@","type":"NS","ttl":172800,"values":["ns1"]}"#,
    ];
    for json in base.iter().chain(specs) {
        let spec: turnout_model::RecordSetSpec =
            serde_json::from_str(json).unwrap_or_else(|e| panic!("{json}: {e}"));
        let set = spec.validate(&apex).unwrap_or_else(|e| panic!("{json}: {e:?}"));
        zone.sets.insert(set);
    }
    zone
}
