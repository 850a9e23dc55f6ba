//! `GET /v1/audit`: the audit trail of every configuration write (docs/api.md#get-v1audit).

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use serde::{Deserialize, Serialize};
use turnout_control::audit::{Filter, WriteRecord};

use super::{AppState, query};
use crate::error::ApiError;

/// The kinds of object a write may change.
pub const KINDS: [&str; 14] = [
    "zone",
    "record_set",
    "change",
    "caller_reference",
    "check",
    "collection",
    "panel",
    "routing_control",
    "token",
    "secret",
    "tsig_key",
    "dnssec_keys",
    "zone_view",
    "tags",
];

/// The most records one request returns.
pub const MAX_LIMIT: usize = 1000;

/// The audit trail.
#[derive(Debug, Serialize, Deserialize)]
pub struct Writes {
    /// Newest first.
    pub writes: Vec<WriteRecord>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuditQuery {
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    since: Option<String>,
    #[serde(default)]
    limit: Option<usize>,
}

pub(crate) async fn list(
    State(state): State<AppState>,
    q: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Json<Writes>, ApiError> {
    let q = query(q)?;
    if let Some(k) = &q.kind
        && !KINDS.contains(&k.as_str())
    {
        return Err(ApiError::invalid_input(
            "kind",
            format!("{k:?} is not one of {}", KINDS.join(", ")),
        ));
    }
    let limit = q.limit.unwrap_or(100);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::invalid_input(
            "limit",
            format!("{limit} is not between 1 and {MAX_LIMIT}"),
        ));
    }
    let since_ms = q.since.as_deref().map(since).transpose()?;
    let filter = Filter { kind: q.kind, name: q.name, token: q.token, since_ms, limit };
    Ok(Json(Writes { writes: state.control.write_history(&filter).await? }))
}

/// `since`: an RFC 3339 time, or a duration back from now (`24h`, `30m`).
fn since(text: &str) -> Result<u64, ApiError> {
    let bad = || {
        ApiError::invalid_input(
            "since",
            format!("{text:?} is neither an RFC 3339 time nor a duration like 24h"),
        )
    };
    let now = std::time::SystemTime::now();
    let at = match humantime::parse_rfc3339_weak(text) {
        Ok(t) => t,
        Err(_) => {
            let back = humantime::parse_duration(text).map_err(|_| bad())?;
            now.checked_sub(back).ok_or_else(bad)?
        }
    };
    let ms = at.duration_since(std::time::UNIX_EPOCH).map_err(|_| bad())?.as_millis();
    u64::try_from(ms).map_err(|_| bad())
}
