//! Puts the commit the binary is built from into `turnout --version` (`TURNOUT_COMMIT`): the
//! short hash from git, `TURNOUT_COMMIT` from the environment when building from a tarball, or
//! "unknown".

use std::process::Command;

fn main() {
    let from_env = std::env::var("TURNOUT_COMMIT").ok().filter(|c| !c.is_empty());
    let from_git = || {
        let out = Command::new("git").args(["rev-parse", "--short=12", "HEAD"]).output().ok()?;
        let hash = String::from_utf8(out.stdout).ok()?.trim().to_owned();
        (out.status.success() && !hash.is_empty()).then_some(hash)
    };
    let commit = from_env.or_else(from_git).unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=TURNOUT_COMMIT={commit}");
    println!("cargo:rerun-if-env-changed=TURNOUT_COMMIT");
    // A new commit or checkout changes HEAD or the branch it points to.
    if let Ok(out) = Command::new("git").args(["rev-parse", "--git-dir"]).output()
        && out.status.success()
    {
        let dir = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        // Only files that exist: a missing one would run this script at every build.
        let watch = |path: String| {
            if std::path::Path::new(&path).exists() {
                println!("cargo:rerun-if-changed={path}");
            }
        };
        watch(format!("{dir}/HEAD"));
        watch(format!("{dir}/packed-refs"));
        if let Ok(head) = std::fs::read_to_string(format!("{dir}/HEAD"))
            && let Some(branch) = head.trim().strip_prefix("ref: ")
        {
            watch(format!("{dir}/{branch}"));
        }
    }
}
