//! lsof -i's table: one row per process and descriptor, `COMMAND PID USER FD
//! TYPE DEVICE SIZE/OFF NODE NAME`, sorted by pid and descriptor as lsof
//! lists them. Sockets no process holds do not appear, as in lsof.

use std::io::Write;
use std::net::IpAddr;

use anyhow::Result;

use super::columns::{Column, ColumnTable};
use super::{Lookups, SocketWriter, escape, process_label};
use crate::model::{Endpoint, Family, Netid, Socket};
use crate::state::SocketState;

pub struct LsofWriter<'s, W: Write> {
    out: W,
    lookups: Lookups<'s>,
    header: bool,
    rows: Vec<Row>,
}

struct Row {
    pid: u32,
    fd: u32,
    cells: [String; 9],
}

const TITLES: [&str; 9] =
    ["COMMAND", "PID", "USER", "FD", "TYPE", "DEVICE", "SIZE/OFF", "NODE", "NAME"];

impl<'s, W: Write> LsofWriter<'s, W> {
    pub fn new(out: W, lookups: Lookups<'s>, header: bool) -> Self {
        LsofWriter { out, lookups, header, rows: Vec::new() }
    }

    /// `ADDR:PORT` as lsof prints it: `*` for any address, IPv6 in brackets.
    fn address(&mut self, netid: Netid, endpoint: &Endpoint) -> String {
        let mut text = match self.lookups.hosts.as_mut().and_then(|h| h.name(endpoint.addr)) {
            Some(name) => escape::for_terminal(name).into_owned(),
            None => match endpoint.addr {
                addr if addr.is_unspecified() => "*".to_owned(),
                IpAddr::V6(addr) => format!("[{addr}]"),
                IpAddr::V4(addr) => addr.to_string(),
            },
        };
        text.push(':');
        self.lookups.push_port(&mut text, netid, endpoint.port);
        text
    }

    /// `*:http (LISTEN)`, `127.0.0.1:5432->127.0.0.1:51234 (ESTABLISHED)`.
    fn name(&mut self, socket: &Socket) -> String {
        if let Some(path) = super::unix_end(socket, true) {
            let kind = match socket.netid {
                Netid::UnixDgram => "DGRAM",
                Netid::UnixSeqpacket => "SEQPACKET",
                _ => "STREAM",
            };
            return format!("{path} type={kind}");
        }
        let mut name = self.address(socket.netid, &socket.local);
        if socket.peer.port != 0 {
            name.push_str("->");
            name.push_str(&self.address(socket.netid, &socket.peer));
        }
        if socket.netid == Netid::Tcp {
            name.push_str(" (");
            name.push_str(state_label(socket.state));
            name.push(')');
        }
        name
    }
}

/// lsof's words for TCP states.
fn state_label(state: SocketState) -> &'static str {
    use SocketState::*;
    match state {
        Established => "ESTABLISHED",
        SynSent => "SYN_SENT",
        SynRecv => "SYN_RECV",
        FinWait1 => "FIN_WAIT1",
        FinWait2 => "FIN_WAIT2",
        TimeWait => "TIME_WAIT",
        Closed => "CLOSED",
        CloseWait => "CLOSE_WAIT",
        LastAck => "LAST_ACK",
        Listening => "LISTEN",
        Closing => "CLOSING",
    }
}

impl<W: Write> SocketWriter for LsofWriter<'_, W> {
    fn write_socket(&mut self, socket: &Socket) -> Result<()> {
        let wide = self.lookups.wide;
        let holders: Vec<(u32, u32, String, String)> = self
            .lookups
            .owners_of(socket)
            .iter()
            .map(|(process, fd)| {
                let user = match (&process.user, process.uid) {
                    (Some(user), _) => escape::for_terminal(user).into_owned(),
                    (None, Some(uid)) => uid.to_string(),
                    (None, None) => "?".to_owned(),
                };
                (process.pid, *fd, process_label(process, wide), user)
            })
            .collect();
        if holders.is_empty() {
            return Ok(());
        }
        let name = self.name(socket);
        let kind = match socket.family {
            Family::Inet => "IPv4",
            Family::Inet6 => "IPv6",
            Family::Unix => "unix",
        };
        let node = socket.netid.as_str().to_ascii_uppercase();
        let device = socket.inode.unwrap_or(0).to_string();
        for (pid, fd, command, user) in holders {
            let cells = [
                command,
                pid.to_string(),
                user,
                format!("{fd}u"),
                kind.to_owned(),
                device.clone(),
                "0t0".to_owned(),
                node.clone(),
                name.clone(),
            ];
            self.rows.push(Row { pid, fd, cells });
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        let (left, right) = (Column::left(" "), Column::right(" "));
        let columns = vec![Column::left(""), right, left, right, left, right, right, right, left];
        let mut table = ColumnTable::new(columns);
        if self.header {
            TITLES.iter().for_each(|title| table.push(title));
        }
        self.rows.sort_by_key(|row| (row.pid, row.fd));
        for row in &self.rows {
            row.cells.iter().for_each(|cell| table.push(cell));
        }
        table.write_to(&mut self.out)?;
        self.out.flush()?;
        Ok(())
    }
}
