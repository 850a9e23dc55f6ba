//! The DNS server: binds every socket up front, then serves until shut down or until a listener
//! dies.
//!
//! UDP runs on dedicated threads, one SO_REUSEPORT socket each, so the kernel spreads queries
//! over the cores and each thread answers batches (`recvmmsg`/`sendmmsg` on Linux) without
//! waking any other. TCP (RFC 7766) runs on the tokio runtime: pipelined queries, an idle
//! timeout, a connection limit. Every worker reports its exit; [`DnsServer::run`] returns an
//! error as soon as one ends unexpectedly, so the process can exit non-zero instead of serving
//! on half its sockets. On shutdown UDP workers answer what they already read and stop; TCP
//! connections finish the query in hand and close, within a grace period.

mod tcp;
mod udp;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{error, info, warn};

use crate::SnapshotHandle;
use crate::door::Door;
use crate::shield::Shield;
use crate::stats::DnsStats;
use crate::tap::{Tap, TapConfig, Taps};

/// Settings of the DNS listeners.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsConfig {
    /// Addresses to serve on, UDP and TCP each. Port 0 picks a free port (the same for both).
    pub listen: Vec<SocketAddr>,
    /// UDP sockets and threads per address.
    pub udp_workers: usize,
    /// How long a TCP connection may sit idle between queries (RFC 7766 §6.2.3).
    pub tcp_idle_timeout: Duration,
    /// How many TCP connections may be open at once; at the cap a newcomer takes the place of
    /// the connection idle longest, or is closed if every one is busy.
    pub tcp_max_connections: usize,
    /// How long shutdown waits for TCP connections to finish.
    pub drain_grace: Duration,
}

impl Default for DnsConfig {
    fn default() -> Self {
        DnsConfig {
            listen: vec![SocketAddr::from(([127, 0, 0, 1], 5300))],
            udp_workers: std::thread::available_parallelism().map_or(1, usize::from),
            tcp_idle_timeout: Duration::from_secs(10),
            tcp_max_connections: 512,
            drain_grace: Duration::from_secs(5),
        }
    }
}

/// Why the server stopped serving.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// A socket could not be opened.
    #[error("cannot listen for DNS/{proto} on {addr}: {io}")]
    Bind {
        /// "UDP" or "TCP".
        proto: &'static str,
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error (in the message, not as a source: a chain would print it twice).
        io: std::io::Error,
    },
    /// A listener stopped while the server was meant to be running.
    #[error("the DNS/{proto} listener on {addr} died: {reason}")]
    ListenerDied {
        /// "UDP" or "TCP".
        proto: &'static str,
        /// Its address.
        addr: SocketAddr,
        /// What happened.
        reason: String,
    },
}

struct Endpoint {
    addr: SocketAddr,
    udp: Vec<std::net::UdpSocket>,
    tcp: std::net::TcpListener,
}

/// A bound DNS server, ready to [`run`](DnsServer::run).
pub struct DnsServer {
    config: DnsConfig,
    endpoints: Vec<Endpoint>,
    shield: Arc<Shield>,
    stats: Arc<DnsStats>,
    counting: bool,
    taps: Arc<Taps>,
    /// The taps' writer threads, joined at shutdown.
    writers: Vec<std::thread::JoinHandle<()>>,
    /// Where transfers, NOTIFY, UPDATE and signed messages go.
    door: Option<Arc<dyn Door>>,
}

/// A datagram a UDP worker hands to the door, with the socket its reply goes out on.
pub(crate) struct Handoff {
    message: Vec<u8>,
    client: SocketAddr,
    server: SocketAddr,
    socket: Arc<std::net::UdpSocket>,
}

/// A UDP worker's way to the door: a bounded queue (a full queue drops, as a busy server
/// drops datagrams) and its own handle on its socket for the replies.
#[derive(Clone)]
pub(crate) struct DoorQueue {
    tx: mpsc::Sender<Handoff>,
    socket: Arc<std::net::UdpSocket>,
    local: SocketAddr,
    stats: Arc<DnsStats>,
}

impl DoorQueue {
    /// Queues `message` from `client`; false when the queue is full.
    pub(crate) fn hand_off(&self, message: &[u8], client: SocketAddr) -> bool {
        let queued = self
            .tx
            .try_send(Handoff {
                message: message.to_vec(),
                client,
                server: self.local,
                socket: Arc::clone(&self.socket),
            })
            .is_ok();
        if !queued {
            self.stats.door_dropped.fetch_add(1, Ordering::Relaxed);
        }
        queued
    }
}

/// Door messages answered at once; more wait in the queue.
const DOOR_CONCURRENCY: usize = 64;
/// Datagrams waiting for the door.
const DOOR_QUEUE: usize = 1024;

/// Answers the datagrams UDP workers hand over, each in its own task, until `stop`.
async fn door_loop(
    door: Arc<dyn Door>,
    mut rx: mpsc::Receiver<Handoff>,
    stop: CancellationToken,
    tracker: TaskTracker,
) {
    let permits = Arc::new(tokio::sync::Semaphore::new(DOOR_CONCURRENCY));
    loop {
        let h = tokio::select! {
            () = stop.cancelled() => return,
            h = rx.recv() => match h { Some(h) => h, None => return },
        };
        let Ok(permit) = Arc::clone(&permits).acquire_owned().await else { return };
        let door = Arc::clone(&door);
        tracker.spawn(async move {
            let replies = door.open(h.message, h.client, h.server, crate::Transport::Udp).await;
            if let Some(reply) = replies.first()
                && let Err(e) = h.socket.send_to(reply, h.client)
            {
                tracing::debug!("DNS/UDP reply to {} failed: {e}", h.client);
            }
            drop(permit);
        });
    }
}

/// How a worker ended.
type Exit = (&'static str, SocketAddr, Result<(), String>);

/// Reports a worker's end on drop, so a panic is reported too.
struct ExitReport {
    tx: mpsc::UnboundedSender<Exit>,
    proto: &'static str,
    addr: SocketAddr,
    result: Option<Result<(), String>>,
}

impl Drop for ExitReport {
    fn drop(&mut self) {
        let result = self.result.take().unwrap_or_else(|| Err("the worker panicked".to_owned()));
        // The receiver is gone only when the server already stopped; nothing left to tell.
        let _ignored = self.tx.send((self.proto, self.addr, result));
    }
}

impl DnsServer {
    /// Opens every socket. Nothing is served until [`run`](DnsServer::run).
    pub fn bind(config: DnsConfig) -> Result<DnsServer, ServerError> {
        let mut endpoints = Vec::with_capacity(config.listen.len());
        for &addr in &config.listen {
            endpoints.push(bind_endpoint(addr, config.udp_workers.max(1))?);
        }
        let stats = Arc::new(DnsStats::new(endpoints.iter().map(|e| e.udp.len()).sum()));
        Ok(DnsServer {
            config,
            endpoints,
            shield: Arc::new(Shield::off()),
            stats,
            counting: true,
            taps: Arc::default(),
            writers: Vec::new(),
            door: None,
        })
    }

    /// Hands zone transfers, NOTIFY, UPDATE and TSIG-signed messages to `door` (without one
    /// they are refused: REFUSED, NOTIMP or NOTAUTH).
    #[must_use]
    pub fn with_door(mut self, door: Arc<dyn Door>) -> Self {
        self.door = Some(door);
        self
    }

    /// Writes sampled queries and replies to each of `outputs` (dnstap, the query log), each
    /// through its own writer thread (started now).
    pub fn with_taps(mut self, outputs: Vec<TapConfig>) -> std::io::Result<Self> {
        let mut taps = Vec::with_capacity(outputs.len());
        for config in outputs {
            let (tap, writer) = Tap::start(config)?;
            taps.push(tap);
            self.writers.push(writer);
        }
        self.taps = Arc::new(Taps(taps));
        Ok(self)
    }

    /// The outputs (for their counters).
    pub fn taps(&self) -> Arc<Taps> {
        Arc::clone(&self.taps)
    }

    /// Whether queries are counted in [`DnsServer::stats`] (on by default; off only to measure
    /// what counting costs).
    #[must_use]
    pub fn counting(mut self, on: bool) -> Self {
        self.counting = on;
        self
    }

    /// The server's counters (read them at any time, e.g. for `/metrics`).
    pub fn stats(&self) -> Arc<DnsStats> {
        Arc::clone(&self.stats)
    }

    /// Serves under `shield` (cookies, rate limits, identity) instead of none.
    #[must_use]
    pub fn with_shield(mut self, shield: Arc<Shield>) -> Self {
        self.shield = shield;
        self
    }

    /// The bound addresses (with the ports the OS picked for port 0), one per configured address.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.endpoints.iter().map(|e| e.addr).collect()
    }

    /// Serves until `shutdown` is cancelled (then drains and returns `Ok`) or a listener dies
    /// (then stops the others and returns the error).
    pub async fn run(
        self,
        handle: SnapshotHandle,
        shutdown: CancellationToken,
    ) -> Result<(), ServerError> {
        self.shield.open_door(self.door.is_some());
        let stop = Arc::new(AtomicBool::new(false));
        let tcp_stop = CancellationToken::new();
        let tracker = TaskTracker::new();
        let connections = tcp::Connections::new(self.config.tcp_max_connections);
        let (tx, mut rx) = mpsc::unbounded_channel::<Exit>();
        let door_tx = self.door.as_ref().map(|door| {
            let (door_tx, door_rx) = mpsc::channel(DOOR_QUEUE);
            tracker.spawn(door_loop(Arc::clone(door), door_rx, tcp_stop.clone(), tracker.clone()));
            door_tx
        });
        let mut workers = 0usize;
        let mut shard = 0usize;
        for ep in self.endpoints {
            let n = ep.udp.len();
            for (i, sock) in ep.udp.into_iter().enumerate() {
                let report =
                    ExitReport { tx: tx.clone(), proto: "UDP", addr: ep.addr, result: None };
                let (worker_handle, worker_stop) = (handle.clone(), stop.clone());
                let worker_shield = Arc::clone(&self.shield);
                let worker_taps = Arc::clone(&self.taps);
                let door_queue = match (&door_tx, sock.try_clone()) {
                    (Some(tx), Ok(reply_socket)) => Some(DoorQueue {
                        tx: tx.clone(),
                        socket: Arc::new(reply_socket),
                        local: ep.addr,
                        stats: Arc::clone(&self.stats),
                    }),
                    (Some(_), Err(e)) => {
                        stop.store(true, Ordering::Relaxed);
                        return Err(ServerError::ListenerDied {
                            proto: "UDP",
                            addr: ep.addr,
                            reason: format!("cannot share a socket with the door: {e}"),
                        });
                    }
                    (None, _) => None,
                };
                let (worker_stats, my_shard, counting) =
                    (Arc::clone(&self.stats), shard, self.counting);
                shard += 1;
                let spawned =
                    std::thread::Builder::new().name(format!("dns-udp-{i}")).spawn(move || {
                        let mut report = report;
                        let tally = counting.then(|| worker_stats.udp_shard(my_shard));
                        let r = udp::serve(
                            sock,
                            &worker_handle,
                            &worker_shield,
                            tally,
                            &worker_taps,
                            door_queue.as_ref(),
                            &worker_stop,
                        );
                        report.result = Some(r.map_err(|e| e.to_string()));
                    });
                match spawned {
                    Ok(_detached) => {}
                    Err(e) => {
                        stop.store(true, Ordering::Relaxed);
                        return Err(ServerError::ListenerDied {
                            proto: "UDP",
                            addr: ep.addr,
                            reason: format!("cannot start a worker thread: {e}"),
                        });
                    }
                }
                workers += 1;
            }
            info!("listening for DNS/UDP on {} ({n} sockets)", ep.addr);
            let listener = tokio::net::TcpListener::from_std(ep.tcp)
                .map_err(|io| ServerError::Bind { proto: "TCP", addr: ep.addr, io })?;
            info!("listening for DNS/TCP on {}", ep.addr);
            let report = ExitReport { tx: tx.clone(), proto: "TCP", addr: ep.addr, result: None };
            let conn = tcp::ConnSettings {
                idle: self.config.tcp_idle_timeout,
                taps: Arc::clone(&self.taps),
                door: self.door.clone(),
            };
            let (handle, stop, tracker2, connections) =
                (handle.clone(), tcp_stop.clone(), tracker.clone(), connections.clone());
            let (shield, stats) = (Arc::clone(&self.shield), Arc::clone(&self.stats));
            let counting = self.counting;
            tracker.spawn(async move {
                let mut report = report;
                let r = tcp::accept_loop(
                    listener,
                    handle,
                    shield,
                    (stats, counting),
                    conn,
                    stop,
                    tracker2,
                    connections,
                )
                .await;
                report.result = Some(r.map_err(|e| e.to_string()));
            });
            workers += 1;
        }
        drop(tx);
        drop(door_tx);

        let outcome = tokio::select! {
            () = shutdown.cancelled() => Ok(()),
            exit = rx.recv() => match exit {
                Some((proto, addr, result)) => {
                    let reason = match result {
                        Ok(()) => "it stopped".to_owned(),
                        Err(e) => e,
                    };
                    error!("the DNS/{proto} listener on {addr} died: {reason}");
                    Err(ServerError::ListenerDied { proto, addr, reason })
                }
                None => Ok(()),
            },
        };
        if outcome.is_ok() {
            info!("shutting down: draining DNS listeners");
        }
        stop.store(true, Ordering::Relaxed);
        tcp_stop.cancel();
        tracker.close();
        let grace = self.config.drain_grace;
        let drained = tokio::time::timeout(grace, async {
            tracker.wait().await;
            while workers > 0 && rx.recv().await.is_some() {
                workers -= 1;
            }
        })
        .await;
        if drained.is_err() {
            warn!("DNS listeners did not drain within {}s; closing the rest", grace.as_secs_f64());
        }
        // The taps' writers end once every worker let go of its sender: they write what is
        // queued and close their outputs (a dnstap STOP frame) first.
        drop(self.taps);
        let writers = self.writers;
        let joined = tokio::task::spawn_blocking(move || {
            for w in writers {
                let _ended = w.join();
            }
        });
        if tokio::time::timeout(grace, joined).await.is_err() {
            warn!("dnstap or query-log writers did not finish within {}s", grace.as_secs_f64());
        }
        outcome
    }
}

fn bind_endpoint(addr: SocketAddr, workers: usize) -> Result<Endpoint, ServerError> {
    let udp_err = |io| ServerError::Bind { proto: "UDP", addr, io };
    let tcp_err = |io| ServerError::Bind { proto: "TCP", addr, io };
    // TCP first: its listener is exclusive, so a second server on the same port fails here,
    // before its SO_REUSEPORT UDP sockets could take a share of this one's queries. With
    // port 0 the OS picks the TCP port and UDP must get the same one, which may be taken:
    // then try another.
    let attempts = if addr.port() == 0 { 16 } else { 1 };
    let mut last = None;
    for _ in 0..attempts {
        let tcp = tcp_listener(addr).map_err(tcp_err)?;
        let bound = tcp.local_addr().map_err(tcp_err)?;
        match udp_socket(bound) {
            Ok(first) => {
                let mut udp = vec![first];
                for _ in 1..workers {
                    udp.push(udp_socket(bound).map_err(udp_err)?);
                }
                return Ok(Endpoint { addr: bound, udp, tcp });
            }
            Err(e) if addr.port() == 0 && e.kind() == std::io::ErrorKind::AddrInUse => {
                last = Some(e)
            }
            Err(e) => return Err(udp_err(e)),
        }
    }
    Err(udp_err(last.unwrap_or_else(|| std::io::Error::other("no free port"))))
}

fn udp_socket(addr: SocketAddr) -> std::io::Result<std::net::UdpSocket> {
    let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    #[cfg(unix)]
    s.set_reuse_port(true)?;
    // Best effort: bigger buffers absorb bursts; the kernel caps them at net.core.*mem_max.
    let _best_effort = s.set_recv_buffer_size(4 << 20);
    let _best_effort = s.set_send_buffer_size(4 << 20);
    s.set_read_timeout(Some(udp::POLL_INTERVAL))?;
    s.bind(&addr.into())?;
    Ok(s.into())
}

fn tcp_listener(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    s.set_reuse_address(true)?;
    s.bind(&addr.into())?;
    s.listen(1024)?;
    s.set_nonblocking(true)?;
    Ok(s.into())
}

#[cfg(test)]
mod tests;
