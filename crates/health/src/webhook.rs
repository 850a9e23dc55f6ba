//! Webhooks: a JSON POST to an operator's URL on every status change of a check, sent by one
//! task of the node's task tree with retries and backoff, which delivers what is queued when
//! the node stops. Probes never wait for it: events go through a
//! bounded queue, and when the queue is full (the receiver is down for long) new events are
//! dropped with a warning rather than slowing anything down.
//!
//! Every delivery is signed so that a receiver can tell it from a forgery (docs/health-checks.md,
//! "Webhooks"): `Turnout-Timestamp` is the Unix time of the try, and `Turnout-Signature` is
//! `v1=` and the lowercase hex HMAC-SHA256 (RFC 2104) of `<timestamp>.<body>` under the shared
//! secret. `Turnout-Event-Id` (also the body's `id`) stays the same across the tries of one
//! event. `https://` URLs are verified against the system's trust store or the CA file given.

use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Serialize;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::warn;

/// Events waiting to be sent, at most.
const QUEUE: usize = 1024;
/// Tries per event.
const ATTEMPTS: u32 = 6;
/// Per-request timeout.
const TIMEOUT: Duration = Duration::from_secs(5);

/// What is posted, as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WebhookEvent {
    /// Always `health_check.status_changed`.
    pub event: &'static str,
    /// The check.
    pub check: String,
    /// `healthy` or `unhealthy`, before.
    pub from: String,
    /// After (as answers see it: after disabled and inverted).
    pub to: String,
    /// The probe result or rule that caused it.
    pub reason: String,
    /// RFC 3339, milliseconds.
    pub at: String,
    /// The node that saw it (`local` on a single node): in a cluster every node posts its own
    /// events.
    pub node: String,
}

/// An event as posted: its id, then its fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
struct Posted {
    /// Random, the same for every try of this event (for the receiver to drop repeats).
    id: String,
    #[serde(flatten)]
    event: WebhookEvent,
}

/// Where and how events are posted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookTarget {
    /// An `http://` or `https://` URL.
    pub url: String,
    /// The HMAC-SHA256 key every delivery is signed with.
    pub secret: Vec<u8>,
    /// For `https://`: trust only this CA file (PEM) instead of the system's trust store.
    pub ca: Option<std::path::PathBuf>,
}

/// The sender side; cheap to clone.
#[derive(Debug, Clone)]
pub struct Webhook {
    tx: mpsc::Sender<Posted>,
}

/// The task that posts queued events: run it in the node's task tree
/// ([`WebhookSender::run`]).
pub struct WebhookSender {
    url: String,
    key: ring::hmac::Key,
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    rx: mpsc::Receiver<Posted>,
}

impl std::fmt::Debug for WebhookSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSender").field("url", &self.url).finish_non_exhaustive()
    }
}

/// The `Turnout-Signature` value of a delivery: `v1=` and the hex HMAC-SHA256 of
/// `<timestamp>.<body>` under `secret`.
pub fn signature(secret: &[u8], timestamp: u64, body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    sign(&key, timestamp, body)
}

fn sign(key: &ring::hmac::Key, timestamp: u64, body: &[u8]) -> String {
    let mut context = ring::hmac::Context::with_key(key);
    context.update(timestamp.to_string().as_bytes());
    context.update(b".");
    context.update(body);
    let tag = context.sign();
    let mut out = String::with_capacity(3 + 64);
    out.push_str("v1=");
    for b in tag.as_ref() {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

impl Webhook {
    /// A webhook for `target`: the handle that queues events, and the task that sends them.
    /// Fails if the URL's scheme is neither http nor https, or the CA file is not usable.
    pub fn new(target: WebhookTarget) -> Result<(Webhook, WebhookSender), String> {
        let https = target.url.starts_with("https://");
        if !https && !target.url.starts_with("http://") {
            return Err(format!("{:?} is not an http:// or https:// URL", target.url));
        }
        let connector =
            crate::tls::connector(https, target.ca.as_deref(), None).map_err(|e| e.to_string())?;
        let client = Client::builder(TokioExecutor::new()).build(connector);
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &target.secret);
        let (tx, rx) = mpsc::channel::<Posted>(QUEUE);
        Ok((Webhook { tx }, WebhookSender { url: target.url, key, client, rx }))
    }

    /// Queues an event; never waits.
    pub fn send(&self, event: WebhookEvent) {
        let mut id = [0u8; 12];
        let _fallback = getrandom::fill(&mut id);
        let id = id.iter().map(|b| format!("{b:02x}")).collect();
        if let Err(e) = self.tx.try_send(Posted { id, event }) {
            warn!("webhook queue full or closed; an event was dropped ({e})");
        }
    }
}

impl WebhookSender {
    /// Sends events as they come, each with retries and backoff, until `shutdown`; then
    /// delivers what is queued (one try each, the event in hand finished first) for at most
    /// `drain`, so that a node stopping still tells of the changes it saw.
    pub async fn run(mut self, shutdown: CancellationToken, drain: Duration) {
        loop {
            let event = tokio::select! {
                () = shutdown.cancelled() => break,
                e = self.rx.recv() => match e { Some(e) => e, None => return },
            };
            self.deliver(&event, ATTEMPTS, &shutdown).await;
        }
        let deadline = tokio::time::Instant::now() + drain;
        let mut left = 0usize;
        while let Ok(event) = self.rx.try_recv() {
            if tokio::time::Instant::now() >= deadline {
                left += 1;
                continue;
            }
            let sent = tokio::time::timeout_at(deadline, self.deliver(&event, 1, &shutdown));
            if sent.await.is_err() {
                left += 1;
            }
        }
        if left > 0 {
            warn!(
                "webhook {}: {left} queued event(s) not delivered within {} of stopping",
                self.url,
                humantime::format_duration(drain)
            );
        }
    }

    /// Posts one event, up to `attempts` times; the pause between tries ends at `shutdown`.
    async fn deliver(&self, posted: &Posted, attempts: u32, shutdown: &CancellationToken) {
        let url = &self.url;
        let event = &posted.event;
        let body = serde_json::to_vec(posted).unwrap_or_default();
        let mut backoff = Duration::from_millis(500);
        for attempt in 1..=attempts {
            // Each try is signed when it is sent, so that a receiver's freshness window holds
            // for retries too.
            let timestamp = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let request = hyper::Request::post(url)
                .header(hyper::header::CONTENT_TYPE, "application/json")
                .header(hyper::header::USER_AGENT, "Turnout-Webhook/1")
                .header("turnout-event-id", &posted.id)
                .header("turnout-timestamp", timestamp.to_string())
                .header("turnout-signature", sign(&self.key, timestamp, &body))
                .body(Full::new(Bytes::from(body.clone())));
            let Ok(request) = request else {
                warn!("webhook URL {url:?} is not usable; event dropped");
                return;
            };
            match tokio::time::timeout(TIMEOUT, self.client.request(request)).await {
                Ok(Ok(r)) if r.status().is_success() => return,
                Ok(Ok(r)) => warn!("webhook {url}: HTTP {} (try {attempt})", r.status()),
                Ok(Err(e)) => {
                    warn!("webhook {url}: {} (try {attempt})", crate::tls::error_chain(&e))
                }
                Err(_) => warn!("webhook {url}: timed out (try {attempt})"),
            }
            if attempt == attempts {
                break;
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(30));
        }
        warn!("webhook {url}: gave up on the {} event of {}", event.to, event.check);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_sha256_of_timestamp_dot_body() {
        // Computed independently: Python's hmac.new(b"Jefe", b'1764850000.{"id":"x"}',
        // hashlib.sha256).hexdigest().
        assert_eq!(
            signature(b"Jefe", 1_764_850_000, br#"{"id":"x"}"#),
            "v1=08218c1523e2e2f440ae727ebbd2a827518f7b120e162e772f86ca5147cbb2c7"
        );
        assert_ne!(
            signature(b"Jefe", 1_764_850_001, br#"{"id":"x"}"#),
            signature(b"Jefe", 1_764_850_000, br#"{"id":"x"}"#)
        );
    }
}
