//! The answer algorithm (RFC 1034 §4.3.2, RFC 2308, RFC 4592, RFC 6604, RFC 8482) as a pure
//! function of a snapshot and a query.
//!
//! [`answer`] takes no lock, does no I/O and allocates only when a response holds more RRsets
//! than the inline capacity of its sections. It returns a [`Response`] plan made of references
//! into the snapshot; [`crate::encode()`] turns the plan into bytes. RRsets chosen by a routing
//! policy are resolved through [`crate::policy`], with the query's [`Context`].

use smallvec::SmallVec;

use crate::policy::{Context, NoTrace, Picks, Trace};
use crate::snapshot::{ELSEWHERE, Extra, NONE, NodeId, Snapshot, WireRRset};
use crate::wire::query::Query;
use turnout_model::RType;

use crate::wire::{CLASS_IN, Rcode};

/// How many CNAMEs a chain may have before the server stops following it.
pub const MAX_CNAME_CHAIN: usize = 16;

/// The owner name of an RRset in a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner<'s> {
    /// The query name, written as a pointer to the question (echoing the client's case).
    Query,
    /// A name from the snapshot, lowercase wire format.
    Name(&'s [u8]),
}

/// One RRset placed in a section.
#[derive(Debug, Clone, Copy)]
pub struct Item<'s> {
    /// Its owner name.
    pub owner: Owner<'s>,
    /// The zone (part) the RRset is in.
    pub(crate) part: u32,
    pub(crate) rrset: &'s WireRRset,
    /// The record written first; the others follow in a cycle (answers rotate, below).
    pub(crate) first: u16,
    /// Data at or below a zone cut (a referral's NS, glue): not authoritative, never signed
    /// (RFC 4035 §2.2).
    pub(crate) delegation: bool,
}

impl Item<'_> {
    /// The RRset's type.
    pub fn rtype(&self) -> RType {
        self.rrset.rtype
    }
}

/// What the response to a query holds, before encoding.
#[derive(Debug)]
pub struct Response<'s> {
    /// The snapshot the items point into.
    pub(crate) snap: &'s Snapshot,
    /// The response code.
    pub rcode: Rcode,
    /// Authoritative answer.
    pub aa: bool,
    /// The answer section (a multivalue answer is up to 8 items of one owner and type).
    pub answer: SmallVec<[Item<'s>; 8]>,
    /// The authority section.
    pub authority: SmallVec<[Item<'s>; 2]>,
    /// The additional section (without OPT, which the encoder adds).
    pub additional: SmallVec<[Item<'s>; 4]>,
    /// How many leading items of `additional` must fit, else the response is truncated.
    pub required_additional: usize,
    /// The EDNS Client Subnet scope prefix: how much of the client's address the answer
    /// depended on (0: none).
    pub ecs_scope: u8,
    /// DNSSEC: the query has the DO bit, so RRsets of signed zones get their RRSIGs.
    pub(crate) dnssec: bool,
    /// DNSSEC: what the authority section proves does not exist (compact denial, RFC 9824).
    pub(crate) denial: Option<Denial<'s>>,
    /// The Unix time signatures are made at (0: the clock's, read when one is made).
    pub now: u32,
}

/// A denial of existence: an NSEC made for the name (RFC 9824), with its RRSIG.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Denial<'s> {
    /// The NSEC's owner.
    pub(crate) owner: Owner<'s>,
    /// The part the name is in (its home part has the signer).
    pub(crate) part: u32,
    pub(crate) kind: DenialKind,
}

/// What an NSEC denies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DenialKind {
    /// The name: it does not exist, its NSEC lists RRSIG, NSEC and NXNAME only.
    Name,
    /// Data: the name exists (the node) without the type asked; its NSEC lists the node's
    /// types.
    Data(NodeId),
    /// A DS: a delegation without one; its NSEC lists NS (RFC 4035 §3.1.4.1).
    Ds,
}

impl<'s> Response<'s> {
    fn new(snap: &'s Snapshot, rcode: Rcode, aa: bool) -> Self {
        Response {
            snap,
            rcode,
            aa,
            answer: SmallVec::new(),
            authority: SmallVec::new(),
            additional: SmallVec::new(),
            required_additional: 0,
            ecs_scope: 0,
            dnssec: false,
            denial: None,
            now: 0,
        }
    }

    /// Whether zone (part) `zone` is signed and the query asked for DNSSEC records.
    fn signs(&self, zone: u32) -> bool {
        // As the encoder decides (`signer_of`): a signer without zone-signing keys signs
        // nothing, so nothing may be answered as if it did (a compact denial unproven).
        self.dnssec && self.snap.part(self.snap.home_of(zone)).signer().is_some_and(|s| s.signs())
    }

    /// Denies `kind` at `owner` with an NSEC, when the zone is signed and DNSSEC was asked.
    fn deny(&mut self, owner: Owner<'s>, zone: u32, kind: DenialKind) {
        if self.signs(zone) {
            self.denial = Some(Denial { owner, part: zone, kind });
        }
    }

    /// Adds the A and AAAA RRsets of `nodes` of a zone to the additional section, as this
    /// query's policies choose them.
    fn add_addresses(
        &mut self,
        zone: u32,
        nodes: &'s [NodeId],
        required: bool,
        ctx: &mut Context,
        trace: &mut impl Trace,
    ) {
        for &id in nodes {
            self.add_node_addresses(zone, id, required, ctx, trace);
        }
    }

    fn add_node_addresses(
        &mut self,
        zone: u32,
        id: NodeId,
        required: bool,
        ctx: &mut Context,
        trace: &mut impl Trace,
    ) {
        let part = self.snap.part(zone);
        for t in [RType::A, RType::AAAA] {
            if let Some(set) = part.rrset_at(id, t) {
                let mut picks = Picks::new();
                part.select(set, ctx, trace, &mut picks);
                let delegation = part.node(id).cut.is_some();
                for rrset in picks {
                    self.additional.push(Item {
                        owner: Owner::Name(part.name(id)),
                        part: zone,
                        rrset,
                        first: 0,
                        delegation,
                    });
                }
                if required {
                    self.required_additional = self.additional.len();
                }
            }
        }
    }

    /// Adds the addresses of names named by an NS, MX or SRV RRset of a zone, from the zone
    /// that serves them authoritatively (or, for a referral, sibling glue in the same zone).
    fn add_extras(
        &mut self,
        zone: u32,
        extras: &'s [Extra],
        ctx: &mut Context,
        trace: &mut impl Trace,
    ) {
        let snap = self.snap;
        let part = snap.part(zone);
        for e in extras {
            let name = part.extra_name(e);
            let found = snap.authoritative(name).or_else(|| match e.sibling {
                NONE => None,
                // Sibling glue in another chunk of this zone.
                ELSEWHERE => snap.find_in_zone(zone, name),
                id => Some((zone, id)),
            });
            if let Some((z, id)) = found {
                self.add_node_addresses(z, id, false, ctx, trace);
            }
        }
    }

    /// NS RRsets are never chosen by a policy (validation refuses it). With DNSSEC, the DS
    /// RRset of the delegation, or the proof that it has none (RFC 4035 §3.1.4).
    fn referral(&mut self, zone: u32, cut: NodeId, ctx: &mut Context, trace: &mut impl Trace) {
        let part = self.snap.part(zone);
        if let Some(ns) = part.rrset_at(cut, RType::NS) {
            let owner = Owner::Name(part.name(cut));
            self.authority.push(Item { owner, part: zone, rrset: ns, first: 0, delegation: true });
            if self.signs(zone) {
                match part.rrset_at(cut, RType::DS) {
                    Some(ds) => self.authority.push(Item {
                        owner,
                        part: zone,
                        rrset: ds,
                        first: 0,
                        delegation: false,
                    }),
                    None => self.deny(owner, zone, DenialKind::Ds),
                }
            }
            self.add_addresses(zone, part.targets(ns.glue_required), true, ctx, trace);
            self.add_extras(zone, part.extras(ns.extra), ctx, trace);
        }
    }

    /// The SOA of part `zone`'s zone, from its home part.
    fn negative(&mut self, zone: u32) {
        let zone = self.snap.home_of(zone);
        let part = self.snap.part(zone);
        self.authority.push(Item {
            owner: Owner::Name(part.name(part.apex())),
            part: zone,
            rrset: part.negative_soa(),
            first: 0,
            delegation: false,
        });
    }
}

/// Answers a well-formed query from the snapshot.
pub fn answer<'s>(snap: &'s Snapshot, q: &Query<'_>, ctx: &mut Context) -> Response<'s> {
    answer_traced(snap, q, ctx, &mut NoTrace)
}

/// [`answer`], reporting every policy decision to `trace` (for explanations).
pub fn answer_traced<'s>(
    snap: &'s Snapshot,
    q: &Query<'_>,
    ctx: &mut Context,
    trace: &mut impl Trace,
) -> Response<'s> {
    let mut resp = answer_inner(snap, q, ctx, trace);
    resp.ecs_scope = ctx.scope();
    resp
}

fn answer_inner<'s>(
    snap: &'s Snapshot,
    q: &Query<'_>,
    ctx: &mut Context,
    trace: &mut impl Trace,
) -> Response<'s> {
    if q.qclass != CLASS_IN {
        return Response::new(snap, Rcode::REFUSED, false);
    }
    match q.qtype {
        // Zone transfers come with a later issue.
        RType::AXFR | RType::IXFR => return Response::new(snap, Rcode::REFUSED, false),
        // NXNAME, the compact-denial sentinel, is never asked for (RFC 9824 §3.5).
        RType(128) => return Response::new(snap, Rcode::FORMERR, false),
        RType(t) if (128..=255).contains(&t) && t != RType::ANY.0 => {
            return Response::new(snap, Rcode::NOTIMP, false);
        }
        _ => {}
    }
    let mut resp = Response::new(snap, Rcode::NOERROR, true);
    resp.dnssec = q.edns.is_some_and(|e| e.dnssec_ok);
    let mut name: &[u8] = q.qname.as_wire();
    let mut owner = Owner::Query;
    let mut visited: SmallVec<[(u32, NodeId); 4]> = SmallVec::new();
    loop {
        let Some((zone, ce, exact)) = snap.closest_encloser(name) else {
            if visited.is_empty() {
                // Not a name we serve.
                resp.aa = false;
                resp.rcode = Rcode::REFUSED;
            }
            // Else a CNAME led out of our zones: the chain so far is the answer.
            return resp;
        };
        if visited.is_empty() {
            trace.zone(snap, zone);
        }
        let part = snap.part(zone);
        if part.is_unavailable() {
            // A secondary zone not loaded yet, or expired: no answer from it (RFC 1035 §4.3.5).
            // A CNAME chain that led here stops with what it has.
            if visited.is_empty() {
                resp.aa = false;
                resp.rcode = Rcode::SERVFAIL;
            }
            return resp;
        }
        if let Some(cut) = part.node(ce).cut {
            // Below a delegation, except a DS query at the delegation point itself, which the
            // parent answers (RFC 4035 §3.1.4.1).
            if !(exact && cut == ce && q.qtype == RType::DS) {
                if visited.is_empty() {
                    resp.aa = false;
                }
                resp.referral(zone, cut, ctx, trace);
                return resp;
            }
        }
        let (zone, node_id) = if exact {
            (zone, ce)
        } else if let Some(w) = snap.wildcard(zone, ce) {
            w
        } else if resp.signs(zone) {
            // Compact denial (RFC 9824 §3.2): the name is said to exist with no data, and its
            // NSEC says it does not (NXNAME).
            resp.negative(zone);
            resp.deny(owner, zone, DenialKind::Name);
            return resp;
        } else {
            resp.rcode = Rcode::NXDOMAIN;
            resp.negative(zone);
            return resp;
        };
        // A DS query at the apex of a zone that a served parent delegates: the parent's side.
        let (zone, node_id) = if q.qtype == RType::DS && node_id == snap.part(zone).apex() {
            snap.parent_side(zone).unwrap_or((zone, node_id))
        } else {
            (zone, node_id)
        };
        let part = snap.part(zone);
        if q.qtype != RType::CNAME
            && let Some(set) = part.rrset_at(node_id, RType::CNAME)
        {
            // A CNAME group chooses one record (multivalue CNAMEs are refused).
            let mut picks = Picks::new();
            part.select(set, ctx, trace, &mut picks);
            let Some(&cname) = picks.first() else { return resp };
            if visited.contains(&(zone, node_id)) || visited.len() >= MAX_CNAME_CHAIN {
                return resp; // a loop, or too long: stop with what we have
            }
            resp.answer.push(Item { owner, part: zone, rrset: cname, first: 0, delegation: false });
            visited.push((zone, node_id));
            let Some(target) = part.cname_target(cname) else {
                return resp;
            };
            name = target;
            owner = Owner::Name(target);
            continue;
        }
        if q.qtype == RType::ANY {
            // RFC 8482 §4.1: a minimal reply, one RRset of those present (the lowest type),
            // without additional-section processing.
            let mut picks = Picks::new();
            if let Some(set) = part.rrsets(node_id).first() {
                part.select(set, ctx, trace, &mut picks);
            }
            if picks.is_empty() {
                resp.negative(zone);
                resp.deny(owner, zone, DenialKind::Data(node_id));
            }
            for rrset in picks {
                resp.answer.push(Item {
                    owner,
                    part: zone,
                    rrset,
                    first: part.rotation(rrset, ctx),
                    delegation: false,
                });
            }
            return resp;
        }
        let mut picks = Picks::new();
        if let Some(set) = part.rrset_at(node_id, q.qtype) {
            part.select(set, ctx, trace, &mut picks);
        }
        if picks.is_empty() {
            resp.negative(zone);
            resp.deny(owner, zone, DenialKind::Data(node_id));
        }
        for rrset in picks {
            let first = part.rotation(rrset, ctx);
            resp.answer.push(Item { owner, part: zone, rrset, first, delegation: false });
            resp.add_extras(zone, part.extras(rrset.extra), ctx, trace);
        }
        return resp;
    }
}
