//! The DNS cookie secret every node of a cluster shares (RFC 9018 §5): kept in the store under
//! [`keys::dns_cookie_secret`], made at the first start, rotated by whichever node finds it due
//! (through the guarded write path, so that two nodes rotating at once make one rotation), and
//! handed to the DNS server's [`Shield`] whenever it changes. The previous secret stays one
//! rotation period, so a cookie made just before a rotation is still good on every node.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio_util::sync::CancellationToken;
use tracing::{info, warn};
use turnout_dns::{CookieSecrets, Shield};
use turnout_store::{Op, StoreError};

use crate::types::CookieSecretRecord;
use crate::write::{Lane, Plan};
use crate::{Control, ControlError, keys, now_rfc3339};

/// A new random secret, hex.
pub fn random_secret() -> Result<[u8; 16], StoreError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)
        .map_err(|e| StoreError::Unavailable(format!("no randomness from the OS: {e}")))?;
    Ok(bytes)
}

impl Control {
    /// The cluster's cookie secrets, once the store has them.
    pub fn cookie_secrets(&self) -> Option<CookieSecrets> {
        self.read().cookie_secret.as_ref().and_then(CookieSecretRecord::secrets)
    }

    /// Makes the secret if there is none, and rotates it when older than `every`; returns
    /// whether it wrote.
    pub async fn rotate_cookie_secret_if_due(&self, every: Duration) -> Result<bool, ControlError> {
        let fresh = data_encoding::HEXLOWER.encode(&random_secret()?);
        let key = keys::dns_cookie_secret();
        let written = self
            .write(Lane::Config, |st, reads| {
                reads.object(key.clone());
                let next = match &st.cookie_secret {
                    Some(old) if old.secrets().is_some() && !old.due(every, SystemTime::now()) => {
                        return Ok(Plan::Nothing(false));
                    }
                    // A damaged record is replaced whole.
                    Some(old) if old.secrets().is_some() => CookieSecretRecord {
                        current: fresh.clone(),
                        previous: Some(old.current.clone()),
                        rotated_at: now_rfc3339(),
                    },
                    _ => CookieSecretRecord {
                        current: fresh.clone(),
                        previous: None,
                        rotated_at: now_rfc3339(),
                    },
                };
                let value =
                    serde_json::to_vec(&next).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                Ok(Plan::Write { ops: vec![Op::put(key.clone(), value)], value: true })
            })
            .await?;
        Ok(written.value)
    }
}

/// Keeps `shield` on the cluster's cookie secrets until `stop`: makes or rotates them when due
/// (checked every few minutes), and hands every change to the DNS server at once. While the
/// store cannot be written, the secrets in hand stay.
pub async fn run_cookie_secrets(
    control: Arc<Control>,
    shield: Arc<Shield>,
    every: Duration,
    stop: CancellationToken,
) {
    let mut changes = control.subscribe_state();
    let check = (every / 12).clamp(Duration::from_secs(1), Duration::from_secs(300));
    let mut next_check = tokio::time::Instant::now();
    let mut served = None;
    loop {
        if tokio::time::Instant::now() >= next_check {
            match control.rotate_cookie_secret_if_due(every).await {
                Ok(true) => info!("rotated the DNS cookie secret"),
                Ok(false) => {}
                Err(e) => warn!("cannot rotate the DNS cookie secret now: {e}"),
            }
            next_check = tokio::time::Instant::now() + check;
        }
        let secrets = control.cookie_secrets();
        if secrets.is_some() && secrets != served {
            if let Some(s) = secrets {
                shield.set_cookie_secrets(s);
            }
            if served.is_none() {
                // Until now, the node's own random secret: cookies it gave before are
                // replaced by fresh ones at the client's next query (RFC 7873 §5.2.3).
                info!("server cookies use the DNS cookie secret every node shares");
            }
            served = secrets;
        }
        tokio::select! {
            () = stop.cancelled() => return,
            changed = changes.changed() => if changed.is_err() { return },
            () = tokio::time::sleep_until(next_check) => {}
        }
    }
}
