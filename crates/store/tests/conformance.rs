//! One behaviour for both backends: the same suite against the embedded store and against a
//! real etcd cluster (three members on loopback, Debian's etcd-server).
#![allow(clippy::unwrap_used)] // A panic is how a test fails.

use std::time::Duration;

use turnout_store::{
    Compare, CompareOp, EmbeddedOptions, EmbeddedStore, EtcdStore, Event, Op, Store, StoreError,
    Target, Txn,
};

fn put(key: &str, value: &str) -> Op {
    Op::put(key, value.as_bytes().to_vec())
}

async fn txn(
    s: &dyn Store,
    compares: Vec<Compare>,
    success: Vec<Op>,
    failure: Vec<Op>,
) -> (bool, i64) {
    let r = s.txn(Txn { compares, success, failure }).await.unwrap();
    (r.succeeded, r.revision)
}

async fn suite(s: &dyn Store) {
    // Absent keys, then a guarded create.
    assert!(s.get("/t/a").await.unwrap().0.is_none());
    let (ok, r1) =
        txn(s, vec![Compare::absent("/t/a")], vec![put("/t/a", "1"), put("/t/b", "2")], vec![])
            .await;
    assert!(ok);
    let (kv, _) = s.get("/t/a").await.unwrap();
    let kv = kv.unwrap();
    assert_eq!(
        (kv.value.as_slice(), kv.mod_revision, kv.create_revision, kv.version),
        (&b"1"[..], r1, r1, 1)
    );
    // A failed guard runs the failure ops only.
    let (ok, r2) =
        txn(s, vec![Compare::absent("/t/a")], vec![put("/t/a", "x")], vec![put("/t/c", "3")]).await;
    assert!(!ok && r2 > r1);
    assert_eq!(s.get("/t/a").await.unwrap().0.unwrap().value, b"1");
    assert_eq!(s.get("/t/c").await.unwrap().0.unwrap().value, b"3");
    // Compare on mod revision, version and value.
    let (ok, r3) =
        txn(s, vec![Compare::mod_revision("/t/a", r1)], vec![put("/t/a", "4")], vec![]).await;
    assert!(ok);
    // The store's revision covers every acknowledged write.
    assert!(s.revision().await.unwrap() >= r3);
    let (ok, _) =
        txn(s, vec![Compare::mod_revision("/t/a", r1)], vec![put("/t/a", "5")], vec![]).await;
    assert!(!ok, "a stale revision fails");
    let version = Compare {
        key: "/t/a".into(),
        target: Target::Version(2),
        op: CompareOp::Equal,
        prefix: false,
    };
    let value = Compare {
        key: "/t/a".into(),
        target: Target::Value(b"4".to_vec()),
        op: CompareOp::Equal,
        prefix: false,
    };
    assert!(txn(s, vec![version, value], vec![], vec![]).await.0);
    // Ranges are in byte order, by prefix only.
    let range = s.range("/t/").await.unwrap();
    let keys: Vec<&str> = range.kvs.iter().map(|kv| kv.key.as_str()).collect();
    assert_eq!(keys, ["/t/a", "/t/b", "/t/c"]);
    assert!(range.revision >= r3);
    // Watch from a revision: one batch per revision, every event of it, in order.
    let mut w = s.watch("/t/", r3).await.unwrap();
    let b = w.next().await.unwrap();
    assert_eq!(b.revision, r3);
    assert!(matches!(&b.events[..], [Event::Put(kv)] if kv.key == "/t/a" && kv.value == b"4"));
    let (_, r4) = txn(s, vec![], vec![Op::delete("/t/b"), put("/t/d", "6")], vec![]).await;
    let (_, r5) = txn(s, vec![], vec![Op::DeletePrefix { prefix: "/t/".into() }], vec![]).await;
    let b = tokio::time::timeout(Duration::from_secs(5), w.next()).await.unwrap().unwrap();
    assert_eq!(b.revision, r4);
    assert!(
        matches!(&b.events[..], [Event::Delete { key, .. }, Event::Put(kv)] if key == "/t/b" && kv.key == "/t/d"),
        "{b:?}"
    );
    let b = tokio::time::timeout(Duration::from_secs(5), w.next()).await.unwrap().unwrap();
    assert_eq!(b.revision, r5);
    let mut deleted: Vec<&str> = b.events.iter().map(Event::key).collect();
    deleted.sort_unstable();
    assert_eq!(deleted, ["/t/a", "/t/c", "/t/d"]);
    assert!(s.range("/t/").await.unwrap().kvs.is_empty());
    // Writes outside the prefix are not seen.
    txn(s, vec![], vec![put("/other", "x")], vec![]).await;
    let (_, r7) = txn(s, vec![], vec![put("/t/e", "7")], vec![]).await;
    let b = tokio::time::timeout(Duration::from_secs(5), w.next()).await.unwrap().unwrap();
    assert_eq!(b.revision, r7);
    // A repeatable write: one revision, its events in order.
    let r = s.write_repeatable(vec![put("/t/f", "8"), put("/t/g", "9")]).await.unwrap();
    assert!(r > r7);
    let b = tokio::time::timeout(Duration::from_secs(5), w.next()).await.unwrap().unwrap();
    assert_eq!(b.revision, r);
    assert!(
        matches!(&b.events[..], [Event::Put(f), Event::Put(g)] if f.key == "/t/f" && g.key == "/t/g"),
        "{b:?}"
    );
    assert_eq!(s.get("/t/f").await.unwrap().0.unwrap().mod_revision, r);
    let gone = s.write_repeatable(vec![Op::DeletePrefix { prefix: "/t/f".into() }]).await.unwrap();
    let b = tokio::time::timeout(Duration::from_secs(5), w.next()).await.unwrap().unwrap();
    assert_eq!(b.revision, gone);
    assert!(matches!(&b.events[..], [Event::Delete { key, .. }] if key == "/t/f"), "{b:?}");
    // Asked for progress, a watch reports how far it has delivered, past writes it never
    // sees too: an empty batch.
    let (_, r8) = txn(s, vec![], vec![put("/other", "y")], vec![]).await;
    let end = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        s.request_progress().await;
        if let Ok(b) = tokio::time::timeout(Duration::from_millis(100), w.next()).await {
            let b = b.unwrap();
            assert!(b.events.is_empty(), "{b:?}");
            if b.revision >= r8 {
                break;
            }
        }
        assert!(std::time::Instant::now() < end, "no progress report reached {r8}");
    }
}

/// Progress reports under load: while writes stream in, under the watched prefix and outside
/// it, a watch asked again and again for progress delivers batches in strictly increasing
/// revisions, and a report at revision P comes only after every write up to P (etcd's own
/// progress notifications do not promise that on every version; see the etcd backend's
/// PROGRESS_KEY).
async fn progress_under_load(s: &dyn Store) {
    const LANES: usize = 4; // as many as the join below
    const WRITES: usize = 100;
    // From a revision already written (outside the prefix): etcd delivers a watch from the
    // past in a catch-up pass of its own, the window in which its progress notifications ran
    // ahead of the events.
    let (_, start) = txn(s, vec![], vec![put("/o/start", "x")], vec![]).await;
    let mut w = s.watch("/p/", start).await.unwrap();
    // Each lane writes, and asks for progress right after each write is acknowledged: the
    // moment a report could overtake that write's event.
    let lane = |lane: usize| async move {
        let mut revisions = Vec::with_capacity(WRITES);
        for i in 0..WRITES {
            let outside = i % 3 == 0;
            let key = if outside { format!("/o/{lane}/{i}") } else { format!("/p/{lane}/{i}") };
            let (_, revision) = txn(s, vec![], vec![put(&key, "x")], vec![]).await;
            if !outside {
                revisions.push(revision);
            }
            s.request_progress().await;
        }
        revisions
    };
    let writers = async {
        let (a, b, c, d) = tokio::join!(lane(0), lane(1), lane(2), lane(3));
        [a, b, c, d]
    };
    let expected = LANES * (WRITES - WRITES.div_ceil(3));
    let watcher = async {
        let mut seen: Vec<i64> = Vec::new();
        let mut last = 0;
        let end = std::time::Instant::now() + Duration::from_secs(60);
        while seen.len() < expected {
            let b = tokio::time::timeout_at(end.into(), w.next()).await;
            let b = b.unwrap_or_else(|_| panic!("only {} writes seen", seen.len())).unwrap();
            assert!(b.revision > last, "batch at {} after one at {last}", b.revision);
            last = b.revision;
            if !b.events.is_empty() {
                seen.push(b.revision);
            }
        }
        seen
    };
    let (written, seen) = tokio::join!(writers, watcher);
    let mut written: Vec<i64> = written.into_iter().flatten().collect();
    written.sort_unstable();
    assert_eq!(seen, written, "every write under the prefix, in order");
    for prefix in ["/p/", "/o/"] {
        txn(s, vec![], vec![Op::DeletePrefix { prefix: prefix.into() }], vec![]).await;
    }
}

/// Range compares: a guard on every key under a prefix holds while none of them was written
/// after the revision, and on an empty prefix as on an absent key.
async fn range_compares(s: &dyn Store) {
    let (_, r1) = txn(s, vec![], vec![put("/g/a", "1"), put("/g/b", "1")], vec![]).await;
    let unchanged = || Compare::unchanged_since("/g/", r1);
    assert!(txn(s, vec![unchanged()], vec![], vec![]).await.0, "nothing written since r1");
    // A write elsewhere leaves the guard holding.
    txn(s, vec![], vec![put("/h/a", "2")], vec![]).await;
    assert!(txn(s, vec![unchanged()], vec![], vec![]).await.0);
    // A key changed under the prefix, or created there, fails it.
    let (_, r2) = txn(s, vec![], vec![put("/g/b", "2")], vec![]).await;
    assert!(!txn(s, vec![unchanged()], vec![put("/g/x", "no")], vec![]).await.0);
    assert!(s.get("/g/x").await.unwrap().0.is_none(), "a failed guard writes nothing");
    assert!(txn(s, vec![Compare::unchanged_since("/g/", r2)], vec![], vec![]).await.0);
    let (_, r3) = txn(s, vec![], vec![put("/g/c", "3")], vec![]).await;
    assert!(!txn(s, vec![Compare::unchanged_since("/g/", r2)], vec![], vec![]).await.0);
    // A deletion under the prefix does not (what a deleted key named is gone with it).
    txn(s, vec![], vec![Op::delete("/g/c")], vec![]).await;
    assert!(txn(s, vec![Compare::unchanged_since("/g/", r3)], vec![], vec![]).await.0);
    // No key under the prefix: holds. A key merely sharing the prefix's text counts.
    assert!(txn(s, vec![Compare::unchanged_since("/nothing/", 0)], vec![], vec![]).await.0);
    txn(s, vec![], vec![put("/g/zz/deep", "4")], vec![]).await;
    assert!(!txn(s, vec![Compare::unchanged_since("/g/", r3)], vec![], vec![]).await.0);
    txn(s, vec![], vec![Op::DeletePrefix { prefix: "/g/".into() }], vec![]).await;
}

/// Leases: keys live while their lease is renewed, and go in one delete when it expires or
/// is revoked; a put under a lease that is gone changes nothing.
async fn leases(s: &dyn Store) {
    let ttl = Duration::from_secs(2);
    let lease = s.grant(ttl).await.unwrap();
    let (_, r1) = txn(s, vec![], vec![Op::put_leased("/l/a", b"1".to_vec(), lease)], vec![]).await;
    let (kv, _) = s.get("/l/a").await.unwrap();
    assert_eq!(kv.unwrap().lease, lease);
    assert_eq!(s.range("/l/").await.unwrap().kvs[0].lease, lease);
    // Renewed past its time to live, it stays.
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(900)).await;
        s.keep_alive(lease).await.unwrap();
    }
    assert!(s.get("/l/a").await.unwrap().0.is_some(), "a renewed lease keeps its keys");
    // A backup leaves leased keys out: they belong to a running process.
    assert!(s.export().await.unwrap().entries.iter().all(|e| e.key != "/l/a"));
    // Left alone, it expires: its key is deleted, and a watch sees it.
    let mut w = s.watch("/l/", r1 + 1).await.unwrap();
    let b = tokio::time::timeout(Duration::from_secs(15), w.next()).await.unwrap().unwrap();
    assert!(matches!(&b.events[..], [Event::Delete { key, .. }] if key == "/l/a"), "{b:?}");
    assert!(s.get("/l/a").await.unwrap().0.is_none());
    assert!(matches!(s.keep_alive(lease).await, Err(StoreError::LeaseExpired(l)) if l == lease));
    // A transaction putting under it fails whole.
    let err = s
        .txn(Txn {
            success: vec![put("/l/plain", "x"), Op::put_leased("/l/b", b"2".to_vec(), lease)],
            ..Txn::default()
        })
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::LeaseExpired(l) if l == lease), "{err}");
    assert!(s.range("/l/").await.unwrap().kvs.is_empty(), "nothing of it was applied");
    // Revoked: its keys go at once, in one revision; a key put again without the lease stays.
    let lease = s.grant(Duration::from_secs(30)).await.unwrap();
    let ops = vec![
        Op::put_leased("/l/c", b"3".to_vec(), lease),
        Op::put_leased("/l/d", b"4".to_vec(), lease),
    ];
    let (_, r2) = txn(s, vec![], ops, vec![]).await;
    txn(s, vec![], vec![put("/l/d", "kept")], vec![]).await;
    let mut w = s.watch("/l/", r2 + 2).await.unwrap();
    s.revoke(lease).await.unwrap();
    let b = tokio::time::timeout(Duration::from_secs(5), w.next()).await.unwrap().unwrap();
    assert!(matches!(&b.events[..], [Event::Delete { key, .. }] if key == "/l/c"), "{b:?}");
    let left = s.range("/l/").await.unwrap().kvs;
    assert_eq!((left.len(), left[0].value.as_slice(), left[0].lease), (1, &b"kept"[..], 0));
    s.revoke(lease).await.unwrap();
}

#[tokio::test]
async fn the_embedded_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    let s = EmbeddedStore::open(&path, EmbeddedOptions::default()).unwrap();
    suite(&s).await;
    range_compares(&s).await;
    progress_under_load(&s).await;
    leases(&s).await;
    // A lease ends with the process that holds the store: opening it again drops its keys
    // (in a revision of their own, which a watch from the past sees).
    let lease = s.grant(Duration::from_secs(60)).await.unwrap();
    let (_, r) = txn(&s, vec![], vec![Op::put_leased("/n/me", b"1".to_vec(), lease)], vec![]).await;
    drop(s);
    let s = EmbeddedStore::open(&path, EmbeddedOptions::default()).unwrap();
    assert!(s.get("/n/me").await.unwrap().0.is_none());
    let b = s.watch("/n/", r + 1).await.unwrap().next().await.unwrap();
    assert!(matches!(&b.events[..], [Event::Delete { key, .. }] if key == "/n/me"), "{b:?}");
    assert_eq!(s.get("/l/d").await.unwrap().0.unwrap().value, b"kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_etcd_cluster() {
    let mut etcd = turnout_testkit::etcd::Etcd::start(3);
    let s = EtcdStore::connect(&etcd.url()).await.unwrap();
    // A new cluster may still be settling its leader: wait until it takes a write.
    let end = std::time::Instant::now() + Duration::from_secs(20);
    while s.txn(Txn { success: vec![put("/ready", "1")], ..Txn::default() }).await.is_err() {
        assert!(std::time::Instant::now() < end, "the etcd cluster never took a write");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    suite(&s).await;
    range_compares(&s).await;
    progress_under_load(&s).await;
    leases(&s).await;
    // Over etcd's --max-txn-ops (10,000 here): refused at once, naming the limit, and
    // nothing of it applied.
    let started = std::time::Instant::now();
    let big: Vec<Op> = (0..10_000).map(|i| put(&format!("/big/{i}"), "x")).collect();
    let err = s.txn(Txn { success: big, ..Txn::default() }).await.unwrap_err();
    assert!(err.to_string().contains("--max-txn-ops"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    assert!(s.range("/big/").await.unwrap().kvs.is_empty());
    // A range larger than one gRPC message (63,000 values of 500 bytes: 31 MB, where a client
    // takes 4 MB by default) and than one page (50,000 keys) is read in pages at one revision,
    // whole and in order.
    let value = "v".repeat(500);
    for part in 0..7 {
        let ops =
            (0..9000).map(|i| put(&format!("/page/{:05}", part * 9000 + i), &value)).collect();
        txn(&s, vec![], ops, vec![]).await;
    }
    let paged = s.range("/page/").await.unwrap();
    assert_eq!(paged.kvs.len(), 63_000);
    assert!(paged.kvs.windows(2).all(|w| w[0].key < w[1].key), "in key order, no repeats");
    assert!(paged.kvs.iter().all(|kv| kv.value.len() == 500 && kv.mod_revision <= paged.revision));
    // The same view a page at a time, as it arrives.
    let parts = std::sync::Mutex::new(Vec::new());
    let revision = s.range_pages("/page/", &|part| parts.lock().unwrap().push(part)).await.unwrap();
    let parts = parts.into_inner().unwrap();
    assert!(parts.len() >= 2, "{} parts", parts.len());
    assert_eq!((parts.concat(), revision), (paged.kvs, paged.revision));
    txn(&s, vec![], vec![Op::DeletePrefix { prefix: "/page/".into() }], vec![]).await;
    // Transaction marks and progress keys are the backend's own: never in a range.
    let all = s.range("").await.unwrap();
    let own = |k: &str| k.starts_with("/turnout-txn/") || k.contains("turnout-progress");
    assert!(all.kvs.iter().all(|kv| !own(&kv.key)), "{:?}", all.kvs);
    // One member down (perhaps the leader): reads move on to another member at once, and a
    // write goes through once a leader is elected, exactly once (its mark says whether it ran).
    etcd.kill(0);
    assert!(s.get("/t/e").await.unwrap().0.is_some());
    let (ok, _) = txn(&s, vec![], vec![put("/q/x", "1")], vec![]).await;
    assert!(ok);
    assert_eq!(s.get("/q/x").await.unwrap().0.unwrap().value, b"1");
    // Two down: no quorum, a clear error after a bounded wait, not a hang.
    etcd.kill(1);
    let err = s.txn(Txn { success: vec![put("/q/y", "1")], ..Txn::default() }).await.unwrap_err();
    assert!(err.to_string().contains("store unavailable"), "{err}");
}

#[tokio::test]
async fn an_unreachable_etcd_is_a_clear_error() {
    // Port 1 (tcpmux): nothing listens there on a test machine, so the connection is refused.
    let err = EtcdStore::connect("etcd://127.0.0.1:1").await.unwrap_err();
    let text = err.to_string();
    assert!(text.starts_with("store unavailable: etcd (http://127.0.0.1:1): "), "{text}");
    // What an operator reads, not gRPC's debug form.
    assert!(!text.contains("MetadataMap") && !text.contains("status:"), "{text}");
}
