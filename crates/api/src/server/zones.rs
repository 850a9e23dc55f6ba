//! `/v1/zones`: create, list, get and delete zones; list a zone's record sets; promote a
//! secondary zone.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use turnout_control::types::{
    ChangeInfo, CreateZone, RecordSetPage, ZoneCreated, ZoneInfo, ZonePage,
};

use super::{AppState, json_body, query};
use crate::error::ApiError;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListZones {
    marker: Option<String>,
    max_items: Option<usize>,
}

pub(crate) async fn list(
    State(state): State<AppState>,
    params: Result<Query<ListZones>, QueryRejection>,
) -> Result<Json<ZonePage>, ApiError> {
    let params = query(params)?;
    Ok(Json(state.control.list_zones(params.marker.as_deref(), params.max_items)?))
}

pub(crate) async fn create(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<ZoneCreated>), ApiError> {
    let request: CreateZone = json_body(body)?;
    let created = state.control.create_zone(&request).await?;
    let status = if created.created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(created)))
}

pub(crate) async fn get(
    State(state): State<AppState>,
    Path(zone): Path<String>,
) -> Result<Json<ZoneInfo>, ApiError> {
    Ok(Json(state.control.zone(&zone)?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeleteZone {
    #[serde(default)]
    force: bool,
}

pub(crate) async fn delete(
    State(state): State<AppState>,
    Path(zone): Path<String>,
    params: Result<Query<DeleteZone>, QueryRejection>,
) -> Result<Json<ChangeInfo>, ApiError> {
    let params = query(params)?;
    Ok(Json(state.control.delete_zone(&zone, params.force).await?))
}

/// `POST /v1/zones/{zone}/promote`: a secondary zone becomes a zone managed here.
pub(crate) async fn promote(
    State(state): State<AppState>,
    Path(zone): Path<String>,
) -> Result<Json<ZoneInfo>, ApiError> {
    Ok(Json(state.control.promote_zone(&zone).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListRecordSets {
    name: Option<String>,
    #[serde(rename = "type")]
    rtype: Option<String>,
    set_id: Option<String>,
    max_items: Option<usize>,
}

pub(crate) async fn record_sets(
    State(state): State<AppState>,
    Path(zone): Path<String>,
    params: Result<Query<ListRecordSets>, QueryRejection>,
) -> Result<Json<RecordSetPage>, ApiError> {
    let p = query(params)?;
    Ok(Json(state.control.list_record_sets(
        &zone,
        p.name.as_deref(),
        p.rtype.as_deref(),
        p.set_id.as_deref(),
        p.max_items,
    )?))
}
