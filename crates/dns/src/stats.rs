//! Counters of what the DNS server did, kept per worker and summed when they are read (a
//! Prometheus scrape): a UDP worker is the only writer of its shard, so counting is a plain
//! load and store of a cache line it owns, with no locked instruction and no sharing on the
//! query path; TCP connections, spread over the runtime's threads, share one shard with atomic
//! adds.

use std::sync::atomic::{AtomicU64, Ordering};

/// Query types counted by name; every other type is counted as `other`.
pub const QTYPES: [(u16, &str); 22] = [
    (1, "A"),
    (2, "NS"),
    (5, "CNAME"),
    (6, "SOA"),
    (12, "PTR"),
    (15, "MX"),
    (16, "TXT"),
    (28, "AAAA"),
    (33, "SRV"),
    (35, "NAPTR"),
    (43, "DS"),
    (48, "DNSKEY"),
    (52, "TLSA"),
    (44, "SSHFP"),
    (64, "SVCB"),
    (65, "HTTPS"),
    (99, "SPF"),
    (257, "CAA"),
    (251, "IXFR"),
    (252, "AXFR"),
    (255, "ANY"),
    (13, "HINFO"),
];
const QTYPE_SLOTS: usize = QTYPES.len() + 1;

/// RCODEs counted by name (RFC 6895 §2.3); every other is counted as `other`.
pub const RCODES: [(u16, &str); 10] = [
    (0, "NOERROR"),
    (1, "FORMERR"),
    (2, "SERVFAIL"),
    (3, "NXDOMAIN"),
    (4, "NOTIMP"),
    (5, "REFUSED"),
    (8, "NXRRSET"),
    (9, "NOTAUTH"),
    (16, "BADVERS"),
    (23, "BADCOOKIE"),
];
const RCODE_SLOTS: usize = RCODES.len() + 1;

/// Upper bounds of the response-size buckets, in bytes (the last is +Inf).
pub const SIZE_BUCKETS: [u64; 8] = [64, 128, 256, 512, 768, 1232, 4096, 16384];
const SIZE_SLOTS: usize = SIZE_BUCKETS.len() + 1;

/// What a query carried, counted once per query that has it.
pub const FLAGS: [&str; 5] = ["edns", "do", "ecs", "cookie", "nsid"];

/// The two transports (index 0 UDP, 1 TCP).
pub const TRANSPORTS: [&str; 2] = ["udp", "tcp"];

/// Why a query got no reply.
pub const DROPS: [&str; 2] = ["malformed", "rate_limited"];

// Offsets of each counter group in a shard.
const Q: usize = 0; // queries by qtype
const R: usize = Q + QTYPE_SLOTS; // responses by rcode
const S: usize = R + RCODE_SLOTS; // responses by size bucket
const SIZE_SUM: usize = S + SIZE_SLOTS; // bytes sent
const TC: usize = SIZE_SUM + 1; // truncated responses
const F: usize = TC + 1; // flags
const D: usize = F + FLAGS.len(); // drops
const SLIPPED: usize = D + DROPS.len(); // rate-limited, truncated
const COUNTERS: usize = SLIPPED + 1;

/// The slot of each query type below 256 in [`QTYPES`] (`other` for the rest), so that counting
/// is one table read.
const QTYPE_SLOT: [u8; 256] = {
    let mut table = [QTYPES.len() as u8; 256];
    let mut i = 0;
    while i < QTYPES.len() {
        if QTYPES[i].0 < 256 {
            table[QTYPES[i].0 as usize] = i as u8;
        }
        i += 1;
    }
    table
};

/// The slot of each RCODE below 24 in [`RCODES`].
const RCODE_SLOT: [u8; 24] = {
    let mut table = [RCODES.len() as u8; 24];
    let mut i = 0;
    while i < RCODES.len() {
        table[RCODES[i].0 as usize] = i as u8;
        i += 1;
    }
    table
};

#[inline]
fn qtype_slot(qtype: u16) -> usize {
    match QTYPE_SLOT.get(usize::from(qtype)) {
        Some(s) => usize::from(*s),
        None => QTYPES.iter().position(|(t, _)| *t == qtype).unwrap_or(QTYPES.len()),
    }
}

/// One writer's counters, on cache lines of their own.
#[repr(align(128))]
pub struct Shard {
    counts: [AtomicU64; COUNTERS],
    /// Whether several threads write it (then each add is atomic).
    shared: bool,
}

impl Shard {
    fn new(shared: bool) -> Shard {
        Shard { counts: std::array::from_fn(|_| AtomicU64::new(0)), shared }
    }

    #[inline]
    fn add(&self, i: usize, n: u64) {
        let c = &self.counts[i];
        if self.shared {
            c.fetch_add(n, Ordering::Relaxed);
        } else {
            // The only writer: no read-modify-write needed, and readers see whole values.
            c.store(c.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
        }
    }

    /// A query of type `qtype` with these flags (only looked at when it had EDNS, the first).
    #[inline]
    pub(crate) fn query(&self, qtype: u16, flags: [bool; FLAGS.len()]) {
        self.add(Q + qtype_slot(qtype), 1);
        if flags[0] {
            for (i, on) in flags.iter().enumerate() {
                if *on {
                    self.add(F + i, 1);
                }
            }
        }
    }

    /// A reply sent: its RCODE (extended RCODEs included), size and TC bit.
    #[inline]
    pub(crate) fn response(&self, rcode: u16, bytes: usize, truncated: bool) {
        let slot = RCODE_SLOT.get(usize::from(rcode)).map_or(RCODES.len(), |s| usize::from(*s));
        self.add(R + slot, 1);
        let size = bytes as u64;
        let bucket = SIZE_BUCKETS.iter().position(|b| size <= *b).unwrap_or(SIZE_BUCKETS.len());
        self.add(S + bucket, 1);
        self.add(SIZE_SUM, size);
        if truncated {
            self.add(TC, 1);
        }
    }

    /// A query that got no reply.
    #[inline]
    pub(crate) fn dropped(&self, rate_limited: bool) {
        self.add(D + usize::from(rate_limited), 1);
    }

    /// A rate-limited query that got a truncated reply.
    #[inline]
    pub(crate) fn slipped(&self) {
        self.add(SLIPPED, 1);
    }
}

/// Every shard of one transport, and the TCP connection counts.
pub struct DnsStats {
    udp: Box<[Shard]>,
    tcp: Shard,
    /// TCP connections accepted, closed at the cap with every connection busy, closed to make
    /// room (the one idle longest), and open now.
    pub(crate) tcp_accepted: AtomicU64,
    pub(crate) tcp_refused: AtomicU64,
    pub(crate) tcp_evicted: AtomicU64,
    pub(crate) tcp_open: AtomicU64,
    /// Datagrams for the door dropped because its queue was full.
    pub(crate) door_dropped: AtomicU64,
}

impl std::fmt::Debug for DnsStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnsStats").field("udp_shards", &self.udp.len()).finish_non_exhaustive()
    }
}

/// The counters summed over the shards, for one transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Totals {
    /// Queries by [`QTYPES`] (then `other`).
    pub queries: Vec<u64>,
    /// Responses by [`RCODES`] (then `other`).
    pub responses: Vec<u64>,
    /// Responses by size bucket ([`SIZE_BUCKETS`], then +Inf), not cumulative.
    pub sizes: Vec<u64>,
    /// Bytes of every response.
    pub size_sum: u64,
    /// Truncated responses (TC).
    pub truncated: u64,
    /// Queries by [`FLAGS`].
    pub flags: Vec<u64>,
    /// Queries without a reply by [`DROPS`].
    pub dropped: Vec<u64>,
    /// Rate-limited queries that got a truncated reply.
    pub slipped: u64,
}

impl DnsStats {
    /// Counters for `udp_workers` UDP workers (over every address) and TCP.
    pub fn new(udp_workers: usize) -> DnsStats {
        DnsStats {
            udp: (0..udp_workers.max(1)).map(|_| Shard::new(false)).collect(),
            tcp: Shard::new(true),
            tcp_accepted: AtomicU64::new(0),
            tcp_refused: AtomicU64::new(0),
            tcp_evicted: AtomicU64::new(0),
            tcp_open: AtomicU64::new(0),
            door_dropped: AtomicU64::new(0),
        }
    }

    /// The shard of UDP worker `i` (its only writer).
    /// Give each shard one writer thread: a second writer loses counts (never memory safety).
    pub fn udp_shard(&self, i: usize) -> &Shard {
        &self.udp[i % self.udp.len()]
    }

    /// The TCP shard.
    pub(crate) fn tcp_shard(&self) -> &Shard {
        &self.tcp
    }

    /// The totals of `transport` (0 UDP, 1 TCP).
    pub fn totals(&self, transport: usize) -> Totals {
        let sum = |i: usize| -> u64 {
            if transport == 0 {
                self.udp.iter().map(|s| s.counts[i].load(Ordering::Relaxed)).sum()
            } else {
                self.tcp.counts[i].load(Ordering::Relaxed)
            }
        };
        Totals {
            queries: (0..QTYPE_SLOTS).map(|i| sum(Q + i)).collect(),
            responses: (0..RCODE_SLOTS).map(|i| sum(R + i)).collect(),
            sizes: (0..SIZE_SLOTS).map(|i| sum(S + i)).collect(),
            size_sum: sum(SIZE_SUM),
            truncated: sum(TC),
            flags: (0..FLAGS.len()).map(|i| sum(F + i)).collect(),
            dropped: (0..DROPS.len()).map(|i| sum(D + i)).collect(),
            slipped: sum(SLIPPED),
        }
    }

    /// Datagrams for the door (transfers, NOTIFY, UPDATE, signed) dropped with its queue full.
    pub fn door_dropped(&self) -> u64 {
        self.door_dropped.load(Ordering::Relaxed)
    }

    /// TCP connections: (accepted, refused at the cap, evicted to make room, open now).
    pub fn tcp_connections(&self) -> (u64, u64, u64, u64) {
        (
            self.tcp_accepted.load(Ordering::Relaxed),
            self.tcp_refused.load(Ordering::Relaxed),
            self.tcp_evicted.load(Ordering::Relaxed),
            self.tcp_open.load(Ordering::Relaxed),
        )
    }
}

/// Counters kept in a compiled zone part, beside what they count: queries for the zone (in its
/// home part) and answers by policy-group member. Every worker adds to them atomically; when a
/// change replaces a part, [`crate::Snapshot::carry_counts`] moves the retired part's counts
/// into its successor, so a series never goes back.
#[derive(Default)]
pub struct Hits(Box<[AtomicU64]>);

impl Hits {
    /// `n` counters at zero.
    pub(crate) fn new(n: usize) -> Hits {
        Hits((0..n).map(|_| AtomicU64::new(0)).collect())
    }

    #[inline]
    pub(crate) fn add(&self, i: usize, n: u64) {
        if let Some(c) = self.0.get(i) {
            c.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// Counter `i` (0 when there is none).
    pub(crate) fn get(&self, i: usize) -> u64 {
        self.0.get(i).map_or(0, |c| c.load(Ordering::Relaxed))
    }
}

impl Clone for Hits {
    fn clone(&self) -> Hits {
        Hits(self.0.iter().map(|c| AtomicU64::new(c.load(Ordering::Relaxed))).collect())
    }
}

impl std::fmt::Debug for Hits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Hits({})", self.0.len())
    }
}

/// How often a zone was asked, as [`crate::Snapshot::zone_counts`] reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneCount {
    /// The zone's apex.
    pub zone: turnout_model::Name,
    /// Queries whose name is in the zone (the first zone, for a CNAME chain).
    pub queries: u64,
}

/// How often a policy-group member was chosen, as [`crate::Snapshot::member_counts`] reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberCount {
    /// The zone's apex.
    pub zone: turnout_model::Name,
    /// The group's owner name.
    pub name: turnout_model::Name,
    /// The group's type.
    pub rtype: turnout_model::RType,
    /// The member's set identifier.
    pub set_id: String,
    /// Answers (and additional-section addresses) it gave.
    pub answers: u64,
    /// Whether answers see it healthy now (its check, and its alias target's health).
    pub healthy: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_type_and_rcode_has_its_slot() {
        for (i, (t, _)) in QTYPES.iter().enumerate() {
            assert_eq!(qtype_slot(*t), i);
        }
        assert_eq!(qtype_slot(999), QTYPES.len());
        assert_eq!(qtype_slot(100), QTYPES.len());
        let s = Shard::new(false);
        s.response(23, 10, false);
        s.response(22, 10, true);
        s.response(4000, 2000, false);
        let stats = DnsStats { udp: vec![s].into_boxed_slice(), ..DnsStats::new(1) };
        let t = stats.totals(0);
        assert_eq!((t.responses[9], t.responses[10], t.truncated), (1, 2, 1));
        assert_eq!(t.sizes, [2, 0, 0, 0, 0, 0, 1, 0, 0]);
    }
}
