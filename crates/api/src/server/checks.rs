//! `/v1/checks`: create or replace, list, get and delete health checks, and read what the
//! health engine observed.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use turnout_health::engine::CheckState;
use turnout_model::health::HealthCheckSpec;

use super::{AppState, json_body, name_from_path};
use crate::error::ApiError;

/// The list of checks.
#[derive(Debug, Serialize, Deserialize)]
pub struct CheckList {
    /// In name order, as written.
    pub checks: Vec<HealthCheckSpec>,
}

/// A check's observed state.
#[derive(Debug, Serialize, Deserialize)]
pub struct CheckStatus {
    /// The check.
    pub name: String,
    /// The observed status stored for this node, which a restart starts from (none before the
    /// first transition).
    pub persisted: Option<String>,
    /// What the engine observed.
    #[serde(flatten)]
    pub state: CheckState,
    /// How long a failure of its target takes at worst to turn it unhealthy, by kind (endpoint
    /// checks only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detection: Option<turnout_model::health::Detection>,
}

/// The checkers: every node that probes, with the addresses its probes come from.
#[derive(Debug, Serialize, Deserialize)]
pub struct CheckerList {
    /// By node name.
    pub checkers: Vec<Checker>,
}

/// One checker.
#[derive(Debug, Serialize, Deserialize)]
pub struct Checker {
    /// The node's name.
    pub name: String,
    /// Its region.
    pub region: String,
    /// The addresses its probes come from (what a firewall in front of an endpoint lets in).
    pub source_addresses: Vec<String>,
    /// How long ago it last wrote its registration, in milliseconds.
    pub updated_ago_ms: u64,
}

/// `GET /v1/checkers`: as Route 53's GetCheckerIpRanges, but per node.
pub(crate) async fn checkers(State(state): State<AppState>) -> Json<CheckerList> {
    let checkers = state
        .control
        .cluster()
        .nodes
        .into_iter()
        .map(|n| Checker {
            name: n.record.name,
            region: n.record.region,
            source_addresses: n.record.probe_sources,
            updated_ago_ms: n.updated_ago_ms,
        })
        .collect();
    Json(CheckerList { checkers })
}

pub(crate) async fn list(State(state): State<AppState>) -> Json<CheckList> {
    Json(CheckList { checks: state.control.checks() })
}

pub(crate) async fn get(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<HealthCheckSpec>, ApiError> {
    Ok(Json(state.control.check(&name)?))
}

pub(crate) async fn put(
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<HealthCheckSpec>), ApiError> {
    let mut spec: HealthCheckSpec = json_body(body)?;
    name_from_path(&mut spec.name, &name)?;
    let created = state.control.put_check(&spec).await?;
    Ok((if created { StatusCode::CREATED } else { StatusCode::OK }, Json(spec)))
}

pub(crate) async fn delete(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.control.delete_check(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn status(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<CheckStatus>, ApiError> {
    state.control.check(&name)?;
    let check_state = state.control.health().state(&name).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "NoSuchHealthCheck",
            format!("no health check {name:?}"),
        )
    })?;
    let (persisted, detection) = {
        let st = state.control.read();
        let detection = st.checks.get(&name).and_then(|(_, c)| c.worst_detection());
        (st.observed.get(&name).map(ToString::to_string), detection)
    };
    Ok(Json(CheckStatus { name, persisted, state: check_state, detection }))
}
