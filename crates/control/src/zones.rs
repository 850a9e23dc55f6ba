//! Zones and change batches: creating and deleting zones, listing them and their record sets,
//! submitting change batches (validated against the in-memory [`State`], committed through
//! the one write path, `write.rs`: each plan records what it read and the store transaction
//! compares it), and the change records.

use std::ops::Bound;

use turnout_model::change::{self, ZoneDelta};
use turnout_model::{
    ChangeBatchSpec, Name, RType, RecordData, RecordKey, RecordSet, RecordSetSpec, Soa,
};
use turnout_store::{Op, Revision, Txn};

use crate::node::Control;
use crate::state::{CallerReference, State};
use crate::types::{
    ChangeInfo, ChangeRecord, ChangeStatus, CreateZone, DryRun, RecordSetPage, ZoneCreated,
    ZoneInfo, ZoneMeta, ZonePage,
};
use crate::write::{Lane, Plan, Reads};
use crate::{ControlError, invalid, keys, now_rfc3339, random_base32, to_json};

/// Default SOA timers: refresh, retry, expire, minimum (Route 53's; docs/api.md).
const SOA_TIMERS: (u32, u32, u32, u32) = (7200, 900, 1_209_600, 86_400);
/// Default SOA TTL (Route 53's).
const SOA_TTL: i64 = 900;
/// Default apex NS TTL (Route 53's).
const NS_TTL: i64 = 172_800;
/// The most zones one page lists.
pub const MAX_ZONE_PAGE: usize = 100;
/// The most record sets one page lists.
pub const MAX_RRSET_PAGE: usize = 300;

/// What a submitted batch did.
#[derive(Debug, Clone, PartialEq)]
pub enum Submitted {
    /// Committed.
    Applied(ChangeInfo),
    /// Validated only.
    DryRun(DryRun),
}

impl Control {
    /// INSYNC once every registered node serves the revision.
    fn status(&self, revision: Revision) -> ChangeStatus {
        match self.insync_revision() {
            Some(served) if served >= revision => ChangeStatus::Insync,
            _ => ChangeStatus::Pending,
        }
    }

    pub(crate) fn change_info(&self, record: ChangeRecord, revision: Revision) -> ChangeInfo {
        ChangeInfo {
            status: self.status(revision),
            id: record.id,
            submitted_at: record.submitted_at,
            comment: record.comment,
            kind: record.kind,
            zones: record.zones,
            changes: record.changes,
            revision,
        }
    }

    pub(crate) fn new_change(
        kind: &str,
        comment: Option<String>,
        zones: Vec<String>,
        changes: usize,
    ) -> Result<ChangeRecord, ControlError> {
        Ok(ChangeRecord {
            id: format!("C{}", random_base32(10)?),
            submitted_at: now_rfc3339(),
            comment,
            kind: kind.into(),
            zones,
            changes,
        })
    }

    /// One change by id.
    pub async fn change(&self, id: &str) -> Result<ChangeInfo, ControlError> {
        let id = id.strip_prefix("/change/").unwrap_or(id);
        let (kv, _) = self.store().get(&keys::change(id)).await?;
        let kv = kv.ok_or_else(|| ControlError::NoSuchChange(id.to_owned()))?;
        let record: ChangeRecord = serde_json::from_slice(&kv.value)
            .map_err(|e| turnout_store::StoreError::Corrupt(format!("change {id}: {e}")))?;
        Ok(self.change_info(record, kv.mod_revision))
    }

    /// Deletes the records of changes submitted before `cutoff`; returns how many. Their status
    /// is no longer needed once they are long INSYNC, and keeping them forever would grow the
    /// store by one key per change.
    pub async fn prune_changes(
        &self,
        cutoff: std::time::SystemTime,
    ) -> Result<usize, ControlError> {
        let range = self.store().range(&keys::changes()).await?;
        let old: Vec<Op> = range
            .kvs
            .iter()
            .filter(|kv| {
                serde_json::from_slice::<ChangeRecord>(&kv.value)
                    .ok()
                    .and_then(|c| humantime::parse_rfc3339(&c.submitted_at).ok())
                    .is_some_and(|at| at < cutoff)
            })
            .map(|kv| Op::delete(kv.key.clone()))
            .collect();
        let count = old.len();
        for chunk in old.chunks(1000) {
            self.store().txn(Txn { success: chunk.to_vec(), ..Txn::default() }).await?;
        }
        Ok(count)
    }

    /// Creates a zone with its SOA and NS records; idempotent by caller reference.
    pub async fn create_zone(&self, request: &CreateZone) -> Result<ZoneCreated, ControlError> {
        let apex = parse_zone_name(&request.name, "name")?;
        if apex.is_root() {
            return Err(invalid("name", "the root zone cannot be created"));
        }
        if self.options().static_zones.contains(&apex) {
            return Err(ControlError::ZoneFromFile(apex));
        }
        if request.comment.as_ref().is_some_and(|c| c.chars().count() > 256) {
            return Err(invalid("comment", "a comment has at most 256 characters"));
        }
        if let Some(reference) = &request.caller_reference
            && (reference.is_empty() || reference.chars().count() > 128)
        {
            return Err(invalid("caller_reference", "a caller reference has 1-128 characters"));
        }
        let secondary = match &request.secondary {
            Some(s) => {
                if request.name_servers.is_some() {
                    return Err(invalid(
                        "name_servers",
                        "a secondary zone takes its NS records from its primaries",
                    ));
                }
                Some(crate::secondary::normalize_secondary(s)?)
            }
            None => None,
        };
        let ns = default_name_servers(&apex, request.name_servers.as_deref())?;
        let hosted_zone_id = format!("Z{}", &crate::random_base32(13)?[..19]);
        let mut records = Vec::new();
        // A secondary zone's records come by transfer.
        let defaults =
            if secondary.is_some() { Vec::new() } else { default_records(&apex, &ns).to_vec() };
        for spec in defaults {
            let set = spec.validate(&apex).map_err(|errors| {
                let message: Vec<String> = errors.iter().map(ToString::to_string).collect();
                invalid("name_servers", message.join("; "))
            })?;
            records.push(Op::put(keys::rrset(&apex, &set.key()), to_json(&set.to_spec())));
        }
        let written = self
            .write(Lane::Config, |st, reads| {
                if let Some(reference) = &request.caller_reference {
                    reads.object(keys::caller_reference(reference));
                    if let Some(used) = st.caller_references.get(reference) {
                        if Name::parse_absolute(&used.zone).ok().as_ref() != Some(&apex) {
                            return Err(ControlError::CallerReferenceInUse {
                                reference: reference.clone(),
                                zone: used.zone.clone(),
                            });
                        }
                        let revision = st.revision_of(&keys::caller_reference(reference));
                        return Ok(Plan::Nothing(Err((used.clone(), revision))));
                    }
                }
                reads.object(keys::zone(&apex));
                if st.zones.contains_key(&apex) {
                    return Err(ControlError::ZoneAlreadyExists(apex.clone()));
                }
                if let Some(key) = secondary.as_ref().and_then(|s| s.key.as_ref()) {
                    let name = crate::tsig_keys::parse_key_name(key, "secondary.key")?;
                    reads.object(keys::tsig_key(&name));
                    if !st.tsig_keys.contains_key(&name) {
                        return Err(invalid("secondary.key", format!("no TSIG key {name}")));
                    }
                }
                let meta = ZoneMeta {
                    name: apex.to_string(),
                    id: Some(hosted_zone_id.clone()),
                    caller_reference: request.caller_reference.clone(),
                    comment: request.comment.clone(),
                    created_at: now_rfc3339(),
                    transfers: None,
                    updates: None,
                    secondary: secondary.clone(),
                };
                let record = Self::new_change(
                    "create_zone",
                    request.comment.clone(),
                    vec![apex.to_string()],
                    records.len(),
                )?;
                let mut ops = vec![Op::put(keys::zone(&apex), to_json(&meta))];
                ops.extend(records.iter().cloned());
                if let Some(reference) = &request.caller_reference {
                    let used =
                        CallerReference { zone: apex.to_string(), change: record.id.clone() };
                    ops.push(Op::put(keys::caller_reference(reference), to_json(&used)));
                }
                ops.push(Op::put(keys::change(&record.id), to_json(&record)));
                Ok(Plan::Write { ops, value: Ok(record) })
            })
            .await?;
        let zone = self.zone(&apex.to_string())?;
        match written.value {
            Ok(record) => {
                let change = self.change_info(record, written.revision);
                Ok(ZoneCreated { zone, change, created: true })
            }
            // The same reference for the same zone: what it created.
            Err((used, revision)) => {
                let change = match self.change(&used.change).await {
                    Ok(change) => change,
                    // The change record aged out (see `prune_changes`); the zone's creation
                    // is long served.
                    Err(ControlError::NoSuchChange(_)) => ChangeInfo {
                        id: used.change,
                        status: self.status(revision),
                        submitted_at: zone.created_at.clone(),
                        comment: zone.comment.clone(),
                        kind: "create_zone".into(),
                        zones: vec![zone.name.clone()],
                        changes: 2,
                        revision,
                    },
                    Err(e) => return Err(e),
                };
                Ok(ZoneCreated { zone, change, created: false })
            }
        }
    }

    /// Deletes a zone: only when it holds nothing but its SOA and apex NS, unless `force`.
    pub async fn delete_zone(&self, zone: &str, force: bool) -> Result<ChangeInfo, ControlError> {
        let apex = parse_zone_name(zone, "zone")?;
        let written = self
            .write(Lane::Config, |st, reads| {
                reads.zone(&apex);
                let entry =
                    st.zones.get(&apex).ok_or_else(|| ControlError::NoSuchZone(apex.clone()))?;
                let records = st.records.get(&apex);
                let content = records.map_or(0, |z| {
                    z.sets
                        .keys()
                        .filter(|k| !(k.name == apex && matches!(k.rtype, RType::SOA | RType::NS)))
                        .count()
                });
                if content > 0 && !force {
                    return Err(ControlError::ZoneNotEmpty(apex.clone()));
                }
                let record = Self::new_change("delete_zone", None, vec![apex.to_string()], 1)?;
                let mut ops = vec![
                    Op::DeletePrefix { prefix: keys::rrsets(&apex) },
                    Op::delete(keys::zone(&apex)),
                    Op::put(keys::change(&record.id), to_json(&record)),
                ];
                if let Some(reference) = &entry.meta.caller_reference {
                    ops.push(Op::delete(keys::caller_reference(reference)));
                }
                if st.views.contains_key(&apex) {
                    ops.push(Op::delete(keys::view(&apex)));
                }
                if st.secondary_status.contains_key(&apex) {
                    ops.push(Op::delete(keys::secondary_status(&apex)));
                }
                // Its keys go with it: a zone made again later gets new ones.
                if st.dnssec.contains_key(&apex) {
                    ops.push(Op::delete(keys::dnssec(&apex)));
                }
                let id = entry.meta.hosted_zone_id();
                if st.tags.contains_key(&("hostedzone".to_owned(), id.clone())) {
                    ops.push(Op::delete(keys::tags_of("hostedzone", &id)));
                }
                Ok(Plan::Write { ops, value: record })
            })
            .await?;
        Ok(self.change_info(written.value, written.revision))
    }

    /// The zone with this hosted zone id (`Z...`, with or without `/hostedzone/`).
    pub fn zone_by_id(&self, id: &str) -> Option<Name> {
        let id = id.strip_prefix("/hostedzone/").unwrap_or(id);
        let st = self.read();
        st.zones.iter().find(|(_, e)| e.meta.hosted_zone_id() == id).map(|(apex, _)| apex.clone())
    }

    /// Replaces a zone's comment (none: removes it). Changes its metadata only.
    pub async fn set_zone_comment(
        &self,
        zone: &str,
        comment: Option<String>,
    ) -> Result<ZoneInfo, ControlError> {
        let apex = parse_zone_name(zone, "zone")?;
        if comment.as_ref().is_some_and(|c| c.chars().count() > 256) {
            return Err(invalid("comment", "a comment has at most 256 characters"));
        }
        self.write(Lane::Config, |st, reads| {
            reads.object(keys::zone(&apex));
            let entry =
                st.zones.get(&apex).ok_or_else(|| ControlError::NoSuchZone(apex.clone()))?;
            // A zone made before ids were kept gets its derived id stored with the change.
            let meta = ZoneMeta {
                comment: comment.clone(),
                id: Some(entry.meta.hosted_zone_id()),
                ..entry.meta.clone()
            };
            if meta == entry.meta {
                return Ok(Plan::Nothing(()));
            }
            Ok(Plan::Write { ops: vec![Op::put(keys::zone(&apex), to_json(&meta))], value: () })
        })
        .await?;
        self.zone(&apex.to_string())
    }

    /// Every zone, in name order.
    pub fn all_zones(&self) -> Vec<ZoneInfo> {
        let st = self.read();
        st.zones.keys().filter_map(|apex| zone_info(&st, apex)).collect()
    }

    /// One zone.
    pub fn zone(&self, zone: &str) -> Result<ZoneInfo, ControlError> {
        let apex = parse_zone_name(zone, "zone")?;
        let st = self.read();
        zone_info(&st, &apex).ok_or(ControlError::NoSuchZone(apex))
    }

    /// A page of zones, from `marker` (a zone name) on.
    pub fn list_zones(
        &self,
        marker: Option<&str>,
        max_items: Option<usize>,
    ) -> Result<ZonePage, ControlError> {
        let max_items = page_size(max_items, MAX_ZONE_PAGE, "max_items")?;
        let start = marker.map(|m| parse_zone_name(m, "marker")).transpose()?;
        let st = self.read();
        let lower = start.as_ref().map_or(Bound::Unbounded, Bound::Included);
        let mut names = st.zones.range::<Name, _>((lower, Bound::Unbounded)).map(|(n, _)| n);
        let zones: Vec<ZoneInfo> =
            names.by_ref().take(max_items).filter_map(|n| zone_info(&st, n)).collect();
        let next = names.next();
        Ok(ZonePage {
            zones,
            is_truncated: next.is_some(),
            next_marker: next.map(ToString::to_string),
            max_items,
        })
    }

    /// A page of a zone's record sets, from (name, type, set id) on.
    pub fn list_record_sets(
        &self,
        zone: &str,
        name: Option<&str>,
        rtype: Option<&str>,
        set_id: Option<&str>,
        max_items: Option<usize>,
    ) -> Result<RecordSetPage, ControlError> {
        let apex = parse_zone_name(zone, "zone")?;
        let max_items = page_size(max_items, MAX_RRSET_PAGE, "max_items")?;
        if rtype.is_some() && name.is_none() {
            return Err(invalid("type", "type needs name"));
        }
        if set_id.is_some() && rtype.is_none() {
            return Err(invalid("set_id", "set_id needs name and type"));
        }
        let start = match name {
            Some(n) => Some(RecordKey {
                name: Name::parse_absolute(n).map_err(|e| invalid("name", e.to_string()))?,
                rtype: match rtype {
                    Some(t) => RType::from_mnemonic(t)
                        .ok_or_else(|| invalid("type", format!("{t:?} is not a record type")))?,
                    None => RType(0),
                },
                set_id: set_id.unwrap_or_default().to_owned(),
            }),
            None => None,
        };
        let st = self.read();
        let zone = st.records.get(&apex).filter(|_| st.zones.contains_key(&apex));
        let zone = zone.ok_or_else(|| ControlError::NoSuchZone(apex.clone()))?;
        let lowest = RecordKey { name: Name::root(), rtype: RType(0), set_id: String::new() };
        let mut sets = zone.sets.from_key(start.as_ref().unwrap_or(&lowest));
        let record_sets: Vec<RecordSetSpec> =
            sets.by_ref().take(max_items).map(|s| s.to_spec()).collect();
        let next = sets.next();
        Ok(RecordSetPage {
            record_sets,
            is_truncated: next.is_some(),
            next_name: next.as_ref().map(|s| s.name.to_string()),
            next_type: next.as_ref().map(|s| s.rtype.to_string()),
            next_set_id: next.as_ref().map(|s| s.set_id.clone().unwrap_or_default()),
            max_items,
        })
    }

    /// Validates a batch and, unless `dry_run`, commits it atomically.
    pub async fn submit(
        &self,
        batch: &ChangeBatchSpec,
        zone: Option<&str>,
        dry_run: bool,
    ) -> Result<Submitted, ControlError> {
        let default_zone = zone.map(|z| parse_zone_name(z, "zone")).transpose()?;
        if dry_run {
            return self
                .plan_only(|st, reads| {
                    plan_batch(st, reads, batch, default_zone.as_ref())
                        .map(|plan| dry_run_of(st, &plan.zones))
                })
                .await
                .map(Submitted::DryRun);
        }
        let written = self
            .write(Lane::Config, |st, reads| {
                let (record, ops) = record_ops(st, reads, batch, default_zone.as_ref(), "records")?;
                Ok(Plan::Write { ops, value: record })
            })
            .await?;
        Ok(Submitted::Applied(self.change_info(written.value, written.revision)))
    }
}

/// Validates `batch` against the state (recording what it read): the plan of each zone.
fn plan_batch(
    st: &State,
    reads: &Reads<'_>,
    batch: &ChangeBatchSpec,
    default_zone: Option<&Name>,
) -> Result<change::Plan, ControlError> {
    if let Some(apex) = default_zone {
        reads.zone(apex);
        if !st.zones.contains_key(apex) {
            return Err(ControlError::NoSuchZone(apex.clone()));
        }
    }
    let check = |name: &str| {
        reads.object(keys::check(name));
        st.checks.contains_key(name)
    };
    let cidr = |c: &str, l: &str| {
        reads.object(keys::collection(c));
        st.cidr_ref_error(c, l)
    };
    let refs = change::Refs { check: &check, cidr: &cidr };
    let plan = change::plan(batch, default_zone, &st.records, &refs)
        .map_err(ControlError::InvalidChangeBatch)?;
    for apex in plan.zones.keys() {
        reads.zone(apex);
        if st.zones.get(apex).is_some_and(|e| e.meta.secondary.is_some()) {
            return Err(ControlError::ZoneIsSecondary(apex.clone()));
        }
    }
    Ok(plan)
}

/// A validated batch as the operations that commit it (record sets, SOA serials, the change
/// record of `kind`): what every door that changes records writes (the API, RFC 2136).
pub(crate) fn record_ops(
    st: &State,
    reads: &Reads<'_>,
    batch: &ChangeBatchSpec,
    default_zone: Option<&Name>,
    kind: &str,
) -> Result<(ChangeRecord, Vec<Op>), ControlError> {
    let plan = plan_batch(st, reads, batch, default_zone)?;
    let record = Control::new_change(
        kind,
        batch.comment.clone(),
        plan.zones.keys().map(ToString::to_string).collect(),
        plan.change_count,
    )?;
    let mut ops = Vec::new();
    for (apex, delta) in &plan.zones {
        add_zone_delta(st, apex, delta, &mut ops)?;
    }
    ops.push(Op::put(keys::change(&record.id), to_json(&record)));
    Ok((record, ops))
}

/// Adds one zone's writes (record sets and the SOA serial bump) to a write's operations (the
/// plan read the zone: its metadata and SOA guard them).
fn add_zone_delta(
    st: &State,
    apex: &Name,
    delta: &ZoneDelta,
    ops: &mut Vec<Op>,
) -> Result<(), ControlError> {
    if !st.zones.contains_key(apex) {
        return Err(ControlError::NoSuchZone(apex.clone()));
    }
    let soa_key = State::soa_key(apex);
    for (key, set) in &delta.puts {
        if *key != soa_key {
            ops.push(Op::put(keys::rrset(apex, key), to_json(&set.to_spec())));
        }
    }
    for key in &delta.deletes {
        ops.push(Op::delete(keys::rrset(apex, key)));
    }
    let current = st.records.get(apex).and_then(|z| z.sets.get(&soa_key));
    let current = current.ok_or_else(|| ControlError::NoSuchZone(apex.clone()))?;
    let bumped = bump_serial(&current, delta.puts.get(&soa_key))?;
    ops.push(Op::put(keys::rrset(apex, &soa_key), to_json(&bumped.to_spec())));
    Ok(())
}

/// The SOA to store after a batch: the batch's own SOA if it has one, with a serial that is
/// the given one if it is ahead of the current serial (RFC 1982), else the current plus one.
pub(crate) fn bump_serial(
    current: &RecordSet,
    given: Option<&RecordSet>,
) -> Result<RecordSet, ControlError> {
    let soa_of = |set: &RecordSet| match &set.data {
        RecordData::Values { rdatas, .. } => rdatas.first().and_then(Soa::from_rdata),
        RecordData::Alias { .. } => None,
    };
    let old = soa_of(current).ok_or_else(|| invalid("SOA", "the stored SOA is unreadable"))?;
    let base = given.unwrap_or(current);
    let mut soa = soa_of(base).ok_or_else(|| invalid("SOA", "the SOA is unreadable"))?;
    let ahead = soa.serial.wrapping_sub(old.serial);
    soa.serial =
        if ahead != 0 && ahead < 1 << 31 { soa.serial } else { old.serial.wrapping_add(1) };
    let mut out = base.clone();
    if let RecordData::Values { rdatas, .. } = &mut out.data {
        *rdatas = vec![soa.to_rdata()];
    }
    Ok(out)
}

fn dry_run_of(st: &State, zones: &std::collections::BTreeMap<Name, ZoneDelta>) -> DryRun {
    let mut out = DryRun { puts: Vec::new(), deletes: Vec::new() };
    for (apex, delta) in zones {
        out.puts.extend(delta.puts.values().map(RecordSet::to_spec));
        let base = st.records.get(apex);
        out.deletes.extend(
            delta
                .deletes
                .iter()
                .filter_map(|k| base.and_then(|z| z.sets.get(k)))
                .map(|s| s.to_spec()),
        );
    }
    out
}

fn zone_info(st: &State, apex: &Name) -> Option<ZoneInfo> {
    let entry = st.zones.get(apex)?;
    let records = st.records.get(apex);
    let soa_key = State::soa_key(apex);
    let serial = records
        .and_then(|z| z.sets.get(&soa_key))
        .and_then(|s| match &s.data {
            RecordData::Values { rdatas, .. } => rdatas.first().and_then(Soa::from_rdata),
            RecordData::Alias { .. } => None,
        })
        .map_or(0, |soa| soa.serial);
    let ns_key = RecordKey { name: apex.clone(), rtype: RType::NS, set_id: String::new() };
    let name_servers = records
        .and_then(|z| z.sets.get(&ns_key))
        .map(|s| match &s.data {
            RecordData::Values { rdatas, .. } => {
                rdatas.iter().map(|r| r.display(RType::NS).to_string()).collect()
            }
            RecordData::Alias { .. } => Vec::new(),
        })
        .unwrap_or_default();
    Some(ZoneInfo {
        name: entry.meta.name.clone(),
        id: entry.meta.hosted_zone_id(),
        caller_reference: entry.meta.caller_reference.clone(),
        comment: entry.meta.comment.clone(),
        created_at: entry.meta.created_at.clone(),
        serial,
        record_set_count: records.map_or(0, |z| z.sets.len()),
        name_servers,
        transfers: entry.meta.transfers.clone(),
        secondary: crate::secondary::info(st, apex, &entry.meta),
    })
}

/// The SOA and NS record sets a new zone starts with (docs/api.md, `POST /v1/zones`).
pub fn default_records(apex: &Name, name_servers: &[Name]) -> [RecordSetSpec; 2] {
    let mname = name_servers.first().cloned().unwrap_or_else(|| apex.clone());
    let soa = RecordSetSpec {
        name: apex.to_string(),
        rtype: "SOA".into(),
        ttl: Some(SOA_TTL),
        values: Some(vec![format!(
            "{mname} hostmaster.{apex} 1 {} {} {} {}",
            SOA_TIMERS.0, SOA_TIMERS.1, SOA_TIMERS.2, SOA_TIMERS.3
        )]),
        ..RecordSetSpec::default()
    };
    let ns = RecordSetSpec {
        name: apex.to_string(),
        rtype: "NS".into(),
        ttl: Some(NS_TTL),
        values: Some(name_servers.iter().map(ToString::to_string).collect()),
        ..RecordSetSpec::default()
    };
    [soa, ns]
}

/// The apex NS names of a new zone: the given ones, or `ns1` and `ns2` under the apex.
pub fn default_name_servers(
    apex: &Name,
    given: Option<&[String]>,
) -> Result<Vec<Name>, ControlError> {
    match given {
        Some([]) => Err(invalid("name_servers", "give at least one name server")),
        Some(list) => list
            .iter()
            .enumerate()
            .map(|(i, n)| {
                Name::parse_absolute(n)
                    .map_err(|e| invalid(&format!("name_servers[{i}]"), e.to_string()))
            })
            .collect(),
        None => ["ns1", "ns2"]
            .iter()
            .map(|l| apex.prepend(l.as_bytes()).map_err(|e| invalid("name", e.to_string())))
            .collect(),
    }
}

/// Parses a zone name from a request (trailing dot optional).
pub fn parse_zone_name(text: &str, field: &str) -> Result<Name, ControlError> {
    if text.is_empty() {
        return Err(invalid(field, "the zone name is empty"));
    }
    Name::parse_absolute(text).map_err(|e| invalid(field, e.to_string()))
}

fn page_size(given: Option<usize>, max: usize, field: &str) -> Result<usize, ControlError> {
    match given {
        None => Ok(max),
        Some(n) if (1..=max).contains(&n) => Ok(n),
        Some(n) => Err(invalid(field, format!("{n} is outside 1-{max}"))),
    }
}
