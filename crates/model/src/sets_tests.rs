use std::collections::BTreeMap;

use super::*;
use crate::records::RecordSetSpec;

fn apex() -> Name {
    Name::parse_absolute("example.test.").unwrap()
}

fn set(json: &str) -> RecordSet {
    serde_json::from_str::<RecordSetSpec>(json).unwrap().validate(&apex()).unwrap()
}

/// Plain sets and routing sets mixed, in no particular order, with names that sort differently
/// in canonical order than as bytes.
fn mixed() -> Vec<RecordSet> {
    vec![
        set(r#"{"name":"z","type":"A","ttl":60,"values":["192.0.2.1","192.0.2.2"]}"#),
        set(r#"{"name":"a.z","type":"A","ttl":60,"values":["192.0.2.3"]}"#),
        set(
            r#"{"name":"www","type":"A","ttl":60,"set_id":"two","weight":2,"values":["192.0.2.5"]}"#,
        ),
        set(
            r#"{"name":"www","type":"A","ttl":60,"set_id":"one","weight":1,"values":["192.0.2.4"]}"#,
        ),
        set(r#"{"name":"www","type":"AAAA","ttl":300,"values":["2001:db8::1"]}"#),
        set(r#"{"name":"@","type":"TXT","ttl":5,"values":["\"a b\"","\"\""]}"#),
        set(r#"{"name":"@","type":"MX","ttl":5,"values":["10 mail.example.test."]}"#),
        set(
            r#"{"name":"b","type":"CNAME","ttl":5,"values":["www"],"always_serve":true,"health_check":"c"}"#,
        ),
        set(
            r#"{"name":"alias","type":"A","alias":{"target":"www","evaluate_target_health":true}}"#,
        ),
    ]
}

#[test]
fn sets_come_back_as_they_went_in_and_in_the_order_of_their_keys() {
    let sets: RecordSets = mixed().into_iter().collect();
    let by_key: BTreeMap<RecordKey, RecordSet> =
        mixed().into_iter().map(|s| (s.key(), s)).collect();
    assert_eq!(sets.len(), by_key.len());
    let got: Vec<RecordSet> = sets.values().map(Cow::into_owned).collect();
    let want: Vec<RecordSet> = by_key.values().cloned().collect();
    assert_eq!(got, want);
    assert_eq!(sets.keys().collect::<Vec<_>>(), by_key.keys().cloned().collect::<Vec<_>>());
    let back: Vec<RecordSet> = sets.values().rev().map(Cow::into_owned).collect();
    assert_eq!(back, want.into_iter().rev().collect::<Vec<_>>());
    for (key, s) in &by_key {
        assert_eq!(sets.get(key).as_deref(), Some(s), "{key}");
        assert!(sets.contains_key(key));
        let from: Vec<RecordKey> = sets.keys_from(key).collect();
        let want: Vec<RecordKey> = by_key.range(key..).map(|(k, _)| k.clone()).collect();
        assert_eq!(from, want, "{key}");
        assert_eq!(sets.from_key(key).next().as_deref(), Some(s));
    }
}

#[test]
fn plain_sets_are_packed_and_routing_sets_are_kept_whole() {
    let sets: RecordSets = mixed().into_iter().collect();
    let plain = sets.entries.iter().filter(|e| matches!(e, Entry::Plain(_))).count();
    // z A, a.z A, www AAAA, @ TXT, @ MX; not the weighted pair, the checked CNAME or the alias.
    assert_eq!(plain, 5);
    assert!(sets.values().filter(|s| matches!(s, Cow::Borrowed(_))).count() == 4);
}

#[test]
fn insert_replaces_and_remove_takes_by_key() {
    let mut sets: RecordSets = mixed().into_iter().collect();
    let new = set(r#"{"name":"z","type":"A","ttl":30,"values":["192.0.2.9"]}"#);
    let old = sets.insert(new.clone()).unwrap();
    assert_eq!(old, mixed()[0]);
    assert_eq!(sets.get(&new.key()).as_deref(), Some(&new));
    assert_eq!(sets.len(), mixed().len());
    // A plain set replaced by a routing set of the same key, and back.
    let checked =
        set(r#"{"name":"z","type":"A","ttl":30,"values":["192.0.2.9"],"health_check":"c"}"#);
    assert_eq!(sets.insert(checked.clone()), Some(new.clone()));
    assert_eq!(sets.insert(new.clone()), Some(checked));
    let missing = RecordKey { name: apex(), rtype: RType::A, set_id: String::new() };
    assert_eq!(sets.remove(&missing), None);
    assert_eq!(sets.remove(&new.key()), Some(new.clone()));
    assert!(!sets.contains_key(&new.key()));
    assert_eq!(sets.len(), mixed().len() - 1);
}

#[test]
fn equal_means_the_same_sets_with_the_same_contents() {
    let a: RecordSets = mixed().into_iter().collect();
    let b: RecordSets = mixed().into_iter().rev().collect();
    assert_eq!(a, b);
    let mut c = b.clone();
    c.insert(set(r#"{"name":"z","type":"A","ttl":61,"values":["192.0.2.1","192.0.2.2"]}"#));
    assert_ne!(a, c);
    let mut d = b.clone();
    d.insert(set(
        r#"{"name":"www","type":"A","ttl":60,"set_id":"two","weight":3,"values":["192.0.2.5"]}"#,
    ));
    assert_ne!(a, d);
    assert_eq!(format!("{a:?}"), format!("{:?}", a.values().collect::<Vec<_>>()));
}

#[test]
fn changes_are_the_sets_that_differ_by_key_and_content() {
    let a: RecordSets = mixed().into_iter().collect();
    assert!(a.changes(&a.clone()).is_empty());
    let mut b = a.clone();
    let new_ttl = set(r#"{"name":"z","type":"A","ttl":61,"values":["192.0.2.1","192.0.2.2"]}"#);
    let added = set(r#"{"name":"new","type":"A","ttl":60,"values":["192.0.2.7"]}"#);
    b.insert(new_ttl.clone());
    b.insert(added.clone());
    let gone = b.remove(&mixed()[1].key()).unwrap();
    let got: Vec<(Option<RecordSet>, Option<RecordSet>)> = a
        .changes(&b)
        .into_iter()
        .map(|(x, y)| (x.map(Cow::into_owned), y.map(Cow::into_owned)))
        .collect();
    // In key order: new, z, a.z.
    assert_eq!(
        got,
        vec![(None, Some(added)), (Some(mixed()[0].clone()), Some(new_ttl)), (Some(gone), None)]
    );
}

#[test]
fn gathered_sets_are_the_same_as_collected_ones_and_the_last_of_a_key_wins() {
    let mut g = Gathered::default();
    for s in mixed().into_iter().rev() {
        g.push(s);
    }
    let replaced = set(r#"{"name":"z","type":"A","ttl":1,"values":["192.0.2.1"]}"#);
    g.push(replaced.clone());
    let mut want: RecordSets = mixed().into_iter().collect();
    want.insert(replaced);
    assert_eq!(RecordSets::from(g), want);
}
