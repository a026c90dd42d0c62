//! `portwatch history`: the events `watch --history FILE` recorded, in
//! the order they were recorded, chosen by time (`--since`, `--until`) and
//! by a TARGET read as `who` reads it. Reads while a watch writes.

use std::io::Write;
use std::time::SystemTime;

use anyhow::Result;

use crate::cli::HistoryArgs;
use crate::exit::{ExitCode, UsageError};
use crate::filter::target::{HostLookup, Target};
use crate::model::Socket;
use crate::render::escape::for_terminal;
use crate::render::history::{write_json, write_table};
use crate::sys::Os;
use crate::watch::history::{self, HistoryQuery};

pub fn run(
    args: &HistoryArgs,
    os: &Os<'_>,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<ExitCode> {
    let now = os.env.now();
    let since =
        args.since.as_deref().map(|text| point_in_time("--since", text, now)).transpose()?;
    let until =
        args.until.as_deref().map(|text| point_in_time("--until", text, now)).transpose()?;
    let target = args.target.as_deref().map(|text| parse_target(text, os)).transpose()?;
    let accepts = target.map(|target| move |socket: &Socket| target.matches(socket));
    let query = HistoryQuery {
        since,
        until,
        target: accepts.as_ref().map(|accepts| accepts as &dyn Fn(&Socket) -> bool),
    };
    let events = history::read(&args.file, &query)?;
    let mut out = std::io::BufWriter::new(stdout);
    match args.json {
        true => write_json(&events, &mut out)?,
        false => write_table(&events, &mut out)?,
    }
    out.flush()?;
    if events.is_empty() && !args.json {
        let file = args.file.display().to_string();
        writeln!(stderr, "portwatch: no recorded event matches in {}", for_terminal(&file))?;
    }
    Ok(ExitCode::Success)
}

/// TARGET as `who` reads it.
fn parse_target(text: &str, os: &Os<'_>) -> Result<Target, UsageError> {
    Target::parse("history", text, &HostLookup::new(os))
}

/// `1h` (that long before `now`) or an RFC 3339 time (`2026-12-05T14:00:00Z`).
fn point_in_time(option: &str, text: &str, now: SystemTime) -> Result<SystemTime, UsageError> {
    let problem = || {
        UsageError(format!(
            "history: {option} '{}' is neither a duration (1h, 30m, 2d) nor an RFC 3339 time",
            for_terminal(text)
        ))
    };
    if let Ok(ago) = humantime::parse_duration(text) {
        return now.checked_sub(ago).ok_or_else(problem);
    }
    humantime::parse_rfc3339_weak(text).map_err(|_| problem())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn points_in_time() {
        let now = humantime::parse_rfc3339("2026-12-05T14:00:00Z").unwrap();
        let at = |text: &str| point_in_time("--since", text, now);
        assert_eq!(at("1h").unwrap(), now - Duration::from_secs(3600));
        assert_eq!(at("2d").unwrap(), now - Duration::from_secs(2 * 86_400));
        assert_eq!(at("2026-12-05T13:30:00Z").unwrap(), now - Duration::from_secs(1800));
        assert_eq!(at("2026-12-05T13:30:00.5Z").unwrap(), now - Duration::from_millis(1_799_500));
        let error = at("yesterday\u{1b}").unwrap_err();
        assert!(error.0.starts_with("history: --since 'yesterday\\u{1b}' is neither"), "{error}");
    }
}
