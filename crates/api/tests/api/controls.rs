//! Routing controls through the APIs: panels on the configuration API, states on the
//! routing-control API under every form of safety rule (each refusal names its rule and
//! changes nothing), token scopes, concurrent updates, and the audit trail.

use std::collections::BTreeMap;

use hyper::Method;
use serde_json::Value;

use crate::harness::{Server, start};

/// Every control's state, `panel/control` -> On or Off.
async fn states(s: &Server) -> BTreeMap<String, String> {
    let v = s.control_call(Some(&s.token), Method::GET, "/v1/controls", None).await.unwrap();
    v["controls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let key =
                format!("{}/{}", c["panel"].as_str().unwrap(), c["control"].as_str().unwrap());
            (key, c["state"].as_str().unwrap().to_owned())
        })
        .collect()
}

async fn panel(s: &Server, name: &str, rules: &str) {
    let body = format!(r#"{{"controls":["a","b","c","gate"],"rules":[{rules}]}}"#);
    s.call(Method::PUT, &format!("/v1/panels/{name}"), Some(&body)).await.unwrap();
}

/// Sets states in one update; `Ok` with the audit record, or the API error.
async fn set(
    s: &Server,
    panel: &str,
    states: &[(&str, &str)],
    overrides: &[&str],
) -> Result<Value, turnout_api::ApiError> {
    let states: BTreeMap<&str, &str> = states.iter().copied().collect();
    let body = serde_json::json!({"states": states, "reason": "test", "override_rules": overrides});
    s.control_call(
        Some(&s.token),
        Method::POST,
        &format!("/v1/controls/{panel}"),
        Some(&body.to_string()),
    )
    .await
}

/// Asserts a refusal by exactly `rules`, and that no state changed.
async fn refused(s: &Server, panel: &str, update: &[(&str, &str)], rules: &[&str]) {
    let before = states(s).await;
    let e = set(s, panel, update, &[]).await.unwrap_err();
    assert_eq!((e.status, e.code.as_str()), (409, "SafetyRuleRefused"), "{e:?}");
    let by: Vec<&str> = e.refusals.iter().map(|r| r.rule.as_str()).collect();
    assert_eq!(by, rules, "{e:?}");
    for rule in rules {
        assert!(e.message.contains(rule), "the message names {rule}: {}", e.message);
    }
    assert_eq!(states(s).await, before, "a refused update changes nothing");
}

const NO_WAIT: &str = r#""wait_period":"0s""#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rule_form_refuses_by_name_and_changes_nothing() {
    let s = start().await;
    // New controls are Off.
    panel(&s, "open", "").await;
    assert!(states(&s).await.values().all(|v| v == "Off"));
    set(&s, "open", &[("a", "on"), ("b", "on"), ("c", "on")], &[]).await.unwrap();

    // ATLEAST 2 over a, b, c.
    let atleast = format!(
        r#"{{"name":"two","type":"assertion","controls":["a","b","c"],"rule":{{"kind":"atleast","threshold":2}},{NO_WAIT}}}"#
    );
    panel(&s, "open", &atleast).await;
    set(&s, "open", &[("a", "off")], &[]).await.unwrap();
    refused(&s, "open", &[("b", "off")], &["two"]).await;

    // AND over a, b: both must stay On (b is On, a is Off: turning b off keeps it broken).
    let and = format!(
        r#"{{"name":"both","type":"assertion","controls":["b","c"],"rule":{{"kind":"and"}},{NO_WAIT}}}"#
    );
    panel(&s, "open", &and).await;
    refused(&s, "open", &[("c", "off")], &["both"]).await;

    // OR over a, b, c, and a batch: turning c off and a on together keeps one On.
    let or = format!(
        r#"{{"name":"any","type":"assertion","controls":["a","c"],"rule":{{"kind":"or"}},{NO_WAIT}}}"#
    );
    panel(&s, "open", &or).await;
    refused(&s, "open", &[("c", "off")], &["any"]).await;
    set(&s, "open", &[("a", "on"), ("c", "off")], &[]).await.unwrap();

    // Inverted: never both a and b On.
    let inverted = format!(
        r#"{{"name":"not-both","type":"assertion","controls":["a","gate"],"rule":{{"kind":"and","inverted":true}},{NO_WAIT}}}"#
    );
    panel(&s, "open", &inverted).await;
    refused(&s, "open", &[("gate", "on")], &["not-both"]).await;

    // Gating: a, b may change only while the gate is On.
    panel(&s, "gated", &format!(
        r#"{{"name":"window","type":"gating","gating_controls":["gate"],"target_controls":["a","b"],"rule":{{"kind":"or"}},{NO_WAIT}}}"#
    )).await;
    refused(&s, "gated", &[("a", "on")], &["window"]).await;
    set(&s, "gated", &[("gate", "on")], &[]).await.unwrap();
    set(&s, "gated", &[("a", "on")], &[]).await.unwrap();

    // Wait period: after a change to a rule's controls, they are frozen for its wait. The
    // first change of a fresh panel is not held back (nothing changed before it).
    let s2 = start().await;
    panel(&s2, "slow", r#"{"name":"cooldown","type":"assertion","controls":["a","b"],"rule":{"kind":"or"},"wait_period":"1h"}"#).await;
    set(&s2, "slow", &[("a", "on")], &[]).await.unwrap();
    refused(&s2, "slow", &[("b", "on")], &["cooldown"]).await;
    set(&s2, "slow", &[("b", "on")], &["cooldown"]).await.unwrap();

    // Override: a, b On, c Off. Turning a off breaks both rules; naming one leaves the
    // other's refusal; naming both applies it, and the overrides are recorded.
    panel(&s, "open", &format!("{atleast},{or}")).await;
    refused(&s, "open", &[("a", "off")], &["two", "any"]).await;
    let e = set(&s, "open", &[("a", "off")], &["any"]).await.unwrap_err();
    assert_eq!(e.refusals.iter().map(|r| r.rule.as_str()).collect::<Vec<_>>(), ["two"], "{e:?}");
    let record = set(&s, "open", &[("a", "off")], &["any", "two"]).await.unwrap();
    assert_eq!(record["outcome"], "applied");
    assert_eq!(record["overridden"], serde_json::json!(["any", "two"]));
    assert_eq!(states(&s).await["open/a"], "Off");
    // An override must name a rule of the panel.
    let e = set(&s, "open", &[("a", "on")], &["nope"]).await.unwrap_err();
    assert_eq!(e.field.as_deref(), Some("override_rules"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_updates_never_jointly_break_a_rule() {
    let s = start().await;
    s.call(
        Method::PUT,
        "/v1/panels/cells",
        Some(r#"{"controls":["east","west"],"rules":[{"name":"keep-one","type":"assertion","controls":["east","west"],"rule":{"kind":"atleast","threshold":1},"wait_period":"0s"}]}"#),
    )
    .await
    .unwrap();
    for round in 0..100 {
        set(&s, "cells", &[("east", "on"), ("west", "on")], &[]).await.unwrap();
        let (a, b) = tokio::join!(
            set(&s, "cells", &[("east", "off")], &[]),
            set(&s, "cells", &[("west", "off")], &[]),
        );
        let ok = [a.is_ok(), b.is_ok()];
        assert_eq!(ok.iter().filter(|x| **x).count(), 1, "round {round}: {a:?} {b:?}");
        let refusal = match (a, b) {
            (Ok(_), Err(e)) | (Err(e), Ok(_)) => e,
            other => panic!("round {round}: {other:?}"),
        };
        assert_eq!(refusal.code, "SafetyRuleRefused", "round {round}");
        assert_eq!(states(&s).await.values().filter(|v| *v == "On").count(), 1, "round {round}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_scoped_and_every_update_is_audited() {
    let s = start().await;
    panel(&s, "p", r#"{"name":"keep","type":"assertion","controls":["a"],"rule":{"kind":"or"},"wait_period":"0s"}"#).await;
    let made = |scopes: &str| {
        format!(
            r#"{{"name":"t-{}","scopes":[{}]}}"#,
            scopes.replace('"', "").replace(',', "-"),
            scopes
        )
    };
    let config = s.call(Method::POST, "/v1/tokens", Some(&made(r#""config""#))).await.unwrap();
    let controls = s.call(Method::POST, "/v1/tokens", Some(&made(r#""controls""#))).await.unwrap();
    let config = config["token"].as_str().unwrap().to_owned();
    let controls = controls["token"].as_str().unwrap().to_owned();
    // A name in use is a conflict; deleting an unknown name is not found; admin stays.
    let e = s.call(Method::POST, "/v1/tokens", Some(&made(r#""config""#))).await.unwrap_err();
    assert_eq!(
        (e.status, e.code.as_str(), e.field.as_deref()),
        (409, "TokenAlreadyExists", Some("name"))
    );
    let e = s.call(Method::DELETE, "/v1/tokens/nobody", None).await.unwrap_err();
    assert_eq!((e.status, e.code.as_str()), (404, "NoSuchToken"));
    let e = s.call(Method::DELETE, "/v1/tokens/admin", None).await.unwrap_err();
    assert_eq!((e.status, e.code.as_str()), (400, "InvalidInput"));
    let body = r#"{"state":"on","reason":"maintenance over"}"#;
    // A config token cannot flip a control; an anonymous caller neither.
    let e = s
        .control_call(Some(&config), Method::PUT, "/v1/controls/p/a", Some(body))
        .await
        .unwrap_err();
    assert_eq!((e.status, e.code.as_str()), (403, "Forbidden"));
    let e = s.control_call(None, Method::PUT, "/v1/controls/p/a", Some(body)).await.unwrap_err();
    assert_eq!(e.status, 401);
    // A controls token can, but cannot change the configuration or make tokens.
    let r =
        s.control_call(Some(&controls), Method::PUT, "/v1/controls/p/a", Some(body)).await.unwrap();
    assert_eq!((r["token"].as_str(), r["outcome"].as_str()), (Some("t-controls"), Some("applied")));
    let as_controls = turnout_api::client::Client::new(&s.base, Some(controls.clone())).unwrap();
    let e = as_controls.delete_panel("p").await.unwrap_err();
    assert!(e.to_string().contains("Forbidden"), "{e}");
    let e = as_controls.tokens().await.unwrap_err();
    assert!(e.to_string().contains("Forbidden"), "{e}");
    // A reason is required.
    let e = s
        .control_call(Some(&controls), Method::PUT, "/v1/controls/p/a", Some(r#"{"state":"off"}"#))
        .await
        .unwrap_err();
    assert_eq!((e.code.as_str(), e.field.as_deref()), ("InvalidInput", Some("reason")));
    // Of at most 1,000 characters (it goes in every audit record); a dry run checks the same.
    let long = serde_json::json!({"state": "off", "reason": "x".repeat(1001)}).to_string();
    for path in ["/v1/controls/p/a", "/v1/controls/p/a?dry_run=true"] {
        let e = s.control_call(Some(&controls), Method::PUT, path, Some(&long)).await.unwrap_err();
        assert_eq!(
            (e.code.as_str(), e.field.as_deref()),
            ("InvalidInput", Some("reason")),
            "{path}"
        );
        assert!(e.message.contains("1001 characters"), "{e:?}");
    }
    let e = s
        .control_call(
            Some(&controls),
            Method::POST,
            "/v1/controls/p?dry_run=true",
            Some(r#"{"states":{"a":"off"}}"#),
        )
        .await
        .unwrap_err();
    assert_eq!(e.field.as_deref(), Some("reason"), "a dry run needs a reason too");
    // Refused (keep needs a On), then overridden: both in the trail, newest first.
    let off = r#"{"state":"off","reason":"drain"}"#;
    s.control_call(Some(&controls), Method::PUT, "/v1/controls/p/a", Some(off)).await.unwrap_err();
    let over = r#"{"state":"off","reason":"drain anyway","override_rules":["keep"]}"#;
    s.control_call(Some(&controls), Method::PUT, "/v1/controls/p/a", Some(over)).await.unwrap();
    let h = s
        .control_call(Some(&s.token), Method::GET, "/v1/controls/history?panel=p", None)
        .await
        .unwrap();
    let records = h["records"].as_array().unwrap();
    let summary: Vec<(&str, &str, &str)> = records
        .iter()
        .map(|r| {
            (
                r["outcome"].as_str().unwrap(),
                r["reason"].as_str().unwrap(),
                r["changes"][0]["to"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("applied", "drain anyway", "Off"),
            ("refused", "drain", "Off"),
            ("applied", "maintenance over", "On")
        ]
    );
    assert_eq!(records[0]["overridden"], serde_json::json!(["keep"]));
    assert_eq!(records[1]["refused_by"][0]["rule"], "keep");
    assert_eq!(records[2]["changes"][0]["from"], "Off");
    // Unknown panels and controls are 404s naming them; a bad state names its field.
    let e = s
        .control_call(Some(&controls), Method::PUT, "/v1/controls/p/zz", Some(body))
        .await
        .unwrap_err();
    assert_eq!((e.status, e.code.as_str()), (404, "NoSuchRoutingControl"));
    let e = s
        .control_call(
            Some(&controls),
            Method::PUT,
            "/v1/controls/p/a",
            Some(r#"{"state":"maybe","reason":"x"}"#),
        )
        .await
        .unwrap_err();
    assert_eq!(e.field.as_deref(), Some("states.a"));
}

/// The routing-control listener serves its own OpenAPI document, which lists every route.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_routing_control_api_describes_itself() {
    let s = start().await;
    let doc = s.control_call(None, Method::GET, "/v1/openapi.json", None).await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let documented = |path: &str, method: &str| doc["paths"][path].get(method).is_some();
    for (path, methods) in [
        ("/healthz", &["get"][..]),
        ("/v1/openapi.json", &["get"]),
        ("/v1/controls", &["get"]),
        ("/v1/controls/history", &["get"]),
        ("/v1/controls/{panel}", &["get", "post"]),
        ("/v1/controls/{panel}/{control}", &["get", "put"]),
    ] {
        for method in methods {
            assert!(documented(path, method), "{method} {path} is not documented");
        }
    }
    assert_eq!(doc["paths"].as_object().unwrap().len(), 6, "a route that does not exist");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panels_are_validated_and_guarded_by_the_checks_that_follow_them() {
    let s = start().await;
    let e = s
        .call(Method::PUT, "/v1/panels/p", Some(r#"{"controls":["a","a"],"rules":[{"name":"r","type":"assertion","controls":["z"],"rule":{"kind":"or"}}]}"#))
        .await
        .unwrap_err();
    assert_eq!((e.status, e.code.as_str()), (400, "InvalidControlPanel"));
    let fields: Vec<&str> = e.errors.iter().map(|x| x.field.as_str()).collect();
    assert_eq!(fields, ["controls[1]", "rules[0].controls[0]"], "{e:?}");
    // `history` is not a panel name: /v1/controls/history is the audit trail.
    let e =
        s.call(Method::PUT, "/v1/panels/history", Some(r#"{"controls":["a"]}"#)).await.unwrap_err();
    assert_eq!((e.status, e.errors[0].field.as_str()), (400, "name"), "{e:?}");
    // A control check needs its control; then the control cannot go.
    let check = r#"{"type":"control","control":"p/a"}"#;
    let e = s.call(Method::PUT, "/v1/checks/follow", Some(check)).await.unwrap_err();
    assert_eq!((e.code.as_str(), e.field.as_deref()), ("InvalidHealthCheck", Some("control")));
    s.call(Method::PUT, "/v1/panels/p", Some(r#"{"controls":["a","b"]}"#)).await.unwrap();
    s.call(Method::PUT, "/v1/checks/follow", Some(check)).await.unwrap();
    let e = s.call(Method::PUT, "/v1/panels/p", Some(r#"{"controls":["b"]}"#)).await.unwrap_err();
    assert_eq!((e.status, e.code.as_str()), (409, "ControlPanelInUse"));
    let e = s.call(Method::DELETE, "/v1/panels/p", None).await.unwrap_err();
    assert_eq!(e.code, "ControlPanelInUse");
    // The check follows its control: Off is unhealthy, On healthy.
    let status = |v: Value| v["status"].as_str().unwrap().to_owned();
    assert_eq!(
        status(s.call(Method::GET, "/v1/checks/follow/status", None).await.unwrap()),
        "unhealthy"
    );
    set(&s, "p", &[("a", "on")], &[]).await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while status(s.call(Method::GET, "/v1/checks/follow/status", None).await.unwrap()) != "healthy"
    {
        assert!(std::time::Instant::now() < deadline, "the check did not follow its control");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_change_reverts_by_itself_through_the_rules() {
    let s = start().await;
    panel(&s, "p", "").await;
    let body = r#"{"states":{"a":"on"},"reason":"for a moment","for":"1s"}"#;
    let r =
        s.control_call(Some(&s.token), Method::POST, "/v1/controls/p", Some(body)).await.unwrap();
    assert!(r["reverts_at"].as_str().is_some(), "{r}");
    let one = s.control_call(Some(&s.token), Method::GET, "/v1/controls/p/a", None).await.unwrap();
    assert_eq!((one["state"].as_str(), one["reverts_at"].is_string()), (Some("On"), true));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while states(&s).await["p/a"] != "Off" {
        assert!(std::time::Instant::now() < deadline, "the change did not revert");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let h =
        s.control_call(Some(&s.token), Method::GET, "/v1/controls/history", None).await.unwrap();
    let newest = &h["records"][0];
    assert_eq!(
        (newest["token"].as_str(), newest["outcome"].as_str()),
        (Some("turnout"), Some("applied"))
    );
    assert!(newest["reason"].as_str().unwrap().starts_with("expired"), "{newest}");
    let e = s
        .control_call(
            Some(&s.token),
            Method::POST,
            "/v1/controls/p",
            Some(r#"{"states":{"a":"on"},"reason":"x","for":"soon"}"#),
        )
        .await
        .unwrap_err();
    assert_eq!(e.field.as_deref(), Some("for"));
}
