//! Each zone's recent history, for IXFR (RFC 1995): what every serial change removed and
//! added, as the store's watch delivered it to this node. It is kept in memory, bounded, and
//! starts empty when the node starts; a request from a serial it no longer reaches is answered
//! with the whole zone, as RFC 1995 §4 allows.

use std::collections::{BTreeMap, HashMap, VecDeque};

use turnout_dns::xfr::Rr;
use turnout_model::{
    Name, Policy, RType, RecordData, RecordKey, RecordSet, RecordSetSpec, Soa, ZoneRecords,
};

/// The most records (removed and added) a zone's journal holds; older deltas go first.
pub const MAX_JOURNAL_RECORDS: usize = 200_000;
/// The most deltas a zone's journal holds.
pub const MAX_JOURNAL_DELTAS: usize = 1_000;
/// Up to this many records a zone's journal is kept whatever the zone's size: its replies are
/// small either way.
pub const JOURNAL_FLOOR: usize = 1_000;

/// The most records the journal of a zone of `zone_sets` record sets holds: fewer than the zone
/// (a chain of deltas as large as the zone is never worth sending: the whole zone is the
/// smaller reply, which RFC 1995 §4 allows; BIND's `max-ixfr-ratio` makes the same choice by
/// default), but at least [`JOURNAL_FLOOR`] and at most [`MAX_JOURNAL_RECORDS`].
pub fn journal_cap(zone_sets: usize) -> usize {
    zone_sets.saturating_sub(1).clamp(JOURNAL_FLOOR, MAX_JOURNAL_RECORDS)
}

/// One serial change: the SOA before and after, and the records between them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delta {
    /// The SOA record before.
    pub from: Rr,
    /// The SOA record after.
    pub to: Rr,
    /// Records removed.
    pub removed: Vec<Rr>,
    /// Records added.
    pub added: Vec<Rr>,
}

/// The serial of an SOA record.
pub fn serial_of(soa: &Rr) -> Option<u32> {
    Soa::from_rdata(&soa.rdata).map(|s| s.serial)
}

/// One zone's deltas, oldest first, each starting where the one before ended.
#[derive(Debug, Clone, Default)]
pub struct Journal {
    deltas: VecDeque<Delta>,
    records: usize,
}

impl Journal {
    /// Adds the newest delta; one that does not start where the last ended starts over.
    /// Adds the newest delta; the oldest go while the journal holds more than `cap` records
    /// ([`journal_cap`]) or [`MAX_JOURNAL_DELTAS`] deltas.
    pub fn push(&mut self, delta: Delta, cap: usize) {
        if let Some(last) = self.deltas.back()
            && serial_of(&last.to) != serial_of(&delta.from)
        {
            self.clear();
        }
        self.records += delta.removed.len() + delta.added.len() + 2;
        self.deltas.push_back(delta);
        while self.records > cap || self.deltas.len() > MAX_JOURNAL_DELTAS {
            let Some(old) = self.deltas.pop_front() else { break };
            self.records -= old.removed.len() + old.added.len() + 2;
        }
    }

    /// Forgets everything (a change the journal cannot express).
    pub fn clear(&mut self) {
        self.deltas.clear();
        self.records = 0;
    }

    /// The deltas from `serial` to the newest, or None when the journal does not reach back
    /// to it.
    pub fn since(&self, serial: u32) -> Option<impl Iterator<Item = &Delta>> {
        let at = self.deltas.iter().position(|d| serial_of(&d.from) == Some(serial))?;
        Some(self.deltas.iter().skip(at))
    }

    /// How many deltas it holds.
    pub fn len(&self) -> usize {
        self.deltas.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.deltas.is_empty()
    }
}

/// The records of a record set as a secondary sees them, or None for a set whose answer
/// depends on the query (a routing policy, an alias, a health check).
pub fn plain_records(set: &RecordSet) -> Option<Vec<Rr>> {
    if !is_plain(set) {
        return None;
    }
    match &set.data {
        RecordData::Values { ttl, rdatas } => Some(
            rdatas
                .iter()
                .map(|rdata| Rr {
                    name: set.name.clone(),
                    rtype: set.rtype,
                    ttl: *ttl,
                    rdata: rdata.clone(),
                })
                .collect(),
        ),
        RecordData::Alias { .. } => None,
    }
}

/// Why a zone's records cannot go out as they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotPlain {
    /// The zone has no SOA.
    NoSoa,
    /// This record set has a routing policy, an alias or a health check.
    Policy(String),
}

/// Whether a record set goes out as it is (no routing policy, alias or health check).
fn is_plain(set: &RecordSet) -> bool {
    set.policy == Policy::Simple
        && set.set_id.is_none()
        && set.health_check.is_none()
        && matches!(set.data, RecordData::Values { .. })
}

/// The zone's SOA, when every record set of the zone goes out as it is (what an IXFR needs
/// before it knows whether the journal answers; nothing else is copied).
pub fn zone_soa(zone: &ZoneRecords) -> Result<Rr, NotPlain> {
    if let Some(set) = zone.sets.not_plain().find(|s| !is_plain(s)) {
        return Err(NotPlain::Policy(format!("{} {}", set.name, set.rtype)));
    }
    let soa = RecordKey { name: zone.apex.clone(), rtype: RType::SOA, set_id: String::new() };
    zone.sets
        .get(&soa)
        .and_then(|s| plain_records(&s))
        .and_then(|r| r.into_iter().next())
        .ok_or(NotPlain::NoSoa)
}

/// The zone's SOA and its other records in a transfer's order (RFC 5936 §2.2: the SOA first
/// and last, the rest between).
pub fn zone_records(zone: &ZoneRecords) -> Result<(Rr, Vec<Rr>), NotPlain> {
    let mut soa = None;
    let mut rest = Vec::with_capacity(zone.sets.len());
    for set in zone.sets.values() {
        let Some(records) = plain_records(&set) else {
            return Err(NotPlain::Policy(format!("{} {}", set.name, set.rtype)));
        };
        if set.rtype == RType::SOA && set.name == zone.apex {
            soa = records.into_iter().next();
        } else {
            rest.extend(records);
        }
    }
    Ok((soa.ok_or(NotPlain::NoSoa)?, rest))
}

/// One record set written by a change: before (none: created) and after (none: deleted).
pub type SetChange = (Option<RecordSet>, Option<RecordSet>);

/// What changed between two versions of a zone's record sets (`(before, after)` of each set
/// written), as a delta, or None when it cannot be expressed record by record (a routing
/// policy, no SOA change).
pub fn delta_of(changes: &[SetChange]) -> Option<Delta> {
    let (mut from, mut to) = (None, None);
    let (mut removed, mut added) = (Vec::new(), Vec::new());
    for (before, after) in changes {
        let old = match before {
            Some(s) => plain_records(s)?,
            None => Vec::new(),
        };
        let new = match after {
            Some(s) => plain_records(s)?,
            None => Vec::new(),
        };
        let is_soa = before.as_ref().or(after.as_ref()).is_some_and(|s| s.rtype == RType::SOA);
        if is_soa {
            from = from.or_else(|| old.into_iter().next());
            to = new.into_iter().next();
            continue;
        }
        removed.extend(old.iter().filter(|r| !new.contains(r)).cloned());
        added.extend(new.into_iter().filter(|r| !old.contains(r)));
    }
    Some(Delta { from: from?, to: to?, removed, added })
}

/// The most audit records read back at start to rebuild the journals (the newest ones).
pub const MAX_HISTORY_RECORDS: usize = 10_000;

/// A history record read for its zones only (the first pass of [`from_history`]).
#[derive(serde::Deserialize)]
struct Glance<'a> {
    #[serde(borrow, default)]
    changes: Vec<GlanceChange<'a>>,
}

#[derive(serde::Deserialize)]
struct GlanceChange<'a> {
    #[serde(borrow, default)]
    kind: std::borrow::Cow<'a, str>,
    #[serde(borrow, default)]
    name: std::borrow::Cow<'a, str>,
    #[serde(borrow, default)]
    before: Option<&'a serde_json::value::RawValue>,
    #[serde(borrow, default)]
    after: Option<&'a serde_json::value::RawValue>,
}

/// A history record read whole: the record sets stay unparsed until their zone wants them.
#[derive(serde::Deserialize)]
struct Written<'a> {
    #[serde(default)]
    values_left_out: bool,
    #[serde(borrow, default)]
    changes: Vec<WrittenChange<'a>>,
}

#[derive(serde::Deserialize)]
struct WrittenChange<'a> {
    #[serde(borrow, default)]
    kind: std::borrow::Cow<'a, str>,
    #[serde(borrow, default)]
    name: std::borrow::Cow<'a, str>,
    #[serde(borrow, default)]
    before: Option<&'a serde_json::value::RawValue>,
    #[serde(borrow, default)]
    after: Option<&'a serde_json::value::RawValue>,
}

/// The zone (apex text) of a record-set change, or None for other kinds.
fn zone_of<'c>(kind: &str, name: &'c str) -> Option<&'c str> {
    (kind == "record_set").then(|| name.split(' ').next()).flatten()
}

/// The journals the audit trail's records tell (`crate::audit`: each write's record sets before
/// and after, oldest first), so that IXFR reaches back across a restart. Read as plain JSON:
/// `{"changes": [{"kind": "record_set", "name": "<apex> <name> <TYPE> [<set id>]", "before":
/// spec, "after": spec}], "values_left_out": bool}`. A write whose values were left out, or
/// that the journal cannot express, starts its zones' journals over.
///
/// A journal keeps at most [`MAX_JOURNAL_DELTAS`] deltas and [`journal_cap`] records (by the
/// record sets `zone_sets` says each zone has now), so a first pass from the newest record back
/// finds, per zone, the writes that can still be in it (each delta holds at least its two SOA
/// records and one record per record set created or deleted): only those are parsed. After a
/// million changes imported in batches, that is the newest fifth, not all of it; after a
/// zone's import in one write, nothing (the whole zone is the smaller reply).
pub fn from_history<'a>(
    records: impl Iterator<Item = &'a [u8]>,
    zone_sets: impl Fn(&Name) -> usize,
) -> HashMap<Name, Journal> {
    let records: Vec<&[u8]> = records.collect();
    // Newest first, per zone: its cap, and the writes and the records (at least) newer than
    // this history record.
    let mut seen: HashMap<String, (usize, usize, usize)> = HashMap::new();
    let mut wanted: Vec<Option<std::collections::HashSet<String>>> = vec![None; records.len()];
    for (i, raw) in records.iter().enumerate().rev() {
        let Ok(glance) = serde_json::from_slice::<Glance<'_>>(raw) else { continue };
        // The zone's SOA before and after, then what whole record sets came or went.
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for c in &glance.changes {
            if let Some(apex) = zone_of(&c.kind, &c.name) {
                *counts.entry(apex).or_insert(2) +=
                    usize::from(c.before.is_some() != c.after.is_some());
            }
        }
        let mut zones = std::collections::HashSet::new();
        for (apex, n) in counts {
            let (cap, writes, held) = seen.entry(apex.to_owned()).or_insert_with(|| {
                let sets = Name::parse_absolute(apex).map_or(usize::MAX, |a| zone_sets(&a));
                (journal_cap(sets), 0, 0)
            });
            if *writes < MAX_JOURNAL_DELTAS && *held + n <= *cap {
                zones.insert(apex.to_owned());
            }
            *writes += 1;
            *held += n;
        }
        if !zones.is_empty() {
            wanted[i] = Some(zones);
        }
    }
    let mut journals: HashMap<Name, Journal> = HashMap::new();
    for (raw, zones) in records.iter().zip(wanted) {
        let Some(zones) = zones else { continue };
        let Ok(record) = serde_json::from_slice::<Written<'_>>(raw) else { continue };
        let mut by_zone: BTreeMap<Name, Vec<SetChange>> = BTreeMap::new();
        for change in &record.changes {
            let Some(text) = zone_of(&change.kind, &change.name).filter(|z| zones.contains(*z))
            else {
                continue;
            };
            let Ok(apex) = Name::parse_absolute(text) else { continue };
            let set = |v: Option<&serde_json::value::RawValue>| -> Option<Option<RecordSet>> {
                let Some(v) = v else { return Some(None) };
                let spec: RecordSetSpec = serde_json::from_str(v.get()).ok()?;
                spec.validate(&apex).ok().map(Some)
            };
            let entry = by_zone.entry(apex.clone()).or_default();
            match (record.values_left_out, set(change.before), set(change.after)) {
                (false, Some(before), Some(after)) => entry.push((before, after)),
                // Unreadable or left out: this zone's history breaks here.
                _ => entry.push((None, None)),
            }
        }
        for (apex, changes) in by_zone {
            let cap = journal_cap(zone_sets(&apex));
            let journal = journals.entry(apex).or_default();
            let readable = changes.iter().all(|c| c.0.is_some() || c.1.is_some());
            match delta_of(&changes).filter(|_| readable) {
                Some(delta) => journal.push(delta, cap),
                None => journal.clear(),
            }
        }
    }
    journals
}

#[cfg(test)]
mod tests {
    use super::*;
    use turnout_model::{Name, RecordSetSpec};

    fn set(name: &str, rtype: &str, values: &[&str]) -> RecordSet {
        let apex = Name::parse_absolute("example.test.").expect("apex");
        RecordSetSpec {
            name: name.into(),
            rtype: rtype.into(),
            ttl: Some(300),
            values: Some(values.iter().map(|v| (*v).to_owned()).collect()),
            ..RecordSetSpec::default()
        }
        .validate(&apex)
        .expect("valid")
    }

    fn soa(serial: u32) -> RecordSet {
        set("@", "SOA", &[&format!("ns1.example.test. h.example.test. {serial} 3600 600 86400 60")])
    }

    #[test]
    fn a_change_becomes_a_delta_and_the_journal_chains_them() {
        let changes = vec![
            (Some(soa(1)), Some(soa(2))),
            (
                Some(set("www", "A", &["192.0.2.1", "192.0.2.2"])),
                Some(set("www", "A", &["192.0.2.2", "192.0.2.3"])),
            ),
        ];
        let d = delta_of(&changes).expect("a delta");
        assert_eq!((serial_of(&d.from), serial_of(&d.to)), (Some(1), Some(2)));
        assert_eq!(d.removed.len(), 1);
        assert_eq!(d.added.len(), 1);
        let mut j = Journal::default();
        j.push(d, MAX_JOURNAL_RECORDS);
        j.push(delta_of(&[(Some(soa(2)), Some(soa(3)))]).expect("a delta"), MAX_JOURNAL_RECORDS);
        assert_eq!(j.since(1).map(Iterator::count), Some(2));
        assert_eq!(j.since(2).map(Iterator::count), Some(1));
        assert!(j.since(7).is_none());
        // A gap starts over.
        j.push(delta_of(&[(Some(soa(9)), Some(soa(10)))]).expect("a delta"), MAX_JOURNAL_RECORDS);
        assert_eq!(j.len(), 1);
    }

    /// The audit trail's records, as `crate::audit` writes them, rebuild the journal.
    #[test]
    fn the_audit_trail_rebuilds_the_journal() {
        let record = |changes: Vec<(Option<RecordSet>, Option<RecordSet>)>| {
            let changes: Vec<serde_json::Value> = changes
                .into_iter()
                .map(|(b, a)| {
                    let s = b.as_ref().or(a.as_ref()).expect("a set");
                    serde_json::json!({
                        "kind": "record_set",
                        "name": format!("example.test. {} {}", s.name, s.rtype),
                        "action": "update",
                        "before": b.map(|x| x.to_spec()),
                        "after": a.map(|x| x.to_spec()),
                    })
                })
                .collect();
            serde_json::to_vec(&serde_json::json!({"changes": changes})).expect("json")
        };
        let one = record(vec![
            (Some(soa(1)), Some(soa(2))),
            (None, Some(set("www", "A", &["192.0.2.1"]))),
        ]);
        let two = record(vec![(Some(soa(2)), Some(soa(3)))]);
        let journals = from_history([one.as_slice(), two.as_slice()].into_iter(), |_| 10);
        let apex = Name::parse_absolute("example.test.").expect("apex");
        let j = journals.get(&apex).expect("a journal");
        assert_eq!(j.since(1).map(Iterator::count), Some(2));
        let left_out = serde_json::to_vec(&serde_json::json!({
            "values_left_out": true,
            "changes": [{"kind": "record_set", "name": "example.test. www A", "action": "update"}],
        }))
        .expect("json");
        let journals = from_history([one.as_slice(), left_out.as_slice()].into_iter(), |_| 10);
        assert!(journals.get(&apex).is_none_or(Journal::is_empty), "the history breaks");
    }

    /// A chain of deltas as large as its zone is not kept (the whole zone is the smaller
    /// reply), nor read back at start: a zone imported in one write keeps only what followed.
    #[test]
    fn a_journal_holds_fewer_records_than_its_zone() {
        assert_eq!(journal_cap(10), JOURNAL_FLOOR);
        assert_eq!(journal_cap(5_000), 4_999);
        assert_eq!(journal_cap(10_000_000), MAX_JOURNAL_RECORDS);
        let change = |before: Option<&RecordSet>, after: &RecordSet| {
            serde_json::json!({
                "kind": "record_set",
                "name": format!("example.test. {} {}", after.name, after.rtype),
                "before": before.map(RecordSet::to_spec),
                "after": after.to_spec(),
            })
        };
        let mut import = vec![change(Some(&soa(1)), &soa(2))];
        for i in 0..1_500 {
            import.push(change(None, &set(&format!("h{i}"), "A", &["192.0.2.1"])));
        }
        let import = serde_json::to_vec(&serde_json::json!({ "changes": import })).expect("json");
        let update = serde_json::to_vec(&serde_json::json!({"changes": [
            change(Some(&soa(2)), &soa(3)),
            change(Some(&set("h0", "A", &["192.0.2.1"])), &set("h0", "A", &["192.0.2.9"])),
        ]}))
        .expect("json");
        let apex = Name::parse_absolute("example.test.").expect("apex");
        let history = [import.as_slice(), update.as_slice()];
        // The zone: SOA, NS and the 1,500 sets. The import's delta (1,502 records) is as large.
        let journals = from_history(history.into_iter(), |_| 1_502);
        let j = journals.get(&apex).expect("a journal");
        assert_eq!(j.since(2).map(Iterator::count), Some(1), "the update is kept");
        assert!(j.since(1).is_none(), "the import is not");
        // In a zone far larger, the import is a small part: kept.
        let journals = from_history(history.into_iter(), |_| 100_000);
        let j = journals.get(&apex).expect("a journal");
        assert_eq!(j.since(1).map(Iterator::count), Some(2));
        // Pushed one by one, the same.
        let mut j = Journal::default();
        for (serial, added) in [(1, 1_500), (2, 1)] {
            let mut changes = vec![(Some(soa(serial)), Some(soa(serial + 1)))];
            for i in 0..added {
                changes.push((None, Some(set(&format!("n{i}"), "A", &["192.0.2.1"]))));
            }
            j.push(delta_of(&changes).expect("a delta"), journal_cap(1_502));
        }
        assert_eq!((j.since(2).map(Iterator::count), j.len()), (Some(1), 1));
    }

    /// Only the writes that can still be in a zone's journal are read back, zone by zone: a
    /// zone written often does not push out the older deltas of one written rarely.
    #[test]
    fn the_history_is_read_back_as_far_as_each_zone_keeps_it() {
        let other = Name::parse_absolute("other.test.").expect("apex");
        let change = |zone: &str, before: &RecordSet, after: &RecordSet| {
            serde_json::json!({
                "kind": "record_set",
                "name": format!("{zone} {} {}", before.name, before.rtype),
                "before": before.to_spec(),
                "after": after.to_spec(),
            })
        };
        let other_soa = |serial: u32| {
            RecordSetSpec {
                name: "@".into(),
                rtype: "SOA".into(),
                ttl: Some(300),
                values: Some(vec![format!(
                    "ns1.other.test. h.other.test. {serial} 3600 600 86400 60"
                )]),
                ..RecordSetSpec::default()
            }
            .validate(&other)
            .expect("valid")
        };
        // The oldest write touches both zones; then MAX_JOURNAL_DELTAS + 2 writes of one.
        let mut records = vec![serde_json::json!({"changes": [
            change("example.test.", &soa(1), &soa(2)),
            change("other.test.", &other_soa(7), &other_soa(8)),
        ]})];
        for serial in 2..MAX_JOURNAL_DELTAS as u32 + 4 {
            records.push(serde_json::json!({"changes": [change("example.test.", &soa(serial), &soa(serial + 1))]}));
        }
        let raw: Vec<Vec<u8>> =
            records.iter().map(|r| serde_json::to_vec(r).expect("json")).collect();
        // Zones large enough that the count of deltas is the limit, not their records.
        let journals = from_history(raw.iter().map(Vec::as_slice), |_| 1_000_000);
        let apex = Name::parse_absolute("example.test.").expect("apex");
        let busy = journals.get(&apex).expect("a journal");
        assert_eq!(busy.len(), MAX_JOURNAL_DELTAS);
        assert!(busy.since(3).is_none() && busy.since(4).is_some(), "the newest deltas only");
        let quiet = journals.get(&other).expect("the quiet zone's journal");
        assert_eq!(quiet.since(7).map(Iterator::count), Some(1), "its one old write is kept");
    }

    #[test]
    fn a_policy_set_is_not_plain() {
        let mut weighted = set("www", "A", &["192.0.2.1"]);
        weighted.set_id = Some("a".into());
        weighted.policy = Policy::Weighted(10);
        assert!(plain_records(&weighted).is_none());
        assert!(delta_of(&[(Some(soa(1)), Some(soa(2))), (None, Some(weighted))]).is_none());
    }
}
