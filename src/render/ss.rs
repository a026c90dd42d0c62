//! ss's table: `Netid State Recv-Q Send-Q Local Address:Port Peer Address:Port
//! Process`, with ss's address forms (`*`, `0.0.0.0`, `[::]`,
//! `[::ffff:127.0.0.1]`, `%iface`), service names, and `users:((...))`.
//!
//! The columns are ss's: each is as wide as its widest cell (the title
//! included), queues at least six wide, the address right-aligned against
//! its left-aligned port. The Process column is titled always and glued to
//! the port before it; each of its words brings its own leading blank, as
//! in ss. Unlike ss, no line ends in blanks and a terminal's width never
//! stretches the columns.

use std::fmt::Write as _;
use std::io::Write;

use anyhow::Result;

use super::columns::{Column, ColumnTable};
use super::details::{TcpInfoStyle, push_mptcp_info, push_tcp_info, skmem_text, timer_text};
use super::holders;
use super::sockopt::{self, SockoptLayout};
use super::text::{push_port, push_ss_address, quoted_process_label, ss_state, unix_path};
use super::{View, bpf, escape, kinds};
use crate::model::details::Shutdown;
use crate::model::{
    InetSocket, IpFamily, NetnsLabel, PacketSocket, PortCategory, Socket, SocketState, Transport,
    UnixSocket,
};

/// Which parts of ss's table to show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SsLayout {
    pub header: bool,
    /// ss shows Netid only when more than one protocol is selected.
    pub netid: bool,
    /// ss drops State when exactly one state is selected.
    pub state: bool,
    /// `-e`: uid, inode, cookie, fwmark, cgroup, v6only and shutdown (and
    /// a UNIX socket's bound file and pending peers).
    pub extended: bool,
    /// `-p`: `users:((...))` after the addresses.
    pub processes: bool,
    /// `--show-category`: the local port's IANA range.
    pub category: bool,
    /// `--show-firewall`: the firewall's verdict for listeners.
    pub firewall: bool,
    /// `--all-netns`: a first column naming each row's namespace.
    pub netns: bool,
    /// `-o` (and `-e`, `-b`): timers, and with `-i` TCP's option words.
    pub timers: bool,
    /// `-m`: socket memory.
    pub memory: bool,
    /// `-b`: the BPF filter attached to a packet socket.
    pub bpf: bool,
    /// `--tipcinfo`: a TIPC socket's congestion, drops and names.
    pub tipcinfo: bool,
    /// `-i`: tcp_info.
    pub info: bool,
    /// `-O`: details on the socket's own line.
    pub oneline: bool,
    /// `--tos`, `--cgroup`, `--inet-sockopt`.
    pub sockopt: SockoptLayout,
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
    // Recv-Q and Send-Q: ss prints queues at least six wide.
    columns.push(if columns.is_empty() { first } else { left }.at_least(6));
    columns.extend([left.at_least(6), address, port, address, port]);
    if layout.category {
        columns.push(left);
    }
    if layout.firewall {
        columns.push(left);
    }
    // ss glues the Process title to the port before it; its words bring
    // their own blanks.
    columns.push(Column::left(""));
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
    table.push("Process");
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
        // ss prints the kernel's queue lengths as signed numbers (at least
        // six wide: see `columns`): a UDP socket being destroyed reports a
        // Send-Q of -1 (`-E`).
        table.push_display(recv_q as i32);
        table.push_display(send_q as i32);
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
        table.push_with(|cell| match socket {
            Socket::Inet(inet) => push_inet_words(cell, inet, socket, layout),
            Socket::Unix(unix) => push_unix_words(cell, unix, socket, layout),
            _ => push_kind_words(cell, socket, layout),
        });
        self.table.flush_if_large(&mut self.out)?;
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        self.table.write_to(&mut self.out)?;
        self.out.flush()?;
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        self.table.write_pending(&mut self.out)?;
        self.out.flush()?;
        Ok(())
    }
}

/// The Process column of an inet socket, in ss's order: owners, timer,
/// `-e`'s words, `--tos`/`--cgroup`/`--inet-sockopt`, then `-m` and `-i`
/// on a tab-indented line of their own (unless `-O`).
fn push_inet_words(cell: &mut String, inet: &InetSocket, socket: &Socket, layout: SsLayout) {
    if layout.processes {
        users_cell(cell, socket, layout.wide);
    }
    if let Some(timer) = inet.details.timer.as_ref().filter(|_| layout.timers) {
        cell.push(' ');
        cell.push_str(&timer_text(timer));
    }
    if layout.extended {
        push_extended_words(cell, inet);
    }
    sockopt::push_texts(cell, inet, layout.sockopt, layout.oneline);
    let udp = inet.netid == Transport::Udp;
    if layout.memory || (layout.info && !udp) {
        if !layout.oneline {
            cell.push_str("\n\t");
        }
        if let Some(skmem) = &inet.details.skmem {
            cell.push(' ');
            cell.push_str(&skmem_text(skmem));
        }
        if let Some(info) = &inet.details.mptcp_info {
            push_mptcp_info(cell, info);
        }
        if let Some(info) = &inet.details.tcp_info {
            let style = TcpInfoStyle {
                options: layout.timers,
                numeric: layout.numeric,
                listening: inet.state == SocketState::Listening,
            };
            push_tcp_info(cell, info, style);
        }
    }
}

/// `-e`'s words for an inet socket: ` uid:N` (not for root, as ss),
/// ` ino:N sk:COOKIE`, ` fwmark:0xN`, ` cgroup:PATH`, ` v6only:N`, and
/// the shutdown marker.
fn push_extended_words(cell: &mut String, inet: &InetSocket) {
    if let Some(uid) = inet.uid.filter(|uid| *uid != 0) {
        let _ = write!(cell, " uid:{uid}");
    }
    let _ = write!(cell, " ino:{} sk:{:x}", inet.inode.unwrap_or(0), inet.cookie.unwrap_or(0));
    if let Some(mark) = inet.mark.filter(|mark| *mark != 0) {
        let _ = write!(cell, " fwmark:{mark:#x}");
    }
    if inet.cgroup_id.is_some_and(|id| id != 0) {
        let path = inet.extras.cgroup.as_deref().unwrap_or("");
        let _ = write!(cell, " cgroup:{}", escape::for_terminal(path));
    }
    if let Some(v6only) = inet.v6only.filter(|_| inet.family == IpFamily::Inet6) {
        let _ = write!(cell, " v6only:{}", u8::from(v6only));
    }
    if let Some(shutdown) = inet.details.shutdown {
        push_shutdown(cell, shutdown);
    }
}

/// ` <->` for a socket open both ways; `-` replaces the arrow of a
/// direction shut down (`-->`: receiving shut, `---`: both).
fn push_shutdown(cell: &mut String, shutdown: Shutdown) {
    cell.push(' ');
    cell.push(if shutdown.receive { '-' } else { '<' });
    cell.push('-');
    cell.push(if shutdown.send { '-' } else { '>' });
}

/// The Process column of a netlink, packet, vsock, XDP or TIPC socket:
/// owners (none for netlink, whose address names its process), `-e`'s
/// words, then `-m`'s.
fn push_kind_words(cell: &mut String, socket: &Socket, layout: SsLayout) {
    let extended = layout.extended.then(|| kinds::extended_text(socket, layout.oneline)).flatten();
    if let Socket::Tipc(tipc) = socket {
        // ss's order for TIPC: `-e`'s words, the owners, then --tipcinfo.
        if let Some(text) = extended {
            cell.push(' ');
            cell.push_str(&text);
        }
        if layout.processes {
            users_cell(cell, socket, layout.wide);
        }
        if let Some(info) = tipc.tipc_info.as_ref().filter(|_| layout.tipcinfo) {
            kinds::push_tipc_info(cell, tipc.netid, info, layout.oneline);
        }
        return;
    }
    if layout.processes && !matches!(socket, Socket::Netlink(_)) {
        users_cell(cell, socket, layout.wide);
    }
    if let Some(text) = extended {
        cell.push(' ');
        cell.push_str(&text);
    }
    if let Socket::Packet(PacketSocket { filter: Some(program), .. }) = socket
        && layout.bpf
    {
        bpf::push_filter(cell, program, layout.oneline);
    }
    if let Some(memory) = layout.memory.then(|| kinds::memory_text(socket)).flatten() {
        cell.push_str(&memory);
    }
}

/// The Process column of a UNIX socket, in ss's order: owners, ` skmem:`
/// on the same line, then `-e`'s shutdown marker, the bound file
/// (` ino:N dev:MAJOR/MINOR`) and a listener's pending ` peers:`.
fn push_unix_words(cell: &mut String, unix: &UnixSocket, socket: &Socket, layout: SsLayout) {
    if layout.processes {
        users_cell(cell, socket, layout.wide);
    }
    if let Some(skmem) = unix.details.skmem.as_ref().filter(|_| layout.memory) {
        cell.push(' ');
        cell.push_str(&skmem_text(skmem));
    }
    if !layout.extended {
        return;
    }
    if let Some(shutdown) = unix.details.shutdown {
        push_shutdown(cell, shutdown);
    }
    if let Some(file) = &unix.details.file {
        let _ = write!(cell, " ino:{} dev:{}/{}", file.inode, file.dev_major, file.dev_minor);
    }
    if let Some(peers) = &unix.details.pending_peers {
        cell.push_str(" peers:");
        for peer in peers {
            let _ = write!(cell, " {peer}");
        }
    }
}

/// `users:(("nginx",pid=812,fd=6),("nginx",pid=813,fd=6))` as ss prints
/// holders; a `"` in a name is escaped, so a line parses to the true pid.
fn users_cell(cell: &mut String, socket: &Socket, wide: bool) {
    let holders = socket.holders();
    if holders.is_empty() {
        return;
    }
    cell.push_str(" users:(");
    for (index, holder) in holders.iter().enumerate() {
        if index > 0 {
            cell.push(',');
        }
        if holders::has_extras(holder) {
            holders::push_entries(cell, holder, wide);
            continue;
        }
        let name = quoted_process_label(&holder.process, wide);
        let _ = write!(cell, "(\"{name}\",pid={},fd={})", holder.process.pid, holder.fd);
    }
    cell.push(')');
    let mut served: Vec<String> = holders
        .iter()
        .filter_map(|holder| holder.process.serves.as_ref().map(super::text::container_label))
        .collect();
    served.dedup();
    for container in served {
        let _ = write!(cell, " serves={container}");
    }
}
