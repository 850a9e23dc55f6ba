//! Health checks through the Route 53 API: CreateHealthCheck (CallerReference idempotency),
//! GetHealthCheck, ListHealthChecks, UpdateHealthCheck (HealthCheckVersion, ResetElements),
//! DeleteHealthCheck, GetHealthCheckStatus,
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

/// Route 53's health-checker regions (`HealthCheckRegion`), the only values an
/// observation's `Region` may take.
const CHECKER_REGIONS: [&str; 8] = [
    "us-east-1",
    "us-west-1",
    "us-west-2",
    "eu-west-1",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-northeast-1",
    "sa-east-1",
];

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
    #[serde(default)]
    insufficient_data_health_status: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UpdateHealthCheckRequest {
    #[serde(default)]
    health_check_version: Option<i64>,
    #[serde(default, rename = "IPAddress")]
    ip_address: Option<String>,
    #[serde(default)]
    port: Option<i64>,
    #[serde(default)]
    resource_path: Option<String>,
    #[serde(default)]
    fully_qualified_domain_name: Option<String>,
    #[serde(default)]
    search_string: Option<String>,
    #[serde(default)]
    failure_threshold: Option<i64>,
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
    insufficient_data_health_status: Option<String>,
    #[serde(default)]
    reset_elements: Option<ResetXml>,
}

#[derive(Debug, Default, Deserialize)]
struct ResetXml {
    #[serde(default, rename = "ResettableElementName")]
    names: Vec<String>,
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

fn unsupported(what: &str) -> R53Error {
    R53Error::invalid_input(format!("{what} is not supported by Turnout (docs/route53-api.md)"))
}

/// Refuses what Turnout cannot do: Regions (its checkers are its nodes) and the
/// CLOUDWATCH_METRIC settings (its metric checks query Prometheus).
fn refuse_unsupported(
    regions: Option<&RegionsXml>,
    alarm: bool,
    insufficient_data: Option<&String>,
) -> Result<(), R53Error> {
    if regions.is_some_and(|r| !r.regions.is_empty()) {
        return Err(unsupported("Regions (checkers are Turnout's nodes)"));
    }
    if alarm {
        return Err(unsupported(
            "a CLOUDWATCH_METRIC check (Turnout's metric checks query Prometheus)",
        ));
    }
    if insufficient_data.is_some() {
        return Err(unsupported(
            "InsufficientDataHealthStatus (it applies to CLOUDWATCH_METRIC checks; Turnout's metric checks set insufficient_data through its own API)",
        ));
    }
    Ok(())
}

/// A Route 53 HealthCheckConfig as a Turnout check named `name`.
fn spec_of(name: &str, reference: &str, c: ConfigXml) -> Result<HealthCheckSpec, R53Error> {
    refuse_unsupported(
        c.regions.as_ref(),
        c.alarm_identifier.is_some() || c.kind == "CLOUDWATCH_METRIC",
        c.insufficient_data_health_status.as_ref(),
    )?;
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
    // SNI is a TLS matter: `EnableSNI false` on another type says what it does anyway (tools
    // such as octoDNS send it for every check); `true` asks for what cannot happen.
    let enable_sni = match (kind, c.enable_sni) {
        ("https", sni) => sni,
        (_, Some(true)) => {
            return Err(R53Error::invalid_input(
                "EnableSNI true needs an HTTPS or HTTPS_STR_MATCH check (SNI is sent in TLS)",
            ));
        }
        _ => None,
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
        enable_sni,
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

/// Whether a check of this Turnout type probes an endpoint (has IPAddress, Port, an interval
/// and a failure threshold in Route 53's terms).
fn probes_endpoint(kind: &str) -> bool {
    !matches!(kind, "calculated" | "control" | "metric")
}

fn write_check(doc: &mut Doc, (c, version): &(HealthCheckSpec, i64)) {
    let kind = match (c.kind.as_str(), c.search.is_some()) {
        ("http", false) => "HTTP",
        ("http", true) => "HTTP_STR_MATCH",
        ("https", false) => "HTTPS",
        ("https", true) => "HTTPS_STR_MATCH",
        // Turnout's own endpoint types have no Route 53 type; each connects to (or pings) its
        // endpoint, which TCP says best (docs/route53-api.md).
        ("tcp" | "tls" | "icmp" | "dns" | "grpc" | "grpcs", _) => "TCP",
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
    let probed = probes_endpoint(&c.kind);
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
    doc.close("HealthCheckConfig").leaf("HealthCheckVersion", version).close("HealthCheck");
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
        ControlError::VersionMismatch { .. } => {
            R53Error::new(StatusCode::CONFLICT, "HealthCheckVersionMismatch", e.to_string())
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
    let existing =
        state.control.checks_versioned().into_iter().find(|(c, _)| {
            c.caller_reference.as_deref() == Some(request.caller_reference.as_str())
        });
    let name = match &existing {
        Some((c, _)) => c.name.clone(),
        None => turnout_control::random_uuid().map_err(turnout_control::ControlError::from)?,
    };
    let spec = spec_of(&name, &request.caller_reference, request.health_check_config)?;
    let check = match existing {
        Some((c, version)) if c == spec => (c, version),
        Some((c, _)) => {
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
            state
                .control
                .put_check_at(&spec, Some(0))
                .await
                .map_err(|e| check_error(e, &spec.name))?;
            (spec, 1)
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
    let check = state.control.check_versioned(&id).map_err(|e| check_error(e, &id))?;
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
    let checks = state.control.checks_versioned();
    let start = match query.get("marker") {
        Some(m) => checks.iter().position(|(c, _)| &c.name >= m).unwrap_or(checks.len()),
        None => 0,
    };
    Ok(super::marker_page(
        "ListHealthChecksResponse",
        "HealthChecks",
        &checks,
        (start, max, query.get("marker")),
        write_check,
        |(c, _)| c.name.as_str(),
    ))
}

/// `spec` with the fields of an UpdateHealthCheck applied: what is given replaces, what
/// ResetElements names goes back to its default, the rest stays.
fn updated(
    mut spec: HealthCheckSpec,
    u: &UpdateHealthCheckRequest,
) -> Result<HealthCheckSpec, R53Error> {
    refuse_unsupported(
        u.regions.as_ref(),
        u.alarm_identifier.is_some(),
        u.insufficient_data_health_status.as_ref(),
    )?;
    let probed = probes_endpoint(&spec.kind);
    let endpoint_fields = [
        ("IPAddress", u.ip_address.is_some()),
        ("Port", u.port.is_some()),
        ("ResourcePath", u.resource_path.is_some()),
        ("FullyQualifiedDomainName", u.fully_qualified_domain_name.is_some()),
        ("SearchString", u.search_string.is_some()),
        ("FailureThreshold", u.failure_threshold.is_some()),
    ];
    if let Some((field, _)) = endpoint_fields.iter().find(|(_, given)| *given && !probed) {
        return Err(R53Error::invalid_input(format!(
            "{field} cannot be set on a health check of this type (it probes no endpoint)"
        )));
    }
    if u.search_string.is_some() && spec.search.is_none() {
        return Err(R53Error::invalid_input(
            "SearchString can be updated only on an HTTP_STR_MATCH or HTTPS_STR_MATCH check (the type cannot change)",
        ));
    }
    let calculated = spec.kind == "calculated";
    if (u.health_threshold.is_some() || u.child_health_checks.is_some()) && !calculated {
        return Err(R53Error::invalid_input(
            "HealthThreshold and ChildHealthChecks can be set only on a CALCULATED check",
        ));
    }
    for element in u.reset_elements.iter().flat_map(|r| &r.names) {
        match element.as_str() {
            "FullyQualifiedDomainName" => spec.fqdn = None,
            "ResourcePath" => spec.path = None,
            "ChildHealthChecks" => spec.children = calculated.then(Vec::new),
            "Regions" => {}
            other => {
                return Err(R53Error::invalid_input(format!(
                    "ResetElements: {other:?} is not FullyQualifiedDomainName, Regions, ResourcePath or ChildHealthChecks"
                )));
            }
        }
    }
    let set = |target: &mut Option<String>, value: &Option<String>| {
        if value.is_some() {
            target.clone_from(value);
        }
    };
    set(&mut spec.ip, &u.ip_address);
    set(&mut spec.path, &u.resource_path);
    set(&mut spec.fqdn, &u.fully_qualified_domain_name);
    set(&mut spec.search, &u.search_string);
    spec.port = u.port.or(spec.port);
    spec.failure_threshold = u.failure_threshold.or(spec.failure_threshold);
    spec.inverted = u.inverted.or(spec.inverted);
    spec.disabled = u.disabled.or(spec.disabled);
    spec.health_threshold = u.health_threshold.or(spec.health_threshold);
    match (spec.kind.as_str(), u.enable_sni) {
        ("https", Some(sni)) => spec.enable_sni = Some(sni),
        (_, Some(true)) => {
            return Err(R53Error::invalid_input(
                "EnableSNI true needs an HTTPS or HTTPS_STR_MATCH check (SNI is sent in TLS)",
            ));
        }
        _ => {}
    }
    if let Some(children) = &u.child_health_checks {
        spec.children = Some(children.children.clone());
    }
    Ok(spec)
}

/// `POST /2013-04-01/healthcheck/{Id}`: UpdateHealthCheck. With HealthCheckVersion, applied
/// only while the check is at that version (`HealthCheckVersionMismatch` otherwise); without,
/// applied to the check as it is (a concurrent update is read again, never overwritten).
pub(crate) async fn update(
    State(state): State<R53State>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, R53Error> {
    let request: UpdateHealthCheckRequest = super::zones::read_xml(&body)?;
    // Without a version, a write that lost a race with another writer is tried again on
    // what that writer stored.
    for _ in 0..5 {
        let (current, version) =
            state.control.check_versioned(&id).map_err(|e| check_error(e, &id))?;
        let expected = request.health_check_version.unwrap_or(version);
        if expected != version {
            return Err(check_error(
                turnout_control::ControlError::VersionMismatch {
                    kind: "health check",
                    name: id.clone(),
                    expected,
                    current: version,
                },
                &id,
            ));
        }
        let spec = updated(current.clone(), &request)?;
        if spec == current {
            let mut doc = Doc::new("UpdateHealthCheckResponse");
            write_check(&mut doc, &(current, version));
            return Ok(response(StatusCode::OK, doc.finish("UpdateHealthCheckResponse")));
        }
        match state.control.put_check_at(&spec, Some(version)).await {
            Ok(_) => {
                let mut doc = Doc::new("UpdateHealthCheckResponse");
                write_check(&mut doc, &(spec, version + 1));
                return Ok(response(StatusCode::OK, doc.finish("UpdateHealthCheckResponse")));
            }
            Err(turnout_control::ControlError::VersionMismatch { .. })
                if request.health_check_version.is_none() => {}
            Err(e) => return Err(check_error(e, &id)),
        }
    }
    Err(turnout_control::ControlError::Conflict.into())
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
    let own = state.control.checker().to_owned();
    for (checker, observed) in checkers {
        let checker = if checker == "local" { own.clone() } else { checker };
        let (status, at) = match (&result, checker == own) {
            (Some(r), true) => (format!("{} (checker {checker})", r.result.reason), r.at.clone()),
            _ => {
                let word = if observed == "healthy" { "Success" } else { "Failure" };
                (format!("{word}: as reported by checker {checker}"), String::new())
            }
        };
        if last_failure && status.starts_with("Success") {
            continue;
        }
        // Region: the checker's (a Turnout node's) region when it is one of Route 53's
        // checker regions, the only values the API allows; the checker is named in Status.
        let region = state
            .control
            .read()
            .nodes
            .get(&checker)
            .map(|n| n.region.clone())
            .filter(|r| CHECKER_REGIONS.contains(&r.as_str()));
        doc.open("HealthCheckObservation")
            .opt("Region", region)
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
