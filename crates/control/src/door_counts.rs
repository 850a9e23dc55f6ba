//! What the DNS door did, counted for `/metrics` (docs/observability.md): zone transfers by
//! type and result, RFC 2136 updates by RCODE, NOTIFY sent and received by result, TSIG
//! refusals by error, secondary zones' refreshes by result. A
//! few messages a second at most: one lock per count is fine.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

/// Counts by label values.
#[derive(Debug, Default)]
pub struct Counts(Mutex<BTreeMap<(&'static str, &'static str), u64>>);

impl Counts {
    /// Adds one under `labels` (the second is empty for a one-label family).
    pub fn add(&self, labels: (&'static str, &'static str)) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner).entry(labels).or_default() += 1;
    }

    /// Every count so far.
    pub fn read(&self) -> Vec<((&'static str, &'static str), u64)> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(k, v)| (*k, *v))
            .collect()
    }
}

/// The door's counters.
#[derive(Debug, Default)]
pub struct DoorCounts {
    /// (type `AXFR`/`IXFR`, result `full`/`incremental`/`up_to_date`/`refused`/`failed`).
    pub transfers: Counts,
    /// (RCODE name, "").
    pub updates: Counts,
    /// (result `acknowledged`/`error`/`no_answer`, "").
    pub notify: Counts,
    /// (TSIG error name, "").
    pub tsig_refused: Counts,
    /// Secondary zones' refreshes: (result `up_to_date`/`full`/`incremental`/`failed`, "").
    pub secondary_refreshes: Counts,
    /// NOTIFY received: (result `accepted`/`refused`, "").
    pub notify_received: Counts,
}
