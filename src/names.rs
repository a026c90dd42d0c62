//! Names for numbers: service names from /etc/services for ports, host
//! names through the system resolver for addresses (`-r`).

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use crate::model::Netid;
use crate::sys::{Files, ProcFs, Resolver};

/// Larger than any real services(5) or protocols(5) file.
const NAME_FILE_LIMIT: u64 = 4 << 20;

pub const SERVICES_PATH: &str = "/etc/services";
pub const PROTOCOLS_PATH: &str = "/etc/protocols";

/// The port → name table of /etc/services, per protocol.
#[derive(Debug, Default)]
pub struct Services {
    names: HashMap<(Netid, u16), Arc<str>>,
    /// Names and aliases to their ports, for `who ssh`.
    ports: HashMap<String, Vec<(Netid, u16)>>,
    /// The kernel's ephemeral port range: as ss does, ports in it are not
    /// named (57000 is a client's port far more often than dircproxy).
    ephemeral: Option<(u16, u16)>,
}

/// The kernel's range for ports it chooses (`autobound`, client ports).
pub fn ephemeral_ports(proc: &dyn ProcFs) -> (u16, u16) {
    let text =
        proc.read_text(Path::new("/proc/sys/net/ipv4/ip_local_port_range")).unwrap_or_default();
    let mut bounds = text.split_whitespace().filter_map(|n| n.parse().ok());
    match (bounds.next(), bounds.next()) {
        (Some(low), Some(high)) => (low, high),
        _ => (32768, 60999),
    }
}

impl Services {
    /// Reads /etc/services (and, for raw sockets' protocol names,
    /// /etc/protocols); a missing file means no names.
    pub fn load(files: &dyn Files, proc: &dyn ProcFs, protocols: bool) -> Services {
        let mut services = files
            .read_text(Path::new(SERVICES_PATH), NAME_FILE_LIMIT)
            .map(|text| Services::parse(&text))
            .unwrap_or_default();
        services.ephemeral = Some(ephemeral_ports(proc));
        if protocols {
            let text = files.read_text(Path::new(PROTOCOLS_PATH), NAME_FILE_LIMIT);
            services.add_protocols(&text.unwrap_or_default());
        }
        services
    }

    /// Names raw sockets' "ports", the IP protocols, from protocols(5)
    /// lines: `name number [aliases]`; ss's `ipproto-N` for the others.
    fn add_protocols(&mut self, text: &str) {
        for line in text.lines() {
            let mut fields = line.split('#').next().unwrap_or_default().split_whitespace();
            let (Some(name), Some(number)) = (fields.next(), fields.next()) else { continue };
            if let Ok(number) = number.parse::<u16>() {
                self.names.entry((Netid::Raw, number)).or_insert_with(|| name.into());
            }
        }
        for number in 1..=255u16 {
            self.names
                .entry((Netid::Raw, number))
                .or_insert_with(|| format!("ipproto-{number}").into());
        }
    }

    /// Parses services(5) lines: `name port/protocol [aliases] [# comment]`.
    /// The first name listed for a port wins, as with getservbyport(3).
    pub fn parse(text: &str) -> Services {
        let mut services = Services::default();
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or_default();
            let mut fields = line.split_whitespace();
            let (Some(name), Some(port_protocol)) = (fields.next(), fields.next()) else {
                continue;
            };
            let Some((port, protocol)) = port_protocol.split_once('/') else { continue };
            let netid = match protocol {
                "tcp" => Netid::Tcp,
                "udp" => Netid::Udp,
                _ => continue,
            };
            let Ok(port) = port.parse::<u16>() else { continue };
            services.names.entry((netid, port)).or_insert_with(|| name.into());
            for alias in std::iter::once(name).chain(fields) {
                services.ports.entry(alias.to_owned()).or_default().push((netid, port));
            }
        }
        services
    }

    /// The name of a port, unless it lies in the ephemeral range.
    pub fn name(&self, netid: Netid, port: u16) -> Option<&Arc<str>> {
        let ephemeral = self.ephemeral.is_some_and(|(low, high)| (low..=high).contains(&port));
        if ephemeral && netid != Netid::Raw || port == 0 {
            return None;
        }
        self.names.get(&(netid, port))
    }

    /// The ports a service name or alias stands for, per protocol.
    pub fn ports(&self, name: &str) -> &[(Netid, u16)] {
        self.ports.get(name).map_or(&[], Vec::as_slice)
    }
}

/// Reverse lookups through the system resolver, each address asked once.
pub struct HostNames<'s> {
    resolver: &'s dyn Resolver,
    cache: HashMap<IpAddr, Option<String>>,
}

impl<'s> HostNames<'s> {
    pub fn new(resolver: &'s dyn Resolver) -> Self {
        HostNames { resolver, cache: HashMap::new() }
    }

    /// An IPv4-mapped IPv6 address (`::ffff:127.0.0.1`, a dual-stack
    /// socket's IPv4 peer) is named by its IPv4 address, as ss names it: the
    /// resolver knows names for the IPv4 form only.
    pub fn name(&mut self, addr: IpAddr) -> Option<&str> {
        let addr = match addr {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
            IpAddr::V4(_) => addr,
        };
        if addr.is_unspecified() {
            return None;
        }
        let resolver = self.resolver;
        self.cache.entry(addr).or_insert_with(|| resolver.host_name(addr)).as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_services_per_protocol() {
        let services = Services::parse(
            "# comment\nssh\t\t22/tcp\t# SSH\nhttp 80/tcp www\ndomain 53/udp\nwww-alt 80/tcp\nbad line\nx 99999/tcp\ny 12/sctp\n",
        );
        let name = |netid, port| services.name(netid, port).map(|name| name.to_string());
        assert_eq!(name(Netid::Tcp, 22).as_deref(), Some("ssh"));
        assert_eq!(name(Netid::Tcp, 80).as_deref(), Some("http"), "first name wins");
        assert_eq!(name(Netid::Udp, 53).as_deref(), Some("domain"));
        assert_eq!(services.name(Netid::Tcp, 53), None);
        assert_eq!(services.name(Netid::Udp, 22), None);
        assert_eq!(services.ports("www"), [(Netid::Tcp, 80)]);
        assert_eq!(services.ports("domain"), [(Netid::Udp, 53)]);
        assert!(services.ports("nope").is_empty());
        let services = Services {
            ephemeral: Some((32768, 60999)),
            ..Services::parse("dircproxy 57000/tcp\n")
        };
        assert_eq!(services.name(Netid::Tcp, 57000), None, "ss leaves ephemeral ports numeric");
        assert_eq!(services.ports("dircproxy"), [(Netid::Tcp, 57000)]);
    }

    /// Knows one name, for 127.0.0.1, and counts the questions.
    struct OneName(std::sync::atomic::AtomicUsize);

    impl Resolver for OneName {
        fn host_addresses(&self, _: &str) -> Vec<IpAddr> {
            Vec::new()
        }
        fn host_name(&self, addr: IpAddr) -> Option<String> {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            (addr == IpAddr::from([127, 0, 0, 1])).then(|| "localhost".to_owned())
        }
        fn interface_index(&self, _: &str) -> Option<u32> {
            None
        }
        fn interface_name(&self, _: u32) -> Option<String> {
            None
        }
        fn cgroup_id(&self, _: &str) -> Option<u64> {
            None
        }
    }

    #[test]
    fn names_an_ipv4_mapped_address_by_its_ipv4_address() {
        let resolver = OneName(Default::default());
        let mut hosts = HostNames::new(&resolver);
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        assert_eq!(hosts.name(mapped), Some("localhost"));
        assert_eq!(hosts.name(IpAddr::from([127, 0, 0, 1])), Some("localhost"));
        assert_eq!(resolver.0.load(std::sync::atomic::Ordering::SeqCst), 1, "one question");
        assert_eq!(hosts.name("::1".parse().unwrap()), None);
        assert_eq!(hosts.name("::ffff:0.0.0.0".parse().unwrap()), None);
    }
}
