//! Webhooks: a JSON POST to an operator's URL on every status change of a check, sent by one
//! background task with retries and backoff. Probes never wait for it: events go through a
//! bounded queue, and when the queue is full (the receiver is down for long) new events are
//! dropped with a warning rather than slowing anything down.

use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
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
}

/// The sender side; cheap to clone.
#[derive(Debug, Clone)]
pub struct Webhook {
    tx: mpsc::Sender<WebhookEvent>,
}

impl Webhook {
    /// Starts the sending task for `url` (http only).
    pub fn start(url: String, shutdown: CancellationToken) -> Webhook {
        let (tx, mut rx) = mpsc::channel::<WebhookEvent>(QUEUE);
        tokio::spawn(async move {
            let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
            loop {
                let event = tokio::select! {
                    () = shutdown.cancelled() => return,
                    e = rx.recv() => match e { Some(e) => e, None => return },
                };
                let body = serde_json::to_vec(&event).unwrap_or_default();
                let mut backoff = Duration::from_millis(500);
                for attempt in 1..=ATTEMPTS {
                    let request = hyper::Request::post(&url)
                        .header(hyper::header::CONTENT_TYPE, "application/json")
                        .header(hyper::header::USER_AGENT, "Turnout-Webhook/1")
                        .body(Full::new(Bytes::from(body.clone())));
                    let Ok(request) = request else {
                        warn!("webhook URL {url:?} is not usable; event dropped");
                        break;
                    };
                    let sent = tokio::time::timeout(TIMEOUT, client.request(request)).await;
                    match sent {
                        Ok(Ok(r)) if r.status().is_success() => break,
                        Ok(Ok(r)) => warn!("webhook {url}: HTTP {} (try {attempt})", r.status()),
                        Ok(Err(e)) => warn!("webhook {url}: {e} (try {attempt})"),
                        Err(_) => warn!("webhook {url}: timed out (try {attempt})"),
                    }
                    if attempt == ATTEMPTS {
                        warn!(
                            "webhook {url}: gave up on the {} event of {}",
                            event.to, event.check
                        );
                        break;
                    }
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
            }
        });
        Webhook { tx }
    }

    /// Queues an event; never waits.
    pub fn send(&self, event: WebhookEvent) {
        if let Err(e) = self.tx.try_send(event) {
            warn!("webhook queue full or closed; an event was dropped ({e})");
        }
    }
}
