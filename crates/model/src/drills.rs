//! Failover drills (docs/drills.md): a rehearsal that flips a routing control (or forces a
//! health check unhealthy) for a set time, watches a guard check that must stay healthy, and
//! reverts at the end, or at once when the guard fails.
//!
//! A drill is configuration, written and validated like a control panel; its runs are data the
//! control plane records. This module holds the written form ([`DrillSpec`]), its validation
//! into a [`Drill`], and the blocked windows ([`Window`]) in which a drill never starts.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::duration::parse_duration;
use crate::error::{ErrorCode, FieldError};
use crate::health::check_name_error;
use crate::name::Name;
use crate::rtype::RType;

/// The most names a drill watches.
pub const MAX_WATCH: usize = 20;
/// The most blocked windows of a drill.
pub const MAX_BLOCKED: usize = 20;
/// The longest comment.
pub const MAX_COMMENT: usize = 1000;

/// A drill as written (API bodies, `drills` of desired-state files).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DrillSpec {
    /// The drill's name.
    #[serde(default)]
    pub name: String,
    /// The routing control it flips, `panel/control` (or `check`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control: Option<String>,
    /// The state the control is set to during the drill: `On` or `Off` (default `Off`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// The health check it forces unhealthy (or `control`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<String>,
    /// How long the flip holds (default `5m`; `1s` to `24h`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
    /// A health check that must stay healthy: the drill aborts and reverts when it is not (a
    /// metric check guards by a metric).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guard: Option<String>,
    /// Answers recorded before and during the drill, as `NAME TYPE` (`www.example.com. A`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watch: Option<Vec<String>>,
    /// Runs on its own this often (`1h` to `2160h`, 90 days); none: only when asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<String>,
    /// Windows, in UTC, in which the drill never starts: `mon-fri 08:00-18:00`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked: Option<Vec<String>>,
    /// For people; kept in the audit trail with every run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// What a drill does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DrillAction {
    /// Set a routing control.
    Control {
        /// Its panel.
        panel: String,
        /// The control.
        control: String,
        /// On during the drill.
        on: bool,
    },
    /// Force a health check unhealthy.
    Check(String),
}

/// A validated drill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drill {
    /// The name.
    pub name: String,
    /// What it flips.
    pub action: DrillAction,
    /// How long.
    pub duration: Duration,
    /// The check that must stay healthy.
    pub guard: Option<String>,
    /// The answers recorded.
    pub watch: Vec<(Name, RType)>,
    /// The schedule.
    pub every: Option<Duration>,
    /// When it never starts.
    pub blocked: Vec<Window>,
}

/// A weekly window in UTC: some days of the week, from one minute of the day to another (a
/// window that ends before it starts runs past midnight into the next day).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    /// As written.
    pub text: String,
    /// Monday first.
    days: [bool; 7],
    /// Minutes after midnight.
    from: u16,
    /// Minutes after midnight (1440: midnight at the end of the day).
    to: u16,
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

impl Window {
    /// Parses `DAYS HH:MM-HH:MM`: DAYS is `*`, a day (`mon`), a range (`mon-fri`) or a list
    /// (`sat,sun`).
    pub fn parse(text: &str) -> Result<Window, String> {
        let bad = || {
            format!(
                "{text:?} is not a window like \"mon-fri 08:00-18:00\" (days: *, mon, mon-fri or sat,sun; times in UTC, 00:00 to 24:00)"
            )
        };
        let (days_text, times) = text.trim().split_once(' ').ok_or_else(bad)?;
        let mut days = [false; 7];
        let day = |d: &str| DAYS.iter().position(|x| x.eq_ignore_ascii_case(d));
        for part in days_text.split(',') {
            if part == "*" {
                days = [true; 7];
            } else if let Some((a, b)) = part.split_once('-') {
                let (a, b) = (day(a).ok_or_else(bad)?, day(b).ok_or_else(bad)?);
                let mut i = a;
                loop {
                    days[i] = true;
                    if i == b {
                        break;
                    }
                    i = (i + 1) % 7;
                }
            } else {
                days[day(part).ok_or_else(bad)?] = true;
            }
        }
        let minute = |t: &str| -> Option<u16> {
            let (h, m) = t.split_once(':')?;
            if h.len() != 2 || m.len() != 2 {
                return None;
            }
            let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
            (m < 60 && (h < 24 || (h == 24 && m == 0))).then_some(h * 60 + m)
        };
        let (from, to) = times.trim().split_once('-').ok_or_else(bad)?;
        let (from, to) = (minute(from).ok_or_else(bad)?, minute(to).ok_or_else(bad)?);
        if from == to || from == 1440 {
            return Err(bad());
        }
        Ok(Window { text: text.to_owned(), days, from, to })
    }

    /// Whether the instant `unix_secs` (seconds since 1970, UTC) is inside the window.
    pub fn contains(&self, unix_secs: u64) -> bool {
        let day = usize::try_from((unix_secs / 86_400 + 3) % 7).unwrap_or(0); // 1970-01-01: a Thursday
        let minute = u16::try_from(unix_secs % 86_400 / 60).unwrap_or(0);
        if self.from < self.to {
            self.days[day] && (self.from..self.to).contains(&minute)
        } else {
            // Past midnight: the evening of a listed day, or the morning after one.
            (self.days[day] && minute >= self.from)
                || (self.days[(day + 6) % 7] && minute < self.to)
        }
    }
}

fn duration_field(
    text: Option<&str>,
    field: &str,
    default: Duration,
    (min, max, range): (Duration, Duration, &str),
    errors: &mut Vec<FieldError>,
) -> Duration {
    let Some(text) = text else { return default };
    match parse_duration(text) {
        Some(d) if d >= min && d <= max => d,
        _ => {
            errors.push(FieldError::new(
                field,
                ErrorCode::InvalidValue,
                format!("{text:?} is not a duration from {range} (like 30s, 5m, 2h)"),
            ));
            default
        }
    }
}

impl DrillSpec {
    /// Validates the drill: every field, every error. Whether the control, the checks and the
    /// names exist is the control plane's to check.
    pub fn validate(&self) -> Result<Drill, Vec<FieldError>> {
        let mut errors = Vec::new();
        errors.extend(check_name_error(&self.name, "name"));
        let action = match (&self.control, &self.check) {
            (Some(_), Some(_)) => {
                errors.push(FieldError::new(
                    "check",
                    ErrorCode::ConflictingFields,
                    "a drill flips a control or forces a check, not both",
                ));
                None
            }
            (None, None) => {
                errors.push(FieldError::new(
                    "control",
                    ErrorCode::MissingField,
                    "name the routing control the drill flips (panel/control), or the check it forces unhealthy",
                ));
                None
            }
            (Some(text), None) => {
                let on = match self.state.as_deref().map(str::to_ascii_lowercase).as_deref() {
                    None | Some("off") => Some(false),
                    Some("on") => Some(true),
                    Some(other) => {
                        errors.push(FieldError::new(
                            "state",
                            ErrorCode::InvalidValue,
                            format!("{other:?} is not On or Off"),
                        ));
                        None
                    }
                };
                match text.split_once('/') {
                    Some((panel, control)) if !panel.is_empty() && !control.is_empty() => {
                        on.map(|on| DrillAction::Control {
                            panel: panel.to_owned(),
                            control: control.to_owned(),
                            on,
                        })
                    }
                    _ => {
                        errors.push(FieldError::new(
                            "control",
                            ErrorCode::InvalidValue,
                            format!("{text:?} is not panel/control"),
                        ));
                        None
                    }
                }
            }
            (None, Some(check)) => {
                if self.state.is_some() {
                    errors.push(FieldError::new(
                        "state",
                        ErrorCode::NotAllowed,
                        "state is for a drill that flips a control; a forced check is unhealthy",
                    ));
                }
                errors.extend(check_name_error(check, "check"));
                Some(DrillAction::Check(check.clone()))
            }
        };
        let duration = duration_field(
            self.duration.as_deref(),
            "duration",
            Duration::from_secs(300),
            (Duration::from_secs(1), Duration::from_secs(86_400), "1s to 24h"),
            &mut errors,
        );
        let every = self.every.as_deref().map(|text| {
            duration_field(
                Some(text),
                "every",
                Duration::ZERO,
                (
                    Duration::from_secs(3600),
                    Duration::from_secs(90 * 86_400),
                    "1h to 2160h (90 days)",
                ),
                &mut errors,
            )
        });
        if let Some(guard) = &self.guard {
            errors.extend(check_name_error(guard, "guard"));
            if self.check.as_ref() == Some(guard) {
                errors.push(FieldError::new(
                    "guard",
                    ErrorCode::InvalidValue,
                    "the guard is the check the drill forces unhealthy: it would always abort",
                ));
            }
        }
        let watch_text = self.watch.as_deref().unwrap_or_default();
        if watch_text.len() > MAX_WATCH {
            errors.push(FieldError::new(
                "watch",
                ErrorCode::LimitExceeded,
                format!("{} names; a drill watches at most {MAX_WATCH}", watch_text.len()),
            ));
        }
        let mut watch = Vec::new();
        for (i, text) in watch_text.iter().enumerate() {
            let field = format!("watch[{i}]");
            let mut parts = text.split_whitespace();
            let (Some(name), Some(rtype), None) = (parts.next(), parts.next(), parts.next()) else {
                errors.push(FieldError::new(
                    field,
                    ErrorCode::InvalidValue,
                    format!("{text:?} is not NAME TYPE (www.example.com. A)"),
                ));
                continue;
            };
            match (Name::parse_absolute(name), RType::from_mnemonic(rtype)) {
                (Ok(n), Some(t)) => watch.push((n, t)),
                (Err(e), _) => {
                    errors.push(FieldError::new(field, ErrorCode::InvalidValue, e.to_string()))
                }
                (_, None) => errors.push(FieldError::new(
                    field,
                    ErrorCode::InvalidValue,
                    format!("{rtype:?} is not a record type"),
                )),
            }
        }
        let blocked_text = self.blocked.as_deref().unwrap_or_default();
        if blocked_text.len() > MAX_BLOCKED {
            errors.push(FieldError::new(
                "blocked",
                ErrorCode::LimitExceeded,
                format!("{} windows; a drill has at most {MAX_BLOCKED}", blocked_text.len()),
            ));
        }
        let mut blocked = Vec::new();
        for (i, text) in blocked_text.iter().enumerate() {
            match Window::parse(text) {
                Ok(w) => blocked.push(w),
                Err(e) => errors.push(FieldError::new(
                    format!("blocked[{i}]"),
                    ErrorCode::InvalidValue,
                    e,
                )),
            }
        }
        if self.comment.as_ref().is_some_and(|c| c.chars().count() > MAX_COMMENT) {
            errors.push(FieldError::new(
                "comment",
                ErrorCode::InvalidValue,
                format!("a comment has at most {MAX_COMMENT} characters"),
            ));
        }
        match action {
            Some(action) if errors.is_empty() => Ok(Drill {
                name: self.name.clone(),
                action,
                duration,
                guard: self.guard.clone(),
                watch,
                every,
                blocked,
            }),
            _ => Err(errors),
        }
    }
}

impl Drill {
    /// The first blocked window `unix_secs` falls in.
    pub fn blocked_at(&self, unix_secs: u64) -> Option<&Window> {
        self.blocked.iter().find(|w| w.contains(unix_secs))
    }
}

#[cfg(test)]
#[path = "drills_tests.rs"]
mod tests;
