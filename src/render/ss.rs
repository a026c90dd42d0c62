//! ss's table: `Netid State Recv-Q Send-Q Local Address:Port Peer Address:Port
//! Process`, with ss's address forms (`*`, `0.0.0.0`, `[::]`,
//! `[::ffff:127.0.0.1]`, `%iface`), service names, and `users:((...))`.

use std::fmt::Write as _;
use std::io::Write;

use anyhow::Result;

use super::columns::{Column, ColumnTable};
use super::details::{skmem_text, tcp_info_text, timer_text};
use super::text::{push_port, push_ss_address, quoted_process_label, ss_state, unix_path};
use super::{View, escape, kinds};
use crate::model::{InetSocket, NetnsLabel, PortCategory, Socket};

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
    /// `--show-firewall`: the firewall's verdict for listeners.
    pub firewall: bool,
    /// `--all-netns`: a first column naming each row's namespace.
    pub netns: bool,
    /// `-o`, `-m`, `-i`: timers, memory, tcp_info.
    pub timers: bool,
    pub details: bool,
    /// `-O`: details on the socket's own line.
    pub oneline: bool,
    /// `--color`: states in colour.
    pub colour: bool,
    /// `-n`: port numbers, not service names.
    pub numeric: bool,
    /// `-W`: full command lines instead of process names.
    pub wide: bool,
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

pub struct SsView<W: Write> {
    out: W,
    layout: SsLayout,
    table: ColumnTable,
}

impl<W: Write> SsView<W> {
    pub fn new(out: W, layout: SsLayout) -> Self {
        let mut table = ColumnTable::new(columns(layout));
        if layout.header {
            push_header(&mut table, layout);
        }
        SsView { out, layout, table }
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
    if layout.firewall {
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
    if layout.firewall {
        table.push("Firewall");
    }
    if layout.process_column() {
        table.push("Process");
    }
}

impl<W: Write> View for SsView<W> {
    fn write(&mut self, socket: &Socket) -> Result<()> {
        let layout = self.layout;
        let table = &mut self.table;
        if layout.netns {
            match socket.netns() {
                Some(NetnsLabel { name: Some(name), .. }) => {
                    table.push(&escape::for_terminal(name))
                }
                Some(NetnsLabel { inode, .. }) => table.push_display(inode),
                None => table.push("-"),
            }
        }
        if layout.netid {
            table.push(socket.netid_label());
        }
        if layout.state {
            table.push(ss_state(socket.state()));
        }
        let (recv_q, send_q) = socket.queues();
        table.push_display(recv_q);
        table.push_display(send_q);
        match socket {
            Socket::Unix(unix) => {
                // ss's UNIX form: `PATH INODE` and `* PEER-INODE`.
                let path = unix_path(unix.local.path.as_deref());
                table.push_with(|cell| {
                    cell.push_str(&path);
                    cell.push(' ');
                });
                table.push_display(unix.inode.unwrap_or(0));
                table.push("* ");
                table.push_display(unix.peer.inode.unwrap_or(0));
            }
            Socket::Inet(inet) => {
                for (end, interface) in [(&inet.local, true), (&inet.peer, false)] {
                    table.push_with(|cell| push_ss_address(cell, inet, end, interface));
                    table.push_with(|cell| push_port(cell, end, layout.numeric));
                }
            }
            other => kinds::push_local_and_peer(other, layout.numeric, &mut |c| table.push(&c)),
        }
        if layout.category {
            let category = socket.local_port().and_then(PortCategory::of);
            table.push(category.map_or("-", PortCategory::as_str));
        }
        if layout.firewall {
            let verdict = socket.as_inet().and_then(|inet| inet.firewall.as_ref());
            table.push(verdict.map_or("-", |firewall| firewall.verdict.as_str()));
        }
        if layout.process_column() {
            let mut cell = String::new();
            // ss prints no holders for netlink sockets: their address names one.
            if layout.processes && !matches!(socket, Socket::Netlink(_)) {
                users_cell(&mut cell, socket, layout.wide);
            }
            let inet = socket.as_inet();
            if let Some(timer) =
                inet.and_then(|s| s.details.timer.as_ref()).filter(|_| layout.timers)
            {
                separate(&mut cell, " ");
                cell.push_str(&timer_text(timer));
            }
            if layout.extended {
                separate(&mut cell, " ");
                match kinds::extended_text(socket, layout.oneline) {
                    Some(text) => cell.push_str(&text),
                    None => extended_cell(&mut cell, socket),
                }
            }
            if let Some(memory) = kinds::memory_text(socket).filter(|_| layout.details) {
                // ss's leading space is the column's own gap on an empty cell.
                let text = memory.strip_prefix(' ').filter(|_| cell.is_empty());
                cell.push_str(text.unwrap_or(&memory));
            }
            let extras = inet.map(details_text).unwrap_or_default();
            if !extras.is_empty() {
                // ss puts -m and -i on a second, tab-indented line, unless -O.
                cell.push_str(if layout.oneline { " " } else { "\n\t " });
                cell.push_str(&extras);
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

/// `-m` and `-i`'s text: `skmem:(...)` then tcp_info's words.
fn details_text(socket: &InetSocket) -> String {
    let skmem = socket.details.skmem.as_ref().map(skmem_text);
    let info = socket.details.tcp_info.as_deref().map(tcp_info_text);
    let parts: Vec<String> = skmem.into_iter().chain(info).collect();
    parts.join(" ")
}

fn separate(cell: &mut String, separator: &str) {
    if !cell.is_empty() {
        cell.push_str(separator);
    }
}

/// `users:(("nginx",pid=812,fd=6),("nginx",pid=813,fd=6))` as ss prints
/// holders; a `"` in a name is escaped, so a line parses to the true pid.
fn users_cell(cell: &mut String, socket: &Socket, wide: bool) {
    let holders = socket.holders();
    if holders.is_empty() {
        return;
    }
    cell.push_str("users:(");
    for (index, holder) in holders.iter().enumerate() {
        if index > 0 {
            cell.push(',');
        }
        let name = quoted_process_label(&holder.process, wide);
        let _ = write!(cell, "(\"{name}\",pid={},fd={})", holder.process.pid, holder.fd);
    }
    cell.push(')');
}

/// `-e`'s fields in ss's words: `uid:` (only when not root, as ss), `ino:`, `sk:`.
fn extended_cell(cell: &mut String, socket: &Socket) {
    if let Some(uid) = socket.uid().filter(|uid| *uid != 0) {
        let _ = write!(cell, "uid:{uid} ");
    }
    let _ = write!(cell, "ino:{}", socket.inode().unwrap_or(0));
    if let Some(cookie) = socket.cookie() {
        let _ = write!(cell, " sk:{cookie:x}");
    }
}
