//! Who may read and write: anonymous reads refused unless turned on, the read scope, expiry,
//! rotation; and the API over HTTPS with a test CA, client certificates and a reload.

use std::sync::Arc;

use hyper::Method;
use turnout_api::Access;
use turnout_api::client::{Client, ClientError, TlsOptions};
use turnout_api::tls::{ServerTls, TlsFiles};
use turnout_health::tls::ClientIdentity;
use turnout_testkit::tls::TestCa;

use crate::harness::{start, start_with};

fn api_error<T: std::fmt::Debug>(r: Result<T, ClientError>) -> turnout_api::ApiError {
    match r {
        Err(ClientError::Api(e)) => e,
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_need_a_token_unless_anonymous_reads_are_on() {
    let s = start().await;
    s.zone("r.test").await;
    for path in ["/v1/zones", "/v1/zones/r.test/rrsets", "/v1/checks", "/v1/cluster", "/v1/panels"]
    {
        let e = api_error(s.anonymous.request::<serde_json::Value>(Method::GET, path, None).await);
        assert_eq!((e.status, e.code.as_str()), (401, "Unauthorized"), "{path}");
        assert!(e.message.contains("read"), "{path}: {}", e.message);
    }
    let e = s.control_call(None, Method::GET, "/v1/controls", None).await.unwrap_err();
    assert_eq!(e.status, 401);
    // What holds no data stays open.
    let doc: serde_json::Value =
        s.anonymous.request(Method::GET, "/v1/openapi.json", None).await.unwrap();
    assert!(doc["paths"]["/v1/tokens/{name}/rotate"].is_object(), "rotation is described");

    let open = start_with(Access { anonymous_reads: true }, None).await;
    open.zone("o.test").await;
    assert_eq!(open.anonymous.zones().await.unwrap().len(), 1);
    let controls = open.control_call(None, Method::GET, "/v1/controls", None).await.unwrap();
    assert!(controls["controls"].is_array());
    // Writes still need a token.
    let e = api_error(open.anonymous.delete_zone("o.test", true).await);
    assert_eq!(e.status, 401);
    assert_eq!(open.client.zones().await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scopes_decide_reads_and_writes() {
    let s = start().await;
    s.zone("s.test").await;
    let reader = s.client.create_token("reader", &["read".into()], None).await.unwrap();
    let as_reader = Client::new(&s.base, Some(reader.token.clone())).unwrap();
    assert_eq!(as_reader.zones().await.unwrap().len(), 1);
    let e = api_error(as_reader.delete_zone("s.test", true).await);
    assert_eq!((e.status, e.code.as_str()), (403, "Forbidden"));
    assert!(e.message.contains("\"reader\" (read)"), "{}", e.message);
    let r = s.control_call(Some(&reader.token), Method::GET, "/v1/controls", None).await;
    assert!(r.is_ok(), "a read token reads controls: {r:?}");
    let e = s
        .control_call(
            Some(&reader.token),
            Method::PUT,
            "/v1/controls/p/a",
            Some(r#"{"state":"On"}"#),
        )
        .await
        .unwrap_err();
    assert_eq!(e.status, 403);
    // A controls token reads the routing-control API but not the configuration.
    let flipper = s.client.create_token("flipper", &["controls".into()], None).await.unwrap();
    let r = s.control_call(Some(&flipper.token), Method::GET, "/v1/controls", None).await;
    assert!(r.is_ok(), "{r:?}");
    let as_flipper = Client::new(&s.base, Some(flipper.token)).unwrap();
    assert_eq!(api_error(as_flipper.zones().await).status, 403);
    // Only admin lists tokens.
    assert_eq!(api_error(as_reader.tokens().await).status, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_expire_and_rotate() {
    let s = start().await;
    let made = s.client.create_token("ci", &["config".into()], Some("90d")).await.unwrap();
    let at = humantime::parse_rfc3339(made.expires_at.as_deref().unwrap()).unwrap();
    let left = at.duration_since(std::time::SystemTime::now()).unwrap();
    assert!(left > std::time::Duration::from_secs(89 * 86_400), "{left:?}");
    let listed = s.client.tokens().await.unwrap();
    let ci = listed.iter().find(|t| t.name == "ci").unwrap();
    assert_eq!((ci.expires_at.as_deref(), ci.expired), (made.expires_at.as_deref(), false));
    for (bad, why) in [("soon", "not a duration"), ("0s", "between"), ("20years", "between")] {
        let e = api_error(s.client.create_token("bad", &["read".into()], Some(bad)).await);
        assert_eq!((e.status, e.field.as_deref()), (400, Some("expires_in")), "{bad}");
        assert!(e.message.contains(why), "{bad}: {}", e.message);
    }
    assert!(s.client.tokens().await.unwrap().iter().all(|t| t.name != "bad"), "nothing made");

    // Rotation: same name, scopes and expiry; the old secret stops working at once.
    let old = Client::new(&s.base, Some(made.token.clone())).unwrap();
    assert!(old.zones().await.is_ok());
    let rotated = s.client.rotate_token("ci").await.unwrap();
    assert_ne!(rotated.token, made.token);
    assert_eq!(
        (rotated.scopes.clone(), rotated.expires_at.clone()),
        (made.scopes, made.expires_at)
    );
    let e = api_error(old.zones().await);
    assert_eq!((e.status, e.message.as_str()), (401, "the bearer token is not valid"));
    assert!(Client::new(&s.base, Some(rotated.token)).unwrap().zones().await.is_ok());
    // The admin token rotates too; only an admin may rotate.
    let admin = s.client.rotate_token("admin").await.unwrap();
    assert_eq!(api_error(s.client.zones().await).status, 401, "the old admin secret is gone");
    let admin = Client::new(&s.base, Some(admin.token)).unwrap();
    assert!(admin.tokens().await.unwrap().iter().any(|t| t.name == "admin"));
    let e = api_error(admin.rotate_token("nope").await);
    assert_eq!((e.status, e.code.as_str()), (404, "NoSuchToken"));
}

/// A CA and a server certificate for 127.0.0.1 written to `dir`.
fn server_files(dir: &std::path::Path, ca: &TestCa, client_ca: Option<&TestCa>) -> TlsFiles {
    let (cert, key) = ca.server("api").write(dir, "api");
    TlsFiles { cert, key, client_ca: client_ca.map(|c| c.write(dir, "clients")) }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_a_test_ca_and_a_reload_that_keeps_connections() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, other) = (TestCa::new("Turnout test CA"), TestCa::new("Another CA"));
    let tls = ServerTls::load(server_files(dir.path(), &ca, None)).unwrap();
    let trusted = TlsOptions { ca: Some(ca.write(dir.path(), "ca")), identity: None };
    let s = start_with(Access::default(), Some((Arc::clone(&tls), trusted))).await;
    assert!(s.base.starts_with("https://"));
    s.zone("tls.test").await;
    assert_eq!(s.client.zones().await.unwrap().len(), 1);
    // The system's trust store does not know the test CA; another CA is not it either.
    let e = Client::new(&s.base, Some(s.token.clone())).unwrap().zones().await.unwrap_err();
    assert!(e.to_string().contains("certificate"), "{e}");
    let wrong = TlsOptions { ca: Some(other.write(dir.path(), "other")), identity: None };
    let e = Client::with_tls(&s.base, None, &wrong).unwrap().zones().await.unwrap_err();
    assert!(e.to_string().contains("UnknownIssuer"), "{e}");

    // A reload serves the new certificate to new connections; the open one goes on.
    let files = tls.files().clone();
    let renewed = other.server("api");
    std::fs::write(&files.cert, &renewed.cert).unwrap();
    std::fs::write(&files.key, &renewed.key).unwrap();
    tls.reload().unwrap();
    assert_eq!(s.client.zones().await.unwrap().len(), 1, "the kept-alive connection stays");
    let fresh = Client::with_tls(&s.base, Some(s.token.clone()), &wrong).unwrap();
    assert_eq!(fresh.zones().await.unwrap().len(), 1, "new connections get the new certificate");
    // A broken file leaves the certificate in use.
    std::fs::write(&files.key, "not a key").unwrap();
    let e = tls.reload().unwrap_err();
    assert!(e.to_string().contains("private key") && e.to_string().contains("api.key"), "{e}");
    let again = Client::with_tls(&s.base, Some(s.token.clone()), &wrong).unwrap();
    assert_eq!(again.zones().await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificates_are_required_when_a_client_ca_is_set() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, clients, stranger) =
        (TestCa::new("Server CA"), TestCa::new("Client CA"), TestCa::new("Stranger CA"));
    let tls = ServerTls::load(server_files(dir.path(), &ca, Some(&clients))).unwrap();
    let (cert, key) = clients.client("operator").write(dir.path(), "operator");
    let good = TlsOptions {
        ca: Some(ca.write(dir.path(), "ca")),
        identity: Some(ClientIdentity { cert, key }),
    };
    let s = start_with(Access::default(), Some((tls, good.clone()))).await;
    assert_eq!(s.client.zones().await.unwrap().len(), 0);
    let missing = TlsOptions { identity: None, ..good.clone() };
    let e = Client::with_tls(&s.base, Some(s.token.clone()), &missing)
        .unwrap()
        .zones()
        .await
        .unwrap_err();
    assert!(matches!(e, ClientError::Connect { .. }), "{e}");
    let (cert, key) = stranger.client("mallory").write(dir.path(), "mallory");
    let wrong = TlsOptions { identity: Some(ClientIdentity { cert, key }), ..good };
    let e = Client::with_tls(&s.base, Some(s.token.clone()), &wrong)
        .unwrap()
        .zones()
        .await
        .unwrap_err();
    assert!(matches!(e, ClientError::Connect { .. }), "{e}");
    // A missing file is named at load.
    let e = ServerTls::load(TlsFiles {
        cert: dir.path().join("nope.crt"),
        key: dir.path().join("api.key"),
        client_ca: None,
    })
    .unwrap_err();
    assert!(e.to_string().starts_with("certificate ") && e.to_string().contains("nope.crt"), "{e}");
}

/// The API listens before the node has loaded its configuration (seconds on a large etcd
/// store): a request then is answered 503 `NotReady` with `Retry-After`, never 401 for a token
/// that is about to be known, and the client sends it again until the node is ready.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_before_the_configuration_is_loaded_is_told_to_retry_and_the_client_does() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use turnout_control::tokens::{ensure_admin_token, read_admin_token};
    use turnout_control::{Control, ControlOptions, SyncOptions, run_sync};
    use turnout_store::{EmbeddedOptions, EmbeddedStore, Store};

    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(
        EmbeddedStore::open(&dir.path().join("store.redb"), EmbeddedOptions::default()).unwrap(),
    );
    ensure_admin_token(store.as_ref(), dir.path()).await.unwrap();
    let token = read_admin_token(dir.path()).unwrap();
    let control = Control::new(store, ControlOptions::default());
    let stop = tokio_util::sync::CancellationToken::new();
    let _stop = stop.clone().drop_guard();
    let server = turnout_api::ApiServer::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let addr = server.local_addr().unwrap();
    tokio::spawn(server.run(control.clone(), stop.clone()));

    // Not loaded: the right token and a wrong one both get 503 and Retry-After.
    for bearer in [token.as_str(), "turnout_wrong"] {
        let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let request = format!(
            "GET /v1/zones HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {bearer}\r\n\
             Connection: close\r\n\r\n"
        );
        tcp.write_all(request.as_bytes()).await.unwrap();
        let mut answer = String::new();
        tcp.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
        assert!(answer.to_ascii_lowercase().contains("retry-after: 1"), "{answer}");
        assert!(answer.contains("\"NotReady\"") && answer.contains("loading"), "{answer}");
    }

    // The client waits; the configuration is loaded 1.5 s later and the request succeeds.
    let client = Client::new(&format!("http://{addr}"), Some(token)).unwrap();
    let loader = {
        let (control, stop) = (control.clone(), stop.clone());
        async move {
            tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
            let handle = turnout_dns::SnapshotHandle::new(turnout_dns::Snapshot::empty());
            run_sync(control, handle, SyncOptions::default(), stop).await.unwrap();
        }
    };
    tokio::spawn(loader);
    let started = std::time::Instant::now();
    assert!(client.zones().await.unwrap().is_empty());
    assert!(started.elapsed() >= std::time::Duration::from_secs(1), "it waited for the load");
    // Loaded: a wrong token is what it is.
    let wrong = Client::new(&format!("http://{addr}"), Some("turnout_wrong".into())).unwrap();
    let e = api_error(wrong.zones().await);
    assert_eq!((e.status, e.code.as_str()), (401, "Unauthorized"));
}
