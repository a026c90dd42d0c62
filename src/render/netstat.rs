//! netstat -tulpn's table: `Proto Recv-Q Send-Q Local Address Foreign Address
//! State PID/Program name`, with netstat's fixed column widths, so it streams.

use std::fmt::Write as _;
use std::io::Write;
use std::net::IpAddr;

use anyhow::Result;

use super::{Lookups, SocketWriter, escape, process_label};
use crate::model::{Endpoint, Family, Netid, Socket};
use crate::state::{SocketState, StateSet};

/// netstat's address columns are 23 characters wide (wider cells push on).
const ADDRESS_WIDTH: usize = 23;

pub struct NetstatWriter<'s, W: Write> {
    out: W,
    lookups: Lookups<'s>,
    processes: bool,
    line: String,
}

impl<'s, W: Write> NetstatWriter<'s, W> {
    /// Writes netstat's title and header right away unless `header` is false.
    pub fn new(
        mut out: W,
        lookups: Lookups<'s>,
        states: StateSet,
        header: bool,
        processes: bool,
    ) -> Result<Self> {
        if header {
            writeln!(out, "Active Internet connections ({})", title(states))?;
            let mut line = format!(
                "{:<5} {:>6} {:>6} {:<ADDRESS_WIDTH$} {:<ADDRESS_WIDTH$} {:<11}",
                "Proto", "Recv-Q", "Send-Q", "Local Address", "Foreign Address", "State"
            );
            if processes {
                line.push_str(" PID/Program name");
            }
            writeln!(out, "{}", line.trim_end())?;
        }
        Ok(NetstatWriter { out, lookups, processes, line: String::new() })
    }
}

fn title(states: StateSet) -> &'static str {
    let servers = StateSet::listening();
    if states.without(servers).is_empty() {
        "only servers"
    } else if states.contains(SocketState::Listening) {
        "servers and established"
    } else {
        "w/o servers"
    }
}

/// netstat's words for states; an unconnected UDP socket has none.
fn state_label(socket: &Socket) -> &'static str {
    use SocketState::*;
    match (socket.netid, socket.state) {
        (Netid::Udp | Netid::Raw, Closed) => "",
        (_, Established) => "ESTABLISHED",
        (_, SynSent) => "SYN_SENT",
        (_, SynRecv) => "SYN_RECV",
        (_, FinWait1) => "FIN_WAIT1",
        (_, FinWait2) => "FIN_WAIT2",
        (_, TimeWait) => "TIME_WAIT",
        (_, Closed) => "CLOSE",
        (_, CloseWait) => "CLOSE_WAIT",
        (_, LastAck) => "LAST_ACK",
        (_, Listening) => "LISTEN",
        (_, Closing) => "CLOSING",
    }
}

/// netstat reads /proc/net, which has no backlog for a listener: 0 there.
fn send_queue(socket: &Socket) -> u32 {
    match socket.state {
        SocketState::Listening => 0,
        _ => socket.send_q,
    }
}

/// `tcp`, `tcp6`, `udp` or `udp6`, as netstat's Proto column names sockets.
pub fn proto(socket: &Socket) -> &'static str {
    match (socket.netid, socket.family) {
        (Netid::Tcp, Family::Inet) => "tcp",
        (Netid::Tcp, Family::Inet6) => "tcp6",
        (Netid::Udp, Family::Inet) => "udp",
        (Netid::Udp, Family::Inet6) => "udp6",
        (Netid::Raw, Family::Inet) => "raw",
        (Netid::Raw, Family::Inet6) => "raw6",
        (Netid::UnixStream | Netid::UnixDgram | Netid::UnixSeqpacket, _) | (_, Family::Unix) => {
            "unix"
        }
    }
}

impl<W: Write> NetstatWriter<'_, W> {
    /// `ADDR:PORT` as netstat prints it: IPv6 without brackets.
    fn address(&mut self, socket: &Socket, endpoint: &Endpoint) -> String {
        if let Some(unix) = super::unix_end(socket, std::ptr::eq(endpoint, &socket.local)) {
            return unix;
        }
        let mut text = match self.lookups.hosts.as_mut().and_then(|h| h.name(endpoint.addr)) {
            Some(name) => escape::for_terminal(name).into_owned(),
            None => match endpoint.addr {
                IpAddr::V4(addr) => addr.to_string(),
                IpAddr::V6(addr) => addr.to_string(),
            },
        };
        text.push(':');
        self.lookups.push_port(&mut text, socket.netid, endpoint.port);
        text
    }
}

impl<W: Write> SocketWriter for NetstatWriter<'_, W> {
    fn write_socket(&mut self, socket: &Socket) -> Result<()> {
        let local = self.address(socket, &socket.local);
        let peer = self.address(socket, &socket.peer);
        self.line.clear();
        let _ = write!(
            self.line,
            "{:<5} {:>6} {:>6} {local:<ADDRESS_WIDTH$} {peer:<ADDRESS_WIDTH$} {:<11}",
            proto(socket),
            socket.recv_q,
            send_queue(socket),
            state_label(socket)
        );
        if self.processes {
            let wide = self.lookups.wide;
            let owner = match self.lookups.owners_of(socket).first() {
                Some((process, _)) => format!("{}/{}", process.pid, process_label(process, wide)),
                None => "-".to_owned(),
            };
            self.line.push(' ');
            self.line.push_str(&owner);
        }
        let line = self.line.trim_end();
        self.out.write_all(line.as_bytes())?;
        self.out.write_all(b"\n")?;
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        self.out.flush()?;
        Ok(())
    }
}
