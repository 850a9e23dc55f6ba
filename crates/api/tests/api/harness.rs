//! Starts store + control + sync + API server on 127.0.0.1:0, with a real admin token.

use std::sync::Arc;

use hyper::Method;
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use turnout_api::client::{Client, ClientError, TlsOptions};
use turnout_api::tls::ServerTls;
use turnout_api::{Access, ApiError, ApiServer};
use turnout_control::tokens::{AdminToken, ensure_admin_token, read_admin_token};
use turnout_control::types::CreateZone;
use turnout_control::{Control, ControlOptions, SyncOptions, run_sync};
use turnout_dns::{Snapshot, SnapshotHandle};
use turnout_store::{EmbeddedOptions, EmbeddedStore, Store};

pub struct Server {
    pub client: Client,
    pub anonymous: Client,
    pub base: String,
    /// The routing-control API's base URL (its own listener).
    pub controls_base: String,
    pub token: String,
    pub handle: SnapshotHandle,
    shutdown: CancellationToken,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

pub async fn start() -> Server {
    start_with(Access::default(), None).await
}

/// Starts with these access rules; the configuration API over HTTPS when `tls` is given, with
/// `client` and `anonymous` reaching it with those options.
pub async fn start_with(access: Access, tls: Option<(Arc<ServerTls>, TlsOptions)>) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(
        EmbeddedStore::open(&dir.path().join("store.redb"), EmbeddedOptions::default()).unwrap(),
    );
    let created = ensure_admin_token(store.as_ref(), dir.path()).await.unwrap();
    assert!(matches!(created, AdminToken::Created(_)));
    let token = read_admin_token(dir.path()).unwrap();
    let control = Control::new(store, ControlOptions::default());
    let handle = SnapshotHandle::new(Snapshot::empty());
    let shutdown = CancellationToken::new();
    tokio::spawn(run_sync(
        control.clone(),
        handle.clone(),
        SyncOptions::default(),
        shutdown.clone(),
    ));
    let mut server = ApiServer::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    server = server.with_access(access);
    let (scheme, options) = match tls {
        Some((tls, options)) => {
            server = server.with_tls(tls);
            ("https", options)
        }
        None => ("http", TlsOptions::default()),
    };
    let base = format!("{scheme}://{}", server.local_addr().unwrap());
    tokio::spawn(server.run(control.clone(), shutdown.clone()));
    tokio::spawn(turnout_control::run_control_expiry(control.clone(), shutdown.clone()));
    let controls_server =
        ApiServer::bind("127.0.0.1:0".parse().unwrap()).await.unwrap().with_access(access);
    let controls_base = format!("http://{}", controls_server.local_addr().unwrap());
    tokio::spawn(controls_server.run_controls(control.clone(), shutdown.clone()));
    let client = Client::with_tls(&base, Some(token.clone()), &options).unwrap();
    let anonymous = Client::with_tls(&base, None, &options).unwrap();
    // Ready once the first snapshot is served.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while control.served_revision().is_none() {
        assert!(std::time::Instant::now() < deadline, "never ready");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    Server { client, anonymous, base, controls_base, token, handle, shutdown, _dir: dir }
}

impl Server {
    pub async fn zone(&self, name: &str) {
        self.client
            .create_zone(&CreateZone { name: name.into(), ..Default::default() })
            .await
            .unwrap();
    }

    /// Sends JSON and returns the JSON answer or the API error.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&str>,
    ) -> Result<Value, ApiError> {
        match self.client.request::<Value>(method, path, body.map(|b| b.as_bytes().to_vec())).await
        {
            Ok(v) => Ok(v),
            Err(ClientError::Api(e)) => Err(e),
            Err(e) => panic!("{e}"),
        }
    }

    /// Sends JSON to the routing-control API with `token` (none: anonymous).
    pub async fn control_call(
        &self,
        token: Option<&str>,
        method: Method,
        path: &str,
        body: Option<&str>,
    ) -> Result<Value, ApiError> {
        let client = Client::new(&self.controls_base, token.map(str::to_owned)).unwrap();
        match client.request::<Value>(method, path, body.map(|b| b.as_bytes().to_vec())).await {
            Ok(v) => Ok(v),
            Err(ClientError::Api(e)) => Err(e),
            Err(e) => panic!("{e}"),
        }
    }

    /// Everything a zone holds, to check that a rejected request changed nothing.
    pub async fn zone_state(&self, zone: &str) -> (u32, Vec<turnout_model::RecordSetSpec>) {
        let info = self.client.zone(zone).await.unwrap();
        (info.serial, self.client.record_sets(zone).await.unwrap())
    }
}
