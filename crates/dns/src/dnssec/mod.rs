//! DNSSEC online signing (RFC 4033-4035): every answer to a query with the DO bit, for a
//! zone that has keys, carries RRSIGs made when first needed and cached
//! ([`cache::SigCache`]); names and types that do not exist are denied by compact denial of
//! existence (RFC 9824): one NSEC at the query name, made for it, so nothing can be walked.
//!
//! A zone's [`ZoneSigner`] holds its keys; the control plane builds it from the keys in the
//! store and attaches it to the zone's compiled part ([`crate::ZonePart::set_signer`]), whose
//! apex then publishes DNSKEY, CDS and CDNSKEY ([`ZoneSigner::publish`]). See
//! `docs/dnssec.md`.

pub mod cache;
pub mod keys;
pub mod sign;

use std::hash::Hasher as _;
use std::sync::Arc;

use smallvec::SmallVec;

use cache::{Entry, SigCache, feed};
pub use keys::{Algorithm, DigestType, KeyError, SigningKey};
use sign::Validity;
use turnout_model::{Name, RType, Rdata, Zone};

/// How long signatures are valid, and when a cached one is made again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetimes {
    /// From signing to expiration.
    pub validity: u32,
    /// From signing to making it again (less than `validity`: a signature served is then
    /// valid for at least `validity - refresh` more).
    pub refresh: u32,
    /// How far inception is set back from the signing time, for validators whose clocks
    /// lag.
    pub backdate: u32,
}

impl Default for Lifetimes {
    fn default() -> Self {
        Lifetimes { validity: 7 * 86_400, refresh: 86_400, backdate: 3_600 }
    }
}

/// A zone's keys: the ones that sign, and what its apex publishes.
#[derive(Debug)]
pub struct ZoneSigner {
    apex: Name,
    /// Sign every RRset but the apex's DNSKEY, CDS and CDNSKEY (a CSK is in both lists).
    zone_signing: Vec<Arc<SigningKey>>,
    /// Sign the apex's DNSKEY, CDS and CDNSKEY RRsets.
    key_signing: Vec<Arc<SigningKey>>,
    /// DNSKEY RDATAs the apex publishes: the signing keys and any published ahead of use or
    /// kept after it (rollovers).
    dnskeys: Vec<Box<[u8]>>,
    /// DNSKEY RDATAs of the keys the parent's DS should point to (CDS and CDNSKEY, RFC 7344);
    /// empty: none published.
    sep: Vec<Box<[u8]>>,
    /// TTL of DNSKEY, CDS and CDNSKEY.
    dnskey_ttl: u32,
    lifetimes: Lifetimes,
}

/// A key of a zone and what it does.
#[derive(Debug, Clone)]
pub struct ZoneKey {
    /// The key.
    pub key: Arc<SigningKey>,
    /// Signs the zone's RRsets.
    pub signs_zone: bool,
    /// Signs the DNSKEY RRset (and CDS, CDNSKEY).
    pub signs_keys: bool,
    /// In the DNSKEY RRset.
    pub published: bool,
    /// Its DS is wanted at the parent (CDS/CDNSKEY name it).
    pub wanted_in_parent: bool,
}

impl ZoneSigner {
    /// The signer of `apex` with `keys`; `dnskey_ttl` for DNSKEY, CDS and CDNSKEY.
    pub fn new(apex: Name, keys: &[ZoneKey], dnskey_ttl: u32, lifetimes: Lifetimes) -> Self {
        let pick = |f: fn(&ZoneKey) -> bool| -> Vec<Arc<SigningKey>> {
            keys.iter().filter(|k| f(k)).map(|k| Arc::clone(&k.key)).collect()
        };
        let rdatas = |f: fn(&ZoneKey) -> bool| -> Vec<Box<[u8]>> {
            keys.iter().filter(|k| f(k)).map(|k| k.key.dnskey().into()).collect()
        };
        ZoneSigner {
            apex,
            zone_signing: pick(|k| k.signs_zone),
            key_signing: pick(|k| k.signs_keys),
            dnskeys: rdatas(|k| k.published),
            sep: rdatas(|k| k.wanted_in_parent),
            dnskey_ttl,
            lifetimes,
        }
    }

    /// The zone's apex.
    pub fn apex(&self) -> &Name {
        &self.apex
    }

    /// Whether it signs anything (a signer without zone-signing keys signs nothing).
    pub fn signs(&self) -> bool {
        !self.zone_signing.is_empty()
    }

    /// The apex's DNSKEY, CDS (SHA-256) and CDNSKEY records: type, TTL, RDATA.
    pub fn apex_records(&self) -> Vec<(RType, u32, Vec<u8>)> {
        let ttl = self.dnskey_ttl;
        let mut out: Vec<(RType, u32, Vec<u8>)> =
            self.dnskeys.iter().map(|k| (RType::DNSKEY, ttl, k.to_vec())).collect();
        for k in &self.sep {
            let ds = keys::ds_rdata(self.apex.as_wire(), k, DigestType::Sha256);
            out.push((RType::CDS, ttl, ds));
            out.push((RType::CDNSKEY, ttl, k.to_vec()));
        }
        out
    }

    /// Adds the apex's DNSKEY, CDS (SHA-256) and CDNSKEY RRsets to `zone`, replacing any
    /// there (records of these types are the signer's, not the operator's).
    pub fn publish(&self, zone: &mut Zone) -> Result<(), turnout_model::ZoneError> {
        let apex = self.apex.clone();
        zone.remove_rrset(&apex, RType::DNSKEY);
        zone.remove_rrset(&apex, RType::CDS);
        zone.remove_rrset(&apex, RType::CDNSKEY);
        for (rtype, ttl, rdata) in self.apex_records() {
            let rdata = Rdata::from_wire(rtype, &rdata).map_err(|_| {
                turnout_model::ZoneError::Unstorable {
                    rtype,
                    reason: "the signer made RDATA that does not read back",
                }
            })?;
            zone.insert(apex.clone(), rtype, ttl, rdata)?;
        }
        Ok(())
    }

    /// The DS RDATAs for the parent: one per key it wants there, in `digest`.
    pub fn ds(&self, digest: DigestType) -> Vec<Vec<u8>> {
        self.sep.iter().map(|k| keys::ds_rdata(self.apex.as_wire(), k, digest)).collect()
    }

    /// The keys that sign an RRset of `rtype` at `owner`: the key signing keys for the
    /// apex's DNSKEY, CDS and CDNSKEY, the zone signing keys for the rest.
    fn keys_for(&self, owner: &[u8], rtype: RType) -> &[Arc<SigningKey>] {
        if owner == self.apex.as_wire()
            && matches!(rtype, RType::DNSKEY | RType::CDS | RType::CDNSKEY)
        {
            &self.key_signing
        } else {
            &self.zone_signing
        }
    }

    /// The RRSIG RDATAs of an RRset, made now (`now`: Unix seconds) without the cache: for a
    /// whole zone signed once (a transfer).
    pub fn sign_rrset(
        &self,
        owner: &[u8],
        rtype: RType,
        ttl: u32,
        records: &[&[u8]],
        now: u32,
    ) -> Vec<Vec<u8>> {
        let l = self.lifetimes;
        let validity = Validity {
            inception: now.wrapping_sub(l.backdate),
            expiration: now.wrapping_add(l.validity),
        };
        self.keys_for(owner, rtype)
            .iter()
            .map(|key| sign::rrsig(key, self.apex.as_wire(), owner, rtype, ttl, validity, records))
            .collect()
    }

    /// The RRSIGs of an RRset: `records` (each `TYPE CLASS TTL RDLENGTH RDATA`, as stored) at
    /// `owner` (lowercase wire form), from `cache` or signed now (`now`: Unix seconds).
    pub fn rrsigs(
        &self,
        cache: &SigCache,
        owner: &[u8],
        rtype: RType,
        ttl: u32,
        records: &[&[u8]],
        now: u32,
    ) -> SmallVec<[Arc<Entry>; 1]> {
        let keys = self.keys_for(owner, rtype);
        let mut out = SmallVec::new();
        for key in keys {
            let mut h = cache.hasher();
            h.write_u8(key.algorithm().number());
            h.write_u16(key.tag());
            feed(&mut h, key.dnskey());
            feed(&mut h, owner);
            h.write_u16(rtype.0);
            h.write_u32(ttl);
            h.write_u32(self.lifetimes.validity);
            let mut sorted: SmallVec<[&[u8]; 16]> = records.iter().copied().collect();
            sorted.sort_unstable_by(|a, b| a.get(10..).cmp(&b.get(10..)));
            sorted.dedup_by(|a, b| a.get(10..) == b.get(10..));
            for r in &sorted {
                feed(&mut h, r.get(10..).unwrap_or(&[]));
            }
            let k = SigCache::key(&h);
            let entry = match cache.get(k, now) {
                Some(e) => e,
                None => {
                    let l = self.lifetimes;
                    let validity = Validity {
                        inception: now.wrapping_sub(l.backdate),
                        expiration: now.wrapping_add(l.validity),
                    };
                    let rdata =
                        sign::rrsig(key, self.apex.as_wire(), owner, rtype, ttl, validity, &sorted);
                    cache.insert(k, now.wrapping_add(l.refresh), rdata.into())
                }
            };
            out.push(entry);
        }
        out
    }
}

#[cfg(test)]
mod tests;
