//! DNS over TCP against the real binary (RFC 7766): pipelining, the idle timeout and the
//! connection limit, set through the config file.

use std::io::Read;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use turnout_testkit::QueryBuilder;
use turnout_testkit::process::Turnout;

use super::{bin, suite_file};

fn start_with_limits() -> (tempfile::TempDir, Turnout) {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("turnout.toml");
    let zone = suite_file("zones/example.test.zone");
    std::fs::write(
        &cfg,
        format!(
            "zone_files = [{zone:?}]\n[dns]\nlisten = [\"127.0.0.1:0\"]\ntcp_idle_timeout = \"300ms\"\ntcp_max_connections = 2\n"
        ),
    )
    .expect("write");
    let c = cfg.to_string_lossy().into_owned();
    let t = Turnout::start(bin(), &["serve", "--config", &c]);
    (dir, t)
}

/// Whether the server closes `s` (EOF or reset) within `within`.
fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    s.set_read_timeout(Some(within)).expect("timeout");
    match s.read(&mut [0u8; 1]) {
        Ok(n) => n == 0,
        Err(e) => {
            !matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)
        }
    }
}

#[test]
fn pipelined_queries_are_answered_in_order_on_one_connection() {
    let (_dir, t) = start_with_limits();
    let names =
        ["www", "mail", "nothing", "alias", "ns1", "x.wild", "host.sub", "txt", "caa", "svc"];
    let queries: Vec<Vec<u8>> = names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let mut q = QueryBuilder::new(&format!("{n}.example.test"), "A");
            q.id = 100 + i as u16;
            q.build()
        })
        .collect();
    let replies = t.tcp(&queries, queries.len()).expect("replies");
    let ids: Vec<u16> = replies.iter().map(|r| u16::from_be_bytes([r[0], r[1]])).collect();
    assert_eq!(ids, (100..110).collect::<Vec<u16>>());
}

#[test]
fn at_the_connection_limit_the_idle_connection_makes_room_and_idle_ones_close() {
    let (_dir, t) = start_with_limits();
    let mut a = TcpStream::connect(t.dns).expect("connects");
    std::thread::sleep(Duration::from_millis(20));
    let mut b = TcpStream::connect(t.dns).expect("connects");
    std::thread::sleep(Duration::from_millis(20));
    // A third connection over the limit of 2 takes the place of the one idle longest.
    let reply = t.tcp(&[QueryBuilder::new("www.example.test", "A").build()], 1).expect("served");
    assert_eq!(reply.len(), 1);
    let started = Instant::now();
    assert!(closed_within(&mut a, Duration::from_secs(5)), "idle connection a closed");
    assert!(closed_within(&mut b, Duration::from_secs(5)), "idle connection b closed");
    assert!(started.elapsed() < Duration::from_secs(3), "closed by the 300 ms idle timeout");
}
