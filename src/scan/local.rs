//! `scan --local`: this host scanning its own addresses, each open port
//! joined with the listener (and its owners) that answered, and each
//! listener the scan did not find open shown with what it found instead.

use std::net::IpAddr;

use super::targets::Target;
use crate::audit::exposure::accepts_tcp;
use crate::model::Transport;
use crate::model::audit::Listener;
use crate::model::scan::HostScan;

/// The addresses to scan: every address of the interfaces that are up,
/// but IPv6 link-local ones (which need an interface to be reached by).
pub fn targets(addresses: Vec<IpAddr>) -> Vec<Target> {
    addresses
        .into_iter()
        .filter(|address| !is_ipv6_link_local(*address))
        .map(|address| Target { name: address.to_string(), address })
        .collect()
}

fn is_ipv6_link_local(address: IpAddr) -> bool {
    matches!(address, IpAddr::V6(v6) if v6.is_unicast_link_local())
}

/// The ports to scan when none are named: the TCP listeners' ports.
pub fn listener_ports(listeners: &[Listener]) -> Vec<u16> {
    let mut ports: Vec<u16> = listeners
        .iter()
        .filter(|l| l.socket.netid == Transport::Tcp)
        .map(|l| l.socket.local.port)
        .collect();
    ports.sort_unstable();
    ports.dedup();
    ports
}

/// Gives each scanned port the listener that takes connections to it.
pub fn join(hosts: &mut [HostScan], listeners: &[Listener]) {
    for host in hosts {
        for port in &mut host.ports {
            port.listener = listeners
                .iter()
                .find(|l| accepts_tcp(l, host.address, port.port))
                .map(|l| Box::new(l.socket.clone()));
        }
    }
}
