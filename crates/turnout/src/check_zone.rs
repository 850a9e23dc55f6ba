//! `turnout check-zone`: parse zone files and print every error as `FILE:LINE: message`.
#![allow(clippy::print_stdout)] // the report is this command's output

use std::process::ExitCode;

use turnout_model::{Name, zonefile};

use crate::cli::CheckZoneArgs;

/// Runs `turnout check-zone`: 0 when every file is valid, 1 when one is not, 2 on bad usage.
pub fn run(args: &CheckZoneArgs) -> ExitCode {
    let origin = match args.origin.as_deref().map(Name::parse_absolute).transpose() {
        Ok(o) => o,
        Err(e) => {
            println!("--origin: {e}");
            return ExitCode::from(2);
        }
    };
    let mut failed = false;
    for file in &args.files {
        match zonefile::parse_file(file, origin.as_ref()) {
            Ok(zone) => {
                let serial = zone.soa().map_or(0, |(_, soa)| soa.serial);
                println!(
                    "{}: zone {} is valid: {} records, serial {serial}",
                    file.display(),
                    zone.apex(),
                    zone.record_count()
                );
            }
            Err(errors) => {
                failed = true;
                for e in &errors {
                    println!("{e}");
                }
                println!("{}: {} error(s)", file.display(), errors.len());
            }
        }
    }
    if failed { ExitCode::from(1) } else { ExitCode::SUCCESS }
}
