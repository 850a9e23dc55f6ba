//! Turnout's DNS data plane: sockets -> decode -> answer -> encode.
//!
//! The folders follow the request path: [`server`] owns the UDP and TCP sockets and the worker
//! threads and tasks; [`wire`] decodes queries and writes messages; [`answer()`] picks what to
//! say from an immutable [`Snapshot`]; [`encode()`] writes it. What is served changes only
//! through [`SnapshotHandle::publish`], one atomic pointer swap: workers read a whole snapshot
//! or the next one, never a mix. This crate must not read the store, take a lock or allocate per
//! query on the answer path; the one exception is DNSSEC ([`dnssec`]): a query with DO for an
//! RRset whose signature is not cached yet allocates the signature it makes.

pub mod answer;
pub mod client;
pub mod dnssec;
pub mod door;
pub mod encode;
pub mod explain;
pub mod locate;
pub mod policy;
pub mod server;
pub mod shield;
pub mod signed_transfer;
pub mod snapshot;
pub mod stats;
pub mod tap;
pub mod tsig;
pub mod view;
pub mod wire;
pub mod xfr;

use std::sync::Arc;

use arc_swap::ArcSwap;
use turnout_model::RType;

pub use answer::{Owner, Response, answer, answer_traced};
pub use encode::{Extras, Transport, encode, encode_error, encode_with, response_limit};
pub use explain::{Explanation, explain};
pub use policy::Context;
pub use shield::{CookieSecrets, RateLimit, Shield, ShieldConfig};
pub use snapshot::{Snapshot, SnapshotError, ZonePart, ZoneParts, chunk_index, first_label_below};
pub use wire::Rcode;
pub use wire::query::{Query, Rejection, decode};

/// Decodes `packet`, answers it from `snap` and writes the reply into `out`.
///
/// Returns the reply length, or `None` when the packet gets no reply (too short, or a
/// response). `out` should hold at least [`encode::TCP_LIMIT`] bytes for TCP and
/// [`encode::EDNS_UDP_PAYLOAD`] for UDP; a smaller buffer only truncates sooner.
///
/// `client` is the query's source address; routing policies that depend on the client use it
/// (or the EDNS Client Subnet). Random choices (weighted, multivalue) draw from a fast
/// per-thread generator.
#[inline]
pub fn respond(
    snap: &Snapshot,
    packet: &[u8],
    transport: Transport,
    client: Option<std::net::IpAddr>,
    out: &mut [u8],
) -> Option<usize> {
    static OFF: Shield = Shield::off();
    respond_with(snap, &OFF, None, packet, transport, client, 0, out).map(|(n, _)| n)
}

/// [`respond`] under a [`Shield`]: the reply carries a server cookie when the query has a
/// client cookie, and the NSID when asked; `id.server` and `hostname.bind` (class CH) are
/// answered with the identity; over UDP, a client prefix over its rate gets a truncated reply
/// now and then and no reply otherwise, unless its query has a valid server cookie. `now` is
/// the Unix time in seconds (cookies and rate limits count in it). With `tally`, the query and
/// its reply are counted there ([`stats`]). Returns the reply's length and its RCODE (extended
/// RCODEs included).
#[allow(clippy::too_many_arguments)]
#[inline]
pub fn respond_with(
    snap: &Snapshot,
    shield: &Shield,
    tally: Option<&stats::Shard>,
    packet: &[u8],
    transport: Transport,
    client: Option<std::net::IpAddr>,
    now: u32,
    out: &mut [u8],
) -> Option<(usize, Rcode)> {
    let (n, rcode) = reply(snap, shield, tally, packet, transport, client, now, out)?;
    // The RCODE as decided (extended ones included); TC as the encoder set it. A message the
    // door takes is the door's to answer and count.
    if let Some(t) = tally
        && n >= 12
        && !(door::wants(packet, rcode) && shield.door_open())
    {
        t.response(rcode.0, n, out[2] & 0x02 != 0);
    }
    Some((n, rcode))
}

/// The reply's length and RCODE, or None for no reply.
#[allow(clippy::too_many_arguments)]
#[inline]
fn reply(
    snap: &Snapshot,
    shield: &Shield,
    tally: Option<&stats::Shard>,
    packet: &[u8],
    transport: Transport,
    client: Option<std::net::IpAddr>,
    now: u32,
    out: &mut [u8],
) -> Option<(usize, Rcode)> {
    match decode(packet) {
        Ok(q) => {
            let mut extras = Extras::default();
            let reply_cookie;
            let mut proven = false;
            if let Some(c) = q.cookie
                && let Some((check, reply)) = shield.cookie(c, client, now)
            {
                proven = matches!(check, shield::CookieCheck::Valid { .. });
                reply_cookie = reply;
                extras.cookie = Some(&reply_cookie);
            }
            if q.edns.is_some_and(|e| e.nsid) {
                extras.nsid = shield.identity();
            }
            if let Some(t) = tally {
                let e = q.edns;
                t.query(
                    q.qtype.0,
                    [
                        e.is_some(),
                        e.is_some_and(|e| e.dnssec_ok),
                        e.is_some_and(|e| e.ecs.is_some()),
                        q.cookie.is_some(),
                        e.is_some_and(|e| e.nsid),
                    ],
                );
            }
            // RFC 7873 §5.3.2: a valid server cookie proves the source address; TCP does too.
            if transport == Transport::Udp && shield.limits() && !proven {
                match shield.limit(client, now) {
                    shield::Verdict::Pass => {}
                    shield::Verdict::Drop => {
                        if let Some(t) = tally {
                            t.dropped(true);
                        }
                        return None;
                    }
                    shield::Verdict::Slip => {
                        if let Some(t) = tally {
                            t.slipped();
                        }
                        extras.ede = Some((encode::ede::OTHER, "rate limited; retry over TCP"));
                        return Some((encode::encode_truncated(&q, &extras, out), Rcode::NOERROR));
                    }
                }
            }
            if q.qclass == wire::CLASS_CH
                && let Some(identity) = shield.identity()
                && is_identity_query(&q)
            {
                return Some((encode::encode_identity(&q, identity, &extras, out), Rcode::NOERROR));
            }
            // RFC 7871 §7.2.1: the Client Subnet, when given (a /0 says "do not use my
            // address": then the source address), is where the client is.
            let subnet = q.edns.and_then(|e| e.ecs).filter(|e| e.source > 0);
            let mut ctx = Context::new(subnet.map(|e| e.addr).or(client), fastrand::u64(..));
            if let Some(e) = subnet {
                ctx = ctx.with_source_prefix(e.source);
            }
            let mut r = if tally.is_some() {
                answer_traced(snap, &q, &mut ctx, &mut policy::Counting)
            } else {
                answer(snap, &q, &mut ctx)
            };
            // Signatures made for this reply are made at the batch's time.
            r.now = now;
            Some((encode_with(&q, &r, response_limit(q.edns, transport), &extras, out), r.rcode))
        }
        Err(Rejection::Reply(e)) => Some((encode_error(&e, out), e.rcode)),
        Err(Rejection::Drop) => {
            if let Some(t) = tally {
                t.dropped(false);
            }
            None
        }
    }
}

/// `id.server.` or `hostname.bind.`, TXT or ANY (RFC 4892 §2).
#[cold]
fn is_identity_query(q: &Query<'_>) -> bool {
    matches!(q.qtype, RType::TXT | RType::ANY)
        && matches!(q.qname.as_wire(), b"\x02id\x06server\x00" | b"\x08hostname\x04bind\x00")
}

/// The only way to change what the DNS server answers: publish a whole new snapshot.
#[derive(Clone)]
pub struct SnapshotHandle {
    current: Arc<ArcSwap<Snapshot>>,
}

impl std::fmt::Debug for SnapshotHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnapshotHandle").finish_non_exhaustive()
    }
}

impl SnapshotHandle {
    /// A handle serving `initial`.
    pub fn new(initial: Snapshot) -> Self {
        SnapshotHandle { current: Arc::new(ArcSwap::from_pointee(initial)) }
    }

    /// Replaces what is served, atomically: queries answered after this returns see `next`.
    /// Returns the previous snapshot, which workers may still be reading for a moment.
    pub fn publish(&self, next: Snapshot) -> Retired {
        Retired(self.current.swap(Arc::new(next)))
    }

    /// The snapshot being served. Cheap: no lock, no reference-count contention.
    #[inline]
    pub fn load(&self) -> arc_swap::Guard<Arc<Snapshot>> {
        self.current.load()
    }
}

/// A snapshot that is no longer served. Dropping it is always fine; [`Retired::release`] also
/// makes sure the memory is freed on the caller's thread, at a moment of its choosing.
pub struct Retired(Arc<Snapshot>);

impl Retired {
    /// [`Retired::release`], then adds its counters ([`Snapshot::carry_counts`]) to the
    /// snapshot `handle` serves by then, so that counts go on across changes.
    pub fn carry_into(self, handle: &SnapshotHandle) {
        let retired = Arc::clone(&self.0);
        drop(self);
        while Arc::strong_count(&retired) > 1 {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        handle.current.load_full().carry_counts(&retired);
    }

    /// Blocks until no worker reads the snapshot any more (each holds it for at most one batch
    /// of queries), then frees it.
    pub fn release(self) {
        while Arc::strong_count(&self.0) > 1 {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    #[test]
    fn release_waits_for_the_last_reader() {
        let handle = SnapshotHandle::new(Snapshot::empty());
        let reader = handle.load();
        let retired = handle.publish(Snapshot::empty());
        let done = Arc::new(AtomicBool::new(false));
        let flag = done.clone();
        let t = std::thread::spawn(move || {
            retired.release();
            flag.store(true, Ordering::SeqCst);
        });
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(!done.load(Ordering::SeqCst), "released while a reader still held the snapshot");
        drop(reader);
        t.join().expect("joins");
        assert!(done.load(Ordering::SeqCst));
    }
}
