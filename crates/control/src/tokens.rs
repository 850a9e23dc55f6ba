//! API tokens: the store keeps each token's name, scopes and SHA-256; the admin token made at
//! first start is also written, in clear, to `<data-dir>/admin.token` (mode 0600), where the
//! CLI finds it.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use turnout_store::{Compare, Op, Store, StoreError, Txn};

use crate::hex_sha256;
use crate::types::TokenRecord;
use crate::write::{Lane, Plan};
use crate::{invalid, keys, now_rfc3339, random_base32};

/// The admin token's file name inside the data directory.
pub const ADMIN_TOKEN_FILE: &str = "admin.token";

/// What [`ensure_admin_token`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminToken {
    /// A new admin token was made and written to this file.
    Created(PathBuf),
    /// The store already has an admin token.
    Exists,
    /// The store has an admin token but its file is not in the data directory (a restored
    /// backup, or a deleted file): the token cannot be read from there.
    FileMissing(PathBuf),
}

/// Makes the admin token on first start: writes it to `<data_dir>/admin.token` (0600, fsynced,
/// atomically renamed) and then records its digest in the store.
pub async fn ensure_admin_token(
    store: &dyn Store,
    data_dir: &Path,
) -> Result<AdminToken, StoreError> {
    let key = keys::token("admin");
    if store.get(&key).await?.0.is_some() {
        let path = data_dir.join(ADMIN_TOKEN_FILE);
        return Ok(if path.exists() { AdminToken::Exists } else { AdminToken::FileMissing(path) });
    }
    let token = format!("turnout_{}", random_base32(20)?.to_ascii_lowercase());
    let path = data_dir.join(ADMIN_TOKEN_FILE);
    write_secret(&path, &token).map_err(|e| {
        StoreError::Io(format!("cannot write the admin token to {}: {e}", path.display()))
    })?;
    let record = TokenRecord {
        name: "admin".into(),
        scopes: vec!["admin".into()],
        sha256: hex_sha256(&token),
        created_at: now_rfc3339(),
        expires_at: None,
        access_key: None,
    };
    let value = serde_json::to_vec(&record).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let response = store
        .txn(Txn {
            compares: vec![Compare::absent(key.clone())],
            success: vec![Op::put(key, value)],
            failure: Vec::new(),
        })
        .await?;
    if !response.succeeded {
        return Ok(AdminToken::Exists);
    }
    Ok(AdminToken::Created(path))
}

/// Writes a secret file readable only by its owner (the token and a newline).
fn write_secret(path: &Path, secret: &str) -> std::io::Result<()> {
    write_private(path, format!("{secret}\n").as_bytes())
}

/// Writes a file readable only by its owner, durably and whole: temp file, fsync, rename,
/// fsync of the directory.
pub(crate) fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    let _absent = fs::remove_file(&tmp);
    let mut file = OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
    file.write_all(contents)?;
    file.sync_all()?;
    fs::rename(&tmp, path)?;
    File::open(dir)?.sync_all()
}

/// Writes the admin token to a data directory (after a rotation), as at first start.
pub fn write_admin_token(data_dir: &Path, token: &str) -> std::io::Result<()> {
    write_secret(&data_dir.join(ADMIN_TOKEN_FILE), token)
}

/// The webhook signing secret's file inside the data directory, when the config names none.
pub const WEBHOOK_SECRET_FILE: &str = "webhook.secret";

/// Reads a secret file (its first line, trimmed); an empty one is refused.
pub fn read_secret(path: &Path) -> std::io::Result<String> {
    let text = fs::read_to_string(path)?;
    match text.lines().next().map(str::trim) {
        Some(s) if !s.is_empty() => Ok(s.to_owned()),
        _ => Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "the file is empty")),
    }
}

/// The secret in `path`, made (32 random bytes, hex; mode 0600) if the file does not exist.
/// The flag says whether it was made now.
pub fn ensure_secret(path: &Path) -> std::io::Result<(String, bool)> {
    if path.exists() {
        return Ok((read_secret(path)?, false));
    }
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| std::io::Error::other(e.to_string()))?;
    let secret = data_encoding::HEXLOWER.encode(&bytes);
    write_secret(path, &secret)?;
    Ok((secret, true))
}

/// Reads the admin token from a data directory.
pub fn read_admin_token(data_dir: &Path) -> std::io::Result<String> {
    Ok(fs::read_to_string(data_dir.join(ADMIN_TOKEN_FILE))?.trim().to_owned())
}

/// The scopes a token may have: `read` (every read of both APIs), `config` (zones, records,
/// checks, collections, panels; reads too), `controls` (routing-control states and reads of the
/// routing-control API), `admin` (everything, and tokens).
pub const SCOPES: [&str; 4] = ["read", "config", "controls", "admin"];

/// The longest lifetime a token may be given (ten years).
pub const MAX_LIFETIME: std::time::Duration = std::time::Duration::from_secs(10 * 366 * 86_400);

/// Why a bearer token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No token has this secret (never made, deleted, or rotated).
    #[error("the bearer token is not valid")]
    Unknown,
    /// No token has this secret yet, but the node has not loaded its configuration (tokens
    /// included): it may be valid a moment later.
    #[error("not ready: the node is still loading its configuration (API tokens included)")]
    Loading,
    /// The token has expired.
    #[error("the token {name:?} expired at {at}")]
    Expired {
        /// Its name.
        name: String,
        /// When (RFC 3339).
        at: String,
    },
}

/// Whether a token record has expired at `now`. An expiry that cannot be read counts as
/// expired: a damaged record must not grant access.
pub(crate) fn expired(record: &TokenRecord, now: std::time::SystemTime) -> bool {
    record
        .expires_at
        .as_deref()
        .is_some_and(|at| humantime::parse_rfc3339(at).map_or(true, |at| now >= at))
}

/// A token as listed: never its secret.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TokenInfo {
    /// Its name.
    pub name: String,
    /// Its scopes.
    pub scopes: Vec<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339; none when the token does not expire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// Whether it has expired (it is then refused; delete it or make another).
    #[serde(default)]
    pub expired: bool,
    /// Its Route 53 API access key id, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
}

/// A token just made: the only time its secret is shown.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NewToken {
    /// Its name.
    pub name: String,
    /// Its scopes.
    pub scopes: Vec<String>,
    /// The secret to send as `Authorization: Bearer ...`.
    pub token: String,
    /// RFC 3339; none when the token does not expire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// Its Route 53 API access key id, if asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    /// Its secret access key (shown once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_access_key: Option<String>,
}

/// A new access key pair for the Route 53 API: an id of `AKTO` and 16 base-32 characters, and
/// a secret of 40 base-64 characters (AWS's lengths).
fn new_access_key() -> Result<crate::types::AccessKey, StoreError> {
    let id = format!("AKTO{}", &random_base32(10)?[..16]);
    let mut bytes = [0u8; 30];
    getrandom::fill(&mut bytes)
        .map_err(|e| StoreError::Unavailable(format!("no randomness from the OS: {e}")))?;
    Ok(crate::types::AccessKey { id, secret: data_encoding::BASE64.encode(&bytes) })
}

impl NewToken {
    fn of(record: &TokenRecord, token: String) -> NewToken {
        NewToken {
            name: record.name.clone(),
            scopes: record.scopes.clone(),
            token,
            expires_at: record.expires_at.clone(),
            access_key_id: record.access_key.as_ref().map(|k| k.id.clone()),
            secret_access_key: record.access_key.as_ref().map(|k| k.secret.clone()),
        }
    }
}

impl crate::Control {
    /// The token holding this Route 53 access key id, and the key's secret, if the token has
    /// not expired.
    pub fn access_key(&self, id: &str) -> Result<(TokenRecord, String), AuthError> {
        let record = self
            .read()
            .tokens
            .values()
            .find(|t| t.access_key.as_ref().is_some_and(|k| k.id == id))
            .cloned()
            .ok_or_else(|| self.unknown())?;
        if expired(&record, std::time::SystemTime::now()) {
            return Err(AuthError::Expired {
                at: record.expires_at.clone().unwrap_or_default(),
                name: record.name,
            });
        }
        let secret = record.access_key.as_ref().map(|k| k.secret.clone()).unwrap_or_default();
        Ok((record, secret))
    }

    /// The token's record, if `token` is a known API token that has not expired.
    pub fn authenticate(&self, token: &str) -> Result<TokenRecord, AuthError> {
        let digest = hex_sha256(token);
        let record = self.read().tokens.get(&digest).cloned().ok_or_else(|| self.unknown())?;
        if expired(&record, std::time::SystemTime::now()) {
            return Err(AuthError::Expired {
                at: record.expires_at.clone().unwrap_or_default(),
                name: record.name,
            });
        }
        Ok(record)
    }

    /// Why a token is not known: it is not, or the configuration is not loaded yet (the API
    /// listens before the first load, which can take seconds on a large etcd store).
    fn unknown(&self) -> AuthError {
        if self.served_revision().is_none() { AuthError::Loading } else { AuthError::Unknown }
    }

    /// Every token, by name, without secrets.
    pub fn tokens(&self) -> Vec<TokenInfo> {
        let now = std::time::SystemTime::now();
        let mut out: Vec<TokenInfo> = self
            .read()
            .tokens
            .values()
            .map(|t| TokenInfo {
                name: t.name.clone(),
                scopes: t.scopes.clone(),
                created_at: t.created_at.clone(),
                expires_at: t.expires_at.clone(),
                expired: expired(t, now),
                access_key_id: t.access_key.as_ref().map(|k| k.id.clone()),
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// Makes a token with these scopes, expiring after `lifetime` if given, with a Route 53
    /// access key pair when `route53`; the secrets are returned once and only the token's
    /// digest is stored (and the access key, which SigV4 needs). A name in use is refused.
    pub async fn create_token(
        &self,
        name: &str,
        scopes: &[String],
        lifetime: Option<std::time::Duration>,
        route53: bool,
    ) -> Result<NewToken, crate::ControlError> {
        if let Some(e) = turnout_model::health::check_name_error(name, "name") {
            return Err(invalid("name", e.message));
        }
        if scopes.is_empty() {
            return Err(invalid("scopes", format!("give at least one of {}", SCOPES.join(", "))));
        }
        if let Some(bad) = scopes.iter().find(|s| !SCOPES.contains(&s.as_str())) {
            return Err(invalid(
                "scopes",
                format!("{bad:?} is not a scope; use {}", SCOPES.join(", ")),
            ));
        }
        let expires_at = match lifetime {
            None => None,
            Some(l) if l.is_zero() || l > MAX_LIFETIME => {
                return Err(invalid(
                    "expires_in",
                    format!(
                        "{}s is not between 1 second and 10 years",
                        l.as_secs_f64().round() as u64
                    ),
                ));
            }
            Some(l) => Some(
                humantime::format_rfc3339_seconds(std::time::SystemTime::now() + l).to_string(),
            ),
        };
        let token = format!("turnout_{}", random_base32(20)?.to_ascii_lowercase());
        let record = TokenRecord {
            name: name.to_owned(),
            scopes: scopes.to_vec(),
            sha256: hex_sha256(&token),
            created_at: now_rfc3339(),
            expires_at: expires_at.clone(),
            access_key: if route53 { Some(new_access_key()?) } else { None },
        };
        let key = keys::token(name);
        let value = serde_json::to_vec(&record).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.write(Lane::Config, |st, reads| {
            reads.object(key.clone());
            if st.revision_of(&key) != 0 {
                return Err(crate::ControlError::TokenExists(name.to_owned()));
            }
            Ok(Plan::Write { ops: vec![Op::put(key.clone(), value.clone())], value: () })
        })
        .await?;
        Ok(NewToken::of(&record, token))
    }

    /// Gives a token a new secret (and its access key a new secret access key, same id),
    /// keeping its name, scopes and expiry: the old secrets are refused from the moment the
    /// change is committed, on every node. The new secrets are returned once.
    pub async fn rotate_token(&self, name: &str) -> Result<NewToken, crate::ControlError> {
        let token = format!("turnout_{}", random_base32(20)?.to_ascii_lowercase());
        let fresh = new_access_key()?;
        let key = keys::token(name);
        let record = self
            .write(Lane::Config, |st, reads| {
                reads.object(key.clone());
                let Some(old) = st.tokens.values().find(|t| t.name == name) else {
                    return Err(crate::ControlError::NoSuchToken(name.to_owned()));
                };
                let access_key = old.access_key.as_ref().map(|k| crate::types::AccessKey {
                    id: k.id.clone(),
                    secret: fresh.secret.clone(),
                });
                let record = TokenRecord {
                    sha256: hex_sha256(&token),
                    created_at: now_rfc3339(),
                    access_key,
                    ..old.clone()
                };
                let value =
                    serde_json::to_vec(&record).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                Ok(Plan::Write { ops: vec![Op::put(key.clone(), value)], value: record })
            })
            .await?
            .value;
        Ok(NewToken::of(&record, token))
    }

    /// Deletes a token (not the admin token, which the node needs).
    pub async fn delete_token(&self, name: &str) -> Result<(), crate::ControlError> {
        if name == "admin" {
            return Err(crate::ControlError::InvalidInput {
                field: "name".into(),
                message: "the admin token cannot be deleted".into(),
            });
        }
        self.write(Lane::Config, |st, reads| {
            reads.object(keys::token(name));
            if !st.tokens.values().any(|t| t.name == name) {
                return Err(crate::ControlError::NoSuchToken(name.to_owned()));
            }
            Ok(Plan::Write { ops: vec![Op::delete(keys::token(name))], value: () })
        })
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    #[test]
    fn a_token_expires_at_its_time_and_an_unreadable_expiry_counts_as_expired() {
        let record = |expires_at: Option<&str>| TokenRecord {
            name: "t".into(),
            scopes: vec!["read".into()],
            sha256: String::new(),
            created_at: "2026-12-01T00:00:00Z".into(),
            expires_at: expires_at.map(str::to_owned),
            access_key: None,
        };
        let at = UNIX_EPOCH + Duration::from_secs(1_796_083_200); // 2026-12-01T00:00:00Z
        assert!(!expired(&record(None), at));
        let t = record(Some("2026-12-01T00:00:00Z"));
        assert!(!expired(&t, at - Duration::from_secs(1)));
        assert!(expired(&t, at), "refused from its expiry on");
        assert!(expired(&record(Some("next tuesday")), at), "a damaged record grants nothing");
    }
}
