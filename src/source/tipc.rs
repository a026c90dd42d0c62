//! TIPC sockets through tipc_diag (CONFIG_TIPC_DIAG). Its replies carry no
//! fixed struct: a TIPC_NLA_SOCK attribute nests the socket's fields.

use super::wire;
use super::wire::DiagError;
use crate::model::kinds::TipcInfo;
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
const TIPC_NLA_SOCK_STAT_LINK_CONG: u16 = 2;
const TIPC_NLA_SOCK_STAT_CONN_CONG: u16 = 3;
const TIPC_NLA_SOCK_STAT_DROP: u16 = 4;
const TIPC_NLA_SOCK_HAS_PUBL: u16 = 4;
const TIPC_NLA_CON_FLAG: u16 = 1;
const TIPC_NLA_CON_TYPE: u16 = 4;
const TIPC_NLA_CON_INST: u16 = 5;

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
        tipc_info: Some(tipc_info(socket, stat, connection)),
        netns: None,
        owners: None,
    })
}

/// `--tipcinfo`'s figures: congestion and drops from the stat nest, the
/// publication flag, and a connection's service name.
fn tipc_info(socket: &[u8], stat: Option<&[u8]>, connection: Option<&[u8]>) -> TipcInfo {
    let has = |nest: Option<&[u8]>, kind: u16| {
        nest.is_some_and(|nest| wire::attributes(nest).any(|(k, _)| k == kind))
    };
    let u32_in = |nest: Option<&[u8]>, kind: u16| {
        wire::attributes(nest?).find(|(k, _)| *k == kind).and_then(|(_, v)| wire::u32_at(v, 0))
    };
    let congestion =
        match (has(stat, TIPC_NLA_SOCK_STAT_LINK_CONG), has(stat, TIPC_NLA_SOCK_STAT_CONN_CONG)) {
            (true, _) => "link",
            (false, true) => "conn",
            (false, false) => "none",
        };
    let via = match has(connection, TIPC_NLA_CON_FLAG) {
        true => Some([
            u32_in(connection, TIPC_NLA_CON_TYPE).unwrap_or(0),
            u32_in(connection, TIPC_NLA_CON_INST).unwrap_or(0),
        ]),
        false => None,
    };
    TipcInfo {
        congestion: congestion.to_owned(),
        drops: u32_in(stat, TIPC_NLA_SOCK_STAT_DROP).unwrap_or(0),
        published: has(Some(socket), TIPC_NLA_SOCK_HAS_PUBL),
        via,
    }
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
        stat.extend(attribute(TIPC_NLA_SOCK_STAT_CONN_CONG, &[]));
        stat.extend(u32_attribute(TIPC_NLA_SOCK_STAT_DROP, 2));
        let mut connection = u32_attribute(TIPC_NLA_CON_NODE, 0x1001);
        connection.extend(u32_attribute(TIPC_NLA_CON_SOCK, 77));
        connection.extend(attribute(TIPC_NLA_CON_FLAG, &[]));
        connection.extend(u32_attribute(TIPC_NLA_CON_TYPE, 1000));
        connection.extend(u32_attribute(TIPC_NLA_CON_INST, 7));
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
        let info = decoded.tipc_info.unwrap();
        assert_eq!((info.congestion.as_str(), info.drops, info.published), ("conn", 2, false));
        assert_eq!(info.via, Some([1000, 7]));
        for len in 0..payload.len() {
            let _ = decode(&payload[..len]);
        }
        assert!(decode(&[]).is_err());
    }
}
