//! AF_XDP sockets through xsk_diag (CONFIG_XDP_SOCKETS_DIAG), which
//! netlink-packet-sock-diag does not cover: requests and replies by hand.

use super::wire::DiagError;
use super::wire::{self, Header};
use crate::model::{SocketState, XdpSocket};

/// struct xdp_diag_msg: family, type, pad, ino, cookie.
const MSG_LEN: usize = 16;
const XDP_SHOW_INFO: u32 = 1;
const XDP_SHOW_RING_CFG: u32 = 1 << 1;
const XDP_SHOW_UMEM: u32 = 1 << 2;
const XDP_SHOW_MEMINFO: u32 = 1 << 3;
const XDP_SHOW_STATS: u32 = 1 << 4;
const XDP_DIAG_INFO: u16 = 1;
const XDP_DIAG_UID: u16 = 2;
const XDP_DIAG_MEMINFO: u16 = 8;

/// A dump of every XDP socket, with what ss asks for.
pub fn request(sequence_number: u32) -> Vec<u8> {
    let show =
        XDP_SHOW_INFO | XDP_SHOW_RING_CFG | XDP_SHOW_UMEM | XDP_SHOW_MEMINFO | XDP_SHOW_STATS;
    let mut body = Vec::with_capacity(20);
    body.extend_from_slice(&[libc::AF_XDP as u8, 0, 0, 0]);
    body.extend_from_slice(&0u32.to_ne_bytes());
    body.extend_from_slice(&show.to_ne_bytes());
    body.extend_from_slice(&[0; 8]);
    wire::dump_request(sequence_number, &body)
}

pub fn decode(payload: &[u8]) -> Result<XdpSocket, DiagError> {
    let (header, attributes): (Header<'_>, _) = wire::split(payload, MSG_LEN, "xdp_diag_msg")?;
    let mut socket = XdpSocket {
        netid: Default::default(),
        family: Default::default(),
        state: SocketState::Closed,
        recv_q: 0,
        send_q: 0,
        interface: None,
        interface_index: None,
        queue_id: None,
        uid: None,
        inode: wire::inode(header.u32_at(4)),
        cookie: wire::cookie(header.u64_at(8)),
        netns: None,
        owners: None,
    };
    for (kind, value) in wire::attributes(attributes) {
        match kind {
            XDP_DIAG_INFO => {
                socket.interface_index = wire::u32_at(value, 0).filter(|index| *index != 0);
                socket.queue_id = wire::u32_at(value, 4);
            }
            XDP_DIAG_UID => socket.uid = wire::u32_at(value, 0),
            XDP_DIAG_MEMINFO => socket.recv_q = wire::u32_at(value, 0).unwrap_or(0),
            _ => {}
        }
    }
    Ok(socket)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_interface_queue_uid_and_queue_length() {
        let mut bytes = vec![44, 3, 0, 0];
        bytes.extend_from_slice(&12u32.to_ne_bytes());
        bytes.extend_from_slice(&7u64.to_ne_bytes());
        for (kind, values) in [(XDP_DIAG_INFO, vec![2u32, 5]), (XDP_DIAG_UID, vec![0])] {
            bytes.extend_from_slice(&((4 + 4 * values.len()) as u16).to_ne_bytes());
            bytes.extend_from_slice(&kind.to_ne_bytes());
            values.iter().for_each(|v| bytes.extend_from_slice(&v.to_ne_bytes()));
        }
        let socket = decode(&bytes).unwrap();
        assert_eq!((socket.interface_index, socket.queue_id), (Some(2), Some(5)));
        assert_eq!((socket.uid, socket.inode, socket.cookie), (Some(0), Some(12), Some(7)));
        for len in 0..bytes.len() {
            let _ = decode(&bytes[..len]);
        }
        assert_eq!(request(1).len(), 36);
    }
}
