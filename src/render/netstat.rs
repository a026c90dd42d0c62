//! netstat's tables, with netstat's fixed column widths, so they stream:
//! the Internet one (`netstat -tulpn`: `Proto Recv-Q Send-Q Local Address
//! Foreign Address State PID/Program name`), then the UNIX one (`netstat
//! -xap`: `Proto RefCnt Flags Type State I-Node PID/Program name Path`),
//! each under its own title.
//!
//! The caller hands over every inet row before the first UNIX row. Lines
//! never end in spaces (netstat pads its last cells; portwatch trims them).

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::Write;

use anyhow::Result;

use super::View;
use super::escape;
use super::text::{netstat_address, netstat_proto, netstat_state, process_label, unix_type};
use crate::model::{InetSocket, Socket, SocketState, StateSet, Transport, UnixSocket};

/// netstat's address columns are 23 characters wide (wider cells push on).
const ADDRESS_WIDTH: usize = 23;

/// netstat's PID/Program name column before a UNIX socket's path. Wider
/// cells push on: netstat cuts `PID/name` to 19 characters, portwatch not.
const PROGRAM_WIDTH: usize = 20;

/// The Flags bits of /proc/net/unix that netstat shows as ACC, W and N.
const ACCEPTING: u32 = 1 << 16;
const WAITING_DATA: u32 = 1 << 17;
const NO_SPACE: u32 = 1 << 18;

/// What netstat's tables show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NetstatLayout {
    pub header: bool,
    /// `-p`: the PID/Program name column.
    pub processes: bool,
    pub numeric: bool,
    pub wide: bool,
    /// Inet kinds are listed: their table opens the output.
    pub inet: bool,
    /// UNIX kinds are listed: their table follows, even when it is empty.
    pub unix: bool,
}

pub struct NetstatView<W: Write> {
    out: W,
    layout: NetstatLayout,
    states: StateSet,
    /// The UNIX table's title and header are out (or were not wanted).
    unix_started: bool,
    line: String,
}

impl<W: Write> NetstatView<W> {
    /// Writes the Internet table's title and header right away when inet
    /// kinds are listed, unless `header` is false.
    pub fn new(mut out: W, layout: NetstatLayout, states: StateSet) -> Result<Self> {
        if layout.header && layout.inet {
            writeln!(out, "Active Internet connections ({})", title(states))?;
            let mut line = format!(
                "{:<5} {:>6} {:>6} {:<ADDRESS_WIDTH$} {:<ADDRESS_WIDTH$} {:<11}",
                "Proto", "Recv-Q", "Send-Q", "Local Address", "Foreign Address", "State"
            );
            if layout.processes {
                line.push_str(" PID/Program name");
            }
            writeln!(out, "{}", line.trim_end())?;
        }
        Ok(NetstatView { out, layout, states, unix_started: false, line: String::new() })
    }

    /// Writes the UNIX table's title and header, once.
    fn start_unix(&mut self) -> Result<()> {
        if std::mem::replace(&mut self.unix_started, true) || !self.layout.header {
            return Ok(());
        }
        writeln!(self.out, "Active UNIX domain sockets ({})", title(self.states))?;
        let mut line = format!(
            "{:<5} {:<6} {:<11} {:<10} {:<13} {:<8} ",
            "Proto", "RefCnt", "Flags", "Type", "State", "I-Node"
        );
        if self.layout.processes {
            let _ = write!(line, "{:<PROGRAM_WIDTH$} ", "PID/Program name");
        }
        line.push_str("Path");
        writeln!(self.out, "{line}")?;
        Ok(())
    }

    /// `PID/name` of the first holder, `-` when none is known.
    fn owner(&self, socket: &Socket) -> String {
        match socket.holders().first() {
            Some(holder) => {
                let process = &holder.process;
                format!("{}/{}", process.pid, process_label(process, self.layout.wide))
            }
            None => "-".to_owned(),
        }
    }

    fn inet_line(&mut self, socket: &Socket, inet: &InetSocket) {
        let numeric = self.layout.numeric;
        let local = netstat_address(&inet.local, numeric);
        let peer = netstat_address(&inet.peer, numeric);
        let _ = write!(
            self.line,
            "{:<5} {:>6} {:>6} {local:<ADDRESS_WIDTH$} {peer:<ADDRESS_WIDTH$} {:<11}",
            netstat_proto(socket),
            inet.recv_q,
            send_queue(inet),
            inet_state(inet)
        );
        if self.layout.processes {
            let owner = self.owner(socket);
            self.line.push(' ');
            self.line.push_str(&owner);
        }
    }

    fn unix_line(&mut self, socket: &Socket, unix: &UnixSocket) {
        let refcount: Cow<'_, str> = match unix.proc_entry {
            Some(entry) => entry.refcount.to_string().into(),
            None => "-".into(),
        };
        let _ = write!(
            self.line,
            "{:<5} {refcount:<6} {:<11} {:<10} {:<13} {:<8} ",
            netstat_proto(socket),
            unix_flags(unix),
            unix_type(unix.netid),
            unix_state(unix),
            unix.inode.unwrap_or(0)
        );
        if self.layout.processes {
            let owner = self.owner(socket);
            let _ = write!(self.line, "{owner:<PROGRAM_WIDTH$} ");
        }
        self.line.push_str(&unix_path(unix.local.path.as_deref()));
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
fn inet_state(inet: &InetSocket) -> &'static str {
    match inet.state {
        SocketState::Closed if inet.netid != Transport::Tcp => "",
        state => netstat_state(state),
    }
}

/// netstat reads /proc/net, which has no backlog for a listener: 0 there.
fn send_queue(inet: &InetSocket) -> u32 {
    match inet.state {
        SocketState::Listening => 0,
        _ => inet.send_q,
    }
}

/// `[ ACC ]` for a listener, `[ ]` for others: /proc/net/unix's flags when
/// read, else what the sock_diag state tells.
fn unix_flags(unix: &UnixSocket) -> String {
    let flags = match unix.proc_entry {
        Some(entry) => entry.flags,
        None if unix.state == SocketState::Listening => ACCEPTING,
        None => 0,
    };
    let mut text = String::from("[ ");
    for (bit, letter) in [(ACCEPTING, "ACC "), (WAITING_DATA, "W "), (NO_SPACE, "N ")] {
        if flags & bit != 0 {
            text.push_str(letter);
        }
    }
    text.push(']');
    text
}

/// netstat's State of a UNIX socket, from the socket file's state in
/// /proc/net/unix: none for an unconnected socket that does not listen.
/// Without that line, the sock_diag state says as much as it can.
fn unix_state(unix: &UnixSocket) -> &'static str {
    let Some(entry) = unix.proc_entry else {
        return match unix.state {
            SocketState::Listening => "LISTENING",
            SocketState::Established => "CONNECTED",
            _ => "",
        };
    };
    match entry.socket_state {
        0 => "FREE",
        1 if entry.flags & ACCEPTING != 0 => "LISTENING",
        1 => "",
        2 => "CONNECTING",
        3 => "CONNECTED",
        4 => "DISCONNECTING",
        _ => "UNKNOWN",
    }
}

/// The path as netstat prints it: nothing when unbound, `@` for each NUL
/// of an abstract name (as /proc/net/unix writes them), escaped.
fn unix_path(path: Option<&str>) -> Cow<'_, str> {
    match path {
        None => Cow::Borrowed(""),
        Some(path) if path.contains('\0') => {
            Cow::Owned(escape::for_terminal(&path.replace('\0', "@")).into_owned())
        }
        Some(path) => escape::for_terminal(path),
    }
}

/// The inet kinds netstat lists (it reads /proc/net/tcp, udp and raw).
fn netstat_shows(transport: Transport) -> bool {
    matches!(transport, Transport::Tcp | Transport::Udp | Transport::Raw)
}

impl<W: Write> View for NetstatView<W> {
    fn write(&mut self, socket: &Socket) -> Result<()> {
        self.line.clear();
        match socket {
            Socket::Inet(inet) if netstat_shows(inet.netid) => self.inet_line(socket, inet),
            Socket::Unix(unix) => {
                self.start_unix()?;
                self.unix_line(socket, unix);
            }
            // netstat has no table for netlink, packet, vsock, XDP, TIPC or
            // MPTCP sockets (an MPTCP listener shows as its TCP subflow).
            _ => return Ok(()),
        }
        let line = self.line.trim_end();
        self.out.write_all(line.as_bytes())?;
        self.out.write_all(b"\n")?;
        Ok(())
    }

    /// netstat prints the UNIX table's title and header even with no rows.
    fn finish(&mut self) -> Result<()> {
        if self.layout.unix {
            self.start_unix()?;
        }
        self.out.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{UnixEnd, UnixFamily, UnixKind, UnixProcEntry};

    fn unix(kind: UnixKind, state: SocketState, path: Option<&str>) -> Socket {
        Socket::Unix(UnixSocket {
            details: Default::default(),
            netid: kind,
            family: UnixFamily::Unix,
            state,
            recv_q: 0,
            send_q: 0,
            local: UnixEnd { path: path.map(str::to_owned), inode: Some(20474) },
            peer: UnixEnd::default(),
            uid: Some(0),
            inode: Some(20474),
            cookie: None,
            netns: None,
            owners: None,
            proc_entry: None,
        })
    }

    fn with_entry(mut socket: Socket, refcount: u32, flags: u32, socket_state: u8) -> Socket {
        if let Socket::Unix(unix) = &mut socket {
            unix.proc_entry = Some(UnixProcEntry { refcount, flags, socket_state });
        }
        socket
    }

    fn render(layout: NetstatLayout, states: StateSet, sockets: &[Socket]) -> String {
        let mut out = Vec::new();
        let mut view = NetstatView::new(&mut out, layout, states).unwrap();
        for socket in sockets {
            view.write(socket).unwrap();
        }
        view.finish().unwrap();
        drop(view);
        String::from_utf8(out).unwrap()
    }

    const UNIX_ONLY: NetstatLayout = NetstatLayout {
        header: true,
        processes: false,
        numeric: true,
        wide: false,
        inet: false,
        unix: true,
    };

    #[test]
    fn unix_rows_read_as_netstat_prints_them() {
        let listener = unix(UnixKind::Stream, SocketState::Listening, Some("/run/systemd/private"));
        let text = render(
            UNIX_ONLY,
            StateSet::all(),
            &[
                with_entry(listener.clone(), 2, ACCEPTING, 1),
                with_entry(unix(UnixKind::Stream, SocketState::Established, None), 3, 0, 3),
                with_entry(unix(UnixKind::Dgram, SocketState::Closed, Some("@a\0b")), 2, 0, 1),
                unix(UnixKind::Seqpacket, SocketState::Listening, None),
            ],
        );
        assert_eq!(
            text,
            "Active UNIX domain sockets (servers and established)\n\
             Proto RefCnt Flags       Type       State         I-Node   Path\n\
             unix  2      [ ACC ]     STREAM     LISTENING     20474    /run/systemd/private\n\
             unix  3      [ ]         STREAM     CONNECTED     20474\n\
             unix  2      [ ]         DGRAM                    20474    @a@b\n\
             unix  -      [ ACC ]     SEQPACKET  LISTENING     20474\n"
        );
    }

    #[test]
    fn the_socket_file_state_names_the_state() {
        let dgram = unix(UnixKind::Dgram, SocketState::Established, None);
        let words: Vec<&str> = (0..=5)
            .map(|st| match with_entry(dgram.clone(), 1, 0, st) {
                Socket::Unix(unix) => unix_state(&unix),
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(words, ["FREE", "", "CONNECTING", "CONNECTED", "DISCONNECTING", "UNKNOWN"]);
        let Socket::Unix(all_flags) = with_entry(dgram, 1, ACCEPTING | WAITING_DATA | NO_SPACE, 1)
        else {
            unreachable!()
        };
        assert_eq!(unix_flags(&all_flags), "[ ACC W N ]");
        assert_eq!(unix_state(&all_flags), "LISTENING");
    }

    #[test]
    fn the_unix_table_follows_the_inet_one_and_has_a_title_even_when_empty() {
        let mixed = NetstatLayout { inet: true, ..UNIX_ONLY };
        let text = render(mixed, StateSet::listening(), &[]);
        assert_eq!(
            text,
            "Active Internet connections (only servers)\n\
             Proto Recv-Q Send-Q Local Address           Foreign Address         State\n\
             Active UNIX domain sockets (only servers)\n\
             Proto RefCnt Flags       Type       State         I-Node   Path\n"
        );
        let processes = NetstatLayout { processes: true, ..UNIX_ONLY };
        let text = render(processes, StateSet::ss_default(), &[]);
        assert_eq!(
            text,
            "Active UNIX domain sockets (w/o servers)\n\
             Proto RefCnt Flags       Type       State         I-Node   PID/Program name     Path\n"
        );
        let bare = NetstatLayout { header: false, inet: true, ..UNIX_ONLY };
        let listener = unix(UnixKind::Stream, SocketState::Listening, Some("/x"));
        assert_eq!(
            render(bare, StateSet::all(), &[listener]),
            "unix  -      [ ACC ]     STREAM     LISTENING     20474    /x\n"
        );
    }
}
