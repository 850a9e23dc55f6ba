//! `turnout zone create|list|get|delete|promote|transfers|updates` and `turnout tsig-key`.

use turnout_control::types::{
    CreateTsigKey, CreateZone, SecondaryInfo, SecondaryOf, TransferAllow, TsigKeyInfo, UpdateAllow,
    ZoneInfo, ZoneTransfers, ZoneUpdates,
};

use super::{Failure, client, output};
use crate::cli::{DnssecCommand, TsigKeyCommand, ZoneCommand};

fn zone_line(z: &ZoneInfo) -> String {
    format!(
        "{:<32} serial {:<10} {:>6} record sets  ns: {}",
        z.name,
        z.serial,
        z.record_set_count,
        z.name_servers.join(" ")
    )
}

pub async fn run(command: &ZoneCommand) -> Result<(), Failure> {
    match command {
        ZoneCommand::Create {
            name,
            comment,
            caller_reference,
            name_servers,
            secondary_of,
            secondary_key,
            client: args,
        } => {
            let request = CreateZone {
                name: name.clone(),
                caller_reference: caller_reference.clone(),
                comment: comment.clone(),
                name_servers: (!name_servers.is_empty()).then(|| name_servers.clone()),
                secondary: (!secondary_of.is_empty()).then(|| SecondaryOf {
                    primaries: secondary_of.clone(),
                    key: secondary_key.clone(),
                }),
            };
            let created = client(args)?.create_zone(&request).await?;
            output(args.output, &created, |c| {
                let verb = if c.created { "created" } else { "already created by this reference:" };
                let mut text = format!("{verb} {}", zone_line(&c.zone));
                if let Some(s) = &c.zone.secondary {
                    text.push('\n');
                    text.push_str(&secondary_text(s));
                }
                format!("{text}\nchange {} {}", c.change.id, c.change.status)
            })
        }
        ZoneCommand::List { client: args } => {
            let zones = client(args)?.zones().await?;
            output(args.output, &zones, |zs| {
                if zs.is_empty() {
                    return "no zones".to_owned();
                }
                zs.iter().map(|z| zone_line(z) + "\n").collect()
            })
        }
        ZoneCommand::Get { name, client: args } => {
            let zone = client(args)?.zone(name).await?;
            output(args.output, &zone, |z| {
                let mut text = zone_line(z);
                text.push_str(&format!("\ncreated {}", z.created_at));
                if let Some(c) = &z.comment {
                    text.push_str(&format!("\ncomment {c}"));
                }
                if let Some(s) = &z.secondary {
                    text.push('\n');
                    text.push_str(&secondary_text(s));
                }
                text
            })
        }
        ZoneCommand::Promote { name, client: args } => {
            let zone = client(args)?.promote_zone(name).await?;
            output(args.output, &zone, |z| format!("promoted {}", zone_line(z)))
        }
        ZoneCommand::Delete { name, force, client: args } => {
            let change = client(args)?.delete_zone(name, *force).await?;
            output(args.output, &change, |c| {
                format!("deleted {name}; change {} {}", c.id, c.status)
            })
        }
        ZoneCommand::Transfers {
            name,
            allow_keys,
            allow_prefixes,
            allow_key_from,
            notify,
            notify_key,
            policy_mode,
            clear,
            client: args,
        } => {
            let api = client(args)?;
            let setting = !allow_keys.is_empty()
                || !allow_prefixes.is_empty()
                || !allow_key_from.is_empty()
                || !notify.is_empty()
                || notify_key.is_some()
                || policy_mode.is_some();
            let transfers = if *clear || setting {
                let mut allow: Vec<TransferAllow> = allow_keys
                    .iter()
                    .map(|k| TransferAllow { key: Some(k.clone()), prefix: None })
                    .chain(
                        allow_prefixes
                            .iter()
                            .map(|p| TransferAllow { key: None, prefix: Some(p.clone()) }),
                    )
                    .collect();
                for both in allow_key_from {
                    let Some((key, prefix)) = both.split_once('@') else {
                        return Err(Failure::Input(format!(
                            "--allow-key-from {both:?}: write KEY@PREFIX"
                        )));
                    };
                    allow.push(TransferAllow {
                        key: Some(key.to_owned()),
                        prefix: Some(prefix.to_owned()),
                    });
                }
                let wanted = ZoneTransfers {
                    allow,
                    notify: notify.clone(),
                    notify_key: notify_key.clone(),
                    policy_mode: policy_mode.clone().filter(|m| m != "static"),
                };
                api.set_zone_transfers(name, &wanted).await?
            } else {
                api.zone_transfers(name).await?
            };
            output(args.output, &transfers, |t| transfers_text(name, t))
        }
        ZoneCommand::Updates { name, allow, clear, client: args } => {
            let api = client(args)?;
            let updates = if *clear || !allow.is_empty() {
                let mut rules = Vec::with_capacity(allow.len());
                for rule in allow {
                    // The key name holds no ':'; names and types are split from the right.
                    let mut parts = rule.rsplitn(3, ':');
                    let (Some(types), Some(names), Some(key)) =
                        (parts.next(), parts.next(), parts.next())
                    else {
                        return Err(Failure::Input(format!(
                            "--allow {rule:?}: write KEY:NAMES:TYPES, e.g. acme.key:_acme-challenge.*:TXT"
                        )));
                    };
                    // An empty list (KEY:NAMES:) means any type.
                    let list = |t: &str| {
                        t.split(',')
                            .map(str::trim)
                            .filter(|x| !x.is_empty())
                            .map(str::to_owned)
                            .collect::<Vec<_>>()
                    };
                    rules.push(UpdateAllow {
                        key: key.to_owned(),
                        names: list(names),
                        types: list(types),
                    });
                }
                api.set_zone_updates(name, &ZoneUpdates { allow: rules }).await?
            } else {
                api.zone_updates(name).await?
            };
            output(args.output, &updates, |u| {
                if u.allow.is_empty() {
                    return format!("{name}: no key may update it");
                }
                let lines: Vec<String> = u
                    .allow
                    .iter()
                    .map(|a| {
                        let types =
                            if a.types.is_empty() { "*".to_owned() } else { a.types.join(",") };
                        format!("key {} may update {} ({types})", a.key, a.names.join(","))
                    })
                    .collect();
                lines.join("\n")
            })
        }
    }
}

fn secondary_text(s: &SecondaryInfo) -> String {
    let key = s.key.as_deref().map(|k| format!(" (key {k})")).unwrap_or_default();
    let mut lines = vec![format!("secondary of {}{key}", s.primaries.join(" "))];
    let state = match (s.loaded, s.expired) {
        (false, _) => "not loaded yet (answered SERVFAIL)",
        (true, true) => "expired (answered SERVFAIL)",
        (true, false) => "loaded",
    };
    lines.push(format!("state {state}"));
    if let (Some(at), Some(p)) = (&s.refreshed_at, &s.primary) {
        lines.push(format!("refreshed {at} from {p}"));
    }
    if let Some(at) = &s.expires_at {
        lines.push(format!("expires {at} unless refreshed"));
    }
    if let (Some(why), Some(at)) = (&s.last_error, &s.failed_at) {
        lines.push(format!("last refresh failed {at}: {why}"));
    }
    lines.join("\n")
}

fn transfers_text(zone: &str, t: &ZoneTransfers) -> String {
    let mut lines = Vec::new();
    if t.allow.is_empty() {
        lines.push(format!("{zone}: nobody may transfer"));
    }
    for a in &t.allow {
        lines.push(match (&a.key, &a.prefix) {
            (Some(k), Some(p)) => format!("allow: key {k} from {p}"),
            (Some(k), None) => format!("allow: key {k}"),
            (None, Some(p)) => format!("allow: {p}"),
            (None, None) => "allow: nobody".to_owned(),
        });
    }
    for n in &t.notify {
        let key =
            t.notify_key.as_deref().map(|k| format!(" (signed with {k})")).unwrap_or_default();
        lines.push(format!("notify: {n}{key}"));
    }
    if let Some(mode) = &t.policy_mode {
        lines.push(format!("policy mode: {mode}"));
    }
    lines.join("\n")
}

fn key_line(k: &TsigKeyInfo) -> String {
    format!("{:<40} {:<12} created {}", k.name, k.algorithm, k.created_at)
}

/// `turnout tsig-key`.
pub async fn run_tsig_key(command: &TsigKeyCommand) -> Result<(), Failure> {
    match command {
        TsigKeyCommand::List { client: args } => {
            let keys = client(args)?.tsig_keys().await?;
            output(args.output, &keys, |ks| {
                if ks.is_empty() {
                    return "no TSIG keys".to_owned();
                }
                ks.iter().map(|k| key_line(k) + "\n").collect()
            })
        }
        TsigKeyCommand::Create { name, algorithm, secret_file, client: args } => {
            let secret = match secret_file {
                None => None,
                Some(path) => {
                    let text = if path.as_os_str() == "-" {
                        std::io::read_to_string(std::io::stdin())
                    } else {
                        std::fs::read_to_string(path)
                    };
                    let text = text.map_err(|e| {
                        Failure::Input(format!("cannot read {}: {e}", path.display()))
                    })?;
                    Some(text.trim().to_owned())
                }
            };
            let request =
                CreateTsigKey { name: name.clone(), algorithm: Some(algorithm.clone()), secret };
            let key = client(args)?.create_tsig_key(&request).await?;
            output(args.output, &key, |k| match &k.secret {
                Some(secret) => format!(
                    "{secret}\n(TSIG key {} {}: its secret, shown once; give it to the peer)",
                    k.name, k.algorithm
                ),
                None => format!("created the TSIG key {} ({})", k.name, k.algorithm),
            })
        }
        TsigKeyCommand::Delete { name, client: args } => {
            client(args)?.delete_tsig_key(name).await?;
            output(args.output, &serde_json::json!({"deleted": name}), |_| {
                format!("deleted the TSIG key {name}")
            })
        }
    }
}

fn dnssec_text(d: &turnout_control::types::DnssecInfo) -> String {
    if !d.signed {
        return format!("zone {} is not signed", d.zone);
    }
    let mut lines = vec![format!("zone {} is signed", d.zone)];
    for k in &d.keys {
        let role = match k.role {
            turnout_control::types::KeyRole::Csk => "CSK",
            turnout_control::types::KeyRole::Ksk => "KSK",
            turnout_control::types::KeyRole::Zsk => "ZSK",
        };
        lines.push(format!(
            "{role} tag {} algorithm {} ({}) {} created {}",
            k.tag, k.algorithm, k.algorithm_name, k.state, k.created_at
        ));
        lines.push(format!("  {}", k.dnskey));
    }
    lines.push("DS for the parent:".to_owned());
    lines.extend(d.ds.iter().map(|ds| format!("  {ds}")));
    if let (Some(r), Some(next)) = (&d.rollover, &d.next_step) {
        let role = format!("{:?}", r.role).to_uppercase();
        lines.push(format!("{role} rollover: {next}"));
    }
    lines.join("\n")
}

/// `turnout dnssec`.
pub async fn run_dnssec(command: &DnssecCommand) -> Result<(), Failure> {
    match command {
        DnssecCommand::Enable {
            zone,
            algorithm,
            scheme,
            dnskey_ttl,
            propagation_delay,
            client: args,
        } => {
            let request = turnout_control::types::EnableDnssec {
                algorithm: Some(algorithm.clone()),
                scheme: Some(scheme.clone()),
                dnskey_ttl: *dnskey_ttl,
                propagation_delay: *propagation_delay,
            };
            let info = client(args)?.enable_dnssec(zone, &request).await?;
            output(args.output, &info, |d| {
                format!("{}\n(give the parent the DS above; docs/dnssec.md)", dnssec_text(d))
            })
        }
        DnssecCommand::Status { zone, client: args } => {
            let info = client(args)?.dnssec(zone).await?;
            output(args.output, &info, dnssec_text)
        }
        DnssecCommand::Ds { zone, client: args } => {
            let info = client(args)?.dnssec(zone).await?;
            if !info.signed {
                return Err(Failure::Input(format!("zone {} is not signed", info.zone)));
            }
            output(args.output, &info.ds, |ds| ds.join("\n"))
        }
        DnssecCommand::Rollover { zone, role, algorithm, client: args } => {
            let request = turnout_control::types::StartRollover {
                role: role.clone(),
                algorithm: algorithm.clone(),
            };
            let info = client(args)?.start_rollover(zone, &request).await?;
            output(args.output, &info, dnssec_text)
        }
        DnssecCommand::DsSeen { zone, parent_ds_ttl, client: args } => {
            let request = turnout_control::types::DsSeen { parent_ds_ttl: *parent_ds_ttl };
            let info = client(args)?.dnssec_ds_seen(zone, &request).await?;
            output(args.output, &info, dnssec_text)
        }
        DnssecCommand::Disable { zone, client: args } => {
            client(args)?.disable_dnssec(zone).await?;
            output(args.output, &serde_json::json!({"unsigned": zone}), |_| {
                format!("zone {zone} is no longer signed; its keys are deleted")
            })
        }
    }
}
