//! Prometheus metrics of the control plane, in the OpenMetrics text format at `/metrics`.

use axum::http::{Method, StatusCode};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use turnout_control::Control;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BatchLabels {
    result: &'static str,
}

/// The API's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    batches: Family<BatchLabels, Counter>,
    state_revision: Gauge,
    served_revision: Gauge,
    zones: Gauge,
    record_sets: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every series.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("turnout");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register("api_requests", "API requests by method and status", requests.clone());
        let batches = Family::<BatchLabels, Counter>::default();
        registry.register("change_batches", "Change batches by result", batches.clone());
        let state_revision = Gauge::default();
        registry.register(
            "store_revision",
            "Store revision of the configuration held in memory",
            state_revision.clone(),
        );
        let served_revision = Gauge::default();
        registry.register(
            "served_revision",
            "Store revision served by the DNS data plane (-1 before the first)",
            served_revision.clone(),
        );
        let zones = Gauge::default();
        registry.register("zones", "Zones in the store", zones.clone());
        let record_sets = Gauge::default();
        registry.register("record_sets", "Record sets in the store", record_sets.clone());
        Metrics { registry, requests, batches, state_revision, served_revision, zones, record_sets }
    }

    /// Counts one request.
    pub fn request(&self, method: &Method, status: StatusCode) {
        self.requests
            .get_or_create(&RequestLabels { method: method.to_string(), status: status.as_u16() })
            .inc();
    }

    /// Counts one change batch.
    pub fn batch(&self, accepted: bool) {
        let result = if accepted { "accepted" } else { "rejected" };
        self.batches.get_or_create(&BatchLabels { result }).inc();
    }

    /// The current values, as OpenMetrics text.
    pub fn encode(&self, control: &Control) -> Result<String, std::fmt::Error> {
        {
            let st = control.read();
            self.state_revision.set(st.revision);
            self.zones.set(i64::try_from(st.zones.len()).unwrap_or(i64::MAX));
            let sets: usize = st.records.values().map(|z| z.sets.len()).sum();
            self.record_sets.set(i64::try_from(sets).unwrap_or(i64::MAX));
        }
        self.served_revision.set(control.served_revision().unwrap_or(-1));
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}
