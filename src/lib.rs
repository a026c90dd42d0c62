//! portwatch: a Linux port auditor. `main.rs` only calls [`run`].

pub mod cli;
pub mod commands;
pub mod details;
pub mod exit;
pub mod filter;
pub mod fuzzing;
pub mod model;
pub mod names;
pub mod netns;
pub mod owners;
pub mod render;
pub mod source;
pub mod state;
pub mod summary;
pub mod sys;

use std::ffi::OsString;
use std::io::{self, Write};

use clap::FromArgMatches;

use cli::{Cli, Command};
use exit::ExitCode;
use sys::System;

/// Runs portwatch with `args` (program name first) against `system`.
pub fn run(
    args: impl IntoIterator<Item = OsString>,
    system: &dyn System,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> ExitCode {
    let cli = match parse(args) {
        Ok(cli) => cli,
        Err(error) => return report_clap_error(&error, stdout, stderr),
    };
    let result = match &cli.command {
        None => commands::list::run(&cli.list, system, stdout, stderr),
        Some(Command::List(args)) => commands::list::run(args, system, stdout, stderr),
        Some(Command::Record(args)) => commands::record::run(args, system, stderr),
        Some(Command::Who(args)) => commands::who::run(args, system, stdout, stderr),
        Some(Command::Completions { shell }) => commands::docs::completions(*shell, stdout),
        Some(Command::Man) => commands::docs::man(stdout),
    };
    match result {
        Ok(code) => code,
        Err(error) if is_broken_pipe(&error) => ExitCode::Success,
        Err(error) => {
            let _ = writeln!(stderr, "portwatch: {error:#}");
            ExitCode::Error
        }
    }
}

/// Parses with the clap command whose `--help` also lists exit statuses.
fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Cli, clap::Error> {
    let mut command = commands::docs::command();
    let matches = command.try_get_matches_from_mut(args)?;
    Cli::from_arg_matches(&matches).map_err(|error| error.format(&mut command))
}

fn report_clap_error(
    error: &clap::Error,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> ExitCode {
    let text = error.render().to_string();
    if error.use_stderr() {
        // Every message on stderr starts `portwatch:`, clap's too.
        let _ = write!(stderr, "portwatch: {text}");
        ExitCode::Error
    } else {
        let _ = stdout.write_all(text.as_bytes());
        ExitCode::Success
    }
}

/// A reader that went away (`| head`) is a normal end, not an error.
fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        let kind = cause.downcast_ref::<io::Error>().map(io::Error::kind).or_else(|| {
            cause.downcast_ref::<serde_json::Error>().and_then(serde_json::Error::io_error_kind)
        });
        kind == Some(io::ErrorKind::BrokenPipe)
    })
}
