//! AWS Signature Version 4 verification for the Route 53 API: the canonical request of what
//! was received, the string to sign, and the signature the secret access key makes of it, as
//! AWS's "Signature Version 4 signing process" documents it. Written here because the crates
//! made for SigV4 sign outgoing requests (and bring the AWS SDK's runtime); verifying needs the
//! canonical form of a request as it arrived.

use std::time::{Duration, SystemTime};

use axum::http::{HeaderMap, Method};
use ring::{digest, hmac};

/// How far a request's time may be from the server's (AWS: 5 minutes).
pub const MAX_SKEW: Duration = Duration::from_secs(5 * 60);

/// The parts of an `Authorization: AWS4-HMAC-SHA256 ...` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    /// The access key id.
    pub key_id: String,
    /// `YYYYMMDD` of the credential scope.
    pub date: String,
    /// The scope's region (any is accepted).
    pub region: String,
    /// The scope's service (must be `route53`).
    pub service: String,
    /// Lowercase names of the signed headers, in the order given.
    pub signed_headers: Vec<String>,
    /// The hex signature.
    pub signature: String,
}

/// Why a request's signature is refused, with AWS's error code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The header or the date cannot be read.
    Malformed(String),
    /// The signature is not the one the key makes.
    Mismatch,
    /// The request's time is too far from the server's.
    Expired(String),
}

/// Reads an `Authorization` header value.
pub fn parse_authorization(value: &str) -> Result<Authorization, Refusal> {
    let bad = |why: &str| Refusal::Malformed(why.to_owned());
    let rest = value
        .strip_prefix("AWS4-HMAC-SHA256")
        .ok_or_else(|| bad("Authorization header requires the AWS4-HMAC-SHA256 algorithm"))?;
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let part = part.trim();
        if let Some(v) = part.strip_prefix("Credential=") {
            credential = Some(v);
        } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
            signed = Some(v);
        } else if let Some(v) = part.strip_prefix("Signature=") {
            signature = Some(v);
        }
    }
    let credential =
        credential.ok_or_else(|| bad("Authorization header requires 'Credential' parameter."))?;
    let signed =
        signed.ok_or_else(|| bad("Authorization header requires 'SignedHeaders' parameter."))?;
    let signature =
        signature.ok_or_else(|| bad("Authorization header requires 'Signature' parameter."))?;
    let scope: Vec<&str> = credential.split('/').collect();
    let [key_id, date, region, service, terminator] = scope[..] else {
        return Err(bad("Credential should be scoped to a valid region, service and date"));
    };
    if terminator != "aws4_request" || date.len() != 8 {
        return Err(bad("Credential should be scoped to a valid region, service and date"));
    }
    Ok(Authorization {
        key_id: key_id.to_owned(),
        date: date.to_owned(),
        region: region.to_owned(),
        service: service.to_owned(),
        signed_headers: signed.split(';').map(str::to_ascii_lowercase).collect(),
        signature: signature.to_ascii_lowercase(),
    })
}

/// `YYYYMMDD'T'HHMMSS'Z'` as a time.
fn parse_amz_date(text: &str) -> Option<SystemTime> {
    if text.len() != 16 || &text[8..9] != "T" || !text.ends_with('Z') {
        return None;
    }
    let rfc3339 = format!(
        "{}-{}-{}T{}:{}:{}Z",
        &text[0..4],
        &text[4..6],
        &text[6..8],
        &text[9..11],
        &text[11..13],
        &text[13..15]
    );
    humantime::parse_rfc3339(&rfc3339).ok()
}

/// `t` as `YYYYMMDD'T'HHMMSS'Z'`.
pub fn amz_date(t: SystemTime) -> String {
    let text = humantime::format_rfc3339_seconds(t).to_string();
    text.replace(['-', ':'], "")
}

/// Percent-encodes everything but the unreserved characters (RFC 3986 §2.3) and, with
/// `slash`, `/`.
fn uri_encode(text: &str, slash: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) || (slash && b == b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes `%XX` escapes (a `%` not followed by two hex digits stays as it is).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The canonical query string: every parameter decoded, encoded again strictly, sorted.
fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (uri_encode(&percent_decode(k), false), uri_encode(&percent_decode(v), false))
        })
        .collect();
    pairs.sort();
    pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&")
}

/// A request as it arrived: what its signature covers.
#[derive(Debug, Clone, Copy)]
pub struct Received<'a> {
    /// The method.
    pub method: &'a Method,
    /// The path, still percent-encoded.
    pub path: &'a str,
    /// The query string, still percent-encoded.
    pub query: &'a str,
    /// The headers.
    pub headers: &'a HeaderMap,
    /// The body.
    pub body: &'a [u8],
}

/// Checks a request's signature against `secret` (the secret access key of `auth.key_id`), at
/// `now`.
pub fn verify(
    auth: &Authorization,
    secret: &str,
    request: &Received<'_>,
    now: SystemTime,
) -> Result<(), Refusal> {
    let Received { method, path, query, headers, body } = *request;
    let date_header = headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| Refusal::Malformed("the request has no X-Amz-Date header".to_owned()))?;
    let at = parse_amz_date(date_header)
        .ok_or_else(|| Refusal::Malformed(format!("X-Amz-Date {date_header:?} is not a date")))?;
    let skew = now.duration_since(at).unwrap_or_else(|e| e.duration());
    if skew > MAX_SKEW {
        let limit = if at < now { now - MAX_SKEW } else { now + MAX_SKEW };
        let (word, sign) = if at < now { ("earlier", "-") } else { ("later", "+") };
        return Err(Refusal::Expired(format!(
            "Signature expired: {date_header} is now {word} than {} ({} {sign} 5 min.)",
            amz_date(limit),
            amz_date(now)
        )));
    }
    if !date_header.starts_with(&auth.date) {
        return Err(Refusal::Malformed(format!(
            "the credential's date {} is not the request's ({date_header})",
            auth.date
        )));
    }
    if !auth.signed_headers.iter().any(|h| h == "host") {
        return Err(Refusal::Malformed("'Host' must be a signed header".to_owned()));
    }
    let mut canonical_headers = String::new();
    for name in &auth.signed_headers {
        let values: Vec<String> = headers
            .get_all(name.as_str())
            .iter()
            .map(|v| {
                String::from_utf8_lossy(v.as_bytes())
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        canonical_headers.push_str(&format!("{name}:{}\n", values.join(",")));
    }
    let payload = data_encoding::HEXLOWER.encode(digest::digest(&digest::SHA256, body).as_ref());
    let canonical = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        method.as_str(),
        uri_encode(if path.is_empty() { "/" } else { path }, true),
        canonical_query(query),
        canonical_headers,
        auth.signed_headers.join(";"),
        payload
    );
    let hashed = data_encoding::HEXLOWER
        .encode(digest::digest(&digest::SHA256, canonical.as_bytes()).as_ref());
    let scope = format!("{}/{}/{}/aws4_request", auth.date, auth.region, auth.service);
    let to_sign = format!("AWS4-HMAC-SHA256\n{date_header}\n{scope}\n{hashed}");
    let mut key = format!("AWS4{secret}").into_bytes();
    for part in [auth.date.as_str(), auth.region.as_str(), auth.service.as_str(), "aws4_request"] {
        key =
            hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &key), part.as_bytes()).as_ref().to_vec();
    }
    let Ok(given) = data_encoding::HEXLOWER.decode(auth.signature.as_bytes()) else {
        return Err(Refusal::Mismatch);
    };
    hmac::verify(&hmac::Key::new(hmac::HMAC_SHA256, &key), to_sign.as_bytes(), &given)
        .map_err(|_| Refusal::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AWS's documented example ("Create a canonical request", IAM ListUsers, the
    /// get-vanilla test of the SigV4 test suite): the signature must come out as published.
    #[test]
    fn the_documented_example_verifies() {
        let header = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";
        let auth = parse_authorization(header).expect("parses");
        let mut headers = HeaderMap::new();
        headers.insert("host", "example.amazonaws.com".parse().expect("value"));
        headers.insert("x-amz-date", "20150830T123600Z".parse().expect("value"));
        let at = humantime::parse_rfc3339("2015-08-30T12:36:00Z").expect("time");
        let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
        let get =
            Received { method: &Method::GET, path: "/", query: "", headers: &headers, body: b"" };
        verify(&auth, secret, &get, at).expect("verifies");
        assert_eq!(verify(&auth, "another", &get, at), Err(Refusal::Mismatch));
        let later = at + Duration::from_secs(600);
        assert!(matches!(
            verify(&auth, secret, &get, later),
            Err(Refusal::Expired(m)) if m.contains("Signature expired: 20150830T123600Z is now earlier than")
        ));
        assert_eq!(canonical_query("b=2&a=1&c=x%2Fy"), "a=1&b=2&c=x%2Fy");
        assert_eq!(
            canonical_query("name=www.example.com.&maxitems=1"),
            "maxitems=1&name=www.example.com."
        );
    }
}
