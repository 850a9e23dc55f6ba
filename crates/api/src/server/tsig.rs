//! `/v1/tsig-keys` (created and deleted with the admin scope; listed with read),
//! `/v1/zones/{zone}/transfers` and `/v1/zones/{zone}/updates`: TSIG keys, each zone's outgoing
//! transfers (docs/transfers.md) and its RFC 2136 update rules (docs/dynamic-updates.md).

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use turnout_control::types::{CreateTsigKey, TsigKeyInfo, ZoneTransfers, ZoneUpdates};

use super::{AppState, json_body};
use crate::error::ApiError;

/// The list of TSIG keys (never their secrets).
#[derive(Debug, Serialize, Deserialize)]
pub struct TsigKeyList {
    /// By name.
    pub keys: Vec<TsigKeyInfo>,
}

pub(crate) async fn list(State(state): State<AppState>) -> Json<TsigKeyList> {
    Json(TsigKeyList { keys: state.control.tsig_keys() })
}

pub(crate) async fn get(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<TsigKeyInfo>, ApiError> {
    Ok(Json(state.control.tsig_key(&name)?))
}

pub(crate) async fn create(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<TsigKeyInfo>), ApiError> {
    let request: CreateTsigKey = json_body(body)?;
    Ok((StatusCode::CREATED, Json(state.control.create_tsig_key(&request).await?)))
}

pub(crate) async fn delete(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.control.delete_tsig_key(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn get_transfers(
    State(state): State<AppState>,
    Path(zone): Path<String>,
) -> Result<Json<ZoneTransfers>, ApiError> {
    Ok(Json(state.control.zone_transfers(&zone)?))
}

pub(crate) async fn put_transfers(
    State(state): State<AppState>,
    Path(zone): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<ZoneTransfers>, ApiError> {
    let request: ZoneTransfers = json_body(body)?;
    Ok(Json(state.control.set_zone_transfers(&zone, &request).await?))
}

pub(crate) async fn get_updates(
    State(state): State<AppState>,
    Path(zone): Path<String>,
) -> Result<Json<ZoneUpdates>, ApiError> {
    Ok(Json(state.control.zone_updates(&zone)?))
}

pub(crate) async fn put_updates(
    State(state): State<AppState>,
    Path(zone): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<ZoneUpdates>, ApiError> {
    let request: ZoneUpdates = json_body(body)?;
    Ok(Json(state.control.set_zone_updates(&zone, &request).await?))
}
