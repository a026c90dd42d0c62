//! A classic BPF program as the kernel reports one attached to a socket
//! (packet_diag's PACKET_DIAG_FILTER, what `ss -b` prints): the
//! instructions of struct sock_filter.

use serde::{Deserialize, Serialize};

/// One struct sock_filter: opcode, jump offsets if true and if false, and
/// the generic field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BpfInstruction {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}
