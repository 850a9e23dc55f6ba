//! The embedded backend: one redb file, one fsync per committed transaction.
//!
//! Tables: `kv` (key -> create revision, mod revision, version, value), `log` (revision -> the
//! events of that revision, kept for the last [`Options::history`] revisions so that watches can
//! start in the past, as etcd's do until compaction) and `meta` (the current revision). Writers
//! are serialized; after each commit the revision's events go to live watchers through a
//! broadcast channel, and a watcher that falls behind re-reads the log.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use tokio::sync::broadcast;

use crate::{
    Event, KeyValue, Op, RangeResponse, Revision, Store, StoreError, Txn, TxnResponse, WatchBatch,
    Watcher,
};

const KV: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("kv");
const LOG: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("log");
const META: TableDefinition<'_, &str, u64> = TableDefinition::new("meta");
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

struct Inner {
    db: Database,
    options: Options,
    /// Serializes writers so that live watchers see revisions in order.
    write_lock: Mutex<()>,
    live: broadcast::Sender<Arc<WatchBatch>>,
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
        let db =
            redb::Builder::new().set_cache_size(options.cache_bytes).create(path).map_err(|e| {
                match e {
                    redb::DatabaseError::DatabaseAlreadyOpen => StoreError::Unavailable(format!(
                        "{} is in use by another process",
                        path.display()
                    )),
                    e => StoreError::Unavailable(format!("cannot open {}: {e}", path.display())),
                }
            })?;
        // The store holds token digests and the whole configuration: owner only.
        std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .map_err(|e| StoreError::Io(format!("cannot restrict {}: {e}", path.display())))?;
        let w = db.begin_write().map_err(io)?;
        {
            w.open_table(KV).map_err(io)?;
            w.open_table(LOG).map_err(io)?;
            w.open_table(META).map_err(io)?;
        }
        w.commit().map_err(io)?;
        let (live, _) = broadcast::channel(LIVE_BUFFER);
        Ok(EmbeddedStore {
            inner: Arc::new(Inner { db, options, write_lock: Mutex::new(()), live }),
        })
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

impl Inner {
    fn read_revision(
        table: &impl ReadableTable<&'static str, u64>,
    ) -> Result<Revision, StoreError> {
        let rev = table.get(REVISION).map_err(io)?.map(|v| v.value()).unwrap_or(0);
        i64::try_from(rev).map_err(|_| StoreError::Corrupt(format!("revision {rev}")))
    }

    fn get(&self, key: &str) -> Result<(Option<KeyValue>, Revision), StoreError> {
        let r = self.db.begin_read().map_err(io)?;
        let kv = r.open_table(KV).map_err(io)?;
        let meta = r.open_table(META).map_err(io)?;
        let value = kv.get(key).map_err(io)?.map(|v| decode_kv(key, v.value())).transpose()?;
        Ok((value, Self::read_revision(&meta)?))
    }

    fn range(&self, prefix: &str) -> Result<RangeResponse, StoreError> {
        let r = self.db.begin_read().map_err(io)?;
        let kv = r.open_table(KV).map_err(io)?;
        let meta = r.open_table(META).map_err(io)?;
        let mut kvs = Vec::new();
        for item in kv.range(prefix..).map_err(io)? {
            let (k, v) = item.map_err(io)?;
            let key = k.value();
            if !key.starts_with(prefix) {
                break;
            }
            kvs.push(decode_kv(key, v.value())?);
        }
        Ok(RangeResponse { kvs, revision: Self::read_revision(&meta)? })
    }

    fn txn(&self, txn: Txn) -> Result<TxnResponse, StoreError> {
        let _writer = self.write_lock.lock().unwrap_or_else(PoisonError::into_inner);
        let w = self.db.begin_write().map_err(io)?;
        let (response, batch) = {
            let mut kv = w.open_table(KV).map_err(io)?;
            let mut log = w.open_table(LOG).map_err(io)?;
            let mut meta = w.open_table(META).map_err(io)?;
            let revision = Self::read_revision(&meta)?;
            let mut succeeded = true;
            for compare in &txn.compares {
                let current = kv
                    .get(compare.key.as_str())
                    .map_err(io)?
                    .map(|v| decode_kv(&compare.key, v.value()));
                let current = current.transpose()?;
                if !compare.holds(current.as_ref()) {
                    succeeded = false;
                    break;
                }
            }
            let ops = if succeeded { &txn.success } else { &txn.failure };
            let next = revision + 1;
            let mut events = Vec::new();
            for op in ops {
                match op {
                    Op::Put { key, value } => {
                        let prev =
                            kv.get(key.as_str()).map_err(io)?.map(|v| decode_kv(key, v.value()));
                        let prev = prev.transpose()?;
                        let new = KeyValue {
                            key: key.clone(),
                            value: value.clone(),
                            create_revision: prev.as_ref().map_or(next, |p| p.create_revision),
                            mod_revision: next,
                            version: prev.as_ref().map_or(1, |p| p.version + 1),
                        };
                        kv.insert(key.as_str(), encode_kv(&new).as_slice()).map_err(io)?;
                        events.push(Event::Put(new));
                    }
                    Op::Delete { key } => {
                        if kv.remove(key.as_str()).map_err(io)?.is_some() {
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
                            events.push(Event::Delete { key, mod_revision: next });
                        }
                    }
                }
            }
            if events.is_empty() {
                (TxnResponse { succeeded, revision }, None)
            } else {
                let next_u = u64::try_from(next).map_err(io)?;
                meta.insert(REVISION, next_u).map_err(io)?;
                log.insert(next_u, encode_events(&events).as_slice()).map_err(io)?;
                if let Some(old) = next_u.checked_sub(self.options.history) {
                    log.remove(old).map_err(io)?;
                }
                let batch = WatchBatch { revision: next, events };
                (TxnResponse { succeeded, revision: next }, Some(batch))
            }
        };
        match batch {
            None => {
                w.abort().map_err(io)?;
            }
            Some(batch) => {
                w.commit().map_err(io)?;
                // No live watcher is not an error.
                let _no_receivers = self.live.send(Arc::new(batch));
            }
        }
        Ok(response)
    }

    /// The logged batches from `from` to the current revision, and the current revision.
    fn log_since(&self, from: Revision) -> Result<(Vec<WatchBatch>, Revision), StoreError> {
        let r = self.db.begin_read().map_err(io)?;
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
    async fn get(&self, key: &str) -> Result<(Option<KeyValue>, Revision), StoreError> {
        let key = key.to_owned();
        self.blocking(move |inner| inner.get(&key)).await
    }

    async fn range(&self, prefix: &str) -> Result<RangeResponse, StoreError> {
        let prefix = prefix.to_owned();
        self.blocking(move |inner| inner.range(&prefix)).await
    }

    async fn txn(&self, txn: Txn) -> Result<TxnResponse, StoreError> {
        self.blocking(move |inner| inner.txn(txn)).await
    }

    async fn watch(&self, prefix: &str, start: Revision) -> Result<Box<dyn Watcher>, StoreError> {
        let live = self.inner.live.subscribe();
        let mut watcher = EmbeddedWatcher {
            store: self.clone(),
            prefix: prefix.to_owned(),
            next: start.max(1),
            live,
            pending: VecDeque::new(),
        };
        watcher.replay().await?;
        Ok(Box::new(watcher))
    }
}

struct EmbeddedWatcher {
    store: EmbeddedStore,
    prefix: String,
    /// The next revision this watcher has not delivered or skipped.
    next: Revision,
    live: broadcast::Receiver<Arc<WatchBatch>>,
    pending: VecDeque<WatchBatch>,
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
                return Ok(batch);
            }
            match self.live.recv().await {
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

fn encode_kv(kv: &KeyValue) -> Vec<u8> {
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

fn decode_kv(key: &str, bytes: &[u8]) -> Result<KeyValue, StoreError> {
    let mut r = Reader(bytes);
    Ok(KeyValue {
        key: key.to_owned(),
        create_revision: r.i64().ok_or_else(|| corrupt("record"))?,
        mod_revision: r.i64().ok_or_else(|| corrupt("record"))?,
        version: r.i64().ok_or_else(|| corrupt("record"))?,
        value: r.0.to_vec(),
    })
}

/// Log entry: per event, a tag (1 put, 2 delete), the key, and for puts the create revision,
/// version and value; lengths are u32 little-endian.
fn encode_events(events: &[Event]) -> Vec<u8> {
    let mut out = Vec::new();
    let bytes = |out: &mut Vec<u8>, b: &[u8]| {
        out.extend_from_slice(&u32::try_from(b.len()).unwrap_or(u32::MAX).to_le_bytes());
        out.extend_from_slice(b);
    };
    for event in events {
        match event {
            Event::Put(kv) => {
                out.push(1);
                bytes(&mut out, kv.key.as_bytes());
                out.extend_from_slice(&kv.create_revision.to_le_bytes());
                out.extend_from_slice(&kv.version.to_le_bytes());
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
            1 => {
                let create_revision = r.i64().ok_or_else(|| corrupt("log entry"))?;
                let version = r.i64().ok_or_else(|| corrupt("log entry"))?;
                let value = r.bytes().ok_or_else(|| corrupt("log value"))?.to_vec();
                events.push(Event::Put(KeyValue {
                    key,
                    value,
                    create_revision,
                    mod_revision: revision,
                    version,
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
