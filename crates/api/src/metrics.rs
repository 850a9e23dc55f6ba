//! Prometheus metrics of the control plane, in the OpenMetrics text format at `/metrics`.

use axum::http::{Method, StatusCode};
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use turnout_control::Control;
use turnout_health::engine::CheckState;

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
    store_reachable: Gauge,
    cluster_nodes: Gauge,
    cluster_isolated: Gauge,
    insync_revision: Gauge,
}

/// Per-check series, read from the health engine at each scrape.
#[derive(Debug)]
struct HealthCollector(Arc<Control>);

impl Collector for HealthCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let health = self.0.health();
        let states: Vec<(String, CheckState)> = self
            .0
            .checks()
            .into_iter()
            .filter_map(|c| health.state(&c.name).map(|s| (c.name, s)))
            .collect();
        let mut status = encoder.encode_descriptor(
            "health_check_status",
            "1 while the check is healthy (as answers see it), else 0",
            None,
            MetricType::Gauge,
        )?;
        for (name, s) in &states {
            let v = i64::from(s.status == "healthy");
            ConstGauge::new(v).encode(status.encode_family(&[("check", name.as_str())])?)?;
        }
        let mut pct = encoder.encode_descriptor(
            "health_check_percentage_healthy",
            "Counted checkers observing the check healthy, in percent (this node alone: 100 or 0)",
            None,
            MetricType::Gauge,
        )?;
        for (name, s) in &states {
            let counted: Vec<_> = s.checkers.iter().filter(|c| c.counted).collect();
            let v = if counted.is_empty() {
                if s.observed == "healthy" { 100.0 } else { 0.0 }
            } else {
                let healthy = counted.iter().filter(|c| c.observed == "healthy").count();
                100.0 * healthy as f64 / counted.len() as f64
            };
            ConstGauge::new(v).encode(pct.encode_family(&[("check", name.as_str())])?)?;
        }
        let mut probes = encoder.encode_descriptor(
            "health_check_probes",
            "Probes by result: success or the failure class",
            None,
            MetricType::Counter,
        )?;
        for (name, s) in &states {
            for (result, n) in &s.probes {
                let labels = [("check", name.as_str()), ("result", result.as_str())];
                ConstCounter::new(*n).encode(probes.encode_family(&labels)?)?;
            }
        }
        for (metric, help, pick) in [
            ("health_check_connect_seconds", "Connect time of the last probe", 0),
            ("health_check_tls_seconds", "TLS handshake time of the last probe", 1),
            ("health_check_first_byte_seconds", "Time to the first byte of the last probe", 2),
        ] {
            let mut family = encoder.encode_descriptor(metric, help, None, MetricType::Gauge)?;
            for (name, s) in &states {
                let Some(last) = s.results.first() else { continue };
                let d = match pick {
                    0 => last.result.connect,
                    1 => last.result.tls,
                    _ => last.result.first_byte,
                };
                if let Some(d) = d {
                    ConstGauge::new(d.as_secs_f64())
                        .encode(family.encode_family(&[("check", name.as_str())])?)?;
                }
            }
        }
        Ok(())
    }
}

impl Metrics {
    /// Registers every series.
    pub fn new(control: Arc<Control>) -> Self {
        let mut registry = Registry::with_prefix("turnout");
        registry.register_collector(Box::new(HealthCollector(control)));
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
        let store_reachable = Gauge::default();
        registry.register(
            "store_reachable",
            "1 while the sync task reaches the store, else 0 (DNS answers either way)",
            store_reachable.clone(),
        );
        let cluster_nodes = Gauge::default();
        registry.register(
            "cluster_nodes",
            "Nodes registered in the store, this one included once registered",
            cluster_nodes.clone(),
        );
        let cluster_isolated = Gauge::default();
        registry.register(
            "cluster_isolated",
            "1 while this node cannot renew its registration (it counts only its own health observations)",
            cluster_isolated.clone(),
        );
        let insync_revision = Gauge::default();
        registry.register(
            "insync_revision",
            "The lowest store revision every registered node serves (-1 before this node serves)",
            insync_revision.clone(),
        );
        Metrics {
            registry,
            requests,
            batches,
            state_revision,
            served_revision,
            zones,
            record_sets,
            store_reachable,
            cluster_nodes,
            cluster_isolated,
            insync_revision,
        }
    }

    /// Counts one request.
    pub fn request(&self, method: &Method, status: StatusCode) {
        // A label never takes an unbounded value from a client: a made-up method is `other`.
        let method = match *method {
            Method::GET => "GET",
            Method::HEAD => "HEAD",
            Method::POST => "POST",
            Method::PUT => "PUT",
            Method::DELETE => "DELETE",
            Method::PATCH => "PATCH",
            Method::OPTIONS => "OPTIONS",
            _ => "other",
        };
        self.requests
            .get_or_create(&RequestLabels { method: method.to_owned(), status: status.as_u16() })
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
            self.cluster_nodes.set(i64::try_from(st.nodes.len()).unwrap_or(i64::MAX));
        }
        self.served_revision.set(control.served_revision().unwrap_or(-1));
        self.store_reachable.set(i64::from(control.store_reachable()));
        self.cluster_isolated.set(i64::from(control.isolated()));
        self.insync_revision.set(control.insync_revision().unwrap_or(-1));
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}
