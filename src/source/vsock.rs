//! vsock sockets through vsock_diag (CONFIG_VSOCKETS_DIAG), which
//! netlink-packet-sock-diag does not cover: requests and replies by hand.

use super::wire::DiagError;
use super::wire::{self, Header};
use crate::model::{SocketState, StateSet, VsockEnd, VsockKind, VsockSocket};

/// struct vsock_diag_msg: family, type, state, shutdown, src_cid,
/// src_port, dst_cid, dst_port, ino, cookie.
const MSG_LEN: usize = 32;

/// A dump of the vsock sockets in `states`.
pub fn request(sequence_number: u32, states: StateSet) -> Vec<u8> {
    let mut body = Vec::with_capacity(24);
    body.extend_from_slice(&[libc::AF_VSOCK as u8, 0, 0, 0]);
    body.extend_from_slice(&states.kernel_mask().to_ne_bytes());
    body.extend_from_slice(&[0; 16]);
    wire::dump_request(sequence_number, &body)
}

pub fn decode(payload: &[u8]) -> Result<VsockSocket, DiagError> {
    let (header, _): (Header<'_>, _) = wire::split(payload, MSG_LEN, "vsock_diag_msg")?;
    let netid = VsockKind::from_socket_type(header.u8_at(1)).ok_or_else(|| {
        DiagError::Malformed(format!("unexpected vsock socket type {}", header.u8_at(1)))
    })?;
    let state = SocketState::from_kernel(header.u8_at(2)).ok_or_else(|| {
        DiagError::Malformed(format!("unexpected socket state {}", header.u8_at(2)))
    })?;
    Ok(VsockSocket {
        netid,
        family: Default::default(),
        state,
        recv_q: 0,
        send_q: 0,
        local: VsockEnd { cid: header.u32_at(4), port: header.u32_at(8) },
        peer: VsockEnd { cid: header.u32_at(12), port: header.u32_at(16) },
        inode: wire::inode(header.u32_at(20)),
        cookie: wire::cookie(header.u64_at(24)),
        netns: None,
        owners: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(kind: u8, state: u8) -> Vec<u8> {
        let mut bytes = vec![40, kind, state, 0];
        for value in [u32::MAX, 1024, 2, u32::MAX, 99] {
            bytes.extend_from_slice(&value.to_ne_bytes());
        }
        bytes.extend_from_slice(&5u64.to_ne_bytes());
        bytes
    }

    #[test]
    fn decodes_ends_and_state() {
        let socket = decode(&message(libc::SOCK_STREAM as u8, 10)).unwrap();
        assert_eq!((socket.netid, socket.state), (VsockKind::Stream, SocketState::Listening));
        assert_eq!(socket.local, VsockEnd { cid: VsockEnd::ANY, port: 1024 });
        assert_eq!(socket.peer, VsockEnd { cid: 2, port: VsockEnd::ANY });
        assert_eq!((socket.inode, socket.cookie), (Some(99), Some(5)));
        assert!(decode(&message(3, 10)).is_err(), "SOCK_RAW is no vsock type");
        assert!(decode(&message(1, 0)).is_err(), "state 0 is no state");
        assert!(decode(&message(1, 10)[..31]).is_err());
    }

    #[test]
    fn request_carries_the_states() {
        let bytes = request(1, StateSet::of(&[SocketState::Listening]));
        assert_eq!(bytes.len(), 16 + 24);
        assert_eq!(bytes[16], libc::AF_VSOCK as u8);
        assert_eq!(u32::from_ne_bytes(bytes[20..24].try_into().unwrap()), 1 << 10);
    }
}
