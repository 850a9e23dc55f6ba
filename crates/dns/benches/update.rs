//! What a change costs the data plane: compiling the changed zone's part and building the next
//! snapshot from the served one ([`Snapshot::update`]), for a small zone among 1,000 zones of
//! 1,000 records and for a 100,000-record zone. Run with
//! `cargo bench -p turnout-dns --bench update`.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_main};
use turnout_dns::{Snapshot, ZonePart};
use turnout_model::{Name, Zone, zonefile};

/// A zone of `records` A records besides its SOA and NS, with `serial`.
fn zone(apex: &str, records: usize, serial: u32) -> Zone {
    let mut text = format!(
        "{apex} 60 IN SOA ns1.{apex} admin.{apex} {serial} 3600 600 86400 30\n{apex} 60 IN NS ns1.{apex}\n"
    );
    for i in 0..records {
        text.push_str(&format!(
            "h{i}.{apex} 60 IN A 10.{}.{}.{}\n",
            (i >> 16) & 255,
            (i >> 8) & 255,
            i & 255
        ));
    }
    zonefile::parse_str(&text, "bench", None).expect("valid zone")
}

fn part(z: &Zone) -> Arc<ZonePart> {
    Arc::new(ZonePart::build(z, None).expect("compiles"))
}

fn update(c: &mut Criterion) {
    let mut g = c.benchmark_group("update");
    g.sample_size(20);

    let others: Vec<Arc<ZonePart>> =
        (0..1000).map(|i| part(&zone(&format!("other{i}.test."), 1000, 1))).collect();
    let small = Name::parse_absolute("lat.test.").expect("a name");
    let served =
        Snapshot::assemble(others.iter().cloned().chain([part(&zone("lat.test.", 8, 1))]), None)
            .expect("assembles");
    let next = zone("lat.test.", 8, 2);
    g.bench_function("10-record zone among 1,000,000 records: compile", |b| {
        b.iter(|| black_box(part(&next)))
    });
    let compiled = part(&next);
    g.bench_function("10-record zone among 1,000,000 records: update", |b| {
        b.iter(|| black_box(served.update([(small.clone(), Some(Arc::clone(&compiled)))])))
    });

    let big = Name::parse_absolute("big.test.").expect("a name");
    let served =
        Snapshot::assemble([part(&zone("big.test.", 100_000, 1))], None).expect("assembles");
    let next = zone("big.test.", 100_000, 2);
    g.bench_function("100,000-record zone: compile", |b| b.iter(|| black_box(part(&next))));
    let compiled = part(&next);
    g.bench_function("100,000-record zone: update", |b| {
        b.iter(|| black_box(served.update([(big.clone(), Some(Arc::clone(&compiled)))])))
    });
    g.finish();
}

fn benches() {
    let mut c = Criterion::default().configure_from_args();
    update(&mut c);
}

criterion_main!(benches);
