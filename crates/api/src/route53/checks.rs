//! Health checks through the Route 53 API: CreateHealthCheck (CallerReference idempotency),
//! GetHealthCheck, ListHealthChecks, DeleteHealthCheck, GetHealthCheckStatus,
//! GetHealthCheckLastFailureReason and GetHealthCheckCount, over Turnout's health checks.
//!
//! A check's Route 53 id is its Turnout name: a check created here is named by a new UUID, as
//! Route 53 names its checks, and a record's `HealthCheckId` names it.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use turnout_model::health::HealthCheckSpec;

use super::xml::{Doc, response};
use super::{R53Error, R53State};

/// Route 53's largest page of health checks.
const MAX_CHECK_ITEMS: usize = 1000;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateHealthCheckRequest {
    #[serde(default)]
    caller_reference: String,
    health_check_config: ConfigXml,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ConfigXml {
    #[serde(default, rename = "IPAddress")]
    ip_address: Option<String>,
    #[serde(default)]
    port: Option<i64>,
    #[serde(default, rename = "Type")]
    kind: String,
    #[serde(default)]
    resource_path: Option<String>,
    #[serde(default)]
    fully_qualified_domain_name: Option<String>,
    #[serde(default)]
    search_string: Option<String>,
    #[serde(default)]
    request_interval: Option<i64>,
    #[serde(default)]
    failure_threshold: Option<i64>,
    #[serde(default)]
    measure_latency: Option<bool>,
    #[serde(default)]
    inverted: Option<bool>,
    #[serde(default)]
    disabled: Option<bool>,
    #[serde(default)]
    health_threshold: Option<i64>,
    #[serde(default)]
    child_health_checks: Option<ChildrenXml>,
    #[serde(default, rename = "EnableSNI")]
    enable_sni: Option<bool>,
    #[serde(default)]
    regions: Option<RegionsXml>,
    #[serde(default)]
    alarm_identifier: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    routing_control_arn: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct ChildrenXml {
    #[serde(default, rename = "ChildHealthCheck")]
    children: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
struct RegionsXml {
    #[serde(default, rename = "Region")]
    regions: Vec<String>,
}

/// A Route 53 HealthCheckConfig as a Turnout check named `name`.
fn spec_of(name: &str, reference: &str, c: ConfigXml) -> Result<HealthCheckSpec, R53Error> {
    let unsupported = |what: &str| {
        Err(R53Error::invalid_input(format!(
            "{what} is not supported by Turnout (docs/route53-api.md)"
        )))
    };
    if c.regions.is_some_and(|r| !r.regions.is_empty()) {
        return unsupported("HealthCheckConfig.Regions (checkers are Turnout's nodes)");
    }
    if c.alarm_identifier.is_some() || c.kind == "CLOUDWATCH_METRIC" {
        return unsupported("a CLOUDWATCH_METRIC check (Turnout's metric checks query Prometheus)");
    }
    let (kind, search) = match c.kind.as_str() {
        "HTTP" => ("http", None),
        "HTTPS" => ("https", None),
        "HTTP_STR_MATCH" => ("http", c.search_string.clone()),
        "HTTPS_STR_MATCH" => ("https", c.search_string.clone()),
        "TCP" => ("tcp", None),
        "CALCULATED" => ("calculated", None),
        "RECOVERY_CONTROL" => ("control", None),
        other => {
            return Err(R53Error::invalid_input(format!(
                "Invalid XML ; cvc-enumeration-valid: Value '{other}' is not facet-valid with respect to enumeration '[HTTP, HTTPS, HTTP_STR_MATCH, HTTPS_STR_MATCH, TCP, CALCULATED, CLOUDWATCH_METRIC, RECOVERY_CONTROL]'. It must be a value from the enumeration."
            )));
        }
    };
    let control = match &c.routing_control_arn {
        Some(arn) => match super::arc::parse_control_arn(arn) {
            Some((panel, control)) => Some(format!("{panel}/{control}")),
            None => {
                return Err(R53Error::invalid_input(format!(
                    "RoutingControlArn {arn:?} is not arn:aws:route53-recovery-control::ACCOUNT:controlpanel/PANEL/routingcontrol/CONTROL"
                )));
            }
        },
        None => None,
    };
    Ok(HealthCheckSpec {
        name: name.to_owned(),
        kind: kind.to_owned(),
        ip: c.ip_address,
        fqdn: c.fully_qualified_domain_name,
        port: c.port,
        path: c.resource_path,
        search,
        interval: c.request_interval.map(|s| format!("{s}s")),
        failure_threshold: c.failure_threshold,
        inverted: c.inverted,
        disabled: c.disabled,
        enable_sni: c.enable_sni,
        children: c.child_health_checks.map(|ch| ch.children),
        health_threshold: c.health_threshold,
        control,
        caller_reference: Some(reference.to_owned()),
        measure_latency: c.measure_latency,
        ..HealthCheckSpec::default()
    })
}

/// Seconds of a Turnout interval (`10s`, `30s`), for RequestInterval.
fn seconds(interval: &str) -> Option<u64> {
    humantime::parse_duration(interval).ok().map(|d| d.as_secs())
}

fn write_check(doc: &mut Doc, c: &HealthCheckSpec) {
    let kind = match (c.kind.as_str(), c.search.is_some()) {
        ("http", false) => "HTTP",
        ("http", true) => "HTTP_STR_MATCH",
        ("https", false) => "HTTPS",
        ("https", true) => "HTTPS_STR_MATCH",
        ("tcp", _) => "TCP",
        ("calculated", _) => "CALCULATED",
        ("control", _) => "RECOVERY_CONTROL",
        _ => "CLOUDWATCH_METRIC",
    };
    doc.open("HealthCheck")
        .leaf("Id", &c.name)
        .leaf(
            "CallerReference",
            c.caller_reference.clone().unwrap_or_else(|| format!("turnout:{}", c.name)),
        )
        .open("HealthCheckConfig")
        .opt("IPAddress", c.ip.as_ref())
        .opt("Port", c.port)
        .leaf("Type", kind)
        .opt("ResourcePath", c.path.as_ref())
        .opt("FullyQualifiedDomainName", c.fqdn.as_ref())
        .opt("SearchString", c.search.as_ref());
    let probed = matches!(c.kind.as_str(), "http" | "https" | "tcp");
    if probed {
        doc.leaf("RequestInterval", c.interval.as_deref().and_then(seconds).unwrap_or(30))
            .leaf("FailureThreshold", c.failure_threshold.unwrap_or(3))
            .leaf("MeasureLatency", c.measure_latency.unwrap_or(false));
    }
    doc.leaf("Inverted", c.inverted.unwrap_or(false)).leaf("Disabled", c.disabled.unwrap_or(false));
    if let Some(children) = &c.children {
        doc.opt("HealthThreshold", c.health_threshold).open("ChildHealthChecks");
        for child in children {
            doc.leaf("ChildHealthCheck", child);
        }
        doc.close("ChildHealthChecks");
    }
    if c.kind == "https" {
        doc.leaf("EnableSNI", c.enable_sni.unwrap_or(true));
    }
    if let Some(control) = &c.control
        && let Some((panel, name)) = control.split_once('/')
    {
        doc.leaf("RoutingControlArn", super::arc::control_arn(panel, name));
    }
    doc.close("HealthCheckConfig").leaf("HealthCheckVersion", 1).close("HealthCheck");
}

/// A new check name in Route 53's form (a version-4 UUID).
fn new_id() -> String {
    let mut b = [0u8; 16];
    let _ = super::getrandom_fill(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = data_encoding::HEXLOWER.encode(&b);
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

fn no_such_check(id: &str) -> R53Error {
    R53Error::new(
        StatusCode::NOT_FOUND,
        "NoSuchHealthCheck",
        format!("A health check with id {id} does not exist."),
    )
}

fn check_error(e: turnout_control::ControlError, id: &str) -> R53Error {
    use turnout_control::ControlError;
    match e {
        ControlError::NoSuchCheck(_) => no_such_check(id),
        ControlError::CheckInUse { .. } => {
            R53Error::new(StatusCode::BAD_REQUEST, "HealthCheckInUse", e.to_string())
        }
        ControlError::InvalidCheck(errors) => {
            let list: Vec<String> =
                errors.iter().map(|e| format!("{}: {}", e.field, e.message)).collect();
            R53Error::invalid_input(list.join("; "))
        }
        other => other.into(),
    }
}

/// `POST /2013-04-01/healthcheck`: CreateHealthCheck. The same CallerReference with the same
/// settings returns the check it made; with other settings, `HealthCheckAlreadyExists`.
pub(crate) async fn create(
    State(state): State<R53State>,
    body: Bytes,
) -> Result<Response, R53Error> {
    let request: CreateHealthCheckRequest = super::zones::read_xml(&body)?;
    if request.caller_reference.is_empty() || request.caller_reference.chars().count() > 64 {
        return Err(R53Error::invalid_input(
            "1 validation error detected: Value at 'callerReference' failed to satisfy constraint: Member must have length between 1 and 64",
        ));
    }
    let existing = state
        .control
        .checks()
        .into_iter()
        .find(|c| c.caller_reference.as_deref() == Some(request.caller_reference.as_str()));
    let spec = spec_of(
        existing.as_ref().map_or(&new_id(), |c| &c.name),
        &request.caller_reference,
        request.health_check_config,
    )?;
    let check = match existing {
        Some(c) if c == spec => c,
        Some(c) => {
            return Err(R53Error::new(
                StatusCode::CONFLICT,
                "HealthCheckAlreadyExists",
                format!(
                    "A health check with the caller reference {} already exists with other settings (id {})",
                    request.caller_reference, c.name
                ),
            ));
        }
        None => {
            state.control.put_check(&spec).await.map_err(|e| check_error(e, &spec.name))?;
            spec
        }
    };
    let mut doc = Doc::new("CreateHealthCheckResponse");
    write_check(&mut doc, &check);
    Ok(response(StatusCode::CREATED, doc.finish("CreateHealthCheckResponse")))
}

/// `GET /2013-04-01/healthcheck/{Id}`: GetHealthCheck.
pub(crate) async fn get(
    State(state): State<R53State>,
    Path(id): Path<String>,
) -> Result<Response, R53Error> {
    let check = state.control.check(&id).map_err(|e| check_error(e, &id))?;
    let mut doc = Doc::new("GetHealthCheckResponse");
    write_check(&mut doc, &check);
    Ok(response(StatusCode::OK, doc.finish("GetHealthCheckResponse")))
}

/// `GET /2013-04-01/healthcheck`: ListHealthChecks, in id order; `marker` is the id of the
/// first check of a page.
pub(crate) async fn list(
    State(state): State<R53State>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, R53Error> {
    let max = super::zones::max_items(&query, MAX_CHECK_ITEMS, 100)?;
    let checks = state.control.checks();
    let start = match query.get("marker") {
        Some(m) => checks.iter().position(|c| &c.name >= m).unwrap_or(checks.len()),
        None => 0,
    };
    Ok(super::marker_page(
        "ListHealthChecksResponse",
        "HealthChecks",
        &checks,
        (start, max, query.get("marker")),
        write_check,
        |c| c.name.as_str(),
    ))
}

/// `DELETE /2013-04-01/healthcheck/{Id}`: DeleteHealthCheck (`HealthCheckInUse` while a
/// record names it).
pub(crate) async fn delete(
    State(state): State<R53State>,
    Path(id): Path<String>,
) -> Result<Response, R53Error> {
    state.control.delete_check(&id).await.map_err(|e| check_error(e, &id))?;
    Ok(response(
        StatusCode::OK,
        Doc::new("DeleteHealthCheckResponse").finish("DeleteHealthCheckResponse"),
    ))
}

/// `GET /2013-04-01/healthcheckcount`: GetHealthCheckCount.
pub(crate) async fn count(State(state): State<R53State>) -> Response {
    let mut doc = Doc::new("GetHealthCheckCountResponse");
    doc.leaf("HealthCheckCount", state.control.checks().len());
    response(StatusCode::OK, doc.finish("GetHealthCheckCountResponse"))
}

/// The observations of a check: one per checker (this node, and every other node of a
/// cluster), each with the last result's words (`last_failure`: the last failure's).
fn observations(
    state: &R53State,
    id: &str,
    root: &str,
    last_failure: bool,
) -> Result<Response, R53Error> {
    state.control.check(id).map_err(|e| check_error(e, id))?;
    let Some(view) = state.control.health().state(id) else {
        return Err(no_such_check(id));
    };
    let result =
        if last_failure { view.last_failure.clone() } else { view.results.first().cloned() };
    let mut doc = Doc::new(root);
    doc.open("HealthCheckObservations");
    let checkers: Vec<(String, String)> = if view.checkers.is_empty() {
        vec![("local".to_owned(), view.observed.clone())]
    } else {
        view.checkers.iter().map(|c| (c.checker.clone(), c.observed.clone())).collect()
    };
    let own = state.control.checker();
    for (checker, observed) in checkers {
        let (status, at) = match (&result, checker == own || checker == "local") {
            (Some(r), true) => (r.result.reason.clone(), r.at.clone()),
            _ => {
                let word = if observed == "healthy" { "Success" } else { "Failure" };
                (format!("{word}: as reported by checker {checker}"), String::new())
            }
        };
        if last_failure && status.starts_with("Success") {
            continue;
        }
        // Region: the checker (a Turnout node) that observed it.
        doc.open("HealthCheckObservation")
            .leaf("Region", &checker)
            .open("StatusReport")
            .leaf("Status", status)
            .opt("CheckedTime", (!at.is_empty()).then_some(at))
            .close("StatusReport")
            .close("HealthCheckObservation");
    }
    doc.close("HealthCheckObservations");
    Ok(response(StatusCode::OK, doc.finish(root)))
}

/// `GET /2013-04-01/healthcheck/{Id}/status`: GetHealthCheckStatus.
pub(crate) async fn status(
    State(state): State<R53State>,
    Path(id): Path<String>,
) -> Result<Response, R53Error> {
    observations(&state, &id, "GetHealthCheckStatusResponse", false)
}

/// `GET /2013-04-01/healthcheck/{Id}/lastfailurereason`: GetHealthCheckLastFailureReason.
pub(crate) async fn last_failure(
    State(state): State<R53State>,
    Path(id): Path<String>,
) -> Result<Response, R53Error> {
    observations(&state, &id, "GetHealthCheckLastFailureReasonResponse", true)
}
