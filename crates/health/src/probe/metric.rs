//! Metric checks: judging a Prometheus instant-query response (the HTTP exchange is the probe's).
//!
//! A response yields one value (a scalar, or a vector of exactly one sample) that is compared
//! with the threshold: in alarm means a failed probe of class [`FailureClass::Alarm`]. Anything
//! that yields no value, including Prometheus being unreachable, is insufficient data: a
//! result of class [`FailureClass::InsufficientData`] whose success follows the check's
//! `insufficient_data` choice (for `last_known` the engine leaves the status alone).

use serde::Deserialize;
use turnout_model::metric::{InsufficientData, MetricCheck};

use super::{FailureClass, ProbeResult};

#[derive(Deserialize)]
struct Envelope {
    status: String,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    data: Option<Data>,
}

#[derive(Deserialize)]
#[serde(tag = "resultType", content = "result", rename_all = "lowercase")]
enum Data {
    Scalar((f64, String)),
    Vector(Vec<Sample>),
    Matrix(serde::de::IgnoredAny),
    String(serde::de::IgnoredAny),
}

#[derive(Deserialize)]
struct Sample {
    value: (f64, String),
}

/// Parses a Prometheus sample value: a decimal, `NaN`, `+Inf` or `-Inf`.
fn sample(text: &str) -> Option<f64> {
    match text {
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ => text.parse().ok(),
    }
}

/// The value of a successful query response, or why there is none.
fn value(status: u16, body: &[u8]) -> Result<f64, String> {
    let envelope: Envelope = serde_json::from_slice(body).map_err(|e| {
        if status == 200 {
            format!("the response is not a Prometheus query result: {e}")
        } else {
            format!("Prometheus answered HTTP {status}")
        }
    })?;
    if envelope.status != "success" {
        let error = envelope.error.unwrap_or_default();
        return Err(format!("Prometheus answered HTTP {status}: {error}"));
    }
    let v = match envelope.data {
        Some(Data::Scalar((_, v))) => v,
        Some(Data::Vector(mut samples)) => match samples.len() {
            0 => return Err("the query returned no series".to_owned()),
            1 => samples.remove(0).value.1,
            n => {
                return Err(format!(
                    "the query returned {n} series; aggregate it to one (sum, max, ...)"
                ));
            }
        },
        Some(Data::Matrix(_)) => return Err("the query returned a range vector".to_owned()),
        Some(Data::String(_)) => return Err("the query returned a string".to_owned()),
        None => return Err("the response has no data".to_owned()),
    };
    match sample(&v) {
        Some(x) if x.is_nan() => Err("the value is NaN".to_owned()),
        Some(x) => Ok(x),
        None => Err(format!("the value {v:?} is not a number")),
    }
}

/// Judges a Prometheus response.
pub(crate) fn judge(m: &MetricCheck, status: u16, body: &[u8]) -> ProbeResult {
    match value(status, body) {
        Ok(v) if m.comparison.alarms(v, m.threshold) => ProbeResult::fail(
            FailureClass::Alarm,
            format!("metric value {v} {} {} (in alarm)", m.comparison, m.threshold),
        ),
        Ok(v) => ProbeResult::succeed(format!(
            "Success: metric value {v} (in alarm when {} {})",
            m.comparison, m.threshold
        )),
        Err(why) => insufficient(m, &why),
    }
}

/// A probe that could not reach Prometheus, or got no value: insufficient data, unless it is
/// already a verdict, or this checker's own fault ([`FailureClass::Local`], which changes no
/// status at all).
pub(crate) fn settle(m: &MetricCheck, result: ProbeResult) -> ProbeResult {
    match result.class {
        None | Some(FailureClass::Alarm | FailureClass::InsufficientData | FailureClass::Local) => {
            result
        }
        Some(_) => {
            let why = result.reason.strip_prefix("Failure: ").unwrap_or(&result.reason);
            let mut r = insufficient(m, why);
            r.address = result.address;
            r.connect = result.connect;
            r.tls = result.tls;
            r.first_byte = result.first_byte;
            r
        }
    }
}

fn insufficient(m: &MetricCheck, why: &str) -> ProbeResult {
    let counted = match m.insufficient_data {
        InsufficientData::Healthy => "counted as healthy",
        InsufficientData::Unhealthy => "counted as unhealthy",
        InsufficientData::LastKnown => "the last known status stands",
    };
    let mut r = ProbeResult::fail(FailureClass::InsufficientData, String::new());
    r.success = m.insufficient_data == InsufficientData::Healthy;
    r.reason = format!("Insufficient data: {why} ({counted})");
    r
}

/// Whether a result should leave the check's status alone (insufficient data, last known).
pub(crate) fn keeps_status(m: &MetricCheck, result: &ProbeResult) -> bool {
    result.class == Some(FailureClass::InsufficientData)
        && m.insufficient_data == InsufficientData::LastKnown
}

#[cfg(test)]
mod tests {
    use super::*;
    use turnout_model::metric::Comparison;

    fn check(insufficient_data: InsufficientData) -> MetricCheck {
        MetricCheck {
            query: "x".into(),
            path: "/api/v1/query?query=x".into(),
            tls: false,
            verify: false,
            comparison: Comparison::Greater,
            threshold: 0.5,
            insufficient_data,
        }
    }

    fn vector(values: &[&str]) -> String {
        let samples: Vec<String> = values
            .iter()
            .map(|v| format!(r#"{{"metric":{{}},"value":[1700000000.1,"{v}"]}}"#))
            .collect();
        format!(
            r#"{{"status":"success","data":{{"resultType":"vector","result":[{}]}}}}"#,
            samples.join(",")
        )
    }

    #[test]
    fn values_against_the_threshold() {
        let m = check(InsufficientData::LastKnown);
        let ok = judge(&m, 200, vector(&["0.25"]).as_bytes());
        assert!(ok.success && ok.class.is_none(), "{ok:?}");
        let alarm = judge(&m, 200, vector(&["0.75"]).as_bytes());
        assert_eq!((alarm.success, alarm.class), (false, Some(FailureClass::Alarm)));
        assert_eq!(alarm.reason, "Failure: metric value 0.75 > 0.5 (in alarm)");
        let inf = judge(&m, 200, vector(&["+Inf"]).as_bytes());
        assert_eq!(inf.class, Some(FailureClass::Alarm));
        let scalar = r#"{"status":"success","data":{"resultType":"scalar","result":[1.5,"0.1"]}}"#;
        assert!(judge(&m, 200, scalar.as_bytes()).success);
    }

    #[test]
    fn no_value_is_insufficient_data() {
        let cases: [(u16, String, &str); 7] = [
            (200, vector(&[]), "no series"),
            (200, vector(&["1", "2"]), "returned 2 series"),
            (200, vector(&["NaN"]), "NaN"),
            (
                400,
                r#"{"status":"error","errorType":"bad_data","error":"parse error"}"#.into(),
                "HTTP 400: parse error",
            ),
            (502, "<html>bad gateway</html>".into(), "HTTP 502"),
            (200, "{}".into(), "not a Prometheus query result"),
            (
                200,
                r#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#.into(),
                "range vector",
            ),
        ];
        for (status, body, why) in cases {
            for (choice, success) in [
                (InsufficientData::Healthy, true),
                (InsufficientData::Unhealthy, false),
                (InsufficientData::LastKnown, false),
            ] {
                let m = check(choice);
                let r = judge(&m, status, body.as_bytes());
                assert_eq!(r.class, Some(FailureClass::InsufficientData), "{body}");
                assert!(r.reason.contains(why), "{} lacks {why}", r.reason);
                assert_eq!(r.success, success);
                assert_eq!(keeps_status(&m, &r), choice == InsufficientData::LastKnown);
            }
        }
    }

    #[test]
    fn unreachable_prometheus_is_insufficient_data() {
        let m = check(InsufficientData::Unhealthy);
        let refused =
            ProbeResult::fail(FailureClass::Refused, "Connection to 127.0.0.1:1: refused");
        let r = settle(&m, refused);
        assert_eq!((r.success, r.class), (false, Some(FailureClass::InsufficientData)));
        assert_eq!(
            r.reason,
            "Insufficient data: Connection to 127.0.0.1:1: refused (counted as unhealthy)"
        );
        let alarm = ProbeResult::fail(FailureClass::Alarm, "x");
        assert_eq!(settle(&m, alarm.clone()), alarm);
        // Out of descriptors here is not news about Prometheus: it stays the checker's fault.
        let local = ProbeResult::fail(FailureClass::Local, "Too many open files (os error 24)");
        assert_eq!(settle(&m, local.clone()), local);
    }
}
