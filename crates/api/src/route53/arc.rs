//! ARC's data plane (route53-recovery-cluster, AWS JSON 1.0, `X-Amz-Target:
//! ToggleCustomerAPI.<Operation>`, `POST /`) over Turnout's routing controls and safety rules:
//! GetRoutingControlState, ListRoutingControls, UpdateRoutingControlState and
//! UpdateRoutingControlStates with SafetyRulesToOverride (docs/route53-api.md).
//!
//! ARNs name Turnout's objects: `arn:aws:route53-recovery-control::000000000000:controlpanel/
//! PANEL[/routingcontrol/CONTROL | /safetyrule/RULE]`.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use turnout_control::ControlError;
use turnout_control::routing_controls::ControlUpdate;

use super::{AuthedToken, R53State};

/// The account in every ARN Turnout shows.
pub(crate) const ACCOUNT: &str = "000000000000";
/// The most entries of one UpdateRoutingControlStates (ARC's quota).
const MAX_ENTRIES: usize = 10;

/// A control panel's ARN.
pub(crate) fn panel_arn(panel: &str) -> String {
    format!("arn:aws:route53-recovery-control::{ACCOUNT}:controlpanel/{panel}")
}

/// A routing control's ARN.
pub(crate) fn control_arn(panel: &str, control: &str) -> String {
    format!("{}/routingcontrol/{control}", panel_arn(panel))
}

fn rule_arn(panel: &str, rule: &str) -> String {
    format!("{}/safetyrule/{rule}", panel_arn(panel))
}

/// The (panel, rest) an ARN of the recovery-control service names.
fn parse_arn(arn: &str) -> Option<(String, Vec<String>)> {
    let resource = arn.strip_prefix("arn:aws:route53-recovery-control::")?.split_once(':')?.1;
    let mut parts = resource.split('/');
    if parts.next()? != "controlpanel" {
        return None;
    }
    let panel = parts.next()?.to_owned();
    Some((panel, parts.map(str::to_owned).collect()))
}

/// (panel, control) of a routing control ARN.
pub(crate) fn parse_control_arn(arn: &str) -> Option<(String, String)> {
    match parse_arn(arn)? {
        (panel, rest) if rest.len() == 2 && rest[0] == "routingcontrol" => {
            Some((panel, rest[1].clone()))
        }
        _ => None,
    }
}

/// An error in the JSON protocol's shape.
#[derive(Debug)]
pub(crate) struct ArcError {
    status: StatusCode,
    body: Value,
}

impl ArcError {
    fn new(status: StatusCode, kind: &str, message: impl Into<String>) -> Self {
        ArcError { status, body: json!({"__type": kind, "message": message.into()}) }
    }

    fn validation(message: impl Into<String>) -> Self {
        let mut e = ArcError::new(StatusCode::BAD_REQUEST, "ValidationException", message);
        e.body["reason"] = json!("fieldValidationFailed");
        e
    }

    fn not_found(message: impl Into<String>, id: &str, kind: &str) -> Self {
        let mut e = ArcError::new(StatusCode::NOT_FOUND, "ResourceNotFoundException", message);
        e.body["resourceId"] = json!(id);
        e.body["resourceType"] = json!(kind);
        e
    }

    /// An error of the signature check, in this protocol's shape.
    pub(crate) fn auth(status: StatusCode, code: &str, message: &str) -> Response {
        let kind = if status == StatusCode::FORBIDDEN { "AccessDeniedException" } else { code };
        let mut e = ArcError::new(status, kind, message);
        e.body["code"] = json!(code);
        e.into_response()
    }
}

impl IntoResponse for ArcError {
    fn into_response(self) -> Response {
        (self.status, [(header::CONTENT_TYPE, "application/x-amz-json-1.0")], self.body.to_string())
            .into_response()
    }
}

fn ok(body: Value) -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/x-amz-json-1.0")], body.to_string())
        .into_response()
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Request {
    #[serde(default)]
    routing_control_arn: Option<String>,
    #[serde(default)]
    routing_control_state: Option<String>,
    #[serde(default)]
    safety_rules_to_override: Vec<String>,
    #[serde(default)]
    update_routing_control_state_entries: Vec<Entry>,
    #[serde(default)]
    control_panel_arn: Option<String>,
    #[serde(default)]
    next_token: Option<String>,
    #[serde(default)]
    max_results: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Entry {
    routing_control_arn: String,
    routing_control_state: String,
}

/// `POST /`: one data-plane operation, named by `X-Amz-Target`.
pub(crate) async fn dispatch(
    State(state): State<R53State>,
    Extension(token): Extension<AuthedToken>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let Some(operation) = target.strip_prefix("ToggleCustomerAPI.") else {
        let mut e = ArcError::validation(format!("unknown operation {target:?}"));
        e.body["reason"] = json!("unknownOperation");
        return e.into_response();
    };
    let request: Request = match serde_json::from_slice(if body.is_empty() { b"{}" } else { &body })
    {
        Ok(r) => r,
        Err(e) => {
            let mut err = ArcError::validation(format!("the request body cannot be read: {e}"));
            err.body["reason"] = json!("cannotParse");
            return err.into_response();
        }
    };
    let outcome = match operation {
        "GetRoutingControlState" => get_state(&state, &request),
        "ListRoutingControls" => list(&state, &request),
        "UpdateRoutingControlState" => {
            let entries = match (&request.routing_control_arn, &request.routing_control_state) {
                (Some(arn), Some(s)) => vec![(arn.clone(), s.clone())],
                _ => {
                    return ArcError::validation(
                        "RoutingControlArn and RoutingControlState are required",
                    )
                    .into_response();
                }
            };
            update(&state, &token.0, &entries, &request.safety_rules_to_override).await
        }
        "UpdateRoutingControlStates" => {
            let entries: Vec<(String, String)> = request
                .update_routing_control_state_entries
                .iter()
                .map(|e| (e.routing_control_arn.clone(), e.routing_control_state.clone()))
                .collect();
            update(&state, &token.0, &entries, &request.safety_rules_to_override).await
        }
        other => {
            let mut e = ArcError::validation(format!("unknown operation {other:?}"));
            e.body["reason"] = json!("unknownOperation");
            Err(e)
        }
    };
    outcome.unwrap_or_else(IntoResponse::into_response)
}

fn control_of(arn: &str) -> Result<(String, String), ArcError> {
    parse_control_arn(arn).ok_or_else(|| {
        ArcError::validation(format!(
            "{arn:?} is not a routing control ARN (arn:aws:route53-recovery-control::{ACCOUNT}:controlpanel/PANEL/routingcontrol/CONTROL)"
        ))
    })
}

fn get_state(state: &R53State, request: &Request) -> Result<Response, ArcError> {
    let arn = request
        .routing_control_arn
        .as_deref()
        .ok_or_else(|| ArcError::validation("RoutingControlArn is required"))?;
    let (panel, control) = control_of(arn)?;
    let views = state.control.controls(Some(&panel)).map_err(|_| {
        ArcError::not_found(format!("no routing control {arn}"), arn, "RoutingControl")
    })?;
    let view = views.iter().find(|v| v.control == control).ok_or_else(|| {
        ArcError::not_found(format!("no routing control {arn}"), arn, "RoutingControl")
    })?;
    Ok(ok(json!({
        "RoutingControlArn": arn,
        "RoutingControlState": view.state,
        "RoutingControlName": view.control,
    })))
}

fn list(state: &R53State, request: &Request) -> Result<Response, ArcError> {
    let panel = match &request.control_panel_arn {
        Some(arn) => match parse_arn(arn) {
            Some((p, rest)) if rest.is_empty() => Some(p),
            _ => return Err(ArcError::validation(format!("{arn:?} is not a control panel ARN"))),
        },
        None => None,
    };
    let views = state.control.controls(panel.as_deref()).map_err(|_| {
        let arn = request.control_panel_arn.clone().unwrap_or_default();
        ArcError::not_found(format!("no control panel {arn}"), &arn, "ControlPanel")
    })?;
    let start: usize = match &request.next_token {
        Some(t) => {
            t.parse().map_err(|_| ArcError::validation("NextToken is not one this API gave"))?
        }
        None => 0,
    };
    let max = request.max_results.unwrap_or(500).max(1);
    let page: Vec<Value> = views
        .iter()
        .skip(start)
        .take(max)
        .map(|v| {
            json!({
                "ControlPanelArn": panel_arn(&v.panel),
                "ControlPanelName": v.panel,
                "RoutingControlArn": control_arn(&v.panel, &v.control),
                "RoutingControlName": v.control,
                "RoutingControlState": v.state,
                "Owner": ACCOUNT,
            })
        })
        .collect();
    let mut out = json!({ "RoutingControls": page });
    if start + max < views.len() {
        out["NextToken"] = json!((start + max).to_string());
    }
    Ok(ok(out))
}

/// Updates routing controls of one control panel in one transaction, as Turnout's safety
/// rules allow (those whose ARNs are in `overrides` skipped). A refusal is a
/// `ConflictException` whose message names every refusing rule's ARN.
async fn update(
    state: &R53State,
    token: &str,
    entries: &[(String, String)],
    overrides: &[String],
) -> Result<Response, ArcError> {
    if entries.is_empty() {
        return Err(ArcError::validation("UpdateRoutingControlStateEntries is empty"));
    }
    if entries.len() > MAX_ENTRIES {
        let mut e = ArcError::new(
            StatusCode::BAD_REQUEST,
            "ServiceLimitExceededException",
            format!("at most {MAX_ENTRIES} routing controls per call"),
        );
        e.body["limitCode"] = json!("RoutingControlStateEntries");
        e.body["serviceCode"] = json!("route53-recovery-cluster");
        return Err(e);
    }
    let mut panel: Option<String> = None;
    let mut states = BTreeMap::new();
    for (arn, s) in entries {
        let (p, control) = control_of(arn)?;
        if panel.as_ref().is_some_and(|q| *q != p) {
            return Err(ArcError::validation(
                "Turnout changes the routing controls of one control panel per call",
            ));
        }
        if !matches!(s.as_str(), "On" | "Off") {
            return Err(ArcError::validation(format!(
                "RoutingControlState {s:?} is neither On nor Off"
            )));
        }
        panel = Some(p);
        states.insert(control, s.clone());
    }
    let panel = panel.unwrap_or_default();
    let mut override_rules = Vec::with_capacity(overrides.len());
    for arn in overrides {
        match parse_arn(arn) {
            Some((p, rest)) if p == panel && rest.len() == 2 && rest[0] == "safetyrule" => {
                override_rules.push(rest[1].clone());
            }
            _ => {
                return Err(ArcError::validation(format!(
                    "SafetyRulesToOverride: {arn:?} is not a safety rule ARN of control panel {panel}"
                )));
            }
        }
    }
    let update = ControlUpdate {
        states,
        reason: format!("ARC data plane: {} by {token}", entries.len()),
        override_rules,
        duration: None,
    };
    match state.control.update_controls(&panel, &update, token).await {
        Ok(_) => Ok(ok(json!({}))),
        Err(ControlError::SafetyRules(refusals)) => {
            let named: Vec<String> = refusals
                .iter()
                .map(|r| format!("{} ({})", rule_arn(&panel, &r.rule), r.reason))
                .collect();
            let first = refusals.first().map(|r| rule_arn(&panel, &r.rule)).unwrap_or_default();
            let mut e = ArcError::new(
                StatusCode::CONFLICT,
                "ConflictException",
                format!("The request was rejected by safety rules: {}", named.join(", ")),
            );
            e.body["resourceId"] = json!(first);
            e.body["resourceType"] = json!("SafetyRule");
            Err(e)
        }
        Err(ControlError::NoSuchPanel(p)) => Err(ArcError::not_found(
            format!("no control panel {p}"),
            &panel_arn(&p),
            "ControlPanel",
        )),
        Err(ControlError::NoSuchControl(c)) => {
            Err(ArcError::not_found(format!("no routing control {c}"), &c, "RoutingControl"))
        }
        Err(ControlError::InvalidInput { field, message }) => {
            Err(ArcError::validation(format!("{field}: {message}")))
        }
        Err(e) => Err(ArcError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerException",
            e.to_string(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_name_panels_controls_and_rules() {
        let arn = control_arn("main", "us-east");
        assert_eq!(parse_control_arn(&arn), Some(("main".into(), "us-east".into())));
        assert_eq!(parse_control_arn(&panel_arn("main")), None);
        assert_eq!(parse_control_arn("arn:aws:s3:::bucket"), None);
        assert_eq!(
            parse_arn(&rule_arn("main", "keep-one")),
            Some(("main".into(), vec!["safetyrule".into(), "keep-one".into()]))
        );
    }
}
