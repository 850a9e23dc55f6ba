//! Why a query gets its answer: the query path run with a recording [`Trace`], and what it
//! recorded, in words.
//!
//! [`explain`] answers exactly as the server would for the same client and random draw (it
//! calls the same [`answer_traced`]), so an explanation never disagrees with the answer it
//! explains.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use turnout_model::{Name, Policy, RType, Rdata};

use crate::answer::{Owner, answer_traced};
use crate::policy::{Context, Rule, Trace};
use crate::snapshot::{NONE, Snapshot, ZonePart};
use crate::wire::query::decode;

/// One candidate record of a group, as selection saw it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Candidate {
    /// Its set identifier.
    pub set_id: String,
    /// Its policy parameter: `primary`, `weight 10`, `region us-east-1`...
    pub policy: String,
    /// Its health check.
    pub health_check: Option<String>,
    /// Whether it counted as healthy (its check, and its alias target under
    /// evaluate-target-health).
    pub healthy: bool,
    /// Why it is unhealthy: `its health check is unhealthy`, or `no record of its target is
    /// healthy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unhealthy_because: Option<String>,
    /// For an alias: its target, and whether it evaluates the target's health.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<AliasView>,
    /// Whether it was chosen.
    pub chosen: bool,
    /// It has a health check but is answered whatever the check says (`always_serve`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub always_serve: bool,
}

/// An alias candidate's target.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AliasView {
    /// The target's owner.
    pub target: String,
    /// Evaluate-target-health.
    pub evaluate_target_health: bool,
}

/// One policy group's decision.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Decision {
    /// How deep in an alias tree (0: the queried RRset, or an additional-section one).
    pub depth: usize,
    /// The group's owner.
    pub name: String,
    /// Its type.
    #[serde(rename = "type")]
    pub rtype: String,
    /// Its routing policy.
    pub policy: String,
    /// Every record of the group, in the policy's order.
    pub candidates: Vec<Candidate>,
    /// The rule that decided, in words.
    pub rule: String,
    /// Whether no record was healthy and all were counted as healthy.
    pub last_resort: bool,
}

/// The answer to a query and how it was chosen.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Explanation {
    /// The query name.
    pub name: String,
    /// The query type.
    #[serde(rename = "type")]
    pub rtype: String,
    /// The client the answer was chosen for.
    pub client: Option<IpAddr>,
    /// `NOERROR`, `NXDOMAIN`, `REFUSED`...
    pub rcode: String,
    /// The answer section, one record per line in presentation format.
    pub answer: Vec<String>,
    /// The additional section, likewise.
    pub additional: Vec<String>,
    /// Every policy decision, in the order they were taken.
    pub decisions: Vec<Decision>,
    /// The EDNS Client Subnet scope the answer would carry (0: it does not depend on the
    /// client's location).
    pub ecs_scope: u8,
}

/// Records what selection does.
#[derive(Default)]
struct Recorder {
    /// The decisions being recorded (innermost last), each with its group's first member.
    stack: Vec<(usize, u32)>,
    decisions: Vec<Decision>,
}

impl Trace for Recorder {
    fn enter(&mut self, part: &ZonePart, group: u32) {
        let g = &part.groups[group as usize];
        let owner = Name::from_wire(part.name(g.owner)).map(|n| n.to_string());
        let first = g.members.start;
        let count = g.members.of(&part.members).len() as u32;
        let candidates = (first..first + count)
            .map(|i| {
                let info = &part.member_info[i as usize];
                let m = &part.members[i as usize];
                let alias = m.alias.then(|| AliasView {
                    target: target_name(part, m.rrset),
                    evaluate_target_health: m.eth,
                });
                Candidate {
                    set_id: info.set_id.to_string(),
                    policy: describe(&info.policy),
                    health_check: info.check.as_deref().map(str::to_owned),
                    healthy: true,
                    unhealthy_because: None,
                    alias,
                    chosen: false,
                    always_serve: info.check.is_some() && m.slot == crate::snapshot::NONE,
                }
            })
            .collect();
        let rtype = part
            .rrsets(g.owner)
            .iter()
            .find(|s| s.group == group)
            .map(|s| s.rtype.to_string())
            .unwrap_or_default();
        self.stack.push((self.decisions.len(), first));
        self.decisions.push(Decision {
            depth: self.stack.len() - 1,
            name: owner.unwrap_or_default(),
            rtype,
            policy: g.kind.as_str().to_owned(),
            candidates,
            rule: String::new(),
            last_resort: false,
        });
    }

    fn health(&mut self, part: &ZonePart, member: u32, healthy: bool) {
        let m = part.members[member as usize];
        let check_ok = m.slot == NONE || part.slots[m.slot as usize].healthy();
        let Some(&(at, first)) = self.stack.last() else { return };
        if let Some(c) = self.decisions[at].candidates.get_mut((member - first) as usize) {
            c.healthy = healthy;
            c.unhealthy_because = (!healthy).then(|| {
                if !check_ok {
                    return "its health check is unhealthy".to_owned();
                }
                let target = part.rrset_by_index(m.rrset);
                match part.groups.get(target.group as usize).map(|g| g.min_healthy) {
                    Some(n) if n > 1 => {
                        format!("fewer than {n} records of its target are healthy (min_healthy)")
                    }
                    _ => "no record of its target is healthy".to_owned(),
                }
            });
        }
    }

    fn decided(&mut self, _part: &ZonePart, rule: Rule, members: &[u32]) {
        let Some(&(at, first)) = self.stack.last() else { return };
        let d = &mut self.decisions[at];
        d.rule = rule.describe().to_owned();
        d.last_resort = rule == Rule::LastResort;
        for m in members {
            if let Some(c) = d.candidates.get_mut((m - first) as usize) {
                c.chosen = true;
            }
        }
    }

    fn leave(&mut self) {
        self.stack.pop();
    }
}

/// The owner of an alias's target RRset, as text.
fn target_name(part: &ZonePart, rrset: u32) -> String {
    part.owner_of(rrset)
        .and_then(|id| Name::from_wire(part.name(id)).ok())
        .map(|n| n.to_string())
        .unwrap_or_default()
}

/// A policy parameter in words.
fn describe(policy: &Policy) -> String {
    match policy {
        Policy::Simple => "simple".to_owned(),
        Policy::Failover(role) => role.as_str().to_owned(),
        Policy::Weighted(w) => format!("weight {w}"),
        Policy::Latency(region) => format!("region {region}"),
        Policy::Geolocation(g) => format!("location {g}"),
        Policy::Geoproximity(g) => format!("{g:?}"),
        Policy::Cidr { collection, location } => format!("cidr {collection}/{location}"),
        Policy::Multivalue => "multivalue".to_owned(),
    }
}

/// Answers `name`/`rtype` for `ctx`'s client and records why.
pub fn explain(snap: &Snapshot, name: &Name, rtype: RType, ctx: &mut Context) -> Explanation {
    let mut packet = vec![0u8, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    packet.extend_from_slice(name.as_wire());
    packet.extend_from_slice(&rtype.0.to_be_bytes());
    packet.extend_from_slice(&crate::wire::CLASS_IN.to_be_bytes());
    let mut out = Explanation {
        name: name.to_string(),
        rtype: rtype.to_string(),
        client: ctx.client,
        rcode: String::new(),
        answer: Vec::new(),
        additional: Vec::new(),
        decisions: Vec::new(),
        ecs_scope: 0,
    };
    let Ok(q) = decode(&packet) else {
        out.rcode = "FORMERR".to_owned();
        return out;
    };
    let mut rec = Recorder::default();
    let resp = answer_traced(snap, &q, ctx, &mut rec);
    out.rcode = resp.rcode.name().to_owned();
    out.ecs_scope = resp.ecs_scope;
    let owner_text = |o: Owner<'_>| match o {
        Owner::Query => name.to_string(),
        Owner::Name(w) => Name::from_wire(w).map(|n| n.to_string()).unwrap_or_default(),
    };
    for (items, lines) in
        [(&resp.answer[..], &mut out.answer), (&resp.additional[..], &mut out.additional)]
    {
        for item in items {
            let owner = owner_text(item.owner);
            let part = snap.part(item.part);
            for r in part.records(item.rrset) {
                let (bytes, _) = part.record(r);
                let ttl = u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
                let t = item.rtype();
                let text = Rdata::from_wire(t, &bytes[10..])
                    .map(|d| d.display(t).to_string())
                    .unwrap_or_else(|e| format!("<{e}>"));
                lines.push(format!("{owner} {ttl} IN {t} {text}"));
            }
        }
    }
    out.decisions = rec.decisions;
    out
}
