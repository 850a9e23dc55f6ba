//! Secondary zones (docs/secondary-zones.md): zones Turnout takes from another primary by AXFR
//! (RFC 5936) and IXFR (RFC 1995), signed with TSIG (RFC 8945) when a key is set, refreshed
//! on the SOA's refresh and retry timers and at once when a primary sends NOTIFY (RFC 1996),
//! and answered SERVFAIL once the SOA's expire has passed without a refresh (RFC 1035
//! §4.3.5), or before the first transfer.
//!
//! The records go into the store like any zone's, through the one write path (each transfer
//! one guarded write, audited as made by the node): so a restart serves the zone at once, every
//! node of a cluster serves the same copy, and promoting the zone to one managed here only
//! drops its `secondary` setting. Each node runs [`run_secondaries`]; a transfer another node
//! already stored is found current by the next refresh. How the refreshes go is stored apart
//! from the configuration (`/turnout/secondary/<apex>`), so every node agrees on when the zone
//! expires (by the nodes' clocks, which must agree to within seconds).

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};
use turnout_dns::client::{Ask, Change, Received, transfer_in};
use turnout_dns::xfr::{Rr, serial_lt};
use turnout_model::{Name, Policy, RType, RecordData, RecordKey, RecordSet, Soa, ZoneRecords};
use turnout_store::Op;

use crate::audit::{Actor, acting_as};
use crate::node::Control;
use crate::secondary::{check, stored_soa, unix_now};
use crate::state::State;
use crate::types::{SecondaryStatus, ZoneInfo, ZoneMeta};
use crate::write::{Lane, Plan};
use crate::zones::parse_zone_name;
use crate::{ControlError, keys, to_json};

/// How long one transfer may take.
const TRANSFER_WAIT: Duration = Duration::from_secs(120);
/// How many zones refresh at once.
const MAX_REFRESHING: usize = 8;
/// Bounds of the SOA refresh and retry intervals as followed here.
const MIN_INTERVAL: Duration = Duration::from_secs(1);
const MAX_INTERVAL: Duration = Duration::from_secs(24 * 3600);
/// How long to wait before trying again a zone that was never loaded (it has no SOA yet).
const UNLOADED_RETRY: Duration = Duration::from_secs(10);

/// The record sets a list of records makes (a set per owner and type, the smallest TTL of
/// its records: RFC 2181 §5.2), checked as any stored record set is.
fn record_sets(apex: &Name, records: &[Rr]) -> Result<BTreeMap<RecordKey, RecordSet>, String> {
    let mut grouped: BTreeMap<(Name, RType), (u32, Vec<turnout_model::Rdata>)> = BTreeMap::new();
    for r in records {
        let entry = grouped.entry((r.name.clone(), r.rtype)).or_insert((r.ttl, Vec::new()));
        entry.0 = entry.0.min(r.ttl);
        if !entry.1.contains(&r.rdata) {
            entry.1.push(r.rdata.clone());
        }
    }
    let mut sets = BTreeMap::new();
    for ((name, rtype), (ttl, rdatas)) in grouped {
        let set = plain_set(apex, name, rtype, ttl, rdatas)?;
        sets.insert(set.key(), set);
    }
    Ok(sets)
}

/// One plain record set, checked as a stored one is (its form on disk validates).
fn plain_set(
    apex: &Name,
    name: Name,
    rtype: RType,
    ttl: u32,
    rdatas: Vec<turnout_model::Rdata>,
) -> Result<RecordSet, String> {
    let set = RecordSet {
        name,
        rtype,
        set_id: None,
        policy: Policy::Simple,
        health_check: None,
        always_serve: false,
        pool: turnout_model::records::Pool::default(),
        data: RecordData::Values { ttl, rdatas },
    };
    set.to_spec().validate(apex).map_err(|errors| {
        let why: Vec<String> = errors.iter().map(ToString::to_string).collect();
        format!("{} {}: {}", set.name, set.rtype, why.join("; "))
    })
}

/// The record sets an IXFR changes, from the zone as stored: `Some(set)` to put, `None` to
/// delete. Fails when a change does not start at the serial the one before ended with.
fn apply_changes(
    apex: &Name,
    zone: &ZoneRecords,
    changes: &[Change],
) -> Result<BTreeMap<RecordKey, Option<RecordSet>>, String> {
    let mut touched: BTreeMap<RecordKey, Option<RecordSet>> = BTreeMap::new();
    let values = |touched: &mut BTreeMap<RecordKey, Option<RecordSet>>,
                  r: &Rr|
     -> (RecordKey, u32, Vec<_>) {
        let key = RecordKey { name: r.name.clone(), rtype: r.rtype, set_id: String::new() };
        let current =
            touched.get(&key).cloned().unwrap_or_else(|| zone.sets.get(&key).map(Cow::into_owned));
        match current.map(|s| s.data) {
            Some(RecordData::Values { ttl, rdatas }) => (key, ttl, rdatas),
            _ => (key, r.ttl, Vec::new()),
        }
    };
    for change in changes {
        for r in &change.removed {
            let (key, ttl, mut rdatas) = values(&mut touched, r);
            rdatas.retain(|d| *d != r.rdata);
            let set = if rdatas.is_empty() {
                None
            } else {
                Some(plain_set(apex, r.name.clone(), r.rtype, ttl, rdatas)?)
            };
            touched.insert(key, set);
        }
        for r in &change.added {
            let (key, _, mut rdatas) = values(&mut touched, r);
            if !rdatas.contains(&r.rdata) {
                rdatas.push(r.rdata.clone());
            }
            // The RRset takes the TTL of the record added last (RFC 2181 §5.2: one TTL).
            touched.insert(key, Some(plain_set(apex, r.name.clone(), r.rtype, r.ttl, rdatas)?));
        }
    }
    touched.retain(|key, set| {
        key.rtype != RType::SOA && set.as_ref() != zone.sets.get(key).as_deref()
    });
    Ok(touched)
}

/// What a refresh did.
enum Refreshed {
    /// The primary has this serial, the one stored (or an older one).
    Current(u32),
    /// A transfer was stored.
    Loaded { serial: u32, kind: &'static str, records: usize },
    /// Another node stored a transfer meanwhile, or the zone changed; try again.
    Moved,
}

impl Control {
    /// Answers a NOTIFY (RFC 1996 §3.7): NOERROR and a refresh of the zone when it is a
    /// secondary zone here and the sender one of its primaries (or the NOTIFY is signed with
    /// its key); else the refusal and why.
    pub(crate) fn notify_in(
        &self,
        zone: &Name,
        from: IpAddr,
        key: Option<&Name>,
    ) -> Result<(), (turnout_dns::Rcode, &'static str)> {
        use turnout_dns::Rcode;
        if self.options().static_zones.contains(zone) {
            return Err((Rcode::REFUSED, "not a secondary zone here"));
        }
        let st = self.read();
        let Some(entry) = st.zones.get(zone) else {
            return Err((Rcode::NOTAUTH, "no such zone here"));
        };
        let Some(settings) = &entry.meta.secondary else {
            return Err((Rcode::REFUSED, "not a secondary zone here"));
        };
        let Ok(checked) = check(settings) else {
            return Err((Rcode::SERVFAIL, "the zone's secondary settings are unreadable"));
        };
        if !checked.accepts_notify(from, key) {
            return Err((Rcode::REFUSED, "NOTIFY accepted from the zone's primaries only"));
        }
        drop(st);
        info!("NOTIFY for secondary zone {zone} from {from}: refreshing");
        self.secondary_pokes.poke(zone.clone());
        Ok(())
    }

    /// Promotes a secondary zone to a zone managed here: its records stay as the last
    /// transfer left them (SOA serial included; the next change bumps it), and no primary is
    /// asked again.
    pub async fn promote_zone(&self, zone: &str) -> Result<ZoneInfo, ControlError> {
        let apex = parse_zone_name(zone, "zone")?;
        self.write(Lane::Config, |st, reads| {
            reads.zone(&apex);
            let entry =
                st.zones.get(&apex).ok_or_else(|| ControlError::NoSuchZone(apex.clone()))?;
            if entry.meta.secondary.is_none() {
                return Err(ControlError::NotSecondary(apex.clone()));
            }
            if stored_soa(st, &apex).is_none() {
                return Err(ControlError::SecondaryNotLoaded(apex.clone()));
            }
            let meta = ZoneMeta { secondary: None, ..entry.meta.clone() };
            let ops = vec![
                Op::put(keys::zone(&apex), to_json(&meta)),
                Op::delete(keys::secondary_status(&apex)),
            ];
            Ok(Plan::Write { ops, value: () })
        })
        .await?;
        info!("zone {apex} promoted: managed here from now on");
        self.zone(&apex.to_string())
    }

    /// Asks the zone's primaries, in order, for what changed since the stored serial (the
    /// whole zone when none is stored), and stores it.
    async fn refresh(&self, apex: &Name) -> Result<Refreshed, String> {
        let (checked, key, base) = {
            let st = self.read();
            let Some(settings) = st.zones.get(apex).and_then(|e| e.meta.secondary.clone()) else {
                return Ok(Refreshed::Moved);
            };
            let checked = check(&settings).map_err(|e| e.to_string())?;
            let key = match &checked.key {
                Some(name) => Some(
                    st.tsig_keys
                        .get(name)
                        .and_then(crate::types::TsigKeyRecord::key)
                        .ok_or_else(|| format!("no TSIG key {name}"))?,
                ),
                None => None,
            };
            (checked, key, stored_soa(&st, apex))
        };
        let ask = match &base {
            Some((rr, _)) => Ask::Ixfr(rr.clone()),
            None => Ask::Axfr,
        };
        let mut failures = Vec::new();
        for primary in &checked.primaries {
            match transfer_in(*primary, apex, &ask, key.as_ref(), TRANSFER_WAIT).await {
                Ok(received) => return self.store_transfer(apex, *primary, base, received).await,
                Err(e) => failures.push(format!("{primary}: {e}")),
            }
        }
        Err(failures.join("; "))
    }

    /// Stores what a primary sent (or that it had nothing newer), with the zone's status.
    async fn store_transfer(
        &self,
        apex: &Name,
        primary: SocketAddr,
        base: Option<(Rr, Soa)>,
        received: Received,
    ) -> Result<Refreshed, String> {
        let base_serial = base.as_ref().map(|(_, s)| s.serial);
        let serial_of = |rr: &Rr| Soa::from_rdata(&rr.rdata).map(|s| s.serial);
        let (soa, puts, kind, records) = match received {
            Received::UpToDate(soa) => {
                let theirs = serial_of(&soa).unwrap_or(0);
                if let Some(ours) = base_serial
                    && serial_lt(theirs, ours)
                {
                    warn!(
                        "secondary zone {apex}: primary {primary} has serial {theirs}, older than \
                         ours ({ours}); keeping ours"
                    );
                }
                self.set_status(apex, Status::Confirmed(primary))
                    .await
                    .map_err(|e| e.to_string())?;
                return Ok(Refreshed::Current(base_serial.unwrap_or(theirs)));
            }
            Received::Full { soa, records } => {
                let sets = record_sets(apex, &records)?;
                if sets.contains_key(&State::soa_key(apex)) {
                    return Err("the transfer holds a second SOA record set".to_owned());
                }
                (soa, Puts::Whole(sets), "AXFR", records.len())
            }
            Received::Incremental(changes) => {
                let Some(last) = changes.last() else { return Ok(Refreshed::Moved) };
                let first = changes.first().and_then(|c| serial_of(&c.from));
                if first != base_serial {
                    return Err(format!(
                        "the IXFR starts at serial {first:?}, not at ours ({base_serial:?})"
                    ));
                }
                let soa = last.to.clone();
                let zone = self.read().records.get(apex).cloned();
                let zone = zone.unwrap_or_else(|| Arc::new(ZoneRecords::new(apex.clone())));
                let count = changes.iter().map(|c| c.removed.len() + c.added.len()).sum();
                (soa, Puts::Some(apply_changes(apex, &zone, &changes)?), "IXFR", count)
            }
        };
        let serial = serial_of(&soa).ok_or("the primary's SOA is unreadable")?;
        if let Some(ours) = base_serial
            && !serial_lt(ours, serial)
        {
            // Not newer (RFC 1982): keep what is stored.
            self.set_status(apex, Status::Confirmed(primary)).await.map_err(|e| e.to_string())?;
            return Ok(Refreshed::Current(ours));
        }
        let soa_set = plain_set(apex, apex.clone(), RType::SOA, soa.ttl, vec![soa.rdata.clone()])?;
        let actor = Actor {
            token: "turnout".to_owned(),
            source: Some(primary.to_string()),
            request: format!("{kind} of {apex} from {primary} (serial {serial})"),
        };
        let now = unix_now();
        let status = SecondaryStatus {
            refreshed_at: Some(now),
            primary: Some(primary.to_string()),
            ..SecondaryStatus::default()
        };
        let stored = acting_as(
            actor,
            self.write(Lane::Config, |st, reads| {
                reads.zone(apex);
                let secondary = st.zones.get(apex).is_some_and(|e| e.meta.secondary.is_some());
                let now_serial = stored_soa(st, apex).map(|(_, s)| s.serial);
                if !secondary || now_serial != base_serial {
                    return Ok(Plan::Nothing(false));
                }
                let mut ops = Vec::new();
                let current = st.records.get(apex);
                match &puts {
                    Puts::Whole(sets) => {
                        if let Some(zone) = current {
                            for key in zone.sets.keys() {
                                if key.rtype != RType::SOA && !sets.contains_key(&key) {
                                    ops.push(Op::delete(keys::rrset(apex, &key)));
                                }
                            }
                        }
                        for (key, set) in sets {
                            if current.and_then(|z| z.sets.get(key)).as_deref() != Some(set) {
                                ops.push(Op::put(keys::rrset(apex, key), to_json(&set.to_spec())));
                            }
                        }
                    }
                    Puts::Some(changes) => {
                        for (key, set) in changes {
                            ops.push(match set {
                                Some(set) => {
                                    Op::put(keys::rrset(apex, key), to_json(&set.to_spec()))
                                }
                                None => Op::delete(keys::rrset(apex, key)),
                            });
                        }
                    }
                }
                ops.push(Op::put(keys::rrset(apex, &soa_set.key()), to_json(&soa_set.to_spec())));
                ops.push(Op::put(keys::secondary_status(apex), to_json(&status)));
                Ok(Plan::Write { ops, value: true })
            }),
        )
        .await
        .map_err(|e| e.to_string())?;
        if !stored.value {
            return Ok(Refreshed::Moved);
        }
        Ok(Refreshed::Loaded { serial, kind, records })
    }

    /// Stores how the zone's refreshes go.
    async fn set_status(&self, apex: &Name, update: Status) -> Result<(), ControlError> {
        let now = unix_now();
        self.write(Lane::Config, |st, _reads| {
            if st.zones.get(apex).is_none_or(|e| e.meta.secondary.is_none()) {
                return Ok(Plan::Nothing(()));
            }
            let mut status = st.secondary_status.get(apex).cloned().unwrap_or_default();
            match &update {
                Status::Confirmed(p) => {
                    status = SecondaryStatus {
                        refreshed_at: Some(now),
                        primary: Some(p.to_string()),
                        ..SecondaryStatus::default()
                    };
                }
                Status::Failed(why) => {
                    status.last_error = Some(why.clone());
                    status.failed_at = Some(now);
                }
                Status::Expired => status.expired = true,
            }
            if st.secondary_status.get(apex) == Some(&status) {
                return Ok(Plan::Nothing(()));
            }
            Ok(Plan::Write {
                ops: vec![Op::put(keys::secondary_status(apex), to_json(&status))],
                value: (),
            })
        })
        .await
        .map(|_| ())
    }
}

/// How a zone's refreshes go.
enum Status {
    /// This primary confirmed the zone's serial now (it is current, not expired).
    Confirmed(SocketAddr),
    /// The refresh failed, for this reason.
    Failed(String),
    /// The SOA expire passed since a primary last confirmed the zone.
    Expired,
}

/// The record sets a transfer writes.
enum Puts {
    /// The whole zone but its SOA (AXFR): every other stored set goes.
    Whole(BTreeMap<RecordKey, RecordSet>),
    /// The sets an IXFR changed: put, or delete.
    Some(BTreeMap<RecordKey, Option<RecordSet>>),
}

/// One secondary zone as the refresher sees it: its SOA timers (none before the first load),
/// its status.
struct Due {
    timers: Option<Soa>,
    status: SecondaryStatus,
}

/// Refreshes every secondary zone on its SOA's timers, at once when created and when a primary
/// sends NOTIFY, and marks it expired when its SOA expire has passed since a primary last
/// confirmed it; until `shutdown`.
pub async fn run_secondaries(control: Arc<Control>, shutdown: CancellationToken) {
    let mut state = control.subscribe_state();
    let mut next: HashMap<Name, Instant> = HashMap::new();
    let mut running: JoinSet<(Name, Result<Refreshed, String>)> = JoinSet::new();
    let mut busy: BTreeSet<Name> = BTreeSet::new();
    loop {
        let zones: BTreeMap<Name, Due> = {
            let st = control.read();
            st.zones
                .iter()
                .filter(|(_, e)| e.meta.secondary.is_some())
                .map(|(apex, _)| {
                    let status = st.secondary_status.get(apex).cloned().unwrap_or_default();
                    (apex.clone(), Due { timers: stored_soa(&st, apex).map(|(_, s)| s), status })
                })
                .collect()
        };
        let now = Instant::now();
        next.retain(|apex, _| zones.contains_key(apex));
        for apex in control.secondary_pokes.take() {
            next.insert(apex, now);
        }
        let unix = unix_now();
        for (apex, due) in &zones {
            next.entry(apex.clone()).or_insert(now);
            // Expired: a primary last confirmed it longer ago than its SOA expire.
            if let (Some(soa), Some(at)) = (&due.timers, due.status.refreshed_at)
                && !due.status.expired
                && unix >= at + u64::from(soa.expire)
            {
                warn!("secondary zone {apex} expired: no primary confirmed it for {}s", soa.expire);
                if let Err(e) = control.set_status(apex, Status::Expired).await {
                    warn!("secondary zone {apex}: could not store that it expired: {e}");
                }
            }
        }
        for (apex, at) in &next {
            if *at <= now && running.len() < MAX_REFRESHING && busy.insert(apex.clone()) {
                let (control, apex) = (Arc::clone(&control), apex.clone());
                running.spawn(async move {
                    let outcome = control.refresh(&apex).await;
                    (apex, outcome)
                });
            }
        }
        // The next moment something is due: a refresh, or an expiry.
        let mut wake = next
            .iter()
            .filter(|(apex, _)| !busy.contains(*apex))
            .map(|(_, at)| *at)
            .min()
            .unwrap_or(now + MAX_INTERVAL);
        for due in zones.values() {
            if let (Some(soa), Some(at), false) =
                (&due.timers, due.status.refreshed_at, due.status.expired)
            {
                let left = (at + u64::from(soa.expire)).saturating_sub(unix);
                wake = wake.min(now + Duration::from_secs(left));
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            changed = state.changed() => if changed.is_err() { return },
            () = control.secondary_pokes.notified() => {}
            () = tokio::time::sleep_until(wake) => {}
            Some(done) = running.join_next(), if !running.is_empty() => {
                let Ok((apex, outcome)) = done else { continue };
                busy.remove(&apex);
                let timers = zones.get(&apex).and_then(|d| d.timers.clone());
                let interval = |secs: Option<u32>, default: Duration| {
                    secs.map_or(default, |s| Duration::from_secs(u64::from(s)))
                        .clamp(MIN_INTERVAL, MAX_INTERVAL)
                };
                let refresh = interval(timers.as_ref().map(|s| s.refresh), UNLOADED_RETRY);
                let retry = interval(timers.as_ref().map(|s| s.retry), UNLOADED_RETRY);
                let counts = &control.door_counts().secondary_refreshes;
                let after = match outcome {
                    Ok(Refreshed::Current(serial)) => {
                        counts.add(("up_to_date", ""));
                        tracing::debug!("secondary zone {apex}: serial {serial} is current");
                        refresh
                    }
                    Ok(Refreshed::Loaded { serial, kind, records }) => {
                        counts.add((if kind == "AXFR" { "full" } else { "incremental" }, ""));
                        info!("secondary zone {apex}: serial {serial} loaded by {kind} ({records} records)");
                        // The SOA just stored may carry new timers: they count from the next
                        // round.
                        refresh
                    }
                    Ok(Refreshed::Moved) => Duration::ZERO,
                    Err(why) => {
                        counts.add(("failed", ""));
                        warn!("secondary zone {apex}: refresh failed: {why}");
                        if let Err(e) = control.set_status(&apex, Status::Failed(why)).await {
                            warn!("secondary zone {apex}: could not store the failure: {e}");
                        }
                        retry
                    }
                };
                next.insert(apex, Instant::now() + after);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(text: &str) -> Name {
        Name::parse_absolute(text).expect("a name")
    }

    fn rr(owner: &str, rtype: RType, ttl: u32, text: &str) -> Rr {
        let rdata = turnout_model::Rdata::from_text(rtype, text, None).expect("rdata");
        Rr { name: name(owner), rtype, ttl, rdata }
    }

    #[test]
    fn transferred_records_become_record_sets_and_ixfr_changes_them() {
        let apex = name("s.test.");
        let sets = record_sets(
            &apex,
            &[
                rr("s.test.", RType::NS, 3600, "ns1.s.test."),
                rr("www.s.test.", RType::A, 300, "192.0.2.1"),
                rr("www.s.test.", RType::A, 60, "192.0.2.2"),
            ],
        )
        .expect("valid");
        assert_eq!(sets.len(), 2);
        let www = sets.values().find(|s| s.name == name("www.s.test.")).expect("www");
        let RecordData::Values { ttl, rdatas } = &www.data else { panic!("values") };
        assert_eq!((*ttl, rdatas.len()), (60, 2), "one TTL, the smallest");
        // A record set breaking a rule is refused, naming it (pre-signed data is refused
        // earlier, as the transfer is read: `turnout_dns::client`).
        let cname = record_sets(&apex, &[rr("s.test.", RType::CNAME, 300, "elsewhere.example.")]);
        assert!(cname.is_err_and(|e| e.starts_with("s.test. CNAME:")), "a CNAME at the apex");

        let mut zone = ZoneRecords::new(apex.clone());
        for set in sets.into_values() {
            zone.sets.insert(set);
        }
        let soa = |serial: u32| {
            rr("s.test.", RType::SOA, 300, &format!("ns1.s.test. h.s.test. {serial} 60 10 600 60"))
        };
        let changes = vec![Change {
            from: soa(1),
            removed: vec![rr("www.s.test.", RType::A, 60, "192.0.2.1")],
            to: soa(2),
            added: vec![
                rr("www.s.test.", RType::A, 60, "192.0.2.3"),
                rr("new.s.test.", RType::TXT, 60, "\"hello\""),
            ],
        }];
        let touched = apply_changes(&apex, &zone, &changes).expect("applies");
        assert_eq!(touched.len(), 2);
        let www = touched
            .iter()
            .find(|(k, _)| k.name == name("www.s.test."))
            .and_then(|(_, s)| s.clone())
            .expect("www stays");
        let RecordData::Values { rdatas, .. } = &www.data else { panic!("values") };
        assert_eq!(rdatas.len(), 2);
        // Removing the last record of a set deletes it.
        let changes = vec![Change {
            from: soa(2),
            removed: vec![rr("s.test.", RType::NS, 3600, "ns1.s.test.")],
            to: soa(3),
            added: vec![],
        }];
        let touched = apply_changes(&apex, &zone, &changes).expect("applies");
        assert_eq!(touched.values().next(), Some(&None));
    }
}
