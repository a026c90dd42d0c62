//! The bytes every sock_diag family shares: a dump request around a
//! family's request struct, bounds-checked reads of native-endian fields,
//! attributes, and the kernel's skmeminfo array.

use std::io;

use netlink_packet_core::{NLM_F_DUMP, NLM_F_REQUEST, NlaBuffer, NlasIterator};
use netlink_packet_sock_diag::SOCK_DIAG_BY_FAMILY;

use crate::model::details::SkMem;

/// struct nlmsghdr.
pub const NETLINK_HEADER_LEN: usize = 16;

/// Why a sock_diag exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum DiagError {
    #[error("cannot open a sock_diag netlink socket: {0}")]
    Open(#[source] io::Error),
    #[error("netlink I/O failed: {0}")]
    Io(#[source] io::Error),
    #[error("the kernel rejected the request: {}", errno_text(*.0))]
    Rejected(i32),
    #[error("the kernel ended the dump with an error: {}", errno_text(*.0))]
    DumpFailed(i32),
    #[error(
        "netlink reply truncated: a {len}-byte datagram did not fit the {capacity}-byte buffer"
    )]
    Truncated { len: usize, capacity: usize },
    #[error("malformed netlink reply: {0}")]
    Malformed(String),
}

impl DiagError {
    /// After a kernel-reported error the dump is over and the socket can
    /// serve the next request; after an I/O or framing fault it cannot.
    pub fn leaves_transport_usable(&self) -> bool {
        matches!(self, DiagError::Rejected(_) | DiagError::DumpFailed(_))
    }
}

fn errno_text(errno: i32) -> String {
    format!("{} (errno {errno})", io::Error::from_raw_os_error(errno))
}

/// A SOCK_DIAG_BY_FAMILY dump request whose payload is `body`.
pub fn dump_request(sequence_number: u32, body: &[u8]) -> Vec<u8> {
    let len = NETLINK_HEADER_LEN + body.len();
    let mut bytes = Vec::with_capacity(len);
    bytes.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_ne_bytes());
    bytes.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    bytes.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    bytes.extend_from_slice(&sequence_number.to_ne_bytes());
    bytes.extend_from_slice(&0u32.to_ne_bytes());
    bytes.extend_from_slice(body);
    bytes
}

/// The start of a family's reply struct and its attributes, or why the
/// reply is too short for it.
pub fn split<'a>(
    payload: &'a [u8],
    header_len: usize,
    what: &str,
) -> Result<(Header<'a>, &'a [u8]), DiagError> {
    match payload.split_at_checked(header_len) {
        Some((header, attributes)) => Ok((Header(header), attributes)),
        None => Err(DiagError::Malformed(format!(
            "{what}: {} bytes, at least {header_len} expected",
            payload.len()
        ))),
    }
}

/// A reply struct of a length checked once: its fields read without
/// further checks failing (a field beyond the end reads as 0).
#[derive(Clone, Copy)]
pub struct Header<'a>(&'a [u8]);

impl Header<'_> {
    pub fn u8_at(self, at: usize) -> u8 {
        self.0.get(at).copied().unwrap_or(0)
    }

    pub fn u16_at(self, at: usize) -> u16 {
        u16_at(self.0, at).unwrap_or(0)
    }

    pub fn u32_at(self, at: usize) -> u32 {
        u32_at(self.0, at).unwrap_or(0)
    }

    pub fn u64_at(self, at: usize) -> u64 {
        u64_at(self.0, at).unwrap_or(0)
    }
}

pub fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    bytes.get(at..at.checked_add(2)?)?.try_into().ok().map(u16::from_ne_bytes)
}

pub fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    bytes.get(at..at.checked_add(4)?)?.try_into().ok().map(u32::from_ne_bytes)
}

pub fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    bytes.get(at..at.checked_add(8)?)?.try_into().ok().map(u64::from_ne_bytes)
}

/// struct nlattr: length and type.
const ATTRIBUTE_HEADER_LEN: usize = 4;

/// Each well-formed attribute as (type, value), the nested flag masked
/// off; a malformed one ends the list.
pub fn attributes(bytes: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    NlasIterator::new(bytes).map_while(Result::ok).map_while(|nla: NlaBuffer<&[u8]>| {
        let (kind, len) = (nla.kind(), usize::from(nla.length()));
        nla.into_inner().get(ATTRIBUTE_HEADER_LEN..len).map(|value| (kind, value))
    })
}

/// A sock_diag skmeminfo array (SK_MEMINFO_*), as far as it goes.
pub fn skmem(bytes: &[u8]) -> Option<SkMem> {
    let at = |index: usize| u32_at(bytes, index * 4);
    Some(SkMem {
        rmem_alloc_bytes: at(0)?,
        rcvbuf_bytes: at(1)?,
        wmem_alloc_bytes: at(2)?,
        sndbuf_bytes: at(3)?,
        fwd_alloc_bytes: at(4)?,
        wmem_queued_bytes: at(5)?,
        optmem_bytes: at(6)?,
        backlog_bytes: at(7).unwrap_or(0),
        drops: at(8).unwrap_or(0),
    })
}

/// A cookie of 0 means none.
pub fn cookie(value: u64) -> Option<u64> {
    (value != 0).then_some(value)
}

/// An inode of 0 means none.
pub fn inode(value: u32) -> Option<u32> {
    (value != 0).then_some(value)
}
