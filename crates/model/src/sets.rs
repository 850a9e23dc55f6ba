//! The record sets of one zone, in canonical key order, stored compactly.
//!
//! Most record sets of a large zone are plain: one owner, one type, a TTL and its values, no
//! routing policy, no health check. Each of those is kept as one allocation of packed bytes
//! (owner in wire format, type, TTL, each value's length and wire bytes), not as a
//! [`RecordSet`] with its own owner, value list and value allocations: an A record takes about
//! 75 bytes here (a 24-byte slot in the set, one 48-byte allocation) where a map of keys to
//! `RecordSet`s took about 330 (docs/benchmarks.md, "A million records"). Record sets with
//! routing keep their full form. Reads of a plain set decode it on demand (`Cow::Owned`);
//! routing sets are lent as they are.

use std::borrow::{Borrow, Cow};
use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::fmt;
use std::ops::Bound;

use crate::name::{Name, cmp_wire};
use crate::rdata::Rdata;
use crate::records::{Policy, Pool, RecordData, RecordKey, RecordSet};
use crate::rtype::RType;

/// Every record set of one zone, keyed by (name, type, set id) in canonical order.
#[derive(Clone, Default)]
pub struct RecordSets {
    entries: BTreeSet<Entry>,
}

/// A record set before and after (see [`RecordSets::changes`]).
pub type Change<'a> = (Option<Cow<'a, RecordSet>>, Option<Cow<'a, RecordSet>>);

/// One record set: packed when plain, boxed whole otherwise. Equal and ordered by key only
/// (what the set needs); [`Entry::same`] compares contents.
#[derive(Clone)]
enum Entry {
    /// `[owner length][owner wire][type: u16 BE][TTL: u32 BE]([value length: u16 BE][value])*`
    Plain(Box<[u8]>),
    /// A set with a policy, set id, health check, pool rule or alias.
    Full(Box<RecordSet>),
}

/// What a record set is found by: its key, however it is held.
trait Keyed {
    fn owner_wire(&self) -> &[u8];
    fn rtype(&self) -> RType;
    fn set_id(&self) -> &str;
}

impl Keyed for Entry {
    fn owner_wire(&self) -> &[u8] {
        match self {
            Entry::Plain(b) => &b[1..1 + usize::from(b[0])],
            Entry::Full(s) => s.name.as_wire(),
        }
    }
    fn rtype(&self) -> RType {
        match self {
            Entry::Plain(b) => {
                let at = 1 + usize::from(b[0]);
                RType(u16::from_be_bytes([b[at], b[at + 1]]))
            }
            Entry::Full(s) => s.rtype,
        }
    }
    fn set_id(&self) -> &str {
        match self {
            Entry::Plain(_) => "",
            Entry::Full(s) => s.set_id.as_deref().unwrap_or(""),
        }
    }
}

impl Keyed for RecordKey {
    fn owner_wire(&self) -> &[u8] {
        self.name.as_wire()
    }
    fn rtype(&self) -> RType {
        self.rtype
    }
    fn set_id(&self) -> &str {
        &self.set_id
    }
}

// The order of `RecordKey`: owner in canonical order, then type, then set id.
impl Ord for dyn Keyed + '_ {
    fn cmp(&self, other: &Self) -> Ordering {
        cmp_wire(self.owner_wire(), other.owner_wire())
            .then_with(|| self.rtype().cmp(&other.rtype()))
            .then_with(|| self.set_id().cmp(other.set_id()))
    }
}
impl PartialOrd for dyn Keyed + '_ {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl PartialEq for dyn Keyed + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for dyn Keyed + '_ {}

impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        (self as &dyn Keyed).cmp(other as &dyn Keyed)
    }
}
impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<'a> Borrow<dyn Keyed + 'a> for Entry {
    fn borrow(&self) -> &(dyn Keyed + 'a) {
        self
    }
}

impl Entry {
    fn new(set: RecordSet) -> Entry {
        let mut b = Vec::new();
        if pack(&set, &mut b) {
            Entry::Plain(b.into_boxed_slice())
        } else {
            Entry::Full(Box::new(set))
        }
    }

    fn set(&self) -> Cow<'_, RecordSet> {
        match self {
            Entry::Full(s) => Cow::Borrowed(s),
            Entry::Plain(b) => {
                let owner = 1 + usize::from(b[0]);
                let rtype = RType(u16::from_be_bytes([b[owner], b[owner + 1]]));
                let ttl =
                    u32::from_be_bytes([b[owner + 2], b[owner + 3], b[owner + 4], b[owner + 5]]);
                let mut rdatas = Vec::new();
                let mut at = owner + 6;
                while at < b.len() {
                    let len = usize::from(u16::from_be_bytes([b[at], b[at + 1]]));
                    rdatas.push(Rdata::from_trusted_wire(&b[at + 2..at + 2 + len]));
                    at += 2 + len;
                }
                Cow::Owned(RecordSet {
                    name: Name::from_trusted_wire(&b[1..owner]),
                    rtype,
                    set_id: None,
                    policy: Policy::Simple,
                    health_check: None,
                    always_serve: false,
                    pool: Pool::default(),
                    data: RecordData::Values { ttl, rdatas },
                })
            }
        }
    }

    fn key(&self) -> RecordKey {
        RecordKey {
            name: Name::from_trusted_wire(self.owner_wire()),
            rtype: self.rtype(),
            set_id: self.set_id().to_owned(),
        }
    }

    fn same(&self, other: &Entry) -> bool {
        match (self, other) {
            (Entry::Plain(a), Entry::Plain(b)) => a == b,
            (Entry::Full(a), Entry::Full(b)) => a == b,
            _ => false,
        }
    }

    fn into_set(self) -> RecordSet {
        match self {
            Entry::Full(s) => *s,
            plain => plain.set().into_owned(),
        }
    }
}

/// Appends the packed form of `set` to `out` if it is plain (see [`Entry::Plain`]); false,
/// and nothing appended, if not.
fn pack(set: &RecordSet, out: &mut Vec<u8>) -> bool {
    let RecordData::Values { ttl, rdatas } = &set.data else { return false };
    if set.policy != Policy::Simple
        || set.set_id.is_some()
        || set.health_check.is_some()
        || set.always_serve
        || set.pool != Pool::default()
    {
        return false;
    }
    let owner = set.name.as_wire();
    let size = rdatas.iter().map(|r| 2 + r.as_wire().len()).sum::<usize>();
    out.reserve(1 + owner.len() + 6 + size);
    // A name is at most 255 bytes in wire format and a value at most 65535 (both checked when
    // they were built).
    out.push(owner.len() as u8);
    out.extend_from_slice(owner);
    out.extend_from_slice(&set.rtype.0.to_be_bytes());
    out.extend_from_slice(&ttl.to_be_bytes());
    for r in rdatas {
        out.extend_from_slice(&(r.as_wire().len() as u16).to_be_bytes());
        out.extend_from_slice(r.as_wire());
    }
    true
}

impl RecordSets {
    /// No record sets.
    pub fn new() -> Self {
        RecordSets::default()
    }

    /// The number of record sets.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The record set with this key.
    pub fn get(&self, key: &RecordKey) -> Option<Cow<'_, RecordSet>> {
        self.entries.get(key as &dyn Keyed).map(Entry::set)
    }

    /// Whether a record set has this key.
    pub fn contains_key(&self, key: &RecordKey) -> bool {
        self.entries.contains(key as &dyn Keyed)
    }

    /// Adds `set` under its own key; returns the set it replaced.
    pub fn insert(&mut self, set: RecordSet) -> Option<RecordSet> {
        self.entries.replace(Entry::new(set)).map(Entry::into_set)
    }

    /// Removes the record set with this key; returns it.
    pub fn remove(&mut self, key: &RecordKey) -> Option<RecordSet> {
        self.entries.take(key as &dyn Keyed).map(Entry::into_set)
    }

    /// Every record set, in key order.
    pub fn values(
        &self,
    ) -> impl DoubleEndedIterator<Item = Cow<'_, RecordSet>> + ExactSizeIterator {
        self.entries.iter().map(Entry::set)
    }

    /// The record sets that are not plain, in key order: those with a policy, set id, health
    /// check, always-serve, pool rule or alias. Plain sets (values and nothing else) are
    /// skipped without being decoded, so this is cheap however large the zone.
    pub fn not_plain(&self) -> impl Iterator<Item = &RecordSet> {
        self.entries.iter().filter_map(|e| match e {
            Entry::Full(s) => Some(&**s),
            Entry::Plain(_) => None,
        })
    }

    /// The record sets that differ between `self` and `after`, in key order: (before, after),
    /// `None` where a key is on one side only. Unchanged sets are skipped without being
    /// decoded.
    pub fn changes<'a>(&'a self, after: &'a RecordSets) -> Vec<Change<'a>> {
        let mut out = Vec::new();
        let (mut a, mut b) = (self.entries.iter().peekable(), after.entries.iter().peekable());
        loop {
            let order = match (a.peek(), b.peek()) {
                (None, None) => return out,
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (Some(x), Some(y)) => x.cmp(y),
            };
            match order {
                Ordering::Less => out.push((a.next().map(Entry::set), None)),
                Ordering::Greater => out.push((None, b.next().map(Entry::set))),
                Ordering::Equal => {
                    let (x, y) = (a.next(), b.next());
                    if !x.zip(y).is_some_and(|(x, y)| x.same(y)) {
                        out.push((x.map(Entry::set), y.map(Entry::set)));
                    }
                }
            }
        }
    }

    /// Each record set's owner (wire format) and number of records (an alias counts as one),
    /// in key order, without decoding any set.
    pub fn owners(&self) -> impl Iterator<Item = (&[u8], usize)> {
        self.entries.iter().map(|e| {
            let count = match e {
                Entry::Full(s) => s.record_count(),
                Entry::Plain(b) => {
                    let (mut at, mut n) = (1 + usize::from(b[0]) + 6, 0);
                    while at < b.len() {
                        at += 2 + usize::from(u16::from_be_bytes([b[at], b[at + 1]]));
                        n += 1;
                    }
                    n
                }
            };
            (e.owner_wire(), count)
        })
    }

    /// Every key, in order.
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = RecordKey> + '_ {
        self.entries.iter().map(Entry::key)
    }

    /// The keys from `key` on (`key` included when present), in order.
    pub fn keys_from(&self, key: &RecordKey) -> impl Iterator<Item = RecordKey> + use<'_> {
        self.range_from(key).map(Entry::key)
    }

    /// The record sets from `key` on (`key` included when present), in key order.
    pub fn from_key(&self, key: &RecordKey) -> impl Iterator<Item = Cow<'_, RecordSet>> + use<'_> {
        self.range_from(key).map(Entry::set)
    }

    fn range_from(&self, key: &RecordKey) -> impl Iterator<Item = &Entry> + use<'_> {
        let from = Bound::Included(key as &dyn Keyed);
        self.entries.range::<dyn Keyed, _>((from, Bound::Unbounded))
    }
}

impl PartialEq for RecordSets {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.entries.iter().zip(&other.entries).all(|(a, b)| a.same(b))
    }
}

/// Record sets gathered in any order, then made a [`RecordSets`] at once (a full load). Plain
/// sets are packed back to back in one buffer as they come; the entries are allocated only at
/// the end, one after the other, so they sit densely in the heap instead of between the
/// load's scratch allocations (which leave pages resident after they are freed). Built from
/// sorted entries, the set's nodes are full. A later set replaces an earlier one of its key.
#[derive(Default)]
pub struct Gathered {
    /// Packed plain sets, back to back.
    packed: Vec<u8>,
    /// Where each plain set ends in `packed`, with its place in the order of arrival.
    ends: Vec<(usize, usize)>,
    /// The other sets, with their place in the order of arrival.
    full: Vec<(usize, RecordSet)>,
}

impl fmt::Debug for Gathered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Gathered({} record sets)", self.ends.len() + self.full.len())
    }
}

impl Gathered {
    /// Adds a record set.
    pub fn push(&mut self, set: RecordSet) {
        let order = self.ends.len() + self.full.len();
        if pack(&set, &mut self.packed) {
            self.ends.push((self.packed.len(), order));
        } else {
            self.full.push((order, set));
        }
    }
}

impl From<Gathered> for RecordSets {
    fn from(gathered: Gathered) -> Self {
        let Gathered { packed, ends, full } = gathered;
        let mut start = 0;
        let mut entries: Vec<(usize, Entry)> = Vec::with_capacity(ends.len() + full.len());
        for (end, order) in ends {
            entries.push((order, Entry::Plain(packed[start..end].into())));
            start = end;
        }
        drop(packed);
        entries.extend(full.into_iter().map(|(order, set)| (order, Entry::Full(Box::new(set)))));
        // In arrival order, then (`BTreeSet::from_iter` sorts stably and keeps the last of
        // equal entries) by key.
        entries.sort_unstable_by_key(|(order, _)| *order);
        RecordSets { entries: entries.into_iter().map(|(_, e)| e).collect() }
    }
}

impl FromIterator<RecordSet> for RecordSets {
    fn from_iter<I: IntoIterator<Item = RecordSet>>(sets: I) -> Self {
        RecordSets { entries: sets.into_iter().map(Entry::new).collect() }
    }
}

impl fmt::Debug for RecordSets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.values()).finish()
    }
}

#[cfg(test)]
#[path = "sets_tests.rs"]
mod tests;
