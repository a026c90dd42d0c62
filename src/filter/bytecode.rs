//! Compiles a filter to the kernel's inet_diag bytecode (the
//! INET_DIAG_REQ_BYTECODE attribute), so the kernel sends only the sockets
//! that match.
//!
//! The kernel runs the program op by op: a true condition moves `yes` bytes
//! on, a false one `no` bytes; ending exactly at the program's length
//! accepts, 4 bytes past it rejects. Its audit follows the `yes` chain, so
//! here every `yes` falls through to the next op and all branching is done
//! with `no` jumps, through INET_DIAG_BC_JMP (always false) where an
//! unconditional jump is needed.

use std::net::IpAddr;

use super::{Cond, Expr, HostCond, Side};

const NOP: u8 = 0;
const JMP: u8 = 1;
const S_GE: u8 = 2;
const S_LE: u8 = 3;
const D_GE: u8 = 4;
const D_LE: u8 = 5;
const AUTO: u8 = 6;
const S_COND: u8 = 7;
const D_COND: u8 = 8;
const DEV_COND: u8 = 9;
const MARK_COND: u8 = 10;
const CGROUP_COND: u8 = 13;

/// struct inet_diag_bc_op: code, yes, no.
const OP_LEN: usize = 4;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    Label(usize),
    Reject,
}

struct Op {
    code: u8,
    payload: Vec<u8>,
    no: Target,
}

#[derive(Default)]
struct Program {
    ops: Vec<Op>,
    /// For each label, the index of the op it stands before.
    labels: Vec<usize>,
}

/// The program is too long for the kernel's 16-bit jumps.
#[derive(Debug, thiserror::Error)]
#[error("the filter is too long to run in the kernel ({0} bytes of bytecode)")]
pub struct TooLong(pub usize);

/// Compiles `expr`; the result goes after the request as its bytecode.
pub fn compile(expr: &Expr) -> Result<Vec<u8>, TooLong> {
    let mut program = Program::default();
    program.emit_expr(expr, Target::Reject);
    program.assemble()
}

impl Program {
    fn label(&mut self) -> usize {
        self.labels.push(usize::MAX);
        self.labels.len() - 1
    }

    fn place(&mut self, label: usize) {
        self.labels[label] = self.ops.len();
    }

    /// Emits code that falls through when `expr` holds and jumps to
    /// `on_false` when it does not.
    fn emit_expr(&mut self, expr: &Expr, on_false: Target) {
        match expr {
            Expr::And(a, b) => {
                self.emit_expr(a, on_false);
                self.emit_expr(b, on_false);
            }
            Expr::Or(a, b) => {
                let (try_b, done) = (self.label(), self.label());
                self.emit_expr(a, Target::Label(try_b));
                self.ops.push(Op { code: JMP, payload: Vec::new(), no: Target::Label(done) });
                self.place(try_b);
                self.emit_expr(b, on_false);
                self.place(done);
            }
            Expr::Not(a) => {
                let held_not = self.label();
                self.emit_expr(a, Target::Label(held_not));
                self.ops.push(Op { code: JMP, payload: Vec::new(), no: on_false });
                self.place(held_not);
            }
            Expr::Cond(cond) => {
                let (code, payload) = encode(cond);
                self.ops.push(Op { code, payload, no: on_false });
            }
        }
    }

    fn assemble(self) -> Result<Vec<u8>, TooLong> {
        let mut offsets = Vec::with_capacity(self.ops.len() + 1);
        let mut total = 0;
        for op in &self.ops {
            offsets.push(total);
            total += OP_LEN + op.payload.len();
        }
        offsets.push(total);
        if total + 4 > usize::from(u16::MAX) {
            return Err(TooLong(total));
        }
        let mut bytes = Vec::with_capacity(total);
        for (index, op) in self.ops.iter().enumerate() {
            let size = OP_LEN + op.payload.len();
            let target = match op.no {
                Target::Label(label) => offsets[self.labels[label]],
                Target::Reject => total + 4,
            };
            let no = target - offsets[index];
            bytes.push(op.code);
            bytes.push(size as u8);
            bytes.extend_from_slice(&(no as u16).to_ne_bytes());
            bytes.extend_from_slice(&op.payload);
        }
        Ok(bytes)
    }
}

fn encode(cond: &Cond) -> (u8, Vec<u8>) {
    let by_side =
        |side: &Side, local: u8, peer: u8| if *side == Side::Local { local } else { peer };
    match cond {
        Cond::Host(side, host) => (by_side(side, S_COND, D_COND), hostcond(host)),
        Cond::PortAtLeast(side, port) => (by_side(side, S_GE, D_GE), port_operand(*port)),
        Cond::PortAtMost(side, port) => (by_side(side, S_LE, D_LE), port_operand(*port)),
        Cond::Device(index) => (DEV_COND, index.to_ne_bytes().to_vec()),
        Cond::Mark { mark, mask } => (MARK_COND, [mark.to_ne_bytes(), mask.to_ne_bytes()].concat()),
        Cond::Cgroup(id) => (CGROUP_COND, id.to_ne_bytes().to_vec()),
        Cond::AutoBound => (AUTO, Vec::new()),
    }
}

/// The port of S_GE and friends rides in the `no` field of a second op.
fn port_operand(port: u16) -> Vec<u8> {
    let mut operand = vec![NOP, 0];
    operand.extend_from_slice(&port.to_ne_bytes());
    operand
}

/// struct inet_diag_hostcond: family, prefix_len, port (-1: any), address.
fn hostcond(host: &HostCond) -> Vec<u8> {
    let (family, prefix_len, addr): (u8, u8, Vec<u8>) = match &host.prefix {
        None => (libc::AF_UNSPEC as u8, 0, Vec::new()),
        Some(prefix) => match prefix.addr {
            IpAddr::V4(v4) => (libc::AF_INET as u8, prefix.len, v4.octets().to_vec()),
            IpAddr::V6(v6) => (libc::AF_INET6 as u8, prefix.len, v6.octets().to_vec()),
        },
    };
    let port = host.port.map_or(-1, i32::from);
    let mut bytes = vec![family, prefix_len, 0, 0];
    bytes.extend_from_slice(&port.to_ne_bytes());
    bytes.extend_from_slice(&addr);
    bytes
}

#[cfg(test)]
mod tests {
    use super::super::Prefix;
    use super::*;

    fn port(side: Side, port: u16) -> Expr {
        Expr::Cond(Cond::Host(side, HostCond { prefix: None, port: Some(port) }))
    }

    /// Runs bytecode as the kernel's inet_diag_bc_run does, on ports only.
    fn run(code: &[u8], sport: u16, dport: u16) -> bool {
        let mut at = 0usize;
        let len = code.len();
        while at < len {
            let (op, yes, no) = (
                code[at],
                code[at + 1] as usize,
                u16::from_ne_bytes([code[at + 2], code[at + 3]]) as usize,
            );
            let truth = match op {
                JMP => false,
                S_COND | D_COND => {
                    let port = i32::from_ne_bytes(code[at + 8..at + 12].try_into().unwrap());
                    let have = if op == S_COND { sport } else { dport };
                    port == -1 || port == i32::from(have)
                }
                S_GE | S_LE | D_GE | D_LE => {
                    let port = u16::from_ne_bytes([code[at + 6], code[at + 7]]);
                    let have = if op == S_GE || op == S_LE { sport } else { dport };
                    if op == S_GE || op == D_GE { have >= port } else { have <= port }
                }
                other => panic!("op {other}"),
            };
            at += if truth { yes } else { no };
        }
        at == len
    }

    /// The kernel's audit: the yes chain must end exactly at the end, and
    /// every `no` must land on it or at accept/reject.
    fn audit(code: &[u8]) {
        let mut chain = vec![];
        let mut at = 0;
        while at < code.len() {
            chain.push(at);
            at += code[at + 1] as usize;
        }
        assert_eq!(at, code.len(), "yes chain ends at the end");
        for &op in &chain {
            let no = op + u16::from_ne_bytes([code[op + 2], code[op + 3]]) as usize;
            assert!(
                no == code.len() || no == code.len() + 4 || chain.contains(&no),
                "no jump lands on an op"
            );
        }
    }

    #[test]
    fn logic_survives_compilation() {
        let a = port(Side::Local, 1);
        let b = port(Side::Peer, 2);
        type Truth = fn(bool, bool) -> bool;
        let cases: Vec<(Expr, Truth)> = vec![
            (a.clone(), |a, _| a),
            (Expr::Not(Box::new(a.clone())), |a, _| !a),
            (Expr::And(Box::new(a.clone()), Box::new(b.clone())), |a, b| a && b),
            (Expr::Or(Box::new(a.clone()), Box::new(b.clone())), |a, b| a || b),
            (Expr::Not(Box::new(Expr::Or(Box::new(a.clone()), Box::new(b.clone())))), |a, b| {
                !(a || b)
            }),
            (
                Expr::Or(
                    Box::new(Expr::Not(Box::new(a.clone()))),
                    Box::new(Expr::Not(Box::new(b.clone()))),
                ),
                |a, b| !a || !b,
            ),
            (Expr::Not(Box::new(Expr::Not(Box::new(a.clone())))), |a, _| a),
        ];
        for (expr, truth) in cases {
            let code = compile(&expr).unwrap();
            audit(&code);
            for (sport, dport) in [(1, 2), (1, 3), (4, 2), (4, 3)] {
                assert_eq!(
                    run(&code, sport, dport),
                    truth(sport == 1, dport == 2),
                    "{expr:?} on {sport},{dport}"
                );
            }
        }
    }

    #[test]
    fn port_ranges_and_hostconds_encode_as_the_kernel_reads_them() {
        let code = compile(&Expr::Cond(Cond::PortAtLeast(Side::Peer, 1024))).unwrap();
        assert_eq!(code.len(), 8);
        assert_eq!((code[0], code[1]), (D_GE, 8));
        assert_eq!(u16::from_ne_bytes([code[2], code[3]]), 12, "false: 4 past the end");
        assert!(run(&code, 0, 2000) && !run(&code, 0, 80));
        let host = HostCond {
            prefix: Some(Prefix { addr: "10.0.0.0".parse().unwrap(), len: 8 }),
            port: Some(22),
        };
        let code = compile(&Expr::Cond(Cond::Host(Side::Local, host))).unwrap();
        assert_eq!(code.len(), 16);
        assert_eq!(&code[4..8], &[libc::AF_INET as u8, 8, 0, 0]);
        assert_eq!(i32::from_ne_bytes(code[8..12].try_into().unwrap()), 22);
        assert_eq!(&code[12..], &[10, 0, 0, 0]);
    }
}
