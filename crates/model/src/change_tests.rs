use super::*;

fn apex() -> Name {
    Name::parse_absolute("example.test.").unwrap()
}

fn zones(extra: &[&str]) -> BTreeMap<Name, ZoneRecords> {
    let mut zone = ZoneRecords::new(apex());
    let base = [
        r#"{"name":"@","type":"SOA","ttl":900,"values":["ns1 hostmaster 1 7200 900 1209600 86400"]}"#,
        r#"{"name":"@","type":"NS","ttl":172800,"values":["ns1","ns2"]}"#,
    ];
    for json in base.iter().chain(extra) {
        let set = serde_json::from_str::<RecordSetSpec>(json).unwrap().validate(&apex()).unwrap();
        zone.sets.insert(set);
    }
    BTreeMap::from([(apex(), zone)])
}

fn batch(changes: &[(&str, &str)]) -> ChangeBatchSpec {
    ChangeBatchSpec {
        comment: None,
        changes: changes
            .iter()
            .map(|(action, json)| ChangeSpec {
                action: (*action).into(),
                zone: None,
                record_set: serde_json::from_str(json).unwrap(),
            })
            .collect(),
    }
}

fn errors_of(
    zs: &BTreeMap<Name, ZoneRecords>,
    changes: &[(&str, &str)],
) -> Vec<(Option<usize>, String, ErrorCode)> {
    plan(&batch(changes), Some(&apex()), zs, &Refs::ANY)
        .unwrap_err()
        .into_iter()
        .map(|e| (e.index, e.field, e.code))
        .collect()
}

const WWW: &str = r#"{"name":"www","type":"A","ttl":60,"values":["192.0.2.1"]}"#;
const WWW_CNAME: &str = r#"{"name":"www","type":"CNAME","ttl":60,"values":["web.example.net."]}"#;

#[test]
fn in_order_and_all_or_nothing() {
    let zs = zones(&[WWW]);
    // DELETE then CREATE of the same key is valid: changes apply in order.
    let p = plan(&batch(&[("DELETE", WWW), ("CREATE", WWW_CNAME)]), Some(&apex()), &zs, &Refs::ANY)
        .unwrap();
    let delta = &p.zones[&apex()];
    assert_eq!(delta.puts.len(), 1);
    assert_eq!(delta.deletes.len(), 1);
    // CREATE of an existing record set fails, and the whole batch with it.
    let got = errors_of(&zs, &[("CREATE", WWW_CNAME), ("CREATE", WWW)]);
    assert!(got.contains(&(
        Some(1),
        "changes[1].record_set.name".into(),
        ErrorCode::AlreadyExists
    )));
    assert!(got.contains(&(
        Some(0),
        "changes[0].record_set.type".into(),
        ErrorCode::CnameConflict
    )));
}

#[test]
fn delete_needs_the_exact_record_set_and_only_once() {
    let zs = zones(&[WWW]);
    let other = r#"{"name":"www","type":"A","ttl":61,"values":["192.0.2.1"]}"#;
    assert_eq!(
        errors_of(&zs, &[("DELETE", other)]),
        vec![(Some(0), "changes[0].record_set.values".into(), ErrorCode::ValuesMismatch)]
    );
    assert_eq!(
        errors_of(&zs, &[("DELETE", WWW), ("DELETE", WWW)]),
        vec![(Some(1), "changes[1].record_set.name".into(), ErrorCode::NotFound)]
    );
}

#[test]
fn every_error_is_listed() {
    let zs = zones(&[]);
    let got = errors_of(
        &zs,
        &[
            ("FROB", WWW),
            ("CREATE", r#"{"name":"a","type":"A","ttl":1,"values":["nope"]}"#),
            ("DELETE", r#"{"name":"@","type":"NS","ttl":172800,"values":["ns1","ns2"]}"#),
        ],
    );
    assert_eq!(
        got,
        vec![
            (Some(0), "changes[0].action".into(), ErrorCode::InvalidValue),
            (Some(1), "changes[1].record_set.values[0]".into(), ErrorCode::InvalidValue),
            (Some(2), "changes[2].record_set.type".into(), ErrorCode::RequiredRecord),
        ]
    );
}

#[test]
fn group_rules() {
    let zs = zones(&[]);
    let w = |id: &str, extra: &str| {
        format!(
            r#"{{"name":"w","type":"A","ttl":60,"set_id":"{id}",{extra},"values":["192.0.2.1"]}}"#
        )
    };
    let (a, b) = (w("a", r#""weight":1"#), w("b", r#""failover":"primary""#));
    let got = errors_of(&zs, &[("CREATE", &a), ("CREATE", &b)]);
    assert_eq!(
        got,
        vec![(Some(1), "changes[1].record_set.set_id".into(), ErrorCode::PolicyConflict)]
    );
    let (p1, p2) = (w("a", r#""failover":"primary""#), w("b", r#""failover":"PRIMARY""#));
    let got = errors_of(&zs, &[("CREATE", &p1), ("CREATE", &p2)]);
    assert_eq!(
        got,
        vec![(Some(1), "changes[1].record_set.failover".into(), ErrorCode::DuplicateLocation)]
    );
    let simple = r#"{"name":"w","type":"A","ttl":60,"values":["192.0.2.9"]}"#;
    let got = errors_of(&zs, &[("CREATE", &a), ("CREATE", simple)]);
    assert_eq!(
        got,
        vec![(Some(1), "changes[1].record_set.set_id".into(), ErrorCode::PolicyConflict)]
    );
    let c1 = w("a", r#""cidr":{"collection":"one","location":"x"}"#);
    let c2 = w("b", r#""cidr":{"collection":"two","location":"y"}"#);
    let got = errors_of(&zs, &[("CREATE", &c1), ("CREATE", &c2)]);
    assert_eq!(
        got,
        vec![(
            Some(1),
            "changes[1].record_set.cidr.collection".into(),
            ErrorCode::CollectionMismatch
        )]
    );
    let many: Vec<String> = (0..101).map(|i| w(&format!("s{i}"), r#""weight":1"#)).collect();
    let changes: Vec<(&str, &str)> = many.iter().map(|m| ("CREATE", m.as_str())).collect();
    let got = errors_of(&zs, &changes);
    assert_eq!(
        got,
        vec![(Some(100), "changes[100].record_set.set_id".into(), ErrorCode::LimitExceeded)]
    );
}

#[test]
fn aliases_need_a_target_and_no_loop() {
    let zs = zones(&[WWW]);
    let alias = |name: &str, target: &str| {
        format!(
            r#"{{"name":"{name}","type":"A","alias":{{"target":"{target}","evaluate_target_health":true}}}}"#
        )
    };
    plan(&batch(&[("CREATE", &alias("@", "www"))]), Some(&apex()), &zs, &Refs::ANY).unwrap();
    let got = errors_of(&zs, &[("CREATE", &alias("app", "nope"))]);
    assert_eq!(
        got,
        vec![(
            Some(0),
            "changes[0].record_set.alias.target".into(),
            ErrorCode::AliasTargetNotFound
        )]
    );
    let got = errors_of(&zs, &[("CREATE", &alias("x", "y")), ("CREATE", &alias("y", "x"))]);
    assert!(
        got.iter().all(|(_, f, c)| f.ends_with("alias.target") && *c == ErrorCode::AliasCycle),
        "{got:?}"
    );
    let zs = zones(&[WWW, &alias("app", "www")]);
    let got = errors_of(&zs, &[("DELETE", WWW)]);
    assert_eq!(
        got,
        vec![(Some(0), "changes[0].record_set.name".into(), ErrorCode::AliasTargetInUse)]
    );
    // Deleting both in one batch is fine.
    plan(
        &batch(&[("DELETE", &alias("app", "www")), ("DELETE", WWW)]),
        Some(&apex()),
        &zs,
        &Refs::ANY,
    )
    .unwrap();
}

#[test]
fn batch_limits_count_upserts_twice() {
    let zs = zones(&[]);
    let values: Vec<String> =
        (0..250).map(|i| format!("\"10.0.{}.{}\"", i / 256, i % 256)).collect();
    let sets: Vec<String> = (0..2)
        .map(|i| format!(r#"{{"name":"n{i}","type":"A","ttl":1,"values":[{}]}}"#, values.join(",")))
        .collect();
    plan(&batch(&[("CREATE", &sets[0]), ("CREATE", &sets[1])]), Some(&apex()), &zs, &Refs::ANY)
        .unwrap();
    let got = errors_of(&zs, &[("UPSERT", &sets[0]), ("UPSERT", &sets[1]), ("CREATE", WWW)]);
    assert_eq!(got, vec![(None, "changes".into(), ErrorCode::LimitExceeded)]);
}

#[test]
fn an_oversized_batch_is_refused_before_any_value_is_parsed() {
    // 100,000 values that are not addresses: had any been parsed, each would be an error.
    let zs = zones(&[]);
    let values = vec!["\"not an address\""; 100_000].join(",");
    let set = format!(r#"{{"name":"big","type":"A","ttl":1,"values":[{values}]}}"#);
    let got = errors_of(&zs, &[("CREATE", &set)]);
    // Too many records and too many characters, nothing else.
    let limit = (None, "changes".to_owned(), ErrorCode::LimitExceeded);
    assert_eq!(got, vec![limit.clone(), limit]);
}

#[test]
fn a_groups_pool_thresholds_are_the_same_on_every_record() {
    let zs = zones(&[]);
    let pool = |id: &str, min: i64| {
        format!(
            r#"{{"name":"pool","type":"A","ttl":60,"set_id":"{id}","weight":1,"min_healthy":{min},"values":["192.0.2.1"]}}"#
        )
    };
    let (a, b) = (pool("a", 2), pool("b", 3));
    let got = errors_of(&zs, &[("CREATE", &a), ("CREATE", &b)]);
    assert!(
        got.iter().any(|(_, f, c)| f.ends_with("min_healthy") && *c == ErrorCode::PolicyConflict),
        "{got:?}"
    );
    let same = pool("b", 2);
    plan(&batch(&[("CREATE", &a), ("CREATE", &same)]), Some(&apex()), &zs, &Refs::ANY).unwrap();
    // Where they do not apply.
    let wrong = [
        (
            r#"{"name":"fo","type":"A","ttl":60,"set_id":"p","failover":"primary","min_healthy":2,"values":["192.0.2.1"]}"#,
            "min_healthy",
        ),
        (
            r#"{"name":"fo","type":"A","ttl":60,"set_id":"p","failover":"primary","trickle_pct":5,"values":["192.0.2.1"]}"#,
            "trickle_pct",
        ),
        (
            r#"{"name":"fo","type":"A","ttl":60,"set_id":"s","failover":"secondary","trickle_pct":60,"values":["192.0.2.1"]}"#,
            "trickle_pct",
        ),
        (
            r#"{"name":"w","type":"A","ttl":60,"set_id":"a","weight":1,"min_healthy_pct":0,"values":["192.0.2.1"]}"#,
            "min_healthy_pct",
        ),
    ];
    for (json, field) in wrong {
        let errors =
            serde_json::from_str::<RecordSetSpec>(json).unwrap().validate(&apex()).unwrap_err();
        assert!(errors.iter().any(|e| e.field == field), "{json}: {errors:?}");
    }
}
