//! Policy selection where it lives: the pure helpers (weighted and uniform draws, sampling,
//! the first healthy member and the last resort) and `Snapshot::select` over compiled groups
//! with health slots set by hand.

use std::collections::HashMap;
use std::sync::Arc;

use turnout_model::compile::compile_zone;
use turnout_model::health::{HealthSlot, Status};
use turnout_model::{Name, RType};

use super::*;
use crate::Snapshot;

fn member(weight: u8) -> WireMember {
    WireMember { rrset: 0, slot: NONE, weight, alias: false, eth: false, key: NONE, bias: 0 }
}

#[test]
fn weighted_draws_follow_the_weights_and_skip_what_is_not_ok() {
    let members = [member(3), member(1), member(0)];
    let mut ctx = Context::new(None, 7);
    let mut counts = [0u32; 3];
    for _ in 0..40_000 {
        let i = weighted(&members, &mut ctx, &|_| true).unwrap();
        counts[i as usize] += 1;
    }
    // 3:1, never the weight-0 member (a seeded generator: the counts are exact every run).
    assert_eq!(counts[2], 0);
    let share = f64::from(counts[0]) / 40_000.0;
    assert!((0.74..0.76).contains(&share), "{counts:?}");
    // Only the members `ok` accepts; none of nonzero weight: none.
    assert_eq!(weighted(&members, &mut ctx, &|i| i == 1), Some(1));
    assert_eq!(weighted(&members, &mut ctx, &|i| i == 2), None);
}

#[test]
fn uniform_and_sample_choose_among_the_accepted_only() {
    let mut ctx = Context::new(None, 11);
    let mut seen = [0u32; 5];
    for _ in 0..5_000 {
        seen[uniform(5, &mut ctx, &|i| i % 2 == 0).unwrap() as usize] += 1;
    }
    assert_eq!((seen[1], seen[3]), (0, 0));
    assert!(seen.iter().step_by(2).all(|n| (1_500..1_850).contains(n)), "{seen:?}");
    assert_eq!(uniform(5, &mut ctx, &|_| false), None);
    // At most 8, all distinct, in pool order; a pool of 8 or fewer comes back whole.
    let mut out = SmallVec::new();
    sample((0..20).collect(), &mut ctx, &mut out);
    assert_eq!(out.len(), MULTIVALUE_MAX);
    assert!(out.windows(2).all(|w| w[0] < w[1]), "{out:?}");
    let mut out = SmallVec::new();
    sample((0..5).collect(), &mut ctx, &mut out);
    assert_eq!(out.as_slice(), &[0, 1, 2, 3, 4]);
}

#[test]
fn first_healthy_falls_back_to_the_first_as_last_resort() {
    assert_eq!(
        first_healthy(&[2, 0, 1], &[true, false, false], Rule::MostSpecific),
        (Some(0), Rule::MostSpecific)
    );
    assert_eq!(
        first_healthy(&[2, 0], &[false, false, false], Rule::MostSpecific),
        (Some(2), Rule::LastResort)
    );
    assert_eq!(first_healthy(&[], &[true], Rule::MostSpecific), (None, Rule::NoMatch));
}

/// A zone `p.test.` of `records` (JSON record sets) with a slot per named check.
fn snapshot(records: &[&str]) -> (Snapshot, HashMap<String, Arc<HealthSlot>>) {
    let zone = turnout_testkit::zone_records("p.test.", records);
    let slots: std::cell::RefCell<HashMap<String, Arc<HealthSlot>>> = Default::default();
    let compiled = compile_zone(
        &zone,
        &|name| slots.borrow_mut().entry(name.to_owned()).or_default().clone(),
        &|_| None,
    )
    .unwrap();
    (Snapshot::build([&compiled]).unwrap(), slots.into_inner())
}

/// The A records `select` answers `name` with, as text.
fn select_a(snap: &Snapshot, name: &str, seed: u64) -> Vec<String> {
    let wire = Name::parse_absolute(name).unwrap();
    let (zone, node, exact) = snap.closest_encloser(wire.as_wire()).unwrap();
    assert!(exact, "{name}");
    let part = snap.part(zone);
    let set = part.rrset_at(node, RType::A).unwrap();
    let mut ctx = Context::new(None, seed);
    let mut picks = Picks::new();
    part.select(set, &mut ctx, &mut NoTrace, &mut picks);
    let mut out: Vec<String> = picks
        .iter()
        .flat_map(|s| part.records(s).iter().map(|r| part.record(r).0))
        .map(|bytes| {
            let rdata = &bytes[bytes.len() - 4..];
            format!("{}.{}.{}.{}", rdata[0], rdata[1], rdata[2], rdata[3])
        })
        .collect();
    out.sort();
    out
}

#[test]
fn failover_follows_health_and_the_last_resort_is_the_primary() {
    let (snap, slots) = snapshot(&[
        r#"{"name":"www","type":"A","ttl":60,"set_id":"p","failover":"primary","health_check":"p","values":["192.0.2.1"]}"#,
        r#"{"name":"www","type":"A","ttl":60,"set_id":"s","failover":"secondary","health_check":"s","values":["192.0.2.2"]}"#,
    ]);
    assert_eq!(select_a(&snap, "www.p.test.", 1), ["192.0.2.1"]);
    slots["p"].set(Status::Unhealthy);
    assert_eq!(select_a(&snap, "www.p.test.", 1), ["192.0.2.2"]);
    slots["s"].set(Status::Unhealthy);
    assert_eq!(select_a(&snap, "www.p.test.", 1), ["192.0.2.1"], "last resort");
}

#[test]
fn an_alias_with_evaluate_target_health_abandons_a_dead_branch() {
    let (snap, slots) = snapshot(&[
        r#"{"name":"east","type":"A","ttl":30,"health_check":"e","set_id":"e","multivalue":true,"values":["192.0.2.11"]}"#,
        r#"{"name":"west","type":"A","ttl":30,"health_check":"w","set_id":"w","multivalue":true,"values":["192.0.2.21"]}"#,
        r#"{"name":"app","type":"A","set_id":"east","weight":1,"alias":{"target":"east","evaluate_target_health":true}}"#,
        r#"{"name":"app","type":"A","set_id":"west","weight":1,"alias":{"target":"west","evaluate_target_health":true}}"#,
    ]);
    slots["e"].set(Status::Unhealthy);
    for seed in 0..50 {
        assert_eq!(select_a(&snap, "app.p.test.", seed), ["192.0.2.21"], "seed {seed}");
    }
    // Both dead: the last resort picks a branch by weight, which answers its own last resort.
    slots["w"].set(Status::Unhealthy);
    let answers: std::collections::BTreeSet<Vec<String>> =
        (0..50).map(|seed| select_a(&snap, "app.p.test.", seed)).collect();
    assert_eq!(answers.len(), 2, "{answers:?}");
}

#[test]
fn multivalue_answers_up_to_eight_healthy_records() {
    let specs: Vec<String> = (1..=10)
        .map(|i| format!(r#"{{"name":"m","type":"A","ttl":60,"set_id":"r{i:02}","multivalue":true,"health_check":"c{i}","values":["192.0.2.{i}"]}}"#))
        .collect();
    let refs: Vec<&str> = specs.iter().map(String::as_str).collect();
    let (snap, slots) = snapshot(&refs);
    assert_eq!(select_a(&snap, "m.p.test.", 3).len(), MULTIVALUE_MAX);
    for i in 1..=7 {
        slots[&format!("c{i}")].set(Status::Unhealthy);
    }
    assert_eq!(select_a(&snap, "m.p.test.", 3), ["192.0.2.10", "192.0.2.8", "192.0.2.9"]);
    for i in 8..=10 {
        slots[&format!("c{i}")].set(Status::Unhealthy);
    }
    assert_eq!(select_a(&snap, "m.p.test.", 3).len(), MULTIVALUE_MAX, "none healthy: 8 of all");
}

#[test]
fn counted_answers_follow_the_choices_and_carry_over_a_change() {
    let records = [
        r#"{"name":"www","type":"A","ttl":60,"set_id":"p","failover":"primary","health_check":"p","values":["192.0.2.1"]}"#,
        r#"{"name":"www","type":"A","ttl":60,"set_id":"s","failover":"secondary","health_check":"s","values":["192.0.2.2"]}"#,
    ];
    let (snap, slots) = snapshot(&records);
    let stats = crate::stats::DnsStats::new(1);
    let shield = crate::Shield::off();
    let ask = |snap: &Snapshot, name: &str, n: usize| {
        let q = turnout_testkit::QueryBuilder::new(name, "A").build();
        let mut out = [0u8; 512];
        for _ in 0..n {
            let tally = Some(stats.udp_shard(0));
            crate::respond_with(snap, &shield, tally, &q, crate::Transport::Udp, None, 0, &mut out);
        }
    };
    let members = |snap: &Snapshot| -> Vec<(String, u64)> {
        let mut v: Vec<_> = snap
            .member_counts(|_| true)
            .into_iter()
            .map(|m| (format!("{} {} {}", m.name, m.rtype, m.set_id), m.answers))
            .collect();
        v.sort();
        v
    };
    ask(&snap, "www.p.test", 3);
    slots["p"].set(Status::Unhealthy);
    ask(&snap, "www.p.test", 2);
    ask(&snap, "nothing.p.test", 1);
    ask(&snap, "www.elsewhere.test", 1);
    assert_eq!(members(&snap), [("www.p.test. A p".into(), 3), ("www.p.test. A s".into(), 2)]);
    let zones = snap.zone_counts();
    assert_eq!(
        (zones.len(), zones[0].zone.to_string().as_str(), zones[0].queries),
        (1, "p.test.", 6)
    );

    // A change recompiles the zone: the new part starts at zero, and the retired one's counts
    // join it; a member that went away takes its count with it.
    let mut changed = records.to_vec();
    changed[1] = r#"{"name":"www","type":"A","ttl":60,"set_id":"t","failover":"secondary","values":["192.0.2.3"]}"#;
    let (next, _) = snapshot(&changed);
    ask(&next, "www.p.test", 1);
    next.carry_counts(&snap);
    assert_eq!(members(&next), [("www.p.test. A p".into(), 4), ("www.p.test. A t".into(), 0)]);
    assert_eq!(next.zone_counts()[0].queries, 7);
    // A part both snapshots share is not counted twice.
    let shared = next.update(std::iter::empty()).unwrap();
    shared.carry_counts(&next);
    assert_eq!(shared.zone_counts()[0].queries, 7);
}

/// The answers a secondary is sent (`crate::view`): no random draw, a client of unknown
/// location. Weighted: the heaviest healthy record, the first of equals; multivalue: the first
/// 8 healthy; an alias: its target's records under its own name; geolocation without a
/// default: nothing.
#[test]
fn the_view_is_the_answer_without_randomness_or_location() {
    let (snap, slots) = snapshot(&[
        r#"{"name":"w","type":"A","ttl":60,"set_id":"a","weight":10,"values":["192.0.2.1"]}"#,
        r#"{"name":"w","type":"A","ttl":60,"set_id":"b","weight":30,"health_check":"b","values":["192.0.2.2"]}"#,
        r#"{"name":"w","type":"A","ttl":60,"set_id":"c","weight":30,"values":["192.0.2.3"]}"#,
        r#"{"name":"g","type":"A","ttl":60,"set_id":"de","geo":{"country":"DE"},"values":["192.0.2.9"]}"#,
        r#"{"name":"app","type":"A","set_id":"only","weight":1,"alias":{"target":"w","evaluate_target_health":true}}"#,
    ]);
    let view = |name: &str| -> Vec<String> {
        let name = Name::parse_absolute(name).unwrap();
        let mut out: Vec<String> = crate::view::current_answer(&snap, &name, RType::A)
            .unwrap()
            .iter()
            .map(|r| format!("{} {} {}", r.name, r.ttl, r.rdata.display(r.rtype)))
            .collect();
        out.sort();
        out
    };
    for _ in 0..20 {
        assert_eq!(view("w.p.test."), ["w.p.test. 60 192.0.2.2"]);
    }
    slots["b"].set(Status::Unhealthy);
    assert_eq!(view("w.p.test."), ["w.p.test. 60 192.0.2.3"]);
    assert_eq!(view("app.p.test."), ["app.p.test. 60 192.0.2.3"]);
    assert!(view("g.p.test.").is_empty(), "no default record: no answer for an unknown client");
    assert!(
        crate::view::current_answer(&snap, &Name::parse_absolute("other.test.").unwrap(), RType::A)
            .is_none(),
        "not a zone of the snapshot"
    );

    let specs: Vec<String> = (1..=10)
        .map(|i| format!(r#"{{"name":"m","type":"A","ttl":60,"set_id":"r{i:02}","multivalue":true,"values":["192.0.2.{i}"]}}"#))
        .collect();
    let refs: Vec<&str> = specs.iter().map(String::as_str).collect();
    let (snap, _) = snapshot(&refs);
    let m =
        crate::view::current_answer(&snap, &Name::parse_absolute("m.p.test.").unwrap(), RType::A)
            .unwrap();
    let mut got: Vec<String> = m.iter().map(|r| r.rdata.display(r.rtype).to_string()).collect();
    got.sort();
    let mut want: Vec<String> = (1..=8).map(|i| format!("192.0.2.{i}")).collect();
    want.sort();
    assert_eq!(got, want, "the first 8, always");
}
