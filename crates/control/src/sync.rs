//! The sync task: store -> watch -> compile -> publish.
//!
//! Two loops share a "dirty" set:
//! - the **follower** loads the whole configuration with one range, then follows the store's
//!   watch from the next revision, applying each batch of revisions to the in-memory
//!   [`State`] at once (so API reads and validation see a write as soon as it is committed) and
//!   marking the zones it touched dirty;
//! - the **builder** takes whatever is dirty, recompiles those zones, builds a new snapshot off
//!   to the side, swaps it in with one atomic store, then advances the served revision (changes
//!   at or below it are INSYNC). Bursts of changes coalesce into one build.
//!
//! If the store fails, the last snapshot keeps serving; the follower retries with backoff and
//! re-reads everything when the store is back.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use turnout_dns::dnssec::ZoneSigner;

use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};
use turnout_dns::{SnapshotHandle, ZonePart, ZoneParts};
use turnout_model::{Name, Zone, ZoneRecords};
use turnout_store::{Replica, Revision, StoreError, WatchBatch};

use crate::state::{State, Touched};
use crate::{Control, keys, pieces, replica};

/// Zones from zone files, served alongside the store's; replaced on reload.
pub type StaticZones = watch::Receiver<Arc<Vec<Zone>>>;

/// Settings of the sync task.
#[derive(Debug)]
pub struct SyncOptions {
    /// Zones from zone files (the binary sends new ones on SIGHUP).
    pub static_zones: StaticZones,
    /// Called after a replaced snapshot is freed (the binary returns memory to the OS).
    pub on_retired: Option<fn()>,
    /// Where clients are, for location-based policies; given to every snapshot.
    pub locator: Option<Arc<turnout_dns::locate::Locator>>,
    /// The directory to keep a local replica of the store in (for a remote store, see
    /// [`crate::replica`]): kept current from the watch, read at start to resume from its
    /// revision, and served when the store cannot be reached, so that a node restarted while
    /// etcd is down answers from its last known configuration.
    pub replica_dir: Option<std::path::PathBuf>,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            static_zones: watch::channel(Arc::new(Vec::new())).1,
            on_retired: None,
            locator: None,
            replica_dir: None,
        }
    }
}

const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

#[derive(Debug, Default)]
struct Dirty {
    zones: BTreeSet<Name>,
    /// Of `zones`, those to compile again whole (see [`Touched::whole`]).
    whole: BTreeSet<Name>,
    /// The owner names written in each zone (see [`Touched::names`]).
    names: BTreeMap<Name, BTreeSet<Name>>,
    /// Everything must be recompiled (first load, re-read after a store failure).
    all: bool,
    revision: Option<Revision>,
    /// When the first of these changes reached this node.
    since: Option<Instant>,
}

#[derive(Debug, Default)]
struct Shared {
    dirty: Mutex<Dirty>,
    wake: Notify,
}

impl Shared {
    fn mark(&self, touched: Touched, all: bool, revision: Revision) {
        {
            let mut d = self.dirty.lock().unwrap_or_else(PoisonError::into_inner);
            d.zones.extend(touched.zones);
            d.whole.extend(touched.whole);
            for (apex, names) in touched.names {
                d.names.entry(apex).or_default().extend(names);
            }
            d.all |= all;
            d.revision = Some(d.revision.map_or(revision, |r| r.max(revision)));
            d.since.get_or_insert_with(Instant::now);
        }
        self.wake.notify_one();
    }

    fn take(&self) -> Dirty {
        std::mem::take(&mut *self.dirty.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// A task of the sync stopped on its own: the node must not go on serving a frozen state.
#[derive(Debug, thiserror::Error)]
#[error("{task} {how}")]
pub struct SyncError {
    /// Which task.
    pub task: &'static str,
    /// How it ended (a panic's message).
    pub how: String,
}

impl SyncError {
    fn ended(task: &'static str, joined: Result<(), tokio::task::JoinError>) -> Self {
        let how = match joined {
            Ok(()) => "ended unexpectedly".to_owned(),
            Err(e) if e.is_panic() => format!("panicked: {}", turnout_health::panic_text(e)),
            Err(e) => format!("failed: {e}"),
        };
        SyncError { task, how }
    }
}

/// Runs until `shutdown`; never gives up on the store. Fails only if one of its tasks (the
/// snapshot builder, the local-copy writer) stops on its own.
pub async fn run_sync(
    control: Arc<Control>,
    handle: SnapshotHandle,
    options: SyncOptions,
    shutdown: CancellationToken,
) -> Result<(), SyncError> {
    control.attach_snapshots(handle.clone());
    let shared = Arc::new(Shared::default());
    let builder = Builder {
        control: control.clone(),
        handle,
        static_zones: options.static_zones,
        on_retired: options.on_retired,
        locator: options.locator,
        compiled: BTreeMap::new(),
        stale: BTreeSet::new(),
        static_parts: Vec::new(),
        shared: shared.clone(),
    };
    // The builder is its own task: a long build blocks its thread (block_in_place), never the
    // follower, so committed writes keep reaching the in-memory state while a snapshot builds.
    let mut builder = tokio::spawn(builder.run());
    let replica = match options.replica_dir.clone() {
        Some(dir) => replica::open(dir).await,
        None => None,
    };
    let (news, heard) = tokio::sync::mpsc::unbounded_channel();
    let mut saver = replica.clone().map(|r| tokio::spawn(replica::keep(control.clone(), r, heard)));
    let follower = Follower {
        control,
        shared,
        news: saver.is_some().then_some(news),
        resumable: replica.is_some(),
        replica,
        replica_dir: options.replica_dir,
    };
    let saver_ended = async {
        match saver.as_mut() {
            Some(task) => task.await,
            None => std::future::pending().await,
        }
    };
    let outcome = tokio::select! {
        () = shutdown.cancelled() => Ok(()),
        () = follower.run() => Ok(()),
        joined = &mut builder => Err(SyncError::ended("the snapshot builder", joined)),
        joined = saver_ended => Err(SyncError::ended("the local-copy writer", joined)),
    };
    builder.abort();
    // The follower is gone, and its sender with it: the replica's writer makes its last
    // writes durable and ends (bounded: a stuck disk does not hold the stop).
    if let Some(mut saver) = saver
        && !saver.is_finished()
        && tokio::time::timeout(REPLICA_FLUSH_AT_STOP, &mut saver).await.is_err()
    {
        saver.abort();
    }
    outcome
}

/// How long a stop waits for the replica's last writes to become durable.
const REPLICA_FLUSH_AT_STOP: Duration = Duration::from_secs(5);

/// Makes `config` the node's state and hands its checks and controls to the health engine.
fn install(control: &Control, config: State) {
    let checks: Vec<_> = config.checks.values().map(|(_, c)| c.clone()).collect();
    let observed = config.observed.clone();
    let controls = config.control_map();
    *control.state_mut() = config;
    control.health().set_controls(controls);
    control.health().apply(&checks, &|name| observed.get(name).copied());
}

/// The follower: loads the configuration, then follows the store's watch.
struct Follower {
    control: Arc<Control>,
    shared: Arc<Shared>,
    /// To the replica's writer: what was applied.
    news: Option<tokio::sync::mpsc::UnboundedSender<replica::News>>,
    replica: Option<Arc<Replica>>,
    /// Whether to try resuming from the replica: until the store has answered once.
    resumable: bool,
    replica_dir: Option<std::path::PathBuf>,
}

impl Follower {
    async fn run(mut self) {
        let mut backoff = BACKOFF_MIN;
        let mut tried_copy = false;
        // The revision of the local copy loaded, until it is served.
        let mut copy = None;
        loop {
            let e = self.follow(&mut backoff).await;
            self.control.set_store_reachable(false);
            if !tried_copy && self.control.served_revision().is_none() {
                tried_copy = true;
                copy = self.load_copy().await;
                if copy.is_none() {
                    self.control.first_load_failed();
                }
            }
            warn!(
                "store sync interrupted ({e}); {}; retrying in {}s",
                match (self.control.served_revision(), copy) {
                    (Some(r), _) => format!("still serving revision {r}"),
                    (None, Some(r)) => format!("about to serve the local copy of revision {r}"),
                    (None, None) => {
                        "serving the zone files only until the store answers".to_owned()
                    }
                },
                backoff.as_secs_f64()
            );
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
    }

    /// Serves the replica's copy (or an earlier version's JSON copy), for a start without
    /// the store; its revision, if there was one.
    async fn load_copy(&self) -> Option<Revision> {
        let checker = self.control.checker().to_owned();
        let (from, loaded) = match &self.replica {
            Some(r) => (r.path().to_owned(), replica::load(r, &checker).await),
            None => (PathBuf::new(), None),
        };
        let (from, loaded) = match (loaded, &self.replica_dir) {
            (Some((state, touched, mark)), _) => (from, Some((state, touched, mark.revision))),
            (None, Some(dir)) => {
                let path = dir.join(replica::LEGACY_COPY_FILE);
                let (dir, checker) = (dir.clone(), checker.clone());
                let legacy =
                    replica::blocking(move || Ok(replica::load_legacy(&dir, &checker))).await;
                (path, legacy.ok().flatten())
            }
            (None, None) => (from, None),
        };
        let (state, touched, revision) = loaded?;
        install(&self.control, state);
        self.shared.mark(touched, true, revision);
        warn!(
            "the store is unreachable: serving the local copy of revision {revision} from {}",
            from.display()
        );
        Some(revision)
    }

    /// Resumes from the replica when it is a copy of this store whose later changes the
    /// store still has: watches from the replica's revision and serves its copy (the watch
    /// brings the rest). `None`: read the whole store.
    async fn resume(
        &self,
        replica: &Arc<Replica>,
    ) -> Result<Option<Box<dyn turnout_store::Watcher>>, StoreError> {
        let r = Arc::clone(replica);
        let mark = match replica::blocking(move || r.mark()).await {
            Ok(Some(mark)) => mark,
            Ok(None) => return Ok(None),
            Err(e) => {
                warn!("the local replica cannot be read ({e}); reading the whole store");
                return Ok(None);
            }
        };
        let store = Arc::clone(self.control.store());
        let cluster = store.cluster_id().await?;
        if cluster != mark.cluster {
            info!(
                "the local replica is a copy of another store ({} here, {cluster} now); \
                 reading the whole store",
                mark.cluster
            );
            return Ok(None);
        }
        let current = store.revision().await?;
        if current < mark.revision {
            warn!(
                "the store is at revision {current}, older than the local replica's {} (was it \
                 restored from a backup?); reading the whole store",
                mark.revision
            );
            return Ok(None);
        }
        if !store.has_history(mark.revision + 1).await? {
            info!(
                "the store no longer has the changes since the local replica's revision {} \
                 (compacted); reading the whole store",
                mark.revision
            );
            return Ok(None);
        }
        // Watched before the replica is read: the changes since queue meanwhile. (Compacted
        // in between, the watch fails and the follower reads the whole store.)
        let watcher = store.watch(keys::ROOT, mark.revision + 1).await?;
        let Some((state, touched, mark)) = replica::load(replica, self.control.checker()).await
        else {
            return Ok(None);
        };
        let revision = mark.revision;
        install(&self.control, state);
        self.control.set_store_reachable(true);
        self.control.health().set_quorum(self.control.quorum());
        self.control.state_caught_up(revision);
        self.shared.mark(touched, true, revision);
        info!(
            "resumed from the local replica at revision {revision} (the store is at {current}); \
             following the changes since"
        );
        Ok(Some(watcher))
    }

    /// Reads the whole store and serves it; the watch from the next revision.
    async fn load(&self) -> Result<Box<dyn turnout_store::Watcher>, StoreError> {
        let (control, shared) = (&self.control, &self.shared);
        let store = Arc::clone(control.store());
        // Each part of the range is decoded and applied while the store reads the next; the
        // stored form is dropped part by part (with a million record sets, about 400 bytes
        // each).
        let (parts, loading) = crate::state::Loading::background(control.checker());
        let ranged = store.range_pages(keys::ROOT, &|part| drop(parts.send(part))).await;
        drop(parts);
        let revision = ranged?;
        let (config, touched) = loading.finish(revision).await;
        install(control, config);
        control.set_store_reachable(true);
        control.health().set_quorum(control.quorum());
        control.state_caught_up(revision);
        shared.mark(touched, true, revision);
        if let Some(news) = &self.news {
            drop(news.send(replica::News::Loaded));
        }
        store.watch(keys::ROOT, revision + 1).await
    }

    /// Loads everything (or resumes from the replica), then follows the watch until it fails.
    async fn follow(&mut self, backoff: &mut Duration) -> StoreError {
        let resumed = match self.replica.as_ref().filter(|_| self.resumable) {
            Some(r) => match self.resume(r).await {
                Ok(w) => w,
                Err(e) => return e,
            },
            None => None,
        };
        // Once the store has answered, later reconnections read it whole.
        self.resumable = false;
        let mut watcher = match resumed {
            Some(w) => w,
            None => match self.load().await {
                Ok(w) => w,
                Err(e) => return e,
            },
        };
        let (control, shared) = (&self.control, &self.shared);
        *backoff = BACKOFF_MIN;
        loop {
            let mut batches: Vec<WatchBatch> = match watcher.next().await {
                Ok(b) => vec![b],
                Err(e) => return e,
            };
            // Whatever else is already there is applied with it.
            while batches.len() < 1024 {
                match tokio::time::timeout(Duration::ZERO, watcher.next()).await {
                    Ok(Ok(batch)) => batches.push(batch),
                    Ok(Err(e)) => return e,
                    Err(_) => break,
                }
            }
            let mut touched = Touched::default();
            let (revision, checks, controls) = {
                let mut st = control.state_mut();
                for batch in &batches {
                    st.apply(batch, &mut touched);
                }
                let checks: Option<(Vec<_>, _)> = touched.checks.then(|| {
                    (st.checks.values().map(|(_, c)| c.clone()).collect(), st.observed.clone())
                });
                let controls = (touched.controls || touched.checks).then(|| st.control_map());
                (st.revision, checks, controls)
            };
            // Controls first: a control check that starts now reads its control's state.
            if let Some(controls) = controls {
                control.health().set_controls(controls);
            }
            if let Some((checks, observed)) = checks {
                control.health().apply(&checks, &|name| observed.get(name).copied());
            }
            if touched.nodes || touched.placement {
                control.health().set_quorum(control.quorum());
            }
            control.state_caught_up(revision);
            shared.mark(touched, false, revision);
            if let Some(news) = &self.news {
                drop(news.send(replica::News::Batches(batches)));
            }
        }
    }
}

/// The instant the Unix second `t` begins, a little after it (timelines are in whole seconds).
fn wake_at(t: u64) -> tokio::time::Instant {
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let wait = Duration::from_secs(t).saturating_sub(now) + Duration::from_millis(20);
    tokio::time::Instant::now() + wait
}

/// Bytes a retired snapshot must free for the builder to hand memory back to the OS.
const TRIM_AFTER_FREEING: usize = 32 << 20;

/// The bytes of the parts of `old` that `new` does not keep.
fn retired_bytes(old: Option<ZoneParts>, new: &Option<ZoneParts>) -> usize {
    let Some(old) = old else { return 0 };
    let kept = |part: &Arc<ZonePart>| {
        new.as_ref().is_some_and(|n| {
            Arc::ptr_eq(&n.home, part) || n.chunks.iter().any(|c| Arc::ptr_eq(c, part))
        })
    };
    std::iter::once(&old.home).chain(&old.chunks).filter(|p| !kept(p)).map(|p| p.heap_bytes()).sum()
}

struct Builder {
    control: Arc<Control>,
    handle: SnapshotHandle,
    static_zones: StaticZones,
    on_retired: Option<fn()>,
    locator: Option<Arc<turnout_dns::locate::Locator>>,
    /// Each store zone's compiled parts, shared by every snapshot that serves them.
    compiled: BTreeMap<Name, ZoneParts>,
    /// Zones whose last compile failed: the next one starts from scratch, since what the
    /// failed change wrote is not in their parts.
    stale: BTreeSet<Name>,
    /// The zone files' parts, compiled when the files change.
    static_parts: Vec<Arc<ZonePart>>,
    shared: Arc<Shared>,
}

impl Builder {
    async fn run(mut self) {
        let mut static_open = true;
        // DNSSEC key timelines (rollovers) change what a signed zone publishes and signs with
        // at set times: the zones whose timeline has a time in (checked, now] are compiled
        // again when the clock gets there.
        let mut checked = crate::signing::unix_now();
        let mut next_key_event: Option<u64> = None;
        // Set when the zone files change and cleared once a build has compiled them: a reload
        // that comes before the store's first revision is served waits for it, not lost.
        let mut rebuild_static = false;
        loop {
            let key_event = next_key_event.map(wake_at);
            tokio::select! {
                () = self.shared.wake.notified() => {}
                changed = self.static_zones.changed(), if static_open => {
                    match changed {
                        Ok(()) => rebuild_static = true,
                        Err(_) => static_open = false,
                    }
                }
                () = tokio::time::sleep_until(key_event.unwrap_or_else(tokio::time::Instant::now)),
                    if key_event.is_some() => {}
            }
            let mut dirty = self.shared.take();
            let now = crate::signing::unix_now();
            {
                let st = self.control.read();
                for (apex, record) in &st.dnssec {
                    if record.next_event(checked).is_some_and(|t| t <= now) {
                        dirty.zones.insert(apex.clone());
                        dirty.whole.insert(apex.clone());
                    }
                }
                next_key_event = st.dnssec.values().filter_map(|r| r.next_event(now)).min();
            }
            checked = now;
            let Some(revision) = dirty.revision.or(self.control.served_revision()) else {
                continue;
            };
            let rebuilt = dirty.all || rebuild_static || !dirty.zones.is_empty();
            let served = if rebuilt { self.build(&dirty, rebuild_static, revision) } else { true };
            rebuild_static = false;
            // INSYNC must never lie: a revision whose zones did not all make it into the
            // published snapshot is not served (the errors are logged; the next good build
            // catches up).
            if !served {
                continue;
            }
            if self.control.served_revision().is_none() {
                info!("serving store revision {revision}");
            }
            // Only changes to what DNS answers count in the change-to-served time.
            let took = dirty.since.filter(|_| rebuilt).map(|t| t.elapsed());
            self.control.served_now(revision, took);
        }
    }

    /// Recompiles the dirty zones (and the zone files' zones when they changed), assembles a
    /// snapshot that shares every other zone's part with the one served, and publishes it;
    /// true when every dirty zone is in the published snapshot.
    fn build(&mut self, dirty: &Dirty, rebuild_static: bool, revision: Revision) -> bool {
        let started = Instant::now();
        let static_zones = Arc::clone(&self.static_zones.borrow());
        let mut static_failed = false;
        if self.static_parts.is_empty() && !rebuild_static {
            // At start the served snapshot holds these very zone files, compiled: adopt its
            // parts rather than compiling every zone file a second time.
            let current = self.handle.load();
            let adopted: Option<Vec<_>> =
                static_zones.iter().map(|z| current.part_of(z.apex()).cloned()).collect();
            self.static_parts = adopted.unwrap_or_default();
        }
        if rebuild_static || self.static_parts.len() != static_zones.len() {
            let parts = tokio::task::block_in_place(|| {
                static_zones
                    .iter()
                    .map(|z| ZonePart::build(z, self.locator.as_ref()).map(Arc::new))
                    .collect::<Result<Vec<_>, _>>()
            });
            match parts {
                Ok(parts) => self.static_parts = parts,
                Err(e) => {
                    error!("the zone files cannot be served ({e}); serving their previous version");
                    static_failed = true;
                }
            }
        }
        let static_apexes: BTreeSet<&Name> = static_zones.iter().map(Zone::apex).collect();
        let (recompiled, failed) =
            tokio::task::block_in_place(|| self.recompile(dirty, &static_apexes));
        let compiled_in = started.elapsed();
        // The served snapshot with only the zones whose part changed replaced: the zone files'
        // zones, the store's (a zone file wins), and removals.
        let current = self.handle.load();
        let changed = |apex: &Name, parts: &ZoneParts| !current.serves(apex, parts);
        let mut changes: Vec<(Name, Option<ZoneParts>)> = Vec::new();
        for part in &self.static_parts {
            let apex = part.apex_name();
            let parts = ZoneParts::whole(Arc::clone(part));
            if changed(&apex, &parts) {
                changes.push((apex, Some(parts)));
            }
        }
        for (apex, parts) in &self.compiled {
            if !static_apexes.contains(apex) && changed(apex, parts) {
                changes.push((apex.clone(), Some(parts.clone())));
            }
        }
        for (apex, _, _) in current.zones() {
            if !static_apexes.contains(apex) && !self.compiled.contains_key(apex) {
                changes.push((apex.clone(), None));
            }
        }
        // What the retired snapshot frees: the parts replaced or removed (the rest is shared).
        let freed: usize =
            changes.iter().map(|(apex, new)| retired_bytes(current.parts_of(apex), new)).sum();
        let next = tokio::task::block_in_place(|| current.update_zones(changes));
        drop(current);
        match next {
            Ok(snapshot) => {
                let count = snapshot.zones().len();
                let retired = self.handle.publish(snapshot);
                let handle = self.handle.clone();
                // Handing memory back to the OS walks the whole heap: worth it only when a
                // large part went away, not for every small change.
                // After a full load, the stored form read and the load's scratch are freed too.
                let on_retired =
                    self.on_retired.filter(|_| freed >= TRIM_AFTER_FREEING || dirty.all);
                tokio::task::spawn_blocking(move || {
                    retired.carry_into(&handle);
                    if let Some(f) = on_retired {
                        f();
                    }
                });
                debug!(
                    "revision {revision}: {recompiled} zone(s) recompiled in {:.3} ms, \
                     {count} served, snapshot published after {:.3} ms",
                    compiled_in.as_secs_f64() * 1e3,
                    started.elapsed().as_secs_f64() * 1e3
                );
                failed == 0 && !static_failed
            }
            Err(e) => {
                error!("revision {revision} not served: {e}; serving the previous snapshot");
                false
            }
        }
    }

    /// Recompiles dirty zones (all with `dirty.all`); returns how many, and how many failed.
    /// The lock is held only to take the zones' shared record sets, not while compiling.
    fn recompile(&mut self, dirty: &Dirty, static_apexes: &BTreeSet<&Name>) -> (usize, usize) {
        type Work = Vec<(Name, Option<Arc<ZoneRecords>>, bool, Option<Arc<ZoneSigner>>)>;
        let (work, collections): (Work, BTreeMap<String, _>) = {
            let st = self.control.read();
            let collections =
                st.collections.iter().map(|(k, (_, c))| (k.clone(), Arc::clone(c))).collect();
            let targets: Vec<Name> = if dirty.all {
                self.compiled.clear();
                st.zones.keys().cloned().collect()
            } else {
                dirty.zones.iter().cloned().collect()
            };
            let work = targets
                .into_iter()
                .map(|apex| {
                    let records = st.records.get(&apex).filter(|_| st.zones.contains_key(&apex));
                    let records = records.cloned();
                    let unavailable = crate::secondary::unavailable(&st, &apex);
                    let signer = st.dnssec.get(&apex).and_then(|record| {
                        match record.signer(&apex, crate::signing::unix_now()) {
                            Ok(signer) => Some(Arc::new(signer)),
                            Err(e) => {
                                error!("zone {apex}: its DNSSEC keys are unusable ({e}); unsigned");
                                None
                            }
                        }
                    });
                    (apex, records, unavailable, signer)
                })
                .collect();
            (work, collections)
        };
        let (mut count, mut failed) = (0, 0);
        for (apex, records, unavailable, signer) in work {
            let Some(records) = records else {
                self.compiled.remove(&apex);
                continue;
            };
            if static_apexes.contains(&apex) {
                warn!("zone {apex} is in the store and in a zone file; the zone file wins");
            }
            count += 1;
            let health = self.control.health();
            let inputs = pieces::Inputs {
                slot: &|name| health.slot(name),
                collection: &|name| collections.get(name).cloned(),
                locator: self.locator.as_ref(),
                signer: signer.as_ref(),
            };
            // Only the pieces holding what changed, when nothing but record sets changed.
            let names = (!dirty.all && !dirty.whole.contains(&apex) && !self.stale.contains(&apex))
                .then(|| dirty.names.get(&apex))
                .flatten();
            // A secondary zone not loaded yet, or expired, answers SERVFAIL; one that was is
            // compiled whole again.
            let previous = self.compiled.get(&apex).filter(|p| !p.home.is_unavailable());
            let parts = match (unavailable, names, previous) {
                (true, _, _) => pieces::unavailable(&apex, &inputs),
                (false, Some(names), Some(previous)) => {
                    pieces::recompile(&records, previous, names, &inputs)
                }
                _ => pieces::compile(&records, &inputs),
            };
            match parts {
                Ok(parts) => {
                    self.stale.remove(&apex);
                    self.compiled.insert(apex, parts);
                }
                Err(errors) => {
                    self.stale.insert(apex.clone());
                    failed += 1;
                    error!("zone {apex} cannot be served ({errors}); serving its previous version");
                }
            }
        }
        (count, failed)
    }
}
