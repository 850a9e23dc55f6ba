//! SVCB and HTTPS service parameters (RFC 9460 §2.1, §7 and Appendix A; dohpath RFC 9461,
//! ohttp RFC 9540): presentation <-> wire, and wire validation.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use data_encoding::BASE64;

use crate::presentation::{Token, unescape, write_escaped};

const MANDATORY: u16 = 0;
const ALPN: u16 = 1;
const NO_DEFAULT_ALPN: u16 = 2;
const PORT: u16 = 3;
const IPV4HINT: u16 = 4;
const ECH: u16 = 5;
const IPV6HINT: u16 = 6;
const DOHPATH: u16 = 7;
const OHTTP: u16 = 8;

const NAMES: [(u16, &str); 9] = [
    (MANDATORY, "mandatory"),
    (ALPN, "alpn"),
    (NO_DEFAULT_ALPN, "no-default-alpn"),
    (PORT, "port"),
    (IPV4HINT, "ipv4hint"),
    (ECH, "ech"),
    (IPV6HINT, "ipv6hint"),
    (DOHPATH, "dohpath"),
    (OHTTP, "ohttp"),
];

fn key_number(name: &str) -> Result<u16, String> {
    let lower = name.to_ascii_lowercase();
    if let Some((k, _)) = NAMES.iter().find(|(_, n)| *n == lower) {
        return Ok(*k);
    }
    if let Some(digits) = lower.strip_prefix("key")
        && !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && digits.len() <= 5
    {
        let k: u32 = digits.parse().map_err(|_| format!("unknown SvcParamKey {name:?}"))?;
        if k == 65535 {
            return Err("SvcParamKey key65535 is reserved".to_owned());
        }
        if let Ok(k) = u16::try_from(k) {
            return Ok(k);
        }
    }
    Err(format!("unknown SvcParamKey {name:?}"))
}

fn key_name(key: u16) -> String {
    NAMES
        .iter()
        .find(|(k, _)| *k == key)
        .map_or_else(|| format!("key{key}"), |(_, n)| (*n).to_owned())
}

/// Splits a value-list (RFC 9460 Appendix A.1) on commas not escaped with a backslash.
fn value_list(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut items = vec![Vec::new()];
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if i + 1 < bytes.len() => {
                if let Some(last) = items.last_mut() {
                    last.push(bytes[i + 1]);
                }
                i += 2;
            }
            b',' => {
                items.push(Vec::new());
                i += 1;
            }
            b => {
                if let Some(last) = items.last_mut() {
                    last.push(b);
                }
                i += 1;
            }
        }
    }
    items
}

fn text_items(bytes: &[u8], what: &str) -> Result<Vec<String>, String> {
    let s = std::str::from_utf8(bytes).map_err(|_| format!("{what} is not text"))?;
    if s.is_empty() {
        return Err(format!("{what} needs at least one value"));
    }
    Ok(s.split(',').map(str::to_owned).collect())
}

fn encode_value(key: u16, raw: Option<&[u8]>) -> Result<Vec<u8>, String> {
    let name = key_name(key);
    let needs = || format!("{name} needs a value");
    let mut out = Vec::new();
    match key {
        MANDATORY => {
            let mut keys = Vec::new();
            for item in text_items(raw.ok_or_else(needs)?, "mandatory")? {
                let k = key_number(&item)?;
                if k == MANDATORY {
                    return Err("mandatory must not list itself".to_owned());
                }
                if keys.contains(&k) {
                    return Err(format!("mandatory lists {item} twice"));
                }
                keys.push(k);
            }
            keys.sort_unstable();
            for k in keys {
                out.extend_from_slice(&k.to_be_bytes());
            }
        }
        ALPN => {
            for id in value_list(raw.ok_or_else(needs)?) {
                if id.is_empty() || id.len() > 255 {
                    return Err("each alpn protocol id must be 1 to 255 bytes".to_owned());
                }
                out.push(id.len() as u8);
                out.extend_from_slice(&id);
            }
        }
        NO_DEFAULT_ALPN | OHTTP => {
            if raw.is_some_and(|v| !v.is_empty()) {
                return Err(format!("{name} takes no value"));
            }
        }
        PORT => {
            let s = std::str::from_utf8(raw.ok_or_else(needs)?)
                .map_err(|_| "port is not a number".to_owned())?;
            let p: u16 = crate::presentation::parse_uint(s, "port")?;
            out.extend_from_slice(&p.to_be_bytes());
        }
        IPV4HINT => {
            for item in text_items(raw.ok_or_else(needs)?, "ipv4hint")? {
                let a: Ipv4Addr = item
                    .parse()
                    .map_err(|_| format!("ipv4hint {item:?} is not an IPv4 address"))?;
                out.extend_from_slice(&a.octets());
            }
        }
        IPV6HINT => {
            for item in text_items(raw.ok_or_else(needs)?, "ipv6hint")? {
                let a: Ipv6Addr = item
                    .parse()
                    .map_err(|_| format!("ipv6hint {item:?} is not an IPv6 address"))?;
                out.extend_from_slice(&a.octets());
            }
        }
        ECH => {
            let v = raw.ok_or_else(needs)?;
            out = BASE64.decode(v).map_err(|_| "ech is not base64".to_owned())?;
            if out.is_empty() {
                return Err("ech needs a value".to_owned());
            }
        }
        DOHPATH => {
            let v = raw.ok_or_else(needs)?;
            std::str::from_utf8(v).map_err(|_| "dohpath must be UTF-8".to_owned())?;
            out.extend_from_slice(v);
        }
        _ => {
            if let Some(v) = raw {
                out.extend_from_slice(v);
            }
        }
    }
    if out.len() > usize::from(u16::MAX) {
        return Err(format!("{name} value is too long"));
    }
    Ok(out)
}

/// Parses `key[=value]` tokens into wire-format SvcParams appended to `out`. Errors carry the
/// index of the offending token when there is one.
pub(crate) fn parse_params(
    tokens: &[Token<'_>],
    out: &mut Vec<u8>,
) -> Result<(), (Option<usize>, String)> {
    let mut params: BTreeMap<u16, Vec<u8>> = BTreeMap::new();
    let mut j = 0;
    while j < tokens.len() {
        let t = &tokens[j];
        let at = j;
        let (key_text, mut value) = match t.text.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (t.text, None),
        };
        if t.quoted {
            return Err((
                Some(at),
                format!("expected key=value, found the quoted string {:?}", t.text),
            ));
        }
        // `key="quoted value"` arrives as two tokens: `key=` and the quoted string.
        if value == Some("")
            && let Some(next) = tokens.get(j + 1)
            && next.quoted
        {
            value = Some(next.text);
            j += 1;
        }
        let key = key_number(key_text).map_err(|m| (Some(at), m))?;
        if params.contains_key(&key) {
            return Err((Some(at), format!("SvcParamKey {} appears twice", key_name(key))));
        }
        let raw = value.map(unescape).transpose().map_err(|m| (Some(at), m))?;
        let wire = encode_value(key, raw.as_deref()).map_err(|m| (Some(at), m))?;
        params.insert(key, wire);
        j += 1;
    }
    check_consistency(&params).map_err(|m| (None, m))?;
    for (k, v) in &params {
        out.extend_from_slice(&k.to_be_bytes());
        out.extend_from_slice(&(v.len() as u16).to_be_bytes());
        out.extend_from_slice(v);
    }
    Ok(())
}

fn check_consistency(params: &BTreeMap<u16, Vec<u8>>) -> Result<(), String> {
    if let Some(m) = params.get(&MANDATORY) {
        for k in m.chunks_exact(2) {
            let k = u16::from_be_bytes([k[0], k[1]]);
            if !params.contains_key(&k) {
                return Err(format!("mandatory lists {} but it is not present", key_name(k)));
            }
        }
    }
    if params.contains_key(&NO_DEFAULT_ALPN) && !params.contains_key(&ALPN) {
        return Err("no-default-alpn requires alpn".to_owned());
    }
    Ok(())
}

fn split_wire(wire: &[u8]) -> Result<BTreeMap<u16, &[u8]>, String> {
    let mut params = BTreeMap::new();
    let mut i = 0;
    let mut last: Option<u16> = None;
    while i < wire.len() {
        let head = wire.get(i..i + 4).ok_or("truncated SvcParam")?;
        let key = u16::from_be_bytes([head[0], head[1]]);
        let len = usize::from(u16::from_be_bytes([head[2], head[3]]));
        let value = wire.get(i + 4..i + 4 + len).ok_or("truncated SvcParam value")?;
        if last.is_some_and(|l| l >= key) {
            return Err("SvcParamKeys are not in strictly increasing order".to_owned());
        }
        if key == 65535 {
            return Err("SvcParamKey 65535 is reserved".to_owned());
        }
        last = Some(key);
        params.insert(key, value);
        i += 4 + len;
    }
    Ok(params)
}

/// Checks wire-format SvcParams (as received in RFC 3597 form).
pub(crate) fn check_wire_params(wire: &[u8]) -> Result<(), String> {
    let params = split_wire(wire)?;
    let mut owned = BTreeMap::new();
    for (&k, &v) in &params {
        let ok = match k {
            MANDATORY => {
                let keys: Vec<u16> =
                    v.chunks_exact(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect();
                !v.is_empty()
                    && v.len() % 2 == 0
                    && keys.windows(2).all(|w| w[0] < w[1])
                    && !keys.contains(&MANDATORY)
            }
            ALPN => {
                let mut i = 0;
                let mut fine = !v.is_empty();
                while fine && i < v.len() {
                    let l = usize::from(v[i]);
                    fine = l > 0 && i + 1 + l <= v.len();
                    i += 1 + l;
                }
                fine
            }
            NO_DEFAULT_ALPN | OHTTP => v.is_empty(),
            PORT => v.len() == 2,
            IPV4HINT => !v.is_empty() && v.len() % 4 == 0,
            IPV6HINT => !v.is_empty() && v.len() % 16 == 0,
            ECH => !v.is_empty(),
            DOHPATH => std::str::from_utf8(v).is_ok(),
            _ => true,
        };
        if !ok {
            return Err(format!("malformed {} value", key_name(k)));
        }
        owned.insert(k, v.to_vec());
    }
    check_consistency(&owned)
}

fn quoted(bytes: &[u8]) -> String {
    let mut s = String::from("\"");
    write_escaped(&mut s, bytes);
    s.push('"');
    s
}

/// Presentation form of wire-format SvcParams.
pub(crate) fn show_params(wire: &[u8]) -> Result<String, String> {
    let params = split_wire(wire)?;
    let mut parts = Vec::with_capacity(params.len());
    for (&k, &v) in &params {
        let name = key_name(k);
        let shown = match k {
            MANDATORY => {
                let keys: Vec<String> =
                    v.chunks_exact(2).map(|c| key_name(u16::from_be_bytes([c[0], c[1]]))).collect();
                format!("{name}={}", keys.join(","))
            }
            ALPN => {
                let mut ids = Vec::new();
                let mut i = 0;
                while i < v.len() {
                    let l = usize::from(v[i]);
                    let id = v.get(i + 1..i + 1 + l).ok_or("truncated alpn")?;
                    let mut escaped = Vec::with_capacity(id.len());
                    for &b in id {
                        if b == b',' || b == b'\\' {
                            escaped.push(b'\\');
                        }
                        escaped.push(b);
                    }
                    ids.push(escaped);
                    i += 1 + l;
                }
                format!("{name}={}", quoted(&ids.join(&b',')))
            }
            NO_DEFAULT_ALPN | OHTTP => name,
            PORT if v.len() == 2 => format!("{name}={}", u16::from_be_bytes([v[0], v[1]])),
            IPV4HINT => {
                let a: Vec<String> = v
                    .chunks_exact(4)
                    .map(|c| Ipv4Addr::new(c[0], c[1], c[2], c[3]).to_string())
                    .collect();
                format!("{name}={}", a.join(","))
            }
            IPV6HINT => {
                let a: Vec<String> = v
                    .chunks_exact(16)
                    .map(|c| {
                        let mut o = [0u8; 16];
                        o.copy_from_slice(c);
                        Ipv6Addr::from(o).to_string()
                    })
                    .collect();
                format!("{name}={}", a.join(","))
            }
            ECH => format!("{name}={}", BASE64.encode(v)),
            DOHPATH => format!("{name}={}", quoted(v)),
            _ if v.is_empty() => name,
            _ => format!("{name}={}", quoted(v)),
        };
        parts.push(shown);
    }
    Ok(parts.join(" "))
}
