//! `turnout import ZONEFILE` and `turnout export ZONE`.
//!
//! Import parses the file locally (every error with its line, nothing sent if any), creates the
//! zone if it does not exist (with the file's apex NS), then sends its RRsets as simple record
//! sets in change batches of at most `--batch-records` records: CREATE into a new zone, UPSERT
//! into an existing one (which counts double toward the batch limit). Each batch is atomic; the
//! import as a whole is not, and running it again finishes an interrupted one.

use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use turnout_api::client::ClientError;
use turnout_control::types::CreateZone;
use turnout_model::change::{MAX_BATCH_RECORDS, MAX_BATCH_VALUE_CHARS};
use turnout_model::records::SUPPORTED_TYPES;
use turnout_model::{ChangeBatchSpec, ChangeSpec, Name, RType, RecordSetSpec, zonefile};

use super::records::describe;
use super::{Failure, client, output, say};
use crate::cli::{ExportArgs, ExportFormat, ImportArgs, Output};
use crate::desired::{DesiredState, DesiredZone, relative};

#[derive(Debug, serde::Serialize)]
struct ImportOut {
    zone: String,
    created: bool,
    record_sets: usize,
    records: usize,
    batches: usize,
    last_change: Option<String>,
    seconds: f64,
}

pub async fn import(args: &ImportArgs) -> Result<(), Failure> {
    let started = Instant::now();
    if !(1..=MAX_BATCH_RECORDS).contains(&args.batch_records) {
        return Err(Failure::Input(format!(
            "--batch-records {} is outside 1-{MAX_BATCH_RECORDS}",
            args.batch_records
        )));
    }
    let origin = args
        .zone
        .as_deref()
        .map(Name::parse_absolute)
        .transpose()
        .map_err(|e| Failure::Input(format!("--zone: {e}")))?;
    let zone = zonefile::parse_file(&args.file, origin.as_ref()).map_err(|errors| {
        let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
        Failure::Input(format!("{} error(s):\n  {}", lines.len(), lines.join("\n  ")))
    })?;
    let unsupported: Vec<String> = zone
        .rrsets()
        .filter(|(_, t, _)| !SUPPORTED_TYPES.contains(t))
        .map(|(n, t, _)| format!("{n} {t}"))
        .collect();
    if !unsupported.is_empty() {
        return Err(Failure::Input(format!(
            "the control plane manages the types SOA A TXT NS CNAME MX NAPTR PTR SRV SPF AAAA CAA \
             DS TLSA SSHFP SVCB HTTPS; these RRsets have others (serve such zones with \
             --zone-file): {}",
            unsupported.join(", ")
        )));
    }
    let apex = zone.apex().clone();
    let api = client(&args.client)?;
    let created = match api.zone(&apex.to_string()).await {
        Ok(_) => false,
        Err(ClientError::Api(e)) if e.code == "NoSuchZone" => {
            let ns: Option<Vec<String>> = zone
                .get(&apex, RType::NS)
                .map(|set| set.rdatas.iter().map(|r| r.display(RType::NS).to_string()).collect());
            api.create_zone(&CreateZone {
                name: apex.to_string(),
                name_servers: ns,
                ..Default::default()
            })
            .await?;
            true
        }
        Err(e) => return Err(e.into()),
    };
    let existing: std::collections::BTreeSet<(String, String)> = if created {
        Default::default()
    } else {
        api.record_sets(&apex.to_string())
            .await?
            .into_iter()
            .filter(|s| s.set_id.is_none())
            .map(|s| (s.name, s.rtype))
            .collect()
    };
    let specs: Vec<RecordSetSpec> = zone
        .rrsets()
        .map(|(name, rtype, set)| RecordSetSpec {
            name: name.to_string(),
            rtype: rtype.to_string(),
            ttl: Some(i64::from(set.ttl)),
            values: Some(set.rdatas.iter().map(|r| r.display(rtype).to_string()).collect()),
            ..RecordSetSpec::default()
        })
        .collect();
    let total: usize = specs.iter().map(|s| s.values.as_ref().map_or(0, Vec::len)).sum();
    let bar = if args.client.output == Output::Text {
        ProgressBar::new(total as u64)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} records ({per_sec}, {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut batch: Vec<ChangeSpec> = Vec::new();
    let (mut weight, mut chars, mut batches) = (0usize, 0usize, 0usize);
    let mut last_change = None;
    for spec in specs {
        let apex_own = spec.name == apex.to_string() && matches!(spec.rtype.as_str(), "SOA" | "NS");
        let upsert = apex_own || existing.contains(&(spec.name.clone(), spec.rtype.clone()));
        let factor = if upsert { 2 } else { 1 };
        let records = spec.values.as_ref().map_or(0, Vec::len);
        let value_chars: usize =
            spec.values.iter().flatten().map(|v| v.chars().count()).sum::<usize>() * factor;
        if !batch.is_empty()
            && (weight + records * factor > args.batch_records
                || chars + value_chars > MAX_BATCH_VALUE_CHARS)
        {
            last_change = Some(send(&api, &apex, &mut batch, &bar).await?);
            batches += 1;
            (weight, chars) = (0, 0);
        }
        weight += records * factor;
        chars += value_chars;
        let action = if upsert { "UPSERT" } else { "CREATE" };
        batch.push(ChangeSpec { action: action.into(), zone: None, record_set: spec });
    }
    if !batch.is_empty() {
        last_change = Some(send(&api, &apex, &mut batch, &bar).await?);
        batches += 1;
    }
    if let Some(id) = &last_change {
        api.change(id, true).await?;
    }
    bar.finish_and_clear();
    let out = ImportOut {
        zone: apex.to_string(),
        created,
        record_sets: zone.rrsets().count(),
        records: total,
        batches,
        last_change,
        seconds: started.elapsed().as_secs_f64(),
    };
    output(args.client.output, &out, |o| {
        format!(
            "imported {} records ({} record sets) into {}{} in {} batch(es), {:.1} s",
            o.records,
            o.record_sets,
            o.zone,
            if o.created { " (new zone)" } else { "" },
            o.batches,
            o.seconds
        )
    })
}

async fn send(
    api: &turnout_api::client::Client,
    apex: &Name,
    batch: &mut Vec<ChangeSpec>,
    bar: &ProgressBar,
) -> Result<String, Failure> {
    let changes = std::mem::take(batch);
    let records: usize =
        changes.iter().map(|c| c.record_set.values.as_ref().map_or(0, Vec::len)).sum();
    let spec = ChangeBatchSpec { comment: Some("turnout import".into()), changes };
    let change = api.submit(Some(&apex.to_string()), &spec, false).await?;
    bar.inc(records as u64);
    Ok(change.id)
}

/// Adds to `state` what its records depend on, so that the file applies on its own: the
/// health checks they name (with a calculated check's children, recursively), the control
/// panels of `control` checks (without states: those are not configuration), and the CIDR
/// collections of IP-based records.
async fn with_what_records_name(
    api: &turnout_api::client::Client,
    state: &mut DesiredState,
) -> Result<(), Failure> {
    use std::collections::BTreeSet;
    let records = state.zones.iter().flat_map(|z| &z.records);
    let mut wanted: Vec<String> = records.clone().filter_map(|r| r.health_check.clone()).collect();
    let collections: BTreeSet<String> =
        records.filter_map(|r| r.cidr.as_ref().map(|c| c.collection.clone())).collect();
    if !wanted.is_empty() {
        let all: std::collections::BTreeMap<String, turnout_model::health::HealthCheckSpec> =
            api.checks().await?.into_iter().map(|c| (c.name.clone(), c)).collect();
        let mut seen = BTreeSet::new();
        let mut panels = BTreeSet::new();
        while let Some(name) = wanted.pop() {
            if !seen.insert(name.clone()) {
                continue;
            }
            let Some(check) = all.get(&name) else { continue };
            wanted.extend(check.children.iter().flatten().cloned());
            if let Some((panel, _)) = check.control.as_deref().and_then(|c| c.split_once('/')) {
                panels.insert(panel.to_owned());
            }
            state.health_checks.push(check.clone());
        }
        state.health_checks.sort_by(|a, b| a.name.cmp(&b.name));
        if !panels.is_empty() {
            state.control_panels =
                api.panels().await?.into_iter().filter(|p| panels.contains(&p.name)).collect();
        }
    }
    if !collections.is_empty() {
        state.cidr_collections = api
            .collections()
            .await?
            .into_iter()
            .filter(|c| collections.contains(&c.name))
            .collect();
    }
    Ok(())
}

pub async fn export(args: &ExportArgs) -> Result<(), Failure> {
    let api = client(&args.client)?;
    let info = api.zone(&args.zone).await?;
    let apex = Name::parse_absolute(&info.name).map_err(|e| Failure::Input(e.to_string()))?;
    let sets = api.record_sets(&info.name).await?;
    if args.client.output == Output::Json {
        return output(Output::Json, &sets, |_| String::new());
    }
    match args.format {
        ExportFormat::Yaml => {
            let records = sets
                .into_iter()
                .map(|mut s| {
                    s.name = relative(&s.name, &apex);
                    if let Some(a) = &mut s.alias {
                        a.target = relative(&a.target, &apex);
                    }
                    s
                })
                .collect();
            // The zone's settings when it has any (TSIG keys are not exported: their secrets
            // are never read back).
            let transfers = api.zone_transfers(&info.name).await?;
            let updates = api.zone_updates(&info.name).await?;
            // A secondary zone: its settings, not its records (they come from its primaries).
            let secondary = info.secondary.as_ref().map(|s| turnout_control::types::SecondaryOf {
                primaries: s.primaries.clone(),
                key: s.key.clone(),
            });
            let records = if secondary.is_some() { Vec::new() } else { records };
            let zone = DesiredZone {
                name: info.name.clone(),
                records,
                secondary,
                transfers: (transfers != Default::default()).then_some(transfers),
                updates: (updates != Default::default()).then_some(updates),
                ..Default::default()
            };
            let mut state = DesiredState { zones: vec![zone], ..Default::default() };
            with_what_records_name(&api, &mut state).await?;
            let text =
                serde_saphyr::to_string(&state).map_err(|e| Failure::Input(e.to_string()))?;
            say(text.trim_end());
        }
        ExportFormat::Zone => {
            let mut text =
                format!("; zone {} exported by turnout (serial {})\n", info.name, info.serial);
            text.push_str(&format!("$ORIGIN {}\n", info.name));
            let mut skipped = Vec::new();
            // The SOA first, as zone files have it.
            let mut sets = sets;
            sets.sort_by_key(|s| s.rtype != "SOA");
            for s in &sets {
                let simple = s.set_id.is_none() && s.alias.is_none();
                if !simple {
                    skipped.push(format!("; {}", describe(s)));
                    continue;
                }
                for v in s.values.iter().flatten() {
                    text.push_str(&format!(
                        "{}\t{}\tIN\t{}\t{v}\n",
                        s.name,
                        s.ttl.unwrap_or(0),
                        s.rtype
                    ));
                }
            }
            if !skipped.is_empty() {
                text.push_str("; record sets with a routing policy or an alias (not expressible in a zone file):\n");
                text.push_str(&skipped.join("\n"));
            }
            say(text.trim_end());
        }
    }
    Ok(())
}
