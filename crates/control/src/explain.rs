//! `explain`: the answer a client gets now, and why, with the observations of every health
//! check the decision read.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use turnout_dns::{Context, Explanation};
use turnout_health::engine::Observation;
use turnout_model::{Name, RType};

use crate::node::Control;
use crate::{ControlError, invalid};

/// An explanation with the checks behind it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Explained {
    /// The answer and the decisions.
    #[serde(flatten)]
    pub explanation: Explanation,
    /// Every health check a decision read, by name.
    pub checks: BTreeMap<String, CheckView>,
}

/// What the engine knows of one check, in short.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckView {
    /// The status answers use.
    pub status: String,
    /// The status the probes established (before disabled and inverted).
    pub observed: String,
    /// The newest result.
    pub last_result: Option<Observation>,
    /// The newest failure.
    pub last_failure: Option<Observation>,
    /// The check is `observe_only`: answers took it as healthy whatever its status.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub observe_only: bool,
    /// How long a failure of its target takes at worst to turn it unhealthy (endpoint checks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detection: Option<turnout_model::health::Detection>,
}

impl Control {
    /// Answers `name`/`rtype` as the DNS server does now for `client` (none: a client whose
    /// location is unknown), and says why.
    pub fn explain(
        &self,
        name: &str,
        rtype: &str,
        client: Option<&str>,
    ) -> Result<Explained, ControlError> {
        let name =
            Name::parse_absolute(name).map_err(|e| invalid("name", format!("{name:?}: {e}")))?;
        let rtype = RType::from_mnemonic(rtype)
            .ok_or_else(|| invalid("type", format!("{rtype:?} is not a record type")))?;
        let client = client
            .map(|c| {
                c.parse::<IpAddr>()
                    .map_err(|_| invalid("client", format!("{c:?} is not an IP address")))
            })
            .transpose()?;
        let snapshots = self.snapshots().ok_or(ControlError::NotReady)?;
        let snap = snapshots.load();
        let explanation =
            turnout_dns::explain(&snap, &name, rtype, &mut Context::new(client, fastrand::u64(..)));
        let mut checks = BTreeMap::new();
        for c in explanation.decisions.iter().flat_map(|d| &d.candidates) {
            let Some(check) = &c.health_check else { continue };
            if checks.contains_key(check) {
                continue;
            }
            let (observe_only, detection) = self
                .read()
                .checks
                .get(check)
                .map_or((false, None), |(_, c)| (c.observe_only, c.worst_detection()));
            let view = match self.health().state(check) {
                Some(s) => CheckView {
                    status: s.status,
                    observed: s.observed,
                    last_result: s.results.into_iter().next(),
                    last_failure: s.last_failure,
                    observe_only,
                    detection,
                },
                None => CheckView {
                    status: "healthy".to_owned(),
                    observed: "unknown: the check is not running".to_owned(),
                    last_result: None,
                    last_failure: None,
                    observe_only,
                    detection,
                },
            };
            checks.insert(check.clone(), view);
        }
        Ok(Explained { explanation, checks })
    }
}
