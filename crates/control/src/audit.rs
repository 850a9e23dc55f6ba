//! The audit trail of every configuration write (docs/observability.md#the-audit-trail).
//!
//! `Control::write` (`write.rs`) records, in the same transaction as the write itself, who
//! wrote (the API token's name, the client's address, the request), when, and what changed:
//! each object written or deleted, with its stored value before and after. A write that does
//! not commit leaves no record; a record never describes a write that did not happen.
//!
//! Who is acting is the task-local [`Actor`] the API sets around a request
//! ([`acting_as`]); writes the node makes on its own (timed routing-control reverts, the DNS
//! cookie secret's rotation) are recorded as the token `turnout`.

use std::future::Future;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use turnout_store::Op;

use crate::keys;
use crate::state::{State, parse_rrset_key, unescape};

/// Who makes a write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The API token's name (`turnout`: the node itself).
    pub token: String,
    /// The client's address, when the write came over the network.
    pub source: Option<String>,
    /// The request, like `POST /v1/zones/example.com/changes`.
    pub request: String,
}

impl Actor {
    /// The node itself.
    fn node() -> Actor {
        Actor { token: "turnout".to_owned(), source: None, request: "internal".to_owned() }
    }
}

tokio::task_local! {
    static ACTOR: Actor;
}

/// Runs `f` with every write it makes recorded as made by `actor`.
pub async fn acting_as<F: Future>(actor: Actor, f: F) -> F::Output {
    ACTOR.scope(actor, f).await
}

fn current() -> Actor {
    ACTOR.try_with(Clone::clone).unwrap_or_else(|_| Actor::node())
}

/// One configuration write, as the audit trail keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WriteRecord {
    /// Its id.
    pub id: String,
    /// RFC 3339, milliseconds.
    pub at: String,
    /// The store revision the write committed at (filled in when read).
    #[serde(default)]
    pub revision: i64,
    /// The token's name (`turnout`: the node itself).
    pub token: String,
    /// The client's address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The request that made it.
    pub request: String,
    /// Every object written or deleted.
    pub changes: Vec<ObjectChange>,
    /// The values were left out (the record would have been larger than
    /// [`MAX_RECORD_BYTES`]); `changes` still names every object.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub values_left_out: bool,
}

/// One object a write changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectChange {
    /// `zone`, `record_set`, `change`, `caller_reference`, `check`, `collection`, `panel`,
    /// `routing_control`, `token`, `secret`, `drill` or `drill_run`.
    pub kind: String,
    /// The object's name (a record set: `apex name TYPE set-id`; a routing control:
    /// `panel/control`).
    pub name: String,
    /// `create`, `update` or `delete`.
    pub action: String,
    /// The stored value before (none: it did not exist). Token digests and secrets are
    /// replaced by `"(redacted)"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Value>,
    /// The stored value after (none: deleted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Value>,
}

/// The largest record kept with its values.
pub const MAX_RECORD_BYTES: usize = 256 * 1024;

/// The audit record of `ops` planned on `st` (none when nothing in them is configuration),
/// as the put that stores it.
pub(crate) fn record(
    st: &State,
    ops: &[Op],
    at_ms: u64,
) -> Result<Option<Op>, crate::ControlError> {
    let changes: Vec<ObjectChange> = ops.iter().filter_map(|op| change(st, op)).collect();
    if changes.is_empty() {
        return Ok(None);
    }
    let actor = current();
    let mut record = WriteRecord {
        id: crate::random_base32(10)?,
        at: humantime::format_rfc3339_millis(
            std::time::UNIX_EPOCH + std::time::Duration::from_millis(at_ms),
        )
        .to_string(),
        revision: 0,
        token: actor.token,
        source: actor.source,
        request: actor.request,
        changes,
        values_left_out: false,
    };
    let encode = |r: &WriteRecord| {
        serde_json::to_vec(r).map_err(|e| turnout_store::StoreError::Corrupt(e.to_string()))
    };
    let mut value = encode(&record)?;
    if value.len() > MAX_RECORD_BYTES {
        for c in &mut record.changes {
            (c.before, c.after) = (None, None);
        }
        record.values_left_out = true;
        value = encode(&record)?;
    }
    Ok(Some(Op::put(keys::write_record(at_ms, &record.id), value)))
}

/// What `op` does to a configuration object (none for what is not configuration: the
/// routing-control audit trail, node records, health observations).
fn change(st: &State, op: &Op) -> Option<ObjectChange> {
    let (key, after) = match op {
        Op::Put { key, value } | Op::PutLeased { key, value, .. } => {
            (key, Some(serde_json::from_slice(value).unwrap_or(Value::Null)))
        }
        Op::Delete { key } => (key, None),
        Op::DeletePrefix { prefix } => {
            let (kind, name) = describe(prefix)?;
            return Some(ObjectChange {
                kind: format!("{kind}s"),
                name: format!("{} (all)", name.trim_end()),
                action: "delete".to_owned(),
                before: None,
                after: None,
            });
        }
    };
    let (kind, name) = describe(key)?;
    let before = before(st, kind, key);
    let action = match (&before, &after) {
        (None, Some(_)) => "create",
        (Some(_), None) | (None, None) => "delete",
        (Some(_), Some(_)) => "update",
    };
    let redact = |v: Option<Value>| v.map(|v| redacted(kind, v));
    Some(ObjectChange {
        kind: kind.to_owned(),
        name,
        action: action.to_owned(),
        before: redact(before),
        after: redact(after),
    })
}

/// The kind and name of the object at `key`.
fn describe(key: &str) -> Option<(&'static str, String)> {
    let rest = key.strip_prefix(keys::ROOT)?;
    let (dir, name) = rest.split_once('/')?;
    let kind = match dir {
        "zones" => "zone",
        "rrsets" => "record_set",
        "changes" => "change",
        "callerrefs" => "caller_reference",
        "checks" => "check",
        "collections" => "collection",
        "panels" => "panel",
        "controls" => "routing_control",
        "tokens" => "token",
        "secrets" => "secret",
        "tsig" => "tsig_key",
        "dnssec" => "dnssec_keys",
        "views" => "zone_view",
        "tags" => "tags",
        "drills" => "drill",
        "drill-active" | "drill-runs" => "drill_run",
        _ => return None,
    };
    let name = match kind {
        "record_set" => {
            name.split('/').filter(|p| !p.is_empty()).map(unescape).collect::<Vec<_>>().join(" ")
        }
        "routing_control" => name.split('/').map(unescape).collect::<Vec<_>>().join("/"),
        "drill_run" => name.split('/').map(unescape).collect::<Vec<_>>().join(" "),
        _ => unescape(name),
    };
    Some((kind, name))
}

/// The value stored at `key` as `st` holds it.
fn before(st: &State, kind: &str, key: &str) -> Option<Value> {
    let rest = key.strip_prefix(keys::ROOT)?.split_once('/')?.1;
    let name = unescape(rest);
    let json = |v: Result<Value, serde_json::Error>| v.ok();
    match kind {
        "zone" => st
            .zones
            .iter()
            .find(|(apex, _)| keys::zone(apex) == key)
            .and_then(|(_, z)| json(serde_json::to_value(&z.meta))),
        "record_set" => {
            let (apex, rk) = parse_rrset_key(rest)?;
            let set = st.records.get(&apex)?.sets.get(&rk)?;
            json(serde_json::to_value(set.to_spec()))
        }
        "check" => json(serde_json::to_value(&st.checks.get(&name)?.0)),
        "collection" => json(serde_json::to_value(&st.collections.get(&name)?.0)),
        "panel" => json(serde_json::to_value(&st.panels.get(&name)?.0)),
        "drill" => json(serde_json::to_value(&st.drills.get(&name)?.0)),
        "drill_run" => json(serde_json::to_value(st.active_drills.get(&name)?)),
        "routing_control" => {
            let (panel, control) = rest.split_once('/')?;
            let at = (unescape(panel), unescape(control));
            json(serde_json::to_value(&st.control_states.get(&at)?.0))
        }
        "token" => json(serde_json::to_value(st.tokens.values().find(|t| t.name == name)?)),
        "secret" => st.cookie_secret.as_ref().map(|_| Value::from(REDACTED)),
        "tsig_key" => {
            let key = st.tsig_keys.get(&turnout_model::Name::parse_absolute(&name).ok()?)?;
            json(serde_json::to_value(key))
        }
        "dnssec_keys" => {
            let apex = turnout_model::Name::parse_absolute(&name).ok()?;
            json(serde_json::to_value(&**st.dnssec.get(&apex)?))
        }
        "caller_reference" => json(serde_json::to_value(st.caller_references.get(&name)?)),
        "tags" => {
            let (kind, id) = rest.split_once('/')?;
            json(serde_json::to_value(st.tags.get(&(kind.to_owned(), unescape(id)))?))
        }
        "zone_view" => {
            let apex = turnout_model::Name::parse_absolute(&name).ok()?;
            json(serde_json::to_value(st.views.get(&apex)?))
        }
        _ => None,
    }
}

/// What the audit trail shows of secrets.
const REDACTED: &str = "(redacted)";

/// `value` without what must not be kept in the trail: a token's digest, a secret.
fn redacted(kind: &str, mut value: Value) -> Value {
    match kind {
        "secret" => Value::from(REDACTED),
        "token" => {
            if let Some(digest) = value.get_mut("sha256") {
                *digest = Value::from(REDACTED);
            }
            if let Some(secret) = value.get_mut("access_key").and_then(|k| k.get_mut("secret")) {
                *secret = Value::from(REDACTED);
            }
            value
        }
        "tsig_key" => {
            if let Some(secret) = value.get_mut("secret") {
                *secret = Value::from(REDACTED);
            }
            value
        }
        "dnssec_keys" => {
            let keys = value.get_mut("keys").and_then(Value::as_array_mut);
            for key in keys.into_iter().flatten() {
                if let Some(private) = key.get_mut("private_key") {
                    *private = Value::from(REDACTED);
                }
            }
            value
        }
        _ => value,
    }
}

/// Which records [`crate::Control::write_history`] returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Only writes that changed an object of this kind.
    pub kind: Option<String>,
    /// Only writes that changed an object whose name contains this text.
    pub name: Option<String>,
    /// Only writes made with this token.
    pub token: Option<String>,
    /// Only writes made at or after this time (milliseconds since the epoch).
    pub since_ms: Option<u64>,
    /// At most this many, newest first.
    pub limit: usize,
}

impl Filter {
    fn keeps(&self, r: &WriteRecord) -> bool {
        self.token.as_ref().is_none_or(|t| *t == r.token)
            && r.changes.iter().any(|c| {
                self.kind.as_ref().is_none_or(|k| *k == c.kind)
                    && self.name.as_ref().is_none_or(|n| c.name.contains(n.as_str()))
            })
    }
}

impl crate::Control {
    /// The audit trail of configuration writes, newest first, as `filter` narrows it.
    pub async fn write_history(
        &self,
        filter: &Filter,
    ) -> Result<Vec<WriteRecord>, crate::ControlError> {
        let prefix = keys::writes();
        let range = self.store().range(&prefix).await?;
        let mut out = Vec::new();
        for kv in range.kvs.iter().rev() {
            if let Some(since) = filter.since_ms {
                let at = kv.key[prefix.len()..].split('-').next().and_then(|ms| ms.parse().ok());
                if at.is_some_and(|ms: u64| ms < since) {
                    break;
                }
            }
            let Ok(mut record) = serde_json::from_slice::<WriteRecord>(&kv.value) else {
                continue;
            };
            if !filter.keeps(&record) {
                continue;
            }
            record.revision = kv.mod_revision;
            out.push(record);
            if out.len() >= filter.limit {
                break;
            }
        }
        Ok(out)
    }
}
