//! Failover drills (docs/drills.md): configuration like control panels, and runs.
//!
//! A run is claimed in the store first (`keys::active_drill`, written only if absent, so one
//! node in a cluster runs it), then executed by that node's [`run_drills`] task: it records the
//! watched answers, makes the flip (a routing-control update through the safety rules, timed
//! to revert by itself a minute after the drill's end should this node die; or the forced
//! check written disabled and inverted), then watches the guard check every
//! [`TICK`] until the drill's time is up, the guard turns unhealthy or someone aborts, and
//! undoes the flip. The outcome is written where the run was claimed, in one transaction that
//! the write path records in the audit trail. A run this node had flipped when it stopped is
//! undone at its next start and recorded `interrupted`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use turnout_model::drills::{Drill, DrillAction, DrillSpec};
use turnout_model::health::HealthCheckSpec;
use turnout_store::{Op, StoreError};

use crate::node::Control;
use crate::routing_controls::ControlUpdate;
use crate::types::DrillRun;
use crate::write::{Lane, Plan};
use crate::{ControlError, invalid, keys, random_base32};

/// How often a run under way looks at its guard, its answers and its time.
pub const TICK: Duration = Duration::from_millis(100);
/// How long after a drill's end its control reverts by itself, should the node running the
/// drill be gone.
const SAFETY_NET: Duration = Duration::from_secs(60);

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

fn rfc3339_ms(ms: u64) -> String {
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

fn encode<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, ControlError> {
    serde_json::to_vec(value).map_err(|e| StoreError::Corrupt(e.to_string()).into())
}

impl Control {
    /// Every drill, as written, in name order.
    pub fn drills(&self) -> Vec<DrillSpec> {
        self.read().drills.values().map(|(spec, _)| spec.clone()).collect()
    }

    /// One drill, as written.
    pub fn drill(&self, name: &str) -> Result<DrillSpec, ControlError> {
        self.read()
            .drills
            .get(name)
            .map(|(spec, _)| spec.clone())
            .ok_or_else(|| ControlError::NoSuchDrill(name.to_owned()))
    }

    /// Creates or replaces a drill; returns whether it was created. The control (its panel),
    /// the forced check and the guard must exist.
    pub async fn put_drill(&self, spec: &DrillSpec) -> Result<bool, ControlError> {
        let drill = spec.validate().map_err(ControlError::InvalidDrill)?;
        let value = encode(spec)?;
        let written = self
            .write(Lane::Config, |st, reads| {
                reads.object(keys::drill(&drill.name));
                match &drill.action {
                    DrillAction::Control { panel, control, .. } => {
                        reads.object(keys::panel(panel));
                        let known =
                            st.panels.get(panel).is_some_and(|(_, p)| p.controls.contains(control));
                        if !known {
                            return Err(invalid(
                                "control",
                                format!("no routing control {panel}/{control}"),
                            ));
                        }
                    }
                    DrillAction::Check(check) => {
                        reads.object(keys::check(check));
                        if !st.checks.contains_key(check) {
                            return Err(invalid("check", format!("no health check {check:?}")));
                        }
                    }
                }
                if let Some(guard) = &drill.guard {
                    reads.object(keys::check(guard));
                    if !st.checks.contains_key(guard) {
                        return Err(invalid("guard", format!("no health check {guard:?}")));
                    }
                }
                let created = !st.drills.contains_key(&drill.name);
                Ok(Plan::Write {
                    ops: vec![Op::put(keys::drill(&drill.name), value.clone())],
                    value: created,
                })
            })
            .await?;
        Ok(written.value)
    }

    /// Deletes a drill that is not running (its finished runs stay in its history).
    pub async fn delete_drill(&self, name: &str) -> Result<(), ControlError> {
        self.write(Lane::Config, |st, reads| {
            reads.object(keys::drill(name));
            reads.object(keys::active_drill(name));
            if !st.drills.contains_key(name) {
                return Err(ControlError::NoSuchDrill(name.to_owned()));
            }
            if st.active_drills.contains_key(name) {
                return Err(ControlError::DrillRunning(name.to_owned()));
            }
            Ok(Plan::Write { ops: vec![Op::delete(keys::drill(name))], value: () })
        })
        .await?;
        Ok(())
    }

    /// Claims a run of the drill for this node, which starts it within a [`TICK`]: refused
    /// while another run is under way, inside a blocked window, or while the guard is
    /// unhealthy (a drill starts only from a healthy state).
    pub async fn start_drill(
        &self,
        name: &str,
        started_by: &str,
    ) -> Result<DrillRun, ControlError> {
        let node = self.checker().to_owned();
        let id = random_base32(10)?;
        let written = self
            .write(Lane::Config, |st, reads| {
                reads.object(keys::drill(name));
                reads.object(keys::active_drill(name));
                let Some((_, drill)) = st.drills.get(name) else {
                    return Err(ControlError::NoSuchDrill(name.to_owned()));
                };
                if st.active_drills.contains_key(name) {
                    return Err(ControlError::DrillRunning(name.to_owned()));
                }
                let now = now_ms();
                if let Some(w) = drill.blocked_at(now / 1000) {
                    let why = format!("it is inside the blocked window {:?} (UTC)", w.text);
                    return Err(ControlError::DrillBlocked { name: name.to_owned(), why });
                }
                if let Some(guard) = &drill.guard
                    && self.guard_failing(guard)
                {
                    let why = format!("its guard check {guard:?} is unhealthy");
                    return Err(ControlError::DrillBlocked { name: name.to_owned(), why });
                }
                let run = DrillRun {
                    id: id.clone(),
                    drill: name.to_owned(),
                    node: node.clone(),
                    started_by: started_by.to_owned(),
                    started_at: rfc3339_ms(now),
                    started_ms: now,
                    phase: "starting".to_owned(),
                    outcome: "running".to_owned(),
                    guard: drill.guard.clone(),
                    ..DrillRun::default()
                };
                Ok(Plan::Write {
                    ops: vec![Op::put(keys::active_drill(name), encode(&run)?)],
                    value: run,
                })
            })
            .await?;
        Ok(written.value)
    }

    /// Asks the drill's run under way to abort: the node running it undoes the flip within a
    /// [`TICK`].
    pub async fn abort_drill(&self, name: &str, by: &str) -> Result<DrillRun, ControlError> {
        let written = self
            .write(Lane::Config, |st, reads| {
                reads.object(keys::active_drill(name));
                let Some(run) = st.active_drills.get(name) else {
                    return Err(ControlError::DrillNotRunning(name.to_owned()));
                };
                let mut run = run.clone();
                run.abort_requested_by.get_or_insert_with(|| by.to_owned());
                Ok(Plan::Write {
                    ops: vec![Op::put(keys::active_drill(name), encode(&run)?)],
                    value: run,
                })
            })
            .await?;
        Ok(written.value)
    }

    /// A drill's runs, newest first: the one under way, then at most `limit` in all.
    pub async fn drill_runs(
        &self,
        name: &str,
        limit: usize,
    ) -> Result<Vec<DrillRun>, ControlError> {
        let mut out: Vec<DrillRun> =
            self.read().active_drills.get(name).cloned().into_iter().collect();
        if out.is_empty()
            && !self.read().drills.contains_key(name)
            && !self.read().drill_last_start_ms.contains_key(name)
        {
            return Err(ControlError::NoSuchDrill(name.to_owned()));
        }
        let range = self.store().range(&keys::runs_of_drill(name)).await?;
        for kv in range.kvs.iter().rev() {
            if out.len() >= limit {
                break;
            }
            if let Ok(run) = serde_json::from_slice::<DrillRun>(&kv.value) {
                out.push(run);
            }
        }
        out.truncate(limit);
        Ok(out)
    }

    /// The run's outcome: its record moves from the run under way to the drill's history.
    async fn finish_drill(&self, mut run: DrillRun) -> Result<DrillRun, ControlError> {
        run.phase.clear();
        run.ended_at = Some(rfc3339_ms(now_ms()));
        let value = encode(&run)?;
        let key = keys::drill_run(&run.drill, run.started_ms, &run.id);
        let active = keys::active_drill(&run.drill);
        self.write(Lane::Config, |_, _| {
            Ok(Plan::Write {
                ops: vec![Op::delete(active.clone()), Op::put(key.clone(), value.clone())],
                value: (),
            })
        })
        .await?;
        Ok(run)
    }

    /// Starts the scheduled drills that are due at `now_ms` (their last run started `every`
    /// ago or more, or never), unless running or inside a blocked window; returns their names.
    /// Two nodes may both try: the store lets one claim each run.
    pub async fn start_due_drills(&self, now_ms: u64) -> Vec<String> {
        let due: Vec<String> = {
            let st = self.read();
            st.drills
                .values()
                .filter(|(_, d)| {
                    let Some(every) = d.every else { return false };
                    let last = st.drill_last_start_ms.get(&d.name).copied().unwrap_or(0);
                    !st.active_drills.contains_key(&d.name)
                        && now_ms.saturating_sub(last) >= every.as_millis() as u64
                        && d.blocked_at(now_ms / 1000).is_none()
                })
                .map(|(_, d)| d.name.clone())
                .collect()
        };
        let mut started = Vec::new();
        for name in due {
            match self.start_drill(&name, "schedule").await {
                Ok(run) => {
                    tracing::info!("drill {name}: scheduled run {} started", run.id);
                    started.push(name);
                }
                Err(e) => tracing::info!("drill {name}: the scheduled run did not start: {e}"),
            }
        }
        started
    }

    /// Takes over a run under way whose node has left: this node undoes whatever it flipped
    /// and records it `interrupted`. Guarded, so that only one node adopts it.
    async fn adopt_run(&self, run: DrillRun, me: &str) -> Result<(), ControlError> {
        let key = keys::active_drill(&run.drill);
        let adopted = DrillRun {
            node: me.to_owned(),
            // Whatever it did, it is undone: a flip that never happened undoes to no change.
            phase: "flipped".to_owned(),
            adopted_from: Some(run.node.clone()),
            ..run.clone()
        };
        let value = encode(&adopted)?;
        self.write(Lane::Config, |st, reads| {
            reads.object(key.clone());
            if st.active_drills.get(&run.drill).is_none_or(|r| r.id != run.id || r.node != run.node)
            {
                return Ok(Plan::Nothing(()));
            }
            Ok(Plan::Write { ops: vec![Op::put(key.clone(), value.clone())], value: () })
        })
        .await?;
        Ok(())
    }

    /// Writes the run under way as it now stands (its phase, flip, answers).
    /// An abort asked meanwhile is kept: the write is guarded by the stored run, and planned
    /// again on it if an abort landed first.
    async fn update_run(&self, run: &DrillRun) -> Result<(), ControlError> {
        let key = keys::active_drill(&run.drill);
        self.write(Lane::Config, |st, reads| {
            reads.object(key.clone());
            let mut run = run.clone();
            let asked = st.active_drills.get(&run.drill).and_then(|r| r.abort_requested_by.clone());
            if let Some(by) = asked {
                run.abort_requested_by.get_or_insert(by);
            }
            Ok(Plan::Write { ops: vec![Op::put(key.clone(), encode(&run)?)], value: () })
        })
        .await?;
        Ok(())
    }

    /// Whether a drill's guard check is unhealthy: its own status, which an `observe_only`
    /// check keeps too (its slot, which answers read, says healthy).
    fn guard_failing(&self, guard: &str) -> bool {
        self.health().state(guard).is_some_and(|s| s.status == "unhealthy")
    }

    /// The watched answers now, each `NAME TYPE` -> its records sorted (asked as a client of
    /// unknown location with a fixed draw, so that a weighted answer does not look moved).
    fn watched_answers(&self, drill: &Drill) -> BTreeMap<String, Vec<String>> {
        let Some(snapshots) = self.snapshots() else { return BTreeMap::new() };
        let snap = snapshots.load();
        drill
            .watch
            .iter()
            .map(|(name, rtype)| {
                let mut ctx = turnout_dns::Context::new(None, 0x5eed);
                let mut answer = turnout_dns::explain(&snap, name, *rtype, &mut ctx).answer;
                answer.sort();
                (format!("{name} {rtype}"), answer)
            })
            .collect()
    }
}

/// Why a run's flip ended.
enum End {
    /// Its time was up.
    Time,
    /// The guard turned unhealthy.
    Guard(String),
    /// Someone asked.
    Aborted(String),
    /// This node is shutting down (or restarted mid-drill).
    Interrupted(String),
}

/// Starts scheduled drills when they are due, and runs the drill runs this node claimed, until
/// `shutdown`; a run under way when `shutdown` comes is undone and recorded `interrupted`.
pub async fn run_drills(control: Arc<Control>, shutdown: CancellationToken) {
    let mut runs: JoinSet<()> = JoinSet::new();
    // The ids of the runs this node executes now.
    let mut executing: BTreeSet<String> = BTreeSet::new();
    let mut tick = tokio::time::interval(TICK);
    let mut next_schedule = tokio::time::Instant::now();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            _ = tick.tick() => {}
            Some(done) = runs.join_next(), if !runs.is_empty() => {
                if let Err(e) = done {
                    tracing::error!("a drill run failed: {e}");
                }
            }
        }
        let me = control.checker().to_owned();
        let (mine, orphans): (Vec<DrillRun>, Vec<DrillRun>) = {
            let st = control.read();
            let active = st.active_drills.values().cloned();
            let (mine, others): (Vec<DrillRun>, Vec<DrillRun>) = active.partition(|r| r.node == me);
            // A run whose node has left the cluster (its registration expired) is adopted.
            let orphans = others.into_iter().filter(|r| !st.nodes.contains_key(&r.node)).collect();
            (mine, orphans)
        };
        for run in orphans {
            if let Err(e) = control.adopt_run(run, &me).await {
                tracing::debug!("cannot adopt an orphaned drill run: {e}");
            }
        }
        executing.retain(|id| mine.iter().any(|r| r.id == *id));
        for run in mine {
            if !executing.insert(run.id.clone()) {
                continue;
            }
            let (control, shutdown) = (control.clone(), shutdown.clone());
            runs.spawn(async move { execute(&control, run, &shutdown).await });
        }
        if tokio::time::Instant::now() >= next_schedule {
            next_schedule += Duration::from_secs(1);
            control.start_due_drills(now_ms()).await;
        }
    }
    // Every run under way undoes its flip and records itself before the node stops.
    while runs.join_next().await.is_some() {}
}

/// Runs one claimed run to its end and records the outcome; its writes are recorded in the
/// audit trail as made by whoever started it, for the run.
async fn execute(control: &Control, run: DrillRun, shutdown: &CancellationToken) {
    let actor = crate::audit::Actor {
        token: run.started_by.clone(),
        source: None,
        request: format!("drill {} run {}", run.drill, run.id),
    };
    crate::audit::acting_as(actor, execute_as(control, run, shutdown)).await;
}

async fn execute_as(control: &Control, mut run: DrillRun, shutdown: &CancellationToken) {
    let name = run.drill.clone();
    let finished = match run.phase.as_str() {
        "starting" if run.original_check.is_none() => drive(control, &mut run, shutdown).await,
        // Flipped, but no task of this node holds it: the node restarted mid-drill, or the
        // run was adopted from a node that left.
        _ => {
            let why = match &run.adopted_from {
                Some(node) => {
                    format!("the node running the drill, {node}, left the cluster during it")
                }
                None => "the node running the drill restarted during it".to_owned(),
            };
            undo(control, &mut run, End::Interrupted(why)).await
        }
    };
    match control.finish_drill(finished).await {
        Ok(run) => tracing::info!("drill {name}: run {} {}: {}", run.id, run.outcome, run.detail),
        Err(e) => tracing::error!("drill {name}: cannot record the run's outcome: {e}"),
    }
}

/// The run from its start: answers before, the flip, the watch, the undo.
async fn drive(control: &Control, run: &mut DrillRun, shutdown: &CancellationToken) -> DrillRun {
    let Some(drill) = control.read().drills.get(&run.drill).map(|(_, d)| Arc::clone(d)) else {
        run.outcome = "failed".to_owned();
        run.detail = "the drill was deleted before it started".to_owned();
        return run.clone();
    };
    run.answers_before = control.watched_answers(&drill);
    if let Err(why) = flip(control, &drill, run).await {
        return why;
    }
    let flipped = tokio::time::Instant::now();
    run.phase = "flipped".to_owned();
    run.flipped_at = Some(rfc3339_ms(now_ms()));
    if let Err(e) = control.update_run(run).await {
        tracing::warn!("drill {}: cannot record the flip (it goes on): {e}", run.drill);
    }
    let mut tick = tokio::time::interval(TICK);
    let end = loop {
        tokio::select! {
            () = shutdown.cancelled() => break End::Interrupted("the node shut down".to_owned()),
            _ = tick.tick() => {}
        }
        if run.moved_after_ms.is_none() && !drill.watch.is_empty() {
            let now = control.watched_answers(&drill);
            if now.iter().all(|(k, v)| run.answers_before.get(k) != Some(v)) {
                run.moved_after_ms = Some(flipped.elapsed().as_millis() as u64);
                run.answers_during = now;
                // The history shows the move while the drill still holds.
                if let Err(e) = control.update_run(run).await {
                    tracing::warn!("drill {}: cannot record the move: {e}", run.drill);
                }
            }
        }
        if let Some(guard) = &drill.guard
            && control.guard_failing(guard)
        {
            run.guard_failed_at = Some(rfc3339_ms(now_ms()));
            let reason = control
                .health()
                .state(guard)
                .and_then(|s| s.last_failure)
                .map(|f| format!(": {}", f.result.reason))
                .unwrap_or_default();
            break End::Guard(format!("the guard check {guard} turned unhealthy{reason}"));
        }
        if let Some(by) =
            control.read().active_drills.get(&run.drill).and_then(|r| r.abort_requested_by.clone())
        {
            break End::Aborted(format!("aborted by {by}"));
        }
        if flipped.elapsed() >= drill.duration {
            break End::Time;
        }
    };
    if run.moved_after_ms.is_none() {
        run.answers_during = control.watched_answers(&drill);
    }
    undo(control, run, end).await
}

/// The drill's flip: `Err` holds the finished run when it could not be made.
async fn flip(control: &Control, drill: &Drill, run: &mut DrillRun) -> Result<(), DrillRun> {
    let reason = format!("drill {} (run {})", drill.name, run.id);
    match &drill.action {
        DrillAction::Control { panel, control: name, on } => {
            let state = |on: bool| if on { "On" } else { "Off" };
            let was_on = control
                .read()
                .control_states
                .get(&(panel.clone(), name.clone()))
                .is_some_and(|(s, _)| s.on);
            run.flip = format!("{panel}/{name} {} -> {}", state(was_on), state(*on));
            if was_on == *on {
                run.outcome = "refused".to_owned();
                run.detail = format!(
                    "{panel}/{name} is already {}: the drill would move nothing",
                    state(*on)
                );
                return Err(run.clone());
            }
            let update = ControlUpdate {
                states: [(name.clone(), state(*on).to_owned())].into(),
                reason,
                override_rules: Vec::new(),
                duration: Some(format!("{}ms", (drill.duration + SAFETY_NET).as_millis())),
            };
            let token = format!("{} (drill {})", run.started_by, drill.name);
            match control.update_controls(panel, &update, &token).await {
                Ok(_) => Ok(()),
                Err(ControlError::SafetyRules(refusals)) => {
                    run.outcome = "refused".to_owned();
                    let names: Vec<&str> = refusals.iter().map(|r| r.rule.as_str()).collect();
                    run.detail = format!("the safety rules refused the flip: {}", names.join(", "));
                    run.refused_by = refusals;
                    Err(run.clone())
                }
                Err(e) => {
                    run.outcome = "failed".to_owned();
                    run.detail = format!("the flip failed: {e}");
                    Err(run.clone())
                }
            }
        }
        DrillAction::Check(check) => {
            run.flip = format!("check {check} forced unhealthy");
            let original = match control.check(check) {
                Ok(spec) => spec,
                Err(e) => {
                    run.outcome = "failed".to_owned();
                    run.detail = format!("the flip failed: {e}");
                    return Err(run.clone());
                }
            };
            run.original_check = Some(original.clone());
            // Recorded before the check changes, so that a restart can restore it.
            if let Err(e) = control.update_run(run).await {
                run.outcome = "failed".to_owned();
                run.detail = format!("cannot record the check before forcing it: {e}");
                return Err(run.clone());
            }
            match control.put_check(&forced(&original)).await {
                Ok(_) => Ok(()),
                Err(e) => {
                    run.outcome = "failed".to_owned();
                    run.detail = format!("the flip failed: {e}");
                    Err(run.clone())
                }
            }
        }
    }
}

/// A check forced unhealthy: disabled and inverted (docs/health-checks.md#inverted-and-disabled).
fn forced(spec: &HealthCheckSpec) -> HealthCheckSpec {
    HealthCheckSpec { disabled: Some(true), inverted: Some(true), ..spec.clone() }
}

/// Undoes the flip and sets the outcome.
async fn undo(control: &Control, run: &mut DrillRun, end: End) -> DrillRun {
    let Some(drill) = control.read().drills.get(&run.drill).map(|(_, d)| Arc::clone(d)) else {
        run.outcome = "failed".to_owned();
        run.detail = "the drill was deleted during the run; its flip was not undone".to_owned();
        return run.clone();
    };
    let reason = |why: &str| format!("drill {} (run {}) ended: {why}", drill.name, run.id);
    let (outcome, detail) = match &end {
        End::Time if !drill.watch.is_empty() && run.moved_after_ms.is_none() => {
            ("failed", "the watched answers did not move during the drill".to_owned())
        }
        End::Time => (
            "passed",
            match run.moved_after_ms {
                Some(ms) => format!("the answers moved {ms} ms after the flip and the guard held"),
                None => "the flip held its time and the guard held".to_owned(),
            },
        ),
        End::Guard(why) => ("aborted", why.clone()),
        End::Aborted(why) => ("aborted", why.clone()),
        End::Interrupted(why) => ("interrupted", why.clone()),
    };
    let undone: Result<(), String> = match &drill.action {
        DrillAction::Control { panel, control: name, on } => {
            let back = if *on { "Off" } else { "On" };
            let update = ControlUpdate {
                states: [(name.clone(), back.to_owned())].into(),
                reason: reason(outcome),
                override_rules: Vec::new(),
                duration: None,
            };
            let token = format!("{} (drill {})", run.started_by, drill.name);
            control
                .update_controls(panel, &update, &token)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
        DrillAction::Check(check) => match &run.original_check {
            None => Ok(()),
            Some(original) => match control.check(check) {
                Ok(now) if now == forced(original) => {
                    control.put_check(original).await.map(|_| ()).map_err(|e| e.to_string())
                }
                Ok(_) => {
                    Err(format!("the check {check} was changed during the drill; left as it is"))
                }
                Err(e) => Err(e.to_string()),
            },
        },
    };
    run.reverted_at = Some(rfc3339_ms(now_ms()));
    match undone {
        Ok(()) => {
            run.outcome = outcome.to_owned();
            run.detail = detail;
        }
        Err(e) => {
            run.outcome = "failed".to_owned();
            run.detail = format!("{detail}; the flip could not be undone: {e}");
            tracing::error!("drill {}: the flip could not be undone: {e}", drill.name);
        }
    }
    run.clone()
}
