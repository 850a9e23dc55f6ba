//! `turnout control list|get|set|batch|history` (the routing-control API), `turnout rule
//! list|create|delete` and `turnout token list|create|delete` (the configuration API).

use turnout_api::client::Client;
use turnout_control::routing_controls::{AuditRecord, ControlUpdate, ControlView};
use turnout_control::tokens::{ADMIN_TOKEN_FILE, TokenInfo};
use turnout_model::controls::SafetyRuleSpec;

use super::apply::read_yaml_or_json;
use super::{Failure, client, connect, output};
use crate::cli::{ClusterCommand, ControlCommand, ControlsArgs, RuleCommand, TokenCommand};

fn controls_client(args: &ControlsArgs) -> Result<Client, Failure> {
    connect(&args.controls, &args.auth)
}

/// `panel/control` -> (panel, control).
fn split(text: &str) -> Result<(&str, &str), Failure> {
    match text.split_once('/') {
        Some((p, c)) if !p.is_empty() && !c.is_empty() => Ok((p, c)),
        _ => Err(Failure::Input(format!("{text:?}: name the control as panel/control"))),
    }
}

fn view_line(c: &ControlView) -> String {
    let since = c.changed_at.as_deref().map(|t| format!(" since {t}")).unwrap_or_default();
    let until = c.reverts_at.as_deref().map(|t| format!(", reverts at {t}")).unwrap_or_default();
    format!("{}/{:<24} {:<3}{since}{until}\n", c.panel, c.control, c.state)
}

fn record_text(r: &AuditRecord) -> String {
    let changes: Vec<String> =
        r.changes.iter().map(|c| format!("{} {} -> {}", c.control, c.from, c.to)).collect();
    let mut text = format!(
        "{} {} {} by {}: {} ({})",
        r.at,
        r.outcome,
        r.panel,
        r.token,
        changes.join(", "),
        r.reason
    );
    if !r.overridden.is_empty() {
        text.push_str(&format!(" [overriding {}]", r.overridden.join(", ")));
    }
    if let Some(t) = &r.reverts_at {
        text.push_str(&format!(" [reverts at {t}]"));
    }
    for refusal in &r.refused_by {
        text.push_str(&format!("\n  refused by {}: {}", refusal.rule, refusal.reason));
    }
    text.push('\n');
    text
}

pub async fn run(command: &ControlCommand) -> Result<(), Failure> {
    match command {
        ControlCommand::List { panel, args } => {
            let controls = controls_client(args)?.controls(panel.as_deref()).await?;
            output(args.output, &controls, |cs| {
                if cs.is_empty() {
                    return "no routing controls".to_owned();
                }
                cs.iter().map(view_line).collect()
            })
        }
        ControlCommand::Get { control, args } => {
            let (panel, name) = split(control)?;
            let view = controls_client(args)?.control(panel, name).await?;
            output(args.output, &view, view_line)
        }
        ControlCommand::Set { control, state, reason, overrides, duration, dry_run, args } => {
            let (panel, name) = split(control)?;
            let update = ControlUpdate {
                states: [(name.to_owned(), state.clone())].into(),
                reason: reason.clone(),
                override_rules: overrides.clone(),
                duration: duration.clone(),
            };
            send(args, panel, &update, *dry_run).await
        }
        ControlCommand::Batch { panel, file, dry_run, args } => {
            let update: ControlUpdate = read_yaml_or_json(file)?;
            send(args, panel, &update, *dry_run).await
        }
        ControlCommand::History { panel, limit, args } => {
            let records = controls_client(args)?.control_history(panel.as_deref(), *limit).await?;
            output(args.output, &records, |rs| {
                if rs.is_empty() {
                    return "no routing-control updates yet".to_owned();
                }
                rs.iter().map(record_text).collect()
            })
        }
    }
}

/// Sends an update, or with `dry_run` asks what it would do.
async fn send(
    args: &ControlsArgs,
    panel: &str,
    update: &ControlUpdate,
    dry_run: bool,
) -> Result<(), Failure> {
    let api = controls_client(args)?;
    if !dry_run {
        let record = api.update_controls(panel, update).await?;
        return output(args.output, &record, record_text);
    }
    let what = api.what_if_controls(panel, update).await?;
    let refused = !what.refused_by.is_empty();
    output(args.output, &what, |w| {
        let mut text = format!("dry run: the update {}; nothing changed\n", w.outcome);
        for r in &w.refused_by {
            text.push_str(&format!("  refused by {}: {}\n", r.rule, r.reason));
        }
        if w.answers.is_empty() {
            text.push_str("no answer would change\n");
        }
        for a in &w.answers {
            text.push_str(&format!("{} {}\n", a.name, a.rtype));
            for line in &a.before {
                text.push_str(&format!("  - {line}\n"));
            }
            for line in &a.after {
                text.push_str(&format!("  + {line}\n"));
            }
        }
        text
    })?;
    if refused {
        // Scripts gate on the exit code: a dry run that would be refused fails as the
        // update would.
        return Err(Failure::WouldBeRefused(format!(
            "the update of {panel} would be refused by safety rules"
        )));
    }
    Ok(())
}

pub async fn run_rule(command: &RuleCommand) -> Result<(), Failure> {
    match command {
        RuleCommand::List { panel, client: args } => {
            let spec = client(args)?.panel(panel).await?;
            output(args.output, &spec.rules, |rules| {
                if rules.is_empty() {
                    return "no safety rules".to_owned();
                }
                rules
                    .iter()
                    .map(|r| {
                        let over = r
                            .controls
                            .clone()
                            .or_else(|| r.gating_controls.clone())
                            .unwrap_or_default()
                            .join(",");
                        let targets = r
                            .target_controls
                            .as_ref()
                            .map(|t| format!(" -> {}", t.join(",")))
                            .unwrap_or_default();
                        let threshold =
                            r.rule.threshold.map(|t| format!(" {t}")).unwrap_or_default();
                        let inverted = if r.rule.inverted == Some(true) { " inverted" } else { "" };
                        let wait = r.wait_period.as_deref().unwrap_or("5s");
                        format!(
                            "{:<24} {:<9} {}{threshold}{inverted} over {over}{targets}, wait {wait}\n",
                            r.name, r.kind, r.rule.kind
                        )
                    })
                    .collect()
            })
        }
        RuleCommand::Create { panel, file, client: args } => {
            let rule: SafetyRuleSpec = read_yaml_or_json(file)?;
            let api = client(args)?;
            let mut spec = api.panel(panel).await?;
            if spec.rules.iter().any(|r| r.name == rule.name) {
                return Err(Failure::Input(format!(
                    "the panel {panel:?} already has a rule {:?}; delete it first",
                    rule.name
                )));
            }
            spec.rules.push(rule);
            let spec = api.put_panel(&spec).await?;
            output(args.output, &spec, |s| {
                format!("panel {} has {} rule(s)", s.name, s.rules.len())
            })
        }
        RuleCommand::Delete { panel, rule, client: args } => {
            let api = client(args)?;
            let mut spec = api.panel(panel).await?;
            let before = spec.rules.len();
            spec.rules.retain(|r| r.name != *rule);
            if spec.rules.len() == before {
                return Err(Failure::Input(format!("the panel {panel:?} has no rule {rule:?}")));
            }
            let spec = api.put_panel(&spec).await?;
            output(args.output, &spec, |s| {
                format!("panel {} has {} rule(s)", s.name, s.rules.len())
            })
        }
    }
}

pub async fn run_token(command: &TokenCommand) -> Result<(), Failure> {
    match command {
        TokenCommand::List { client: args } => {
            let tokens = client(args)?.tokens().await?;
            output(args.output, &tokens, |ts| ts.iter().map(token_line).collect())
        }
        TokenCommand::Create { name, scopes, expires_in, route53, client: args } => {
            let request = turnout_api::server_types::CreateToken {
                name: name.clone(),
                scopes: scopes.clone(),
                expires_in: expires_in.clone(),
                route53: *route53,
            };
            let token = client(args)?.create_token_as(&request).await?;
            output(args.output, &token, |t| {
                let until = t.expires_at.as_deref().map(|at| format!(", until {at}"));
                let mut text = t.token.clone();
                if let (Some(id), Some(secret)) = (&t.access_key_id, &t.secret_access_key) {
                    text.push_str(&format!(
                        "\naws_access_key_id = {id}\naws_secret_access_key = {secret}"
                    ));
                }
                format!(
                    "{text}\n(token {:?}, scopes {}{}: shown once; keep it secret)",
                    t.name,
                    t.scopes.join(", "),
                    until.unwrap_or_default()
                )
            })
        }
        TokenCommand::Rotate { name, client: args } => {
            let api = client(args)?;
            let token = api.rotate_token(name).await?;
            // admin.token always holds the token named admin: when the CLI authenticated with
            // that file and rotated that token, keep the file working.
            let from_file = args.auth.token.is_none() && args.auth.token_file.is_none();
            let file = args.auth.data_dir.join(ADMIN_TOKEN_FILE);
            let wrote = from_file && name == "admin" && file.exists();
            if wrote {
                turnout_control::tokens::write_admin_token(&args.auth.data_dir, &token.token)
                    .map_err(|e| {
                        Failure::Input(format!(
                            "the token {name:?} was rotated, but {} could not be rewritten \
                             ({e}); the new secret is {}",
                            file.display(),
                            token.token
                        ))
                    })?;
            }
            output(args.output, &token, |t| {
                if wrote {
                    format!(
                        "rotated the token {:?}; the new secret is in {}",
                        t.name,
                        file.display()
                    )
                } else {
                    format!(
                        "{}\n(token {:?}: its new secret, shown once; the old one no longer works)",
                        t.token, t.name
                    )
                }
            })
        }
        TokenCommand::Delete { name, client: args } => {
            client(args)?.delete_token(name).await?;
            output(args.output, &serde_json::json!({"deleted": name}), |_| {
                format!("deleted the token {name:?}")
            })
        }
    }
}

/// `turnout audit`.
pub async fn run_audit(args: &crate::cli::AuditArgs) -> Result<(), Failure> {
    let limit = args.limit.to_string();
    let mut filters: Vec<(&str, &str)> = vec![("limit", &limit)];
    for (key, value) in
        [("kind", &args.kind), ("name", &args.name), ("token", &args.by), ("since", &args.since)]
    {
        if let Some(v) = value {
            filters.push((key, v));
        }
    }
    let writes = client(&args.client)?.audit(&filters).await?;
    output(args.client.output, &writes, |ws| {
        if ws.is_empty() {
            return "no configuration writes match\n".to_owned();
        }
        let mut text = String::new();
        for w in ws {
            let from = w.source.as_deref().map_or(String::new(), |s| format!(" from {s}"));
            text.push_str(&format!(
                "{} revision {} by {}{from}: {}\n",
                w.at, w.revision, w.token, w.request
            ));
            for c in &w.changes {
                text.push_str(&format!("  {} {} {}\n", c.action, c.kind, c.name));
                if args.values {
                    let show = |v: &Option<serde_json::Value>| {
                        v.as_ref().map_or("-".to_owned(), ToString::to_string)
                    };
                    text.push_str(&format!("    before {}\n", show(&c.before)));
                    text.push_str(&format!("    after  {}\n", show(&c.after)));
                }
            }
            if w.values_left_out {
                text.push_str("  (values left out: the write was too large to keep them)\n");
            }
        }
        text
    })
}

pub async fn run_cluster(command: &ClusterCommand) -> Result<(), Failure> {
    match command {
        ClusterCommand::Status { client: args } => {
            let view = client(args)?.cluster().await?;
            output(args.output, &view, |v| {
                let insync = v.insync_revision.map_or("-".to_owned(), |r| r.to_string());
                let mut text =
                    format!("store revision {}, INSYNC through {insync}\n", v.store_revision);
                if v.isolated {
                    text.push_str(
                        "this node cannot renew its registration: the store is unreachable, \
                         and it counts only its own health observations\n",
                    );
                }
                for n in &v.nodes {
                    text.push_str(&format!(
                        "{:<28} {:<12} serves {} (lag {}), record written {:.1}s ago, dns {}\n",
                        n.record.name,
                        n.record.region,
                        n.record.served_revision,
                        n.lag,
                        n.updated_ago_ms as f64 / 1000.0,
                        n.record.dns.join(",")
                    ));
                }
                text
            })
        }
    }
}

fn token_line(t: &TokenInfo) -> String {
    let until = match (&t.expires_at, t.expired) {
        (Some(at), true) => format!(" expired {at}"),
        (Some(at), false) => format!(" until {at}"),
        (None, _) => String::new(),
    };
    let key = t.access_key_id.as_deref().map(|k| format!(" route53 {k}")).unwrap_or_default();
    format!("{:<24} {:<24} {}{until}{key}\n", t.name, t.scopes.join(","), t.created_at)
}
