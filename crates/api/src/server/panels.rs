//! `/v1/panels` (configuration API): control panels with their routing controls and safety
//! rules. States are not changed here but through the routing-control API.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use turnout_model::controls::ControlPanelSpec;

use super::{AppState, json_body, name_from_path};
use crate::error::ApiError;

/// The list of panels.
#[derive(Debug, Serialize, Deserialize)]
pub struct PanelList {
    /// In name order, as written.
    pub panels: Vec<ControlPanelSpec>,
}

pub(crate) async fn list(State(state): State<AppState>) -> Json<PanelList> {
    Json(PanelList { panels: state.control.panels() })
}

pub(crate) async fn get(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<ControlPanelSpec>, ApiError> {
    Ok(Json(state.control.panel(&name)?))
}

pub(crate) async fn put(
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<ControlPanelSpec>), ApiError> {
    let mut spec: ControlPanelSpec = json_body(body)?;
    name_from_path(&mut spec.name, &name)?;
    let created = state.control.put_panel(&spec).await?;
    Ok((if created { StatusCode::CREATED } else { StatusCode::OK }, Json(spec)))
}

pub(crate) async fn delete(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.control.delete_panel(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}
