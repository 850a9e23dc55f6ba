//! DNSSEC keys of zones (docs/dnssec.md): generated here, kept in the store with their
//! private keys (`/turnout/dnssec/<apex>`, readable by nobody through the API), rolled over
//! by timelines written once; `crate::signing` turns them into each zone's
//! `turnout_dns::dnssec::ZoneSigner` when the zone is compiled, so that every node signs with
//! the same keys.

use turnout_dns::dnssec::{Algorithm, keys as dkeys};
use turnout_store::Op;

use crate::node::Control;
use crate::signing::{role_word, unix_now};
use crate::types::{
    DnssecInfo, DnssecRecord, DsSeen, EnableDnssec, KeyRole, KeyTimeline, Rollover, StartRollover,
    StoredDnssecKey,
};
use crate::write::{Lane, Plan};
use crate::{ControlError, invalid, keys, now_rfc3339, to_json};

/// The TTL of DNSKEY, CDS and CDNSKEY unless the request gives one.
pub const DEFAULT_DNSKEY_TTL: u32 = 3600;
/// Seconds added to each wait of a rollover unless the zone says otherwise.
pub const DEFAULT_PROPAGATION: u32 = 60;
/// The TTL of the parent's DS RRset unless the operator gives it.
pub const DEFAULT_PARENT_DS_TTL: u32 = 86_400;

/// A new key of `alg` in `role`.
fn new_key(alg: Algorithm, role: KeyRole) -> Result<StoredDnssecKey, ControlError> {
    let pkcs8 = dkeys::generate(alg)
        .map_err(|e| ControlError::Store(turnout_store::StoreError::Unavailable(format!("{e}"))))?;
    Ok(StoredDnssecKey {
        role,
        algorithm: alg,
        private_key: data_encoding::BASE64.encode(&pkcs8),
        created_at: now_rfc3339(),
        timeline: KeyTimeline::default(),
    })
}

impl Control {
    /// The largest TTL of a zone's record sets: how long a cache may hold a signature the
    /// zone's keys made (read before the write: a large zone's sets are decoded).
    fn largest_ttl(&self, apex: &turnout_model::Name) -> u64 {
        let records = self.read().records.get(apex).cloned();
        records.map_or(0, |z| {
            z.sets
                .values()
                .filter_map(|s| match &s.data {
                    turnout_model::RecordData::Values { ttl, .. } => Some(u64::from(*ttl)),
                    turnout_model::RecordData::Alias { .. } => None,
                })
                .max()
                .unwrap_or(0)
        })
    }

    /// A zone's DNSSEC state (public parts only).
    pub fn dnssec(&self, zone: &str) -> Result<DnssecInfo, ControlError> {
        let apex = crate::zones::parse_zone_name(zone, "zone")?;
        let st = self.read();
        if !st.zones.contains_key(&apex) {
            return Err(ControlError::NoSuchZone(apex));
        }
        Ok(match st.dnssec.get(&apex) {
            Some(record) => record.info(&apex, unix_now()),
            None => DnssecInfo {
                zone: apex.to_string(),
                signed: false,
                keys: Vec::new(),
                ds: Vec::new(),
                dnskey_ttl: None,
                rollover: None,
                next_step: None,
            },
        })
    }

    /// Signs a zone: makes its keys and stores them; every node then signs its answers to
    /// queries with the DO bit. The parent's DS is the operator's next step (docs/dnssec.md).
    pub async fn enable_dnssec(
        &self,
        zone: &str,
        request: &EnableDnssec,
    ) -> Result<DnssecInfo, ControlError> {
        let apex = crate::zones::parse_zone_name(zone, "zone")?;
        let alg = match request.algorithm.as_deref() {
            None => Algorithm::EcdsaP256Sha256,
            Some(text) => Algorithm::parse(text.trim()).ok_or_else(|| {
                invalid(
                    "algorithm",
                    format!("{text:?} is not one of ECDSAP256SHA256 (13) and ED25519 (15)"),
                )
            })?,
        };
        let roles: &[KeyRole] = match request.scheme.as_deref().map(str::trim) {
            None | Some("csk") => &[KeyRole::Csk],
            Some("ksk-zsk") => &[KeyRole::Ksk, KeyRole::Zsk],
            Some(other) => {
                return Err(invalid("scheme", format!("{other:?} is not one of csk, ksk-zsk")));
            }
        };
        let dnskey_ttl = request.dnskey_ttl.unwrap_or(DEFAULT_DNSKEY_TTL);
        if dnskey_ttl > i32::MAX as u32 {
            return Err(invalid("dnskey_ttl", format!("{dnskey_ttl} is above 2147483647")));
        }
        let propagation_delay = request.propagation_delay.unwrap_or(DEFAULT_PROPAGATION);
        if propagation_delay > 7 * 86_400 {
            return Err(invalid(
                "propagation_delay",
                format!("{propagation_delay} is above 604800 (a week)"),
            ));
        }
        let keys = roles.iter().map(|&r| new_key(alg, r)).collect::<Result<Vec<_>, _>>()?;
        let record = DnssecRecord {
            zone: apex.to_string(),
            keys,
            dnskey_ttl,
            created_at: now_rfc3339(),
            propagation_delay,
            rollover: None,
        };
        // The keys must make a signer before they are stored.
        record.signer(&apex, unix_now()).map_err(|e| invalid("algorithm", e))?;
        let value = to_json(&record);
        self.write(Lane::Config, |st, reads| {
            reads.object(keys::zone(&apex));
            reads.object(keys::dnssec(&apex));
            let entry =
                st.zones.get(&apex).ok_or_else(|| ControlError::NoSuchZone(apex.clone()))?;
            if entry.meta.secondary.is_some() {
                return Err(ControlError::ZoneIsSecondary(apex.clone()));
            }
            if st.dnssec.contains_key(&apex) {
                return Err(ControlError::DnssecAlreadyOn(apex.clone()));
            }
            Ok(Plan::Write { ops: vec![Op::put(keys::dnssec(&apex), value.clone())], value: () })
        })
        .await?;
        Ok(record.info(&apex, unix_now()))
    }

    /// Starts a rollover of the zone's `role` keys (docs/dnssec.md#rollovers): a new key is
    /// made and the whole timeline is set from the zone's TTLs and propagation delay, so that
    /// every node follows it by the clock, and a restart resumes it. A ZSK rolls by
    /// pre-publication and ends by itself; a KSK or CSK by double DS, and waits for
    /// [`Control::dnssec_ds_seen`] before the old key goes.
    pub async fn start_rollover(
        &self,
        zone: &str,
        request: &StartRollover,
    ) -> Result<DnssecInfo, ControlError> {
        let apex = crate::zones::parse_zone_name(zone, "zone")?;
        let role = match request.role.trim() {
            "zsk" => KeyRole::Zsk,
            "ksk" => KeyRole::Ksk,
            "csk" => KeyRole::Csk,
            other => return Err(invalid("role", format!("{other:?} is not one of zsk, ksk, csk"))),
        };
        // The new key is made before the write (it is slow and needs randomness), with the
        // algorithm the zone's keys of that role have; the write checks it still is.
        let alg = {
            let st = self.read();
            let record =
                st.dnssec.get(&apex).ok_or_else(|| ControlError::DnssecOff(apex.clone()))?;
            record.keys.iter().find(|k| k.role == role).map(|k| k.algorithm)
        };
        let alg = alg.ok_or_else(|| {
            ControlError::Rollover(format!("the zone {apex} has no {} to roll", role_word(role)))
        })?;
        // Another algorithm: an algorithm rollover (RFC 6781 §4.1.4), for a CSK.
        let new_alg = match request.algorithm.as_deref() {
            None => alg,
            Some(text) => Algorithm::parse(text.trim()).ok_or_else(|| {
                invalid(
                    "algorithm",
                    format!("{text:?} is not one of ECDSAP256SHA256 (13) and ED25519 (15)"),
                )
            })?,
        };
        let algorithm_rollover = new_alg != alg;
        if algorithm_rollover && role != KeyRole::Csk {
            return Err(ControlError::Rollover(format!(
                "an algorithm rollover is for a zone signed with a CSK; {apex} rolls its {} \
                 with its algorithm",
                role_word(role)
            )));
        }
        let max_ttl = self.largest_ttl(&apex);
        let fresh = new_key(new_alg, role)?;
        let now = unix_now();
        let written = self
            .write(Lane::Config, |st, reads| {
                reads.object(keys::zone(&apex));
                reads.object(keys::dnssec(&apex));
                if !st.zones.contains_key(&apex) {
                    return Err(ControlError::NoSuchZone(apex.clone()));
                }
                let record =
                    st.dnssec.get(&apex).ok_or_else(|| ControlError::DnssecOff(apex.clone()))?;
                if let Some(r) = &record.rollover
                    && (r.waiting_for_ds || record.next_event(now).is_some())
                {
                    return Err(ControlError::Rollover(format!(
                        "a {} rollover of {apex} is under way: {}",
                        role_word(r.role),
                        record.next_step(now).unwrap_or_default()
                    )));
                }
                let mut record = (**record).clone();
                // Keys removed by an earlier rollover go now.
                record.keys.retain(|k| k.timeline.remove_at.is_none_or(|t| t > now));
                if record.keys.iter().any(|k| k.role == role && k.algorithm != alg) {
                    return Err(ControlError::Conflict);
                }
                let d = u64::from(record.dnskey_ttl) + u64::from(record.propagation_delay);
                let p = u64::from(record.propagation_delay);
                let mut new = fresh.clone();
                if algorithm_rollover {
                    // Signatures of the new algorithm first, everywhere, until every cached
                    // RRset has them; then its key; then its DS. The old key signs on after
                    // it leaves, until no cache holds a DNSKEY RRset with it (ds-seen).
                    let publish = now + max_ttl.max(u64::from(record.dnskey_ttl)) + p;
                    new.timeline = KeyTimeline {
                        active_at: Some(now),
                        publish_at: Some(publish),
                        ds_at: Some(publish + d),
                        signs_unpublished: true,
                        ..KeyTimeline::default()
                    };
                    for old in record.keys.iter_mut().filter(|k| k.role == role) {
                        old.timeline.ds_until = Some(publish + d);
                        old.timeline.signs_unpublished = true;
                    }
                    record.keys.push(new);
                    record.rollover =
                        Some(Rollover { role, started_at: now, waiting_for_ds: true });
                    let ops = vec![Op::put(keys::dnssec(&apex), to_json(&record))];
                    return Ok(Plan::Write { ops, value: record });
                }
                new.timeline.publish_at = Some(now);
                for old in record.keys.iter_mut().filter(|k| k.role == role) {
                    match role {
                        KeyRole::Zsk => {
                            old.timeline.retire_at = Some(now + d);
                            old.timeline.remove_at = Some(now + d + max_ttl + p);
                        }
                        KeyRole::Csk => {
                            old.timeline.retire_at = Some(now + d);
                            old.timeline.ds_until = Some(now + d);
                        }
                        KeyRole::Ksk => old.timeline.ds_until = Some(now + d),
                    }
                }
                match role {
                    KeyRole::Zsk => new.timeline.active_at = Some(now + d),
                    KeyRole::Csk => {
                        new.timeline.active_at = Some(now + d);
                        new.timeline.ds_at = Some(now + d);
                    }
                    KeyRole::Ksk => new.timeline.ds_at = Some(now + d),
                }
                record.keys.push(new);
                record.rollover =
                    Some(Rollover { role, started_at: now, waiting_for_ds: role != KeyRole::Zsk });
                let ops = vec![Op::put(keys::dnssec(&apex), to_json(&record))];
                Ok(Plan::Write { ops, value: record })
            })
            .await?;
        Ok(written.value.info(&apex, unix_now()))
    }

    /// The operator's word that the zone's parent serves the new key's DS (a KSK or CSK
    /// rollover): the old key leaves once resolvers can no longer hold the old DS
    /// (`parent_ds_ttl`) nor, for a CSK, signatures it made.
    pub async fn dnssec_ds_seen(
        &self,
        zone: &str,
        request: &DsSeen,
    ) -> Result<DnssecInfo, ControlError> {
        let apex = crate::zones::parse_zone_name(zone, "zone")?;
        let ds_ttl = u64::from(request.parent_ds_ttl.unwrap_or(DEFAULT_PARENT_DS_TTL));
        if ds_ttl > i32::MAX as u64 {
            return Err(invalid("parent_ds_ttl", format!("{ds_ttl} is above 2147483647")));
        }
        let max_ttl = self.largest_ttl(&apex);
        let now = unix_now();
        let written = self
            .write(Lane::Config, |st, reads| {
                reads.object(keys::zone(&apex));
                reads.object(keys::dnssec(&apex));
                let record =
                    st.dnssec.get(&apex).ok_or_else(|| ControlError::DnssecOff(apex.clone()))?;
                let Some(rollover) = record.rollover.as_ref().filter(|r| r.waiting_for_ds) else {
                    return Err(ControlError::Rollover(format!(
                        "no rollover of {apex} waits for the parent's DS"
                    )));
                };
                let role = rollover.role;
                let new_from = record
                    .keys
                    .iter()
                    .filter(|k| k.role == role)
                    .filter_map(|k| k.timeline.ds_at)
                    .max()
                    .unwrap_or(0);
                if new_from > now {
                    return Err(ControlError::Rollover(format!(
                        "the new key's DS is not published yet (CDS names it in {}s): the \
                         parent cannot serve it",
                        new_from - now
                    )));
                }
                let mut record = (**record).clone();
                let p = u64::from(record.propagation_delay);
                let key_ttl = u64::from(record.dnskey_ttl);
                for old in record.keys.iter_mut().filter(|k| {
                    k.role == role
                        && k.timeline.ds_until.is_some()
                        && k.timeline.remove_at.is_none()
                }) {
                    let mut at = now + ds_ttl + p;
                    if let Some(retired) = old.timeline.retire_at {
                        at = at.max(retired + max_ttl + p);
                    }
                    old.timeline.remove_at = Some(at);
                    if old.timeline.signs_unpublished {
                        // An algorithm rollover: the old algorithm's signatures stay until no
                        // cache can hold a DNSKEY RRset with its key.
                        old.timeline.retire_at = Some(at + key_ttl + p);
                    }
                }
                if let Some(r) = record.rollover.as_mut() {
                    r.waiting_for_ds = false;
                }
                let ops = vec![Op::put(keys::dnssec(&apex), to_json(&record))];
                Ok(Plan::Write { ops, value: record })
            })
            .await?;
        Ok(written.value.info(&apex, unix_now()))
    }

    /// Stops signing a zone and deletes its keys. Its DS must be gone from the parent first
    /// (and its TTL passed), or validating resolvers fail the zone (docs/dnssec.md).
    pub async fn disable_dnssec(&self, zone: &str) -> Result<(), ControlError> {
        let apex = crate::zones::parse_zone_name(zone, "zone")?;
        self.write(Lane::Config, |st, reads| {
            reads.object(keys::zone(&apex));
            reads.object(keys::dnssec(&apex));
            if !st.zones.contains_key(&apex) {
                return Err(ControlError::NoSuchZone(apex.clone()));
            }
            if !st.dnssec.contains_key(&apex) {
                return Err(ControlError::DnssecOff(apex.clone()));
            }
            Ok(Plan::Write { ops: vec![Op::delete(keys::dnssec(&apex))], value: () })
        })
        .await?;
        Ok(())
    }
}
