//! Policy groups on the query path: a weighted group, a geolocation group answering a client
//! known by its EDNS Client Subnet, and a tree of aliases with evaluate-target-health (a
//! weighted alias over failover groups), each through the whole of `respond`. Run with
//! `cargo bench -p turnout-dns --bench policies`.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_main};
use turnout_dns::encode::{TCP_LIMIT, Transport};
use turnout_dns::locate::{GeoDb, Locator};
use turnout_dns::{Snapshot, respond};
use turnout_model::compile::compile_zone;
use turnout_model::health::{HealthSlot, Status};
use turnout_testkit::QueryBuilder;

const RECORDS: &[&str] = &[
    r#"{"name":"w","type":"A","ttl":60,"set_id":"a","weight":50,"health_check":"a","values":["192.0.2.1"]}"#,
    r#"{"name":"w","type":"A","ttl":60,"set_id":"b","weight":30,"values":["192.0.2.2"]}"#,
    r#"{"name":"w","type":"A","ttl":60,"set_id":"c","weight":20,"values":["192.0.2.3"]}"#,
    r#"{"name":"g","type":"A","ttl":60,"set_id":"ca","geo":{"country":"US","subdivision":"CA"},"values":["192.0.2.4"]}"#,
    r#"{"name":"g","type":"A","ttl":60,"set_id":"us","geo":{"country":"US"},"values":["192.0.2.5"]}"#,
    r#"{"name":"g","type":"A","ttl":60,"set_id":"eu","geo":{"continent":"EU"},"values":["192.0.2.6"]}"#,
    r#"{"name":"g","type":"A","ttl":60,"set_id":"any","geo":{"country":"*"},"values":["192.0.2.7"]}"#,
    r#"{"name":"east","type":"A","ttl":30,"set_id":"p","failover":"primary","health_check":"e1","values":["192.0.2.11"]}"#,
    r#"{"name":"east","type":"A","ttl":30,"set_id":"s","failover":"secondary","health_check":"e2","values":["192.0.2.12"]}"#,
    r#"{"name":"west","type":"A","ttl":40,"set_id":"p","failover":"primary","health_check":"w1","values":["192.0.2.21"]}"#,
    r#"{"name":"west","type":"A","ttl":40,"set_id":"s","failover":"secondary","values":["192.0.2.22"]}"#,
    r#"{"name":"app","type":"A","set_id":"east","weight":1,"alias":{"target":"east","evaluate_target_health":true}}"#,
    r#"{"name":"app","type":"A","set_id":"west","weight":1,"alias":{"target":"west","evaluate_target_health":true}}"#,
];

fn snapshot() -> Snapshot {
    let zone = turnout_testkit::zone_records("bench.test.", RECORDS);
    let slots: std::cell::RefCell<Vec<(String, Arc<HealthSlot>)>> = Default::default();
    let compiled = compile_zone(
        &zone,
        &|name| {
            let slot = Arc::new(HealthSlot::default());
            slots.borrow_mut().push((name.to_owned(), slot.clone()));
            slot
        },
        &|_| None,
    )
    .expect("compiles");
    // The east primary is down: the alias tree walks past it.
    for (name, slot) in slots.borrow().iter() {
        if name == "e1" {
            slot.set(Status::Unhealthy);
        }
    }
    let geo = turnout_testkit::geo_database(&[
        ("192.0.2.0/24", "NA", "US", "CA", None),
        ("198.51.100.0/24", "NA", "US", "", None),
        ("203.0.113.0/24", "EU", "FR", "", None),
    ]);
    let locator = Locator { geo: Some(GeoDb::from_bytes(geo).expect("db")), latency: None };
    Snapshot::build([&compiled]).expect("builds").with_locator(Arc::new(locator))
}

fn policies(c: &mut Criterion) {
    let snap = snapshot();
    let mut out = vec![0u8; TCP_LIMIT];
    let cases = [
        ("weighted", QueryBuilder::new("w.bench.test", "A")),
        ("geolocation, ECS", QueryBuilder::new("g.bench.test", "A").ecs(1, 24, 0, &[203, 0, 113])),
        ("alias tree, evaluate-target-health", QueryBuilder::new("app.bench.test", "A")),
    ];
    let mut g = c.benchmark_group("policies");
    g.throughput(Throughput::Elements(1));
    for (label, q) in &cases {
        let packet = q.build();
        let client = Some("198.51.100.7".parse().expect("address"));
        g.bench_function(*label, |b| {
            b.iter(|| {
                respond(black_box(&snap), black_box(&packet), Transport::Udp, client, &mut out)
            });
        });
    }
    g.finish();
}

mod group {
    #![allow(missing_docs)] // criterion_group! defines an undocumented pub fn
    use super::policies;
    criterion::criterion_group!(benches, policies);
}
criterion_main!(group::benches);
