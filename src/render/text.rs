//! How addresses, ports, states, protocols and processes read in the
//! tables, in one place for every view.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::net::IpAddr;

use super::escape;
use crate::model::{
    InetEnd, InetSocket, IpFamily, Process, Socket, SocketState, Transport, UnixKind,
};

/// The label ss prints in its State column.
pub fn ss_state(state: SocketState) -> &'static str {
    match state {
        SocketState::Established => "ESTAB",
        SocketState::SynSent => "SYN-SENT",
        SocketState::SynRecv => "SYN-RECV",
        SocketState::FinWait1 => "FIN-WAIT-1",
        SocketState::FinWait2 => "FIN-WAIT-2",
        SocketState::TimeWait => "TIME-WAIT",
        SocketState::Closed => "UNCONN",
        SocketState::CloseWait => "CLOSE-WAIT",
        SocketState::LastAck => "LAST-ACK",
        SocketState::Listening => "LISTEN",
        SocketState::Closing => "CLOSING",
    }
}

/// netstat's and lsof's words for TCP states.
pub fn netstat_state(state: SocketState) -> &'static str {
    match state {
        SocketState::Established => "ESTABLISHED",
        SocketState::SynSent => "SYN_SENT",
        SocketState::SynRecv => "SYN_RECV",
        SocketState::FinWait1 => "FIN_WAIT1",
        SocketState::FinWait2 => "FIN_WAIT2",
        SocketState::TimeWait => "TIME_WAIT",
        SocketState::Closed => "CLOSE",
        SocketState::CloseWait => "CLOSE_WAIT",
        SocketState::LastAck => "LAST_ACK",
        SocketState::Listening => "LISTEN",
        SocketState::Closing => "CLOSING",
    }
}

/// `tcp`, `tcp6`, `udp`, `udp6`, `raw`, `raw6`, `unix`: netstat's Proto
/// (`mptcp`, `dccp`, `sctp`, `6` appended for inet6, for the kinds netstat
/// does not show).
pub fn netstat_proto(socket: &Socket) -> &'static str {
    let inet = match socket {
        Socket::Inet(inet) => inet,
        Socket::Unix(_) => return "unix",
        other => return other.netid_label(),
    };
    match (inet.netid, inet.family) {
        (Transport::Tcp, IpFamily::Inet) => "tcp",
        (Transport::Tcp, IpFamily::Inet6) => "tcp6",
        (Transport::Udp, IpFamily::Inet) => "udp",
        (Transport::Udp, IpFamily::Inet6) => "udp6",
        (Transport::Raw, IpFamily::Inet) => "raw",
        (Transport::Raw, IpFamily::Inet6) => "raw6",
        (Transport::Mptcp, IpFamily::Inet) => "mptcp",
        (Transport::Mptcp, IpFamily::Inet6) => "mptcp6",
        (Transport::Dccp, IpFamily::Inet) => "dccp",
        (Transport::Dccp, IpFamily::Inet6) => "dccp6",
        (Transport::Sctp, IpFamily::Inet) => "sctp",
        (Transport::Sctp, IpFamily::Inet6) => "sctp6",
    }
}

/// A port as the tables print it: `*` for 0, else its service name unless
/// `numeric`, else the number.
pub fn push_port(out: &mut String, end: &InetEnd, numeric: bool) {
    match (end.port, end.service.as_deref()) {
        (0, _) => out.push('*'),
        (_, Some(name)) if !numeric => out.push_str(name),
        (port, _) => {
            let _ = write!(out, "{port}");
        }
    }
}

/// The host name found for an end (`-r`), escaped.
fn host_name(end: &InetEnd) -> Option<Cow<'_, str>> {
    end.host.as_ref()?.as_deref().map(escape::for_terminal)
}

/// `ADDR[%IFACE]:` as ss prints the address part of an end: `*` for a
/// dual-stack wildcard, IPv6 in brackets.
pub fn push_ss_address(cell: &mut String, socket: &InetSocket, end: &InetEnd, interface: bool) {
    match (host_name(end), end.addr) {
        (Some(name), _) => cell.push_str(&name),
        (None, IpAddr::V6(addr)) if addr.is_unspecified() && socket.is_dual_stack() => {
            cell.push('*');
        }
        (None, addr) if socket.family == IpFamily::Inet6 => {
            let _ = write!(cell, "[{addr}]");
        }
        (None, addr) => {
            let _ = write!(cell, "{addr}");
        }
    }
    if let Some(name) = socket.interface.as_deref().filter(|_| interface) {
        cell.push('%');
        cell.push_str(&escape::for_terminal(name));
    }
    cell.push(':');
}

/// `ADDR:PORT` as netstat prints it: IPv6 without brackets.
pub fn netstat_address(end: &InetEnd, numeric: bool) -> String {
    let mut text = match host_name(end) {
        Some(name) => name.into_owned(),
        None => end.addr.to_string(),
    };
    text.push(':');
    push_port(&mut text, end, numeric);
    text
}

/// `ADDR:PORT` as lsof prints it: `*` for any address, IPv6 in brackets.
pub fn lsof_address(end: &InetEnd, numeric: bool) -> String {
    let mut text = match (host_name(end), end.addr) {
        (Some(name), _) => name.into_owned(),
        (None, addr) if addr.is_unspecified() => "*".to_owned(),
        (None, IpAddr::V6(addr)) => format!("[{addr}]"),
        (None, IpAddr::V4(addr)) => addr.to_string(),
    };
    text.push(':');
    push_port(&mut text, end, numeric);
    text
}

/// The address as `who` prints it: IPv6 in brackets, then the port.
pub fn bracketed_address(end: &InetEnd, numeric: bool) -> String {
    let mut text = match end.addr {
        IpAddr::V6(addr) => format!("[{addr}]"),
        addr => addr.to_string(),
    };
    text.push(':');
    push_port(&mut text, end, numeric);
    text
}

/// A UNIX socket's path as the tables print it: `*` when unbound.
pub fn unix_path(path: Option<&str>) -> Cow<'_, str> {
    path.map_or(Cow::Borrowed("*"), escape::for_terminal)
}

/// A UNIX socket's type as netstat's Type column (and lsof) names it.
pub fn unix_type(kind: UnixKind) -> &'static str {
    match kind {
        UnixKind::Stream => "STREAM",
        UnixKind::Dgram => "DGRAM",
        UnixKind::Seqpacket => "SEQPACKET",
    }
}

/// The process name a table prints (with `wide`, the command line), escaped.
pub fn process_label(process: &Process, wide: bool) -> String {
    let name = if wide { process.wide_name() } else { process.display_name() };
    let name = escape::for_terminal(&name).into_owned();
    match &process.serves {
        Some(container) => format!("{name} (serves {})", container_label(container)),
        None => name,
    }
}

/// `docker:web`, or `docker:0123456789ab` when the runtime's files did not
/// name it; escaped.
pub fn container_label(container: &crate::model::Container) -> String {
    format!(
        "{}:{}",
        escape::for_terminal(&container.runtime),
        escape::for_terminal(&container.label())
    )
}

/// The process name inside ss's `users:(("name",...))`, escaped for quotes.
pub fn quoted_process_label(process: &Process, wide: bool) -> String {
    let name = if wide { process.wide_name() } else { process.display_name() };
    escape::for_quotes(&name).into_owned()
}

/// The login name, else the uid, else `?`, escaped.
pub fn user_label(process: &Process) -> String {
    match (&process.user, process.uid) {
        (Some(user), _) => escape::for_terminal(user).into_owned(),
        (None, Some(uid)) => uid.to_string(),
        (None, None) => "?".to_owned(),
    }
}
