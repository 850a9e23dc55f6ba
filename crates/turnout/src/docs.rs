//! `turnout completions SHELL` and `turnout man DIR`: the shell completions and the manual
//! pages the Debian package installs, generated from the command line's own definition so they
//! never drift from it.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use clap::CommandFactory;

use crate::cli::{Cli, Shell};

/// Prints the completion script of `shell`.
pub fn completions(shell: Shell) -> ExitCode {
    let mut command = Cli::command();
    let generator = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    // Into memory first: the generator panics on a write error (a closed pipe).
    let mut script = Vec::new();
    clap_complete::generate(generator, &mut command, "turnout", &mut script);
    let mut out = std::io::stdout().lock();
    match out.write_all(&script).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::from(1),
    }
}

/// Writes `turnout.1` and a page per subcommand (`turnout-zone.1`, `turnout-zone-create.1`...)
/// into `dir`.
#[allow(clippy::print_stderr)]
pub fn man(dir: &Path) -> ExitCode {
    let result = std::fs::create_dir_all(dir).and_then(|()| {
        let mut command = Cli::command();
        command.build();
        write_pages(&command, "turnout", dir)
    });
    match result {
        Ok(n) => {
            eprintln!("wrote {n} manual pages to {}", dir.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: cannot write manual pages to {}: {e}", dir.display());
            ExitCode::from(1)
        }
    }
}

fn write_pages(command: &clap::Command, name: &str, dir: &Path) -> std::io::Result<usize> {
    let page = command.clone().display_name(name.to_owned());
    let mut buffer = Vec::new();
    clap_mangen::Man::new(page).render(&mut buffer)?;
    std::fs::write(dir.join(format!("{name}.1")), buffer)?;
    let mut n = 1;
    for sub in command.get_subcommands().filter(|s| s.get_name() != "help") {
        n += write_pages(sub, &format!("{name}-{}", sub.get_name()), dir)?;
    }
    Ok(n)
}
