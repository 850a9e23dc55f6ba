use super::*;

fn apex() -> Name {
    Name::parse_absolute("example.test.").unwrap()
}

fn spec(json: &str) -> RecordSetSpec {
    serde_json::from_str(json).unwrap()
}

fn errors(json: &str) -> Vec<(String, ErrorCode)> {
    spec(json).validate(&apex()).unwrap_err().into_iter().map(|e| (e.field, e.code)).collect()
}

#[test]
fn simple_record_round_trips_canonically() {
    let set = spec(r#"{"name":"WWW","type":"a","ttl":60,"values":["192.0.2.1","192.0.2.2"]}"#)
        .validate(&apex())
        .unwrap();
    assert_eq!(set.name.to_string(), "www.example.test.");
    assert_eq!(set.policy, Policy::Simple);
    let out = set.to_spec();
    assert_eq!(out.rtype, "A");
    assert_eq!(out.values.as_deref(), Some(&["192.0.2.1".to_owned(), "192.0.2.2".into()][..]));
    assert_eq!(out.validate(&apex()).unwrap(), set);
}

#[test]
fn every_policy_validates() {
    for (json, kind) in [
        (r#""failover":"PRIMARY""#, PolicyKind::Failover),
        (r#""weight":0"#, PolicyKind::Weighted),
        (r#""region":"eu-west""#, PolicyKind::Latency),
        (r#""geo":{"country":"*"}"#, PolicyKind::Geolocation),
        (
            r#""geoproximity":{"latitude":48.856,"longitude":2.35,"bias":-50}"#,
            PolicyKind::Geoproximity,
        ),
        (r#""cidr":{"collection":"office","location":"paris"}"#, PolicyKind::Cidr),
        (r#""multivalue":true"#, PolicyKind::Multivalue),
    ] {
        let text = format!(
            r#"{{"name":"www","type":"A","ttl":60,"set_id":"x",{json},"values":["192.0.2.1"]}}"#
        );
        let set = spec(&text).validate(&apex()).unwrap_or_else(|e| panic!("{json}: {e:?}"));
        assert_eq!(set.policy.kind(), kind, "{json}");
        assert_eq!(set.to_spec().validate(&apex()).unwrap(), set, "{json}");
    }
}

#[test]
fn per_record_rules_name_the_field() {
    let cases: &[(&str, &str, ErrorCode)] = &[
        (
            r#"{"name":"","type":"A","ttl":1,"values":["192.0.2.1"]}"#,
            "name",
            ErrorCode::MissingField,
        ),
        (
            r#"{"name":"a b","type":"A","ttl":1,"values":["192.0.2.1"]}"#,
            "name",
            ErrorCode::InvalidValue,
        ),
        (
            r#"{"name":"other.org.","type":"A","ttl":1,"values":["192.0.2.1"]}"#,
            "name",
            ErrorCode::OutOfZone,
        ),
        (r#"{"name":"a","type":"DNAME","ttl":1,"values":["x."]}"#, "type", ErrorCode::InvalidValue),
        (
            r#"{"name":"a","type":"A","ttl":1,"values":["300.0.0.1"]}"#,
            "values[0]",
            ErrorCode::InvalidValue,
        ),
        (
            r#"{"name":"a","type":"A","ttl":-1,"values":["192.0.2.1"]}"#,
            "ttl",
            ErrorCode::InvalidValue,
        ),
        (r#"{"name":"a","type":"A","values":["192.0.2.1"]}"#, "ttl", ErrorCode::MissingField),
        (r#"{"name":"a","type":"A","ttl":1}"#, "values", ErrorCode::MissingField),
        (r#"{"name":"a","type":"A","ttl":1,"values":[]}"#, "values", ErrorCode::MissingField),
        (
            r#"{"name":"a","type":"A","ttl":1,"values":["192.0.2.1","192.0.2.1"]}"#,
            "values[1]",
            ErrorCode::InvalidValue,
        ),
        (
            r#"{"name":"a","type":"CNAME","ttl":1,"values":["b.","c."]}"#,
            "values",
            ErrorCode::InvalidValue,
        ),
        (
            r#"{"name":"@","type":"CNAME","ttl":1,"values":["b."]}"#,
            "type",
            ErrorCode::CnameConflict,
        ),
        (
            r#"{"name":"a","type":"SOA","ttl":1,"values":["a. b. 1 2 3 4 5"]}"#,
            "name",
            ErrorCode::NotAllowed,
        ),
        (r#"{"name":"*","type":"NS","ttl":1,"values":["ns."]}"#, "type", ErrorCode::NotAllowed),
        (
            r#"{"name":"a","type":"A","ttl":1,"weight":1,"values":["192.0.2.1"]}"#,
            "set_id",
            ErrorCode::MissingField,
        ),
        (
            r#"{"name":"a","type":"A","ttl":1,"set_id":"x","values":["192.0.2.1"]}"#,
            "set_id",
            ErrorCode::NotAllowed,
        ),
        (
            r#"{"name":"a","type":"A","ttl":1,"set_id":"","weight":1,"values":["192.0.2.1"]}"#,
            "set_id",
            ErrorCode::InvalidValue,
        ),
        (
            r#"{"name":"a","type":"A","ttl":1,"set_id":"x","weight":256,"values":["192.0.2.1"]}"#,
            "weight",
            ErrorCode::InvalidValue,
        ),
        (
            r#"{"name":"a","type":"A","ttl":1,"set_id":"x","weight":1,"region":"r","values":["192.0.2.1"]}"#,
            "region",
            ErrorCode::ConflictingFields,
        ),
        (
            r#"{"name":"a","type":"A","ttl":1,"set_id":"x","failover":"tertiary","values":["192.0.2.1"]}"#,
            "failover",
            ErrorCode::InvalidValue,
        ),
        (
            r#"{"name":"a","type":"NS","ttl":1,"set_id":"x","weight":1,"values":["ns."]}"#,
            "type",
            ErrorCode::NotAllowed,
        ),
        (
            r#"{"name":"a","type":"CNAME","ttl":1,"set_id":"x","multivalue":true,"values":["b."]}"#,
            "multivalue",
            ErrorCode::NotAllowed,
        ),
        (
            r#"{"name":"a","type":"A","ttl":1,"set_id":"x","geo":{"continent":"EU","country":"FR"},"values":["192.0.2.1"]}"#,
            "geo.continent",
            ErrorCode::ConflictingFields,
        ),
        (
            r#"{"name":"a","type":"A","ttl":1,"set_id":"x","geo":{"country":"FR","subdivision":"CA"},"values":["192.0.2.1"]}"#,
            "geo.subdivision",
            ErrorCode::InvalidValue,
        ),
        (
            r#"{"name":"a","type":"A","ttl":1,"set_id":"x","geoproximity":{"latitude":91,"longitude":0},"values":["192.0.2.1"]}"#,
            "geoproximity.latitude",
            ErrorCode::InvalidValue,
        ),
        (
            r#"{"name":"a","type":"A","ttl":1,"set_id":"x","geoproximity":{"region":"r","latitude":1,"longitude":0},"values":["192.0.2.1"]}"#,
            "geoproximity",
            ErrorCode::InvalidValue,
        ),
        (
            r#"{"name":"a","type":"A","ttl":1,"set_id":"x","geoproximity":{"region":"r","bias":100},"values":["192.0.2.1"]}"#,
            "geoproximity.bias",
            ErrorCode::InvalidValue,
        ),
        (
            r#"{"name":"a","type":"A","ttl":1,"set_id":"x","cidr":{"collection":"c","location":"way-too-long-location"},"values":["192.0.2.1"]}"#,
            "cidr.location",
            ErrorCode::InvalidValue,
        ),
        (
            r#"{"name":"a","type":"A","ttl":1,"alias":{"target":"b","evaluate_target_health":false},"values":["192.0.2.1"]}"#,
            "alias",
            ErrorCode::ConflictingFields,
        ),
        (
            r#"{"name":"a","type":"A","ttl":1,"alias":{"target":"b","evaluate_target_health":false}}"#,
            "ttl",
            ErrorCode::NotAllowed,
        ),
        (
            r#"{"name":"a","type":"NS","alias":{"target":"b","evaluate_target_health":false}}"#,
            "alias",
            ErrorCode::NotAllowed,
        ),
        (
            r#"{"name":"a","type":"A","set_id":"x","multivalue":true,"alias":{"target":"b","evaluate_target_health":false}}"#,
            "alias",
            ErrorCode::NotAllowed,
        ),
        (
            r#"{"name":"a","type":"A","set_id":"x","failover":"primary","alias":{"target":"b","evaluate_target_health":false}}"#,
            "alias.evaluate_target_health",
            ErrorCode::InvalidValue,
        ),
        (
            r#"{"name":"a","type":"A","alias":{"target":"b.other.org.","evaluate_target_health":false}}"#,
            "alias.target",
            ErrorCode::OutOfZone,
        ),
    ];
    for (json, field, code) in cases {
        let got = errors(json);
        assert!(
            got.iter().any(|(f, c)| f == field && c == code),
            "{json}: expected {field} {code}, got {got:?}"
        );
    }
}

#[test]
fn long_values_and_too_many_values() {
    let long = "x".repeat(MAX_VALUE_LEN + 1);
    let got = errors(&format!(r#"{{"name":"a","type":"TXT","ttl":1,"values":["{long}"]}}"#));
    assert_eq!(got, vec![("values[0]".to_owned(), ErrorCode::InvalidValue)]);
    let many: Vec<String> =
        (0..=MAX_VALUES).map(|i| format!("\"10.0.{}.{}\"", i / 256, i % 256)).collect();
    let got =
        errors(&format!(r#"{{"name":"a","type":"A","ttl":1,"values":[{}]}}"#, many.join(",")));
    assert_eq!(got, vec![("values".to_owned(), ErrorCode::LimitExceeded)]);
}

#[test]
fn too_many_values_are_refused_before_any_is_parsed() {
    let many = vec!["\"not an address\""; 100_000].join(",");
    let got = errors(&format!(r#"{{"name":"a","type":"A","ttl":1,"values":[{many}]}}"#));
    assert_eq!(got, vec![("values".to_owned(), ErrorCode::LimitExceeded)]);
}
