//! The HTTP server: routing, authentication, JSON bodies and the mapping of every failure to an
//! [`ApiError`]. Handlers live in one module per resource; they call the control service and
//! never touch the store themselves.

pub(crate) mod audit;
mod changes;
pub(crate) mod checks;
pub(crate) mod collections;
mod console;
pub(crate) mod controls;
pub(crate) mod dnssec;
pub(crate) mod drills;
mod explain;
mod external_dns;
pub mod listen;
mod ops;
mod overview;
pub(crate) mod panels;
pub(crate) mod tokens;
pub(crate) mod tsig;
mod zones;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Query, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::de::DeserializeOwned;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::info;
use turnout_control::Control;

use crate::error::ApiError;
use crate::metrics::{Metrics, Telemetry};

/// The largest request body accepted.
pub const MAX_BODY: usize = 4 * 1024 * 1024;
/// The longest `wait=true` waits for INSYNC.
pub const MAX_WAIT: Duration = Duration::from_secs(30);

/// What the handlers share.
#[derive(Clone)]
pub(crate) struct AppState {
    pub control: Arc<Control>,
    pub metrics: Arc<Metrics>,
    pub access: Access,
}

/// Who may do what without a token.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Access {
    /// Reads (`GET`, `HEAD`, `OPTIONS`) of zones, checks, controls and the rest need no token.
    /// Off by default: the configuration names internal addresses, ports and statuses.
    pub anonymous_reads: bool,
}

/// A bound API listener.
#[derive(Debug)]
pub struct ApiServer {
    listener: TcpListener,
    access: Access,
    telemetry: crate::metrics::Telemetry,
    tls: Option<Arc<crate::tls::ServerTls>>,
}

/// Why the API server could not start or stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiServerError {
    /// The address could not be bound.
    #[error("cannot listen for the API on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// Serving failed.
    #[error("the API server failed: {0}")]
    Serve(std::io::Error),
}

impl ApiServer {
    /// Binds the listener (port 0 picks a free port).
    pub async fn bind(addr: SocketAddr) -> Result<Self, ApiServerError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ApiServerError::Bind { addr, source })?;
        Ok(ApiServer {
            listener,
            access: Access::default(),
            telemetry: Default::default(),
            tls: None,
        })
    }

    /// Who may read without a token.
    #[must_use]
    pub fn with_access(mut self, access: Access) -> Self {
        self.access = access;
        self
    }

    /// What `/metrics` shows besides the control plane: the DNS server's counters, the build.
    #[must_use]
    pub fn with_telemetry(mut self, telemetry: crate::metrics::Telemetry) -> Self {
        self.telemetry = telemetry;
        self
    }

    /// Serves HTTPS with this certificate (reloadable) instead of plain HTTP.
    #[must_use]
    pub fn with_tls(mut self, tls: Arc<crate::tls::ServerTls>) -> Self {
        self.tls = Some(tls);
        self
    }

    fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown`, then finishes the requests in hand.
    pub async fn run(
        self,
        control: Arc<Control>,
        shutdown: CancellationToken,
    ) -> Result<(), ApiServerError> {
        if let Ok(addr) = self.listener.local_addr() {
            info!("listening for the API on {}://{addr}", self.scheme());
        }
        let app = router(control, self.access, &self.telemetry);
        self.serve(app, shutdown).await
    }

    /// Serves the Route 53 API (docs/route53-api.md) until `shutdown`.
    pub async fn run_route53(
        self,
        control: Arc<Control>,
        shutdown: CancellationToken,
    ) -> Result<(), ApiServerError> {
        if let Ok(addr) = self.listener.local_addr() {
            info!("listening for the Route 53 API on {}://{addr}", self.scheme());
        }
        let app = crate::route53::route53_router(control);
        self.serve(app, shutdown).await
    }

    /// Serves the routing-control API until `shutdown`.
    pub async fn run_controls(
        self,
        control: Arc<Control>,
        shutdown: CancellationToken,
    ) -> Result<(), ApiServerError> {
        if let Ok(addr) = self.listener.local_addr() {
            info!("listening for routing controls on {}://{addr}", self.scheme());
        }
        let app = controls_router(control, self.access, &self.telemetry);
        self.serve(app, shutdown).await
    }

    async fn serve(self, app: Router, shutdown: CancellationToken) -> Result<(), ApiServerError> {
        let app = app.layer(middleware::from_fn(listen::request_deadline));
        listen::serve(self.listener, self.tls, app, listen::connection_cap(), shutdown)
            .await
            .map_err(ApiServerError::Serve)
    }
}

/// Every route.
pub fn router(control: Arc<Control>, access: Access, telemetry: &Telemetry) -> Router {
    let metrics = Arc::new(Metrics::new(control.clone(), telemetry));
    let state = AppState { metrics, control, access };
    let v1 = Router::new()
        .route("/zones", get(zones::list).post(zones::create))
        .route("/zones/{zone}", get(zones::get).delete(zones::delete))
        .route("/zones/{zone}/rrsets", get(zones::record_sets))
        .route("/zones/{zone}/changes", axum::routing::post(changes::submit_to_zone))
        .route("/zones/{zone}/promote", axum::routing::post(zones::promote))
        .route("/zones/{zone}/transfers", get(tsig::get_transfers).put(tsig::put_transfers))
        .route("/zones/{zone}/updates", get(tsig::get_updates).put(tsig::put_updates))
        .route(
            "/zones/{zone}/dnssec",
            get(dnssec::get).post(dnssec::enable).delete(dnssec::disable),
        )
        .route("/zones/{zone}/dnssec/rollover", axum::routing::post(dnssec::rollover))
        .route("/zones/{zone}/dnssec/ds-seen", axum::routing::post(dnssec::ds_seen))
        .route("/tsig-keys", get(tsig::list))
        .route("/tsig-keys/{name}", get(tsig::get))
        .route("/changes", axum::routing::post(changes::submit))
        .route("/changes/{id}", get(changes::get))
        .route("/checks", get(checks::list))
        .route("/checkers", get(checks::checkers))
        .route("/checks/{name}", get(checks::get).put(checks::put).delete(checks::delete))
        .route("/checks/{name}/status", get(checks::status))
        .route("/collections", get(collections::list))
        .route(
            "/collections/{name}",
            get(collections::get).put(collections::put).delete(collections::delete),
        )
        .route("/explain", get(explain::explain))
        .route("/cluster", get(ops::cluster))
        .route("/panels", get(panels::list))
        .route("/panels/{name}", get(panels::get).put(panels::put).delete(panels::delete))
        .route("/audit", get(audit::list))
        .route("/drills", get(drills::list))
        .route("/drills/{name}", get(drills::get).put(drills::put).delete(drills::delete))
        .route("/drills/{name}/runs", get(drills::runs))
        .route("/overview", get(overview::overview))
        .route("/events", get(overview::events))
        // Only on matched routes: an unknown path is a 404, not a 401.
        .route_layer(middleware::from_fn_with_state(state.clone(), authorize))
        // The API's description holds no data: open to all.
        .route("/openapi.json", get(ops::openapi))
        // Any valid token says who it is (the console shows what its scopes allow).
        .route("/whoami", get(overview::whoami));
    let admin = Router::new()
        .route("/tokens", get(tokens::list).post(tokens::create))
        .route("/tokens/{name}", axum::routing::delete(tokens::delete))
        .route("/tokens/{name}/rotate", axum::routing::post(tokens::rotate))
        // TSIG secrets are credentials: made and removed with the admin scope.
        .route("/tsig-keys", axum::routing::post(tsig::create))
        .route("/tsig-keys/{name}", axum::routing::delete(tsig::delete))
        .route_layer(middleware::from_fn_with_state(state.clone(), authorize_admin));
    // Running a drill flips a routing control: the controls scope, as a flip.
    let drill_runs = Router::new()
        .route("/drills/{name}/run", axum::routing::post(drills::run))
        .route("/drills/{name}/abort", axum::routing::post(drills::abort))
        .route_layer(middleware::from_fn_with_state(state.clone(), authorize_controls));
    // The routing-control API is on this listener too (the console flips from here), with
    // the same rules as on its own.
    let v1 = v1.merge(admin).merge(drill_runs).merge(controls_routes(&state));
    Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .nest("/v1", v1)
        .merge(external_dns::router(state.clone()))
        .merge(console::router())
        .fallback(ops::not_found)
        .method_not_allowed_fallback(ops::method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), count))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

/// The routing-control API's routes (its own listener).
pub fn controls_router(control: Arc<Control>, access: Access, telemetry: &Telemetry) -> Router {
    let metrics = Arc::new(Metrics::new(control.clone(), telemetry));
    let state = AppState { metrics, control, access };
    let v1 = controls_routes(&state).route("/openapi.json", get(ops::controls_openapi));
    Router::new()
        .route("/healthz", get(ops::healthz))
        .nest("/v1", v1)
        .fallback(ops::not_found)
        .method_not_allowed_fallback(ops::method_not_allowed)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

/// The routing-control routes, under the routing-control rules.
fn controls_routes(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/controls", get(controls::list))
        .route("/controls/history", get(controls::history))
        .route("/controls/{panel}", get(controls::panel).post(controls::batch))
        .route("/controls/{panel}/{control}", get(controls::get).put(controls::set))
        .route_layer(middleware::from_fn_with_state(state.clone(), authorize_controls))
}

/// Counts every request by method and status.
async fn count(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let response = next.run(request).await;
    state.metrics.request(&method, response.status());
    response
}

/// Configuration writes need a token with the `config` (or `admin`) scope; reads need one
/// with `read`, `config` or `admin`, unless anonymous reads are on.
async fn authorize(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let rule = Rule {
        writes: &["admin", "config"],
        write_what: "change the configuration",
        reads: Some(&["admin", "config", "read"]),
    };
    authorize_scopes(&state, &rule, request, next).await
}

/// Token and TSIG-key management needs the `admin` scope, token reads included (names and
/// scopes only).
async fn authorize_admin(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let rule = Rule { writes: &["admin"], write_what: "manage tokens and TSIG keys", reads: None };
    authorize_scopes(&state, &rule, request, next).await
}

/// Routing-control writes need a token with the `controls` (or `admin`) scope; reads need one
/// with `read`, `controls`, `config` or `admin`, unless anonymous reads are on.
pub(crate) async fn authorize_controls(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let rule = Rule {
        writes: &["admin", "controls"],
        write_what: "change routing controls",
        reads: Some(&["admin", "config", "controls", "read"]),
    };
    authorize_scopes(&state, &rule, request, next).await
}

/// Which scopes a route needs.
struct Rule {
    /// For writes (any method but `GET`, `HEAD`, `OPTIONS`).
    writes: &'static [&'static str],
    /// What writes do, for messages.
    write_what: &'static str,
    /// For reads; `None`: the same as writes, whatever [`Access::anonymous_reads`] says.
    reads: Option<&'static [&'static str]>,
}

/// Checks the bearer token against `rule`. The token's name is passed on to the handler (for
/// audit trails).
async fn authorize_scopes(
    state: &AppState,
    rule: &Rule,
    mut request: Request,
    next: Next,
) -> Response {
    let (scopes, what) = match rule.reads {
        Some(_) if state.access.anonymous_reads && !is_write(request.method()) => {
            return next.run(request).await;
        }
        Some(reads) if !is_write(request.method()) => (reads, "read through this API"),
        _ => (rule.writes, rule.write_what),
    };
    let Some(token) = bearer_token(&request) else {
        return ApiError::unauthorized(&format!(
            "this request needs an Authorization: Bearer token allowed to {what}"
        ))
        .into_response();
    };
    match state.control.authenticate(token) {
        Ok(record) if record.scopes.iter().any(|s| scopes.contains(&s.as_str())) => {
            // Every write the request makes is recorded as this token's, from this client.
            let path = request
                .extensions()
                .get::<axum::extract::OriginalUri>()
                .map_or_else(|| request.uri().path().to_owned(), |u| u.path().to_owned());
            let actor = turnout_control::audit::Actor {
                token: record.name.clone(),
                source: request
                    .extensions()
                    .get::<axum::extract::ConnectInfo<SocketAddr>>()
                    .map(|c| c.0.ip().to_string()),
                request: format!("{} {path}", request.method()),
            };
            request.extensions_mut().insert(TokenName(record.name));
            turnout_control::audit::acting_as(actor, next.run(request)).await
        }
        Ok(record) => ApiError::new(
            StatusCode::FORBIDDEN,
            "Forbidden",
            format!(
                "the token {:?} ({}) may not {what}: it needs one of the scopes {}",
                record.name,
                record.scopes.join(", "),
                scopes.join(", ")
            ),
        )
        .into_response(),
        Err(e) => auth_refusal(&e),
    }
}

/// The request's `Authorization: Bearer` token, if it has one.
pub(crate) fn bearer_token(request: &Request) -> Option<&str> {
    request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

/// A refused token's answer: 401, or 503 with `Retry-After` while the node loads its
/// configuration (the CLI waits and retries then).
pub(crate) fn auth_refusal(e: &turnout_control::tokens::AuthError) -> Response {
    if *e == turnout_control::tokens::AuthError::Loading {
        let error = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "NotReady", e.to_string());
        return ([(header::RETRY_AFTER, "1")], error).into_response();
    }
    ApiError::unauthorized(&e.to_string()).into_response()
}

/// The name of the token a write was authorized with.
#[derive(Debug, Clone)]
pub(crate) struct TokenName(pub String);

fn is_write(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Parses a JSON body, naming the offending field on error.
pub(crate) fn json_body<T: DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
) -> Result<T, ApiError> {
    let bytes = body.map_err(|e| {
        ApiError::new(
            StatusCode::from_u16(e.status().as_u16()).unwrap_or(StatusCode::BAD_REQUEST),
            "InvalidInput",
            format!("cannot read the request body: {}", e.body_text()),
        )
    })?;
    let de = &mut serde_json::Deserializer::from_slice(&bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." || path == "?" { String::new() } else { path };
        ApiError::invalid_input(field, format!("invalid JSON body: {}", e.inner()))
    })
}

/// The name of an object `PUT` at a path: the body's, or the path's when the body leaves it
/// out; a body naming another object is `InvalidInput` at `name`.
pub(crate) fn name_from_path(body_name: &mut String, path_name: &str) -> Result<(), ApiError> {
    if body_name.is_empty() {
        path_name.clone_into(body_name);
    }
    if body_name != path_name {
        return Err(ApiError::invalid_input(
            "name",
            format!("the body names {body_name:?} but the path {path_name:?}"),
        ));
    }
    Ok(())
}

/// Parses query parameters.
pub(crate) fn query<T>(query: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    query.map(|Query(q)| q).map_err(|e| ApiError::invalid_input("query", e.body_text()))
}
