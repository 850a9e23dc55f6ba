//! A node's local replica of a remote store (etcd): every key under the watched prefix with
//! its revisions and lease, as of one revision of one cluster, in a redb file of the data
//! directory (docs/cluster.md, "When etcd is gone").
//!
//! The node keeps it current from the watch it follows anyway (a write per batch of changes,
//! made durable at most once a second), so that it can restart without reading the whole store
//! (resume from the replica's revision, when the store still has the history after it) and
//! start while the store is unreachable.
//!
//! Tables: `kv` (key -> lease, create revision, mod revision, version, value) and `meta`
//! (`revision` and `cluster`: the mark). A rewrite clears the mark first and sets it last, in
//! commits that are durable only at the end: a crash in between leaves the previous replica,
//! or (after a clear that reached the disk) one without a mark, which is never used.

use std::path::{Path, PathBuf};

use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};

use crate::embedded::{decode_kv, encode_kv};
use crate::{Event, KeyValue, Revision, StoreError, WatchBatch};

const KV: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("kv");
const META: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("meta");
const REVISION: &str = "revision";
const CLUSTER: &str = "cluster";
/// Keys handed over at a time by [`Replica::read_pages`].
const PAGE: usize = 50_000;
/// redb's page cache: the replica is read in full only at start.
const CACHE_BYTES: usize = 16 * 1024 * 1024;

/// What a replica is a copy of: the store's revision and cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaMark {
    /// Every change up to this revision is in the replica, none after it.
    pub revision: Revision,
    /// The store's cluster ([`crate::Store::cluster_id`]).
    pub cluster: String,
}

/// The replica file.
pub struct Replica {
    db: Database,
    path: PathBuf,
}

impl std::fmt::Debug for Replica {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replica").field("path", &self.path).finish_non_exhaustive()
    }
}

fn io(path: &Path) -> impl Fn(&dyn std::fmt::Display) -> StoreError + '_ {
    move |e| StoreError::Io(format!("replica {}: {e}", path.display()))
}

impl Replica {
    /// Opens (or creates, mode 0600: it holds token digests) the replica at `path`.
    pub fn open(path: &Path) -> Result<Replica, StoreError> {
        let fail = io(path);
        // A file a start left empty (a full disk) is no replica.
        if std::fs::metadata(path).is_ok_and(|m| m.len() == 0) {
            std::fs::remove_file(path).map_err(|e| fail(&e))?;
        }
        let db = redb::Builder::new()
            .set_cache_size(CACHE_BYTES)
            .create(path)
            .map_err(|e| StoreError::Unavailable(format!("replica {}: {e}", path.display())))?;
        std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .map_err(|e| fail(&e))?;
        let w = db.begin_write().map_err(|e| fail(&e))?;
        w.open_table(KV).map_err(|e| fail(&e))?;
        w.open_table(META).map_err(|e| fail(&e))?;
        w.commit().map_err(|e| fail(&e))?;
        Ok(Replica { db, path: path.to_owned() })
    }

    /// Its file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What it is a copy of; `None` when it holds no complete copy (new, or a rewrite was
    /// interrupted).
    pub fn mark(&self) -> Result<Option<ReplicaMark>, StoreError> {
        let fail = io(&self.path);
        let r = self.db.begin_read().map_err(|e| fail(&e))?;
        let meta = r.open_table(META).map_err(|e| fail(&e))?;
        read_mark(&meta, &self.path)
    }

    /// Every key, in key order, handed to `part` a page at a time; the mark they are a copy
    /// of (`None`: nothing is handed over).
    pub fn read_pages(
        &self,
        part: &mut dyn FnMut(Vec<KeyValue>),
    ) -> Result<Option<ReplicaMark>, StoreError> {
        let fail = io(&self.path);
        let r = self.db.begin_read().map_err(|e| fail(&e))?;
        let meta = r.open_table(META).map_err(|e| fail(&e))?;
        let Some(mark) = read_mark(&meta, &self.path)? else { return Ok(None) };
        let kv = r.open_table(KV).map_err(|e| fail(&e))?;
        let mut page = Vec::with_capacity(PAGE);
        for item in kv.iter().map_err(|e| fail(&e))? {
            let (k, v) = item.map_err(|e| fail(&e))?;
            page.push(decode(k.value(), v.value())?);
            if page.len() == PAGE {
                part(std::mem::replace(&mut page, Vec::with_capacity(PAGE)));
            }
        }
        if !page.is_empty() {
            part(page);
        }
        Ok(Some(mark))
    }

    /// Starts a rewrite: clears every key and the mark (until [`Replica::finish_rewrite`],
    /// the replica is not used).
    pub fn begin_rewrite(&self) -> Result<(), StoreError> {
        let fail = io(&self.path);
        let mut w = self.db.begin_write().map_err(|e| fail(&e))?;
        w.set_durability(Durability::None).map_err(|e| fail(&e))?;
        w.delete_table(KV).map_err(|e| fail(&e))?;
        w.delete_table(META).map_err(|e| fail(&e))?;
        w.open_table(KV).map_err(|e| fail(&e))?;
        w.open_table(META).map_err(|e| fail(&e))?;
        w.commit().map_err(|e| fail(&e))
    }

    /// Adds keys to a rewrite.
    pub fn write_page(&self, kvs: &[KeyValue]) -> Result<(), StoreError> {
        let fail = io(&self.path);
        let mut w = self.db.begin_write().map_err(|e| fail(&e))?;
        w.set_durability(Durability::None).map_err(|e| fail(&e))?;
        {
            let mut table = w.open_table(KV).map_err(|e| fail(&e))?;
            for kv in kvs {
                table.insert(kv.key.as_str(), encode(kv).as_slice()).map_err(|e| fail(&e))?;
            }
        }
        w.commit().map_err(|e| fail(&e))
    }

    /// Ends a rewrite: the keys written since [`Replica::begin_rewrite`] are the store as of
    /// `mark`. Durable when it returns.
    pub fn finish_rewrite(&self, mark: &ReplicaMark) -> Result<(), StoreError> {
        let fail = io(&self.path);
        let w = self.db.begin_write().map_err(|e| fail(&e))?;
        {
            let mut meta = w.open_table(META).map_err(|e| fail(&e))?;
            write_mark(&mut meta, mark).map_err(|e| fail(&e))?;
        }
        w.commit().map_err(|e| fail(&e))
    }

    /// Applies watch batches in revision order, skipping those at or below the replica's
    /// revision (an empty batch moves the revision on: every change up to it was delivered).
    /// Durable when `durable`; else a crash may lose it (the replica is then older, still
    /// whole). Returns the replica's revision after it; `None` (nothing applied) when it holds
    /// no complete copy.
    pub fn apply(
        &self,
        batches: &[WatchBatch],
        durable: bool,
    ) -> Result<Option<Revision>, StoreError> {
        let fail = io(&self.path);
        let mut w = self.db.begin_write().map_err(|e| fail(&e))?;
        if !durable {
            w.set_durability(Durability::None).map_err(|e| fail(&e))?;
        }
        let revision = {
            let mut meta = w.open_table(META).map_err(|e| fail(&e))?;
            let Some(mut mark) = read_mark(&meta, &self.path)? else { return Ok(None) };
            let mut table = w.open_table(KV).map_err(|e| fail(&e))?;
            let from = mark.revision;
            for batch in batches.iter().filter(|b| b.revision > from) {
                for event in &batch.events {
                    match event {
                        Event::Put(kv) => {
                            let value = encode(kv);
                            table
                                .insert(kv.key.as_str(), value.as_slice())
                                .map_err(|e| fail(&e))?;
                        }
                        Event::Delete { key, .. } => {
                            table.remove(key.as_str()).map_err(|e| fail(&e))?;
                        }
                    }
                }
                mark.revision = batch.revision;
            }
            write_mark(&mut meta, &mark).map_err(|e| fail(&e))?;
            mark.revision
        };
        w.commit().map_err(|e| fail(&e))?;
        Ok(Some(revision))
    }
}

fn read_mark(
    meta: &impl ReadableTable<&'static str, &'static [u8]>,
    path: &Path,
) -> Result<Option<ReplicaMark>, StoreError> {
    let fail = io(path);
    let revision = meta.get(REVISION).map_err(|e| fail(&e))?;
    let cluster = meta.get(CLUSTER).map_err(|e| fail(&e))?;
    let (Some(revision), Some(cluster)) = (revision, cluster) else { return Ok(None) };
    let revision = <[u8; 8]>::try_from(revision.value())
        .map(i64::from_le_bytes)
        .map_err(|_| StoreError::Corrupt(format!("replica {}: revision", path.display())))?;
    let cluster = String::from_utf8(cluster.value().to_vec())
        .map_err(|_| StoreError::Corrupt(format!("replica {}: cluster", path.display())))?;
    Ok(Some(ReplicaMark { revision, cluster }))
}

fn write_mark(
    meta: &mut redb::Table<'_, &'static str, &'static [u8]>,
    mark: &ReplicaMark,
) -> Result<(), redb::StorageError> {
    meta.insert(REVISION, mark.revision.to_le_bytes().as_slice())?;
    meta.insert(CLUSTER, mark.cluster.as_bytes())?;
    Ok(())
}

/// The lease, then the embedded store's record (revisions, version, value).
fn encode(kv: &KeyValue) -> Vec<u8> {
    let mut out = kv.lease.to_le_bytes().to_vec();
    out.extend_from_slice(&encode_kv(kv));
    out
}

fn decode(key: &str, bytes: &[u8]) -> Result<KeyValue, StoreError> {
    let Some((lease, rest)) = bytes.split_first_chunk::<8>() else {
        return Err(StoreError::Corrupt(format!("replica record {key:?} is truncated")));
    };
    decode_kv(key, rest, i64::from_le_bytes(*lease))
        .map_err(|e| StoreError::Corrupt(format!("replica record {key:?}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(key: &str, value: &str, rev: Revision, lease: i64) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: value.as_bytes().to_vec(),
            create_revision: rev,
            mod_revision: rev,
            version: 1,
            lease,
        }
    }

    fn all(replica: &Replica) -> (Option<ReplicaMark>, Vec<KeyValue>) {
        let mut kvs = Vec::new();
        let mark = replica.read_pages(&mut |page| kvs.extend(page)).unwrap();
        (mark, kvs)
    }

    #[test]
    fn a_rewrite_then_batches_are_read_back_and_an_unfinished_rewrite_is_no_copy() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("replica.redb");
        let replica = Replica::open(&path).unwrap();
        assert_eq!(all(&replica), (None, Vec::new()), "a new replica is no copy");
        let mark = ReplicaMark { revision: 7, cluster: "c1".into() };
        // Batches before any copy change nothing.
        let early = WatchBatch { revision: 8, events: vec![Event::Put(kv("/t/x", "x", 8, 0))] };
        assert_eq!(replica.apply(std::slice::from_ref(&early), true).unwrap(), None);

        replica.begin_rewrite().unwrap();
        replica.write_page(&[kv("/t/a", "a", 3, 0), kv("/t/b", "b", 5, 9)]).unwrap();
        assert_eq!(replica.mark().unwrap(), None, "unfinished");
        replica.write_page(&[kv("/t/c", "c", 7, 0)]).unwrap();
        replica.finish_rewrite(&mark).unwrap();
        let (got, kvs) = all(&replica);
        assert_eq!(got, Some(mark.clone()));
        assert_eq!(kvs, vec![kv("/t/a", "a", 3, 0), kv("/t/b", "b", 5, 9), kv("/t/c", "c", 7, 0)]);

        // A batch at or below the mark is skipped; later ones apply, an empty one moves on.
        let stale = WatchBatch { revision: 7, events: vec![Event::Put(kv("/t/z", "z", 7, 0))] };
        let later = WatchBatch {
            revision: 9,
            events: vec![
                Event::Delete { key: "/t/a".into(), mod_revision: 9 },
                Event::Put(kv("/t/b", "b2", 9, 0)),
            ],
        };
        let progress = WatchBatch { revision: 12, events: Vec::new() };
        assert_eq!(replica.apply(&[stale, later, progress], true).unwrap(), Some(12));
        drop(replica);
        let replica = Replica::open(&path).unwrap();
        let (got, kvs) = all(&replica);
        assert_eq!(got, Some(ReplicaMark { revision: 12, cluster: "c1".into() }));
        assert_eq!(kvs, vec![kv("/t/b", "b2", 9, 0), kv("/t/c", "c", 7, 0)]);

        // A rewrite that does not finish leaves no copy, even across a reopen.
        replica.begin_rewrite().unwrap();
        replica.write_page(&[kv("/t/q", "q", 20, 0)]).unwrap();
        drop(replica);
        let replica = Replica::open(&path).unwrap();
        let (got, _) = all(&replica);
        assert!(got.as_ref().is_none_or(|m| m.revision == 12), "the old copy or none: {got:?}");
    }

    #[test]
    fn a_damaged_record_is_an_error_naming_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let replica = Replica::open(&dir.path().join("r.redb")).unwrap();
        let w = replica.db.begin_write().unwrap();
        w.open_table(KV).unwrap().insert("/t/bad", [1u8; 12].as_slice()).unwrap();
        write_mark(
            &mut w.open_table(META).unwrap(),
            &ReplicaMark { revision: 1, cluster: "c".into() },
        )
        .unwrap();
        w.commit().unwrap();
        let e = replica.read_pages(&mut |_| {}).unwrap_err();
        assert!(e.to_string().contains("/t/bad"), "{e}");
    }
}
