//! Which sockets are listeners, and who can reach each by its bind address.

use std::net::IpAddr;

use crate::model::audit::{BindScope, Exposure, Listener};
use crate::model::{IpFamily, Socket, SocketState, Transport};

/// The listening TCP sockets and bound, unconnected UDP sockets among
/// `sockets`, with their exposure; everything else is dropped.
pub fn listeners(sockets: Vec<Socket>) -> Vec<Listener> {
    sockets
        .into_iter()
        .filter_map(|socket| match socket {
            Socket::Inet(inet) if is_listener(&inet) => {
                let exposure = exposure(&inet);
                Some(Listener { socket: inet, exposure })
            }
            _ => None,
        })
        .collect()
}

/// A listening TCP (MPTCP, DCCP, SCTP) socket, or a bound, unconnected UDP one.
pub fn is_listener(socket: &crate::model::InetSocket) -> bool {
    match socket.netid {
        Transport::Tcp | Transport::Mptcp | Transport::Dccp | Transport::Sctp => {
            socket.state == SocketState::Listening
        }
        Transport::Udp => {
            socket.state == SocketState::Closed && socket.local.port != 0 && socket.peer.port == 0
        }
        Transport::Raw => false,
    }
}

/// The bind scope of a listener, and the families it accepts. An IPv6
/// socket bound to an IPv4-mapped address (`::ffff:0.0.0.0`,
/// `::ffff:10.0.0.5`) accepts IPv4 alone, and `::ffff:0.0.0.0` is the IPv4
/// wildcard.
pub fn exposure(socket: &crate::model::InetSocket) -> Exposure {
    let mapped = match socket.local.addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped(),
        IpAddr::V4(_) => None,
    };
    let addr = mapped.map_or(socket.local.addr, IpAddr::V4);
    let bind = match addr {
        _ if socket.interface.as_deref() == Some("lo") => BindScope::Loopback,
        addr if is_loopback(addr) => BindScope::Loopback,
        addr if addr.is_unspecified() => BindScope::Wildcard,
        _ => BindScope::Address,
    };
    let families = match (socket.family, bind) {
        _ if mapped.is_some() => vec![IpFamily::Inet],
        (IpFamily::Inet6, BindScope::Wildcard) if socket.is_dual_stack() => IpFamily::ALL.to_vec(),
        (family, _) => vec![family],
    };
    Exposure { bind, families, firewall: None, forwards: Vec::new() }
}

/// 127.0.0.0/8, ::1, and IPv4-mapped loopback.
fn is_loopback(addr: IpAddr) -> bool {
    match addr {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// Whether a TCP listener takes connections to `address`:`port` (a
/// wildcard of the address's family, the address itself, or its
/// IPv4-mapped form).
pub fn accepts_tcp(listener: &Listener, address: IpAddr, port: u16) -> bool {
    let socket = &listener.socket;
    if socket.netid != Transport::Tcp || socket.local.port != port {
        return false;
    }
    let family = match address {
        IpAddr::V4(_) => IpFamily::Inet,
        IpAddr::V6(_) => IpFamily::Inet6,
    };
    if !listener.exposure.families.contains(&family) {
        return false;
    }
    let mapped = match socket.local.addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4),
        IpAddr::V4(_) => None,
    };
    match listener.exposure.bind {
        BindScope::Wildcard => true,
        _ => socket.local.addr == address || mapped == Some(address),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{InetEnd, InetSocket};

    fn tcp(addr: &str, v6only: Option<bool>) -> InetSocket {
        let addr: IpAddr = addr.parse().unwrap();
        let family = if addr.is_ipv4() { IpFamily::Inet } else { IpFamily::Inet6 };
        let mut socket = InetSocket::new(Transport::Tcp, family, SocketState::Listening);
        socket.local = InetEnd::new(addr, 6379);
        socket.v6only = v6only;
        socket
    }

    #[test]
    fn bind_scopes() {
        let scope = |addr, v6only| exposure(&tcp(addr, v6only));
        assert_eq!(scope("127.0.0.1", None).bind, BindScope::Loopback);
        assert_eq!(scope("::1", Some(true)).bind, BindScope::Loopback);
        assert_eq!(scope("::ffff:127.0.0.5", Some(false)).bind, BindScope::Loopback);
        assert_eq!(scope("10.1.2.3", None).bind, BindScope::Address);
        assert_eq!(
            scope("0.0.0.0", None),
            Exposure {
                bind: BindScope::Wildcard,
                families: vec![IpFamily::Inet],
                firewall: None,
                forwards: Vec::new()
            }
        );
        assert_eq!(scope("::", Some(false)).families, IpFamily::ALL, "dual-stack counts for both");
        assert_eq!(scope("::", Some(true)).families, [IpFamily::Inet6]);
        assert_eq!(
            scope("::ffff:0.0.0.0", Some(false)),
            Exposure {
                bind: BindScope::Wildcard,
                families: vec![IpFamily::Inet],
                firewall: None,
                forwards: Vec::new()
            },
            "the IPv4 wildcard, mapped"
        );
        assert_eq!(
            scope("::ffff:10.1.2.3", Some(false)),
            Exposure {
                bind: BindScope::Address,
                families: vec![IpFamily::Inet],
                firewall: None,
                forwards: Vec::new()
            }
        );
        let mut on_lo = tcp("0.0.0.0", None);
        on_lo.interface = Some("lo".into());
        assert_eq!(exposure(&on_lo).bind, BindScope::Loopback);
    }

    #[test]
    fn only_listeners_and_unconnected_udp() {
        let mut connected_udp =
            InetSocket::new(Transport::Udp, IpFamily::Inet, SocketState::Closed);
        connected_udp.local = InetEnd::new("127.0.0.1".parse().unwrap(), 5000);
        connected_udp.peer = InetEnd::new("127.0.0.1".parse().unwrap(), 53);
        let mut bound_udp = connected_udp.clone();
        bound_udp.peer = InetEnd::any();
        let mut established = tcp("127.0.0.1", None);
        established.state = SocketState::Established;
        let sockets = [tcp("0.0.0.0", None), connected_udp, bound_udp, established];
        let listed = listeners(sockets.into_iter().map(Socket::Inet).collect());
        let kinds: Vec<Transport> = listed.iter().map(|l| l.socket.netid).collect();
        assert_eq!(kinds, [Transport::Tcp, Transport::Udp]);
    }
}
