//! The few exchanges Turnout starts as a client: NOTIFY to secondaries (RFC 1996), one
//! datagram out from an ephemeral socket and the reply with the same ID back within a deadline;
//! and zone transfers in from a primary (AXFR, RFC 5936; IXFR, RFC 1995) over TCP, every
//! message checked, with TSIG (RFC 8945).

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

    fn rr(name: &str, rtype: turnout_model::RType, text: &str) -> crate::xfr::Rr {
        let name = turnout_model::Name::parse_absolute(name).expect("a name");
        let rdata = turnout_model::Rdata::from_text(rtype, text, None).expect("rdata");
        crate::xfr::Rr { name, rtype, ttl: 60, rdata }
    }

    fn soa(serial: u32) -> crate::xfr::Rr {
        rr("z.test.", turnout_model::RType::SOA, &format!("ns.z.test. h.z.test. {serial} 1 1 1 1"))
    }

    /// Feeds records one by one as messages would bring them; returns the shape at the end.
    fn walk(records: &[crate::xfr::Rr], ask: &Ask) -> Option<(usize, Shape)> {
        let mut w = Walk::default();
        for (i, r) in records.iter().enumerate() {
            if let Some(shape) = w.step(r, ask).expect("steps") {
                return Some((i + 1, shape));
            }
        }
        None
    }

    /// RFC 1995 §4: the second record says whether an IXFR reply is incremental; the end is the
    /// primary's SOA where a delta would start, not the new SOA inside the last delta.
    #[test]
    fn the_end_of_a_transfer_is_found_where_the_rfcs_put_it() {
        use turnout_model::RType;
        let a = |n: &str| rr(n, RType::A, "192.0.2.1");
        let ixfr = Ask::Ixfr(soa(5));
        let incremental =
            [soa(7), soa(5), a("old.z.test."), soa(6), soa(6), soa(7), a("new.z.test."), soa(7)];
        assert_eq!(walk(&incremental, &ixfr), Some((8, Shape::Incremental)));
        let Received::Incremental(changes) =
            interpret(incremental.to_vec(), Shape::Incremental).expect("reads")
        else {
            panic!("incremental")
        };
        assert_eq!(changes.len(), 2);
        assert_eq!((changes[0].removed.len(), changes[1].added.len()), (1, 1));
        // Cut before the end: not finished.
        assert_eq!(walk(&incremental[..6], &ixfr), None);
        // An IXFR answered with the whole zone, and an AXFR.
        let full = [soa(7), a("a.z.test."), a("b.z.test."), soa(7)];
        assert_eq!(walk(&full, &ixfr), Some((4, Shape::Full)));
        assert_eq!(walk(&full, &Ask::Axfr), Some((4, Shape::Full)));
        // A zone of its SOA alone.
        assert_eq!(walk(&[soa(7), soa(7)], &ixfr), Some((2, Shape::Full)));
        assert!(Walk::default().step(&a("a.z.test."), &Ask::Axfr).is_err(), "no SOA first");
    }
}

/// What a zone transfer asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ask {
    /// The whole zone (RFC 5936).
    Axfr,
    /// The changes since this SOA (RFC 1995): the zone's SOA as this side holds it.
    Ixfr(crate::xfr::Rr),
}

/// One serial change received by IXFR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The SOA before.
    pub from: crate::xfr::Rr,
    /// Records removed.
    pub removed: Vec<crate::xfr::Rr>,
    /// The SOA after.
    pub to: crate::xfr::Rr,
    /// Records added.
    pub added: Vec<crate::xfr::Rr>,
}

/// What a primary sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// The whole zone: its SOA and every other record.
    Full {
        /// The SOA.
        soa: crate::xfr::Rr,
        /// The other records.
        records: Vec<crate::xfr::Rr>,
    },
    /// The changes since the serial asked from, oldest first.
    Incremental(Vec<Change>),
    /// This side is current: the primary's SOA alone.
    UpToDate(crate::xfr::Rr),
}

/// Why a transfer in failed.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    /// The connection failed or timed out.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The primary answered with an error.
    #[error("the primary answered {0}")]
    Rcode(&'static str),
    /// A message could not be read, or does not belong to this transfer.
    #[error("{0}")]
    Malformed(String),
    /// A signature is missing or wrong.
    #[error("TSIG: {0}")]
    Tsig(&'static str),
}

fn malformed(what: impl Into<String>) -> TransferError {
    TransferError::Malformed(what.into())
}

/// The most records one transfer may bring (a zone larger than this is refused, not loaded).
pub const MAX_TRANSFER_RECORDS: usize = 10_000_000;

fn serial(rr: &crate::xfr::Rr) -> Option<u32> {
    turnout_model::Soa::from_rdata(&rr.rdata).map(|s| s.serial)
}

/// Transfers `zone` from `server` over TCP: AXFR, or IXFR from a serial (the primary may
/// answer an IXFR with the whole zone, RFC 1995 §4). Every message is checked: its ID, its
/// question, its RCODE, and with `key` its TSIG (RFC 8945 §5.3.1: the first and the last
/// signed, at most 99 unsigned in a row). The whole exchange has `wait`.
pub async fn transfer_in(
    server: SocketAddr,
    zone: &turnout_model::Name,
    ask: &Ask,
    key: Option<&crate::tsig::Key>,
    wait: Duration,
) -> Result<Received, TransferError> {
    tokio::time::timeout(wait, transfer_in_now(server, zone, ask, key)).await.map_err(|_| {
        std::io::Error::new(std::io::ErrorKind::TimedOut, "the transfer took too long")
    })?
}

async fn transfer_in_now(
    server: SocketAddr,
    zone: &turnout_model::Name,
    ask: &Ask,
    key: Option<&crate::tsig::Key>,
) -> Result<Received, TransferError> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use turnout_model::RType;

    let id = fastrand::u16(..);
    let qtype = match ask {
        Ask::Axfr => RType::AXFR,
        Ask::Ixfr(_) => RType::IXFR,
    };
    let mut request =
        crate::xfr::error_reply(id, 0, Some((zone, qtype, 1)), crate::Rcode::NOERROR, None);
    request[2] = 0; // a query: QR, AA and RCODE clear
    request[3] = 0;
    if let Ask::Ixfr(soa) = ask {
        // RFC 1995 §3: this side's SOA in the authority section.
        request[9] = 1;
        request.extend_from_slice(soa.name.as_wire());
        request.extend_from_slice(&RType::SOA.0.to_be_bytes());
        request.extend_from_slice(&1u16.to_be_bytes());
        request.extend_from_slice(&soa.ttl.to_be_bytes());
        request.extend_from_slice(&(soa.rdata.as_wire().len() as u16).to_be_bytes());
        request.extend_from_slice(soa.rdata.as_wire());
    }
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    };
    let mut verifier = key.map(|k| {
        let mut signer = crate::tsig::Signer::for_request(k.clone(), now());
        signer.sign(&mut request, 0, &[]);
        signer.replies()
    });
    let mut stream = tokio::net::TcpStream::connect(server).await?;
    stream.set_nodelay(true)?;
    let mut framed = (request.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&request);
    stream.write_all(&framed).await?;

    let mut records: Vec<crate::xfr::Rr> = Vec::new();
    let mut walk = Walk::default();
    let mut end = None;
    let mut messages = 0usize;
    let mut buf = Vec::new();
    loop {
        let len = usize::from(stream.read_u16().await?);
        buf.resize(len, 0);
        stream.read_exact(&mut buf).await?;
        messages += 1;
        let m = crate::wire::message::parse(&buf).map_err(|e| malformed(e.to_string()))?;
        if m.id != id || !m.is_response() {
            return Err(malformed("a message that is not a reply to this transfer"));
        }
        if messages == 1 && m.questions.first().is_some_and(|q| &q.name != zone) {
            return Err(malformed("the first message's question is for another zone"));
        }
        if let Some(v) = &mut verifier {
            match &m.tsig {
                Some((record, at)) => {
                    let t = crate::tsig::Tsig::from_record(record)
                        .ok_or(TransferError::Tsig("a TSIG record that cannot be read"))?;
                    v.check(&buf, *at, &t, now()).map_err(|r| TransferError::Tsig(r.name()))?;
                }
                None => v.hold(&buf).map_err(|_| TransferError::Tsig("unsigned messages"))?,
            }
        }
        let rcode = m.rcode();
        if rcode != 0 {
            return Err(TransferError::Rcode(crate::Rcode(rcode).name()));
        }
        for r in &m.answers {
            if end.is_some() {
                return Err(malformed("records after the transfer's last SOA"));
            }
            let rdata = turnout_model::Rdata::from_wire(r.rtype, &r.rdata)
                .map_err(|e| malformed(format!("{} {}: {e}", r.name, r.rtype)))?;
            let rr = crate::xfr::Rr { name: r.name.clone(), rtype: r.rtype, ttl: r.ttl, rdata };
            end = walk.step(&rr, ask)?;
            records.push(rr);
        }
        if records.len() > MAX_TRANSFER_RECORDS {
            return Err(malformed(format!("more than {MAX_TRANSFER_RECORDS} records")));
        }
        // An IXFR answered "current" is the SOA alone, in one message.
        if records.len() == 1 && walk.current(ask) {
            end = Some(Shape::UpToDate);
        }
        if let Some(shape) = end {
            if verifier.as_ref().is_some_and(|v| !v.settled()) {
                return Err(TransferError::Tsig("the last message is not signed"));
            }
            return interpret(records, shape);
        }
    }
}

/// The shape of a transfer, once its end is seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    UpToDate,
    Full,
    Incremental,
}

/// Where a transfer's stream of records is (RFC 5936 §2.2, RFC 1995 §4): after the first SOA,
/// either the whole zone until the SOA comes again, or deltas (an old SOA, removals, a new
/// SOA, additions) until the primary's SOA stands where a delta's old SOA would.
#[derive(Debug, Default)]
struct Walk {
    /// The primary's serial (the first record's).
    top: Option<u32>,
    /// Records seen.
    seen: usize,
    /// Incremental (the second record was an SOA of another serial): SOAs seen after the first.
    soas: Option<usize>,
}

impl Walk {
    /// Takes the next record; returns the shape when it ends the transfer.
    fn step(&mut self, rr: &crate::xfr::Rr, ask: &Ask) -> Result<Option<Shape>, TransferError> {
        use turnout_model::RType;
        self.seen += 1;
        let is_soa = rr.rtype == RType::SOA;
        let Some(top) = self.top else {
            if !is_soa {
                return Err(malformed("the transfer does not start with the zone's SOA"));
            }
            self.top = Some(serial(rr).ok_or_else(|| malformed("an unreadable SOA"))?);
            return Ok(None);
        };
        if !is_soa {
            return Ok(None);
        }
        let this = serial(rr).ok_or_else(|| malformed("an unreadable SOA"))?;
        if self.seen == 2 {
            if matches!(ask, Ask::Ixfr(_)) && this != top {
                self.soas = Some(1);
                return Ok(None);
            }
            return Ok(Some(Shape::Full));
        }
        match &mut self.soas {
            None => Ok(Some(Shape::Full)),
            Some(n) => {
                *n += 1;
                // Odd SOAs open a delta (its old serial); one with the primary's serial there
                // closes the transfer.
                if *n % 2 == 1 && this == top {
                    return Ok(Some(Shape::Incremental));
                }
                Ok(None)
            }
        }
    }

    /// Whether the primary's serial is not after the one asked from.
    fn current(&self, ask: &Ask) -> bool {
        matches!((ask, self.top), (Ask::Ixfr(mine), Some(top)) if serial(mine).is_some_and(|s| !crate::xfr::serial_lt(s, top)))
    }
}

/// Reads the records of a finished transfer of `shape`.
fn interpret(mut records: Vec<crate::xfr::Rr>, shape: Shape) -> Result<Received, TransferError> {
    use turnout_model::RType;
    if shape == Shape::UpToDate {
        return Ok(Received::UpToDate(records.remove(0)));
    }
    records.pop(); // the closing SOA
    let soa = records.remove(0);
    if shape == Shape::Full {
        return Ok(Received::Full { soa, records });
    }
    let mut changes = Vec::new();
    let mut rest = records.into_iter().peekable();
    while let Some(from) = rest.next() {
        let mut removed = Vec::new();
        while rest.peek().is_some_and(|r| r.rtype != RType::SOA) {
            removed.extend(rest.next());
        }
        let to = rest.next().ok_or_else(|| malformed("a delta without its new SOA"))?;
        let mut added = Vec::new();
        while rest.peek().is_some_and(|r| r.rtype != RType::SOA) {
            added.extend(rest.next());
        }
        changes.push(Change { from, removed, to, added });
    }
    if changes.last().map(|c| serial(&c.to)) != Some(serial(&soa)) {
        return Err(malformed("the deltas do not end at the primary's serial"));
    }
    Ok(Received::Incremental(changes))
}
