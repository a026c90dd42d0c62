//! Where sockets come from: the live kernel over sock_diag (falling back to
//! /proc/net when netlink is unavailable), or a recorded dump.

pub mod events;
pub mod netlink;
pub mod netlink_diag;
pub mod packet;
pub mod procnet;
pub mod procunix;
pub mod recording;
pub mod summary;
pub mod tipc;
pub mod vsock;
mod wire;
pub mod xdp;

use std::io::{Read, Write};

use anyhow::{Context, Result};

use crate::filter::{Cond, Expr, Extras};
use crate::model::{InetSocket, IpFamily, Netid, PortCategory, Socket, SocketState, StateSet};
use crate::sys::{DiagTransport, Os};
pub use netlink::Extensions;
use netlink::{DiagError, DumpError, DumpRequest, RECV_BUFFER_LEN, Reply, SocketDecoder};
use recording::RecordingReader;

/// Which sockets to list: protocols and families (in ss's display order)
/// and states.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selection {
    pub netids: Vec<Netid>,
    pub families: Vec<IpFamily>,
    /// Kinds listed only where the kernel has their diag module (those the
    /// command line implied rather than named); for any other kind a
    /// missing module is an error.
    pub optional: Vec<Netid>,
    pub states: StateSet,
    /// Local-port categories to keep (`--category`); empty keeps all.
    pub categories: Vec<PortCategory>,
    /// The kernel's extras to ask for (`-m`, `-i`).
    pub extensions: Extensions,
    /// Decode timers and extras into `Socket::details` (`-o`, `-m`, `-i`).
    pub details: bool,
}

impl Selection {
    /// One dump per protocol and family, in the order of `netids`; one
    /// dump for the kinds one dump lists together (UNIX, packet, vsock
    /// types), where the first of them stands; with `one_tcp_dump`, one TCP
    /// dump for both families when both are wanted.
    pub fn requests(&self, one_tcp_dump: bool) -> Vec<DumpRequest> {
        let mut requests: Vec<DumpRequest> = Vec::new();
        let both_families = one_tcp_dump && self.families.len() == IpFamily::ALL.len();
        for &netid in &self.netids {
            let request = |family, both_families| DumpRequest {
                netid,
                family,
                both_families,
                states: self.kernel_states(netid),
                extensions: match (netid.transport(), netid.is_unix()) {
                    (Some(_), _) => self.extensions,
                    (None, true) => Extensions {
                        memory: self.extensions.memory,
                        unix_files: self.extensions.unix_files,
                        ..Extensions::default()
                    },
                    (None, false) => Extensions::default(),
                },
            };
            if request(IpFamily::Inet, false).states.is_empty() {
                continue;
            } else if netid.transport().is_none() {
                let leader = netid.dump_leader();
                if !requests.iter().any(|asked| asked.netid.dump_leader() == leader) {
                    requests.push(request(IpFamily::Inet, false));
                }
            } else if netid == Netid::Tcp && both_families {
                requests.push(request(IpFamily::Inet, true));
            } else {
                requests.extend(self.families.iter().map(|&family| request(family, false)));
            }
        }
        requests
    }

    /// The states to ask the kernel for. A TCP socket in CLOSE state is
    /// never in the tables a dump walks (the kernel unhashes it before it
    /// sets the state), so asking for CLOSE (as `-l` does) only makes the
    /// kernel walk every connection on the host for nothing; without it a
    /// dump of listeners walks the listeners alone. Netlink, packet and XDP
    /// sockets have no state (ss shows them as unconnected): they are
    /// dumped only when closed sockets are wanted.
    fn kernel_states(&self, netid: Netid) -> StateSet {
        let closed = StateSet::of(&[SocketState::Closed]);
        match netid {
            Netid::Tcp => self.states.without(closed),
            Netid::Netlink | Netid::PacketRaw | Netid::PacketDgram | Netid::Xdp => {
                match self.states.contains(SocketState::Closed) {
                    true => closed,
                    false => StateSet::EMPTY,
                }
            }
            _ => self.states,
        }
    }

    /// The decoder for this selection's replies.
    fn decoder(&self) -> SocketDecoder {
        SocketDecoder { details: self.details, inet_sockopt: self.extensions.inet_sockopt }
    }

    pub fn matches(&self, socket: &Socket) -> bool {
        let family_wanted = match socket {
            Socket::Inet(inet) => self.families.contains(&inet.family),
            _ => true,
        };
        self.netids.contains(&socket.netid())
            && family_wanted
            && self.states.contains(socket.state())
            && self.wants_category(socket)
    }

    /// The part of the selection the kernel cannot do: port categories.
    /// UNIX sockets have no port, so no category.
    fn wants_category(&self, socket: &Socket) -> bool {
        self.categories.is_empty()
            || socket
                .local_port()
                .and_then(PortCategory::of)
                .is_some_and(|category| self.categories.contains(&category))
    }
}

/// A filter expression, with its kernel bytecode for live dumps.
#[derive(Clone, Debug)]
pub struct SocketFilter {
    pub expr: Expr,
    /// `None` when the kernel cannot run it (then it runs in userspace).
    pub bytecode: Option<Vec<u8>>,
    /// Why the kernel does not run it, when it does not.
    pub userspace_reason: Option<String>,
    pub extras: Extras,
}

impl SocketFilter {
    /// Whether the filter keeps `socket`. ss applies no filter to TIPC
    /// sockets; neither does portwatch.
    fn matches(filter: Option<&SocketFilter>, socket: &Socket) -> bool {
        matches!(socket, Socket::Tipc(_))
            || filter.is_none_or(|f| f.expr.matches(socket, &f.extras))
    }

    /// Whether sockets from a live dump still need checking here: when the
    /// kernel could not take the filter, and, as ss does, for `autobound`,
    /// which ss also checks against the ephemeral port range.
    fn checks_in_userspace(filter: Option<&SocketFilter>) -> bool {
        filter.is_some_and(|f| {
            f.bytecode.is_none() || f.expr.conditions().iter().any(|c| matches!(c, Cond::AutoBound))
        })
    }
}

/// Receives each listed socket; an error stops the listing.
pub type Sink<'a> = dyn FnMut(Socket) -> Result<()> + 'a;

/// What the caller must tell the user once the rows are out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// The kernel flagged a dump as interrupted: rows may be missing or repeated.
    pub interrupted: bool,
    /// Socket messages that could not be decoded and were left out.
    pub undecodable: usize,
    /// Socket messages the kernel sent (for `--debug-stats`).
    pub received: usize,
    /// Things the user should know that do not make the listing incomplete
    /// (a fallback to /proc/net).
    pub notices: Vec<String>,
}

impl Outcome {
    pub fn is_complete(&self) -> bool {
        !self.interrupted && self.undecodable == 0
    }

    /// Adds what another listing found.
    pub fn absorb(&mut self, other: Outcome) {
        self.interrupted |= other.interrupted;
        self.undecodable += other.undecodable;
        self.received += other.received;
        self.notices.extend(other.notices);
    }
}

/// Lists the selected sockets from the running kernel.
///
/// When sock_diag fails before a dump has produced a row, that dump is read
/// from /proc/net instead, with one notice in the outcome.
pub fn list_live(
    os: &Os<'_>,
    selection: &Selection,
    filter: Option<&SocketFilter>,
    sink: &mut Sink<'_>,
) -> Result<Outcome> {
    let bytecode = filter.and_then(|f| f.bytecode.as_deref());
    let userspace = SocketFilter::checks_in_userspace(filter);
    let mut netlink = os.sock_diag.open().map_err(|e| DiagError::Open(e).to_string());
    let mut buffer = vec![0u8; RECV_BUFFER_LEN];
    let decoder = selection.decoder();
    let mut outcome = Outcome::default();
    let mut fallback_noticed = false;
    // One TCP walk for both families when the kernel filters (few rows,
    // whose IPv6 part waits for the IPv4 part, in ss's order).
    let one_tcp_dump = bytecode.is_some();
    for (sequence_number, request) in (1..).zip(selection.requests(one_tcp_dump)) {
        if request.netid == Netid::Raw {
            // Kernels are often built without raw_diag (this one is): raw
            // sockets come from /proc, as in ss's fallback.
            list_proc_table(os, selection, &request, filter, sink)?;
            continue;
        }
        let failure = match &mut netlink {
            Err(reason) => Failure::Unavailable(reason.clone()),
            Ok(transport) => {
                let mut delivered = 0;
                let mut later_ipv6 = Vec::new();
                let dumped = dump_live(
                    transport.as_mut(),
                    (&request, bytecode),
                    sequence_number,
                    &mut buffer,
                    &decoder,
                    &mut outcome,
                    &mut |socket| {
                        delivered += 1;
                        // Only inet_diag takes a filter; the others dump
                        // every type of their family.
                        let inet = matches!(socket, Socket::Inet(_));
                        let filtered_out =
                            (userspace || !inet) && !SocketFilter::matches(filter, &socket);
                        let unwanted = !inet && !selection.netids.contains(&socket.netid());
                        let ipv6 =
                            matches!(&socket, Socket::Inet(s) if s.family == IpFamily::Inet6);
                        match filtered_out || unwanted || !selection.wants_category(&socket) {
                            true => Ok(()),
                            false if request.both_families && ipv6 => {
                                later_ipv6.push(socket);
                                Ok(())
                            }
                            false => sink(socket),
                        }
                    },
                );
                match dumped {
                    Ok(()) => {
                        for socket in later_ipv6 {
                            sink(socket)?;
                        }
                        continue;
                    }
                    Err(DumpError::Sink(error)) => return Err(error),
                    Err(DumpError::Diag(error)) if delivered > 0 => {
                        return Err(error).with_context(|| {
                            format!("{} failed after {delivered} sockets", describe(&request))
                        });
                    }
                    Err(DumpError::Diag(error)) => {
                        if !error.leaves_transport_usable() {
                            netlink = Err(error.to_string());
                        }
                        Failure::Dump(error)
                    }
                }
            }
        };
        if !has_proc_table(request.netid) {
            if let Some(notice) = unlisted_kind(selection, &request, failure)? {
                outcome.notices.push(notice);
            }
            continue;
        }
        if !fallback_noticed {
            fallback_noticed = true;
            outcome.notices.push(format!(
                "sock_diag netlink unavailable ({failure}); reading /proc/net instead (no cookie or v6only)"
            ));
        }
        list_proc_table(os, selection, &request, filter, sink)?;
    }
    Ok(outcome)
}

/// Why a dump gave no rows.
enum Failure {
    /// No sock_diag socket to ask.
    Unavailable(String),
    Dump(DiagError),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Unavailable(reason) => f.write_str(reason),
            Failure::Dump(error) => write!(f, "{error}"),
        }
    }
}

/// The kinds a failed dump leaves to /proc/net (as ss falls back): TCP and
/// UDP (raw sockets always come from there). UNIX, netlink and packet
/// sockets have no fallback here: a named kind is an error, an implied one
/// a notice.
fn has_proc_table(netid: Netid) -> bool {
    matches!(netid, Netid::Tcp | Netid::Udp)
}

/// What a failed dump of a kind without a /proc/net fallback means: an
/// error when the kind was named, a notice when it was only implied, and
/// nothing for a kind only implied when the kernel merely lacks its diag
/// module (ss lists nothing for it either) or when no sock_diag socket
/// could be opened (the fallback's notice says so once).
fn unlisted_kind(
    selection: &Selection,
    request: &DumpRequest,
    failure: Failure,
) -> Result<Option<String>> {
    let leader = request.netid.dump_leader();
    let named = selection
        .netids
        .iter()
        .any(|netid| netid.dump_leader() == leader && !selection.optional.contains(netid));
    let module = DiagModule::of(request.netid);
    let missing = match &failure {
        Failure::Dump(DiagError::Rejected(errno) | DiagError::DumpFailed(errno)) => {
            DiagModule::is_missing(*errno)
        }
        Failure::Unavailable(_) if !named => return Ok(None),
        _ => false,
    };
    match (named, missing) {
        (true, true) => Err(anyhow::anyhow!(module.missing_message())),
        (true, false) => Err(anyhow::anyhow!("{}: {failure}", describe(request))),
        (false, true) => Ok(None),
        (false, false) => Ok(Some(format!("{} sockets were not listed: {failure}", module.kinds))),
    }
}

/// The kernel module that lists a kind, named as the kernel's
/// configuration names it.
struct DiagModule {
    /// The kinds, as a user would say them.
    kinds: &'static str,
    module: &'static str,
    config: &'static str,
}

impl DiagModule {
    fn of(netid: Netid) -> DiagModule {
        let (kinds, module, config) = match netid {
            Netid::Tcp => ("TCP", "tcp_diag", "CONFIG_INET_TCP_DIAG"),
            Netid::Udp => ("UDP", "udp_diag", "CONFIG_INET_UDP_DIAG"),
            Netid::Raw => ("raw", "raw_diag", "CONFIG_INET_RAW_DIAG"),
            Netid::Mptcp => ("MPTCP", "mptcp_diag", "CONFIG_INET_MPTCP_DIAG"),
            Netid::Dccp => ("DCCP", "dccp_diag", "CONFIG_INET_DCCP_DIAG"),
            Netid::Sctp => ("SCTP", "sctp_diag", "CONFIG_INET_SCTP_DIAG"),
            Netid::UnixStream | Netid::UnixDgram | Netid::UnixSeqpacket => {
                ("UNIX", "unix_diag", "CONFIG_UNIX_DIAG")
            }
            Netid::Netlink => ("netlink", "netlink_diag", "CONFIG_NETLINK_DIAG"),
            Netid::PacketRaw | Netid::PacketDgram => {
                ("packet", "packet_diag", "CONFIG_PACKET_DIAG")
            }
            Netid::VsockStream | Netid::VsockDgram => {
                ("vsock", "vsock_diag", "CONFIG_VSOCKETS_DIAG")
            }
            Netid::Tipc => ("TIPC", "tipc_diag", "CONFIG_TIPC_DIAG"),
            Netid::Xdp => ("XDP", "xsk_diag", "CONFIG_XDP_SOCKETS_DIAG"),
        };
        DiagModule { kinds, module, config }
    }

    /// The kernel answers ENOENT when no module handles a family or
    /// protocol (after trying to load one), DCCP's included since Linux
    /// 6.16 removed DCCP (ss's "Invalid argument" for `-d` answers the
    /// older request type ss sends for DCCP).
    fn is_missing(errno: i32) -> bool {
        errno == libc::ENOENT
    }

    fn missing_message(&self) -> String {
        format!(
            "{} sockets cannot be listed: this kernel has no {} ({})",
            self.kinds, self.module, self.config
        )
    }
}

fn list_proc_table(
    os: &Os<'_>,
    selection: &Selection,
    request: &DumpRequest,
    filter: Option<&SocketFilter>,
    sink: &mut Sink<'_>,
) -> Result<()> {
    let Some(transport) = request.netid.transport() else { return Ok(()) };
    let families = match request.both_families {
        true => selection.families.as_slice(),
        false => std::slice::from_ref(&request.family),
    };
    for &family in families {
        for socket in procnet::read_table(os.proc, transport, family, request.states)? {
            let socket = Socket::Inet(socket);
            if SocketFilter::matches(filter, &socket) && selection.wants_category(&socket) {
                sink(socket)?;
            }
        }
    }
    Ok(())
}

fn dump_live(
    transport: &mut dyn DiagTransport,
    (request, bytecode): (&DumpRequest, Option<&[u8]>),
    sequence_number: u32,
    buffer: &mut [u8],
    decoder: &SocketDecoder,
    outcome: &mut Outcome,
    sink: &mut Sink<'_>,
) -> Result<(), DumpError> {
    let mut on_message = |message: &netlink::Message<'_>| -> Result<()> {
        if let Reply::Socket(payload) = message.reply {
            outcome.received += 1;
            let decoded = decoder.decode_socket(request.netid, payload);
            match decoded {
                Ok(socket) => sink(socket)?,
                Err(_) => outcome.undecodable += 1,
            }
        }
        Ok(())
    };
    let status = netlink::run_dump(
        transport,
        &request.to_bytes(sequence_number, bytecode),
        buffer,
        &mut on_message,
    )?;
    outcome.interrupted |= status.interrupted;
    Ok(())
}

fn describe(request: &DumpRequest) -> String {
    match request.both_families {
        true => format!("sock_diag dump of {} sockets", request.netid.as_str()),
        false => format!(
            "sock_diag dump of {} {} sockets",
            request.netid.as_str(),
            request.family.as_str()
        ),
    }
}

/// Lists the selected sockets from a recording (see [`recording`]); `-`
/// reads it from standard input.
pub fn list_recorded(
    input: &mut dyn Read,
    selection: &Selection,
    filter: Option<&SocketFilter>,
    sink: &mut Sink<'_>,
) -> Result<Outcome> {
    RecordingReader::new(input).replay(selection, filter, sink)
}

/// Lists the selected sockets from the bytes of a recording.
pub fn list_recording(
    bytes: &[u8],
    selection: &Selection,
    filter: Option<&SocketFilter>,
    sink: &mut Sink<'_>,
) -> Result<Outcome> {
    RecordingReader::new(bytes).replay(selection, filter, sink)
}

/// Records the selected dumps from the running kernel to `out`.
pub fn record(
    os: &Os<'_>,
    selection: &Selection,
    filter: Option<&SocketFilter>,
    out: &mut dyn Write,
) -> Result<Outcome> {
    let bytecode = filter.and_then(|f| f.bytecode.as_deref());
    if selection.netids.iter().any(|netid| !matches!(netid, Netid::Tcp | Netid::Udp)) {
        anyhow::bail!(
            "only TCP and UDP dumps can be recorded (raw sockets come from /proc, other kinds need another format)"
        );
    }
    let mut transport = os.sock_diag.open().map_err(DiagError::Open)?;
    let mut buffer = vec![0u8; RECV_BUFFER_LEN];
    let mut outcome = Outcome::default();
    for (sequence_number, request) in (1..).zip(selection.requests(false)) {
        recording::write_dump_header(out, request.netid, request.family)?;
        let mut on_message = |message: &netlink::Message<'_>| -> Result<()> {
            out.write_all(message.bytes)?;
            Ok(())
        };
        let status = netlink::run_dump(
            transport.as_mut(),
            &request.to_bytes(sequence_number, bytecode),
            &mut buffer,
            &mut on_message,
        )
        .map_err(|error| match error {
            DumpError::Sink(error) => error,
            DumpError::Diag(error) => anyhow::Error::new(error).context(describe(&request)),
        })?;
        outcome.interrupted |= status.interrupted;
    }
    Ok(outcome)
}

/// Closes sockets through SOCK_DESTROY, on a netlink socket of its own.
pub struct Killer {
    transport: Box<dyn DiagTransport>,
    buffer: Vec<u8>,
    sequence_number: u32,
}

impl Killer {
    pub fn open(os: &Os<'_>) -> Result<Killer> {
        let transport = os.sock_diag.open().map_err(DiagError::Open)?;
        Ok(Killer { transport, buffer: vec![0; 8192], sequence_number: 0 })
    }

    /// Closes `socket`; `false` when it was already gone.
    pub fn kill(&mut self, socket: &InetSocket) -> Result<bool> {
        self.sequence_number += 1;
        match netlink::destroy(
            self.transport.as_mut(),
            socket,
            self.sequence_number,
            &mut self.buffer,
        ) {
            Ok(()) => Ok(true),
            Err(DiagError::Rejected(errno)) if errno == libc::ENOENT => Ok(false),
            Err(DiagError::Rejected(errno)) if errno == libc::EOPNOTSUPP => {
                anyhow::bail!(
                    "this kernel cannot close sockets: it was built without CONFIG_INET_DIAG_DESTROY"
                )
            }
            Err(DiagError::Rejected(errno)) if errno == libc::EPERM => {
                anyhow::bail!("closing sockets needs root (CAP_NET_ADMIN)")
            }
            Err(error) => Err(error).context("cannot close a socket"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn selection(netids: &[Netid], states: StateSet) -> Selection {
        Selection {
            netids: netids.to_vec(),
            families: IpFamily::ALL.to_vec(),
            optional: Vec::new(),
            states,
            categories: Vec::new(),
            extensions: Extensions::default(),
            details: false,
        }
    }

    #[test]
    fn tcp_dumps_never_ask_for_closed_sockets() {
        let listeners = selection(&[Netid::Udp, Netid::Tcp], StateSet::listening());
        let requests = listeners.requests(false);
        let masks: Vec<(Netid, StateSet)> = requests.iter().map(|r| (r.netid, r.states)).collect();
        let listening = StateSet::of(&[SocketState::Listening]);
        assert_eq!(
            masks,
            [
                (Netid::Udp, StateSet::listening()),
                (Netid::Udp, StateSet::listening()),
                (Netid::Tcp, listening),
                (Netid::Tcp, listening),
            ],
            "UDP keeps CLOSE (unconnected sockets), TCP asks for listeners alone"
        );
        let closed = selection(&[Netid::Tcp], StateSet::of(&[SocketState::Closed]));
        assert!(closed.requests(false).is_empty(), "no TCP dump can find a closed socket");
    }

    #[test]
    fn kinds_one_dump_lists_together_are_asked_once_and_stateless_ones_only_when_closed() {
        let kinds = [
            Netid::Netlink,
            Netid::PacketRaw,
            Netid::PacketDgram,
            Netid::UnixStream,
            Netid::UnixDgram,
            Netid::Mptcp,
        ];
        let closed = selection(&kinds, StateSet::of(&[SocketState::Closed]));
        let asked: Vec<Netid> = closed.requests(false).iter().map(|r| r.netid).collect();
        let expected = [Netid::Netlink, Netid::PacketRaw, Netid::UnixStream, Netid::Mptcp];
        assert_eq!(asked, [&expected[..], &[Netid::Mptcp]].concat(), "MPTCP once per family");
        let connected = selection(&kinds, StateSet::ss_default());
        let asked: Vec<Netid> = connected.requests(false).iter().map(|r| r.netid).collect();
        assert_eq!(asked, [Netid::UnixStream, Netid::Mptcp, Netid::Mptcp]);
    }

    #[test]
    fn a_missing_module_fails_a_named_kind_and_leaves_an_implied_one_out() {
        let mut chosen = selection(&[Netid::Sctp, Netid::Xdp], StateSet::all());
        let request = |netid| chosen.requests(false).into_iter().find(|r| r.netid == netid);
        let (sctp, xdp) = (request(Netid::Sctp).unwrap(), request(Netid::Xdp).unwrap());
        let missing = || Failure::Dump(DiagError::DumpFailed(libc::ENOENT));
        let error = unlisted_kind(&chosen, &sctp, missing()).unwrap_err().to_string();
        assert_eq!(
            error,
            "SCTP sockets cannot be listed: this kernel has no sctp_diag (CONFIG_INET_SCTP_DIAG)"
        );
        let error = unlisted_kind(&chosen, &xdp, Failure::Dump(DiagError::Rejected(libc::ENOENT)));
        assert!(error.unwrap_err().to_string().contains("xsk_diag (CONFIG_XDP_SOCKETS_DIAG)"));
        chosen.optional = vec![Netid::Sctp, Netid::Xdp];
        assert_eq!(unlisted_kind(&chosen, &sctp, missing()).unwrap(), None, "as ss: quietly");
        let refused = Failure::Dump(DiagError::Rejected(libc::EPERM));
        let notice = unlisted_kind(&chosen, &xdp, refused).unwrap().unwrap();
        assert!(notice.starts_with("XDP sockets were not listed: "), "{notice}");
        let invalid = Failure::Dump(DiagError::Rejected(libc::EINVAL));
        assert!(!unlisted_kind(&chosen, &sctp, invalid).unwrap().unwrap().contains("diag ("));
    }

    #[test]
    fn one_tcp_dump_covers_both_families_when_asked() {
        let all = selection(&[Netid::Udp, Netid::Tcp], StateSet::all());
        let one = all.requests(true);
        assert_eq!(one.len(), 3, "two UDP dumps, one TCP dump");
        assert!(one[2].both_families && one[2].netid == Netid::Tcp);
        let mut only_v6 = all.clone();
        only_v6.families = vec![IpFamily::Inet6];
        assert!(only_v6.requests(true).iter().all(|r| !r.both_families));
        let bytes = one[2].to_bytes(1, None);
        assert_eq!(u16::from_ne_bytes([bytes[4], bytes[5]]), 18, "TCPDIAG_GETSOCK");
        assert_eq!(bytes.len(), 16 + 60);
    }
}
