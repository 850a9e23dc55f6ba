//! The server over real loopback sockets, in process.

use std::time::Duration;

use turnout_testkit::process::{tcp_exchange, udp_exchange};
use turnout_testkit::{QueryBuilder, render};

use super::*;
use crate::Snapshot;
use crate::snapshot::tests::test_snapshot;

fn config() -> DnsConfig {
    DnsConfig {
        listen: vec!["127.0.0.1:0".parse().expect("addr")],
        udp_workers: 2,
        tcp_idle_timeout: Duration::from_millis(500),
        tcp_max_connections: 2,
        drain_grace: Duration::from_secs(2),
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("no panic")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_udp_and_pipelined_tcp_then_drains() {
    let server = DnsServer::bind(config()).expect("binds");
    let addr = server.local_addrs()[0];
    assert_ne!(addr.port(), 0);
    let handle = SnapshotHandle::new(test_snapshot());
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(server.run(handle.clone(), shutdown.clone()));

    let q = QueryBuilder::new("www.example.test", "A").build();
    let reply =
        blocking(move || udp_exchange(addr, &q, Duration::from_secs(5))).await.expect("UDP reply");
    assert!(render(&reply).expect("decodes").contains("an www.example.test. 300 IN A 192.0.2.1"));

    let queries: Vec<Vec<u8>> = (0..5u16)
        .map(|i| {
            let mut q = QueryBuilder::new("mail.example.test", "A");
            q.id = i;
            q.build()
        })
        .collect();
    let replies = blocking(move || tcp_exchange(addr, &queries, 5)).await.expect("TCP replies");
    let ids: Vec<u16> = replies.iter().map(|r| u16::from_be_bytes([r[0], r[1]])).collect();
    assert_eq!(ids, [0, 1, 2, 3, 4], "pipelined replies come back in order");

    // Publishing a new snapshot changes answers at once.
    handle.publish(Snapshot::empty());
    let q = QueryBuilder::new("www.example.test", "A").build();
    let reply =
        blocking(move || udp_exchange(addr, &q, Duration::from_secs(5))).await.expect("UDP reply");
    assert!(render(&reply).expect("decodes").starts_with("rcode REFUSED"));

    shutdown.cancel();
    let result = tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("stops in time")
        .expect("joins");
    assert!(result.is_ok(), "{result:?}");
    // Nothing answers any more.
    let q = QueryBuilder::new("www.example.test", "A").build();
    assert!(blocking(move || udp_exchange(addr, &q, Duration::from_millis(300))).await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_closes_idle_connections() {
    let server = DnsServer::bind(config()).expect("binds");
    let addr = server.local_addrs()[0];
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(server.run(SnapshotHandle::new(test_snapshot()), shutdown.clone()));
    let idle_closed = blocking(move || {
        let mut a = std::net::TcpStream::connect(addr).expect("connects");
        let started = std::time::Instant::now();
        (closed(&mut a, Duration::from_secs(5)), started.elapsed())
    })
    .await;
    assert!(idle_closed.0, "an idle connection is closed");
    assert!(idle_closed.1 < Duration::from_secs(4), "closed by the idle timeout, not the test's");
    shutdown.cancel();
    assert!(task.await.expect("joins").is_ok());
}

/// Whether the server closes `s` (EOF or reset) within `within`.
fn closed(s: &mut std::net::TcpStream, within: Duration) -> bool {
    use std::io::Read;
    s.set_read_timeout(Some(within)).expect("timeout");
    match s.read(&mut [0u8; 1]) {
        Ok(n) => n == 0,
        Err(e) => {
            !matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)
        }
    }
}

/// RFC 7766 §6.2.2: at the cap, a newcomer takes the place of the connection idle longest;
/// when every connection is in the middle of a query, the newcomer is closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_cap_the_connection_idle_longest_makes_room() {
    let mut c = config();
    c.tcp_idle_timeout = Duration::from_secs(30);
    let server = DnsServer::bind(c).expect("binds");
    let addr = server.local_addrs()[0];
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(server.run(SnapshotHandle::new(test_snapshot()), shutdown.clone()));
    let (evicted, kept, served) = blocking(move || {
        let mut a = std::net::TcpStream::connect(addr).expect("connects");
        std::thread::sleep(Duration::from_millis(50));
        let mut b = std::net::TcpStream::connect(addr).expect("connects");
        std::thread::sleep(Duration::from_millis(50));
        let q = QueryBuilder::new("www.example.test", "A").build();
        let served = tcp_exchange(addr, &[q], 1).map(|r| r.len());
        (
            closed(&mut a, Duration::from_secs(2)),
            !closed(&mut b, Duration::from_millis(300)),
            served,
        )
    })
    .await;
    assert!(evicted, "the connection idle longest was closed for the newcomer");
    assert!(kept, "the other idle connection stays");
    assert_eq!(served.ok(), Some(1), "the newcomer is answered");

    let newcomer_closed = blocking(move || {
        use std::io::Write;
        // Two connections in the middle of a query (a length and one byte of it).
        let mut busy: Vec<std::net::TcpStream> =
            (0..2).map(|_| std::net::TcpStream::connect(addr).expect("connects")).collect();
        for s in &mut busy {
            s.write_all(&[0, 40, 0]).expect("writes");
        }
        std::thread::sleep(Duration::from_millis(100));
        let mut late = std::net::TcpStream::connect(addr).expect("connects");
        closed(&mut late, Duration::from_secs(2))
    })
    .await;
    assert!(newcomer_closed, "no idle connection to close: the newcomer is closed");
    shutdown.cancel();
    assert!(task.await.expect("joins").is_ok());
}

/// Replaces the socket behind `fd` with /dev/null, so the next receive fails with ENOTSOCK:
/// a listener breaking under the server.
#[allow(unsafe_code)]
fn break_socket(fd: i32) {
    let null = std::fs::File::open("/dev/null").expect("open /dev/null");
    // SAFETY: dup2 on two valid descriptors; the test owns both.
    let r = unsafe { libc::dup2(std::os::fd::AsRawFd::as_raw_fd(&null), fd) };
    assert!(r >= 0, "dup2 failed");
}

/// Shuts a listening TCP socket down under the server: Linux wakes the accept, which then
/// fails with EINVAL.
#[allow(unsafe_code)]
fn stop_listening(fd: i32) {
    // SAFETY: shutdown on a valid descriptor the test owns.
    let r = unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
    assert!(r == 0, "shutdown failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_udp_listener_stops_the_server_with_an_error() {
    let server = DnsServer::bind(config()).expect("binds");
    let fd = std::os::fd::AsRawFd::as_raw_fd(&server.endpoints[0].udp[1]);
    let task =
        tokio::spawn(server.run(SnapshotHandle::new(test_snapshot()), CancellationToken::new()));
    tokio::time::sleep(Duration::from_millis(50)).await;
    break_socket(fd);
    let result =
        tokio::time::timeout(Duration::from_secs(5), task).await.expect("stops").expect("joins");
    match result {
        Err(ServerError::ListenerDied { proto: "UDP", .. }) => {}
        other => panic!("expected a dead UDP listener, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_tcp_listener_stops_the_server_with_an_error() {
    let server = DnsServer::bind(config()).expect("binds");
    let fd = std::os::fd::AsRawFd::as_raw_fd(&server.endpoints[0].tcp);
    let task =
        tokio::spawn(server.run(SnapshotHandle::new(test_snapshot()), CancellationToken::new()));
    tokio::time::sleep(Duration::from_millis(50)).await;
    stop_listening(fd);
    let result =
        tokio::time::timeout(Duration::from_secs(5), task).await.expect("stops").expect("joins");
    assert!(matches!(result, Err(ServerError::ListenerDied { proto: "TCP", .. })), "{result:?}");
}

#[test]
fn binding_a_busy_port_is_an_error_naming_it() {
    let first = DnsServer::bind(config()).expect("binds");
    let mut c = config();
    c.listen = first.local_addrs();
    match DnsServer::bind(c) {
        Err(e @ ServerError::Bind { proto: "TCP", .. }) => {
            assert!(e.to_string().contains(&first.local_addrs()[0].to_string()), "{e}");
        }
        Err(other) => panic!("unexpected {other}"),
        Ok(_) => panic!("a second server must not share the port"),
    }
}
