//! What a zone's stored DNSSEC keys do at a given second (docs/dnssec.md#rollovers): each
//! key's timeline read as a state, the zone's signer at that second, the next second it
//! changes, and what the API shows of it (never a private key). Pure: the operations on keys
//! are in `crate::dnssec`.

use std::sync::Arc;

use turnout_dns::dnssec::{DigestType, Lifetimes, SigningKey, ZoneKey, ZoneSigner, keys as dkeys};
use turnout_model::{Name, RType, Rdata};

use crate::types::{
    DnssecInfo, DnssecKeyInfo, DnssecRecord, KeyRole, KeyTimeline, StoredDnssecKey,
};

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
        let active = from(self.active_at) && until(self.retire_at);
        // An algorithm rollover's key signs while active, published or not.
        let signing = if self.signs_unpublished { active } else { published };
        KeyState {
            published,
            signs_zone: signing && active && !matches!(role, KeyRole::Ksk),
            signs_keys: signing && sep,
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
            if st.signs_zone || st.signs_keys {
                "signing"
            } else if self.remove_at.is_some_and(|t| t <= now) {
                "removed"
            } else {
                "created"
            }
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
    pub(crate) fn next_step(&self, now: u64) -> Option<String> {
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

pub(crate) fn role_word(role: KeyRole) -> &'static str {
    match role {
        KeyRole::Csk => "CSK",
        KeyRole::Ksk => "KSK",
        KeyRole::Zsk => "ZSK",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use turnout_dns::dnssec::Algorithm;

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
            signs_unpublished: false,
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
        // An algorithm rollover's key signs while active, in DNSKEY or not.
        let alg = KeyTimeline {
            active_at: Some(10),
            publish_at: Some(50),
            remove_at: Some(100),
            retire_at: Some(120),
            signs_unpublished: true,
            ..KeyTimeline::default()
        };
        let at = |now| alg.state(KeyRole::Csk, now);
        assert!(!at(5).signs_zone && at(20).signs_zone && at(20).signs_keys && !at(20).published);
        assert!(at(60).published && at(110).signs_zone && !at(110).published);
        assert!(!at(120).signs_zone && !at(120).signs_keys);
        let words: Vec<_> = [5, 20, 60, 110, 120].map(|n| alg.word(KeyRole::Csk, n)).into();
        assert_eq!(words, ["created", "signing", "active", "signing", "removed"]);
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
