//! The API's error format, shared by the server (which writes it) and the client (which reads
//! it so that the CLI prints a typed reason, never a bare HTTP status):
//!
//! ```json
//! {"error": {"code": "InvalidChangeBatch", "message": "...", "field": "changes[0].record_set.ttl",
//!            "errors": [{"index": 0, "field": "changes[0].record_set.ttl", "code": "MissingField",
//!                        "message": "ttl is required"}]}}
//! ```
//! `code` is stable: scripts may match on it. `errors` lists every problem of a rejected batch.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use turnout_control::ControlError;
use turnout_model::ChangeError;

/// The body of every error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error.
    pub error: ApiError,
}

/// One API error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    /// Stable code, e.g. `InvalidChangeBatch`, `NoSuchZone`, `Unauthorized`.
    pub code: String,
    /// What went wrong, for people.
    pub message: String,
    /// The offending field, when there is one (boxed: errors travel in `Result`s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<Box<str>>,
    /// Every problem of a rejected change batch.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ChangeError>,
    /// Every safety rule that refused a routing-control update, with why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refusals: Vec<turnout_model::controls::Refusal>,
    /// The HTTP status (not serialized).
    #[serde(skip)]
    pub status: u16,
}

impl ApiError {
    /// A new error.
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        ApiError {
            code: code.to_owned(),
            message: message.into(),
            field: None,
            errors: Vec::new(),
            refusals: Vec::new(),
            status: status.as_u16(),
        }
    }

    /// The same error naming a field.
    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into().into_boxed_str());
        self
    }

    /// `InvalidInput` for `field`.
    pub fn invalid_input(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "InvalidInput", message).field(field)
    }

    /// 401.
    pub fn unauthorized(message: &str) -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, "Unauthorized", message)
    }
}

/// A 400 for an object (a health check, a CIDR collection) that breaks rules: every problem
/// in `errors`, the first one's field in `field`.
fn invalid_object(code: &str, message: String, errors: Vec<turnout_model::FieldError>) -> ApiError {
    let mut out = ApiError::new(StatusCode::BAD_REQUEST, code, message);
    out.field = errors.first().map(|e| e.field.as_str().into());
    out.errors = errors
        .into_iter()
        .map(|e| ChangeError { index: None, field: e.field, code: e.code, message: e.message })
        .collect();
    out
}

impl From<ControlError> for ApiError {
    fn from(e: ControlError) -> Self {
        let message = e.to_string();
        match e {
            ControlError::InvalidChangeBatch(errors) => {
                let mut out = ApiError::new(StatusCode::BAD_REQUEST, "InvalidChangeBatch", message);
                out.field = errors.first().map(|e| e.field.as_str().into());
                out.errors = errors;
                out
            }
            ControlError::InvalidInput { field, message } => {
                ApiError::invalid_input(field, message)
            }
            ControlError::NoSuchZone(_) => {
                ApiError::new(StatusCode::NOT_FOUND, "NoSuchZone", message).field("zone")
            }
            ControlError::ZoneAlreadyExists(_) => {
                ApiError::new(StatusCode::CONFLICT, "ZoneAlreadyExists", message).field("name")
            }
            ControlError::ZoneFromFile(_) => {
                ApiError::new(StatusCode::CONFLICT, "ZoneFromFile", message).field("name")
            }
            ControlError::CallerReferenceInUse { .. } => {
                ApiError::new(StatusCode::CONFLICT, "CallerReferenceInUse", message)
                    .field("caller_reference")
            }
            ControlError::ZoneNotEmpty(_) => {
                ApiError::new(StatusCode::BAD_REQUEST, "ZoneNotEmpty", message).field("zone")
            }
            ControlError::NoSuchChange(_) => {
                ApiError::new(StatusCode::NOT_FOUND, "NoSuchChange", message).field("id")
            }
            ControlError::Conflict => ApiError::new(StatusCode::CONFLICT, "Conflict", message),
            ControlError::NoSuchCollection(_) => {
                ApiError::new(StatusCode::NOT_FOUND, "NoSuchCidrCollection", message).field("name")
            }
            ControlError::CollectionInUse { .. } => {
                ApiError::new(StatusCode::CONFLICT, "CidrCollectionInUse", message).field("name")
            }
            ControlError::InvalidCollection(errors) => {
                invalid_object("InvalidCidrCollection", message, errors)
            }
            ControlError::NoSuchPanel(_) => {
                ApiError::new(StatusCode::NOT_FOUND, "NoSuchControlPanel", message).field("panel")
            }
            ControlError::NoSuchControl(_) => {
                ApiError::new(StatusCode::NOT_FOUND, "NoSuchRoutingControl", message)
                    .field("control")
            }
            ControlError::InvalidPanel(errors) => {
                invalid_object("InvalidControlPanel", message, errors)
            }
            ControlError::PanelInUse { .. } => {
                ApiError::new(StatusCode::CONFLICT, "ControlPanelInUse", message).field("name")
            }
            ControlError::NoSuchDrill(_) => {
                ApiError::new(StatusCode::NOT_FOUND, "NoSuchDrill", message).field("name")
            }
            ControlError::InvalidDrill(errors) => invalid_object("InvalidDrill", message, errors),
            ControlError::DrillRunning(_) => {
                ApiError::new(StatusCode::CONFLICT, "DrillRunning", message).field("name")
            }
            ControlError::DrillNotRunning(_) => {
                ApiError::new(StatusCode::CONFLICT, "DrillNotRunning", message).field("name")
            }
            ControlError::DrillBlocked { .. } => {
                ApiError::new(StatusCode::CONFLICT, "DrillBlocked", message).field("name")
            }
            ControlError::SafetyRules(refusals) => {
                let mut out = ApiError::new(StatusCode::CONFLICT, "SafetyRuleRefused", message);
                out.field = Some("states".into());
                out.refusals = refusals;
                out
            }
            ControlError::NotReady => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "NotReady", message)
            }
            ControlError::NoSuchToken(_) => {
                ApiError::new(StatusCode::NOT_FOUND, "NoSuchToken", message).field("name")
            }
            ControlError::TokenExists(_) => {
                ApiError::new(StatusCode::CONFLICT, "TokenAlreadyExists", message).field("name")
            }
            ControlError::NoSuchCheck(_) => {
                ApiError::new(StatusCode::NOT_FOUND, "NoSuchHealthCheck", message).field("name")
            }
            ControlError::VersionMismatch { .. } => {
                ApiError::new(StatusCode::CONFLICT, "VersionMismatch", message).field("version")
            }
            ControlError::CheckInUse { .. } => {
                ApiError::new(StatusCode::CONFLICT, "CheckInUse", message).field("name")
            }
            ControlError::InvalidCheck(errors) => {
                invalid_object("InvalidHealthCheck", message, errors)
            }
            ControlError::NoSuchTsigKey(_) => {
                ApiError::new(StatusCode::NOT_FOUND, "NoSuchTsigKey", message).field("name")
            }
            ControlError::TsigKeyExists(_) => {
                ApiError::new(StatusCode::CONFLICT, "TsigKeyAlreadyExists", message).field("name")
            }
            ControlError::TsigKeyInUse { .. } => {
                ApiError::new(StatusCode::CONFLICT, "TsigKeyInUse", message).field("name")
            }
            ControlError::DnssecAlreadyOn(_) => {
                ApiError::new(StatusCode::CONFLICT, "ZoneAlreadySigned", message).field("zone")
            }
            ControlError::DnssecOff(_) => {
                ApiError::new(StatusCode::CONFLICT, "ZoneNotSigned", message).field("zone")
            }
            ControlError::Rollover(_) => {
                ApiError::new(StatusCode::CONFLICT, "RolloverNotPossible", message).field("zone")
            }
            ControlError::ZoneIsSecondary(_) => {
                ApiError::new(StatusCode::CONFLICT, "ZoneIsSecondary", message).field("zone")
            }
            ControlError::NotSecondary(_) => {
                ApiError::new(StatusCode::CONFLICT, "NotSecondary", message).field("zone")
            }
            ControlError::SecondaryNotLoaded(_) => {
                ApiError::new(StatusCode::CONFLICT, "SecondaryNotLoaded", message).field("zone")
            }
            _ => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "StoreUnavailable", message),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, axum::Json(ErrorBody { error: self })).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}
