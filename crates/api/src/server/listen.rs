//! Accepting API connections under limits, so that slow or idle clients cannot take the node's
//! file descriptors (which its health probes need) or lock other clients out:
//!
//! - a client must send a request's whole header within [`HEADER_TIMEOUT`] of connecting, or
//!   of the previous response on a kept-alive connection;
//! - a request (its body included) must be answered within [`REQUEST_TIMEOUT`], else 408;
//! - at most [`PER_CLIENT`] connections per client address, and at most the listener's
//!   connection cap in all (see [`connection_cap`]); a connection over either is closed at
//!   once.
//!
//! On shutdown the listener stops accepting, every connection finishes the request in hand
//! (idle ones close at once), and after [`DRAIN`] the rest are dropped.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, warn};

use crate::error::ApiError;
use crate::tls::ServerTls;

/// How long a client may take to send a request's header (and how long a kept-alive
/// connection may sit idle between requests).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a request may take in all, its body included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Connections one client address may hold at once.
pub const PER_CLIENT: usize = 32;
/// How long connections may take to finish their requests at shutdown.
const DRAIN: Duration = Duration::from_secs(10);

/// The most connections one API listener holds: a quarter of the process's descriptor limit,
/// between 16 and 1,024, so that most descriptors stay for health probes, DNS over TCP and the
/// store whatever clients do.
pub fn connection_cap() -> usize {
    let descriptors = rlimit::getrlimit(rlimit::Resource::NOFILE)
        .map_or(1024, |(soft, _)| usize::try_from(soft).unwrap_or(usize::MAX));
    (descriptors / 4).clamp(16, 1024)
}

/// Answers 408 to a request not answered within [`REQUEST_TIMEOUT`] (a body sent too slowly).
pub(crate) async fn request_deadline(request: Request, next: Next) -> Response {
    match tokio::time::timeout(REQUEST_TIMEOUT, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "RequestTimeout",
            format!("the request was not received and answered within {REQUEST_TIMEOUT:?}"),
        )
        .into_response(),
    }
}

/// Cancelled when the server stops: long-lived responses (the console's event stream) end
/// then instead of holding the drain. In every request's extensions.
#[derive(Clone)]
pub(crate) struct Stopping(pub CancellationToken);

/// Connections held per client address.
#[derive(Default)]
struct Clients(Mutex<HashMap<IpAddr, usize>>);

/// One client's connection slot, given back when dropped.
struct Slot {
    clients: Arc<Clients>,
    ip: IpAddr,
}

impl Clients {
    fn take(self: &Arc<Self>, ip: IpAddr) -> Option<Slot> {
        let mut held = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let n = held.entry(ip).or_default();
        if *n >= PER_CLIENT {
            return None;
        }
        *n += 1;
        Some(Slot { clients: Arc::clone(self), ip })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut held = self.clients.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = held.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                held.remove(&self.ip);
            }
        }
    }
}

/// Whether an accept error is this process's own (out of descriptors or buffers): the
/// listener pauses rather than spinning.
fn local_shortage(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM))
}

/// Serves `app` on `listener` (over TLS when `tls` is given) under the limits above until
/// `shutdown`, then drains.
pub(crate) async fn serve(
    listener: TcpListener,
    tls: Option<Arc<ServerTls>>,
    app: Router,
    cap: usize,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let open = Arc::new(Semaphore::new(cap));
    let clients = Arc::new(Clients::default());
    let tracker = TaskTracker::new();
    let mut warned_full = false;
    loop {
        let (stream, peer): (tokio::net::TcpStream, SocketAddr) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) if local_shortage(&e) => {
                    warn!("the API cannot accept a connection ({e}); pausing 100 ms");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
                Err(e) => {
                    debug!("accept failed: {e}");
                    continue;
                }
            },
        };
        let Ok(permit) = Arc::clone(&open).try_acquire_owned() else {
            if !warned_full {
                warn!("the API holds {cap} connections, its cap: closing new ones until some end");
                warned_full = true;
            }
            continue;
        };
        warned_full = false;
        let Some(slot) = clients.take(peer.ip()) else {
            debug!("{} holds {PER_CLIENT} API connections already: closed a new one", peer.ip());
            continue;
        };
        let _ = stream.set_nodelay(true);
        // The client's address, for the audit trail.
        let app = app
            .clone()
            .layer(axum::Extension(axum::extract::ConnectInfo(peer)))
            .layer(axum::Extension(Stopping(shutdown.clone())));
        let service = TowerToHyperService::new(app);
        let shutdown = shutdown.clone();
        let acceptor = tls.as_ref().map(|t| t.acceptor());
        tracker.spawn(async move {
            let result = match acceptor {
                None => connection(TokioIo::new(stream), service, &shutdown).await,
                // The handshake is part of the header's time: a client that stalls in it is
                // dropped like one that stalls in its request line.
                Some(acceptor) => tokio::select! {
                    () = shutdown.cancelled() => Ok(()),
                    r = tokio::time::timeout(HEADER_TIMEOUT, acceptor.accept(stream)) => match r {
                        Ok(Ok(tls)) => connection(TokioIo::new(tls), service, &shutdown).await,
                        Ok(Err(e)) => {
                            debug!("TLS handshake with {peer} failed: {e}");
                            Ok(())
                        }
                        Err(_) => {
                            debug!("TLS handshake with {peer} took longer than {}s", HEADER_TIMEOUT.as_secs_f64());
                            Ok(())
                        }
                    },
                },
            };
            if let Err(e) = result {
                debug!("API connection from {peer} ended: {e}");
            }
            drop((permit, slot));
        });
    }
    tracker.close();
    tracker.wait().await;
    Ok(())
}

/// Serves HTTP/1.1 on one connection until it ends, or until `shutdown` and then the request
/// in hand (for at most [`DRAIN`]).
async fn connection<I>(
    io: TokioIo<I>,
    service: TowerToHyperService<Router>,
    shutdown: &CancellationToken,
) -> Result<(), hyper::Error>
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .serve_connection(io, service);
    let mut connection = std::pin::pin!(connection);
    let finished = tokio::select! {
        r = connection.as_mut() => Some(r),
        () = shutdown.cancelled() => None,
    };
    match finished {
        Some(r) => r,
        None => {
            connection.as_mut().graceful_shutdown();
            tokio::time::timeout(DRAIN, connection).await.unwrap_or(Ok(()))
        }
    }
}
