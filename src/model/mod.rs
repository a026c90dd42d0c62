//! The records every command shares: plain serde types that serialize to
//! the documented JSON schema and read back from it into equal values.
//!
//! A socket is an inet socket ([`InetSocket`]: TCP, UDP, raw, MPTCP), a
//! UNIX socket ([`UnixSocket`]), or one of the kinds in [`kinds`]
//! (netlink, packet, vsock, XDP, TIPC); each carries only the fields its
//! kind has.

pub mod audit;
pub mod bpf;
pub mod details;
pub mod extras;
pub mod firewall;
pub mod key;
pub mod kinds;
pub mod process;
pub mod scan;
pub mod state;
pub mod summary;
pub mod watch;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use details::Details;
pub use extras::{InetExtras, InetSockopt};
pub use key::{Instance, ListenerKey, NetnsKey};
pub use kinds::{
    NetlinkFamily, NetlinkNetid, NetlinkPeer, NetlinkSocket, PacketFamily, PacketFanout,
    PacketInfo, PacketKind, PacketRing, PacketSocket, TipcEnd, TipcFamily, TipcKind, TipcSocket,
    VsockEnd, VsockFamily, VsockKind, VsockSocket, XdpFamily, XdpNetid, XdpSocket,
};
pub use process::{Container, Holder, Ownership, Process, Text, Thread};
pub use state::{SocketState, StateSet};

/// The kinds of socket portwatch lists, named as ss's Netid column names them
/// (and as ss's `-A` calls its socket tables).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Netid {
    Tcp,
    Udp,
    /// Raw IP sockets; their "port" is the IP protocol number.
    Raw,
    #[serde(rename = "u_str")]
    UnixStream,
    #[serde(rename = "u_dgr")]
    UnixDgram,
    #[serde(rename = "u_seq")]
    UnixSeqpacket,
    #[serde(rename = "nl")]
    Netlink,
    #[serde(rename = "p_raw")]
    PacketRaw,
    #[serde(rename = "p_dgr")]
    PacketDgram,
    Mptcp,
    Dccp,
    Sctp,
    #[serde(rename = "v_str")]
    VsockStream,
    #[serde(rename = "v_dgr")]
    VsockDgram,
    Tipc,
    Xdp,
}

impl Netid {
    /// ss's display order: netlink, packet, UNIX, raw, UDP, TCP, DCCP,
    /// SCTP, vsock, TIPC, XDP, then MPTCP.
    pub const SS_ORDER: [Netid; 16] = [
        Netid::Netlink,
        Netid::PacketRaw,
        Netid::PacketDgram,
        Netid::UnixStream,
        Netid::UnixDgram,
        Netid::UnixSeqpacket,
        Netid::Raw,
        Netid::Udp,
        Netid::Tcp,
        Netid::Dccp,
        Netid::Sctp,
        Netid::VsockStream,
        Netid::VsockDgram,
        Netid::Tipc,
        Netid::Xdp,
        Netid::Mptcp,
    ];

    pub const UNIX: [Netid; 3] = [Netid::UnixStream, Netid::UnixDgram, Netid::UnixSeqpacket];
    pub const PACKET: [Netid; 2] = [Netid::PacketRaw, Netid::PacketDgram];
    pub const VSOCK: [Netid; 2] = [Netid::VsockStream, Netid::VsockDgram];

    pub fn as_str(self) -> &'static str {
        match self {
            Netid::Tcp => "tcp",
            Netid::Udp => "udp",
            Netid::Raw => "raw",
            Netid::UnixStream => "u_str",
            Netid::UnixDgram => "u_dgr",
            Netid::UnixSeqpacket => "u_seq",
            Netid::Netlink => "nl",
            Netid::PacketRaw => "p_raw",
            Netid::PacketDgram => "p_dgr",
            Netid::Mptcp => "mptcp",
            Netid::Dccp => "dccp",
            Netid::Sctp => "sctp",
            Netid::VsockStream => "v_str",
            Netid::VsockDgram => "v_dgr",
            Netid::Tipc => "tipc",
            Netid::Xdp => "xdp",
        }
    }

    pub fn is_unix(self) -> bool {
        Netid::UNIX.contains(&self)
    }

    /// The kind whose dump lists this kind too: one sock_diag dump lists
    /// every UNIX type, both packet types, both vsock types.
    pub fn dump_leader(self) -> Netid {
        match self {
            Netid::UnixStream | Netid::UnixDgram | Netid::UnixSeqpacket => Netid::UnixStream,
            Netid::PacketRaw | Netid::PacketDgram => Netid::PacketRaw,
            Netid::VsockStream | Netid::VsockDgram => Netid::VsockStream,
            other => other,
        }
    }

    /// The inet transport of this kind; `None` for the kinds that are not
    /// inet sockets.
    pub fn transport(self) -> Option<Transport> {
        match self {
            Netid::Tcp => Some(Transport::Tcp),
            Netid::Udp => Some(Transport::Udp),
            Netid::Raw => Some(Transport::Raw),
            Netid::Mptcp => Some(Transport::Mptcp),
            Netid::Dccp => Some(Transport::Dccp),
            Netid::Sctp => Some(Transport::Sctp),
            Netid::UnixStream
            | Netid::UnixDgram
            | Netid::UnixSeqpacket
            | Netid::Netlink
            | Netid::PacketRaw
            | Netid::PacketDgram
            | Netid::VsockStream
            | Netid::VsockDgram
            | Netid::Tipc
            | Netid::Xdp => None,
        }
    }
}

/// The transport of an inet socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    Tcp,
    Udp,
    Raw,
    /// Multipath TCP (IPPROTO_MPTCP, 262): the connection over its subflows.
    Mptcp,
    Dccp,
    Sctp,
}

impl Transport {
    pub fn netid(self) -> Netid {
        match self {
            Transport::Tcp => Netid::Tcp,
            Transport::Udp => Netid::Udp,
            Transport::Raw => Netid::Raw,
            Transport::Mptcp => Netid::Mptcp,
            Transport::Dccp => Netid::Dccp,
            Transport::Sctp => Netid::Sctp,
        }
    }

    pub fn as_str(self) -> &'static str {
        self.netid().as_str()
    }

    /// The IP protocol number of an inet_diag request's one-byte field
    /// (IPPROTO_RAW for raw sockets; for MPTCP, whose number does not fit
    /// a byte, IPPROTO_TCP beside [`Transport::extended_protocol`]).
    pub fn ip_protocol(self) -> u8 {
        match self {
            Transport::Tcp | Transport::Mptcp => libc::IPPROTO_TCP as u8,
            Transport::Udp => libc::IPPROTO_UDP as u8,
            Transport::Raw => libc::IPPROTO_RAW as u8,
            Transport::Dccp => libc::IPPROTO_DCCP as u8,
            Transport::Sctp => libc::IPPROTO_SCTP as u8,
        }
    }

    /// The protocol number an inet_diag request carries in its
    /// INET_DIAG_REQ_PROTOCOL attribute, for numbers above 255.
    pub fn extended_protocol(self) -> Option<u32> {
        match self {
            Transport::Mptcp => Some(IPPROTO_MPTCP),
            _ => None,
        }
    }

    /// TCP or UDP by IP protocol number (what recordings hold).
    pub fn from_ip_protocol(protocol: u8) -> Option<Transport> {
        match i32::from(protocol) {
            libc::IPPROTO_TCP => Some(Transport::Tcp),
            libc::IPPROTO_UDP => Some(Transport::Udp),
            _ => None,
        }
    }
}

/// IPPROTO_MPTCP.
pub const IPPROTO_MPTCP: u32 = 262;

/// The address family of an inet socket, named as `ss -f` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IpFamily {
    Inet,
    Inet6,
}

impl IpFamily {
    pub const ALL: [IpFamily; 2] = [IpFamily::Inet, IpFamily::Inet6];

    pub fn as_str(self) -> &'static str {
        match self {
            IpFamily::Inet => "inet",
            IpFamily::Inet6 => "inet6",
        }
    }

    pub fn address_family(self) -> u8 {
        match self {
            IpFamily::Inet => libc::AF_INET as u8,
            IpFamily::Inet6 => libc::AF_INET6 as u8,
        }
    }

    pub fn from_address_family(family: u8) -> Option<IpFamily> {
        match i32::from(family) {
            libc::AF_INET => Some(IpFamily::Inet),
            libc::AF_INET6 => Some(IpFamily::Inet6),
            _ => None,
        }
    }
}

/// The type of a UNIX socket, named as ss names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum UnixKind {
    #[serde(rename = "u_str")]
    Stream,
    #[serde(rename = "u_dgr")]
    Dgram,
    #[serde(rename = "u_seq")]
    Seqpacket,
}

impl UnixKind {
    pub fn netid(self) -> Netid {
        match self {
            UnixKind::Stream => Netid::UnixStream,
            UnixKind::Dgram => Netid::UnixDgram,
            UnixKind::Seqpacket => Netid::UnixSeqpacket,
        }
    }

    /// The kind of a SOCK_* type.
    pub fn from_socket_type(kind: u8) -> Option<UnixKind> {
        match i32::from(kind) {
            libc::SOCK_STREAM => Some(UnixKind::Stream),
            libc::SOCK_DGRAM => Some(UnixKind::Dgram),
            libc::SOCK_SEQPACKET => Some(UnixKind::Seqpacket),
            _ => None,
        }
    }
}

/// The `family` of every UNIX socket: `"unix"`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnixFamily {
    #[default]
    Unix,
}

/// IANA's port ranges: well-known (0-1023), registered (1024-49151) and
/// dynamic (49152-65535).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PortCategory {
    WellKnown,
    Registered,
    Dynamic,
}

impl PortCategory {
    /// The category of a port; `None` for port 0 (any).
    pub fn of(port: u16) -> Option<PortCategory> {
        match port {
            0 => None,
            1..=1023 => Some(PortCategory::WellKnown),
            1024..=49151 => Some(PortCategory::Registered),
            _ => Some(PortCategory::Dynamic),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PortCategory::WellKnown => "well-known",
            PortCategory::Registered => "registered",
            PortCategory::Dynamic => "dynamic",
        }
    }
}

/// One end of an inet socket. Port 0 and an unspecified address mean "any",
/// which ss prints as `*`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct InetEnd {
    pub addr: IpAddr,
    pub port: u16,
    /// The port's /etc/services name for this protocol, when looked up.
    #[serde(default)]
    pub service: Option<Arc<str>>,
    /// With `-r` only: the resolver's name for the address (`Some(None)`:
    /// asked, no name).
    #[serde(default, deserialize_with = "present")]
    pub host: Option<Option<String>>,
}

impl InetEnd {
    pub fn new(addr: IpAddr, port: u16) -> InetEnd {
        InetEnd { addr, port, service: None, host: None }
    }

    /// An unbound end: 0.0.0.0, port 0.
    pub fn any() -> InetEnd {
        InetEnd::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0)
    }

    pub fn category(&self) -> Option<PortCategory> {
        PortCategory::of(self.port)
    }
}

impl Serialize for InetEnd {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let fields = if self.host.is_some() { 5 } else { 4 };
        let mut end = serializer.serialize_struct("InetEnd", fields)?;
        end.serialize_field("addr", &self.addr)?;
        end.serialize_field("port", &self.port)?;
        end.serialize_field("service", &self.service)?;
        end.serialize_field("category", &self.category())?;
        if let Some(host) = &self.host {
            end.serialize_field("host", host)?;
        }
        end.end()
    }
}

/// A key that, when present, holds a value or null: `Some(None)` for null.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(deserializer).map(Some)
}

/// Which network namespace a socket was listed in (`-N`, `--all-netns`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NetnsLabel {
    /// The namespace's inode, as /proc/PID/ns/net names it (`net:[INODE]`).
    pub inode: u64,
    /// Its name under /run/netns, if it has one.
    pub name: Option<String>,
}

/// A TCP, UDP or raw socket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InetSocket {
    pub netid: Transport,
    pub family: IpFamily,
    pub state: SocketState,
    pub recv_q: u32,
    pub send_q: u32,
    pub local: InetEnd,
    pub peer: InetEnd,
    /// Owner uid; `None` where the kernel reports none (TIME-WAIT, SYN-RECV).
    pub uid: Option<u32>,
    /// Socket inode; `None` where no file holds it.
    pub inode: Option<u32>,
    /// The kernel's socket cookie; `None` where the source has none (/proc).
    pub cookie: Option<u64>,
    /// The name of the interface the socket is bound to (`if<N>` in a replay).
    pub interface: Option<String>,
    /// IPV6_V6ONLY of an inet6 socket; `None` for inet or when unreported.
    pub v6only: Option<bool>,
    /// The index of that interface.
    #[serde(default)]
    pub interface_index: Option<u32>,
    /// SO_MARK, which the kernel reports to root only.
    #[serde(default)]
    pub mark: Option<u32>,
    /// The cgroup v2 id of the socket's creator, where the kernel reports it.
    #[serde(default)]
    pub cgroup_id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub netns: Option<Arc<NetnsLabel>>,
    /// Timer, memory and tcp_info, with `-o`, `-m`, `-i`.
    #[serde(flatten)]
    pub details: Details,
    /// With `--tos`, `--cgroup`, `--inet-sockopt`.
    #[serde(flatten)]
    pub extras: InetExtras,
    /// With `-p`: who holds the socket.
    #[serde(flatten)]
    pub owners: Option<Ownership>,
    /// With `list --show-firewall`, for a listener: what the live ruleset
    /// does to a new connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firewall: Option<Box<firewall::FirewallExposure>>,
}

impl InetSocket {
    /// A socket with nothing known but its kind and state: wildcard ends,
    /// empty queues, no owner, inode, cookie, interface or extras.
    pub fn new(netid: Transport, family: IpFamily, state: SocketState) -> InetSocket {
        InetSocket {
            netid,
            family,
            state,
            recv_q: 0,
            send_q: 0,
            local: InetEnd::any(),
            peer: InetEnd::any(),
            uid: None,
            inode: None,
            cookie: None,
            interface: None,
            v6only: None,
            interface_index: None,
            mark: None,
            cgroup_id: None,
            netns: None,
            details: Details::default(),
            extras: InetExtras::default(),
            owners: None,
            firewall: None,
        }
    }

    /// An inet6 socket that also accepts IPv4 (ss prints its wildcard as `*`).
    pub fn is_dual_stack(&self) -> bool {
        self.family == IpFamily::Inet6 && self.v6only != Some(true)
    }

    /// What names this listener across restarts (see [`ListenerKey`]).
    pub fn listener_key(&self) -> ListenerKey {
        ListenerKey::of(self)
    }
}

/// A UNIX socket's end: its path (`@name` for an abstract name, `None` when
/// unbound) and inode (for the peer: the connected socket's inode).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnixEnd {
    pub path: Option<String>,
    pub inode: Option<u32>,
}

/// A UNIX stream, datagram or seqpacket socket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnixSocket {
    pub netid: UnixKind,
    #[serde(default)]
    pub family: UnixFamily,
    pub state: SocketState,
    pub recv_q: u32,
    pub send_q: u32,
    pub local: UnixEnd,
    pub peer: UnixEnd,
    pub uid: Option<u32>,
    pub inode: Option<u32>,
    pub cookie: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub netns: Option<Arc<NetnsLabel>>,
    #[serde(flatten)]
    pub owners: Option<Ownership>,
    /// Memory, shutdown, bound file and pending peers, with `-m` and `-e`.
    #[serde(flatten)]
    pub details: details::UnixDetails,
    /// What /proc/net/unix adds, read only for netstat's UNIX table (never
    /// in JSON: no other output asks for it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proc_entry: Option<UnixProcEntry>,
}

/// A UNIX socket's line of /proc/net/unix, for what sock_diag does not say.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnixProcEntry {
    /// The kernel's references to the socket (netstat's RefCnt).
    pub refcount: u32,
    /// The Flags field: `__SO_ACCEPTCON` (1 << 16) on a listener.
    pub flags: u32,
    /// The St field: the state of the socket file (`SS_UNCONNECTED` 1,
    /// `SS_CONNECTING` 2, `SS_CONNECTED` 3, `SS_DISCONNECTING` 4): what
    /// netstat's State shows. For datagram sockets it does not follow the
    /// sock_diag state the same way on every kernel version.
    pub socket_state: u8,
}

/// A socket of any kind.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Socket {
    Inet(InetSocket),
    Unix(UnixSocket),
    Netlink(NetlinkSocket),
    Packet(PacketSocket),
    Vsock(VsockSocket),
    Xdp(XdpSocket),
    Tipc(TipcSocket),
}

impl<'de> Deserialize<'de> for Socket {
    /// Reads a row of the JSON listing, its kind told by `family`.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let row = serde_json::Value::deserialize(deserializer)?;
        let socket = match row.get("family").and_then(serde_json::Value::as_str) {
            Some("unix") => UnixSocket::deserialize(row).map(Socket::Unix),
            Some("inet" | "inet6") => InetSocket::deserialize(row).map(Socket::Inet),
            Some("netlink") => NetlinkSocket::deserialize(row).map(Socket::Netlink),
            Some("packet") => PacketSocket::deserialize(row).map(Socket::Packet),
            Some("vsock") => VsockSocket::deserialize(row).map(Socket::Vsock),
            Some("xdp") => XdpSocket::deserialize(row).map(Socket::Xdp),
            Some("tipc") => TipcSocket::deserialize(row).map(Socket::Tipc),
            Some(other) => return Err(D::Error::custom(format!("unknown family '{other}'"))),
            None => return Err(D::Error::custom("a socket needs a 'family'")),
        };
        socket.map_err(D::Error::custom)
    }
}

/// Evaluates `$body` with `$socket` bound to the record inside any kind of
/// socket: for the fields every kind has.
macro_rules! each_kind {
    ($value:expr, $socket:ident => $body:expr) => {
        match $value {
            Socket::Inet($socket) => $body,
            Socket::Unix($socket) => $body,
            Socket::Netlink($socket) => $body,
            Socket::Packet($socket) => $body,
            Socket::Vsock($socket) => $body,
            Socket::Xdp($socket) => $body,
            Socket::Tipc($socket) => $body,
        }
    };
}

impl Socket {
    /// The kind, as ss's `-A` names the table that lists it.
    pub fn netid(&self) -> Netid {
        match self {
            Socket::Inet(socket) => socket.netid.netid(),
            Socket::Unix(socket) => socket.netid.netid(),
            Socket::Netlink(_) => Netid::Netlink,
            Socket::Packet(socket) => match socket.netid {
                PacketKind::Raw => Netid::PacketRaw,
                PacketKind::Dgram => Netid::PacketDgram,
            },
            // ss lists vsock sockets of other types with its stream table.
            Socket::Vsock(socket) => match socket.netid {
                VsockKind::Dgram => Netid::VsockDgram,
                VsockKind::Stream | VsockKind::Seqpacket => Netid::VsockStream,
            },
            Socket::Xdp(_) => Netid::Xdp,
            Socket::Tipc(_) => Netid::Tipc,
        }
    }

    /// What ss's Netid column prints for the socket: its kind, or for TIPC
    /// sockets their type (`ti_st`, ...).
    pub fn netid_label(&self) -> &'static str {
        match self {
            Socket::Vsock(VsockSocket { netid: VsockKind::Seqpacket, .. }) => "v_seq",
            Socket::Tipc(socket) => match socket.netid {
                TipcKind::Stream => "ti_st",
                TipcKind::Dgram => "ti_dg",
                TipcKind::Rdm => "ti_rd",
                TipcKind::Seqpacket => "ti_sq",
            },
            other => other.netid().as_str(),
        }
    }

    pub fn state(&self) -> SocketState {
        each_kind!(self, socket => socket.state)
    }

    pub fn queues(&self) -> (u32, u32) {
        each_kind!(self, socket => (socket.recv_q, socket.send_q))
    }

    pub fn inode(&self) -> Option<u32> {
        each_kind!(self, socket => socket.inode)
    }

    /// The owner's uid, where the kind's diag module reports it.
    pub fn uid(&self) -> Option<u32> {
        match self {
            Socket::Inet(socket) => socket.uid,
            Socket::Unix(socket) => socket.uid,
            Socket::Packet(socket) => socket.uid,
            Socket::Xdp(socket) => socket.uid,
            Socket::Tipc(socket) => socket.uid,
            Socket::Netlink(_) | Socket::Vsock(_) => None,
        }
    }

    pub fn cookie(&self) -> Option<u64> {
        each_kind!(self, socket => socket.cookie)
    }

    pub fn netns(&self) -> Option<&NetnsLabel> {
        each_kind!(self, socket => socket.netns.as_deref())
    }

    pub fn set_netns(&mut self, label: Option<Arc<NetnsLabel>>) {
        each_kind!(self, socket => socket.netns = label)
    }

    /// Who holds the socket, when owners were looked up (`-p`).
    pub fn owners(&self) -> Option<&Ownership> {
        each_kind!(self, socket => socket.owners.as_ref())
    }

    pub fn set_owners(&mut self, owners: Option<Ownership>) {
        each_kind!(self, socket => socket.owners = owners)
    }

    /// The holders, in pid order; empty when none is known.
    pub fn holders(&self) -> &[Holder] {
        self.owners().map_or(&[], |owners| owners.processes.as_slice())
    }

    pub fn as_inet(&self) -> Option<&InetSocket> {
        match self {
            Socket::Inet(socket) => Some(socket),
            _ => None,
        }
    }

    /// The local port of an inet socket; `None` for other kinds.
    pub fn local_port(&self) -> Option<u16> {
        self.as_inet().map(|socket| socket.local.port)
    }

    /// The index of the interface a socket is bound to (inet, packet and
    /// XDP sockets), for naming it.
    pub fn interface_slot(&mut self) -> Option<(u32, &mut Option<String>)> {
        let (index, name) = match self {
            Socket::Inet(socket) => (socket.interface_index, &mut socket.interface),
            Socket::Packet(socket) => (socket.interface_index, &mut socket.interface),
            Socket::Xdp(socket) => (socket.interface_index, &mut socket.interface),
            _ => return None,
        };
        index.map(|index| (index, name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_categories_follow_iana() {
        assert_eq!(PortCategory::of(0), None);
        assert_eq!(PortCategory::of(1), Some(PortCategory::WellKnown));
        assert_eq!(PortCategory::of(1023), Some(PortCategory::WellKnown));
        assert_eq!(PortCategory::of(1024), Some(PortCategory::Registered));
        assert_eq!(PortCategory::of(49151), Some(PortCategory::Registered));
        assert_eq!(PortCategory::of(49152), Some(PortCategory::Dynamic));
        assert_eq!(PortCategory::of(65535).map(PortCategory::as_str), Some("dynamic"));
    }

    #[test]
    fn kinds_read_back_by_family() {
        let mut inet = InetSocket::new(Transport::Tcp, IpFamily::Inet6, SocketState::Listening);
        inet.local =
            InetEnd { service: Some("ssh".into()), ..InetEnd::new("::".parse().unwrap(), 22) };
        inet.local.host = Some(None);
        let unix = UnixSocket {
            details: Default::default(),
            netid: UnixKind::Dgram,
            family: UnixFamily::Unix,
            state: SocketState::Closed,
            recv_q: 0,
            send_q: 0,
            local: UnixEnd { path: Some("/run/x".into()), inode: Some(7) },
            peer: UnixEnd::default(),
            uid: Some(0),
            inode: Some(7),
            cookie: Some(9),
            netns: None,
            owners: None,
            proc_entry: None,
        };
        for socket in [Socket::Inet(inet), Socket::Unix(unix)] {
            let text = serde_json::to_string(&socket).unwrap();
            assert_eq!(serde_json::from_str::<Socket>(&text).unwrap(), socket, "{text}");
        }
        let error = serde_json::from_str::<Socket>(r#"{"family":"inet7"}"#).unwrap_err();
        assert!(error.to_string().contains("unknown family 'inet7'"), "{error}");
    }

    #[test]
    fn every_other_kind_reads_back_by_family() {
        let mut mptcp = InetSocket::new(Transport::Mptcp, IpFamily::Inet, SocketState::Listening);
        mptcp.local = InetEnd::new("0.0.0.0".parse().unwrap(), 3333);
        let netlink = NetlinkSocket {
            netid: NetlinkNetid::Nl,
            family: NetlinkFamily::Netlink,
            state: SocketState::Closed,
            recv_q: 832,
            send_q: 0,
            protocol: 4,
            portid: -4097,
            portid_process: Some("ss".into()),
            peer: Some(NetlinkPeer { portid: 0, group: 3 }),
            groups: 1,
            inode: Some(9),
            cookie: Some(10),
            skmem: None,
            netns: None,
            owners: None,
        };
        let packet = PacketSocket {
            netid: PacketKind::Dgram,
            family: PacketFamily::Packet,
            state: SocketState::Closed,
            recv_q: 0,
            send_q: 0,
            protocol: 0x86dd,
            interface: Some("lo".into()),
            interface_index: Some(1),
            uid: Some(0),
            inode: Some(11),
            cookie: None,
            filter: None,
            packet_info: Some(PacketInfo {
                version: 2,
                copy_threshold: 0,
                flags: vec!["running".into()],
                rx_ring: Some(PacketRing {
                    block_size: 4096,
                    block_count: 2,
                    frame_size: 2048,
                    frame_count: 4,
                    retire_timeout_ms: 60,
                    features: 0,
                }),
                tx_ring: None,
                fanout: Some(PacketFanout { id: 7, mode: "hash".into() }),
            }),
            skmem: None,
            netns: None,
            owners: None,
        };
        let vsock = VsockSocket {
            netid: VsockKind::Stream,
            family: VsockFamily::Vsock,
            state: SocketState::Listening,
            recv_q: 0,
            send_q: 0,
            local: VsockEnd { cid: VsockEnd::ANY, port: 1024 },
            peer: VsockEnd { cid: VsockEnd::ANY, port: VsockEnd::ANY },
            inode: Some(12),
            cookie: Some(13),
            netns: None,
            owners: None,
        };
        let xdp = XdpSocket {
            netid: XdpNetid::Xdp,
            family: XdpFamily::Xdp,
            state: SocketState::Closed,
            recv_q: 0,
            send_q: 0,
            interface: Some("eth0".into()),
            interface_index: Some(2),
            queue_id: Some(0),
            uid: Some(0),
            inode: Some(14),
            cookie: Some(15),
            netns: None,
            owners: None,
        };
        let tipc = TipcSocket {
            tipc_info: None,
            netid: TipcKind::Rdm,
            family: TipcFamily::Tipc,
            state: SocketState::Closed,
            recv_q: 0,
            send_q: 0,
            local: TipcEnd { node: 1, reference: 2 },
            peer: None,
            uid: Some(0),
            inode: Some(16),
            cookie: Some(17),
            netns: None,
            owners: None,
        };
        let sockets = [
            Socket::Inet(mptcp),
            Socket::Netlink(netlink),
            Socket::Packet(packet),
            Socket::Vsock(vsock),
            Socket::Xdp(xdp),
            Socket::Tipc(tipc),
        ];
        let labels: Vec<&str> = sockets.iter().map(Socket::netid_label).collect();
        assert_eq!(labels, ["mptcp", "nl", "p_dgr", "v_str", "xdp", "ti_rd"]);
        for socket in sockets {
            let text = serde_json::to_string(&socket).unwrap();
            assert_eq!(serde_json::from_str::<Socket>(&text).unwrap(), socket, "{text}");
        }
    }
}
