//! The node's local replica of a remote store ([`turnout_store::Replica`], docs/cluster.md):
//! kept current from the watch the sync follows, read at start to resume from its revision
//! instead of reading the whole store, and to serve while the store is unreachable.
//!
//! The sync's follower hands over what it applies; a task of the sync writes it. After a full
//! read of the store, the replica is written anew from a read of its own (the follower's read
//! is consumed as it is decoded); until then it holds no copy.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tracing::{debug, info, warn};
use turnout_store::{KeyValue, Replica, ReplicaMark, Revision, StoreError, WatchBatch};

use crate::state::{Loading, State, Touched};
use crate::{Control, keys};

/// The replica's file in the data directory.
pub const REPLICA_FILE: &str = "store-replica.redb";
/// The JSON copy earlier versions wrote, read at a start without the store while no replica
/// has been written yet, and removed once one has.
pub const LEGACY_COPY_FILE: &str = "store-copy.json";
/// A write to the replica is made durable at most this long after it.
const DURABLE_AFTER: Duration = Duration::from_secs(1);
/// The wait before a failed rewrite is tried again.
const RETRY: Duration = Duration::from_secs(5);

/// What the follower applied.
#[derive(Debug)]
pub(crate) enum News {
    /// The whole store was read (the replica is written anew).
    Loaded,
    /// Watch batches, in revision order.
    Batches(Vec<WatchBatch>),
}

/// Runs replica I/O on a blocking thread.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| StoreError::Io(e.to_string()))?
}

/// Opens the replica in `dir`; a node runs on without one it cannot open (saying so).
pub(crate) async fn open(dir: PathBuf) -> Option<Arc<Replica>> {
    let path = dir.join(REPLICA_FILE);
    match blocking(move || Replica::open(&path)).await {
        Ok(r) => Some(Arc::new(r)),
        Err(e) => {
            warn!("no local replica of the store: {e}");
            None
        }
    }
}

/// The replica's copy as a state: `None` when it holds none or cannot be read (said).
pub(crate) async fn load(
    replica: &Arc<Replica>,
    checker: &str,
) -> Option<(State, Touched, ReplicaMark)> {
    // Each page is decoded and applied while the next is read, as pages from the store are.
    let (pages, loading) = Loading::background(checker);
    let replica = Arc::clone(replica);
    let read = blocking(move || replica.read_pages(&mut |page| drop(pages.send(page)))).await;
    match read {
        Ok(Some(mark)) => {
            let (state, touched) = loading.finish(mark.revision).await;
            Some((state, touched, mark))
        }
        Ok(None) => None,
        Err(e) => {
            warn!("the local replica cannot be read ({e}); reading the whole store");
            None
        }
    }
}

/// The configuration of the JSON copy earlier versions wrote, if `dir` has one.
pub(crate) fn load_legacy(dir: &Path, checker: &str) -> Option<(State, Touched, Revision)> {
    let path = dir.join(LEGACY_COPY_FILE);
    let text = std::fs::read_to_string(&path).ok()?;
    let export = match turnout_store::Export::parse(&text) {
        Ok(e) => e,
        Err(e) => {
            warn!("the local copy {} is unreadable: {e}", path.display());
            return None;
        }
    };
    let range = export.to_range();
    let mut loading = Loading::new(checker);
    loading.push(range.kvs);
    let (state, touched) = loading.finish(range.revision);
    Some((state, touched, range.revision))
}

/// Writes what the follower applied to the replica, until the follower stops.
pub(crate) async fn keep(
    control: Arc<Control>,
    replica: Arc<Replica>,
    mut news: mpsc::UnboundedReceiver<News>,
) {
    let mut queued: Vec<WatchBatch> = Vec::new();
    let mut rewrite = false;
    // Whether the last write is not durable yet.
    let mut lazy = false;
    let mut last_durable = tokio::time::Instant::now();
    loop {
        if !rewrite {
            let next = if lazy {
                tokio::time::timeout(DURABLE_AFTER, news.recv()).await
            } else {
                Ok(news.recv().await)
            };
            match next {
                // Quiet for a while: the last writes are made durable.
                Err(_) => {
                    lazy = !apply(&replica, Vec::new(), true).await;
                    last_durable = tokio::time::Instant::now();
                    continue;
                }
                // The follower stopped: what is written is made durable, so that the next
                // start resumes from it instead of catching up on it from the store.
                Ok(None) => {
                    if lazy {
                        apply(&replica, Vec::new(), true).await;
                    }
                    return;
                }
                Ok(Some(n)) => take(n, &mut queued, &mut rewrite),
            }
        }
        while let Ok(n) = news.try_recv() {
            take(n, &mut queued, &mut rewrite);
        }
        if rewrite {
            // Whatever came so far is in the read the rewrite makes.
            queued.clear();
            match rewrite_all(&control, &replica).await {
                Ok(revision) => {
                    rewrite = false;
                    (lazy, last_durable) = (false, tokio::time::Instant::now());
                    info!("wrote the local replica of store revision {revision}");
                    remove_legacy(&replica);
                }
                Err(e) => {
                    warn!(
                        "cannot write the local replica ({e}); trying again in {}s",
                        RETRY.as_secs()
                    );
                    tokio::time::sleep(RETRY).await;
                }
            }
            continue;
        }
        if queued.is_empty() {
            continue;
        }
        let durable = last_durable.elapsed() >= DURABLE_AFTER;
        if apply(&replica, std::mem::take(&mut queued), durable).await {
            if durable {
                last_durable = tokio::time::Instant::now();
            }
            lazy = !durable;
        }
    }
}

fn take(news: News, queued: &mut Vec<WatchBatch>, rewrite: &mut bool) {
    match news {
        // What came before a full read is in it.
        News::Loaded => {
            *rewrite = true;
            queued.clear();
        }
        News::Batches(b) => queued.extend(b),
    }
}

/// Applies batches on a blocking thread; false when nothing was written (no copy yet, or an
/// error, said).
async fn apply(replica: &Arc<Replica>, batches: Vec<WatchBatch>, durable: bool) -> bool {
    let replica = Arc::clone(replica);
    match blocking(move || replica.apply(&batches, durable)).await {
        Ok(Some(revision)) => {
            debug!("local replica at store revision {revision}");
            true
        }
        Ok(None) => false,
        Err(e) => {
            warn!("cannot write to the local replica: {e}");
            false
        }
    }
}

/// Writes the whole store to the replica from a read of its own, page by page; returns the
/// revision it is a copy of.
async fn rewrite_all(
    control: &Arc<Control>,
    replica: &Arc<Replica>,
) -> Result<Revision, StoreError> {
    let store = Arc::clone(control.store());
    let cluster = store.cluster_id().await?;
    let (pages, mut read) = mpsc::unbounded_channel::<Vec<KeyValue>>();
    let writer = {
        let replica = Arc::clone(replica);
        tokio::task::spawn_blocking(move || {
            replica.begin_rewrite()?;
            while let Some(page) = read.blocking_recv() {
                replica.write_page(&page)?;
            }
            Ok::<_, StoreError>(replica)
        })
    };
    let ranged = store.range_pages(keys::ROOT, &|page| drop(pages.send(page))).await;
    drop(pages);
    let replica = writer.await.map_err(|e| StoreError::Io(e.to_string()))??;
    let revision = ranged?;
    let mark = ReplicaMark { revision, cluster };
    blocking(move || replica.finish_rewrite(&mark)).await?;
    Ok(revision)
}

fn remove_legacy(replica: &Replica) {
    let Some(dir) = replica.path().parent() else { return };
    let legacy = dir.join(LEGACY_COPY_FILE);
    if legacy.exists() {
        match std::fs::remove_file(&legacy) {
            Ok(()) => info!("removed {} (the local replica replaces it)", legacy.display()),
            Err(e) => warn!("cannot remove {}: {e}", legacy.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token_kv(name: &str, digest: &str, revision: Revision) -> KeyValue {
        let record = crate::types::TokenRecord {
            name: name.into(),
            scopes: vec!["admin".into()],
            sha256: digest.into(),
            created_at: "2026-12-05T00:00:00Z".into(),
            expires_at: None,
            access_key: None,
        };
        KeyValue {
            key: keys::token(name),
            value: serde_json::to_vec(&record).unwrap(),
            create_revision: revision,
            mod_revision: revision,
            version: 1,
            lease: 0,
        }
    }

    #[tokio::test]
    async fn the_replica_and_an_earlier_versions_json_copy_load_as_states() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load_legacy(dir.path(), "n1").is_none(), "no copy, no state");
        // An earlier version's copy: the export format, as `store-copy.json`.
        let range =
            turnout_store::RangeResponse { kvs: vec![token_kv("old", "aa", 4)], revision: 9 };
        let export = turnout_store::Export::from_range(&range).unwrap();
        std::fs::write(dir.path().join(LEGACY_COPY_FILE), serde_json::to_vec(&export).unwrap())
            .unwrap();
        let (state, _, revision) = load_legacy(dir.path(), "n1").unwrap();
        assert_eq!(revision, 9);
        assert!(state.tokens.contains_key("aa"), "{:?}", state.tokens.keys());

        let replica = open(dir.path().to_owned()).await.unwrap();
        assert!(load(&replica, "n1").await.is_none(), "an empty replica is no copy");
        replica.begin_rewrite().unwrap();
        replica.write_page(&[token_kv("new", "bb", 12)]).unwrap();
        replica.finish_rewrite(&ReplicaMark { revision: 15, cluster: "etcd:1".into() }).unwrap();
        let (state, _, mark) = load(&replica, "n1").await.unwrap();
        assert_eq!(mark.revision, 15);
        assert_eq!(state.revision, 15);
        assert!(state.tokens.contains_key("bb") && !state.tokens.contains_key("aa"));
        // Once the replica is written, the earlier copy goes.
        remove_legacy(&replica);
        assert!(!dir.path().join(LEGACY_COPY_FILE).exists());
    }
}
