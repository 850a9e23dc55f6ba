//! Every validation rule of record sets, groups (docs/desired-state.md) and change batches
//! (docs/api.md), submitted through the HTTP API: each case asserts the HTTP status, the error
//! code, the field, and that the zone did not change.

use hyper::Method;

use crate::harness::{Server, start};

fn create(rs: &str) -> String {
    format!(r#"{{"action":"CREATE","record_set":{rs}}}"#)
}
fn delete(rs: &str) -> String {
    format!(r#"{{"action":"DELETE","record_set":{rs}}}"#)
}
fn upsert(rs: &str) -> String {
    format!(r#"{{"action":"UPSERT","record_set":{rs}}}"#)
}
fn batch(changes: &[String]) -> String {
    format!(r#"{{"changes":[{}]}}"#, changes.join(","))
}
fn a(name: &str, extra: &str) -> String {
    let sep = if extra.is_empty() { "" } else { "," };
    format!(r#"{{"name":"{name}","type":"A","ttl":60{sep}{extra},"values":["192.0.2.1"]}}"#)
}
fn alias(name: &str, rtype: &str, target: &str, extra: &str) -> String {
    let sep = if extra.is_empty() { "" } else { "," };
    format!(
        r#"{{"name":"{name}","type":"{rtype}"{sep}{extra},"alias":{{"target":"{target}","evaluate_target_health":false}}}}"#
    )
}

struct Case {
    rule: &'static str,
    setup: Vec<String>,
    body: String,
    status: u16,
    code: &'static str,
    /// (field, per-change code) pairs that must all appear; for non-batch errors, the field.
    expect: Vec<(&'static str, &'static str)>,
}

fn case(
    rule: &'static str,
    setup: Vec<String>,
    body: String,
    expect: Vec<(&'static str, &'static str)>,
) -> Case {
    Case { rule, setup, body, status: 400, code: "InvalidChangeBatch", expect }
}

fn cases() -> Vec<Case> {
    let many_values: Vec<String> =
        (0..401).map(|i| format!("\"10.0.{}.{}\"", i / 256, i % 256)).collect();
    let weighted: Vec<String> =
        (0..101).map(|i| create(&a("w", &format!(r#""set_id":"s{i}","weight":1"#)))).collect();
    let geoprox: Vec<String> = (0..31)
        .map(|i| {
            create(&a(
                "g",
                &format!(r#""set_id":"s{i}","geoproximity":{{"latitude":{i},"longitude":0}}"#),
            ))
        })
        .collect();
    let values_250: Vec<String> =
        (0..250).map(|i| format!("\"10.1.{}.{}\"", i / 256, i % 256)).collect();
    let big = |n: usize| {
        format!(r#"{{"name":"big{n}","type":"A","ttl":60,"values":[{}]}}"#, values_250.join(","))
    };
    let long_txt = |n: usize| {
        format!(r#"{{"name":"t{n}","type":"TXT","ttl":60,"values":["{}"]}}"#, "x ".repeat(1300))
    };
    vec![
        // one record set: names, types, fields and values
        case("name is required", vec![], batch(&[create(r#"{"type":"A","ttl":60,"values":["192.0.2.1"]}"#)]), vec![("changes[0].record_set.name", "MissingField")]),
        case("name characters", vec![], batch(&[create(&a("a b", ""))]), vec![("changes[0].record_set.name", "InvalidValue")]),
        case("label length", vec![], batch(&[create(&a(&"x".repeat(64), ""))]), vec![("changes[0].record_set.name", "InvalidValue")]),
        case("name in zone", vec![], batch(&[create(&a("www.other.org.", ""))]), vec![("changes[0].record_set.name", "OutOfZone")]),
        case("type enum", vec![], batch(&[create(r#"{"name":"x","type":"HINFO","ttl":60,"values":["a b"]}"#)]), vec![("changes[0].record_set.type", "InvalidValue")]),
        case("policy types: no NS", vec![], batch(&[create(r#"{"name":"d","type":"NS","ttl":60,"set_id":"a","weight":1,"values":["ns1.example."]}"#)]), vec![("changes[0].record_set.type", "NotAllowed")]),
        case("multivalue types: no CNAME", vec![], batch(&[create(r#"{"name":"c","type":"CNAME","ttl":60,"set_id":"a","multivalue":true,"values":["x.example."]}"#)]), vec![("changes[0].record_set.multivalue", "NotAllowed")]),
        case("set_id required", vec![], batch(&[create(&a("w", r#""weight":1"#))]), vec![("changes[0].record_set.set_id", "MissingField")]),
        case("set_id length", vec![], batch(&[create(&a("w", &format!(r#""set_id":"{}","weight":1"#, "s".repeat(129))))]), vec![("changes[0].record_set.set_id", "InvalidValue")]),
        case("set_id only with a policy", vec![], batch(&[create(&a("w", r#""set_id":"x""#))]), vec![("changes[0].record_set.set_id", "NotAllowed")]),
        case("set_id unique in group", vec![create(&a("w", r#""set_id":"x","weight":1"#))], batch(&[create(&a("w", r#""set_id":"x","weight":2"#))]), vec![("changes[0].record_set.name", "AlreadyExists")]),
        case("weight range", vec![], batch(&[create(&a("w", r#""set_id":"x","weight":256"#))]), vec![("changes[0].record_set.weight", "InvalidValue")]),
        case("one policy per record", vec![], batch(&[create(&a("w", r#""set_id":"x","weight":1,"failover":"primary""#))]), vec![("changes[0].record_set.weight", "ConflictingFields")]),
        case("failover role", vec![], batch(&[create(&a("w", r#""set_id":"x","failover":"tertiary""#))]), vec![("changes[0].record_set.failover", "InvalidValue")]),
        case("cidr location name", vec![], batch(&[create(&a("w", r#""set_id":"x","cidr":{"collection":"c","location":"bad location"}"#))]), vec![("changes[0].record_set.cidr.location", "InvalidValue")]),
        case("geoproximity one locator", vec![], batch(&[create(&a("w", r#""set_id":"x","geoproximity":{"region":"r","latitude":1,"longitude":2}"#))]), vec![("changes[0].record_set.geoproximity", "InvalidValue")]),
        case("geoproximity bias", vec![], batch(&[create(&a("w", r#""set_id":"x","geoproximity":{"region":"r","bias":-100}"#))]), vec![("changes[0].record_set.geoproximity.bias", "InvalidValue")]),
        case("geoproximity coordinates", vec![], batch(&[create(&a("w", r#""set_id":"x","geoproximity":{"latitude":10,"longitude":181}"#))]), vec![("changes[0].record_set.geoproximity.longitude", "InvalidValue")]),
        case("ttl range", vec![], batch(&[create(r#"{"name":"x","type":"A","ttl":2147483648,"values":["192.0.2.1"]}"#)]), vec![("changes[0].record_set.ttl", "InvalidValue")]),
        case("ttl required", vec![], batch(&[create(r#"{"name":"x","type":"A","values":["192.0.2.1"]}"#)]), vec![("changes[0].record_set.ttl", "MissingField")]),
        case("values or alias: none", vec![], batch(&[create(r#"{"name":"x","type":"A","ttl":60}"#)]), vec![("changes[0].record_set.values", "MissingField")]),
        case("values or alias: both", vec![], batch(&[create(r#"{"name":"x","type":"A","ttl":60,"values":["192.0.2.1"],"alias":{"target":"y","evaluate_target_health":false}}"#)]), vec![("changes[0].record_set.alias", "ConflictingFields")]),
        case("values min 1", vec![], batch(&[create(r#"{"name":"x","type":"A","ttl":60,"values":[]}"#)]), vec![("changes[0].record_set.values", "MissingField")]),
        case("values max 400", vec![], batch(&[create(&format!(r#"{{"name":"x","type":"A","ttl":60,"values":[{}]}}"#, many_values.join(",")))]), vec![("changes[0].record_set.values", "LimitExceeded")]),
        case("value length", vec![], batch(&[create(&format!(r#"{{"name":"x","type":"TXT","ttl":60,"values":["{}"]}}"#, "x".repeat(4001)))]), vec![("changes[0].record_set.values[0]", "InvalidValue")]),
        case("TXT strings of 255", vec![], batch(&[create(&format!(r#"{{"name":"x","type":"TXT","ttl":60,"values":["\"{}\""]}}"#, "x".repeat(256)))]), vec![("changes[0].record_set.values[0]", "InvalidValue")]),
        case("IPv4 format", vec![], batch(&[create(r#"{"name":"x","type":"A","ttl":60,"values":["192.0.2.1","256.1.1.1"]}"#)]), vec![("changes[0].record_set.values[1]", "InvalidValue")]),
        case("IPv6 format", vec![], batch(&[create(r#"{"name":"x","type":"AAAA","ttl":60,"values":["2001:db8::g"]}"#)]), vec![("changes[0].record_set.values[0]", "InvalidValue")]),
        case("MX format", vec![], batch(&[create(r#"{"name":"x","type":"MX","ttl":60,"values":["mail.example."]}"#)]), vec![("changes[0].record_set.values[0]", "InvalidValue")]),
        case("CNAME one value", vec![], batch(&[create(r#"{"name":"x","type":"CNAME","ttl":60,"values":["a.example.","b.example."]}"#)]), vec![("changes[0].record_set.values", "InvalidValue")]),
        case("SOA only at apex", vec![], batch(&[create(r#"{"name":"x","type":"SOA","ttl":60,"values":["a. b. 1 2 3 4 5"]}"#)]), vec![("changes[0].record_set.name", "NotAllowed")]),
        case("no wildcard NS", vec![], batch(&[create(r#"{"name":"*","type":"NS","ttl":60,"values":["ns.example."]}"#)]), vec![("changes[0].record_set.type", "NotAllowed")]),
        // groups and names
        case("one policy per group", vec![create(&a("w", r#""set_id":"x","weight":1"#))], batch(&[create(&a("w", r#""set_id":"y","region":"eu""#))]), vec![("changes[0].record_set.set_id", "PolicyConflict")]),
        case("simple is alone", vec![create(&a("w", r#""set_id":"x","weight":1"#))], batch(&[create(&a("w", ""))]), vec![("changes[0].record_set.set_id", "PolicyConflict")]),
        case("CNAME not at apex", vec![], batch(&[create(r#"{"name":"@","type":"CNAME","ttl":60,"values":["a.example."]}"#)]), vec![("changes[0].record_set.type", "CnameConflict")]),
        case("CNAME over other types", vec![create(&a("www", ""))], batch(&[create(r#"{"name":"www","type":"CNAME","ttl":60,"values":["a.example."]}"#)]), vec![("changes[0].record_set.type", "CnameConflict")]),
        case("CNAME over CAA", vec![create(r#"{"name":"www","type":"CAA","ttl":60,"values":["0 issue \"ca.example\""]}"#)], batch(&[create(r#"{"name":"www","type":"CNAME","ttl":60,"values":["a.example."]}"#)]), vec![("changes[0].record_set.type", "CnameConflict")]),
        case("other type over CNAME", vec![create(r#"{"name":"www","type":"CNAME","ttl":60,"values":["a.example."]}"#)], batch(&[create(&a("www", ""))]), vec![("changes[0].record_set.type", "CnameConflict")]),
        case("alias same type as target", vec![create(&a("www", ""))], batch(&[create(&alias("app", "AAAA", "www", ""))]), vec![("changes[0].record_set.alias.target", "AliasTargetNotFound")]),
        case("alias target exists", vec![], batch(&[create(&alias("app", "A", "nowhere", ""))]), vec![("changes[0].record_set.alias.target", "AliasTargetNotFound")]),
        case("alias not NS", vec![], batch(&[create(&alias("app", "NS", "www", ""))]), vec![("changes[0].record_set.alias", "NotAllowed")]),
        case("alias not SOA", vec![], batch(&[create(&alias("@", "SOA", "www", ""))]), vec![("changes[0].record_set.alias", "NotAllowed")]),
        case("apex alias not to a CNAME", vec![create(r#"{"name":"c","type":"CNAME","ttl":60,"values":["a.example."]}"#)], batch(&[create(&alias("@", "CNAME", "c", ""))]), vec![("changes[0].record_set.type", "CnameConflict")]),
        case("alias in the same zone", vec![], batch(&[create(&alias("app", "A", "www.other.org.", ""))]), vec![("changes[0].record_set.alias.target", "OutOfZone")]),
        case("alias has no TTL", vec![create(&a("www", ""))], batch(&[create(r#"{"name":"app","type":"A","ttl":60,"alias":{"target":"www","evaluate_target_health":false}}"#)]), vec![("changes[0].record_set.ttl", "NotAllowed")]),
        case("alias not multivalue", vec![create(&a("www", ""))], batch(&[create(&alias("app", "A", "www", r#""set_id":"x","multivalue":true"#))]), vec![("changes[0].record_set.alias", "NotAllowed")]),
        case("failover alias needs evaluate_target_health", vec![create(&a("www", ""))], batch(&[create(&alias("app", "A", "www", r#""set_id":"x","failover":"primary""#))]), vec![("changes[0].record_set.alias.evaluate_target_health", "InvalidValue")]),
        case("alias loop", vec![create(&a("www", ""))], batch(&[create(&alias("x", "A", "y", "")), create(&alias("y", "A", "x", ""))]), vec![("changes[1].record_set.alias.target", "AliasCycle")]),
        case("alias target in use", vec![create(&a("www", "")), create(&alias("app", "A", "www", ""))], batch(&[delete(&a("www", ""))]), vec![("changes[0].record_set.name", "AliasTargetInUse")]),
        case("one primary", vec![create(&a("f", r#""set_id":"p","failover":"primary""#))], batch(&[create(&a("f", r#""set_id":"q","failover":"PRIMARY""#))]), vec![("changes[0].record_set.failover", "DuplicateLocation")]),
        case("one record per region", vec![create(&a("l", r#""set_id":"p","region":"eu""#))], batch(&[create(&a("l", r#""set_id":"q","region":"eu""#))]), vec![("changes[0].record_set.region", "DuplicateLocation")]),
        case("one record per geolocation", vec![create(&a("g", r#""set_id":"p","geo":{"country":"fr"}"#))], batch(&[create(&a("g", r#""set_id":"q","geo":{"country":"FR"}"#))]), vec![("changes[0].record_set.geo", "DuplicateLocation")]),
        case("continent with country", vec![], batch(&[create(&a("g", r#""set_id":"p","geo":{"continent":"EU","country":"FR"}"#))]), vec![("changes[0].record_set.geo.continent", "ConflictingFields")]),
        case("subdivision needs US", vec![], batch(&[create(&a("g", r#""set_id":"p","geo":{"country":"CA","subdivision":"ON"}"#))]), vec![("changes[0].record_set.geo.subdivision", "InvalidValue")]),
        case("unsupported country", vec![], batch(&[create(&a("g", r#""set_id":"p","geo":{"country":"BV"}"#))]), vec![("changes[0].record_set.geo.country", "InvalidValue")]),
        case("one CIDR collection per group", vec![create(&a("i", r#""set_id":"p","cidr":{"collection":"one","location":"a"}"#))], batch(&[create(&a("i", r#""set_id":"q","cidr":{"collection":"two","location":"b"}"#))]), vec![("changes[0].record_set.cidr.collection", "CollectionMismatch")]),
        case("one record per CIDR location", vec![create(&a("i", r#""set_id":"p","cidr":{"collection":"one","location":"a"}"#))], batch(&[create(&a("i", r#""set_id":"q","cidr":{"collection":"one","location":"a"}"#))]), vec![("changes[0].record_set.cidr.location", "DuplicateLocation")]),
        case("100 weighted per group", vec![], batch(&weighted), vec![("changes[100].record_set.set_id", "LimitExceeded")]),
        case("30 geoproximity per group", vec![], batch(&geoprox), vec![("changes[30].record_set.set_id", "LimitExceeded")]),
        case("DS only at a delegation", vec![], batch(&[create(r#"{"name":"sub","type":"DS","ttl":60,"values":["60485 5 1 2BB183AF5F22588179A53B0A98631FAD1A292118"]}"#)]), vec![("changes[0].record_set.type", "NotAllowed")]),
        // batches
        case("CREATE of an existing set", vec![create(&a("www", ""))], batch(&[create(&a("www", ""))]), vec![("changes[0].record_set.name", "AlreadyExists")]),
        case("DELETE of a missing set", vec![], batch(&[delete(&a("www", ""))]), vec![("changes[0].record_set.name", "NotFound")]),
        case("DELETE must match", vec![create(&a("www", ""))], batch(&[delete(r#"{"name":"www","type":"A","ttl":61,"values":["192.0.2.1"]}"#)]), vec![("changes[0].record_set.values", "ValuesMismatch")]),
        case("DELETE twice", vec![create(&a("www", ""))], batch(&[delete(&a("www", "")), delete(&a("www", ""))]), vec![("changes[1].record_set.name", "NotFound")]),
        case("action enum", vec![], batch(&[r#"{"action":"MERGE","record_set":{"name":"x","type":"A","ttl":1,"values":["192.0.2.1"]}}"#.to_owned()]), vec![("changes[0].action", "InvalidValue")]),
        case("at least one change", vec![], r#"{"changes":[]}"#.to_owned(), vec![("changes", "MissingField")]),
        case("comment length", vec![], format!(r#"{{"comment":"{}","changes":[{}]}}"#, "c".repeat(257), create(&a("x", ""))), vec![("comment", "InvalidValue")]),
        case("1,000 records per batch", vec![], batch(&(0..5).map(|n| create(&big(n))).collect::<Vec<_>>()), vec![("changes", "LimitExceeded")]),
        case("UPSERT counts double", vec![], batch(&(0..3).map(|n| upsert(&big(n))).collect::<Vec<_>>()), vec![("changes", "LimitExceeded")]),
        case("32,000 value characters", vec![], batch(&(0..13).map(|n| create(&long_txt(n))).collect::<Vec<_>>()), vec![("changes", "LimitExceeded")]),
        case("SOA must stay", vec![], batch(&[delete(r#"{"name":"@","type":"SOA","ttl":900,"values":["ns1.v.test. hostmaster.v.test. 1 7200 900 1209600 86400"]}"#)]), vec![("changes[0].record_set.type", "RequiredRecord")]),
        case("apex NS must stay", vec![], batch(&[delete(r#"{"name":"@","type":"NS","ttl":172800,"values":["ns1.v.test.","ns2.v.test."]}"#)]), vec![("changes[0].record_set.type", "RequiredRecord")]),
        case("every error is listed", vec![create(&a("www", ""))], batch(&[create(&a("ok", "")), create(&a("www", "")), create(r#"{"name":"x","type":"A","ttl":60,"values":["nope"]}"#), delete(&a("gone", ""))]),
            vec![("changes[1].record_set.name", "AlreadyExists"), ("changes[2].record_set.values[0]", "InvalidValue"), ("changes[3].record_set.name", "NotFound")]),
        case("zone of a change", vec![], r#"{"changes":[{"action":"CREATE","zone":"other.test","record_set":{"name":"x","type":"A","ttl":1,"values":["192.0.2.1"]}}]}"#.to_owned(), vec![("changes[0].zone", "InvalidValue")]),
        Case { rule: "unknown field", setup: vec![], body: r#"{"changes":[{"action":"CREATE","record_set":{"name":"x","type":"A","ttl":1,"values":["192.0.2.1"],"wieght":3}}]}"#.to_owned(), status: 400, code: "InvalidInput", expect: vec![("changes[0].record_set.wieght", "")] },
        Case { rule: "wrong JSON type", setup: vec![], body: r#"{"changes":[{"action":"CREATE","record_set":{"name":"x","type":"A","ttl":"sixty","values":["192.0.2.1"]}}]}"#.to_owned(), status: 400, code: "InvalidInput", expect: vec![("changes[0].record_set.ttl", "")] },
        Case { rule: "evaluate_target_health is required", setup: vec![], body: batch(&[create(r#"{"name":"x","type":"A","alias":{"target":"y"}}"#)]), status: 400, code: "InvalidInput", expect: vec![("changes[0].record_set.alias", "")] },
        Case { rule: "malformed JSON", setup: vec![], body: r#"{"changes":["#.to_owned(), status: 400, code: "InvalidInput", expect: vec![] },
        Case { rule: "unknown zone", setup: vec![], body: batch(&[create(&a("x", ""))]), status: 404, code: "NoSuchZone", expect: vec![("zone", "")] },
    ]
    .into_iter()
    .map(|mut c| {
        if c.rule == "unknown zone" {
            c.setup = vec!["nozone".into()];
        }
        c
    })
    .collect()
}

async fn check(s: &Server, zone: &str, c: &Case) {
    let path = if c.setup.first().is_some_and(|x| x == "nozone") {
        "/v1/zones/missing.test/changes".to_owned()
    } else {
        format!("/v1/zones/{zone}/changes")
    };
    let before = s.zone_state(zone).await;
    let e = s
        .call(Method::POST, &path, Some(&c.body))
        .await
        .expect_err(&format!("{}: accepted", c.rule));
    assert_eq!((e.status, e.code.as_str()), (c.status, c.code), "{}: {e:?}", c.rule);
    for (field, code) in &c.expect {
        if code.is_empty() {
            assert_eq!(e.field.as_deref(), Some(*field), "{}: {e:?}", c.rule);
        } else {
            assert!(
                e.errors.iter().any(|x| x.field == *field && x.code.as_str() == *code),
                "{}: expected {field} {code} in {:#?}",
                c.rule,
                e.errors
            );
        }
    }
    assert_eq!(s.zone_state(zone).await, before, "{}: the zone changed", c.rule);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rule_rejects_through_the_api_and_changes_nothing() {
    let s = start().await;
    // The collections the IP-based cases name.
    for (name, body) in [
        ("one", r#"{"locations":{"a":["10.1.0.0/16"],"b":["10.2.0.0/16"]}}"#),
        ("two", r#"{"locations":{"b":["10.3.0.0/16"]}}"#),
    ] {
        s.call(Method::PUT, &format!("/v1/collections/{name}"), Some(body)).await.unwrap();
    }
    for (i, c) in cases().iter().enumerate() {
        let zone = format!("v{i}.test");
        let zone =
            if c.setup.is_empty() || c.setup[0] == "nozone" { "v.test".to_owned() } else { zone };
        if s.client.zone(&zone).await.is_err() {
            s.zone(&zone).await;
        }
        if !c.setup.is_empty() && c.setup[0] != "nozone" {
            s.call(Method::POST, &format!("/v1/zones/{zone}/changes"), Some(&batch(&c.setup)))
                .await
                .unwrap_or_else(|e| panic!("{}: setup failed: {e:?}", c.rule));
        }
        check(&s, &zone, c).await;
    }
}
