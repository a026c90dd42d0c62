//! `portwatch who TARGET`: who is on a port, or which sockets a process
//! holds. Exit 1 when nothing matches, so it works in `if`. Ports and
//! addresses are lsof's `-i` grammar ([`lsof`]), as is `-s`.

use std::collections::BTreeMap;
use std::io::Write;

use anyhow::Result;

use crate::cli::WhoArgs;
use crate::exit::{ExitCode, UsageError};
use crate::filter::lsof::{InetSpec, StateChoice};
use crate::filter::target::{HostLookup, Target, usage};
use crate::inventory::{self, Enrich, Request, Scope};
use crate::model::{IpFamily, Netid, Process, Socket, StateSet};
use crate::render::escape;
use crate::render::who::{HeldSocket, WhoGroup};
use crate::source::Selection;
use crate::sys::Os;

/// The target, from TARGET or `-i`, and the filter expression's words:
/// with `-i` there is no TARGET, and every word is the filter's. With
/// neither, `-s` alone judges every TCP and UDP socket, as bare `-i`.
fn target_and_filter(args: &WhoArgs, os: &Os<'_>) -> Result<(Target, Vec<String>), UsageError> {
    let lookup = HostLookup::new(os);
    match (&args.target, args.inet.is_empty()) {
        (Some(target), true) => Ok((Target::parse("who", target, &lookup)?, args.filter.clone())),
        (target, false) => {
            let words = target.iter().chain(&args.filter).cloned().collect();
            Ok((Target::from_inet_options(&args.inet, &lookup)?, words))
        }
        (None, true) if !args.states.is_empty() => {
            Ok((Target::Inet(vec![InetSpec::any()]), args.filter.clone()))
        }
        (None, true) => Err(UsageError("who: expected a TARGET, -i ADDR or -s TCP:STATES".into())),
    }
}

fn state_choice(args: &WhoArgs) -> Result<StateChoice, UsageError> {
    let mut choice = StateChoice::default();
    for text in &args.states {
        choice.add(text).map_err(|problem| usage(format!("who: {problem} in -s '{text}'")))?;
    }
    Ok(choice)
}

pub fn run(
    args: &WhoArgs,
    os: &Os<'_>,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<ExitCode> {
    let (target, filter_words) = target_and_filter(args, os)?;
    let states = state_choice(args)?;
    // An address, or a list of states to keep, selects TCP and UDP sockets only.
    let netids = match matches!(target, Target::Inet(_)) || states.keeps_only_inet() {
        true => vec![Netid::Udp, Netid::Tcp],
        // The kinds with ports or paths: UNIX, raw, UDP and TCP sockets.
        false => [Netid::UNIX.as_slice(), &[Netid::Raw, Netid::Udp, Netid::Tcp]].concat(),
    };
    let filter = super::socket_filter(&filter_words, &netids, os, stderr)?;
    let request = Request {
        scope: Scope::Own,
        selection: Selection {
            netids,
            families: IpFamily::ALL.to_vec(),
            optional: Vec::new(),
            states: StateSet::all(),
            categories: Vec::new(),
            extensions: Default::default(),
            details: false,
        },
        filter,
        enrich: Enrich { owners: true, services: true, ..Enrich::default() },
    };
    let mut groups = Groups::default();
    let outcome = inventory::stream(os, &request, &mut |socket| {
        if states.keeps(&socket) {
            groups.add(&target, socket);
        }
        Ok(())
    })?;
    let groups = groups.into_vec(outcome.owner_hint.is_none());
    if args.json {
        crate::render::who::write_json(stdout, &groups)?;
    } else if !groups.is_empty() {
        crate::render::who::write_table(stdout, &groups, args.numeric, args.wide)?;
    }
    let code = super::report(&outcome, stderr)?;
    if groups.is_empty() {
        writeln!(
            stderr,
            "portwatch: nothing matches '{}'",
            escape::for_terminal(&described(args))
        )?;
        // An incomplete listing cannot tell that nothing matches.
        if code == ExitCode::Success {
            return Ok(ExitCode::NothingFound);
        }
    }
    Ok(code)
}

/// A group's process (`None`: no visible process) and its sockets.
type Group = (Option<std::sync::Arc<Process>>, Vec<HeldSocket>);

/// The matching sockets, grouped by the process that holds them, in pid order.
#[derive(Default)]
struct Groups {
    by_pid: BTreeMap<Option<u32>, Group>,
}

impl Groups {
    fn add(&mut self, target: &Target, mut socket: Socket) {
        if !target.matches_socket(&socket) {
            return;
        }
        let owners = socket.owners().cloned().unwrap_or_default();
        // Each group names its process once; the sockets need not repeat it.
        socket.set_owners(None);
        for holder in &owners.processes {
            if target.matches_process(&holder.process) {
                let group = self
                    .by_pid
                    .entry(Some(holder.process.pid))
                    .or_insert_with(|| (Some(holder.process.clone()), Vec::new()));
                group.1.push(HeldSocket { fd: Some(holder.fd), socket: socket.clone() });
            }
        }
        if owners.processes.is_empty() && !target.is_about_processes() {
            let group = self.by_pid.entry(None).or_default();
            group.1.push(HeldSocket { fd: None, socket });
        }
    }

    /// `all_visible`: every process's descriptors could be read, so a socket
    /// without a holder really has none.
    fn into_vec(self, all_visible: bool) -> Vec<WhoGroup> {
        self.by_pid
            .into_values()
            .map(|(process, sockets)| WhoGroup {
                owner_visible: process.is_some() || all_visible,
                process,
                sockets,
            })
            .collect()
    }
}

/// What was asked for, as typed, for "nothing matches".
fn described(args: &WhoArgs) -> String {
    let mut words: Vec<String> = match args.inet.is_empty() {
        true => args.target.iter().cloned().collect(),
        false => args.inet.iter().map(|text| format!("-i{text}")).collect(),
    };
    words.extend(args.states.iter().map(|text| format!("-s{text}")));
    words.join(" ")
}
