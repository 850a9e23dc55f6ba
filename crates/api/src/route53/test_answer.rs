//! TestDNSAnswer: the answer this node's DNS server gives now for a name and type, for a client
//! at the resolver's address or, with an EDNS0 client subnet, in that subnet (what
//! `turnout explain` shows, in Route 53's shape).

use std::collections::HashMap;
use std::net::IpAddr;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::xml::{Doc, response};
use super::{R53Error, R53State};

/// `GET /2013-04-01/testdnsanswer`: TestDNSAnswer.
pub(crate) async fn test_dns_answer(
    State(state): State<R53State>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, R53Error> {
    let param = |key: &str, name: &str| {
        query.get(key).filter(|v| !v.is_empty()).ok_or_else(|| {
            R53Error::invalid_input(format!("{name} is required (query parameter {key})"))
        })
    };
    let zone_id = param("hostedzoneid", "HostedZoneId")?;
    let zone = super::zones::zone_of(&state, zone_id)?;
    let name = param("recordname", "RecordName")?;
    let rtype = param("recordtype", "RecordType")?.to_ascii_uppercase();
    let absolute = if name.ends_with('.') { name.clone() } else { format!("{name}.") };
    let lower = absolute.to_ascii_lowercase();
    if lower != zone && !lower.ends_with(&format!(".{zone}")) {
        return Err(R53Error::invalid_input(format!(
            "RecordName {name} is not in the hosted zone {zone}"
        )));
    }
    let address = |key: &str| -> Result<Option<IpAddr>, R53Error> {
        query
            .get(key)
            .map(|v| {
                v.parse::<IpAddr>().map_err(|_| {
                    R53Error::invalid_input(format!("{key} {v:?} is not an IP address"))
                })
            })
            .transpose()
    };
    // The client the answer is chosen for: the subnet's network (its address with the mask
    // applied, as the server reads ECS, RFC 7871 §6), else the resolver.
    let client = match address("edns0clientsubnetip")? {
        Some(ip) => {
            let max = if ip.is_ipv4() { 32 } else { 128 };
            let mask = match query.get("edns0clientsubnetmask") {
                None => max,
                Some(m) => m.parse::<u8>().ok().filter(|m| *m <= max).ok_or_else(|| {
                    R53Error::invalid_input(format!(
                        "EDNS0ClientSubnetMask {m:?} is not 0 to {max}"
                    ))
                })?,
            };
            let net = ipnet::IpNet::new(ip, mask)
                .map_err(|e| R53Error::invalid_input(format!("EDNS0ClientSubnetIP: {e}")))?;
            Some(net.network())
        }
        None => address("resolverip")?,
    };
    let explained =
        state.control.explain(&absolute, &rtype, client.map(|c| c.to_string()).as_deref())?;
    let answer = &explained.explanation;
    let mut doc = Doc::new("TestDNSAnswerResponse");
    doc.leaf("Nameserver", state.control.checker())
        .leaf("RecordName", &absolute)
        .leaf("RecordType", &rtype)
        .open("RecordData");
    for line in &answer.answer {
        // `name TTL class type rdata...`: the record data.
        let rdata: Vec<&str> = line.split_whitespace().skip(4).collect();
        doc.leaf("RecordDataEntry", rdata.join(" "));
    }
    doc.close("RecordData").leaf("ResponseCode", &answer.rcode).leaf("Protocol", "UDP");
    Ok(response(StatusCode::OK, doc.finish("TestDNSAnswerResponse")))
}
