//! DNS over TCP (RFC 7766, RFC 1035 §4.2.2): two-byte length prefixes, pipelined queries
//! answered in order, an idle timeout between queries and while a query arrives, and a cap on
//! open connections. At the cap, a newcomer takes the place of the connection that has been
//! idle longest (RFC 7766 §6.2.2), so that one client holding idle connections cannot lock the
//! others out; only when every connection is busy is the newcomer closed. Responses of a
//! pipelined burst are flushed together.

use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, warn};

use crate::encode::{TCP_LIMIT, Transport};
use crate::shield::Shield;
use crate::stats::{DnsStats, Shard};
use crate::tap::{Exchange, Taps};
use crate::{SnapshotHandle, respond_with};

/// A connection's state as the registry sees it.
struct Conn {
    /// Milliseconds since the registry's start when it began waiting for a query; BUSY while a
    /// query is read or answered.
    idle_since: AtomicU64,
    /// Cancelled to close it.
    close: CancellationToken,
}

const BUSY: u64 = u64::MAX;

/// The open connections of every DNS/TCP listener, up to a cap.
pub(crate) struct Connections {
    cap: usize,
    start: Instant,
    next: AtomicU64,
    open: Mutex<HashMap<u64, Arc<Conn>>>,
}

/// A connection's place in the registry, given back when dropped.
pub(crate) struct Slot {
    registry: Arc<Connections>,
    id: u64,
    conn: Arc<Conn>,
}

impl Connections {
    pub(crate) fn new(cap: usize) -> Arc<Connections> {
        Arc::new(Connections {
            cap: cap.max(1),
            start: Instant::now(),
            next: AtomicU64::new(0),
            open: Mutex::new(HashMap::new()),
        })
    }

    fn now(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    /// A place for a new connection: a free one, or the place of the connection idle longest
    /// (which is told to close; then the flag is set). None when every connection is busy.
    pub(crate) fn admit(self: &Arc<Self>) -> Option<(Slot, bool)> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let full = open.len() >= self.cap;
        if full {
            let oldest = open
                .iter()
                .map(|(id, c)| (*id, c.idle_since.load(Ordering::Relaxed)))
                .filter(|(_, since)| *since != BUSY)
                .min_by_key(|(_, since)| *since)?;
            if let Some(evicted) = open.remove(&oldest.0) {
                evicted.close.cancel();
            }
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let conn = Arc::new(Conn {
            idle_since: AtomicU64::new(self.now()),
            close: CancellationToken::new(),
        });
        open.insert(id, Arc::clone(&conn));
        Some((Slot { registry: Arc::clone(self), id, conn }, full))
    }
}

impl Slot {
    fn idle(&self) {
        self.conn.idle_since.store(self.registry.now(), Ordering::Relaxed);
    }

    fn busy(&self) {
        self.conn.idle_since.store(BUSY, Ordering::Relaxed);
    }

    /// Cancelled when a newcomer took this connection's place.
    fn evicted(&self) -> &CancellationToken {
        &self.conn.close
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.registry.open.lock().unwrap_or_else(PoisonError::into_inner);
        open.remove(&self.id);
    }
}

/// Per-connection settings.
#[derive(Debug, Clone)]
pub(crate) struct ConnSettings {
    pub(crate) idle: Duration,
    /// dnstap and the query log.
    pub(crate) taps: Arc<Taps>,
    /// Where transfers, NOTIFY, UPDATE and signed messages go.
    pub(crate) door: Option<Arc<dyn crate::door::Door>>,
}

/// Accept errors that concern one connection or a passing shortage, not the listener.
fn transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
            | io::ErrorKind::TimedOut
            | io::ErrorKind::OutOfMemory
    ) || matches!(
        e.raw_os_error(),
        Some(
            libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM | libc::EPROTO | libc::EPERM
        )
    )
}

/// Accepts connections until `stop`; returns an error if the listener itself fails.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn accept_loop(
    listener: TcpListener,
    handle: SnapshotHandle,
    shield: Arc<Shield>,
    (stats, counting): (Arc<DnsStats>, bool),
    settings: ConnSettings,
    stop: CancellationToken,
    tracker: TaskTracker,
    connections: Arc<Connections>,
) -> io::Result<()> {
    loop {
        let accepted = tokio::select! {
            () = stop.cancelled() => return Ok(()),
            r = listener.accept() => r,
        };
        let (stream, peer) = match accepted {
            Ok(x) => x,
            Err(e) if transient(&e) => {
                warn!("DNS/TCP accept failed ({e}); retrying");
                // Out of descriptors or memory: give connections time to close.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
            Err(e) => return Err(e),
        };
        let Some((slot, evicted)) = connections.admit() else {
            stats.tcp_refused.fetch_add(1, Ordering::Relaxed);
            debug!("DNS/TCP connection from {peer} closed: every connection is busy");
            drop(stream);
            continue;
        };
        stats.tcp_accepted.fetch_add(1, Ordering::Relaxed);
        if evicted {
            stats.tcp_evicted.fetch_add(1, Ordering::Relaxed);
        }
        stats.tcp_open.fetch_add(1, Ordering::Relaxed);
        let (handle, shield, stop, stats, settings) =
            (handle.clone(), shield.clone(), stop.clone(), stats.clone(), settings.clone());
        tracker.spawn(async move {
            let tally = counting.then(|| stats.tcp_shard());
            let served = serve_connection(stream, &handle, &shield, tally, &settings, &stop, &slot);
            if let Err(e) = served.await {
                debug!("DNS/TCP connection from {peer} ended: {e}");
            }
            drop(slot);
            stats.tcp_open.fetch_sub(1, Ordering::Relaxed);
        });
    }
}

#[allow(clippy::too_many_arguments)]
async fn serve_connection(
    stream: TcpStream,
    handle: &SnapshotHandle,
    shield: &Shield,
    tally: Option<&Shard>,
    settings: &ConnSettings,
    stop: &CancellationToken,
    slot: &Slot,
) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let peer = stream.peer_addr().ok();
    let local = stream.local_addr().ok();
    let client = peer.map(|a| a.ip().to_canonical());
    let (rd, wr) = stream.into_split();
    let mut reader = BufReader::with_capacity(4096, rd);
    let mut writer = BufWriter::with_capacity(4096, wr);
    let mut msg = Vec::new();
    let mut out = vec![0u8; TCP_LIMIT + 2];
    let timed_out = || io::Error::new(io::ErrorKind::TimedOut, "idle timeout");
    loop {
        // Between queries: the next length prefix, the idle timeout, or shutdown.
        slot.idle();
        let len = tokio::select! {
            biased;
            () = stop.cancelled() => break,
            () = slot.evicted().cancelled() => break,
            r = timeout(settings.idle, reader.read_u16()) => match r {
                Err(_) => break,
                Ok(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => break,
                Ok(r) => usize::from(r?),
            },
        };
        slot.busy();
        if len == 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "zero-length message"));
        }
        if msg.len() < len {
            msg.resize(len, 0);
        }
        timeout(settings.idle, reader.read_exact(&mut msg[..len]))
            .await
            .map_err(|_| timed_out())??;
        let query_time = settings.taps.any().then(crate::tap::now);
        let reply = {
            let snap = handle.load();
            let now = super::udp::unix_now();
            let query = &msg[..len];
            respond_with(&snap, shield, tally, query, Transport::Tcp, client, now, &mut out[2..])
        };
        if let (Some(door), Some((_, rcode)), Some(client), Some(server)) =
            (&settings.door, reply, peer, local)
            && crate::door::wants(&msg[..len], rcode)
        {
            let replies = door.open(msg[..len].to_vec(), client, server, Transport::Tcp).await;
            for r in replies.iter().filter(|r| r.len() <= TCP_LIMIT) {
                let send = async {
                    writer.write_all(&(r.len() as u16).to_be_bytes()).await?;
                    writer.write_all(r).await
                };
                timeout(settings.idle, send).await.map_err(|_| timed_out())??;
            }
            timeout(settings.idle, writer.flush()).await.map_err(|_| timed_out())??;
            continue;
        }
        if let (Some(query_time), Some(client), Some(server)) = (query_time, peer, local) {
            let (n, rcode) = reply.map_or((0, 0), |(n, r)| (n, r.0));
            settings.taps.record(Exchange {
                query: &msg[..len],
                reply: &out[2..2 + n],
                rcode,
                client,
                server,
                transport: Transport::Tcp,
                query_time,
            });
        }
        if let Some((n, _)) = reply {
            out[..2].copy_from_slice(&(n as u16).to_be_bytes());
            timeout(settings.idle, writer.write_all(&out[..n + 2]))
                .await
                .map_err(|_| timed_out())??;
        }
        // Answer a pipelined burst in one write: flush only when no query is waiting.
        if reader.buffer().is_empty() {
            timeout(settings.idle, writer.flush()).await.map_err(|_| timed_out())??;
        }
    }
    timeout(settings.idle, async {
        writer.flush().await?;
        writer.shutdown().await
    })
    .await
    .map_err(|_| timed_out())?
}
