//! `portwatch who TARGET`: who is on a port, or which sockets a process
//! holds. Exit 1 when nothing matches, so it works in `if`.

use std::collections::BTreeMap;
use std::io::Write;

use anyhow::Result;
use comfy_table::{ContentArrangement, Table, presets};
use serde::Serialize;

use crate::cli::WhoArgs;
use crate::exit::{ExitCode, UsageError};
use crate::model::{Netid, Socket};
use crate::names::Services;
use crate::owners::Owners;
use crate::owners::process::ProcessInfo;
use crate::render::json::{JsonProcess, JsonSocket, socket_object};
use crate::render::netstat::proto;
use crate::render::{Lookups, escape, process_label};
use crate::source::{self, Selection};
use crate::state::StateSet;
use crate::sys::System;

/// What `who` looks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A local port, for any protocol (`:80`, `80`).
    Port(u16),
    /// The ports of a service name, per protocol (`ssh`).
    Service(Vec<(Netid, u16)>),
    Pid(u32),
    /// A process name: comm, or the file name of argv[0] or of the binary.
    Name(String),
}

impl Target {
    pub fn parse(text: &str, services: &Services) -> Result<Target, UsageError> {
        let bad = |what: &str| UsageError(format!("who: {what} in '{text}'"));
        if let Some(pid) = text.strip_prefix("pid=") {
            return pid.parse().map(Target::Pid).map_err(|_| bad("expected a number after 'pid='"));
        }
        if let Some(name) = text.strip_prefix("comm=") {
            return match name.is_empty() {
                true => Err(bad("expected a process name after 'comm='")),
                false => Ok(Target::Name(name.to_owned())),
            };
        }
        if let Some(port) = text.strip_prefix(':') {
            return port.parse().map(Target::Port).map_err(|_| bad("expected a port after ':'"));
        }
        if text.is_empty() {
            return Err(bad("expected a port, service, pid=N or process name"));
        }
        if text.bytes().all(|b| b.is_ascii_digit()) {
            return text.parse().map(Target::Port).map_err(|_| bad("port out of range"));
        }
        Ok(match services.ports(text) {
            [] => Target::Name(text.to_owned()),
            ports => Target::Service(ports.to_vec()),
        })
    }

    fn matches_socket(&self, socket: &Socket) -> bool {
        match self {
            Target::Port(port) => socket.local.port == *port,
            Target::Service(ports) => ports.contains(&(socket.netid, socket.local.port)),
            Target::Pid(_) | Target::Name(_) => true,
        }
    }

    fn matches_process(&self, process: &ProcessInfo) -> bool {
        let file_name = |path: &str| path.rsplit('/').next().map(str::to_owned);
        match self {
            Target::Pid(pid) => process.pid == *pid,
            Target::Name(name) => {
                process.name.as_deref() == Some(name)
                    || process.argv.first().and_then(|arg| file_name(arg)).as_deref() == Some(name)
                    || process.exe.as_deref().and_then(file_name).as_deref() == Some(name)
            }
            Target::Port(_) | Target::Service(_) => true,
        }
    }

    fn is_about_processes(&self) -> bool {
        matches!(self, Target::Pid(_) | Target::Name(_))
    }
}

/// The sockets one process holds (or, for `pid: None`, that no visible
/// process holds).
struct Group {
    pid: Option<u32>,
    sockets: Vec<(Socket, Option<u32>)>,
}

pub fn run(
    args: &WhoArgs,
    system: &dyn System,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<ExitCode> {
    let services = Services::load(system);
    let target = Target::parse(&args.target, &services)?;
    let mut owners = super::list::scan_owners(system)?;
    let selection = Selection {
        netids: Netid::SS_ORDER.to_vec(),
        families: crate::model::Family::ALL.to_vec(),
        states: StateSet::all(),
        categories: Vec::new(),
        extensions: Default::default(),
        details: false,
    };
    let mut groups: BTreeMap<Option<u32>, Group> = BTreeMap::new();
    let mut sink = |socket: &Socket| {
        collect(&target, &mut owners, socket, &mut groups);
        Ok(())
    };
    let filter = super::socket_filter(&args.filter, &selection.netids, system, stderr)?;
    let outcome = source::list_live(system, &selection, filter.as_ref(), &mut sink, stderr)?;
    let groups: Vec<Group> = groups.into_values().collect();
    let lookups = Lookups {
        services: (!args.numeric || args.json).then_some(services),
        hosts: None,
        owners: Some(owners),
        wide: args.wide,
    };
    let hint = lookups_hint(&groups, &lookups);
    if args.json {
        write_json(stdout, &groups, lookups)?;
    } else if !groups.is_empty() {
        write_table(stdout, &groups, &lookups)?;
    }
    if let Some(hint) = hint {
        writeln!(stderr, "{hint}")?;
    }
    if groups.is_empty() {
        writeln!(stderr, "portwatch: nothing matches '{}'", escape::for_terminal(&args.target))?;
        return Ok(ExitCode::NothingFound);
    }
    super::list::report(outcome, stderr)
}

fn collect(
    target: &Target,
    owners: &mut Owners<'_>,
    socket: &Socket,
    groups: &mut BTreeMap<Option<u32>, Group>,
) {
    if !target.matches_socket(socket) {
        return;
    }
    owners.load(socket.inode);
    let mut held = false;
    for (process, fd) in owners.owners(socket.inode) {
        if target.matches_process(process) {
            let group = groups
                .entry(Some(process.pid))
                .or_insert(Group { pid: Some(process.pid), sockets: Vec::new() });
            group.sockets.push((socket.clone(), Some(fd)));
        }
        held = true;
    }
    if !held && !target.is_about_processes() {
        let group = groups.entry(None).or_insert(Group { pid: None, sockets: Vec::new() });
        group.sockets.push((socket.clone(), None));
    }
}

/// The non-root hint, when a socket's owner may have been hidden.
fn lookups_hint(groups: &[Group], lookups: &Lookups<'_>) -> Option<String> {
    let owners = lookups.owners.as_ref()?;
    let unowned = groups.iter().any(|g| g.pid.is_none());
    let hint = owners.hidden_hint()?;
    (unowned || groups.is_empty()).then_some(hint)
}

fn write_table(out: &mut dyn Write, groups: &[Group], lookups: &Lookups<'_>) -> Result<()> {
    let mut table = Table::new();
    table.load_style(presets::NOTHING).set_content_arrangement(ContentArrangement::Disabled);
    table.set_header(["PID", "USER", "COMMAND", "FD", "PROTO", "STATE", "LOCAL", "PEER"]);
    let owners = lookups.owners.as_ref();
    for group in groups {
        let process = group.pid.and_then(|pid| owners?.process(pid));
        let (pid, user, command) = match process {
            Some(p) => (
                p.pid.to_string(),
                p.user
                    .clone()
                    .or_else(|| p.uid.map(|u| u.to_string()))
                    .unwrap_or_else(|| "?".into()),
                process_label(p, lookups.wide),
            ),
            None if owners.is_some_and(|o| !o.all_visible()) => {
                ("-".into(), "-".into(), "(not visible)".into())
            }
            None => ("-".into(), "-".into(), "(no process)".into()),
        };
        for (socket, fd) in &group.sockets {
            table.add_row([
                pid.clone(),
                escape::for_terminal(&user).into_owned(),
                command.clone(),
                fd.map_or_else(|| "-".into(), |fd| fd.to_string()),
                proto(socket).to_owned(),
                socket.state.ss_label().to_owned(),
                endpoint(lookups, socket, &socket.local),
                endpoint(lookups, socket, &socket.peer),
            ]);
        }
    }
    for line in table.lines() {
        writeln!(out, "{}", line.trim())?;
    }
    out.flush()?;
    Ok(())
}

fn endpoint(lookups: &Lookups<'_>, socket: &Socket, endpoint: &crate::model::Endpoint) -> String {
    if let Some(unix) = crate::render::unix_end(socket, std::ptr::eq(endpoint, &socket.local)) {
        return unix;
    }
    let mut text = match endpoint.addr {
        std::net::IpAddr::V6(addr) => format!("[{addr}]"),
        addr => addr.to_string(),
    };
    text.push(':');
    lookups.push_port(&mut text, socket.netid, endpoint.port);
    text
}

#[derive(Serialize)]
struct JsonGroup<'a> {
    /// null for sockets no visible process holds.
    process: Option<JsonProcess<'a>>,
    /// false when permissions may hide this group's owner.
    owner_visible: bool,
    sockets: Vec<JsonHeld<'a>>,
}

#[derive(Serialize)]
struct JsonHeld<'a> {
    /// The holder's descriptor; null for sockets no visible process holds.
    fd: Option<u32>,
    #[serde(flatten)]
    socket: JsonSocket<'a>,
}

fn write_json(out: &mut dyn Write, groups: &[Group], lookups: Lookups<'_>) -> Result<()> {
    let owners = lookups.owners.as_ref();
    let json: Vec<JsonGroup<'_>> = groups
        .iter()
        .map(|group| {
            let process = group.pid.and_then(|pid| owners?.process(pid));
            JsonGroup {
                process: process.map(|p| JsonProcess::new(p, None)),
                owner_visible: process.is_some() || owners.is_some_and(|o| o.all_visible()),
                sockets: group
                    .sockets
                    .iter()
                    .map(|(socket, fd)| JsonHeld {
                        fd: *fd,
                        socket: socket_object(socket, lookups.services.as_ref(), None),
                    })
                    .collect(),
            }
        })
        .collect();
    serde_json::to_writer(&mut *out, &json)?;
    out.write_all(b"\n")?;
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        let services = Services::parse("ssh 22/tcp\ndomain 53/tcp\ndomain 53/udp\n");
        assert_eq!(Target::parse(":80", &services).unwrap(), Target::Port(80));
        assert_eq!(Target::parse("8080", &services).unwrap(), Target::Port(8080));
        assert_eq!(
            Target::parse("ssh", &services).unwrap(),
            Target::Service(vec![(Netid::Tcp, 22)])
        );
        assert_eq!(
            Target::parse("domain", &services).unwrap(),
            Target::Service(vec![(Netid::Tcp, 53), (Netid::Udp, 53)])
        );
        assert_eq!(Target::parse("pid=42", &services).unwrap(), Target::Pid(42));
        assert_eq!(Target::parse("comm=ssh", &services).unwrap(), Target::Name("ssh".into()));
        assert_eq!(Target::parse("nginx", &services).unwrap(), Target::Name("nginx".into()));
        for bad in [":x", "pid=", "pid=-1", "99999", "comm=", ""] {
            let error = Target::parse(bad, &services).unwrap_err();
            assert!(error.0.starts_with("who: "), "{bad}: {error}");
        }
    }
}
