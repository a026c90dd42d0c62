//! `portwatch who TARGET`: who is on a port, or which sockets a process
//! holds. Exit 1 when nothing matches, so it works in `if`.

use std::collections::BTreeMap;
use std::io::Write;

use anyhow::Result;

use crate::cli::WhoArgs;
use crate::exit::{ExitCode, UsageError};
use crate::inventory::{self, Enrich, Request, Scope};
use crate::model::{IpFamily, Netid, Process, Socket, StateSet};
use crate::names::Services;
use crate::render::escape;
use crate::render::who::{HeldSocket, WhoGroup};
use crate::source::Selection;
use crate::sys::Os;

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

    /// Ports are inet sockets' only: a UNIX socket has none, not port 0.
    fn matches_socket(&self, socket: &Socket) -> bool {
        match self {
            Target::Port(port) => socket.local_port() == Some(*port),
            Target::Service(ports) => {
                socket.local_port().is_some_and(|port| ports.contains(&(socket.netid(), port)))
            }
            Target::Pid(_) | Target::Name(_) => true,
        }
    }

    fn matches_process(&self, process: &Process) -> bool {
        match self {
            Target::Pid(pid) => process.pid == *pid,
            Target::Name(name) => process.is_named(name),
            Target::Port(_) | Target::Service(_) => true,
        }
    }

    fn is_about_processes(&self) -> bool {
        matches!(self, Target::Pid(_) | Target::Name(_))
    }
}

pub fn run(
    args: &WhoArgs,
    os: &Os<'_>,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<ExitCode> {
    // Only a bare word can be a service name: the other forms need no table.
    let bare_word =
        !args.target.contains(['=', ':']) && !args.target.bytes().all(|b| b.is_ascii_digit());
    let services = match bare_word {
        true => Services::load(os.files, os.proc, false),
        false => Services::default(),
    };
    let target = Target::parse(&args.target, &services)?;
    // The kinds with ports or paths: UNIX, raw, UDP and TCP sockets.
    let netids = [Netid::UNIX.as_slice(), &[Netid::Raw, Netid::Udp, Netid::Tcp]].concat();
    let filter = super::socket_filter(&args.filter, &netids, os, stderr)?;
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
        enrich: Enrich { owners: true, services: true, hosts: false, unix_proc: false },
    };
    let mut groups = Groups::default();
    let outcome = inventory::stream(os, &request, &mut |socket| {
        groups.add(&target, socket);
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
        writeln!(stderr, "portwatch: nothing matches '{}'", escape::for_terminal(&args.target))?;
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
