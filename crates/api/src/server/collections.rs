//! `/v1/collections`: CIDR collections for IP-based routing.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use turnout_model::cidr::CidrCollectionSpec;

use super::{AppState, json_body, name_from_path};
use crate::error::ApiError;

/// The list of collections.
#[derive(Debug, Serialize, Deserialize)]
pub struct CollectionList {
    /// In name order, as written.
    pub collections: Vec<CidrCollectionSpec>,
}

pub(crate) async fn list(State(state): State<AppState>) -> Json<CollectionList> {
    Json(CollectionList { collections: state.control.collections() })
}

pub(crate) async fn get(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<CidrCollectionSpec>, ApiError> {
    Ok(Json(state.control.collection(&name)?))
}

pub(crate) async fn put(
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<CidrCollectionSpec>), ApiError> {
    let mut spec: CidrCollectionSpec = json_body(body)?;
    name_from_path(&mut spec.name, &name)?;
    let created = state.control.put_collection(&spec).await?;
    Ok((if created { StatusCode::CREATED } else { StatusCode::OK }, Json(spec)))
}

pub(crate) async fn delete(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.control.delete_collection(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}
