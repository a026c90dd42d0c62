//! TIPC sockets through tipc_diag (CONFIG_TIPC_DIAG). Its replies carry no
//! fixed struct: a TIPC_NLA_SOCK attribute nests the socket's fields.

use super::netlink::DiagError;
use super::wire;
use crate::model::{SocketState, StateSet, TipcEnd, TipcKind, TipcSocket};

const TIPC_NLA_SOCK: u16 = 2;
const TIPC_NLA_SOCK_ADDR: u16 = 1;
const TIPC_NLA_SOCK_REF: u16 = 2;
const TIPC_NLA_SOCK_CON: u16 = 3;
const TIPC_NLA_SOCK_STAT: u16 = 5;
const TIPC_NLA_SOCK_TYPE: u16 = 6;
const TIPC_NLA_SOCK_INO: u16 = 7;
const TIPC_NLA_SOCK_UID: u16 = 8;
const TIPC_NLA_SOCK_TIPC_STATE: u16 = 9;
const TIPC_NLA_SOCK_COOKIE: u16 = 10;
const TIPC_NLA_CON_NODE: u16 = 2;
const TIPC_NLA_CON_SOCK: u16 = 3;
const TIPC_NLA_SOCK_STAT_RCVQ: u16 = 0;
const TIPC_NLA_SOCK_STAT_SENDQ: u16 = 1;

/// A dump of the TIPC sockets in `states` (struct tipc_sock_diag_req).
pub fn request(sequence_number: u32, states: StateSet) -> Vec<u8> {
    let mut body = vec![libc::AF_TIPC as u8, 0, 0, 0];
    body.extend_from_slice(&states.kernel_mask().to_ne_bytes());
    wire::dump_request(sequence_number, &body)
}

pub fn decode(payload: &[u8]) -> Result<TipcSocket, DiagError> {
    let missing = |what: &str| DiagError::Malformed(format!("TIPC socket without {what}"));
    let socket = wire::attributes(payload)
        .find(|(kind, _)| *kind == TIPC_NLA_SOCK)
        .map(|(_, value)| value)
        .ok_or_else(|| missing("TIPC_NLA_SOCK"))?;
    let u32_of = |kind: u16| {
        wire::attributes(socket).find(|(k, _)| *k == kind).and_then(|(_, v)| wire::u32_at(v, 0))
    };
    let nested = |kind: u16| wire::attributes(socket).find(|(k, _)| *k == kind).map(|(_, v)| v);
    let kind = u32_of(TIPC_NLA_SOCK_TYPE).ok_or_else(|| missing("a type"))?;
    let netid = TipcKind::from_socket_type(kind)
        .ok_or_else(|| DiagError::Malformed(format!("unexpected TIPC socket type {kind}")))?;
    let raw_state = u32_of(TIPC_NLA_SOCK_TIPC_STATE).ok_or_else(|| missing("a state"))?;
    let state = u8::try_from(raw_state)
        .ok()
        .and_then(SocketState::from_kernel)
        .ok_or_else(|| DiagError::Malformed(format!("unexpected socket state {raw_state}")))?;
    let in_nest = |nest: Option<&[u8]>, kind: u16| {
        wire::attributes(nest?).find(|(k, _)| *k == kind).and_then(|(_, v)| wire::u32_at(v, 0))
    };
    let stat = nested(TIPC_NLA_SOCK_STAT);
    let connection = nested(TIPC_NLA_SOCK_CON);
    let peer =
        match (in_nest(connection, TIPC_NLA_CON_NODE), in_nest(connection, TIPC_NLA_CON_SOCK)) {
            (Some(node), Some(reference)) => Some(TipcEnd { node, reference }),
            _ => None,
        };
    let cookie = wire::attributes(socket)
        .find(|(k, _)| *k == TIPC_NLA_SOCK_COOKIE)
        .and_then(|(_, v)| wire::u64_at(v, 0));
    Ok(TipcSocket {
        netid,
        family: Default::default(),
        state,
        recv_q: in_nest(stat, TIPC_NLA_SOCK_STAT_RCVQ).unwrap_or(0),
        send_q: in_nest(stat, TIPC_NLA_SOCK_STAT_SENDQ).unwrap_or(0),
        local: TipcEnd {
            node: u32_of(TIPC_NLA_SOCK_ADDR).unwrap_or(0),
            reference: u32_of(TIPC_NLA_SOCK_REF).unwrap_or(0),
        },
        peer,
        uid: u32_of(TIPC_NLA_SOCK_UID),
        inode: u32_of(TIPC_NLA_SOCK_INO).and_then(wire::inode),
        cookie: cookie.and_then(wire::cookie),
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

    fn u32_attribute(kind: u16, value: u32) -> Vec<u8> {
        attribute(kind, &value.to_ne_bytes())
    }

    #[test]
    fn decodes_the_nested_socket() {
        let mut stat = u32_attribute(TIPC_NLA_SOCK_STAT_RCVQ, 3);
        stat.extend(u32_attribute(TIPC_NLA_SOCK_STAT_SENDQ, 4));
        let mut connection = u32_attribute(TIPC_NLA_CON_NODE, 0x1001);
        connection.extend(u32_attribute(TIPC_NLA_CON_SOCK, 77));
        let mut socket = u32_attribute(TIPC_NLA_SOCK_ADDR, 0x1002);
        socket.extend(u32_attribute(TIPC_NLA_SOCK_REF, 12));
        socket.extend(attribute(TIPC_NLA_SOCK_CON | 0x8000, &connection));
        socket.extend(attribute(TIPC_NLA_SOCK_STAT | 0x8000, &stat));
        socket.extend(u32_attribute(TIPC_NLA_SOCK_TYPE, libc::SOCK_STREAM as u32));
        socket.extend(u32_attribute(TIPC_NLA_SOCK_INO, 55));
        socket.extend(u32_attribute(TIPC_NLA_SOCK_UID, 0));
        socket.extend(u32_attribute(TIPC_NLA_SOCK_TIPC_STATE, 1));
        socket.extend(attribute(TIPC_NLA_SOCK_COOKIE, &9u64.to_ne_bytes()));
        let payload = attribute(TIPC_NLA_SOCK | 0x8000, &socket);
        let decoded = decode(&payload).unwrap();
        assert_eq!((decoded.netid, decoded.state), (TipcKind::Stream, SocketState::Established));
        assert_eq!(decoded.local, TipcEnd { node: 0x1002, reference: 12 });
        assert_eq!(decoded.peer, Some(TipcEnd { node: 0x1001, reference: 77 }));
        assert_eq!((decoded.recv_q, decoded.send_q), (3, 4));
        assert_eq!((decoded.inode, decoded.cookie, decoded.uid), (Some(55), Some(9), Some(0)));
        for len in 0..payload.len() {
            let _ = decode(&payload[..len]);
        }
        assert!(decode(&[]).is_err());
    }
}
