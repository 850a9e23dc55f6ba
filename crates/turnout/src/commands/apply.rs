//! `turnout apply -f FILE [--yes] [--prune]`: plan, print, and apply a desired-state file.
//!
//! The whole file is validated first, locally, including the group rules against what the API
//! holds (a new zone is checked against the SOA and NS it will start with), so a bad file is
//! refused before anything changes. With `--yes`, zones the file names that do not exist are
//! created, then every record change of every zone goes in one change batch; if that batch is
//! refused, the zones just created are deleted again.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Serialize;
use turnout_api::client::ClientError;
use turnout_control::types::{ChangeInfo, CreateTsigKey, CreateZone, ZoneTransfers, ZoneUpdates};
use turnout_control::{default_name_servers, default_records};
use turnout_model::change::{self, Action};
use turnout_model::cidr::{CidrCollection, CidrCollectionSpec};
use turnout_model::controls::{ControlPanel, ControlPanelSpec};
use turnout_model::drills::{Drill, DrillSpec};
use turnout_model::health::{HealthCheck, HealthCheckSpec};
use turnout_model::{ChangeBatchSpec, ChangeSpec, Name, RecordSet, RecordSetSpec, ZoneRecords};

use super::records::describe;
use super::{Failure, client, output, say};
use crate::cli::{ApplyArgs, Output};
use crate::desired::{DesiredState, Step, plan_zone, validate_zone};

/// The plan as `--output json` prints it.
#[derive(Debug, Serialize)]
struct PlanOut {
    zones: Vec<ZonePlanOut>,
    checks: Vec<CheckStep>,
    collections: Vec<CollectionStep>,
    panels: Vec<PanelStep>,
    drills: Vec<DrillStep>,
    tsig_keys: Vec<KeyStep>,
    settings: Vec<SettingStep>,
    #[serde(skip_serializing_if = "Option::is_none")]
    applied: Option<ChangeInfo>,
}

/// One planned TSIG key change (a key is created or deleted, never changed).
#[derive(Debug, Clone, Serialize)]
struct KeyStep {
    action: &'static str,
    name: String,
    algorithm: String,
    /// The secret to create it with (never printed).
    #[serde(skip)]
    secret: Option<String>,
}

/// One zone's transfer settings or update rules made to match the file.
#[derive(Debug, Clone, Serialize)]
struct SettingStep {
    zone: String,
    /// `transfers` or `updates`.
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    transfers: Option<ZoneTransfers>,
    #[serde(skip_serializing_if = "Option::is_none")]
    updates: Option<ZoneUpdates>,
}

#[derive(Debug, Serialize)]
struct ZonePlanOut {
    name: String,
    create: bool,
    changes: Vec<StepOut>,
}

#[derive(Debug, Serialize)]
struct StepOut {
    action: &'static str,
    origin: String,
    record_set: RecordSetSpec,
    #[serde(skip_serializing_if = "Option::is_none")]
    before: Option<RecordSetSpec>,
}

/// Reads a desired-state file: JSON if it ends in `.json`, else YAML.
pub fn read_file(path: &Path) -> Result<DesiredState, Failure> {
    read_yaml_or_json(path)
}

/// Reads a YAML file, or JSON when its name ends in `.json`; errors name the file and place.
pub fn read_yaml_or_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::Input(format!("cannot read {}: {e}", path.display())))?;
    // Errors name the field (`zones[0].records[2].ttl`) as well as the place.
    let mut field = String::new();
    let parsed = if path.extension().is_some_and(|e| e == "json") {
        let mut de = serde_json::Deserializer::from_str(&text);
        serde_path_to_error::deserialize(&mut de).map_err(|e| {
            field = e.path().to_string();
            e.into_inner().to_string()
        })
    } else {
        serde_saphyr::with_deserializer_from_str(&text, |de| {
            serde_path_to_error::deserialize(de).map_err(|e| {
                field = e.path().to_string();
                e.into_inner()
            })
        })
        .map_err(|e| {
            let text = e.to_string();
            text.strip_prefix("error: ").map(str::to_owned).unwrap_or(text)
        })
    };
    parsed.map_err(|e| {
        let at =
            if field.is_empty() || field == "." { String::new() } else { format!("{field}: ") };
        Failure::Input(format!("{}: {at}{e}", path.display()))
    })
}

struct ZonePlan {
    apex: Name,
    create: Option<CreateZone>,
    steps: Vec<Step>,
}

pub async fn run(args: &ApplyArgs) -> Result<(), Failure> {
    let state = read_file(&args.file)?;
    let mut errors = Vec::new();
    let mut desired = Vec::new();
    let mut names = BTreeSet::new();
    for (i, zone) in state.zones.iter().enumerate() {
        match validate_zone(i, zone) {
            Ok((apex, sets)) => {
                if !names.insert(apex.clone()) {
                    errors.push(format!("zones[{i}].name: the zone {apex} is named twice"));
                }
                desired.push((i, apex, sets));
            }
            Err(es) => errors.extend(es),
        }
    }
    let wanted_checks: BTreeMap<String, (HealthCheckSpec, HealthCheck)> =
        wanted("health_checks", &state.health_checks, |s| &s.name, |s| s.validate(), &mut errors);
    let wanted_collections: BTreeMap<String, (CidrCollectionSpec, CidrCollection)> = wanted(
        "cidr_collections",
        &state.cidr_collections,
        |s| &s.name,
        |s| s.validate(),
        &mut errors,
    );
    let wanted_panels: BTreeMap<String, (ControlPanelSpec, ControlPanel)> =
        wanted("control_panels", &state.control_panels, |s| &s.name, |s| s.validate(), &mut errors);
    let wanted_drills: BTreeMap<String, (DrillSpec, Drill)> =
        wanted("drills", &state.drills, |s| &s.name, |s| s.validate(), &mut errors);
    // Zone settings as the node will store them, so that what the node holds compares equal.
    let mut settings_wanted: Vec<(String, Option<ZoneTransfers>, Option<ZoneUpdates>)> = Vec::new();
    for (i, zone) in state.zones.iter().enumerate() {
        let t = match zone.transfers.as_ref().map(turnout_control::normalize_transfers) {
            Some(Err(e)) => {
                errors.push(format!("zones[{i}].transfers.{e}"));
                None
            }
            other => other.and_then(Result::ok),
        };
        let u = match zone.updates.as_ref().map(turnout_control::normalize_updates) {
            Some(Err(e)) => {
                errors.push(format!("zones[{i}].updates.{e}"));
                None
            }
            other => other.and_then(Result::ok),
        };
        if let Ok(apex) = Name::parse_absolute(&zone.name) {
            settings_wanted.push((apex.to_string(), t, u));
        }
    }
    let wanted_keys = read_keys(&state, &args.file, &mut errors);
    if !errors.is_empty() {
        return Err(Failure::Input(format!(
            "{} is not valid:\n  {}",
            args.file.display(),
            errors.join("\n  ")
        )));
    }
    let api = client(&args.client)?;
    let zones_now = api.zones().await?;
    let existing: BTreeSet<Name> =
        zones_now.iter().filter_map(|z| Name::parse_absolute(&z.name).ok()).collect();
    // A secondary zone is made once, from the file's settings, and its records are left to
    // its primaries; a file and a node that disagree on which zones are secondary are refused
    // before anything changes.
    for (index, apex, _) in &desired {
        let spec = &state.zones[*index];
        let now =
            zones_now.iter().find(|z| Name::parse_absolute(&z.name).ok().as_ref() == Some(apex));
        let wanted =
            spec.secondary.as_ref().and_then(|s| turnout_control::normalize_secondary(s).ok());
        match (now.map(|z| z.secondary.as_ref()), &wanted) {
            (Some(Some(s)), Some(w)) if s.primaries != w.primaries || s.key != w.key => {
                errors.push(format!(
                    "zones[{index}].secondary: {apex} is a secondary zone of {} here; apply does \
                     not change a secondary zone's primaries or key (delete the zone and apply \
                     again)",
                    s.primaries.join(" ")
                ));
            }
            (Some(Some(_)), None) => errors.push(format!(
                "zones[{index}]: {apex} is a secondary zone here: give its `secondary` settings \
                 (its records come from its primaries), or promote it first (turnout zone \
                 promote)"
            )),
            (Some(None), Some(_)) => errors.push(format!(
                "zones[{index}].secondary: {apex} is a zone managed here; apply does not make it \
                 a secondary zone"
            )),
            _ => {}
        }
    }
    if !errors.is_empty() {
        return Err(Failure::Input(format!(
            "{} does not match the node:\n  {}",
            args.file.display(),
            errors.join("\n  ")
        )));
    }
    let mut plans = Vec::new();
    let mut base: BTreeMap<Name, ZoneRecords> = BTreeMap::new();
    for (index, apex, sets) in &desired {
        let spec = &state.zones[*index];
        if let Some(secondary) = &spec.secondary {
            // Made if missing; its records are its primaries'.
            let create = (!existing.contains(apex)).then(|| CreateZone {
                name: apex.to_string(),
                caller_reference: None,
                comment: spec.comment.clone(),
                name_servers: None,
                secondary: Some(secondary.clone()),
            });
            base.insert(apex.clone(), ZoneRecords::new(apex.clone()));
            plans.push(ZonePlan { apex: apex.clone(), create, steps: Vec::new() });
            continue;
        }
        let (current, create) = if existing.contains(apex) {
            let specs = api.record_sets(&apex.to_string()).await?;
            let current: Vec<RecordSet> =
                specs.iter().filter_map(|s| s.validate(apex).ok()).collect();
            (current, None)
        } else {
            let ns = default_name_servers(apex, spec.name_servers.as_deref())
                .map_err(|e| Failure::Input(format!("zones[{index}]: {e}")))?;
            let current: Vec<RecordSet> =
                default_records(apex, &ns).iter().filter_map(|s| s.validate(apex).ok()).collect();
            let create = CreateZone {
                name: apex.to_string(),
                caller_reference: None,
                comment: spec.comment.clone(),
                name_servers: spec.name_servers.clone(),
                secondary: None,
            };
            (current, Some(create))
        };
        let steps = plan_zone(*index, sets, Some(&current), args.prune);
        let mut zone = ZoneRecords::new(apex.clone());
        zone.sets = current.into_iter().collect();
        base.insert(apex.clone(), zone);
        plans.push(ZonePlan { apex: apex.clone(), create, steps });
    }
    // What `--prune` may delete besides the file's zones' record sets: the checks, CIDR
    // collections and control panels those zones' records use now (and what those checks
    // use); `--prune-all`: everything the file does not name.
    let current_checks: BTreeMap<String, HealthCheckSpec> =
        api.checks().await?.into_iter().map(|c| (c.name.clone(), c)).collect();
    let current_collections: BTreeMap<String, CidrCollectionSpec> =
        api.collections().await?.into_iter().map(|c| (c.name.clone(), c)).collect();
    let current_panels: BTreeMap<String, ControlPanelSpec> =
        api.panels().await?.into_iter().map(|p| (p.name.clone(), p)).collect();
    let scope = PruneScope::of(base.values(), &current_checks);
    let prune_check = |name: &str| args.prune && (args.prune_all || scope.checks.contains(name));
    let prune_collection =
        |name: &str| args.prune && (args.prune_all || scope.collections.contains(name));
    let prune_panel = |name: &str| args.prune && (args.prune_all || scope.panels.contains(name));
    let check_plan = plan_checks(&wanted_checks, &current_checks, &prune_check);
    let collection_plan =
        plan_collections(&wanted_collections, &current_collections, &prune_collection);
    let panel_plan: Vec<PanelStep> =
        plan_named(&wanted_panels, &current_panels, &prune_panel, |s| s.validate().ok())
            .into_iter()
            .map(|(action, panel)| PanelStep { action, panel })
            .collect();
    // Drills belong to no zone: only --prune-all deletes those the file does not name.
    let current_drills: BTreeMap<String, DrillSpec> =
        api.drills().await?.into_iter().map(|d| (d.name.clone(), d)).collect();
    let prune_drill = |_: &str| args.prune && args.prune_all;
    let drill_plan: Vec<DrillStep> =
        plan_named(&wanted_drills, &current_drills, &prune_drill, |s| s.validate().ok())
            .into_iter()
            .map(|(action, drill)| DrillStep { action, drill })
            .collect();
    let current_keys = api.tsig_keys().await?;
    let mut key_plan = Vec::new();
    for (name, (algorithm, secret)) in &wanted_keys {
        match current_keys.iter().find(|k| &k.name == name) {
            None => key_plan.push(KeyStep {
                action: "CREATE",
                name: name.clone(),
                algorithm: algorithm.clone(),
                secret: Some(secret.clone()),
            }),
            Some(k) if &k.algorithm != algorithm => {
                return Err(Failure::Input(format!(
                    "tsig_keys: the key {name} exists with {}, the file says {algorithm}; a \
                     key's secret is never read back, so apply does not replace keys: delete \
                     it (turnout tsig-key delete) and apply again",
                    k.algorithm
                )));
            }
            Some(_) => {}
        }
    }
    if args.prune && args.prune_all {
        for k in current_keys.iter().filter(|k| !wanted_keys.contains_key(&k.name)) {
            key_plan.push(KeyStep {
                action: "DELETE",
                name: k.name.clone(),
                algorithm: k.algorithm.clone(),
                secret: None,
            });
        }
    }
    let mut setting_plan = Vec::new();
    for (zone, transfers, updates) in &settings_wanted {
        let apex = Name::parse_absolute(zone).ok();
        let exists = apex.as_ref().is_some_and(|a| existing.contains(a));
        if let Some(t) = transfers {
            let now =
                if exists { api.zone_transfers(zone).await? } else { ZoneTransfers::default() };
            if &now != t {
                setting_plan.push(SettingStep {
                    zone: zone.clone(),
                    kind: "transfers",
                    transfers: Some(t.clone()),
                    updates: None,
                });
            }
        }
        if let Some(u) = updates {
            let now = if exists { api.zone_updates(zone).await? } else { ZoneUpdates::default() };
            if &now != u {
                setting_plan.push(SettingStep {
                    zone: zone.clone(),
                    kind: "updates",
                    transfers: None,
                    updates: Some(u.clone()),
                });
            }
        }
    }
    let batch = ChangeBatchSpec {
        comment: Some(format!("turnout apply -f {}", args.file.display()))
            .map(|c| c.chars().take(change::MAX_COMMENT_LEN).collect()),
        changes: plans
            .iter()
            .flat_map(|p| {
                p.steps.iter().map(|s| ChangeSpec {
                    action: s.action.as_str().into(),
                    zone: Some(p.apex.to_string()),
                    record_set: s.set.to_spec(),
                })
            })
            .collect(),
    };
    let origins: Vec<String> =
        plans.iter().flat_map(|p| p.steps.iter().map(|s| s.origin.clone())).collect();
    let check_exists =
        |name: &str| wanted_checks.contains_key(name) || current_checks.contains_key(name);
    // A collection the file gives is the one records will see; else the node's.
    let cidr_ref = |collection: &str, location: &str| {
        let locations: Option<Vec<String>> = match wanted_collections.get(collection) {
            Some((_, c)) => Some(c.locations.keys().cloned().collect()),
            None => {
                current_collections.get(collection).map(|c| c.locations.keys().cloned().collect())
            }
        };
        let Some(locations) = locations else {
            return Some(turnout_model::FieldError::new(
                "cidr.collection",
                turnout_model::ErrorCode::NoSuchCidrCollection,
                format!("no CIDR collection {collection:?}; create it first"),
            ));
        };
        (location != "*" && !locations.iter().any(|l| l == location)).then(|| {
            turnout_model::FieldError::new(
                "cidr.location",
                turnout_model::ErrorCode::NoSuchCidrLocation,
                format!("the CIDR collection {collection:?} has no location {location:?}"),
            )
        })
    };
    let refs = change::Refs { check: &check_exists, cidr: &cidr_ref };
    if !batch.changes.is_empty()
        && let Err(errors) = change::plan(&batch, None, &base, &refs)
    {
        let lines: Vec<String> = errors
            .iter()
            .map(|e| {
                let at = e.index.and_then(|i| origins.get(i)).map_or("batch", String::as_str);
                format!("{at}: {} ({}; {})", e.message, e.code, e.field)
            })
            .collect();
        return Err(Failure::Input(format!(
            "{} cannot be applied:\n  {}",
            args.file.display(),
            lines.join("\n  ")
        )));
    }
    let mut out = PlanOut {
        zones: plans
            .iter()
            .map(|p| ZonePlanOut {
                name: p.apex.to_string(),
                create: p.create.is_some(),
                changes: p
                    .steps
                    .iter()
                    .map(|s| StepOut {
                        action: s.action.as_str(),
                        origin: s.origin.clone(),
                        record_set: s.set.to_spec(),
                        before: s.before.as_ref().map(RecordSet::to_spec),
                    })
                    .collect(),
            })
            .collect(),
        checks: check_plan.clone(),
        collections: collection_plan.clone(),
        panels: panel_plan.clone(),
        drills: drill_plan.clone(),
        tsig_keys: key_plan.clone(),
        settings: setting_plan.clone(),
        applied: None,
    };
    let creates = plans.iter().filter(|p| p.create.is_some()).count();
    if batch.changes.is_empty()
        && creates == 0
        && check_plan.is_empty()
        && collection_plan.is_empty()
        && panel_plan.is_empty()
        && drill_plan.is_empty()
        && key_plan.is_empty()
        && setting_plan.is_empty()
    {
        return output(args.client.output, &out, |_| {
            "no changes: the store matches the file".into()
        });
    }
    if !args.yes {
        return output(args.client.output, &out, |o| {
            format!("{}\nrun again with --yes to apply", render(o))
        });
    }
    // Keys first: the zones' settings name them.
    for step in key_plan.iter().filter(|k| k.action == "CREATE") {
        let request = CreateTsigKey {
            name: step.name.clone(),
            algorithm: Some(step.algorithm.clone()),
            secret: step.secret.clone(),
        };
        api.create_tsig_key(&request).await?;
    }
    let mut created = Vec::new();
    for p in &plans {
        if let Some(request) = &p.create {
            match api.create_zone(request).await {
                Ok(_) => created.push(p.apex.to_string()),
                Err(ClientError::Api(e)) if e.code == "ZoneAlreadyExists" => {}
                Err(e) => {
                    rollback(&api, &created).await;
                    return Err(e.into());
                }
            }
        }
    }
    // Panels first (control checks follow their controls), then checks (children before the
    // calculated checks that name them), then the records that name them, then the checks
    // no longer wanted, then the panels no longer wanted.
    for step in panel_plan.iter().filter(|p| p.action != "DELETE") {
        if let Err(e) = api.put_panel(&step.panel).await {
            rollback(&api, &created).await;
            return Err(e.into());
        }
    }
    let mut puts: Vec<&CheckStep> = check_plan.iter().filter(|c| c.action != "DELETE").collect();
    puts.sort_by_key(|c| c.check.kind.eq_ignore_ascii_case("calculated"));
    for step in puts {
        if let Err(e) = api.put_check(&step.check).await {
            rollback(&api, &created).await;
            return Err(e.into());
        }
    }
    // Collections that only grow go before the records that name their new locations; one
    // that loses a location goes after the records that stop naming it.
    let grows = |step: &&CollectionStep| {
        current_collections.get(&step.collection.name).is_none_or(|now| {
            now.locations.keys().all(|l| step.collection.locations.contains_key(l))
        })
    };
    let (early, late): (Vec<&CollectionStep>, Vec<&CollectionStep>) =
        collection_plan.iter().filter(|c| c.action != "DELETE").partition(grows);
    for step in early {
        if let Err(e) = api.put_collection(&step.collection).await {
            rollback(&api, &created).await;
            return Err(e.into());
        }
    }
    if !batch.changes.is_empty() {
        match api.submit(None, &batch, true).await {
            Ok(change) => out.applied = Some(change),
            Err(e) => {
                rollback(&api, &created).await;
                return Err(e.into());
            }
        }
    }
    for step in late {
        api.put_collection(&step.collection).await?;
    }
    for step in &setting_plan {
        if let Some(t) = &step.transfers {
            api.set_zone_transfers(&step.zone, t).await?;
        }
        if let Some(u) = &step.updates {
            api.set_zone_updates(&step.zone, u).await?;
        }
    }
    // Drills name checks and controls: written after them, deleted before them.
    for step in drill_plan.iter().filter(|d| d.action != "DELETE") {
        api.put_drill(&step.drill).await?;
    }
    for step in drill_plan.iter().filter(|d| d.action == "DELETE") {
        match api.delete_drill(&step.drill.name).await {
            Ok(()) => {}
            Err(ClientError::Api(e)) if e.code == "DrillRunning" => {
                super::warn(&format!("kept the drill {:?}: {}", step.drill.name, e.message));
            }
            Err(e) => return Err(e.into()),
        }
    }
    for step in collection_plan.iter().filter(|c| c.action == "DELETE") {
        match api.delete_collection(&step.collection.name).await {
            Ok(()) => {}
            Err(ClientError::Api(e)) if e.code == "CidrCollectionInUse" => {
                super::warn(&format!(
                    "kept the CIDR collection {:?}: {}",
                    step.collection.name, e.message
                ));
            }
            Err(e) => return Err(e.into()),
        }
    }
    let mut deletes: Vec<&CheckStep> = check_plan.iter().filter(|c| c.action == "DELETE").collect();
    deletes.sort_by_key(|c| !c.check.kind.eq_ignore_ascii_case("calculated"));
    for step in deletes {
        // Checks are shared by every zone: one that a record elsewhere still names stays.
        match api.delete_check(&step.check.name).await {
            Ok(()) => {}
            Err(ClientError::Api(e)) if e.code == "CheckInUse" => {
                super::warn(&format!("kept the health check {:?}: {}", step.check.name, e.message));
            }
            Err(e) => return Err(e.into()),
        }
    }
    for step in panel_plan.iter().filter(|p| p.action == "DELETE") {
        match api.delete_panel(&step.panel.name).await {
            Ok(()) => {}
            Err(ClientError::Api(e)) if e.code == "ControlPanelInUse" => {
                super::warn(&format!(
                    "kept the control panel {:?}: {}",
                    step.panel.name, e.message
                ));
            }
            Err(e) => return Err(e.into()),
        }
    }
    for step in key_plan.iter().filter(|k| k.action == "DELETE") {
        match api.delete_tsig_key(&step.name).await {
            Ok(()) => {}
            Err(ClientError::Api(e)) if e.code == "TsigKeyInUse" => {
                super::warn(&format!("kept the TSIG key {}: {}", step.name, e.message));
            }
            Err(e) => return Err(e.into()),
        }
    }
    if args.client.output == Output::Text {
        say(&render(&out));
    }
    output(args.client.output, &out, |o| match &o.applied {
        Some(c) => format!("applied: change {} {}", c.id, c.status),
        None => {
            format!(
                "applied: {creates} zone(s) created, {} health check change(s), {} collection change(s), {} panel change(s), {} drill change(s), {} TSIG key change(s), {} zone setting change(s)",
                o.checks.len(),
                o.collections.len(),
                o.panels.len(),
                o.drills.len(),
                o.tsig_keys.len(),
                o.settings.len()
            )
        }
    })
}

/// The file's TSIG keys: name (absolute) -> (algorithm, secret read from its file). Errors
/// name the entry.
fn read_keys(
    state: &DesiredState,
    file: &Path,
    errors: &mut Vec<String>,
) -> BTreeMap<String, (String, String)> {
    let dir = file.parent().unwrap_or_else(|| Path::new("."));
    let mut keys = BTreeMap::new();
    for (i, k) in state.tsig_keys.iter().enumerate() {
        let Ok(name) = Name::parse_absolute(&k.name) else {
            errors.push(format!("tsig_keys[{i}].name: {:?} is not a domain name", k.name));
            continue;
        };
        let text = k.algorithm.as_deref().unwrap_or("hmac-sha256");
        let Some(algorithm) = turnout_dns::tsig::Algorithm::from_name(text) else {
            errors.push(format!(
                "tsig_keys[{i}].algorithm: {text:?} is not one of hmac-sha256, hmac-sha384, hmac-sha512, hmac-sha1"
            ));
            continue;
        };
        let path = dir.join(&k.secret_file);
        let secret = match std::fs::read_to_string(&path) {
            Ok(s) => s.trim().to_owned(),
            Err(e) => {
                errors.push(format!(
                    "tsig_keys[{i}].secret_file: cannot read {}: {e}",
                    path.display()
                ));
                continue;
            }
        };
        if keys.insert(name.to_string(), (algorithm.as_str().to_owned(), secret)).is_some() {
            errors.push(format!("tsig_keys[{i}].name: the key {name} is named twice"));
        }
    }
    keys
}

/// One planned control panel change (states are never planned: they change only through the
/// routing-control API).
#[derive(Debug, Clone, Serialize)]
struct PanelStep {
    action: &'static str,
    panel: ControlPanelSpec,
}

/// One planned drill change.
#[derive(Debug, Clone, Serialize)]
struct DrillStep {
    action: &'static str,
    drill: DrillSpec,
}

/// One planned CIDR collection change.
#[derive(Debug, Clone, Serialize)]
struct CollectionStep {
    action: &'static str,
    collection: CidrCollectionSpec,
}

/// CREATE new collections, UPSERT changed ones, DELETE (with prune) the others.
fn plan_collections(
    wanted: &BTreeMap<String, (CidrCollectionSpec, CidrCollection)>,
    current: &BTreeMap<String, CidrCollectionSpec>,
    prune: &dyn Fn(&str) -> bool,
) -> Vec<CollectionStep> {
    plan_named(wanted, current, prune, |s| s.validate().ok())
        .into_iter()
        .map(|(action, collection)| CollectionStep { action, collection })
        .collect()
}

/// The entries of one section of the file (`health_checks`, `drills`...) by name, each as
/// written and validated; every problem, and every name given twice, goes to `errors` as
/// `section[i].field: message (code)`.
fn wanted<S: Clone, V>(
    section: &str,
    items: &[S],
    name_of: impl Fn(&S) -> &String,
    validate: impl Fn(&S) -> Result<V, Vec<turnout_model::FieldError>>,
    errors: &mut Vec<String>,
) -> BTreeMap<String, (S, V)> {
    let mut out = BTreeMap::new();
    for (i, spec) in items.iter().enumerate() {
        match validate(spec) {
            Ok(valid) => {
                let name = name_of(spec).clone();
                if out.insert(name.clone(), (spec.clone(), valid)).is_some() {
                    errors.push(format!("{section}[{i}].name: {name:?} is named twice"));
                }
            }
            Err(es) => errors.extend(
                es.into_iter()
                    .map(|e| format!("{section}[{i}].{}: {} ({})", e.field, e.message, e.code)),
            ),
        }
    }
    out
}

/// The steps that make `current` match `wanted` (by name): CREATE what is new, UPSERT what
/// differs once validated (so a default written out is not a change), and DELETE what
/// `wanted` does not name and `prune` says may go.
fn plan_named<S: Clone, V: PartialEq>(
    wanted: &BTreeMap<String, (S, V)>,
    current: &BTreeMap<String, S>,
    prune: &dyn Fn(&str) -> bool,
    validate: impl Fn(&S) -> Option<V>,
) -> Vec<(&'static str, S)> {
    let mut steps = Vec::new();
    for (name, (spec, valid)) in wanted {
        match current.get(name) {
            None => steps.push(("CREATE", spec.clone())),
            Some(now) if validate(now).as_ref() == Some(valid) => {}
            Some(_) => steps.push(("UPSERT", spec.clone())),
        }
    }
    for (name, spec) in current {
        if !wanted.contains_key(name) && prune(name) {
            steps.push(("DELETE", spec.clone()));
        }
    }
    steps
}

/// The checks, collections and panels the records of some zones use, and what those checks
/// use in turn (a calculated check's children, a control check's panel).
#[derive(Debug, Default)]
struct PruneScope {
    checks: BTreeSet<String>,
    collections: BTreeSet<String>,
    panels: BTreeSet<String>,
}

impl PruneScope {
    fn of<'z>(
        zones: impl Iterator<Item = &'z ZoneRecords>,
        checks: &BTreeMap<String, HealthCheckSpec>,
    ) -> Self {
        let mut scope = PruneScope::default();
        let mut todo: Vec<String> = Vec::new();
        for set in zones.flat_map(|z| z.sets.values()) {
            todo.extend(set.health_check.clone());
            if let turnout_model::Policy::Cidr { collection, .. } = &set.policy {
                scope.collections.insert(collection.clone());
            }
        }
        while let Some(name) = todo.pop() {
            if !scope.checks.insert(name.clone()) {
                continue;
            }
            let Some(spec) = checks.get(&name) else { continue };
            todo.extend(spec.children.iter().flatten().cloned());
            if let Some((panel, _)) = spec.control.as_deref().and_then(|c| c.split_once('/')) {
                scope.panels.insert(panel.to_owned());
            }
        }
        scope
    }
}

/// One planned health-check change.
#[derive(Debug, Clone, Serialize)]
struct CheckStep {
    action: &'static str,
    check: HealthCheckSpec,
}

/// CREATE new checks, UPSERT changed ones (compared after validation, so a default written
/// out is not a change), DELETE (with prune) the ones the file does not name.
fn plan_checks(
    wanted: &BTreeMap<String, (HealthCheckSpec, HealthCheck)>,
    current: &BTreeMap<String, HealthCheckSpec>,
    prune: &dyn Fn(&str) -> bool,
) -> Vec<CheckStep> {
    plan_named(wanted, current, prune, |s| s.validate().ok())
        .into_iter()
        .map(|(action, check)| CheckStep { action, check })
        .collect()
}

fn describe_check(c: &HealthCheckSpec) -> String {
    let mut parts = vec![format!("check {}", c.name), c.kind.clone()];
    parts.extend(c.ip.clone());
    parts.extend(c.fqdn.clone());
    let show = |v: &Option<String>| v.clone();
    let num = |v: Option<i64>| v.map(|n| n.to_string());
    let flag = |v: Option<bool>| v.map(|b| b.to_string());
    let quoted = |v: &Option<String>| v.as_ref().map(|s| format!("{s:?}"));
    let fields = [
        ("prometheus", show(&c.prometheus)),
        ("query", quoted(&c.query)),
        ("comparison", show(&c.comparison)),
        ("threshold", c.threshold.map(|t| t.to_string())),
        ("insufficient_data", show(&c.insufficient_data)),
        ("port", num(c.port)),
        ("path", show(&c.path)),
        ("search", quoted(&c.search)),
        ("headers", c.headers.as_ref().map(|h| h.keys().cloned().collect::<Vec<_>>().join(","))),
        ("interval", show(&c.interval)),
        ("failure_threshold", num(c.failure_threshold)),
        ("recovery_threshold", num(c.recovery_threshold)),
        ("hold_down", show(&c.hold_down)),
        ("connect_timeout", show(&c.connect_timeout)),
        ("response_timeout", show(&c.response_timeout)),
        ("enable_sni", flag(c.enable_sni)),
        ("verify_tls", flag(c.verify_tls)),
        ("min_cert_days", num(c.min_cert_days)),
        ("tls_resumption", flag(c.tls_resumption)),
        ("inverted", flag(c.inverted)),
        ("disabled", flag(c.disabled)),
        ("children", c.children.as_ref().map(|ch| ch.join(","))),
        ("health_threshold", num(c.health_threshold)),
    ];
    for (field, value) in fields {
        if let Some(v) = value {
            parts.push(format!("{field}={v}"));
        }
    }
    parts.join(" ")
}

/// Deletes zones this run created, after a later step failed.
async fn rollback(api: &turnout_api::client::Client, created: &[String]) {
    for zone in created {
        if let Err(e) = api.delete_zone(zone, true).await {
            super::warn(&format!("could not delete the zone {zone} created by this run: {e}"));
        }
    }
}

fn render(plan: &PlanOut) -> String {
    let mut text = String::new();
    let (mut create, mut update, mut delete) = (0, 0, 0);
    let mark = |action: &str| match action {
        "CREATE" => "+",
        "DELETE" => "-",
        _ => "~",
    };
    for step in &plan.checks {
        text.push_str(&format!("{} {}\n", mark(step.action), describe_check(&step.check)));
    }
    for step in &plan.panels {
        let rules: Vec<&str> = step.panel.rules.iter().map(|r| r.name.as_str()).collect();
        let rules =
            if rules.is_empty() { String::new() } else { format!(" rules={}", rules.join(",")) };
        text.push_str(&format!(
            "{} panel {} controls={}{rules}\n",
            mark(step.action),
            step.panel.name,
            step.panel.controls.join(",")
        ));
    }
    for step in &plan.drills {
        let d = &step.drill;
        let what = match (&d.control, &d.check) {
            (Some(c), _) => format!("control={c} state={}", d.state.as_deref().unwrap_or("Off")),
            (_, Some(c)) => format!("check={c}"),
            _ => String::new(),
        };
        let guard = d.guard.as_deref().map(|g| format!(" guard={g}")).unwrap_or_default();
        text.push_str(&format!(
            "{} drill {} {what} for={}{guard}\n",
            mark(step.action),
            d.name,
            d.duration.as_deref().unwrap_or("5m")
        ));
    }
    for step in &plan.collections {
        let locations: Vec<String> = step
            .collection
            .locations
            .iter()
            .map(|(l, nets)| format!("{l}={}", nets.join(",")))
            .collect();
        text.push_str(&format!(
            "{} collection {} {}\n",
            mark(step.action),
            step.collection.name,
            locations.join(" ")
        ));
    }
    for step in &plan.tsig_keys {
        text.push_str(&format!(
            "{} tsig-key {} {}\n",
            mark(step.action),
            step.name,
            step.algorithm
        ));
    }
    for step in &plan.settings {
        let what = match (&step.transfers, &step.updates) {
            (Some(t), _) => serde_json::to_string(t).unwrap_or_default(),
            (_, Some(u)) => serde_json::to_string(u).unwrap_or_default(),
            _ => String::new(),
        };
        text.push_str(&format!("~ zone {} {} {what}\n", step.zone, step.kind));
    }
    for zone in &plan.zones {
        let state = if zone.create { " (new zone)" } else { "" };
        text.push_str(&format!("zone {}{state}\n", zone.name));
        if zone.changes.is_empty() {
            text.push_str("  (no changes)\n");
        }
        for step in &zone.changes {
            match step.action {
                a if a == Action::Create.as_str() => {
                    create += 1;
                    text.push_str(&format!("  + {}\n", describe(&step.record_set)));
                }
                a if a == Action::Delete.as_str() => {
                    delete += 1;
                    text.push_str(&format!("  - {}\n", describe(&step.record_set)));
                }
                _ => {
                    update += 1;
                    if let Some(before) = &step.before {
                        text.push_str(&format!("  ~ {}\n", describe(before)));
                    }
                    text.push_str(&format!("  → {}\n", describe(&step.record_set)));
                }
            }
        }
    }
    // Every kind of object counts in the totals; the breakdown names the kinds when there is
    // more than record sets.
    let count = |actions: &mut dyn Iterator<Item = &str>| {
        let mut n = [0usize; 3];
        for a in actions {
            n[match a {
                "CREATE" => 0,
                "DELETE" => 2,
                _ => 1,
            }] += 1;
        }
        n
    };
    let new_zones = plan.zones.iter().filter(|z| z.create).count();
    let kinds = [
        ("zones", [new_zones, 0, 0]),
        ("record sets", [create, update, delete]),
        ("checks", count(&mut plan.checks.iter().map(|c| c.action))),
        ("panels", count(&mut plan.panels.iter().map(|p| p.action))),
        ("drills", count(&mut plan.drills.iter().map(|d| d.action))),
        ("collections", count(&mut plan.collections.iter().map(|c| c.action))),
        ("TSIG keys", count(&mut plan.tsig_keys.iter().map(|k| k.action))),
        ("zone settings", [0, plan.settings.len(), 0]),
    ];
    let total = |i: usize| kinds.iter().map(|(_, n)| n[i]).sum::<usize>();
    text.push_str(&format!(
        "plan: {} to create, {} to change, {} to delete",
        total(0),
        total(1),
        total(2)
    ));
    let others = kinds.iter().any(|(k, n)| *k != "record sets" && n.iter().any(|x| *x > 0));
    if others {
        let parts: Vec<String> = kinds
            .iter()
            .filter(|(_, n)| n.iter().any(|x| *x > 0))
            .map(|(kind, n)| {
                let what: Vec<String> = ["to create", "to change", "to delete"]
                    .iter()
                    .zip(n)
                    .filter(|(_, x)| **x > 0)
                    .map(|(verb, x)| format!("{x} {verb}"))
                    .collect();
                format!("{kind}: {}", what.join(", "))
            })
            .collect();
        text.push_str(&format!(" ({})", parts.join("; ")));
    }
    text
}
