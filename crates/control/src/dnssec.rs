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
    DnssecInfo, DnssecKeyInfo, DnssecRecord, EnableDnssec, KeyRole, StoredDnssecKey,
};
use crate::write::{Lane, Plan};
use crate::{ControlError, invalid, keys, now_rfc3339, to_json};

/// The TTL of DNSKEY, CDS and CDNSKEY unless the request gives one.
pub const DEFAULT_DNSKEY_TTL: u32 = 3600;

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

impl DnssecRecord {
    /// The zone's signer (an error names the stored key that cannot be used).
    pub fn signer(&self, apex: &Name) -> Result<ZoneSigner, String> {
        let keys = self
            .keys
            .iter()
            .map(|k| {
                let (role, key) = signing_key(k)?;
                Ok(ZoneKey {
                    key: Arc::new(key),
                    signs_zone: matches!(role, KeyRole::Csk | KeyRole::Zsk),
                    signs_keys: matches!(role, KeyRole::Csk | KeyRole::Ksk),
                    published: true,
                    wanted_in_parent: matches!(role, KeyRole::Csk | KeyRole::Ksk),
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(ZoneSigner::new(apex.clone(), &keys, self.dnskey_ttl, Lifetimes::default()))
    }

    /// What the API shows: public parts only.
    pub fn info(&self, apex: &Name) -> DnssecInfo {
        let mut keys = Vec::new();
        let mut ds = Vec::new();
        for k in &self.keys {
            let Ok((role, key)) = signing_key(k) else { continue };
            let dnskey = Rdata::from_wire(RType::DNSKEY, key.dnskey())
                .map(|r| format!("{apex} {} IN DNSKEY {}", self.dnskey_ttl, dnskey_text(&r)))
                .unwrap_or_default();
            if matches!(role, KeyRole::Csk | KeyRole::Ksk) {
                ds.push(ds_text(apex, key.dnskey()));
            }
            keys.push(DnssecKeyInfo {
                tag: key.tag(),
                role,
                algorithm: key.algorithm().number(),
                algorithm_name: key.algorithm().mnemonic().to_owned(),
                dnskey,
                created_at: k.created_at.clone(),
            });
        }
        DnssecInfo {
            zone: apex.to_string(),
            signed: true,
            keys,
            ds,
            dnskey_ttl: Some(self.dnskey_ttl),
        }
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
            Some((record, _)) => record.info(&apex),
            None => DnssecInfo {
                zone: apex.to_string(),
                signed: false,
                keys: Vec::new(),
                ds: Vec::new(),
                dnskey_ttl: None,
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
        let keys = roles.iter().map(|&r| new_key(alg, r)).collect::<Result<Vec<_>, _>>()?;
        let record =
            DnssecRecord { zone: apex.to_string(), keys, dnskey_ttl, created_at: now_rfc3339() };
        // The keys must make a signer before they are stored.
        record.signer(&apex).map_err(|e| invalid("algorithm", e))?;
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
        Ok(record.info(&apex))
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
