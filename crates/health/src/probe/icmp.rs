//! Icmp checks: one echo request (RFC 792; ICMPv6, RFC 4443 §4.1) answered by an echo reply
//! within the response timeout.
//!
//! The socket is an unprivileged ICMP datagram socket where the kernel allows one
//! (`net.ipv4.ping_group_range` holds the process's group; the kernel then owns the identifier
//! and filters replies), a raw ICMP socket otherwise (root or `CAP_NET_RAW`; every ICMP packet
//! of the host arrives on it, so replies are matched by identifier, sequence and a random
//! payload). A raw socket also sees a destination unreachable that quotes the request, which
//! fails the probe at once as `refused`. Neither socket possible is the checker's own fault
//! (`local`), and the reason says which setting to change.
//!
//! Hand-written rather than a ping crate: the ones on crates.io run a receive task of their own
//! outside the engine's supervised tasks; one echo per probe needs none.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;
use tokio::time::{Instant, timeout};

use super::{FailureClass, ProbeResult};

/// Echo request and reply types, and destination unreachable, for ICMPv4 and ICMPv6.
const ECHO_REQUEST: [u8; 2] = [8, 128];
const ECHO_REPLY: [u8; 2] = [0, 129];
const UNREACHABLE: [u8; 2] = [3, 1];

/// An ICMP socket towards `v6` or v4 addresses, and whether it is raw.
fn open(v6: bool) -> std::io::Result<(Socket, bool)> {
    let (domain, protocol) =
        if v6 { (Domain::IPV6, Protocol::ICMPV6) } else { (Domain::IPV4, Protocol::ICMPV4) };
    match Socket::new(domain, Type::DGRAM, Some(protocol)) {
        Ok(s) => Ok((s, false)),
        Err(dgram) => Socket::new(domain, Type::RAW, Some(protocol)).map(|s| (s, true)).map_err(
            |raw| {
                std::io::Error::new(
                    raw.kind(),
                    format!(
                        "no ICMP socket: an unprivileged one is refused ({dgram}; allow this process's group in net.ipv4.ping_group_range) and a raw one too ({raw}; it needs CAP_NET_RAW)"
                    ),
                )
            },
        ),
    }
}

/// The 16-bit ones' complement sum of RFC 1071.
fn checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// One echo to `addr` from `source` (if given), the reply within `deadline`.
pub(super) async fn probe(
    addr: SocketAddr,
    deadline: Duration,
    source: Option<IpAddr>,
) -> ProbeResult {
    let v6 = addr.is_ipv6();
    let family = usize::from(v6);
    let socket = match open(v6).and_then(|(s, raw)| {
        if let Some(ip) = source {
            s.bind(&SocketAddr::new(ip, 0).into())?;
        }
        s.set_nonblocking(true)?;
        // A datagram-shaped socket: tokio's UDP socket drives its sendto/recvfrom.
        Ok((UdpSocket::from_std(std::net::UdpSocket::from(s))?, raw))
    }) {
        Ok(s) => s,
        Err(e) => return ProbeResult::fail(FailureClass::Local, e.to_string()),
    };
    let (socket, raw) = socket;
    let mut random = [0u8; 20];
    let _fallback = getrandom::fill(&mut random);
    let (ident, seq, token) = (&random[0..2], &random[2..4], &random[4..20]);
    let mut packet = vec![ECHO_REQUEST[family], 0, 0, 0];
    packet.extend_from_slice(ident);
    packet.extend_from_slice(seq);
    packet.extend_from_slice(token);
    // ICMPv6's checksum covers a pseudo-header: the kernel computes it (RFC 3542 §3.1).
    if !v6 {
        let sum = checksum(&packet).to_be_bytes();
        packet[2..4].copy_from_slice(&sum);
    }
    let target = SocketAddr::new(addr.ip(), 0);
    let started = Instant::now();
    let exchange = async {
        socket.send_to(&packet, target).await?;
        let mut buf = [0u8; 1500];
        loop {
            let (n, from) = socket.recv_from(&mut buf).await?;
            let mut icmp = &buf[..n];
            // A raw IPv4 socket hands over the IP header too (its length in the first byte).
            if raw && !v6 {
                let header = usize::from(icmp.first().copied().unwrap_or(0) & 0x0f) * 4;
                icmp = icmp.get(header..).unwrap_or_default();
            }
            if icmp.len() < 8 {
                continue;
            }
            // The kernel sets a datagram socket's identifier and delivers only its replies.
            let ours = |h: &[u8]| (!raw || &h[4..6] == ident) && &h[6..8] == seq;
            if icmp[0] == ECHO_REPLY[family] && from.ip() == addr.ip() && ours(icmp) {
                if icmp.get(8..24) == Some(token) {
                    return Ok(None);
                }
            } else if raw && icmp[0] == UNREACHABLE[family] {
                // The quoted request: its IP header, then its first 8 bytes (RFC 792, RFC 4443).
                let inner = &icmp[8..];
                let header = if v6 {
                    40
                } else {
                    usize::from(inner.first().copied().unwrap_or(0) & 0x0f) * 4
                };
                if let Some(quoted) = inner.get(header..header + 8)
                    && quoted[0] == ECHO_REQUEST[family]
                    && ours(quoted)
                {
                    return Ok(Some((icmp[1], from.ip())));
                }
            }
        }
    };
    match timeout(deadline, exchange).await {
        Err(_) => ProbeResult::fail(
            FailureClass::ResponseTimeout,
            format!("no echo reply from {} within {deadline:?}", addr.ip()),
        ),
        Ok(Err(e)) => ProbeResult::fail(
            FailureClass::of_io(&e, FailureClass::Refused),
            format!("Echo request to {}: {e}", addr.ip()),
        ),
        Ok(Ok(Some((code, from)))) => ProbeResult::fail(
            FailureClass::Refused,
            format!("{from} says {} is unreachable (ICMP code {code})", addr.ip()),
        ),
        Ok(Ok(None)) => {
            let rtt = started.elapsed();
            let mut r = ProbeResult::succeed(format!(
                "Success: echo reply from {} in {:.1} ms",
                addr.ip(),
                rtt.as_secs_f64() * 1000.0
            ));
            r.first_byte = Some(rtt);
            r
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_checksum_is_rfc_1071s() {
        // RFC 1071 §3's example: the sum of 0001 f203 f4f5 f6f7 is ddf2; its complement 220d.
        assert_eq!(super::checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]), 0x220d);
        // An odd length is padded with a zero byte.
        assert_eq!(super::checksum(&[0x01]), !0x0100);
    }
}
