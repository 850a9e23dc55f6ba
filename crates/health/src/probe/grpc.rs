//! Grpc checks: one `grpc.health.v1.Health/Check` call (gRPC's health checking protocol) over
//! HTTP/2, h2c with prior knowledge or h2 after TLS with ALPN `h2`, answered `SERVING`.
//!
//! Failure classes: no HTTP/2 connection or a broken exchange is `http`; no answer within the
//! response timeout is `response_timeout`; an HTTP status other than 200 or a gRPC status other
//! than OK (12 UNIMPLEMENTED: no health service; 5 NOT_FOUND: an unknown service) is
//! `bad_status`, as is a serving status other than `SERVING`; a response that is not gRPC is
//! `protocol`.
//!
//! hyper's HTTP/2 client runs the connection and each stream as futures given to an executor;
//! here the executor is the probe's own task set, aborted when the probe ends, so no task
//! outlives the probe.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use prost::Message as _;
use tokio::task::JoinSet;
use tokio::time::{Instant, timeout};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};
use turnout_model::health::{HealthCheck, Target};

use super::{FailureClass, ProbeResult, USER_AGENT, host_header};

/// The largest response read.
const MAX_RESPONSE: usize = 64 * 1024;

/// The futures hyper's HTTP/2 client hands over, run as tasks of one probe.
#[derive(Clone, Default)]
struct ProbeTasks(Arc<Mutex<JoinSet<()>>>);

impl<F> hyper::rt::Executor<F> for ProbeTasks
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, future: F) {
        let mut tasks = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        tasks.spawn(async move {
            future.await;
        });
    }
}

/// One gRPC health call.
pub(super) struct Call<'a> {
    pub(super) check: &'a HealthCheck,
    pub(super) target: &'a Target,
    pub(super) addr: SocketAddr,
    /// The service asked about ("" for the whole server).
    pub(super) service: &'a str,
    /// Metadata besides the defaults (lowercase names).
    pub(super) headers: &'a [(String, String)],
    /// When connecting began.
    pub(super) started: Instant,
}

impl Call<'_> {
    pub(super) async fn run<S>(&self, io: TokioIo<S>) -> ProbeResult
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let tasks = ProbeTasks::default();
        let result = self.call(io, tasks.clone()).await;
        tasks.0.lock().unwrap_or_else(PoisonError::into_inner).abort_all();
        result
    }

    async fn call<S>(&self, io: TokioIo<S>, tasks: ProbeTasks) -> ProbeResult
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let deadline = self.check.response_timeout;
        let (mut sender, conn) =
            match timeout(deadline, hyper::client::conn::http2::handshake(tasks, io)).await {
                Ok(Ok(pair)) => pair,
                Ok(Err(e)) => return ProbeResult::fail(FailureClass::Http, format!("HTTP/2: {e}")),
                Err(_) => {
                    return ProbeResult::fail(FailureClass::ResponseTimeout, "Response timed out");
                }
            };
        let scheme = if self.check.kind.tls() { "https" } else { "http" };
        let authority = host_header(self.target, self.addr, self.check);
        let message = HealthCheckRequest { service: self.service.to_owned() }.encode_to_vec();
        // A length-prefixed message: not compressed, then its length (gRPC over HTTP/2).
        let mut body = Vec::with_capacity(message.len() + 5);
        body.push(0);
        body.extend_from_slice(&u32::try_from(message.len()).unwrap_or(u32::MAX).to_be_bytes());
        body.extend_from_slice(&message);
        let mut builder =
            hyper::Request::post(format!("{scheme}://{authority}/grpc.health.v1.Health/Check"))
                .header(hyper::header::CONTENT_TYPE, "application/grpc")
                .header(hyper::header::TE, "trailers")
                .header("grpc-timeout", format!("{}m", deadline.as_millis().max(1)));
        if !self.headers.iter().any(|(n, _)| n == "user-agent") {
            builder = builder.header(hyper::header::USER_AGENT, USER_AGENT);
        }
        for (name, value) in self.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let request = match builder.body(Full::new(Bytes::from(body))) {
            Ok(r) => r,
            Err(e) => return ProbeResult::fail(FailureClass::Http, format!("bad request: {e}")),
        };
        let exchange = async {
            let response = match timeout(deadline, sender.send_request(request)).await {
                Err(_) => {
                    return ProbeResult::fail(FailureClass::ResponseTimeout, "Response timed out");
                }
                Ok(Err(e)) => return ProbeResult::fail(FailureClass::Http, format!("HTTP/2: {e}")),
                Ok(Ok(response)) => response,
            };
            let first_byte = self.started.elapsed();
            let mut r = self.judge(response).await;
            r.first_byte = Some(first_byte);
            r
        };
        super::alongside(conn, exchange, "HTTP/2").await
    }

    async fn judge(&self, response: hyper::Response<hyper::body::Incoming>) -> ProbeResult {
        let status = response.status();
        if status != hyper::StatusCode::OK {
            return ProbeResult::fail(
                FailureClass::BadStatus,
                format!("HTTP Status Code {} to a gRPC call", status.as_u16()),
            );
        }
        let grpc = response
            .headers()
            .get(hyper::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/grpc"));
        if !grpc {
            return ProbeResult::fail(FailureClass::Protocol, "the response is not gRPC");
        }
        let headers = response.headers().clone();
        let body = Limited::new(response.into_body(), MAX_RESPONSE);
        let collected = match timeout(self.check.response_timeout, body.collect()).await {
            Err(_) => {
                return ProbeResult::fail(
                    FailureClass::ResponseTimeout,
                    "the gRPC response did not end in time",
                );
            }
            Ok(Err(e)) => return ProbeResult::fail(FailureClass::Http, format!("HTTP/2: {e}")),
            Ok(Ok(c)) => c,
        };
        // The status is in the trailers, or in the headers of a trailers-only response.
        let trailers = collected.trailers().cloned().unwrap_or_default();
        let field = |name: &str| {
            trailers.get(name).or_else(|| headers.get(name)).and_then(|v| v.to_str().ok())
        };
        let code = field("grpc-status").and_then(|s| s.parse::<u32>().ok());
        match code {
            None => {
                return ProbeResult::fail(
                    FailureClass::Protocol,
                    "the gRPC response has no status",
                );
            }
            Some(0) => {}
            Some(code) => {
                let message = field("grpc-message").unwrap_or_default();
                let name = tonic::Code::from(i32::try_from(code).unwrap_or(i32::MAX));
                return ProbeResult::fail(
                    FailureClass::BadStatus,
                    format!("gRPC status {code} ({name:?}) {message}"),
                );
            }
        }
        let bytes = collected.to_bytes();
        let message = match bytes.split_first() {
            Some((0, rest)) if rest.len() >= 4 => {
                let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
                rest.get(4..4 + len)
            }
            _ => None,
        };
        let Some(Ok(answer)) = message.map(HealthCheckResponse::decode) else {
            return ProbeResult::fail(
                FailureClass::Protocol,
                "the gRPC response holds no HealthCheckResponse",
            );
        };
        let serving = ServingStatus::try_from(answer.status).unwrap_or(ServingStatus::Unknown);
        let service = if self.service.is_empty() { "the server" } else { self.service };
        if serving == ServingStatus::Serving {
            ProbeResult::succeed(format!("Success: gRPC health of {service} is SERVING"))
        } else {
            ProbeResult::fail(
                FailureClass::BadStatus,
                format!("gRPC health of {service} is {}", serving.as_str_name()),
            )
        }
    }
}
