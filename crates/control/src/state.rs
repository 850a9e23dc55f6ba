//! The configuration as of one store revision, materialized in memory from a range and kept
//! current by applying watch batches. The sync task is its only writer; API handlers read it to
//! validate batches and answer lists without touching the store.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use tracing::warn;
use turnout_model::cidr::{CidrCollection, CidrCollectionSpec};
use turnout_model::controls::{ControlPanel, ControlPanelSpec, ControlState};
use turnout_model::health::{HealthCheck, HealthCheckSpec, Status};
use turnout_model::sets::Gathered;
use turnout_model::{
    ErrorCode, FieldError, Name, Policy, RType, RecordKey, RecordSet, RecordSetSpec, ZoneRecords,
};
use turnout_store::{Event, KeyValue, LeaseId, Revision, WatchBatch};

use crate::journal::{self, Journal};
use crate::keys;
use crate::reports::{self, ReportGen, ReportPart};
use crate::types::{TokenRecord, TsigKeyRecord, ZoneMeta};

/// A zone's metadata and the revisions that guard concurrent changes to it.
#[derive(Debug, Clone)]
pub struct ZoneEntry {
    /// As stored.
    pub meta: ZoneMeta,
    /// The mod revision of the zone's metadata key.
    pub meta_revision: Revision,
}

/// Everything the control plane knows, at one store revision.
#[derive(Debug, Default)]
pub struct State {
    /// The store revision this state reflects.
    pub revision: Revision,
    /// Zone metadata by apex.
    pub zones: BTreeMap<Name, ZoneEntry>,
    /// Record sets by zone. Shared with the snapshot builder, which compiles a zone without
    /// holding the lock; a write to a zone the builder holds copies it first.
    pub records: BTreeMap<Name, Arc<ZoneRecords>>,
    /// Mod revision of each zone's SOA key: every change batch rewrites the SOA (its serial),
    /// so this is the zone's version for compare-and-swap.
    pub soa_revision: HashMap<Name, Revision>,
    /// API tokens by SHA-256.
    pub tokens: HashMap<String, TokenRecord>,
    /// The DNS cookie secrets, once made.
    pub cookie_secret: Option<crate::types::CookieSecretRecord>,
    /// Health checks by name, as written and validated.
    pub checks: BTreeMap<String, (HealthCheckSpec, HealthCheck)>,
    /// This node's last persisted observed status of each check (a restart starts from it).
    pub observed: HashMap<String, Status>,
    /// The name this node's observed statuses are kept under.
    pub checker: String,
    /// Every other checker's stored observed statuses in the layout before reports
    /// (`/turnout/health/`), by checker: check -> (healthy, the registration (lease) they were
    /// written under). Counted for a checker that has no report (a node of an earlier version).
    pub stored_reports: BTreeMap<String, BTreeMap<String, (bool, LeaseId)>>,
    /// Every checker's reports (this node's included), by checker and generation
    /// ([`crate::reports`]).
    pub report_gens: BTreeMap<String, BTreeMap<u64, ReportGen>>,
    /// The reports that count, by checker: the stored observations a registered node wrote
    /// under its current registration (older ones are from an earlier run, perhaps stale).
    pub reports: BTreeMap<String, turnout_health::engine::Report>,
    /// CIDR collections by name, as written and validated.
    pub collections: BTreeMap<String, (CidrCollectionSpec, Arc<CidrCollection>)>,
    /// Control panels by name, as written and validated.
    pub panels: BTreeMap<String, (ControlPanelSpec, Arc<ControlPanel>)>,
    /// Failover drills by name, as written and validated.
    pub drills:
        BTreeMap<String, (turnout_model::drills::DrillSpec, Arc<turnout_model::drills::Drill>)>,
    /// Drill runs under way, by drill.
    pub active_drills: BTreeMap<String, crate::types::DrillRun>,
    /// When each drill's newest finished run started (milliseconds since 1970).
    pub drill_last_start_ms: BTreeMap<String, u64>,
    /// Each drill's newest finished run's outcome.
    pub drill_last_outcome: BTreeMap<String, String>,
    /// Routing controls' stored states by (panel, control), with each key's mod revision
    /// (a control without a stored state is Off).
    pub control_states: BTreeMap<(String, String), (ControlState, Revision)>,
    /// Every node's record, by name.
    pub nodes: BTreeMap<String, crate::types::NodeRecord>,
    /// The last revision that changed the configuration (not a node record, not a health
    /// observation): what every node must serve for a change to be INSYNC.
    pub config_revision: Revision,
    /// The last revision that may have changed where checks are placed (a check, or a node
    /// joining, leaving or changing region): placements are computed again after it.
    pub placement_revision: Revision,
    /// The mod revision of each configuration object's key (zone metadata, caller references,
    /// checks, CIDR collections, control panels and states, tokens), invalid ones included:
    /// what a write that read the object compares (`crate::write`). Record sets are guarded
    /// by their zone's SOA instead.
    pub revisions: HashMap<String, Revision>,
    /// The version of each configuration object's key (1 when written first, one more at
    /// each write: Route 53's `HealthCheckVersion` and `CollectionVersion`).
    pub versions: HashMap<String, i64>,
    /// What each caller reference created: reference -> (zone, change id).
    pub caller_references: HashMap<String, CallerReference>,
    /// TSIG keys by name (usable ones only).
    pub tsig_keys: BTreeMap<Name, TsigKeyRecord>,
    /// Signed zones' DNSSEC keys as stored, by zone (usable ones only).
    pub dnssec: HashMap<Name, Arc<crate::types::DnssecRecord>>,
    /// Each zone's recent serial changes, for IXFR (from this node's start).
    pub journals: HashMap<Name, Journal>,
    /// Which current-answers view each zone's serial stands for (`crate::views`).
    pub views: HashMap<Name, crate::types::ViewRecord>,
    /// How each secondary zone's refreshes went (`crate::secondaries`).
    pub secondary_status: HashMap<Name, crate::types::SecondaryStatus>,
    /// Tags by (resource kind, id) (`crate::tags`).
    pub tags: HashMap<(String, String), BTreeMap<String, String>>,
    /// The record sets a watch batch being applied wrote, by zone: (before, after).
    pending: BTreeMap<Name, Vec<journal::SetChange>>,
    /// Whether writes are being recorded in `pending` (watch batches, not the first load).
    journaling: bool,
    /// Whether record sets go to `loading` (a full load) rather than straight into their zone.
    bulk: bool,
    /// The record sets of a full load, by zone, until each zone's map is built at once.
    loading: BTreeMap<Name, Gathered>,
    /// The zone whose record sets a full load is reading now (the store keeps a zone's sets
    /// together), out of `loading` meanwhile: its zone is looked up once per run of them.
    gathering: Option<(Name, Gathered)>,
}

/// What a caller reference created, as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CallerReference {
    /// The zone (absolute name).
    pub zone: String,
    /// The id of the change that created it.
    pub change: String,
}

/// Whether a write that read the key compares the key itself (see [`State::revisions`]).
/// Called for every key applied (a million record sets at a start): no allocation.
fn is_object(key: &str) -> bool {
    // The kinds below `keys::ROOT` whose keys are objects (`keys::zones()`, `checks()`...).
    const KINDS: [&str; 14] = [
        "zones/",
        "callerrefs/",
        "checks/",
        "collections/",
        "panels/",
        "controls/",
        "tokens/",
        "secrets/",
        "tsig/",
        "dnssec/",
        "views/",
        "tags/",
        "drills/",
        "drill-active/",
    ];
    key.strip_prefix(keys::ROOT).is_some_and(|rest| KINDS.iter().any(|k| rest.starts_with(k)))
}

/// A persisted observed status.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ObservedStatus {
    /// `healthy` or `unhealthy`.
    pub status: String,
    /// RFC 3339.
    pub at: String,
    /// The registration (lease) of the checker's node when it wrote this (0: none): in a
    /// cluster, a report counts only while it is the node's current one.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub run: LeaseId,
}

fn is_zero(n: &LeaseId) -> bool {
    *n == 0
}

/// What applying store events changed.
#[derive(Debug, Default)]
pub struct Touched {
    /// Zones whose records or existence changed.
    pub zones: BTreeSet<Name>,
    /// Of those, the zones that changed otherwise than record set by record set (created,
    /// deleted, a CIDR collection they use): they are compiled again whole.
    pub whole: BTreeSet<Name>,
    /// The owner names of the record sets written or deleted, by zone (a large zone compiled
    /// in chunks recompiles only the chunks that hold them).
    pub names: BTreeMap<Name, BTreeSet<Name>>,
    /// Whether any health check was added, changed or removed.
    pub checks: bool,
    /// Whether any control panel or routing control state changed.
    pub controls: bool,
    /// Whether any node record or another checker's report changed.
    pub nodes: bool,
    /// Whether the checks' placement may have changed (a check, or a node's name or region).
    pub placement: bool,
}

/// Whether a key is configuration: not a node's registration, not a health observation
/// (neither is something every node must serve).
fn is_config(key: &str) -> bool {
    !key.starts_with(&keys::nodes())
        && !key.starts_with(&keys::health())
        && !key.starts_with(&keys::reports())
        && !key.starts_with(&keys::secondary_statuses())
}

impl State {
    /// The first drill that forces or guards on the check `name`.
    pub fn drill_naming_check(&self, name: &str) -> Option<&str> {
        self.drills.values().find_map(|(_, d)| {
            let forces =
                matches!(&d.action, turnout_model::drills::DrillAction::Check(c) if c == name);
            (forces || d.guard.as_deref() == Some(name)).then_some(d.name.as_str())
        })
    }

    /// The first drill that flips a control of `panel` (or that one control).
    pub fn drill_flipping(&self, panel: &str, control: Option<&str>) -> Option<&str> {
        self.drills.values().find_map(|(_, d)| match &d.action {
            turnout_model::drills::DrillAction::Control { panel: p, control: c, .. }
                if p == panel && control.is_none_or(|x| x == c) =>
            {
                Some(d.name.as_str())
            }
            _ => None,
        })
    }

    /// Builds the state from a full range of [`keys::ROOT`], for the node whose observed
    /// health statuses are kept under `checker`.
    pub fn from_range(kvs: &[KeyValue], revision: Revision, checker: &str) -> (State, Touched) {
        let mut loading = Loading::new(checker);
        loading.push(kvs.to_vec());
        loading.finish(revision)
    }

    /// Applies one watch batch.
    pub fn apply(&mut self, batch: &WatchBatch, touched: &mut Touched) {
        self.journaling = true;
        for event in &batch.events {
            match event {
                Event::Put(kv) => self.put(kv, touched),
                Event::Delete { key, .. } => self.delete(key, touched),
            }
            if is_config(event.key()) {
                self.config_revision = self.config_revision.max(batch.revision);
            }
        }
        if touched.placement {
            self.placement_revision = batch.revision;
        }
        self.revision = self.revision.max(batch.revision);
        self.journaling = false;
        for (apex, changes) in std::mem::take(&mut self.pending) {
            if !self.zones.contains_key(&apex) {
                self.journals.remove(&apex);
                continue;
            }
            let sets = self.records.get(&apex).map_or(0, |z| z.sets.len());
            let journal = self.journals.entry(apex).or_default();
            match journal::delta_of(&changes) {
                Some(delta) => journal.push(delta, journal::journal_cap(sets)),
                None => journal.clear(),
            }
        }
    }

    /// The zone's current serial (None: no such zone, or no SOA).
    pub fn serial(&self, apex: &Name) -> Option<u32> {
        let set = self.records.get(apex)?.sets.get(&Self::soa_key(apex))?;
        match &set.data {
            turnout_model::RecordData::Values { rdatas, .. } => {
                rdatas.first().and_then(turnout_model::Soa::from_rdata).map(|s| s.serial)
            }
            turnout_model::RecordData::Alias { .. } => None,
        }
    }

    /// The mod revision of an object's key (0: absent), as [`State::revisions`] keeps it.
    pub fn revision_of(&self, key: &str) -> Revision {
        self.revisions.get(key).copied().unwrap_or(0)
    }

    /// Writes one decoded record set of `apex` (stored at `mod_revision`).
    fn put_rrset(
        &mut self,
        apex: Name,
        set: RecordSet,
        mod_revision: Revision,
        touched: &mut Touched,
    ) {
        if set.rtype == RType::SOA {
            self.soa_revision.insert(apex.clone(), mod_revision);
        }
        if self.bulk {
            // A full load compiles every zone from scratch: no names needed.
            if self.gathering.as_ref().is_none_or(|(at, _)| *at != apex) {
                self.gather(apex, touched);
            }
            if let Some((_, sets)) = &mut self.gathering {
                sets.push(set);
            }
            return;
        }
        let zone = self
            .records
            .entry(apex.clone())
            .or_insert_with(|| Arc::new(ZoneRecords::new(apex.clone())));
        touched.names.entry(apex.clone()).or_default().insert(set.name.clone());
        if self.journaling {
            let before = Arc::make_mut(zone).sets.insert(set.clone());
            self.pending.entry(apex.clone()).or_default().push((before, Some(set)));
        } else {
            Arc::make_mut(zone).sets.insert(set);
        }
        touched.zones.insert(apex);
    }

    /// A full load reads the record sets of `apex` from here on.
    fn gather(&mut self, apex: Name, touched: &mut Touched) {
        self.ungather();
        self.records
            .entry(apex.clone())
            .or_insert_with(|| Arc::new(ZoneRecords::new(apex.clone())));
        touched.zones.insert(apex.clone());
        let sets = self.loading.remove(&apex).unwrap_or_default();
        self.gathering = Some((apex, sets));
    }

    /// Puts the record sets being gathered back with the others.
    fn ungather(&mut self) {
        if let Some((apex, sets)) = self.gathering.take() {
            self.loading.insert(apex, sets);
        }
    }

    fn put(&mut self, kv: &KeyValue, touched: &mut Touched) {
        let key = kv.key.as_str();
        if is_object(key) {
            self.revisions.insert(kv.key.clone(), kv.mod_revision);
            self.versions.insert(kv.key.clone(), kv.version);
        }
        if let Some(reference) = key.strip_prefix(&keys::caller_references()) {
            if let Some(used) = decode::<CallerReference>(key, &kv.value) {
                self.caller_references.insert(unescape(reference), used);
            }
            return;
        }
        if let Some(rest) = key.strip_prefix(&keys::zones()) {
            let Some(meta) = decode::<ZoneMeta>(key, &kv.value) else { return };
            let Ok(apex) = Name::parse_absolute(&meta.name) else {
                warn!("stored zone {rest:?} has an invalid name; ignored");
                return;
            };
            self.records
                .entry(apex.clone())
                .or_insert_with(|| Arc::new(ZoneRecords::new(apex.clone())));
            self.zones.insert(apex.clone(), ZoneEntry { meta, meta_revision: kv.mod_revision });
            touched.whole.insert(apex.clone());
            touched.zones.insert(apex);
        } else if key.starts_with(&keys::all_rrsets()) {
            if let Some((apex, set)) = decode_rrset(kv) {
                self.put_rrset(apex, set, kv.mod_revision, touched);
            }
        } else if key.starts_with(&keys::checks()) {
            let Some(spec) = decode::<HealthCheckSpec>(key, &kv.value) else { return };
            match spec.validate() {
                Ok(check) => {
                    self.checks.insert(check.name.clone(), (spec, check));
                    touched.checks = true;
                    touched.placement = true;
                }
                Err(errors) => {
                    let errors: Vec<String> = errors.iter().map(ToString::to_string).collect();
                    warn!(
                        "stored health check {key:?} is invalid ({}); ignored",
                        errors.join("; ")
                    );
                }
            }
        } else if key.starts_with(&keys::nodes()) {
            if let Some(mut r) = decode::<crate::types::NodeRecord>(key, &kv.value) {
                // The store's word on the lease, not the record's.
                r.lease = kv.lease;
                let (name, lease, region) = (r.name.clone(), r.lease, r.region.clone());
                let before = self.nodes.insert(name.clone(), r);
                if before.as_ref().map(|old| old.lease) != Some(lease) {
                    self.count_reports_of(&name);
                }
                if before.is_none_or(|old| old.region != region) {
                    touched.placement = true;
                }
                touched.nodes = true;
            }
        } else if key.starts_with(&keys::drills()) {
            let Some(spec) = decode::<turnout_model::drills::DrillSpec>(key, &kv.value) else {
                return;
            };
            match spec.validate() {
                Ok(d) => {
                    self.drills.insert(d.name.clone(), (spec, Arc::new(d)));
                }
                Err(errors) => {
                    let errors: Vec<String> = errors.iter().map(ToString::to_string).collect();
                    warn!("stored drill {key:?} is invalid ({}); ignored", errors.join("; "));
                }
            }
        } else if key.starts_with(&keys::active_drills()) {
            if let Some(run) = decode::<crate::types::DrillRun>(key, &kv.value) {
                self.active_drills.insert(run.drill.clone(), run);
            }
        } else if key.starts_with(&keys::drill_runs()) {
            // Only the newest run of each drill is kept.
            if let Some(run) = decode::<crate::types::DrillRun>(key, &kv.value) {
                let last = self.drill_last_start_ms.entry(run.drill.clone()).or_default();
                if run.started_ms >= *last {
                    *last = run.started_ms;
                    self.drill_last_outcome.insert(run.drill, run.outcome);
                }
            }
        } else if key.starts_with(&keys::panels()) {
            let Some(spec) = decode::<ControlPanelSpec>(key, &kv.value) else { return };
            match spec.validate() {
                Ok(p) => {
                    self.panels.insert(p.name.clone(), (spec, Arc::new(p)));
                    touched.controls = true;
                }
                Err(errors) => {
                    let errors: Vec<String> = errors.iter().map(ToString::to_string).collect();
                    warn!(
                        "stored control panel {key:?} is invalid ({}); ignored",
                        errors.join("; ")
                    );
                }
            }
        } else if let Some(rest) = key.strip_prefix(&keys::all_controls()) {
            let Some((panel, control)) = rest.split_once('/') else { return };
            if let Some(state) = decode::<ControlState>(key, &kv.value) {
                self.control_states
                    .insert((unescape(panel), unescape(control)), (state, kv.mod_revision));
                touched.controls = true;
            }
        } else if key.starts_with(&keys::collections()) {
            let Some(spec) = decode::<CidrCollectionSpec>(key, &kv.value) else { return };
            match spec.validate() {
                Ok(c) => {
                    touched.whole.extend(self.zones_using(&c.name));
                    touched.zones.extend(self.zones_using(&c.name));
                    self.collections.insert(c.name.clone(), (spec, Arc::new(c)));
                }
                Err(errors) => {
                    let errors: Vec<String> = errors.iter().map(ToString::to_string).collect();
                    warn!(
                        "stored CIDR collection {key:?} is invalid ({}); ignored",
                        errors.join("; ")
                    );
                }
            }
        } else if let Some(rest) = key.strip_prefix(&keys::health()) {
            let Some((checker, check)) = rest.split_once('/') else { return };
            let Some(o) = decode::<ObservedStatus>(key, &kv.value) else { return };
            let status = if o.status == "unhealthy" { Status::Unhealthy } else { Status::Healthy };
            let (checker, check) = (unescape(checker), unescape(check));
            if checker == self.checker {
                self.observed.insert(check, status);
            } else {
                let healthy = status == Status::Healthy;
                let stored = self.stored_reports.entry(checker.clone()).or_default();
                stored.insert(check.clone(), (healthy, o.run));
                let current = self.nodes.get(&checker).is_some_and(|n| n.lease == o.run);
                if self.counted_gen(&checker).is_none() {
                    self.set_report(&checker, &check, current.then_some(healthy));
                }
                touched.nodes = true;
            }
        } else if let Some(rest) = key.strip_prefix(&keys::reports()) {
            let Some((checker, generation, seq)) = reports::parse_key(rest) else { return };
            let Some(part) = decode::<ReportPart>(key, &kv.value) else { return };
            self.apply_report_part(&checker, generation, seq, &part);
            touched.nodes |= checker != self.checker;
        } else if let Some(rest) = key.strip_prefix(&keys::tags()) {
            let Some((kind, id)) = rest.split_once('/') else { return };
            if let Some(tags) = decode::<BTreeMap<String, String>>(key, &kv.value) {
                self.tags.insert((kind.to_owned(), unescape(id)), tags);
            }
        } else if let Some(rest) = key.strip_prefix(&keys::secondary_statuses()) {
            let Some(status) = decode::<crate::types::SecondaryStatus>(key, &kv.value) else {
                return;
            };
            if let Ok(apex) = Name::parse_absolute(&unescape(rest)) {
                let expired = status.expired;
                let before = self.secondary_status.insert(apex.clone(), status);
                // Expiring (or coming back) changes what the zone answers.
                if before.is_none_or(|b| b.expired != expired) {
                    touched.whole.insert(apex.clone());
                    touched.zones.insert(apex);
                }
            }
        } else if let Some(rest) = key.strip_prefix(&keys::views()) {
            let Some(record) = decode::<crate::types::ViewRecord>(key, &kv.value) else { return };
            if let Ok(apex) = Name::parse_absolute(&unescape(rest)) {
                self.views.insert(apex, record);
            }
        } else if let Some(rest) = key.strip_prefix(&keys::all_dnssec()) {
            let Some(record) = decode::<crate::types::DnssecRecord>(key, &kv.value) else {
                return;
            };
            let Ok(apex) = Name::parse_absolute(&unescape(rest)) else { return };
            // Keys that make no signer are not served: the zone stays unsigned, and says so.
            match record.signer(&apex, crate::signing::unix_now()) {
                Ok(_) => {
                    self.dnssec.insert(apex.clone(), Arc::new(record));
                }
                Err(e) => {
                    warn!("stored DNSSEC keys {key:?} are unusable ({e}); zone {apex} not signed");
                    self.dnssec.remove(&apex);
                }
            }
            touched.whole.insert(apex.clone());
            touched.zones.insert(apex);
        } else if key.starts_with(&keys::tsig_keys()) {
            let Some(record) = decode::<TsigKeyRecord>(key, &kv.value) else { return };
            match (Name::parse_absolute(&record.name), record.key()) {
                (Ok(name), Some(_)) => {
                    self.tsig_keys.insert(name, record);
                }
                _ => warn!("stored TSIG key {key:?} is unusable; ignored"),
            }
        } else if key.starts_with(&keys::tokens())
            && let Some(token) = decode::<TokenRecord>(key, &kv.value)
        {
            self.tokens.retain(|_, t| t.name != token.name);
            self.tokens.insert(token.sha256.clone(), token);
        } else if key == keys::dns_cookie_secret() {
            self.cookie_secret = decode(key, &kv.value);
        }
    }

    /// The version of an object's key (see [`State::versions`]); 0 when there is none.
    pub fn version(&self, key: &str) -> i64 {
        self.versions.get(key).copied().unwrap_or(0)
    }

    /// Refuses a write that expects the object of `key` at `expected` (`Some(0)`: absent)
    /// when it is at another version; `None` expects nothing.
    pub(crate) fn expect_version(
        &self,
        key: &str,
        expected: Option<i64>,
        kind: &'static str,
        name: &str,
    ) -> Result<(), crate::ControlError> {
        match expected {
            Some(expected) if self.version(key) != expected => {
                Err(crate::ControlError::VersionMismatch {
                    kind,
                    name: name.to_owned(),
                    expected,
                    current: self.version(key),
                })
            }
            _ => Ok(()),
        }
    }

    fn delete(&mut self, key: &str, touched: &mut Touched) {
        self.revisions.remove(key);
        self.versions.remove(key);
        if let Some(reference) = key.strip_prefix(&keys::caller_references()) {
            self.caller_references.remove(&unescape(reference));
        } else if let Some(rest) = key.strip_prefix(&keys::zones()) {
            let Ok(apex) = Name::parse_absolute(&unescape(rest)) else { return };
            self.zones.remove(&apex);
            self.records.remove(&apex);
            self.soa_revision.remove(&apex);
            touched.whole.insert(apex.clone());
            touched.zones.insert(apex);
        } else if let Some(rest) = key.strip_prefix(&keys::all_rrsets()) {
            let Some((apex, rkey)) = parse_rrset_key(rest) else { return };
            if let Some(zone) = self.records.get_mut(&apex) {
                let before = Arc::make_mut(zone).sets.remove(&rkey);
                if self.journaling {
                    self.pending.entry(apex.clone()).or_default().push((before, None));
                }
            }
            touched.names.entry(apex.clone()).or_default().insert(rkey.name);
            touched.zones.insert(apex);
        } else if key == keys::dns_cookie_secret() {
            self.cookie_secret = None;
        } else if let Some(rest) = key.strip_prefix(&keys::views()) {
            if let Ok(apex) = Name::parse_absolute(&unescape(rest)) {
                self.views.remove(&apex);
            }
        } else if let Some(rest) = key.strip_prefix(&keys::tags()) {
            if let Some((kind, id)) = rest.split_once('/') {
                self.tags.remove(&(kind.to_owned(), unescape(id)));
            }
        } else if let Some(rest) = key.strip_prefix(&keys::secondary_statuses()) {
            if let Ok(apex) = Name::parse_absolute(&unescape(rest))
                && self.secondary_status.remove(&apex).is_some_and(|s| s.expired)
            {
                touched.whole.insert(apex.clone());
                touched.zones.insert(apex);
            }
        } else if let Some(rest) = key.strip_prefix(&keys::tsig_keys()) {
            if let Ok(name) = Name::parse_absolute(&unescape(rest)) {
                self.tsig_keys.remove(&name);
            }
        } else if let Some(rest) = key.strip_prefix(&keys::all_dnssec()) {
            if let Ok(apex) = Name::parse_absolute(&unescape(rest))
                && self.dnssec.remove(&apex).is_some()
            {
                touched.whole.insert(apex.clone());
                touched.zones.insert(apex);
            }
        } else if let Some(rest) = key.strip_prefix(&keys::tokens()) {
            let name = unescape(rest);
            self.tokens.retain(|_, t| t.name != name);
        } else if let Some(rest) = key.strip_prefix(&keys::checks()) {
            self.checks.remove(&unescape(rest));
            touched.checks = true;
            touched.placement = true;
        } else if let Some(rest) = key.strip_prefix(&keys::nodes()) {
            let name = unescape(rest);
            self.nodes.remove(&name);
            self.reports.remove(&name);
            touched.nodes = true;
            touched.placement = true;
        } else if let Some(rest) = key.strip_prefix(&keys::drills()) {
            self.drills.remove(&unescape(rest));
        } else if let Some(rest) = key.strip_prefix(&keys::active_drills()) {
            self.active_drills.remove(&unescape(rest));
        } else if let Some(rest) = key.strip_prefix(&keys::panels()) {
            self.panels.remove(&unescape(rest));
            touched.controls = true;
        } else if let Some(rest) = key.strip_prefix(&keys::all_controls()) {
            if let Some((panel, control)) = rest.split_once('/') {
                self.control_states.remove(&(unescape(panel), unescape(control)));
                touched.controls = true;
            }
        } else if let Some(rest) = key.strip_prefix(&keys::collections()) {
            let name = unescape(rest);
            self.collections.remove(&name);
            touched.whole.extend(self.zones_using(&name));
            touched.zones.extend(self.zones_using(&name));
        } else if let Some(rest) = key.strip_prefix(&keys::health())
            && let Some((checker, check)) = rest.split_once('/')
        {
            let (checker, check) = (unescape(checker), unescape(check));
            if checker == self.checker {
                self.observed.remove(&check);
            } else {
                if let Some(stored) = self.stored_reports.get_mut(&checker) {
                    stored.remove(&check);
                    if stored.is_empty() {
                        self.stored_reports.remove(&checker);
                    }
                }
                if self.counted_gen(&checker).is_none() {
                    self.set_report(&checker, &check, None);
                }
                touched.nodes = true;
            }
        } else if let Some(rest) = key.strip_prefix(&keys::reports())
            && let Some((checker, generation, seq)) = reports::parse_key(rest)
        {
            self.drop_report_part(&checker, generation, seq);
            touched.nodes |= checker != self.checker;
        }
    }

    /// The generation of `checker`'s report that counts: its newest complete one written under
    /// its node's current registration.
    fn counted_gen(&self, checker: &str) -> Option<(u64, &ReportGen)> {
        let lease = self.nodes.get(checker)?.lease;
        let gens = self.report_gens.get(checker)?;
        gens.iter().rev().find(|(_, g)| g.complete && g.run == lease).map(|(n, g)| (*n, g))
    }

    /// This node's newest complete generation: what a restart starts from.
    fn own_gen(&self) -> Option<(u64, &ReportGen)> {
        let gens = self.report_gens.get(&self.checker)?;
        gens.iter().rev().find(|(_, g)| g.complete).map(|(n, g)| (*n, g))
    }

    /// Folds one part of a report in, and counts it if it belongs to what counts.
    fn apply_report_part(&mut self, checker: &str, generation: u64, seq: u64, part: &ReportPart) {
        let mine = checker == self.checker;
        let own_before = if mine { self.own_gen().map(|(n, _)| n) } else { None };
        // The counted copy is dropped first, so that the fold changes the report in place
        // (the health engine may hold one more, copied once per batch).
        if !mine {
            self.reports.remove(checker);
        }
        let gens = self.report_gens.entry(checker.to_owned()).or_default();
        gens.entry(generation).or_default().apply(seq, part);
        if mine {
            match self.own_gen() {
                Some((n, _)) if Some(n) == own_before && n == generation => {
                    for (check, healthy) in part.entries() {
                        match healthy {
                            Some(h) => self.observed.insert(check.to_owned(), status_of(h)),
                            None => self.observed.remove(check),
                        };
                    }
                }
                Some((n, g)) if Some(n) != own_before => {
                    self.observed =
                        g.entries.iter().map(|(c, h)| (c.clone(), status_of(*h))).collect();
                }
                _ => {}
            }
        } else {
            self.count_reports_of(checker);
        }
    }

    /// Forgets one key of a report; the generation goes with its last key.
    fn drop_report_part(&mut self, checker: &str, generation: u64, seq: u64) {
        let Some(gens) = self.report_gens.get_mut(checker) else { return };
        if let Some(g) = gens.get_mut(&generation) {
            g.seqs.remove(&seq);
            if g.seqs.is_empty() {
                gens.remove(&generation);
            }
        }
        if gens.is_empty() {
            self.report_gens.remove(checker);
        }
        if checker != self.checker {
            self.count_reports_of(checker);
        }
    }

    /// Sets (Some) or removes (None) one check in `checker`'s counted report.
    fn set_report(&mut self, checker: &str, check: &str, healthy: Option<bool>) {
        match healthy {
            Some(h) => {
                let report = self.reports.entry(checker.to_owned()).or_default();
                Arc::make_mut(report).insert(check.to_owned(), h);
            }
            None => {
                if let Some(report) = self.reports.get_mut(checker) {
                    Arc::make_mut(report).remove(check);
                    if report.is_empty() {
                        self.reports.remove(checker);
                    }
                }
            }
        }
    }

    /// Rebuilds `checker`'s counted report for its node's current registration: its counted
    /// generation, or else its statuses in the earlier layout.
    fn count_reports_of(&mut self, checker: &str) {
        if let Some((_, g)) = self.counted_gen(checker) {
            let report = Arc::clone(&g.entries);
            if report.is_empty() {
                self.reports.remove(checker);
            } else {
                self.reports.insert(checker.to_owned(), report);
            }
            return;
        }
        let lease = self.nodes.get(checker).map(|n| n.lease);
        let report: BTreeMap<String, bool> = self
            .stored_reports
            .get(checker)
            .into_iter()
            .flatten()
            .filter(|(_, (_, run))| Some(*run) == lease)
            .map(|(check, (healthy, _))| (check.clone(), *healthy))
            .collect();
        if report.is_empty() {
            self.reports.remove(checker);
        } else {
            self.reports.insert(checker.to_owned(), Arc::new(report));
        }
    }

    /// Every routing control's state as health checks read it: `panel/control` -> On, for
    /// the controls of existing panels.
    pub fn control_map(&self) -> HashMap<String, bool> {
        let mut map = HashMap::new();
        for (name, (_, panel)) in &self.panels {
            for c in &panel.controls {
                let on =
                    self.control_states.get(&(name.clone(), c.clone())).is_some_and(|(s, _)| s.on);
                map.insert(format!("{name}/{c}"), on);
            }
        }
        map
    }

    /// The zones whose IP-based records name a collection.
    pub fn zones_using(&self, collection: &str) -> Vec<Name> {
        self.records
            .iter()
            .filter(|(_, z)| {
                z.sets.not_plain().any(
                    |s| matches!(&s.policy, Policy::Cidr { collection: c, .. } if c == collection),
                )
            })
            .map(|(apex, _)| apex.clone())
            .collect()
    }

    /// The first record set that names a collection (and, if given, one of its locations).
    pub fn collection_user(&self, collection: &str, location: Option<&str>) -> Option<RecordKey> {
        self.records.values().flat_map(|z| z.sets.not_plain()).find_map(|s| match &s.policy {
            Policy::Cidr { collection: c, location: l }
                if c == collection && location.is_none_or(|x| x == l) =>
            {
                Some(s.key())
            }
            _ => None,
        })
    }

    /// What is wrong with an IP-based record's (collection, location), if anything.
    pub fn cidr_ref_error(&self, collection: &str, location: &str) -> Option<FieldError> {
        let Some((_, c)) = self.collections.get(collection) else {
            return Some(FieldError::new(
                "cidr.collection",
                ErrorCode::NoSuchCidrCollection,
                format!("no CIDR collection {collection:?}; create it first"),
            ));
        };
        (location != "*" && !c.locations.contains_key(location)).then(|| {
            FieldError::new(
                "cidr.location",
                ErrorCode::NoSuchCidrLocation,
                format!("the CIDR collection {collection:?} has no location {location:?}"),
            )
        })
    }

    /// The SOA record set key of a zone.
    pub fn soa_key(apex: &Name) -> RecordKey {
        RecordKey { name: apex.clone(), rtype: RType::SOA, set_id: String::new() }
    }
}

/// A stored record set, read and validated: its zone and the set (None, logged, when the key
/// or value is unreadable or the set invalid).
fn decode_rrset(kv: &KeyValue) -> Option<(Name, RecordSet)> {
    let key = kv.key.as_str();
    let rest = key.strip_prefix(&keys::all_rrsets())?;
    let Some((apex, _)) = parse_rrset_key(rest) else {
        warn!("unreadable record set key {key:?}; ignored");
        return None;
    };
    let spec = decode::<RecordSetSpec>(key, &kv.value)?;
    match spec.validate(&apex) {
        Ok(set) => Some((apex, set)),
        Err(errors) => {
            let errors: Vec<String> = errors.iter().map(ToString::to_string).collect();
            warn!("stored record set {key:?} is invalid ({}); ignored", errors.join("; "));
            None
        }
    }
}

/// A state being built from a range of [`keys::ROOT`] read a part at a time, in key order
/// ([`turnout_store::Store::range_pages`]): each part is decoded and applied while the next
/// one is read.
#[derive(Debug)]
pub struct Loading {
    config: State,
    touched: Touched,
    /// The newest write records seen so far (their keys sort by time): IXFR journals reach
    /// back across a restart.
    history: std::collections::VecDeque<Vec<u8>>,
}

impl Loading {
    /// An empty state for the node whose observed health statuses are kept under `checker`.
    pub fn new(checker: &str) -> Self {
        let config = State { checker: checker.to_owned(), bulk: true, ..State::default() };
        Loading { config, touched: Touched::default(), history: std::collections::VecDeque::new() }
    }

    /// Applies the next part of the range (its keys after every part before).
    pub fn push(&mut self, kvs: Vec<KeyValue>) {
        let config = &mut self.config;
        let mut decoded = decode_rrsets(&kvs).into_iter().peekable();
        let writes = keys::writes();
        for (i, kv) in kvs.into_iter().enumerate() {
            match decoded.next_if(|(at, _)| *at == i) {
                Some((_, Some((apex, set)))) => {
                    config.put_rrset(apex, set, kv.mod_revision, &mut self.touched);
                }
                Some((_, None)) => {}
                None => config.put(&kv, &mut self.touched),
            }
            if is_config(&kv.key) {
                config.config_revision = config.config_revision.max(kv.mod_revision);
            }
            if kv.key.starts_with(&writes) {
                if self.history.len() == journal::MAX_HISTORY_RECORDS {
                    self.history.pop_front();
                }
                self.history.push_back(kv.value);
            }
        }
    }

    /// A loading fed on a blocking thread of its own, so that each part is decoded and applied
    /// while the next is read: send it the parts in key order, drop the sender, then
    /// [`Background::finish`].
    pub fn background(
        checker: &str,
    ) -> (tokio::sync::mpsc::UnboundedSender<Vec<KeyValue>>, Background) {
        let (parts, mut taken) = tokio::sync::mpsc::unbounded_channel::<Vec<KeyValue>>();
        let mut loading = Loading::new(checker);
        let task = tokio::task::spawn_blocking(move || {
            while let Some(part) = taken.blocking_recv() {
                loading.push(part);
            }
            loading
        });
        (parts, Background(task))
    }

    /// The state, as of `revision` (the range's).
    pub fn finish(self, revision: Revision) -> (State, Touched) {
        let Loading { mut config, touched, history } = self;
        config.revision = revision;
        config.placement_revision = revision;
        config.bulk = false;
        // Inserted one by one, a map's nodes end about half full; built from the sorted
        // entries at once, they are full: about a third less memory per record set at rest.
        config.ungather();
        for (apex, sets) in std::mem::take(&mut config.loading) {
            if let Some(zone) = config.records.get_mut(&apex).and_then(Arc::get_mut) {
                zone.sets = sets.into();
            }
        }
        let records = &config.records;
        let sets = |apex: &Name| records.get(apex).map_or(0, |z| z.sets.len());
        config.journals = journal::from_history(history.iter().map(Vec::as_slice), sets);
        config.journals.retain(|apex, _| config.zones.contains_key(apex));
        (config, touched)
    }
}

/// A [`Loading`] on a thread of its own ([`Loading::background`]).
#[derive(Debug)]
pub struct Background(tokio::task::JoinHandle<Loading>);

impl Background {
    /// Once every part is sent and the sender dropped: the state, as of `revision`. Finishing
    /// rebuilds the IXFR journals from the history (about a second at a million records), so
    /// it runs on a blocking thread too.
    pub async fn finish(self, revision: Revision) -> (State, Touched) {
        // A loader that panicked is a bug in validation: fail as loudly as decoding would.
        let loading = self.0.await.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
        tokio::task::spawn_blocking(move || loading.finish(revision))
            .await
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
    }
}

/// [`decode_rrset`] of every record set among `kvs` (in order), on every core: a full load
/// of a million record sets spends most of its time here.
fn decode_rrsets(kvs: &[KeyValue]) -> Vec<(usize, Option<(Name, RecordSet)>)> {
    let prefix = keys::all_rrsets();
    let sets: Vec<(usize, &KeyValue)> =
        kvs.iter().enumerate().filter(|(_, kv)| kv.key.starts_with(&prefix)).collect();
    let threads = std::thread::available_parallelism().map_or(1, usize::from).min(8);
    if threads < 2 || sets.len() < 10_000 {
        return sets.into_iter().map(|(i, kv)| (i, decode_rrset(kv))).collect();
    }
    let per = sets.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let parts: Vec<_> = sets
            .chunks(per)
            .map(|part| {
                scope.spawn(move || {
                    part.iter().map(|(i, kv)| (*i, decode_rrset(kv))).collect::<Vec<_>>()
                })
            })
            .collect();
        // A decoding thread that panicked is a bug in validation: fail the load as loudly.
        parts
            .into_iter()
            .flat_map(|p| p.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

fn decode<T: serde::de::DeserializeOwned>(key: &str, value: &[u8]) -> Option<T> {
    match serde_json::from_slice(value) {
        Ok(v) => Some(v),
        Err(e) => {
            warn!("stored value of {key:?} is unreadable ({e}); ignored");
            None
        }
    }
}

pub(crate) use crate::keys::unescape;

fn status_of(healthy: bool) -> Status {
    if healthy { Status::Healthy } else { Status::Unhealthy }
}

/// `<apex>/<name>/<TYPE>/<set id>` (escaped) -> (apex, key).
pub(crate) fn parse_rrset_key(rest: &str) -> Option<(Name, RecordKey)> {
    let mut parts = rest.split('/');
    let apex = Name::parse_absolute(&unescape(parts.next()?)).ok()?;
    let name = Name::parse_absolute(&unescape(parts.next()?)).ok()?;
    let rtype = RType::from_mnemonic(parts.next()?)?;
    let set_id = unescape(parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    Some((apex, RecordKey { name, rtype, set_id }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_kinds_are_the_key_layouts() {
        for prefix in [
            keys::zones(),
            keys::caller_references(),
            keys::checks(),
            keys::collections(),
            keys::panels(),
            keys::all_controls(),
            keys::tokens(),
        ] {
            assert!(is_object(&format!("{prefix}x")), "{prefix}");
        }
        for prefix in [
            keys::all_rrsets(),
            keys::nodes(),
            keys::health(),
            keys::reports(),
            keys::audit(),
            keys::writes(),
        ] {
            assert!(!is_object(&format!("{prefix}x")), "{prefix}");
        }
    }

    #[test]
    fn rrset_keys_parse_back() {
        let apex = Name::parse_absolute("ex.test.").unwrap();
        let key = RecordKey {
            name: Name::parse_absolute("a/b%c.ex.test.").unwrap(),
            rtype: RType::TXT,
            set_id: "x/y%z".into(),
        };
        let text = keys::rrset(&apex, &key);
        let rest = text.strip_prefix(&keys::all_rrsets()).unwrap();
        assert_eq!(parse_rrset_key(rest), Some((apex, key)));
    }

    /// A stored key as a range returns it.
    fn kv(key: String, value: String, lease: LeaseId) -> KeyValue {
        KeyValue {
            key,
            value: value.into_bytes(),
            create_revision: 1,
            mod_revision: 1,
            version: 1,
            lease,
        }
    }

    /// A node's record, registered under `lease`.
    fn node(name: &str, lease: LeaseId) -> KeyValue {
        let value = format!(
            r#"{{"name":"{name}","region":"r","dns":[],"api":"","controls":"","served_revision":1,"updated_ms":0}}"#
        );
        kv(keys::node(name), value, lease)
    }

    #[test]
    fn each_checker_starts_from_its_own_observed_status_and_counts_current_reports() {
        let observed = |checker: &str, check: &str, status: &str, run: LeaseId| {
            let at = "2026-11-23T07:00:00Z";
            let value = format!(r#"{{"status":"{status}","at":"{at}","run":{run}}}"#);
            kv(keys::health_status(checker, check), value, 0)
        };
        // ns2 is registered under lease 7: its report written under 7 counts, the one from
        // its run under lease 5 does not.
        let kvs = [
            observed("ns1", "web", "unhealthy", 3),
            observed("ns2", "old", "unhealthy", 5),
            observed("ns2", "web", "healthy", 7),
            node("ns2", 7),
        ];
        let (ns1, _) = State::from_range(&kvs, 1, "ns1");
        let (ns2, _) = State::from_range(&kvs, 1, "ns2");
        let (alone, _) = State::from_range(&kvs, 1, keys::LOCAL_CHECKER);
        assert_eq!(ns1.observed.get("web"), Some(&Status::Unhealthy));
        assert_eq!(ns2.observed.get("web"), Some(&Status::Healthy));
        assert_eq!(alone.observed.get("web"), None);
        assert_eq!(*ns1.reports["ns2"], BTreeMap::from([("web".to_owned(), true)]));
        assert!(!ns1.reports.contains_key("ns1"), "its own are observations, not reports");
        assert_eq!(ns1.nodes["ns2"].lease, 7, "the store's lease, not the record's");
        // Observations are not configuration: nothing for the nodes to serve.
        assert_eq!(ns1.config_revision, 0);
        // ns2 restarts under lease 9: nothing of it counts until it reports again.
        let mut ns1 = ns1;
        let mut touched = Touched::default();
        let batch = |revision: Revision, events: Vec<Event>| WatchBatch { revision, events };
        ns1.apply(&batch(2, vec![Event::Put(node("ns2", 9))]), &mut touched);
        assert!(touched.nodes && !ns1.reports.contains_key("ns2"));
        ns1.apply(
            &batch(3, vec![Event::Put(observed("ns2", "web", "unhealthy", 9))]),
            &mut touched,
        );
        assert_eq!(*ns1.reports["ns2"], BTreeMap::from([("web".to_owned(), false)]));
        // Its observation deleted (the check went), or its registration gone: no report.
        let delete = Event::Delete { key: keys::health_status("ns2", "web"), mod_revision: 4 };
        ns1.apply(&batch(4, vec![delete]), &mut touched);
        assert!(ns1.reports.is_empty() && ns1.config_revision == 0);
        ns1.apply(&batch(5, vec![Event::Put(observed("ns2", "web", "healthy", 9))]), &mut touched);
        assert!(ns1.reports.contains_key("ns2"));
        let gone = Event::Delete { key: keys::node("ns2"), mod_revision: 6 };
        ns1.apply(&batch(6, vec![gone]), &mut touched);
        assert!(ns1.reports.is_empty() && ns1.nodes.is_empty());
    }

    #[test]
    fn reports_count_their_newest_complete_generation_of_the_current_run() {
        let part = |checker: &str, generation: u64, seq: u64, json: &str| {
            kv(keys::report_part(checker, generation, seq), json.to_owned(), 0)
        };
        let web = |healthy: bool| BTreeMap::from([("web".to_owned(), healthy)]);
        // ns2 (lease 7): a complete generation 10 (base, then a change), and generation 20
        // whose base is still being written; an old generation of lease 5; an old-layout status.
        let kvs = [
            kv(
                keys::health_status("ns2", "web"),
                r#"{"status":"unhealthy","at":"t","run":7}"#.to_owned(),
                0,
            ),
            node("ns2", 7),
            part("ns1", 4, 4, r#"{"run":3,"base":true,"end":true,"unhealthy":["web"]}"#),
            part("ns2", 2, 2, r#"{"run":5,"base":true,"end":true,"healthy":["old"]}"#),
            part("ns2", 10, 10, r#"{"run":7,"base":true,"healthy":["web","api"]}"#),
            part("ns2", 10, 11, r#"{"run":7,"base":true,"end":true,"healthy":["db"]}"#),
            part("ns2", 10, 12, r#"{"run":7,"unhealthy":["api"],"gone":["db"]}"#),
            part("ns2", 20, 20, r#"{"run":7,"base":true,"unhealthy":["web"]}"#),
        ];
        // Read in parts (as etcd's pages come), the same state.
        let mut loading = Loading::new("ns1");
        for part in kvs.chunks(3) {
            loading.push(part.to_vec());
        }
        let (parts, _) = loading.finish(1);
        let (mut ns1, _) = State::from_range(&kvs, 1, "ns1");
        assert_eq!(
            (parts.reports.clone(), parts.observed.clone()),
            (ns1.reports.clone(), ns1.observed.clone())
        );
        assert_eq!((parts.revision, parts.placement_revision), (1, 1));
        let both = BTreeMap::from([("api".to_owned(), false), ("web".to_owned(), true)]);
        assert_eq!(*ns1.reports["ns2"], both, "a report outranks the old layout");
        assert_eq!(ns1.observed.get("web"), Some(&Status::Unhealthy), "its own: a restart's start");
        assert!(!ns1.reports.contains_key("ns1") && ns1.config_revision == 0);
        // Generation 20's base ends; generation 10 (and lease 5's) are deleted with it.
        let mut touched = Touched::default();
        let batch = |revision: Revision, events: Vec<Event>| WatchBatch { revision, events };
        let delete = |g: u64, seq: u64| Event::Delete {
            key: keys::report_part("ns2", g, seq),
            mod_revision: 2,
        };
        let end = part("ns2", 20, 21, r#"{"run":7,"base":true,"end":true}"#);
        ns1.apply(&batch(2, vec![Event::Put(end), delete(10, 10), delete(10, 11)]), &mut touched);
        assert!(touched.nodes);
        assert_eq!(*ns1.reports["ns2"], web(false));
        ns1.apply(&batch(3, vec![delete(10, 12), delete(2, 2)]), &mut touched);
        assert_eq!(ns1.report_gens["ns2"].keys().copied().collect::<Vec<_>>(), vec![20]);
        assert_eq!(*ns1.reports["ns2"], web(false), "deleting parts changes no report");
        // A change, seen by a state that folds it in place.
        let change = part("ns2", 20, 22, r#"{"run":7,"healthy":["web"]}"#);
        ns1.apply(&batch(4, vec![Event::Put(change)]), &mut touched);
        assert_eq!(*ns1.reports["ns2"], web(true));
        // ns2 restarts under lease 9: nothing counts until its new base ends, then only it.
        ns1.apply(&batch(5, vec![Event::Put(node("ns2", 9))]), &mut touched);
        assert!(!ns1.reports.contains_key("ns2"));
        let fresh = part("ns2", 30, 30, r#"{"run":9,"base":true,"end":true,"healthy":["x"]}"#);
        ns1.apply(&batch(6, vec![Event::Put(fresh)]), &mut touched);
        assert_eq!(*ns1.reports["ns2"], BTreeMap::from([("x".to_owned(), true)]));
        // Its own report, folded into what it observed.
        let mine = part("ns1", 4, 5, r#"{"run":3,"healthy":["web"],"unhealthy":["db"]}"#);
        ns1.apply(&batch(7, vec![Event::Put(mine)]), &mut touched);
        assert_eq!(ns1.observed.get("web"), Some(&Status::Healthy));
        assert_eq!(ns1.observed.get("db"), Some(&Status::Unhealthy));
    }
}
