//! A TARGET as `who` takes it (and `history`): `pid=N`, `comm=NAME`, a
//! port, an lsof address ([`lsof`](super::lsof)), a service name, or a
//! process name; parsed once, then matched against sockets with their
//! holders.

use std::cell::OnceCell;
use std::net::IpAddr;

use super::lsof::{InetSpec, Lookup};
use crate::exit::UsageError;
use crate::model::{Netid, Process, Socket};
use crate::names::Services;
use crate::render::escape;
use crate::sys::Os;

/// What `who` looks for, and `history` among what it recorded.
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
    /// service name, or else a process name; errors name `command`.
    pub fn parse(command: &str, text: &str, lookup: &dyn Lookup) -> Result<Target, UsageError> {
        let bad = |what: &str| usage(format!("{command}: {what} in '{text}'"));
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

    pub fn matches_socket(&self, socket: &Socket) -> bool {
        match self {
            Target::Inet(specs) => {
                socket.as_inet().is_some_and(|inet| specs.iter().any(|spec| spec.matches(inet)))
            }
            Target::Pid(_) | Target::Name(_) => true,
        }
    }

    pub fn matches_process(&self, process: &Process) -> bool {
        match self {
            Target::Pid(pid) => process.pid == *pid,
            Target::Name(name) => process.is_named(name),
            Target::Inet(_) => true,
        }
    }

    pub fn is_about_processes(&self) -> bool {
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
pub fn usage(message: String) -> UsageError {
    UsageError(escape::for_terminal(&message).into_owned())
}

/// Service names from /etc/services (read only if a name is given) and
/// host names from the system resolver.
pub struct HostLookup<'a> {
    os: &'a Os<'a>,
    services: OnceCell<Services>,
}

impl<'a> HostLookup<'a> {
    pub fn new(os: &'a Os<'a>) -> HostLookup<'a> {
        HostLookup { os, services: OnceCell::new() }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{IpFamily, Transport};

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
        let parse = |text: &str| Target::parse("who", text, &table);
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
            let _ = Target::parse("who", &text, &table);
        }
    }
}
