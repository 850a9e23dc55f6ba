//! Probe throughput: N HTTP checks against one local HTTP target (axum, loopback), each at
//! the given interval, for a fixed time; prints the probes per second achieved, how far the
//! schedule fell behind and the CPU this process used. Used by `bench/probes.sh` and
//! `bench/blackbox.sh`.
//!
//!     cargo run --release -p turnout-health --example probe_load -- CHECKS INTERVAL_MS SECONDS
//!
//! With `TARGET=127.0.0.1:PORT`, the checks probe that target instead (another process, so
//! the CPU printed is the prober's alone), and `KIND` picks their type: `http` (the default,
//! `GET /health?c=N` with `OK` searched), `https` (the same over TLS: a new connection and a
//! full handshake per probe, the certificate not verified, as Route 53's) or `tcp` (a connect).
//! No two checks share a probe: http and https checks differ in their path, tcp checks in
//! their connect timeout (2 s plus N ms; a loopback connect takes microseconds).
//!
//! With `QUORUM=N`, the engine also judges every check by the checkers' quorum, with N-1
//! other checkers reporting every check healthy and one check of their reports flipping every
//! second (each change is a judgement of every check: what a cluster of N nodes costs).
#![allow(clippy::unwrap_used, clippy::print_stdout)] // A benchmark driver: panics and prints are its interface.

use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use turnout_health::HealthEngine;
use turnout_health::engine::{Quorum, Report};
use turnout_model::health::{HealthCheck, HealthCheckSpec};

fn main() {
    let args: Vec<u64> = std::env::args().skip(1).map(|a| a.parse().unwrap()).collect();
    let (checks, interval_ms, seconds) = match args[..] {
        [c, i, s] => (c, i, s),
        _ => (2000, 200, 10),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async move {
        // A deep accept queue: with the default 1,024, bursts of new connections overflow it
        // and the dropped SYNs come back a second later, which measures the target, not us.
        let kind = std::env::var("KIND").unwrap_or_else(|_| "http".to_owned());
        // The target counts the requests it answers: the probes that really reached it.
        let served = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let (ip, port) = match std::env::var("TARGET") {
            Ok(target) => {
                let addr: std::net::SocketAddr = target.parse().expect("TARGET is IP:PORT");
                (addr.ip(), addr.port())
            }
            Err(_) => {
                assert_eq!(kind, "http", "KIND={kind} needs TARGET=IP:PORT (an outside target)");
                let socket = tokio::net::TcpSocket::new_v4().unwrap();
                socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
                let listener = socket.listen(16384).unwrap();
                let addr = listener.local_addr().unwrap();
                let hits = served.clone();
                let app = Router::new().route(
                    "/health",
                    get(move || {
                        hits.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        async { "OK" }
                    }),
                );
                tokio::spawn(async move { axum::serve(listener, app).await });
                (addr.ip(), addr.port())
            }
        };
        let outside = std::env::var("TARGET").is_ok();
        let specs: Vec<HealthCheck> = (0..checks)
            .map(|i| {
                let what = match kind.as_str() {
                    "http" | "https" => format!(r#""path":"/health?c={i}","search":"OK""#),
                    "tcp" => format!(r#""connect_timeout":"{}ms""#, 2000 + i),
                    other => panic!("KIND={other}: http, https or tcp"),
                };
                let json = format!(
                    r#"{{"name":"c{i}","type":"{kind}","ip":"{ip}","port":{port},{what},"interval":"{interval_ms}ms","response_timeout":"2s"}}"#
                );
                serde_json::from_str::<HealthCheckSpec>(&json).unwrap().validate().unwrap()
            })
            .collect();
        // Each check has its own path, so that no two share a probe; the per-target rate cap
        // (docs/health-checks.md) is lifted: one local target stands for many.
        let engine = HealthEngine::new();
        engine.set_target_policy(turnout_model::health::TargetPolicy {
            max_probes_per_target: u32::MAX,
            ..turnout_model::health::TargetPolicy::default()
        });
        let started = Instant::now();
        engine.apply(&specs, &|_| None);
        let quorum: usize = std::env::var("QUORUM").ok().and_then(|q| q.parse().ok()).unwrap_or(0);
        if quorum > 1 {
            let (engine, names) = (engine.clone(), specs.iter().map(|c| c.name.clone()).collect::<Vec<_>>());
            tokio::spawn(async move {
                // Every second one peer's report changes (one check flips), as a cluster's
                // do when a check changes: each change is a judgement over every check.
                for round in 0_usize.. {
                    let mut checks: std::collections::BTreeMap<String, bool> =
                        names.iter().map(|n| (n.clone(), true)).collect();
                    if let Some(flipped) = names.get(round % names.len().max(1)) {
                        checks.insert(flipped.clone(), round % 2 == 0);
                    }
                    let checks: Report = std::sync::Arc::new(checks);
                    let reports = (1..quorum).map(|i| (format!("peer{i}"), checks.clone())).collect();
                    engine.set_quorum(Some(Quorum { me: "me".into(), reports, ..Quorum::default() }));
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            });
        }
        // The first round starts within one interval (jitter); measure whole seconds after it.
        tokio::time::sleep(Duration::from_millis(interval_ms)).await;
        let count = |engine: &HealthEngine| -> (u64, u64) {
            let mut ok = 0;
            let mut failed = 0;
            for c in &specs {
                if let Some(s) = engine.state(&c.name) {
                    for (result, n) in &s.probes {
                        if result == "success" { ok += n } else { failed += n }
                    }
                }
            }
            (ok, failed)
        };
        let (ok0, failed0) = count(&engine);
        let hits0 = served.load(std::sync::atomic::Ordering::Relaxed);
        let cpu0 = cpu_seconds();
        let t0 = Instant::now();
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        let (ok1, failed1) = count(&engine);
        let cpu = cpu_seconds() - cpu0;
        let hits = served.load(std::sync::atomic::Ordering::Relaxed) - hits0;
        let elapsed = t0.elapsed().as_secs_f64();
        let probes = (ok1 - ok0) + (failed1 - failed0);
        let rate = probes as f64 / elapsed;
        let scheduled = checks as f64 * 1000.0 / interval_ms as f64;
        let mut latency: Vec<f64> = specs
            .iter()
            .filter_map(|c| engine.state(&c.name))
            .filter_map(|s| s.results.first().and_then(|r| r.result.first_byte.or(r.result.connect)))
            .map(|d| d.as_secs_f64() * 1000.0)
            .collect();
        latency.sort_by(f64::total_cmp);
        let p = |q: f64| latency.get(((latency.len() as f64 - 1.0) * q) as usize).copied().unwrap_or(0.0);
        engine.shutdown();
        println!("checks                 {checks}{}", if quorum > 1 { format!(", judged by a quorum of {quorum} checkers") } else { String::new() });
        println!("interval               {interval_ms} ms (next probe starts an interval after the last ends)");
        println!("measured for           {elapsed:.1} s (after {:.1} s of start-up)", t0.duration_since(started).as_secs_f64());
        println!("probes per second      {rate:.0}");
        if outside {
            println!("check type             {kind}, target {ip}:{port} (another process)");
        } else {
            println!("target requests/s      {:.0} (the probes that reached it)", hits as f64 / elapsed);
        }
        println!("upper bound            {scheduled:.0} (if a probe took no time)");
        println!("failed probes          {}", failed1 - failed0);
        println!("last first-byte p50    {:.2} ms, p99 {:.2} ms (tcp: the connect)", p(0.5), p(0.99));
        println!(
            "mean probe + wait      {:.1} ms per check (interval {interval_ms} ms; the excess is the probe itself and scheduling delay)",
            checks as f64 * elapsed * 1000.0 / probes.max(1) as f64
        );
        println!(
            "cpu                    {:.2} cores over the measured time{}, {:.1} us per probe",
            cpu / elapsed,
            if outside { "" } else { " (the target included)" },
            cpu * 1e6 / probes.max(1) as f64
        );
    });
}

/// CPU seconds (user and system) this process has used: /proc/self/stat's utime and stime,
/// in USER_HZ ticks (100 a second on Linux).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let fields: Vec<&str> = stat.rsplit_once(") ").unwrap().1.split(' ').collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    ticks as f64 / 100.0
}
