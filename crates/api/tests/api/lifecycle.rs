//! Zones, pagination, idempotency, auth, operations endpoints.

use hyper::Method;
use turnout_api::client::ClientError;
use turnout_control::types::{ChangeStatus, CreateZone};
use turnout_model::ChangeBatchSpec;

use crate::harness::start;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zone_create_is_idempotent_by_caller_reference() {
    let s = start().await;
    let req = CreateZone {
        name: "a.test".into(),
        caller_reference: Some("ref-1".into()),
        ..Default::default()
    };
    let first = s.client.create_zone(&req).await.unwrap();
    assert!(first.created);
    assert_eq!(first.zone.record_set_count, 2, "SOA and NS");
    let again = s.client.create_zone(&req).await.unwrap();
    assert!(!again.created);
    assert_eq!(again.change.id, first.change.id);
    let other = CreateZone { name: "b.test".into(), ..req.clone() };
    let Err(ClientError::Api(e)) = s.client.create_zone(&other).await else { panic!() };
    assert_eq!(
        (e.status, e.code.as_str(), e.field.as_deref()),
        (409, "CallerReferenceInUse", Some("caller_reference"))
    );
    let Err(ClientError::Api(e)) =
        s.client.create_zone(&CreateZone { name: "a.test".into(), ..Default::default() }).await
    else {
        panic!()
    };
    assert_eq!((e.status, e.code.as_str()), (409, "ZoneAlreadyExists"));
    let Err(ClientError::Api(e)) =
        s.client.create_zone(&CreateZone { name: "bad..name".into(), ..Default::default() }).await
    else {
        panic!()
    };
    assert_eq!(
        (e.status, e.code.as_str(), e.field.as_deref()),
        (400, "InvalidInput", Some("name"))
    );
    assert_eq!(s.client.zones().await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_need_a_valid_token_and_change_nothing_without_one() {
    let s = start().await;
    s.zone("t.test").await;
    let before = s.zone_state("t.test").await;
    let batch: ChangeBatchSpec = serde_json::from_str(
        r#"{"changes":[{"action":"CREATE","record_set":{"name":"www","type":"A","ttl":60,"values":["192.0.2.1"]}}]}"#,
    )
    .unwrap();
    let Err(ClientError::Api(e)) = s.anonymous.submit(Some("t.test"), &batch, false).await else {
        panic!()
    };
    assert_eq!((e.status, e.code.as_str()), (401, "Unauthorized"));
    let wrong = turnout_api::client::Client::new(&s.base, Some("turnout_wrong".into())).unwrap();
    let Err(ClientError::Api(e)) = wrong.submit(Some("t.test"), &batch, false).await else {
        panic!()
    };
    assert_eq!((e.status, e.code.as_str()), (401, "Unauthorized"));
    let Err(ClientError::Api(e)) = wrong.delete_zone("t.test", true).await else { panic!() };
    assert_eq!(e.status, 401);
    assert_eq!(s.zone_state("t.test").await, before);
    // Reads need a token too.
    let Err(ClientError::Api(e)) = s.anonymous.zones().await else { panic!() };
    assert_eq!((e.status, e.code.as_str()), (401, "Unauthorized"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_become_insync_and_zones_delete() {
    let s = start().await;
    s.zone("c.test").await;
    let batch: ChangeBatchSpec = serde_json::from_str(
        r#"{"comment":"first","changes":[{"action":"CREATE","record_set":{"name":"www","type":"A","ttl":60,"values":["192.0.2.1"]}}]}"#,
    )
    .unwrap();
    let change = s.client.submit(Some("c.test"), &batch, true).await.unwrap();
    assert_eq!(change.status, ChangeStatus::Insync);
    assert_eq!(change.comment.as_deref(), Some("first"));
    assert!(change.id.starts_with('C') && change.id.len() == 17, "{}", change.id);
    let got = s.client.change(&change.id, false).await.unwrap();
    assert_eq!(got.status, ChangeStatus::Insync);
    let Err(ClientError::Api(e)) = s.client.change("CNOPE", false).await else { panic!() };
    assert_eq!((e.status, e.code.as_str()), (404, "NoSuchChange"));
    let Err(ClientError::Api(e)) = s.client.delete_zone("c.test", false).await else { panic!() };
    assert_eq!((e.status, e.code.as_str()), (400, "ZoneNotEmpty"));
    let deleted = s.client.delete_zone("c.test", true).await.unwrap();
    s.client.change(&deleted.id, true).await.unwrap();
    assert!(s.handle.load().zones().is_empty());
    let Err(ClientError::Api(e)) = s.client.zone("c.test").await else { panic!() };
    assert_eq!((e.status, e.code.as_str()), (404, "NoSuchZone"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_sets_paginate_in_canonical_order() {
    let s = start().await;
    s.zone("p.test").await;
    let changes: Vec<String> = (0..25)
        .map(|i| format!(r#"{{"action":"CREATE","record_set":{{"name":"h{i:02}","type":"A","ttl":60,"values":["192.0.2.{i}"]}}}}"#))
        .collect();
    let body = format!(r#"{{"changes":[{}]}}"#, changes.join(","));
    s.call(Method::POST, "/v1/zones/p.test/changes", Some(&body)).await.unwrap();
    let page = s.call(Method::GET, "/v1/zones/p.test/rrsets?max_items=10", None).await.unwrap();
    assert_eq!(page["record_sets"].as_array().unwrap().len(), 10);
    assert_eq!(page["is_truncated"], true);
    assert_eq!(page["record_sets"][0]["name"], "p.test.");
    let next = page["next_name"].as_str().unwrap();
    let page2 = s
        .call(
            Method::GET,
            &format!(
                "/v1/zones/p.test/rrsets?max_items=10&name={next}&type={}",
                page["next_type"].as_str().unwrap()
            ),
            None,
        )
        .await
        .unwrap();
    assert_eq!(page2["record_sets"][0]["name"], next);
    assert_eq!(s.client.record_sets("p.test").await.unwrap().len(), 27);
    let e = s.call(Method::GET, "/v1/zones/p.test/rrsets?type=A", None).await.unwrap_err();
    assert_eq!((e.code.as_str(), e.field.as_deref()), ("InvalidInput", Some("type")));
    let e = s.call(Method::GET, "/v1/zones/p.test/rrsets?max_items=301", None).await.unwrap_err();
    assert_eq!((e.code.as_str(), e.field.as_deref()), ("InvalidInput", Some("max_items")));
    let e = s.call(Method::GET, "/v1/zones/p.test/rrsets?max_items=x", None).await.unwrap_err();
    assert_eq!(e.code, "InvalidInput");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_endpoints() {
    let s = start().await;
    let text = |path: &'static str| {
        let base = s.base.clone();
        async move {
            let out = std::process::Command::new("curl")
                .args(["-s", "-w", "\n%{http_code}", &format!("{base}{path}")])
                .output();
            String::from_utf8(out.unwrap().stdout).unwrap()
        }
    };
    assert!(text("/healthz").await.ends_with("200"));
    assert!(text("/readyz").await.starts_with("ready"));
    s.zone("m.test").await;
    let metrics = text("/metrics").await;
    assert!(metrics.contains("turnout_zones 1"), "{metrics}");
    for series in ["turnout_store_reachable 1", "turnout_cluster_isolated 0"] {
        assert!(metrics.contains(series), "{series}: {metrics}");
    }
    assert!(
        metrics.contains("turnout_api_requests_total{method=\"POST\",status=\"201\"} 1"),
        "{metrics}"
    );
    // A made-up method is counted as `other`: no client grows the metrics with its own labels.
    for method in ["BREW", "WHEN", "ZZZ"] {
        let m = Method::from_bytes(method.as_bytes()).unwrap();
        s.call(m, "/v1/zones", None).await.unwrap_err();
    }
    let metrics = text("/metrics").await;
    assert!(!metrics.contains("BREW"), "{metrics}");
    assert!(
        metrics.contains("turnout_api_requests_total{method=\"other\",status=\"405\"} 3"),
        "{metrics}"
    );
    let doc: serde_json::Value = s.call(Method::GET, "/v1/openapi.json", None).await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    for path in [
        "/v1/zones",
        "/v1/zones/{zone}",
        "/v1/zones/{zone}/rrsets",
        "/v1/zones/{zone}/changes",
        "/v1/changes",
        "/v1/changes/{id}",
        "/v1/checks",
        "/v1/checks/{name}",
        "/v1/checks/{name}/status",
        "/v1/explain",
        "/v1/cluster",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} is not documented");
    }
    let e = s.call(Method::GET, "/v1/nope", None).await.unwrap_err();
    assert_eq!((e.status, e.code.as_str()), (404, "NotFound"));
    let e = s.call(Method::PUT, "/v1/zones", Some("{}")).await.unwrap_err();
    assert_eq!((e.status, e.code.as_str()), (405, "MethodNotAllowed"));
}
