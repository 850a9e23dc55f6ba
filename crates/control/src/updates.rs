//! RFC 2136 dynamic updates (docs/dynamic-updates.md): TSIG-signed UPDATE messages allowed
//! per key by zone, owner-name pattern and type, their prerequisites checked and their updates
//! applied as one change batch through the same validation and write path as the API, with
//! the key's name in the audit trail. A record set with a routing policy is never changed this
//! way.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::net::SocketAddr;

use turnout_dns::Rcode;
use turnout_dns::wire::message::{Message, Record};
use turnout_model::change::{ChangeBatchSpec, ChangeSpec};
use turnout_model::records::SUPPORTED_TYPES;
use turnout_model::{
    Name, Policy, RType, Rdata, RecordData, RecordKey, RecordSet, RecordSetSpec, RecordSets,
};
use turnout_store::Op;

use crate::audit::{Actor, acting_as};
use crate::node::Control;
use crate::state::State;
use crate::tsig_keys::parse_key_name;
use crate::types::{UpdateAllow, ZoneMeta, ZoneUpdates};
use crate::write::{Lane, Plan};
use crate::zones::{parse_zone_name, record_ops};
use crate::{ControlError, invalid, keys, to_json};

/// The most rules a zone may have, and names and types per rule.
pub const MAX_UPDATE_RULES: usize = 64;

const CLASS_IN: u16 = 1;
const CLASS_NONE: u16 = 254;
const CLASS_ANY: u16 = 255;

/// One rule, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    key: Name,
    /// Zone-relative label patterns, leftmost first; a last `*` matches any further labels.
    names: Vec<Vec<String>>,
    /// None: any type.
    types: Option<Vec<RType>>,
}

/// Reads a name pattern: `@` (the apex), `*` (any name), `www`, `_acme-challenge.*`.
fn parse_pattern(text: &str, field: &str) -> Result<Vec<String>, ControlError> {
    let t = text.trim().trim_end_matches('.').to_ascii_lowercase();
    if t == "@" {
        return Ok(Vec::new());
    }
    let labels: Vec<String> = t.split('.').map(str::to_owned).collect();
    // Host-name characters and `_` (service labels such as _acme-challenge); `*` alone, last.
    let bad = labels.iter().enumerate().any(|(i, l)| {
        let plain = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
        l.is_empty()
            || l.len() > 63
            || (l == "*" && i + 1 != labels.len())
            || (l != "*" && !l.chars().all(plain))
    });
    if t.is_empty() || t.len() > 253 || bad {
        return Err(invalid(
            field,
            format!("{text:?} is not a name pattern like @, www, _acme-challenge.* or *"),
        ));
    }
    Ok(labels)
}

fn check(u: &ZoneUpdates) -> Result<Vec<Rule>, ControlError> {
    if u.allow.len() > MAX_UPDATE_RULES {
        return Err(invalid("allow", format!("at most {MAX_UPDATE_RULES} rules")));
    }
    let mut rules = Vec::with_capacity(u.allow.len());
    for (i, a) in u.allow.iter().enumerate() {
        let key = parse_key_name(&a.key, &format!("allow[{i}].key"))?;
        if a.names.is_empty() || a.names.len() > MAX_UPDATE_RULES {
            return Err(invalid(
                &format!("allow[{i}].names"),
                format!("give 1 to {MAX_UPDATE_RULES} name patterns (* for any name)"),
            ));
        }
        let names = a
            .names
            .iter()
            .enumerate()
            .map(|(j, n)| parse_pattern(n, &format!("allow[{i}].names[{j}]")))
            .collect::<Result<_, _>>()?;
        if a.types.len() > MAX_UPDATE_RULES {
            return Err(invalid(
                &format!("allow[{i}].types"),
                format!("{} types; at most {MAX_UPDATE_RULES}", a.types.len()),
            ));
        }
        let mut types = Vec::new();
        let mut any = a.types.is_empty();
        for (j, t) in a.types.iter().enumerate() {
            let t = t.trim();
            if t == "*" || t.eq_ignore_ascii_case("ANY") {
                any = true;
                continue;
            }
            // The types a record set may hold (docs/api.md), SOA excepted: Turnout keeps it.
            let rtype = RType::from_mnemonic(&t.to_ascii_uppercase())
                .filter(|r| SUPPORTED_TYPES.contains(r) && *r != RType::SOA)
                .ok_or_else(|| {
                    invalid(
                        &format!("allow[{i}].types[{j}]"),
                        format!("{t:?} is not a record type that updates may change"),
                    )
                })?;
            if !types.contains(&rtype) {
                types.push(rtype);
            }
        }
        rules.push(Rule { key, names, types: (!any).then_some(types) });
    }
    Ok(rules)
}

/// The settings as stored: key names absolute, patterns and types as parsed.
fn normalized(u: &ZoneUpdates, rules: &[Rule]) -> ZoneUpdates {
    ZoneUpdates {
        allow: rules
            .iter()
            .zip(&u.allow)
            .map(|(r, a)| UpdateAllow {
                key: r.key.to_string(),
                names: r
                    .names
                    .iter()
                    .map(|p| if p.is_empty() { "@".into() } else { p.join(".") })
                    .collect(),
                types: match &r.types {
                    None if !a.types.is_empty() => vec!["*".into()],
                    None => Vec::new(),
                    Some(t) => t.iter().map(ToString::to_string).collect(),
                },
            })
            .collect(),
    }
}

/// Update rules as the node would store them, or the first field that is wrong: what
/// `turnout apply` compares with the node's.
pub fn normalize_updates(u: &ZoneUpdates) -> Result<ZoneUpdates, ControlError> {
    check(u).map(|rules| normalized(u, &rules))
}

/// The labels of `name` below `apex`, leftmost first (empty: the apex).
fn relative_labels(name: &Name, apex: &Name) -> Vec<String> {
    let rel = name.to_relative_string(apex);
    if rel == "@" {
        Vec::new()
    } else {
        rel.to_ascii_lowercase().split('.').map(str::to_owned).collect()
    }
}

fn pattern_matches(pattern: &[String], labels: &[String]) -> bool {
    match pattern.split_last() {
        Some((last, head)) if last == "*" => {
            labels.len() >= head.len() && head.iter().zip(labels).all(|(p, l)| p == l)
        }
        _ => pattern == labels,
    }
}

impl Rule {
    fn allows(&self, apex: &Name, name: &Name, rtype: RType) -> bool {
        let labels = relative_labels(name, apex);
        self.names.iter().any(|p| pattern_matches(p, &labels))
            && self.types.as_ref().is_none_or(|t| t.contains(&rtype))
    }
}

/// Why an update is answered with something other than NOERROR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refused {
    /// The RCODE (RFC 2136 §2.2).
    pub rcode: Rcode,
    /// What the Extended DNS Error says.
    pub why: String,
}

fn refuse(rcode: Rcode, why: impl Into<String>) -> Refused {
    Refused { rcode, why: why.into() }
}

/// Whether a record set's answer depends on the query (a routing policy group member).
fn is_policy(set: &RecordSet) -> bool {
    set.policy != Policy::Simple
        || set.set_id.is_some()
        || set.health_check.is_some()
        || matches!(set.data, RecordData::Alias { .. })
}

/// One RRset as an update works on it: TTL and records.
type Working = BTreeMap<(Name, RType), (u32, Vec<Rdata>)>;

impl Control {
    /// A zone's update rules (none: no key may update it).
    pub fn zone_updates(&self, zone: &str) -> Result<ZoneUpdates, ControlError> {
        let apex = parse_zone_name(zone, "zone")?;
        let st = self.read();
        let entry = st.zones.get(&apex).ok_or(ControlError::NoSuchZone(apex))?;
        Ok(entry.meta.updates.clone().unwrap_or_default())
    }

    /// Replaces a zone's update rules; every key named must exist. Returns them as stored.
    pub async fn set_zone_updates(
        &self,
        zone: &str,
        updates: &ZoneUpdates,
    ) -> Result<ZoneUpdates, ControlError> {
        let apex = parse_zone_name(zone, "zone")?;
        if self.options().static_zones.contains(&apex) {
            return Err(ControlError::ZoneFromFile(apex));
        }
        let rules = check(updates)?;
        let stored = normalized(updates, &rules);
        self.write(Lane::Config, |st, reads| {
            reads.object(keys::zone(&apex));
            let entry =
                st.zones.get(&apex).ok_or_else(|| ControlError::NoSuchZone(apex.clone()))?;
            for (i, rule) in rules.iter().enumerate() {
                reads.object(keys::tsig_key(&rule.key));
                if !st.tsig_keys.contains_key(&rule.key) {
                    return Err(invalid(
                        &format!("allow[{i}].key"),
                        format!("no TSIG key {}", rule.key),
                    ));
                }
            }
            let empty = stored.allow.is_empty();
            let meta = ZoneMeta { updates: (!empty).then(|| stored.clone()), ..entry.meta.clone() };
            Ok(Plan::Write { ops: vec![Op::put(keys::zone(&apex), to_json(&meta))], value: () })
        })
        .await?;
        Ok(stored)
    }

    /// Applies an UPDATE message (RFC 2136 §3) signed with `key` (verified; None: unsigned)
    /// from `client`. Returns the change it made, if any, or why it was refused.
    pub(crate) async fn update(
        &self,
        msg: &Message,
        key: Option<&Name>,
        client: SocketAddr,
    ) -> Result<Option<String>, Refused> {
        // §3.1: one zone, type SOA.
        let [zone] = msg.questions.as_slice() else {
            return Err(refuse(Rcode::FORMERR, "an update names exactly one zone"));
        };
        if zone.qtype != RType::SOA || zone.qclass != CLASS_IN {
            return Err(refuse(
                Rcode::FORMERR,
                "the zone section must be the zone's SOA, class IN",
            ));
        }
        let apex = zone.name.clone();
        if self.options().static_zones.contains(&apex) {
            return Err(refuse(Rcode::NOTAUTH, "zones from zone files are not updated"));
        }
        let Some(key) = key else {
            return Err(refuse(Rcode::REFUSED, "updates must be signed with a TSIG key"));
        };
        let rules: Vec<Rule> = {
            let st = self.read();
            let Some(entry) = st.zones.get(&apex) else {
                return Err(refuse(Rcode::NOTAUTH, "no such zone here"));
            };
            let all = entry.meta.updates.as_ref().and_then(|u| check(u).ok()).unwrap_or_default();
            all.into_iter().filter(|r| &r.key == key).collect()
        };
        if rules.is_empty() {
            return Err(refuse(Rcode::REFUSED, format!("the key {key} may not update {apex}")));
        }
        let comment = format!("RFC 2136 update signed with {key}");
        let actor = Actor {
            token: format!("tsig:{key}"),
            source: Some(client.ip().to_string()),
            request: format!("DNS UPDATE {apex}"),
        };
        let written = acting_as(actor, async {
            self.write(Lane::Config, |st, reads| {
                reads.zone(&apex);
                // RFC 2136 §3: prerequisites, then permissions and the update section.
                if let Err(r) = prerequisites(st, &apex, &msg.answers) {
                    return Ok(Plan::Nothing(Err(r)));
                }
                let updates = match prescan(msg, &apex, &rules) {
                    Ok(u) => u,
                    Err(r) => return Ok(Plan::Nothing(Err(r))),
                };
                let batch = match batch_of(st, &apex, &updates, &comment) {
                    Ok(Some(b)) => b,
                    Ok(None) => return Ok(Plan::Nothing(Ok(None))),
                    Err(r) => return Ok(Plan::Nothing(Err(r))),
                };
                match record_ops(st, reads, &batch, Some(&apex), "update") {
                    Ok((record, ops)) => Ok(Plan::Write { ops, value: Ok(Some(record.id)) }),
                    Err(ControlError::InvalidChangeBatch(errors)) => {
                        let why: Vec<String> = errors.iter().map(ToString::to_string).collect();
                        Ok(Plan::Nothing(Err(refuse(Rcode::REFUSED, why.join("; ")))))
                    }
                    Err(e) => Err(e),
                }
            })
            .await
        })
        .await;
        match written {
            Ok(w) => w.value,
            Err(ControlError::NoSuchZone(_)) => Err(refuse(Rcode::NOTAUTH, "no such zone here")),
            // RFC 2136 §6: a secondary may refuse rather than forward; its primary takes updates.
            Err(e @ ControlError::ZoneIsSecondary(_)) => Err(refuse(Rcode::REFUSED, e.to_string())),
            Err(e) => Err(refuse(Rcode::SERVFAIL, e.to_string())),
        }
    }
}

/// One update, checked (RFC 2136 §3.4.1).
#[derive(Debug, Clone)]
struct Update {
    name: Name,
    rtype: RType,
    class: u16,
    ttl: u32,
    rdata: Option<Rdata>,
}

/// §3.4.1: every update is for the zone, well-formed, and allowed to this key.
fn prescan(msg: &Message, apex: &Name, rules: &[Rule]) -> Result<Vec<Update>, Refused> {
    let mut out = Vec::with_capacity(msg.authority.len());
    for r in &msg.authority {
        if !r.name.is_subdomain_of(apex) {
            return Err(refuse(Rcode::NOTZONE, format!("{} is outside the zone {apex}", r.name)));
        }
        let meta = matches!(r.rtype.0, 0 | 41 | 249..=255) && r.rtype != RType::ANY;
        let rdata =
            match r.class {
                CLASS_IN if meta || r.rtype == RType::ANY => {
                    return Err(refuse(Rcode::FORMERR, format!("{} cannot be added", r.rtype)));
                }
                CLASS_IN | CLASS_NONE => {
                    if r.class == CLASS_NONE && (r.ttl != 0 || meta || r.rtype == RType::ANY) {
                        return Err(refuse(
                            Rcode::FORMERR,
                            "a deletion of one record has TTL 0 and a type",
                        ));
                    }
                    Some(Rdata::from_wire(r.rtype, &r.rdata).map_err(|e| {
                        refuse(Rcode::FORMERR, format!("{} {}: {e}", r.name, r.rtype))
                    })?)
                }
                CLASS_ANY => {
                    if r.ttl != 0 || !r.rdata.is_empty() || meta {
                        return Err(refuse(
                            Rcode::FORMERR,
                            "a deletion of an RRset has TTL 0 and no data",
                        ));
                    }
                    None
                }
                other => return Err(refuse(Rcode::FORMERR, format!("class {other} in an update"))),
            };
        if r.rtype == RType::SOA {
            // Turnout keeps the serial: an SOA added or deleted is ignored, as RFC 2136
            // §3.4.2.2 and §3.4.2.3 ignore the ones a server will not take.
            continue;
        }
        let allowed = rules.iter().any(|rule| {
            if r.rtype == RType::ANY {
                rule.allows(apex, &r.name, r.rtype) && rule.types.is_none()
            } else {
                rule.allows(apex, &r.name, r.rtype)
            }
        });
        if !allowed {
            return Err(refuse(
                Rcode::REFUSED,
                format!("the key may not update {} {}", r.name, r.rtype),
            ));
        }
        out.push(Update {
            name: r.name.clone(),
            rtype: r.rtype,
            class: r.class,
            ttl: r.ttl,
            rdata,
        });
    }
    Ok(out)
}

fn values(set: &RecordSet) -> (u32, Vec<Rdata>) {
    match &set.data {
        RecordData::Values { ttl, rdatas } => (*ttl, rdatas.clone()),
        RecordData::Alias { .. } => (0, Vec::new()),
    }
}

/// The record sets at `name` from type `from` on, in key order.
fn at_name<'a>(
    sets: &'a RecordSets,
    name: &'a Name,
    from: RType,
) -> impl Iterator<Item = Cow<'a, RecordSet>> {
    let key = RecordKey { name: name.clone(), rtype: from, set_id: String::new() };
    sets.from_key(&key).take_while(move |s| s.name == *name)
}

/// §3.2: every prerequisite holds, or the RCODE that says which does not.
fn prerequisites(st: &State, apex: &Name, prereqs: &[Record]) -> Result<(), Refused> {
    let empty = Default::default();
    let sets = st.records.get(apex).map_or(&empty, |z| &z.sets);
    // Value-dependent prerequisites are compared RRset by RRset (§3.2.3).
    let mut wanted: BTreeMap<(Name, RType), Vec<Rdata>> = BTreeMap::new();
    for p in prereqs {
        if p.ttl != 0 {
            return Err(refuse(Rcode::FORMERR, "a prerequisite has TTL 0"));
        }
        if !p.name.is_subdomain_of(apex) {
            return Err(refuse(Rcode::NOTZONE, format!("{} is outside the zone {apex}", p.name)));
        }
        let exists = |rtype: RType| {
            at_name(sets, &p.name, RType(0)).any(|s| rtype == RType::ANY || s.rtype == rtype)
        };
        match (p.class, p.rtype) {
            (CLASS_ANY, t) if p.rdata.is_empty() => {
                if !exists(t) {
                    let rcode = if t == RType::ANY { Rcode::NXDOMAIN } else { Rcode::NXRRSET };
                    return Err(refuse(rcode, format!("{} {t} does not exist", p.name)));
                }
            }
            (CLASS_NONE, t) if p.rdata.is_empty() => {
                if exists(t) {
                    let rcode = if t == RType::ANY { Rcode::YXDOMAIN } else { Rcode::YXRRSET };
                    return Err(refuse(rcode, format!("{} {t} exists", p.name)));
                }
            }
            (CLASS_IN, t) if t != RType::ANY => {
                let rdata = Rdata::from_wire(t, &p.rdata)
                    .map_err(|e| refuse(Rcode::FORMERR, format!("{} {t}: {e}", p.name)))?;
                wanted.entry((p.name.clone(), t)).or_default().push(rdata);
            }
            _ => return Err(refuse(Rcode::FORMERR, "a malformed prerequisite")),
        }
    }
    for ((name, rtype), mut want) in wanted {
        let mut have: Vec<Rdata> = at_name(sets, &name, rtype)
            .filter(|s| s.rtype == rtype && !is_policy(s))
            .flat_map(|s| values(&s).1)
            .collect();
        let key = |r: &Rdata| r.as_wire().to_vec();
        want.sort_by_key(key);
        want.dedup();
        have.sort_by_key(key);
        if want != have {
            return Err(refuse(
                Rcode::NXRRSET,
                format!("{name} {rtype} is not as the prerequisite says"),
            ));
        }
    }
    Ok(())
}

/// §3.4.2: the updates applied in order to the RRsets they touch, as a change batch (None:
/// nothing changes).
fn batch_of(
    st: &State,
    apex: &Name,
    updates: &[Update],
    comment: &str,
) -> Result<Option<ChangeBatchSpec>, Refused> {
    let empty = Default::default();
    let sets = st.records.get(apex).map_or(&empty, |z| &z.sets);
    let mut working: Working = BTreeMap::new();
    let policy_refusal = |s: &RecordSet| {
        refuse(
            Rcode::REFUSED,
            format!("{} {} has a routing policy; change it through the API", s.name, s.rtype),
        )
    };
    let load = |working: &mut Working, name: &Name, rtype: RType| -> Result<(), Refused> {
        if working.contains_key(&(name.clone(), rtype)) {
            return Ok(());
        }
        let mut found = None;
        for s in at_name(sets, name, rtype).take_while(|s| s.rtype == rtype) {
            if is_policy(&s) {
                return Err(policy_refusal(&s));
            }
            found = Some(values(&s));
        }
        working.insert((name.clone(), rtype), found.unwrap_or((0, Vec::new())));
        Ok(())
    };
    for u in updates {
        // §3.4.2.3, .4: the apex SOA and NS are not removed wholesale.
        let apex_kept = |t: RType| u.name == *apex && matches!(t, RType::SOA | RType::NS);
        match (u.class, u.rtype) {
            (CLASS_ANY, RType::ANY) => {
                let types: Vec<RType> = at_name(sets, &u.name, RType(0)).map(|s| s.rtype).collect();
                for t in types.into_iter().filter(|t| !apex_kept(*t)) {
                    load(&mut working, &u.name, t)?;
                    if let Some(e) = working.get_mut(&(u.name.clone(), t)) {
                        e.1.clear();
                    }
                }
            }
            (CLASS_ANY, t) => {
                if apex_kept(t) {
                    continue;
                }
                load(&mut working, &u.name, t)?;
                if let Some(e) = working.get_mut(&(u.name.clone(), t)) {
                    e.1.clear();
                }
            }
            (CLASS_NONE, t) => {
                load(&mut working, &u.name, t)?;
                let Some(rdata) = &u.rdata else { continue };
                if let Some(e) = working.get_mut(&(u.name.clone(), t)) {
                    // The last apex NS stays (§3.4.2.4).
                    if apex_kept(t) && e.1.len() == 1 {
                        continue;
                    }
                    e.1.retain(|r| r != rdata);
                }
            }
            (_, t) => {
                load(&mut working, &u.name, t)?;
                let Some(rdata) = &u.rdata else { continue };
                if let Some(e) = working.get_mut(&(u.name.clone(), t)) {
                    e.0 = u.ttl;
                    if !e.1.contains(rdata) {
                        e.1.push(rdata.clone());
                    }
                }
            }
        }
    }
    let mut changes = Vec::new();
    for ((name, rtype), (ttl, rdatas)) in working {
        let before = at_name(sets, &name, rtype)
            .find(|s| s.rtype == rtype)
            .map(|s| values(&s))
            .unwrap_or((0, Vec::new()));
        if before == (ttl, rdatas.clone()) || (before.1.is_empty() && rdatas.is_empty()) {
            continue;
        }
        let spec = |ttl: u32, rdatas: &[Rdata]| RecordSetSpec {
            name: name.to_string(),
            rtype: rtype.to_string(),
            ttl: Some(i64::from(ttl)),
            values: Some(rdatas.iter().map(|r| r.display(rtype).to_string()).collect()),
            ..RecordSetSpec::default()
        };
        changes.push(if rdatas.is_empty() {
            ChangeSpec {
                action: "DELETE".into(),
                zone: None,
                record_set: spec(before.0, &before.1),
            }
        } else {
            ChangeSpec { action: "UPSERT".into(), zone: None, record_set: spec(ttl, &rdatas) }
        });
    }
    if changes.is_empty() {
        return Ok(None);
    }
    Ok(Some(ChangeBatchSpec { comment: Some(comment.to_owned()), changes }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_labels_below_the_apex() {
        let apex = Name::parse_absolute("example.test.").expect("apex");
        let rule = Rule {
            key: Name::parse_absolute("k.").expect("key"),
            names: vec![parse_pattern("_acme-challenge.*", "n").expect("pattern")],
            types: Some(vec![RType::TXT]),
        };
        let n = |t: &str| Name::parse_absolute(t).expect("name");
        assert!(rule.allows(&apex, &n("_acme-challenge.example.test."), RType::TXT));
        assert!(rule.allows(&apex, &n("_acme-challenge.www.example.test."), RType::TXT));
        assert!(!rule.allows(&apex, &n("_acme-challenge.www.example.test."), RType::A));
        assert!(!rule.allows(&apex, &n("www.example.test."), RType::TXT));
        assert!(parse_pattern("a.*.b", "n").is_err());
        assert!(parse_pattern("a b", "n").is_err());
        assert!(parse_pattern("@.x", "n").is_err());
        assert!(parse_pattern("@", "n").expect("apex").is_empty());
    }
}
