//! The commands that talk to the API (`zone`, `record`, `change`, `import`, `export`, `apply`)
//! and to a stopped node's store (`store`). Each prints for people, or the API's JSON with
//! `--output json`, and exits with the code documented in [`crate::cli`].

mod apply;
mod checks;
mod controls;
mod drills;
mod explain;
mod records;
mod store;
mod transfer;
mod zones;

use std::io::Write;
use std::process::ExitCode;

use serde::Serialize;
use turnout_api::client::{Client, ClientError, TlsOptions};
use turnout_control::tokens::read_admin_token;

use crate::cli::{AuthArgs, ClientArgs, Command, Output};

/// A command's failure, with its exit code.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The API refused or failed the request.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// Bad input on this side (a file, a flag); nothing was sent.
    #[error("{0}")]
    Input(String),
    /// The store could not be opened or read.
    #[error("{0}")]
    Store(String),
    /// A dry run found that the request would be refused (exit 1, as the refusal itself).
    #[error("{0}")]
    WouldBeRefused(String),
    /// A drill waited for did not pass (exit 1).
    #[error("{0}")]
    DrillDidNotPass(String),
}

impl Failure {
    fn exit_code(&self) -> u8 {
        match self {
            Failure::Client(ClientError::Api(e)) if e.status >= 500 => 3,
            Failure::Client(ClientError::Api(_) | ClientError::Decode { .. })
            | Failure::WouldBeRefused(_)
            | Failure::DrillDidNotPass(_) => 1,
            Failure::Client(ClientError::Url { .. } | ClientError::Tls(_)) | Failure::Input(_) => 2,
            Failure::Client(_) | Failure::Store(_) => 3,
        }
    }
}

/// Runs an API or store command.
pub fn run(command: &Command) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => return fail(&Failure::Store(format!("cannot start the runtime: {e}"))),
    };
    let result = runtime.block_on(async {
        match command {
            Command::Zone(c) => zones::run(c).await,
            Command::Record(c) => records::run(c).await,
            Command::Change(c) => records::change(c).await,
            Command::Check(c) => checks::run(c).await,
            Command::Import(a) => transfer::import(a).await,
            Command::Export(a) => transfer::export(a).await,
            Command::Apply(a) => apply::run(a).await,
            Command::Store(c) => store::run(c).await,
            Command::Explain(a) => explain::run(a).await,
            Command::Control(c) => controls::run(c).await,
            Command::Rule(c) => controls::run_rule(c).await,
            Command::Drill(c) => drills::run(c).await,
            Command::Token(c) => controls::run_token(c).await,
            Command::TsigKey(c) => zones::run_tsig_key(c).await,
            Command::Dnssec(c) => zones::run_dnssec(c).await,
            Command::Cluster(c) => controls::run_cluster(c).await,
            Command::Audit(a) => controls::run_audit(a).await,
            Command::Serve(_)
            | Command::CheckZone(_)
            | Command::Completions { .. }
            | Command::Man { .. } => Ok(()),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

#[allow(clippy::print_stderr)] // The CLI's error output.
fn fail(e: &Failure) -> ExitCode {
    // Text from the API (reasons, names, messages) is printed with control characters escaped.
    let line = |text: String| eprintln!("{}", printable(&text));
    match e {
        // The refusals and the errors are listed one by one below, once.
        Failure::Client(ClientError::Api(api)) if !api.refusals.is_empty() => {
            line(format!("error: {}: refused by safety rules; nothing changed", api.code));
        }
        Failure::Client(ClientError::Api(api)) if !api.errors.is_empty() => {
            let n = api.errors.len();
            line(format!("error: {}: {n} error(s); nothing changed", api.code));
        }
        _ => line(format!("error: {e}")),
    }
    if let Failure::Client(ClientError::Api(api)) = e {
        if let Some(field) = &api.field
            && api.errors.is_empty()
            && api.refusals.is_empty()
        {
            line(format!("  field: {field}"));
        }
        for refusal in &api.refusals {
            line(format!("  refused by {}: {}", refusal.rule, refusal.reason));
        }
        // A wait period ends by itself: say when, not how to override.
        let wait = api.refusals.iter().map(|r| r.retry_after_ms).collect::<Option<Vec<u64>>>();
        if let Some(ms) = wait.and_then(|w| w.into_iter().max()) {
            let after = turnout_model::duration::format_duration(std::time::Duration::from_secs(
                ms.div_ceil(1000),
            ));
            line(format!("  hint: retry in {after}, once the wait period above has passed"));
        } else if !api.refusals.is_empty() {
            line(
                "  hint: fix the state first, or name the rule with --override if you must".into(),
            );
        }
        for error in &api.errors {
            line(format!("  {}: {} ({})", error.field, error.message, error.code));
        }
        if api.code == "Unauthorized" {
            line(
                "  hint: give --token or --token-file (TURNOUT_TOKEN, TURNOUT_TOKEN_FILE), or run \
                 from where --data-dir holds admin.token"
                    .to_owned(),
            );
        }
    }
    ExitCode::from(e.exit_code())
}

/// `text` with every control character but newline and tab escaped (`\u{1b}`), so that text
/// from the API or a file can never drive the terminal.
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() && c != '\n' && c != '\t' {
            out.push_str(&c.escape_unicode().to_string());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// The API client for a command.
pub fn client(args: &ClientArgs) -> Result<Client, Failure> {
    connect(&args.api, &args.auth)
}

/// A client for the API at `url`: the token from `--token`, else `--token-file`, else the data
/// directory's admin token if present; TLS as `--cacert`, `--cert` and `--key` say.
pub fn connect(url: &str, auth: &AuthArgs) -> Result<Client, Failure> {
    let token = match (&auth.token, &auth.token_file) {
        (Some(t), _) => Some(t.clone()),
        (None, Some(file)) => Some(read_token_file(file)?),
        (None, None) => read_admin_token(&auth.data_dir).ok(),
    };
    let tls = TlsOptions {
        ca: auth.cacert.clone(),
        identity: auth
            .cert
            .clone()
            .zip(auth.key.clone())
            .map(|(cert, key)| turnout_health::tls::ClientIdentity { cert, key }),
    };
    Ok(Client::with_tls(url, token, &tls)?)
}

/// The token in a file (its first line, trimmed).
fn read_token_file(path: &std::path::Path) -> Result<String, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::Input(format!("--token-file {}: {e}", path.display())))?;
    match text.lines().next().map(str::trim) {
        Some(t) if !t.is_empty() => Ok(t.to_owned()),
        _ => Err(Failure::Input(format!("--token-file {}: the file is empty", path.display()))),
    }
}

/// Prints a warning to stderr.
#[allow(clippy::print_stderr)]
pub fn warn(text: &str) {
    eprintln!("warning: {}", printable(text));
}

/// Prints a line to stdout (the CLI's output).
#[allow(clippy::print_stdout)]
pub fn say(text: &str) {
    println!("{}", printable(text));
}

/// Prints a value as pretty JSON.
pub fn print_json<T: Serialize>(value: &T) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(value).map_err(|e| Failure::Input(e.to_string()))?;
    say(&text);
    Ok(())
}

/// Prints either JSON or, for people, the text `f` makes.
pub fn output<T: Serialize>(
    output: Output,
    value: &T,
    text: impl FnOnce(&T) -> String,
) -> Result<(), Failure> {
    match output {
        Output::Json => print_json(value),
        Output::Text => {
            let mut out = std::io::stdout().lock();
            let body = text(value);
            // A closed stdout (`| head`) is not an error worth reporting.
            let _closed = writeln!(out, "{}", printable(body.trim_end()));
            Ok(())
        }
    }
}
