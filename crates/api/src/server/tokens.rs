//! `/v1/tokens` (admin scope only): scoped API tokens.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use turnout_control::tokens::{NewToken, TokenInfo};

use super::{AppState, TokenName, json_body};
use crate::error::ApiError;

/// The list of tokens (never their secrets).
#[derive(Debug, Serialize, Deserialize)]
pub struct TokenList {
    /// By name.
    pub tokens: Vec<TokenInfo>,
}

/// A request for a new token.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    /// Its name.
    pub name: String,
    /// Its scopes: `read`, `config`, `controls`, `admin`.
    pub scopes: Vec<String>,
    /// How long it is valid (`90d`, `12h`); none: until deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<String>,
    /// Also make an access key pair for the Route 53 API (docs/route53-api.md).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub route53: bool,
}

pub(crate) async fn list(State(state): State<AppState>) -> Json<TokenList> {
    Json(TokenList { tokens: state.control.tokens() })
}

pub(crate) async fn create(
    State(state): State<AppState>,
    Extension(by): Extension<TokenName>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<NewToken>), ApiError> {
    let request: CreateToken = json_body(body)?;
    let lifetime = match request.expires_in.as_deref() {
        None => None,
        Some(text) => Some(humantime::parse_duration(text).map_err(|e| {
            ApiError::invalid_input("expires_in", format!("{text:?} is not a duration: {e}"))
        })?),
    };
    let token = state
        .control
        .create_token(&request.name, &request.scopes, lifetime, request.route53)
        .await?;
    tracing::info!("token {:?} ({}) created by {:?}", token.name, token.scopes.join(", "), by.0);
    Ok((StatusCode::CREATED, Json(token)))
}

pub(crate) async fn delete(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.control.delete_token(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn rotate(
    State(state): State<AppState>,
    Extension(by): Extension<TokenName>,
    Path(name): Path<String>,
) -> Result<Json<NewToken>, ApiError> {
    let token = state.control.rotate_token(&name).await?;
    tracing::info!("token {:?} given a new secret by {:?}", token.name, by.0);
    Ok(Json(token))
}
