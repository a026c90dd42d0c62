//! ss's filter language: `sport`/`dport`/`src`/`dst`/`dev`/`fwmark`/
//! `cgroup`/`autobound` conditions joined by `and`, `or`, `not` and
//! parentheses. Parsed once ([`parse`]), compiled to the kernel's inet_diag
//! bytecode for live dumps ([`bytecode`]), and evaluated in userspace, with
//! the kernel's semantics, for replays and the /proc/net fallback.

pub mod bytecode;
pub mod parse;

use std::net::IpAddr;

use crate::model::{IpFamily, Socket};

/// A filter expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Cond(Cond),
}

/// Which end of the socket a condition looks at: `src`/`sport` the local
/// end, `dst`/`dport` the peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Local,
    Peer,
}

/// One condition, as the kernel's bytecode knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cond {
    /// Address prefix and/or port (`src 10.0.0.0/8`, `dport = :22`).
    Host(Side, HostCond),
    /// The port is at least this (`sport >= :1024`).
    PortAtLeast(Side, u16),
    /// The port is at most this (`dport <= :1024`).
    PortAtMost(Side, u16),
    /// Bound to the interface with this index (`dev = eth0`).
    Device(u32),
    /// `(mark & mask) == mark` (`fwmark = 0x1/0xff`).
    Mark { mark: u32, mask: u32 },
    /// The socket's cgroup v2 id (`cgroup = /system.slice/x.service`).
    Cgroup(u64),
    /// The local port was chosen by the kernel (`autobound`).
    AutoBound,
}

/// An address prefix (with its family) and a port; `None` matches anything.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostCond {
    pub prefix: Option<Prefix>,
    pub port: Option<u16>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prefix {
    pub addr: IpAddr,
    pub len: u8,
}

/// What a socket must offer an evaluation beyond its addresses, for the
/// conditions that need it.
#[derive(Clone, Copy, Debug, Default)]
pub struct Extras {
    /// The kernel's ephemeral port range, for `autobound` (the kernel knows
    /// which ports it chose; a replay can only guess from the range).
    pub ephemeral_ports: (u16, u16),
}

impl Expr {
    /// Evaluates the expression on a socket as the kernel's
    /// `inet_diag_bc_run` would.
    pub fn matches(&self, socket: &Socket, extras: &Extras) -> bool {
        match self {
            Expr::And(a, b) => a.matches(socket, extras) && b.matches(socket, extras),
            Expr::Or(a, b) => a.matches(socket, extras) || b.matches(socket, extras),
            Expr::Not(a) => !a.matches(socket, extras),
            Expr::Cond(cond) => cond.matches(socket, extras),
        }
    }

    /// Every condition in the expression.
    pub fn conditions(&self) -> Vec<&Cond> {
        match self {
            Expr::And(a, b) | Expr::Or(a, b) => {
                let mut all = a.conditions();
                all.extend(b.conditions());
                all
            }
            Expr::Not(a) => a.conditions(),
            Expr::Cond(cond) => vec![cond],
        }
    }
}

impl Cond {
    fn matches(&self, socket: &Socket, extras: &Extras) -> bool {
        // Address, port, device and mark conditions speak of inet sockets.
        let Socket::Inet(socket) = socket else { return false };
        let endpoint = |side: &Side| match side {
            Side::Local => &socket.local,
            Side::Peer => &socket.peer,
        };
        match self {
            Cond::Host(side, host) => {
                host.matches(socket.family, endpoint(side).addr, endpoint(side).port)
            }
            Cond::PortAtLeast(side, port) => endpoint(side).port >= *port,
            Cond::PortAtMost(side, port) => endpoint(side).port <= *port,
            Cond::Device(index) => socket.interface_index.unwrap_or(0) == *index,
            Cond::Mark { mark, mask } => socket.mark.is_some_and(|m| m & mask == *mark),
            Cond::Cgroup(id) => socket.cgroup_id == Some(*id),
            Cond::AutoBound => {
                let (low, high) = extras.ephemeral_ports;
                (low..=high).contains(&socket.local.port)
            }
        }
    }
}

impl HostCond {
    /// The kernel's INET_DIAG_BC_S_COND / D_COND: the port must match; an
    /// IPv4 prefix matches IPv4 sockets and IPv4-mapped IPv6 addresses; an
    /// IPv6 prefix matches IPv6 sockets only.
    pub fn matches(&self, family: IpFamily, addr: IpAddr, port: u16) -> bool {
        if self.port.is_some_and(|wanted| wanted != port) {
            return false;
        }
        let Some(prefix) = &self.prefix else { return true };
        match (prefix.addr, addr) {
            (IpAddr::V4(want), IpAddr::V6(have)) if family == IpFamily::Inet6 => have
                .to_ipv4_mapped()
                .is_some_and(|v4| bits_match(&want.octets(), &v4.octets(), prefix.len)),
            (IpAddr::V4(want), IpAddr::V4(have)) => {
                bits_match(&want.octets(), &have.octets(), prefix.len)
            }
            (IpAddr::V6(want), IpAddr::V6(have)) => {
                bits_match(&want.octets(), &have.octets(), prefix.len)
            }
            _ => false,
        }
    }
}

/// Whether the first `len` bits of `a` and `b` agree.
fn bits_match(a: &[u8], b: &[u8], len: u8) -> bool {
    let len = usize::from(len).min(a.len() * 8);
    let (bytes, bits) = (len / 8, len % 8);
    if a[..bytes] != b[..bytes] {
        return false;
    }
    if bits == 0 {
        return true;
    }
    let mask = 0xffu8 << (8 - bits);
    a[bytes] & mask == b[bytes] & mask
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(prefix: &str, len: u8, port: Option<u16>) -> HostCond {
        HostCond { prefix: Some(Prefix { addr: prefix.parse().unwrap(), len }), port }
    }

    #[test]
    fn prefixes_match_as_the_kernel_does() {
        let ten = host("10.0.0.0", 8, None);
        assert!(ten.matches(IpFamily::Inet, "10.1.2.3".parse().unwrap(), 1));
        assert!(!ten.matches(IpFamily::Inet, "11.1.2.3".parse().unwrap(), 1));
        assert!(ten.matches(IpFamily::Inet6, "::ffff:10.9.9.9".parse().unwrap(), 1), "mapped");
        assert!(!ten.matches(IpFamily::Inet6, "::10.9.9.9".parse().unwrap(), 1));
        let any_v4 = host("0.0.0.0", 0, None);
        assert!(!any_v4.matches(IpFamily::Inet6, "::1".parse().unwrap(), 1), "families differ");
        let v6 = host("fec0:42::", 32, Some(22));
        assert!(v6.matches(IpFamily::Inet6, "fec0:42::24".parse().unwrap(), 22));
        assert!(!v6.matches(IpFamily::Inet6, "fec0:42::24".parse().unwrap(), 23));
        assert!(!v6.matches(IpFamily::Inet, "10.0.0.1".parse().unwrap(), 22));
        let odd = host("193.233.7.0", 25, None);
        assert!(odd.matches(IpFamily::Inet, "193.233.7.127".parse().unwrap(), 0));
        assert!(!odd.matches(IpFamily::Inet, "193.233.7.128".parse().unwrap(), 0));
    }
}
