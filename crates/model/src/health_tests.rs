use super::*;
use crate::rtype::RType;

fn check(json: &str) -> Result<HealthCheck, Vec<(String, ErrorCode)>> {
    let spec: HealthCheckSpec = serde_json::from_str(json).unwrap();
    spec.validate().map_err(|es| es.into_iter().map(|e| (e.field, e.code)).collect())
}

#[test]
fn defaults_follow_the_reference() {
    let c = check(r#"{"name":"web","type":"http","ip":"127.0.0.1"}"#).unwrap();
    assert_eq!(c.interval, Duration::from_secs(30));
    assert_eq!((c.failure_threshold, c.recovery_threshold), (3, 3));
    assert_eq!(
        (c.connect_timeout, c.response_timeout),
        (Duration::from_secs(4), Duration::from_secs(2))
    );
    assert_eq!(c.target.as_ref().unwrap().port, 80);
    let CheckKind::Http { path, tls: None, .. } = &c.kind else { panic!() };
    assert_eq!(path.as_str(), "/");
    let c = check(r#"{"name":"t","type":"tcp","ip":"::1","port":22,"interval":"100ms"}"#).unwrap();
    assert_eq!(
        (c.connect_timeout, c.interval),
        (Duration::from_secs(10), Duration::from_millis(100))
    );
    let c =
        check(r#"{"name":"s","type":"https","fqdn":"example.test","path":"health?x=1"}"#).unwrap();
    let CheckKind::Http { path, .. } = &c.kind else { panic!() };
    assert_eq!((path.as_str(), c.target.unwrap().port), ("/health?x=1", 443));
    assert_eq!(
        check(r#"{"name":"i","type":"tcp","ip":"10.0.0.1","inverted":true}"#)
            .unwrap()
            .initial_status(),
        Status::Unhealthy
    );
}

#[test]
fn every_rule_names_its_field() {
    let cases: &[(&str, &str, ErrorCode)] = &[
        (r#"{"type":"tcp","ip":"127.0.0.1"}"#, "name", ErrorCode::MissingField),
        (r#"{"name":"a b","type":"tcp","ip":"127.0.0.1"}"#, "name", ErrorCode::InvalidValue),
        (r#"{"name":"x","type":"ftp","ip":"127.0.0.1"}"#, "type", ErrorCode::InvalidValue),
        (r#"{"name":"x","type":"control"}"#, "control", ErrorCode::MissingField),
        (r#"{"name":"x","type":"control","control":"main"}"#, "control", ErrorCode::InvalidValue),
        (
            r#"{"name":"x","type":"tcp","ip":"127.0.0.1","control":"main/a"}"#,
            "control",
            ErrorCode::NotAllowed,
        ),
        (r#"{"name":"x","type":"tcp"}"#, "ip", ErrorCode::MissingField),
        (r#"{"name":"x","type":"tcp","ip":"300.1.1.1"}"#, "ip", ErrorCode::InvalidValue),
        (r#"{"name":"x","type":"tcp","ip":"224.0.0.1"}"#, "ip", ErrorCode::InvalidValue),
        (
            r#"{"name":"x","type":"tcp","ip":"127.0.0.1","port":70000}"#,
            "port",
            ErrorCode::InvalidValue,
        ),
        (
            r#"{"name":"x","type":"http","ip":"127.0.0.1","interval":"500ms"}"#,
            "interval",
            ErrorCode::InvalidValue,
        ),
        (
            r#"{"name":"x","type":"tcp","ip":"127.0.0.1","interval":"50ms"}"#,
            "interval",
            ErrorCode::InvalidValue,
        ),
        (
            r#"{"name":"x","type":"tcp","ip":"127.0.0.1","interval":"soon"}"#,
            "interval",
            ErrorCode::InvalidValue,
        ),
        (
            r#"{"name":"x","type":"tcp","ip":"127.0.0.1","failure_threshold":11}"#,
            "failure_threshold",
            ErrorCode::InvalidValue,
        ),
        (
            r#"{"name":"x","type":"tcp","ip":"127.0.0.1","recovery_threshold":0}"#,
            "recovery_threshold",
            ErrorCode::InvalidValue,
        ),
        (
            r#"{"name":"x","type":"tcp","ip":"127.0.0.1","search":"OK"}"#,
            "search",
            ErrorCode::NotAllowed,
        ),
        (
            r#"{"name":"x","type":"http","ip":"127.0.0.1","enable_sni":true}"#,
            "enable_sni",
            ErrorCode::NotAllowed,
        ),
        (
            r#"{"name":"x","type":"http","ip":"127.0.0.1","search":""}"#,
            "search",
            ErrorCode::InvalidValue,
        ),
        (r#"{"name":"x","type":"calculated"}"#, "children", ErrorCode::MissingField),
        (
            r#"{"name":"x","type":"calculated","children":["a","a"]}"#,
            "children[1]",
            ErrorCode::InvalidValue,
        ),
        (
            r#"{"name":"x","type":"calculated","children":["a"],"health_threshold":300}"#,
            "health_threshold",
            ErrorCode::InvalidValue,
        ),
        (
            r#"{"name":"x","type":"calculated","children":["a"],"ip":"127.0.0.1"}"#,
            "ip",
            ErrorCode::NotAllowed,
        ),
        (
            r#"{"name":"x","type":"metric","query":"up","comparison":"<","threshold":1}"#,
            "prometheus",
            ErrorCode::MissingField,
        ),
        (
            r#"{"name":"x","type":"metric","prometheus":"ftp://p","query":"up","comparison":"<","threshold":1}"#,
            "prometheus",
            ErrorCode::InvalidValue,
        ),
        (
            r#"{"name":"x","type":"metric","prometheus":"http://p","comparison":"<","threshold":1}"#,
            "query",
            ErrorCode::MissingField,
        ),
        (
            r#"{"name":"x","type":"metric","prometheus":"http://p","query":"up","threshold":1}"#,
            "comparison",
            ErrorCode::MissingField,
        ),
        (
            r#"{"name":"x","type":"metric","prometheus":"http://p","query":"up","comparison":"=","threshold":1}"#,
            "comparison",
            ErrorCode::InvalidValue,
        ),
        (
            r#"{"name":"x","type":"metric","prometheus":"http://p","query":"up","comparison":"<"}"#,
            "threshold",
            ErrorCode::MissingField,
        ),
        (
            r#"{"name":"x","type":"metric","prometheus":"http://p","query":"up","comparison":"<","threshold":1,"insufficient_data":"maybe"}"#,
            "insufficient_data",
            ErrorCode::InvalidValue,
        ),
        (
            r#"{"name":"x","type":"metric","prometheus":"http://p","query":"up","comparison":"<","threshold":1,"ip":"127.0.0.1"}"#,
            "ip",
            ErrorCode::NotAllowed,
        ),
        (
            r#"{"name":"x","type":"http","ip":"127.0.0.1","query":"up"}"#,
            "query",
            ErrorCode::NotAllowed,
        ),
    ];
    for (json, field, code) in cases {
        let got = check(json).unwrap_err();
        assert!(
            got.iter().any(|(f, c)| f == field && c == code),
            "{json}: expected {field} {code}, got {got:?}"
        );
    }
}

#[test]
fn metric_checks() {
    let c = check(
        r#"{"name":"m","type":"metric","prometheus":"http://127.0.0.1:9090","query":"sum(up)","comparison":"LessThanThreshold","threshold":2.5,"interval":"5s"}"#,
    )
    .unwrap();
    let target = c.target.as_ref().unwrap();
    assert_eq!((target.ip, target.port), (Some("127.0.0.1".parse().unwrap()), 9090));
    let CheckKind::Metric(m) = &c.kind else { panic!("{:?}", c.kind) };
    assert_eq!(m.path, "/api/v1/query?query=sum%28up%29");
    assert_eq!((m.comparison.to_string(), m.threshold), ("<".to_owned(), 2.5));
    assert_eq!(m.insufficient_data, crate::metric::InsufficientData::LastKnown);
    assert_eq!(c.initial_status(), Status::Healthy);
    let by_name = check(
        r#"{"name":"m","type":"metric","prometheus":"https://prom.example.test","query":"x","comparison":">","threshold":0,"verify_tls":true}"#,
    )
    .unwrap();
    assert_eq!(by_name.target.unwrap().fqdn.unwrap().to_string(), "prom.example.test.");
    assert!(by_name.kind.tls());
}

#[test]
fn slots_and_durations() {
    let slot = HealthSlot::new(Status::Healthy);
    assert!(slot.healthy());
    assert_eq!(slot.set(Status::Unhealthy), Status::Healthy);
    assert_eq!(slot.get(), Status::Unhealthy);
    for text in ["500ms", "10s", "2m", "1h"] {
        assert_eq!(format_duration(parse_duration(text).unwrap()), text);
    }
}

#[test]
fn target_policy() {
    let p =
        TargetPolicy::parse(&["10.0.0.0/8".into(), "::1".into()], &["10.9.0.0/16".into()]).unwrap();
    assert!(p.permits("10.1.2.3".parse().unwrap()).is_ok());
    assert!(p.permits("::1".parse().unwrap()).is_ok());
    assert_eq!(
        p.permits("10.9.1.1".parse().unwrap()).unwrap_err(),
        "10.9.1.1 is in the denied network 10.9.0.0/16"
    );
    assert!(
        p.permits("192.0.2.1".parse().unwrap()).unwrap_err().contains("not in any allowed network")
    );
    assert!(TargetPolicy::default().permits("127.0.0.1".parse().unwrap()).is_ok());
    assert!(
        TargetPolicy::parse(&["10/8".into()], &[]).unwrap_err().starts_with("allowed_networks: ")
    );
}

/// An IPv6 address that carries a denied IPv4 address is denied too; link-local and metadata
/// addresses are denied unless an allowed network names them.
#[test]
fn target_policy_sees_through_embedded_ipv4_and_refuses_metadata_addresses() {
    let p = TargetPolicy::parse(&[], &["10.9.0.0/16".into(), "127.0.0.0/8".into()]).unwrap();
    let refused = |p: &TargetPolicy, ip: &str| p.permits(ip.parse().unwrap()).err();
    for ip in [
        "::ffff:10.9.1.1",  // IPv4-mapped: a dual-stack socket connects to 10.9.1.1
        "::ffff:127.0.0.1", // the same for loopback
        "::a09:101",        // IPv4-compatible
        "64:ff9b::a09:101", // NAT64
        "2002:a09:101::1",  // 6to4
    ] {
        let why = refused(&p, ip).unwrap_or_else(|| panic!("{ip} was allowed"));
        assert!(why.contains("(that is, ") && why.contains("in the denied network"), "{why}");
    }
    assert!(refused(&p, "::1").is_none(), "::1 is not 0.0.0.1");
    assert!(refused(&p, "2001:db8::a09:101").is_none(), "an ordinary address carries nothing");
    // Allowed by its IPv4 form when mapped.
    let allow = TargetPolicy::parse(&["10.0.0.0/8".into()], &[]).unwrap();
    assert!(refused(&allow, "::ffff:10.1.2.3").is_none());
    // Metadata and link-local: refused by default, allowed when named.
    let open = TargetPolicy::default();
    for ip in ["169.254.169.254", "::ffff:169.254.169.254", "fe80::1", "fd00:ec2::254"] {
        let why = refused(&open, ip).unwrap_or_else(|| panic!("{ip} was allowed"));
        assert!(why.contains("metadata"), "{why}");
    }
    let named = TargetPolicy::parse(&["169.254.169.254/32".into()], &[]).unwrap();
    assert!(refused(&named, "169.254.169.254").is_none());
}

#[test]
fn the_quorum_is_route53s_more_than_18_percent() {
    // Route 53's rule: with 16 checkers 3 healthy is enough, 2 is not; with 15, also 3.
    assert!(quorum_healthy(3, 16, DEFAULT_THRESHOLD_PCT));
    assert!(!quorum_healthy(2, 16, DEFAULT_THRESHOLD_PCT));
    assert!(quorum_healthy(3, 15, DEFAULT_THRESHOLD_PCT));
    assert!(!quorum_healthy(2, 15, DEFAULT_THRESHOLD_PCT));
    // Three checkers: one healthy report is enough (33 % > 18 %); none is not.
    assert!(quorum_healthy(1, 3, DEFAULT_THRESHOLD_PCT));
    assert!(!quorum_healthy(0, 3, DEFAULT_THRESHOLD_PCT));
    // A majority rule, per check.
    assert!(!quorum_healthy(1, 3, 50) && quorum_healthy(2, 3, 50));
    let c = check(r#"{"name":"w","type":"tcp","ip":"127.0.0.1","threshold_pct":50}"#).unwrap();
    assert_eq!(c.threshold_pct, 50);
    assert_eq!(c.checkers_per_region, None, "every checker, by default");
    let c = check(r#"{"name":"w","type":"tcp","ip":"127.0.0.1","checkers_per_region":2}"#).unwrap();
    assert_eq!(c.checkers_per_region, Some(2));
    for bad in ["0", "17", "-1"] {
        let spec =
            format!(r#"{{"name":"w","type":"tcp","ip":"127.0.0.1","checkers_per_region":{bad}}}"#);
        assert_eq!(
            check(&spec).unwrap_err(),
            [("checkers_per_region".to_owned(), ErrorCode::InvalidValue)],
            "{bad}"
        );
    }
    let calc = r#"{"name":"c","type":"calculated","children":[],"checkers_per_region":1}"#;
    assert!(check(calc).unwrap_err().iter().any(|(field, _)| field == "checkers_per_region"));
    assert_eq!(
        check(r#"{"name":"w","type":"tcp","ip":"127.0.0.1","threshold_pct":100}"#).unwrap_err(),
        [("threshold_pct".to_owned(), ErrorCode::InvalidValue)]
    );
    assert_eq!(
        check(r#"{"name":"c","type":"control","control":"p/c","threshold_pct":50}"#).unwrap_err()
            [0]
        .0,
        "threshold_pct"
    );
}

/// The node's own listeners are refused in every form of their address, and a wildcard
/// listener through any address of this host, unless the operator allows them.
#[test]
fn target_policy_refuses_the_nodes_own_listeners() {
    let mut p = TargetPolicy {
        own: vec!["127.0.0.1:8053".parse().unwrap(), "0.0.0.0:5300".parse().unwrap()],
        ..TargetPolicy::default()
    };
    let refused = |p: &TargetPolicy, addr: &str| p.permits_endpoint(addr.parse().unwrap()).err();
    for addr in ["127.0.0.1:8053", "[::ffff:127.0.0.1]:8053", "127.0.0.1:5300", "[::1]:5300"] {
        let why = refused(&p, addr).unwrap_or_else(|| panic!("{addr} was allowed"));
        assert!(
            why.contains("this node's own listener") && why.contains("allow_own_listeners"),
            "{why}"
        );
    }
    assert!(refused(&p, "127.0.0.2:8053").is_none(), "another address, another host");
    assert!(refused(&p, "127.0.0.1:8080").is_none(), "another port");
    assert!(refused(&p, "192.0.2.1:5300").is_none(), "not an address of this host");
    p.allow_own = true;
    assert!(refused(&p, "127.0.0.1:8053").is_none());
}

#[test]
fn the_newer_check_types_validate_their_own_fields() {
    let c = check(r#"{"name":"i","type":"icmp","ip":"192.0.2.1","interval":"500ms"}"#).unwrap();
    assert_eq!((c.kind.clone(), c.interval), (CheckKind::Icmp, Duration::from_millis(500)));
    let c =
        check(r#"{"name":"t","type":"tls","fqdn":"www.example.test","min_cert_days":14}"#).unwrap();
    let want = TlsOptions { sni: true, verify: false, min_cert_days: Some(14), resume: false };
    assert_eq!((c.kind, c.target.unwrap().port), (CheckKind::Tls(want), 443));
    let c = check(r#"{"name":"t","type":"https","ip":"192.0.2.1","tls_resumption":true}"#).unwrap();
    assert!(matches!(c.kind, CheckKind::Http { tls: Some(TlsOptions { resume: true, .. }), .. }));
    let c = check(
        r#"{"name":"d","type":"dns","ip":"127.0.0.1","query_name":"www.example.com.","query_type":"aaaa","protocol":"TCP","expected_rcode":"nxdomain","expected_answer":"2001:db8::1"}"#,
    )
    .unwrap();
    let CheckKind::Dns(q) = &c.kind else { panic!("{:?}", c.kind) };
    assert_eq!((q.rtype, q.tcp, q.rcode, c.target.unwrap().port), (RType::AAAA, true, 3, 53));
    assert_eq!(q.answer.as_ref().unwrap().as_wire().len(), 16);
    let c = check(r#"{"name":"g","type":"grpcs","ip":"::1","service":"shop","verify_tls":true,"headers":{"authorization":"x"}}"#)
        .unwrap();
    let CheckKind::Grpc { tls: Some(tls), service, headers } = &c.kind else { panic!() };
    assert_eq!((tls.verify, service.as_str(), headers.len()), (true, "shop", 1));

    let cases: &[(&str, &str, ErrorCode)] = &[
        (r#"{"name":"i","type":"icmp","ip":"::1","port":7}"#, "port", ErrorCode::NotAllowed),
        (
            r#"{"name":"i","type":"icmp","ip":"::1","connect_timeout":"1s"}"#,
            "connect_timeout",
            ErrorCode::NotAllowed,
        ),
        (
            r#"{"name":"d","type":"dns","ip":"::1","query_name":"a.","connect_timeout":"1s"}"#,
            "connect_timeout",
            ErrorCode::NotAllowed,
        ),
        (r#"{"name":"d","type":"dns","ip":"::1"}"#, "query_name", ErrorCode::MissingField),
        (
            r#"{"name":"d","type":"dns","ip":"::1","query_name":"a.","query_type":"AXFR"}"#,
            "query_type",
            ErrorCode::InvalidValue,
        ),
        (
            r#"{"name":"d","type":"dns","ip":"::1","query_name":"a.","protocol":"quic"}"#,
            "protocol",
            ErrorCode::InvalidValue,
        ),
        (
            r#"{"name":"d","type":"dns","ip":"::1","query_name":"a.","expected_rcode":"BADVERS"}"#,
            "expected_rcode",
            ErrorCode::InvalidValue,
        ),
        (
            r#"{"name":"d","type":"dns","ip":"::1","query_name":"a.","expected_answer":"not-an-ip"}"#,
            "expected_answer",
            ErrorCode::InvalidValue,
        ),
        (
            r#"{"name":"t","type":"tcp","ip":"::1","query_name":"a."}"#,
            "query_name",
            ErrorCode::NotAllowed,
        ),
        (r#"{"name":"t","type":"tls","ip":"::1","path":"/"}"#, "path", ErrorCode::NotAllowed),
        (
            r#"{"name":"t","type":"http","ip":"::1","service":"x"}"#,
            "service",
            ErrorCode::NotAllowed,
        ),
        (
            r#"{"name":"g","type":"grpc","ip":"::1","headers":{"grpc-timeout":"1S"}}"#,
            "headers.grpc-timeout",
            ErrorCode::NotAllowed,
        ),
        (
            r#"{"name":"g","type":"grpc","ip":"::1","min_cert_days":3}"#,
            "min_cert_days",
            ErrorCode::NotAllowed,
        ),
        (
            r#"{"name":"t","type":"tcp","ip":"::1","tls_resumption":true}"#,
            "tls_resumption",
            ErrorCode::NotAllowed,
        ),
        (r#"{"name":"x","type":"smtp","ip":"::1"}"#, "type", ErrorCode::InvalidValue),
        (r#"{"name":"i","type":"icmp","ip":"::1","watch":true}"#, "watch", ErrorCode::NotAllowed),
    ];
    for (json, field, code) in cases {
        let errors = check(json).unwrap_err();
        assert!(errors.contains(&((*field).to_owned(), *code)), "{json}: {errors:?}");
    }
}

#[test]
fn the_worst_detection_times_follow_interval_timeouts_and_threshold() {
    let c = check(r#"{"name":"w","type":"http","ip":"127.0.0.1","interval":"10s","connect_timeout":"4s","response_timeout":"2s"}"#)
        .unwrap();
    assert_eq!(c.probe_deadline(), Duration::from_secs(6));
    let d = c.worst_detection().unwrap();
    // Three probes, each after an interval: instant refusals; connect timeouts; whole deadlines.
    assert_eq!((d.crash_ms, d.host_down_ms, d.hang_ms), (30_000, 42_000, 48_000));
    let w = check(r#"{"name":"w","type":"http","ip":"127.0.0.1","interval":"10s","connect_timeout":"4s","response_timeout":"2s","watch":true}"#)
        .unwrap()
        .worst_detection()
        .unwrap();
    // Watch mode: the crash at once and two confirmations; a dead host after its keepalives.
    assert_eq!((w.crash_ms, w.host_down_ms, w.hang_ms), (100, 16_100, 48_000));
    assert!(
        check(r#"{"name":"c","type":"calculated","children":["w"]}"#)
            .unwrap()
            .worst_detection()
            .is_none()
    );
}
