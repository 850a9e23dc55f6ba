//! TSIG (RFC 8945): verifying a signed request and signing its replies, one message or a
//! stream of them (a zone transfer over TCP, RFC 8945 §5.3.1), with HMAC-SHA256, -SHA384,
//! -SHA512 and, for old clients, -SHA1. The keys themselves live in the control plane; this
//! module only computes and checks MACs over wire bytes.

use ring::hmac;
use turnout_model::{Name, RType};

use crate::wire::message::Record;

/// TSIG errors (RFC 8945 §5.2, in the TSIG record's Error field).
pub mod error {
    /// The MAC does not verify.
    pub const BADSIG: u16 = 16;
    /// The key is not known, or its algorithm is not the one used.
    pub const BADKEY: u16 = 17;
    /// The time signed is outside the fudge.
    pub const BADTIME: u16 = 18;
    /// The MAC is truncated below what is accepted.
    pub const BADTRUNC: u16 = 22;
}

/// The fudge Turnout signs with (RFC 8945 §10 recommends 300 s). A request is checked against
/// its own fudge, as RFC 8945 §5.2.3 says.
pub const FUDGE: u16 = 300;

/// The class TSIG records carry (ANY).
const CLASS_ANY: u16 = 255;

/// A MAC algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// `hmac-sha1` (RFC 8945 §6: accepted for old clients).
    HmacSha1,
    /// `hmac-sha256`, the one to use.
    HmacSha256,
    /// `hmac-sha384`.
    HmacSha384,
    /// `hmac-sha512`.
    HmacSha512,
}

impl Algorithm {
    /// Every algorithm, by the name used in the API and in `tsig-keygen`.
    pub const ALL: [Algorithm; 4] =
        [Algorithm::HmacSha1, Algorithm::HmacSha256, Algorithm::HmacSha384, Algorithm::HmacSha512];

    /// The name without the trailing dot, as the API writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::HmacSha1 => "hmac-sha1",
            Algorithm::HmacSha256 => "hmac-sha256",
            Algorithm::HmacSha384 => "hmac-sha384",
            Algorithm::HmacSha512 => "hmac-sha512",
        }
    }

    /// The algorithm named `text` (trailing dot optional, any case).
    pub fn from_name(text: &str) -> Option<Algorithm> {
        let text = text.trim_end_matches('.').to_ascii_lowercase();
        Algorithm::ALL.into_iter().find(|a| a.as_str() == text)
    }

    /// The algorithm's name in wire format.
    pub fn wire_name(self) -> Name {
        Name::parse_absolute(self.as_str()).unwrap_or_else(|_| Name::root())
    }

    /// The MAC length in bytes.
    pub fn mac_len(self) -> usize {
        match self {
            Algorithm::HmacSha1 => 20,
            Algorithm::HmacSha256 => 32,
            Algorithm::HmacSha384 => 48,
            Algorithm::HmacSha512 => 64,
        }
    }

    fn ring(self) -> hmac::Algorithm {
        match self {
            Algorithm::HmacSha1 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            Algorithm::HmacSha256 => hmac::HMAC_SHA256,
            Algorithm::HmacSha384 => hmac::HMAC_SHA384,
            Algorithm::HmacSha512 => hmac::HMAC_SHA512,
        }
    }
}

/// A shared secret.
#[derive(Clone)]
pub struct Key {
    /// The key's name.
    pub name: Name,
    /// Its algorithm.
    pub algorithm: Algorithm,
    key: hmac::Key,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key")
            .field("name", &self.name.to_string())
            .field("algorithm", &self.algorithm.as_str())
            .finish_non_exhaustive()
    }
}

impl Key {
    /// A key named `name` with `secret` for `algorithm`.
    pub fn new(name: Name, algorithm: Algorithm, secret: &[u8]) -> Key {
        Key { name, algorithm, key: hmac::Key::new(algorithm.ring(), secret) }
    }
}

/// A TSIG record's data (RFC 8945 §4.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tsig {
    /// The key name (the record's owner).
    pub key: Name,
    /// The algorithm name.
    pub algorithm: Name,
    /// Seconds since the epoch (48 bits).
    pub time_signed: u64,
    /// Seconds of error permitted.
    pub fudge: u16,
    /// The MAC.
    pub mac: Vec<u8>,
    /// The message's ID when it was signed.
    pub original_id: u16,
    /// The TSIG error.
    pub error: u16,
    /// Other data (the server's time in a BADTIME reply).
    pub other: Vec<u8>,
}

impl Tsig {
    /// Reads a TSIG record (as [`crate::wire::message::parse`] found it).
    pub fn from_record(record: &Record) -> Option<Tsig> {
        let d = &record.rdata;
        let alg_len = turnout_model::name::wire_name_len(d)?;
        let algorithm = Name::from_wire(&d[..alg_len]).ok()?;
        let mut p = alg_len;
        let take = |p: &mut usize, n: usize| -> Option<&[u8]> {
            let s = d.get(*p..*p + n)?;
            *p += n;
            Some(s)
        };
        let t = take(&mut p, 6)?;
        let time_signed = t.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        let u16_of = |b: &[u8]| u16::from_be_bytes([b[0], b[1]]);
        let fudge = u16_of(take(&mut p, 2)?);
        let mac_len = usize::from(u16_of(take(&mut p, 2)?));
        let mac = take(&mut p, mac_len)?.to_vec();
        let original_id = u16_of(take(&mut p, 2)?);
        let error = u16_of(take(&mut p, 2)?);
        let other_len = usize::from(u16_of(take(&mut p, 2)?));
        let other = take(&mut p, other_len)?.to_vec();
        if p != d.len() {
            return None;
        }
        Some(Tsig {
            key: record.name.clone(),
            algorithm,
            time_signed,
            fudge,
            mac,
            original_id,
            error,
            other,
        })
    }
}

/// Why a signed request is refused: the TSIG error to answer with (RFC 8945 §5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The key is not known here, or not with this algorithm: BADKEY, unsigned.
    BadKey,
    /// The MAC does not verify: BADSIG, unsigned.
    BadSig,
    /// Signed too far from now: BADTIME, signed, with the server's time.
    BadTime,
    /// The MAC is truncated too far: BADTRUNC, signed.
    BadTrunc,
    /// The MAC is longer than the algorithm's: FORMERR.
    FormErr,
}

impl Refusal {
    /// The TSIG error code (0 for FORMERR, which is an RCODE only).
    pub fn code(self) -> u16 {
        match self {
            Refusal::BadKey => error::BADKEY,
            Refusal::BadSig => error::BADSIG,
            Refusal::BadTime => error::BADTIME,
            Refusal::BadTrunc => error::BADTRUNC,
            Refusal::FormErr => 0,
        }
    }

    /// The name dig prints.
    pub fn name(self) -> &'static str {
        match self {
            Refusal::BadKey => "BADKEY",
            Refusal::BadSig => "BADSIG",
            Refusal::BadTime => "BADTIME",
            Refusal::BadTrunc => "BADTRUNC",
            Refusal::FormErr => "FORMERR",
        }
    }
}

fn time48(t: u64) -> [u8; 6] {
    let b = t.to_be_bytes();
    [b[2], b[3], b[4], b[5], b[6], b[7]]
}

/// The TSIG variables of RFC 8945 §4.3.3 (all of them, or the timers alone).
fn variables(ctx: &mut hmac::Context, t: &Tsig, timers_only: bool) {
    if !timers_only {
        ctx.update(t.key.as_wire());
        ctx.update(&CLASS_ANY.to_be_bytes());
        ctx.update(&0u32.to_be_bytes());
        ctx.update(t.algorithm.as_wire());
    }
    ctx.update(&time48(t.time_signed));
    ctx.update(&t.fudge.to_be_bytes());
    if !timers_only {
        ctx.update(&t.error.to_be_bytes());
        ctx.update(&(t.other.len() as u16).to_be_bytes());
        ctx.update(&t.other);
    }
}

/// The bytes a request's MAC covers: the message without its TSIG, ARCOUNT one less, the
/// original ID in place (RFC 8945 §4.3.1).
fn unsigned_part(message: &[u8], tsig_at: usize, original_id: u16) -> Option<Vec<u8>> {
    let mut m = message.get(..tsig_at)?.to_vec();
    if m.len() < 12 {
        return None;
    }
    let ar = u16::from_be_bytes([m[10], m[11]]).checked_sub(1)?;
    m[10..12].copy_from_slice(&ar.to_be_bytes());
    m[0..2].copy_from_slice(&original_id.to_be_bytes());
    Some(m)
}

/// Checks a signed request: `message` as received, its TSIG record starting at `tsig_at`,
/// against `key` (None: not known here) at `now` (seconds since the epoch). In the order of
/// RFC 8945 §5.2: key, MAC, time, truncation.
pub fn verify_request(
    message: &[u8],
    tsig_at: usize,
    tsig: &Tsig,
    key: Option<&Key>,
    now: u64,
) -> Result<(), Refusal> {
    verify(message, tsig_at, tsig, key, now, (None, &[]), false)
}

/// `before`: the MAC before this message (a reply's request, a stream's last signed message)
/// and the unsigned messages that came since it, which this MAC covers too.
fn verify(
    message: &[u8],
    tsig_at: usize,
    tsig: &Tsig,
    key: Option<&Key>,
    now: u64,
    before: (Option<&[u8]>, &[u8]),
    timers_only: bool,
) -> Result<(), Refusal> {
    let (prior_mac, held) = before;
    let Some(key) = key.filter(|k| k.name == tsig.key) else {
        return Err(Refusal::BadKey);
    };
    if Algorithm::from_name(&tsig.algorithm.to_string()) != Some(key.algorithm) {
        return Err(Refusal::BadKey);
    }
    let full = key.algorithm.mac_len();
    if tsig.mac.len() > full {
        return Err(Refusal::FormErr);
    }
    // RFC 8945 §5.2.2.1: a MAC shorter than max(10, half the hash) is not accepted.
    let least = (full / 2).max(10);
    let Some(part) = unsigned_part(message, tsig_at, tsig.original_id) else {
        return Err(Refusal::FormErr);
    };
    let mut ctx = hmac::Context::with_key(&key.key);
    if let Some(mac) = prior_mac {
        ctx.update(&(mac.len() as u16).to_be_bytes());
        ctx.update(mac);
    }
    ctx.update(held);
    ctx.update(&part);
    variables(&mut ctx, tsig, timers_only);
    let computed = ctx.sign();
    let n = tsig.mac.len();
    if n < least && n != full {
        // A too-short MAC is BADSIG if it does not match even so, BADTRUNC if it does.
        return Err(if ring_eq(&computed.as_ref()[..n], &tsig.mac) {
            Refusal::BadTrunc
        } else {
            Refusal::BadSig
        });
    }
    if !ring_eq(&computed.as_ref()[..n], &tsig.mac) {
        return Err(Refusal::BadSig);
    }
    if now.abs_diff(tsig.time_signed) > u64::from(tsig.fudge) {
        return Err(Refusal::BadTime);
    }
    Ok(())
}

/// Constant-time comparison of two MACs of the same length.
fn ring_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Signs the replies to one request, in order: the first with the request's MAC and every
/// TSIG variable, each later one (a transfer's next messages) with the MAC before it and the
/// timers (RFC 8945 §5.3.1). Each message of a transfer is signed.
#[derive(Debug)]
pub struct Signer {
    key: Key,
    prior: Vec<u8>,
    first: bool,
    time: u64,
}

impl Signer {
    /// Signs replies to a request whose MAC was `request_mac`, at `now`.
    pub fn new(key: Key, request_mac: &[u8], now: u64) -> Signer {
        Signer { key, prior: request_mac.to_vec(), first: true, time: now }
    }

    /// A signer for requests this node sends (NOTIFY), with no request before them.
    pub fn for_request(key: Key, now: u64) -> Signer {
        Signer { key, prior: Vec::new(), first: true, time: now }
    }

    /// The bytes the TSIG record this signer appends takes (with a BADTIME reply's six bytes
    /// of other data): what a reply must leave room for.
    pub fn room(&self) -> usize {
        self.key.name.as_wire().len()
            + 10
            + self.key.algorithm.wire_name().as_wire().len()
            + 6
            + 2
            + 2
            + self.key.algorithm.mac_len()
            + 2
            + 2
            + 2
            + 6
    }

    /// The last MAC made (what a reply to a signed request is checked against).
    pub fn last_mac(&self) -> &[u8] {
        &self.prior
    }

    /// Appends a TSIG record to `message` (a whole message, its ARCOUNT counted up) with
    /// `error` and `other` data (a BADTIME reply's server time).
    pub fn sign(&mut self, message: &mut Vec<u8>, error: u16, other: &[u8]) {
        if message.len() < 12 {
            return; // not a message: nothing to sign
        }
        let id = u16::from_be_bytes([message[0], message[1]]);
        let t = Tsig {
            key: self.key.name.clone(),
            algorithm: self.key.algorithm.wire_name(),
            time_signed: self.time,
            fudge: FUDGE,
            mac: Vec::new(),
            original_id: id,
            error,
            other: other.to_vec(),
        };
        let mut ctx = hmac::Context::with_key(&self.key.key);
        if !self.prior.is_empty() {
            ctx.update(&(self.prior.len() as u16).to_be_bytes());
            ctx.update(&self.prior);
        }
        ctx.update(message);
        variables(&mut ctx, &t, !self.first);
        let mac = ctx.sign().as_ref().to_vec();
        append(message, &Tsig { mac: mac.clone(), ..t });
        self.prior = mac;
        self.first = false;
    }

    /// A checker of the replies to the request this signer signed last.
    pub fn replies(&self) -> ReplyVerifier {
        ReplyVerifier {
            key: self.key.clone(),
            prior: self.prior.clone(),
            first: true,
            held: Vec::new(),
            held_messages: 0,
        }
    }
}

/// Checks the replies to a signed request, in order: the first against the request's MAC,
/// each later one against the MAC before it (RFC 8945 §5.3.1).
#[derive(Debug)]
pub struct ReplyVerifier {
    key: Key,
    prior: Vec<u8>,
    first: bool,
    /// Unsigned messages since the last signed one (RFC 8945 §5.3.1 lets a server sign only
    /// every hundredth message of a stream; the next MAC covers them).
    held: Vec<u8>,
    /// How many messages `held` holds.
    held_messages: usize,
}

/// Unsigned messages a stream may send in a row (RFC 8945 §5.3.1: at least every hundredth is
/// signed).
const MAX_UNSIGNED: usize = 99;

impl ReplyVerifier {
    /// Checks the next reply (`message` as received, its TSIG at `tsig_at`).
    pub fn check(
        &mut self,
        message: &[u8],
        tsig_at: usize,
        tsig: &Tsig,
        now: u64,
    ) -> Result<(), Refusal> {
        let timers_only = !self.first;
        let before = (Some(self.prior.as_slice()), self.held.as_slice());
        verify(message, tsig_at, tsig, Some(&self.key), now, before, timers_only)?;
        self.prior.clone_from(&tsig.mac);
        self.first = false;
        self.held.clear();
        self.held_messages = 0;
        Ok(())
    }

    /// Takes an unsigned message of a stream: its MAC comes with the next signed one. The first
    /// message must be signed, and at least every hundredth: else BADSIG.
    pub fn hold(&mut self, message: &[u8]) -> Result<(), Refusal> {
        if self.first || self.held_messages >= MAX_UNSIGNED {
            return Err(Refusal::BadSig);
        }
        self.held.extend_from_slice(message);
        self.held_messages += 1;
        Ok(())
    }

    /// Whether every message so far was covered by a MAC (none held): a stream must end
    /// signed.
    pub fn settled(&self) -> bool {
        self.held_messages == 0
    }
}

/// Appends `t` as the last additional record of `message` and counts it.
pub fn append(message: &mut Vec<u8>, t: &Tsig) {
    if message.len() < 12 {
        return;
    }
    let ar = u16::from_be_bytes([message[10], message[11]]).saturating_add(1);
    message[10..12].copy_from_slice(&ar.to_be_bytes());
    message.extend_from_slice(t.key.as_wire());
    message.extend_from_slice(&RType::TSIG.0.to_be_bytes());
    message.extend_from_slice(&CLASS_ANY.to_be_bytes());
    message.extend_from_slice(&0u32.to_be_bytes());
    let rdlen = t.algorithm.as_wire().len() + 6 + 2 + 2 + t.mac.len() + 2 + 2 + 2 + t.other.len();
    message.extend_from_slice(&(rdlen as u16).to_be_bytes());
    message.extend_from_slice(t.algorithm.as_wire());
    message.extend_from_slice(&time48(t.time_signed));
    message.extend_from_slice(&t.fudge.to_be_bytes());
    message.extend_from_slice(&(t.mac.len() as u16).to_be_bytes());
    message.extend_from_slice(&t.mac);
    message.extend_from_slice(&t.original_id.to_be_bytes());
    message.extend_from_slice(&t.error.to_be_bytes());
    message.extend_from_slice(&(t.other.len() as u16).to_be_bytes());
    message.extend_from_slice(&t.other);
}

/// Appends the unsigned TSIG of a BADKEY or BADSIG reply (RFC 8945 §5.3.2): the request's
/// key, algorithm, time and fudge, no MAC, the error.
pub fn append_unsigned(message: &mut Vec<u8>, request: &Tsig, error: u16) {
    append(message, &Tsig { mac: Vec::new(), error, other: Vec::new(), ..request.clone() });
}

/// The server's time as a BADTIME reply's other data (RFC 8945 §5.2.3).
pub fn time_other(now: u64) -> [u8; 6] {
    time48(now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::message::parse;

    fn key(alg: Algorithm) -> Key {
        Key::new(Name::parse_absolute("xfr.key.").expect("a name"), alg, b"0123456789abcdef")
    }

    fn query() -> Vec<u8> {
        let mut m = vec![0xab, 0xcd, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        m.extend_from_slice(b"\x07example\x04test\x00\x00\xfc\x00\x01");
        m
    }

    /// What one side signs the other verifies, for every algorithm; a changed byte, another
    /// key or a time outside the fudge is refused with the error RFC 8945 §5.2 names.
    #[test]
    fn signed_requests_verify_and_tampering_does_not() {
        for alg in Algorithm::ALL {
            let mut m = query();
            Signer::for_request(key(alg), 1_000_000).sign(&mut m, 0, &[]);
            let parsed = parse(&m).expect("parses");
            let (rec, at) = parsed.tsig.expect("signed");
            let t = Tsig::from_record(&rec).expect("a TSIG");
            assert_eq!(t.mac.len(), alg.mac_len());
            assert!(m.len() - at <= Signer::for_request(key(alg), 0).room(), "room is enough");
            assert_eq!(verify_request(&m, at, &t, Some(&key(alg)), 1_000_100), Ok(()));
            assert_eq!(
                verify_request(&m, at, &t, Some(&key(alg)), 1_000_301),
                Err(Refusal::BadTime)
            );
            assert_eq!(verify_request(&m, at, &t, None, 1_000_000), Err(Refusal::BadKey));
            let other = Key::new(key(alg).name, alg, b"another secret!!");
            assert_eq!(verify_request(&m, at, &t, Some(&other), 1_000_000), Err(Refusal::BadSig));
            let mut tampered = m.clone();
            tampered[13] ^= 0x20;
            assert_eq!(
                verify_request(&tampered, at, &t, Some(&key(alg)), 1_000_000),
                Err(Refusal::BadSig)
            );
        }
    }

    /// A reply stream: the first reply covers the request MAC, each later one the MAC before
    /// it and the timers; the requester's check walks the same chain and notices a reply left
    /// out.
    #[test]
    fn a_stream_of_replies_chains_its_macs() {
        let k = key(Algorithm::HmacSha256);
        let mut request = query();
        let mut client = Signer::for_request(k.clone(), 5000);
        client.sign(&mut request, 0, &[]);
        let mut server = Signer::new(k.clone(), client.last_mac(), 5000);
        let replies: Vec<Vec<u8>> = (0..3)
            .map(|_| {
                let mut reply = query();
                reply[2] |= 0x80;
                server.sign(&mut reply, 0, &[]);
                reply
            })
            .collect();
        let check = |order: &[usize]| {
            let mut v = client.replies();
            order.iter().all(|&i| {
                let parsed = parse(&replies[i]).expect("parses");
                let (rec, at) = parsed.tsig.expect("signed");
                let t = Tsig::from_record(&rec).expect("a TSIG");
                v.check(&replies[i], at, &t, 5000).is_ok()
            })
        };
        assert!(check(&[0, 1, 2]));
        assert!(!check(&[0, 2]), "a reply left out");
        assert!(!check(&[1]), "the first reply is not this one");
    }
}
