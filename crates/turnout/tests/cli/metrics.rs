//! Answers by policy-group member in `/metrics`: a weighted group's counters follow its
//! weights, and go on (not back to zero) when a change recompiles the zone.

use std::time::Duration;

use turnout_testkit::QueryBuilder;
use turnout_testkit::process::{poll, sample};

use crate::{ok, start};

fn member(body: &str, set_id: &str) -> f64 {
    let key = format!(
        r#"turnout_dns_policy_answers_total{{zone="w.test.",name="www.w.test.",type="A",set_id="{set_id}"}}"#
    );
    sample(body, &key).unwrap_or_else(|| panic!("no {key} in\n{body}"))
}

fn apply(t: &turnout_testkit::process::Turnout, dir: &std::path::Path, extra: &str) {
    let file = dir.join("w.yaml");
    std::fs::write(
        &file,
        format!(
            r#"
zones:
  - name: w.test
    records:
      - {{ name: www, type: A, ttl: 30, set_id: heavy, weight: 3, values: [192.0.2.1] }}
      - {{ name: www, type: A, ttl: 30, set_id: light, weight: 1, values: [192.0.2.2] }}
{extra}"#
        ),
    )
    .unwrap();
    ok(t, &["apply", "-f", file.to_str().unwrap(), "--yes"]);
}

#[test]
fn a_weighted_groups_member_counters_follow_the_weights_across_changes() {
    let t = start(None);
    let dir = tempfile::tempdir().unwrap();
    apply(&t, dir.path(), "");
    let www = QueryBuilder::new("www.w.test", "A").build();
    poll(Duration::from_secs(5), || t.udp(&www).filter(|r| r[3] & 0x0f == 0)).expect("served");
    for _ in 0..399 {
        t.udp(&www).expect("an answer");
    }
    let body = t.scrape();
    let (heavy, light) = (member(&body, "heavy"), member(&body, "light"));
    assert_eq!(heavy + light, 400.0, "every answer counted once");
    // 3:1 of 400: 300 expected, a standard deviation of 8.7; 60 away is 7 of them.
    assert!((240.0..=360.0).contains(&heavy), "heavy {heavy}, light {light}");
    assert_eq!(sample(&body, r#"turnout_dns_zone_queries_total{zone="w.test."}"#), Some(400.0));
    let healthy = r#"turnout_policy_group_members{zone="w.test.",name="www.w.test.",type="A",state="healthy"}"#;
    assert_eq!(sample(&body, healthy), Some(2.0), "{body}");
    // The change was served, and how long that took counted.
    assert!(sample(&body, "turnout_change_served_seconds_count").is_some_and(|n| n >= 1.0));

    // A change to the zone: the counts carry over to the recompiled part.
    apply(&t, dir.path(), "      - { name: new, type: A, ttl: 30, values: [192.0.2.9] }\n");
    let new = QueryBuilder::new("new.w.test", "A").build();
    poll(Duration::from_secs(5), || t.udp(&new).filter(|r| r[3] & 0x0f == 0)).expect("served");
    for _ in 0..100 {
        t.udp(&www).expect("an answer");
    }
    let total = poll(Duration::from_secs(5), || {
        let body = t.scrape();
        let total = member(&body, "heavy") + member(&body, "light");
        (total == 500.0).then_some(total)
    });
    assert_eq!(total, Some(500.0), "{}", t.scrape());
}
