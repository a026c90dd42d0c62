//! `portwatch man` and `portwatch completions SHELL`, generated from the
//! clap definition so they never drift from the real flags, and the
//! reference text (filter grammar, JSON keys, exit statuses) that README
//! repeats.

pub mod filters;
pub mod json_schema;
pub mod text;

use std::io::Write;

use anyhow::Result;
use clap::CommandFactory;
use roff::{Roff, bold, roman};

use crate::cli::Cli;
use crate::exit::{EXIT_STATUSES, ExitCode};
use text::Table;

/// The subcommands whose `--help` lists the exit statuses, besides
/// `portwatch --help`: those whose exit status scripts test.
const HELP_WITH_EXIT_STATUSES: [&str; 2] = ["list", "who"];

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

pub fn completions(shell: clap_complete::Shell, out: &mut dyn Write) -> Result<ExitCode> {
    let mut command = command();
    clap_complete::generate(shell, &mut command, "portwatch", out);
    out.flush()?;
    Ok(ExitCode::Success)
}

/// The manual page: clap's sections, then examples and exit status.
pub fn man(out: &mut dyn Write) -> Result<ExitCode> {
    let man = clap_mangen::Man::new(command());
    man.render_title(out)?;
    man.render_name_section(out)?;
    man.render_synopsis_section(out)?;
    man.render_description_section(out)?;
    man.render_options_section(out)?;
    man.render_subcommands_section(out)?;
    let mut extra = Roff::new();
    extra.control("SH", ["EXAMPLES"]);
    for line in crate::cli::LIST_EXAMPLES.lines().skip(1).take_while(|l| !l.is_empty()) {
        extra.control("TP", []).text([bold(line.trim())]);
    }
    extra.control("SH", ["EXIT STATUS"]);
    for (code, meaning) in [
        ("0", "Success; for list, also when no socket matched."),
        ("1", "who: nothing matches."),
        ("2", "A command-line mistake or a runtime error, reported on stderr."),
        ("3", "The output was printed but may be incomplete (the kernel interrupted a dump)."),
    ] {
        extra.control("TP", []).text([bold(code)]).text([roman(meaning)]);
    }
    extra.control("SH", ["SEE ALSO"]).text([roman("ss(8), netstat(8), lsof(8)")]);
    extra.to_writer(out)?;
    man.render_version_section(out)?;
    out.flush()?;
    Ok(ExitCode::Success)
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
