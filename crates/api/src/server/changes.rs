//! `/v1/changes` and `/v1/zones/{zone}/changes`: submit a change batch (or dry-run it), and read
//! a change's status, optionally waiting until it is INSYNC.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use turnout_control::Submitted;
use turnout_control::types::{ChangeInfo, ChangeStatus};
use turnout_model::ChangeBatchSpec;

use super::{AppState, MAX_WAIT, json_body, query};
use crate::error::ApiError;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SubmitParams {
    /// Validate only.
    #[serde(default)]
    dry_run: bool,
    /// Answer once the change is INSYNC (at most 30 s).
    #[serde(default)]
    wait: bool,
}

pub(crate) async fn submit_to_zone(
    state: State<AppState>,
    Path(zone): Path<String>,
    params: Result<Query<SubmitParams>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    submit_batch(state, Some(zone), params, body).await
}

pub(crate) async fn submit(
    state: State<AppState>,
    params: Result<Query<SubmitParams>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    submit_batch(state, None, params, body).await
}

async fn submit_batch(
    State(state): State<AppState>,
    zone: Option<String>,
    params: Result<Query<SubmitParams>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let params = query(params)?;
    let batch: ChangeBatchSpec = json_body(body)?;
    let result = state.control.submit(&batch, zone.as_deref(), params.dry_run).await;
    if !params.dry_run {
        state.metrics.batch(result.is_ok());
    }
    match result? {
        Submitted::DryRun(plan) => Ok(Json(plan).into_response()),
        Submitted::Applied(change) => {
            let change = if params.wait { wait(&state, change).await? } else { change };
            Ok(Json(change).into_response())
        }
    }
}

/// Waits (at most [`MAX_WAIT`]) until the change is served; its status says whether it was.
async fn wait(state: &AppState, change: ChangeInfo) -> Result<ChangeInfo, ApiError> {
    let served = state.control.wait_served(change.revision, MAX_WAIT).await;
    Ok(ChangeInfo { status: if served { ChangeStatus::Insync } else { change.status }, ..change })
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct GetParams {
    #[serde(default)]
    wait: bool,
}

pub(crate) async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
    params: Result<Query<GetParams>, QueryRejection>,
) -> Result<Json<ChangeInfo>, ApiError> {
    let params = query(params)?;
    let change = state.control.change(&id).await?;
    Ok(Json(if params.wait { wait(&state, change).await? } else { change }))
}
