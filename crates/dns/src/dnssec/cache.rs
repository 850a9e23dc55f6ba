//! The signature cache: each distinct RRset is signed once per refresh period, whatever
//! node's answer it is, and looking it up takes no lock and allocates nothing.
//!
//! A fixed table of slots, two candidates per key (the key's slot and its neighbour), each an
//! atomically swapped pointer to an entry. A full table evicts the older of the two
//! candidates, so the memory it holds is bounded by its size. Keys are 128-bit keyed hashes
//! (SipHash-1-3 with a key drawn at start) of everything the signature covers, so an attacker
//! who chooses query names cannot make two RRsets share an entry.

use std::hash::Hasher;
use std::sync::{Arc, OnceLock};

use arc_swap::ArcSwapOption;
use siphasher::sip128::{Hasher128, SipHasher13};

/// One cached signature.
#[derive(Debug)]
pub struct Entry {
    key: u128,
    /// When it must be made again (Unix seconds).
    refresh_at: u32,
    /// The RRSIG's RDATA.
    pub rdata: Box<[u8]>,
}

/// A bounded, lock-free signature cache; see the module documentation.
pub struct SigCache {
    slots: OnceLock<Box<[ArcSwapOption<Entry>]>>,
    capacity: usize,
    keys: (u64, u64),
}

impl std::fmt::Debug for SigCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigCache").field("capacity", &self.capacity).finish_non_exhaustive()
    }
}

/// Slots of the default cache: about 10 MiB of signatures when full.
pub const DEFAULT_CAPACITY: usize = 1 << 16;

impl Default for SigCache {
    fn default() -> Self {
        SigCache::new(DEFAULT_CAPACITY)
    }
}

impl SigCache {
    /// A cache of `capacity` slots (rounded up to a power of two, at least 2); the table is
    /// allocated at the first insertion, so a server that signs nothing pays nothing.
    pub fn new(capacity: usize) -> SigCache {
        SigCache {
            slots: OnceLock::new(),
            capacity: capacity.max(2).next_power_of_two(),
            keys: (fastrand::u64(..), fastrand::u64(..)),
        }
    }

    /// A hasher for a key: feed it everything the signature covers, then [`SigCache::key`].
    pub fn hasher(&self) -> SipHasher13 {
        SipHasher13::new_with_keys(self.keys.0, self.keys.1)
    }

    /// The key a hasher made.
    pub fn key(h: &SipHasher13) -> u128 {
        h.finish128().as_u128()
    }

    fn candidates(&self, key: u128) -> [usize; 2] {
        let i = (key as usize) & (self.capacity - 1);
        [i, i ^ 1]
    }

    /// The signature for `key`, unless it is missing or due for refresh at `now`.
    #[inline]
    pub fn get(&self, key: u128, now: u32) -> Option<Arc<Entry>> {
        let slots = self.slots.get()?;
        for i in self.candidates(key) {
            let guard = slots[i].load();
            if let Some(e) = guard.as_ref()
                && e.key == key
            {
                return (now < e.refresh_at).then(|| Arc::clone(e));
            }
        }
        None
    }

    /// Keeps `rdata` for `key` until `refresh_at`; returns the entry.
    pub fn insert(&self, key: u128, refresh_at: u32, rdata: Box<[u8]>) -> Arc<Entry> {
        let slots = self.slots.get_or_init(|| {
            (0..self.capacity).map(|_| ArcSwapOption::empty()).collect::<Vec<_>>().into()
        });
        let entry = Arc::new(Entry { key, refresh_at, rdata });
        let [a, b] = self.candidates(key);
        // The same key's slot, else an empty one, else the one refreshed soonest.
        let pick = |i: usize| slots[i].load().as_ref().map(|e| (e.key == key, e.refresh_at));
        let slot = match (pick(a), pick(b)) {
            (Some((true, _)), _) | (None, _) => a,
            (_, Some((true, _))) | (_, None) => b,
            (Some((_, ra)), Some((_, rb))) => {
                if ra <= rb {
                    a
                } else {
                    b
                }
            }
        };
        slots[slot].store(Some(Arc::clone(&entry)));
        entry
    }

    /// Entries held (for metrics and tests; walks the table).
    pub fn len(&self) -> usize {
        self.slots.get().map_or(0, |s| s.iter().filter(|e| e.load().is_some()).count())
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Feeds a byte string with its length (so that concatenations cannot collide).
pub fn feed(h: &mut SipHasher13, bytes: &[u8]) {
    h.write_usize(bytes.len());
    h.write(bytes);
}
