//! The `turnout` binary: parses the command line and hands over to the command. Wiring only;
//! the work lives in the library crates.

mod check_zone;
mod cli;
mod commands;
mod config;
mod desired;
mod docs;
mod logging;
mod memory;
mod serve;
mod tasks;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match &cli.command {
        cli::Command::Serve(args) => serve::run(args),
        cli::Command::CheckZone(args) => check_zone::run(args),
        cli::Command::Completions { shell } => docs::completions(*shell),
        cli::Command::Man { dir } => docs::man(dir),
        command => commands::run(command),
    }
}
