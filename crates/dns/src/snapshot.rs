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

use rustc_hash::FxHashMap;
use turnout_model::{Name, RRset, RType, Zone, ZoneError};

use crate::wire::{CLASS_IN, rtype};

/// Index of a node in [`Snapshot::nodes`].
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
}

/// One record, pre-encoded: `TYPE CLASS TTL RDLENGTH RDATA`.
#[derive(Debug)]
pub(crate) struct WireRecord {
    pub(crate) bytes: Box<[u8]>,
    /// (offset in `bytes`, length) of each name the encoder may compress.
    pub(crate) names: Box<[(u16, u16)]>,
}

/// One RRset, pre-encoded, with what answering it drags along.
#[derive(Debug)]
pub(crate) struct WireRRset {
    pub(crate) rtype: u16,
    pub(crate) records: Box<[WireRecord]>,
    /// Nodes whose A/AAAA must go in the additional section (in-domain glue of a referral,
    /// RFC 9471): if they do not fit, the response is truncated.
    pub(crate) glue_required: Box<[NodeId]>,
    /// Nodes whose A/AAAA go in the additional section if they fit.
    pub(crate) extra: Box<[NodeId]>,
    /// The canonical name of a CNAME RRset.
    pub(crate) target: Option<Box<[u8]>>,
}

/// A name in a zone: its RRsets, or none for an empty non-terminal.
#[derive(Debug)]
pub(crate) struct Node {
    pub(crate) name: Box<[u8]>,
    pub(crate) zone: u32,
    /// The delegation point at or above this node (never the apex), if any: the node is then
    /// not authoritative and queries get a referral.
    pub(crate) cut: Option<NodeId>,
    /// For a zone apex that a less specific served zone delegates: that delegation's node,
    /// which answers DS queries (RFC 4035 §3.1.4.1).
    pub(crate) parent_side: Option<NodeId>,
    /// Sorted by type.
    pub(crate) rrsets: Box<[WireRRset]>,
}

impl Node {
    pub(crate) fn rrset(&self, t: u16) -> Option<&WireRRset> {
        self.rrsets.iter().find(|s| s.rtype == t)
    }
}

#[derive(Debug)]
pub(crate) struct ZoneInfo {
    pub(crate) apex: NodeId,
    /// The apex SOA with TTL min(SOA TTL, MINIMUM), for negative answers.
    pub(crate) negative_soa: WireRRset,
}

/// Everything the query path needs, immutable once built.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub(crate) nodes: Vec<Node>,
    index: FxHashMap<Box<[u8]>, NodeId>,
    pub(crate) zones: Vec<ZoneInfo>,
    /// Which zones it holds, with their serials, for logs and tests.
    summary: Vec<(Name, u32, usize)>,
}

impl Snapshot {
    /// An empty snapshot: every query is refused.
    pub fn empty() -> Self {
        Snapshot::default()
    }

    /// Compiles validated zones into a snapshot.
    pub fn build(zones: &[Zone]) -> Result<Snapshot, SnapshotError> {
        Builder::default().build(zones)
    }

    /// The zones served: apex, SOA serial and record count.
    pub fn zones(&self) -> &[(Name, u32, usize)] {
        &self.summary
    }

    /// The node of `name` (lowercase wire format) in the most specific zone holding it.
    #[inline]
    pub(crate) fn find(&self, name: &[u8]) -> Option<NodeId> {
        self.index.get(name).copied()
    }

    #[inline]
    pub(crate) fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id as usize]
    }

    /// The closest encloser of `name`: the node of its longest existing suffix, and whether
    /// that is `name` itself. `None` when no served zone contains `name`.
    #[inline]
    pub(crate) fn closest_encloser(&self, name: &[u8]) -> Option<(NodeId, bool)> {
        if self.index.is_empty() {
            return None;
        }
        let mut pos = 0;
        loop {
            if let Some(id) = self.find(&name[pos..]) {
                return Some((id, pos == 0));
            }
            let len = usize::from(*name.get(pos)?);
            if len == 0 {
                return None;
            }
            pos += len + 1;
        }
    }

    /// The wildcard `*.<closest encloser>` in the encloser's zone (RFC 4592 §3.3.1).
    #[inline]
    pub(crate) fn wildcard(&self, encloser: NodeId) -> Option<NodeId> {
        let ce = self.node(encloser);
        let mut buf = [0u8; crate::wire::MAX_NAME_LEN + 2];
        let len = ce.name.len() + 2;
        if len > crate::wire::MAX_NAME_LEN {
            return None;
        }
        buf[0] = 1;
        buf[1] = b'*';
        buf[2..len].copy_from_slice(&ce.name);
        let id = self.find(&buf[..len])?;
        (self.node(id).zone == ce.zone).then_some(id)
    }
}

#[derive(Default)]
struct Builder {
    nodes: Vec<Node>,
    /// Per zone: name -> node, including names a more specific zone shadows.
    zone_maps: Vec<FxHashMap<Box<[u8]>, NodeId>>,
}

impl Builder {
    fn build(mut self, zones: &[Zone]) -> Result<Snapshot, SnapshotError> {
        let mut order: Vec<&Zone> = zones.iter().collect();
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
        // The most specific served zone containing a name.
        let owner_zone = |name: &[u8]| -> Option<u32> {
            let mut pos = 0;
            loop {
                if let Some(z) = apexes.get(&name[pos..]) {
                    return Some(*z);
                }
                let len = usize::from(*name.get(pos)?);
                if len == 0 {
                    return None;
                }
                pos += len + 1;
            }
        };

        // 1. Nodes for every owner and every empty non-terminal up to the apex.
        for (zi, z) in order.iter().enumerate() {
            let mut map: FxHashMap<Box<[u8]>, NodeId> = FxHashMap::default();
            let apex_len = z.apex().as_wire().len();
            for (name, _, _) in z.rrsets() {
                let mut w: &[u8] = name.as_wire();
                while w.len() >= apex_len {
                    if map.contains_key(w) {
                        break;
                    }
                    let id = self.nodes.len() as NodeId;
                    self.nodes.push(Node {
                        name: w.into(),
                        zone: zi as u32,
                        cut: None,
                        parent_side: None,
                        rrsets: Box::new([]),
                    });
                    map.insert(w.into(), id);
                    if w.len() == apex_len {
                        break;
                    }
                    w = &w[usize::from(w[0]) + 1..];
                }
            }
            self.zone_maps.push(map);
        }

        // 2. Zone cuts: the highest ancestor-or-self below the apex that holds NS.
        for (zi, z) in order.iter().enumerate() {
            let apex_len = z.apex().as_wire().len();
            let map = &self.zone_maps[zi];
            let with_ns: rustc_hash::FxHashSet<&[u8]> = z
                .rrsets()
                .filter(|(_, t, _)| *t == RType::NS)
                .map(|(n, _, _)| n.as_wire())
                .collect();
            for (name, &id) in map {
                let mut cut = None;
                let mut w: &[u8] = name;
                while w.len() > apex_len {
                    if with_ns.contains(w) {
                        cut = map.get(w).copied();
                    }
                    w = &w[usize::from(w[0]) + 1..];
                }
                self.nodes[id as usize].cut = cut;
            }
        }

        // 3. The global index: each name in its most specific zone only.
        let mut index: FxHashMap<Box<[u8]>, NodeId> = FxHashMap::default();
        for node_id in 0..self.nodes.len() {
            let node = &self.nodes[node_id];
            if owner_zone(&node.name) == Some(node.zone) {
                index.insert(node.name.clone(), node_id as NodeId);
            }
        }

        // 4. The parent side of apexes that a less specific served zone delegates.
        for (zi, z) in order.iter().enumerate() {
            let apex = z.apex().as_wire();
            let Some(parent) = z.apex().parent() else {
                continue;
            };
            let Some(pz) = owner_zone(parent.as_wire()) else {
                continue;
            };
            if let Some(&pid) = self.zone_maps[pz as usize].get(apex) {
                let aid = self.zone_maps[zi][apex];
                self.nodes[aid as usize].parent_side = Some(pid);
            }
        }

        // 5. RRsets, with additional-section targets resolved to nodes that hold addresses.
        let mut has_addr = vec![false; self.nodes.len()];
        for (zi, z) in order.iter().enumerate() {
            for (name, rt, _) in z.rrsets() {
                if rt == RType::A || rt == RType::AAAA {
                    has_addr[self.zone_maps[zi][name.as_wire()] as usize] = true;
                }
            }
        }
        let mut zones_info = Vec::with_capacity(order.len());
        let mut summary = Vec::with_capacity(order.len());
        for (zi, z) in order.iter().enumerate() {
            let map = &self.zone_maps[zi];
            let mut per_node: FxHashMap<NodeId, Vec<WireRRset>> = FxHashMap::default();
            for (name, rt, set) in z.rrsets() {
                let id = map[name.as_wire()];
                let mut w = encode_rrset(rt, set, set.ttl);
                if matches!(rt.0, rtype::NS | rtype::MX | rtype::SRV) {
                    let (required, extra) =
                        self.additional_targets(set, rt, id, map, &index, &has_addr);
                    w.glue_required = required.into();
                    w.extra = extra.into();
                }
                per_node.entry(id).or_default().push(w);
            }
            for (id, mut sets) in per_node {
                sets.sort_by_key(|s| s.rtype);
                self.nodes[id as usize].rrsets = sets.into();
            }
            // validate() guarantees the SOA; this only keeps a broken zone from panicking.
            let (Some((soa_ttl, soa)), Some(soa_set)) = (z.soa(), z.get(z.apex(), RType::SOA))
            else {
                let errors = vec![ZoneError::NoSoa(z.apex().clone())];
                return Err(SnapshotError::InvalidZone { apex: z.apex().clone(), errors });
            };
            zones_info.push(ZoneInfo {
                apex: map[z.apex().as_wire()],
                negative_soa: encode_rrset(RType::SOA, soa_set, soa_ttl.min(soa.minimum)),
            });
            summary.push((z.apex().clone(), soa.serial, z.record_count()));
        }
        Ok(Snapshot { nodes: self.nodes, index, zones: zones_info, summary })
    }

    /// The nodes whose addresses follow an NS, MX or SRV RRset into the additional section.
    fn additional_targets(
        &self,
        set: &RRset,
        rt: RType,
        owner: NodeId,
        zone_map: &FxHashMap<Box<[u8]>, NodeId>,
        index: &FxHashMap<Box<[u8]>, NodeId>,
        has_addr: &[bool],
    ) -> (Vec<NodeId>, Vec<NodeId>) {
        let at_cut = self.nodes[owner as usize].cut == Some(owner);
        let owner = &self.nodes[owner as usize].name;
        let mut required = Vec::new();
        let mut extra = Vec::new();
        for rdata in &set.rdatas {
            for n in rdata.names(rt) {
                let target = &rdata.as_wire()[n.offset..n.offset + n.len];
                let has_address = |id: NodeId| has_addr[id as usize];
                // Referral glue: addresses below the cut come from this zone's (occluded) data.
                if at_cut && turnout_model::name::is_wire_subdomain(target, owner) {
                    if let Some(&id) = zone_map.get(target)
                        && has_address(id)
                        && !required.contains(&id)
                    {
                        required.push(id);
                    }
                    continue;
                }
                // Otherwise only authoritative data: a served node outside any delegation, or
                // (for a referral) sibling glue in the same zone.
                let candidate = index
                    .get(target)
                    .copied()
                    .filter(|&id| self.nodes[id as usize].cut.is_none())
                    .or_else(|| if at_cut { zone_map.get(target).copied() } else { None });
                if let Some(id) = candidate
                    && has_address(id)
                    && !extra.contains(&id)
                {
                    extra.push(id);
                }
            }
        }
        (required, extra)
    }
}

fn encode_rrset(rt: RType, set: &RRset, ttl: u32) -> WireRRset {
    let mut records = Vec::with_capacity(set.rdatas.len());
    for rdata in &set.rdatas {
        let rd = rdata.as_wire();
        let mut bytes = Vec::with_capacity(10 + rd.len());
        bytes.extend_from_slice(&rt.0.to_be_bytes());
        bytes.extend_from_slice(&CLASS_IN.to_be_bytes());
        bytes.extend_from_slice(&ttl.to_be_bytes());
        bytes.extend_from_slice(&(rd.len() as u16).to_be_bytes());
        bytes.extend_from_slice(rd);
        let names: Vec<(u16, u16)> = rdata
            .names(rt)
            .into_iter()
            .filter(|n| n.compressible)
            .map(|n| ((10 + n.offset) as u16, n.len as u16))
            .collect();
        records.push(WireRecord { bytes: bytes.into(), names: names.into() });
    }
    let target = (rt == RType::CNAME)
        .then(|| set.rdatas.first().map(|r| Box::<[u8]>::from(r.as_wire())))
        .flatten();
    WireRRset {
        rtype: rt.0,
        records: records.into(),
        glue_required: Box::new([]),
        extra: Box::new([]),
        target,
    }
}

#[cfg(test)]
pub(crate) mod tests;
