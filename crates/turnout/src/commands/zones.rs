//! `turnout zone create|list|get|delete`.

use turnout_control::types::{CreateZone, ZoneInfo};

use super::{Failure, client, output};
use crate::cli::ZoneCommand;

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
        ZoneCommand::Create { name, comment, caller_reference, name_servers, client: args } => {
            let request = CreateZone {
                name: name.clone(),
                caller_reference: caller_reference.clone(),
                comment: comment.clone(),
                name_servers: (!name_servers.is_empty()).then(|| name_servers.clone()),
            };
            let created = client(args)?.create_zone(&request).await?;
            output(args.output, &created, |c| {
                let verb = if c.created { "created" } else { "already created by this reference:" };
                format!("{verb} {}\nchange {} {}", zone_line(&c.zone), c.change.id, c.change.status)
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
                text
            })
        }
        ZoneCommand::Delete { name, force, client: args } => {
            let change = client(args)?.delete_zone(name, *force).await?;
            output(args.output, &change, |c| {
                format!("deleted {name}; change {} {}", c.id, c.status)
            })
        }
    }
}
