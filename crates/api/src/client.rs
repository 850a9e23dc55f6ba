//! The client the CLI uses: typed requests and typed errors ([`ApiError`] from the server's JSON
//! body), so that a failure prints its code, field and reason.

use std::time::Duration;

use axum::body::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Serialize;
use serde::de::DeserializeOwned;
use turnout_control::routing_controls::{AuditRecord, ControlUpdate, ControlView};
use turnout_control::tokens::{NewToken, TokenInfo};
use turnout_control::types::DrillRun;
use turnout_control::types::{
    ChangeInfo, CreateZone, DryRun, RecordSetPage, ZoneCreated, ZoneInfo, ZonePage,
};
use turnout_model::cidr::CidrCollectionSpec;
use turnout_model::controls::ControlPanelSpec;
use turnout_model::health::HealthCheckSpec;
use turnout_model::{ChangeBatchSpec, RecordSetSpec};

use crate::error::{ApiError, ErrorBody};

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The URL is not usable.
    #[error("bad API URL {url:?}: {reason}")]
    Url {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The server could not be reached.
    #[error(
        "cannot reach the Turnout API at {url}: {reason} (is `turnout serve` running? give its address: --api, or --controls for control commands)"
    )]
    Connect {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The TLS settings cannot be used (a CA or certificate file).
    #[error("TLS: {0}")]
    Tls(String),
    /// The server answered with an error.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// The answer was not what this client understands.
    #[error("unexpected answer from the API ({status}): {reason}")]
    Decode {
        /// The HTTP status.
        status: u16,
        /// Why.
        reason: String,
    },
}

/// How long a request is sent again while the node answers that it is still loading its
/// configuration (a large etcd store takes seconds).
pub const NOT_READY_WAIT: Duration = Duration::from_secs(30);

/// An API client.
#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    token: Option<String>,
    http: HyperClient<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

/// How a client reaches an `https://` API.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// Trust only this CA file (PEM) instead of the system's trust store.
    pub ca: Option<std::path::PathBuf>,
    /// The client certificate to present to a listener that asks for one.
    pub identity: Option<turnout_health::tls::ClientIdentity>,
}

/// Percent-encodes one path segment or query value.
pub fn encode_component(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Client {
    /// A client for the API at `base` (e.g. `http://127.0.0.1:8053`), verifying an
    /// `https://` server against the system's trust store.
    /// A bare `host:port` (`127.0.0.1:8053`, `[::1]:8053`, `api.example:8053`) means
    /// `http://host:port`.
    pub fn new(base: &str, token: Option<String>) -> Result<Self, ClientError> {
        Self::with_tls(base, token, &TlsOptions::default())
    }

    /// A client for the API at `base`, reaching an `https://` one as `tls` says.
    pub fn with_tls(
        base: &str,
        token: Option<String>,
        tls: &TlsOptions,
    ) -> Result<Self, ClientError> {
        let base = base.trim().trim_end_matches('/');
        let base = if base.contains("://") { base.to_owned() } else { format!("http://{base}") };
        let Some(rest) = base.strip_prefix("http://").or_else(|| base.strip_prefix("https://"))
        else {
            return Err(ClientError::Url {
                url: base,
                reason: "use an http:// or https:// URL".into(),
            });
        };
        if rest.is_empty() {
            return Err(ClientError::Url { url: base, reason: "no host given".into() });
        }
        let https = base.starts_with("https://");
        let connector =
            turnout_health::tls::connector(https, tls.ca.as_deref(), tls.identity.as_ref())
                .map_err(|e| ClientError::Tls(e.to_string()))?;
        let http = HyperClient::builder(TokioExecutor::new()).build(connector);
        Ok(Client { base, token, http })
    }

    /// Sends a request and decodes the JSON answer. A node still loading its configuration
    /// answers 503 `NotReady` having done nothing: the request is sent again, as its
    /// `Retry-After` says, for at most [`NOT_READY_WAIT`].
    pub async fn request<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<T, ClientError> {
        let body = Bytes::from(body.unwrap_or_default());
        let deadline = tokio::time::Instant::now() + NOT_READY_WAIT;
        loop {
            match self.request_once(method.clone(), path, body.clone()).await {
                Err(ClientError::Api(e)) if e.code == "NotReady" && e.status == 503 => {
                    // The server says `Retry-After: 1`.
                    let pause = Duration::from_secs(1);
                    if tokio::time::Instant::now() + pause > deadline {
                        return Err(ClientError::Api(e));
                    }
                    tokio::time::sleep(pause).await;
                }
                other => return other,
            }
        }
    }

    async fn request_once<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Bytes,
    ) -> Result<T, ClientError> {
        let url = format!("{}{path}", self.base);
        let mut builder = Request::builder().method(method).uri(&url);
        if let Some(token) = &self.token {
            builder = builder.header("authorization", format!("Bearer {token}"));
        }
        if !body.is_empty() {
            builder = builder.header("content-type", "application/json");
        }
        let request = builder
            .body(Full::new(body))
            .map_err(|e| ClientError::Url { url: url.clone(), reason: e.to_string() })?;
        let response = self.http.request(request).await.map_err(|e| ClientError::Connect {
            url: self.base.clone(),
            reason: turnout_health::tls::error_chain(&e),
        })?;
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| ClientError::Connect { url: self.base.clone(), reason: e.to_string() })?
            .to_bytes();
        if !status.is_success() {
            return Err(match serde_json::from_slice::<ErrorBody>(&bytes) {
                Ok(body) => ClientError::Api(ApiError { status: status.as_u16(), ..body.error }),
                Err(_) => ClientError::Decode {
                    status: status.as_u16(),
                    reason: String::from_utf8_lossy(&bytes).trim().to_owned(),
                },
            });
        }
        let body: &[u8] = if bytes.is_empty() { b"null" } else { &bytes };
        serde_json::from_slice(body)
            .map_err(|e| ClientError::Decode { status: status.as_u16(), reason: e.to_string() })
    }

    async fn send<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        let bytes = serde_json::to_vec(body)
            .map_err(|e| ClientError::Decode { status: 0, reason: e.to_string() })?;
        self.request(method, path, Some(bytes)).await
    }

    /// Creates a zone.
    pub async fn create_zone(&self, request: &CreateZone) -> Result<ZoneCreated, ClientError> {
        self.send(Method::POST, "/v1/zones", request).await
    }

    /// Every zone (all pages).
    pub async fn zones(&self) -> Result<Vec<ZoneInfo>, ClientError> {
        let mut out = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let path = match &marker {
                Some(m) => format!("/v1/zones?marker={}", encode_component(m)),
                None => "/v1/zones".to_owned(),
            };
            let page: ZonePage = self.request(Method::GET, &path, None).await?;
            out.extend(page.zones);
            match page.next_marker {
                Some(next) if page.is_truncated => marker = Some(next),
                _ => return Ok(out),
            }
        }
    }

    /// One zone.
    pub async fn zone(&self, name: &str) -> Result<ZoneInfo, ClientError> {
        self.request(Method::GET, &format!("/v1/zones/{}", encode_component(name)), None).await
    }

    /// Deletes a zone.
    pub async fn delete_zone(&self, name: &str, force: bool) -> Result<ChangeInfo, ClientError> {
        let path = format!("/v1/zones/{}?force={force}", encode_component(name));
        self.request(Method::DELETE, &path, None).await
    }

    /// Promotes a secondary zone to a zone managed here.
    pub async fn promote_zone(&self, name: &str) -> Result<ZoneInfo, ClientError> {
        let path = format!("/v1/zones/{}/promote", encode_component(name));
        self.request(Method::POST, &path, None).await
    }

    /// Every record set of a zone (all pages).
    pub async fn record_sets(&self, zone: &str) -> Result<Vec<RecordSetSpec>, ClientError> {
        let mut out = Vec::new();
        let mut next: Option<(String, String, String)> = None;
        loop {
            let mut path = format!("/v1/zones/{}/rrsets", encode_component(zone));
            if let Some((name, rtype, set_id)) = &next {
                path.push_str(&format!(
                    "?name={}&type={}&set_id={}",
                    encode_component(name),
                    encode_component(rtype),
                    encode_component(set_id)
                ));
            }
            let page: RecordSetPage = self.request(Method::GET, &path, None).await?;
            out.extend(page.record_sets);
            match (page.is_truncated, page.next_name, page.next_type) {
                (true, Some(name), Some(rtype)) => {
                    next = Some((name, rtype, page.next_set_id.unwrap_or_default()));
                }
                _ => return Ok(out),
            }
        }
    }

    /// Submits a batch; `zone` fills in changes that name none.
    pub async fn submit(
        &self,
        zone: Option<&str>,
        batch: &ChangeBatchSpec,
        wait: bool,
    ) -> Result<ChangeInfo, ClientError> {
        self.send(Method::POST, &changes_path(zone, false, wait), batch).await
    }

    /// Validates a batch without applying it.
    pub async fn dry_run(
        &self,
        zone: Option<&str>,
        batch: &ChangeBatchSpec,
    ) -> Result<DryRun, ClientError> {
        self.send(Method::POST, &changes_path(zone, true, false), batch).await
    }

    /// One change; with `wait`, once it is INSYNC (or after 30 s).
    pub async fn change(&self, id: &str, wait: bool) -> Result<ChangeInfo, ClientError> {
        let path = format!("/v1/changes/{}?wait={wait}", encode_component(id));
        self.request(Method::GET, &path, None).await
    }
}

impl Client {
    /// Every health check.
    pub async fn checks(&self) -> Result<Vec<HealthCheckSpec>, ClientError> {
        let list: crate::server::checks::CheckList =
            self.request(Method::GET, "/v1/checks", None).await?;
        Ok(list.checks)
    }

    /// One health check.
    pub async fn check(&self, name: &str) -> Result<HealthCheckSpec, ClientError> {
        self.request(Method::GET, &format!("/v1/checks/{}", encode_component(name)), None).await
    }

    /// Creates or replaces a health check.
    pub async fn put_check(&self, spec: &HealthCheckSpec) -> Result<HealthCheckSpec, ClientError> {
        self.send(Method::PUT, &format!("/v1/checks/{}", encode_component(&spec.name)), spec).await
    }

    /// Deletes a health check.
    pub async fn delete_check(&self, name: &str) -> Result<(), ClientError> {
        let path = format!("/v1/checks/{}", encode_component(name));
        self.request::<serde::de::IgnoredAny>(Method::DELETE, &path, None).await.map(|_| ())
    }

    /// What the health engine observed.
    pub async fn check_status(
        &self,
        name: &str,
    ) -> Result<crate::server::checks::CheckStatus, ClientError> {
        let path = format!("/v1/checks/{}/status", encode_component(name));
        self.request(Method::GET, &path, None).await
    }
}

impl Client {
    /// Every CIDR collection.
    pub async fn collections(&self) -> Result<Vec<CidrCollectionSpec>, ClientError> {
        let list: crate::server::collections::CollectionList =
            self.request(Method::GET, "/v1/collections", None).await?;
        Ok(list.collections)
    }

    /// Creates or replaces a CIDR collection.
    pub async fn put_collection(
        &self,
        spec: &CidrCollectionSpec,
    ) -> Result<CidrCollectionSpec, ClientError> {
        self.send(Method::PUT, &format!("/v1/collections/{}", encode_component(&spec.name)), spec)
            .await
    }

    /// Deletes a CIDR collection.
    pub async fn delete_collection(&self, name: &str) -> Result<(), ClientError> {
        let path = format!("/v1/collections/{}", encode_component(name));
        self.request::<serde::de::IgnoredAny>(Method::DELETE, &path, None).await.map(|_| ())
    }

    /// The answer `name`/`rtype` gets now (for `client`), and why.
    pub async fn explain(
        &self,
        name: &str,
        rtype: &str,
        client: Option<&str>,
    ) -> Result<turnout_control::Explained, ClientError> {
        let mut path =
            format!("/v1/explain?name={}&type={}", encode_component(name), encode_component(rtype));
        if let Some(c) = client {
            path.push_str(&format!("&client={}", encode_component(c)));
        }
        self.request(Method::GET, &path, None).await
    }
}

impl Client {
    /// The nodes sharing the store.
    pub async fn cluster(&self) -> Result<turnout_control::cluster::ClusterView, ClientError> {
        self.request(Method::GET, "/v1/cluster", None).await
    }

    /// Every control panel.
    pub async fn panels(&self) -> Result<Vec<ControlPanelSpec>, ClientError> {
        let list: crate::server::panels::PanelList =
            self.request(Method::GET, "/v1/panels", None).await?;
        Ok(list.panels)
    }

    /// One control panel.
    pub async fn panel(&self, name: &str) -> Result<ControlPanelSpec, ClientError> {
        self.request(Method::GET, &format!("/v1/panels/{}", encode_component(name)), None).await
    }

    /// Creates or replaces a control panel.
    pub async fn put_panel(
        &self,
        spec: &ControlPanelSpec,
    ) -> Result<ControlPanelSpec, ClientError> {
        self.send(Method::PUT, &format!("/v1/panels/{}", encode_component(&spec.name)), spec).await
    }

    /// Deletes a control panel.
    pub async fn delete_panel(&self, name: &str) -> Result<(), ClientError> {
        let path = format!("/v1/panels/{}", encode_component(name));
        self.request::<serde::de::IgnoredAny>(Method::DELETE, &path, None).await.map(|_| ())
    }

    /// Every drill.
    pub async fn drills(&self) -> Result<Vec<turnout_model::drills::DrillSpec>, ClientError> {
        let list: crate::server::drills::DrillList =
            self.request(Method::GET, "/v1/drills", None).await?;
        Ok(list.drills)
    }

    /// Creates or replaces a drill.
    pub async fn put_drill(
        &self,
        spec: &turnout_model::drills::DrillSpec,
    ) -> Result<turnout_model::drills::DrillSpec, ClientError> {
        self.send(Method::PUT, &format!("/v1/drills/{}", encode_component(&spec.name)), spec).await
    }

    /// Deletes a drill.
    pub async fn delete_drill(&self, name: &str) -> Result<(), ClientError> {
        let path = format!("/v1/drills/{}", encode_component(name));
        self.request::<serde::de::IgnoredAny>(Method::DELETE, &path, None).await.map(|_| ())
    }

    /// Starts a run of a drill (a token with the controls scope).
    pub async fn run_drill(&self, name: &str) -> Result<DrillRun, ClientError> {
        self.request(Method::POST, &format!("/v1/drills/{}/run", encode_component(name)), None)
            .await
    }

    /// Asks a drill's run under way to abort.
    pub async fn abort_drill(&self, name: &str) -> Result<DrillRun, ClientError> {
        self.request(Method::POST, &format!("/v1/drills/{}/abort", encode_component(name)), None)
            .await
    }

    /// A drill's runs, newest first.
    pub async fn drill_runs(&self, name: &str, limit: usize) -> Result<Vec<DrillRun>, ClientError> {
        let path = format!("/v1/drills/{}/runs?limit={limit}", encode_component(name));
        let runs: crate::server::drills::DrillRuns = self.request(Method::GET, &path, None).await?;
        Ok(runs.runs)
    }

    /// Every token (admin only; no secrets).
    pub async fn tokens(&self) -> Result<Vec<TokenInfo>, ClientError> {
        let list: crate::server::tokens::TokenList =
            self.request(Method::GET, "/v1/tokens", None).await?;
        Ok(list.tokens)
    }

    /// Makes a token (admin only); the secret is in the answer, once.
    pub async fn create_token(
        &self,
        name: &str,
        scopes: &[String],
        expires_in: Option<&str>,
    ) -> Result<NewToken, ClientError> {
        let body = crate::server::tokens::CreateToken {
            name: name.to_owned(),
            scopes: scopes.to_vec(),
            expires_in: expires_in.map(str::to_owned),
            route53: false,
        };
        self.create_token_as(&body).await
    }

    /// Makes a token as `request` says (admin only); the secrets are in the answer, once.
    pub async fn create_token_as(
        &self,
        request: &crate::server::tokens::CreateToken,
    ) -> Result<NewToken, ClientError> {
        self.send(Method::POST, "/v1/tokens", request).await
    }

    /// Gives a token a new secret (admin only); the secret is in the answer, once.
    pub async fn rotate_token(&self, name: &str) -> Result<NewToken, ClientError> {
        let path = format!("/v1/tokens/{}/rotate", encode_component(name));
        self.request(Method::POST, &path, None).await
    }

    /// Deletes a token (admin only).
    pub async fn delete_token(&self, name: &str) -> Result<(), ClientError> {
        let path = format!("/v1/tokens/{}", encode_component(name));
        self.request::<serde::de::IgnoredAny>(Method::DELETE, &path, None).await.map(|_| ())
    }

    /// Every TSIG key (no secrets).
    pub async fn tsig_keys(&self) -> Result<Vec<turnout_control::types::TsigKeyInfo>, ClientError> {
        let list: crate::server::tsig::TsigKeyList =
            self.request(Method::GET, "/v1/tsig-keys", None).await?;
        Ok(list.keys)
    }

    /// Creates a TSIG key (admin only); a secret the node made is in the answer, once.
    pub async fn create_tsig_key(
        &self,
        request: &turnout_control::types::CreateTsigKey,
    ) -> Result<turnout_control::types::TsigKeyInfo, ClientError> {
        self.send(Method::POST, "/v1/tsig-keys", request).await
    }

    /// Deletes a TSIG key no zone names (admin only).
    pub async fn delete_tsig_key(&self, name: &str) -> Result<(), ClientError> {
        let path = format!("/v1/tsig-keys/{}", encode_component(name));
        self.request::<serde::de::IgnoredAny>(Method::DELETE, &path, None).await.map(|_| ())
    }

    /// A zone's DNSSEC state: its public keys and the DS for its parent.
    pub async fn dnssec(
        &self,
        zone: &str,
    ) -> Result<turnout_control::types::DnssecInfo, ClientError> {
        let path = format!("/v1/zones/{}/dnssec", encode_component(zone));
        self.request(Method::GET, &path, None).await
    }

    /// Signs a zone: the node makes its keys.
    pub async fn enable_dnssec(
        &self,
        zone: &str,
        request: &turnout_control::types::EnableDnssec,
    ) -> Result<turnout_control::types::DnssecInfo, ClientError> {
        let path = format!("/v1/zones/{}/dnssec", encode_component(zone));
        self.send(Method::POST, &path, request).await
    }

    /// Starts a key rollover.
    pub async fn start_rollover(
        &self,
        zone: &str,
        request: &turnout_control::types::StartRollover,
    ) -> Result<turnout_control::types::DnssecInfo, ClientError> {
        let path = format!("/v1/zones/{}/dnssec/rollover", encode_component(zone));
        self.send(Method::POST, &path, request).await
    }

    /// Confirms that the parent serves the new DS of a KSK or CSK rollover.
    pub async fn dnssec_ds_seen(
        &self,
        zone: &str,
        request: &turnout_control::types::DsSeen,
    ) -> Result<turnout_control::types::DnssecInfo, ClientError> {
        let path = format!("/v1/zones/{}/dnssec/ds-seen", encode_component(zone));
        self.send(Method::POST, &path, request).await
    }

    /// Stops signing a zone and deletes its keys.
    pub async fn disable_dnssec(&self, zone: &str) -> Result<(), ClientError> {
        let path = format!("/v1/zones/{}/dnssec", encode_component(zone));
        self.request::<serde::de::IgnoredAny>(Method::DELETE, &path, None).await.map(|_| ())
    }

    /// A zone's outgoing transfer settings.
    pub async fn zone_transfers(
        &self,
        zone: &str,
    ) -> Result<turnout_control::types::ZoneTransfers, ClientError> {
        let path = format!("/v1/zones/{}/transfers", encode_component(zone));
        self.request(Method::GET, &path, None).await
    }

    /// Replaces a zone's outgoing transfer settings.
    pub async fn set_zone_transfers(
        &self,
        zone: &str,
        transfers: &turnout_control::types::ZoneTransfers,
    ) -> Result<turnout_control::types::ZoneTransfers, ClientError> {
        let path = format!("/v1/zones/{}/transfers", encode_component(zone));
        self.send(Method::PUT, &path, transfers).await
    }

    /// A zone's RFC 2136 update rules.
    pub async fn zone_updates(
        &self,
        zone: &str,
    ) -> Result<turnout_control::types::ZoneUpdates, ClientError> {
        let path = format!("/v1/zones/{}/updates", encode_component(zone));
        self.request(Method::GET, &path, None).await
    }

    /// Replaces a zone's RFC 2136 update rules.
    pub async fn set_zone_updates(
        &self,
        zone: &str,
        updates: &turnout_control::types::ZoneUpdates,
    ) -> Result<turnout_control::types::ZoneUpdates, ClientError> {
        let path = format!("/v1/zones/{}/updates", encode_component(zone));
        self.send(Method::PUT, &path, updates).await
    }

    /// Routing controls with their states (routing-control API), of one panel or all.
    pub async fn controls(&self, panel: Option<&str>) -> Result<Vec<ControlView>, ClientError> {
        let path = match panel {
            Some(p) => format!("/v1/controls/{}", encode_component(p)),
            None => "/v1/controls".to_owned(),
        };
        let list: crate::server::controls::ControlList =
            self.request(Method::GET, &path, None).await?;
        Ok(list.controls)
    }

    /// One routing control (routing-control API).
    pub async fn control(&self, panel: &str, control: &str) -> Result<ControlView, ClientError> {
        let path =
            format!("/v1/controls/{}/{}", encode_component(panel), encode_component(control));
        self.request(Method::GET, &path, None).await
    }

    /// Updates routing controls of one panel as one transaction (routing-control API).
    pub async fn update_controls(
        &self,
        panel: &str,
        update: &ControlUpdate,
    ) -> Result<AuditRecord, ClientError> {
        self.send(Method::POST, &format!("/v1/controls/{}", encode_component(panel)), update).await
    }

    /// What an update would do, without doing it (routing-control API).
    pub async fn what_if_controls(
        &self,
        panel: &str,
        update: &ControlUpdate,
    ) -> Result<turnout_control::routing_controls::WhatIf, ClientError> {
        let path = format!("/v1/controls/{}?dry_run=true", encode_component(panel));
        self.send(Method::POST, &path, update).await
    }

    /// The routing-control audit trail, newest first (routing-control API).
    pub async fn control_history(
        &self,
        panel: Option<&str>,
        limit: usize,
    ) -> Result<Vec<AuditRecord>, ClientError> {
        let mut path = format!("/v1/controls/history?limit={limit}");
        if let Some(p) = panel {
            path.push_str(&format!("&panel={}", encode_component(p)));
        }
        let history: crate::server::controls::History =
            self.request(Method::GET, &path, None).await?;
        Ok(history.records)
    }
}

impl Client {
    /// The audit trail of configuration writes, newest first: `filters` are `GET /v1/audit`'s
    /// query parameters (`kind`, `name`, `token`, `since`, `limit`).
    pub async fn audit(
        &self,
        filters: &[(&str, &str)],
    ) -> Result<Vec<turnout_control::audit::WriteRecord>, ClientError> {
        let query: Vec<String> =
            filters.iter().map(|(k, v)| format!("{k}={}", encode_component(v))).collect();
        let path = format!("/v1/audit?{}", query.join("&"));
        let writes: crate::server::audit::Writes = self.request(Method::GET, &path, None).await?;
        Ok(writes.writes)
    }
}

fn changes_path(zone: Option<&str>, dry_run: bool, wait: bool) -> String {
    let base = match zone {
        Some(z) => format!("/v1/zones/{}/changes", encode_component(z)),
        None => "/v1/changes".to_owned(),
    };
    format!("{base}?dry_run={dry_run}&wait={wait}")
}
