//! What the web console reads (docs/console.md): `GET /v1/whoami` (the token's name and
//! scopes, which decide what the page offers), `GET /v1/overview` (checks, policy groups and
//! nodes in one read) and `GET /v1/events` (server-sent events: one whenever what answers or
//! checks show may have changed, so the page updates without reloading).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::extract::{Request, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use serde::Serialize;
use turnout_control::cluster::NodeView;
use turnout_health::engine::{CheckerView, Observation, Transition};
use turnout_model::health::Detection;

use super::listen::Stopping;
use super::{AppState, auth_refusal, bearer_token};
use crate::error::ApiError;

/// The most policy groups an overview lists (the console says when there are more; the
/// rest are a click away in its explain view).
pub const MAX_GROUPS: usize = 500;
/// Probe results shown per check (the newest).
const RESULTS_SHOWN: usize = 20;
/// Bursts of changes closer than this make one event.
const COALESCE: Duration = Duration::from_millis(100);
/// An event at least this often, so that ages and rates on the page stay current.
const TICK: Duration = Duration::from_secs(10);

/// Who the caller is.
#[derive(Debug, Serialize)]
pub(crate) struct WhoAmI {
    /// The token's name (`null`: no token, with anonymous reads on).
    name: Option<String>,
    /// Its scopes.
    scopes: Vec<String>,
}

/// `GET /v1/whoami`: any valid token (whatever its scopes) says who it is; without one, 401
/// unless anonymous reads are on.
pub(crate) async fn whoami(State(state): State<AppState>, request: Request) -> Response {
    match bearer_token(&request) {
        None if state.access.anonymous_reads => {
            Json(WhoAmI { name: None, scopes: Vec::new() }).into_response()
        }
        None => ApiError::unauthorized("this request needs an Authorization: Bearer token")
            .into_response(),
        Some(token) => match state.control.authenticate(token) {
            Ok(record) => {
                Json(WhoAmI { name: Some(record.name), scopes: record.scopes }).into_response()
            }
            Err(e) => auth_refusal(&e),
        },
    }
}

/// Everything the console's overview shows, from one read.
#[derive(Debug, Serialize)]
pub(crate) struct Overview {
    /// This node: its name, what it serves, whether it reaches the store.
    node: NodeSummary,
    /// Every registered node (empty on a single node without a cluster).
    nodes: Vec<NodeView>,
    /// Every health check with what the engine knows of it.
    checks: Vec<CheckSummary>,
    /// Every policy group of the served zones (at most [`MAX_GROUPS`]).
    groups: Vec<GroupSummary>,
    /// How many groups there are in all.
    groups_total: usize,
}

#[derive(Debug, Serialize)]
struct NodeSummary {
    name: String,
    served_revision: Option<i64>,
    insync_revision: Option<i64>,
    store_revision: i64,
    store_reachable: bool,
    isolated: bool,
}

#[derive(Debug, Serialize)]
struct CheckSummary {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    /// What it probes, for people: `HTTP 127.0.0.1:8080/health`.
    target: String,
    /// The status answers use; `unknown` when the engine does not run the check (yet).
    status: String,
    /// The status the probes established (before disabled and inverted).
    observed: String,
    last_failure: Option<Observation>,
    /// The newest first.
    transitions: Vec<Transition>,
    /// The newest first (at most [`RESULTS_SHOWN`]), with their timings.
    results: Vec<Observation>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    checkers: Vec<CheckerView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    detection: Option<Detection>,
}

#[derive(Debug, Serialize)]
struct GroupSummary {
    zone: String,
    name: String,
    #[serde(rename = "type")]
    rtype: String,
    /// The routing policy (`failover`, `weighted`...).
    policy: String,
    /// What a client whose location is unknown is answered now.
    answer: Vec<String>,
    rcode: String,
    /// The members, with the answers each gave since the node started (the page turns them
    /// into recent shares).
    members: Vec<MemberSummary>,
}

#[derive(Debug, Serialize)]
struct MemberSummary {
    set_id: String,
    healthy: bool,
    answers: u64,
}

/// `GET /v1/overview`.
pub(crate) async fn overview(State(state): State<AppState>) -> Result<Json<Overview>, ApiError> {
    let control = &state.control;
    let cluster = control.cluster();
    let node = NodeSummary {
        name: control.node_name().unwrap_or_else(|| control.checker().to_owned()),
        served_revision: control.served_revision(),
        insync_revision: cluster.insync_revision,
        store_revision: cluster.store_revision,
        store_reachable: control.store_reachable(),
        isolated: cluster.isolated,
    };
    let detections: BTreeMap<String, Option<Detection>> = {
        let st = control.read();
        st.checks.iter().map(|(name, (_, c))| (name.clone(), c.worst_detection())).collect()
    };
    let mut checks: Vec<CheckSummary> = control
        .checks()
        .into_iter()
        .map(|spec| {
            let target = describe_target(&spec);
            let detection = detections.get(&spec.name).cloned().flatten();
            match control.health().state(&spec.name) {
                Some(mut s) => {
                    s.results.truncate(RESULTS_SHOWN);
                    CheckSummary {
                        name: spec.name,
                        kind: spec.kind,
                        target,
                        status: s.status,
                        observed: s.observed,
                        last_failure: s.last_failure,
                        transitions: s.transitions,
                        results: s.results,
                        checkers: s.checkers,
                        detection,
                    }
                }
                None => CheckSummary {
                    name: spec.name,
                    kind: spec.kind,
                    target,
                    status: "unknown".to_owned(),
                    observed: "unknown: the check is not running".to_owned(),
                    last_failure: None,
                    transitions: Vec::new(),
                    results: Vec::new(),
                    checkers: Vec::new(),
                    detection,
                },
            }
        })
        .collect();
    checks.sort_by(|a, b| a.name.cmp(&b.name));
    let (groups, groups_total) = groups(&state)?;
    Ok(Json(Overview { node, nodes: cluster.nodes, checks, groups, groups_total }))
}

/// A check's target in one line.
fn describe_target(spec: &turnout_model::health::HealthCheckSpec) -> String {
    let host = spec.ip.as_deref().or(spec.fqdn.as_deref()).unwrap_or("");
    let port = spec.port.map(|p| format!(":{p}")).unwrap_or_default();
    let path = spec.path.as_deref().unwrap_or("");
    if host.is_empty() { spec.kind.clone() } else { format!("{} {host}{port}{path}", spec.kind) }
}

/// The served policy groups (the first [`MAX_GROUPS`] by zone, name and type), each with the
/// answer it gives now.
fn groups(state: &AppState) -> Result<(Vec<GroupSummary>, usize), ApiError> {
    let Some(handle) = state.control.snapshots() else { return Ok((Vec::new(), 0)) };
    let members = handle.load().member_counts(|_| true);
    let mut by_group: BTreeMap<(String, String, String), Vec<MemberSummary>> = BTreeMap::new();
    for m in members {
        by_group
            .entry((m.zone.to_string(), m.name.to_string(), m.rtype.to_string()))
            .or_default()
            .push(MemberSummary { set_id: m.set_id, healthy: m.healthy, answers: m.answers });
    }
    let total = by_group.len();
    let mut groups = Vec::with_capacity(total.min(MAX_GROUPS));
    for ((zone, name, rtype), mut members) in by_group.into_iter().take(MAX_GROUPS) {
        members.sort_by(|a, b| a.set_id.cmp(&b.set_id));
        let explained = state.control.explain(&name, &rtype, None)?;
        let policy = explained
            .explanation
            .decisions
            .iter()
            .find(|d| d.depth == 0)
            .map_or_else(String::new, |d| d.policy.clone());
        groups.push(GroupSummary {
            zone,
            name,
            rtype,
            policy,
            answer: explained.explanation.answer,
            rcode: explained.explanation.rcode,
            members,
        });
    }
    Ok((groups, total))
}

/// `GET /v1/events`: `event: change` at once, then after every change of a check's status or
/// of the served revision (bursts within 100 ms make one), and at least every 10 s; a
/// comment every 15 s keeps proxies from closing the stream. Ends when the server stops.
pub(crate) async fn events(
    State(state): State<AppState>,
    stopping: Option<axum::Extension<Stopping>>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let stop = stopping.map(|s| s.0.0.clone()).unwrap_or_default();
    let served = state.control.served_watch();
    let start = (state, served, stop, true);
    let stream =
        futures_util::stream::unfold(start, |(state, mut served, stop, first)| async move {
            if !first {
                tokio::select! {
                    () = state.control.health().changed() => {}
                    r = served.changed() => if r.is_err() { return None },
                    () = tokio::time::sleep(TICK) => {}
                    () = stop.cancelled() => return None,
                }
                tokio::select! {
                    () = tokio::time::sleep(COALESCE) => {}
                    () = stop.cancelled() => return None,
                }
            }
            let revision = *served.borrow_and_update();
            let data = serde_json::json!({ "served_revision": revision }).to_string();
            let event = Event::default().event("change").data(data);
            Some((Ok(event), (state, served, stop, false)))
        });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
