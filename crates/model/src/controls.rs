//! Routing controls (docs/routing-controls.md): control panels of On/Off switches, the safety
//! rules that guard them, and the pure check of an update against those rules.
//!
//! A panel is configuration (created, changed and deleted like health checks); a control's
//! state is data that only the routing-control API changes. [`check_update`] decides whether
//! an update may happen: every assertion rule must hold on the state *after* the update, every
//! gating rule over a changed target must hold on the state *before* it (the conservative
//! reading: the gate must already be open), and no rule whose controls change may be inside
//! its wait period. Overridden rules are skipped.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::duration::{format_duration, parse_duration};
use crate::error::{ErrorCode, FieldError};

/// The most controls in one panel (Route 53's quota).
pub const MAX_CONTROLS: usize = 100;
/// The most safety rules in one panel.
pub const MAX_RULES: usize = 20;
/// The longest panel, control or rule name.
pub const MAX_NAME_LEN: usize = 64;
/// A rule's wait period when none is given (Route 53's 5,000 ms).
pub const DEFAULT_WAIT: Duration = Duration::from_millis(5000);

/// A control panel as written (API bodies, `control_panels` of desired-state files).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlPanelSpec {
    /// The panel's name.
    #[serde(default)]
    pub name: String,
    /// Its routing controls' names.
    #[serde(default)]
    pub controls: Vec<String>,
    /// Its safety rules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<SafetyRuleSpec>,
}

/// A safety rule as written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SafetyRuleSpec {
    /// The rule's name, unique in its panel.
    #[serde(default)]
    pub name: String,
    /// `assertion` or `gating`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// Assertion: the controls the rule asserts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controls: Option<Vec<String>>,
    /// Gating: the controls that open the gate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gating_controls: Option<Vec<String>>,
    /// Gating: the controls that may change only while the gate is open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_controls: Option<Vec<String>>,
    /// The criterion.
    #[serde(default)]
    pub rule: RuleConfigSpec,
    /// After a change to one of its controls, further changes to them are refused this long;
    /// default `5s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_period: Option<String>,
}

/// A rule's criterion as written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfigSpec {
    /// `atleast`, `and` or `or`.
    #[serde(default)]
    pub kind: String,
    /// For `atleast`: how many controls must be On.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<i64>,
    /// Negate the result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inverted: Option<bool>,
}

/// A validated criterion: at least `threshold` of the controls On, negated if `inverted`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Criterion {
    /// How many must be On (AND: all; OR: 1).
    pub threshold: usize,
    /// Negate.
    pub inverted: bool,
}

impl Criterion {
    /// Whether the criterion holds when `on` of the controls are On.
    pub fn holds(self, on: usize) -> bool {
        (on >= self.threshold) != self.inverted
    }
}

/// What a rule constrains.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleKind {
    /// The criterion must hold over these controls after every update.
    Assertion {
        /// The asserted controls.
        controls: Vec<String>,
    },
    /// The targets may change only while the criterion holds over the gating controls.
    Gating {
        /// The gate.
        gating: Vec<String>,
        /// What the gate guards.
        targets: Vec<String>,
    },
}

/// A validated safety rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SafetyRule {
    /// The name.
    pub name: String,
    /// What it constrains.
    pub kind: RuleKind,
    /// The criterion.
    pub criterion: Criterion,
    /// The cooldown after a change to its controls.
    pub wait: Duration,
}

impl SafetyRule {
    /// The controls whose change the rule looks at (asserted, or gated targets).
    pub fn watched(&self) -> &[String] {
        match &self.kind {
            RuleKind::Assertion { controls } => controls,
            RuleKind::Gating { targets, .. } => targets,
        }
    }
}

/// A validated control panel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlPanel {
    /// The name.
    pub name: String,
    /// Its controls, in the order given.
    pub controls: Vec<String>,
    /// Its rules.
    pub rules: Vec<SafetyRule>,
}

/// The one name a panel cannot have: the routing-control API's audit trail is at
/// `/v1/controls/history`, where that panel's controls would be.
pub const RESERVED_PANEL: &str = "history";

/// Whether `name` is a valid panel, control or rule name: 1-64 characters, no space, no
/// control character, no `/` (it joins panel and control in `panel/control`).
pub fn name_error(name: &str, field: &str) -> Option<FieldError> {
    let ok = !name.is_empty()
        && name.chars().count() <= MAX_NAME_LEN
        && name.chars().all(|c| !c.is_whitespace() && !c.is_control() && c != '/');
    (!ok).then(|| {
        let code = if name.is_empty() { ErrorCode::MissingField } else { ErrorCode::InvalidValue };
        FieldError::new(
            field,
            code,
            format!("{name:?} must be 1-{MAX_NAME_LEN} characters without spaces or '/'"),
        )
    })
}

impl ControlPanelSpec {
    /// Validates the panel and its rules; every error is reported with its field.
    pub fn validate(&self) -> Result<ControlPanel, Vec<FieldError>> {
        let mut errors = Vec::new();
        errors.extend(name_error(&self.name, "name"));
        if self.name == RESERVED_PANEL {
            errors.push(FieldError::new(
                "name",
                ErrorCode::InvalidValue,
                "\"history\" is reserved: /v1/controls/history is the audit trail",
            ));
        }
        if self.controls.is_empty() {
            errors.push(FieldError::new(
                "controls",
                ErrorCode::MissingField,
                "a panel needs at least one routing control",
            ));
        }
        if self.controls.len() > MAX_CONTROLS {
            errors.push(FieldError::new(
                "controls",
                ErrorCode::LimitExceeded,
                format!("{} controls; a panel holds at most {MAX_CONTROLS}", self.controls.len()),
            ));
        }
        let mut known = BTreeSet::new();
        for (i, c) in self.controls.iter().enumerate() {
            let field = format!("controls[{i}]");
            errors.extend(name_error(c, &field));
            if !known.insert(c.as_str()) {
                errors.push(FieldError::new(
                    field,
                    ErrorCode::InvalidValue,
                    format!("{c:?} is listed twice"),
                ));
            }
        }
        if self.rules.len() > MAX_RULES {
            errors.push(FieldError::new(
                "rules",
                ErrorCode::LimitExceeded,
                format!("{} rules; a panel holds at most {MAX_RULES}", self.rules.len()),
            ));
        }
        let mut rules = Vec::new();
        let mut names = BTreeSet::new();
        for (i, r) in self.rules.iter().enumerate() {
            let at = format!("rules[{i}]");
            if !r.name.is_empty() && !names.insert(r.name.as_str()) {
                errors.push(FieldError::new(
                    format!("{at}.name"),
                    ErrorCode::InvalidValue,
                    format!("{:?} is named twice", r.name),
                ));
            }
            match r.validate(&known) {
                Ok(rule) => rules.push(rule),
                Err(es) => errors.extend(es.into_iter().map(|e| e.prefixed(&at))),
            }
        }
        if errors.is_empty() {
            Ok(ControlPanel { name: self.name.clone(), controls: self.controls.clone(), rules })
        } else {
            Err(errors)
        }
    }
}

impl SafetyRuleSpec {
    /// Validates the rule against the panel's controls.
    pub fn validate(&self, known: &BTreeSet<&str>) -> Result<SafetyRule, Vec<FieldError>> {
        let mut errors = Vec::new();
        errors.extend(name_error(&self.name, "name"));
        let list = |v: &Option<Vec<String>>, field: &str, errors: &mut Vec<FieldError>| {
            let v = v.clone().unwrap_or_default();
            if v.is_empty() {
                errors.push(FieldError::new(
                    field,
                    ErrorCode::MissingField,
                    format!("{field} lists at least one control of the panel"),
                ));
            }
            for (i, c) in v.iter().enumerate() {
                if !known.contains(c.as_str()) {
                    errors.push(FieldError::new(
                        format!("{field}[{i}]"),
                        ErrorCode::NotFound,
                        format!("{c:?} is not a control of this panel"),
                    ));
                }
            }
            v
        };
        let not_for = |set: bool, field: &str, kind: &str, errors: &mut Vec<FieldError>| {
            if set {
                errors.push(FieldError::new(
                    field,
                    ErrorCode::NotAllowed,
                    format!("{field} is not for {kind} rules"),
                ));
            }
        };
        let kind = match self.kind.as_str() {
            "assertion" => {
                not_for(
                    self.gating_controls.is_some(),
                    "gating_controls",
                    "assertion",
                    &mut errors,
                );
                not_for(
                    self.target_controls.is_some(),
                    "target_controls",
                    "assertion",
                    &mut errors,
                );
                Some(RuleKind::Assertion {
                    controls: list(&self.controls, "controls", &mut errors),
                })
            }
            "gating" => {
                not_for(self.controls.is_some(), "controls", "gating", &mut errors);
                let gating = list(&self.gating_controls, "gating_controls", &mut errors);
                let targets = list(&self.target_controls, "target_controls", &mut errors);
                Some(RuleKind::Gating { gating, targets })
            }
            other => {
                let code = if other.is_empty() {
                    ErrorCode::MissingField
                } else {
                    ErrorCode::InvalidValue
                };
                errors.push(FieldError::new(
                    "type",
                    code,
                    format!("{other:?} is not a rule type; use assertion or gating"),
                ));
                None
            }
        };
        let over = match &kind {
            Some(RuleKind::Assertion { controls }) => controls.len(),
            Some(RuleKind::Gating { gating, .. }) => gating.len(),
            None => 0,
        };
        let threshold = match (self.rule.kind.as_str(), self.rule.threshold) {
            ("and", None) => Some(over),
            ("or", None) => Some(1),
            ("atleast", Some(t))
                if t >= 1 && usize::try_from(t).is_ok_and(|t| t <= over.max(1)) =>
            {
                usize::try_from(t).ok()
            }
            ("atleast", Some(t)) => {
                errors.push(FieldError::new(
                    "rule.threshold",
                    ErrorCode::InvalidValue,
                    format!(
                        "{t} is outside 1-{} (the number of controls the rule reads)",
                        over.max(1)
                    ),
                ));
                None
            }
            ("atleast", None) => {
                errors.push(FieldError::new(
                    "rule.threshold",
                    ErrorCode::MissingField,
                    "an atleast rule needs a threshold",
                ));
                None
            }
            ("and" | "or", Some(_)) => {
                errors.push(FieldError::new(
                    "rule.threshold",
                    ErrorCode::NotAllowed,
                    "only atleast rules take a threshold",
                ));
                None
            }
            (other, _) => {
                let code = if other.is_empty() {
                    ErrorCode::MissingField
                } else {
                    ErrorCode::InvalidValue
                };
                errors.push(FieldError::new(
                    "rule.kind",
                    code,
                    format!("{other:?} is not a rule kind; use atleast, and or or"),
                ));
                None
            }
        };
        let wait = match self.wait_period.as_deref() {
            None => DEFAULT_WAIT,
            Some(text) => match parse_duration(text) {
                Some(d) if d <= Duration::from_secs(24 * 3600) => d,
                _ => {
                    errors.push(FieldError::new(
                        "wait_period",
                        ErrorCode::InvalidValue,
                        format!("{text:?} is not a duration from 0s to 24h (like 5s, 500ms)"),
                    ));
                    DEFAULT_WAIT
                }
            },
        };
        match (kind, threshold) {
            (Some(kind), Some(threshold)) if errors.is_empty() => Ok(SafetyRule {
                name: self.name.clone(),
                kind,
                criterion: Criterion { threshold, inverted: self.rule.inverted.unwrap_or(false) },
                wait,
            }),
            _ => Err(errors),
        }
    }
}

/// A routing control's state and its last change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControlState {
    /// On or Off.
    pub on: bool,
    /// When it last changed, milliseconds since the Unix epoch (0: never).
    #[serde(default)]
    pub changed_at_ms: u64,
    /// When set, the change reverts at this time (milliseconds since the Unix epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revert_at_ms: Option<u64>,
}

impl Default for ControlState {
    /// A new control is Off (Route 53 does not document the initial state; Off never sends
    /// traffic by surprise).
    fn default() -> Self {
        ControlState { on: false, changed_at_ms: 0, revert_at_ms: None }
    }
}

/// Why an update was refused by one rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    /// The rule.
    pub rule: String,
    /// Why, for people.
    pub reason: String,
    /// For a wait period: milliseconds until the rule's controls may change again (the
    /// refusal ends by itself then). Absent for every other refusal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

/// Checks an update of `panel` (control -> new state) against its rules; `states` holds every
/// control's current state. Entries that do not change a state are not changes. Rules named
/// in `overrides` are skipped. Returns every rule that refuses.
pub fn check_update(
    panel: &ControlPanel,
    states: &BTreeMap<String, ControlState>,
    update: &BTreeMap<String, bool>,
    overrides: &BTreeSet<String>,
    now_ms: u64,
) -> Vec<Refusal> {
    let before = |c: &str| states.get(c).is_some_and(|s| s.on);
    let changed: BTreeSet<&str> =
        update.iter().filter(|(c, on)| before(c) != **on).map(|(c, _)| c.as_str()).collect();
    let after = |c: &str| update.get(c).copied().unwrap_or_else(|| before(c));
    let mut refusals = Vec::new();
    for rule in &panel.rules {
        if overrides.contains(&rule.name)
            || !rule.watched().iter().any(|c| changed.contains(c.as_str()))
        {
            continue;
        }
        let count = |controls: &[String], state: &dyn Fn(&str) -> bool| {
            controls.iter().filter(|c| state(c)).count()
        };
        let verb = |c: Criterion| {
            let what = format!("at least {} On", c.threshold);
            if c.inverted { format!("not {what}") } else { what }
        };
        match &rule.kind {
            RuleKind::Assertion { controls } => {
                let on = count(controls, &after);
                if !rule.criterion.holds(on) {
                    refusals.push(Refusal {
                        rule: rule.name.clone(),
                        reason: format!(
                            "after the update {on} of {} ({}) would be On; the rule needs {}",
                            controls.len(),
                            controls.join(", "),
                            verb(rule.criterion)
                        ),
                        retry_after_ms: None,
                    });
                    continue;
                }
            }
            RuleKind::Gating { gating, .. } => {
                let on = count(gating, &before);
                if !rule.criterion.holds(on) {
                    refusals.push(Refusal {
                        rule: rule.name.clone(),
                        reason: format!(
                            "the gate is closed: {on} of {} ({}) are On; the targets may change only with {}",
                            gating.len(),
                            gating.join(", "),
                            verb(rule.criterion)
                        ),
                        retry_after_ms: None,
                    });
                    continue;
                }
            }
        }
        let wait_ms = u64::try_from(rule.wait.as_millis()).unwrap_or(u64::MAX);
        let recent = rule
            .watched()
            .iter()
            .filter_map(|c| states.get(c).map(|s| (c, s.changed_at_ms)))
            .filter(|(_, at)| *at > 0 && now_ms < at.saturating_add(wait_ms))
            .max_by_key(|(_, at)| *at);
        if let Some((control, at)) = recent {
            let left = at.saturating_add(wait_ms) - now_ms;
            refusals.push(Refusal {
                rule: rule.name.clone(),
                reason: format!(
                    "wait period: {control} changed {} ago; the rule's controls may change again in {}",
                    format_duration(Duration::from_millis(now_ms - at)),
                    format_duration(Duration::from_millis(left))
                ),
                retry_after_ms: Some(left),
            });
        }
    }
    refusals
}

#[cfg(test)]
#[path = "controls_tests.rs"]
mod tests;
