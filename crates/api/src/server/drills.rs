//! `/v1/drills` (configuration API): failover drills (docs/drills.md). Defining a drill needs
//! the `config` scope; running and aborting one flip routing controls, so they need the
//! `controls` scope, as a flip does.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use turnout_control::types::DrillRun;
use turnout_model::drills::DrillSpec;

use super::{AppState, TokenName, json_body, name_from_path, query};
use crate::error::ApiError;

/// The list of drills.
#[derive(Debug, Serialize, Deserialize)]
pub struct DrillList {
    /// In name order, as written.
    pub drills: Vec<DrillSpec>,
}

/// A drill's runs.
#[derive(Debug, Serialize, Deserialize)]
pub struct DrillRuns {
    /// Newest first; a run under way comes first.
    pub runs: Vec<DrillRun>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RunsQuery {
    #[serde(default)]
    limit: Option<usize>,
}

pub(crate) async fn list(State(state): State<AppState>) -> Json<DrillList> {
    Json(DrillList { drills: state.control.drills() })
}

pub(crate) async fn get(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<DrillSpec>, ApiError> {
    Ok(Json(state.control.drill(&name)?))
}

pub(crate) async fn put(
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<DrillSpec>), ApiError> {
    let mut spec: DrillSpec = json_body(body)?;
    name_from_path(&mut spec.name, &name)?;
    let created = state.control.put_drill(&spec).await?;
    Ok((if created { StatusCode::CREATED } else { StatusCode::OK }, Json(spec)))
}

pub(crate) async fn delete(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.control.delete_drill(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn runs(
    State(state): State<AppState>,
    Path(name): Path<String>,
    q: Result<Query<RunsQuery>, QueryRejection>,
) -> Result<Json<DrillRuns>, ApiError> {
    let limit = query(q)?.limit.unwrap_or(50).clamp(1, 1000);
    Ok(Json(DrillRuns { runs: state.control.drill_runs(&name, limit).await? }))
}

pub(crate) async fn run(
    State(state): State<AppState>,
    Extension(by): Extension<TokenName>,
    Path(name): Path<String>,
) -> Result<(StatusCode, Json<DrillRun>), ApiError> {
    Ok((StatusCode::ACCEPTED, Json(state.control.start_drill(&name, &by.0).await?)))
}

pub(crate) async fn abort(
    State(state): State<AppState>,
    Extension(by): Extension<TokenName>,
    Path(name): Path<String>,
) -> Result<Json<DrillRun>, ApiError> {
    Ok(Json(state.control.abort_drill(&name, &by.0).await?))
}
