//! DNSSEC keys of zones (docs/dnssec.md): generated here, kept in the store with their
//! private keys (`/turnout/dnssec/<apex>`, readable by nobody through the API), and turned
//! into each zone's [`ZoneSigner`] when the zone is compiled, so that every node signs with
//! the same keys.

use std::sync::Arc;

use turnout_dns::dnssec::{
    Algorithm, DigestType, Lifetimes, SigningKey, ZoneKey, ZoneSigner, keys as dkeys,
};
use turnout_model::{Name, RType, Rdata};
use turnout_store::Op;

use crate::node::Control;
use crate::types::{
    DnssecInfo, DnssecKeyInfo, DnssecRecord, DsSeen, EnableDnssec, KeyRole, KeyTimeline, Rollover,
    StartRollover, StoredDnssecKey,
};
use crate::write::{Lane, Plan};
use crate::{ControlError, invalid, keys, now_rfc3339, to_json};

/// The TTL of DNSKEY, CDS and CDNSKEY unless the request gives one.
pub const DEFAULT_DNSKEY_TTL: u32 = 3600;
/// Seconds added to each wait of a rollover unless the zone says otherwise.
pub const DEFAULT_PROPAGATION: u32 = 60;
/// The TTL of the parent's DS RRset unless the operator gives it.
pub const DEFAULT_PARENT_DS_TTL: u32 = 86_400;

/// A stored key, ready to sign, with its role.
fn signing_key(k: &StoredDnssecKey) -> Result<(KeyRole, SigningKey), String> {
    let pkcs8 = data_encoding::BASE64
        .decode(k.private_key.as_bytes())
        .map_err(|e| format!("private key is not base64: {e}"))?;
    let flags = match k.role {
        KeyRole::Zsk => dkeys::FLAG_ZONE,
        KeyRole::Ksk | KeyRole::Csk => dkeys::FLAG_ZONE | dkeys::FLAG_SEP,
    };
    let key = SigningKey::from_pkcs8(k.algorithm, flags, &pkcs8).map_err(|e| e.to_string())?;
    Ok((k.role, key))
}

/// The current Unix time in seconds.
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// What a key does at `now`, from its timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyState {
    /// In the DNSKEY RRset.
    pub published: bool,
    /// Signs the zone's RRsets.
    pub signs_zone: bool,
    /// Signs the DNSKEY, CDS and CDNSKEY RRsets.
    pub signs_keys: bool,
    /// Named by CDS and CDNSKEY.
    pub wanted_in_parent: bool,
}

impl KeyTimeline {
    /// What a key of `role` with this timeline does at `now`.
    pub fn state(&self, role: KeyRole, now: u64) -> KeyState {
        let from = |t: Option<u64>| t.is_none_or(|t| t <= now);
        let until = |t: Option<u64>| t.is_none_or(|t| now < t);
        let published = from(self.publish_at) && until(self.remove_at);
        let sep = matches!(role, KeyRole::Csk | KeyRole::Ksk);
        KeyState {
            published,
            signs_zone: published
                && !matches!(role, KeyRole::Ksk)
                && from(self.active_at)
                && until(self.retire_at),
            signs_keys: published && sep,
            wanted_in_parent: published && sep && from(self.ds_at) && until(self.ds_until),
        }
    }

    /// Its times after `now`.
    fn future(&self, now: u64) -> impl Iterator<Item = u64> {
        [self.publish_at, self.active_at, self.retire_at, self.remove_at, self.ds_at, self.ds_until]
            .into_iter()
            .flatten()
            .filter(move |&t| t > now)
    }

    /// A word for the state at `now`.
    fn word(&self, role: KeyRole, now: u64) -> &'static str {
        let st = self.state(role, now);
        if !st.published {
            if self.remove_at.is_some_and(|t| t <= now) { "removed" } else { "created" }
        } else if st.signs_zone || (role == KeyRole::Ksk && st.signs_keys) {
            "active"
        } else if self.retire_at.is_some_and(|t| t <= now) {
            "retired"
        } else {
            "published"
        }
    }
}

impl DnssecRecord {
    /// The zone's signer at `now` (an error names the stored key that cannot be used).
    pub fn signer(&self, apex: &Name, now: u64) -> Result<ZoneSigner, String> {
        let keys = self
            .keys
            .iter()
            .map(|k| {
                let (role, key) = signing_key(k)?;
                let st = k.timeline.state(role, now);
                Ok(ZoneKey {
                    key: Arc::new(key),
                    signs_zone: st.signs_zone,
                    signs_keys: st.signs_keys,
                    published: st.published,
                    wanted_in_parent: st.wanted_in_parent,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(ZoneSigner::new(apex.clone(), &keys, self.dnskey_ttl, Lifetimes::default()))
    }

    /// The next time after `now` at which what the zone publishes or signs with changes.
    pub fn next_event(&self, now: u64) -> Option<u64> {
        self.keys.iter().flat_map(|k| k.timeline.future(now)).min()
    }

    /// What the API shows at `now`: public parts only.
    pub fn info(&self, apex: &Name, now: u64) -> DnssecInfo {
        let mut keys = Vec::new();
        let mut ds = Vec::new();
        for k in &self.keys {
            let Ok((role, key)) = signing_key(k) else { continue };
            let dnskey = Rdata::from_wire(RType::DNSKEY, key.dnskey())
                .map(|r| format!("{apex} {} IN DNSKEY {}", self.dnskey_ttl, dnskey_text(&r)))
                .unwrap_or_default();
            if k.timeline.state(role, now).wanted_in_parent {
                ds.push(ds_text(apex, key.dnskey()));
            }
            keys.push(DnssecKeyInfo {
                tag: key.tag(),
                role,
                algorithm: key.algorithm().number(),
                algorithm_name: key.algorithm().mnemonic().to_owned(),
                dnskey,
                created_at: k.created_at.clone(),
                state: k.timeline.word(role, now).to_owned(),
                timeline: k.timeline.clone(),
            });
        }
        DnssecInfo {
            zone: apex.to_string(),
            signed: true,
            keys,
            ds,
            dnskey_ttl: Some(self.dnskey_ttl),
            rollover: self.rollover.clone(),
            next_step: self.next_step(now),
        }
    }

    /// What the rollover under way waits for, in words.
    fn next_step(&self, now: u64) -> Option<String> {
        let r = self.rollover.as_ref()?;
        if r.waiting_for_ds {
            let wanted = self
                .keys
                .iter()
                .filter(|k| k.role == r.role)
                .find_map(|k| k.timeline.ds_at.filter(|&t| t > r.started_at).map(|t| (t, k)));
            return Some(match wanted {
                Some((t, _)) if t > now => format!(
                    "CDS names the new key in {}s; then give the parent its DS and confirm with \
                     `turnout dnssec ds-seen`",
                    t - now
                ),
                _ => "give the parent the new DS (see ds), then confirm with `turnout dnssec \
                      ds-seen`"
                    .to_owned(),
            });
        }
        Some(match self.next_event(now) {
            Some(t) => format!("the next step in {}s", t - now),
            None => "done".to_owned(),
        })
    }
}

/// A DNSKEY RDATA in presentation form: flags, protocol, algorithm, base64 key (RFC 4034
/// §2.2).
fn dnskey_text(rdata: &Rdata) -> String {
    let b = rdata.as_wire();
    if b.len() < 4 {
        return String::new();
    }
    format!(
        "{} {} {} {}",
        u16::from_be_bytes([b[0], b[1]]),
        b[2],
        b[3],
        data_encoding::BASE64.encode(&b[4..])
    )
}

/// The DS record of a DNSKEY, in presentation form (RFC 4034 §5.3), SHA-256.
fn ds_text(apex: &Name, dnskey: &[u8]) -> String {
    let ds = dkeys::ds_rdata(apex.as_wire(), dnskey, DigestType::Sha256);
    format!(
        "{apex} IN DS {} {} {} {}",
        u16::from_be_bytes([ds[0], ds[1]]),
        ds[2],
        ds[3],
        data_encoding::HEXUPPER.encode(&ds[4..])
    )
}

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
        let (alg, max_ttl) = {
            let st = self.read();
            let record =
                st.dnssec.get(&apex).ok_or_else(|| ControlError::DnssecOff(apex.clone()))?;
            let alg = record.keys.iter().find(|k| k.role == role).map(|k| k.algorithm);
            (alg, st.records.get(&apex).cloned())
        };
        let alg = alg.ok_or_else(|| {
            ControlError::Rollover(format!("the zone {apex} has no {} to roll", role_word(role)))
        })?;
        // Caches hold a signature at most as long as its RRset's TTL.
        let max_ttl = max_ttl.map_or(0, |z| {
            z.sets
                .values()
                .filter_map(|s| match &s.data {
                    turnout_model::RecordData::Values { ttl, .. } => Some(u64::from(*ttl)),
                    turnout_model::RecordData::Alias { .. } => None,
                })
                .max()
                .unwrap_or(0)
        });
        let fresh = new_key(alg, role)?;
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
        let max_ttl = {
            let st = self.read();
            st.records.get(&apex).cloned()
        }
        .map_or(0, |z| {
            z.sets
                .values()
                .filter_map(|s| match &s.data {
                    turnout_model::RecordData::Values { ttl, .. } => Some(u64::from(*ttl)),
                    turnout_model::RecordData::Alias { .. } => None,
                })
                .max()
                .unwrap_or(0)
        });
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

fn role_word(role: KeyRole) -> &'static str {
    match role {
        KeyRole::Csk => "CSK",
        KeyRole::Ksk => "KSK",
        KeyRole::Zsk => "ZSK",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(role: KeyRole, timeline: KeyTimeline) -> StoredDnssecKey {
        let pkcs8 = dkeys::generate(Algorithm::Ed25519).expect("a key");
        StoredDnssecKey {
            role,
            algorithm: Algorithm::Ed25519,
            private_key: data_encoding::BASE64.encode(&pkcs8),
            created_at: String::new(),
            timeline,
        }
    }

    #[test]
    fn a_timeline_says_what_a_key_does_at_each_second() {
        let t = KeyTimeline {
            publish_at: Some(100),
            active_at: Some(110),
            retire_at: Some(200),
            remove_at: Some(300),
            ds_at: Some(110),
            ds_until: Some(200),
        };
        let at = |now| t.state(KeyRole::Csk, now);
        assert!(!at(99).published);
        assert!(at(100).published && !at(100).signs_zone && at(100).signs_keys);
        assert!(!at(100).wanted_in_parent);
        assert!(at(110).signs_zone && at(110).wanted_in_parent);
        assert!(!at(200).signs_zone && at(200).signs_keys && !at(200).wanted_in_parent);
        assert!(!at(300).published && !at(300).signs_keys);
        assert_eq!(t.word(KeyRole::Csk, 99), "created");
        assert_eq!(t.word(KeyRole::Csk, 105), "published");
        assert_eq!(t.word(KeyRole::Csk, 150), "active");
        assert_eq!(t.word(KeyRole::Csk, 250), "retired");
        assert_eq!(t.word(KeyRole::Csk, 300), "removed");
        // A ZSK never signs keys nor goes to the parent; a KSK never signs the zone.
        let zsk = KeyTimeline::default().state(KeyRole::Zsk, 0);
        assert!(zsk.signs_zone && !zsk.signs_keys && !zsk.wanted_in_parent);
        let ksk = KeyTimeline::default().state(KeyRole::Ksk, 0);
        assert!(!ksk.signs_zone && ksk.signs_keys && ksk.wanted_in_parent);
    }

    #[test]
    fn the_next_event_and_the_signer_follow_the_timeline() {
        let old = key(
            KeyRole::Zsk,
            KeyTimeline { retire_at: Some(50), remove_at: Some(90), ..KeyTimeline::default() },
        );
        let new = key(
            KeyRole::Zsk,
            KeyTimeline { publish_at: Some(10), active_at: Some(50), ..KeyTimeline::default() },
        );
        let ksk = key(KeyRole::Ksk, KeyTimeline::default());
        let record = DnssecRecord {
            zone: "example.".into(),
            keys: vec![ksk, old, new],
            dnskey_ttl: 30,
            created_at: String::new(),
            propagation_delay: 10,
            rollover: None,
        };
        assert_eq!(record.next_event(0), Some(10));
        assert_eq!(record.next_event(10), Some(50));
        assert_eq!(record.next_event(50), Some(90));
        assert_eq!(record.next_event(90), None);
        let apex = Name::parse_absolute("example.").expect("a name");
        let published = |now| {
            let mut zone = turnout_model::Zone::new(apex.clone());
            record.signer(&apex, now).expect("a signer").publish(&mut zone).expect("ok");
            zone.get(&apex, RType::DNSKEY).map_or(0, |s| s.rdatas.len())
        };
        assert_eq!((published(5), published(20), published(60), published(95)), (2, 3, 3, 2));
    }
}
