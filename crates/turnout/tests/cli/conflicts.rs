//! The one write path across nodes, on a real three-member etcd cluster with three Turnout
//! nodes: conflicting writes sent to different nodes at once always end in a state that
//! validation accepts, the loser refused with a named error; and a write sent to one node
//! right after another node acknowledged what it needs always succeeds (read-your-writes).

use std::time::Duration;

use serde_json::json;
use turnout_api::client::{Client, ClientError};
use turnout_control::keys;
use turnout_control::state::State;
use turnout_store::{EtcdStore, Store};
use turnout_testkit::etcd::Etcd;
use turnout_testkit::process::Turnout;

use crate::cluster::{node, share_token};

const ROUNDS: usize = 100;

fn from<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> T {
    serde_json::from_value(value).unwrap()
}

/// The API error code of a failed request.
fn code(result: &Result<impl std::fmt::Debug, ClientError>) -> String {
    match result {
        Err(ClientError::Api(e)) => match e.errors.first() {
            Some(first) => format!("{}/{:?}", e.code, first.code),
            None => e.code.clone(),
        },
        other => panic!("not an API error: {other:?}"),
    }
}

/// Which of a deletion and a write that races it won (0: the deletion, 1: the write), after
/// checking that exactly one did and that the loser was refused with its named error.
fn one_wins<D: std::fmt::Debug, W: std::fmt::Debug>(
    round: usize,
    deleted: &Result<D, ClientError>,
    written: &Result<W, ClientError>,
    write_refused: &str,
    delete_refused: &str,
) -> usize {
    match (deleted, written) {
        (Ok(_), Err(_)) => {
            assert_eq!(code(written), write_refused, "round {round}");
            0
        }
        (Err(_), Ok(_)) => {
            assert_eq!(code(deleted), delete_refused, "round {round}");
            1
        }
        _ => panic!("round {round}: exactly one must win: {deleted:?} / {written:?}"),
    }
}

fn upsert(record: serde_json::Value) -> turnout_model::ChangeBatchSpec {
    from(json!({ "changes": [{ "action": "UPSERT", "record_set": record }] }))
}

/// What validation requires of the whole stored configuration: every record's health check
/// and CIDR location exists, and every routing-control state belongs to an existing panel.
async fn assert_valid(store: &EtcdStore, round: usize) {
    let range = store.range(keys::ROOT).await.unwrap();
    let (st, _) = State::from_range(&range.kvs, range.revision, keys::LOCAL_CHECKER);
    for zone in st.records.values() {
        for set in zone.sets.values() {
            if let Some(check) = &set.health_check {
                assert!(
                    st.checks.contains_key(check),
                    "round {round}: {} names {check}",
                    set.key()
                );
            }
            if let turnout_model::Policy::Cidr { collection, location } = &set.policy {
                let error = st.cidr_ref_error(collection, location);
                assert!(error.is_none(), "round {round}: {}: {error:?}", set.key());
            }
        }
    }
    for (panel, control) in st.control_states.keys() {
        assert!(st.panels.contains_key(panel), "round {round}: state of {panel}/{control}");
    }
}

struct Cluster {
    _etcd: Etcd,
    _dirs: tempfile::TempDir,
    nodes: Vec<Turnout>,
    api: Vec<Client>,
    controls: Vec<Client>,
    store: EtcdStore,
}

fn cluster(rt: &tokio::runtime::Runtime) -> Cluster {
    let etcd = Etcd::start(3);
    let dirs = tempfile::tempdir().unwrap();
    let nodes: Vec<Turnout> =
        ["a", "b", "c"].iter().map(|n| node(&etcd, &dirs.path().join(n))).collect();
    share_token(&nodes);
    let token = std::fs::read_to_string(nodes[0].data_dir.join("admin.token")).unwrap();
    let token = Some(token.trim().to_owned());
    let api = nodes.iter().map(|t| Client::new(&t.api_url(), token.clone()).unwrap()).collect();
    let controls =
        nodes.iter().map(|t| Client::new(&t.controls_url(), token.clone()).unwrap()).collect();
    let store = rt.block_on(EtcdStore::connect(&etcd.url())).unwrap();
    Cluster { _etcd: etcd, _dirs: dirs, nodes, api, controls, store }
}

#[test]
fn conflicting_writes_through_different_nodes_leave_no_dangling_reference() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build();
    let rt = rt.unwrap();
    let c = cluster(&rt);
    assert_eq!(c.nodes.len(), 3);
    rt.block_on(async {
        let zone: turnout_control::types::CreateZone = from(json!({ "name": "race.test" }));
        c.api[0].create_zone(&zone).await.unwrap();
        let mut outcomes = [[0usize; 2]; 3];
        for round in 0..ROUNDS {
            // Each round, a different node makes the object and two others race.
            let (maker, first, second) = (round % 3, (round + 1) % 3, (round + 2) % 3);
            // A check deleted through one node while a record naming it is written through
            // another.
            let check = format!("chk-{round}");
            let spec = json!({ "name": check, "type": "tcp", "ip": "127.0.0.1", "port": 9, "disabled": true });
            c.api[maker].put_check(&from(spec)).await.unwrap();
            let record = upsert(json!({
                "name": format!("c{round}.race.test."), "type": "A", "ttl": 60,
                "health_check": check, "values": ["192.0.2.1"],
            }));
            let (deleted, written) = tokio::join!(
                c.api[first].delete_check(&check),
                c.api[second].submit(Some("race.test"), &record, false),
            );
            outcomes[0][one_wins(round, &deleted, &written, "InvalidChangeBatch/NoSuchHealthCheck", "CheckInUse")] += 1;
            // A CIDR collection deleted while a record using it is written.
            let collection = format!("col-{round}");
            let spec = json!({ "name": collection, "locations": { "office": ["192.0.2.0/24"] } });
            c.api[maker].put_collection(&from(spec)).await.unwrap();
            let record = upsert(json!({
                "name": format!("k{round}.race.test."), "type": "A", "ttl": 60, "set_id": "office",
                "cidr": { "collection": collection, "location": "office" }, "values": ["192.0.2.2"],
            }));
            let (deleted, written) = tokio::join!(
                c.api[first].delete_collection(&collection),
                c.api[second].submit(Some("race.test"), &record, false),
            );
            outcomes[1][one_wins(round, &deleted, &written, "InvalidChangeBatch/NoSuchCidrCollection", "CidrCollectionInUse")] += 1;
            // A routing control flipped through one node while its panel is deleted through
            // another: a flip after the deletion is refused; one before it goes with the panel.
            let panel = format!("pnl-{round}");
            c.api[maker].put_panel(&from(json!({ "name": panel, "controls": ["x"] }))).await.unwrap();
            let update = from(json!({ "states": { "x": "On" }, "reason": "race" }));
            let (deleted, flipped) = tokio::join!(
                c.api[first].delete_panel(&panel),
                c.controls[second].update_controls(&panel, &update),
            );
            deleted.unwrap_or_else(|e| panic!("round {round}: the panel's deletion failed: {e}"));
            match &flipped {
                Ok(_) => outcomes[2][1] += 1,
                Err(_) => {
                    assert_eq!(code(&flipped), "NoSuchControlPanel");
                    outcomes[2][0] += 1;
                }
            }
            assert_valid(&c.store, round).await;
        }
        // Both orders happened for each pair: the writes did race.
        assert!(outcomes.iter().all(|o| o[0] > 0 && o[1] > 0), "{outcomes:?}");
    });
}

#[test]
fn a_write_through_another_node_sees_what_one_node_acknowledged() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build();
    let rt = rt.unwrap();
    let c = cluster(&rt);
    rt.block_on(async {
        for round in 0..ROUNDS {
            let (a, b) = (round % 3, (round + 1) % 3);
            // A zone created through a, written to through b at once.
            let zone = format!("ryw{round}.test");
            c.api[a].create_zone(&from(json!({ "name": zone }))).await.unwrap();
            let record = upsert(json!({
                "name": format!("www.{zone}."), "type": "A", "ttl": 60, "values": ["192.0.2.1"],
            }));
            c.api[b]
                .submit(Some(&zone), &record, false)
                .await
                .unwrap_or_else(|e| panic!("round {round}: zone: {e}"));
            // A check made through a, named by a record written through b.
            let check = format!("ryw-{round}");
            let spec = json!({ "name": check, "type": "tcp", "ip": "127.0.0.1", "port": 9, "disabled": true });
            c.api[a].put_check(&from(spec)).await.unwrap();
            let record = upsert(json!({
                "name": format!("hc.{zone}."), "type": "A", "ttl": 60, "health_check": check,
                "values": ["192.0.2.1"],
            }));
            c.api[b]
                .submit(Some(&zone), &record, false)
                .await
                .unwrap_or_else(|e| panic!("round {round}: check: {e}"));
            // A panel made through a, its control flipped through b.
            let panel = format!("ryw-{round}");
            c.api[a].put_panel(&from(json!({ "name": panel, "controls": ["x"] }))).await.unwrap();
            let update = from(json!({ "states": { "x": "On" }, "reason": "read your writes" }));
            c.controls[b]
                .update_controls(&panel, &update)
                .await
                .unwrap_or_else(|e| panic!("round {round}: panel: {e}"));
        }
        // Nothing above waited for INSYNC; every node still converges on the same state.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let counts: Vec<usize> = futures_counts(&c.api).await;
            if counts.iter().all(|n| *n == ROUNDS) {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "zones per node: {counts:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
}

async fn futures_counts(api: &[Client]) -> Vec<usize> {
    let mut out = Vec::new();
    for client in api {
        out.push(client.zones().await.unwrap().len());
    }
    out
}
