//! The cluster backend: the [`Store`] trait over a real etcd v3 cluster (etcd-client, gRPC).
//!
//! The trait was shaped after etcd's KV and Watch, so each call maps to one RPC: `get` and
//! `range` are linearizable reads, `txn` is one etcd transaction (compares, then success or
//! failure operations), and `watch` is one watch stream split into one batch per revision.
//! Each member gets its own connection, tried in turn from the last one that worked: a dead
//! member costs one failed attempt, not a timeout per request. Reads and watches move on after
//! any failure; a transaction moves on only after a failure that proves it was not applied (the
//! connection failed, or the member has no leader), since a timed-out one may have been.
//!
//! A transaction that timed out (its member died, or the leader did while it was in flight) is
//! not an error the caller has to guess about: each transaction also writes a mark of its own,
//! `/turnout-txn/<random>` holding which branch ran, under a lease that expires it after ten
//! minutes. After an uncertain failure the mark is read back (a linearizable read, so only once
//! a leader is elected): there, the transaction ran and its outcome is returned; absent, it did
//! not and can never run, so it is sent again. Marks are never shown by `range` or `watch`.
//! etcd's own limits apply: a transaction holds at most `--max-txn-ops` operations (128 by
//! default; run etcd with a larger value, see `docs/cluster.md`) and a request at most
//! `--max-request-bytes`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use etcd_client::{
    Client, Compare as EtcdCompare, CompareOp as EtcdOp, ConnectOptions, DeleteOptions, EventType,
    GetOptions, PutOptions, Txn as EtcdTxn, TxnOp, WatchOptions, WatchStream,
};

use tracing::debug;

use crate::{
    CompareOp, Event, KeyValue, LeaseId, Op, RangeResponse, Revision, Store, StoreError, Target,
    Txn, TxnResponse, WatchBatch, Watcher,
};

/// How long one request may take before the store counts as unavailable.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Keys read per range request (a full load pages through the store). Large, because etcd
/// 3.4 walks its index from a page's first key to the range's end for every page (to count
/// the keys left): pages of 2,000 made a million record sets take 36 s to read, pages of
/// 50,000 (about 15 MB each) a second or two.
const RANGE_PAGE: i64 = 50_000;
/// The largest gRPC message this client accepts (range pages, watch responses): a watch
/// response carries whole transactions, which etcd bounds by `--max-request-bytes` and
/// `--max-txn-ops` only.
const MAX_MESSAGE: usize = 64 << 20;

/// Where transaction marks live: outside every prefix Turnout reads.
const MARK_PREFIX: &str = "/turnout-txn/";

/// The name of the key, under each watched prefix, that a progress request writes (see
/// [`Store::request_progress`]); no Turnout key has it, and reads never show it.
///
/// A watch learns how far it has delivered from an event of its own rather than from etcd's
/// progress notifications: before etcd 3.4.24 and 3.5.8 (Debian 12 ships 3.4.23) a requested
/// notification can overtake events still queued on the stream, so a node would count
/// itself caught up without a write another node had acknowledged. Events on one watch come
/// in revision order on every version.
const PROGRESS_KEY: &str = "\u{7f}turnout-progress";

/// Whether reads and watches leave this key out: a transaction mark or a progress key.
fn hidden(key: &[u8]) -> bool {
    key.starts_with(MARK_PREFIX.as_bytes()) || key.ends_with(PROGRESS_KEY.as_bytes())
}

/// How long a transaction mark is kept (its lease's time to live, in seconds); a new lease is
/// taken when the current one is half that old.
const MARK_TTL: i64 = 600;

/// How long a transaction keeps trying through an election before it reports the store
/// unavailable.
const TXN_PATIENCE: Duration = Duration::from_secs(20);

/// How Turnout proves itself to etcd and checks etcd: TLS (the CA etcd's certificates are
/// checked against, the client certificate etcd's `--client-cert-auth` asks for) and etcd's
/// own user authentication.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EtcdSecurity {
    /// The CA file (PEM) etcd's server certificates are checked against; none: the system's
    /// trust store (for `https://` endpoints).
    pub ca: Option<std::path::PathBuf>,
    /// The client certificate (PEM) and its key.
    pub identity: Option<(std::path::PathBuf, std::path::PathBuf)>,
    /// An etcd user and its password (`etcdctl user add`, `auth enable`).
    pub user: Option<(String, String)>,
}

impl EtcdSecurity {
    /// Whether the connection is TLS (a CA or a client certificate given).
    pub fn tls(&self) -> bool {
        self.ca.is_some() || self.identity.is_some()
    }

    /// The connection options: every file read now, so that a missing one fails at start.
    fn options(&self) -> Result<ConnectOptions, String> {
        let mut options = options();
        let read = |what: &str, path: &std::path::Path| {
            std::fs::read(path).map_err(|e| format!("etcd {what} {}: {e}", path.display()))
        };
        if self.tls() {
            let mut tls = etcd_client::TlsOptions::new();
            tls = match &self.ca {
                Some(ca) => {
                    let pem = read("CA file", ca)?;
                    if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
                        return Err(format!(
                            "etcd CA file {}: no PEM certificate in it",
                            ca.display()
                        ));
                    }
                    tls.ca_certificate(etcd_client::Certificate::from_pem(pem))
                }
                None => tls.with_native_roots(),
            };
            if let Some((cert, key)) = &self.identity {
                let (cert_pem, key_pem) =
                    (read("client certificate", cert)?, read("client key", key)?);
                if !String::from_utf8_lossy(&key_pem).contains("PRIVATE KEY-----") {
                    return Err(format!(
                        "etcd client key {}: no PEM private key in it",
                        key.display()
                    ));
                }
                tls = tls.identity(etcd_client::Identity::from_pem(cert_pem, key_pem));
            }
            options = options.with_tls(tls);
        }
        if let Some((user, password)) = &self.user {
            options = options.with_user(user.clone(), password.clone());
        }
        Ok(options)
    }
}

/// An etcd cluster as the store.
pub struct EtcdStore {
    /// One connection per member (None until it connects).
    clients: Mutex<Vec<Option<Client>>>,
    endpoints: Vec<String>,
    /// Connection options: timeouts, TLS, user.
    connect: ConnectOptions,
    /// The TLS settings, to say why a handshake failed.
    security: EtcdSecurity,
    /// The member that answered last.
    preferred: AtomicUsize,
    /// The lease transaction marks are written under, and when it was granted.
    mark_lease: tokio::sync::Mutex<Option<(i64, std::time::Instant)>>,
    /// Bumped by [`Store::request_progress`]; each watch then writes its progress key.
    progress: tokio::sync::watch::Sender<u64>,
}

impl std::fmt::Debug for EtcdStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdStore").field("endpoints", &self.endpoints).finish_non_exhaustive()
    }
}

fn unavailable(e: etcd_client::Error) -> StoreError {
    StoreError::Unavailable(format!("etcd: {}", plain(&e)))
}

/// An etcd client error as an operator reads it: gRPC's message and code, not its debug form.
fn plain(e: &etcd_client::Error) -> String {
    match e {
        etcd_client::Error::GRpcStatus(s) if s.message().is_empty() => {
            format!("{:?}", s.code()).to_lowercase()
        }
        etcd_client::Error::GRpcStatus(s) => s.message().to_owned(),
        etcd_client::Error::TransportError(t) => {
            let mut text = t.to_string();
            let mut source = std::error::Error::source(t);
            while let Some(inner) = source {
                text.push_str(": ");
                text.push_str(&inner.to_string());
                source = inner.source();
            }
            text
        }
        other => other.to_string(),
    }
}

/// A failure that says the request never ran and never will (over one of etcd's limits, or
/// out of space), told with what to do about it; None for any other.
fn refusal(error: &StoreError, ops: usize, counted: &str) -> Option<StoreError> {
    let StoreError::Unavailable(m) = error else { return None };
    if m.contains("too many operations in txn request") || m.contains("request is too large") {
        return Some(StoreError::Unavailable(format!(
            "{m}: this transaction has {ops} operations{counted}; start etcd with --max-txn-ops \
             and --max-request-bytes that allow it (docs/cluster.md)"
        )));
    }
    m.contains("database space exceeded").then(|| {
        StoreError::Unavailable(format!(
            "{m}: etcd reached its space quota and takes no writes until it is compacted, \
             defragmented and its NOSPACE alarm disarmed (docs/cluster.md)"
        ))
    })
}

/// Whether a failed request certainly did not run (so a write may go to another member).
fn not_sent(e: &etcd_client::Error) -> bool {
    match e {
        etcd_client::Error::TransportError(_) | etcd_client::Error::IoError(_) => true,
        etcd_client::Error::GRpcStatus(s) => s.code() == tonic::Code::Unavailable,
        _ => false,
    }
}

fn options() -> ConnectOptions {
    ConnectOptions::new()
        .with_connect_timeout(Duration::from_secs(2))
        .with_timeout(REQUEST_TIMEOUT)
        // HTTP/2 pings find a dead member between requests, not during one.
        .with_keep_alive(Duration::from_secs(2), Duration::from_secs(2))
        .with_keep_alive_while_idle(true)
        .with_require_leader(true)
}

/// Parses `etcd://h1:2379,h2:2379` (or a bare `h1:2379,h2:2379`) into gRPC endpoints: each
/// `https://` when `tls`, else `http://`, unless it names its scheme; a scheme that disagrees
/// with `tls` is refused (TLS settings without TLS, or TLS without them).
pub fn parse_endpoints(url: &str, tls: bool) -> Result<Vec<String>, String> {
    let list = url.strip_prefix("etcd://").unwrap_or(url);
    let scheme = if tls { "https://" } else { "http://" };
    let endpoints: Vec<String> = list
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|e| if e.contains("://") { e.to_owned() } else { format!("{scheme}{e}") })
        .collect();
    if endpoints.is_empty() {
        return Err(format!(
            "{url:?} names no etcd endpoint (like etcd://10.0.0.1:2379,10.0.0.2:2379)"
        ));
    }
    if let Some(e) =
        endpoints.iter().find(|e| !e.starts_with("http://") && !e.starts_with("https://"))
    {
        return Err(format!("{e:?}: an etcd endpoint is http:// or https://"));
    }
    if let Some(e) = endpoints.iter().find(|e| e.starts_with("https://") != tls) {
        return Err(if tls {
            format!("{e:?} is plain http, but TLS settings for etcd are given: use https://")
        } else {
            format!(
                "{e:?} is https: give the CA etcd's certificates are signed by (etcd.ca), or a \
                 client certificate (etcd.cert and etcd.key)"
            )
        });
    }
    Ok(endpoints)
}

impl EtcdStore {
    /// Connects to the cluster at `url` (`etcd://h1:2379,h2:2379,h3:2379`). The connection is
    /// lazy about members that are down: any reachable member serves.
    pub async fn connect(url: &str) -> Result<EtcdStore, StoreError> {
        let store = EtcdStore::new(url)?;
        store.probe().await?;
        Ok(store)
    }

    /// The store for `url` (`etcd://host:port,...`), not yet reached: connections are made
    /// at the first request.
    pub fn new(url: &str) -> Result<EtcdStore, StoreError> {
        Self::secured(url, &EtcdSecurity::default())
    }

    /// [`EtcdStore::new`] over TLS and with a user, as `security` says. Its files are read
    /// now: one that is missing or not PEM fails here, naming it.
    pub fn secured(url: &str, security: &EtcdSecurity) -> Result<EtcdStore, StoreError> {
        let endpoints = parse_endpoints(url, security.tls()).map_err(StoreError::Unavailable)?;
        let connect = security.options().map_err(StoreError::Unavailable)?;
        Ok(EtcdStore {
            clients: Mutex::new(vec![None; endpoints.len()]),
            connect,
            security: security.clone(),
            endpoints,
            preferred: AtomicUsize::new(0),
            mark_lease: tokio::sync::Mutex::new(None),
            progress: tokio::sync::watch::Sender::new(0),
        })
    }

    /// Reads from the cluster, to fail now with a clear message rather than at the first
    /// read; a cluster that is still electing its leader gets a few more seconds.
    pub async fn probe(&self) -> Result<(), StoreError> {
        let mut last = None;
        for attempt in 0..3 {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            match self.get("/turnout/").await {
                Ok(_) => return Ok(()),
                Err(e) => last = Some(e),
            }
        }
        let e = last.unwrap_or_else(|| StoreError::Unavailable("etcd: no answer".to_owned()));
        // gRPC says only "transport error" when TLS fails: shake hands once more to say why.
        match (&e, self.security.tls()) {
            (StoreError::Unavailable(text), true) => match self.tls_diagnosis().await {
                Some(why) => Err(StoreError::Unavailable(format!("{text}; {why}"))),
                None => Err(e),
            },
            _ => Err(e),
        }
    }

    /// Why a TLS connection to the first member fails, if it does: a handshake with the same
    /// CA and client certificate, then a read, which brings the member's alert when it refuses
    /// the client's certificate (TLS 1.3 tells it after the handshake).
    async fn tls_diagnosis(&self) -> Option<String> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
        use tokio::io::AsyncReadExt;
        let endpoint = self.endpoints.first()?;
        let authority = endpoint.strip_prefix("https://")?.trim_end_matches('/');
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        match &self.security.ca {
            Some(ca) => {
                for cert in CertificateDer::pem_file_iter(ca).ok()?.flatten() {
                    let _unusable = roots.add(cert);
                }
            }
            None => {
                for cert in rustls_native_certs::load_native_certs().certs {
                    let _unusable = roots.add(cert);
                }
            }
        }
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .ok()?
            .with_root_certificates(roots);
        let config = match &self.security.identity {
            Some((cert, key)) => {
                let certs: Vec<_> = CertificateDer::pem_file_iter(cert).ok()?.flatten().collect();
                let key = PrivateKeyDer::from_pem_file(key).ok()?;
                builder.with_client_auth_cert(certs, key).ok()?
            }
            None => builder.with_no_client_auth(),
        };
        let host = authority.rsplit_once(':').map_or(authority, |(h, _)| h);
        let name = ServerName::try_from(host.trim_matches(['[', ']']).to_owned()).ok()?;
        let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
        let shake = async {
            let tcp = tokio::net::TcpStream::connect(authority).await?;
            let mut tls = connector.connect(name, tcp).await?;
            let mut byte = [0u8; 1];
            // A member that accepts the certificate waits for the client's HTTP/2 preface:
            // silence until the timeout is success.
            match tokio::time::timeout(Duration::from_secs(2), tls.read(&mut byte)).await {
                Ok(Err(e)) => Err(e),
                _ => Ok(()),
            }
        };
        match tokio::time::timeout(Duration::from_secs(5), shake).await {
            Ok(Err(e)) => Some(format!("TLS with {authority}: {e}")),
            _ => None,
        }
    }

    /// The endpoints given.
    pub fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    /// The connection to member `i`, made now if there is none.
    async fn client(&self, i: usize) -> Result<Client, etcd_client::Error> {
        if let Some(c) = self.clients.lock().unwrap_or_else(PoisonError::into_inner)[i].clone() {
            return Ok(c);
        }
        let c = Client::connect([&self.endpoints[i]], Some(self.connect.clone())).await?;
        self.clients.lock().unwrap_or_else(PoisonError::into_inner)[i] = Some(c.clone());
        Ok(c)
    }

    /// Runs `f` on the members in turn, from the preferred one, until one answers. A failure
    /// moves on to the next member when `retry` says it may; the last failure is returned.
    async fn each<T, F, Fut>(
        &self,
        retry: fn(&etcd_client::Error) -> bool,
        f: F,
    ) -> Result<T, StoreError>
    where
        F: Fn(Client) -> Fut,
        Fut: std::future::Future<Output = Result<T, etcd_client::Error>>,
    {
        let n = self.endpoints.len();
        let first = self.preferred.load(Ordering::Relaxed);
        let mut last = None;
        for k in 0..n {
            let i = (first + k) % n;
            let result = match self.client(i).await {
                Ok(c) => f(c).await,
                Err(e) => Err(e),
            };
            match result {
                Ok(v) => {
                    self.preferred.store(i, Ordering::Relaxed);
                    return Ok(v);
                }
                Err(e) => {
                    // A broken connection is made again next time.
                    if not_sent(&e) {
                        self.clients.lock().unwrap_or_else(PoisonError::into_inner)[i] = None;
                    }
                    let go_on = retry(&e);
                    last = Some(e);
                    if !go_on {
                        break;
                    }
                }
            }
        }
        Err(match last {
            Some(e) => StoreError::Unavailable(format!(
                "etcd ({}): {}",
                self.endpoints.join(", "),
                plain(&e)
            )),
            None => StoreError::Unavailable("etcd: no member".to_owned()),
        })
    }
}

impl EtcdStore {
    /// The lease for transaction marks: granted at the first transaction, and again once half
    /// its time has passed (marks under the old one expire on their own).
    async fn mark_lease(&self) -> Result<i64, StoreError> {
        let mut held = self.mark_lease.lock().await;
        let half = Duration::from_secs(MARK_TTL.unsigned_abs() / 2);
        if let Some((id, granted)) = *held
            && granted.elapsed() < half
        {
            return Ok(id);
        }
        let granted = std::time::Instant::now();
        let response =
            self.each(always, |mut c| async move { c.lease_grant(MARK_TTL, None).await }).await?;
        *held = Some((response.id(), granted));
        Ok(response.id())
    }
}

impl EtcdStore {
    /// The first lease `txn` puts under that etcd no longer has (None: they all live, or
    /// etcd cannot say now).
    async fn gone_lease(&self, txn: &Txn) -> Option<LeaseId> {
        let leases = txn.success.iter().chain(&txn.failure).filter_map(|op| match op {
            Op::PutLeased { lease, .. } => Some(*lease),
            _ => None,
        });
        for lease in leases {
            let ttl = self
                .each(always, |mut c| async move { c.lease_time_to_live(lease, None).await })
                .await;
            if matches!(ttl, Ok(r) if r.ttl() <= 0) {
                return Some(lease);
            }
        }
        None
    }
}

/// A random name for a transaction's mark.
fn mark_id() -> Result<String, StoreError> {
    let mut bytes = [0_u8; 16];
    getrandom::fill(&mut bytes)
        .map_err(|e| StoreError::Unavailable(format!("no random numbers: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn always(_: &etcd_client::Error) -> bool {
    true
}

/// Whether etcd said a lease does not exist (expired, revoked, or never granted).
fn lease_not_found(e: &etcd_client::Error) -> bool {
    match e {
        etcd_client::Error::GRpcStatus(s) => s.code() == tonic::Code::NotFound,
        etcd_client::Error::LeaseKeepAliveError(m) => m.contains("not found"),
        _ => false,
    }
}

/// Any failure but a missing lease moves on to another member.
fn unless_lease_not_found(e: &etcd_client::Error) -> bool {
    !lease_not_found(e)
}

/// A request that took longer than [`REQUEST_TIMEOUT`], as the client's own errors say it.
fn timed_out(_: tokio::time::error::Elapsed) -> etcd_client::Error {
    etcd_client::Error::IoError(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        "no answer in time",
    ))
}

fn key_value(kv: &etcd_client::KeyValue) -> Result<KeyValue, StoreError> {
    let key = kv
        .key_str()
        .map_err(|_| StoreError::Corrupt("a key that is not UTF-8".to_owned()))?
        .to_owned();
    Ok(KeyValue {
        key,
        value: kv.value().to_vec(),
        create_revision: kv.create_revision(),
        mod_revision: kv.mod_revision(),
        version: kv.version(),
        lease: kv.lease(),
    })
}

fn revision_of(header: Option<&etcd_client::ResponseHeader>) -> Revision {
    header.map_or(0, etcd_client::ResponseHeader::revision)
}

fn compare(c: &crate::Compare) -> EtcdCompare {
    let op = match c.op {
        CompareOp::Equal => EtcdOp::Equal,
        CompareOp::NotEqual => EtcdOp::NotEqual,
        CompareOp::Greater => EtcdOp::Greater,
        CompareOp::Less => EtcdOp::Less,
    };
    // A compare over every key: from "\0" to the end ("\0" as range end), as etcd spells it.
    let key = if c.prefix && c.key.is_empty() { vec![0] } else { c.key.as_bytes().to_vec() };
    let one = match &c.target {
        Target::ModRevision(r) => EtcdCompare::mod_revision(key, op, *r),
        Target::CreateRevision(r) => EtcdCompare::create_revision(key, op, *r),
        Target::Version(v) => EtcdCompare::version(key, op, *v),
        Target::Value(v) => EtcdCompare::value(key, op, v.clone()),
    };
    match (c.prefix, c.key.is_empty()) {
        (false, _) => one,
        (true, false) => one.with_prefix(),
        (true, true) => one.with_range(vec![0]),
    }
}

fn operation(op: &Op) -> TxnOp {
    match op {
        Op::Put { key, value } => TxnOp::put(key.as_bytes().to_vec(), value.clone(), None),
        Op::PutLeased { key, value, lease } => TxnOp::put(
            key.as_bytes().to_vec(),
            value.clone(),
            Some(PutOptions::new().with_lease(*lease)),
        ),
        Op::Delete { key } => TxnOp::delete(key.as_bytes().to_vec(), None),
        Op::DeletePrefix { prefix } => {
            TxnOp::delete(prefix.as_bytes().to_vec(), Some(DeleteOptions::new().with_prefix()))
        }
    }
}

/// The first key and the range end (exclusive) of every key under `prefix` (every key at all
/// for ""), as etcd's `--prefix` computes them: the prefix with its last byte below 0xff
/// incremented and what follows cut; `\0` as the end means "to the last key".
fn range_bounds(prefix: &str) -> (Vec<u8>, Vec<u8>) {
    if prefix.is_empty() {
        return (vec![0], vec![0]);
    }
    let mut end = prefix.as_bytes().to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return (prefix.as_bytes().to_vec(), end);
        }
    }
    (prefix.as_bytes().to_vec(), vec![0])
}

/// Whether a read failed because its response was larger than the client accepts.
fn too_large(e: &str) -> bool {
    e.contains("message length too large") || e.contains("OutOfRange")
}

/// The range options for every key under `prefix` (every key at all for "").
fn prefix_options(prefix: &str) -> (Vec<u8>, GetOptions) {
    if prefix.is_empty() {
        (vec![0], GetOptions::new().with_from_key())
    } else {
        (prefix.as_bytes().to_vec(), GetOptions::new().with_prefix())
    }
}

#[async_trait]
impl Store for EtcdStore {
    /// A read of this store's own mark prefix: an etcd user limited to Turnout's keys
    /// (`/turnout` and below, as docs/cluster.md grants) may read it, where "/" would be denied.
    async fn revision(&self) -> Result<Revision, StoreError> {
        Ok(self.get(MARK_PREFIX).await?.1)
    }

    /// From a read's response header, as [`EtcdStore::revision`] reads (any member answers
    /// with the cluster's ID).
    async fn cluster_id(&self) -> Result<String, StoreError> {
        let response =
            self.each(always, |mut c| async move { c.get(MARK_PREFIX, None).await }).await?;
        let id = response.header().map_or(0, etcd_client::ResponseHeader::cluster_id);
        Ok(format!("etcd:{id:016x}"))
    }

    /// A read at `from`: etcd refuses one compacted past ("required revision has been
    /// compacted") and calls one after its current revision "future" (nothing to miss).
    async fn has_history(&self, from: Revision) -> Result<bool, StoreError> {
        let options = GetOptions::new().with_revision(from).with_keys_only();
        let asked = self
            .each(always, |mut c| {
                let options = options.clone();
                async move { c.get(MARK_PREFIX, Some(options)).await }
            })
            .await;
        match asked {
            Ok(_) => Ok(true),
            Err(StoreError::Unavailable(e)) if e.contains("has been compacted") => Ok(false),
            Err(StoreError::Unavailable(e)) if e.contains("future revision") => Ok(true),
            Err(e) => Err(e),
        }
    }

    async fn get(&self, key: &str) -> Result<(Option<KeyValue>, Revision), StoreError> {
        let response = self.each(always, |mut c| async move { c.get(key, None).await }).await?;
        let kv = response.kvs().first().map(key_value).transpose()?;
        Ok((kv, revision_of(response.header())))
    }

    /// Read in pages of at most `RANGE_PAGE` keys, every page at the first one's revision (a
    /// consistent read, as one request would be): a million record sets in one response would
    /// hold the whole range twice in memory and outgrow any message limit. A page too large
    /// for `MAX_MESSAGE` (large values) is asked again at half the size; the next one may be
    /// twice as large again.
    async fn range(&self, prefix: &str) -> Result<RangeResponse, StoreError> {
        let kvs = Mutex::new(Vec::new());
        let revision = self
            .range_pages(prefix, &|part| {
                kvs.lock().unwrap_or_else(PoisonError::into_inner).extend(part);
            })
            .await?;
        Ok(RangeResponse {
            kvs: kvs.into_inner().unwrap_or_else(PoisonError::into_inner),
            revision,
        })
    }

    /// Each page as it arrives (see [`EtcdStore::range`] for the pages).
    async fn range_pages(
        &self,
        prefix: &str,
        part: &(dyn Fn(Vec<KeyValue>) + Send + Sync),
    ) -> Result<Revision, StoreError> {
        let (mut from, end) = range_bounds(prefix);
        let mut revision = 0;
        let mut page = RANGE_PAGE;
        loop {
            let options =
                GetOptions::new().with_range(end.clone()).with_limit(page).with_revision(revision);
            let key = from.clone();
            let asked = self
                .each(always, |c| {
                    let (key, options) = (key.clone(), options.clone());
                    async move {
                        c.kv_client()
                            .max_decoding_message_size(MAX_MESSAGE)
                            .get(key, Some(options))
                            .await
                    }
                })
                .await;
            let response = match asked {
                Err(StoreError::Unavailable(e)) if page > 1 && too_large(&e) => {
                    page /= 2;
                    continue;
                }
                other => other?,
            };
            if revision == 0 {
                revision = revision_of(response.header());
            }
            let kvs = response.kvs().iter().filter(|kv| !hidden(kv.key()));
            part(kvs.map(key_value).collect::<Result<_, _>>()?);
            match response.kvs().last() {
                Some(last) if response.more() => {
                    from = last.key().to_vec();
                    from.push(0);
                }
                _ => break,
            }
            page = (page * 2).min(RANGE_PAGE);
        }
        Ok(revision)
    }

    /// No mark: after an uncertain failure the write is sent again (to the next member, until
    /// the same patience as a transaction's runs out), as applying it twice is applying it once.
    async fn write_repeatable(&self, ops: Vec<Op>) -> Result<Revision, StoreError> {
        let deadline = tokio::time::Instant::now() + TXN_PATIENCE;
        let request = EtcdTxn::new().and_then(ops.iter().map(operation).collect::<Vec<_>>());
        loop {
            let sent = self
                .each(
                    |_| true,
                    |mut c| {
                        let request = request.clone();
                        async move { c.txn(request).await }
                    },
                )
                .await;
            let error = match sent {
                Ok(response) => return Ok(revision_of(response.header())),
                Err(e) => e,
            };
            if let Some(refused) = refusal(&error, ops.len(), "") {
                return Err(refused);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(error);
            }
            debug!("etcd write not confirmed ({error}); sending it again");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn txn(&self, txn: Txn) -> Result<TxnResponse, StoreError> {
        let mark = format!("{MARK_PREFIX}{}", mark_id()?);
        let deadline = tokio::time::Instant::now() + TXN_PATIENCE;
        loop {
            let lease = self.mark_lease().await?;
            let put_mark = |branch: &'static str| {
                let options = PutOptions::new().with_lease(lease);
                TxnOp::put(mark.as_bytes().to_vec(), branch, Some(options))
            };
            let mut success: Vec<TxnOp> = txn.success.iter().map(operation).collect();
            success.push(put_mark("s"));
            let mut failure: Vec<TxnOp> = txn.failure.iter().map(operation).collect();
            failure.push(put_mark("f"));
            let request = EtcdTxn::new()
                .when(txn.compares.iter().map(compare).collect::<Vec<_>>())
                .and_then(success)
                .or_else(failure);
            let sent = self
                .each(not_sent, |mut c| {
                    let request = request.clone();
                    async move { c.txn(request).await }
                })
                .await;
            let error = match sent {
                Ok(response) => {
                    return Ok(TxnResponse {
                        succeeded: response.succeeded(),
                        revision: revision_of(response.header()),
                    });
                }
                Err(e) => e,
            };
            let ops = txn.success.len().max(txn.failure.len()) + 1;
            if let Some(refused) = refusal(&error, ops, " (its mark included)") {
                return Err(refused);
            }
            if matches!(&error, StoreError::Unavailable(m) if m.contains("lease not found")) {
                // A lease of the caller's is gone: nothing ran, and nothing would.
                if let Some(gone) = self.gone_lease(&txn).await {
                    return Err(StoreError::LeaseExpired(gone));
                }
                // Or the marks' own: the cluster was down longer than it lived. A new one.
                *self.mark_lease.lock().await = None;
            }
            // Did it run? Ask until a leader answers (or patience runs out).
            loop {
                match self.get(&mark).await {
                    Ok((Some(kv), _)) => {
                        return Ok(TxnResponse {
                            succeeded: kv.value == b"s",
                            revision: kv.mod_revision,
                        });
                    }
                    Ok((None, _)) => break,
                    Err(_) if tokio::time::Instant::now() < deadline => {
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                    Err(_) => return Err(error),
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(error);
            }
            debug!("etcd transaction not applied ({error}); sending it again");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn grant(&self, ttl: Duration) -> Result<LeaseId, StoreError> {
        let ttl = i64::try_from(ttl.as_secs().max(1)).unwrap_or(i64::MAX);
        let response =
            self.each(always, |mut c| async move { c.lease_grant(ttl, None).await }).await?;
        Ok(response.id())
    }

    async fn keep_alive(&self, lease: LeaseId) -> Result<(), StoreError> {
        // One renewal per call: the client's keep-alive stream sends one request and reads
        // its answer (a time to live of 0 is a lease that is gone).
        let renewed = self
            .each(unless_lease_not_found, |mut c| async move {
                tokio::time::timeout(REQUEST_TIMEOUT, c.lease_keep_alive(lease))
                    .await
                    .map_err(timed_out)?
            })
            .await;
        match renewed {
            Ok(_) => Ok(()),
            Err(StoreError::Unavailable(m)) if m.contains("not found") => {
                Err(StoreError::LeaseExpired(lease))
            }
            Err(e) => Err(e),
        }
    }

    async fn revoke(&self, lease: LeaseId) -> Result<(), StoreError> {
        match self
            .each(unless_lease_not_found, |mut c| async move { c.lease_revoke(lease).await })
            .await
        {
            Err(StoreError::Unavailable(m)) if m.contains("not found") => Ok(()),
            other => other.map(|_| ()),
        }
    }

    async fn watch(&self, prefix: &str, start: Revision) -> Result<Box<dyn Watcher>, StoreError> {
        let (watcher, stream, client) = self
            .each(always, |c| async move {
                let (key, _) = prefix_options(prefix);
                let options = if prefix.is_empty() {
                    WatchOptions::new().with_from_key()
                } else {
                    WatchOptions::new().with_prefix()
                }
                .with_start_revision(start);
                let (watcher, stream) = c
                    .watch_client()
                    .max_decoding_message_size(MAX_MESSAGE)
                    .watch(key, Some(options))
                    .await?;
                Ok((watcher, stream, c))
            })
            .await?;
        Ok(Box::new(EtcdWatcher {
            _watcher: watcher,
            stream,
            client,
            progress_key: format!("{prefix}{PROGRESS_KEY}"),
            start,
            delivered: start.saturating_sub(1),
            progress: self.progress.subscribe(),
            pending: Vec::new().into_iter(),
        }))
    }

    async fn request_progress(&self) {
        self.progress.send_modify(|n| *n = n.wrapping_add(1));
    }
}

/// One etcd watch stream, delivered one revision at a time.
struct EtcdWatcher {
    /// Keeps the watch open (dropping it cancels the watch).
    _watcher: etcd_client::Watcher,
    stream: WatchStream,
    /// The member the watch is on, to write the progress key through.
    client: Client,
    /// The key under the watched prefix that a progress request writes.
    progress_key: String,
    /// The revision the watch started from.
    start: Revision,
    /// Every change up to this revision has been delivered.
    delivered: Revision,
    /// Changes when somebody wants a progress report.
    progress: tokio::sync::watch::Receiver<u64>,
    /// Batches already split from a response, in revision order.
    pending: std::vec::IntoIter<WatchBatch>,
}

#[async_trait]
impl Watcher for EtcdWatcher {
    async fn next(&mut self) -> Result<WatchBatch, StoreError> {
        loop {
            if let Some(batch) = self.pending.next() {
                self.delivered = self.delivered.max(batch.revision);
                return Ok(batch);
            }
            let message = tokio::select! {
                message = self.stream.message() => message.map_err(unavailable)?,
                changed = self.progress.changed() => {
                    if changed.is_ok() {
                        // Its event comes after every change before it: when it arrives, the
                        // watch has delivered everything up to its revision. A member that
                        // cannot write now leaves the waiter to its own deadline.
                        let put = self.client.put(self.progress_key.as_str(), "", None);
                        match tokio::time::timeout(REQUEST_TIMEOUT, put).await {
                            Ok(Ok(_)) => {}
                            Ok(Err(e)) => debug!("progress key not written: {}", plain(&e)),
                            Err(_) => debug!(
                                "progress key not written in {}s",
                                REQUEST_TIMEOUT.as_secs_f64()
                            ),
                        }
                    }
                    continue;
                }
            };
            let Some(response) = message else {
                return Err(StoreError::Unavailable("etcd closed the watch".to_owned()));
            };
            if response.compact_revision() > 0 {
                return Err(StoreError::Compacted {
                    requested: self.start,
                    oldest: response.compact_revision(),
                });
            }
            if response.canceled() {
                return Err(StoreError::Unavailable(format!(
                    "etcd canceled the watch: {}",
                    response.cancel_reason()
                )));
            }
            if response.events().is_empty() {
                // The creation's response, or a progress notification (not trusted: see
                // PROGRESS_KEY).
                continue;
            }
            // One response may hold several revisions: one batch each, in order.
            let mut batches: Vec<WatchBatch> = Vec::new();
            let mut marks: Revision = 0;
            for event in response.events() {
                let Some(kv) = event.kv() else { continue };
                if hidden(kv.key()) {
                    marks = marks.max(kv.mod_revision());
                    continue;
                }
                let revision = kv.mod_revision();
                let event = match event.event_type() {
                    EventType::Put => Event::Put(key_value(kv)?),
                    EventType::Delete => {
                        Event::Delete { key: key_value(kv)?.key, mod_revision: revision }
                    }
                };
                match batches.last_mut() {
                    Some(b) if b.revision == revision => b.events.push(event),
                    _ => batches.push(WatchBatch { revision, events: vec![event] }),
                }
            }
            // Revisions that only wrote marks or progress keys still move the watch on.
            if marks > self.delivered && batches.last().is_none_or(|b| b.revision < marks) {
                batches.push(WatchBatch { revision: marks, events: Vec::new() });
            }
            self.pending = batches.into_iter();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        assert_eq!(
            parse_endpoints("etcd://10.0.0.1:2379, 10.0.0.2:2379", false).unwrap(),
            ["http://10.0.0.1:2379", "http://10.0.0.2:2379"]
        );
        assert_eq!(parse_endpoints("http://h:2379", false).unwrap(), ["http://h:2379"]);
        assert!(parse_endpoints("https://h:2379", false).unwrap_err().contains("etcd.ca"));
        assert_eq!(parse_endpoints("etcd://h:2379", true).unwrap(), ["https://h:2379"]);
        assert!(parse_endpoints("http://h:2379", true).unwrap_err().contains("use https://"));
        assert!(parse_endpoints("ftp://h:2379", true).unwrap_err().contains("http:// or https://"));
        assert!(parse_endpoints("etcd://", false).is_err());
    }
}
