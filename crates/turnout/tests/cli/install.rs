//! What the package installs from the binary itself: the version with its commit, manual pages
//! and shell completions.

use std::process::Command;

use crate::{bin, text};

#[test]
fn version_man_pages_and_completions_come_from_the_binary() {
    let out = Command::new(bin()).arg("--version").output().unwrap();
    let version = text(&out);
    assert!(version.starts_with("turnout 0.") && version.contains(" (commit "), "{version}");
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(bin()).arg("man").arg(dir.path()).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let page = std::fs::read_to_string(dir.path().join("turnout-zone-create.1")).unwrap();
    assert!(
        page.contains(".TH turnout-zone-create") && page.contains("caller\\-reference"),
        "{page}"
    );
    assert!(dir.path().join("turnout.1").exists() && dir.path().join("turnout-serve.1").exists());
    for shell in ["bash", "zsh", "fish"] {
        let out = Command::new(bin()).args(["completions", shell]).output().unwrap();
        assert!(
            out.status.success() && String::from_utf8_lossy(&out.stdout).contains("token-file"),
            "{shell}"
        );
    }
    let out = Command::new(bin()).args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}
