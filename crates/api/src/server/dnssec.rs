//! `/v1/zones/{zone}/dnssec`: a zone's DNSSEC signing (docs/dnssec.md). Private keys never
//! leave the store: these show public keys and the DS for the parent.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use turnout_control::types::{DnssecInfo, DsSeen, EnableDnssec, StartRollover};

use super::{AppState, json_body};
use crate::error::ApiError;

pub(crate) async fn get(
    State(state): State<AppState>,
    Path(zone): Path<String>,
) -> Result<Json<DnssecInfo>, ApiError> {
    Ok(Json(state.control.dnssec(&zone)?))
}

pub(crate) async fn enable(
    State(state): State<AppState>,
    Path(zone): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<DnssecInfo>), ApiError> {
    let request: EnableDnssec = json_body(body)?;
    Ok((StatusCode::CREATED, Json(state.control.enable_dnssec(&zone, &request).await?)))
}

pub(crate) async fn disable(
    State(state): State<AppState>,
    Path(zone): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.control.disable_dnssec(&zone).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn rollover(
    State(state): State<AppState>,
    Path(zone): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<DnssecInfo>, ApiError> {
    let request: StartRollover = json_body(body)?;
    Ok(Json(state.control.start_rollover(&zone, &request).await?))
}

pub(crate) async fn ds_seen(
    State(state): State<AppState>,
    Path(zone): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<DnssecInfo>, ApiError> {
    let request: DsSeen = json_body(body)?;
    Ok(Json(state.control.dnssec_ds_seen(&zone, &request).await?))
}
