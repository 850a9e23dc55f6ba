//! `turnout explain NAME TYPE [--client IP]`.

use turnout_control::Explained;

use super::{Failure, client, output};
use crate::cli::ExplainArgs;

pub async fn run(args: &ExplainArgs) -> Result<(), Failure> {
    let explained =
        client(&args.client)?.explain(&args.name, &args.rtype, args.client_ip.as_deref()).await?;
    output(args.client.output, &explained, render)
}

/// The explanation for people: the answer, then each decision, indented by alias depth.
fn render(x: &Explained) -> String {
    let e = &x.explanation;
    let who = e.client.map_or("a client of unknown location".to_owned(), |c| c.to_string());
    let scope = if e.ecs_scope > 0 {
        format!(" (chosen for the client's /{} network)", e.ecs_scope)
    } else {
        String::new()
    };
    let mut text = format!("{} {} for {who}: {}{scope}\n", e.name, e.rtype, e.rcode);
    for line in &e.answer {
        text.push_str(&format!("  {line}\n"));
    }
    if !e.additional.is_empty() {
        text.push_str("additional:\n");
        for line in &e.additional {
            text.push_str(&format!("  {line}\n"));
        }
    }
    if e.decisions.is_empty() {
        text.push_str("no routing policy: the records as stored\n");
    }
    for d in &e.decisions {
        let pad = "  ".repeat(d.depth);
        text.push_str(&format!("\n{pad}{} {} ({}): {}\n", d.name, d.rtype, d.policy, d.rule));
        for c in &d.candidates {
            let mark = if c.chosen { "->" } else { "  " };
            let health = if c.healthy { "healthy" } else { "unhealthy" };
            let because =
                c.unhealthy_because.as_ref().map(|b| format!(" ({b})")).unwrap_or_default();
            let check = match &c.health_check {
                Some(name) => {
                    let view = x.checks.get(name);
                    let reason = view
                        .and_then(|v| v.last_result.as_ref())
                        .map(|o| format!(" [{}]", o.result.reason))
                        .unwrap_or_default();
                    // A shadow check: what it says, and that answers did not listen.
                    let shadow = view
                        .filter(|v| v.observe_only)
                        .map(|v| format!(" (observe only: {}, not used for answers)", v.status))
                        .unwrap_or_default();
                    let always = if c.always_serve {
                        format!(
                            " (always_serve: answered whatever it says, now {})",
                            view.map_or("unknown", |v| v.status.as_str())
                        )
                    } else {
                        String::new()
                    };
                    format!("check {name}{shadow}{always}{reason}")
                }
                None => "no check".to_owned(),
            };
            let alias = c
                .alias
                .as_ref()
                .map(|a| {
                    let eth =
                        if a.evaluate_target_health { ", evaluate target health" } else { "" };
                    format!(" alias to {}{eth}", a.target)
                })
                .unwrap_or_default();
            let id = if c.set_id.is_empty() { "-" } else { &c.set_id };
            text.push_str(&format!(
                "{pad}{mark} {id:<16} {:<12} {health:<9} {check}{alias}{because}\n",
                c.policy
            ));
        }
        if d.last_resort {
            text.push_str(&format!("{pad}   (last resort: no record was healthy)\n"));
        }
    }
    let detected: Vec<String> = x
        .checks
        .iter()
        .filter_map(|(name, v)| {
            Some(format!("  {name}: {}\n", super::checks::detection(v.detection.as_ref()?)))
        })
        .collect();
    if !detected.is_empty() {
        text.push_str("\nworst-case detection of a failure:\n");
        text.extend(detected);
    }
    text
}
