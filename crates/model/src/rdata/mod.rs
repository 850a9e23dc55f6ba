//! Record data: parsed from presentation format, held in wire format, printed back.
//!
//! [`Rdata`] always holds valid, canonical wire-format rdata for its type (names uncompressed and
//! lowercased), so the data plane can copy it onto the wire without looking inside, except to
//! compress the names [`Rdata::names`] reports. Every type the zone model lists has a field
//! schema here; any other storable type is accepted in the RFC 3597 generic form
//! `\# <length> <hex>`, which is also accepted (and checked against the schema) for known types.

mod svcb;
mod wire;

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use data_encoding::HEXUPPER_PERMISSIVE;

use crate::name::Name;
use crate::presentation::{Token, char_string, parse_ttl, parse_uint, tokenize, write_escaped};
use crate::rtype::RType;
use wire::Reader;

/// Record data in wire format, valid for the type it was built for.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Rdata(Box<[u8]>);

/// Why record data was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RdataError {
    /// What is wrong, naming the field.
    pub message: String,
    /// The index of the token at fault, when one is.
    pub token: Option<usize>,
}

impl RdataError {
    fn at(token: usize, message: impl Into<String>) -> Self {
        RdataError { message: message.into(), token: Some(token) }
    }
    fn whole(message: impl Into<String>) -> Self {
        RdataError { message: message.into(), token: None }
    }
}

/// A domain name embedded in rdata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmbeddedName {
    /// Byte offset of the name within the rdata.
    pub offset: usize,
    /// Its length in wire format.
    pub len: usize,
    /// Whether RFC 3597 §4 allows compressing it (only the RFC 1035 types).
    pub compressible: bool,
}

/// The fields a type's rdata is made of, in order.
#[derive(Clone, Copy)]
enum Field {
    U8(&'static str),
    U16(&'static str),
    U32(&'static str),
    /// A 32-bit SOA timer; presentation accepts TTL units.
    Timer(&'static str),
    Name {
        field: &'static str,
        compressible: bool,
    },
    Ipv4,
    Ipv6,
    CharString(&'static str),
    /// One or more character strings up to the end (TXT).
    CharStrings,
    /// Hex digits up to the end, possibly split over several tokens.
    Hex(&'static str),
    /// CAA tag and value (RFC 8659).
    CaaTagValue,
    /// SVCB/HTTPS parameters up to the end (RFC 9460).
    SvcParams,
}

fn schema(rtype: RType) -> Option<&'static [Field]> {
    use Field::*;
    const NAME_C: Field = Name { field: "target", compressible: true };
    Some(match rtype {
        RType::A => &[Ipv4],
        RType::AAAA => &[Ipv6],
        RType::NS => &[Name { field: "name server", compressible: true }],
        RType::CNAME => &[Name { field: "canonical name", compressible: true }],
        RType::PTR => &[NAME_C],
        RType::MX => &[U16("preference"), Name { field: "exchange", compressible: true }],
        RType::TXT | RType::SPF => &[CharStrings],
        RType::SOA => &[
            Name { field: "MNAME", compressible: true },
            Name { field: "RNAME", compressible: true },
            U32("serial"),
            Timer("refresh"),
            Timer("retry"),
            Timer("expire"),
            Timer("minimum"),
        ],
        RType::SRV => &[
            U16("priority"),
            U16("weight"),
            U16("port"),
            Name { field: "target", compressible: false },
        ],
        RType::NAPTR => &[
            U16("order"),
            U16("preference"),
            CharString("flags"),
            CharString("services"),
            CharString("regexp"),
            Name { field: "replacement", compressible: false },
        ],
        RType::DS => &[U16("key tag"), U8("algorithm"), U8("digest type"), Hex("digest")],
        RType::TLSA => &[U8("usage"), U8("selector"), U8("matching type"), Hex("certificate data")],
        RType::SSHFP => &[U8("algorithm"), U8("fingerprint type"), Hex("fingerprint")],
        RType::CAA => &[U8("flags"), CaaTagValue],
        RType::SVCB | RType::HTTPS => {
            &[U16("priority"), Name { field: "target", compressible: false }, SvcParams]
        }
        _ => return None,
    })
}

impl Rdata {
    /// Parses the presentation tokens of one record's data. Relative names are completed with
    /// `origin`.
    pub fn parse(
        rtype: RType,
        tokens: &[Token<'_>],
        origin: Option<&Name>,
    ) -> Result<Rdata, RdataError> {
        if let Some(reason) = rtype.storage_error() {
            return Err(RdataError::whole(format!("type {rtype} {reason}")));
        }
        if let Some(first) = tokens.first()
            && first.text == "\\#"
            && !first.quoted
        {
            return Self::parse_generic(rtype, tokens);
        }
        let Some(fields) = schema(rtype) else {
            return Err(RdataError::whole(format!(
                "type {rtype} must be written in the RFC 3597 generic form: \\# <length> <hex>"
            )));
        };
        let mut out = Vec::with_capacity(64);
        let mut i = 0;
        for field in fields {
            i = parse_field(*field, tokens, i, origin, &mut out)?;
        }
        if let Some(extra) = tokens.get(i) {
            return Err(RdataError::at(
                i,
                format!("unexpected {:?} after the {rtype} data", extra.text),
            ));
        }
        check_semantics(rtype, &out)?;
        if out.len() > usize::from(u16::MAX) {
            return Err(RdataError::whole(format!(
                "{rtype} data is {} bytes; the limit is 65535",
                out.len()
            )));
        }
        Ok(Rdata(out.into_boxed_slice()))
    }

    /// Parses record data from one line of presentation text (as an API value is written).
    pub fn from_text(rtype: RType, text: &str, origin: Option<&Name>) -> Result<Rdata, RdataError> {
        let tokens = tokenize(text).map_err(|e| RdataError::whole(e.message))?;
        if tokens.is_empty() {
            return Err(RdataError::whole(format!("empty {rtype} data")));
        }
        Self::parse(rtype, &tokens, origin)
    }

    fn parse_generic(rtype: RType, tokens: &[Token<'_>]) -> Result<Rdata, RdataError> {
        let len_tok = tokens
            .get(1)
            .ok_or_else(|| RdataError::at(0, "\\# must be followed by the data length"))?;
        let len: u16 =
            parse_uint(len_tok.text, "generic data length").map_err(|m| RdataError::at(1, m))?;
        let hex: String = tokens[2..].iter().map(|t| t.text).collect();
        let bytes = HEXUPPER_PERMISSIVE.decode(hex.as_bytes()).map_err(|_| {
            RdataError::at(2, format!("{hex:?} is not an even number of hex digits"))
        })?;
        if bytes.len() != usize::from(len) {
            return Err(RdataError::at(
                1,
                format!("\\# says {len} bytes but the hex has {}", bytes.len()),
            ));
        }
        Self::from_wire(rtype, &bytes)
    }

    /// Builds rdata from wire format, checking it against the type's schema and lowercasing
    /// embedded names.
    pub fn from_wire(rtype: RType, wire: &[u8]) -> Result<Rdata, RdataError> {
        if let Some(reason) = rtype.storage_error() {
            return Err(RdataError::whole(format!("type {rtype} {reason}")));
        }
        if wire.len() > usize::from(u16::MAX) {
            return Err(RdataError::whole("rdata longer than 65535 bytes"));
        }
        let Some(fields) = schema(rtype) else {
            return Ok(Rdata(wire.into()));
        };
        let mut out = Vec::with_capacity(wire.len());
        let mut r = Reader::new(wire);
        for field in fields {
            copy_field(*field, &mut r, &mut out)
                .map_err(|m| RdataError::whole(format!("invalid {rtype} data: {m}")))?;
        }
        if !r.is_empty() {
            return Err(RdataError::whole(format!(
                "invalid {rtype} data: {} trailing bytes",
                r.remaining()
            )));
        }
        check_semantics(rtype, &out)?;
        Ok(Rdata(out.into_boxed_slice()))
    }

    /// The RDATA of an RRSIG or NSEC record Turnout made itself (a signed zone's transfer):
    /// these types are never stored ([`RType::storage_error`]), only sent.
    pub fn generated_dnssec(rtype: RType, wire: &[u8]) -> Result<Rdata, RdataError> {
        if !matches!(rtype, RType::RRSIG | RType::NSEC) {
            return Err(RdataError::whole(format!("type {rtype} is not made by the signer")));
        }
        if wire.len() > usize::from(u16::MAX) {
            return Err(RdataError::whole("rdata longer than 65535 bytes"));
        }
        Ok(Rdata(wire.into()))
    }

    /// Rdata from bytes this crate wrote from an [`Rdata`] (packed record sets): not checked
    /// again.
    pub(crate) fn from_trusted_wire(wire: &[u8]) -> Rdata {
        Rdata(wire.into())
    }

    /// The wire-format bytes.
    pub fn as_wire(&self) -> &[u8] {
        &self.0
    }

    /// The domain names inside this rdata (for compression and additional-section processing).
    pub fn names(&self, rtype: RType) -> Vec<EmbeddedName> {
        let mut names = Vec::new();
        let Some(fields) = schema(rtype) else {
            return names;
        };
        let mut r = Reader::new(&self.0);
        for field in fields {
            let offset = r.position();
            if let Field::Name { compressible, .. } = field {
                if let Ok(n) = r.name() {
                    names.push(EmbeddedName {
                        offset,
                        len: n.as_wire().len(),
                        compressible: *compressible,
                    });
                }
            } else if skip_field(*field, &mut r).is_err() {
                break;
            }
        }
        names
    }

    /// Presentation format of this rdata as type `rtype`.
    pub fn display(&self, rtype: RType) -> RdataDisplay<'_> {
        RdataDisplay { rtype, rdata: self }
    }
}

impl fmt::Debug for Rdata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Rdata({})", HEXUPPER_PERMISSIVE.encode(&self.0))
    }
}

/// [`fmt::Display`] of rdata in presentation format.
pub struct RdataDisplay<'a> {
    rtype: RType,
    rdata: &'a Rdata,
}

impl fmt::Display for RdataDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let generic = |f: &mut fmt::Formatter<'_>| {
            let w = &self.rdata.0;
            if w.is_empty() {
                write!(f, "\\# 0")
            } else {
                write!(f, "\\# {} {}", w.len(), HEXUPPER_PERMISSIVE.encode(w))
            }
        };
        let Some(fields) = schema(self.rtype) else {
            return generic(f);
        };
        let mut r = Reader::new(&self.rdata.0);
        let mut parts: Vec<String> = Vec::with_capacity(fields.len());
        for field in fields {
            match show_field(*field, &mut r) {
                Ok(s) if !s.is_empty() => parts.push(s),
                Ok(_) => {}
                Err(_) => return generic(f),
            }
        }
        f.write_str(&parts.join(" "))
    }
}

fn token<'t>(tokens: &'t [Token<'t>], i: usize, what: &str) -> Result<&'t Token<'t>, RdataError> {
    tokens.get(i).ok_or_else(|| RdataError::whole(format!("missing {what}")))
}

fn parse_field(
    field: Field,
    tokens: &[Token<'_>],
    i: usize,
    origin: Option<&Name>,
    out: &mut Vec<u8>,
) -> Result<usize, RdataError> {
    match field {
        Field::U8(what) => {
            let v: u8 =
                parse_uint(token(tokens, i, what)?.text, what).map_err(|m| RdataError::at(i, m))?;
            out.push(v);
        }
        Field::U16(what) => {
            let v: u16 =
                parse_uint(token(tokens, i, what)?.text, what).map_err(|m| RdataError::at(i, m))?;
            out.extend_from_slice(&v.to_be_bytes());
        }
        Field::U32(what) => {
            let v: u32 =
                parse_uint(token(tokens, i, what)?.text, what).map_err(|m| RdataError::at(i, m))?;
            out.extend_from_slice(&v.to_be_bytes());
        }
        Field::Timer(what) => {
            let v = parse_ttl(token(tokens, i, what)?.text)
                .map_err(|m| RdataError::at(i, format!("{what}: {m}")))?;
            out.extend_from_slice(&v.to_be_bytes());
        }
        Field::Name { field: what, .. } => {
            let t = token(tokens, i, what)?;
            let n = Name::parse_in(t.text, origin)
                .map_err(|e| RdataError::at(i, format!("{what}: {e}")))?;
            out.extend_from_slice(n.as_wire());
        }
        Field::Ipv4 => {
            let t = token(tokens, i, "IPv4 address")?;
            let a: Ipv4Addr = t
                .text
                .parse()
                .map_err(|_| RdataError::at(i, format!("{:?} is not an IPv4 address", t.text)))?;
            out.extend_from_slice(&a.octets());
        }
        Field::Ipv6 => {
            let t = token(tokens, i, "IPv6 address")?;
            let a: Ipv6Addr = t
                .text
                .parse()
                .map_err(|_| RdataError::at(i, format!("{:?} is not an IPv6 address", t.text)))?;
            out.extend_from_slice(&a.octets());
        }
        Field::CharString(what) => {
            let s = char_string(token(tokens, i, what)?)
                .map_err(|m| RdataError::at(i, format!("{what}: {m}")))?;
            out.push(s.len() as u8);
            out.extend_from_slice(&s);
        }
        Field::CharStrings => {
            if i >= tokens.len() {
                return Err(RdataError::whole("missing text (write \"\" for an empty string)"));
            }
            for (j, t) in tokens.iter().enumerate().skip(i) {
                let s = char_string(t).map_err(|m| RdataError::at(j, m))?;
                out.push(s.len() as u8);
                out.extend_from_slice(&s);
            }
            return Ok(tokens.len());
        }
        Field::Hex(what) => {
            if i >= tokens.len() {
                return Err(RdataError::whole(format!("missing {what}")));
            }
            let hex: String = tokens[i..].iter().map(|t| t.text).collect();
            let bytes = HEXUPPER_PERMISSIVE.decode(hex.as_bytes()).map_err(|_| {
                RdataError::at(i, format!("{what}: {hex:?} is not an even number of hex digits"))
            })?;
            out.extend_from_slice(&bytes);
            return Ok(tokens.len());
        }
        Field::CaaTagValue => {
            let tag = token(tokens, i, "tag")?;
            check_caa_tag(tag.text.as_bytes()).map_err(|m| RdataError::at(i, m))?;
            let value = token(tokens, i + 1, "value")?;
            let v =
                crate::presentation::unescape(value.text).map_err(|m| RdataError::at(i + 1, m))?;
            out.push(tag.text.len() as u8);
            out.extend_from_slice(tag.text.as_bytes());
            out.extend_from_slice(&v);
            return Ok(i + 2);
        }
        Field::SvcParams => {
            svcb::parse_params(&tokens[i.min(tokens.len())..], out)
                .map_err(|(j, m)| RdataError { message: m, token: j.map(|j| j + i) })?;
            return Ok(tokens.len());
        }
    }
    Ok(i + 1)
}

/// Reads one field from wire format and appends its canonical form to `out`.
fn copy_field(field: Field, r: &mut Reader<'_>, out: &mut Vec<u8>) -> Result<(), String> {
    match field {
        Field::Name { field, .. } => {
            let n = r.name().map_err(|_| format!("bad {field} name"))?;
            out.extend_from_slice(n.as_wire());
        }
        Field::SvcParams => {
            let rest = r.rest();
            svcb::check_wire_params(rest)?;
            out.extend_from_slice(rest);
        }
        Field::CaaTagValue => {
            let tag = r.char_string().map_err(|_| "truncated CAA tag".to_owned())?;
            check_caa_tag(tag)?;
            out.push(tag.len() as u8);
            out.extend_from_slice(tag);
            out.extend_from_slice(r.rest());
        }
        other => {
            let start = r.position();
            skip_field(other, r)?;
            out.extend_from_slice(r.slice_from(start));
        }
    }
    Ok(())
}

fn skip_field(field: Field, r: &mut Reader<'_>) -> Result<(), String> {
    let short = || "truncated data".to_owned();
    match field {
        Field::U8(_) => r.u8().map(drop).ok_or_else(short),
        Field::U16(_) => r.u16().map(drop).ok_or_else(short),
        Field::U32(_) | Field::Timer(_) => r.u32().map(drop).ok_or_else(short),
        Field::Name { .. } => r.name().map(drop).map_err(|_| "bad name".to_owned()),
        Field::Ipv4 => r.take(4).map(drop).ok_or_else(short),
        Field::Ipv6 => r.take(16).map(drop).ok_or_else(short),
        Field::CharString(_) => r.char_string().map(drop).map_err(|_| short()),
        Field::CharStrings => {
            if r.is_empty() {
                return Err("no character strings".to_owned());
            }
            while !r.is_empty() {
                r.char_string().map_err(|_| short())?;
            }
            Ok(())
        }
        // As in presentation format, where the field cannot be left out.
        Field::Hex(what) if r.is_empty() => Err(format!("missing {what}")),
        Field::Hex(_) | Field::CaaTagValue | Field::SvcParams => {
            r.rest();
            Ok(())
        }
    }
}

fn show_field(field: Field, r: &mut Reader<'_>) -> Result<String, ()> {
    let quoted = |b: &[u8]| {
        let mut s = String::from("\"");
        write_escaped(&mut s, b);
        s.push('"');
        s
    };
    Ok(match field {
        Field::U8(_) => r.u8().ok_or(())?.to_string(),
        Field::U16(_) => r.u16().ok_or(())?.to_string(),
        Field::U32(_) | Field::Timer(_) => r.u32().ok_or(())?.to_string(),
        Field::Name { .. } => r.name().map_err(drop)?.to_string(),
        Field::Ipv4 => {
            let b: [u8; 4] = r.take(4).ok_or(())?.try_into().map_err(drop)?;
            Ipv4Addr::from(b).to_string()
        }
        Field::Ipv6 => {
            let b: [u8; 16] = r.take(16).ok_or(())?.try_into().map_err(drop)?;
            Ipv6Addr::from(b).to_string()
        }
        Field::CharString(_) => quoted(r.char_string().map_err(drop)?),
        Field::CharStrings => {
            let mut parts = Vec::new();
            while !r.is_empty() {
                parts.push(quoted(r.char_string().map_err(drop)?));
            }
            parts.join(" ")
        }
        Field::Hex(_) => HEXUPPER_PERMISSIVE.encode(r.rest()),
        Field::CaaTagValue => {
            let tag = r.char_string().map_err(drop)?;
            format!("{} {}", String::from_utf8_lossy(tag), quoted(r.rest()))
        }
        Field::SvcParams => svcb::show_params(r.rest()).map_err(drop)?,
    })
}

fn check_caa_tag(tag: &[u8]) -> Result<(), String> {
    if tag.is_empty() || tag.len() > 15 || !tag.iter().all(u8::is_ascii_alphanumeric) {
        return Err(format!(
            "CAA tag {:?} must be 1 to 15 letters and digits",
            String::from_utf8_lossy(tag)
        ));
    }
    Ok(())
}

/// Checks that need the whole rdata: digest lengths of the digest types everyone knows.
fn check_semantics(rtype: RType, wire: &[u8]) -> Result<(), RdataError> {
    let digest_len = |kind: &str, t: u8, len: usize, table: &[(u8, usize)]| {
        if let Some((_, want)) = table.iter().find(|(k, _)| *k == t)
            && *want != len
        {
            return Err(RdataError::whole(format!(
                "{kind} type {t} needs {want} bytes of digest, got {len}"
            )));
        }
        Ok(())
    };
    match rtype {
        RType::DS if wire.len() >= 4 => {
            digest_len("digest", wire[3], wire.len() - 4, &[(1, 20), (2, 32), (4, 48)])
        }
        RType::TLSA if wire.len() >= 3 => {
            digest_len("TLSA matching", wire[2], wire.len() - 3, &[(1, 32), (2, 64)])
        }
        RType::SSHFP if wire.len() >= 2 => {
            digest_len("SSHFP fingerprint", wire[1], wire.len() - 2, &[(1, 20), (2, 32)])
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests;
