//! The socket kinds beyond inet and UNIX that ss lists: netlink, packet
//! (AF_PACKET), vsock, XDP and TIPC sockets, each with the fields its
//! sock_diag module reports.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::details::SkMem;
use super::{NetnsLabel, Ownership, SocketState};

/// The `netid` of every netlink socket: `"nl"`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum NetlinkNetid {
    #[default]
    #[serde(rename = "nl")]
    Nl,
}

/// The `family` of every netlink socket: `"netlink"`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetlinkFamily {
    #[default]
    Netlink,
}

/// A netlink socket (netlink_diag).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetlinkSocket {
    #[serde(default)]
    pub netid: NetlinkNetid,
    #[serde(default)]
    pub family: NetlinkFamily,
    /// Always `closed` (ss's UNCONN): netlink sockets have no connection state.
    pub state: SocketState,
    pub recv_q: u32,
    pub send_q: u32,
    /// The netlink protocol (`NETLINK_ROUTE` 0, `NETLINK_SOCK_DIAG` 4, ...).
    pub protocol: u8,
    /// The port id: 0 for the kernel, usually the pid of the process that
    /// bound it; negative when the kernel chose one.
    pub portid: i32,
    /// The command name of the process whose pid is the port id, as ss
    /// shows it (`rtnl:NAME/PID`); looked up unless `-n`.
    #[serde(default)]
    pub portid_process: Option<String>,
    /// The connected peer's port id and group; `None` when unconnected.
    pub peer: Option<NetlinkPeer>,
    /// The multicast groups 1-32 the socket joined, as a bit mask.
    pub groups: u32,
    pub inode: Option<u32>,
    pub cookie: Option<u64>,
    /// With `-m`: its memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skmem: Option<SkMem>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub netns: Option<Arc<NetnsLabel>>,
    #[serde(flatten)]
    pub owners: Option<Ownership>,
}

/// Where a connected netlink socket sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetlinkPeer {
    pub portid: i32,
    pub group: u32,
}

impl NetlinkSocket {
    /// ss's name for the protocol (`rtnl`, `tcpdiag`, ...), when it has one.
    pub fn protocol_name(&self) -> Option<&'static str> {
        netlink_protocol_name(self.protocol)
    }
}

/// iproute2's names for netlink protocols (its `nl_protos` table).
pub fn netlink_protocol_name(protocol: u8) -> Option<&'static str> {
    Some(match protocol {
        0 => "rtnl",
        1 => "unused",
        2 => "usersock",
        3 => "fw",
        4 => "tcpdiag",
        5 => "nflog",
        6 => "xfrm",
        7 => "selinux",
        8 => "iscsi",
        9 => "audit",
        10 => "fiblookup",
        11 => "connector",
        12 => "nft",
        13 => "ip6fw",
        14 => "dec-rt",
        15 => "uevent",
        16 => "genl",
        18 => "scsi-trans",
        19 => "ecryptfs",
        20 => "rdma",
        21 => "crypto",
        _ => return None,
    })
}

/// The type of a packet socket, named as ss names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PacketKind {
    /// SOCK_RAW: frames with their link-layer header.
    #[serde(rename = "p_raw")]
    Raw,
    /// SOCK_DGRAM: frames without it.
    #[serde(rename = "p_dgr")]
    Dgram,
}

impl PacketKind {
    pub fn from_socket_type(kind: u8) -> Option<PacketKind> {
        match i32::from(kind) {
            libc::SOCK_RAW => Some(PacketKind::Raw),
            libc::SOCK_DGRAM => Some(PacketKind::Dgram),
            _ => None,
        }
    }
}

/// The `family` of every packet socket: `"packet"`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PacketFamily {
    #[default]
    Packet,
}

/// An AF_PACKET socket (packet_diag).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PacketSocket {
    pub netid: PacketKind,
    #[serde(default)]
    pub family: PacketFamily,
    /// Always `closed` (ss's UNCONN).
    pub state: SocketState,
    pub recv_q: u32,
    pub send_q: u32,
    /// The EtherType it receives (`ETH_P_IP` 2048, `ETH_P_ALL` 3; 0: none).
    pub protocol: u16,
    /// The interface it is bound to (`if<N>` in another namespace's view).
    pub interface: Option<String>,
    pub interface_index: Option<u32>,
    pub uid: Option<u32>,
    pub inode: Option<u32>,
    pub cookie: Option<u64>,
    /// What ss's `-e` shows: version, copy threshold, flags, rings, fanout.
    pub packet_info: Option<PacketInfo>,
    /// With `-m`: its memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skmem: Option<SkMem>,
    /// The classic BPF program attached (SO_ATTACH_FILTER), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<Vec<crate::model::bpf::BpfInstruction>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub netns: Option<Arc<NetnsLabel>>,
    #[serde(flatten)]
    pub owners: Option<Ownership>,
}

/// packet_diag_info and the ring and fanout settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PacketInfo {
    /// TPACKET_V1 (0), V2 (1) or V3 (2).
    pub version: u32,
    pub copy_threshold: u32,
    /// Set flags, by name: `running`, `auxdata`, `origdev`, `vnethdr`, `loss`.
    pub flags: Vec<String>,
    pub rx_ring: Option<PacketRing>,
    pub tx_ring: Option<PacketRing>,
    pub fanout: Option<PacketFanout>,
}

/// A PACKET_RX_RING / PACKET_TX_RING configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PacketRing {
    pub block_size: u32,
    pub block_count: u32,
    pub frame_size: u32,
    pub frame_count: u32,
    pub retire_timeout_ms: u32,
    pub features: u32,
}

/// A PACKET_FANOUT group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PacketFanout {
    pub id: u16,
    /// `hash`, `lb`, `cpu`, `roll`, `random`, `qm`, or `0x<N>` for others.
    pub mode: String,
}

/// The type of a vsock socket, named as ss names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum VsockKind {
    #[serde(rename = "v_str")]
    Stream,
    #[serde(rename = "v_dgr")]
    Dgram,
    /// ss prints `???` for these; portwatch names them.
    #[serde(rename = "v_seq")]
    Seqpacket,
}

impl VsockKind {
    pub fn from_socket_type(kind: u8) -> Option<VsockKind> {
        match i32::from(kind) {
            libc::SOCK_STREAM => Some(VsockKind::Stream),
            libc::SOCK_DGRAM => Some(VsockKind::Dgram),
            libc::SOCK_SEQPACKET => Some(VsockKind::Seqpacket),
            _ => None,
        }
    }
}

/// The `family` of every vsock socket: `"vsock"`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VsockFamily {
    #[default]
    Vsock,
}

/// One end of a vsock socket: a context id and a port, each
/// `VMADDR_CID_ANY` / `VMADDR_PORT_ANY` (4294967295) for any.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VsockEnd {
    pub cid: u32,
    pub port: u32,
}

impl VsockEnd {
    pub const ANY: u32 = u32::MAX;
}

/// An AF_VSOCK socket (vsock_diag).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VsockSocket {
    pub netid: VsockKind,
    #[serde(default)]
    pub family: VsockFamily,
    pub state: SocketState,
    /// vsock_diag reports no queues: 0, as ss shows.
    pub recv_q: u32,
    pub send_q: u32,
    pub local: VsockEnd,
    pub peer: VsockEnd,
    pub inode: Option<u32>,
    pub cookie: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub netns: Option<Arc<NetnsLabel>>,
    #[serde(flatten)]
    pub owners: Option<Ownership>,
}

/// The `netid` of every XDP socket: `"xdp"`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum XdpNetid {
    #[default]
    Xdp,
}

/// The `family` of every XDP socket: `"xdp"`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum XdpFamily {
    #[default]
    Xdp,
}

/// An AF_XDP socket (xsk_diag).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct XdpSocket {
    #[serde(default)]
    pub netid: XdpNetid,
    #[serde(default)]
    pub family: XdpFamily,
    /// Always `closed` (ss's UNCONN).
    pub state: SocketState,
    pub recv_q: u32,
    pub send_q: u32,
    /// The interface and queue it is bound to; `None` before `bind`.
    pub interface: Option<String>,
    pub interface_index: Option<u32>,
    pub queue_id: Option<u32>,
    pub uid: Option<u32>,
    pub inode: Option<u32>,
    pub cookie: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub netns: Option<Arc<NetnsLabel>>,
    #[serde(flatten)]
    pub owners: Option<Ownership>,
}

/// The type of a TIPC socket, named as ss names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TipcKind {
    #[serde(rename = "ti_st")]
    Stream,
    #[serde(rename = "ti_dg")]
    Dgram,
    #[serde(rename = "ti_rd")]
    Rdm,
    #[serde(rename = "ti_sq")]
    Seqpacket,
}

impl TipcKind {
    pub fn from_socket_type(kind: u32) -> Option<TipcKind> {
        match i32::try_from(kind).ok()? {
            libc::SOCK_STREAM => Some(TipcKind::Stream),
            libc::SOCK_DGRAM => Some(TipcKind::Dgram),
            libc::SOCK_RDM => Some(TipcKind::Rdm),
            libc::SOCK_SEQPACKET => Some(TipcKind::Seqpacket),
            _ => None,
        }
    }
}

/// The `family` of every TIPC socket: `"tipc"`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TipcFamily {
    #[default]
    Tipc,
}

/// A TIPC address: node and port reference.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TipcEnd {
    pub node: u32,
    #[serde(rename = "ref")]
    pub reference: u32,
}

/// A TIPC socket (tipc_diag).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TipcSocket {
    pub netid: TipcKind,
    #[serde(default)]
    pub family: TipcFamily,
    pub state: SocketState,
    pub recv_q: u32,
    pub send_q: u32,
    pub local: TipcEnd,
    /// The connected peer; `None` when unconnected (ss prints `-`).
    pub peer: Option<TipcEnd>,
    pub uid: Option<u32>,
    pub inode: Option<u32>,
    pub cookie: Option<u64>,
    /// What ss's `--tipcinfo` shows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tipc_info: Option<TipcInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub netns: Option<Arc<NetnsLabel>>,
    #[serde(flatten)]
    pub owners: Option<Ownership>,
}

/// A TIPC socket's congestion, drops, publications and connection name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TipcInfo {
    /// `link`, `conn` or `none`.
    pub congestion: String,
    pub drops: u32,
    /// It has published a service name.
    pub published: bool,
    /// The service name {type, instance} a connection was set up through.
    pub via: Option<[u32; 2]>,
}

/// iproute2's names for EtherTypes (its `ll_proto` table), as ss prints a
/// packet socket's protocol.
pub fn ethertype_name(protocol: u16) -> Option<&'static str> {
    Some(match protocol {
        0x0001 => "802_3",
        0x0002 => "ax25",
        0x0003 => "all",
        0x0004 => "802_2",
        0x0005 => "snap",
        0x0006 => "ddcmp",
        0x0007 => "wan_ppp",
        0x0008 => "ppp_mp",
        0x0009 => "localtalk",
        0x000C => "can",
        0x0010 => "ppptalk",
        0x0011 => "tr_802_2",
        0x0015 => "mobitex",
        0x0016 => "control",
        0x0017 => "irda",
        0x0018 => "econet",
        0x0060 => "loop",
        0x0200 => "pup",
        0x0201 => "pupat",
        0x0800 => "ip",
        0x0805 => "x25",
        0x0806 => "arp",
        0x08FF => "bpq",
        0x0a00 => "ieeepup",
        0x0a01 => "ieeepupat",
        0x6000 => "dec",
        0x6001 => "dna_dl",
        0x6002 => "dna_rc",
        0x6003 => "dna_rt",
        0x6004 => "lat",
        0x6005 => "diag",
        0x6006 => "cust",
        0x6007 => "sca",
        0x6558 => "teb",
        0x8035 => "rarp",
        0x809B => "atalk",
        0x80F3 => "aarp",
        0x8100 => "802.1Q",
        0x8137 => "ipx",
        0x86DD => "ipv6",
        0x8847 => "mpls_uc",
        0x8848 => "mpls_mc",
        0x8863 => "ppp_disc",
        0x8864 => "ppp_ses",
        0x884c => "atmmpoa",
        0x8884 => "atmfate",
        0x88A2 => "aoe",
        0x88A4 => "ethercat",
        0x88A8 => "802.1ad",
        0x88CA => "tipc",
        0x88cc => "LLDP",
        0x8892 => "profinet",
        _ => return None,
    })
}
