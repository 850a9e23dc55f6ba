//! The control service over a real embedded store, with the sync task publishing snapshots.
#![allow(clippy::unwrap_used)] // A panic is how a test fails.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use turnout_control::types::{ChangeInfo, ChangeStatus, CreateZone, ZoneCreated};
use turnout_control::{Control, ControlError, ControlOptions, Submitted, SyncOptions, run_sync};
use turnout_dns::{Snapshot, SnapshotHandle};
use turnout_model::{ChangeBatchSpec, ErrorCode};
use turnout_store::{EmbeddedOptions, EmbeddedStore, Store};

struct Fixture {
    control: Arc<Control>,
    handle: SnapshotHandle,
    shutdown: CancellationToken,
    _dir: tempfile::TempDir,
}

async fn start() -> Fixture {
    start_with(ControlOptions::default()).await
}

async fn start_with(options: ControlOptions) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(
        EmbeddedStore::open(&dir.path().join("store.redb"), EmbeddedOptions::default()).unwrap(),
    );
    let control = Control::new(store, options);
    let handle = SnapshotHandle::new(Snapshot::empty());
    let shutdown = CancellationToken::new();
    tokio::spawn(run_sync(
        control.clone(),
        handle.clone(),
        SyncOptions::default(),
        shutdown.clone(),
    ));
    Fixture { control, handle, shutdown, _dir: dir }
}

fn batch(json: &str) -> ChangeBatchSpec {
    serde_json::from_str(json).unwrap()
}

/// Creates a zone, optionally with a caller reference.
async fn zone(
    f: &Fixture,
    name: &str,
    reference: Option<&str>,
) -> Result<ZoneCreated, ControlError> {
    let request = CreateZone {
        name: name.into(),
        caller_reference: reference.map(Into::into),
        ..Default::default()
    };
    f.control.create_zone(&request).await
}

/// Submits one batch to `zone` and returns the applied change.
async fn submit(f: &Fixture, zone: &str, json: &str) -> ChangeInfo {
    match f.control.submit(&batch(json), Some(zone), false).await.unwrap() {
        Submitted::Applied(change) => change,
        other => panic!("not applied: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zone_lifecycle_and_insync() {
    let f = start().await;
    let created = zone(&f, "example.test", Some("r1")).await.unwrap();
    assert!(created.created);
    assert_eq!(created.zone.serial, 1);
    assert_eq!(created.zone.name_servers, vec!["ns1.example.test.", "ns2.example.test."]);
    // A retry with the same reference returns the same zone; another name is refused.
    let again = zone(&f, "example.test.", Some("r1")).await.unwrap();
    assert!(!again.created);
    assert_eq!(again.change.id, created.change.id);
    let err = zone(&f, "other.test", Some("r1")).await.unwrap_err();
    assert!(matches!(err, ControlError::CallerReferenceInUse { .. }), "{err}");

    let change = submit(&f, "example.test", r#"{"changes":[{"action":"CREATE","record_set":{"name":"www","type":"A","ttl":60,"values":["192.0.2.1"]}}]}"#).await;
    assert!(f.control.wait_served(change.revision, Duration::from_secs(10)).await);
    assert_eq!(f.control.change(&change.id).await.unwrap().status, ChangeStatus::Insync);
    let zones = f.handle.load().zones().to_vec();
    assert_eq!(zones.len(), 1);
    assert_eq!((zones[0].1, zones[0].2), (2, 4), "serial bumped; SOA, 2 NS and the A record");

    let err = f.control.delete_zone("example.test", false).await.unwrap_err();
    assert!(matches!(err, ControlError::ZoneNotEmpty(_)), "{err}");
    let change = f.control.delete_zone("example.test", true).await.unwrap();
    assert!(f.control.wait_served(change.revision, Duration::from_secs(10)).await);
    assert!(f.handle.load().zones().is_empty());
    f.shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_recompiles_only_its_zone_and_shares_the_others() {
    let f = start().await;
    zone(&f, "a.test", None).await.unwrap();
    let b = zone(&f, "b.test", None).await.unwrap();
    assert!(f.control.wait_served(b.change.revision, Duration::from_secs(10)).await);
    let apex = |n: &str| turnout_model::Name::parse_absolute(n).unwrap();
    let before = f.handle.load();
    let (a_before, b_before) =
        (before.part_of(&apex("a.test.")).cloned(), before.part_of(&apex("b.test.")).cloned());
    let change = submit(&f, "a.test", r#"{"changes":[{"action":"CREATE","record_set":{"name":"www","type":"A","ttl":60,"values":["192.0.2.1"]}}]}"#).await;
    assert!(f.control.wait_served(change.revision, Duration::from_secs(10)).await);
    let after = f.handle.load();
    let b_after = after.part_of(&apex("b.test.")).cloned();
    assert!(
        Arc::ptr_eq(b_before.as_ref().unwrap(), b_after.as_ref().unwrap()),
        "b.test's part is shared"
    );
    let a_after = after.part_of(&apex("a.test.")).cloned();
    assert!(!Arc::ptr_eq(a_before.as_ref().unwrap(), a_after.as_ref().unwrap()), "a.test's is new");
    assert_eq!(after.zones().len(), 2);
    f.shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_batches_on_one_zone_all_land() {
    let f = start().await;
    zone(&f, "c.test", None).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..20 {
        let control = f.control.clone();
        tasks.push(tokio::spawn(async move {
            let json = format!(
                r#"{{"changes":[{{"action":"CREATE","record_set":{{"name":"h{i}","type":"A","ttl":60,"values":["192.0.2.{i}"]}}}}]}}"#
            );
            control.submit(&batch(&json), Some("c.test"), false).await
        }));
    }
    for t in tasks {
        let r = t.await.unwrap();
        assert!(matches!(r, Ok(Submitted::Applied(_))), "{r:?}");
    }
    let zone = f.control.zone("c.test").unwrap();
    assert_eq!(zone.record_set_count, 22);
    assert_eq!(zone.serial, 21, "one serial bump per batch");
    // A rejected batch changes nothing.
    let err = f
        .control
        .submit(
            &batch(r#"{"changes":[{"action":"CREATE","record_set":{"name":"h0","type":"A","ttl":60,"values":["192.0.2.0"]}},{"action":"CREATE","record_set":{"name":"new","type":"A","ttl":60,"values":["192.0.2.99"]}}]}"#),
            Some("c.test"),
            false,
        )
        .await
        .unwrap_err();
    let ControlError::InvalidChangeBatch(errors) = err else { panic!("{err}") };
    assert_eq!(errors[0].code, ErrorCode::AlreadyExists);
    assert_eq!(f.control.zone("c.test").unwrap().record_set_count, 22);
    f.shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_change_records_are_pruned() {
    let f = start().await;
    let created = zone(&f, "p.test", Some("r")).await.unwrap();
    let change = submit(&f, "p.test", r#"{"changes":[{"action":"CREATE","record_set":{"name":"a","type":"A","ttl":60,"values":["192.0.2.1"]}}]}"#).await;
    let an_hour_ago = std::time::SystemTime::now() - Duration::from_secs(3600);
    assert_eq!(f.control.prune_changes(an_hour_ago).await.unwrap(), 0, "recent changes stay");
    let later = std::time::SystemTime::now() + Duration::from_secs(5);
    assert_eq!(f.control.prune_changes(later).await.unwrap(), 2);
    assert!(matches!(f.control.change(&change.id).await, Err(ControlError::NoSuchChange(_))));
    // A retried create still finds its zone, and reports the (pruned) change by id.
    let again = zone(&f, "p.test", Some("r")).await.unwrap();
    assert!(!again.created);
    assert_eq!(again.change.id, created.change.id);
    assert_eq!(f.control.zone("p.test").unwrap().record_set_count, 3, "records are untouched");
    f.shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_audit_records_are_pruned() {
    let f = start().await;
    let panel: turnout_model::controls::ControlPanelSpec =
        serde_json::from_str(r#"{"name":"main","controls":["east"]}"#).unwrap();
    f.control.put_panel(&panel).await.unwrap();
    let update: turnout_control::routing_controls::ControlUpdate =
        serde_json::from_str(r#"{"states":{"east":"On"},"reason":"up"}"#).unwrap();
    f.control.update_controls("main", &update, "admin").await.unwrap();
    assert_eq!(f.control.control_history(None, 10).await.unwrap().len(), 1);
    let an_hour_ago = std::time::SystemTime::now() - Duration::from_secs(3600);
    assert_eq!(f.control.prune_audit(an_hour_ago).await.unwrap(), 0, "recent records stay");
    let later = std::time::SystemTime::now() + Duration::from_secs(5);
    // The routing-control update's record, and the write records of the panel and the state.
    let all = turnout_control::audit::Filter { limit: 10, ..Default::default() };
    let writes = f.control.write_history(&all).await.unwrap();
    let kinds: Vec<&str> = writes.iter().map(|w| w.changes[0].kind.as_str()).collect();
    assert_eq!(kinds, ["routing_control", "panel"]);
    assert!(writes.iter().all(|w| w.token == "turnout" && w.request == "internal"));
    assert_eq!(f.control.prune_audit(later).await.unwrap(), 3);
    assert!(f.control.control_history(None, 10).await.unwrap().is_empty());
    assert!(f.control.write_history(&all).await.unwrap().is_empty());
    // The control's state is not history: it stays.
    let views = f.control.controls(Some("main")).unwrap();
    assert_eq!(serde_json::to_value(&views).unwrap()[0]["state"], "On");
    f.shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_changes_are_posted_to_the_webhook() {
    use std::sync::{Arc, Mutex};
    let got: Arc<Mutex<Vec<(axum::http::HeaderMap, axum::body::Bytes)>>> = Arc::default();
    let sink = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
            let sink = sink.clone();
            async move {
                sink.lock().unwrap().push((headers, body));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let target =
        turnout_health::webhook::WebhookTarget { url, secret: b"s3cret".to_vec(), ca: None };
    let (hook, sender) = turnout_health::Webhook::new(target).unwrap();
    let stop = tokio_util::sync::CancellationToken::new();
    tokio::spawn(sender.run(stop.clone(), Duration::from_secs(1)));
    let f = start_with(ControlOptions { webhook: Some(hook), ..Default::default() }).await;
    // A port nothing listens on: the first probe fails and, with threshold 1, flips the check.
    // (The discard port.)
    let port = 9;
    let spec: turnout_model::health::HealthCheckSpec = serde_json::from_str(&format!(
        r#"{{"name":"down","type":"tcp","ip":"127.0.0.1","port":{port},"interval":"100ms","failure_threshold":1}}"#
    ))
    .unwrap();
    f.control.put_check(&spec).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while got.lock().unwrap().is_empty() {
        assert!(std::time::Instant::now() < deadline, "no webhook call");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (headers, body) = got.lock().unwrap()[0].clone();
    let header = |name: &str| headers.get(name).unwrap().to_str().unwrap().to_owned();
    let timestamp: u64 = header("turnout-timestamp").parse().unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    assert!(now.as_secs().abs_diff(timestamp) < 60, "{timestamp}");
    assert_eq!(
        header("turnout-signature"),
        turnout_health::webhook::signature(b"s3cret", timestamp, &body)
    );
    assert_ne!(
        header("turnout-signature"),
        turnout_health::webhook::signature(b"other", timestamp, &body)
    );
    let event: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(event["id"].as_str(), Some(header("turnout-event-id").as_str()));
    assert_eq!(event["event"], "health_check.status_changed");
    assert_eq!(
        (event["check"].as_str(), event["from"].as_str(), event["to"].as_str()),
        (Some("down"), Some("healthy"), Some("unhealthy"))
    );
    assert!(event["reason"].as_str().unwrap().starts_with("Failure: Connection to 127.0.0.1:"));
    f.shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denied_targets_are_refused() {
    let policy = turnout_model::health::TargetPolicy::parse(&[], &["192.0.2.0/24".into()]).unwrap();
    let f = start_with(ControlOptions { target_policy: policy, ..Default::default() }).await;
    let spec: turnout_model::health::HealthCheckSpec =
        serde_json::from_str(r#"{"name":"x","type":"tcp","ip":"192.0.2.7"}"#).unwrap();
    let err = f.control.put_check(&spec).await.unwrap_err();
    let ControlError::InvalidCheck(errors) = err else { panic!("{err}") };
    assert_eq!((errors[0].field.as_str(), errors[0].code), ("ip", ErrorCode::NotAllowed));
    assert!(errors[0].message.contains("denied network 192.0.2.0/24"), "{}", errors[0].message);
    // A metric check's Prometheus server is its target.
    let spec: turnout_model::health::HealthCheckSpec = serde_json::from_str(
        r#"{"name":"m","type":"metric","prometheus":"http://192.0.2.9:9090","query":"up","comparison":"<","threshold":1}"#,
    )
    .unwrap();
    let err = f.control.put_check(&spec).await.unwrap_err();
    let ControlError::InvalidCheck(errors) = err else { panic!("{err}") };
    assert_eq!((errors[0].field.as_str(), errors[0].code), ("prometheus", ErrorCode::NotAllowed));
    assert!(f.control.checks().is_empty());
    f.shutdown.cancel();
}

/// The served answer to `name`/`qtype`, rendered (rcode, flags, sections).
fn ask(f: &Fixture, name: &str, qtype: &str) -> String {
    let mut out = vec![0u8; 65535];
    let q = turnout_testkit::QueryBuilder::new(name, qtype).build();
    let snap = f.handle.load();
    let n = turnout_dns::respond(&snap, &q, turnout_dns::Transport::Tcp, None, &mut out).unwrap();
    turnout_testkit::render(&out[..n]).unwrap()
}

async fn served(f: &Fixture, zone: &str, json: &str) {
    let change = submit(f, zone, json).await;
    assert!(f.control.wait_served(change.revision, Duration::from_secs(10)).await);
}

fn one(action: &str, name: &str, rtype: &str, values: &[&str]) -> String {
    serde_json::json!({"changes": [{"action": action, "record_set":
        {"name": name, "type": rtype, "ttl": 60, "values": values}}]})
    .to_string()
}

/// A zone of 6,000 records is compiled in chunks; a change recompiles only the chunk that
/// holds its name (and the apex, whose serial every change bumps), and what crosses chunks
/// (the apex wildcard, sibling glue, additional addresses, NXDOMAIN's SOA) answers as in a
/// zone compiled whole. An alias makes the zone compile whole again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_zone_is_recompiled_chunk_by_chunk() {
    let f = start().await;
    let created = zone(&f, "big.test", None).await.unwrap();
    assert!(f.control.wait_served(created.change.revision, Duration::from_secs(10)).await);
    for start in (0..6000).step_by(1000) {
        let changes: Vec<serde_json::Value> = (start..start + 1000)
            .map(|i| {
                serde_json::json!({"action": "CREATE", "record_set": {"name": format!("h{i}"),
                "type": "A", "ttl": 60, "values": [format!("10.0.{}.{}", i / 256, i % 256)]}})
            })
            .collect();
        served(&f, "big.test", &serde_json::json!({ "changes": changes }).to_string()).await;
    }
    let apex = turnout_model::Name::parse_absolute("big.test.").unwrap();
    let before = f.handle.load().parts_of(&apex).unwrap();
    assert!(before.chunks.len() > 2, "{} chunks", before.chunks.len());
    assert_eq!(f.handle.load().zones()[0].2, 6003, "SOA, 2 NS and 6,000 A");

    // One name: the home part and one chunk are new, every other chunk is shared.
    served(&f, "big.test", &one("UPSERT", "h42", "A", &["192.0.2.42"])).await;
    let after = f.handle.load().parts_of(&apex).unwrap();
    let new: Vec<usize> = (0..after.chunks.len())
        .filter(|&i| !Arc::ptr_eq(&before.chunks[i], &after.chunks[i]))
        .collect();
    assert_eq!(new.len(), 1, "{new:?}");
    assert!(!Arc::ptr_eq(&before.home, &after.home));
    assert!(ask(&f, "h42.big.test", "A").contains("an h42.big.test. 60 IN A 192.0.2.42"));

    // NXDOMAIN carries the SOA from the home part; then the apex wildcard (in the chunk of
    // `*`) answers for it.
    let nx = ask(&f, "nope.big.test", "A");
    assert!(nx.starts_with("rcode NXDOMAIN") && nx.contains("IN SOA"), "{nx}");
    served(&f, "big.test", &one("CREATE", "*", "A", &["192.0.2.99"])).await;
    assert!(ask(&f, "nope.big.test", "A").contains("an nope.big.test. 60 IN A 192.0.2.99"));

    // Sibling glue across chunks: aa and zz sort before and after every h label.
    let delegation = serde_json::json!({"changes": [
        {"action": "CREATE", "record_set": {"name": "zz", "type": "NS", "ttl": 60, "values": ["ns.aa.big.test."]}},
        {"action": "CREATE", "record_set": {"name": "aa", "type": "NS", "ttl": 60, "values": ["ns.aa.big.test."]}},
        {"action": "CREATE", "record_set": {"name": "ns.aa", "type": "A", "ttl": 60, "values": ["192.0.2.53"]}},
        {"action": "CREATE", "record_set": {"name": "@", "type": "MX", "ttl": 60, "values": ["10 h5999.big.test."]}},
    ]});
    served(&f, "big.test", &delegation.to_string()).await;
    let parts = f.handle.load().parts_of(&apex).unwrap();
    let chunk = |label: &str| turnout_dns::chunk_index(&parts.bounds, label.as_bytes());
    assert_ne!(chunk("aa"), chunk("zz"), "the test needs them in different chunks");
    let referral = ask(&f, "www.zz.big.test", "A");
    assert!(referral.contains("ns zz.big.test. 60 IN NS ns.aa.big.test."), "{referral}");
    assert!(referral.contains("ar ns.aa.big.test. 60 IN A 192.0.2.53"), "{referral}");
    let mx = ask(&f, "big.test", "MX");
    assert!(mx.contains("ar h5999.big.test. 60 IN A 10.0.23.111"), "{mx}");
    // A deleted name is gone (the wildcard answers for it).
    served(&f, "big.test", &one("DELETE", "h42", "A", &["192.0.2.42"])).await;
    assert!(ask(&f, "h42.big.test", "A").contains("an h42.big.test. 60 IN A 192.0.2.99"));

    // An alias: the zone is compiled whole, and the alias answers with its target's records.
    let alias = serde_json::json!({"changes": [{"action": "CREATE", "record_set":
        {"name": "al", "type": "A", "alias": {"target": "h7.big.test.", "evaluate_target_health": false}}}]});
    served(&f, "big.test", &alias.to_string()).await;
    assert!(f.handle.load().parts_of(&apex).unwrap().chunks.is_empty());
    assert!(ask(&f, "al.big.test", "A").contains("an al.big.test. 60 IN A 10.0.0.7"));
    f.shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dns_cookie_secret_is_made_once_and_rotated_when_due() {
    let f = start_with(ControlOptions::default()).await;
    let hour = Duration::from_secs(3600);
    assert!(f.control.cookie_secrets().is_none());
    assert!(f.control.rotate_cookie_secret_if_due(hour).await.unwrap(), "made at first");
    let first = wait_for(|| f.control.cookie_secrets()).await;
    assert_eq!(first.previous, None);
    assert!(!f.control.rotate_cookie_secret_if_due(hour).await.unwrap(), "not due yet");
    assert!(f.control.rotate_cookie_secret_if_due(Duration::ZERO).await.unwrap(), "due");
    let second = wait_for(|| f.control.cookie_secrets().filter(|s| *s != first)).await;
    assert_eq!(second.previous, Some(first.current), "the old secret still checks cookies");
    assert_ne!(second.current, first.current);
    f.shutdown.cancel();
}

async fn wait_for<T>(mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(std::time::Instant::now() < deadline, "never came");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_guard_writes_and_collection_ids_last() {
    let f = start().await;
    let spec: turnout_model::health::HealthCheckSpec = serde_json::from_str(
        r#"{"name":"web","type":"tcp","ip":"127.0.0.1","port":9,"disabled":true}"#,
    )
    .unwrap();
    // `Some(0)`: only if there is none.
    f.control.put_check_at(&spec, Some(0)).await.unwrap();
    assert_eq!(f.control.check_versioned("web").unwrap().1, 1);
    let err = f.control.put_check_at(&spec, Some(0)).await.unwrap_err();
    assert!(matches!(err, ControlError::VersionMismatch { expected: 0, current: 1, .. }), "{err}");
    let changed = turnout_model::health::HealthCheckSpec { port: Some(10), ..spec.clone() };
    f.control.put_check_at(&changed, Some(1)).await.unwrap();
    let err = f.control.put_check_at(&spec, Some(1)).await.unwrap_err();
    assert!(matches!(err, ControlError::VersionMismatch { expected: 1, current: 2, .. }), "{err}");
    assert_eq!(f.control.check_versioned("web").unwrap(), (changed, 2));

    // A collection written without an id gets one, keeps it through a replacement without
    // one, and is found by it; an id another collection has is refused.
    let offices: turnout_model::cidr::CidrCollectionSpec =
        serde_json::from_str(r#"{"name":"offices","locations":{"paris":["192.0.2.0/24"]}}"#)
            .unwrap();
    let written = f.control.put_collection_at(&offices, None).await.unwrap();
    assert!(written.created);
    let id = f.control.collection("offices").unwrap().id.unwrap();
    assert!(turnout_model::cidr::is_uuid(&id), "{id}");
    let more = turnout_model::cidr::CidrCollectionSpec {
        locations: [("tokyo".to_owned(), vec!["198.51.100.0/24".to_owned()])].into(),
        ..offices.clone()
    };
    let written = f.control.put_collection_at(&more, Some(1)).await.unwrap();
    assert!(!written.created && written.change.starts_with('C'));
    let (found, version) = f.control.collection_by_id(&id).unwrap();
    assert_eq!((found.name.as_str(), version, found.locations.len()), ("offices", 2, 1));
    let other = turnout_model::cidr::CidrCollectionSpec {
        name: "other".into(),
        id: Some(id.clone()),
        ..Default::default()
    };
    let err = f.control.put_collection(&other).await.unwrap_err();
    assert!(matches!(err, ControlError::InvalidCollection(ref e) if e[0].field == "id"), "{err}");
    assert!(f.control.collection("other").is_err());
    f.shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_drills_start_when_due_and_never_in_a_blocked_window() {
    use turnout_model::controls::ControlPanelSpec;
    use turnout_model::drills::DrillSpec;
    let f = start().await;
    tokio::spawn(turnout_control::run_drills(f.control.clone(), f.shutdown.clone()));
    let panel: ControlPanelSpec =
        serde_json::from_str(r#"{"name":"main","controls":["east"]}"#).unwrap();
    f.control.put_panel(&panel).await.unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    let now_ms = now.as_millis() as u64;
    let today =
        ["thu", "fri", "sat", "sun", "mon", "tue", "wed"][(now.as_secs() / 86_400 % 7) as usize];
    let drill = |blocked: &str| -> DrillSpec {
        serde_json::from_str(&format!(
            r#"{{"name":"hourly","control":"main/east","state":"On","duration":"1s","every":"1h"{blocked}}}"#
        ))
        .unwrap()
    };
    let manual: DrillSpec =
        serde_json::from_str(r#"{"name":"manual","control":"main/east","state":"On"}"#).unwrap();
    f.control.put_drill(&manual).await.unwrap();
    // Today is blocked: nothing starts.
    f.control.put_drill(&drill(&format!(r#","blocked":["{today} 00:00-24:00"]"#))).await.unwrap();
    assert!(f.control.start_due_drills(now_ms).await.is_empty());
    // Unblocked and never run: due (the manual drill never is).
    f.control.put_drill(&drill("")).await.unwrap();
    assert_eq!(f.control.start_due_drills(now_ms).await, ["hourly"]);
    assert!(f.control.start_due_drills(now_ms).await.is_empty(), "it is running");
    // It flips east On for a second, then ends and is recorded.
    let last = wait_for(|| f.control.read().drill_last_start_ms.get("hourly").copied()).await;
    let runs = f.control.drill_runs("hourly", 5).await.unwrap();
    assert_eq!(
        (runs.len(), runs[0].outcome.as_str(), runs[0].started_by.as_str()),
        (1, "passed", "schedule")
    );
    assert!(f.control.start_due_drills(last + 59 * 60_000).await.is_empty(), "not due for an hour");
    assert_eq!(f.control.start_due_drills(last + 60 * 60_000).await, ["hourly"]);
    f.shutdown.cancel();
}

/// A zone-file reload that lands before the store's first revision is served is not lost:
/// the snapshot that serves that revision holds the reloaded files.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_before_the_first_served_revision_is_served() {
    let version = |serial: u32| {
        let text = format!(
            "$ORIGIN files.test.\n@ 60 SOA ns h {serial} 1 1 1 60\n@ 60 NS ns\nns 60 A 192.0.2.1\n"
        );
        turnout_model::zonefile::parse_str(&text, "files.test.zone", None).unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(
        EmbeddedStore::open(&dir.path().join("store.redb"), EmbeddedOptions::default()).unwrap(),
    );
    let control = Control::new(store, ControlOptions::default());
    // As `turnout serve` starts: the first snapshot holds the zone files as read at start.
    let first = version(1);
    let handle = SnapshotHandle::new(Snapshot::build([&first]).unwrap());
    let (files, static_zones) = tokio::sync::watch::channel(Arc::new(vec![first]));
    // SIGHUP: the files are read again before the sync has served anything.
    files.send_replace(Arc::new(vec![version(2)]));
    let shutdown = CancellationToken::new();
    let options = SyncOptions { static_zones, ..SyncOptions::default() };
    tokio::spawn(run_sync(control.clone(), handle.clone(), options, shutdown.clone()));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let serial = || handle.load().zones().first().map(|z| z.1);
    while (control.served_revision().is_none() || serial() != Some(2))
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(control.served_revision().is_some(), "the store's revision is served");
    assert_eq!(serial(), Some(2), "the reloaded zone file is served");
    shutdown.cancel();
}
