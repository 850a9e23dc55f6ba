//! What Route 53 reports about a zone's signing and an account's quotas, answered with what
//! Turnout does: GetDNSSEC (Turnout does not sign zones yet: `NOT_SIGNING`, no key-signing
//! keys), GetAccountLimit and GetHostedZoneLimit (Turnout sets no quota on zones, health checks
//! or record sets: the limit is the largest value the API can carry, the count is real) and
//! GetReusableDelegationSetLimit (Turnout has no reusable delegation sets), and
//! GetCheckerIpRanges (the nodes' probe source addresses).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::xml::{Doc, response};
use super::{R53Error, R53State};

/// The limit reported where Turnout sets none.
const NO_LIMIT: i64 = i64::MAX;

/// `GET /2013-04-01/hostedzone/{Id}/dnssec`: GetDNSSEC.
pub(crate) async fn dnssec(
    State(state): State<R53State>,
    Path(id): Path<String>,
) -> Result<Response, R53Error> {
    super::zones::zone_of(&state, &id)?;
    let mut doc = Doc::new("GetDNSSECResponse");
    doc.open("Status")
        .leaf("ServeSignature", "NOT_SIGNING")
        .leaf("StatusMessage", "Turnout does not sign zones (docs/route53-api.md)")
        .close("Status")
        .open("KeySigningKeys")
        .close("KeySigningKeys");
    Ok(response(StatusCode::OK, doc.finish("GetDNSSECResponse")))
}

fn limit(root: &str, kind: &str, count: usize) -> Response {
    let mut doc = Doc::new(root);
    doc.open("Limit")
        .leaf("Type", kind)
        .leaf("Value", NO_LIMIT)
        .close("Limit")
        .leaf("Count", count);
    response(StatusCode::OK, doc.finish(root))
}

/// `GET /2013-04-01/accountlimit/{Type}`: GetAccountLimit.
pub(crate) async fn account(
    State(state): State<R53State>,
    Path(kind): Path<String>,
) -> Result<Response, R53Error> {
    let count = match kind.as_str() {
        "MAX_HEALTH_CHECKS_BY_OWNER" => state.control.checks().len(),
        "MAX_HOSTED_ZONES_BY_OWNER" => state.control.all_zones().len(),
        "MAX_REUSABLE_DELEGATION_SETS_BY_OWNER"
        | "MAX_TRAFFIC_POLICY_INSTANCES_BY_OWNER"
        | "MAX_TRAFFIC_POLICIES_BY_OWNER" => 0,
        other => {
            return Err(R53Error::invalid_input(format!(
                "Type {other:?} is not MAX_HEALTH_CHECKS_BY_OWNER, MAX_HOSTED_ZONES_BY_OWNER, MAX_TRAFFIC_POLICY_INSTANCES_BY_OWNER, MAX_REUSABLE_DELEGATION_SETS_BY_OWNER or MAX_TRAFFIC_POLICIES_BY_OWNER"
            )));
        }
    };
    Ok(limit("GetAccountLimitResponse", &kind, count))
}

/// `GET /2013-04-01/hostedzonelimit/{Id}/{Type}`: GetHostedZoneLimit.
pub(crate) async fn hosted_zone(
    State(state): State<R53State>,
    Path((id, kind)): Path<(String, String)>,
) -> Result<Response, R53Error> {
    let zone = super::zones::zone_of(&state, &id)?;
    match kind.as_str() {
        "MAX_RRSETS_BY_ZONE" => {
            let count = state.control.zone(&zone)?.record_set_count;
            Ok(limit("GetHostedZoneLimitResponse", &kind, count))
        }
        "MAX_VPCS_ASSOCIATED_BY_ZONE" => Err(R53Error::new(
            StatusCode::BAD_REQUEST,
            "HostedZoneNotPrivate",
            "The specified hosted zone is a public hosted zone (Turnout's zones are public).",
        )),
        other => Err(R53Error::invalid_input(format!(
            "Type {other:?} is not MAX_RRSETS_BY_ZONE or MAX_VPCS_ASSOCIATED_BY_ZONE"
        ))),
    }
}

/// `GET /2013-04-01/reusabledelegationsetlimit/{Id}/{Type}`: GetReusableDelegationSetLimit.
pub(crate) async fn delegation_set(Path((id, _)): Path<(String, String)>) -> R53Error {
    R53Error::new(
        StatusCode::NOT_FOUND,
        "NoSuchDelegationSet",
        format!("A reusable delegation set with ID {id} does not exist (Turnout has none)."),
    )
}

/// `GET /2013-04-01/checkeripranges`: GetCheckerIpRanges, the source addresses of every node's
/// probes (`GET /v1/checkers`), each as a /32 or /128.
pub(crate) async fn checker_ip_ranges(State(state): State<R53State>) -> Response {
    let mut ranges: Vec<String> = state
        .control
        .cluster()
        .nodes
        .into_iter()
        .flat_map(|n| n.record.probe_sources)
        .filter_map(|a| a.parse::<std::net::IpAddr>().ok())
        .map(|ip| format!("{ip}/{}", if ip.is_ipv4() { 32 } else { 128 }))
        .collect();
    ranges.sort();
    ranges.dedup();
    let mut doc = Doc::new("GetCheckerIpRangesResponse");
    doc.open("CheckerIpRanges");
    for range in ranges {
        doc.leaf("member", range);
    }
    doc.close("CheckerIpRanges");
    response(StatusCode::OK, doc.finish("GetCheckerIpRangesResponse"))
}
