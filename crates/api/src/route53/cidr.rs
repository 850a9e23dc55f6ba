//! CIDR collections through the Route 53 API: CreateCidrCollection (CallerReference),
//! ListCidrCollections, ListCidrLocations, ListCidrBlocks, ChangeCidrCollection
//! (CollectionVersion) and DeleteCidrCollection, over Turnout's CIDR collections
//! (docs/routing-policies.md). A collection's Route 53 id is stored with it
//! ([`turnout_control::collection_id`]); records name it in `CidrRoutingConfig.CollectionId`.

use std::collections::{BTreeMap, HashMap};

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde::Deserialize;
use turnout_control::{ControlError, collection_id};
use turnout_model::cidr::CidrCollectionSpec;

use super::xml::{Doc, response};
use super::{R53Error, R53State};

/// The largest page of a CIDR list call.
const MAX_RESULTS: usize = 1000;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateRequest {
    #[serde(default)]
    name: String,
    #[serde(default)]
    caller_reference: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ChangeRequest {
    #[serde(default)]
    collection_version: Option<i64>,
    #[serde(default)]
    changes: ChangesXml,
}

#[derive(Debug, Default, Deserialize)]
struct ChangesXml {
    #[serde(default, rename = "member")]
    members: Vec<ChangeXml>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ChangeXml {
    #[serde(default)]
    location_name: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    cidr_list: CidrListXml,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct CidrListXml {
    #[serde(default, rename = "Cidr")]
    cidrs: Vec<String>,
}

fn arn(id: &str) -> String {
    format!("arn:aws:route53:::cidrcollection/{id}")
}

fn no_such_collection(id: &str) -> R53Error {
    R53Error::new(
        StatusCode::NOT_FOUND,
        "NoSuchCidrCollectionException",
        format!("The CIDR collection {id} does not exist."),
    )
}

fn collection_error(e: ControlError, id: &str) -> R53Error {
    match e {
        ControlError::NoSuchCollection(_) => no_such_collection(id),
        ControlError::VersionMismatch { .. } => R53Error::new(
            StatusCode::CONFLICT,
            "CidrCollectionVersionMismatchException",
            e.to_string(),
        ),
        ControlError::CollectionInUse { .. } => {
            let code = if e.to_string().contains("(location ") {
                "CidrBlockInUseException"
            } else {
                "CidrCollectionInUseException"
            };
            R53Error::new(StatusCode::BAD_REQUEST, code, e.to_string())
        }
        ControlError::InvalidCollection(errors) => {
            let limit = errors.iter().any(|e| e.code == turnout_model::ErrorCode::LimitExceeded);
            let list: Vec<String> =
                errors.iter().map(|e| format!("{}: {}", e.field, e.message)).collect();
            if limit {
                R53Error::new(StatusCode::BAD_REQUEST, "LimitsExceeded", list.join("; "))
            } else {
                R53Error::invalid_input(list.join("; "))
            }
        }
        other => other.into(),
    }
}

/// The collection an id names, with its version.
fn by_id(state: &R53State, id: &str) -> Result<(CidrCollectionSpec, i64), R53Error> {
    state.control.collection_by_id(id).ok_or_else(|| no_such_collection(id))
}

fn write_collection(doc: &mut Doc, root: &str, spec: &CidrCollectionSpec, version: i64) {
    let id = collection_id(spec);
    doc.open(root)
        .leaf("Arn", arn(&id))
        .leaf("Id", &id)
        .leaf("Name", &spec.name)
        .leaf("Version", version)
        .close(root);
}

/// A page of `items` (each with the key it is ordered by) from `nexttoken` (the key of the
/// first item of the page, hex-encoded so that any key is a valid token), at most
/// `maxresults`, written as `<list><member>...` with `NextToken` when more follow.
fn token_page<T>(
    root: &str,
    list: &str,
    items: Vec<(String, T)>,
    query: &HashMap<String, String>,
    write: impl Fn(&mut Doc, &T),
) -> Result<Response, R53Error> {
    let max = super::zones::page_size(query, "maxresults", MAX_RESULTS, 100)?;
    let start = match query.get("nexttoken") {
        None => 0,
        Some(token) => {
            let key = data_encoding::HEXLOWER_PERMISSIVE
                .decode(token.as_bytes())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| {
                    R53Error::invalid_input(format!("NextToken {token:?} is not one this API gave"))
                })?;
            items.iter().position(|(k, _)| *k >= key).unwrap_or(items.len())
        }
    };
    let mut doc = Doc::new(root);
    if let Some((next, _)) = items.get(start + max) {
        doc.leaf("NextToken", data_encoding::HEXLOWER.encode(next.as_bytes()));
    }
    doc.open(list);
    for (_, item) in items.iter().skip(start).take(max) {
        doc.open("member");
        write(&mut doc, item);
        doc.close("member");
    }
    doc.close(list);
    Ok(response(StatusCode::OK, doc.finish(root)))
}

/// `POST /2013-04-01/cidrcollection`: CreateCidrCollection, an empty collection. The same
/// name and CallerReference again returns the collection it made; the name with another
/// CallerReference is `CidrCollectionAlreadyExistsException`.
pub(crate) async fn create(
    State(state): State<R53State>,
    body: Bytes,
) -> Result<Response, R53Error> {
    let request: CreateRequest = super::zones::read_xml(&body)?;
    let name_ok = (1..=64).contains(&request.name.len())
        && request.name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-".contains(&b));
    if !name_ok {
        return Err(R53Error::invalid_input(format!(
            "Name {:?}: 1 to 64 characters of 0-9 A-Z a-z _ -",
            request.name
        )));
    }
    if !(1..=64).contains(&request.caller_reference.chars().count()) {
        return Err(R53Error::invalid_input("CallerReference: 1 to 64 characters"));
    }
    let existing =
        state.control.collections_versioned().into_iter().find(|(c, _)| c.name == request.name);
    let (spec, version, status) = match existing {
        Some((c, version)) if c.caller_reference.as_deref() == Some(&request.caller_reference) => {
            (c, version, StatusCode::CREATED)
        }
        Some(_) => {
            return Err(R53Error::new(
                StatusCode::BAD_REQUEST,
                "CidrCollectionAlreadyExistsException",
                format!(
                    "A CIDR collection named {:?} already exists with a different caller reference.",
                    request.name
                ),
            ));
        }
        None => {
            let spec = CidrCollectionSpec {
                name: request.name.clone(),
                locations: BTreeMap::new(),
                id: Some(turnout_control::random_uuid().map_err(ControlError::from)?),
                caller_reference: Some(request.caller_reference.clone()),
            };
            state.control.put_collection_at(&spec, Some(0)).await.map_err(|e| match e {
                ControlError::VersionMismatch { .. } => R53Error::new(
                    StatusCode::BAD_REQUEST,
                    "ConcurrentModification",
                    format!(
                        "the CIDR collection {:?} was created by another request meanwhile",
                        request.name
                    ),
                ),
                e => collection_error(e, &request.name),
            })?;
            (spec, 1, StatusCode::CREATED)
        }
    };
    let id = collection_id(&spec);
    let mut doc = Doc::new("CreateCidrCollectionResponse");
    write_collection(&mut doc, "Collection", &spec, version);
    let mut out = response(status, doc.finish("CreateCidrCollectionResponse"));
    let location = format!("https://route53.amazonaws.com/2013-04-01/cidrcollection/{id}");
    if let Ok(v) = HeaderValue::from_str(&location) {
        out.headers_mut().insert(header::LOCATION, v);
    }
    Ok(out)
}

/// `GET /2013-04-01/cidrcollection`: ListCidrCollections, in name order.
pub(crate) async fn list(
    State(state): State<R53State>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, R53Error> {
    let items = state
        .control
        .collections_versioned()
        .into_iter()
        .map(|(c, v)| (c.name.clone(), (c, v)))
        .collect();
    token_page("ListCidrCollectionsResponse", "CidrCollections", items, &query, |doc, (c, v)| {
        let id = collection_id(c);
        doc.leaf("Arn", arn(&id)).leaf("Id", &id).leaf("Name", &c.name).leaf("Version", v);
    })
}

/// `GET /2013-04-01/cidrcollection/{Id}`: ListCidrLocations, in name order.
pub(crate) async fn list_locations(
    State(state): State<R53State>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, R53Error> {
    let (spec, _) = by_id(&state, &id)?;
    let items = spec.locations.into_keys().map(|l| (l.clone(), l)).collect();
    token_page("ListCidrLocationsResponse", "CidrLocations", items, &query, |doc, l| {
        doc.leaf("LocationName", l);
    })
}

/// `GET /2013-04-01/cidrcollection/{Id}/cidrblocks`: ListCidrBlocks, of one location
/// (`location`) or all, in location then block order.
pub(crate) async fn list_blocks(
    State(state): State<R53State>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, R53Error> {
    let (spec, _) = by_id(&state, &id)?;
    if let Some(location) = query.get("location")
        && !spec.locations.contains_key(location)
    {
        return Err(R53Error::new(
            StatusCode::NOT_FOUND,
            "NoSuchCidrLocationException",
            format!("The CIDR collection {id} has no location {location:?}."),
        ));
    }
    let mut items = Vec::new();
    for (location, blocks) in &spec.locations {
        if query.get("location").is_some_and(|l| l != location) {
            continue;
        }
        for block in blocks {
            items.push((format!("{location}\u{0}{block}"), (location.clone(), block.clone())));
        }
    }
    items.sort_by(|a, b| a.0.cmp(&b.0));
    token_page("ListCidrBlocksResponse", "CidrBlocks", items, &query, |doc, (l, b)| {
        doc.leaf("CidrBlock", b).leaf("LocationName", l);
    })
}

/// `spec` with a ChangeCidrCollection's changes applied in order: PUT adds blocks to a
/// location (making it), DELETE_IF_EXISTS removes the blocks it finds (a location left
/// without blocks goes).
fn changed(
    mut spec: CidrCollectionSpec,
    changes: Vec<ChangeXml>,
) -> Result<CidrCollectionSpec, R53Error> {
    if changes.is_empty() {
        return Err(R53Error::invalid_input("Changes: at least one change is required"));
    }
    for (i, change) in changes.into_iter().enumerate() {
        let at = |what: String| R53Error::invalid_input(format!("Changes[{i}]: {what}"));
        if change.cidr_list.cidrs.is_empty() {
            return Err(at("CidrList needs at least one block".into()));
        }
        if let Some(e) =
            turnout_model::cidr::location_name_error(&change.location_name, "LocationName")
        {
            return Err(at(e.message));
        }
        match change.action.as_str() {
            "PUT" => {
                let blocks = spec.locations.entry(change.location_name).or_default();
                for cidr in change.cidr_list.cidrs {
                    if !blocks.contains(&cidr) {
                        blocks.push(cidr);
                    }
                }
            }
            "DELETE_IF_EXISTS" => {
                if let Some(blocks) = spec.locations.get_mut(&change.location_name) {
                    blocks.retain(|b| !change.cidr_list.cidrs.contains(b));
                    if blocks.is_empty() {
                        spec.locations.remove(&change.location_name);
                    }
                }
            }
            other => return Err(at(format!("Action {other:?} is not PUT or DELETE_IF_EXISTS"))),
        }
    }
    Ok(spec)
}

/// `POST /2013-04-01/cidrcollection/{Id}`: ChangeCidrCollection, all changes applied as one
/// write or none; with CollectionVersion, only while the collection is at it.
pub(crate) async fn change(
    State(state): State<R53State>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, R53Error> {
    let request: ChangeRequest = super::zones::read_xml(&body)?;
    // Without a version, a write that lost a race with another writer is tried again on
    // what that writer stored.
    for _ in 0..5 {
        let (current, version) = by_id(&state, &id)?;
        let expected = request.collection_version.unwrap_or(version);
        let name = current.name.clone();
        let spec = changed(current, request.changes.members.clone())?;
        match state.control.put_collection_at(&spec, Some(expected)).await {
            Ok(written) => {
                let mut doc = Doc::new("ChangeCidrCollectionResponse");
                doc.leaf("Id", written.change);
                return Ok(response(StatusCode::OK, doc.finish("ChangeCidrCollectionResponse")));
            }
            Err(ControlError::VersionMismatch { .. }) if request.collection_version.is_none() => {}
            Err(e) => return Err(collection_error(e, &name)),
        }
    }
    Err(ControlError::Conflict.into())
}

/// `DELETE /2013-04-01/cidrcollection/{Id}`: DeleteCidrCollection
/// (`CidrCollectionInUseException` while a record names it).
pub(crate) async fn delete(
    State(state): State<R53State>,
    Path(id): Path<String>,
) -> Result<Response, R53Error> {
    let (spec, _) = by_id(&state, &id)?;
    state.control.delete_collection(&spec.name).await.map_err(|e| collection_error(e, &id))?;
    Ok(response(
        StatusCode::OK,
        Doc::new("DeleteCidrCollectionResponse").finish("DeleteCidrCollectionResponse"),
    ))
}
