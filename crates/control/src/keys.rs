//! The key layout of Turnout's configuration in the store (documented in `docs/store.md`).
//!
//! ```text
//! /turnout/zones/<apex>                          zone metadata (JSON)
//! /turnout/rrsets/<apex>/<name>/<TYPE>/<set id>  one record set (JSON, canonical form)
//! /turnout/changes/<id>                          one accepted change batch (JSON)
//! /turnout/callerrefs/<reference>                the zone a caller reference created
//! /turnout/tokens/<name>                         an API token's name, scopes and SHA-256
//! /turnout/checks/<name>                         a health check (JSON, as written)
//! /turnout/collections/<name>                    a CIDR collection (JSON, as written)
//! /turnout/panels/<name>                         a control panel with its rules (JSON, as written)
//! /turnout/controls/<panel>/<control>            a routing control's state (JSON)
//! /turnout/audit/<ms>-<id>                       one routing-control update, applied or refused
//! /turnout/writes/<ms>-<id>                      one configuration write: who, from where, what changed
//! /turnout/nodes/<name>                          a node's record: region, addresses, served revision
//! /turnout/health/<checker>/<name>               a checker's last observed status of a check (before reports)
//! /turnout/reports/<checker>/<gen>/<seq>         a part of a checker's report: its observed statuses
//! /turnout/secrets/dns-cookie                    the DNS cookie secrets every node shares
//! /turnout/tsig/<name>                           a TSIG key: algorithm and secret
//! /turnout/dnssec/<apex>                         a zone's DNSSEC keys, private keys included
//! /turnout/views/<apex>                          which current-answers view the zone's serial stands for
//! /turnout/secondary/<apex>                      how a secondary zone's refreshes went (not configuration)
//! /turnout/tags/<kind>/<id>                      a hosted zone's or health check's tags (Route 53 API)
//! /turnout/drills/<name>                         a failover drill (JSON, as written)
//! /turnout/drill-active/<name>                   a drill's run under way (its owner node, its phase)
//! /turnout/drill-runs/<name>/<ms>-<id>           one finished drill run and its outcome
//! ```
//! Names are absolute and lower case; `/` and `%` inside a name, set id or reference are
//! percent-encoded so that no two record sets share a key.

use turnout_model::{Name, RecordKey};

/// The prefix of every Turnout key.
pub const ROOT: &str = "/turnout/";

fn escape(text: &str) -> String {
    text.replace('%', "%25").replace('/', "%2F")
}

/// The name an escaped key part stands for.
pub(crate) fn unescape(text: &str) -> String {
    text.replace("%2F", "/").replace("%25", "%")
}

/// Every zone's metadata.
pub fn zones() -> String {
    format!("{ROOT}zones/")
}

/// One zone's metadata.
pub fn zone(apex: &Name) -> String {
    format!("{ROOT}zones/{}", escape(&apex.to_string()))
}

/// Every record set.
pub fn all_rrsets() -> String {
    format!("{ROOT}rrsets/")
}

/// Every record set of one zone.
pub fn rrsets(apex: &Name) -> String {
    format!("{ROOT}rrsets/{}/", escape(&apex.to_string()))
}

/// One record set.
pub fn rrset(apex: &Name, key: &RecordKey) -> String {
    format!(
        "{}{}/{}/{}",
        rrsets(apex),
        escape(&key.name.to_string()),
        key.rtype,
        escape(&key.set_id)
    )
}

/// Every change.
pub fn changes() -> String {
    format!("{ROOT}changes/")
}

/// One change.
pub fn change(id: &str) -> String {
    format!("{ROOT}changes/{}", escape(id))
}

/// Every caller reference.
pub fn caller_references() -> String {
    format!("{ROOT}callerrefs/")
}

/// One caller reference.
pub fn caller_reference(reference: &str) -> String {
    format!("{ROOT}callerrefs/{}", escape(reference))
}

/// Every health check.
pub fn checks() -> String {
    format!("{ROOT}checks/")
}

/// One health check.
pub fn check(name: &str) -> String {
    format!("{ROOT}checks/{}", escape(name))
}

/// Every CIDR collection.
pub fn collections() -> String {
    format!("{ROOT}collections/")
}

/// One CIDR collection.
pub fn collection(name: &str) -> String {
    format!("{ROOT}collections/{}", escape(name))
}

/// Every drill.
pub fn drills() -> String {
    format!("{ROOT}drills/")
}

/// One drill.
pub fn drill(name: &str) -> String {
    format!("{}{}", drills(), escape(name))
}

/// Every drill's run under way.
pub fn active_drills() -> String {
    format!("{ROOT}drill-active/")
}

/// One drill's run under way.
pub fn active_drill(name: &str) -> String {
    format!("{}{}", active_drills(), escape(name))
}

/// Every drill's finished runs.
pub fn drill_runs() -> String {
    format!("{ROOT}drill-runs/")
}

/// One drill's finished runs, oldest first.
pub fn runs_of_drill(name: &str) -> String {
    format!("{}{}/", drill_runs(), escape(name))
}

/// One finished drill run, by the time it started.
pub fn drill_run(name: &str, started_ms: u64, id: &str) -> String {
    format!("{}{started_ms:015}-{id}", runs_of_drill(name))
}

/// Every control panel.
pub fn panels() -> String {
    format!("{ROOT}panels/")
}

/// One control panel.
pub fn panel(name: &str) -> String {
    format!("{ROOT}panels/{}", escape(name))
}

/// Every routing control's state.
pub fn all_controls() -> String {
    format!("{ROOT}controls/")
}

/// One panel's routing controls' states.
pub fn controls(panel: &str) -> String {
    format!("{ROOT}controls/{}/", escape(panel))
}

/// One routing control's state.
pub fn control(panel: &str, control: &str) -> String {
    format!("{}{}", controls(panel), escape(control))
}

/// The audit trail of every configuration write, oldest first.
pub fn writes() -> String {
    format!("{ROOT}writes/")
}

/// One write's audit record: milliseconds since the epoch, zero-padded so keys sort by time.
pub fn write_record(at_ms: u64, id: &str) -> String {
    format!("{ROOT}writes/{at_ms:015}-{id}")
}

/// The audit trail of routing-control updates, oldest first.
pub fn audit() -> String {
    format!("{ROOT}audit/")
}

/// One audit record: milliseconds since the epoch, zero-padded so keys sort by time.
pub fn audit_record(at_ms: u64, id: &str) -> String {
    format!("{ROOT}audit/{at_ms:015}-{id}")
}

/// Every node's record.
pub fn nodes() -> String {
    format!("{ROOT}nodes/")
}

/// One node's record.
pub fn node(name: &str) -> String {
    format!("{ROOT}nodes/{}", escape(name))
}

/// The checker label of this node (one checker per node; cluster mode will name them).
pub const LOCAL_CHECKER: &str = "local";

/// Every checker's observed statuses.
pub fn health() -> String {
    format!("{ROOT}health/")
}

/// One checker's observed status of one check.
pub fn health_status(checker: &str, check: &str) -> String {
    format!("{ROOT}health/{}/{}", escape(checker), escape(check))
}

/// Every checker's reports (`docs/scaling.md`: a generation is a base written in parts, then
/// the changes since, one key per write).
pub fn reports() -> String {
    format!("{ROOT}reports/")
}

/// One checker's reports.
pub fn reports_of(checker: &str) -> String {
    format!("{ROOT}reports/{}/", escape(checker))
}

/// One generation of a checker's report.
pub fn report_gen(checker: &str, generation: u64) -> String {
    format!("{ROOT}reports/{}/{generation:016x}/", escape(checker))
}

/// One part of a generation.
pub fn report_part(checker: &str, generation: u64, seq: u64) -> String {
    format!("{}{seq:016x}", report_gen(checker, generation))
}

/// The DNS cookie secrets.
pub fn dns_cookie_secret() -> String {
    format!("{ROOT}secrets/dns-cookie")
}

/// Every TSIG key.
pub fn tsig_keys() -> String {
    format!("{ROOT}tsig/")
}

/// One TSIG key.
pub fn tsig_key(name: &Name) -> String {
    format!("{ROOT}tsig/{}", escape(&name.to_string()))
}

/// Every zone's DNSSEC keys.
pub fn all_dnssec() -> String {
    format!("{ROOT}dnssec/")
}

/// One zone's DNSSEC keys.
pub fn dnssec(apex: &Name) -> String {
    format!("{ROOT}dnssec/{}", escape(&apex.to_string()))
}

/// Every zone's current-answers view record (`crate::views`).
pub fn views() -> String {
    format!("{ROOT}views/")
}

/// One zone's current-answers view record.
pub fn view(apex: &Name) -> String {
    format!("{ROOT}views/{}", escape(&apex.to_string()))
}

/// Every secondary zone's refresh status (`crate::secondaries`).
pub fn secondary_statuses() -> String {
    format!("{ROOT}secondary/")
}

/// One secondary zone's refresh status.
pub fn secondary_status(apex: &Name) -> String {
    format!("{ROOT}secondary/{}", escape(&apex.to_string()))
}

/// Every resource's tags.
pub fn tags() -> String {
    format!("{ROOT}tags/")
}

/// The tags of one resource: `hostedzone` and a hosted zone id, or `healthcheck` and a check's
/// name.
pub fn tags_of(kind: &str, id: &str) -> String {
    format!("{ROOT}tags/{kind}/{}", escape(id))
}

/// Every token.
pub fn tokens() -> String {
    format!("{ROOT}tokens/")
}

/// One token.
pub fn token(name: &str) -> String {
    format!("{ROOT}tokens/{}", escape(name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use turnout_model::RType;

    #[test]
    fn keys_do_not_collide() {
        let apex = Name::parse_absolute("example.test.").unwrap();
        let a = RecordKey {
            name: Name::parse_absolute("a.example.test.").unwrap(),
            rtype: RType::A,
            set_id: "b.example.test./A/".into(),
        };
        let b = RecordKey {
            name: Name::parse_absolute("a.example.test./A/b.example.test.").unwrap(),
            rtype: RType::A,
            set_id: String::new(),
        };
        assert_ne!(rrset(&apex, &a), rrset(&apex, &b));
        assert!(rrset(&apex, &a).starts_with(&rrsets(&apex)));
    }
}
