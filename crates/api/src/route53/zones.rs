//! Hosted zones, record sets and changes through the Route 53 API: CreateHostedZone,
//! GetHostedZone, ListHostedZones, ListHostedZonesByName, GetHostedZoneCount,
//! UpdateHostedZoneComment, DeleteHostedZone, ChangeResourceRecordSets,
//! ListResourceRecordSets and GetChange, over the same control-plane calls as the JSON API.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use serde::Deserialize;
use turnout_control::types::{ChangeInfo, CreateZone, ZoneInfo};
use turnout_model::RecordSetSpec;
use turnout_model::change::{ChangeBatchSpec, ChangeError, ChangeSpec};
use turnout_model::geo::GeoSpec;
use turnout_model::records::{AliasSpec, CidrSpec, GeoproximitySpec};

use super::xml::{Doc, response};
use super::{R53Error, R53State, body_text};

/// Route 53's largest page of record sets, and of hosted zones.
const MAX_RRSET_ITEMS: usize = 300;
const MAX_ZONE_ITEMS: usize = 100;

/// Reads an XML request body into `T`.
pub(crate) fn read_xml<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, R53Error> {
    quick_xml::de::from_str(body_text(body)?)
        .map_err(|e| R53Error::invalid_input(format!("Invalid XML: {e}")))
}

/// The zone a hosted zone id names.
pub(crate) fn zone_of(state: &R53State, id: &str) -> Result<String, R53Error> {
    state.control.zone_by_id(id).map(|apex| apex.to_string()).ok_or_else(|| {
        R53Error::new(
            StatusCode::NOT_FOUND,
            "NoSuchHostedZone",
            format!("No hosted zone found with ID: {id}"),
        )
    })
}

fn write_change(doc: &mut Doc, c: &ChangeInfo) {
    doc.open("ChangeInfo")
        .leaf("Id", format!("/change/{}", c.id))
        .leaf("Status", c.status.as_str())
        .leaf("SubmittedAt", &c.submitted_at)
        .opt("Comment", c.comment.as_ref())
        .close("ChangeInfo");
}

fn write_zone(doc: &mut Doc, z: &ZoneInfo) {
    doc.open("HostedZone")
        .leaf("Id", format!("/hostedzone/{}", z.id))
        .leaf("Name", &z.name)
        .leaf(
            "CallerReference",
            z.caller_reference.clone().unwrap_or_else(|| format!("turnout:{}", z.name)),
        )
        .open("Config")
        .opt("Comment", z.comment.as_ref())
        .leaf("PrivateZone", "false")
        .close("Config")
        .leaf("ResourceRecordSetCount", z.record_set_count)
        .close("HostedZone");
}

fn write_delegation_set(doc: &mut Doc, z: &ZoneInfo) {
    doc.open("DelegationSet").open("NameServers");
    for ns in &z.name_servers {
        doc.leaf("NameServer", ns.trim_end_matches('.'));
    }
    doc.close("NameServers").close("DelegationSet");
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateHostedZoneRequest {
    #[serde(default)]
    name: String,
    #[serde(default)]
    caller_reference: String,
    #[serde(default)]
    hosted_zone_config: Option<HostedZoneConfig>,
    #[serde(default, rename = "VPC")]
    vpc: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    delegation_set_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct HostedZoneConfig {
    #[serde(default)]
    comment: Option<String>,
    #[serde(default)]
    private_zone: Option<bool>,
}

/// `POST /2013-04-01/hostedzone`: CreateHostedZone. A CallerReference used before is
/// `HostedZoneAlreadyExists`, as in Route 53.
pub(crate) async fn create(
    State(state): State<R53State>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, R53Error> {
    let request: CreateHostedZoneRequest = read_xml(&body)?;
    let config = request.hosted_zone_config.unwrap_or_default();
    if request.vpc.is_some() || config.private_zone == Some(true) {
        return Err(R53Error::invalid_input(
            "private hosted zones are not supported: Turnout serves public zones",
        ));
    }
    if request.delegation_set_id.is_some() {
        return Err(R53Error::new(
            StatusCode::BAD_REQUEST,
            "NoSuchDelegationSet",
            "reusable delegation sets are not supported",
        ));
    }
    if request.caller_reference.is_empty() || request.caller_reference.chars().count() > 128 {
        return Err(R53Error::invalid_input(
            "1 validation error detected: Value at 'callerReference' failed to satisfy constraint: Member must have length between 1 and 128",
        ));
    }
    let create = CreateZone {
        name: request.name.clone(),
        caller_reference: Some(request.caller_reference.clone()),
        comment: config.comment,
        name_servers: None,
        secondary: None,
    };
    let created = state.control.create_zone(&create).await?;
    if !created.created {
        return Err(R53Error::new(
            StatusCode::CONFLICT,
            "HostedZoneAlreadyExists",
            format!(
                "A hosted zone has already been created with the specified caller reference: {}",
                request.caller_reference
            ),
        ));
    }
    let mut doc = Doc::new("CreateHostedZoneResponse");
    write_zone(&mut doc, &created.zone);
    write_change(&mut doc, &created.change);
    write_delegation_set(&mut doc, &created.zone);
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
    let location = format!("http://{host}/{}/hostedzone/{}", super::VERSION, created.zone.id);
    let mut out = response(StatusCode::CREATED, doc.finish("CreateHostedZoneResponse"));
    if let Ok(v) = location.parse() {
        out.headers_mut().insert(header::LOCATION, v);
    }
    Ok(out)
}

/// `GET /2013-04-01/hostedzone/{Id}`: GetHostedZone.
pub(crate) async fn get(
    State(state): State<R53State>,
    Path(id): Path<String>,
) -> Result<Response, R53Error> {
    let zone = state.control.zone(&zone_of(&state, &id)?)?;
    let mut doc = Doc::new("GetHostedZoneResponse");
    write_zone(&mut doc, &zone);
    write_delegation_set(&mut doc, &zone);
    Ok(response(StatusCode::OK, doc.finish("GetHostedZoneResponse")))
}

pub(crate) fn max_items(
    query: &HashMap<String, String>,
    cap: usize,
    default: usize,
) -> Result<usize, R53Error> {
    page_size(query, "maxitems", cap, default)
}

/// The page size the query parameter `key` asks for (`default` when absent), at most `cap`.
pub(crate) fn page_size(
    query: &HashMap<String, String>,
    key: &str,
    cap: usize,
    default: usize,
) -> Result<usize, R53Error> {
    match query.get(key) {
        None => Ok(default),
        Some(text) => match text.parse::<usize>() {
            Ok(n) if n >= 1 => Ok(n.min(cap)),
            _ => Err(R53Error::invalid_input(format!("{key} {text:?} is not a positive number"))),
        },
    }
}

/// `GET /2013-04-01/hostedzone`: ListHostedZones, in name order; `marker` is the id of the
/// first zone of the page.
pub(crate) async fn list(
    State(state): State<R53State>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, R53Error> {
    let max = max_items(&query, MAX_ZONE_ITEMS, MAX_ZONE_ITEMS)?;
    let zones = state.control.all_zones();
    let start = match query.get("marker") {
        Some(m) => zones.iter().position(|z| &z.id == m).ok_or_else(|| {
            R53Error::invalid_input(format!("the marker {m:?} is not a hosted zone id"))
        })?,
        None => 0,
    };
    Ok(super::marker_page(
        "ListHostedZonesResponse",
        "HostedZones",
        &zones,
        (start, max, query.get("marker")),
        write_zone,
        |z| z.id.as_str(),
    ))
}

/// `GET /2013-04-01/hostedzonesbyname`: ListHostedZonesByName, in Route 53's order (the
/// names' labels reversed), from `dnsname` (and `hostedzoneid`).
pub(crate) async fn list_by_name(
    State(state): State<R53State>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, R53Error> {
    let max = max_items(&query, MAX_ZONE_ITEMS, MAX_ZONE_ITEMS)?;
    if query.contains_key("hostedzoneid") && !query.contains_key("dnsname") {
        return Err(R53Error::invalid_input("hostedzoneid needs dnsname"));
    }
    let zones = state.control.all_zones();
    let start = match query.get("dnsname") {
        Some(n) => {
            let name = turnout_model::Name::parse_absolute(n)
                .map_err(|e| R53Error::invalid_input(format!("dnsname {n:?}: {e}")))?;
            zones
                .iter()
                .position(|z| turnout_model::Name::parse_absolute(&z.name).is_ok_and(|z| z >= name))
                .unwrap_or(zones.len())
        }
        None => 0,
    };
    let page = &zones[start..(start + max).min(zones.len())];
    let next = zones.get(start + max);
    let mut doc = Doc::new("ListHostedZonesByNameResponse");
    doc.open("HostedZones");
    for z in page {
        write_zone(&mut doc, z);
    }
    doc.close("HostedZones")
        .opt("DNSName", query.get("dnsname"))
        .opt("HostedZoneId", query.get("hostedzoneid"))
        .leaf("IsTruncated", next.is_some())
        .opt("NextDNSName", next.map(|z| &z.name))
        .opt("NextHostedZoneId", next.map(|z| &z.id))
        .leaf("MaxItems", max);
    Ok(response(StatusCode::OK, doc.finish("ListHostedZonesByNameResponse")))
}

/// `GET /2013-04-01/hostedzonecount`: GetHostedZoneCount.
pub(crate) async fn count(State(state): State<R53State>) -> Response {
    let mut doc = Doc::new("GetHostedZoneCountResponse");
    doc.leaf("HostedZoneCount", state.control.all_zones().len());
    response(StatusCode::OK, doc.finish("GetHostedZoneCountResponse"))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UpdateHostedZoneCommentRequest {
    #[serde(default)]
    comment: Option<String>,
}

/// `POST /2013-04-01/hostedzone/{Id}`: UpdateHostedZoneComment.
pub(crate) async fn update_comment(
    State(state): State<R53State>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, R53Error> {
    let request: UpdateHostedZoneCommentRequest = read_xml(&body)?;
    let zone = zone_of(&state, &id)?;
    let comment = request.comment.filter(|c| !c.is_empty());
    let zone = state.control.set_zone_comment(&zone, comment).await?;
    let mut doc = Doc::new("UpdateHostedZoneCommentResponse");
    write_zone(&mut doc, &zone);
    Ok(response(StatusCode::OK, doc.finish("UpdateHostedZoneCommentResponse")))
}

/// `DELETE /2013-04-01/hostedzone/{Id}`: DeleteHostedZone, refused while it holds more than
/// its SOA and NS (`HostedZoneNotEmpty`).
pub(crate) async fn delete(
    State(state): State<R53State>,
    Path(id): Path<String>,
) -> Result<Response, R53Error> {
    let zone = zone_of(&state, &id)?;
    let change = state.control.delete_zone(&zone, false).await?;
    let mut doc = Doc::new("DeleteHostedZoneResponse");
    write_change(&mut doc, &change);
    Ok(response(StatusCode::OK, doc.finish("DeleteHostedZoneResponse")))
}

/// `GET /2013-04-01/change/{Id}`: GetChange (PENDING until every node serves it).
pub(crate) async fn get_change(
    State(state): State<R53State>,
    Path(id): Path<String>,
) -> Result<Response, R53Error> {
    let id = id.strip_prefix("/change/").unwrap_or(&id);
    let change = state.control.change(id).await?;
    let mut doc = Doc::new("GetChangeResponse");
    write_change(&mut doc, &change);
    Ok(response(StatusCode::OK, doc.finish("GetChangeResponse")))
}

// ----- record sets -----

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ChangeResourceRecordSetsRequest {
    change_batch: ChangeBatchXml,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ChangeBatchXml {
    #[serde(default)]
    comment: Option<String>,
    #[serde(default)]
    changes: ChangesXml,
}

#[derive(Debug, Default, Deserialize)]
struct ChangesXml {
    #[serde(default, rename = "Change")]
    change: Vec<ChangeXml>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ChangeXml {
    #[serde(default)]
    action: String,
    resource_record_set: RecordSetXml,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RecordSetXml {
    #[serde(default)]
    name: String,
    #[serde(default, rename = "Type")]
    rtype: String,
    #[serde(default)]
    set_identifier: Option<String>,
    #[serde(default)]
    weight: Option<i64>,
    #[serde(default)]
    region: Option<String>,
    #[serde(default)]
    geo_location: Option<GeoLocationXml>,
    #[serde(default)]
    failover: Option<String>,
    #[serde(default)]
    multi_value_answer: Option<bool>,
    #[serde(default, rename = "TTL")]
    ttl: Option<i64>,
    #[serde(default)]
    resource_records: Option<ResourceRecordsXml>,
    #[serde(default)]
    alias_target: Option<AliasTargetXml>,
    #[serde(default)]
    health_check_id: Option<String>,
    #[serde(default)]
    cidr_routing_config: Option<CidrXml>,
    #[serde(default)]
    geo_proximity_location: Option<GeoProximityXml>,
    #[serde(default)]
    traffic_policy_instance_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GeoLocationXml {
    #[serde(default)]
    continent_code: Option<String>,
    #[serde(default)]
    country_code: Option<String>,
    #[serde(default)]
    subdivision_code: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct ResourceRecordsXml {
    #[serde(default, rename = "ResourceRecord")]
    records: Vec<ResourceRecordXml>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ResourceRecordXml {
    #[serde(default)]
    value: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AliasTargetXml {
    #[serde(default)]
    hosted_zone_id: String,
    #[serde(default, rename = "DNSName")]
    dns_name: String,
    #[serde(default)]
    evaluate_target_health: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CidrXml {
    #[serde(default)]
    collection_id: String,
    #[serde(default)]
    location_name: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GeoProximityXml {
    #[serde(default, rename = "AWSRegion")]
    aws_region: Option<String>,
    #[serde(default)]
    local_zone_group: Option<String>,
    #[serde(default)]
    coordinates: Option<CoordinatesXml>,
    #[serde(default)]
    bias: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CoordinatesXml {
    #[serde(default)]
    latitude: String,
    #[serde(default)]
    longitude: String,
}

/// A name as Route 53 writes it (`\052` for `*`, other `\DDD` escapes, the trailing dot
/// optional), absolute.
fn route53_name(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 1);
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let digits = bytes.get(i + 1..i + 4).and_then(|d| std::str::from_utf8(d).ok());
        match (bytes[i], digits.and_then(|d| d.parse::<u8>().ok())) {
            (b'\\', Some(code))
                if digits.is_some_and(|d| d.bytes().all(|b| b.is_ascii_digit())) =>
            {
                out.push(char::from(code));
                i += 4;
            }
            (b, _) => {
                out.push(char::from(b));
                i += 1;
            }
        }
    }
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}

/// A name as Route 53 shows it: `*` as `\052`.
fn shown_name(name: &str) -> String {
    name.replace('*', "\\052")
}

/// A Route 53 record set as Turnout's.
fn record_set(index: usize, x: RecordSetXml, zone_id: &str) -> Result<RecordSetSpec, R53Error> {
    let at = |what: &str| format!("Changes[{index}].ResourceRecordSet.{what}");
    if x.traffic_policy_instance_id.is_some() {
        return Err(R53Error::invalid_input(format!(
            "{}: traffic policies are not supported",
            at("TrafficPolicyInstanceId")
        )));
    }
    let geoproximity = match x.geo_proximity_location {
        None => None,
        Some(g) => {
            if g.local_zone_group.is_some() {
                return Err(R53Error::invalid_input(format!(
                    "{}: local zone groups are not supported",
                    at("GeoProximityLocation.LocalZoneGroup")
                )));
            }
            let coord = |text: &str, what: &str| {
                text.trim().parse::<f64>().map_err(|_| {
                    R53Error::invalid_input(format!("{}: {text:?} is not a number", at(what)))
                })
            };
            let (latitude, longitude) = match &g.coordinates {
                Some(c) => (
                    Some(coord(&c.latitude, "GeoProximityLocation.Coordinates.Latitude")?),
                    Some(coord(&c.longitude, "GeoProximityLocation.Coordinates.Longitude")?),
                ),
                None => (None, None),
            };
            Some(GeoproximitySpec { region: g.aws_region, latitude, longitude, bias: g.bias })
        }
    };
    let alias = match x.alias_target {
        None => None,
        Some(a) => {
            let own = a.hosted_zone_id.trim_start_matches("/hostedzone/");
            if own != zone_id {
                return Err(R53Error::new(
                    StatusCode::BAD_REQUEST,
                    "InvalidChangeBatch",
                    format!(
                        "Tried to create an alias that targets {}, type {} in zone {}, but the alias target name does not lie within the target zone: Turnout aliases point inside their own hosted zone ({zone_id})",
                        a.dns_name, x.rtype, a.hosted_zone_id
                    ),
                ));
            }
            Some(AliasSpec {
                target: route53_name(&a.dns_name),
                evaluate_target_health: a.evaluate_target_health,
            })
        }
    };
    Ok(RecordSetSpec {
        name: route53_name(&x.name),
        rtype: x.rtype,
        ttl: x.ttl,
        set_id: x.set_identifier,
        failover: x.failover.map(|f| f.to_ascii_lowercase()),
        weight: x.weight,
        region: x.region,
        geo: x.geo_location.map(|g| GeoSpec {
            continent: g.continent_code,
            country: g.country_code,
            subdivision: g.subdivision_code,
        }),
        geoproximity,
        cidr: x
            .cidr_routing_config
            .map(|c| CidrSpec { collection: c.collection_id, location: c.location_name }),
        multivalue: x.multi_value_answer,
        health_check: x.health_check_id,
        values: x.resource_records.map(|r| r.records.into_iter().map(|v| v.value).collect()),
        alias,
        // Route 53 has no always_serve, pool thresholds or trickle: a record written here has
        // none.
        ..RecordSetSpec::default()
    })
}

/// A change error as Route 53 words it: Turnout's messages for the cases Route 53 documents
/// already follow its wording (`tried to create resource record set [name=..., type=...] but
/// it already exists`), with Route 53's capital.
pub(crate) fn change_error_message(e: &ChangeError) -> String {
    let mut chars = e.message.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// `POST /2013-04-01/hostedzone/{Id}/rrset/`: ChangeResourceRecordSets, validated whole and
/// applied as one change batch, or refused whole.
pub(crate) async fn change_record_sets(
    State(state): State<R53State>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, R53Error> {
    let zone = zone_of(&state, &id)?;
    let request: ChangeResourceRecordSetsRequest = read_xml(&body)?;
    let zone_id = id.trim_start_matches("/hostedzone/").to_owned();
    let mut changes = Vec::with_capacity(request.change_batch.changes.change.len());
    for (i, c) in request.change_batch.changes.change.into_iter().enumerate() {
        if !matches!(c.action.as_str(), "CREATE" | "DELETE" | "UPSERT") {
            return Err(R53Error::invalid_input(format!(
                "Invalid XML ; cvc-enumeration-valid: Value '{}' is not facet-valid with respect to enumeration '[CREATE, DELETE, UPSERT]'. It must be a value from the enumeration.",
                c.action
            )));
        }
        changes.push(ChangeSpec {
            action: c.action,
            zone: None,
            record_set: record_set(i, c.resource_record_set, &zone_id)?,
        });
    }
    if changes.is_empty() {
        return Err(R53Error::invalid_input(
            "1 validation error detected: Value at 'changeBatch.changes' failed to satisfy constraint: Member must have length greater than or equal to 1",
        ));
    }
    // Records name a collection by its Route 53 id here, by its name in Turnout.
    let names: HashMap<String, String> = state
        .control
        .collections()
        .into_iter()
        .map(|c| (turnout_control::collection_id(&c), c.name))
        .collect();
    for c in &mut changes {
        if let Some(cidr) = &mut c.record_set.cidr
            && let Some(name) = names.get(&cidr.collection)
        {
            cidr.collection.clone_from(name);
        }
    }
    let batch = ChangeBatchSpec { comment: request.change_batch.comment, changes };
    let submitted = state.control.submit(&batch, Some(&zone), false).await?;
    let turnout_control::Submitted::Applied(change) = submitted else {
        return Err(R53Error::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalFailure",
            "not applied",
        ));
    };
    let mut doc = Doc::new("ChangeResourceRecordSetsResponse");
    write_change(&mut doc, &change);
    Ok(response(StatusCode::OK, doc.finish("ChangeResourceRecordSetsResponse")))
}

/// Each CIDR collection's Route 53 id by name.
pub(crate) fn collection_ids(state: &R53State) -> HashMap<String, String> {
    let all = state.control.collections();
    all.into_iter().map(|c| (c.name.clone(), turnout_control::collection_id(&c))).collect()
}

fn write_record_set(
    doc: &mut Doc,
    s: &RecordSetSpec,
    zone_id: &str,
    collection_ids: &HashMap<String, String>,
) {
    doc.open("ResourceRecordSet").leaf("Name", shown_name(&s.name)).leaf("Type", &s.rtype);
    doc.opt("SetIdentifier", s.set_id.as_ref()).opt("Weight", s.weight);
    doc.opt("Region", s.region.as_ref());
    if let Some(g) = &s.geo {
        doc.open("GeoLocation")
            .opt("ContinentCode", g.continent.as_ref())
            .opt("CountryCode", g.country.as_ref())
            .opt("SubdivisionCode", g.subdivision.as_ref())
            .close("GeoLocation");
    }
    doc.opt("Failover", s.failover.as_ref().map(|f| f.to_ascii_uppercase()));
    doc.opt("MultiValueAnswer", s.multivalue);
    doc.opt("TTL", s.ttl);
    if let Some(values) = &s.values {
        doc.open("ResourceRecords");
        for v in values {
            doc.open("ResourceRecord").leaf("Value", v).close("ResourceRecord");
        }
        doc.close("ResourceRecords");
    }
    if let Some(a) = &s.alias {
        doc.open("AliasTarget")
            .leaf("HostedZoneId", zone_id)
            .leaf("DNSName", shown_name(&a.target))
            .leaf("EvaluateTargetHealth", a.evaluate_target_health)
            .close("AliasTarget");
    }
    doc.opt("HealthCheckId", s.health_check.as_ref());
    if let Some(c) = &s.cidr {
        doc.open("CidrRoutingConfig")
            .leaf("CollectionId", collection_ids.get(&c.collection).unwrap_or(&c.collection))
            .leaf("LocationName", &c.location)
            .close("CidrRoutingConfig");
    }
    if let Some(g) = &s.geoproximity {
        doc.open("GeoProximityLocation").opt("AWSRegion", g.region.as_ref());
        if let (Some(lat), Some(lon)) = (g.latitude, g.longitude) {
            doc.open("Coordinates")
                .leaf("Latitude", format!("{lat:.2}"))
                .leaf("Longitude", format!("{lon:.2}"))
                .close("Coordinates");
        }
        doc.opt("Bias", g.bias).close("GeoProximityLocation");
    }
    doc.close("ResourceRecordSet");
}

/// `GET /2013-04-01/hostedzone/{Id}/rrset`: ListResourceRecordSets in Route 53's order, paged
/// by `name`, `type`, `identifier` and `maxitems` (at most 300).
pub(crate) async fn list_record_sets(
    State(state): State<R53State>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, R53Error> {
    let zone = zone_of(&state, &id)?;
    let zone_id = id.trim_start_matches("/hostedzone/").to_owned();
    let max = max_items(&query, MAX_RRSET_ITEMS, MAX_RRSET_ITEMS)?;
    if query.contains_key("type") && !query.contains_key("name") {
        return Err(R53Error::invalid_input("The input is not valid"));
    }
    let name = query.get("name").map(|n| route53_name(n));
    let page = state.control.list_record_sets(
        &zone,
        name.as_deref(),
        query.get("type").map(String::as_str),
        query.get("identifier").map(String::as_str),
        Some(max),
    )?;
    let ids = collection_ids(&state);
    let mut doc = Doc::new("ListResourceRecordSetsResponse");
    doc.open("ResourceRecordSets");
    for s in &page.record_sets {
        write_record_set(&mut doc, s, &zone_id, &ids);
    }
    doc.close("ResourceRecordSets").leaf("IsTruncated", page.is_truncated);
    if page.is_truncated {
        doc.opt("NextRecordName", page.next_name.as_deref().map(shown_name))
            .opt("NextRecordType", page.next_type.as_ref())
            .opt("NextRecordIdentifier", page.next_set_id.as_ref().filter(|s| !s.is_empty()));
    }
    doc.leaf("MaxItems", max);
    Ok(response(StatusCode::OK, doc.finish("ListResourceRecordSetsResponse")))
}
