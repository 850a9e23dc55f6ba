//! The command line: `turnout serve` and `turnout check-zone`, with documented exit codes.
//!
//! Exit codes: 0 success; 1 a failure while running (a listener died) or, for `check-zone`,
//! errors found in the zone; 2 bad usage or configuration (nothing was served).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Turnout: an authoritative DNS server with health-checked failover.
#[derive(Debug, Parser)]
#[command(name = "turnout", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve DNS for the given zones until SIGTERM or SIGINT; SIGHUP reloads the zone files.
    Serve(ServeArgs),
    /// Check RFC 1035 zone files and list every error with its line.
    CheckZone(CheckZoneArgs),
}

/// Flags of `turnout serve`. Each overrides the config file; each has an environment variable.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to serve DNS on, UDP and TCP (repeatable; port 0 picks a free port)
    /// [default: 127.0.0.1:5300]
    #[arg(long = "dns", value_name = "ADDR", env = "TURNOUT_DNS", value_delimiter = ',')]
    pub dns: Vec<SocketAddr>,
    /// Serve this RFC 1035 zone file (repeatable)
    #[arg(
        long = "zone-file",
        value_name = "FILE",
        env = "TURNOUT_ZONE_FILES",
        value_delimiter = ','
    )]
    pub zone_files: Vec<PathBuf>,
    /// Daemon settings file (TOML; see docs/configuration.md)
    #[arg(long, value_name = "FILE", env = "TURNOUT_CONFIG")]
    pub config: Option<PathBuf>,
    /// UDP sockets (and threads) per DNS address [default: one per CPU]
    #[arg(long, value_name = "N", env = "TURNOUT_UDP_WORKERS")]
    pub udp_workers: Option<usize>,
    /// Check the configuration and the zone files, then exit without serving
    #[arg(long)]
    pub check_config: bool,
}

/// Flags of `turnout check-zone`.
#[derive(Debug, Args)]
pub struct CheckZoneArgs {
    /// The zone files
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// The initial $ORIGIN, for files that use relative names without setting one
    #[arg(long, value_name = "NAME")]
    pub origin: Option<String>,
}
