//! Nodes: each node writes a record of itself to the store (`/turnout/nodes/<name>`) every
//! two seconds, and at once when it starts serving a configuration change. Every node reads them all: a
//! change is INSYNC once every live node (heard from in the last ten seconds) serves its
//! revision, and `GET /v1/cluster` shows the nodes, their regions, revisions and lag.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use turnout_health::engine::{Quorum, Report};
use turnout_store::{Op, Revision, Txn};

use crate::service::Control;
use crate::{ControlError, keys};

/// How often a node writes its record.
pub const HEARTBEAT: Duration = Duration::from_secs(2);
/// A node not heard from for this long is not live (its answers do not hold changes back).
pub const NODE_TTL: Duration = Duration::from_secs(10);
/// A node not heard from for this long is forgotten.
pub const NODE_FORGET: Duration = Duration::from_secs(3600);

/// Who this node is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeIdentity {
    /// Unique in the cluster.
    pub name: String,
    /// Its region (for multi-vantage health).
    pub region: String,
    /// Its DNS listeners.
    pub dns: Vec<String>,
    /// Its API.
    pub api: String,
    /// Its routing-control API.
    pub controls: String,
}

/// A node's record in the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeRecord {
    /// Its name.
    pub name: String,
    /// Its region.
    pub region: String,
    /// Its DNS listeners.
    pub dns: Vec<String>,
    /// Its API.
    pub api: String,
    /// Its routing-control API.
    pub controls: String,
    /// The store revision it serves (0: none yet).
    pub served_revision: Revision,
    /// When it wrote this record, milliseconds since the epoch.
    pub heartbeat_ms: u64,
    /// Its own observed status of every check it probes (check -> healthy): its report for
    /// the checkers' quorum, fresh while the record is.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub checks: std::collections::BTreeMap<String, bool>,
}

/// A node as `GET /v1/cluster` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeView {
    /// The record.
    #[serde(flatten)]
    pub record: NodeRecord,
    /// Heard from within the TTL.
    pub live: bool,
    /// How long ago it was heard from, in milliseconds.
    pub last_seen_ms: u64,
    /// Revisions it is behind the last configuration change (0: it serves everything).
    pub lag: Revision,
}

/// The cluster as one node sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterView {
    /// The store revision this node has read.
    pub store_revision: Revision,
    /// The lowest revision every live node serves: changes at or below it are INSYNC.
    pub insync_revision: Option<Revision>,
    /// Every node, by name.
    pub nodes: Vec<NodeView>,
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

impl Control {
    /// The other checkers' reports, from the node records, for the health engine's quorum.
    pub(crate) fn quorum(&self) -> Option<Quorum> {
        let me = self.node_name()?;
        let reports = self
            .read()
            .nodes
            .values()
            .map(|r| {
                let report = Report { at_ms: r.heartbeat_ms, checks: r.checks.clone() };
                (r.name.clone(), report)
            })
            .collect();
        Some(Quorum { me, stale_after_ms: NODE_TTL.as_millis() as u64, reports })
    }

    /// The cluster as this node sees it.
    pub fn cluster(&self) -> ClusterView {
        let now = now_ms();
        let st = self.read();
        let nodes: Vec<NodeView> = st
            .nodes
            .values()
            .map(|r| {
                let last_seen_ms = now.saturating_sub(r.heartbeat_ms);
                NodeView {
                    record: r.clone(),
                    live: last_seen_ms <= NODE_TTL.as_millis() as u64,
                    last_seen_ms,
                    lag: (st.config_revision - r.served_revision).max(0),
                }
            })
            .collect();
        let store_revision = st.revision;
        drop(st);
        ClusterView { store_revision, insync_revision: self.insync_revision(), nodes }
    }

    /// The lowest revision every live node serves, this one included (its own, from
    /// memory, is always current); None before this node serves anything.
    pub fn insync_revision(&self) -> Option<Revision> {
        let own = self.served_revision()?;
        let now = now_ms();
        let me = self.node_name();
        let others = self
            .read()
            .nodes
            .values()
            .filter(|r| Some(r.name.as_str()) != me.as_deref())
            .filter(|r| now.saturating_sub(r.heartbeat_ms) <= NODE_TTL.as_millis() as u64)
            .map(|r| r.served_revision)
            .min();
        Some(others.map_or(own, |o| o.min(own)))
    }

    /// Writes this node's record.
    async fn heartbeat(&self, me: &NodeIdentity) -> Result<(), ControlError> {
        let record = NodeRecord {
            name: me.name.clone(),
            region: me.region.clone(),
            dns: me.dns.clone(),
            api: me.api.clone(),
            controls: me.controls.clone(),
            served_revision: self.served_revision().unwrap_or(0),
            heartbeat_ms: now_ms(),
            checks: self.health().observations(),
        };
        let value = serde_json::to_vec(&record)
            .map_err(|e| turnout_store::StoreError::Corrupt(e.to_string()))?;
        let mut success = vec![Op::put(keys::node(&me.name), value)];
        // Any node forgets the nodes gone for an hour.
        let forget = now_ms().saturating_sub(NODE_FORGET.as_millis() as u64);
        for r in self.read().nodes.values().filter(|r| r.heartbeat_ms < forget) {
            success.push(Op::delete(keys::node(&r.name)));
        }
        self.store().txn(Txn { success, ..Txn::default() }).await?;
        Ok(())
    }
}

/// Writes this node's record every [`HEARTBEAT`], and at once when the revision it serves
/// passes a configuration change it has not reported (not on every served revision: the
/// records' own writes would then feed each other), until `shutdown`. Store failures are
/// logged and retried at the next beat.
pub async fn run_node_heartbeat(
    control: Arc<Control>,
    me: NodeIdentity,
    shutdown: CancellationToken,
) {
    control.set_node_name(&me.name);
    let mut served = control.subscribe_served();
    let mut failing = false;
    let mut reported: Revision = -1;
    let mut next_beat = tokio::time::Instant::now();
    loop {
        let now_serves = control.served_revision().unwrap_or(0);
        let due = tokio::time::Instant::now() >= next_beat;
        let news = now_serves > reported && control.read().config_revision > reported;
        if due || news {
            match control.heartbeat(&me).await {
                Ok(()) => {
                    if failing {
                        tracing::info!("node record written again");
                    }
                    failing = false;
                    reported = now_serves;
                }
                Err(e) => {
                    if !failing {
                        tracing::warn!("cannot write this node's record: {e}");
                    }
                    failing = true;
                }
            }
            next_beat = tokio::time::Instant::now() + HEARTBEAT;
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep_until(next_beat) => {}
            _ = served.changed() => {}
            // A check's own status changed: the other checkers hear it at once.
            () = control.health().observation_changed() => next_beat = tokio::time::Instant::now(),
        }
    }
}
