//! The only code that speaks sock_diag: builds inet_diag requests, runs
//! multipart dumps to NLMSG_DONE, and decodes inet_diag replies.
//!
//! Work-arounds for netlink-packet-sock-diag 0.5 live here: its state flags
//! lack NEW_SYN_RECV (the mask is built with `from_bits_retain`), and one
//! attribute of an unexpected size fails its whole-message parser, so the
//! fixed header and the attributes are parsed separately and tolerantly.

use netlink_packet_core::{
    DoneBuffer, ErrorBuffer, NLM_F_ACK, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_REQUEST, NLMSG_DONE,
    NLMSG_ERROR, NetlinkBuffer, NetlinkHeader, NetlinkMessage, NlaBuffer, NlasIterator, Parseable,
};
use netlink_packet_sock_diag::inet::nlas::{MemInfo, Nla};
use netlink_packet_sock_diag::inet::{
    ExtensionFlags, InetRequest, InetResponseHeader, SocketId, StateFlags,
};
use netlink_packet_sock_diag::{
    INET_DIAG_CONG, INET_DIAG_INFO, INET_DIAG_MARK, INET_DIAG_SKMEMINFO, INET_DIAG_SKV6ONLY,
    SOCK_DIAG_BY_FAMILY, SockDiagDestroy, SockDiagMessage,
};

use crate::model::details::{
    BbrInfo, DctcpInfo, Details, MptcpInfo, MptcpSubflow, Shutdown, SkMem, TcpInfo, Timer,
    TimerName, UnixDetails, UnixFile,
};
use crate::model::{
    InetEnd, InetSocket, IpFamily, Netid, Socket, SocketState, StateSet, UnixEnd, UnixFamily,
    UnixKind, UnixSocket,
};
use crate::model::{InetExtras, InetSockopt};
use crate::sys::DiagTransport;

/// Large enough for any reply datagram: the kernel fills at most about
/// 32 KiB per datagram, so a 100k-socket dump costs about 1,500 recv calls.
pub const RECV_BUFFER_LEN: usize = 64 * 1024;

/// INET_DIAG_CGROUP_ID (Linux 5.7), unknown to netlink-packet-sock-diag 0.5.
const INET_DIAG_CGROUP_ID: u16 = 21;

/// INET_DIAG_TOS, INET_DIAG_TCLASS (u8 each), INET_DIAG_CLASS_ID (u32) and
/// INET_DIAG_SOCKOPT (struct inet_diag_sockopt, 2 bytes), read here by
/// number rather than through the crate's parser (which fails a whole
/// message on one attribute of an unexpected size).
const INET_DIAG_TOS: u16 = 5;
const INET_DIAG_TCLASS: u16 = 6;
const INET_DIAG_CLASS_ID: u16 = 17;
const INET_DIAG_SOCKOPT: u16 = 22;

/// INET_DIAG_PROTOCOL: the IP protocol of the socket, which the kernel adds
/// to its socket-destroy broadcasts (a dump's request already names it).
const INET_DIAG_PROTOCOL: u16 = 10;

pub use super::wire::{DiagError, NETLINK_HEADER_LEN};

/// The fixed part of an inet_diag_msg, before its attributes.
const INET_DIAG_MSG_LEN: usize = 72;

/// A failed dump: either the kernel exchange or the consumer of the rows.
#[derive(Debug)]
pub enum DumpError {
    Diag(DiagError),
    Sink(anyhow::Error),
}

/// How a completed dump went.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DumpStatus {
    /// The kernel set NLM_F_DUMP_INTR: rows may be missing or repeated.
    pub interrupted: bool,
    /// How many socket messages arrived.
    pub sockets: usize,
}

/// One inet_diag dump: a protocol, a family and a state mask.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DumpRequest {
    pub netid: Netid,
    /// Ignored for UNIX sockets, and for TCP when `both_families`.
    pub family: IpFamily,
    /// One TCP dump of both families (the kernel's older TCPDIAG_GETSOCK
    /// request): one walk of the connection table instead of two.
    pub both_families: bool,
    pub states: StateSet,
    /// What to ask for beyond the basics (`-m`, `-i`).
    pub extensions: Extensions,
}

/// The inet_diag extensions `-m`, `-i` and `--tos` ask the kernel for, and
/// what `--inet-sockopt` reads of what the kernel always sends.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Extensions {
    pub memory: bool,
    pub tcp_info: bool,
    /// INET_DIAG_TOS and INET_DIAG_TCLASS (which brings INET_DIAG_CLASS_ID).
    pub tos: bool,
    /// INET_DIAG_SOCKOPT, decoded.
    pub inet_sockopt: bool,
    /// `-e` on UNIX sockets: the bound file and a listener's pending peers.
    pub unix_files: bool,
}

impl Extensions {
    fn flags(self) -> ExtensionFlags {
        let mut flags = ExtensionFlags::empty();
        if self.tos {
            flags |= ExtensionFlags::TOS | ExtensionFlags::TCLASS;
        }
        if self.memory {
            flags |= ExtensionFlags::SKMEMINFO;
        }
        if self.tcp_info {
            // VEGASINFO asks for the congestion module's own view (Vegas,
            // DCTCP, BBR), as ss does.
            flags |= ExtensionFlags::INFO | ExtensionFlags::VEGASINFO | ExtensionFlags::CONG;
        }
        flags
    }
}

/// INET_DIAG_REQ_BYTECODE: the request's filter program. netlink-packet-
/// sock-diag 0.5's InetRequest has no attributes, so it is appended here.
const INET_DIAG_REQ_BYTECODE: u16 = 1;

/// INET_DIAG_REQ_PROTOCOL: a protocol number above 255 (MPTCP's 262), which
/// InetRequest's one-byte protocol cannot hold.
const INET_DIAG_REQ_PROTOCOL: u16 = 3;

impl DumpRequest {
    /// The states asked of the kernel. A TCP socket in CLOSE is in none of
    /// the tables a dump walks (the kernel unhashes it), so TCP is never
    /// asked for it: asking would make the kernel walk every connection
    /// for nothing when only listeners are wanted (`-l` selects CLOSE for
    /// UDP's sake).
    fn kernel_states(&self) -> u32 {
        let mask = self.states.kernel_mask();
        match self.netid {
            Netid::Tcp => mask & !(1 << SocketState::Closed as u32),
            _ => mask,
        }
    }

    /// The request message, with `bytecode` (see `filter::bytecode`) as its
    /// filter when given (inet kinds only: the others take none).
    pub fn to_bytes(&self, sequence_number: u32, bytecode: Option<&[u8]>) -> Vec<u8> {
        match self.netid.dump_leader() {
            Netid::UnixStream => {
                return unix_request(self.states, self.extensions, sequence_number);
            }
            Netid::Netlink => return super::netlink_diag::request(sequence_number),
            Netid::PacketRaw => return super::packet::request(sequence_number),
            Netid::VsockStream => return super::vsock::request(sequence_number, self.states),
            Netid::Xdp => return super::xdp::request(sequence_number),
            Netid::Tipc => return super::tipc::request(sequence_number, self.states),
            _ => {}
        }
        if self.both_families && self.netid == Netid::Tcp {
            return self.tcp_request_of_both_families(sequence_number, bytecode);
        }
        let socket_id = match self.family {
            IpFamily::Inet6 => SocketId::new_v6(),
            IpFamily::Inet => SocketId::new_v4(),
        };
        let protocol = self.netid.transport().map_or(0, |transport| transport.ip_protocol());
        let request = InetRequest {
            family: self.family.address_family(),
            protocol,
            extensions: self.extensions.flags(),
            states: StateFlags::from_bits_retain(self.kernel_states()),
            socket_id,
        };
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | NLM_F_DUMP;
        header.sequence_number = sequence_number;
        let mut message = NetlinkMessage::new(header, SockDiagMessage::InetRequest(request).into());
        message.finalize();
        let mut bytes = vec![0; message.buffer_len()];
        message.serialize(&mut bytes);
        if let Some(code) = bytecode {
            append_attribute(&mut bytes, INET_DIAG_REQ_BYTECODE, code);
        }
        if let Some(number) = self.netid.transport().and_then(|t| t.extended_protocol()) {
            append_attribute(&mut bytes, INET_DIAG_REQ_PROTOCOL, &number.to_ne_bytes());
        }
        bytes
    }
}

/// TCPDIAG_GETSOCK: the kernel's first inet_diag request type, which
/// dumps TCP sockets of every family in one walk (it sets the family to
/// AF_UNSPEC itself). netlink-packet-sock-diag 0.5 does not build it.
const TCPDIAG_GETSOCK: u16 = 18;

/// struct inet_diag_req: family, src_len, dst_len, ext, the 48-byte
/// inet_diag_sockid, states, dbs.
const INET_DIAG_REQ_V1_LEN: usize = 60;

impl DumpRequest {
    fn tcp_request_of_both_families(
        &self,
        sequence_number: u32,
        bytecode: Option<&[u8]>,
    ) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(NETLINK_HEADER_LEN + INET_DIAG_REQ_V1_LEN);
        let total = (NETLINK_HEADER_LEN + INET_DIAG_REQ_V1_LEN) as u32;
        bytes.extend_from_slice(&total.to_ne_bytes());
        bytes.extend_from_slice(&TCPDIAG_GETSOCK.to_ne_bytes());
        bytes.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
        bytes.extend_from_slice(&sequence_number.to_ne_bytes());
        bytes.extend_from_slice(&0u32.to_ne_bytes());
        let extensions = self.extensions.flags().bits();
        bytes.extend_from_slice(&[libc::AF_INET as u8, 0, 0, extensions]);
        // The socket id: ports, addresses and interface zero, no cookie.
        bytes.extend_from_slice(&[0; 40]);
        bytes.extend_from_slice(&[0xff; 8]);
        bytes.extend_from_slice(&self.kernel_states().to_ne_bytes());
        bytes.extend_from_slice(&0u32.to_ne_bytes());
        if let Some(code) = bytecode {
            append_attribute(&mut bytes, INET_DIAG_REQ_BYTECODE, code);
        }
        bytes
    }
}

/// A unix_diag dump of every UNIX socket in `states`, with name, peer,
/// queue lengths and owner uid (UDIAG_SHOW_UID, 0x40, which
/// netlink-packet-sock-diag 0.5 does not name).
fn unix_request(states: StateSet, extensions: Extensions, sequence_number: u32) -> Vec<u8> {
    use netlink_packet_sock_diag::unix::{ShowFlags, StateFlags as UnixStates, UnixRequest};
    const UDIAG_SHOW_UID: u32 = 0x40;
    let mut show = (ShowFlags::NAME | ShowFlags::PEER | ShowFlags::RQLEN).bits() | UDIAG_SHOW_UID;
    if extensions.memory {
        show |= ShowFlags::MEMINFO.bits();
    }
    if extensions.unix_files {
        show |= (ShowFlags::VFS | ShowFlags::ICONS).bits();
    }
    let request = UnixRequest {
        // The crate's state flags know only ESTABLISHED and LISTEN.
        state_flags: UnixStates::from_bits_retain(states.kernel_mask()),
        inode: 0,
        show_flags: ShowFlags::from_bits_retain(show),
        cookie: [0xff; 8],
    };
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_DUMP;
    header.sequence_number = sequence_number;
    let mut message = NetlinkMessage::new(header, SockDiagMessage::UnixRequest(request).into());
    message.finalize();
    let mut bytes = vec![0; message.buffer_len()];
    message.serialize(&mut bytes);
    bytes
}

/// Appends a netlink attribute to a message and fixes the message length.
fn append_attribute(message: &mut Vec<u8>, kind: u16, value: &[u8]) {
    let attribute_len = 4 + value.len();
    message.extend_from_slice(&(attribute_len as u16).to_ne_bytes());
    message.extend_from_slice(&kind.to_ne_bytes());
    message.extend_from_slice(value);
    message.resize(message.len().next_multiple_of(4), 0);
    let total = message.len() as u32;
    message[..4].copy_from_slice(&total.to_ne_bytes());
}

/// Closes one socket through SOCK_DESTROY (as `ss -K`), identified by its
/// addresses, ports, interface and cookie, and waits for the kernel's answer.
pub fn destroy(
    transport: &mut dyn DiagTransport,
    socket: &InetSocket,
    sequence_number: u32,
    buffer: &mut [u8],
) -> Result<(), DiagError> {
    let socket_id = SocketId {
        source_port: socket.local.port,
        destination_port: socket.peer.port,
        source_address: socket.local.addr,
        destination_address: socket.peer.addr,
        interface_id: socket.interface_index.unwrap_or(0),
        cookie: socket.cookie.unwrap_or(0).to_ne_bytes(),
    };
    let request = InetRequest {
        family: socket.family.address_family(),
        protocol: socket.netid.ip_protocol(),
        extensions: ExtensionFlags::empty(),
        states: StateFlags::from_bits_retain(u32::MAX),
        socket_id,
    };
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_ACK;
    header.sequence_number = sequence_number;
    let mut message = NetlinkMessage::new(
        header,
        SockDiagDestroy::new(SockDiagMessage::InetRequest(request)).into(),
    );
    message.finalize();
    let mut bytes = vec![0; message.buffer_len()];
    message.serialize(&mut bytes);
    transport.send(&bytes).map_err(DiagError::Io)?;
    let len = transport.recv(buffer).map_err(DiagError::Io)?;
    if len > buffer.len() {
        return Err(DiagError::Truncated { len, capacity: buffer.len() });
    }
    for message in Messages::new(&buffer[..len]) {
        message?;
    }
    Ok(())
}

/// What one reply message means for the dump it belongs to.
#[derive(Debug, PartialEq, Eq)]
pub enum Reply<'a> {
    /// An inet_diag_msg with its attributes.
    Socket(&'a [u8]),
    /// NLMSG_DONE without error: the dump is complete.
    Done,
    /// Anything else (NOOP, an ACK): nothing to do.
    Skip,
}

/// One netlink message inside a datagram or a recording.
pub struct Message<'a> {
    /// The whole message, header included, as the kernel sent it.
    pub bytes: &'a [u8],
    pub flags: u16,
    pub reply: Reply<'a>,
}

impl<'a> Message<'a> {
    /// Classifies one message that `bytes` holds whole, as a recording
    /// hands them over one at a time; anything after its length is ignored.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, DiagError> {
        next_message(bytes).map(|(message, _)| message)
    }

    pub fn is_interrupted(&self) -> bool {
        self.flags & NLM_F_DUMP_INTR != 0
    }
}

/// Splits a buffer of concatenated netlink messages, classifying each.
pub struct Messages<'a> {
    rest: &'a [u8],
}

impl<'a> Messages<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Messages { rest: bytes }
    }
}

impl<'a> Iterator for Messages<'a> {
    type Item = Result<Message<'a>, DiagError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let item = next_message(self.rest);
        match &item {
            Ok((_, rest)) => self.rest = rest,
            Err(_) => self.rest = &[],
        }
        Some(item.map(|(message, _)| message))
    }
}

fn next_message(bytes: &[u8]) -> Result<(Message<'_>, &[u8]), DiagError> {
    let buffer = NetlinkBuffer::new_checked(bytes)
        .map_err(|e| DiagError::Malformed(format!("netlink header: {e}")))?;
    let length = buffer.length() as usize;
    let message_bytes = &bytes[..length];
    let aligned = length.next_multiple_of(4).min(bytes.len());
    let flags = buffer.flags();
    let payload = &message_bytes[NETLINK_HEADER_LEN..];
    let reply = classify(buffer.message_type(), payload)?;
    let message = Message { bytes: message_bytes, flags, reply };
    Ok((message, &bytes[aligned..]))
}

fn classify(message_type: u16, payload: &[u8]) -> Result<Reply<'_>, DiagError> {
    match message_type {
        SOCK_DIAG_BY_FAMILY | TCPDIAG_GETSOCK => Ok(Reply::Socket(payload)),
        NLMSG_DONE => match done_code(payload)? {
            0.. => Ok(Reply::Done),
            // A hostile recording may carry i32::MIN.
            code => Err(DiagError::DumpFailed(code.saturating_neg())),
        },
        NLMSG_ERROR => {
            let error = ErrorBuffer::new_checked(payload)
                .map_err(|e| DiagError::Malformed(format!("NLMSG_ERROR: {e}")))?;
            match error.code() {
                Some(code) => Err(DiagError::Rejected(code.get().saturating_neg())),
                None => Ok(Reply::Skip),
            }
        }
        _ => Ok(Reply::Skip),
    }
}

fn done_code(payload: &[u8]) -> Result<i32, DiagError> {
    // The kernel may send NLMSG_DONE without its error code.
    if payload.is_empty() {
        return Ok(0);
    }
    let done = DoneBuffer::new_checked(payload)
        .map_err(|e| DiagError::Malformed(format!("NLMSG_DONE: {e}")))?;
    Ok(done.code())
}

/// Runs one dump over `transport`, handing each reply message to
/// `on_message` as it arrives, until NLMSG_DONE.
pub fn run_dump(
    transport: &mut dyn DiagTransport,
    request: &[u8],
    buffer: &mut [u8],
    on_message: &mut dyn FnMut(&Message<'_>) -> anyhow::Result<()>,
) -> Result<DumpStatus, DumpError> {
    let diag = DumpError::Diag;
    transport.send(request).map_err(|e| diag(DiagError::Io(e)))?;
    let mut status = DumpStatus::default();
    loop {
        let len = transport.recv(buffer).map_err(|e| diag(DiagError::Io(e)))?;
        if len > buffer.len() {
            return Err(diag(DiagError::Truncated { len, capacity: buffer.len() }));
        }
        if len == 0 {
            return Err(diag(DiagError::Malformed("empty datagram before NLMSG_DONE".into())));
        }
        for message in Messages::new(&buffer[..len]) {
            let message = message.map_err(diag)?;
            status.interrupted |= message.is_interrupted();
            on_message(&message).map_err(DumpError::Sink)?;
            match message.reply {
                Reply::Socket(_) => status.sockets += 1,
                Reply::Done => return Ok(status),
                Reply::Skip => {}
            }
        }
    }
}

/// The kind of socket an inet_diag message is about, from its
/// INET_DIAG_PROTOCOL attribute; `None` without one, or for a protocol
/// portwatch does not list.
pub fn inet_netid(payload: &[u8]) -> Option<Netid> {
    let attributes = payload.get(INET_DIAG_MSG_LEN..)?;
    NlasIterator::new(attributes)
        .filter_map(Result::ok)
        .find(|nla: &NlaBuffer<&[u8]>| nla.kind() == INET_DIAG_PROTOCOL)
        .and_then(|nla| nla.value().first().copied())
        .and_then(crate::model::Transport::from_ip_protocol)
        .map(crate::model::Transport::netid)
}

/// Turns inet_diag and unix_diag messages into sockets.
#[derive(Clone, Copy, Debug, Default)]
pub struct SocketDecoder {
    /// Decode timers, memory and tcp_info (`-o`, `-m`, `-i`).
    pub details: bool,
    /// Decode INET_DIAG_SOCKOPT (`--inet-sockopt`).
    pub inet_sockopt: bool,
}

impl SocketDecoder {
    /// Decodes a reply of the dump for `netid` (any kind of its dump).
    pub fn decode_socket(&self, netid: Netid, payload: &[u8]) -> Result<Socket, DiagError> {
        let memory = self.details;
        Ok(match netid.dump_leader() {
            Netid::UnixStream => Socket::Unix(self.decode_unix(payload)?),
            Netid::Netlink => Socket::Netlink(super::netlink_diag::decode(payload, memory)?),
            Netid::PacketRaw => Socket::Packet(super::packet::decode(payload, memory)?),
            Netid::VsockStream => Socket::Vsock(super::vsock::decode(payload)?),
            Netid::Xdp => Socket::Xdp(super::xdp::decode(payload)?),
            Netid::Tipc => Socket::Tipc(super::tipc::decode(payload)?),
            _ => Socket::Inet(self.decode(netid, payload)?),
        })
    }

    pub fn decode(&self, netid: Netid, payload: &[u8]) -> Result<InetSocket, DiagError> {
        let header = InetResponseHeader::parse(payload)
            .map_err(|e| DiagError::Malformed(format!("inet_diag_msg: {e}")))?;
        let transport = netid.transport().ok_or_else(|| {
            DiagError::Malformed(format!("an inet reply in a {} dump", netid.as_str()))
        })?;
        let family = IpFamily::from_address_family(header.family).ok_or_else(|| {
            DiagError::Malformed(format!("unexpected address family {}", header.family))
        })?;
        let state = SocketState::from_kernel(header.state).ok_or_else(|| {
            DiagError::Malformed(format!("unexpected socket state {}", header.state))
        })?;
        let id = &header.socket_id;
        let has_owner = !matches!(state, SocketState::TimeWait)
            && header.state != crate::model::state::KERNEL_NEW_SYN_RECV;
        let cookie = u64::from_ne_bytes(id.cookie);
        let attributes_bytes = &payload[INET_DIAG_MSG_LEN.min(payload.len())..];
        let mut attributes =
            Attributes::parse(attributes_bytes, self.details, netid == Netid::Mptcp);
        if !self.inet_sockopt {
            attributes.extras.inet_sockopt = None;
        }
        let extras = std::mem::take(&mut attributes.extras);
        Ok(InetSocket {
            recv_q: header.recv_queue,
            send_q: header.send_queue,
            local: InetEnd::new(id.source_address, id.source_port),
            peer: InetEnd::new(id.destination_address, id.destination_port),
            uid: has_owner.then_some(header.uid),
            inode: (header.inode != 0).then_some(header.inode),
            cookie: (cookie != 0).then_some(cookie),
            interface_index: (id.interface_id != 0).then_some(id.interface_id),
            mark: attributes.mark,
            cgroup_id: attributes.cgroup_id,
            v6only: attributes.v6only,
            extras,
            details: if self.details { attributes.details(payload) } else { Details::default() },
            ..InetSocket::new(transport, family, state)
        })
    }
}

/// struct unix_diag_msg: family, type, state, pad, inode, cookie.
const UNIX_DIAG_MSG_LEN: usize = 16;
const UNIX_DIAG_NAME: u16 = 0;
const UNIX_DIAG_PEER: u16 = 2;
const UNIX_DIAG_RQLEN: u16 = 4;
const UNIX_DIAG_UID: u16 = 7;
const UNIX_DIAG_VFS: u16 = 1;
const UNIX_DIAG_ICONS: u16 = 3;
const UNIX_DIAG_MEMINFO: u16 = 5;
const UNIX_DIAG_SHUTDOWN: u16 = 6;

impl SocketDecoder {
    /// Decodes a unix_diag_msg (and its name, peer, queues and uid).
    pub fn decode_unix(&self, payload: &[u8]) -> Result<UnixSocket, DiagError> {
        use netlink_packet_sock_diag::unix::UnixResponseHeader;
        use netlink_packet_sock_diag::unix::nlas::UnixDiagName;
        let header = UnixResponseHeader::parse(payload)
            .map_err(|e| DiagError::Malformed(format!("unix_diag_msg: {e}")))?;
        let kind = UnixKind::from_socket_type(header.kind).ok_or_else(|| {
            DiagError::Malformed(format!("unexpected UNIX socket type {}", header.kind))
        })?;
        let state = SocketState::from_kernel(header.state).ok_or_else(|| {
            DiagError::Malformed(format!("unexpected socket state {}", header.state))
        })?;
        let (mut name, mut peer_inode, mut queues, mut uid) = (None, None, (0, 0), None);
        let mut details = UnixDetails::default();
        for nla in NlasIterator::new(&payload[UNIX_DIAG_MSG_LEN.min(payload.len())..])
            .filter_map(Result::ok)
        {
            let nla: NlaBuffer<&[u8]> = nla;
            let value = nla.value();
            match nla.kind() {
                UNIX_DIAG_NAME => {
                    name = match UnixDiagName::parse(&value) {
                        Ok(UnixDiagName::Pathname(path)) => {
                            Some(path.to_string_lossy().into_owned())
                        }
                        Ok(UnixDiagName::Abstract(bytes)) => {
                            Some(format!("@{}", String::from_utf8_lossy(&bytes)))
                        }
                        Err(_) => None,
                    };
                }
                UNIX_DIAG_PEER => peer_inode = u32_word(value, 0).filter(|inode| *inode != 0),
                UNIX_DIAG_RQLEN => {
                    queues = (u32_word(value, 0).unwrap_or(0), u32_word(value, 1).unwrap_or(0))
                }
                UNIX_DIAG_UID => uid = u32_word(value, 0),
                kind if self.details => details.parse(kind, value),
                _ => {}
            }
        }
        let cookie = u64::from_ne_bytes(header.cookie);
        let inode = (header.inode != 0).then_some(header.inode);
        Ok(UnixSocket {
            netid: kind,
            family: UnixFamily::Unix,
            state,
            recv_q: queues.0,
            send_q: queues.1,
            local: UnixEnd { path: name, inode },
            peer: UnixEnd { path: None, inode: peer_inode },
            uid,
            inode,
            cookie: (cookie != 0).then_some(cookie),
            details,
            netns: None,
            owners: None,
            proc_entry: None,
        })
    }
}

/// The attributes portwatch reads; others, and any it cannot parse (such as
/// a tcp_info of another size than netlink-packet-sock-diag expects), are
/// skipped.
#[derive(Default)]
struct Attributes {
    v6only: Option<bool>,
    mark: Option<u32>,
    cgroup_id: Option<u64>,
    memory: Option<MemInfo>,
    tcp_info: Option<Box<netlink_packet_sock_diag::inet::nlas::TcpInfo>>,
    congestion: Option<String>,
    congestion_info: CongestionInfo,
    ulp: Option<String>,
    mptcp_subflow: Option<MptcpSubflow>,
    mptcp_info: Option<MptcpInfo>,
    shutdown: Option<u8>,
    extras: InetExtras,
}

/// What the congestion-control module adds (INET_DIAG_VEGASINFO,
/// INET_DIAG_DCTCPINFO, INET_DIAG_BBRINFO), undecoded until needed.
#[derive(Debug, Default)]
struct CongestionInfo {
    vegas: Option<[u32; 4]>,
    dctcp: Option<DctcpInfo>,
    bbr: Option<BbrInfo>,
}

const INET_DIAG_VEGASINFO: u16 = 3;
const INET_DIAG_SHUTDOWN: u16 = 8;
const INET_DIAG_DCTCPINFO: u16 = 9;
const INET_DIAG_BBRINFO: u16 = 16;
const INET_DIAG_ULP_INFO: u16 = 19;
/// INET_ULP_INFO_NAME, inside INET_DIAG_ULP_INFO.
const INET_ULP_INFO_NAME: u16 = 1;

/// struct mptcp_info: six counters of one byte, then flags, token and
/// three sequence numbers; a shorter struct (an older kernel) reads as
/// zeros past its end, as ss reads it.
fn mptcp_info(value: &[u8]) -> Option<MptcpInfo> {
    const FALLBACK: u32 = 1;
    const REMOTE_KEY_RECEIVED: u32 = 2;
    let byte = |at: usize| value.get(at).copied().unwrap_or(0);
    let u32_at = |at: usize| {
        value.get(at..at + 4).map_or(0, |b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
    };
    let u64_at = |at: usize| {
        value.get(at..at + 8).and_then(|b| b.try_into().ok()).map_or(0, u64::from_ne_bytes)
    };
    let flags = u32_at(8);
    (!value.is_empty()).then(|| MptcpInfo {
        subflows: byte(0),
        add_addr_signal: byte(1),
        add_addr_accepted: byte(2),
        subflows_max: byte(3),
        add_addr_signal_max: byte(4),
        add_addr_accepted_max: byte(5),
        fallback: flags & FALLBACK != 0,
        remote_key_received: flags & REMOTE_KEY_RECEIVED != 0,
        token: u32_at(12),
        write_seq: u64_at(16),
        snd_una: u64_at(24),
        rcv_nxt: u64_at(32),
    })
}

/// INET_ULP_INFO_MPTCP, inside INET_DIAG_ULP_INFO.
const INET_ULP_INFO_MPTCP: u16 = 3;

/// The name in an INET_DIAG_ULP_INFO attribute, and an MPTCP subflow's state.
fn ulp_info(value: &[u8]) -> (Option<String>, Option<MptcpSubflow>) {
    let (mut name, mut subflow) = (None, None);
    for nla in NlasIterator::new(value).filter_map(Result::ok) {
        let nla: NlaBuffer<&[u8]> = nla;
        let bytes = nla.value();
        match nla.kind() {
            INET_ULP_INFO_NAME => {
                let text = bytes.split(|&b| b == 0).next().unwrap_or(bytes);
                name = Some(String::from_utf8_lossy(text).into_owned());
            }
            INET_ULP_INFO_MPTCP => subflow = Some(mptcp_subflow(bytes)),
            _ => {}
        }
    }
    (name, subflow)
}

/// The MPTCP_SUBFLOW_ATTR_* attributes of a subflow.
fn mptcp_subflow(value: &[u8]) -> MptcpSubflow {
    let mut subflow = MptcpSubflow::default();
    for nla in NlasIterator::new(value).filter_map(Result::ok) {
        let nla: NlaBuffer<&[u8]> = nla;
        let bytes = nla.value();
        let word = u32_word(bytes, 0);
        match nla.kind() {
            1 => subflow.remote_token = word,
            2 => subflow.local_token = word,
            4 => {
                subflow.map_seq =
                    bytes.get(..8).and_then(|b| b.try_into().ok()).map(u64::from_ne_bytes)
            }
            5 => subflow.map_subflow_seq = word,
            6 => subflow.ssn_offset = word,
            // A u16 (the kernel's nla_put_u16), which ss reads as a u32.
            7 => {
                subflow.map_data_len =
                    bytes.get(..2).map(|b| u32::from(u16::from_ne_bytes([b[0], b[1]])))
            }
            8 => subflow.flags = word,
            9 => subflow.remote_id = bytes.first().copied(),
            10 => subflow.local_id = bytes.first().copied(),
            _ => {}
        }
    }
    subflow
}

/// The `index`th native-endian u32 word (not byte offset) of an attribute's value.
fn u32_word(bytes: &[u8], index: usize) -> Option<u32> {
    let at = index * 4;
    bytes.get(at..at + 4)?.try_into().ok().map(u32::from_ne_bytes)
}

impl CongestionInfo {
    fn parse(&mut self, kind: u16, value: &[u8]) {
        let words =
            |count: usize| (0..count).map(|i| u32_word(value, i)).collect::<Option<Vec<_>>>();
        match kind {
            INET_DIAG_VEGASINFO => {
                self.vegas = words(4).and_then(|w| w.try_into().ok());
            }
            INET_DIAG_DCTCPINFO => {
                // struct tcp_dctcp_info opens with two native u16s.
                let u16_at =
                    |at: usize| value.get(at..at + 2).map(|b| u16::from_ne_bytes([b[0], b[1]]));
                self.dctcp =
                    words(4).zip(u16_at(0).zip(u16_at(2))).map(|(w, (enabled, ce_state))| {
                        DctcpInfo {
                            enabled: enabled != 0,
                            ce_state,
                            alpha: w[1],
                            ab_ecn: w[2],
                            ab_tot: w[3],
                        }
                    });
            }
            INET_DIAG_BBRINFO => {
                self.bbr = words(5).map(|w| BbrInfo {
                    bw_bytes_per_sec: u64::from(w[1]) << 32 | u64::from(w[0]),
                    min_rtt_us: w[2],
                    pacing_gain: w[3],
                    cwnd_gain: w[4],
                });
            }
            _ => {}
        }
    }

    /// Vegas's own RTT sample, which ss prefers for the send rate.
    fn vegas_rtt_us(&self) -> Option<u32> {
        let [enabled, _, rtt, _] = self.vegas?;
        (enabled != 0 && rtt != 0 && rtt != 0x7fff_ffff).then_some(rtt)
    }
}

impl Attributes {
    /// `mptcp`: INET_DIAG_INFO holds a struct mptcp_info, not tcp_info.
    fn parse(bytes: &[u8], details: bool, mptcp: bool) -> Attributes {
        let mut attributes = Attributes::default();
        for nla in NlasIterator::new(bytes).filter_map(Result::ok) {
            let nla: NlaBuffer<&[u8]> = nla;
            match nla.kind() {
                INET_DIAG_SKV6ONLY | INET_DIAG_MARK => match Nla::parse(&nla) {
                    Ok(Nla::SkV6Only(v6only)) => attributes.v6only = Some(v6only),
                    Ok(Nla::Mark(mark)) => attributes.mark = Some(mark),
                    _ => {}
                },
                INET_DIAG_INFO if details && mptcp => {
                    attributes.mptcp_info = mptcp_info(nla.value());
                }
                INET_DIAG_SKMEMINFO | INET_DIAG_INFO | INET_DIAG_CONG if details => {
                    match Nla::parse(&nla) {
                        Ok(Nla::MemInfo(memory)) => attributes.memory = Some(memory),
                        Ok(Nla::TcpInfo(info)) => attributes.tcp_info = Some(Box::new(info)),
                        Ok(Nla::Congestion(name)) => attributes.congestion = Some(name),
                        _ => {}
                    }
                }
                INET_DIAG_VEGASINFO | INET_DIAG_DCTCPINFO | INET_DIAG_BBRINFO if details => {
                    attributes.congestion_info.parse(nla.kind(), nla.value());
                }
                INET_DIAG_ULP_INFO if details => {
                    (attributes.ulp, attributes.mptcp_subflow) = ulp_info(nla.value());
                }
                INET_DIAG_SHUTDOWN => attributes.shutdown = nla.value().first().copied(),
                // netlink-packet-sock-diag 0.5 has no type for it: a u64.
                INET_DIAG_CGROUP_ID => {
                    attributes.cgroup_id = nla.value().try_into().ok().map(u64::from_ne_bytes);
                }
                INET_DIAG_TOS => attributes.extras.tos = nla.value().first().copied(),
                INET_DIAG_TCLASS => attributes.extras.tclass = nla.value().first().copied(),
                INET_DIAG_CLASS_ID => {
                    attributes.extras.class_id =
                        nla.value().try_into().ok().map(u32::from_ne_bytes);
                }
                INET_DIAG_SOCKOPT => {
                    attributes.extras.inet_sockopt = nla
                        .value()
                        .get(..2)
                        .and_then(|bytes| bytes.try_into().ok())
                        .map(InetSockopt::from_kernel);
                }
                _ => {}
            }
        }
        attributes
    }
}

impl Attributes {
    /// The `-o`, `-m`, `-i` details; the timer comes from the fixed header,
    /// read directly since the crate's Timer drops TIME-WAIT's expiry.
    fn details(self, payload: &[u8]) -> Details {
        let expires = payload.get(52..56).and_then(|b| b.try_into().ok()).map(u32::from_ne_bytes);
        let timer = match (payload.get(2), payload.get(3), expires) {
            (Some(&code), Some(&retrans), Some(expires)) => timer(code, expires, retrans),
            _ => None,
        };
        let skmem = self.memory.map(|m| SkMem {
            rmem_alloc_bytes: m.receive_queue,
            rcvbuf_bytes: m.receive_queue_max,
            wmem_alloc_bytes: m.send_queue,
            sndbuf_bytes: m.send_queue_max,
            // netlink-packet-sock-diag 0.5 reads SK_MEMINFO_FWD_ALLOC into
            // `cache` and SK_MEMINFO_WMEM_QUEUED into `bottom_send_queues`.
            fwd_alloc_bytes: m.cache,
            wmem_queued_bytes: m.bottom_send_queues,
            optmem_bytes: m.options,
            backlog_bytes: m.backlog_queue_length,
            drops: m.drops,
        });
        let (congestion, info) = (self.congestion, self.congestion_info);
        let (ulp, mptcp_subflow) = (self.ulp, self.mptcp_subflow);
        let tcp_info = self.tcp_info.map(|tcp| {
            Box::new(TcpInfo { ulp, mptcp_subflow, ..tcp_info(&tcp, congestion, info) })
        });
        let shutdown = self.shutdown.map(Shutdown::from_mask);
        Details { timer, skmem, tcp_info, shutdown, mptcp_info: self.mptcp_info }
    }
}

/// inet_diag_msg's idiag_timer, idiag_expires and idiag_retrans; `None`
/// when no timer runs.
fn timer(code: u8, expires_ms: u32, retrans: u8) -> Option<Timer> {
    let name = match code {
        0 => return None,
        1 => TimerName::On,
        2 => TimerName::Keepalive,
        3 => TimerName::Timewait,
        4 => TimerName::Persist,
        _ => TimerName::Unknown,
    };
    Some(Timer { name, expires_ms, retrans })
}

trait UnixAttribute {
    fn parse(&mut self, kind: u16, value: &[u8]);
}

impl UnixAttribute for UnixDetails {
    /// UNIX_DIAG_SHUTDOWN, _VFS, _ICONS and _MEMINFO.
    fn parse(&mut self, kind: u16, value: &[u8]) {
        match kind {
            UNIX_DIAG_SHUTDOWN => self.shutdown = value.first().copied().map(Shutdown::from_mask),
            UNIX_DIAG_VFS => {
                if let (Some(inode), Some(dev)) = (u32_word(value, 0), u32_word(value, 1)) {
                    let (dev_major, dev_minor) = userspace_major_minor(dev);
                    self.file = Some(UnixFile { inode, dev_major, dev_minor });
                }
            }
            UNIX_DIAG_ICONS => {
                self.pending_peers =
                    Some((0..value.len() / 4).filter_map(|i| u32_word(value, i)).collect());
            }
            UNIX_DIAG_MEMINFO => self.skmem = super::wire::skmem(value),
            _ => {}
        }
    }
}

/// A device number split as glibc's major() and minor() split it (what
/// ss prints), though the kernel sends its own encoding (major << 20).
fn userspace_major_minor(dev: u32) -> (u32, u32) {
    ((dev >> 8) & 0xfff, (dev & 0xff) | ((dev >> 12) & 0xfff00))
}

/// The kernel's TCP_INFINITE_SSTHRESH.
const INFINITE_SSTHRESH: u32 = 0x7fff_ffff;
const TCPI_OPT_TIMESTAMPS: u8 = 1;
const TCPI_OPT_SACK: u8 = 2;
const TCPI_OPT_WSCALE: u8 = 4;
const TCPI_OPT_ECN: u8 = 8;
const TCPI_OPT_ECN_SEEN: u8 = 16;
const TCPI_OPT_SYN_DATA: u8 = 32;

/// tcp_info in plain units, with ss's derived send rate.
fn tcp_info(
    info: &netlink_packet_sock_diag::inet::nlas::TcpInfo,
    congestion: Option<String>,
    congestion_info: CongestionInfo,
) -> TcpInfo {
    let has = |option: u8| info.options & option != 0;
    let wscale = has(TCPI_OPT_WSCALE);
    TcpInfo {
        congestion,
        timestamps: has(TCPI_OPT_TIMESTAMPS),
        sack: has(TCPI_OPT_SACK),
        ecn: has(TCPI_OPT_ECN),
        ecn_seen: has(TCPI_OPT_ECN_SEEN),
        fastopen: has(TCPI_OPT_SYN_DATA),
        snd_wscale: wscale.then_some(info.wscale & 0x0f),
        rcv_wscale: wscale.then_some(info.wscale >> 4),
        rto_us: info.rto,
        ato_us: info.ato,
        backoff: info.backoff,
        rtt_us: info.rtt,
        rttvar_us: info.rttvar,
        min_rtt_us: info.min_rtt,
        snd_mss_bytes: info.snd_mss,
        rcv_mss_bytes: info.rcv_mss,
        advmss_bytes: info.advmss,
        pmtu_bytes: info.pmtu,
        snd_cwnd_segments: info.snd_cwnd,
        snd_ssthresh_segments: (info.snd_ssthresh < INFINITE_SSTHRESH).then_some(info.snd_ssthresh),
        bytes_sent: info.bytes_sent,
        bytes_retrans: info.bytes_retrans,
        bytes_acked: info.bytes_acked,
        bytes_received: info.bytes_received,
        segs_out: info.segs_out,
        segs_in: info.segs_in,
        data_segs_out: info.data_segs_out,
        data_segs_in: info.data_segs_in,
        send_rate_bps: match congestion_info.vegas_rtt_us().unwrap_or(info.rtt) {
            0 => 0,
            // Rounded as ss rounds its floating-point figure.
            rtt => {
                let bits = f64::from(info.snd_cwnd) * f64::from(info.snd_mss) * 8_000_000.0;
                (bits / f64::from(rtt)).round() as u64
            }
        },
        // u64::MAX: no pacing.
        pacing_rate_bps: match info.pacing_rate {
            u64::MAX => 0,
            rate => rate.saturating_mul(8),
        },
        max_pacing_rate_bps: match info.max_pacing_rate {
            0 | u64::MAX => None,
            rate => Some(rate.saturating_mul(8)),
        },
        delivery_rate_bps: info.delivery_rate.saturating_mul(8),
        delivery_rate_app_limited: info.delivery_rate_app_limited & 1 != 0,
        delivered: info.delivered,
        delivered_ce: info.delivered_ce,
        busy_time_us: info.busy_time,
        rwnd_limited_us: info.rwnd_limited,
        sndbuf_limited_us: info.sndbuf_limited,
        unacked: info.unacked,
        retrans: info.retrans,
        total_retrans: info.total_retrans,
        lost: info.lost,
        sacked: info.sacked,
        dsack_dups: info.dsack_dups,
        fackets: info.fackets,
        reordering: info.reordering,
        reord_seen: info.reord_seen,
        rcv_rtt_us: info.rcv_rtt,
        rcv_space_bytes: info.rcv_space,
        rcv_ssthresh_bytes: info.rcv_ssthresh,
        notsent_bytes: info.notsent_bytes,
        last_send_ms: info.last_data_sent,
        last_recv_ms: info.last_data_recv,
        last_ack_ms: info.last_ack_recv,
        snd_wnd_bytes: info.snd_wnd,
        rcv_ooopack: info.rcv_ooopack,
        bbr: congestion_info.bbr,
        dctcp: congestion_info.dctcp,
        ulp: None,
        mptcp_subflow: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(message_type: u16, flags: u16, payload: &[u8]) -> Vec<u8> {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&((16 + payload.len()) as u32).to_ne_bytes());
        bytes.extend_from_slice(&message_type.to_ne_bytes());
        bytes.extend_from_slice(&flags.to_ne_bytes());
        bytes.extend_from_slice(&[0; 8]);
        bytes.extend_from_slice(payload);
        bytes
    }

    #[test]
    fn request_carries_protocol_family_and_states() {
        let request = DumpRequest {
            netid: Netid::Udp,
            family: IpFamily::Inet6,
            both_families: false,
            states: StateSet::of(&[SocketState::SynRecv]),
            extensions: Extensions::default(),
        };
        let bytes = request.to_bytes(7, None);
        assert_eq!(bytes.len(), 16 + 56);
        assert_eq!(u16::from_ne_bytes([bytes[4], bytes[5]]), SOCK_DIAG_BY_FAMILY);
        assert_eq!(u16::from_ne_bytes([bytes[6], bytes[7]]), NLM_F_REQUEST | NLM_F_DUMP);
        assert_eq!(bytes[16], libc::AF_INET6 as u8);
        assert_eq!(bytes[17], libc::IPPROTO_UDP as u8);
        let mask = u32::from_ne_bytes([bytes[20], bytes[21], bytes[22], bytes[23]]);
        assert_eq!(mask, (1 << 3) | (1 << 12), "NEW_SYN_RECV rides along with SYN-RECV");
        let filtered = request.to_bytes(7, Some(&[6, 4, 8, 0, 0, 0]));
        assert_eq!(filtered.len(), 72 + 12, "attribute header, 6 bytes, 2 of padding");
        assert_eq!(u32::from_ne_bytes(filtered[..4].try_into().unwrap()), 84);
        assert_eq!(&filtered[72..78], &[10, 0, 1, 0, 6, 4]);
    }

    #[test]
    fn tcp_is_never_asked_for_close_so_listeners_skip_the_connections() {
        let asked = |netid, both_families| {
            let request = DumpRequest {
                netid,
                family: IpFamily::Inet,
                both_families,
                states: StateSet::listening(),
                extensions: Extensions::default(),
            };
            let bytes = request.to_bytes(1, None);
            // inet_diag_req_v2 has the states after 4 bytes; the old
            // inet_diag_req, 8 bytes before its end.
            let at = if both_families { bytes.len() - 8 } else { 20 };
            u32::from_ne_bytes(bytes[at..at + 4].try_into().unwrap())
        };
        assert_eq!(asked(Netid::Tcp, false), 1 << 10, "LISTEN alone");
        assert_eq!(asked(Netid::Tcp, true), 1 << 10, "LISTEN alone, both families");
        assert_eq!(asked(Netid::Udp, false), (1 << 7) | (1 << 10), "UDP's bound sockets are CLOSE");
    }

    #[test]
    fn mptcp_is_asked_by_its_protocol_attribute() {
        let request = DumpRequest {
            netid: Netid::Mptcp,
            family: IpFamily::Inet,
            both_families: false,
            states: StateSet::all(),
            extensions: Extensions::default(),
        };
        let bytes = request.to_bytes(1, None);
        assert_eq!(bytes.len(), 16 + 56 + 8);
        assert_eq!(bytes[17], libc::IPPROTO_TCP as u8, "the byte holds 262 as ss sends it");
        assert_eq!(&bytes[72..76], &[8, 0, 3, 0], "INET_DIAG_REQ_PROTOCOL");
        assert_eq!(u32::from_ne_bytes(bytes[76..80].try_into().unwrap()), 262);
        assert_eq!(u32::from_ne_bytes(bytes[..4].try_into().unwrap()), 80);
    }

    #[test]
    fn done_with_error_is_an_error() {
        let bytes = message(NLMSG_DONE, 2, &(-2i32).to_ne_bytes());
        let result: Vec<_> = Messages::new(&bytes).collect();
        assert!(matches!(result[0], Err(DiagError::DumpFailed(2))));
    }

    #[test]
    fn empty_done_ends_the_dump() {
        let bytes = message(NLMSG_DONE, 2, &[]);
        let first = Messages::new(&bytes).next().unwrap().unwrap();
        assert_eq!(first.reply, Reply::Done);
    }

    #[test]
    fn error_message_names_the_errno() {
        let mut payload = (-22i32).to_ne_bytes().to_vec();
        payload.extend_from_slice(&[0; 16]);
        let bytes = message(NLMSG_ERROR, 0, &payload);
        let error = Messages::new(&bytes).next().unwrap().err().unwrap();
        assert!(matches!(error, DiagError::Rejected(22)));
        assert!(error.to_string().contains("Invalid argument"), "{error}");
    }

    #[test]
    fn a_cut_message_is_malformed_not_a_panic() {
        let bytes = message(SOCK_DIAG_BY_FAMILY, 2, &[0; 72]);
        let error = Messages::new(&bytes[..40]).next().unwrap().err().unwrap();
        assert!(matches!(error, DiagError::Malformed(_)));
        let decoder = SocketDecoder::default();
        assert!(decoder.decode(Netid::Tcp, &[2, 1, 0]).is_err());
        assert!(decoder.decode(Netid::Tcp, &[99; 72]).is_err());
    }
}
