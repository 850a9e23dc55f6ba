//! Desired-state files (docs/desired-state.md) and the plan that makes the store match one.
//!
//! [`DesiredState`] is the file: zones with their record sets (names relative to the zone or
//! absolute with a trailing dot), health checks and control panels. [`plan_zone`] compares one
//! zone of the file with what the API holds and lists the changes: CREATE what is new, UPSERT
//! what differs (the order of values does not matter; an SOA that differs only by its serial does
//! not differ), and with `prune` DELETE what the file does not name. The apex SOA and NS are never
//! pruned: they are the zone's own.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use turnout_model::change::Action;
use turnout_model::{FieldError, Name, RType, RecordKey, RecordSet, RecordSetSpec, Soa};

/// A desired-state file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DesiredState {
    /// Zones and their record sets.
    #[serde(default)]
    pub zones: Vec<DesiredZone>,
    /// Health checks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub health_checks: Vec<turnout_model::health::HealthCheckSpec>,
    /// CIDR collections for IP-based records.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cidr_collections: Vec<turnout_model::cidr::CidrCollectionSpec>,
    /// Control panels with their routing controls and safety rules (never their states).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub control_panels: Vec<turnout_model::controls::ControlPanelSpec>,
    /// Failover drills (docs/drills.md).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drills: Vec<turnout_model::drills::DrillSpec>,
    /// TSIG keys (docs/transfers.md), made when missing; their secrets come from files.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tsig_keys: Vec<DesiredTsigKey>,
}

/// A TSIG key of a desired-state file. A key's secret is never read back from a node, so an
/// existing key is kept as it is (its algorithm must match); to change a secret, delete the key
/// and apply again.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DesiredTsigKey {
    /// The key's name.
    pub name: String,
    /// `hmac-sha256` (default), `hmac-sha384`, `hmac-sha512` or `hmac-sha1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub algorithm: Option<String>,
    /// The file holding the base64 secret, relative to the desired-state file.
    pub secret_file: String,
}

/// One zone of a desired-state file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DesiredZone {
    /// The apex.
    pub name: String,
    /// Kept with the zone when `apply` creates it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// The apex NS names when `apply` creates the zone (default `ns1` and `ns2` under the zone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_servers: Option<Vec<String>>,
    /// The record sets.
    #[serde(default)]
    pub records: Vec<RecordSetSpec>,
    /// Who may transfer the zone and who is sent NOTIFY (docs/transfers.md); absent: left as
    /// the node has it, `{}`: nobody.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfers: Option<turnout_control::types::ZoneTransfers>,
    /// Which TSIG keys may change which records by RFC 2136 UPDATE (docs/dynamic-updates.md);
    /// absent: left as the node has it, `{}`: no key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updates: Option<turnout_control::types::ZoneUpdates>,
    /// A secondary zone (docs/secondary-zones.md): its primaries and key. Its records come
    /// from them, so the file lists none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secondary: Option<turnout_control::types::SecondaryOf>,
}

/// One planned change.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// CREATE, UPSERT or DELETE.
    pub action: Action,
    /// The record set as it will be (for DELETE: as it is).
    pub set: RecordSet,
    /// For UPSERT: the record set as it is now.
    pub before: Option<RecordSet>,
    /// Where it comes from in the file (`zones[0].records[3]`), or `prune`.
    pub origin: String,
}

/// Validates a zone of the file; every error names its place in the file.
pub fn validate_zone(
    index: usize,
    zone: &DesiredZone,
) -> Result<(Name, Vec<RecordSet>), Vec<String>> {
    let apex =
        Name::parse_absolute(&zone.name).map_err(|e| vec![format!("zones[{index}].name: {e}")])?;
    let mut errors = Vec::new();
    if let Some(s) = &zone.secondary {
        if !zone.records.is_empty() {
            errors.push(format!(
                "zones[{index}].records: a secondary zone's records come from its primaries; \
                 list none"
            ));
        }
        if zone.name_servers.is_some() {
            errors.push(format!(
                "zones[{index}].name_servers: a secondary zone takes its NS records from its \
                 primaries"
            ));
        }
        if let Err(e) = turnout_control::normalize_secondary(s) {
            errors.push(format!("zones[{index}].{e}"));
        }
    }
    let mut sets = Vec::new();
    let mut seen: BTreeMap<RecordKey, usize> = BTreeMap::new();
    for (i, spec) in zone.records.iter().enumerate() {
        match spec.validate(&apex) {
            Ok(set) => {
                if let Some(first) = seen.insert(set.key(), i) {
                    errors.push(format!(
                        "zones[{index}].records[{i}]: {} is also records[{first}]",
                        set.key()
                    ));
                }
                sets.push(set);
            }
            Err(es) => errors.extend(es.into_iter().map(|e: FieldError| {
                format!("zones[{index}].records[{i}].{}: {} ({})", e.field, e.message, e.code)
            })),
        }
    }
    if errors.is_empty() { Ok((apex, sets)) } else { Err(errors) }
}

/// The changes that make `current` (None: the zone does not exist yet) match `desired`.
pub fn plan_zone(
    index: usize,
    desired: &[RecordSet],
    current: Option<&[RecordSet]>,
    prune: bool,
) -> Vec<Step> {
    let current: BTreeMap<RecordKey, &RecordSet> =
        current.unwrap_or_default().iter().map(|s| (s.key(), s)).collect();
    let mut steps = Vec::new();
    let mut named = std::collections::BTreeSet::new();
    for (i, set) in desired.iter().enumerate() {
        let key = set.key();
        named.insert(key.clone());
        let origin = format!("zones[{index}].records[{i}]");
        match current.get(&key) {
            None => {
                steps.push(Step { action: Action::Create, set: set.clone(), before: None, origin })
            }
            Some(now) if same(now, set) => {}
            Some(now) => steps.push(Step {
                action: Action::Upsert,
                set: set.clone(),
                before: Some((*now).clone()),
                origin,
            }),
        }
    }
    if prune {
        for (key, set) in &current {
            let own = matches!(key.rtype, RType::SOA | RType::NS) && is_apex(set, current.keys());
            if !named.contains(key) && !own {
                steps.push(Step {
                    action: Action::Delete,
                    set: (*set).clone(),
                    before: None,
                    origin: "prune".into(),
                });
            }
        }
    }
    steps
}

/// Whether `set` is at the zone's apex (the owner of the SOA).
fn is_apex<'a>(set: &RecordSet, mut keys: impl Iterator<Item = &'a RecordKey>) -> bool {
    keys.any(|k| k.rtype == RType::SOA && k.name == set.name)
}

/// Equal apart from the order of values and, for an SOA, the serial.
fn same(a: &RecordSet, b: &RecordSet) -> bool {
    if a.rtype == RType::SOA {
        let soa = |s: &RecordSet| match &s.data {
            turnout_model::RecordData::Values { ttl, rdatas } => {
                rdatas.first().and_then(Soa::from_rdata).map(|soa| (*ttl, Soa { serial: 0, ..soa }))
            }
            turnout_model::RecordData::Alias { .. } => None,
        };
        return soa(a) == soa(b);
    }
    a.same_content(b)
}

/// Makes an absolute name relative to the apex for writing files (`@` for the apex).
pub fn relative(name: &str, apex: &Name) -> String {
    match Name::parse_absolute(name) {
        Ok(n) if n == *apex => "@".to_owned(),
        Ok(n) if n.is_subdomain_of(apex) => n.to_relative_string(apex),
        _ => name.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone(yaml_records: &str) -> Vec<RecordSet> {
        let z: DesiredZone =
            serde_saphyr::from_str(&format!("name: ex.test\nrecords:\n{yaml_records}")).unwrap();
        validate_zone(0, &z).unwrap().1
    }

    const BASE: &str = "  - {name: '@', type: SOA, ttl: 900, values: ['ns1 hostmaster 1 7200 900 1209600 86400']}\n  - {name: '@', type: NS, ttl: 172800, values: [ns1, ns2]}\n";

    #[test]
    fn plans_exactly_the_edits() {
        let current = zone(&format!(
            "{BASE}  - {{name: www, type: A, ttl: 60, values: [192.0.2.1, 192.0.2.2]}}\n  - {{name: old, type: A, ttl: 60, values: [192.0.2.9]}}\n"
        ));
        // Same values in another order, an edit, a new record; the SOA and NS are left out.
        let desired = zone(
            "  - {name: www, type: A, ttl: 60, values: [192.0.2.2, 192.0.2.1]}\n  - {name: new, type: TXT, ttl: 60, values: ['\"hi\"']}\n",
        );
        let steps = plan_zone(0, &desired, Some(&current), false);
        assert_eq!(steps.len(), 1);
        assert_eq!(
            (steps[0].action, steps[0].set.name.to_string()),
            (Action::Create, "new.ex.test.".into())
        );
        let steps = plan_zone(0, &desired, Some(&current), true);
        let actions: Vec<(Action, String)> =
            steps.iter().map(|s| (s.action, s.set.name.to_string())).collect();
        assert_eq!(
            actions,
            vec![(Action::Create, "new.ex.test.".into()), (Action::Delete, "old.ex.test.".into())]
        );
        // An SOA differing only by serial is not a change; a TTL edit is.
        let desired = zone(
            "  - {name: '@', type: SOA, ttl: 900, values: ['ns1 hostmaster 77 7200 900 1209600 86400']}\n  - {name: www, type: A, ttl: 30, values: [192.0.2.1, 192.0.2.2]}\n",
        );
        let steps = plan_zone(0, &desired, Some(&current), false);
        assert_eq!(steps.len(), 1);
        assert_eq!(steps[0].action, Action::Upsert);
        assert!(steps[0].before.is_some());
    }

    #[test]
    fn file_errors_name_their_place() {
        let z: DesiredZone = serde_saphyr::from_str(
            "name: ex.test\nrecords:\n  - {name: a, type: A, ttl: 60, values: [bad]}\n  - {name: a, type: A, ttl: 1, values: [192.0.2.1]}\n  - {name: a, type: A, ttl: 1, values: [192.0.2.2]}\n",
        )
        .unwrap();
        let errors = validate_zone(3, &z).unwrap_err();
        assert!(errors[0].starts_with("zones[3].records[0].values[0]: "), "{errors:?}");
        assert!(errors[1].contains("is also records[1]"), "{errors:?}");
    }
}
