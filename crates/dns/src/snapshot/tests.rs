//! The answer path end to end in process: packet -> decode -> answer -> encode -> an
//! independent decoder. The black-box suite in `crates/turnout/tests/dns` covers the same
//! behaviours over real sockets; these pin the internals (compression, truncation, the
//! snapshot's index) close to the code.

use std::collections::BTreeMap;

use turnout_model::zonefile;
use turnout_testkit::{QueryBuilder, render};

use super::*;
use crate::encode::{EDNS_UDP_PAYLOAD, TCP_LIMIT, Transport};
use crate::respond;

pub(crate) fn test_snapshot() -> Snapshot {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/testdata/");
    let parent =
        zonefile::parse_file(format!("{dir}example.test.zone").as_ref(), None).expect("valid zone");
    let child = zonefile::parse_file(format!("{dir}child.example.test.zone").as_ref(), None)
        .expect("valid zone");
    Snapshot::build(&[child, parent]).expect("builds")
}

fn ask_on(snap: &Snapshot, q: &QueryBuilder, transport: Transport) -> (usize, String) {
    let mut out = vec![0u8; TCP_LIMIT];
    let n = respond(snap, &q.build(), transport, None, &mut out).expect("a reply");
    (n, render(&out[..n]).unwrap_or_else(|e| panic!("{e}: {:?}", &out[..n])))
}

fn ask(q: QueryBuilder) -> String {
    ask_on(&test_snapshot(), &q, Transport::Udp).1
}

fn lines(text: &str, prefix: &str) -> Vec<String> {
    text.lines().filter(|l| l.starts_with(prefix)).map(str::to_owned).collect()
}

#[test]
fn a_client_subnet_comes_back_with_its_scope() {
    let r = ask(QueryBuilder::new("www.example.test", "A").ecs(1, 20, 0, &[198, 51, 96]));
    assert!(r.ends_with("opt udp=1232 version=0 ecs=198.51.96.0/20/0"), "{r}");
    let r = ask(QueryBuilder::new("www.example.test", "A").ecs(2, 0, 0, &[]));
    assert!(r.ends_with("ecs=::/0/0"), "{r}");
    // Malformed: FORMERR, with an OPT but without the option.
    let r = ask(QueryBuilder::new("www.example.test", "A").ecs(1, 20, 0, &[198, 51, 100]));
    assert!(r.starts_with("rcode FORMERR"), "{r}");
    assert!(r.ends_with("opt udp=1232 version=0"), "{r}");
}

#[test]
fn exact_match_is_authoritative() {
    let r = ask(QueryBuilder::new("www.example.test", "A"));
    assert_eq!(
        r,
        "rcode NOERROR\nflags qr aa\nqd www.example.test. A\n\
         an www.example.test. 300 IN A 192.0.2.1\nan www.example.test. 300 IN A 192.0.2.2"
    );
}

#[test]
fn negative_answers_carry_the_soa_with_the_negative_ttl() {
    let soa = "ns example.test. 60 IN SOA ns1.example.test. hostmaster.example.test. 2024010101 7200 900 1209600 60";
    let r = ask(QueryBuilder::new("www.example.test", "AAAA"));
    assert_eq!(r, format!("rcode NOERROR\nflags qr aa\nqd www.example.test. AAAA\n{soa}"));
    let r = ask(QueryBuilder::new("nothing.example.test", "A"));
    assert_eq!(r, format!("rcode NXDOMAIN\nflags qr aa\nqd nothing.example.test. A\n{soa}"));
    // Empty non-terminals exist: NOERROR, no data.
    let r = ask(QueryBuilder::new("b.c.ent.example.test", "A"));
    assert!(r.starts_with("rcode NOERROR\nflags qr aa"), "{r}");
    assert_eq!(lines(&r, "ns ").len(), 1, "{r}");
}

#[test]
fn cname_chains_loops_and_exits() {
    let r = ask(QueryBuilder::new("chain1.example.test", "A"));
    assert_eq!(
        lines(&r, "an "),
        [
            "an chain1.example.test. 300 IN CNAME chain2.example.test.",
            "an chain2.example.test. 300 IN CNAME alias.example.test.",
            "an alias.example.test. 300 IN CNAME www.example.test.",
            "an www.example.test. 300 IN A 192.0.2.1",
            "an www.example.test. 300 IN A 192.0.2.2",
        ]
    );
    let r = ask(QueryBuilder::new("loop1.example.test", "A"));
    assert!(r.starts_with("rcode NOERROR"), "{r}");
    assert_eq!(lines(&r, "an ").len(), 2, "each CNAME of the loop once: {r}");
    let r = ask(QueryBuilder::new("out.example.test", "A"));
    assert_eq!(lines(&r, "an "), ["an out.example.test. 300 IN CNAME www.elsewhere.example."]);
    assert!(r.starts_with("rcode NOERROR\nflags qr aa"), "{r}");
    let r = ask(QueryBuilder::new("dangling.example.test", "A"));
    assert!(r.starts_with("rcode NXDOMAIN\nflags qr aa"), "RFC 6604: the last name's rcode: {r}");
    assert_eq!(lines(&r, "an ").len(), 1, "{r}");
    let r = ask(QueryBuilder::new("alias.example.test", "CNAME"));
    assert_eq!(lines(&r, "an "), ["an alias.example.test. 300 IN CNAME www.example.test."]);
}

#[test]
fn wildcards_synthesize_at_the_query_name() {
    let r = ask(QueryBuilder::new("X.y.Wild.example.test", "A"));
    assert_eq!(lines(&r, "an "), ["an X.y.Wild.example.test. 300 IN A 192.0.2.30"]);
    let r = ask(QueryBuilder::new("x.wild.example.test", "AAAA"));
    assert!(r.starts_with("rcode NOERROR") && lines(&r, "an ").is_empty(), "wildcard NODATA: {r}");
    // The wildcard does not cover the name that owns it, nor names below an existing name.
    let r = ask(QueryBuilder::new("wild.example.test", "A"));
    assert!(r.starts_with("rcode NOERROR") && lines(&r, "an ").is_empty(), "{r}");
    let r = ask(QueryBuilder::new("x.wcname.wild2.example.test", "A"));
    assert!(r.starts_with("rcode NXDOMAIN"), "closest encloser wcname.wild2 has no wildcard: {r}");
    let r = ask(QueryBuilder::new("other.wild2.example.test", "A"));
    assert_eq!(lines(&r, "an ")[0], "an other.wild2.example.test. 300 IN CNAME www.example.test.");
    assert_eq!(lines(&r, "an ").len(), 3, "{r}");
}

#[test]
fn referrals_have_glue_and_no_aa() {
    let r = ask(QueryBuilder::new("deep.www.sub.example.test", "A"));
    assert_eq!(
        r,
        "rcode NOERROR\nflags qr\nqd deep.www.sub.example.test. A\n\
         ns sub.example.test. 300 IN NS ns.other.test.\n\
         ns sub.example.test. 300 IN NS ns.sub.example.test.\n\
         ar ns.sub.example.test. 300 IN A 192.0.2.54"
    );
    // The delegation point itself, and glue names, get the referral too.
    assert!(
        ask(QueryBuilder::new("sub.example.test", "NS")).starts_with("rcode NOERROR\nflags qr\n")
    );
    assert!(
        ask(QueryBuilder::new("ns.sub.example.test", "A")).starts_with("rcode NOERROR\nflags qr\n")
    );
    // DS belongs to the parent side of the cut.
    let r = ask(QueryBuilder::new("sub.example.test", "DS"));
    assert!(r.starts_with("rcode NOERROR\nflags qr aa\n"), "{r}");
    assert_eq!(lines(&r, "an ").len(), 1, "{r}");
}

#[test]
fn the_most_specific_zone_wins() {
    let r = ask(QueryBuilder::new("host.child.example.test", "A"));
    assert_eq!(lines(&r, "an "), ["an host.child.example.test. 120 IN A 192.0.2.71"]);
    assert!(r.contains("flags qr aa"), "{r}");
    let r = ask(QueryBuilder::new("nope.child.example.test", "A"));
    assert!(r.contains("ns child.example.test. 30 IN SOA"), "child SOA: {r}");
    // DS at the child apex comes from the parent (NODATA there, with the parent's SOA).
    let r = ask(QueryBuilder::new("child.example.test", "DS"));
    assert!(r.contains("ns example.test. 60 IN SOA"), "{r}");
    assert!(r.starts_with("rcode NOERROR\nflags qr aa"), "{r}");
    let r = ask(QueryBuilder::new("www.other.test", "A"));
    assert_eq!(r, "rcode REFUSED\nflags qr\nqd www.other.test. A");
}

#[test]
fn additional_addresses_for_ns_mx_srv_targets() {
    let r = ask(QueryBuilder::new("example.test", "NS"));
    assert_eq!(
        lines(&r, "ar "),
        [
            "ar ns1.example.test. 300 IN A 192.0.2.53",
            "ar ns2.example.test. 300 IN AAAA 2001:db8::53"
        ]
    );
    let r = ask(QueryBuilder::new("example.test", "MX"));
    assert_eq!(lines(&r, "ar "), ["ar mail.example.test. 300 IN A 192.0.2.25"]);
    let r = ask(QueryBuilder::new("_sip._udp.example.test", "SRV"));
    assert_eq!(lines(&r, "ar "), ["ar sipserver.example.test. 300 IN A 192.0.2.60"]);
}

#[test]
fn names_are_compressed_and_the_query_case_is_echoed() {
    let snap = test_snapshot();
    let q = QueryBuilder::new("WwW.ExAmple.TEST", "A");
    let (n, r) = ask_on(&snap, &q, Transport::Udp);
    assert!(r.contains("an WwW.ExAmple.TEST. 300 IN A 192.0.2.1"), "{r}");
    // header 12 + question 22 + 2 answers of (pointer 2 + 10 + 4).
    assert_eq!(n, 12 + 22 + 2 * 16);
    let (n, _) = ask_on(&snap, &QueryBuilder::new("example.test", "MX"), Transport::Udp);
    // MX: owner pointer, fixed 10, pref 2, "mail" + pointer (7); glue: "mail" pointer + 14.
    assert_eq!(n, 12 + 18 + (2 + 10 + 2 + 7) + (2 + 14));
}

#[test]
fn truncation_follows_the_client_limit() {
    let snap = test_snapshot();
    let (n, r) = ask_on(&snap, &QueryBuilder::new("big.example.test", "TXT"), Transport::Udp);
    assert!(r.starts_with("rcode NOERROR\nflags qr aa tc\n"), "{r}");
    assert!(lines(&r, "an ").is_empty());
    assert_eq!(n, 12 + 22);
    let (n, r) =
        ask_on(&snap, &QueryBuilder::new("big.example.test", "TXT").edns(1232), Transport::Udp);
    assert!(r.starts_with("rcode NOERROR\nflags qr aa\n") && lines(&r, "an ").len() == 6, "{r}");
    assert!(n > 512 && n <= usize::from(EDNS_UDP_PAYLOAD));
    // A client limit below 512 means 512.
    let (_, r) =
        ask_on(&snap, &QueryBuilder::new("big.example.test", "TXT").edns(100), Transport::Udp);
    assert!(r.contains("flags qr aa tc"), "{r}");
    let (_, r) = ask_on(&snap, &QueryBuilder::new("big.example.test", "TXT"), Transport::Tcp);
    assert_eq!(lines(&r, "an ").len(), 6, "TCP is not limited: {r}");
}

#[test]
fn edns_is_answered_with_our_payload_size() {
    let mut q = QueryBuilder::new("www.example.test", "A").edns(4096);
    q.edns = Some((4096, 0, true));
    let r = ask(q.clone());
    assert!(r.ends_with("opt udp=1232 version=0 do"), "{r}");
    q.edns = Some((4096, 1, false));
    let r = ask(q);
    assert_eq!(r, "rcode BADVERS\nflags qr\nqd www.example.test. A\nopt udp=1232 version=0");
}

#[test]
fn any_gets_one_rrset() {
    let r = ask(QueryBuilder::new("example.test", "ANY"));
    assert_eq!(lines(&r, "an ").len(), 2, "the NS RRset (type 2), the lowest present: {r}");
    assert!(lines(&r, "an ").iter().all(|l| l.contains(" IN NS ")), "{r}");
}

#[test]
fn snapshot_build_rejects_bad_input() {
    let z =
        zonefile::parse_str("$ORIGIN a.test.\n@ 60 SOA ns h 1 2 3 4 5\n@ 60 NS ns\n", "a", None)
            .expect("ok");
    assert_eq!(
        Snapshot::build(&[z.clone(), z.clone()]).err(),
        Some(SnapshotError::DuplicateZone(z.apex().clone()))
    );
    let mut bad = turnout_model::Zone::new(z.apex().clone());
    bad.insert(
        z.apex().clone(),
        RType::A,
        1,
        turnout_model::Rdata::from_text(RType::A, "192.0.2.1", None).expect("ok"),
    )
    .expect("ok");
    assert!(matches!(Snapshot::build(&[bad]), Err(SnapshotError::InvalidZone { .. })));
    let empty = Snapshot::empty();
    let (_, r) = ask_on(&empty, &QueryBuilder::new("www.example.test", "A"), Transport::Udp);
    assert!(r.starts_with("rcode REFUSED"), "{r}");
}

#[test]
fn health_dependent_rrsets_follow_their_slots_without_a_rebuild() {
    use std::sync::Arc;
    use turnout_model::health::{HealthSlot, Status};
    use turnout_model::{Group, Member, MemberAnswer, Policy, Rdata, records::FailoverRole};

    let mut zone = zonefile::parse_str(
        "$ORIGIN fo.test.\n@ 60 SOA ns h 1 1 1 1 60\n@ 60 NS ns\nns 60 A 192.0.2.53\n\
         www 60 A 192.0.2.10\n@ 60 MX 10 mail\nmail 60 A 192.0.2.25\n",
        "fo.test",
        None,
    )
    .expect("valid");
    let rrset = |ip: &str| RRset {
        ttl: 60,
        rdatas: vec![Rdata::from_text(RType::A, ip, None).expect("valid")],
    };
    let primary = Arc::new(HealthSlot::new(Status::Healthy));
    let secondary = Arc::new(HealthSlot::new(Status::Healthy));
    let www = turnout_testkit::name("www.fo.test.");
    let member = |ip: &str, role, slot: Option<&Arc<HealthSlot>>| Member {
        set_id: ip.to_owned(),
        policy: Policy::Failover(role),
        check: slot.map(|_| "check".to_owned()),
        slot: slot.cloned(),
        answer: MemberAnswer::Records(rrset(ip)),
    };
    assert!(zone.set_group(
        &www,
        RType::A,
        Group {
            members: vec![
                member("192.0.2.10", FailoverRole::Primary, Some(&primary)),
                member("192.0.2.20", FailoverRole::Secondary, Some(&secondary)),
            ],
            collection: None,
            min_healthy: 1,
            trickle_pct: 0,
        },
    ));
    // The mail host fails over to a secondary without a check (always healthy).
    let mail = turnout_testkit::name("mail.fo.test.");
    assert!(zone.set_group(
        &mail,
        RType::A,
        Group {
            members: vec![
                member("192.0.2.25", FailoverRole::Primary, Some(&primary)),
                member("192.0.2.26", FailoverRole::Secondary, None),
            ],
            collection: None,
            min_healthy: 1,
            trickle_pct: 0,
        },
    ));
    let snap = Snapshot::build(&[zone]).expect("builds");
    let www_a = |snap: &Snapshot| {
        lines(&ask_on(snap, &QueryBuilder::new("www.fo.test", "A"), Transport::Udp).1, "an ")
    };
    let mx = |snap: &Snapshot| {
        lines(&ask_on(snap, &QueryBuilder::new("fo.test", "MX"), Transport::Udp).1, "ar ")
    };
    assert_eq!(www_a(&snap), ["an www.fo.test. 60 IN A 192.0.2.10"]);
    assert_eq!(mx(&snap), ["ar mail.fo.test. 60 IN A 192.0.2.25"]);
    primary.set(Status::Unhealthy);
    assert_eq!(www_a(&snap), ["an www.fo.test. 60 IN A 192.0.2.20"], "primary down: secondary");
    assert_eq!(mx(&snap), ["ar mail.fo.test. 60 IN A 192.0.2.26"], "additional data follows");
    secondary.set(Status::Unhealthy);
    assert_eq!(www_a(&snap), ["an www.fo.test. 60 IN A 192.0.2.10"], "both down: the primary");
    primary.set(Status::Healthy);
    assert_eq!(www_a(&snap), ["an www.fo.test. 60 IN A 192.0.2.10"]);
}

#[test]
fn the_records_of_an_answer_come_in_rotating_order() {
    // Route 53 returns a record's values in random order: each record of a multi-record answer
    // comes first equally often.
    let snap = test_snapshot();
    let packet = QueryBuilder::new("www.example.test", "A").build();
    let q = crate::decode(&packet).expect("valid");
    let mut firsts = [0u32; 2];
    for seed in 0..1000 {
        let r = crate::answer(&snap, &q, &mut crate::Context::new(None, seed));
        firsts[usize::from(r.answer[0].first)] += 1;
    }
    assert!(firsts.iter().all(|&n| (400..=600).contains(&n)), "{firsts:?}");
    // Bytes: the rotated answer holds the same records.
    let mut out = vec![0u8; TCP_LIMIT];
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..50 {
        let n = respond(&snap, &packet, Transport::Udp, None, &mut out).expect("a reply");
        seen.insert(out[..n].to_vec());
    }
    assert_eq!(seen.len(), 2, "two orders on the wire");
}

/// A zone from zone-file text.
fn zone(origin: &str, text: &str) -> Zone {
    let origin = Name::parse_absolute(origin).expect("origin");
    zonefile::parse_str(text, "test", Some(&origin)).expect("valid zone")
}

fn part(z: &Zone) -> Arc<ZonePart> {
    Arc::new(ZonePart::build(z, None).expect("compiles"))
}

const SOA: &str =
    "@ 60 IN SOA ns1.a.test. admin.a.test. 1 3600 600 86400 30\n@ 60 IN NS ns1.a.test.\n";

#[test]
fn a_part_is_shared_and_what_crosses_zones_follows_the_other_zone() {
    // a.test's MX names a host served by b.test; b.test changes, a.test's part is reused.
    let a = part(&zone(
        "a.test.",
        &format!("{SOA}@ 60 IN MX 10 mail.b.test.\nns1 60 IN A 192.0.2.1\n"),
    ));
    let b1 = zone("b.test.", &format!("{SOA}mail 60 IN A 192.0.2.25\n"));
    let b2 = zone("b.test.", &format!("{SOA}mail 60 IN A 192.0.2.26\n"));
    let q = QueryBuilder::new("a.test", "MX");
    let first = Snapshot::assemble([Arc::clone(&a), part(&b1)], None).expect("assembles");
    let r = ask_on(&first, &q, Transport::Udp).1;
    assert_eq!(lines(&r, "ar "), ["ar mail.b.test. 60 IN A 192.0.2.25"], "{r}");
    let second = Snapshot::assemble([Arc::clone(&a), part(&b2)], None).expect("assembles");
    let r = ask_on(&second, &q, Transport::Udp).1;
    assert_eq!(lines(&r, "ar "), ["ar mail.b.test. 60 IN A 192.0.2.26"], "{r}");
    assert_eq!(Arc::strong_count(&a), 3, "both snapshots share a.test's part");
    // Without b.test the MX is answered with no additional address.
    let alone = Snapshot::assemble([Arc::clone(&a)], None).expect("assembles");
    let r = ask_on(&alone, &q, Transport::Udp).1;
    assert!(lines(&r, "ar ").is_empty(), "{r}");
    assert_eq!(lines(&r, "an ").len(), 1, "{r}");
}

#[test]
fn a_child_zone_added_later_takes_its_names_and_its_ds_from_the_parent() {
    let parent = part(&zone(
        "a.test.",
        &format!(
            "{SOA}sub 60 IN NS ns.sub.a.test.\nns.sub 60 IN A 192.0.2.7\nns1 60 IN A 192.0.2.1\n"
        ),
    ));
    let only_parent = Snapshot::assemble([Arc::clone(&parent)], None).expect("assembles");
    let r = ask_on(&only_parent, &QueryBuilder::new("www.sub.a.test", "A"), Transport::Udp).1;
    assert!(r.starts_with("rcode NOERROR\nflags qr\n"), "a referral: {r}");
    let child = part(&zone(
        "sub.a.test.",
        "@ 30 IN SOA ns.sub.a.test. admin.a.test. 1 3600 600 86400 30\n@ 30 IN NS ns.sub.a.test.\nns 30 IN A 192.0.2.7\nwww 30 IN A 192.0.2.80\n",
    ));
    let both =
        Snapshot::assemble([Arc::clone(&child), Arc::clone(&parent)], None).expect("assembles");
    let r = ask_on(&both, &QueryBuilder::new("www.sub.a.test", "A"), Transport::Udp).1;
    assert_eq!(lines(&r, "an "), ["an www.sub.a.test. 30 IN A 192.0.2.80"], "{r}");
    // DS at the child's apex is the parent's to answer (RFC 4035 §3.1.4.1): NODATA with its SOA.
    let r = ask_on(&both, &QueryBuilder::new("sub.a.test", "DS"), Transport::Udp).1;
    assert!(r.contains("ns a.test. 30 IN SOA"), "{r}");
    assert!(
        matches!(
            Snapshot::assemble([Arc::clone(&child), child], None),
            Err(SnapshotError::DuplicateZone(_))
        ),
        "the same apex twice is refused"
    );
}

#[test]
fn updates_add_replace_and_remove_zones_and_share_what_they_do_not_touch() {
    let parent = part(&zone(
        "a.test.",
        &format!(
            "{SOA}sub 60 IN NS ns.sub.a.test.\nns.sub 60 IN A 192.0.2.7\nns1 60 IN A 192.0.2.1\n"
        ),
    ));
    let child = part(&zone(
        "sub.a.test.",
        "@ 30 IN SOA ns.sub.a.test. admin.a.test. 1 3600 600 86400 30\n@ 30 IN NS ns.sub.a.test.\nns 30 IN A 192.0.2.7\nwww 30 IN A 192.0.2.80\n",
    ));
    let others: Vec<Arc<ZonePart>> = (0..50)
        .map(|i| part(&zone(&format!("o{i}.test."), &format!("{SOA}www 60 IN A 192.0.2.{i}\n"))))
        .collect();
    let first = Snapshot::assemble(others.iter().cloned().chain([Arc::clone(&parent)]), None)
        .expect("assembles");
    let a =
        |snap: &Snapshot, name: &str| ask_on(snap, &QueryBuilder::new(name, "A"), Transport::Udp).1;
    assert!(a(&first, "www.sub.a.test").starts_with("rcode NOERROR\nflags qr\n"), "a referral");

    // A child zone appears: its names are its own; the parent's below it are hidden.
    let sub = Name::parse_absolute("sub.a.test.").unwrap();
    let second = first.update([(sub.clone(), Some(Arc::clone(&child)))]).expect("updates");
    assert_eq!(
        lines(&a(&second, "www.sub.a.test"), "an "),
        ["an www.sub.a.test. 30 IN A 192.0.2.80"]
    );
    assert_eq!(lines(&a(&second, "ns.sub.a.test"), "an "), ["an ns.sub.a.test. 30 IN A 192.0.2.7"]);
    assert_eq!(second.zones().len(), 52);
    // The other zones' parts are shared, and most index shards too.
    let o7 = Name::parse_absolute("o7.test.").unwrap();
    assert!(Arc::ptr_eq(first.part_of(&o7).unwrap(), second.part_of(&o7).unwrap()));
    let shared = first.shards.iter().zip(second.shards.iter()).filter(|(x, y)| Arc::ptr_eq(x, y));
    assert!(shared.count() > SHARDS - 16, "a small change copies only the shards it writes");

    // One zone replaced: the new records are served, the old ones are gone.
    let o7b = part(&zone("o7.test.", &format!("{SOA}api 60 IN A 192.0.2.77\n")));
    let third = second.update([(o7.clone(), Some(o7b))]).expect("updates");
    assert!(a(&third, "www.o7.test").starts_with("rcode NXDOMAIN"), "{}", a(&third, "www.o7.test"));
    assert_eq!(lines(&a(&third, "api.o7.test"), "an "), ["an api.o7.test. 60 IN A 192.0.2.77"]);
    assert_eq!(
        lines(&a(&second, "www.o7.test"), "an "),
        ["an www.o7.test. 60 IN A 192.0.2.7"],
        "the old snapshot is untouched"
    );

    // The child goes away: the parent answers for its names again (a referral); o7 leaves too,
    // and a new zone takes its place.
    let n1 = Name::parse_absolute("n1.test.").unwrap();
    let n1p = part(&zone("n1.test.", &format!("{SOA}www 60 IN A 192.0.2.201\n")));
    let fourth = third.update([(sub, None), (o7, None), (n1, Some(n1p))]).expect("updates");
    assert!(
        a(&fourth, "www.sub.a.test").starts_with("rcode NOERROR\nflags qr\n"),
        "a referral again"
    );
    assert!(a(&fourth, "api.o7.test").starts_with("rcode REFUSED"), "o7 is no longer served");
    assert_eq!(lines(&a(&fourth, "www.n1.test"), "an "), ["an www.n1.test. 60 IN A 192.0.2.201"]);
    assert_eq!(fourth.zones().len(), 51);
    assert_eq!(fourth.parts.len(), 52, "the new zone filled the hole the removed one left");
}

/// A random zone at `apex` over a small pool of names (some of them inside the other apexes,
/// so zones shadow and delegate to each other), single-record RRsets (answers do not rotate):
/// wildcards at and below the apex, delegations with glue below the cut and sibling glue under
/// another delegation, a DS at a delegation.
fn random_zone(rng: &mut fastrand::Rng, apex: &str) -> Zone {
    let mut text = format!(
        "{apex} 60 IN SOA ns1.{apex} admin.{apex} {} 3600 600 86400 30\n{apex} 60 IN NS ns1.{apex}\n",
        rng.u32(1..1000)
    );
    for label in ["www", "ns1", "mail", "x.y", "*", "b", "www.b", "c", "www.c", "*.c"] {
        if rng.bool() {
            let addr = rng.u8(1..250);
            text.push_str(&format!("{label}.{apex} 60 IN A 192.0.2.{addr}\n"));
        }
    }
    if rng.bool() {
        text.push_str(&format!(
            "{apex} 60 IN MX 10 mail.{}\n",
            ["t.", "a.t.", "b.a.t.", "c.t."][rng.usize(0..4)]
        ));
    }
    if rng.bool() && apex != "b.a.t." {
        let child = if apex == "a.t." { "b.a.t." } else { "a.t." };
        if child.ends_with(apex) {
            text.push_str(&format!("{child} 60 IN NS ns.{child}\nns.{child} 60 IN A 192.0.2.99\n"));
        }
    }
    if rng.bool() {
        // d is delegated to a server under e, itself delegated: sibling glue.
        text.push_str(&format!(
            "d.{apex} 60 IN NS ns.e.{apex}\ne.{apex} 60 IN NS ns.e.{apex}\n\
             ns.e.{apex} 60 IN A 192.0.2.{}\n",
            rng.u8(1..250)
        ));
        if rng.bool() {
            text.push_str(&format!("e.{apex} 60 IN DS 12345 8 2 {}\n", "ab".repeat(32)));
        }
    }
    zone(apex, &text)
}

/// `z` compiled as a home part and chunks split at `bounds` (the first one empty).
fn chunked(z: &Zone, bounds: &Arc<[Box<[u8]>]>) -> ZoneParts {
    let apex = z.apex();
    let apex_len = apex.as_wire().len();
    let mut home = Vec::new();
    let mut pieces: Vec<Vec<(Name, RType, RRset)>> = vec![Vec::new(); bounds.len()];
    for (name, rtype, set) in z.rrsets() {
        let entry = (name.clone(), rtype, set.clone());
        match first_label_below(name.as_wire(), apex_len) {
            None => home.push(entry),
            Some(label) => pieces[chunk_index(bounds, label)].push(entry),
        }
    }
    let home = Zone::from_rrsets(apex.clone(), home).expect("a home");
    let chunks = pieces
        .into_iter()
        .map(|p| {
            let piece = Zone::from_rrsets(apex.clone(), p).expect("a chunk");
            Arc::new(ZonePart::build_chunk(&piece, None).expect("compiles"))
        })
        .collect();
    ZoneParts { home: part(&home), chunks, bounds: Arc::clone(bounds) }
}

/// Random chunk bounds over the labels the random zones use.
fn random_bounds(rng: &mut fastrand::Rng) -> Arc<[Box<[u8]>]> {
    let mut bounds: Vec<Box<[u8]>> = vec![Box::from(&b""[..])];
    for label in ["*", "b", "c", "d", "e", "mail", "ns", "ns1", "www", "x", "y", "z"] {
        if rng.bool() {
            bounds.push(Box::from(label.as_bytes()));
        }
    }
    bounds.sort();
    Arc::from(bounds)
}

#[test]
fn any_sequence_of_updates_answers_as_a_snapshot_built_from_scratch() {
    let apexes = ["t.", "a.t.", "b.a.t.", "c.t."];
    let mut queries = Vec::new();
    for apex in apexes {
        for label in [
            "", "www.", "ns1.", "mail.", "x.y.", "y.", "nope.", "www.b.", "b.", "c.", "www.c.",
            "zz.c.", "d.", "www.d.", "e.", "ns.e.", "x.e.",
        ] {
            for qtype in ["A", "NS", "MX", "DS"] {
                queries.push((format!("{label}{apex}"), qtype));
            }
        }
    }
    for seed in 0..60 {
        let mut rng = fastrand::Rng::with_seed(seed);
        // The zones, each compiled whole (for the snapshot built from scratch) and as the
        // updated snapshot serves it: whole, or in chunks.
        let mut served: BTreeMap<Name, (Zone, Arc<ZonePart>, ZoneParts)> = BTreeMap::new();
        let mut snap = Snapshot::empty();
        for step in 0..12 {
            let mut changes = Vec::new();
            for apex in apexes {
                let name = Name::parse_absolute(apex).unwrap();
                match rng.u8(0..4) {
                    0 => {
                        served.remove(&name);
                        changes.push((name, None));
                    }
                    1 => {
                        let z = random_zone(&mut rng, apex);
                        let whole = part(&z);
                        // Whole, in new chunks, or in chunks at the bounds it had.
                        let parts = match (rng.u8(0..3), served.get(&name)) {
                            (0, _) => ZoneParts::whole(Arc::clone(&whole)),
                            (1, Some((_, _, old))) if !old.chunks.is_empty() => {
                                chunked(&z, &old.bounds)
                            }
                            _ => chunked(&z, &random_bounds(&mut rng)),
                        };
                        served.insert(name.clone(), (z, whole, parts.clone()));
                        changes.push((name, Some(parts)));
                    }
                    2 => {
                        // The same zone, its home compiled again and its chunks shared
                        // (what a change at the apex does).
                        if let Some((z, _, old)) = served.get(&name) {
                            let parts = if old.chunks.is_empty() {
                                ZoneParts::whole(part(z))
                            } else {
                                ZoneParts { home: chunked(z, &old.bounds).home, ..old.clone() }
                            };
                            served.get_mut(&name).unwrap().2 = parts.clone();
                            changes.push((name, Some(parts)));
                        }
                    }
                    _ => {}
                }
            }
            snap = snap.update_zones(changes).expect("updates");
            let wholes = served.values().map(|(_, w, _)| Arc::clone(w));
            let scratch = Snapshot::assemble(wholes, None).expect("assembles");
            for (name, qtype) in &queries {
                let q = QueryBuilder::new(name, qtype);
                assert_eq!(
                    ask_on(&snap, &q, Transport::Udp).1,
                    ask_on(&scratch, &q, Transport::Udp).1,
                    "seed {seed}, step {step}: {name} {qtype}"
                );
            }
            for (apex, (_, _, parts)) in &served {
                let (_, serial, count) = scratch.zones().iter().find(|z| z.0 == *apex).unwrap();
                let got = snap.zones().iter().find(|z| z.0 == *apex).unwrap();
                assert_eq!((got.1, got.2), (*serial, *count), "seed {seed}: {apex}");
                assert!(snap.parts_of(apex).unwrap().same(parts));
                assert!(snap.serves(apex, parts));
            }
        }
    }
}
