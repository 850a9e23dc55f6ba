//! Outgoing zone transfers (docs/transfers.md): each zone's transfer settings, the DNS door
//! that answers AXFR (RFC 5936), IXFR (RFC 1995) and TSIG-signed queries (RFC 8945) from the
//! in-memory state, and the task that sends NOTIFY (RFC 1996) to a zone's secondaries on
//! every serial change.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};
use turnout_dns::door::{Door, OPCODE_NOTIFY, OPCODE_UPDATE, Replies};
use turnout_dns::encode::ede;
use turnout_dns::tsig::{self, Refusal, Signer, Tsig};
use turnout_dns::wire::message::{self, Message};
use turnout_dns::xfr::{Packer, error_reply, serial_lt};
use turnout_dns::{Rcode, Transport};
use turnout_model::{Name, RType, Soa};
use turnout_store::Op;

use crate::journal::{self, Delta, NotPlain};
use crate::node::Control;
use crate::tsig_keys::parse_key_name;
use crate::types::{TransferAllow, ZoneMeta, ZoneTransfers};
use crate::views::{CURRENT_ANSWERS, is_current_answers};
use crate::write::{Lane, Plan};
use crate::zones::parse_zone_name;
use crate::{ControlError, invalid, keys, to_json};

/// The most entries of each list in a zone's transfer settings.
pub const MAX_TRANSFER_ENTRIES: usize = 64;

/// The EDE for a refused transfer (RFC 8914 §4.19: Prohibited).
const EDE_PROHIBITED: u16 = 18;

/// A zone's transfer settings, checked: who may transfer, where NOTIFY goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Checked {
    allow: Vec<(Option<Name>, Option<IpNet>)>,
    notify: Vec<SocketAddr>,
    notify_key: Option<Name>,
}

/// Checks transfer settings as written, each field by name.
pub(crate) fn check(t: &ZoneTransfers) -> Result<Checked, ControlError> {
    for (field, len) in [("allow", t.allow.len()), ("notify", t.notify.len())] {
        if len > MAX_TRANSFER_ENTRIES {
            return Err(invalid(field, format!("{len} entries; at most {MAX_TRANSFER_ENTRIES}")));
        }
    }
    let mut allow = Vec::with_capacity(t.allow.len());
    for (i, a) in t.allow.iter().enumerate() {
        let key = match &a.key {
            Some(k) => Some(parse_key_name(k, &format!("allow[{i}].key"))?),
            None => None,
        };
        let prefix = match &a.prefix {
            Some(p) => Some(
                p.trim()
                    .parse::<IpNet>()
                    .or_else(|_| p.trim().parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| {
                        invalid(
                            &format!("allow[{i}].prefix"),
                            format!("{p:?} is not an address or a prefix like 192.0.2.0/24"),
                        )
                    })?
                    .trunc(),
            ),
            None => None,
        };
        if key.is_none() && prefix.is_none() {
            return Err(invalid(&format!("allow[{i}]"), "give a key, a prefix, or both"));
        }
        allow.push((key, prefix));
    }
    let mut notify = Vec::with_capacity(t.notify.len());
    for (i, n) in t.notify.iter().enumerate() {
        notify.push(crate::parse_address(n).ok_or_else(|| {
            invalid(
                &format!("notify[{i}]"),
                format!("{n:?} is not an address, address:port or [v6 address]:port"),
            )
        })?);
    }
    let notify_key = match &t.notify_key {
        Some(k) => Some(parse_key_name(k, "notify_key")?),
        None => None,
    };
    match t.policy_mode.as_deref() {
        None | Some("static" | CURRENT_ANSWERS) => {}
        Some(other) => {
            return Err(invalid(
                "policy_mode",
                format!("{other:?} is neither static nor {CURRENT_ANSWERS}"),
            ));
        }
    }
    Ok(Checked { allow, notify, notify_key })
}

/// The settings in their stored form: names absolute, prefixes in their network form.
fn normalized(t: &ZoneTransfers, c: &Checked) -> ZoneTransfers {
    ZoneTransfers {
        allow: c
            .allow
            .iter()
            .map(|(k, p)| TransferAllow {
                key: k.as_ref().map(ToString::to_string),
                prefix: p.map(|p| p.to_string()),
            })
            .collect(),
        notify: c.notify.iter().map(ToString::to_string).collect(),
        notify_key: c.notify_key.as_ref().map(ToString::to_string),
        policy_mode: t.policy_mode.clone().filter(|m| m != "static"),
    }
}

/// Transfer settings as the node would store them (names absolute, prefixes in network
/// form), or the first field that is wrong: what `turnout apply` compares with the node's.
pub fn normalize_transfers(t: &ZoneTransfers) -> Result<ZoneTransfers, ControlError> {
    check(t).map(|c| normalized(t, &c))
}

impl Checked {
    /// Whether a request from `client`, signed with `key` (verified) or not, may transfer.
    fn allows(&self, client: IpAddr, key: Option<&Name>) -> bool {
        self.allow.iter().any(|(k, p)| {
            k.as_ref().is_none_or(|k| Some(k) == key) && p.is_none_or(|p| p.contains(&client))
        })
    }
}

impl Control {
    /// A zone's transfer settings (none set: nobody may transfer, no NOTIFY).
    pub fn zone_transfers(&self, zone: &str) -> Result<ZoneTransfers, ControlError> {
        let apex = parse_zone_name(zone, "zone")?;
        let st = self.read();
        let entry = st.zones.get(&apex).ok_or(ControlError::NoSuchZone(apex))?;
        Ok(entry.meta.transfers.clone().unwrap_or_default())
    }

    /// Replaces a zone's transfer settings; every key named must exist. Returns them as
    /// stored.
    pub async fn set_zone_transfers(
        &self,
        zone: &str,
        transfers: &ZoneTransfers,
    ) -> Result<ZoneTransfers, ControlError> {
        let apex = parse_zone_name(zone, "zone")?;
        if self.options().static_zones.contains(&apex) {
            return Err(ControlError::ZoneFromFile(apex));
        }
        let checked = check(transfers)?;
        let stored = normalized(transfers, &checked);
        let named: Vec<(String, Name)> = checked
            .allow
            .iter()
            .enumerate()
            .filter_map(|(i, (k, _))| k.clone().map(|k| (format!("allow[{i}].key"), k)))
            .chain(checked.notify_key.clone().map(|k| ("notify_key".to_owned(), k)))
            .collect();
        let value = stored.clone();
        self.write(Lane::Config, |st, reads| {
            reads.object(keys::zone(&apex));
            let entry =
                st.zones.get(&apex).ok_or_else(|| ControlError::NoSuchZone(apex.clone()))?;
            for (field, key) in &named {
                reads.object(keys::tsig_key(key));
                if !st.tsig_keys.contains_key(key) {
                    return Err(invalid(field, format!("no TSIG key {key}")));
                }
            }
            let empty = value == ZoneTransfers::default();
            let meta =
                ZoneMeta { transfers: (!empty).then(|| value.clone()), ..entry.meta.clone() };
            Ok(Plan::Write { ops: vec![Op::put(keys::zone(&apex), to_json(&meta))], value: () })
        })
        .await?;
        Ok(stored)
    }

    /// Answers a message the DNS answer path handed over (see [`TransferDoor`]).
    pub async fn door_message(
        &self,
        raw: &[u8],
        client: SocketAddr,
        transport: Transport,
    ) -> Vec<Vec<u8>> {
        let Ok(msg) = message::parse(raw) else {
            return formerr(raw);
        };
        if msg.is_response() {
            return Vec::new();
        }
        let question = msg.questions.first().map(|q| (&q.name, q.qtype, q.qclass));
        // RFC 6891 §7: an OPT (and so an Extended DNS Error) only to a query that had one.
        let reply = |rcode, why: Option<(u16, &str)>| {
            vec![error_reply(
                msg.id,
                msg.opcode(),
                question,
                rcode,
                why.filter(|_| msg.opt.is_some()),
            )]
        };
        // Until the configuration is loaded the door knows no key, zone or ACL: "not ready"
        // (RFC 8914 §4.15), which a secondary tries again, not a BADKEY or REFUSED it reports.
        if self.served_revision().is_none() {
            return reply(
                Rcode::SERVFAIL,
                Some((ede::NOT_READY, "the configuration is not loaded yet")),
            );
        }
        let now = unix_now();
        // RFC 8945 §5.2: check the signature first; a failure is answered without looking
        // further.
        let mut signer: Option<Signer> = None;
        let mut key_name = None;
        if let Some((record, at)) = &msg.tsig {
            let Some(t) = Tsig::from_record(record) else {
                self.door_counts().tsig_refused.add(("FORMERR", ""));
                return reply(Rcode::FORMERR, None);
            };
            let key = self.read().tsig_keys.get(&t.key).and_then(crate::types::TsigKeyRecord::key);
            match tsig::verify_request(raw, *at, &t, key.as_ref(), now) {
                Ok(()) => {
                    key_name = Some(t.key.clone());
                    signer = key.map(|k| Signer::new(k, &t.mac, now));
                }
                Err(refusal) => {
                    self.door_counts().tsig_refused.add((refusal.name(), ""));
                    debug!("TSIG from {client} refused: {} (key {})", refusal.name(), t.key);
                    return tsig_refusal(&msg, &t, refusal, key, now);
                }
            }
        }
        let mut replies = match (msg.opcode(), question) {
            (0, Some((_, RType::AXFR | RType::IXFR, _))) if msg.questions.len() == 1 => {
                let room = signer.as_ref().map_or(0, Signer::room);
                self.transfer(&msg, client.ip(), key_name.as_ref(), transport, room)
            }
            (0, Some(_)) if signer.is_some() && msg.questions.len() == 1 => {
                let room = signer.as_ref().map_or(0, Signer::room);
                self.signed_query(raw, &msg, client.ip(), transport, room)
            }
            // RFC 1996 §3.7: NOTIFY names the zone's SOA.
            (OPCODE_NOTIFY, Some((zone, RType::SOA, _))) => {
                match self.notify_in(zone, client.ip(), key_name.as_ref()) {
                    Ok(()) => {
                        self.door_counts().notify_received.add(("accepted", ""));
                        let mut m =
                            error_reply(msg.id, OPCODE_NOTIFY, question, Rcode::NOERROR, None);
                        m[2] |= 0x04; // AA (RFC 1996 §4.7)
                        vec![m]
                    }
                    Err((rcode, why)) => {
                        self.door_counts().notify_received.add(("refused", ""));
                        info!("NOTIFY for {zone} from {client} refused: {why}");
                        let code =
                            if rcode == Rcode::REFUSED { EDE_PROHIBITED } else { ede::OTHER };
                        reply(rcode, Some((code, why)))
                    }
                }
            }
            (OPCODE_UPDATE, _) => {
                let by = key_name.as_ref().map_or("no key".to_owned(), |k| format!("key {k}"));
                match self.update(&msg, key_name.as_ref(), client).await {
                    Ok(change) => {
                        self.door_counts().updates.add(("NOERROR", ""));
                        if let Some(id) = change {
                            info!("RFC 2136 update from {client} ({by}) committed as change {id}");
                        }
                        reply(Rcode::NOERROR, None)
                    }
                    Err(r) => {
                        self.door_counts().updates.add((r.rcode.name(), ""));
                        info!(
                            "RFC 2136 update from {client} ({by}) not applied: {} ({})",
                            r.rcode.name(),
                            r.why
                        );
                        reply(r.rcode, Some((ede::OTHER, &r.why)))
                    }
                }
            }
            (0, _) => reply(Rcode::FORMERR, None),
            _ => reply(Rcode::NOTIMP, None),
        };
        if let Some(mut signer) = signer {
            for m in &mut replies {
                signer.sign(m, 0, &[]);
            }
        }
        replies
    }

    /// An ordinary query that came signed: answered from the served snapshot as any query,
    /// then signed (the caller signs).
    fn signed_query(
        &self,
        raw: &[u8],
        msg: &Message,
        client: IpAddr,
        transport: Transport,
        room: usize,
    ) -> Vec<Vec<u8>> {
        let Some((_, tsig_at)) = &msg.tsig else { return Vec::new() };
        let mut unsigned = raw[..*tsig_at].to_vec();
        let ar = u16::from_be_bytes([unsigned[10], unsigned[11]]).saturating_sub(1);
        unsigned[10..12].copy_from_slice(&ar.to_be_bytes());
        let Some(handle) = self.snapshots() else {
            return vec![error_reply(msg.id, 0, None, Rcode::SERVFAIL, None)];
        };
        let limit =
            match transport {
                Transport::Tcp => turnout_dns::encode::TCP_LIMIT,
                Transport::Udp => usize::from(msg.opt.map_or(512, |(size, _)| {
                    size.clamp(512, turnout_dns::encode::EDNS_UDP_PAYLOAD)
                })),
            };
        let mut out = vec![0u8; turnout_dns::encode::TCP_LIMIT];
        let snap = handle.load();
        let Some(n) = turnout_dns::respond(&snap, &unsigned, transport, Some(client), &mut out)
        else {
            return Vec::new();
        };
        if n < 12 {
            return Vec::new();
        }
        if n + room <= limit {
            return vec![out[..n].to_vec()];
        }
        // The signed reply would not fit the datagram: the header and question with TC, so
        // the client asks again over TCP (RFC 2181 §9).
        let q = msg.questions.first().map(|q| (&q.name, q.qtype, q.qclass));
        let mut truncated = error_reply(msg.id, 0, q, Rcode(u16::from(out[3] & 0xF)), None);
        truncated[2] |= out[2] & 0x05 | 0x02; // AA and RD as answered, and TC
        truncated[3] = out[3] & 0xF0 | truncated[3] & 0x0F;
        vec![truncated]
    }

    /// AXFR or IXFR of one zone, if this client (and key) may.
    fn transfer(
        &self,
        msg: &Message,
        client: IpAddr,
        key: Option<&Name>,
        transport: Transport,
        room: usize,
    ) -> Vec<Vec<u8>> {
        let q = &msg.questions[0];
        let reply = |rcode, why: Option<(u16, &str)>| {
            let why = why.filter(|_| msg.opt.is_some());
            vec![error_reply(msg.id, 0, Some((&q.name, q.qtype, q.qclass)), rcode, why)]
        };
        if q.qtype == RType::AXFR && transport == Transport::Udp {
            // RFC 5936 §4.2: AXFR is a TCP exchange.
            return reply(
                Rcode::REFUSED,
                Some((ede::NOT_SUPPORTED, "AXFR is served over TCP only")),
            );
        }
        if self.options().static_zones.contains(&q.name) {
            return reply(
                Rcode::REFUSED,
                Some((ede::NOT_SUPPORTED, "zones from zone files are not transferred")),
            );
        }
        let (source, client_serial, signer) = {
            let st = self.read();
            let Some(entry) = st.zones.get(&q.name) else {
                return reply(Rcode::NOTAUTH, Some((ede::NOT_AUTHORITATIVE, "no such zone here")));
            };
            let allowed = entry
                .meta
                .transfers
                .as_ref()
                .and_then(|t| check(t).ok())
                .is_some_and(|c| c.allows(client, key));
            if !allowed || q.qclass != 1 {
                debug!(
                    "{} of {} refused to {client}{}",
                    q.qtype,
                    q.name,
                    key.map(|k| format!(" (key {k})")).unwrap_or_default()
                );
                let kind = if q.qtype == RType::AXFR { "AXFR" } else { "IXFR" };
                self.door_counts().transfers.add((kind, "refused"));
                return reply(
                    Rcode::REFUSED,
                    Some((EDE_PROHIBITED, "zone transfer not allowed to this client or key")),
                );
            }
            // RFC 1995 §3: the client's SOA is in the authority section.
            let client_serial = match q.qtype {
                RType::IXFR => match ixfr_serial(msg) {
                    Some(s) => Some(s),
                    None => return reply(Rcode::FORMERR, None),
                },
                _ => None,
            };
            let source = if is_current_answers(&entry.meta) {
                Source::View
            } else {
                let Some(zone) = st.records.get(&q.name).cloned() else {
                    return reply(Rcode::SERVFAIL, None);
                };
                let deltas: Option<Vec<Delta>> = client_serial.and_then(|s| {
                    st.journals.get(&q.name).and_then(|j| j.since(s)).map(|d| d.cloned().collect())
                });
                Source::Static(zone, deltas)
            };
            // A signed zone goes out signed, whole (docs/dnssec.md).
            let now = crate::signing::unix_now();
            let signer = st.dnssec.get(&q.name).and_then(|r| r.signer(&q.name, now).ok());
            (source, client_serial, signer.filter(turnout_dns::dnssec::ZoneSigner::signs))
        };
        let (soa, deltas, view) = match source {
            Source::Static(zone, deltas) => match journal::zone_soa(&zone) {
                Ok(soa) => (soa, deltas, Err(zone)),
                Err(NotPlain::NoSoa) => return reply(Rcode::SERVFAIL, None),
                Err(NotPlain::Policy(set)) => {
                    let why = format!(
                        "the zone has routing policies ({set}); its transfer policy_mode is static"
                    );
                    return reply(Rcode::REFUSED, Some((ede::NOT_SUPPORTED, &why)));
                }
            },
            Source::View => {
                let Some(view) = self.views().get(&q.name) else {
                    let why = "the zone's current answers are not recorded yet; ask again";
                    return reply(Rcode::SERVFAIL, Some((ede::NOT_READY, why)));
                };
                let deltas =
                    client_serial.and_then(|s| self.views().since(&q.name, s, view.serial));
                (view.soa.clone(), deltas, Ok(view))
            }
        };
        let current = journal::serial_of(&soa).unwrap_or(0);
        let mut p = Packer::new(msg.id, &q.name, q.qtype, q.qclass);
        if transport == Transport::Udp {
            let limit = msg.opt.map_or(512, |(size, _)| usize::from(size).clamp(512, 1232));
            p = p.with_limit(limit.saturating_sub(room).max(256));
        }
        let counts = &self.door_counts().transfers;
        let kind = if q.qtype == RType::AXFR { "AXFR" } else { "IXFR" };
        let up_to_date = client_serial.is_some_and(|s| !serial_lt(s, current));
        if up_to_date {
            counts.add((kind, "up_to_date"));
            p.push(&soa);
            return p.finish();
        }
        // Every record goes in, or the transfer is not sent: a secondary must never load part
        // of a zone.
        let mut complete = p.push(&soa);
        let deltas = deltas
            .filter(|d| d.last().is_some_and(|d| journal::serial_of(&d.to) == Some(current)))
            // The journal holds no signatures: a signed zone's IXFR is the whole zone.
            .filter(|_| signer.is_none());
        counts.add((kind, if deltas.is_some() { "incremental" } else { "full" }));
        match deltas {
            Some(deltas) => {
                for d in &deltas {
                    complete &= p.push(&d.from);
                    complete &= d.removed.iter().all(|r| p.push(r));
                    complete &= p.push(&d.to);
                    complete &= d.added.iter().all(|r| p.push(r));
                }
            }
            None => {
                // The whole zone: AXFR, or an IXFR the journal cannot answer (RFC 1995 §4).
                let rest = match &view {
                    Ok(view) => view.records(),
                    Err(zone) => match journal::zone_records(zone) {
                        Ok((_, rest)) => rest,
                        Err(_) => return reply(Rcode::SERVFAIL, None),
                    },
                };
                let rest = match &signer {
                    Some(signer) => turnout_dns::signed_transfer::sign_zone(
                        signer,
                        &soa,
                        rest,
                        crate::signing::unix_now() as u32,
                    ),
                    None => rest,
                };
                complete &= rest.iter().all(|r| p.push(r));
            }
        }
        complete &= p.push(&soa);
        if transport == Transport::Udp && !(complete && p.is_single()) {
            // RFC 1995 §2: what does not fit in one datagram is a single SOA; the client asks
            // again over TCP.
            let mut one = Packer::new(msg.id, &q.name, q.qtype, q.qclass);
            one.push(&soa);
            return one.finish();
        }
        if !complete {
            warn!("{} of {}: a record does not fit in a message; not sent", q.qtype, q.name);
            return reply(Rcode::SERVFAIL, None);
        }
        p.finish()
    }
}

/// Where a transfer's records come from.
enum Source {
    /// The zone's records as they are (each set must be plain), and the journal's deltas
    /// from the client's serial.
    Static(Arc<turnout_model::ZoneRecords>, Option<Vec<Delta>>),
    /// The view this node published (`crate::views`).
    View,
}

/// The serial of the client's SOA in an IXFR request.
fn ixfr_serial(msg: &Message) -> Option<u32> {
    let q = msg.questions.first()?;
    let soa = msg.authority.iter().find(|r| r.rtype == RType::SOA && r.name == q.name)?;
    let rdata = turnout_model::Rdata::from_wire(RType::SOA, &soa.rdata).ok()?;
    Soa::from_rdata(&rdata).map(|s| s.serial)
}

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// FORMERR to a message that could not be read, echoing its ID and opcode when it has them.
fn formerr(raw: &[u8]) -> Vec<Vec<u8>> {
    if raw.len() < 12 || raw[2] & 0x80 != 0 {
        return Vec::new();
    }
    let id = u16::from_be_bytes([raw[0], raw[1]]);
    vec![error_reply(id, (raw[2] >> 3) & 0xF, None, Rcode::FORMERR, None)]
}

/// The reply to a request whose signature failed (RFC 8945 §5.3.2): NOTAUTH with the TSIG
/// error, unsigned for BADKEY and BADSIG, signed for BADTIME (with this server's time) and
/// BADTRUNC.
fn tsig_refusal(
    msg: &Message,
    t: &Tsig,
    refusal: Refusal,
    key: Option<tsig::Key>,
    now: u64,
) -> Vec<Vec<u8>> {
    let question = msg.questions.first().map(|q| (&q.name, q.qtype, q.qclass));
    if refusal == Refusal::FormErr {
        return vec![error_reply(msg.id, msg.opcode(), question, Rcode::FORMERR, None)];
    }
    let why = format!("TSIG {}", refusal.name());
    let mut m =
        error_reply(msg.id, msg.opcode(), question, Rcode::NOTAUTH, Some((ede::OTHER, &why)));
    match (refusal, key) {
        (Refusal::BadTime | Refusal::BadTrunc, Some(key)) => {
            let other = if refusal == Refusal::BadTime {
                tsig::time_other(now).to_vec()
            } else {
                Vec::new()
            };
            Signer::new(key, &t.mac, t.time_signed).sign(&mut m, refusal.code(), &other);
        }
        _ => tsig::append_unsigned(&mut m, t, refusal.code()),
    }
    vec![m]
}

/// The control plane's door for the DNS server: see [`Control::door_message`].
#[derive(Debug, Clone)]
pub struct TransferDoor(pub Arc<Control>);

impl Door for TransferDoor {
    fn open(
        &self,
        message: Vec<u8>,
        client: SocketAddr,
        _server: SocketAddr,
        transport: Transport,
    ) -> Replies {
        let control = Arc::clone(&self.0);
        Box::pin(async move { control.door_message(&message, client, transport).await })
    }
}

/// NOTIFY attempts to one secondary for one serial (RFC 1996 §3.6: retried until answered).
const NOTIFY_ATTEMPTS: u32 = 5;
/// How long each attempt waits for the answer.
const NOTIFY_WAIT: Duration = Duration::from_secs(2);

/// Sends NOTIFY to each zone's secondaries whenever the serial this node serves changes (or,
/// for a current-answers zone, the serial of the view it publishes) and once at start, until
/// `shutdown`. It follows the published snapshot, not the store: a
/// secondary told of a serial finds it in the answer to its SOA query. A newer serial replaces
/// a NOTIFY still being retried.
pub async fn run_notify(control: Arc<Control>, shutdown: CancellationToken) {
    let mut served = control.subscribe_served();
    let mut views = control.views().subscribe();
    let mut sent: HashMap<Name, (u32, Vec<SocketAddr>)> = HashMap::new();
    let mut running: HashMap<(Name, SocketAddr), tokio::task::AbortHandle> = HashMap::new();
    let mut tasks: JoinSet<&'static str> = JoinSet::new();
    loop {
        for (apex, serial, targets, key) in due_notifies(&control, &mut sent) {
            for target in targets {
                if let Some(old) = running.remove(&(apex.clone(), target)) {
                    old.abort();
                }
                let handle = tasks.spawn(notify_one(apex.clone(), serial, target, key.clone()));
                running.insert((apex.clone(), target), handle);
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            changed = served.changed() => if changed.is_err() { return },
            changed = views.changed() => if changed.is_err() { return },
            Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                // A NOTIFY a newer serial replaced is not counted.
                if let Ok(result) = done {
                    control.door_counts().notify.add((result, ""));
                }
                running.retain(|_, h| !h.is_finished());
            }
        }
    }
}

type Due = (Name, u32, Vec<SocketAddr>, Option<tsig::Key>);

/// The zones whose served serial (or NOTIFY targets) changed since `sent` says (for a
/// current-answers zone, the serial of its published view).
fn due_notifies(control: &Control, sent: &mut HashMap<Name, (u32, Vec<SocketAddr>)>) -> Vec<Due> {
    let Some(handle) = control.snapshots() else { return Vec::new() };
    let snapshot = handle.load();
    let serials: HashMap<&Name, u32> = snapshot.zones().iter().map(|(n, s, _)| (n, *s)).collect();
    let st = control.read();
    let mut due = Vec::new();
    sent.retain(|apex, _| st.zones.contains_key(apex));
    for (apex, entry) in &st.zones {
        let Some(c) = entry.meta.transfers.as_ref().and_then(|t| check(t).ok()) else { continue };
        // A current-answers zone: the serial of the view published for transfers.
        let serial = if is_current_answers(&entry.meta) {
            control.views().get(apex).map(|v| v.serial)
        } else {
            serials.get(apex).copied()
        };
        let Some(serial) = serial else { continue };
        if c.notify.is_empty()
            || sent.get(apex).is_some_and(|(s, t)| *s == serial && *t == c.notify)
        {
            continue;
        }
        let key = c.notify_key.as_ref().and_then(|k| st.tsig_keys.get(k)).and_then(|r| r.key());
        sent.insert(apex.clone(), (serial, c.notify.clone()));
        due.push((apex.clone(), serial, c.notify.clone(), key));
    }
    due
}

/// Sends one NOTIFY (RFC 1996 §3.7: opcode NOTIFY, AA, the zone's SOA as the question),
/// retried with backoff until the secondary answers. Returns `acknowledged`, `error` (another
/// RCODE) or `no_answer`.
async fn notify_one(
    zone: Name,
    serial: u32,
    target: SocketAddr,
    key: Option<tsig::Key>,
) -> &'static str {
    let mut wait = Duration::from_secs(1);
    for attempt in 1..=NOTIFY_ATTEMPTS {
        let id = fastrand::u16(..);
        let mut m =
            error_reply(id, OPCODE_NOTIFY, Some((&zone, RType::SOA, 1)), Rcode::NOERROR, None);
        // A request: QR clear, AA set.
        m[2] = (OPCODE_NOTIFY << 3) | 0x04;
        if let Some(k) = &key {
            Signer::for_request(k.clone(), unix_now()).sign(&mut m, 0, &[]);
        }
        match turnout_dns::client::exchange_udp(target, &m, NOTIFY_WAIT).await {
            Ok(reply) => {
                let rcode = Rcode(u16::from(reply[3] & 0xF));
                if rcode == Rcode::NOERROR {
                    info!("NOTIFY for {zone} serial {serial} acknowledged by {target}");
                    return "acknowledged";
                }
                warn!("NOTIFY for {zone} serial {serial}: {target} answered {}", rcode.name());
                return "error";
            }
            Err(e) => {
                debug!("NOTIFY for {zone} serial {serial} to {target} (attempt {attempt}): {e}");
            }
        }
        if attempt < NOTIFY_ATTEMPTS {
            tokio::time::sleep(wait).await;
            wait *= 2;
        }
    }
    warn!(
        "NOTIFY for {zone} serial {serial}: no answer from {target} after {NOTIFY_ATTEMPTS} attempts"
    );
    "no_answer"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_compare_as_rfc_1982_says() {
        assert!(serial_lt(1, 2));
        assert!(!serial_lt(2, 2));
        assert!(serial_lt(u32::MAX, 0), "wraps");
        assert!(!serial_lt(0, u32::MAX));
    }

    #[test]
    fn settings_name_the_field_that_is_wrong() {
        let bad = |t: ZoneTransfers| check(&t).err().map(|e| e.to_string()).unwrap_or_default();
        let allow = |key: Option<&str>, prefix: Option<&str>| TransferAllow {
            key: key.map(str::to_owned),
            prefix: prefix.map(str::to_owned),
        };
        assert!(
            bad(ZoneTransfers { allow: vec![allow(None, None)], ..Default::default() })
                .starts_with("allow[0]:")
        );
        assert!(
            bad(ZoneTransfers {
                allow: vec![allow(None, Some("10.0.0.0/33"))],
                ..Default::default()
            })
            .starts_with("allow[0].prefix:")
        );
        assert!(
            bad(ZoneTransfers { notify: vec!["nowhere".into()], ..Default::default() })
                .starts_with("notify[0]:")
        );
        assert!(
            bad(ZoneTransfers { policy_mode: Some("dynamic".into()), ..Default::default() })
                .starts_with("policy_mode:")
        );
        let ok = check(&ZoneTransfers {
            allow: vec![allow(Some("xfr.key"), None), allow(None, Some("192.0.2.7/24"))],
            notify: vec!["192.0.2.1".into(), "[2001:db8::1]:5353".into()],
            ..Default::default()
        })
        .expect("valid");
        let key = Name::parse_absolute("xfr.key.").expect("a name");
        assert!(ok.allows("203.0.113.1".parse().expect("ip"), Some(&key)));
        assert!(!ok.allows("203.0.113.1".parse().expect("ip"), None));
        assert!(ok.allows("192.0.2.200".parse().expect("ip"), None));
        assert_eq!(ok.notify[0].port(), 53);
    }
}
