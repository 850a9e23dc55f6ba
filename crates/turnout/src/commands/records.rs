//! `turnout record list|upsert|delete` and `turnout change get`.

use turnout_model::{ChangeBatchSpec, ChangeSpec, Name, RecordSetSpec};

use super::{Failure, client, output};
use crate::cli::{ChangeCommand, RecordArgs, RecordCommand};

/// One line per record set: name, type, policy, TTL and data.
pub fn describe(spec: &RecordSetSpec) -> String {
    let mut parts = vec![spec.name.clone(), spec.rtype.clone()];
    if let Some(id) = &spec.set_id {
        parts.push(format!("set_id={id}"));
    }
    if let Some(f) = &spec.failover {
        parts.push(format!("failover={f}"));
    }
    if let Some(w) = spec.weight {
        parts.push(format!("weight={w}"));
    }
    if let Some(r) = &spec.region {
        parts.push(format!("region={r}"));
    }
    if let Some(g) = &spec.geo {
        let loc = [&g.continent, &g.country, &g.subdivision]
            .iter()
            .filter_map(|x| x.as_deref())
            .collect::<Vec<_>>()
            .join("-");
        parts.push(format!("geo={loc}"));
    }
    if let Some(g) = &spec.geoproximity {
        let at = match (&g.region, g.latitude, g.longitude) {
            (Some(r), _, _) => r.clone(),
            (None, Some(lat), Some(lon)) => format!("{lat},{lon}"),
            _ => String::new(),
        };
        parts.push(format!("geoproximity={at} bias={}", g.bias.unwrap_or(0)));
    }
    if let Some(c) = &spec.cidr {
        parts.push(format!("cidr={}/{}", c.collection, c.location));
    }
    if spec.multivalue == Some(true) {
        parts.push("multivalue".into());
    }
    if let Some(h) = &spec.health_check {
        parts.push(format!("health_check={h}"));
    }
    if let Some(n) = spec.min_healthy {
        parts.push(format!("min_healthy={n}"));
    }
    if let Some(p) = spec.min_healthy_pct {
        parts.push(format!("min_healthy_pct={p}"));
    }
    if let Some(p) = spec.trickle_pct {
        parts.push(format!("trickle_pct={p}"));
    }
    if spec.always_serve == Some(true) {
        parts.push("always_serve".into());
    }
    if let Some(ttl) = spec.ttl {
        parts.push(format!("ttl={ttl}"));
    }
    if let Some(a) = &spec.alias {
        let eth = if a.evaluate_target_health { " (evaluate_target_health)" } else { "" };
        parts.push(format!("alias -> {}{eth}", a.target));
    }
    for v in spec.values.iter().flatten() {
        parts.push(v.clone());
    }
    parts.join(" ")
}

fn record_spec(args: &RecordArgs) -> Result<RecordSetSpec, Failure> {
    if let Some(json) = &args.json {
        let mut spec: RecordSetSpec =
            serde_json::from_str(json).map_err(|e| Failure::Input(format!("--json: {e}")))?;
        spec.name.clone_from(&args.name);
        spec.rtype.clone_from(&args.rtype);
        return Ok(spec);
    }
    Ok(RecordSetSpec {
        name: args.name.clone(),
        rtype: args.rtype.clone(),
        ttl: args.ttl,
        set_id: args.set_id.clone(),
        failover: args.failover.clone(),
        weight: args.weight,
        region: args.region.clone(),
        multivalue: args.multivalue.then_some(true),
        health_check: args.health_check.clone(),
        values: (!args.values.is_empty()).then(|| args.values.clone()),
        alias: args.alias.as_ref().map(|target| turnout_model::records::AliasSpec {
            target: target.clone(),
            evaluate_target_health: args.evaluate_target_health,
        }),
        ..RecordSetSpec::default()
    })
}

fn one_change(action: &str, record_set: RecordSetSpec) -> ChangeBatchSpec {
    ChangeBatchSpec {
        comment: None,
        changes: vec![ChangeSpec { action: action.into(), zone: None, record_set }],
    }
}

pub async fn run(command: &RecordCommand) -> Result<(), Failure> {
    match command {
        RecordCommand::List { zone, client: args } => {
            let sets = client(args)?.record_sets(zone).await?;
            output(args.output, &sets, |s| s.iter().map(|r| describe(r) + "\n").collect())
        }
        RecordCommand::Upsert { zone, record, client: args } => {
            let batch = one_change("UPSERT", record_spec(record)?);
            let change = client(args)?.submit(Some(zone), &batch, true).await?;
            output(args.output, &change, |c| format!("change {} {}", c.id, c.status))
        }
        RecordCommand::Delete { zone, name, rtype, set_id, client: args } => {
            let api = client(args)?;
            let apex =
                Name::parse_absolute(zone).map_err(|e| Failure::Input(format!("{zone}: {e}")))?;
            let owner = Name::parse_in(name, Some(&apex))
                .map_err(|e| Failure::Input(format!("{name}: {e}")))?
                .to_string();
            // DELETE needs the record set exactly as it is: fetch it first.
            let sets = api.record_sets(zone).await?;
            let found = sets.into_iter().find(|s| {
                s.name == owner && s.rtype.eq_ignore_ascii_case(rtype) && s.set_id == *set_id
            });
            let Some(current) = found else {
                let hint = if set_id.is_none() {
                    " (a record set with a routing policy needs --set-id)"
                } else {
                    ""
                };
                return Err(Failure::Input(format!(
                    "no record set {owner} {rtype}{} in {zone}{hint}",
                    set_id.as_ref().map(|s| format!(" set_id={s}")).unwrap_or_default()
                )));
            };
            let change = api.submit(Some(zone), &one_change("DELETE", current), true).await?;
            output(args.output, &change, |c| format!("change {} {}", c.id, c.status))
        }
    }
}

pub async fn change(command: &ChangeCommand) -> Result<(), Failure> {
    let ChangeCommand::Get { id, wait, client: args } = command;
    let change = client(args)?.change(id, *wait).await?;
    output(args.output, &change, |c| {
        format!(
            "change {} {}\nsubmitted {}\nkind {} zones {} changes {}\nrevision {}{}",
            c.id,
            c.status,
            c.submitted_at,
            c.kind,
            c.zones.join(" "),
            c.changes,
            c.revision,
            c.comment.as_ref().map(|x| format!("\ncomment {x}")).unwrap_or_default()
        )
    })
}
