//! `turnout serve`: open the store, load the zone files, bind the DNS and API sockets, start
//! the store -> snapshot sync, serve. SIGHUP reloads the zone files (used only if every file is
//! valid) and the API certificates; SIGTERM/SIGINT drain and exit 0; a dead listener exits 1.

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};
use turnout_api::ApiServer;
use turnout_api::tls::ServerTls;
use turnout_control::secrets::run_cookie_secrets;
use turnout_control::tokens::{AdminToken, ensure_admin_token};
use turnout_control::{
    Control, ControlOptions, SyncOptions, run_change_gc, run_control_expiry, run_sync,
};
use turnout_dns::server::DnsServer;
use turnout_dns::{CookieSecrets, Shield, Snapshot, SnapshotHandle};
use turnout_health::Webhook;
use turnout_health::webhook::WebhookTarget;
use turnout_model::{Zone, zonefile};
use turnout_store::{EmbeddedOptions, EmbeddedStore, Store};

use crate::cli::ServeArgs;
use crate::config::{self, Settings};
use crate::tasks::Tasks;

/// Loads every zone file, or returns every error found.
pub fn load_zones(files: &[PathBuf]) -> Result<Vec<Zone>, Vec<String>> {
    let mut zones = Vec::with_capacity(files.len());
    let mut errors = Vec::new();
    for f in files {
        match zonefile::parse_file(f, None) {
            Ok(z) => zones.push(z),
            Err(es) => errors.extend(es.iter().map(ToString::to_string)),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    // Building a snapshot is the last check (duplicate zones, zone rules).
    Snapshot::build(&zones).map_err(|e| vec![e.to_string()])?;
    Ok(zones)
}

fn describe(zones: &[Zone]) -> String {
    if zones.is_empty() {
        return "no zone files".to_owned();
    }
    let zones: Vec<String> = zones
        .iter()
        .map(|z| {
            let serial = z.soa().map_or(0, |(_, soa)| soa.serial);
            format!("{} (serial {serial}, {} records)", z.apex(), z.record_count())
        })
        .collect();
    format!("serving {} zone file(s): {}", zones.len(), zones.join(", "))
}

/// Runs `turnout serve`.
pub fn run(args: &ServeArgs) -> ExitCode {
    let allocator_set = crate::memory::configure_allocator();
    let settings = match config::resolve(args) {
        Ok(s) => s,
        Err(e) => {
            crate::logging::init("info", args.log_format.unwrap_or_default());
            error!("{e}");
            return ExitCode::from(2);
        }
    };
    crate::logging::init(&settings.log_level, settings.log_format);
    info!("{}", settings.describe());
    if !allocator_set {
        warn!("the allocator refused fixed mmap and trim thresholds: memory after a load may vary");
    }
    let zones = match load_zones(&settings.zone_files) {
        Ok(z) => z,
        Err(errors) => {
            for e in &errors {
                error!("{e}");
            }
            error!("not serving: {} error(s) in the zone files", errors.len());
            return ExitCode::from(2);
        }
    };
    let locator = match load_locator(&settings) {
        Ok(l) => l,
        Err(e) => {
            error!("{e:#}");
            return ExitCode::from(2);
        }
    };
    let tls = match load_tls(&settings) {
        Ok(t) => t,
        Err(e) => {
            error!("{e:#}");
            return ExitCode::from(2);
        }
    };
    // A configured webhook secret or CA that cannot be used is a configuration error.
    if let Some(w) = &settings.webhook {
        let checked = w
            .secret_file
            .as_ref()
            .map_or(Ok(()), |_| webhook_secret(w, &settings.data_dir).map(drop))
            .and_then(|()| {
                let target =
                    WebhookTarget { url: w.url.clone(), secret: Vec::new(), ca: w.ca.clone() };
                Webhook::new(target)
                    .map(drop)
                    .map_err(|e| anyhow::anyhow!("config field health.webhook_ca: {e}"))
            });
        if let Err(e) = checked {
            error!("{e:#}");
            return ExitCode::from(2);
        }
    }
    crate::memory::return_freed_memory();
    if args.check_config {
        info!("configuration is valid; {}", describe(&zones));
        return ExitCode::SUCCESS;
    }
    // The embedded store is opened (and locked) before the runtime starts; etcd is reached
    // from inside it.
    let embedded = match &settings.store {
        Some(_) => None,
        None => match open_store(&settings.data_dir) {
            Ok(s) => Some(s),
            Err(e) => {
                error!("{e:#}");
                return ExitCode::from(1);
            }
        },
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            error!("cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let run = async move {
        let store: Arc<dyn Store> = match (embedded, &settings.store) {
            (Some(e), _) => Arc::new(e),
            (None, Some(url)) => {
                let etcd = turnout_store::EtcdStore::secured(url, &settings.etcd)
                    .with_context(|| format!("cannot use the store {url}"))?;
                if let Err(e) = etcd.probe().await {
                    // Static stability: with a local copy of the configuration, DNS starts
                    // answering from it and the store is retried in the background.
                    use turnout_control::replica::{LEGACY_COPY_FILE, REPLICA_FILE};
                    let dir = &settings.data_dir;
                    let copy = [REPLICA_FILE, LEGACY_COPY_FILE]
                        .map(|f| dir.join(f))
                        .into_iter()
                        .find(|p| p.exists());
                    let Some(copy) = copy else {
                        return Err(
                            anyhow::Error::new(e).context(format!("cannot use the store {url}"))
                        );
                    };
                    warn!(
                        "cannot reach the store {url} ({e}); starting from the local copy {}",
                        copy.display()
                    );
                }
                info!("store: etcd at {}", etcd.endpoints().join(", "));
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(&settings.data_dir)
                    .with_context(|| {
                    format!("cannot create the data directory {}", settings.data_dir.display())
                })?;
                Arc::new(etcd)
            }
            (None, None) => anyhow::bail!("no store"),
        };
        serve(settings, zones, store, locator, tls).await
    };
    match runtime.block_on(run) {
        Ok(()) => {
            info!("stopped");
            ExitCode::SUCCESS
        }
        // A task's failure was logged when it happened.
        Err(e) if e.is::<crate::tasks::TaskFailed>() => {
            error!("stopped after a failure");
            ExitCode::from(1)
        }
        Err(e) => {
            error!("{e:#}");
            ExitCode::from(1)
        }
    }
}

/// Creates the data directory (mode 0700) if needed and opens the embedded store in it.
pub fn open_store(data_dir: &Path) -> anyhow::Result<EmbeddedStore> {
    if !data_dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(data_dir)
            .with_context(|| format!("cannot create the data directory {}", data_dir.display()))?;
    }
    let path = data_dir.join(STORE_FILE);
    Ok(EmbeddedStore::open(&path, EmbeddedOptions::default())?)
}

/// The embedded store's file inside the data directory.
pub const STORE_FILE: &str = "store.redb";

/// The webhook's signing secret: the configured file's, else the data directory's own (made
/// at first start).
fn webhook_secret(w: &crate::config::WebhookSettings, data_dir: &Path) -> anyhow::Result<String> {
    if let Some(path) = &w.secret_file {
        return turnout_control::tokens::read_secret(path).with_context(|| {
            format!("config field health.webhook_secret_file: cannot read {}", path.display())
        });
    }
    let path = data_dir.join(turnout_control::tokens::WEBHOOK_SECRET_FILE);
    let (secret, made) = turnout_control::tokens::ensure_secret(&path)
        .with_context(|| format!("cannot read or make the webhook secret {}", path.display()))?;
    if made {
        info!(
            "made the webhook signing secret {} (mode 0600): give it to the receiver",
            path.display()
        );
    }
    Ok(secret)
}

/// The API listeners' TLS, if configured: (configuration API, routing-control API).
#[derive(Debug, Default)]
struct ListenerTls {
    api: Option<Arc<ServerTls>>,
    controls: Option<Arc<ServerTls>>,
    route53: Option<Arc<ServerTls>>,
}

impl ListenerTls {
    fn all(&self) -> Vec<Arc<ServerTls>> {
        self.api.iter().chain(&self.controls).chain(&self.route53).cloned().collect()
    }
}

/// Loads the certificates and keys the config names; a missing or bad file names its field.
fn load_tls(settings: &Settings) -> anyhow::Result<ListenerTls> {
    let load = |files: &Option<turnout_api::tls::TlsFiles>, field: &str| {
        files
            .clone()
            .map(|f| ServerTls::load(f).with_context(|| format!("config field {field}")))
            .transpose()
    };
    Ok(ListenerTls {
        api: load(&settings.api_tls, "api.tls")?,
        controls: load(&settings.controls_tls, "api.controls_tls")?,
        route53: load(&settings.route53_tls, "api.route53_tls")?,
    })
}

/// Loads the geolocation database and the latency map the config names, if any.
fn load_locator(settings: &Settings) -> anyhow::Result<Option<Arc<turnout_dns::locate::Locator>>> {
    use turnout_dns::locate::{GeoDb, LatencyMap, Locator};
    if settings.geo_database.is_none() && settings.latency_map.is_none() {
        return Ok(None);
    }
    let mut locator = Locator::default();
    if let Some(path) = &settings.geo_database {
        let geo = GeoDb::open(path).context("config field routing.geo_database")?;
        info!("geolocation database {} ({}, {} places)", path.display(), geo.kind, geo.places());
        locator.geo = Some(geo);
    }
    if let Some(path) = &settings.latency_map {
        let map = LatencyMap::open(path).context("config field routing.latency_map")?;
        info!("latency map {} ({} networks)", path.display(), map.networks());
        locator.latency = Some(map);
    }
    Ok(Some(Arc::new(locator)))
}

async fn serve(
    settings: Settings,
    zones: Vec<Zone>,
    store: Arc<dyn Store>,
    locator: Option<Arc<turnout_dns::locate::Locator>>,
    tls: ListenerTls,
) -> anyhow::Result<()> {
    info!("{}", describe(&zones));
    // Health probes, DNS over TCP and the APIs all need descriptors: take what the hard limit
    // allows (the APIs' connection caps are a quarter of it, docs/api.md).
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) if n < 1024 => {
            warn!("only {n} file descriptors may be open: probes may fail under load")
        }
        Ok(n) => debug!("up to {n} file descriptors may be open"),
        Err(e) => warn!("cannot read the file descriptor limit: {e}"),
    }
    match ensure_admin_token(store.as_ref(), &settings.data_dir).await {
        Ok(AdminToken::Created(path)) => {
            info!("first start: wrote the admin API token to {} (mode 0600)", path.display());
        }
        Ok(AdminToken::FileMissing(path)) => {
            // Normal on a cluster node other than the first; a surprise on a single node.
            let say = format!(
                "the store has an admin API token, but {} does not exist: the node that made it \
                 has the file (or it was deleted, or the store restored from a backup); copy it \
                 here, or make another token with `turnout token create` and an admin token",
                path.display()
            );
            if settings.store.is_some() { info!("{say}") } else { warn!("{say}") }
        }
        Ok(AdminToken::Exists) => {}
        // A remote store that is down (start from the local copy): the API has nothing to
        // write to anyway, and the token is checked again at the next start.
        Err(e @ turnout_store::StoreError::Unavailable(_)) if settings.store.is_some() => {
            warn!("cannot check the admin token now: {e}");
        }
        Err(e) => return Err(e.into()),
    }
    let mut first = Snapshot::build(&zones)?;
    if let Some(l) = &locator {
        first = first.with_locator(Arc::clone(l));
    }
    let handle = SnapshotHandle::new(first);
    // Until the cluster's secret arrives from the store, cookies use one of this node's own.
    let own_secret =
        CookieSecrets { current: turnout_control::secrets::random_secret()?, previous: None };
    let shield = Arc::new(
        Shield::new(&settings.shield, own_secret)
            .map_err(|e| anyhow::anyhow!("config field {e}"))?,
    );
    let dns = DnsServer::bind(settings.dns.clone())?;
    // dnstap's identity: the node's identity, else its name.
    let identity = settings.shield.identity.clone().unwrap_or_else(|| node_name(&settings, &dns));
    let taps = settings
        .taps
        .iter()
        .map(|t| turnout_dns::tap::TapConfig { identity: identity.clone(), ..t.clone() })
        .collect();
    let dns = dns
        .with_shield(Arc::clone(&shield))
        .counting(settings.query_counters)
        .with_taps(taps)
        .map_err(|e| anyhow::anyhow!("cannot start the dnstap or query-log writer: {e}"))?;
    let telemetry = turnout_api::metrics::Telemetry {
        dns: Some(dns.stats()),
        taps: Some(dns.taps()),
        snapshot: settings.query_counters.then(|| handle.clone()),
        zones_labelled: settings.metrics_zones,
        version: env!("CARGO_PKG_VERSION"),
        commit: env!("TURNOUT_COMMIT"),
    };
    let mut api =
        ApiServer::bind(settings.api).await?.with_access(settings.access).with_telemetry(telemetry);
    let mut controls_api = ApiServer::bind(settings.controls).await?.with_access(settings.access);
    if let Some(t) = &tls.api {
        api = api.with_tls(Arc::clone(t));
    }
    if let Some(t) = &tls.controls {
        controls_api = controls_api.with_tls(Arc::clone(t));
    }
    let route53_api = match settings.route53 {
        Some(addr) => {
            let mut server = ApiServer::bind(addr).await?;
            if let Some(t) = &tls.route53 {
                server = server.with_tls(Arc::clone(t));
            }
            Some(server)
        }
        None => None,
    };
    if settings.access.anonymous_reads {
        warn!(
            "api.anonymous_reads is on: anyone who reaches the APIs reads every zone, check and control"
        );
    }
    let mut tasks = Tasks::new(CancellationToken::new());
    let dns_addrs = dns.local_addrs();
    let name = node_name(&settings, &dns);
    let webhook = match &settings.webhook {
        None => None,
        Some(w) => {
            let secret = webhook_secret(w, &settings.data_dir)?;
            let target =
                WebhookTarget { url: w.url.clone(), secret: secret.into_bytes(), ca: w.ca.clone() };
            let (hook, sender) = Webhook::new(target)
                .map_err(|e| anyhow::anyhow!("config field health.webhook: {e}"))?;
            tasks.spawn("webhook sender", {
                let stop = tasks.token();
                async move {
                    sender.run(stop, WEBHOOK_DRAIN).await;
                    Ok::<(), anyhow::Error>(())
                }
            });
            Some(hook)
        }
    };
    // Checks must not probe the node itself (docs/health-checks.md).
    let mut target_policy = settings.target_policy.clone();
    target_policy.own = dns_addrs.clone();
    target_policy.own.extend(api.local_addr().ok());
    target_policy.own.extend(controls_api.local_addr().ok());
    let control = Control::new(
        store,
        ControlOptions {
            static_zones: zones.iter().map(|z| z.apex().clone()).collect(),
            webhook,
            target_policy,
            // In a cluster each node keeps its own observed statuses; alone, the node is
            // `local` whatever its name (which follows the DNS port by default).
            checker: if settings.store.is_some() { name.clone() } else { String::new() },
        },
    );
    let me = turnout_control::cluster::NodeIdentity {
        name,
        region: settings.region.clone(),
        dns: dns_addrs.iter().map(ToString::to_string).collect(),
        api: api.local_addr().map(|a| a.to_string()).unwrap_or_default(),
        controls: controls_api.local_addr().map(|a| a.to_string()).unwrap_or_default(),
        probe_sources: probe_sources(settings.target_policy.source),
    };
    info!("node {} in region {}", me.name, me.region);
    // Zone transfers, NOTIFY, UPDATE and TSIG-signed queries go to the control plane.
    let dns = dns.with_door(Arc::new(turnout_control::TransferDoor(control.clone())));
    let term = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
    let int = signal(SignalKind::interrupt()).context("cannot watch SIGINT")?;
    let hup = signal(SignalKind::hangup()).context("cannot watch SIGHUP")?;
    let (static_tx, static_rx) = tokio::sync::watch::channel(Arc::new(zones));
    let sync_options = SyncOptions {
        static_zones: static_rx,
        on_retired: Some(crate::memory::return_freed_memory),
        locator,
        // A remote store gets a local replica: restarts resume from it, and it is served
        // while the store is unreachable.
        replica_dir: settings.store.is_some().then(|| settings.data_dir.clone()),
    };
    let retention = turnout_control::Retention {
        changes: settings.change_retention,
        audit: settings.audit_retention,
    };
    let stop = tasks.token();
    let reload =
        Reload { static_zones: static_tx, files: settings.zone_files.clone(), tls: tls.all() };
    tasks.spawn("signals", signals(term, int, hup, reload, stop));
    tasks.spawn("DNS server", {
        let (control, handle, stop) = (control.clone(), handle.clone(), tasks.token());
        async move {
            // Queries wait in the bound sockets while the store's configuration loads, rather
            // than being refused for zones about to be served (docs/production.md, "Upgrades").
            tokio::select! {
                () = stop.cancelled() => return Ok(()),
                loaded = control.first_served(FIRST_LOAD_WAIT) => if !loaded {
                    warn!(
                        "the store's configuration is not served after {}s: answering from the \
                         zone files until it is",
                        FIRST_LOAD_WAIT.as_secs()
                    );
                },
            }
            dns.run(handle, stop).await
        }
    });
    tasks.spawn("configuration API", api.run(control.clone(), tasks.token()));
    // The node must not run without its emergency switch.
    tasks.spawn("routing-control API", controls_api.run_controls(control.clone(), tasks.token()));
    if let Some(server) = route53_api {
        tasks.spawn("Route 53 API", server.run_route53(control.clone(), tasks.token()));
    }
    // The store sync stops after the drills: a drill under way undoes its flip at shutdown, a
    // write that waits for the sync to bring it back (docs/drills.md).
    let sync_stop = CancellationToken::new();
    tasks.spawn("store sync", run_sync(control.clone(), handle, sync_options, sync_stop.clone()));
    tasks.spawn("health engine", {
        let (control, stop) = (control.clone(), tasks.token());
        async move { control.health().run(stop).await }
    });
    // On a stop it revokes this node's registration: the other nodes drop it at once.
    tasks.spawn("node registration", {
        let (control, stop) = (control.clone(), tasks.token());
        ok(turnout_control::cluster::run_node(control, me, stop))
    });
    tasks
        .spawn("change and audit GC", ok(run_change_gc(control.clone(), retention, tasks.token())));
    if settings.shield.cookies {
        let every = settings.cookie_rotation;
        let (control, stop) = (control.clone(), tasks.token());
        tasks.spawn("DNS cookie secret", ok(run_cookie_secrets(control, shield, every, stop)));
    }
    tasks.spawn("NOTIFY sender", ok(turnout_control::run_notify(control.clone(), tasks.token())));
    tasks.spawn(
        "secondary zones",
        ok(turnout_control::run_secondaries(control.clone(), tasks.token())),
    );
    tasks.spawn(
        "current-answers views",
        ok(turnout_control::run_views(control.clone(), tasks.token())),
    );
    tasks.spawn("drills", {
        let (control, stop, sync_stop) = (control.clone(), tasks.token(), sync_stop.drop_guard());
        ok(async move {
            turnout_control::run_drills(control, stop).await;
            drop(sync_stop);
        })
    });
    tasks.spawn("routing-control expiry", ok(run_control_expiry(control, tasks.token())));
    // Every socket is bound and every task runs: tell systemd (Type=notify), and keep its
    // watchdog fed while the task tree lives.
    systemd::ready();
    if let Some(every) = systemd::watchdog_interval() {
        tasks.spawn("systemd watchdog", ok(systemd::feed_watchdog(every, tasks.token())));
    }
    tasks.supervise(GRACE).await
}

/// The service manager's side of `Type=notify` (sd_notify(3)); nothing without systemd.
mod systemd {
    use std::time::Duration;

    use tokio_util::sync::CancellationToken;
    use tracing::debug;

    fn notify(state: &[sd_notify::NotifyState<'_>]) {
        if let Err(e) = sd_notify::notify(false, state) {
            debug!("cannot notify systemd: {e}");
        }
    }

    /// Serving.
    pub(super) fn ready() {
        notify(&[sd_notify::NotifyState::Ready]);
    }

    /// Draining.
    pub(super) fn stopping() {
        notify(&[sd_notify::NotifyState::Stopping]);
    }

    /// Half the unit's WatchdogSec, when it sets one for this process.
    pub(super) fn watchdog_interval() -> Option<Duration> {
        let mut usec = 0;
        sd_notify::watchdog_enabled(false, &mut usec).then(|| Duration::from_micros(usec / 2))
    }

    /// Pings the watchdog every `every` until `stop`: a node whose runtime hangs stops
    /// pinging, and systemd restarts it.
    pub(super) async fn feed_watchdog(every: Duration, stop: CancellationToken) {
        let mut tick = tokio::time::interval(every.max(Duration::from_millis(100)));
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = tick.tick() => notify(&[sd_notify::NotifyState::Watchdog]),
            }
        }
    }
}

/// How long a stopping node waits for its tasks to drain (in-flight DNS and API requests,
/// queued webhooks, the registration's revocation) before it abandons them.
const GRACE: std::time::Duration = std::time::Duration::from_secs(10);
/// Of that, how long queued webhooks may take to be delivered.
const WEBHOOK_DRAIN: std::time::Duration = std::time::Duration::from_secs(5);

/// A task that cannot fail (its ending early is what the tree reports).
async fn ok(task: impl std::future::Future<Output = ()>) -> Result<(), std::convert::Infallible> {
    task.await;
    Ok(())
}

/// How long the DNS server waits for the store's configuration before it answers anyway.
const FIRST_LOAD_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// What SIGHUP reloads.
struct Reload {
    static_zones: tokio::sync::watch::Sender<Arc<Vec<Zone>>>,
    files: Vec<PathBuf>,
    tls: Vec<Arc<ServerTls>>,
}

/// Stops the node on SIGTERM or SIGINT (cancelling the root); reloads the zone files and the
/// API certificates on SIGHUP.
async fn signals(
    mut term: tokio::signal::unix::Signal,
    mut int: tokio::signal::unix::Signal,
    mut hup: tokio::signal::unix::Signal,
    reload: Reload,
    stop: CancellationToken,
) -> Result<(), std::convert::Infallible> {
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = term.recv() => { info!("SIGTERM received"); break; }
            _ = int.recv() => { info!("SIGINT received"); break; }
            _ = hup.recv() => {
                reload_zones(&reload.static_zones, &reload.files).await;
                reload_tls(&reload.tls);
            }
        }
    }
    systemd::stopping();
    stop.cancel();
    Ok(())
}

/// Reads every API certificate and key again: new connections get them, open ones keep theirs;
/// a file that fails leaves its listener on the certificate it had.
fn reload_tls(listeners: &[Arc<ServerTls>]) {
    for tls in listeners {
        let cert = tls.files().cert.display();
        match tls.reload() {
            Ok(()) => info!("reloaded the API certificate {cert}"),
            Err(e) => warn!("API certificate not reloaded, still serving the previous one: {e}"),
        }
    }
}

async fn reload_zones(
    static_zones: &tokio::sync::watch::Sender<Arc<Vec<Zone>>>,
    files: &[PathBuf],
) {
    info!("SIGHUP received: reloading {} zone file(s)", files.len());
    let files = files.to_vec();
    match tokio::task::spawn_blocking(move || load_zones(&files)).await {
        Ok(Ok(zones)) => {
            let what = describe(&zones);
            static_zones.send_replace(Arc::new(zones));
            info!("reloaded; {what}");
        }
        Ok(Err(errors)) => {
            for e in &errors {
                warn!("{e}");
            }
            warn!("reload rejected: {} error(s); still serving the previous zones", errors.len());
        }
        Err(e) => warn!("reload failed: {e}; still serving the previous zones"),
    }
}

/// This node's name: the configured one, else unique per host and DNS port, so that nodes
/// sharing a host differ.
fn node_name(settings: &Settings, dns: &DnsServer) -> String {
    settings.node_name.clone().unwrap_or_else(|| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_else(|_| "node".to_owned());
        format!("{host}-{}", dns.local_addrs().first().map_or(0, std::net::SocketAddr::port))
    })
}

/// The addresses this node's health probes come from: the configured source address, or the
/// ones the system picks towards the IPv4 and IPv6 default routes (a UDP socket connected to
/// a documentation address, RFC 5737 and RFC 3849, which sends nothing, shows them).
fn probe_sources(configured: Option<std::net::IpAddr>) -> Vec<String> {
    if let Some(ip) = configured {
        return vec![ip.to_string()];
    }
    let towards = ["192.0.2.1:9", "[2001:db8::1]:9"];
    let mut out = Vec::new();
    for target in towards {
        let local = if target.starts_with('[') { "[::]:0" } else { "0.0.0.0:0" };
        let source = std::net::UdpSocket::bind(local)
            .and_then(|s| s.connect(target).and_then(|()| s.local_addr()));
        if let Ok(addr) = source
            && !addr.ip().is_unspecified()
        {
            out.push(addr.ip().to_string());
        }
    }
    out
}
