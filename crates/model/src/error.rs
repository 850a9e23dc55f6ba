//! The validation errors every kind of object shares: a stable code and the field it names.
//! Kept apart from any one kind, so that each module of this crate uses them without
//! importing another's.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Stable error codes, shared by the API's JSON errors and the CLI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ErrorCode {
    /// A required field is absent.
    MissingField,
    /// A field's value is malformed or out of range.
    InvalidValue,
    /// Two fields that exclude each other are both set.
    ConflictingFields,
    /// The field is not allowed with this type or policy.
    NotAllowed,
    /// The name lies outside the zone.
    OutOfZone,
    /// No such zone.
    NoSuchZone,
    /// CREATE of a record set that exists.
    AlreadyExists,
    /// DELETE of a record set that does not exist.
    NotFound,
    /// DELETE with values other than the current ones.
    ValuesMismatch,
    /// The records of one (name, type) would mix routing policies, or a simple record would share
    /// its group.
    PolicyConflict,
    /// A CNAME would share its name with other data, or sit at the apex.
    CnameConflict,
    /// Two records of a group would claim the same failover role or location.
    DuplicateLocation,
    /// Records of an IP-based group would name different CIDR collections.
    CollectionMismatch,
    /// An alias's target group does not exist (or has another type).
    AliasTargetNotFound,
    /// Aliases would form a loop.
    AliasCycle,
    /// A record set still targeted by an alias would be deleted.
    AliasTargetInUse,
    /// The zone would lose its SOA or apex NS records.
    RequiredRecord,
    /// A quota (records per group, records or characters per batch) would be exceeded.
    LimitExceeded,
    /// A record names a health check that does not exist.
    NoSuchHealthCheck,
    /// A health check is still named by records or calculated checks.
    CheckInUse,
    /// A record names a CIDR collection that does not exist.
    NoSuchCidrCollection,
    /// A record names a location its CIDR collection does not have.
    NoSuchCidrLocation,
    /// A CIDR collection (or one of its locations) is still named by records.
    CidrCollectionInUse,
}

impl ErrorCode {
    /// The code as it appears in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::MissingField => "MissingField",
            ErrorCode::InvalidValue => "InvalidValue",
            ErrorCode::ConflictingFields => "ConflictingFields",
            ErrorCode::NotAllowed => "NotAllowed",
            ErrorCode::OutOfZone => "OutOfZone",
            ErrorCode::NoSuchZone => "NoSuchZone",
            ErrorCode::AlreadyExists => "AlreadyExists",
            ErrorCode::NotFound => "NotFound",
            ErrorCode::ValuesMismatch => "ValuesMismatch",
            ErrorCode::PolicyConflict => "PolicyConflict",
            ErrorCode::CnameConflict => "CnameConflict",
            ErrorCode::DuplicateLocation => "DuplicateLocation",
            ErrorCode::CollectionMismatch => "CollectionMismatch",
            ErrorCode::AliasTargetNotFound => "AliasTargetNotFound",
            ErrorCode::AliasCycle => "AliasCycle",
            ErrorCode::AliasTargetInUse => "AliasTargetInUse",
            ErrorCode::RequiredRecord => "RequiredRecord",
            ErrorCode::LimitExceeded => "LimitExceeded",
            ErrorCode::NoSuchHealthCheck => "NoSuchHealthCheck",
            ErrorCode::CheckInUse => "CheckInUse",
            ErrorCode::NoSuchCidrCollection => "NoSuchCidrCollection",
            ErrorCode::NoSuchCidrLocation => "NoSuchCidrLocation",
            ErrorCode::CidrCollectionInUse => "CidrCollectionInUse",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem with one field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// The field's path, e.g. `values[1]` or `changes[3].record_set.weight`.
    pub field: String,
    /// The stable code.
    pub code: ErrorCode,
    /// What is wrong, for people.
    pub message: String,
}

impl FieldError {
    /// A new error.
    pub fn new(field: impl Into<String>, code: ErrorCode, message: impl Into<String>) -> Self {
        FieldError { field: field.into(), code, message: message.into() }
    }

    /// The same error with `prefix.` before its field.
    pub fn prefixed(mut self, prefix: &str) -> Self {
        self.field = if self.field.is_empty() {
            prefix.to_owned()
        } else {
            format!("{prefix}.{}", self.field)
        };
        self
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} ({})", self.field, self.message, self.code)
    }
}
