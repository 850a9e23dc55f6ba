//! The store: a revisioned key-value map shaped like etcd's KV API, so that the embedded backend
//! (redb, this crate) and the cluster backend (etcd, [`EtcdStore`]) are two implementations of
//! one trait.
//!
//! Semantics follow etcd v3: every write transaction that changes something gets the next
//! store-wide revision; each key carries its create revision, mod revision and version (0 when
//! absent, for comparisons); a transaction compares keys and then runs its success or failure
//! operations atomically; a watch delivers, in revision order, every change under a prefix from
//! a start revision on, one batch per revision; a lease lives while its holder renews it
//! within its time to live, and the keys put under it are deleted when it expires or is
//! revoked. The store knows nothing about zones or records: the key layout belongs to
//! `turnout-control`.

mod embedded;
mod etcd;
mod export;
mod replica;

use std::fmt;

use async_trait::async_trait;

pub use embedded::{EmbeddedStore, Options as EmbeddedOptions};
pub use etcd::{EtcdSecurity, EtcdStore, parse_endpoints};
pub use export::{EXPORT_FORMAT, EXPORT_VERSION, Export, ExportEntry};
pub use replica::{Replica, ReplicaMark};

/// A store-wide revision: 0 before the first write, then one more per writing transaction.
pub type Revision = i64;

/// A lease: keys put under it live while it does.
pub type LeaseId = i64;

/// One key and its value at some revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    /// The key.
    pub key: String,
    /// The value.
    pub value: Vec<u8>,
    /// The revision that created the key (since its last deletion).
    pub create_revision: Revision,
    /// The revision that last wrote it.
    pub mod_revision: Revision,
    /// Writes since creation, 1 for a new key.
    pub version: i64,
    /// The lease it lives under (0: none).
    pub lease: LeaseId,
}

/// What a comparison looks at; an absent key has version, create and mod revision 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The key's mod revision.
    ModRevision(Revision),
    /// The key's create revision.
    CreateRevision(Revision),
    /// The key's version.
    Version(i64),
    /// The key's value (an absent key never matches).
    Value(Vec<u8>),
}

/// How a comparison compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    /// `==`.
    Equal,
    /// `!=`.
    NotEqual,
    /// `>`.
    Greater,
    /// `<`.
    Less,
}

/// One guard of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compare {
    /// The key.
    pub key: String,
    /// What to look at, and the operand.
    pub target: Target,
    /// The comparison.
    pub op: CompareOp,
    /// Compare every key that starts with `key` instead of `key` alone: the guard holds when
    /// it holds for each of them, or, when there is none, for an absent key (etcd's range
    /// compare).
    pub prefix: bool,
}

impl Compare {
    /// The key's mod revision equals `revision` (0: the key is absent).
    pub fn mod_revision(key: impl Into<String>, revision: Revision) -> Self {
        Compare {
            key: key.into(),
            target: Target::ModRevision(revision),
            op: CompareOp::Equal,
            prefix: false,
        }
    }

    /// No key under `prefix` was written after `revision` (a key created or changed since
    /// fails it; a key deleted since does not).
    pub fn unchanged_since(prefix: impl Into<String>, revision: Revision) -> Self {
        Compare {
            key: prefix.into(),
            target: Target::ModRevision(revision.saturating_add(1)),
            op: CompareOp::Less,
            prefix: true,
        }
    }

    /// The key is absent.
    pub fn absent(key: impl Into<String>) -> Self {
        Compare { key: key.into(), target: Target::Version(0), op: CompareOp::Equal, prefix: false }
    }

    /// Whether `kv` (None: absent) satisfies this comparison.
    pub fn holds(&self, kv: Option<&KeyValue>) -> bool {
        use std::cmp::Ordering;
        let ordering = match &self.target {
            Target::ModRevision(r) => kv.map_or(0, |kv| kv.mod_revision).cmp(r),
            Target::CreateRevision(r) => kv.map_or(0, |kv| kv.create_revision).cmp(r),
            Target::Version(v) => kv.map_or(0, |kv| kv.version).cmp(v),
            Target::Value(v) => match kv {
                Some(kv) => kv.value.as_slice().cmp(v.as_slice()),
                None => return false,
            },
        };
        match self.op {
            CompareOp::Equal => ordering == Ordering::Equal,
            CompareOp::NotEqual => ordering != Ordering::Equal,
            CompareOp::Greater => ordering == Ordering::Greater,
            CompareOp::Less => ordering == Ordering::Less,
        }
    }
}

/// A write inside a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Sets a key.
    Put {
        /// The key.
        key: String,
        /// The value.
        value: Vec<u8>,
    },
    /// Sets a key under a lease: it is deleted when the lease expires or is revoked. The
    /// transaction fails with [`StoreError::LeaseExpired`], changing nothing, if the lease
    /// is gone. A later plain put of the key detaches it from the lease.
    PutLeased {
        /// The key.
        key: String,
        /// The value.
        value: Vec<u8>,
        /// The lease.
        lease: LeaseId,
    },
    /// Removes a key (nothing if absent).
    Delete {
        /// The key.
        key: String,
    },
    /// Removes every key starting with the prefix.
    DeletePrefix {
        /// The prefix.
        prefix: String,
    },
}

impl Op {
    /// A put.
    pub fn put(key: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        Op::Put { key: key.into(), value: value.into() }
    }

    /// A put under a lease.
    pub fn put_leased(key: impl Into<String>, value: impl Into<Vec<u8>>, lease: LeaseId) -> Self {
        Op::PutLeased { key: key.into(), value: value.into(), lease }
    }

    /// A delete.
    pub fn delete(key: impl Into<String>) -> Self {
        Op::Delete { key: key.into() }
    }
}

/// A transaction: if every comparison holds, the success operations run, else the failure ones;
/// all at one revision, atomically and durably.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Txn {
    /// The guards.
    pub compares: Vec<Compare>,
    /// Run when every guard holds.
    pub success: Vec<Op>,
    /// Run otherwise.
    pub failure: Vec<Op>,
}

/// The outcome of a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxnResponse {
    /// Whether every comparison held.
    pub succeeded: bool,
    /// The store's revision after the transaction (its own revision if it wrote anything).
    pub revision: Revision,
}

/// Keys under a prefix at one revision.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RangeResponse {
    /// The keys, in byte order.
    pub kvs: Vec<KeyValue>,
    /// The revision this view is consistent with.
    pub revision: Revision,
}

/// A change seen by a watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The key was written; its new value.
    Put(KeyValue),
    /// The key was removed.
    Delete {
        /// The key.
        key: String,
        /// The revision of the removal.
        mod_revision: Revision,
    },
}

impl Event {
    /// The key concerned.
    pub fn key(&self) -> &str {
        match self {
            Event::Put(kv) => &kv.key,
            Event::Delete { key, .. } => key,
        }
    }
}

/// Every change of one revision under a watched prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchBatch {
    /// The revision.
    pub revision: Revision,
    /// The changes, in the order the transaction made them.
    pub events: Vec<Event>,
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store cannot be reached or opened.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The store's data is not what this version can read.
    #[error("store data is corrupt or from an unknown format: {0}")]
    Corrupt(String),
    /// The watch start revision was compacted away; re-read and watch from the new revision.
    #[error("revision {requested} is compacted (the oldest available is {oldest})")]
    Compacted {
        /// The revision asked for.
        requested: Revision,
        /// The oldest revision still available.
        oldest: Revision,
    },
    /// An import into a store that holds data.
    #[error("the store is not empty ({0} keys); import needs an empty store")]
    NotEmpty(usize),
    /// The lease has expired or was revoked (its keys are gone); grant a new one.
    #[error("lease {0:x} has expired or was revoked")]
    LeaseExpired(LeaseId),
    /// Reading or writing the store's files failed.
    #[error("store I/O error: {0}")]
    Io(String),
}

/// A stream of watch batches.
#[async_trait]
pub trait Watcher: Send {
    /// The next batch, in revision order. An error ends the watch. A batch with no events
    /// reports progress (see [`Store::request_progress`]): every change up to its revision
    /// has been delivered.
    async fn next(&mut self) -> Result<WatchBatch, StoreError>;
}

/// The store trait: etcd's KV and Watch, reduced to what Turnout uses.
#[async_trait]
pub trait Store: Send + Sync + fmt::Debug {
    /// One key (None if absent) and the store revision of the read.
    async fn get(&self, key: &str) -> Result<(Option<KeyValue>, Revision), StoreError>;

    /// The store's current revision, as a linearizable read: every write acknowledged before
    /// the call is at or below it.
    async fn revision(&self) -> Result<Revision, StoreError> {
        // Any key: a read carries the revision it was served at.
        Ok(self.get("/").await?.1)
    }

    /// Which cluster this is (etcd: its cluster ID), so that a copy of it kept elsewhere
    /// ([`Replica`]) is never taken for a copy of another. Empty for a store only this
    /// process opens.
    async fn cluster_id(&self) -> Result<String, StoreError> {
        Ok(String::new())
    }

    /// Whether the store still has every change from revision `from` on, so that a watch from
    /// it would miss none (etcd: not compacted past it). False when it cannot tell.
    async fn has_history(&self, from: Revision) -> Result<bool, StoreError> {
        let _ = from;
        Ok(false)
    }

    /// Every key starting with `prefix`, in byte order, from one consistent view.
    async fn range(&self, prefix: &str) -> Result<RangeResponse, StoreError>;

    /// Every key starting with `prefix`, as [`Store::range`] reads it, handed to `part` a part
    /// at a time in key order as the store delivers them (etcd: page by page), so that the
    /// caller works on one part while the next is read. Returns the revision of the view;
    /// after an error, what was handed over is not a whole view.
    async fn range_pages(
        &self,
        prefix: &str,
        part: &(dyn Fn(Vec<KeyValue>) + Send + Sync),
    ) -> Result<Revision, StoreError> {
        let range = self.range(prefix).await?;
        part(range.kvs);
        Ok(range.revision)
    }

    /// Runs a transaction atomically; returns once it is durable.
    async fn txn(&self, txn: Txn) -> Result<TxnResponse, StoreError>;

    /// Writes `ops` (no guards) atomically, for a write that does the same when applied twice
    /// (puts of fixed values, deletes): a backend may send it again after an uncertain
    /// failure instead of recording how it ended (etcd's transaction marks). Returns the
    /// revision of the write.
    async fn write_repeatable(&self, ops: Vec<Op>) -> Result<Revision, StoreError> {
        Ok(self.txn(Txn { success: ops, ..Txn::default() }).await?.revision)
    }

    /// Watches `prefix` from `start` (inclusive). A start older than the retained history
    /// fails with [`StoreError::Compacted`].
    async fn watch(&self, prefix: &str, start: Revision) -> Result<Box<dyn Watcher>, StoreError>;

    /// Grants a lease that lives for `ttl` (whole seconds, at least one) unless renewed.
    async fn grant(&self, ttl: std::time::Duration) -> Result<LeaseId, StoreError>;

    /// Renews a lease for its whole time to live; [`StoreError::LeaseExpired`] if it is gone.
    async fn keep_alive(&self, lease: LeaseId) -> Result<(), StoreError>;

    /// Ends a lease now, deleting its keys in one revision (nothing if it is already gone).
    async fn revoke(&self, lease: LeaseId) -> Result<(), StoreError>;

    /// Asks this store's watches to report how far they have delivered: each sends an empty
    /// batch at a revision up to which it has delivered every change, writes it never sees
    /// included (other prefixes; etcd's expiring marks). A writer waiting for its state to
    /// reach a revision read from the store needs it. The embedded store reports its current
    /// revision; etcd writes a key of its own under each watched prefix, which reads never
    /// show, and reports that write's revision once its event arrives.
    async fn request_progress(&self);

    /// Every key and the revision, for backups and format upgrades.
    async fn export(&self) -> Result<Export, StoreError> {
        let range = self.range("").await?;
        Export::from_range(&range)
    }

    /// Loads an export into an empty store, in one transaction.
    async fn import(&self, export: &Export) -> Result<TxnResponse, StoreError> {
        let existing = self.range("").await?;
        if !existing.kvs.is_empty() {
            return Err(StoreError::NotEmpty(existing.kvs.len()));
        }
        let mut compares = Vec::new();
        let mut success = Vec::new();
        for entry in &export.entries {
            compares.push(Compare::absent(entry.key.clone()));
            success.push(Op::put(entry.key.clone(), entry.value.clone().into_bytes()));
        }
        let response = self.txn(Txn { compares, success, failure: Vec::new() }).await?;
        if !response.succeeded {
            return Err(StoreError::NotEmpty(0));
        }
        Ok(response)
    }
}
