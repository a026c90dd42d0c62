//! ss's filter language: `sport`/`dport`/`src`/`dst`/`dev`/`fwmark`/
//! `cgroup`/`autobound` conditions joined by `and`, `or`, `not` and
//! parentheses. Parsed once ([`parse`]), compiled to the kernel's inet_diag
//! bytecode for live dumps ([`bytecode`]), and evaluated in userspace, with
//! the kernel's semantics, for replays and the /proc/net fallback.

pub mod bytecode;
pub mod lsof;
pub mod parse;
pub mod target;

use std::net::IpAddr;

use crate::model::{IpFamily, Socket};

/// How deep an expression may nest: at most this many parentheses open at
/// once, and this many and/or/not levels in its tree (each change between
/// `and` and `or` adds one, as does a `not`). The parser refuses deeper
/// expressions, so that parsing, evaluating, compiling and dropping, which
/// recurse once per level, stay shallow: evaluation must fit the 2 MiB
/// stacks of the threads that list inside network namespaces.
pub const MAX_DEPTH: usize = 256;

/// A filter expression. A chain of one operator is one node (`a or b or c`
/// is one `Or` of three terms), and the parser keeps trees within
/// [`MAX_DEPTH`] levels; code that builds deeper trees itself must give
/// them the stack they need.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expr {
    /// Every term holds; no terms is true.
    And(Vec<Expr>),
    /// Some term holds; no terms is false.
    Or(Alternatives),
    Not(Box<Expr>),
    Cond(Cond),
}

/// The terms of an `or`. The plain port conditions among them (`sport =
/// :N`, `dport = :N`) are also kept as sorted port lists, so that a
/// generated allow-list of many ports costs a binary search per socket
/// rather than a scan.
#[derive(Clone)]
pub struct Alternatives {
    terms: Vec<Expr>,
    /// Boxed to keep every `Expr` small.
    index: Box<PortIndex>,
}

/// The plain port conditions of an `or`, by side, and where the others are.
#[derive(Clone, Default)]
struct PortIndex {
    local: Vec<u16>,
    peer: Vec<u16>,
    /// The positions of the terms that are not plain port conditions.
    others: Vec<usize>,
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
    /// An `or` of `terms`.
    pub fn or(terms: Vec<Expr>) -> Expr {
        Expr::Or(Alternatives::new(terms))
    }

    /// Evaluates the expression on a socket as the kernel's
    /// `inet_diag_bc_run` would.
    pub fn matches(&self, socket: &Socket, extras: &Extras) -> bool {
        match self {
            Expr::And(terms) => terms.iter().all(|term| term.matches(socket, extras)),
            Expr::Or(alternatives) => alternatives.matches(socket, extras),
            Expr::Not(inner) => !inner.matches(socket, extras),
            Expr::Cond(cond) => cond.matches(socket, extras),
        }
    }

    /// Every condition in the expression, in the order written.
    pub fn conditions(&self) -> Vec<&Cond> {
        let mut found = Vec::new();
        let mut pending = vec![self];
        while let Some(expr) = pending.pop() {
            match expr {
                Expr::And(terms) => pending.extend(terms.iter().rev()),
                Expr::Or(alternatives) => pending.extend(alternatives.terms.iter().rev()),
                Expr::Not(inner) => pending.push(inner),
                Expr::Cond(cond) => found.push(cond),
            }
        }
        found
    }

    /// How many and/or/not levels the tree has above its deepest condition.
    pub fn depth(&self) -> usize {
        match self {
            Expr::And(terms) => 1 + terms.iter().map(Expr::depth).max().unwrap_or(0),
            Expr::Or(alternatives) => {
                1 + alternatives.terms.iter().map(Expr::depth).max().unwrap_or(0)
            }
            Expr::Not(inner) => 1 + inner.depth(),
            Expr::Cond(_) => 0,
        }
    }

    /// The side and port of `sport = :N` or `dport = :N`.
    fn plain_port(&self) -> Option<(Side, u16)> {
        match self {
            Expr::Cond(Cond::Host(side, HostCond { prefix: None, port: Some(port) })) => {
                Some((*side, *port))
            }
            _ => None,
        }
    }
}

impl Alternatives {
    /// The terms of an `or`, their port lists made here.
    pub fn new(terms: Vec<Expr>) -> Self {
        let mut index = PortIndex::default();
        for (position, term) in terms.iter().enumerate() {
            match term.plain_port() {
                Some((Side::Local, port)) => index.local.push(port),
                Some((Side::Peer, port)) => index.peer.push(port),
                None => index.others.push(position),
            }
        }
        for ports in [&mut index.local, &mut index.peer] {
            ports.sort_unstable();
            ports.dedup();
        }
        Alternatives { terms, index: Box::new(index) }
    }

    pub fn terms(&self) -> &[Expr] {
        &self.terms
    }

    fn matches(&self, socket: &Socket, extras: &Extras) -> bool {
        self.index.a_port_matches(socket)
            || self
                .index
                .others
                .iter()
                .any(|&position| self.terms[position].matches(socket, extras))
    }
}

impl PortIndex {
    /// Whether one of the plain port conditions holds, as [`Cond::matches`]
    /// would find.
    fn a_port_matches(&self, socket: &Socket) -> bool {
        let Some(ports) = Ports::of(socket) else { return false };
        let found = |list: &[u16], port: i64| {
            u16::try_from(port).is_ok_and(|port| list.binary_search(&port).is_ok())
        };
        found(&self.local, ports.local) || found(&self.peer, ports.peer)
    }
}

/// The port lists and positions follow from the terms.
impl PartialEq for Alternatives {
    fn eq(&self, other: &Self) -> bool {
        self.terms == other.terms
    }
}

impl Eq for Alternatives {}

impl std::fmt::Debug for Alternatives {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(&self.terms).finish()
    }
}

/// What ss's port, device and `autobound` conditions see of a socket of a
/// kind without IP ports, as ss's userspace filter fills them in: a
/// netlink socket's port id as its local port (and -1 as its peer's), a
/// packet socket's interface index as its local port, a vsock socket's
/// ports, an XDP socket's queue.
struct Ports {
    local: i64,
    peer: i64,
    interface: u32,
    autobound: bool,
}

impl Ports {
    /// `None` for inet sockets (they have their own) and UNIX sockets
    /// (which no such condition matches).
    fn of(socket: &Socket) -> Option<Ports> {
        let signed = |port: u32| i64::from(i32::from_ne_bytes(port.to_ne_bytes()));
        Some(match socket {
            Socket::Inet(inet) => Ports {
                local: i64::from(inet.local.port),
                peer: i64::from(inet.peer.port),
                interface: inet.interface_index.unwrap_or(0),
                autobound: false,
            },
            Socket::Netlink(netlink) => Ports {
                local: i64::from(netlink.portid),
                peer: -1,
                interface: 0,
                autobound: netlink.portid < 0,
            },
            Socket::Packet(packet) => {
                let index = packet.interface_index.unwrap_or(0);
                Ports {
                    local: i64::from(index),
                    peer: 0,
                    interface: index,
                    autobound: index == 0 && packet.protocol == 0,
                }
            }
            Socket::Vsock(vsock) => Ports {
                local: signed(vsock.local.port),
                peer: signed(vsock.peer.port),
                interface: 0,
                autobound: signed(vsock.local.port) > 1023,
            },
            Socket::Xdp(xdp) => {
                let queue = i64::from(xdp.queue_id.unwrap_or(0));
                Ports {
                    local: queue,
                    peer: 0,
                    interface: xdp.interface_index.unwrap_or(0),
                    autobound: false,
                }
            }
            Socket::Unix(_) | Socket::Tipc(_) => return None,
        })
    }
}

impl Cond {
    fn matches(&self, socket: &Socket, extras: &Extras) -> bool {
        // Address, port, device and mark conditions speak of inet sockets;
        // ss also tests ports and devices on the kinds [`Ports`] describes.
        let Socket::Inet(socket) = socket else { return self.matches_other_kind(socket, extras) };
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

impl Cond {
    /// ss's userspace test of a condition on a socket without IP
    /// addresses: ports and devices as [`Ports`] gives them; an address
    /// never matches (a family-aware rule, where ss compares the bytes of
    /// whatever the kind stores), nor does a mark or a cgroup.
    fn matches_other_kind(&self, socket: &Socket, extras: &Extras) -> bool {
        let Some(ports) = Ports::of(socket) else { return false };
        let port = |side: &Side| match side {
            Side::Local => ports.local,
            Side::Peer => ports.peer,
        };
        match self {
            Cond::Host(side, HostCond { prefix: None, port: wanted }) => {
                wanted.is_none_or(|wanted| i64::from(wanted) == port(side))
            }
            Cond::Host(_, HostCond { prefix: Some(_), .. }) => false,
            Cond::PortAtLeast(side, wanted) => port(side) >= i64::from(*wanted),
            Cond::PortAtMost(side, wanted) => port(side) <= i64::from(*wanted),
            Cond::Device(index) => ports.interface == *index,
            Cond::Mark { .. } | Cond::Cgroup(_) => false,
            Cond::AutoBound => match socket {
                Socket::Xdp(_) => {
                    let (low, high) = extras.ephemeral_ports;
                    (i64::from(low)..=i64::from(high)).contains(&ports.local)
                }
                _ => ports.autobound,
            },
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
    use crate::model::{
        InetEnd, InetSocket, SocketState, Transport, UnixEnd, UnixFamily, UnixKind, UnixSocket,
    };

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

    fn port(side: Side, port: u16) -> Expr {
        Expr::Cond(Cond::Host(side, HostCond { prefix: None, port: Some(port) }))
    }

    fn inet(local_port: u16, peer_port: u16) -> InetSocket {
        let mut socket = InetSocket::new(Transport::Tcp, IpFamily::Inet, SocketState::Established);
        socket.local = InetEnd::new("127.0.0.1".parse().unwrap(), local_port);
        socket.peer.port = peer_port;
        socket
    }

    fn socket(local_port: u16, peer_port: u16) -> Socket {
        Socket::Inet(inet(local_port, peer_port))
    }

    const EXTRAS: Extras = Extras { ephemeral_ports: (32768, 60999) };

    #[test]
    fn an_or_finds_its_ports_as_a_scan_of_its_terms_would() {
        let alternatives = Alternatives::new(vec![
            port(Side::Local, 80),
            Expr::Cond(Cond::PortAtLeast(Side::Peer, 60000)),
            port(Side::Peer, 22),
            port(Side::Local, 443),
            port(Side::Local, 80),
            Expr::Cond(Cond::Host(Side::Local, host("10.0.0.0", 8, Some(8080)))),
        ]);
        let unix = Socket::Unix(UnixSocket {
            details: Default::default(),
            netid: UnixKind::Stream,
            family: UnixFamily::Unix,
            state: SocketState::Established,
            recv_q: 0,
            send_q: 0,
            local: UnixEnd::default(),
            peer: UnixEnd::default(),
            uid: None,
            inode: Some(80),
            cookie: None,
            netns: None,
            owners: None,
            proc_entry: None,
        });
        let mut in_ten = inet(8080, 1);
        in_ten.local.addr = "10.1.1.1".parse().unwrap();
        let mut sockets = vec![unix, Socket::Inet(in_ten)];
        for (local, peer) in [(80, 1), (443, 1), (7, 22), (7, 1), (7, 60001), (22, 80), (8080, 1)] {
            sockets.push(socket(local, peer));
        }
        for socket in &sockets {
            let scanned = alternatives.terms().iter().any(|term| term.matches(socket, &EXTRAS));
            assert_eq!(alternatives.matches(socket, &EXTRAS), scanned, "{socket:?}");
        }
        let found: Vec<bool> = sockets.iter().map(|s| alternatives.matches(s, &EXTRAS)).collect();
        assert_eq!(found, [false, true, true, true, true, false, true, false, false]);
    }

    #[test]
    fn other_kinds_offer_ss_its_ports_and_devices_never_addresses() {
        use crate::model::{NetlinkSocket, PacketKind, PacketSocket};
        let netlink = Socket::Netlink(NetlinkSocket {
            netid: Default::default(),
            family: Default::default(),
            state: SocketState::Closed,
            recv_q: 0,
            send_q: 0,
            protocol: 0,
            portid: 812,
            portid_process: None,
            peer: None,
            groups: 0,
            inode: Some(1),
            cookie: None,
            skmem: None,
            netns: None,
            owners: None,
        });
        let packet = Socket::Packet(PacketSocket {
            filter: None,
            netid: PacketKind::Raw,
            family: Default::default(),
            state: SocketState::Closed,
            recv_q: 0,
            send_q: 0,
            protocol: 0,
            interface: Some("lo".into()),
            interface_index: Some(1),
            uid: Some(0),
            inode: Some(2),
            cookie: None,
            packet_info: None,
            skmem: None,
            netns: None,
            owners: None,
        });
        let check = |expr: Expr, socket: &Socket, expected: bool| {
            assert_eq!(expr.matches(socket, &EXTRAS), expected, "{expr:?} on {socket:?}");
        };
        check(port(Side::Local, 812), &netlink, true);
        check(Expr::or(vec![port(Side::Local, 1), port(Side::Local, 812)]), &netlink, true);
        check(port(Side::Peer, 0), &netlink, false);
        check(Expr::Cond(Cond::PortAtMost(Side::Peer, 5)), &netlink, true);
        check(port(Side::Local, 1), &packet, true);
        check(port(Side::Peer, 0), &packet, true);
        check(Expr::Cond(Cond::Device(1)), &packet, true);
        check(Expr::Cond(Cond::AutoBound), &packet, false);
        let anywhere = Expr::Cond(Cond::Host(Side::Peer, host("0.0.0.0", 0, None)));
        check(anywhere.clone(), &netlink, false);
        check(Expr::Not(Box::new(anywhere)), &packet, true);
    }

    #[test]
    fn empty_chains_are_true_for_and_false_for_or() {
        assert!(Expr::And(Vec::new()).matches(&socket(1, 2), &EXTRAS));
        assert!(!Expr::or(Vec::new()).matches(&socket(1, 2), &EXTRAS));
    }

    #[test]
    fn conditions_are_listed_in_the_order_written() {
        let expr = Expr::And(vec![
            Expr::or(vec![port(Side::Local, 1), Expr::Not(Box::new(port(Side::Peer, 2)))]),
            port(Side::Local, 3),
        ]);
        let ports: Vec<Option<u16>> = expr
            .conditions()
            .iter()
            .map(|cond| match cond {
                Cond::Host(_, host) => host.port,
                _ => None,
            })
            .collect();
        assert_eq!(ports, [Some(1), Some(2), Some(3)]);
        assert_eq!(expr.depth(), 3);
    }

    #[test]
    fn a_flat_or_of_many_ports_evaluates_lists_and_drops_without_deep_recursion() {
        let expr = std::thread::Builder::new()
            .stack_size(64 * 1024)
            .spawn(|| {
                let terms = (0..200_000u32).map(|i| port(Side::Local, (i % 65_000) as u16 + 1));
                let expr = Expr::or(terms.collect());
                assert!(expr.matches(&socket(64_000, 1), &EXTRAS));
                assert!(!expr.matches(&socket(65_001, 1), &EXTRAS));
                assert_eq!(expr.conditions().len(), 200_000);
                expr.depth()
            })
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(expr, 1);
    }
}
