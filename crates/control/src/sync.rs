//! The sync task: store -> watch -> compile -> publish.
//!
//! It loads the whole configuration with one range, publishes a snapshot, then follows the
//! store's watch from the next revision. Each batch of revisions (whatever arrived together)
//! is applied to the in-memory [`Config`], the zones it touched are recompiled, a new snapshot
//! is built off to the side and swapped in with one atomic store; then the served revision
//! advances, which turns the changes at or below it INSYNC. If the store fails, the task keeps
//! the last snapshot serving, retries with backoff and re-reads everything when it is back.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};
use turnout_dns::{Snapshot, SnapshotHandle};
use turnout_model::{Name, Zone};
use turnout_store::{Revision, WatchBatch};

use crate::compile::compile_zone;
use crate::state::{Config, Touched};
use crate::{Control, keys};

/// Settings of the sync task.
#[derive(Debug, Default)]
pub struct SyncOptions {
    /// Zones from zone files, served alongside the store's.
    pub static_zones: Vec<Zone>,
    /// Called after a replaced snapshot is freed (the binary returns memory to the OS).
    pub on_retired: Option<fn()>,
}

const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Runs until `shutdown`; never gives up on the store.
pub async fn run_sync(
    control: Arc<Control>,
    handle: SnapshotHandle,
    options: SyncOptions,
    shutdown: CancellationToken,
) {
    let mut sync = Sync {
        control,
        handle,
        static_apexes: options.static_zones.iter().map(|z| z.apex().clone()).collect(),
        options,
        compiled: BTreeMap::new(),
    };
    let mut backoff = BACKOFF_MIN;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            result = sync.follow() => {
                let e = match result { Ok(()) => continue, Err(e) => e };
                warn!("store sync interrupted ({e}); still serving revision {:?}; retrying in \
                       {backoff:?}", sync.control.served_revision());
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

struct Sync {
    control: Arc<Control>,
    handle: SnapshotHandle,
    options: SyncOptions,
    static_apexes: BTreeSet<Name>,
    compiled: BTreeMap<Name, Zone>,
}

impl Sync {
    /// Loads everything, then follows the watch until it fails.
    async fn follow(&mut self) -> Result<(), turnout_store::StoreError> {
        let store = Arc::clone(self.control.store());
        let range = store.range(keys::ROOT).await?;
        let (config, touched) = Config::from_range(&range.kvs, range.revision);
        *self.control.write() = config;
        self.control.state_caught_up(range.revision);
        self.compiled.clear();
        self.rebuild(&touched, range.revision).await;
        let mut watcher = store.watch(keys::ROOT, range.revision + 1).await?;
        loop {
            let mut batches: Vec<WatchBatch> = vec![watcher.next().await?];
            // Whatever else is already there goes into the same snapshot.
            while batches.len() < 1024 {
                match tokio::time::timeout(Duration::ZERO, watcher.next()).await {
                    Ok(batch) => batches.push(batch?),
                    Err(_) => break,
                }
            }
            let mut touched = Touched::default();
            let revision = {
                let mut st = self.control.write();
                for batch in &batches {
                    st.apply(batch, &mut touched);
                }
                st.revision
            };
            self.control.state_caught_up(revision);
            self.rebuild(&touched, revision).await;
        }
    }

    /// Recompiles the touched zones, publishes a new snapshot and marks `revision` served.
    async fn rebuild(&mut self, touched: &Touched, revision: Revision) {
        if !touched.zones.is_empty() || self.control.served_revision().is_none() {
            let started = Instant::now();
            self.recompile(touched);
            let zones = self.options.static_zones.iter().chain(self.compiled.values());
            let built = tokio::task::block_in_place(|| Snapshot::build(zones));
            match built {
                Ok(snapshot) => {
                    let count = snapshot.zones().len();
                    let retired = self.handle.publish(snapshot);
                    let on_retired = self.options.on_retired;
                    tokio::task::spawn_blocking(move || {
                        retired.release();
                        if let Some(f) = on_retired {
                            f();
                        }
                    });
                    debug!(
                        "revision {revision}: {} zone(s) recompiled, {count} served, in {:?}",
                        touched.zones.len(),
                        started.elapsed()
                    );
                }
                Err(e) => error!("revision {revision} not served: {e}; serving the previous one"),
            }
        }
        if self.control.served_revision().is_none() {
            info!("serving store revision {revision}");
        }
        self.control.served_now(revision);
    }

    fn recompile(&mut self, touched: &Touched) {
        let st = self.control.read();
        for apex in &touched.zones {
            if self.static_apexes.contains(apex) {
                warn!("zone {apex} is in the store and in a zone file; the zone file wins");
                continue;
            }
            let records = st.records.get(apex).filter(|_| st.zones.contains_key(apex));
            match records {
                None => {
                    self.compiled.remove(apex);
                }
                Some(records) => match compile_zone(records) {
                    Ok(zone) => {
                        self.compiled.insert(apex.clone(), zone);
                    }
                    Err(errors) => {
                        let errors: Vec<String> = errors.iter().map(ToString::to_string).collect();
                        error!(
                            "zone {apex} cannot be served ({}); serving its previous version",
                            errors.join("; ")
                        );
                    }
                },
            }
        }
    }
}
