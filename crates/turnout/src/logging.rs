//! Logs go to stderr, one line per event, as text or as JSON objects with stable field names
//! (docs/observability.md#logs); `RUST_LOG` overrides the configured level.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// `2026-12-04T14:40:49.709896Z  INFO turnout_dns::server: listening ...`
    #[default]
    Text,
    /// One JSON object per line: `timestamp`, `level`, `target`, `message`, and the event's
    /// own fields.
    Json,
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Format::Text => "text",
            Format::Json => "json",
        })
    }
}

/// Installs the global subscriber once; later calls do nothing.
pub fn init(level: &str, format: Format) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _already_installed = match format {
        Format::Text => builder.with_ansi(std::io::stderr().is_terminal()).try_init(),
        Format::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .try_init(),
    };
}
