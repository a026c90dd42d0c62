//! How ss prints the kinds beyond inet and UNIX: the four address cells
//! (local address with its `:`, local port, peer address, peer port) and
//! what `-e` and `-m` add, for netlink, packet, vsock, XDP and TIPC sockets.

use std::fmt::Write as _;

use super::details::skmem_text;
use super::escape;
use crate::model::TipcKind;
use crate::model::kinds::{TipcInfo, ethertype_name};
use crate::model::{
    NetlinkSocket, PacketInfo, PacketRing, PacketSocket, Socket, TipcSocket, VsockEnd, VsockSocket,
    XdpSocket,
};

/// ETH_P_ALL, which ss prints as `*`.
const ETH_P_ALL: u16 = 3;

/// Hands the four address cells of a socket of one of these kinds to
/// `push`, left to right; nothing for inet and UNIX sockets.
pub fn push_local_and_peer(socket: &Socket, numeric: bool, push: &mut dyn FnMut(String)) {
    let cells = match socket {
        Socket::Netlink(netlink) => netlink_cells(netlink, numeric),
        Socket::Packet(packet) => packet_cells(packet, numeric),
        Socket::Vsock(vsock) => vsock_cells(vsock),
        Socket::Xdp(xdp) => xdp_cells(xdp),
        Socket::Tipc(tipc) => tipc_cells(tipc),
        Socket::Inet(_) | Socket::Unix(_) => return,
    };
    cells.into_iter().for_each(push);
}

/// ss's `*` with no port: the peer of a socket that has none.
fn no_peer() -> [String; 2] {
    ["*".to_owned(), String::new()]
}

/// `rtnl:kernel`, `rtnl:NAME/PID`, `genl:PID`, numeric `0:PID`; the peer
/// `GROUP:PORTID` when connected, else `*`.
fn netlink_cells(socket: &NetlinkSocket, numeric: bool) -> [String; 4] {
    let protocol = match socket.protocol_name() {
        Some(name) if !numeric => format!("{name}:"),
        _ => format!("{}:", socket.protocol),
    };
    let port = match (socket.portid, socket.portid_process.as_deref()) {
        (-1, _) => "*".to_owned(),
        (_, _) if numeric => socket.portid.to_string(),
        (0, _) => "kernel".to_owned(),
        (pid, Some(name)) if pid > 0 => format!("{}/{pid}", escape::for_terminal(name)),
        (pid, _) => pid.to_string(),
    };
    let [peer, peer_port] = match socket.peer {
        Some(peer) => [format!("{}:", peer.group), peer.portid.to_string()],
        None => no_peer(),
    };
    [protocol, port, peer, peer_port]
}

/// `*:*` (every protocol, no interface), `ip:eth0`, numeric `[2048]:eth0`,
/// `[0]:*`; the peer `*`.
fn packet_cells(socket: &PacketSocket, numeric: bool) -> [String; 4] {
    let protocol = match (socket.protocol, ethertype_name(socket.protocol)) {
        (ETH_P_ALL, _) => "*:".to_owned(),
        (_, Some(name)) if !numeric => format!("{name}:"),
        (number, _) => format!("[{number}]:"),
    };
    let interface = match (&socket.interface, socket.interface_index) {
        (Some(name), _) => escape::for_terminal(name).into_owned(),
        (None, Some(index)) => format!("if{index}"),
        (None, None) => "*".to_owned(),
    };
    let [peer, peer_port] = no_peer();
    [protocol, interface, peer, peer_port]
}

/// `CID:PORT` at both ends, `*` for any.
fn vsock_cells(socket: &VsockSocket) -> [String; 4] {
    let number = |value: u32| match value {
        VsockEnd::ANY => "*".to_owned(),
        value => value.to_string(),
    };
    let end = |end: &VsockEnd| [format!("{}:", number(end.cid)), number(end.port)];
    let [local, local_port] = end(&socket.local);
    let [peer, peer_port] = end(&socket.peer);
    [local, local_port, peer, peer_port]
}

/// `eth0:q0` (interface and queue), `*` before `bind`; the peer `*`.
fn xdp_cells(socket: &XdpSocket) -> [String; 4] {
    let [local, local_port] = match (&socket.interface, socket.interface_index) {
        (name, Some(index)) => {
            let name = name.as_deref().map_or_else(|| format!("if{index}"), str::to_owned);
            let queue = socket.queue_id.unwrap_or(0);
            [format!("{}:", escape::for_terminal(&name)), format!("q{queue}")]
        }
        (_, None) => no_peer(),
    };
    let [peer, peer_port] = no_peer();
    [local, local_port, peer, peer_port]
}

/// `NODE:REF`; the peer's, or `-` when unconnected.
fn tipc_cells(socket: &TipcSocket) -> [String; 4] {
    let [peer, peer_port] = match socket.peer {
        Some(peer) => [format!("{}:", peer.node), peer.reference.to_string()],
        None => ["-".to_owned(), String::new()],
    };
    [format!("{}:", socket.local.node), socket.local.reference.to_string(), peer, peer_port]
}

/// What ss's `-e` prints after the addresses of these kinds; `None` for
/// the others. Netlink: `sk=0 cb=0 groups=0x00000000` (netlink_diag reports
/// no kernel address). Packet, XDP and TIPC: `uid:` (unless 0), `ino:`,
/// `sk:`, then for packet sockets their settings on lines of their own.
pub fn extended_text(socket: &Socket, oneline: bool) -> Option<String> {
    let mut text = String::new();
    match socket {
        Socket::Netlink(netlink) => {
            let _ = write!(text, "sk=0 cb=0 groups=0x{:08x}", netlink.groups);
        }
        Socket::Packet(packet) => {
            push_socket_ids(&mut text, socket);
            if let Some(info) = &packet.packet_info {
                push_packet_info(&mut text, info, oneline);
            }
        }
        Socket::Xdp(_) | Socket::Tipc(_) => push_socket_ids(&mut text, socket),
        Socket::Inet(_) | Socket::Unix(_) | Socket::Vsock(_) => return None,
    }
    Some(text)
}

/// ss's `uid:N ino:N sk:HEX` (uid only when not 0).
fn push_socket_ids(text: &mut String, socket: &Socket) {
    if let Some(uid) = socket.uid().filter(|uid| *uid != 0) {
        let _ = write!(text, "uid:{uid} ");
    }
    let _ =
        write!(text, "ino:{} sk:{:x}", socket.inode().unwrap_or(0), socket.cookie().unwrap_or(0));
}

/// `ver:0 cpy_thresh:0 flags( running )`, rings and fanout, each on a
/// tab-indented line of its own unless `oneline`.
fn push_packet_info(text: &mut String, info: &PacketInfo, oneline: bool) {
    let break_line = if oneline { " " } else { "\n\t" };
    let _ =
        write!(text, "{break_line}ver:{} cpy_thresh:{} flags( ", info.version, info.copy_threshold);
    // As ss: `running` first with no blank before it, every other flag
    // after a blank of its own (`flags(  auxdata )` without running).
    for flag in &info.flags {
        if flag != "running" {
            text.push(' ');
        }
        text.push_str(flag);
    }
    if info.flags.is_empty() {
        text.push('0');
    }
    text.push_str(" )");
    for (name, ring) in [("ring_rx", &info.rx_ring), ("ring_tx", &info.tx_ring)] {
        if let Some(ring) = ring {
            let _ = write!(text, "{break_line}{name}(");
            push_ring(text, ring);
            text.push(')');
        }
    }
    if let Some(fanout) = &info.fanout {
        let _ = write!(text, "{break_line}fanout(id:{},type:{})", fanout.id, fanout.mode);
    }
}

fn push_ring(text: &mut String, ring: &PacketRing) {
    let _ = write!(
        text,
        "blk_size:{},blk_nr:{},frm_size:{},frm_nr:{},tmo:{},features:0x{:x}",
        ring.block_size,
        ring.block_count,
        ring.frame_size,
        ring.frame_count,
        ring.retire_timeout_ms,
        ring.features
    );
}

/// What ss's `-m` appends for netlink and packet sockets: ` skmem:(...)`,
/// after a tab for netlink sockets, as ss does.
pub fn memory_text(socket: &Socket) -> Option<String> {
    match socket {
        Socket::Netlink(netlink) => {
            netlink.skmem.as_ref().map(|memory| format!("\t {}", skmem_text(memory)))
        }
        Socket::Packet(packet) => {
            packet.skmem.as_ref().map(|memory| format!(" {}", skmem_text(memory)))
        }
        _ => None,
    }
}

/// `--tipcinfo`'s words, as ss prints them (its doubled blanks included):
/// on a line of its own unless `oneline`.
pub fn push_tipc_info(cell: &mut String, kind: TipcKind, info: &TipcInfo, oneline: bool) {
    let type_name = match kind {
        TipcKind::Stream => "STREAM",
        TipcKind::Dgram => "DGRAM",
        TipcKind::Rdm => "RDM",
        TipcKind::Seqpacket => "SEQPACKET",
    };
    let start = if oneline { " " } else { "\n " };
    let _ = write!(cell, "{start}type:{type_name} cong:{}  drop:{} ", info.congestion, info.drops);
    if info.published {
        cell.push_str(" publ");
    }
    if let Some([kind, instance]) = info.via {
        let _ = write!(cell, " via {{{kind},{instance}}} ");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tipc_info_reads_as_in_ss() {
        let info =
            TipcInfo { congestion: "none".into(), drops: 3, published: true, via: Some([1000, 7]) };
        let mut cell = String::new();
        push_tipc_info(&mut cell, TipcKind::Rdm, &info, false);
        assert_eq!(cell, "\n type:RDM cong:none  drop:3  publ via {1000,7} ");
        let mut cell = String::new();
        let quiet = TipcInfo { published: false, via: None, ..info };
        push_tipc_info(&mut cell, TipcKind::Stream, &quiet, true);
        assert_eq!(cell, " type:STREAM cong:none  drop:3 ");
    }
    use crate::model::{NetlinkPeer, PacketKind, SocketState};

    fn netlink(protocol: u8, portid: i32, process: Option<&str>) -> NetlinkSocket {
        NetlinkSocket {
            netid: Default::default(),
            family: Default::default(),
            state: SocketState::Closed,
            recv_q: 0,
            send_q: 0,
            protocol,
            portid,
            portid_process: process.map(str::to_owned),
            peer: None,
            groups: 0,
            inode: Some(5),
            cookie: Some(7),
            skmem: None,
            netns: None,
            owners: None,
        }
    }

    #[test]
    fn netlink_addresses_read_as_ss_prints_them() {
        assert_eq!(netlink_cells(&netlink(0, 0, None), false), ["rtnl:", "kernel", "*", ""]);
        assert_eq!(netlink_cells(&netlink(0, 0, None), true), ["0:", "0", "*", ""]);
        let named = netlink(4, 812, Some("ss"));
        assert_eq!(netlink_cells(&named, false)[..2], ["tcpdiag:", "ss/812"]);
        assert_eq!(netlink_cells(&netlink(17, -4097, None), false)[..2], ["17:", "-4097"]);
        let mut connected = netlink(16, 9, None);
        connected.peer = Some(NetlinkPeer { portid: 0, group: 3 });
        assert_eq!(netlink_cells(&connected, false), ["genl:", "9", "3:", "0"]);
    }

    fn packet(protocol: u16, interface: Option<(u32, &str)>) -> PacketSocket {
        PacketSocket {
            filter: None,
            netid: PacketKind::Raw,
            family: Default::default(),
            state: SocketState::Closed,
            recv_q: 0,
            send_q: 0,
            protocol,
            interface: interface.map(|(_, name)| name.to_owned()),
            interface_index: interface.map(|(index, _)| index),
            uid: Some(0),
            inode: Some(3),
            cookie: Some(0x1a),
            packet_info: None,
            skmem: None,
            netns: None,
            owners: None,
        }
    }

    #[test]
    fn packet_addresses_read_as_ss_prints_them() {
        assert_eq!(packet_cells(&packet(3, None), false)[..2], ["*:", "*"]);
        assert_eq!(packet_cells(&packet(0x800, None), false)[..2], ["ip:", "*"]);
        assert_eq!(packet_cells(&packet(0x800, None), true)[..2], ["[2048]:", "*"]);
        assert_eq!(packet_cells(&packet(0, None), false)[..2], ["[0]:", "*"]);
        assert_eq!(packet_cells(&packet(0x86dd, Some((1, "lo"))), false)[..2], ["ipv6:", "lo"]);
        assert_eq!(packet_cells(&packet(0x9999, None), false)[..2], ["[39321]:", "*"]);
    }

    #[test]
    fn packet_extended_text_follows_ss() {
        let mut socket = packet(3, None);
        socket.packet_info = Some(PacketInfo {
            version: 0,
            copy_threshold: 0,
            flags: vec!["running".into()],
            rx_ring: None,
            tx_ring: None,
            fanout: None,
        });
        let text = extended_text(&Socket::Packet(socket.clone()), false).unwrap();
        assert_eq!(text, "ino:3 sk:1a\n\tver:0 cpy_thresh:0 flags( running )");
        let info = socket.packet_info.as_mut().unwrap();
        info.flags = vec!["running".into(), "auxdata".into()];
        let text = extended_text(&Socket::Packet(socket.clone()), true).unwrap();
        assert!(text.ends_with(" flags( running auxdata )"), "{text}");
        socket.packet_info.as_mut().unwrap().flags = vec!["auxdata".into(), "loss".into()];
        let text = extended_text(&Socket::Packet(socket.clone()), true).unwrap();
        assert!(text.ends_with(" flags(  auxdata loss )"), "{text}");
        socket.packet_info.as_mut().unwrap().flags.clear();
        let text = extended_text(&Socket::Packet(socket), true).unwrap();
        assert!(text.ends_with(" flags( 0 )"), "{text}");
    }
}
