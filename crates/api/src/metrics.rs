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
use turnout_dns::stats::DnsStats;
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

/// Per-check series, read from the health engine at each scrape, and per-drill series.
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
            "1 while the check is healthy, else 0 (an observe_only check's answers take it as healthy whatever this says)",
            None,
            MetricType::Gauge,
        )?;
        for (name, s) in &states {
            let v = i64::from(s.status == "healthy");
            ConstGauge::new(v).encode(status.encode_family(&[("check", name.as_str())])?)?;
        }
        {
            let st = self.0.read();
            let mut running = encoder.encode_descriptor(
                "drill_running",
                "1 while a run of the failover drill is under way (on any node), else 0",
                None,
                MetricType::Gauge,
            )?;
            for name in st.drills.keys() {
                let v = i64::from(st.active_drills.contains_key(name));
                ConstGauge::new(v).encode(running.encode_family(&[("drill", name.as_str())])?)?;
            }
            let mut last = encoder.encode_descriptor(
                "drill_last_run_passed",
                "1 if the drill's newest finished run passed, 0 if it was aborted, failed, refused or interrupted (docs/drills.md)",
                None,
                MetricType::Gauge,
            )?;
            for (name, outcome) in &st.drill_last_outcome {
                let v = i64::from(outcome == "passed");
                ConstGauge::new(v).encode(last.encode_family(&[("drill", name.as_str())])?)?;
            }
            let mut when = encoder.encode_descriptor(
                "drill_last_run_timestamp_seconds",
                "When the drill's newest finished run started (Unix time)",
                None,
                MetricType::Gauge,
            )?;
            for (name, ms) in &st.drill_last_start_ms {
                let v = *ms as f64 / 1000.0;
                ConstGauge::new(v).encode(when.encode_family(&[("drill", name.as_str())])?)?;
            }
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
        let mut silent = encoder.encode_descriptor(
            "health_checker_silent_seconds",
            "Seconds since a checker went silent (its registration expired), while its last report is remembered",
            None,
            MetricType::Gauge,
        )?;
        for (checker, ago) in health.silent_checkers() {
            let v = ago.as_secs_f64();
            ConstGauge::new(v).encode(silent.encode_family(&[("checker", checker.as_str())])?)?;
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
        let (counts, sum) = self.0.serve_latency();
        let (count, buckets) = cumulative(&turnout_control::SERVE_LATENCY_BUCKETS, &counts);
        encoder
            .encode_descriptor(
                "change_served_seconds",
                "Time from a store change reaching this node to the DNS server serving it",
                None,
                MetricType::Histogram,
            )?
            .encode_histogram::<[(&str, &str); 0]>(sum, count, &buckets, None)?;
        let mut flips = encoder.encode_descriptor(
            "health_check_transitions",
            "Status changes of the check since it started on this node (a flapping check changes often)",
            None,
            MetricType::Counter,
        )?;
        for (name, s) in &states {
            ConstCounter::new(s.transitions_total)
                .encode(flips.encode_family(&[("check", name.as_str())])?)?;
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

/// A histogram's buckets as Prometheus wants them, from per-bucket counts (`counts` has one
/// more than `bounds`: +Inf): the total count and each upper bound with the count at or below it.
fn cumulative(bounds: &[f64], counts: &[u64]) -> (u64, Vec<(f64, u64)>) {
    let mut total = 0;
    let mut buckets = Vec::with_capacity(counts.len());
    for (bound, n) in bounds.iter().copied().chain([f64::INFINITY]).zip(counts) {
        total += n;
        buckets.push((bound, total));
    }
    (total, buckets)
}

/// What the DNS door did: zone transfers, RFC 2136 updates, NOTIFY, TSIG refusals.
#[derive(Debug)]
struct DoorCollector(Arc<Control>);

impl Collector for DoorCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let counts = self.0.door_counts();
        let mut transfers = encoder.encode_descriptor(
            "dns_transfers",
            "Zone transfers asked of this node by type and result: full (the whole zone), incremental (from the journal), up_to_date (the SOA alone), refused",
            None,
            MetricType::Counter,
        )?;
        for ((kind, result), n) in counts.transfers.read() {
            let labels = [("type", kind), ("result", result)];
            ConstCounter::new(n).encode(transfers.encode_family(&labels)?)?;
        }
        for (metric, help, label, family) in [
            (
                "dns_updates",
                "RFC 2136 updates by the RCODE answered (NOERROR: applied, or nothing to change)",
                "rcode",
                &counts.updates,
            ),
            (
                "dns_notify",
                "NOTIFY messages sent to secondaries by result: acknowledged, error (another RCODE), no_answer (after every retry)",
                "result",
                &counts.notify,
            ),
            (
                "dns_tsig_refused",
                "Signed messages refused by TSIG error (BADKEY, BADSIG, BADTIME, BADTRUNC, FORMERR)",
                "error",
                &counts.tsig_refused,
            ),
            (
                "dns_notify_received",
                "NOTIFY messages received for secondary zones by result: accepted (a refresh starts), refused",
                "result",
                &counts.notify_received,
            ),
            (
                "secondary_refreshes",
                "Refreshes of secondary zones by result: up_to_date, full (AXFR stored), incremental (IXFR stored), failed (every primary)",
                "result",
                &counts.secondary_refreshes,
            ),
        ] {
            let mut f = encoder.encode_descriptor(metric, help, None, MetricType::Counter)?;
            for ((value, _), n) in family.read() {
                ConstCounter::new(n).encode(f.encode_family(&[(label, value)])?)?;
            }
        }
        Ok(())
    }
}

/// Messages dnstap and the query log wrote and dropped.
#[derive(Debug)]
struct TapCollector(Arc<turnout_dns::tap::Taps>);

impl Collector for TapCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let mut family = encoder.encode_descriptor(
            "dns_tap_messages",
            "dnstap and query-log messages by output and result: written, or dropped (the writer was slow or its output away)",
            None,
            MetricType::Counter,
        )?;
        for tap in &self.0.0 {
            let (written, dropped) = tap.counts();
            for (result, n) in [("written", written), ("dropped", dropped)] {
                let labels = [("output", tap.format().name()), ("result", result)];
                ConstCounter::new(n).encode(family.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}

/// Queries by zone and answers by policy-group member, read from the served snapshot.
#[derive(Debug)]
struct ZoneCollector {
    handle: turnout_dns::SnapshotHandle,
    labelled: usize,
}

impl Collector for ZoneCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let snap = self.handle.load();
        let mut zones = snap.zone_counts();
        zones.sort_by(|a, b| a.zone.cmp(&b.zone));
        let labelled: std::collections::HashSet<_> =
            zones.iter().take(self.labelled).map(|z| z.zone.clone()).collect();
        let mut family = encoder.encode_descriptor(
            "dns_zone_queries",
            "DNS queries by the zone their name is in (zones past dns.metrics_zones by name: other)",
            None,
            MetricType::Counter,
        )?;
        let mut other = 0;
        for z in &zones {
            if labelled.contains(&z.zone) {
                let zone = z.zone.to_string();
                ConstCounter::new(z.queries).encode(family.encode_family(&[("zone", &*zone)])?)?;
            } else {
                other += z.queries;
            }
        }
        if zones.len() > self.labelled {
            ConstCounter::new(other).encode(family.encode_family(&[("zone", "other")])?)?;
        }
        let mut family = encoder.encode_descriptor(
            "dns_policy_answers",
            "Times each record set of a policy group was chosen to answer (zones with a label)",
            None,
            MetricType::Counter,
        )?;
        let mut members = snap.member_counts(|z| labelled.contains(z));
        members.sort_by(|a, b| {
            (&a.zone, &a.name, a.rtype, &a.set_id).cmp(&(&b.zone, &b.name, b.rtype, &b.set_id))
        });
        // Members by group, healthy and not: (zone, name, type) -> (healthy, unhealthy).
        let mut groups: std::collections::BTreeMap<(String, String, String), (i64, i64)> =
            std::collections::BTreeMap::new();
        for m in members {
            let (zone, name, rtype) = (m.zone.to_string(), m.name.to_string(), m.rtype.to_string());
            let labels =
                [("zone", &*zone), ("name", &*name), ("type", &*rtype), ("set_id", &*m.set_id)];
            ConstCounter::new(m.answers).encode(family.encode_family(&labels)?)?;
            let g = groups.entry((zone, name, rtype)).or_default();
            if m.healthy {
                g.0 += 1;
            } else {
                g.1 += 1;
            }
        }
        let mut family = encoder.encode_descriptor(
            "policy_group_members",
            "Record sets of each policy group by health as answers see it (none healthy: the last resort answers)",
            None,
            MetricType::Gauge,
        )?;
        for ((zone, name, rtype), (healthy, unhealthy)) in &groups {
            for (state, n) in [("healthy", *healthy), ("unhealthy", *unhealthy)] {
                let labels =
                    [("zone", &**zone), ("name", &**name), ("type", &**rtype), ("state", state)];
                ConstGauge::new(n).encode(family.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}

/// The DNS server's counters, summed over its workers at each scrape.
#[derive(Debug)]
struct DnsCollector(Arc<DnsStats>);

impl Collector for DnsCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        use turnout_dns::stats::{DROPS, FLAGS, QTYPES, RCODES, SIZE_BUCKETS, TRANSPORTS};
        let totals: Vec<_> = (0..TRANSPORTS.len()).map(|t| self.0.totals(t)).collect();
        let named = |names: &[&'static str], values: &[u64]| -> Vec<(&'static str, u64)> {
            names.iter().copied().chain(["other"]).zip(values.iter().copied()).collect()
        };
        let qtypes: Vec<&str> = QTYPES.iter().map(|(_, n)| *n).collect();
        let rcodes: Vec<&str> = RCODES.iter().map(|(_, n)| *n).collect();
        let mut family = encoder.encode_descriptor(
            "dns_queries",
            "DNS queries decoded, by transport and query type (types not listed: other)",
            None,
            MetricType::Counter,
        )?;
        for (t, totals) in TRANSPORTS.iter().zip(&totals) {
            for (qtype, n) in named(&qtypes, &totals.queries) {
                let labels = [("transport", *t), ("qtype", qtype)];
                ConstCounter::new(n).encode(family.encode_family(&labels)?)?;
            }
        }
        let mut family = encoder.encode_descriptor(
            "dns_responses",
            "DNS replies sent, by transport and RCODE (extended RCODEs included)",
            None,
            MetricType::Counter,
        )?;
        for (t, totals) in TRANSPORTS.iter().zip(&totals) {
            for (rcode, n) in named(&rcodes, &totals.responses) {
                let labels = [("transport", *t), ("rcode", rcode)];
                ConstCounter::new(n).encode(family.encode_family(&labels)?)?;
            }
        }
        let mut family = encoder.encode_descriptor(
            "dns_truncated_responses",
            "DNS replies sent with TC set (the client retries over TCP), by transport",
            None,
            MetricType::Counter,
        )?;
        for (t, totals) in TRANSPORTS.iter().zip(&totals) {
            ConstCounter::new(totals.truncated)
                .encode(family.encode_family(&[("transport", *t)])?)?;
        }
        let mut family = encoder.encode_descriptor(
            "dns_query_options",
            "DNS queries carrying EDNS, the DO bit, a Client Subnet, a cookie or an NSID request",
            None,
            MetricType::Counter,
        )?;
        for (t, totals) in TRANSPORTS.iter().zip(&totals) {
            for (flag, n) in FLAGS.iter().zip(&totals.flags) {
                let labels = [("transport", *t), ("option", *flag)];
                ConstCounter::new(*n).encode(family.encode_family(&labels)?)?;
            }
        }
        let mut family = encoder.encode_descriptor(
            "dns_dropped_queries",
            "DNS packets that got no reply: malformed (too short, or a response) or rate limited",
            None,
            MetricType::Counter,
        )?;
        for (t, totals) in TRANSPORTS.iter().zip(&totals) {
            for (reason, n) in DROPS.iter().zip(&totals.dropped) {
                let labels = [("transport", *t), ("reason", *reason)];
                ConstCounter::new(*n).encode(family.encode_family(&labels)?)?;
            }
        }
        let mut family = encoder.encode_descriptor(
            "dns_rate_limited_slipped",
            "Rate-limited queries that got a truncated reply instead of nothing",
            None,
            MetricType::Counter,
        )?;
        ConstCounter::new(totals[0].slipped)
            .encode(family.encode_family(&[("transport", "udp")])?)?;
        let mut family = encoder.encode_descriptor(
            "dns_response_size_bytes",
            "Sizes of DNS replies sent, by transport",
            None,
            MetricType::Histogram,
        )?;
        let bounds: Vec<f64> = SIZE_BUCKETS.iter().map(|b| *b as f64).collect();
        for (t, totals) in TRANSPORTS.iter().zip(&totals) {
            let (count, buckets) = cumulative(&bounds, &totals.sizes);
            family.encode_family(&[("transport", *t)])?.encode_histogram::<[(&str, &str); 0]>(
                totals.size_sum as f64,
                count,
                &buckets,
                None,
            )?;
        }
        let (accepted, refused, evicted, open) = self.0.tcp_connections();
        for (name, help, n) in [
            ("dns_tcp_connections_accepted", "DNS/TCP connections accepted", accepted),
            (
                "dns_tcp_connections_refused",
                "DNS/TCP connections closed on accept: at the cap with every connection busy",
                refused,
            ),
            (
                "dns_tcp_connections_evicted",
                "DNS/TCP connections closed to make room for a newcomer (the one idle longest)",
                evicted,
            ),
        ] {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            ConstCounter::new(n).encode(family.encode_family(&[("transport", "tcp")])?)?;
        }
        let mut dropped = encoder.encode_descriptor(
            "dns_door_dropped",
            "Datagrams for the DNS door (transfers, NOTIFY, UPDATE, TSIG-signed) dropped with its queue full",
            None,
            MetricType::Counter,
        )?;
        ConstCounter::new(self.0.door_dropped())
            .encode(dropped.encode_family(&[("transport", "udp")])?)?;
        let mut family = encoder.encode_descriptor(
            "dns_tcp_connections_open",
            "DNS/TCP connections open now",
            None,
            MetricType::Gauge,
        )?;
        ConstGauge::new(i64::try_from(open).unwrap_or(i64::MAX))
            .encode(family.encode_family(&[("transport", "tcp")])?)?;
        Ok(())
    }
}

/// The running binary's version and commit.
#[derive(Debug)]
struct BuildCollector {
    version: &'static str,
    commit: &'static str,
}

impl Collector for BuildCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let mut family = encoder.encode_descriptor(
            "build",
            "The running binary's version and commit",
            None,
            MetricType::Info,
        )?;
        family.encode_info(&[("version", self.version), ("commit", self.commit)])
    }
}

/// The process's own resources, from /proc at each scrape, under the names every Prometheus
/// dashboard knows (no `turnout_` prefix).
#[derive(Debug)]
struct ProcessCollector;

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let Some(p) = process_figures() else { return Ok(()) };
        let cpu = encoder.encode_descriptor(
            "process_cpu_seconds",
            "User and system CPU time spent, in seconds",
            None,
            MetricType::Counter,
        )?;
        ConstCounter::new(p.cpu_seconds).encode(cpu)?;
        for (name, help, v) in [
            ("process_resident_memory_bytes", "Resident memory, in bytes", p.rss_bytes),
            ("process_open_fds", "Open file descriptors", p.open_fds),
            ("process_max_fds", "The open file descriptor limit", p.max_fds),
            ("process_start_time_seconds", "Start time, Unix seconds", p.start_time),
        ] {
            let family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            ConstGauge::new(v).encode(family)?;
        }
        Ok(())
    }
}

/// What /proc says about this process.
struct ProcessFigures {
    cpu_seconds: f64,
    rss_bytes: f64,
    open_fds: f64,
    max_fds: f64,
    start_time: f64,
}

fn process_figures() -> Option<ProcessFigures> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces), from field 3 on.
    let rest: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = 100.0; // USER_HZ on Linux
    let field = |n: usize| rest.get(n - 3).and_then(|v| v.parse::<f64>().ok());
    let cpu_seconds = (field(14)? + field(15)?) / ticks;
    let start_ticks = field(22)?;
    let rss_pages = field(24)?;
    let uptime: f64 =
        std::fs::read_to_string("/proc/uptime").ok()?.split_whitespace().next()?.parse().ok()?;
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).ok()?.as_secs_f64();
    let start_time = now - uptime + start_ticks / ticks;
    let open_fds = std::fs::read_dir("/proc/self/fd").ok()?.count() as f64;
    let max_fds = rlimit::getrlimit(rlimit::Resource::NOFILE).map(|(soft, _)| soft as f64).ok()?;
    Some(ProcessFigures {
        cpu_seconds,
        rss_bytes: rss_pages * 4096.0,
        open_fds,
        max_fds,
        start_time,
    })
}

/// What the node shows in `/metrics` besides the control plane's own series.
#[derive(Debug, Clone, Default)]
pub struct Telemetry {
    /// The DNS server's counters.
    pub dns: Option<Arc<DnsStats>>,
    /// dnstap and the query log, for their counters.
    pub taps: Option<Arc<turnout_dns::tap::Taps>>,
    /// What the DNS server serves, for the per-zone and per-member counters it holds.
    pub snapshot: Option<turnout_dns::SnapshotHandle>,
    /// How many zones (the first by name) get their own `zone` label; the others: `other`.
    pub zones_labelled: usize,
    /// The binary's version, for `turnout_build_info`.
    pub version: &'static str,
    /// The commit it was built from.
    pub commit: &'static str,
}

impl Metrics {
    /// Registers every series.
    pub fn new(control: Arc<Control>, telemetry: &Telemetry) -> Self {
        let mut root = Registry::default();
        root.register_collector(Box::new(ProcessCollector));
        let registry = root.sub_registry_with_prefix("turnout");
        registry.register_collector(Box::new(DoorCollector(Arc::clone(&control))));
        registry.register_collector(Box::new(HealthCollector(control)));
        if let Some(stats) = &telemetry.dns {
            registry.register_collector(Box::new(DnsCollector(Arc::clone(stats))));
        }
        if let Some(taps) = telemetry.taps.clone().filter(|t| t.any()) {
            registry.register_collector(Box::new(TapCollector(taps)));
        }
        if let Some(handle) = &telemetry.snapshot {
            registry.register_collector(Box::new(ZoneCollector {
                handle: handle.clone(),
                labelled: telemetry.zones_labelled,
            }));
        }
        registry.register_collector(Box::new(BuildCollector {
            version: telemetry.version,
            commit: telemetry.commit,
        }));
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
            registry: root,
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

    /// The current values, as OpenMetrics text ([`to_prometheus_text`] turns it into the
    /// Prometheus text format).
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

/// OpenMetrics text as the Prometheus text format (0.0.4), for scrapers that do not ask for
/// OpenMetrics: no `# EOF` or `# UNIT` lines; a counter family's `# HELP` and `# TYPE` name
/// its samples (`x_total`), as that format wants; an info family is a gauge of value 1 named
/// `x_info`.
pub fn to_prometheus_text(openmetrics: &str) -> String {
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, "untyped"));
            let (kind, suffix) = match kind {
                "counter" => ("counter", "_total"),
                "info" => ("gauge", "_info"),
                other => (other, ""),
            };
            out.push_str(&format!("# TYPE {name}{suffix} {kind}\n"));
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            // HELP comes before TYPE: its name is fixed up below, once TYPE has said it.
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            out.push_str(&format!("# HELP {name}\u{0}{help}\n"));
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    // Give each HELP the name its TYPE line settled on (HELP precedes TYPE).
    let mut fixed = String::with_capacity(out.len());
    let lines: Vec<&str> = out.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once('\u{0}').unwrap_or((rest, ""));
            let typed = lines
                .get(i + 1)
                .and_then(|l| l.strip_prefix("# TYPE "))
                .and_then(|t| t.split_once(' '))
                .map_or(name, |(n, _)| n);
            fixed.push_str(&format!("# HELP {typed} {help}\n"));
        } else {
            fixed.push_str(line);
            fixed.push('\n');
        }
    }
    fixed
}

#[cfg(test)]
mod tests {
    use super::to_prometheus_text;

    #[test]
    fn openmetrics_becomes_prometheus_text() {
        let om = "# HELP turnout_x A thing.\n# TYPE turnout_x counter\nturnout_x_total{a=\"b\"} 3\n# HELP turnout_build The build.\n# TYPE turnout_build info\nturnout_build_info{version=\"1\"} 1\n# HELP g G.\n# TYPE g gauge\n# UNIT g seconds\ng 1.5\n# EOF\n";
        assert_eq!(
            to_prometheus_text(om),
            "# HELP turnout_x_total A thing.\n# TYPE turnout_x_total counter\nturnout_x_total{a=\"b\"} 3\n# HELP turnout_build_info The build.\n# TYPE turnout_build_info gauge\nturnout_build_info{version=\"1\"} 1\n# HELP g G.\n# TYPE g gauge\ng 1.5\n"
        );
    }
}
