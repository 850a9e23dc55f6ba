//! Black-box tests of the `turnout` binary's DNS service: real packets over loopback UDP and
//! TCP, real `dig`/`kdig`, signals and exit codes. One test binary for the suite.

mod abuse;
mod dnssec;
mod interop;
mod lifecycle;
mod metrics;
mod scenarios;
mod secondary;
mod tap;
mod tcp;
mod transfers;
mod updates;

use std::path::{Path, PathBuf};

use turnout_testkit::process::Turnout;

/// The binary under test.
pub fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_turnout"))
}

/// A file of this suite.
pub fn suite_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/dns").join(rel)
}

/// Starts turnout on a free loopback port serving the suite's zones.
pub fn start_with_suite_zones(extra: &[&str]) -> Turnout {
    let parent = suite_file("zones/example.test.zone");
    let child = suite_file("zones/child.example.test.zone");
    let mut args = vec!["serve", "--dns", "127.0.0.1:0", "--udp-workers", "2"];
    let (p, c) = (parent.to_string_lossy().into_owned(), child.to_string_lossy().into_owned());
    args.extend(["--zone-file", &p, "--zone-file", &c]);
    args.extend_from_slice(extra);
    Turnout::start(bin(), &args)
}
