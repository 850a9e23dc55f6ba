//! Routing controls: control panels (configuration), control states (changed only through
//! [`Control::update_controls`]), and the audit trail of every update.
//!
//! An update is checked against the panel's safety rules on the state read with it, and
//! committed through the one write path (`write.rs`), guarded by the panel and every
//! control state of it: if another update (or the panel's deletion) lands in between, the
//! transaction fails and the update is checked again on the new state. So two concurrent
//! updates can never jointly break a rule, nor flip a control of a panel that is gone.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use turnout_model::controls::{
    ControlPanel, ControlPanelSpec, ControlState, Refusal, check_update,
};
use turnout_model::health::CheckKind;
use turnout_store::{Op, StoreError, Txn};

use crate::node::Control;
use crate::write::{Lane, Plan};
use crate::{ControlError, invalid, keys, random_base32};

/// A routing control as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControlView {
    /// Its panel.
    pub panel: String,
    /// Its name.
    pub control: String,
    /// `On` or `Off`.
    pub state: String,
    /// When it last changed (RFC 3339), if ever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed_at: Option<String>,
    /// When a timed change reverts (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reverts_at: Option<String>,
}

/// One control's change within an update.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControlChange {
    /// The control.
    pub control: String,
    /// `On` or `Off` before.
    pub from: String,
    /// `On` or `Off` asked for.
    pub to: String,
}

/// An update of routing controls, as the audit trail keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Its id.
    pub id: String,
    /// RFC 3339, milliseconds.
    pub at: String,
    /// The token that asked (its name).
    pub token: String,
    /// The panel.
    pub panel: String,
    /// What was asked.
    pub changes: Vec<ControlChange>,
    /// Why (required).
    pub reason: String,
    /// `applied` or `refused`.
    pub outcome: String,
    /// The rules that refused it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refused_by: Vec<Refusal>,
    /// The rules the caller overrode (recorded even when they would have held).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub overridden: Vec<String>,
    /// For a timed change: when it reverts (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reverts_at: Option<String>,
}

/// An update request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlUpdate {
    /// Control name -> `On` or `Off` (case-insensitive).
    pub states: BTreeMap<String, String>,
    /// Why (required; kept in the audit trail).
    #[serde(default)]
    pub reason: String,
    /// Rules to skip for this update.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub override_rules: Vec<String>,
    /// Revert the change after this long (like `2h`).
    #[serde(rename = "for", default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

fn rfc3339_ms(ms: u64) -> String {
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

fn on_off(on: bool) -> &'static str {
    if on { "On" } else { "Off" }
}

/// The longest reason an update may give (characters): it is kept in every audit record.
pub const MAX_REASON: usize = 1000;

/// What an update asks for, checked field by field (the same checks for a dry run as for the
/// update itself): its states (control -> On), the rules it overrides, and how long a timed
/// change lasts.
struct Parsed {
    wanted: BTreeMap<String, bool>,
    overrides: BTreeSet<String>,
    duration: Option<Duration>,
}

/// Checks an update's fields: a reason (1 to [`MAX_REASON`] characters, not only spaces), at
/// least one control, each state On or Off (an error names `states.<control>`), a duration
/// from 1 s to 720 h.
fn parse_update(update: &ControlUpdate) -> Result<Parsed, ControlError> {
    if update.reason.trim().is_empty() {
        return Err(invalid("reason", "give a reason: it is kept in the audit trail"));
    }
    let length = update.reason.chars().count();
    if length > MAX_REASON {
        return Err(invalid(
            "reason",
            format!("{length} characters; a reason has at most {MAX_REASON}"),
        ));
    }
    if update.states.is_empty() {
        return Err(invalid("states", "name at least one control and its state"));
    }
    let mut wanted = BTreeMap::new();
    for (control, state) in &update.states {
        let on = match state.to_ascii_lowercase().as_str() {
            "on" => true,
            "off" => false,
            _ => {
                return Err(invalid(
                    &format!("states.{control}"),
                    format!("{state:?} is not On or Off"),
                ));
            }
        };
        wanted.insert(control.clone(), on);
    }
    let duration = match update.duration.as_deref() {
        None => None,
        Some(text) => match turnout_model::health::parse_duration(text) {
            Some(d) if d >= Duration::from_secs(1) && d <= Duration::from_secs(30 * 86400) => {
                Some(d)
            }
            _ => {
                return Err(invalid(
                    "for",
                    format!("{text:?} is not a duration from 1s to 720h (like 30m, 2h)"),
                ));
            }
        },
    };
    Ok(Parsed { wanted, overrides: update.override_rules.iter().cloned().collect(), duration })
}

/// The panel an update names and its controls' states, after checking that the update names
/// only its controls and rules.
fn panel_states<'a>(
    st: &'a crate::state::State,
    panel: &str,
    wanted: &BTreeMap<String, bool>,
    overrides: &BTreeSet<String>,
) -> Result<(&'a ControlPanel, BTreeMap<String, ControlState>), ControlError> {
    let Some((_, p)) = st.panels.get(panel) else {
        return Err(ControlError::NoSuchPanel(panel.to_owned()));
    };
    if let Some(control) = wanted.keys().find(|c| !p.controls.contains(c)) {
        return Err(ControlError::NoSuchControl(format!("{panel}/{control}")));
    }
    if let Some(rule) = overrides.iter().find(|o| !p.rules.iter().any(|r| r.name == **o)) {
        return Err(invalid(
            "override_rules",
            format!("{rule:?} is not a safety rule of the panel {panel:?}"),
        ));
    }
    let states = p
        .controls
        .iter()
        .map(|c| {
            let key = (panel.to_owned(), c.clone());
            let (state, _) = st.control_states.get(&key).cloned().unwrap_or_default();
            (c.clone(), state)
        })
        .collect();
    Ok((p, states))
}

impl Control {
    /// Every control panel, as written, in name order.
    pub fn panels(&self) -> Vec<ControlPanelSpec> {
        self.read().panels.values().map(|(spec, _)| spec.clone()).collect()
    }

    /// One control panel, as written.
    pub fn panel(&self, name: &str) -> Result<ControlPanelSpec, ControlError> {
        self.read()
            .panels
            .get(name)
            .map(|(spec, _)| spec.clone())
            .ok_or_else(|| ControlError::NoSuchPanel(name.to_owned()))
    }

    /// Creates or replaces a control panel; returns whether it was created. New controls
    /// start Off; a replacement may not drop a control that a health check follows. States
    /// never change here.
    pub async fn put_panel(&self, spec: &ControlPanelSpec) -> Result<bool, ControlError> {
        let panel = spec.validate().map_err(ControlError::InvalidPanel)?;
        let value = serde_json::to_vec(spec).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let written = self
            .write(Lane::Config, |st, reads| {
                reads.object(keys::panel(&panel.name));
                let dropped: Vec<String> = st
                    .panels
                    .get(&panel.name)
                    .map(|(_, old)| {
                        old.controls
                            .iter()
                            .filter(|c| !panel.controls.contains(c))
                            .cloned()
                            .collect()
                    })
                    .unwrap_or_default();
                if !dropped.is_empty() {
                    reads.prefix(keys::checks());
                }
                if !dropped.is_empty() {
                    reads.prefix(keys::drills());
                }
                for c in &dropped {
                    if let Some(check) = check_following(st, &panel.name, Some(c)) {
                        return Err(ControlError::PanelInUse {
                            name: panel.name.clone(),
                            user: format!("health check {check:?} (control {c:?})"),
                        });
                    }
                    if let Some(drill) = st.drill_flipping(&panel.name, Some(c)) {
                        return Err(ControlError::PanelInUse {
                            name: panel.name.clone(),
                            user: format!("drill {drill:?} (control {c:?})"),
                        });
                    }
                }
                let mut ops = vec![Op::put(keys::panel(&panel.name), value.clone())];
                ops.extend(dropped.iter().map(|c| Op::delete(keys::control(&panel.name, c))));
                Ok(Plan::Write { ops, value: !st.panels.contains_key(&panel.name) })
            })
            .await?;
        Ok(written.value)
    }

    /// Deletes a control panel (and its controls' states) that no health check follows.
    pub async fn delete_panel(&self, name: &str) -> Result<(), ControlError> {
        self.write(Lane::Config, |st, reads| {
            reads.object(keys::panel(name));
            if !st.panels.contains_key(name) {
                return Err(ControlError::NoSuchPanel(name.to_owned()));
            }
            reads.prefix(keys::checks());
            if let Some(check) = check_following(st, name, None) {
                return Err(ControlError::PanelInUse {
                    name: name.to_owned(),
                    user: format!("health check {check:?}"),
                });
            }
            reads.prefix(keys::drills());
            if let Some(drill) = st.drill_flipping(name, None) {
                return Err(ControlError::PanelInUse {
                    name: name.to_owned(),
                    user: format!("drill {drill:?}"),
                });
            }
            let ops = vec![
                Op::delete(keys::panel(name)),
                Op::DeletePrefix { prefix: keys::controls(name) },
            ];
            Ok(Plan::Write { ops, value: () })
        })
        .await?;
        Ok(())
    }
}

/// The first health check that follows a control of `panel` (or that one control).
fn check_following(st: &crate::state::State, panel: &str, control: Option<&str>) -> Option<String> {
    st.checks.values().find_map(|(_, c)| match &c.kind {
        CheckKind::Control { panel: p, control: k }
            if p == panel && control.is_none_or(|x| x == k) =>
        {
            Some(c.name.clone())
        }
        _ => None,
    })
}

impl Control {
    /// Every routing control of a panel (or of every panel), with its state.
    pub fn controls(&self, panel: Option<&str>) -> Result<Vec<ControlView>, ControlError> {
        let st = self.read();
        if let Some(p) = panel
            && !st.panels.contains_key(p)
        {
            return Err(ControlError::NoSuchPanel(p.to_owned()));
        }
        let mut out = Vec::new();
        for (name, (_, p)) in st.panels.iter().filter(|(n, _)| panel.is_none_or(|x| x == *n)) {
            for c in &p.controls {
                let state = st
                    .control_states
                    .get(&(name.clone(), c.clone()))
                    .map(|(s, _)| s.clone())
                    .unwrap_or_default();
                out.push(ControlView {
                    panel: name.clone(),
                    control: c.clone(),
                    state: on_off(state.on).to_owned(),
                    changed_at: (state.changed_at_ms > 0).then(|| rfc3339_ms(state.changed_at_ms)),
                    reverts_at: state.revert_at_ms.map(rfc3339_ms),
                });
            }
        }
        Ok(out)
    }

    /// Checks an update of `panel` against its safety rules and, if none refuses (or those
    /// that do are overridden), commits it in one transaction. Applied or refused, the
    /// update is recorded in the audit trail with `token` (the caller's token name).
    pub async fn update_controls(
        &self,
        panel: &str,
        update: &ControlUpdate,
        token: &str,
    ) -> Result<AuditRecord, ControlError> {
        let Parsed { wanted, overrides, duration } = parse_update(update)?;
        let written = self
            .write(Lane::Controls, |st, reads| {
                let now = now_ms();
                reads.object(keys::panel(panel));
                let (p, states) = panel_states(st, panel, &wanted, &overrides)?;
                // The decision reads every control's state of the panel (the rules do).
                for c in &p.controls {
                    reads.object(keys::control(panel, c));
                }
                let refusals = check_update(p, &states, &wanted, &overrides, now);
                let changes: Vec<ControlChange> = wanted
                    .iter()
                    .map(|(c, on)| ControlChange {
                        control: c.clone(),
                        from: on_off(states.get(c).is_some_and(|s| s.on)).to_owned(),
                        to: on_off(*on).to_owned(),
                    })
                    .collect();
                let revert_at_ms =
                    duration.map(|d| now + u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
                let record = AuditRecord {
                    id: random_base32(10)?,
                    at: rfc3339_ms(now),
                    token: token.to_owned(),
                    panel: panel.to_owned(),
                    changes,
                    reason: update.reason.clone(),
                    outcome: if refusals.is_empty() { "applied" } else { "refused" }.to_owned(),
                    refused_by: refusals.clone(),
                    overridden: update.override_rules.clone(),
                    reverts_at: revert_at_ms.map(rfc3339_ms),
                };
                let mut ops = vec![Op::put(
                    keys::audit_record(now, &record.id),
                    serde_json::to_vec(&record).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                )];
                // A refusal is recorded and nothing else changes. It is guarded too: a
                // refusal judged on a state another node has changed since is judged again.
                if refusals.is_empty() {
                    for (control, on) in &wanted {
                        let old = &states[control];
                        // A control set to the state it has keeps its last-change time, so
                        // a no-op does not restart wait periods.
                        let changed_at_ms = if old.on == *on { old.changed_at_ms } else { now };
                        let state = ControlState { on: *on, changed_at_ms, revert_at_ms };
                        ops.push(Op::put(
                            keys::control(panel, control),
                            serde_json::to_vec(&state)
                                .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                        ));
                    }
                }
                Ok(Plan::Write { ops, value: record })
            })
            .await?;
        let record = written.value;
        if record.outcome == "refused" {
            return Err(ControlError::SafetyRules(record.refused_by));
        }
        Ok(record)
    }

    /// Deletes the audit records (routing-control updates and configuration writes) made
    /// before `cutoff`; returns how many.
    pub async fn prune_audit(&self, cutoff: SystemTime) -> Result<usize, ControlError> {
        let cutoff_ms = cutoff
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let mut pruned = 0;
        for prefix in [keys::audit(), keys::writes()] {
            let range = self.store().range(&prefix).await?;
            // Keys are `<ms, 15 digits>-<id>`: oldest first.
            let old: Vec<Op> = range
                .kvs
                .iter()
                .take_while(|kv| {
                    let at =
                        kv.key[prefix.len()..].split('-').next().and_then(|ms| ms.parse().ok());
                    at.is_some_and(|ms: u64| ms < cutoff_ms)
                })
                .map(|kv| Op::delete(kv.key.clone()))
                .collect();
            for chunk in old.chunks(100) {
                self.store().txn(Txn { success: chunk.to_vec(), ..Txn::default() }).await?;
            }
            pruned += old.len();
        }
        Ok(pruned)
    }

    /// The audit trail, newest first, at most `limit` records (of one panel, if given).
    pub async fn control_history(
        &self,
        panel: Option<&str>,
        limit: usize,
    ) -> Result<Vec<AuditRecord>, ControlError> {
        let range = self.store().range(&keys::audit()).await?;
        let mut out = Vec::new();
        for kv in range.kvs.iter().rev() {
            let Ok(record) = serde_json::from_slice::<AuditRecord>(&kv.value) else { continue };
            if panel.is_some_and(|p| p != record.panel) {
                continue;
            }
            out.push(record);
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    /// Reverts timed changes whose time has come (called every second by
    /// [`crate::run_control_expiry`]), except those `skip` names: each control goes back to
    /// the opposite state through the safety rules like any update, as the token `turnout`
    /// with the reason `expired`. Returns the (panel, control) pairs that could not revert.
    pub async fn revert_expired(
        &self,
        skip: &(dyn Fn(&str, &str) -> bool + Sync),
    ) -> Vec<(String, String)> {
        let now = now_ms();
        let due: Vec<(String, String, bool)> = self
            .read()
            .control_states
            .iter()
            .filter(|((p, c), (s, _))| s.revert_at_ms.is_some_and(|t| t <= now) && !skip(p, c))
            .map(|((p, c), (s, _))| (p.clone(), c.clone(), !s.on))
            .collect();
        let mut failed = Vec::new();
        for (panel, control, on) in due {
            let update = ControlUpdate {
                states: [(control.clone(), on_off(on).to_owned())].into(),
                reason: "expired: the timed change ended".to_owned(),
                override_rules: Vec::new(),
                duration: None,
            };
            if let Err(e) = self.update_controls(&panel, &update, "turnout").await {
                tracing::warn!("cannot revert {panel}/{control} at its expiry: {e}");
                failed.push((panel, control));
            }
        }
        failed
    }
}

/// How one answer would change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnswerChange {
    /// The name.
    pub name: String,
    /// The type.
    #[serde(rename = "type")]
    pub rtype: String,
    /// The answer now, one record per line.
    pub before: Vec<String>,
    /// The answer after the update.
    pub after: Vec<String>,
}

/// What an update would do, without doing it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WhatIf {
    /// `would apply` or `would be refused`.
    pub outcome: String,
    /// The rules that would refuse it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refused_by: Vec<Refusal>,
    /// Every answer that would change (for a client of unknown location), by name and type.
    pub answers: Vec<AnswerChange>,
}

impl Control {
    /// What `update` would do: whether the safety rules would let it through, and every
    /// answer that would change. Nothing is written. The answers are computed by compiling
    /// every zone against the health the update would leave (control checks, and calculated
    /// checks over them, recomputed; every other check as it is now) and asking both
    /// snapshots the same questions with the same random draw. Only the inputs are read under
    /// the configuration's lock; the compiling runs on a blocking thread, off the runtime.
    pub async fn what_if(
        &self,
        panel: &str,
        update: &ControlUpdate,
    ) -> Result<WhatIf, ControlError> {
        use std::sync::Arc;
        use turnout_health::hysteresis::final_status;
        use turnout_model::health::Status;

        let Parsed { wanted, overrides, .. } = parse_update(update)?;
        let live = Arc::clone(&*self.snapshots().ok_or(ControlError::NotReady)?.load());
        let (refusals, status, collections, zones) = {
            let st = self.read();
            let (p, states) = panel_states(&st, panel, &wanted, &overrides)?;
            let refusals = check_update(p, &states, &wanted, &overrides, now_ms());
            // The health the update would leave.
            let mut controls = st.control_map();
            for (c, on) in &wanted {
                controls.insert(format!("{panel}/{c}"), *on);
            }
            let health = self.health();
            let mut status: BTreeMap<String, Status> = BTreeMap::new();
            for (name, (_, check)) in &st.checks {
                let s = match &check.kind {
                    CheckKind::Control { panel, control } => {
                        let on =
                            controls.get(&format!("{panel}/{control}")).copied().unwrap_or(false);
                        final_status(if on { Status::Healthy } else { Status::Unhealthy }, check)
                    }
                    _ => health.slot(name).get(),
                };
                status.insert(name.clone(), s);
            }
            for (name, (_, check)) in &st.checks {
                if let CheckKind::Calculated { children, threshold } = &check.kind {
                    let healthy = children
                        .iter()
                        .filter(|c| status.get(*c) != Some(&Status::Unhealthy))
                        .count();
                    let observed = if healthy >= usize::from(*threshold) {
                        Status::Healthy
                    } else {
                        Status::Unhealthy
                    };
                    status.insert(name.clone(), final_status(observed, check));
                }
            }
            let collections: BTreeMap<String, _> =
                st.collections.iter().map(|(k, (_, c))| (k.clone(), Arc::clone(c))).collect();
            // Only a zone with a health-checked record can answer differently when statuses
            // change: the others are neither compiled nor compared.
            let zones: Vec<Arc<turnout_model::ZoneRecords>> = st
                .records
                .iter()
                .filter(|(a, r)| {
                    st.zones.contains_key(*a)
                        && r.sets.not_plain().any(|s| s.health_check.is_some())
                })
                .map(|(_, r)| Arc::clone(r))
                .collect();
            (refusals, status, collections, zones)
        };
        let answers = tokio::task::spawn_blocking(move || {
            answers_after(&zones, &status, &collections, &live)
        })
        .await
        .map_err(|e| invalid("states", format!("the what-if computation failed: {e}")))??;
        Ok(WhatIf {
            outcome: if refusals.is_empty() { "would apply" } else { "would be refused" }
                .to_owned(),
            refused_by: refusals,
            answers,
        })
    }
}

/// Every answer of a policy group that differs between `live` and the zones compiled with
/// `status`, each asked with the same random draw.
fn answers_after(
    zones: &[std::sync::Arc<turnout_model::ZoneRecords>],
    status: &BTreeMap<String, turnout_model::health::Status>,
    collections: &BTreeMap<String, std::sync::Arc<turnout_model::cidr::CidrCollection>>,
    live: &turnout_dns::Snapshot,
) -> Result<Vec<AnswerChange>, ControlError> {
    use std::sync::Arc;
    use turnout_model::health::{HealthSlot, Status};

    // The live snapshot with each of these zones recompiled under `status`; every other zone's
    // part is shared with it.
    let locator = live.locator();
    let mut changes = Vec::new();
    for records in zones {
        let slot = |name: &str| {
            Arc::new(HealthSlot::new(status.get(name).copied().unwrap_or(Status::Healthy)))
        };
        let zone =
            turnout_model::compile::compile_zone(records, &slot, &|c| collections.get(c).cloned());
        match zone.map(|z| turnout_dns::ZonePart::build_validated(&z, locator.as_ref())) {
            Ok(Ok(part)) => changes.push((records.apex.clone(), Some(Arc::new(part)))),
            _ => tracing::debug!("what-if: zone {} does not compile; left out", records.apex),
        }
    }
    let after = live
        .update(changes)
        .map_err(|e| invalid("states", format!("cannot compile the zones: {e}")))?;
    // Every policy group, asked before and after with the same draw.
    let mut answers = Vec::new();
    for records in zones {
        let mut seen = BTreeSet::new();
        for set in records.sets.not_plain() {
            let key = (set.name.clone(), set.rtype);
            let grouped = !matches!(set.policy, turnout_model::Policy::Simple)
                || matches!(set.data, turnout_model::RecordData::Alias { .. });
            if !grouped || !seen.insert(key) {
                continue;
            }
            let ask = |snap: &turnout_dns::Snapshot| {
                let mut ctx = turnout_dns::Context::new(None, 0x5eed);
                let mut lines = turnout_dns::explain(snap, &set.name, set.rtype, &mut ctx).answer;
                lines.sort();
                lines
            };
            let (before, now) = (ask(live), ask(&after));
            if before != now {
                answers.push(AnswerChange {
                    name: set.name.to_string(),
                    rtype: set.rtype.to_string(),
                    before,
                    after: now,
                });
            }
        }
    }
    Ok(answers)
}
