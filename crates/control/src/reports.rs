//! Checkers' reports in the store: each node's observed status of each check placed on it, as
//! the other nodes count it for the quorum (`docs/cluster.md`, `docs/scaling.md`).
//!
//! A report is kept in *generations* under `/turnout/reports/<checker>/<gen>/<seq>`. A
//! generation starts with a **base**: the whole report, written in parts of at most
//! [`PART_BYTES`] (the last one marked `end`); after it, each write of the node is **one key**
//! holding every change since its previous write. A status write therefore costs one key per
//! node and write, however many checks changed, instead of one key per check and checker.
//! When the changes since the base outgrow it, the node writes a new base (a new generation)
//! and deletes the older generations in the transaction that ends it.
//!
//! A reader folds a generation's parts in sequence order (keys sort by it; the watch delivers
//! them in the order written) and counts, for each checker, its newest complete generation
//! written under the node's current registration (`run`, its lease): reports of an earlier run
//! do not count. Deleting a part is not a change of the report (a base already says everything
//! the parts before it said); a generation is forgotten when its last key is gone.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use turnout_store::LeaseId;

use crate::keys;

/// The largest part written, in bytes of JSON: far below etcd's default request limit (1.5 MiB).
pub const PART_BYTES: usize = 256 << 10;

/// One key of a report: a part of a base, or the changes of one write.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportPart {
    /// The node's registration (lease) when it wrote this (0: none).
    #[serde(default)]
    pub run: LeaseId,
    /// When it was written (RFC 3339).
    #[serde(default)]
    pub at: String,
    /// A part of the generation's base.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub base: bool,
    /// The base's last part: the generation is complete from here on.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub end: bool,
    /// Checks observed healthy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub healthy: Vec<String>,
    /// Checks observed unhealthy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unhealthy: Vec<String>,
    /// Checks no longer observed (moved to other checkers, changed or deleted).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gone: Vec<String>,
}

impl ReportPart {
    /// Every entry: check -> Some(healthy), or None for gone.
    pub fn entries(&self) -> impl Iterator<Item = (&str, Option<bool>)> {
        self.healthy
            .iter()
            .map(|c| (c.as_str(), Some(true)))
            .chain(self.unhealthy.iter().map(|c| (c.as_str(), Some(false))))
            .chain(self.gone.iter().map(|c| (c.as_str(), None)))
    }

    fn push(&mut self, check: String, healthy: Option<bool>) {
        match healthy {
            Some(true) => self.healthy.push(check),
            Some(false) => self.unhealthy.push(check),
            None => self.gone.push(check),
        }
    }
}

/// `entries` cut into parts of at most [`PART_BYTES`] of names (each part at least one entry),
/// each stamped with `run` and `at`; the parts of a base are marked so, its last one `end`.
pub fn parts<I>(entries: I, base: bool, run: LeaseId, at: &str) -> Vec<ReportPart>
where
    I: IntoIterator<Item = (String, Option<bool>)>,
{
    let empty = ReportPart { run, at: at.to_owned(), base, ..ReportPart::default() };
    let mut out = vec![empty.clone()];
    let mut bytes = 0;
    for (check, healthy) in entries {
        // A name costs its bytes, two quotes and a comma in the JSON (escapes aside).
        let cost = check.len() + 3;
        if bytes > 0 && bytes + cost > PART_BYTES {
            out.push(empty.clone());
            bytes = 0;
        }
        bytes += cost;
        if let Some(last) = out.last_mut() {
            last.push(check, healthy);
        }
    }
    if base && let Some(last) = out.last_mut() {
        last.end = true;
    }
    out
}

/// One generation of a checker's report, as a reader folds it.
#[derive(Debug, Clone, Default)]
pub struct ReportGen {
    /// The registration it was written under.
    pub run: LeaseId,
    /// Whether its base's last part was seen (or any change after it).
    pub complete: bool,
    /// The sequence numbers of its keys in the store.
    pub seqs: BTreeSet<u64>,
    /// The fold: check -> healthy.
    pub entries: Arc<BTreeMap<String, bool>>,
}

impl ReportGen {
    /// Folds one part in (a part already seen, written again, changes nothing new).
    pub fn apply(&mut self, seq: u64, part: &ReportPart) {
        self.run = part.run;
        self.seqs.insert(seq);
        self.complete |= part.end || !part.base;
        let entries = Arc::make_mut(&mut self.entries);
        for (check, healthy) in part.entries() {
            match healthy {
                Some(h) => {
                    if let Some(e) = entries.get_mut(check) {
                        *e = h;
                    } else {
                        entries.insert(check.to_owned(), h);
                    }
                }
                None => {
                    entries.remove(check);
                }
            }
        }
    }
}

/// The checker, generation and sequence number of a key under [`keys::reports`] (that prefix
/// stripped); None for any other shape.
pub fn parse_key(rest: &str) -> Option<(String, u64, u64)> {
    let mut parts = rest.split('/');
    let (checker, generation, seq) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || generation.len() != 16 || seq.len() != 16 {
        return None;
    }
    let number = |hex: &str| u64::from_str_radix(hex, 16).ok();
    Some((keys::unescape(checker), number(generation)?, number(seq)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_back_and_sort_by_sequence() {
        let key = keys::report_part("eu/1%", 0x10, 0x2a);
        let rest = key.strip_prefix(&keys::reports()).unwrap();
        assert_eq!(parse_key(rest), Some(("eu/1%".to_owned(), 0x10, 0x2a)));
        assert!(keys::report_part("a", 1, 9) < keys::report_part("a", 1, 10));
        assert!(keys::report_part("a", 9, 100) < keys::report_part("a", 10, 1));
        assert_eq!(parse_key("a/1/2"), None);
        assert_eq!(parse_key("a/000000000000000g/0000000000000001"), None);
    }

    #[test]
    fn a_base_is_cut_into_parts_and_ends_once() {
        let many = (0..40_000).map(|i| (format!("check-{i:08}"), Some(i % 3 != 0)));
        let parts = parts(many, true, 7, "t");
        assert!(parts.len() >= 2, "{} parts", parts.len());
        for p in &parts {
            let json = serde_json::to_vec(p).unwrap();
            assert!(json.len() <= PART_BYTES + 200, "{} bytes", json.len());
            assert!(p.base && p.run == 7);
        }
        assert_eq!(parts.iter().filter(|p| p.end).count(), 1);
        assert!(parts.last().unwrap().end);
        let total: usize = parts.iter().map(|p| p.entries().count()).sum();
        assert_eq!(total, 40_000);
        // Nothing to say: one empty part (a base of nothing still ends).
        let none = super::parts(Vec::new(), true, 7, "t");
        assert_eq!(none.len(), 1);
        assert!(none[0].end && none[0].entries().next().is_none());
    }

    #[test]
    fn a_generation_folds_its_parts_and_completes_at_the_end_of_its_base() {
        let mut g = ReportGen::default();
        let base =
            parts([("a".to_owned(), Some(true)), ("b".to_owned(), Some(false))], true, 3, "t");
        let mut first = base[0].clone();
        first.end = false;
        g.apply(1, &first);
        assert!(!g.complete);
        g.apply(1, &base[0]);
        assert!(g.complete);
        let change = ReportPart {
            run: 3,
            unhealthy: vec!["a".to_owned()],
            gone: vec!["b".to_owned()],
            healthy: vec!["c".to_owned()],
            ..ReportPart::default()
        };
        g.apply(2, &change);
        assert_eq!(*g.entries, BTreeMap::from([("a".to_owned(), false), ("c".to_owned(), true)]));
        assert_eq!(g.seqs, BTreeSet::from([1, 2]));
        let json = serde_json::to_string(&change).unwrap();
        assert!(!json.contains("base") && !json.contains("end"), "{json}");
    }
}
