//! Metric checks: a Prometheus instant query compared with a threshold, Turnout's equivalent of
//! Route 53's CloudWatch-alarm checks (`CLOUDWATCH_METRIC`).
//!
//! The check is in alarm, and so unhealthy, while `value <comparison> threshold` holds, as a
//! CloudWatch alarm with that comparison operator would be. When there is no value to compare
//! (Prometheus unreachable or answering an error, no series, several series, NaN), the
//! `insufficient_data` choice decides: healthy, unhealthy, or the last known status.

use std::fmt;

use crate::error::{ErrorCode, FieldError};

/// The longest query.
pub const MAX_QUERY_LEN: usize = 4096;

/// When a metric is in alarm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    /// `>`: CloudWatch's `GreaterThanThreshold`.
    Greater,
    /// `>=`: `GreaterThanOrEqualToThreshold`.
    GreaterOrEqual,
    /// `<`: `LessThanThreshold`.
    Less,
    /// `<=`: `LessThanOrEqualToThreshold`.
    LessOrEqual,
}

impl Comparison {
    /// Parses `>`, `>=`, `<`, `<=` or CloudWatch's operator names.
    pub fn parse(text: &str) -> Option<Comparison> {
        Some(match text {
            ">" | "GreaterThanThreshold" => Comparison::Greater,
            ">=" | "GreaterThanOrEqualToThreshold" => Comparison::GreaterOrEqual,
            "<" | "LessThanThreshold" => Comparison::Less,
            "<=" | "LessThanOrEqualToThreshold" => Comparison::LessOrEqual,
            _ => return None,
        })
    }

    /// Whether `value` is in alarm against `threshold`.
    pub fn alarms(self, value: f64, threshold: f64) -> bool {
        match self {
            Comparison::Greater => value > threshold,
            Comparison::GreaterOrEqual => value >= threshold,
            Comparison::Less => value < threshold,
            Comparison::LessOrEqual => value <= threshold,
        }
    }
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Comparison::Greater => ">",
            Comparison::GreaterOrEqual => ">=",
            Comparison::Less => "<",
            Comparison::LessOrEqual => "<=",
        })
    }
}

/// What a metric check reports when there is no value to compare (Route 53's
/// `InsufficientDataHealthStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsufficientData {
    /// Count as healthy.
    Healthy,
    /// Count as unhealthy.
    Unhealthy,
    /// Keep the status the check had (healthy for a new check, as in Route 53).
    LastKnown,
}

impl InsufficientData {
    /// Parses `healthy`, `unhealthy`, `last_known` (and Route 53's `LastKnownStatus`).
    pub fn parse(text: &str) -> Option<InsufficientData> {
        Some(match text {
            "healthy" | "Healthy" => InsufficientData::Healthy,
            "unhealthy" | "Unhealthy" => InsufficientData::Unhealthy,
            "last_known" | "LastKnownStatus" => InsufficientData::LastKnown,
            _ => return None,
        })
    }
}

impl fmt::Display for InsufficientData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            InsufficientData::Healthy => "healthy",
            InsufficientData::Unhealthy => "unhealthy",
            InsufficientData::LastKnown => "last_known",
        })
    }
}

/// A validated metric check (its Prometheus server is the check's [`crate::health::Target`]).
#[derive(Debug, Clone)]
pub struct MetricCheck {
    /// The PromQL expression, as written.
    pub query: String,
    /// The request path: the server's path prefix, `/api/v1/query` and the encoded query.
    pub path: String,
    /// The server is reached over https.
    pub tls: bool,
    /// Verify the server's certificate (https).
    pub verify: bool,
    /// When the value is in alarm.
    pub comparison: Comparison,
    /// What the value is compared with (finite).
    pub threshold: f64,
    /// The status without a value.
    pub insufficient_data: InsufficientData,
}

// The threshold is finite (validation refuses NaN), so equality is an equivalence.
impl PartialEq for MetricCheck {
    fn eq(&self, other: &Self) -> bool {
        self.query == other.query
            && self.path == other.path
            && self.tls == other.tls
            && self.verify == other.verify
            && self.comparison == other.comparison
            && self.threshold.to_bits() == other.threshold.to_bits()
            && self.insufficient_data == other.insufficient_data
    }
}

impl Eq for MetricCheck {}

/// The parts of a Prometheus base URL a check needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrometheusUrl {
    /// https.
    pub tls: bool,
    /// The host: an IP address or a name.
    pub host: url::Host<String>,
    /// The port (the scheme's default when the URL has none).
    pub port: u16,
    /// The request path for `query`.
    pub path: String,
}

/// Parses the `prometheus` field (`http://127.0.0.1:9090`, `https://prom.example/prefix`) and
/// builds the instant-query path for `query`.
pub fn prometheus_url(text: &str, query: &str) -> Result<PrometheusUrl, FieldError> {
    let bad = |why: &str| {
        FieldError::new("prometheus", ErrorCode::InvalidValue, format!("{text:?} {why}"))
    };
    let mut url = url::Url::parse(text).map_err(|e| bad(&format!("is not a URL: {e}")))?;
    let tls = match url.scheme() {
        "http" => false,
        "https" => true,
        _ => return Err(bad("must start with http:// or https://")),
    };
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("must not hold credentials"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("must not have a query or fragment: give the server's base URL"));
    }
    let host = url.host().ok_or_else(|| bad("has no host"))?.to_owned();
    let port = url.port_or_known_default().ok_or_else(|| bad("has no port"))?;
    let base = url.path().trim_end_matches('/').to_owned();
    url.set_path(&format!("{base}/api/v1/query"));
    url.query_pairs_mut().append_pair("query", query);
    let path = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    };
    Ok(PrometheusUrl { tls, host, port, path })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = prometheus_url("http://127.0.0.1:9090", "up == 1").unwrap();
        assert_eq!((u.tls, u.port), (false, 9090));
        assert_eq!(u.path, "/api/v1/query?query=up+%3D%3D+1");
        let u = prometheus_url("https://prom.example/p/", "x").unwrap();
        assert_eq!((u.tls, u.port, u.path.as_str()), (true, 443, "/p/api/v1/query?query=x"));
        assert_eq!(u.host, url::Host::Domain("prom.example".to_owned()));
        for bad in ["ftp://x", "http://u:p@x", "http://x/?q=1", "not a url", "http://[::1"] {
            assert!(prometheus_url(bad, "x").is_err(), "{bad}");
        }
    }

    #[test]
    fn comparisons() {
        assert!(Comparison::parse(">").unwrap().alarms(2.0, 1.0));
        assert!(!Comparison::parse("GreaterThanThreshold").unwrap().alarms(1.0, 1.0));
        assert!(Comparison::parse(">=").unwrap().alarms(1.0, 1.0));
        assert!(Comparison::parse("<").unwrap().alarms(0.5, 1.0));
        assert!(Comparison::parse("LessThanOrEqualToThreshold").unwrap().alarms(1.0, 1.0));
        assert_eq!(Comparison::parse("=="), None);
        assert_eq!(InsufficientData::parse("LastKnownStatus"), Some(InsufficientData::LastKnown));
    }
}
