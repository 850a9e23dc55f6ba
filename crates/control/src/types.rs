//! The control plane's data as it is stored and as the API shows it: zones, changes, tokens and
//! pages. These are plain serde types shared by the daemon, the HTTP API and the CLI.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use turnout_model::RecordSetSpec;
use turnout_store::{LeaseId, Revision};

/// A request to create a zone.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateZone {
    /// The apex (trailing dot optional).
    #[serde(default)]
    pub name: String,
    /// Makes the request safe to retry: the same reference for the same name returns the zone
    /// it created, for another name is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller_reference: Option<String>,
    /// Free text, at most 256 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// The apex NS records; default `ns1.<apex>` and `ns2.<apex>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_servers: Option<Vec<String>>,
    /// Make it a secondary zone of these primaries (docs/secondary-zones.md): its records
    /// come by zone transfer, none are made (not with `name_servers`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secondary: Option<SecondaryOf>,
}

/// Where a secondary zone comes from (docs/secondary-zones.md).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecondaryOf {
    /// The primaries, tried in order: `address` or `address:port` (port 53 by default; IPv6
    /// as `[addr]:port`). NOTIFY is accepted from their addresses.
    #[serde(default)]
    pub primaries: Vec<String>,
    /// The TSIG key transfers are signed with (none: unsigned). A NOTIFY signed with it is
    /// accepted from any address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// How a secondary zone's refreshes went, as every node sees it (stored apart from the
/// configuration, at `/turnout/secondary/<apex>`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecondaryStatus {
    /// When a primary last confirmed the zone's serial, or sent a newer one (Unix seconds):
    /// the zone expires its SOA expire after that.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refreshed_at: Option<u64>,
    /// The primary that did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary: Option<String>,
    /// The zone expired: it is answered SERVFAIL until a refresh succeeds.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub expired: bool,
    /// Why the last refresh failed, and when (Unix seconds); none once one succeeds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// When the last refresh failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_at: Option<u64>,
}

/// A secondary zone, as `GET /v1/zones/{zone}` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecondaryInfo {
    /// The primaries.
    pub primaries: Vec<String>,
    /// The TSIG key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Whether a transfer has loaded it (until then it is answered SERVFAIL).
    pub loaded: bool,
    /// Whether it expired (answered SERVFAIL until a refresh succeeds).
    pub expired: bool,
    /// When a primary last confirmed it (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refreshed_at: Option<String>,
    /// The primary that did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary: Option<String>,
    /// When it expires unless refreshed (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// Why the last refresh failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// When (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_at: Option<String>,
}

/// A zone's metadata as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoneMeta {
    /// The apex, absolute.
    pub name: String,
    /// Its hosted zone id in the Route 53 API's form (`Z` and 19 characters: with the
    /// `/hostedzone/` prefix, the 32 the API's model allows), made when the zone is created; a
    /// zone made before ids were kept has one derived from its name and creation time
    /// ([`ZoneMeta::hosted_zone_id`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The caller reference that created it, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller_reference: Option<String>,
    /// The comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// Who may transfer the zone and which secondaries are told of changes (none: nobody,
    /// nothing sent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfers: Option<ZoneTransfers>,
    /// Which TSIG keys may change which records by RFC 2136 UPDATE (none: no key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updates: Option<ZoneUpdates>,
    /// A secondary zone: where its records come from (none: a zone managed here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secondary: Option<SecondaryOf>,
}

impl ZoneMeta {
    /// The zone's hosted zone id: the stored one, or for a zone made before ids were stored,
    /// one derived from its name and creation time (the same forever, and another for a zone
    /// deleted and made again).
    pub fn hosted_zone_id(&self) -> String {
        if let Some(id) = &self.id {
            return id.clone();
        }
        use sha2::Digest;
        let digest = sha2::Sha256::digest(format!("{} {}", self.name, self.created_at).as_bytes());
        format!("Z{}", &data_encoding::BASE32_NOPAD.encode(&digest)[..19])
    }
}

/// A zone's RFC 2136 update rules (docs/dynamic-updates.md): an update is applied when every
/// record it changes is allowed to its key by one rule.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneUpdates {
    /// The rules.
    #[serde(default)]
    pub allow: Vec<UpdateAllow>,
}

/// One update rule: a key, the owner names and the types it may change.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateAllow {
    /// The TSIG key.
    #[serde(default)]
    pub key: String,
    /// Owner-name patterns relative to the zone: `@` (the apex), `www`, `_acme-challenge.*`
    /// (that label, then any labels or none), `*` (any name).
    #[serde(default)]
    pub names: Vec<String>,
    /// Record types (`TXT`, `A`...); empty or `*`: any type but SOA.
    #[serde(default)]
    pub types: Vec<String>,
}

/// A zone's outgoing transfers (docs/transfers.md): who may take AXFR/IXFR, who is sent
/// NOTIFY on every serial change, and how a zone with routing policies is transferred.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneTransfers {
    /// Who may transfer the zone: a request is allowed when any entry matches it. None:
    /// nobody.
    #[serde(default)]
    pub allow: Vec<TransferAllow>,
    /// Secondaries sent NOTIFY (RFC 1996) on every serial change: `address` or
    /// `address:port` (port 53 by default; IPv6 as `[addr]:port`).
    #[serde(default)]
    pub notify: Vec<String>,
    /// The TSIG key NOTIFY messages are signed with (none: unsigned).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_key: Option<String>,
    /// How a zone with routing policies is transferred: `static` (the default) refuses it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_mode: Option<String>,
}

/// One entry of [`ZoneTransfers::allow`]: a TSIG key, a client prefix, or both (then both
/// must match).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferAllow {
    /// The request must be signed with this TSIG key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The client's address must be in this prefix (`192.0.2.0/24`, `2001:db8::/32`, or one
    /// address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
}

/// A TSIG key as stored: the secret is kept, never shown by the API.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TsigKeyRecord {
    /// The key's name (an absolute domain name, lower case).
    pub name: String,
    /// `hmac-sha256`, `hmac-sha384`, `hmac-sha512` or `hmac-sha1`.
    pub algorithm: String,
    /// The secret, base64.
    pub secret: String,
    /// RFC 3339.
    pub created_at: String,
}

impl std::fmt::Debug for TsigKeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TsigKeyRecord")
            .field("name", &self.name)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl TsigKeyRecord {
    /// The key, ready to sign and verify with (None: the stored record is unusable).
    pub fn key(&self) -> Option<turnout_dns::tsig::Key> {
        let name = turnout_model::Name::parse_absolute(&self.name).ok()?;
        let algorithm = turnout_dns::tsig::Algorithm::from_name(&self.algorithm)?;
        let secret = data_encoding::BASE64.decode(self.secret.as_bytes()).ok()?;
        Some(turnout_dns::tsig::Key::new(name, algorithm, &secret))
    }

    /// What the API shows.
    pub fn info(&self) -> TsigKeyInfo {
        TsigKeyInfo {
            name: self.name.clone(),
            algorithm: self.algorithm.clone(),
            created_at: self.created_at.clone(),
            secret: None,
        }
    }
}

/// A request to create a TSIG key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateTsigKey {
    /// The key's name, a domain name (e.g. `xfr.example.com.`), as the peer names it.
    #[serde(default)]
    pub name: String,
    /// `hmac-sha256` (default), `hmac-sha384`, `hmac-sha512` or `hmac-sha1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub algorithm: Option<String>,
    /// The secret, base64 (as `tsig-keygen` or `keymgr` print it); none: a random one is made
    /// and returned once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// A TSIG key as the API shows it: never its secret, except once, when the node made it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TsigKeyInfo {
    /// The key's name.
    pub name: String,
    /// Its algorithm.
    pub algorithm: String,
    /// RFC 3339.
    pub created_at: String,
    /// The secret (base64), only in the reply that created it with a made-up secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// A zone as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoneInfo {
    /// The apex, absolute.
    pub name: String,
    /// Its hosted zone id, as the Route 53 API shows it (without `/hostedzone/`).
    #[serde(default)]
    pub id: String,
    /// The caller reference that created it, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller_reference: Option<String>,
    /// The comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// The current SOA serial.
    pub serial: u32,
    /// Record sets in the zone, SOA and NS included.
    pub record_set_count: usize,
    /// The apex NS names.
    pub name_servers: Vec<String>,
    /// Its outgoing transfers, when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfers: Option<ZoneTransfers>,
    /// For a secondary zone: where it comes from and how its refreshes go.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secondary: Option<SecondaryInfo>,
}

/// What a zone creation returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoneCreated {
    /// The zone.
    pub zone: ZoneInfo,
    /// The change that created it (or created it first, for a retried request).
    pub change: ChangeInfo,
    /// False when a retried request found the zone its caller reference created.
    pub created: bool,
}

/// The status of a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ChangeStatus {
    /// Committed to the store, not yet served by the DNS data plane.
    Pending,
    /// Served by the DNS data plane.
    Insync,
}

impl ChangeStatus {
    /// `PENDING` or `INSYNC`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeStatus::Pending => "PENDING",
            ChangeStatus::Insync => "INSYNC",
        }
    }
}

impl std::fmt::Display for ChangeStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An accepted change as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeRecord {
    /// The id, `C` and 16 base-32 characters.
    pub id: String,
    /// RFC 3339.
    pub submitted_at: String,
    /// The batch comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// What it was: `records`, `create_zone` or `delete_zone`.
    pub kind: String,
    /// The zones it touched.
    pub zones: Vec<String>,
    /// How many changes the batch held.
    pub changes: usize,
}

/// A change as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeInfo {
    /// The id.
    pub id: String,
    /// PENDING until the DNS data plane serves the change's revision, then INSYNC.
    pub status: ChangeStatus,
    /// RFC 3339.
    pub submitted_at: String,
    /// The batch comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// `records`, `create_zone` or `delete_zone`.
    pub kind: String,
    /// The zones it touched.
    pub zones: Vec<String>,
    /// How many changes the batch held.
    pub changes: usize,
    /// The store revision that holds it.
    pub revision: i64,
}

/// The result of a dry run: what the batch would write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DryRun {
    /// Record sets that would be created or replaced.
    pub puts: Vec<RecordSetSpec>,
    /// Record sets that would be removed.
    pub deletes: Vec<RecordSetSpec>,
}

/// A page of zones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZonePage {
    /// The zones, in canonical order of their names.
    pub zones: Vec<ZoneInfo>,
    /// Whether more follow.
    pub is_truncated: bool,
    /// Pass as `marker` to get the next page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
    /// The page size used.
    pub max_items: usize,
}

/// A page of record sets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordSetPage {
    /// The record sets, in canonical order of (name, type, set id).
    pub record_sets: Vec<RecordSetSpec>,
    /// Whether more follow.
    pub is_truncated: bool,
    /// With `next_type` and `next_set_id`: where the next page starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_name: Option<String>,
    /// The next page's first type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_type: Option<String>,
    /// The next page's first set id (empty for simple records).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_set_id: Option<String>,
    /// The page size used.
    pub max_items: usize,
}

/// An API token as stored: its SHA-256, never the token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// The token's name (`admin` for the one made at first start).
    pub name: String,
    /// What it may do: `read`, `config`, `controls` or `admin`.
    pub scopes: Vec<String>,
    /// Hex SHA-256 of the token.
    pub sha256: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339: the token is refused from then on (none: it does not expire).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// An AWS-style access key for the Route 53 API (docs/route53-api.md): SigV4 needs the
    /// secret itself, so it is stored (and redacted from the audit trail).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key: Option<AccessKey>,
}

/// An access key pair that signs Route 53 API requests with AWS Signature Version 4.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessKey {
    /// The access key id (`AKTO` and 16 characters), public.
    pub id: String,
    /// The secret access key.
    pub secret: String,
}

/// A node's record in the store (under the node's lease).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeRecord {
    /// Its name.
    pub name: String,
    /// Its region.
    pub region: String,
    /// Its DNS listeners.
    pub dns: Vec<String>,
    /// Its API.
    pub api: String,
    /// Its routing-control API.
    pub controls: String,
    /// The addresses its health probes come from: the configured `health.source_address`,
    /// or the ones the system picks towards the IPv4 and IPv6 default routes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub probe_sources: Vec<String>,
    /// The store revision it serves (0: none yet), written when it passes a configuration
    /// change (not on every revision: the records' own writes would then feed each other).
    pub served_revision: Revision,
    /// When it wrote this record, milliseconds since the epoch (shown, never compared).
    pub updated_ms: u64,
    /// The lease it is registered under (as the store says): its health reports count while
    /// they were written under this one.
    #[serde(default)]
    pub lease: LeaseId,
}

/// Where placed checks run: check -> the checkers (node names) that probe it.
pub(crate) type Placement = BTreeMap<String, Arc<BTreeSet<String>>>;

/// The stored secrets (hex, 16 bytes each).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CookieSecretRecord {
    /// Makes and checks cookies.
    pub current: String,
    /// Checks cookies made before the last rotation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
    /// RFC 3339: when `current` was made.
    pub rotated_at: String,
}

fn parse_secret(text: &str) -> Option<[u8; 16]> {
    let bytes = data_encoding::HEXLOWER_PERMISSIVE.decode(text.as_bytes()).ok()?;
    bytes.try_into().ok()
}

impl CookieSecretRecord {
    /// The secrets, if the record holds usable ones.
    pub fn secrets(&self) -> Option<turnout_dns::CookieSecrets> {
        Some(turnout_dns::CookieSecrets {
            current: parse_secret(&self.current)?,
            previous: match &self.previous {
                Some(p) => Some(parse_secret(p)?),
                None => None,
            },
        })
    }

    /// Whether the current secret is older than `every` (or its time cannot be read).
    pub(crate) fn due(&self, every: std::time::Duration, now: std::time::SystemTime) -> bool {
        humantime::parse_rfc3339(&self.rotated_at)
            .map_or(true, |at| now.duration_since(at).is_ok_and(|age| age >= every))
    }
}

/// Which view a zone's serial stands for, as stored at `/turnout/views/<apex>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViewRecord {
    /// The zone's SOA serial when this view was recorded.
    pub serial: u32,
    /// SHA-256 of the dynamic view (hex): the current answers of the zone's policy record
    /// sets, one record per line in presentation format, sorted.
    pub hash: String,
}

/// One run of a failover drill (docs/drills.md): under way (`outcome` `running`, at
/// `keys::active_drill`) or finished (at `keys::drill_run`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DrillRun {
    /// Its id.
    pub id: String,
    /// The drill.
    pub drill: String,
    /// The node that runs it.
    pub node: String,
    /// Who started it: a token's name, or `schedule`.
    pub started_by: String,
    /// When it was asked for (RFC 3339, milliseconds).
    pub started_at: String,
    /// The same, in milliseconds since 1970.
    pub started_ms: u64,
    /// `starting`, then `flipped` while the flip holds (runs under way only).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub phase: String,
    /// `running`, then `passed`, `aborted`, `failed`, `refused` or `interrupted`.
    pub outcome: String,
    /// What happened, for people.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
    /// What it flipped: `main/us-east On -> Off`, `check web forced unhealthy`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub flip: String,
    /// When the flip was committed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flipped_at: Option<String>,
    /// The guard check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guard: Option<String>,
    /// When the guard was seen unhealthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guard_failed_at: Option<String>,
    /// Who asked for an abort.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abort_requested_by: Option<String>,
    /// The watched answers before the flip: `NAME TYPE` -> records.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub answers_before: BTreeMap<String, Vec<String>>,
    /// The watched answers once they moved (or at the end, if they never did).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub answers_during: BTreeMap<String, Vec<String>>,
    /// Milliseconds from the flip until every watched answer had moved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moved_after_ms: Option<u64>,
    /// When the flip was undone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reverted_at: Option<String>,
    /// The safety rules that refused the flip.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refused_by: Vec<turnout_model::controls::Refusal>,
    /// The node that ran it before it left the cluster (this one adopted the run to undo it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adopted_from: Option<String>,
    /// A forced check as it was written before the drill (restored at the end).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_check: Option<turnout_model::health::HealthCheckSpec>,
    /// When it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<String>,
}

/// A zone's DNSSEC keys as stored (`/turnout/dnssec/<apex>`): the private keys are kept here
/// and nowhere else, never shown by the API.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnssecRecord {
    /// The zone (absolute, lower case).
    pub zone: String,
    /// Its keys.
    pub keys: Vec<StoredDnssecKey>,
    /// TTL of DNSKEY, CDS and CDNSKEY.
    pub dnskey_ttl: u32,
    /// RFC 3339.
    pub created_at: String,
    /// Seconds a change takes to reach every server of the zone (nodes, secondaries): added
    /// to every wait of a rollover.
    #[serde(default = "default_propagation")]
    pub propagation_delay: u32,
    /// The rollover under way, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollover: Option<Rollover>,
}

fn default_propagation() -> u32 {
    60
}

/// A key rollover under way (docs/dnssec.md#rollovers): which role rolls, and, for a key
/// whose DS is at the parent, whether the parent's new DS was seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rollover {
    /// The role of the keys that roll.
    pub role: KeyRole,
    /// When it started (Unix seconds).
    pub started_at: u64,
    /// A KSK or CSK rollover: whether it waits for the operator to confirm that the parent
    /// serves the new DS (`dnssec ds-seen`).
    #[serde(default)]
    pub waiting_for_ds: bool,
}

impl std::fmt::Debug for DnssecRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnssecRecord")
            .field("zone", &self.zone)
            .field("keys", &self.keys.iter().map(|k| (k.role, k.algorithm)).collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// What a DNSSEC key does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyRole {
    /// A combined signing key: signs the zone and its DNSKEY RRset; its DS is in the parent.
    Csk,
    /// A key signing key: signs the DNSKEY RRset; its DS is in the parent.
    Ksk,
    /// A zone signing key: signs every other RRset.
    Zsk,
}

/// One stored DNSSEC key.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredDnssecKey {
    /// What it does.
    pub role: KeyRole,
    /// Its algorithm.
    pub algorithm: turnout_dns::dnssec::Algorithm,
    /// The private key: PKCS#8, base64.
    pub private_key: String,
    /// RFC 3339.
    pub created_at: String,
    /// Its timeline, in Unix seconds (docs/dnssec.md#rollovers); each left out is "from the
    /// start" (publish, active, ds) or "never" (retire, remove, ds_until).
    #[serde(flatten)]
    pub timeline: KeyTimeline,
}

/// When a key enters and leaves each part it plays (Unix seconds).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyTimeline {
    /// In the DNSKEY RRset from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publish_at: Option<u64>,
    /// Signs the zone's RRsets (a ZSK or CSK) from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_at: Option<u64>,
    /// Stops signing the zone's RRsets at (it still signs the DNSKEY RRset if it may).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retire_at: Option<u64>,
    /// Leaves the DNSKEY RRset, and signs nothing more, at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remove_at: Option<u64>,
    /// Named by CDS and CDNSKEY (its DS wanted at the parent) from (a KSK or CSK).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ds_at: Option<u64>,
    /// No longer named by CDS and CDNSKEY from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ds_until: Option<u64>,
    /// An algorithm rollover's key: it signs from `active_at` to `retire_at` whether or not
    /// it is in the DNSKEY RRset (RFC 6781 §4.1.4: signatures of the new algorithm come
    /// before its key, those of the old one outlive its key).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub signs_unpublished: bool,
}

/// A zone's DNSSEC state as the API shows it: no private key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnssecInfo {
    /// The zone.
    pub zone: String,
    /// Whether its answers are signed.
    pub signed: bool,
    /// Its keys.
    pub keys: Vec<DnssecKeyInfo>,
    /// The DS records for the parent zone, in presentation form (SHA-256 digests).
    pub ds: Vec<String>,
    /// TTL of DNSKEY, CDS and CDNSKEY.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dnskey_ttl: Option<u32>,
    /// The rollover under way, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollover: Option<Rollover>,
    /// What the rollover waits for, in words (none: no rollover).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_step: Option<String>,
}

/// One key of a zone, public parts only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnssecKeyInfo {
    /// Its key tag (RFC 4034 Appendix B).
    pub tag: u16,
    /// What it does.
    pub role: KeyRole,
    /// The algorithm's number.
    pub algorithm: u8,
    /// The algorithm's mnemonic.
    pub algorithm_name: String,
    /// The DNSKEY record, in presentation form.
    pub dnskey: String,
    /// RFC 3339.
    pub created_at: String,
    /// What it does now: `published` (in DNSKEY, not signing yet), `active` (signing),
    /// `retired` (in DNSKEY, no longer signing the zone), `removed`.
    pub state: String,
    /// Its timeline (Unix seconds), as stored.
    #[serde(flatten)]
    pub timeline: KeyTimeline,
}

/// A request to sign a zone.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnableDnssec {
    /// `ECDSAP256SHA256` or 13 (default), `ED25519` or 15.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub algorithm: Option<String>,
    /// `csk` (default: one key does both) or `ksk-zsk` (a key signing key and a zone signing
    /// key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
    /// TTL of DNSKEY, CDS and CDNSKEY (default 3600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dnskey_ttl: Option<u32>,
    /// Seconds a change takes to reach every server of the zone, added to each wait of a
    /// rollover (default 60).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub propagation_delay: Option<u32>,
}

/// A request to roll a zone's keys.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartRollover {
    /// The role to roll: `zsk`, `ksk` or `csk`.
    #[serde(default)]
    pub role: String,
    /// A CSK rollover to another algorithm: `ECDSAP256SHA256` (13) or `ED25519` (15); none:
    /// the same algorithm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub algorithm: Option<String>,
}

/// The operator's word that the parent serves the new DS (a KSK or CSK rollover).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DsSeen {
    /// The TTL of the DS RRset at the parent (default 86400): how long resolvers may still
    /// hold the old DS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_ds_ttl: Option<u32>,
}
