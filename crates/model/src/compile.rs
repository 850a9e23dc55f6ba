//! Record sets -> a servable [`Zone`].
//!
//! Every (name, type) with a routing policy (or a simple alias) becomes a policy [`Group`],
//! chosen per query by the data plane (`turnout_dns::policy`). Each also gets the one RRset
//! Route 53 would answer with when every record is healthy and nothing is known about the
//! client, which zone validation, zone files and exports read:
//!
//! | policy | answered |
//! |---|---|
//! | simple | its values |
//! | failover | the primary (the secondary if there is no primary) |
//! | weighted | the record with the largest weight (the first set id on ties; all weights 0: the first) |
//! | latency, geoproximity | the first record by set id |
//! | geolocation, IP-based | the default `*` record, else the first by set id |
//! | multivalue | the values of up to 8 records, in set-id order, at the smallest TTL |
//!
//! Aliases are resolved to their target group's answer with the target's TTL, never a CNAME
//! (docs/routing-policies.md).

use std::borrow::Cow;
use std::sync::Arc;

use crate::cidr::CidrCollection;
use crate::geo::GeoLocation;
use crate::health::HealthSlot;
use crate::records::FailoverRole;
use crate::{
    Group, Member, MemberAnswer, Name, Policy, RRset, RType, Rdata, RecordData, RecordKey,
    RecordSet, Zone, ZoneError, ZoneRecords,
};

/// Records answered by a multivalue group (as the data plane's limit).
const MULTIVALUE_MAX: usize = 8;
/// Alias links followed before giving up (validation refuses loops; this is a backstop).
const MAX_ALIAS_DEPTH: usize = 16;

/// Compiles a zone's record sets into a validated zone. `slot` gives the health slot of a
/// check by name. Every group but a simple record with values becomes a policy [`Group`]
/// whose answer the query path chooses per query, reading the slots, so health changes reach
/// the answers without a rebuild; its RRset is the all-healthy answer above.
///
/// `collection` gives a CIDR collection by name: an IP-based group carries its collection.
pub fn compile_zone(
    records: &ZoneRecords,
    slot: &dyn Fn(&str) -> Arc<HealthSlot>,
    collection: &dyn Fn(&str) -> Option<Arc<CidrCollection>>,
) -> Result<Zone, Vec<ZoneError>> {
    let sets: Vec<Cow<'_, RecordSet>> = records.sets.values().collect();
    let zone = compile_sets(records, sets, slot, collection)?;
    let errors = zone.validate();
    if errors.is_empty() { Ok(zone) } else { Err(errors) }
}

/// Which record sets of a zone a piece holds (a large zone is compiled piece by piece: see
/// `turnout_dns::ZoneParts`).
#[derive(Debug, Clone, Copy)]
pub enum Piece<'a> {
    /// The apex's record sets (a chunked zone's home part): checked as a whole zone is, so
    /// the SOA and the apex NS must be there.
    Apex,
    /// The names whose first label below the apex is at least `from` and, unless `to` is
    /// `None`, below `to` (labels compared as lowercase bytes): checked name by name.
    Chunk {
        /// The lowest first label (empty: from the first name below the apex).
        from: &'a [u8],
        /// The first label of the next chunk.
        to: Option<&'a [u8]>,
    },
}

/// [`compile_zone`] for one piece of a zone. A zone with an alias must be compiled whole
/// (an alias is answered from its target's records, which may be in another piece): its
/// pieces are refused with [`ZoneError::AliasInPiece`].
pub fn compile_piece(
    records: &ZoneRecords,
    piece: Piece<'_>,
    slot: &dyn Fn(&str) -> Arc<HealthSlot>,
    collection: &dyn Fn(&str) -> Option<Arc<CidrCollection>>,
) -> Result<Zone, Vec<ZoneError>> {
    let apex = &records.apex;
    let sets: Vec<Cow<'_, RecordSet>> = match piece {
        Piece::Apex => records.sets.values().take_while(|s| s.name == *apex).collect(),
        Piece::Chunk { from, to } => {
            // Canonical order (RFC 4034 §6.1): the names under the labels [from, to) come in
            // one run, from `from.<apex>` (or the first name after the apex) to `to.<apex>`.
            let below = |label: &[u8]| {
                apex.prepend(label).map_err(|_| vec![ZoneError::BadPieceBound(apex.clone())])
            };
            let start = RecordKey {
                name: if from.is_empty() { apex.clone() } else { below(from)? },
                rtype: RType(0),
                set_id: String::new(),
            };
            let end = to.map(below).transpose()?;
            records
                .sets
                .from_key(&start)
                .skip_while(|s| s.name == *apex)
                .take_while(|s| end.as_ref().is_none_or(|e| s.name < *e))
                .collect()
        }
    };
    if let Some(alias) = sets.iter().find(|s| matches!(s.data, RecordData::Alias { .. })) {
        return Err(vec![ZoneError::AliasInPiece(alias.name.clone())]);
    }
    let zone = compile_sets(records, sets, slot, collection)?;
    let errors = match piece {
        Piece::Apex => zone.validate(),
        Piece::Chunk { .. } => zone.validate_names(),
    };
    if errors.is_empty() { Ok(zone) } else { Err(errors) }
}

/// The record sets `sets` (in key order, each (name, type) in one run) as a zone, not yet
/// validated.
fn compile_sets(
    records: &ZoneRecords,
    sets: Vec<Cow<'_, RecordSet>>,
    slot: &dyn Fn(&str) -> Arc<HealthSlot>,
    collection: &dyn Fn(&str) -> Option<Arc<CidrCollection>>,
) -> Result<Zone, Vec<ZoneError>> {
    // Record sets are sorted by (name, type, set id): each group is a contiguous run.
    let mut rrsets = Vec::with_capacity(sets.len());
    let mut groups = Vec::new();
    let mut sets = sets.into_iter().peekable();
    let mut run: Vec<Cow<'_, RecordSet>> = Vec::new();
    while let Some(first) = sets.next() {
        run.clear();
        run.push(first);
        while let Some(next) = sets.next_if(|s| s.name == run[0].name && s.rtype == run[0].rtype) {
            run.push(next);
        }
        // The common case, one simple record with values: its records as they are (a plain
        // set was decoded for this; its parts are moved, not copied again).
        if let [one] = &run[..]
            && matches!(one.policy, Policy::Simple)
            && matches!(one.data, RecordData::Values { .. })
            && let Some(set) = run.pop().map(Cow::into_owned)
            && let RecordData::Values { ttl, rdatas } = set.data
        {
            rrsets.push((set.name, set.rtype, RRset { ttl, rdatas }));
            continue;
        }
        let group = refs(&run);
        let (name, rtype) = (&group[0].name, group[0].rtype);
        if let Some(policy) = policy_group(&group, slot, collection) {
            groups.push((name.clone(), rtype, policy));
        }
        if let Some((ttl, rdatas)) = resolve(records, &group, rtype, 0) {
            rrsets.push((name.clone(), rtype, RRset { ttl, rdatas }));
        }
    }
    let mut zone = Zone::from_rrsets(records.apex.clone(), rrsets)?;
    for (name, rtype, group) in groups {
        zone.set_group(&name, rtype, group);
    }
    Ok(zone)
}

/// The policy group of a (name, type), unless it is one simple record with values (which
/// always answers with its values). Members come in the policy's order: a failover group's
/// primary first; for geolocation and IP-based groups the default `*` first (clients are not
/// located yet); otherwise by set id.
fn policy_group(
    sets: &[&RecordSet],
    slot: &dyn Fn(&str) -> Arc<HealthSlot>,
    collection: &dyn Fn(&str) -> Option<Arc<CidrCollection>>,
) -> Option<Group> {
    if let [one] = sets
        && matches!(one.policy, Policy::Simple)
        && matches!(one.data, RecordData::Values { .. })
    {
        return None;
    }
    let mut members: Vec<Member> = sets
        .iter()
        .map(|set| Member {
            set_id: set.set_id.clone().unwrap_or_default(),
            policy: set.policy.clone(),
            check: set.health_check.clone(),
            // An always-served record keeps its check's name (for explain) but no slot.
            slot: set.health_check.as_deref().filter(|_| !set.always_serve).map(slot),
            answer: match &set.data {
                RecordData::Values { ttl, rdatas } => {
                    MemberAnswer::Records(RRset { ttl: *ttl, rdatas: rdatas.clone() })
                }
                RecordData::Alias { target, evaluate_target_health } => MemberAnswer::Alias {
                    target: target.clone(),
                    evaluate_target_health: *evaluate_target_health,
                },
            },
        })
        .collect();
    // Stable sorts: set-id order within each rank.
    members.sort_by_key(|m| match &m.policy {
        Policy::Failover(FailoverRole::Secondary) => 1,
        Policy::Geolocation(g) if *g != GeoLocation::Default => 1,
        Policy::Cidr { location, .. } if location != "*" => 1,
        _ => 0,
    });
    let collection = sets.iter().find_map(|s| match &s.policy {
        Policy::Cidr { collection: c, .. } => collection(c),
        _ => None,
    });
    let pool = sets.first().map(|s| s.pool).unwrap_or_default();
    let min_healthy = u16::try_from(pool.needed(members.len())).unwrap_or(u16::MAX);
    let trickle_pct = sets.iter().find_map(|s| s.pool.trickle_pct).unwrap_or(0);
    Some(Group { members, collection, min_healthy, trickle_pct })
}

/// Borrows each of `sets`.
fn refs<'a>(sets: &'a [Cow<'_, RecordSet>]) -> Vec<&'a RecordSet> {
    sets.iter().map(|s| &**s).collect()
}

/// The record sets of one group.
fn group<'a>(records: &'a ZoneRecords, name: &Name, rtype: RType) -> Vec<Cow<'a, RecordSet>> {
    let from = RecordKey { name: name.clone(), rtype, set_id: String::new() };
    records.sets.from_key(&from).take_while(|s| s.name == *name && s.rtype == rtype).collect()
}

/// The TTL and records a group answers with.
fn resolve(
    records: &ZoneRecords,
    group_sets: &[&RecordSet],
    rtype: RType,
    depth: usize,
) -> Option<(u32, Vec<Rdata>)> {
    if depth > MAX_ALIAS_DEPTH {
        return None;
    }
    let first = group_sets.first()?;
    if matches!(first.policy, Policy::Multivalue) {
        let mut ttl = u32::MAX;
        let mut rdatas = Vec::new();
        for set in group_sets.iter().take(MULTIVALUE_MAX) {
            if let RecordData::Values { ttl: t, rdatas: r } = &set.data {
                ttl = ttl.min(*t);
                rdatas.extend(r.iter().cloned());
            }
        }
        return (!rdatas.is_empty()).then_some((ttl, rdatas));
    }
    let chosen = choose(group_sets)?;
    match &chosen.data {
        RecordData::Values { ttl, rdatas } => Some((*ttl, rdatas.clone())),
        RecordData::Alias { target, .. } => {
            resolve(records, &refs(&group(records, target, rtype)), rtype, depth + 1)
        }
    }
}

/// The record an all-healthy group answers with, for a client nothing is known about.
fn choose<'a>(group: &[&'a RecordSet]) -> Option<&'a RecordSet> {
    let first = *group.first()?;
    Some(match &first.policy {
        Policy::Failover(_) => group
            .iter()
            .find(|s| matches!(s.policy, Policy::Failover(FailoverRole::Primary)))
            .copied()
            .unwrap_or(first),
        Policy::Weighted(_) => {
            let weight = |s: &RecordSet| match s.policy {
                Policy::Weighted(w) => w,
                _ => 0,
            };
            let max = group.iter().map(|s| weight(s)).max().unwrap_or(0);
            group.iter().find(|s| weight(s) == max).copied().unwrap_or(first)
        }
        Policy::Geolocation(_) => group
            .iter()
            .find(|s| matches!(&s.policy, Policy::Geolocation(GeoLocation::Default)))
            .copied()
            .unwrap_or(first),
        Policy::Cidr { .. } => group
            .iter()
            .find(|s| matches!(&s.policy, Policy::Cidr { location, .. } if location == "*"))
            .copied()
            .unwrap_or(first),
        _ => first,
    })
}
