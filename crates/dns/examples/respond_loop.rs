//! Answers one kind of query N times from the test snapshot, for instruction counting under
//! callgrind (`bench/callgrind.sh`): `respond_loop KIND N [counted]`, KIND an index into
//! `CASES`; with `counted`, every query and reply is counted as the server counts them for
//! `/metrics` (the query counters, the zone's and the policy members' counters).
#![allow(clippy::print_stdout)] // listing the kinds is its output

use std::hint::black_box;

use turnout_dns::encode::{TCP_LIMIT, Transport};
use turnout_dns::shield::Shield;
use turnout_dns::stats::DnsStats;
use turnout_dns::{Snapshot, respond, respond_with};
use turnout_model::zonefile;
use turnout_testkit::QueryBuilder;

/// The query kinds, as in `benches/query_path.rs`.
const CASES: [(&str, &str, &str); 9] = [
    ("exact A", "www.example.test", "A"),
    ("NXDOMAIN", "nothing.example.test", "A"),
    ("NODATA", "www.example.test", "AAAA"),
    ("CNAME chain of 3", "chain1.example.test", "A"),
    ("wildcard", "x.y.wild.example.test", "A"),
    ("referral with glue", "a.sub.example.test", "A"),
    ("MX + additional", "example.test", "MX"),
    ("REFUSED", "www.example.org", "A"),
    ("exact A, EDNS", "www.example.test", "A+"),
];

fn main() {
    let mut args = std::env::args().skip(1);
    let kind: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(0);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let counted = args.next().is_some_and(|a| a == "counted");
    if kind >= CASES.len() {
        for (i, (label, _, _)) in CASES.iter().enumerate() {
            println!("{i} {label}");
        }
        return;
    }
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/testdata/");
    let zones = ["example.test.zone", "child.example.test.zone"].map(|f| {
        zonefile::parse_file(format!("{dir}{f}").as_ref(), None).expect("valid test zone")
    });
    let snap = Snapshot::build(&zones).expect("builds");
    let (_, name, t) = CASES[kind];
    let q = match t.strip_suffix('+') {
        Some(t) => QueryBuilder::new(name, t).edns(1232),
        None => QueryBuilder::new(name, t),
    };
    let packet = q.build();
    let mut out = vec![0u8; TCP_LIMIT];
    let mut total = 0usize;
    if counted {
        let stats = DnsStats::new(1);
        let (shield, tally) = (Shield::off(), Some(stats.udp_shard(0)));
        for _ in 0..n {
            let (s, p) = (black_box(&snap), black_box(&packet));
            let r = respond_with(s, &shield, tally, p, Transport::Udp, None, 0, &mut out);
            total += r.map_or(0, |(len, _)| len);
        }
    } else {
        for _ in 0..n {
            total += respond(black_box(&snap), black_box(&packet), Transport::Udp, None, &mut out)
                .unwrap_or(0);
        }
    }
    black_box(total);
}
