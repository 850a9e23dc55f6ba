//! The node's control handle: the in-memory [`State`] and the revisions it has read and
//! serves, the store, the health engine, and this node's status (store reachable, isolated).
//! The operations on each resource are in their own modules (`zones`, `checks`,
//! `collections`, `routing_controls`, `cluster`); every write goes through `write.rs`.

use std::collections::BTreeSet;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use tokio::sync::watch;
use turnout_health::{HealthEngine, WebhookEvent};
use turnout_model::Name;
use turnout_model::health::TargetPolicy;
use turnout_store::{Revision, Store};

use crate::keys;
use crate::state::State;

/// How long a write waits for the in-memory state to show it (read-your-writes).
const STATE_WAIT: Duration = Duration::from_secs(5);

/// Settings of the control service.
#[derive(Debug, Clone, Default)]
pub struct ControlOptions {
    /// Zones served from zone files: the API refuses to create or edit them.
    pub static_zones: BTreeSet<Name>,
    /// Where every health-check status change is posted (its sender runs in the node's task
    /// tree).
    pub webhook: Option<turnout_health::Webhook>,
    /// The networks health checks may probe.
    pub target_policy: TargetPolicy,
    /// The name this node keeps its observed health statuses under (for restarts): the node
    /// name in a cluster, so that nodes do not overwrite each other's; empty: `local`.
    pub checker: String,
}

/// The control service. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Control {
    store: Arc<dyn Store>,
    state: RwLock<State>,
    state_revision: watch::Sender<Revision>,
    served: watch::Sender<Option<Revision>>,
    /// Set when the sync's first load failed with no local copy to serve: the node has only
    /// its zone files until the store answers.
    storeless: watch::Sender<bool>,
    options: ControlOptions,
    /// Serializes this node's configuration writes (see `write.rs`).
    pub(crate) config_writer: tokio::sync::Mutex<()>,
    /// Serializes this node's routing-control updates.
    pub(crate) controls_writer: tokio::sync::Mutex<()>,
    health: HealthEngine,
    /// What the DNS server answers from, once the sync task runs.
    snapshots: std::sync::OnceLock<turnout_dns::SnapshotHandle>,
    /// This node's name in the cluster, once its registration runs.
    node_name: std::sync::OnceLock<String>,
    /// The name this node's observed health statuses are kept under.
    checker: String,
    /// Whether the sync task reaches the store now.
    store_reachable: std::sync::atomic::AtomicBool,
    /// Whether this node's registration has gone unrenewed for its lease's time to live.
    isolated: std::sync::atomic::AtomicBool,
    /// Where placed checks run, and the placement revision it was computed for.
    pub(crate) placements: std::sync::Mutex<Option<(Revision, Arc<crate::types::Placement>)>>,
    /// How long changes took from reaching this node to being served.
    serve_latency: ServeLatency,
    /// What the DNS door did (transfers, updates, NOTIFY, TSIG refusals).
    door_counts: crate::door_counts::DoorCounts,
    /// The current-answers views this node publishes for transfers.
    pub(crate) views: crate::published::Views,
    /// Secondary zones to refresh now (NOTIFY).
    pub(crate) secondary_pokes: Pokes,
}

/// Secondary zones to refresh now (a primary sent NOTIFY): the door adds, the refresher
/// (`crate::secondaries`) takes.
#[derive(Debug, Default)]
pub(crate) struct Pokes {
    poked: std::sync::Mutex<std::collections::BTreeSet<Name>>,
    wake: tokio::sync::Notify,
}

impl Pokes {
    pub(crate) fn poke(&self, apex: Name) {
        self.poked.lock().unwrap_or_else(PoisonError::into_inner).insert(apex);
        self.wake.notify_one();
    }

    pub(crate) fn take(&self) -> std::collections::BTreeSet<Name> {
        std::mem::take(&mut *self.poked.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Resolves after the next poke (or at once if one came since the last wait).
    pub(crate) async fn notified(&self) {
        self.wake.notified().await;
    }
}

/// Upper bounds, in seconds, of [`Control::serve_latency`]'s buckets.
pub const SERVE_LATENCY_BUCKETS: [f64; 12] =
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

/// A histogram of change-to-served times: one writer (the sync task), read at scrapes.
#[derive(Debug, Default)]
struct ServeLatency {
    /// Per bucket (then +Inf), not cumulative.
    buckets: [std::sync::atomic::AtomicU64; SERVE_LATENCY_BUCKETS.len() + 1],
    sum_micros: std::sync::atomic::AtomicU64,
}

impl Control {
    /// What the DNS door did, for `/metrics`.
    pub fn door_counts(&self) -> &crate::door_counts::DoorCounts {
        &self.door_counts
    }

    /// A service over `store`. Its state is empty until the sync task loads it.
    pub fn new(store: Arc<dyn Store>, options: ControlOptions) -> Arc<Self> {
        let health = HealthEngine::new();
        health.set_target_policy(options.target_policy.clone());
        let checker = if options.checker.is_empty() {
            keys::LOCAL_CHECKER.to_owned()
        } else {
            options.checker.clone()
        };
        // (This node's own observed statuses are written to the store by its registration
        // task, `cluster::run_node`: they are its report to the other checkers, and what a
        // restart starts from.)
        let webhook = options.webhook.clone();
        let node = checker.clone();
        health.on_transition(Box::new(move |change| {
            if let Some(hook) = &webhook {
                hook.send(WebhookEvent {
                    event: "health_check.status_changed",
                    check: change.check.to_owned(),
                    from: change.from.to_string(),
                    to: change.to.to_string(),
                    reason: change.reason.to_owned(),
                    at: humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
                    node: node.clone(),
                });
            }
        }));
        Arc::new(Control {
            store,
            state: RwLock::new(State::default()),
            state_revision: watch::Sender::new(0),
            served: watch::Sender::new(None),
            storeless: watch::Sender::new(false),
            options,
            config_writer: tokio::sync::Mutex::new(()),
            controls_writer: tokio::sync::Mutex::new(()),
            health,
            snapshots: std::sync::OnceLock::new(),
            node_name: std::sync::OnceLock::new(),
            checker,
            store_reachable: std::sync::atomic::AtomicBool::new(false),
            isolated: std::sync::atomic::AtomicBool::new(false),
            placements: std::sync::Mutex::new(None),
            door_counts: crate::door_counts::DoorCounts::default(),
            views: crate::published::Views::default(),
            secondary_pokes: Pokes::default(),
            serve_latency: ServeLatency::default(),
        })
    }

    /// Remembers what the DNS server answers from (the sync task publishes there), for
    /// `explain`. Only the first call counts.
    pub fn attach_snapshots(&self, handle: turnout_dns::SnapshotHandle) {
        let _first = self.snapshots.set(handle);
    }

    /// What the DNS server answers from, once attached.
    pub fn snapshots(&self) -> Option<&turnout_dns::SnapshotHandle> {
        self.snapshots.get()
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The health engine running this configuration's checks.
    pub fn health(&self) -> &HealthEngine {
        &self.health
    }

    /// The current configuration, read-locked (never hold it across an await).
    pub fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn state_mut(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn state_caught_up(&self, revision: Revision) {
        self.state_revision.send_replace(revision);
    }

    /// `revision` is served now, `after` it reached this node (when a change brought it).
    pub(crate) fn served_now(&self, revision: Revision, after: Option<Duration>) {
        use std::sync::atomic::Ordering::Relaxed;
        self.served.send_replace(Some(revision));
        if let Some(d) = after {
            let s = d.as_secs_f64();
            let i = SERVE_LATENCY_BUCKETS.iter().position(|b| s <= *b);
            let l = &self.serve_latency;
            l.buckets[i.unwrap_or(SERVE_LATENCY_BUCKETS.len())].fetch_add(1, Relaxed);
            let micros = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
            l.sum_micros.fetch_add(micros, Relaxed);
        }
    }

    /// Changes served so far by how long they took from reaching this node to being served:
    /// the count in each bucket of [`SERVE_LATENCY_BUCKETS`] (then +Inf, not cumulative), and
    /// the sum in seconds.
    pub fn serve_latency(&self) -> (Vec<u64>, f64) {
        use std::sync::atomic::Ordering::Relaxed;
        let l = &self.serve_latency;
        let counts = l.buckets.iter().map(|b| b.load(Relaxed)).collect();
        (counts, l.sum_micros.load(Relaxed) as f64 / 1e6)
    }

    /// The store revision the DNS data plane serves, once the first snapshot is published.
    pub fn served_revision(&self) -> Option<Revision> {
        *self.served.borrow()
    }

    /// Waits (at most `within`) until the store's configuration is first served, or the first
    /// load found the store unreachable with no local copy (the zone files are all there is
    /// to serve then); false if neither came in time.
    pub async fn first_served(&self, within: Duration) -> bool {
        let (mut served, mut storeless) = (self.served.subscribe(), self.storeless.subscribe());
        let settled = async {
            tokio::select! {
                r = served.wait_for(Option::is_some) => r.is_ok(),
                r = storeless.wait_for(|s| *s) => r.is_ok(),
            }
        };
        tokio::time::timeout(within, settled).await.unwrap_or(false)
    }

    /// The sync's first load failed and there is no local copy to serve.
    pub(crate) fn first_load_failed(&self) {
        self.storeless.send_replace(true);
    }

    /// The served revision as it changes (for the console's live updates).
    pub fn served_watch(&self) -> watch::Receiver<Option<Revision>> {
        self.served.subscribe()
    }

    /// Waits (at most `timeout`) until every registered node serves `revision` (this one first).
    pub async fn wait_served(&self, revision: Revision, timeout: Duration) -> bool {
        let mut rx = self.served.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        let own =
            tokio::time::timeout_at(deadline, rx.wait_for(|s| s.is_some_and(|s| s >= revision)))
                .await
                .is_ok_and(|r| r.is_ok());
        if !own {
            return false;
        }
        // The other nodes report through the store (their records), a few milliseconds later.
        while self.insync_revision().is_none_or(|r| r < revision) {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        true
    }

    /// Changes of the served revision (for the node's registration).
    pub(crate) fn subscribe_served(&self) -> watch::Receiver<Option<Revision>> {
        self.served.subscribe()
    }

    /// Whether the sync task reaches the store now (the DNS answers go on either way).
    pub fn store_reachable(&self) -> bool {
        self.store_reachable.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub(crate) fn set_store_reachable(&self, ok: bool) {
        self.store_reachable.store(ok, std::sync::atomic::Ordering::Relaxed);
    }

    /// Names this node (once).
    pub(crate) fn set_node_name(&self, name: &str) {
        let _first = self.node_name.set(name.to_owned());
    }

    /// Whether this node could not renew its registration for the lease's time to live: the
    /// other nodes then count it gone, and it counts only its own health observations.
    pub fn isolated(&self) -> bool {
        self.isolated.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub(crate) fn set_isolated(&self, isolated: bool) {
        self.isolated.store(isolated, std::sync::atomic::Ordering::Relaxed);
    }

    /// The name this node's observed health statuses are kept under.
    pub fn checker(&self) -> &str {
        &self.checker
    }

    /// This node's name, once its registration runs.
    pub fn node_name(&self) -> Option<String> {
        self.node_name.get().cloned()
    }

    /// Changes of the revision this node's state reflects.
    pub(crate) fn subscribe_state(&self) -> watch::Receiver<Revision> {
        self.state_revision.subscribe()
    }

    pub(crate) async fn wait_state(&self, revision: Revision) {
        let mut rx = self.state_revision.subscribe();
        let _timed_out = tokio::time::timeout(STATE_WAIT, rx.wait_for(|r| *r >= revision)).await;
    }

    /// The service's settings.
    pub(crate) fn options(&self) -> &ControlOptions {
        &self.options
    }
}
