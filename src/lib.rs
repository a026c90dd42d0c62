//! portwatch: a Linux port auditor. `main.rs` only calls [`run`].

pub mod audit;
pub mod cli;
pub mod commands;
pub mod exit;
pub mod filter;
pub mod firewall;
pub mod fuzzing;
pub mod inventory;
pub mod model;
pub mod names;
pub mod netns;
pub mod owners;
pub mod render;
pub mod scan;
pub mod source;
pub mod sys;
pub mod watch;

use std::ffi::OsString;
use std::io::{self, Write};

use clap::FromArgMatches;

use cli::{Cli, Command, ListArgs};
use exit::{ExitCode, UsageError};
use sys::Os;

/// Runs portwatch with `args` (program name first) against the OS seams.
pub fn run(
    args: impl IntoIterator<Item = OsString>,
    os: &Os<'_>,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> ExitCode {
    let args = cli::nmap_spellings(args.into_iter().collect());
    let command_line = args.iter().map(|arg| arg.to_string_lossy()).collect::<Vec<_>>().join(" ");
    let cli = match parse(args) {
        Ok(cli) => cli,
        Err(error) => return report_clap_error(&error, stdout, stderr),
    };
    let result = match &cli.command {
        None => unknown_command(&cli.list).map_or_else(
            || list_or_record(&cli.list, os, stdout, stderr),
            |error| Err(error.into()),
        ),
        Some(Command::List(args)) => list_or_record(args, os, stdout, stderr),
        Some(Command::Record(args)) => {
            commands::record::run(&args.file, &args.selection, os, stderr)
        }
        Some(Command::Who(args)) => commands::who::run(args, os, stdout, stderr),
        Some(Command::Audit(args)) => commands::audit::run(args, os, stdout, stderr),
        Some(Command::Baseline(args)) => commands::baseline::run(args, os, stderr),
        Some(Command::Watch(args)) => commands::watch::run(args, os, stdout, stderr),
        Some(Command::History(args)) => commands::history::run(args, os, stdout, stderr),
        Some(Command::Scan(args)) => commands::scan::run(args, &command_line, os, stdout, stderr),
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

/// `list -D FILE` records, as `ss -D` does.
fn list_or_record(
    args: &ListArgs,
    os: &Os<'_>,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    match &args.diag {
        Some(path) => commands::record::run(path, &args.selection, os, stderr),
        None if args.forwards => commands::forwards::run(args, os, stdout),
        None => commands::list::run(args, os, stdout, stderr),
    }
}

/// `portwatch lsit`: a first word that is neither a command nor the start
/// of a state word or filter is a mistyped command, not a filter error.
fn unknown_command(args: &ListArgs) -> Option<UsageError> {
    let first = args.selection.filter.first()?;
    let word = first.split_whitespace().next()?;
    let plain = !word.is_empty() && word.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    let state_word = matches!(word, "state" | "exclude" | "excl");
    if !plain || state_word || filter::parse::starts_an_expression(word) {
        return None;
    }
    let commands = [
        "list",
        "record",
        "who",
        "audit",
        "baseline",
        "scan",
        "watch",
        "history",
        "completions",
        "man",
        "help",
    ];
    let closest = commands
        .iter()
        .map(|command| (strsim::jaro_winkler(word, command), command))
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .filter(|(similarity, _)| *similarity > 0.7);
    let hint = match closest {
        Some((_, command)) => format!("; did you mean `{command}`?"),
        None => format!(" (commands: {}; or a filter such as 'sport = :22')", commands.join(", ")),
    };
    Some(UsageError(format!("unknown command '{}'{hint}", render::escape::for_terminal(word))))
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
