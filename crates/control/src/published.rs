//! The current-answers views this node publishes for transfers (`crate::views` computes and
//! records them): each zone's content fixed under its serial, and the deltas between them, for
//! IXFR (RFC 1995).

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use tokio::sync::watch;
use turnout_dns::xfr::{Rr, serial_lt};
use turnout_model::{Name, RType, RecordSet, ZoneRecords};

use crate::journal::{self, Delta, Journal};

/// A zone's view as this node publishes it for transfers: the serial, the SOA, the plain
/// record sets at that serial and the current answers of the others, fixed.
#[derive(Debug)]
pub struct ZoneView {
    /// The serial.
    pub serial: u32,
    /// The SOA record, with that serial.
    pub soa: Rr,
    /// The zone's record sets at that serial (only the plain ones go out).
    pub(crate) records: Arc<ZoneRecords>,
    /// The current answers, sorted by their presentation line.
    pub(crate) dynamic: Vec<(String, Rr)>,
    /// Their hash, as [`crate::types::ViewRecord::hash`].
    pub(crate) hash: String,
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
            out.extend(journal::plain_records(&set).unwrap_or_default());
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
    pub(crate) fn publish(&self, view: ZoneView) {
        let apex = view.records.apex.clone();
        let cap = journal::journal_cap(view.records.sets.len());
        let view = Arc::new(view);
        let old = self
            .published
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(apex.clone(), Arc::clone(&view));
        let mut journals = self.journals.lock().unwrap_or_else(PoisonError::into_inner);
        let journal = journals.entry(apex).or_default();
        match old {
            Some(old) if serial_lt(old.serial, view.serial) => {
                journal.push(delta(&old, &view), cap);
            }
            _ => journal.clear(),
        }
        drop(journals);
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Forgets the zones `keep` does not hold.
    pub(crate) fn retain(&self, keep: &BTreeSet<Name>) {
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
        let plain = |set: Option<Cow<'_, RecordSet>>| {
            set.filter(|s| s.rtype != RType::SOA)
                .and_then(|s| journal::plain_records(&s))
                .unwrap_or_default()
        };
        for (a, b) in old.records.sets.changes(&new.records.sets) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::State;

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
        z.sets.insert(soa);
        Arc::new(z)
    }

    fn view(records: Arc<ZoneRecords>, fo: &str) -> ZoneView {
        let soa = records
            .sets
            .get(&State::soa_key(&records.apex))
            .and_then(|s| journal::plain_records(&s))
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
