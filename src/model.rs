//! Plain data types shared by the sources, the selection and the renderers.
//!
//! `Socket` is what every source produces and every renderer consumes. The
//! JSON view (render/json.rs) maps it to the documented schema.

use std::net::IpAddr;

use serde::Serialize;

use crate::state::SocketState;

/// The transport protocol of a socket, named as ss's Netid column names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Netid {
    Tcp,
    Udp,
    /// Raw IP sockets; their "port" is the IP protocol number.
    Raw,
    /// UNIX sockets, by type, named as ss names them.
    #[serde(rename = "u_str")]
    UnixStream,
    #[serde(rename = "u_dgr")]
    UnixDgram,
    #[serde(rename = "u_seq")]
    UnixSeqpacket,
}

impl Netid {
    /// ss's display order: UNIX, raw, UDP, then TCP.
    pub const SS_ORDER: [Netid; 6] = [
        Netid::UnixStream,
        Netid::UnixDgram,
        Netid::UnixSeqpacket,
        Netid::Raw,
        Netid::Udp,
        Netid::Tcp,
    ];

    pub const UNIX: [Netid; 3] = [Netid::UnixStream, Netid::UnixDgram, Netid::UnixSeqpacket];

    pub fn as_str(self) -> &'static str {
        match self {
            Netid::Tcp => "tcp",
            Netid::Udp => "udp",
            Netid::Raw => "raw",
            Netid::UnixStream => "u_str",
            Netid::UnixDgram => "u_dgr",
            Netid::UnixSeqpacket => "u_seq",
        }
    }

    pub fn is_unix(self) -> bool {
        Netid::UNIX.contains(&self)
    }

    /// The IP protocol of an inet kind; 0 for UNIX sockets.
    pub fn ip_protocol(self) -> u8 {
        match self {
            Netid::Tcp => libc::IPPROTO_TCP as u8,
            Netid::Udp => libc::IPPROTO_UDP as u8,
            Netid::Raw => libc::IPPROTO_RAW as u8,
            Netid::UnixStream | Netid::UnixDgram | Netid::UnixSeqpacket => 0,
        }
    }

    /// The UNIX socket kind of a SOCK_* type.
    pub fn from_unix_type(kind: u8) -> Option<Netid> {
        match i32::from(kind) {
            libc::SOCK_STREAM => Some(Netid::UnixStream),
            libc::SOCK_DGRAM => Some(Netid::UnixDgram),
            libc::SOCK_SEQPACKET => Some(Netid::UnixSeqpacket),
            _ => None,
        }
    }

    pub fn from_ip_protocol(protocol: u8) -> Option<Netid> {
        match i32::from(protocol) {
            libc::IPPROTO_TCP => Some(Netid::Tcp),
            libc::IPPROTO_UDP => Some(Netid::Udp),
            _ => None,
        }
    }
}

/// The address family, named as `ss -f` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    Inet,
    Inet6,
    Unix,
}

impl Family {
    pub const ALL: [Family; 2] = [Family::Inet, Family::Inet6];

    pub fn as_str(self) -> &'static str {
        match self {
            Family::Inet => "inet",
            Family::Inet6 => "inet6",
            Family::Unix => "unix",
        }
    }

    pub fn address_family(self) -> u8 {
        match self {
            Family::Inet => libc::AF_INET as u8,
            Family::Inet6 => libc::AF_INET6 as u8,
            Family::Unix => libc::AF_UNIX as u8,
        }
    }

    pub fn from_address_family(family: u8) -> Option<Family> {
        match i32::from(family) {
            libc::AF_INET => Some(Family::Inet),
            libc::AF_INET6 => Some(Family::Inet6),
            _ => None,
        }
    }
}

/// IANA's port ranges: well-known (0-1023), registered (1024-49151) and
/// dynamic (49152-65535).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
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

/// One end of a socket. Port 0 and an unspecified address mean "any",
/// which ss prints as `*`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub addr: IpAddr,
    pub port: u16,
}

/// Which network namespace a socket was listed in (`-N`, `--all-netns`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NetnsLabel {
    /// The namespace's inode, as /proc/PID/ns/net names it (`net:[INODE]`).
    pub inode: u64,
    /// Its name under /run/netns, if it has one.
    pub name: Option<String>,
}

/// One TCP or UDP socket as the kernel reported it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Socket {
    pub netid: Netid,
    pub family: Family,
    pub state: SocketState,
    pub recv_q: u32,
    pub send_q: u32,
    pub local: Endpoint,
    pub peer: Endpoint,
    /// Owner uid; `None` where the kernel reports none (TIME-WAIT, SYN-RECV).
    pub uid: Option<u32>,
    /// Socket inode; `None` where the kernel reports 0 (no file holds it).
    pub inode: Option<u32>,
    /// The kernel's socket cookie; `None` where the source has none (/proc).
    pub cookie: Option<u64>,
    /// The interface the socket is bound or scoped to.
    pub interface: Option<String>,
    /// Its index; 0 for none.
    pub interface_index: u32,
    /// SO_MARK, which the kernel reports to root only.
    pub mark: Option<u32>,
    /// The cgroup v2 id of the socket's creator, where the kernel reports it.
    pub cgroup_id: Option<u64>,
    /// IPV6_V6ONLY of an inet6 socket; `None` for inet or when unreported.
    pub v6only: Option<bool>,
    /// Set when listing other namespaces than portwatch's own.
    pub netns: Option<std::sync::Arc<NetnsLabel>>,
    /// Timer, memory and tcp_info, with `-o`, `-m`, `-i`.
    pub details: Option<Box<crate::details::Details>>,
    /// A UNIX socket's name and peer; its `local` and `peer` are unused.
    pub unix: Option<Box<UnixEnds>>,
}

/// Where a UNIX socket is bound and what it is connected to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UnixEnds {
    /// The path, or `@name` for an abstract name; `None` when unbound.
    pub name: Option<String>,
    /// The inode of the connected peer socket.
    pub peer_inode: Option<u32>,
}

impl Socket {
    /// A socket with nothing known but its kind and state: wildcard ends,
    /// empty queues, no owner, inode, cookie, interface or extras. Sources
    /// fill in what they know.
    pub fn new(netid: Netid, family: Family, state: SocketState) -> Socket {
        let any = Endpoint { addr: IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), port: 0 };
        Socket {
            netid,
            family,
            state,
            recv_q: 0,
            send_q: 0,
            local: any.clone(),
            peer: any,
            uid: None,
            inode: None,
            cookie: None,
            interface: None,
            interface_index: 0,
            mark: None,
            cgroup_id: None,
            v6only: None,
            netns: None,
            details: None,
            unix: None,
        }
    }

    /// An inet6 wildcard socket that also accepts IPv4, which ss prints as `*`.
    pub fn is_dual_stack(&self) -> bool {
        self.family == Family::Inet6 && self.v6only != Some(true)
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
}
