//! Probes and the engine against real targets on loopback: TCP listeners, an HTTP server
//! (axum), and an HTTPS server (rustls with an rcgen certificate) that records the SNI it got.
#![allow(clippy::unwrap_used)] // A panic is how a test fails.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::get;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use turnout_health::engine::{Quorum, Report};
use turnout_health::{FailureClass, HealthEngine, probe};
use turnout_model::health::{HealthCheck, HealthCheckSpec, Status, TargetPolicy};

fn check(json: &str) -> HealthCheck {
    serde_json::from_str::<HealthCheckSpec>(json).unwrap().validate().unwrap()
}

/// An HTTP target: `/ok`, `/down` (503), `/moved` (301), `/slow` (never answers in time),
/// `/late` (the match at byte 6000), `/gzip` (gzip body), `/host` (echoes Host), `/headers`
/// (echoes User-Agent, X-Probe and Authorization).
async fn http_target() -> SocketAddr {
    let gz = {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(b"all systems OK").unwrap();
        e.finish().unwrap()
    };
    let app = Router::new()
        .route("/ok", get(|| async { "status: OK" }))
        .route("/down", get(|| async { (StatusCode::SERVICE_UNAVAILABLE, "down") }))
        .route(
            "/moved",
            get(|| async { (StatusCode::MOVED_PERMANENTLY, [(header::LOCATION, "/ok")]) }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "late"
            }),
        )
        .route("/late", get(|| async { format!("{}OK", "x".repeat(6000)) }))
        .route(
            "/gzip",
            get(move || {
                let gz = gz.clone();
                async move { ([(header::CONTENT_ENCODING, "gzip")], gz) }
            }),
        )
        .route(
            "/headers",
            get(|headers: HeaderMap| async move {
                let get = |n: &str| headers.get(n).and_then(|h| h.to_str().ok()).unwrap_or("-");
                format!(
                    "ua={} x-probe={} authorization={}",
                    get("user-agent"),
                    get("x-probe"),
                    get("authorization")
                )
            }),
        )
        .route(
            "/host",
            get(|headers: HeaderMap| async move {
                format!(
                    "host={}",
                    headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("")
                )
            }),
        );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

fn http(addr: SocketAddr, path: &str, extra: &str) -> HealthCheck {
    check(&format!(
        r#"{{"name":"h","type":"http","ip":"127.0.0.1","port":{},"path":"{path}","response_timeout":"300ms"{extra}}}"#,
        addr.port()
    ))
}

#[tokio::test]
async fn tcp_success_and_refusal() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let c = check(&format!(r#"{{"name":"t","type":"tcp","ip":"127.0.0.1","port":{port}}}"#));
    let r = probe(&c, &TargetPolicy::default()).await;
    assert!(r.success, "{r:?}");
    assert!(r.connect.is_some());
    drop(listener);
    let r = probe(&c, &TargetPolicy::default()).await;
    assert_eq!((r.success, r.class), (false, Some(FailureClass::Refused)), "{r:?}");
    assert!(r.reason.starts_with("Failure: Connection to 127.0.0.1:"), "{}", r.reason);
}

#[tokio::test]
async fn http_status_rules() {
    let addr = http_target().await;
    let r = probe(&http(addr, "/ok", ""), &TargetPolicy::default()).await;
    assert_eq!((r.success, r.reason.as_str()), (true, "Success: HTTP Status Code 200, OK"));
    assert!(r.first_byte.is_some() && r.connect.is_some());
    let r = probe(&http(addr, "/down", ""), &TargetPolicy::default()).await;
    assert_eq!(
        (r.success, r.class, r.reason.as_str()),
        (false, Some(FailureClass::BadStatus), "Failure: HTTP Status Code 503")
    );
    assert!(
        probe(&http(addr, "/moved", ""), &TargetPolicy::default()).await.success,
        "a 3xx is a success, not followed"
    );
    let r = probe(&http(addr, "/slow", ""), &TargetPolicy::default()).await;
    assert_eq!((r.success, r.class), (false, Some(FailureClass::ResponseTimeout)), "{r:?}");
}

#[tokio::test]
async fn string_match_window_case_and_gzip() {
    let addr = http_target().await;
    assert!(probe(&http(addr, "/ok", r#","search":"OK""#), &TargetPolicy::default()).await.success);
    let r = probe(&http(addr, "/ok", r#","search":"ok""#), &TargetPolicy::default()).await;
    assert_eq!(r.class, Some(FailureClass::NoMatch), "case-sensitive: {r:?}");
    let r = probe(&http(addr, "/late", r#","search":"OK""#), &TargetPolicy::default()).await;
    assert_eq!(r.class, Some(FailureClass::NoMatch), "beyond 5,120 bytes: {r:?}");
    assert!(
        probe(&http(addr, "/gzip", r#","search":"systems OK""#), &TargetPolicy::default())
            .await
            .success,
        "gzip is decoded"
    );
}

#[tokio::test]
async fn host_header_follows_the_reference() {
    let addr = http_target().await;
    let port = addr.port();
    // The body is not shown by a probe; a string match on it checks what the server saw.
    let by_ip = http(addr, "/host", &format!(r#","search":"host=127.0.0.1:{port}""#));
    assert!(probe(&by_ip, &TargetPolicy::default()).await.success);
    let by_name = check(&format!(
        r#"{{"name":"h","type":"http","ip":"127.0.0.1","fqdn":"web.example.test","port":{port},"path":"/host","search":"host=web.example.test:{port}"}}"#
    ));
    assert!(probe(&by_name, &TargetPolicy::default()).await.success);
}

/// Each handshake an HTTPS target saw: the client's SNI, and whether it resumed a session.
type Handshakes = Arc<Mutex<Vec<(Option<String>, bool)>>>;

/// An HTTPS target with a self-signed certificate for `localhost`; records each handshake.
async fn https_target() -> (SocketAddr, Handshakes) {
    https_target_valid_for(None).await
}

/// The same, its certificate expiring in `valid_for` from now (rcgen's default: 4096).
async fn https_target_valid_for(valid_for: Option<Duration>) -> (SocketAddr, Handshakes) {
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    if let Some(left) = valid_for {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
        params.not_after = rcgen::date_time_ymd(1970, 1, 1) + now + left;
    }
    let signing_key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertifiedKey { cert: params.self_signed(&signing_key).unwrap(), signing_key };
    let key = rustls::pki_types::PrivateKeyDer::try_from(cert.signing_key.serialize_der()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let log = log.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(stream).await else { return };
                let session = tls.get_ref().1;
                let resumed = session.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
                log.lock().unwrap().push((session.server_name().map(str::to_owned), resumed));
                let mut buf = [0u8; 2048];
                let _ = tls.read(&mut buf).await;
                let _ = tls
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 6\r\nconnection: close\r\n\r\nsecure",
                    )
                    .await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (addr, seen)
}

/// An https check of `localhost` on 127.0.0.1:`port` searching the target's body, with
/// `extra` JSON fields.
fn https_check(port: u16, extra: &str) -> HealthCheck {
    check(&format!(
        r#"{{"name":"s","type":"https","ip":"127.0.0.1","fqdn":"localhost","port":{port},"search":"secure"{extra}}}"#
    ))
}

#[tokio::test]
async fn https_sni_and_verification() {
    let (addr, seen) = https_target().await;
    let port = addr.port();
    let https = |extra: &str| https_check(port, extra);
    let r = probe(&https(""), &TargetPolicy::default()).await;
    assert!(r.success, "a self-signed certificate passes by default: {r:?}");
    assert!(r.tls.is_some() && r.first_byte.is_some());
    assert!(probe(&https(r#","enable_sni":false"#), &TargetPolicy::default()).await.success);
    let r = probe(&https(r#","verify_tls":true"#), &TargetPolicy::default()).await;
    assert_eq!((r.success, r.class), (false, Some(FailureClass::Tls)), "verification on: {r:?}");
    let sni = seen.lock().unwrap().clone();
    assert_eq!(sni[0].0.as_deref(), Some("localhost"));
    assert_eq!(sni[1].0, None, "no SNI when disabled");
}

#[tokio::test]
async fn https_probes_make_a_full_handshake_unless_resumption_is_allowed() {
    let (addr, seen) = https_target().await;
    let port = addr.port();
    let https = |extra: &str| https_check(port, extra);
    let policy = TargetPolicy::default();
    for _ in 0..3 {
        assert!(probe(&https(""), &policy).await.success);
    }
    for _ in 0..3 {
        assert!(probe(&https(r#","tls_resumption":true"#), &policy).await.success);
    }
    // Server side: the handshake is recorded after the probe has read its answer, so wait
    // for the sixth.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while seen.lock().unwrap().len() < 6 {
        assert!(std::time::Instant::now() < deadline, "{:?}", seen.lock().unwrap());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let resumed: Vec<bool> = seen.lock().unwrap().iter().map(|(_, r)| *r).collect();
    // By default no probe resumes; allowed, the first makes a full handshake (the sessions
    // of the default probes are not kept) and the next two resume its session.
    assert_eq!(resumed, [false, false, false, false, true, true]);
}

async fn wait_for(slot: &turnout_model::health::HealthSlot, want: Status, within: Duration) {
    let end = tokio::time::Instant::now() + within;
    while slot.get() != want {
        assert!(tokio::time::Instant::now() < end, "still {} after {within:?}", slot.get());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn the_engine_follows_the_endpoint_and_computes_calculated_checks() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let tcp = check(&format!(
        r#"{{"name":"web","type":"tcp","ip":"127.0.0.1","port":{},"interval":"100ms","failure_threshold":2,"recovery_threshold":1}}"#,
        addr.port()
    ));
    let always = check(r#"{"name":"off","type":"tcp","ip":"127.0.0.1","disabled":true}"#);
    let both = check(
        r#"{"name":"both","type":"calculated","children":["web","off"],"health_threshold":2}"#,
    );
    let inverted = check(
        r#"{"name":"inv","type":"tcp","ip":"127.0.0.1","port":1,"disabled":true,"inverted":true}"#,
    );
    let engine = HealthEngine::new();
    engine.apply(&[tcp.clone(), always.clone(), both.clone(), inverted.clone()], &|_| None);
    let (web, calc) = (engine.slot("web"), engine.slot("both"));
    assert_eq!(engine.slot("inv").get(), Status::Unhealthy, "disabled + inverted");
    assert_eq!(engine.slot("off").get(), Status::Healthy, "disabled");
    wait_for(&web, Status::Healthy, Duration::from_secs(2)).await;
    wait_for(&calc, Status::Healthy, Duration::from_secs(2)).await;
    drop(listener);
    // Two failures 100 ms apart, plus the first probe's jitter.
    wait_for(&web, Status::Unhealthy, Duration::from_secs(2)).await;
    wait_for(&calc, Status::Unhealthy, Duration::from_secs(2)).await;
    let state = engine.state("web").unwrap();
    assert_eq!(state.status, "unhealthy");
    assert!(state.last_failure.unwrap().result.reason.starts_with("Failure: Connection to"));
    assert_eq!(state.transitions[0].to, "unhealthy");
    let _back = TcpListener::bind(addr).await.unwrap();
    wait_for(&web, Status::Healthy, Duration::from_secs(2)).await;
    wait_for(&calc, Status::Healthy, Duration::from_secs(2)).await;
    // Removing a check stops it; its slot stays (snapshots may still hold it).
    engine.apply(&[always], &|_| None);
    assert!(engine.state("web").is_none());
    engine.shutdown();
}

#[tokio::test]
async fn other_checkers_reports_decide_by_quorum_until_they_go() {
    // This node's probes fail; what the other checkers report decides.
    let down = check(
        r#"{"name":"web","type":"tcp","ip":"127.0.0.1","port":1,"interval":"100ms","failure_threshold":1,"threshold_pct":50}"#,
    );
    let engine = HealthEngine::new();
    let report =
        |healthy: bool| -> Report { std::sync::Arc::new([("web".to_owned(), healthy)].into()) };
    let quorum = |reports: Vec<(&str, Report)>| {
        Some(Quorum {
            me: "a".into(),
            reports: reports.into_iter().map(|(n, r)| (n.to_owned(), r)).collect(),
            ..Quorum::default()
        })
    };
    // b and c see it up: 2 of 3 > 50 %.
    engine.set_quorum(quorum(vec![("b", report(true)), ("c", report(true))]));
    engine.apply(&[down], &|_| None);
    let web = engine.slot("web");
    let end = tokio::time::Instant::now() + Duration::from_secs(2);
    while engine.state("web").unwrap().observed != "unhealthy" {
        assert!(tokio::time::Instant::now() < end, "this node's probes never failed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(web.get(), Status::Healthy, "2 of 3 checkers see it healthy");
    assert!(!engine.observations()["web"], "what this node reports");
    let views = engine.state("web").unwrap().checkers;
    assert_eq!(views.len(), 3, "{views:?}");
    assert!(views.iter().any(|c| c.checker == "a" && c.observed == "unhealthy"), "{views:?}");
    // c's registration expires (its node is gone), so its report leaves the count: 1 of 2 is
    // not more than 50 %.
    engine.set_quorum(quorum(vec![("b", report(true))]));
    assert_eq!(web.get(), Status::Unhealthy);
    let state = engine.state("web").unwrap();
    assert_eq!(state.transitions[0].reason, "1 of 2 checkers report healthy");
    assert!(state.checkers.iter().all(|c| c.checker != "c"), "{:?}", state.checkers);
    // c comes back seeing it up: healthy again at once.
    engine.set_quorum(quorum(vec![("b", report(true)), ("c", report(true))]));
    assert_eq!(web.get(), Status::Healthy);
    engine.shutdown();
}

#[tokio::test]
async fn a_new_checker_counts_once_its_probes_establish_its_status() {
    // A node joins while the others agree the endpoint is down. Its own observation starts
    // healthy (the default), which must not outvote them: it counts only once this run's
    // probes (three, the failure threshold) have established it.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let up = check(&format!(
        r#"{{"name":"web","type":"tcp","ip":"127.0.0.1","port":{port},"interval":"100ms","failure_threshold":3}}"#
    ));
    let engine = HealthEngine::new();
    let down: Report = std::sync::Arc::new([("web".to_owned(), false)].into());
    let reports = [("b".to_owned(), down.clone()), ("c".to_owned(), down)].into();
    engine.set_quorum(Some(Quorum { me: "a".into(), reports, ..Quorum::default() }));
    engine.apply(&[up], &|_| None);
    let web = engine.slot("web");
    assert_eq!(web.get(), Status::Unhealthy, "0 of 2 counted checkers report healthy");
    let state = engine.state("web").unwrap();
    assert!(state.checkers.iter().any(|c| c.checker == "a" && !c.counted), "{:?}", state.checkers);
    assert!(engine.observations().is_empty(), "nothing established to report yet");
    // Its probes succeed three times: its healthy observation counts, 1 of 3 > 18 %.
    let end = tokio::time::Instant::now() + Duration::from_secs(3);
    while web.get() != Status::Healthy {
        assert!(tokio::time::Instant::now() < end, "{:?}", engine.state("web"));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let state = engine.state("web").unwrap();
    assert!(state.probes["success"] >= 3, "{:?}", state.probes);
    assert_eq!(
        state.transitions[0].reason.rsplit("; ").next(),
        Some("1 of 3 checkers report healthy")
    );
    assert_eq!(engine.observations().get("web"), Some(&true));
    engine.shutdown();
}

#[tokio::test]
async fn a_placed_check_is_probed_and_judged_by_its_checkers_only() {
    // "web" is placed on b and c: this node (a) does not probe it, and its status is theirs,
    // whatever a would see. Then it is placed on a and b: a probes, and c no longer counts.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let web = check(&format!(
        r#"{{"name":"web","type":"tcp","ip":"127.0.0.1","port":{port},"interval":"100ms","failure_threshold":1,"checkers_per_region":2}}"#
    ));
    let engine = HealthEngine::new();
    let report =
        |healthy: bool| -> Report { std::sync::Arc::new([("web".to_owned(), healthy)].into()) };
    let placed = |on: &[&str]| {
        let on: std::collections::BTreeSet<String> = on.iter().map(|c| (*c).to_owned()).collect();
        std::sync::Arc::new([("web".to_owned(), std::sync::Arc::new(on))].into())
    };
    let reports: std::collections::BTreeMap<String, Report> =
        [("b".to_owned(), report(false)), ("c".to_owned(), report(false))].into();
    engine.set_quorum(Some(Quorum {
        me: "a".into(),
        reports: reports.clone(),
        placement: placed(&["b", "c"]),
    }));
    engine.apply(&[web], &|_| None);
    let slot = engine.slot("web");
    assert!(!engine.probes_here("web"));
    assert_eq!(slot.get(), Status::Unhealthy, "b and c say it is down; a does not count");
    tokio::time::sleep(Duration::from_millis(400)).await;
    let state = engine.state("web").unwrap();
    assert!(state.probes.is_empty(), "a never probed it: {:?}", state.probes);
    assert!(state.checkers.iter().all(|c| c.checker != "a"), "{:?}", state.checkers);
    assert!(engine.observations().is_empty(), "a reports nothing of it");
    // Moved to a and b: a probes it (the port is open), and once a's probe establishes its
    // view, 1 of 2 is healthy (> 18 %); c's report no longer counts.
    engine.set_quorum(Some(Quorum { me: "a".into(), reports, placement: placed(&["a", "b"]) }));
    let end = tokio::time::Instant::now() + Duration::from_secs(3);
    while slot.get() != Status::Healthy {
        assert!(tokio::time::Instant::now() < end, "{:?}", engine.state("web"));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let state = engine.state("web").unwrap();
    let counted: Vec<&str> =
        state.checkers.iter().filter(|c| c.counted).map(|c| c.checker.as_str()).collect();
    assert_eq!(counted, ["a", "b"], "{:?}", state.checkers);
    assert_eq!(engine.observations().get("web"), Some(&true));
    engine.shutdown();
}

#[tokio::test]
async fn denied_networks_are_not_probed_even_after_resolution() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let policy = TargetPolicy::parse(&[], &["127.0.0.0/8".into()]).unwrap();
    let by_name =
        check(&format!(r#"{{"name":"n","type":"tcp","fqdn":"localhost","port":{port}}}"#));
    let r = probe(&by_name, &policy).await;
    assert_eq!((r.success, r.class), (false, Some(FailureClass::Denied)), "{r:?}");
    assert!(r.reason.contains("is in the denied network 127.0.0.0/8"), "{}", r.reason);
    assert!(probe(&by_name, &TargetPolicy::default()).await.success);
    // The IPv4-mapped form of a denied address is denied too (a dual-stack socket would
    // connect to 127.0.0.1 through it).
    let mapped =
        check(&format!(r#"{{"name":"m","type":"tcp","ip":"::ffff:127.0.0.1","port":{port}}}"#));
    let r = probe(&mapped, &policy).await;
    assert_eq!((r.success, r.class), (false, Some(FailureClass::Denied)), "{r:?}");
    assert!(r.reason.contains("::ffff:127.0.0.1 (that is, 127.0.0.1)"), "{}", r.reason);
}

#[test]
fn failure_class_names_match_their_json() {
    use FailureClass::*;
    for class in [
        Dns,
        Timeout,
        Refused,
        Tls,
        ResponseTimeout,
        Http,
        BadStatus,
        NoMatch,
        Denied,
        Alarm,
        InsufficientData,
        Local,
        Protocol,
    ] {
        assert_eq!(serde_json::to_value(class).unwrap(), class.as_str());
    }
}

/// A Prometheus stand-in: a real HTTP server answering `/api/v1/query` with whatever body
/// the test sets, and recording the queries it was asked.
async fn prometheus() -> (SocketAddr, Arc<Mutex<(u16, String)>>, Arc<Mutex<Vec<String>>>) {
    use axum::extract::Query;
    use std::collections::HashMap;
    let answer = Arc::new(Mutex::new((200, vector(&["0"]))));
    let asked = Arc::new(Mutex::new(Vec::new()));
    let (a, q) = (answer.clone(), asked.clone());
    let app = Router::new().route(
        "/prom/api/v1/query",
        get(move |Query(params): Query<HashMap<String, String>>| {
            q.lock().unwrap().push(params.get("query").cloned().unwrap_or_default());
            let (status, body) = a.lock().unwrap().clone();
            async move {
                (
                    StatusCode::from_u16(status).unwrap(),
                    [(header::CONTENT_TYPE, "application/json")],
                    body,
                )
            }
        }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, answer, asked)
}

fn vector(values: &[&str]) -> String {
    let samples: Vec<String> = values
        .iter()
        .map(|v| format!(r#"{{"metric":{{"job":"web"}},"value":[1700000000.5,"{v}"]}}"#))
        .collect();
    format!(
        r#"{{"status":"success","data":{{"resultType":"vector","result":[{}]}}}}"#,
        samples.join(",")
    )
}

fn metric(addr: SocketAddr, extra: &str) -> HealthCheck {
    check(&format!(
        r#"{{"name":"errors","type":"metric","prometheus":"http://{addr}/prom/","query":"sum(rate(errors[1m])) > bool 0","comparison":">=","threshold":0.5,"interval":"1s","failure_threshold":1{extra}}}"#
    ))
}

#[tokio::test]
async fn metric_checks_compare_the_query_value() {
    let (addr, answer, asked) = prometheus().await;
    let c = metric(addr, "");
    let policy = TargetPolicy::default();
    let r = probe(&c, &policy).await;
    assert!(r.success && r.class.is_none(), "{r:?}");
    assert_eq!(r.reason, "Success: metric value 0 (in alarm when >= 0.5)");
    assert_eq!(
        asked.lock().unwrap()[0],
        "sum(rate(errors[1m])) > bool 0",
        "the query arrives intact"
    );
    *answer.lock().unwrap() = (200, vector(&["0.5"]));
    let r = probe(&c, &policy).await;
    assert_eq!((r.success, r.class), (false, Some(FailureClass::Alarm)), "{r:?}");
    // No value: the choice decides.
    *answer.lock().unwrap() = (200, vector(&[]));
    for (choice, success) in [("healthy", true), ("unhealthy", false), ("last_known", false)] {
        let c = metric(addr, &format!(r#","insufficient_data":"{choice}""#));
        let r = probe(&c, &policy).await;
        assert_eq!((r.success, r.class), (success, Some(FailureClass::InsufficientData)));
        assert!(r.reason.contains("the query returned no series"), "{}", r.reason);
    }
    *answer.lock().unwrap() = (
        400,
        r#"{"status":"error","errorType":"bad_data","error":"parse error at char 3"}"#.into(),
    );
    let r = probe(&c, &policy).await;
    assert_eq!(r.class, Some(FailureClass::InsufficientData));
    assert!(r.reason.contains("HTTP 400: parse error at char 3"), "{}", r.reason);
    // Prometheus down is insufficient data too, and the denied networks apply to it.
    let down = metric("127.0.0.1:1".parse().unwrap(), r#","insufficient_data":"unhealthy""#);
    let r = probe(&down, &policy).await;
    assert_eq!((r.success, r.class), (false, Some(FailureClass::InsufficientData)), "{r:?}");
    let deny = TargetPolicy::parse(&[], &["127.0.0.0/8".into()]).unwrap();
    assert!(probe(&c, &deny).await.reason.contains("denied network"));
}

#[tokio::test]
async fn a_metric_check_without_data_keeps_its_last_known_status() {
    let (addr, answer, _asked) = prometheus().await;
    let c = metric(addr, "");
    let engine = HealthEngine::new();
    engine.apply(std::slice::from_ref(&c), &|_| None);
    let slot = engine.slot("errors");
    *answer.lock().unwrap() = (200, vector(&["1"]));
    wait_for(&slot, Status::Unhealthy, Duration::from_secs(3)).await;
    // The data stops: the check stays unhealthy through several evaluations.
    *answer.lock().unwrap() = (200, vector(&[]));
    let end = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let state = engine.state("errors").unwrap();
        if state.probes.get("insufficient_data").copied().unwrap_or(0) >= 2 {
            assert_eq!(state.status, "unhealthy", "{state:?}");
            break;
        }
        assert!(tokio::time::Instant::now() < end, "{state:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(slot.get(), Status::Unhealthy);
    *answer.lock().unwrap() = (200, vector(&["0"]));
    wait_for(&slot, Status::Healthy, Duration::from_secs(3)).await;
    engine.shutdown();
}

#[test]
fn a_probe_that_cannot_get_a_descriptor_is_the_checkers_fault_not_the_targets() {
    let of = |errno| {
        FailureClass::of_io(&std::io::Error::from_raw_os_error(errno), FailureClass::Refused)
    };
    for errno in [libc::EMFILE, libc::ENFILE, libc::ENOBUFS, libc::ENOMEM, libc::EADDRNOTAVAIL] {
        assert_eq!(of(errno), FailureClass::Local, "errno {errno}");
    }
    assert!(FailureClass::Local.is_local());
    for errno in [libc::ECONNREFUSED, libc::ECONNRESET, libc::EHOSTUNREACH] {
        assert_eq!(of(errno), FailureClass::Refused, "errno {errno}");
    }
}

#[tokio::test]
async fn the_user_agent_and_custom_headers_arrive() {
    let addr = http_target().await;
    let policy = TargetPolicy::default();
    let ua = turnout_health::probe::USER_AGENT;
    assert!(ua.starts_with("Turnout-Health-Check/") && ua.len() > "Turnout-Health-Check/".len());
    let plain = http(addr, "/headers", &format!(r#","search":"ua={ua} x-probe=- ""#));
    let r = probe(&plain, &policy).await;
    assert!(r.success, "{}", r.reason);
    let with = http(
        addr,
        "/headers",
        &format!(
            r#","search":"ua={ua} x-probe=edge-7 authorization=Bearer abc","headers":{{"X-Probe":"edge-7","Authorization":"Bearer abc"}}"#
        ),
    );
    let r = probe(&with, &policy).await;
    assert!(r.success, "{}", r.reason);
    let own_ua = http(
        addr,
        "/headers",
        r#","search":"ua=curl/8 x-probe=-","headers":{"user-agent":"curl/8"}"#,
    );
    let r = probe(&own_ua, &policy).await;
    assert!(r.success, "{}", r.reason);
    // The same probes fail when the target sees something else: the search is what decides.
    let wrong =
        http(addr, "/headers", r#","search":"x-probe=nope","headers":{"X-Probe":"edge-7"}"#);
    assert!(!probe(&wrong, &policy).await.success);
}

#[test]
fn headers_are_checked() {
    let refused = |headers: &str, field: &str| {
        let spec: HealthCheckSpec = serde_json::from_str(&format!(
            r#"{{"name":"h","type":"http","ip":"127.0.0.1","headers":{headers}}}"#
        ))
        .unwrap();
        let errors = spec.validate().unwrap_err();
        assert!(errors.iter().any(|e| e.field == field), "{headers}: {errors:?}");
    };
    refused(r#"{"Host":"x"}"#, "headers.Host");
    refused(r#"{"Transfer-Encoding":"chunked"}"#, "headers.Transfer-Encoding");
    refused(r#"{"bad name":"x"}"#, "headers.bad name");
    refused(r#"{"X-A":"line\nbreak"}"#, "headers.X-A");
    refused(r#"{"X-A":"1","x-a":"2"}"#, "headers.x-a");
    let tcp: HealthCheckSpec = serde_json::from_str(
        r#"{"name":"t","type":"tcp","ip":"127.0.0.1","port":1,"headers":{"X-A":"1"}}"#,
    )
    .unwrap();
    assert!(tcp.validate().unwrap_err().iter().any(|e| e.field == "headers"));
}

#[tokio::test]
async fn an_observe_only_check_records_its_failure_but_answers_see_it_healthy() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let spec = |name: &str, extra: &str| {
        check(&format!(
            r#"{{"name":"{name}","type":"tcp","ip":"127.0.0.1","port":{port},"interval":"100ms","failure_threshold":1{extra}}}"#
        ))
    };
    let shadow = spec("shadow", r#","observe_only":true"#);
    let real = spec("real", "");
    let parent = check(
        r#"{"name":"parent","type":"calculated","children":["shadow"],"health_threshold":1}"#,
    );
    let engine = HealthEngine::new();
    let changes = Arc::new(Mutex::new(Vec::new()));
    let seen = changes.clone();
    engine.on_transition(Box::new(move |c| {
        seen.lock().unwrap().push((c.check.to_owned(), c.to.to_string()));
    }));
    engine.apply(&[shadow.clone(), real, parent], &|_| None);
    // The same failing target: the ordinary check turns its slot unhealthy ...
    wait_for(&engine.slot("real"), Status::Unhealthy, Duration::from_secs(2)).await;
    let end = tokio::time::Instant::now() + Duration::from_secs(2);
    while engine.state("shadow").unwrap().status != "unhealthy" {
        assert!(tokio::time::Instant::now() < end, "the shadow check never failed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // ... the shadow check records and reports the failure, but answers (and a calculated
    // parent) still see it healthy.
    assert_eq!(engine.slot("shadow").get(), Status::Healthy);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(engine.slot("parent").get(), Status::Healthy);
    let state = engine.state("shadow").unwrap();
    assert_eq!(state.transitions[0].to, "unhealthy");
    assert!(changes.lock().unwrap().contains(&("shadow".to_owned(), "unhealthy".to_owned())));
    // Trusted: without observe_only the same check steers answers at once.
    let trusted = check(&format!(
        r#"{{"name":"shadow","type":"tcp","ip":"127.0.0.1","port":{port},"interval":"100ms","failure_threshold":1}}"#
    ));
    engine.apply(&[trusted], &|name| (name == "shadow").then_some(Status::Unhealthy));
    wait_for(&engine.slot("shadow"), Status::Unhealthy, Duration::from_secs(2)).await;
    engine.shutdown();
}

#[tokio::test]
async fn ten_checks_of_one_target_share_one_probe_per_interval() {
    let (port, accepted) = counting_target().await;
    // Ten checks with their own thresholds and inversion, one request to one target.
    let checks: Vec<HealthCheck> = (0..10)
        .map(|i| {
            let inverted = if i == 9 { r#","inverted":true"# } else { "" };
            check(&format!(
                r#"{{"name":"c{i}","type":"tcp","ip":"127.0.0.1","port":{port},"interval":"1s","failure_threshold":{}{inverted}}}"#,
                1 + i % 3
            ))
        })
        .collect();
    let engine = HealthEngine::new();
    engine.apply(&checks, &|_| None);
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let probes = accepted.load(std::sync::atomic::Ordering::SeqCst);
    // About 3.5 intervals (the first after a jitter under one interval): 3 or 4 probes, not
    // 30 to 40.
    assert!((2..=5).contains(&probes), "{probes} connections in 3.5 s");
    for c in &checks {
        let state = engine.state(&c.name).unwrap();
        let seen = state.probes.get("success").copied().unwrap_or(0);
        assert!(seen >= 2, "{} saw {seen} results", c.name);
        assert_eq!(state.shares_probes_with.len(), 9, "{:?}", state.shares_probes_with);
    }
    // Each applies its own rules to the shared results: the inverted one is unhealthy.
    assert_eq!(engine.slot("c0").get(), Status::Healthy);
    assert_eq!(engine.slot("c9").get(), Status::Unhealthy);
    engine.shutdown();
}

#[tokio::test]
async fn a_silent_checkers_last_report_counts_as_each_check_says() {
    // This node sees the endpoint down; checker b saw it up, then its registration expires.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let names = ["ignore", "healthy", "unhealthy", "last_known"];
    let checks: Vec<HealthCheck> = names
        .iter()
        .map(|policy| {
            check(&format!(
                r#"{{"name":"{policy}","type":"tcp","ip":"127.0.0.1","port":{port},"interval":"100ms","failure_threshold":1,"threshold_pct":49,"silent_checkers":"{policy}"}}"#
            ))
        })
        .collect();
    let engine = HealthEngine::new();
    let quorum = |reports: Vec<(&str, bool)>| {
        let reports = reports
            .into_iter()
            .map(|(c, h)| {
                let report: Report = Arc::new(names.iter().map(|n| ((*n).to_owned(), h)).collect());
                (c.to_owned(), report)
            })
            .collect();
        Some(Quorum { me: "a".into(), reports, ..Quorum::default() })
    };
    engine.set_quorum(quorum(vec![("b", true)]));
    engine.apply(&checks, &|_| None);
    for n in names {
        let end = tokio::time::Instant::now() + Duration::from_secs(2);
        while engine.state(n).unwrap().observed != "unhealthy" {
            assert!(tokio::time::Instant::now() < end, "{n}: this node's probe never failed");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(engine.slot(n).get(), Status::Healthy, "{n}: 1 of 2 report healthy");
    }
    // b goes silent: each check counts its last report as it says.
    engine.set_quorum(quorum(vec![]));
    let status = |n: &str| engine.slot(n).get();
    assert_eq!(status("ignore"), Status::Unhealthy, "only this node's report: 0 of 1");
    assert_eq!(status("healthy"), Status::Healthy, "b counted healthy: 1 of 2");
    assert_eq!(status("unhealthy"), Status::Unhealthy, "b counted unhealthy: 0 of 2");
    assert_eq!(status("last_known"), Status::Healthy, "b's last report, healthy: 1 of 2");
    let views = engine.state("healthy").unwrap().checkers;
    assert!(
        views.iter().any(|v| v.checker == "b (silent)" && v.observed == "healthy" && v.counted),
        "{views:?}"
    );
    assert_eq!(engine.silent_checkers().len(), 1);
    // b is back, seeing it down too: its live report counts, the memory is gone.
    engine.set_quorum(quorum(vec![("b", false)]));
    assert!(engine.silent_checkers().is_empty());
    for n in names {
        assert_eq!(status(n), Status::Unhealthy, "{n}");
    }
    engine.shutdown();
}

#[tokio::test]
async fn one_target_gets_at_most_its_probe_rate_whatever_checks_ask() {
    let (port, accepted) = counting_target().await;
    // Five checks that do not share probes (each its own connect timeout), every 100 ms:
    // 50 probes a second asked, 4 allowed.
    let checks: Vec<HealthCheck> = (0..5)
        .map(|i| {
            check(&format!(
                r#"{{"name":"c{i}","type":"tcp","ip":"127.0.0.1","port":{port},"interval":"100ms","connect_timeout":"{}ms"}}"#,
                500 + i
            ))
        })
        .collect();
    let engine = HealthEngine::new();
    engine.set_target_policy(TargetPolicy { max_probes_per_target: 4, ..TargetPolicy::default() });
    engine.apply(&checks, &|_| None);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let probes = accepted.load(std::sync::atomic::Ordering::SeqCst);
    // 4 a second over 2.5 s: at most 12 (a window's worth at each end), not about 125.
    assert!((6..=12).contains(&probes), "{probes} connections in 2.5 s");
    // Every check still gets results: the cap delays probes, it drops none.
    for c in &checks {
        let seen = engine.state(&c.name).unwrap().probes.get("success").copied().unwrap_or(0);
        assert!(seen >= 1, "{} saw {seen} results", c.name);
    }
    engine.shutdown();
}

/// A TCP target on loopback that counts the connections it accepts: its port and the count.
async fn counting_target() -> (u16, Arc<std::sync::atomic::AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            drop(s);
        }
    });
    (port, accepted)
}

#[tokio::test]
async fn an_https_check_fails_while_its_certificate_expires_too_soon() {
    let policy = TargetPolicy::default();
    let (soon, _) = https_target_valid_for(Some(Duration::from_secs(86_400 + 3600))).await;
    let (later, _) = https_target_valid_for(Some(Duration::from_secs(90 * 86_400))).await;
    let https = |addr: SocketAddr, extra: &str| {
        check(&format!(
            r#"{{"name":"s","type":"https","ip":"127.0.0.1","port":{},"response_timeout":"2s"{extra}}}"#,
            addr.port()
        ))
    };
    // A day left, 7 asked: a TLS failure that says when.
    let r = probe(&https(soon, r#","min_cert_days":7"#), &policy).await;
    assert!(!r.success);
    assert_eq!(r.class, Some(FailureClass::Tls));
    assert!(
        r.reason.starts_with("Failure: the certificate expires in 1 day(s), at "),
        "{}",
        r.reason
    );
    assert!(r.reason.ends_with("under min_cert_days 7"), "{}", r.reason);
    // Without the setting the same endpoint is healthy; 90 days left passes 30.
    assert!(probe(&https(soon, ""), &policy).await.success);
    let r = probe(&https(later, r#","min_cert_days":30"#), &policy).await;
    assert!(r.success, "{}", r.reason);
    let refused: HealthCheckSpec =
        serde_json::from_str(r#"{"name":"h","type":"http","ip":"127.0.0.1","min_cert_days":7}"#)
            .unwrap();
    assert!(refused.validate().unwrap_err().iter().any(|e| e.field == "min_cert_days"));
}

#[tokio::test]
async fn a_tls_check_shakes_hands_and_holds_the_certificate_to_its_expiry() {
    let policy = TargetPolicy::default();
    let (soon, _) = https_target_valid_for(Some(Duration::from_secs(86_400 + 3600))).await;
    let tls = |port: u16, extra: &str| {
        check(&format!(
            r#"{{"name":"t","type":"tls","ip":"127.0.0.1","fqdn":"localhost","port":{port}{extra}}}"#
        ))
    };
    // A certificate made to expire in a day: the handshake passes and says so.
    let r = probe(&tls(soon.port(), ""), &policy).await;
    assert!(r.success, "{r:?}");
    assert!(r.reason.contains("handshake with 127.0.0.1:"), "{}", r.reason);
    assert!(r.reason.contains("the certificate expires in 1 day(s)"), "{}", r.reason);
    assert!(r.tls.is_some() && r.connect.is_some());
    // Two days asked: a tls failure.
    let r = probe(&tls(soon.port(), r#","min_cert_days":2"#), &policy).await;
    assert_eq!((r.success, r.class), (false, Some(FailureClass::Tls)), "{r:?}");
    assert!(r.reason.ends_with("under min_cert_days 2"), "{}", r.reason);
    // The chain verified: self-signed fails.
    let r = probe(&tls(soon.port(), r#","verify_tls":true"#), &policy).await;
    assert_eq!((r.success, r.class), (false, Some(FailureClass::Tls)), "{r:?}");
    assert!(r.reason.contains("certificate"), "{}", r.reason);
    // A plain TCP server that never speaks TLS: the handshake times out.
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    let r = probe(&tls(port, r#","response_timeout":"300ms""#), &policy).await;
    assert_eq!((r.success, r.class), (false, Some(FailureClass::Tls)), "{r:?}");
    assert_eq!(r.reason, "Failure: TLS handshake timed out");
    drop(silent);
    let r = probe(&tls(port, ""), &policy).await;
    assert_eq!((r.success, r.class), (false, Some(FailureClass::Refused)), "{r:?}");
}

/// A network namespace with a veth pair, made for one test and removed on drop: this host's
/// end is `host`, the namespace's (which answers pings) `peer`.
struct Namespace {
    name: String,
    host: std::net::Ipv4Addr,
    peer: std::net::Ipv4Addr,
}

impl Namespace {
    fn create() -> Namespace {
        let id = std::process::id();
        let name = format!("tt-icmp-{id}");
        let (host_if, peer_if) = (format!("tti{}", id % 100_000), format!("ttp{}", id % 100_000));
        let net = [10, 231, (id % 250) as u8];
        let host = std::net::Ipv4Addr::new(net[0], net[1], net[2], 1);
        let peer = std::net::Ipv4Addr::new(net[0], net[1], net[2], 2);
        let ns = Namespace { name: name.clone(), host, peer };
        let run = |args: &[&str]| {
            let out = std::process::Command::new("ip").args(args).output().unwrap();
            assert!(
                out.status.success(),
                "ip {args:?} (the test needs root or CAP_NET_ADMIN): {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        run(&["netns", "add", &name]);
        run(&["link", "add", &host_if, "type", "veth", "peer", "name", &peer_if]);
        run(&["link", "set", &peer_if, "netns", &name]);
        run(&["addr", "add", &format!("{host}/29"), "dev", &host_if]);
        run(&["link", "set", &host_if, "up"]);
        run(&["-n", &name, "addr", "add", &format!("{peer}/29"), "dev", &peer_if]);
        run(&["-n", &name, "link", "set", &peer_if, "up"]);
        ns
    }

    /// Makes the namespace ignore echo requests (or answer them again).
    fn ignore_pings(&self, ignore: bool) {
        let value = format!("net.ipv4.icmp_echo_ignore_all={}", u8::from(ignore));
        let out = std::process::Command::new("ip")
            .args(["netns", "exec", &self.name, "sysctl", "-qw", &value])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        // Deleting the namespace deletes its veth end, and with it this host's.
        let _ = std::process::Command::new("ip").args(["netns", "del", &self.name]).status();
    }
}

#[tokio::test]
async fn an_icmp_check_pings_a_namespace_address_and_times_out_when_it_stops_answering() {
    let policy = TargetPolicy::default();
    let icmp = |ip: &str| {
        check(&format!(
            r#"{{"name":"i","type":"icmp","ip":"{ip}","interval":"100ms","response_timeout":"500ms"}}"#
        ))
    };
    for ip in ["127.0.0.1", "::1"] {
        let r = probe(&icmp(ip), &policy).await;
        assert!(r.success, "{ip}: {r:?}");
        assert!(
            r.reason.starts_with(&format!("Success: echo reply from {ip} in ")),
            "{}",
            r.reason
        );
        assert!(r.first_byte.is_some());
    }
    let ns = Namespace::create();
    let peer = ns.peer.to_string();
    let r = probe(&icmp(&peer), &policy).await;
    assert!(r.success, "{r:?}");
    ns.ignore_pings(true);
    let r = probe(&icmp(&peer), &policy).await;
    assert_eq!((r.success, r.class), (false, Some(FailureClass::ResponseTimeout)), "{r:?}");
    assert_eq!(r.reason, format!("Failure: no echo reply from {peer} within 500ms"));
    ns.ignore_pings(false);
    assert!(probe(&icmp(&peer), &policy).await.success);
    // The engine turns it unhealthy and back.
    let engine = HealthEngine::new();
    let mut c = icmp(&peer);
    c.failure_threshold = 1;
    c.recovery_threshold = 1;
    engine.apply(&[c], &|_| None);
    let slot = engine.slot("i");
    ns.ignore_pings(true);
    wait_for(&slot, Status::Unhealthy, Duration::from_secs(5)).await;
    ns.ignore_pings(false);
    wait_for(&slot, Status::Healthy, Duration::from_secs(5)).await;
    let _ = ns.host;
}

/// A grpc.health.v1 server (tonic-health, gRPC's Rust reference implementation) over h2c, or
/// over TLS when `tls`: the server as a whole SERVING, `shop` NOT_SERVING.
async fn grpc_target(tls: bool) -> (SocketAddr, tonic_health::server::HealthReporter) {
    use tonic_health::ServingStatus;
    let (reporter, service) = tonic_health::server::health_reporter();
    reporter.set_service_status("", ServingStatus::Serving).await;
    reporter.set_service_status("shop", ServingStatus::NotServing).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut server = tonic::transport::Server::builder();
    if tls {
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let identity =
            tonic::transport::Identity::from_pem(cert.cert.pem(), cert.signing_key.serialize_pem());
        server =
            server.tls_config(tonic::transport::ServerTlsConfig::new().identity(identity)).unwrap();
    }
    let router = server.add_service(service);
    let incoming = tonic::transport::server::TcpIncoming::from(listener);
    tokio::spawn(router.serve_with_incoming(incoming));
    (addr, reporter)
}

#[tokio::test]
async fn a_grpc_check_asks_grpc_health_v1_over_h2c_and_h2() {
    let policy = TargetPolicy::default();
    let (plain, reporter) = grpc_target(false).await;
    let (secure, _reporter) = grpc_target(true).await;
    let grpc = |kind: &str, addr: SocketAddr, extra: &str| {
        check(&format!(
            r#"{{"name":"g","type":"{kind}","ip":"127.0.0.1","fqdn":"localhost","port":{}{extra}}}"#,
            addr.port()
        ))
    };
    let r = probe(&grpc("grpc", plain, ""), &policy).await;
    assert!(r.success, "{r:?}");
    assert_eq!(r.reason, "Success: gRPC health of the server is SERVING");
    assert!(r.first_byte.is_some() && r.tls.is_none());
    let r = probe(&grpc("grpcs", secure, ""), &policy).await;
    assert!(r.success, "{r:?}");
    assert!(r.tls.is_some());
    // A service that is not serving, and one the server does not know.
    let r = probe(&grpc("grpc", plain, r#","service":"shop""#), &policy).await;
    assert_eq!((r.success, r.class), (false, Some(FailureClass::BadStatus)), "{r:?}");
    assert_eq!(r.reason, "Failure: gRPC health of shop is NOT_SERVING");
    let r = probe(&grpc("grpcs", secure, r#","service":"cart""#), &policy).await;
    assert_eq!((r.success, r.class), (false, Some(FailureClass::BadStatus)), "{r:?}");
    assert!(r.reason.starts_with("Failure: gRPC status 5 (NotFound)"), "{}", r.reason);
    // The server turns the service on.
    reporter.set_service_status("shop", tonic_health::ServingStatus::Serving).await;
    assert!(probe(&grpc("grpc", plain, r#","service":"shop""#), &policy).await.success);
    // h2c against a TLS server, and an HTTP/1 server that is not gRPC.
    let r = probe(&grpc("grpc", secure, r#","response_timeout":"500ms""#), &policy).await;
    assert!(!r.success);
    assert!(matches!(r.class, Some(FailureClass::Http | FailureClass::ResponseTimeout)), "{r:?}");
    // (an HTTP/2-capable server says 404: bad_status; an HTTP/1-only one breaks HTTP/2: http)
    let http = http_target().await;
    let r = probe(&grpc("grpc", http, ""), &policy).await;
    assert!(!r.success);
    assert!(matches!(r.class, Some(FailureClass::Http | FailureClass::BadStatus)), "{r:?}");
}

#[tokio::test]
async fn a_probe_ends_within_its_connect_and_response_timeouts_together() {
    // Each step answers just inside the response timeout: the status line after 400 ms, the
    // body 400 ms later. Each step alone would pass; the probe as a whole may not take 800 ms.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await;
                tokio::time::sleep(Duration::from_millis(400)).await;
                let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n").await;
                tokio::time::sleep(Duration::from_millis(400)).await;
                let _ = s.write_all(b"OK").await;
            });
        }
    });
    let slow = check(&format!(
        r#"{{"name":"s","type":"http","ip":"127.0.0.1","port":{port},"search":"OK","connect_timeout":"100ms","response_timeout":"500ms"}}"#
    ));
    let started = std::time::Instant::now();
    let r = probe(&slow, &TargetPolicy::default()).await;
    assert_eq!((r.success, r.class), (false, Some(FailureClass::ResponseTimeout)), "{r:?}");
    assert_eq!(
        r.reason,
        "Failure: the probe did not finish within 600ms (connect_timeout + response_timeout)"
    );
    assert!(started.elapsed() < Duration::from_millis(750), "{:?}", started.elapsed());
    // With room for both steps, the same target passes.
    let roomy = check(&format!(
        r#"{{"name":"s","type":"http","ip":"127.0.0.1","port":{port},"search":"OK","connect_timeout":"500ms","response_timeout":"500ms"}}"#
    ));
    assert!(probe(&roomy, &TargetPolicy::default()).await.success);
}
