//! `portwatch list --forwards`: the port forwards of the live ruleset
//! (every dnat and redirect), as a table or JSON.

use std::io::Write;

use anyhow::{Result, bail};
use clap::ValueEnum;

use crate::cli::{FormatArg, ListArgs};
use crate::exit::{ExitCode, UsageError};
use crate::firewall::live;
use crate::firewall::verdict::Firewall;
use crate::owners::containers::Runtimes;
use crate::render::forwards::{write_json, write_json_lines, write_table};
use crate::sys::Os;

pub fn run(args: &ListArgs, os: &Os<'_>, stdout: &mut dyn Write) -> Result<ExitCode> {
    let ruleset = match live::read(os) {
        Firewall::Read(ruleset) => ruleset,
        Firewall::Unreadable(why) => bail!("cannot list forwards: {why}"),
    };
    let mut forwards: Vec<_> = live::judged_forwards(os, &ruleset, &|_| Vec::new())
        .into_iter()
        .map(|judged| judged.forward)
        .collect();
    Runtimes::read(os.files).name_targets(&mut forwards);
    let mut out = std::io::BufWriter::new(stdout);
    match (args.json, args.format) {
        (true, _) | (false, Some(FormatArg::Json)) => write_json(&forwards, &mut out)?,
        (false, Some(FormatArg::Jsonl)) => write_json_lines(&forwards, &mut out)?,
        (false, None | Some(FormatArg::Ss)) => write_table(&forwards, &mut out)?,
        (false, Some(other)) => {
            let name = other.to_possible_value().map(|value| value.get_name().to_owned());
            let problem =
                format!("--forwards is a table or JSON, not --format {}", name.unwrap_or_default());
            return Err(UsageError(problem).into());
        }
    }
    out.flush()?;
    Ok(ExitCode::Success)
}
