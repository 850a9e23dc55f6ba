//! DNS over TCP (RFC 7766, RFC 1035 §4.2.2): two-byte length prefixes, pipelined queries
//! answered in order, an idle timeout between queries and while a query arrives, and a cap on
//! open connections. Responses of a pipelined burst are flushed together.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, warn};

use crate::encode::{TCP_LIMIT, Transport};
use crate::{SnapshotHandle, respond};

/// Per-connection settings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnSettings {
    pub(crate) idle: Duration,
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
pub(crate) async fn accept_loop(
    listener: TcpListener,
    handle: SnapshotHandle,
    settings: ConnSettings,
    stop: CancellationToken,
    tracker: TaskTracker,
    limit: Arc<Semaphore>,
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
        let Ok(permit) = limit.clone().try_acquire_owned() else {
            debug!("DNS/TCP connection from {peer} closed: connection limit reached");
            drop(stream);
            continue;
        };
        let (handle, stop) = (handle.clone(), stop.clone());
        tracker.spawn(async move {
            if let Err(e) = serve_connection(stream, &handle, settings, &stop).await {
                debug!("DNS/TCP connection from {peer} ended: {e}");
            }
            drop(permit);
        });
    }
}

async fn serve_connection(
    stream: TcpStream,
    handle: &SnapshotHandle,
    settings: ConnSettings,
    stop: &CancellationToken,
) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let client = stream.peer_addr().ok().map(|a| a.ip().to_canonical());
    let (rd, wr) = stream.into_split();
    let mut reader = BufReader::with_capacity(4096, rd);
    let mut writer = BufWriter::with_capacity(4096, wr);
    let mut msg = Vec::new();
    let mut out = vec![0u8; TCP_LIMIT + 2];
    let timed_out = || io::Error::new(io::ErrorKind::TimedOut, "idle timeout");
    loop {
        // Between queries: the next length prefix, the idle timeout, or shutdown.
        let len = tokio::select! {
            biased;
            () = stop.cancelled() => break,
            r = timeout(settings.idle, reader.read_u16()) => match r {
                Err(_) => break,
                Ok(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => break,
                Ok(r) => usize::from(r?),
            },
        };
        if len == 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "zero-length message"));
        }
        if msg.len() < len {
            msg.resize(len, 0);
        }
        timeout(settings.idle, reader.read_exact(&mut msg[..len]))
            .await
            .map_err(|_| timed_out())??;
        let n = {
            let snap = handle.load();
            respond(&snap, &msg[..len], Transport::Tcp, client, &mut out[2..])
        };
        if let Some(n) = n {
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
