//! The Route 53 API (REST-XML, version 2013-04-01) on a listener of its own
//! (docs/route53-api.md): what aws-cli, boto3, Terraform and octoDNS call, over the same control
//! plane as the JSON API. Requests are signed with AWS Signature Version 4 (`sigv4`) by an
//! access key of a Turnout token; errors come in AWS's XML shape with AWS's codes.
//!
//! Objects keep Route 53's ids: a hosted zone's is stored with the zone (`ZoneMeta::id`), a
//! change's is Turnout's change id.

mod arc;
mod checks;
mod cidr;
mod limits;
mod sigv4;
mod tags;
mod test_answer;
mod xml;
mod zones;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use turnout_control::{Control, ControlError};

pub use sigv4::MAX_SKEW;

/// The API version every path starts with.
pub const VERSION: &str = "2013-04-01";
/// The XML namespace of every request and response root.
pub const NAMESPACE: &str = "https://route53.amazonaws.com/doc/2013-04-01/";

/// What the handlers share.
#[derive(Clone)]
pub(crate) struct R53State {
    pub control: Arc<Control>,
}

/// The name of the token whose access key signed the request.
#[derive(Debug, Clone)]
pub(crate) struct AuthedToken(pub String);

/// An error in AWS's shape: HTTP status, code, message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct R53Error {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl R53Error {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        R53Error { status, code, message: message.into() }
    }

    pub(crate) fn invalid_input(message: impl Into<String>) -> Self {
        R53Error::new(StatusCode::BAD_REQUEST, "InvalidInput", message)
    }
}

impl IntoResponse for R53Error {
    fn into_response(self) -> Response {
        let kind = if self.status.is_server_error() { "Receiver" } else { "Sender" };
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ErrorResponse xmlns=\"{NAMESPACE}\"><Error><Type>{kind}</Type><Code>{}</Code><Message>{}</Message></Error><RequestId>{}</RequestId></ErrorResponse>",
            self.code,
            xml::escape(&self.message),
            request_id()
        );
        xml::response(self.status, body)
    }
}

/// A request id for responses (AWS sends one with every answer).
pub(crate) fn request_id() -> String {
    turnout_control::random_uuid().unwrap_or_default()
}

impl From<ControlError> for R53Error {
    fn from(e: ControlError) -> Self {
        let message = e.to_string();
        match e {
            ControlError::NoSuchZone(apex) => R53Error::new(
                StatusCode::NOT_FOUND,
                "NoSuchHostedZone",
                format!("No hosted zone found with name: {apex}"),
            ),
            ControlError::NoSuchChange(id) => R53Error::new(
                StatusCode::NOT_FOUND,
                "NoSuchChange",
                format!("Could not find resource with ID: {id}"),
            ),
            ControlError::InvalidChangeBatch(errors) => {
                let list: Vec<String> = errors.iter().map(zones::change_error_message).collect();
                let message = if list.len() == 1 {
                    list[0].clone()
                } else {
                    format!("[{}]", list.join(", "))
                };
                R53Error::new(StatusCode::BAD_REQUEST, "InvalidChangeBatch", message)
            }
            ControlError::InvalidInput { .. } => R53Error::invalid_input(message),
            ControlError::ZoneNotEmpty(_) => R53Error::new(
                StatusCode::BAD_REQUEST,
                "HostedZoneNotEmpty",
                "The hosted zone contains resource records that are not SOA or NS records.",
            ),
            ControlError::ZoneAlreadyExists(apex) => R53Error::new(
                StatusCode::BAD_REQUEST,
                "ConflictingDomainExists",
                format!("A hosted zone named {apex} exists: Turnout keeps one zone per name"),
            ),
            ControlError::CallerReferenceInUse { reference, .. } => R53Error::new(
                StatusCode::CONFLICT,
                "HostedZoneAlreadyExists",
                format!(
                    "A hosted zone has already been created with the specified caller reference: {reference}"
                ),
            ),
            ControlError::ZoneFromFile(_) | ControlError::ZoneIsSecondary(_) => {
                R53Error::new(StatusCode::BAD_REQUEST, "InvalidInput", message)
            }
            ControlError::Conflict => R53Error::new(
                StatusCode::BAD_REQUEST,
                "PriorRequestNotComplete",
                "The request was rejected because Route 53 was still processing a prior request.",
            ),
            _ => R53Error::new(StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable", message),
        }
    }
}

/// Every route of the Route 53 API.
pub fn route53_router(control: Arc<Control>) -> Router {
    let state = R53State { control };
    let v = |p: &str| format!("/{VERSION}{p}");
    Router::new()
        .route(&v("/hostedzone"), post(zones::create).get(zones::list))
        .route(
            &v("/hostedzone/{id}"),
            get(zones::get).post(zones::update_comment).delete(zones::delete),
        )
        .route(&v("/hostedzonesbyname"), get(zones::list_by_name))
        .route(&v("/hostedzonecount"), get(zones::count))
        .route(&v("/hostedzone/{id}/rrset"), get(zones::list_record_sets))
        .route(&v("/hostedzone/{id}/rrset/"), post(zones::change_record_sets))
        .route(&v("/change/{id}"), get(zones::get_change))
        .route(&v("/healthcheck"), post(checks::create).get(checks::list))
        .route(
            &v("/healthcheck/{id}"),
            get(checks::get).post(checks::update).delete(checks::delete),
        )
        .route(&v("/healthcheck/{id}/status"), get(checks::status))
        .route(&v("/healthcheck/{id}/lastfailurereason"), get(checks::last_failure))
        .route(&v("/healthcheckcount"), get(checks::count))
        .route(&v("/hostedzone/{id}/dnssec"), get(limits::dnssec))
        .route(&v("/testdnsanswer"), get(test_answer::test_dns_answer))
        .route(&v("/checkeripranges"), get(limits::checker_ip_ranges))
        .route(&v("/accountlimit/{kind}"), get(limits::account))
        .route(&v("/hostedzonelimit/{id}/{kind}"), get(limits::hosted_zone))
        .route(&v("/reusabledelegationsetlimit/{id}/{kind}"), get(limits::delegation_set))
        .route(&v("/cidrcollection"), post(cidr::create).get(cidr::list))
        .route(
            &v("/cidrcollection/{id}"),
            get(cidr::list_locations).post(cidr::change).delete(cidr::delete),
        )
        .route(&v("/cidrcollection/{id}/cidrblocks"), get(cidr::list_blocks))
        .route(&v("/tags/{kind}/{id}"), get(tags::list).post(tags::change))
        .route(&v("/tags/{kind}"), post(tags::list_many))
        .route("/", post(arc::dispatch))
        .route("/v1", post(arc::dispatch))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .with_state(state)
}

async fn not_found(method: Method, uri: axum::http::Uri) -> R53Error {
    R53Error::new(
        StatusCode::NOT_FOUND,
        "UnknownOperationException",
        format!("no Route 53 operation answers {method} {}", uri.path()),
    )
}

/// Verifies the request's SigV4 signature with the access key it names, and that the key's
/// token may do what the request does (reads: `read`, `config` or `admin`; writes: `config` or
/// `admin`). Writes are recorded in the audit trail as the token's.
async fn authenticate(State(state): State<R53State>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    // ARC's data plane (JSON, `X-Amz-Target`) shares the listener; its errors are JSON.
    let target = parts.headers.get("x-amz-target").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let fail = |status: StatusCode, code: &'static str, message: String| -> Response {
        match &target {
            Some(_) => arc::ArcError::auth(status, code, &message),
            None => R53Error::new(status, code, message).into_response(),
        }
    };
    let Ok(bytes) = axum::body::to_bytes(body, crate::MAX_BODY).await else {
        let message = format!("the request body is larger than {} bytes", crate::MAX_BODY);
        return fail(StatusCode::BAD_REQUEST, "InvalidInput", message);
    };
    let Some(value) = parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
        let message = "Missing Authentication Token".to_owned();
        return fail(StatusCode::FORBIDDEN, "MissingAuthenticationToken", message);
    };
    let refused = |r: sigv4::Refusal| -> Response {
        match r {
            sigv4::Refusal::Malformed(m) => fail(StatusCode::BAD_REQUEST, "IncompleteSignature", m),
            sigv4::Refusal::Mismatch => fail(
                StatusCode::FORBIDDEN,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.".to_owned(),
            ),
            sigv4::Refusal::Expired(m) => fail(StatusCode::FORBIDDEN, "SignatureDoesNotMatch", m),
        }
    };
    let auth = match sigv4::parse_authorization(value) {
        Ok(a) => a,
        Err(r) => return refused(r),
    };
    let service = if target.is_some() { "route53-recovery-cluster" } else { "route53" };
    if auth.service != service {
        let message = format!(
            "Credential should be scoped to correct service: '{service}', not {:?}",
            auth.service
        );
        return fail(StatusCode::BAD_REQUEST, "IncompleteSignature", message);
    }
    let (record, secret) = match state.control.access_key(&auth.key_id) {
        Ok(found) => found,
        Err(turnout_control::tokens::AuthError::Expired { name, at }) => {
            let message = format!(
                "The security token included in the request is expired (token {name:?}, {at})"
            );
            return fail(StatusCode::FORBIDDEN, "ExpiredToken", message);
        }
        // AWS SDKs retry a 503 by themselves.
        Err(e @ turnout_control::tokens::AuthError::Loading) => {
            return fail(StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable", e.to_string());
        }
        Err(_) => {
            let message = "The security token included in the request is invalid.".to_owned();
            return fail(StatusCode::FORBIDDEN, "InvalidClientTokenId", message);
        }
    };
    let path = parts.uri.path().to_owned();
    let query = parts.uri.query().unwrap_or_default().to_owned();
    let received = sigv4::Received {
        method: &parts.method,
        path: &path,
        query: &query,
        headers: &parts.headers,
        body: &bytes,
    };
    if let Err(r) = sigv4::verify(&auth, &secret, &received, SystemTime::now()) {
        return refused(r);
    }
    // Route 53 writes need `config`; routing-control updates need `controls` (as in the
    // routing-control API); reads any scope that reads.
    let allowed: &[&str] = match &target {
        Some(t) if t.starts_with("ToggleCustomerAPI.Update") => &["admin", "controls"],
        Some(_) => &["admin", "config", "controls", "read"],
        None if !matches!(parts.method, Method::GET | Method::HEAD) => &["admin", "config"],
        None => &["admin", "config", "read"],
    };
    if !record.scopes.iter().any(|s| allowed.contains(&s.as_str())) {
        let message = format!(
            "User: {} is not authorized to perform this request: the token {:?} has the scopes {} and needs one of {}",
            auth.key_id,
            record.name,
            record.scopes.join(", "),
            allowed.join(", ")
        );
        return fail(StatusCode::FORBIDDEN, "AccessDenied", message);
    }
    let actor = turnout_control::audit::Actor {
        token: record.name.clone(),
        source: parts
            .extensions
            .get::<axum::extract::ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_string()),
        request: match &target {
            Some(t) => format!("ARC {t}"),
            None => format!("Route 53 {} {path}", parts.method),
        },
    };
    parts.extensions.insert(AuthedToken(record.name.clone()));
    let request = Request::from_parts(parts, Body::from(bytes));
    let mut response = turnout_control::audit::acting_as(actor, next.run(request)).await;
    if let Ok(v) = HeaderValue::from_str(&request_id()) {
        response.headers_mut().insert("x-amzn-requestid", v);
    }
    response
}

/// A list response paged by marker (ListHostedZones, ListHealthChecks): `items[start..]`, at
/// most `max`, each written by `write`, and the marker of the next page (`id` of the item that
/// starts it).
pub(crate) fn marker_page<T>(
    root: &str,
    list: &str,
    items: &[T],
    (start, max, marker): (usize, usize, Option<&String>),
    write: impl Fn(&mut xml::Doc, &T),
    id: impl Fn(&T) -> &str,
) -> Response {
    let page = &items[start.min(items.len())..(start + max).min(items.len())];
    let next = items.get(start + max);
    let mut doc = xml::Doc::new(root);
    doc.open(list);
    for item in page {
        write(&mut doc, item);
    }
    doc.close(list)
        .leaf("Marker", marker.map_or("", String::as_str))
        .leaf("IsTruncated", next.is_some())
        .opt("NextMarker", next.map(&id))
        .leaf("MaxItems", max);
    xml::response(StatusCode::OK, doc.finish(root))
}

/// The request body as text.
pub(crate) fn body_text(body: &Bytes) -> Result<&str, R53Error> {
    std::str::from_utf8(body).map_err(|_| R53Error::invalid_input("the request body is not UTF-8"))
}
