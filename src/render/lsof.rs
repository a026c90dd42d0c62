//! lsof -i's table: one row per process and descriptor, `COMMAND PID USER FD
//! TYPE DEVICE SIZE/OFF NODE NAME`, sorted by pid and descriptor as lsof
//! lists them. Sockets no process holds do not appear, as in lsof.

use std::io::Write;

use anyhow::Result;

use super::View;
use super::columns::{Column, ColumnTable};
use super::text::{lsof_address, netstat_state, process_label, unix_path, user_label};
use crate::model::{IpFamily, Socket, Transport, UnixKind};

/// What lsof's table shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LsofLayout {
    pub header: bool,
    pub numeric: bool,
    pub wide: bool,
}

pub struct LsofView<W: Write> {
    out: W,
    layout: LsofLayout,
    rows: Vec<Row>,
}

struct Row {
    pid: u32,
    fd: u32,
    cells: [String; 9],
}

const TITLES: [&str; 9] =
    ["COMMAND", "PID", "USER", "FD", "TYPE", "DEVICE", "SIZE/OFF", "NODE", "NAME"];

impl<W: Write> LsofView<W> {
    pub fn new(out: W, layout: LsofLayout) -> Self {
        LsofView { out, layout, rows: Vec::new() }
    }

    /// `*:http (LISTEN)`, `127.0.0.1:5432->127.0.0.1:51234 (ESTABLISHED)`,
    /// `/run/x.sock type=STREAM`.
    fn name(&self, socket: &Socket) -> String {
        let inet = match socket {
            Socket::Unix(unix) => {
                let kind = match unix.netid {
                    UnixKind::Dgram => "DGRAM",
                    UnixKind::Seqpacket => "SEQPACKET",
                    UnixKind::Stream => "STREAM",
                };
                return format!("{} type={kind}", unix_path(unix.local.path.as_deref()));
            }
            Socket::Inet(inet) => inet,
            other => return kind_name(other, self.layout.numeric),
        };
        let numeric = self.layout.numeric;
        let mut name = lsof_address(&inet.local, numeric);
        if inet.peer.port != 0 {
            name.push_str("->");
            name.push_str(&lsof_address(&inet.peer, numeric));
        }
        if inet.netid == Transport::Tcp {
            name.push_str(" (");
            name.push_str(state_label(inet.state));
            name.push(')');
        }
        name
    }
}

/// lsof's NAME for the kinds it has no address form for: the local
/// address as ss prints it (`rtnl:sshd/812`, `ip:eth0`).
fn kind_name(socket: &Socket, numeric: bool) -> String {
    let mut cells = Vec::new();
    super::kinds::push_local_and_peer(socket, numeric, &mut |cell| cells.push(cell));
    cells.truncate(2);
    cells.concat()
}

/// lsof's words for TCP states: netstat's, but CLOSED for a closed socket.
fn state_label(state: crate::model::SocketState) -> &'static str {
    match state {
        crate::model::SocketState::Closed => "CLOSED",
        state => netstat_state(state),
    }
}

impl<W: Write> View for LsofView<W> {
    fn write(&mut self, socket: &Socket) -> Result<()> {
        // An MPTCP socket's descriptor is listed once, as lsof lists it: as
        // its TCP subflow.
        let mptcp = socket.netid() == crate::model::Netid::Mptcp;
        if socket.holders().is_empty() || mptcp {
            return Ok(());
        }
        let name = self.name(socket);
        let kind = match socket {
            Socket::Inet(inet) if inet.family == IpFamily::Inet => "IPv4",
            Socket::Inet(_) => "IPv6",
            Socket::Unix(_) => "unix",
            Socket::Netlink(_) => "netlink",
            Socket::Packet(_) => "pack",
            Socket::Vsock(_) | Socket::Xdp(_) | Socket::Tipc(_) => "sock",
        };
        let node = socket.netid().as_str().to_ascii_uppercase();
        let device = socket.inode().unwrap_or(0).to_string();
        for holder in socket.holders() {
            let process = &holder.process;
            let cells = [
                process_label(process, self.layout.wide),
                process.pid.to_string(),
                user_label(process),
                format!("{}u", holder.fd),
                kind.to_owned(),
                device.clone(),
                "0t0".to_owned(),
                node.clone(),
                name.clone(),
            ];
            self.rows.push(Row { pid: process.pid, fd: holder.fd, cells });
        }
        Ok(())
    }
    fn finish(&mut self) -> Result<()> {
        let (left, right) = (Column::left(" "), Column::right(" "));
        let columns = vec![Column::left(""), right, left, right, left, right, right, right, left];
        let mut table = ColumnTable::new(columns);
        if self.layout.header {
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
