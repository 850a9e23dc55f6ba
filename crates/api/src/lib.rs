//! Turnout's HTTP API: the axum server in front of the control service, the JSON error format,
//! the metrics, and the typed client the CLI uses.
//!
//! Routes (all JSON; `/v1/openapi.json` describes them):
//!
//! | method and path | what |
//! |---|---|
//! | `GET /healthz`, `GET /readyz`, `GET /metrics` | liveness, readiness (the store's configuration is served), Prometheus |
//! | `GET/POST /v1/zones`, `GET/DELETE /v1/zones/{zone}` | zones |
//! | `GET /v1/zones/{zone}/rrsets` | record sets, paginated |
//! | `POST /v1/zones/{zone}/changes`, `POST /v1/changes` | change batches (`?dry_run=true`, `?wait=true`) |
//! | `GET /v1/changes/{id}` | a change's status (`?wait=true` waits for INSYNC) |
//! | `GET /v1/checks`, `GET/PUT/DELETE /v1/checks/{name}` | health checks |
//! | `GET /v1/checks/{name}/status` | a check's status, last results, last failure, transitions |
//! | `GET /v1/collections`, `GET/PUT/DELETE /v1/collections/{name}` | CIDR collections |
//! | `GET /v1/panels`, `GET/PUT/DELETE /v1/panels/{name}` | control panels and safety rules |
//! | `GET/POST /v1/tokens`, `DELETE /v1/tokens/{name}`, `POST /v1/tokens/{name}/rotate` | API tokens (admin scope) |
//! | `GET /v1/explain` | the answer a query gets now, and why |
//! | `GET /v1/cluster` | the nodes sharing the store |
//! | `GET /v1/audit` | the audit trail of every configuration write |
//!
//! The routing-control API (`/v1/controls...`) has its own listener and router.
//!
//! Requests under `/v1/` need `Authorization: Bearer <token>` (reads too, unless
//! [`Access::anonymous_reads`]); either listener may serve HTTPS ([`tls`]). This crate maps
//! [`turnout_control::ControlError`] to HTTP once, in [`error`]; it owns no state of its own.

pub mod client;
pub mod error;
pub mod metrics;
pub mod route53;
mod server;
pub mod tls;

pub use error::{ApiError, ErrorBody};

/// Response types of the health-check endpoints, shared with the CLI.
pub mod server_types {
    pub use crate::server::checks::{CheckList, CheckStatus};
    pub use crate::server::controls::{ControlList, History, SetControl};
    pub use crate::server::panels::PanelList;
    pub use crate::server::tokens::{CreateToken, TokenList};
}
pub use server::{Access, ApiServer, ApiServerError, MAX_BODY, controls_router, router};
