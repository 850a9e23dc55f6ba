//! The answer algorithm (RFC 1034 §4.3.2, RFC 2308, RFC 4592, RFC 6604, RFC 8482) as a pure
//! function of a snapshot and a query.
//!
//! [`answer`] takes no lock, does no I/O and allocates only when a response holds more RRsets
//! than the inline capacity of its sections. It returns a [`Response`] plan made of references
//! into the snapshot; [`crate::encode()`] turns the plan into bytes.

use smallvec::SmallVec;

use crate::snapshot::{NodeId, Snapshot, WireRRset};
use crate::wire::query::Query;
use crate::wire::{CLASS_IN, Rcode, rtype};

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
    pub(crate) rrset: &'s WireRRset,
}

impl Item<'_> {
    /// The RRset's type.
    pub fn rtype(&self) -> u16 {
        self.rrset.rtype
    }
    /// How many records it holds.
    pub fn len(&self) -> usize {
        self.rrset.records.len()
    }
    /// Whether it holds no records (never true for served data).
    pub fn is_empty(&self) -> bool {
        self.rrset.records.is_empty()
    }
}

/// What the response to a query holds, before encoding.
#[derive(Debug)]
pub struct Response<'s> {
    /// The response code.
    pub rcode: Rcode,
    /// Authoritative answer.
    pub aa: bool,
    /// The answer section.
    pub answer: SmallVec<[Item<'s>; 4]>,
    /// The authority section.
    pub authority: SmallVec<[Item<'s>; 2]>,
    /// The additional section (without OPT, which the encoder adds).
    pub additional: SmallVec<[Item<'s>; 4]>,
    /// How many leading items of `additional` must fit, else the response is truncated.
    pub required_additional: usize,
}

impl<'s> Response<'s> {
    fn new(rcode: Rcode, aa: bool) -> Self {
        Response {
            rcode,
            aa,
            answer: SmallVec::new(),
            authority: SmallVec::new(),
            additional: SmallVec::new(),
            required_additional: 0,
        }
    }

    /// Adds the A and AAAA RRsets of `nodes` to the additional section.
    fn add_addresses(&mut self, snap: &'s Snapshot, nodes: &[NodeId], required: bool) {
        for &id in nodes {
            let node = snap.node(id);
            for t in [rtype::A, rtype::AAAA] {
                if let Some(set) = node.rrset(t) {
                    self.additional.push(Item { owner: Owner::Name(&node.name), rrset: set });
                    if required {
                        self.required_additional = self.additional.len();
                    }
                }
            }
        }
    }

    fn referral(&mut self, snap: &'s Snapshot, cut: NodeId) {
        let node = snap.node(cut);
        if let Some(ns) = node.rrset(rtype::NS) {
            self.authority.push(Item { owner: Owner::Name(&node.name), rrset: ns });
            self.add_addresses(snap, &ns.glue_required, true);
            self.add_addresses(snap, &ns.extra, false);
        }
    }

    fn negative(&mut self, snap: &'s Snapshot, zone: u32) {
        let z = &snap.zones[zone as usize];
        self.authority
            .push(Item { owner: Owner::Name(&snap.node(z.apex).name), rrset: &z.negative_soa });
    }
}

/// Answers a well-formed query from the snapshot.
pub fn answer<'s>(snap: &'s Snapshot, q: &Query<'_>) -> Response<'s> {
    if q.qclass != CLASS_IN {
        return Response::new(Rcode::REFUSED, false);
    }
    match q.qtype {
        // Zone transfers come with a later issue.
        rtype::AXFR | rtype::IXFR => return Response::new(Rcode::REFUSED, false),
        t if (128..=255).contains(&t) && t != rtype::ANY => {
            return Response::new(Rcode::NOTIMP, false);
        }
        _ => {}
    }
    let mut resp = Response::new(Rcode::NOERROR, true);
    let mut name: &[u8] = q.qname.as_wire();
    let mut owner = Owner::Query;
    let mut visited: SmallVec<[NodeId; 4]> = SmallVec::new();
    loop {
        let Some((ce, exact)) = snap.closest_encloser(name) else {
            if visited.is_empty() {
                // Not a name we serve.
                resp.aa = false;
                resp.rcode = Rcode::REFUSED;
            }
            // Else a CNAME led out of our zones: the chain so far is the answer.
            return resp;
        };
        let ce_node = snap.node(ce);
        if let Some(cut) = ce_node.cut {
            // Below a delegation, except a DS query at the delegation point itself, which the
            // parent answers (RFC 4035 §3.1.4.1).
            if !(exact && cut == ce && q.qtype == rtype::DS) {
                if visited.is_empty() {
                    resp.aa = false;
                }
                resp.referral(snap, cut);
                return resp;
            }
        }
        let node_id = if exact {
            ce
        } else if let Some(w) = snap.wildcard(ce) {
            w
        } else {
            resp.rcode = Rcode::NXDOMAIN;
            resp.negative(snap, ce_node.zone);
            return resp;
        };
        let mut node = snap.node(node_id);
        if q.qtype == rtype::DS
            && let Some(parent) = node.parent_side
        {
            node = snap.node(parent);
        }
        if q.qtype != rtype::CNAME
            && let Some(cname) = node.rrset(rtype::CNAME)
        {
            if visited.contains(&node_id) || visited.len() >= MAX_CNAME_CHAIN {
                return resp; // a loop, or too long: stop with what we have
            }
            resp.answer.push(Item { owner, rrset: cname });
            visited.push(node_id);
            let Some(target) = cname.target.as_deref() else {
                return resp;
            };
            name = target;
            owner = Owner::Name(target);
            continue;
        }
        if q.qtype == rtype::ANY {
            // RFC 8482 §4.1: a minimal reply, one RRset of those present (the lowest type),
            // without additional-section processing.
            match node.rrsets.first() {
                Some(set) => resp.answer.push(Item { owner, rrset: set }),
                None => resp.negative(snap, node.zone),
            }
            return resp;
        }
        match node.rrset(q.qtype) {
            Some(set) => {
                resp.answer.push(Item { owner, rrset: set });
                resp.add_addresses(snap, &set.extra, false);
            }
            None => resp.negative(snap, node.zone),
        }
        return resp;
    }
}
