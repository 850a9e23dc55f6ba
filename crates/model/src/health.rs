//! Health checks as the control plane stores them, and the slot through which a check's status
//! reaches the query path.
//!
//! [`HealthCheckSpec`] is the written form (API bodies, the `health_checks` section of
//! desired-state files, store values); [`HealthCheckSpec::validate`] checks every field against
//! Route 53's rules with Turnout's documented departures (any interval from 1 s, from 100 ms for
//! tcp; private and loopback targets allowed; a recovery threshold and a hold-down). A
//! [`HealthSlot`] holds one check's current status; compiled snapshots keep `Arc`s to the slots
//! of the checks their records name, so a status change reaches the answers without a rebuild.

use std::fmt;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use crate::duration::{format_duration, parse_duration};
use crate::error::{ErrorCode, FieldError};
use crate::metric::{Comparison, InsufficientData, MAX_QUERY_LEN, MetricCheck, prometheus_url};
use crate::name::Name;

/// The longest check name.
pub const MAX_CHECK_NAME_LEN: usize = 64;
/// The longest resource path or search string (Route 53's limit).
pub const MAX_PATH_LEN: usize = 255;
/// The most children of a calculated check (Route 53's limit).
pub const MAX_CHILDREN: usize = 256;

/// A health check as written.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthCheckSpec {
    /// The check's name, which records refer to.
    #[serde(default)]
    pub name: String,
    /// `tcp`, `http`, `https`, `calculated`, `metric` or `control`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// The endpoint's address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// The endpoint's name: the Host header and SNI, and resolved each interval when `ip` is
    /// absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fqdn: Option<String>,
    /// The port; default 80 for http and tcp, 443 for https.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<i64>,
    /// The HTTP path (a leading `/` is added), with an optional query string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// A string that must appear in the first 5,120 bytes of the body (case-sensitive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search: Option<String>,
    /// Time between the end of one probe and the start of the next, e.g. `10s`; default `30s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    /// Consecutive failures that make a healthy endpoint unhealthy, 1-10; default 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_threshold: Option<i64>,
    /// Consecutive successes that make an unhealthy endpoint healthy, 1-10; default: the
    /// failure threshold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_threshold: Option<i64>,
    /// How long a recovered endpoint must keep succeeding before it is used again; default 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_down: Option<String>,
    /// Time to connect; default 4 s (10 s for tcp), as Route 53.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_timeout: Option<String>,
    /// Time from connecting to the status line, and then to the body; default 2 s each.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_timeout: Option<String>,
    /// Send the FQDN as TLS SNI (https); default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_sni: Option<bool>,
    /// Verify the endpoint's certificate (https); default false, as Route 53.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify_tls: Option<bool>,
    /// Https, tls and grpcs: let a probe resume the TLS session of an earlier probe of the
    /// same endpoint (a shorter handshake); default false: every probe makes a full handshake,
    /// as Route 53's do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_resumption: Option<bool>,
    /// Healthy becomes unhealthy and back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inverted: Option<bool>,
    /// No probing; the check counts as healthy (unhealthy if also inverted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
    /// The check runs, records its status, alerts (webhooks, metrics) and shows in `check
    /// status`, but never changes an answer: records and calculated checks that name it see
    /// it healthy (a shadow check, to trust a new check before it steers traffic).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observe_only: Option<bool>,
    /// Tcp, http and https: hold a connection to the target open between probes (short TCP
    /// keepalive timers); its end (FIN, RST, a keepalive or user timeout) triggers a probe at
    /// once (docs/health-checks.md#watch-mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watch: Option<bool>,
    /// Probed checks in a cluster: what the last report of a checker that went silent (its
    /// registration expired) counts as: `ignore` (default: only the live checkers decide),
    /// `healthy`, `unhealthy` or `last_known`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub silent_checkers: Option<String>,
    /// Probed checks in a cluster: healthy iff more than this percentage of the reporting
    /// checkers say healthy (`healthy * 100 > threshold_pct * reporting`), 0-99; default 18,
    /// as Route 53.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold_pct: Option<i64>,
    /// Probed checks in a cluster: how many checkers of each region probe it, 1-16 (chosen
    /// by rendezvous hashing of the check and node names); absent, every node probes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkers_per_region: Option<i64>,
    /// Calculated: the child checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub children: Option<Vec<String>>,
    /// Calculated: healthy iff at least this many children are, 0-256.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_threshold: Option<i64>,
    /// Metric: the Prometheus server's base URL, e.g. `http://127.0.0.1:9090`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus: Option<String>,
    /// Metric: the PromQL instant query; it must yield one value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// Metric: in alarm (unhealthy) while `value <comparison> threshold`: `>`, `>=`, `<`, `<=`
    /// (or CloudWatch's `GreaterThanThreshold`...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comparison: Option<String>,
    /// Metric: the value compared with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// Metric: the status without a value: `healthy`, `unhealthy` or `last_known` (default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insufficient_data: Option<String>,
    /// Control: the routing control it follows, `panel/control` (healthy iff On).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control: Option<String>,
    /// The CallerReference it was created with through the Route 53 API (which recognises a
    /// retried CreateHealthCheck by it); no effect on the check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller_reference: Option<String>,
    /// Route 53's MeasureLatency as it was written through the Route 53 API. Turnout records
    /// every probe's timings whatever it says; it is kept so that the check reads back as
    /// written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measure_latency: Option<bool>,
    /// Http and https: request headers sent with every probe, name -> value (at most
    /// [`MAX_HEADERS`]); `User-Agent` replaces the default `Turnout-Health-Check/<version>`.
    /// The headers that frame the request (`Host`, `Content-Length`, `Transfer-Encoding`,
    /// `Connection`, ...) cannot be set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<std::collections::BTreeMap<String, String>>,
    /// Https, tls and grpcs: fail while the endpoint's certificate expires in fewer than this
    /// many days (1-3650), checked at every probe before the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_cert_days: Option<i64>,
    /// Dns: the name asked (absolute).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_name: Option<String>,
    /// Dns: the type asked (default `A`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_type: Option<String>,
    /// Dns: `udp` (the default) or `tcp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// Dns: the response code a healthy server gives (default `NOERROR`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_rcode: Option<String>,
    /// Dns: record data (presentation format of `query_type`) that must be among the answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_answer: Option<String>,
    /// Grpc and grpcs: the service whose health is asked (grpc.health.v1); empty or absent asks
    /// for the server as a whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
}

/// The check types, as written.
pub const CHECK_TYPES: [&str; 11] = [
    "tcp",
    "http",
    "https",
    "tls",
    "icmp",
    "dns",
    "grpc",
    "grpcs",
    "calculated",
    "metric",
    "control",
];
/// The types that probe an endpoint (`ip` or `fqdn`).
const ENDPOINT_TYPES: [&str; 8] = ["tcp", "http", "https", "tls", "icmp", "dns", "grpc", "grpcs"];
/// The types that talk TLS to their endpoint.
const TLS_TYPES: [&str; 3] = ["https", "tls", "grpcs"];

/// The most request headers a check may add.
pub const MAX_HEADERS: usize = 20;
/// The longest header value, in bytes.
pub const MAX_HEADER_VALUE_LEN: usize = 1024;
/// Headers a check may not set: HTTP/1.1 framing and hop-by-hop headers (RFC 9110 §7.6.1,
/// RFC 9112 §6), and `Host`, which the target decides.
const RESERVED_HEADERS: [&str; 10] = [
    "connection",
    "content-length",
    "host",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "expect",
];

/// A check's request headers, validated: names lowercase RFC 9110 tokens, values visible
/// ASCII with spaces and tabs inside.
///
/// gRPC requests (`grpc`) also keep `content-type` and the `grpc-` names, which frame the call
/// (the gRPC over HTTP/2 protocol).
fn validate_headers(
    headers: &std::collections::BTreeMap<String, String>,
    grpc: bool,
    errors: &mut Vec<FieldError>,
) -> Vec<(String, String)> {
    if headers.len() > MAX_HEADERS {
        errors.push(FieldError::new(
            "headers",
            ErrorCode::LimitExceeded,
            format!("{} headers; a check sends at most {MAX_HEADERS}", headers.len()),
        ));
    }
    let mut out = Vec::with_capacity(headers.len());
    for (name, value) in headers {
        let field = format!("headers.{name}");
        let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
        let lower = name.to_ascii_lowercase();
        if name.is_empty() || name.len() > 64 || !name.bytes().all(token) {
            errors.push(FieldError::new(
                &field,
                ErrorCode::InvalidValue,
                format!("{name:?} is not a header name (1-64 letters, digits and !#$%&'*+-.^_`|~)"),
            ));
        } else if RESERVED_HEADERS.contains(&lower.as_str())
            || (grpc && (lower == "content-type" || lower.starts_with("grpc-")))
        {
            errors.push(FieldError::new(
                &field,
                ErrorCode::NotAllowed,
                format!("{name} frames the request; a check cannot set it"),
            ));
        } else if out.iter().any(|(n, _): &(String, String)| *n == lower) {
            errors.push(FieldError::new(
                &field,
                ErrorCode::InvalidValue,
                format!("{name} is given twice (header names ignore case)"),
            ));
        }
        let visible = |b: u8| (0x21..=0x7e).contains(&b);
        let ok = value.len() <= MAX_HEADER_VALUE_LEN
            && value.bytes().all(|b| visible(b) || b == b' ' || b == b'\t')
            && value.bytes().next().is_none_or(visible)
            && value.bytes().last().is_none_or(visible);
        if !ok {
            errors.push(FieldError::new(
                &field,
                ErrorCode::InvalidValue,
                format!(
                    "a header value has at most {MAX_HEADER_VALUE_LEN} bytes of visible ASCII, with spaces and tabs only inside"
                ),
            ));
        }
        out.push((lower, value.clone()));
    }
    out
}

/// What a check looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckKind {
    /// A TCP connection.
    Tcp,
    /// An HTTP request; `search` makes it a string match.
    Http {
        /// TLS (https).
        tls: Option<TlsOptions>,
        /// Path and query, starting with `/`.
        path: String,
        /// String to find in the first 5,120 bytes of the body.
        search: Option<String>,
        /// Request headers besides the defaults: lowercase names, in name order.
        headers: Vec<(String, String)>,
    },
    /// A TLS handshake (and the certificate's expiry).
    Tls(TlsOptions),
    /// An ICMP echo request answered by an echo reply.
    Icmp,
    /// A DNS query answered as expected.
    Dns(DnsQuery),
    /// A grpc.health.v1 `Check` call answered `SERVING`, over h2c or (with TLS) h2.
    Grpc {
        /// TLS (grpcs).
        tls: Option<TlsOptions>,
        /// The service asked about ("" for the whole server).
        service: String,
        /// Request metadata besides the defaults: lowercase names, in name order.
        headers: Vec<(String, String)>,
    },
    /// N of M children.
    Calculated {
        /// The children's names.
        children: Vec<String>,
        /// Healthy iff at least this many children are.
        threshold: u16,
    },
    /// A Prometheus query compared with a threshold; the target is the Prometheus server.
    Metric(MetricCheck),
    /// A routing control: healthy iff it is On.
    Control {
        /// The control's panel.
        panel: String,
        /// The control.
        control: String,
    },
}

impl CheckKind {
    /// Whether the check talks TLS to its target.
    pub fn tls(&self) -> bool {
        match self {
            CheckKind::Http { tls, .. } | CheckKind::Grpc { tls, .. } => tls.is_some(),
            CheckKind::Tls(_) => true,
            CheckKind::Metric(m) => m.tls,
            CheckKind::Tcp
            | CheckKind::Icmp
            | CheckKind::Dns(_)
            | CheckKind::Calculated { .. }
            | CheckKind::Control { .. } => false,
        }
    }
}

/// How a check talks TLS to its endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsOptions {
    /// Send SNI (the FQDN).
    pub sni: bool,
    /// Verify the certificate chain and name against the system's roots.
    pub verify: bool,
    /// The fewest days the certificate must still be valid.
    pub min_cert_days: Option<u32>,
    /// Resume an earlier probe's TLS session when the endpoint offers it (RFC 8446 §2.2).
    pub resume: bool,
}

/// A dns check's question and what a healthy answer holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsQuery {
    /// The name asked.
    pub name: Name,
    /// The type asked.
    pub rtype: crate::rtype::RType,
    /// Over TCP (RFC 7766) rather than UDP.
    pub tcp: bool,
    /// The response code a healthy server gives.
    pub rcode: u16,
    /// Record data that must be among the answers (canonical wire form).
    pub answer: Option<crate::rdata::Rdata>,
}

/// The response codes a dns check may expect (RFC 1035 §4.1.1, RFC 2136 §2.2, RFC 6895 §2.3),
/// by mnemonic.
pub const RCODES: [(&str, u16); 11] = [
    ("NOERROR", 0),
    ("FORMERR", 1),
    ("SERVFAIL", 2),
    ("NXDOMAIN", 3),
    ("NOTIMP", 4),
    ("REFUSED", 5),
    ("YXDOMAIN", 6),
    ("YXRRSET", 7),
    ("NXRRSET", 8),
    ("NOTAUTH", 9),
    ("NOTZONE", 10),
];

/// A response code's mnemonic, or its number.
pub fn rcode_name(rcode: u16) -> String {
    RCODES
        .iter()
        .find(|(_, c)| *c == rcode)
        .map_or_else(|| rcode.to_string(), |(n, _)| (*n).to_owned())
}

/// Where an endpoint check connects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The address; when absent, `fqdn` is resolved before each probe.
    pub ip: Option<IpAddr>,
    /// The name for Host and SNI.
    pub fqdn: Option<Name>,
    /// The port.
    pub port: u16,
}

/// A validated health check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    /// The name.
    pub name: String,
    /// What it probes.
    pub kind: CheckKind,
    /// For tcp and http(s).
    pub target: Option<Target>,
    /// Between probes.
    pub interval: Duration,
    /// Consecutive failures to turn unhealthy.
    pub failure_threshold: u8,
    /// Consecutive successes to turn healthy.
    pub recovery_threshold: u8,
    /// Successes must last this long before a recovery counts.
    pub hold_down: Duration,
    /// To connect.
    pub connect_timeout: Duration,
    /// To the status line, then to the body.
    pub response_timeout: Duration,
    /// Flip the result.
    pub inverted: bool,
    /// No probing: healthy (unhealthy if inverted).
    pub disabled: bool,
    /// Runs and records, but answers (and calculated parents) see it healthy.
    pub observe_only: bool,
    /// Watch mode: a held connection whose end triggers a probe at once.
    pub watch: bool,
    /// What a silent checker's last report counts as.
    pub silent_checkers: SilentCheckers,
    /// The checkers' quorum: healthy iff `healthy * 100 > threshold_pct * reporting`.
    pub threshold_pct: u8,
    /// In a cluster, how many checkers of each region probe it (None: every one).
    pub checkers_per_region: Option<u8>,
}

/// What the last report of a checker that went silent counts as, for one check.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SilentCheckers {
    /// Nothing: only the live checkers decide (the default).
    #[default]
    Ignore,
    /// A healthy report.
    Healthy,
    /// An unhealthy report.
    Unhealthy,
    /// What it last reported.
    LastKnown,
}

/// The most checkers per region a check may ask for.
pub const MAX_CHECKERS_PER_REGION: i64 = 16;

/// Route 53's quorum: more than 18 % of the checkers (docs/health-checks.md).
pub const DEFAULT_THRESHOLD_PCT: u8 = 18;

/// Whether `healthy` of `reporting` checkers make a check healthy at `threshold_pct`.
pub fn quorum_healthy(healthy: usize, reporting: usize, threshold_pct: u8) -> bool {
    healthy * 100 > usize::from(threshold_pct) * reporting
}

/// What is wrong with a check name (a check's own, or one a record refers to), if anything.
pub fn check_name_error(name: &str, field: &str) -> Option<FieldError> {
    if !name.is_empty()
        && name.len() <= MAX_CHECK_NAME_LEN
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-./".contains(&b))
    {
        return None;
    }
    let code = if name.is_empty() { ErrorCode::MissingField } else { ErrorCode::InvalidValue };
    Some(FieldError::new(
        field,
        code,
        format!("{name:?} must be 1-{MAX_CHECK_NAME_LEN} characters of A-Z a-z 0-9 _ - . /"),
    ))
}

fn duration_field(
    text: Option<&str>,
    field: &str,
    default: Duration,
    min: Duration,
    max: Duration,
    errors: &mut Vec<FieldError>,
) -> Duration {
    let Some(text) = text else { return default };
    match parse_duration(text) {
        Some(d) if d >= min && d <= max => d,
        Some(_) => {
            errors.push(FieldError::new(
                field,
                ErrorCode::InvalidValue,
                format!("{text:?} is outside {}-{}", format_duration(min), format_duration(max)),
            ));
            default
        }
        None => {
            errors.push(FieldError::new(
                field,
                ErrorCode::InvalidValue,
                format!("{text:?} is not a duration (like 500ms, 10s, 2m)"),
            ));
            default
        }
    }
}

fn threshold(value: Option<i64>, field: &str, default: u8, errors: &mut Vec<FieldError>) -> u8 {
    match value {
        None => default,
        Some(v @ 1..=10) => u8::try_from(v).unwrap_or(default),
        Some(v) => {
            errors.push(FieldError::new(
                field,
                ErrorCode::InvalidValue,
                format!("{v} is outside 1-10"),
            ));
            default
        }
    }
}

impl HealthCheckSpec {
    /// Validates the check: every field, every error.
    pub fn validate(&self) -> Result<HealthCheck, Vec<FieldError>> {
        let mut errors = Vec::new();
        errors.extend(check_name_error(&self.name, "name"));
        let kind = self.kind.to_ascii_lowercase();
        let endpoint = ENDPOINT_TYPES.contains(&kind.as_str());
        let is_http = matches!(kind.as_str(), "http" | "https");
        let is_tls = TLS_TYPES.contains(&kind.as_str());
        let is_grpc = matches!(kind.as_str(), "grpc" | "grpcs");
        let is_dns = kind == "dns";
        let over_udp =
            is_dns && !self.protocol.as_deref().is_some_and(|p| p.eq_ignore_ascii_case("tcp"));
        match kind.as_str() {
            k if CHECK_TYPES.contains(&k) => {}
            "" => errors.push(FieldError::new(
                "type",
                ErrorCode::MissingField,
                "the type is required",
            )),
            other => errors.push(FieldError::new(
                "type",
                ErrorCode::InvalidValue,
                format!("{other:?} is not a check type; use one of {}", CHECK_TYPES.join(", ")),
            )),
        }
        let mut not_for = |set: bool, field: &str, what: &str| {
            if set {
                errors.push(FieldError::new(
                    field,
                    ErrorCode::NotAllowed,
                    format!("{field} is only for {what} checks"),
                ));
            }
        };
        let endpoints = "tcp, http, https, tls, icmp, dns, grpc and grpcs";
        not_for(!endpoint && self.ip.is_some(), "ip", endpoints);
        not_for(!endpoint && self.fqdn.is_some(), "fqdn", endpoints);
        not_for(
            (!endpoint || kind == "icmp") && self.port.is_some(),
            "port",
            "tcp, http, https, tls, dns, grpc and grpcs",
        );
        not_for(
            (kind == "icmp" || over_udp) && self.connect_timeout.is_some(),
            "connect_timeout",
            "connection-making (tcp, http, https, tls, dns over tcp, grpc and grpcs)",
        );
        not_for(!is_http && self.path.is_some(), "path", "http and https");
        not_for(!is_http && self.search.is_some(), "search", "http and https");
        not_for(
            !is_http && !is_grpc && self.headers.is_some(),
            "headers",
            "http, https, grpc and grpcs",
        );
        let probed = endpoint || kind == "metric";
        not_for(
            !probed && self.silent_checkers.is_some(),
            "silent_checkers",
            "endpoint and metric",
        );
        not_for(!is_tls && self.enable_sni.is_some(), "enable_sni", "https, tls and grpcs");
        not_for(!is_tls && self.min_cert_days.is_some(), "min_cert_days", "https, tls and grpcs");
        not_for(!is_tls && self.tls_resumption.is_some(), "tls_resumption", "https, tls and grpcs");
        not_for(
            !is_tls && kind != "metric" && self.verify_tls.is_some(),
            "verify_tls",
            "https, tls, grpcs and metric",
        );
        not_for(!is_dns && self.query_name.is_some(), "query_name", "dns");
        not_for(!is_dns && self.query_type.is_some(), "query_type", "dns");
        not_for(!is_dns && self.protocol.is_some(), "protocol", "dns");
        not_for(!is_dns && self.expected_rcode.is_some(), "expected_rcode", "dns");
        not_for(!is_dns && self.expected_answer.is_some(), "expected_answer", "dns");
        not_for(!is_grpc && self.service.is_some(), "service", "grpc and grpcs");
        not_for(
            !matches!(kind.as_str(), "tcp" | "http" | "https") && self.watch.is_some(),
            "watch",
            "tcp, http and https",
        );
        let metric = kind == "metric";
        not_for(!metric && self.prometheus.is_some(), "prometheus", "metric");
        not_for(!metric && self.query.is_some(), "query", "metric");
        not_for(!metric && self.comparison.is_some(), "comparison", "metric");
        not_for(!metric && self.threshold.is_some(), "threshold", "metric");
        not_for(!metric && self.insufficient_data.is_some(), "insufficient_data", "metric");
        not_for(kind != "control" && self.control.is_some(), "control", "control");
        not_for(kind != "calculated" && self.children.is_some(), "children", "calculated");
        not_for(
            kind != "calculated" && self.health_threshold.is_some(),
            "health_threshold",
            "calculated",
        );
        not_for(!probed && self.threshold_pct.is_some(), "threshold_pct", "endpoint and metric");
        not_for(
            !probed && self.checkers_per_region.is_some(),
            "checkers_per_region",
            "endpoint and metric",
        );
        let threshold_pct = match self.threshold_pct {
            None => DEFAULT_THRESHOLD_PCT,
            Some(v @ 0..=99) => u8::try_from(v).unwrap_or(DEFAULT_THRESHOLD_PCT),
            Some(v) => {
                errors.push(FieldError::new(
                    "threshold_pct",
                    ErrorCode::InvalidValue,
                    format!(
                        "{v} is outside 0-99 (healthy iff more than this % of checkers say so)"
                    ),
                ));
                DEFAULT_THRESHOLD_PCT
            }
        };
        let checkers_per_region = match self.checkers_per_region {
            None => None,
            Some(v @ 1..=MAX_CHECKERS_PER_REGION) => u8::try_from(v).ok(),
            Some(v) => {
                errors.push(FieldError::new(
                    "checkers_per_region",
                    ErrorCode::InvalidValue,
                    format!("{v} is outside 1-{MAX_CHECKERS_PER_REGION}"),
                ));
                None
            }
        };
        let mut target = endpoint.then(|| self.validate_target(&kind, &mut errors)).flatten();
        let min_interval = if matches!(kind.as_str(), "tcp" | "icmp") {
            Duration::from_millis(100)
        } else {
            Duration::from_secs(1)
        };
        let interval = duration_field(
            self.interval.as_deref(),
            "interval",
            Duration::from_secs(30),
            min_interval,
            Duration::from_secs(3600),
            &mut errors,
        );
        let failure_threshold =
            threshold(self.failure_threshold, "failure_threshold", 3, &mut errors);
        let recovery_threshold = threshold(
            self.recovery_threshold,
            "recovery_threshold",
            failure_threshold,
            &mut errors,
        );
        let hold_down = duration_field(
            self.hold_down.as_deref(),
            "hold_down",
            Duration::ZERO,
            Duration::ZERO,
            Duration::from_secs(24 * 3600),
            &mut errors,
        );
        let default_connect =
            if kind == "tcp" { Duration::from_secs(10) } else { Duration::from_secs(4) };
        let connect_timeout = duration_field(
            self.connect_timeout.as_deref(),
            "connect_timeout",
            default_connect,
            Duration::from_millis(10),
            Duration::from_secs(60),
            &mut errors,
        );
        let response_timeout = duration_field(
            self.response_timeout.as_deref(),
            "response_timeout",
            Duration::from_secs(2),
            Duration::from_millis(10),
            Duration::from_secs(60),
            &mut errors,
        );
        let mut path = self.path.clone().unwrap_or_else(|| "/".to_owned());
        if !path.starts_with('/') {
            path.insert(0, '/');
        }
        if path.len() > MAX_PATH_LEN || path.chars().any(|c| c.is_whitespace() || c.is_control()) {
            errors.push(FieldError::new(
                "path",
                ErrorCode::InvalidValue,
                format!("the path has at most {MAX_PATH_LEN} characters and no spaces"),
            ));
        }
        if let Some(s) = &self.search
            && (s.is_empty() || s.len() > MAX_PATH_LEN)
        {
            errors.push(FieldError::new(
                "search",
                ErrorCode::InvalidValue,
                format!("the search string has 1-{MAX_PATH_LEN} characters"),
            ));
        }
        let silent_checkers = match self.silent_checkers.as_deref() {
            None | Some("ignore") => SilentCheckers::Ignore,
            Some("healthy") => SilentCheckers::Healthy,
            Some("unhealthy") => SilentCheckers::Unhealthy,
            Some("last_known") => SilentCheckers::LastKnown,
            Some(other) => {
                errors.push(FieldError::new(
                    "silent_checkers",
                    ErrorCode::InvalidValue,
                    format!("{other:?} is not ignore, healthy, unhealthy or last_known"),
                ));
                SilentCheckers::Ignore
            }
        };
        let tls = is_tls.then(|| self.validate_tls(&mut errors));
        let headers = self
            .headers
            .as_ref()
            .map(|h| validate_headers(h, is_grpc, &mut errors))
            .unwrap_or_default();
        let kind = match kind.as_str() {
            "tcp" => Some(CheckKind::Tcp),
            "http" | "https" => {
                Some(CheckKind::Http { tls, path, search: self.search.clone(), headers })
            }
            "tls" => tls.map(CheckKind::Tls),
            "icmp" => Some(CheckKind::Icmp),
            "dns" => self.validate_dns(&mut errors).map(CheckKind::Dns),
            "grpc" | "grpcs" => {
                let service = self.service.clone().unwrap_or_default();
                if service.len() > MAX_PATH_LEN || service.chars().any(char::is_control) {
                    errors.push(FieldError::new(
                        "service",
                        ErrorCode::InvalidValue,
                        format!("a service name has at most {MAX_PATH_LEN} characters"),
                    ));
                }
                Some(CheckKind::Grpc { tls, service, headers })
            }
            "calculated" => self.validate_calculated(&mut errors),
            "metric" => self.validate_metric(&mut target, &mut errors).map(CheckKind::Metric),
            "control" => self.validate_control(&mut errors),
            _ => None,
        };
        match kind {
            Some(kind) if errors.is_empty() => Ok(HealthCheck {
                name: self.name.clone(),
                kind,
                target,
                interval,
                failure_threshold,
                recovery_threshold,
                hold_down,
                connect_timeout,
                response_timeout,
                inverted: self.inverted.unwrap_or(false),
                disabled: self.disabled.unwrap_or(false),
                observe_only: self.observe_only.unwrap_or(false),
                watch: self.watch.unwrap_or(false),
                silent_checkers,
                threshold_pct,
                checkers_per_region,
            }),
            _ => Err(errors),
        }
    }

    fn validate_target(&self, kind: &str, errors: &mut Vec<FieldError>) -> Option<Target> {
        let ip = match self.ip.as_deref().map(str::parse::<IpAddr>) {
            None => None,
            Some(Ok(ip)) if ip.is_unspecified() || ip.is_multicast() => {
                errors.push(FieldError::new(
                    "ip",
                    ErrorCode::InvalidValue,
                    format!("{ip} cannot be probed (unspecified or multicast)"),
                ));
                None
            }
            Some(Ok(ip)) => Some(ip),
            Some(Err(_)) => {
                errors.push(FieldError::new(
                    "ip",
                    ErrorCode::InvalidValue,
                    format!(
                        "{:?} is not an IPv4 or IPv6 address",
                        self.ip.as_deref().unwrap_or_default()
                    ),
                ));
                None
            }
        };
        let fqdn = match self.fqdn.as_deref().map(Name::parse_absolute) {
            None => None,
            Some(Ok(n)) => Some(n),
            Some(Err(e)) => {
                errors.push(FieldError::new("fqdn", ErrorCode::InvalidValue, e.to_string()));
                None
            }
        };
        if self.ip.is_none() && self.fqdn.is_none() {
            errors.push(FieldError::new(
                "ip",
                ErrorCode::MissingField,
                "give the endpoint's ip, or its fqdn (resolved before each probe)",
            ));
        }
        let port = match self.port {
            None if TLS_TYPES.contains(&kind) => 443,
            None if kind == "dns" => 53,
            None => 80,
            Some(p @ 1..=65535) => u16::try_from(p).unwrap_or(80),
            Some(p) => {
                errors.push(FieldError::new(
                    "port",
                    ErrorCode::InvalidValue,
                    format!("{p} is outside 1-65535"),
                ));
                80
            }
        };
        (ip.is_some() || fqdn.is_some()).then_some(Target { ip, fqdn, port })
    }

    /// A control check's `panel/control`.
    fn validate_control(&self, errors: &mut Vec<FieldError>) -> Option<CheckKind> {
        let text = self.control.as_deref().unwrap_or_default();
        match text.split_once('/') {
            Some((panel, control)) if !panel.is_empty() && !control.is_empty() => {
                let bad = crate::controls::name_error(panel, "control")
                    .or_else(|| crate::controls::name_error(control, "control"));
                match bad {
                    Some(e) => {
                        errors.push(e);
                        None
                    }
                    None => Some(CheckKind::Control {
                        panel: panel.to_owned(),
                        control: control.to_owned(),
                    }),
                }
            }
            _ => {
                let code =
                    if text.is_empty() { ErrorCode::MissingField } else { ErrorCode::InvalidValue };
                errors.push(FieldError::new(
                    "control",
                    code,
                    format!("{text:?}: give the routing control as panel/control"),
                ));
                None
            }
        }
    }

    /// A metric check's fields; its Prometheus server becomes the check's target.
    fn validate_metric(
        &self,
        target: &mut Option<Target>,
        errors: &mut Vec<FieldError>,
    ) -> Option<MetricCheck> {
        let query = self.query.as_deref().unwrap_or_default();
        if query.trim().is_empty() || query.len() > MAX_QUERY_LEN {
            let code =
                if query.is_empty() { ErrorCode::MissingField } else { ErrorCode::InvalidValue };
            errors.push(FieldError::new(
                "query",
                code,
                format!("a metric check needs a PromQL query of 1-{MAX_QUERY_LEN} characters"),
            ));
        }
        let url = match self.prometheus.as_deref() {
            None => {
                errors.push(FieldError::new(
                    "prometheus",
                    ErrorCode::MissingField,
                    "give the Prometheus server's base URL, e.g. http://127.0.0.1:9090",
                ));
                None
            }
            Some(text) => prometheus_url(text, query).map_err(|e| errors.push(e)).ok(),
        };
        let comparison = match self.comparison.as_deref() {
            None => {
                errors.push(FieldError::new(
                    "comparison",
                    ErrorCode::MissingField,
                    "give when the metric is in alarm: >, >=, < or <=",
                ));
                None
            }
            Some(text) => Comparison::parse(text).or_else(|| {
                errors.push(FieldError::new(
                    "comparison",
                    ErrorCode::InvalidValue,
                    format!("{text:?} is not >, >=, < or <= (or a CloudWatch operator name)"),
                ));
                None
            }),
        };
        let threshold = match self.threshold {
            Some(t) if t.is_finite() => Some(t),
            Some(_) | None => {
                errors.push(FieldError::new(
                    "threshold",
                    ErrorCode::MissingField,
                    "a metric check needs a finite threshold to compare the value with",
                ));
                None
            }
        };
        let insufficient_data = match self.insufficient_data.as_deref() {
            None => InsufficientData::LastKnown,
            Some(text) => InsufficientData::parse(text).unwrap_or_else(|| {
                errors.push(FieldError::new(
                    "insufficient_data",
                    ErrorCode::InvalidValue,
                    format!("{text:?} is not healthy, unhealthy or last_known"),
                ));
                InsufficientData::LastKnown
            }),
        };
        let url = url?;
        let (ip, fqdn) = match &url.host {
            url::Host::Ipv4(v4) => (Some(IpAddr::V4(*v4)), None),
            url::Host::Ipv6(v6) => (Some(IpAddr::V6(*v6)), None),
            url::Host::Domain(d) => match Name::parse_absolute(d) {
                Ok(n) => (None, Some(n)),
                Err(e) => {
                    errors.push(FieldError::new(
                        "prometheus",
                        ErrorCode::InvalidValue,
                        e.to_string(),
                    ));
                    return None;
                }
            },
        };
        *target = Some(Target { ip, fqdn, port: url.port });
        Some(MetricCheck {
            query: query.to_owned(),
            path: url.path,
            tls: url.tls,
            verify: self.verify_tls.unwrap_or(false),
            comparison: comparison?,
            threshold: threshold?,
            insufficient_data,
        })
    }

    /// The TLS options of an https, tls or grpcs check.
    fn validate_tls(&self, errors: &mut Vec<FieldError>) -> TlsOptions {
        let min_cert_days = match self.min_cert_days {
            None => None,
            Some(d @ 1..=3650) => u32::try_from(d).ok(),
            Some(d) => {
                errors.push(FieldError::new(
                    "min_cert_days",
                    ErrorCode::InvalidValue,
                    format!("{d} is outside 1-3650 days"),
                ));
                None
            }
        };
        TlsOptions {
            sni: self.enable_sni.unwrap_or(true),
            verify: self.verify_tls.unwrap_or(false),
            min_cert_days,
            resume: self.tls_resumption.unwrap_or(false),
        }
    }

    /// A dns check's question and expectations.
    fn validate_dns(&self, errors: &mut Vec<FieldError>) -> Option<DnsQuery> {
        let name = match self.query_name.as_deref().map(Name::parse_absolute) {
            None => {
                errors.push(FieldError::new(
                    "query_name",
                    ErrorCode::MissingField,
                    "a dns check needs the name it asks, e.g. www.example.com.",
                ));
                None
            }
            Some(Ok(n)) => Some(n),
            Some(Err(e)) => {
                errors.push(FieldError::new("query_name", ErrorCode::InvalidValue, e.to_string()));
                None
            }
        };
        let text = self.query_type.as_deref().unwrap_or("A");
        let rtype = match crate::rtype::RType::from_mnemonic(text) {
            Some(t) if !matches!(t.0, 0 | 41 | 249..=252) => Some(t),
            _ => {
                errors.push(FieldError::new(
                    "query_type",
                    ErrorCode::InvalidValue,
                    format!(
                        "{text:?} is not a type a dns check can ask (A, AAAA, SOA, TYPE65, ...)"
                    ),
                ));
                None
            }
        };
        let tcp = match self.protocol.as_deref().map(str::to_ascii_lowercase).as_deref() {
            None | Some("udp") => false,
            Some("tcp") => true,
            Some(other) => {
                errors.push(FieldError::new(
                    "protocol",
                    ErrorCode::InvalidValue,
                    format!("{other:?} is not udp or tcp"),
                ));
                false
            }
        };
        let text = self.expected_rcode.as_deref().unwrap_or("NOERROR");
        let rcode = RCODES.iter().find(|(n, _)| n.eq_ignore_ascii_case(text)).map(|(_, c)| *c);
        if rcode.is_none() {
            let names: Vec<&str> = RCODES.iter().map(|(n, _)| *n).collect();
            errors.push(FieldError::new(
                "expected_rcode",
                ErrorCode::InvalidValue,
                format!("{text:?} is not one of {}", names.join(", ")),
            ));
        }
        let answer = match (&self.expected_answer, rtype) {
            (Some(text), Some(rtype)) => {
                match crate::rdata::Rdata::from_text(rtype, text, name.as_ref()) {
                    Ok(r) => Some(r),
                    Err(e) => {
                        errors.push(FieldError::new(
                            "expected_answer",
                            ErrorCode::InvalidValue,
                            format!("not {rtype} data: {e}"),
                        ));
                        None
                    }
                }
            }
            _ => None,
        };
        Some(DnsQuery { name: name?, rtype: rtype?, tcp, rcode: rcode?, answer })
    }

    fn validate_calculated(&self, errors: &mut Vec<FieldError>) -> Option<CheckKind> {
        let children = self.children.clone().unwrap_or_default();
        if children.is_empty() {
            errors.push(FieldError::new(
                "children",
                ErrorCode::MissingField,
                "a calculated check needs children",
            ));
        }
        if children.len() > MAX_CHILDREN {
            errors.push(FieldError::new(
                "children",
                ErrorCode::LimitExceeded,
                format!("{} children; the limit is {MAX_CHILDREN}", children.len()),
            ));
        }
        for (i, c) in children.iter().enumerate() {
            if *c == self.name || children[..i].contains(c) {
                errors.push(FieldError::new(
                    format!("children[{i}]"),
                    ErrorCode::InvalidValue,
                    format!("{c:?} is the check itself or listed twice"),
                ));
            }
        }
        let threshold = match self.health_threshold {
            None => u16::try_from(children.len()).unwrap_or(u16::MAX),
            Some(t @ 0..=256) => u16::try_from(t).unwrap_or(0),
            Some(t) => {
                errors.push(FieldError::new(
                    "health_threshold",
                    ErrorCode::InvalidValue,
                    format!("{t} is outside 0-256"),
                ));
                0
            }
        };
        Some(CheckKind::Calculated { children, threshold })
    }
}

/// How long, at worst, a check takes to turn unhealthy after its target fails, by how it fails
/// (docs/health-checks.md#how-fast-a-failure-is-seen), in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Detection {
    /// The server process crashed or its listener closed: connections are refused at once.
    pub crash_ms: u64,
    /// The host or the network to it died: connections time out.
    pub host_down_ms: u64,
    /// The server accepts but never answers.
    pub hang_ms: u64,
}

/// How soon a held watch-mode connection notices a dead peer: keepalive probes after a second
/// of silence, a second apart, three of them; and unacknowledged data given up after three
/// seconds (`TCP_USER_TIMEOUT`, RFC 5482).
pub const WATCH_KEEPALIVE: Duration = Duration::from_secs(1);
/// Unanswered keepalives that end a watch-mode connection.
pub const WATCH_KEEPALIVE_COUNT: u32 = 3;
/// A watch-mode connection's `TCP_USER_TIMEOUT`.
pub const WATCH_USER_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a watch-mode connection to a silent host lasts.
pub const WATCH_DEAD_HOST: Duration =
    Duration::from_secs(WATCH_KEEPALIVE.as_secs() * (1 + WATCH_KEEPALIVE_COUNT as u64));
/// Between the probes that confirm a failed watch probe.
pub const WATCH_CONFIRM: Duration = Duration::from_millis(50);

impl HealthCheck {
    /// The longest a probe may take: `connect_timeout` plus `response_timeout`, whatever
    /// steps it has (connect, TLS, headers, body).
    pub fn probe_deadline(&self) -> Duration {
        self.connect_timeout + self.response_timeout
    }

    /// The worst-case time from its target failing to this checker's observation turning
    /// unhealthy, for an endpoint check: the failure may come just after a probe, and then
    /// `failure_threshold` probes must fail, each after its interval and taking as long as
    /// that failure makes it. Watch mode sees a crash, and a dead host's silent connection,
    /// without waiting for the interval, and confirms each further failure 50 ms later. A
    /// hang is seen by the regular probes only. None for checks that probe no endpoint.
    pub fn worst_detection(&self) -> Option<Detection> {
        let t = u32::from(self.failure_threshold.max(1));
        let (interval, connect, deadline) =
            (self.interval, self.connect_timeout, self.probe_deadline());
        let regular = |probe: Duration| (interval + probe) * t;
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        self.target.as_ref()?;
        let (crash, host_down) = if self.watch {
            ((WATCH_CONFIRM * (t - 1)), WATCH_DEAD_HOST + connect * t + WATCH_CONFIRM * (t - 1))
        } else {
            (regular(Duration::ZERO), regular(connect))
        };
        Some(Detection {
            crash_ms: ms(crash),
            host_down_ms: ms(host_down),
            hang_ms: ms(regular(deadline)),
        })
    }

    /// The status before any probe result (docs/health-checks.md): healthy, or unhealthy if
    /// inverted; a disabled check is healthy, or unhealthy if also inverted.
    pub fn initial_status(&self) -> Status {
        if self.inverted { Status::Unhealthy } else { Status::Healthy }
    }
}

/// Which addresses health checks may probe: the operator's replacement for Route 53's fixed
/// refusal of private and loopback targets. A denied network always wins; when `allow` is not
/// empty, an address must also lie in one of its networks. The default allows everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetPolicy {
    /// Networks targets must lie in (empty: any).
    pub allow: Vec<ipnet::IpNet>,
    /// Networks targets must not lie in.
    pub deny: Vec<ipnet::IpNet>,
    /// The local address tcp and http(s) probes are sent from (None: the system's choice); a
    /// node's vantage point on a multi-homed host.
    pub source: Option<IpAddr>,
    /// This node's own listeners (DNS, the APIs): not probed unless `allow_own`, so that a
    /// check cannot be pointed back at the node (its API's answers are no endpoint's health).
    pub own: Vec<std::net::SocketAddr>,
    /// Whether the node's own listeners may be probed.
    pub allow_own: bool,
    /// At most this many probes start per second towards one target (address or name, and
    /// port), whatever checks ask; 0: [`DEFAULT_MAX_PROBES_PER_TARGET`].
    pub max_probes_per_target: u32,
}

/// The probes per second one target gets at most unless the operator says otherwise.
pub const DEFAULT_MAX_PROBES_PER_TARGET: u32 = 10;

impl TargetPolicy {
    /// The probes per second one target gets at most.
    pub fn probe_rate_cap(&self) -> u32 {
        if self.max_probes_per_target == 0 {
            DEFAULT_MAX_PROBES_PER_TARGET
        } else {
            self.max_probes_per_target
        }
    }
}

impl TargetPolicy {
    /// Parses CIDR lists like `10.0.0.0/8` and `::1/128`; the error names the bad entry.
    pub fn parse(allow: &[String], deny: &[String]) -> Result<TargetPolicy, String> {
        let parse = |list: &[String], what: &str| -> Result<Vec<ipnet::IpNet>, String> {
            list.iter()
                .map(|n| {
                    n.parse::<ipnet::IpNet>()
                        .or_else(|_| n.parse::<IpAddr>().map(ipnet::IpNet::from))
                        .map_err(|_| format!("{what}: {n:?} is not a network like 10.0.0.0/8"))
                })
                .collect()
        };
        Ok(TargetPolicy {
            allow: parse(allow, "allowed_networks")?,
            deny: parse(deny, "denied_networks")?,
            ..TargetPolicy::default()
        })
    }

    /// Whether the endpoint `addr` may be probed: [`TargetPolicy::permits`] its address, and
    /// it is none of this node's own listeners (in any form of its address; a listener on
    /// `0.0.0.0` or `::` is reached through every address of the host) unless `allow_own`.
    pub fn permits_endpoint(&self, addr: std::net::SocketAddr) -> Result<(), String> {
        self.permits(addr.ip())?;
        if self.allow_own {
            return Ok(());
        }
        let forms = address_forms(addr.ip());
        let own = self.own.iter().find(|l| {
            l.port() == addr.port()
                && (forms.contains(&l.ip())
                    || (l.ip().is_unspecified() && forms.iter().copied().any(is_this_host)))
        });
        match own {
            Some(l) => Err(format!(
                "{addr} is this node's own listener {l}, refused unless health.allow_own_listeners \
                 is set"
            )),
            None => Ok(()),
        }
    }

    /// Whether `ip` may be probed; the error says which rule refuses it.
    ///
    /// An IPv6 address that carries an IPv4 address (IPv4-mapped `::ffff:a.b.c.d`, which a
    /// dual-stack socket connects to that IPv4 host; IPv4-compatible `::a.b.c.d`; NAT64's
    /// `64:ff9b::/96`; 6to4's `2002::/16`) is refused when either form is denied, so that
    /// `::ffff:127.0.0.1` does not slip past `127.0.0.0/8`. Link-local networks (where cloud
    /// metadata services answer, 169.254.169.254) and the IPv6 metadata address
    /// ([`ALWAYS_DENIED`]) are refused unless an allowed network names them.
    pub fn permits(&self, ip: IpAddr) -> Result<(), String> {
        let forms = address_forms(ip);
        for form in &forms {
            let as_form =
                if *form == ip { ip.to_string() } else { format!("{ip} (that is, {form})") };
            if let Some(net) = self.deny.iter().find(|n| n.contains(form)) {
                return Err(format!("{as_form} is in the denied network {net}"));
            }
            let allowed_here = self.allow.iter().any(|n| n.contains(form));
            if let Some(net) = always_denied().find(|n| n.contains(form))
                && !allowed_here
            {
                return Err(format!(
                    "{as_form} is in {net}, link-local or a metadata service's address, \
                     refused unless an allowed network names it"
                ));
            }
        }
        // Allowed as itself, or as the IPv4 host an IPv4-mapped address reaches.
        let mapped = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4),
            IpAddr::V4(_) => None,
        };
        let allowed = |a: &IpAddr| self.allow.iter().any(|n| n.contains(a));
        if !self.allow.is_empty() && !allowed(&ip) && !mapped.as_ref().is_some_and(allowed) {
            return Err(format!("{ip} is not in any allowed network"));
        }
        Ok(())
    }
}

/// Networks no health check probes unless an allowed network names them: IPv4 and IPv6
/// link-local (cloud metadata services answer at 169.254.169.254) and AWS's IPv6 metadata
/// address.
pub const ALWAYS_DENIED: [&str; 3] = ["169.254.0.0/16", "fe80::/10", "fd00:ec2::254/128"];

fn always_denied() -> impl Iterator<Item = ipnet::IpNet> {
    ALWAYS_DENIED.iter().filter_map(|n| n.parse().ok())
}

/// Whether `ip` reaches this host: loopback, unspecified, or an address a socket can be bound
/// to (asked only for a target on the port of a wildcard listener).
fn is_this_host(ip: IpAddr) -> bool {
    ip.is_loopback() || ip.is_unspecified() || std::net::UdpSocket::bind((ip, 0)).is_ok()
}

/// `ip`, and the IPv4 addresses an IPv6 address carries (see [`TargetPolicy::permits`]).
pub fn address_forms(ip: IpAddr) -> Vec<IpAddr> {
    let mut forms = vec![ip];
    let IpAddr::V6(v6) = ip else { return forms };
    let o = v6.octets();
    let v4 = |b: &[u8]| IpAddr::V4(std::net::Ipv4Addr::new(b[0], b[1], b[2], b[3]));
    if let Some(mapped) = v6.to_ipv4_mapped() {
        forms.push(IpAddr::V4(mapped));
    } else if o[..12].iter().all(|&b| b == 0)
        && u32::from_be_bytes([o[12], o[13], o[14], o[15]]) > 1
    {
        // IPv4-compatible (RFC 4291 §2.5.5.1, deprecated), not :: or ::1.
        forms.push(v4(&o[12..]));
    } else if o[..12] == [0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0] {
        // NAT64's well-known prefix (RFC 6052 §2.1).
        forms.push(v4(&o[12..]));
    } else if o[..2] == [0x20, 0x02] {
        // 6to4 (RFC 3056 §2).
        forms.push(v4(&o[2..6]));
    }
    forms
}

/// A check's status as the query path sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Answers may use the record.
    Healthy,
    /// Answers avoid the record while another is healthy.
    Unhealthy,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Healthy => "healthy",
            Status::Unhealthy => "unhealthy",
        })
    }
}

/// One check's current status, shared by the health engine (which writes it) and every
/// snapshot whose records name the check (which read it on the query path, lock-free).
#[derive(Debug, Default)]
pub struct HealthSlot(AtomicU8);

const UNHEALTHY: u8 = 1;

impl HealthSlot {
    /// A slot holding `status`.
    pub fn new(status: Status) -> Self {
        let slot = HealthSlot::default();
        slot.set(status);
        slot
    }

    /// The current status.
    #[inline]
    pub fn get(&self) -> Status {
        if self.0.load(Ordering::Relaxed) == UNHEALTHY {
            Status::Unhealthy
        } else {
            Status::Healthy
        }
    }

    /// Whether the status is healthy.
    #[inline]
    pub fn healthy(&self) -> bool {
        self.get() == Status::Healthy
    }

    /// Sets the status; returns the previous one.
    pub fn set(&self, status: Status) -> Status {
        let v = if status == Status::Unhealthy { UNHEALTHY } else { 0 };
        if self.0.swap(v, Ordering::Relaxed) == UNHEALTHY {
            Status::Unhealthy
        } else {
            Status::Healthy
        }
    }
}

#[cfg(test)]
#[path = "health_tests.rs"]
mod tests;
