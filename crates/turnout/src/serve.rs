//! `turnout serve`: load the zones, bind the sockets, serve; SIGHUP reloads the zone files (a
//! new snapshot is published only if every file is valid); SIGTERM/SIGINT drain and exit 0; a
//! dead listener exits 1.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};
use turnout_dns::server::DnsServer;
use turnout_dns::{Snapshot, SnapshotHandle};
use turnout_model::zonefile;

use crate::cli::ServeArgs;
use crate::config::{self, Settings};

/// Loads every zone file into one snapshot, or returns every error found.
pub fn load_snapshot(files: &[PathBuf]) -> Result<Snapshot, Vec<String>> {
    let mut zones = Vec::with_capacity(files.len());
    let mut errors = Vec::new();
    for f in files {
        match zonefile::parse_file(f, None) {
            Ok(z) => zones.push(z),
            Err(es) => errors.extend(es.iter().map(ToString::to_string)),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Snapshot::build(&zones).map_err(|e| vec![e.to_string()])
}

fn describe(snap: &Snapshot) -> String {
    if snap.zones().is_empty() {
        return "no zones: every query will be refused".to_owned();
    }
    let zones: Vec<String> = snap
        .zones()
        .iter()
        .map(|(apex, serial, n)| format!("{apex} (serial {serial}, {n} records)"))
        .collect();
    let mib = snap.heap_bytes() as f64 / (1024.0 * 1024.0);
    format!("serving {} zone(s) in {mib:.1} MiB: {}", zones.len(), zones.join(", "))
}

/// Runs `turnout serve`.
pub fn run(args: &ServeArgs) -> ExitCode {
    let settings = match config::resolve(args) {
        Ok(s) => s,
        Err(e) => {
            crate::logging::init("info");
            error!("{e}");
            return ExitCode::from(2);
        }
    };
    crate::logging::init(&settings.log_level);
    let snapshot = match load_snapshot(&settings.zone_files) {
        Ok(s) => s,
        Err(errors) => {
            for e in &errors {
                error!("{e}");
            }
            error!("not serving: {} error(s) in the zone files", errors.len());
            return ExitCode::from(2);
        }
    };
    crate::memory::return_freed_memory();
    if args.check_config {
        info!("configuration is valid; {}", describe(&snapshot));
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            error!("cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(serve(settings, snapshot)) {
        Ok(()) => {
            info!("stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            error!("{e:#}");
            ExitCode::from(1)
        }
    }
}

async fn serve(settings: Settings, snapshot: Snapshot) -> anyhow::Result<()> {
    info!("{}", describe(&snapshot));
    let handle = SnapshotHandle::new(snapshot);
    let server = DnsServer::bind(settings.dns.clone())?;
    let shutdown = CancellationToken::new();
    let mut term = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot watch SIGINT")?;
    let mut hup = signal(SignalKind::hangup()).context("cannot watch SIGHUP")?;
    let stop = shutdown.clone();
    let reload_handle = handle.clone();
    let files = settings.zone_files.clone();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = term.recv() => { info!("SIGTERM received"); break; }
                _ = int.recv() => { info!("SIGINT received"); break; }
                _ = hup.recv() => reload(&reload_handle, &files).await,
            }
        }
        stop.cancel();
    });
    server.run(handle, shutdown).await.map_err(Into::into)
}

async fn reload(handle: &SnapshotHandle, files: &[PathBuf]) {
    info!("SIGHUP received: reloading {} zone file(s)", files.len());
    let files = files.to_vec();
    match tokio::task::spawn_blocking(move || load_snapshot(&files)).await {
        Ok(Ok(snap)) => {
            let what = describe(&snap);
            let retired = handle.publish(snap);
            info!("reloaded; {what}");
            // Free the previous zones off the runtime, once no worker reads them.
            let freed = tokio::task::spawn_blocking(move || {
                retired.release();
                crate::memory::return_freed_memory();
            });
            if let Err(e) = freed.await {
                warn!("releasing the previous zones failed: {e}");
            }
        }
        Ok(Err(errors)) => {
            for e in &errors {
                warn!("{e}");
            }
            warn!("reload rejected: {} error(s); still serving the previous zones", errors.len());
        }
        Err(e) => warn!("reload failed: {e}; still serving the previous zones"),
    }
}
