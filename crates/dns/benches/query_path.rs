//! The query path without sockets: decode -> answer -> encode, per kind of query, and the three
//! steps alone for the common case. Run with `cargo bench -p turnout-dns --bench query_path`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_main};
use turnout_dns::encode::{TCP_LIMIT, Transport};
use turnout_dns::{Context, Snapshot, answer, decode, encode, respond, response_limit};
use turnout_model::zonefile;
use turnout_testkit::QueryBuilder;

fn snapshot() -> Snapshot {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/testdata/");
    let zones = ["example.test.zone", "child.example.test.zone"].map(|f| {
        zonefile::parse_file(format!("{dir}{f}").as_ref(), None).expect("valid test zone")
    });
    Snapshot::build(&zones).expect("builds")
}

fn query_path(c: &mut Criterion) {
    let snap = snapshot();
    let mut out = vec![0u8; TCP_LIMIT];
    let cases = [
        ("exact A", QueryBuilder::new("www.example.test", "A")),
        ("exact A, EDNS", QueryBuilder::new("www.example.test", "A").edns(1232)),
        ("NXDOMAIN", QueryBuilder::new("nothing.example.test", "A")),
        ("NODATA", QueryBuilder::new("www.example.test", "AAAA")),
        ("CNAME chain of 3", QueryBuilder::new("chain1.example.test", "A")),
        ("wildcard", QueryBuilder::new("x.y.wild.example.test", "A")),
        ("referral with glue", QueryBuilder::new("a.sub.example.test", "A")),
        ("MX + additional", QueryBuilder::new("example.test", "MX")),
        ("REFUSED", QueryBuilder::new("www.example.org", "A")),
    ];
    let mut g = c.benchmark_group("respond");
    g.throughput(Throughput::Elements(1));
    for (label, q) in &cases {
        let packet = q.build();
        g.bench_function(*label, |b| {
            b.iter(|| {
                respond(black_box(&snap), black_box(&packet), Transport::Udp, None, &mut out)
            });
        });
    }
    g.finish();

    let packet = QueryBuilder::new("www.example.test", "A").edns(1232).build();
    let mut g = c.benchmark_group("steps");
    g.bench_function("decode", |b| b.iter(|| decode(black_box(&packet)).is_ok()));
    let q = decode(&packet).expect("valid");
    let mut ctx = Context::new(None, 1);
    g.bench_function("answer", |b| {
        b.iter(|| answer(black_box(&snap), black_box(&q), &mut ctx).answer.len())
    });
    let r = answer(&snap, &q, &mut ctx);
    let limit = response_limit(q.edns, Transport::Udp);
    g.bench_function("encode", |b| {
        b.iter(|| encode(black_box(&q), black_box(&r), limit, &mut out))
    });
    g.finish();
}

mod group {
    #![allow(missing_docs)] // criterion_group! defines an undocumented pub fn
    use super::query_path;
    criterion::criterion_group!(benches, query_path);
}
criterion_main!(group::benches);
