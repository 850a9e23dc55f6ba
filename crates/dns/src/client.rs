//! The few messages Turnout sends as a client: NOTIFY to secondaries (RFC 1996). One
//! datagram out from an ephemeral socket, the reply with the same ID from the same server
//! back, within a deadline.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::UdpSocket;

/// Sends `message` to `server` over UDP and waits up to `wait` for the reply carrying its ID
/// (other datagrams are ignored). Returns the reply.
pub async fn exchange_udp(
    server: SocketAddr,
    message: &[u8],
    wait: Duration,
) -> std::io::Result<Vec<u8>> {
    let local: SocketAddr = if server.is_ipv6() {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(local).await?;
    socket.connect(server).await?;
    socket.send(message).await?;
    let id = message.get(..2).unwrap_or(&[0, 0]).to_vec();
    let mut buf = vec![0u8; 65535];
    tokio::time::timeout(wait, async {
        loop {
            let n = socket.recv(&mut buf).await?;
            if n >= 12 && buf[..2] == id[..] && buf[2] & 0x80 != 0 {
                return Ok(buf[..n].to_vec());
            }
        }
    })
    .await
    .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no reply"))?
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reply with another ID is not the reply; the one with the ID is.
    #[tokio::test]
    async fn waits_for_the_reply_with_its_id() {
        let server = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let addr = server.local_addr().expect("addr");
        let answer = tokio::spawn(async move {
            let mut buf = [0u8; 512];
            let (n, from) = server.recv_from(&mut buf).await.expect("a query");
            let mut stray = buf[..n].to_vec();
            stray[0] ^= 0xff;
            stray[2] |= 0x80;
            server.send_to(&stray, from).await.expect("send");
            let mut reply = buf[..n].to_vec();
            reply[2] |= 0x80;
            server.send_to(&reply, from).await.expect("send");
        });
        let query = [0x12, 0x34, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        let reply = exchange_udp(addr, &query, Duration::from_secs(5)).await.expect("a reply");
        assert_eq!(&reply[..2], &[0x12, 0x34]);
        answer.await.expect("joins");
        let silent = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let r = exchange_udp(silent.local_addr().expect("addr"), &query, Duration::from_millis(50));
        assert!(r.await.is_err(), "no reply in time");
    }
}
