//! The immutable answer snapshot: every served zone compiled for lookup and pre-encoded for the
//! wire.
//!
//! A [`Snapshot`] is an index over per-zone compiled parts ([`ZonePart`]): a change recompiles
//! only the zones it touched, and the new snapshot shares every other part with the one it
//! replaces (see [`crate::SnapshotHandle`]); the query path only reads it. Compiling a zone does
//! the work a query would otherwise repeat: a hash index from every name of the zone to its
//! node, empty non-terminals as nodes, the delegation (zone cut) above each node, records
//! encoded as `TYPE CLASS TTL RDLENGTH RDATA` with the offsets of compressible names, referral
//! glue resolved to nodes, and the zone's SOA with its negative TTL (RFC 2308 §3).
//!
//! Nothing in a part points into another zone, so a part stays valid when other zones change:
//! what crosses zones (the most specific zone holding a name, the parent side of a delegated
//! apex for DS, RFC 4035 §3.1.4.1, and additional-section addresses served by another zone) is
//! looked up in the snapshot's zone index at query time.

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
    /// Chunks that do not fit their zone: not one per bound, bounds out of order, a chunk
    /// compiled as a whole zone, or a home part compiled as a chunk.
    #[error("zone {0}: its chunks do not match their bounds")]
    BadChunks(Name),
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
    /// Names whose A/AAAA go in the additional section if they fit (in `extras`).
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
    /// The type of its RRset.
    pub(crate) rtype: RType,
    /// In `members` (and `member_info`): in set-id order, a failover group's primary first.
    pub(crate) members: Run,
    /// IP-based: its table in `cidr_tables`; [`NONE`] otherwise.
    pub(crate) table: u32,
    /// Healthy members it needs to count as healthy for an alias with evaluate-target-health
    /// (`min_healthy`, at least 1).
    pub(crate) min_healthy: u16,
    /// Failover: the percentage of answers the secondary gets while both are healthy.
    pub(crate) trickle: u8,
}

/// An IP-based group's networks: which member each network's location is.
#[derive(Debug, Default, Clone)]
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
    /// Geolocation: the location's key ([`crate::locate::geo_key`]); latency: the region's
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
    /// The delegation point at or above this node (never the apex), if any: the node is then
    /// not authoritative and queries get a referral.
    pub(crate) cut: Option<NodeId>,
    /// Sorted by type.
    rrsets: Run,
}

/// A name whose addresses go in the additional section if they fit: resolved at query time,
/// since the zone that serves it may be another one.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Extra {
    /// The name, lowercase wire format, in the wire arena (inside the record that names it).
    name: Run,
    /// For an RRset at a delegation point: the node of that name in this zone (sibling glue),
    /// when it holds addresses; [`ELSEWHERE`] when it may be in another chunk of this zone
    /// (looked up at query time); [`NONE`] otherwise.
    pub(crate) sibling: NodeId,
}

/// [`Extra::sibling`] of a chunk: the name is in this zone but not in this chunk.
pub(crate) const ELSEWHERE: u32 = u32::MAX - 1;

/// One zone compiled for lookup: the unit a change recompiles.
///
/// The data lives in a few flat arenas (names, nodes, RRsets, records, record bytes) addressed
/// by 32-bit runs, not in one allocation per record: a large zone costs a handful of big
/// allocations, which stay compact in memory and go back to the OS when a change replaces it.
#[derive(Debug, Default, Clone)]
pub struct ZonePart {
    /// Node names, lowercase wire format, back to back.
    names: Vec<u8>,
    nodes: Vec<Node>,
    /// Node ids, hashed by name: one lookup per label of the query name at most.
    index: HashTable<NodeId>,
    rrsets: Vec<WireRRset>,
    records: Vec<WireRecord>,
    spans: Vec<(u16, u16)>,
    wire: Vec<u8>,
    /// Required glue: nodes of this zone below a delegation.
    targets: Vec<NodeId>,
    extras: Vec<Extra>,
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
    apex: NodeId,
    /// The apex SOA with TTL min(SOA TTL, MINIMUM), for negative answers (index in `rrsets`).
    negative_soa: u32,
    /// Where clients are (a geolocation database, a latency map), shared by every part.
    pub(crate) locator: Option<Arc<crate::locate::Locator>>,
    /// The apex, its SOA serial and its record count, for logs (a chunk has none).
    summary: Option<(Name, u32, usize)>,
    /// A chunk of a large zone: some of its names only, no SOA, and an apex node that is only
    /// a placeholder (the zone's home part holds the apex). See [`ZoneParts`].
    chunk: bool,
    /// How many records it holds.
    count: usize,
    /// Every query for the zone is answered SERVFAIL: a secondary zone not loaded yet, or
    /// expired (RFC 1035 §4.3.5). See [`ZonePart::mark_unavailable`].
    unavailable: bool,
    /// Queries for the zone (counted in its home part), for metrics.
    pub(crate) zone_hits: crate::stats::Hits,
    /// Answers by member (as `members`), for metrics.
    pub(crate) member_hits: crate::stats::Hits,
    /// The zone's keys, when it is signed (DNSSEC; on its home part).
    signer: Option<Arc<crate::dnssec::ZoneSigner>>,
}

#[inline]
fn hash_name(name: &[u8]) -> u64 {
    FxBuildHasher.hash_one(name)
}

/// Shards of the snapshot's name index: a change rewrites only the shards that hold the names
/// of the zones it touched, and the next snapshot shares the others.
const SHARDS: usize = 1024;

/// Which shard a name's hash goes to: bits that neither the bucket index (low bits) nor the
/// control tag (top 7 bits) of the shard's hash table use, so entries spread within a shard.
#[inline]
fn shard_of(hash: u64) -> usize {
    (hash >> 40) as usize % SHARDS
}

/// An entry of the name index: a node of a part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    zone: u32,
    node: NodeId,
}

/// [`Snapshot::home`] of a part number that no zone uses.
const FREE: u32 = u32::MAX;

/// A zone's compiled parts, as the snapshot serves them.
///
/// A zone is one part, or (a large zone, so that a change recompiles only a small piece of it)
/// a *home* part with the apex's RRsets and the SOA, and chunks: chunk `i` holds every name
/// whose first label below the apex is at least `bounds[i]` and below `bounds[i + 1]` (labels
/// compared as lowercase bytes, the canonical order of RFC 4034 §6.1). Everything a name's
/// answer needs sits in the chunk of its first label (its ancestors below the apex, the zone cut
/// above it, the wildcard `*.<name>`, glue below a cut); what crosses chunks (the apex, the
/// wildcard at the apex, sibling glue, the parent side of a delegation) is found through
/// [`chunk_index`] at query time. A zone with alias records is compiled whole: an alias member
/// points at its target's RRset in the same part.
#[derive(Debug, Clone)]
pub struct ZoneParts {
    /// The apex (the whole zone when there are no chunks).
    pub home: Arc<ZonePart>,
    /// The chunks, one per bound.
    pub chunks: Vec<Arc<ZonePart>>,
    /// The lowest first label of each chunk; the first is empty (every label is at least that).
    pub bounds: Arc<[Box<[u8]>]>,
}

impl ZoneParts {
    /// A zone compiled whole.
    pub fn whole(part: Arc<ZonePart>) -> Self {
        ZoneParts { home: part, chunks: Vec::new(), bounds: Arc::from(Vec::new()) }
    }

    /// Whether `other` is the same parts (the same allocations).
    pub fn same(&self, other: &ZoneParts) -> bool {
        Arc::ptr_eq(&self.home, &other.home)
            && self.chunks.len() == other.chunks.len()
            && self.chunks.iter().zip(&other.chunks).all(|(a, b)| Arc::ptr_eq(a, b))
    }

    /// Bytes held by its parts.
    pub fn heap_bytes(&self) -> usize {
        self.home.heap_bytes() + self.chunks.iter().map(|c| c.heap_bytes()).sum::<usize>()
    }

    fn check(&self, apex: &Name) -> Result<(), SnapshotError> {
        let bad = || SnapshotError::BadChunks(apex.clone());
        let ordered = self.bounds.windows(2).all(|w| w[0] < w[1]);
        let first_empty = self.bounds.first().is_none_or(|b| b.is_empty());
        if self.home.chunk
            || self.chunks.len() != self.bounds.len()
            || !ordered
            || !first_empty
            || self.chunks.iter().any(|c| !c.chunk)
            || self.chunks.iter().any(|c| !c.is_hole() && c.apex_wire() != apex.as_wire())
        {
            return Err(bad());
        }
        Ok(())
    }
}

/// The first label of `name` below the apex (`apex_len` bytes of wire format at its end); None
/// for the apex itself.
#[inline]
pub fn first_label_below(name: &[u8], apex_len: usize) -> Option<&[u8]> {
    let s = suffixes(name).take_while(|s| s.len() > apex_len).last()?;
    s.get(1..=usize::from(*s.first()?))
}

/// Which chunk holds names whose first label below the apex is `label` (see [`ZoneParts`]).
#[inline]
pub fn chunk_index(bounds: &[Box<[u8]>], label: &[u8]) -> usize {
    bounds.partition_point(|b| b.as_ref() <= label).saturating_sub(1)
}

/// A chunked zone's chunks, by part number.
#[derive(Debug)]
struct Chunks {
    bounds: Arc<[Box<[u8]>]>,
    parts: Vec<u32>,
}

/// Everything the query path needs, immutable once built: the served zones' parts and one
/// index from every name to its node in the most specific zone holding it.
///
/// A change builds the next snapshot from the current one ([`Snapshot::update`]): the parts of
/// untouched zones (and untouched chunks of a chunked zone) are shared, and only the index
/// shards holding the names of the parts it replaced are copied and rewritten.
#[derive(Debug)]
pub struct Snapshot {
    /// Parts by number; a removed part leaves a slot ([`FREE`] in `home`) that the next new
    /// part takes.
    parts: Vec<Arc<ZonePart>>,
    /// Each part's zone, as the number of the zone's home part ([`FREE`]: an unused slot).
    home: Vec<u32>,
    /// Whether each part's zone is chunked (read on the query path: cheaper than `chunks`).
    split: Vec<bool>,
    /// The chunked zones' chunks, by home part number.
    chunks: FxHashMap<u32, Arc<Chunks>>,
    /// Name -> node, split by hash into shards; each name is in its most specific zone only.
    shards: Box<[Arc<HashTable<Entry>>]>,
    /// Home part numbers, hashed by apex name.
    apexes: HashTable<u32>,
    locator: Option<Arc<crate::locate::Locator>>,
    /// Which zones it holds, with their serials and record counts, for logs.
    summary: Vec<(Name, u32, usize)>,
    /// Signatures made for DNSSEC answers, shared by the snapshots that follow this one.
    pub(crate) signatures: Arc<crate::dnssec::cache::SigCache>,
}

impl Default for Snapshot {
    fn default() -> Self {
        let shard = Arc::new(HashTable::new());
        Snapshot {
            parts: Vec::new(),
            home: Vec::new(),
            split: Vec::new(),
            chunks: FxHashMap::default(),
            shards: (0..SHARDS).map(|_| Arc::clone(&shard)).collect(),
            apexes: HashTable::new(),
            locator: None,
            summary: Vec::new(),
            signatures: Arc::default(),
        }
    }
}

impl Snapshot {
    /// An empty snapshot: every query is refused.
    pub fn empty() -> Self {
        Snapshot::default()
    }

    /// Compiles validated zones into a snapshot.
    pub fn build<'z>(zones: impl IntoIterator<Item = &'z Zone>) -> Result<Snapshot, SnapshotError> {
        let parts: Result<Vec<_>, _> =
            zones.into_iter().map(|z| ZonePart::build(z, None).map(Arc::new)).collect();
        Snapshot::assemble(parts?, None)
    }

    /// A snapshot of compiled parts, each of them compiled with `locator`. Refuses two parts
    /// with the same apex.
    pub fn assemble(
        parts: impl IntoIterator<Item = Arc<ZonePart>>,
        locator: Option<Arc<crate::locate::Locator>>,
    ) -> Result<Snapshot, SnapshotError> {
        let mut snap = Snapshot { locator, ..Snapshot::default() };
        let mut seen = FxHashSet::default();
        let mut changes = Vec::new();
        for part in parts {
            let apex = part.apex_name();
            if !seen.insert(apex.clone()) {
                return Err(SnapshotError::DuplicateZone(apex));
            }
            changes.push((apex, Some(ZoneParts::whole(part))));
        }
        snap.apply(changes)?;
        Ok(snap)
    }

    /// The next snapshot: this one with each zone of `changes` replaced by its new part,
    /// added, or (`None`) removed. Every other zone's part, and every index shard that holds
    /// none of the changed zones' names, is shared with this snapshot.
    pub fn update(
        &self,
        changes: impl IntoIterator<Item = (Name, Option<Arc<ZonePart>>)>,
    ) -> Result<Snapshot, SnapshotError> {
        self.update_zones(changes.into_iter().map(|(a, p)| (a, p.map(ZoneParts::whole))))
    }

    /// [`Snapshot::update`] with zones given as [`ZoneParts`]: of a zone whose bounds did not
    /// change, only the parts that are not the same allocation as the served ones are
    /// re-indexed.
    pub fn update_zones(
        &self,
        changes: impl IntoIterator<Item = (Name, Option<ZoneParts>)>,
    ) -> Result<Snapshot, SnapshotError> {
        let mut next = Snapshot {
            parts: self.parts.clone(),
            home: self.home.clone(),
            split: self.split.clone(),
            chunks: self.chunks.clone(),
            shards: self.shards.clone(),
            apexes: self.apexes.clone(),
            locator: self.locator.clone(),
            summary: Vec::new(),
            signatures: Arc::clone(&self.signatures),
        };
        next.apply(changes.into_iter().collect())?;
        Ok(next)
    }

    /// A free part number, holding `part` for zone `home` (`FREE`: the part is a home).
    fn alloc(&mut self, part: Arc<ZonePart>, home: u32) -> Result<u32, SnapshotError> {
        let z = match self.home.iter().position(|&h| h == FREE) {
            Some(free) => free,
            None => {
                self.parts.push(Arc::default());
                self.home.push(FREE);
                self.split.push(false);
                self.parts.len() - 1
            }
        };
        let z = u32::try_from(z).map_err(|_| SnapshotError::TooLarge)?;
        self.parts[z as usize] = part;
        self.home[z as usize] = if home == FREE { z } else { home };
        self.split[z as usize] = false;
        Ok(z)
    }

    /// Frees a part number.
    fn release(&mut self, z: u32) {
        self.parts[z as usize] = Arc::default();
        self.home[z as usize] = FREE;
        self.split[z as usize] = false;
    }

    /// Every part number of the zone whose home is `home`.
    fn zone_parts(&self, home: u32) -> Vec<u32> {
        let mut out = vec![home];
        if let Some(c) = self.chunks.get(&home) {
            out.extend(&c.parts);
        }
        out
    }

    fn apply(&mut self, changes: Vec<(Name, Option<ZoneParts>)>) -> Result<(), SnapshotError> {
        for (apex, parts) in &changes {
            if let Some(p) = parts {
                p.check(apex)?;
            }
        }
        // 1. Take the names of every part that changes out of the index. A zone that appears
        //    or goes away changes which names its nearest served ancestor zone indexes
        //    (RFC 1034 §4.3.2: a name belongs to the most specific zone holding it), so that
        //    ancestor is re-indexed too.
        let mut reindex: Vec<u32> = Vec::new();
        // The ancestors, found before any name leaves the index (a zone that changes may be
        // one of them).
        let mut ancestors: Vec<u32> = Vec::new();
        for (apex, new) in &changes {
            if self.zone_number(apex.as_wire()).is_none() != new.is_none()
                && let Some(z) =
                    apex.parent().and_then(|p| self.closest_encloser(p.as_wire())).map(|c| c.0)
            {
                ancestors.push(self.home_of(z));
            }
        }
        // Zones (home numbers) whose every part left the index.
        let mut full: Vec<u32> = Vec::new();
        for (apex, new) in &changes {
            let Some(h) = self.zone_number(apex.as_wire()) else { continue };
            match (new, self.chunks.get(&h).cloned()) {
                // The same bounds: only the parts that changed.
                (Some(new), Some(c)) if Arc::ptr_eq(&c.bounds, &new.bounds) => {
                    if !Arc::ptr_eq(&self.parts[h as usize], &new.home) {
                        self.unindex(h);
                    }
                    for (&z, part) in c.parts.iter().zip(&new.chunks) {
                        if !Arc::ptr_eq(&self.parts[z as usize], part) {
                            self.unindex(z);
                        }
                    }
                }
                (Some(new), None) if new.chunks.is_empty() => {
                    if !Arc::ptr_eq(&self.parts[h as usize], &new.home) {
                        self.unindex(h);
                    }
                }
                _ => {
                    for z in self.zone_parts(h) {
                        self.unindex(z);
                    }
                    full.push(h);
                }
            }
        }
        for h in ancestors {
            if !reindex.contains(&h) {
                for z in self.zone_parts(h) {
                    self.unindex(z);
                    reindex.push(z);
                }
            }
        }
        // 2. Swap the parts.
        for (apex, new) in changes {
            let wire = apex.as_wire();
            match (self.zone_number(wire), new) {
                (Some(h), Some(new)) => {
                    let full = full.contains(&h);
                    if full || !Arc::ptr_eq(&self.parts[h as usize], &new.home) {
                        self.parts[h as usize] = new.home;
                        reindex.push(h);
                    }
                    let old = self.chunks.get(&h).cloned();
                    match old {
                        Some(c) if !full && Arc::ptr_eq(&c.bounds, &new.bounds) => {
                            for (&z, part) in c.parts.iter().zip(new.chunks) {
                                if !Arc::ptr_eq(&self.parts[z as usize], &part) {
                                    self.parts[z as usize] = part;
                                    reindex.push(z);
                                }
                            }
                        }
                        old => {
                            for &z in old.iter().flat_map(|c| &c.parts) {
                                self.release(z);
                                reindex.retain(|&r| r != z);
                            }
                            self.chunks.remove(&h);
                            self.split[h as usize] = false;
                            self.add_chunks(h, new.chunks, new.bounds, &mut reindex)?;
                        }
                    }
                }
                (Some(h), None) => {
                    for z in self.zone_parts(h) {
                        self.release(z);
                        reindex.retain(|&r| r != z);
                    }
                    self.chunks.remove(&h);
                    let hash = hash_name(wire);
                    if let Ok(e) = self.apexes.find_entry(hash, |&i| i == h) {
                        e.remove();
                    }
                }
                (None, Some(new)) => {
                    let h = self.alloc(new.home, FREE)?;
                    let parts = &self.parts;
                    let apex_of = |&i: &u32| hash_name(parts[i as usize].apex_wire());
                    self.apexes.insert_unique(hash_name(wire), h, apex_of);
                    reindex.push(h);
                    self.add_chunks(h, new.chunks, new.bounds, &mut reindex)?;
                }
                (None, None) => {}
            }
        }
        // 3. Index the new parts' names (and the ancestors' again), each in its most specific
        //    zone only.
        reindex.sort_unstable();
        reindex.dedup();
        for z in reindex {
            self.index(z);
        }
        self.summary = self
            .parts
            .iter()
            .enumerate()
            .filter_map(|(z, p)| {
                let (apex, serial, count) = p.summary.clone()?;
                let chunks = self.chunks.get(&(z as u32)).map_or(0, |c| {
                    c.parts.iter().map(|&c| self.parts[c as usize].count).sum::<usize>()
                });
                Some((apex, serial, count + chunks))
            })
            .collect();
        Ok(())
    }

    /// Gives the chunks of the zone whose home is `h` part numbers, to be indexed.
    fn add_chunks(
        &mut self,
        h: u32,
        chunks: Vec<Arc<ZonePart>>,
        bounds: Arc<[Box<[u8]>]>,
        reindex: &mut Vec<u32>,
    ) -> Result<(), SnapshotError> {
        if chunks.is_empty() {
            return Ok(());
        }
        let mut parts = Vec::with_capacity(chunks.len());
        for chunk in chunks {
            let z = self.alloc(chunk, h)?;
            self.split[z as usize] = true;
            parts.push(z);
            reindex.push(z);
        }
        self.split[h as usize] = true;
        self.chunks.insert(h, Arc::new(Chunks { bounds, parts }));
        Ok(())
    }

    /// The number of the zone with this apex (lowercase wire format): its home part.
    fn zone_number(&self, apex: &[u8]) -> Option<u32> {
        self.apexes.find(hash_name(apex), |&i| self.apex_is(i, apex)).copied()
    }

    fn apex_is(&self, zone: u32, apex: &[u8]) -> bool {
        self.parts[zone as usize].apex_wire() == apex
    }

    /// The nodes of part `zone` that the index holds: all of them, but a chunk's placeholder
    /// apex (the home part's apex is the zone's).
    fn indexed_nodes(part: &ZonePart) -> impl Iterator<Item = NodeId> + '_ {
        (0..part.nodes.len() as NodeId).filter(move |&n| !(part.chunk && n == part.apex))
    }

    /// Removes the index entries of part `zone`'s nodes.
    fn unindex(&mut self, zone: u32) {
        let part = Arc::clone(&self.parts[zone as usize]);
        for node in Self::indexed_nodes(&part) {
            let hash = hash_name(part.name(node));
            let shard = Arc::make_mut(&mut self.shards[shard_of(hash)]);
            if let Ok(e) = shard.find_entry(hash, |e| *e == Entry { zone, node }) {
                e.remove();
            }
        }
    }

    /// Adds the index entries of part `zone`'s nodes, except those a more specific served zone
    /// holds.
    fn index(&mut self, zone: u32) {
        let part = Arc::clone(&self.parts[zone as usize]);
        if part.is_hole() {
            return;
        }
        let apex = part.name(part.apex);
        // Served zones below this one: their names are theirs.
        let below: Vec<Arc<ZonePart>> = self
            .apexes
            .iter()
            .map(|&h| &self.parts[h as usize])
            .filter(|p| {
                let a = p.apex_wire();
                a.len() > apex.len() && turnout_model::name::is_wire_subdomain(a, apex)
            })
            .cloned()
            .collect();
        for node in Self::indexed_nodes(&part) {
            let name = part.name(node);
            if below.iter().any(|b| turnout_model::name::is_wire_subdomain(name, b.name(b.apex))) {
                continue;
            }
            let hash = hash_name(name);
            let parts = &self.parts;
            let shard = Arc::make_mut(&mut self.shards[shard_of(hash)]);
            let rehash = |e: &Entry| hash_name(parts[e.zone as usize].name(e.node));
            shard.insert_unique(hash, Entry { zone, node }, rehash);
        }
    }

    /// The same snapshot, locating clients with `locator` (for location-based policies):
    /// latency records get their region's index in the latency map, geoproximity records
    /// named by region get its coordinates. A part shared with another snapshot is copied.
    pub fn with_locator(mut self, locator: Arc<crate::locate::Locator>) -> Self {
        for part in self.parts.iter_mut().filter(|p| !p.is_hole()) {
            Arc::make_mut(part).locate(Arc::clone(&locator));
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

    /// The home part of the zone with apex `apex` (the whole zone unless it is chunked), when
    /// it is served.
    pub fn part_of(&self, apex: &Name) -> Option<&Arc<ZonePart>> {
        let z = self.zone_number(apex.as_wire())?;
        Some(&self.parts[z as usize])
    }

    /// Whether the zone with apex `apex` is served from exactly `parts` (the same
    /// allocations): what [`ZoneParts::same`] says of [`Snapshot::parts_of`], without building
    /// the served zone's parts.
    pub fn serves(&self, apex: &Name, parts: &ZoneParts) -> bool {
        let Some(h) = self.zone_number(apex.as_wire()) else { return false };
        let served = self.chunks.get(&h).map_or(&[][..], |c| &c.parts[..]);
        Arc::ptr_eq(&self.parts[h as usize], &parts.home)
            && served.len() == parts.chunks.len()
            && served
                .iter()
                .zip(&parts.chunks)
                .all(|(&z, c)| Arc::ptr_eq(&self.parts[z as usize], c))
    }

    /// Every part of the zone with apex `apex`, when it is served.
    pub fn parts_of(&self, apex: &Name) -> Option<ZoneParts> {
        let h = self.zone_number(apex.as_wire())?;
        let home = Arc::clone(&self.parts[h as usize]);
        Some(match self.chunks.get(&h) {
            None => ZoneParts::whole(home),
            Some(c) => ZoneParts {
                home,
                chunks: c.parts.iter().map(|&z| Arc::clone(&self.parts[z as usize])).collect(),
                bounds: Arc::clone(&c.bounds),
            },
        })
    }

    /// Bytes held by the parts' arenas and indexes and by the name index (for logs and
    /// benchmarks).
    pub fn heap_bytes(&self) -> usize {
        self.parts.iter().map(|p| p.heap_bytes()).sum::<usize>()
            + self
                .shards
                .iter()
                .map(|s| s.capacity() * (std::mem::size_of::<Entry>() + 1))
                .sum::<usize>()
    }

    /// Queries counted for each served zone (see [`crate::stats`]), in no particular order.
    pub fn zone_counts(&self) -> Vec<crate::stats::ZoneCount> {
        self.parts
            .iter()
            .zip(&self.home)
            .enumerate()
            .filter(|&(i, (_, h))| *h == i as u32)
            .map(|(_, (p, _))| crate::stats::ZoneCount {
                zone: p.apex_name(),
                queries: p.zone_hits.get(0),
            })
            .collect()
    }

    /// Answers counted for each policy-group member of the zones `wanted` says yes to.
    pub fn member_counts(
        &self,
        mut wanted: impl FnMut(&Name) -> bool,
    ) -> Vec<crate::stats::MemberCount> {
        let mut out = Vec::new();
        for (i, part) in self.parts.iter().enumerate() {
            if self.home[i] == FREE || part.groups.is_empty() {
                continue;
            }
            let zone = self.parts[self.home[i] as usize].apex_name();
            if !wanted(&zone) {
                continue;
            }
            part.each_member(|name, rtype, set_id, answers, healthy| {
                out.push(crate::stats::MemberCount {
                    zone: zone.clone(),
                    name: Name::from_wire(name).unwrap_or_else(|_| Name::root()),
                    rtype,
                    set_id: set_id.to_owned(),
                    answers,
                    healthy,
                });
            });
        }
        out
    }

    /// Adds the counts of the parts of `retired` (a snapshot this one replaced, that nothing
    /// reads any more) that this one does not share to their successors here: the same zone,
    /// and the member with the same owner, type and set identifier. Counters then run on
    /// across changes instead of starting over.
    pub fn carry_counts(&self, retired: &Snapshot) {
        let shared: FxHashSet<*const ZonePart> = retired.parts.iter().map(Arc::as_ptr).collect();
        let served: FxHashSet<*const ZonePart> = self.parts.iter().map(Arc::as_ptr).collect();
        let new_parts = || {
            self.parts
                .iter()
                .zip(&self.home)
                .filter(|(p, h)| **h != FREE && !shared.contains(&Arc::as_ptr(p)))
        };
        let mut members: FxHashMap<(&[u8], RType, &str), (&ZonePart, usize)> = FxHashMap::default();
        for (part, _) in new_parts() {
            for g in &part.groups {
                for i in g.members.start as usize..(g.members.start + g.members.len) as usize {
                    let key = (part.name(g.owner), g.rtype, &*part.member_info[i].set_id);
                    members.insert(key, (part, i));
                }
            }
        }
        for (i, old) in retired.parts.iter().enumerate() {
            let home = retired.home[i];
            if home == FREE || served.contains(&Arc::as_ptr(old)) {
                continue;
            }
            if home == i as u32
                && let Some(new) = self.zone_number(old.apex_wire())
                && !shared.contains(&Arc::as_ptr(&self.parts[new as usize]))
            {
                self.parts[new as usize].zone_hits.add(0, old.zone_hits.get(0));
            }
            for g in &old.groups {
                for m in g.members.start as usize..(g.members.start + g.members.len) as usize {
                    let key = (old.name(g.owner), g.rtype, &*old.member_info[m].set_id);
                    if let Some((part, at)) = members.get(&key) {
                        part.member_hits.add(*at, old.member_hits.get(m));
                    }
                }
            }
        }
    }

    /// A part by number (one that the index or a part refers to: it is served).
    #[inline]
    pub(crate) fn part(&self, zone: u32) -> &ZonePart {
        &self.parts[zone as usize]
    }

    /// The home part of part `zone`'s zone: its apex, and its SOA for negative answers.
    #[inline]
    pub(crate) fn home_of(&self, zone: u32) -> u32 {
        self.home[zone as usize]
    }

    /// The node of `name` (lowercase wire format) in the most specific zone holding it.
    #[inline]
    fn find(&self, name: &[u8]) -> Option<Entry> {
        let hash = hash_name(name);
        self.shards[shard_of(hash)]
            .find(hash, |e| self.parts[e.zone as usize].name(e.node) == name)
            .copied()
    }

    /// The node of `name` (at or below the apex) in the zone of part `zone`, including names
    /// below a delegation and names a more specific zone serves: in the chunk that holds it.
    pub(crate) fn find_in_zone(&self, zone: u32, name: &[u8]) -> Option<(u32, NodeId)> {
        let h = self.home_of(zone);
        let part = match self.chunks.get(&h) {
            Some(c) => {
                let apex_len = self.part(h).apex_wire().len();
                match first_label_below(name, apex_len) {
                    Some(label) => c.parts[chunk_index(&c.bounds, label)],
                    None => h,
                }
            }
            None => h,
        };
        self.part(part).find(name).map(|n| (part, n))
    }

    /// The wildcard `*.<encloser>` (RFC 4592 §3.3.1) for a closest encloser in part `zone`.
    #[inline(always)]
    pub(crate) fn wildcard(&self, zone: u32, encloser: NodeId) -> Option<(u32, NodeId)> {
        let part = self.part(zone);
        if let Some(w) = part.wildcard(encloser) {
            return Some((zone, w));
        }
        // Below the apex, the wildcard is in the encloser's chunk (the same first label); at
        // the apex of a chunked zone, in the chunk of `*`.
        if encloser != part.apex || !self.split[zone as usize] {
            return None;
        }
        self.wildcard_at_split_apex(zone, encloser)
    }

    /// The wildcard at the apex of a chunked zone: in the chunk of `*` (kept out of line, so
    /// that the common path above does not set up its buffer).
    #[cold]
    #[inline(never)]
    fn wildcard_at_split_apex(&self, zone: u32, encloser: NodeId) -> Option<(u32, NodeId)> {
        below_star(self.part(zone).name(encloser), |name| self.find_in_zone(zone, name))
    }

    /// The closest encloser of `name`: the zone and node of its longest existing suffix, and
    /// whether that is `name` itself. `None` when no served zone contains `name`.
    #[inline]
    pub(crate) fn closest_encloser(&self, name: &[u8]) -> Option<(u32, NodeId, bool)> {
        if self.apexes.is_empty() {
            return None;
        }
        suffixes(name).find_map(|s| self.find(s).map(|e| (e.zone, e.node, s.len() == name.len())))
    }

    /// The node of `name` where it is authoritative data: in the most specific zone holding
    /// it, not below a delegation.
    #[inline]
    pub(crate) fn authoritative(&self, name: &[u8]) -> Option<(u32, NodeId)> {
        let e = self.find(name)?;
        self.part(e.zone).node(e.node).cut.is_none().then_some((e.zone, e.node))
    }

    /// For a zone whose apex a less specific served zone holds too (its delegation): that
    /// zone and node, which answer DS queries (RFC 4035 §3.1.4.1).
    pub(crate) fn parent_side(&self, zone: u32) -> Option<(u32, NodeId)> {
        let part = self.part(zone);
        let apex = part.name(part.apex);
        let (pz, _, _) = self.closest_encloser(suffixes(apex).nth(1)?)?;
        self.find_in_zone(pz, apex)
    }
}

impl ZonePart {
    /// Compiles one validated zone, locating clients with `locator` when given (see
    /// [`Snapshot::with_locator`]).
    pub fn build(
        zone: &Zone,
        locator: Option<&Arc<crate::locate::Locator>>,
    ) -> Result<ZonePart, SnapshotError> {
        let errors = zone.validate();
        if !errors.is_empty() {
            return Err(SnapshotError::InvalidZone { apex: zone.apex().clone(), errors });
        }
        ZonePart::build_validated(zone, locator)
    }

    /// [`ZonePart::build`] for a zone whose rules were just checked (what
    /// `turnout_model::compile::compile_zone` returns): the rules are not checked again. A zone
    /// that breaks them still gets an error or a part, never a panic.
    pub fn build_validated(
        zone: &Zone,
        locator: Option<&Arc<crate::locate::Locator>>,
    ) -> Result<ZonePart, SnapshotError> {
        let mut part = build(zone, false)?;
        if let Some(l) = locator {
            part.locate(Arc::clone(l));
        }
        Ok(part)
    }

    /// [`ZonePart::build_validated`] for a chunk of a large zone: `zone` holds the chunk's
    /// RRsets only (no SOA: the home part has it), each name checked with
    /// [`Zone::validate_names`]. See [`ZoneParts`].
    pub fn build_chunk(
        zone: &Zone,
        locator: Option<&Arc<crate::locate::Locator>>,
    ) -> Result<ZonePart, SnapshotError> {
        let mut part =
            if zone.rrsets().next().is_none() { ZonePart::default() } else { build(zone, true)? };
        part.chunk = true;
        if let Some(l) = locator {
            part.locate(Arc::clone(l));
        }
        Ok(part)
    }

    /// Makes every query for the zone SERVFAIL (a secondary zone not loaded yet, or expired):
    /// the part keeps its apex, so the zone stays this server's, but answers nothing.
    pub fn mark_unavailable(&mut self) {
        self.unavailable = true;
    }

    /// Whether every query for the zone is answered SERVFAIL.
    #[inline]
    pub fn is_unavailable(&self) -> bool {
        self.unavailable
    }

    /// Signs the zone's answers with `signer`'s keys (set on its home part, after
    /// [`crate::dnssec::ZoneSigner::publish`] put its DNSKEYs into the zone it was built from).
    pub fn set_signer(&mut self, signer: Option<Arc<crate::dnssec::ZoneSigner>>) {
        self.signer = signer;
    }

    /// The zone's signer, if it is signed.
    pub fn signer(&self) -> Option<&Arc<crate::dnssec::ZoneSigner>> {
        self.signer.as_ref()
    }

    /// A part with no node: a removed zone's slot, or an empty chunk.
    fn is_hole(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Whether it is a chunk of a large zone (see [`ZonePart::build_chunk`]).
    pub fn is_chunk(&self) -> bool {
        self.chunk
    }

    /// How many records it holds.
    pub fn record_count(&self) -> usize {
        self.count
    }

    /// The apex, lowercase wire format (empty for a hole).
    fn apex_wire(&self) -> &[u8] {
        if self.is_hole() { &[] } else { self.name(self.apex) }
    }

    /// The zone's apex.
    pub fn apex_name(&self) -> Name {
        Name::from_wire(self.name(self.apex)).unwrap_or_else(|_| Name::root())
    }

    /// The zone's apex, SOA serial and record count.
    pub fn summary(&self) -> Option<&(Name, u32, usize)> {
        self.summary.as_ref()
    }

    /// Each policy-group member's owner name (lowercase wire format), type, set identifier,
    /// answer count, and whether answers see it healthy.
    fn each_member(&self, mut f: impl FnMut(&[u8], RType, &str, u64, bool)) {
        for g in &self.groups {
            for i in g.members.start as usize..(g.members.start + g.members.len) as usize {
                let set_id = &self.member_info[i].set_id;
                let healthy = self.healthy(&self.members[i], 0);
                f(self.name(g.owner), g.rtype, set_id, self.member_hits.get(i), healthy);
            }
        }
    }

    /// Bytes held by the part's arenas and index.
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
            + self.extras.capacity() * size_of::<Extra>()
            + self.groups.capacity() * size_of::<WireGroup>()
            + self.members.capacity() * size_of::<WireMember>()
            + self.member_info.capacity() * size_of::<MemberInfo>()
    }

    /// Latency records get their region's index in the latency map, geoproximity records
    /// named by region get its coordinates.
    fn locate(&mut self, locator: Arc<crate::locate::Locator>) {
        use turnout_model::records::GeoproximityLocator;
        if let Some(map) = &locator.latency {
            for (i, (m, info)) in self.members.iter_mut().zip(&self.member_info).enumerate() {
                match &info.policy {
                    turnout_model::Policy::Latency(region) => {
                        m.key = map.region(region).unwrap_or(NONE);
                    }
                    turnout_model::Policy::Geoproximity(g) => {
                        if let GeoproximityLocator::Region(region) = &g.locator {
                            m.key = map.region(region).unwrap_or(NONE);
                            self.member_coords[i] = map.coordinates(m.key);
                        }
                    }
                    _ => {}
                }
            }
        }
        self.locator = Some(locator);
    }

    #[inline]
    pub(crate) fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id as usize]
    }

    /// The zone's apex node.
    #[inline]
    pub(crate) fn apex(&self) -> NodeId {
        self.apex
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
    /// [`ZonePart::select`](crate::policy)).
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

    /// Required glue: nodes of this zone.
    #[inline]
    pub(crate) fn targets(&self, run: Run) -> &[NodeId] {
        run.of(&self.targets)
    }

    /// Names whose addresses may go in the additional section.
    #[inline]
    pub(crate) fn extras(&self, run: Run) -> &[Extra] {
        run.of(&self.extras)
    }

    /// The name of an additional-section target, lowercase wire format.
    #[inline]
    pub(crate) fn extra_name(&self, extra: &Extra) -> &[u8] {
        extra.name.of(&self.wire)
    }

    /// The canonical name of a CNAME RRset.
    #[inline]
    pub(crate) fn cname_target(&self, set: &WireRRset) -> Option<&[u8]> {
        (set.target.len > 0).then(|| set.target.of(&self.wire))
    }

    /// The apex SOA with the negative TTL.
    #[inline]
    pub(crate) fn negative_soa(&self) -> &WireRRset {
        &self.rrsets[self.negative_soa as usize]
    }

    /// The node of `name` (lowercase wire format) in this zone, including names below a
    /// delegation and names a more specific zone serves.
    #[inline]
    pub(crate) fn find(&self, name: &[u8]) -> Option<NodeId> {
        self.index.find(hash_name(name), |&id| self.name(id) == name).copied()
    }

    /// The wildcard `*.<closest encloser>` in this zone (RFC 4592 §3.3.1).
    #[inline]
    pub(crate) fn wildcard(&self, encloser: NodeId) -> Option<NodeId> {
        below_star(self.name(encloser), |name| self.find(name))
    }
}

/// Calls `find` with `*.<name>` (lowercase wire format), unless that is too long to be a name.
#[inline(always)]
fn below_star<R>(name: &[u8], find: impl FnOnce(&[u8]) -> Option<R>) -> Option<R> {
    let mut buf = [0u8; crate::wire::MAX_NAME_LEN + 2];
    let len = name.len() + 2;
    if len > crate::wire::MAX_NAME_LEN {
        return None;
    }
    buf[0] = 1;
    buf[1] = b'*';
    buf[2..len].copy_from_slice(name);
    find(&buf[..len])
}

/// Compiles one zone, or (`chunk`) the RRsets of one chunk of a zone.
fn build(z: &Zone, chunk: bool) -> Result<ZonePart, SnapshotError> {
    let mut snap = ZonePart { chunk, ..ZonePart::default() };

    // 1. Nodes for every owner and every empty non-terminal up to the apex. The map borrows
    //    names from the zone.
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
            snap.nodes.push(Node { name, cut: None, rrsets: Run::default() });
            map.insert(w, id);
        }
    }

    // Every name is below the apex, so the apex has a node (unless the zone is empty).
    let Some(&apex) = map.get(z.apex().as_wire()) else {
        let errors = vec![ZoneError::NoSoa(z.apex().clone())];
        return Err(SnapshotError::InvalidZone { apex: z.apex().clone(), errors });
    };
    snap.apex = apex;

    // 2. Zone cuts: the highest ancestor-or-self below the apex that holds NS.
    let with_ns: FxHashSet<&[u8]> =
        z.rrsets().filter(|(_, t, _)| *t == RType::NS).map(|(n, _, _)| n.as_wire()).collect();
    for (&name, &id) in &map {
        let cut = suffixes(name)
            .take_while(|w| w.len() > apex_len)
            .filter(|w| with_ns.contains(w))
            .last()
            .and_then(|w| map.get(w).copied());
        snap.nodes[id as usize].cut = cut;
    }

    // 3. The index.
    let ZonePart { names, nodes, index, .. } = &mut snap;
    index.reserve(nodes.len(), |_| 0);
    for (id, node) in nodes.iter().enumerate() {
        let hasher = |&other: &NodeId| hash_name(nodes[other as usize].name.of(names));
        index.insert_unique(hash_name(node.name.of(names)), id as NodeId, hasher);
    }

    // 4. RRsets, with referral glue resolved to nodes that hold addresses. The zone iterates
    //    by (name, type), so a node's RRsets come out together, sorted by type.
    let mut has_addr = vec![false; snap.nodes.len()];
    for (name, rt, _) in z.rrsets() {
        if rt == RType::A || rt == RType::AAAA {
            has_addr[map[name.as_wire()] as usize] = true;
        }
    }
    let mut slot_ids: HashMap<*const HealthSlot, u32> = HashMap::new();
    let map = &map;
    let mut groups = z.groups().peekable();
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
                snap.additional_targets(set, w.records, rt, id, map, &has_addr)?;
        }
        // Groups come in the order of the RRsets they belong to: walk both together.
        while groups.peek().is_some_and(|&(n, t, _)| (n, t) < (name, rt)) {
            groups.next();
        }
        let group = groups.next_if(|&(n, t, _)| (n, t) == (name, rt)).map(|(_, _, g)| g);
        if let Some(group) = group {
            w.group = u32::try_from(snap.groups.len()).map_err(|_| SnapshotError::TooLarge)?;
            let kind = group.members[0].policy.kind();
            snap.groups.push(WireGroup {
                kind,
                owner: id,
                rtype: rt,
                members: Run::default(),
                table: NONE,
                min_healthy: group.min_healthy.max(1),
                trickle: group.trickle_pct,
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
                            snap.additional_targets(records, w.records, rt, id, map, &has_addr)?;
                    }
                    let i =
                        u32::try_from(snap.rrsets.len()).map_err(|_| SnapshotError::TooLarge)?;
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
                turnout_model::Policy::Geolocation(g) => (0, crate::locate::geo_key(g)),
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
    snap.count = z.record_count();
    if chunk {
        // The zone's home part answers negatively for it.
        snap.negative_soa = NONE;
    } else {
        // validate() guarantees the SOA; this only keeps a broken zone from panicking.
        let (Some((soa_ttl, soa)), Some(soa_set)) = (z.soa(), z.get(z.apex(), RType::SOA)) else {
            let errors = vec![ZoneError::NoSoa(z.apex().clone())];
            return Err(SnapshotError::InvalidZone { apex: z.apex().clone(), errors });
        };
        let negative = snap.encode_rrset(RType::SOA, soa_set, soa_ttl.min(soa.minimum))?;
        snap.rrsets.push(negative);
        snap.negative_soa = (snap.rrsets.len() - 1) as u32;
        snap.summary = Some((z.apex().clone(), soa.serial, snap.count));
    }
    snap.zone_hits = crate::stats::Hits::new(1);
    snap.member_hits = crate::stats::Hits::new(snap.members.len());
    snap.names.shrink_to_fit();
    snap.wire.shrink_to_fit();
    snap.spans.shrink_to_fit();
    snap.targets.shrink_to_fit();
    snap.records.shrink_to_fit();
    snap.rrsets.shrink_to_fit();
    snap.nodes.shrink_to_fit();
    snap.extras.shrink_to_fit();
    Ok(snap)
}

impl ZonePart {
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

    /// Appends what follows an NS, MX or SRV RRset (its records `records`, already encoded)
    /// into the additional section: (required glue, optional extras).
    #[allow(clippy::too_many_arguments)]
    fn additional_targets(
        &mut self,
        set: &RRset,
        records: Run,
        rt: RType,
        owner: NodeId,
        zone_map: &FxHashMap<&[u8], NodeId>,
        has_addr: &[bool],
    ) -> Result<(Run, Run), SnapshotError> {
        let at_cut = self.node(owner).cut == Some(owner);
        let mut required: Vec<NodeId> = Vec::new();
        let mut extra: Vec<Extra> = Vec::new();
        let starts: Vec<u32> = records.of(&self.records).iter().map(|r| r.bytes.start).collect();
        for (rdata, start) in set.rdatas.iter().zip(starts) {
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
                // Otherwise only authoritative data, wherever it is served (found at query
                // time), or for a referral sibling glue in this zone.
                let name = Run { start: start + 10 + n.offset as u32, len: n.len as u32 };
                if extra.iter().any(|e| e.name.of(&self.wire) == target) {
                    continue;
                }
                let sibling = match zone_map.get(target) {
                    Some(&id) if at_cut && has_addr[id as usize] => id,
                    // A chunk holds only some of the zone's names: the others are found at
                    // query time.
                    None if at_cut
                        && self.chunk
                        && turnout_model::name::is_wire_subdomain(target, self.name(self.apex)) =>
                    {
                        ELSEWHERE
                    }
                    _ => NONE,
                };
                extra.push(Extra { name, sibling });
            }
        }
        let start = self.targets.len();
        self.targets.extend_from_slice(&required);
        let required = Run::since(start, &self.targets)?;
        let start = self.extras.len();
        self.extras.extend_from_slice(&extra);
        Ok((required, Run::since(start, &self.extras)?))
    }
}

#[cfg(test)]
pub(crate) mod tests;
