//! Webhooks: a JSON POST to an operator's URL on every status change of a check, sent by one
//! task of the node's task tree with retries and backoff, which delivers what is queued when
//! the node stops. Probes never wait for it: events go through a
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

/// The task that posts queued events: run it in the node's task tree
/// ([`WebhookSender::run`]).
#[derive(Debug)]
pub struct WebhookSender {
    url: String,
    rx: mpsc::Receiver<WebhookEvent>,
}

impl Webhook {
    /// A webhook for `url` (http only): the handle that queues events, and the task that
    /// sends them.
    pub fn new(url: String) -> (Webhook, WebhookSender) {
        let (tx, rx) = mpsc::channel::<WebhookEvent>(QUEUE);
        (Webhook { tx }, WebhookSender { url, rx })
    }

    /// Queues an event; never waits.
    pub fn send(&self, event: WebhookEvent) {
        if let Err(e) = self.tx.try_send(event) {
            warn!("webhook queue full or closed; an event was dropped ({e})");
        }
    }
}

impl WebhookSender {
    /// Sends events as they come, each with retries and backoff, until `shutdown`; then
    /// delivers what is queued (one try each, the event in hand finished first) for at most
    /// `drain`, so that a node stopping still tells of the changes it saw.
    pub async fn run(mut self, shutdown: CancellationToken, drain: Duration) {
        let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
        loop {
            let event = tokio::select! {
                () = shutdown.cancelled() => break,
                e = self.rx.recv() => match e { Some(e) => e, None => return },
            };
            self.deliver(&client, &event, ATTEMPTS, &shutdown).await;
        }
        let deadline = tokio::time::Instant::now() + drain;
        let mut left = 0usize;
        while let Ok(event) = self.rx.try_recv() {
            if tokio::time::Instant::now() >= deadline {
                left += 1;
                continue;
            }
            let sent =
                tokio::time::timeout_at(deadline, self.deliver(&client, &event, 1, &shutdown));
            if sent.await.is_err() {
                left += 1;
            }
        }
        if left > 0 {
            warn!(
                "webhook {}: {left} queued event(s) not delivered within {drain:?} of stopping",
                self.url
            );
        }
    }

    /// Posts one event, up to `attempts` times; the pause between tries ends at `shutdown`.
    async fn deliver(
        &self,
        client: &Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
        event: &WebhookEvent,
        attempts: u32,
        shutdown: &CancellationToken,
    ) {
        let url = &self.url;
        let body = serde_json::to_vec(event).unwrap_or_default();
        let mut backoff = Duration::from_millis(500);
        for attempt in 1..=attempts {
            let request = hyper::Request::post(url)
                .header(hyper::header::CONTENT_TYPE, "application/json")
                .header(hyper::header::USER_AGENT, "Turnout-Webhook/1")
                .body(Full::new(Bytes::from(body.clone())));
            let Ok(request) = request else {
                warn!("webhook URL {url:?} is not usable; event dropped");
                return;
            };
            match tokio::time::timeout(TIMEOUT, client.request(request)).await {
                Ok(Ok(r)) if r.status().is_success() => return,
                Ok(Ok(r)) => warn!("webhook {url}: HTTP {} (try {attempt})", r.status()),
                Ok(Err(e)) => warn!("webhook {url}: {e} (try {attempt})"),
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
