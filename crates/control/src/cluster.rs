//! Nodes: each node registers itself in the store under a lease (`/turnout/nodes/<name>`, a
//! time to live of ten seconds, renewed every three), so that a node that stops or loses the
//! store is gone from every node's view when its lease expires, and one that stops cleanly is
//! gone at once (it revokes the lease). The record is written only when it changes: when the
//! node first serves a configuration change, so that every node knows who serves what (a
//! change is INSYNC once every registered node serves its revision). The same task writes the
//! node's report: its own observed health statuses once its probes have established them, and
//! their changes, stamped with its registration (`crate::reports`: a base, then one key per
//! write, writes at most one per [`REPORT_SPACING`] while changes keep coming). The other
//! checkers count it while that registration is the node's current one (a restarted node's old
//! report does not count; it reports again as its probes establish each status).
//! `GET /v1/cluster` shows the nodes, their regions, revisions and lag.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use turnout_health::engine::Quorum;
use turnout_store::{LeaseId, Op, Revision, StoreError, Txn};

use crate::node::Control;
pub use crate::types::NodeRecord;
use crate::types::Placement;
use crate::{ControlError, keys};

/// A node's registration lives this long unrenewed: a node that stops (or loses the store)
/// for longer is gone from the cluster, and its health reports stop counting.
pub const NODE_TTL: Duration = Duration::from_secs(10);
/// How often a node renews its registration.
pub const RENEW: Duration = Duration::from_secs(3);
/// How soon a failed registration step is tried again.
const RETRY: Duration = Duration::from_secs(1);
/// The least time between two writes of a node's report changes: the first change after a
/// quiet spell is written at once, the ones that follow within this time together after it. It
/// bounds a node's status writes to two a second however many checks change
/// (`docs/scaling.md`).
pub const REPORT_SPACING: Duration = Duration::from_millis(500);
/// A new base is written once the changes written since the last one outnumber its entries
/// (and this many), or after this many writes of changes: a restart reads a bounded report.
const COMPACT_ENTRIES: usize = 10_000;
const COMPACT_WRITES: usize = 2_000;

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
    /// The addresses its health probes come from (`GET /v1/checkers`).
    pub probe_sources: Vec<String>,
}

/// A node as `GET /v1/cluster` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeView {
    /// The record.
    #[serde(flatten)]
    pub record: NodeRecord,
    /// How long ago it wrote its record, in milliseconds (by this node's clock).
    pub updated_ago_ms: u64,
    /// Revisions it is behind the last configuration change (0: it serves everything).
    pub lag: Revision,
}

/// The cluster as one node sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterView {
    /// The store revision this node has read.
    pub store_revision: Revision,
    /// The lowest revision every registered node serves: changes at or below it are INSYNC.
    pub insync_revision: Option<Revision>,
    /// Whether this node could not renew its registration for the lease's time to live (the
    /// store is unreachable): the others count it gone, and it counts only its own health
    /// observations until it is back.
    pub isolated: bool,
    /// Every registered node, by name.
    pub nodes: Vec<NodeView>,
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

impl Control {
    /// The other checkers' reports for the health engine's quorum: those of every registered
    /// node (a registration lives while its node renews it), and where checks are placed.
    /// None while this node is itself cut off from the store (their registrations may have
    /// lapsed unseen: it probes every check and decides alone), or when nothing else counts.
    pub(crate) fn quorum(&self) -> Option<Quorum> {
        if self.isolated() {
            return None;
        }
        let st = self.read();
        let me = self.checker();
        let reports: BTreeMap<_, _> = st
            .reports
            .iter()
            .filter(|(checker, _)| checker.as_str() != me && st.nodes.contains_key(*checker))
            .map(|(checker, report)| (checker.clone(), Arc::clone(report)))
            .collect();
        let placement = self.placement(&st);
        drop(st);
        (!reports.is_empty() || !placement.is_empty()).then(|| Quorum {
            me: me.to_owned(),
            reports,
            placement,
        })
    }

    /// Where each check with `checkers_per_region` is placed, computed again only after
    /// something that moves it. Empty unless this node is registered under its checker name
    /// (a single node, or one not registered yet, probes every check).
    fn placement(&self, st: &crate::state::State) -> Arc<Placement> {
        if !st.nodes.contains_key(self.checker()) {
            return Arc::default();
        }
        let mut cache = self.placements.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((revision, placement)) = cache.as_ref()
            && *revision == st.placement_revision
        {
            return Arc::clone(placement);
        }
        let placement: Arc<Placement> = Arc::new(
            st.checks
                .values()
                .filter_map(|(_, check)| {
                    let k = check.checkers_per_region?;
                    Some((check.name.clone(), Arc::new(place(&check.name, k, &st.nodes))))
                })
                .collect(),
        );
        *cache = Some((st.placement_revision, Arc::clone(&placement)));
        placement
    }

    /// The cluster as this node sees it.
    pub fn cluster(&self) -> ClusterView {
        let now = now_ms();
        let st = self.read();
        let nodes: Vec<NodeView> = st
            .nodes
            .values()
            .map(|r| NodeView {
                record: r.clone(),
                updated_ago_ms: now.saturating_sub(r.updated_ms),
                lag: (st.config_revision - r.served_revision).max(0),
            })
            .collect();
        let store_revision = st.revision;
        drop(st);
        ClusterView {
            store_revision,
            insync_revision: self.insync_revision(),
            isolated: self.isolated(),
            nodes,
        }
    }

    /// The lowest revision every registered node serves, this one included (its own, from
    /// memory, is always current); None before this node serves anything.
    pub fn insync_revision(&self) -> Option<Revision> {
        let own = self.served_revision()?;
        let me = self.node_name();
        let others = self
            .read()
            .nodes
            .values()
            .filter(|r| Some(r.name.as_str()) != me.as_deref())
            .map(|r| r.served_revision)
            .min();
        Some(others.map_or(own, |o| o.min(own)))
    }
}

/// The checkers that probe `check` when it asks for `per_region` checkers of each region: in
/// each region of `nodes`, those with the highest rendezvous score for the pair (check, node).
/// Every node computes the same set from the same registrations, and a node joining or
/// leaving moves only the checks it wins or held.
pub fn place(
    check: &str,
    per_region: u8,
    nodes: &BTreeMap<String, NodeRecord>,
) -> BTreeSet<String> {
    let mut regions: BTreeMap<&str, Vec<(u64, &str)>> = BTreeMap::new();
    for node in nodes.values() {
        regions.entry(&node.region).or_default().push((score(check, &node.name), &node.name));
    }
    let mut on = BTreeSet::new();
    for mut candidates in regions.into_values() {
        candidates.sort_unstable_by(|a, b| b.cmp(a));
        on.extend(candidates.into_iter().take(usize::from(per_region)).map(|(_, n)| n.to_owned()));
    }
    on
}

/// The rendezvous score of (check, node): the first 8 bytes of SHA-256(check, 0, node), the
/// same on every node and every build.
fn score(check: &str, node: &str) -> u64 {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new()
        .chain_update(check.as_bytes())
        .chain_update([0])
        .chain_update(node.as_bytes())
        .finalize();
    let mut first = [0_u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

/// One node's registration and reports, as its task keeps them.
struct Registration {
    me: NodeIdentity,
    /// The lease the record lives under (None: to be granted).
    lease: Option<LeaseId>,
    /// The record as last written under the current lease (its time left out).
    written: Option<NodeRecord>,
    /// The revision of that write.
    written_at: Revision,
    /// Whether another process with this node's name was reported.
    warned: bool,
    /// The served revision the record reports.
    served: Revision,
    /// When the lease was last granted or renewed.
    renewed: Instant,
    next_renew: Instant,
    /// This node's report as written under the current registration: check -> healthy.
    reported: BTreeMap<String, bool>,
    /// The generation it is written to (None: a base is due).
    generation: Option<u64>,
    /// The last sequence number taken (generations and parts take the next ones).
    seq: u64,
    /// Entries and writes of changes since the generation's base.
    since_base: (usize, usize),
    /// When changes were last written.
    last_change: Option<Instant>,
    /// When held-back changes are to be written.
    due_at: Option<Instant>,
    /// Whether the observations may differ from the report: an observation changed, or the
    /// renewal's sweep (a check deleted or moved away) is due. Other wake-ups (a watch batch
    /// served, dozens a second in a busy cluster) do not compare them.
    dirty: bool,
    /// Whether this node's statuses in the layout before reports were deleted.
    legacy_deleted: bool,
}

impl Registration {
    /// Brings the store up to date: a lease, the record, the renewal, the reports.
    async fn step(&mut self, control: &Control) -> Result<(), ControlError> {
        let store = control.store();
        let lease = match self.lease {
            Some(l) => l,
            None => {
                let l = store.grant(NODE_TTL).await?;
                self.renewed = Instant::now();
                self.next_renew = self.renewed + RENEW;
                self.written = None;
                // A report under an earlier registration does not count: a new base.
                self.reported.clear();
                self.generation = None;
                self.lease = Some(l);
                l
            }
        };
        let now_serves = control.served_revision().unwrap_or(0);
        if now_serves > self.served && control.read().config_revision > self.served {
            self.served = now_serves;
        }
        let record = NodeRecord {
            name: self.me.name.clone(),
            region: self.me.region.clone(),
            dns: self.me.dns.clone(),
            api: self.me.api.clone(),
            controls: self.me.controls.clone(),
            probe_sources: self.me.probe_sources.clone(),
            served_revision: self.served,
            updated_ms: 0,
            lease,
        };
        if self.written.as_ref() != Some(&record) {
            let value = serde_json::to_vec(&NodeRecord { updated_ms: now_ms(), ..record.clone() })
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let put = Op::put_leased(keys::node(&self.me.name), value, lease);
            let done = self
                .expired_if_gone(store.txn(Txn { success: vec![put], ..Txn::default() }).await)?;
            self.written = Some(record);
            self.written_at = done.revision;
        }
        if Instant::now() >= self.next_renew {
            self.expired_if_gone(store.keep_alive(lease).await)?;
            self.renewed = Instant::now();
            self.next_renew = self.renewed + RENEW;
            self.check_record(control, lease);
            self.dirty = true;
        }
        let reported = self.report(control, lease).await;
        if reported.is_err() {
            self.dirty = true; // Looked at, not written: look again at the retry.
        }
        reported
    }

    /// Once this node has read past its last write, the store must hold its record under its
    /// lease: if not (deleted by hand, or written by another process with the same name), it is
    /// written again at the next step; at most once per renewal, so that two processes sharing
    /// a name do not overwrite each other in a tight loop.
    fn check_record(&mut self, control: &Control, lease: LeaseId) {
        let st = control.read();
        if st.revision < self.written_at {
            return;
        }
        let held = st.nodes.get(&self.me.name).map(|r| r.lease);
        drop(st);
        if held == Some(lease) {
            return;
        }
        if let Some(other) = held
            && !self.warned
        {
            tracing::error!(
                "another process registers as node {:?} (lease {other:x}, this one {lease:x}): \
                 every node needs its own --node-name",
                self.me.name
            );
            self.warned = true;
        }
        self.written = None;
    }

    /// Forgets the lease if the store says it is gone (the next step takes a new one).
    fn expired_if_gone<T>(&mut self, r: Result<T, StoreError>) -> Result<T, StoreError> {
        if let Err(StoreError::LeaseExpired(_)) = &r {
            self.lease = None;
        }
        r
    }

    /// A sequence number above every one taken, by this process or an earlier one (they
    /// follow the clock, in microseconds).
    fn next_seq(&mut self) -> u64 {
        let clock = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros());
        self.seq = (self.seq + 1).max(u64::try_from(clock).unwrap_or(u64::MAX));
        self.seq
    }

    /// Brings this node's report in the store (`crate::reports`) up to its established
    /// observed statuses under the current registration (`run`): a new base when none is
    /// written yet or the changes since outgrow it, else one key with every change since the
    /// last write, at most one per [`REPORT_SPACING`]. In a cluster, a check no longer
    /// established (moved to other checkers, changed or disabled) goes from the report: a
    /// stored observation must not count for longer than its probes back it. Alone, nobody
    /// else counts the report and it is what a restart starts from: its statuses of checks not
    /// established yet stay.
    async fn report(&mut self, control: &Control, run: LeaseId) -> Result<(), ControlError> {
        self.due_at = None;
        if control.served_revision().is_none() {
            return Ok(()); // The checks are not read from the store yet.
        }
        let (entries, writes) = self.since_base;
        let rebase = self.generation.is_none()
            || entries > self.reported.len().max(COMPACT_ENTRIES)
            || writes >= COMPACT_WRITES;
        if !rebase && !self.dirty {
            return Ok(());
        }
        if !rebase
            && let Some(last) = self.last_change
            && last + REPORT_SPACING > Instant::now()
        {
            self.due_at = Some(last + REPORT_SPACING);
            return Ok(());
        }
        self.dirty = false;
        let mut want = control.health().observations();
        if control.checker() == keys::LOCAL_CHECKER {
            let st = control.read();
            for (check, status) in &st.observed {
                if st.checks.contains_key(check) && !want.contains_key(check) {
                    want.insert(check.clone(), *status == turnout_model::health::Status::Healthy);
                }
            }
        }
        if rebase {
            return self.write_base(control, run, want).await;
        }
        let mut due: Vec<(String, Option<bool>)> = self
            .reported
            .keys()
            .filter(|check| !want.contains_key(*check))
            .map(|check| (check.clone(), None))
            .collect();
        due.extend(
            want.iter()
                .filter(|(c, h)| self.reported.get(*c) != Some(h))
                .map(|(c, h)| (c.clone(), Some(*h))),
        );
        if due.is_empty() {
            return Ok(());
        }
        let at = crate::now_rfc3339();
        let generation = self.generation.unwrap_or_default();
        for part in crate::reports::parts(due.iter().cloned(), false, run, &at) {
            let key = keys::report_part(control.checker(), generation, self.next_seq());
            control.store().write_repeatable(vec![Op::put(key, crate::to_json(&part))]).await?;
            self.since_base.1 += 1;
        }
        self.since_base.0 += due.len();
        for (check, healthy) in due {
            match healthy {
                Some(h) => self.reported.insert(check, h),
                None => self.reported.remove(&check),
            };
        }
        self.last_change = Some(Instant::now());
        Ok(())
    }

    /// Writes `want` as a new generation's base; the transaction of its last part deletes every
    /// older generation of this node (and its statuses in the layout before reports).
    async fn write_base(
        &mut self,
        control: &Control,
        run: LeaseId,
        want: BTreeMap<String, bool>,
    ) -> Result<(), ControlError> {
        let me = control.checker().to_owned();
        let at = crate::now_rfc3339();
        let generation = self.next_seq();
        let parts =
            crate::reports::parts(want.iter().map(|(c, h)| (c.clone(), Some(*h))), true, run, &at);
        for (i, part) in parts.iter().enumerate() {
            let seq = if i == 0 { generation } else { self.next_seq() };
            let mut success =
                vec![Op::put(keys::report_part(&me, generation, seq), crate::to_json(part))];
            if part.end {
                let mut older: BTreeSet<u64> = control
                    .read()
                    .report_gens
                    .get(&me)
                    .map(|g| g.keys().copied().collect())
                    .unwrap_or_default();
                older.extend(self.generation);
                older.remove(&generation);
                success.extend(
                    older
                        .into_iter()
                        .map(|g| Op::DeletePrefix { prefix: keys::report_gen(&me, g) }),
                );
                if !self.legacy_deleted {
                    success.push(Op::DeletePrefix { prefix: keys::health_status(&me, "") });
                }
            }
            control.store().write_repeatable(success).await?;
        }
        self.legacy_deleted = true;
        self.generation = Some(generation);
        self.reported = want;
        self.since_base = (0, 0);
        Ok(())
    }
}

/// Registers this node and keeps its registration and health reports current until
/// `shutdown`, then revokes the registration so that the other nodes drop it at once. Store
/// failures are logged and retried; while the registration cannot be renewed for
/// [`NODE_TTL`], the node counts itself isolated (see [`ClusterView::isolated`]).
pub async fn run_node(control: Arc<Control>, me: NodeIdentity, shutdown: CancellationToken) {
    control.set_node_name(&me.name);
    let mut served = control.subscribe_served();
    let now = Instant::now();
    let mut reg = Registration {
        me,
        lease: None,
        written: None,
        written_at: 0,
        warned: false,
        served: 0,
        renewed: now,
        next_renew: now,
        reported: BTreeMap::new(),
        generation: None,
        seq: 0,
        since_base: (0, 0),
        last_change: None,
        due_at: None,
        dirty: true,
        legacy_deleted: false,
    };
    let mut failing = false;
    loop {
        let stepped = reg.step(&control).await;
        let mut wake = reg.next_renew;
        if let Some(due) = reg.due_at {
            wake = wake.min(due);
        }
        match stepped {
            Ok(()) => {
                if failing {
                    tracing::info!("node registration written again");
                }
                failing = false;
            }
            Err(e) => {
                if !failing {
                    tracing::warn!("cannot keep this node's registration current: {e}");
                }
                failing = true;
                // Not sooner: a renewal or a report due in the past would make it at once,
                // and a store that refuses at once would be asked in a loop.
                wake = Instant::now() + RETRY;
            }
        }
        let isolated = reg.renewed.elapsed() > NODE_TTL;
        if isolated != control.isolated() {
            if isolated {
                tracing::warn!(
                    "registration not renewed for {}s: counting only this node's own health observations",
                    NODE_TTL.as_secs_f64()
                );
            }
            control.set_isolated(isolated);
            control.health().set_quorum(control.quorum());
        }
        if failing {
            // What changes meanwhile is compared at the next step.
            reg.dirty = true;
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep_until(wake) => {}
            }
            continue;
        }
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep_until(wake) => {}
            _ = served.changed() => {}
            () = control.health().observation_changed() => reg.dirty = true,
        }
    }
    if let Some(lease) = reg.lease {
        let revoked = tokio::time::timeout(Duration::from_secs(2), control.store().revoke(lease));
        if !matches!(revoked.await, Ok(Ok(()))) {
            tracing::warn!(
                "could not revoke this node's registration; it expires in {}s",
                NODE_TTL.as_secs_f64()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(list: &[(&str, &str)]) -> BTreeMap<String, NodeRecord> {
        list.iter()
            .map(|(name, region)| {
                let record = NodeRecord {
                    name: (*name).to_owned(),
                    region: (*region).to_owned(),
                    dns: Vec::new(),
                    api: String::new(),
                    controls: String::new(),
                    probe_sources: Vec::new(),
                    served_revision: 0,
                    updated_ms: 0,
                    lease: 0,
                };
                ((*name).to_owned(), record)
            })
            .collect()
    }

    #[test]
    fn placement_takes_k_per_region_and_moves_little_when_a_node_joins() {
        let three = nodes(&[("a", "eu"), ("b", "eu"), ("c", "eu"), ("x", "us"), ("y", "us")]);
        let checks: Vec<String> = (0..3000).map(|i| format!("check-{i}")).collect();
        let mut load: BTreeMap<String, usize> = BTreeMap::new();
        for check in &checks {
            let on = place(check, 1, &three);
            // One per region, the same every time.
            assert_eq!(on.len(), 2, "{check}: {on:?}");
            assert_eq!(on, place(check, 1, &three));
            assert_eq!(on.iter().filter(|n| ["x", "y"].contains(&n.as_str())).count(), 1);
            for n in on {
                *load.entry(n).or_default() += 1;
            }
        }
        // Spread evenly within a region (3,000 checks over 3 eu nodes: about 1,000 each).
        for n in ["a", "b", "c"] {
            assert!((850..1150).contains(&load[n]), "{load:?}");
        }
        // More than a region holds: all of it.
        assert_eq!(place("check-1", 5, &three).len(), 5);
        // A fourth eu node takes about a quarter of the eu checks, and only from the others:
        // no check moves between the three that stay.
        let four = nodes(&[("a", "eu"), ("b", "eu"), ("c", "eu"), ("d", "eu"), ("x", "us")]);
        let mut moved = 0;
        for check in &checks {
            let before = place(check, 1, &three);
            let after = place(check, 1, &four);
            let eu_before = before.iter().find(|n| !["x", "y"].contains(&n.as_str())).unwrap();
            let eu_after = after.iter().find(|n| !["x", "y"].contains(&n.as_str())).unwrap();
            if eu_before != eu_after {
                assert_eq!(eu_after, "d", "{check} moved from {eu_before} to {eu_after}");
                moved += 1;
            }
        }
        assert!((600..900).contains(&moved), "{moved} of 3000 moved");
    }
}
