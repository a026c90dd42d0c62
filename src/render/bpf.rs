//! `-b`'s text for a socket with a classic BPF filter attached (packet
//! sockets: packet_diag's PACKET_DIAG_FILTER), as ss prints it: on a
//! tab-indented line of its own (on the socket's line with `-O`),
//! `bpf filter (N):  0x28 0 0 12, 0x15 0 1 2048,`, each instruction's
//! opcode in hex and its jumps and operand in decimal.

use std::fmt::Write as _;

use crate::model::bpf::BpfInstruction;

/// Appends the filter's text to a socket's details cell.
pub fn push_filter(cell: &mut String, program: &[BpfInstruction], oneline: bool) {
    let start = if oneline { " bpf filter (" } else { "\n\tbpf filter (" };
    let _ = write!(cell, "{start}{}): ", program.len());
    for instruction in program {
        let BpfInstruction { code, jt, jf, k } = instruction;
        let _ = write!(cell, " {code:#04x} {jt} {jf} {k},");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instructions_as_ss_prints_them() {
        let program = [
            BpfInstruction { code: 0x28, jt: 0, jf: 0, k: 12 },
            BpfInstruction { code: 0x15, jt: 0, jf: 1, k: 0x800 },
            BpfInstruction { code: 0x6, jt: 0, jf: 0, k: 262144 },
        ];
        let mut cell = "ino:5".to_owned();
        push_filter(&mut cell, &program, false);
        assert_eq!(cell, "ino:5\n\tbpf filter (3):  0x28 0 0 12, 0x15 0 1 2048, 0x06 0 0 262144,");
        let mut cell = String::new();
        push_filter(&mut cell, &program[..1], true);
        assert_eq!(cell, " bpf filter (1):  0x28 0 0 12,");
    }
}
