//! `turnout drill list|run|abort|history` (docs/drills.md).

use std::time::Duration;

use turnout_control::types::DrillRun;

use super::{Failure, client, output};
use crate::cli::DrillCommand;

/// How long `drill run --wait` waits beyond the drill's own duration.
const WAIT_MARGIN: Duration = Duration::from_secs(120);

/// One run, as a few lines.
fn describe(r: &DrillRun) -> String {
    let mut text = format!("{} {} {}", r.started_at, r.id, r.outcome);
    if !r.detail.is_empty() {
        text.push_str(&format!(": {}", r.detail));
    }
    text.push('\n');
    if !r.flip.is_empty() {
        text.push_str(&format!(
            "  flip: {} (started by {}, on {})\n",
            r.flip, r.started_by, r.node
        ));
    }
    for (what, answer) in &r.answers_before {
        let during = r.answers_during.get(what).map_or("-".to_owned(), |a| a.join(" "));
        text.push_str(&format!("  {what}: {} -> {during}\n", answer.join(" ")));
    }
    if let Some(ms) = r.moved_after_ms {
        text.push_str(&format!("  moved after: {ms} ms\n"));
    }
    if let Some(guard) = &r.guard {
        let failed =
            r.guard_failed_at.as_deref().map_or("held".to_owned(), |at| format!("failed at {at}"));
        text.push_str(&format!("  guard {guard}: {failed}\n"));
    }
    if let Some(at) = &r.reverted_at {
        text.push_str(&format!("  reverted at: {at}\n"));
    }
    for refusal in &r.refused_by {
        text.push_str(&format!("  refused by {}: {}\n", refusal.rule, refusal.reason));
    }
    text
}

pub async fn run(command: &DrillCommand) -> Result<(), Failure> {
    match command {
        DrillCommand::List { client: args } => {
            let drills = client(args)?.drills().await?;
            output(args.output, &drills, |ds| {
                if ds.is_empty() {
                    return "no drills".to_owned();
                }
                ds.iter()
                    .map(|d| {
                        let what = d
                            .control
                            .as_ref()
                            .map(|c| format!("{c} {}", d.state.as_deref().unwrap_or("Off")))
                            .or_else(|| d.check.as_ref().map(|c| format!("check {c} unhealthy")))
                            .unwrap_or_default();
                        format!(
                            "{:<24} {what:<32} for {:<6} guard {:<16} every {}\n",
                            d.name,
                            d.duration.as_deref().unwrap_or("5m"),
                            d.guard.as_deref().unwrap_or("-"),
                            d.every.as_deref().unwrap_or("-"),
                        )
                    })
                    .collect()
            })
        }
        DrillCommand::Run { name, wait, client: args } => {
            let api = client(args)?;
            let started = api.run_drill(name).await?;
            if !wait {
                return output(args.output, &started, |r| {
                    format!("drill {} started: run {}", r.drill, r.id)
                });
            }
            let spec = api.drills().await?.into_iter().find(|d| d.name == *name);
            let duration = spec
                .and_then(|d| d.duration)
                .and_then(|t| turnout_model::health::parse_duration(&t))
                .unwrap_or(Duration::from_secs(300));
            let deadline = tokio::time::Instant::now() + duration + WAIT_MARGIN;
            let finished = loop {
                tokio::time::sleep(Duration::from_millis(250)).await;
                let runs = api.drill_runs(name, 5).await?;
                if let Some(r) =
                    runs.into_iter().find(|r| r.id == started.id && r.outcome != "running")
                {
                    break r;
                }
                if tokio::time::Instant::now() > deadline {
                    return Err(Failure::DrillDidNotPass(format!(
                        "drill {name}: run {} has not ended after {:?}",
                        started.id,
                        duration + WAIT_MARGIN
                    )));
                }
            };
            output(args.output, &finished, describe)?;
            if finished.outcome == "passed" {
                Ok(())
            } else {
                Err(Failure::DrillDidNotPass(format!("drill {name}: {}", finished.outcome)))
            }
        }
        DrillCommand::Abort { name, client: args } => {
            let run = client(args)?.abort_drill(name).await?;
            output(args.output, &run, |r| format!("drill {}: abort asked of run {}", r.drill, r.id))
        }
        DrillCommand::History { name, limit, client: args } => {
            let runs = client(args)?.drill_runs(name, *limit).await?;
            output(args.output, &runs, |rs| {
                if rs.is_empty() {
                    return format!("drill {name} has not run yet");
                }
                rs.iter().map(describe).collect()
            })
        }
    }
}
