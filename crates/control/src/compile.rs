//! Record sets -> a servable [`Zone`].
//!
//! Until routing policies are evaluated per query (the policy crate of a later issue), each
//! (name, type) group is compiled to the one RRset Route 53 would answer with when every record
//! is healthy and nothing is known about the client:
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
//! Aliases are resolved to their target group's answer with the target's TTL (reference §2.4
//! rule 7), never a CNAME.

use std::sync::Arc;

use turnout_model::geo::GeoLocation;
use turnout_model::health::HealthSlot;
use turnout_model::records::FailoverRole;
use turnout_model::{
    Candidate, Name, Policy, RRset, RType, Rdata, RecordData, RecordKey, RecordSet, Zone,
    ZoneError, ZoneRecords,
};

/// Records answered by a multivalue group.
const MULTIVALUE_MAX: usize = 8;
/// Alias links followed before giving up (validation refuses loops; this is a backstop).
const MAX_ALIAS_DEPTH: usize = 16;

/// Compiles a zone's record sets into a validated zone. `slot` gives the health slot of a
/// check by name: a failover group becomes an RRset with two candidates, primary then
/// secondary, each decided by its check's slot, so health changes reach the answers without a
/// rebuild.
pub fn compile_zone(
    records: &ZoneRecords,
    slot: &dyn Fn(&str) -> Arc<HealthSlot>,
) -> Result<Zone, Vec<ZoneError>> {
    // Record sets are sorted by (name, type, set id): each group is a contiguous run.
    let sets: Vec<&RecordSet> = records.sets.values().collect();
    let mut rrsets = Vec::new();
    let mut choices = Vec::new();
    let mut start = 0;
    while start < sets.len() {
        let (name, rtype) = (&sets[start].name, sets[start].rtype);
        let end = start
            + sets[start..].iter().take_while(|s| s.name == *name && s.rtype == rtype).count();
        if let Some(candidates) = candidates_of(records, &sets[start..end], rtype, slot, 0) {
            choices.push((name.clone(), rtype, candidates));
        }
        if let Some((ttl, rdatas)) = resolve(records, &sets[start..end], rtype, 0) {
            rrsets.push((
                name.clone(),
                rtype,
                RRset { ttl, rdatas: rdatas.into_iter().cloned().collect() },
            ));
        }
        start = end;
    }
    let mut zone = Zone::from_rrsets(records.apex.clone(), rrsets)?;
    for (name, rtype, candidates) in choices {
        zone.set_candidates(&name, rtype, candidates);
    }
    let errors = zone.validate();
    if errors.is_empty() { Ok(zone) } else { Err(errors) }
}

/// The health-dependent candidates of a group: a failover group's own, or, for a simple
/// alias, its target group's (so the alias follows the target's failover).
fn candidates_of(
    records: &ZoneRecords,
    group: &[&RecordSet],
    rtype: RType,
    slot: &dyn Fn(&str) -> Arc<HealthSlot>,
    depth: usize,
) -> Option<Vec<Candidate>> {
    if depth > MAX_ALIAS_DEPTH {
        return None;
    }
    match group {
        [one] if matches!(one.policy, Policy::Simple) => match &one.data {
            RecordData::Alias { target, .. } => {
                candidates_of(records, &self::group(records, target, rtype), rtype, slot, depth + 1)
            }
            RecordData::Values { .. } => None,
        },
        _ => failover_candidates(records, group, rtype, slot),
    }
}

/// A failover group's candidates: the primary, then the secondary (reference §2.3: the
/// secondary answers while the primary is unhealthy; with both unhealthy, the primary).
fn failover_candidates(
    records: &ZoneRecords,
    group: &[&RecordSet],
    rtype: RType,
    slot: &dyn Fn(&str) -> Arc<HealthSlot>,
) -> Option<Vec<Candidate>> {
    let role = |r: FailoverRole| {
        group.iter().find(|s| matches!(s.policy, Policy::Failover(x) if x == r)).copied()
    };
    let (primary, secondary) = (role(FailoverRole::Primary)?, role(FailoverRole::Secondary)?);
    let mut out = Vec::with_capacity(2);
    for set in [primary, secondary] {
        let (ttl, rdatas) = resolve(records, &[set], rtype, 0)?;
        out.push(Candidate {
            rrset: RRset { ttl, rdatas: rdatas.into_iter().cloned().collect() },
            slot: set.health_check.as_deref().map(slot),
        });
    }
    Some(out)
}

/// The record sets of one group.
fn group<'a>(records: &'a ZoneRecords, name: &Name, rtype: RType) -> Vec<&'a RecordSet> {
    let from = RecordKey { name: name.clone(), rtype, set_id: String::new() };
    records
        .sets
        .range(from..)
        .take_while(|(k, _)| k.name == *name && k.rtype == rtype)
        .map(|(_, s)| s)
        .collect()
}

/// The TTL and records a group answers with.
fn resolve<'a>(
    records: &'a ZoneRecords,
    group_sets: &[&'a RecordSet],
    rtype: RType,
    depth: usize,
) -> Option<(u32, Vec<&'a Rdata>)> {
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
                rdatas.extend(r.iter());
            }
        }
        return (!rdatas.is_empty()).then_some((ttl, rdatas));
    }
    let chosen = choose(group_sets)?;
    match &chosen.data {
        RecordData::Values { ttl, rdatas } => Some((*ttl, rdatas.iter().collect())),
        RecordData::Alias { target, .. } => {
            resolve(records, &group(records, target, rtype), rtype, depth + 1)
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

#[cfg(test)]
mod tests {
    use super::*;
    use turnout_model::RecordSetSpec;

    fn zone(specs: &[&str]) -> ZoneRecords {
        let apex = Name::parse_absolute("ex.test.").unwrap();
        let mut z = ZoneRecords::new(apex.clone());
        let base = [
            r#"{"name":"@","type":"SOA","ttl":900,"values":["ns1 hostmaster 1 7200 900 1209600 86400"]}"#,
            r#"{"name":"@","type":"NS","ttl":172800,"values":["ns1"]}"#,
        ];
        for json in base.iter().chain(specs) {
            let set = serde_json::from_str::<RecordSetSpec>(json).unwrap().validate(&apex).unwrap();
            z.sets.insert(set.key(), set);
        }
        z
    }

    fn answer(z: &Zone, name: &str, rtype: RType) -> Option<(u32, Vec<String>)> {
        let set = z.get(&Name::parse_absolute(name).unwrap(), rtype)?;
        Some((set.ttl, set.rdatas.iter().map(|r| r.display(rtype).to_string()).collect()))
    }

    #[test]
    fn all_healthy_answers() {
        let z = compile_zone(&zone(&[
            r#"{"name":"www","type":"A","ttl":60,"set_id":"b","failover":"secondary","values":["192.0.2.2"]}"#,
            r#"{"name":"www","type":"A","ttl":60,"set_id":"a","failover":"primary","values":["192.0.2.1"]}"#,
            r#"{"name":"w","type":"A","ttl":5,"set_id":"a","weight":1,"values":["192.0.2.1"]}"#,
            r#"{"name":"w","type":"A","ttl":5,"set_id":"b","weight":9,"values":["192.0.2.9"]}"#,
            r#"{"name":"m","type":"A","ttl":30,"set_id":"a","multivalue":true,"values":["192.0.2.1"]}"#,
            r#"{"name":"m","type":"A","ttl":20,"set_id":"b","multivalue":true,"values":["192.0.2.2"]}"#,
            r#"{"name":"@","type":"A","alias":{"target":"www","evaluate_target_health":true}}"#,
        ]), &|_| Arc::new(HealthSlot::default()))
        .unwrap();
        assert_eq!(answer(&z, "www.ex.test.", RType::A), Some((60, vec!["192.0.2.1".into()])));
        assert_eq!(answer(&z, "w.ex.test.", RType::A), Some((5, vec!["192.0.2.9".into()])));
        assert_eq!(
            answer(&z, "m.ex.test.", RType::A),
            Some((20, vec!["192.0.2.1".into(), "192.0.2.2".into()]))
        );
        assert_eq!(answer(&z, "ex.test.", RType::A), Some((60, vec!["192.0.2.1".into()])));
    }
}
