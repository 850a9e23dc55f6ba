//! The daemon's startup settings: defaults < config file (strict TOML) < environment < flags.
//!
//! This is only how the process starts (addresses, workers, timeouts, the data directory,
//! static zone files); the zones and records an operator edits at run time live in the store
//! and change through the API.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use turnout_api::Access;
use turnout_api::tls::TlsFiles;
use turnout_dns::server::DnsConfig;
use turnout_dns::{RateLimit, ShieldConfig};

use crate::cli::ServeArgs;

/// A configuration that cannot be used; the message names the field.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {err}", path = .0.display(), err = .1)]
    Read(PathBuf, std::io::Error),
    /// The file is not valid TOML for this format (the message names the key and line).
    #[error("config file {path}: {err}", path = .0.display(), err = .1)]
    Parse(PathBuf, String),
    /// A field has a value that cannot work.
    #[error("config field {0}: {1}")]
    Invalid(&'static str, String),
}

/// The file format (version 1).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    /// Format version; 1 if absent.
    version: Option<u32>,
    #[serde(default)]
    dns: DnsSection,
    #[serde(default)]
    api: ApiSection,
    #[serde(default)]
    control: ControlSection,
    #[serde(default)]
    health: HealthSection,
    #[serde(default)]
    routing: RoutingSection,
    /// The embedded store's directory, relative to the config file.
    data_dir: Option<PathBuf>,
    /// An etcd cluster to share state through (`etcd://h1:2379,...`).
    store: Option<String>,
    /// This node's name in the cluster.
    node_name: Option<String>,
    /// This node's region.
    region: Option<String>,
    /// Static zone files, relative to the config file.
    #[serde(default)]
    zone_files: Vec<PathBuf>,
    #[serde(default)]
    log: LogSection,
    /// TLS and authentication to etcd.
    etcd: Option<EtcdSection>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct EtcdSection {
    /// The CA etcd's certificates are checked against.
    ca: Option<PathBuf>,
    /// The client certificate and key etcd's --client-cert-auth asks for.
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    /// An etcd user, and the file holding its password.
    user: Option<String>,
    password_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DnsSection {
    listen: Option<Vec<SocketAddr>>,
    udp_workers: Option<usize>,
    tcp_idle_timeout: Option<String>,
    tcp_max_connections: Option<usize>,
    drain_grace: Option<String>,
    /// NSID, id.server and hostname.bind.
    identity: Option<String>,
    /// Server cookies (on by default).
    cookies: Option<bool>,
    /// How often the shared cookie secret is rotated.
    cookie_rotation: Option<String>,
    /// Response-rate limiting (on when the table is present).
    rate_limit: Option<RateLimitSection>,
    /// Count queries for /metrics (on by default).
    query_counters: Option<bool>,
    /// How many zones get their own `zone` label in /metrics (the others: `other`).
    metrics_zones: Option<usize>,
    /// dnstap output (off without the table).
    dnstap: Option<TapSection>,
    /// JSON-lines query log (off without the table).
    query_log: Option<TapSection>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TapSection {
    socket: Option<PathBuf>,
    file: Option<PathBuf>,
    sample: Option<f64>,
    queue: Option<usize>,
}

/// One of `[dns.dnstap]` and `[dns.query_log]`, paths relative to the config file.
fn tap(
    field: &'static str,
    format: turnout_dns::tap::Format,
    t: TapSection,
    base: &Path,
) -> Result<turnout_dns::tap::TapConfig, ConfigError> {
    use turnout_dns::tap::Sink;
    let sink = match (t.socket, t.file) {
        (Some(s), None) => Sink::Socket(base.join(s)),
        (None, Some(f)) => Sink::File(base.join(f)),
        _ => {
            return Err(ConfigError::Invalid(field, "give one of socket and file".to_owned()));
        }
    };
    if format == turnout_dns::tap::Format::QueryLog && matches!(sink, Sink::Socket(_)) {
        return Err(ConfigError::Invalid(
            field,
            "the query log goes to a file (a socket is for dnstap)".to_owned(),
        ));
    }
    let sample = t.sample.unwrap_or(1.0);
    if !(0.0..=1.0).contains(&sample) {
        let which =
            if field == "dns.dnstap" { "dns.dnstap.sample" } else { "dns.query_log.sample" };
        return Err(ConfigError::Invalid(which, format!("{sample} is not between 0 and 1")));
    }
    let queue = t.queue.unwrap_or(10_000);
    if !(1..=1_000_000).contains(&queue) {
        let which = if field == "dns.dnstap" { "dns.dnstap.queue" } else { "dns.query_log.queue" };
        return Err(ConfigError::Invalid(which, format!("{queue} is not between 1 and 1000000")));
    }
    Ok(turnout_dns::tap::TapConfig {
        format,
        sink,
        sample,
        queue,
        identity: String::new(),
        version: format!("turnout {}", env!("CARGO_PKG_VERSION")),
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RateLimitSection {
    rate: Option<u32>,
    slip: Option<u32>,
    ipv4_prefix: Option<u8>,
    ipv6_prefix: Option<u8>,
    #[serde(default)]
    exempt: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ApiSection {
    listen: Option<SocketAddr>,
    /// The routing-control API's listener.
    controls_listen: Option<SocketAddr>,
    /// The Route 53 API's listener (none: off).
    route53_listen: Option<SocketAddr>,
    /// Reads need no token.
    anonymous_reads: Option<bool>,
    /// Plain HTTP on a non-loopback address is allowed.
    allow_plaintext: Option<bool>,
    /// HTTPS for the configuration API.
    tls: Option<TlsSection>,
    /// HTTPS for the routing-control API.
    controls_tls: Option<TlsSection>,
    /// HTTPS for the Route 53 API.
    route53_tls: Option<TlsSection>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsSection {
    cert: PathBuf,
    key: PathBuf,
    client_ca: Option<PathBuf>,
}

impl TlsSection {
    /// The files, relative to the config file's directory.
    fn files(self, base: &Path) -> TlsFiles {
        TlsFiles {
            cert: base.join(self.cert),
            key: base.join(self.key),
            client_ca: self.client_ca.map(|c| base.join(c)),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct HealthSection {
    webhook: Option<String>,
    /// The file holding the webhook signing secret (default: generated in the data directory).
    webhook_secret_file: Option<PathBuf>,
    /// The CA file an https:// webhook is verified against (default: the system's).
    webhook_ca: Option<PathBuf>,
    #[serde(default)]
    allowed_networks: Vec<String>,
    #[serde(default)]
    denied_networks: Vec<String>,
    /// The local address probes are sent from.
    source_address: Option<std::net::IpAddr>,
    /// Checks may probe this node's own DNS and API listeners.
    allow_own_listeners: Option<bool>,
    /// Probes per second one target gets at most, whatever checks ask.
    max_probes_per_target: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RoutingSection {
    /// A MaxMind-format database (GeoIP2/GeoLite2 Country or City), relative to the config file.
    geo_database: Option<PathBuf>,
    /// A latency map (JSON), relative to the config file.
    latency_map: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ControlSection {
    change_retention: Option<String>,
    audit_retention: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LogSection {
    level: Option<String>,
    format: Option<String>,
}

/// Everything `serve` needs, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// The DNS listeners.
    pub dns: DnsConfig,
    /// Cookies, rate limits and identity of the DNS server.
    pub shield: ShieldConfig,
    /// How often the cluster's DNS cookie secret is rotated.
    pub cookie_rotation: Duration,
    /// Whether the DNS server counts queries for /metrics.
    pub query_counters: bool,
    /// How many zones get their own label in /metrics.
    pub metrics_zones: usize,
    /// dnstap and the query log (their identity filled in at start).
    pub taps: Vec<turnout_dns::tap::TapConfig>,
    /// The HTTP API listener.
    pub api: SocketAddr,
    /// The routing-control API listener.
    pub controls: SocketAddr,
    /// The Route 53 API listener (none: off; docs/route53-api.md).
    pub route53: Option<SocketAddr>,
    /// HTTPS for the configuration API.
    pub api_tls: Option<TlsFiles>,
    /// HTTPS for the routing-control API.
    pub controls_tls: Option<TlsFiles>,
    /// HTTPS for the Route 53 API.
    pub route53_tls: Option<TlsFiles>,
    /// Who may read the APIs without a token.
    pub access: Access,
    /// Whether an API may serve plain HTTP on a non-loopback address.
    pub allow_plaintext: bool,
    /// The data directory (embedded store, admin token).
    pub data_dir: PathBuf,
    /// An etcd cluster instead of the embedded store.
    pub store: Option<String>,
    /// TLS and authentication to etcd.
    pub etcd: turnout_store::EtcdSecurity,
    /// This node's name (None: host name and DNS port).
    pub node_name: Option<String>,
    /// This node's region.
    pub region: String,
    /// How long change records are kept.
    pub change_retention: Duration,
    /// How long routing-control audit records are kept.
    pub audit_retention: Duration,
    /// Where to POST health-check status changes, and how.
    pub webhook: Option<WebhookSettings>,
    /// The networks health checks may probe.
    pub target_policy: turnout_model::health::TargetPolicy,
    /// Static zone files to serve.
    pub zone_files: Vec<PathBuf>,
    /// The geolocation database for geolocation routing.
    pub geo_database: Option<PathBuf>,
    /// The latency map for latency routing (and region coordinates for geoproximity).
    pub latency_map: Option<PathBuf>,
    /// The log filter (`RUST_LOG` syntax), unless `RUST_LOG` is set.
    pub log_level: String,
    /// Text or JSON log lines.
    pub log_format: crate::logging::Format,
}

/// A duration as the config file writes it: `90s`, `10m`, `2160h`, `500ms`.
fn written(d: Duration) -> String {
    let s = d.as_secs();
    match () {
        () if d.subsec_millis() != 0 || s == 0 => format!("{}ms", d.as_millis()),
        () if s.is_multiple_of(3600) => format!("{}h", s / 3600),
        () if s.is_multiple_of(60) => format!("{}m", s / 60),
        () => format!("{s}s"),
    }
}

impl Settings {
    /// Every setting that shapes what the node does, in one line, for the log at start.
    pub fn describe(&self) -> String {
        let on = |b: bool| if b { "on" } else { "off" };
        let list =
            |v: &[SocketAddr]| v.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
        let tls = |t: &Option<TlsFiles>| match t {
            Some(t) if t.client_ca.is_some() => "https with client certificates",
            Some(_) => "https",
            None => "http",
        };
        let store = match &self.store {
            Some(url) => format!(
                "etcd {url} (tls {}, user {})",
                on(self.etcd.ca.is_some() || self.etcd.identity.is_some()),
                self.etcd.user.as_ref().map_or("none", |(u, _)| u.as_str())
            ),
            None => format!("embedded in {}", self.data_dir.display()),
        };
        let taps = if self.taps.is_empty() {
            "no dnstap or query log".to_owned()
        } else {
            let each: Vec<String> = self
                .taps
                .iter()
                .map(|t| format!("{} to {} (sample {})", t.format.name(), t.sink, t.sample))
                .collect();
            each.join(", ")
        };
        let rrl = match &self.shield.rate_limit {
            Some(r) => format!(
                "{}/s per /{} and /{}, slip {}, {} exempt network(s)",
                r.rate,
                r.ipv4_prefix,
                r.ipv6_prefix,
                r.slip,
                r.exempt.len()
            ),
            None => "off".to_owned(),
        };
        format!(
            "settings: store {store}; data directory {}; node {} in region {}; \
             DNS on {} ({} UDP worker(s) per address, at most {} TCP connections idle {}, \
             drain {}); cookies {} (rotated every {}); rate limit {rrl}; identity {}; \
             query counters {}, {} zone label(s); {}; API on {} ({}), routing controls on {} ({}), \
             Route 53 API {}; \
             reads {}; {} zone file(s); health checks probe from {} (allow {}, deny {}); \
             webhook {}; change records kept {}, audit records {}; log {} as {}",
            self.data_dir.display(),
            self.node_name.as_deref().unwrap_or("(host name and DNS port)"),
            self.region,
            list(&self.dns.listen),
            self.dns.udp_workers,
            self.dns.tcp_max_connections,
            written(self.dns.tcp_idle_timeout),
            written(self.dns.drain_grace),
            on(self.shield.cookies),
            written(self.cookie_rotation),
            self.shield.identity.as_deref().unwrap_or("not told"),
            on(self.query_counters),
            self.metrics_zones,
            taps,
            self.api,
            tls(&self.api_tls),
            self.controls,
            tls(&self.controls_tls),
            self.route53
                .map_or("off".to_owned(), |a| format!("on {a} ({})", tls(&self.route53_tls))),
            if self.access.anonymous_reads { "open to anyone" } else { "need a token" },
            self.zone_files.len(),
            self.target_policy.source.map_or("the system's choice".to_owned(), |a| a.to_string()),
            self.target_policy.allow.len(),
            self.target_policy.deny.len(),
            self.webhook.as_ref().map_or("none", |w| w.url.as_str()),
            written(self.change_retention),
            written(self.audit_retention),
            self.log_level,
            self.log_format,
        )
    }
}

/// The webhook's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookSettings {
    /// An http:// or https:// URL.
    pub url: String,
    /// The signing secret's file (None: `<data_dir>/webhook.secret`, made at first start).
    pub secret_file: Option<PathBuf>,
    /// The CA an https:// receiver is verified against (None: the system's trust store).
    pub ca: Option<PathBuf>,
}

/// The `[etcd]` section, its files relative to the config file; the password is read now.
fn etcd_security(e: EtcdSection, base: &Path) -> Result<turnout_store::EtcdSecurity, ConfigError> {
    let identity = match (e.cert, e.key) {
        (Some(c), Some(k)) => Some((base.join(c), base.join(k))),
        (None, None) => None,
        _ => {
            return Err(ConfigError::Invalid("etcd", "cert and key go together".to_owned()));
        }
    };
    let user = match (e.user, e.password_file) {
        (Some(u), Some(p)) => {
            let path = base.join(p);
            let password = std::fs::read_to_string(&path).map_err(|err| {
                ConfigError::Invalid("etcd.password_file", format!("{}: {err}", path.display()))
            })?;
            let password = password.lines().next().unwrap_or("").trim().to_owned();
            if password.is_empty() {
                return Err(ConfigError::Invalid(
                    "etcd.password_file",
                    format!("{}: the file is empty", path.display()),
                ));
            }
            Some((u, password))
        }
        (None, None) => None,
        _ => {
            return Err(ConfigError::Invalid(
                "etcd",
                "user and password_file go together".to_owned(),
            ));
        }
    };
    Ok(turnout_store::EtcdSecurity { ca: e.ca.map(|c| base.join(c)), identity, user })
}

/// Parses `10s`, `500ms`, `2m`, `1h`.
pub fn parse_duration(field: &'static str, text: &str) -> Result<Duration, ConfigError> {
    let bad =
        || ConfigError::Invalid(field, format!("{text:?} is not a duration (like 500ms, 10s, 2m)"));
    let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (num, unit) = text.split_at(split);
    let n: u64 = num.parse().map_err(|_| bad())?;
    Ok(match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.saturating_mul(60)),
        "h" => Duration::from_secs(n.saturating_mul(3600)),
        _ => return Err(bad()),
    })
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read(path.to_owned(), e))?;
    let file: FileConfig =
        toml::from_str(&text).map_err(|e| ConfigError::Parse(path.to_owned(), e.to_string()))?;
    if let Some(v) = file.version
        && v != 1
    {
        return Err(ConfigError::Invalid(
            "version",
            format!("{v} is not a known format version (this Turnout reads 1)"),
        ));
    }
    Ok(file)
}

/// Resolves defaults, the config file and the flags (clap has already applied the environment).
pub fn resolve(args: &ServeArgs) -> Result<Settings, ConfigError> {
    let mut s = Settings {
        dns: DnsConfig::default(),
        shield: ShieldConfig { cookies: true, ..ShieldConfig::default() },
        cookie_rotation: Duration::from_secs(24 * 3600),
        query_counters: true,
        metrics_zones: 100,
        taps: Vec::new(),
        api: SocketAddr::from(([127, 0, 0, 1], 8053)),
        controls: SocketAddr::from(([127, 0, 0, 1], 8054)),
        api_tls: None,
        controls_tls: None,
        route53: None,
        route53_tls: None,
        access: Access::default(),
        allow_plaintext: false,
        data_dir: PathBuf::from("turnout-data"),
        store: None,
        etcd: turnout_store::EtcdSecurity::default(),
        node_name: None,
        region: "default".to_owned(),
        change_retention: Duration::from_secs(7 * 24 * 3600),
        audit_retention: Duration::from_secs(90 * 24 * 3600),
        webhook: None,
        target_policy: turnout_model::health::TargetPolicy::default(),
        zone_files: Vec::new(),
        geo_database: None,
        latency_map: None,
        log_level: "info".to_owned(),
        log_format: crate::logging::Format::Text,
    };
    if let Some(path) = &args.config {
        let f = read_file(path)?;
        let base = path.parent().unwrap_or(Path::new("."));
        if let Some(l) = f.dns.listen {
            s.dns.listen = l;
        }
        if let Some(n) = f.dns.udp_workers {
            s.dns.udp_workers = n;
        }
        if let Some(t) = f.dns.tcp_idle_timeout {
            s.dns.tcp_idle_timeout = parse_duration("dns.tcp_idle_timeout", &t)?;
        }
        if let Some(n) = f.dns.tcp_max_connections {
            s.dns.tcp_max_connections = n;
        }
        if let Some(t) = f.dns.drain_grace {
            s.dns.drain_grace = parse_duration("dns.drain_grace", &t)?;
        }
        s.shield.identity = f.dns.identity;
        s.query_counters = f.dns.query_counters.unwrap_or(true);
        if let Some(n) = f.dns.metrics_zones {
            s.metrics_zones = n;
        }
        if let Some(t) = f.dns.dnstap {
            s.taps.push(tap("dns.dnstap", turnout_dns::tap::Format::Dnstap, t, base)?);
        }
        if let Some(t) = f.dns.query_log {
            s.taps.push(tap("dns.query_log", turnout_dns::tap::Format::QueryLog, t, base)?);
        }
        s.shield.cookies = f.dns.cookies.unwrap_or(true);
        if let Some(t) = f.dns.cookie_rotation {
            s.cookie_rotation = parse_duration("dns.cookie_rotation", &t)?;
        }
        if let Some(r) = f.dns.rate_limit {
            let d = RateLimit::default();
            let exempt = r
                .exempt
                .iter()
                .map(|n| {
                    n.parse::<ipnet::IpNet>()
                        .or_else(|_| n.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                        .map_err(|_| {
                            ConfigError::Invalid(
                                "dns.rate_limit.exempt",
                                format!("{n:?} is not a network like 10.0.0.0/8"),
                            )
                        })
                })
                .collect::<Result<_, _>>()?;
            s.shield.rate_limit = Some(RateLimit {
                rate: r.rate.unwrap_or(d.rate),
                slip: r.slip.unwrap_or(d.slip),
                ipv4_prefix: r.ipv4_prefix.unwrap_or(d.ipv4_prefix),
                ipv6_prefix: r.ipv6_prefix.unwrap_or(d.ipv6_prefix),
                exempt,
            });
        }
        s.zone_files = f.zone_files.iter().map(|z| base.join(z)).collect();
        if let Some(a) = f.api.listen {
            s.api = a;
        }
        if let Some(a) = f.api.controls_listen {
            s.controls = a;
        }
        if let Some(a) = f.api.route53_listen {
            s.route53 = Some(a);
        }
        s.access.anonymous_reads = f.api.anonymous_reads.unwrap_or(false);
        s.allow_plaintext = f.api.allow_plaintext.unwrap_or(false);
        s.api_tls = f.api.tls.map(|t| t.files(base));
        s.controls_tls = f.api.controls_tls.map(|t| t.files(base));
        s.route53_tls = f.api.route53_tls.map(|t| t.files(base));
        if let Some(d) = f.data_dir {
            s.data_dir = base.join(d);
        }
        if let Some(url) = f.store {
            s.store = Some(url);
        }
        if let Some(n) = f.node_name {
            s.node_name = Some(n);
        }
        if let Some(r) = f.region {
            s.region = r;
        }
        if let Some(url) = f.health.webhook {
            let rest = url.strip_prefix("http://").or_else(|| url.strip_prefix("https://"));
            if rest.is_none_or(str::is_empty) {
                return Err(ConfigError::Invalid(
                    "health.webhook",
                    format!("{url:?} is not an http:// or https:// URL"),
                ));
            }
            s.webhook = Some(WebhookSettings {
                url,
                secret_file: f.health.webhook_secret_file.map(|p| base.join(p)),
                ca: f.health.webhook_ca.map(|p| base.join(p)),
            });
        } else if f.health.webhook_secret_file.is_some() || f.health.webhook_ca.is_some() {
            return Err(ConfigError::Invalid(
                "health.webhook",
                "webhook_secret_file and webhook_ca need a webhook URL".to_owned(),
            ));
        }
        s.target_policy = turnout_model::health::TargetPolicy::parse(
            &f.health.allowed_networks,
            &f.health.denied_networks,
        )
        .map_err(|e| ConfigError::Invalid("health", e))?;
        s.target_policy.source = f.health.source_address;
        s.target_policy.allow_own = f.health.allow_own_listeners.unwrap_or(false);
        if let Some(n) = f.health.max_probes_per_target {
            if !(1..=10_000).contains(&n) {
                return Err(ConfigError::Invalid(
                    "health.max_probes_per_target",
                    format!("{n} is outside 1-10000 probes per second"),
                ));
            }
            s.target_policy.max_probes_per_target = n;
        }
        s.geo_database = f.routing.geo_database.map(|p| base.join(p));
        s.latency_map = f.routing.latency_map.map(|p| base.join(p));
        if let Some(t) = f.control.change_retention {
            s.change_retention = parse_duration("control.change_retention", &t)?;
        }
        if let Some(t) = f.control.audit_retention {
            s.audit_retention = parse_duration("control.audit_retention", &t)?;
        }
        if let Some(l) = f.log.level {
            s.log_level = l;
        }
        if let Some(l) = f.log.format {
            s.log_format = match l.as_str() {
                "text" => crate::logging::Format::Text,
                "json" => crate::logging::Format::Json,
                _ => {
                    return Err(ConfigError::Invalid(
                        "log.format",
                        format!("{l:?} is not one of text, json"),
                    ));
                }
            };
        }
        if let Some(e) = f.etcd {
            s.etcd = etcd_security(e, base)?;
        }
    }
    if !args.dns.is_empty() {
        s.dns.listen.clone_from(&args.dns);
    }
    if let Some(f) = args.log_format {
        s.log_format = f;
    }
    if !args.zone_files.is_empty() {
        s.zone_files.clone_from(&args.zone_files);
    }
    if let Some(n) = args.udp_workers {
        s.dns.udp_workers = n;
    }
    if let Some(a) = args.api {
        s.api = a;
    }
    if let Some(a) = args.controls {
        s.controls = a;
    }
    if let Some(a) = args.route53 {
        s.route53 = Some(a);
    }
    if let Some(url) = &args.store {
        s.store = Some(url.clone());
    }
    if let Some(n) = &args.node_name {
        s.node_name = Some(n.clone());
    }
    if let Some(r) = &args.region {
        s.region = r.clone();
    }
    if let Some(ip) = args.probe_source {
        s.target_policy.source = Some(ip);
    }
    for (field, value) in
        [("node_name", s.node_name.as_deref()), ("region", Some(s.region.as_str()))]
    {
        if let Some(v) = value
            && let Some(e) = turnout_model::controls::name_error(v, field)
        {
            return Err(ConfigError::Invalid(
                if field == "region" { "region" } else { "node_name" },
                e.message,
            ));
        }
    }
    if let Some(ip) = s.target_policy.source
        && let Err(e) = std::net::UdpSocket::bind((ip, 0))
    {
        return Err(ConfigError::Invalid(
            "health.source_address",
            format!("{ip} is not an address of this host ({e})"),
        ));
    }
    if let Some(url) = &s.store {
        turnout_store::parse_endpoints(url, s.etcd.tls())
            .map_err(|e| ConfigError::Invalid("store", e))?;
    } else if s.etcd != turnout_store::EtcdSecurity::default() {
        return Err(ConfigError::Invalid(
            "etcd",
            "TLS or a user for etcd, but no etcd store (store = \"etcd://...\")".to_owned(),
        ));
    }
    if let Some(d) = &args.data_dir {
        s.data_dir.clone_from(d);
    }
    validate(&s)?;
    Ok(s)
}

fn validate(s: &Settings) -> Result<(), ConfigError> {
    // The DNS server checks its own settings; the same check, before anything starts.
    turnout_dns::Shield::new(
        &s.shield,
        turnout_dns::CookieSecrets { current: [0; 16], previous: None },
    )
    .map_err(|e| ConfigError::Invalid(e.field, e.message))?;
    if s.cookie_rotation < Duration::from_secs(3600) {
        return Err(ConfigError::Invalid(
            "dns.cookie_rotation",
            "must be at least 1h (a cookie is good for an hour)".to_owned(),
        ));
    }
    let mut listeners = vec![
        ("api.listen", s.api, s.api_tls.is_some(), "api.tls"),
        ("api.controls_listen", s.controls, s.controls_tls.is_some(), "api.controls_tls"),
    ];
    if let Some(addr) = s.route53 {
        listeners.push(("api.route53_listen", addr, s.route53_tls.is_some(), "api.route53_tls"));
    }
    for (field, addr, tls, tls_field) in listeners {
        if !tls && !s.allow_plaintext && !addr.ip().is_loopback() {
            return Err(ConfigError::Invalid(
                field,
                format!(
                    "{addr} is not a loopback address, and plain HTTP there would send tokens \
                     in clear: give {tls_field} (cert and key), or set api.allow_plaintext = \
                     true if a TLS proxy on this host is the only way in"
                ),
            ));
        }
    }
    if s.dns.listen.is_empty() {
        return Err(ConfigError::Invalid(
            "dns.listen",
            "at least one address is needed".to_owned(),
        ));
    }
    if !(1..=1024).contains(&s.dns.udp_workers) {
        return Err(ConfigError::Invalid(
            "dns.udp_workers",
            format!("{} is not between 1 and 1024", s.dns.udp_workers),
        ));
    }
    if s.dns.tcp_max_connections == 0 {
        return Err(ConfigError::Invalid(
            "dns.tcp_max_connections",
            "must be at least 1".to_owned(),
        ));
    }
    if s.dns.tcp_idle_timeout.is_zero() {
        return Err(ConfigError::Invalid(
            "dns.tcp_idle_timeout",
            "must be longer than 0".to_owned(),
        ));
    }
    if !matches!(s.log_level.as_str(), "error" | "warn" | "info" | "debug" | "trace") {
        return Err(ConfigError::Invalid(
            "log.level",
            format!("{:?} is not one of error, warn, info, debug, trace", s.log_level),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(config: Option<&Path>) -> ServeArgs {
        ServeArgs {
            dns: vec![],
            zone_files: vec![],
            config: config.map(Path::to_owned),
            api: None,
            controls: None,
            route53: None,
            data_dir: None,
            store: None,
            node_name: None,
            region: None,
            probe_source: None,
            udp_workers: None,
            check_config: false,
            log_format: None,
        }
    }

    fn write(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("turnout.toml");
        std::fs::write(&p, text).expect("write");
        (dir, p)
    }

    #[test]
    fn file_then_flags() {
        let (dir, p) = write(
            "version = 1\nzone_files = [\"a.zone\"]\ndata_dir = \"data\"\n[api]\nlisten = \"127.0.0.1:9053\"\n[dns]\nlisten = [\"127.0.0.1:5353\"]\nudp_workers = 3\ntcp_idle_timeout = \"2s\"\n[log]\nlevel = \"debug\"\n",
        );
        let s = resolve(&args(Some(&p))).expect("valid");
        assert_eq!(s.dns.listen, ["127.0.0.1:5353".parse::<SocketAddr>().expect("addr")]);
        assert_eq!((s.dns.udp_workers, s.dns.tcp_idle_timeout), (3, Duration::from_secs(2)));
        assert_eq!(s.zone_files, [dir.path().join("a.zone")]);
        assert_eq!(s.log_level, "debug");
        assert_eq!((s.api.port(), s.data_dir.clone()), (9053, dir.path().join("data")));
        let mut a = args(Some(&p));
        a.dns = vec!["127.0.0.1:0".parse().expect("addr")];
        a.udp_workers = Some(1);
        let s = resolve(&a).expect("valid");
        assert_eq!((s.dns.listen[0].port(), s.dns.udp_workers), (0, 1), "flags win");
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            ("[dns]\nlisten = [\"nope\"]\n", "listen"),
            ("[dns]\nudp_workers = 0\n", "dns.udp_workers"),
            ("[dns]\ntcp_idle_timeout = \"10 years\"\n", "dns.tcp_idle_timeout"),
            ("[dns]\nbogus = 1\n", "bogus"),
            ("version = 2\n", "version"),
            ("[log]\nlevel = \"loud\"\n", "log.level"),
            ("[api]\nlisten = \"localhost\"\n", "listen"),
            ("[control]\nchange_retention = \"a week\"\n", "control.change_retention"),
            ("[control]\naudit_retention = \"-1h\"\n", "control.audit_retention"),
            ("[health]\nwebhook = \"ftp://x\"\n", "health.webhook"),
            ("[health]\nwebhook = \"https://\"\n", "health.webhook"),
            ("[health]\nwebhook_ca = \"ca.pem\"\n", "health.webhook"),
            ("[health]\ndenied_networks = [\"10/8\"]\n", "denied_networks"),
            ("[api]\nlisten = \"0.0.0.0:8053\"\n", "api.listen"),
            ("[api]\ncontrols_listen = \"[::]:8054\"\n", "api.controls_listen"),
            ("[api.tls]\ncert = \"c.pem\"\n", "key"),
            ("[api]\nanonymous_reads = \"yes\"\n", "anonymous_reads"),
            ("[dns]\nidentity = \"\"\n", "dns.identity"),
            ("[dns]\ncookie_rotation = \"10m\"\n", "dns.cookie_rotation"),
            ("[dns.rate_limit]\nrate = 0\n", "dns.rate_limit.rate"),
            ("[dns.rate_limit]\nipv4_prefix = 33\n", "dns.rate_limit"),
            ("[dns.rate_limit]\nexempt = [\"10/8\"]\n", "dns.rate_limit.exempt"),
            ("[dns.rate_limit]\nburst = 5\n", "burst"),
            ("[etcd]\nca = \"ca.pem\"\n", "no etcd store"),
            ("store = \"etcd://h:2379\"\n[etcd]\ncert = \"c.pem\"\n", "cert and key"),
            (
                "store = \"etcd://h:2379\"\n[etcd]\nuser = \"t\"\npassword_file = \"nope\"\n",
                "etcd.password_file",
            ),
            ("store = \"etcd://https://h:2379\"\n", "etcd.ca"),
        ];
        for (text, field) in cases {
            let (_dir, p) = write(text);
            let e = resolve(&args(Some(&p))).expect_err(text).to_string();
            assert!(e.contains(field), "{text:?}: {e}");
        }
        let e = resolve(&args(Some(Path::new("/nonexistent/turnout.toml"))))
            .expect_err("missing")
            .to_string();
        assert!(e.contains("cannot read config file /nonexistent/turnout.toml"), "{e}");
    }

    #[test]
    fn plaintext_off_loopback_needs_tls_or_the_opt_out() {
        let (dir, p) = write(
            "[api]\nlisten = \"0.0.0.0:8053\"\ncontrols_listen = \"127.0.0.1:8054\"\n[api.tls]\ncert = \"api.crt\"\nkey = \"api.key\"\nclient_ca = \"ca.pem\"\n",
        );
        let s = resolve(&args(Some(&p))).expect("TLS on the open address");
        let tls = s.api_tls.expect("tls");
        assert_eq!(tls.cert, dir.path().join("api.crt"), "relative to the config file");
        assert_eq!(tls.client_ca, Some(dir.path().join("ca.pem")));
        assert!(!s.access.anonymous_reads, "reads need a token by default");
        let (_dir, p) = write(
            "[api]\nlisten = \"0.0.0.0:8053\"\nallow_plaintext = true\nanonymous_reads = true\n",
        );
        let s = resolve(&args(Some(&p))).expect("the explicit opt-out");
        assert!(s.allow_plaintext && s.access.anonymous_reads);
        let mut a = args(None);
        a.api = Some("192.0.2.1:8053".parse().expect("addr"));
        let e = resolve(&a).expect_err("a flag is checked too").to_string();
        assert!(e.contains("api.listen") && e.contains("192.0.2.1:8053"), "{e}");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("f", "500ms").ok(), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("f", "2m").ok(), Some(Duration::from_secs(120)));
        assert!(parse_duration("f", "5").is_err());
        assert!(parse_duration("f", "s").is_err());
    }
}
