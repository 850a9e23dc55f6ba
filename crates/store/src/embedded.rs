//! The embedded backend: one redb file, one fsync per committed transaction.
//!
//! Tables: `kv` (key -> create revision, mod revision, version, value), `log` (revision -> the
//! events of that revision, kept for the last [`Options::history`] revisions so that watches can
//! start in the past, as etcd's do until compaction), `meta` (the current revision) and
//! `leased` (key -> the lease it lives under). Writers are serialized; after each commit the
//! revision's events go to live watchers through a broadcast channel, and a watcher that falls
//! behind re-reads the log.
//!
//! Leases live in memory, timed by tokio's clock: a lease belongs to the process that holds
//! the store open, so none outlives it, and opening the store deletes every key a lease held
//! (in one revision, as an expiry would). A task started with the first lease deletes the keys
//! of each lease that expires.

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use async_trait::async_trait;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use tokio::sync::broadcast;
use tokio::time::Instant;

use crate::{
    Compare, Event, KeyValue, LeaseId, Op, RangeResponse, Revision, Store, StoreError, Txn,
    TxnResponse, WatchBatch, Watcher,
};

const KV: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("kv");
const LOG: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("log");
const META: TableDefinition<'_, &str, u64> = TableDefinition::new("meta");
const LEASED: TableDefinition<'_, &str, i64> = TableDefinition::new("leased");
const REVISION: &str = "revision";
/// Watch batches buffered per live watcher before it must re-read the log.
const LIVE_BUFFER: usize = 1024;

/// Settings of the embedded store.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Revisions kept in the log for watches that start in the past.
    pub history: u64,
    /// Bytes of redb's page cache. The configuration lives in memory elsewhere; the store is
    /// read in full only at start, so a small cache is enough.
    pub cache_bytes: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options { history: 10_000, cache_bytes: 16 * 1024 * 1024 }
    }
}

/// The embedded store.
#[derive(Debug, Clone)]
pub struct EmbeddedStore {
    inner: Arc<Inner>,
}

/// Opens the database file (again): after an I/O error (a full disk) redb refuses every
/// transaction until the database is opened anew.
type Opener = Box<dyn Fn() -> Result<Database, StoreError> + Send + Sync>;

struct Inner {
    /// None only while it is being opened again.
    db: std::sync::RwLock<Option<Database>>,
    open: Opener,
    options: Options,
    /// Serializes writers so that live watchers see revisions in order.
    write_lock: Mutex<()>,
    live: broadcast::Sender<Arc<WatchBatch>>,
    /// Live leases: time to live and deadline.
    leases: Mutex<HashMap<LeaseId, (Duration, Instant)>>,
    /// Whether the expiry task runs.
    expiring: AtomicBool,
    /// Bumped by [`Store::request_progress`]: each watcher reports how far it has delivered.
    progress: tokio::sync::watch::Sender<u64>,
    /// The revision of the last committed transaction (set before the transaction returns).
    committed: std::sync::atomic::AtomicI64,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedStore").field("options", &self.options).finish_non_exhaustive()
    }
}

fn io(e: impl std::fmt::Display) -> StoreError {
    StoreError::Io(e.to_string())
}

impl EmbeddedStore {
    /// Opens (or creates) the store file at `path`.
    pub fn open(path: &Path, options: Options) -> Result<Self, StoreError> {
        // A file a first start left empty (it could write nothing: a full disk) is no store:
        // it would only block the next start.
        if std::fs::metadata(path).is_ok_and(|m| m.len() == 0) {
            std::fs::remove_file(path)
                .map_err(|e| StoreError::Io(format!("cannot remove {}: {e}", path.display())))?;
        }
        let (file, cache) = (path.to_owned(), options.cache_bytes);
        let open: Opener = Box::new(move || {
            redb::Builder::new().set_cache_size(cache).create(&file).map_err(|e| match e {
                redb::DatabaseError::DatabaseAlreadyOpen => StoreError::Unavailable(format!(
                    "{} is in use by another process",
                    file.display()
                )),
                e => StoreError::Unavailable(format!("cannot open {}: {e}", file.display())),
            })
        });
        let db = open()?;
        // The store holds token digests and the whole configuration: owner only.
        std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .map_err(|e| StoreError::Io(format!("cannot restrict {}: {e}", path.display())))?;
        Self::with_database(db, open, options)
    }

    /// A store over `db`, which `open` opens again after an I/O error.
    fn with_database(db: Database, open: Opener, options: Options) -> Result<Self, StoreError> {
        let w = db.begin_write().map_err(io)?;
        {
            w.open_table(KV).map_err(io)?;
            w.open_table(LOG).map_err(io)?;
            w.open_table(META).map_err(io)?;
            w.open_table(LEASED).map_err(io)?;
        }
        w.commit().map_err(io)?;
        let (live, _) = broadcast::channel(LIVE_BUFFER);
        let inner = Inner {
            db: std::sync::RwLock::new(Some(db)),
            open,
            options,
            write_lock: Mutex::new(()),
            live,
            leases: Mutex::new(HashMap::new()),
            expiring: AtomicBool::new(false),
            progress: tokio::sync::watch::Sender::new(0),
            committed: std::sync::atomic::AtomicI64::new(0),
        };
        let (_, revision) = inner.get("")?;
        inner.committed.store(revision, Ordering::SeqCst);
        // The leases of the last process that held the store ended with it.
        inner.delete_leased(|_| true)?;
        Ok(EmbeddedStore { inner: Arc::new(inner) })
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Inner) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || f(&inner))
            .await
            .map_err(|e| StoreError::Unavailable(format!("store task failed: {e}")))?
    }
}

/// Whether a guard holds in the write transaction's view: on its key, or on every key under
/// its prefix (none: as on an absent key).
fn holds(
    kv: &impl ReadableTable<&'static str, &'static [u8]>,
    compare: &Compare,
) -> Result<bool, StoreError> {
    if !compare.prefix {
        let current = kv.get(compare.key.as_str()).map_err(io)?;
        let current = current.map(|v| decode_kv(&compare.key, v.value(), 0)).transpose()?;
        return Ok(compare.holds(current.as_ref()));
    }
    let mut any = false;
    for item in kv.range(compare.key.as_str()..).map_err(io)? {
        let (k, v) = item.map_err(io)?;
        let key = k.value();
        if !key.starts_with(compare.key.as_str()) {
            break;
        }
        any = true;
        if !compare.holds(Some(&decode_kv(key, v.value(), 0)?)) {
            return Ok(false);
        }
    }
    Ok(any || compare.holds(None))
}

impl Inner {
    /// Runs `begin` on the database; if redb refuses because of an earlier I/O error (a write
    /// that hit a full disk), opens the database again and retries once, so the store
    /// recovers by itself once the cause is gone.
    fn begin<T>(
        &self,
        begin: impl Fn(&Database) -> Result<T, redb::TransactionError>,
    ) -> Result<T, StoreError> {
        let first = {
            let db = self.db.read().unwrap_or_else(PoisonError::into_inner);
            match db.as_ref() {
                Some(db) => begin(db),
                None => Err(redb::TransactionError::Storage(redb::StorageError::PreviousIo)),
            }
        };
        match first {
            Err(redb::TransactionError::Storage(redb::StorageError::PreviousIo)) => {
                let mut db = self.db.write().unwrap_or_else(PoisonError::into_inner);
                // Closed first: the file is locked while a handle is open.
                *db = None;
                let reopened = (self.open)()?;
                tracing::warn!("the store file had an I/O error; opened it again");
                let outcome = begin(&reopened).map_err(io);
                *db = Some(reopened);
                outcome
            }
            other => other.map_err(io),
        }
    }

    fn begin_read(&self) -> Result<redb::ReadTransaction, StoreError> {
        self.begin(Database::begin_read)
    }

    fn begin_write(&self) -> Result<redb::WriteTransaction, StoreError> {
        self.begin(Database::begin_write)
    }

    fn read_revision(
        table: &impl ReadableTable<&'static str, u64>,
    ) -> Result<Revision, StoreError> {
        let rev = table.get(REVISION).map_err(io)?.map(|v| v.value()).unwrap_or(0);
        i64::try_from(rev).map_err(|_| StoreError::Corrupt(format!("revision {rev}")))
    }

    fn get(&self, key: &str) -> Result<(Option<KeyValue>, Revision), StoreError> {
        let r = self.begin_read()?;
        let kv = r.open_table(KV).map_err(io)?;
        let meta = r.open_table(META).map_err(io)?;
        let leased = r.open_table(LEASED).map_err(io)?;
        let value = match kv.get(key).map_err(io)? {
            Some(v) => Some(decode_kv(key, v.value(), lease_of(&leased, key)?)?),
            None => None,
        };
        Ok((value, Self::read_revision(&meta)?))
    }

    fn range(&self, prefix: &str) -> Result<RangeResponse, StoreError> {
        let r = self.begin_read()?;
        let kv = r.open_table(KV).map_err(io)?;
        let meta = r.open_table(META).map_err(io)?;
        let leased = r.open_table(LEASED).map_err(io)?;
        let mut kvs = Vec::new();
        for item in kv.range(prefix..).map_err(io)? {
            let (k, v) = item.map_err(io)?;
            let key = k.value();
            if !key.starts_with(prefix) {
                break;
            }
            kvs.push(decode_kv(key, v.value(), lease_of(&leased, key)?)?);
        }
        Ok(RangeResponse { kvs, revision: Self::read_revision(&meta)? })
    }

    fn txn(&self, txn: Txn, now: Instant) -> Result<TxnResponse, StoreError> {
        let _writer = self.write_lock.lock().unwrap_or_else(PoisonError::into_inner);
        let w = self.begin_write()?;
        let (succeeded, events) = {
            let mut kv = w.open_table(KV).map_err(io)?;
            let mut leased = w.open_table(LEASED).map_err(io)?;
            let next = Self::read_revision(&w.open_table(META).map_err(io)?)? + 1;
            let mut succeeded = true;
            for compare in &txn.compares {
                if !holds(&kv, compare)? {
                    succeeded = false;
                    break;
                }
            }
            let ops = if succeeded { &txn.success } else { &txn.failure };
            // A put under a lease that is gone fails the whole transaction, as etcd's does
            // (dropping the write transaction undoes it).
            for op in ops {
                if let Op::PutLeased { lease, .. } = op
                    && !self.lease_live(*lease, now)
                {
                    return Err(StoreError::LeaseExpired(*lease));
                }
            }
            (succeeded, apply(&mut kv, &mut leased, ops, next)?)
        };
        self.finish(w, succeeded, events)
    }

    /// Commits a write transaction that made `events` (aborts it if it made none) and hands
    /// them to live watchers.
    fn finish(
        &self,
        w: redb::WriteTransaction,
        succeeded: bool,
        events: Vec<Event>,
    ) -> Result<TxnResponse, StoreError> {
        let batch = {
            let mut meta = w.open_table(META).map_err(io)?;
            let revision = Self::read_revision(&meta)?;
            if events.is_empty() {
                None
            } else {
                let next = revision + 1;
                let next_u = u64::try_from(next).map_err(io)?;
                meta.insert(REVISION, next_u).map_err(io)?;
                let mut log = w.open_table(LOG).map_err(io)?;
                log.insert(next_u, encode_events(&events).as_slice()).map_err(io)?;
                if let Some(old) = next_u.checked_sub(self.options.history) {
                    log.remove(old).map_err(io)?;
                }
                Some(WatchBatch { revision: next, events })
            }
            .ok_or(revision)
        };
        match batch {
            Err(revision) => {
                w.abort().map_err(io)?;
                Ok(TxnResponse { succeeded, revision })
            }
            Ok(batch) => {
                w.commit().map_err(io)?;
                let revision = batch.revision;
                self.committed.store(revision, Ordering::SeqCst);
                // No live watcher is not an error.
                let _no_receivers = self.live.send(Arc::new(batch));
                Ok(TxnResponse { succeeded, revision })
            }
        }
    }

    /// Whether `lease` is live at `now`.
    fn lease_live(&self, lease: LeaseId, now: Instant) -> bool {
        let leases = self.leases.lock().unwrap_or_else(PoisonError::into_inner);
        leases.get(&lease).is_some_and(|(_, deadline)| *deadline > now)
    }

    /// Deletes, in one revision, every key held by a lease `which` selects.
    fn delete_leased(&self, which: impl Fn(LeaseId) -> bool) -> Result<(), StoreError> {
        let _writer = self.write_lock.lock().unwrap_or_else(PoisonError::into_inner);
        let w = self.begin_write()?;
        let events = {
            let mut kv = w.open_table(KV).map_err(io)?;
            let mut leased = w.open_table(LEASED).map_err(io)?;
            let next = Self::read_revision(&w.open_table(META).map_err(io)?)? + 1;
            let mut ops = Vec::new();
            for item in leased.iter().map_err(io)? {
                let (k, v) = item.map_err(io)?;
                if which(v.value()) {
                    ops.push(Op::delete(k.value()));
                }
            }
            apply(&mut kv, &mut leased, &ops, next)?
        };
        self.finish(w, true, events)?;
        Ok(())
    }

    /// The logged batches from `from` to the current revision, and the current revision.
    fn log_since(&self, from: Revision) -> Result<(Vec<WatchBatch>, Revision), StoreError> {
        let r = self.begin_read()?;
        let log = r.open_table(LOG).map_err(io)?;
        let meta = r.open_table(META).map_err(io)?;
        let current = Self::read_revision(&meta)?;
        if from > current {
            return Ok((Vec::new(), current));
        }
        let oldest = match log.first().map_err(io)? {
            Some((k, _)) => i64::try_from(k.value()).map_err(io)?,
            None => current + 1,
        };
        if from < oldest {
            return Err(StoreError::Compacted { requested: from, oldest });
        }
        let mut out = Vec::new();
        for item in log.range(u64::try_from(from).map_err(io)?..).map_err(io)? {
            let (k, v) = item.map_err(io)?;
            let revision = i64::try_from(k.value()).map_err(io)?;
            out.push(WatchBatch { revision, events: decode_events(revision, v.value())? });
        }
        Ok((out, current))
    }
}

#[async_trait]
impl Store for EmbeddedStore {
    async fn revision(&self) -> Result<Revision, StoreError> {
        // Every commit goes through this process: no read needed.
        Ok(self.inner.committed.load(Ordering::SeqCst))
    }

    async fn request_progress(&self) {
        self.inner.progress.send_modify(|n| *n = n.wrapping_add(1));
    }

    async fn get(&self, key: &str) -> Result<(Option<KeyValue>, Revision), StoreError> {
        let key = key.to_owned();
        self.blocking(move |inner| inner.get(&key)).await
    }

    async fn range(&self, prefix: &str) -> Result<RangeResponse, StoreError> {
        let prefix = prefix.to_owned();
        self.blocking(move |inner| inner.range(&prefix)).await
    }

    async fn txn(&self, txn: Txn) -> Result<TxnResponse, StoreError> {
        let now = Instant::now();
        self.blocking(move |inner| inner.txn(txn, now)).await
    }

    async fn grant(&self, ttl: Duration) -> Result<LeaseId, StoreError> {
        let ttl = Duration::from_secs(ttl.as_secs().max(1));
        let id = {
            let mut leases = self.inner.leases.lock().unwrap_or_else(PoisonError::into_inner);
            let mut id = random_lease_id()?;
            while leases.contains_key(&id) {
                id = random_lease_id()?;
            }
            leases.insert(id, (ttl, Instant::now() + ttl));
            id
        };
        if !self.inner.expiring.swap(true, Ordering::AcqRel) {
            tokio::spawn(expire(Arc::downgrade(&self.inner)));
        }
        Ok(id)
    }

    async fn keep_alive(&self, lease: LeaseId) -> Result<(), StoreError> {
        let now = Instant::now();
        let mut leases = self.inner.leases.lock().unwrap_or_else(PoisonError::into_inner);
        match leases.get_mut(&lease) {
            Some((ttl, deadline)) if *deadline > now => {
                *deadline = now + *ttl;
                Ok(())
            }
            _ => Err(StoreError::LeaseExpired(lease)),
        }
    }

    async fn revoke(&self, lease: LeaseId) -> Result<(), StoreError> {
        self.inner.leases.lock().unwrap_or_else(PoisonError::into_inner).remove(&lease);
        self.blocking(move |inner| inner.delete_leased(|l| l == lease)).await
    }

    async fn watch(&self, prefix: &str, start: Revision) -> Result<Box<dyn Watcher>, StoreError> {
        let live = self.inner.live.subscribe();
        let mut watcher = EmbeddedWatcher {
            store: self.clone(),
            prefix: prefix.to_owned(),
            next: start.max(1),
            live,
            pending: VecDeque::new(),
            progress: self.inner.progress.subscribe(),
            delivered: start.saturating_sub(1),
        };
        watcher.replay().await?;
        Ok(Box::new(watcher))
    }
}

/// A new lease id: random and positive (etcd's are positive too).
fn random_lease_id() -> Result<LeaseId, StoreError> {
    let mut bytes = [0_u8; 8];
    getrandom::fill(&mut bytes)
        .map_err(|e| StoreError::Unavailable(format!("no random numbers: {e}")))?;
    Ok((i64::from_le_bytes(bytes) & i64::MAX).max(1))
}

/// Deletes the keys of each lease that expires, while the store is open.
async fn expire(store: Weak<Inner>) {
    loop {
        let Some(inner) = store.upgrade() else { return };
        let now = Instant::now();
        let (expired, next) = {
            let mut leases = inner.leases.lock().unwrap_or_else(PoisonError::into_inner);
            let expired: Vec<LeaseId> =
                leases.iter().filter(|(_, (_, d))| *d <= now).map(|(id, _)| *id).collect();
            for id in &expired {
                leases.remove(id);
            }
            (expired, leases.values().map(|(_, d)| *d).min())
        };
        if !expired.is_empty() {
            let store = EmbeddedStore { inner };
            let deleted =
                store.blocking(move |inner| inner.delete_leased(|l| expired.contains(&l))).await;
            if let Err(e) = deleted {
                tracing::warn!("cannot delete the keys of expired leases: {e}");
            }
        }
        // Not holding the store while asleep: a dropped store ends the task at the next turn.
        let turn = now + Duration::from_secs(1);
        tokio::time::sleep_until(next.map_or(turn, |d| d.min(turn))).await;
    }
}

struct EmbeddedWatcher {
    store: EmbeddedStore,
    prefix: String,
    /// The next revision this watcher has not delivered or skipped.
    next: Revision,
    live: broadcast::Receiver<Arc<WatchBatch>>,
    pending: VecDeque<WatchBatch>,
    /// Changes when somebody wants a progress report.
    progress: tokio::sync::watch::Receiver<u64>,
    /// The revision of the last batch (or progress report) delivered.
    delivered: Revision,
}

impl EmbeddedWatcher {
    fn keep(&mut self, batch: &WatchBatch) {
        let events: Vec<Event> =
            batch.events.iter().filter(|e| e.key().starts_with(&self.prefix)).cloned().collect();
        if !events.is_empty() {
            self.pending.push_back(WatchBatch { revision: batch.revision, events });
        }
        self.next = batch.revision + 1;
    }

    /// Reads the log from `next` on (after a gap or a lag in the live channel).
    async fn replay(&mut self) -> Result<(), StoreError> {
        let from = self.next;
        let (batches, current) = self.store.blocking(move |inner| inner.log_since(from)).await?;
        for batch in &batches {
            self.keep(batch);
        }
        self.next = self.next.max(current + 1);
        Ok(())
    }
}

#[async_trait]
impl Watcher for EmbeddedWatcher {
    async fn next(&mut self) -> Result<WatchBatch, StoreError> {
        loop {
            if let Some(batch) = self.pending.pop_front() {
                self.delivered = batch.revision;
                return Ok(batch);
            }
            let received = tokio::select! {
                biased;
                received = self.live.recv() => received,
                changed = self.progress.changed() => {
                    // Every revision before `next` is delivered or was not under the prefix.
                    let at = self.next - 1;
                    if changed.is_ok() && at > self.delivered {
                        self.delivered = at;
                        return Ok(WatchBatch { revision: at, events: Vec::new() });
                    }
                    continue;
                }
            };
            match received {
                Ok(batch) if batch.revision < self.next => {}
                Ok(batch) if batch.revision == self.next => self.keep(&batch),
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => self.replay().await?,
                Err(broadcast::error::RecvError::Closed) => {
                    return Err(StoreError::Unavailable("the store was closed".into()));
                }
            }
        }
    }
}

/// Runs `ops` at revision `next` on the key table (and the table of leased keys); returns
/// the events they made.
fn apply(
    kv: &mut redb::Table<'_, &'static str, &'static [u8]>,
    leased: &mut redb::Table<'_, &'static str, i64>,
    ops: &[Op],
    next: Revision,
) -> Result<Vec<Event>, StoreError> {
    let mut events = Vec::new();
    for op in ops {
        match op {
            Op::Put { key, value } | Op::PutLeased { key, value, .. } => {
                let lease = match op {
                    Op::PutLeased { lease, .. } => *lease,
                    _ => 0,
                };
                let prev = kv.get(key.as_str()).map_err(io)?.map(|v| decode_kv(key, v.value(), 0));
                let prev = prev.transpose()?;
                let new = KeyValue {
                    key: key.clone(),
                    value: value.clone(),
                    create_revision: prev.as_ref().map_or(next, |p| p.create_revision),
                    mod_revision: next,
                    version: prev.as_ref().map_or(1, |p| p.version + 1),
                    lease,
                };
                kv.insert(key.as_str(), encode_kv(&new).as_slice()).map_err(io)?;
                if lease == 0 {
                    leased.remove(key.as_str()).map_err(io)?;
                } else {
                    leased.insert(key.as_str(), lease).map_err(io)?;
                }
                events.push(Event::Put(new));
            }
            Op::Delete { key } => {
                if kv.remove(key.as_str()).map_err(io)?.is_some() {
                    leased.remove(key.as_str()).map_err(io)?;
                    events.push(Event::Delete { key: key.clone(), mod_revision: next });
                }
            }
            Op::DeletePrefix { prefix } => {
                let mut keys = Vec::new();
                for item in kv.range(prefix.as_str()..).map_err(io)? {
                    let (k, _) = item.map_err(io)?;
                    if !k.value().starts_with(prefix.as_str()) {
                        break;
                    }
                    keys.push(k.value().to_owned());
                }
                for key in keys {
                    kv.remove(key.as_str()).map_err(io)?;
                    leased.remove(key.as_str()).map_err(io)?;
                    events.push(Event::Delete { key, mod_revision: next });
                }
            }
        }
    }
    Ok(events)
}

/// The lease `key` lives under (0: none).
fn lease_of(
    leased: &impl ReadableTable<&'static str, i64>,
    key: &str,
) -> Result<LeaseId, StoreError> {
    Ok(leased.get(key).map_err(io)?.map_or(0, |v| v.value()))
}

pub(crate) fn encode_kv(kv: &KeyValue) -> Vec<u8> {
    let mut out = Vec::with_capacity(24 + kv.value.len());
    out.extend_from_slice(&kv.create_revision.to_le_bytes());
    out.extend_from_slice(&kv.mod_revision.to_le_bytes());
    out.extend_from_slice(&kv.version.to_le_bytes());
    out.extend_from_slice(&kv.value);
    out
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("truncated {what}"))
}

pub(crate) fn decode_kv(key: &str, bytes: &[u8], lease: LeaseId) -> Result<KeyValue, StoreError> {
    let mut r = Reader(bytes);
    Ok(KeyValue {
        key: key.to_owned(),
        create_revision: r.i64().ok_or_else(|| corrupt("record"))?,
        mod_revision: r.i64().ok_or_else(|| corrupt("record"))?,
        version: r.i64().ok_or_else(|| corrupt("record"))?,
        value: r.0.to_vec(),
        lease,
    })
}

/// Log entry: per event, a tag (1 put, 2 delete, 3 put under a lease), the key, and for puts
/// the create revision, version, (tag 3) lease and value; lengths are u32 little-endian.
fn encode_events(events: &[Event]) -> Vec<u8> {
    let mut out = Vec::new();
    let bytes = |out: &mut Vec<u8>, b: &[u8]| {
        out.extend_from_slice(&u32::try_from(b.len()).unwrap_or(u32::MAX).to_le_bytes());
        out.extend_from_slice(b);
    };
    for event in events {
        match event {
            Event::Put(kv) => {
                out.push(if kv.lease == 0 { 1 } else { 3 });
                bytes(&mut out, kv.key.as_bytes());
                out.extend_from_slice(&kv.create_revision.to_le_bytes());
                out.extend_from_slice(&kv.version.to_le_bytes());
                if kv.lease != 0 {
                    out.extend_from_slice(&kv.lease.to_le_bytes());
                }
                bytes(&mut out, &kv.value);
            }
            Event::Delete { key, .. } => {
                out.push(2);
                bytes(&mut out, key.as_bytes());
            }
        }
    }
    out
}

fn decode_events(revision: Revision, bytes: &[u8]) -> Result<Vec<Event>, StoreError> {
    let mut r = Reader(bytes);
    let mut events = Vec::new();
    while !r.0.is_empty() {
        let tag = r.take(1).ok_or_else(|| corrupt("log entry"))?[0];
        let key = r.bytes().ok_or_else(|| corrupt("log key"))?;
        let key = String::from_utf8(key.to_vec())
            .map_err(|_| StoreError::Corrupt("log key is not UTF-8".into()))?;
        match tag {
            1 | 3 => {
                let create_revision = r.i64().ok_or_else(|| corrupt("log entry"))?;
                let version = r.i64().ok_or_else(|| corrupt("log entry"))?;
                let lease =
                    if tag == 3 { r.i64().ok_or_else(|| corrupt("log entry"))? } else { 0 };
                let value = r.bytes().ok_or_else(|| corrupt("log value"))?.to_vec();
                events.push(Event::Put(KeyValue {
                    key,
                    value,
                    create_revision,
                    mod_revision: revision,
                    version,
                    lease,
                }));
            }
            2 => events.push(Event::Delete { key, mod_revision: revision }),
            t => return Err(StoreError::Corrupt(format!("log event tag {t}"))),
        }
    }
    Ok(events)
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Some(head)
    }

    fn i64(&mut self) -> Option<i64> {
        Some(i64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    fn bytes(&mut self) -> Option<&'a [u8]> {
        let len = u32::from_le_bytes(self.take(4)?.try_into().ok()?);
        self.take(usize::try_from(len).ok()?)
    }
}

#[cfg(test)]
#[path = "embedded_tests.rs"]
mod tests;
