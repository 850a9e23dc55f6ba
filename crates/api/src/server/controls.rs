//! The routing-control API, on its own listener (`turnout serve --controls`): read and change
//! routing-control states under the panels' safety rules, and read the audit trail. It needs
//! only the store, not the configuration API; writes need a token with the `controls` scope.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use turnout_control::routing_controls::{AuditRecord, ControlUpdate, ControlView};

use super::{AppState, TokenName, json_body, query};
use crate::error::ApiError;

/// Routing controls with their states.
#[derive(Debug, Serialize, Deserialize)]
pub struct ControlList {
    /// By panel, then in the panel's order.
    pub controls: Vec<ControlView>,
}

/// The audit trail.
#[derive(Debug, Serialize, Deserialize)]
pub struct History {
    /// Newest first.
    pub records: Vec<AuditRecord>,
}

/// One control's update: its new state, and the update's other fields.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetControl {
    /// `On` or `Off`.
    pub state: String,
    /// Why (required).
    #[serde(default)]
    pub reason: String,
    /// Rules to skip.
    #[serde(default)]
    pub override_rules: Vec<String>,
    /// Revert after this long.
    #[serde(rename = "for", default)]
    pub duration: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DryRunQuery {
    #[serde(default)]
    dry_run: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HistoryQuery {
    #[serde(default)]
    panel: Option<String>,
    #[serde(default)]
    limit: Option<usize>,
}

pub(crate) async fn list(State(state): State<AppState>) -> Result<Json<ControlList>, ApiError> {
    Ok(Json(ControlList { controls: state.control.controls(None)? }))
}

pub(crate) async fn panel(
    State(state): State<AppState>,
    Path(panel): Path<String>,
) -> Result<Json<ControlList>, ApiError> {
    Ok(Json(ControlList { controls: state.control.controls(Some(&panel))? }))
}

pub(crate) async fn get(
    State(state): State<AppState>,
    Path((panel, control)): Path<(String, String)>,
) -> Result<Json<ControlView>, ApiError> {
    let all = state.control.controls(Some(&panel))?;
    let found = all.into_iter().find(|c| c.control == control);
    found.map(Json).ok_or_else(|| {
        turnout_control::ControlError::NoSuchControl(format!("{panel}/{control}")).into()
    })
}

pub(crate) async fn set(
    State(state): State<AppState>,
    Extension(by): Extension<TokenName>,
    Path((panel, control)): Path<(String, String)>,
    q: Result<Query<DryRunQuery>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let one: SetControl = json_body(body)?;
    let update = ControlUpdate {
        states: [(control, one.state)].into(),
        reason: one.reason,
        override_rules: one.override_rules,
        duration: one.duration,
    };
    apply(&state, &panel, &update, &by.0, query(q)?.dry_run).await
}

pub(crate) async fn batch(
    State(state): State<AppState>,
    Extension(by): Extension<TokenName>,
    Path(panel): Path<String>,
    q: Result<Query<DryRunQuery>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let update: ControlUpdate = json_body(body)?;
    apply(&state, &panel, &update, &by.0, query(q)?.dry_run).await
}

/// Applies an update (its audit record), or with `dry_run` says what it would do.
async fn apply(
    state: &AppState,
    panel: &str,
    update: &ControlUpdate,
    token: &str,
    dry_run: bool,
) -> Result<Response, ApiError> {
    if dry_run {
        return Ok(Json(state.control.what_if(panel, update).await?).into_response());
    }
    Ok(Json(state.control.update_controls(panel, update, token).await?).into_response())
}

pub(crate) async fn history(
    State(state): State<AppState>,
    q: Result<Query<HistoryQuery>, QueryRejection>,
) -> Result<Json<History>, ApiError> {
    let q = query(q)?;
    let limit = q.limit.unwrap_or(100).clamp(1, 10_000);
    Ok(Json(History { records: state.control.control_history(q.panel.as_deref(), limit).await? }))
}
