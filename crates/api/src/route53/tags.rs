//! Tags through the Route 53 API: ChangeTagsForResource, ListTagsForResource and
//! ListTagsForResources, for hosted zones and health checks (`crate::route53`'s ids: a hosted
//! zone's `Z...` id, a health check's name).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::xml::{Doc, response};
use super::{R53Error, R53State};

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ChangeTagsRequest {
    #[serde(default)]
    add_tags: Option<TagsXml>,
    #[serde(default)]
    remove_tag_keys: Option<KeysXml>,
}

#[derive(Debug, Default, Deserialize)]
struct TagsXml {
    #[serde(default, rename = "Tag")]
    tags: Vec<TagXml>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TagXml {
    #[serde(default)]
    key: String,
    #[serde(default)]
    value: String,
}

#[derive(Debug, Default, Deserialize)]
struct KeysXml {
    #[serde(default, rename = "Key")]
    keys: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListTagsRequest {
    #[serde(default)]
    resource_ids: Option<IdsXml>,
}

#[derive(Debug, Default, Deserialize)]
struct IdsXml {
    #[serde(default, rename = "ResourceId")]
    ids: Vec<String>,
}

/// The resource a tag call names must exist; the error Route 53 gives when it does not.
fn resource(state: &R53State, kind: &str, id: &str) -> Result<(), R53Error> {
    match kind {
        "hostedzone" if state.control.zone_by_id(id).is_none() => Err(R53Error::new(
            StatusCode::NOT_FOUND,
            "NoSuchHostedZone",
            format!("No hosted zone found with ID: {id}"),
        )),
        "healthcheck" if state.control.check(id).is_err() => Err(R53Error::new(
            StatusCode::NOT_FOUND,
            "NoSuchHealthCheck",
            format!("A health check with id {id} does not exist."),
        )),
        "hostedzone" | "healthcheck" => Ok(()),
        other => Err(R53Error::invalid_input(format!(
            "Invalid XML ; cvc-enumeration-valid: Value '{other}' is not facet-valid with respect to enumeration '[healthcheck, hostedzone]'. It must be a value from the enumeration."
        ))),
    }
}

fn write_set(doc: &mut Doc, state: &R53State, kind: &str, id: &str) -> Result<(), R53Error> {
    let tags = state.control.tags(kind, id)?;
    doc.open("ResourceTagSet").leaf("ResourceType", kind).leaf("ResourceId", id).open("Tags");
    for (k, v) in &tags {
        doc.open("Tag").leaf("Key", k).leaf("Value", v).close("Tag");
    }
    doc.close("Tags").close("ResourceTagSet");
    Ok(())
}

/// `POST /2013-04-01/tags/{ResourceType}/{ResourceId}`: ChangeTagsForResource.
pub(crate) async fn change(
    State(state): State<R53State>,
    Path((kind, id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, R53Error> {
    resource(&state, &kind, &id)?;
    let request: ChangeTagsRequest = super::zones::read_xml(&body)?;
    let add: Vec<(String, String)> = request
        .add_tags
        .map(|t| t.tags.into_iter().map(|t| (t.key, t.value)).collect())
        .unwrap_or_default();
    let remove = request.remove_tag_keys.map(|k| k.keys).unwrap_or_default();
    state.control.change_tags(&kind, &id, &add, &remove).await?;
    Ok(response(
        StatusCode::OK,
        Doc::new("ChangeTagsForResourceResponse").finish("ChangeTagsForResourceResponse"),
    ))
}

/// `GET /2013-04-01/tags/{ResourceType}/{ResourceId}`: ListTagsForResource.
pub(crate) async fn list(
    State(state): State<R53State>,
    Path((kind, id)): Path<(String, String)>,
) -> Result<Response, R53Error> {
    resource(&state, &kind, &id)?;
    let mut doc = Doc::new("ListTagsForResourceResponse");
    write_set(&mut doc, &state, &kind, &id)?;
    Ok(response(StatusCode::OK, doc.finish("ListTagsForResourceResponse")))
}

/// `POST /2013-04-01/tags/{ResourceType}`: ListTagsForResources (at most 10 ids, as Route 53).
pub(crate) async fn list_many(
    State(state): State<R53State>,
    Path(kind): Path<String>,
    body: Bytes,
) -> Result<Response, R53Error> {
    let request: ListTagsRequest = super::zones::read_xml(&body)?;
    let ids = request.resource_ids.map(|r| r.ids).unwrap_or_default();
    if ids.is_empty() || ids.len() > 10 {
        return Err(R53Error::invalid_input("ResourceIds holds 1 to 10 ids"));
    }
    let mut doc = Doc::new("ListTagsForResourcesResponse");
    doc.open("ResourceTagSets");
    for id in &ids {
        resource(&state, &kind, id)?;
        write_set(&mut doc, &state, &kind, id)?;
    }
    doc.close("ResourceTagSets");
    Ok(response(StatusCode::OK, doc.finish("ListTagsForResourcesResponse")))
}
