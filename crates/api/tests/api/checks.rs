//! Health checks through the API: validation with fields, references from records, deletion
//! guarded while in use, and status observations from the running engine.

use hyper::Method;

use crate::harness::start;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checks_are_validated_referenced_and_guarded() {
    let s = start().await;
    // Every bad field is listed.
    let e = s
        .call(
            Method::PUT,
            "/v1/checks/web",
            Some(r#"{"type":"http","port":0,"interval":"1ms","failure_threshold":11}"#),
        )
        .await
        .unwrap_err();
    assert_eq!((e.status, e.code.as_str()), (400, "InvalidHealthCheck"));
    let fields: Vec<&str> = e.errors.iter().map(|x| x.field.as_str()).collect();
    assert_eq!(fields, ["ip", "port", "interval", "failure_threshold"], "{e:?}");
    let e = s
        .call(
            Method::PUT,
            "/v1/checks/web",
            Some(r#"{"name":"other","type":"tcp","ip":"127.0.0.1"}"#),
        )
        .await
        .unwrap_err();
    assert_eq!((e.code.as_str(), e.field.as_deref()), ("InvalidInput", Some("name")));
    let e = s
        .call(Method::PUT, "/v1/checks/calc", Some(r#"{"type":"calculated","children":["nope"]}"#))
        .await
        .unwrap_err();
    assert_eq!((e.code.as_str(), e.field.as_deref()), ("InvalidHealthCheck", Some("children[0]")));
    assert_eq!(
        s.call(Method::GET, "/v1/checks", None).await.unwrap()["checks"],
        serde_json::json!([])
    );

    // A record may only name an existing check.
    s.zone("hc.test").await;
    let record = r#"{"changes":[{"action":"CREATE","record_set":{"name":"www","type":"A","ttl":60,"set_id":"p","failover":"primary","health_check":"web","values":["192.0.2.1"]}}]}"#;
    let e = s.call(Method::POST, "/v1/zones/hc.test/changes", Some(record)).await.unwrap_err();
    assert_eq!(e.errors[0].field, "changes[0].record_set.health_check");
    assert_eq!(e.errors[0].code.as_str(), "NoSuchHealthCheck");
    let created = s
        .call(
            Method::PUT,
            "/v1/checks/web",
            Some(
                r#"{"type":"tcp","ip":"127.0.0.1","port":9,"interval":"1s","failure_threshold":1}"#,
            ),
        )
        .await
        .unwrap();
    assert_eq!(created["name"], "web");
    s.call(Method::POST, "/v1/zones/hc.test/changes", Some(record)).await.unwrap();
    s.call(Method::PUT, "/v1/checks/calc", Some(r#"{"type":"calculated","children":["web"]}"#))
        .await
        .unwrap();

    // In use: refused, named.
    let e = s.call(Method::DELETE, "/v1/checks/web", None).await.unwrap_err();
    assert_eq!((e.status, e.code.as_str()), (409, "CheckInUse"));
    assert!(e.message.contains("record set"), "{}", e.message);
    let e = s.call(Method::DELETE, "/v1/checks/nope", None).await.unwrap_err();
    assert_eq!((e.status, e.code.as_str()), (404, "NoSuchHealthCheck"));

    // The engine runs it: port 9 on loopback refuses, so a failure shows up.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let st = s.call(Method::GET, "/v1/checks/web/status", None).await.unwrap();
        if st["last_failure"]["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("Failure: Connection to 127.0.0.1:9"))
        {
            assert_eq!(st["results"][0]["class"], "refused");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{st:#}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // Per-check metrics.
    let out = std::process::Command::new("curl")
        .args(["-s", &format!("{}/metrics", s.base)])
        .output()
        .unwrap();
    let metrics = String::from_utf8(out.stdout).unwrap();
    assert!(metrics.contains("turnout_health_check_status{check=\"web\"} 0"), "{metrics}");
    assert!(
        metrics.contains("turnout_health_check_percentage_healthy{check=\"web\"} 0"),
        "{metrics}"
    );
    assert!(
        metrics.contains("turnout_health_check_probes_total{check=\"web\",result=\"refused\"} "),
        "{metrics}"
    );
    // Deleting works once nothing names it.
    s.call(Method::DELETE, "/v1/checks/calc", None).await.unwrap();
    let delete = r#"{"changes":[{"action":"DELETE","record_set":{"name":"www","type":"A","ttl":60,"set_id":"p","failover":"primary","health_check":"web","values":["192.0.2.1"]}}]}"#;
    s.call(Method::POST, "/v1/zones/hc.test/changes", Some(delete)).await.unwrap();
    s.call(Method::DELETE, "/v1/checks/web", None).await.unwrap();
    let e = s.call(Method::GET, "/v1/checks/web", None).await.unwrap_err();
    assert_eq!(e.code, "NoSuchHealthCheck");
}
