//! What the web console reads and is: its files with their security headers, `whoami`, the
//! overview, the event stream, and the routing-control API on the configuration listener.
//! (The console itself runs in a browser in scripts/test-console.)

use std::time::Duration;

use hyper::Method;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use turnout_api::Access;
use turnout_api::client::Client;
use turnout_control::types::CreateZone;

use crate::harness::{start, start_with};

/// A raw HTTP/1.1 GET: status line and headers, and the stream left to read the body from.
async fn get(base: &str, path: &str, token: Option<&str>) -> (String, TcpStream) {
    let addr = base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(stream.read(&mut byte).await.unwrap(), 1, "the head ended early");
        head.push(byte[0]);
    }
    (String::from_utf8(head).unwrap().to_ascii_lowercase(), stream)
}

async fn get_all(base: &str, path: &str, token: Option<&str>) -> (String, String) {
    let (head, mut stream) = get(base, path, token).await;
    let mut body = String::new();
    stream.read_to_string(&mut body).await.unwrap();
    (head, body)
}

/// Reads the event stream until `pred` holds for the text so far, at most `within`.
async fn read_until(
    stream: &mut TcpStream,
    text: &mut String,
    within: Duration,
    pred: impl Fn(&str) -> bool,
) {
    let deadline = tokio::time::Instant::now() + within;
    let mut buf = [0u8; 4096];
    while !pred(text) {
        let n = tokio::time::timeout_at(deadline, stream.read(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("not within {within:?}; the stream so far:\n{text}"))
            .unwrap();
        assert!(n > 0, "the stream ended; so far:\n{text}");
        text.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_is_served_with_a_strict_policy_and_leads_from_the_root() {
    let s = start().await;
    let (head, body) = get_all(&s.base, "/console/", None).await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("content-type: text/html"), "{head}");
    assert!(
        head.contains("content-security-policy: default-src 'none'; script-src 'self'"),
        "{head}"
    );
    assert!(head.contains("x-content-type-options: nosniff"), "{head}");
    assert!(head.contains("x-frame-options: deny"), "{head}");
    assert!(body.contains("<script type=\"module\" src=\"/console/app.js\">"), "{body}");
    let (head, body) = get_all(&s.base, "/console/app.js", None).await;
    assert!(head.contains("content-type: text/javascript"), "{head}");
    assert!(body.contains("sessionStorage"), "the token is kept per tab");
    for path in ["/", "/console"] {
        let (head, _) = get_all(&s.base, path, None).await;
        assert!(head.starts_with("http/1.1 303"), "{path}: {head}");
        assert!(head.contains("location: /console/\r\n"), "{path}: {head}");
    }
    let (head, body) = get_all(&s.base, "/console/..%2fCargo.toml", None).await;
    assert!(head.starts_with("http/1.1 404"), "{head}");
    assert!(body.contains("\"NotFound\""), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whoami_names_any_valid_tokens_scopes() {
    let s = start().await;
    let me = s.call(Method::GET, "/v1/whoami", None).await.unwrap();
    assert_eq!(me, serde_json::json!({"name": "admin", "scopes": ["admin"]}));
    // A token that may only flip still signs in (the console then shows the controls).
    let flipper = s.client.create_token("flipper", &["controls".into()], None).await.unwrap();
    let as_flipper = Client::new(&s.base, Some(flipper.token)).unwrap();
    let me: serde_json::Value = as_flipper.request(Method::GET, "/v1/whoami", None).await.unwrap();
    assert_eq!(me, serde_json::json!({"name": "flipper", "scopes": ["controls"]}));
    let e = s.anonymous.request::<serde_json::Value>(Method::GET, "/v1/whoami", None).await;
    assert!(
        matches!(e, Err(turnout_api::client::ClientError::Api(ref e)) if e.status == 401),
        "{e:?}"
    );
    let wrong = Client::new(&s.base, Some("nope".into())).unwrap();
    let e = wrong.request::<serde_json::Value>(Method::GET, "/v1/whoami", None).await;
    assert!(
        matches!(e, Err(turnout_api::client::ClientError::Api(ref e)) if e.status == 401),
        "{e:?}"
    );

    let open = start_with(Access { anonymous_reads: true }, None).await;
    let me: serde_json::Value =
        open.anonymous.request(Method::GET, "/v1/whoami", None).await.unwrap();
    assert_eq!(me, serde_json::json!({"name": null, "scopes": []}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overview_shows_checks_groups_and_the_answer_each_gives() {
    let s = start().await;
    s.zone("o.test").await;
    s.call(
        Method::PUT,
        "/v1/checks/web",
        Some(r#"{"type": "tcp", "ip": "127.0.0.1", "port": 9, "interval": "10s"}"#),
    )
    .await
    .unwrap();
    // Groups come from the served snapshot: wait until the change is INSYNC.
    let change = s
        .call(
        Method::POST,
        "/v1/zones/o.test/changes?wait=true",
        Some(
            r#"{"changes": [
              {"action": "CREATE", "record_set": {"name": "www", "type": "A", "ttl": 60, "set_id": "a", "weight": 1, "values": ["192.0.2.1"]}},
              {"action": "CREATE", "record_set": {"name": "www", "type": "A", "ttl": 60, "set_id": "b", "weight": 0, "values": ["192.0.2.2"]}}
            ]}"#,
        ),
    )
    .await
    .unwrap();
    assert_eq!(change["status"], "INSYNC", "{change}");
    let o = s.call(Method::GET, "/v1/overview", None).await.unwrap();
    assert_eq!(o["node"]["store_reachable"], true, "{o}");
    assert!(o["node"]["served_revision"].as_u64().unwrap() > 0, "{o}");
    assert_eq!(o["checks"][0]["name"], "web", "{o}");
    assert_eq!(o["checks"][0]["target"], "tcp 127.0.0.1:9", "{o}");
    assert_eq!(o["groups_total"], 1, "{o}");
    let g = &o["groups"][0];
    assert_eq!(
        (g["name"].as_str(), g["type"].as_str(), g["policy"].as_str()),
        (Some("www.o.test."), Some("A"), Some("weighted")),
        "{o}"
    );
    // Weight 0 never answers while another member has weight.
    assert_eq!(g["answer"], serde_json::json!(["www.o.test. 60 IN A 192.0.2.1"]), "{o}");
    assert_eq!(g["members"].as_array().unwrap().len(), 2, "{o}");
    let reader = s.client.create_token("reader", &["read".into()], None).await.unwrap();
    let as_reader = Client::new(&s.base, Some(reader.token)).unwrap();
    as_reader.request::<serde_json::Value>(Method::GET, "/v1/overview", None).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_follow_changes_and_end_when_the_server_stops() {
    let s = start().await;
    let (head, mut stream) = get(&s.base, "/v1/events", Some(&s.token)).await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("content-type: text/event-stream"), "{head}");
    let mut text = String::new();
    read_until(&mut stream, &mut text, Duration::from_secs(5), |t| t.contains("event: change"))
        .await;
    let first = text.clone();
    // The new zone's revision (or a later one: events coalesce) reaches the stream once served.
    let created = s
        .client
        .create_zone(&CreateZone { name: "e.test".into(), ..Default::default() })
        .await
        .unwrap();
    let wanted = created.change.revision;
    read_until(&mut stream, &mut text, Duration::from_secs(5), |t| {
        t[first.len()..].split("\"served_revision\":").skip(1).any(|rest| {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse::<i64>().is_ok_and(|r| r >= wanted)
        })
    })
    .await;
    // Without a token: 401, no stream.
    let (head, _) = get_all(&s.base, "/v1/events", None).await;
    assert!(head.starts_with("http/1.1 401"), "{head}");
    // The server stops: the stream ends at once, not after the drain's 10 s.
    drop(s);
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(3), stream.read_to_end(&mut rest))
        .await
        .expect("the stream did not end when the server stopped")
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routing_controls_are_on_the_configuration_listener_too_with_the_same_rules() {
    let s = start().await;
    s.call(Method::PUT, "/v1/panels/main", Some(r#"{"controls": ["east", "west"]}"#))
        .await
        .unwrap();
    let set = r#"{"state": "On", "reason": "from the console"}"#;
    let r = s.call(Method::PUT, "/v1/controls/main/east", Some(set)).await.unwrap();
    assert_eq!(r["outcome"], "applied", "{r}");
    let on_its_own =
        s.control_call(Some(&s.token), Method::GET, "/v1/controls/main/east", None).await.unwrap();
    assert_eq!(on_its_own["state"], "On");
    let reader = s.client.create_token("reader", &["read".into()], None).await.unwrap();
    let as_reader = Client::new(&s.base, Some(reader.token)).unwrap();
    let e = as_reader
        .request::<serde_json::Value>(
            Method::PUT,
            "/v1/controls/main/west",
            Some(set.as_bytes().to_vec()),
        )
        .await;
    assert!(
        matches!(e, Err(turnout_api::client::ClientError::Api(ref e)) if e.status == 403 && e.message.contains("change routing controls")),
        "{e:?}"
    );
    let history = s.call(Method::GET, "/v1/controls/history", None).await.unwrap();
    assert_eq!(history["records"][0]["reason"], "from the console", "{history}");
    let doc = s.call(Method::GET, "/v1/openapi.json", None).await.unwrap();
    for path in ["/v1/controls/{panel}/{control}", "/v1/whoami", "/v1/overview"] {
        assert!(doc["paths"][path].is_object(), "{path} is not documented");
    }
}
