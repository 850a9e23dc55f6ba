use std::time::Duration;

use super::*;
use crate::{Compare, Export};

fn open(dir: &tempfile::TempDir) -> EmbeddedStore {
    EmbeddedStore::open(
        &dir.path().join("store.redb"),
        Options { history: 5, ..Options::default() },
    )
    .unwrap()
}

async fn put(store: &EmbeddedStore, key: &str, value: &str) -> Revision {
    let r = store.txn(Txn { success: vec![Op::put(key, value)], ..Txn::default() }).await.unwrap();
    assert!(r.succeeded);
    r.revision
}

#[tokio::test]
async fn revisions_versions_and_compare_and_swap() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    assert_eq!(store.get("a").await.unwrap(), (None, 0));
    assert_eq!(put(&store, "a", "1").await, 1);
    assert_eq!(put(&store, "a", "2").await, 2);
    assert_eq!(put(&store, "b", "x").await, 3);
    let (a, rev) = store.get("a").await.unwrap();
    let a = a.unwrap();
    assert_eq!(
        (a.value.as_slice(), a.create_revision, a.mod_revision, a.version, rev),
        (&b"2"[..], 1, 2, 2, 3)
    );
    // A stale guard fails and runs the failure branch; nothing else changes.
    let r = store
        .txn(Txn {
            compares: vec![Compare::mod_revision("a", 1)],
            success: vec![Op::put("a", "3")],
            failure: vec![],
        })
        .await
        .unwrap();
    assert_eq!((r.succeeded, r.revision), (false, 3));
    assert_eq!(store.get("a").await.unwrap().0.unwrap().value, b"2");
    let r = store
        .txn(Txn {
            compares: vec![Compare::mod_revision("a", 2), Compare::absent("c")],
            success: vec![Op::put("a", "3"), Op::put("c", "c"), Op::delete("b")],
            failure: vec![],
        })
        .await
        .unwrap();
    assert_eq!((r.succeeded, r.revision), (true, 4));
    let range = store.range("").await.unwrap();
    let keys: Vec<&str> = range.kvs.iter().map(|kv| kv.key.as_str()).collect();
    assert_eq!((keys, range.revision), (vec!["a", "c"], 4));
}

#[tokio::test]
async fn survives_reopen_and_refuses_a_second_opener() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(&dir);
        put(&store, "p/1", "one").await;
        put(&store, "p/2", "two").await;
        put(&store, "q", "three").await;
        let err =
            EmbeddedStore::open(&dir.path().join("store.redb"), Options::default()).unwrap_err();
        assert!(matches!(err, StoreError::Unavailable(_)), "{err}");
    }
    let store = open(&dir);
    let range = store.range("p/").await.unwrap();
    assert_eq!(range.kvs.len(), 2);
    assert_eq!(range.revision, 3);
}

#[tokio::test]
async fn watch_replays_history_then_follows_live_writes() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    put(&store, "p/a", "1").await;
    put(&store, "other", "x").await;
    put(&store, "p/b", "2").await;
    let mut w = store.watch("p/", 2).await.unwrap();
    let b = w.next().await.unwrap();
    assert_eq!((b.revision, b.events.len(), b.events[0].key()), (3, 1, "p/b"));
    let s2 = store.clone();
    tokio::spawn(async move {
        s2.txn(Txn { success: vec![Op::DeletePrefix { prefix: "p/".into() }], ..Txn::default() })
            .await
            .unwrap();
    });
    let b = tokio::time::timeout(Duration::from_secs(10), w.next()).await.unwrap().unwrap();
    assert_eq!(b.revision, 4);
    assert!(b.events.iter().all(|e| matches!(e, Event::Delete { .. })));
    assert_eq!(b.events.len(), 2);
}

#[tokio::test]
async fn compacted_history_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    for i in 0..10 {
        put(&store, "k", &i.to_string()).await;
    }
    let err = store.watch("", 2).await.err().unwrap();
    assert!(matches!(err, StoreError::Compacted { requested: 2, oldest: 6 }), "{err}");
    store.watch("", 6).await.unwrap();
}

#[tokio::test]
async fn export_import_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    put(&store, "a", "{\"x\":1}").await;
    put(&store, "b", "two").await;
    let export = store.export().await.unwrap();
    let text = serde_json::to_string(&export).unwrap();
    let parsed = Export::parse(&text).unwrap();
    let dir2 = tempfile::tempdir().unwrap();
    let copy = open(&dir2);
    copy.import(&parsed).await.unwrap();
    let again = copy.export().await.unwrap();
    assert_eq!(again.entries, export.entries);
    assert!(matches!(copy.import(&parsed).await, Err(StoreError::NotEmpty(2))));
    assert!(
        Export::parse("{\"format\":\"x\",\"version\":1,\"revision\":0,\"entries\":[]}").is_err()
    );
}

/// An in-memory disk that can fill up: writes and growth fail with "no space left" while
/// `full` is set.
#[derive(Debug)]
struct Disk {
    data: Arc<redb::backends::InMemoryBackend>,
    full: Arc<AtomicBool>,
}

impl Disk {
    fn check(&self) -> std::io::Result<()> {
        if self.full.load(Ordering::SeqCst) {
            return Err(std::io::Error::from(std::io::ErrorKind::StorageFull));
        }
        Ok(())
    }
}

impl redb::StorageBackend for Disk {
    fn len(&self) -> std::io::Result<u64> {
        self.data.len()
    }
    fn read(&self, offset: u64, out: &mut [u8]) -> std::io::Result<()> {
        self.data.read(offset, out)
    }
    fn set_len(&self, len: u64) -> std::io::Result<()> {
        self.check()?;
        self.data.set_len(len)
    }
    fn sync_data(&self) -> std::io::Result<()> {
        self.check()?;
        self.data.sync_data()
    }
    fn write(&self, offset: u64, data: &[u8]) -> std::io::Result<()> {
        self.check()?;
        self.data.write(offset, data)
    }
}

#[tokio::test]
async fn after_a_full_disk_the_store_recovers_by_itself() {
    let data = Arc::new(redb::backends::InMemoryBackend::new());
    let full = Arc::new(AtomicBool::new(false));
    let (d, f) = (data.clone(), full.clone());
    let open: Opener = Box::new(move || {
        redb::Builder::new()
            .create_with_backend(Disk { data: d.clone(), full: f.clone() })
            .map_err(|e| StoreError::Unavailable(e.to_string()))
    });
    let db = open().unwrap();
    let store = EmbeddedStore::with_database(db, open, Options::default()).unwrap();
    put(&store, "a", "1").await;
    // The disk fills up: writes fail, and keep failing while it is full; reads go on.
    full.store(true, Ordering::SeqCst);
    let big = "x".repeat(1 << 20);
    for key in ["b", "c"] {
        let err =
            store.txn(Txn { success: vec![Op::put(key, big.clone())], ..Txn::default() }).await;
        assert!(err.is_err(), "{key}: {err:?}");
    }
    // Space is back: the next write goes through, with no restart, and nothing of the
    // failed ones is there.
    full.store(false, Ordering::SeqCst);
    let r = store.txn(Txn { success: vec![Op::put("d", "4")], ..Txn::default() }).await.unwrap();
    assert!(r.succeeded);
    assert_eq!(store.get("a").await.unwrap().0.unwrap().value, b"1");
    assert_eq!(store.get("d").await.unwrap().0.unwrap().value, b"4");
    assert!(store.get("b").await.unwrap().0.is_none() && store.get("c").await.unwrap().0.is_none());
}

#[test]
fn an_empty_file_left_by_a_first_start_does_not_block_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    std::fs::write(&path, b"").unwrap();
    EmbeddedStore::open(&path, Options::default()).unwrap();
}
