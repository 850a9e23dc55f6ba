//! Policy groups under any health and any client: a zone with every routing policy
//! (failover, weighted, multivalue, latency, geoproximity, geolocation, IP-based), alias trees
//! with and without evaluate-target-health, and a latency map for locating clients. The input
//! sets every health slot, the source address, the question and an EDNS Client Subnet option
//! (any family, prefixes and address bytes, valid or not), then the query runs through the
//! whole path. What must hold: no panic; the reply decodes with hickory-proto (an independent
//! implementation), echoes the ID and the question, fits the transport's limit; every address
//! answered is one the zone holds; an ECS scope never exceeds the 128 bits an address has.
#![no_main]

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

use hickory_proto::op::{Message, MessageType};
use hickory_proto::rr::RData;
use libfuzzer_sys::fuzz_target;
use turnout_dns::encode::{TCP_LIMIT, Transport};
use turnout_dns::{Snapshot, respond};
use turnout_model::cidr::{CidrCollection, CidrCollectionSpec};
use turnout_model::compile::compile_zone;
use turnout_model::health::{HealthSlot, Status};
use turnout_model::{Name, RecordSetSpec, ZoneRecords};

const RECORDS: &[&str] = &[
    r#"{"name":"@","type":"SOA","ttl":900,"values":["ns1 hostmaster 1 7200 900 1209600 86400"]}"#,
    r#"{"name":"@","type":"NS","ttl":172800,"values":["ns1"]}"#,
    r#"{"name":"ns1","type":"A","ttl":3600,"values":["192.0.2.53"]}"#,
    r#"{"name":"fo","type":"A","ttl":60,"set_id":"p","failover":"primary","health_check":"c0","values":["192.0.2.1"]}"#,
    r#"{"name":"fo","type":"A","ttl":60,"set_id":"s","failover":"secondary","health_check":"c1","values":["192.0.2.2"]}"#,
    r#"{"name":"w","type":"A","ttl":60,"set_id":"a","weight":3,"health_check":"c2","values":["192.0.2.3"]}"#,
    r#"{"name":"w","type":"A","ttl":60,"set_id":"b","weight":0,"health_check":"c3","values":["192.0.2.4"]}"#,
    r#"{"name":"w","type":"A","ttl":60,"set_id":"c","weight":1,"values":["192.0.2.5","192.0.2.6"]}"#,
    r#"{"name":"m","type":"A","ttl":30,"set_id":"m1","multivalue":true,"health_check":"c4","values":["192.0.2.7"]}"#,
    r#"{"name":"m","type":"A","ttl":40,"set_id":"m2","multivalue":true,"health_check":"c5","values":["192.0.2.8"]}"#,
    r#"{"name":"m","type":"A","ttl":50,"set_id":"m3","multivalue":true,"values":["192.0.2.9"]}"#,
    r#"{"name":"l","type":"A","ttl":60,"set_id":"us","region":"us-east","health_check":"c6","values":["192.0.2.10"]}"#,
    r#"{"name":"l","type":"A","ttl":60,"set_id":"eu","region":"eu-west","health_check":"c7","values":["192.0.2.11"]}"#,
    r#"{"name":"gp","type":"A","ttl":60,"set_id":"a","geoproximity":{"latitude":38.9,"longitude":-77.0,"bias":40},"health_check":"c8","values":["192.0.2.12"]}"#,
    r#"{"name":"gp","type":"A","ttl":60,"set_id":"b","geoproximity":{"region":"eu-west","bias":-20},"values":["192.0.2.13"]}"#,
    r#"{"name":"g","type":"A","ttl":60,"set_id":"us","geo":{"country":"US"},"health_check":"c9","values":["192.0.2.14"]}"#,
    r#"{"name":"g","type":"A","ttl":60,"set_id":"eu","geo":{"continent":"EU"},"values":["192.0.2.15"]}"#,
    r#"{"name":"g","type":"A","ttl":60,"set_id":"any","geo":{"country":"*"},"health_check":"c10","values":["192.0.2.16"]}"#,
    r#"{"name":"i","type":"A","ttl":60,"set_id":"paris","cidr":{"collection":"offices","location":"paris"},"health_check":"c11","values":["192.0.2.17"]}"#,
    r#"{"name":"i","type":"A","ttl":60,"set_id":"lab","cidr":{"collection":"offices","location":"lab"},"values":["192.0.2.18"]}"#,
    r#"{"name":"i","type":"A","ttl":60,"set_id":"rest","cidr":{"collection":"offices","location":"*"},"health_check":"c12","values":["192.0.2.19"]}"#,
    r#"{"name":"i6","type":"AAAA","ttl":60,"set_id":"paris","cidr":{"collection":"offices","location":"paris"},"values":["2001:db8::17"]}"#,
    r#"{"name":"i6","type":"AAAA","ttl":60,"set_id":"rest","cidr":{"collection":"offices","location":"*"},"health_check":"c13","values":["2001:db8::19"]}"#,
    r#"{"name":"app","type":"A","set_id":"fo","weight":1,"alias":{"target":"fo","evaluate_target_health":true}}"#,
    r#"{"name":"app","type":"A","set_id":"w","weight":1,"alias":{"target":"w","evaluate_target_health":true}}"#,
    r#"{"name":"app","type":"A","set_id":"m","weight":0,"alias":{"target":"m","evaluate_target_health":false}}"#,
    r#"{"name":"top","type":"A","set_id":"p","failover":"primary","health_check":"c14","alias":{"target":"app","evaluate_target_health":true}}"#,
    r#"{"name":"top","type":"A","set_id":"s","failover":"secondary","alias":{"target":"i","evaluate_target_health":true}}"#,
    r#"{"name":"@","type":"A","alias":{"target":"top","evaluate_target_health":true}}"#,
    r#"{"name":"c","type":"CNAME","ttl":60,"values":["top.pol.test."]}"#,
];

const OFFICES: &str = r#"{"name":"offices","locations":{"paris":["192.0.2.0/24","2001:db8::/48"],"lab":["198.51.100.0/24","10.0.0.0/8"]}}"#;

const LATENCY: &str = r#"{
  "regions": {
    "us-east": {"latitude": 38.9, "longitude": -77.0},
    "eu-west": {"latitude": 53.3, "longitude": -6.3}
  },
  "networks": [
    {"network": "192.0.2.0/24", "rtt_ms": {"us-east": 12, "eu-west": 80}},
    {"network": "2001:db8::/32", "rtt_ms": {"eu-west": 9}}
  ]
}"#;

/// Names asked, and types.
const NAMES: &[&str] =
    &["pol.test.", "fo", "w", "m", "l", "gp", "g", "i", "i6", "app", "top", "c", "nx", "ns1"];
const TYPES: &[u16] = &[1, 28, 5, 255, 2, 6, 16];

struct Setup {
    snap: Snapshot,
    slots: Vec<Arc<HealthSlot>>,
    addresses: BTreeSet<IpAddr>,
}

fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let apex = Name::parse_absolute("pol.test.").expect("apex");
        let mut records = ZoneRecords::new(apex.clone());
        let mut addresses = BTreeSet::new();
        for json in RECORDS {
            let spec: RecordSetSpec = serde_json::from_str(json).expect("record JSON");
            for value in spec.values.iter().flatten() {
                if let Ok(ip) = value.parse::<IpAddr>() {
                    addresses.insert(ip);
                }
            }
            let set = spec.validate(&apex).expect("valid record set");
            records.sets.insert(set);
        }
        let offices: CidrCollectionSpec = serde_json::from_str(OFFICES).expect("collection");
        let offices: Arc<CidrCollection> = Arc::new(offices.validate().expect("valid collection"));
        let slots: std::cell::RefCell<HashMap<String, Arc<HealthSlot>>> = Default::default();
        let zone = compile_zone(
            &records,
            &|name| slots.borrow_mut().entry(name.to_owned()).or_default().clone(),
            &|name| (name == "offices").then(|| offices.clone()),
        )
        .expect("the zone compiles");
        let locator = turnout_dns::locate::Locator {
            geo: None,
            latency: Some(turnout_dns::locate::LatencyMap::from_json(LATENCY).expect("map")),
        };
        let snap = Snapshot::build([&zone]).expect("builds").with_locator(Arc::new(locator));
        let mut slots: Vec<(String, Arc<HealthSlot>)> = slots.into_inner().into_iter().collect();
        slots.sort_by(|a, b| a.0.cmp(&b.0));
        Setup { snap, slots: slots.into_iter().map(|(_, s)| s).collect(), addresses }
    })
}

/// A query for `name` (relative to the zone unless absolute) and `qtype`, with an OPT record
/// carrying `ecs` as the Client Subnet option's data, if given.
fn query(id: u16, name: &str, qtype: u16, ecs: Option<&[u8]>) -> Vec<u8> {
    let mut q = id.to_be_bytes().to_vec();
    q.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, u8::from(ecs.is_some())]);
    let full = if name.ends_with('.') { name.to_owned() } else { format!("{name}.pol.test.") };
    for label in full.trim_end_matches('.').split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&[0, 1]);
    if let Some(ecs) = ecs {
        let option_len = ecs.len().min(64) as u16;
        q.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0]);
        q.extend_from_slice(&(option_len + 4).to_be_bytes());
        q.extend_from_slice(&8u16.to_be_bytes());
        q.extend_from_slice(&option_len.to_be_bytes());
        q.extend_from_slice(&ecs[..usize::from(option_len)]);
    }
    q
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 8 {
        return;
    }
    let s = setup();
    // Bytes 0-1: every health slot (one bit each).
    let health = u16::from_be_bytes([data[0], data[1]]);
    for (i, slot) in s.slots.iter().enumerate() {
        let healthy = health & (1 << (i % 16)) != 0;
        slot.set(if healthy { Status::Healthy } else { Status::Unhealthy });
    }
    // Byte 2: the name; byte 3: the type and whether there is an ECS option; bytes 4-7: the
    // source address (v4); the rest: the ECS option's data as sent.
    let name = NAMES[usize::from(data[2]) % NAMES.len()];
    let qtype = TYPES[usize::from(data[3] & 0x0f) % TYPES.len()];
    let client = IpAddr::from([data[4], data[5], data[6], data[7]]);
    let ecs = (data[3] & 0x80 != 0).then(|| &data[8..]);
    let packet = query(u16::from_be_bytes([data[4], data[1]]), name, qtype, ecs);
    let mut out = vec![0u8; TCP_LIMIT];
    for transport in [Transport::Udp, Transport::Tcp] {
        let n = respond(&s.snap, &packet, transport, Some(client), &mut out).expect("a reply");
        let reply = &out[..n];
        assert!(n >= 12, "reply of {n} bytes");
        assert_eq!(reply[..2], packet[..2], "the ID is echoed");
        let m = Message::from_vec(reply).expect("Turnout's reply decodes");
        assert_eq!(m.metadata.message_type, MessageType::Response);
        for record in &m.answers {
            let ip = match &record.data {
                RData::A(a) => IpAddr::V4(a.0),
                RData::AAAA(a) => IpAddr::V6(a.0),
                _ => continue,
            };
            assert!(s.addresses.contains(&ip), "{ip} answered for {name} is not in the zone");
        }
    }
});
