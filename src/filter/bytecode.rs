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

/// The most bytecode the kernel takes: the program rides in one netlink
/// attribute, whose 16-bit length counts its 4-byte header too
/// (`nla_len(attr)` in inet_diag_bc_audit). Ops are whole 4-byte words,
/// so the longest program is 65,528 bytes, and its reject offset, 4 past
/// the end, still fits the ops' 16-bit `no` jumps.
pub const MAX_LEN: usize = u16::MAX as usize - NLA_HDRLEN;

/// struct nlattr: length and type.
const NLA_HDRLEN: usize = 4;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    Label(usize),
    Accept,
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

/// The filter's program would be longer than the kernel takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the filter's kernel bytecode would be {bytes} bytes, over the kernel's limit of {limit}")]
pub struct TooLong {
    pub bytes: usize,
    pub limit: usize,
}

/// Compiles `expr`; the result goes after the request as its bytecode.
/// The length is worked out first, so an expression too long for the kernel
/// costs one walk over it and no program.
pub fn compile(expr: &Expr) -> Result<Vec<u8>, TooLong> {
    // The kernel refuses an empty program: an always-true expression (an
    // empty `and`) becomes one jump to the end.
    let bytes = program_len(expr).max(OP_LEN);
    if bytes > MAX_LEN {
        return Err(TooLong { bytes, limit: MAX_LEN });
    }
    let mut program = Program::default();
    program.emit_expr(expr, Target::Reject);
    if program.ops.is_empty() {
        program.jump(Target::Accept);
    }
    let code = program.assemble();
    debug_assert_eq!(code.len(), bytes, "program_len agrees with emit_expr");
    Ok(code)
}

/// The length of the program [`Program::emit_expr`] makes for `expr`.
fn program_len(expr: &Expr) -> usize {
    match expr {
        Expr::And(terms) => terms.iter().map(program_len).sum(),
        Expr::Or(alternatives) => {
            let terms = alternatives.terms();
            let jumps = match terms.len() {
                0 => 1,
                n => n - 1,
            };
            terms.iter().map(program_len).sum::<usize>() + jumps * OP_LEN
        }
        Expr::Not(inner) => program_len(inner) + OP_LEN,
        Expr::Cond(cond) => OP_LEN + payload_len(cond),
    }
}

impl Program {
    fn label(&mut self) -> usize {
        self.labels.push(usize::MAX);
        self.labels.len() - 1
    }

    fn place(&mut self, label: usize) {
        self.labels[label] = self.ops.len();
    }

    fn jump(&mut self, to: Target) {
        self.ops.push(Op { code: JMP, payload: Vec::new(), no: to });
    }

    /// Emits code that falls through when `expr` holds and jumps to
    /// `on_false` when it does not.
    fn emit_expr(&mut self, expr: &Expr, on_false: Target) {
        match expr {
            Expr::And(terms) => {
                for term in terms {
                    self.emit_expr(term, on_false);
                }
            }
            Expr::Or(alternatives) => self.emit_or(alternatives.terms(), on_false),
            Expr::Not(inner) => {
                let held = self.label();
                self.emit_expr(inner, Target::Label(held));
                self.jump(on_false);
                self.place(held);
            }
            Expr::Cond(cond) => {
                let (code, payload) = encode(cond);
                self.ops.push(Op { code, payload, no: on_false });
            }
        }
    }

    /// Each term but the last jumps to the end when it holds and falls to
    /// the next when it does not; the last decides.
    fn emit_or(&mut self, terms: &[Expr], on_false: Target) {
        let Some((last, rest)) = terms.split_last() else {
            self.jump(on_false);
            return;
        };
        let done = self.label();
        for term in rest {
            let next = self.label();
            self.emit_expr(term, Target::Label(next));
            self.jump(Target::Label(done));
            self.place(next);
        }
        self.emit_expr(last, on_false);
        self.place(done);
    }

    /// Lays the ops out; [`compile`] has checked that they fit the kernel's
    /// 16-bit lengths and jumps.
    fn assemble(self) -> Vec<u8> {
        let mut offsets = Vec::with_capacity(self.ops.len() + 1);
        let mut total = 0;
        for op in &self.ops {
            offsets.push(total);
            total += OP_LEN + op.payload.len();
        }
        offsets.push(total);
        let mut bytes = Vec::with_capacity(total);
        for (index, op) in self.ops.iter().enumerate() {
            let size = OP_LEN + op.payload.len();
            let target = match op.no {
                Target::Label(label) => offsets[self.labels[label]],
                Target::Accept => total,
                Target::Reject => total + 4,
            };
            let no = target - offsets[index];
            bytes.push(op.code);
            bytes.push(size as u8);
            bytes.extend_from_slice(&(no as u16).to_ne_bytes());
            bytes.extend_from_slice(&op.payload);
        }
        bytes
    }
}

/// The length of [`encode`]'s payload, without building it.
fn payload_len(cond: &Cond) -> usize {
    match cond {
        Cond::Host(_, host) => HOSTCOND_LEN + host.prefix.as_ref().map_or(0, |p| addr_len(p.addr)),
        Cond::PortAtLeast(..) | Cond::PortAtMost(..) => OP_LEN,
        Cond::Device(_) => 4,
        Cond::Mark { .. } => 8,
        Cond::Cgroup(_) => 8,
        Cond::AutoBound => 0,
    }
}

fn addr_len(addr: IpAddr) -> usize {
    if addr.is_ipv4() { 4 } else { 16 }
}

/// struct inet_diag_hostcond before its address: family, prefix_len, port.
const HOSTCOND_LEN: usize = 8;

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
        assert!(code.len() >= OP_LEN, "at least one op");
        assert!(code.len() <= MAX_LEN, "fits the attribute");
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
        let not = |expr: Expr| Expr::Not(Box::new(expr));
        let cases: Vec<(Expr, Truth)> = vec![
            (a.clone(), |a, _| a),
            (not(a.clone()), |a, _| !a),
            (Expr::And(vec![a.clone(), b.clone()]), |a, b| a && b),
            (Expr::or(vec![a.clone(), b.clone()]), |a, b| a || b),
            (not(Expr::or(vec![a.clone(), b.clone()])), |a, b| !(a || b)),
            (Expr::or(vec![not(a.clone()), not(b.clone())]), |a, b| !a || !b),
            (not(not(a.clone())), |a, _| a),
            (Expr::or(vec![b.clone(), port(Side::Local, 9), a.clone()]), |a, b| a || b),
            (Expr::And(vec![a.clone(), not(b.clone()), a.clone()]), |a, b| a && !b),
            (
                Expr::or(vec![
                    Expr::And(vec![a.clone(), b.clone()]),
                    Expr::And(vec![not(a.clone()), not(b.clone())]),
                ]),
                |a, b| a == b,
            ),
            (Expr::or(vec![a.clone()]), |a, _| a),
            (Expr::And(vec![]), |_, _| true),
            (Expr::or(vec![]), |_, _| false),
            (Expr::And(vec![Expr::or(vec![]), a.clone()]), |_, _| false),
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
    fn lengths_are_known_before_emitting() {
        let prefix = |addr: &str, len| Some(Prefix { addr: addr.parse().unwrap(), len });
        let conds = [
            Cond::Host(Side::Local, HostCond { prefix: None, port: Some(22) }),
            Cond::Host(Side::Peer, HostCond { prefix: prefix("10.0.0.0", 8), port: None }),
            Cond::Host(Side::Peer, HostCond { prefix: prefix("fe80::", 10), port: Some(1) }),
            Cond::PortAtLeast(Side::Local, 1),
            Cond::PortAtMost(Side::Peer, 1),
            Cond::Device(3),
            Cond::Mark { mark: 1, mask: 1 },
            Cond::Cgroup(7),
            Cond::AutoBound,
        ];
        for cond in &conds {
            assert_eq!(payload_len(cond), encode(cond).1.len(), "{cond:?}");
        }
        let leaves: Vec<Expr> = conds.iter().cloned().map(Expr::Cond).collect();
        let expr = Expr::And(vec![
            Expr::or(leaves.clone()),
            Expr::Not(Box::new(Expr::And(leaves.clone()))),
            Expr::or(vec![Expr::Not(Box::new(Expr::or(leaves))), Expr::or(vec![])]),
        ]);
        assert_eq!(compile(&expr).unwrap().len(), program_len(&expr));
    }

    #[test]
    fn programs_up_to_the_attribute_limit_compile_and_longer_ones_do_not() {
        assert_eq!(MAX_LEN, 65531);
        // 5460 host conditions of 12 bytes and a port range of 8: 65528,
        // the longest program (ops are whole words) the limit allows.
        let mut terms: Vec<Expr> = (0..5460).map(|i| port(Side::Local, 1 + i % 3)).collect();
        terms.push(Expr::Cond(Cond::PortAtLeast(Side::Peer, 2)));
        let longest = Expr::or(terms.clone());
        assert!(compile(&longest).is_err(), "an or adds jumps");
        let longest = Expr::And(terms);
        let code = compile(&longest).unwrap();
        assert_eq!(code.len(), 65528);
        audit(&code);
        assert!(!run(&code, 1, 2));
        let reject = u16::from_ne_bytes([code[65522], code[65523]]) as usize;
        assert_eq!(65520 + reject, 65532, "false: 4 past the end, in 16 bits");
        let negated = Expr::Not(Box::new(longest));
        assert_eq!(compile(&negated), Err(TooLong { bytes: 65532, limit: 65531 }));
    }

    #[test]
    fn a_long_allow_list_is_refused_quickly_with_its_length() {
        let ports = Expr::or((0..100_000u32).map(|i| port(Side::Local, i as u16)).collect());
        let started = std::time::Instant::now();
        let refused = compile(&ports).unwrap_err();
        assert!(started.elapsed() < std::time::Duration::from_secs(1), "{:?}", started.elapsed());
        assert_eq!(refused, TooLong { bytes: 100_000 * 12 + 99_999 * 4, limit: MAX_LEN });
        assert_eq!(
            refused.to_string(),
            "the filter's kernel bytecode would be 1599996 bytes, over the kernel's limit of 65531"
        );
    }

    #[test]
    fn an_always_true_filter_is_one_jump_to_the_end() {
        let code = compile(&Expr::And(Vec::new())).unwrap();
        let mut jump_to_end = vec![JMP, 4];
        jump_to_end.extend_from_slice(&4u16.to_ne_bytes());
        assert_eq!(code, jump_to_end);
        audit(&code);
        assert!(run(&code, 1, 1));
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
