//! `turnout check list|get|status|history`.

use turnout_api::server_types::CheckStatus;

use super::{Failure, client, output};
use crate::cli::CheckCommand;

fn ms(d: Option<std::time::Duration>) -> String {
    d.map_or("-".to_owned(), |d| format!("{:.1}ms", d.as_secs_f64() * 1000.0))
}

/// How long a failure takes at worst to turn a check unhealthy, by kind, for people.
pub(super) fn detection(d: &turnout_model::health::Detection) -> String {
    let secs = |ms: u64| format!("{:.2}s", ms as f64 / 1000.0);
    format!(
        "crash {}, host down {}, hang {}",
        secs(d.crash_ms),
        secs(d.host_down_ms),
        secs(d.hang_ms)
    )
}

pub async fn run(command: &CheckCommand) -> Result<(), Failure> {
    match command {
        CheckCommand::List { client: args } => {
            let checks = client(args)?.checks().await?;
            output(args.output, &checks, |cs| {
                if cs.is_empty() {
                    return "no health checks".to_owned();
                }
                cs.iter()
                    .map(|c| {
                        let at = c.ip.clone().or_else(|| c.fqdn.clone()).unwrap_or_default();
                        format!("{:<24} {:<10} {at}\n", c.name, c.kind)
                    })
                    .collect()
            })
        }
        CheckCommand::Get { name, client: args } => {
            let check = client(args)?.check(name).await?;
            output(args.output, &check, |c| serde_json::to_string_pretty(c).unwrap_or_default())
        }
        CheckCommand::Status { name, client: args } => {
            let status = client(args)?.check_status(name).await?;
            output(args.output, &status, |s: &CheckStatus| {
                let mut text =
                    format!("{} {} (observed {})\n", s.name, s.state.status, s.state.observed);
                if let Some(d) = &s.detection {
                    text.push_str(&format!("worst-case detection: {}\n", detection(d)));
                }
                if !s.state.shares_probes_with.is_empty() {
                    text.push_str(&format!(
                        "shares its probes with: {}\n",
                        s.state.shares_probes_with.join(", ")
                    ));
                }
                if !s.state.placed_on.is_empty() {
                    text.push_str(&format!("placed on: {}\n", s.state.placed_on.join(", ")));
                }
                if !s.state.checkers.is_empty() {
                    let counted: Vec<_> = s.state.checkers.iter().filter(|c| c.counted).collect();
                    let healthy = counted.iter().filter(|c| c.observed == "healthy").count();
                    text.push_str(&format!(
                        "checkers: {healthy} of {} counted report healthy\n",
                        counted.len()
                    ));
                    for c in &s.state.checkers {
                        let note = if c.counted { "" } else { " (not counted yet)" };
                        text.push_str(&format!("  {} {}{note}\n", c.checker, c.observed));
                    }
                }
                for o in s.state.results.iter().take(10) {
                    text.push_str(&format!(
                        "  {} {} connect {} tls {} first byte {}\n",
                        o.at,
                        o.result.reason,
                        ms(o.result.connect),
                        ms(o.result.tls),
                        ms(o.result.first_byte)
                    ));
                }
                if let Some(f) = &s.state.last_failure {
                    text.push_str(&format!("last failure: {} {}\n", f.at, f.result.reason));
                }
                text
            })
        }
        CheckCommand::History { name, client: args } => {
            let status = client(args)?.check_status(name).await?;
            output(args.output, &status.state.transitions, |ts| {
                if ts.is_empty() {
                    return "no transitions yet".to_owned();
                }
                ts.iter()
                    .map(|t| format!("{} {} -> {} ({})\n", t.at, t.from, t.to, t.reason))
                    .collect()
            })
        }
    }
}
