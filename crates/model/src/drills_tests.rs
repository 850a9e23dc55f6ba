use super::*;

fn spec(json: &str) -> Result<Drill, Vec<(String, ErrorCode)>> {
    let spec: DrillSpec = serde_json::from_str(json).unwrap();
    spec.validate().map_err(|es| es.into_iter().map(|e| (e.field, e.code)).collect())
}

#[test]
fn a_drill_flips_a_control_or_forces_a_check() {
    let d = spec(r#"{"name":"east","control":"main/us-east","guard":"west","watch":["www.example.com. A"],"every":"168h","blocked":["mon-fri 08:00-18:00"]}"#)
        .unwrap();
    let want = DrillAction::Control { panel: "main".into(), control: "us-east".into(), on: false };
    assert_eq!((d.action, d.duration), (want, Duration::from_secs(300)));
    assert_eq!((d.every, d.watch.len()), (Some(Duration::from_secs(7 * 86_400)), 1));
    let d = spec(r#"{"name":"web","check":"web-primary","duration":"30s"}"#).unwrap();
    assert_eq!(
        (d.action, d.duration),
        (DrillAction::Check("web-primary".into()), Duration::from_secs(30))
    );

    let cases: &[(&str, &str, ErrorCode)] = &[
        (r#"{"name":"x"}"#, "control", ErrorCode::MissingField),
        (r#"{"name":"x","control":"a/b","check":"c"}"#, "check", ErrorCode::ConflictingFields),
        (r#"{"name":"x","control":"ab"}"#, "control", ErrorCode::InvalidValue),
        (r#"{"name":"x","control":"a/b","state":"maybe"}"#, "state", ErrorCode::InvalidValue),
        (r#"{"name":"x","check":"c","state":"On"}"#, "state", ErrorCode::NotAllowed),
        (r#"{"name":"x","check":"c","guard":"c"}"#, "guard", ErrorCode::InvalidValue),
        (r#"{"name":"x","check":"c","duration":"2d"}"#, "duration", ErrorCode::InvalidValue),
        (r#"{"name":"x","check":"c","every":"10m"}"#, "every", ErrorCode::InvalidValue),
        (
            r#"{"name":"x","check":"c","watch":["www.example.com."]}"#,
            "watch[0]",
            ErrorCode::InvalidValue,
        ),
        (
            r#"{"name":"x","check":"c","watch":["www.example.com. NOPE"]}"#,
            "watch[0]",
            ErrorCode::InvalidValue,
        ),
        (
            r#"{"name":"x","check":"c","blocked":["weekdays 9-5"]}"#,
            "blocked[0]",
            ErrorCode::InvalidValue,
        ),
        (r#"{"name":"","check":"c"}"#, "name", ErrorCode::MissingField),
    ];
    for (json, field, code) in cases {
        let errors = spec(json).unwrap_err();
        assert!(errors.iter().any(|(f, c)| f == field && c == code), "{json}: {errors:?}");
    }
}

#[test]
fn windows_cover_their_days_and_hours_in_utc() {
    // 2026-12-07T09:30:00Z is a Monday.
    let monday_0930 = 1_796_635_800;
    let hours = |h: u64| h * 3600;
    let office = Window::parse("mon-fri 08:00-18:00").unwrap();
    assert!(office.contains(monday_0930));
    assert!(!office.contains(monday_0930 + hours(9))); // 18:30
    assert!(!office.contains(monday_0930 + hours(24 * 5))); // Saturday
    // Past midnight: Friday 22:00 to Saturday 06:00.
    let night = Window::parse("fri 22:00-06:00").unwrap();
    let friday_2300 = monday_0930 + hours(24 * 4) + hours(13) + 1800;
    assert!(night.contains(friday_2300));
    assert!(night.contains(friday_2300 + hours(6))); // Saturday 05:00
    assert!(!night.contains(friday_2300 + hours(8))); // Saturday 07:00
    assert!(!night.contains(monday_0930 + hours(13))); // Monday 22:30
    // A list, a whole day, and a range across the week's end.
    assert!(Window::parse("sat,sun 00:00-24:00").unwrap().contains(monday_0930 - hours(10)));
    assert!(Window::parse("sat-mon 09:00-10:00").unwrap().contains(monday_0930));
    assert!(Window::parse("* 09:00-09:31").unwrap().contains(monday_0930));
    for bad in [
        "mon",
        "mon 08:00",
        "mon 8:00-9:00",
        "mon 09:00-09:00",
        "xyz 01:00-02:00",
        "mon 24:00-01:00",
        "mon 10:60-11:00",
    ] {
        assert!(Window::parse(bad).is_err(), "{bad}");
    }
}
