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
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};
use turnout_dns::Snapshot;
use turnout_dns::xfr::{Rr, serial_lt};
use turnout_model::{Name, RType, ZoneRecords};
use turnout_store::Op;

use crate::audit::{Actor, acting_as};
use crate::journal;
use crate::node::Control;
use crate::published::{Views, ZoneView};
use crate::state::State;
use crate::types::{ViewRecord, ZoneMeta};
use crate::write::{Lane, Plan};
use crate::{ControlError, keys, to_json};

/// The transfer `policy_mode` of these zones.
pub const CURRENT_ANSWERS: &str = "current-answers";

/// How often every view is computed again even when nothing announced a change (a health
/// status can change without a transition being reported, for instance while a check starts).
const RECHECK: Duration = Duration::from_secs(1);

/// Whether a zone's transfers carry the current answers.
pub fn is_current_answers(meta: &ZoneMeta) -> bool {
    meta.transfers.as_ref().and_then(|t| t.policy_mode.as_deref()) == Some(CURRENT_ANSWERS)
}

/// The current answers of a zone's record sets that have a routing policy (or are an alias,
/// or have a health check), sorted by presentation line, and their hash. None when the
/// snapshot does not serve the zone.
fn dynamic_view(snap: &Snapshot, zone: &ZoneRecords) -> Option<(Vec<(String, Rr)>, String)> {
    let owners: BTreeSet<(&Name, RType)> = zone
        .sets
        .not_plain()
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
                            .and_then(|s| journal::plain_records(&s))
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
                        let bumped = crate::zones::bump_serial(&soa, None)?;
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
