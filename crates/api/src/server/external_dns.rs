//! external-dns's webhook provider protocol (docs/external-dns.md) on the API listener, at
//! `/external-dns/TOKEN`: external-dns's `--webhook-provider-url` carries a Turnout token
//! with the `config` scope in its path (its webhook client sends no credentials of its own)
//! and appends the protocol's routes to it:
//!
//! | route | what |
//! |---|---|
//! | `GET /` | the domain filter: every zone managed through the API |
//! | `GET /records` | every record set of those zones but the SOA and the apex NS |
//! | `POST /adjustendpoints` | endpoints as Turnout will store them (names, TTLs, properties) |
//! | `POST /records` | the plan's changes, as one change batch over every zone they touch |
//!
//! Routing policies travel as provider-specific properties (`webhook/failover`,
//! `webhook/weight`, `webhook/health-check`...: what external-dns makes of the annotations
//! `external-dns.alpha.kubernetes.io/webhook-failover`...) with the endpoint's
//! `setIdentifier`. Every write is one guarded change batch, audited as the token's.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use turnout_control::{Control, ControlError, Submitted};

use super::AppState;
use turnout_model::records::{AliasSpec, GeoSpec, RecordSetSpec};
use turnout_model::{ChangeBatchSpec, ChangeSpec};

use crate::error::ApiError;

/// The protocol's media type, which external-dns negotiates.
pub const MEDIA_TYPE: &str = "application/external.dns.webhook+json;version=1";
/// The TTL of an endpoint that gives none (external-dns's `recordTTL` 0).
pub const DEFAULT_TTL: i64 = 300;

/// The provider-specific properties Turnout reads and writes, without the `webhook/` prefix
/// external-dns gives them.
const PROPERTIES: [&str; 9] = [
    "alias",
    "evaluate-target-health",
    "failover",
    "geo-continent",
    "geo-country",
    "geo-subdivision",
    "health-check",
    "multivalue",
    "weight",
];
const PREFIX: &str = "webhook/";

/// One external-dns endpoint (Go's `endpoint.Endpoint` in JSON).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Endpoint {
    /// The owner name, without the trailing dot.
    #[serde(default)]
    pub dns_name: String,
    /// The values (for TXT: the text, unquoted).
    #[serde(default)]
    pub targets: Vec<String>,
    /// The type.
    #[serde(default)]
    pub record_type: String,
    /// Distinguishes the records of one routing-policy group.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub set_identifier: String,
    /// Seconds; 0: not given.
    #[serde(default, rename = "recordTTL", skip_serializing_if = "is_zero")]
    pub record_ttl: i64,
    /// external-dns's own labels (kept by its TXT registry, not here).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Provider-specific properties.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub provider_specific: Vec<Property>,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// One provider-specific property.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Property {
    /// Its name (`webhook/failover`).
    #[serde(default)]
    pub name: String,
    /// Its value.
    #[serde(default)]
    pub value: String,
}

/// A plan's changes (Go's `plan.Changes`; older external-dns sends the field names
/// capitalised).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Changes {
    #[serde(default, alias = "Create")]
    create: Option<Vec<Endpoint>>,
    #[serde(default, alias = "UpdateOld")]
    update_old: Option<Vec<Endpoint>>,
    #[serde(default, alias = "UpdateNew")]
    update_new: Option<Vec<Endpoint>>,
    #[serde(default, alias = "Delete")]
    delete: Option<Vec<Endpoint>>,
}

/// The webhook's routes, under `/external-dns/{token}`.
pub(crate) fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/external-dns/{token}", get(negotiate))
        .route("/external-dns/{token}/", get(negotiate))
        .route("/external-dns/{token}/records", get(records).post(apply))
        .route("/external-dns/{token}/adjustendpoints", post(adjust))
        .route_layer(middleware::from_fn_with_state(state, authorize))
}

/// The token in the path must have the `config` (or `admin`) scope. The path is never logged
/// or audited with the token in it.
async fn authorize(
    State(state): State<AppState>,
    Path(params): Path<BTreeMap<String, String>>,
    request: Request,
    next: Next,
) -> Response {
    let token = params.get("token").map(String::as_str).unwrap_or_default();
    let record = match state.control.authenticate(token) {
        Ok(r) => r,
        Err(e) => return super::auth_refusal(&e),
    };
    if !record.scopes.iter().any(|s| s == "config" || s == "admin") {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "Forbidden",
            format!(
                "the token {:?} ({}) may not manage records for external-dns: it needs the scope config or admin",
                record.name,
                record.scopes.join(", ")
            ),
        )
        .into_response();
    }
    let route = request.uri().path().rsplit_once(token).map_or("/", |(_, rest)| rest).to_owned();
    let actor = turnout_control::audit::Actor {
        token: record.name,
        source: request
            .extensions()
            .get::<axum::extract::ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_string()),
        request: format!(
            "external-dns {} {}",
            request.method(),
            if route.is_empty() { "/" } else { &route }
        ),
    };
    let mut response = turnout_control::audit::acting_as(actor, next.run(request)).await;
    let headers = response.headers_mut();
    headers.insert(header::VARY, HeaderValue::from_static("Content-Type"));
    if headers.get(header::CONTENT_TYPE).is_some_and(|v| v == "application/json") {
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(MEDIA_TYPE));
    }
    response
}

/// The zones external-dns may manage: those made through the API (not secondary zones, not
/// zone files, which the API cannot change).
fn zones(control: &Control) -> Vec<String> {
    control
        .all_zones()
        .into_iter()
        .filter(|z| z.secondary.is_none())
        .map(|z| z.name.trim_end_matches('.').to_owned())
        .collect()
}

#[derive(Serialize)]
struct DomainFilter {
    include: Vec<String>,
}

async fn negotiate(State(state): State<AppState>) -> Response {
    axum::Json(DomainFilter { include: zones(&state.control) }).into_response()
}

/// `GET /records`: every record set of the zones, as endpoints.
async fn records(State(state): State<AppState>) -> Result<Response, ApiError> {
    let mut out = Vec::new();
    for zone in zones(&state.control) {
        let apex = format!("{zone}.");
        let mut from: Option<(String, String, String)> = None;
        loop {
            let page = state.control.list_record_sets(
                &apex,
                from.as_ref().map(|f| f.0.as_str()),
                from.as_ref().map(|f| f.1.as_str()),
                from.as_ref().map(|f| f.2.as_str()).filter(|s| !s.is_empty()),
                Some(turnout_control::MAX_RRSET_PAGE),
            )?;
            for set in &page.record_sets {
                let apex_ns = set.rtype == "NS" && set.name.eq_ignore_ascii_case(&apex);
                if set.rtype != "SOA" && !apex_ns {
                    out.push(endpoint_of(set));
                }
            }
            match (page.is_truncated, page.next_name, page.next_type, page.next_set_id) {
                (true, Some(n), Some(t), id) => from = Some((n, t, id.unwrap_or_default())),
                _ => break,
            }
        }
    }
    Ok(axum::Json(out).into_response())
}

/// `POST /adjustendpoints`: the endpoints as Turnout would store and list them, so that
/// external-dns's next plan compares like with like.
async fn adjust(body: Result<Bytes, BytesRejection>) -> Result<Response, ApiError> {
    let endpoints: Vec<Endpoint> = super::json_body(body)?;
    let mut out = Vec::with_capacity(endpoints.len());
    for (i, e) in endpoints.into_iter().enumerate() {
        let field = format!("[{i}]");
        let spec = spec_of(&e, &field)?;
        out.push(Endpoint { labels: e.labels, ..endpoint_of(&spec) });
    }
    Ok(axum::Json(out).into_response())
}

/// `POST /records`: the changes as one batch. Creates are `CREATE`; an update is an `UPSERT`
/// of the new record set (and a `DELETE` of an old one the update renamed away); a delete
/// removes the record set as it is now (one already gone is left gone).
async fn apply(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let changes: Changes = super::json_body(body)?;
    let zones = zones(&state.control);
    let zone_of = |e: &Endpoint, field: &str| -> Result<String, ApiError> {
        let name = e.dns_name.trim_end_matches('.').to_ascii_lowercase();
        zones
            .iter()
            .filter(|z| name == z.as_str() || name.ends_with(&format!(".{z}")))
            .max_by_key(|z| z.len())
            .map(|z| format!("{z}."))
            .ok_or_else(|| {
                ApiError::invalid_input(
                    format!("{field}.dnsName"),
                    format!("{:?} is in no zone this node manages through its API", e.dns_name),
                )
            })
    };
    let mut batch = Vec::new();
    let key = |s: &RecordSetSpec| {
        (s.name.to_ascii_lowercase(), s.rtype.to_ascii_uppercase(), s.set_id.clone())
    };
    let mut upserted = Vec::new();
    let writes = named("updateNew", &changes.update_new).map(|w| ("UPSERT", w));
    let creates = named("create", &changes.create).map(|w| ("CREATE", w));
    for (action, (field, e)) in writes.chain(creates) {
        let spec = spec_of(e, &field)?;
        if action == "UPSERT" {
            upserted.push(key(&spec));
        }
        batch.push(ChangeSpec {
            action: action.into(),
            zone: Some(zone_of(e, &field)?),
            record_set: spec,
        });
    }
    let olds = named("updateOld", &changes.update_old).map(|w| (true, w));
    let deletes = named("delete", &changes.delete).map(|w| (false, w));
    for (old, (field, e)) in olds.chain(deletes) {
        let spec = spec_of(e, &field)?;
        if old && upserted.contains(&key(&spec)) {
            continue;
        }
        let zone = zone_of(e, &field)?;
        let page = state.control.list_record_sets(
            &zone,
            Some(&spec.name),
            Some(&spec.rtype),
            spec.set_id.as_deref(),
            Some(1),
        )?;
        if let Some(now) = page.record_sets.into_iter().next().filter(|s| key(s) == key(&spec)) {
            batch.push(ChangeSpec { action: "DELETE".into(), zone: Some(zone), record_set: now });
        }
    }
    if batch.is_empty() {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let comment = Some("external-dns".to_owned());
    match state.control.submit(&ChangeBatchSpec { comment, changes: batch }, None, false).await? {
        Submitted::Applied(_) => Ok(StatusCode::NO_CONTENT.into_response()),
        Submitted::DryRun(_) => Err(ControlError::Conflict.into()),
    }
}

/// Each endpoint of one of a plan's lists, named by the list and its index in it.
fn named<'e>(
    list: &'static str,
    endpoints: &'e Option<Vec<Endpoint>>,
) -> impl Iterator<Item = (String, &'e Endpoint)> {
    endpoints.iter().flatten().enumerate().map(move |(i, e)| (format!("{list}[{i}]"), e))
}

/// A stored record set as an endpoint.
fn endpoint_of(s: &RecordSetSpec) -> Endpoint {
    let mut props: Vec<(&str, String)> = Vec::new();
    if let Some(f) = &s.failover {
        props.push(("failover", f.to_ascii_uppercase()));
    }
    if let Some(w) = s.weight {
        props.push(("weight", w.to_string()));
    }
    if let Some(c) = &s.health_check {
        props.push(("health-check", c.clone()));
    }
    if s.multivalue == Some(true) {
        props.push(("multivalue", "true".into()));
    }
    if let Some(g) = &s.geo {
        props.extend(g.continent.clone().map(|v| ("geo-continent", v)));
        props.extend(g.country.clone().map(|v| ("geo-country", v)));
        props.extend(g.subdivision.clone().map(|v| ("geo-subdivision", v)));
    }
    let targets = match &s.alias {
        Some(a) => {
            props.push(("alias", "true".into()));
            props.push(("evaluate-target-health", a.evaluate_target_health.to_string()));
            vec![a.target.trim_end_matches('.').to_owned()]
        }
        None => s.values.iter().flatten().map(|v| target_of(&s.rtype, v)).collect(),
    };
    props.sort();
    Endpoint {
        dns_name: s.name.trim_end_matches('.').to_ascii_lowercase(),
        targets,
        record_type: s.rtype.to_ascii_uppercase(),
        set_identifier: s.set_id.clone().unwrap_or_default(),
        record_ttl: s.ttl.unwrap_or(0),
        labels: BTreeMap::new(),
        provider_specific: props
            .into_iter()
            .map(|(n, v)| Property { name: format!("{PREFIX}{n}"), value: v })
            .collect(),
    }
}

/// An endpoint as a record set; `field` names it in errors.
fn spec_of(e: &Endpoint, field: &str) -> Result<RecordSetSpec, ApiError> {
    let bad =
        |what: &str, message: String| ApiError::invalid_input(format!("{field}.{what}"), message);
    if e.dns_name.trim_end_matches('.').is_empty() {
        return Err(bad("dnsName", "an endpoint needs a name".into()));
    }
    if e.targets.is_empty() {
        return Err(bad("targets", "an endpoint needs at least one target".into()));
    }
    let rtype = e.record_type.to_ascii_uppercase();
    let mut props: BTreeMap<&str, &str> = BTreeMap::new();
    // Another provider's properties, and ones Turnout does not know, are not Turnout's.
    for p in &e.provider_specific {
        if let Some(name) = p.name.strip_prefix(PREFIX).filter(|n| PROPERTIES.contains(n)) {
            props.insert(name, p.value.as_str());
        }
    }
    let flag = |name: &str| -> Result<Option<bool>, ApiError> {
        match props.get(name).map(|v| v.to_ascii_lowercase()) {
            None => Ok(None),
            Some(v) if v == "true" => Ok(Some(true)),
            Some(v) if v == "false" => Ok(Some(false)),
            Some(v) => Err(bad(
                &format!("providerSpecific.{PREFIX}{name}"),
                format!("{v:?} is not true or false"),
            )),
        }
    };
    let weight = match props.get("weight") {
        None => None,
        Some(w) => Some(w.parse::<i64>().map_err(|_| {
            bad(&format!("providerSpecific.{PREFIX}weight"), format!("{w:?} is not a number 0-255"))
        })?),
    };
    let failover = match props.get("failover").map(|f| f.to_ascii_lowercase()) {
        None => None,
        Some(f) if f == "primary" || f == "secondary" => Some(f),
        Some(f) => {
            return Err(bad(
                &format!("providerSpecific.{PREFIX}failover"),
                format!("{f:?} is not PRIMARY or SECONDARY"),
            ));
        }
    };
    let geo = ["geo-continent", "geo-country", "geo-subdivision"]
        .iter()
        .any(|g| props.contains_key(g))
        .then(|| GeoSpec {
            continent: props.get("geo-continent").map(|v| (*v).to_owned()),
            country: props.get("geo-country").map(|v| (*v).to_owned()),
            subdivision: props.get("geo-subdivision").map(|v| (*v).to_owned()),
        });
    let name = format!("{}.", e.dns_name.trim_end_matches('.').to_ascii_lowercase());
    let alias = flag("alias")?.unwrap_or(false);
    let (ttl, values, alias) = if alias {
        if e.targets.len() != 1 {
            return Err(bad("targets", "an alias has exactly one target".into()));
        }
        let target = format!("{}.", e.targets[0].trim_end_matches('.'));
        let evaluate = flag("evaluate-target-health")?.unwrap_or(false);
        (None, None, Some(AliasSpec { target, evaluate_target_health: evaluate }))
    } else {
        let ttl = if e.record_ttl > 0 { e.record_ttl } else { DEFAULT_TTL };
        let mut values: Vec<String> = e.targets.iter().map(|t| value_of(&rtype, t)).collect();
        values.sort();
        values.dedup();
        (Some(ttl), Some(values), None)
    };
    Ok(RecordSetSpec {
        name,
        rtype,
        ttl,
        set_id: (!e.set_identifier.is_empty()).then(|| e.set_identifier.clone()),
        failover,
        weight,
        geo,
        multivalue: flag("multivalue")?.filter(|m| *m),
        health_check: props.get("health-check").map(|v| (*v).to_owned()),
        values,
        alias,
        ..RecordSetSpec::default()
    })
}

/// Whether the last field of a value of `rtype` is a domain name (external-dns writes it
/// without the trailing dot, Turnout's presentation format with it).
fn ends_in_name(rtype: &str) -> bool {
    matches!(rtype, "CNAME" | "NS" | "PTR" | "MX" | "SRV")
}

/// An external-dns target as a Turnout value: TXT quoted into character strings (RFC 1035
/// §5.1), names made absolute.
fn value_of(rtype: &str, target: &str) -> String {
    if rtype == "TXT" {
        return quote_txt(target);
    }
    if ends_in_name(rtype) && !target.ends_with('.') {
        return format!("{target}.");
    }
    target.to_owned()
}

/// A Turnout value as an external-dns target: TXT's character strings joined into their text,
/// names without the trailing dot.
fn target_of(rtype: &str, value: &str) -> String {
    if rtype.eq_ignore_ascii_case("TXT") {
        return unquote_txt(value);
    }
    if ends_in_name(&rtype.to_ascii_uppercase()) {
        return value.trim_end_matches('.').to_owned();
    }
    value.to_owned()
}

/// `text` as quoted character strings of at most 255 bytes each, `"` and `\` escaped, bytes
/// outside printable ASCII as `\DDD` (RFC 1035 §5.1).
fn quote_txt(text: &str) -> String {
    let strings: Vec<String> = text
        .as_bytes()
        .chunks(255)
        .map(|chunk| {
            let mut s = String::from("\"");
            turnout_model::presentation::write_escaped(&mut s, chunk);
            s.push('"');
            s
        })
        .collect();
    if strings.is_empty() { "\"\"".to_owned() } else { strings.join(" ") }
}

/// Quoted (or bare) character strings joined into one text, escapes undone.
fn unquote_txt(value: &str) -> String {
    use turnout_model::presentation::{char_string, tokenize};
    let bytes: Vec<u8> = match tokenize(value) {
        Ok(tokens) => tokens.iter().filter_map(|t| char_string(t).ok()).flatten().collect(),
        Err(_) => value.as_bytes().to_vec(),
    };
    String::from_utf8_lossy(&bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn txt_round_trips() {
        for text in
            ["heritage=external-dns,external-dns/owner=k8s", "a \"quoted\" \\ back", "", "é"]
        {
            assert_eq!(unquote_txt(&quote_txt(text)), text, "{text}");
        }
        let long = "x".repeat(600);
        let quoted = quote_txt(&long);
        assert_eq!(quoted.matches('"').count(), 6, "three character strings");
        assert_eq!(unquote_txt(&quoted), long);
        assert_eq!(unquote_txt("\"v=spf1\" \" -all\""), "v=spf1 -all");
    }

    #[test]
    fn endpoints_round_trip_through_record_sets() {
        let e = Endpoint {
            dns_name: "www.example.com".into(),
            targets: vec!["192.0.2.2".into(), "192.0.2.1".into()],
            record_type: "A".into(),
            set_identifier: "east".into(),
            record_ttl: 60,
            labels: BTreeMap::new(),
            provider_specific: vec![
                Property { name: "webhook/weight".into(), value: "10".into() },
                Property { name: "webhook/health-check".into(), value: "web".into() },
                Property { name: "aws/evaluate-target-health".into(), value: "true".into() },
            ],
        };
        let spec = spec_of(&e, "[0]").unwrap();
        assert_eq!(spec.weight, Some(10));
        assert_eq!(
            spec.values.as_deref(),
            Some(&["192.0.2.1".to_owned(), "192.0.2.2".to_owned()][..])
        );
        let back = endpoint_of(&spec);
        let names: Vec<&str> = back.provider_specific.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["webhook/health-check", "webhook/weight"]);
        assert_eq!((back.dns_name.as_str(), back.record_ttl), ("www.example.com", 60));
        let cname = Endpoint {
            dns_name: "app.example.com".into(),
            targets: vec!["lb.example.net".into()],
            record_type: "CNAME".into(),
            ..Endpoint::default()
        };
        let spec = spec_of(&cname, "[0]").unwrap();
        assert_eq!(
            (spec.ttl, spec.values.clone().unwrap()[0].as_str()),
            (Some(DEFAULT_TTL), "lb.example.net.")
        );
        assert_eq!(endpoint_of(&spec).targets, ["lb.example.net"]);
        let bad = Endpoint {
            provider_specific: vec![Property {
                name: "webhook/failover".into(),
                value: "MAYBE".into(),
            }],
            ..cname
        };
        let err = spec_of(&bad, "create[3]").unwrap_err();
        assert_eq!(err.field.as_deref(), Some("create[3].providerSpecific.webhook/failover"));
    }
}
