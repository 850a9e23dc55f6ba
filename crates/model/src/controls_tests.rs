use super::*;

fn panel(json: &str) -> ControlPanel {
    serde_json::from_str::<ControlPanelSpec>(json).unwrap().validate().unwrap()
}

fn states(on: &[&str], changed_at_ms: u64) -> BTreeMap<String, ControlState> {
    ["a", "b", "c", "gate"]
        .iter()
        .map(|c| {
            let s = ControlState { on: on.contains(c), changed_at_ms, revert_at_ms: None };
            ((*c).to_owned(), s)
        })
        .collect()
}

fn update(entries: &[(&str, bool)]) -> BTreeMap<String, bool> {
    entries.iter().map(|(c, on)| ((*c).to_owned(), *on)).collect()
}

fn refused(p: &ControlPanel, on: &[&str], u: &[(&str, bool)]) -> Vec<String> {
    check_update(p, &states(on, 0), &update(u), &BTreeSet::new(), 1_000_000)
        .into_iter()
        .map(|r| r.rule)
        .collect()
}

const CONTROLS: &str = r#""controls":["a","b","c","gate"]"#;

fn with_rule(rule: &str) -> ControlPanel {
    panel(&format!(r#"{{"name":"p",{CONTROLS},"rules":[{rule}]}}"#))
}

#[test]
fn atleast() {
    let p = with_rule(
        r#"{"name":"two","type":"assertion","controls":["a","b","c"],"rule":{"kind":"atleast","threshold":2}}"#,
    );
    assert_eq!(refused(&p, &["a", "b"], &[("a", false)]), ["two"]);
    assert!(refused(&p, &["a", "b", "c"], &[("a", false)]).is_empty());
    // A control the rule does not assert is not checked.
    assert!(refused(&p, &["a"], &[("gate", true)]).is_empty());
}

#[test]
fn and_or_inverted() {
    let and = with_rule(
        r#"{"name":"all","type":"assertion","controls":["a","b"],"rule":{"kind":"and"}}"#,
    );
    assert_eq!(refused(&and, &["a", "b"], &[("b", false)]), ["all"]);
    let or =
        with_rule(r#"{"name":"one","type":"assertion","controls":["a","b"],"rule":{"kind":"or"}}"#);
    assert_eq!(refused(&or, &["a"], &[("a", false)]), ["one"]);
    assert!(refused(&or, &["a"], &[("a", false), ("b", true)]).is_empty(), "a batch that swaps");
    let never_both = with_rule(
        r#"{"name":"not-both","type":"assertion","controls":["a","b"],"rule":{"kind":"and","inverted":true}}"#,
    );
    assert_eq!(refused(&never_both, &["a"], &[("b", true)]), ["not-both"]);
    assert!(refused(&never_both, &["a"], &[("a", false), ("b", true)]).is_empty());
}

#[test]
fn gating() {
    let p = with_rule(
        r#"{"name":"window","type":"gating","gating_controls":["gate"],"target_controls":["a","b"],"rule":{"kind":"or"}}"#,
    );
    assert_eq!(refused(&p, &["a"], &[("b", true)]), ["window"], "gate closed");
    assert!(refused(&p, &["a", "gate"], &[("b", true)]).is_empty(), "gate open");
    // The gate is read before the update: opening it in the same batch does not count.
    assert_eq!(refused(&p, &["a"], &[("gate", true), ("b", true)]), ["window"]);
    // The gate itself may change.
    assert!(refused(&p, &["a"], &[("gate", true)]).is_empty());
}

#[test]
fn wait_period_and_override() {
    let p = with_rule(
        r#"{"name":"slow","type":"assertion","controls":["a","b"],"rule":{"kind":"or"},"wait_period":"10s"}"#,
    );
    let st = states(&["a", "b"], 995_000);
    let r = check_update(&p, &st, &update(&[("a", false)]), &BTreeSet::new(), 1_000_000);
    assert_eq!(r.len(), 1);
    assert!(r[0].reason.contains("changed 5s ago") && r[0].reason.contains("again in 5s"), "{r:?}");
    assert_eq!(r[0].retry_after_ms, Some(5_000), "a wait period says when it ends");
    assert!(
        check_update(&p, &st, &update(&[("a", false)]), &BTreeSet::new(), 1_006_000).is_empty()
    );
    let overrides: BTreeSet<String> = ["slow".to_owned()].into();
    assert!(check_update(&p, &st, &update(&[("a", false)]), &overrides, 1_000_000).is_empty());
    // Setting a control to the state it has is no change: no rule looks at it.
    assert!(check_update(&p, &st, &update(&[("a", true)]), &BTreeSet::new(), 1_000_000).is_empty());
}

#[test]
fn every_rule_is_reported() {
    let p = panel(&format!(
        r#"{{"name":"p",{CONTROLS},"rules":[
        {{"name":"r1","type":"assertion","controls":["a","b"],"rule":{{"kind":"or"}}}},
        {{"name":"r2","type":"assertion","controls":["a"],"rule":{{"kind":"and"}}}}]}}"#
    ));
    assert_eq!(refused(&p, &["a"], &[("a", false)]), ["r1", "r2"]);
}

#[test]
fn panels_are_validated_with_fields() {
    let cases: &[(&str, &str, ErrorCode)] = &[
        (r#"{"controls":["a"]}"#, "name", ErrorCode::MissingField),
        (r#"{"name":"p"}"#, "controls", ErrorCode::MissingField),
        (r#"{"name":"p","controls":["a","a"]}"#, "controls[1]", ErrorCode::InvalidValue),
        (r#"{"name":"p","controls":["a b"]}"#, "controls[0]", ErrorCode::InvalidValue),
        (
            r#"{"name":"p","controls":["a"],"rules":[{"name":"r","type":"x","rule":{"kind":"or"}}]}"#,
            "rules[0].type",
            ErrorCode::InvalidValue,
        ),
        (
            r#"{"name":"p","controls":["a"],"rules":[{"name":"r","type":"assertion","controls":["z"],"rule":{"kind":"or"}}]}"#,
            "rules[0].controls[0]",
            ErrorCode::NotFound,
        ),
        (
            r#"{"name":"p","controls":["a"],"rules":[{"name":"r","type":"assertion","controls":["a"],"rule":{"kind":"atleast","threshold":2}}]}"#,
            "rules[0].rule.threshold",
            ErrorCode::InvalidValue,
        ),
        (
            r#"{"name":"p","controls":["a"],"rules":[{"name":"r","type":"assertion","controls":["a"],"rule":{"kind":"atleast"}}]}"#,
            "rules[0].rule.threshold",
            ErrorCode::MissingField,
        ),
        (
            r#"{"name":"p","controls":["a"],"rules":[{"name":"r","type":"gating","gating_controls":["a"],"rule":{"kind":"or"}}]}"#,
            "rules[0].target_controls",
            ErrorCode::MissingField,
        ),
        (
            r#"{"name":"p","controls":["a"],"rules":[{"name":"r","type":"assertion","controls":["a"],"gating_controls":["a"],"rule":{"kind":"or"}}]}"#,
            "rules[0].gating_controls",
            ErrorCode::NotAllowed,
        ),
        (
            r#"{"name":"p","controls":["a"],"rules":[{"name":"r","type":"assertion","controls":["a"],"rule":{"kind":"or"},"wait_period":"soon"}]}"#,
            "rules[0].wait_period",
            ErrorCode::InvalidValue,
        ),
        (
            r#"{"name":"p","controls":["a"],"rules":[{"name":"r","type":"assertion","controls":["a"],"rule":{"kind":"or"}},{"name":"r","type":"assertion","controls":["a"],"rule":{"kind":"or"}}]}"#,
            "rules[1].name",
            ErrorCode::InvalidValue,
        ),
    ];
    for (json, field, code) in cases {
        let got = serde_json::from_str::<ControlPanelSpec>(json).unwrap().validate().unwrap_err();
        assert!(got.iter().any(|e| e.field == *field && e.code == *code), "{json}: {got:?}");
    }
    let p = panel(
        r#"{"name":"p","controls":["a"],"rules":[{"name":"r","type":"assertion","controls":["a"],"rule":{"kind":"or"}}]}"#,
    );
    assert_eq!(p.rules[0].wait, DEFAULT_WAIT);
    assert!(!ControlState::default().on, "a new control is Off");
}
