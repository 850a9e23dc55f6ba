//! Durability: a SIGKILLed node restarts with every acknowledged change; a stopped node's store
//! backs up to JSON and restores into a new data directory.

use std::time::Duration;

use turnout_testkit::process::dns_tool;

use crate::{Backend, bin, failover_example, ok, start, text};

#[test]
fn survives_sigkill_and_restores_from_a_backup() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut t = start(Some(&data));
    let backend = Backend::start(0);
    let file = failover_example(dir.path(), backend.port);
    ok(&t, &["apply", "-f", file.to_str().unwrap(), "--yes"]);
    t.signal("KILL");
    t.wait_exit(Duration::from_secs(10)).unwrap();
    drop(t);
    let mut t = start(Some(&data));
    // DNS answers only once the store's configuration is served (docs/production.md): the
    // first query after a start gets the zone, never a REFUSED for it.
    let log = t.log_text();
    let served = log.find("serving store revision");
    assert!(served.is_some() && served < log.find("listening for DNS/UDP"), "{log}");
    assert_eq!(dns_tool("dig", t.dns, &["+short", "www.example.test", "A"]).trim(), "192.0.2.10");
    t.signal("TERM");
    assert!(t.wait_exit(Duration::from_secs(10)).unwrap().success());
    drop(t);
    // Offline backup, restore into a new directory, serve from it.
    let out = std::process::Command::new(bin())
        .args(["store", "export", "--data-dir", data.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let backup = dir.path().join("backup.json");
    std::fs::write(&backup, &out.stdout).unwrap();
    let restored = dir.path().join("restored");
    let import = || {
        std::process::Command::new(bin())
            .args(["store", "import", backup.to_str().unwrap()])
            .args(["--data-dir", restored.to_str().unwrap()])
            .output()
            .unwrap()
    };
    let out = import();
    assert!(out.status.success(), "{}", text(&out));
    // Importing into a store that has data is refused.
    let again = import();
    assert_eq!(again.status.code(), Some(3), "{}", text(&again));
    assert!(text(&again).contains("not empty"), "{}", text(&again));
    // Without its token file, the restored node says where the admin token went.
    let mut t = start(Some(&restored));
    let log = t.log_text();
    assert!(log.contains("the store has an admin API token, but"), "{log}");
    assert!(log.contains("admin.token does not exist"), "{log}");
    t.signal("TERM");
    assert!(t.wait_exit(Duration::from_secs(10)).unwrap().success());
    drop(t);
    // The restored store has the admin token's digest; the old token file still works.
    std::fs::copy(data.join("admin.token"), restored.join("admin.token")).unwrap();
    let t = start(Some(&restored));
    assert_eq!(dns_tool("dig", t.dns, &["+short", "app.example.test", "A"]).trim(), "192.0.2.10");
    ok(
        &t,
        &["record", "upsert", "example.test", "new", "A", "--ttl", "60", "--value", "192.0.2.99"],
    );
}

/// While changes are applied and snapshots swapped, every query gets a whole answer: one A
/// record, from one of the versions written, never a drop, never a mix.
#[test]
fn no_query_is_dropped_or_half_answered_during_swaps() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use turnout_testkit::QueryBuilder;
    use turnout_testkit::process::udp_exchange;

    let t = start(None);
    ok(&t, &["zone", "create", "swap.test"]);
    // Two names changed in every batch, queried in turn while 40 batches are applied.
    let apply = |i: u32| {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("s.yaml");
        std::fs::write(
            &f,
            format!(
                "zones:\n  - name: swap.test\n    records:\n      - {{name: a, type: A, ttl: 60, values: [10.0.0.{i}]}}\n      - {{name: b, type: A, ttl: 60, values: [10.0.0.{i}]}}\n"
            ),
        )
        .unwrap();
        ok(&t, &["apply", "-f", f.to_str().unwrap(), "--yes"]);
    };
    apply(0);
    let stop = Arc::new(AtomicBool::new(false));
    let dns = t.dns;
    let flag = stop.clone();
    let querier = std::thread::spawn(move || {
        let (mut answered, mut bad) = (0u32, Vec::new());
        while !flag.load(Ordering::Relaxed) {
            for name in ["a.swap.test", "b.swap.test"] {
                let q = QueryBuilder::new(name, "A").build();
                match udp_exchange(dns, &q, Duration::from_secs(2)) {
                    None => bad.push(format!("{name}: no reply")),
                    Some(reply) => {
                        let text = turnout_testkit::render(&reply).unwrap_or_default();
                        let answers = text.lines().filter(|l| l.contains(" IN A 10.0.0.")).count();
                        if !text.contains("NOERROR") || answers != 1 {
                            bad.push(format!("{name}: {text}"));
                        }
                        answered += 1;
                    }
                }
            }
        }
        (answered, bad)
    });
    for i in 1..=40 {
        apply(i);
    }
    stop.store(true, Ordering::Relaxed);
    let (answered, bad) = querier.join().unwrap();
    assert!(bad.is_empty(), "{} bad answers, first: {}", bad.len(), bad[0]);
    assert!(answered > 100, "only {answered} queries answered");
    assert_eq!(dns_tool("dig", t.dns, &["+short", "b.swap.test", "A"]).trim(), "10.0.0.40");
}
