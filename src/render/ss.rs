//! ss's table: `Netid State Recv-Q Send-Q Local Address:Port Peer Address:Port
//! Process`, with ss's address forms (`*`, `0.0.0.0`, `[::]`,
//! `[::ffff:127.0.0.1]`, `%iface`), service names, and `users:((...))`.

use std::fmt::Write as _;
use std::io::Write;
use std::net::IpAddr;

use anyhow::Result;

use super::columns::{Column, ColumnTable};
use super::{Lookups, SocketWriter, escape};
use crate::model::{Endpoint, Family, NetnsLabel, PortCategory, Socket};
use crate::names::HostNames;

/// Which parts of ss's table to show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SsLayout {
    pub header: bool,
    /// ss shows Netid only when more than one protocol is selected.
    pub netid: bool,
    /// ss drops State when exactly one state is selected.
    pub state: bool,
    /// `-e`: uid, inode and cookie after the addresses.
    pub extended: bool,
    /// `-p`: `users:((...))` after the addresses.
    pub processes: bool,
    /// `--show-category`: the local port's IANA range.
    pub category: bool,
    /// `--all-netns`: a first column naming each row's namespace.
    pub netns: bool,
    /// `-o`, `-m`, `-i`: timers, memory, tcp_info.
    pub timers: bool,
    pub details: bool,
    /// `-O`: details on the socket's own line.
    pub oneline: bool,
    /// `--color`: states in colour.
    pub colour: bool,
}

/// Listening green, established blue, closing states yellow, opening cyan.
fn state_colour(label: &str) -> Option<&'static str> {
    match label {
        "LISTEN" => Some("32"),
        "ESTAB" => Some("34"),
        "SYN-SENT" | "SYN-RECV" => Some("36"),
        "FIN-WAIT-1" | "FIN-WAIT-2" | "TIME-WAIT" | "CLOSE-WAIT" | "LAST-ACK" | "CLOSING" => {
            Some("33")
        }
        _ => None,
    }
}

impl SsLayout {
    fn process_column(self) -> bool {
        self.extended || self.processes || self.timers || self.details
    }
}

pub struct SsWriter<'s, W: Write> {
    out: W,
    layout: SsLayout,
    lookups: Lookups<'s>,
    table: ColumnTable,
}

impl<'s, W: Write> SsWriter<'s, W> {
    pub fn new(out: W, layout: SsLayout, lookups: Lookups<'s>) -> Self {
        let mut table = ColumnTable::new(columns(layout));
        if layout.header {
            push_header(&mut table, layout);
        }
        SsWriter { out, layout, lookups, table }
    }
}

fn columns(layout: SsLayout) -> Vec<Column> {
    let (first, left) = (Column::left(""), Column::left(" "));
    // The address is right-aligned and glued to its left-aligned port, so
    // the colons line up as in ss.
    let (address, port) = (Column::right(" "), Column::left(""));
    let mut columns = Vec::new();
    if layout.netns {
        columns.push(first);
    }
    if layout.netid {
        columns.push(if columns.is_empty() { first } else { left });
    }
    if layout.state {
        let column = if columns.is_empty() { first } else { left };
        columns.push(if layout.colour { column.painted(state_colour) } else { column });
    }
    columns.push(if columns.is_empty() { first } else { left });
    columns.extend([left, address, port, address, port]);
    if layout.category {
        columns.push(left);
    }
    if layout.process_column() {
        columns.push(left);
    }
    columns
}

fn push_header(table: &mut ColumnTable, layout: SsLayout) {
    if layout.netns {
        table.push("Netns");
    }
    if layout.netid {
        table.push("Netid");
    }
    if layout.state {
        table.push("State");
    }
    for title in ["Recv-Q", "Send-Q", "Local Address:", "Port", "Peer Address:", "Port"] {
        table.push(title);
    }
    if layout.category {
        table.push("Category");
    }
    if layout.process_column() {
        table.push("Process");
    }
}

impl<W: Write> SocketWriter for SsWriter<'_, W> {
    fn write_socket(&mut self, socket: &Socket) -> Result<()> {
        let table = &mut self.table;
        if self.layout.netns {
            match socket.netns.as_deref() {
                Some(NetnsLabel { name: Some(name), .. }) => {
                    table.push(&escape::for_terminal(name))
                }
                Some(NetnsLabel { inode, .. }) => table.push_display(inode),
                None => table.push("-"),
            }
        }
        if self.layout.netid {
            table.push(socket.netid.as_str());
        }
        if self.layout.state {
            table.push(socket.state.ss_label());
        }
        table.push_display(socket.recv_q);
        table.push_display(socket.send_q);
        let local_interface = socket.interface.as_deref();
        if let Some(unix) = socket.unix.as_deref() {
            // ss's UNIX form: `PATH INODE` and `* PEER-INODE`.
            let name = unix.name.as_deref().map_or("*".into(), escape::for_terminal);
            table.push_with(|cell| {
                cell.push_str(&name);
                cell.push(' ');
            });
            table.push_display(socket.inode.unwrap_or(0));
            table.push("* ");
            table.push_display(unix.peer_inode.unwrap_or(0));
        } else {
            for (endpoint, interface) in [(&socket.local, local_interface), (&socket.peer, None)] {
                let hosts = self.lookups.hosts.as_mut();
                table.push_with(|cell| address_cell(cell, socket, endpoint, interface, hosts));
                let lookups = &self.lookups;
                table.push_with(|cell| lookups.push_port(cell, socket.netid, endpoint.port));
            }
        }
        if self.layout.category {
            let category = PortCategory::of(socket.local.port);
            self.table.push(category.map_or("-", PortCategory::as_str));
        }
        if self.layout.process_column() {
            let mut cell = String::new();
            if self.layout.processes {
                users_cell(&mut cell, &mut self.lookups, socket);
            }
            let details = socket.details.as_deref();
            if let Some(timer) =
                details.and_then(|d| d.timer.as_ref()).filter(|_| self.layout.timers)
            {
                separate(&mut cell, " ");
                cell.push_str(&timer.ss_text());
            }
            if self.layout.extended {
                separate(&mut cell, " ");
                extended_cell(&mut cell, socket);
            }
            let extras: Vec<String> = details
                .map(|d| {
                    let skmem = d.skmem.as_ref().map(|m| m.ss_text());
                    let info = d.tcp_info.as_ref().map(|i| i.ss_text());
                    skmem.into_iter().chain(info).collect()
                })
                .unwrap_or_default();
            if !extras.is_empty() {
                // ss puts -m and -i on a second, tab-indented line, unless -O.
                cell.push_str(if self.layout.oneline { " " } else { "\n\t " });
                cell.push_str(&extras.join(" "));
            }
            self.table.push(&cell);
        }
        self.table.flush_if_large(&mut self.out)?;
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        self.table.write_to(&mut self.out)?;
        self.out.flush()?;
        Ok(())
    }
}

fn separate(cell: &mut String, separator: &str) {
    if !cell.is_empty() {
        cell.push_str(separator);
    }
}

/// `ADDR[%IFACE]:` as ss prints the address part of an endpoint.
fn address_cell(
    cell: &mut String,
    socket: &Socket,
    endpoint: &Endpoint,
    interface: Option<&str>,
    hosts: Option<&mut HostNames<'_>>,
) {
    match (hosts.and_then(|h| h.name(endpoint.addr)), endpoint.addr) {
        (Some(name), _) => cell.push_str(&escape::for_terminal(name)),
        (None, IpAddr::V6(addr)) if addr.is_unspecified() && socket.is_dual_stack() => {
            cell.push('*');
        }
        (None, addr) if socket.family == Family::Inet6 => {
            let _ = write!(cell, "[{addr}]");
        }
        (None, addr) => {
            let _ = write!(cell, "{addr}");
        }
    }
    if let Some(interface) = interface {
        cell.push('%');
        cell.push_str(&escape::for_terminal(interface));
    }
    cell.push(':');
}

/// `users:(("nginx",pid=812,fd=6),("nginx",pid=813,fd=6))` as ss prints holders.
fn users_cell(cell: &mut String, lookups: &mut Lookups<'_>, socket: &Socket) {
    let wide = lookups.wide;
    let owners = lookups.owners_of(socket);
    if owners.is_empty() {
        return;
    }
    cell.push_str("users:(");
    for (index, (process, fd)) in owners.iter().enumerate() {
        if index > 0 {
            cell.push(',');
        }
        let name = super::process_label(process, wide);
        let _ = write!(cell, "(\"{name}\",pid={},fd={fd})", process.pid);
    }
    cell.push(')');
}

/// `-e`'s fields in ss's words: `uid:` (only when not root, as ss), `ino:`, `sk:`.
fn extended_cell(cell: &mut String, socket: &Socket) {
    if let Some(uid) = socket.uid.filter(|uid| *uid != 0) {
        let _ = write!(cell, "uid:{uid} ");
    }
    let _ = write!(cell, "ino:{}", socket.inode.unwrap_or(0));
    if let Some(cookie) = socket.cookie {
        let _ = write!(cell, " sk:{cookie:x}");
    }
}
