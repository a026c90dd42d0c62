//! Netlink sockets through netlink_diag (CONFIG_NETLINK_DIAG), which
//! netlink-packet-sock-diag does not cover: requests and replies by hand.

use super::wire::DiagError;
use super::wire::{self, Header};
use crate::model::{NetlinkPeer, NetlinkSocket, SocketState};

/// struct netlink_diag_msg: family, type, protocol, state, portid,
/// dst_portid, dst_group, ino, cookie.
const MSG_LEN: usize = 28;
/// Every protocol (NDIAG_PROTO_ALL).
const ALL_PROTOCOLS: u8 = 0xff;
const NDIAG_SHOW_MEMINFO: u32 = 1;
const NDIAG_SHOW_GROUPS: u32 = 2;
const NETLINK_DIAG_MEMINFO: u16 = 0;
const NETLINK_DIAG_GROUPS: u16 = 1;
/// ndiag_state of a connected socket (NETLINK_CONNECTED).
const CONNECTED: u8 = 1;

/// A dump of every netlink socket, with memory and groups.
pub fn request(sequence_number: u32) -> Vec<u8> {
    let mut body = Vec::with_capacity(20);
    body.extend_from_slice(&[libc::AF_NETLINK as u8, ALL_PROTOCOLS, 0, 0]);
    body.extend_from_slice(&0u32.to_ne_bytes());
    body.extend_from_slice(&(NDIAG_SHOW_MEMINFO | NDIAG_SHOW_GROUPS).to_ne_bytes());
    body.extend_from_slice(&[0; 8]);
    wire::dump_request(sequence_number, &body)
}

/// Decodes a netlink_diag_msg; `memory` keeps its skmeminfo (`-m`).
pub fn decode(payload: &[u8], memory: bool) -> Result<NetlinkSocket, DiagError> {
    let (header, attributes): (Header<'_>, _) = wire::split(payload, MSG_LEN, "netlink_diag_msg")?;
    let (mut queues, mut groups, mut skmem) = ((0, 0), 0, None);
    for (kind, value) in wire::attributes(attributes) {
        match kind {
            NETLINK_DIAG_MEMINFO => {
                let meminfo = wire::skmem(value);
                queues =
                    meminfo.as_ref().map_or((0, 0), |m| (m.rmem_alloc_bytes, m.wmem_alloc_bytes));
                skmem = meminfo.filter(|_| memory);
            }
            NETLINK_DIAG_GROUPS => groups = wire::u32_at(value, 0).unwrap_or(0),
            _ => {}
        }
    }
    let signed = |value: u32| i32::from_ne_bytes(value.to_ne_bytes());
    let peer = (header.u8_at(3) == CONNECTED)
        .then(|| NetlinkPeer { portid: signed(header.u32_at(8)), group: header.u32_at(12) });
    Ok(NetlinkSocket {
        netid: Default::default(),
        family: Default::default(),
        state: SocketState::Closed,
        recv_q: queues.0,
        send_q: queues.1,
        protocol: header.u8_at(2),
        portid: signed(header.u32_at(4)),
        portid_process: None,
        peer,
        groups,
        inode: wire::inode(header.u32_at(16)),
        cookie: wire::cookie(header.u64_at(20)),
        skmem,
        netns: None,
        owners: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attribute(kind: u16, value: &[u8]) -> Vec<u8> {
        let mut bytes = ((4 + value.len()) as u16).to_ne_bytes().to_vec();
        bytes.extend_from_slice(&kind.to_ne_bytes());
        bytes.extend_from_slice(value);
        bytes.resize(bytes.len().next_multiple_of(4), 0);
        bytes
    }

    fn message(state: u8, portid: i32) -> Vec<u8> {
        let mut bytes = vec![16, 3, 4, state];
        for value in [portid as u32, 7, 3, 4242] {
            bytes.extend_from_slice(&value.to_ne_bytes());
        }
        bytes.extend_from_slice(&9u64.to_ne_bytes());
        let meminfo: Vec<u8> =
            [832u32, 1, 5, 3, 0, 0, 0, 0, 0].iter().flat_map(|v| v.to_ne_bytes()).collect();
        bytes.extend(attribute(NETLINK_DIAG_MEMINFO, &meminfo));
        bytes.extend(attribute(NETLINK_DIAG_GROUPS, &[1, 0, 0, 0, 0, 0, 0, 0]));
        bytes
    }

    #[test]
    fn request_asks_every_protocol_with_memory_and_groups() {
        let bytes = request(3);
        assert_eq!(bytes.len(), 16 + 20);
        assert_eq!(&bytes[16..18], &[libc::AF_NETLINK as u8, 0xff]);
        assert_eq!(u32::from_ne_bytes(bytes[24..28].try_into().unwrap()), 3);
    }

    #[test]
    fn decodes_ports_queues_groups_and_peer() {
        let socket = decode(&message(0, 812), true).unwrap();
        assert_eq!((socket.protocol, socket.portid, socket.peer), (4, 812, None));
        assert_eq!((socket.recv_q, socket.send_q, socket.groups), (832, 5, 1));
        assert_eq!((socket.inode, socket.cookie), (Some(4242), Some(9)));
        assert!(socket.skmem.is_some());
        let connected = decode(&message(CONNECTED, -4097), false).unwrap();
        assert_eq!(connected.portid, -4097);
        assert_eq!(connected.peer, Some(NetlinkPeer { portid: 7, group: 3 }));
        assert!(connected.skmem.is_none());
    }

    #[test]
    fn short_or_garbled_replies_are_errors_or_partial_never_panics() {
        let whole = message(0, 1);
        for len in 0..whole.len() {
            let _ = decode(&whole[..len], true);
        }
        assert!(decode(&whole[..MSG_LEN - 1], false).is_err());
        let mut garbled = whole.clone();
        garbled[MSG_LEN] = 0xff;
        assert!(decode(&garbled, false).is_ok(), "a bad attribute ends the list");
    }
}
