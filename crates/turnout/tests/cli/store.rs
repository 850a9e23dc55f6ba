//! Durability: a SIGKILLed node restarts with every acknowledged change; a stopped node's store
//! backs up to JSON and restores into a new data directory.

use std::time::Duration;

use turnout_testkit::process::dns_tool;

use crate::{bin, example, ok, start, text};

#[test]
fn survives_sigkill_and_restores_from_a_backup() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut t = start(Some(&data));
    ok(&t, &["apply", "-f", example("failover.yaml").to_str().unwrap(), "--yes"]);
    t.signal("KILL");
    t.wait_exit(Duration::from_secs(10)).unwrap();
    drop(t);
    let mut t = start(Some(&data));
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
    let out = std::process::Command::new(bin())
        .args([
            "store",
            "import",
            backup.to_str().unwrap(),
            "--data-dir",
            restored.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    // Importing into a store that has data is refused.
    let again = std::process::Command::new(bin())
        .args([
            "store",
            "import",
            backup.to_str().unwrap(),
            "--data-dir",
            restored.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(3), "{}", text(&again));
    assert!(text(&again).contains("not empty"), "{}", text(&again));
    // The restored store has the admin token's digest; the old token file still works.
    std::fs::copy(data.join("admin.token"), restored.join("admin.token")).unwrap();
    let t = start(Some(&restored));
    assert_eq!(dns_tool("dig", t.dns, &["+short", "app.example.test", "A"]).trim(), "192.0.2.10");
    ok(
        &t,
        &["record", "upsert", "example.test", "new", "A", "--ttl", "60", "--value", "192.0.2.99"],
    );
}
