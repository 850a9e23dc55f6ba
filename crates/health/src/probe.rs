//! One probe of an endpoint, as Route 53 defines success (docs/health-checks.md): a TCP connection
//! within the connect timeout; for http(s), a status from 200 to 399 within the response
//! timeout after connecting; for a string match, the search string in the first 5,120 bytes of
//! the (gzip/deflate-decoded) body, which must arrive within the next response timeout.
//! Turnout's own types: a TLS handshake (tls), an ICMP echo (`probe/icmp.rs`), a DNS query
//! (`probe/dns.rs`) and a grpc.health.v1 call (`probe/grpc.rs`).
//!
//! The connection is our own `TcpStream` (and TLS stream) under hyper's HTTP/1 client, so that
//! connect, TLS handshake and first byte are timed separately. Failures are classified; the
//! class and a Route 53-style reason are what observations and metrics report.

mod dns;
mod grpc;
mod icmp;
pub(crate) mod metric;

use std::io::Read;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::{Instant, timeout};
use turnout_model::health::{
    CheckKind, HealthCheck, Target, TargetPolicy, TlsOptions, WATCH_KEEPALIVE,
    WATCH_KEEPALIVE_COUNT, WATCH_USER_TIMEOUT,
};

/// How much of the body a string match looks at (as in Route 53).
pub const SEARCH_WINDOW: usize = 5120;
/// The largest decoded Prometheus response a metric check reads.
const MAX_METRIC_BODY: usize = 1 << 20;

/// Why a probe failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureClass {
    /// The name did not resolve.
    Dns,
    /// No connection within the connect timeout.
    Timeout,
    /// The connection was refused or reset.
    Refused,
    /// The TLS handshake failed.
    Tls,
    /// No response (or body) within the response timeout.
    ResponseTimeout,
    /// The HTTP exchange failed (bad response, connection closed).
    Http,
    /// A status outside 200-399.
    BadStatus,
    /// The search string is not in the first 5,120 bytes.
    NoMatch,
    /// The operator's target networks do not allow the address.
    Denied,
    /// A metric check's value is in alarm.
    Alarm,
    /// A metric check got no value to compare (its `insufficient_data` choice decides).
    InsufficientData,
    /// The response broke its protocol: a DNS message that does not parse or answers another
    /// question, a gRPC response that is not one.
    Protocol,
    /// This checker could not probe at all: it is out of file descriptors, buffers or local
    /// addresses. A fault of the checker, not an observation of the target: it changes no
    /// status (see [`FailureClass::is_local`]).
    Local,
}

impl FailureClass {
    /// The class of an I/O error met while probing: [`FailureClass::Local`] when the error is
    /// this process's or host's own shortage, `otherwise` when it says something of the target.
    pub fn of_io(e: &std::io::Error, otherwise: FailureClass) -> FailureClass {
        let local = matches!(
            e.raw_os_error(),
            Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM | libc::EADDRNOTAVAIL)
        );
        if local { FailureClass::Local } else { otherwise }
    }

    /// Whether the failure is the checker's own (see [`FailureClass::Local`]).
    pub fn is_local(self) -> bool {
        self == FailureClass::Local
    }

    /// The class as JSON and metrics write it.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureClass::Dns => "dns",
            FailureClass::Timeout => "timeout",
            FailureClass::Refused => "refused",
            FailureClass::Tls => "tls",
            FailureClass::ResponseTimeout => "response_timeout",
            FailureClass::Http => "http",
            FailureClass::BadStatus => "bad_status",
            FailureClass::NoMatch => "no_match",
            FailureClass::Denied => "denied",
            FailureClass::Alarm => "alarm",
            FailureClass::InsufficientData => "insufficient_data",
            FailureClass::Protocol => "protocol",
            FailureClass::Local => "local",
        }
    }
}

/// The outcome of one probe.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProbeResult {
    /// Success as the check type defines it.
    pub success: bool,
    /// The failure's class (or `insufficient_data`, which a metric check may count as healthy).
    pub class: Option<FailureClass>,
    /// For people: `Success: HTTP Status Code 200, OK`, `Failure: HTTP Status Code 503`, ...
    pub reason: String,
    /// The address probed.
    pub address: Option<SocketAddr>,
    /// Time to establish the TCP connection.
    pub connect: Option<Duration>,
    /// Time of the TLS handshake.
    pub tls: Option<Duration>,
    /// Time from connecting to the first byte of the response.
    pub first_byte: Option<Duration>,
}

impl ProbeResult {
    pub(crate) fn succeed(reason: String) -> Self {
        ProbeResult {
            success: true,
            class: None,
            reason,
            address: None,
            connect: None,
            tls: None,
            first_byte: None,
        }
    }

    pub(crate) fn fail(class: FailureClass, reason: impl Into<String>) -> Self {
        ProbeResult {
            success: false,
            class: Some(class),
            reason: format!("Failure: {}", reason.into()),
            address: None,
            connect: None,
            tls: None,
            first_byte: None,
        }
    }
}

/// Probes `check`'s endpoint once, if `policy` permits its address. Calculated checks have no
/// endpoint: they are computed from their children by the engine. A metric check queries its
/// Prometheus server; failing to get a value is insufficient data, not a failure.
///
/// A probe as a whole ends within [`HealthCheck::probe_deadline`] (connect plus response
/// timeout), however its steps share it: a target that trickles its TLS handshake, headers and
/// body in just under each step's timeout still fails.
pub async fn probe(check: &HealthCheck, policy: &TargetPolicy) -> ProbeResult {
    let deadline = check.probe_deadline();
    let result = match timeout(deadline, probe_target(check, policy)).await {
        Ok(r) => r,
        Err(_) => ProbeResult::fail(
            FailureClass::ResponseTimeout,
            format!(
                "the probe did not finish within {deadline:?} (connect_timeout + response_timeout)"
            ),
        ),
    };
    match &check.kind {
        CheckKind::Metric(m) => metric::settle(m, result),
        _ => result,
    }
}

/// A TCP connection to `addr`, from `source` if given.
async fn connect(addr: SocketAddr, source: Option<std::net::IpAddr>) -> std::io::Result<TcpStream> {
    let Some(source) = source else { return TcpStream::connect(addr).await };
    let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    socket.bind(SocketAddr::new(source, 0))?;
    socket.connect(addr).await
}

async fn probe_target(check: &HealthCheck, policy: &TargetPolicy) -> ProbeResult {
    let Some(target) = &check.target else {
        return ProbeResult::fail(FailureClass::Http, "this check has no endpoint");
    };
    let addr = match resolve(target).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    if let Err(why) = policy.permits_endpoint(addr) {
        let mut r = ProbeResult::fail(FailureClass::Denied, format!("not probed: {why}"));
        r.address = Some(addr);
        return r;
    }
    // The types that make no TCP connection.
    let connectionless = match &check.kind {
        CheckKind::Icmp => Some(icmp::probe(addr, check.response_timeout, policy.source).await),
        CheckKind::Dns(q) if !q.tcp => {
            Some(dns::over_udp(q, addr, check.response_timeout, policy.source).await)
        }
        _ => None,
    };
    if let Some(mut r) = connectionless {
        r.address = Some(addr);
        return r;
    }
    let started = Instant::now();
    let stream = match timeout(check.connect_timeout, connect(addr, policy.source)).await {
        Err(_) => {
            let mut r = ProbeResult::fail(
                FailureClass::Timeout,
                format!("Connection timed out after {:?} to {addr}", check.connect_timeout),
            );
            r.address = Some(addr);
            return r;
        }
        Ok(Err(e)) => {
            let class = FailureClass::of_io(&e, FailureClass::Refused);
            let mut r = ProbeResult::fail(class, format!("Connection to {addr}: {e}"));
            r.address = Some(addr);
            return r;
        }
        Ok(Ok(s)) => s,
    };
    let connect = started.elapsed();
    let _nodelay = stream.set_nodelay(true);
    let mut result = match &check.kind {
        CheckKind::Tcp => {
            ProbeResult::succeed(format!("Success: TCP connection to {addr} established"))
        }
        CheckKind::Http { tls, path, search, headers } => {
            let judge = match search {
                Some(s) => Judge::Search(s),
                None => Judge::Status,
            };
            let http = HttpProbe { check, target, addr, path, headers, judge, started };
            match tls {
                Some(options) => {
                    let tls = Handshake { check, target, addr, options, h2: false };
                    tls.then(stream, |s| http.exchange(TokioIo::new(s))).await
                }
                None => http.exchange(TokioIo::new(stream)).await,
            }
        }
        CheckKind::Metric(m) => {
            let http = HttpProbe {
                check,
                target,
                addr,
                path: &m.path,
                headers: &[],
                judge: Judge::Metric(m),
                started,
            };
            if m.tls {
                let options =
                    TlsOptions { sni: true, verify: m.verify, min_cert_days: None, resume: false };
                let tls = Handshake { check, target, addr, options: &options, h2: false };
                tls.then(stream, |s| http.exchange(TokioIo::new(s))).await
            } else {
                http.exchange(TokioIo::new(stream)).await
            }
        }
        CheckKind::Tls(options) => {
            let tls = Handshake { check, target, addr, options, h2: false };
            let handshake = &tls;
            tls.then(stream, |s| async move { handshake.success(&s) }).await
        }
        CheckKind::Grpc { tls, service, headers } => {
            let call = grpc::Call { check, target, addr, service, headers, started };
            match tls {
                Some(options) => {
                    let tls = Handshake { check, target, addr, options, h2: true };
                    tls.then(stream, |s| call.run(TokioIo::new(s))).await
                }
                None => call.run(TokioIo::new(stream)).await,
            }
        }
        CheckKind::Dns(q) => dns::over_tcp(q, stream, check.response_timeout, started).await,
        CheckKind::Icmp => ProbeResult::fail(FailureClass::Http, "an icmp check connects no TCP"),
        CheckKind::Calculated { .. } | CheckKind::Control { .. } => {
            ProbeResult::fail(FailureClass::Http, "calculated and control checks are not probed")
        }
    };
    result.address = Some(addr);
    result.connect = Some(connect);
    result
}

/// A watch-mode connection to the check's target (docs/health-checks.md#watch-mode), made as a
/// probe connects (its address, the target rules, the source address, the connect timeout),
/// with short keepalive timers (`WATCH_KEEPALIVE`...); None when none can be made now.
pub(crate) async fn watch_connection(
    check: &HealthCheck,
    policy: &TargetPolicy,
) -> Option<TcpStream> {
    let addr = resolve(check.target.as_ref()?).await.ok()?;
    policy.permits_endpoint(addr).ok()?;
    let stream = timeout(check.connect_timeout, connect(addr, policy.source)).await.ok()?.ok()?;
    let socket = socket2::SockRef::from(&stream);
    let keepalive = socket2::TcpKeepalive::new()
        .with_time(WATCH_KEEPALIVE)
        .with_interval(WATCH_KEEPALIVE)
        .with_retries(WATCH_KEEPALIVE_COUNT);
    if let Err(e) = socket
        .set_tcp_keepalive(&keepalive)
        .and_then(|()| socket.set_tcp_user_timeout(Some(WATCH_USER_TIMEOUT)))
    {
        tracing::debug!("watch connection of {}: keepalive not set: {e}", check.name);
    }
    Some(stream)
}

/// The address to probe: the configured IP, or the FQDN resolved now (IPv4 first, as Route 53).
async fn resolve(target: &Target) -> Result<SocketAddr, ProbeResult> {
    if let Some(ip) = target.ip {
        return Ok(SocketAddr::new(ip, target.port));
    }
    let Some(fqdn) = &target.fqdn else {
        return Err(ProbeResult::fail(FailureClass::Dns, "no address to probe"));
    };
    let host = fqdn.to_string();
    let host = host.trim_end_matches('.');
    match tokio::net::lookup_host((host, target.port)).await {
        Ok(addrs) => {
            let addrs: Vec<SocketAddr> = addrs.collect();
            addrs.iter().find(|a| a.is_ipv4()).or(addrs.first()).copied().ok_or_else(|| {
                ProbeResult::fail(
                    FailureClass::Dns,
                    format!("DNS resolution failed: {host} has no address"),
                )
            })
        }
        Err(e) => Err(ProbeResult::fail(
            FailureClass::of_io(&e, FailureClass::Dns),
            format!("DNS resolution failed for {host}: {e}"),
        )),
    }
}

/// What decides an HTTP probe's verdict.
enum Judge<'a> {
    /// The status code.
    Status,
    /// The status code, then the search string in the body.
    Search(&'a str),
    /// A Prometheus query response.
    Metric(&'a turnout_model::metric::MetricCheck),
}

struct HttpProbe<'a> {
    check: &'a HealthCheck,
    target: &'a Target,
    addr: SocketAddr,
    path: &'a str,
    /// Request headers besides the defaults (lowercase names).
    headers: &'a [(String, String)],
    judge: Judge<'a>,
    started: Instant,
}

/// A certificate's (DER) whole days left and expiry time, or why it cannot be read.
fn cert_expiry(der: &[u8]) -> Result<(i64, String), &'static str> {
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
        return Err("the certificate cannot be read to find its expiry");
    };
    let not_after = cert.validity().not_after.timestamp();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    let when = humantime::format_rfc3339_seconds(
        UNIX_EPOCH + Duration::from_secs(not_after.max(0) as u64),
    );
    Ok(((not_after - now).div_euclid(86_400), when.to_string()))
}

/// The TLS handshake of an https, tls, grpcs or metric probe, timed, with the certificate's
/// expiry held to `min_cert_days`.
struct Handshake<'a> {
    check: &'a HealthCheck,
    target: &'a Target,
    addr: SocketAddr,
    options: &'a TlsOptions,
    /// Offer HTTP/2 by ALPN (grpcs).
    h2: bool,
}

type TlsStream = tokio_rustls::client::TlsStream<TcpStream>;

impl Handshake<'_> {
    /// The handshake, then `next` over the TLS stream; the result carries the handshake's time.
    async fn then<F, Fut>(&self, stream: TcpStream, next: F) -> ProbeResult
    where
        F: FnOnce(TlsStream) -> Fut,
        Fut: std::future::Future<Output = ProbeResult>,
    {
        let connector = tokio_rustls::TlsConnector::from(tls_config(
            self.options.verify,
            self.h2,
            self.options.resume,
        ));
        // With SNI the FQDN names the server; without it (or without an FQDN) the IP does,
        // and rustls sends no server_name extension.
        let name = match (&self.target.fqdn, self.options.sni) {
            (Some(fqdn), true) => {
                let host = fqdn.to_string();
                ServerName::try_from(host.trim_end_matches('.').to_owned()).ok()
            }
            _ => None,
        }
        .unwrap_or_else(|| ServerName::IpAddress(self.addr.ip().into()));
        let t0 = Instant::now();
        let tls = match timeout(self.check.response_timeout, connector.connect(name, stream)).await
        {
            Err(_) => return ProbeResult::fail(FailureClass::Tls, "TLS handshake timed out"),
            Ok(Err(e)) => {
                return ProbeResult::fail(FailureClass::Tls, format!("TLS handshake failed: {e}"));
            }
            Ok(Ok(tls)) => tls,
        };
        let handshake = t0.elapsed();
        let expiring = self.options.min_cert_days.and_then(|min| {
            let der = tls.get_ref().1.peer_certificates()?.first()?;
            match cert_expiry(der.as_ref()) {
                Err(why) => Some(why.to_owned()),
                Ok((days, when)) => (days < i64::from(min)).then(|| {
                    format!(
                        "the certificate expires in {days} day(s), at {when}, under min_cert_days {min}"
                    )
                }),
            }
        });
        let mut r = match expiring {
            Some(why) => ProbeResult::fail(FailureClass::Tls, why),
            None => next(tls).await,
        };
        r.tls = Some(handshake);
        r
    }

    /// A tls check's success, saying what was agreed and how long the certificate has left.
    fn success(&self, tls: &TlsStream) -> ProbeResult {
        let session = tls.get_ref().1;
        let version = session.protocol_version().and_then(|v| v.as_str()).unwrap_or("TLS");
        let expiry = match session.peer_certificates().and_then(|c| c.first()) {
            None => "no certificate".to_owned(),
            Some(der) => match cert_expiry(der.as_ref()) {
                Ok((days, when)) => format!("the certificate expires in {days} day(s), at {when}"),
                Err(why) => why.to_owned(),
            },
        };
        ProbeResult::succeed(format!("Success: {version} handshake with {}; {expiry}", self.addr))
    }
}

/// The `User-Agent` of every probe that sets none of its own: endpoints behind a firewall or a
/// WAF can let it through (docs/health-checks.md).
pub const USER_AGENT: &str = concat!("Turnout-Health-Check/", env!("CARGO_PKG_VERSION"));

impl HttpProbe<'_> {
    async fn exchange<S>(&self, io: TokioIo<S>) -> ProbeResult
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let deadline = self.check.response_timeout;
        let (mut sender, conn) =
            match timeout(deadline, hyper::client::conn::http1::handshake(io)).await {
                Ok(Ok(pair)) => pair,
                Ok(Err(e)) => return ProbeResult::fail(FailureClass::Http, format!("HTTP: {e}")),
                Err(_) => {
                    return ProbeResult::fail(FailureClass::ResponseTimeout, "Response timed out");
                }
            };
        let mut builder = hyper::Request::get(self.path)
            .header(hyper::header::HOST, host_header(self.target, self.addr, self.check));
        if !self.headers.iter().any(|(n, _)| n == "user-agent") {
            builder = builder.header(hyper::header::USER_AGENT, USER_AGENT);
        }
        builder = builder
            .header(hyper::header::ACCEPT_ENCODING, "gzip, deflate")
            .header(hyper::header::ACCEPT, "*/*");
        for (name, value) in self.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let request = match builder.body(Empty::<Bytes>::new()) {
            Ok(r) => r,
            Err(e) => return ProbeResult::fail(FailureClass::Http, format!("bad request: {e}")),
        };
        let exchange = async {
            match timeout(deadline, sender.send_request(request)).await {
                Err(_) => ProbeResult::fail(FailureClass::ResponseTimeout, "Response timed out"),
                Ok(Err(e)) => ProbeResult::fail(FailureClass::Http, format!("HTTP: {e}")),
                Ok(Ok(response)) => self.judge(response).await,
            }
        };
        alongside(conn, exchange, "HTTP").await
    }

    async fn judge(&self, response: hyper::Response<hyper::body::Incoming>) -> ProbeResult {
        let first_byte = self.started.elapsed();
        let status = response.status();
        let code = status.as_u16();
        let reason = status.canonical_reason().unwrap_or("");
        let ok = (200..400).contains(&code);
        let mut r = if ok {
            ProbeResult::succeed(format!("Success: HTTP Status Code {code}, {reason}"))
        } else {
            ProbeResult::fail(FailureClass::BadStatus, format!("HTTP Status Code {code}"))
        };
        r.first_byte = Some(first_byte);
        let limit = match self.judge {
            Judge::Status => return r,
            Judge::Search(_) if !ok => return r,
            Judge::Search(_) => SEARCH_WINDOW,
            Judge::Metric(_) => MAX_METRIC_BODY,
        };
        let encoding = response
            .headers()
            .get(hyper::header::CONTENT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .map(str::to_ascii_lowercase);
        let body =
            match timeout(self.check.response_timeout, read_prefix(response.into_body())).await {
                Err(_) => {
                    let mut f = ProbeResult::fail(
                        FailureClass::ResponseTimeout,
                        "the body did not arrive in time",
                    );
                    f.first_byte = Some(first_byte);
                    return f;
                }
                Ok(body) => body,
            };
        let body = decode(&body, encoding.as_deref(), limit);
        let found = match self.judge {
            Judge::Metric(m) => {
                let mut verdict = metric::judge(m, code, &body);
                verdict.first_byte = Some(first_byte);
                return verdict;
            }
            Judge::Search(search) => {
                let window = &body[..body.len().min(SEARCH_WINDOW)];
                window.windows(search.len().max(1)).any(|w| w == search.as_bytes())
            }
            Judge::Status => true,
        };
        if found {
            r
        } else {
            let mut f = ProbeResult::fail(
                FailureClass::NoMatch,
                format!(
                    "the search string was not found in the first {SEARCH_WINDOW} bytes of the body"
                ),
            );
            f.first_byte = Some(first_byte);
            f
        }
    }
}

/// An exchange's verdict, with its hyper connection driven next to it in this task (no task
/// per probe); the connection is dropped, closing the socket, once the verdict is in. A failed
/// connection fails the probe (class `http`, the message after `what`); a connection the
/// server closed leaves whatever was received to the exchange.
pub(super) async fn alongside<C, X>(conn: C, exchange: X, what: &str) -> ProbeResult
where
    C: std::future::Future<Output = Result<(), hyper::Error>>,
    X: std::future::Future<Output = ProbeResult>,
{
    tokio::pin!(conn);
    tokio::pin!(exchange);
    tokio::select! {
        result = &mut exchange => result,
        closed = &mut conn => match closed {
            Err(e) => ProbeResult::fail(FailureClass::Http, format!("{what}: {e}")),
            Ok(()) => exchange.await,
        },
    }
}

/// The body's first bytes: enough for the search window, or a metric response, even after
/// decompression (at most 1 MiB of encoded bytes are read).
async fn read_prefix(mut body: hyper::body::Incoming) -> Vec<u8> {
    let mut out = Vec::new();
    while out.len() < 1 << 20 {
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    out.extend_from_slice(&data);
                }
            }
            _ => break,
        }
    }
    out
}

/// Decodes gzip or deflate bodies, up to `limit` bytes; others pass through.
fn decode(body: &[u8], encoding: Option<&str>, limit: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let limit = limit as u64;
    let decoded = match encoding {
        Some("gzip" | "x-gzip") => {
            flate2::read::GzDecoder::new(body).take(limit).read_to_end(&mut out)
        }
        Some("deflate") => {
            // "deflate" is zlib-wrapped by the RFC, raw in some servers: try both.
            let zlib = flate2::read::ZlibDecoder::new(body).take(limit).read_to_end(&mut out);
            if zlib.is_err() || out.is_empty() {
                out.clear();
                flate2::read::DeflateDecoder::new(body).take(limit).read_to_end(&mut out)
            } else {
                zlib
            }
        }
        _ => return body.to_vec(),
    };
    if decoded.is_err() && out.is_empty() { body.to_vec() } else { out }
}

/// Host header (docs/health-checks.md): the FQDN (or IP) alone on the scheme's default port, with
/// `:port` otherwise.
fn host_header(target: &Target, addr: SocketAddr, check: &HealthCheck) -> String {
    let tls = check.kind.tls();
    let default_port = if tls { 443 } else { 80 };
    let host = match &target.fqdn {
        Some(f) => f.to_string().trim_end_matches('.').to_owned(),
        None => match addr.ip() {
            IpAddr::V6(v6) => format!("[{v6}]"),
            IpAddr::V4(v4) => v4.to_string(),
        },
    };
    if addr.port() == default_port { host } else { format!("{host}:{}", addr.port()) }
}

/// TLS sessions kept for probes that may resume one (`tls_resumption`), shared by every such
/// check: one per endpoint name, the oldest dropped first.
const RESUMPTION_SESSIONS: usize = 4096;

/// A TLS client configuration, built once per mode: verifying or not, offering HTTP/2 by
/// ALPN (RFC 7301) or nothing, and resuming sessions (RFC 8446 §2.2, RFC 5077) or making a
/// full handshake at every probe (the default, as Route 53's probes do).
fn tls_config(verify: bool, h2: bool, resume: bool) -> Arc<rustls::ClientConfig> {
    static CONFIGS: [OnceLock<Arc<rustls::ClientConfig>>; 8] = [const { OnceLock::new() }; 8];
    let provider = || Arc::new(rustls::crypto::ring::default_provider());
    CONFIGS[usize::from(verify) * 4 + usize::from(h2) * 2 + usize::from(resume)]
        .get_or_init(|| {
            let mut config = if verify {
                let mut roots = rustls::RootCertStore::empty();
                for cert in rustls_native_certs::load_native_certs().certs {
                    let _skipped = roots.add(cert);
                }
                rustls::ClientConfig::builder_with_provider(provider())
                    .with_safe_default_protocol_versions()
                    .map(|b| b.with_root_certificates(roots).with_no_client_auth())
                    .unwrap_or_else(|_| unverified_config(provider()))
            } else {
                unverified_config(provider())
            };
            if h2 {
                config.alpn_protocols = vec![b"h2".to_vec()];
            }
            config.resumption = if resume {
                rustls::client::Resumption::in_memory_sessions(RESUMPTION_SESSIONS)
            } else {
                rustls::client::Resumption::disabled()
            };
            Arc::new(config)
        })
        .clone()
}

/// Route 53 does not validate endpoint certificates: any certificate passes.
fn unverified_config(provider: Arc<rustls::crypto::CryptoProvider>) -> rustls::ClientConfig {
    let verifier = Arc::new(AcceptAny(provider.clone()));
    rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(rustls::ALL_VERSIONS)
        .expect("the ring provider supports TLS 1.2 and 1.3")
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth()
}

/// A certificate verifier that accepts every certificate but still checks the handshake
/// signatures with the provider's algorithms.
#[derive(Debug)]
struct AcceptAny(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
