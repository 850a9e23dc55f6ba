//! Routing policies with health, end to end through the data plane's query path: record sets
//! as the API takes them -> `compile_zone` -> `Snapshot` -> answers, with seeded randomness.
//! Each test is one rule of docs/routing-policies.md.
#![allow(clippy::unwrap_used)] // A panic is how a test fails.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use turnout_dns::{Context, Explanation, Snapshot, explain};
use turnout_model::cidr::{CidrCollection, CidrCollectionSpec};
use turnout_model::compile::compile_zone;
use turnout_model::health::{HealthSlot, Status};
use turnout_model::{Name, RType, ZoneRecords};

/// The records of a zone `ex.test.` (its SOA and NS, then `specs`, each record-set JSON).
fn zone(specs: &[&str]) -> ZoneRecords {
    turnout_testkit::zone_records("ex.test.", specs)
}

/// A zone `ex.test.` built from record-set JSON, with a slot per named check (all healthy).
struct Setup {
    snap: Snapshot,
    checks: HashMap<String, Arc<HealthSlot>>,
}

impl Setup {
    fn new(specs: &[&str]) -> Setup {
        Setup::with_collections(specs, &[])
    }

    /// With CIDR collections, each as its JSON.
    fn with_collections(specs: &[&str], collections: &[&str]) -> Setup {
        let collections: HashMap<String, Arc<CidrCollection>> = collections
            .iter()
            .map(|json| {
                let c =
                    serde_json::from_str::<CidrCollectionSpec>(json).unwrap().validate().unwrap();
                (c.name.clone(), Arc::new(c))
            })
            .collect();
        let z = zone(specs);
        let checks: std::cell::RefCell<HashMap<String, Arc<HealthSlot>>> = Default::default();
        let zone = compile_zone(
            &z,
            &|name| checks.borrow_mut().entry(name.to_owned()).or_default().clone(),
            &|name| collections.get(name).cloned(),
        )
        .unwrap();
        Setup { snap: Snapshot::build([&zone]).unwrap(), checks: checks.into_inner() }
    }

    /// The same zone, locating clients with a generated geolocation database.
    fn with_geo(self, db: Vec<u8>) -> Setup {
        self.with_locator(Some(db), None)
    }

    /// The same zone with a geolocation database and a latency map (JSON).
    fn with_locator(mut self, db: Option<Vec<u8>>, latency: Option<&str>) -> Setup {
        let locator = turnout_dns::locate::Locator {
            geo: db.map(|d| turnout_dns::locate::GeoDb::from_bytes(d).unwrap()),
            latency: latency.map(|j| turnout_dns::locate::LatencyMap::from_json(j).unwrap()),
        };
        self.snap = std::mem::take(&mut self.snap).with_locator(Arc::new(locator));
        self
    }

    /// The answer's values (sorted) and ECS scope for a client.
    fn answer_for(&self, name: &str, client: &str) -> (Vec<String>, u8) {
        self.answer_for_subnet(name, client, 128)
    }

    /// The same for a client known by a subnet (an ECS source prefix).
    fn answer_for_subnet(&self, name: &str, client: &str, prefix: u8) -> (Vec<String>, u8) {
        let name = Name::parse_absolute(name).unwrap();
        let mut ctx = Context::new(Some(client.parse().unwrap()), 0).with_source_prefix(prefix);
        let e = explain(&self.snap, &name, RType::A, &mut ctx);
        assert_eq!(e.rcode, "NOERROR", "{e:?}");
        let mut v: Vec<String> =
            e.answer.iter().map(|l| l.rsplit(' ').next().unwrap().to_owned()).collect();
        v.sort();
        (v, e.ecs_scope)
    }

    fn set(&self, check: &str, status: Status) -> &Self {
        self.checks[check].set(status);
        self
    }

    fn explain(&self, name: &str, rtype: RType, seed: u64) -> Explanation {
        let name = Name::parse_absolute(name).unwrap();
        explain(&self.snap, &name, rtype, &mut Context::new(None, seed))
    }

    /// The rdata of the answer section, sorted.
    fn values(&self, name: &str, seed: u64) -> Vec<String> {
        let mut v: Vec<String> = self
            .explain(name, RType::A, seed)
            .answer
            .iter()
            .map(|l| l.rsplit(' ').next().unwrap().to_owned())
            .collect();
        v.sort();
        v
    }

    fn one(&self, name: &str, seed: u64) -> String {
        let v = self.values(name, seed);
        assert_eq!(v.len(), 1, "{v:?}");
        v[0].clone()
    }

    /// How often each value answers over `n` seeded queries.
    fn counts(&self, name: &str, n: u64) -> BTreeMap<String, u64> {
        let mut c = BTreeMap::new();
        for seed in 0..n {
            for v in self.values(name, seed) {
                *c.entry(v).or_default() += 1;
            }
        }
        c
    }
}

fn failover() -> Setup {
    Setup::new(&[
        r#"{"name":"www","type":"A","ttl":60,"set_id":"p","failover":"primary","health_check":"p","values":["192.0.2.1"]}"#,
        r#"{"name":"www","type":"A","ttl":60,"set_id":"s","failover":"secondary","health_check":"s","values":["192.0.2.2"]}"#,
    ])
}

#[test]
fn failover_primary_healthy_answers_whatever_the_secondary() {
    let s = failover();
    assert_eq!(s.one("www.ex.test.", 0), "192.0.2.1");
    s.set("s", Status::Unhealthy);
    assert_eq!(s.one("www.ex.test.", 0), "192.0.2.1");
}

#[test]
fn failover_primary_unhealthy_secondary_healthy_answers_the_secondary() {
    let s = failover();
    s.set("p", Status::Unhealthy);
    assert_eq!(s.one("www.ex.test.", 0), "192.0.2.2");
}

#[test]
fn failover_both_unhealthy_answers_the_primary() {
    let s = failover();
    s.set("p", Status::Unhealthy).set("s", Status::Unhealthy);
    assert_eq!(s.one("www.ex.test.", 0), "192.0.2.1");
    let e = s.explain("www.ex.test.", RType::A, 0);
    assert!(e.decisions[0].last_resort, "{e:?}");
}

#[test]
fn failover_secondary_without_a_check_is_always_healthy() {
    let s = Setup::new(&[
        r#"{"name":"www","type":"A","ttl":60,"set_id":"p","failover":"primary","health_check":"p","values":["192.0.2.1"]}"#,
        r#"{"name":"www","type":"A","ttl":60,"set_id":"s","failover":"secondary","values":["192.0.2.2"]}"#,
    ]);
    s.set("p", Status::Unhealthy);
    assert_eq!(s.one("www.ex.test.", 0), "192.0.2.2");
}

fn weighted(weights: &[(u8, Option<&str>)]) -> Setup {
    let specs: Vec<String> = weights
        .iter()
        .enumerate()
        .map(|(i, (w, check))| {
            let check = check.map(|c| format!(r#","health_check":"{c}""#)).unwrap_or_default();
            format!(
                r#"{{"name":"w","type":"A","ttl":60,"set_id":"r{i}","weight":{w}{check},"values":["192.0.2.{}"]}}"#,
                i + 1
            )
        })
        .collect();
    Setup::new(&specs.iter().map(String::as_str).collect::<Vec<_>>())
}

#[test]
fn weighted_choice_follows_the_weights() {
    // 10,000 queries, weights 1:3: each count within 3 standard deviations of n*p.
    let s = weighted(&[(1, None), (3, None)]);
    let n = 10_000u64;
    let c = s.counts("w.ex.test.", n);
    for (value, p) in [("192.0.2.1", 0.25), ("192.0.2.2", 0.75)] {
        let (mean, sd) = (n as f64 * p, (n as f64 * p * (1.0 - p)).sqrt());
        let got = c[value] as f64;
        assert!((got - mean).abs() <= 3.0 * sd, "{value}: {got} vs {mean} ± {}", 3.0 * sd);
    }
}

#[test]
fn weighted_zero_is_never_answered_beside_nonzero_weights() {
    let s = weighted(&[(0, None), (5, None)]);
    assert_eq!(s.counts("w.ex.test.", 500).keys().collect::<Vec<_>>(), ["192.0.2.2"]);
}

#[test]
fn weighted_all_zero_are_chosen_equally() {
    let s = weighted(&[(0, None), (0, None)]);
    let c = s.counts("w.ex.test.", 2000);
    assert!(c.values().all(|&k| (800..=1200).contains(&k)), "{c:?}");
}

#[test]
fn weighted_zero_answers_once_every_nonzero_record_is_unhealthy() {
    let s = weighted(&[(0, Some("z")), (5, Some("a")), (5, Some("b"))]);
    s.set("a", Status::Unhealthy);
    assert_eq!(s.counts("w.ex.test.", 200).keys().collect::<Vec<_>>(), ["192.0.2.3"]);
    s.set("b", Status::Unhealthy);
    assert_eq!(s.counts("w.ex.test.", 200).keys().collect::<Vec<_>>(), ["192.0.2.1"]);
}

#[test]
fn weighted_all_unhealthy_is_the_last_resort_by_weight() {
    let s = weighted(&[(0, Some("z")), (1, Some("a")), (3, Some("b"))]);
    for c in ["z", "a", "b"] {
        s.set(c, Status::Unhealthy);
    }
    let c = s.counts("w.ex.test.", 4000);
    assert!(!c.contains_key("192.0.2.1"), "weight 0 stays out: {c:?}");
    assert!((800..=1200).contains(&c["192.0.2.2"]), "{c:?}");
    let e = s.explain("w.ex.test.", RType::A, 1);
    assert!(e.decisions[0].last_resort);
}

fn multivalue(n: usize) -> Setup {
    let specs: Vec<String> = (1..=n)
        .map(|i| {
            format!(
                r#"{{"name":"m","type":"A","ttl":{},"set_id":"r{i:02}","multivalue":true,"health_check":"c{i}","values":["192.0.2.{i}"]}}"#,
                60 + i
            )
        })
        .collect();
    Setup::new(&specs.iter().map(String::as_str).collect::<Vec<_>>())
}

#[test]
fn multivalue_answers_every_healthy_record_up_to_eight() {
    let s = multivalue(4);
    s.set("c2", Status::Unhealthy);
    assert_eq!(s.values("m.ex.test.", 0), ["192.0.2.1", "192.0.2.3", "192.0.2.4"]);
    // One RRset, one TTL: the smallest (RFC 2181 §5.2).
    let e = s.explain("m.ex.test.", RType::A, 0);
    assert!(e.answer.iter().all(|l| l.contains(" 61 IN A ")), "{:?}", e.answer);
}

#[test]
fn multivalue_more_than_eight_healthy_gives_different_subsets_of_eight() {
    let s = multivalue(12);
    let subsets: std::collections::BTreeSet<Vec<String>> =
        (0..50).map(|seed| s.values("m.ex.test.", seed)).collect();
    assert!(subsets.iter().all(|v| v.len() == 8), "{subsets:?}");
    assert!(subsets.len() > 10, "only {} different subsets", subsets.len());
    let seen: std::collections::BTreeSet<&String> = subsets.iter().flatten().collect();
    assert_eq!(seen.len(), 12, "every record shows up");
}

#[test]
fn multivalue_all_unhealthy_answers_up_to_eight_unhealthy_records() {
    let s = multivalue(10);
    for i in 1..=10 {
        s.set(&format!("c{i}"), Status::Unhealthy);
    }
    assert_eq!(s.values("m.ex.test.", 3).len(), 8);
    let s = multivalue(3);
    for i in 1..=3 {
        s.set(&format!("c{i}"), Status::Unhealthy);
    }
    assert_eq!(s.values("m.ex.test.", 3).len(), 3);
}

#[test]
fn simple_records_answer_every_value_without_health() {
    let s = Setup::new(&[r#"{"name":"s","type":"A","ttl":60,"values":["192.0.2.1","192.0.2.2"]}"#]);
    assert_eq!(s.values("s.ex.test.", 0), ["192.0.2.1", "192.0.2.2"]);
    assert!(s.explain("s.ex.test.", RType::A, 0).decisions.is_empty());
}

fn tree() -> Setup {
    // app: weighted aliases to two failover groups; each failover pair has checks.
    Setup::new(&[
        r#"{"name":"east","type":"A","ttl":30,"set_id":"p","failover":"primary","health_check":"e1","values":["192.0.2.11"]}"#,
        r#"{"name":"east","type":"A","ttl":30,"set_id":"s","failover":"secondary","health_check":"e2","values":["192.0.2.12"]}"#,
        r#"{"name":"west","type":"A","ttl":40,"set_id":"p","failover":"primary","health_check":"w1","values":["192.0.2.21"]}"#,
        r#"{"name":"west","type":"A","ttl":40,"set_id":"s","failover":"secondary","health_check":"w2","values":["192.0.2.22"]}"#,
        r#"{"name":"app","type":"A","set_id":"east","weight":1,"alias":{"target":"east","evaluate_target_health":true}}"#,
        r#"{"name":"app","type":"A","set_id":"west","weight":1,"alias":{"target":"west","evaluate_target_health":true}}"#,
        r#"{"name":"blind","type":"A","set_id":"east","weight":1,"alias":{"target":"east","evaluate_target_health":false}}"#,
        r#"{"name":"blind","type":"A","set_id":"west","weight":1,"alias":{"target":"west","evaluate_target_health":false}}"#,
        r#"{"name":"@","type":"A","alias":{"target":"app","evaluate_target_health":false}}"#,
    ])
}

#[test]
fn alias_answers_with_the_targets_records_and_ttl() {
    let s = tree();
    let e = s.explain("east.ex.test.", RType::A, 0);
    assert_eq!(e.answer, ["east.ex.test. 30 IN A 192.0.2.11"]);
    // The apex alias follows app, which follows east or west: the target's TTL, the alias's
    // name and type, never a CNAME.
    let answers: std::collections::BTreeSet<Vec<String>> =
        (0..20).map(|seed| s.explain("ex.test.", RType::A, seed).answer).collect();
    assert_eq!(
        answers.into_iter().collect::<Vec<_>>(),
        [
            vec!["ex.test. 30 IN A 192.0.2.11".to_owned()],
            vec!["ex.test. 40 IN A 192.0.2.21".to_owned()]
        ]
    );
}

#[test]
fn evaluate_target_health_abandons_a_branch_whose_records_are_all_unhealthy() {
    let s = tree();
    s.set("e1", Status::Unhealthy);
    // east is still healthy through its secondary: both branches stay.
    assert_eq!(s.counts("app.ex.test.", 200).len(), 2);
    s.set("e2", Status::Unhealthy);
    assert_eq!(s.counts("app.ex.test.", 200).keys().collect::<Vec<_>>(), ["192.0.2.21"]);
    let e = s.explain("app.ex.test.", RType::A, 0);
    let top = &e.decisions[0];
    assert_eq!(
        top.candidates.iter().map(|c| (c.set_id.as_str(), c.healthy)).collect::<Vec<_>>(),
        [("east", false), ("west", true)]
    );
}

#[test]
fn without_evaluate_target_health_a_branch_is_never_abandoned() {
    let s = tree();
    s.set("e1", Status::Unhealthy).set("e2", Status::Unhealthy);
    // blind still picks east half the time, and inside it the failover last resort: the primary.
    let c = s.counts("blind.ex.test.", 400);
    assert_eq!(c.keys().collect::<Vec<_>>(), ["192.0.2.11", "192.0.2.21"], "{c:?}");
    let e = (0..20)
        .map(|seed| s.explain("blind.ex.test.", RType::A, seed))
        .find(|e| e.answer[0].ends_with("192.0.2.11"))
        .unwrap();
    assert!(!e.decisions[0].last_resort);
    assert!(e.decisions[1].last_resort, "{e:?}");
}

#[test]
fn every_branch_unhealthy_is_the_last_resort_at_every_level() {
    let s = tree();
    for c in ["e1", "e2", "w1", "w2"] {
        s.set(c, Status::Unhealthy);
    }
    let c = s.counts("app.ex.test.", 200);
    assert_eq!(c.keys().collect::<Vec<_>>(), ["192.0.2.11", "192.0.2.21"], "never empty: {c:?}");
}

#[test]
fn an_alias_with_a_check_and_evaluate_target_health_needs_both() {
    let s = Setup::new(&[
        r#"{"name":"t","type":"A","ttl":30,"set_id":"a","weight":1,"health_check":"t","values":["192.0.2.1"]}"#,
        r#"{"name":"x","type":"A","set_id":"p","failover":"primary","health_check":"own","alias":{"target":"t","evaluate_target_health":true}}"#,
        r#"{"name":"x","type":"A","ttl":30,"set_id":"s","failover":"secondary","values":["192.0.2.9"]}"#,
    ]);
    assert_eq!(s.one("x.ex.test.", 0), "192.0.2.1");
    s.set("own", Status::Unhealthy);
    assert_eq!(s.one("x.ex.test.", 0), "192.0.2.9", "its own check fails");
    s.set("own", Status::Healthy).set("t", Status::Unhealthy);
    assert_eq!(s.one("x.ex.test.", 0), "192.0.2.9", "its target fails");
}

#[test]
fn a_weighted_cname_group_answers_one_cname() {
    let s = Setup::new(&[
        r#"{"name":"c","type":"CNAME","ttl":60,"set_id":"a","weight":1,"health_check":"a","values":["a.example.net."]}"#,
        r#"{"name":"c","type":"CNAME","ttl":60,"set_id":"b","weight":1,"values":["b.example.net."]}"#,
    ]);
    s.set("a", Status::Unhealthy);
    for seed in 0..20 {
        let e = s.explain("c.ex.test.", RType::A, seed);
        assert_eq!(e.answer, ["c.ex.test. 60 IN CNAME b.example.net."]);
    }
}

#[test]
fn explain_names_each_candidate_its_check_and_the_rule() {
    let s = failover();
    s.set("p", Status::Unhealthy);
    let e = s.explain("www.ex.test.", RType::A, 0);
    let json = serde_json::to_value(&e).unwrap();
    assert_eq!(json["rcode"], "NOERROR");
    assert_eq!(json["answer"][0], "www.ex.test. 60 IN A 192.0.2.2");
    let d = &json["decisions"][0];
    assert_eq!((d["name"].as_str(), d["type"].as_str()), (Some("www.ex.test."), Some("A")));
    assert_eq!(d["policy"], "failover");
    assert_eq!(d["rule"], "the first healthy record in the policy's order");
    assert_eq!(d["candidates"][0]["health_check"], "p");
    assert_eq!(d["candidates"][0]["healthy"], false);
    assert_eq!(d["candidates"][1]["chosen"], true);
    assert_eq!(d["candidates"][1]["policy"], "secondary");
}

/// Clients: 192.0.2.0/24 California, 198.51.100.0/24 the US without a state, 203.0.113.0/25
/// France, 203.0.113.128/25 Kenya (Africa, no country record), 2001:db8::/32 Japan.
fn geo_db() -> Vec<u8> {
    turnout_testkit::geo_database(&[
        ("192.0.2.0/24", "NA", "US", "CA", None),
        ("198.51.100.0/24", "NA", "US", "", None),
        ("203.0.113.0/25", "EU", "FR", "", None),
        ("203.0.113.128/25", "AF", "KE", "", None),
        ("2001:db8::/32", "AS", "JP", "", None),
    ])
}

fn geolocation(with_default: bool) -> Setup {
    let mut specs = vec![
        r#"{"name":"g","type":"A","ttl":60,"set_id":"ca","geo":{"country":"US","subdivision":"CA"},"health_check":"ca","values":["192.0.2.1"]}"#,
        r#"{"name":"g","type":"A","ttl":60,"set_id":"us","geo":{"country":"US"},"health_check":"us","values":["192.0.2.2"]}"#,
        r#"{"name":"g","type":"A","ttl":60,"set_id":"na","geo":{"continent":"NA"},"health_check":"na","values":["192.0.2.3"]}"#,
        r#"{"name":"g","type":"A","ttl":60,"set_id":"eu","geo":{"continent":"EU"},"values":["192.0.2.4"]}"#,
    ];
    if with_default {
        specs.push(
            r#"{"name":"g","type":"A","ttl":60,"set_id":"any","geo":{"country":"*"},"health_check":"any","values":["192.0.2.9"]}"#,
        );
    }
    Setup::new(&specs).with_geo(geo_db())
}

#[test]
fn geolocation_the_most_specific_location_wins() {
    let s = geolocation(true);
    assert_eq!(
        s.answer_for("g.ex.test.", "192.0.2.77"),
        (vec!["192.0.2.1".to_owned()], 24),
        "state"
    );
    assert_eq!(
        s.answer_for("g.ex.test.", "203.0.113.5"),
        (vec!["192.0.2.4".to_owned()], 25),
        "continent"
    );
    assert_eq!(
        s.answer_for("g.ex.test.", "2001:db8::1"),
        (vec!["192.0.2.9".to_owned()], 32),
        "default"
    );
}

#[test]
fn geolocation_a_us_client_without_a_state_gets_the_us_record() {
    let s = geolocation(true);
    assert_eq!(s.answer_for("g.ex.test.", "198.51.100.7").0, ["192.0.2.2"]);
}

#[test]
fn geolocation_an_unlocatable_client_gets_the_default() {
    let s = geolocation(true);
    assert_eq!(s.answer_for("g.ex.test.", "10.1.2.3").0, ["192.0.2.9"]);
    let s = geolocation(false);
    assert_eq!(
        s.answer_for("g.ex.test.", "10.1.2.3").0,
        Vec::<String>::new(),
        "no default: no answer"
    );
}

#[test]
fn geolocation_no_match_and_no_default_is_noerror_without_an_answer() {
    let s = geolocation(false);
    assert_eq!(s.answer_for("g.ex.test.", "203.0.113.200").0, Vec::<String>::new(), "Kenya");
    let e = s.explain("g.ex.test.", RType::A, 0);
    assert_eq!(e.rcode, "NOERROR");
}

#[test]
fn geolocation_an_unhealthy_match_falls_back_to_larger_regions_then_the_most_specific() {
    let s = geolocation(true);
    s.set("ca", Status::Unhealthy);
    assert_eq!(s.answer_for("g.ex.test.", "192.0.2.77").0, ["192.0.2.2"], "state down: country");
    s.set("us", Status::Unhealthy);
    assert_eq!(s.answer_for("g.ex.test.", "192.0.2.77").0, ["192.0.2.3"], "then the continent");
    s.set("na", Status::Unhealthy);
    assert_eq!(s.answer_for("g.ex.test.", "192.0.2.77").0, ["192.0.2.9"], "then the default");
    s.set("any", Status::Unhealthy);
    assert_eq!(
        s.answer_for("g.ex.test.", "192.0.2.77").0,
        ["192.0.2.1"],
        "all down: the state record"
    );
}

#[test]
fn an_answer_that_does_not_depend_on_the_client_has_scope_zero() {
    let s = failover().with_geo(geo_db());
    assert_eq!(s.answer_for("www.ex.test.", "192.0.2.77"), (vec!["192.0.2.1".to_owned()], 0));
}

/// Regions us-east (38.9, -77.0), eu-west (53.3, -6.3), ap-south (19.1, 72.9). 192.0.2.0/24 is
/// close to us-east, 198.51.100.0/24 to eu-west; 203.0.113.0/24 is not in the latency map but
/// the geolocation database puts it in Paris.
const LATENCY: &str = r#"{
  "regions": {
    "us-east": {"latitude": 38.9, "longitude": -77.0},
    "eu-west": {"latitude": 53.3, "longitude": -6.3},
    "ap-south": {"latitude": 19.1, "longitude": 72.9}
  },
  "networks": [
    {"network": "192.0.2.0/24", "rtt_ms": {"us-east": 12, "eu-west": 80, "ap-south": 210}},
    {"network": "198.51.100.0/23", "rtt_ms": {"us-east": 85, "eu-west": 9, "ap-south": 120}}
  ]
}"#;

fn latency() -> Setup {
    Setup::new(&[
        r#"{"name":"l","type":"A","ttl":60,"set_id":"a-us","region":"us-east","health_check":"us","values":["192.0.2.1"]}"#,
        r#"{"name":"l","type":"A","ttl":60,"set_id":"b-eu","region":"eu-west","health_check":"eu","values":["192.0.2.2"]}"#,
        r#"{"name":"l","type":"A","ttl":60,"set_id":"c-ap","region":"ap-south","health_check":"ap","values":["192.0.2.3"]}"#,
    ])
    .with_locator(
        Some(turnout_testkit::geo_database(&[("203.0.113.0/24", "EU", "FR", "", Some((48.86, 2.35)))])),
        Some(LATENCY),
    )
}

#[test]
fn latency_the_region_with_the_lowest_latency_answers() {
    let s = latency();
    assert_eq!(s.answer_for("l.ex.test.", "192.0.2.50"), (vec!["192.0.2.1".to_owned()], 24));
    assert_eq!(s.answer_for("l.ex.test.", "198.51.101.7"), (vec!["192.0.2.2".to_owned()], 23));
}

#[test]
fn latency_an_unhealthy_best_region_gives_the_next_best() {
    let s = latency();
    s.set("us", Status::Unhealthy);
    assert_eq!(
        s.answer_for("l.ex.test.", "192.0.2.50").0,
        ["192.0.2.2"],
        "eu-west is next at 80 ms"
    );
    s.set("eu", Status::Unhealthy).set("ap", Status::Unhealthy);
    assert_eq!(s.answer_for("l.ex.test.", "192.0.2.50").0, ["192.0.2.1"], "all down: the best");
}

#[test]
fn latency_an_unmapped_client_falls_back_to_the_nearest_region() {
    let s = latency();
    // Paris is nearest to eu-west.
    assert_eq!(s.answer_for("l.ex.test.", "203.0.113.9"), (vec!["192.0.2.2".to_owned()], 24));
    // Not in the map, not in the database: set-id order.
    assert_eq!(s.answer_for("l.ex.test.", "10.0.0.1"), (vec!["192.0.2.1".to_owned()], 0));
}

fn proximity(bias_a: i32, bias_b: i32) -> Setup {
    // The client is at (0, 0); A is about 150 km north, B about 100 km south.
    let a = format!(
        r#"{{"name":"p","type":"A","ttl":60,"set_id":"a","geoproximity":{{"latitude":1.35,"longitude":0,"bias":{bias_a}}},"health_check":"a","values":["192.0.2.1"]}}"#
    );
    let b = format!(
        r#"{{"name":"p","type":"A","ttl":60,"set_id":"b","geoproximity":{{"latitude":-0.9,"longitude":0,"bias":{bias_b}}},"health_check":"b","values":["192.0.2.2"]}}"#
    );
    let c = r#"{"name":"p","type":"A","ttl":60,"set_id":"c","geoproximity":{"region":"ap-south"},"values":["192.0.2.3"]}"#;
    Setup::new(&[&a, &b, c]).with_locator(
        Some(turnout_testkit::geo_database(&[
            ("192.0.2.0/24", "AF", "GA", "", Some((0.0, 0.0))),
            ("198.51.100.0/24", "AS", "IN", "", Some((19.0, 73.0))),
        ])),
        Some(LATENCY),
    )
}

#[test]
fn geoproximity_the_smallest_distance_answers() {
    assert_eq!(
        proximity(0, 0).answer_for("p.ex.test.", "192.0.2.1"),
        (vec!["192.0.2.2".to_owned()], 24)
    );
    // A region-named record takes the latency map's coordinates.
    assert_eq!(proximity(0, 0).answer_for("p.ex.test.", "198.51.100.1").0, ["192.0.2.3"]);
}

#[test]
fn geoproximity_a_positive_bias_grows_a_records_area() {
    // As in docs/routing-policies.md: 150 km with bias +50 counts as 75 km and beats 100 km.
    assert_eq!(proximity(50, 0).answer_for("p.ex.test.", "192.0.2.1").0, ["192.0.2.1"]);
}

#[test]
fn geoproximity_a_negative_bias_shrinks_a_records_area() {
    // B at 100 km with bias -40 counts as 100 / 0.6 = 167 km: A at 150 km wins. (Multiplying
    // by 1.4 instead would give 140 km and B.)
    assert_eq!(proximity(0, -40).answer_for("p.ex.test.", "192.0.2.1").0, ["192.0.2.1"]);
}

#[test]
fn geoproximity_an_unhealthy_closest_record_gives_the_next_closest() {
    let s = proximity(0, 0);
    s.set("b", Status::Unhealthy);
    assert_eq!(s.answer_for("p.ex.test.", "192.0.2.1").0, ["192.0.2.1"]);
}

const OFFICES: &str = r#"{"name":"offices","locations":{
  "paris":["192.0.2.0/23","2001:db8:1::/48"],
  "paris-lab":["192.0.3.0/24"],
  "tokyo":["198.51.100.0/22"]}}"#;

fn ip_based(with_default: bool) -> Setup {
    let mut specs = vec![
        r#"{"name":"i","type":"A","ttl":60,"set_id":"paris","cidr":{"collection":"offices","location":"paris"},"health_check":"paris","values":["192.0.2.1"]}"#,
        r#"{"name":"i","type":"A","ttl":60,"set_id":"lab","cidr":{"collection":"offices","location":"paris-lab"},"health_check":"lab","values":["192.0.2.2"]}"#,
        r#"{"name":"i","type":"A","ttl":60,"set_id":"tokyo","cidr":{"collection":"offices","location":"tokyo"},"values":["192.0.2.3"]}"#,
    ];
    if with_default {
        specs.push(r#"{"name":"i","type":"A","ttl":60,"set_id":"any","cidr":{"collection":"offices","location":"*"},"health_check":"any","values":["192.0.2.9"]}"#);
    }
    Setup::with_collections(&specs, &[OFFICES])
}

#[test]
fn ip_based_the_longest_matching_network_wins() {
    let s = ip_based(true);
    assert_eq!(s.answer_for("i.ex.test.", "192.0.2.7"), (vec!["192.0.2.1".to_owned()], 23));
    assert_eq!(
        s.answer_for("i.ex.test.", "192.0.3.200"),
        (vec!["192.0.2.2".to_owned()], 24),
        "the /24"
    );
    assert_eq!(s.answer_for("i.ex.test.", "198.51.103.1"), (vec!["192.0.2.3".to_owned()], 22));
    assert_eq!(
        s.answer_for("i.ex.test.", "2001:db8:1:2::5"),
        (vec!["192.0.2.1".to_owned()], 48),
        "v6"
    );
}

#[test]
fn ip_based_no_match_gets_the_default_with_the_tables_longest_prefix_as_scope() {
    let s = ip_based(true);
    assert_eq!(s.answer_for("i.ex.test.", "203.0.113.1"), (vec!["192.0.2.9".to_owned()], 24));
    assert_eq!(s.answer_for("i.ex.test.", "2001:db8:2::1"), (vec!["192.0.2.9".to_owned()], 48));
    let s = ip_based(false);
    assert_eq!(
        s.answer_for("i.ex.test.", "203.0.113.1").0,
        Vec::<String>::new(),
        "no default: no answer"
    );
}

#[test]
fn ip_based_an_unhealthy_location_falls_back_to_the_default_then_itself() {
    let s = ip_based(true);
    s.set("lab", Status::Unhealthy);
    assert_eq!(
        s.answer_for("i.ex.test.", "192.0.3.200").0,
        ["192.0.2.9"],
        "the default, not the /23"
    );
    s.set("any", Status::Unhealthy);
    assert_eq!(s.answer_for("i.ex.test.", "192.0.3.200").0, ["192.0.2.2"], "all down: the match");
}

#[test]
fn ip_based_a_client_subnet_shorter_than_a_network_does_not_match_it() {
    let s = ip_based(true);
    // 192.0.2.0/23 holds paris-lab's 192.0.3.0/24 only in part and is shorter than it: the
    // client is in paris's /23.
    assert_eq!(
        s.answer_for_subnet("i.ex.test.", "192.0.2.0", 23),
        (vec!["192.0.2.1".to_owned()], 23)
    );
    // 192.0.3.0 known only as a /23 does not match the /24 either.
    assert_eq!(s.answer_for_subnet("i.ex.test.", "192.0.3.0", 23).0, ["192.0.2.1"]);
    // A /22 matches neither: the default.
    assert_eq!(s.answer_for_subnet("i.ex.test.", "192.0.0.0", 22).0, ["192.0.2.9"]);
}

#[test]
fn a_health_check_on_a_simple_record_is_accepted_and_ignored() {
    let s = Setup::new(&[
        r#"{"name":"s","type":"A","ttl":60,"health_check":"c","values":["192.0.2.1"]}"#,
    ]);
    // The compiled zone never reads the check: nothing to fail over to.
    assert!(!s.checks.contains_key("c"), "the check's slot was taken");
    assert_eq!(s.one("s.ex.test.", 0), "192.0.2.1");
}

/// What a compiled zone holds for `name` (TTL and data), before any query.
fn compiled_answer(
    z: &turnout_model::Zone,
    name: &str,
    rtype: RType,
) -> Option<(u32, Vec<String>)> {
    let set = z.get(&Name::parse_absolute(name).unwrap(), rtype)?;
    Some((set.ttl, set.rdatas.iter().map(|r| r.display(rtype).to_string()).collect()))
}

#[test]
fn compiled_zones_answer_as_if_all_were_healthy() {
    let z = compile_zone(&zone(&[
        r#"{"name":"www","type":"A","ttl":60,"set_id":"b","failover":"secondary","values":["192.0.2.2"]}"#,
        r#"{"name":"www","type":"A","ttl":60,"set_id":"a","failover":"primary","values":["192.0.2.1"]}"#,
        r#"{"name":"w","type":"A","ttl":5,"set_id":"a","weight":1,"values":["192.0.2.1"]}"#,
        r#"{"name":"w","type":"A","ttl":5,"set_id":"b","weight":9,"values":["192.0.2.9"]}"#,
        r#"{"name":"m","type":"A","ttl":30,"set_id":"a","multivalue":true,"values":["192.0.2.1"]}"#,
        r#"{"name":"m","type":"A","ttl":20,"set_id":"b","multivalue":true,"values":["192.0.2.2"]}"#,
        r#"{"name":"@","type":"A","alias":{"target":"www","evaluate_target_health":true}}"#,
    ]), &|_| Arc::new(HealthSlot::default()), &|_| None)
    .unwrap();
    assert_eq!(compiled_answer(&z, "www.ex.test.", RType::A), Some((60, vec!["192.0.2.1".into()])));
    assert_eq!(compiled_answer(&z, "w.ex.test.", RType::A), Some((5, vec!["192.0.2.9".into()])));
    assert_eq!(
        compiled_answer(&z, "m.ex.test.", RType::A),
        Some((20, vec!["192.0.2.1".into(), "192.0.2.2".into()]))
    );
    assert_eq!(compiled_answer(&z, "ex.test.", RType::A), Some((60, vec!["192.0.2.1".into()])));
}

#[test]
fn an_always_served_record_is_answered_whatever_its_check_says() {
    let s = Setup::new(&[
        r#"{"name":"www","type":"A","ttl":60,"set_id":"p","failover":"primary","health_check":"p","always_serve":true,"values":["192.0.2.1"]}"#,
        r#"{"name":"www","type":"A","ttl":60,"set_id":"s","failover":"secondary","health_check":"s","values":["192.0.2.2"]}"#,
    ]);
    // The record does not read its check at all: no slot was asked for it.
    assert!(!s.checks.contains_key("p"), "{:?}", s.checks.keys());
    s.set("s", Status::Unhealthy);
    assert_eq!(s.one("www.ex.test.", 0), "192.0.2.1");
    let e = s.explain("www.ex.test.", RType::A, 0);
    let primary = &e.decisions[0].candidates[0];
    assert!(primary.always_serve && primary.healthy, "{primary:?}");
    assert_eq!(primary.health_check.as_deref(), Some("p"));
    assert!(!e.decisions[0].candidates[1].always_serve);
    // always_serve without a check has nothing to override.
    let spec: turnout_model::RecordSetSpec = serde_json::from_str(
        r#"{"name":"www","type":"A","ttl":60,"always_serve":true,"values":["192.0.2.1"]}"#,
    )
    .unwrap();
    let errors = spec.validate(&Name::parse_absolute("ex.test.").unwrap()).unwrap_err();
    assert_eq!(errors[0].field, "always_serve");
}

/// A failover pair whose primary is a weighted pool of four (each record with its check
/// c1..c4) that needs `min` healthy records, and whose secondary trickles `trickle` %.
fn pool(min: &str, trickle: &str) -> Setup {
    let mut specs: Vec<String> = (1..=4)
        .map(|i| {
            format!(
                r#"{{"name":"pool","type":"A","ttl":60,"set_id":"m{i}","weight":1,"health_check":"c{i}"{min},"values":["192.0.2.{i}"]}}"#
            )
        })
        .collect();
    specs.push(r#"{"name":"www","type":"A","set_id":"p","failover":"primary","alias":{"target":"pool","evaluate_target_health":true}}"#.to_owned());
    specs.push(format!(
        r#"{{"name":"www","type":"A","ttl":60,"set_id":"s","failover":"secondary","health_check":"s"{trickle},"values":["198.51.100.1"]}}"#
    ));
    let refs: Vec<&str> = specs.iter().map(String::as_str).collect();
    Setup::new(&refs)
}

fn to_secondary(s: &Setup, n: u64) -> u64 {
    s.counts("www.ex.test.", n).get("198.51.100.1").copied().unwrap_or(0)
}

#[test]
fn a_pool_with_min_healthy_fails_over_before_its_last_member_dies() {
    let s = pool(r#","min_healthy":3"#, "");
    assert_eq!(to_secondary(&s, 200), 0);
    s.set("c1", Status::Unhealthy);
    assert_eq!(to_secondary(&s, 200), 0, "3 of 4 healthy: still the pool");
    s.set("c2", Status::Unhealthy);
    assert_eq!(to_secondary(&s, 200), 200, "2 of 4 healthy: below 3, the secondary");
    let e = s.explain("www.ex.test.", RType::A, 0);
    let primary = &e.decisions[0].candidates[0];
    assert_eq!(
        primary.unhealthy_because.as_deref(),
        Some("fewer than 3 records of its target are healthy (min_healthy)"),
        "{e:?}"
    );
    // The same pool without a threshold keeps answering until its last member dies.
    let plain = pool("", "");
    plain.set("c1", Status::Unhealthy).set("c2", Status::Unhealthy).set("c3", Status::Unhealthy);
    assert_eq!(to_secondary(&plain, 200), 0);
    // A percentage: 75 % of 4 is 3.
    let pct = pool(r#","min_healthy_pct":75"#, "");
    pct.set("c4", Status::Unhealthy).set("c3", Status::Unhealthy);
    assert_eq!(to_secondary(&pct, 200), 200);
}

#[test]
fn a_trickle_sends_its_share_to_a_healthy_secondary_while_the_primary_is_healthy() {
    let s = pool("", r#","trickle_pct":5"#);
    let n = 10_000;
    let got = to_secondary(&s, n);
    assert!((400..=600).contains(&got), "{got} of {n} answers went to the secondary");
    let e = (0..n)
        .map(|seed| s.explain("www.ex.test.", RType::A, seed))
        .find(|e| e.decisions[0].candidates[1].chosen)
        .unwrap();
    assert!(e.decisions[0].rule.starts_with("the trickle"), "{}", e.decisions[0].rule);
    // An unhealthy secondary gets none; an unhealthy primary, all.
    s.set("s", Status::Unhealthy);
    assert_eq!(to_secondary(&s, 2_000), 0);
    s.set("s", Status::Healthy);
    for c in ["c1", "c2", "c3", "c4"] {
        s.set(c, Status::Unhealthy);
    }
    assert_eq!(to_secondary(&s, 2_000), 2_000);
    // A secondary (a current-answers view) is sent the primary: no randomness there.
    let s = pool("", r#","trickle_pct":50"#);
    let name = Name::parse_absolute("www.ex.test.").unwrap();
    for _ in 0..50 {
        let e = explain(&s.snap, &name, RType::A, &mut Context::view());
        assert!(!e.answer.iter().any(|l| l.ends_with("198.51.100.1")), "{e:?}");
    }
}
