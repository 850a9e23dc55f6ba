//! The one write path: every change of the configuration (zones, change batches, health
//! checks, CIDR collections, control panels, routing-control states, tokens) goes through
//! [`Control::write`].
//!
//! A write is *planned* against the in-memory [`State`] at revision R: the planner records
//! every object it read ([`Reads`]: a key's mod revision, a zone's metadata and SOA, or every
//! key under a prefix when it looked for users of an object) and returns the operations to
//! run. The plan commits as **one store transaction that compares every key it read**, so a
//! write can never land on a state it did not see: a record naming a check that another node
//! has just deleted, a check deleted while another node adds a record naming it, a control
//! flipped on a panel being deleted. On a conflict the node catches up with the store and
//! plans again (its validation then names what changed), a bounded number of times with
//! jittered backoff.
//!
//! Before the first plan, the node catches up with the store's current revision (a
//! linearizable read of it, then the watch brought that far): a write sent to this node right
//! after another node acknowledged one sees it (read-your-writes across nodes).
//!
//! Writes through one node are serialized by a local lock per lane (configuration, routing
//! controls), so retries only happen between nodes sharing a store; a routing-control flip
//! never waits behind a large configuration write.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use turnout_model::Name;
use turnout_store::{Compare, Op, Revision, StoreError, Txn};

use crate::node::Control;
use crate::state::State;
use crate::{ControlError, keys};

/// Plans tried before a write gives up with [`ControlError::Conflict`].
const MAX_ATTEMPTS: u32 = 10;
/// The longest pause between two attempts (each waits a random time up to twice the last).
const MAX_BACKOFF: Duration = Duration::from_millis(200);
/// How long this node may take to catch up with a store revision.
const CATCH_UP: Duration = Duration::from_secs(5);
/// How long a write may take in all before it fails (the API's request deadline for writes).
pub(crate) const WRITE_DEADLINE: Duration = Duration::from_secs(5);

/// What a plan read, to compare at commit.
#[derive(Debug)]
pub(crate) struct Reads<'a> {
    st: &'a State,
    keys: RefCell<BTreeMap<String, Revision>>,
    prefixes: RefCell<BTreeSet<String>>,
}

impl<'a> Reads<'a> {
    fn new(st: &'a State) -> Self {
        Reads { st, keys: RefCell::default(), prefixes: RefCell::default() }
    }

    /// The plan read this object (its existence, its value): the commit compares its key's
    /// mod revision as the state shows it (0: absent).
    pub(crate) fn object(&self, key: String) {
        let revision = self.st.revision_of(&key);
        self.keys.borrow_mut().insert(key, revision);
    }

    /// The plan read a zone's record sets: its metadata and its SOA (every change batch
    /// rewrites its zones' SOA, so that one key stands for the zone's records).
    pub(crate) fn zone(&self, apex: &Name) {
        self.object(keys::zone(apex));
        let soa = self.st.soa_revision.get(apex).copied().unwrap_or(0);
        self.keys.borrow_mut().insert(keys::rrset(apex, &State::soa_key(apex)), soa);
    }

    /// The plan looked at every key under `prefix` (for users of an object it changes or
    /// removes): the commit fails if any of them was written after the plan's revision.
    pub(crate) fn prefix(&self, prefix: String) {
        self.prefixes.borrow_mut().insert(prefix);
    }

    fn compares(self) -> Vec<Compare> {
        let revision = self.st.revision;
        let mut out: Vec<Compare> = self
            .keys
            .into_inner()
            .into_iter()
            .map(|(key, rev)| Compare::mod_revision(key, rev))
            .collect();
        out.extend(
            self.prefixes.into_inner().into_iter().map(|p| Compare::unchanged_since(p, revision)),
        );
        out
    }
}

/// What a planner decided.
#[derive(Debug)]
pub(crate) enum Plan<T> {
    /// Run these operations (guarded by what was read), then answer `value`.
    Write {
        /// The puts and deletes.
        ops: Vec<Op>,
        /// The answer once committed.
        value: T,
    },
    /// Nothing to write (an idempotent repeat): answer `value` as is.
    Nothing(T),
}

/// Which local lock a write takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lane {
    /// Configuration: zones, records, checks, collections, panels, tokens.
    Config,
    /// Routing-control states (and their audit records).
    Controls,
}

/// A committed (or idempotent) write.
#[derive(Debug)]
pub(crate) struct Written<T> {
    /// The planner's answer.
    pub value: T,
    /// The revision the write committed at (for [`Plan::Nothing`], the state's revision).
    pub revision: Revision,
}

impl Control {
    /// Plans with `plan` and commits, guarded by every key the plan read; on a conflict,
    /// catches up and plans again. A planner's error is returned as is (nothing written).
    ///
    /// The whole write (its turn, catching up, every attempt) has [`WRITE_DEADLINE`]: a store
    /// that cannot commit (etcd without a quorum) fails the request then, with a plain message,
    /// rather than after the store client's own patience.
    pub(crate) async fn write<T>(
        &self,
        lane: Lane,
        plan: impl FnMut(&State, &Reads<'_>) -> Result<Plan<T>, ControlError>,
    ) -> Result<Written<T>, ControlError> {
        match tokio::time::timeout(WRITE_DEADLINE, self.write_now(lane, plan)).await {
            Ok(outcome) => outcome,
            Err(_) => Err(ControlError::Store(StoreError::Unavailable(format!(
                "the store did not confirm the write within {WRITE_DEADLINE:?}; it may or may \
                 not have been applied: read the object back before sending it again"
            )))),
        }
    }

    async fn write_now<T>(
        &self,
        lane: Lane,
        mut plan: impl FnMut(&State, &Reads<'_>) -> Result<Plan<T>, ControlError>,
    ) -> Result<Written<T>, ControlError> {
        let lock = match lane {
            Lane::Config => &self.config_writer,
            Lane::Controls => &self.controls_writer,
        };
        let _writer = lock.lock().await;
        self.catch_up().await?;
        let mut backoff = Duration::from_millis(2);
        for attempt in 1..=MAX_ATTEMPTS {
            let (txn, value) = {
                let st = self.read();
                let reads = Reads::new(&st);
                match plan(&st, &reads)? {
                    Plan::Nothing(value) => return Ok(Written { value, revision: st.revision }),
                    Plan::Write { mut ops, value } => {
                        // The audit record commits with the write, or neither does.
                        if let Some(put) =
                            crate::audit::record(&st, &ops, crate::cluster::now_ms())?
                        {
                            ops.push(put);
                        }
                        let txn = Txn { compares: reads.compares(), success: ops, failure: vec![] };
                        (txn, value)
                    }
                }
            };
            let response = self.store().txn(txn).await?;
            if response.succeeded {
                self.wait_state(response.revision).await;
                return Ok(Written { value, revision: response.revision });
            }
            // Another writer changed something the plan read: see it, then plan again.
            tracing::debug!("write conflict at revision {} (attempt {attempt})", response.revision);
            self.reach(response.revision).await?;
            if attempt < MAX_ATTEMPTS {
                let pause = fastrand::u64(0..=u64::try_from(backoff.as_micros()).unwrap_or(0));
                tokio::time::sleep(Duration::from_micros(pause)).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
        Err(ControlError::Conflict)
    }

    /// Runs `plan` on this node's state, caught up with the store, and writes nothing (dry
    /// runs).
    pub(crate) async fn plan_only<T>(
        &self,
        plan: impl FnOnce(&State, &Reads<'_>) -> Result<T, ControlError>,
    ) -> Result<T, ControlError> {
        self.catch_up().await?;
        let st = self.read();
        plan(&st, &Reads::new(&st))
    }

    /// Brings this node's state up to the store's current revision (read-your-writes across
    /// nodes): a read, then a wait for the watch.
    pub(crate) async fn catch_up(&self) -> Result<(), ControlError> {
        let revision = self.store().revision().await?;
        self.reach(revision).await
    }

    /// Waits until this node's state reflects `revision`, asking the store's watch to report
    /// its progress (the revision may be one the watch never delivers, like another prefix's).
    pub(crate) async fn reach(&self, revision: Revision) -> Result<(), ControlError> {
        let mut rx = self.subscribe_state();
        let deadline = tokio::time::Instant::now() + CATCH_UP;
        loop {
            if *rx.borrow_and_update() >= revision {
                return Ok(());
            }
            self.store().request_progress().await;
            let ask_again = tokio::time::Instant::now() + Duration::from_millis(100);
            let until = ask_again.min(deadline);
            if tokio::time::timeout_at(until, rx.changed()).await.is_ok_and(|r| r.is_err()) {
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                break;
            }
        }
        let at = *rx.borrow();
        Err(ControlError::Store(StoreError::Unavailable(format!(
            "this node's copy of the configuration is at revision {at} and did not reach the \
             store's revision {revision} within {CATCH_UP:?}; nothing was applied"
        ))))
    }
}
