//! Packet (AF_PACKET) sockets through packet_diag (CONFIG_PACKET_DIAG),
//! which netlink-packet-sock-diag does not cover: requests and replies by
//! hand.

use super::wire::DiagError;
use super::wire::{self, Header};
use crate::model::bpf::BpfInstruction;
use crate::model::{PacketFanout, PacketInfo, PacketKind, PacketRing, PacketSocket, SocketState};

/// struct packet_diag_msg: family, type, num, ino, cookie.
const MSG_LEN: usize = 16;
const PACKET_SHOW_INFO: u32 = 0x1;
const PACKET_SHOW_RING_CFG: u32 = 0x4;
const PACKET_SHOW_FANOUT: u32 = 0x8;
const PACKET_SHOW_MEMINFO: u32 = 0x10;
const PACKET_SHOW_FILTER: u32 = 0x20;
const PACKET_DIAG_INFO: u16 = 0;
const PACKET_DIAG_RX_RING: u16 = 2;
const PACKET_DIAG_TX_RING: u16 = 3;
const PACKET_DIAG_FANOUT: u16 = 4;
const PACKET_DIAG_UID: u16 = 5;
const PACKET_DIAG_MEMINFO: u16 = 6;
const PACKET_DIAG_FILTER: u16 = 7;

/// A dump of every packet socket, with what ss asks for.
pub fn request(sequence_number: u32) -> Vec<u8> {
    let show = PACKET_SHOW_INFO
        | PACKET_SHOW_MEMINFO
        | PACKET_SHOW_FILTER
        | PACKET_SHOW_RING_CFG
        | PACKET_SHOW_FANOUT;
    let mut body = Vec::with_capacity(20);
    body.extend_from_slice(&[libc::AF_PACKET as u8, 0, 0, 0]);
    body.extend_from_slice(&0u32.to_ne_bytes());
    body.extend_from_slice(&show.to_ne_bytes());
    body.extend_from_slice(&[0; 8]);
    wire::dump_request(sequence_number, &body)
}

/// Decodes a packet_diag_msg; `memory` keeps its skmeminfo (`-m`).
pub fn decode(payload: &[u8], memory: bool) -> Result<PacketSocket, DiagError> {
    let (header, attributes): (Header<'_>, _) = wire::split(payload, MSG_LEN, "packet_diag_msg")?;
    let netid = PacketKind::from_socket_type(header.u8_at(1)).ok_or_else(|| {
        DiagError::Malformed(format!("unexpected packet socket type {}", header.u8_at(1)))
    })?;
    let mut socket = PacketSocket {
        netid,
        family: Default::default(),
        state: SocketState::Closed,
        recv_q: 0,
        send_q: 0,
        protocol: header.u16_at(2),
        interface: None,
        interface_index: None,
        uid: None,
        inode: wire::inode(header.u32_at(4)),
        cookie: wire::cookie(header.u64_at(8)),
        packet_info: None,
        skmem: None,
        filter: None,
        netns: None,
        owners: None,
    };
    let (mut rings, mut fanout) = ((None, None), None);
    for (kind, value) in wire::attributes(attributes) {
        match kind {
            PACKET_DIAG_INFO => {
                socket.interface_index = wire::u32_at(value, 0).filter(|index| *index != 0);
                socket.packet_info = info(value);
            }
            PACKET_DIAG_RX_RING => rings.0 = ring(value),
            PACKET_DIAG_TX_RING => rings.1 = ring(value),
            PACKET_DIAG_FANOUT => fanout = wire::u32_at(value, 0).map(fanout_group),
            PACKET_DIAG_UID => socket.uid = wire::u32_at(value, 0),
            PACKET_DIAG_FILTER => socket.filter = Some(bpf_program(value)),
            PACKET_DIAG_MEMINFO => {
                let meminfo = wire::skmem(value);
                socket.recv_q = meminfo.as_ref().map_or(0, |m| m.rmem_alloc_bytes);
                socket.skmem = meminfo.filter(|_| memory);
            }
            _ => {}
        }
    }
    if let Some(info) = &mut socket.packet_info {
        (info.rx_ring, info.tx_ring, info.fanout) = (rings.0, rings.1, fanout);
    }
    Ok(socket)
}

/// The size of struct sock_filter.
const SOCK_FILTER_LEN: usize = 8;

/// A classic BPF program from the kernel's bytes (an array of struct
/// sock_filter in native byte order, as packet_diag's PACKET_DIAG_FILTER
/// carries one, for `-b`); a trailing part shorter than one instruction is
/// ignored.
pub fn bpf_program(bytes: &[u8]) -> Vec<BpfInstruction> {
    bytes
        .chunks_exact(SOCK_FILTER_LEN)
        .map(|raw| BpfInstruction {
            code: u16::from_ne_bytes([raw[0], raw[1]]),
            jt: raw[2],
            jf: raw[3],
            k: u32::from_ne_bytes([raw[4], raw[5], raw[6], raw[7]]),
        })
        .collect()
}

/// struct packet_diag_info: index, version, reserve, copy_thresh, tstamp, flags.
fn info(value: &[u8]) -> Option<PacketInfo> {
    const FLAGS: [(u32, &str); 5] =
        [(0x1, "running"), (0x2, "auxdata"), (0x4, "origdev"), (0x8, "vnethdr"), (0x10, "loss")];
    let flags = wire::u32_at(value, 20)?;
    Some(PacketInfo {
        version: wire::u32_at(value, 4)?,
        copy_threshold: wire::u32_at(value, 12)?,
        flags: FLAGS
            .iter()
            .filter(|(bit, _)| flags & bit != 0)
            .map(|(_, name)| (*name).to_owned())
            .collect(),
        rx_ring: None,
        tx_ring: None,
        fanout: None,
    })
}

/// struct packet_diag_ring: block size and count, frame size and count,
/// retire timeout, private size, features.
fn ring(value: &[u8]) -> Option<PacketRing> {
    let at = |index: usize| wire::u32_at(value, index * 4);
    Some(PacketRing {
        block_size: at(0)?,
        block_count: at(1)?,
        frame_size: at(2)?,
        frame_count: at(3)?,
        retire_timeout_ms: at(4)?,
        features: at(6)?,
    })
}

/// PACKET_DIAG_FANOUT: the group id in the low half, the mode above it.
fn fanout_group(value: u32) -> PacketFanout {
    let mode = match value >> 16 {
        0 => "hash".to_owned(),
        1 => "lb".to_owned(),
        2 => "cpu".to_owned(),
        3 => "roll".to_owned(),
        4 => "random".to_owned(),
        5 => "qm".to_owned(),
        other => format!("0x{other:x}"),
    };
    PacketFanout { id: (value & 0xffff) as u16, mode }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bpf_programs_are_sock_filters_in_native_order() {
        // `tcpdump -dd ip`'s first two instructions, and a stray byte.
        let mut bytes = Vec::new();
        for (code, jt, jf, k) in [(0x28u16, 0u8, 0u8, 12u32), (0x15, 0, 1, 0x800)] {
            bytes.extend_from_slice(&code.to_ne_bytes());
            bytes.extend_from_slice(&[jt, jf]);
            bytes.extend_from_slice(&k.to_ne_bytes());
        }
        bytes.push(0xff);
        assert_eq!(
            bpf_program(&bytes),
            [
                BpfInstruction { code: 0x28, jt: 0, jf: 0, k: 12 },
                BpfInstruction { code: 0x15, jt: 0, jf: 1, k: 0x800 },
            ]
        );
    }

    fn attribute(kind: u16, value: &[u8]) -> Vec<u8> {
        let mut bytes = ((4 + value.len()) as u16).to_ne_bytes().to_vec();
        bytes.extend_from_slice(&kind.to_ne_bytes());
        bytes.extend_from_slice(value);
        bytes.resize(bytes.len().next_multiple_of(4), 0);
        bytes
    }

    fn words(values: &[u32]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_ne_bytes()).collect()
    }

    fn message(kind: u8) -> Vec<u8> {
        let mut bytes = vec![17, kind];
        bytes.extend_from_slice(&0x86ddu16.to_ne_bytes());
        bytes.extend_from_slice(&77u32.to_ne_bytes());
        bytes.extend_from_slice(&0x1au64.to_ne_bytes());
        bytes.extend(attribute(PACKET_DIAG_INFO, &words(&[1, 2, 0, 64, 0, 0x3])));
        bytes.extend(attribute(PACKET_DIAG_UID, &words(&[1000])));
        bytes.extend(attribute(PACKET_DIAG_MEMINFO, &words(&[768, 1, 0, 2, 0, 0, 0, 0, 0])));
        bytes.extend(attribute(PACKET_DIAG_RX_RING, &words(&[4096, 8, 2048, 16, 60, 0, 1])));
        bytes.extend(attribute(PACKET_DIAG_FANOUT, &words(&[(1 << 16) | 42])));
        bytes
    }

    #[test]
    fn decodes_type_protocol_interface_and_settings() {
        let socket = decode(&message(libc::SOCK_DGRAM as u8), false).unwrap();
        assert_eq!(socket.netid, PacketKind::Dgram);
        assert_eq!((socket.protocol, socket.interface_index), (0x86dd, Some(1)));
        assert_eq!((socket.recv_q, socket.uid, socket.inode), (768, Some(1000), Some(77)));
        let info = socket.packet_info.unwrap();
        assert_eq!((info.version, info.copy_threshold), (2, 64));
        assert_eq!(info.flags, ["running", "auxdata"]);
        assert_eq!(info.rx_ring.map(|r| (r.block_size, r.features)), Some((4096, 1)));
        assert_eq!(info.fanout, Some(PacketFanout { id: 42, mode: "lb".into() }));
        assert!(decode(&message(9), false).is_err(), "an unknown type");
    }

    #[test]
    fn any_prefix_of_a_reply_decodes_or_fails_without_panicking() {
        let whole = message(libc::SOCK_RAW as u8);
        for len in 0..whole.len() {
            let _ = decode(&whole[..len], true);
        }
        assert!(decode(&whole[..MSG_LEN - 1], true).is_err());
    }

    #[test]
    fn request_asks_what_ss_asks() {
        let bytes = request(1);
        assert_eq!(bytes.len(), 36);
        assert_eq!(bytes[16], libc::AF_PACKET as u8);
        assert_eq!(u32::from_ne_bytes(bytes[24..28].try_into().unwrap()), 0x3d);
    }
}
