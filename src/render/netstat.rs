//! netstat -tulpn's table: `Proto Recv-Q Send-Q Local Address Foreign Address
//! State PID/Program name`, with netstat's fixed column widths, so it streams.

use std::fmt::Write as _;
use std::io::Write;

use anyhow::Result;

use super::View;
use super::text::{netstat_address, netstat_proto, netstat_state, process_label, unix_path};
use crate::model::{Socket, SocketState, StateSet, Transport};

/// netstat's address columns are 23 characters wide (wider cells push on).
const ADDRESS_WIDTH: usize = 23;

/// What netstat's table shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NetstatLayout {
    pub header: bool,
    /// `-p`: the PID/Program name column.
    pub processes: bool,
    pub numeric: bool,
    pub wide: bool,
}

pub struct NetstatView<W: Write> {
    out: W,
    layout: NetstatLayout,
    line: String,
}

impl<W: Write> NetstatView<W> {
    /// Writes netstat's title and header right away unless `header` is false.
    pub fn new(mut out: W, layout: NetstatLayout, states: StateSet) -> Result<Self> {
        let (header, processes) = (layout.header, layout.processes);
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
        Ok(NetstatView { out, layout, line: String::new() })
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

/// netstat's words for states; an unconnected UDP or raw socket has none.
fn state_label(socket: &Socket) -> &'static str {
    match socket {
        Socket::Inet(inet) if inet.netid != Transport::Tcp && inet.state == SocketState::Closed => {
            ""
        }
        _ => netstat_state(socket.state()),
    }
}

/// netstat reads /proc/net, which has no backlog for a listener: 0 there.
fn send_queue(socket: &Socket) -> u32 {
    match socket.state() {
        SocketState::Listening => 0,
        _ => socket.queues().1,
    }
}

impl<W: Write> NetstatView<W> {
    /// The local and foreign address columns.
    fn addresses(&self, socket: &Socket) -> (String, String) {
        match socket {
            Socket::Inet(inet) => (
                netstat_address(&inet.local, self.layout.numeric),
                netstat_address(&inet.peer, self.layout.numeric),
            ),
            Socket::Unix(unix) => {
                let peer = unix.peer.inode.map_or("*".to_owned(), |inode| inode.to_string());
                (unix_path(unix.local.path.as_deref()).into_owned(), peer)
            }
        }
    }
}

impl<W: Write> View for NetstatView<W> {
    fn write(&mut self, socket: &Socket) -> Result<()> {
        let (local, peer) = self.addresses(socket);
        self.line.clear();
        let _ = write!(
            self.line,
            "{:<5} {:>6} {:>6} {local:<ADDRESS_WIDTH$} {peer:<ADDRESS_WIDTH$} {:<11}",
            netstat_proto(socket),
            socket.queues().0,
            send_queue(socket),
            state_label(socket)
        );
        if self.layout.processes {
            let owner = match socket.holders().first() {
                Some(holder) => {
                    let process = &holder.process;
                    format!("{}/{}", process.pid, process_label(process, self.layout.wide))
                }
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
