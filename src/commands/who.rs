//! `portwatch who TARGET`: who is on a port, or which sockets a process
//! holds. Exit 1 when nothing matches, so it works in `if`. Ports and
//! addresses are lsof's `-i` grammar ([`lsof`]), as is `-s`.

pub mod lsof;

use std::cell::OnceCell;
use std::collections::BTreeMap;
use std::io::Write;
use std::net::IpAddr;

use anyhow::Result;

use self::lsof::{InetSpec, Lookup, StateChoice};
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
    /// TCP and UDP sockets with an end at any of these addresses (`TCP:22`,
    /// `@10.0.0.5`, `:1-1024`, `6`; `80` and `ssh` are `:80` and `:ssh`).
    Inet(Vec<InetSpec>),
    Pid(u32),
    /// A process name: comm, or the file name of argv[0] or of the binary.
    Name(String),
}

impl Target {
    /// TARGET: `pid=N`, `comm=NAME`, a port number, an lsof address, a
    /// service name, or else a process name.
    pub fn parse(text: &str, lookup: &dyn Lookup) -> Result<Target, UsageError> {
        let bad = |what: &str| usage(format!("who: {what} in '{text}'"));
        if let Some(pid) = text.strip_prefix("pid=") {
            return pid.parse().map(Target::Pid).map_err(|_| bad("expected a number after 'pid='"));
        }
        if let Some(name) = text.strip_prefix("comm=") {
            return match name.is_empty() {
                true => Err(bad("expected a process name after 'comm='")),
                false => Ok(Target::Name(name.to_owned())),
            };
        }
        if text.is_empty() {
            return Err(bad("expected a port, address, service, pid=N or process name"));
        }
        if text.bytes().all(|b| b.is_ascii_digit()) {
            let port = text.parse().map_err(|_| bad("port out of range (0-65535)"))?;
            return Ok(Target::Inet(vec![InetSpec::port(port)]));
        }
        if is_lsof_address(text) {
            let spec = InetSpec::parse(text, lookup).map_err(|problem| bad(&problem))?;
            return Ok(Target::Inet(vec![spec]));
        }
        Ok(match InetSpec::service(text, lookup) {
            Some(spec) => Target::Inet(vec![spec]),
            None => Target::Name(text.to_owned()),
        })
    }

    /// `-i ADDR`, repeated: any of the addresses (`""`: bare `-i`, any).
    pub fn from_inet_options(texts: &[String], lookup: &dyn Lookup) -> Result<Target, UsageError> {
        let specs = texts.iter().map(|text| {
            InetSpec::parse(text, lookup)
                .map_err(|problem| usage(format!("who: {problem} in -i '{text}'")))
        });
        specs.collect::<Result<_, _>>().map(Target::Inet)
    }

    /// Whether `who` would show `socket`, by its addresses or by one of
    /// its holders: for sockets already read, as `history`'s are.
    pub fn matches(&self, socket: &Socket) -> bool {
        self.matches_socket(socket)
            && (!self.is_about_processes()
                || socket.holders().iter().any(|holder| self.matches_process(&holder.process)))
    }

    fn matches_socket(&self, socket: &Socket) -> bool {
        match self {
            Target::Inet(specs) => {
                socket.as_inet().is_some_and(|inet| specs.iter().any(|spec| spec.matches(inet)))
            }
            Target::Pid(_) | Target::Name(_) => true,
        }
    }

    fn matches_process(&self, process: &Process) -> bool {
        match self {
            Target::Pid(pid) => process.pid == *pid,
            Target::Name(name) => process.is_named(name),
            Target::Inet(_) => true,
        }
    }

    fn is_about_processes(&self) -> bool {
        matches!(self, Target::Pid(_) | Target::Name(_))
    }
}

/// An lsof address rather than a name: it has a host or port part, or is
/// a protocol word (`TCP`, `6udp`). A bare number is a port, so `who 6` is
/// port 6 (`who -i 6` is lsof's IPv6).
fn is_lsof_address(text: &str) -> bool {
    let protocol = text.strip_prefix(['4', '6']).unwrap_or(text);
    text.contains([':', '@'])
        || ["tcp", "udp", "udplite"].iter().any(|word| protocol.eq_ignore_ascii_case(word))
}

/// A usage error whose text, which quotes the command line, is safe on a terminal.
fn usage(message: String) -> UsageError {
    UsageError(escape::for_terminal(&message).into_owned())
}

/// Service names from /etc/services (read only if a name is given) and
/// host names from the system resolver.
struct HostLookup<'a> {
    os: &'a Os<'a>,
    services: OnceCell<Services>,
}

impl Lookup for HostLookup<'_> {
    fn service_ports(&self, name: &str) -> Vec<(Netid, u16)> {
        let services =
            self.services.get_or_init(|| Services::load(self.os.files, self.os.proc, false));
        services.ports(name).to_vec()
    }

    fn host_addresses(&self, name: &str) -> Vec<IpAddr> {
        self.os.resolver.host_addresses(name)
    }
}

/// TARGET as `who` reads it, with service names from /etc/services and
/// host names from the system resolver.
pub fn parse_target(text: &str, os: &Os<'_>) -> Result<Target, UsageError> {
    Target::parse(text, &HostLookup { os, services: OnceCell::new() })
}

/// The target, from TARGET or `-i`, and the filter expression's words:
/// with `-i` there is no TARGET, and every word is the filter's. With
/// neither, `-s` alone judges every TCP and UDP socket, as bare `-i`.
fn target_and_filter(args: &WhoArgs, os: &Os<'_>) -> Result<(Target, Vec<String>), UsageError> {
    let lookup = HostLookup { os, services: OnceCell::new() };
    match (&args.target, args.inet.is_empty()) {
        (Some(target), true) => Ok((Target::parse(target, &lookup)?, args.filter.clone())),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Transport;

    struct Table(Services);

    impl Lookup for Table {
        fn service_ports(&self, name: &str) -> Vec<(Netid, u16)> {
            self.0.ports(name).to_vec()
        }

        fn host_addresses(&self, _: &str) -> Vec<IpAddr> {
            Vec::new()
        }
    }

    #[test]
    fn targets() {
        let table = Table(Services::parse("ssh 22/tcp\ndomain 53/tcp\ndomain 53/udp\n"));
        let parse = |text: &str| Target::parse(text, &table);
        let inet = |text: &str| Target::Inet(vec![InetSpec::parse(text, &table).unwrap()]);
        assert_eq!(parse(":80").unwrap(), Target::Inet(vec![InetSpec::port(80)]));
        assert_eq!(parse("8080").unwrap(), inet(":8080"));
        assert_eq!(parse("6").unwrap(), inet(":6"), "a bare number is a port");
        assert_eq!(parse("ssh").unwrap(), inet(":ssh"));
        assert_eq!(parse("domain").unwrap(), inet(":domain"));
        let Target::Inet(specs) = parse("6TCP").unwrap() else { panic!("6TCP") };
        assert_eq!(specs[0].family, Some(IpFamily::Inet6));
        assert_eq!(specs[0].transport, Some(Transport::Tcp));
        for lsof in ["TCP", "udp", "4udp", "@10.0.0.5:443", "TCP:22", ":1-1024"] {
            assert!(matches!(parse(lsof), Ok(Target::Inet(_))), "{lsof}");
        }
        assert_eq!(parse("pid=42").unwrap(), Target::Pid(42));
        assert_eq!(parse("comm=ssh").unwrap(), Target::Name("ssh".into()));
        assert_eq!(parse("comm=TCP").unwrap(), Target::Name("TCP".into()));
        assert_eq!(parse("nginx").unwrap(), Target::Name("nginx".into()));
        assert_eq!(parse("tcpdump").unwrap(), Target::Name("tcpdump".into()));
        for bad in [":x", "pid=", "pid=-1", "99999", "comm=", "", ":5-1", "TCP:", "@"] {
            let error = parse(bad).unwrap_err();
            assert!(error.0.starts_with("who: "), "{bad}: {error}");
            assert!(error.0.ends_with(&format!("in '{bad}'")), "{bad}: {error}");
        }
        let error = parse("@\u{1b}[31m").unwrap_err();
        assert!(!error.0.contains('\u{1b}'), "escaped: {error}");
    }

    #[test]
    fn inet_options() {
        let table = Table(Services::parse("ssh 22/tcp\n"));
        let options = |texts: &[&str]| {
            let texts: Vec<String> = texts.iter().map(|t| t.to_string()).collect();
            Target::from_inet_options(&texts, &table)
        };
        assert_eq!(options(&[""]).unwrap(), Target::Inet(vec![InetSpec::any()]));
        let Target::Inet(specs) = options(&["TCP:22", "6"]).unwrap() else { panic!() };
        assert_eq!(specs.len(), 2);
        assert_eq!(
            options(&["80"]).unwrap_err().0,
            "who: unknown protocol '80' (a port goes after a colon: ':80') in -i '80'"
        );
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_targets_never_panic(text in "\\PC{0,30}") {
            let table = Table(Services::parse("ssh 22/tcp\n"));
            let _ = Target::parse(&text, &table);
        }
    }
}
