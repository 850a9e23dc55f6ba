//! TSIG keys (RFC 8945): made or imported through the API, kept in the store with their
//! secrets, never shown again. Zones name them in their transfer settings; a key in use cannot
//! be deleted (the write compares the zones it scanned).

use turnout_dns::tsig::Algorithm;
use turnout_model::Name;
use turnout_store::Op;

use crate::node::Control;
use crate::types::{CreateTsigKey, TsigKeyInfo, TsigKeyRecord, ZoneTransfers};
use crate::write::{Lane, Plan};
use crate::{ControlError, invalid, keys, now_rfc3339, to_json};

/// The shortest secret accepted, in bytes (RFC 8945 §6: at least as long as the hash is
/// recommended; 16 bytes is what old tools make for hmac-sha1).
pub const MIN_SECRET_BYTES: usize = 16;

/// The name of a TSIG key as written in a request.
pub fn parse_key_name(text: &str, field: &str) -> Result<Name, ControlError> {
    let name = Name::parse_absolute(text.trim())
        .map_err(|e| invalid(field, format!("{text:?} is not a domain name: {e}")))?;
    if name.is_root() {
        return Err(invalid(field, "a TSIG key needs a name other than the root"));
    }
    Ok(name)
}

impl Control {
    /// Every TSIG key, in name order, without secrets.
    pub fn tsig_keys(&self) -> Vec<TsigKeyInfo> {
        self.read().tsig_keys.values().map(TsigKeyRecord::info).collect()
    }

    /// One TSIG key, without its secret.
    pub fn tsig_key(&self, name: &str) -> Result<TsigKeyInfo, ControlError> {
        let parsed = parse_key_name(name, "name")?;
        self.read()
            .tsig_keys
            .get(&parsed)
            .map(TsigKeyRecord::info)
            .ok_or_else(|| ControlError::NoSuchTsigKey(parsed.to_string()))
    }

    /// Creates a TSIG key. Without a secret in the request a random one as long as the
    /// algorithm's hash is made, and returned this once.
    pub async fn create_tsig_key(
        &self,
        request: &CreateTsigKey,
    ) -> Result<TsigKeyInfo, ControlError> {
        let name = parse_key_name(&request.name, "name")?;
        let algorithm = match request.algorithm.as_deref() {
            None => Algorithm::HmacSha256,
            Some(text) => Algorithm::from_name(text).ok_or_else(|| {
                invalid(
                    "algorithm",
                    format!(
                        "{text:?} is not one of hmac-sha256, hmac-sha384, hmac-sha512, hmac-sha1"
                    ),
                )
            })?,
        };
        let (secret, made) = match &request.secret {
            Some(text) => {
                let bytes = data_encoding::BASE64
                    .decode(text.trim().as_bytes())
                    .map_err(|e| invalid("secret", format!("not base64: {e}")))?;
                if bytes.len() < MIN_SECRET_BYTES {
                    return Err(invalid(
                        "secret",
                        format!(
                            "{} bytes; a secret needs at least {MIN_SECRET_BYTES}",
                            bytes.len()
                        ),
                    ));
                }
                (data_encoding::BASE64.encode(&bytes), false)
            }
            None => {
                let mut bytes = vec![0u8; algorithm.mac_len()];
                getrandom::fill(&mut bytes).map_err(|e| {
                    turnout_store::StoreError::Unavailable(format!(
                        "no randomness from the OS: {e}"
                    ))
                })?;
                (data_encoding::BASE64.encode(&bytes), true)
            }
        };
        let record = TsigKeyRecord {
            name: name.to_string(),
            algorithm: algorithm.as_str().to_owned(),
            secret: secret.clone(),
            created_at: now_rfc3339(),
        };
        let value = to_json(&record);
        self.write(Lane::Config, |st, reads| {
            reads.object(keys::tsig_key(&name));
            if st.tsig_keys.contains_key(&name) {
                return Err(ControlError::TsigKeyExists(name.to_string()));
            }
            Ok(Plan::Write { ops: vec![Op::put(keys::tsig_key(&name), value.clone())], value: () })
        })
        .await?;
        let mut info = record.info();
        if made {
            info.secret = Some(secret);
        }
        Ok(info)
    }

    /// Deletes a TSIG key that no zone names.
    pub async fn delete_tsig_key(&self, name: &str) -> Result<(), ControlError> {
        let name = parse_key_name(name, "name")?;
        self.write(Lane::Config, |st, reads| {
            reads.object(keys::tsig_key(&name));
            if !st.tsig_keys.contains_key(&name) {
                return Err(ControlError::NoSuchTsigKey(name.to_string()));
            }
            reads.prefix(keys::zones());
            for (apex, entry) in &st.zones {
                if entry.meta.transfers.as_ref().is_some_and(|t| names_key(t, &name)) {
                    return Err(ControlError::TsigKeyInUse {
                        name: name.to_string(),
                        user: format!("the transfer settings of zone {apex}"),
                    });
                }
                let updates = entry.meta.updates.as_ref().map_or(&[][..], |u| &u.allow[..]);
                if updates.iter().any(|a| Name::parse_absolute(&a.key).is_ok_and(|k| k == name)) {
                    return Err(ControlError::TsigKeyInUse {
                        name: name.to_string(),
                        user: format!("the update rules of zone {apex}"),
                    });
                }
                let secondary = entry.meta.secondary.as_ref().and_then(|s| s.key.as_deref());
                if secondary.is_some_and(|k| Name::parse_absolute(k).is_ok_and(|k| k == name)) {
                    return Err(ControlError::TsigKeyInUse {
                        name: name.to_string(),
                        user: format!("the secondary settings of zone {apex}"),
                    });
                }
            }
            Ok(Plan::Write { ops: vec![Op::delete(keys::tsig_key(&name))], value: () })
        })
        .await?;
        Ok(())
    }
}

/// Whether a zone's transfer settings name the key.
fn names_key(t: &ZoneTransfers, key: &Name) -> bool {
    let is = |text: &str| Name::parse_absolute(text).is_ok_and(|n| &n == key);
    t.allow.iter().filter_map(|a| a.key.as_deref()).any(is)
        || t.notify_key.as_deref().is_some_and(is)
}
