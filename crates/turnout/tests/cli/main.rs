//! Black-box tests of the control plane through the real binary: `turnout serve` with its
//! embedded store and API, the CLI commands, and answers checked with real `dig`.
#![allow(clippy::unwrap_used)] // A panic is how a test fails.

mod apply;
mod store;

use std::path::{Path, PathBuf};
use std::process::Output;

use turnout_testkit::process::Turnout;

/// The binary under test.
pub fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_turnout"))
}

/// A file under the repository's `examples/`.
pub fn example(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples").join(rel)
}

/// Starts `turnout serve` on free loopback ports with a fresh data directory (or `data_dir`).
pub fn start(data_dir: Option<&Path>) -> Turnout {
    let mut args = vec!["serve", "--dns", "127.0.0.1:0", "--udp-workers", "1"];
    let dir;
    if let Some(d) = data_dir {
        dir = d.display().to_string();
        args.extend(["--data-dir", &dir]);
    }
    Turnout::start(bin(), &args)
}

/// Runs a CLI command and returns stdout, failing the test unless it exits 0.
pub fn ok(t: &Turnout, args: &[&str]) -> String {
    let out = t.cli(args);
    assert!(out.status.success(), "{args:?}: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Everything a command printed.
pub fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}
