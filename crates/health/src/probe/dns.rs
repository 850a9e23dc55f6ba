//! Dns checks: one query (RFC 1035 §4) to the endpoint, over UDP or TCP (RFC 7766), judged by
//! its response code and, when the check names one, an expected record among the answers.
//!
//! The query asks without recursion (a check of an authoritative server, as Turnout is) with
//! EDNS0 and a 1,232-byte UDP size (RFC 6891). A response must carry the query's id and
//! question (RFC 5452 §4.3); a truncated UDP response is asked again over TCP, as a resolver
//! would (RFC 7766 §5). Messages are built and parsed by hickory-proto.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_proto::op::{Edns, Message, Query};
use hickory_proto::rr::{Name as HName, RecordType};
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder, NameEncoding};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::{Instant, timeout};
use turnout_model::Rdata;
use turnout_model::health::{DnsQuery, rcode_name};

use super::{FailureClass, ProbeResult};

/// The UDP payload size offered (RFC 6891 §6.2.5; the DNS flag day 2020 value).
const UDP_SIZE: u16 = 1232;

/// The query message of `q`, with its id.
fn query(q: &DnsQuery) -> Result<(u16, Vec<u8>), ProbeResult> {
    let name = HName::from_ascii(q.name.to_string()).map_err(|e| {
        ProbeResult::fail(FailureClass::Protocol, format!("cannot ask {}: {e}", q.name))
    })?;
    let mut m = Message::query();
    m.metadata.recursion_desired = false;
    m.add_query(Query::query(name, RecordType::from(q.rtype.0)));
    let mut edns = Edns::new();
    edns.set_max_payload(UDP_SIZE);
    m.set_edns(edns);
    let wire = m.to_vec().map_err(|e| {
        ProbeResult::fail(FailureClass::Protocol, format!("cannot build the query: {e}"))
    })?;
    Ok((m.metadata.id, wire))
}

/// The check over UDP from `source` (if given): one datagram, the answer within `deadline`; a
/// truncated answer is asked again over TCP within the same deadline.
pub(super) async fn over_udp(
    q: &DnsQuery,
    addr: SocketAddr,
    deadline: Duration,
    source: Option<IpAddr>,
) -> ProbeResult {
    let (id, wire) = match query(q) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let bind = match (source, addr) {
        (Some(ip), _) => SocketAddr::new(ip, 0),
        (None, SocketAddr::V4(_)) => SocketAddr::from(([0, 0, 0, 0], 0)),
        (None, SocketAddr::V6(_)) => SocketAddr::from(([0u16; 8], 0)),
    };
    let started = Instant::now();
    let socket = match UdpSocket::bind(bind).await {
        Ok(s) => s,
        Err(e) => {
            let class = FailureClass::of_io(&e, FailureClass::Local);
            return ProbeResult::fail(class, format!("cannot open a UDP socket: {e}"));
        }
    };
    // Connected, so that only the server's datagrams arrive and an ICMP port unreachable
    // comes back as ECONNREFUSED.
    if let Err(e) = socket.connect(addr).await {
        let class = FailureClass::of_io(&e, FailureClass::Refused);
        return ProbeResult::fail(class, format!("Query to {addr}: {e}"));
    }
    let exchange = async {
        socket.send(&wire).await?;
        let mut buf = vec![0u8; usize::from(UDP_SIZE)];
        loop {
            let n = socket.recv(&mut buf).await?;
            // Datagrams that are not the answer (another id) are ignored, as RFC 5452 §9.1
            // advises, until the deadline.
            if n >= 2 && u16::from_be_bytes([buf[0], buf[1]]) == id {
                return Ok::<_, std::io::Error>(buf[..n].to_vec());
            }
        }
    };
    let response = match timeout(deadline, exchange).await {
        Err(_) => {
            return ProbeResult::fail(
                FailureClass::ResponseTimeout,
                format!("no DNS response from {addr} within {deadline:?}"),
            );
        }
        Ok(Err(e)) => {
            let class = FailureClass::of_io(&e, FailureClass::Refused);
            return ProbeResult::fail(class, format!("Query to {addr}: {e}"));
        }
        Ok(Ok(r)) => r,
    };
    let first_byte = started.elapsed();
    let message = match parse(q, id, &response) {
        Ok(m) => m,
        Err(r) => return r,
    };
    if message.metadata.truncation {
        let left = deadline.saturating_sub(started.elapsed());
        let retry = async {
            let stream = super::connect(addr, source).await.map_err(|e| {
                ProbeResult::fail(
                    FailureClass::of_io(&e, FailureClass::Refused),
                    format!("the UDP answer was truncated, and TCP to {addr}: {e}"),
                )
            })?;
            Ok::<_, ProbeResult>(over_tcp(q, stream, left, started).await)
        };
        return match timeout(left, retry).await {
            Err(_) => ProbeResult::fail(
                FailureClass::ResponseTimeout,
                format!("the UDP answer was truncated and TCP did not answer within {deadline:?}"),
            ),
            Ok(Err(r) | Ok(r)) => r,
        };
    }
    let mut r = judge(q, &message);
    r.first_byte = Some(first_byte);
    r
}

/// The check over a connected TCP stream (RFC 1035 §4.2.2 framing), the answer within
/// `deadline`; `started` is when connecting began.
pub(super) async fn over_tcp(
    q: &DnsQuery,
    mut stream: TcpStream,
    deadline: Duration,
    started: Instant,
) -> ProbeResult {
    let (id, wire) = match query(q) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let exchange = async {
        let mut framed = Vec::with_capacity(wire.len() + 2);
        framed.extend_from_slice(&u16::try_from(wire.len()).unwrap_or(u16::MAX).to_be_bytes());
        framed.extend_from_slice(&wire);
        stream.write_all(&framed).await?;
        let len = stream.read_u16().await?;
        let mut buf = vec![0u8; usize::from(len)];
        stream.read_exact(&mut buf).await?;
        Ok::<_, std::io::Error>(buf)
    };
    let response = match timeout(deadline, exchange).await {
        Err(_) => {
            return ProbeResult::fail(
                FailureClass::ResponseTimeout,
                format!("no DNS response over TCP within {deadline:?}"),
            );
        }
        Ok(Err(e)) => {
            return ProbeResult::fail(
                FailureClass::of_io(&e, FailureClass::Protocol),
                format!("DNS over TCP: {e}"),
            );
        }
        Ok(Ok(r)) => r,
    };
    let first_byte = started.elapsed();
    let mut r = match parse(q, id, &response) {
        Ok(m) => judge(q, &m),
        Err(r) => r,
    };
    r.first_byte = Some(first_byte);
    r
}

/// The response, if it is one to this query.
fn parse(q: &DnsQuery, id: u16, response: &[u8]) -> Result<Message, ProbeResult> {
    let m = Message::from_vec(response).map_err(|e| {
        ProbeResult::fail(FailureClass::Protocol, format!("the DNS response does not parse: {e}"))
    })?;
    let asked = m.queries.first().is_some_and(|x| {
        u16::from(x.query_type()) == q.rtype.0
            && x.name().to_ascii().eq_ignore_ascii_case(&q.name.to_string())
    });
    if m.metadata.id != id || m.queries.len() != 1 || !asked {
        return Err(ProbeResult::fail(
            FailureClass::Protocol,
            "the DNS response answers another query (its id or question differs)",
        ));
    }
    Ok(m)
}

/// The verdict on a response to this query: the expected rcode, then the expected answer.
fn judge(q: &DnsQuery, m: &Message) -> ProbeResult {
    let rcode = u16::from(m.metadata.response_code);
    if rcode != q.rcode {
        return ProbeResult::fail(
            FailureClass::BadStatus,
            format!("DNS rcode {}, expected {}", rcode_name(rcode), rcode_name(q.rcode)),
        );
    }
    let answers: Vec<Rdata> = m
        .answers
        .iter()
        .filter(|r| u16::from(r.record_type()) == q.rtype.0)
        .filter_map(|r| {
            let mut wire = Vec::new();
            let mut enc = BinEncoder::new(&mut wire);
            enc.set_name_encoding(NameEncoding::Uncompressed);
            r.data.emit(&mut enc).ok()?;
            Rdata::from_wire(q.rtype, &wire).ok()
        })
        .collect();
    let Some(expected) = &q.answer else {
        return ProbeResult::succeed(format!(
            "Success: DNS rcode {} with {} {} answer(s)",
            rcode_name(rcode),
            answers.len(),
            q.rtype
        ));
    };
    if answers.contains(expected) {
        return ProbeResult::succeed(format!(
            "Success: DNS rcode {}, {} is among the answers",
            rcode_name(rcode),
            expected.display(q.rtype)
        ));
    }
    let seen: Vec<String> =
        answers.iter().take(5).map(|a| a.display(q.rtype).to_string()).collect();
    ProbeResult::fail(
        FailureClass::NoMatch,
        format!(
            "{} is not among the {} {} answer(s) [{}]",
            expected.display(q.rtype),
            answers.len(),
            q.rtype,
            seen.join(", ")
        ),
    )
}
