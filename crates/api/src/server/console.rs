//! The web console's page (docs/console.md): a few static files built into the binary, so it
//! works with no internet access. They are served to anyone (they hold no data); everything
//! the page shows or changes goes through the API with the operator's token, kept in the
//! browser's session storage only.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use super::AppState;
use crate::error::ApiError;

/// The page's files: name, media type, content.
const ASSETS: &[(&str, &str, &str)] = &[
    ("index.html", "text/html; charset=utf-8", include_str!("../../console/index.html")),
    ("app.js", "text/javascript; charset=utf-8", include_str!("../../console/app.js")),
    ("app.css", "text/css; charset=utf-8", include_str!("../../console/app.css")),
];

/// Only the page's own scripts, styles and API: no inline script, no other origin, no frames.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; \
    frame-ancestors 'none'";

/// `/console/` and its files; `/` and `/console` lead there.
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/console/") }))
        .route("/console", get(|| async { Redirect::to("/console/") }))
        .route("/console/", get(|| async { asset("index.html") }))
        .route("/console/{file}", get(|Path(file): Path<String>| async move { asset(&file) }))
}

fn asset(file: &str) -> Response {
    let Some((_, media_type, content)) = ASSETS.iter().find(|(name, _, _)| *name == file) else {
        return ApiError::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("the console has no file {file:?}"),
        )
        .into_response();
    };
    let mut response = (*content).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(media_type));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // Small files: asked again each time, so a new version is never stale.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_the_page_names_is_served() {
        let index = ASSETS[0].2;
        for name in ["app.js", "app.css"] {
            assert!(index.contains(&format!("/console/{name}")), "index.html must load {name}");
            assert!(ASSETS.iter().any(|(n, _, _)| *n == name));
        }
        // No inline script: the policy forbids it.
        assert!(!index.contains("<script>"), "index.html has an inline script");
    }

    #[test]
    fn an_unknown_file_is_404_and_every_file_carries_the_policy() {
        assert_eq!(asset("../Cargo.toml").status(), StatusCode::NOT_FOUND);
        let r = asset("app.js");
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()[header::CONTENT_SECURITY_POLICY], POLICY);
        assert_eq!(r.headers()[header::CONTENT_TYPE], "text/javascript; charset=utf-8");
    }
}
