//! lsof's selection grammar, as `portwatch who` takes it: `-i` addresses
//! (`[46][protocol][@host][:ports]`, such as `TCP:22`, `6@[::1]:443`,
//! `:1-1024,ssh`) and `-s` state lists (`TCP:LISTEN,^ESTABLISHED`).
//!
//! The behaviour is lsof's (4.95, on Linux), learnt from its manual page and
//! by running it; where lsof accepts something that can only select nothing
//! or silently ignores what was typed, this is an error instead (README,
//! "`who` and lsof's `-i`" lists each case). Parsing looks names up through
//! [`Lookup`]; matching is pure.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::model::{
    InetEnd, InetSocket, IpFamily, Netid, Socket, SocketState, StateSet, Transport,
};

/// What an address names, looked up on this host.
pub trait Lookup {
    /// The ports of a service name or alias, per protocol (/etc/services).
    fn service_ports(&self, name: &str) -> Vec<(Netid, u16)>;
    /// The addresses of a host name, through the system resolver.
    fn host_addresses(&self, name: &str) -> Vec<IpAddr>;
}

/// One `-i` address. Every part is optional; a TCP or UDP socket matches
/// when each given part does, the host and port at the same end (local,
/// or the peer of a connected socket).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InetSpec {
    pub family: Option<IpFamily>,
    pub transport: Option<Transport>,
    /// Any of these (a host name may have several); empty: any address.
    pub hosts: Vec<IpAddr>,
    /// Any of these; empty: any port.
    pub ports: Vec<PortRange>,
}

/// Ports `low..=high`. A service name's port holds for the protocols
/// /etc/services lists it under, a number for any protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortRange {
    pub transport: Option<Transport>,
    pub low: u16,
    pub high: u16,
}

impl PortRange {
    fn any_protocol(low: u16, high: u16) -> PortRange {
        PortRange { transport: None, low, high }
    }

    fn contains(&self, transport: Transport, port: u16) -> bool {
        self.transport.is_none_or(|wanted| wanted == transport)
            && (self.low..=self.high).contains(&port)
    }
}

impl InetSpec {
    /// Every TCP and UDP socket: lsof's `-i` without an address.
    pub fn any() -> InetSpec {
        InetSpec::default()
    }

    /// One local or peer port (or range) for any protocol: `who 80`.
    pub fn port(port: u16) -> InetSpec {
        InetSpec { ports: vec![PortRange::any_protocol(port, port)], ..InetSpec::default() }
    }

    /// A service's ports, each for its own protocol: `who ssh`. `None`
    /// when /etc/services does not know the name.
    pub fn service(name: &str, lookup: &dyn Lookup) -> Option<InetSpec> {
        let ports = service_ports(name, None, lookup).ok()?;
        Some(InetSpec { ports, ..InetSpec::default() })
    }

    /// Parses `[46][protocol][@host][:ports]`; the error names the problem.
    pub fn parse(text: &str, lookup: &dyn Lookup) -> Result<InetSpec, String> {
        let mut spec = InetSpec::default();
        let mut rest = text;
        if let Some(after) = rest.strip_prefix('4') {
            spec.family = Some(IpFamily::Inet);
            rest = after;
        } else if let Some(after) = rest.strip_prefix('6') {
            spec.family = Some(IpFamily::Inet6);
            rest = after;
        }
        let (protocol, after) = rest.split_at(rest.find(['@', ':']).unwrap_or(rest.len()));
        if !protocol.is_empty() {
            spec.transport = Some(parse_protocol(protocol)?);
        }
        rest = after;
        if let Some(after) = rest.strip_prefix('@') {
            let (hosts, after) = parse_host(after, spec.family, lookup)?;
            spec.hosts = hosts;
            rest = after;
        }
        if rest.is_empty() {
            return Ok(spec);
        }
        // After the protocol or host only a port list can follow.
        let ports = rest.strip_prefix(':').ok_or("expected ':' and a port after the address")?;
        spec.ports = parse_ports(ports, spec.transport, lookup)?;
        Ok(spec)
    }

    /// lsof's `-i` covers TCP and UDP sockets, not raw ones.
    pub fn matches(&self, socket: &InetSocket) -> bool {
        if socket.netid == Transport::Raw
            || self.transport.is_some_and(|wanted| wanted != socket.netid)
            || self.family.is_some_and(|wanted| wanted != socket.family)
        {
            return false;
        }
        let connected = socket.peer.port != 0 || !socket.peer.addr.is_unspecified();
        self.end_matches(socket.netid, &socket.local)
            || connected && self.end_matches(socket.netid, &socket.peer)
    }

    fn end_matches(&self, transport: Transport, end: &InetEnd) -> bool {
        let host =
            self.hosts.is_empty() || self.hosts.iter().any(|&host| same_host(host, end.addr));
        let port =
            self.ports.is_empty() || self.ports.iter().any(|r| r.contains(transport, end.port));
        host && port
    }
}

/// An IPv4 address also names its IPv4-mapped form, the address an IPv4
/// peer has on a dual-stack socket, as lsof on Linux matches it. The
/// socket's family stays IPv6 (`6`, not `4`, selects it), as lsof's manual
/// says, though lsof's address matching takes it for IPv4.
fn same_host(wanted: IpAddr, addr: IpAddr) -> bool {
    match (wanted, addr) {
        (IpAddr::V4(wanted), IpAddr::V6(addr)) => addr.to_ipv4_mapped() == Some(wanted),
        _ => wanted == addr,
    }
}

fn parse_protocol(word: &str) -> Result<Transport, String> {
    match word.to_ascii_lowercase().as_str() {
        "tcp" => Ok(Transport::Tcp),
        "udp" => Ok(Transport::Udp),
        "udplite" => Err("portwatch does not list UDP-Lite sockets".into()),
        _ if word.bytes().all(|b| b.is_ascii_digit()) => {
            Err(format!("unknown protocol '{word}' (a port goes after a colon: ':{word}')"))
        }
        _ => Err(format!("unknown protocol '{word}' (protocols: TCP, UDP)")),
    }
}

/// The text after `@`: `1.2.3.4`, `[v6]` or a host name, then the rest.
fn parse_host<'t>(
    text: &'t str,
    family: Option<IpFamily>,
    lookup: &dyn Lookup,
) -> Result<(Vec<IpAddr>, &'t str), String> {
    if text.parse::<Ipv6Addr>().is_ok() {
        return Err(format!("an IPv6 address goes in brackets: '@[{text}]'"));
    }
    if let Some(inside) = text.strip_prefix('[') {
        let close = inside.rfind(']').ok_or("expected ']' after the IPv6 address")?;
        let (address, after) = (&inside[..close], &inside[close + 1..]);
        let address: Ipv6Addr =
            address.parse().map_err(|_| format!("'{address}' is not an IPv6 address"))?;
        // A mapped address is the IPv4 address it maps, as in lsof.
        let address = address.to_ipv4_mapped().map_or(IpAddr::V6(address), IpAddr::V4);
        return Ok((vec![usable_address(address, family)?], after));
    }
    let (name, after) = text.split_at(text.find(':').unwrap_or(text.len()));
    if name.is_empty() {
        return Err("expected a host name or address after '@'".into());
    }
    let addresses = match name.parse::<Ipv4Addr>() {
        Ok(address) => vec![usable_address(IpAddr::V4(address), family)?],
        Err(_) => resolve(name, family, lookup)?,
    };
    Ok((addresses, after))
}

/// A host name's addresses of the chosen family, mapped ones as IPv4.
fn resolve(
    name: &str,
    family: Option<IpFamily>,
    lookup: &dyn Lookup,
) -> Result<Vec<IpAddr>, String> {
    let mut addresses: Vec<IpAddr> = lookup
        .host_addresses(name)
        .into_iter()
        .map(|address| address.to_canonical())
        .filter(|address| family.is_none_or(|family| family_of(*address) == family))
        .collect();
    addresses.dedup();
    if addresses.is_empty() {
        return Err(match family {
            None => format!("unknown host '{name}'"),
            Some(IpFamily::Inet) => format!("host '{name}' has no IPv4 address"),
            Some(IpFamily::Inet6) => format!("host '{name}' has no IPv6 address"),
        });
    }
    addresses.into_iter().map(|address| usable_address(address, None)).collect()
}

fn family_of(address: IpAddr) -> IpFamily {
    match address {
        IpAddr::V4(_) => IpFamily::Inet,
        IpAddr::V6(_) => IpFamily::Inet6,
    }
}

/// The unspecified address names no host: lsof refuses `@0.0.0.0` and
/// `@[::]`, and ignores the address in `TCP@0.0.0.0`; both are refused here.
fn usable_address(address: IpAddr, family: Option<IpFamily>) -> Result<IpAddr, String> {
    if address.is_unspecified() {
        return Err(format!("the unspecified address {address} names no host"));
    }
    match (family, family_of(address)) {
        (Some(IpFamily::Inet6), IpFamily::Inet) => {
            Err(format!("'6' asks for IPv6, but {address} is an IPv4 address"))
        }
        (Some(IpFamily::Inet), IpFamily::Inet6) => {
            Err(format!("'4' asks for IPv4, but {address} is an IPv6 address"))
        }
        _ => Ok(address),
    }
}

/// `22`, `1-1024`, `ssh`, `1-ssh`, joined by commas (one trailing comma
/// is allowed, as lsof allows it).
fn parse_ports(
    text: &str,
    transport: Option<Transport>,
    lookup: &dyn Lookup,
) -> Result<Vec<PortRange>, String> {
    if text.is_empty() {
        return Err("expected a port or service name after ':'".into());
    }
    let list = text.strip_suffix(',').unwrap_or(text);
    let mut ranges = Vec::new();
    for entry in list.split(',') {
        if entry.is_empty() {
            return Err("an empty entry in the port list".into());
        }
        // A service name may contain '-', so a range starts with a number.
        if entry.starts_with(|c: char| c.is_ascii_digit()) {
            ranges.push(numeric_entry(entry, transport, lookup)?);
        } else {
            ranges.extend(service_ports(entry, transport, lookup)?);
        }
    }
    Ok(ranges)
}

/// `22` or `1-1024`, whose end may be a service name (`1-smtp`).
fn numeric_entry(
    entry: &str,
    transport: Option<Transport>,
    lookup: &dyn Lookup,
) -> Result<PortRange, String> {
    let Some((low, high)) = entry.split_once('-') else {
        let port = port_number(entry)?;
        return Ok(PortRange::any_protocol(port, port));
    };
    let low = port_number(low)?;
    let high = match high {
        "" => return Err(format!("expected a port after '{low}-'")),
        number if number.starts_with(|c: char| c.is_ascii_digit()) => port_number(number)?,
        name => one_service_port(name, transport, lookup)?,
    };
    if high < low {
        return Err(format!("the port range {low}-{high} runs backwards"));
    }
    Ok(PortRange::any_protocol(low, high))
}

fn port_number(text: &str) -> Result<u16, String> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("'{text}' is not a port number"));
    }
    text.parse().map_err(|_| format!("port {text} is out of range (0-65535)"))
}

/// A service name's ports, for `transport` only when one is given.
fn service_ports(
    name: &str,
    transport: Option<Transport>,
    lookup: &dyn Lookup,
) -> Result<Vec<PortRange>, String> {
    let ports: Vec<PortRange> = lookup
        .service_ports(name)
        .into_iter()
        .filter_map(|(netid, port)| Some((netid.transport()?, port)))
        .filter(|(found, _)| transport.is_none_or(|wanted| wanted == *found))
        .map(|(found, port)| PortRange { transport: Some(found), low: port, high: port })
        .collect();
    if ports.is_empty() {
        return Err(match transport {
            Some(transport) => format!("unknown service '{name}' for {}", transport.as_str()),
            None => format!("unknown service '{name}'"),
        });
    }
    Ok(ports)
}

/// The one port a range's end names; without a protocol, TCP's and UDP's
/// port for the name must agree (as lsof requires of every name).
fn one_service_port(
    name: &str,
    transport: Option<Transport>,
    lookup: &dyn Lookup,
) -> Result<u16, String> {
    let ranges = service_ports(name, transport, lookup)?;
    let mut ports: Vec<u16> = ranges.iter().map(|range| range.low).collect();
    ports.sort_unstable();
    ports.dedup();
    match ports[..] {
        [port] => Ok(port),
        _ => Err(format!(
            "'{name}' names a different port for each protocol; give one, as in 'tcp:1-{name}'"
        )),
    }
}

/// lsof's TCP state names on Linux, as its output shows them in `(LISTEN)`.
/// lsof also accepts CLOSED, a state no Linux socket is ever in: here it is
/// CLOSE, the state lsof prints for a closed socket.
const TCP_STATE_NAMES: [(&str, SocketState); 12] = [
    ("ESTABLISHED", SocketState::Established),
    ("SYN_SENT", SocketState::SynSent),
    ("SYN_RECV", SocketState::SynRecv),
    ("FIN_WAIT1", SocketState::FinWait1),
    ("FIN_WAIT2", SocketState::FinWait2),
    ("TIME_WAIT", SocketState::TimeWait),
    ("CLOSE", SocketState::Closed),
    ("CLOSED", SocketState::Closed),
    ("CLOSE_WAIT", SocketState::CloseWait),
    ("LAST_ACK", SocketState::LastAck),
    ("LISTEN", SocketState::Listening),
    ("CLOSING", SocketState::Closing),
];

/// The `-s` lists: states to include, and (`^STATE`) to exclude.
///
/// As lsof on Linux does, the TCP names judge UDP sockets too, by the state
/// the kernel keeps for them: CLOSE unconnected, ESTABLISHED connected. A
/// socket that is neither TCP nor UDP is left out by an inclusion list and
/// kept by an exclusion list.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StateChoice {
    include: StateSet,
    exclude: StateSet,
}

impl StateChoice {
    /// Adds one `-s` value: `TCP:` and comma-separated names, each
    /// optionally preceded by `^`; names are not case-sensitive.
    pub fn add(&mut self, text: &str) -> Result<(), String> {
        let (protocol, names) =
            text.split_once(':').ok_or("expected PROTOCOL:STATES, as in -sTCP:LISTEN")?;
        match protocol.to_ascii_lowercase().as_str() {
            "tcp" => {}
            "udp" => {
                return Err("lsof has no UDP state names on Linux; the TCP names judge UDP \
                     sockets too (-sTCP:CLOSE: unconnected, -sTCP:ESTABLISHED: connected)"
                    .into());
            }
            _ => return Err(format!("unknown protocol '{protocol}' (-s takes TCP)")),
        }
        if names.is_empty() {
            return Err("expected state names after 'TCP:'".into());
        }
        for entry in names.strip_suffix(',').unwrap_or(names).split(',') {
            let (excluded, name) = match entry.strip_prefix('^') {
                Some(name) => (true, name),
                None => (false, entry),
            };
            let state = tcp_state(name)?;
            let set = if excluded { &mut self.exclude } else { &mut self.include };
            *set = set.union(StateSet::of(&[state]));
        }
        Ok(())
    }

    /// An inclusion list keeps TCP and UDP sockets only.
    pub fn keeps_only_inet(&self) -> bool {
        !self.include.is_empty()
    }

    /// An inclusion list wins over exclusions, as in lsof.
    pub fn keeps(&self, socket: &Socket) -> bool {
        match socket.as_inet().filter(|inet| inet.netid != Transport::Raw) {
            Some(inet) if self.keeps_only_inet() => self.include.contains(inet.state),
            Some(inet) => !self.exclude.contains(inet.state),
            None => !self.keeps_only_inet(),
        }
    }
}

fn tcp_state(name: &str) -> Result<SocketState, String> {
    if name.is_empty() {
        return Err("an empty state name".into());
    }
    let found = TCP_STATE_NAMES.iter().find(|(known, _)| known.eq_ignore_ascii_case(name));
    found.map(|(_, state)| *state).ok_or_else(|| {
        let names: Vec<&str> = TCP_STATE_NAMES.iter().map(|(known, _)| *known).collect();
        format!("unknown TCP state '{name}' (states: {})", names.join(", "))
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::names::Services;

    /// /etc/services and host names of a test's own.
    struct Fixed {
        services: Services,
        hosts: HashMap<&'static str, Vec<IpAddr>>,
    }

    fn fixed() -> Fixed {
        let services = Services::parse(
            "ssh 22/tcp\nsmtp 25/tcp mail\ndomain 53/tcp\ndomain 53/udp\nsyslog 514/udp\n\
             split 600/tcp\nsplit 601/udp\nhttps 443/tcp\nhttps 443/udp\nsvc-with-dash 8080/tcp\n",
        );
        let hosts = HashMap::from([
            ("localhost", vec!["127.0.0.1".parse().unwrap()]),
            ("both", vec!["10.0.0.5".parse().unwrap(), "fd00::5".parse().unwrap()]),
            ("mapped", vec!["::ffff:10.1.2.3".parse().unwrap()]),
            ("zero", vec!["0.0.0.0".parse().unwrap()]),
        ]);
        Fixed { services, hosts }
    }

    impl Lookup for Fixed {
        fn service_ports(&self, name: &str) -> Vec<(Netid, u16)> {
            self.services.ports(name).to_vec()
        }

        fn host_addresses(&self, name: &str) -> Vec<IpAddr> {
            self.hosts.get(name).cloned().unwrap_or_default()
        }
    }

    fn parse(text: &str) -> Result<InetSpec, String> {
        InetSpec::parse(text, &fixed())
    }

    fn any(low: u16, high: u16) -> PortRange {
        PortRange::any_protocol(low, high)
    }

    fn on(transport: Transport, port: u16) -> PortRange {
        PortRange { transport: Some(transport), low: port, high: port }
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn the_forms_of_lsofs_manual() {
        use IpFamily::*;
        use Transport::*;
        let spec = |family, transport, hosts: &[&str], ports: &[PortRange]| InetSpec {
            family,
            transport,
            hosts: hosts.iter().map(|h| ip(h)).collect(),
            ports: ports.to_vec(),
        };
        assert_eq!(parse("6").unwrap(), spec(Some(Inet6), None, &[], &[]));
        assert_eq!(parse("4").unwrap(), spec(Some(Inet), None, &[], &[]));
        assert_eq!(parse("TCP:25").unwrap(), spec(None, Some(Tcp), &[], &[any(25, 25)]));
        assert_eq!(parse("tcp:22").unwrap(), parse("Tcp:22").unwrap(), "any case");
        assert_eq!(parse("6TCP").unwrap(), spec(Some(Inet6), Some(Tcp), &[], &[]));
        assert_eq!(parse("4udp").unwrap(), spec(Some(Inet), Some(Udp), &[], &[]));
        assert_eq!(parse("@1.2.3.4").unwrap(), spec(None, None, &["1.2.3.4"], &[]));
        assert_eq!(
            parse("@10.0.0.5:443").unwrap(),
            spec(None, None, &["10.0.0.5"], &[any(443, 443)])
        );
        assert_eq!(
            parse("@[3ffe:1ebc::1]:1234").unwrap(),
            spec(None, None, &["3ffe:1ebc::1"], &[any(1234, 1234)])
        );
        assert_eq!(parse("UDP:domain").unwrap(), spec(None, Some(Udp), &[], &[on(Udp, 53)]));
        assert_eq!(
            parse("TCP@localhost:513").unwrap(),
            spec(None, Some(Tcp), &["127.0.0.1"], &[any(513, 513)])
        );
        assert_eq!(
            parse("tcp@localhost:1-10,smtp,99").unwrap(),
            spec(None, Some(Tcp), &["127.0.0.1"], &[any(1, 10), on(Tcp, 25), any(99, 99)])
        );
        assert_eq!(parse("tcp:1-smtp").unwrap().ports, [any(1, 25)]);
        assert_eq!(parse(":domain").unwrap().ports, [on(Tcp, 53), on(Udp, 53)]);
        assert_eq!(parse(":1-1024").unwrap(), spec(None, None, &[], &[any(1, 1024)]));
        assert_eq!(parse(":22,").unwrap().ports, [any(22, 22)], "a trailing comma");
        assert_eq!(parse(":022").unwrap().ports, [any(22, 22)]);
        assert_eq!(parse(":22-22").unwrap().ports, [any(22, 22)]);
        assert_eq!(parse(":svc-with-dash").unwrap().ports, [on(Tcp, 8080)]);
        assert_eq!(parse(":1-domain").unwrap().ports, [any(1, 53)], "TCP and UDP agree");
        assert_eq!(parse("@both").unwrap().hosts, [ip("10.0.0.5"), ip("fd00::5")]);
        assert_eq!(parse("6@both").unwrap().hosts, [ip("fd00::5")]);
        assert_eq!(parse("@mapped").unwrap().hosts, [ip("10.1.2.3")]);
        assert_eq!(parse("@[::ffff:127.0.0.1]").unwrap().hosts, [ip("127.0.0.1")]);
        assert_eq!(parse("").unwrap(), InetSpec::any());
    }

    #[test]
    fn what_lsof_rejects_is_an_error_naming_the_problem() {
        for (text, problem) in [
            ("XYZ", "unknown protocol 'XYZ' (protocols: TCP, UDP)"),
            ("80", "unknown protocol '80' (a port goes after a colon: ':80')"),
            ("46TCP", "unknown protocol '6TCP'"),
            ("TCP4", "unknown protocol 'TCP4'"),
            ("UDPLITE", "portwatch does not list UDP-Lite sockets"),
            ("@", "expected a host name or address after '@'"),
            ("TCP@:22", "expected a host name or address after '@'"),
            ("@::1", "an IPv6 address goes in brackets: '@[::1]'"),
            ("@[::1", "expected ']' after the IPv6 address"),
            ("@[nope]", "'nope' is not an IPv6 address"),
            ("@[::1]x", "expected ':' and a port after the address"),
            ("@0.0.0.0", "the unspecified address 0.0.0.0 names no host"),
            ("TCP@0.0.0.0:22", "the unspecified address 0.0.0.0 names no host"),
            ("@[::]", "the unspecified address :: names no host"),
            ("@zero", "the unspecified address 0.0.0.0 names no host"),
            ("6@127.0.0.1", "'6' asks for IPv6, but 127.0.0.1 is an IPv4 address"),
            ("4@[::1]", "'4' asks for IPv4, but ::1 is an IPv6 address"),
            ("6@[::ffff:1.2.3.4]", "'6' asks for IPv6, but 1.2.3.4 is an IPv4 address"),
            ("@no.such.host", "unknown host 'no.such.host'"),
            ("6@localhost", "host 'localhost' has no IPv6 address"),
            ("4@mapped", ""),
            (":", "expected a port or service name after ':'"),
            ("TCP:", "expected a port or service name after ':'"),
            ("@127.0.0.1:", "expected a port or service name after ':'"),
            (":5-1", "the port range 5-1 runs backwards"),
            (":1-", "expected a port after '1-'"),
            (":0-", "expected a port after '0-'"),
            (":1-2-3", "'2-3' is not a port number"),
            (":22x", "'22x' is not a port number"),
            (":0x16", "'0x16' is not a port number"),
            (":65536", "port 65536 is out of range (0-65535)"),
            (":99999999999999999999", "out of range"),
            (":22,,23", "an empty entry in the port list"),
            (":,", "an empty entry in the port list"),
            (":nosuch", "unknown service 'nosuch'"),
            (":-1", "unknown service '-1'"),
            (":+22", "unknown service '+22'"),
            (":ssh-22", "unknown service 'ssh-22'"),
            ("UDP:ssh", "unknown service 'ssh' for udp"),
            ("TCP:1-nosuch", "unknown service 'nosuch' for tcp"),
            (":1-split", "'split' names a different port for each protocol"),
            ("UDP:1-split", ""),
            (":1-syslog", ""),
            (":1-smtp", ""),
            ("TCP:22 ", "'22 ' is not a port number"),
        ] {
            match parse(text) {
                Err(error) => assert!(error.contains(problem), "{text}: {error}"),
                Ok(spec) => assert!(problem.is_empty(), "{text} parsed: {spec:?}"),
            }
        }
    }

    fn socket(netid: Transport, local: &str, peer: &str) -> InetSocket {
        let end = |text: &str| {
            let address: std::net::SocketAddr = text.parse().unwrap();
            InetEnd::new(address.ip(), address.port())
        };
        let local = end(local);
        let family = family_of(local.addr);
        let state = match (netid, peer) {
            (Transport::Tcp, "0.0.0.0:0" | "[::]:0") => SocketState::Listening,
            (_, "0.0.0.0:0" | "[::]:0") => SocketState::Closed,
            _ => SocketState::Established,
        };
        InetSocket { local, peer: end(peer), ..InetSocket::new(netid, family, state) }
    }

    #[test]
    fn either_end_matches_as_in_lsof() {
        use Transport::*;
        let listener = socket(Tcp, "127.0.0.1:22", "0.0.0.0:0");
        let client = socket(Tcp, "127.0.0.1:40000", "127.0.0.1:22");
        let wildcard = socket(Tcp, "[::]:8080", "[::]:0");
        let dual_stack_peer = socket(Tcp, "[::ffff:127.0.0.1]:8080", "[::ffff:10.0.0.5]:50000");
        let udp = socket(Udp, "127.0.0.1:53", "0.0.0.0:0");
        let raw = socket(Raw, "127.0.0.1:6", "0.0.0.0:0");
        let matches = |text: &str, socket: &InetSocket| parse(text).unwrap().matches(socket);
        assert!(matches("TCP:22", &listener) && matches("TCP:22", &client), "either end");
        assert!(!matches("UDP:22", &listener) && !matches("6TCP", &listener));
        assert!(!matches(":0", &listener));
        assert!(!matches(":0", &udp), "an unconnected peer is no end");
        assert!(matches("@127.0.0.1:22", &client), "the peer's host and port");
        assert!(!matches("@127.0.0.1:40001", &client));
        assert!(
            !matches("@[::1]:22", &client) && !matches("@127.0.0.2:22", &listener),
            "host and port of the same end"
        );
        assert!(!matches("@127.0.0.1", &wildcard), "a wildcard is no host");
        assert!(matches("6TCP:8080", &wildcard) && matches(":8080", &wildcard));
        assert!(matches("@10.0.0.5", &dual_stack_peer), "an IPv4 address names its mapped form");
        assert!(!matches("4@10.0.0.5", &dual_stack_peer), "the socket's family is IPv6");
        assert!(matches("@[::ffff:10.0.0.5]:50000", &dual_stack_peer));
        assert!(matches(":domain", &udp) && !matches("UDP:1-52", &udp));
        assert!(!matches("", &raw) && !matches(":6", &raw), "lsof's -i is TCP and UDP");
        assert!(matches("", &udp) && matches("4", &udp));
        let ssh_on_udp = socket(Udp, "127.0.0.1:22", "0.0.0.0:0");
        assert!(!matches(":ssh", &ssh_on_udp), "ssh is a TCP service");
        assert!(matches(":22", &ssh_on_udp));
    }

    #[test]
    fn state_lists() {
        use SocketState::*;
        let choice = |values: &[&str]| {
            let mut choice = StateChoice::default();
            for value in values {
                choice.add(value).unwrap();
            }
            choice
        };
        let with_state = |netid, state| Socket::Inet(InetSocket::new(netid, IpFamily::Inet, state));
        let listener = with_state(Transport::Tcp, Listening);
        let established = with_state(Transport::Tcp, Established);
        let udp = with_state(Transport::Udp, Closed);
        let connected_udp = with_state(Transport::Udp, Established);
        let listen = choice(&["TCP:LISTEN"]);
        assert!(listen.keeps(&listener) && !listen.keeps(&established) && !listen.keeps(&udp));
        assert_eq!(choice(&["tcp:listen"]), listen, "any case");
        assert_eq!(choice(&["TCP:LISTEN,"]), listen, "a trailing comma");
        let not_listen = choice(&["TCP:^LISTEN"]);
        assert!(!not_listen.keeps(&listener) && not_listen.keeps(&established));
        assert!(not_listen.keeps(&udp), "an exclusion keeps the rest");
        let two = choice(&["TCP:LISTEN,ESTABLISHED"]);
        assert!(two.keeps(&listener) && two.keeps(&established) && two.keeps(&connected_udp));
        assert!(!two.keeps(&udp), "UDP is judged by the kernel's state, as lsof does");
        assert_eq!(choice(&["TCP:LISTEN", "TCP:ESTABLISHED"]), two, "-s repeats");
        let mixed = choice(&["TCP:LISTEN,^ESTABLISHED"]);
        assert!(mixed.keeps(&listener) && !mixed.keeps(&udp), "inclusion wins");
        assert!(choice(&["TCP:CLOSED"]).keeps(&udp), "CLOSED is CLOSE");
        let unix = Socket::Unix(crate::model::UnixSocket {
            details: Default::default(),
            netid: crate::model::UnixKind::Stream,
            family: Default::default(),
            state: Listening,
            recv_q: 0,
            send_q: 0,
            local: Default::default(),
            peer: Default::default(),
            uid: None,
            inode: None,
            cookie: None,
            netns: None,
            owners: None,
            proc_entry: None,
        });
        assert!(!listen.keeps(&unix) && not_listen.keeps(&unix));
        for (text, problem) in [
            ("TCP", "expected PROTOCOL:STATES"),
            ("TCP:", "expected state names after 'TCP:'"),
            ("TCP:BOGUS", "unknown TCP state 'BOGUS' (states: ESTABLISHED, SYN_SENT"),
            ("TCP:FIN_WAIT_2", "unknown TCP state 'FIN_WAIT_2'"),
            ("TCP:LISTEN,,ESTABLISHED", "an empty state name"),
            ("TCP:^", "an empty state name"),
            ("TCP:^^LISTEN", "unknown TCP state '^LISTEN'"),
            ("UDP:Idle", "lsof has no UDP state names on Linux"),
            ("udp:^Idle", "lsof has no UDP state names on Linux"),
            ("XYZ:LISTEN", "unknown protocol 'XYZ' (-s takes TCP)"),
            ("UDPLITE:LISTEN", "unknown protocol 'UDPLITE'"),
        ] {
            let error = StateChoice::default().add(text).unwrap_err();
            assert!(error.contains(problem), "{text}: {error}");
        }
    }

    proptest::proptest! {
        /// Any text parses to an address or an error, never a panic.
        #[test]
        fn arbitrary_addresses_never_panic(text in "\\PC{0,40}") {
            let _ = parse(&text);
            let _ = StateChoice::default().add(&text);
        }

        /// Text built from the grammar's own pieces reaches the deeper paths.
        #[test]
        fn grammar_pieces_never_panic(pieces in proptest::collection::vec(proptest::sample::select(vec![
            "4", "6", "TCP", "udp", "UDPLITE", "@", ":", "[", "]", "::1", "::", "127.0.0.1", "0.0.0.0",
            "localhost", "both", "mapped", "zero", ",", "-", "^", "0", "22", "65535", "65536", "ssh",
            "domain", "syslog", "x", "LISTEN", "é", " ", "\u{0}",
        ]), 0..12)) {
            let text = pieces.concat();
            if let Ok(spec) = parse(&text) {
                for range in &spec.ports {
                    proptest::prop_assert!(range.low <= range.high, "{text}: {range:?}");
                }
                proptest::prop_assert!(spec.hosts.iter().all(|h| !h.is_unspecified()), "{text}");
            }
            let _ = StateChoice::default().add(&text);
        }

        /// A port range typed as numbers parses to itself.
        #[test]
        fn numeric_ranges_parse_to_themselves(low in 0u16.., high in 0u16.., tcp in proptest::bool::ANY) {
            let protocol = if tcp { "TCP" } else { "" };
            let parsed = parse(&format!("{protocol}:{low}-{high}"));
            if low <= high {
                let spec = parsed.unwrap();
                proptest::prop_assert_eq!(spec.ports, vec![any(low, high)]);
                proptest::prop_assert_eq!(spec.transport, tcp.then_some(Transport::Tcp));
            } else {
                proptest::prop_assert!(parsed.unwrap_err().contains("runs backwards"));
            }
        }
    }
}
