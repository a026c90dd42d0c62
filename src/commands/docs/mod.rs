//! `portwatch man`, `portwatch completions SHELL` and the help texts that
//! need more than the clap definition: generated from it and from the
//! crate's reference tables, so they never drift from the real flags,
//! exit codes, filter grammar and JSON keys.

pub mod audit_json;
pub mod filters;
pub mod json_schema;
mod man_page;
pub mod text;

use std::io::Write;

use anyhow::Result;
use clap::CommandFactory;

use crate::cli::Cli;
use crate::exit::{EXIT_STATUSES, ExitCode};
use text::Table;

/// The subcommands whose `--help` lists the exit statuses, besides
/// `portwatch --help`: those whose exit status scripts test.
const HELP_WITH_EXIT_STATUSES: [&str; 3] = ["list", "who", "audit"];

/// The clap command to parse with: [`Cli`]'s, with the exit statuses
/// after the examples of `--help`.
pub fn command() -> clap::Command {
    let statuses = exit_statuses_help();
    let command = with_exit_statuses(Cli::command(), &statuses);
    command.mut_subcommands(|subcommand| {
        if HELP_WITH_EXIT_STATUSES.contains(&subcommand.get_name()) {
            with_exit_statuses(subcommand, &statuses)
        } else {
            subcommand
        }
    })
}

fn with_exit_statuses(command: clap::Command, statuses: &str) -> clap::Command {
    let help = match command.get_after_help() {
        Some(examples) => format!("{examples}\n\n{statuses}"),
        None => statuses.to_owned(),
    };
    command.after_help(help)
}

/// The exit statuses as `--help` shows them: one short line each.
pub fn exit_statuses_help() -> String {
    let lines: Vec<String> = EXIT_STATUSES
        .iter()
        .map(|status| format!("  {}  {}", status.code.number(), status.summary))
        .collect();
    format!("Exit status:\n{}", lines.join("\n"))
}

/// The exit statuses with their whole meaning, as README's table.
pub fn exit_statuses_table() -> Table {
    Table {
        header: &["code", "meaning"],
        rows: EXIT_STATUSES
            .iter()
            .map(|status| vec![status.code.number().to_string(), status.meaning.to_owned()])
            .collect(),
    }
}

pub fn completions(shell: clap_complete::Shell, out: &mut dyn Write) -> Result<ExitCode> {
    let mut command = command();
    clap_complete::generate(shell, &mut command, "portwatch", out);
    out.flush()?;
    Ok(ExitCode::Success)
}

/// The manual page, in roff.
pub fn man(out: &mut dyn Write) -> Result<ExitCode> {
    man_page::render(command(), out)?;
    out.flush()?;
    Ok(ExitCode::Success)
}
