//! CIDR collections for IP-based routing (docs/routing-policies.md): named locations, each a
//! list of client networks. Records of an IP-based group name a collection and one of its
//! locations, or `*`, the default.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{ErrorCode, FieldError};

/// The most blocks one collection holds (Route 53's quota).
pub const MAX_BLOCKS: usize = 1000;
/// The longest location name.
pub const MAX_LOCATION_LEN: usize = 16;

/// A collection as written (API bodies, the `cidr_collections` of desired-state files).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CidrCollectionSpec {
    /// The collection's name, which records refer to.
    #[serde(default)]
    pub name: String,
    /// Each location's networks, like `{"east": ["192.0.2.0/24", "2001:db8::/48"]}`.
    #[serde(default)]
    pub locations: BTreeMap<String, Vec<String>>,
    /// Its Route 53 id (a UUID, docs/route53-api.md), given when it is created; absent, the
    /// node assigns one and keeps it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The CallerReference it was created with through the Route 53 API; no effect on
    /// answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller_reference: Option<String>,
}

/// A validated collection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CidrCollection {
    /// The name.
    pub name: String,
    /// Each location's networks (host bits zero).
    pub locations: BTreeMap<String, Vec<ipnet::IpNet>>,
}

/// Whether `id` has the 8-4-4-4-12 lowercase hexadecimal form of a UUID (RFC 9562 §4).
pub fn is_uuid(id: &str) -> bool {
    id.len() == 36
        && id.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_digit() || (b'a'..=b'f').contains(&b),
        })
}

/// Whether `name` is a valid location name (`*`, the default, is not a location of a
/// collection).
pub fn location_name_error(name: &str, field: &str) -> Option<FieldError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_LOCATION_LEN
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-".contains(&b));
    (!ok).then(|| {
        FieldError::new(
            field,
            ErrorCode::InvalidValue,
            format!("{name:?} is not a location name: 1-{MAX_LOCATION_LEN} characters of 0-9 A-Z a-z _ -"),
        )
    })
}

impl CidrCollectionSpec {
    /// Validates every field; every error is reported, each naming its field.
    pub fn validate(&self) -> Result<CidrCollection, Vec<FieldError>> {
        let mut errors = Vec::new();
        errors.extend(crate::health::check_name_error(&self.name, "name"));
        // A collection may be empty (Route 53's CreateCidrCollection makes it so); records can
        // name only the default location `*` of an empty one.
        if let Some(id) = &self.id
            && !is_uuid(id)
        {
            errors.push(FieldError::new(
                "id",
                ErrorCode::InvalidValue,
                format!("{id:?} is not a UUID like 0b3c2a1d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"),
            ));
        }
        if let Some(r) = &self.caller_reference
            && !(1..=64).contains(&r.chars().count())
        {
            errors.push(FieldError::new(
                "caller_reference",
                ErrorCode::InvalidValue,
                "a caller reference is 1 to 64 characters",
            ));
        }
        let mut seen: BTreeMap<ipnet::IpNet, &str> = BTreeMap::new();
        let mut locations = BTreeMap::new();
        for (location, blocks) in &self.locations {
            let field = format!("locations.{location}");
            errors.extend(location_name_error(location, &field));
            if blocks.is_empty() {
                errors.push(FieldError::new(
                    &field,
                    ErrorCode::MissingField,
                    "a location needs at least one network",
                ));
            }
            let mut nets = Vec::with_capacity(blocks.len());
            for (i, text) in blocks.iter().enumerate() {
                let field = format!("{field}[{i}]");
                let Ok(net) = text.parse::<ipnet::IpNet>() else {
                    errors.push(FieldError::new(
                        &field,
                        ErrorCode::InvalidValue,
                        format!("{text:?} is not a network like 192.0.2.0/24"),
                    ));
                    continue;
                };
                // As in Route 53: IPv4 /1-/24, IPv6 /1-/48; /0 only through the default `*`.
                let max = if net.addr().is_ipv4() { 24 } else { 48 };
                if net.prefix_len() == 0 || net.prefix_len() > max {
                    errors.push(FieldError::new(
                        &field,
                        ErrorCode::InvalidValue,
                        format!(
                            "{text}: the prefix must be /1 to /{max} (a /0 is the default record, location \"*\")"
                        ),
                    ));
                    continue;
                }
                if net.trunc() != net {
                    errors.push(FieldError::new(
                        &field,
                        ErrorCode::InvalidValue,
                        format!("{text} has host bits set; did you mean {}?", net.trunc()),
                    ));
                    continue;
                }
                if let Some(other) = seen.insert(net, location) {
                    errors.push(FieldError::new(
                        &field,
                        ErrorCode::DuplicateLocation,
                        format!("{net} is already in the location {other:?}"),
                    ));
                    continue;
                }
                nets.push(net);
            }
            locations.insert(location.clone(), nets);
        }
        if seen.len() > MAX_BLOCKS {
            errors.push(FieldError::new(
                "locations",
                ErrorCode::LimitExceeded,
                format!("{} networks; a collection holds at most {MAX_BLOCKS}", seen.len()),
            ));
        }
        if errors.is_empty() {
            Ok(CidrCollection { name: self.name.clone(), locations })
        } else {
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(json: &str) -> Result<CidrCollection, Vec<(String, ErrorCode)>> {
        let spec: CidrCollectionSpec = serde_json::from_str(json).unwrap();
        spec.validate().map_err(|es| es.into_iter().map(|e| (e.field, e.code)).collect())
    }

    #[test]
    fn valid_collections() {
        let c = check(r#"{"name":"offices","locations":{"east":["192.0.2.0/24","2001:db8::/48"],"west":["198.51.100.0/23"]}}"#)
            .unwrap();
        assert_eq!(c.locations["east"].len(), 2);
        // Empty, as Route 53's CreateCidrCollection makes it.
        let c = check(r#"{"name":"new","id":"0b3c2a1d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"}"#).unwrap();
        assert!(c.locations.is_empty());
    }

    #[test]
    fn every_rule_names_its_field() {
        let cases: &[(&str, &str, ErrorCode)] = &[
            (r#"{"locations":{"a":["10.0.0.0/8"]}}"#, "name", ErrorCode::MissingField),
            (r#"{"name":"c","id":"C-1"}"#, "id", ErrorCode::InvalidValue),
            (r#"{"name":"c","caller_reference":""}"#, "caller_reference", ErrorCode::InvalidValue),
            (r#"{"name":"c","locations":{"a":[]}}"#, "locations.a", ErrorCode::MissingField),
            (
                r#"{"name":"c","locations":{"*":["10.0.0.0/8"]}}"#,
                "locations.*",
                ErrorCode::InvalidValue,
            ),
            (
                r#"{"name":"c","locations":{"a-very-long-location":["10.0.0.0/8"]}}"#,
                "locations.a-very-long-location",
                ErrorCode::InvalidValue,
            ),
            (
                r#"{"name":"c","locations":{"a":["nope"]}}"#,
                "locations.a[0]",
                ErrorCode::InvalidValue,
            ),
            (
                r#"{"name":"c","locations":{"a":["10.0.0.0/25"]}}"#,
                "locations.a[0]",
                ErrorCode::InvalidValue,
            ),
            (
                r#"{"name":"c","locations":{"a":["0.0.0.0/0"]}}"#,
                "locations.a[0]",
                ErrorCode::InvalidValue,
            ),
            (
                r#"{"name":"c","locations":{"a":["2001:db8::/64"]}}"#,
                "locations.a[0]",
                ErrorCode::InvalidValue,
            ),
            (
                r#"{"name":"c","locations":{"a":["10.0.0.1/8"]}}"#,
                "locations.a[0]",
                ErrorCode::InvalidValue,
            ),
            (
                r#"{"name":"c","locations":{"a":["10.0.0.0/8"],"b":["10.0.0.0/8"]}}"#,
                "locations.b[0]",
                ErrorCode::DuplicateLocation,
            ),
        ];
        for (json, field, code) in cases {
            let got = check(json).unwrap_err();
            assert!(got.iter().any(|(f, c)| f == field && c == code), "{json}: {got:?}");
        }
    }
}
