//! `portwatch list`: select, read and render sockets.

use std::io::Write;

use anyhow::Result;

use crate::cli::{FormatArg, ListArgs};
use crate::exit::ExitCode;
use crate::names::{HostNames, Services};
use crate::render::json::{JsonStyle, JsonWriter};
use crate::render::ss::{Naming, SsLayout, SsWriter};
use crate::render::{Format, SocketWriter};
use crate::source::{self, Outcome, Selection};
use crate::state::StateSet;
use crate::sys::System;

pub fn run(
    args: &ListArgs,
    system: &dyn System,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<ExitCode> {
    if let Some(path) = &args.diag {
        return super::record::record_to_path(path, &args.selection, system, stderr);
    }
    let selection = super::selection(&args.selection, StateSet::ss_default())?;
    let mut writer = writer(args, &selection, system, stdout);
    let mut sink = |socket: &crate::model::Socket| writer.write_socket(socket);
    let outcome = match &args.from {
        Some(path) => source::list_recorded(path, &selection, &mut sink)?,
        None => source::list_live(system, &selection, &mut sink, stderr)?,
    };
    writer.finish()?;
    report(outcome, stderr)
}

fn format(args: &ListArgs) -> Format {
    match (args.json, args.format) {
        (true, _) | (false, Some(FormatArg::Json)) => Format::Json,
        (false, Some(FormatArg::Jsonl)) => Format::JsonLines,
        (false, Some(FormatArg::Ss) | None) => Format::Ss,
    }
}

fn writer<'a>(
    args: &ListArgs,
    selection: &Selection,
    system: &'a dyn System,
    stdout: &'a mut dyn Write,
) -> Box<dyn SocketWriter + 'a> {
    let hosts = args.resolve.then(|| HostNames::new(system));
    let style = match format(args) {
        Format::Json => JsonStyle::Array,
        Format::JsonLines => JsonStyle::Lines,
        Format::Ss => {
            let layout = SsLayout {
                header: !args.no_header,
                netid: selection.netids.len() > 1,
                state: !selection.states.is_single(),
                extended: args.extended,
            };
            let services = (!args.numeric).then(|| Services::load(system));
            return Box::new(SsWriter::new(stdout, layout, Naming { services, hosts }));
        }
    };
    Box::new(JsonWriter::new(
        stdout,
        style,
        Services::load(system),
        hosts,
    ))
}

/// Tells the user, after the rows, when they may not be the whole truth.
pub fn report(outcome: Outcome, stderr: &mut dyn Write) -> Result<ExitCode> {
    if outcome.interrupted {
        writeln!(
            stderr,
            "portwatch: warning: the kernel interrupted a socket dump (NLM_F_DUMP_INTR): \
             sockets may be missing or listed twice; run again"
        )?;
    }
    if outcome.undecodable > 0 {
        writeln!(
            stderr,
            "portwatch: warning: {} socket replies could not be decoded and were left out",
            outcome.undecodable
        )?;
    }
    Ok(if outcome.is_complete() {
        ExitCode::Success
    } else {
        ExitCode::Incomplete
    })
}
