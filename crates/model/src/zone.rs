//! Zones: an apex and its RRsets, with the rules that make a zone servable.
//!
//! [`Zone::insert`] enforces what one record can break on its own (out-of-zone names, TTLs that
//! differ within an RRset, a second SOA); [`Zone::validate`] checks the rules that need the whole
//! zone (an SOA and NS at the apex, CNAME exclusivity, DS only at delegations). Nothing here
//! knows about files, sockets or the wire beyond rdata bytes.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use crate::health::HealthSlot;
use crate::name::Name;
use crate::rdata::Rdata;
use crate::records::Policy;
use crate::rtype::RType;

/// An RRset: every record of one (owner, type), sharing one TTL (RFC 2181 §5.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RRset {
    /// The TTL of every record in the set.
    pub ttl: u32,
    /// The record data, without duplicates, in the order first given.
    pub rdatas: Vec<Rdata>,
}

/// The fields of an SOA record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Soa {
    /// The primary name server.
    pub mname: Name,
    /// The responsible mailbox.
    pub rname: Name,
    /// The zone serial.
    pub serial: u32,
    /// Secondaries' refresh interval.
    pub refresh: u32,
    /// Secondaries' retry interval.
    pub retry: u32,
    /// When secondaries stop answering.
    pub expire: u32,
    /// The negative-caching TTL cap (RFC 2308 §4).
    pub minimum: u32,
}

impl Soa {
    /// Reads SOA rdata.
    pub fn from_rdata(rdata: &Rdata) -> Option<Soa> {
        let w = rdata.as_wire();
        let mlen = crate::name::wire_name_len(w)?;
        let mname = Name::from_wire(&w[..mlen]).ok()?;
        let rlen = crate::name::wire_name_len(&w[mlen..])?;
        let rname = Name::from_wire(&w[mlen..mlen + rlen]).ok()?;
        let rest = w.get(mlen + rlen..)?;
        if rest.len() != 20 {
            return None;
        }
        let n = |i: usize| u32::from_be_bytes([rest[i], rest[i + 1], rest[i + 2], rest[i + 3]]);
        Some(Soa {
            mname,
            rname,
            serial: n(0),
            refresh: n(4),
            retry: n(8),
            expire: n(12),
            minimum: n(16),
        })
    }

    /// The SOA as rdata (the inverse of [`Soa::from_rdata`]).
    pub fn to_rdata(&self) -> Rdata {
        let mut w =
            Vec::with_capacity(self.mname.as_wire().len() + self.rname.as_wire().len() + 20);
        w.extend_from_slice(self.mname.as_wire());
        w.extend_from_slice(self.rname.as_wire());
        for n in [self.serial, self.refresh, self.retry, self.expire, self.minimum] {
            w.extend_from_slice(&n.to_be_bytes());
        }
        // Two valid names and five numbers are always valid SOA data.
        Rdata::from_wire(RType::SOA, &w).unwrap_or_else(|_| unreachable!("valid SOA data"))
    }
}

/// Why a record or a zone was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ZoneError {
    /// A piece of a zone (not the whole zone) holds an alias, which only a whole zone can
    /// answer from its target.
    #[error("{0} is an alias: its zone is compiled whole")]
    AliasInPiece(Name),
    /// A piece's bound is not a label that makes a name below the apex.
    #[error("a piece of the zone {0} has a bound that is not a label")]
    BadPieceBound(Name),
    /// The owner is not at or below the apex.
    #[error("{name} is outside the zone {apex}")]
    OutOfZone {
        /// The owner.
        name: Name,
        /// The zone apex.
        apex: Name,
    },
    /// The type may not be stored.
    #[error("type {rtype} {reason}")]
    Unstorable {
        /// The type.
        rtype: RType,
        /// Why not.
        reason: &'static str,
    },
    /// A TTL that differs from the RRset's.
    #[error(
        "TTL {ttl} of this {rtype} record differs from the TTL {rrset_ttl} of the other {name} {rtype} records (RFC 2181 §5.2: one TTL per RRset)"
    )]
    TtlMismatch {
        /// The owner.
        name: Name,
        /// The type.
        rtype: RType,
        /// The new record's TTL.
        ttl: u32,
        /// The RRset's TTL.
        rrset_ttl: u32,
    },
    /// No SOA at the apex.
    #[error("the zone {0} has no SOA record at its apex")]
    NoSoa(Name),
    /// An SOA somewhere else than the apex.
    #[error("SOA record at {name}, which is not the zone apex {apex}")]
    SoaNotAtApex {
        /// The owner.
        name: Name,
        /// The apex.
        apex: Name,
    },
    /// More than one SOA.
    #[error("the zone has more than one SOA record")]
    MultipleSoa,
    /// No NS at the apex.
    #[error("the zone {0} has no NS records at its apex")]
    NoApexNs(Name),
    /// A CNAME next to other data (RFC 2181 §10.1).
    #[error(
        "{name} has a CNAME and also {other} data; a CNAME must be the only record at its name"
    )]
    CnameAndOtherData {
        /// The owner.
        name: Name,
        /// One of the other types.
        other: RType,
    },
    /// The same (owner, type) given as two RRsets.
    #[error("{name} {rtype} is given twice")]
    DuplicateRRset {
        /// The owner.
        name: Name,
        /// The type.
        rtype: RType,
    },
    /// Two CNAME records at one name.
    #[error("{0} has more than one CNAME record")]
    MultipleCname(Name),
    /// NS at a wildcard owner (RFC 4592 §4.2).
    #[error("{0} is a wildcard name and cannot hold NS records")]
    WildcardNs(Name),
    /// DS away from a delegation point (RFC 4035 §2.4).
    #[error(
        "DS records at {0} must be at a delegation point (a name below the apex with NS records)"
    )]
    DsNotAtDelegation(Name),
}

impl ZoneError {
    /// The owner name and type the error is about, for mapping it back to a source line.
    pub fn subject(&self) -> Option<(&Name, Option<RType>)> {
        match self {
            ZoneError::OutOfZone { name, .. } | ZoneError::SoaNotAtApex { name, .. } => {
                Some((name, None))
            }
            ZoneError::TtlMismatch { name, rtype, .. }
            | ZoneError::DuplicateRRset { name, rtype } => Some((name, Some(*rtype))),
            ZoneError::NoSoa(n) | ZoneError::NoApexNs(n) => Some((n, None)),
            ZoneError::CnameAndOtherData { name, other } => Some((name, Some(*other))),
            ZoneError::MultipleCname(n) => Some((n, Some(RType::CNAME))),
            ZoneError::WildcardNs(n) => Some((n, Some(RType::NS))),
            ZoneError::DsNotAtDelegation(n) => Some((n, Some(RType::DS))),
            _ => None,
        }
    }
}

/// A (name, type) whose answer is chosen per query by its routing policy
/// (docs/routing-policies.md): the records of the group, each with the health check that
/// decides whether it may be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// The records, all of one policy: in set-id order, except a failover group's, which are
    /// primary then secondary.
    pub members: Vec<Member>,
    /// For an IP-based group: the CIDR collection its records name.
    pub collection: Option<Arc<crate::cidr::CidrCollection>>,
    /// The healthy members it needs to count as healthy under evaluate-target-health (at
    /// least 1; `min_healthy`, `min_healthy_pct`).
    pub min_healthy: u16,
    /// A failover group: the percentage of answers its secondary gets while both are healthy.
    pub trickle_pct: u8,
}

/// One record set of a [`Group`].
#[derive(Debug, Clone)]
pub struct Member {
    /// Its set identifier (empty for a simple alias).
    pub set_id: String,
    /// Its policy and the policy's parameter (weight, role, location...).
    pub policy: Policy,
    /// The name of its health check, if any.
    pub check: Option<String>,
    /// The check's slot; `None`: always healthy.
    pub slot: Option<Arc<HealthSlot>>,
    /// What it answers with.
    pub answer: MemberAnswer,
}

/// What a group member answers with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberAnswer {
    /// Its own records.
    Records(RRset),
    /// The answer of the group of the same type at `target`, in the same zone.
    Alias {
        /// The target's owner.
        target: Name,
        /// The member is healthy only while some record of the target group is.
        evaluate_target_health: bool,
    },
}

impl PartialEq for Member {
    fn eq(&self, other: &Self) -> bool {
        self.set_id == other.set_id
            && self.policy == other.policy
            && self.check == other.check
            && self.answer == other.answer
            && match (&self.slot, &other.slot) {
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                (None, None) => true,
                _ => false,
            }
    }
}

// Policy parameters are validated finite numbers, so equality is an equivalence.
impl Eq for Member {}

/// A zone: its apex and RRsets keyed by (owner, type), in canonical order.
///
/// An RRset may also be a policy [`Group`] ([`Zone::set_group`]), whose answer the query path
/// chooses per query from the client and the health of its members. The RRset itself is then
/// the answer for an unknown client with every record healthy, so everything that only reads
/// RRsets (validation, zone files) sees a valid zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zone {
    apex: Name,
    rrsets: BTreeMap<(Name, RType), RRset>,
    groups: BTreeMap<(Name, RType), Group>,
}

impl Zone {
    /// An empty zone at `apex`.
    pub fn new(apex: Name) -> Self {
        Zone { apex, rrsets: BTreeMap::new(), groups: BTreeMap::new() }
    }

    /// The apex.
    pub fn apex(&self) -> &Name {
        &self.apex
    }

    /// Adds one record. Returns `false` when the same record was already there (RRsets are
    /// sets, RFC 2181 §5). Nothing changes on error.
    pub fn insert(
        &mut self,
        name: Name,
        rtype: RType,
        ttl: u32,
        rdata: Rdata,
    ) -> Result<bool, ZoneError> {
        if let Some(reason) = rtype.storage_error() {
            return Err(ZoneError::Unstorable { rtype, reason });
        }
        if !name.is_subdomain_of(&self.apex) {
            return Err(ZoneError::OutOfZone { name, apex: self.apex.clone() });
        }
        if rtype == RType::SOA {
            if name != self.apex {
                return Err(ZoneError::SoaNotAtApex { name, apex: self.apex.clone() });
            }
            if self.rrsets.get(&(name.clone(), rtype)).is_some_and(|s| !s.rdatas.contains(&rdata)) {
                return Err(ZoneError::MultipleSoa);
            }
        }
        match self.rrsets.get_mut(&(name.clone(), rtype)) {
            Some(set) => {
                if set.ttl != ttl {
                    return Err(ZoneError::TtlMismatch { name, rtype, ttl, rrset_ttl: set.ttl });
                }
                if set.rdatas.contains(&rdata) {
                    return Ok(false);
                }
                if rtype == RType::CNAME {
                    return Err(ZoneError::MultipleCname(name));
                }
                set.rdatas.push(rdata);
            }
            None => {
                self.rrsets.insert((name, rtype), RRset { ttl, rdatas: vec![rdata] });
            }
        }
        Ok(true)
    }

    /// Removes the RRset of `rtype` at `name` (and its policy group); returns it.
    pub fn remove_rrset(&mut self, name: &Name, rtype: RType) -> Option<RRset> {
        let key = (name.clone(), rtype);
        self.groups.remove(&key);
        self.rrsets.remove(&key)
    }

    /// Builds a zone from whole RRsets, each checked as [`Zone::insert`] checks a record (type,
    /// placement, one SOA record). Faster than inserting record by record when the RRsets come
    /// in canonical order, as a compiled record-set store gives them.
    pub fn from_rrsets(
        apex: Name,
        rrsets: impl IntoIterator<Item = (Name, RType, RRset)>,
    ) -> Result<Zone, Vec<ZoneError>> {
        let mut errors = Vec::new();
        let mut entries = Vec::new();
        for (name, rtype, set) in rrsets {
            if let Some(reason) = rtype.storage_error() {
                errors.push(ZoneError::Unstorable { rtype, reason });
            } else if !name.is_subdomain_of(&apex) {
                errors.push(ZoneError::OutOfZone { name, apex: apex.clone() });
            } else if rtype == RType::SOA && name != apex {
                errors.push(ZoneError::SoaNotAtApex { name, apex: apex.clone() });
            } else if rtype == RType::SOA && set.rdatas.len() > 1 {
                errors.push(ZoneError::MultipleSoa);
            } else if rtype == RType::CNAME && set.rdatas.len() > 1 {
                errors.push(ZoneError::MultipleCname(name));
            } else {
                entries.push(((name, rtype), set));
            }
        }
        // Stable sort: linear on input already in canonical order.
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        for pair in entries.windows(2) {
            if pair[0].0 == pair[1].0 {
                let (name, rtype) = pair[0].0.clone();
                errors.push(ZoneError::DuplicateRRset { name, rtype });
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Zone { apex, rrsets: entries.into_iter().collect(), groups: BTreeMap::new() })
    }

    /// The whole-zone rules; every violation, in canonical name order.
    pub fn validate(&self) -> Vec<ZoneError> {
        let mut errors = Vec::new();
        if self.get(&self.apex, RType::SOA).is_none() {
            errors.push(ZoneError::NoSoa(self.apex.clone()));
        }
        if self.get(&self.apex, RType::NS).is_none() {
            errors.push(ZoneError::NoApexNs(self.apex.clone()));
        }
        errors.extend(self.validate_names());
        errors
    }

    /// The rules of [`Zone::validate`] that look at one name at a time (every rule but the
    /// apex's SOA and NS): what a piece of a zone that holds some of its names can check.
    pub fn validate_names(&self) -> Vec<ZoneError> {
        let mut errors = Vec::new();
        // Keys are sorted by (name, type): each name's types are contiguous.
        let mut by_name: Vec<(&Name, Vec<RType>)> = Vec::new();
        for (name, rtype) in self.rrsets.keys() {
            match by_name.last_mut() {
                Some((last, types)) if *last == name => types.push(*rtype),
                _ => by_name.push((name, vec![*rtype])),
            }
        }
        for (name, types) in by_name {
            if types.contains(&RType::CNAME)
                && let Some(other) = types.iter().find(|t| **t != RType::CNAME)
            {
                errors.push(ZoneError::CnameAndOtherData { name: name.clone(), other: *other });
            }
            if name.is_wildcard() && types.contains(&RType::NS) {
                errors.push(ZoneError::WildcardNs(name.clone()));
            }
            if types.contains(&RType::DS) && (*name == self.apex || !types.contains(&RType::NS)) {
                errors.push(ZoneError::DsNotAtDelegation(name.clone()));
            }
        }
        errors
    }

    /// Makes the answer of an existing RRset a policy group, chosen per query. No RRset at
    /// (name, type), or a group without members, changes nothing and returns false.
    pub fn set_group(&mut self, name: &Name, rtype: RType, group: Group) -> bool {
        let key = (name.clone(), rtype);
        if group.members.is_empty() || !self.rrsets.contains_key(&key) {
            return false;
        }
        self.groups.insert(key, group);
        true
    }

    /// The policy group of an RRset chosen per query.
    pub fn group(&self, name: &Name, rtype: RType) -> Option<&Group> {
        self.groups.get(&(name.clone(), rtype))
    }

    /// Every policy group in canonical order of (owner, type), the order of [`Zone::rrsets`].
    pub fn groups(&self) -> impl Iterator<Item = (&Name, RType, &Group)> {
        self.groups.iter().map(|((n, t), g)| (n, *t, g))
    }

    /// One RRset.
    pub fn get(&self, name: &Name, rtype: RType) -> Option<&RRset> {
        self.rrsets.get(&(name.clone(), rtype))
    }

    /// Every RRset in canonical order of (owner, type).
    pub fn rrsets(&self) -> impl Iterator<Item = (&Name, RType, &RRset)> {
        self.rrsets.iter().map(|((n, t), s)| (n, *t, s))
    }

    /// The number of records (not RRsets).
    pub fn record_count(&self) -> usize {
        self.rrsets.values().map(|s| s.rdatas.len()).sum()
    }

    /// The apex SOA, if the zone has one.
    pub fn soa(&self) -> Option<(u32, Soa)> {
        let set = self.get(&self.apex, RType::SOA)?;
        let soa = Soa::from_rdata(set.rdatas.first()?)?;
        Some((set.ttl, soa))
    }
}

impl fmt::Display for Zone {
    /// The zone as a master file, absolute names, canonical order, SOA first.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "$ORIGIN {}", self.apex)?;
        let soa_first = self.rrsets().filter(|(n, t, _)| **n == self.apex && *t == RType::SOA);
        let rest = self.rrsets().filter(|(n, t, _)| !(**n == self.apex && *t == RType::SOA));
        for (name, rtype, set) in soa_first.chain(rest) {
            for rdata in &set.rdatas {
                writeln!(f, "{name} {} IN {rtype} {}", set.ttl, rdata.display(rtype))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Name {
        Name::parse_absolute(s).expect("valid")
    }
    fn rd(t: RType, s: &str) -> Rdata {
        Rdata::from_text(t, s, None).expect("valid")
    }
    fn base() -> Zone {
        let mut z = Zone::new(n("example.test"));
        z.insert(
            n("example.test"),
            RType::SOA,
            60,
            rd(RType::SOA, "ns1.example.test. h.example.test. 1 2 3 4 5"),
        )
        .expect("ok");
        z.insert(n("example.test"), RType::NS, 60, rd(RType::NS, "ns1.example.test.")).expect("ok");
        z
    }

    #[test]
    fn a_minimal_zone_is_valid() {
        let z = base();
        assert_eq!(z.validate(), []);
        let (ttl, soa) = z.soa().expect("soa");
        assert_eq!((ttl, soa.serial, soa.minimum), (60, 1, 5));
        assert_eq!(z.record_count(), 2);
    }

    #[test]
    fn insert_rejects_without_changing_anything() {
        let mut z = base();
        let before = z.clone();
        let a = rd(RType::A, "192.0.2.1");
        assert!(matches!(
            z.insert(n("www.other.test"), RType::A, 60, a.clone()),
            Err(ZoneError::OutOfZone { .. })
        ));
        z.insert(n("www.example.test"), RType::A, 60, a.clone()).expect("ok");
        let b = rd(RType::A, "192.0.2.2");
        let err = z.insert(n("www.example.test"), RType::A, 30, b).expect_err("ttl mismatch");
        assert!(err.to_string().contains("RFC 2181"), "{err}");
        assert_eq!(
            z.insert(n("www.example.test"), RType::A, 60, a),
            Ok(false),
            "duplicates are ignored"
        );
        assert!(matches!(
            z.insert(n("x.example.test"), RType::SOA, 60, rd(RType::SOA, ". . 1 2 3 4 5")),
            Err(ZoneError::SoaNotAtApex { .. })
        ));
        assert_eq!(
            z.insert(n("example.test"), RType::SOA, 60, rd(RType::SOA, ". . 2 2 3 4 5")),
            Err(ZoneError::MultipleSoa)
        );
        assert_eq!(z.record_count(), before.record_count() + 1);
    }

    #[test]
    fn whole_zone_rules() {
        let mut z = Zone::new(n("example.test"));
        z.insert(n("c.example.test"), RType::CNAME, 60, rd(RType::CNAME, "x.example.test."))
            .expect("ok");
        z.insert(n("c.example.test"), RType::TXT, 60, rd(RType::TXT, "hi")).expect("ok");
        assert_eq!(
            z.insert(n("c.example.test"), RType::CNAME, 60, rd(RType::CNAME, "y.example.test.")),
            Err(ZoneError::MultipleCname(n("c.example.test")))
        );
        z.insert(n("*.w.example.test"), RType::NS, 60, rd(RType::NS, "ns.example.test."))
            .expect("ok");
        z.insert(
            n("d.example.test"),
            RType::DS,
            60,
            rd(RType::DS, "1 8 1 0123456789012345678901234567890123456789"),
        )
        .expect("ok");
        let errs = z.validate();
        assert!(errs.contains(&ZoneError::NoSoa(n("example.test"))));
        assert!(errs.contains(&ZoneError::NoApexNs(n("example.test"))));
        assert!(errs.contains(&ZoneError::CnameAndOtherData {
            name: n("c.example.test"),
            other: RType::TXT
        }));
        assert!(errs.contains(&ZoneError::WildcardNs(n("*.w.example.test"))));
        assert!(errs.contains(&ZoneError::DsNotAtDelegation(n("d.example.test"))));
    }

    #[test]
    fn cname_at_apex_is_caught() {
        let mut z = base();
        z.insert(n("example.test"), RType::CNAME, 60, rd(RType::CNAME, "x.example.test."))
            .expect("ok");
        assert!(matches!(z.validate()[..], [ZoneError::CnameAndOtherData { .. }]));
    }

    #[test]
    fn display_is_a_master_file() {
        let mut z = base();
        z.insert(n("www.example.test"), RType::A, 60, rd(RType::A, "192.0.2.1")).expect("ok");
        let text = z.to_string();
        assert_eq!(
            text,
            "$ORIGIN example.test.\n\
             example.test. 60 IN SOA ns1.example.test. h.example.test. 1 2 3 4 5\n\
             example.test. 60 IN NS ns1.example.test.\n\
             www.example.test. 60 IN A 192.0.2.1\n"
        );
    }

    #[test]
    fn from_rrsets_checks_each_rrset_and_duplicates() {
        let apex = Name::parse_absolute("ex.test.").unwrap();
        let name = |t: &str| Name::parse_absolute(t).unwrap();
        let set = |rtype: RType, text: &str| RRset {
            ttl: 60,
            rdatas: vec![Rdata::from_text(rtype, text, None).unwrap()],
        };
        let good = vec![
            (name("www.ex.test."), RType::A, set(RType::A, "192.0.2.1")),
            (apex.clone(), RType::NS, set(RType::NS, "ns1.ex.test.")),
            (apex.clone(), RType::SOA, set(RType::SOA, "ns1.ex.test. h.ex.test. 1 2 3 4 5")),
        ];
        let zone = Zone::from_rrsets(apex.clone(), good.clone()).unwrap();
        assert!(zone.validate().is_empty());
        assert_eq!(zone.record_count(), 3);
        let mut dup = good.clone();
        dup.push((name("www.ex.test."), RType::A, set(RType::A, "192.0.2.2")));
        assert_eq!(
            Zone::from_rrsets(apex.clone(), dup).unwrap_err(),
            vec![ZoneError::DuplicateRRset { name: name("www.ex.test."), rtype: RType::A }]
        );
        let wrong = vec![
            (name("www.other.test."), RType::A, set(RType::A, "192.0.2.1")),
            (name("www.ex.test."), RType::SOA, set(RType::SOA, "a. b. 1 2 3 4 5")),
        ];
        assert_eq!(Zone::from_rrsets(apex, wrong).unwrap_err().len(), 2);
    }

    #[test]
    fn soa_rdata_round_trips() {
        let rdata = rd(RType::SOA, "ns1.example.test. h.example.test. 7 3600 600 86400 300");
        let soa = Soa::from_rdata(&rdata).expect("an SOA");
        assert_eq!(soa.serial, 7);
        assert_eq!(soa.to_rdata(), rdata);
    }
}
