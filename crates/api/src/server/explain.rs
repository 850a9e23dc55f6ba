//! `GET /v1/explain`: the answer a client gets now, and why.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use serde::Deserialize;
use turnout_control::Explained;

use super::{AppState, query};
use crate::error::ApiError;

/// The query parameters.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExplainQuery {
    name: String,
    #[serde(rename = "type", default = "default_type")]
    rtype: String,
    #[serde(default)]
    client: Option<String>,
}

fn default_type() -> String {
    "A".to_owned()
}

pub(crate) async fn explain(
    State(state): State<AppState>,
    q: Result<Query<ExplainQuery>, QueryRejection>,
) -> Result<Json<Explained>, ApiError> {
    let q = query(q)?;
    Ok(Json(state.control.explain(&q.name, &q.rtype, q.client.as_deref())?))
}
