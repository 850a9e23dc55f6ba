//! Operations endpoints: liveness, readiness, metrics, the OpenAPI document, and JSON answers for
//! unknown routes and methods.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use crate::error::ApiError;

/// The OpenAPI 3.1 description of the configuration API.
pub const OPENAPI: &str = include_str!("../../openapi.json");

/// The OpenAPI 3.1 description of the routing-control API (its own listener).
pub const CONTROLS_OPENAPI: &str = include_str!("../../controls-openapi.json");

/// The configuration API's document as served: [`OPENAPI`] with the routing-control API's
/// paths (served on this listener too) taken from [`CONTROLS_OPENAPI`].
static SERVED_OPENAPI: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| with_controls(OPENAPI, CONTROLS_OPENAPI));

/// `main` with the `/v1/controls` paths of `controls` and the schemas they name that `main`
/// lacks; their 403 says which scopes a flip needs. `main` as it is if either is not JSON.
fn with_controls(main: &str, controls: &str) -> String {
    use serde_json::Value;
    let (Ok(mut doc), Ok(controls)) =
        (serde_json::from_str::<Value>(main), serde_json::from_str::<Value>(controls))
    else {
        return main.to_owned();
    };
    let paths = controls["paths"].as_object().into_iter().flatten();
    let paths: Vec<(String, Value)> = paths
        .filter(|(path, _)| path.starts_with("/v1/controls"))
        .map(|(path, item)| {
            let text = item.to_string().replace(
                "#/components/responses/Forbidden\"",
                "#/components/responses/ForbiddenControls\"",
            );
            (path.clone(), serde_json::from_str(&text).unwrap_or(Value::Null))
        })
        .collect();
    if let Some(out) = doc["paths"].as_object_mut() {
        out.extend(paths);
    }
    if let Some(out) = doc["components"]["schemas"].as_object_mut() {
        for (name, schema) in controls["components"]["schemas"].as_object().into_iter().flatten() {
            out.entry(name.clone()).or_insert_with(|| schema.clone());
        }
    }
    if let Some(out) = doc["components"]["responses"].as_object_mut() {
        out.insert(
            "ForbiddenControls".to_owned(),
            controls["components"]["responses"]["Forbidden"].clone(),
        );
    }
    doc.to_string()
}

pub(crate) async fn healthz() -> &'static str {
    "ok\n"
}

/// Ready once the DNS data plane serves the store's configuration.
pub(crate) async fn readyz(State(state): State<AppState>) -> Response {
    match state.control.served_revision() {
        // DNS answers go on from what was last served; the API cannot change anything.
        Some(revision) if !state.control.store_reachable() => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "not ready: the store is unreachable; DNS keeps answering from revision {revision}\n"
            ),
        )
            .into_response(),
        Some(revision) => {
            (StatusCode::OK, format!("ready: serving store revision {revision}\n")).into_response()
        }
        None => {
            (StatusCode::SERVICE_UNAVAILABLE, "not ready: the configuration is not loaded yet\n")
                .into_response()
        }
    }
}

/// `/metrics`: OpenMetrics when the scraper asks for it (`Accept:
/// application/openmetrics-text`, as Prometheus does), else the Prometheus text format 0.0.4.
pub(crate) async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let openmetrics = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"));
    match state.metrics.encode(&state.control) {
        Ok(text) if openmetrics => (
            [(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")],
            text,
        )
            .into_response(),
        Ok(text) => (
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
            crate::metrics::to_prometheus_text(&text),
        )
            .into_response(),
        Err(e) => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal", e.to_string())
            .into_response(),
    }
}

pub(crate) async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], SERVED_OPENAPI.as_str()).into_response()
}

pub(crate) async fn controls_openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], CONTROLS_OPENAPI).into_response()
}

pub(crate) async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "NotFound", "no such endpoint; see /v1/openapi.json")
}

pub(crate) async fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed", "method not allowed here")
}

/// `GET /v1/cluster`: the nodes sharing this node's store.
pub(crate) async fn cluster(
    State(state): State<AppState>,
) -> axum::Json<turnout_control::cluster::ClusterView> {
    axum::Json(state.control.cluster())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_served_document_has_the_controls_paths_and_every_reference_resolves() {
        let doc: serde_json::Value = serde_json::from_str(&SERVED_OPENAPI).expect("JSON");
        for path in ["/v1/controls", "/v1/controls/history", "/v1/controls/{panel}/{control}"] {
            assert!(doc["paths"].get(path).is_some(), "{path} missing");
        }
        let text = SERVED_OPENAPI.as_str();
        let mut rest = text;
        while let Some(at) = rest.find("\"#/components/") {
            let tail = &rest[at + 14..];
            let end = tail.find('"').expect("closed");
            let mut node = &doc["components"];
            for part in tail[..end].split('/') {
                node = &node[part];
            }
            assert!(!node.is_null(), "#/components/{} does not resolve", &tail[..end]);
            rest = &tail[end..];
        }
    }
}
