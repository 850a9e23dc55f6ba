//! The immutable answer snapshot: every served zone compiled for lookup and pre-encoded for the
//! wire.
//!
//! A [`Snapshot`] is built off to the side from validated [`Zone`]s and then published whole
//! (see [`crate::SnapshotHandle`]); the query path only reads it. Building does all the work a
//! query would otherwise repeat: one hash index from every name to its node in the most specific
//! zone that holds it, empty non-terminals as nodes, the delegation (zone cut) above each node,
//! records encoded as `TYPE CLASS TTL RDLENGTH RDATA` with the offsets of compressible names,
//! the targets of NS/MX/SRV resolved to the nodes whose addresses go in the additional section,
//! and each zone's SOA with its negative TTL (RFC 2308 §3).

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::Arc;

use hashbrown::HashTable;
use rustc_hash::{FxBuildHasher, FxHashMap, FxHashSet};
use turnout_model::health::HealthSlot;
use turnout_model::name::suffixes;
use turnout_model::{Group, MemberAnswer, Name, PolicyKind, RRset, RType, Zone, ZoneError};

use crate::wire::CLASS_IN;

/// Index of a node in the snapshot.
pub(crate) type NodeId = u32;

/// Why a snapshot could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotError {
    /// Two zones with the same apex.
    #[error("zone {0} is given twice")]
    DuplicateZone(Name),
    /// A zone that breaks the zone rules.
    #[error("zone {apex} is invalid: {}", errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    InvalidZone {
        /// The zone apex.
        apex: Name,
        /// Every rule it breaks.
        errors: Vec<ZoneError>,
    },
    /// More data than the snapshot's 32-bit offsets can address (4 GiB of records).
    #[error("the zones are too large for one snapshot")]
    TooLarge,
    /// An alias whose target has no RRset of its type in the zone.
    #[error("the alias {name} {rtype} targets {target}, which has no {rtype} records")]
    AliasTargetMissing {
        /// The alias's owner.
        name: Name,
        /// Its type.
        rtype: RType,
        /// The missing target.
        target: Name,
    },
}

/// A run of consecutive items in one of the snapshot's arenas.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Run {
    pub(crate) start: u32,
    len: u32,
}

impl Run {
    #[inline]
    pub(crate) fn of<T>(self, arena: &[T]) -> &[T] {
        &arena[self.start as usize..self.start as usize + self.len as usize]
    }

    /// The run from `start` to the arena's current end.
    fn since<T>(start: usize, arena: &[T]) -> Result<Run, SnapshotError> {
        let start = u32::try_from(start).map_err(|_| SnapshotError::TooLarge)?;
        let len =
            u32::try_from(arena.len() - start as usize).map_err(|_| SnapshotError::TooLarge)?;
        Ok(Run { start, len })
    }
}

/// One record, pre-encoded as `TYPE CLASS TTL RDLENGTH RDATA` in the wire arena.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WireRecord {
    pub(crate) bytes: Run,
    /// (offset in the record, length) of each name the encoder may compress, in the spans arena.
    pub(crate) names: Run,
}

/// One RRset, pre-encoded, with what answering it drags along.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WireRRset {
    pub(crate) rtype: RType,
    /// Whether no record holds a compressible name: then `bytes` can be copied record by record
    /// without looking at `records`.
    pub(crate) plain: bool,
    /// Every record's bytes, back to back, in the wire arena.
    bytes: Run,
    pub(crate) records: Run,
    /// Nodes whose A/AAAA must go in the additional section (in-domain glue of a referral,
    /// RFC 9471): if they do not fit, the response is truncated.
    pub(crate) glue_required: Run,
    /// Nodes whose A/AAAA go in the additional section if they fit.
    pub(crate) extra: Run,
    /// The canonical name of a CNAME RRset, in the wire arena; empty for other types.
    target: Run,
    /// For an RRset chosen per query: its policy group (index in `groups`); [`NONE`]
    /// otherwise.
    pub(crate) group: u32,
}

/// No group, no slot.
pub(crate) const NONE: u32 = u32::MAX;

/// A policy group: how its answer is chosen, and its members.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WireGroup {
    pub(crate) kind: PolicyKind,
    /// The node that owns it.
    pub(crate) owner: NodeId,
    /// In `members` (and `member_info`): in set-id order, a failover group's primary first.
    pub(crate) members: Run,
    /// IP-based: its table in `cidr_tables`; [`NONE`] otherwise.
    pub(crate) table: u32,
}

/// An IP-based group's networks: which member each network's location is.
#[derive(Debug, Default)]
pub(crate) struct CidrTable {
    /// Network -> index of the member (within the group) for its location.
    pub(crate) map: crate::locate::PrefixMap<u32>,
    /// The longest IPv4 and IPv6 prefixes in the table: an address outside every network is
    /// outside them for any address that shares this many leading bits (the ECS scope).
    pub(crate) longest: (u8, u8),
}

/// One record set of a group.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WireMember {
    /// What it answers: its own records (an RRset outside every node's run), or for an alias
    /// the target node's RRset, which may itself be a group.
    pub(crate) rrset: u32,
    /// Its health check (index in `slots`), or [`NONE`]: always healthy.
    pub(crate) slot: u32,
    /// Weighted: the weight.
    pub(crate) weight: u8,
    /// An alias (to `rrset`).
    pub(crate) alias: bool,
    /// An alias with evaluate-target-health.
    pub(crate) eth: bool,
    /// Geolocation: the location's key ([`crate::policy::geo_key`]); latency: the region's
    /// index in the latency map ([`NONE`]: not in the map).
    pub(crate) key: u32,
    /// Geoproximity: the bias, -99 to 99.
    pub(crate) bias: i8,
}

/// What explain reports about a member.
#[derive(Debug, Clone)]
pub(crate) struct MemberInfo {
    pub(crate) set_id: Box<str>,
    pub(crate) check: Option<Box<str>>,
    pub(crate) policy: turnout_model::Policy,
}

/// A name in a zone: its RRsets, or none for an empty non-terminal.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Node {
    name: Run,
    pub(crate) zone: u32,
    /// The delegation point at or above this node (never the apex), if any: the node is then
    /// not authoritative and queries get a referral.
    pub(crate) cut: Option<NodeId>,
    /// For a zone apex that a less specific served zone delegates: that delegation's node,
    /// which answers DS queries (RFC 4035 §3.1.4.1).
    pub(crate) parent_side: Option<NodeId>,
    /// Sorted by type.
    rrsets: Run,
}

#[derive(Debug)]
pub(crate) struct ZoneInfo {
    pub(crate) apex: NodeId,
    /// The apex SOA with TTL min(SOA TTL, MINIMUM), for negative answers (index in `rrsets`).
    negative_soa: u32,
}

/// Everything the query path needs, immutable once built.
///
/// The data lives in a few flat arenas (names, nodes, RRsets, records, record bytes) addressed
/// by 32-bit runs, not in one allocation per record: a large zone costs a handful of big
/// allocations, which stay compact in memory and go back to the OS when a reload replaces it.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Node names, lowercase wire format, back to back.
    names: Vec<u8>,
    nodes: Vec<Node>,
    /// Node ids, hashed by name: one lookup per label of the query name at most.
    index: HashTable<NodeId>,
    rrsets: Vec<WireRRset>,
    records: Vec<WireRecord>,
    spans: Vec<(u16, u16)>,
    wire: Vec<u8>,
    targets: Vec<NodeId>,
    /// Policy groups: RRsets whose answer is chosen per query.
    pub(crate) groups: Vec<WireGroup>,
    pub(crate) members: Vec<WireMember>,
    pub(crate) member_info: Vec<MemberInfo>,
    /// IP-based groups' tables.
    pub(crate) cidr_tables: Vec<CidrTable>,
    /// Geoproximity: each member's coordinates, when known.
    pub(crate) member_coords: Vec<Option<(f32, f32)>>,
    /// The health slots the members read; the health engine writes them.
    pub(crate) slots: Vec<Arc<HealthSlot>>,
    pub(crate) zones: Vec<ZoneInfo>,
    /// Where clients are (a geolocation database), shared by every snapshot.
    pub(crate) locator: Option<Arc<crate::locate::Locator>>,
    /// Which zones it holds, with their serials and record counts, for logs.
    summary: Vec<(Name, u32, usize)>,
}

#[inline]
fn hash_name(name: &[u8]) -> u64 {
    FxBuildHasher.hash_one(name)
}

impl Snapshot {
    /// An empty snapshot: every query is refused.
    pub fn empty() -> Self {
        Snapshot::default()
    }

    /// Compiles validated zones into a snapshot.
    pub fn build<'z>(zones: impl IntoIterator<Item = &'z Zone>) -> Result<Snapshot, SnapshotError> {
        build(zones.into_iter().collect())
    }

    /// The same snapshot, locating clients with `locator` (for location-based policies):
    /// latency records get their region's index in the latency map, geoproximity records
    /// named by region get its coordinates.
    pub fn with_locator(mut self, locator: Arc<crate::locate::Locator>) -> Self {
        use turnout_model::records::GeoproximityLocator;
        if let Some(map) = &locator.latency {
            for (m, info) in self.members.iter_mut().zip(&self.member_info) {
                match &info.policy {
                    turnout_model::Policy::Latency(region) => {
                        m.key = map.region(region).unwrap_or(NONE);
                    }
                    turnout_model::Policy::Geoproximity(g) => {
                        if let GeoproximityLocator::Region(region) = &g.locator {
                            m.key = map.region(region).unwrap_or(NONE);
                        }
                    }
                    _ => {}
                }
            }
            for (i, info) in self.member_info.iter().enumerate() {
                if let turnout_model::Policy::Geoproximity(g) = &info.policy
                    && let GeoproximityLocator::Region(_) = &g.locator
                {
                    self.member_coords[i] = map.coordinates(self.members[i].key);
                }
            }
        }
        self.locator = Some(locator);
        self
    }

    /// Where clients are located, when the snapshot was given a locator.
    pub fn locator(&self) -> Option<Arc<crate::locate::Locator>> {
        self.locator.clone()
    }

    /// The zones served: apex, SOA serial and record count.
    pub fn zones(&self) -> &[(Name, u32, usize)] {
        &self.summary
    }

    /// Bytes held by the snapshot's arenas and index (for logs and benchmarks).
    pub fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        self.names.capacity()
            + self.nodes.capacity() * size_of::<Node>()
            + self.index.capacity() * (size_of::<NodeId>() + 1)
            + self.rrsets.capacity() * size_of::<WireRRset>()
            + self.records.capacity() * size_of::<WireRecord>()
            + self.spans.capacity() * size_of::<(u16, u16)>()
            + self.wire.capacity()
            + self.targets.capacity() * size_of::<NodeId>()
            + self.groups.capacity() * size_of::<WireGroup>()
            + self.members.capacity() * size_of::<WireMember>()
            + self.member_info.capacity() * size_of::<MemberInfo>()
    }

    #[inline]
    pub(crate) fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id as usize]
    }

    /// The lowercase wire-format name of a node.
    #[inline]
    pub(crate) fn name(&self, id: NodeId) -> &[u8] {
        self.node(id).name.of(&self.names)
    }

    /// The RRsets of a node, sorted by type.
    #[inline]
    pub(crate) fn rrsets(&self, id: NodeId) -> &[WireRRset] {
        self.node(id).rrsets.of(&self.rrsets)
    }

    /// The RRset of type `t` at a node, as stored: for a policy group, the group's entry (see
    /// [`Snapshot::select`](crate::policy)).
    #[inline]
    pub(crate) fn rrset_at(&self, id: NodeId, t: RType) -> Option<&WireRRset> {
        self.rrsets(id).iter().find(|s| s.rtype == t)
    }

    /// The node whose RRsets include the one at index `i` (a linear scan: for explanations).
    pub(crate) fn owner_of(&self, i: u32) -> Option<NodeId> {
        self.nodes
            .iter()
            .position(|n| n.rrsets.start <= i && i < n.rrsets.start + n.rrsets.len)
            .map(|id| id as NodeId)
    }

    /// An RRset by index.
    #[inline]
    pub(crate) fn rrset_by_index(&self, i: u32) -> &WireRRset {
        &self.rrsets[i as usize]
    }

    #[inline]
    pub(crate) fn records(&self, set: &WireRRset) -> &[WireRecord] {
        set.records.of(&self.records)
    }

    /// A record's bytes and the spans of its compressible names.
    #[inline]
    pub(crate) fn record(&self, rec: &WireRecord) -> (&[u8], &[(u16, u16)]) {
        (rec.bytes.of(&self.wire), rec.names.of(&self.spans))
    }

    /// All records of an RRset, back to back, each `TYPE CLASS TTL RDLENGTH RDATA`.
    #[inline]
    pub(crate) fn rrset_bytes(&self, set: &WireRRset) -> &[u8] {
        set.bytes.of(&self.wire)
    }

    #[inline]
    pub(crate) fn targets(&self, run: Run) -> &[NodeId] {
        run.of(&self.targets)
    }

    /// The canonical name of a CNAME RRset.
    #[inline]
    pub(crate) fn cname_target(&self, set: &WireRRset) -> Option<&[u8]> {
        (set.target.len > 0).then(|| set.target.of(&self.wire))
    }

    #[inline]
    pub(crate) fn negative_soa(&self, zone: u32) -> &WireRRset {
        &self.rrsets[self.zones[zone as usize].negative_soa as usize]
    }

    /// The node of `name` (lowercase wire format) in the most specific zone holding it.
    #[inline]
    pub(crate) fn find(&self, name: &[u8]) -> Option<NodeId> {
        self.index.find(hash_name(name), |&id| self.name(id) == name).copied()
    }

    /// The closest encloser of `name`: the node of its longest existing suffix, and whether
    /// that is `name` itself. `None` when no served zone contains `name`.
    #[inline]
    pub(crate) fn closest_encloser(&self, name: &[u8]) -> Option<(NodeId, bool)> {
        if self.index.is_empty() {
            return None;
        }
        suffixes(name).find_map(|s| self.find(s)).map(|id| (id, self.name(id).len() == name.len()))
    }

    /// The wildcard `*.<closest encloser>` in the encloser's zone (RFC 4592 §3.3.1).
    #[inline]
    pub(crate) fn wildcard(&self, encloser: NodeId) -> Option<NodeId> {
        let ce = self.name(encloser);
        let mut buf = [0u8; crate::wire::MAX_NAME_LEN + 2];
        let len = ce.len() + 2;
        if len > crate::wire::MAX_NAME_LEN {
            return None;
        }
        buf[0] = 1;
        buf[1] = b'*';
        buf[2..len].copy_from_slice(ce);
        let id = self.find(&buf[..len])?;
        (self.node(id).zone == self.node(encloser).zone).then_some(id)
    }
}

/// The most specific zone (index into the depth-sorted zones) containing a name.
fn owner_zone(apexes: &HashMap<&[u8], u32>, name: &[u8]) -> Option<u32> {
    suffixes(name).find_map(|s| apexes.get(s).copied())
}

fn build(mut order: Vec<&Zone>) -> Result<Snapshot, SnapshotError> {
    order.sort_by_key(|z| z.apex().label_count());
    let mut apexes: HashMap<&[u8], u32> = HashMap::new();
    for (i, z) in order.iter().enumerate() {
        if apexes.insert(z.apex().as_wire(), i as u32).is_some() {
            return Err(SnapshotError::DuplicateZone(z.apex().clone()));
        }
        let errors = z.validate();
        if !errors.is_empty() {
            return Err(SnapshotError::InvalidZone { apex: z.apex().clone(), errors });
        }
    }
    let mut snap = Snapshot::default();

    // 1. Nodes for every owner and every empty non-terminal up to the apex. The per-zone maps
    //    borrow names from the zones and include names a more specific zone shadows.
    let mut zone_maps: Vec<FxHashMap<&[u8], NodeId>> = Vec::with_capacity(order.len());
    for (zi, z) in order.iter().enumerate() {
        let mut map: FxHashMap<&[u8], NodeId> = FxHashMap::default();
        let apex_len = z.apex().as_wire().len();
        for (name, _, _) in z.rrsets() {
            // The owner and its ancestors down to the apex, until one already has a node.
            for w in suffixes(name.as_wire()).take_while(|w| w.len() >= apex_len) {
                if map.contains_key(w) {
                    break;
                }
                let id = NodeId::try_from(snap.nodes.len()).map_err(|_| SnapshotError::TooLarge)?;
                let start = snap.names.len();
                snap.names.extend_from_slice(w);
                let name = Run::since(start, &snap.names)?;
                snap.nodes.push(Node {
                    name,
                    zone: zi as u32,
                    cut: None,
                    parent_side: None,
                    rrsets: Run::default(),
                });
                map.insert(w, id);
            }
        }
        zone_maps.push(map);
    }

    // 2. Zone cuts: the highest ancestor-or-self below the apex that holds NS.
    for (zi, z) in order.iter().enumerate() {
        let apex_len = z.apex().as_wire().len();
        let map = &zone_maps[zi];
        let with_ns: FxHashSet<&[u8]> =
            z.rrsets().filter(|(_, t, _)| *t == RType::NS).map(|(n, _, _)| n.as_wire()).collect();
        for (&name, &id) in map {
            let cut = suffixes(name)
                .take_while(|w| w.len() > apex_len)
                .filter(|w| with_ns.contains(w))
                .last()
                .and_then(|w| map.get(w).copied());
            snap.nodes[id as usize].cut = cut;
        }
    }

    // 3. The index: each name in its most specific zone only.
    let Snapshot { names, nodes, index, .. } = &mut snap;
    for (id, node) in nodes.iter().enumerate() {
        let name = node.name.of(names);
        if owner_zone(&apexes, name) == Some(node.zone) {
            let hasher = |&other: &NodeId| hash_name(nodes[other as usize].name.of(names));
            index.insert_unique(hash_name(name), id as NodeId, hasher);
        }
    }

    // 4. The parent side of apexes that a less specific served zone delegates.
    for (zi, z) in order.iter().enumerate() {
        let apex = z.apex().as_wire();
        let Some(parent) = z.apex().parent() else { continue };
        let Some(pz) = owner_zone(&apexes, parent.as_wire()) else { continue };
        if let Some(&pid) = zone_maps[pz as usize].get(apex) {
            let aid = zone_maps[zi][apex];
            snap.nodes[aid as usize].parent_side = Some(pid);
        }
    }

    // 5. RRsets, with additional-section targets resolved to nodes that hold addresses. The
    //    zone iterates by (name, type), so a node's RRsets come out together, sorted by type.
    let mut has_addr = vec![false; snap.nodes.len()];
    for (zi, z) in order.iter().enumerate() {
        for (name, rt, _) in z.rrsets() {
            if rt == RType::A || rt == RType::AAAA {
                has_addr[zone_maps[zi][name.as_wire()] as usize] = true;
            }
        }
    }
    let mut slot_ids: HashMap<*const HealthSlot, u32> = HashMap::new();
    for (zi, z) in order.iter().enumerate() {
        let map = &zone_maps[zi];
        let mut current: Option<(NodeId, usize)> = None;
        let mut pending: Vec<(u32, &Name, NodeId, RType, &Group)> = Vec::new();
        for (name, rt, set) in z.rrsets() {
            let id = map[name.as_wire()];
            if current.is_none_or(|(c, _)| c != id) {
                if let Some((c, start)) = current {
                    snap.nodes[c as usize].rrsets = Run::since(start, &snap.rrsets)?;
                }
                current = Some((id, snap.rrsets.len()));
            }
            let mut w = snap.encode_rrset(rt, set, set.ttl)?;
            if matches!(rt, RType::NS | RType::MX | RType::SRV) {
                (w.glue_required, w.extra) =
                    snap.additional_targets(set, rt, id, map, &has_addr)?;
            }
            if let Some(group) = z.group(name, rt) {
                w.group = u32::try_from(snap.groups.len()).map_err(|_| SnapshotError::TooLarge)?;
                let kind = group.members[0].policy.kind();
                snap.groups.push(WireGroup {
                    kind,
                    owner: id,
                    members: Run::default(),
                    table: NONE,
                });
                pending.push((w.group, name, id, rt, group));
            }
            snap.rrsets.push(w);
        }
        if let Some((c, start)) = current {
            snap.nodes[c as usize].rrsets = Run::since(start, &snap.rrsets)?;
        }
        // Members' own records go after every node's run: they are reached only through a
        // group. Alias members point at their target node's RRset.
        for (gi, name, id, rt, group) in pending {
            // A multivalue answer is one RRset: every record gets the smallest TTL (RFC 2181 §5.2).
            let multivalue_ttl = group
                .members
                .iter()
                .filter_map(|m| match &m.answer {
                    MemberAnswer::Records(r) => Some(r.ttl),
                    MemberAnswer::Alias { .. } => None,
                })
                .min()
                .filter(|_| snap.groups[gi as usize].kind == PolicyKind::Multivalue);
            let mut wire = Vec::with_capacity(group.members.len());
            for m in &group.members {
                let (rrset, alias, eth) = match &m.answer {
                    MemberAnswer::Records(records) => {
                        let ttl = multivalue_ttl.unwrap_or(records.ttl);
                        let mut w = snap.encode_rrset(rt, records, ttl)?;
                        if matches!(rt, RType::NS | RType::MX | RType::SRV) {
                            (w.glue_required, w.extra) =
                                snap.additional_targets(records, rt, id, map, &has_addr)?;
                        }
                        let i = u32::try_from(snap.rrsets.len())
                            .map_err(|_| SnapshotError::TooLarge)?;
                        snap.rrsets.push(w);
                        (i, false, false)
                    }
                    MemberAnswer::Alias { target, evaluate_target_health } => {
                        let missing = || SnapshotError::AliasTargetMissing {
                            name: name.clone(),
                            rtype: rt,
                            target: target.clone(),
                        };
                        let node = *map.get(target.as_wire()).ok_or_else(missing)?;
                        let run = snap.nodes[node as usize].rrsets;
                        let at = run.of(&snap.rrsets).iter().position(|s| s.rtype == rt);
                        let at = at.ok_or_else(missing)?;
                        (run.start + at as u32, true, *evaluate_target_health)
                    }
                };
                let slot = match &m.slot {
                    None => NONE,
                    Some(slot) => {
                        let next =
                            u32::try_from(snap.slots.len()).map_err(|_| SnapshotError::TooLarge)?;
                        *slot_ids.entry(Arc::as_ptr(slot)).or_insert_with(|| {
                            snap.slots.push(Arc::clone(slot));
                            next
                        })
                    }
                };
                let (weight, key) = match &m.policy {
                    turnout_model::Policy::Weighted(w) => (*w, 0),
                    turnout_model::Policy::Geolocation(g) => (0, crate::policy::geo_key(g)),
                    turnout_model::Policy::Cidr { location, .. } if location == "*" => (0, 1),
                    _ => (0, NONE),
                };
                let (bias, coords) = match &m.policy {
                    turnout_model::Policy::Geoproximity(g) => (
                        g.bias,
                        match g.locator {
                            turnout_model::records::GeoproximityLocator::Coordinates {
                                latitude,
                                longitude,
                            } => Some((latitude as f32, longitude as f32)),
                            turnout_model::records::GeoproximityLocator::Region(_) => None,
                        },
                    ),
                    _ => (0, None),
                };
                wire.push(WireMember { rrset, slot, weight, alias, eth, key, bias });
                snap.member_coords.push(coords);
                snap.member_info.push(MemberInfo {
                    set_id: m.set_id.as_str().into(),
                    check: m.check.as_deref().map(Into::into),
                    policy: m.policy.clone(),
                });
            }
            let start = snap.members.len();
            snap.members.extend(wire);
            snap.groups[gi as usize].members = Run::since(start, &snap.members)?;
            if let Some(collection) = &group.collection {
                let mut table = CidrTable::default();
                for (i, m) in group.members.iter().enumerate() {
                    let turnout_model::Policy::Cidr { location, .. } = &m.policy else { continue };
                    for net in collection.locations.get(location).into_iter().flatten() {
                        table.map.insert(*net, i as u32);
                        let longest = match net {
                            ipnet::IpNet::V4(_) => &mut table.longest.0,
                            ipnet::IpNet::V6(_) => &mut table.longest.1,
                        };
                        *longest = (*longest).max(net.prefix_len());
                    }
                }
                snap.groups[gi as usize].table =
                    u32::try_from(snap.cidr_tables.len()).map_err(|_| SnapshotError::TooLarge)?;
                snap.cidr_tables.push(table);
            }
        }
        // validate() guarantees the SOA; this only keeps a broken zone from panicking.
        let (Some((soa_ttl, soa)), Some(soa_set)) = (z.soa(), z.get(z.apex(), RType::SOA)) else {
            let errors = vec![ZoneError::NoSoa(z.apex().clone())];
            return Err(SnapshotError::InvalidZone { apex: z.apex().clone(), errors });
        };
        let negative = snap.encode_rrset(RType::SOA, soa_set, soa_ttl.min(soa.minimum))?;
        snap.rrsets.push(negative);
        snap.zones.push(ZoneInfo {
            apex: map[z.apex().as_wire()],
            negative_soa: (snap.rrsets.len() - 1) as u32,
        });
        snap.summary.push((z.apex().clone(), soa.serial, z.record_count()));
    }
    snap.names.shrink_to_fit();
    snap.wire.shrink_to_fit();
    snap.spans.shrink_to_fit();
    snap.targets.shrink_to_fit();
    snap.records.shrink_to_fit();
    snap.rrsets.shrink_to_fit();
    snap.nodes.shrink_to_fit();
    Ok(snap)
}

impl Snapshot {
    /// Appends the records of an RRset to the arenas.
    fn encode_rrset(
        &mut self,
        rt: RType,
        set: &RRset,
        ttl: u32,
    ) -> Result<WireRRset, SnapshotError> {
        let first = self.records.len();
        let first_byte = self.wire.len();
        let first_span = self.spans.len();
        for rdata in &set.rdatas {
            let rd = rdata.as_wire();
            let start = self.wire.len();
            self.wire.extend_from_slice(&rt.0.to_be_bytes());
            self.wire.extend_from_slice(&CLASS_IN.to_be_bytes());
            self.wire.extend_from_slice(&ttl.to_be_bytes());
            self.wire.extend_from_slice(&(rd.len() as u16).to_be_bytes());
            self.wire.extend_from_slice(rd);
            let bytes = Run::since(start, &self.wire)?;
            let spans_start = self.spans.len();
            for n in rdata.names(rt).into_iter().filter(|n| n.compressible) {
                self.spans.push(((10 + n.offset) as u16, n.len as u16));
            }
            let names = Run::since(spans_start, &self.spans)?;
            self.records.push(WireRecord { bytes, names });
        }
        let records = Run::since(first, &self.records)?;
        let bytes = Run::since(first_byte, &self.wire)?;
        let plain = self.spans.len() == first_span;
        let target = match (rt, records.of(&self.records).first()) {
            // The CNAME's rdata is its target: the record's bytes after the 10-byte header.
            (RType::CNAME, Some(rec)) => {
                Run { start: rec.bytes.start + 10, len: rec.bytes.len - 10 }
            }
            _ => Run::default(),
        };
        Ok(WireRRset {
            rtype: rt,
            plain,
            bytes,
            records,
            glue_required: Run::default(),
            extra: Run::default(),
            target,
            group: NONE,
        })
    }

    /// Appends the nodes whose addresses follow an NS, MX or SRV RRset into the additional
    /// section: (required glue, optional extras).
    fn additional_targets(
        &mut self,
        set: &RRset,
        rt: RType,
        owner: NodeId,
        zone_map: &FxHashMap<&[u8], NodeId>,
        has_addr: &[bool],
    ) -> Result<(Run, Run), SnapshotError> {
        let at_cut = self.node(owner).cut == Some(owner);
        let mut required: Vec<NodeId> = Vec::new();
        let mut extra: Vec<NodeId> = Vec::new();
        for rdata in &set.rdatas {
            for n in rdata.names(rt) {
                let target = &rdata.as_wire()[n.offset..n.offset + n.len];
                // Referral glue: addresses below the cut come from this zone's (occluded) data.
                if at_cut && turnout_model::name::is_wire_subdomain(target, self.name(owner)) {
                    if let Some(&id) = zone_map.get(target)
                        && has_addr[id as usize]
                        && !required.contains(&id)
                    {
                        required.push(id);
                    }
                    continue;
                }
                // Otherwise only authoritative data: a served node outside any delegation, or
                // (for a referral) sibling glue in the same zone.
                let candidate = self
                    .find(target)
                    .filter(|&id| self.node(id).cut.is_none())
                    .or_else(|| if at_cut { zone_map.get(target).copied() } else { None });
                if let Some(id) = candidate
                    && has_addr[id as usize]
                    && !extra.contains(&id)
                {
                    extra.push(id);
                }
            }
        }
        let start = self.targets.len();
        self.targets.extend_from_slice(&required);
        let required = Run::since(start, &self.targets)?;
        let start = self.targets.len();
        self.targets.extend_from_slice(&extra);
        Ok((required, Run::since(start, &self.targets)?))
    }
}

#[cfg(test)]
pub(crate) mod tests;
