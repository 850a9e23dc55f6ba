//! Routing policies on the query path: which records of a policy group answer this query
//! (docs/routing-policies.md), with health and alias trees as Route 53 evaluates them.
//!
//! For a group, the members are tried in the policy's order; the first healthy one answers.
//! A member is healthy when its check is (no check: always), and, for an alias with
//! evaluate-target-health, when at least one member of the target group is (recursively).
//! When no member is healthy, every member counts as healthy and the policy picks again: the
//! *last resort*, which never turns health into an empty answer. An alias answers with its
//! target's answer, chosen the same way, so an alias without evaluate-target-health applies
//! the last resort inside its branch.
//!
//! | policy | order |
//! |---|---|
//! | failover | primary, then secondary; last resort: the primary |
//! | weighted | random by weight among healthy members of nonzero weight, else among healthy members of weight 0 (equally), else the last resort by weight |
//! | multivalue | every healthy member, up to 8 (a random 8 when more); none healthy: up to 8 of all |
//! | simple alias | its one target |
//! | geolocation | the client's US state, country and continent records, then the default `*`; no match: no answer; last resort: the most specific match |
//! | latency | by the round-trip time from the client's network to each record's region (the latency map); a client the map does not know: by distance to the regions; last resort: the best |
//! | geoproximity | by biased distance from the client; last resort: the closest |
//! | IP-based | the location whose network holds the client (longest prefix), then the default `*`; no match: no answer; last resort: the match |
//!
//! Selection reads only the snapshot, the health slots (one atomic load each) and the
//! per-query [`Context`]; it allocates nothing. The same code produces explanations through
//! the [`Trace`] hooks, which compile to nothing on the query path.

use std::net::IpAddr;

use smallvec::SmallVec;
use turnout_model::PolicyKind;

use crate::locate::key;
use crate::snapshot::{NONE, WireMember, WireRRset, ZonePart};

/// The most records a multivalue group answers with, as in Route 53.
pub const MULTIVALUE_MAX: usize = 8;
/// Alias links followed before giving up (validation refuses loops; this is a backstop).
pub const MAX_ALIAS_DEPTH: usize = 16;

/// What a policy choice may depend on besides the snapshot: who asks, and randomness.
#[derive(Debug, Clone)]
pub struct Context {
    /// The client's address (the source address, or the EDNS Client Subnet).
    pub client: Option<IpAddr>,
    rng: u64,
    /// The longest prefix of the client's address a choice depended on.
    scope: u8,
    /// How many leading bits of `client` are known (an ECS source prefix; else all).
    source: u8,
    /// No randomness: the view a secondary is sent ([`Context::view`]).
    view: bool,
}

impl Context {
    /// A context for one query; `seed` drives every random choice (weighted, multivalue).
    pub fn new(client: Option<IpAddr>, seed: u64) -> Self {
        Context { client, rng: seed, scope: 0, source: 128, view: false }
    }

    /// The context of the answer a secondary is sent for a zone whose transfers carry the
    /// current answers (docs/transfers.md#routing-policies-in-a-transfer): a client of unknown
    /// location, and no random draw. A weighted group answers with its heaviest healthy
    /// record (the first of equals in the group's order), a multivalue group with its first 8
    /// healthy records.
    pub fn view() -> Self {
        Context { client: None, rng: 0, scope: 0, source: 128, view: true }
    }

    /// Only the first `bits` of the client's address are known (an EDNS Client Subnet's
    /// source prefix): an IP-based network longer than that cannot match, as in Route 53.
    pub fn with_source_prefix(mut self, bits: u8) -> Self {
        self.source = bits;
        self
    }

    /// The EDNS Client Subnet scope of the answer so far: the longest prefix of the client's
    /// address that a choice depended on (0: none did).
    pub fn scope(&self) -> u8 {
        self.scope
    }

    /// The next random number (SplitMix64: a few instructions, good enough for load
    /// spreading, deterministic for tests).
    fn next(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A random number below `n` (> 0); always 0 in a view (the first candidate).
    fn below(&mut self, n: u64) -> u64 {
        if self.view {
            return 0;
        }
        // Multiply-shift: unbiased enough for n far below 2^64.
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
    }
}

/// The rule that decided a group's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// The first healthy member in the policy's order.
    FirstHealthy,
    /// A random choice by weight among healthy members of nonzero weight.
    Weighted,
    /// No healthy member has a nonzero weight: an equal choice among healthy members of
    /// weight 0.
    WeightZero,
    /// Every healthy member (up to 8).
    Multivalue,
    /// A simple alias: its one target.
    Alias,
    /// Geolocation: the most specific healthy record for the client's location (US state,
    /// country, continent, then the default).
    MostSpecific,
    /// Geolocation: no record for the client's location and no default: no answer.
    NoMatch,
    /// Latency: the healthy record whose region has the lowest round-trip time to the client.
    LowestLatency,
    /// Geoproximity (and latency for a client the latency map does not know): the healthy
    /// record at the smallest (biased) distance from the client.
    Closest,
    /// Latency or geoproximity for a client that cannot be located: the first healthy record
    /// in set-id order.
    Unlocated,
    /// IP-based: the location whose network holds the client (longest prefix), then the
    /// default.
    LongestPrefix,
    /// No member was healthy: all counted as healthy (the last resort).
    LastResort,
    /// Failover with a trickle: the secondary, for the set share of answers that keeps it
    /// warm while the primary is healthy.
    Trickle,
}

impl Rule {
    /// The rule in words, for explanations.
    pub fn describe(self) -> &'static str {
        match self {
            Rule::FirstHealthy => "the first healthy record in the policy's order",
            Rule::Weighted => {
                "a random choice by weight among the healthy records of nonzero weight"
            }
            Rule::WeightZero => {
                "no healthy record of nonzero weight: an equal choice among healthy records of weight 0"
            }
            Rule::Multivalue => "every healthy record, up to 8",
            Rule::Alias => "a simple alias answers with its target",
            Rule::MostSpecific => {
                "the most specific healthy record for the client's location (state, country, continent, default)"
            }
            Rule::NoMatch => {
                "no record for the client's location (or network) and no default record: no answer"
            }
            Rule::LowestLatency => {
                "the healthy record whose region has the lowest latency to the client's network"
            }
            Rule::Closest => "the healthy record at the smallest (biased) distance from the client",
            Rule::LongestPrefix => {
                "the healthy record for the location whose network holds the client (longest prefix), then the default"
            }
            Rule::Unlocated => {
                "the client cannot be located: the first healthy record in set-id order"
            }
            Rule::LastResort => {
                "no record is healthy: all count as healthy and the policy chooses again (last resort)"
            }
            Rule::Trickle => {
                "the trickle: a set share of answers goes to the healthy secondary while the primary is healthy too"
            }
        }
    }
}

/// Hooks through which selection reports what it does. Every method defaults to nothing.
pub trait Trace {
    /// Selection enters the group of an RRset, in a zone's part.
    fn enter(&mut self, _part: &ZonePart, _group: u32) {}
    /// A member of the group entered last (in the same part) was evaluated.
    fn health(&mut self, _part: &ZonePart, _member: u32, _healthy: bool) {}
    /// The group's answer (of the group entered last, in `part`) was decided by `rule`, with
    /// these members.
    fn decided(&mut self, _part: &ZonePart, _rule: Rule, _members: &[u32]) {}
    /// The query's name is in the zone of part `zone` of `snap` (reported once per query;
    /// nothing is looked up unless the trace does).
    fn zone(&mut self, _snap: &crate::Snapshot, _zone: u32) {}
    /// Selection leaves the group.
    fn leave(&mut self) {}
}

/// No tracing: the query path.
pub struct NoTrace;
impl Trace for NoTrace {}

/// The [`Trace`] of a counted query ([`crate::stats`]): adds one to the zone that answers it
/// and to each policy-group member chosen.
pub(crate) struct Counting;

impl Trace for Counting {
    #[inline]
    fn zone(&mut self, snap: &crate::Snapshot, zone: u32) {
        snap.part(snap.home_of(zone)).zone_hits.add(0, 1);
    }

    #[inline]
    fn decided(&mut self, part: &crate::ZonePart, _rule: Rule, members: &[u32]) {
        for m in members {
            part.member_hits.add(*m as usize, 1);
        }
    }
}

/// The RRsets that answer for one RRset of a node.
pub(crate) type Picks<'s> = SmallVec<[&'s WireRRset; MULTIVALUE_MAX]>;

impl ZonePart {
    /// The RRsets answering `set` for this query: `set` itself, or what its policy group
    /// chooses now. Empty only when an alias chain is broken (never after validation).
    #[inline]
    pub(crate) fn select<'s>(
        &'s self,
        set: &'s WireRRset,
        ctx: &mut Context,
        trace: &mut impl Trace,
        out: &mut Picks<'s>,
    ) {
        if set.group == NONE {
            out.push(set);
        } else {
            self.select_group(set.group, ctx, trace, out, 0);
        }
    }

    fn select_group<'s>(
        &'s self,
        gi: u32,
        ctx: &mut Context,
        trace: &mut impl Trace,
        out: &mut Picks<'s>,
        depth: usize,
    ) {
        if depth > MAX_ALIAS_DEPTH {
            return;
        }
        trace.enter(self, gi);
        let group = &self.groups[gi as usize];
        let first = group.members.start;
        let members = group.members.of(&self.members);
        let mut healthy: SmallVec<[bool; 16]> = SmallVec::new();
        for (i, m) in members.iter().enumerate() {
            let h = self.healthy(m, depth);
            trace.health(self, first + i as u32, h);
            healthy.push(h);
        }
        let any = healthy.iter().any(|h| *h);
        let mut chosen: SmallVec<[u32; MULTIVALUE_MAX]> = SmallVec::new();
        let rule = match group.kind {
            PolicyKind::Multivalue => {
                let pool: SmallVec<[u32; 16]> =
                    (0..members.len() as u32).filter(|&i| !any || healthy[i as usize]).collect();
                sample(pool, ctx, &mut chosen);
                if any { Rule::Multivalue } else { Rule::LastResort }
            }
            PolicyKind::Weighted => {
                let pick = |ctx: &mut Context, ok: &dyn Fn(usize) -> bool| {
                    weighted(members, ctx, &|i| ok(i) && members[i].weight > 0)
                        .map(|i| (i, false))
                        .or_else(|| uniform(members.len(), ctx, ok).map(|i| (i, true)))
                };
                match pick(ctx, &|i| healthy[i]) {
                    Some((i, zero)) => {
                        chosen.push(i);
                        if zero { Rule::WeightZero } else { Rule::Weighted }
                    }
                    None => {
                        chosen.extend(pick(ctx, &|_| true).map(|(i, _)| i));
                        Rule::LastResort
                    }
                }
            }
            PolicyKind::Simple => {
                chosen.push(0);
                Rule::Alias
            }
            kind => {
                let (pick, rule) = match kind {
                    PolicyKind::Geolocation => {
                        first_healthy(&self.geo_order(members, ctx), &healthy, Rule::MostSpecific)
                    }
                    PolicyKind::Cidr => {
                        let order = self.cidr_order(group.table, members, ctx);
                        first_healthy(&order, &healthy, Rule::LongestPrefix)
                    }
                    PolicyKind::Latency | PolicyKind::Geoproximity => {
                        let (order, rule) = self.nearest_order(kind, first, members, ctx);
                        first_healthy(&order, &healthy, rule)
                    }
                    // Failover: primary, then secondary; with a trickle, a share of answers
                    // goes to the secondary while both are healthy (never in a view).
                    _ => {
                        let both = healthy.len() == 2 && healthy[0] && healthy[1];
                        let trickle = group.trickle > 0 && !ctx.view;
                        if both && trickle && ctx.below(100) < u64::from(group.trickle) {
                            (Some(1), Rule::Trickle)
                        } else {
                            let order: SmallVec<[u32; 16]> = (0..members.len() as u32).collect();
                            first_healthy(&order, &healthy, Rule::FirstHealthy)
                        }
                    }
                };
                chosen.extend(pick);
                rule
            }
        };
        let absolute: SmallVec<[u32; MULTIVALUE_MAX]> = chosen.iter().map(|i| first + i).collect();
        trace.decided(self, rule, &absolute);
        for i in chosen {
            let m = &members[i as usize];
            let set = self.rrset_by_index(m.rrset);
            if m.alias && set.group != NONE {
                self.select_group(set.group, ctx, trace, out, depth + 1);
            } else if out.len() < MULTIVALUE_MAX || group.kind != PolicyKind::Multivalue {
                out.push(set);
            }
        }
        trace.leave();
    }

    /// A geolocation group's candidates for this client, most specific first: its US state,
    /// country and continent records, then the default `*`. Locating the client sets the
    /// ECS scope to the database network's prefix.
    fn geo_order(&self, members: &[WireMember], ctx: &mut Context) -> SmallVec<[u32; 4]> {
        let mut keys: SmallVec<[u32; 4]> = SmallVec::new();
        if let (Some(ip), Some(geo)) =
            (ctx.client, self.locator.as_deref().and_then(|l| l.geo.as_ref()))
        {
            let (place, prefix) = geo.locate(ip);
            ctx.scope = ctx.scope.max(prefix);
            if let Some(p) = place {
                if p.country == *b"US" && p.subdivision[0] != 0 {
                    keys.push(key(3, p.subdivision));
                }
                if p.country[0] != 0 {
                    keys.push(key(2, [p.country[0], p.country[1], 0]));
                }
                if p.continent[0] != 0 {
                    keys.push(key(1, [p.continent[0], p.continent[1], 0]));
                }
            }
        }
        keys.push(key(4, [0; 3]));
        keys.iter()
            .filter_map(|k| members.iter().position(|m| m.key == *k).map(|i| i as u32))
            .collect()
    }

    /// An IP-based group's candidates: the location whose network holds the client (longest
    /// prefix), then the default `*`. Sets the ECS scope to the matched prefix, or when nothing
    /// matches to the table's longest prefix (every address sharing that many bits with the
    /// client matches nothing either).
    fn cidr_order(
        &self,
        table: u32,
        members: &[WireMember],
        ctx: &mut Context,
    ) -> SmallVec<[u32; 4]> {
        let mut order: SmallVec<[u32; 4]> = SmallVec::new();
        if let (Some(ip), Some(t)) = (ctx.client, self.cidr_tables.get(table as usize)) {
            match t.map.longest_within(ip, ctx.source) {
                Some((&i, prefix)) => {
                    ctx.scope = ctx.scope.max(prefix);
                    order.push(i);
                }
                None => {
                    let longest = if ip.is_ipv4() { t.longest.0 } else { t.longest.1 };
                    ctx.scope = ctx.scope.max(longest);
                }
            }
        }
        order.extend(members.iter().position(|m| m.key == 1).map(|i| i as u32));
        order
    }

    /// A latency or geoproximity group's members, best first, and the rule that ranked them.
    ///
    /// Latency: by the round-trip time from the client's network to each record's region in
    /// the latency map; a client the map does not know is ranked by distance to the regions'
    /// coordinates (the geoproximity fallback). Geoproximity: by the distance from the client
    /// to each record, biased (`d * (1 - bias/100)` for a positive bias,
    /// `d / (1 + bias/100)` for a negative one). Unknown ranks go last, in set-id order.
    fn nearest_order(
        &self,
        kind: PolicyKind,
        first: u32,
        members: &[WireMember],
        ctx: &mut Context,
    ) -> (SmallVec<[u32; 16]>, Rule) {
        let mut order: SmallVec<[u32; 16]> = (0..members.len() as u32).collect();
        let (Some(ip), Some(locator)) = (ctx.client, self.locator.as_deref()) else {
            return (order, Rule::Unlocated);
        };
        if kind == PolicyKind::Latency
            && let Some(map) = &locator.latency
            && let Some((rtts, prefix)) = map.rtts(ip)
        {
            ctx.scope = ctx.scope.max(prefix);
            let rtt = |m: &WireMember| rtts.get(m.key as usize).copied().unwrap_or(u32::MAX);
            order.sort_by_key(|&i| rtt(&members[i as usize]));
            return (order, Rule::LowestLatency);
        }
        let Some((client, prefix)) = locator.coordinates(ip) else {
            return (order, Rule::Unlocated);
        };
        ctx.scope = ctx.scope.max(prefix);
        // Each member's (biased) distance once, not once per comparison of the sort.
        let distances: SmallVec<[f32; 16]> = (0..members.len() as u32)
            .map(|i| {
                let m = &members[i as usize];
                let coords = match kind {
                    PolicyKind::Latency => {
                        locator.latency.as_ref().and_then(|l| l.coordinates(m.key))
                    }
                    _ => self.member_coords[(first + i) as usize],
                };
                let Some(at) = coords else { return f32::INFINITY };
                let d = crate::locate::distance_km(client, at);
                let bias = f32::from(m.bias) / 100.0;
                if bias >= 0.0 { d * (1.0 - bias) } else { d / (1.0 + bias) }
            })
            .collect();
        order.sort_by(|&a, &b| distances[a as usize].total_cmp(&distances[b as usize]));
        (order, Rule::Closest)
    }

    /// Where an answer RRset of several records starts: a random record, so that each
    /// comes first equally often (Route 53 returns a record's values in random order;
    /// clients that take the first address then spread).
    #[inline]
    pub(crate) fn rotation(&self, set: &WireRRset, ctx: &mut Context) -> u16 {
        let n = self.records(set).len() as u64;
        if n < 2 { 0 } else { ctx.below(n) as u16 }
    }

    /// Whether a member may answer (docs/routing-policies.md, step 2 of the algorithm).
    pub(crate) fn healthy(&self, m: &WireMember, depth: usize) -> bool {
        if m.slot != NONE && !self.slots[m.slot as usize].healthy() {
            return false;
        }
        if !m.eth {
            return true;
        }
        let target = self.rrset_by_index(m.rrset);
        target.group == NONE || self.any_healthy(target.group, depth + 1)
    }

    /// Whether a group counts as healthy for an alias to it with evaluate-target-health: at
    /// least `min_healthy` of its members are (1 unless the group sets more).
    fn any_healthy(&self, gi: u32, depth: usize) -> bool {
        if depth > MAX_ALIAS_DEPTH {
            return false;
        }
        let group = &self.groups[gi as usize];
        // Stops at the `min_healthy`-th healthy member (the first, by default).
        let needed = usize::from(group.min_healthy);
        let members = group.members.of(&self.members);
        members.iter().filter(|m| self.healthy(m, depth)).take(needed).count() >= needed
    }
}

/// The first healthy member of `order` (decided by `rule`); when none is, the first of them
/// (the last resort: geolocation's most specific match, the best latency...); when `order` is
/// empty, none (no record for this client).
fn first_healthy(order: &[u32], healthy: &[bool], rule: Rule) -> (Option<u32>, Rule) {
    match order.iter().find(|&&i| healthy[i as usize]) {
        Some(&i) => (Some(i), rule),
        None => match order.first() {
            Some(&i) => (Some(i), Rule::LastResort),
            None => (None, Rule::NoMatch),
        },
    }
}

/// A random member by weight among those `ok` accepts with nonzero total weight (in a view,
/// the heaviest, the first of equals).
fn weighted(members: &[WireMember], ctx: &mut Context, ok: &dyn Fn(usize) -> bool) -> Option<u32> {
    let total: u64 =
        (0..members.len()).filter(|&i| ok(i)).map(|i| u64::from(members[i].weight)).sum();
    if total == 0 {
        return None;
    }
    if ctx.view {
        let heaviest = (0..members.len()).filter(|&i| ok(i)).map(|i| members[i].weight).max()?;
        return (0..members.len())
            .find(|&i| ok(i) && members[i].weight == heaviest)
            .map(|i| i as u32);
    }
    let mut r = ctx.below(total);
    for (i, m) in members.iter().enumerate() {
        if !ok(i) {
            continue;
        }
        let w = u64::from(m.weight);
        if r < w {
            return Some(i as u32);
        }
        r -= w;
    }
    None
}

/// A random member, equally likely, among those `ok` accepts.
fn uniform(n: usize, ctx: &mut Context, ok: &dyn Fn(usize) -> bool) -> Option<u32> {
    let count = (0..n).filter(|&i| ok(i)).count() as u64;
    if count == 0 {
        return None;
    }
    let k = ctx.below(count) as usize;
    (0..n).filter(|&i| ok(i)).nth(k).map(|i| i as u32)
}

/// All of `pool` when it holds at most 8, else a random 8 (partial Fisher-Yates), in pool
/// order either way.
fn sample(
    mut pool: SmallVec<[u32; 16]>,
    ctx: &mut Context,
    out: &mut SmallVec<[u32; MULTIVALUE_MAX]>,
) {
    if pool.len() > MULTIVALUE_MAX {
        for i in 0..MULTIVALUE_MAX {
            let j = i + ctx.below((pool.len() - i) as u64) as usize;
            pool.swap(i, j);
        }
        pool.truncate(MULTIVALUE_MAX);
        pool.sort_unstable();
    }
    out.extend(pool);
}

#[cfg(test)]
#[path = "policy_tests.rs"]
mod tests;
