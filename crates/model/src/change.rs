//! Change batches: CREATE / DELETE / UPSERT actions on record sets, validated as a whole and
//! applied in order, all or nothing (docs/api.md).
//!
//! [`plan`] takes the written batch and the current record sets of every zone it names, applies
//! the actions in order to an overlay (the current state is never touched), then checks the
//! rules that need a whole group or a whole name on the groups and names the
//! batch touched. It returns either the resulting puts and deletes per zone, or *every* error,
//! each with the index of the change it concerns, the field, a stable code and a message. The
//! caller commits the puts and deletes in one store transaction; nothing here does I/O.

use std::borrow::{Borrow, Cow};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::ops::Bound;

use serde::{Deserialize, Serialize};

use crate::error::{ErrorCode, FieldError};
use crate::name::Name;
use crate::records::{Policy, PolicyKind, RecordData, RecordKey, RecordSet, RecordSetSpec};
use crate::rtype::RType;
use crate::sets::RecordSets;

/// Records per batch (an UPSERT counts double).
pub const MAX_BATCH_RECORDS: usize = 1000;
/// Characters of values per batch (an UPSERT counts double).
pub const MAX_BATCH_VALUE_CHARS: usize = 32_000;
/// The longest batch comment.
pub const MAX_COMMENT_LEN: usize = 256;

/// What a change does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Adds a record set; fails if it exists.
    Create,
    /// Removes a record set; every field must match the current one.
    Delete,
    /// Creates or replaces a record set.
    Upsert,
}

impl Action {
    /// `CREATE`, `DELETE` or `UPSERT`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "CREATE",
            Action::Delete => "DELETE",
            Action::Upsert => "UPSERT",
        }
    }

    /// Parses an action, in any case.
    pub fn parse(text: &str) -> Option<Action> {
        match text.to_ascii_uppercase().as_str() {
            "CREATE" => Some(Action::Create),
            "DELETE" => Some(Action::Delete),
            "UPSERT" => Some(Action::Upsert),
            _ => None,
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A change batch as written.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeBatchSpec {
    /// Free text kept with the change, at most 256 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// The actions, applied in order.
    #[serde(default)]
    pub changes: Vec<ChangeSpec>,
}

/// One action as written.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeSpec {
    /// `CREATE`, `DELETE` or `UPSERT`.
    #[serde(default)]
    pub action: String,
    /// The zone (its apex); may be left out when the request names one zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    /// The record set.
    #[serde(default)]
    pub record_set: RecordSetSpec,
}

/// One problem with a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeError {
    /// The index of the change concerned, or none for the batch as a whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    /// The full path of the field, e.g. `changes[2].record_set.values[0]`.
    pub field: String,
    /// The stable code.
    pub code: ErrorCode,
    /// What is wrong.
    pub message: String,
}

impl ChangeError {
    fn at(index: usize, e: FieldError) -> Self {
        let field = if e.field.is_empty() {
            format!("changes[{index}]")
        } else {
            format!("changes[{index}].{}", e.field)
        };
        ChangeError { index: Some(index), field, code: e.code, message: e.message }
    }

    fn record(index: usize, field: &str, code: ErrorCode, message: String) -> Self {
        Self::at(index, FieldError::new(format!("record_set.{field}"), code, message))
    }
}

impl fmt::Display for ChangeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} ({})", self.field, self.message, self.code)
    }
}

/// Every record set of one zone, keyed by (name, type, set id).
#[derive(Debug, Clone, PartialEq)]
pub struct ZoneRecords {
    /// The apex.
    pub apex: Name,
    /// The record sets.
    pub sets: RecordSets,
}

impl ZoneRecords {
    /// An empty zone.
    pub fn new(apex: Name) -> Self {
        ZoneRecords { apex, sets: RecordSets::new() }
    }

    /// The number of records (an alias counts as one).
    pub fn record_count(&self) -> usize {
        self.sets.owners().map(|(_, n)| n).sum()
    }
}

/// What a batch does to one zone: record sets to write and keys to remove.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ZoneDelta {
    /// Record sets created or replaced.
    pub puts: BTreeMap<RecordKey, RecordSet>,
    /// Record sets removed.
    pub deletes: BTreeSet<RecordKey>,
}

/// A validated batch: the delta per zone and the comment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    /// The comment.
    pub comment: Option<String>,
    /// Per zone, the record sets to write and remove.
    pub zones: BTreeMap<Name, ZoneDelta>,
    /// How many changes the batch held.
    pub change_count: usize,
}

/// What records may refer to outside their zones.
pub struct Refs<'a> {
    /// Whether a health check of that name exists.
    pub check: &'a dyn Fn(&str) -> bool,
    /// What is wrong with a (collection, location) an IP-based record names (field
    /// `cidr.collection` or `cidr.location`), if anything. `*` is every collection's default.
    pub cidr: &'a dyn Fn(&str, &str) -> Option<FieldError>,
}

impl Refs<'static> {
    /// Everything exists (for planning without a node, and for tests).
    pub const ANY: Refs<'static> = Refs { check: &|_| true, cidr: &|_, _| None };
}

/// Validates `batch` against the current record sets of `zones` and returns what to write.
///
/// `default_zone` is used for changes that name no zone. On error nothing is returned but
/// every error found: per-change errors first (in change order), then the group and name rules
/// on the state the batch would leave.
/// `refs` says which health checks and CIDR locations exist (records may only name existing
/// ones).
pub fn plan<Z: Borrow<ZoneRecords>>(
    batch: &ChangeBatchSpec,
    default_zone: Option<&Name>,
    zones: &BTreeMap<Name, Z>,
    refs: &Refs<'_>,
) -> Result<Plan, Vec<ChangeError>> {
    let mut errors = Vec::new();
    if batch.comment.as_ref().is_some_and(|c| c.chars().count() > MAX_COMMENT_LEN) {
        errors.push(ChangeError {
            index: None,
            field: "comment".into(),
            code: ErrorCode::InvalidValue,
            message: format!("a comment has at most {MAX_COMMENT_LEN} characters"),
        });
    }
    if batch.changes.is_empty() {
        errors.push(ChangeError {
            index: None,
            field: "changes".into(),
            code: ErrorCode::MissingField,
            message: "a batch holds at least one change".into(),
        });
    }
    // The limits first, from the request as sent: a batch over them is refused before any of
    // it is parsed, since that work grows with its size.
    let limits = limit_errors(batch);
    if !limits.is_empty() {
        errors.extend(limits);
        return Err(errors);
    }
    let mut overlays: BTreeMap<Name, Overlay<'_>> = BTreeMap::new();
    let mut poisoned: BTreeSet<(Name, RecordKey)> = BTreeSet::new();
    for (index, change) in batch.changes.iter().enumerate() {
        let action = Action::parse(&change.action);
        if action.is_none() {
            errors.push(ChangeError::at(
                index,
                FieldError::new(
                    "action",
                    if change.action.is_empty() {
                        ErrorCode::MissingField
                    } else {
                        ErrorCode::InvalidValue
                    },
                    format!("{:?} is not an action; use CREATE, DELETE or UPSERT", change.action),
                ),
            ));
        }
        let Some(zone) = resolve_zone(index, change, default_zone, zones, &mut errors) else {
            continue;
        };
        let set = match change.record_set.validate(&zone.apex) {
            Ok(set) => set,
            Err(es) => {
                errors.extend(
                    es.into_iter().map(|e| ChangeError::at(index, e.prefixed("record_set"))),
                );
                if let Some(key) = rough_key(&change.record_set, &zone.apex) {
                    poisoned.insert((zone.apex.clone(), key));
                }
                continue;
            }
        };
        let Some(action) = action else { continue };
        if action != Action::Delete
            && let Some(hc) = &set.health_check
            && !(refs.check)(hc)
        {
            errors.push(ChangeError::record(
                index,
                "health_check",
                ErrorCode::NoSuchHealthCheck,
                format!("no health check {hc:?}; create it first"),
            ));
        }
        if action != Action::Delete
            && let Policy::Cidr { collection, location } = &set.policy
            && let Some(e) = (refs.cidr)(collection, location)
        {
            errors.push(ChangeError::at(index, e.prefixed("record_set")));
        }
        let key = set.key();
        if poisoned.contains(&(zone.apex.clone(), key.clone())) {
            continue;
        }
        let overlay = overlays.entry(zone.apex.clone()).or_insert_with(|| Overlay::new(zone));
        if let Err(e) = overlay.apply(index, action, key, set) {
            errors.push(e);
        }
    }
    for overlay in overlays.values() {
        overlay.check(&mut errors);
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let zones = overlays
        .into_iter()
        .map(|(apex, overlay)| {
            let mut delta = ZoneDelta::default();
            for (key, entry) in overlay.changed {
                match entry.set {
                    Some(set) => {
                        delta.puts.insert(key, set);
                    }
                    None => {
                        if overlay.base.sets.contains_key(&key) {
                            delta.deletes.insert(key);
                        }
                    }
                }
            }
            (apex, delta)
        })
        .collect();
    Ok(Plan { comment: batch.comment.clone(), zones, change_count: batch.changes.len() })
}

fn resolve_zone<'z, Z: Borrow<ZoneRecords>>(
    index: usize,
    change: &ChangeSpec,
    default_zone: Option<&Name>,
    zones: &'z BTreeMap<Name, Z>,
    errors: &mut Vec<ChangeError>,
) -> Option<&'z ZoneRecords> {
    let apex = match (&change.zone, default_zone) {
        (Some(text), _) => match Name::parse_absolute(text) {
            Ok(apex) => apex,
            Err(e) => {
                errors.push(ChangeError::at(
                    index,
                    FieldError::new("zone", ErrorCode::InvalidValue, e.to_string()),
                ));
                return None;
            }
        },
        (None, Some(apex)) => apex.clone(),
        (None, None) => {
            errors.push(ChangeError::at(
                index,
                FieldError::new("zone", ErrorCode::MissingField, "name the zone of this change"),
            ));
            return None;
        }
    };
    if default_zone.is_some_and(|d| *d != apex) {
        errors.push(ChangeError::at(
            index,
            FieldError::new(
                "zone",
                ErrorCode::InvalidValue,
                format!("this request is for zone {}, not {apex}", default_zone.unwrap_or(&apex)),
            ),
        ));
        return None;
    }
    let zone = zones.get(&apex).map(Borrow::borrow);
    if zone.is_none() {
        errors.push(ChangeError::at(
            index,
            FieldError::new("zone", ErrorCode::NoSuchZone, format!("no zone {apex}")),
        ));
    }
    zone
}

/// The key of a record set that failed validation, when its name and type are readable.
fn rough_key(spec: &RecordSetSpec, apex: &Name) -> Option<RecordKey> {
    let name = Name::parse_in(&spec.name, Some(apex)).ok()?;
    let rtype = RType::from_mnemonic(&spec.rtype)?;
    Some(RecordKey { name, rtype, set_id: spec.set_id.clone().unwrap_or_default() })
}

/// The batch's size errors: records (each value, an alias one; UPSERT counts double) and
/// characters of values over the limits. Linear in the request, nothing parsed.
fn limit_errors(batch: &ChangeBatchSpec) -> Vec<ChangeError> {
    let (mut records, mut chars) = (0usize, 0usize);
    for change in &batch.changes {
        let factor = if Action::parse(&change.action) == Some(Action::Upsert) { 2 } else { 1 };
        let count = change.record_set.values.as_ref().map_or(1, |v| v.len().max(1));
        records = records.saturating_add(count * factor);
        chars = chars.saturating_add(value_chars(&change.record_set) * factor);
    }
    let mut errors = Vec::new();
    if records > MAX_BATCH_RECORDS {
        errors.push(ChangeError {
            index: None,
            field: "changes".into(),
            code: ErrorCode::LimitExceeded,
            message: format!(
                "the batch holds {records} records (UPSERT counts double); the limit is \
                 {MAX_BATCH_RECORDS}"
            ),
        });
    }
    if chars > MAX_BATCH_VALUE_CHARS {
        errors.push(ChangeError {
            index: None,
            field: "changes".into(),
            code: ErrorCode::LimitExceeded,
            message: format!(
                "the batch holds {chars} characters of values (UPSERT counts double); the limit \
                 is {MAX_BATCH_VALUE_CHARS}"
            ),
        });
    }
    errors
}

fn value_chars(spec: &RecordSetSpec) -> usize {
    spec.values.iter().flatten().map(|v| v.chars().count()).sum()
}

/// A change to one key, and the index of the last change that made it.
struct Entry {
    set: Option<RecordSet>,
    index: usize,
}

/// The batch's edits over a zone's current record sets.
struct Overlay<'z> {
    base: &'z ZoneRecords,
    changed: BTreeMap<RecordKey, Entry>,
}

impl<'z> Overlay<'z> {
    fn new(base: &'z ZoneRecords) -> Self {
        Overlay { base, changed: BTreeMap::new() }
    }

    fn get(&self, key: &RecordKey) -> Option<Cow<'_, RecordSet>> {
        match self.changed.get(key) {
            Some(entry) => entry.set.as_ref().map(Cow::Borrowed),
            None => self.base.sets.get(key),
        }
    }

    fn apply(
        &mut self,
        index: usize,
        action: Action,
        key: RecordKey,
        set: RecordSet,
    ) -> Result<(), ChangeError> {
        let current = self.get(&key);
        match action {
            Action::Create if current.is_some() => Err(ChangeError::record(
                index,
                "name",
                ErrorCode::AlreadyExists,
                format!("tried to create resource record set {key} but it already exists"),
            )),
            Action::Delete if current.is_none() => Err(ChangeError::record(
                index,
                "name",
                ErrorCode::NotFound,
                format!("tried to delete resource record set {key} but it was not found"),
            )),
            Action::Delete if !current.is_some_and(|c| c.same_content(&set)) => {
                Err(ChangeError::record(
                    index,
                    "values",
                    ErrorCode::ValuesMismatch,
                    format!(
                        "tried to delete resource record set {key} but the values provided do \
                         not match the current values"
                    ),
                ))
            }
            Action::Delete => {
                self.changed.insert(key, Entry { set: None, index });
                Ok(())
            }
            Action::Create | Action::Upsert => {
                self.changed.insert(key, Entry { set: Some(set), index });
                Ok(())
            }
        }
    }

    /// The record sets of one (name, type) group after the batch.
    fn group(&self, name: &Name, rtype: RType) -> Vec<Cow<'_, RecordSet>> {
        let lo = RecordKey { name: name.clone(), rtype, set_id: String::new() };
        let in_group = |k: &RecordKey| k.name == *name && k.rtype == rtype;
        let mut out: Vec<Cow<'_, RecordSet>> = self
            .base
            .sets
            .from_key(&lo)
            .take_while(|s| s.name == *name && s.rtype == rtype)
            .filter(|s| !self.changed.contains_key(&s.key()))
            .collect();
        out.extend(
            self.changed
                .range((Bound::Included(&lo), Bound::Unbounded))
                .take_while(|(k, _)| in_group(k))
                .filter_map(|(_, e)| e.set.as_ref().map(Cow::Borrowed)),
        );
        out
    }

    /// The types present at a name after the batch.
    fn types_at(&self, name: &Name) -> BTreeSet<RType> {
        let lo = RecordKey { name: name.clone(), rtype: RType(0), set_id: String::new() };
        let mut types: BTreeSet<RType> = self
            .base
            .sets
            .keys_from(&lo)
            .take_while(|k| k.name == *name)
            .filter(|k| !self.changed.contains_key(k))
            .map(|k| k.rtype)
            .collect();
        types.extend(
            self.changed
                .range((Bound::Included(&lo), Bound::Unbounded))
                .take_while(|(k, _)| k.name == *name)
                .filter(|(_, e)| e.set.is_some())
                .map(|(k, _)| k.rtype),
        );
        types
    }

    /// The alias record sets the checks must see, with the index of the change that wrote
    /// each: the batch's own, and (only when the batch emptied some group, which an old alias
    /// might target) every other alias of the zone.
    fn aliases(
        &self,
        with_base: bool,
    ) -> impl Iterator<Item = (Cow<'_, RecordSet>, Option<usize>)> {
        let base = self
            .base
            .sets
            .not_plain()
            .take(if with_base { usize::MAX } else { 0 })
            .filter(|s| !self.changed.contains_key(&s.key()))
            .map(|s| (Cow::Borrowed(s), None));
        let changed = self
            .changed
            .values()
            .filter_map(|e| e.set.as_ref().map(|s| (Cow::Borrowed(s), Some(e.index))));
        base.chain(changed).filter(|(s, _)| matches!(s.data, RecordData::Alias { .. }))
    }

    /// The group and name rules, on what the batch touched.
    fn check(&self, errors: &mut Vec<ChangeError>) {
        let apex = &self.base.apex;
        // The last change touching each group and each name.
        let mut groups: BTreeMap<(&Name, RType), usize> = BTreeMap::new();
        let mut names: BTreeMap<&Name, usize> = BTreeMap::new();
        for (key, entry) in &self.changed {
            let g = groups.entry((&key.name, key.rtype)).or_insert(entry.index);
            *g = (*g).max(entry.index);
            let n = names.entry(&key.name).or_insert(entry.index);
            *n = (*n).max(entry.index);
        }
        let mut emptied: HashMap<(&Name, RType), usize> = HashMap::new();
        for (&(name, rtype), &index) in &groups {
            let group = self.group(name, rtype);
            if group.is_empty() {
                emptied.insert((name, rtype), index);
                if *name == *apex && matches!(rtype, RType::SOA | RType::NS) {
                    errors.push(ChangeError::record(
                        index,
                        "type",
                        ErrorCode::RequiredRecord,
                        format!("the zone {apex} must keep its {rtype} record set at the apex"),
                    ));
                }
                continue;
            }
            check_group(name, rtype, &group, index, errors);
        }
        for (&name, &index) in &names {
            let types = self.types_at(name);
            if types.contains(&RType::CNAME) && types.len() > 1 {
                let other = types.iter().find(|t| **t != RType::CNAME).copied();
                let cname_new = self
                    .changed
                    .iter()
                    .any(|(k, e)| k.name == *name && k.rtype == RType::CNAME && e.set.is_some());
                let message = match (cname_new, other) {
                    (true, _) => format!(
                        "RRSet of type CNAME with DNS name {name} is not permitted as it conflicts \
                         with other records with the same DNS name in zone {apex}"
                    ),
                    (false, Some(t)) => format!(
                        "RRSet of type {t} with DNS name {name} is not permitted because a \
                         conflicting RRSet of type CNAME with the same DNS name already exists in \
                         zone {apex}"
                    ),
                    (false, None) => String::new(),
                };
                errors.push(ChangeError::record(index, "type", ErrorCode::CnameConflict, message));
            }
            if types.contains(&RType::DS) && !types.contains(&RType::NS) {
                errors.push(ChangeError::record(
                    index,
                    "type",
                    ErrorCode::NotAllowed,
                    format!(
                        "DS records at {name} need NS records there: DS belongs at a delegation"
                    ),
                ));
            }
        }
        self.check_aliases(&emptied, errors);
    }

    fn check_aliases(
        &self,
        emptied: &HashMap<(&Name, RType), usize>,
        errors: &mut Vec<ChangeError>,
    ) {
        for (set, written_by) in self.aliases(!emptied.is_empty()) {
            let RecordData::Alias { target, .. } = &set.data else { continue };
            let target_exists = !self.group(target, set.rtype).is_empty();
            match written_by {
                Some(index) if !target_exists => errors.push(ChangeError::record(
                    index,
                    "alias.target",
                    ErrorCode::AliasTargetNotFound,
                    format!(
                        "tried to create an alias that targets {target}, type {} in zone {}, but \
                         that target was not found",
                        set.rtype, self.base.apex
                    ),
                )),
                Some(index) if self.in_cycle(&set.name, set.rtype) => {
                    errors.push(ChangeError::record(
                        index,
                        "alias.target",
                        ErrorCode::AliasCycle,
                        format!(
                            "the alias {} {} leads back to itself through {target}",
                            set.name, set.rtype
                        ),
                    ))
                }
                None if !target_exists => {
                    if let Some(&index) = emptied.get(&(target, set.rtype)) {
                        errors.push(ChangeError::record(
                            index,
                            "name",
                            ErrorCode::AliasTargetInUse,
                            format!(
                                "{target} {} is the target of the alias {} {}; change or delete \
                                 the alias in the same batch",
                                set.rtype, set.name, set.rtype
                            ),
                        ));
                    }
                }
                _ => {}
            }
        }
    }

    /// Whether following aliases from the group (name, rtype) comes back to it.
    fn in_cycle(&self, name: &Name, rtype: RType) -> bool {
        let mut stack: Vec<Name> = vec![name.clone()];
        let mut seen: BTreeSet<Name> = BTreeSet::new();
        while let Some(at) = stack.pop() {
            for set in self.group(&at, rtype) {
                if let RecordData::Alias { target, .. } = &set.data {
                    if target == name {
                        return true;
                    }
                    if seen.insert(target.clone()) {
                        stack.push(target.clone());
                    }
                }
            }
        }
        false
    }
}

/// The rules of one (name, type) group (docs/desired-state.md, "Rules for a group").
fn check_group(
    name: &Name,
    rtype: RType,
    group: &[Cow<'_, RecordSet>],
    index: usize,
    errors: &mut Vec<ChangeError>,
) {
    let Some(first) = group.first() else { return };
    let kind = first.policy.kind();
    if let Some(other) = group.iter().find(|s| s.policy.kind() != kind) {
        errors.push(ChangeError::record(
            index,
            "set_id",
            ErrorCode::PolicyConflict,
            format!(
                "the records of {name} {rtype} would mix the {kind} and {} routing policies; one \
                 (name, type) uses one policy",
                other.policy.kind()
            ),
        ));
        return;
    }
    if group.len() > kind.max_records() {
        let (code, message) = match kind {
            PolicyKind::Simple => (
                ErrorCode::PolicyConflict,
                format!("a simple record set is the only one of {name} {rtype}"),
            ),
            PolicyKind::Failover => (
                ErrorCode::LimitExceeded,
                format!("{name} {rtype} has more than one primary and one secondary"),
            ),
            _ => (
                ErrorCode::LimitExceeded,
                format!(
                    "{name} {rtype} would have {} {kind} records; the limit is {}",
                    group.len(),
                    kind.max_records()
                ),
            ),
        };
        errors.push(ChangeError::record(index, "set_id", code, message));
        return;
    }
    let mut locations: BTreeSet<String> = BTreeSet::new();
    for set in group {
        if let Some(location) = set.policy.location_key()
            && !locations.insert(location.clone())
        {
            let field = match kind {
                PolicyKind::Failover => "failover",
                PolicyKind::Latency => "region",
                PolicyKind::Geolocation => "geo",
                _ => "cidr.location",
            };
            errors.push(ChangeError::record(
                index,
                field,
                ErrorCode::DuplicateLocation,
                format!("{name} {rtype} already has a record for {location}"),
            ));
            return;
        }
    }
    let thresholds = |s: &RecordSet| (s.pool.min_healthy, s.pool.min_healthy_pct);
    if group.iter().any(|s| thresholds(s) != thresholds(first)) {
        errors.push(ChangeError::record(
            index,
            "min_healthy",
            ErrorCode::PolicyConflict,
            format!(
                "every record of {name} {rtype} must give the same min_healthy and                  min_healthy_pct: they are the group's"
            ),
        ));
    }
    if kind == PolicyKind::Cidr {
        let collections: BTreeSet<&str> = group
            .iter()
            .filter_map(|s| match &s.policy {
                crate::records::Policy::Cidr { collection, .. } => Some(collection.as_str()),
                _ => None,
            })
            .collect();
        if collections.len() > 1 {
            errors.push(ChangeError::record(
                index,
                "cidr.collection",
                ErrorCode::CollectionMismatch,
                format!(
                    "every IP-based record of {name} {rtype} must use the same CIDR collection, \
                     not {}",
                    collections.into_iter().collect::<Vec<_>>().join(" and ")
                ),
            ));
        }
    }
}

#[cfg(test)]
#[path = "change_tests.rs"]
mod tests;
