//! Health checks: listing, creating or replacing and deleting them (a check that records
//! use cannot be deleted; the write compares what it scanned).

use std::collections::BTreeSet;

use turnout_model::health::{CheckKind, HealthCheckSpec};
use turnout_model::{ErrorCode, FieldError};
use turnout_store::Op;

use crate::node::Control;
use crate::write::{Lane, Plan};
use crate::{ControlError, keys};

impl Control {
    /// Every health check, in name order, as written.
    pub fn checks(&self) -> Vec<HealthCheckSpec> {
        self.read().checks.values().map(|(spec, _)| spec.clone()).collect()
    }

    /// One health check, as written.
    pub fn check(&self, name: &str) -> Result<HealthCheckSpec, ControlError> {
        self.read()
            .checks
            .get(name)
            .map(|(spec, _)| spec.clone())
            .ok_or_else(|| ControlError::NoSuchCheck(name.to_owned()))
    }

    /// Every health check as written with its version (see [`Control::check_versioned`]), in
    /// name order.
    pub fn checks_versioned(&self) -> Vec<(HealthCheckSpec, i64)> {
        let st = self.read();
        st.checks
            .values()
            .map(|(spec, _)| (spec.clone(), st.version(&keys::check(&spec.name))))
            .collect()
    }

    /// A health check as written, with its version (1 when created, one more at each write:
    /// Route 53's `HealthCheckVersion`).
    pub fn check_versioned(&self, name: &str) -> Result<(HealthCheckSpec, i64), ControlError> {
        let st = self.read();
        let (spec, _) =
            st.checks.get(name).ok_or_else(|| ControlError::NoSuchCheck(name.to_owned()))?;
        Ok((spec.clone(), st.version(&keys::check(name))))
    }

    /// Creates or replaces a health check; returns whether it was created. A calculated
    /// check's children must exist. The stored form is the one given (defaults stay implicit).
    pub async fn put_check(&self, spec: &HealthCheckSpec) -> Result<bool, ControlError> {
        self.put_check_at(spec, None).await
    }

    /// [`Control::put_check`], applied only while the stored check is at `version` (`Some(0)`:
    /// only if there is none); else [`ControlError::VersionMismatch`] and nothing changes.
    pub async fn put_check_at(
        &self,
        spec: &HealthCheckSpec,
        version: Option<i64>,
    ) -> Result<bool, ControlError> {
        let check = spec.validate().map_err(ControlError::InvalidCheck)?;
        if let Some((ip, port)) = check.target.as_ref().and_then(|t| Some((t.ip?, t.port)))
            && let Err(why) =
                self.options().target_policy.permits_endpoint(std::net::SocketAddr::new(ip, port))
        {
            let field =
                if matches!(check.kind, CheckKind::Metric(_)) { "prometheus" } else { "ip" };
            return Err(ControlError::InvalidCheck(vec![FieldError::new(
                field,
                ErrorCode::NotAllowed,
                format!("{why} (health.allowed_networks, denied_networks, allow_own_listeners)"),
            )]));
        }
        let value = serde_json::to_vec(spec)
            .map_err(|e| turnout_store::StoreError::Corrupt(e.to_string()))?;
        let written = self
            .write(Lane::Config, |st, reads| {
                reads.object(keys::check(&check.name));
                st.expect_version(&keys::check(&check.name), version, "health check", &check.name)?;
                if let CheckKind::Control { panel, control } = &check.kind {
                    reads.object(keys::panel(panel));
                    if !st.panels.get(panel).is_some_and(|(_, p)| p.controls.contains(control)) {
                        return Err(ControlError::InvalidCheck(vec![FieldError::new(
                            "control",
                            ErrorCode::NotFound,
                            format!("no routing control {panel}/{control}; create its panel first"),
                        )]));
                    }
                }
                if let CheckKind::Calculated { children, .. } = &check.kind {
                    // As in Route 53, a calculated check monitors endpoint checks only: no
                    // nesting, so no cycle can make statuses chase each other.
                    let mut errors = Vec::new();
                    for (i, child) in children.iter().enumerate() {
                        reads.object(keys::check(child));
                        match st.checks.get(child) {
                            None => errors.push(FieldError::new(
                                format!("children[{i}]"),
                                ErrorCode::NoSuchHealthCheck,
                                format!("no health check {child:?}"),
                            )),
                            Some((_, c)) if matches!(c.kind, CheckKind::Calculated { .. }) => {
                                errors.push(FieldError::new(
                                    format!("children[{i}]"),
                                    ErrorCode::NotAllowed,
                                    format!("{child:?} is a calculated check; a calculated check monitors endpoint checks only"),
                                ))
                            }
                            Some(_) => {}
                        }
                    }
                    reads.prefix(keys::checks());
                    let parent = st.checks.values().find(|(_, c)| {
                        matches!(&c.kind, CheckKind::Calculated { children, .. } if children.contains(&check.name))
                    });
                    if let Some((_, p)) = parent {
                        errors.push(FieldError::new(
                            "type",
                            ErrorCode::NotAllowed,
                            format!("{:?} is a child of the calculated check {:?} and cannot be calculated itself", check.name, p.name),
                        ));
                    }
                    if !errors.is_empty() {
                        return Err(ControlError::InvalidCheck(errors));
                    }
                }
                let ops = vec![Op::put(keys::check(&check.name), value.clone())];
                Ok(Plan::Write { ops, value: !st.checks.contains_key(&check.name) })
            })
            .await?;
        Ok(written.value)
    }

    /// Deletes a health check that no record and no calculated check names.
    pub async fn delete_check(&self, name: &str) -> Result<(), ControlError> {
        self.write(Lane::Config, |st, reads| {
            reads.object(keys::check(name));
            if !st.checks.contains_key(name) {
                return Err(ControlError::NoSuchCheck(name.to_owned()));
            }
            reads.prefix(keys::all_rrsets());
            let by_record = st
                .records
                .values()
                .flat_map(|z| z.sets.not_plain())
                .find(|s| s.health_check.as_deref() == Some(name));
            if let Some(set) = by_record {
                return Err(ControlError::CheckInUse {
                    name: name.to_owned(),
                    user: format!("record set {}", set.key()),
                });
            }
            reads.prefix(keys::checks());
            let by_check = st.checks.values().find(|(_, c)| {
                matches!(&c.kind, CheckKind::Calculated { children, .. } if children.iter().any(|x| x == name))
            });
            if let Some((_, c)) = by_check {
                return Err(ControlError::CheckInUse {
                    name: name.to_owned(),
                    user: format!("calculated check {:?}", c.name),
                });
            }
            reads.prefix(keys::drills());
            if let Some(drill) = st.drill_naming_check(name) {
                return Err(ControlError::CheckInUse {
                    name: name.to_owned(),
                    user: format!("drill {drill:?}"),
                });
            }
            // Every checker's persisted status of it goes too: this node's, and every known
            // node's.
            let mut checkers: BTreeSet<String> = st.nodes.keys().cloned().collect();
            checkers.extend([keys::LOCAL_CHECKER.to_owned(), self.checker().to_owned()]);
            let mut ops = vec![Op::delete(keys::check(name))];
            ops.extend(checkers.iter().map(|c| Op::delete(keys::health_status(c, name))));
            if st.tags.contains_key(&("healthcheck".to_owned(), name.to_owned())) {
                ops.push(Op::delete(keys::tags_of("healthcheck", name)));
            }
            Ok(Plan::Write { ops, value: () })
        })
        .await?;
        Ok(())
    }
}
