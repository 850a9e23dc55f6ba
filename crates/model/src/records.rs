//! Record sets as the control plane manages them: a name, a type, values *or* an alias target,
//! an optional set identifier, an optional health check and one routing policy.
//!
//! [`RecordSetSpec`] is the written form (API bodies, desired-state files, store values): plain
//! strings and numbers, so that every range and format error is reported by this module with
//! the field it concerns, not by a deserializer. [`RecordSetSpec::validate`] turns it into a
//! [`RecordSet`], checking every rule of Route 53 that concerns one record set on its own
//! (docs/desired-state.md, "Record sets"). The rules that need the whole group or zone
//! live in [`crate::change`]. Nothing here does I/O.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{ErrorCode, FieldError};
use crate::geo;
pub use crate::geo::GeoSpec;
use crate::name::{MAX_LABEL_LEN, Name};
use crate::rdata::Rdata;
use crate::rtype::RType;

/// The longest set identifier.
pub const MAX_SET_ID_LEN: usize = 128;
/// The most values one record set may hold.
pub const MAX_VALUES: usize = 400;
/// The longest value, in characters.
pub const MAX_VALUE_LEN: usize = 4000;
/// The largest TTL (RFC 2181 §8).
pub const MAX_TTL: i64 = 2_147_483_647;

/// A record set as written: every field optional so that its absence is reported by
/// [`RecordSetSpec::validate`] with the field's name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordSetSpec {
    /// The owner: relative to the zone, `@` for the apex, or absolute with a trailing dot.
    #[serde(default)]
    pub name: String,
    /// The record type mnemonic.
    #[serde(rename = "type", default)]
    pub rtype: String,
    /// Seconds; absent for alias records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<i64>,
    /// Distinguishes the records of one group; required for every policy but simple.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_id: Option<String>,
    /// Failover role: `primary` or `secondary`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failover: Option<String>,
    /// Weighted policy: 0-255.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<i64>,
    /// Latency policy: the region label of this record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Geolocation policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geo: Option<GeoSpec>,
    /// Geoproximity policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geoproximity: Option<GeoproximitySpec>,
    /// IP-based policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cidr: Option<CidrSpec>,
    /// Multivalue answer policy when `true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multivalue: Option<bool>,
    /// The name of the health check that decides whether this record is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<String>,
    /// Keep the record in answers whatever its health check says (the check still runs and
    /// shows in `explain`); needs `health_check`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub always_serve: Option<bool>,
    /// Weighted and multivalue groups: the group counts as healthy for an alias above it with
    /// evaluate-target-health only while at least this many of its records are healthy
    /// (default 1). Every record of the group gives the same value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_healthy: Option<i64>,
    /// The same as a share of the group's records, 1-100 (rounded up); with `min_healthy`,
    /// the larger wins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_healthy_pct: Option<i64>,
    /// A failover secondary: this share of answers, 1-50 %, goes to it while the primary is
    /// healthy too (and it is healthy), to keep it warm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trickle_pct: Option<i64>,
    /// Record data in presentation format, one record per value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<String>>,
    /// Alias target, instead of `ttl` and `values`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<AliasSpec>,
}

/// A geoproximity location as written: a region label or coordinates, and a bias.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeoproximitySpec {
    /// A region label whose coordinates the latency map gives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Degrees north, -90 to 90.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latitude: Option<f64>,
    /// Degrees east, -180 to 180.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub longitude: Option<f64>,
    /// -99 to 99; positive grows the record's area.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bias: Option<i64>,
}

/// An IP-based location as written.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CidrSpec {
    /// The CIDR collection's name.
    #[serde(default)]
    pub collection: String,
    /// The location inside the collection, or `*` for the default record.
    #[serde(default)]
    pub location: String,
}

/// An alias target as written.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AliasSpec {
    /// The target group's owner name (relative to the zone, or absolute with a trailing dot).
    #[serde(default)]
    pub target: String,
    /// Whether the alias is healthy only while its target group is (docs/routing-policies.md).
    /// Required, as in Route 53.
    pub evaluate_target_health: bool,
}

/// A group's pool rules, as each of its records gives them (docs/routing-policies.md).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pool {
    /// Weighted and multivalue: healthy records the group needs to count as healthy.
    pub min_healthy: Option<u16>,
    /// The same as a percentage of the group's records.
    pub min_healthy_pct: Option<u8>,
    /// A failover secondary: the share of answers it gets while the primary is healthy.
    pub trickle_pct: Option<u8>,
}

impl Pool {
    /// The healthy records a group of `n` needs to count as healthy: at least 1.
    pub fn needed(self, n: usize) -> usize {
        let by_count = usize::from(self.min_healthy.unwrap_or(1));
        let by_pct = self.min_healthy_pct.map_or(1, |p| (n * usize::from(p)).div_ceil(100));
        by_count.max(by_pct).max(1)
    }
}

/// A validated record set.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordSet {
    /// The owner, inside the zone.
    pub name: Name,
    /// The type.
    pub rtype: RType,
    /// The set identifier (`None` exactly for simple records).
    pub set_id: Option<String>,
    /// The routing policy.
    pub policy: Policy,
    /// The health check deciding whether this record may be answered.
    pub health_check: Option<String>,
    /// Answered whatever `health_check` says.
    pub always_serve: bool,
    /// Pool thresholds and trickle (see [`Pool`]).
    pub pool: Pool,
    /// The records, or the alias target.
    pub data: RecordData,
}

/// What a record set answers with.
#[derive(Debug, Clone, PartialEq)]
pub enum RecordData {
    /// Ordinary records.
    Values {
        /// Seconds.
        ttl: u32,
        /// At least one; no duplicates.
        rdatas: Vec<Rdata>,
    },
    /// An alias to another group of the same type in the same zone.
    Alias {
        /// The target group's owner.
        target: Name,
        /// Healthy only while the target group is.
        evaluate_target_health: bool,
    },
}

/// A routing policy and its per-record parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum Policy {
    /// One record set per (name, type); every value answered.
    Simple,
    /// Active-passive.
    Failover(FailoverRole),
    /// Proportional choice, 0-255.
    Weighted(u8),
    /// Lowest latency to the client; the region label.
    Latency(String),
    /// Most specific location of the client.
    Geolocation(geo::GeoLocation),
    /// Smallest biased distance to the client.
    Geoproximity(Geoproximity),
    /// Longest prefix match of the client's address in a CIDR collection.
    Cidr {
        /// The collection.
        collection: String,
        /// The location in it, `*` for the default.
        location: String,
    },
    /// Up to eight healthy records.
    Multivalue,
}

/// The kind of a policy, without its parameter: the records of one group must share it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PolicyKind {
    /// [`Policy::Simple`].
    Simple,
    /// [`Policy::Failover`].
    Failover,
    /// [`Policy::Weighted`].
    Weighted,
    /// [`Policy::Latency`].
    Latency,
    /// [`Policy::Geolocation`].
    Geolocation,
    /// [`Policy::Geoproximity`].
    Geoproximity,
    /// [`Policy::Cidr`].
    Cidr,
    /// [`Policy::Multivalue`].
    Multivalue,
}

impl PolicyKind {
    /// The policy's name as written in the desired-state file's policy key.
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyKind::Simple => "simple",
            PolicyKind::Failover => "failover",
            PolicyKind::Weighted => "weighted",
            PolicyKind::Latency => "latency",
            PolicyKind::Geolocation => "geolocation",
            PolicyKind::Geoproximity => "geoproximity",
            PolicyKind::Cidr => "ip-based (cidr)",
            PolicyKind::Multivalue => "multivalue",
        }
    }

    /// The most records of this policy one group may hold (docs/desired-state.md).
    pub fn max_records(self) -> usize {
        match self {
            PolicyKind::Simple => 1,
            PolicyKind::Failover => 2,
            PolicyKind::Geoproximity => 30,
            _ => 100,
        }
    }
}

impl fmt::Display for PolicyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Policy {
    /// The policy's kind.
    pub fn kind(&self) -> PolicyKind {
        match self {
            Policy::Simple => PolicyKind::Simple,
            Policy::Failover(_) => PolicyKind::Failover,
            Policy::Weighted(_) => PolicyKind::Weighted,
            Policy::Latency(_) => PolicyKind::Latency,
            Policy::Geolocation(_) => PolicyKind::Geolocation,
            Policy::Geoproximity(_) => PolicyKind::Geoproximity,
            Policy::Cidr { .. } => PolicyKind::Cidr,
            Policy::Multivalue => PolicyKind::Multivalue,
        }
    }

    /// The location a group may hold only one record for, as text, when the policy has one.
    pub fn location_key(&self) -> Option<String> {
        match self {
            Policy::Failover(role) => Some(role.as_str().to_owned()),
            Policy::Latency(region) => Some(format!("region {region}")),
            Policy::Geolocation(g) => Some(format!("location {g}")),
            Policy::Cidr { location, .. } => Some(format!("location {location}")),
            _ => None,
        }
    }
}

/// A failover record's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailoverRole {
    /// Answered while healthy (or when both are unhealthy).
    Primary,
    /// Answered while the primary is unhealthy.
    Secondary,
}

impl FailoverRole {
    /// `primary` or `secondary`.
    pub fn as_str(self) -> &'static str {
        match self {
            FailoverRole::Primary => "primary",
            FailoverRole::Secondary => "secondary",
        }
    }
}

/// A geoproximity location.
#[derive(Debug, Clone, PartialEq)]
pub struct Geoproximity {
    /// Where the record's endpoint is.
    pub locator: GeoproximityLocator,
    /// -99 to 99.
    pub bias: i8,
}

/// Where a geoproximity record's endpoint is.
#[derive(Debug, Clone, PartialEq)]
pub enum GeoproximityLocator {
    /// A region label (its coordinates come from the latency map).
    Region(String),
    /// Coordinates, rounded to two decimal places as Route 53 does.
    Coordinates {
        /// Degrees north.
        latitude: f64,
        /// Degrees east.
        longitude: f64,
    },
}

/// The types Route 53 accepts in a record set.
pub const SUPPORTED_TYPES: [RType; 17] = [
    RType::SOA,
    RType::A,
    RType::TXT,
    RType::NS,
    RType::CNAME,
    RType::MX,
    RType::NAPTR,
    RType::PTR,
    RType::SRV,
    RType::SPF,
    RType::AAAA,
    RType::CAA,
    RType::DS,
    RType::TLSA,
    RType::SSHFP,
    RType::SVCB,
    RType::HTTPS,
];

/// The types a multivalue record may have.
const MULTIVALUE_TYPES: [RType; 13] = [
    RType::A,
    RType::AAAA,
    RType::MX,
    RType::NAPTR,
    RType::PTR,
    RType::SPF,
    RType::SRV,
    RType::TXT,
    RType::CAA,
    RType::TLSA,
    RType::SSHFP,
    RType::SVCB,
    RType::HTTPS,
];

/// Parses an owner name written relative to `apex` (or absolute with a trailing dot) and checks
/// that it lies in the zone. `field` names the field in errors.
pub fn parse_owner(text: &str, apex: &Name, field: &str) -> Result<Name, FieldError> {
    if text.trim().is_empty() {
        return Err(FieldError::new(field, ErrorCode::MissingField, "the name is empty"));
    }
    if let Some(c) = text.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(FieldError::new(
            field,
            ErrorCode::InvalidValue,
            format!("{text:?} contains the unsupported character {c:?}; escape it as \\DDD"),
        ));
    }
    let name = Name::parse_in(text, Some(apex))
        .map_err(|e| FieldError::new(field, ErrorCode::InvalidValue, e.to_string()))?;
    if !name.is_subdomain_of(apex) {
        return Err(FieldError::new(
            field,
            ErrorCode::OutOfZone,
            format!("{name} is not permitted in zone {apex}"),
        ));
    }
    Ok(name)
}

impl RecordSetSpec {
    /// Validates this record set for the zone at `apex`: every per-record rule, every error.
    pub fn validate(&self, apex: &Name) -> Result<RecordSet, Vec<FieldError>> {
        let mut errors = Vec::new();
        let name = parse_owner(&self.name, apex, "name").map_err(|e| errors.push(e)).ok();
        let rtype = self.validate_type().map_err(|e| errors.push(e)).ok();
        let policy = self.validate_policy(&mut errors);
        let set_id = self.validate_set_id(policy.as_ref(), &mut errors);
        let health_check = self.validate_health_check(&mut errors);
        let pool = self.validate_pool(policy.as_ref(), &mut errors);
        if self.always_serve == Some(true) && self.health_check.is_none() {
            errors.push(FieldError::new(
                "always_serve",
                ErrorCode::NotAllowed,
                "always_serve needs a health_check (a record without one is always answered)",
            ));
        }
        if let (Some(name), Some(rtype)) = (&name, rtype) {
            check_type_rules(name, rtype, apex, policy.as_ref(), &mut errors);
        }
        let data = rtype.and_then(|rtype| self.validate_data(rtype, apex, &policy, &mut errors));
        match (name, rtype, policy, data) {
            (Some(name), Some(rtype), Some(policy), Some(data)) if errors.is_empty() => {
                let always_serve = self.always_serve.unwrap_or(false);
                Ok(RecordSet {
                    name,
                    rtype,
                    set_id,
                    policy,
                    health_check,
                    always_serve,
                    pool,
                    data,
                })
            }
            _ => Err(errors),
        }
    }

    fn validate_type(&self) -> Result<RType, FieldError> {
        if self.rtype.is_empty() {
            return Err(FieldError::new("type", ErrorCode::MissingField, "the type is required"));
        }
        RType::from_mnemonic(&self.rtype).filter(|t| SUPPORTED_TYPES.contains(t)).ok_or_else(|| {
            FieldError::new(
                "type",
                ErrorCode::InvalidValue,
                format!(
                    "{:?} is not a supported record type; use one of SOA A TXT NS CNAME MX NAPTR \
                     PTR SRV SPF AAAA CAA DS TLSA SSHFP SVCB HTTPS",
                    self.rtype
                ),
            )
        })
    }

    /// The policy implied by which policy key is set; `None` after an error.
    fn validate_policy(&self, errors: &mut Vec<FieldError>) -> Option<Policy> {
        let mut set = Vec::new();
        if self.failover.is_some() {
            set.push("failover");
        }
        if self.weight.is_some() {
            set.push("weight");
        }
        if self.region.is_some() {
            set.push("region");
        }
        if self.geo.is_some() {
            set.push("geo");
        }
        if self.geoproximity.is_some() {
            set.push("geoproximity");
        }
        if self.cidr.is_some() {
            set.push("cidr");
        }
        if self.multivalue == Some(true) {
            set.push("multivalue");
        }
        if set.len() > 1 {
            errors.push(FieldError::new(
                set[1],
                ErrorCode::ConflictingFields,
                format!("a record has one routing policy, but {} are set", set.join(" and ")),
            ));
            return None;
        }
        let before = errors.len();
        let policy = match set.first().copied() {
            None => Policy::Simple,
            Some("failover") => match self.failover.as_deref().map(str::to_ascii_lowercase) {
                Some(r) if r == "primary" => Policy::Failover(FailoverRole::Primary),
                Some(r) if r == "secondary" => Policy::Failover(FailoverRole::Secondary),
                _ => {
                    errors.push(FieldError::new(
                        "failover",
                        ErrorCode::InvalidValue,
                        format!(
                            "{:?} is not a failover role; use primary or secondary",
                            self.failover.as_deref().unwrap_or_default()
                        ),
                    ));
                    return None;
                }
            },
            Some("weight") => match self.weight.map(u8::try_from) {
                Some(Ok(w)) => Policy::Weighted(w),
                _ => {
                    errors.push(FieldError::new(
                        "weight",
                        ErrorCode::InvalidValue,
                        format!("weight {:?} is outside 0-255", self.weight.unwrap_or_default()),
                    ));
                    return None;
                }
            },
            Some("region") => {
                let region = self.region.clone().unwrap_or_default();
                check_label(&region, "region", MAX_LABEL_LEN, errors);
                Policy::Latency(region)
            }
            Some("geo") => {
                let spec = self.geo.clone().unwrap_or_default();
                match geo::GeoLocation::validate(
                    spec.continent.as_deref(),
                    spec.country.as_deref(),
                    spec.subdivision.as_deref(),
                ) {
                    Ok(g) => Policy::Geolocation(g),
                    Err(e) => {
                        errors.push(e.prefixed("geo"));
                        return None;
                    }
                }
            }
            Some("geoproximity") => {
                Policy::Geoproximity(validate_geoproximity(self.geoproximity.as_ref(), errors)?)
            }
            Some("cidr") => {
                let spec = self.cidr.clone().unwrap_or_default();
                check_label(&spec.collection, "cidr.collection", MAX_LABEL_LEN, errors);
                if spec.location.is_empty()
                    || spec.location.len() > 16
                    || !spec
                        .location
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"_-*".contains(&b))
                {
                    errors.push(FieldError::new(
                        "cidr.location",
                        ErrorCode::InvalidValue,
                        format!(
                            "{:?} is not a location name: 1-16 characters of 0-9 A-Z a-z _ - *",
                            spec.location
                        ),
                    ));
                }
                Policy::Cidr { collection: spec.collection, location: spec.location }
            }
            _ => Policy::Multivalue,
        };
        (errors.len() == before).then_some(policy)
    }

    fn validate_set_id(
        &self,
        policy: Option<&Policy>,
        errors: &mut Vec<FieldError>,
    ) -> Option<String> {
        let simple = matches!(policy, Some(Policy::Simple));
        match &self.set_id {
            None if policy.is_some() && !simple => {
                errors.push(FieldError::new(
                    "set_id",
                    ErrorCode::MissingField,
                    "set_id is required for every routing policy but simple",
                ));
                None
            }
            None => None,
            Some(_) if simple => {
                errors.push(FieldError::new(
                    "set_id",
                    ErrorCode::NotAllowed,
                    "set_id is only for records with a routing policy (failover, weight, region, \
                     geo, geoproximity, cidr or multivalue)",
                ));
                None
            }
            Some(id) if id.is_empty() || id.chars().count() > MAX_SET_ID_LEN => {
                errors.push(FieldError::new(
                    "set_id",
                    ErrorCode::InvalidValue,
                    format!("set_id must be 1-{MAX_SET_ID_LEN} characters"),
                ));
                None
            }
            Some(id) if id.chars().any(char::is_control) => {
                errors.push(FieldError::new(
                    "set_id",
                    ErrorCode::InvalidValue,
                    "set_id must not contain control characters",
                ));
                None
            }
            Some(id) => Some(id.clone()),
        }
    }

    fn validate_pool(&self, policy: Option<&Policy>, errors: &mut Vec<FieldError>) -> Pool {
        let kind = policy.map(Policy::kind);
        let pooled = matches!(kind, Some(PolicyKind::Weighted | PolicyKind::Multivalue));
        let secondary = matches!(policy, Some(Policy::Failover(FailoverRole::Secondary)));
        let mut number =
            |value: Option<i64>, field: &str, ok: bool, what: &str, range: (i64, i64)| {
                let v = value?;
                if !ok {
                    errors.push(FieldError::new(
                        field,
                        ErrorCode::NotAllowed,
                        format!("{field} is only for {what}"),
                    ));
                    return None;
                }
                if v < range.0 || v > range.1 {
                    errors.push(FieldError::new(
                        field,
                        ErrorCode::InvalidValue,
                        format!("{v} is outside {}-{}", range.0, range.1),
                    ));
                    return None;
                }
                Some(v)
            };
        let groups = "weighted and multivalue records";
        Pool {
            min_healthy: number(self.min_healthy, "min_healthy", pooled, groups, (1, 1000))
                .and_then(|v| u16::try_from(v).ok()),
            min_healthy_pct: number(
                self.min_healthy_pct,
                "min_healthy_pct",
                pooled,
                groups,
                (1, 100),
            )
            .and_then(|v| u8::try_from(v).ok()),
            trickle_pct: number(
                self.trickle_pct,
                "trickle_pct",
                secondary,
                "a failover secondary",
                (1, 50),
            )
            .and_then(|v| u8::try_from(v).ok()),
        }
    }

    fn validate_health_check(&self, errors: &mut Vec<FieldError>) -> Option<String> {
        let hc = self.health_check.as_ref()?;
        match crate::health::check_name_error(hc, "health_check") {
            Some(e) => {
                errors.push(e);
                None
            }
            None => Some(hc.clone()),
        }
    }

    fn validate_data(
        &self,
        rtype: RType,
        apex: &Name,
        policy: &Option<Policy>,
        errors: &mut Vec<FieldError>,
    ) -> Option<RecordData> {
        match (&self.alias, &self.values) {
            (Some(_), Some(_)) => {
                errors.push(FieldError::new(
                    "alias",
                    ErrorCode::ConflictingFields,
                    "expected exactly one of alias, or ttl and values, but found both",
                ));
                None
            }
            (None, None) => {
                errors.push(FieldError::new(
                    "values",
                    ErrorCode::MissingField,
                    "expected exactly one of alias, or ttl and values, but found none",
                ));
                None
            }
            (Some(alias), None) => {
                let before = errors.len();
                if self.ttl.is_some() {
                    errors.push(FieldError::new(
                        "ttl",
                        ErrorCode::NotAllowed,
                        "an alias has no TTL of its own: it answers with its target's",
                    ));
                }
                if matches!(rtype, RType::NS | RType::SOA) {
                    errors.push(FieldError::new(
                        "alias",
                        ErrorCode::NotAllowed,
                        format!("an alias cannot have type {rtype}"),
                    ));
                }
                match policy {
                    Some(Policy::Multivalue) => errors.push(FieldError::new(
                        "alias",
                        ErrorCode::NotAllowed,
                        "a multivalue record cannot be an alias",
                    )),
                    Some(Policy::Failover(_)) if !alias.evaluate_target_health => {
                        errors.push(FieldError::new(
                            "alias.evaluate_target_health",
                            ErrorCode::InvalidValue,
                            "a failover alias must set evaluate_target_health: true",
                        ))
                    }
                    _ => {}
                }
                let target = parse_owner(&alias.target, apex, "alias.target")
                    .map_err(|e| errors.push(e))
                    .ok()?;
                (errors.len() == before).then_some(RecordData::Alias {
                    target,
                    evaluate_target_health: alias.evaluate_target_health,
                })
            }
            (None, Some(values)) => self.validate_values(rtype, apex, values, errors),
        }
    }

    fn validate_values(
        &self,
        rtype: RType,
        apex: &Name,
        values: &[String],
        errors: &mut Vec<FieldError>,
    ) -> Option<RecordData> {
        let before = errors.len();
        let ttl = match self.ttl {
            None => {
                errors.push(FieldError::new("ttl", ErrorCode::MissingField, "ttl is required"));
                0
            }
            Some(t) if !(0..=MAX_TTL).contains(&t) => {
                errors.push(FieldError::new(
                    "ttl",
                    ErrorCode::InvalidValue,
                    format!("ttl {t} is outside 0-{MAX_TTL}"),
                ));
                0
            }
            Some(t) => u32::try_from(t).unwrap_or(0),
        };
        if values.is_empty() {
            errors.push(FieldError::new("values", ErrorCode::MissingField, "at least one value"));
        }
        if values.len() > MAX_VALUES {
            // Refused before any value is parsed: that work grows with the count.
            errors.push(FieldError::new(
                "values",
                ErrorCode::LimitExceeded,
                format!("{} values; a record set holds at most {MAX_VALUES}", values.len()),
            ));
            return None;
        }
        if values.len() > 1 && matches!(rtype, RType::CNAME | RType::SOA) {
            errors.push(FieldError::new(
                "values",
                ErrorCode::InvalidValue,
                format!("a {rtype} record set takes exactly one value"),
            ));
        }
        let mut rdatas: Vec<Rdata> = Vec::with_capacity(values.len());
        for (i, value) in values.iter().enumerate() {
            let field = format!("values[{i}]");
            if value.chars().count() > MAX_VALUE_LEN {
                errors.push(FieldError::new(
                    field,
                    ErrorCode::InvalidValue,
                    format!("a value has at most {MAX_VALUE_LEN} characters"),
                ));
                continue;
            }
            match Rdata::from_text(rtype, value, Some(apex)) {
                Ok(rdata) if rdatas.contains(&rdata) => errors.push(FieldError::new(
                    field,
                    ErrorCode::InvalidValue,
                    format!("duplicate value {value:?}"),
                )),
                Ok(rdata) => rdatas.push(rdata),
                Err(e) => errors.push(FieldError::new(
                    field,
                    ErrorCode::InvalidValue,
                    format!("{value:?} is not valid {rtype} data: {}", e.message),
                )),
            }
        }
        (errors.len() == before).then_some(RecordData::Values { ttl, rdatas })
    }
}

/// The rules tying the type to the name and policy (docs/desired-state.md).
fn check_type_rules(
    name: &Name,
    rtype: RType,
    apex: &Name,
    policy: Option<&Policy>,
    errors: &mut Vec<FieldError>,
) {
    if rtype == RType::SOA && name != apex {
        errors.push(FieldError::new(
            "name",
            ErrorCode::NotAllowed,
            format!("an SOA record belongs at the zone apex {apex}, not at {name}"),
        ));
    }
    if rtype == RType::CNAME && name == apex {
        errors.push(FieldError::new(
            "type",
            ErrorCode::CnameConflict,
            format!("a CNAME is not permitted at the zone apex {apex}"),
        ));
    }
    if rtype == RType::NS && name.is_wildcard() {
        errors.push(FieldError::new(
            "type",
            ErrorCode::NotAllowed,
            format!("{name} is a wildcard name and cannot hold NS records"),
        ));
    }
    if rtype == RType::DS && name == apex {
        errors.push(FieldError::new(
            "type",
            ErrorCode::NotAllowed,
            "DS records belong in the parent zone, not at the apex",
        ));
    }
    let Some(policy) = policy else { return };
    if policy.kind() != PolicyKind::Simple && matches!(rtype, RType::SOA | RType::NS | RType::DS) {
        errors.push(FieldError::new(
            "type",
            ErrorCode::NotAllowed,
            format!("{rtype} records can only use the simple policy"),
        ));
    }
    if policy.kind() == PolicyKind::Multivalue && !MULTIVALUE_TYPES.contains(&rtype) {
        errors.push(FieldError::new(
            "multivalue",
            ErrorCode::NotAllowed,
            format!("a multivalue record cannot have type {rtype}"),
        ));
    }
}

/// A short identifier: a region, a collection or a health-check name.
fn check_label(text: &str, field: &str, max: usize, errors: &mut Vec<FieldError>) {
    if text.is_empty()
        || text.len() > max
        || !text.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-./".contains(&b))
    {
        errors.push(FieldError::new(
            field,
            ErrorCode::InvalidValue,
            format!("{text:?} must be 1-{max} characters of A-Z a-z 0-9 _ - . /"),
        ));
    }
}

fn validate_geoproximity(
    spec: Option<&GeoproximitySpec>,
    errors: &mut Vec<FieldError>,
) -> Option<Geoproximity> {
    let spec = spec.cloned().unwrap_or_default();
    let before = errors.len();
    let bias = match spec.bias.unwrap_or(0) {
        b @ -99..=99 => i8::try_from(b).unwrap_or(0),
        b => {
            errors.push(FieldError::new(
                "geoproximity.bias",
                ErrorCode::InvalidValue,
                format!("bias {b} is outside -99..99"),
            ));
            0
        }
    };
    let locator = match (&spec.region, spec.latitude, spec.longitude) {
        (Some(region), None, None) => {
            check_label(region, "geoproximity.region", MAX_LABEL_LEN, errors);
            GeoproximityLocator::Region(region.clone())
        }
        (None, Some(lat), Some(lon)) => {
            if !(-90.0..=90.0).contains(&lat) {
                errors.push(FieldError::new(
                    "geoproximity.latitude",
                    ErrorCode::InvalidValue,
                    format!("latitude {lat} is outside -90..90"),
                ));
            }
            if !(-180.0..=180.0).contains(&lon) {
                errors.push(FieldError::new(
                    "geoproximity.longitude",
                    ErrorCode::InvalidValue,
                    format!("longitude {lon} is outside -180..180"),
                ));
            }
            GeoproximityLocator::Coordinates {
                latitude: (lat * 100.0).round() / 100.0,
                longitude: (lon * 100.0).round() / 100.0,
            }
        }
        _ => {
            errors.push(FieldError::new(
                "geoproximity",
                ErrorCode::InvalidValue,
                "give exactly one locator: region, or latitude and longitude",
            ));
            return None;
        }
    };
    (errors.len() == before).then_some(Geoproximity { locator, bias })
}

impl RecordSet {
    /// The canonical written form: absolute names, values in canonical presentation format.
    pub fn to_spec(&self) -> RecordSetSpec {
        let mut spec = RecordSetSpec {
            name: self.name.to_string(),
            rtype: self.rtype.to_string(),
            set_id: self.set_id.clone(),
            health_check: self.health_check.clone(),
            always_serve: self.always_serve.then_some(true),
            min_healthy: self.pool.min_healthy.map(i64::from),
            min_healthy_pct: self.pool.min_healthy_pct.map(i64::from),
            trickle_pct: self.pool.trickle_pct.map(i64::from),
            ..RecordSetSpec::default()
        };
        match &self.policy {
            Policy::Simple => {}
            Policy::Failover(role) => spec.failover = Some(role.as_str().to_owned()),
            Policy::Weighted(w) => spec.weight = Some(i64::from(*w)),
            Policy::Latency(r) => spec.region = Some(r.clone()),
            Policy::Geolocation(g) => spec.geo = Some(g.to_spec()),
            Policy::Geoproximity(g) => {
                let mut gs =
                    GeoproximitySpec { bias: Some(i64::from(g.bias)), ..Default::default() };
                match &g.locator {
                    GeoproximityLocator::Region(r) => gs.region = Some(r.clone()),
                    GeoproximityLocator::Coordinates { latitude, longitude } => {
                        gs.latitude = Some(*latitude);
                        gs.longitude = Some(*longitude);
                    }
                }
                spec.geoproximity = Some(gs);
            }
            Policy::Cidr { collection, location } => {
                spec.cidr =
                    Some(CidrSpec { collection: collection.clone(), location: location.clone() })
            }
            Policy::Multivalue => spec.multivalue = Some(true),
        }
        match &self.data {
            RecordData::Values { ttl, rdatas } => {
                spec.ttl = Some(i64::from(*ttl));
                spec.values =
                    Some(rdatas.iter().map(|r| r.display(self.rtype).to_string()).collect());
            }
            RecordData::Alias { target, evaluate_target_health } => {
                spec.alias = Some(AliasSpec {
                    target: target.to_string(),
                    evaluate_target_health: *evaluate_target_health,
                })
            }
        }
        spec
    }

    /// How many records this set counts for in batch limits (an alias counts as one).
    pub fn record_count(&self) -> usize {
        match &self.data {
            RecordData::Values { rdatas, .. } => rdatas.len(),
            RecordData::Alias { .. } => 1,
        }
    }

    /// Whether `other` is the same record set apart from the order of its values.
    pub fn same_content(&self, other: &RecordSet) -> bool {
        fn sorted(s: &RecordSet) -> Option<(u32, Vec<&[u8]>)> {
            match &s.data {
                RecordData::Values { ttl, rdatas } => {
                    let mut v: Vec<&[u8]> = rdatas.iter().map(Rdata::as_wire).collect();
                    v.sort_unstable();
                    Some((*ttl, v))
                }
                RecordData::Alias { .. } => None,
            }
        }
        self.name == other.name
            && self.rtype == other.rtype
            && self.set_id == other.set_id
            && self.policy == other.policy
            && self.health_check == other.health_check
            && match (&self.data, &other.data) {
                (RecordData::Alias { .. }, RecordData::Alias { .. }) => self.data == other.data,
                (RecordData::Values { .. }, RecordData::Values { .. }) => {
                    sorted(self) == sorted(other)
                }
                _ => false,
            }
    }

    /// The identity of this record set within its zone.
    pub fn key(&self) -> RecordKey {
        RecordKey {
            name: self.name.clone(),
            rtype: self.rtype,
            set_id: self.set_id.clone().unwrap_or_default(),
        }
    }
}

/// The identity of a record set in a zone: (name, type, set id), in canonical order.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordKey {
    /// The owner.
    pub name: Name,
    /// The type.
    pub rtype: RType,
    /// The set identifier, empty for simple records.
    pub set_id: String,
}

impl fmt::Display for RecordKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[name='{}', type='{}'", self.name, self.rtype)?;
        if !self.set_id.is_empty() {
            write!(f, ", set_id='{}'", self.set_id)?;
        }
        f.write_str("]")
    }
}

#[cfg(test)]
#[path = "records_tests.rs"]
mod tests;
