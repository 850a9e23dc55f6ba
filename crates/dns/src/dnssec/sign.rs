//! RRSIG records over canonical RRsets (RFC 4034 §3.1.8.1, §6).
//!
//! Records in a snapshot are already in canonical form: names lowercase and uncompressed
//! (`turnout_model::Name` lowercases), each record stored as `TYPE CLASS TTL RDLENGTH RDATA`
//! with the RRset's TTL. Signing therefore only sorts the records by RDATA and prefixes each
//! with the owner name.

use smallvec::SmallVec;

use super::keys::SigningKey;
use turnout_model::RType;

/// RDATA bytes of an RRSIG before its signature: type covered (2), algorithm (1), labels
/// (1), original TTL (4), expiration (4), inception (4), key tag (2), then the signer.
const FIXED: usize = 18;

/// What an RRSIG says besides the RRset it covers.
#[derive(Debug, Clone, Copy)]
pub struct Validity {
    /// Signature inception, Unix seconds (serial-number arithmetic on the wire, RFC 4034
    /// §3.1.5).
    pub inception: u32,
    /// Signature expiration, Unix seconds.
    pub expiration: u32,
}

/// The labels of `owner` (wire form) for an RRSIG: without the root and without a leading
/// `*` label (RFC 4034 §3.1.3).
pub fn labels(owner: &[u8]) -> u8 {
    let mut n = 0u8;
    let mut i = 0;
    let mut first = true;
    while let Some(&len) = owner.get(i) {
        if len == 0 {
            break;
        }
        if !(first && len == 1 && owner.get(i + 1) == Some(&b'*')) {
            n = n.saturating_add(1);
        }
        first = false;
        i += 1 + usize::from(len);
    }
    n
}

/// The RDATA of a record as stored (`TYPE CLASS TTL RDLENGTH RDATA`).
fn rdata_of(record: &[u8]) -> &[u8] {
    record.get(10..).unwrap_or(&[])
}

/// Signs the RRset of `records` (each `TYPE CLASS TTL RDLENGTH RDATA`, canonical, in any
/// order, duplicates allowed) at `owner` (lowercase wire form; what a wildcard expanded to,
/// for an answer synthesized from one) with `key` of zone `signer`; returns the RRSIG's RDATA.
/// The original TTL is the records' TTL.
pub fn rrsig(
    key: &SigningKey,
    signer: &[u8],
    owner: &[u8],
    rtype: RType,
    ttl: u32,
    validity: Validity,
    records: &[&[u8]],
) -> Vec<u8> {
    let mut sorted: SmallVec<[&[u8]; 16]> = records.iter().copied().collect();
    // RFC 4034 §6.3: by RDATA as a left-justified unsigned octet sequence; duplicates go.
    sorted.sort_unstable_by(|a, b| rdata_of(a).cmp(rdata_of(b)));
    sorted.dedup_by(|a, b| rdata_of(a) == rdata_of(b));
    let mut rdata = Vec::with_capacity(FIXED + signer.len() + key.algorithm().signature_len());
    rdata.extend_from_slice(&rtype.0.to_be_bytes());
    rdata.push(key.algorithm().number());
    rdata.push(labels(owner));
    rdata.extend_from_slice(&ttl.to_be_bytes());
    rdata.extend_from_slice(&validity.expiration.to_be_bytes());
    rdata.extend_from_slice(&validity.inception.to_be_bytes());
    rdata.extend_from_slice(&key.tag().to_be_bytes());
    rdata.extend_from_slice(signer);
    // The signed data: the RDATA so far, then each RR as owner TYPE CLASS TTL RDLENGTH RDATA.
    let mut data = Vec::with_capacity(
        rdata.len() + sorted.iter().map(|r| owner.len() + r.len()).sum::<usize>(),
    );
    data.extend_from_slice(&rdata);
    for r in &sorted {
        data.extend_from_slice(owner);
        data.extend_from_slice(&r[..r.len().min(4)]);
        data.extend_from_slice(&ttl.to_be_bytes());
        data.extend_from_slice(r.get(8..).unwrap_or(&[]));
    }
    rdata.extend_from_slice(&key.sign(&data));
    rdata
}

/// An NSEC RDATA (RFC 4034 §4.1): `next` (lowercase wire form), then the type bitmap of
/// `types` (any order, duplicates allowed).
pub fn nsec_rdata(next: &[u8], types: &mut [u16]) -> SmallVec<[u8; 64]> {
    let mut out: SmallVec<[u8; 64]> = SmallVec::from_slice(next);
    types.sort_unstable();
    let mut i = 0;
    while i < types.len() {
        let window = (types[i] >> 8) as u8;
        let mut bits = [0u8; 32];
        let mut len = 0;
        while i < types.len() && (types[i] >> 8) as u8 == window {
            let low = (types[i] & 0xFF) as usize;
            bits[low / 8] |= 0x80 >> (low % 8);
            len = len.max(low / 8 + 1);
            i += 1;
        }
        out.push(window);
        out.push(len as u8);
        out.extend_from_slice(&bits[..len]);
    }
    out
}

/// The next name of a compact-denial NSEC at `owner` (RFC 9824 §3): `\000.owner`, the
/// closest name after it; for an owner too long for that (it then has no descendants, which
/// would be longer still) the owner with its first label's last octet increased, the next
/// possible sibling (RFC 4470 §3).
pub fn next_name(owner: &[u8]) -> SmallVec<[u8; 256]> {
    let mut out = SmallVec::new();
    if owner.len() + 2 <= 255 {
        out.extend_from_slice(&[1, 0]);
        out.extend_from_slice(owner);
        return out;
    }
    out.extend_from_slice(owner);
    let first = usize::from(owner[0]);
    if first > 0 && out[first] < 0xFF {
        out[first] += 1;
        // Uppercase letters are never in a lowercase name.
        if out[first].is_ascii_uppercase() {
            out[first] = b'[';
        }
    }
    out
}
