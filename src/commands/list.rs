//! `portwatch list`: select, read and render sockets.

use std::io::Write;
use std::sync::Arc;

use anyhow::{Context, Result};

use crate::cli::{ColorArg, FormatArg, ListArgs};
use crate::exit::{ExitCode, UsageError};
use crate::model::Socket;
use crate::names::{HostNames, Services};
use crate::netns;
use crate::owners::Owners;
use crate::render::json::{JsonStyle, JsonWriter};
use crate::render::lsof::LsofWriter;
use crate::render::netstat::NetstatWriter;
use crate::render::ss::{SsLayout, SsWriter};
use crate::render::{Format, Lookups, SocketWriter};
use crate::source::{self, Outcome, Selection, SocketFilter};
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
    if let Some(name) = &args.net {
        netns::enter(&netns::named_path(name))?;
    }
    if args.summary {
        let summary = crate::summary::read(system)?;
        if format(args) == Format::Json || format(args) == Format::JsonLines {
            serde_json::to_writer(&mut *stdout, &summary)?;
            stdout.write_all(b"\n")?;
            stdout.flush()?;
        } else {
            crate::summary::write_text(stdout, &summary)?;
        }
        return Ok(ExitCode::Success);
    }
    let super::Query { mut selection, filter } =
        super::query(&args.selection, StateSet::ss_default(), system, stderr)?;
    if args.kill && filter.is_none() {
        return Err(UsageError(
            "-K closes sockets only with a filter expression (such as 'dport = :80')".into(),
        )
        .into());
    }
    let format = format(args);
    if format == Format::Netstat {
        // netstat lists TCP before UDP.
        selection.netids.reverse();
    }
    let wants_owners = args.processes || format == Format::Lsof;
    if wants_owners && args.from.is_some() {
        return Err(UsageError(
            "process owners (-p, --format lsof) need the live system, not --from".into(),
        )
        .into());
    }
    let owners = if wants_owners { Some(scan_owners(system)?) } else { None };
    let hidden_hint = owners.as_ref().and_then(Owners::hidden_hint);
    let lookups = Lookups {
        services: (!args.numeric).then(|| Services::load(system)),
        hosts: args.resolve.then(|| HostNames::new(system)),
        owners,
        wide: args.wide,
    };
    let mut writer = writer(args, format, &selection, lookups, system, stdout)?;
    let mut killer = if args.kill { Some(source::Killer::open(system)?) } else { None };
    let mut sink = |socket: &Socket| {
        let gone_already = match killer.as_mut() {
            Some(killer) => !killer.kill(socket)?,
            None => false,
        };
        if gone_already { Ok(()) } else { writer.write_socket(socket) }
    };
    let outcome = match &args.from {
        Some(path) => source::list_recorded(path, &selection, filter.as_ref(), &mut sink)?,
        None if args.all_netns => {
            list_all_namespaces(system, &selection, filter.as_ref(), &mut sink, stderr)?
        }
        None => source::list_live(system, &selection, filter.as_ref(), &mut sink, stderr)?,
    };
    writer.finish()?;
    if args.debug_stats {
        let where_ = match (&filter, &args.from) {
            (_, Some(_)) => "filtered in userspace (replay)",
            (Some(f), None) if f.bytecode.is_some() => "filtered by the kernel",
            (Some(_), None) => "filtered in userspace",
            (None, None) => "no filter",
        };
        writeln!(
            stderr,
            "portwatch: debug: {} sockets received from sock_diag ({where_})",
            outcome.received
        )?;
    }
    if let Some(hint) = hidden_hint {
        writeln!(stderr, "{hint}")?;
    }
    report(outcome, stderr)
}

/// Lists every namespace in turn, each on a thread that entered it; its
/// rows carry the namespace. A namespace gone meanwhile is skipped.
fn list_all_namespaces(
    system: &dyn System,
    selection: &Selection,
    filter: Option<&SocketFilter>,
    sink: &mut source::Sink<'_>,
    stderr: &mut dyn Write,
) -> Result<Outcome> {
    let mut total = Outcome::default();
    for namespace in netns::discover(system)? {
        let label = Arc::new(namespace.label.clone());
        let mut notices = Vec::new();
        let listed = netns::within(&namespace, || {
            let mut sockets = Vec::new();
            let mut collect = |socket: &Socket| {
                sockets.push(Socket { netns: Some(label.clone()), ..socket.clone() });
                Ok(())
            };
            let outcome = source::list_live(system, selection, filter, &mut collect, &mut notices)?;
            Ok((sockets, outcome))
        });
        stderr.write_all(&notices)?;
        let (sockets, outcome) = match listed {
            Ok(listed) => listed,
            Err(error) => {
                writeln!(
                    stderr,
                    "portwatch: skipping network namespace {}: {error:#}",
                    namespace.label.inode
                )?;
                continue;
            }
        };
        for socket in &sockets {
            sink(socket)?;
        }
        total.interrupted |= outcome.interrupted;
        total.undecodable += outcome.undecodable;
        total.received += outcome.received;
    }
    Ok(total)
}

pub fn scan_owners(system: &dyn System) -> Result<Owners<'_>> {
    Owners::scan(system).context("cannot scan /proc for socket owners")
}

fn format(args: &ListArgs) -> Format {
    match (args.json, args.format) {
        (true, _) | (false, Some(FormatArg::Json)) => Format::Json,
        (false, Some(FormatArg::Jsonl)) => Format::JsonLines,
        (false, Some(FormatArg::Netstat)) => Format::Netstat,
        (false, Some(FormatArg::Lsof)) => Format::Lsof,
        (false, Some(FormatArg::Ss) | None) => Format::Ss,
    }
}

fn writer<'a>(
    args: &ListArgs,
    format: Format,
    selection: &Selection,
    lookups: Lookups<'a>,
    system: &'a dyn System,
    stdout: &'a mut dyn Write,
) -> Result<Box<dyn SocketWriter + 'a>> {
    let header = !args.no_header;
    Ok(match format {
        Format::Ss => {
            let layout = SsLayout {
                header,
                netid: selection.netids.len() > 1,
                state: !selection.states.is_single(),
                extended: args.extended,
                processes: args.processes,
                category: args.show_category,
                netns: args.all_netns,
                timers: args.selection.options,
                details: args.selection.memory || args.selection.info,
                oneline: args.selection.oneline,
                colour: colour(args.color, system),
            };
            Box::new(SsWriter::new(stdout, layout, lookups))
        }
        Format::Netstat => {
            let processes = args.processes;
            Box::new(NetstatWriter::new(stdout, lookups, selection.states, header, processes)?)
        }
        Format::Lsof => Box::new(LsofWriter::new(stdout, lookups, header)),
        Format::Json => {
            Box::new(JsonWriter::new(stdout, JsonStyle::Array, lookups, Services::load(system)))
        }
        Format::JsonLines => {
            Box::new(JsonWriter::new(stdout, JsonStyle::Lines, lookups, Services::load(system)))
        }
    })
}

/// `--color`: auto colours a terminal, unless NO_COLOR is set to anything.
fn colour(when: ColorArg, system: &dyn System) -> bool {
    match when {
        ColorArg::Always => true,
        ColorArg::Never => false,
        ColorArg::Auto => {
            system.stdout_is_terminal() && system.env_var("NO_COLOR").is_none_or(|v| v.is_empty())
        }
    }
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
    Ok(if outcome.is_complete() { ExitCode::Success } else { ExitCode::Incomplete })
}
