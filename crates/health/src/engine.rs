//! The engine: one task per endpoint check (probe, state machine, slot), and one evaluator for
//! calculated checks; driven by [`HealthEngine::apply`] with the whole set of checks whenever
//! the configuration changes.
//!
//! Scheduling: each check starts after a random delay within its interval (so a thousand
//! checks do not fire together), then probes, and sleeps `interval` from the end of one probe
//! to the start of the next, as Route 53 measures it (from receiving a response to sending the
//! next request). A probe never outlives its timeouts, so a slow endpoint delays only its own
//! check. Every status change is applied to the check's slot at once: the DNS snapshots read
//! the slot, so answers change within microseconds, with no rebuild.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::info;
use turnout_model::health::{
    CheckKind, HealthCheck, HealthSlot, SilentCheckers, Status, TargetPolicy, WATCH_CONFIRM,
    quorum_healthy,
};

use crate::hysteresis::{Hysteresis, final_status};
use crate::probe::{FailureClass, ProbeResult, probe};

/// Probe results kept per check.
const KEEP_RESULTS: usize = 32;
/// Status transitions kept per check.
const KEEP_TRANSITIONS: usize = 64;

/// One probe result and when it came.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observation {
    /// RFC 3339, milliseconds.
    pub at: String,
    /// The result.
    #[serde(flatten)]
    pub result: ProbeResult,
}

/// One change of a check's status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    /// RFC 3339, milliseconds.
    pub at: String,
    /// `healthy` or `unhealthy`, before.
    pub from: String,
    /// After.
    pub to: String,
    /// The probe result (or rule) that caused it.
    pub reason: String,
}

/// What the engine knows about one check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckState {
    /// The status answers use (after disabled and inverted).
    pub status: String,
    /// The status the probes established (before disabled and inverted).
    pub observed: String,
    /// The newest results first.
    pub results: Vec<Observation>,
    /// The last failed result.
    pub last_failure: Option<Observation>,
    /// The newest transitions first.
    pub transitions: Vec<Transition>,
    /// Status changes since the check started here (`transitions` keeps the last few).
    pub transitions_total: u64,
    /// Probes since the check started, by result (`success` or a failure class).
    pub probes: std::collections::BTreeMap<String, u64>,
    /// In a cluster, what each checker (node) observes, this one included; the status is
    /// their quorum (empty on a single node).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checkers: Vec<CheckerView>,
    /// The other checks whose probes this one shares (the same request to the same target):
    /// one probe serves them all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shares_probes_with: Vec<String>,
    /// In a cluster, the checkers a check with `checkers_per_region` is placed on (empty:
    /// every checker probes it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub placed_on: Vec<String>,
}

/// One checker's observation of a check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckerView {
    /// The checker (node) name.
    pub checker: String,
    /// `healthy` or `unhealthy`, as its probes established.
    pub observed: String,
    /// Whether it counts in the quorum (another checker's always does; this node's own once
    /// its probes since it started have established a status, or when it alone decides).
    pub counted: bool,
}

/// The other checkers' reports, for the quorum rule (docs/health-checks.md): a probed check
/// is healthy iff `healthy * 100 > threshold_pct * reporting`, counting this node's own
/// observation and every other live checker's report of that check. Which checkers are live
/// is the caller's to say (in a cluster: those whose leased registration exists), so the
/// engine keeps no clock for it.
///
/// A checker's observation counts only once its probes since it started checking have
/// established it: as many probes as the larger of the check's thresholds (a metric check's
/// evaluations without data do not count). Until then it started from a default (healthy) or
/// from a status stored by an earlier run, either of which may be stale, and a node joining or
/// restarting must not flip a check that the others agree on. This node's own observation
/// obeys the same rule, so every node counts the same; when nothing else counts, it decides
/// alone with whatever it has.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Quorum {
    /// This node's checker name (its own report is its live observation).
    pub me: String,
    /// Every live checker's report (check -> healthy), by checker name; shared, not copied.
    pub reports: std::collections::BTreeMap<String, Report>,
    /// The checks placed on some checkers only (`checkers_per_region`): check -> the checkers
    /// that probe it. This node probes a placed check only if it is among them, and only
    /// their reports count. A check not here is probed by every checker.
    pub placement: Arc<std::collections::BTreeMap<String, Arc<std::collections::BTreeSet<String>>>>,
}

impl Quorum {
    /// Whether this node probes `check`.
    fn probes_here(&self, check: &str) -> bool {
        self.placement.get(check).is_none_or(|on| on.contains(&self.me))
    }

    /// Whether `checker`'s report of `check` counts (not this node's own: that is its live
    /// observation).
    fn counts(&self, checker: &str, check: &str) -> bool {
        checker != self.me && self.placement.get(check).is_none_or(|on| on.contains(checker))
    }
}

/// The checks whose reports differ between `old` and `new` when nothing else does (the same
/// node, placement and checkers); None when something else changed, and every check must be
/// judged again. A checker's unchanged report is the same shared map, skipped at once; a
/// changed one is compared entry by entry, in the maps' order.
fn changed_checks(old: &Quorum, new: &Quorum) -> Option<HashSet<String>> {
    if old.me != new.me
        || old.placement != new.placement
        || !old.reports.keys().eq(new.reports.keys())
    {
        return None;
    }
    let mut changed = HashSet::new();
    for (a, b) in old.reports.values().zip(new.reports.values()) {
        if Arc::ptr_eq(a, b) {
            continue;
        }
        let (mut a, mut b) = (a.iter().peekable(), b.iter().peekable());
        loop {
            match (a.peek(), b.peek()) {
                (None, None) => break,
                (Some((k, _)), None) => {
                    changed.insert((*k).clone());
                    a.next();
                }
                (None, Some((k, _))) => {
                    changed.insert((*k).clone());
                    b.next();
                }
                (Some((ka, va)), Some((kb, vb))) => match ka.cmp(kb) {
                    std::cmp::Ordering::Less => {
                        changed.insert((*ka).clone());
                        a.next();
                    }
                    std::cmp::Ordering::Greater => {
                        changed.insert((*kb).clone());
                        b.next();
                    }
                    std::cmp::Ordering::Equal => {
                        if va != vb {
                            changed.insert((*ka).clone());
                        }
                        a.next();
                        b.next();
                    }
                },
            }
        }
    }
    Some(changed)
}

/// One checker's observed status of each check it probes (check -> healthy).
pub type Report = Arc<std::collections::BTreeMap<String, bool>>;

/// What the quorum made of a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Verdict {
    status: Status,
    healthy: usize,
    reporting: usize,
    /// Whether this node's own observation is among them.
    own_counted: bool,
}

#[derive(Debug, Default)]
struct Record {
    probes: std::collections::BTreeMap<String, u64>,
    observed: Option<Status>,
    /// The check's status (after disabled and inverted); its slot, which answers read, holds
    /// it too unless the check is `observe_only` (then the slot stays healthy).
    status: Option<Status>,
    /// Whether this run's probes have established the observed status (see [`Quorum`]).
    established: bool,
    results: VecDeque<Observation>,
    last_failure: Option<Observation>,
    transitions: VecDeque<Transition>,
    transitions_total: u64,
}

/// Sets a check's status to `fin`: in its record, and in its slot for answers (healthy
/// whatever `fin` is for an `observe_only` check). Returns the check's status before, and
/// whether what answers see changed.
fn publish(
    slot: &HealthSlot,
    record: &Mutex<Record>,
    check: &HealthCheck,
    fin: Status,
) -> (Status, bool) {
    let before = lock(record).status.replace(fin);
    let answered = if check.observe_only { Status::Healthy } else { fin };
    let slot_before = slot.set(answered);
    (before.unwrap_or(slot_before), slot_before != answered)
}

struct Running {
    check: HealthCheck,
    stop: CancellationToken,
    record: Arc<Mutex<Record>>,
    /// Its probe key ([`probe_key`]), for a check that probes (not disabled).
    key: Option<Arc<str>>,
}

/// What a transition hook gets.
#[derive(Debug, Clone)]
pub struct Change<'a> {
    /// The check.
    pub check: &'a str,
    /// The new observed status (before disabled and inverted): what a restart starts from.
    pub observed: Status,
    /// The status answers saw before.
    pub from: Status,
    /// The status answers see now.
    pub to: Status,
    /// Why.
    pub reason: &'a str,
}

/// Called on every transition (to persist the observed status, to send a webhook).
pub type OnTransition = Box<dyn Fn(&Change<'_>) + Send + Sync>;

#[derive(Default)]
struct Inner {
    slots: Mutex<HashMap<String, Arc<HealthSlot>>>,
    running: Mutex<HashMap<String, Running>>,
    /// Woken on every status change (calculated checks recompute).
    changed: Notify,
    stop: CancellationToken,
    on_transition: Mutex<Option<OnTransition>>,
    policy: Mutex<Arc<TargetPolicy>>,
    /// Routing controls' states (`panel/control` -> On), which control checks follow.
    controls: Mutex<HashMap<String, bool>>,
    /// Other checkers' reports (None: this node alone decides).
    quorum: Mutex<Option<Arc<Quorum>>>,
    /// Woken when a probed check's own observed status changes (to report it at once).
    observation_changed: Notify,
    /// Every task the engine started (the calculated-check evaluator, one per probed check),
    /// by task id, with the check it runs: [`HealthEngine::run`] reports one that panics.
    tasks: Mutex<tokio::task::JoinSet<()>>,
    task_names: Mutex<HashMap<tokio::task::Id, String>>,
    /// Woken when a task is added.
    task_added: Notify,
    /// Probe sharing: the newest probe of each probe key ([`probe_key`]), in flight or done,
    /// which every check with that key joins or reuses.
    flights: Mutex<HashMap<Arc<str>, Flight>>,
    /// The probing checks of each probe key (made at each [`HealthEngine::apply`]).
    sharing: Mutex<HashMap<Arc<str>, Vec<String>>>,
    /// Keys the probe schedules' jitter (per engine, so that one key's checks start in step).
    jitter_seed: std::hash::RandomState,
    /// Checkers that went silent (their registration expired): their last report, and when,
    /// for the checks whose `silent_checkers` counts it; forgotten when they come back or
    /// after [`SILENT_MEMORY`].
    silent: Mutex<std::collections::BTreeMap<String, (Report, Instant)>>,
    /// When the probes of the last second started, by target (the rate cap).
    target_starts: Mutex<HashMap<String, VecDeque<Instant>>>,
}

/// How long a silent checker's last report is remembered.
pub const SILENT_MEMORY: Duration = Duration::from_secs(3600);

/// One probe of a probe key: the checks that ask while it runs wait for it; a result younger
/// than a check's interval is that check's too.
type Flight = Arc<tokio::sync::OnceCell<(Instant, ProbeResult)>>;

/// What a probe of `check` depends on: checks with equal keys send the same request to the
/// same target and judge the reply the same way, so one probe serves them all (each applies
/// its own thresholds, inversion and interval to the result). The name, the thresholds, the
/// interval and the status rules are not in it.
pub fn probe_key(check: &HealthCheck) -> String {
    format!(
        "{:?}|{:?}|{:?}|{:?}",
        check.kind, check.target, check.connect_timeout, check.response_timeout
    )
}

/// The health engine. Cheap to clone.
#[derive(Clone, Default)]
pub struct HealthEngine {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for HealthEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HealthEngine").finish_non_exhaustive()
    }
}

fn now_rfc3339() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl HealthEngine {
    /// An engine with no checks. Must run inside a tokio runtime once checks are applied.
    pub fn new() -> Self {
        let engine = HealthEngine::default();
        let calculated = engine.clone();
        engine.spawn("the calculated-check evaluator".to_owned(), async move {
            calculated.evaluate_calculated().await;
        });
        engine
    }

    fn spawn(&self, name: String, task: impl std::future::Future<Output = ()> + Send + 'static) {
        let id = lock(&self.inner.tasks).spawn(task).id();
        lock(&self.inner.task_names).insert(id, name);
        self.inner.task_added.notify_one();
    }

    /// Watches the engine's tasks until `shutdown` (then stops every check): returns an error
    /// naming the task if one panics (a check that silently stopped probing would freeze its
    /// status). Part of the node's supervised task tree.
    pub async fn run(&self, shutdown: CancellationToken) -> Result<(), EngineError> {
        loop {
            let added = self.inner.task_added.notified();
            let joined = std::future::poll_fn(|cx| {
                match lock(&self.inner.tasks).poll_join_next_with_id(cx) {
                    // Nothing running: wait for a task to be added.
                    std::task::Poll::Ready(None) => std::task::Poll::Pending,
                    other => other,
                }
            });
            tokio::select! {
                () = shutdown.cancelled() => {
                    self.shutdown();
                    return Ok(());
                }
                () = added => {}
                joined = joined => {
                    let (id, failure) = match joined {
                        Some(Ok((id, ()))) => (id, None),
                        Some(Err(e)) => (e.id(), e.is_panic().then(|| panic_text(e))),
                        None => continue,
                    };
                    let name = lock(&self.inner.task_names).remove(&id).unwrap_or_default();
                    if let Some(why) = failure {
                        return Err(EngineError::TaskPanicked { task: name, why });
                    }
                }
            }
        }
    }

    /// The slot of a check, created healthy if the check is not known yet (a record may name a
    /// check the engine has not seen: it counts as healthy, as a record without a check does).
    pub fn slot(&self, name: &str) -> Arc<HealthSlot> {
        lock(&self.inner.slots)
            .entry(name.to_owned())
            .or_insert_with(|| Arc::new(HealthSlot::default()))
            .clone()
    }

    /// Sets the networks checks may probe (checks started from now on use it).
    pub fn set_target_policy(&self, policy: TargetPolicy) {
        *lock(&self.inner.policy) = Arc::new(policy);
    }

    /// Resolves at the next change of any check's status. Only a future that waits (or was
    /// [`enable`](tokio::sync::futures::Notified::enable)d) when the change happens is woken.
    pub fn changed(&self) -> tokio::sync::futures::Notified<'_> {
        self.inner.changed.notified()
    }

    /// Sets what is called on every transition (to persist the observed status).
    pub fn on_transition(&self, f: OnTransition) {
        *lock(&self.inner.on_transition) = Some(f);
    }

    /// Runs exactly these checks: starts new ones, restarts changed ones, stops removed ones.
    /// A check that starts takes its observed status from `known` (a persisted one, or the
    /// status a changed check had), else healthy (Route 53's initial status).
    pub fn apply(&self, checks: &[HealthCheck], known: &dyn Fn(&str) -> Option<Status>) {
        let mut running = lock(&self.inner.running);
        let wanted: HashMap<&str, &HealthCheck> =
            checks.iter().map(|c| (c.name.as_str(), c)).collect();
        let mut previous: HashMap<String, Status> = HashMap::new();
        running.retain(|name, r| {
            let keep = wanted.get(name.as_str()).is_some_and(|c| **c == r.check);
            if !keep {
                r.stop.cancel();
                if let Some(observed) = lock(&r.record).observed {
                    previous.insert(name.clone(), observed);
                }
            }
            keep
        });
        for check in checks {
            if running.contains_key(&check.name) {
                continue;
            }
            let slot = self.slot(&check.name);
            let key = (probed(check) && !check.disabled).then(|| Arc::from(probe_key(check)));
            let record = Arc::new(Mutex::new(Record::default()));
            let stop = self.inner.stop.child_token();
            // A new check starts at its initial status, or at what was known of it; a changed
            // one keeps what its probes established.
            let observed = match &check.kind {
                // A control check is what its control is: nothing to remember.
                CheckKind::Control { panel, control } => {
                    control_status(&lock(&self.inner.controls), panel, control)
                }
                _ => previous
                    .get(&check.name)
                    .copied()
                    .or_else(|| known(&check.name))
                    .unwrap_or(Status::Healthy),
            };
            let judged = if probed(check) {
                self.verdict(check, observed, false).map_or(observed, |v| v.status)
            } else {
                observed
            };
            let initial = final_status(judged, check);
            if publish(&slot, &record, check, initial).1 {
                self.inner.changed.notify_waiters();
            }
            lock(&record).observed = Some(observed);
            if probed(check) && !check.disabled {
                let task = EndpointTask {
                    policy: lock(&self.inner.policy).clone(),
                    key: key.clone().unwrap_or_else(|| probe_key(check).into()),
                    target: format!("{:?}", check.target),
                    check: check.clone(),
                    slot,
                    record: record.clone(),
                    engine: self.clone(),
                    observed,
                };
                let stop = stop.clone();
                self.spawn(format!("the probes of the check {}", check.name), async move {
                    tokio::select! {
                        () = stop.cancelled() => {}
                        () = task.run() => {}
                    }
                });
            }
            running.insert(check.name.clone(), Running { check: check.clone(), stop, record, key });
        }
        // Which checks share each probe key; keys and targets no running check has any more
        // are forgotten.
        let mut sharing: HashMap<Arc<str>, Vec<String>> = HashMap::new();
        let mut targets: std::collections::HashSet<String> = std::collections::HashSet::new();
        for r in running.values() {
            if let Some(key) = &r.key {
                sharing.entry(key.clone()).or_default().push(r.check.name.clone());
                targets.insert(format!("{:?}", r.check.target));
            }
        }
        drop(running);
        lock(&self.inner.flights).retain(|key, _| sharing.contains_key(key));
        lock(&self.inner.target_starts).retain(|target, _| targets.contains(target));
        *lock(&self.inner.sharing) = sharing;
        self.inner.changed.notify_waiters();
    }

    /// Sets the routing controls' states (`panel/control` -> On): control checks follow at
    /// once (a control that does not exist is Off).
    pub fn set_controls(&self, states: HashMap<String, bool>) {
        *lock(&self.inner.controls) = states;
        let controlled: Vec<(HealthCheck, Arc<Mutex<Record>>)> = lock(&self.inner.running)
            .values()
            .filter(|r| matches!(r.check.kind, CheckKind::Control { .. }))
            .map(|r| (r.check.clone(), r.record.clone()))
            .collect();
        for (check, record) in controlled {
            let CheckKind::Control { panel, control } = &check.kind else { continue };
            let observed = control_status(&lock(&self.inner.controls), panel, control);
            let fin = final_status(observed, &check);
            lock(&record).observed = Some(observed);
            let (before, _) = publish(&self.slot(&check.name), &record, &check, fin);
            if before != fin {
                let state = if observed == Status::Healthy { "On" } else { "Off" };
                let reason = format!("routing control {panel}/{control} is {state}");
                self.transition(&record, &check.name, before, fin, &reason);
            }
        }
    }

    /// What the engine knows about a check.
    pub fn state(&self, name: &str) -> Option<CheckState> {
        let running = lock(&self.inner.running);
        let r = running.get(name)?;
        let record = lock(&r.record);
        let status = record.status.unwrap_or_else(|| self.slot(name).get());
        let observed = record.observed.unwrap_or(Status::Healthy);
        let checkers = if probed(&r.check) {
            self.checker_views(&r.check, observed, record.established)
        } else {
            Vec::new()
        };
        let placed_on = lock(&self.inner.quorum)
            .as_ref()
            .and_then(|q| q.placement.get(name).map(|on| on.iter().cloned().collect()))
            .unwrap_or_default();
        let mut shares_probes_with: Vec<String> = r
            .key
            .as_ref()
            .and_then(|key| lock(&self.inner.sharing).get(key).cloned())
            .unwrap_or_default();
        shares_probes_with.retain(|n| n != name);
        shares_probes_with.sort();
        Some(CheckState {
            status: status.to_string(),
            observed: observed.to_string(),
            results: record.results.iter().rev().cloned().collect(),
            last_failure: record.last_failure.clone(),
            transitions: record.transitions.iter().rev().cloned().collect(),
            transitions_total: record.transitions_total,
            probes: record.probes.clone(),
            checkers,
            shares_probes_with,
            placed_on,
        })
    }

    /// Sets the other checkers' reports and judges the probed checks again: those whose
    /// reports changed when nothing but reports did (the same checkers, placement and silent
    /// checkers), every one otherwise.
    pub fn set_quorum(&self, quorum: Option<Quorum>) {
        let only;
        {
            let mut q = lock(&self.inner.quorum);
            if q.as_deref() == quorum.as_ref() {
                return;
            }
            let mut silent = lock(&self.inner.silent);
            only = match (q.as_deref(), &quorum) {
                (Some(old), Some(new)) if silent.is_empty() => changed_checks(old, new),
                _ => None,
            };
            match (q.as_deref(), &quorum) {
                (_, None) => silent.clear(),
                (old, Some(new)) => {
                    for (checker, report) in old.iter().flat_map(|o| &o.reports) {
                        if *checker != new.me && !new.reports.contains_key(checker) {
                            tracing::warn!(
                                "checker {checker} went silent (its registration expired)"
                            );
                            silent.insert(checker.clone(), (report.clone(), Instant::now()));
                        }
                    }
                    silent.retain(|c, (_, at)| {
                        !new.reports.contains_key(c) && at.elapsed() < SILENT_MEMORY
                    });
                }
            }
            *q = quorum.map(Arc::new);
        }
        self.judge_again(only.as_ref());
    }

    /// The checkers that went silent and are remembered, by name, with how long ago.
    pub fn silent_checkers(&self) -> Vec<(String, Duration)> {
        lock(&self.inner.silent)
            .iter()
            .map(|(c, (_, at))| (c.clone(), at.elapsed()))
            .filter(|(_, ago)| *ago < SILENT_MEMORY)
            .collect()
    }

    /// What the silent checkers' last reports add to `check`'s tally (healthy, reporting),
    /// as its `silent_checkers` says, and each one's view.
    fn silent_tally(&self, q: &Quorum, check: &HealthCheck) -> ((usize, usize), Vec<CheckerView>) {
        let mut out = ((0, 0), Vec::new());
        if check.silent_checkers == SilentCheckers::Ignore {
            return out;
        }
        for (checker, (report, at)) in lock(&self.inner.silent).iter() {
            let Some(&last) = report.get(&check.name) else { continue };
            if !q.counts(checker, &check.name) || at.elapsed() >= SILENT_MEMORY {
                continue;
            }
            let healthy = match check.silent_checkers {
                SilentCheckers::Healthy => true,
                SilentCheckers::Unhealthy => false,
                _ => last,
            };
            out.0.0 += usize::from(healthy);
            out.0.1 += 1;
            out.1.push(CheckerView {
                checker: format!("{checker} (silent)"),
                observed: if healthy { Status::Healthy } else { Status::Unhealthy }.to_string(),
                counted: true,
            });
        }
        out
    }

    /// This node's own observed status of every probed, enabled check its probes have
    /// established (what it reports to the other checkers).
    pub fn observations(&self) -> std::collections::BTreeMap<String, bool> {
        lock(&self.inner.running)
            .values()
            .filter(|r| probed(&r.check) && !r.check.disabled)
            .filter_map(|r| {
                let record = lock(&r.record);
                let observed = record.observed.unwrap_or(Status::Healthy);
                record.established.then(|| (r.check.name.clone(), observed == Status::Healthy))
            })
            .collect()
    }

    /// Waits until a probed check's own observed status changes or is established.
    pub async fn observation_changed(&self) {
        self.inner.observation_changed.notified().await;
    }

    /// Whether this node probes `check` now (a placed check may be on other checkers).
    pub fn probes_here(&self, check: &str) -> bool {
        lock(&self.inner.quorum).as_ref().is_none_or(|q| q.probes_here(check))
    }

    /// The quorum's status of `check` given this node's own observation (and whether its
    /// probes have established it); None when no checker's observation counts.
    fn verdict(&self, check: &HealthCheck, own: Status, established: bool) -> Option<Verdict> {
        let quorum = lock(&self.inner.quorum).clone();
        let mut others = (0, 0);
        if let Some(q) = &quorum {
            for (checker, report) in &q.reports {
                if let Some(h) = report.get(&check.name)
                    && q.counts(checker, &check.name)
                {
                    others.0 += usize::from(*h);
                    others.1 += 1;
                }
            }
            let ((h, n), _) = self.silent_tally(q, check);
            others = (others.0 + h, others.1 + n);
        }
        let here = quorum.as_ref().is_none_or(|q| q.probes_here(&check.name));
        Verdict::of(check, own, own_counts(here, established, others), others)
    }

    fn checker_views(
        &self,
        check: &HealthCheck,
        own: Status,
        established: bool,
    ) -> Vec<CheckerView> {
        let name = check.name.as_str();
        let q = lock(&self.inner.quorum).clone();
        let Some(q) = q.as_ref() else { return Vec::new() };
        let others =
            q.reports.iter().filter(|(c, r)| r.contains_key(name) && q.counts(c, name)).count();
        let mut views = Vec::new();
        if q.probes_here(name) {
            views.push(CheckerView {
                checker: q.me.clone(),
                observed: own.to_string(),
                counted: established || others == 0,
            });
        }
        for (checker, report) in &q.reports {
            let Some(h) = report.get(name) else { continue };
            if !q.counts(checker, name) {
                continue;
            }
            views.push(CheckerView {
                checker: checker.clone(),
                observed: if *h { Status::Healthy } else { Status::Unhealthy }.to_string(),
                counted: true,
            });
        }
        views.extend(self.silent_tally(q, check).1);
        views
    }

    /// Applies the quorum to the probed checks named in `only`, or to every one (reports came,
    /// changed or went).
    fn judge_again(&self, only: Option<&HashSet<String>>) {
        // Every report counted once (not once per check): check -> (healthy, reporting).
        let mut tally: HashMap<&str, (usize, usize)> = HashMap::new();
        // The reports are shared, not copied: a judgement holds no lock while it runs.
        let quorum = lock(&self.inner.quorum).clone();
        if let Some(q) = &quorum {
            for (checker, report) in &q.reports {
                // A few checks: each checker's report asked for them; else every entry.
                let entries: Box<dyn Iterator<Item = (&String, &bool)>> = match only {
                    Some(names) => Box::new(names.iter().filter_map(|n| report.get_key_value(n))),
                    None => Box::new(report.iter()),
                };
                for (name, h) in entries {
                    if q.counts(checker, name) {
                        let t = tally.entry(name.as_str()).or_default();
                        t.0 += usize::from(*h);
                        t.1 += 1;
                    }
                }
            }
        }
        let mut changed = Vec::new();
        {
            let running = lock(&self.inner.running);
            let slots = lock(&self.inner.slots);
            let judged: Vec<&Running> = match only {
                Some(names) => names.iter().filter_map(|n| running.get(n)).collect(),
                None => running.values().collect(),
            };
            for r in judged.into_iter().filter(|r| probed(&r.check) && !r.check.disabled) {
                let Some(slot) = slots.get(&r.check.name) else { continue };
                let (own, established) = {
                    let record = lock(&r.record);
                    (record.observed.unwrap_or(Status::Healthy), record.established)
                };
                let mut others = tally.get(r.check.name.as_str()).copied().unwrap_or_default();
                if let Some(q) = &quorum {
                    let ((h, n), _) = self.silent_tally(q, &r.check);
                    others = (others.0 + h, others.1 + n);
                }
                let here = quorum.as_ref().is_none_or(|q| q.probes_here(&r.check.name));
                let counts = own_counts(here, established, others);
                // Nobody's observation counts (a placed check between its checkers): as is.
                let Some(verdict) = Verdict::of(&r.check, own, counts, others) else { continue };
                let fin = final_status(verdict.status, &r.check);
                let (before, _) = publish(slot, &r.record, &r.check, fin);
                if before != fin {
                    changed.push((r.record.clone(), r.check.name.clone(), before, fin, verdict));
                }
            }
        }
        for (record, name, before, fin, verdict) in changed {
            self.transition(&record, &name, before, fin, &verdict.reason());
        }
    }

    /// Stops every check.
    pub fn shutdown(&self) {
        self.inner.stop.cancel();
    }

    fn transition(
        &self,
        record: &Mutex<Record>,
        name: &str,
        from: Status,
        to: Status,
        reason: &str,
    ) {
        info!("health check {name}: {from} -> {to} ({reason})");
        let observed = lock(record).observed;
        if let (Some(observed), Some(f)) = (observed, lock(&self.inner.on_transition).as_ref()) {
            f(&Change { check: name, observed, from, to, reason });
        }
        let mut r = lock(record);
        r.transitions.push_back(Transition {
            at: now_rfc3339(),
            from: from.to_string(),
            to: to.to_string(),
            reason: reason.to_owned(),
        });
        r.transitions_total += 1;
        while r.transitions.len() > KEEP_TRANSITIONS {
            r.transitions.pop_front();
        }
        drop(r);
        self.inner.changed.notify_waiters();
    }

    /// Recomputes calculated checks whenever any status changes (and once a second).
    async fn evaluate_calculated(&self) {
        loop {
            let woken = self.inner.changed.notified();
            let calculated: Vec<(HealthCheck, Arc<Mutex<Record>>)> = lock(&self.inner.running)
                .values()
                .filter(|r| matches!(r.check.kind, CheckKind::Calculated { .. }))
                .map(|r| (r.check.clone(), r.record.clone()))
                .collect();
            for (check, record) in calculated {
                let CheckKind::Calculated { children, threshold } = &check.kind else { continue };
                // A disabled child's slot is healthy (unhealthy if also inverted).
                let healthy = children.iter().filter(|c| self.slot(c).healthy()).count();
                let observed = if healthy >= usize::from(*threshold) {
                    Status::Healthy
                } else {
                    Status::Unhealthy
                };
                let fin = final_status(observed, &check);
                lock(&record).observed = Some(observed);
                let (before, _) = publish(&self.slot(&check.name), &record, &check, fin);
                if before != fin {
                    let reason = format!(
                        "{healthy} of {} children healthy, threshold {threshold}",
                        children.len()
                    );
                    self.transition(&record, &check.name, before, fin, &reason);
                }
            }
            tokio::select! {
                () = self.inner.stop.cancelled() => return,
                () = woken => {}
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }
}

/// Why the engine stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// One of its tasks panicked.
    #[error("{task} panicked: {why}")]
    TaskPanicked {
        /// Which task.
        task: String,
        /// The panic's message.
        why: String,
    },
}

/// The message of a panicked task.
pub fn panic_text(e: tokio::task::JoinError) -> String {
    match e.try_into_panic() {
        Ok(payload) => match payload.downcast::<String>() {
            Ok(s) => *s,
            Err(payload) => payload
                .downcast::<&str>()
                .map_or_else(|_| "(no message)".to_owned(), |s| (*s).to_owned()),
        },
        Err(e) => e.to_string(),
    }
}

/// Whether this node's own observation counts: it must probe the check here, and its probes
/// must have established the observation, unless no other checker's counts.
fn own_counts(probes_here: bool, established: bool, others: (usize, usize)) -> bool {
    probes_here && (established || others.1 == 0)
}

impl Verdict {
    /// The quorum of this node's observation (if it counts) and `others` (healthy,
    /// reporting); None when no observation counts at all.
    fn of(
        check: &HealthCheck,
        own: Status,
        own_counted: bool,
        others: (usize, usize),
    ) -> Option<Verdict> {
        let healthy = usize::from(own_counted && own == Status::Healthy) + others.0;
        let reporting = usize::from(own_counted) + others.1;
        if reporting == 0 {
            return None;
        }
        let ok = quorum_healthy(healthy, reporting, check.threshold_pct);
        let status = if ok { Status::Healthy } else { Status::Unhealthy };
        Some(Verdict { status, healthy, reporting, own_counted })
    }

    fn reason(&self) -> String {
        format!("{} of {} checkers report healthy", self.healthy, self.reporting)
    }
}

/// Whether the engine probes the check (its status is then a quorum of checkers).
fn probed(check: &HealthCheck) -> bool {
    !matches!(check.kind, CheckKind::Calculated { .. } | CheckKind::Control { .. })
}

/// A control check's observed status: healthy iff its control is On.
fn control_status(controls: &HashMap<String, bool>, panel: &str, control: &str) -> Status {
    if controls.get(&format!("{panel}/{control}")).copied().unwrap_or(false) {
        Status::Healthy
    } else {
        Status::Unhealthy
    }
}

struct EndpointTask {
    policy: Arc<TargetPolicy>,
    /// Its probe key ([`probe_key`]).
    key: Arc<str>,
    /// Its target, as the rate cap counts probes.
    target: String,
    check: HealthCheck,
    slot: Arc<HealthSlot>,
    record: Arc<Mutex<Record>>,
    engine: HealthEngine,
    observed: Status,
}

impl EndpointTask {
    /// Keeps a probe's result: counted by class, the last failure, the last
    /// [`KEEP_RESULTS`]; and, for an observation of the target, the status it leaves.
    fn record_result(&self, observation: Observation, observed: Option<Status>) {
        let mut r = lock(&self.record);
        if observed.is_some() {
            r.observed = observed;
        }
        let class = match observation.result.class {
            None => "success",
            Some(class) => class.as_str(),
        };
        *r.probes.entry(class.to_owned()).or_default() += 1;
        if !observation.result.success {
            r.last_failure = Some(observation.clone());
        }
        r.results.push_back(observation);
        while r.results.len() > KEEP_RESULTS {
            r.results.pop_front();
        }
    }

    /// A probe of this check's target: the one in flight for its probe key, if any, or one
    /// done less than this check's interval ago (unless `fresh`: a watch event asks what the
    /// target says now), or a new one that others may join.
    async fn shared_probe(&self, fresh: bool) -> ProbeResult {
        let flight = {
            let mut flights = lock(&self.engine.inner.flights);
            let flight = flights.entry(self.key.clone()).or_default();
            if flight.get().is_some_and(|(at, _)| fresh || at.elapsed() >= self.check.interval) {
                *flight = Flight::default();
            }
            flight.clone()
        };
        let (_, result) = flight
            .get_or_init(|| async {
                self.rate_cap().await;
                (Instant::now(), probe(&self.check, &self.policy).await)
            })
            .await;
        result.clone()
    }

    /// Waits until a probe of this check's target fits under the per-target rate cap
    /// (`health.max_probes_per_target` a second, whatever checks ask), and counts it.
    async fn rate_cap(&self) {
        let cap = self.policy.probe_rate_cap() as usize;
        loop {
            let wait = {
                let mut starts = lock(&self.engine.inner.target_starts);
                let recent = starts.entry(self.target.clone()).or_default();
                let now = Instant::now();
                while recent
                    .front()
                    .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
                {
                    recent.pop_front();
                }
                if recent.len() < cap {
                    recent.push_back(now);
                    return;
                }
                recent
                    .front()
                    .map_or(Duration::ZERO, |t| Duration::from_secs(1) - now.duration_since(*t))
            };
            tokio::time::sleep(wait).await;
        }
    }

    async fn run(self) {
        let interval = self.check.interval;
        // Checks that share a probe key start in step (the jitter is the key's), so that
        // their probes coincide and one serves them all.
        let jitter = self.engine.inner.jitter_seed.hash_one(&self.key)
            % (interval.as_millis().max(1) as u64);
        tokio::time::sleep(Duration::from_millis(jitter)).await;
        let mut machine = Hysteresis::new(&self.check).with_status(self.observed);
        // Probes needed before this run's observation counts (see [`Quorum`]).
        let needed = u64::from(self.check.failure_threshold.max(self.check.recovery_threshold));
        let mut observed_probes: u64 = 0;
        // Whether the last probe failed for a reason of this node's own (logged once a run).
        let mut local_fault = false;
        // Watch mode: the held connection, and whether the next probe answers a watch event.
        let mut watch = self.check.watch.then(Watch::default);
        let mut fresh = false;
        loop {
            if !self.engine.probes_here(&self.check.name) {
                // Placed on other checkers: no probes here. This run's observation stops
                // counting, and is established anew if the check comes back.
                watch = self.check.watch.then(Watch::default);
                if observed_probes > 0 {
                    observed_probes = 0;
                    lock(&self.record).established = false;
                    self.engine.inner.observation_changed.notify_one();
                }
                tokio::time::sleep(interval).await;
                continue;
            }
            let result = self.shared_probe(fresh).await;
            if result.class.is_some_and(FailureClass::is_local) {
                // A fault of this checker (out of descriptors, say), not an observation of the
                // target: counted and kept in the results, but no status changes.
                if !local_fault {
                    tracing::error!(
                        "health check {}: this node cannot probe ({}); its status stays as it \
                         is until it can",
                        self.check.name,
                        result.reason
                    );
                    local_fault = true;
                }
                self.record_result(Observation { at: now_rfc3339(), result }, None);
                tokio::time::sleep(interval).await;
                continue;
            }
            if local_fault {
                tracing::info!("health check {}: this node can probe again", self.check.name);
                local_fault = false;
            }
            // A metric check without a value keeps its last known status, if so configured.
            let changed = match &self.check.kind {
                CheckKind::Metric(m) if crate::probe::metric::keeps_status(m, &result) => None,
                _ => {
                    observed_probes += 1;
                    machine.observe(result.success, Instant::now())
                }
            };
            let established = observed_probes >= needed;
            let newly_established = established && !lock(&self.record).established;
            if newly_established {
                lock(&self.record).established = true;
            }
            // (None only if the check moved elsewhere meanwhile: its slot stays as it is.)
            let verdict = self.engine.verdict(&self.check, machine.status(), established);
            let fin = verdict.map(|v| final_status(v.status, &self.check));
            let before = fin.map(|fin| publish(&self.slot, &self.record, &self.check, fin).0);
            if changed.is_some() || newly_established {
                self.engine.inner.observation_changed.notify_one();
            }
            let failed = !result.success;
            let observation = Observation { at: now_rfc3339(), result };
            self.record_result(observation.clone(), Some(machine.status()));
            if let (Some(verdict), Some(before), Some(fin)) = (verdict, before, fin)
                && (changed.is_some() || newly_established)
                && before != fin
            {
                let mut reason = observation.result.reason.clone();
                if verdict.reporting > 1 || !verdict.own_counted {
                    reason = format!("{reason}; {}", verdict.reason());
                }
                self.engine.transition(&self.record, &self.check.name, before, fin, &reason);
            }
            // A watch event whose probe failed is confirmed at once, probe after probe, until
            // the failure threshold decides or a probe succeeds.
            let confirming = fresh && failed && machine.status() == Status::Healthy;
            let pause = if confirming { interval.min(WATCH_CONFIRM) } else { interval };
            fresh = match watch.as_mut() {
                Some(_) if confirming => {
                    tokio::time::sleep(pause).await;
                    true
                }
                Some(w) => tokio::select! {
                    () = tokio::time::sleep(pause) => false,
                    () = w.ended(&self.check, &self.policy) => true,
                },
                None => {
                    tokio::time::sleep(pause).await;
                    false
                }
            };
        }
    }
}

/// Watch mode (docs/health-checks.md#watch-mode): a connection to the target held open between
/// probes. Its end (the target closed it, reset it, or stopped acknowledging keepalives) wakes
/// the check for a probe at once, which counts as any probe does.
#[derive(Default)]
struct Watch {
    stream: Option<tokio::net::TcpStream>,
}

impl Watch {
    /// Resolves when the held connection ends. While none can be made (the target refuses or
    /// is unreachable) it never resolves: the regular probes watch such a target.
    async fn ended(&mut self, check: &HealthCheck, policy: &TargetPolicy) {
        use tokio::io::AsyncReadExt;
        if self.stream.is_none() {
            self.stream = crate::probe::watch_connection(check, policy).await;
        }
        let Some(stream) = self.stream.as_mut() else {
            return std::future::pending().await;
        };
        let mut buf = [0u8; 512];
        loop {
            match stream.read(&mut buf).await {
                // Bytes the target sends unasked (a banner) do not end it.
                Ok(n) if n > 0 => {}
                _ => break,
            }
        }
        self.stream = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(entries: &[(&str, bool)]) -> Report {
        Arc::new(entries.iter().map(|(c, h)| ((*c).to_owned(), *h)).collect())
    }

    fn quorum(reports: &[(&str, &Report)]) -> Quorum {
        Quorum {
            me: "me".into(),
            reports: reports.iter().map(|(n, r)| ((*n).to_owned(), Arc::clone(r))).collect(),
            ..Quorum::default()
        }
    }

    #[test]
    fn only_the_checks_whose_reports_changed_are_judged_again() {
        let a = report(&[("c1", true), ("c2", true), ("c4", false)]);
        let b = report(&[("c1", true), ("c2", false), ("c3", true)]);
        let same = report(&[("c9", true)]);
        let old = quorum(&[("n1", &a), ("n2", &same)]);
        // n1's report: c2 flipped, c3 new, c4 gone; n2's is the same map.
        let new = quorum(&[("n1", &b), ("n2", &same)]);
        let changed = changed_checks(&old, &new).expect("only reports changed");
        let mut names: Vec<_> = changed.into_iter().collect();
        names.sort();
        assert_eq!(names, ["c2", "c3", "c4"]);
        // A checker joining, or another placement: everything is judged again.
        let joined = quorum(&[("n1", &a), ("n2", &same), ("n3", &same)]);
        assert!(changed_checks(&old, &joined).is_none());
        let placed = Quorum {
            placement: Arc::new([("c1".to_owned(), Arc::new(["n1".to_owned()].into()))].into()),
            ..old.clone()
        };
        assert!(changed_checks(&old, &placed).is_none());
    }
}
