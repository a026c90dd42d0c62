//! `portwatch list`: list the selected sockets from the inventory through
//! the chosen view.

use std::io::Write;

use anyhow::Result;

use crate::audit::exposure;
use crate::cli::{FormatArg, ListArgs};
use crate::exit::{ExitCode, UsageError};
use crate::firewall::verdict::{Firewall, Judge};
use crate::inventory::{self, Enrich, Request, Scope};
use crate::model::{Socket, Transport};
use crate::render::json::{JsonStyle, JsonView};
use crate::render::lsof::{LsofLayout, LsofView};
use crate::render::netstat::{NetstatLayout, NetstatView};
use crate::render::sockopt::SockoptLayout;
use crate::render::ss::{SsLayout, SsView};
use crate::render::{Format, View};
use crate::source::{self, SocketFilter};
use crate::sys::Os;

pub fn run(
    args: &ListArgs,
    os: &Os<'_>,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<ExitCode> {
    if args.selection.family.contains(&crate::cli::FamilyArg::Help) {
        super::selection::write_family_help(stdout)?;
        return Ok(ExitCode::Success);
    }
    if args.summary {
        summary(args, os, stdout)?;
        if !lists_after_summary(args) {
            return Ok(ExitCode::Success);
        }
    }
    // ss's -e and -b also turn on -o's timers.
    let with_timers;
    let args = match (args.bpf || args.extended) && !args.selection.options {
        true => {
            let selection = crate::cli::SelectionArgs { options: true, ..args.selection.clone() };
            with_timers = ListArgs { selection, ..args.clone() };
            &with_timers
        }
        false => args,
    };
    let super::Query { mut selection, filter } = super::query(&args.selection, None, os, stderr)?;
    // ss's words for an empty choice (ss itself falls back to its default
    // states where state words leave none; portwatch lists nothing).
    let nothing_to_list = match (selection.netids.is_empty(), selection.states.is_empty()) {
        (true, _) => Some("no socket tables to show with such filter"),
        (false, true) => Some("no socket states to show with such filter"),
        (false, false) => None,
    };
    if let Some(message) = nothing_to_list {
        writeln!(stderr, "portwatch: {message}")?;
        return Ok(ExitCode::Success);
    }
    selection.extensions.tos = args.tos;
    selection.extensions.inet_sockopt = args.inet_sockopt;
    selection.extensions.unix_files = args.extended;
    if args.kill && filter.is_none() {
        return Err(UsageError(
            "-K closes sockets only with a filter expression (such as 'dport = :80')".into(),
        )
        .into());
    }
    let format = match args.events {
        true => super::events::format(format(args))?,
        false => format(args),
    };
    if format == Format::Netstat {
        // netstat lists TCP before UDP.
        selection.netids.reverse();
    }
    let contexts = args.context || args.contexts;
    if contexts && !crate::owners::selinux_enabled(os.proc) {
        // ss's words; -Z and -z show nothing but SELinux contexts.
        anyhow::bail!("SELinux is not enabled.");
    }
    let owners = args.processes || args.threads || contexts || format == Format::Lsof;
    if owners && args.from.is_some() {
        return Err(UsageError(
            "process owners (-p, --format lsof) need the live system, not --from".into(),
        )
        .into());
    }
    let json = matches!(format, Format::Json | Format::JsonLines);
    let unix = selection.netids.iter().any(|netid| netid.is_unix());
    let request = Request {
        scope: scope(args),
        enrich: Enrich {
            owners,
            services: json || !args.numeric,
            hosts: args.resolve,
            unix_proc: format == Format::Netstat && unix,
            cgroups: args.cgroup || args.extended,
            threads: args.threads,
            contexts,
            socket_contexts: args.contexts,
        },
        selection,
        filter,
    };
    let mut view = view(args, format, &request, os, stdout)?;
    if args.events {
        return super::events::follow(os, &request, view.as_mut(), stderr);
    }
    let mut killer = if args.kill { Some(source::Killer::open(os)?) } else { None };
    // Read on the first socket, once inside the namespace listed (`-N`).
    let mut firewall: Option<Judge> = None;
    let outcome = inventory::stream(os, &request, &mut |mut socket: Socket| {
        if args.show_firewall
            && let Socket::Inet(inet) = &mut socket
            && exposure::is_listener(inet)
        {
            let judge = firewall.get_or_insert_with(|| Judge::new(crate::firewall::live::read(os)));
            let exposure = exposure::exposure(inet);
            inet.firewall = Some(Box::new(judge.judge(inet, &exposure)));
        }
        // -K lists what it closed: TCP and UDP sockets, which SOCK_DESTROY
        // closes; the other kinds it cannot close are not listed.
        let not_closed = match (killer.as_mut(), &socket) {
            (Some(killer), Socket::Inet(inet))
                if matches!(inet.netid, Transport::Tcp | Transport::Udp) =>
            {
                !killer.kill(inet)?
            }
            (Some(_), _) => true,
            (None, _) => false,
        };
        if not_closed { Ok(()) } else { view.write(&socket) }
    })?;
    view.finish()?;
    if let Some(Firewall::Unreadable(why)) = firewall.as_ref().map(Judge::firewall) {
        writeln!(stderr, "portwatch: firewall: {why}; every verdict is unknown")?;
    }
    if args.debug_stats {
        let filtered = filter_place(request.filter.as_ref(), args.from.is_some());
        writeln!(
            stderr,
            "portwatch: debug: {} sockets received from sock_diag ({filtered})",
            outcome.source.received
        )?;
    }
    super::report(&outcome, stderr)
}

fn scope(args: &ListArgs) -> Scope {
    match (&args.from, &args.net) {
        (Some(path), _) => Scope::Recording(path.clone()),
        (None, Some(name)) => Scope::Named(name.clone()),
        (None, None) if args.all_netns => Scope::AllNamespaces,
        (None, None) => Scope::Own,
    }
}

/// Where the filter ran, for `--debug-stats`.
fn filter_place(filter: Option<&SocketFilter>, replay: bool) -> String {
    match (filter, replay) {
        (_, true) => "filtered in userspace (replay)".into(),
        (None, false) => "no filter".into(),
        (Some(filter), false) => match &filter.userspace_reason {
            None => "filtered by the kernel".into(),
            Some(reason) => format!("filtered in userspace: {reason}"),
        },
    }
}

/// Whether `-s` lists sockets after the totals: as ss does, when the
/// command line names kinds, families, a query or a filter (`-ts`,
/// `-s state established`), where `-l`, `-a` and the detail flags alone do
/// not. A filter file counts as a filter (ss ignores one after `-s`). JSON
/// gets the totals alone, one document whose shape no flag changes.
fn lists_after_summary(args: &ListArgs) -> bool {
    let json = matches!(format(args), Format::Json | Format::JsonLines);
    let unselecting = crate::cli::SelectionArgs {
        listening: false,
        all: false,
        options: false,
        memory: false,
        info: false,
        oneline: false,
        ..args.selection.clone()
    };
    !json && unselecting != crate::cli::SelectionArgs::default()
}

/// `-s`: ss -s's totals, as text or JSON.
fn summary(args: &ListArgs, os: &Os<'_>, stdout: &mut dyn Write) -> Result<()> {
    if let Some(name) = &args.net {
        let path = crate::netns::named_path(name);
        os.namespaces
            .enter(&path)
            .map_err(|error| anyhow::anyhow!(crate::netns::entry_error(&path, &error)))?;
    }
    let summary = source::summary::read(os.proc)?;
    if matches!(format(args), Format::Json | Format::JsonLines) {
        serde_json::to_writer(&mut *stdout, &summary)?;
        stdout.write_all(b"\n")?;
        stdout.flush()?;
    } else {
        crate::render::summary::write_text(stdout, &summary)?;
    }
    Ok(())
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

fn view<'a>(
    args: &ListArgs,
    format: Format,
    request: &Request,
    os: &Os<'_>,
    stdout: &'a mut dyn Write,
) -> Result<Box<dyn View + 'a>> {
    let (header, numeric, wide) = (!args.no_header, args.numeric, args.wide);
    let selection = &request.selection;
    Ok(match format {
        Format::Ss => {
            let layout = SsLayout {
                header,
                netid: selection.netids.len() > 1,
                state: !selection.states.is_single(),
                extended: args.extended,
                processes: args.processes || args.threads || args.context || args.contexts,
                category: args.show_category,
                firewall: args.show_firewall,
                netns: args.all_netns,
                timers: args.selection.options,
                memory: args.selection.memory,
                bpf: args.bpf,
                tipcinfo: args.tipcinfo,
                info: args.selection.info,
                oneline: args.selection.oneline,
                sockopt: SockoptLayout {
                    tos: args.tos,
                    cgroup: args.cgroup,
                    inet_sockopt: args.inet_sockopt,
                },
                colour: super::colour(args.color, os),
                numeric,
                wide,
            };
            Box::new(SsView::new(stdout, layout))
        }
        Format::Netstat => {
            let netstat_inet =
                |transport| matches!(transport, Transport::Tcp | Transport::Udp | Transport::Raw);
            let layout = NetstatLayout {
                header,
                processes: args.processes,
                numeric,
                wide,
                inet: selection
                    .netids
                    .iter()
                    .any(|netid| netid.transport().is_some_and(netstat_inet)),
                unix: selection.netids.iter().any(|netid| netid.is_unix()),
            };
            Box::new(NetstatView::new(stdout, layout, selection.states)?)
        }
        Format::Lsof => Box::new(LsofView::new(stdout, LsofLayout { header, numeric, wide })),
        Format::Json => Box::new(JsonView::new(stdout, JsonStyle::Array)),
        Format::JsonLines => Box::new(JsonView::new(stdout, JsonStyle::Lines)),
    })
}
