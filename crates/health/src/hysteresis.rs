//! The per-checker status of one check, from its probe results: a pure state machine, with no
//! clock of its own (the caller passes the time of each result) and no I/O.
//!
//! ```text
//!             failure_threshold consecutive failures
//!   Healthy ─────────────────────────────────────────▶ Unhealthy
//!      ▲                                                   │ recovery_threshold consecutive
//!      │ hold_down elapsed since recovering,               │ successes
//!      │ every result a success                            ▼
//!      └──────────────────────────────────────────── Recovering (still unhealthy)
//!                                    any failure: back to Unhealthy, counts reset
//! ```
//! It starts Healthy (as in Route 53, a new check is healthy until there is enough data).
//! `inverted` and `disabled` are applied after it (see [`final_status`]), never inside: manual
//! overrides do not touch observed health.

use std::time::Duration;

use tokio::time::Instant;
use turnout_model::health::{HealthCheck, Status};

/// The state machine.
#[derive(Debug, Clone)]
pub struct Hysteresis {
    failure_threshold: u8,
    recovery_threshold: u8,
    hold_down: Duration,
    status: Status,
    /// Consecutive results against the current status.
    against: u8,
    /// While unhealthy: when the recovery threshold was reached (hold-down running).
    recovering_since: Option<Instant>,
}

impl Hysteresis {
    /// A machine for `check`, healthy.
    pub fn new(check: &HealthCheck) -> Self {
        Hysteresis {
            failure_threshold: check.failure_threshold.max(1),
            recovery_threshold: check.recovery_threshold.max(1),
            hold_down: check.hold_down,
            status: Status::Healthy,
            against: 0,
            recovering_since: None,
        }
    }

    /// Starts from a known status (a persisted one, after a restart).
    pub fn with_status(mut self, status: Status) -> Self {
        self.status = status;
        self
    }

    /// The observed status (before inversion and disabling).
    pub fn status(&self) -> Status {
        self.status
    }

    /// Feeds one probe result; returns the new status when it changed.
    pub fn observe(&mut self, success: bool, now: Instant) -> Option<Status> {
        match (self.status, success) {
            (Status::Healthy, true) => {
                self.against = 0;
                None
            }
            (Status::Healthy, false) => {
                self.against = self.against.saturating_add(1);
                if self.against >= self.failure_threshold {
                    self.against = 0;
                    self.status = Status::Unhealthy;
                    return Some(Status::Unhealthy);
                }
                None
            }
            (Status::Unhealthy, false) => {
                self.against = 0;
                self.recovering_since = None;
                None
            }
            (Status::Unhealthy, true) => {
                self.against = self.against.saturating_add(1);
                if self.against < self.recovery_threshold {
                    return None;
                }
                let since = *self.recovering_since.get_or_insert(now);
                if now.duration_since(since) >= self.hold_down {
                    self.against = 0;
                    self.recovering_since = None;
                    self.status = Status::Healthy;
                    return Some(Status::Healthy);
                }
                None
            }
        }
    }
}

/// What the query path sees (docs/health-checks.md): a disabled check is healthy; then inversion.
pub fn final_status(observed: Status, check: &HealthCheck) -> Status {
    let raw = if check.disabled { Status::Healthy } else { observed };
    match (check.inverted, raw) {
        (false, s) => s,
        (true, Status::Healthy) => Status::Unhealthy,
        (true, Status::Unhealthy) => Status::Healthy,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use turnout_model::health::HealthCheckSpec;

    fn check(extra: &str) -> HealthCheck {
        let json = format!(r#"{{"name":"c","type":"tcp","ip":"127.0.0.1"{extra}}}"#);
        serde_json::from_str::<HealthCheckSpec>(&json).unwrap().validate().unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn failure_threshold_needs_consecutive_failures() {
        let mut h = Hysteresis::new(&check(r#","failure_threshold":3"#));
        let t = Instant::now();
        assert_eq!(h.observe(false, t), None);
        assert_eq!(h.observe(false, t), None);
        assert_eq!(h.observe(true, t), None, "a success resets the count");
        assert_eq!(h.observe(false, t), None);
        assert_eq!(h.observe(false, t), None);
        assert_eq!(h.observe(false, t), Some(Status::Unhealthy));
        assert_eq!(h.observe(false, t), None, "no repeated transition");
    }

    #[tokio::test(start_paused = true)]
    async fn recovery_threshold_is_separate() {
        let mut h = Hysteresis::new(&check(r#","failure_threshold":1,"recovery_threshold":2"#));
        let t = Instant::now();
        assert_eq!(h.observe(false, t), Some(Status::Unhealthy), "threshold 1: at once");
        assert_eq!(h.observe(true, t), None);
        assert_eq!(h.observe(false, t), None, "a failure resets the recovery");
        assert_eq!(h.observe(true, t), None);
        assert_eq!(h.observe(true, t), Some(Status::Healthy));
    }

    #[tokio::test(start_paused = true)]
    async fn hold_down_delays_the_return() {
        let mut h = Hysteresis::new(&check(
            r#","failure_threshold":1,"recovery_threshold":1,"hold_down":"30s""#,
        ));
        let start = Instant::now();
        assert_eq!(h.observe(false, start), Some(Status::Unhealthy));
        assert_eq!(h.observe(true, start), None, "hold-down starts");
        tokio::time::advance(Duration::from_secs(29)).await;
        assert_eq!(h.observe(true, Instant::now()), None);
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(h.observe(true, Instant::now()), Some(Status::Healthy));
        // A failure during the hold-down restarts it.
        assert_eq!(h.observe(false, Instant::now()), Some(Status::Unhealthy));
        assert_eq!(h.observe(true, Instant::now()), None);
        tokio::time::advance(Duration::from_secs(20)).await;
        assert_eq!(h.observe(false, Instant::now()), None);
        assert_eq!(h.observe(true, Instant::now()), None);
        tokio::time::advance(Duration::from_secs(20)).await;
        assert_eq!(h.observe(true, Instant::now()), None, "only 20 s since it restarted");
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(h.observe(true, Instant::now()), Some(Status::Healthy));
    }

    #[test]
    fn disabled_and_inverted() {
        use Status::*;
        assert_eq!(final_status(Unhealthy, &check("")), Unhealthy);
        assert_eq!(final_status(Unhealthy, &check(r#","disabled":true"#)), Healthy);
        assert_eq!(final_status(Healthy, &check(r#","inverted":true"#)), Unhealthy);
        assert_eq!(final_status(Unhealthy, &check(r#","inverted":true"#)), Healthy);
        assert_eq!(final_status(Healthy, &check(r#","disabled":true,"inverted":true"#)), Unhealthy);
        assert_eq!(check(r#","inverted":true"#).initial_status(), Unhealthy);
    }
}
