//! Zones whose transfers carry the current answers (docs/transfers.md, "Routing policies in a
//! transfer"): a secondary is sent, for every record set with a routing policy, what a client
//! of unknown location is answered now, and every change of that view is a new SOA serial, an
//! IXFR delta and a NOTIFY.
//!
//! Each node runs [`run_views`]. It computes each such zone's *dynamic view* (the current
//! answers of its policy record sets, from the served snapshot, so health and routing-control
//! changes count at once) and keeps one record per zone in the store,
//! `/turnout/views/<apex>` = `{serial, hash}`: the view that the zone's serials from `serial`
//! on stand for. A change of the zone's plain records comes with a serial of its own (every
//! change batch bumps it) and leaves the view as it is. When a node's view changes and the
//! record names another, the node bumps the zone's SOA serial and writes the record in one
//! guarded write (`crate::write`): so every node of a cluster serves one serial for one content,
//! the serial never goes back (across restarts too), and a change of the view is recorded once,
//! whichever node sees it first. A node whose view did not change while the record did is the
//! one catching up, and writes nothing.
//!
//! A node publishes a zone's view for transfers (and NOTIFY) when the snapshot it serves and
//! its state show the same serial, at or after the record's, and its view is the recorded one:
//! no node sends other content under a serial than another node would.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};
use turnout_dns::Snapshot;
use turnout_dns::xfr::{Rr, serial_lt};
use turnout_model::{Name, RType, RecordSet, ZoneRecords};
use turnout_store::Op;

use crate::audit::{Actor, acting_as};
use crate::journal::{self, Delta, Journal};
use crate::node::Control;
use crate::state::State;
use crate::types::ZoneMeta;
use crate::write::{Lane, Plan};
use crate::{ControlError, keys, to_json};

/// The transfer `policy_mode` of these zones.
pub const CURRENT_ANSWERS: &str = "current-answers";

/// How often every view is computed again even when nothing announced a change (a health
/// status can change without a transition being reported, for instance while a check starts).
const RECHECK: Duration = Duration::from_secs(1);

/// Which view a zone's serial stands for, as stored at `/turnout/views/<apex>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViewRecord {
    /// The zone's SOA serial when this view was recorded.
    pub serial: u32,
    /// SHA-256 of the dynamic view (hex): the current answers of the zone's policy record
    /// sets, one record per line in presentation format, sorted.
    pub hash: String,
}

/// Whether a zone's transfers carry the current answers.
pub fn is_current_answers(meta: &ZoneMeta) -> bool {
    meta.transfers.as_ref().and_then(|t| t.policy_mode.as_deref()) == Some(CURRENT_ANSWERS)
}

/// A zone's view as this node publishes it for transfers: the serial, the SOA, the plain
/// record sets at that serial and the current answers of the others, fixed.
#[derive(Debug)]
pub struct ZoneView {
    /// The serial.
    pub serial: u32,
    /// The SOA record, with that serial.
    pub soa: Rr,
    records: Arc<ZoneRecords>,
    /// The current answers, sorted by their presentation line.
    dynamic: Vec<(String, Rr)>,
    hash: String,
}

impl ZoneView {
    /// Every record but the SOA, in a transfer's order: the plain record sets, then the
    /// current answers.
    pub fn records(&self) -> Vec<Rr> {
        let apex = &self.records.apex;
        let mut out = Vec::with_capacity(self.records.sets.len() + self.dynamic.len());
        for set in self.records.sets.values() {
            if set.rtype == RType::SOA && set.name == *apex {
                continue;
            }
            out.extend(journal::plain_records(set).unwrap_or_default());
        }
        out.extend(self.dynamic.iter().map(|(_, r)| r.clone()));
        out
    }
}

/// This node's published views and their history (for IXFR).
#[derive(Debug, Default)]
pub struct Views {
    published: RwLock<HashMap<Name, Arc<ZoneView>>>,
    journals: Mutex<HashMap<Name, Journal>>,
    /// Bumped on every publication (the NOTIFY sender follows it).
    changed: watch::Sender<u64>,
}

impl Views {
    /// The view published for a zone.
    pub fn get(&self, apex: &Name) -> Option<Arc<ZoneView>> {
        self.published.read().unwrap_or_else(PoisonError::into_inner).get(apex).cloned()
    }

    /// The deltas from `serial` to the published view, or None when the history does not
    /// reach back to it (or ends elsewhere).
    pub fn since(&self, apex: &Name, serial: u32, to: u32) -> Option<Vec<Delta>> {
        let journals = self.journals.lock().unwrap_or_else(PoisonError::into_inner);
        let deltas: Vec<Delta> = journals.get(apex)?.since(serial)?.cloned().collect();
        deltas.last().is_some_and(|d| journal::serial_of(&d.to) == Some(to)).then_some(deltas)
    }

    /// Follows publications.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Publishes a view; the one it replaces, at an older serial, becomes a delta.
    fn publish(&self, view: ZoneView) {
        let apex = view.records.apex.clone();
        let view = Arc::new(view);
        let old = self
            .published
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(apex.clone(), Arc::clone(&view));
        let mut journals = self.journals.lock().unwrap_or_else(PoisonError::into_inner);
        let journal = journals.entry(apex).or_default();
        match old {
            Some(old) if serial_lt(old.serial, view.serial) => journal.push(delta(&old, &view)),
            _ => journal.clear(),
        }
        drop(journals);
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Forgets the zones `keep` does not hold.
    fn retain(&self, keep: &BTreeSet<Name>) {
        let mut published = self.published.write().unwrap_or_else(PoisonError::into_inner);
        let before = published.len();
        published.retain(|apex, _| keep.contains(apex));
        let gone = published.len() != before;
        drop(published);
        self.journals
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|a, _| keep.contains(a));
        if gone {
            self.changed.send_modify(|n| *n = n.wrapping_add(1));
        }
    }
}

/// What a secondary must do to go from `old` to `new`.
fn delta(old: &ZoneView, new: &ZoneView) -> Delta {
    let (mut removed, mut added) = (Vec::new(), Vec::new());
    if !Arc::ptr_eq(&old.records, &new.records) {
        let plain = |set: Option<&RecordSet>| {
            set.filter(|s| s.rtype != RType::SOA)
                .and_then(journal::plain_records)
                .unwrap_or_default()
        };
        let keys: BTreeSet<_> =
            old.records.sets.keys().chain(new.records.sets.keys()).cloned().collect();
        for key in keys {
            let (a, b) = (old.records.sets.get(&key), new.records.sets.get(&key));
            if a == b {
                continue;
            }
            let (a, b) = (plain(a), plain(b));
            removed.extend(a.iter().filter(|r| !b.contains(r)).cloned());
            added.extend(b.into_iter().filter(|r| !a.contains(r)));
        }
    }
    let lines = |v: &ZoneView| v.dynamic.iter().map(|(l, _)| l.clone()).collect::<BTreeSet<_>>();
    let (a, b) = (lines(old), lines(new));
    removed.extend(old.dynamic.iter().filter(|(l, _)| !b.contains(l)).map(|(_, r)| r.clone()));
    added.extend(new.dynamic.iter().filter(|(l, _)| !a.contains(l)).map(|(_, r)| r.clone()));
    Delta { from: old.soa.clone(), to: new.soa.clone(), removed, added }
}

/// The current answers of a zone's record sets that have a routing policy (or are an alias,
/// or have a health check), sorted by presentation line, and their hash. None when the
/// snapshot does not serve the zone.
fn dynamic_view(snap: &Snapshot, zone: &ZoneRecords) -> Option<(Vec<(String, Rr)>, String)> {
    let owners: BTreeSet<(&Name, RType)> = zone
        .sets
        .values()
        .filter(|s| journal::plain_records(s).is_none())
        .map(|s| (&s.name, s.rtype))
        .collect();
    let mut out = Vec::new();
    for (name, rtype) in owners {
        for r in turnout_dns::view::current_answer(snap, name, rtype)? {
            let line = format!("{} {} {} {}", r.name, r.ttl, r.rtype, r.rdata.display(r.rtype));
            out.push((line, r));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out.dedup_by(|a, b| a.0 == b.0);
    let mut text = String::new();
    for (line, _) in &out {
        text.push_str(line);
        text.push('\n');
    }
    Some((out, crate::hex_sha256(&text)))
}

/// One zone as a round sees it.
struct Seen {
    apex: Name,
    records: Arc<ZoneRecords>,
    stored: Option<ViewRecord>,
}

impl Control {
    /// This node's published views.
    pub fn views(&self) -> &Views {
        &self.views
    }

    /// Computes every current-answers zone's view; records the changed ones in the store and
    /// publishes the ones the store agrees with. `last`: each zone's view hash as this node
    /// last recorded or found recorded (a node whose own view did not change never overrides
    /// another node's record: it is the one catching up).
    async fn views_round(&self, last: &mut HashMap<Name, String>) {
        let Some(handle) = self.snapshots() else { return };
        let (computed, keep) = {
            // Not held across an await: a retired snapshot is freed only once nobody holds it.
            let snap = handle.load();
            let served: HashMap<&Name, u32> =
                snap.zones().iter().map(|(n, s, _)| (n, *s)).collect();
            let st = self.read();
            let mut keep = BTreeSet::new();
            let mut computed = Vec::new();
            for (apex, entry) in &st.zones {
                if !is_current_answers(&entry.meta) {
                    continue;
                }
                keep.insert(apex.clone());
                // The snapshot and the state must show the same records (the same serial).
                let (Some(records), Some(&serial)) = (st.records.get(apex), served.get(apex))
                else {
                    continue;
                };
                if st.serial(apex) != Some(serial) {
                    continue;
                }
                let Some((dynamic, hash)) = dynamic_view(&snap, records) else { continue };
                let zone = Seen {
                    apex: apex.clone(),
                    records: Arc::clone(records),
                    stored: st.views.get(apex).cloned(),
                };
                computed.push((zone, serial, dynamic, hash));
            }
            (computed, keep)
        };
        self.views.retain(&keep);
        last.retain(|apex, _| keep.contains(apex));
        for (zone, serial, dynamic, hash) in computed {
            match &zone.stored {
                // The snapshot is behind the record: it catches up.
                Some(r) if serial_lt(serial, r.serial) => {}
                Some(r) if r.hash == hash => {
                    last.insert(zone.apex.clone(), hash.clone());
                    let current = self.views.get(&zone.apex);
                    if current.is_none_or(|v| v.serial != serial || v.hash != hash) {
                        let soa = zone
                            .records
                            .sets
                            .get(&State::soa_key(&zone.apex))
                            .and_then(journal::plain_records)
                            .and_then(|r| r.into_iter().next());
                        let Some(soa) = soa else { continue };
                        debug!("current answers of {} published at serial {serial}", zone.apex);
                        self.views.publish(ZoneView {
                            serial,
                            soa,
                            records: zone.records,
                            dynamic,
                            hash,
                        });
                    }
                }
                Some(_) if last.get(&zone.apex) == Some(&hash) => {
                    // Another node recorded another view, and ours did not change since: ours
                    // is the one catching up.
                }
                _ => match self.record_view(&zone.apex, &hash).await {
                    Ok(()) => {
                        last.insert(zone.apex.clone(), hash);
                    }
                    Err(e) => warn!("current answers of {}: not recorded: {e}", zone.apex),
                },
            }
        }
    }

    /// Records `hash` as the zone's view from a new serial on (the SOA's serial bumped in the
    /// same write), or from the current serial when no view was recorded yet. Decided again
    /// on the state each attempt sees (nothing when another node recorded this view
    /// meanwhile), guarded by the zone and the record.
    async fn record_view(&self, apex: &Name, hash: &str) -> Result<(), ControlError> {
        let actor = Actor {
            token: "turnout".to_owned(),
            source: None,
            request: format!("current answers of {apex} changed"),
        };
        let written = acting_as(
            actor,
            self.write(Lane::Config, |st, reads| {
                reads.zone(apex);
                reads.object(keys::view(apex));
                let current = st.zones.get(apex).filter(|e| is_current_answers(&e.meta));
                let soa_key = State::soa_key(apex);
                let soa = st.records.get(apex).and_then(|z| z.sets.get(&soa_key));
                let (Some(_), Some(serial), Some(soa)) = (current, st.serial(apex), soa) else {
                    return Ok(Plan::Nothing(None));
                };
                let mut ops = Vec::with_capacity(2);
                let record = match st.views.get(apex) {
                    None => ViewRecord { serial, hash: hash.to_owned() },
                    Some(r) if r.hash == hash || serial_lt(serial, r.serial) => {
                        return Ok(Plan::Nothing(None));
                    }
                    Some(_) => {
                        let bumped = crate::zones::bump_serial(soa, None)?;
                        let next = journal::plain_records(&bumped)
                            .and_then(|r| r.into_iter().next())
                            .and_then(|r| journal::serial_of(&r))
                            .unwrap_or(serial.wrapping_add(1));
                        ops.push(Op::put(keys::rrset(apex, &soa_key), to_json(&bumped.to_spec())));
                        ViewRecord { serial: next, hash: hash.to_owned() }
                    }
                };
                ops.push(Op::put(keys::view(apex), to_json(&record)));
                Ok(Plan::Write { ops, value: Some(record) })
            }),
        )
        .await?;
        if let Some(r) = written.value {
            info!("current answers of {apex}: serial {} stands for view {:.12}", r.serial, r.hash);
        }
        Ok(())
    }
}

/// Keeps the views of the zones whose transfers carry the current answers, until
/// `shutdown`: computed again whenever the served snapshot, the state or a health status
/// changes, and every second.
pub async fn run_views(control: Arc<Control>, shutdown: CancellationToken) {
    let mut served = control.subscribe_served();
    let mut state = control.subscribe_state();
    let mut last = HashMap::new();
    loop {
        let health = control.health().clone();
        let health_changed = health.changed();
        tokio::pin!(health_changed);
        // Registered before the round, so that a change during it is not missed.
        health_changed.as_mut().enable();
        control.views_round(&mut last).await;
        tokio::select! {
            () = shutdown.cancelled() => return,
            changed = served.changed() => if changed.is_err() { return },
            changed = state.changed() => if changed.is_err() { return },
            () = &mut health_changed => {}
            () = tokio::time::sleep(RECHECK) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone(serial: u32, www: &str) -> Arc<ZoneRecords> {
        let soa = format!(
            r#"{{"name":"@","type":"SOA","ttl":900,"values":["ns1 hostmaster {serial} 7200 900 1209600 86400"]}}"#
        );
        let www = format!(r#"{{"name":"www","type":"A","ttl":60,"values":["{www}"]}}"#);
        let mut z = turnout_testkit::zone_records(
            "v.test.",
            &[
                &www,
                r#"{"name":"fo","type":"A","ttl":60,"set_id":"a","failover":"primary","values":["192.0.2.10"]}"#,
                r#"{"name":"fo","type":"A","ttl":60,"set_id":"b","failover":"secondary","values":["192.0.2.11"]}"#,
            ],
        );
        let soa: turnout_model::RecordSetSpec = serde_json::from_str(&soa).expect("json");
        let soa = soa.validate(&z.apex).expect("valid");
        z.sets.insert(soa.key(), soa);
        Arc::new(z)
    }

    fn view(records: Arc<ZoneRecords>, fo: &str) -> ZoneView {
        let soa = records
            .sets
            .get(&State::soa_key(&records.apex))
            .and_then(journal::plain_records)
            .and_then(|r| r.into_iter().next())
            .expect("an SOA");
        let serial = journal::serial_of(&soa).expect("a serial");
        let name = Name::parse_absolute("fo.v.test.").expect("a name");
        let rdata = turnout_model::Rdata::from_text(RType::A, fo, None).expect("an address");
        let r = Rr { name, rtype: RType::A, ttl: 60, rdata };
        let line = format!("fo.v.test. 60 A {fo}");
        ZoneView { serial, soa, records, dynamic: vec![(line.clone(), r)], hash: line }
    }

    fn text(rs: &[Rr]) -> Vec<String> {
        let mut out: Vec<String> =
            rs.iter().map(|r| format!("{} {}", r.name, r.rdata.display(r.rtype))).collect();
        out.sort();
        out
    }

    #[test]
    fn a_view_holds_plain_records_and_current_answers_and_its_changes_are_deltas() {
        let one = zone(1, "192.0.2.1");
        let v1 = view(Arc::clone(&one), "192.0.2.10");
        assert_eq!(
            text(&v1.records()),
            ["fo.v.test. 192.0.2.10", "v.test. ns1.v.test.", "www.v.test. 192.0.2.1"],
            "no SOA, no policy record set as written, the current answer"
        );
        // Only the current answer changed (the same records): the delta is that answer.
        let v2 = view(zone(2, "192.0.2.1"), "192.0.2.11");
        let d = delta(&v1, &v2);
        assert_eq!(text(&d.removed), ["fo.v.test. 192.0.2.10"]);
        assert_eq!(text(&d.added), ["fo.v.test. 192.0.2.11"]);
        // A plain record and the answer changed.
        let v3 = view(zone(3, "192.0.2.2"), "192.0.2.10");
        let d = delta(&v2, &v3);
        assert_eq!(text(&d.removed), ["fo.v.test. 192.0.2.11", "www.v.test. 192.0.2.1"]);
        assert_eq!(text(&d.added), ["fo.v.test. 192.0.2.10", "www.v.test. 192.0.2.2"]);
        assert_eq!(journal::serial_of(&d.from), Some(2));
        assert_eq!(journal::serial_of(&d.to), Some(3));

        // Published in turn, the views make a history IXFR reads from any serial it holds.
        let views = Views::default();
        let apex = one.apex.clone();
        for v in [v1, v2, v3] {
            views.publish(v);
        }
        assert_eq!(views.since(&apex, 1, 3).map(|d| d.len()), Some(2));
        assert_eq!(views.since(&apex, 2, 3).map(|d| d.len()), Some(1));
        assert!(views.since(&apex, 1, 4).is_none(), "the history ends at 3");
        // Another view under a serial already published: the history cannot say how to get
        // there, and starts over.
        views.publish(view(zone(3, "192.0.2.2"), "192.0.2.11"));
        assert!(views.since(&apex, 2, 3).is_none());
        views.retain(&BTreeSet::new());
        assert!(views.get(&apex).is_none());
    }
}
