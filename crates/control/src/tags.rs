//! Tags of hosted zones and health checks, as the Route 53 API keeps them
//! (docs/route53-api.md): a map of keys to values per resource, with Route 53's limits. They
//! change nothing Turnout does.

use std::collections::BTreeMap;

use turnout_store::Op;

use crate::node::Control;
use crate::write::{Lane, Plan};
use crate::{ControlError, invalid, keys, to_json};

/// The most tags one resource has (Route 53's limit).
pub const MAX_TAGS: usize = 50;

/// The resource kinds that take tags.
pub const KINDS: [&str; 2] = ["hostedzone", "healthcheck"];

impl Control {
    /// Whether the resource exists (a hosted zone by its id, a health check by its name).
    fn tagged_resource_exists(&self, kind: &str, id: &str) -> Result<(), ControlError> {
        match kind {
            "hostedzone" => self
                .zone_by_id(id)
                .map(|_| ())
                .ok_or_else(|| invalid("resource_id", format!("no hosted zone has the id {id}"))),
            "healthcheck" => self.check(id).map(|_| ()),
            other => Err(invalid(
                "resource_type",
                format!("{other:?} is neither hostedzone nor healthcheck"),
            )),
        }
    }

    /// A resource's tags.
    pub fn tags(&self, kind: &str, id: &str) -> Result<BTreeMap<String, String>, ControlError> {
        self.tagged_resource_exists(kind, id)?;
        Ok(self.read().tags.get(&(kind.to_owned(), id.to_owned())).cloned().unwrap_or_default())
    }

    /// Adds (or replaces) `add` and removes `remove` from a resource's tags, in one write.
    pub async fn change_tags(
        &self,
        kind: &str,
        id: &str,
        add: &[(String, String)],
        remove: &[String],
    ) -> Result<(), ControlError> {
        self.tagged_resource_exists(kind, id)?;
        for (i, (k, v)) in add.iter().enumerate() {
            if k.is_empty() || k.chars().count() > 128 {
                return Err(invalid(&format!("add_tags[{i}].key"), "a key has 1-128 characters"));
            }
            if v.chars().count() > 256 {
                return Err(invalid(
                    &format!("add_tags[{i}].value"),
                    "a value has at most 256 characters",
                ));
            }
        }
        let key = keys::tags_of(kind, id);
        self.write(Lane::Config, |st, reads| {
            reads.object(key.clone());
            let mut tags =
                st.tags.get(&(kind.to_owned(), id.to_owned())).cloned().unwrap_or_default();
            let before = tags.clone();
            for k in remove {
                tags.remove(k);
            }
            for (k, v) in add {
                tags.insert(k.clone(), v.clone());
            }
            if tags.len() > MAX_TAGS {
                return Err(invalid(
                    "add_tags",
                    format!("{} tags; at most {MAX_TAGS}", tags.len()),
                ));
            }
            if tags == before {
                return Ok(Plan::Nothing(()));
            }
            let op = if tags.is_empty() {
                Op::delete(key.clone())
            } else {
                Op::put(key.clone(), to_json(&tags))
            };
            Ok(Plan::Write { ops: vec![op], value: () })
        })
        .await
        .map(|_| ())
    }
}
