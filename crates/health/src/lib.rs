//! Turnout's health checks: probes per kind ([`probe`](mod@probe)), the hysteresis state machine
//! ([`hysteresis`]), and the engine ([`engine`]) that schedules probes with jitter, feeds the
//! state machines and sets each check's [`HealthSlot`](turnout_model::health::HealthSlot), which
//! the DNS snapshots read on the query path.
//!
//! It also owns the process's TLS client side ([`tls`]: files, trust stores, verifying client
//! configurations), which webhooks, the CLI and the API listeners share.
//!
//! This crate knows nothing about zones, the store or HTTP APIs: the control plane hands it
//! validated checks and reads its observations.

pub mod engine;
pub mod hysteresis;
pub mod probe;
pub mod tls;
pub mod webhook;

pub use engine::{Change, HealthEngine, Observation, Transition};
pub use engine::{EngineError, panic_text};
pub use probe::{FailureClass, ProbeResult, probe};
pub use webhook::{Webhook, WebhookEvent, WebhookSender};
