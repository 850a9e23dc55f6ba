//! A secondary zone's settings and state as stored (docs/secondary-zones.md): the checks of
//! its settings, whether it answers (`crate::secondaries` refreshes it), and how
//! `GET /v1/zones/{zone}` shows it.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use turnout_dns::xfr::Rr;
use turnout_model::{Name, RType, RecordData, Soa};

use crate::state::State;
use crate::tsig_keys::parse_key_name;
use crate::types::{SecondaryInfo, SecondaryOf, ZoneMeta};
use crate::{ControlError, invalid};

/// The most primaries a secondary zone names.
pub const MAX_PRIMARIES: usize = 8;

/// A secondary zone's settings, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Checked {
    /// The primaries, in order.
    pub(crate) primaries: Vec<SocketAddr>,
    /// The TSIG key.
    pub(crate) key: Option<Name>,
}

/// Checks secondary settings as written, each field by name.
pub(crate) fn check(s: &SecondaryOf) -> Result<Checked, ControlError> {
    if s.primaries.is_empty() {
        return Err(invalid("secondary.primaries", "name at least one primary"));
    }
    if s.primaries.len() > MAX_PRIMARIES {
        return Err(invalid(
            "secondary.primaries",
            format!("{} primaries; at most {MAX_PRIMARIES}", s.primaries.len()),
        ));
    }
    let mut primaries = Vec::with_capacity(s.primaries.len());
    for (i, p) in s.primaries.iter().enumerate() {
        primaries.push(crate::parse_address(p).ok_or_else(|| {
            invalid(
                &format!("secondary.primaries[{i}]"),
                format!("{p:?} is not an address, address:port or [v6 address]:port"),
            )
        })?);
    }
    let key = match &s.key {
        Some(k) => Some(parse_key_name(k, "secondary.key")?),
        None => None,
    };
    Ok(Checked { primaries, key })
}

/// Secondary settings as the node stores them (addresses with their port, the key's name
/// absolute), or the first field that is wrong.
pub fn normalize_secondary(s: &SecondaryOf) -> Result<SecondaryOf, ControlError> {
    check(s).map(|c| c.stored())
}

impl Checked {
    fn stored(&self) -> SecondaryOf {
        SecondaryOf {
            primaries: self.primaries.iter().map(ToString::to_string).collect(),
            key: self.key.as_ref().map(ToString::to_string),
        }
    }

    /// Whether a NOTIFY from `from`, signed with `key` (verified) or not, may start a refresh:
    /// from a primary's address, or signed with the zone's key.
    pub(crate) fn accepts_notify(&self, from: IpAddr, key: Option<&Name>) -> bool {
        let signed = self.key.as_ref().is_some_and(|k| Some(k) == key);
        signed || self.primaries.iter().any(|p| p.ip() == from)
    }
}

/// The zone's SOA as stored, if it was loaded.
pub(crate) fn stored_soa(st: &State, apex: &Name) -> Option<(Rr, Soa)> {
    let set = st.records.get(apex)?.sets.get(&State::soa_key(apex))?;
    let RecordData::Values { ttl, rdatas } = &set.data else { return None };
    let rdata = rdatas.first()?;
    let soa = Soa::from_rdata(rdata)?;
    Some((Rr { name: apex.clone(), rtype: RType::SOA, ttl: *ttl, rdata: rdata.clone() }, soa))
}

/// Whether a zone answers SERVFAIL: a secondary zone not loaded yet, or expired.
pub(crate) fn unavailable(st: &State, apex: &Name) -> bool {
    let Some(entry) = st.zones.get(apex) else { return false };
    if entry.meta.secondary.is_none() {
        return false;
    }
    stored_soa(st, apex).is_none() || st.secondary_status.get(apex).is_some_and(|s| s.expired)
}

pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn rfc3339(secs: u64) -> String {
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + Duration::from_secs(secs)).to_string()
}

/// A secondary zone as `GET /v1/zones/{zone}` shows it.
pub(crate) fn info(st: &State, apex: &Name, meta: &ZoneMeta) -> Option<SecondaryInfo> {
    let settings = meta.secondary.as_ref()?;
    let status = st.secondary_status.get(apex).cloned().unwrap_or_default();
    let soa = stored_soa(st, apex);
    let expires_at = match (&soa, status.refreshed_at) {
        (Some((_, soa)), Some(at)) => Some(rfc3339(at + u64::from(soa.expire))),
        _ => None,
    };
    Some(SecondaryInfo {
        primaries: settings.primaries.clone(),
        key: settings.key.clone(),
        loaded: soa.is_some(),
        expired: status.expired,
        refreshed_at: status.refreshed_at.map(rfc3339),
        primary: status.primary,
        expires_at,
        last_error: status.last_error,
        failed_at: status.failed_at.map(rfc3339),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(text: &str) -> Name {
        Name::parse_absolute(text).expect("a name")
    }

    #[test]
    fn settings_name_the_field_that_is_wrong() {
        let bad = |s: SecondaryOf| check(&s).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(bad(SecondaryOf::default()).starts_with("secondary.primaries:"));
        assert!(
            bad(SecondaryOf { primaries: vec!["ns1.example.net".into()], key: None })
                .starts_with("secondary.primaries[0]:")
        );
        assert!(
            bad(SecondaryOf { primaries: vec!["192.0.2.1".into()], key: Some("a..b".into()) })
                .starts_with("secondary.key:")
        );
        let ok = check(&SecondaryOf {
            primaries: vec!["192.0.2.1".into(), "[2001:db8::1]:5353".into()],
            key: Some("xfr.key".into()),
        })
        .expect("valid");
        assert_eq!(ok.stored().primaries, ["192.0.2.1:53", "[2001:db8::1]:5353"]);
        assert!(ok.accepts_notify("192.0.2.1".parse().expect("ip"), None));
        assert!(!ok.accepts_notify("192.0.2.9".parse().expect("ip"), None));
        assert!(ok.accepts_notify("192.0.2.9".parse().expect("ip"), Some(&name("xfr.key."))));
    }
}
