//! Turnout's DNS data plane: sockets -> decode -> answer -> encode.
//!
//! The folders follow the request path: [`server`] owns the UDP and TCP sockets and the worker
//! threads and tasks; [`wire`] decodes queries and writes messages; [`answer()`] picks what to
//! say from an immutable [`Snapshot`]; [`encode()`] writes it. What is served changes only
//! through [`SnapshotHandle::publish`], one atomic pointer swap: workers read a whole snapshot
//! or the next one, never a mix. This crate must not read the store, take a lock or allocate per
//! query on the answer path.

pub mod answer;
pub mod encode;
pub mod server;
pub mod snapshot;
pub mod wire;

use std::sync::Arc;

use arc_swap::ArcSwap;

pub use answer::{Owner, Response, answer};
pub use encode::{Transport, encode, encode_error, response_limit};
pub use snapshot::{Snapshot, SnapshotError};
pub use wire::Rcode;
pub use wire::query::{Query, Rejection, decode};

/// Decodes `packet`, answers it from `snap` and writes the reply into `out`.
///
/// Returns the reply length, or `None` when the packet gets no reply (too short, or a
/// response). `out` should hold at least [`encode::TCP_LIMIT`] bytes for TCP and
/// [`encode::EDNS_UDP_PAYLOAD`] for UDP; a smaller buffer only truncates sooner.
#[inline]
pub fn respond(
    snap: &Snapshot,
    packet: &[u8],
    transport: Transport,
    out: &mut [u8],
) -> Option<usize> {
    match decode(packet) {
        Ok(q) => {
            let r = answer(snap, &q);
            Some(encode(&q, &r, response_limit(q.edns, transport), out))
        }
        Err(Rejection::Reply(e)) => Some(encode_error(&e, out)),
        Err(Rejection::Drop) => None,
    }
}

/// The only way to change what the DNS server answers: publish a whole new snapshot.
#[derive(Clone)]
pub struct SnapshotHandle {
    current: Arc<ArcSwap<Snapshot>>,
}

impl SnapshotHandle {
    /// A handle serving `initial`.
    pub fn new(initial: Snapshot) -> Self {
        SnapshotHandle { current: Arc::new(ArcSwap::from_pointee(initial)) }
    }

    /// Replaces what is served, atomically: queries answered after this returns see `next`.
    pub fn publish(&self, next: Snapshot) {
        self.current.store(Arc::new(next));
    }

    /// The snapshot being served. Cheap: no lock, no reference-count contention.
    #[inline]
    pub fn load(&self) -> arc_swap::Guard<Arc<Snapshot>> {
        self.current.load()
    }
}
