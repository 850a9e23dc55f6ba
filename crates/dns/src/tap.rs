//! Copies of queries and replies for operators' collectors: **dnstap** (the Frame Streams
//! format of Knot, BIND, Unbound and CoreDNS: AUTH_QUERY and AUTH_RESPONSE messages) to a unix
//! socket or a file, and a **JSON-lines query log** (docs/observability.md#dnstap-and-the-query-log).
//!
//! The query path only decides whether a query is sampled (one random draw), copies the query
//! and its reply into a message, and offers it to a bounded queue without waiting: when the
//! queue is full (the writer or its collector is slow, or a socket collector is away) the
//! message is dropped and counted. One writer thread per output encodes and writes; it owns
//! the file or the connection, reconnects to a socket collector every second while it is away,
//! and writes whatever is queued before it stops.

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::encode::Transport;

/// Where an output writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sink {
    /// Append to a file (created if missing).
    File(PathBuf),
    /// Connect to a collector's unix socket (bidirectional Frame Streams for dnstap).
    Socket(PathBuf),
}

impl std::fmt::Display for Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Sink::File(p) => write!(f, "file {}", p.display()),
            Sink::Socket(p) => write!(f, "socket {}", p.display()),
        }
    }
}

/// What an output writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// dnstap protobuf messages in Frame Streams.
    Dnstap,
    /// One JSON object per line.
    QueryLog,
}

impl Format {
    /// Its name in metrics and logs.
    pub fn name(self) -> &'static str {
        match self {
            Format::Dnstap => "dnstap",
            Format::QueryLog => "query_log",
        }
    }
}

/// One output's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct TapConfig {
    /// dnstap or the query log.
    pub format: Format,
    /// Where it goes.
    pub sink: Sink,
    /// The share of queries written, 0 to 1.
    pub sample: f64,
    /// Messages waiting for the writer at most; more are dropped.
    pub queue: usize,
    /// dnstap's `identity` (the node's name) and `version` fields.
    pub identity: String,
    /// dnstap's `version` field.
    pub version: String,
}

/// One query (and its reply), as the writer gets it.
struct Event {
    /// The query, then the reply.
    bytes: Vec<u8>,
    query_len: usize,
    /// Whether there was a reply.
    replied: bool,
    client: SocketAddr,
    server: SocketAddr,
    transport: Transport,
    rcode: u16,
    query_time: Duration,
    reply_time: Duration,
}

/// An output: the query path's side.
pub struct Tap {
    format: Format,
    /// A query is written when a random u32 is below this (`u32::MAX`: every one).
    threshold: u32,
    every: bool,
    tx: SyncSender<Event>,
    /// Messages written, and dropped (queue full, output away).
    pub(crate) written: std::sync::Arc<AtomicU64>,
    pub(crate) dropped: std::sync::Arc<AtomicU64>,
}

impl std::fmt::Debug for Tap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tap").field("format", &self.format).finish_non_exhaustive()
    }
}

/// The time since the Unix epoch.
#[inline]
pub(crate) fn now() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
}

impl Tap {
    /// Starts the writer thread of `config`; it runs until the returned [`Tap`] (every clone
    /// of its sender) is dropped, then writes what is queued, closes the output and ends.
    /// Fails only if the thread cannot start; an output that cannot be opened yet is retried.
    pub fn start(config: TapConfig) -> io::Result<(Tap, std::thread::JoinHandle<()>)> {
        let (tx, rx) = std::sync::mpsc::sync_channel(config.queue.max(1));
        let written = std::sync::Arc::new(AtomicU64::new(0));
        let dropped = std::sync::Arc::new(AtomicU64::new(0));
        let sample = config.sample.clamp(0.0, 1.0);
        let tap = Tap {
            format: config.format,
            threshold: (sample * f64::from(u32::MAX)) as u32,
            every: sample >= 1.0,
            tx,
            written: written.clone(),
            dropped: dropped.clone(),
        };
        let name = format!("dns-{}", config.format.name().replace('_', "-"));
        let writer = Writer { config, written, dropped, out: None, retry_at: None };
        let thread = std::thread::Builder::new().name(name).spawn(move || writer.run(rx))?;
        Ok((tap, thread))
    }

    /// Which output this is.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Messages written and dropped so far.
    pub fn counts(&self) -> (u64, u64) {
        (self.written.load(Ordering::Relaxed), self.dropped.load(Ordering::Relaxed))
    }

    /// Whether this query is one of the sample (one random draw; none at a rate of 1).
    #[inline]
    pub(crate) fn sampled(&self) -> bool {
        self.every || fastrand::u32(..) < self.threshold
    }

    /// Offers a sampled exchange to the writer; never waits.
    fn offer(&self, x: &Exchange<'_>) {
        let mut bytes = Vec::with_capacity(x.query.len() + x.reply.len());
        bytes.extend_from_slice(x.query);
        bytes.extend_from_slice(x.reply);
        let event = Event {
            bytes,
            query_len: x.query.len(),
            replied: !x.reply.is_empty(),
            client: x.client,
            server: x.server,
            transport: x.transport,
            rcode: x.rcode,
            query_time: x.query_time,
            reply_time: now(),
        };
        let messages = messages(self.format, event.replied);
        match self.tx.try_send(event) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(messages, Ordering::Relaxed);
            }
        }
    }
}

/// The messages an exchange makes: dnstap's AUTH_QUERY and (with a reply) AUTH_RESPONSE, or
/// one query-log line.
fn messages(format: Format, replied: bool) -> u64 {
    match format {
        Format::Dnstap => 1 + u64::from(replied),
        Format::QueryLog => 1,
    }
}

/// A query and its reply, as a UDP worker or a TCP connection hands them to [`Taps::record`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Exchange<'a> {
    pub(crate) query: &'a [u8],
    /// Empty: no reply was sent.
    pub(crate) reply: &'a [u8],
    /// The reply's RCODE (extended RCODEs included).
    pub(crate) rcode: u16,
    pub(crate) client: SocketAddr,
    /// The listener's address.
    pub(crate) server: SocketAddr,
    pub(crate) transport: Transport,
    /// When the query was read (since the Unix epoch).
    pub(crate) query_time: Duration,
}

/// Every output of a server.
#[derive(Debug, Default)]
pub struct Taps(pub Vec<Tap>);

impl Taps {
    /// Whether there is any output.
    #[inline]
    pub fn any(&self) -> bool {
        !self.0.is_empty()
    }

    /// Offers an exchange to every output that samples it.
    #[inline]
    pub(crate) fn record(&self, x: Exchange<'_>) {
        for tap in &self.0 {
            if tap.sampled() {
                tap.offer(&x);
            }
        }
    }
}

/// The Frame Streams content type of dnstap.
const CONTENT_TYPE: &[u8] = b"protobuf:dnstap.Dnstap";
/// Frame Streams control frame types.
const ACCEPT: u32 = 1;
const START: u32 = 2;
const STOP: u32 = 3;
const READY: u32 = 4;
const FINISH: u32 = 5;
/// The control field that carries a content type.
const FIELD_CONTENT_TYPE: u32 = 1;

/// How long the writer waits for a socket collector's handshake.
const HANDSHAKE: Duration = Duration::from_secs(2);
/// How often a writer whose output is away tries again.
const RETRY: Duration = Duration::from_secs(1);
/// How often the writer flushes when messages trickle.
const FLUSH: Duration = Duration::from_millis(500);

enum Output {
    File(io::BufWriter<std::fs::File>),
    Socket(io::BufWriter<UnixStream>),
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Output::File(w) => w.write(buf),
            Output::Socket(w) => w.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Output::File(w) => w.flush(),
            Output::Socket(w) => w.flush(),
        }
    }
}

struct Writer {
    config: TapConfig,
    written: std::sync::Arc<AtomicU64>,
    dropped: std::sync::Arc<AtomicU64>,
    out: Option<Output>,
    retry_at: Option<Instant>,
}

impl Writer {
    fn run(mut self, rx: Receiver<Event>) {
        let mut scratch = Vec::with_capacity(1024);
        let mut message = Vec::with_capacity(1024);
        // Written out at least every FLUSH, however the messages come: a trickle that never
        // leaves the queue empty for FLUSH must not sit in the buffer.
        let mut flushed = Instant::now();
        loop {
            match rx.recv_timeout(FLUSH) {
                Ok(event) => self.write_event(&event, &mut scratch, &mut message),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            if flushed.elapsed() >= FLUSH {
                self.flush();
                flushed = Instant::now();
            }
        }
        self.close();
    }

    /// Opens the output when it is not open and it is time to try.
    fn ensure_open(&mut self) -> bool {
        if self.out.is_some() {
            return true;
        }
        if self.retry_at.is_some_and(|t| Instant::now() < t) {
            return false;
        }
        match self.open() {
            Ok(out) => {
                tracing::info!("{} writing to {}", self.config.format.name(), self.config.sink);
                self.out = Some(out);
                self.retry_at = None;
                true
            }
            Err(e) => {
                if self.retry_at.is_none() {
                    tracing::warn!(
                        "{} cannot write to {}: {e}; dropping messages, retrying every {}s",
                        self.config.format.name(),
                        self.config.sink,
                        RETRY.as_secs()
                    );
                }
                self.retry_at = Some(Instant::now() + RETRY);
                false
            }
        }
    }

    fn open(&self) -> io::Result<Output> {
        let dnstap = self.config.format == Format::Dnstap;
        let mut out = match &self.config.sink {
            Sink::File(path) => {
                let file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
                Output::File(io::BufWriter::with_capacity(64 * 1024, file))
            }
            Sink::Socket(path) => {
                let mut stream = UnixStream::connect(path)?;
                if dnstap {
                    // Bidirectional Frame Streams: READY, the collector's ACCEPT, then START.
                    stream.set_read_timeout(Some(HANDSHAKE))?;
                    stream.write_all(&control_frame(READY))?;
                    let (kind, types) = read_control(&mut stream)?;
                    if kind != ACCEPT || !types.iter().any(|t| t == CONTENT_TYPE) {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            "the collector did not accept protobuf:dnstap.Dnstap",
                        ));
                    }
                }
                Output::Socket(io::BufWriter::with_capacity(64 * 1024, stream))
            }
        };
        if dnstap {
            out.write_all(&control_frame(START))?;
        }
        Ok(out)
    }

    fn write_event(&mut self, e: &Event, scratch: &mut Vec<u8>, message: &mut Vec<u8>) {
        let messages = messages(self.config.format, e.replied);
        if !self.ensure_open() {
            self.dropped.fetch_add(messages, Ordering::Relaxed);
            return;
        }
        let result = match self.config.format {
            Format::Dnstap => self.write_dnstap(e, scratch, message),
            Format::QueryLog => self.write_log_line(e, message),
        };
        match result {
            Ok(()) => {
                self.written.fetch_add(messages, Ordering::Relaxed);
            }
            Err(err) => {
                self.dropped.fetch_add(messages, Ordering::Relaxed);
                tracing::warn!(
                    "{} writing to {} failed: {err}; reconnecting",
                    self.config.format.name(),
                    self.config.sink
                );
                self.out = None;
                self.retry_at = Some(Instant::now() + RETRY);
            }
        }
    }

    fn write_dnstap(
        &mut self,
        e: &Event,
        scratch: &mut Vec<u8>,
        message: &mut Vec<u8>,
    ) -> io::Result<()> {
        let Some(out) = self.out.as_mut() else { return Ok(()) };
        let (query, reply) = e.bytes.split_at(e.query_len);
        for kind in [AUTH_QUERY, AUTH_RESPONSE] {
            if kind == AUTH_RESPONSE && !e.replied {
                break;
            }
            scratch.clear();
            encode_message(scratch, kind, e, query, reply);
            message.clear();
            pb::bytes(message, 1, self.config.identity.as_bytes());
            pb::bytes(message, 2, self.config.version.as_bytes());
            pb::bytes(message, 14, scratch);
            pb::varint_field(message, 15, 1); // type: MESSAGE
            out.write_all(&(message.len() as u32).to_be_bytes())?;
            out.write_all(message)?;
        }
        Ok(())
    }

    fn write_log_line(&mut self, e: &Event, line: &mut Vec<u8>) -> io::Result<()> {
        let Some(out) = self.out.as_mut() else { return Ok(()) };
        let (query, reply) = e.bytes.split_at(e.query_len);
        line.clear();
        serde_json::to_writer(&mut *line, &LogLine::of(e, query, reply))?;
        line.push(b'\n');
        out.write_all(line)
    }

    fn flush(&mut self) {
        if let Some(out) = self.out.as_mut()
            && let Err(e) = out.flush()
        {
            tracing::warn!(
                "{} flushing to {} failed: {e}; reconnecting",
                self.config.format.name(),
                self.config.sink
            );
            self.out = None;
            self.retry_at = Some(Instant::now() + RETRY);
        }
    }

    /// Writes the end of the stream (dnstap: STOP, and a socket collector's FINISH).
    fn close(&mut self) {
        let Some(mut out) = self.out.take() else { return };
        let result = (|| {
            if self.config.format == Format::Dnstap {
                out.write_all(&control_frame(STOP))?;
            }
            out.flush()?;
            if let Output::Socket(w) = &mut out
                && self.config.format == Format::Dnstap
            {
                let _finish = read_control(w.get_mut());
            }
            Ok::<(), io::Error>(())
        })();
        if let Err(e) = result {
            tracing::warn!(
                "{} closing {} failed: {e}",
                self.config.format.name(),
                self.config.sink
            );
        }
    }
}

/// dnstap `Message.Type` values.
const AUTH_QUERY: u64 = 1;
const AUTH_RESPONSE: u64 = 2;

/// A dnstap `Message` (dnstap.proto) of kind `kind` for `e`.
fn encode_message(buf: &mut Vec<u8>, kind: u64, e: &Event, query: &[u8], reply: &[u8]) {
    pb::varint_field(buf, 1, kind);
    let family = if e.client.is_ipv4() { 1 } else { 2 };
    pb::varint_field(buf, 2, family);
    let protocol = match e.transport {
        Transport::Udp => 1,
        Transport::Tcp => 2,
    };
    pb::varint_field(buf, 3, protocol);
    pb::bytes(buf, 4, &ip_bytes(e.client.ip()));
    pb::bytes(buf, 5, &ip_bytes(e.server.ip()));
    pb::varint_field(buf, 6, u64::from(e.client.port()));
    pb::varint_field(buf, 7, u64::from(e.server.port()));
    pb::varint_field(buf, 8, e.query_time.as_secs());
    pb::fixed32_field(buf, 9, e.query_time.subsec_nanos());
    if kind == AUTH_QUERY {
        pb::bytes(buf, 10, query);
    } else {
        pb::varint_field(buf, 12, e.reply_time.as_secs());
        pb::fixed32_field(buf, 13, e.reply_time.subsec_nanos());
        pb::bytes(buf, 14, reply);
    }
}

fn ip_bytes(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

/// The protobuf wire format, for the few field kinds dnstap uses.
mod pb {
    pub(super) fn varint(buf: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            buf.push((v as u8) | 0x80);
            v >>= 7;
        }
        buf.push(v as u8);
    }

    pub(super) fn varint_field(buf: &mut Vec<u8>, field: u64, v: u64) {
        varint(buf, field << 3);
        varint(buf, v);
    }

    pub(super) fn fixed32_field(buf: &mut Vec<u8>, field: u64, v: u32) {
        varint(buf, (field << 3) | 5);
        buf.extend_from_slice(&v.to_le_bytes());
    }

    pub(super) fn bytes(buf: &mut Vec<u8>, field: u64, data: &[u8]) {
        varint(buf, (field << 3) | 2);
        varint(buf, data.len() as u64);
        buf.extend_from_slice(data);
    }
}

/// A Frame Streams control frame of `kind`, with dnstap's content type unless it is STOP.
fn control_frame(kind: u32) -> Vec<u8> {
    let mut body = kind.to_be_bytes().to_vec();
    if kind != STOP && kind != FINISH {
        body.extend_from_slice(&FIELD_CONTENT_TYPE.to_be_bytes());
        body.extend_from_slice(&(CONTENT_TYPE.len() as u32).to_be_bytes());
        body.extend_from_slice(CONTENT_TYPE);
    }
    let mut frame = 0u32.to_be_bytes().to_vec();
    frame.extend_from_slice(&(body.len() as u32).to_be_bytes());
    frame.extend_from_slice(&body);
    frame
}

/// Reads one control frame: its type and its content types.
fn read_control(r: &mut impl Read) -> io::Result<(u32, Vec<Vec<u8>>)> {
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_owned());
    let mut word = [0u8; 4];
    r.read_exact(&mut word)?;
    if word != [0; 4] {
        return Err(bad("expected a control frame"));
    }
    r.read_exact(&mut word)?;
    let len = u32::from_be_bytes(word) as usize;
    if !(4..=512).contains(&len) {
        return Err(bad("control frame of a bad length"));
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body)?;
    let kind = u32::from_be_bytes([body[0], body[1], body[2], body[3]]);
    let mut types = Vec::new();
    let mut at = 4;
    while at + 8 <= len {
        let field = u32::from_be_bytes([body[at], body[at + 1], body[at + 2], body[at + 3]]);
        let n =
            u32::from_be_bytes([body[at + 4], body[at + 5], body[at + 6], body[at + 7]]) as usize;
        let value = body.get(at + 8..at + 8 + n).ok_or_else(|| bad("truncated control field"))?;
        if field == FIELD_CONTENT_TYPE {
            types.push(value.to_vec());
        }
        at += 8 + n;
    }
    Ok((kind, types))
}

/// One line of the query log.
#[derive(serde::Serialize)]
struct LogLine {
    /// RFC 3339 with microseconds.
    time: String,
    client: SocketAddr,
    server: SocketAddr,
    transport: &'static str,
    id: u16,
    /// Absent when the query could not be decoded.
    #[serde(skip_serializing_if = "Option::is_none")]
    qname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    qtype: Option<String>,
    edns: bool,
    #[serde(rename = "do")]
    dnssec_ok: bool,
    /// Absent when the query got no reply (malformed, or rate limited).
    #[serde(skip_serializing_if = "Option::is_none")]
    rcode: Option<String>,
    size: usize,
    tc: bool,
    /// Microseconds from reading the query to the reply being ready.
    micros: u64,
}

impl LogLine {
    fn of(e: &Event, query: &[u8], reply: &[u8]) -> LogLine {
        let decoded = crate::wire::query::decode(query).ok();
        let qname = decoded
            .as_ref()
            .and_then(|q| turnout_model::Name::from_wire(q.qname.as_wire()).ok())
            .map(|n| n.to_string());
        let edns = decoded.as_ref().and_then(|q| q.edns);
        let rcode = e.replied.then(|| {
            crate::stats::RCODES
                .iter()
                .find(|(c, _)| *c == e.rcode)
                .map_or_else(|| e.rcode.to_string(), |(_, n)| (*n).to_owned())
        });
        let at = UNIX_EPOCH + e.query_time;
        LogLine {
            time: humantime::format_rfc3339_micros(at).to_string(),
            client: e.client,
            server: e.server,
            transport: match e.transport {
                Transport::Udp => "udp",
                Transport::Tcp => "tcp",
            },
            id: query.get(..2).map_or(0, |b| u16::from_be_bytes([b[0], b[1]])),
            qname,
            qtype: decoded.as_ref().map(|q| q.qtype.to_string()),
            edns: edns.is_some(),
            dnssec_ok: edns.is_some_and(|e| e.dnssec_ok),
            rcode,
            size: reply.len(),
            tc: reply.get(2).is_some_and(|b| b & 0x02 != 0),
            micros: e.reply_time.saturating_sub(e.query_time).as_micros() as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protobuf_varints_and_fields_encode_as_the_spec_says() {
        let mut b = Vec::new();
        pb::varint(&mut b, 300);
        assert_eq!(b, [0xAC, 0x02]);
        b.clear();
        pb::varint_field(&mut b, 15, 1);
        assert_eq!(b, [0x78, 0x01]);
        b.clear();
        pb::fixed32_field(&mut b, 9, 1);
        assert_eq!(b, [0x4D, 1, 0, 0, 0]);
        b.clear();
        pb::bytes(&mut b, 14, b"ab");
        assert_eq!(b, [0x72, 2, b'a', b'b']);
    }

    #[test]
    fn control_frames_round_trip() {
        let frame = control_frame(ACCEPT);
        let (kind, types) = read_control(&mut &frame[..]).unwrap();
        assert_eq!((kind, types), (ACCEPT, vec![CONTENT_TYPE.to_vec()]));
        let (kind, types) = read_control(&mut &control_frame(STOP)[..]).unwrap();
        assert_eq!((kind, types.len()), (STOP, 0));
        // Not a control frame, or a lying length: an error, not a panic.
        assert!(read_control(&mut &[0u8, 0, 0, 5, 1, 2, 3, 4][..]).is_err());
        assert!(
            read_control(&mut &[0u8, 0, 0, 0, 0, 0, 0, 12, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 9][..])
                .is_err()
        );
    }
}
