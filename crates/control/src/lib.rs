//! Turnout's control plane: the runtime configuration (zones, record sets, tokens) in the
//! store, change batches committed as single store transactions, and the sync task that turns
//! every committed revision into a new DNS snapshot.
//!
//! ```text
//!  API handler ──plan (turnout-model)──▶ Store::txn (compare the zones' SOA revisions)
//!                                              │ watch
//!  sync task ◀─────────────────────────────────┘
//!     State::apply ─▶ compile changed zones ─▶ Snapshot::update ─▶ SnapshotHandle::publish
//!     ─▶ served revision (changes at or below it are INSYNC)
//! ```
//! This crate owns the key layout ([`keys`]) and the meaning of stored values; it must not know
//! about HTTP (that is `turnout-api`) or sockets (`turnout-dns`).
//!
//! One module per concern, none importing another in a cycle: `node` is the handle every
//! operation runs on ([`Control`]: the in-memory [`state::State`], the store, the health
//! engine, this node's status); `zones`, `checks`, `collections`, [`routing_controls`] and
//! [`cluster`] (membership) are the operations on each resource; `write` is the one write path
//! they all commit through; `sync` follows the store and builds the snapshot.

pub mod audit;
pub mod cluster;
pub mod door_counts;
pub mod drills;
pub use drills::run_drills;
mod explain;
pub mod journal;
pub mod routing_controls;
pub mod secrets;
pub use collections::{CollectionWrite, collection_id};
pub use explain::{CheckView, Explained};
mod checks;
mod collections;
pub mod dnssec;
pub mod keys;
mod node;
mod pieces;
pub mod replica;
pub mod reports;
mod signing;
pub mod state;
mod sync;
pub mod tags;
pub mod tokens;
mod transfers;
pub use transfers::{TransferDoor, normalize_transfers, run_notify};
pub mod secondaries;
mod tsig_keys;
pub mod types;
mod updates;
pub use secondaries::run_secondaries;
pub mod secondary;
pub use secondary::normalize_secondary;
pub mod published;
pub mod views;
pub use updates::normalize_updates;
pub use views::run_views;
mod write;
mod zones;

pub use node::{Control, ControlOptions, SERVE_LATENCY_BUCKETS};
pub use sync::{StaticZones, SyncError, SyncOptions, run_sync};
pub use zones::{
    MAX_RRSET_PAGE, MAX_ZONE_PAGE, Submitted, default_name_servers, default_records,
    parse_zone_name,
};

/// Reverts timed routing-control changes when they expire, checking every second until
/// `shutdown`. A revert that safety rules refuse is retried a minute later (each attempt is
/// in the audit trail).
pub async fn run_control_expiry(
    control: std::sync::Arc<Control>,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let mut retry_after: std::collections::HashMap<(String, String), tokio::time::Instant> =
        std::collections::HashMap::new();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
        }
        let now = tokio::time::Instant::now();
        retry_after.retain(|_, at| *at > now);
        let skip = |p: &str, c: &str| retry_after.contains_key(&(p.to_owned(), c.to_owned()));
        let failed = control.revert_expired(&skip).await;
        for key in failed {
            retry_after.insert(key, now + std::time::Duration::from_secs(60));
        }
    }
}

/// Prunes change records older than `retention` once an hour (and once at start), until
/// `shutdown`. Store errors are logged and retried at the next round.
pub async fn run_change_gc(
    control: std::sync::Arc<Control>,
    retention: Retention,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(3600));
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = every.tick() => {}
        }
        let now = std::time::SystemTime::now();
        if let Some(cutoff) = now.checked_sub(retention.changes) {
            match control.prune_changes(cutoff).await {
                Ok(0) => {}
                Ok(n) => {
                    tracing::info!(
                        "pruned {n} change record(s) older than {}",
                        humantime::format_duration(retention.changes)
                    )
                }
                Err(e) => tracing::warn!("pruning old change records failed: {e}"),
            }
        }
        if let Some(cutoff) = now.checked_sub(retention.audit) {
            match control.prune_audit(cutoff).await {
                Ok(0) => {}
                Ok(n) => {
                    tracing::info!(
                        "pruned {n} audit record(s) older than {}",
                        humantime::format_duration(retention.audit)
                    );
                }
                Err(e) => tracing::warn!("pruning old audit records failed: {e}"),
            }
        }
    }
}

/// How long records of the past are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Change records (ids and statuses; the changes stay applied).
    pub changes: std::time::Duration,
    /// Routing-control audit records.
    pub audit: std::time::Duration,
}

use turnout_model::{ChangeError, Name};
use turnout_store::StoreError;

/// Why a control-plane operation failed. Each variant maps to one stable API error code.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ControlError {
    /// The batch breaks rules; every problem is listed.
    #[error("the change batch is invalid: {}", list(.0))]
    InvalidChangeBatch(Vec<ChangeError>),
    /// A request field is malformed.
    #[error("{field}: {message}")]
    InvalidInput {
        /// The field.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// No such zone.
    #[error("no zone {0}")]
    NoSuchZone(Name),
    /// A zone with this name exists.
    #[error("the zone {0} already exists")]
    ZoneAlreadyExists(Name),
    /// The zone is served from a zone file given to `turnout serve`.
    #[error("the zone {0} is served from a zone file; it cannot be managed through the API")]
    ZoneFromFile(Name),
    /// The caller reference was used for another zone.
    #[error("caller reference {reference:?} was already used to create the zone {zone}")]
    CallerReferenceInUse {
        /// The reference.
        reference: String,
        /// The zone it created.
        zone: String,
    },
    /// The zone holds more than its SOA and apex NS.
    #[error("the zone {0} contains record sets other than its SOA and NS; delete them or force")]
    ZoneNotEmpty(Name),
    /// No such change.
    #[error("no change {0:?}")]
    NoSuchChange(String),
    /// No such health check.
    #[error("no health check {0:?}")]
    NoSuchCheck(String),
    /// No API token with this name.
    #[error("no token {0:?}")]
    NoSuchToken(String),
    /// An API token with this name exists.
    #[error("a token named {0:?} exists")]
    TokenExists(String),
    /// The health check is invalid; every problem is listed.
    #[error("the health check is invalid: {}", fields(.0))]
    InvalidCheck(Vec<turnout_model::FieldError>),
    /// The health check is still named by a record or a calculated check.
    #[error("the health check {name:?} is still used by the {user}")]
    CheckInUse {
        /// The check.
        name: String,
        /// What uses it.
        user: String,
    },
    /// No such CIDR collection.
    #[error("no CIDR collection {0:?}")]
    NoSuchCollection(String),
    /// The object changed since the version the request names (Route 53's
    /// `HealthCheckVersion` and `CollectionVersion`); nothing was applied.
    #[error("the {kind} {name:?} is at version {current}, not {expected}; read it again")]
    VersionMismatch {
        /// `health check` or `CIDR collection`.
        kind: &'static str,
        /// The object.
        name: String,
        /// The version the request named.
        expected: i64,
        /// The stored version.
        current: i64,
    },
    /// The CIDR collection is invalid; every problem is listed.
    #[error("the CIDR collection is invalid: {}", fields(.0))]
    InvalidCollection(Vec<turnout_model::FieldError>),
    /// The collection (or a location it would lose) is still named by a record.
    #[error("the CIDR collection {name:?} is still used by the {user}")]
    CollectionInUse {
        /// The collection.
        name: String,
        /// What uses it.
        user: String,
    },
    /// No such control panel.
    #[error("no control panel {0:?}")]
    NoSuchPanel(String),
    /// No such routing control (`panel/control`).
    #[error("no routing control {0}")]
    NoSuchControl(String),
    /// The control panel is invalid; every problem is listed.
    #[error("the control panel is invalid: {}", fields(.0))]
    InvalidPanel(Vec<turnout_model::FieldError>),
    /// A health check follows a control the request would remove.
    #[error("the control panel {name:?} is still used by the {user}")]
    PanelInUse {
        /// The panel.
        name: String,
        /// What uses it.
        user: String,
    },
    /// No drill with this name.
    #[error("no drill {0:?}")]
    NoSuchDrill(String),
    /// The drill is invalid; every problem is listed.
    #[error("the drill is invalid: {}", fields(.0))]
    InvalidDrill(Vec<turnout_model::FieldError>),
    /// A run of the drill is under way.
    #[error("the drill {0:?} is running; abort it or wait for it to end")]
    DrillRunning(String),
    /// No run of the drill is under way.
    #[error("the drill {0:?} is not running")]
    DrillNotRunning(String),
    /// The drill may not start now.
    #[error("the drill {name:?} does not start now: {why}")]
    DrillBlocked {
        /// The drill.
        name: String,
        /// Why: the blocked window, or the guard's status.
        why: String,
    },
    /// Safety rules refused a routing-control update; nothing changed.
    #[error("refused by safety rules: {}", refusals(.0))]
    SafetyRules(Vec<turnout_model::controls::Refusal>),
    /// No TSIG key with this name.
    #[error("no TSIG key {0:?}")]
    NoSuchTsigKey(String),
    /// A TSIG key with this name exists.
    #[error("a TSIG key named {0:?} exists")]
    TsigKeyExists(String),
    /// The TSIG key is still named by a zone's transfer settings.
    #[error("the TSIG key {name:?} is still used by {user}")]
    TsigKeyInUse {
        /// The key.
        name: String,
        /// What uses it.
        user: String,
    },
    /// The zone is signed already.
    #[error("the zone {0} is signed already")]
    DnssecAlreadyOn(Name),
    /// The zone is not signed.
    #[error("the zone {0} is not signed")]
    DnssecOff(Name),
    /// A key rollover cannot start or go on now; the message says why.
    #[error("{0}")]
    Rollover(String),
    /// The zone is a secondary zone: its records come from its primaries.
    #[error(
        "the zone {0} is a secondary zone: its records come from its primaries (promote it to \
         change them here)"
    )]
    ZoneIsSecondary(Name),
    /// The zone is not a secondary zone.
    #[error("the zone {0} is not a secondary zone")]
    NotSecondary(Name),
    /// The secondary zone has not been loaded from a primary yet.
    #[error("the secondary zone {0} has not been loaded from a primary yet")]
    SecondaryNotLoaded(Name),
    /// The DNS data plane has not published its first snapshot yet.
    #[error("not ready: the configuration is not loaded yet")]
    NotReady,
    /// Concurrent writers kept changing the same zones; the request was not applied.
    #[error("the zones kept changing under this request; nothing was applied, retry it")]
    Conflict,
    /// The store failed; nothing was applied.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn refusals(refusals: &[turnout_model::controls::Refusal]) -> String {
    let parts: Vec<String> = refusals.iter().map(|r| format!("{}: {}", r.rule, r.reason)).collect();
    parts.join("; ")
}

fn fields(errors: &[turnout_model::FieldError]) -> String {
    let parts: Vec<String> = errors.iter().map(ToString::to_string).collect();
    format!("[{}]", parts.join(", "))
}

fn list(errors: &[ChangeError]) -> String {
    let parts: Vec<String> = errors.iter().map(ToString::to_string).collect();
    format!("[{}]", parts.join(", "))
}

/// The current time in RFC 3339, to the second.
pub(crate) fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

/// `n` random bytes from the OS, base-32 encoded without padding.
pub(crate) fn random_base32(n: usize) -> Result<String, StoreError> {
    let mut bytes = vec![0u8; n];
    getrandom::fill(&mut bytes)
        .map_err(|e| StoreError::Unavailable(format!("no randomness from the OS: {e}")))?;
    Ok(data_encoding::BASE32_NOPAD.encode(&bytes))
}

/// A new version-4 UUID (RFC 9562 §5.4), the form of Route 53's health check and CIDR
/// collection ids.
pub fn random_uuid() -> Result<String, StoreError> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b)
        .map_err(|e| StoreError::Unavailable(format!("no randomness from the OS: {e}")))?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    Ok(uuid_text(&b))
}

/// 16 bytes in the 8-4-4-4-12 hexadecimal form of a UUID.
pub(crate) fn uuid_text(b: &[u8; 16]) -> String {
    let h = data_encoding::HEXLOWER.encode(b);
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

/// A client error about `field`.
pub(crate) fn invalid(field: &str, message: impl Into<String>) -> ControlError {
    ControlError::InvalidInput { field: field.to_owned(), message: message.into() }
}

/// A stored value as JSON.
pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> Vec<u8> {
    // Serializing these plain structs cannot fail (no maps with non-string keys).
    serde_json::to_vec(value).unwrap_or_default()
}

/// Hex SHA-256 of a token.
/// Reads `text` as a server's address: `address` (port 53) or `address:port` (IPv6 with a
/// port as `[address]:port`).
pub(crate) fn parse_address(text: &str) -> Option<std::net::SocketAddr> {
    let text = text.trim();
    text.parse::<std::net::SocketAddr>()
        .ok()
        .or_else(|| text.parse::<std::net::IpAddr>().ok().map(|ip| (ip, 53).into()))
}

pub(crate) fn hex_sha256(token: &str) -> String {
    use sha2::Digest;
    data_encoding::HEXLOWER.encode(&sha2::Sha256::digest(token.as_bytes()))
}
